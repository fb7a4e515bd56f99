/*
 * The blob.GetAll scanner (bm__da_scan_get_all) against the json-c
 * decoder it stands in for (bm__da_response_parse + bm__da_decode_blobs),
 * on the same body: shared by fuzz_da_getall.c and tests/da/test_parse.c.
 */
#ifndef BM_FUZZ_TARGETS_GETALL_EQUIV_H
#define BM_FUZZ_TARGETS_GETALL_EQUIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "blockv2/da.h"
#include "da/da_json.h"
#include "util/errmsg.h"

enum getall_verdict {
    GETALL_SAME = 0,     /* the scanner decoded it, with the same result */
    GETALL_DECLINED,     /* the scanner left it to the json-c decoder */
    GETALL_DIFFERENT,    /* a bug: the scanner disagrees */
};

static inline bool getall_blob_eq(const struct bm_da_blob *a,
                                  const struct bm_da_blob *b)
{
    return memcmp(a->ns.b, b->ns.b, BM_DA_NS_LEN) == 0 &&
           bm_buf_eq(&a->data, &b->data) &&
           a->share_version == b->share_version &&
           memcmp(a->commitment, b->commitment, BM_DA_COMMITMENT_LEN) == 0 &&
           a->has_signer == b->has_signer &&
           memcmp(a->signer, b->signer, BM_DA_SIGNER_LEN) == 0 &&
           a->index == b->index;
}

/* Decodes body both ways. An allocation failure on either side counts
 * as declined (nothing to compare). Borrows body. */
static inline enum getall_verdict getall_equiv(const char *body, size_t len,
                                               uint64_t id)
{
    struct bm_da_blob_list fast = {NULL, 0}, slow = {NULL, 0};
    struct bm__da_response r = {NULL, NULL};
    struct bm_errmsg em = {{0}};
    enum getall_verdict v = GETALL_DECLINED;
    enum bm_err err;

    if (!bm__da_scan_get_all(body, len, id, &fast)) {
        return GETALL_DECLINED;
    }
    err = bm__da_response_parse(body, len, id, &r, &em);
    if (err == BM_OK) {
        err = bm__da_decode_blobs(r.result, &slow, &em);
    }
    bm__da_response_release(&r);
    if (err == BM_ENOMEM) {
        v = GETALL_DECLINED;
    } else if (fast.n == 0) {
        v = err == BM_EDA_NOT_FOUND ? GETALL_SAME : GETALL_DIFFERENT;
    } else if (err != BM_OK || slow.n != fast.n) {
        v = GETALL_DIFFERENT;
    } else {
        v = GETALL_SAME;
        for (size_t i = 0; i < fast.n; i++) {
            if (!getall_blob_eq(&fast.v[i], &slow.v[i])) {
                v = GETALL_DIFFERENT;
            }
        }
    }
    bm_da_blob_list_release(&fast);
    bm_da_blob_list_release(&slow);
    return v;
}

#endif /* BM_FUZZ_TARGETS_GETALL_EQUIV_H */
