#!/usr/bin/env bash
# Hostile input from DA (issue 16 item 5): a local DA server, an aggregator
# (a), a DA-only full node (f) and a P2P + DA full node (g), under a tx
# load. ROUNDS times (--short 2, --full 10), bad blobs are posted into the
# chain's two namespaces (tools/hostile_forge), K heights of each:
#  - ahead of the followers (heights the aggregator has not made yet):
#    another chain's header and data signed by the real proposer (what a
#    replay from another chain of the same key looks like), a header and
#    data proposed and signed by another key, the proposer's header and
#    data with a bit of their signature flipped, truncated encodings;
#  - garbage blobs (random bytes) and an oversize one (1.9 MB, just under
#    the DA server's limit) in both namespaces;
# while a legitimate client measures GET /status on f (before the rounds,
# with no attack: the baseline, printed only). After each round
# every node keeps syncing (past the aggregator's height at that moment)
# and agrees on every block.
# Then a fork: the proposer's own second block (header and data) at two
# heights f and g applied and saw on DA: both ignore it and count it
# (blockv2_da_conflicts_total) and keep syncing. (A P2P + DA node that
# applied a height from P2P and then finds another header for it on DA
# before the real one stops with BM_EFORK by design, docs/P2P-SYNC.md;
# tests/actors/sync_test.c covers it.)
# Checks: every refused blob counted by reason on f and g
# (blockv2_da_blobs_rejected_total{reason}); nothing reached Sync
# (blockv2_da_blocks_rejected_total stays 0); no node holds a forged header
# (GetBlock by hash); p99 of GET /status <= 50 ms; no acknowledged tx lost.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/reliability/lib_hostile.sh
. "$(dirname "$0")/../lib_hostile.sh"
rel_setup hostile_da "$@"
hostile_init
if rel_short; then ROUNDS=${ROUNDS:-2}; else ROUNDS=${ROUNDS:-10}; fi
K=${K:-3}

step "chain: DA server, aggregator a, DA-only full node f, P2P + DA full node g"
rel_chain f g
rel_alloc a_met f_met g_met
rel_da_start
# shellcheck disable=SC2046
rel_node_start a agg $(hostile_metrics_flags a)
# shellcheck disable=SC2046
rel_node_start f da $(hostile_metrics_flags f)
# shellcheck disable=SC2046
rel_node_start g p2p $(hostile_metrics_flags g)
rel_monitor_start
rel_load_start --clients 2 --rate 50
wait_until 60 "f at height 10" bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_f_rpc/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge 10 ]"

step "baseline: GET /status on f with no attack"
hostile_baseline f 5

rej() { # rej NODE REASON
  hostile_metric "$1" "^blockv2_da_blobs_rejected_total\\{.*reason=\"$2\""
}

step "$ROUNDS rounds of bad blobs in both namespaces, $K heights per kind"
for r in $(seq 1 "$ROUNDS"); do
  hostile_probe_start f 12
  # Far enough ahead (5 s of blocks) that the bad blobs are on DA before
  # the real block of those heights.
  ahead=$(($(rel_height a) + 50))
  hostile_forge_da wrong_chain "$ahead" "$K"
  hostile_forge_da wrong_proposer "$ahead" "$K"
  hostile_forge_da bad_signature "$ahead" "$K"
  hostile_forge_da truncated "$ahead" "$K"
  hostile_forge_da garbage 1 "$K"
  hostile_forge_da oversize 1 1
  hostile_probe_end
  hostile_keeps_up f 60
  hostile_keeps_up g 60
  rel_run
  rel_monitor_ok
  c=$(rel_check_chain --incremental)
  echo "    round $r: heights a $(rel_height a) f $(rel_height f) g $(rel_height g); $c"
done

step "every refused blob counted by reason; nothing reached Sync"
for n in f g; do
  line=""
  for reason in decode invalid bad_signature chain_id proposer envelope; do
    line="$line $reason=$(rej "$n" "$reason")"
  done
  blocks=$(hostile_metric "$n" '^blockv2_da_blocks_rejected_total')
  echo "    $n:$line blocks_rejected=$blocks"
  # Each round: K heights x (header + data) of wrong_chain, wrong_proposer
  # and bad_signature; 2 x (K + 1) garbage and oversize blobs.
  want=$((ROUNDS * 2 * K))
  [ "$(rej "$n" chain_id)" -ge "$want" ] || fail "$n: chain_id refusals"
  [ "$(rej "$n" proposer)" -ge "$want" ] || fail "$n: proposer refusals"
  [ "$(rej "$n" bad_signature)" -ge "$want" ] || fail "$n: bad_signature refusals"
  [ "$(rej "$n" decode)" -ge $((ROUNDS * 2 * (K + 1))) ] || fail "$n: decode refusals"
  [ "$blocks" -eq 0 ] || fail "$n: $blocks DA blocks reached validation"
done

step "the proposer's second block at applied, DA-included heights: ignored and counted"
incl_f=$(rel_status f da_included_height)
incl_g=$(rel_status g da_included_height)
fork_at=$(( (incl_f < incl_g ? incl_f : incl_g) - 3 ))
[ "$fork_at" -gt 1 ] || fail "nothing DA-included yet (f $incl_f, g $incl_g)"
conf_f=$(hostile_metric f '^blockv2_da_conflicts_total')
conf_g=$(hostile_metric g '^blockv2_da_conflicts_total')
hostile_forge_da fork "$fork_at" 2
for n in f g; do
  eval "want=\$((conf_$n + 2)); port=\$P_${n}_met"
  wait_until 60 "$n counts the fork" bash -c \
    "[ \$(curl -sf -m 5 http://127.0.0.1:$port/metrics | sed -n 's/^blockv2_da_conflicts_total{[^}]*} //p') -ge $want ]"
  hostile_keeps_up "$n" 60
done
echo "    conflicts counted: f $(hostile_metric f '^blockv2_da_conflicts_total'), g $(hostile_metric g '^blockv2_da_conflicts_total')"

step "load stops; every node converges; no forged block anywhere"
rel_load_stop
rel_converge 120
rel_check_chain --wait 120
hostile_forged_check
echo "    worst p99 of GET /status: $HOSTILE_P99_WORST ms"
rel_monitor_stop
rel_result pass
