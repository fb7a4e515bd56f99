/* Hex encoding (lower-case out, either case in). */
#ifndef BM_UTIL_HEX_H
#define BM_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/buf.h"

/* The value 0..15 of one hex digit (either case), or -1. */
int bm_hex_digit(char c);

/* Writes 2*len lower-case hex digits and a NUL to out (size >= 2*len+1). */
void bm_hex_encode(char *out, const uint8_t *p, size_t len);

/* Same, upper-case (go-header Hash.String(), store /i/ keys). */
void bm_hex_encode_upper(char *out, const uint8_t *p, size_t len);

/* Returns an owned NUL-terminated lower-case hex string, or NULL (ENOMEM). */
char *bm_hex_dup(const uint8_t *p, size_t len);

/*
 * Decodes exactly `len` hex chars of s into *out (released first).
 * Surrounding white space is not allowed. BM_EPARSE on an odd length or a
 * non-hex digit; BM_ENOMEM.
 */
enum bm_err bm_hex_decode(struct bm_buf *out, const char *s, size_t len);

/* Decodes into a fixed array; BM_EPARSE unless s has exactly 2*n digits. */
enum bm_err bm_hex_decode_fixed(uint8_t *out, size_t n, const char *s,
                                size_t len);

#endif /* BM_UTIL_HEX_H */
