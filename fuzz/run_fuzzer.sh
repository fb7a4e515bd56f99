#!/usr/bin/env bash
# One short libFuzzer run, as a meson test (suite fuzz-run, -Dfuzz=true):
#
#   fuzz/run_fuzzer.sh BUILD/fuzz/fuzz_NAME fuzz/corpus/NAME FINDINGS_DIR
#
# Runs the target for BM_FUZZ_SECONDS (default 4) on its seed corpus; new
# inputs go to a temp dir removed afterwards (the committed corpus changes
# only by commits). A finding (crash-*, leak-*, timeout-*, oom-*, or any
# non-zero exit) fails the test: the input is copied to FINDINGS_DIR and
# the line to add it as a regression seed is printed. Once fixed, the
# fuzz_replay_NAME test replays that seed in every build.
set -uo pipefail
bin=$1 seeds=$2 findings=$3
name=$(basename "$bin" | sed 's/^fuzz_//')
secs=${BM_FUZZ_SECONDS:-4}
work=$(mktemp -d "/tmp/bm-fuzz-$name-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/art"

"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/art/" \
  "$work/corpus" "$seeds" >"$work/log.txt" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log.txt")
found=$(find "$work/art" -type f | wc -l)
echo "fuzz_run $name: ${secs} s, ${execs:-?} execs, seed inputs $(ls "$seeds" | wc -l), new $(ls "$work/corpus" | wc -l), rc=$rc, findings $found"
if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]; then
  exit 0
fi
grep -m1 '^INFO: Seed:' "$work/log.txt"
grep -E -m3 -A12 'ERROR: |runtime error|fuzz .*: ' "$work/log.txt" | head -40
mkdir -p "$findings"
for f in "$work"/art/*; do
  [ -f "$f" ] || continue
  sum=$(sha1sum "$f" | cut -c1-16)
  kind=$(basename "$f" | sed 's/-.*//')
  cp "$f" "$findings/$kind-$sum"
  echo "finding: $findings/$kind-$sum ($(stat -c %s "$f") bytes)"
  echo "  first bytes: $(head -c 64 "$f" | od -An -tx1 | tr -d ' \n')"
  echo "  reproduce: $bin $findings/$kind-$sum"
  echo "  regression seed (commit it with the fix):"
  echo "    cp $findings/$kind-$sum $seeds/regress-$sum"
done
[ "$found" -gt 0 ] || tail -30 "$work/log.txt"
exit 1
