#!/usr/bin/env python3
"""Chain and tx checks of a reliability scenario, through the RPC.

Every running node of DIR/nodes (not the DA server) is read block by block
with StoreService/GetBlock; each block's digest (SHA-256 of its canonical
JSON) is kept per node and height in DIR/check-state.json, so a later call
only reads new heights (--incremental) and the final call re-reads them all
(a block that changed under a height is a violation too).

Checks:
  invalid: heights where a node's block differs from the aggregator's (a
           fork), or from what the same node returned earlier;
  twice:   txs in more than one block of the aggregator's chain;
  lost:    (final call only) txs acknowledged by the clients (DIR/load/
           acked.*: 202, or 409 to a resend) that are not in exactly one
           block once the queue drained (waits up to --wait seconds).
Writes DIR/check.json {height, blocks_scanned, lost, twice, invalid,
acked, txs_in_blocks, examples} and exits 1 on any violation.
"""
import argparse, base64, glob, hashlib, http.client, json, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--incremental", action="store_true")
ap.add_argument("--wait", type=float, default=120.0)
ap.add_argument("--nodes", default="", help="comma-separated names "
                "(default: every running node)")
args = ap.parse_args()

W = args.dir
state_path = os.path.join(W, "check-state.json")
try:
    state = json.load(open(state_path))
except (OSError, ValueError):
    state = {"digests": {}, "txcount": {}, "txs_at": {}, "scanned": {}}


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def running_nodes():
    out = []
    ndir = os.path.join(W, "nodes")
    for name in sorted(os.listdir(ndir)):
        role = read(os.path.join(ndir, name, "role"))
        if role in ("", "daserver"):
            continue
        if args.nodes and name not in args.nodes.split(","):
            continue
        if read(os.path.join(ndir, name, "pid")) in ("", "0"):
            continue
        out.append((name, int(read(os.path.join(ndir, name, "rpc")))))
    return out


class Node:
    def __init__(self, name, port):
        self.name, self.port, self.conn = name, port, None

    def call(self, method, path, body=None):
        for attempt in range(5):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=10)
                if body is None:
                    self.conn.request(method, path)
                else:
                    self.conn.request(method, path, body=json.dumps(body),
                                      headers={"Content-Type":
                                               "application/json"})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                time.sleep(0.2)
        raise RuntimeError("node %s (port %d) does not answer" % (
            self.name, self.port))

    def height(self):
        st, body = self.call("GET", "/status")
        if st != 200:
            raise RuntimeError("%s: /status HTTP %d" % (self.name, st))
        return int(json.loads(body)["height"])

    def block(self, h):
        st, body = self.call("POST", "/evnode.v1.StoreService/GetBlock",
                             {"height": str(h)})
        if st != 200:
            raise RuntimeError("%s: GetBlock %d: HTTP %d %s" % (
                self.name, h, st, body[:200]))
        return json.loads(body)["block"]


violations = []
invalid = set()   # (node, height)


def scan(node, lo, hi):
    """Reads blocks lo..hi of node into the state."""
    dig = state["digests"].setdefault(node.name, {})
    n = 0
    for h in range(lo, hi + 1):
        b = node.block(h)
        d = hashlib.sha256(json.dumps(b, sort_keys=True).encode()).hexdigest()
        key = str(h)
        old = dig.get(key)
        if old is not None and old != d:
            invalid.add((node.name, h))
            violations.append("%s: the block at height %d changed" % (
                node.name, h))
        dig[key] = d
        n += 1
        if node.name == "a" and old is None:
            txs = [base64.b64decode(t).decode("utf-8", "replace")
                   for t in b["data"].get("txs", [])]
            state["txs_at"][key] = len(txs)
            for t in txs:
                state["txcount"][t] = state["txcount"].get(t, 0) + 1
    return n


def compare():
    agg = state["digests"].get("a", {})
    for name, dig in state["digests"].items():
        if name == "a":
            continue
        for h, d in dig.items():
            if h in agg and agg[h] != d:
                if (name, int(h)) not in invalid:
                    violations.append("%s: block %s differs from the "
                                      "aggregator's" % (name, h))
                invalid.add((name, int(h)))


nodes = [Node(n, p) for n, p in running_nodes()]
scanned = 0
top = 0
for node in nodes:
    h = node.height()
    if node.name == "a":
        top = h
    lo = 1 if not args.incremental else state["scanned"].get(node.name, 0) + 1
    scanned += scan(node, lo, h)
    state["scanned"][node.name] = max(h, state["scanned"].get(node.name, 0))
compare()

acked = {}
lost = []
if not args.incremental:
    for f in glob.glob(os.path.join(W, "load", "acked.*")):
        for line in open(f):
            parts = line.split()
            if len(parts) >= 2:
                acked["%s=%s" % (parts[0], parts[1])] = True
    agg = [n for n in nodes if n.name == "a"]
    deadline = time.time() + args.wait
    while True:
        lost = [t for t in acked if state["txcount"].get(t, 0) != 1]
        if not lost or not agg or time.time() > deadline:
            break
        time.sleep(1.0)
        h = agg[0].height()
        if h > state["scanned"].get("a", 0):
            scanned += scan(agg[0], state["scanned"]["a"] + 1, h)
            state["scanned"]["a"] = h
            top = h
    # lost = acknowledged and in no block; a tx in two blocks is "twice"
    lost = [t for t in acked if state["txcount"].get(t, 0) == 0]

twice = [t for t, c in state["txcount"].items() if c > 1]
if twice:
    violations.append("%d txs in more than one block, e.g. %s" % (
        len(twice), twice[:3]))
if lost:
    violations.append("%d acknowledged txs in no block, e.g. %s" % (
        len(lost), lost[:3]))

tmp = state_path + ".tmp"
with open(tmp, "w") as f:
    json.dump(state, f)
os.rename(tmp, state_path)
res = {"height": top or state["scanned"].get("a", 0),
       "blocks_scanned": scanned, "lost": len(lost), "twice": len(twice),
       "invalid": len(invalid), "acked": len(acked),
       "txs_in_blocks": sum(state["txcount"].values()),
       "nodes": [n.name for n in nodes], "examples": violations[:10]}
with open(os.path.join(W, "check.json.tmp"), "w") as f:
    json.dump(res, f)
os.rename(os.path.join(W, "check.json.tmp"), os.path.join(W, "check.json"))
for v in violations[:10]:
    print("violation:", v)
print("check%s: height %d, %d blocks read on %s; %d acknowledged, %d txs in "
      "blocks; lost %d, twice %d, invalid %d" % (
          " (incremental)" if args.incremental else "", res["height"],
          scanned, ",".join(res["nodes"]), len(acked), res["txs_in_blocks"],
          len(lost), len(twice), len(invalid)))
sys.exit(1 if violations else 0)
