#!/usr/bin/env bash
# EVM bad input that needs a real EL (issue 17): an aggregator given a
# wrong JWT secret, and one pointed at an EL on another chain (another
# genesis), each stop with an error naming the cause, and nothing is
# committed: no block in blockv2's store, no block on the EL. Then the
# same home with the right EL and secret produces blocks (the refusals
# left nothing behind that blocks a good start), and once it has blocks,
# pointing it at the other chain's EL (with that EL's genesis hash) is
# refused too, with the store and that EL unchanged.
#
# usage: tests/evm/e2e_evm_bad.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
set -euo pipefail

. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/lib.sh"
e2e_setup evm-bad "${1:-}"

# Every port is chosen up front, the P2P listener's too (its default,
# 0.0.0.0:7676, is fixed and may be taken by another test).
read -r P_DA P_A P_P2P < <(free_ports 3)
DA="http://127.0.0.1:$P_DA"
# No P2P (empty listen address): nothing binds the default port 7676.
COMMON=(--evnode.da.address "$DA" --evnode.da.block_time 300ms
        --evnode.node.block_time 2s --evnode.log.level info
        --evnode.p2p.listen_address ""
        --evnode.rpc.address "127.0.0.1:$P_A"
        --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_P2P"
        --evnode.signer.passphrase_file "$W/pass")

# refused WHAT PATTERN FLAGS...: blockv2 start exits non-zero within 120 s
# and its error ("blockv2 start: ...") matches PATTERN (case-insensitive).
refused() {
  local what=$1 pattern=$2 rc=0; shift 2
  timeout 120 "$BIN" start --home "$W/a" "${COMMON[@]}" "$@" >"$W/refused.log" 2>&1 || rc=$?
  cat "$W/refused.log" >>"$W/a.log"
  [ "$rc" -ne 0 ] || fail "$what: blockv2 start succeeded"
  [ "$rc" -ne 124 ] || fail "$what: blockv2 start still ran after 120 s"
  grep '^blockv2 start: ' "$W/refused.log" | grep -Eiq "$pattern" ||
    fail "$what: no error matching /$pattern/ in: $(tail -5 "$W/refused.log")"
  echo "    $what: $(grep '^blockv2 start: ' "$W/refused.log" | tail -1)"
}

nothing_committed() { # nothing_committed EL
  local h
  h=$("$BIN" store inspect --home "$W/a" |
      python3 -c 'import sys,json; print(json.load(sys.stdin)["height"] or 0)') ||
    fail "blockv2 store inspect failed"
  [ "$h" = 0 ] || fail "blockv2's store holds height $h"
  [ "$(el_height "$1")" = 0 ] || fail "EL $1 holds blocks"
}

step "EL c on ev-node's EVM test genesis, EL d on another chain (one more funded account)"
python3 - "$EVM_GENESIS" "$W/other-genesis.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
g["alloc"]["0x00000000000000000000000000000000000b10c2"] = {"balance": "0x1"}
json.dump(g, open(sys.argv[2], "w"), indent=2)
PY
el_start elc
el_start eld --genesis "$W/other-genesis.json"
[ "$EL_elc_GENESIS_HASH" != "$EL_eld_GENESIS_HASH" ] || fail "same genesis for both chains"

step "init an aggregator home; da serve"
printf 'evm-passphrase\n' >"$W/pass"
"$BIN" init --home "$W/a" --chain-id evm-bad \
  --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
  --evnode.da.namespace evmb-h --evnode.da.data_namespace evmb-d >"$W/init.log"
da_serve "$P_DA" --block-time 200ms

step "a wrong JWT secret is refused (401), naming the secret"
"$EVM_DIR/el.sh" jwt "$W/wrong.jwt"
el_flags elc "$W/wrong.jwt"
refused "wrong JWT secret" "401.*JWT" "${EVM_FLAGS[@]}"
nothing_committed elc

step "an EL on another chain is refused, naming the genesis hash"
el_flags eld "$W/eld.jwt" "$EL_elc_GENESIS_HASH"
refused "EL on another chain" "genesis block is .* but evm.genesis_hash is" "${EVM_FLAGS[@]}"
nothing_committed eld

step "the same home with the right EL and secret makes blocks"
el_flags elc
"$BIN" start --home "$W/a" "${COMMON[@]}" "${EVM_FLAGS[@]}" >>"$W/a.log" 2>&1 &
PIDS+=($!)
NODE=$!
wait_height "$P_A" 3 120
[ "$(el_height elc)" -ge 3 ] || fail "EL c did not follow"
kill -TERM "$NODE"
wait "$NODE" || fail "the node exited with an error on SIGTERM"

step "that home, now with blocks, pointed at the other chain's EL is refused"
H=$("$BIN" store inspect --home "$W/a" | python3 -c 'import sys,json; print(json.load(sys.stdin)["height"])')
el_flags eld
refused "a chain with blocks on another chain's EL" "another chain" "${EVM_FLAGS[@]}"
[ "$(el_height eld)" = 0 ] || fail "EL d was given blocks"
H2=$("$BIN" store inspect --home "$W/a" | python3 -c 'import sys,json; print(json.load(sys.stdin)["height"])')
[ "$H2" = "$H" ] || fail "the store moved from $H to $H2"
# A sanitizer build reports into blockv2's logs even when it exits with the
# expected error.
if grep -l "ThreadSanitizer\|AddressSanitizer\|LeakSanitizer\|runtime error:" \
    "$W"/*.log; then
  fail "sanitizer report in the logs above"
fi
echo "e2e_evm_bad: OK"
