#!/usr/bin/env python3
"""HA acceptance runs (issue 18; docs/HA.md "Acceptance runs").

Real processes on 127.0.0.1, every port chosen up front by the kernel:
a 3-member etcd, a `blockv2 da serve`, 3 blockv2 candidates (`ha.*`, the
same genesis and signer, each other's P2P peers, the local DA), and a tx
load (POST /tx batches of unique k=v txs to the node /ha/node names as the
leader) recording every tx answered 202.

Steps (--steps, default "abc"):
  a  kill -9 the leader --kills times; each time the failover time is the
     time from the kill to the first block a new leader replicated
     (another candidate's /ha/node says leader and its replicated_blocks
     counter went up), polled every 20 ms; bound: lease TTL + 2 block
     times. A failover with no new block within --stall-s is a STALL
     (reported, never hidden). The killed node is restarted.
  b  SIGSTOP the leader for 3 x TTL, then SIGCONT: another candidate must
     have taken over while it was stopped; the old one must replicate
     nothing after SIGCONT (its replicated_blocks counter does not move;
     its fencing_rejections counter and its log say how it stepped down)
     and be a follower.
  c  stop every etcd member (SIGTERM): the leader must stop producing
     within one TTL of the stop (time of its last height increase, polled
     every 20 ms); start them again: production must resume.
After all: every node's blocks 1..height (GetBlock) and every header blob
on DA (blob.GetAll over DA heights 1..head) are compared by signature per
height: two different blocks at one height anywhere is a fork. Every tx
answered 202 must be in exactly one block of the longest chain (lost:
in none; twice: in more than one; any tx at all in two blocks is
"twice" too).

Prints one table (step, runs, failover ms p50/p99, forks, lost, twice)
and exits 1 when a check failed (a stall, a bound exceeded, a fork, a lost
or twice-applied tx).
"""
import argparse, base64, hashlib, http.client, json, os, shutil, signal
import socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "py"))
import dablocks  # noqa: E402 (tests/py: reading blocks back from DA)

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--etcd", default=shutil.which("etcd") or "etcd")
ap.add_argument("--kills", type=int, default=10)
ap.add_argument("--ttl", type=int, default=2, help="ha.lease_ttl, seconds")
ap.add_argument("--block-ms", type=int, default=1000)
ap.add_argument("--steps", default="tabc")
ap.add_argument("--stall-s", type=float, default=0.0,
                help="no new block this long after a kill: a stall "
                     "(default 4 x TTL + 5 s)")
ap.add_argument("--keep", action="store_true", help="keep the temp dir")
ap.add_argument("--json", help="write the step results here (bench)")
args = ap.parse_args()
TTL = args.ttl
BT = args.block_ms / 1000.0
STALL = args.stall_s or 4 * TTL + 5
BOUND_MS = (TTL + 2 * BT) * 1000
BIN = os.path.realpath(args.bin)
W = tempfile.mkdtemp(prefix="bm-ha-accept-")
PROCS = []          # every process started here (killed at exit)
T_START = time.monotonic()


def log(msg):
    print("[%6.1f s] %s" % (time.monotonic() - T_START, msg), flush=True)


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cpu_s(p):
    """CPU seconds (user + system) of a live process we started."""
    try:
        with open("/proc/%d/stat" % p.pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


CPU = {"nodes": 0.0, "etcd": 0.0}   # CPU of processes that were killed


def spawn(argv, logname):
    f = open(os.path.join(W, logname), "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    f.close()
    PROCS.append(p)
    return p


def req(port, method, path, body=None, timeout=5.0):
    """(status, parsed JSON or raw bytes) or (0, None) when unreachable."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        hdr = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=body, headers=hdr)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw
    except (OSError, http.client.HTTPException):
        return 0, None




def wait_for(what, seconds, fn, step=0.1):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise SystemExit("FAIL: timed out after %.0f s waiting for %s"
                     % (seconds, what))


# ---------------------------------------------------------------- etcd
E_CLIENT = free_ports(3)
E_PEER = free_ports(3)
ENDPOINTS = ",".join("http://127.0.0.1:%d" % p for p in E_CLIENT)
CLUSTER = ",".join("e%d=http://127.0.0.1:%d" % (i, p)
                   for i, p in enumerate(E_PEER))
ETCD = [None, None, None]


def etcd_start(i):
    c, p = "http://127.0.0.1:%d" % E_CLIENT[i], "http://127.0.0.1:%d" % E_PEER[i]
    ETCD[i] = spawn([args.etcd, "--name", "e%d" % i,
                     "--data-dir", os.path.join(W, "etcd%d" % i),
                     "--listen-client-urls", c, "--advertise-client-urls", c,
                     "--listen-peer-urls", p,
                     "--initial-advertise-peer-urls", p,
                     "--initial-cluster", CLUSTER,
                     "--initial-cluster-state", "new",
                     "--max-request-bytes", "4194304"], "etcd%d.log" % i)


def etcd_healthy():
    for port in E_CLIENT:
        st, b = req(port, "GET", "/health", timeout=2)
        if st != 200 or not isinstance(b, dict) or b.get("health") != "true":
            return False
    return True


def etcd_stop_all():
    for p in ETCD:
        p.send_signal(signal.SIGTERM)
    for p in ETCD:
        p.wait(30)


# ---------------------------------------------------------------- nodes
P_DA = free_ports(1)[0]
DA = "http://127.0.0.1:%d" % P_DA
NAMES = ["c1", "c2", "c3"]
P_RPC = dict(zip(NAMES, free_ports(3)))
P_P2P = dict(zip(NAMES, free_ports(3)))
NODE = {}           # name -> Popen
P2P_ID = {}
NS = ["--evnode.da.namespace", "ha-acc-h",
      "--evnode.da.data_namespace", "ha-acc-d"]


def run(argv, logname):
    with open(os.path.join(W, logname), "ab") as f:
        subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, check=True)


# Each candidate's RPC address by node id: a follower forwards the txs it
# acknowledged while it led to the leader (docs/HA.md "Transactions").
HA_PEERS = ",".join("%s=127.0.0.1:%d" % (m, P_RPC[m]) for m in NAMES)


def node_start(n):
    peers = ",".join("/ip4/127.0.0.1/tcp/%d/p2p/%s" % (P_P2P[m], P2P_ID[m])
                     for m in NAMES if m != n)
    NODE[n] = spawn([BIN, "start", "--home", os.path.join(W, n),
                     "--evnode.node.aggregator", "true",
                     "--evnode.signer.passphrase_file",
                     os.path.join(W, "pass"),
                     "--evnode.node.block_time", "%dms" % args.block_ms,
                     "--evnode.da.address", DA,
                     "--evnode.da.block_time", "500ms",
                     "--evnode.rpc.address", "127.0.0.1:%d" % P_RPC[n],
                     "--evnode.p2p.listen_address",
                     "/ip4/127.0.0.1/tcp/%d" % P_P2P[n],
                     "--evnode.p2p.peers", peers,
                     "--evnode.ha.etcd_endpoints", ENDPOINTS,
                     "--evnode.ha.node_id", n,
                     "--evnode.ha.lease_ttl", "%ds" % TTL,
                     "--evnode.ha.peers", HA_PEERS,
                     "--evnode.log.level", "info"], n + ".log")
    wait_for(n + " RPC", 60,
             lambda: req(P_RPC[n], "GET", "/health/live", timeout=2)[0] == 200)


def ha(n):
    st, b = req(P_RPC[n], "GET", "/ha/node", timeout=2)
    return b if st == 200 and isinstance(b, dict) else None


def height(n):
    st, b = req(P_RPC[n], "GET", "/status", timeout=2)
    return b.get("height", 0) if st == 200 and isinstance(b, dict) else None


def leader():
    """The node that says it leads (alive ones only), or None."""
    for n in NAMES:
        if NODE.get(n) is not None and NODE[n].poll() is None:
            h = ha(n)
            if h and h.get("role") == "leader":
                return n
    return None


def get_block(n, h):
    st, b = req(P_RPC[n], "POST", "/evnode.v1.StoreService/GetBlock",
                 json.dumps({"height": str(h)}), timeout=10)
    return b if st == 200 and isinstance(b, dict) else None


# ---------------------------------------------------------------- tx load
ACKED = {}          # tx -> node that answered 202
UNKNOWN = set()     # sent, no answer (connection cut): may or may not be in
LOAD_STATS = {"batches": 0, "refused": {}, "no_leader": 0}
STOP_LOAD = threading.Event()


def load():
    i = 0
    pending = None
    while not STOP_LOAD.is_set():
        n = leader()
        if n is None:
            LOAD_STATS["no_leader"] += 1
            time.sleep(0.05)
            continue
        if pending is None:
            i += 1
            pending = ["t%d-%d=v%d" % (i, j, i) for j in range(5)]
        body = json.dumps({"txs": pending})
        st, b = req(P_RPC[n], "POST", "/tx", body, timeout=5)
        if st == 0:
            UNKNOWN.update(pending)     # never sent again (no twice by us)
            pending = None
        elif st == 200:
            res = b.get("results") if isinstance(b, dict) else None
            if isinstance(res, list) and len(res) == len(pending):
                for t, r in zip(pending, res):
                    s = r.get("status") if isinstance(r, dict) else None
                    if s == 202:
                        ACKED[t] = n
                    else:
                        UNKNOWN.add(t)
            else:
                UNKNOWN.update(pending)
            pending = None
            LOAD_STATS["batches"] += 1
        else:
            LOAD_STATS["refused"][st] = LOAD_STATS["refused"].get(st, 0) + 1
            if st not in (429, 503):   # a definite refusal: never taken
                pending = None
        time.sleep(0.1)


# ---------------------------------------------------------------- steps
RESULTS = []        # rows of the table
FAILS = []


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


DEAD = {}           # node -> why it exited on its own


def check_dead():
    """Records (once) every candidate that exited without being killed."""
    for n in NAMES:
        p = NODE.get(n)
        if p is None or p.poll() is None or n in DEAD:
            continue
        why = ""
        with open(os.path.join(W, n + ".log"), errors="replace") as f:
            for l in f:
                if "fatal" in l or "ALERT" in l:
                    why = l.strip()
        DEAD[n] = "exited with status %d: %s" % (p.returncode, why[:400])
        log("NODE %s %s" % (n, DEAD[n]))


def wait_producing(seconds):
    """A leader whose height rises, or None."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n = leader()
        if n is not None:
            h0 = height(n) or 0
            t = time.monotonic() + 3 * BT + 1
            while time.monotonic() < t:
                if (height(n) or 0) > h0:
                    return n
                time.sleep(0.05)
        time.sleep(0.1)
    return None


def step_kills(kills, label):
    times, elects, stalls, over = [], [], 0, 0
    for k in range(1, kills + 1):
        check_dead()
        old = wait_producing(30)
        if old is None:
            old = leader()
            if old is None:
                FAILS.append("%s kill %d: no leader at all" % (label, k))
                log("kill %d: no leader at all; stopping the kill loop" % k)
                break
            log("kill %d: leader %s is not producing (a stall carried "
                "over); killing it anyway" % (k, old))
        rest = [n for n in NAMES if n != old]
        base = {n: (ha(n) or {}).get("replicated_blocks", 0) for n in rest}
        CPU["nodes"] += cpu_s(NODE[old])
        t0 = time.monotonic()
        NODE[old].send_signal(signal.SIGKILL)
        NODE[old].wait()
        t_elect = t_block = None
        new = None
        while time.monotonic() - t0 < STALL:
            for n in rest:
                h = ha(n)
                if not h or h.get("role") != "leader":
                    continue
                if t_elect is None:
                    t_elect = time.monotonic()
                if h.get("replicated_blocks", 0) > base[n]:
                    t_block, new = time.monotonic(), n
                    break
            if t_block is not None:
                break
            time.sleep(0.02)
        if t_elect is not None:
            elects.append((t_elect - t0) * 1000)
        if t_block is None:
            stalls += 1
            ldr = leader()
            why = ""
            if ldr is not None:
                why = " (leader %s at height %s, replicated %s)" % (
                    ldr, height(ldr), (ha(ldr) or {}).get("replicated_height"))
            log("kill %d of %s: STALL: no block from a new leader within "
                "%.0f s%s%s" % (k, old, STALL,
                                 "; elected after %.0f ms" % (
                                     (t_elect - t0) * 1000) if t_elect else
                                 "; no leader elected", why))
        else:
            ms = (t_block - t0) * 1000
            times.append(ms)
            if ms > BOUND_MS:
                over += 1
            log("kill %d of %s: %s leads, elected after %.0f ms, first block "
                "after %.0f ms%s" % (k, old, new, (t_elect - t0) * 1000, ms,
                                     "" if ms <= BOUND_MS else
                                     "  > bound %.0f ms" % BOUND_MS))
        node_start(old)
    if stalls:
        FAILS.append("%s: %d of %d failovers stalled (no block from a new "
                     "leader within %.0f s)" % (label, stalls, kills, STALL))
    if over:
        FAILS.append("%s: %d failovers above TTL + 2 block times (%.0f ms)"
                     % (label, over, BOUND_MS))
    return times, elects, stalls, over


def metric_log_lines(n, pattern):
    with open(os.path.join(W, n + ".log"), errors="replace") as f:
        return [l.rstrip() for l in f if pattern in l]


def step_stop():
    old = wait_producing(30)
    if old is None:
        FAILS.append("b: no producing leader to stop")
        log("b: no producing leader to stop")
        return 0
    h0 = ha(old) or {}
    log_mark = len(metric_log_lines(old, ""))
    NODE[old].send_signal(signal.SIGSTOP)
    t0 = time.monotonic()
    taken = None
    while time.monotonic() - t0 < 3 * TTL:
        for n in NAMES:
            if n != old:
                h = ha(n)
                if h and h.get("role") == "leader" and taken is None:
                    taken = (n, (time.monotonic() - t0) * 1000)
        time.sleep(0.05)
    NODE[old].send_signal(signal.SIGCONT)
    ok = True
    if taken is None:
        FAILS.append("b: nobody took over while %s was stopped" % old)
        ok = False
        log("b: nobody took over while %s was stopped for %d s" % (old, 3 * TTL))
    else:
        log("b: %s stopped; %s took over after %.0f ms" % (old, taken[0],
                                                          taken[1]))
    time.sleep(TTL + 1)
    h1 = ha(old) or {}
    lines = metric_log_lines(old, "")[log_mark:]
    fenced = [l for l in lines if "fenced" in l]
    down = [l for l in lines if "no longer leader" in l]
    rb0, rb1 = h0.get("replicated_blocks", 0), h1.get("replicated_blocks", 0)
    log("b: %s after SIGCONT: role %s, replicated_blocks %d -> %d, "
        "fencing_rejections %d -> %d; log: %d 'fenced', %d 'no longer "
        "leader'" % (old, h1.get("role"), rb0, rb1,
                     h0.get("fencing_rejections", 0),
                     h1.get("fencing_rejections", 0), len(fenced), len(down)))
    for l in (fenced + down)[:3]:
        log("b:   " + l[:200])
    if h1.get("role") == "leader" and taken is not None:
        FAILS.append("b: %s leads again after SIGCONT" % old)
        ok = False
    if rb1 != rb0:
        FAILS.append("b: %s replicated %d block(s) after SIGCONT"
                     % (old, rb1 - rb0))
        ok = False
    if h1.get("role") not in ("follower", "candidate", None) and \
            h1.get("role") != "leader":
        log("b: role reported: %r" % h1.get("role"))
    return 1 if ok else 0


REFUSED = []        # txs a follower refused (must be in no block)


def step_tx_follower():
    """POST /tx to each follower: 503 naming the leader; to the leader: 202."""
    ldr = wait_producing(30)
    if ldr is None:
        FAILS.append("t: no producing leader")
        return 0
    ok = True
    for n in NAMES:
        tx = "follower-%s=x" % n
        st, b = req(P_RPC[n], "POST", "/tx", json.dumps({"txs": [tx]}))
        if n == ldr:
            res = (b or {}).get("results") if isinstance(b, dict) else None
            if st == 200 and res and res[0].get("status") == 202:
                ACKED[tx] = n
            else:
                ok = False
                FAILS.append("t: the leader %s answered %d %r" % (n, st, b))
            continue
        err = b.get("error", "") if isinstance(b, dict) else ""
        REFUSED.append(tx)
        if st != 503 or "the leader is '%s'" % ldr not in err or \
                b.get("leader") != ldr:
            # the leader may have changed in between: ask once more
            if leader() == ldr:
                ok = False
                FAILS.append("t: follower %s answered %d %r (want 503 "
                             "naming %s)" % (n, st, b, ldr))
        else:
            log("t: follower %s: 503 %s" % (n, err))
    return 1 if ok else 0


def step_etcd():
    ldr = wait_producing(30)
    if ldr is None:
        FAILS.append("c: no producing leader before the etcd stop")
        log("c: no producing leader before the etcd stop")
        return None, None
    seen = {"h": height(ldr) or 0, "t": None}
    done = threading.Event()

    def poll():             # the leader's height every 20 ms
        while not done.is_set():
            h = height(ldr)
            if h is not None and h > seen["h"]:
                seen["h"], seen["t"] = h, time.monotonic()
            time.sleep(0.02)
    th = threading.Thread(target=poll)
    th.start()
    t0 = time.monotonic()
    etcd_stop_all()
    log("c: every etcd member stopped (SIGTERM to all at once; %.0f ms "
        "until the last exited)" % ((time.monotonic() - t0) * 1000))
    while time.monotonic() - t0 < 3 * TTL:
        time.sleep(0.05)
    done.set()
    th.join()
    last_t = seen["t"] if seen["t"] is not None and seen["t"] > t0 else t0
    stop_ms = (last_t - t0) * 1000
    others = {n: height(n) for n in NAMES}
    time.sleep(2 * BT + 0.5)
    moved = [n for n in NAMES if (height(n) or 0) > (others[n] or 0)]
    log("c: last block of %s %.0f ms after the stop (bound: TTL %d ms); "
        "producing after 3 x TTL: %s" % (ldr, stop_ms, TTL * 1000,
                                         moved or "nobody"))
    if stop_ms > TTL * 1000:
        FAILS.append("c: %s produced %.0f ms after etcd stopped (> TTL)"
                     % (ldr, stop_ms))
    if moved:
        FAILS.append("c: %s produced with etcd stopped" % moved)
    hs = {n: height(n) or 0 for n in NAMES}
    t1 = time.monotonic()
    for i in range(3):
        etcd_start(i)
    wait_for("etcd healthy again", 60, etcd_healthy)
    log("c: etcd healthy again %.0f ms after the start"
        % ((time.monotonic() - t1) * 1000))
    t1 = time.monotonic()
    resumed = None
    while time.monotonic() - t1 < 60:
        up = [n for n in NAMES if (height(n) or 0) > hs[n]]
        if up:
            resumed = (up[0], (time.monotonic() - t1) * 1000)
            break
        time.sleep(0.05)
    if resumed is None:
        FAILS.append("c: production did not resume within 60 s of etcd's "
                     "start")
        log("c: production did not resume within 60 s")
    else:
        log("c: production resumed on %s %.0f ms after etcd was healthy"
            % resumed)
    return stop_ms, resumed and resumed[1]


# ---------------------------------------------------------------- checks
def final_checks():
    """(forks, lost, twice, notes)"""
    notes = []
    # Settle: the load is stopped; give the leader time to include what
    # it acknowledged and the others time to follow.
    ldr = wait_producing(30)
    time.sleep(5 * BT + 2)
    top = max(height(n) or 0 for n in NAMES)
    try:
        wait_for("every node at height %d" % top, 30,
                 lambda: all((height(n) or 0) >= top for n in NAMES), 0.5)
    except SystemExit:
        notes.append("nodes behind the top %d: %s" % (
            top, {n: height(n) for n in NAMES if (height(n) or 0) < top}))
    sigs = {}       # height -> {signature: [where]}
    chains = {}
    for n in NAMES:
        hn = height(n) or 0
        txs = []
        for h in range(1, hn + 1):
            b = get_block(n, h)
            if b is None:
                notes.append("%s: GetBlock %d failed" % (n, h))
                break
            blk = b.get("block", {})
            sh = blk.get("header", {})
            sig = sh.get("signature") or hashlib.sha256(
                json.dumps(sh, sort_keys=True).encode()).hexdigest()
            sigs.setdefault(h, {}).setdefault(sig, []).append(n)
            for t in blk.get("data", {}).get("txs", []) or []:
                txs.append((h, base64.b64decode(t).decode(errors="replace")))
        chains[n] = txs
    # DA: every header blob, by block height.
    da_headers = 0
    nh, nd = dablocks.ns("ha-acc-h"), dablocks.ns("ha-acc-d")
    da = dablocks.DA("http://127.0.0.1:%d" % P_DA)
    try:
        head = da.head()
    except dablocks.DAError as e:
        notes.append(str(e))
        head = 0
    for dh in range(1, head + 1):
        try:
            blobs = da.blobs_at(dh, [nh, nd])
        except dablocks.DAError as e:
            notes.append(str(e))
            continue
        for space, data in blobs:
            if space != nh:
                continue
            bh = dablocks.header_height(data)
            sig = base64.b64encode(dablocks.header_signature(data)).decode()
            sigs.setdefault(bh, {}).setdefault(sig, []).append("DA@%d" % dh)
            da_headers += 1
    da.close()
    forks = [(h, v) for h, v in sorted(sigs.items()) if len(v) > 1]
    da_dups = sum(max(0, sum(1 for x in w if x.startswith("DA@")) - 1)
                  for v in sigs.values() for w in v.values())
    for h, v in forks[:5]:
        notes.append("FORK at height %d: %s" % (
            h, {s[:16]: w for s, w in v.items()}))
    longest = max(NAMES, key=lambda n: len(chains[n]) and chains[n][-1][0])
    count = {}
    for h, t in chains[longest]:
        count[t] = count.get(t, 0) + 1
    twice = [t for t, c in count.items() if c > 1]
    for t in REFUSED:
        if count.get(t, 0):
            notes.append("a tx a follower refused is in a block: %s" % t)
            twice.append(t)
    lost = [t for t in ACKED if count.get(t, 0) == 0]
    by_node = {}
    for t in lost:
        by_node[ACKED[t]] = by_node.get(ACKED[t], 0) + 1
    notes.append("txs: %d answered 202, %d sent without an answer (not "
                 "resent), %d in the blocks of %s (height %d); DA: %d header "
                 "blobs over DA heights 1..%d (%d of them a block's header submitted "
                 "again: not a fork)" % (
                     len(ACKED), len(UNKNOWN), sum(count.values()), longest,
                     height(longest) or 0, da_headers, head, da_dups))
    fwd = {n: len(metric_log_lines(n, "forwarded txs to the leader"))
           for n in NAMES}
    notes.append("forwarded batches (log lines) by node: %s" % fwd)
    if lost:
        notes.append("lost txs by the node that answered 202: %s, e.g. %s"
                     % (by_node, lost[:3]))
    if twice:
        notes.append("txs in two blocks, e.g. %s" % twice[:3])
    return len(forks), len(lost), len(twice), notes


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
            except OSError:
                pass
            p.wait()


def main():
    log("work dir %s; TTL %d s, block time %d ms, failover bound %.0f ms"
        % (W, TTL, args.block_ms, BOUND_MS))
    with open(os.path.join(W, "pass"), "w") as f:
        f.write("ha-accept-passphrase\n")
    for i in range(3):
        etcd_start(i)
    wait_for("3 healthy etcd members", 60, etcd_healthy)
    run([BIN, "init", "--home", os.path.join(W, "c1"), "--chain-id",
         "ha-accept", "--evnode.signer.passphrase_file",
         os.path.join(W, "pass"), "--evnode.node.aggregator", "true"] + NS,
        "init.log")
    for n in NAMES[1:]:
        run([BIN, "init", "--home", os.path.join(W, n), "--genesis",
             os.path.join(W, "c1", "config", "genesis.json")] + NS, "init.log")
        shutil.copy(os.path.join(W, "c1", "config", "signer.json"),
                    os.path.join(W, n, "config", "signer.json"))
    for n in NAMES:
        out = subprocess.run([BIN, "keys", "show", "--home",
                              os.path.join(W, n),
                              "--evnode.signer.passphrase_file",
                              os.path.join(W, "pass")], capture_output=True,
                             check=True).stdout
        P2P_ID[n] = json.loads(out)["node_id"]
    spawn([BIN, "da", "serve", "--listen", "127.0.0.1:%d" % P_DA, "--home",
           os.path.join(W, "da"), "--block-time", "200ms"], "da.log")
    wait_for("DA server", 30, lambda: req(P_DA, "POST", "/", json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "header.NetworkHead",
         "params": []}))[0] == 200)
    for n in NAMES:
        node_start(n)
    first = wait_producing(60)
    if first is None:
        raise SystemExit("FAIL: no candidate leads and produces")
    log("%s leads and produces" % first)
    th = threading.Thread(target=load, daemon=True)
    th.start()
    time.sleep(3)
    rows = []
    cpu0 = sum(cpu_s(NODE[n]) for n in NAMES)
    etcd0 = sum(cpu_s(p) for p in ETCD)
    wall0, load0 = time.monotonic(), os.getloadavg()[0]
    for st in args.steps:      # in the order given
        check_dead()
        if st == "a":
            t, e, stalls, over = step_kills(args.kills, "a")
            rows.append(("a kill -9 leader", args.kills, t, e, stalls))
        elif st == "b":
            ok = step_stop()
            rows.append(("b SIGSTOP 3xTTL", 1, [], [], 1 - ok))
        elif st == "t":
            ok = step_tx_follower()
            rows.append(("t POST /tx follower", 1, [], [], 1 - ok))
        elif st == "c":
            stop_ms, res_ms = step_etcd()
            rows.append(("c etcd stopped", 1,
                         [stop_ms] if stop_ms is not None else [],
                         [res_ms] if res_ms else [],
                         0 if stop_ms is not None and res_ms else 1))
    node_cpu = CPU["nodes"] + sum(cpu_s(NODE[n]) for n in NAMES) - cpu0
    etcd_cpu = sum(cpu_s(p) for p in ETCD) - etcd0
    wall = time.monotonic() - wall0
    STOP_LOAD.set()
    th.join()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ttl_s": TTL, "block_ms": args.block_ms,
                       "bound_ms": BOUND_MS, "wall_s": wall,
                       "load_start": load0, "load_end": os.getloadavg()[0],
                       "nodes_cpu_s": node_cpu, "etcd_cpu_s": etcd_cpu,
                       "acked": len(ACKED),
                       "rows": [{"step": r[0], "runs": r[1], "fo_ms": r[2],
                                 "el_ms": r[3], "bad": r[4]} for r in rows]},
                      f)
    check_dead()
    forks, lost, twice, notes = final_checks()
    for n in notes:
        log(n)
    for n, why in sorted(DEAD.items()):
        FAILS.append("%s stopped on its own (not restarted; its blocks are "
                     "not compared): %s" % (n, why))
    if forks:
        FAILS.append("%d heights with two different blocks" % forks)
    if lost:
        FAILS.append("%d txs answered 202 are in no block" % lost)
    if twice:
        FAILS.append("%d txs are in two blocks" % twice)
    print()
    print("HA acceptance: 3 etcd members, 3 candidates, TTL %d s, block "
          "time %d ms (failover bound %.0f ms); %d txs answered 202"
          % (TTL, args.block_ms, BOUND_MS, len(ACKED)))
    print("%-18s %5s %9s %9s %9s %9s %6s %6s %6s %6s" % (
        "step", "runs", "fo p50", "fo p99", "el p50", "el p99", "stalls",
        "forks", "lost", "twice"))

    def f(x):
        return "-" if x is None else "%.0f" % x
    for name, runs, t, e, bad in rows:
        print("%-18s %5d %9s %9s %9s %9s %6d %6s %6s %6s" % (
            name, runs, f(pct(t, 50)), f(pct(t, 99)), f(pct(e, 50)),
            f(pct(e, 99)), bad, "", "", ""))
    print("%-18s %5s %9s %9s %9s %9s %6s %6d %6d %6d" % (
        "all (end checks)", "", "", "", "", "", "", forks, lost, twice))
    print("fo = kill -9 -> first block replicated by the new leader (ms); "
          "el = kill -> a new leader elected (ms); row c: fo = etcd stop -> "
          "last block, el = etcd healthy again -> first block; stalls = failed runs")
    if FAILS:
        print("\nFAILED:")
        for x in FAILS:
            print("  - " + x)
        return 1
    print("\nOK")
    return 0


def on_signal(sig, frame):
    raise SystemExit("stopped by signal %d" % sig)


if __name__ == "__main__":
    # SIGINT too: a background job of a non-interactive shell ignores it.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rc = 1
    try:
        rc = main()
    except SystemExit as e:
        print(e, file=sys.stderr)
        rc = 1
    finally:
        cleanup()
        if rc != 0 or args.keep:
            for n in NAMES:
                p = os.path.join(W, n + ".log")
                if os.path.exists(p) and rc != 0:
                    print("== %s (last 8 lines)" % p)
                    with open(p, errors="replace") as fh:
                        print("".join(fh.readlines()[-8:]), end="")
        if args.keep:
            print("kept %s" % W)
        else:
            shutil.rmtree(W, ignore_errors=True)
    sys.exit(rc)
