#!/usr/bin/env python3
"""Seed corpora of fuzz_yamux and fuzz_identify (p2p host), from the frames
and the identify vector of libp2p-subset.md sections 11.4 and 11.5.
Run from the repository root: python3 fuzz/gen_p2p_host_seeds.py"""
import os
import struct


def hdr(t, flags, sid, length):
    return struct.pack(">BBHII", 0, t, flags, sid, length)


DATA, WU, PING, GOAWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def ms(token):
    line = token.encode() + b"\n"
    return uvarint(len(line)) + line


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


y = "fuzz/corpus/yamux"
# byte 0: bit0 client, bit1 accept, bit2 consume, bits 3-7 chunk-1
body = ms("/multistream/1.0.0") + ms("/ipfs/id/1.0.0")
write(y, "syn_data_fin", bytes([0x06]) + hdr(WU, SYN, 1, 0) +
      hdr(DATA, 0, 1, len(body)) + body + hdr(WU, FIN, 1, 0))
write(y, "syn_data_fin_chunked", bytes([0x06 | (11 << 3)]) +
      hdr(DATA, SYN, 1, len(body)) + body + hdr(WU, FIN, 1, 0))
write(y, "ping", bytes([0x06]) + hdr(PING, SYN, 0, 7) + hdr(PING, ACK, 0, 7))
write(y, "goaway", bytes([0x06]) + hdr(GOAWAY, 0, 0, 0x1005))
write(y, "bad_version", bytes([0x06]) + b"\x01" + hdr(PING, SYN, 0, 1)[1:])
write(y, "bad_type", bytes([0x06]) + hdr(9, 0, 0, 0))
write(y, "window_exceeded", bytes([0x02]) + hdr(DATA, SYN, 1, 300 * 1024) +
      b"\x00" * 4096)
write(y, "reset", bytes([0x06]) + hdr(WU, SYN, 3, 0) +
      hdr(WU, RST, 3, 0x1001) + hdr(DATA, 0, 3, 4) + b"abcd")
write(y, "window_update", bytes([0x06]) + hdr(WU, SYN, 1, 0) +
      hdr(DATA, 0, 1, 1) + b"\x01" + hdr(WU, 0, 1, 0x40000))
write(y, "many_syn", bytes([0x02]) +
      b"".join(hdr(WU, SYN, 2 * i + 1, 0) for i in range(100)))
write(y, "client_even", bytes([0x07]) + hdr(WU, SYN, 2, 0) +
      hdr(DATA, 0, 2, 3) + b"\x02xy" + hdr(WU, ACK, 1, 0))
write(y, "wrong_parity", bytes([0x06]) + hdr(WU, SYN, 2, 0))
write(y, "duplicate_syn", bytes([0x06]) + hdr(WU, SYN, 1, 0) +
      hdr(WU, SYN, 1, 0))
write(y, "unknown_stream", bytes([0x06]) + hdr(DATA, 0, 9, 5) + b"hello")

i = "fuzz/corpus/identify"
# byte 0: chunk size - 1
canonical = bytes.fromhex(
    "0a2408011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea6914"
    "46d22c"
    "1208047f000001061dfc"
    "1a0e2f697066732f69642f312e302e30"
    "1a102f697066732f70696e672f312e302e30"
    "1a0f2f666c6f6f647375622f312e302e30"
    "1a262f74657374636861696e2d68656164657253796e632f6865616465722d65782f"
    "76302e302e33"
    "1a242f74657374636861696e2d6461746153796e632f6865616465722d65782f7630"
    "2e302e33"
    "2208047f000001069c40"
    "2a0a697066732f302e312e30"
    "320d626c6f636b76322f302e312e30")
assert len(canonical) == 214
write(i, "spec_11_4", bytes([0]) + uvarint(214) + canonical)
write(i, "spec_11_4_chunk7", bytes([6]) + uvarint(214) + canonical)
# js's field order 5, 6, 1, 2, 4, 3: the same message
fields = {}
pos = 0
while pos < len(canonical):
    tag = canonical[pos]
    ln = canonical[pos + 1]
    fields.setdefault(tag >> 3, []).append(canonical[pos:pos + 2 + ln])
    pos += 2 + ln
js = b"".join(b"".join(fields[f]) for f in (5, 6, 1, 2, 4, 3))
write(i, "js_order", bytes([3]) + uvarint(len(js)) + js)
second = bytes.fromhex("1a0f2f666c6f6f647375622f312e302e30") + \
    bytes.fromhex("320d626c6f636b76322f302e312e30")
write(i, "two_messages", bytes([12]) + uvarint(214) + canonical +
      uvarint(len(second)) + second)
write(i, "truncated", bytes([0]) + uvarint(214) + canonical[:100])
write(i, "too_big", bytes([0]) + uvarint(9000) + b"\x0a" * 64)
write(i, "garbage", bytes([1]) + b"\x05\xff\xff\xff\xff\xff")
write(i, "empty_message", bytes([0]) + b"\x00")
write(i, "eleven", bytes([0]) + b"\x02\x2a\x00" * 11)
