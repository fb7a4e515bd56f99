#!/usr/bin/env bash
# Durable tx ingress benchmark (issue 12): acknowledged tx/s of a real
# aggregator (`blockv2 start`, 100 ms blocks, a real `blockv2 da serve`,
# release build) under 64 keep-alive connections posting unique 64-byte
# txs, in the single form (one tx per request) and the batch form (BATCH
# txs per request), beside the fsync latency of the same disk measured in
# the same run (bench/tx_bench.c). A tx counts once the node answered 202,
# i.e. once it is synced in the sequencer's queue. Beside it, the rate at
# which txs went into blocks during the phase (the node's
# evnode_sequencer_total_txs metric before and after): when intake
# outruns block production the queue fills and answers 503, so that is
# the sustainable rate. Each run
# starts a fresh node; the table gives medians over RUNS runs.
#
#   scripts/bench-tx.sh                      # RUNS=3, 10 s per phase
#   RUNS=5 SECONDS_PER=20 DIR=/data/x scripts/bench-tx.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECONDS_PER=${SECONDS_PER:-10}
CONNS=${CONNS:-64}
SIZE=${SIZE:-64}
BATCH=${BATCH:-100}
BUILD=${BUILD:-build-bench}
DIR=${DIR:-$(mktemp -d "${TMPDIR:-/tmp}/blockv2-txbench.XXXXXX")}
mkdir -p "$DIR"
OUT="$DIR/out"
mkdir -p "$OUT"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"/run-*
}
trap cleanup EXIT

scripts/bootstrap.sh >/dev/null
if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" cmd/blockv2 bench/tx_bench >/dev/null
BIN=$(readlink -f "$BUILD/cmd/blockv2")
LOAD=$(readlink -f "$BUILD/bench/tx_bench")

free_ports() {
  python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_http() { # wait_http URL [curl args]
  local url=$1; shift
  for _ in $(seq 1 200); do
    curl -sf -m 2 "$@" "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench-tx: $url did not come up" >&2
  return 1
}

total_txs() { # total_txs METRICS_PORT -> txs in blocks so far
  curl -sf -m 5 "http://127.0.0.1:$1/metrics" |
    awk '/^evnode_sequencer_total_txs[{ ]/ {v = $NF} END {print v + 0}'
}

raw="$OUT/raw.tsv"
: >"$raw"
for run in $(seq 1 "$RUNS"); do
  home="$DIR/run-$run"
  mkdir -p "$home"
  # Every port up front, P2P too (its default, 0.0.0.0:7676, is fixed).
  read -r P_DA P_RPC P_M P_P2P < <(free_ports)
  printf 'bench-passphrase\n' >"$home/pass"
  "$BIN" init --home "$home/a" --chain-id bench-chain \
    --evnode.signer.passphrase_file "$home/pass" \
    --evnode.node.aggregator true --evnode.da.namespace bench-h \
    --evnode.da.data_namespace bench-d >"$home/init.log"
  # The tx limiter the node runs with (rpc.tx_rate_limit, derived from
  # the blocks when not given): 429s are expected above it, never below.
  "$BIN" config show --home "$home/a" --evnode.node.block_time 100ms |
    awk -v r="$run" '/tx_rate_limit:/ {v = $NF}
      END {if (v != "") print r "\ttx_rate_limit\t" v "\ttx/s"}' >>"$raw"
  "$BIN" da serve --listen "127.0.0.1:$P_DA" --home "$home/da" \
    --block-time 1s >"$home/da.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$P_DA" -H 'Content-Type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"header.NetworkHead","params":[]}'
  "$BIN" start --home "$home/a" --evnode.da.address "http://127.0.0.1:$P_DA" \
    --evnode.da.block_time 1s --evnode.node.block_time 100ms \
    --evnode.log.level warn --evnode.rpc.address "127.0.0.1:$P_RPC" \
    --evnode.instrumentation.prometheus true \
    --evnode.instrumentation.prometheus_listen_addr "127.0.0.1:$P_M" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_P2P" \
    --evnode.signer.passphrase_file "$home/pass" >"$home/node.log" 2>&1 &
  node=$!
  PIDS+=("$node")
  wait_http "http://127.0.0.1:$P_RPC/health/live"
  for mode in single batch get; do
    "$LOAD" fsync "$home/a/data" --seconds 2 |
      awk -v r="$run" 'NF>=3 {print r "\t" $1 "\t" $2 "\t" $3}' >>"$raw"
    txs0=$(total_txs "$P_M")
    t0=$(date +%s.%N)
    # Beside the tx forms, one probe tx every 20 ms: POST to visible.
    vis=
    if [ "$mode" != get ]; then
      "$LOAD" visible "127.0.0.1:$P_RPC" --seconds "$SECONDS_PER" \
        >"$home/vis.out" &
      vis=$!
    fi
    if ! "$LOAD" load "127.0.0.1:$P_RPC" --mode "$mode" --conns "$CONNS" \
        --seconds "$SECONDS_PER" --size "$SIZE" --batch "$BATCH" \
        --pid "$node" >"$home/load.out" ||
      { [ -n "$vis" ] && ! wait "$vis"; } ||
      ! kill -0 "$node" 2>/dev/null; then
      echo "bench-tx: run $run, $mode form failed; the node's log:" >&2
      tail -20 "$home/node.log" >&2
      exit 1
    fi
    if [ -n "$vis" ]; then
      awk -v r="$run" -v m="$mode" 'NF>=3 {sub(/^tx_/, "tx_" m "_", $1);
        print r "\t" $1 "\t" $2 "\t" $3}' "$home/vis.out" >>"$raw"
    fi
    txs1=$(total_txs "$P_M")
    t1=$(date +%s.%N)
    awk -v r="$run" 'NF>=3 {print r "\t" $1 "\t" $2 "\t" $3}' \
      "$home/load.out" >>"$raw"
    [ "$mode" != get ] || continue
    awk -v r="$run" -v m="$mode" -v a="$txs0" -v b="$txs1" -v s="$t0" \
      -v e="$t1" 'BEGIN {printf "%s\ttx_%s_included\t%.0f\ttx/s\n", r, m,
                         (b - a) / (e - s)}' >>"$raw"
  done
  kill -TERM "$node"
  wait "$node" || true
  kill -9 "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  PIDS=()
  rm -rf "$home"
done

echo "date: $(date -u +%FT%TZ)  runs: $RUNS x ${SECONDS_PER}s per form" \
     " conns: $CONNS  tx: $SIZE bytes  batch: $BATCH txs/request" \
     " load: $(cut -d' ' -f1-3 /proc/loadavg)  cpus: $(nproc)"
python3 - "$raw" "$CONNS" "$BATCH" <<'PY'
import statistics, sys
raw, conns, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
vals, units = {}, {}
for line in open(raw):
    run, name, value, unit = line.rstrip("\n").split("\t")
    vals.setdefault(name, []).append(float(value))
    units[name] = unit
def row(label, name, target=None, below=False):
    v = vals.get(name)
    if not v:
        return
    m = statistics.median(v)
    ok = target is not None and (m <= target if below else m >= target)
    res = "" if target is None else ("pass" if ok else "miss")
    print("| %s | %.4g | %.4g | %.4g | %s | %s | %s |" % (
        label, m, min(v), max(v), units[name],
        "" if target is None else "%s %g" % ("<=" if below else ">=", target),
        res))
print("| measure | median | min | max | unit | target | result |")
print("|---|---|---|---|---|---|---|")
row("single form: acknowledged txs", "tx_single_acked", 20000)
row("single form: acknowledged txs (issue 15)", "tx_single_acked", 30000)
row("batch form (%d txs/request): acknowledged txs" % batch,
    "tx_batch_acked", 50000)
row("batch form: acknowledged txs (issue 15)", "tx_batch_acked", 100000)
row("limit: GET /health/live (a trivial handler), same server and conns",
    "http_get_acked")
row("single form: txs into blocks meanwhile", "tx_single_included")
row("batch form: txs into blocks meanwhile (sustainable)",
    "tx_batch_included")
row("fsync (pwrite 4 KiB + fdatasync), p50, same disk", "fsync_p50")
row("fsync p99", "fsync_p99")
row("single: request latency p50", "tx_single_latency_p50")
row("single: request latency p99", "tx_single_latency_p99")
row("batch: request latency p50", "tx_batch_latency_p50")
row("single: POST to visible (GET /kv 200) p50", "tx_single_visible_p50")
row("single: POST to visible p99 (<= 2 block times)",
    "tx_single_visible_p99", 200, below=True)
row("batch: POST to visible p50", "tx_batch_visible_p50")
row("batch: POST to visible p99 (<= 2 block times)", "tx_batch_visible_p99",
    200, below=True)
row("single: node CPU per acknowledged tx", "tx_single_node_cpu")
row("batch: node CPU per acknowledged tx", "tx_batch_node_cpu")
row("single: txs not acknowledged (409/429/503)", "tx_single_not_acked")
row("batch: txs not acknowledged (409/429/503)", "tx_batch_not_acked")
row("single: of them in requests refused for now (429/503)",
    "tx_single_backed_off")
row("batch: of them in requests refused for now (429/503; the load "
    "backs off 5 ms)", "tx_batch_backed_off")
row("the tx limiter (rpc.tx_rate_limit, from the blocks: what they "
    "carry per second)", "tx_rate_limit")
row("single: txs answered 429 (offered below the limit: none)",
    "tx_single_rate_limited", 0, below=True)
row("batch: txs answered 429 (offered above the limit)",
    "tx_batch_rate_limited")
f = vals.get("fsync_p50")
if f:
    # Each group commit pays two syncs (LMDB data pages, then the meta
    # page); with one request in flight per connection, the single form
    # cannot exceed conns / (2 x fsync) however fast the CPU is.
    print("| single form's disk bound: %d conns / (2 x fsync p50) | %.4g |"
          " | | tx/s | | |" % (conns, conns / (2 * statistics.median(f) / 1e3)))
PY
echo "raw: $raw"
# scripts/bench.sh (the suite) collects every run's figures.
if [ -n "${BM_BENCH_RAW:-}" ]; then
  awk -F'\t' '{print "tx\t" $0}' "$raw" >>"$BM_BENCH_RAW"
fi
