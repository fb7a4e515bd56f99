/*
 * The one mapping from LMDB return codes (MDB_* and the errno values LMDB
 * passes through) to enum bm_err, used by every LMDB user: the block store,
 * the KV executor, the sequencer queue and the local DA server. No other
 * file switches on MDB_* codes (scripts/lint.sh checks it); code that must
 * react to one LMDB condition (MDB_NOTFOUND in a scan, MDB_MAP_FULL to grow
 * the map, MDB_MAP_RESIZED to adopt a size) tests that rc itself.
 *
 * The table (docs/STORE.md "Errors" lists it for operators):
 *   MDB_SUCCESS                                        BM_OK
 *   MDB_NOTFOUND, ENOENT                               BM_ENOTFOUND
 *   MDB_MAP_FULL                                       BM_EMAP_FULL
 *   MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID,
 *   MDB_VERSION_MISMATCH, MDB_BAD_DBI, MDB_INCOMPATIBLE BM_ECORRUPT
 *   MDB_KEYEXIST                                       BM_EEXIST
 *   MDB_BAD_VALSIZE, MDB_TXN_FULL, MDB_CURSOR_FULL,
 *   MDB_PAGE_FULL, MDB_DBS_FULL                        BM_ETOOBIG
 *   MDB_READERS_FULL                                   BM_EBUSY
 *   MDB_MAP_RESIZED                                    BM_EAGAIN
 *   EACCES, EPERM, EROFS                               BM_EREADONLY
 *   EAGAIN, EBUSY (lock held by another process)       BM_ELOCKED
 *   ENOMEM                                             BM_ENOMEM
 *   EINVAL                                             BM_EINVAL
 *   anything else (MDB_BAD_TXN, MDB_BAD_RSLOT,
 *   MDB_TLS_FULL, MDB_PANIC, EIO, ENOSPC, ...)         BM_EIO
 */
#ifndef BM_UTIL_LMDB_ERR_H
#define BM_UTIL_LMDB_ERR_H

#include "blockv2/err.h"

/* Maps an LMDB return code to enum bm_err (the table above). Pure;
 * thread-safe. */
enum bm_err bm_lmdb_err(int rc);

#endif /* BM_UTIL_LMDB_ERR_H */
