/*
 * The payload attributes of engine_forkchoiceUpdatedV3 the EVM executor
 * sends for a block (Engine API V3 attributes plus ev-reth's
 * `transactions` and `gasLimit` extension): built in one buffer of the
 * exact size (a 100-transfer block's is ~23 KB, nearly all of it the
 * txs' hex), written once, no growth and no copy.
 *
 * Pure; thread-safe.
 */
#ifndef BM_EXEC_EVM_ATTRS_H
#define BM_EXEC_EVM_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

/* What the attributes say besides the txs. */
struct bm_evm_attrs {
    uint64_t timestamp;          /* seconds */
    uint64_t height;             /* prevRandao = its 32-byte big-endian */
    const uint8_t *fee_recipient; /* 20 bytes, borrowed */
    uint64_t gas_limit;          /* ev-reth reads it as a JSON number */
};

/*
 * The attributes object's JSON text for a, with txs[0..n_txs) (borrowed;
 * empty txs are left out, as ev-node does) as "0x" hex strings, into *out
 * (released first; returns owned, out->len the text's length, no NUL).
 * Errors: BM_ETOOBIG (the text would pass max bytes), BM_ENOMEM.
 */
enum bm_err bm_evm_attrs_build(const struct bm_evm_attrs *a,
                               const struct bm_buf *txs, size_t n_txs,
                               size_t max, struct bm_buf *out);

#endif /* BM_EXEC_EVM_ATTRS_H */
