#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each one for
# SECONDS (default 600) on a copy of its seed corpus, JOBS targets at a time
# (default 1). New inputs go to fuzz/work/<target>/ (git-ignored); findings
# (crash-*, leak-*, timeout-*) are left in fuzz/work/ and reported.
#
#   scripts/fuzz.sh                   # every target, 10 minutes each
#   SECONDS_PER=60 JOBS=2 scripts/fuzz.sh header data
set -uo pipefail
cd "$(dirname "$0")/.."
BM_BOOTSTRAP_EXTRA="clang libclang-rt-14-dev" scripts/bootstrap.sh
SECS=${SECONDS_PER:-600}
JOBS=${JOBS:-1}
dir=build-fuzz
if [ ! -d "$dir" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null || exit 1
fi
ninja -C "$dir" >/dev/null || exit 1

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$dir"/fuzz/fuzz_*; do
    [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')")
  done
fi

run_one() {
  local t=$1 work=fuzz/work/$1
  mkdir -p "$work/corpus"
  cp -n fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null
  (cd "$work" && "../../../$dir/fuzz/fuzz_$t" -max_total_time="$SECS" \
      -rss_limit_mb=4096 -print_final_stats=1 corpus >log.txt 2>&1)
  local rc=$?
  local execs
  execs=$(grep -m1 'stat::number_of_executed_units' "$work/log.txt" | awk '{print $2}')
  echo "fuzz $t: rc=$rc seconds=$SECS execs=${execs:-?} corpus=$(ls "$work/corpus" | wc -l)"
}

active=0
for t in "${targets[@]}"; do
  run_one "$t" &
  active=$((active + 1))
  if [ "$active" -ge "$JOBS" ]; then
    wait -n
    active=$((active - 1))
  fi
done
wait
found=$(ls fuzz/work/*/crash-* fuzz/work/*/leak-* fuzz/work/*/timeout-* 2>/dev/null | wc -l)
echo "findings: $found"
[ "$found" -eq 0 ]
