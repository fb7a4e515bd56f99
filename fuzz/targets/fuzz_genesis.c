/*
 * Fuzz target: genesis.json parsing (bm_genesis_parse) and the RFC 3339
 * parser. A parsed genesis must re-encode to JSON that parses back to the
 * same values and encodes to the same bytes (fixed point).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/genesis.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_genesis a = {0}, b = {0};
    struct bm_buf e1 = {0}, e2 = {0};
    struct bm_errmsg em;
    uint64_t ns;
    int err;

    if (size <= 64 && bm_genesis_time_parse((const char *)data, size, &ns) ==
                          BM_OK) {
        char out[BM_RFC3339_SIZE];
        uint64_t back = 0;
        bm_genesis_time_format(ns, out);
        if (bm_genesis_time_parse(out, strlen(out), &back) != BM_OK ||
            back != ns) {
            fprintf(stderr, "time round trip failed: %s\n", out);
            abort();
        }
    }

    err = bm_genesis_parse(&a, data, size, "fuzz", &em);
    if (err != BM_OK) {
        return 0;
    }
    err = bm_genesis_encode(&a, &e1, &em);
    if (err == BM_ENOMEM) {
        goto out;
    }
    if (err != BM_OK) {
        fprintf(stderr, "encode of a parsed genesis failed: %s\n", em.msg);
        abort();
    }
    err = bm_genesis_parse(&b, e1.ptr, e1.len, "fuzz2", &em);
    if (err != BM_OK) {
        fprintf(stderr, "re-parse failed: %s\n", em.msg);
        abort();
    }
    if (strcmp(a.chain_id, b.chain_id) != 0 ||
        a.start_time_ns != b.start_time_ns ||
        a.initial_height != b.initial_height ||
        !bm_buf_eq(&a.proposer_address, &b.proposer_address) ||
        a.da_start_height != b.da_start_height ||
        a.da_epoch_forced_inclusion != b.da_epoch_forced_inclusion) {
        fprintf(stderr, "genesis round trip changed a value\n");
        abort();
    }
    if (bm_genesis_encode(&b, &e2, &em) == BM_OK && !bm_buf_eq(&e1, &e2)) {
        fprintf(stderr, "genesis encoding is not a fixed point\n");
        abort();
    }
out:
    bm_buf_release(&e1);
    bm_buf_release(&e2);
    bm_genesis_release(&a);
    bm_genesis_release(&b);
    return 0;
}
