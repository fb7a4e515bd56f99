#!/usr/bin/env bash
# The run command: installs what is missing, builds a release binary, and
# runs the node's main job on embedded defaults.
#
# Until the node (issue "The node") lands, the main job is: print the
# version and decode the sample blocks in samples/ with `blockv2 inspect`.
# Once `blockv2 start --dev` exists this script runs it instead.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
if [ ! -d build-release ]; then
  meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release >/dev/null
bin=build-release/cmd/blockv2

if "$bin" help 2>/dev/null | grep -qE '^\s+start\s'; then
  exec "$bin" start --dev "$@"
fi

"$bin" version
echo "--- blockv2 inspect --hex samples/signed_header_v10.hex"
"$bin" inspect --hex samples/signed_header_v10.hex
echo "--- blockv2 inspect --hex samples/signed_data_v17.hex"
"$bin" inspect --hex samples/signed_data_v17.hex
