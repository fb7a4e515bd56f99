/*
 * The KV executor's undo log: for each executed height, what its txs
 * overwrote, so that the height can be rolled back (bm_kv_rollback).
 *
 * A height's log is one or more chunks in the "undo" database, keyed by
 * be64 height || be32 chunk number (0, 1, ...); chunk 0 always exists, so
 * its presence says "this height can be undone". Chunk bytes:
 *
 *   be32 n || n entries
 *   entry = u8 had_old (0 or 1) || be16 klen || key[klen]
 *           [|| be32 vlen || old value[vlen]]   (only when had_old is 1)
 *
 * One entry per pair write that changed the state, in execution order: the
 * key and the value it had before the write (or had_old 0: the key did not
 * exist). Undoing applies the entries in reverse order. A chunk is closed
 * when it reaches BM_KV_UNDO_CHUNK bytes, so building one never holds more
 * than a chunk (plus one entry) in memory however much a block touches.
 *
 * The chunk bytes come from disk: bm__kv_undo_parse checks every length
 * (klen 1..BM_KV_MAX_KEY, vlen <= BM_KV_MAX_VALUE, the count against the
 * bytes, nothing left over) and returns BM_ECORRUPT naming the field.
 * Internal to src/exec/kv/ (bm__ prefix); no thread-safety of its own.
 */
#ifndef BM_EXEC_KV_UNDO_H
#define BM_EXEC_KV_UNDO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_errmsg;

/* Chunk size at which a new chunk is started. */
#define BM_KV_UNDO_CHUNK ((size_t)1 << 20)
/* Key of a chunk in the "undo" database. */
#define BM_KV_UNDO_KEY 12u

/* One undo entry; pointers borrow the chunk bytes (valid while they are). */
struct bm__kv_undo_ent {
    const uint8_t *key;
    size_t klen;
    bool had_old;
    const uint8_t *old;
    size_t vlen;
};

/* A chunk being built. Zero-initialise; release with bm__kv_undo_release. */
struct bm__kv_undo {
    struct bm_dynbuf b; /* be32 n placeholder, then the entries */
    uint32_t n;
};

/* Empties u for a new chunk (keeps its memory). */
void bm__kv_undo_reset(struct bm__kv_undo *u);

/* Frees u's memory. NULL-safe. */
void bm__kv_undo_release(struct bm__kv_undo *u);

/*
 * Appends an entry (key[klen] and, if had_old, old[vlen], both borrowed
 * and copied). klen 1..BM_KV_MAX_KEY, vlen <= BM_KV_MAX_VALUE (our own
 * callers only; BM_EINVAL otherwise). BM_ENOMEM leaves u as it was.
 */
enum bm_err bm__kv_undo_add(struct bm__kv_undo *u, const uint8_t *key,
                            size_t klen, bool had_old, const uint8_t *old,
                            size_t vlen);

/* True once the chunk should be written and a new one started. */
bool bm__kv_undo_full(const struct bm__kv_undo *u);

/* The chunk's bytes (count filled in); valid until u changes. */
void bm__kv_undo_bytes(struct bm__kv_undo *u, const uint8_t **p,
                       size_t *len);

/* Writes the database key of chunk c of height h into key[12]. */
void bm__kv_undo_key(uint8_t key[BM_KV_UNDO_KEY], uint64_t h, uint32_t c);

/*
 * Decodes the chunk p[0..len) (borrowed; untrusted) into a new array of
 * entries pointing into p: *out returns owned (bm_free), *n its length
 * (0 gives NULL). BM_ECORRUPT ("undo chunk: entry 3: klen 0, want
 * 1..256") or BM_ENOMEM. Never reads outside p.
 */
enum bm_err bm__kv_undo_parse(const uint8_t *p, size_t len,
                              struct bm__kv_undo_ent **out, size_t *n,
                              struct bm_errmsg *em);

#endif /* BM_EXEC_KV_UNDO_H */
