#!/usr/bin/env bash
# Runs one interop test file with node's test runner (meson suite
# `interop`). Usage: run.sh <file.test.mjs>; BM_INTEROP_REMOTE (c|js) and
# BM_P2P_PEER (the C control peer) come from tests/interop/meson.build.
#
# Needs Node >= 20 and node_modules installed from package-lock.json
# (scripts/test.sh runs `npm ci`). Without them a developer's run is
# skipped (exit 77) with a message; under CI (CI set) it fails instead, so
# a broken install never passes silently.
set -u
cd "$(dirname "$0")"

missing() {
  if [ -n "${CI:-}" ]; then
    echo "interop: FAIL: $1 (CI must run these tests)"
    exit 1
  fi
  echo "interop: SKIP: $1"
  exit 77
}

if ! command -v node >/dev/null 2>&1; then
  missing "node is not installed (scripts/bootstrap.sh installs Debian's nodejs and npm)"
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  missing "node $(node --version) is too old: the pinned js-libp2p stack needs Node >= 20"
fi
want=$(sha256sum package-lock.json | cut -d' ' -f1)
have=$(cat node_modules/.blockv2-lock.sha256 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  missing "tests/interop/node_modules is missing or older than package-lock.json (run tests/interop/install.sh)"
fi
exec node --import ./polyfill.mjs --test --test-reporter=spec "$@"
