/* Fuzz target: bm_header_decode on untrusted bytes, round trip, then validation. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "header", struct bm_header, bm_header_decode, bm_header_encode, bm_header_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_header a = {0}, b = {0};

    (void)bm_crypto_init();
    if (!fuzz_roundtrip(&codec, data, size, &a, &b)) {
        return 0;
    }
    fuzz_check_header_hash("header", &a);
    fuzz_validate_header(&a);
    bm_header_release(&a);
    return 0;
}
