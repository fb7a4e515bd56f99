/* Growable LMDB map, see lmdb_map.h. */
#include "util/lmdb_map.h"

#include <errno.h>

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/lmdb_env.h"
#include "util/lmdb_err.h"
#include "util/log.h"

static void remap(struct bm__lmdb_map *m, bool lock)
{
    if (m->remap != NULL) {
        m->remap(m->remap_arg, lock);
    }
}

static void read_size(struct bm__lmdb_map *m)
{
    MDB_envinfo info;

    mdb_env_info(m->env, &info);
    atomic_store(&m->size, info.me_mapsize);
}

void bm__lmdb_map_init(struct bm__lmdb_map *m, MDB_env *env, size_t max,
                       const char *name, bm__lmdb_remap_fn *remap_fn,
                       void *remap_arg)
{
    unsigned flags = 0;

    m->env = env;
    m->name = name;
    m->remap = remap_fn;
    m->remap_arg = remap_arg;
    m->writemap = mdb_env_get_flags(env, &flags) == 0 &&
                  (flags & MDB_WRITEMAP) != 0;
    atomic_init(&m->size, 0);
    read_size(m);
    m->max = max < atomic_load(&m->size) ? atomic_load(&m->size) : max;
}

size_t bm__lmdb_map_size(const struct bm__lmdb_map *m)
{
    return atomic_load(&((struct bm__lmdb_map *)m)->size);
}

enum bm_err bm__lmdb_map_grow(struct bm__lmdb_map *m, struct bm_errmsg *em)
{
    size_t cur = atomic_load(&m->size), next;
    enum bm_err err;
    int rc;

    if (cur >= m->max) {
        return bm_errf(em, BM_EMAP_FULL,
                       "%s: database map is full at %zu bytes "
                       "(max_map_size)",
                       m->name, cur);
    }
    if (m->writemap) {
        size_t step = cur / 2 > BM__ENV_WRITEMAP_START
                          ? cur / 2
                          : BM__ENV_WRITEMAP_START;

        if (!bm_size_add(cur, step, &next) || next > m->max) {
            next = m->max;
        }
        err = bm__env_reserve(m->env, cur, next, em);
        if (err != BM_OK) {
            return err;
        }
    } else if (!bm_size_mul(cur, 2, &next) || next > m->max) {
        next = m->max;
    }
    remap(m, true);
    rc = mdb_env_set_mapsize(m->env, next);
    if (rc == 0) {
        read_size(m);
    }
    remap(m, false);
    if (rc != 0) {
        if (rc == ENOMEM) {
            return bm_errf(em, BM_EMAP_FULL,
                           "%s: database map is full at %zu bytes and "
                           "cannot grow: %s",
                           m->name, cur, mdb_strerror(rc));
        }
        return bm_errf(em, bm_lmdb_err(rc),
                       "%s: cannot grow database map of '%s': %s%s", m->name,
                       bm__env_path(m->env), mdb_strerror(rc),
                       bm__env_io_hint(rc));
    }
    bm_log_info(m->name, "map grown from=%zu to=%zu", cur,
                atomic_load(&m->size));
    return BM_OK;
}

enum bm_err bm__lmdb_map_write(struct bm__lmdb_map *m, bm__lmdb_write_fn *fn,
                               void *arg, struct bm_errmsg *em)
{
    enum bm_err err;

    for (;;) {
        MDB_txn *txn = NULL;
        int rc = mdb_txn_begin(m->env, NULL, 0, &txn);

        if (rc == MDB_MAP_RESIZED) {
            /* Another process grew the map: adopt its size. */
            remap(m, true);
            rc = mdb_env_set_mapsize(m->env, 0);
            if (rc == 0) {
                read_size(m);
            }
            remap(m, false);
            if (rc == 0) {
                continue;
            }
        }
        if (rc != 0) {
            return bm_errf(em, bm_lmdb_err(rc),
                           "%s: cannot begin write transaction on '%s': "
                           "%s%s",
                           m->name, bm__env_path(m->env), mdb_strerror(rc),
                           bm__env_io_hint(rc));
        }
        err = fn(txn, arg, em);
        if (err == BM_OK) {
            rc = mdb_txn_commit(txn);
            if (rc == MDB_MAP_FULL) {
                err = BM_EMAP_FULL;
            } else if (rc != 0) {
                err = bm_errf(em, bm_lmdb_err(rc),
                              "%s: cannot commit to '%s': %s%s", m->name,
                              bm__env_path(m->env), mdb_strerror(rc),
                              bm__env_io_hint(rc));
            }
        } else {
            mdb_txn_abort(txn);
        }
        if (err != BM_EMAP_FULL) {
            return err;
        }
        err = bm__lmdb_map_grow(m, em);
        if (err != BM_OK) {
            return err;
        }
    }
}
