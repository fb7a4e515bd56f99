#!/usr/bin/env bash
# Installs the Debian 12 packages blockv2 needs to build and test, if any
# are missing. Safe to re-run: it only calls apt-get when something is
# missing. Needs root (or sudo) for the install step.
set -euo pipefail

PKGS=(
  gcc pkg-config meson ninja-build python3
  protobuf-c-compiler libprotobuf-c-dev
  libsodium-dev liblmdb-dev lmdb-utils libjson-c-dev libcurl4-openssl-dev
  libmicrohttpd-dev libzmq3-dev libcyaml-dev libcmocka-dev libargon2-dev
  libssl-dev
  etcd-server
)
# Optional extras: BM_BOOTSTRAP_EXTRA="clang libclang-rt-14-dev" for fuzzing.
if [ -n "${BM_BOOTSTRAP_EXTRA:-}" ]; then
  read -r -a extra <<<"$BM_BOOTSTRAP_EXTRA"
  PKGS+=("${extra[@]}")
fi

# The interop tests (tests/interop) need node and npm: Debian's packages
# when they are absent. They need Node >= 20; Debian 12's nodejs is 18, and
# tests/interop/install.sh says so and fails if that is what is there.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
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
