/* LMDB helpers, see lmdbutil.h. */
#include "exec/lmdbutil.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "util/errmsg.h"

enum bm_err bm__mdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return BM_OK;
    case MDB_NOTFOUND:
        return BM_ENOTFOUND;
    case MDB_MAP_FULL:
        return BM_EMAP_FULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_BAD_DBI:
    case MDB_INCOMPATIBLE:
        return BM_ECORRUPT;
    case MDB_KEYEXIST:
        return BM_EEXIST;
    case MDB_BAD_VALSIZE:
        return BM_ETOOBIG;
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_DBS_FULL:
        return BM_EFULL;
    case ENOMEM:
        return BM_ENOMEM;
    case EACCES:
    case EPERM:
        return BM_EPERM;
    case EAGAIN:
    case EBUSY:
        return BM_ELOCKED;
    case ENOENT:
        return BM_ENOTFOUND;
    case EROFS:
        return BM_EREADONLY;
    default:
        return BM_EIO;
    }
}

enum bm_err bm__mkdir_p(const char *dir, struct bm_errmsg *em)
{
    char *p = bm_strdup(dir);
    enum bm_err err = BM_OK;

    if (p == NULL) {
        return BM_ENOMEM;
    }
    for (char *s = p + 1;; s++) {
        bool end = *s == '\0';

        if (*s != '/' && !end) {
            continue;
        }
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            err = bm_errf(em, BM_EIO, "cannot create directory '%s': %s", p,
                          strerror(errno));
            break;
        }
        if (end) {
            break;
        }
        *s = '/';
    }
    bm_free(p);
    return err;
}

enum bm_err bm__env_open(MDB_env **out, const char *dir, unsigned max_dbs,
                         size_t map_size, unsigned flags,
                         struct bm_errmsg *em)
{
    MDB_env *env = NULL;
    enum bm_err err;
    int rc;

    *out = NULL;
    err = bm__mkdir_p(dir, em);
    if (err) {
        return err;
    }
    rc = mdb_env_create(&env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(env, max_dbs);
    }
    if (rc == 0) {
        rc = mdb_env_set_mapsize(env, map_size);
    }
    if (rc == 0) {
        rc = mdb_env_open(env, dir, flags | MDB_NOTLS, 0600);
    }
    if (rc != 0) {
        err = bm__mdb_err(rc);
        bm_errf(em, err, "cannot open LMDB environment '%s': %s", dir,
                mdb_strerror(rc));
        if (env != NULL) {
            mdb_env_close(env);
        }
        return err;
    }
    *out = env;
    return BM_OK;
}
