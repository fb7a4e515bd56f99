/* Fuzz target: bm_p2p_data_decode on untrusted bytes, round trip, then validation. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "p2p_data", struct bm_p2p_data, bm_p2p_data_decode, bm_p2p_data_encode, bm_p2p_data_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_p2p_data a = {0}, b = {0};

    (void)bm_crypto_init();
    if (!fuzz_roundtrip(&codec, data, size, &a, &b)) {
        return 0;
    }
    fuzz_validate_data(&a.data);
    bm_p2p_data_release(&a);
    return 0;
}
