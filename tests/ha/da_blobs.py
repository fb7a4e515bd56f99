#!/usr/bin/env python3
"""Counts the blobs on a DA server per namespace, and the copies: a blob
whose bytes are on DA more than once (a block submitted twice: the same
bytes, so no fork, but paid twice). Used by tests/ha/failover.sh.

usage: da_blobs.py DA_URL NAMESPACE... (the names as in da.namespace)
prints one line per namespace: "<name> blobs=N distinct=D copies=C heights=H"
and exits 0; 2 when the DA server does not answer (or answers an error).
"""
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "py"))
import dablocks  # noqa: E402 (tests/py: reading blocks back from DA)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, names = sys.argv[1], sys.argv[2:]
    da = dablocks.DA(url)
    want = {dablocks.ns(n): n for n in names}
    seen = {n: {} for n in names}
    try:
        head = da.head()
        for h in range(1, head + 1):
            for space, data in da.blobs_at(h, list(want)):
                n = want.get(space)
                if n is None:
                    continue
                d = hashlib.sha256(data).hexdigest()
                seen[n][d] = seen[n].get(d, 0) + 1
    except dablocks.DAError as e:
        print("DA %s: %s" % (url, e), file=sys.stderr)
        return 2
    for n in names:
        total = sum(seen[n].values())
        print("%s blobs=%d distinct=%d copies=%d heights=%d" % (
            n, total, len(seen[n]), total - len(seen[n]), head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
