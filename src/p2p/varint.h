/*
 * Unsigned varints and length-prefixed framing, as libp2p uses them
 * (spec section 0 "uvarint", 3.1, 6.1, 8.2, 10.1).
 *
 * A uvarint is unsigned LEB128, limited the way Go's go-varint limits it:
 * at most 9 bytes (values up to 2^63 - 1) and minimally encoded (a
 * multi-byte varint never ends in a 0x00 byte). Go rejects anything else,
 * and so do we: BM_EVARINT.
 *
 * A length-prefixed frame is uvarint(len) || body. Every reader takes a
 * cap on len chosen by the protocol (multistream 1024, identify 8 KiB,
 * FloodSub 5 MiB, ...) and refuses a larger len with BM_ETOOBIG as soon as
 * the prefix is complete, before any body byte is needed.
 *
 * Incremental and zero-copy (STYLE rule 25): parsers look at the bytes the
 * caller has so far and answer "need more" (0), a count of bytes used
 * (> 0), or a negative enum bm_err. They never copy and never allocate;
 * the caller keeps unconsumed bytes and calls again with more.
 *
 * Thread-safety: pure functions, reentrant.
 */
#ifndef BM_P2P_VARINT_H
#define BM_P2P_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

/* Longest uvarint Go accepts, and the largest value it can carry. */
#define BM_VARINT_MAX_LEN 9
#define BM_VARINT_MAX_VALUE ((uint64_t)INT64_MAX)

/*
 * Number of bytes of the minimal encoding of v (1..10; values above
 * BM_VARINT_MAX_VALUE need 10, which no reader accepts).
 */
size_t bm_varint_size(uint64_t v);

/*
 * Writes the minimal encoding of v into out (room for bm_varint_size(v)
 * bytes; 10 always suffice) and returns its length. Callers keep v at or
 * below BM_VARINT_MAX_VALUE: a larger value is encoded in 10 bytes, which
 * no reader (ours or Go's) accepts.
 */
size_t bm_varint_put(uint64_t v, uint8_t *out);

/*
 * Decodes the uvarint at the start of p[0..n) (borrowed).
 * Returns the number of bytes it takes (1..9) with the value in *v;
 * 0 when p holds only a prefix of a varint (need more; *v untouched);
 * BM_EVARINT when it is not minimal or longer than 9 bytes.
 */
int bm_varint_get(const uint8_t *p, size_t n, uint64_t *v);

/*
 * Decodes a protobuf varint (inside protobuf messages, where Go's
 * protowire accepts non-minimal encodings): at most 10 bytes, value up to
 * 2^64 - 1. Returns the bytes taken, 0 when incomplete, BM_EVARINT.
 */
int bm_varint_get_pb(const uint8_t *p, size_t n, uint64_t *v);

/*
 * Reads the length prefix of a frame at the start of p[0..n) (borrowed).
 * Returns the prefix size (> 0) with the body length in *len;
 * 0 when the prefix is incomplete; BM_EVARINT; BM_ETOOBIG when the body
 * length exceeds max (known from the prefix alone).
 */
int bm_varint_frame_header(const uint8_t *p, size_t n, size_t max, size_t *len);

/*
 * Finds one whole frame at the start of p[0..n) (borrowed).
 * Returns the total frame size (prefix + body, > 0) and sets *body
 * (pointing into p, valid as long as p) and *len; 0 when the frame is
 * not complete yet (need more); BM_EVARINT; BM_ETOOBIG (len > max).
 * A zero-length body is a valid frame (*len == 0).
 */
int64_t bm_varint_frame_get(const uint8_t *p, size_t n, size_t max,
                            const uint8_t **body, size_t *len);

/*
 * Writes the prefix uvarint(len) of a frame into out (room for
 * BM_VARINT_MAX_LEN bytes) and returns its size (1..9).
 */
size_t bm_varint_frame_put_header(uint32_t len, uint8_t *out);

#endif /* BM_P2P_VARINT_H */
