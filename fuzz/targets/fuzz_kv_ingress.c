/*
 * Fuzz target: KV tx ingress parsing on untrusted bytes. The first input
 * byte picks the content type (odd: application/json, even: raw); the rest
 * is the request body. The extracted tx then goes through bm_kv_check_tx
 * and the reply is rendered as JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "exec/kv/ingress.h"
#include "exec/kv/kv.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_buf tx = {0};
    struct bm_buf json = {0};
    struct bm_errmsg em = {{0}};
    struct bm_ingress_reply r = {0};
    const char *ct;
    enum bm_err err;

    if (size == 0) {
        return 0;
    }
    ct = (data[0] & 1) ? "application/json" : "application/octet-stream";
    err = bm_ingress_parse_body(ct, data + 1, size - 1, &tx, &em);
    if (err == BM_OK) {
        err = bm_kv_check_tx(tx.ptr, tx.len, NULL, &em);
    }
    r.err = err;
    r.http_status = bm_ingress_http_status(err);
    r.has_hash = err == BM_OK;
    snprintf(r.reason, sizeof(r.reason), "%s", bm_errmsg_str(&em, err));
    (void)bm_ingress_reply_json(&r, &json);
    bm_buf_release(&json);
    bm_buf_release(&tx);
    return 0;
}
