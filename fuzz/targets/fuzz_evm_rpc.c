/*
 * What an execution client answers the EVM executor (src/exec/evm/): a raw
 * HTTP body from a possibly hostile client, parsed as a JSON-RPC response
 * and decoded as every result type the executor reads (blocks, payload
 * statuses, fork-choice results, payloads, pool txs, quantities); the same
 * bytes as a raw transaction (the RLP gas reader of filter_txs), as a JWT
 * secret file and as a JWT. Must never crash or leak, and what decodes
 * must hold the decoders' promises.
 */
#include <stdlib.h>
#include <string.h>

#include "exec/evm/decode.h"
#include "exec/evm/jwt.h"
#include "util/alloc.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_evm_reply r = {0};
    struct bm_errmsg em = {{0}};
    struct bm_evm_block b;
    struct bm_evm_fcu f;
    struct bm_evm_payload pl = {0};
    struct bm_evm_payload_status ps;
    struct bm_batch txs = {0, NULL};
    uint8_t secret[BM_EVM_JWT_SECRET_LEN];
    uint64_t q = 0, gas = 0;
    bool found = false;

    if (bm_evm_reply_parse((const char *)data, size, 1, &r, &em) == BM_OK) {
        (void)bm_evm_dec_block(r.result, &found, &b, &em);
        (void)bm_evm_dec_fcu(r.result, &f, &em);
        (void)bm_evm_dec_payload_status(r.result, "p", &ps, &em);
        if (bm_evm_dec_payload(r.result, &pl, &em) == BM_OK &&
            (pl.payload.p == NULL || pl.n_txs > BM_MAX_TXS)) {
            abort();
        }
        bm_evm_payload_release(&pl);
        if (bm_evm_dec_txs(r.result, &txs, &em) == BM_OK) {
            for (size_t i = 0; i < txs.n_txs; i++) {
                if (txs.txs[i].len == 0 || txs.txs[i].len > BM_MAX_TX_SIZE ||
                    !bm_evm_dec_data_eq(json_object_array_get_idx(r.result,
                                                                  i),
                                        txs.txs[i].ptr, txs.txs[i].len)) {
                    abort();
                }
            }
        }
        bm_batch_release(&txs);
        (void)bm_evm_dec_quantity(r.result, "q", &q, &em);
    }
    bm_evm_reply_release(&r);
    (void)bm_evm_tx_gas(data, size, &gas, &em);
    (void)bm_evm_jwt_parse((const char *)data, size, secret, &em);
    if (size < 4096) {
        char *tok = bm_malloc(size + 1);

        if (tok != NULL) {
            memcpy(tok, data, size);
            tok[size] = '\0';
            memset(secret, 7, sizeof(secret));
            (void)bm_evm_jwt_verify(secret, tok, 1700000000, 60, &em);
            bm_free(tok);
        }
    }
    return 0;
}
