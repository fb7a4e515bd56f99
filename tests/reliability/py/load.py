#!/usr/bin/env python3
"""Tx clients for the reliability suite: unique k=v txs posted to POST /tx.

Every tx answered 202 (or 409 to a resend: the earlier copy is queued) is
recorded in DIR/acked.<client> as "key value status"; a tx whose fate is
unknown (connection reset, timeout, 429, 500, 503) is sent again until it is
answered, so an acknowledged tx is never forgotten and an unacknowledged one
never counted. Any other status (400, 413, ...) is an error.

On stop (the file DIR/stop appears, or SIGTERM) each client sends what it
still holds for at most --drain seconds, then DIR/summary.json is written:
sent (distinct txs), acked, the count of each status, connection errors.
With --probe, one extra tx per second is followed until GET /kv shows it:
DIR/probe.csv gets "unix_time,latency_ms" (submission to applied).
With --latency-csv, every second "unix_time,acks,mean_ms,p99_ms" of the
POST -> 202 round trips.
"""
import argparse, http.client, json, os, random, signal, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--rpc", required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--rate", type=float, default=200.0,
                help="txs per second over all clients (0 = unpaced)")
ap.add_argument("--value-size", type=int, default=16)
ap.add_argument("--batch-max", type=int, default=8)
ap.add_argument("--prefix", default="t")
ap.add_argument("--drain", type=float, default=60.0)
ap.add_argument("--timeout", type=float, default=10.0)
ap.add_argument("--probe", action="store_true")
ap.add_argument("--latency-csv", action="store_true")
args = ap.parse_args()

host, port = args.rpc.rsplit(":", 1)
port = int(port)
stop_file = os.path.join(args.dir, "stop")
stopping = threading.Event()
lock = threading.Lock()
stats = {"sent": 0, "acked": 0, "acked_409": 0, "errors": 0, "status": {}}
bad = []
lat = []  # POST->202 round trips of the current second (ms)


def on_term(signum, frame):
    stopping.set()


signal.signal(signal.SIGTERM, on_term)


class Bucket:
    """Shared token bucket: --rate txs per second, burst of 1/10 s."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = 0.0
        self.t = time.monotonic()
        self.mu = threading.Lock()

    def take(self, n):
        if self.rate <= 0:
            return n
        with self.mu:
            now = time.monotonic()
            self.tokens = min(self.tokens + (now - self.t) * self.rate,
                              max(1.0, self.rate / 10))
            self.t = now
            k = min(n, int(self.tokens))
            self.tokens -= k
            return k


bucket = Bucket(args.rate)


def post(conn, batch):
    """Returns one status per tx of batch (raises on transport errors)."""
    if len(batch) == 1:
        conn.request("POST", "/tx", body="%s=%s" % batch[0],
                     headers={"Content-Type": "text/plain"})
    else:
        conn.request("POST", "/tx",
                     body=json.dumps({"txs": ["%s=%s" % t for t in batch]}),
                     headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if len(batch) == 1:
        return [r.status], data
    if r.status == 200:
        return [x["status"] for x in json.loads(data)["results"]], data
    return [r.status] * len(batch), data


def client(cid):
    rnd = random.Random(cid * 7919 + os.getpid())
    conn = None
    acked = open(os.path.join(args.dir, "acked.%s%d" % (args.prefix, cid)),
                 "a")
    pending = []   # (key, value, sent_before): fate unknown, sent again
    seq = 0
    deadline = None
    pad = "x" * max(0, args.value_size - 12)
    while True:
        if stopping.is_set() or os.path.exists(stop_file):
            if deadline is None:
                deadline = time.monotonic() + args.drain
                stopping.set()
            if not pending or time.monotonic() > deadline:
                break
        elif len(pending) < args.batch_max:
            want = 1 if rnd.random() < 0.5 else rnd.randint(2, args.batch_max)
            want = min(want, args.batch_max - len(pending))
            got = bucket.take(want)
            for _ in range(got):
                key = "%s%d-%d" % (args.prefix, cid, seq)
                pending.append([key, "v%d%s" % (seq, pad), False])
                seq += 1
            if not pending:
                time.sleep(0.005)
                continue
        batch = pending[:args.batch_max]
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port,
                                                  timeout=args.timeout)
            with lock:
                stats["sent"] += sum(1 for t in batch if not t[2])
            for t in batch:
                t[2] = True
            statuses, data = post(conn, [(t[0], t[1]) for t in batch])
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            if conn is not None:
                conn.close()
            conn = None
            with lock:
                stats["errors"] += 1
            time.sleep(0.05)
            continue
        ms = (time.monotonic() - t0) * 1000
        now = time.time()
        retry = False
        for t, st in zip(batch, statuses):
            with lock:
                stats["status"][str(st)] = stats["status"].get(str(st), 0) + 1
            if st in (202, 409):
                acked.write("%s %s %d %.3f\n" % (t[0], t[1], st, now))
                pending.remove(t)
                with lock:
                    stats["acked"] += 1
                    stats["acked_409"] += st == 409
                    if st == 202:
                        lat.append(ms)
            elif st in (429, 500, 503):
                retry = True   # not taken (or not known durable): resend
            else:
                with lock:
                    bad.append("tx %s: HTTP %d %r" % (t[0], st, data[:200]))
                pending.remove(t)
        acked.flush()
        if retry:
            time.sleep(0.05 + rnd.random() * 0.05)
    acked.close()
    with lock:
        stats["unacked_at_stop"] = stats.get("unacked_at_stop", 0) + len(
            pending)


def probe():
    """One tx per second, followed until applied (GET /kv/<key>)."""
    out = open(os.path.join(args.dir, "probe.csv"), "a")
    acked = open(os.path.join(args.dir, "acked.probe"), "a")
    conn = None
    i = 0
    while not stopping.is_set() and not os.path.exists(stop_file):
        t_start = time.time()
        key, val = "probe-%d" % i, "p%d" % i
        i += 1
        t0 = time.monotonic()
        done = False
        sent = False
        counted = False
        while not done and time.monotonic() - t0 < 60 and \
                not stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port,
                                                      timeout=args.timeout)
                if not sent:
                    if not counted:
                        counted = True
                        with lock:
                            stats["sent"] += 1
                    conn.request("POST", "/tx", body="%s=%s" % (key, val),
                                 headers={"Content-Type": "text/plain"})
                    r = conn.getresponse()
                    r.read()
                    if r.status in (202, 409):
                        sent = True
                        acked.write("%s %s %d %.3f\n" % (key, val, r.status,
                                                         time.time()))
                        acked.flush()
                        with lock:
                            stats["acked"] += 1
                    elif r.status not in (429, 500, 503):
                        with lock:
                            bad.append("probe %s: HTTP %d" % (key, r.status))
                        break
                    else:
                        time.sleep(0.05)
                        continue
                conn.request("GET", "/kv/" + key)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    done = True
                    out.write("%.3f,%.1f\n" % (
                        t_start, (time.monotonic() - t0) * 1000))
                    out.flush()
                    break
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.02)
        rest = 1.0 - (time.time() - t_start)
        if rest > 0:
            time.sleep(rest)
    out.close()
    acked.close()


def latency_writer():
    out = open(os.path.join(args.dir, "latency.csv"), "a")
    while not stopping.is_set() and not os.path.exists(stop_file):
        time.sleep(1.0)
        with lock:
            xs = sorted(lat)
            lat.clear()
        if xs:
            out.write("%.3f,%d,%.1f,%.1f\n" % (
                time.time(), len(xs), sum(xs) / len(xs),
                xs[min(len(xs) - 1, int(len(xs) * 0.99))]))
        else:
            out.write("%.3f,0,,\n" % time.time())
        out.flush()
    out.close()


threads = [threading.Thread(target=client, args=(i,))
           for i in range(args.clients)]
if args.probe:
    threads.append(threading.Thread(target=probe))
if args.latency_csv:
    threads.append(threading.Thread(target=latency_writer))
for t in threads:
    t.start()


def write_summary():
    with lock:
        s = dict(stats)
        s["bad"] = bad[:20]
    tmp = os.path.join(args.dir, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(s, f)
    os.rename(tmp, os.path.join(args.dir, "summary.json"))


while any(t.is_alive() for t in threads):
    for t in threads:
        t.join(timeout=1.0)
    write_summary()
write_summary()
if bad:
    print("\n".join(bad[:20]))
    sys.exit(1)
if stats.get("unacked_at_stop"):
    print("%d txs still unanswered after the drain" % stats["unacked_at_stop"])
print("load: %s" % json.dumps(stats))
