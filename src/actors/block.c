#include "actors/block.h"

#include "util/alloc.h"

struct bm_block *bm_block_new(void)
{
    struct bm_block *b = bm_xcalloc(1, sizeof(*b));

    atomic_init(&b->refs, 1);
    return b;
}

struct bm_block *bm_block_ref(struct bm_block *b)
{
    if (b != NULL) {
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    }
    return b;
}

void bm_block_unref(struct bm_block *b)
{
    if (b == NULL ||
        atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    bm_signed_header_release(&b->sh);
    bm_data_release(&b->data);
    bm_free(b);
}

enum bm_err bm_block_rehash(struct bm_block *b)
{
    return bm_header_hash(&b->sh.header, &b->hash);
}
