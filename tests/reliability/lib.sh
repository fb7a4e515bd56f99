# Shared helpers of the reliability scenarios (tests/reliability/README.md
# lists them; source this file after `set -euo pipefail`). Built on
# tests/e2e/lib.sh (step, fail, wait_until, free_ports).
#
# State lives in $W: nodes/<name>/{role,rpc,p2p,pid} (the registry the
# Python helpers read), <name>.log, load/, monitor.csv, check.json.

REL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REL_PY="$REL_DIR/py"
# shellcheck source=tests/e2e/lib.sh
. "$REL_DIR/../e2e/lib.sh"

# Block times of every node the suite starts (the e2e tests' values).
REL_NODE_FLAGS=(--evnode.node.block_time 100ms --evnode.da.block_time 300ms
                --evnode.log.level info)

rel_setup() { # rel_setup NAME [--short|--full]
  REL_NAME=$1; shift
  REL_MODE=short
  for a in "$@"; do
    case "$a" in
      --short) REL_MODE=short ;;
      --full) REL_MODE=full ;;
      *) echo "usage: $0 [--short|--full]" >&2; exit 2 ;;
    esac
  done
  # The binary: $BM_BLOCKV2_EXE, else the build next to this tree (so a
  # scenario runs from any directory).
  e2e_setup "rel-$REL_NAME" \
    "${BM_BLOCKV2_EXE:-$REL_DIR/../../build/cmd/blockv2}"
  [ -x "$BIN" ] || { echo "no blockv2 binary at $BIN" >&2; exit 2; }
  REL_RUNS=0
  REL_FAULTS=0
  REL_RESULT_DONE=0
  REL_MOUNTS=()
  REL_EXTRA_FAIL=""
  mkdir -p "$W/nodes" "$W/load"
  printf 'rel-passphrase\n' >"$W/pass"
  trap rel_cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
}

rel_short() { [ "$REL_MODE" = short ]; }
rel_fault() { REL_FAULTS=$((REL_FAULTS + ${1:-1})); }
rel_run() { REL_RUNS=$((REL_RUNS + ${1:-1})); }

rel_cleanup() {
  local rc=$? p m
  trap - EXIT TERM INT
  for p in "${PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    {
      echo "--- $REL_NAME failed (exit $rc) at step $STEP; last log lines:"
      for f in "$W"/*.log; do
        [ -f "$f" ] || continue
        echo "== $f"
        tail -15 "$f"
      done
    } >&2
  fi
  for m in "${REL_MOUNTS[@]}"; do
    umount -l "$m" 2>/dev/null || true
  done
  if [ "$REL_RESULT_DONE" -eq 0 ]; then
    if [ "$rc" -eq 77 ]; then
      rel_result skip
    else
      rel_result fail
    fi
  fi
  if [ -n "${REL_KEEP:-}" ]; then
    echo "kept $W (REL_KEEP)" >&2
  else
    rm -rf "$W"
  fi
  exit "$rc"
}

# ---------------------------------------------------------------- ports

# rel_alloc NAME... : one kernel-chosen port per name, all in one call
# (a port chosen earlier cannot be handed out again while its owner is
# briefly down); sets P_<NAME>.
rel_alloc() {
  local ports i=0 n
  read -r -a ports < <(free_ports $#)
  for n in "$@"; do
    eval "P_$n=${ports[$i]}"
    i=$((i + 1))
  done
}

# ---------------------------------------------------------------- chain

# rel_chain [FOLLOWER...]: homes $W/a (aggregator) and $W/<follower>; the
# ports of the DA server, of every node's RPC and P2P listener, chosen at
# once. Sets ID_A (the aggregator's P2P node ID), DA_URL.
rel_chain() {
  local f names=(DA a_rpc a_p2p)
  for f in "$@"; do names+=("${f}_rpc" "${f}_p2p"); done
  rel_alloc "${names[@]}"
  DA_URL="http://127.0.0.1:$P_DA"
  "$BIN" init --home "$W/a" --chain-id "rel-$REL_NAME" \
    --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
    --evnode.da.namespace "rel-$REL_NAME-h" \
    --evnode.da.data_namespace "rel-$REL_NAME-d" >"$W/init.log"
  for f in "$@"; do
    "$BIN" init --home "$W/$f" --genesis "$W/a/config/genesis.json" \
      --evnode.da.namespace "rel-$REL_NAME-h" \
      --evnode.da.data_namespace "rel-$REL_NAME-d" >>"$W/init.log"
  done
  ID_A=$("$BIN" keys show --home "$W/a" --evnode.signer.passphrase_file \
    "$W/pass" | python3 -c 'import sys,json; print(json.load(sys.stdin)["node_id"])')
  REL_NS_H="rel-$REL_NAME-h"
  REL_NS_D="rel-$REL_NAME-d"
}

# ---------------------------------------------------------------- DA

rel_da_start() { # rel_da_start [da serve flags]
  "$BIN" da serve --listen "127.0.0.1:$P_DA" --home "$W/da" \
    --block-time 200ms "$@" >>"$W/da.log" 2>&1 &
  PID_DA=$!
  PIDS+=("$PID_DA")
  mkdir -p "$W/nodes/da"
  echo daserver >"$W/nodes/da/role"
  echo "$P_DA" >"$W/nodes/da/rpc"
  echo "$PID_DA" >"$W/nodes/da/pid"
  # No probe call: a probe would count as a call of --outage-after.
  wait_until 20 "DA server listening" grep -q "listening on 127.0.0.1:$P_DA" \
    "$W/da.log"
}

rel_da_kill() { # rel_da_kill [SIG]
  kill "-${1:-9}" "$PID_DA" 2>/dev/null || true
  wait "$PID_DA" 2>/dev/null || true
  echo 0 >"$W/nodes/da/pid"
  # The next start must not find the old "listening" line first.
  mv "$W/da.log" "$W/da.log.$(date +%s%N).old"
}

rel_da_stop() {
  kill -TERM "$PID_DA"
  wait "$PID_DA" || fail "DA server exited with an error on SIGTERM"
  echo 0 >"$W/nodes/da/pid"
  mv "$W/da.log" "$W/da.log.$(date +%s%N).old"
}

# ---------------------------------------------------------------- nodes

rel_port() { cat "$W/nodes/$1/rpc"; }
rel_node_pid() { cat "$W/nodes/$1/pid"; }
rel_nodes() { # node names (not the DA server), aggregator first
  local n
  [ -d "$W/nodes/a" ] && echo a
  for n in "$W"/nodes/*; do
    n=${n##*/}
    [ "$n" = a ] || [ "$n" = da ] || echo "$n"
  done
}

# rel_node_start NAME ROLE [flags]: ROLE agg | da | p2p | p2ponly. Flags
# after the role's own override them (the last occurrence of a key wins),
# e.g. --evnode.da.address through a proxy. REL_NOWAIT=1: do not wait for
# /health/live.
rel_node_start() {
  local name=$1 role=$2 rpc p2p pid; shift 2
  eval "rpc=\${P_${name}_rpc}; p2p=\${P_${name}_p2p}"
  local flags=("${REL_NODE_FLAGS[@]}" --evnode.rpc.address "127.0.0.1:$rpc")
  case "$role" in
    agg) flags+=(--evnode.signer.passphrase_file "$W/pass"
                 --evnode.da.address "$DA_URL"
                 --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$p2p") ;;
    da) flags+=(--evnode.da.address "$DA_URL"
                --evnode.p2p.listen_address "" --evnode.p2p.peers "") ;;
    p2p) flags+=(--evnode.da.address "$DA_URL"
                 --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$p2p"
                 --evnode.p2p.peers "/ip4/127.0.0.1/tcp/$P_a_p2p/p2p/$ID_A") ;;
    p2ponly) flags+=(--evnode.da.address ""
                 --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$p2p"
                 --evnode.p2p.peers "/ip4/127.0.0.1/tcp/$P_a_p2p/p2p/$ID_A") ;;
    *) fail "rel_node_start: unknown role $role" ;;
  esac
  echo "--- start $(date +%T.%N) ---" >>"$W/$name.log"
  "$BIN" start --home "$W/$name" "${flags[@]}" "$@" >>"$W/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  mkdir -p "$W/nodes/$name"
  echo "$role" >"$W/nodes/$name/role"
  echo "$rpc" >"$W/nodes/$name/rpc"
  echo "$pid" >"$W/nodes/$name/pid"
  [ -n "${REL_NOWAIT:-}" ] ||
    wait_until 60 "$name RPC" curl -sf -m 2 "http://127.0.0.1:$rpc/health/live"
}

# rel_node_kill NAME [SIG]: signal (default KILL) and reap.
rel_node_kill() {
  local pid; pid=$(rel_node_pid "$1")
  kill "-${2:-9}" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo 0 >"$W/nodes/$1/pid"
}

# rel_node_stop NAME: SIGTERM; the node must exit 0.
rel_node_stop() {
  local pid rc=0; pid=$(rel_node_pid "$1")
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  echo 0 >"$W/nodes/$1/pid"
  [ "$rc" -eq 0 ] || fail "node $1 exited with status $rc on SIGTERM"
}

rel_status() { # rel_status NAME FIELD -> value or ""
  curl -sf -m 5 "http://127.0.0.1:$(rel_port "$1")/status" 2>/dev/null |
    python3 -c "import sys,json; print(json.load(sys.stdin)['$2'])" \
      2>/dev/null || true
}
rel_height() { local h; h=$(rel_status "$1" height); echo "${h:-0}"; }

# rel_store_check NAME: `blockv2 store check` of a stopped node's home.
rel_store_check() {
  "$BIN" store check --home "$W/$1" >"$W/check-$1.out" 2>&1 ||
    fail "store check of $1: $(cat "$W/check-$1.out")"
}

# rel_converge SECONDS: every running node reaches the aggregator's height.
rel_converge() {
  local t=$1 n h
  h=$(rel_height a)
  for n in $(rel_nodes); do
    [ "$(rel_node_pid "$n")" != 0 ] || continue
    wait_until "$t" "$n at height $h" \
      bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$(rel_port "$n")/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $h ]"
  done
}

# ---------------------------------------------------------------- load

# rel_load_start [load.py flags]: clients against the aggregator.
rel_load_start() {
  rm -f "$W/load/stop"
  python3 "$REL_PY/load.py" --rpc "127.0.0.1:$P_a_rpc" --dir "$W/load" "$@" \
    >>"$W/load.log" 2>&1 &
  REL_LOAD_PID=$!
  PIDS+=("$REL_LOAD_PID")
}

# rel_load_stop: the clients finish their pending txs (bounded) and exit;
# an unexpected status (400, 413, ...) fails the scenario.
rel_load_stop() {
  touch "$W/load/stop"
  wait "$REL_LOAD_PID" || fail "tx clients: $(tail -5 "$W/load.log")"
}

# ---------------------------------------------------------------- monitor

rel_monitor_start() { # rel_monitor_start [monitor.py flags]
  python3 "$REL_PY/monitor.py" --dir "$W" "$@" >>"$W/monitor.log" 2>&1 &
  REL_MON_PID=$!
  PIDS+=("$REL_MON_PID")
}

rel_monitor_stop() {
  kill -TERM "$REL_MON_PID" 2>/dev/null || true
  wait "$REL_MON_PID" 2>/dev/null || true
  rel_monitor_ok
}

# rel_monitor_ok: no height went backwards so far.
rel_monitor_ok() {
  python3 - "$W/monitor.json" <<'EOF' || fail "height went backwards: $(cat "$W/monitor.json")"
import json, sys
try:
    m = json.load(open(sys.argv[1]))
except FileNotFoundError:
    sys.exit(0)
sys.exit(1 if m.get("backwards") else 0)
EOF
}

# ---------------------------------------------------------------- checks

# rel_check_chain [--incremental] [check.py flags]: see py/check.py.
rel_check_chain() {
  python3 "$REL_PY/check.py" --dir "$W" "$@" >>"$W/check.log" 2>&1 || {
    tail -20 "$W/check.log" >&2
    fail "chain check: $(tail -1 "$W/check.log")"
  }
  tail -1 "$W/check.log"
}

# rel_da_check [dacheck.py flags]: every block on DA exactly once per
# namespace, DA-included height at the tip.
rel_da_check() {
  python3 "$REL_PY/dacheck.py" --dir "$W" --da "$DA_URL" \
    --ns-header "$REL_NS_H" --ns-data "$REL_NS_D" "$@" \
    >>"$W/dacheck.log" 2>&1 || {
    tail -20 "$W/dacheck.log" >&2
    fail "DA check: $(tail -1 "$W/dacheck.log")"
  }
  tail -1 "$W/dacheck.log"
}

# ---------------------------------------------------------------- proxy

# rel_proxy_start NAME TARGET_PORT: a TCP forwarder on 127.0.0.1; sets
# PROXY_PORT (and P_<NAME>_proxy).
rel_proxy_start() {
  local name=$1 target=$2 pid
  rel_alloc "${name}_proxy"
  eval "PROXY_PORT=\$P_${name}_proxy"
  python3 "$REL_PY/proxy.py" --listen "$PROXY_PORT" --target "$target" \
    >>"$W/proxy-$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  eval "REL_PROXY_$name=$pid"
  wait_until 10 "proxy $name" grep -q "forwarding" "$W/proxy-$name.log"
}
rel_proxy_pid() { eval "echo \$REL_PROXY_$1"; }
# cut: every connection reset, new ones reset at once
rel_proxy_cut() { kill -USR1 "$(rel_proxy_pid "$1")"; }
# stall: nothing forwarded (bytes wait in kernel buffers, new connections
# wait in the backlog), as during a partition that TCP rides out
rel_proxy_stall() { kill -STOP "$(rel_proxy_pid "$1")"; }
rel_proxy_heal() {
  kill -CONT "$(rel_proxy_pid "$1")"
  kill -USR2 "$(rel_proxy_pid "$1")"
}

# ---------------------------------------------------------------- result

_rel_json() { # _rel_json FILE EXPR(over j) DEFAULT
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print(int(eval(sys.argv[2])))
except Exception:
    print(sys.argv[3])
EOF
}

# rel_result [pass|fail|skip]: the RESULT line, last on stdout. A pass
# also needs 0 lost / twice / invalid and no height backwards.
rel_result() {
  local st=${1:-pass} blocks sent lost twice inv rss lag back
  REL_RESULT_DONE=1
  blocks=$(_rel_json "$W/check.json" 'j["height"]' 0)
  sent=$(_rel_json "$W/load/summary.json" 'j["sent"]' 0)
  lost=$(_rel_json "$W/check.json" 'j["lost"]' 0)
  twice=$(_rel_json "$W/check.json" 'j["twice"]' 0)
  inv=$(_rel_json "$W/check.json" 'j["invalid"]' 0)
  inv=$((inv + ${REL_INVALID_EXTRA:-0}))
  rss=$(_rel_json "$W/monitor.json" 'j["max_rss_kb"]' 0)
  lag=$(_rel_json "$W/monitor.json" 'j["max_lag"]' 0)
  back=$(_rel_json "$W/monitor.json" 'len(j["backwards"])' 0)
  if [ "$st" = pass ] &&
     { [ "$lost" -ne 0 ] || [ "$twice" -ne 0 ] || [ "$inv" -ne 0 ] ||
       [ "$back" -ne 0 ]; }; then
    st=fail
  fi
  echo "RESULT scenario=$REL_NAME runs=$REL_RUNS faults=$REL_FAULTS" \
    "blocks=$blocks txs_sent=$sent txs_lost=$lost txs_twice=$twice" \
    "invalid_applied=$inv max_rss_kb=$rss max_lag=$lag status=$st"
  [ "$st" != fail ]
}
