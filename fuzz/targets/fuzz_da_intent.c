/* Fuzz target: the DA submitter's stored intent (metadata
 * blockv2/da-intent/h|d, read back at start-up) on untrusted bytes: no
 * crash, no leak, and what decodes re-encodes to the same bytes. */
#include "fuzz_common.h"

#include "actors/da_submitter.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *re = NULL;
    size_t relen = 0;

    if (bm_da_submitter_intent_check("blockv2/da-intent/h", data, size, &re,
                                     &relen, NULL) == BM_OK) {
        if (relen != size || memcmp(re, data, size) != 0) {
            abort();
        }
        bm_free(re);
    }
    return 0;
}
