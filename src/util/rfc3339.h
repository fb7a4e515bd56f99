/*
 * RFC 3339 timestamps (the subset Go's time.RFC3339 / RFC3339Nano use):
 *   YYYY-MM-DDThh:mm:ss[.f{1,}](Z|+hh:mm|-hh:mm)
 * Parsing is pure (no locale, no time zone database, no allocation) and
 * safe on untrusted input; formatting always writes UTC with a 'Z' suffix.
 * All functions are thread-safe and never block.
 */
#ifndef BM_UTIL_RFC3339_H
#define BM_UTIL_RFC3339_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

/* Output buffer size of the formatters, with NUL; exactly enough for the
 * longest int64 sec: "-292277022657-01-27T08:29:52.999999999Z" (39 chars). */
#define BM_RFC3339_MAX 40

/*
 * Parser flags. 0 is the core grammar: 'T' and 'Z' upper case only, '.'
 * before the fraction, seconds 00..59, the day checked against the month
 * (with Gregorian leap years). Flags only widen what is accepted.
 */
/* ',' is accepted as the decimal mark too (Go's time.Parse does this). */
#define BM_RFC3339_COMMA 0x1u
/* Lower-case 't' and 'z' are accepted (RFC 3339 section 5.6 NOTE). */
#define BM_RFC3339_LOWER 0x2u
/* Second 60 is accepted and counted as one more second (so :59:60 equals
 * the next minute's :00). */
#define BM_RFC3339_SEC60 0x4u
/* The day is only checked against 01..31; a day past the end of its month
 * rolls into the next month (Feb 30 == Mar 1 or 2). */
#define BM_RFC3339_LOOSE_MDAY 0x8u
/* What Go's time.Parse(time.RFC3339, s) accepts. */
#define BM_RFC3339_GO BM_RFC3339_COMMA

/*
 * Parses s[0..len) (not NUL-terminated; must match entirely) into Unix
 * seconds *sec (negative before 1970) and *nsec in 0..999999999. Fraction
 * digits past the ninth are accepted and truncated; the offset must be
 * +-hh:mm with hh <= 23 and mm <= 59. Years are 0000..9999, so *sec cannot
 * overflow. Borrows s; writes the outputs only on success.
 * Returns BM_OK or BM_EPARSE (malformed or out-of-range field).
 */
enum bm_err bm_rfc3339_parse(const char *s, size_t len, unsigned flags,
                             int64_t *sec, int32_t *nsec);

/*
 * Formats sec/nsec as UTC in Go's RFC3339Nano form: fraction trailing zeros
 * trimmed, no fraction at all when it is zero. nsec outside 0..999999999 is
 * folded into sec. Years outside 0000..9999 are printed with more digits
 * or a leading '-' (Go's RFC3339 cannot represent them either). Writes a
 * NUL-terminated string into out; returns its length.
 */
size_t bm_rfc3339_format_utc(int64_t sec, int32_t nsec,
                             char out[BM_RFC3339_MAX]);

/* As bm_rfc3339_format_utc but always with nine fraction digits
 * ("2006-01-02T15:04:05.000000000Z", celestia-node's header time form). */
size_t bm_rfc3339_format_utc9(int64_t sec, int32_t nsec,
                              char out[BM_RFC3339_MAX]);

#endif /* BM_UTIL_RFC3339_H */
