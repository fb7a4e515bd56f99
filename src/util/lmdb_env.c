/* LMDB helpers, see lmdb_env.h. */
#include "util/lmdb_env.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/lmdb_err.h"

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
        err = bm_lmdb_err(rc);
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

const char *bm__env_path(MDB_env *env)
{
    const char *p = NULL;

    if (env == NULL || mdb_env_get_path(env, &p) != 0 || p == NULL) {
        return "?";
    }
    return p;
}

bool bm__env_rc_is_disk(int rc)
{
    return rc == EIO || rc == ENOSPC || rc == EDQUOT;
}

const char *bm__env_io_hint(int rc)
{
    return bm__env_rc_is_disk(rc) ? " (disk full or failing)" : "";
}
