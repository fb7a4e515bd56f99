/* LMDB return code mapping, see lmdb_err.h. */
#include "util/lmdb_err.h"

#include <errno.h>

#include <lmdb.h>

enum bm_err bm_lmdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return BM_OK;
    /* Missing key, or a missing file/directory at open time. */
    case MDB_NOTFOUND:
    case ENOENT:
        return BM_ENOTFOUND;
    /* The map size is exhausted: the caller may grow the map. */
    case MDB_MAP_FULL:
        return BM_EMAP_FULL;
    /* The file on disk is damaged or not ours (wrong version/format). */
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_BAD_DBI:
    case MDB_INCOMPATIBLE:
        return BM_ECORRUPT;
    /* mdb_put with MDB_NOOVERWRITE on an existing key. */
    case MDB_KEYEXIST:
        return BM_EEXIST;
    /* The caller's key or value is larger than LMDB allows, or one
     * operation needs more than a fixed LMDB limit (dirty pages of one
     * txn, cursor depth, page space, named databases): the request is too
     * big, nothing on disk is wrong. */
    case MDB_BAD_VALSIZE:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
    case MDB_DBS_FULL:
        return BM_ETOOBIG;
    /* Every reader slot is taken: transient, slots free as readers end. */
    case MDB_READERS_FULL:
        return BM_EBUSY;
    /* Another process grew the map: adopt its size and retry. */
    case MDB_MAP_RESIZED:
        return BM_EAGAIN;
    /* The database files cannot be written by this process. */
    case EACCES:
    case EPERM:
    case EROFS:
        return BM_EREADONLY;
    /* The environment's lock file is held by another process. */
    case EAGAIN:
    case EBUSY:
        return BM_ELOCKED;
    case ENOMEM:
        return BM_ENOMEM;
    /* A bad argument or call order: our own bug. */
    case EINVAL:
        return BM_EINVAL;
    /* Everything else: a txn already failed (MDB_BAD_TXN), EIO, ENOSPC,
     * ... */
    default:
        return BM_EIO;
    }
}
