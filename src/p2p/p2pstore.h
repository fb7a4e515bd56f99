/*
 * A P2P item store: what ev-node's go-header stores are for its syncer.
 * One per network: headers (items are marshalled P2PSignedHeader) or data
 * (P2PData). It holds the verified items received by gossip or the
 * exchange that the block store does not have yet, in a bounded window
 * above a floor (the block store height, moved up by the caller with
 * bm_p2pstore_prune), and remembers the best verified height seen (the
 * network's head as far as this node knows, also from a peer's head when
 * the item itself is not kept).
 *
 * The block manager reads it through struct bm_p2p_store
 * (include/blockv2/manager.h, bm_p2pstore_view): height() is the best
 * height seen, get_header/get_data decode the item held at a height.
 * Items are untrusted bytes to the reader (the StoreSync actor checks
 * them again); the writer (src/p2p/chainsync.c) only puts items it
 * verified.
 *
 * This module and chainsync.c are the block-aware top of src/p2p: they
 * decode ev-node's types (src/types); the layers below them do not.
 *
 * Thread-safety: every function may be called from any thread; one mutex
 * guards the window, held for an O(log n) lookup or insert and a copy,
 * never across I/O or a callback.
 */
#ifndef BM_P2P_P2PSTORE_H
#define BM_P2P_P2PSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/manager.h"
#include "blockv2/types.h"

struct bm_p2pstore;

enum bm_p2pstore_kind {
    BM_P2PSTORE_HEADERS = 0, /* P2PSignedHeader items */
    BM_P2PSTORE_DATA = 1,    /* P2PData items */
};

/* Defaults of the window. */
#define BM_P2PSTORE_MAX_ITEMS 4096u
#define BM_P2PSTORE_MAX_BYTES ((size_t)128 << 20)

/* One item's identity (ev-node's P2PStoreEntry): for headers the
 * Header.Hash() and header time, for data the Data.Hash() and metadata
 * time (Unix ns; 0: unknown). */
struct bm_p2pstore_entry {
    uint64_t height;
    struct bm_hash hash;
    uint64_t time_ns;
};

/* A snapshot for status and GetP2PStoreInfo. */
struct bm_p2pstore_info {
    uint64_t height;                /* best height seen (0: none) */
    bool has_head;
    struct bm_p2pstore_entry head;  /* the item at `height` */
    uint64_t floor;                 /* last prune height */
    size_t items;                   /* held now */
    size_t bytes;
    uint64_t lowest;                /* lowest held height (0: none) */
    uint64_t puts;                  /* items accepted, total */
    uint64_t refused_full;          /* puts refused: window full */
};

/*
 * Creates an empty store of `kind` holding at most max_items items
 * (0: BM_P2PSTORE_MAX_ITEMS) and max_bytes of item bytes (0:
 * BM_P2PSTORE_MAX_BYTES). Returns owned *out (bm_p2pstore_free).
 * BM_ENOMEM.
 */
int bm_p2pstore_new(struct bm_p2pstore **out, enum bm_p2pstore_kind kind,
                    size_t max_items, size_t max_bytes);

/* Frees. NULL-safe. Nobody may use it any more (the manager that reads
 * it is stopped). */
void bm_p2pstore_free(struct bm_p2pstore *s);

enum bm_p2pstore_kind bm_p2pstore_kind(const struct bm_p2pstore *s);

/*
 * Puts a verified item (item[0..len) borrowed, copied) at e->height and
 * raises the best height to it. Errors (nothing kept): BM_EEXIST (an item
 * is held at that height: the first one stays), BM_ESTATE (at or below
 * the floor: the block store has that height), BM_EFULL (more than
 * max_items heights above the floor, or max_bytes reached; counted),
 * BM_EINVAL (height 0, len 0), BM_ENOMEM.
 */
int bm_p2pstore_put(struct bm_p2pstore *s, const struct bm_p2pstore_entry *e,
                    const uint8_t *item, size_t len);

/* Replaces the item held at e->height (a verified better one: e.g. data
 * that fits the header where the held one does not). Same errors as put,
 * BM_ENOTFOUND if none is held there. */
int bm_p2pstore_replace(struct bm_p2pstore *s,
                        const struct bm_p2pstore_entry *e,
                        const uint8_t *item, size_t len);

/* Drops the item held at height (BM_ENOTFOUND if none). */
int bm_p2pstore_remove(struct bm_p2pstore *s, uint64_t height);

/* Raises the best height to e->height (a verified head whose item is not
 * kept). Lower heights change nothing. */
void bm_p2pstore_note(struct bm_p2pstore *s,
                      const struct bm_p2pstore_entry *e);

/* Copies the item at height into *out (released first). BM_ENOTFOUND. */
int bm_p2pstore_get(struct bm_p2pstore *s, uint64_t height,
                    struct bm_buf *out);

/* True if an item is held at height. */
bool bm_p2pstore_has(struct bm_p2pstore *s, uint64_t height);

/* The best height seen (0: none). */
uint64_t bm_p2pstore_height(struct bm_p2pstore *s);

/* The lowest held height above `from`, or 0 if none. */
uint64_t bm_p2pstore_next_held(struct bm_p2pstore *s, uint64_t from);

/* The highest h >= from such that every height in (from, h] is held
 * (from itself when from + 1 is not held). */
uint64_t bm_p2pstore_contiguous(struct bm_p2pstore *s, uint64_t from);

/* Drops every item at or below floor and raises the floor to it (lower
 * floors change nothing). Returns the number dropped. */
size_t bm_p2pstore_prune(struct bm_p2pstore *s, uint64_t floor);

/* Snapshot of the counters and the head. */
void bm_p2pstore_info(struct bm_p2pstore *s, struct bm_p2pstore_info *out);

/*
 * The block manager's view (struct bm_p2p_store) of s: height() is
 * bm_p2pstore_height; get_header (headers store) and get_data (data
 * store) decode the held item (BM_ENOTFOUND if none is held, BM_ESTATE
 * when asked the other kind, a decode error for bad bytes). *out borrows
 * s (valid while s lives).
 */
void bm_p2pstore_view(struct bm_p2pstore *s, struct bm_p2p_store *out);

#endif /* BM_P2P_P2PSTORE_H */
