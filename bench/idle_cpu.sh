#!/usr/bin/env bash
# CPU of an idle aggregator (issue 12 item 6: under 1 % of a core).
#
# Sets up `blockv2 init` + `blockv2 da serve` (the local DA server, its own
# process) + `blockv2 start` on 127.0.0.1 with kernel-chosen ports, lets it
# warm up, then reads utime+stime from /proc/<pid>/stat over SECONDS_MEASURED
# and prints one table: CPU % of one core and wake-ups (voluntary context
# switches) per second for each process, the blocks made meanwhile, and the
# node's busiest threads (named bm-timer, bm-worker<N>, bm:<actor>, ...).
#
# Two node setups, one after the other (MODES):
#   busy1s  an aggregator making a block a second (node.block_time 1s,
#           da.block_time 1s): a block, its DA submission and inclusion
#           every second. Not idle in the strict sense.
#   lazy    a lazy aggregator with no transactions (node.lazy_mode, lazy
#           block interval 1m, da.block_time 6s): idle in the strict sense.
#
# usage: bench/idle_cpu.sh [path/to/blockv2]
#   SECONDS_MEASURED=60 WARMUP=10 MODES="busy1s lazy" bench/idle_cpu.sh
# Build a release binary for figures (meson setup build-release
# --buildtype=release); the default is build/cmd/blockv2.
set -euo pipefail

BIN=${1:-${BM_BLOCKV2_EXE:-build/cmd/blockv2}}
BIN=$(readlink -f "$BIN")
SECS=${SECONDS_MEASURED:-60}
WARMUP=${WARMUP:-10}
MODES=${MODES:-"busy1s lazy"}
LIMIT=1.0 # % of one core, for the busy1s node
W=$(mktemp -d /tmp/bm-idle-XXXXXX)
PIDS=()
HZ=$(getconf CLK_TCK)

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

fail() { echo "idle_cpu: $*" >&2; exit 1; }

free_ports() { # free_ports N -> N kernel-chosen free ports
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_http() { # wait_http SECONDS URL [JSON]
  local end=$((SECONDS + $1))
  until if [ $# -ge 3 ]; then
          curl -sf -m 2 -H 'Content-Type: application/json' -d "$3" "$2"
        else curl -sf -m 2 "$2"; fi >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out waiting for $2"
    sleep 0.2
  done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

ctxt() { # voluntary context switches over all threads of pid
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^voluntary_ctxt_switches/ {s += $2} END {print s + 0}'
}

threads() { # tid name cpu_ticks vol_switches, one line per thread
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" \
      "$(awk '{print $14 + $15}' "$t/stat")" \
      "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")"
  done 2>/dev/null | sort
}

height() { # store height via the RPC, or 0
  curl -sf -m 5 "http://127.0.0.1:$1/status" 2>/dev/null |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["height"])' \
      2>/dev/null || echo 0
}

pct() { awk -v t="$1" -v hz="$HZ" -v s="$SECS" \
  'BEGIN {printf "%.2f", 100 * t / hz / s}'; }
rate() { awk -v n="$1" -v s="$SECS" 'BEGIN {printf "%.1f", n / s}'; }

printf 'idle-pass\n' >"$W/pass"
ROWS=()
DETAIL=()
STATUS=0

for mode in $MODES; do
  read -r P_DA P_RPC < <(free_ports 2)
  home="$W/$mode"
  case $mode in
    busy1s) flags=(--evnode.node.block_time 1s --evnode.da.block_time 1s) ;;
    lazy)   flags=(--evnode.node.block_time 1s --evnode.node.lazy_mode true
                   --evnode.node.lazy_block_interval 1m
                   --evnode.da.block_time 6s) ;;
    *) fail "unknown mode $mode" ;;
  esac
  "$BIN" init --home "$home" --chain-id "idle-$mode" \
    --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
    --evnode.da.namespace "idle-$mode" \
    --evnode.da.data_namespace "idle-$mode-d" >"$W/$mode-init.log"
  "$BIN" da serve --listen "127.0.0.1:$P_DA" --home "$W/$mode-da" \
    >"$W/$mode-da.log" 2>&1 &
  da_pid=$!
  PIDS+=("$da_pid")
  wait_http 20 "http://127.0.0.1:$P_DA" \
    '{"jsonrpc":"2.0","id":1,"method":"header.NetworkHead","params":[]}'
  "$BIN" start --home "$home" --evnode.signer.passphrase_file "$W/pass" \
    --evnode.da.address "http://127.0.0.1:$P_DA" \
    --evnode.rpc.address "127.0.0.1:$P_RPC" "${flags[@]}" \
    >"$W/$mode-node.log" 2>&1 &
  node_pid=$!
  PIDS+=("$node_pid")
  wait_http 30 "http://127.0.0.1:$P_RPC/health/live"
  sleep "$WARMUP"

  h0=$(height "$P_RPC")
  n0=$(cpu_ticks "$node_pid"); d0=$(cpu_ticks "$da_pid")
  nc0=$(ctxt "$node_pid"); dc0=$(ctxt "$da_pid")
  threads "$node_pid" >"$W/$mode-t0"
  sleep "$SECS"
  n1=$(cpu_ticks "$node_pid"); d1=$(cpu_ticks "$da_pid")
  nc1=$(ctxt "$node_pid"); dc1=$(ctxt "$da_pid")
  threads "$node_pid" >"$W/$mode-t1"
  h1=$(height "$P_RPC")

  node_pct=$(pct $((n1 - n0)))
  ROWS+=("$(printf '| %-6s | node (blockv2 start) | %6s | %7s | %5s |' \
    "$mode" "$node_pct" "$(rate $((nc1 - nc0)))" $((h1 - h0)))")
  ROWS+=("$(printf '| %-6s | DA server (da serve) | %6s | %7s | %5s |' \
    "$mode" "$(pct $((d1 - d0)))" "$(rate $((dc1 - dc0)))" "")")
  # The node's threads, busiest first (CPU, then wake-ups).
  DETAIL+=("$mode: $(join "$W/$mode-t0" "$W/$mode-t1" |
    awk -v hz="$HZ" -v s="$SECS" '{c = $6 - $3; w = $7 - $4;
      printf "%d %d %s=%.2f%%/%.1fw\n", c, w, $2, 100 * c / hz / s, w / s}' |
    sort -k1,1nr -k2,2nr | head -6 | cut -d' ' -f3 | tr '\n' ' ')")
  if [ "$mode" = busy1s ] &&
     awk -v p="$node_pct" -v l="$LIMIT" 'BEGIN {exit !(p >= l)}'; then
    STATUS=1
  fi
  kill "$node_pid" "$da_pid"
  wait "$node_pid" "$da_pid" 2>/dev/null || true
done

echo "date: $(date -u +%FT%TZ)  measured: ${SECS}s after ${WARMUP}s warm-up" \
  " load: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)  bin: $BIN"
echo "| mode   | process              | cpu %  | wake/s  | blocks |"
echo "|--------|----------------------|--------|---------|--------|"
printf '%s\n' "${ROWS[@]}"
echo "limit: busy1s node < ${LIMIT} % of one core: $([ $STATUS -eq 0 ] &&
  echo PASS || echo FAIL)"
echo "busiest node threads (cpu % / wake-ups per s):"
printf '  %s\n' "${DETAIL[@]}"
exit $STATUS
