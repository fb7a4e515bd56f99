#!/usr/bin/env bash
# meson's entry for suite `evm`: run.sh FILE [ARGS]. A `.test.mjs` file runs
# under node's test runner; anything else (the e2e scripts) is executed
# with ARGS.
#
# Needs Node >= 20 and node_modules installed from package-lock.json
# (scripts/test.sh runs scripts/npm-ci.sh install tests/evm). Without them
# a developer's run is skipped (exit 77) with the reason; under CI (CI set)
# it fails instead, so a broken install never passes silently.
set -u
here=$(dirname "$(readlink -f "$0")")
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
