#!/usr/bin/env bash
# blockv2's time per EVM block against a real execution client: starts a
# fresh ethereumjs (tests/evm/el.sh, ev-node's EVM test genesis) per run,
# runs bench/evm_bench against it (empty blocks, then blocks of TXS signed
# transfers sent with tests/evm/tx.mjs), and prints one table of the
# medians over RUNS runs: total time per block, the client's time in the
# same calls, blockv2's part (total - client) and the target, 5 % of a
# 100 ms block (5000 us); beside it the executor's own part and the disk's
# flush latency measured in the same run (a block takes three flushes).
#
#   bench/evm_bench.sh                # RUNS=3 EMPTY=20 FULL=5 TXS=100
#   RUNS=1 FULL=0 bench/evm_bench.sh  # empty blocks only
#
# Needs node and tests/evm's node_modules (scripts/npm-ci.sh install
# tests/evm). Each block is made in a new second (ethereumjs wants block
# times of >= 1 s); ethereumjs takes seconds to build a 100-transfer block
# (20-30 tx/s), so a run takes about EMPTY + FULL * (5 + TXS / 20) s.
# BM_EVM_BENCH_LOG=FILE keeps the per-block lines. EL_DIR_BASE=DIR puts
# the client's chain data under DIR (default: the temp dir; e.g. /dev/shm
# keeps the client's disk writes out of blockv2's flushes).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
EMPTY=${EMPTY:-20}
FULL=${FULL:-5}
TXS=${TXS:-100}
BUILD=${BUILD:-build-bench}
W=$(mktemp -d /tmp/blockv2-evm-bench.XXXXXX)
ELB=$(mktemp -d "${EL_DIR_BASE:-$W}/blockv2-evm-bench-el.XXXXXX")
trap 'for d in "$ELB"/el*; do [ -d "$d" ] && tests/evm/el.sh stop "$d" >/dev/null 2>&1; done; [ -n "${BM_EVM_BENCH_LOG:-}" ] && cp "$W/bench.log" "$BM_EVM_BENCH_LOG"; rm -rf "$ELB" "$W"' EXIT

scripts/npm-ci.sh install tests/evm >/dev/null
if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/evm_bench >/dev/null

raw="$W/raw.tsv"
: >"$raw"
for run in $(seq 1 "$RUNS"); do
  tests/evm/el.sh jwt "$W/jwt$run.hex"
  tests/evm/el.sh start --genesis tests/evm/genesis/evnode-test.json \
    --jwt "$W/jwt$run.hex" --dir "$ELB/el$run" >"$W/el$run.env"
  # shellcheck disable=SC1090
  . "$W/el$run.env"
  if ! "$BUILD/bench/evm_bench" --engine "$ENGINE_URL" --eth "$ETH_URL" \
      --jwt "$W/jwt$run.hex" --genesis-hash "$GENESIS_HASH" --el-pid "$PID" \
      --empty "$EMPTY" --full "$FULL" --txs "$TXS" \
      >"$W/out$run.txt" 2>>"$W/bench.log"; then
    tail -20 "$W/bench.log" >&2
    exit 1
  fi
  awk -v r="$run" 'NF>=3 {print r "\t" $1 "\t" $2}' "$W/out$run.txt" >>"$raw"
  if [ -n "${BM_BENCH_RAW:-}" ]; then # scripts/bench.sh, the suite
    awk -v r="$run" 'NF>=3 {print "evm\t" r "\t" $1 "\t" $2 "\t" $3}' \
      "$W/out$run.txt" >>"$BM_BENCH_RAW"
  fi
  printf '%s\tload\t%s\n' "$run" "$(cut -d' ' -f1 /proc/loadavg)" >>"$raw"
  tests/evm/el.sh stop "$ELB/el$run" >/dev/null
done

echo "date: $(date -u +%FT%TZ)  runs: $RUNS  load: $(cut -d' ' -f1-3 /proc/loadavg)  client: @ethereumjs/client $(node -p "require('./tests/evm/node_modules/@ethereumjs/client/package.json').version")  client data: ${EL_DIR_BASE:-$W (same disk as the store)}"
python3 - "$raw" <<'PY'
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    run, name, value = line.rstrip("\n").split("\t")
    vals.setdefault(name, []).append(float(value))
med = {k: statistics.median(v) for k, v in vals.items()}
kinds = [k[len("evm_"):-len("_total_us")] for k in vals if k.endswith("_total_us")]
target = 5000  # us: 5 % of a 100 ms block
loads = vals.get("load", [0])
print("load average (1 min) after each run: %s; the rig's idle CPU (subtracted from blockv2 CPU): %d us/s" % (
    ", ".join("%.1f" % l for l in loads), med.get("evm_idle_cpu_us_per_s", 0)))
print("| block | txs/block | total ms/block | client ms/block | blockv2 us/block (min..max of runs) | blockv2 CPU us/block (min..max) | of it, executor us | waiting for a CPU us | reaper CPU us | empty actor turns/block | disk flush us (same run) | target us | result |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for k in kinds:
    o = vals["evm_%s_overhead_us" % k]
    c = vals["evm_%s_cpu_us" % k]
    m = med["evm_%s_overhead_us" % k]
    print("| %s | %d | %.1f | %.1f | %d (%d..%d) | %d (%d..%d) | %d | %d | %d | %d | %d | %d | %s |" % (
        k, med["evm_%s_txs" % k], med["evm_%s_total_us" % k] / 1000,
        med["evm_%s_el_us" % k] / 1000, m, min(o), max(o),
        med["evm_%s_cpu_us" % k], min(c), max(c),
        med["evm_%s_executor_us" % k], med.get("evm_%s_runq_us" % k, 0),
        med.get("evm_%s_reaper_cpu_us" % k, 0),
        med.get("evm_%s_empty_turns" % k, 0),
        med.get("evm_fsync_us", 0), target,
        "PASS" if m <= target else "FAIL"))
print()
print("Where blockv2's wall part goes (medians; pre = produce call to ExecuteTxs, post = ExecuteTxs to the reply; waiting = the rig's threads' run-queue time; client CPU = the execution client's CPU meanwhile; pool reads = the reaper's txpoolExt_getTxs answered meanwhile):")
print("| block | blockv2 wall us | pre us | pre CPU us | pre waiting us | executor us | post us | post CPU us | post waiting us | blocked (pre+post) us | client CPU in pre+post us | reaper CPU in pre+post us | pool reads in pre+post |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for k in kinds:
    g = lambda n: med.get("evm_%s_%s" % (k, n), 0)
    print("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.1f |" % (
        k, g("overhead_us"), g("pre_us"), g("pre_cpu_us"), g("pre_runq_us"),
        g("executor_us"), g("post_us"), g("post_cpu_us"), g("post_runq_us"),
        g("blocked_us"), g("ours_el_cpu_us"), g("ours_reaper_us"), g("ours_pool_reads")))
PY
