/* Fuzz target: bm_raft_block_state_decode (the HA record read back from
 * etcd) on untrusted bytes, with the canonical round trip. */
#include "fuzz_common.h"

FUZZ_CODEC(codec, "raft_block_state", struct bm_raft_block_state,
           bm_raft_block_state_decode, bm_raft_block_state_encode,
           bm_raft_block_state_release);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_raft_block_state a = {0}, b = {0};

    if (fuzz_roundtrip(&codec, data, size, &a, &b)) {
        bm_raft_block_state_release(&a);
    }
    return 0;
}
