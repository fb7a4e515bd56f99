/* UTF-8 validation. */
#ifndef BM_UTIL_UTF8_H
#define BM_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True iff s[0..n) is well-formed UTF-8 as Go's utf8.Valid defines it: no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF,
 * no truncated sequence. NUL bytes are valid. Borrows s (may be NULL when
 * n == 0). Pure; thread-safe. */
bool bm_utf8_valid(const uint8_t *s, size_t n);

#endif /* BM_UTIL_UTF8_H */
