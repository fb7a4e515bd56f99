/*
 * Fuzz target: the `blockv2 status` summary over an untrusted /status
 * body (bm_status_view_render). On success the text must be
 * NUL-terminated at its length and hold only printable ASCII, spaces and
 * newlines (nothing from the body reaches the terminal unfiltered); on
 * failure no text is returned and the message names something.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/status_view.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_buf out = {NULL, 0};
    struct bm_errmsg em = {{0}};
    enum bm_err err;

    err = bm_status_view_render(data, size, 1795510800500000000ull, &out,
                                &em);
    if (err != BM_OK) {
        if (out.ptr != NULL || em.msg[0] == '\0') {
            abort();
        }
        return 0;
    }
    if (out.ptr == NULL || out.ptr[out.len] != '\0') {
        abort();
    }
    for (size_t i = 0; i < out.len; i++) {
        uint8_t c = out.ptr[i];

        if (c != '\n' && (c < 0x20 || c >= 0x7f)) {
            abort();
        }
    }
    bm_buf_release(&out);
    return 0;
}
