#!/usr/bin/env bash
# Crash loop (issue 16 item 1): a local DA server, an aggregator (a), a
# DA-only full node (b) and a P2P + DA full node (c, peer of a), under a
# steady tx load (4 clients, 200 tx/s, single and batch form). KILLS times
# (--short 15, --full 100): SIGKILL one of the four processes, chosen at
# random, at a random moment 0.1-2.5 s after the previous restart (1 time
# in 8 again 0-300 ms into its own restart, before it answers), then
# restart it. After every kill and restart:
#  - `blockv2 store check` passes on the killed node's home (before its
#    restart: the home is exactly what the crash left);
#  - no node's height (nor the DA server's) ever went backwards, across
#    restarts too (sampled every 200 ms);
#  - the nodes agree on every common height's block, and no tx is in two
#    blocks (every new block read through GetBlock on every node).
# At the end: every tx answered 202 (or 409 to a resend) is in exactly one
# block, every node has the aggregator's blocks, every block is on DA,
# and after a graceful stop `store check` passes on every home.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
rel_setup crash_loop "$@"
if rel_short; then KILLS=${KILLS:-15}; else KILLS=${KILLS:-100}; fi
SEED=${REL_SEED:-$$}
RANDOM=$SEED

step "chain: DA server, aggregator a, DA-only full node b, P2P + DA full node c (seed $SEED)"
rel_chain b c
start() { # start NAME [nowait]
  case "$1" in
    da) rel_da_start ;;
    a) REL_NOWAIT=${2:-} rel_node_start a agg ;;
    b) REL_NOWAIT=${2:-} rel_node_start b da ;;
    c) REL_NOWAIT=${2:-} rel_node_start c p2p ;;
  esac
}
kill9() { # kill9 NAME
  if [ "$1" = da ]; then rel_da_kill 9; else rel_node_kill "$1" 9; fi
}
start da
start a
start b
start c
rel_monitor_start
rel_load_start --clients 4 --rate 200
wait_until 60 "c at height 10" bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_c_rpc/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge 10 ]"

step "$KILLS times: SIGKILL a random process at a random moment, restart it"
procs=(da a b c)
declare -A nkill=([da]=0 [a]=0 [b]=0 [c]=0)
for i in $(seq 1 "$KILLS"); do
  sleep "$(python3 -c "import random; random.seed($SEED * 1000 + $i); print('%.3f' % random.uniform(0.1, 2.5))")"
  v=${procs[$((RANDOM % 4))]}
  kill9 "$v"
  rel_fault
  nkill[$v]=$((nkill[$v] + 1))
  [ "$v" = da ] || rel_store_check "$v"
  if [ "$v" != da ] && [ $((RANDOM % 8)) -eq 0 ]; then
    # Again during its start-up, before it answers.
    start "$v" nowait
    sleep "$(python3 -c "import random; print('%.3f' % random.uniform(0, 0.3))")"
    kill9 "$v"
    rel_fault
    rel_store_check "$v"
  fi
  start "$v"
  rel_run
  rel_monitor_ok
  r=$(rel_check_chain --incremental)
  echo "    kill $i: $v; heights a $(rel_height a) b $(rel_height b) c $(rel_height c); $r"
done
echo "    kills per process: da ${nkill[da]}, a ${nkill[a]}, b ${nkill[b]}, c ${nkill[c]}"

step "load stops; every node converges; every acknowledged tx in exactly one block"
rel_load_stop
rel_converge 120
rel_check_chain --wait 120
rel_converge 60
rel_check_chain --wait 10

step "every block on DA exactly once per namespace; DA-included height at the tip"
rel_da_check --wait 120

step "graceful stop; store check on every home; no sanitizer report"
rel_monitor_stop
for n in c b a; do rel_node_stop "$n"; rel_store_check "$n"; done
rel_da_stop
if grep -l "ThreadSanitizer\|AddressSanitizer\|LeakSanitizer\|runtime error:" \
    "$W"/*.log; then
  fail "sanitizer report in the logs above"
fi
rel_result pass
