#!/usr/bin/env bash
# The run command: installs what is missing, builds a release binary, and
# runs the node's main job on embedded defaults.
#
# The main job is `blockv2 start --dev`: an aggregator with the KV executor,
# the built-in local DA server and the RPC in ./.blockv2-dev (extra
# arguments are passed on, e.g. --reset). Builds without the node command
# fall back to decoding the samples.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
if [ ! -d build-release ]; then
  meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release cmd/blockv2 >/dev/null
bin=build-release/cmd/blockv2

if "$bin" help 2>/dev/null | grep -qE '^\s+start\s'; then
  exec "$bin" start --dev "$@"
fi

"$bin" version
echo "--- blockv2 inspect --hex samples/signed_header_v10.hex"
"$bin" inspect --hex samples/signed_header_v10.hex
echo "--- blockv2 inspect --hex samples/signed_data_v17.hex"
"$bin" inspect --hex samples/signed_data_v17.hex
