/*
 * Fuzz target: a store whose LMDB contents are untrusted (a damaged or
 * hand-edited disk). The input is a list of records that are written raw
 * into a fresh LMDB environment; then the store is opened and every read,
 * bm_store_check, a rollback and a write run over it. None may crash or
 * leak; errors are fine.
 *
 * Record: kind (1 byte, selects h d c i s t m), key length (1 byte), key
 * suffix, value length (2 bytes LE, capped at 4096), value. The key is
 * "/0/<kind>/<suffix>" ("/0/t" for kind t).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "blockv2/store.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 64
#define MAX_VALUE 4096

static char home[64];
static char dir[96];

static void wipe(void);

static void cleanup(void)
{
    wipe();
    rmdir(home);
}

static bool setup(void)
{
    char tmpl[] = "/tmp/bm-fuzz-store-XXXXXX";

    if (home[0] != '\0') {
        return true;
    }
    if (mkdtemp(tmpl) == NULL) {
        return false;
    }
    snprintf(home, sizeof(home), "%s", tmpl);
    snprintf(dir, sizeof(dir), "%s/data", home);
    atexit(cleanup);
    return true;
}

static void wipe(void)
{
    char p[128];

    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/LOCK", dir);
    unlink(p);
    rmdir(dir);
}

/* Writes the records raw (no fsync: the store is rebuilt per input). */
static bool plant(const uint8_t *data, size_t size)
{
    static const char kinds[] = "hdcistm";
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    size_t off = 0;
    bool ok = false;

    if (mkdir(dir, 0755) != 0 || mdb_env_create(&env) != 0) {
        return false;
    }
    if (mdb_env_set_mapsize(env, (size_t)8 << 20) != 0 ||
        mdb_env_open(env, dir, MDB_NOSYNC, 0644) != 0 ||
        mdb_txn_begin(env, NULL, 0, &txn) != 0 ||
        mdb_dbi_open(txn, NULL, 0, &dbi) != 0) {
        goto out;
    }
    for (int r = 0; r < MAX_RECORDS && off + 2 <= size; r++) {
        char key[300];
        char kind = kinds[data[off] % 7];
        size_t klen = data[off + 1], vlen, n;
        MDB_val k, v;

        off += 2;
        if (off + klen + 2 > size) {
            break;
        }
        if (kind == 't') {
            n = (size_t)snprintf(key, sizeof(key), "/0/t");
        } else {
            n = (size_t)snprintf(key, sizeof(key), "/0/%c/", kind);
            memcpy(key + n, data + off, klen);
            n += klen;
        }
        off += klen;
        vlen = (size_t)data[off] | (size_t)data[off + 1] << 8;
        off += 2;
        if (vlen > MAX_VALUE) {
            vlen = MAX_VALUE;
        }
        if (vlen > size - off) {
            vlen = size - off;
        }
        k.mv_size = n;
        k.mv_data = key;
        v.mv_size = vlen;
        v.mv_data = (void *)(data + off);
        off += vlen;
        (void)mdb_put(txn, dbi, &k, &v, 0);
    }
    ok = mdb_txn_commit(txn) == 0;
    txn = NULL;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return ok;
}

static void exercise(void)
{
    struct bm_store_options opt = {.max_map_size = (size_t)64 << 20,
                                   .map_size = (size_t)8 << 20};
    struct bm_store_check_report rep;
    struct bm_store_blockbuf b = {0};
    struct bm_store_iter *it = NULL;
    struct bm_errmsg em;
    struct bm_buf v = {0}, w = {0};
    struct bm_hash zero = {{0}};
    struct bm_store *s = NULL;
    uint64_t h = 0;

    if (bm_store_open(&s, home, &opt, &em) != BM_OK) {
        return;
    }
    (void)bm_store_check(s, &rep, &em);
    if (bm_store_height(s, &h, &em) == BM_OK && h > 0) {
        (void)bm_store_get_block(s, h, &b, &em);
        if (bm_store_iter_new(&it, s, h > 3 ? h - 3 : 1, h) == BM_OK) {
            while (bm_store_iter_next(it, &b, &em) > 0) {
            }
            bm_store_iter_free(it);
        }
    }
    (void)bm_store_get_block(s, 1, &b, &em);
    (void)bm_store_get_block_by_hash(s, &zero, &b, &em);
    (void)bm_store_get_height_by_hash(s, &zero, &h, &em);
    (void)bm_store_get_latest_state(s, &h, &v, &em);
    (void)bm_store_get_state(s, 0, &v, &em);
    (void)bm_store_get_meta(s, "d", &v, &em);
    (void)bm_store_get_pending(s, &v, &w, &em);
    (void)bm_store_rollback(s, 1, &h, &em);
    (void)bm_store_check(s, &rep, &em);
    (void)bm_store_put_meta(s, "d", (const uint8_t *)"12345678", 8, &em);
    bm_store_blockbuf_release(&b);
    bm_buf_release(&v);
    bm_buf_release(&w);
    bm_store_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)bm_crypto_init();
    if (!setup()) {
        return 0;
    }
    wipe();
    if (plant(data, size)) {
        exercise();
    }
    wipe();
    return 0;
}
