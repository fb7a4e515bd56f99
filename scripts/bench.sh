#!/usr/bin/env bash
# The benchmark suite (issue 15 item 6): every benchmark of the node in one
# go, one table. Each figure sits beside its target and beside the limit
# that bounds it, measured in the same run on the same machine (Ed25519
# sign/verify and SHA-256 per KiB on one core, verifies/s of every core,
# fsync latency of tmpfs and of the disk, req/s of a trivial handler of the
# same HTTP server, ChaCha20-Poly1305 on one core, the better actor
# runtime, the execution client's own time, etcd's own put), with the
# ratio figure / limit. Medians of RUNS runs (min-max beside); a section
# that fails is named in the table and the suite goes on.
#
#   scripts/bench.sh                       # everything, RUNS=3 (~9 min)
#   ONLY="limits store tx" scripts/bench.sh
#   RUNS=5 OUT=/tmp/b scripts/bench.sh     # keep every log and raw figure
#
# Sections: limits store da exec produce catchup tx actors p2p p2psync evm
# ha.
# Each is also a script or program of its own (docs/PERFORMANCE.md says
# which); this one runs them with fewer runs or shorter phases, and reads
# the figures they append to $BM_BENCH_RAW (section, run, name, value,
# unit). evm needs Node (tests/evm is installed with npm ci), ha needs
# etcd, actors needs the peers' toolchains (scripts/bench-actors.sh): a
# section whose tools are missing is reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
ONLY=${ONLY:-"limits store da exec produce catchup tx actors p2p p2psync evm ha"}
BUILD=${BUILD:-build-bench}
TMPFS=${TMPFS:-/dev/shm}
DISK=${DISK:-/var/tmp}
OUT=${OUT:-$(mktemp -d /tmp/blockv2-bench.XXXXXX)}
mkdir -p "$OUT"
export BM_BENCH_RAW="$OUT/raw.tsv"
: >"$BM_BENCH_RAW"
: >"$OUT/sections.tsv"

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" >/dev/null
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t_all=$SECONDS

# section NAME CMD...: runs CMD with its output in $OUT/NAME.log; records
# NAME's status and seconds (a failure is reported, not fatal).
section() {
  local name=$1 t=$SECONDS st=ok
  shift
  echo "bench: $name ..." >&2
  if ! "$@" >"$OUT/$name.log" 2>&1; then
    st=failed
    echo "bench: $name failed; the end of $OUT/$name.log:" >&2
    tail -5 "$OUT/$name.log" >&2
  fi
  printf '%s\t%s\t%s\n' "$name" "$st" $((SECONDS - t)) >>"$OUT/sections.tsv"
}
skip() { # NAME WHY
  printf '%s\tskipped: %s\t0\n' "$1" "$2" >>"$OUT/sections.tsv"
}
# lines SECTION RUN CMD...: CMD's `name value unit` lines into the raw file.
lines() {
  local sec=$1 run=$2
  shift 2
  "$@" | tee /dev/stderr | awk -v s="$sec" -v r="$run" \
    'NF >= 3 && $2 ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ {
       print s "\t" r "\t" $1 "\t" $2 "\t" $3}' >>"$BM_BENCH_RAW"
}

run_limits() {
  for r in $(seq 1 "$RUNS"); do
    lines limits "$r" "$BUILD/bench/limits_bench" --fsync "$TMPFS" \
      --fsync "$DISK"
  done
}
run_simple() { # SECTION CMD...
  local sec=$1
  shift
  for r in $(seq 1 "$RUNS"); do
    lines "$sec" "$r" "$@"
  done
}
# The store on the disk, then its grouped writes on tmpfs (names
# store_tmpfs_*): each beside raw LMDB's same work (store_bench's floor).
store_tmpfs() {
  "$BUILD/bench/store_bench" --only grouped --dir "$TMPFS" |
    sed -e 's/^store_/store_tmpfs_/' -e 's/^fsync_latency/store_tmpfs_fsync/'
}
run_store() {
  for r in $(seq 1 "$RUNS"); do
    lines store "$r" "$BUILD/bench/store_bench" --durable-seconds 2 \
      --reads 500000 --dir "$DISK"
    lines store "$r" store_tmpfs
  done
}
run_actors() {
  mkdir -p "$OUT/actors"
  OUT="$OUT/actors" RUNS=$RUNS ONLY= scripts/bench-actors.sh
  # system bench run key value rss -> "actors run system_bench_key value"
  awk -F'\t' 'NR > 1 && $4 != "FAILED" {
      print "actors\t" $3 "\t" $1 "_" $2 "_" $4 "\t" $5 "\t-"
      if (!seen[$1 $2 $3]++)
        print "actors\t" $3 "\t" $1 "_" $2 "_maxrss_kb\t" $6 "\tkB"}' \
    "$OUT/actors/raw.tsv" >>"$BM_BENCH_RAW"
}
run_p2p() {
  mkdir -p "$OUT/p2p"
  # js-libp2p's figures need tests/interop's packages (npm ci, pinned).
  scripts/npm-ci.sh install tests/interop >/dev/null || true
  OUT="$OUT/p2p" RUNS=$RUNS C_BYTES=$((128 << 20)) C_HS=1000 \
    bench/p2p_bench.sh
  python3 - "$OUT/p2p" "$BM_BENCH_RAW" <<'PY'
import json, os, sys
d, raw = sys.argv[1], open(sys.argv[2], "a")
for who in ("c", "js"):
    try:
        o = json.load(open(os.path.join(d, who + ".json")))
    except (OSError, ValueError):
        continue
    if not o:
        continue
    for k, v in o["runs"].items():
        for i, x in enumerate(v):
            raw.write("p2p\t%d\t%s_%s\t%s\t-\n" % (i + 1, who, k, x))
for line in open(os.path.join(d, "noise.txt")):
    p = line.split()
    if len(p) == 3:
        raw.write("p2p\t1\t%s\t%s\t%s\n" % tuple(p))
PY
}
run_ha() {
  "$BUILD/bench/ha_bench" --quick | tee /dev/stderr | python3 -c '
import sys
raw = open(sys.argv[1], "a")
names = {"etcd put (the floor of a write)": "etcd_put",
         "guarded write (bm_ha_replicate)": "guarded_write"}
for line in sys.stdin:
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if len(c) == 6 and c[0] in names and c[1].isdigit():
        raw.write("ha\t1\tha_%s_%s_us\t%s\tus\n" % (names[c[0]], c[1], c[2]))
' "$BM_BENCH_RAW"
}

for s in $ONLY; do
  case $s in
    limits) section limits run_limits ;;
    store) section store run_store ;;
    da) section da run_simple da "$BUILD/bench/da_bench" --quick ;;
    exec) section exec run_simple exec "$BUILD/bench/exec_bench" ;;
    produce) section produce run_simple produce "$BUILD/bench/produce_bench" \
               --runs 1 --blocks 1000 --tmpfs "$TMPFS" --disk "$DISK" ;;
    catchup) section catchup env RUNS="$RUNS" BUILD="$BUILD" \
               TMPFS="$TMPFS" DISK="$DISK" bench/catchup_bench.sh ;;
    tx) section tx env RUNS="$RUNS" SECONDS_PER=5 BUILD="$BUILD" \
          scripts/bench-tx.sh ;;
    actors)
      if command -v erl >/dev/null && [ -e /usr/include/caf/all.hpp ] &&
        [ -x /usr/bin/time ]; then
        section actors run_actors
      else
        skip actors "apt-get install libcaf-dev erlang-base time g++"
      fi ;;
    p2p) section p2p run_p2p ;;
    p2psync) section p2psync env RUNS="$RUNS" BUILD="$BUILD" LAG_S=10 \
               APPLY_BLOCKS=10000 bench/p2p_sync_bench.sh ;;
    evm)
      . scripts/node-env.sh
      if bm_node_env; then
        section evm env RUNS="$RUNS" BUILD="$BUILD" EMPTY=10 FULL=2 \
          bench/evm_bench.sh
      else
        skip evm "no Node >= 20"
      fi ;;
    ha)
      if command -v etcd >/dev/null; then
        section ha run_ha
      else
        skip ha "etcd missing (apt-get install etcd-server)"
      fi ;;
    *) echo "bench: unknown section $s" >&2; exit 2 ;;
  esac
done

echo
echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short HEAD 2>/dev/null || echo ?)  runs: $RUNS  cpus: $(nproc)"
echo "load average: $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
     "$((SECONDS - t_all)) s in all"
python3 scripts/bench_table.py "$BM_BENCH_RAW" "$OUT/sections.tsv"
echo "logs and raw figures: $OUT"
