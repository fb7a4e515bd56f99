#!/usr/bin/env bash
# P2P benchmark (issue 13): MB/s over one yamux stream and handshakes/s,
# blockv2 (two p2p_peer processes) beside js-libp2p (two js_peer.mjs
# processes), both measured the same way in the same run: through the
# interop control protocol (tests/interop/README.md), `send` of a payload
# into the sink protocol and `handshakes` (new TCP connection +
# multistream + Noise + yamux, then closed, in sequence), on 127.0.0.1.
# The C and js runs alternate, so both see the same load. Prints one table
# of medians with the C/js ratio and the targets (>= 3x js on both, >= 500
# MB/s on one stream), and the limits measured in the same run: ChaCha20-Poly1305 on one core and in-memory handshakes
# (bench/noise_bench), and each C peer's CPU time per MB (what a quiet
# machine with a core per peer would reach).
#
#   bench/p2p_bench.sh                      # RUNS=3
#   RUNS=5 C_BYTES=268435456 C_HS=2000 bench/p2p_bench.sh
#
# The js column needs node >= 20 (or .tools/node, scripts/node-env.sh) and
# tests/interop/node_modules (tests/interop/install.sh); without them it
# says "missing".
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BUILD=${BUILD:-build-bench}
C_BYTES=${C_BYTES:-268435456}   # 256 MiB
JS_BYTES=${JS_BYTES:-67108864}  # 64 MiB
C_HS=${C_HS:-2000}
JS_HS=${JS_HS:-300}
OUT=${OUT:-$(mktemp -d /tmp/blockv2-p2p-bench.XXXXXX)}

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" tests/interop/p2p_peer bench/noise_bench >/dev/null

# Limits, measured now on this machine.
"$BUILD/bench/noise_bench" --mb 256 >"$OUT/noise.txt" 2>>"$OUT/stderr.log" ||
  true

# js-libp2p runs between the C runs (same load for both), through the same
# control protocol: bench/p2p_js_bench.mjs, one run per call.
JS=0
. scripts/node-env.sh # .tools/node first on PATH where node is older than 20
if bm_node_env && [ -d tests/interop/node_modules ]; then
  JS=1
fi

PEER="$BUILD/tests/interop/p2p_peer" RUNS="$RUNS" C_BYTES="$C_BYTES" \
  C_HS="$C_HS" JS="$JS" JS_BYTES="$JS_BYTES" JS_HS="$JS_HS" OUT="$OUT" \
  python3 - <<'EOF'
import json, os, queue, statistics, subprocess, sys, threading

peer, out = os.environ["PEER"], os.environ["OUT"]
runs = int(os.environ["RUNS"])
c_bytes, c_hs = int(os.environ["C_BYTES"]), int(os.environ["C_HS"])
tck = os.sysconf("SC_CLK_TCK")


def js_run():
    """One run of js-libp2p's figures (bench/p2p_js_bench.mjs), or None."""
    if os.environ["JS"] != "1":
        return None
    r = subprocess.run(
        ["node", "bench/p2p_js_bench.mjs", "--bytes", os.environ["JS_BYTES"],
         "--handshakes", os.environ["JS_HS"], "--runs", "1"],
        capture_output=True, text=True, timeout=1800)
    open(os.path.join(out, "js_stderr.log"), "a").write(r.stderr)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


class Peer:
    """One p2p_peer; a reader thread keeps its stdout drained (event lines
    arrive unasked and must never fill the pipe)."""

    def __init__(self, seed):
        self.p = subprocess.Popen(
            [peer, "--key-seed", seed * 32, "--listen",
             "/ip4/127.0.0.1/tcp/0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(out, "peer_%s.log" % seed), "w"),
            text=True, bufsize=1)
        ready = json.loads(self.p.stdout.readline())
        self.id, self.addr = ready["peer_id"], ready["addrs"][0]
        self.q, self.n = queue.Queue(), 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            o = json.loads(line)
            if "id" in o:
                self.q.put(o)

    def ok(self, cmd, **kw):
        self.n += 1
        kw.update(id=self.n, cmd=cmd)
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        r = self.q.get(timeout=600)
        if not r.get("ok"):
            sys.exit("p2p_bench: %s failed: %s" % (cmd, r.get("error")))
        return r

    def cpu(self):
        f = open("/proc/%d/stat" % self.p.pid).read().split(")")[1].split()
        return (int(f[11]) + int(f[12])) / tck

    def quit(self):
        self.ok("quit")
        self.p.wait(timeout=30)


a, b = Peer("21"), Peer("22")
a.ok("dial", addr=b.addr)
a.ok("send", peer=b.id, bytes=16 << 20)       # warm-up
a.ok("handshakes", addr=b.addr, count=50)
send, hs, cpu_send, js_send, js_hs = [], [], [], [], []
for _ in range(runs):
    ca, cb = a.cpu(), b.cpu()
    send.append(a.ok("send", peer=b.id, bytes=c_bytes)["mb_s"])
    busier = max(a.cpu() - ca, b.cpu() - cb)
    cpu_send.append(c_bytes / 1e6 / busier if busier > 0 else 0)
    hs.append(a.ok("handshakes", addr=b.addr, count=c_hs)["per_s"])
    j = js_run()
    if j is not None:
        js_send.append(j["send_mb_s"])
        js_hs.append(j["handshakes_per_s"])
a.quit()
b.quit()
json.dump({"send_mb_s": statistics.median(send),
           "handshakes_per_s": statistics.median(hs),
           "cpu_send_mb_s": statistics.median(cpu_send),
           "runs": {"send_mb_s": send, "handshakes_per_s": hs,
                    "cpu_send_mb_s": cpu_send}},
          open(os.path.join(out, "c.json"), "w"))
json.dump(None if not js_send else
          {"send_mb_s": statistics.median(js_send),
           "handshakes_per_s": statistics.median(js_hs),
           "runs": {"send_mb_s": js_send, "handshakes_per_s": js_hs}},
          open(os.path.join(out, "js.json"), "w"))
EOF

OUT="$OUT" RUNS="$RUNS" C_BYTES="$C_BYTES" JS_BYTES="$JS_BYTES" C_HS="$C_HS" \
  JS_HS="$JS_HS" python3 - <<'EOF'
import json, os

out = os.environ["OUT"]
c = json.load(open(os.path.join(out, "c.json")))
try:
    js = json.loads(open(os.path.join(out, "js.json")).read().strip() or "null")
except ValueError:
    js = None
limits = {}
for line in open(os.path.join(out, "noise.txt")):
    f = line.split()
    if len(f) >= 2:
        limits[f[0]] = f[1]


def fmt(v, d=0):
    return "missing" if v is None else "%.*f" % (d, v)


def ratio(x, y):
    return "missing" if y in (None, 0) else "%.1fx" % (x / y)


js_mb = js["send_mb_s"] if js else None
js_hs = js["handshakes_per_s"] if js else None
mb_ok = c["send_mb_s"] >= 500 and (js_mb is None or c["send_mb_s"] >= 3 * js_mb)
hs_ok = js_hs is None or c["handshakes_per_s"] >= 3 * js_hs
print("P2P benchmark: medians of %s runs on 127.0.0.1 (C: %d MiB per send, "
      "%s handshakes; js: %d MiB, %s handshakes)" %
      (os.environ["RUNS"], int(os.environ["C_BYTES"]) >> 20,
       os.environ["C_HS"], int(os.environ["JS_BYTES"]) >> 20,
       os.environ["JS_HS"]))
print()
print("| measurement | blockv2 (C) | js-libp2p | C / js | target | met |")
print("|---|---|---|---|---|---|")
print("| MB/s over one yamux stream | %s | %s | %s | >= 3x js, >= 500 | %s |" %
      (fmt(c["send_mb_s"]), fmt(js_mb), ratio(c["send_mb_s"], js_mb),
       "yes" if mb_ok else "no"))
print("| handshakes/s | %s | %s | %s | >= 3x js | %s |" %
      (fmt(c["handshakes_per_s"]), fmt(js_hs),
       ratio(c["handshakes_per_s"], js_hs), "yes" if hs_ok else "no"))
print()
print("Limits measured in the same run (one core):")
print("  ChaCha20-Poly1305 seal: %s MB/s (noise_aead_limit); C send per "
      "CPU-second of the busier peer: %.0f MB/s" %
      (limits.get("noise_aead_limit", "?"), c["cpu_send_mb_s"]))
print("  in-memory XX handshakes: %s /s (noise_handshake, both sides on one "
      "core)" % limits.get("noise_handshake", "?"))
print("Every run: C %s; js %s" % (json.dumps(c["runs"]),
                                  json.dumps(js["runs"]) if js else "missing"))
print("Load average while measuring: %s (a shared machine slows every "
      "figure; the CPU-second figure is independent of it)" %
      open("/proc/loadavg").read().split()[0:3])
EOF
echo "raw results: $OUT"
