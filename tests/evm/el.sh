#!/usr/bin/env bash
# The test execution client's launcher (ethereumjs + preload.mjs): see
# el.mjs for the commands and README.md for how tests and developers use it.
#   tests/evm/el.sh start --genesis FILE --jwt FILE --dir DIR [--timeout S]
#   tests/evm/el.sh stop DIR [--timeout S]
#   tests/evm/el.sh jwt FILE
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../../scripts/node-env.sh" # Node >= 20: .tools/node if older
bm_node_env || { echo "el: $BM_NODE_WHY" >&2; exit 1; }
exec node "$here/el.mjs" "$@"
