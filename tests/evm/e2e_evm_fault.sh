#!/usr/bin/env bash
# EVM faults caused for real (issue 17's "an EL that answers INVALID, an EL
# that hangs"), with real ethereumjs processes on 127.0.0.1:
#   - INVALID: the aggregator's engine calls go through tamper.mjs, which
#     changes the state root of one payload between getPayload and
#     newPayload (with real inputs ethereumjs never refuses its own
#     payload: blockv2 passes it back unchanged and the EL skips txs that
#     cannot execute, as ev-reth does). ethereumjs executes the block and
#     answers INVALID; blockv2 stops with that message; neither the store
#     nor the EL has the block; restarted without the tamperer, the chain
#     continues from there.
#   - a hanging EL: SIGSTOP of the full node's EL while it syncs, then of
#     the aggregator's EL while it produces. Each node logs the timeout
#     naming the engine URL and the deadline, its exec breaker opens, the
#     aggregator makes no block. SIGCONT of both: the aggregator produces
#     again, the full node catches up.
#   - then no fork: the same rollup blocks on both nodes, every app hash is
#     EL a's state root, and EL b has EL a's block hashes and state roots.
# The nodes run with a 5 s exec breaker open time
# (node.exec_breaker_open_time; 30 s by default): the recovery after SIGCONT
# waits out one open period, so the default made it most of the test's time.
#
# usage: tests/evm/e2e_evm_fault.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
set -euo pipefail

. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/lib.sh"
e2e_setup evm-fault "${1:-}"
# steps with the seconds since the start (where the test's time goes)
step() { STEP=$((STEP + 1)); echo "[$STEP] (${SECONDS}s) $*"; }

read -r P_DA P_A P_B PP_a PP_b < <(free_ports 5)
DA="http://127.0.0.1:$P_DA"
# 2 s blocks (ethereumjs wants each block in a later second); a 2 s
# deadline per EL call so that a hang is seen quickly (a slow answer on a
# loaded machine is a transient error too: the node retries).
TIMEOUT_MS=2000
COMMON=(--evnode.da.address "$DA" --evnode.da.block_time 300ms
        --evnode.node.block_time 2s --evnode.log.level info
        --evnode.evm.request_timeout 2s
        --evnode.node.exec_breaker_open_time 5s)

breaker_open() { # breaker_open PORT
  curl -sf -m 5 "http://127.0.0.1:$1/status" |
    python3 -c 'import sys,json; sys.exit(json.load(sys.stdin)["breakers"]["exec"] != "open")'
}

store_height() { # store_height HOME (the node stopped)
  "$BIN" store inspect --home "$1" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["height"] or 0)'
}

step "two ethereumjs ELs on ev-node's EVM test genesis; a tampering pass-through before EL a's engine port"
el_start ela elb
node "$EVM_DIR/tamper.mjs" --upstream "$EL_ela_ENGINE_URL" --port-file "$W/tamper.port" \
  --trigger "$W/tamper.on" 2>>"$W/tamper.log" &
PIDS+=($!)
wait_until 30 "the tamperer's port" test -s "$W/tamper.port"
TAMPER_URL="http://127.0.0.1:$(cat "$W/tamper.port")"

step "init an aggregator and a full node (DA only); da serve"
init_homes evm-fault evmf
da_serve "$P_DA" --block-time 200ms

step "INVALID: a payload with another state root; ethereumjs refuses it, the aggregator stops, nothing committed"
EVM_ENGINE=$TAMPER_URL start_node a "$P_A" ela --evnode.signer.passphrase_file "$W/pass"
wait_height "$P_A" 2 120
touch "$W/tamper.on"
# exited (a zombie until waited for)
wait_until 180 "the aggregator to stop" \
  bash -c "[ ! -e /proc/$PID_a ] || grep -q '^[0-9]* (.*) Z' /proc/$PID_a/stat"
rc=0
wait "$PID_a" || rc=$?
rm -f "$W/tamper.on"
[ "$rc" -ne 0 ] || fail "the aggregator exited 0 after INVALID"
N=$(cat "$W/tamper.port.done")
grep -E "engine_newPayloadV4 answered INVALID: .*(state ?root|stateRoot)" "$W/a.log" >/dev/null ||
  fail "no INVALID with ethereumjs's state root message in the aggregator's log"
echo "    $(grep -o 'engine_newPayloadV4 answered INVALID: .\{0,160\}' "$W/a.log" | tail -1)"
H=$(store_height "$W/a")
[ "$H" = $((N - 1)) ] || fail "the store is at $H, the refused block was $N"
[ "$(el_height ela)" = $((N - 1)) ] || fail "EL a is at $(el_height ela), the refused block was $N"
echo "    block $N refused: the store and EL a stay at $H"

step "restarted on EL a directly: the chain continues from $H; the full node on EL b follows"
start_node a "$P_A" ela --evnode.signer.passphrase_file "$W/pass"
start_node b "$P_B" elb
wait_height "$P_A" $((N + 1)) 120
wait_height "$P_B" "$N" 120

step "EL b hangs (SIGSTOP) while the full node syncs, then EL a while the aggregator produces"
# EL a is stopped once the full node has a block it cannot apply (its
# first timeout): the full node retries that block with every DA height it
# reads, so both breakers open in the same window.
HB=$(height "$P_B")
kill -STOP "$EL_elb_PID"
STOPPED=("$EL_elb_PID")
wait_until 120 "a timeout in the full node's log" \
  grep -qF "engine port $EL_elb_ENGINE_URL within $TIMEOUT_MS ms (is it hanging?)" "$W/b.log"
kill -STOP "$EL_ela_PID"
STOPPED+=("$EL_ela_PID")

step "timeouts name the engine URL and the deadline; both exec breakers open; no block is made"
wait_until 120 "the full node's exec breaker to open" breaker_open "$P_B"
wait_until 120 "the aggregator's exec breaker to open" breaker_open "$P_A"
grep -F "engine port $EL_ela_ENGINE_URL within $TIMEOUT_MS ms (is it hanging?)" "$W/a.log" >/dev/null ||
  fail "no timeout naming EL a's engine port and the deadline in the aggregator's log"
echo "    $(grep -o 'no answer from .* (is it hanging?)' "$W/b.log" | tail -1)"
H0=$(height "$P_A")
HB1=$(height "$P_B")
sleep 3
[ "$(height "$P_A")" = "$H0" ] || fail "blocks were made while EL a hung"
# (a block the full node was applying when EL b stopped may land)
[ "$(height "$P_B")" = "$HB1" ] && [ "$HB1" -le $((HB + 1)) ] ||
  fail "the full node applied blocks with its EL stopped ($HB, then $HB1, then $(height "$P_B"))"
echo "    aggregator at $H0, full node at $HB1 while the ELs hung"

step "SIGCONT: the aggregator produces again (after the breaker's open period), the full node catches up"
kill -CONT "${STOPPED[@]}"
STOPPED=()
wait_height "$P_A" $((H0 + 2)) 120
T=$(height "$P_A")
wait_height "$P_B" "$T" 120

step "no fork: same rollup blocks, app hashes are EL a's state roots, EL b has EL a's blocks"
same_blocks "$P_A" "$P_B" 1 "$T" | sed 's/^/    /'
app_hashes "$P_A" "$EL_ela_ETH_URL" "$T" | sed 's/^/    /'
tx compare --eth "$EL_ela_ETH_URL" --with "$EL_elb_ETH_URL" --from 0 --to "$T" | sed 's/^/    /'
for n in a b; do
  pid="PID_$n"
  kill -TERM "${!pid}"
  wait "${!pid}" || fail "node $n exited with an error on SIGTERM"
done
echo "e2e_evm_fault: OK in ${SECONDS}s (refused block $N, hung at $H0, height $T)"
