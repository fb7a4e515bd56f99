#!/usr/bin/env python3
"""Writes the seed corpora of the FloodSub and header-exchange fuzz targets
(fuzz/corpus/floodsub_rpc, fuzz/corpus/headerex) from the vectors of
shared/spec/libp2p-subset.md sections 11.2 and 11.5 (copied below as hex)
plus hand-made shapes: Go's SubOpts form, js's `key`, unknown fields and
groups, control and partial fields, empty frames, truncations.

Run from anywhere: python3 fuzz/gen_gossip_seeds.py. Pure Python, no
dependencies. The files are committed; rerun only when the vectors or the
targets' input layout change (see each target's header comment).
"""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

A_ID = "002408011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
TOPIC = ("2f74657374636861696e2d68656164657253796e632f6865616465722d7375622f"
         "76302e302e31")
SIG = ("7bb7730f7742befb64fa863626e86c42b18a832267c0b2df1453aa117e201ef8"
       "fd1eb6ae39aee6d823571421a856fce2e833001638fbbab17c22f46fbeaaa407")
MSG = ("0a26" + A_ID + "121268656c6c6f2d66726f6d2d626c6f636b7632"
       "1a0818a5b2c3d4e5f607" "2227" + TOPIC + "2a40" + SIG)
KEY = "3224" + "08011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(num, payload):
    return uvarint(num << 3 | 2) + uvarint(len(payload)) + payload


def frame(body):
    return uvarint(len(body)) + body


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def floodsub():
    msg = h(MSG)
    rpc = field(2, msg)
    write("floodsub_rpc", "kat_11_2_frame", frame(rpc))
    write("floodsub_rpc", "kat_11_2_js_key", frame(field(2, msg + h(KEY))))
    write("floodsub_rpc", "hello_js", h("2d 0a2b 0801 1227" + TOPIC))
    write("floodsub_rpc", "hello_go", h("31 0a2f 0801 1227" + TOPIC + "1800 2000"))
    write("floodsub_rpc", "unsubscribe", h("2d 0a2b 0800 1227" + TOPIC))
    # Unknown fields inside the Message (a varint and the test extension
    # 6492434), fields out of order, then control (3) and partial (10).
    unk = h("38ac02") + field(6492434, b"ext")
    shuffled = h("2227" + TOPIC) + unk + h("2a40" + SIG) + h(
        "121268656c6c6f2d66726f6d2d626c6f636b7632") + h("0a26" + A_ID) + h(
            "1a0818a5b2c3d4e5f607")
    body = field(2, shuffled) + h("1a03 0a0100 5202 0800")
    write("floodsub_rpc", "unknown_fields", frame(body))
    # Groups: an unknown group with a nested one.
    write("floodsub_rpc", "groups", frame(h("4b 0801 53 0802 54 4c 0a02 0800")))
    # Two frames, an empty frame between, several messages in one RPC.
    two = frame(rpc) + b"\x00" + frame(field(2, msg) + field(2, msg + h(KEY)))
    write("floodsub_rpc", "two_frames", two)
    # Empty data present; no signature; a truncated Message.
    nodata = h("0a26" + A_ID + "1200 1a0818a5b2c3d4e5f607 2227" + TOPIC)
    write("floodsub_rpc", "empty_data_unsigned", frame(field(2, nodata)))
    write("floodsub_rpc", "truncated", frame(rpc)[:-20])
    write("floodsub_rpc", "wrong_wiretype", frame(h("1001")))


def headerex():
    # Mode byte: 0 request body, 1 response body, 2 framed responses.
    write("headerex", "req_range", b"\x00" + h("0801 1814"))
    write("headerex", "req_head", b"\x00" + h("0800 1801"))
    write("headerex", "req_hash", b"\x00" + h("1220" + "ab" * 32 + "1801"))
    write("headerex", "req_both", b"\x00" + h("0805 1202abcd 1803 2a0100"))
    write("headerex", "req_amount_max", b"\x00" + h("0801 18ffffffffffffffffff01"))
    write("headerex", "resp_not_found", b"\x01" + h("1002"))
    write("headerex", "resp_body", b"\x01" + h("0a04424f4459 1001"))
    write("headerex", "resp_unknown_status", b"\x01" + h("1007 1a0100"))
    stream = h("08 0a04424f4459 1001") * 3 + h("02 1002")
    write("headerex", "resp_stream", b"\x02" + stream)
    write("headerex", "resp_stream_invalid", b"\x02" + h("00 02 1002"))


if __name__ == "__main__":
    floodsub()
    headerex()
