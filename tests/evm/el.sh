#!/usr/bin/env bash
# The test execution client's launcher (ethereumjs + preload.mjs): see
# el.mjs for the commands and README.md for how tests and developers use it.
#   tests/evm/el.sh start --genesis FILE --jwt FILE --dir DIR [--timeout S]
#   tests/evm/el.sh stop DIR [--timeout S]
#   tests/evm/el.sh jwt FILE
set -euo pipefail
command -v node >/dev/null 2>&1 ||
  { echo "el: node is not installed (scripts/bootstrap.sh installs it)" >&2; exit 1; }
exec node "$(dirname "$(readlink -f "$0")")/el.mjs" "$@"
