#!/usr/bin/env bash
# EVM end-to-end (issue 17) with real processes on 127.0.0.1: a blockv2
# aggregator driving ethereumjs (EL a) and a DA-only blockv2 full node
# driving its own ethereumjs (EL b), one `blockv2 da serve`.
#   - signed ETH transfers sent to EL a's RPC while 2 s blocks are made,
#     over more than 20 blocks: every receipt succeeds in a canonical block and
#     the balances move by exactly the values and fees;
#   - kill -9 of the aggregator while txs flow, and kill -9 of EL a: both
#     come back, the chain continues, later transfers are included;
#   - the full node and EL b crash and EL b's chain is lost (data wiped):
#     the restarted node replays its blocks into the empty EL;
#   - the full node, following from DA only, ends with the same rollup
#     blocks at every height, and EL b with the same EL block hashes and
#     state roots at every height as EL a (no fork anywhere).
#
# usage: tests/evm/e2e_evm.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
set -euo pipefail

. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/lib.sh"
e2e_setup evm "${1:-}"

# Every port is chosen up front, the nodes' P2P listeners too (the
# default, 0.0.0.0:7676, is fixed: the second node could not bind it).
read -r P_DA P_A P_B PP_a PP_b < <(free_ports 5)
DA="http://127.0.0.1:$P_DA"
# ethereumjs refuses a block whose timestamp (whole seconds) is not past
# its parent's, and blockv2 then stops: 1 s blocks can share a second
# when one block's time is taken late (load). 2 s leaves a second of slack.
# No P2P (an empty listen address and no peers): the full node follows from
# DA only, and no node takes the default port 7676.
COMMON=(--evnode.da.address "$DA" --evnode.da.block_time 300ms
        --evnode.node.block_time 2s --evnode.log.level info
        --evnode.p2p.listen_address "")

step "two ethereumjs ELs on ev-node's EVM test genesis"
el_start ela elb
[ "$EL_ela_GENESIS_HASH" = "$EL_elb_GENESIS_HASH" ] || fail "the ELs disagree on genesis"

step "init: an aggregator home and a full node home; da serve"
init_homes evm-e2e evm
da_serve "$P_DA" --block-time 200ms

step "aggregator on EL a, full node (DA only) on EL b"
start_node a "$P_A" ela --evnode.signer.passphrase_file "$W/pass"
start_node b "$P_B" elb
wait_height "$P_A" 2 120

step "20 transfers, one every 1.2 s; kill -9 of the aggregator meanwhile"
tx transfers --eth "$EL_ela_ETH_URL" --count 20 --interval-ms 1200 --timeout 120 \
  >"$W/transfers1.json" 2>"$W/transfers1.log" &
TXS=$!
h=$(height "$P_A")
wait_height "$P_A" $((h + 4)) 60
kill -9 "$PID_a"
sleep 0.5
start_node a "$P_A" ela --evnode.signer.passphrase_file "$W/pass"
wait "$TXS" || { cat "$W/transfers1.log" >&2; fail "transfers across the aggregator restart"; }
python3 - "$W/transfers1.json" <<'PY' || fail "transfers summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["count"] == 20, s
print("    20 transfers in blocks %s" % s["blocks"])
PY

step "at least 20 blocks"
wait_height "$P_A" 20 180

step "kill -9 of EL a: the exec breaker opens, no block is made; EL a restarts; the chain continues"
kill -9 "$EL_ela_PID"
wait_until 120 "the aggregator's exec breaker to open" \
  bash -c "curl -sf -m 5 http://127.0.0.1:$P_A/status | python3 -c 'import sys,json; sys.exit(json.load(sys.stdin)[\"breakers\"][\"exec\"] != \"open\")'"
H0=$(height "$P_A")
sleep 2
[ "$(height "$P_A")" = "$H0" ] || fail "blocks were made while the EL was down"
el_start ela
echo "    store at $H0 while EL a was down; EL a restarted at block $(el_height ela)"
wait_height "$P_A" $((H0 + 3)) 120
tx transfers --eth "$EL_ela_ETH_URL" --count 5 --timeout 120 >"$W/transfers2.json" ||
  fail "transfers after the EL restart"

step "the full node and EL b crash (kill -9), EL b's chain is lost: on restart the node replays it"
HB=$(height "$P_B")
[ "$HB" -ge 20 ] || fail "the full node is at height $HB"
kill -9 "$PID_b" "$EL_elb_PID"
rm -rf "$W/elb/data"
el_start elb
[ "$(el_height elb)" = 0 ] || fail "EL b kept blocks"
start_node b "$P_B" elb
[ "$(el_height elb)" -ge "$HB" ] || fail "EL b at $(el_height elb) after the start, the node's store at $HB"
grep -q "replayed blocks" "$W/b.log" || fail "no replay in the full node's log"

step "the full node follows from DA: same rollup blocks, same EL blocks and state roots"
T=$(height "$P_A")
[ "$T" -ge $((H0 + 3)) ] || fail "the aggregator does not answer, or is back at height $T"
[ "$(el_height ela)" -ge "$T" ] || fail "EL a is behind the aggregator's store ($T)"
wait_height "$P_B" "$T" 120
same_blocks "$P_A" "$P_B" 1 "$T" | sed 's/^/    /'
app_hashes "$P_A" "$EL_ela_ETH_URL" "$T" | sed 's/^/    /'
tx compare --eth "$EL_ela_ETH_URL" --with "$EL_elb_ETH_URL" --from 0 --to "$T" | sed 's/^/    /'

step "graceful stop (SIGTERM)"
for n in a b; do
  pid="PID_$n"
  kill -TERM "${!pid}"
  wait "${!pid}" || fail "node $n exited with an error on SIGTERM"
done
echo "e2e_evm: OK (height $T)"
