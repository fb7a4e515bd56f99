/* Fuzz target: bm_signed_header_decode on untrusted bytes, round trip, then validation. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "signed_header", struct bm_signed_header, bm_signed_header_decode, bm_signed_header_encode, bm_signed_header_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_signed_header a = {0}, b = {0};

    (void)bm_crypto_init();
    if (!fuzz_roundtrip(&codec, data, size, &a, &b)) {
        return 0;
    }
    fuzz_check_header_hash("signed_header", &a.header);
    fuzz_validate_signed_header(&a);
    bm_signed_header_release(&a);
    return 0;
}
