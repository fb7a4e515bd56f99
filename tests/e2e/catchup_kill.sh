#!/usr/bin/env bash
# Kill in the middle of a catch-up (issue 15, group commit): a chain of
# BLOCKS blocks (some with txs) is made by an aggregator on a real
# `blockv2 da serve`; then a fresh full node catches up from DA and is
# SIGKILLed at random moments, KILLS times (default 8), while it applies
# blocks in groups (one store transaction and one executor commit per
# group, docs/ARCHITECTURE.md). After every kill:
#  - `blockv2 store check` passes (no block is partial, the chain links);
#  - the store height never goes backwards;
#  - the KV executor is at most one group (128 blocks) ahead of the store
#    (`blockv2 exec status`), which the next start rolls back, or behind
#    (replayed at start).
# At the end the full node reaches the chain's height and holds the same
# chain: the tip's header hash and app hash equal the aggregator's, and
# every key the aggregator holds reads the same value.
#
# usage: tests/e2e/catchup_kill.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
#        KILLS=20 BLOCKS=5000 tests/e2e/catchup_kill.sh ...
set -euo pipefail

KILLS=${KILLS:-8}
BLOCKS=${BLOCKS:-2000}
. "$(dirname "$0")/lib.sh"
e2e_setup catchup_kill "${1:-}"
read -r P_DA P_A P_F < <(free_ports 3)
DA="http://127.0.0.1:$P_DA"
NS=(--evnode.da.namespace ck-h --evnode.da.data_namespace ck-d)
P2P=(--evnode.p2p.listen_address /ip4/127.0.0.1/tcp/0)

status() { # status PORT FIELD
  curl -sf -m 5 "http://127.0.0.1:$1/status" 2>/dev/null | python3 -c \
    "import sys, json; print(json.load(sys.stdin)['$2'])" 2>/dev/null ||
    echo 0
}
# For wait_until (which runs its command again on every try, so the
# status must be read inside it): FIELD of the node at PORT is N.
status_is() { [ "$(status "$1" "$2")" = "$3" ]; }
status_at_least() { [ "$(status "$1" "$2")" -ge "$3" ]; }
# The node's height, cheaply (curl only: polled while it catches up).
height_of() {
  curl -sf -m 2 "http://127.0.0.1:$1/status" 2>/dev/null |
    grep -o '"height":[0-9]*' | head -n 1 | cut -d: -f2 || true
}

step "init, da serve, aggregator makes $BLOCKS blocks (1 ms block time)"
T0=$SECONDS
printf 'ck-passphrase\n' >"$W/pass"
"$BIN" init --home "$W/a" --chain-id ck-chain --evnode.node.aggregator true \
  --evnode.signer.passphrase_file "$W/pass" "${NS[@]}" >"$W/init.log"
"$BIN" init --home "$W/f" --genesis "$W/a/config/genesis.json" "${NS[@]}" \
  >>"$W/init.log"
da_serve "$P_DA" --block-time 200ms
"$BIN" start --home "$W/a" --evnode.signer.passphrase_file "$W/pass" \
  --evnode.da.address "$DA" --evnode.da.block_time 200ms \
  --evnode.node.block_time 1ms --evnode.log.level warn "${P2P[@]}" \
  --evnode.rpc.address "127.0.0.1:$P_A" >"$W/agg.log" 2>&1 &
PID_A=$!
PIDS+=("$PID_A")
wait_until 60 "aggregator RPC" curl -sf -m 2 "http://127.0.0.1:$P_A/health/live"
i=0
while [ "$(status "$P_A" height)" -lt "$BLOCKS" ]; do
  i=$((i + 1))
  "$BIN" tx send --rpc "127.0.0.1:$P_A" "k$i=v$i" "j$i=w$i" >/dev/null 2>&1 ||
    true
  sleep 0.02
done
# Lazy from here: no new blocks, all of them on DA.
kill -TERM "$PID_A"
wait "$PID_A" || fail "aggregator exited with an error on SIGTERM"
"$BIN" start --home "$W/a" --evnode.signer.passphrase_file "$W/pass" \
  --evnode.da.address "$DA" --evnode.da.block_time 200ms \
  --evnode.node.lazy_mode true --evnode.node.lazy_block_interval 1h \
  --evnode.log.level warn --evnode.rpc.address "127.0.0.1:$P_A" \
  "${P2P[@]}" >>"$W/agg.log" 2>&1 &
PID_A=$!
PIDS+=("$PID_A")
wait_until 60 "aggregator RPC" curl -sf -m 2 "http://127.0.0.1:$P_A/health/live"
TOP=$(status "$P_A" height)
wait_until 300 "every block on DA" status_is "$P_A" pending_headers 0
echo "    chain height $TOP, $i tx requests, $((SECONDS - T0)) s"

start_full() {
  "$BIN" start --home "$W/f" --evnode.da.address "$DA" \
    --evnode.da.block_time 200ms --evnode.log.level info "${P2P[@]}" \
    --evnode.rpc.address "127.0.0.1:$P_F" >>"$W/full.log" 2>&1 &
  PID_F=$!
  PIDS+=("$PID_F")
}

step "a fresh full node catches up, killed $KILLS times on the way"
last=0
mid=0
for k in $(seq 1 "$KILLS"); do
  # The moment: a random height in the first third of what is left,
  # then 0 .. 10 ms more, so the kill lands inside a group (a group of up
  # to 128 blocks is applied in a few ms). Drawn before the start: a
  # catch-up of this chain takes a fraction of a second on a quiet
  # machine, so nothing slow may run between the poll and the kill.
  read -r want pause < <(python3 -c '
import random, sys
last, top = int(sys.argv[1]), int(sys.argv[2])
hi = max(last + 1, last + (top - last) // 3)
print(min(random.randint(last + 1, hi), top), random.uniform(0, 0.01))
' "$last" "$TOP")
  start_full
  end=$((SECONDS + 120))
  until h=$(height_of "$P_F") && [ "${h:-0}" -ge "$want" ]; do
    [ $SECONDS -lt $end ] || fail "no progress after start $k (at $last)"
    kill -0 "$PID_F" 2>/dev/null || fail "the full node exited (start $k)"
    sleep 0.002
  done
  sleep "$pause"
  kill -9 "$PID_F"
  wait "$PID_F" 2>/dev/null || true
  "$BIN" store check --home "$W/f" >"$W/check.log" 2>&1 ||
    fail "store check after kill $k: $(cat "$W/check.log")"
  "$BIN" exec status --home "$W/f" >"$W/exec.json" 2>&1 ||
    fail "exec status after kill $k: $(cat "$W/exec.json")"
  read -r eh sh < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["height"], s["store_height"])' "$W/exec.json")
  [ "$sh" -ge "$last" ] || fail "store height went back from $last to $sh"
  [ "$eh" -le $((sh + 128)) ] ||
    fail "executor at $eh, more than a group ahead of the store at $sh"
  if [ "$sh" -gt 0 ] && [ "$sh" -lt "$TOP" ]; then
    mid=$((mid + 1))
  fi
  echo "    kill $k: store height $sh, executor $eh"
  last=$sh
done
[ "$mid" -gt 0 ] || fail "no kill landed in the middle of the catch-up"

step "restart: the full node reaches height $TOP with the same chain"
start_full
wait_until 600 "full node at $TOP" status_at_least "$P_F" height "$TOP"
for f in last_header_hash app_hash; do
  a=$(status "$P_A" "$f")
  b=$(status "$P_F" "$f")
  [ "$a" = "$b" ] || fail "$f at the tip: aggregator $a, full node $b"
done
python3 - "127.0.0.1:$P_A" "127.0.0.1:$P_F" "$i" <<'EOF' ||
import http.client, json, sys

a, f, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def get(addr, key):
    h, p = addr.split(":")
    c = http.client.HTTPConnection(h, int(p), timeout=10)
    c.request("GET", "/kv/" + key)
    r = c.getresponse()
    body = r.read()
    return r.status, json.loads(body).get("value") if r.status == 200 else None
for j in range(1, n + 1, max(1, n // 50)):
    for key in ("k%d" % j, "j%d" % j):
        if get(a, key) != get(f, key):
            sys.exit("key %s: aggregator %s, full node %s" %
                     (key, get(a, key), get(f, key)))
EOF
  fail "the full node's KV state differs from the aggregator's"
kill -TERM "$PID_F"
wait "$PID_F" || fail "full node exited with an error on SIGTERM"
"$BIN" store check --home "$W/f" >"$W/check.log" 2>&1 ||
  fail "store check: $(cat "$W/check.log")"
if grep -l "ThreadSanitizer\|AddressSanitizer\|LeakSanitizer\|runtime error:" \
    "$W"/*.log; then
  fail "sanitizer report in the logs above"
fi
echo "catch-up kill test: OK ($KILLS kills, $mid in the middle of the catch-up, $TOP blocks)"
