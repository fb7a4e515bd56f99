/*
 * go-header exchange messages (`/<networkID>/header-ex/v0.0.3`, spec
 * section 10.1), sans-IO.
 *
 *   message HeaderRequest  { oneof data { uint64 origin = 1; bytes hash = 2; }
 *                            uint64 amount = 3; }
 *   enum    StatusCode     { INVALID = 0; OK = 1; NOT_FOUND = 2; }
 *   message HeaderResponse { bytes body = 1; StatusCode statusCode = 2; }
 *
 * proto3: `origin = 0` is still encoded (oneof fields have presence);
 * `amount = 0`, an empty body and INVALID are omitted. Decoding follows
 * protobuf: unknown fields are skipped, the last of origin/hash wins the
 * oneof, a known field with another wire type is malformed. The status is
 * kept as received (an unknown value is not an error here; the client
 * treats anything but OK and NOT_FOUND as a bad peer).
 *
 * Every message travels as uvarint(len) || protobuf, at most
 * BM_HEADEREX_MAX_MSG bytes (both ways; EV pkg/sync/p2p_message_size.go).
 *
 * Thread-safety: pure functions, reentrant.
 */
#ifndef BM_P2P_HEADEREX_CODEC_H
#define BM_P2P_HEADEREX_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

/* 2 x DefaultMaxBlobSize. */
#define BM_HEADEREX_MAX_MSG ((size_t)10485760)
/* go-header's MaxRangeRequestSize. */
#define BM_HEADEREX_MAX_RANGE 64u
/* The longest hash a request may carry (go-header's are 32 bytes). */
#define BM_HEADEREX_HASH_MAX 64u

#define BM_HEADEREX_STATUS_INVALID 0u
#define BM_HEADEREX_STATUS_OK 1u
#define BM_HEADEREX_STATUS_NOT_FOUND 2u

struct bm_headerex_request {
    bool has_origin;          /* exactly one of has_origin, has_hash */
    bool has_hash;            /* (both false: the server resets) */
    uint64_t origin;
    const uint8_t *hash;      /* borrowed / points into the input */
    size_t hash_len;
    uint64_t amount;
};

struct bm_headerex_response {
    const uint8_t *body;      /* points into the input (or borrowed) */
    size_t body_len;
    uint64_t status;          /* as received */
};

/* Frames *r (borrowed) as uvarint(len) || HeaderRequest into *out
 * (released first; returns owned). BM_EINVAL (both or a hash above
 * BM_HEADEREX_HASH_MAX), BM_ENOMEM. */
enum bm_err bm_headerex_request_encode(const struct bm_headerex_request *r,
                                       struct bm_buf *out);

/* Decodes a HeaderRequest body p[0..n) (borrowed, untrusted; no prefix)
 * into *out (hash points into p). Errors: BM_EDECODE, BM_EWIRETYPE,
 * BM_ETRUNCATED, BM_EVARINT. */
enum bm_err bm_headerex_request_decode(const uint8_t *p, size_t n,
                                       struct bm_headerex_request *out);

/* Size of the framed response with a body of body_len bytes and status,
 * prefix included (0 if above BM_HEADEREX_MAX_MSG). */
size_t bm_headerex_response_size(size_t body_len, uint64_t status);

/* Frames HeaderResponse{body, status} into out (room for
 * bm_headerex_response_size bytes) and returns the bytes written. */
size_t bm_headerex_response_put(const uint8_t *body, size_t body_len,
                                uint64_t status, uint8_t *out);

/* Decodes a HeaderResponse body p[0..n) (borrowed, untrusted) into *out
 * (body points into p). Errors as the request decoder. */
enum bm_err bm_headerex_response_decode(const uint8_t *p, size_t n,
                                        struct bm_headerex_response *out);

#endif /* BM_P2P_HEADEREX_CODEC_H */
