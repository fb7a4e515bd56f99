#!/usr/bin/env bash
# HA acceptance runs (issue 18), manual: a 3-member etcd, a local DA
# server and 3 blockv2 candidates on 127.0.0.1 under a tx load; the leader
# killed with SIGKILL KILLS times, stopped with SIGSTOP for 3 x TTL, etcd
# stopped and started; then no fork on any node or on DA, no tx answered
# 202 lost or applied twice. Prints one table; exits 1 on a failed check
# (a stalled failover is a failure, reported as such). The checks and the
# table are described in tests/ha/acceptance.py and docs/HA.md.
#
# usage: tests/ha/acceptance.sh [path/to/blockv2] [acceptance.py flags]
#   KILLS=10 TTL=2 BLOCK_MS=1000 STEPS=tabc   (defaults; t: POST /tx to a follower)
#   bench/ha_failover.sh runs it with KILLS=20 STEPS=a (failover times).
# Takes about 3-4 minutes with the defaults (needs etcd: Debian etcd-server).
# STEPS=t is the short form meson runs in the plain build
# (ha_acceptance_short, about 15 s): the cluster, the load, a POST /tx to
# each follower refused naming the leader, and the end checks.
set -euo pipefail
BIN=${1:-${BM_BLOCKV2_EXE:-build/cmd/blockv2}}
[ $# -gt 0 ] && shift
ETCD=${BM_ETCD:-$(command -v etcd || true)}
if [ -z "$ETCD" ]; then
  echo "acceptance: etcd not found (Debian etcd-server, scripts/bootstrap.sh)" >&2
  [ -n "${CI:-}" ] && exit 1   # CI has it: a missing etcd is a failure there
  exit 77
fi
[ -x "$BIN" ] || { echo "acceptance: $BIN is not built" >&2; exit 2; }
exec python3 "$(dirname "$0")/acceptance.py" --bin "$BIN" --etcd "$ETCD" \
  --kills "${KILLS:-10}" --ttl "${TTL:-2}" --block-ms "${BLOCK_MS:-1000}" \
  --steps "${STEPS:-tabc}" "$@"
