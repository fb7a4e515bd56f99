#!/usr/bin/env python3
"""Samples every process of a reliability scenario until SIGTERM.

Reads the registry DIR/nodes/<name>/{role,rpc,pid} (pid 0 = down) every
--interval seconds and, for each live process, in parallel (a frozen
process costs one timeout, not a stalled round):
  - a node: GET /status (height, DA-included height, actors' mailbox
    depth/capacity/dropped), RSS and open fds from /proc;
  - the DA server (role daserver): header.NetworkHead, RSS and fds.
Writes DIR/monitor.csv (one row per process per round:
unix_time,name,pid,height,da_height,rss_kb,fds,lag,max_depth,depth_actor,
dropped) and, every second and at exit, DIR/monitor.json:
  max_rss_kb, max_fds, max_lag (a full node behind the aggregator, same
  round), max_depth (largest mailbox depth / capacity seen), dropped,
  backwards: every sample whose height is below one seen earlier from the
  same name (across restarts: a restarted node must come back at least
  where it was), heights (largest per name).
"""
import argparse, http.client, json, os, signal, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--interval", type=float, default=0.2)
ap.add_argument("--timeout", type=float, default=1.0)
args = ap.parse_args()

running = True


def on_term(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, on_term)

summary = {"max_rss_kb": 0, "max_fds": 0, "max_lag": 0, "max_depth": 0,
           "max_depth_actor": "", "max_depth_capacity": 0, "dropped": {},
           "backwards": [], "heights": {}, "rounds": 0, "rss_kb": {}}


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def proc_stats(pid):
    rss = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, ValueError):
        return None
    return rss, fds


def probe(name, role, port, out):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
        if role == "daserver":
            c.request("POST", "/", body=json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "header.NetworkHead",
                 "params": []}),
                headers={"Content-Type": "application/json"})
            r = c.getresponse()
            j = json.loads(r.read())
            h = j["result"]["header"]["height"]
            out[name] = {"height": int(h)}
        else:
            c.request("GET", "/status")
            r = c.getresponse()
            if r.status != 200:
                return
            s = json.loads(r.read())
            depth, cap, actor, dropped = 0, 0, "", {}
            for a in s.get("actors", []):
                if a["depth"] >= depth:
                    depth, cap, actor = a["depth"], a["capacity"], a["name"]
                dropped[a["name"]] = a.get("dropped", 0)
            out[name] = {"height": int(s["height"]),
                         "da_height": int(s.get("da_included_height", 0)),
                         "depth": depth, "capacity": cap, "actor": actor,
                         "dropped": dropped}
        c.close()
    except Exception:
        pass


def write_summary():
    tmp = os.path.join(args.dir, "monitor.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f)
    os.rename(tmp, os.path.join(args.dir, "monitor.json"))


csv = open(os.path.join(args.dir, "monitor.csv"), "a")
if csv.tell() == 0:
    csv.write("time,name,pid,height,da_height,rss_kb,fds,lag,max_depth,"
              "depth_actor,dropped\n")
last_summary = 0.0
ndir = os.path.join(args.dir, "nodes")
while running:
    t0 = time.time()
    procs = []
    for name in sorted(os.listdir(ndir)):
        role = read(os.path.join(ndir, name, "role"))
        port = read(os.path.join(ndir, name, "rpc"))
        pid = read(os.path.join(ndir, name, "pid"))
        if not role or not port or not pid or pid == "0":
            continue
        procs.append((name, role, int(port), int(pid)))
    out = {}
    ts = [threading.Thread(target=probe, args=(n, r, p, out))
          for n, r, p, _ in procs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    agg = out.get("a", {}).get("height")
    for name, role, port, pid in procs:
        ps = proc_stats(pid)
        if ps is None:
            continue   # gone (killed between the registry read and now)
        rss, fds = ps
        summary["max_rss_kb"] = max(summary["max_rss_kb"], rss)
        summary["rss_kb"][name] = max(summary["rss_kb"].get(name, 0), rss)
        summary["max_fds"] = max(summary["max_fds"], fds)
        s = out.get(name)
        h = s["height"] if s else None
        lag = ""
        if s is not None:
            seen = summary["heights"].get(name, 0)
            if h < seen:
                summary["backwards"].append(
                    {"name": name, "pid": pid, "from": seen, "to": h,
                     "time": t0})
            summary["heights"][name] = max(seen, h)
            if role != "daserver" and name != "a" and agg is not None:
                lag = max(0, agg - h)
                summary["max_lag"] = max(summary["max_lag"], lag)
            if s.get("depth", 0) > summary["max_depth"]:
                summary["max_depth"] = s["depth"]
                summary["max_depth_actor"] = "%s/%s" % (name, s["actor"])
                summary["max_depth_capacity"] = s["capacity"]
            for a, d in s.get("dropped", {}).items():
                k = "%s/%s" % (name, a)
                summary["dropped"][k] = max(summary["dropped"].get(k, 0), d)
        csv.write("%.3f,%s,%d,%s,%s,%d,%d,%s,%s,%s,%s\n" % (
            t0, name, pid, "" if h is None else h,
            s.get("da_height", "") if s else "", rss, fds, lag,
            s.get("depth", "") if s else "", s.get("actor", "") if s else "",
            sum(s.get("dropped", {}).values()) if s else ""))
    csv.flush()
    summary["rounds"] += 1
    if t0 - last_summary >= 1.0:
        write_summary()
        last_summary = t0
    rest = args.interval - (time.time() - t0)
    if rest > 0 and running:
        time.sleep(rest)
write_summary()
