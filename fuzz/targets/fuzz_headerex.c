/*
 * Fuzz target: go-header exchange messages (src/p2p/headerex_codec.h).
 * The first byte picks what the rest is: 0 a HeaderRequest body, 1 a
 * HeaderResponse body, 2 a stream of framed responses as a client reads
 * it (10 MiB cap). What decodes must re-encode to a message that decodes
 * to the same value: a request with exactly one of origin / hash (the
 * others are what the server resets), every response.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/headerex_codec.h"
#include "p2p/varint.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const uint8_t *p, size_t n)
{
    struct bm_headerex_request rq, rq2;
    struct bm_buf f = {NULL, 0};
    const uint8_t *body;
    size_t len;

    if (bm_headerex_request_decode(p, n, &rq) != BM_OK) {
        return;
    }
    if (rq.has_origin && rq.has_hash) {
        abort(); /* a oneof */
    }
    if (!rq.has_origin && !rq.has_hash) {
        return;
    }
    if (bm_headerex_request_encode(&rq, &f) != BM_OK) {
        if (rq.has_hash && rq.hash_len > BM_HEADEREX_HASH_MAX) {
            return;
        }
        abort();
    }
    if (bm_varint_frame_get(f.ptr, f.len, BM_HEADEREX_MAX_MSG, &body, &len) !=
            (int64_t)f.len ||
        bm_headerex_request_decode(body, len, &rq2) != BM_OK ||
        rq2.has_origin != rq.has_origin || rq2.has_hash != rq.has_hash ||
        rq2.origin != rq.origin || rq2.amount != rq.amount ||
        rq2.hash_len != rq.hash_len ||
        (rq.hash_len > 0 && memcmp(rq2.hash, rq.hash, rq.hash_len) != 0)) {
        abort();
    }
    bm_buf_release(&f);
}

static void check_response(const uint8_t *p, size_t n)
{
    struct bm_headerex_response r, r2;
    size_t size;
    uint8_t *buf;
    const uint8_t *body;
    size_t len;

    if (bm_headerex_response_decode(p, n, &r) != BM_OK) {
        return;
    }
    size = bm_headerex_response_size(r.body_len, r.status);
    if (size == 0) {
        return; /* above the cap */
    }
    buf = bm_malloc(size);
    if (buf == NULL) {
        return;
    }
    if (bm_headerex_response_put(r.body, r.body_len, r.status, buf) != size ||
        bm_varint_frame_get(buf, size, BM_HEADEREX_MAX_MSG, &body, &len) !=
            (int64_t)size ||
        bm_headerex_response_decode(body, len, &r2) != BM_OK ||
        r2.status != r.status || r2.body_len != r.body_len ||
        (r.body_len > 0 && memcmp(r2.body, r.body, r.body_len) != 0)) {
        abort();
    }
    bm_free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 1;

    if (size == 0) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        check_request(data + 1, size - 1);
        break;
    case 1:
        check_response(data + 1, size - 1);
        break;
    default:
        while (off < size) {
            const uint8_t *body;
            size_t len;
            int64_t r = bm_varint_frame_get(data + off, size - off,
                                            BM_HEADEREX_MAX_MSG, &body, &len);

            if (r <= 0) {
                break;
            }
            check_response(body, len);
            off += (size_t)r;
        }
        break;
    }
    return 0;
}
