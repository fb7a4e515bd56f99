#!/usr/bin/env bash
# meson's entry for suite `evm`: run.sh FILE [ARGS]. A `.test.mjs` file runs
# under node's test runner; anything else (the e2e scripts) is executed
# with ARGS.
#
# Needs Node >= 20 (on PATH, or .tools/node) and node_modules installed
# from package-lock.json (scripts/test.sh runs scripts/npm-ci.sh install
# tests/evm). Without them a developer's run is skipped (exit 77) with the
# reason; under CI (CI set) it fails instead, so a broken install never
# passes silently.
set -u
here=$(dirname "$(readlink -f "$0")")
# Node >= 20 first on PATH for node, el.sh and tx.mjs (.tools/node when the
# node on PATH is older: scripts/node-env.sh).
. "$here/../../scripts/node-env.sh"
bm_node_env || true # npm-ci.sh check says why not
if ! why=$("$here/../../scripts/npm-ci.sh" check "$here"); then
  if [ -n "${CI:-}" ]; then
    echo "evm: FAIL: $why (CI must run these tests)"
    exit 1
  fi
  echo "evm: SKIP: $why"
  exit 77
fi
file=$1
shift
case "$file" in
  *.test.mjs) exec node --test-reporter=spec "$here/$file" "$@" ;;
  *) exec "$here/$file" "$@" ;;
esac
