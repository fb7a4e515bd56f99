/* Fuzz target: bm_state_decode on untrusted bytes, round trip, then validation. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "state", struct bm_state, bm_state_decode, bm_state_encode, bm_state_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_state a = {0}, b = {0};

    (void)bm_crypto_init();
    if (!fuzz_roundtrip(&codec, data, size, &a, &b)) {
        return 0;
    }
    struct bm_errmsg em;
    struct bm_header h = {0};
    bool tol;

    /* A header that links to the state, then variations. */
    h.chain_id = a.chain_id;
    h.height = a.last_block_height + 1;
    h.time = a.last_block_time.seconds > 0
                 ? (uint64_t)a.last_block_time.seconds * 1000000000ull
                 : 0;
    h.last_header_hash = a.last_header_hash;
    h.app_hash = a.app_hash;
    h.proposer_address = a.next_proposer_address;
    (void)bm_assert_valid_sequence(&a, &h, BM_SEQ_NONE, &tol, &em);
    (void)bm_assert_expected_proposer(&a, &a.app_hash, &h, &em);
    h.time = UINT64_MAX;
    (void)bm_assert_valid_sequence(&a, &h, BM_SEQ_NONE, &tol, &em);
    h.time = 0;
    (void)bm_assert_valid_sequence(&a, &h, BM_SEQ_NONE, &tol, &em);
    bm_state_release(&a);
    return 0;
}
