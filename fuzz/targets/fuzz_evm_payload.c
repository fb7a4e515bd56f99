/*
 * The getPayload scanner of the EVM executor (src/exec/evm/decode.c,
 * bm_evm_scan_payload): a raw HTTP body from a possibly hostile execution
 * client. Must never crash or leak, and whenever it accepts a body, the
 * json-c path (bm_evm_reply_parse, bm_evm_dec_payload) must accept the
 * same body with the same fields, and the bytes it keeps for newPayload
 * (the executionPayload object, the executionRequests array) must be JSON
 * that json-c reads as the very values its own tree holds (a differential
 * check: abort on any difference). The id expected is 1, as in the seeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/evm/decode.h"
#include "util/errmsg.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void differ(const char *what)
{
    fprintf(stderr, "fuzz_evm_payload: the scanner and json-c disagree: "
                    "%s\n", what);
    abort();
}

/* json-c's plain serialisation of text[0..len) and of v must be equal. */
static void same_value(const struct bm_evm_span *text, struct json_object *v,
                       const char *what)
{
    const int fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
    struct json_object *o = NULL;
    struct bm_errmsg em = {{0}};

    if (bm_json_parse(text->p, text->len, BM_EVM_JSON_DEPTH, &o, &em) !=
            BM_OK ||
        o == NULL) {
        differ(what);
    }
    if (strcmp(json_object_to_json_string_ext(o, fl),
               json_object_to_json_string_ext(v, fl)) != 0) {
        differ(what);
    }
    json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_evm_payload s = {0}, j = {0};
    struct bm_evm_reply r = {0};
    struct bm_errmsg em = {{0}};
    struct json_object *ep = NULL, *rq = NULL;

    if (!bm_evm_scan_payload((const char *)data, size, 1, &s)) {
        return 0;
    }
    if (bm_evm_reply_parse((const char *)data, size, 1, &r, &em) != BM_OK ||
        bm_evm_dec_payload(r.result, &j, &em) != BM_OK) {
        differ(em.msg);
    }
    if (s.number != j.number || s.timestamp != j.timestamp ||
        s.gas_limit != j.gas_limit || s.n_txs != j.n_txs ||
        memcmp(s.block_hash, j.block_hash, BM_EVM_HASH_LEN) != 0 ||
        memcmp(s.parent_hash, j.parent_hash, BM_EVM_HASH_LEN) != 0 ||
        memcmp(s.state_root, j.state_root, BM_EVM_HASH_LEN) != 0) {
        differ("fields");
    }
    for (size_t i = 0; i < s.n_txs; i++) {
        if (s.txs[i].len != j.txs[i].len ||
            memcmp(s.txs[i].p, j.txs[i].p, s.txs[i].len) != 0) {
            differ("transactions");
        }
    }
    if ((s.requests.p == NULL) != (j.requests.p == NULL)) {
        differ("executionRequests present");
    }
    /* the kept bytes lie in the body */
    if (s.payload.p < (const char *)data ||
        s.payload.p + s.payload.len > (const char *)data + size ||
        (s.requests.p != NULL &&
         (s.requests.p < (const char *)data ||
          s.requests.p + s.requests.len > (const char *)data + size))) {
        differ("spans");
    }
    json_object_object_get_ex(r.result, "executionPayload", &ep);
    same_value(&s.payload, ep, "executionPayload");
    if (s.requests.p != NULL) {
        json_object_object_get_ex(r.result, "executionRequests", &rq);
        same_value(&s.requests, rq, "executionRequests");
    }
    bm_evm_payload_release(&s);
    bm_evm_payload_release(&j);
    bm_evm_reply_release(&r);
    return 0;
}
