/*
 * Helpers for the p2p foundation tests: hex literals to bytes.
 */
#ifndef BM_TESTS_P2P_SANSIO_UTIL_H
#define BM_TESTS_P2P_SANSIO_UTIL_H

#include "bm_test.h"

#include "util/hex.h"

#include <string.h>

/* Decodes hex (spaces ignored) into out[0..cap); returns the length. */
static inline size_t sx_hex(uint8_t *out, size_t cap, const char *hex)
{
    char digits[1 << 16];
    size_t n = 0;

    for (const char *p = hex; *p != '\0'; p++) {
        if (*p != ' ' && *p != '\n') {
            assert_true(n < sizeof(digits));
            digits[n++] = *p;
        }
    }
    assert_true(n % 2 == 0 && n / 2 <= cap);
    assert_int_equal(bm_hex_decode_fixed(out, n / 2, digits, n), BM_OK);
    return n / 2;
}

/* Asserts p[0..n) equals the hex string. */
static inline void sx_assert_hex(const uint8_t *p, size_t n, const char *hex)
{
    static uint8_t want[1 << 15];
    size_t len = sx_hex(want, sizeof(want), hex);

    if (len != n || memcmp(p, want, n) != 0) {
        char *got = bm_hex_dup(p, n);
        fprintf(stderr, "got  %s\nwant %s\n", got, hex);
        bm_free(got);
    }
    assert_int_equal(n, len);
    assert_memory_equal(p, want, n);
}

#endif /* BM_TESTS_P2P_SANSIO_UTIL_H */
