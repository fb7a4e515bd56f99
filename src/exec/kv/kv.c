/* The in-process KV executor, see kv.h and docs/EXECUTION.md. */
#include "exec/kv/kv.h"

#include <pthread.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "util/lmdb_env.h"
#include "util/txset.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define LANES 1024u
#define VEC_BYTES (2u * LANES)
#define DEFAULT_POOL_TXS 100000u
#define DEFAULT_POOL_BYTES (64u << 20)
#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
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

static void compute_root(const uint16_t acc[LANES], uint64_t n_pairs,
                         struct bm_hash *out)
{
    crypto_hash_sha256_state st;
    uint8_t bytes[VEC_BYTES];
    uint8_t n_be[8];

    acc_bytes(acc, bytes);
    bm_put_be64(n_be, n_pairs);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)root_tag,
                              sizeof(root_tag) - 1);
    crypto_hash_sha256_update(&st, n_be, sizeof(n_be));
    crypto_hash_sha256_update(&st, bytes, sizeof(bytes));
    crypto_hash_sha256_final(&st, out->b);
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

static enum bm_err load_state(struct bm_kv *kv, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_val k;
    MDB_val v;
    enum bm_err err = BM_OK;
    int rc;

    rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn);
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
    mdb_txn_abort(txn);
    return err;
}

enum bm_err bm_kv_open(struct bm_kv **out, const char *dir,
                       const struct bm_kv_options *opts,
                       struct bm_errmsg *em)
{
    struct bm_kv *kv = NULL;
    MDB_txn *txn = NULL;
    size_t map_size = DEFAULT_MAP_SIZE;
    unsigned flags = 0;
    enum bm_err err;
    int rc;

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
    pthread_mutex_init(&kv->state_mu, NULL);
    pthread_mutex_init(&kv->pool_mu, NULL);
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
    err = bm__env_open(&kv->env, dir, 4, map_size, flags, em);
    if (err) {
        goto out;
    }
    rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "pairs", MDB_CREATE, &kv->pairs);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &kv->meta);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "heights", MDB_CREATE, &kv->heights);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "kv: cannot open databases in "
                      "'%s': %s", dir, mdb_strerror(rc));
        goto out;
    }
    err = load_state(kv, em);
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (err) {
        bm_kv_free(kv);
        return err;
    }
    *out = kv;
    return BM_OK;
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
                               const uint16_t acc[LANES])
{
    uint8_t rec[STATE_REC_SIZE];
    MDB_val k = {5, (void *)"state"};
    MDB_val v = {sizeof(rec), rec};

    bm_put_be64(rec, height);
    bm_put_be64(rec + 8, n_pairs);
    acc_bytes(acc, rec + 16);
    return bm_lmdb_err(mdb_put(txn, kv->meta, &k, &v, 0));
}

static enum bm_err kv_init_chain(void *ctx, uint64_t genesis_time_ns,
                                 uint64_t initial_height, const char *chain_id,
                                 struct bm_buf *state_root,
                                 struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    struct bm_hash root;
    MDB_txn *txn = NULL;
    uint8_t *rec = NULL;
    size_t idlen = strlen(chain_id);
    enum bm_err err = BM_OK;
    int rc;

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
    rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val k = {7, (void *)"genesis"};
        MDB_val v = {GENESIS_FIXED + idlen, rec};

        rc = mdb_put(txn, kv->meta, &k, &v, 0);
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "init_chain: %s",
                      mdb_strerror(rc));
        goto out;
    }
    memset(kv->acc, 0, sizeof(kv->acc));
    err = write_state(kv, txn, initial_height - 1, 0, kv->acc);
    if (err) {
        bm_errf(em, err, "init_chain: cannot write state");
        goto out;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "init_chain: commit: %s",
                      mdb_strerror(rc));
        goto out;
    }
    kv->chain_id = bm_xstrdup(chain_id);
    kv->initial_height = initial_height;
    kv->genesis_time = genesis_time_ns;
    kv->height = initial_height - 1;
    kv->n_pairs = 0;
    kv->final_height = 0;
    kv->initialised = true;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
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
    rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_get(txn, kv->heights, &k, &v);
    }
    if (rc == MDB_NOTFOUND) {
        err = bm_errf(em, BM_ESTATE, "execute_txs: height %llu was executed "
                      "but its record is gone", (unsigned long long)height);
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
    if (txn != NULL) {
        mdb_txn_abort(txn);
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
    struct bm_hash digest;
    struct bm_hash root;
    uint16_t *acc = NULL;
    uint8_t *vec = NULL;
    uint64_t n_pairs;
    MDB_txn *txn = NULL;
    size_t skipped = 0;
    enum bm_err err = BM_OK;
    int rc;

    bm_exec_result_release(out);
    input_digest(txs, n_txs, height, time_ns, prev_root, prev_root_len,
                 &digest);
    acc = bm_malloc(sizeof(kv->acc));
    vec = bm_malloc(VEC_BYTES);
    if (acc == NULL || vec == NULL) {
        bm_free(acc);
        bm_free(vec);
        return BM_ENOMEM;
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
        err = replay_height(kv, height, &digest, &root, em);
        goto out;
    }
    if (height != kv->height + 1) {
        err = bm_errf(em, BM_EHEIGHT_MISMATCH, "execute_txs: height %llu is "
                      "not the next height %llu", (unsigned long long)height,
                      (unsigned long long)(kv->height + 1));
        goto out;
    }
    compute_root(kv->acc, kv->n_pairs, &root);
    if (prev_root_len != BM_HASH_SIZE ||
        memcmp(prev_root, root.b, BM_HASH_SIZE) != 0) {
        err = bm_errf(em, BM_EAPP_HASH_MISMATCH, "execute_txs: prev_root "
                      "(%zu bytes) differs from the state root at height "
                      "%llu", prev_root_len, (unsigned long long)kv->height);
        goto out;
    }
    memcpy(acc, kv->acc, sizeof(kv->acc));
    n_pairs = kv->n_pairs;
    rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "execute_txs: begin: %s",
                      mdb_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < n_txs; i++) {
        const uint8_t *p = txs[i].ptr;
        size_t klen;
        MDB_val k;
        MDB_val v;
        MDB_val old;

        if (bm_kv_check_tx(p, txs[i].len, &klen, NULL) != BM_OK) {
            skipped++; /* malformed: no effect, same on every node */
            continue;
        }
        k.mv_data = (void *)p;
        k.mv_size = klen;
        v.mv_data = (void *)(p + klen + 1);
        v.mv_size = txs[i].len - klen - 1;
        /* One B-tree descent for a new key: NOOVERWRITE inserts, or
         * returns the existing value in `old`. */
        old = v;
        rc = mdb_put(txn, kv->pairs, &k, &old, MDB_NOOVERWRITE);
        if (rc == 0) {
            n_pairs++;
        } else if (rc == MDB_KEYEXIST) {
            if (old.mv_size == v.mv_size &&
                (v.mv_size == 0 ||
                 memcmp(old.mv_data, v.mv_data, v.mv_size) == 0)) {
                continue;
            }
            if (!leaf_vector(kv->aes, p, klen, old.mv_data, old.mv_size,
                             vec)) {
                err = bm_errf(em, BM_ECRYPTO, "execute_txs: leaf expansion "
                              "failed");
                goto out;
            }
            acc_sub(acc, vec);
            rc = mdb_put(txn, kv->pairs, &k, &v, 0);
        }
        if (rc != 0) {
            err = bm_errf(em, bm_lmdb_err(rc), "execute_txs: txs[%zu]: %s", i,
                          mdb_strerror(rc));
            goto out;
        }
        if (!leaf_vector(kv->aes, p, klen, v.mv_data, v.mv_size, vec)) {
            err = bm_errf(em, BM_ECRYPTO, "execute_txs: leaf expansion "
                          "failed");
            goto out;
        }
        acc_add(acc, vec);
    }
    compute_root(acc, n_pairs, &root);
    err = write_state(kv, txn, height, n_pairs, acc);
    if (err == BM_OK) {
        uint8_t be[8];
        uint8_t rec[HEIGHT_REC_SIZE];
        MDB_val k = {8, be};
        MDB_val v = {sizeof(rec), rec};

        bm_put_be64(be, height);
        memcpy(rec, root.b, BM_HASH_SIZE);
        memcpy(rec + BM_HASH_SIZE, digest.b, BM_HASH_SIZE);
        err = bm_lmdb_err(mdb_put(txn, kv->heights, &k, &v, MDB_APPEND));
    }
    if (err) {
        bm_errf(em, err, "execute_txs: cannot write height %llu",
                (unsigned long long)height);
        goto out;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "execute_txs: commit: %s",
                      mdb_strerror(rc));
        goto out;
    }
    memcpy(kv->acc, acc, sizeof(kv->acc));
    kv->n_pairs = n_pairs;
    kv->height = height;
    if (skipped > 0) {
        bm_log_info("kv", "skipped malformed txs height=%llu count=%zu",
                    (unsigned long long)height, skipped);
    }
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&kv->state_mu);
    if (err == BM_OK && n_txs > 0) {
        pool_remove(kv, txs, n_txs);
    }
    bm_free(vec);
    bm_free(acc);
    if (err == BM_OK) {
        err = bm_buf_set(&out->state_root, root.b, sizeof(root.b));
    }
    return err;
}

static enum bm_err kv_set_final(void *ctx, uint64_t height,
                                struct bm_errmsg *em)
{
    struct bm_kv *kv = ctx;
    MDB_txn *txn = NULL;
    enum bm_err err = BM_OK;
    uint8_t be[8];
    int rc;

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
    bm_put_be64(be, height);
    rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val k = {5, (void *)"final"};
        MDB_val v = {8, be};

        rc = mdb_put(txn, kv->meta, &k, &v, 0);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "set_final: %s", mdb_strerror(rc));
        goto out;
    }
    kv->final_height = height;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&kv->state_mu);
    return err;
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

static const struct bm_executor_ops kv_ops = {
    .init_chain = kv_init_chain,
    .get_txs = kv_get_txs,
    .execute_txs = kv_execute_txs,
    .set_final = kv_set_final,
    .get_execution_info = kv_get_execution_info,
    .filter_txs = kv_filter_txs,
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
    rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn);
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
    mdb_txn_abort(txn);
    return err;
}

void bm_kv_status(struct bm_kv *kv, struct bm_kv_status *out)
{
    pthread_mutex_lock(&kv->state_mu);
    out->initialised = kv->initialised;
    out->height = kv->height;
    out->final_height = kv->final_height;
    out->n_pairs = kv->n_pairs;
    compute_root(kv->acc, kv->n_pairs, &out->root);
    pthread_mutex_unlock(&kv->state_mu);
}
