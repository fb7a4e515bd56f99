#!/bin/sh
# Usage: compile_fail.sh <source root> <compiler command...>
# The typed-send probe must compile as is and fail with each BM_BAD_* macro.
set -u
root="$1"
shift
src="$root/tests/actor/typed_send.c"
flags="-std=c11 -D_GNU_SOURCE -fsyntax-only -Wall -Wextra -Werror -Werror=incompatible-pointer-types -I$root/include"
if ! "$@" $flags "$src"; then
    echo "FAIL: the well-typed probe does not compile"
    exit 1
fi
for bad in BM_BAD_REF BM_BAD_PAYLOAD; do
    if out=$("$@" $flags -D$bad "$src" 2>&1); then
        echo "FAIL: $bad compiled; typed sends are not checked"
        exit 1
    fi
    # It must fail for the type mismatch, not for something else.
    if ! echo "$out" | grep -qi "incompatible"; then
        echo "FAIL: $bad failed for another reason:"
        echo "$out"
        exit 1
    fi
    echo "ok: $bad rejected by the compiler"
done
exit 0
