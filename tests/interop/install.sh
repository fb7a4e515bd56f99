#!/usr/bin/env bash
# Installs tests/interop/node_modules from package-lock.json: `npm ci`, only
# when it is missing or the lockfile changed (scripts/npm-ci.sh install).
# The pinned js-libp2p stack needs Node >= 20: when the node on PATH is
# older (Debian 12's is 18), the pinned Node of scripts/node-env.sh goes
# into .tools/node first. Exits non-zero when node/npm are missing, that
# install fails, or npm ci fails: scripts/test.sh then counts a failure.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
exec "$here/../../scripts/npm-ci.sh" install "$here"
