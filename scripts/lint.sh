#!/usr/bin/env bash
# Source lint run as a test: banned functions (git's banned.h list), raw
# allocation outside src/util/alloc.c, and LMDB codes mapped anywhere but
# the one map in src/util/lmdb_err.c. Prints offending lines; exit 1 if any.
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
exit $fail
