/*
 * The leader's answer to a forwarded batch POST /tx
 * (bm_ha_fwd_decode_reply, src/node/ha_forward.c): a body from a possibly
 * hostile peer. Byte 0 is the batch size (0..255); the rest is the body.
 * Must never crash or leak; a decoded answer has a status per tx.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "node/ha_forward.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_errmsg em = {{0}};
    int status[256];
    size_t n;

    if (size < 1) {
        return 0;
    }
    n = data[0];
    for (size_t i = 0; i < n; i++) {
        status[i] = 0;
    }
    if (bm_ha_fwd_decode_reply((const char *)data + 1, size - 1, n, status,
                               &em) == BM_OK) {
        for (size_t i = 0; i < n; i++) {
            if (status[i] < 100 || status[i] > 599) {
                abort();
            }
        }
    }
    return 0;
}
