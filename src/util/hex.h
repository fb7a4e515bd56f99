/* Hex encoding (lower-case out, either case in). */
#ifndef BM_UTIL_HEX_H
#define BM_UTIL_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/buf.h"

/* The value 0..15 of one hex digit (either case), or -1. */
int bm_hex_digit(char c);

/* Decodes the 2n hex digits at s (borrowed) into out[0..n). False if any
 * is not a hex digit (out then holds garbage). No allocation. */
bool bm_hex_unhex(uint8_t *out, const char *s, size_t n);

/* True when s[0..len) are all hex digits (borrowed). */
bool bm_hex_all_digits(const char *s, size_t len);

/* True when the 2n hex digits at s spell p[0..n) (both borrowed). */
bool bm_hex_eq(const char *s, const uint8_t *p, size_t n);

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
