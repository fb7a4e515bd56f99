#!/usr/bin/env bash
# Runs blockv2's actor benchmarks (bench/actor_*.c) and the CAF and
# Erlang/OTP peers (../shared/peers/actors) side by side on this machine and
# prints a Markdown table of medians with the issue-3 targets.
#
#   scripts/bench-actors.sh               # RUNS=5 (default)
#   RUNS=3 scripts/bench-actors.sh        # fewer runs on a busy machine
#   ONLY=ours scripts/bench-actors.sh     # ours | caf | erlang
#   BENCHES="pingpong fanin" scripts/bench-actors.sh
#
# Needs: meson, ninja, gcc (ours); g++ and libcaf-dev (CAF 0.17); erl and
# erlc (erlang-base); /usr/bin/time (GNU time, peak RSS of the peers);
# python3. On Debian 12:
#   apt-get install -y libcaf-dev erlang-base time g++ python3
#
# Ours are built in release mode in build-bench/ (meson setup build-bench
# --buildtype=release). The peers are built into a temporary directory
# (../shared is read-only). Runs are interleaved (ours, CAF, Erlang for
# each bench and run) so that load from other users of the machine hits
# all three alike. Every run uses 2 worker threads / 2 schedulers.
# Raw results go to $OUT (default: a fresh /tmp/bench-actors.XXXXXX).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers/actors}
RUNS=${RUNS:-5}
ONLY=${ONLY:-}
BENCHES=${BENCHES:-pingpong fanin spawn overload}
BUILD=${BUILD:-$ROOT/build-bench}
OUT=${OUT:-$(mktemp -d /tmp/bench-actors.XXXXXX)}
ERL_FLAGS="+P 4194304"

want() { [[ -z "$ONLY" || "$ONLY" == "$1" ]]; }

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "bench-actors: missing '$1' ($2)" >&2
    exit 1
  }
}

need meson "apt-get install -y meson"
need ninja "apt-get install -y ninja-build"
need python3 "apt-get install -y python3"
if want caf; then
  need g++ "apt-get install -y g++"
  [[ -e /usr/include/caf/all.hpp ]] || {
    echo "bench-actors: missing CAF headers (apt-get install -y libcaf-dev)" >&2
    exit 1
  }
fi
if want erlang; then
  need erl "apt-get install -y erlang-base"
  need erlc "apt-get install -y erlang-base"
fi
[[ -x /usr/bin/time ]] || {
  echo "bench-actors: missing /usr/bin/time (apt-get install -y time)" >&2
  exit 1
}

mkdir -p "$OUT"
RAW=$OUT/raw.tsv
TV=$OUT/time.txt

# -- build ---------------------------------------------------------------------
if want ours; then
  if [[ ! -d $BUILD ]]; then
    meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
  fi
  targets=()
  for b in $BENCHES; do targets+=("bench/actor_$b"); done
  ninja -C "$BUILD" -j2 "${targets[@]}" >/dev/null
fi
if want caf; then
  g++ -std=c++17 -O2 -DNDEBUG -o "$OUT/caf_bench" "$PEERS/caf/caf_bench.cpp" \
      -lcaf_core -lpthread
fi
if want erlang; then
  erlc -o "$OUT" "$PEERS/erlang/actor_bench.erl"
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ours: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?') + working tree, gcc $(gcc -dumpfullversion), release build"
  want caf && echo "caf: libcaf-dev $(dpkg-query -W -f='${Version}' libcaf-dev 2>/dev/null), g++ -O2, --threads 2"
  want erlang && echo "erlang: erlang-base $(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null), $ERL_FLAGS, 2 schedulers"
  echo "runs: $RUNS, benches: $BENCHES"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >&2

# -- run -------------------------------------------------------------------------
# Ours print `name value unit` lines; the peers print one `RESULT bench=...
# key=value ...` line. Each run appends one raw line per figure:
#   system  bench  run  key  value  maxrss_kb
printf "system\tbench\trun\tkey\tvalue\tmaxrss_kb\n" > "$RAW"

run_ours() { # bench run
  local out rss
  out=$(/usr/bin/time -v -o "$TV" timeout 600 "$BUILD/bench/actor_$1" 2>"$OUT/ours-$1-$2.err") || {
    echo "ours $1 #$2 FAILED (see $OUT/ours-$1-$2.err)" >&2
    printf "ours\t%s\t%s\tFAILED\t0\t0\n" "$1" "$2" >> "$RAW"
    return 0
  }
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$TV")
  while read -r key value _unit; do
    [[ -n "$key" ]] && printf "ours\t%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$key" "$value" "$rss" >> "$RAW"
  done <<<"$out"
  echo "ours $1 #$2: $(echo "$out" | head -1) rss=${rss}kB" >&2
}

run_peer() { # system bench run cmd...
  local sys=$1 bench=$2 run=$3 out rss kv
  shift 3
  out=$(/usr/bin/time -v -o "$TV" timeout 600 "$@" 2>/dev/null | grep '^RESULT' || true)
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$TV")
  if [[ -z "$out" ]]; then
    echo "$sys $bench #$run FAILED" >&2
    printf "%s\t%s\t%s\tFAILED\t0\t%s\n" "$sys" "$bench" "$run" "${rss:-0}" >> "$RAW"
    return 0
  fi
  for kv in $out; do
    [[ $kv == *=* ]] || continue
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$sys" "$bench" "$run" "${kv%%=*}" "${kv#*=}" "$rss" >> "$RAW"
  done
  echo "$sys $bench #$run: $out rss=${rss}kB" >&2
}

caf_args() {
  case $1 in
    pingpong) echo "pingpong 1000000" ;;
    fanin) echo "fanin 10000000" ;;
    spawn) echo "spawn 1000000 --policy sharing" ;;
    overload) echo "queued 10000000" ;;
  esac
}

erl_args() {
  case $1 in
    pingpong) echo "pingpong 1000000" ;;
    fanin) echo "fanin 10000000" ;;
    spawn) echo "spawn 1000000" ;;
    overload) echo "queued 10000000" ;;
  esac
}

for run in $(seq 1 "$RUNS"); do
  for b in $BENCHES; do
    want ours && run_ours "$b" "$run"
    # shellcheck disable=SC2046
    want caf && run_peer caf "$b" "$run" "$OUT/caf_bench" $(caf_args "$b")
    # shellcheck disable=SC2046,SC2086
    want erlang && run_peer erlang "$b" "$run" erl $ERL_FLAGS -noshell -pa "$OUT" \
      -run actor_bench main $(erl_args "$b")
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"

# -- table -----------------------------------------------------------------------
python3 - "$RAW" <<'EOF' | tee "$OUT/table.md"
import csv, statistics, sys
from collections import defaultdict

vals = defaultdict(list)   # (system, bench, key) -> [float]
rss = defaultdict(list)    # (system, bench) -> [kB] per run
fails = defaultdict(int)
seen_runs = defaultdict(set)
with open(sys.argv[1]) as f:
    for r in csv.DictReader(f, delimiter="\t"):
        s, b, k = r["system"], r["bench"], r["key"]
        if k == "FAILED":
            fails[(s, b)] += 1
            continue
        try:
            vals[(s, b, k)].append(float(r["value"]))
        except ValueError:
            continue
        if r["run"] not in seen_runs[(s, b)]:
            seen_runs[(s, b)].add(r["run"])
            rss[(s, b)].append(int(r["maxrss_kb"] or 0))

def med(s, b, k):
    v = vals.get((s, b, k))
    return statistics.median(v) if v else None

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M{unit}"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f}k{unit}"
    return f"{v:.3g}{unit}"

def nruns(s, b):
    return len(seen_runs[(s, b)])

rows = [
    ("pingpong", "round trips/s", "actor_pingpong", "rate", 1.5),
    ("fanin", "msgs/s", "actor_fanin", "rate", 1.5),
    ("spawn", "actors/s", "actor_spawn", "rate", 1.0),
]
print("| bench | unit | ours median | CAF median | Erlang median | ours / better peer | target | result |")
print("|---|---|---|---|---|---|---|---|")
for bench, unit, ours_key, peer_key, target in rows:
    o = med("ours", bench, ours_key)
    c = med("caf", bench, peer_key)
    e = med("erlang", bench, peer_key)
    peers = [x for x in (c, e) if x is not None]
    if o is None and not peers:
        continue
    ratio = o / max(peers) if (o is not None and peers) else None
    res = "n/a" if ratio is None else ("pass" if ratio >= target else "FAIL")
    runs = f" ({nruns('ours', bench)}/{nruns('caf', bench)}/{nruns('erlang', bench)} runs)"
    print(f"| {bench}{runs} | {unit} | {fmt(o)} | {fmt(c)} | {fmt(e)} | "
          f"{'n/a' if ratio is None else f'{ratio:.2f}x'} | >= {target}x better peer | {res} |")

if any(k[1] == "overload" for k in vals):
    o_rss = med("ours", "overload", "actor_overload_peak_rss")
    o_growth = med("ours", "overload", "actor_overload_rss_growth")
    o_bound = med("ours", "overload", "actor_overload_rss_bound")
    bounded = vals.get(("ours", "overload", "actor_overload_bounded"), [])
    acct = (vals.get(("ours", "overload", "actor_overload_reject_accounting"), []) +
            vals.get(("ours", "overload", "actor_overload_drop_accounting"), []))
    c_rss = statistics.median(rss[("caf", "overload")]) / 1024 if rss.get(("caf", "overload")) else None
    e_rss = statistics.median(rss[("erlang", "overload")]) / 1024 if rss.get(("erlang", "overload")) else None
    ok = bool(bounded) and all(x == 1 for x in bounded) and bool(acct) and all(x == 1 for x in acct)
    print(f"| overload, 10M msgs: peak RSS ({nruns('ours', 'overload')}/{nruns('caf', 'overload')}/"
          f"{nruns('erlang', 'overload')} runs) | MiB | {fmt(o_rss)} (growth {fmt(o_growth)}, "
          f"bound {fmt(o_bound)}) | {fmt(c_rss)} | {fmt(e_rss)} | n/a | bounded by mailbox "
          f"capacity; sent = handled + rejected + dropped | {'pass' if ok else 'FAIL'} |")

print()
print("Secondary figures (medians):")
for key in ("actor_pingpong_latency", "actor_fanin_full_retries", "actor_spawn_peak_rss",
            "actor_overload_reject_send_rate", "actor_overload_reject_handled",
            "actor_overload_reject_rejected", "actor_overload_drop_send_rate",
            "actor_overload_drop_handled", "actor_overload_drop_dropped",
            "actor_overload_reject_high_watermark"):
    for (s, b, k), v in sorted(vals.items()):
        if s == "ours" and k == key:
            print(f"- ours {k}: {fmt(statistics.median(v))} (min {fmt(min(v))}, max {fmt(max(v))})")
for (s, b), lst in sorted(rss.items()):
    if lst:
        print(f"- {s} {b}: peak RSS median {statistics.median(lst) / 1024:.0f} MiB")
for (s, b), n in sorted(fails.items()):
    print(f"- {s} {b}: {n} FAILED run(s)")
EOF
echo >&2
echo "raw: $RAW  env: $OUT/env.txt  table: $OUT/table.md" >&2
