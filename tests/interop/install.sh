#!/usr/bin/env bash
# Installs tests/interop/node_modules from package-lock.json with `npm ci`,
# only when it is missing or the lockfile changed (a stamp in node_modules
# records the lockfile's hash). Exits non-zero when node/npm are missing or
# too old, or npm fails: scripts/test.sh then counts a failure.
set -euo pipefail
cd "$(dirname "$0")"
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.blockv2-lock.sha256 2>/dev/null || true)" = "$want" ]; then
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "interop install: $tool is missing (scripts/bootstrap.sh installs Debian's nodejs and npm)" >&2
    exit 1
  fi
done
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "interop install: node $(node --version) is too old; the pinned js-libp2p stack needs Node >= 20" >&2
  exit 1
fi
rm -f node_modules/.blockv2-lock.sha256
npm ci --no-audit --no-fund
echo "$want" >node_modules/.blockv2-lock.sha256
