#!/usr/bin/env bash
# HA failover time and the guarded write's cost per block (issue 18).
#  1. tests/ha/acceptance.py, step a only: a 3-member etcd, a local DA
#     server, 3 candidates under a tx load (5-tx batches every 100 ms to
#     the leader); the leader killed with SIGKILL KILLS times (default 20);
#     failover = kill -> the first block a new leader replicated (polled
#     every 20 ms), beside the election alone (kill -> a new leader), the
#     lease TTL and the block time; the candidates' and etcd's CPU over the
#     run (a shared machine changes wall-clock figures more than CPU).
#  2. build/bench/ha_bench --quick: the guarded write per block beside
#     etcd's own round trip and put (a single-member etcd).
# Prints one table. usage: bench/ha_failover.sh [build dir]
#   KILLS=20 TTL=2 BLOCK_MS=1000
set -euo pipefail
B=${1:-build}
KILLS=${KILLS:-20}
TTL=${TTL:-2}
BLOCK_MS=${BLOCK_MS:-1000}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp /tmp/bm-ha-failover-XXXXXX.json)
trap 'rm -f "$out"' EXIT
rc=0
python3 "$here/../tests/ha/acceptance.py" --bin "$B/cmd/blockv2" \
  --kills "$KILLS" --ttl "$TTL" --block-ms "$BLOCK_MS" --steps a \
  --json "$out" >"$out.log" 2>&1 || rc=$?
grep -E "^\[.*(kill|STALL)" "$out.log" | sed 's/^/  /' || true
grep -E "header blobs over DA" "$out.log" | sed 's/^/  /' || true
if [ ! -s "$out" ]; then
  tail -30 "$out.log"; rm -f "$out.log"; exit 1
fi
tail -n +1 "$out.log" | grep -E "^(FAILED|  - )" || true
rm -f "$out.log"
python3 - "$out" "$KILLS" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
r = j["rows"][0]
def pct(xs, p):
    if not xs: return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))]
f = lambda x: "-" if x is None else "%.0f" % x
print()
print("| item | runs | p50 ms | p99 ms | limit | CPU |")
print("|---|---|---|---|---|---|")
print("| failover: kill -9 -> first block of the new leader | %d (%d stalled) "
      "| %s | %s | TTL %d s + 2 x block %d ms = %.0f ms | candidates %.1f s, "
      "etcd %.1f s over %.0f s |" % (
      r["runs"], r["bad"], f(pct(r["fo_ms"], 50)), f(pct(r["fo_ms"], 99)),
      j["ttl_s"], j["block_ms"], j["bound_ms"], j["nodes_cpu_s"],
      j["etcd_cpu_s"], j["wall_s"]))
print("| election: kill -9 -> a new leader | %d | %s | %s | TTL + etcd's "
      "0.5 s expiry tick | |" % (len(r["el_ms"]), f(pct(r["el_ms"], 50)),
                                f(pct(r["el_ms"], 99))))
print("load: 5-tx batches every 100 ms to the leader (%d txs answered 202); "
      "load average %.1f at the start, %.1f at the end" % (
      j["acked"], j["load_start"], j["load_end"]))
PY
echo
echo "guarded write per block (build/bench/ha_bench --quick, single-member etcd):"
"$B/bench/ha_bench" --quick 2>&1 | grep -E "^\||loadavg" || true
exit $rc
