/*
 * Protobuf wire format, read zero-copy from untrusted bytes, for the p2p
 * protocol codecs that must see fields exactly as they arrived (FloodSub
 * verifies a signature over a re-encoding that keeps unknown fields in
 * received order, spec 8.5; the header exchange is a few scalar fields,
 * spec 10.1). protobuf-c would copy every 5 MiB payload and drop that
 * order, so these codecs walk the fields themselves.
 *
 * Rules (those of Go's gogo/protowire decoders):
 *  - a tag is a protobuf varint (non-minimal encodings accepted, at most
 *    10 bytes); field number 0 or above 2^29 - 1 is malformed;
 *  - wire types 0 (varint), 1 (64-bit), 2 (length-delimited), 5 (32-bit)
 *    and groups (3 ... matching 4, nested at most BM_PBWIRE_MAX_DEPTH deep,
 *    returned as one field) are read; 6, 7 and a stray end-group are
 *    malformed;
 *  - a length or fixed value that runs past the end is truncation.
 *
 * Thread-safety: pure functions, reentrant, no allocation.
 */
#ifndef BM_P2P_PBWIRE_H
#define BM_P2P_PBWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

#define BM_PBWIRE_MAX_FIELD 536870911u /* 2^29 - 1 */
#define BM_PBWIRE_MAX_DEPTH 32u        /* nested groups */

enum bm_pbwire_type {
    BM_PBWIRE_VARINT = 0,
    BM_PBWIRE_I64 = 1,
    BM_PBWIRE_LEN = 2,
    BM_PBWIRE_GROUP = 3, /* start group; the field spans to its end */
    BM_PBWIRE_I32 = 5,
};

/* One field as read; pointers into the input (valid as long as it). */
struct bm_pbwire_field {
    uint32_t num;
    enum bm_pbwire_type type;
    uint64_t u;            /* VARINT value; I64/I32 little-endian value */
    const uint8_t *val;    /* LEN: the payload */
    size_t len;
    const uint8_t *start;  /* the whole field, tag included */
    size_t span;
};

/*
 * Reads the field at p[*pos..n) (borrowed) into *f and advances *pos past
 * it. Errors: BM_ETRUNCATED (runs past n), BM_EVARINT (a varint longer
 * than 10 bytes), BM_EDECODE (field number 0 or too large, wire type 4, 6
 * or 7, groups nested too deep or unterminated); *pos is then unchanged.
 */
enum bm_err bm_pbwire_next(const uint8_t *p, size_t n, size_t *pos,
                           struct bm_pbwire_field *f);

/* Writes the tag of field num with wire type t into out (room for 5
 * bytes) and returns its length. */
size_t bm_pbwire_put_tag(uint8_t *out, uint32_t num, enum bm_pbwire_type t);

/* Writes tag(num, LEN) || uvarint(len) into out (room for
 * BM_PBWIRE_LEN_HDR_MAX bytes) and returns its length. */
#define BM_PBWIRE_LEN_HDR_MAX 15u
size_t bm_pbwire_put_len_hdr(uint8_t *out, uint32_t num, size_t len);

/* Writes tag(num, LEN) || uvarint(len) || p[0..len) (borrowed) into out
 * (room for bm_pbwire_len_field_size bytes) and returns its length. */
size_t bm_pbwire_put_len_field(uint8_t *out, uint32_t num, const uint8_t *p,
                               size_t len);

/* Size of tag(num, LEN) || uvarint(len) || len bytes. */
size_t bm_pbwire_len_field_size(uint32_t num, size_t len);

/* Writes tag(num, VARINT) || uvarint(v) into out (room for 15 bytes) and
 * returns its length. */
size_t bm_pbwire_put_varint_field(uint8_t *out, uint32_t num, uint64_t v);

#endif /* BM_P2P_PBWIRE_H */
