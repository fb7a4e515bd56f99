/* Fuzz target: bm_batch_decode on untrusted bytes, round trip, then validation. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "batch", struct bm_batch, bm_batch_decode, bm_batch_encode, bm_batch_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_batch a = {0}, b = {0};

    (void)bm_crypto_init();
    if (!fuzz_roundtrip(&codec, data, size, &a, &b)) {
        return 0;
    }
    struct bm_hash h;

    (void)bm_batch_hash(&a, &h);
    (void)bm_txs_da_commitment(a.txs, a.n_txs, &h);
    bm_batch_release(&a);
    return 0;
}
