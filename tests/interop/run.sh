#!/usr/bin/env bash
# Runs one interop test file with node's test runner (meson suite
# `interop`). Usage: run.sh <file.test.mjs>; BM_INTEROP_REMOTE (c|js) and
# BM_P2P_PEER (the C control peer) come from tests/interop/meson.build.
#
# Needs Node >= 20 (the node on PATH, or the one scripts/node-env.sh
# installed into .tools/node, put first on PATH here) and node_modules
# installed from package-lock.json (scripts/test.sh runs install.sh).
# Without them a developer's run is skipped (exit 77) with a message; under
# CI (CI set) it fails instead, so a broken install never passes silently.
set -u
cd "$(dirname "$0")"
. ../../scripts/node-env.sh

missing() {
  if [ -n "${CI:-}" ]; then
    echo "interop: FAIL: $1 (CI must run these tests)"
    exit 1
  fi
  echo "interop: SKIP: $1"
  exit 77
}

bm_node_env || true # npm-ci.sh check says why not
if ! why=$(../../scripts/npm-ci.sh check .); then
  missing "$why"
fi
exec node --import ./polyfill.mjs --test --test-reporter=spec "$@"
