#!/usr/bin/env python3
"""Independent reference for the Celestia share commitment (go-square v4
inclusion.CreateCommitment, SubtreeRootThreshold 64), written from
docs/DA.md / celestia-da.md section 2.3 with hashlib only.

Usage: commitment_ref.py            prints the vectors used by test_commitment.c
       commitment_ref.py LEN...     prints, one line per LEN, the commitment of
                                    LEN bytes of the pattern (i * 7 + 3) & 0xff
                                    in namespace from_string("blockv2-da-test")
"""
import hashlib
import math
import sys

SHARE = 512
NS_LEN = 29


def ns_from_string(s):
    return bytes(1 + 18) + hashlib.sha256(s.encode()).digest()[:10]


def shares_of(ns, data, version=0, signer=b""):
    first_cap = SHARE - NS_LEN - 1 - 4 - (20 if version == 1 else 0)
    cont_cap = SHARE - NS_LEN - 1
    out = []
    first = ns + bytes([(version << 1) | 1]) + len(data).to_bytes(4, "big")
    if version == 1:
        first += signer
    first += data[:first_cap]
    out.append(first.ljust(SHARE, b"\0"))
    rest = data[first_cap:]
    while rest:
        s = ns + bytes([version << 1]) + rest[:cont_cap]
        out.append(s.ljust(SHARE, b"\0"))
        rest = rest[cont_cap:]
    return out


def pow2_up(v):
    p = 1
    while p < v:
        p *= 2
    return p


def pow2_down(v):
    p = 1
    while p * 2 <= v:
        p *= 2
    return p


def width_of(n):
    s = pow2_up(-(-n // 64))
    return min(s, pow2_up(math.isqrt(n - 1) + 1 if n > 1 else 1))


def nmt_root(ns, leaves):
    def h(items):
        if len(items) == 1:
            d = hashlib.sha256(b"\0" + ns + items[0]).digest()
            return ns + ns + d
        k = pow2_down(len(items))
        if k == len(items):
            k //= 2
        left, right = h(items[:k]), h(items[k:])
        if right[:NS_LEN] == b"\xff" * NS_LEN:
            mx = left[NS_LEN:2 * NS_LEN]
        else:
            mx = right[NS_LEN:2 * NS_LEN]
        return left[:NS_LEN] + mx + hashlib.sha256(b"\1" + left + right).digest()
    return h(leaves)


def rfc6962(items):
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\0" + items[0]).digest()
    k = pow2_down(len(items))
    if k == len(items):
        k //= 2
    return hashlib.sha256(b"\1" + rfc6962(items[:k]) + rfc6962(items[k:])).digest()


def subtree_roots(ns, data, version=0, signer=b""):
    sh = shares_of(ns, data, version, signer)
    w = width_of(len(sh))
    roots, i = [], 0
    while i < len(sh):
        left = len(sh) - i
        take = w if left >= w else pow2_down(left)
        roots.append(nmt_root(ns, sh[i:i + take]))
        i += take
    return roots


def commitment(ns, data, version=0, signer=b""):
    return rfc6962(subtree_roots(ns, data, version, signer))


def pattern(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def main():
    ns = ns_from_string("blockv2-da-test")
    if len(sys.argv) > 1:
        for arg in sys.argv[1:]:
            print(commitment(ns, pattern(int(arg))).hex())
        return
    ns1 = bytes(19) + b"\x01" * 10
    r = subtree_roots(ns1, b"\xff" * 960)
    t = hashlib.sha256(b"".join(hashlib.sha256(x).digest() for x in r)).hexdigest()
    print("go-square v0 test root", t)
    r = subtree_roots(ns1, b"\xff" * 940, 1, b"\x01" * 20)
    t = hashlib.sha256(b"".join(hashlib.sha256(x).digest() for x in r)).hexdigest()
    print("go-square v1 test root", t)
    print("v0 commitment", commitment(ns1, b"\xff" * 960).hex())
    for n in (1, 478, 479, 100000):
        print(n, commitment(ns, pattern(n)).hex())


if __name__ == "__main__":
    main()
