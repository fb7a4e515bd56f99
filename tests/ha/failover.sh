#!/usr/bin/env bash
# HA failover with real processes (docs/HA.md "Followers"): a real etcd,
# a real `blockv2 da serve`, three candidates (same genesis and signer,
# ha.lease_ttl 2s, 1.5 s blocks) connected over P2P on 127.0.0.1, and a
# full node that reads DA only. KILLS times (default 2):
#  - the leader is killed with SIGKILL;
#  - a follower leads and produces the block after the replicated height
#    within lease TTL + 2 block times of the kill (its header time);
#  - the killed one restarts as a follower and catches up.
# At the end, every candidate and the DA-only full node hold one chain:
# `store check` passes (every block links to the one below) and all hold
# the same block at the lowest of their heights, so no height has two
# different blocks on any node; the DA-only node never saw a contradicting
# header on DA (no BM_EFORK, still running); every blob is on DA once (a
# new leader does not submit again what the leader before submitted).
#
# usage: tests/ha/failover.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
#        KILLS=5 tests/ha/failover.sh ...
set -euo pipefail

KILLS=${KILLS:-2}
TTL_MS=2000
BT_MS=1500
BOUND_MS=$((TTL_MS + 2 * BT_MS))
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"
ETCD=${BM_ETCD:-$(command -v etcd || true)}
if [ -z "$ETCD" ]; then
  if [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; then
    echo "FAIL: no etcd binary (scripts/bootstrap.sh installs etcd-server)"
    exit 1
  fi
  echo "skipped: no etcd binary (apt-get install etcd-server)"
  exit 77
fi
e2e_setup ha_failover "${1:-}"

read -r P_DA P_E P_EP R1 R2 R3 R4 Q1 Q2 Q3 Q4 < <(free_ports 11)
DA="http://127.0.0.1:$P_DA"
RPC=("" "$R1" "$R2" "$R3" "$R4")
P2P=("" "$Q1" "$Q2" "$Q3" "$Q4")
PID=("" "" "" "" "")
KILLED=()

jget() { # jget PORT PATH PYEXPR -> value (expression over `s`) or ""
  curl -sf -m 5 "http://127.0.0.1:$1$2" 2>/dev/null | python3 -c "
import json, sys
s = json.load(sys.stdin)
print($3)" 2>/dev/null || true
}
height() { local h; h=$(jget "$1" /status 's["height"]'); echo "${h:-0}"; }
is_leader() { [ "$(jget "${RPC[$1]}" /ha/node 's["is_leader"]')" = True ]; }
at_least() { [ "$(height "$1")" -ge "$2" ]; }
leader() { # prints the candidate (1..3) that leads, or nothing
  local i
  for i in 1 2 3; do
    if [ -n "${PID[$i]}" ] && is_leader "$i"; then echo "$i"; return; fi
  done
}

step "etcd, DA server, 3 candidates c1 c2 c3 and a DA-only full node"
"$ETCD" --name e --data-dir "$W/etcd" \
  --listen-client-urls "http://127.0.0.1:$P_E" \
  --advertise-client-urls "http://127.0.0.1:$P_E" \
  --listen-peer-urls "http://127.0.0.1:$P_EP" \
  --initial-advertise-peer-urls "http://127.0.0.1:$P_EP" \
  --initial-cluster "e=http://127.0.0.1:$P_EP" \
  --max-request-bytes 4194304 >"$W/etcd.log" 2>&1 &
PIDS+=($!)
wait_until 30 "etcd" curl -sf -m 2 "http://127.0.0.1:$P_E/health"
da_serve "$P_DA" --block-time 300ms
printf 'ha-failover-pass\n' >"$W/pass"
NS=(--evnode.da.namespace hf-h --evnode.da.data_namespace hf-d)
"$BIN" init --home "$W/c1" --chain-id ha-failover \
  --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
  "${NS[@]}" >"$W/init.log"
for i in 2 3 4; do
  "$BIN" init --home "$W/c$i" --genesis "$W/c1/config/genesis.json" \
    "${NS[@]}" >>"$W/init.log"
done
cp "$W/c1/config/signer.json" "$W/c2/config/"
cp "$W/c1/config/signer.json" "$W/c3/config/"
for i in 1 2 3; do
  ID[i]=$("$BIN" keys show --home "$W/c$i" \
    --evnode.signer.passphrase_file "$W/pass" | python3 -c \
    'import sys, json; print(json.load(sys.stdin)["node_id"])')
done

start_cand() { # start_cand I
  local i=$1 j peers=""
  for j in 1 2 3; do
    [ "$j" = "$i" ] && continue
    peers="$peers${peers:+,}/ip4/127.0.0.1/tcp/${P2P[$j]}/p2p/${ID[$j]}"
  done
  "$BIN" start --home "$W/c$i" --evnode.node.aggregator true \
    --evnode.signer.passphrase_file "$W/pass" \
    --evnode.node.block_time "${BT_MS}ms" --evnode.log.level info \
    --evnode.da.address "$DA" --evnode.da.block_time 300ms \
    --evnode.rpc.address "127.0.0.1:${RPC[$i]}" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/${P2P[$i]}" \
    --evnode.p2p.peers "$peers" \
    --evnode.ha.etcd_endpoints "http://127.0.0.1:$P_E" \
    --evnode.ha.node_id "c$i" --evnode.ha.lease_ttl "$((TTL_MS / 1000))s" \
    >>"$W/c$i.log" 2>&1 &
  PID[i]=$!
  PIDS+=($!)
  wait_until 30 "c$i RPC" curl -sf -m 2 "http://127.0.0.1:${RPC[$i]}/health/live"
}
for i in 1 2 3; do start_cand "$i"; done
"$BIN" start --home "$W/c4" --evnode.log.level info \
  --evnode.da.address "$DA" --evnode.da.block_time 300ms \
  --evnode.rpc.address "127.0.0.1:$R4" \
  --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$Q4" >"$W/full.log" 2>&1 &
PID[4]=$!
PIDS+=($!)
wait_until 30 "full node RPC" curl -sf -m 2 "http://127.0.0.1:$R4/health/live"

# a few txs a second, to whichever candidate leads (no forwarding yet)
(
  n=0
  while :; do
    n=$((n + 1))
    for i in 1 2 3; do
      "$BIN" tx send --rpc "127.0.0.1:${RPC[$i]}" "k$n-$i=v$n" >/dev/null \
        2>&1 || true
    done
    sleep 0.3
  done
) &
PIDS+=($!)

wait_until 30 "a leader" test -n "$(leader)"
L=$(leader)
wait_until 30 "the leader at height 3" at_least "${RPC[$L]}" 3
for i in 1 2 3; do
  [ "$i" = "$L" ] && continue
  wait_until 30 "follower c$i following" at_least "${RPC[$i]}" 2
done

for k in $(seq 1 "$KILLS"); do
  L=$(leader)
  [ -n "$L" ] || fail "no leader before kill $k"
  H=$(height "${RPC[$L]}")
  step "kill $k: SIGKILL leader c$L at height $H"
  T0=$(python3 -c 'import time; print(time.time_ns())')
  kill -9 "${PID[$L]}"
  wait "${PID[$L]}" 2>/dev/null || true
  PID[L]=""
  # the new leader and its replicated height as of its election
  end=$((SECONDS + 30))
  N=""
  until [ -n "$N" ]; do
    [ $SECONDS -lt $end ] || fail "no new leader 30 s after kill $k"
    N=$(leader)
    sleep 0.05
  done
  echo "    c$N leads"
  KILLED+=("$T0 $H $N")
  wait_until 30 "c$N produces" at_least "${RPC[$N]}" $((H + 2))
  step "kill $k: c$L restarts as a follower and catches up"
  start_cand "$L"
  T=$(height "${RPC[$N]}")
  wait_until 60 "c$L at height $T" at_least "${RPC[$L]}" "$T"
  is_leader "$L" && fail "c$L leads again right after its restart"
  sleep 1
done

step "one chain on every node and on DA"
L=$(leader)
T=$(height "${RPC[$L]}")
wait_until 60 "DA-only node at height $((T - 5))" at_least "$R4" $((T - 5))
kill -0 "${PID[4]}" 2>/dev/null || fail "the DA-only full node stopped"
for i in 1 2 3 4; do
  [ -n "${PID[$i]}" ] || continue
  kill -TERM "${PID[$i]}"
  wait "${PID[$i]}" || fail "c$i exited with an error on SIGTERM"
done
! grep -l "BM_EFORK\|BM_ECORRUPT" "$W"/c*.log "$W"/full.log ||
  fail "a node saw two blocks at one height (logs above)"
MIN=""
for i in 1 2 3 4; do
  "$BIN" store check --home "$W/c$i" >"$W/check.log" 2>&1 ||
    fail "store check c$i: $(cat "$W/check.log")"
  h=$("$BIN" store inspect --home "$W/c$i" | python3 -c \
    'import sys, json; print(json.load(sys.stdin)["height"])')
  if [ -z "$MIN" ] || [ "$h" -lt "$MIN" ]; then MIN=$h; fi
done
block_field() { # block_field I HEIGHT FIELD(hash|time)
  "$BIN" store inspect --home "$W/c$1" --height "$2" | python3 -c '
import sys, json
h = json.load(sys.stdin)["block"]["header"]
print(h["hash"] if sys.argv[1] == "hash" else h["header"]["time"])' "$3"
}
HASHES=$(for i in 1 2 3 4; do block_field "$i" "$MIN" hash; done | sort -u |
  wc -l)
[ "$HASHES" = 1 ] || fail "the nodes hold different blocks at height $MIN"
step "DA: every blob once (a new leader does not submit again what the leader before did)"
python3 "$(dirname "$0")/da_blobs.py" "$DA" hf-h hf-d >"$W/blobs.log" ||
  fail "cannot count the blobs on DA"
sed 's/^/    /' "$W/blobs.log"
! grep -q "copies=[1-9]" "$W/blobs.log" ||
  fail "a blob is on DA more than once (submitted again after a failover)"
step "failover times: the first new block's header time after the kill"
for e in "${KILLED[@]}"; do
  read -r T0 H N <<<"$e"
  # the first block made after the kill: the new leader's first
  R=$H
  until T1=$(block_field 4 $((R + 1)) time) && [ "$T1" -gt "$T0" ]; do
    R=$((R + 1))
    [ "$R" -lt "$MIN" ] || fail "no block after kill at $T0"
  done
  MS=$(((T1 - T0) / 1000000))
  echo "    c$N made block $((R + 1)) ${MS} ms after the kill (bound ${BOUND_MS} ms: TTL + 2 block times)"
  grep -h "ha: leader of\|ha: leading at\|height=$((R + 1)) .*source=produced" \
    "$W/c$N.log" | sed 's/^/      /'
  [ "$MS" -le "$BOUND_MS" ] ||
    fail "failover took ${MS} ms > TTL + 2 block times (${BOUND_MS} ms)"
done
if grep -l "ThreadSanitizer\|AddressSanitizer\|LeakSanitizer\|runtime error:" \
    "$W"/*.log; then
  fail "sanitizer report in the logs above"
fi
echo "HA failover: OK ($KILLS kills, one chain up to height $MIN on 3 candidates and a DA-only node)"
