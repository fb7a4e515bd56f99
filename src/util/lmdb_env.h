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

/* The environment's directory, for messages: valid while env is open;
 * "?" if unknown (never NULL). */
const char *bm__env_path(MDB_env *env);

/* True for the codes a full or failing disk shows as on a write, commit
 * or sync: ENOSPC, EDQUOT, EIO (LMDB reports a short write as EIO). */
bool bm__env_rc_is_disk(int rc);

/* " (disk full or failing)" when bm__env_rc_is_disk(rc), else "":
 * appended to write errors. */
const char *bm__env_io_hint(int rc);

#endif /* BM_UTIL_LMDB_ENV_H */
