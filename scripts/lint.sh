#!/usr/bin/env bash
# Source lint run as a test: banned functions (git's banned.h list), raw
# allocation outside src/util/alloc.c, LMDB codes mapped anywhere but the
# one map in src/util/lmdb_err.c, and clock reads, sleeps and condition
# variables outside src/util/clock.c. Prints offending lines; exit 1 if any.
set -u
cd "$(dirname "$0")/.."
fail=0
dirs="src cmd include"
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|gmtime|localtime)[[:space:]]*\('
if grep -rnE "$banned" $dirs --include='*.c' --include='*.h'; then
    echo "lint: banned function used (see scripts/lint.sh)"
    fail=1
fi
raw='(^|[^_a-zA-Z0-9.>])(malloc|calloc|realloc|free|strdup|strndup)[[:space:]]*\('
if grep -rnE "$raw" $dirs --include='*.c' --include='*.h' \
        | grep -v '^src/util/alloc.c:' | grep -v 'lint: allow-raw-alloc'; then
    echo "lint: raw allocation outside src/util/alloc.c (use bm_malloc & co.)"
    fail=1
fi
if grep -rnE 'case[[:space:]]+MDB_' $dirs --include='*.c' --include='*.h' \
        | grep -v '^src/util/lmdb_err.c:'; then
    echo "lint: LMDB codes mapped outside src/util/lmdb_err.c (use bm_lmdb_err)"
    fail=1
fi
# Clocks (docs/actor-runtime.md "Clocks"): every clock read and sleep goes
# through src/util/clock.c, so deadlines and timed waits are on
# CLOCK_MONOTONIC and wall time is read in one place.
clk='(^|[^_a-zA-Z0-9])(clock_gettime|nanosleep|clock_nanosleep|usleep|sleep|sigtimedwait|gettimeofday|time)\('
if grep -rnE "$clk" $dirs --include='*.c' --include='*.h' \
        | grep -v '^src/util/clock.c:'; then
    echo "lint: clock read or sleep outside src/util/clock.c (use util/clock.h)"
    fail=1
fi
# Condition variables are util/clock.h's struct bm_cond (a futex): glibc's
# pthread_cond_signal can lose a wake-up (glibc bug 25847), in the tests and
# benchmarks too.
if grep -rnE '(^|[^_a-zA-Z0-9])(pthread_cond_[a-z]+|PTHREAD_COND_INITIALIZER)' \
        $dirs tests bench fuzz --include='*.c' --include='*.h' \
        --exclude-dir=node_modules; then
    echo "lint: a pthread condition variable (use struct bm_cond, util/clock.h)"
    fail=1
fi
# Tests and benchmarks sleep through the same helper (one bm_sleep_ms).
sleeps='(^|[^_a-zA-Z0-9])(nanosleep|clock_nanosleep|usleep|sleep)\('
if grep -rnE "$sleeps" tests bench --include='*.c' --include='*.h'; then
    echo "lint: sleep outside src/util/clock.c (use bm_sleep_ms)"
    fail=1
fi
exit $fail
