#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# under three builds: plain, ASan+UBSan, and TSan (the sanitizer builds do
# not compile bench/); a fourth, release (-O3: the node, the library and
# the benchmarks, what scripts/run.sh and the bench scripts build), is
# compiled with -Werror and counts as one test; a fifth, fuzz (clang,
# libFuzzer, ASan+UBSan), builds only the fuzz targets and runs each for
# BM_FUZZ_SECONDS (default 4) on its corpus (suite fuzz-run; skipped with a
# message when clang cannot link -fsanitize=fuzzer). Ends with the line
# "N passed, N failed, N skipped" and exits non-zero if anything failed.
#
# The plain build compiles first; the others compile in the background at
# idle CPU priority while the tests run (BM_CI_OVERLAP=0: one after the
# other, release first). Each phase prints its wall time, and a table of
# them (with each build's own time) closes the run before the count line,
# so a landing shows where the CI time goes.
#
#   scripts/test.sh            # all builds
#   BM_VARIANTS="plain" scripts/test.sh   # a subset (plain asan tsan release fuzz)
set -uo pipefail
cd "$(dirname "$0")/.."

# Phase wall times: "name seconds" lines, printed as a table at the end.
phases=()
phase_t0=$SECONDS
phase_end() { # name: records the phase that started at phase_t0
  local s=$((SECONDS - phase_t0))
  phases+=("$1 $s")
  echo "--- phase $1: ${s} s"
  phase_t0=$SECONDS
}

scripts/bootstrap.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
phase_end bootstrap

# Node test suites (every tests/*/package-lock.json: tests/evm,
# tests/interop, ...): `npm ci` when the lockfile changed or node_modules
# is missing. A failure counts (their tests then fail under CI rather than
# skip).
npm_failed=0
for d in tests/*/package-lock.json; do
  [ -f "$d" ] || continue
  d=$(dirname "$d")
  log="build-test-npm-$(basename "$d").log"
  if ! scripts/npm-ci.sh install "$d" >"$log" 2>&1; then
    echo "$d install (npm ci) FAILED:"
    tail -20 "$log"
    npm_failed=$((npm_failed + 1))
  fi
done
phase_end npm

# default_targets_but DIR REGEX: the build's default targets (ninja names)
# less those defined in a meson.build whose path from the source root
# matches REGEX; a build compiles only what its phase uses.
default_targets_but() {
  meson introspect "$1" --targets | python3 -c '
import json, os, re, sys
root, pat = os.getcwd(), re.compile(sys.argv[2])
for t in json.load(sys.stdin):
    if t["build_by_default"] and not pat.match(os.path.relpath(t["defined_in"], root)):
        for f in t["filename"]:
            print(os.path.relpath(f, sys.argv[1]))
' "$1" "$2"
}

VARIANTS=${BM_VARIANTS:-"release plain asan tsan fuzz"}
JOBS=${BM_JOBS:-$(nproc)}
# Overlap (default on; BM_CI_OVERLAP=0: one phase after the other): the
# first tested build compiles in the foreground; every other build then
# compiles in the background under SCHED_IDLE (chrt --idle: it runs only
# on a core no test wants, so the tests' timing is not disturbed; and the
# idle I/O class) while the tests run. The plain suite is mostly tests that run alone (is_parallel
# false), which leave a core idle for minutes: the other builds fit there.
OVERLAP=${BM_CI_OVERLAP:-1}
logs=()
build_failed=0
build_passed=0

# variant_config V: sets dir opts mult cc_env targets select skip for V;
# returns 1 (with a message) when V cannot be built here, exits 2 when V
# is unknown.
variant_config() {
  dir="build-test-$1"
  cc_env=() targets=() select=() skip='' mult=1
  case "$1" in
    plain) opts=() ;;
    # The sanitizer builds run no benchmark: bench/ is not compiled.
    asan)  opts=(-Db_sanitize=address,undefined -Db_lundef=false); mult=4
           skip='bench/' ;;
    tsan)  opts=(-Db_sanitize=thread -Db_lundef=false); mult=6 skip='bench/' ;;
    # Release runs no test: the node, the library and the benchmarks (what
    # scripts/run.sh and the bench scripts build) at -O3 with -Werror; the
    # test and fuzz-replay binaries are compiled by the other four builds.
    release) opts=(--buildtype=release) skip='(tests|fuzz)/' ;;
    fuzz)  opts=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false)
           cc_env=(CC=clang) targets=(fuzzers)
           select=(--no-rebuild --suite fuzz-run)
           if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
               clang -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1; then
             echo "=== fuzz: skipped (clang cannot link -fsanitize=fuzzer) ==="
             return 1
           fi ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}

# build_variant V: meson setup + ninja for V (variant_config done); the
# exit status goes to $dir.build.rc and the build's own wall seconds to
# $dir.build.secs.
build_variant() {
  local t0=$SECONDS rc
  if [ -d "$dir" ]; then
    env "${cc_env[@]}" meson setup --reconfigure "$dir" "${opts[@]}" >"$dir.setup.log" 2>&1
  else
    env "${cc_env[@]}" meson setup "$dir" "${opts[@]}" >"$dir.setup.log" 2>&1
  fi
  rc=$?
  if [ "$rc" -eq 0 ] && [ -n "$skip" ]; then
    mapfile -t targets < <(default_targets_but "$dir" "$skip")
    [ "${#targets[@]}" -gt 0 ] || rc=1
  fi
  if [ "$rc" -eq 0 ]; then
    ninja -C "$dir" -j"$JOBS" "${targets[@]}" >"$dir.build.log" 2>&1
    rc=$?
  fi
  echo $((SECONDS - t0)) >"$dir.build.secs"
  echo "$rc" >"$dir.build.rc"
}

# The variants in CI order: the tested ones as given, release last when
# overlapping (it is only compiled), first otherwise (as before).
tested=() built=() background=()
for v in $VARIANTS; do
  variant_config "$v" || continue
  rm -f "$dir.build.rc" "$dir.build.secs" # a result is this run's only
  if [ "$v" = release ]; then
    built+=("$v")
  else
    tested+=("$v")
  fi
done
builder=
if [ "$OVERLAP" = 1 ] && [ "${#tested[@]}" -gt 0 ]; then
  order=("${tested[@]}" "${built[@]}")
  echo "=== ${tested[0]} build ==="
  variant_config "${tested[0]}"
  build_variant
  background=("${order[@]:1}")
  if [ "${#background[@]}" -gt 0 ]; then
    echo "=== building in the background (SCHED_IDLE): ${background[*]} ==="
    (
      chrt --idle -p 0 "$BASHPID" 2>/dev/null ||
        renice -n 19 -p "$BASHPID" >/dev/null 2>&1
      ionice -c 3 -p "$BASHPID" 2>/dev/null # idle I/O class too
      for v in "${background[@]}"; do
        variant_config "$v" && build_variant
      done
    ) </dev/null >/dev/null 2>&1 &
    builder=$!
    # shellcheck disable=SC2064
    trap "pkill -TERM -P $builder 2>/dev/null; kill $builder 2>/dev/null" EXIT
  fi
else
  order=("${built[@]}" "${tested[@]}")
fi

# build_result V: V's build (variant_config done) from the background
# builder, waited for, or else done now; prints a failure; 0 when built.
build_result() {
  local v=$1 rc
  if [ ! -f "$dir.build.rc" ] && [ -n "$builder" ] &&
      [[ " ${background[*]} " == *" $v "* ]]; then
    echo "=== $v build (background) ==="
    while [ ! -f "$dir.build.rc" ] && kill -0 "$builder" 2>/dev/null; do
      sleep 1
    done
    phase_end "$v-build-wait"
  fi
  if [ ! -f "$dir.build.rc" ]; then
    echo "=== $v build ==="
    build_variant
  fi
  rc=$(cat "$dir.build.rc")
  phases+=("$v-build(own) $(cat "$dir.build.secs")")
  if [ "$rc" -ne 0 ]; then
    echo "build $v FAILED:"
    tail -40 "$dir.setup.log" "$dir.build.log" 2>/dev/null
    build_failed=$((build_failed + 1))
    return 1
  fi
  return 0
}

for v in "${order[@]}"; do
  variant_config "$v" >/dev/null
  phase_t0=$SECONDS
  build_result "$v" || continue
  if [ "$v" = release ]; then
    echo "release build: OK"
    build_passed=$((build_passed + 1))
    continue
  fi
  echo "=== $v tests ==="
  phase_t0=$SECONDS
  rm -f "$dir/meson-logs/testlog.json"
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
  meson test -C "$dir" "${select[@]}" --num-processes "$JOBS" \
    --timeout-multiplier "$mult" --print-errorlogs 2>&1 | grep -vE '^\s*$' | tail -n 400
  logs+=("$dir/meson-logs/testlog.json")
  phase_end "$v-tests"
done
[ -z "$builder" ] || wait "$builder"

echo "=== phases (wall seconds; build(own): a build's own time, in the" \
  "background when overlapped; load average at the end:" \
  "$(cut -d' ' -f1-3 /proc/loadavg)) ==="
for p in "${phases[@]}"; do
  printf '%-20s %6s\n' ${p}
done
printf '%-20s %6s\n' wall-total "$SECONDS"

read -r passed failed skipped < <(python3 scripts/count-tests.py "${logs[@]}")
failed=$((${failed:-1} + build_failed + npm_failed))
passed=$((${passed:-0} + build_passed))
skipped=${skipped:-0}
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
