#!/usr/bin/env python3
"""Every block on DA exactly once per namespace (reliability suite).

Waits (up to --wait s) until every running node with DA reports a
DA-included height at the aggregator's height, then reads every DA height
1..head with blob.GetAll over the header and data namespaces and decodes
each blob's block height (header blob: DAHeaderEnvelope/SignedHeader ->
Header.height; data blob: SignedData -> Data -> Metadata.height).
Checks, for blocks 1..T (the aggregator's height when the wait ended):
  - each header is in the header namespace exactly once;
  - each block with txs (DIR/check-state.json, from check.py) has its data
    in the data namespace exactly once, and no data blob appears twice.
Writes DIR/dacheck.json; exits 1 on a violation.
"""
import argparse, http.client, json, os, sys, time

from rellib import read

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "py"))
import dablocks  # noqa: E402 (tests/py: reading blocks back from DA)

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--da", required=True)
ap.add_argument("--ns-header", required=True)
ap.add_argument("--ns-data", required=True)
ap.add_argument("--wait", type=float, default=120.0)
args = ap.parse_args()
W = args.dir


def status(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/status")
        r = c.getresponse()
        return json.loads(r.read()) if r.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None


# Which nodes have DA: every running node whose role is not p2ponly.
nodes = []
for name in sorted(os.listdir(os.path.join(W, "nodes"))):
    role = read(os.path.join(W, "nodes", name, "role"))
    if role in ("agg", "da", "p2p") and name != "da" and \
            read(os.path.join(W, "nodes", name, "pid")) not in ("", "0"):
        nodes.append((name, int(read(os.path.join(W, "nodes", name, "rpc")))))
deadline = time.time() + args.wait
sts = {n: status(p) for n, p in nodes}
top = (sts.get("a") or {}).get("height", 0)   # the blocks checked: 1..top
while True:
    behind = {n: (s or {}).get("da_included_height", 0)
              for n, s in sts.items()
              if not s or s.get("da_included_height", 0) < top}
    if not behind or time.time() > deadline:
        break
    time.sleep(1.0)
    sts = {n: status(p) for n, p in nodes}
if behind:
    print("DA-included height below the aggregator's %d after %.0f s: %s" % (
        top, args.wait, behind))
    sys.exit(1)

da = dablocks.DA(args.da)
nh, nd = dablocks.ns(args.ns_header), dablocks.ns(args.ns_data)
hdr, dat = {}, {}
try:
    head = da.head()
    for h in range(1, head + 1):
        for space, data in da.blobs_at(h, [nh, nd]):
            if space == nh:
                hdr.setdefault(dablocks.header_height(data), []).append(h)
            elif space == nd:
                dat.setdefault(dablocks.data_height(data), []).append(h)
except dablocks.DAError as e:
    print(e)
    sys.exit(1)

state = json.load(open(os.path.join(W, "check-state.json")))
with_txs = {int(h) for h, n in state["txs_at"].items() if n > 0}
viol = []
for b in range(1, top + 1):
    if b not in hdr:
        viol.append("header %d is not on DA" % b)
    if b in with_txs and b not in dat:
        viol.append("data %d (with txs) is not on DA" % b)
for kind, m in (("header", hdr), ("data", dat)):
    for b, hs in sorted(m.items()):
        if len(hs) > 1:
            viol.append("%s %d on DA %d times (DA heights %s)" % (
                kind, b, len(hs), hs))
res = {"top": top, "da_head": head, "headers": sum(map(len, hdr.values())),
       "data": sum(map(len, dat.values())), "violations": len(viol),
       "examples": viol[:10]}
json.dump(res, open(os.path.join(W, "dacheck.json"), "w"))
for v in viol[:10]:
    print("violation:", v)
print("da check: blocks 1..%d, DA heights 1..%d: %d header blobs, %d data "
      "blobs; %d violations" % (top, head, res["headers"], res["data"],
                                len(viol)))
sys.exit(1 if viol else 0)
