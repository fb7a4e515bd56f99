#!/usr/bin/env bash
# node_modules for a node test suite (a directory with package.json and
# package-lock.json: tests/evm, tests/interop), shared by their install and
# run steps.
#
#   scripts/npm-ci.sh install DIR   `npm ci` in DIR unless DIR/node_modules
#       was installed from the current lockfile (a stamp in node_modules
#       records the lockfile's hash). Exits non-zero, saying why, when node
#       or npm is missing or older than package.json's "engines.node"
#       (">=N"), or npm fails: scripts/test.sh then counts a failure.
#   scripts/npm-ci.sh check DIR     exits 0 when node is new enough and
#       DIR/node_modules matches the lockfile; otherwise prints the reason
#       on one line and exits 1 (run scripts use it to skip, or fail in CI).
# Node >= 20 where the node on PATH is older (Debian 12's is 18): install
# puts the pinned Node of scripts/node-env.sh into .tools/node first; both
# modes then use it. A run script sources scripts/node-env.sh and calls
# bm_node_env itself, so that its own `node` is that one too.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 install|check DIR" >&2; exit 2; }
mode=$1
dir=$(cd "$2" && pwd)
name=${dir#"$(cd "$(dirname "$0")/.." && pwd)/"}
stamp="$dir/node_modules/.blockv2-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
need=$(sed -n 's/.*"node": *">= *\([0-9][0-9]*\).*/\1/p' "$dir/package.json" | head -1)
. "$(dirname "$0")/node-env.sh"
if [ "$mode" = install ]; then
  bm_node_ensure || { echo "$name install: $BM_NODE_WHY" >&2; exit 1; }
else
  bm_node_env || { echo "$BM_NODE_WHY"; exit 1; }
fi

# Prints why node (and npm, when installing) cannot be used, if so.
unusable() {
  local tools=(node)
  [ "$mode" = install ] && tools+=(npm)
  for tool in "${tools[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$tool is not installed (scripts/bootstrap.sh installs Debian's nodejs and npm)"
      return
    fi
  done
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ -n "$need" ] && [ "$major" -lt "$need" ]; then
    echo "node $(node --version) is too old: $name needs Node >= $need"
  fi
}

why=$(unusable)
case "$mode" in
  check)
    if [ -z "$why" ] && [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
      why="$name/node_modules is missing or older than package-lock.json (run scripts/npm-ci.sh install $name)"
    fi
    [ -z "$why" ] || { echo "$why"; exit 1; }
    ;;
  install)
    [ -z "$why" ] || { echo "$name install: $why" >&2; exit 1; }
    [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] && exit 0
    rm -f "$stamp"
    (cd "$dir" && npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
    ;;
  *) echo "usage: $0 install|check DIR" >&2; exit 2 ;;
esac
