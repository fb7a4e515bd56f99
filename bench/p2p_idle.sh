#!/usr/bin/env bash
# Idle wake-ups of P2P nodes: a lazy aggregator (no transactions, a block a
# minute, DA through `blockv2 da serve`) and a P2P-only full node peered
# with it, both idle. After a warm-up it reads every thread's voluntary
# context switches (wake-ups) from /proc over SECONDS_MEASURED and prints
# one table: wake-ups per second of each node, of its P2P loop thread
# (named bm-p2p; unnamed threads are listed as "blockv2", the process
# name, which is what the loop and the chain-sync ticker thread were before
# the host had timers) and of its other threads, busiest first.
#
# usage: bench/p2p_idle.sh [path/to/blockv2]
#   SECONDS_MEASURED=30 WARMUP=10 bench/p2p_idle.sh build-release/cmd/blockv2
# Every port (DA, RPC, P2P) is chosen up front by the kernel.
set -euo pipefail

BIN=${1:-${BM_BLOCKV2_EXE:-build/cmd/blockv2}}
BIN=$(readlink -f "$BIN")
SECS=${SECONDS_MEASURED:-30}
WARMUP=${WARMUP:-10}
here=$(dirname "$(readlink -f "$0")")
. "$here/../tests/e2e/lib.sh"
e2e_setup p2p-idle "$BIN"

read -r P_DA P_A P_B P2P_A P2P_B < <(free_ports 5)

threads() { # tid name wake-ups, one line per thread of pid
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" \
      "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")"
  done 2>/dev/null | sort
}

peers() { # peers RPC_PORT -> connected peers or 0
  curl -sf -m 5 "http://127.0.0.1:$1/status" 2>/dev/null |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["peers"])' \
      2>/dev/null || echo 0
}

step "init, da serve, lazy aggregator, P2P-only full node"
printf 'idle-pass\n' >"$W/pass"
"$BIN" init --home "$W/a" --chain-id p2p-idle \
  --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
  --evnode.da.namespace p2p-idle-h --evnode.da.data_namespace p2p-idle-d \
  >"$W/init.log"
"$BIN" init --home "$W/b" --genesis "$W/a/config/genesis.json" \
  --evnode.da.namespace p2p-idle-h --evnode.da.data_namespace p2p-idle-d \
  >>"$W/init.log"
da_serve "$P_DA" --block-time 6s
ID_A=$("$BIN" keys show --home "$W/a" --evnode.signer.passphrase_file \
  "$W/pass" | python3 -c 'import sys,json; print(json.load(sys.stdin)["node_id"])')
start_node() { # start_node NAME RPC_PORT P2P_PORT [flags...]
  local name=$1 rpc=$2 p2p=$3; shift 3
  "$BIN" start --home "$W/$name" --evnode.node.block_time 1s \
    --evnode.rpc.address "127.0.0.1:$rpc" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$p2p" "$@" \
    >"$W/$name.log" 2>&1 &
  PIDS+=($!)
  printf -v "PID_$name" '%s' "$!"
  wait_until 30 "$name RPC" curl -sf -m 2 "http://127.0.0.1:$rpc/health/live"
}
start_node a "$P_A" "$P2P_A" --evnode.signer.passphrase_file "$W/pass" \
  --evnode.da.address "http://127.0.0.1:$P_DA" --evnode.da.block_time 6s \
  --evnode.node.lazy_mode true --evnode.node.lazy_block_interval 1m
start_node b "$P_B" "$P2P_B" --evnode.da.address "" \
  --evnode.p2p.peers "/ip4/127.0.0.1/tcp/$P2P_A/p2p/$ID_A"
export -f peers
wait_until 30 "the full node connected" bash -c "[ \$(peers $P_B) -ge 1 ]"

step "warm-up ${WARMUP}s, then ${SECS}s measured"
sleep "$WARMUP"
threads "$PID_a" >"$W/a-t0"
threads "$PID_b" >"$W/b-t0"
sleep "$SECS"
threads "$PID_a" >"$W/a-t1"
threads "$PID_b" >"$W/b-t1"
[ "$(peers "$P_B")" -ge 1 ] || fail "the full node lost its peer"

kill -TERM "$PID_a" "$PID_b"
wait "$PID_a" "$PID_b" 2>/dev/null || true

row() { # row NAME PID FILE_PREFIX
  local name=$1 pid=$2 f=$3 busiest
  busiest=$(join "$f-t0" "$f-t1" | awk '{w[$2] += $5 - $3}
    END {for (k in w) if (w[k] > 0) print w[k], k}' | sort -k1,1nr |
    head -4 | awk -v s="$SECS" '{printf "%s %.2f  ", $2, $1 / s}')
  join "$f-t0" "$f-t1" | awk -v s="$SECS" -v pid="$pid" -v node="$name" \
      -v busiest="$busiest" '
    { w = $5 - $3; total += w
      if ($2 == "bm-p2p") p2p += w
      else if ($2 == "blockv2" && $1 != pid) { unnamed += w; nun++ } }
    END { printf "| %-10s | %8.2f | %8.2f | %8.2f (%d) | %s|\n", node,
            total / s, p2p / s, unnamed / s, nun, busiest }'
}

echo "date: $(date -u +%FT%TZ)  measured: ${SECS}s after ${WARMUP}s warm-up" \
  " load: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)  bin: $BIN"
echo "wake-ups per second (voluntary context switches); unnamed = threads"
echo "called 'blockv2' other than the main thread (count in brackets)"
echo "| node       | total/s  | bm-p2p/s | unnamed/s    | busiest threads (wake-ups/s) |"
echo "|------------|----------|----------|--------------|------------------------------|"
row aggregator "$PID_a" "$W/a"
row full-node "$PID_b" "$W/b"
