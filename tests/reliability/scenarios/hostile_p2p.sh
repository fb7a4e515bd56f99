#!/usr/bin/env bash
# Hostile input from P2P peers (issue 16 item 5): a local DA server, an
# aggregator (a) and a P2P-only full node (f, following a over P2P), under
# a tx load. js-libp2p peers of our own (tests/interop/hostile_peer.mjs,
# fresh keys, at a lower priority) attack, each for SECS seconds (--short
# 8, --full 30):
#   gossip    f gets, on the header and data topics, ROUNDS batches of bad
#             items for its next heights (tools/hostile_forge --p2p):
#             another chain's header and data signed by the real proposer,
#             a header and data of another key, the proposer's with a
#             flipped signature bit, the proposer's second block at an
#             applied height (a fork), truncated and garbage encodings
#   flood     f gets random items (1..2,048 bytes) on both topics as fast
#             as it takes them, 8 per fresh key (one key is dropped after
#             10 rejects, and what it had in flight is lost uncounted)
#   slowread  a gets 64 header-ex requests (heights 1..256) on streams the
#             peer never reads
#   conns     a gets 1,000 TCP connections that never start the handshake
#             (reopened as a closes them), from 127.0.0.2; a caps them
#             (p2p.max_inbound_per_ip, 8) and counts the refusals; while
#             the flood is on, f (a legitimate peer, from 127.0.0.1) is
#             restarted and must connect to a again and follow its chain
# while a legitimate client measures GET /status on the attacked node
# (before the attacks, on f and a with no attack: the baseline, printed only).
# Checks: every bad item refused with a counted reason
# (blockv2_p2p_gossip_rejected_total / _ignored_total{topic,reason}; the
# count is a lower bound check: ignored items include the aggregator's
# own late copies); f keeps syncing and a keeps
# producing during every attack; no node holds a forged header; p99 of
# GET /status <= 50 ms; the tx clients' every 202 in exactly one block.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/reliability/lib_hostile.sh
. "$(dirname "$0")/../lib_hostile.sh"
rel_setup hostile_p2p "$@"
hostile_init
if rel_short; then SECS=${SECS:-8}; ROUNDS=${ROUNDS:-1}; else SECS=${SECS:-30}; ROUNDS=${ROUNDS:-10}; fi
CONNS=${CONNS:-1000}
INTEROP=$(cd "$(dirname "$0")/../../interop" && pwd)
if ! command -v node >/dev/null || [ ! -f "$INTEROP/node_modules/.blockv2-lock.sha256" ]; then
  echo "skipped: node or tests/interop/node_modules missing (tests/interop/install.sh)" >&2
  exit 77
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

step "chain: DA server, aggregator a (tx load), P2P-only full node f"
rel_chain f
rel_alloc a_met f_met
rel_da_start
# shellcheck disable=SC2046
rel_node_start a agg $(hostile_metrics_flags a)
# shellcheck disable=SC2046
rel_node_start f p2ponly $(hostile_metrics_flags f)
rel_monitor_start
rel_load_start --clients 2 --rate 50
wait_until 60 "f at height 10" bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_f_rpc/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge 10 ]"
step "baseline: GET /status on f and a with no attack"
hostile_baseline f 5
hostile_baseline a 5
ID_F=$("$BIN" keys show --home "$W/f" | python3 -c 'import sys,json; print(json.load(sys.stdin)["node_id"])')
CHAIN=$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["chain_id"])' "$W/a/config/genesis.json")
MA_A="/ip4/127.0.0.1/tcp/$P_a_p2p/p2p/$ID_A"
MA_F="/ip4/127.0.0.1/tcp/$P_f_p2p/p2p/$ID_F"

p2pm() { # p2pm NODE REGEX: sum of NODE's matching p2p series
  hostile_metric "$1" "$2"
}
# hostile NODE MODE [flags]: the js attacker against NODE for SECS seconds
# (gossip: until its items are out, at most 90 s) beside the probe on NODE
# (SECS seconds); its result line in $line.
hostile() {
  local node=$1 mode=$2 ma pid secs=$SECS; shift 2
  eval "ma=\$MA_$(tr a-z A-Z <<<"$node")"
  [ "$mode" != gossip ] || secs=90
  (cd "$INTEROP" && exec "${HOSTILE_NICE[@]}" node --import ./polyfill.mjs \
    hostile_peer.mjs --mode "$mode" --target "$ma" --chain "$CHAIN" \
    --seconds "$secs" "$@") >"$W/attack-$mode.out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  hostile_probe_start "$node" "$SECS"
  hostile_probe_end
  wait "$pid" || fail "hostile_peer $mode: $(tail -5 "$W/attack-$mode.out")"
  line=$(tail -1 "$W/attack-$mode.out")
  echo "    attacker: $line"
}
field() { sed -n "s/.* $1=\\([0-9]*\\).*/\\1/p" <<<" $2"; }
rejected() { p2pm f '^blockv2_p2p_gossip_(rejected|ignored)_total\{'; }
shown() { # the node's non-zero gossip refusal series
  curl -sf -m 10 "http://127.0.0.1:$P_f_met/metrics" |
    grep -E '^blockv2_p2p_gossip_(rejected|ignored)_total\{|^blockv2_p2p_floodsub_(peers_disconnected|dropped|rpcs|messages)_total' |
    grep -v ' 0$' | sed 's/chain_id="[^"]*",\{0,1\}//; s/^/      /' || true
}

step "gossip: $ROUNDS batches of bad items to f"
r0=$(rejected)
items=0
for r in $(seq 1 "$ROUNDS"); do
  : >"$W/items"
  next=$(($(rel_height f) + 1))
  for kind in wrong_chain wrong_proposer bad_signature truncated; do
    hostile_forge_p2p "$kind" "$next" 3 "$W/items"
  done
  hostile_forge_p2p fork $((next - 5)) 2 "$W/items"
  hostile_forge_p2p garbage 1 3 "$W/items"
  n=$(wc -l <"$W/items")
  items=$((items + n))
  rel_fault "$n"
  h0=$(rel_height f)
  hostile f gossip --items "$W/items"
  [ "$(field published "$line")" -eq "$n" ] || fail "gossip: published $(field published "$line") of $n"
  hostile_keeps_up f 60
  rel_run
  rel_monitor_ok
done
for _ in $(seq 1 60); do
  [ $(($(rejected) - r0)) -lt "$items" ] || break
  sleep 0.5
done
r1=$(rejected)
echo "    f refused $((r1 - r0)) of $items bad items:"; shown
[ $((r1 - r0)) -ge "$items" ] || fail "gossip: $items bad items, $((r1 - r0)) refusals counted"
[ "$(p2pm f '^blockv2_p2p_blocks_rejected_total')" -eq 0 ] || fail "gossip: a bad item reached block validation"

step "flood: random items to f as fast as it takes them ($SECS s)"
r0=$(rejected); h0=$(rel_height f)
hostile f flood
rel_fault "$(field published "$line")"
d=$(field delivered "$line")
for _ in $(seq 1 60); do
  [ $(($(rejected) - r0)) -lt "$d" ] || break
  sleep 0.5
done
r1=$(rejected)
echo "    f refused $((r1 - r0)) of $d; height $h0 -> $(rel_height f)"; shown
[ "$d" -gt 0 ] || fail "flood: nothing delivered"
[ $((r1 - r0)) -ge "$d" ] || fail "flood: $d items delivered, $((r1 - r0)) refusals counted"
hostile_keeps_up f 60
rel_run; rel_monitor_ok

step "slowread: 64 exchange streams at a never read ($SECS s)"
h0=$(rel_height a)
hostile a slowread --streams 64
rel_fault "$(field streams "$line")"
[ "$(field streams "$line")" -ge 32 ] || fail "slowread: only $(field streams "$line") streams opened"
echo "    a produced $(($(rel_height a) - h0)) blocks"
echo "    a's exchange server: $(curl -sf -m 10 "http://127.0.0.1:$P_a_met/metrics" | grep -E '^blockv2_p2p_exchange_served' | grep -v ' 0$' | sed 's/chain_id="[^"]*",\{0,1\}//' | tr '\n' ' ')"
hostile_keeps_up f 60
rel_run; rel_monitor_ok

step "conns: $CONNS silent TCP connections at a from 127.0.0.2 ($SECS s); f reconnects meanwhile"
h0=$(rel_height a); hf0=$(rel_height f)
# the attacker runs until told to stop (SIGTERM), at most 120 s: the probe,
# then f's restart, happen while it floods
(cd "$INTEROP" && exec "${HOSTILE_NICE[@]}" node --import ./polyfill.mjs \
  hostile_peer.mjs --mode conns --target "$MA_A" --chain "$CHAIN" \
  --seconds 120 --conns "$CONNS" --local-address 127.0.0.2) >"$W/attack-conns.out" 2>&1 &
apid=$!
PIDS+=("$apid")
hostile_probe_start a "$SECS"
hostile_probe_end
hf1=$(rel_height f)
echo "    a produced $(($(rel_height a) - h0)) blocks, f synced $((hf1 - hf0))"
[ $((hf1 - hf0)) -ge $((SECS * 3)) ] || fail "conns: f synced only $((hf1 - hf0)) blocks in $SECS s"
iplim=$(p2pm a '^blockv2_p2p_handshakes_total\{.*outcome="ip_limit"')
[ "$iplim" -gt 0 ] || fail "conns: a counted no ip_limit refusal: $(tail -3 "$W/attack-conns.out")"
# a legitimate peer connects during the flood: f restarts and follows a
rel_node_stop f
ha=$(rel_height a)
# shellcheck disable=SC2046
rel_node_start f p2ponly $(hostile_metrics_flags f)
wait_until 60 "f (restarted during the flood) past a's height $ha over P2P" \
  bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_f_rpc/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -gt $ha ]"
kill -0 "$apid" 2>/dev/null || fail "conns: the flood ended before f reconnected: $(tail -3 "$W/attack-conns.out")"
kill -TERM "$apid"
wait "$apid" || fail "hostile_peer conns: $(tail -5 "$W/attack-conns.out")"
line=$(tail -1 "$W/attack-conns.out")
echo "    attacker: $line"
rel_fault "$(field conns_peak "$line")"
echo "    f restarted and reconnected to a during the flood (a at $ha, f now $(rel_height f))"
echo "    a's P2P handshakes: $(curl -sf -m 10 "http://127.0.0.1:$P_a_met/metrics" | grep -E '^blockv2_p2p_handshakes_total' | grep -v ' 0$' | sed 's/chain_id="[^"]*",\{0,1\}//' | tr '\n' ' ')"
hostile_keeps_up f 60
rel_run; rel_monitor_ok

step "load stops; every node converges; no forged block anywhere"
rel_load_stop
rel_converge 120
rel_check_chain --wait 120
hostile_forged_check
echo "    worst p99 of GET /status under attack: $HOSTILE_P99_WORST ms"
rel_monitor_stop
rel_result pass
