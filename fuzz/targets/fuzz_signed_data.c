/* Fuzz target: bm_signed_data_decode on untrusted bytes, round trip, then validation. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "signed_data", struct bm_signed_data, bm_signed_data_decode, bm_signed_data_encode, bm_signed_data_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_signed_data a = {0}, b = {0};

    (void)bm_crypto_init();
    if (!fuzz_roundtrip(&codec, data, size, &a, &b)) {
        return 0;
    }
    struct bm_errmsg em;

    fuzz_validate_data(&a.data);
    (void)bm_signed_data_validate(&a, &a.signer.address, &em);
    bm_signed_data_release(&a);
    return 0;
}
