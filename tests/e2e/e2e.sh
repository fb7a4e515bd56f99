#!/usr/bin/env bash
# End-to-end test with real processes on 127.0.0.1 (issue "The node"):
# three homes (one aggregator, two DA-only full nodes, one of them started
# late), one `blockv2 da serve`, 500 txs; kill -9 and restart of a full
# node and of the aggregator; everyone converges on the same blocks and
# state; /metrics and /health/ready answer; a bad config value and a wrong
# passphrase fail with a message naming the cause. The full nodes have the
# aggregator as their P2P peer (p2p.peers, its node key's ID): they connect,
# redial it after its restart, and /status and /metrics show the peers.
#
# usage: tests/e2e/e2e.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
set -euo pipefail

. "$(dirname "$0")/lib.sh"
e2e_setup e2e "${1:-}"

# Every port a node listens on (DA, RPC, metrics, P2P) is chosen here, up
# front, by the kernel: a node listening on port 0 could take a port
# reserved for another one.
read -r P_DA P_A P_B P_C P_M P_P2P P_P2P_B P_P2P_C < <(free_ports 8)
DA="http://127.0.0.1:$P_DA"

rpc() { # rpc PORT PATH [JSON]  -> body on stdout
  if [ $# -ge 3 ]; then
    curl -sf -m 10 -H 'Content-Type: application/json' -d "$3" \
      "http://127.0.0.1:$1$2"
  else
    curl -sf -m 10 "http://127.0.0.1:$1$2"
  fi
}

height() { # height PORT -> store height or 0
  rpc "$1" /status 2>/dev/null |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["height"])' \
      2>/dev/null || echo 0
}

COMMON=(--evnode.da.address "$DA" --evnode.da.block_time 300ms
        --evnode.node.block_time 100ms --evnode.log.level info)

start_node() { # start_node NAME PORT P2P_PORT [extra flags]
  local name=$1 port=$2 p2p=$3; shift 3
  "$BIN" start --home "$W/$name" "${COMMON[@]}" \
    --evnode.rpc.address "127.0.0.1:$port" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$p2p" "$@" \
    >>"$W/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
  disown -h $! 2>/dev/null || true
  wait_until 30 "$name RPC" rpc "$port" /health/live
}

step "init: one aggregator home, two follower homes"
printf 'e2e-passphrase\n' >"$W/pass"
"$BIN" init --home "$W/a" --chain-id e2e-chain \
  --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
  --evnode.da.namespace e2e-h --evnode.da.data_namespace e2e-d >"$W/init.log"
for n in b c; do
  "$BIN" init --home "$W/$n" --genesis "$W/a/config/genesis.json" \
    --evnode.da.namespace e2e-h --evnode.da.data_namespace e2e-d \
    >>"$W/init.log"
done

step "bad config value and wrong passphrase are refused, naming the cause"
set +e
out=$("$BIN" start --home "$W/b" --evnode.node.block_time abc 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "bad block_time accepted"
grep -q "node.block_time" <<<"$out" || fail "bad value message: $out"
printf 'not-the-passphrase\n' >"$W/wrong"
set +e
out=$("$BIN" start --home "$W/a" --evnode.signer.passphrase_file "$W/wrong" \
  "${COMMON[@]}" --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_P2P" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "wrong passphrase accepted"
grep -qi "passphrase" <<<"$out" || fail "wrong passphrase message: $out"

step "da serve, aggregator (with metrics), one full node"
da_serve "$P_DA" --block-time 200ms
ID_A=$("$BIN" keys show --home "$W/a" --evnode.signer.passphrase_file \
  "$W/pass" | python3 -c 'import sys,json; print(json.load(sys.stdin)["node_id"])')
PEER_A=(--evnode.p2p.peers "/ip4/127.0.0.1/tcp/$P_P2P/p2p/$ID_A")
start_node a "$P_A" "$P_P2P" --evnode.signer.passphrase_file "$W/pass" \
  --evnode.instrumentation.prometheus true \
  --evnode.instrumentation.prometheus_listen_addr "127.0.0.1:$P_M"
start_node b "$P_B" "$P_P2P_B" "${PEER_A[@]}"

step "500 txs"
args=()
for i in $(seq 1 250); do args+=("k$i=v$i"); done
"$BIN" tx send --rpc "127.0.0.1:$P_A" "${args[@]}" >/dev/null

step "kill -9 and restart the full node"
kill -9 "$PID_b"
sleep 0.5
start_node b "$P_B" "$P_P2P_B" "${PEER_A[@]}"

step "the late full node joins"
start_node c "$P_C" "$P_P2P_C" "${PEER_A[@]}"
args=()
for i in $(seq 251 500); do args+=("k$i=v$i"); done
"$BIN" tx send --rpc "127.0.0.1:$P_A" "${args[@]}" >/dev/null
wait_until 60 "tx 500 executed" rpc "$P_A" /kv/k500

step "kill -9 and restart the aggregator"
kill -9 "$PID_a"
sleep 0.5
start_node a "$P_A" "$P_P2P" --evnode.signer.passphrase_file "$W/pass" \
  --evnode.instrumentation.prometheus true \
  --evnode.instrumentation.prometheus_listen_addr "127.0.0.1:$P_M"
"$BIN" tx send --rpc "127.0.0.1:$P_A" after=restart >/dev/null

step "everyone converges"
wait_until 60 "the restarted aggregator to include a new tx" \
  rpc "$P_A" /kv/after
T=$(height "$P_A")
for port in "$P_B" "$P_C"; do
  wait_until 120 "node on port $port to reach height $T" \
    bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$port/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $T ]"
done
for h in 1 $((T / 2)) "$T"; do
  ra=$(rpc "$P_A" /evnode.v1.StoreService/GetBlock "{\"height\":\"$h\"}")
  for port in "$P_B" "$P_C"; do
    rb=$(rpc "$port" /evnode.v1.StoreService/GetBlock "{\"height\":\"$h\"}")
    python3 - "$ra" "$rb" "$h" <<'EOF' || fail "block $h differs on port $port"
import json, sys
a, b, h = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
assert a["block"] == b["block"], "block %s differs" % h
EOF
  done
done
# App hash: the header at T+1 carries the state root after T on every
# node; compare the executed state directly instead, key by key.
for port in "$P_A" "$P_B" "$P_C"; do
  for k in k1 k250 k500 after; do
    rpc "$port" "/kv/$k" >/dev/null || fail "key $k missing on port $port"
  done
done
sa=$(rpc "$P_A" /evnode.v1.StoreService/GetBlock "{\"height\":\"$((T + 1))\"}" || true)
if [ -n "$sa" ]; then
  for port in "$P_B" "$P_C"; do
    wait_until 30 "block $((T + 1)) on $port" \
      rpc "$port" /evnode.v1.StoreService/GetBlock "{\"height\":\"$((T + 1))\"}"
    sb=$(rpc "$port" /evnode.v1.StoreService/GetBlock "{\"height\":\"$((T + 1))\"}")
    python3 - "$sa" "$sb" <<'EOF' || fail "app hash after height $T differs"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["block"]["header"]["header"]["appHash"] == \
       b["block"]["header"]["header"]["appHash"]
EOF
  done
fi

step "DA inclusion reaches the chain on all nodes"
for port in "$P_A" "$P_B" "$P_C"; do
  wait_until 60 "DA-included height >= $T on $port" bash -c \
    "[ \$(curl -sf -m 5 http://127.0.0.1:$port/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"da_included_height\"])' 2>/dev/null || echo 0) -ge $T ]"
done

step "blockv2 status (summary and --json), /metrics and /health/ready"
"$BIN" status --json --rpc "127.0.0.1:$P_A" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["aggregator"] is True and s["height"] >= 1
assert any(a["name"] == "producer" for a in s["actors"])
assert s["breakers"]["da"] == "closed"
' || fail "status --json output"
summary=$("$BIN" status --rpc "127.0.0.1:$P_A") || fail "status failed"
echo "$summary" | sed 's/^/      /'
grep -Eq '^chain +[^ ]+ \(aggregator\)$' <<<"$summary" || fail "status: chain"
grep -Eq '^height +[1-9][0-9]*, last block [0-9.a-z]+ ago \(' <<<"$summary" ||
  fail "status: height and last block age"
grep -Eq '^DA +included [0-9]+, lag [0-9]+ blocks?' <<<"$summary" ||
  fail "status: DA lag"
grep -Eq '^peers +[1-9][0-9]*$' <<<"$summary" || fail "status: peers"
grep -Eq '^breakers +da closed, exec closed$' <<<"$summary" ||
  fail "status: breakers"
grep -Eq '^actors +[0-9]+, ' <<<"$summary" || fail "status: actors"
"$BIN" status --rpc "127.0.0.1:$P_B" | grep -Eq '^chain +[^ ]+ \(full node\)$' ||
  fail "status: full node summary"
m=$(curl -sf -m 10 "http://127.0.0.1:$P_M/metrics")
grep -q '^evnode_sequencer_height{' <<<"$m" || fail "metrics: no height"
grep -q '^blockv2_actor_mailbox_depth{' <<<"$m" || fail "metrics: no actors"
wait_until 30 "aggregator ready" rpc "$P_A" /health/ready

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_B/health/ready")
echo "    full node /health/ready: HTTP $code (no P2P peers: see OPERATIONS.md)"

step "P2P: the full nodes redialled the restarted aggregator"
wait_until 40 "both full nodes connected to the aggregator" \
  bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_A/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"peers\"])') -eq 2 ]"
for port in "$P_B" "$P_C"; do
  rpc "$port" /status | python3 -c '
import json, sys
p = json.load(sys.stdin)["p2p"]
assert [e["peer_id"] for e in p["peers"]] == [sys.argv[1]], p
assert p["peers"][0]["direction"] == "outbound", p
' "$ID_A" || fail "full node on $port: P2P status"
done
m=$(curl -sf -m 10 "http://127.0.0.1:$P_M/metrics")
grep -q '^evnode_p2p_peers{chain_id="[^"]*"} 2$' <<<"$m" || fail "metrics: evnode_p2p_peers"
grep -q '^blockv2_p2p_handshakes_total{chain_id="[^"]*",outcome="ok"} [1-9]' <<<"$m" ||
  fail "metrics: no successful handshake"

step "graceful stop (SIGTERM)"
for n in a b c; do
  eval "kill -TERM \$PID_$n"
done
for n in a b c; do
  eval "wait \$PID_$n" || fail "node $n exited with an error on SIGTERM"
done
echo "e2e: OK (height $T)"
