#!/usr/bin/env bash
# Installs tests/interop/node_modules from package-lock.json with `npm ci`,
# only when it is missing or the lockfile changed (a stamp in node_modules
# records the lockfile's hash). The pinned js-libp2p stack needs Node >= 20:
# when the node on PATH is older (Debian 12's is 18), scripts/node-env.sh
# installs the pinned Node into .tools/node and puts it first on PATH.
# Exits non-zero when node/npm are missing, that install fails, or npm ci
# fails: scripts/test.sh then counts a failure.
set -euo pipefail
cd "$(dirname "$0")"
. ../../scripts/node-env.sh
if ! bm_node_ensure; then
  echo "interop install: $BM_NODE_WHY" >&2
  exit 1
fi
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.blockv2-lock.sha256 2>/dev/null || true)" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "interop install: npm is missing (scripts/bootstrap.sh installs Debian's nodejs and npm)" >&2
  exit 1
fi
rm -f node_modules/.blockv2-lock.sha256
npm ci --no-audit --no-fund
echo "$want" >node_modules/.blockv2-lock.sha256
