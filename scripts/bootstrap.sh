#!/usr/bin/env bash
# Installs the Debian 12 packages blockv2 needs to build and test, if any
# are missing. Safe to re-run: it only calls apt-get when something is
# missing. Needs root (or sudo) for the install step.
set -euo pipefail

PKGS=(
  gcc pkg-config meson ninja-build python3
  protobuf-c-compiler libprotobuf-c-dev
  libsodium-dev liblmdb-dev lmdb-utils libjson-c-dev libcurl4-openssl-dev
  libmicrohttpd-dev libcyaml-dev libcmocka-dev libargon2-dev
  libssl-dev
  etcd-server
  clang libclang-rt-14-dev
)
# clang and its libFuzzer runtime: scripts/test.sh's fuzz variant and
# scripts/fuzz.sh. Extra packages: BM_BOOTSTRAP_EXTRA="pkg ...".
if [ -n "${BM_BOOTSTRAP_EXTRA:-}" ]; then
  read -r -a extra <<<"$BM_BOOTSTRAP_EXTRA"
  PKGS+=("${extra[@]}")
fi

# The js test suites (tests/interop, tests/evm) need node and npm: Debian's packages
# when they are absent. They need Node >= 20; Debian 12's nodejs is 18, so
# then the pinned Node of scripts/node-fallback goes into .tools/node
# (scripts/node-env.sh; the test scripts put it first on PATH).
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
node_fallback() {
  . "$(dirname "$0")/node-env.sh"
  bm_node_ensure || { echo "bootstrap: $BM_NODE_WHY" >&2; return 1; }
}

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  node_fallback
  exit 0
fi

echo "bootstrap: installing missing packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "bootstrap: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done"
node_fallback
