#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the spec 2.6 vectors.

Run from anywhere: python3 fuzz/gen_seeds.py. Needs python3-cryptography
(Ed25519) for the envelope signature. The files are committed; rerun only
when the vectors or targets change.
"""
import hashlib
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SEED = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUB = bytes.fromhex(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ADDR = hashlib.sha256(PUB).digest()


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def lenf(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def vf(field, v):
    return key(field, 0) + varint(v)


T0 = 1700000000000000000
V4 = bytes.fromhex("12037478311203747832")
V5 = bytes.fromhex(
    "a1f4ef20834f538e8169ab5b5e3ec0e58b426c6db1d73ec1e03a0ab80ef29341")
V7 = (lenf(1, b"") + vf(2, 2) + vf(3, T0) + lenf(4, b"\x11" * 32) +
      lenf(6, V5) + lenf(7, b"\x00" * 32) + lenf(8, b"\x22" * 32) +
      lenf(10, ADDR) + lenf(12, b"test-chain"))
# Slim header V11 (no consensus_hash).
V11 = (lenf(1, b"") + vf(2, 2) + vf(3, T0) + lenf(4, b"\x11" * 32) +
       lenf(6, V5) + lenf(8, b"\x22" * 32) + lenf(10, ADDR) +
       lenf(12, b"test-chain"))
V9 = KEY.sign(V7)
V13 = KEY.sign(V11)
SIGNER = lenf(1, ADDR) + lenf(2, bytes.fromhex("08011220") + PUB)
V10 = lenf(1, V7) + lenf(2, V9) + lenf(3, SIGNER)
SLIM_SH = lenf(1, V11) + lenf(2, V13) + lenf(3, SIGNER)
ENVELOPE = SLIM_SH + lenf(4, KEY.sign(SLIM_SH))
P2P_HEADER = SLIM_SH + vf(4, 5)
META = (lenf(1, b"test-chain") + vf(2, 2) + vf(3, T0) +
        lenf(4, b"\x33" * 32))
V14 = lenf(1, META) + V4
V17 = lenf(1, V14) + lenf(2, KEY.sign(V14)) + lenf(3, SIGNER)
P2P_DATA = V14 + vf(3, 7)
STATE = (lenf(1, vf(1, 1) + vf(2, 2)) + lenf(2, b"test-chain") + vf(3, 1) +
         vf(4, 2) + lenf(5, vf(1, 1700000000) + vf(2, 5)) + vf(6, 9) +
         lenf(8, b"\x22" * 32) + lenf(9, b"\x44" * 32) + lenf(10, ADDR))
BATCH = lenf(1, b"tx1") + lenf(1, b"tx2")

assert V7.hex().startswith("0a001002188080a8b1e39fe7cb17") and len(V7) == 196
assert len(V10) == 339 and V9.hex().startswith("478d2ab26a6c8149")
assert hashlib.sha256(V7).hexdigest().startswith("3a6e20c6")

SEEDS = {
    "header": {"v7_legacy": V7, "v11_slim": V11, "empty": b""},
    "signed_header": {"v10": V10, "slim": SLIM_SH},
    "envelope": {"envelope": ENVELOPE, "v10_no_env_sig": V10},
    "p2p_header": {"p2p_header": P2P_HEADER, "v10": V10},
    "data": {"v4": V4, "v14": V14, "empty": b""},
    "signed_data": {"v17": V17},
    "p2p_data": {"p2p_data": P2P_DATA, "v14": V14},
    "state": {"state": STATE, "empty": b""},
    "batch": {"batch": BATCH, "empty": b""},
}
INSPECT = {
    "auto_v10": b"\x00" + V10, "auto_v17": b"\x00" + V17,
    "auto_v14": b"\x00" + V14, "auto_state": b"\x00" + STATE,
    "auto_p2p_header": b"\x00" + P2P_HEADER, "header": b"\x01" + V10,
    "envelope": b"\x02" + ENVELOPE, "signed_data": b"\x03" + V17,
    "data": b"\x04" + V4, "p2p_header": b"\x05" + P2P_HEADER,
    "p2p_data": b"\x06" + P2P_DATA, "state": b"\x07" + STATE,
    "garbage": b"\x00this is not protobuf",
}
SEEDS["inspect"] = INSPECT

for target, files in SEEDS.items():
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    biggest = max(files.values(), key=len)
    files = dict(files)
    files["truncated"] = biggest[: len(biggest) // 2]
    for name, data in files.items():
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(data)
print("wrote", sum(1 for _ in SEEDS), "corpora under", ROOT)
