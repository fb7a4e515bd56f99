/*
 * A growable LMDB map: the one place where an LMDB environment's map is
 * grown when a write transaction hits MDB_MAP_FULL. The block store
 * (src/store/) and the KV executor (src/exec/kv/) both write through it,
 * so both grow the same way: the transaction is aborted, the map doubled
 * (capped at max), and the whole transaction run again.
 *
 * mdb_env_set_mapsize may only be called while no transaction of the
 * process is active. The owner of the environment therefore supplies a
 * remap lock: readers hold it shared for the life of each read
 * transaction, and this module takes it exclusively (through the
 * callback) around the resize. Writers are serialised by the caller (one
 * writer at a time, as LMDB requires), so the write transaction is never
 * open during a resize either.
 *
 * Internal (bm__ prefix). Thread-safety: bm__lmdb_map_size from any thread;
 * the other calls from the (single) writer.
 */
#ifndef BM_UTIL_LMDB_MAP_H
#define BM_UTIL_LMDB_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <lmdb.h>

#include "blockv2/err.h"

struct bm_errmsg;

/* Excludes (lock true) or readmits (lock false) every reader of the
 * environment. Called by the writer only. */
typedef void bm__lmdb_remap_fn(void *arg, bool lock);

/*
 * Runs the writes of one transaction. Everything must be derived from arg
 * and txn, so that a run after a resize repeats the aborted one exactly
 * (the aborted run left nothing behind). Return BM_EMAP_FULL when an LMDB
 * call returned MDB_MAP_FULL (the map then grows and fn runs again); any
 * other error aborts the transaction and is returned as is.
 */
typedef enum bm_err bm__lmdb_write_fn(MDB_txn *txn, void *arg,
                                      struct bm_errmsg *em);

/* Set up by the owner with bm__lmdb_map_init; fields are private. */
struct bm__lmdb_map {
    MDB_env *env;           /* borrowed */
    atomic_size_t size;     /* current map size in bytes */
    size_t max;             /* growth limit */
    const char *name;       /* log module, e.g. "store" (static string) */
    bm__lmdb_remap_fn *remap;
    void *remap_arg;
    /* MDB_WRITEMAP (util/lmdb_env.h): the file is allocated up to the map
     * size before the map grows, in steps of half the size (at least
     * BM__ENV_WRITEMAP_START) instead of doubling. */
    bool writemap;
};

/* Initial map size of a new environment when the owner has no setting. */
#define BM_LMDB_DEFAULT_MAP_SIZE ((size_t)64 << 20)   /* 64 MiB */
#define BM_LMDB_DEFAULT_MAX_MAP_SIZE ((size_t)1 << 40) /* 1 TiB */

/*
 * Binds m to env (borrowed; opened, its size already set) and reads the
 * current map size from it. max below that size is raised to it. remap
 * (may be NULL when the environment has no concurrent readers) and
 * remap_arg are borrowed. name is a static string. Never fails.
 */
void bm__lmdb_map_init(struct bm__lmdb_map *m, MDB_env *env, size_t max,
                       const char *name, bm__lmdb_remap_fn *remap,
                       void *remap_arg);

/* Current map size in bytes. Any thread. */
size_t bm__lmdb_map_size(const struct bm__lmdb_map *m);

/*
 * Grows the map: doubles it (a WRITEMAP map: half again, at least 4 MiB
 * more, its file allocated first), capped at max (BM_EMAP_FULL "... is
 * full at N bytes (max_map_size)" when already at max, or when the OS
 * refuses the larger mapping; BM_EIO when the file system cannot allocate
 * a WRITEMAP map's file). Logs the growth at info. Writer only; no transaction of
 * the process may be open except read transactions holding the remap lock
 * (this call waits for them).
 */
enum bm_err bm__lmdb_map_grow(struct bm__lmdb_map *m, struct bm_errmsg *em);

/*
 * Runs fn in a write transaction and commits it, growing the map and
 * running fn again as often as it (or the commit) reports a full map.
 * Adopts a size grown by another process (MDB_MAP_RESIZED at begin).
 * Returns BM_OK (committed), fn's error (aborted), BM_EMAP_FULL when the
 * map cannot grow further, or the begin/commit error. On any error nothing
 * was written. The caller serialises writers. May block (fsync at commit).
 */
enum bm_err bm__lmdb_map_write(struct bm__lmdb_map *m, bm__lmdb_write_fn *fn,
                               void *arg, struct bm_errmsg *em);

#endif /* BM_UTIL_LMDB_MAP_H */
