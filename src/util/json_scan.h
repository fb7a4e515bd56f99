/*
 * The primitives of the streaming JSON scanners that read hot answers
 * without json-c's tree (the DA client's GetAll, the EVM executor's
 * getPayload): white space, one structural byte, the literals, plain
 * integers. A scanner built on them accepts a strict subset of JSON and
 * declines the rest to a json-c decoder; so each primitive only says
 * whether the next bytes are what it wants, and never reads past end.
 *
 * Pure; thread-safe (each scan is the caller's).
 */
#ifndef BM_UTIL_JSON_SCAN_H
#define BM_UTIL_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The text left: [p, end), borrowed. */
struct bm_json_scan {
    const uint8_t *p;
    const uint8_t *end;
};

/* Skips JSON white space (space, tab, CR, LF). */
void bm_json_scan_ws(struct bm_json_scan *s);

/* Skips white space and consumes c. */
bool bm_json_scan_byte(struct bm_json_scan *s, uint8_t c);

/* Skips white space; true when the next byte is c (not consumed). */
bool bm_json_scan_peek(struct bm_json_scan *s, uint8_t c);

/* Skips white space and consumes word[0..n) (true, false, null). */
bool bm_json_scan_word(struct bm_json_scan *s, const char *word, size_t n);

/* The bytes up to the next '"' as a string: [*str, *str + *len), the
 * quotes consumed. Unchecked: for values whose decoding refuses every
 * byte that is not theirs (base64, hex: a '\\', a control byte,
 * non-ASCII), so an escape or a cut string is declined there. */
bool bm_json_scan_raw_string(struct bm_json_scan *s, const uint8_t **str,
                             size_t *len);

/* A string of printable ASCII without escapes (keys, short words). */
bool bm_json_scan_string(struct bm_json_scan *s, const uint8_t **str,
                         size_t *len);

/* A JSON integer of at most 18 digits (no fraction, no exponent, no
 * leading zero, no -0) followed by a structural byte or white space:
 * json-c holds it exactly as an int64. */
bool bm_json_scan_int(struct bm_json_scan *s, int64_t *out);

#endif /* BM_UTIL_JSON_SCAN_H */
