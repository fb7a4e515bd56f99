/*
 * Fuzz target: KV tx ingress parsing on untrusted bytes, single and batch
 * forms. The first input byte picks the content type (odd:
 * application/json, even: raw); the rest is the request body. Every tx
 * goes through bm_kv_check_tx; then the submission results are faked from
 * the input (the sequencer is not involved) and the reply is rendered.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "exec/kv/ingress.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum bm_err results[] = {BM_OK, BM_EEXIST, BM_EQUEUE_FULL,
                                          BM_EIO};
    struct bm_ingress_req r = {0};
    struct bm_buf json = {0};
    struct bm_errmsg em = {{0}};
    const char *ct;
    int status = 0;

    if (size == 0) {
        return 0;
    }
    ct = (data[0] & 1) ? "application/json" : "application/octet-stream";
    if (bm_ingress_parse(ct, data + 1, size - 1, &r, &em) != BM_OK) {
        return 0;
    }
    for (size_t j = 0; j < r.n_sub; j++) {
        r.sub_status[j] = results[(data[0] >> 1) % 4];
    }
    bm_ingress_req_settle(&r);
    (void)bm_ingress_req_reply(&r, &status, &json);
    if (status != 200 && (status < 202 || status > 503)) {
        __builtin_trap();
    }
    bm_buf_release(&json);
    bm_ingress_req_release(&r);
    return 0;
}
