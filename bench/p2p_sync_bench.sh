#!/usr/bin/env bash
# P2P sync benchmark (issue 14): one table with
#  - gossip latency aggregator -> follower at 100 ms blocks, p50/p99, from
#    the header's publish call to header and data held in the follower's
#    P2P stores (validated, signature checked): bench/p2p_sync_bench, in
#    one process over 127.0.0.1;
#  - the same path end to end with real processes: the time between the
#    aggregator's commit of a block and the P2P-only follower's commit of
#    it (both logs, one clock), 100 ms blocks, a tx load;
#  - catch-up of BLOCKS blocks by the exchange into the P2P stores (what
#    P2P hands the block manager: fetch, verify as a hash chain, store),
#    beside the limit measured in the same run: one Ed25519 verify per
#    block on 2 threads (a block's header signature is checked once, when
#    StoreSync hands it over);
#  - catch-up including the apply, real processes: a fresh P2P-only full
#    node takes APPLY_BLOCKS blocks from an aggregator (execute, group
#    commit of up to 128 blocks: docs/EXECUTION.md "Group commit").
#    The apply runs APPLY_RUNS times (a fresh follower each time, the same
#    aggregator); each run also reports the follower's CPU per block (in
#    all and per thread name, from /proc) and the machine's idle share
#    meanwhile, which read a loaded machine better than blocks/s.
# Medians over RUNS runs of the in-process part and APPLY_RUNS of the
# apply; the commit lag runs once. The machine may be shared: read the
# limits of the same run and the CPU per block.
#
#   bench/p2p_sync_bench.sh                 # RUNS=3 BLOCKS=10000
#   RUNS=5 APPLY_BLOCKS=5000 bench/p2p_sync_bench.sh
#   APPLY_ONLY=1 APPLY_RUNS=5 bench/p2p_sync_bench.sh   # the apply only
#   APPLY_PERF=/tmp/apply.data bench/p2p_sync_bench.sh  # perf record -g of
#                                           # the follower, first apply run
#   FOLLOWER_BIN=/tmp/blockv2-old ...       # another binary as the follower
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BUILD=${BUILD:-build-bench}
BLOCKS=${BLOCKS:-10000}
GOSSIP=${GOSSIP:-200}
APPLY_BLOCKS=${APPLY_BLOCKS:-3000}
APPLY_RUNS=${APPLY_RUNS:-$RUNS}
APPLY_ONLY=${APPLY_ONLY:-0}
LAG_S=${LAG_S:-20}
INPROC_RUNS=$RUNS
[ "$APPLY_ONLY" = 1 ] && INPROC_RUNS=0
OUT=$(mktemp -d /tmp/blockv2-p2p-sync-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $OUT" >&2; else rm -rf "$OUT"; fi
}
trap cleanup EXIT

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/p2p_sync_bench cmd/blockv2 >/dev/null
BIN=$(readlink -f "$BUILD/cmd/blockv2")

for r in $(seq 1 "$INPROC_RUNS"); do
  "$BUILD/bench/p2p_sync_bench" --blocks "$BLOCKS" --gossip "$GOSSIP" \
    --interval 100 >"$OUT/run$r.txt" 2>>"$OUT/stderr.log"
done

# ---- real processes (every port chosen up front: a node listening on
# port 0 could take one reserved here for another)
read -r P_A P_F P_G P_P P_PF P_PG < <(python3 - <<'EOF'
import socket
s = [socket.socket() for _ in range(6)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
EOF
)
printf 'bench-passphrase\n' >"$OUT/pass"
"$BIN" init --home "$OUT/a" --chain-id sync-bench --evnode.node.aggregator \
  true --evnode.signer.passphrase_file "$OUT/pass" \
  --evnode.da.namespace sb >/dev/null
for n in f g; do
  "$BIN" init --home "$OUT/$n" --genesis "$OUT/a/config/genesis.json" \
    --evnode.da.namespace sb >/dev/null
done
ID_A=$("$BIN" keys show --home "$OUT/a" | python3 -c \
  'import sys, json; print(json.load(sys.stdin)["node_id"])')
PEER=(--evnode.p2p.peers "/ip4/127.0.0.1/tcp/$P_P/p2p/$ID_A"
      --evnode.da.address "")

# Polled every 50 ms while a node catches up: curl and a bash match only
# (a python3 start per poll costs more than a catch-up of 1,000 blocks).
height() {
  local s
  s=$(curl -sf -m 5 "http://127.0.0.1:$1/status" 2>/dev/null) || s=
  if [[ $s =~ \"height\"[[:space:]]*:[[:space:]]*([0-9]+) ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    echo 0
  fi
}
wait_height() { # PORT H SECONDS
  local end=$((SECONDS + $3))
  while [ "$(height "$1")" -lt "$2" ]; do
    [ $SECONDS -lt $end ] || { echo "timeout: port $1 below $2" >&2; exit 1; }
    sleep 0.05
  done
}
start_agg() { # extra flags
  "$BIN" start --home "$OUT/a" --evnode.signer.passphrase_file "$OUT/pass" \
    --evnode.da.address "" --evnode.rpc.address "127.0.0.1:$P_A" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_P" "$@" \
    >>"$OUT/a.log" 2>&1 &
  PID_A=$!
  PIDS+=("$PID_A")
  until curl -sf -m 2 "http://127.0.0.1:$P_A/health/live" >/dev/null; do
    sleep 0.1
  done
}
stop() { kill -TERM "$1"; wait "$1" || true; }

# 1. Commit lag at 100 ms blocks with a tx load.
start_agg --evnode.node.block_time 100ms --evnode.log.level info
if [ "$APPLY_ONLY" = 1 ]; then
  : >"$OUT/f.log"
else
  "$BIN" start --home "$OUT/f" "${PEER[@]}" --evnode.rpc.address \
    "127.0.0.1:$P_F" --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_PF" \
    --evnode.log.level info >"$OUT/f.log" 2>&1 &
  PID_F=$!
  PIDS+=("$PID_F")
  end=$((SECONDS + LAG_S))
  i=0
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    "$BIN" tx send --rpc "127.0.0.1:$P_A" "k$i-1=v" "k$i-2=v" "k$i-3=v" \
      >/dev/null 2>&1 || true
    sleep 0.1
  done
  stop "$PID_F"
fi
stop "$PID_A"

# 2. Blocks for the catch-up: 1 ms block time, then lazy (no new blocks).
H0=$(python3 - "$OUT/a.log" <<'EOF'
import re, sys
print(max([0] + [int(m.group(1)) for m in re.finditer(
    r"block committed height=(\d+)", open(sys.argv[1]).read())]))
EOF
)
TARGET=$((H0 + APPLY_BLOCKS))
start_agg --evnode.node.block_time 1ms --evnode.log.level warn
wait_height "$P_A" "$TARGET" 600
stop "$PID_A"
start_agg --evnode.node.lazy_mode true --evnode.node.lazy_block_interval 1h \
  --evnode.log.level warn
TOP=$(height "$P_A")
# The follower's CPU time in ns (schedstat: exact, where utime + stime
# count 10 ms ticks) in all and per thread, read just before it is
# stopped: "process ns", then one "thread:name ns" line per thread.
proc_cpu() { # PID FILE
  python3 - "$1" >"$2" <<'PYEOF'
import os, sys
pid = sys.argv[1]
total, lines = 0, []
for tid in sorted(os.listdir("/proc/%s/task" % pid), key=int):
    try:
        comm = open("/proc/%s/task/%s/comm" % (pid, tid)).read().strip()
        ns = int(open("/proc/%s/task/%s/schedstat" % (pid, tid)).read().split()[0])
    except OSError:
        continue
    total += ns
    lines.append("thread:%s %d" % (comm.replace(" ", "_"), ns))
print("process", total)
print("\n".join(lines))
PYEOF
}
# The machine's idle and busy jiffies (all cores), "idle total".
cpu_idle() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i;
                             print $5 + $6, t}' /proc/stat; }
for r in $(seq 1 "$APPLY_RUNS"); do
  rm -rf "$OUT/g"
  "$BIN" init --home "$OUT/g" --genesis "$OUT/a/config/genesis.json" \
    --evnode.da.namespace sb >/dev/null
  IDLE0=$(cpu_idle)
  "${FOLLOWER_BIN:-$BIN}" start --home "$OUT/g" "${PEER[@]}" \
    --evnode.rpc.address "127.0.0.1:$P_G" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_PG" \
    --evnode.log.level info >"$OUT/g$r.log" 2>&1 &
  PID_G=$!
  PIDS+=("$PID_G")
  T0=$(date +%s.%N)
  if [ -n "${APPLY_PERF:-}" ]; then # a profile of the node, run 1 only
    perf record -q -g -F 999 -p "$PID_G" -o "$APPLY_PERF" 2>/dev/null &
    PID_PERF=$!
    APPLY_PERF=
  fi
  wait_height "$P_G" "$TOP" 600
  T1=$(date +%s.%N)
  IDLE1=$(cpu_idle)
  proc_cpu "$PID_G" "$OUT/cpu$r.txt"
  if [ -n "${PID_PERF:-}" ]; then
    kill -INT "$PID_PERF"
    wait "$PID_PERF" || true
    PID_PERF=
  fi
  stop "$PID_G"
  echo "$TOP $T0 $T1 $IDLE0 $IDLE1" >"$OUT/apply$r.txt"
done
stop "$PID_A"
# scripts/bench.sh (the suite) collects every run's figures.
if [ -n "${BM_BENCH_RAW:-}" ]; then
  for r in $(seq 1 "$INPROC_RUNS"); do
    awk -v r="$r" 'NF == 3 {print "p2psync\t" r "\t" $1 "\t" $2 "\t" $3}' \
      "$OUT/run$r.txt" >>"$BM_BENCH_RAW"
  done
  # the apply's figures: written by the table's code below
fi

OUT="$OUT" RUNS="$INPROC_RUNS" APPLY_RUNS="$APPLY_RUNS" \
  BM_BENCH_RAW="${BM_BENCH_RAW:-}" python3 - <<'EOF'
import datetime, os, re, statistics

out, runs = os.environ["OUT"], int(os.environ["RUNS"])
apply_runs = int(os.environ["APPLY_RUNS"])
vals = {}
for r in range(1, runs + 1):
    for line in open("%s/run%d.txt" % (out, r)):
        k, v, _ = line.split()
        vals.setdefault(k, []).append(float(v))
med = {k: statistics.median(v) for k, v in vals.items()}
raw = {k: " ".join("%g" % x for x in v) for k, v in vals.items()}

def commits(path):
    d = {}
    for line in open(path):
        m = re.match(r"(\S+) info  state: block committed height=(\d+)", line)
        if m:
            t = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
            d.setdefault(int(m.group(2)), t)
    return d
a = commits(out + "/a.log")
f = commits(out + "/f.log") if runs > 0 else {}
lags = sorted((f[h] - a[h]).total_seconds() * 1000 for h in a if h in f and h > 10)
lag50 = lags[len(lags) // 2] if lags else float("nan")
lag99 = lags[min(len(lags) - 1, len(lags) * 99 // 100)] if lags else float("nan")
# The catch-up including the apply, per run: blocks/s from the node's
# start to its commit of the aggregator's height (the commit's log line;
# the 50 ms poll that sees it is printed beside), the same from its first
# to its last group commit (the State actor's
# "blocks committed from=A to=B" lines, one clock: without the process
# start, the P2P connection and the polls), the node's CPU per block
# (all threads, and per thread name) and the machine's idle share meanwhile.
ap = {"rate": [], "polled": [], "commit": [], "cpu": [], "idle": [],
      "groups": []}
threads = {}
for r in range(1, apply_runs + 1):
    top, t0, t1, i0, n0, i1, n1 = open("%s/apply%d.txt" % (out, r)).read().split()
    top = int(top)
    ap["polled"].append(top / (float(t1) - float(t0)))
    ap["idle"].append(100.0 * (int(i1) - int(i0)) / max(1, int(n1) - int(n0)))
    per = {}
    for line in open("%s/cpu%d.txt" % (out, r)):
        k, v = line.split()
        if k == "process":
            ap["cpu"].append(int(v) / 1e3 / top)
        else:
            name = re.sub(r"\d+$", "N", k[len("thread:"):])
            per[name] = per.get(name, 0) + int(v) / 1e3 / top
    for k, v in per.items():
        threads.setdefault(k, []).append(v)
    groups = []
    for line in open("%s/g%d.log" % (out, r)):
        m = re.match(r"(\S+) info  state: blocks? committed (?:from=(\d+) to=(\d+)|height=(\d+))", line)
        if m:
            t = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
            groups.append((t, int(m.group(2) or m.group(4)),
                           int(m.group(3) or m.group(4))))
    ap["groups"].append(len(groups))
    # the end: the commit that reached the aggregator's height (its log
    # line, same clock as t0), not the poll that saw it up to 50 ms later
    t_top = [t for (t, lo, hi) in groups if hi >= top]
    end = t_top[0].timestamp() if t_top else float(t1)
    ap["rate"].append(top / (end - float(t0)))
    if len(groups) >= 2:
        span = (groups[-1][0] - groups[0][0]).total_seconds()
        n_span = groups[-1][2] - groups[0][2]
        ap["commit"].append(n_span / span if span > 0 else float("nan"))
    else:
        ap["commit"].append(float("nan"))
amed = {k: statistics.median(v) for k, v in ap.items()}
if os.environ.get("BM_BENCH_RAW"):
    with open(os.environ["BM_BENCH_RAW"], "a") as f:
        for i in range(apply_runs):
            for name, key, unit in (
                    ("apply_blocks_per_s", "rate", "blocks/s"),
                    ("apply_commit_blocks_per_s", "commit", "blocks/s"),
                    ("apply_cpu_us_per_block", "cpu", "us"),
                    ("apply_idle_pct", "idle", "%")):
                f.write("p2psync\t%d\t%s\t%.1f\t%s\n" %
                        (i + 1, name, ap[key][i], unit))
araw = {k: " ".join("%.0f" % x for x in v) for k, v in ap.items()}
apply_rate, commit_rate = amed["rate"], amed["commit"]
runs_txt = "%d runs" % apply_runs if apply_runs > 1 else "1 run"

rows = []
if runs > 0:
    rows += [
        ("gossip latency, publish -> follower's P2P stores (p50 / p99)",
         "%.2f / %.2f ms" % (med["gossip_p50_ms"], med["gossip_p99_ms"]),
         "p99 %s" % raw["gossip_p99_ms"], "p99 <= 20 ms",
         "pass" if med["gossip_p99_ms"] <= 20 else "miss", ""),
        ("commit lag aggregator -> follower, real processes (p50 / p99)",
         "%.1f / %.1f ms" % (lag50, lag99), "%d blocks, 1 run" % len(lags),
         "(p99 <= 20 ms)", "pass" if lag99 <= 20 else "miss",
         "includes the follower's execute + durable commit"),
        ("catch-up of %d blocks by exchange into the P2P stores" %
         med["catchup_blocks"], "%.0f blocks/s" % med["catchup_blocks_per_s"],
         raw["catchup_blocks_per_s"], ">= 10,000 blocks/s",
         "pass" if med["catchup_blocks_per_s"] >= 10000 else "miss",
         "1 verify/block on %d threads: %.0f blocks/s" %
         (med["verify_threads"], med["limit_blocks_per_s"])),
    ]
rows += [
    ("catch-up incl. apply, real processes (%d blocks)" % top,
     "%.0f blocks/s" % apply_rate, araw["rate"], "(>= 10,000 blocks/s)",
     "pass" if apply_rate >= 10000 else "miss",
     "from the node's start to its commit of the last block; "
     "seen by the 50 ms poll: %s" % araw["polled"]),
    ("  the same, first to last group commit (median %d groups)" %
     amed["groups"], "%.0f blocks/s" % commit_rate, araw["commit"],
     "(>= 10,000 blocks/s)", "pass" if commit_rate >= 10000 else "miss",
     "without process start, connection and polling"),
    ("  the follower's CPU per block (all threads)",
     "%.1f us" % amed["cpu"], araw["cpu"], "", "",
     "= %.0f blocks/s on %d cores" % (os.cpu_count() * 1e6 / amed["cpu"],
                                      os.cpu_count())),
    ("  the machine's idle share meanwhile (all cores)",
     "%.0f %%" % amed["idle"], araw["idle"], "", "", "from /proc/stat"),
]
print("| measurement | median | runs | target | result | limit / note (same run) |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| %s |" % " | ".join(r))
print()
if runs > 0:
    print("verifies/s on %d threads (runs): %s" % (med["verify_threads"],
                                                   raw["verifies_per_s"]))
print("the follower's CPU per block by thread (us, median of %s; N: all "
      "threads of that name):" % runs_txt)
for k, v in sorted(threads.items(), key=lambda kv: -statistics.median(kv[1])):
    m = statistics.median(v)
    if m >= 0.5:
        print("  %-16s %7.1f" % (k, m))
EOF
