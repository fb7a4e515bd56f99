#!/usr/bin/env python3
"""Counts the blobs on a DA server per namespace, and the copies: a blob
whose bytes are on DA more than once (a block submitted twice: the same
bytes, so no fork, but paid twice). Used by tests/ha/failover.sh.

usage: da_blobs.py DA_URL NAMESPACE... (the names as in da.namespace)
prints one line per namespace: "<name> blobs=N distinct=D copies=C heights=H"
and exits 0; 2 when the DA server does not answer.
"""
import base64
import hashlib
import json
import sys
import urllib.request


def ns(s):
    return bytes(19) + hashlib.sha256(s.encode()).digest()[:10]


def call(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": params}).encode()
    rq = urllib.request.Request(url, body,
                                {"Content-Type": "application/json"})
    with urllib.request.urlopen(rq, timeout=30) as r:
        return json.load(r)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, names = sys.argv[1], sys.argv[2:]
    try:
        head = int(call(url, "header.NetworkHead", [])
                   ["result"]["header"]["height"])
    except Exception as e:  # noqa: BLE001 - report any failure the same
        print("DA %s: %s" % (url, e), file=sys.stderr)
        return 2
    want = {ns(n): n for n in names}
    seen = {n: {} for n in names}
    b64 = [base64.b64encode(k).decode() for k in want]
    for h in range(1, head + 1):
        j = call(url, "blob.GetAll", [h, b64])
        for blob in j.get("result") or []:
            n = want.get(base64.b64decode(blob["namespace"]))
            if n is None:
                continue
            d = hashlib.sha256(base64.b64decode(blob["data"])).hexdigest()
            seen[n][d] = seen[n].get(d, 0) + 1
    for n in names:
        total = sum(seen[n].values())
        print("%s blobs=%d distinct=%d copies=%d heights=%d" % (
            n, total, len(seen[n]), total - len(seen[n]), head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
