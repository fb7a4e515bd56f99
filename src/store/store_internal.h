/* Shared between the files of src/store/ only. */
#ifndef BM_STORE_STORE_INTERNAL_H
#define BM_STORE_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "blockv2/store.h"

struct bm_errmsg;

/* Room for "/0/m/" + BM_STORE_MAX_META_NAME + NUL and every other key. */
#define BM__STORE_KEY_MAX 272

/* Writes "/0/<kind>/<decimal height>" + NUL; returns the key length. */
size_t bm__store_key_height(char *buf, char kind, uint64_t height);

/* Writes "/0/i/<64 upper-hex digits>" + NUL; returns the key length. */
size_t bm__store_key_hash(char *buf, const struct bm_hash *h);

MDB_dbi bm__store_dbi(const struct bm_store *s);

/* A pooled read transaction; holds the remap lock shared until _end. */
enum bm_err bm__store_rtxn_begin(struct bm_store *s, MDB_txn **out,
                                 struct bm_errmsg *em);
void bm__store_rtxn_end(struct bm_store *s, MDB_txn *txn);

/* Reads an 8-byte LE value; BM_ECORRUPT naming key if not 8 bytes. */
enum bm_err bm__store_get_u64(struct bm_store *s, MDB_txn *txn,
                              const char *key, size_t klen, uint64_t *out,
                              struct bm_errmsg *em);

#endif /* BM_STORE_STORE_INTERNAL_H */
