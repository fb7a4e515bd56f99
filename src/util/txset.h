/*
 * A set of 32-byte tx hashes (SHA-256), used for de-duplication by the KV
 * mempool and the single sequencer. Open addressing with linear probing and
 * backward-shift deletion; the table doubles at 50 % load. Hashes are
 * uniformly distributed, so their first 8 bytes index the table directly.
 *
 * Not thread-safe: the owner serialises access. Internal, shared by the KV
 * executor, the single sequencer and the actors' env (bm__ prefix).
 */
#ifndef BM_UTIL_TXSET_H
#define BM_UTIL_TXSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm__txset {
    struct bm_hash *slots; /* private; an all-zero slot is empty */
    bool has_zero;         /* private; the all-zero hash is a member */
    size_t cap;            /* power of two, 0 before the first insert */
    size_t len;            /* members, including the all-zero hash */
};

/* Zero-initialised storage is an empty set; release frees it (NULL-safe). */
void bm__txset_release(struct bm__txset *s);

bool bm__txset_has(const struct bm__txset *s, const struct bm_hash *h);

/* Adds h. Returns BM_OK if added, BM_EEXIST if already present (set
 * unchanged), BM_ENOMEM (set unchanged). */
enum bm_err bm__txset_add(struct bm__txset *s, const struct bm_hash *h);

/* Removes h; returns true if it was present. */
bool bm__txset_del(struct bm__txset *s, const struct bm_hash *h);

/* Empties the set, keeping its storage. */
void bm__txset_clear(struct bm__txset *s);

/*
 * A window of the most recent `cap` tx hashes (FIFO eviction) with O(1)
 * membership: the hashes of recently committed txs, so a stale copy of a
 * tx is not queued or accepted again right after it was executed.
 *
 * To stay small (and cache-friendly) it keeps a 64-bit fingerprint of each
 * hash (its first 8 bytes), so a lookup can have a false positive with
 * probability about cap / 2^64; finding a tx that collides with a given
 * one takes about 2^64 hashing work. The caller uses it only as a
 * heuristic filter. Zero-initialised or cap 0 is a disabled window (never
 * contains anything). Not thread-safe.
 */
struct bm__txwin {
    uint64_t *slots; /* private; 0 = empty, fingerprint 0 is stored as 1 */
    size_t mask;     /* private; table size - 1 (4 * cap rounded up) */
    uint64_t *ring;  /* private; fingerprints in insertion order */
    size_t cap;
    size_t start;
    size_t len;
};

/* Sets up a window of cap hashes (0: disabled). BM_ENOMEM/BM_EOVERFLOW. */
enum bm_err bm__txwin_init(struct bm__txwin *w, size_t cap);
/* Backs the window's memory now (every page populated in one call;
 * advice the kernel may refuse), so that a young window's inserts do not
 * fault page after page: each first write to a page of the zeroed table
 * would fault, and on a read-mapped zero page also flush the other CPUs'
 * TLBs. Costs the window's full size in resident memory at once. */
void bm__txwin_prefault(struct bm__txwin *w);
void bm__txwin_release(struct bm__txwin *w);
bool bm__txwin_has(const struct bm__txwin *w, const struct bm_hash *h);
/* Adds h, evicting the oldest entry when full; an entry already present is
 * not added twice. Never fails. */
void bm__txwin_add(struct bm__txwin *w, const struct bm_hash *h);

#endif /* BM_UTIL_TXSET_H */
