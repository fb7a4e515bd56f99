/* Fuzz target: bm_da_header_envelope_decode on untrusted bytes, round trip, then validation. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "envelope", struct bm_da_header_envelope, bm_da_header_envelope_decode, bm_da_header_envelope_encode, bm_da_header_envelope_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_da_header_envelope a = {0}, b = {0};

    (void)bm_crypto_init();
    if (!fuzz_roundtrip(&codec, data, size, &a, &b)) {
        return 0;
    }
    struct bm_errmsg em;
    bool is_env;

    fuzz_check_header_hash("envelope", &a.sh.header);
    fuzz_validate_signed_header(&a.sh);
    (void)bm_envelope_validate(&a, false, &is_env, &em);
    (void)bm_envelope_validate(&a, true, &is_env, &em);
    bm_da_header_envelope_release(&a);
    return 0;
}
