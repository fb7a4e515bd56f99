#!/usr/bin/env python3
"""Writes the seed corpora of the p2p foundation fuzz targets
(fuzz/corpus/multiaddr, multistream, noise) from the vectors of
shared/spec/libp2p-subset.md section 11 (copied below as hex).

Run from anywhere: python3 fuzz/gen_p2p_seeds.py. Pure Python, no
dependencies. The files are committed; rerun only when the vectors or
the targets' input layout change (first byte = mode, see each target).
"""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

A_PUB = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
A_ID = "12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7"
A_CID = "bafzaajaiaejcb2sknrr6fhcsbk7pkud3cmxml6mvi53k5pv6pojeehxknekenurm"
B_ID = "12D3KooWB8sCGZCrwr79HtabLAn95qyPQx6RYHXjEbiD6QKou7ww"

MSG1 = "0020 7b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19a4cb8a1b14"
MSG2 = (
    "00d8 ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b"
    "fcadb15080d9fd0434a18565751d3b6022bec571f33b6212486a1bffa54d1a1ee771"
    "2455070d4e3666e35c1eca6c109ed4"
    "e7d1b5c88b41fb9f635cf5ae8fa82989d2b18fb73f80ebddeeb747339e344210e25f"
    "1a35b9a5265d62c23c382107ee5d231d487d1249249f39fb6088faff2a83ee12bc19"
    "def56e2ce61094cd9d1f73491bdd001adb8ce3822c464f47428070fa3f18fedd9e7a"
    "daacf2365a8c57d730cbff4ff1920ce3c76b99df0e8e35eaf210e58f0b27c84cf7")
MSG3 = (
    "00b8 a7ea7dd47dddbcfcd736b91b174c6107b2ad26c161965a119a7b644e0c6b3d06"
    "0e85c6de7c48161c9e7d997f6a3efd86"
    "7b9e4620d57ddcf5bf787b8875604e5d54f2216a29d8815a92f1230bb7ebfc94c761"
    "3f9dd5ced95b42efa29b930a8f0decaaa2414cc615c5368a73067f8d034d40dfd549"
    "38cbbc34777063bdd7fbc12e6ed7f2af0d72a5ebfab0fbae9db7dda1db1cbad6dda6"
    "00c91f922b4ac4def4088ea98448d7f9ec92c11ccb1f6be170ea0500f61c3f63b1d9")
T_AB0 = ("0024 c11fbf8ef905955f63116c00096845eb4f5a72c70b1436b76abf18aa20636e"
         "ab6480cd28")
T_BA0 = "001c 14e2f811b41a19b98ec28263b57716029a391e354a4d88b33af55196"
T_AB1 = "0010 ad4ad740d2594bdbbcb3f6505118e741"
PAYLOAD_B = (
    "0a24 080112201398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e416b"
    "d17d93ca"
    "1240 dad68c3c5f2f1816d9640fdbb9bc70baff93d20549880ff1e7ff696cb2f8009f"
    "7724322e596ea9dd9920a96391d0a7fcea783988cbb1fa5dab4dad7582e26a09"
    "220e 120c2f79616d75782f312e302e30")

HDR = "13 2f6d756c746973747265616d2f312e302e30 0a"
TLS = "0b 2f746c732f312e302e30 0a"
NOISE = "07 2f6e6f6973650a"
NA = "03 6e610a"
FLOODSUB = "10 2f666c6f6f647375622f312e302e30 0a"
ID = "0f 2f697066732f69642f312e302e30 0a"


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def multiaddr():
    t = lambda s: b"\x00" + s.encode()
    b = lambda s: b"\x01" + h(s)
    write("multiaddr", "text_dial", t("/ip4/127.0.0.1/tcp/7676/p2p/" + A_ID))
    write("multiaddr", "text_ip6", t("/ip6/::1/tcp/7676"))
    write("multiaddr", "text_ip6_mapped", t("/ip6/::ffff:1.2.3.4/tcp/1"))
    write("multiaddr", "text_listen", t("/ip4/0.0.0.0/tcp/7676"))
    write("multiaddr", "text_cid", t("/ipfs/" + A_CID))
    write("multiaddr", "text_dns4", t("/dns4/localhost/tcp/7676"))
    write("multiaddr", "text_bad_port", t("/ip4/1.2.3.4/tcp/65536"))
    write("multiaddr", "bin_dial",
          b("047f000001 061dfc a503 26 002408011220" + A_PUB))
    write("multiaddr", "bin_ip6", b("2900000000000000000000000000000001 061dfc"))
    write("multiaddr", "bin_dns4", b("36 09 6c6f63616c686f7374 061dfc"))
    write("multiaddr", "bin_listen", b("0400000000 060000"))
    write("multiaddr", "bin_quic", b("047f000001 9102 1dfc cc03"))
    write("multiaddr", "bin_truncated", b("047f000001 a503 26 0024"))
    write("multiaddr", "list",
          b"\x82" + (" /ip4/1.2.3.4/tcp/1/p2p/" + A_ID + ",,/ip6/::1/tcp/2/p2p/"
                     + B_ID).encode())
    write("multiaddr", "list_bad", b"\x82/ip4/1.2.3.4/tcp/1,/udp/1")


def multistream():
    # responder (mode 0): Go dialling C, spec 3.5; lazy FloodSub (3.4)
    write("multistream", "go_dials", b"\x00" + h(HDR + TLS + NOISE + MSG1))
    write("multistream", "lazy_floodsub",
          b"\x00" + h(HDR + FLOODSUB + "31 0a2f0801"))
    write("multistream", "ls_then_id", b"\x04" + h(HDR + "03 6c730a" + ID))
    write("multistream", "no_newline", b"\x00" + h(HDR + "07 2f6e6f69736520"))
    write("multistream", "too_long", b"\x00" + h(HDR + "8108") + b"x" * 64)
    # eager initiator (mode 1): na to /tls/1.0.0, echo of /noise
    write("multistream", "initiator", b"\x01" + h(HDR + NA + NOISE + "0020"))
    write("multistream", "initiator_refused", b"\x05" + h(HDR + NA + NA))
    # lazy initiator (mode 2)
    write("multistream", "lazy_ok", b"\x02" + h(HDR + FLOODSUB + "2d0a"))
    write("multistream", "lazy_na", b"\x06" + h(HDR + NA))


def noise():
    write("noise", "payload_b", b"\x00" + h(PAYLOAD_B))
    write("noise", "payload_unknown_fields",
          b"\x00" + h("2807 290102030405060708 2d01020304 3200 2204 0a020102"))
    write("noise", "payload_in_hs", b"\x01" + h(PAYLOAD_B))
    write("noise", "payload_no_muxers", b"\x01" + h(PAYLOAD_B)[:104])
    write("noise", "initiator_msg2", b"\x02" + h(MSG2 + T_BA0))
    write("noise", "responder_msg1_msg3",
          b"\x03" + h(MSG1 + MSG3 + T_AB0 + T_AB1))
    write("noise", "responder_msg1_long",
          b"\x03" + h("0028 7b0d47d93427f8311160781c7c733fd89f88970aef490d8a"
                      "a0ee19a4cb8a1b14 0102030405060708"))
    write("noise", "frames_k1", b"\x04" + h(T_AB0 + T_AB1))
    write("noise", "frame_short", b"\x04" + h("000f") + b"\x00" * 15)


if __name__ == "__main__":
    multiaddr()
    multistream()
    noise()
