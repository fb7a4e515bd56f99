/*
 * The DA client's JSON-RPC response parser (src/da/da_json.c): a raw HTTP
 * body from a possibly hostile DA node, decoded as every result type the
 * client knows. Must never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "da/da_json.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm__da_response r = {NULL, NULL};
    struct bm_errmsg em = {{0}};
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_da_blob b = {0};
    struct bm_buf proof = {NULL, 0};
    struct bm_da_header h;
    uint64_t height;
    bool inc;

    if (bm__da_response_parse((const char *)data, size, 1, &r, &em) !=
        BM_OK) {
        return 0;
    }
    (void)bm__da_decode_blobs(r.result, &l, &em);
    bm_da_blob_list_release(&l);
    (void)bm__da_decode_blob(r.result, &b, &em);
    bm_da_blob_release(&b);
    (void)bm__da_decode_proof(r.result, &proof, &em);
    bm_buf_release(&proof);
    (void)bm__da_decode_height(r.result, &height, &em);
    (void)bm__da_decode_bool(r.result, &inc, &em);
    (void)bm__da_decode_header(r.result, &h, &em);
    bm__da_response_release(&r);
    return 0;
}
