#!/usr/bin/env bash
# reliability: manual (not run by `run` unless named; not in CI)
# Soak (issue 16 item 8): a local DA server, an aggregator (a), a DA-only
# full node (b) and a P2P + DA full node (c, peer of a) under a steady tx
# load (2 clients, 100 tx/s, plus a probe tx a second followed to its
# block) for DURATION (--full 30 min, --short 3 min; SOAK_SECONDS
# overrides), with a fault every 30 s (SOAK_FAULT_EVERY), in turn:
#   kill -9 of a random node and its restart; SIGSTOP of a or b for 5 s;
#   the DA server killed and restarted; a DA outage of 10 s (connections
#   dropped).
# Every second it records RSS, open fds and height of every process, the
# full nodes' lag, the POST /tx round trip (mean, p99) and the probe's
# submission-to-applied latency: $SOAK_OUT/soak.csv (default
# docs/reliability/), the fault times in soak-faults.csv, and, when
# gnuplot is installed, the plot soak.png.
# Checks, as in the crash loop: heights never backwards; at the end every
# tx answered 202 in exactly one block, the nodes agree on every height,
# every block on DA exactly once; store check after a graceful stop.
# The drift figures (RSS and fds at the start and the end) are printed.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
rel_setup soak "$@"
if rel_short; then DUR=${SOAK_SECONDS:-180}; else DUR=${SOAK_SECONDS:-1800}; fi
EVERY=${SOAK_FAULT_EVERY:-30}
OUT=${SOAK_OUT:-$REL_DIR/../../docs/reliability}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RANDOM=${REL_SEED:-$$}

step "chain: DA server, aggregator a, DA-only full node b, P2P + DA full node c"
rel_chain b c
rel_da_start
rel_node_start a agg
rel_node_start b da
rel_node_start c p2p
rel_monitor_start --interval 1.0
rel_load_start --clients 2 --rate 100 --probe --latency-csv
T0=$(date +%s)
echo "unix_time,fault" >"$W/faults.csv"

step "$DUR s at a steady load, a fault every $EVERY s"
k=0
while [ $(($(date +%s) - T0)) -lt "$DUR" ]; do
  sleep "$EVERY"
  [ $(($(date +%s) - T0)) -lt "$DUR" ] || break
  k=$((k + 1))
  tf=$(date +%s)
  case $((k % 4)) in
    1)
      n=$(printf 'a\nb\nc\n' | sed -n "$((RANDOM % 3 + 1))p")
      what="kill -9 $n"
      rel_node_kill "$n" 9
      rel_store_check "$n"
      case "$n" in
        a) rel_node_start a agg ;;
        b) rel_node_start b da ;;
        c) rel_node_start c p2p ;;
      esac ;;
    2)
      n=$(printf 'a\nb\n' | sed -n "$((RANDOM % 2 + 1))p")
      what="SIGSTOP $n 5 s"
      kill -STOP "$(rel_node_pid "$n")"
      sleep 5
      kill -CONT "$(rel_node_pid "$n")" ;;
    3)
      what="kill -9 da"
      rel_da_kill 9
      rel_da_start ;;
    0)
      what="DA outage 10 s"
      rel_da_kill 9
      rel_da_start --outage-after 0 --outage-for 10s ;;
  esac
  rel_fault
  rel_run
  echo "$tf,$what" >>"$W/faults.csv"
  rel_monitor_ok
  echo "    t=$(($(date +%s) - T0)) s: $what; heights a $(rel_height a) b $(rel_height b) c $(rel_height c)"
done

rel_finish

step "CSV and plot in $OUT"
python3 "$REL_PY/soak_csv.py" --dir "$W" --t0 "$T0" --out "$OUT"
if command -v gnuplot >/dev/null; then
  gnuplot -e "csv='$OUT/soak.csv'; faults='$OUT/soak-faults.csv'; png='$OUT/soak.png'" \
    "$REL_PY/soak.gp"
  echo "    plot: $OUT/soak.png"
else
  echo "    no gnuplot (apt-get install gnuplot-nox): CSV only"
fi
rel_result pass
