/*
 * A block passed between actors: a SignedHeader, its Data and the header
 * hash, reference-counted so that several messages (validate, apply,
 * broadcast) can share it without copies. A block is immutable once a
 * second reference exists. Fill a fresh block, then hand references to
 * messages: each message owns one reference (its dtor calls
 * bm_block_unref).
 */
#ifndef BM_ACTORS_BLOCK_H
#define BM_ACTORS_BLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "blockv2/types.h"

struct bm_block {
    atomic_uint refs;
    struct bm_signed_header sh;
    struct bm_data data;
    struct bm_hash hash;      /* Header.Hash() of sh.header */
    /* DA heights the pieces were found at (0: unknown / not from DA). */
    uint64_t header_da_height;
    uint64_t data_da_height;
    /* The header's signature was verified on these bytes by the source
     * that took it in (Retriever, StoreSync): the Validator does not
     * verify it again (docs/VALIDATION.md "Each signature once"). */
    bool sig_verified;
};

/* A new zeroed block with one reference. Never fails (aborts on OOM, as
 * bm_x* allocations do). */
struct bm_block *bm_block_new(void);

/* Adds a reference; returns b. NULL-safe. Any thread. */
struct bm_block *bm_block_ref(struct bm_block *b);

/* Drops a reference; the last one frees. NULL-safe. Any thread. */
void bm_block_unref(struct bm_block *b);

/* Computes b->hash from b->sh.header. Errors from bm_header_hash. */
enum bm_err bm_block_rehash(struct bm_block *b);

#endif /* BM_ACTORS_BLOCK_H */
