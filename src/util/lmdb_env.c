/* LMDB helpers, see lmdb_env.h. */
#include "util/lmdb_env.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/file.h"
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

enum bm_err bm__env_create_whole(const char *dir, size_t map_size,
                                 unsigned mode, struct bm_errmsg *em)
{
    char path[4096], tmp[4096];
    MDB_env *env = NULL;
    enum bm_err err;
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int m = snprintf(tmp, sizeof(tmp), "%s/data.mdb.new", dir);
    int rc;

    if (n < 0 || (size_t)n >= sizeof(path) || m < 0 ||
        (size_t)m >= sizeof(tmp)) {
        return bm_errf(em, BM_EINVAL, "LMDB directory '%s': path too long",
                       dir);
    }
    if (stat(path, &st) == 0) {
        return BM_OK; /* made before: whole */
    }
    if (errno != ENOENT || (unlink(tmp) != 0 && errno != ENOENT)) {
        int e = errno;

        return bm_errf(em, bm_file_errno(e), "cannot create '%s': %s", path,
                       strerror(e));
    }
    rc = mdb_env_create(&env);
    if (rc == 0) {
        rc = mdb_env_set_mapsize(env, map_size);
        if (rc == 0) {
            /* No lock file: nothing else opens it before the rename. */
            rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS,
                              (mdb_mode_t)mode);
        }
        if (rc == 0) {
            rc = mdb_env_sync(env, 1);
        }
        mdb_env_close(env);
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "cannot create '%s': %s%s", tmp,
                      mdb_strerror(rc), bm__env_io_hint(rc));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;

        err = bm_errf(em, bm_file_errno(e), "cannot rename '%s': %s", tmp,
                      strerror(e));
        goto fail;
    }
    return bm_file_sync_parent(path, "LMDB data file", em);
fail:
    (void)unlink(tmp);
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
    if (err == BM_OK && (flags & MDB_RDONLY) == 0) {
        err = bm__env_create_whole(dir, map_size, 0600, em);
    }
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

bool bm__env_dir_is_tmpfs(const char *dir)
{
    struct statfs st;

    return statfs(dir, &st) == 0 && st.f_type == TMPFS_MAGIC;
}

bool bm__env_use_writemap(const char *dir, size_t *map_size)
{
    char path[4096];
    struct stat st;
    size_t size;
    int n;

    if (!BM__ENV_WRITEMAP_ON_TMPFS || !bm__env_dir_is_tmpfs(dir)) {
        return false;
    }
    size = *map_size < BM__ENV_WRITEMAP_START ? *map_size
                                              : BM__ENV_WRITEMAP_START;
    n = snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
        st.st_size > 0 && (uint64_t)st.st_size > size &&
        (uint64_t)st.st_size <= SIZE_MAX) {
        size = (size_t)st.st_size;
    }
    *map_size = size;
    return true;
}

enum bm_err bm__env_reserve_map(MDB_env *env, struct bm_errmsg *em)
{
    unsigned flags = 0;
    MDB_envinfo info;

    if (mdb_env_get_flags(env, &flags) != 0 ||
        (flags & MDB_WRITEMAP) == 0) {
        return BM_OK;
    }
    mdb_env_info(env, &info);
    return bm__env_reserve(env, 0, info.me_mapsize, em);
}

enum bm_err bm__env_reserve(MDB_env *env, size_t from, size_t to,
                            struct bm_errmsg *em)
{
    mdb_filehandle_t fd;
    int rc = mdb_env_get_fd(env, &fd);

    if (to <= from) {
        return BM_OK;
    }
    if (rc == 0 && fallocate(fd, 0, (off_t)from, (off_t)(to - from)) != 0) {
        rc = errno;
    }
    if (rc != 0) {
        return bm_errf(em, BM_EIO,
                       "cannot allocate %zu bytes of the map of '%s': %s%s",
                       to - from, bm__env_path(env), strerror(rc),
                       bm__env_io_hint(rc));
    }
    return BM_OK;
}
