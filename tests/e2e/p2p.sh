#!/usr/bin/env bash
# End-to-end test of following over P2P (issue 14), real processes on
# 127.0.0.1: one aggregator (100 ms blocks, a local DA server, a tx load)
# and three P2P-only full nodes (no da.address) that have it as their only
# peer.
#  - b and c follow by gossip: each stays within 2 blocks of the
#    aggregator (sampled), and every node has identical blocks;
#  - d starts late, once the aggregator is past LATE_BLOCKS blocks: it
#    catches up by the exchange (its fetched-items counter covers the
#    blocks made before it started) and then follows gossip;
#  - b is killed with SIGKILL and restarted: it resumes;
#  - e is not in the aggregator's p2p.allowed_peers: its connection is
#    refused (gated), it gets no block and is not ready;
#  - P2PService GetPeerInfo / GetNetInfo, StoreService GetP2PStoreInfo,
#    /health/ready (a follower needs a peer), `blockv2 status`, metrics;
#  - b and c restart with DA on as well: every block ends DA-included on
#    them while they keep following P2P;
#  - the aggregator stops; a new instance (same signer, empty store, P2P
#    only, node.catchup_timeout) catches up from b by the exchange before
#    it produces, and b follows its blocks.
#
# usage: tests/e2e/p2p.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
set -euo pipefail

LATE_BLOCKS=${LATE_BLOCKS:-150}
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
e2e_setup p2p "${1:-}"

# Every port a node listens on is chosen here, P2P ones too: a node
# listening on port 0 could take a port reserved for a later one.
read -r P_DA P_A P_B P_C P_D P_E P_MA P_MD P_PA P_PB P_PC P_PD P_PE P_PA2 \
  < <(free_ports 14)
DA="http://127.0.0.1:$P_DA"

rpc() { # rpc PORT PATH [JSON] -> body on stdout
  if [ $# -ge 3 ]; then
    curl -sf -m 10 -H 'Content-Type: application/json' -d "$3" \
      "http://127.0.0.1:$1$2"
  else
    curl -sf -m 10 "http://127.0.0.1:$1$2"
  fi
}

jget() { # jget PORT PATH PYEXPR -> value (expression over `s`) or ""
  rpc "$1" "$2" 2>/dev/null | python3 -c "
import json, sys
s = json.load(sys.stdin)
print($3)" 2>/dev/null || true
}

height() { local h; h=$(jget "$1" /status 's["height"]'); echo "${h:-0}"; }

node_id() { # node_id HOME
  "$BIN" keys show --home "$1" | python3 -c \
    'import sys, json; print(json.load(sys.stdin)["node_id"])'
}

COMMON=(--evnode.node.block_time 100ms --evnode.log.level info
        --evnode.da.block_time 300ms)

start_node() { # start_node NAME RPC_PORT P2P_PORT [flags...]
  local name=$1 port=$2 p2p=$3; shift 3
  "$BIN" start --home "$W/$name" "${COMMON[@]}" \
    --evnode.rpc.address "127.0.0.1:$port" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$p2p" "$@" \
    >>"$W/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
  wait_until 30 "$name RPC" rpc "$port" /health/live
}

step "init: aggregator a, followers b c d, outsider e; DA server"
printf 'p2p-e2e-passphrase\n' >"$W/pass"
"$BIN" init --home "$W/a" --chain-id p2p-e2e \
  --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
  --evnode.da.namespace p2p-h --evnode.da.data_namespace p2p-d >"$W/init.log"
for n in b c d e; do
  "$BIN" init --home "$W/$n" --genesis "$W/a/config/genesis.json" \
    --evnode.da.namespace p2p-h --evnode.da.data_namespace p2p-d \
    >>"$W/init.log"
done
ID_A=$(node_id "$W/a")
ID_B=$(node_id "$W/b"); ID_C=$(node_id "$W/c"); ID_D=$(node_id "$W/d")
ID_E=$(node_id "$W/e")
da_serve "$P_DA" --block-time 200ms

PEER_A=(--evnode.p2p.peers "/ip4/127.0.0.1/tcp/$P_PA/p2p/$ID_A")
P2P_ONLY=(--evnode.da.address "")
WITH_DA=(--evnode.da.address "$DA")

step "aggregator (DA on, allowed_peers b c d) and followers b c (P2P only)"
start_node a "$P_A" "$P_PA" --evnode.signer.passphrase_file "$W/pass" \
  "${WITH_DA[@]}" \
  --evnode.p2p.disable_connection_gater false \
  --evnode.p2p.allowed_peers "$ID_B,$ID_C,$ID_D" \
  --evnode.instrumentation.prometheus true \
  --evnode.instrumentation.prometheus_listen_addr "127.0.0.1:$P_MA"
start_node b "$P_B" "$P_PB" "${P2P_ONLY[@]}" "${PEER_A[@]}"
start_node c "$P_C" "$P_PC" "${P2P_ONLY[@]}" "${PEER_A[@]}"

# A tx load for the rest of the test: 5 txs every 100 ms.
(
  i=0
  while :; do
    i=$((i + 1))
    "$BIN" tx send --rpc "127.0.0.1:$P_A" "l$i-1=v" "l$i-2=v" "l$i-3=v" \
      "l$i-4=v" "l$i-5=v" >/dev/null 2>&1 || true
    sleep 0.1
  done
) &
LOAD=$!
PIDS+=("$LOAD")

step "b and c follow within 2 blocks of the aggregator"
wait_until 60 "b and c at height 30" bash -c \
  "[ \$(curl -sf -m 5 http://127.0.0.1:$P_C/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge 30 ]"
# 40 samples of the three heights read at the same instant (parallel
# requests; each sample takes a few ms).
worst=$(python3 - "$P_A" "$P_B" "$P_C" <<'PY'
import json, sys, threading, time, urllib.request
ports = sys.argv[1:]
def get(port, out, i):
    with urllib.request.urlopen("http://127.0.0.1:%s/status" % port,
                                timeout=5) as r:
        out[i] = json.load(r)["height"]
worst = 0
for _ in range(40):
    out = [0] * len(ports)
    ts = [threading.Thread(target=get, args=(p, out, i))
          for i, p in enumerate(ports)]
    for t in ts: t.start()
    for t in ts: t.join()
    worst = max(worst, max(abs(out[0] - h) for h in out[1:]))
    time.sleep(0.15)
print(worst)
PY
)
echo "    largest lag seen: $worst block(s) (40 samples)"
[ "$worst" -le 2 ] || fail "a follower lagged $worst blocks behind the aggregator"
rpc "$P_B" /health/ready | grep -q READY || fail "b not ready"

step "the outsider e (not in allowed_peers) cannot connect"
start_node e "$P_E" "$P_PE" "${P2P_ONLY[@]}" "${PEER_A[@]}"
sleep 3
[ "$(jget "$P_E" /status 's["peers"]')" = "0" ] || fail "e got a peer"
[ "$(height "$P_E")" = "0" ] || fail "e got blocks"
out=$(curl -s -m 5 "http://127.0.0.1:$P_E/health/ready" || true)
grep -q "UNREADY: no peers connected" <<<"$out" || fail "e readiness: $out"
m=$(curl -sf -m 10 "http://127.0.0.1:$P_MA/metrics")
grep -q '^blockv2_p2p_handshakes_total{chain_id="[^"]*",outcome="gated"} [1-9]' \
  <<<"$m" || fail "aggregator metrics: no gated handshake"
rpc "$P_A" /evnode.v1.P2PService/GetPeerInfo '{}' | python3 -c '
import json, sys
ids = sorted(p["id"] for p in json.load(sys.stdin)["peers"])
assert ids == sorted(sys.argv[1:3]), ids
' "$ID_B" "$ID_C" || fail "GetPeerInfo on a"
kill -TERM "$PID_e"; wait "$PID_e" || fail "e exited with an error"

step "d starts late (aggregator past $LATE_BLOCKS blocks): exchange, then gossip"
wait_until 120 "aggregator at height $LATE_BLOCKS" bash -c \
  "[ \$(curl -sf -m 5 http://127.0.0.1:$P_A/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $LATE_BLOCKS ]"
T0=$(height "$P_A")
start_node d "$P_D" "$P_PD" "${P2P_ONLY[@]}" "${PEER_A[@]}" \
  --evnode.instrumentation.prometheus true \
  --evnode.instrumentation.prometheus_listen_addr "127.0.0.1:$P_MD"
wait_until 60 "d at height $T0" bash -c \
  "[ \$(curl -sf -m 5 http://127.0.0.1:$P_D/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $T0 ]"
m=$(curl -sf -m 10 "http://127.0.0.1:$P_MD/metrics")
fetched=$(sed -n 's/^blockv2_p2p_sync_items_fetched_total{chain_id="[^"]*",network="header"} //p' <<<"$m")
echo "    d: $T0 blocks made before it started, $fetched headers fetched by exchange"
[ "${fetched:-0}" -ge $((T0 - 10)) ] || fail "d fetched only ${fetched:-0} headers by exchange"
grep -q '^evnode_sequencer_blocks_synchronized_total{chain_id="[^"]*",source="p2p"} [1-9]' \
  <<<"$m" || fail "d: blocks_synchronized_total{p2p}"
acc0=$(sed -n 's/^blockv2_p2p_gossip_accepted_total{chain_id="[^"]*",topic="header"} //p' <<<"$m")
sleep 2
m=$(curl -sf -m 10 "http://127.0.0.1:$P_MD/metrics")
acc1=$(sed -n 's/^blockv2_p2p_gossip_accepted_total{chain_id="[^"]*",topic="header"} //p' <<<"$m")
[ "${acc1:-0}" -gt "${acc0:-0}" ] || fail "d does not follow gossip ($acc0 -> $acc1)"
ha=$(height "$P_A"); hd=$(height "$P_D")
[ $((ha - hd)) -le 2 ] || fail "d lags: a $ha, d $hd"

step "b is killed with SIGKILL and restarted: it resumes"
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null || true
hb0=$(height "$P_C")
sleep 1
start_node b "$P_B" "$P_PB" "${P2P_ONLY[@]}" "${PEER_A[@]}"
wait_until 30 "b past $((hb0 + 20))" bash -c \
  "[ \$(curl -sf -m 5 http://127.0.0.1:$P_B/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $((hb0 + 20)) ]"
wait_until 30 "b ready" rpc "$P_B" /health/ready

step "P2P RPC: GetNetInfo, GetP2PStoreInfo; blockv2 status"
rpc "$P_B" /evnode.v1.P2PService/GetNetInfo '{}' | python3 -c '
import json, sys
n = json.load(sys.stdin)["netInfo"]
assert n["id"] == sys.argv[1], n
assert all(a.endswith("/p2p/" + sys.argv[1]) for a in n["listenAddresses"]), n
assert n["connectedPeers"] == [sys.argv[2]], n
' "$ID_B" "$ID_A" || fail "GetNetInfo on b"
rpc "$P_D" /evnode.v1.StoreService/GetP2PStoreInfo '{}' | python3 -c '
import json, sys
st = json.load(sys.stdin)["stores"]
assert [s["label"] for s in st] == ["Header Store", "Data Store"], st
for s in st:
    assert int(s["height"]) >= 1 and s["head"]["height"] == s["height"], s
    assert s["tail"]["height"] == "1" and len(s["head"]["hash"]) == 44, s
' || fail "GetP2PStoreInfo on d"
summary=$("$BIN" status --rpc "127.0.0.1:$P_D") || fail "status failed"
echo "$summary" | sed 's/^/      /'
grep -Eq '^peers +1$' <<<"$summary" || fail "status: peers"
grep -Eq '^P2P stores +headers [1-9][0-9]*, data [1-9][0-9]* \(best seen\)$' \
  <<<"$summary" || fail "status: P2P stores"

step "b and c restart with DA on as well: every block ends DA-included"
for n in b c; do
  eval "kill -TERM \$PID_$n; wait \$PID_$n" || fail "$n exited with an error"
  if [ $n = b ]; then
    start_node b "$P_B" "$P_PB" "${WITH_DA[@]}" "${PEER_A[@]}"
  else
    start_node c "$P_C" "$P_PC" "${WITH_DA[@]}" "${PEER_A[@]}"
  fi
done
T=$(height "$P_A")
for port in "$P_B" "$P_C"; do
  wait_until 90 "DA-included height >= $T on $port" bash -c \
    "[ \$(curl -sf -m 5 http://127.0.0.1:$port/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"da_included_height\"])' 2>/dev/null || echo 0) -ge $T ]"
done

step "identical blocks everywhere"
kill "$LOAD" 2>/dev/null || true
wait "$LOAD" 2>/dev/null || true
sleep 1
T=$(height "$P_A")
for port in "$P_B" "$P_C" "$P_D"; do
  wait_until 30 "node on $port at $T" bash -c \
    "[ \$(curl -sf -m 5 http://127.0.0.1:$port/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $T ]"
done
for h in 1 2 $((T0 / 2)) "$T0" $((T0 + 1)) $((T - 1)) "$T"; do
  ra=$(rpc "$P_A" /evnode.v1.StoreService/GetBlock "{\"height\":\"$h\"}")
  for port in "$P_B" "$P_C" "$P_D"; do
    rb=$(rpc "$port" /evnode.v1.StoreService/GetBlock "{\"height\":\"$h\"}")
    python3 - "$ra" "$rb" <<'EOF' || fail "block $h differs on port $port"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["block"] == b["block"]
EOF
  done
done
for port in "$P_B" "$P_C" "$P_D"; do
  rpc "$port" /kv/l1-1 >/dev/null || fail "the first tx is not on $port"
done

step "catch-up: a new aggregator instance on a fresh home catches up by P2P"
# The aggregator stops; another instance (same signer, empty store, P2P
# only, node.catchup_timeout) peers with b. Without catch-up it would make
# a block 1 of its own; with it it first takes the chain from b by the
# exchange, then produces T + 1 on top of it, which b follows by gossip.
kill -TERM "$PID_a"; wait "$PID_a" || fail "a exited with an error"
T=$(jget "$P_B" /status 's["height"]')
"$BIN" init --home "$W/a2" --genesis "$W/a/config/genesis.json" \
  --evnode.da.namespace p2p-h --evnode.da.data_namespace p2p-d >>"$W/init.log"
cp "$W/a/config/signer.json" "$W/a2/config/"
ADDR_B=$(rpc "$P_B" /evnode.v1.P2PService/GetNetInfo '{}' | python3 -c \
  'import json, sys; print(json.load(sys.stdin)["netInfo"]["listenAddresses"][0])')
start_node a2 "$P_A" "$P_PA2" --evnode.node.aggregator true \
  --evnode.signer.passphrase_file "$W/pass" "${P2P_ONLY[@]}" \
  --evnode.node.catchup_timeout 30s --evnode.p2p.peers "$ADDR_B"
wait_until 60 "the new instance past $((T + 5))" bash -c \
  "[ \$(curl -sf -m 5 http://127.0.0.1:$P_A/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $((T + 5)) ]"
grep -q "caught up: producing blocks height=$T " "$W/a2.log" ||
  fail "a2 did not catch up to $T before producing"
wait_until 30 "b follows the new instance past $((T + 5))" bash -c \
  "[ \$(curl -sf -m 5 http://127.0.0.1:$P_B/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $((T + 5)) ]"
for h in 1 "$T" $((T + 1)) $((T + 5)); do
  ra=$(rpc "$P_A" /evnode.v1.StoreService/GetBlock "{\"height\":\"$h\"}")
  rb=$(rpc "$P_B" /evnode.v1.StoreService/GetBlock "{\"height\":\"$h\"}")
  [ "$ra" = "$rb" ] || python3 - "$ra" "$rb" <<'EOF' || fail "block $h differs on a2 and b"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["block"] == b["block"]
EOF
done

step "graceful stop (SIGTERM)"
for n in a2 b c d; do
  eval "kill -TERM \$PID_$n"
done
for n in a2 b c d; do
  eval "wait \$PID_$n" || fail "node $n exited with an error on SIGTERM"
done
echo "p2p e2e: OK (height $T, late node caught up $T0 blocks)"
