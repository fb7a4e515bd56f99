#!/usr/bin/python3
"""Independent generator of ev-node-compatible key files for blockv2 tests.

Writes, next to this script (deterministic output, so re-running gives the
same bytes):

  signer_go_compat.json  signer.json as ev-node's file signer writes it:
                         Argon2id(t=3, m=32 MiB, p=4, 32 bytes) + AES-256-GCM.
  signer_legacy.json     a pre-Argon2 file (no "salt"), legacy key stretch.
  node_key_compat.json   node_key.json {"priv_key", "pub_key"}.
  peer_id.txt            the libp2p peer ID of the node key's public key.

Known contents (asserted by tests/keys/test_keys.c):
  signer key seed  = bytes 0x01..0x20, passphrase "correct horse battery staple"
  legacy key seed  = bytes 0x21..0x40, passphrase "legacy-pass"
  node key seed    = bytes 0x41..0x60

Uses only Debian packages python3-argon2 and python3-cryptography
(apt-get install -y python3-argon2 python3-cryptography).
"""
import base64
import json
import os

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))


def b64(b):
    return base64.standard_b64encode(b).decode()


def keypair(seed):
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    return seed + pub, pub


def go_json(d):
    # Go's json.Marshal of keyData: compact, struct field order.
    return json.dumps(d, separators=(",", ":"))


def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


def signer_argon2():
    priv, pub = keypair(bytes(range(0x01, 0x21)))
    passphrase = b"correct horse battery staple"
    salt = bytes(range(0xa0, 0xb0))     # 16 bytes
    nonce = bytes(range(0xc0, 0xcc))    # 12 bytes
    key = hash_secret_raw(passphrase, salt, time_cost=3, memory_cost=32 * 1024,
                          parallelism=4, hash_len=32, type=Type.ID)
    ct = AESGCM(key).encrypt(nonce, priv, None)
    write("signer_go_compat.json", go_json({
        "priv_key_encrypted": b64(ct), "nonce": b64(nonce),
        "pub_key": b64(pub), "salt": b64(salt)}))


def legacy_stretch(p, n=32):
    if len(p) >= n:
        return p[:n]
    return p + bytes(p[i % len(p)] ^ i for i in range(len(p), n))


def signer_legacy():
    priv, pub = keypair(bytes(range(0x21, 0x41)))
    nonce = bytes(range(0xd0, 0xdc))
    ct = AESGCM(legacy_stretch(b"legacy-pass")).encrypt(nonce, priv, None)
    write("signer_legacy.json", go_json({
        "priv_key_encrypted": b64(ct), "nonce": b64(nonce),
        "pub_key": b64(pub)}))


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(b):
    n = int.from_bytes(b, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + s


def node_key():
    priv, pub = keypair(bytes(range(0x41, 0x61)))
    write("node_key_compat.json", go_json({"priv_key": b64(priv),
                                           "pub_key": b64(pub)}))
    # libp2p PublicKey protobuf {Type=Ed25519(1), Data=pub}; identity
    # multihash (code 0, length 36) because it is <= 42 bytes.
    proto = bytes([0x08, 0x01, 0x12, 0x20]) + pub
    write("peer_id.txt", base58(bytes([0x00, len(proto)]) + proto) + "\n")


if __name__ == "__main__":
    signer_argon2()
    signer_legacy()
    node_key()
