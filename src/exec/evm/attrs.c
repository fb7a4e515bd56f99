/* Payload attributes of the EVM executor's fork choice, see attrs.h. */
#include "exec/evm/attrs.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "exec/evm/decode.h"
#include "util/alloc.h"
#include "util/hex.h"

/* The text before the txs: at most this many bytes with a NUL. */
#define HEAD_MAX 512
/* After the txs: "],\"gasLimit\":" a uint64 and "}". */
#define TAIL_MAX 48

enum bm_err bm_evm_attrs_build(const struct bm_evm_attrs *a,
                               const struct bm_buf *txs, size_t n_txs,
                               size_t max, struct bm_buf *out)
{
    uint8_t randao[BM_EVM_HASH_LEN] = {0};
    char rnd[2 * BM_EVM_HASH_LEN + 3], fee[2 * BM_EVM_ADDR_LEN + 3];
    char head[HEAD_MAX], tail[TAIL_MAX];
    size_t size, pos;
    int hn, tn;
    bool first = true;
    char *p;

    bm_buf_release(out);
    for (int i = 0; i < 8; i++) {
        randao[BM_EVM_HASH_LEN - 1 - i] = (uint8_t)(a->height >> (8 * i));
    }
    bm_evm_hex(rnd, randao, sizeof(randao));
    bm_evm_hex(fee, a->fee_recipient, BM_EVM_ADDR_LEN);
    hn = snprintf(head, sizeof(head),
                  "{\"timestamp\":\"0x%" PRIx64 "\",\"prevRandao\":\"%s\","
                  "\"suggestedFeeRecipient\":\"%s\",\"withdrawals\":[],"
                  "\"parentBeaconBlockRoot\":\"0x%064d\",\"transactions\":[",
                  a->timestamp, rnd, fee, 0);
    /* ev-reth reads gasLimit as a JSON number */
    tn = snprintf(tail, sizeof(tail), "],\"gasLimit\":%" PRIu64 "}",
                  a->gas_limit);
    if (hn < 0 || (size_t)hn >= sizeof(head) || tn < 0 ||
        (size_t)tn >= sizeof(tail)) {
        return BM_EINVAL;
    }
    /* the exact size: each non-empty tx is "0x" + 2 digits a byte,
     * quoted, with a comma after all but the first */
    size = (size_t)hn + (size_t)tn;
    for (size_t i = 0; i < n_txs; i++) {
        size_t t;

        if (txs[i].len == 0) {
            continue;
        }
        if (!bm_size_mul(txs[i].len, 2, &t) ||
            !bm_size_add(t, first ? 4 : 5, &t) ||
            !bm_size_add(size, t, &size)) {
            return BM_ETOOBIG;
        }
        first = false;
    }
    first = true;
    if (size > max) {
        return BM_ETOOBIG;
    }
    p = bm_malloc(size);
    if (p == NULL) {
        return BM_ENOMEM;
    }
    memcpy(p, head, (size_t)hn);
    pos = (size_t)hn;
    for (size_t i = 0; i < n_txs; i++) {
        if (txs[i].len == 0) {
            continue; /* as ev-node: empty txs are not sent */
        }
        if (!first) {
            p[pos++] = ',';
        }
        first = false;
        memcpy(p + pos, "\"0x", 3);
        pos += 3;
        /* bm_hex_encode writes a NUL after the digits: the closing quote
         * goes over it (there is always room: the tail follows) */
        bm_hex_encode(p + pos, txs[i].ptr, txs[i].len);
        pos += 2 * txs[i].len;
        p[pos++] = '"';
    }
    memcpy(p + pos, tail, (size_t)tn);
    pos += (size_t)tn;
    out->ptr = (uint8_t *)p;
    out->len = pos;
    return BM_OK;
}
