#!/usr/bin/env bash
# Quick start with the EVM executor: an execution client and a blockv2 dev
# aggregator driving it through the Engine API.
#
#   scripts/run-evm.sh [--reset] [--evnode.<key> VALUE ...]
#
# The execution client is ethereumjs from tests/evm (npm, pinned) with the
# test preload that adds ev-reth's two extensions, started on ev-node's EVM
# test genesis (a funded account: tests/evm/README.md) by tests/evm/el.sh in
# ./.blockv2-dev-evm-el (its chain, JWT secret and log; the same ports on
# every start). blockv2 runs `start --dev --evm` in ./.blockv2-dev-evm with
# its built-in local DA server. Ctrl-C stops both; run the same command to
# continue, --reset starts both over. Send transactions to the client's
# eth port with eth_sendRawTransaction (e.g. `node tests/evm/tx.mjs send
# --eth URL --to 0x... --count 3`). With ev-reth instead, start blockv2
# with ev-node's flags: docs/EXECUTION.md "EVM executor".
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_HOME=.blockv2-dev-evm
EL_HOME=.blockv2-dev-evm-el

reset=false
args=()
for a in "$@"; do
  if [ "$a" = --reset ]; then reset=true; else args+=("$a"); fi
done

scripts/bootstrap.sh
scripts/npm-ci.sh install tests/evm
if [ ! -d build-release ]; then
  meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release cmd/blockv2 >/dev/null
bin=build-release/cmd/blockv2

if $reset; then
  [ -d "$EL_HOME/el" ] && tests/evm/el.sh stop "$EL_HOME/el" >/dev/null 2>&1 || true
  rm -rf "$NODE_HOME" "$EL_HOME"
fi
mkdir -p "$EL_HOME"
[ -f "$EL_HOME/jwt.hex" ] || tests/evm/el.sh jwt "$EL_HOME/jwt.hex"
tests/evm/el.sh start --genesis tests/evm/genesis/evnode-test.json \
  --jwt "$EL_HOME/jwt.hex" --dir "$EL_HOME/el" >"$EL_HOME/el.env"
# shellcheck disable=SC1090,SC1091
. "$EL_HOME/el.env"
trap 'tests/evm/el.sh stop "$EL_HOME/el" >/dev/null 2>&1 || true' EXIT
echo "execution client: ethereumjs, engine $ENGINE_URL, eth $ETH_URL (log $EL_HOME/el/el.log)"
"$bin" start --dev --evm --home "$NODE_HOME" \
  --evm.engine-url "$ENGINE_URL" --evm.eth-url "$ETH_URL" \
  --evm.jwt-secret-file "$EL_HOME/jwt.hex" \
  --evm.genesis-hash "$GENESIS_HASH" ${args[@]+"${args[@]}"}
