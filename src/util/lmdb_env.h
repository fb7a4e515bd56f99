/*
 * Small LMDB helpers shared by the KV executor and the single sequencer,
 * which each keep their own LMDB environment under the node home. Internal
 * (bm__ prefix).
 */
#ifndef BM_UTIL_LMDB_ENV_H
#define BM_UTIL_LMDB_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include <lmdb.h>

#include "blockv2/err.h"
#include "util/lmdb_err.h" /* bm_lmdb_err, used by every includer */

struct bm_errmsg;

/* Creates dir and its missing parents (mode 0700). Borrows dir. */
enum bm_err bm__mkdir_p(const char *dir, struct bm_errmsg *em);

/*
 * Creates and opens an environment in directory dir (created if missing)
 * with up to max_dbs named databases, the given map size and extra flags
 * (MDB_NOTLS is always added). On success *out returns owned (close with
 * mdb_env_close). May block (file I/O).
 */
enum bm_err bm__env_open(MDB_env **out, const char *dir, unsigned max_dbs,
                         size_t map_size, unsigned flags,
                         struct bm_errmsg *em);

/*
 * Creates dir/data.mdb (dir borrowed, existing) when there is none, so
 * that it only ever exists whole: LMDB creates a new data file and writes
 * its two meta pages after (with MDB_WRITEMAP, after sizing it to the
 * map), so a process killed in between left an empty or zero-filled
 * data.mdb that a read-only open reported as "Bad file descriptor" or
 * MDB_INVALID, and that no writer could open again when zero-filled. The
 * file is built as data.mdb.new (meta pages flushed), renamed to data.mdb
 * and the directory flushed; a stale data.mdb.new is replaced. `mode` is
 * the file's, as for mdb_env_open. The caller
 * excludes other writers of dir (the store's flock, the node home's).
 * Called by every read-write open. May block (file I/O, fsyncs).
 */
enum bm_err bm__env_create_whole(const char *dir, size_t map_size,
                                 unsigned mode, struct bm_errmsg *em);

/* The environment's directory, for messages: valid while env is open;
 * "?" if unknown (never NULL). */
const char *bm__env_path(MDB_env *env);

/*
 * MDB_WRITEMAP on tmpfs (docs/STORE.md "Writes through the map on tmpfs").
 * An environment whose directory is on a tmpfs is opened with
 * MDB_WRITEMAP by its owner (the block store, the KV executor): commits
 * then write through the map instead of copying every dirty page into the
 * page cache with pwrite. Every byte of the map is allocated in the file
 * (fallocate) before LMDB may write it, so a full tmpfs is an error of
 * the open or of a map growth, never a SIGBUS in a write through the map.
 */

/* 0 in a ThreadSanitizer build: it does not see LMDB's own ordering
 * between a commit and a later read transaction (plain loads and stores
 * of the meta page in an uninstrumented library), and with writes through
 * the map it would report every page a reader reads after a commit as a
 * race. Those builds write with pwrite on a tmpfs too. */
#if defined(__SANITIZE_THREAD__)
#define BM__ENV_WRITEMAP_ON_TMPFS 0
#else
#define BM__ENV_WRITEMAP_ON_TMPFS 1
#endif

/* True when dir is on a tmpfs (statfs). Borrows dir. */
bool bm__env_dir_is_tmpfs(const char *dir);

/*
 * Whether an environment in dir (existing) is to be opened with
 * MDB_WRITEMAP: true on a tmpfs (if BM__ENV_WRITEMAP_ON_TMPFS), and then *map_size (the owner's first map
 * size) is capped at BM__ENV_WRITEMAP_START (the file is allocated in
 * full, so it starts small and grows), but never below the size of its
 * data file. Borrows dir.
 */
#define BM__ENV_WRITEMAP_START ((size_t)4 << 20) /* 4 MiB */
bool bm__env_use_writemap(const char *dir, size_t *map_size);

/* After mdb_env_open of a WRITEMAP environment: allocates its file up to
 * the map size (bm__env_reserve). Nothing for other environments. */
enum bm_err bm__env_reserve_map(MDB_env *env, struct bm_errmsg *em);

/*
 * Allocates the bytes [from, to) of env's data file (fallocate), so that
 * writes through a WRITEMAP map there cannot meet a full disk. BM_EIO
 * naming the file (" (disk full or failing)" on ENOSPC) if the file system
 * refuses. Borrows env. May block.
 */
enum bm_err bm__env_reserve(MDB_env *env, size_t from, size_t to,
                            struct bm_errmsg *em);

/* True for the codes a full or failing disk shows as on a write, commit
 * or sync: ENOSPC, EDQUOT, EIO (LMDB reports a short write as EIO). */
bool bm__env_rc_is_disk(int rc);

/* " (disk full or failing)" when bm__env_rc_is_disk(rc), else "":
 * appended to write errors. */
const char *bm__env_io_hint(int rc);

#endif /* BM_UTIL_LMDB_ENV_H */
