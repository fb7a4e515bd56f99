/*
 * Fuzz target: the KV executor's undo-log chunk decoder
 * (bm__kv_undo_parse, src/exec/kv/undo.h) on untrusted bytes (a damaged
 * or hand-edited data/kv). A chunk that decodes is rebuilt entry by entry
 * with the builder; the rebuilt bytes must equal the input (the encoding
 * is canonical), and every entry must respect the limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/kv/kv.h"
#include "exec/kv/undo.h"
#include "util/alloc.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm__kv_undo_ent *v = NULL;
    struct bm__kv_undo u = {0};
    struct bm_errmsg em = {{0}};
    const uint8_t *p;
    size_t n = 0, len;

    if (bm__kv_undo_parse(data, size, &v, &n, &em) != BM_OK) {
        return 0;
    }
    bm__kv_undo_reset(&u);
    for (size_t i = 0; i < n; i++) {
        if (v[i].klen == 0 || v[i].klen > BM_KV_MAX_KEY ||
            v[i].vlen > BM_KV_MAX_VALUE ||
            v[i].key < data || v[i].key + v[i].klen > data + size ||
            (v[i].had_old && v[i].vlen > 0 &&
             (v[i].old < data || v[i].old + v[i].vlen > data + size))) {
            fprintf(stderr, "fuzz kv_undo: entry %zu out of bounds\n", i);
            abort();
        }
        if (bm__kv_undo_add(&u, v[i].key, v[i].klen, v[i].had_old,
                            v[i].old, v[i].vlen) != BM_OK) {
            /* Only ENOMEM or a chunk past the builder's cap. */
            goto out;
        }
    }
    bm__kv_undo_bytes(&u, &p, &len);
    if (len != size || memcmp(p, data, size) != 0) {
        fprintf(stderr, "fuzz kv_undo: re-encoding differs\n");
        abort();
    }
out:
    bm__kv_undo_release(&u);
    bm_free(v);
    return 0;
}
