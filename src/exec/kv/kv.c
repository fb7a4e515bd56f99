/* The in-process KV executor, see kv.h and docs/EXECUTION.md. */
#include "exec/kv/kv.h"

#include <pthread.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "exec/kv/undo.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/lmdb_env.h"
#include "util/lmdb_map.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/txset.h"

#define LANES 1024u
#define VEC_BYTES (2u * LANES)
#define DEFAULT_POOL_TXS 100000u
#define DEFAULT_POOL_BYTES (64u << 20)
#define DEFAULT_RECENT 65536u

/* meta "state" record: be64 height || be64 n_pairs || acc (LE lanes). */
#define STATE_REC_SIZE (16u + VEC_BYTES)
/* meta "genesis" record: be64 initial_height || be64 time || chain id. */
#define GENESIS_FIXED 16u
/* heights record: root (32) || input digest (32). */
#define HEIGHT_REC_SIZE (2u * BM_HASH_SIZE)

static const char leaf_tag[] = "blockv2/kv/leaf/v1";
static const char root_tag[] = "blockv2/kv/root/v1";
static const char exec_tag[] = "blockv2/kv/exec/v1";

struct pool_ent {
    struct bm_buf tx;
    struct bm_hash h;
};

struct bm_kv {
    MDB_env *env;
    EVP_CIPHER_CTX *aes; /* leaf expansion; used under state_mu */
    MDB_dbi pairs;
    MDB_dbi meta;
    MDB_dbi heights;
    MDB_dbi undo;
    /* Map growth (util/lmdb_map.h): every write goes through it, under
     * state_mu; read transactions hold remap_mu shared. */
    struct bm__lmdb_map map;
    pthread_rwlock_t remap_mu;
    uint64_t keep_heights;
    bool no_sync; /* opened with MDB_NOSYNC (tests): never synced */

    /* state_mu guards the committed-state cache below and serialises
     * writers. */
    pthread_mutex_t state_mu;
    bool initialised;
    char *chain_id;
    uint64_t initial_height;
    uint64_t genesis_time;
    uint64_t height;
    uint64_t final_height;
    uint64_t n_pairs;
    uint16_t acc[LANES];
    struct bm_hash root; /* compute_root(acc, n_pairs), kept with them */
    /* In a group (begin_group .. commit_group): commits are not synced
     * (MDB_NOSYNC) until commit_group. */
    bool grouped;

    pthread_mutex_t pool_mu;
    struct pool_ent *pool;
    size_t pool_len;
    size_t pool_cap;
    size_t pool_bytes;
    struct bm__txset pool_set;
    struct bm__txwin recent; /* recently executed mempool txs */
    size_t pool_max_txs;
    size_t pool_max_bytes;
};

/* ---- state root ---- */

/* Expands pair (k, v) into its 2048-byte leaf vector: AES-256-CTR
 * keystream (IV 0) under key BLAKE2b-256(tag || be32(len k) || k || v).
 * Caller holds state_mu (aes is shared). False if OpenSSL fails. */
static bool leaf_vector(EVP_CIPHER_CTX *aes, const uint8_t *k, size_t klen,
                        const uint8_t *v, size_t vlen, uint8_t vec[VEC_BYTES])
{
    static const uint8_t zeros[VEC_BYTES];
    static const uint8_t iv[16];
    crypto_generichash_state st;
    uint8_t seed[32];
    uint8_t len_be[4];
    int outl = 0;
    bool ok;

    len_be[0] = (uint8_t)(klen >> 24);
    len_be[1] = (uint8_t)(klen >> 16);
    len_be[2] = (uint8_t)(klen >> 8);
    len_be[3] = (uint8_t)klen;
    crypto_generichash_init(&st, NULL, 0, sizeof(seed));
    crypto_generichash_update(&st, (const uint8_t *)leaf_tag,
                              sizeof(leaf_tag) - 1);
    crypto_generichash_update(&st, len_be, sizeof(len_be));
    crypto_generichash_update(&st, k, klen);
    if (vlen > 0) {
        crypto_generichash_update(&st, v, vlen);
    }
    crypto_generichash_final(&st, seed, sizeof(seed));
    ok = EVP_EncryptInit_ex(aes, NULL, NULL, seed, iv) == 1 &&
         EVP_EncryptUpdate(aes, vec, &outl, zeros, (int)VEC_BYTES) == 1 &&
         outl == (int)VEC_BYTES;
    sodium_memzero(seed, sizeof(seed));
    return ok;
}

/* Reads lane i of a leaf vector (little-endian uint16). */
static void vec_lanes(const uint8_t vec[VEC_BYTES], uint16_t lanes[LANES])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(lanes, vec, VEC_BYTES);
#else
    for (size_t i = 0; i < LANES; i++) {
        lanes[i] = (uint16_t)(vec[2 * i] | vec[2 * i + 1] << 8);
    }
#endif
}

static void acc_add(uint16_t acc[LANES], const uint8_t vec[VEC_BYTES])
{
    uint16_t x[LANES];

    vec_lanes(vec, x);
    for (size_t i = 0; i < LANES; i++) {
        acc[i] = (uint16_t)(acc[i] + x[i]);
    }
}

static void acc_sub(uint16_t acc[LANES], const uint8_t vec[VEC_BYTES])
{
    uint16_t x[LANES];

    vec_lanes(vec, x);
    for (size_t i = 0; i < LANES; i++) {
        acc[i] = (uint16_t)(acc[i] - x[i]);
    }
}

static void acc_bytes(const uint16_t acc[LANES], uint8_t out[VEC_BYTES])
{
    for (size_t i = 0; i < LANES; i++) {
        out[2 * i] = (uint8_t)acc[i];
        out[2 * i + 1] = (uint8_t)(acc[i] >> 8);
    }
}

/*
 * SHA-256(root_tag || be64(n_pairs) || acc as LE lanes): 2 KiB, so
 * bm_sha256_parts hashes it with the CPU's SHA instructions through
 * libcrypto where it has them (~2 us against ~9 with libsodium's portable
 * code, per block); same digest either way.
 */
static void compute_root(const uint16_t acc[LANES], uint64_t n_pairs,
                         struct bm_hash *out)
{
    uint8_t bytes[VEC_BYTES];
    uint8_t n_be[8];
    const uint8_t *ptrs[3] = {(const uint8_t *)root_tag, n_be, bytes};
    size_t lens[3] = {sizeof(root_tag) - 1, sizeof(n_be), sizeof(bytes)};

    acc_bytes(acc, bytes);
    bm_put_be64(n_be, n_pairs);
    bm_sha256_parts(out->b, ptrs, lens, 3);
}

void bm_kv_empty_root(struct bm_hash *out)
{
    static const uint16_t zero[LANES];

    compute_root(zero, 0, out);
}

/* ---- tx format ---- */

enum bm_err bm_kv_check_tx(const uint8_t *tx, size_t len, size_t *key_len,
                           struct bm_errmsg *em)
{
    const uint8_t *eq;
    size_t klen;

    if (len == 0) {
        return bm_errf(em, BM_EBADTX, "tx is empty, want key=value");
    }
    if (len > BM_KV_MAX_TX) {
        return bm_errf(em, BM_ETOOBIG, "tx is %zu bytes, max %u", len,
                       BM_KV_MAX_TX);
    }
    eq = memchr(tx, '=', len);
    if (eq == NULL) {
        return bm_errf(em, BM_EBADTX, "tx has no '=' separator, want "
                       "key=value");
    }
    klen = (size_t)(eq - tx);
    if (klen == 0) {
        return bm_errf(em, BM_EBADTX, "tx key is empty");
    }
    if (klen > BM_KV_MAX_KEY) {
        return bm_errf(em, BM_ETOOBIG, "tx key is %zu bytes, max %u", klen,
                       BM_KV_MAX_KEY);
    }
    if (len - klen - 1 > BM_KV_MAX_VALUE) {
        return bm_errf(em, BM_ETOOBIG, "tx value is %zu bytes, max %u",
                       len - klen - 1, BM_KV_MAX_VALUE);
    }
    for (size_t i = 0; i < klen; i++) {
        if (tx[i] < 0x21 || tx[i] > 0x7e) {
            return bm_errf(em, BM_EBADTX, "tx key byte 0x%02x at offset %zu "
                           "is not printable ASCII", tx[i], i);
        }
    }
    if (key_len != NULL) {
        *key_len = klen;
    }
    return BM_OK;
}

/* ---- open / close ---- */

/* Read transactions hold remap_mu shared, so that the map never grows
 * under them (mdb_env_set_mapsize needs no open transaction). */
static int rtxn_begin(struct bm_kv *kv, MDB_txn **txn)
{
    int rc;

    pthread_rwlock_rdlock(&kv->remap_mu);
    rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        *txn = NULL;
        pthread_rwlock_unlock(&kv->remap_mu);
    }
    return rc;
}

static void rtxn_end(struct bm_kv *kv, MDB_txn *txn)
{
    if (txn != NULL) {
        mdb_txn_abort(txn);
        pthread_rwlock_unlock(&kv->remap_mu);
    }
}

static void remap_lock(void *arg, bool lock)
{
    struct bm_kv *kv = arg;

    if (lock) {
        pthread_rwlock_wrlock(&kv->remap_mu);
    } else {
        pthread_rwlock_unlock(&kv->remap_mu);
    }
}

/* An LMDB error inside a write function: BM_EMAP_FULL (the map grows and
 * the function runs again) or the mapped error with a message. */
static enum bm_err put_err(struct bm_errmsg *em, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL) {
        return BM_EMAP_FULL;
    }
    return bm_errf(em, bm_lmdb_err(rc), "kv: %s: %s", what,
                   mdb_strerror(rc));
}

static enum bm_err load_state(struct bm_kv *kv, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_val k;
    MDB_val v;
    enum bm_err err = BM_OK;
    int rc;

    rc = rtxn_begin(kv, &txn);
    if (rc != 0) {
        return bm_errf(em, bm_lmdb_err(rc), "kv: cannot begin txn: %s",
                       mdb_strerror(rc));
    }
    k.mv_data = (void *)"genesis";
    k.mv_size = 7;
    rc = mdb_get(txn, kv->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        goto out;
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "kv: meta.genesis: %s",
                      mdb_strerror(rc));
        goto out;
    }
    if (v.mv_size <= GENESIS_FIXED ||
        v.mv_size > GENESIS_FIXED + BM_MAX_CHAIN_ID) {
        err = bm_errf(em, BM_ECORRUPT, "kv: meta.genesis is %zu bytes",
                      v.mv_size);
        goto out;
    }
    kv->initial_height = bm_get_be64(v.mv_data);
    kv->genesis_time = bm_get_be64((const uint8_t *)v.mv_data + 8);
    kv->chain_id = bm_strndup((const char *)v.mv_data + GENESIS_FIXED,
                              v.mv_size - GENESIS_FIXED);
    if (kv->chain_id == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    k.mv_data = (void *)"state";
    k.mv_size = 5;
    rc = mdb_get(txn, kv->meta, &k, &v);
    if (rc != 0 || v.mv_size != STATE_REC_SIZE) {
        err = bm_errf(em, BM_ECORRUPT, "kv: meta.state is missing or has "
                      "the wrong size");
        goto out;
    }
    kv->height = bm_get_be64(v.mv_data);
    kv->n_pairs = bm_get_be64((const uint8_t *)v.mv_data + 8);
    for (size_t i = 0; i < LANES; i++) {
        const uint8_t *p = (const uint8_t *)v.mv_data + 16 + 2 * i;

        kv->acc[i] = (uint16_t)(p[0] | p[1] << 8);
    }
    compute_root(kv->acc, kv->n_pairs, &kv->root);
    k.mv_data = (void *)"final";
    k.mv_size = 5;
    rc = mdb_get(txn, kv->meta, &k, &v);
    if (rc == 0 && v.mv_size == 8) {
        kv->final_height = bm_get_be64(v.mv_data);
    } else if (rc != MDB_NOTFOUND) {
        err = bm_errf(em, BM_ECORRUPT, "kv: meta.final is malformed");
        goto out;
    }
    kv->initialised = true;
out:
    rtxn_end(kv, txn);
    return err;
}

static enum bm_err open_dbs(MDB_txn *txn, void *arg, struct bm_errmsg *em)
{
    struct bm_kv *kv = arg;
    int rc = mdb_dbi_open(txn, "pairs", MDB_CREATE, &kv->pairs);

    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &kv->meta);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "heights", MDB_CREATE, &kv->heights);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "undo", MDB_CREATE, &kv->undo);
    }
    return rc == 0 ? BM_OK : put_err(em, rc, "cannot open databases");
}

enum bm_err bm_kv_open(struct bm_kv **out, const char *dir,
                       const struct bm_kv_options *opts,
                       struct bm_errmsg *em)
{
    struct bm_kv *kv = NULL;
    pthread_rwlockattr_t ra;
    size_t map_size = BM_KV_DEFAULT_MAP_SIZE;
    size_t max_map_size = BM_KV_DEFAULT_MAX_MAP_SIZE;
    unsigned flags = 0;
    enum bm_err err;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "kv: directory is empty");
    }
    if (sodium_init() < 0) {
        return bm_errf(em, BM_ECRYPTO, "kv: sodium_init failed");
    }
    if (opts != NULL && opts->map_size != 0) {
        map_size = opts->map_size;
    }
    if (opts != NULL && opts->max_map_size != 0) {
        max_map_size = opts->max_map_size;
    }
    /* MDB_NOMETASYNC: one fsync per commit instead of two; an OS crash
     * may undo the last commit but never breaks integrity, and the last
     * commit is recoverable (docs/EXECUTION.md, "Durability"). */
    flags |= MDB_NOMETASYNC;
    if (opts != NULL && opts->no_sync) {
        flags |= MDB_NOSYNC;
    }
    kv = bm_calloc(1, sizeof(*kv));
    if (kv == NULL) {
        return BM_ENOMEM;
    }
    kv->no_sync = opts != NULL && opts->no_sync;
    bm_kv_empty_root(&kv->root);
    pthread_mutex_init(&kv->state_mu, NULL);
    pthread_mutex_init(&kv->pool_mu, NULL);
    pthread_rwlockattr_init(&ra);
    /* Writer preference: a map growth must not starve behind readers. */
    pthread_rwlockattr_setkind_np(&ra,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&kv->remap_mu, &ra);
    pthread_rwlockattr_destroy(&ra);
    kv->keep_heights = opts && opts->keep_heights ? opts->keep_heights
                                                  : BM_KV_DEFAULT_KEEP_HEIGHTS;
    kv->pool_max_txs = opts && opts->mempool_max_txs ? opts->mempool_max_txs
                                                     : DEFAULT_POOL_TXS;
    kv->pool_max_bytes = opts && opts->mempool_max_bytes
                             ? opts->mempool_max_bytes
                             : DEFAULT_POOL_BYTES;
    kv->aes = EVP_CIPHER_CTX_new();
    if (kv->aes == NULL ||
        EVP_EncryptInit_ex(kv->aes, EVP_aes_256_ctr(), NULL, NULL, NULL) !=
            1) {
        err = bm_errf(em, BM_ECRYPTO, "kv: cannot set up AES-256-CTR");
        goto out;
    }
    err = bm__txwin_init(&kv->recent, opts && opts->recent_txs
                                          ? opts->recent_txs
                                          : DEFAULT_RECENT);
    if (err) {
        goto out;
    }
    err = bm__mkdir_p(dir, em);
    if (err) {
        goto out;
    }
    if (bm__env_use_writemap(dir, &map_size)) {
        /* On tmpfs: commits write through the map (util/lmdb_env.h). */
        flags |= MDB_WRITEMAP;
    }
    err = bm__env_open(&kv->env, dir, 5, map_size, flags, em);
    if (err == BM_OK) {
        err = bm__env_reserve_map(kv->env, em);
    }
    if (err) {
        goto out;
    }
    bm__lmdb_map_init(&kv->map, kv->env, max_map_size, "kv", remap_lock, kv);
    err = bm__lmdb_map_write(&kv->map, open_dbs, kv, em);
    if (err) {
        goto out;
    }
    err = load_state(kv, em);
out:
    if (err) {
        bm_kv_free(kv);
        return err;
    }
    *out = kv;
    return BM_OK;
}

size_t bm_kv_map_size(const struct bm_kv *kv)
{
    return bm__lmdb_map_size(&kv->map);
}

static void pool_clear(struct bm_kv *kv)
{
    for (size_t i = 0; i < kv->pool_len; i++) {
        bm_buf_release(&kv->pool[i].tx);
    }
    bm_free(kv->pool);
    kv->pool = NULL;
    kv->pool_len = 0;
    kv->pool_cap = 0;
    kv->pool_bytes = 0;
    bm__txset_release(&kv->pool_set);
    bm__txwin_release(&kv->recent);
}

void bm_kv_free(struct bm_kv *kv)
{
    if (kv == NULL) {
        return;
    }
    if (kv->env != NULL) {
        mdb_env_close(kv->env);
    }
    pool_clear(kv);
    EVP_CIPHER_CTX_free(kv->aes);
    bm_free(kv->chain_id);
    pthread_mutex_destroy(&kv->state_mu);
    pthread_mutex_destroy(&kv->pool_mu);
    pthread_rwlock_destroy(&kv->remap_mu);
    bm_free(kv);
}

/* ---- mempool ---- */

enum bm_err bm_kv_mempool_add(struct bm_kv *kv, const uint8_t *tx,
                              size_t len, struct bm_hash *hash,
                              struct bm_errmsg *em)
{
    struct bm_hash h;
    struct bm_buf copy = {0};
    enum bm_err err;

    err = bm_kv_check_tx(tx, len, NULL, em);
    if (err) {
        return err;
    }
    bm_exec_tx_hash(tx, len, &h);
    if (hash != NULL) {
        *hash = h;
    }
    err = bm_buf_set(&copy, tx, len);
    if (err) {
        return err;
    }
    pthread_mutex_lock(&kv->pool_mu);
    if (bm__txset_has(&kv->pool_set, &h)) {
        err = bm_errf(em, BM_EEXIST, "tx already in mempool");
        goto unlock;
    }
    if (bm__txwin_has(&kv->recent, &h)) {
        err = bm_errf(em, BM_EEXIST, "tx was executed recently");
        goto unlock;
    }
    if (kv->pool_len >= kv->pool_max_txs ||
        kv->pool_bytes + len > kv->pool_max_bytes) {
        err = bm_errf(em, BM_EFULL, "mempool full (%zu txs, %zu bytes)",
                      kv->pool_len, kv->pool_bytes);
        goto unlock;
    }
    if (kv->pool_len == kv->pool_cap) {
        size_t ncap = kv->pool_cap ? kv->pool_cap * 2 : 256;
        size_t bytes;
        struct pool_ent *np;

        if (!bm_size_mul(ncap, sizeof(*np), &bytes)) {
            err = BM_EOVERFLOW;
            goto unlock;
        }
        np = bm_realloc(kv->pool, bytes);
        if (np == NULL) {
            err = BM_ENOMEM;
            goto unlock;
        }
        kv->pool = np;
        kv->pool_cap = ncap;
    }
    err = bm__txset_add(&kv->pool_set, &h);
    if (err) {
        goto unlock;
    }
    kv->pool[kv->pool_len].tx = copy;
    kv->pool[kv->pool_len].h = h;
    kv->pool_len++;
    kv->pool_bytes += len;
    copy.ptr = NULL;
    copy.len = 0;
unlock:
    pthread_mutex_unlock(&kv->pool_mu);
    bm_buf_release(&copy);
    return err;
}

size_t bm_kv_mempool_len(struct bm_kv *kv)
{
    size_t n;

    pthread_mutex_lock(&kv->pool_mu);
    n = kv->pool_len;
    pthread_mutex_unlock(&kv->pool_mu);
    return n;
}

/*
 * Drops executed txs from the mempool. The common case is that the block
 * holds the oldest mempool txs in mempool order (the sequencer is FIFO), so
 * txs are first matched against the pool in order by bytes, which needs no
 * hashing; a tx that does not match is hashed and looked up.
 */
static void pool_remove(struct bm_kv *kv, const struct bm_buf *txs, size_t n)
{
    size_t removed = 0;
    size_t j = 0;
    size_t p = 0;

    pthread_mutex_lock(&kv->pool_mu);
    for (size_t i = 0; i < n && kv->pool_len > 0; i++) {
        struct bm_hash h;

        if (p < kv->pool_len && bm_buf_eq(&kv->pool[p].tx, &txs[i])) {
            if (bm__txset_del(&kv->pool_set, &kv->pool[p].h)) {
                removed++;
            }
            bm__txwin_add(&kv->recent, &kv->pool[p].h);
            p++;
            continue;
        }
        bm_exec_tx_hash(txs[i].ptr, txs[i].len, &h);
        if (bm__txset_del(&kv->pool_set, &h)) {
            removed++;
        }
        bm__txwin_add(&kv->recent, &h);
    }
    if (removed > 0 && removed == p) {
        /* Only the oldest p entries went: drop that prefix. */
        for (size_t i = 0; i < p; i++) {
            kv->pool_bytes -= kv->pool[i].tx.len;
            bm_buf_release(&kv->pool[i].tx);
        }
        memmove(kv->pool, kv->pool + p,
                (kv->pool_len - p) * sizeof(*kv->pool));
        kv->pool_len -= p;
    } else if (removed > 0) {
        for (size_t i = 0; i < kv->pool_len; i++) {
            if (bm__txset_has(&kv->pool_set, &kv->pool[i].h)) {
                kv->pool[j++] = kv->pool[i];
            } else {
                kv->pool_bytes -= kv->pool[i].tx.len;
                bm_buf_release(&kv->pool[i].tx);
            }
        }
        kv->pool_len = j;
    }
    pthread_mutex_unlock(&kv->pool_mu);
}

/* ---- executor ops ---- */

static enum bm_err write_state(struct bm_kv *kv, MDB_txn *txn,
                               uint64_t height, uint64_t n_pairs,
                               const uint16_t acc[LANES],
                               struct bm_errmsg *em)
{
    uint8_t rec[STATE_REC_SIZE];
    MDB_val k = {5, (void *)"state"};
    MDB_val v = {sizeof(rec), rec};
    int rc;

    bm_put_be64(rec, height);
    bm_put_be64(rec + 8, n_pairs);
    acc_bytes(acc, rec + 16);
    rc = mdb_put(txn, kv->meta, &k, &v, 0);
    return rc == 0 ? BM_OK : put_err(em, rc, "cannot write meta.state");
}

static enum bm_err write_final(struct bm_kv *kv, MDB_txn *txn,
                               uint64_t height, struct bm_errmsg *em)
{
    uint8_t be[8];
    MDB_val k = {5, (void *)"final"};
    MDB_val v = {8, be};
    int rc;

    bm_put_be64(be, height);
    rc = mdb_put(txn, kv->meta, &k, &v, 0);
    return rc == 0 ? BM_OK : put_err(em, rc, "cannot write meta.final");
}

struct init_args {
    struct bm_kv *kv;
    const uint8_t *rec;
    size_t rec_len;
    uint64_t initial_height;
};

static enum bm_err init_fn(MDB_txn *txn, void *arg, struct bm_errmsg *em)
{
    static const uint16_t zero[LANES];
    struct init_args *a = arg;
    MDB_val k = {7, (void *)"genesis"};
    MDB_val v = {a->rec_len, (void *)a->rec};
    int rc = mdb_put(txn, a->kv->meta, &k, &v, 0);

    if (rc != 0) {
        return put_err(em, rc, "init_chain: cannot write meta.genesis");
    }
    return write_state(a->kv, txn, a->initial_height - 1, 0, zero, em);
}

static enum bm_err kv_init_chain(void *ctx, uint64_t genesis_time_ns,
                                 uint64_t initial_height, const char *chain_id,
                                 struct bm_buf *state_root,
                                 struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    struct bm_hash root;
    struct init_args a = {0};
    uint8_t *rec = NULL;
    size_t idlen = strlen(chain_id);
    enum bm_err err = BM_OK;

    bm_buf_release(state_root);
    if (initial_height == 0) {
        return bm_errf(em, BM_EHEIGHT_ZERO, "init_chain: initial_height is 0");
    }
    if (idlen > BM_MAX_CHAIN_ID) {
        return bm_errf(em, BM_ETOOBIG, "init_chain: chain_id is %zu bytes, "
                       "max %u", idlen, BM_MAX_CHAIN_ID);
    }
    bm_kv_empty_root(&root);
    pthread_mutex_lock(&kv->state_mu);
    if (kv->initialised) {
        if (strcmp(kv->chain_id, chain_id) != 0) {
            err = bm_errf(em, BM_ECHAIN_ID_MISMATCH, "init_chain: chain_id "
                          "'%s' differs from the stored '%s'", chain_id,
                          kv->chain_id);
        } else if (kv->initial_height != initial_height ||
                   kv->genesis_time != genesis_time_ns) {
            err = bm_errf(em, BM_EGENESIS, "init_chain: initial_height %llu "
                          "/ genesis time %llu differ from the stored %llu / "
                          "%llu", (unsigned long long)initial_height,
                          (unsigned long long)genesis_time_ns,
                          (unsigned long long)kv->initial_height,
                          (unsigned long long)kv->genesis_time);
        }
        goto out;
    }
    rec = bm_malloc(GENESIS_FIXED + idlen);
    if (rec == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    bm_put_be64(rec, initial_height);
    bm_put_be64(rec + 8, genesis_time_ns);
    memcpy(rec + GENESIS_FIXED, chain_id, idlen);
    a.kv = kv;
    a.rec = rec;
    a.rec_len = GENESIS_FIXED + idlen;
    a.initial_height = initial_height;
    err = bm__lmdb_map_write(&kv->map, init_fn, &a, em);
    if (err != BM_OK) {
        goto out;
    }
    memset(kv->acc, 0, sizeof(kv->acc));
    bm_kv_empty_root(&kv->root);
    kv->chain_id = bm_xstrdup(chain_id);
    kv->initial_height = initial_height;
    kv->genesis_time = genesis_time_ns;
    kv->height = initial_height - 1;
    kv->n_pairs = 0;
    kv->final_height = 0;
    kv->initialised = true;
out:
    pthread_mutex_unlock(&kv->state_mu);
    bm_free(rec);
    if (err == BM_OK) {
        err = bm_buf_set(state_root, root.b, sizeof(root.b));
    }
    return err;
}

static enum bm_err kv_get_txs(void *ctx, struct bm_batch *out,
                              struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    struct bm_buf *txs = NULL;
    size_t n;
    enum bm_err err = BM_OK;

    (void)em;
    bm_exec_txs_free(out->txs, out->n_txs);
    out->txs = NULL;
    out->n_txs = 0;
    pthread_mutex_lock(&kv->pool_mu);
    n = kv->pool_len;
    if (n > 0) {
        txs = bm_calloc(n, sizeof(*txs));
        if (txs == NULL) {
            err = BM_ENOMEM;
            goto unlock;
        }
        for (size_t i = 0; i < n; i++) {
            err = bm_buf_copy(&txs[i], &kv->pool[i].tx);
            if (err) {
                bm_exec_txs_free(txs, i);
                txs = NULL;
                goto unlock;
            }
        }
    }
unlock:
    pthread_mutex_unlock(&kv->pool_mu);
    if (err == BM_OK) {
        out->txs = txs;
        out->n_txs = n;
    }
    return err;
}

/* BLAKE2b-256 over everything that determines a height's result (internal
 * only: compared on re-execution, never leaves this module). */
static void input_digest(const struct bm_buf *txs, size_t n_txs,
                         uint64_t height, uint64_t time_ns,
                         const uint8_t *prev, size_t prev_len,
                         struct bm_hash *out)
{
    crypto_generichash_state st;
    uint8_t be[8];

    crypto_generichash_init(&st, NULL, 0, BM_HASH_SIZE);
    crypto_generichash_update(&st, (const uint8_t *)exec_tag,
                              sizeof(exec_tag) - 1);
    bm_put_be64(be, height);
    crypto_generichash_update(&st, be, 8);
    bm_put_be64(be, time_ns);
    crypto_generichash_update(&st, be, 8);
    bm_put_be64(be, prev_len);
    crypto_generichash_update(&st, be, 8);
    if (prev_len > 0) {
        crypto_generichash_update(&st, prev, prev_len);
    }
    bm_put_be64(be, n_txs);
    crypto_generichash_update(&st, be, 8);
    for (size_t i = 0; i < n_txs; i++) {
        bm_put_be64(be, txs[i].len);
        crypto_generichash_update(&st, be, 8);
        if (txs[i].len > 0) {
            crypto_generichash_update(&st, txs[i].ptr, txs[i].len);
        }
    }
    crypto_generichash_final(&st, out->b, BM_HASH_SIZE);
}


/* Re-execution of an already executed height: return the recorded root if
 * the inputs are identical. Caller holds state_mu. */
static enum bm_err replay_height(struct bm_kv *kv, uint64_t height,
                                 const struct bm_hash *digest,
                                 struct bm_hash *root, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    uint8_t be[8];
    MDB_val k = {8, be};
    MDB_val v;
    enum bm_err err = BM_OK;
    int rc;

    bm_put_be64(be, height);
    rc = rtxn_begin(kv, &txn);
    if (rc == 0) {
        rc = mdb_get(txn, kv->heights, &k, &v);
    }
    if (rc == MDB_NOTFOUND) {
        err = bm_errf(em, BM_ESTATE, "execute_txs: height %llu was executed "
                      "but its record is gone (records are kept for the "
                      "last %llu heights)", (unsigned long long)height,
                      (unsigned long long)kv->keep_heights);
    } else if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "execute_txs: %s",
                      mdb_strerror(rc));
    } else if (v.mv_size != HEIGHT_REC_SIZE) {
        err = bm_errf(em, BM_ECORRUPT, "execute_txs: heights[%llu] is %zu "
                      "bytes", (unsigned long long)height, v.mv_size);
    } else if (memcmp((const uint8_t *)v.mv_data + BM_HASH_SIZE, digest->b,
                      BM_HASH_SIZE) != 0) {
        err = bm_errf(em, BM_ESTATE, "execute_txs: height %llu was already "
                      "executed with different txs, time or prev root",
                      (unsigned long long)height);
    } else {
        memcpy(root->b, v.mv_data, BM_HASH_SIZE);
    }
    rtxn_end(kv, txn);
    return err;
}

/* Height of a key of the heights (8 bytes) or undo (12 bytes) database. */
static bool key_height(const MDB_val *k, size_t want, uint64_t *h)
{
    if (k->mv_size != want) {
        return false;
    }
    *h = bm_get_be64(k->mv_data);
    return true;
}

/* Deletes the entries of dbi (key size ksize) whose height is <= upto. */
static enum bm_err prune_db(MDB_txn *txn, MDB_dbi dbi, size_t ksize,
                            uint64_t upto, const char *what,
                            struct bm_errmsg *em)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    enum bm_err err = BM_OK;
    int rc = mdb_cursor_open(txn, dbi, &cur);

    if (rc != 0) {
        return put_err(em, rc, "prune: cannot open cursor");
    }
    for (;;) {
        uint64_t h;

        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            break;
        }
        if (rc != 0) {
            err = put_err(em, rc, "prune: cannot read");
            break;
        }
        if (!key_height(&k, ksize, &h)) {
            err = bm_errf(em, BM_ECORRUPT, "kv: %s key is %zu bytes, want "
                          "%zu", what, k.mv_size, ksize);
            break;
        }
        if (h > upto) {
            break;
        }
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            err = put_err(em, rc, "prune: cannot delete");
            break;
        }
    }
    mdb_cursor_close(cur);
    return err;
}

/* Keeps the records (heights and undo) of the last keep_heights heights
 * up to and including `height`. */
static enum bm_err prune(struct bm_kv *kv, MDB_txn *txn, uint64_t height,
                         struct bm_errmsg *em)
{
    enum bm_err err;

    if (height <= kv->keep_heights) {
        return BM_OK;
    }
    err = prune_db(txn, kv->heights, 8, height - kv->keep_heights,
                   "heights", em);
    if (err == BM_OK) {
        err = prune_db(txn, kv->undo, BM_KV_UNDO_KEY,
                       height - kv->keep_heights, "undo", em);
    }
    return err;
}

static enum bm_err put_undo_chunk(struct bm_kv *kv, MDB_txn *txn,
                                  uint64_t height, uint32_t chunk,
                                  struct bm__kv_undo *u, struct bm_errmsg *em)
{
    uint8_t key[BM_KV_UNDO_KEY];
    MDB_val k = {sizeof(key), key};
    MDB_val v;
    const uint8_t *p;
    size_t len;
    int rc;

    bm__kv_undo_key(key, height, chunk);
    bm__kv_undo_bytes(u, &p, &len);
    v.mv_data = (void *)p;
    v.mv_size = len;
    rc = mdb_put(txn, kv->undo, &k, &v, MDB_APPEND);
    bm__kv_undo_reset(u);
    return rc == 0 ? BM_OK : put_err(em, rc, "cannot write the undo log");
}

/* Heap scratch of a state-root update: the accumulator copy being
 * changed and one leaf vector (2 KiB each: not on a detached actor's
 * stack). */
struct scratch {
    uint16_t *acc; /* LANES lanes */
    uint8_t *vec;  /* VEC_BYTES */
    size_t *adds;  /* indexes of the txs whose new pair is added */
    size_t n_adds;
};

static enum bm_err scratch_new(struct scratch *sc)
{
    sc->acc = bm_malloc(LANES * sizeof(uint16_t));
    sc->vec = bm_malloc(VEC_BYTES);
    if (sc->acc == NULL || sc->vec == NULL) {
        bm_free(sc->acc);
        bm_free(sc->vec);
        sc->acc = NULL;
        sc->vec = NULL;
        return BM_ENOMEM;
    }
    return BM_OK;
}

static void scratch_free(struct scratch *sc)
{
    bm_free(sc->acc);
    bm_free(sc->vec);
    bm_free(sc->adds);
}

/* Leaves added by one execute_txs at which a second thread takes half of
 * them: below it, starting the thread costs more than it saves. */
#define PAR_LEAVES 512u

/* Adds the leaf vectors of txs[idx[0..n)] (well-formed KV txs, borrowed)
 * to acc, with AES context aes. False if OpenSSL fails. */
static bool add_leaves(EVP_CIPHER_CTX *aes, const struct bm_buf *txs,
                       const size_t *idx, size_t n, uint16_t *acc,
                       uint8_t *vec)
{
    for (size_t j = 0; j < n; j++) {
        const struct bm_buf *t = &txs[idx[j]];
        size_t klen = 0;

        if (bm_kv_check_tx(t->ptr, t->len, &klen, NULL) != BM_OK ||
            !leaf_vector(aes, t->ptr, klen, t->ptr + klen + 1,
                         t->len - klen - 1, vec)) {
            return false;
        }
        acc_add(acc, vec);
    }
    return true;
}

/* The second half of a block's leaves, on a helper thread with its own
 * AES context and accumulator. */
struct leaf_half {
    const struct bm_buf *txs;
    const size_t *idx;
    size_t n;
    uint16_t *acc; /* LANES lanes, zeroed */
    uint8_t *vec;
    bool ok;
};

static void *leaf_half_main(void *arg)
{
    struct leaf_half *h = arg;
    EVP_CIPHER_CTX *aes = EVP_CIPHER_CTX_new();

    h->ok = aes != NULL &&
            EVP_EncryptInit_ex(aes, EVP_aes_256_ctr(), NULL, NULL, NULL) ==
                1 &&
            add_leaves(aes, h->txs, h->idx, h->n, h->acc, h->vec);
    EVP_CIPHER_CTX_free(aes);
    return NULL;
}

/*
 * The state-root additions of one execute_txs: the leaf vectors of
 * sc->adds, summed into sc->acc (a sum: the order does not matter). The
 * leaf expansion (BLAKE2b, 2 KiB of AES-CTR) is most of a KV block's CPU,
 * so from PAR_LEAVES leaves on a second thread takes half of them (the
 * block path is sequential: the other core is otherwise idle); if it
 * cannot start, all of them here. False if OpenSSL fails.
 */
static bool sum_leaves(struct bm_kv *kv, const struct bm_buf *txs,
                       struct scratch *sc)
{
    struct leaf_half h = {0};
    pthread_t th;
    bool started = false;
    size_t mine = sc->n_adds;
    bool ok;

    if (sc->n_adds >= PAR_LEAVES) {
        h.txs = txs;
        h.idx = sc->adds + sc->n_adds / 2;
        h.n = sc->n_adds - sc->n_adds / 2;
        h.acc = bm_calloc(LANES, sizeof(uint16_t));
        h.vec = bm_malloc(VEC_BYTES);
        started = h.acc != NULL && h.vec != NULL &&
                  pthread_create(&th, NULL, leaf_half_main, &h) == 0;
        if (started) {
            mine = sc->n_adds / 2;
        }
    }
    ok = add_leaves(kv->aes, txs, sc->adds, mine, sc->acc, sc->vec);
    if (started) {
        pthread_join(th, NULL);
        ok = ok && h.ok;
        for (size_t i = 0; i < LANES; i++) {
            sc->acc[i] = (uint16_t)(sc->acc[i] + h.acc[i]);
        }
    }
    bm_free(h.acc);
    bm_free(h.vec);
    return ok;
}

/* One execute_txs transaction (runs again after a map growth). */
struct exec_args {
    struct bm_kv *kv;
    const struct bm_buf *txs;
    size_t n_txs;
    uint64_t height;
    struct bm_hash digest;
    struct scratch sc;
    struct bm__kv_undo undo;
    /* out */
    uint64_t n_pairs;
    struct bm_hash root;
    size_t skipped;
};

static enum bm_err exec_fn(MDB_txn *txn, void *arg, struct bm_errmsg *em)
{
    struct exec_args *a = arg;
    struct bm_kv *kv = a->kv;
    uint32_t chunk = 0;
    enum bm_err err = BM_OK;
    int rc;

    memcpy(a->sc.acc, kv->acc, sizeof(kv->acc));
    a->n_pairs = kv->n_pairs;
    a->skipped = 0;
    a->sc.n_adds = 0;
    bm__kv_undo_reset(&a->undo);
    for (size_t i = 0; i < a->n_txs; i++) {
        const uint8_t *p = a->txs[i].ptr;
        size_t klen;
        MDB_val k;
        MDB_val v;
        MDB_val old;

        if (bm_kv_check_tx(p, a->txs[i].len, &klen, NULL) != BM_OK) {
            a->skipped++; /* malformed: no effect, same on every node */
            continue;
        }
        k.mv_data = (void *)p;
        k.mv_size = klen;
        v.mv_data = (void *)(p + klen + 1);
        v.mv_size = a->txs[i].len - klen - 1;
        /* One B-tree descent for a new key: NOOVERWRITE inserts, or
         * returns the existing value in `old`. */
        old = v;
        rc = mdb_put(txn, kv->pairs, &k, &old, MDB_NOOVERWRITE);
        if (rc == 0) {
            a->n_pairs++;
            err = bm__kv_undo_add(&a->undo, p, klen, false, NULL, 0);
        } else if (rc == MDB_KEYEXIST) {
            if (old.mv_size == v.mv_size &&
                (v.mv_size == 0 ||
                 memcmp(old.mv_data, v.mv_data, v.mv_size) == 0)) {
                continue;
            }
            if (old.mv_size > BM_KV_MAX_VALUE) {
                return bm_errf(em, BM_ECORRUPT, "kv: stored value of "
                               "txs[%zu]'s key is %zu bytes", i,
                               old.mv_size);
            }
            if (!leaf_vector(kv->aes, p, klen, old.mv_data, old.mv_size,
                             a->sc.vec)) {
                return bm_errf(em, BM_ECRYPTO, "execute_txs: leaf "
                               "expansion failed");
            }
            acc_sub(a->sc.acc, a->sc.vec);
            /* Copy the old value out before the put replaces it. */
            err = bm__kv_undo_add(&a->undo, p, klen, true, old.mv_data,
                                  old.mv_size);
            if (err == BM_OK) {
                rc = mdb_put(txn, kv->pairs, &k, &v, 0);
            }
        } else {
            return put_err(em, rc, "execute_txs: cannot write a pair");
        }
        if (err != BM_OK) {
            return bm_errf(em, err, "execute_txs: undo log: %s",
                           bm_err_name(err));
        }
        if (rc != 0) {
            return put_err(em, rc, "execute_txs: cannot write a pair");
        }
        /* The new pair's leaf: added after the loop (sum_leaves). */
        a->sc.adds[a->sc.n_adds++] = i;
        if (bm__kv_undo_full(&a->undo)) {
            err = put_undo_chunk(kv, txn, a->height, chunk++, &a->undo, em);
            if (err != BM_OK) {
                return err;
            }
        }
    }
    /* The last (or only, possibly empty) chunk: chunk 0 always exists. */
    err = put_undo_chunk(kv, txn, a->height, chunk, &a->undo, em);
    if (err != BM_OK) {
        return err;
    }
    if (!sum_leaves(kv, a->txs, &a->sc)) {
        return bm_errf(em, BM_ECRYPTO, "execute_txs: leaf expansion failed");
    }
    if (a->n_pairs == kv->n_pairs &&
        memcmp(a->sc.acc, kv->acc, sizeof(kv->acc)) == 0) {
        /* Nothing changed (an empty block, or only rewrites of equal
         * values): the root is a function of (acc, n_pairs), and kv->root
         * is that of the unchanged pair. */
        a->root = kv->root;
    } else {
        compute_root(a->sc.acc, a->n_pairs, &a->root);
    }
    err = write_state(kv, txn, a->height, a->n_pairs, a->sc.acc, em);
    if (err == BM_OK) {
        uint8_t be[8];
        uint8_t rec[HEIGHT_REC_SIZE];
        MDB_val k = {8, be};
        MDB_val v = {sizeof(rec), rec};

        bm_put_be64(be, a->height);
        memcpy(rec, a->root.b, BM_HASH_SIZE);
        memcpy(rec + BM_HASH_SIZE, a->digest.b, BM_HASH_SIZE);
        rc = mdb_put(txn, kv->heights, &k, &v, MDB_APPEND);
        if (rc != 0) {
            err = put_err(em, rc, "execute_txs: cannot write the height "
                          "record");
        }
    }
    if (err == BM_OK && !kv->grouped) {
        /* (in a group: once, at commit_group) */
        err = prune(kv, txn, a->height, em);
    }
    return err;
}

static enum bm_err kv_execute_txs(void *ctx, const struct bm_buf *txs,
                                  size_t n_txs, uint64_t height,
                                  uint64_t time_ns, const uint8_t *prev_root,
                                  size_t prev_root_len,
                                  struct bm_exec_result *out,
                                  struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    struct exec_args a = {0};
    struct bm_hash root;
    enum bm_err err = BM_OK;

    bm_exec_result_release(out);
    input_digest(txs, n_txs, height, time_ns, prev_root, prev_root_len,
                 &a.digest);
    a.kv = kv;
    a.txs = txs;
    a.n_txs = n_txs;
    a.height = height;
    if (scratch_new(&a.sc) != BM_OK) {
        return BM_ENOMEM;
    }
    if (n_txs > 0) {
        a.sc.adds = bm_calloc(n_txs, sizeof(*a.sc.adds));
        if (a.sc.adds == NULL) {
            scratch_free(&a.sc);
            return BM_ENOMEM;
        }
    }
    pthread_mutex_lock(&kv->state_mu);
    if (!kv->initialised) {
        err = bm_errf(em, BM_ESTATE, "execute_txs: init_chain has not run");
        goto out;
    }
    if (height < kv->initial_height) {
        err = bm_errf(em, BM_EHEIGHT_MISMATCH, "execute_txs: height %llu is "
                      "below initial_height %llu", (unsigned long long)height,
                      (unsigned long long)kv->initial_height);
        goto out;
    }
    if (height <= kv->height) {
        err = replay_height(kv, height, &a.digest, &root, em);
        goto out;
    }
    if (height != kv->height + 1) {
        err = bm_errf(em, BM_EHEIGHT_MISMATCH, "execute_txs: height %llu is "
                      "not the next height %llu", (unsigned long long)height,
                      (unsigned long long)(kv->height + 1));
        goto out;
    }
    root = kv->root;
    if (prev_root_len != BM_HASH_SIZE ||
        memcmp(prev_root, root.b, BM_HASH_SIZE) != 0) {
        err = bm_errf(em, BM_EAPP_HASH_MISMATCH, "execute_txs: prev_root "
                      "(%zu bytes) differs from the state root at height "
                      "%llu", prev_root_len, (unsigned long long)kv->height);
        goto out;
    }
    err = bm__lmdb_map_write(&kv->map, exec_fn, &a, em);
    if (err != BM_OK) {
        goto out;
    }
    memcpy(kv->acc, a.sc.acc, sizeof(kv->acc));
    kv->n_pairs = a.n_pairs;
    kv->height = height;
    kv->root = a.root;
    root = a.root;
    if (a.skipped > 0) {
        bm_log_info("kv", "skipped malformed txs height=%llu count=%zu",
                    (unsigned long long)height, a.skipped);
    }
out:
    pthread_mutex_unlock(&kv->state_mu);
    if (err == BM_OK && n_txs > 0) {
        pool_remove(kv, txs, n_txs);
    }
    bm__kv_undo_release(&a.undo);
    scratch_free(&a.sc);
    if (err == BM_OK) {
        err = bm_buf_set(&out->state_root, root.b, sizeof(root.b));
    }
    return err;
}

struct final_args {
    struct bm_kv *kv;
    uint64_t height;
};

static enum bm_err final_fn(MDB_txn *txn, void *arg, struct bm_errmsg *em)
{
    struct final_args *a = arg;

    return write_final(a->kv, txn, a->height, em);
}

/* Flushes every commit so far to disk. Caller holds state_mu. */
static enum bm_err sync_env(struct bm_kv *kv, const char *what,
                            struct bm_errmsg *em)
{
    int rc;

    if (kv->no_sync) {
        return BM_OK;
    }
    rc = mdb_env_sync(kv->env, 1);
    if (rc != 0) {
        return bm_errf(em, bm_lmdb_err(rc), "%s: cannot sync the kv "
                       "store '%s': %s%s", what, bm__env_path(kv->env),
                       mdb_strerror(rc), bm__env_io_hint(rc));
    }
    return BM_OK;
}

static enum bm_err kv_set_final(void *ctx, uint64_t height,
                                struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    struct final_args a = {kv, height};
    enum bm_err err = BM_OK;

    pthread_mutex_lock(&kv->state_mu);
    if (!kv->initialised) {
        err = bm_errf(em, BM_ESTATE, "set_final: init_chain has not run");
        goto out;
    }
    if (height > kv->height) {
        err = bm_errf(em, BM_EHEIGHT_MISMATCH, "set_final: height %llu is "
                      "above the executed height %llu",
                      (unsigned long long)height,
                      (unsigned long long)kv->height);
        goto out;
    }
    if (height <= kv->final_height) {
        goto out; /* idempotent */
    }
    err = bm__lmdb_map_write(&kv->map, final_fn, &a, em);
    if (err == BM_OK && kv->grouped) {
        err = sync_env(kv, "set_final", em); /* durable, group or not */
    }
    if (err != BM_OK) {
        goto out;
    }
    kv->final_height = height;
out:
    pthread_mutex_unlock(&kv->state_mu);
    return err;
}

/* ---- rollback ---- */

/* Undoes one entry: the key goes back to its value before the write (or
 * away). a->sc.acc / a->n_pairs follow. */
struct rb_args {
    struct bm_kv *kv;
    uint64_t target;
    struct scratch sc;
    struct bm_buf chunk; /* copy of the chunk being undone */
    /* out */
    uint64_t n_pairs;
    uint64_t undone;     /* heights undone */
};

static enum bm_err undo_entry(struct rb_args *a, MDB_txn *txn, uint64_t h,
                              const struct bm__kv_undo_ent *e,
                              struct bm_errmsg *em)
{
    struct bm_kv *kv = a->kv;
    MDB_val k = {e->klen, (void *)e->key};
    MDB_val cur;
    int rc = mdb_get(txn, kv->pairs, &k, &cur);

    if (rc == MDB_NOTFOUND) {
        return bm_errf(em, BM_ECORRUPT, "rollback: height %llu wrote a key "
                       "that is not in the state", (unsigned long long)h);
    }
    if (rc != 0) {
        return put_err(em, rc, "rollback: cannot read a pair");
    }
    if (cur.mv_size > BM_KV_MAX_VALUE) {
        return bm_errf(em, BM_ECORRUPT, "rollback: stored value is %zu "
                       "bytes", cur.mv_size);
    }
    if (!leaf_vector(kv->aes, e->key, e->klen, cur.mv_data, cur.mv_size,
                     a->sc.vec)) {
        return bm_errf(em, BM_ECRYPTO, "rollback: leaf expansion failed");
    }
    acc_sub(a->sc.acc, a->sc.vec);
    if (e->had_old) {
        MDB_val v = {e->vlen, (void *)e->old};

        if (!leaf_vector(kv->aes, e->key, e->klen, e->old, e->vlen,
                         a->sc.vec)) {
            return bm_errf(em, BM_ECRYPTO, "rollback: leaf expansion "
                           "failed");
        }
        acc_add(a->sc.acc, a->sc.vec);
        rc = mdb_put(txn, kv->pairs, &k, &v, 0);
    } else {
        if (a->n_pairs == 0) {
            return bm_errf(em, BM_ECORRUPT, "rollback: pair count below "
                           "zero at height %llu", (unsigned long long)h);
        }
        a->n_pairs--;
        rc = mdb_del(txn, kv->pairs, &k, NULL);
    }
    return rc == 0 ? BM_OK : put_err(em, rc, "rollback: cannot write a pair");
}

/* Undoes height h: its chunks last to first, each chunk's entries last to
 * first; deletes its undo and height records. */
static enum bm_err undo_height(struct rb_args *a, MDB_txn *txn, uint64_t h,
                               struct bm_errmsg *em)
{
    struct bm_kv *kv = a->kv;
    uint8_t key[BM_KV_UNDO_KEY];
    uint8_t hk[8];
    MDB_val k = {sizeof(key), key};
    MDB_val hv = {8, hk};
    MDB_val v;
    uint32_t n_chunks = 0;
    enum bm_err err = BM_OK;
    int rc;

    /* Count the chunks: (h, 0), (h, 1), ... are consecutive keys. */
    for (;;) {
        bm__kv_undo_key(key, h, n_chunks);
        rc = mdb_get(txn, kv->undo, &k, &v);
        if (rc == MDB_NOTFOUND) {
            break;
        }
        if (rc != 0) {
            return put_err(em, rc, "rollback: cannot read the undo log");
        }
        if (n_chunks == UINT32_MAX) {
            return bm_errf(em, BM_ECORRUPT, "rollback: too many undo "
                           "chunks at height %llu", (unsigned long long)h);
        }
        n_chunks++;
    }
    if (n_chunks == 0) {
        return bm_errf(em, BM_ENOTFOUND, "rollback: height %llu has no undo "
                       "record (kept for the last %llu heights)",
                       (unsigned long long)h,
                       (unsigned long long)kv->keep_heights);
    }
    for (uint32_t c = n_chunks; c-- > 0 && err == BM_OK;) {
        struct bm__kv_undo_ent *ents = NULL;
        size_t n = 0;

        bm__kv_undo_key(key, h, c);
        rc = mdb_get(txn, kv->undo, &k, &v);
        if (rc != 0) {
            return put_err(em, rc, "rollback: cannot read the undo log");
        }
        /* Copy: the pair writes below must not touch the bytes the
         * entries point into. */
        err = bm_buf_set(&a->chunk, v.mv_data, v.mv_size);
        if (err == BM_OK) {
            err = bm__kv_undo_parse(a->chunk.ptr, a->chunk.len, &ents, &n,
                                    em);
        }
        for (size_t i = n; i-- > 0 && err == BM_OK;) {
            err = undo_entry(a, txn, h, &ents[i], em);
        }
        bm_free(ents);
        if (err == BM_OK) {
            rc = mdb_del(txn, kv->undo, &k, NULL);
            if (rc != 0) {
                err = put_err(em, rc, "rollback: cannot delete the undo log");
            }
        }
    }
    if (err != BM_OK) {
        return err;
    }
    bm_put_be64(hk, h);
    rc = mdb_del(txn, kv->heights, &hv, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return put_err(em, rc, "rollback: cannot delete a height record");
    }
    return BM_OK;
}

/* The root recorded for height h (the empty root below the initial
 * height): BM_OK, BM_ENOTFOUND (pruned) or an error. */
static enum bm_err recorded_root(struct bm_kv *kv, MDB_txn *txn, uint64_t h,
                                 struct bm_hash *out, struct bm_errmsg *em)
{
    uint8_t be[8];
    MDB_val k = {8, be};
    MDB_val v;
    int rc;

    if (h < kv->initial_height) {
        bm_kv_empty_root(out);
        return BM_OK;
    }
    bm_put_be64(be, h);
    rc = mdb_get(txn, kv->heights, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return BM_ENOTFOUND;
    }
    if (rc != 0) {
        return put_err(em, rc, "cannot read a height record");
    }
    if (v.mv_size != HEIGHT_REC_SIZE) {
        return bm_errf(em, BM_ECORRUPT, "kv: heights[%llu] is %zu bytes",
                       (unsigned long long)h, v.mv_size);
    }
    memcpy(out->b, v.mv_data, BM_HASH_SIZE);
    return BM_OK;
}

static enum bm_err rollback_fn(MDB_txn *txn, void *arg, struct bm_errmsg *em)
{
    struct rb_args *a = arg;
    struct bm_kv *kv = a->kv;
    struct bm_hash want, got;
    enum bm_err err = BM_OK;

    memcpy(a->sc.acc, kv->acc, sizeof(kv->acc));
    a->n_pairs = kv->n_pairs;
    a->undone = 0;
    for (uint64_t h = kv->height; h > a->target && err == BM_OK; h--) {
        err = undo_height(a, txn, h, em);
        a->undone++;
    }
    if (err != BM_OK) {
        return err;
    }
    /* The result must be the state the target height recorded. */
    compute_root(a->sc.acc, a->n_pairs, &got);
    err = recorded_root(kv, txn, a->target, &want, em);
    if (err == BM_OK && memcmp(want.b, got.b, BM_HASH_SIZE) != 0) {
        return bm_errf(em, BM_ECORRUPT, "rollback: the state root after "
                       "undoing to height %llu differs from the one recorded "
                       "for it", (unsigned long long)a->target);
    }
    if (err != BM_OK && err != BM_ENOTFOUND) {
        return err;
    }
    err = write_state(kv, txn, a->target, a->n_pairs, a->sc.acc, em);
    if (err == BM_OK && kv->final_height > a->target) {
        err = write_final(kv, txn, a->target, em);
    }
    return err;
}

enum bm_err bm_kv_rollback(struct bm_kv *kv, uint64_t height,
                           struct bm_errmsg *em)
{
    struct rb_args a = {0};
    enum bm_err err = BM_OK;

    a.kv = kv;
    a.target = height;
    if (scratch_new(&a.sc) != BM_OK) {
        return BM_ENOMEM;
    }
    pthread_mutex_lock(&kv->state_mu);
    if (!kv->initialised) {
        err = bm_errf(em, BM_ESTATE, "rollback: init_chain has not run");
        goto out;
    }
    if (height > kv->height) {
        err = bm_errf(em, BM_EHEIGHT_MISMATCH, "rollback: height %llu is "
                      "above the executed height %llu",
                      (unsigned long long)height,
                      (unsigned long long)kv->height);
        goto out;
    }
    if (height + 1 < kv->initial_height) {
        err = bm_errf(em, BM_EHEIGHT_MISMATCH, "rollback: height %llu is "
                      "below the genesis height %llu",
                      (unsigned long long)height,
                      (unsigned long long)(kv->initial_height - 1));
        goto out;
    }
    if (height == kv->height) {
        goto out;
    }
    err = bm__lmdb_map_write(&kv->map, rollback_fn, &a, em);
    if (err != BM_OK) {
        goto out;
    }
    bm_log_info("kv", "rolled back from=%llu to=%llu heights=%llu",
                (unsigned long long)kv->height, (unsigned long long)height,
                (unsigned long long)a.undone);
    memcpy(kv->acc, a.sc.acc, sizeof(kv->acc));
    kv->n_pairs = a.n_pairs;
    compute_root(kv->acc, kv->n_pairs, &kv->root);
    kv->height = height;
    if (kv->final_height > height) {
        kv->final_height = height;
    }
out:
    pthread_mutex_unlock(&kv->state_mu);
    bm_buf_release(&a.chunk);
    scratch_free(&a.sc);
    return err;
}

static enum bm_err reset_fn(MDB_txn *txn, void *arg, struct bm_errmsg *em)
{
    static const uint16_t zero[LANES];
    struct bm_kv *kv = arg;
    MDB_val k = {5, (void *)"final"};
    int rc = mdb_drop(txn, kv->pairs, 0);

    if (rc == 0) {
        rc = mdb_drop(txn, kv->heights, 0);
    }
    if (rc == 0) {
        rc = mdb_drop(txn, kv->undo, 0);
    }
    if (rc == 0) {
        rc = mdb_del(txn, kv->meta, &k, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc != 0) {
        return put_err(em, rc, "reset");
    }
    return write_state(kv, txn, kv->initial_height - 1, 0, zero, em);
}

enum bm_err bm_kv_reset(struct bm_kv *kv, struct bm_errmsg *em)
{
    enum bm_err err = BM_OK;
    uint64_t from;

    pthread_mutex_lock(&kv->state_mu);
    if (!kv->initialised) {
        err = bm_errf(em, BM_ESTATE, "reset: init_chain has not run");
        goto out;
    }
    from = kv->height;
    err = bm__lmdb_map_write(&kv->map, reset_fn, kv, em);
    if (err != BM_OK) {
        goto out;
    }
    memset(kv->acc, 0, sizeof(kv->acc));
    kv->n_pairs = 0;
    bm_kv_empty_root(&kv->root);
    kv->height = kv->initial_height - 1;
    kv->final_height = 0;
    bm_log_info("kv", "reset to genesis from=%llu",
                (unsigned long long)from);
out:
    pthread_mutex_unlock(&kv->state_mu);
    return err;
}

enum bm_err bm_kv_rollback_floor(struct bm_kv *kv, uint64_t *out,
                                 struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t h = 0;
    enum bm_err err = BM_OK;
    int rc;

    pthread_mutex_lock(&kv->state_mu);
    *out = kv->height;
    rc = rtxn_begin(kv, &txn);
    if (rc == 0) {
        rc = mdb_cursor_open(txn, kv->undo, &cur);
    }
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    if (rc == 0) {
        if (!key_height(&k, BM_KV_UNDO_KEY, &h) || h == 0) {
            err = bm_errf(em, BM_ECORRUPT, "kv: undo key is %zu bytes",
                          k.mv_size);
        } else if (h <= kv->height) {
            /* Every height from h up to the tip has its record. */
            *out = h - 1;
        }
    } else if (rc != MDB_NOTFOUND) {
        err = bm_errf(em, bm_lmdb_err(rc), "kv: %s", mdb_strerror(rc));
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    rtxn_end(kv, txn);
    pthread_mutex_unlock(&kv->state_mu);
    return err;
}

static enum bm_err kv_get_latest_height(void *ctx, uint64_t *height,
                                        struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    enum bm_err err = BM_OK;

    pthread_mutex_lock(&kv->state_mu);
    if (!kv->initialised) {
        err = bm_errf(em, BM_ESTATE, "get_latest_height: init_chain has not "
                      "run");
    } else {
        *height = kv->height;
    }
    pthread_mutex_unlock(&kv->state_mu);
    return err;
}

static enum bm_err kv_rollback(void *ctx, uint64_t height,
                               struct bm_errmsg *em)
{
    return bm_kv_rollback(ctx, height, em);
}

static enum bm_err kv_get_execution_info(void *ctx, struct bm_exec_info *out,
                                         struct bm_errmsg *em)
{
    (void)ctx;
    (void)em;
    out->max_gas = 0;
    return BM_OK;
}

static enum bm_err kv_filter_txs(void *ctx, const struct bm_buf *txs,
                                 size_t n_txs, uint64_t max_bytes,
                                 uint64_t max_gas, bool has_force_included,
                                 enum bm_filter_status *status,
                                 struct bm_errmsg *em)
{
    uint64_t used = 0;
    bool full = false;

    (void)ctx;
    (void)max_gas;
    (void)em;
    for (size_t i = 0; i < n_txs; i++) {
        if (bm_kv_check_tx(txs[i].ptr, txs[i].len, NULL, NULL) != BM_OK) {
            status[i] = BM_FILTER_REMOVE;
            continue;
        }
        if (!has_force_included && max_bytes != 0 &&
            (full || used + txs[i].len > max_bytes)) {
            /* Keep FIFO order: once one tx does not fit, later ones wait
             * too. */
            full = true;
            status[i] = BM_FILTER_POSTPONE;
            continue;
        }
        used += txs[i].len;
        status[i] = BM_FILTER_OK;
    }
    return BM_OK;
}

/* Group commit (executor.h): commits stop syncing until commit_group,
 * which flushes them all with one fdatasync. Each execute_txs stays one
 * LMDB transaction (whole or absent), and LMDB's commits reach the file
 * in order, so a crash keeps a prefix of the group's heights. */
static enum bm_err kv_begin_group(void *ctx, struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    enum bm_err err = BM_OK;
    int rc;

    pthread_mutex_lock(&kv->state_mu);
    if (!kv->grouped && !kv->no_sync) {
        rc = mdb_env_set_flags(kv->env, MDB_NOSYNC, 1);
        if (rc != 0) {
            err = bm_errf(em, bm_lmdb_err(rc), "begin_group: %s",
                          mdb_strerror(rc));
        }
    }
    if (err == BM_OK) {
        kv->grouped = true;
    }
    pthread_mutex_unlock(&kv->state_mu);
    return err;
}

static enum bm_err prune_fn(MDB_txn *txn, void *arg, struct bm_errmsg *em)
{
    struct bm_kv *kv = arg;

    return prune(kv, txn, kv->height, em);
}

static enum bm_err kv_commit_group(void *ctx, struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    enum bm_err err = BM_OK;
    int rc;

    pthread_mutex_lock(&kv->state_mu);
    if (kv->grouped) {
        /* The records the group's heights did not prune, in one
         * transaction (a crash before it only keeps them longer: the
         * next prune deletes everything at and below its bound). */
        if (kv->initialised && kv->height > kv->keep_heights) {
            err = bm__lmdb_map_write(&kv->map, prune_fn, kv, em);
        }
        if (err == BM_OK) {
            err = sync_env(kv, "commit_group", em);
        }
        if (!kv->no_sync) {
            rc = mdb_env_set_flags(kv->env, MDB_NOSYNC, 0);
            if (rc != 0 && err == BM_OK) {
                err = bm_errf(em, bm_lmdb_err(rc), "commit_group: %s",
                              mdb_strerror(rc));
            }
        }
        kv->grouped = false;
    }
    pthread_mutex_unlock(&kv->state_mu);
    return err;
}

static const struct bm_executor_ops kv_ops = {
    .init_chain = kv_init_chain,
    .get_txs = kv_get_txs,
    .execute_txs = kv_execute_txs,
    .set_final = kv_set_final,
    .get_execution_info = kv_get_execution_info,
    .filter_txs = kv_filter_txs,
    .get_latest_height = kv_get_latest_height,
    .rollback = kv_rollback,
    .begin_group = kv_begin_group,
    .commit_group = kv_commit_group,
};

void bm_kv_executor(struct bm_kv *kv, struct bm_executor *out)
{
    out->ops = &kv_ops;
    out->ctx = kv;
}

/* ---- queries ---- */

enum bm_err bm_kv_get(struct bm_kv *kv, const uint8_t *key, size_t key_len,
                      struct bm_buf *value, uint64_t *height,
                      struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_val k = {key_len, (void *)key};
    MDB_val v;
    MDB_val sk = {5, (void *)"state"};
    MDB_val sv;
    enum bm_err err = BM_OK;
    int rc;

    bm_buf_release(value);
    if (key_len == 0 || key_len > BM_KV_MAX_KEY) {
        return bm_errf(em, BM_EINVAL, "key is %zu bytes, want 1..%u",
                       key_len, BM_KV_MAX_KEY);
    }
    rc = rtxn_begin(kv, &txn);
    if (rc != 0) {
        return bm_errf(em, bm_lmdb_err(rc), "kv get: %s", mdb_strerror(rc));
    }
    rc = mdb_get(txn, kv->pairs, &k, &v);
    if (rc == MDB_NOTFOUND) {
        err = bm_errf(em, BM_ENOTFOUND, "key not found");
        goto out;
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "kv get: %s", mdb_strerror(rc));
        goto out;
    }
    err = bm_buf_set(value, v.mv_data, v.mv_size);
    if (err) {
        goto out;
    }
    if (height != NULL) {
        rc = mdb_get(txn, kv->meta, &sk, &sv);
        *height = rc == 0 && sv.mv_size == STATE_REC_SIZE
                      ? bm_get_be64(sv.mv_data)
                      : 0;
    }
out:
    rtxn_end(kv, txn);
    return err;
}

void bm_kv_status(struct bm_kv *kv, struct bm_kv_status *out)
{
    pthread_mutex_lock(&kv->state_mu);
    out->initialised = kv->initialised;
    out->height = kv->height;
    out->final_height = kv->final_height;
    out->n_pairs = kv->n_pairs;
    out->root = kv->root;
    pthread_mutex_unlock(&kv->state_mu);
}
