/*
 * One mapping from LMDB return codes (MDB_* and the errno values LMDB
 * passes through) to enum bm_err, shared by every LMDB user.
 */
#ifndef BM_UTIL_LMDB_ERR_H
#define BM_UTIL_LMDB_ERR_H

#include "blockv2/err.h"

/* Maps an LMDB return code to enum bm_err (table in lmdb_err.c; unknown
 * codes -> BM_EIO). Pure; thread-safe. */
enum bm_err bm_lmdb_err(int rc);

#endif /* BM_UTIL_LMDB_ERR_H */
