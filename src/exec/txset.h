/*
 * A set of 32-byte tx hashes (SHA-256), used for de-duplication by the KV
 * mempool and the single sequencer. Open addressing with linear probing and
 * backward-shift deletion; the table doubles at 50 % load. Hashes are
 * uniformly distributed, so their first 8 bytes index the table directly.
 *
 * Not thread-safe: the owner serialises access. Internal to src/exec and
 * src/seq (bm__ prefix).
 */
#ifndef BM_EXEC_TXSET_H
#define BM_EXEC_TXSET_H

#include <stdbool.h>
#include <stddef.h>

#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm__txset {
    struct bm_hash *slots; /* private */
    bool *used;            /* private */
    size_t cap;            /* power of two, 0 before the first insert */
    size_t len;
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
 * A window of the most recent `cap` hashes (FIFO eviction) with O(1)
 * membership: the hashes of recently committed txs, so a stale copy of a
 * tx is not queued or accepted again right after it was executed.
 * Zero-initialised with cap 0 is a disabled window (never contains
 * anything). Not thread-safe.
 */
struct bm__txwin {
    struct bm__txset set;  /* private */
    struct bm_hash *ring;  /* private */
    size_t cap;
    size_t start;
    size_t len;
};

/* Sets up a window of cap hashes (0: disabled). BM_ENOMEM/BM_EOVERFLOW. */
enum bm_err bm__txwin_init(struct bm__txwin *w, size_t cap);
void bm__txwin_release(struct bm__txwin *w);
bool bm__txwin_has(const struct bm__txwin *w, const struct bm_hash *h);
/* Adds h (evicting the oldest when full); a hash already present is not
 * added twice. Best effort: on BM_ENOMEM the window is left valid. */
enum bm_err bm__txwin_add(struct bm__txwin *w, const struct bm_hash *h);

#endif /* BM_EXEC_TXSET_H */
