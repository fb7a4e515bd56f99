#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan, in build-fuzz/) and
# runs each one for SECONDS_PER seconds (default 600) on its seed corpus,
# JOBS targets at a time (default 1). New inputs go to fuzz/work/<target>/
# (git-ignored; reused by the next run). CI runs the same binaries for a few
# seconds each (scripts/test.sh's fuzz variant, suite fuzz-run).
#
# Each finding (crash-*, leak-*, timeout-*, oom-*) becomes a regression
# seed: it is copied to fuzz/corpus/<target>/regress-<sha1 prefix>, where
# the fuzz_replay_<target> test replays it in every build. It fails there
# until the bug is fixed; commit the seed with the fix.
#
#   scripts/fuzz.sh                   # every target, 10 minutes each
#   SECONDS_PER=60 JOBS=2 scripts/fuzz.sh header data
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
SECS=${SECONDS_PER:-600}
JOBS=${JOBS:-1}
dir=build-fuzz
if [ ! -d "$dir" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null || exit 1
fi
ninja -C "$dir" fuzzers >/dev/null || exit 1

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$dir"/fuzz/fuzz_*; do
    [ -x "$f" ] && [ -f "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')")
  done
fi

run_one() {
  local t=$1 work=fuzz/work/$1 rc execs
  rm -rf "$work/art"
  mkdir -p "$work/corpus" "$work/art"
  "$dir/fuzz/fuzz_$t" -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/art/" \
    "$work/corpus" "fuzz/corpus/$t" >"$work/log.txt" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log.txt")
  echo "fuzz $t: rc=$rc seconds=$SECS execs=${execs:-?} corpus=$(ls "$work/corpus" | wc -l)"
  for f in "$work"/art/*; do
    [ -f "$f" ] || continue
    local sum
    sum=$(sha1sum "$f" | cut -c1-16)
    cp "$f" "fuzz/corpus/$t/regress-$sum"
    echo "  finding $(basename "$f") -> fuzz/corpus/$t/regress-$sum (log: $work/log.txt)"
  done
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
found=0
for t in "${targets[@]}"; do
  n=$(find "fuzz/work/$t/art" -type f 2>/dev/null | wc -l)
  found=$((found + n))
done
echo "findings: $found"
[ "$found" -eq 0 ]
