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
    /* Key or value larger than LMDB allows. */
    case MDB_BAD_VALSIZE:
        return BM_ETOOBIG;
    /* A fixed-size LMDB table (readers, txn dirty pages, cursor stack,
     * named databases) is exhausted. */
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
    /* The environment's lock file is held by another process. */
    case EAGAIN:
    case EBUSY:
        return BM_ELOCKED;
    case EROFS:
        return BM_EREADONLY;
    /* Everything else (MDB_BAD_TXN, MDB_MAP_RESIZED, EIO, ENOSPC, ...). */
    default:
        return BM_EIO;
    }
}
