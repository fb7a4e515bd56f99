#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# under three builds: plain, ASan+UBSan, and TSan; a fourth, release (-O3,
# what scripts/run.sh builds), is compiled with -Werror and counts as one
# test; a fifth, fuzz (clang, libFuzzer, ASan+UBSan), builds only the fuzz
# targets and runs each for BM_FUZZ_SECONDS (default 4) on its corpus
# (suite fuzz-run; skipped with a message when clang cannot link
# -fsanitize=fuzzer). Ends with the line "N passed, N failed, N skipped"
# and exits non-zero if anything failed.
#
#   scripts/test.sh            # all builds
#   BM_VARIANTS="plain" scripts/test.sh   # a subset (plain asan tsan release fuzz)
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }

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

VARIANTS=${BM_VARIANTS:-"release plain asan tsan fuzz"}
JOBS=${BM_JOBS:-$(nproc)}
logs=()
build_failed=0
build_passed=0

for v in $VARIANTS; do
  dir="build-test-$v"
  cc_env=() targets=() select=()
  case "$v" in
    plain) opts=(); mult=1 ;;
    asan)  opts=(-Db_sanitize=address,undefined -Db_lundef=false); mult=4 ;;
    tsan)  opts=(-Db_sanitize=thread -Db_lundef=false); mult=6 ;;
    release) opts=(--buildtype=release); mult=1 ;;
    fuzz)  opts=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false)
           mult=1 cc_env=(CC=clang) targets=(fuzzers)
           select=(--no-rebuild --suite fuzz-run)
           if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
               clang -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1; then
             echo "=== fuzz: skipped (clang cannot link -fsanitize=fuzzer) ==="
             continue
           fi ;;
    *) echo "unknown variant $v"; exit 2 ;;
  esac
  echo "=== $v build ==="
  if [ -d "$dir" ]; then
    env "${cc_env[@]}" meson setup --reconfigure "$dir" "${opts[@]}" >"$dir.setup.log" 2>&1
  else
    env "${cc_env[@]}" meson setup "$dir" "${opts[@]}" >"$dir.setup.log" 2>&1
  fi
  if [ $? -ne 0 ] || ! ninja -C "$dir" -j"$JOBS" "${targets[@]}" >"$dir.build.log" 2>&1; then
    echo "build $v FAILED:"
    tail -40 "$dir.setup.log" "$dir.build.log" 2>/dev/null
    build_failed=$((build_failed + 1))
    continue
  fi
  if [ "$v" = release ]; then
    echo "release build: OK"
    build_passed=$((build_passed + 1))
    continue
  fi
  echo "=== $v tests ==="
  rm -f "$dir/meson-logs/testlog.json"
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
  meson test -C "$dir" "${select[@]}" --num-processes "$JOBS" \
    --timeout-multiplier "$mult" --print-errorlogs 2>&1 | grep -vE '^\s*$' | tail -n 400
  logs+=("$dir/meson-logs/testlog.json")
done

read -r passed failed skipped < <(python3 scripts/count-tests.py "${logs[@]}")
failed=$((${failed:-1} + build_failed + npm_failed))
passed=$((${passed:-0} + build_passed))
skipped=${skipped:-0}
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
