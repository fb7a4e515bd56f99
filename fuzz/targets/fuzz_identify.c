/*
 * Fuzz target: identify (src/p2p/identify.h) on untrusted bytes.
 *  1. The input as one Identify body: if it decodes, its encoding decodes
 *     to the same encoding (a fixed point), unless it is above the 4 KiB
 *     we send (BM_ETOOBIG is then the only allowed error).
 *  2. The input as a stream (framed messages), fed whole and in chunks of
 *     the size byte 0 gives: both readers agree on the outcome and, on
 *     success, on the merged result's encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/identify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const uint8_t *data, size_t size)
{
    struct bm_identify a, b;
    struct bm_buf e1 = {0}, e2 = {0};
    int err;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (bm_identify_merge(&a, data, size) != BM_OK) {
        return;
    }
    err = bm_identify_encode(&a, &e1);
    if (err == BM_OK) {
        size_t pre = 1;

        while (pre < e1.len && (e1.ptr[pre - 1] & 0x80)) {
            pre++;
        }
        if (bm_identify_merge(&b, e1.ptr + pre, e1.len - pre) != BM_OK ||
            bm_identify_encode(&b, &e2) != BM_OK || !bm_buf_eq(&e1, &e2)) {
            abort();
        }
    } else if (err != BM_ETOOBIG && err != BM_ENOMEM) {
        abort();
    }
    bm_buf_release(&e1);
    bm_buf_release(&e2);
    bm_identify_release(&a);
    bm_identify_release(&b);
}

/* Reads data as a stream in chunks; returns the result and its encoding
 * (empty unless BM_OK). */
static int read_stream(const uint8_t *data, size_t size, size_t chunk,
                       struct bm_buf *enc)
{
    struct bm_identify_reader r;
    struct bm_identify id;
    int err = BM_OK;

    memset(&r, 0, sizeof(r));
    memset(&id, 0, sizeof(id));
    for (size_t off = 0; off < size && err == BM_OK; off += chunk) {
        size_t k = size - off < chunk ? size - off : chunk;

        err = bm_identify_reader_feed(&r, data + off, k);
    }
    if (err == BM_OK) {
        err = bm_identify_reader_finish(&r, &id);
    }
    if (err == BM_OK) {
        int e = bm_identify_encode(&id, enc);

        if (e != BM_OK && e != BM_ETOOBIG && e != BM_ENOMEM) {
            abort();
        }
    }
    bm_identify_release(&id);
    bm_identify_reader_release(&r);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_buf whole = {0}, chunked = {0};
    int a, b;

    if (size < 1) {
        return 0;
    }
    roundtrip(data + 1, size - 1);
    a = read_stream(data + 1, size - 1, size, &whole);
    b = read_stream(data + 1, size - 1, (size_t)data[0] + 1, &chunked);
    if (a != b || !bm_buf_eq(&whole, &chunked)) {
        abort();
    }
    bm_buf_release(&whole);
    bm_buf_release(&chunked);
    return 0;
}
