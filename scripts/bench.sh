#!/usr/bin/env bash
# Runs the subsystem benchmarks (store, DA, execution, block production)
# RUNS times each in a
# release build and prints a table of medians against the targets of the
# issues. The actor runtime has its own side-by-side script with the peers:
# scripts/bench-actors.sh (run it with ACTORS=1 here to chain it).
#
#   scripts/bench.sh                 # RUNS=5
#   RUNS=3 ONLY=store scripts/bench.sh
#
# Benchmarks print `name value unit` lines; this script keeps every line of
# every run in a TSV under $OUT (default a temp dir) and prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
ONLY=${ONLY:-"store da exec produce"}
BUILD=${BUILD:-build-bench}
OUT=${OUT:-$(mktemp -d /tmp/blockv2-bench.XXXXXX)}
mkdir -p "$OUT"

scripts/bootstrap.sh
if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/store_bench bench/da_bench bench/exec_bench \
  bench/produce_bench >/dev/null

raw="$OUT/raw.tsv"
: >"$raw"
for run in $(seq 1 "$RUNS"); do
  for b in $ONLY; do
    case $b in
      store) cmd=("$BUILD/bench/store_bench" --durable-seconds 10) ;;
      da)    cmd=("$BUILD/bench/da_bench") ;;
      exec)  cmd=("$BUILD/bench/exec_bench") ;;
      produce) cmd=("$BUILD/bench/produce_bench" --runs 1 --blocks 1000) ;;
      *) echo "unknown bench $b"; exit 2 ;;
    esac
    "${cmd[@]}" 2>>"$OUT/stderr.log" | awk -v r="$run" \
      'NF>=3 {print r "\t" $1 "\t" $2 "\t" $3}' >>"$raw"
  done
done

echo "date: $(date -u +%FT%TZ)  runs: $RUNS  load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$raw" <<'PY'
import statistics, sys
targets = {
    "store_write_grouped": 100000, "store_write_durable": 2000,
    "store_read_by_height": 1000000, "exec_pipeline": 200000,
    "floor_tmpfs_pct": 95,
}
# Lower is better for these (issue 15: produce_block overhead and context
# switches per empty block on tmpfs).
ceilings = {
    "produce_empty_tmpfs_overhead_us": 40, "produce_empty_tmpfs_csw": 4,
}
vals, units = {}, {}
for line in open(sys.argv[1]):
    run, name, value, unit = line.rstrip("\n").split("\t")
    try:
        vals.setdefault(name, []).append(float(value))
    except ValueError:
        continue
    units[name] = unit
print("| bench | median | min | max | unit | target | result |")
print("|---|---|---|---|---|---|---|")
for name in vals:
    v = vals[name]
    t = targets.get(name)
    c = ceilings.get(name)
    res = "" if t is None else ("pass" if statistics.median(v) >= t else "miss")
    if c is not None:
        res = "pass" if statistics.median(v) <= c else "miss"
    want = ">= %g" % t if t is not None else ("<= %g" % c if c is not None
                                              else "")
    print("| %s | %.4g | %.4g | %.4g | %s | %s | %s |" % (
        name, statistics.median(v), min(v), max(v), units[name], want, res))
PY
echo "raw: $raw"
if [ "${ACTORS:-0}" = 1 ]; then
  RUNS=$RUNS scripts/bench-actors.sh
fi
