# Shared by the end-to-end scripts (source it after `set -euo pipefail`):
#   e2e_setup NAME [path/to/blockv2]  sets BIN, W (a temp dir removed on
#       exit), PIDS (killed on exit) and STEP; on failure the logs in $W
#       are shown.
#   step TEXT, fail TEXT, wait_until SECONDS WHAT COMMAND...,
#   free_ports N (prints N kernel-chosen free ports on 127.0.0.1),
#   da_serve PORT [flags] (`blockv2 da serve` on 127.0.0.1:PORT with its
#       home in $W/da and its log in $W/da.log, waited for).

e2e_setup() { # e2e_setup NAME [BIN]
  E2E_NAME=$1
  BIN=${2:-${BM_BLOCKV2_EXE:-build/cmd/blockv2}}
  BIN=$(readlink -f "$BIN")
  # BM_E2E_TMPDIR (default /tmp): e.g. /dev/shm, to run on a tmpfs.
  W=$(mktemp -d "${BM_E2E_TMPDIR:-/tmp}/bm-$E2E_NAME-XXXXXX")
  PIDS=()
  STEP=0
  trap e2e_cleanup EXIT
}

e2e_cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "--- $E2E_NAME failed at step $STEP; last log lines:"
    for f in "$W"/*.log; do echo "== $f"; tail -15 "$f"; done
  fi
  rm -rf "$W"
}

step() { STEP=$((STEP + 1)); echo "[$STEP] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

wait_until() { # wait_until SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out after ${t}s waiting for $what"
    sleep 0.2
  done
}

free_ports() { # free_ports N
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

da_serve() { # da_serve PORT [extra flags]
  local port=$1; shift
  "$BIN" da serve --listen "127.0.0.1:$port" --home "$W/da" "$@" \
    >"$W/da.log" 2>&1 &
  PIDS+=($!)
  wait_until 20 "DA server" curl -sf -m 2 -d \
    '{"jsonrpc":"2.0","id":1,"method":"header.NetworkHead","params":[]}' \
    -H 'Content-Type: application/json' "http://127.0.0.1:$port"
}
