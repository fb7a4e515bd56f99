/*
 * LMDB store: environment, locking, map growth, reads and writes.
 * Verification (which needs the block codec) is in store_check.c.
 */
#include "blockv2/store.h"

#include "store/store_internal.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/lmdb_err.h"
#include "util/hex.h"
#include "util/lmdb_env.h"
#include "util/lmdb_map.h"
#include "util/log.h"

#include <lmdb.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Readers are spread over RSHARDS shards by thread (a thread always uses
 * the same shard), so that two reader threads do not bounce one lock's
 * cache line on every read. Each shard has its own remap lock (readers hold
 * it shared for the life of a read txn; the writer takes every shard's lock
 * exclusively, in order, to remap) and a small free list of reset read
 * txns (mdb_txn_renew is much cheaper than mdb_txn_begin: the reader slot
 * is kept).
 */
#define RSHARDS 8
#define RSHARD_POOL 2

struct rshard {
    pthread_rwlock_t lock;
    /* A slot is taken with an exchange and filled with a compare-exchange. */
    _Atomic(MDB_txn *) pool[RSHARD_POOL];
    char pad[64]; /* keeps two shards' fields off one cache line */
};

struct bm_store {
    MDB_env *env;
    MDB_dbi dbi;
    bool read_only;
    int lock_fd;
    char *dir;                 /* <home>/data */
    size_t max_map_size;
    struct bm__lmdb_map map;   /* growth (util/lmdb_map.h) */
    pthread_mutex_t write_mu;  /* serialises writers (see store.h) */
    /* Remap locks and pooled read txns (mdb_env_set_mapsize needs no
     * active txn in the process), see RSHARDS. */
    struct rshard shard[RSHARDS];
};

struct bm_store_iter {
    struct bm_store *s;
    uint64_t next;
    uint64_t to;
    bool done;
};

/* ---- errors ---- */

static int mdb_errf(struct bm_errmsg *em, int rc, const char *what,
                    const char *key)
{
    enum bm_err err = bm_lmdb_err(rc);

    if (key != NULL) {
        return bm_errf(em, err, "%s '%s': %s", what, key, mdb_strerror(rc));
    }
    return bm_errf(em, err, "%s: %s", what, mdb_strerror(rc));
}

/* ---- keys ---- */

size_t bm__store_key_height(char *buf, char kind, uint64_t height)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    char digits[20];
    size_t i = sizeof(digits), n;

    /* Hand-rolled, two digits per division: snprintf was ~10% of a block
     * read, and a digit-at-a-time loop still ~5%. */
    while (height >= 100) {
        unsigned r = (unsigned)(height % 100);

        height /= 100;
        digits[--i] = pairs[2 * r + 1];
        digits[--i] = pairs[2 * r];
    }
    if (height >= 10) {
        digits[--i] = pairs[2 * height + 1];
        digits[--i] = pairs[2 * height];
    } else {
        digits[--i] = (char)('0' + height);
    }
    n = sizeof(digits) - i;
    buf[0] = '/';
    buf[1] = '0';
    buf[2] = '/';
    buf[3] = kind;
    buf[4] = '/';
    memcpy(buf + 5, digits + i, n);
    buf[5 + n] = '\0';
    return 5 + n;
}

size_t bm__store_key_hash(char *buf, const struct bm_hash *h)
{
    memcpy(buf, "/0/i/", 5);
    bm_hex_encode_upper(buf + 5, h->b, BM_HASH_SIZE);
    return 5 + 2 * BM_HASH_SIZE;
}

static enum bm_err meta_key(char *buf, const char *name, size_t *len,
                            struct bm_errmsg *em)
{
    size_t n;

    *len = 0; /* defined on every path (keeps -O3 flow analysis quiet) */
    if (name == NULL || name[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "metadata name: empty");
    }
    n = strnlen(name, BM_STORE_MAX_META_NAME + 1);
    if (n > BM_STORE_MAX_META_NAME) {
        return bm_errf(em, BM_EINVAL, "metadata name: longer than %u bytes",
                       BM_STORE_MAX_META_NAME);
    }
    memcpy(buf, "/0/m/", 5);
    memcpy(buf + 5, name, n);
    buf[5 + n] = '\0';
    *len = 5 + n;
    return BM_OK;
}

static MDB_val kv(const char *k, size_t n)
{
    MDB_val v = {.mv_size = n, .mv_data = (void *)k};

    return v;
}

/* ---- open / close ---- */

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n;
    char *p;

    if (!bm_size_add(la, lb, &n) || !bm_size_add(n, 2, &n)) {
        return NULL;
    }
    p = bm_malloc(n);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static enum bm_err errno_err(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
        return BM_EREADONLY;
    case ENOMEM:
        return BM_ENOMEM;
    case ENOENT:
        return BM_ENOTFOUND;
    default:
        return BM_EIO;
    }
}

static enum bm_err open_lock(struct bm_store *s, struct bm_errmsg *em)
{
    char *lock_path = path_join(s->dir, "LOCK");
    enum bm_err err = BM_OK;
    int flags = s->read_only ? O_RDONLY : O_RDWR | O_CREAT;

    if (lock_path == NULL) {
        return bm_errf(em, BM_ENOMEM, "out of memory");
    }
    s->lock_fd = open(lock_path, flags | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        int e = errno;

        err = bm_errf(em, errno_err(e), "cannot open '%s': %s", lock_path,
                      strerror(e));
        goto out;
    }
    if (flock(s->lock_fd, (s->read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        int e = errno;

        if (e == EWOULDBLOCK) {
            err = bm_errf(em, BM_ELOCKED,
                          "store '%s' is locked by another process "
                          "(is a node running on this home?)",
                          s->dir);
        } else {
            err = bm_errf(em, BM_EIO, "cannot lock '%s': %s", lock_path,
                          strerror(e));
        }
        goto out;
    }
out:
    bm_free(lock_path);
    return err;
}

static enum bm_err make_dir(const char *home, const char *dir, bool read_only,
                            struct bm_errmsg *em)
{
    struct stat st;

    if (stat(home, &st) != 0) {
        int e = errno;

        if (e == ENOENT || e == ENOTDIR) {
            return bm_errf(em, BM_ENOHOME, "node home '%s' does not exist",
                           home);
        }
        return bm_errf(em, errno_err(e), "cannot access node home '%s': %s",
                       home, strerror(e));
    }
    if (!S_ISDIR(st.st_mode)) {
        return bm_errf(em, BM_ENOHOME, "node home '%s' is not a directory",
                       home);
    }
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            return bm_errf(em, BM_EINVAL, "'%s' is not a directory", dir);
        }
        return BM_OK;
    }
    if (read_only) {
        return bm_errf(em, BM_ENOTFOUND, "no store in '%s'", dir);
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;

        return bm_errf(em, errno_err(e), "cannot create '%s': %s", dir,
                       strerror(e));
    }
    return BM_OK;
}

static void remap_lock(void *arg, bool lock);

static enum bm_err open_env(struct bm_store *s, size_t map_size,
                            bool no_meta_sync, struct bm_errmsg *em)
{
    unsigned flags = MDB_NOTLS;
    MDB_txn *txn = NULL;
    int rc;

    if (no_meta_sync && !s->read_only) {
        /* One flush per commit: see store.h and docs/STORE.md. */
        flags |= MDB_NOMETASYNC;
    }

    if (s->read_only) {
        /* The shared flock excludes every writer, so LMDB's own lock file
         * is not needed (and may not be writable). */
        flags |= MDB_RDONLY | MDB_NOLOCK;
    } else {
        /* Never a half-made data.mdb after a kill (util/lmdb_env.h). */
        enum bm_err err = bm__env_create_whole(s->dir, map_size, 0644,
                                               em);

        if (err != BM_OK) {
            return err;
        }
        if (bm__env_use_writemap(s->dir, &map_size)) {
            /* On tmpfs: commits write through the map (util/lmdb_env.h). */
            flags |= MDB_WRITEMAP;
        }
    }
    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        return mdb_errf(em, rc, "cannot create LMDB environment", NULL);
    }
    rc = mdb_env_set_mapsize(s->env, map_size);
    if (rc == 0) {
        rc = mdb_env_open(s->env, s->dir, flags, 0644);
    }
    if (rc != 0) {
        return mdb_errf(em, rc, "cannot open store", s->dir);
    }
    if ((flags & MDB_WRITEMAP) != 0) {
        enum bm_err err = bm__env_reserve_map(s->env, em);

        if (err != BM_OK) {
            return err;
        }
    }
    if (!s->read_only) {
        int dead = 0;

        /* Reader slots of a killed process would pin old pages. */
        (void)mdb_reader_check(s->env, &dead);
    }
    rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        return mdb_errf(em, rc, "cannot open main database", s->dir);
    }
    bm__lmdb_map_init(&s->map, s->env, s->max_map_size, "store",
                      remap_lock, s);
    return BM_OK;
}

enum bm_err bm_store_open(struct bm_store **out, const char *home,
                          const struct bm_store_options *opt,
                          struct bm_errmsg *em)
{
    struct bm_store_options o = {0};
    struct bm_store *s = NULL;
    pthread_rwlockattr_t ra;
    enum bm_err err;

    *out = NULL;
    if (home == NULL || home[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "node home: empty path");
    }
    if (opt != NULL) {
        o = *opt;
    }
    if (o.map_size == 0) {
        o.map_size = BM_STORE_DEFAULT_MAP_SIZE;
    }
    if (o.max_map_size == 0) {
        o.max_map_size = BM_STORE_DEFAULT_MAX_MAP_SIZE;
    }
    if (o.max_map_size < o.map_size) {
        o.max_map_size = o.map_size;
    }
    s = bm_calloc(1, sizeof(*s));
    if (s == NULL) {
        return bm_errf(em, BM_ENOMEM, "out of memory");
    }
    s->lock_fd = -1;
    s->read_only = o.read_only;
    s->max_map_size = o.max_map_size;
    pthread_rwlockattr_init(&ra);
    /* Writer preference: a remap must not starve behind steady readers. */
    pthread_rwlockattr_setkind_np(&ra,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (size_t i = 0; i < RSHARDS; i++) {
        pthread_rwlock_init(&s->shard[i].lock, &ra);
        for (size_t j = 0; j < RSHARD_POOL; j++) {
            atomic_init(&s->shard[i].pool[j], NULL);
        }
    }
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->write_mu, NULL);
    s->dir = path_join(home, "data");
    if (s->dir == NULL) {
        err = bm_errf(em, BM_ENOMEM, "out of memory");
        goto fail;
    }
    err = make_dir(home, s->dir, s->read_only, em);
    if (err != BM_OK) {
        goto fail;
    }
    err = open_lock(s, em);
    if (err != BM_OK) {
        goto fail;
    }
    err = open_env(s, o.map_size, o.no_meta_sync, em);
    if (err != BM_OK) {
        goto fail;
    }
    *out = s;
    return BM_OK;
fail:
    bm_store_close(s);
    return err;
}

void bm_store_close(struct bm_store *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < RSHARDS; i++) {
        for (size_t j = 0; j < RSHARD_POOL; j++) {
            MDB_txn *txn = atomic_exchange(&s->shard[i].pool[j], NULL);

            if (txn != NULL) {
                mdb_txn_abort(txn);
            }
        }
    }
    if (s->env != NULL) {
        mdb_env_close(s->env);
    }
    if (s->lock_fd >= 0) {
        close(s->lock_fd); /* releases the flock */
    }
    pthread_mutex_destroy(&s->write_mu);
    for (size_t i = 0; i < RSHARDS; i++) {
        pthread_rwlock_destroy(&s->shard[i].lock);
    }
    bm_free(s->dir);
    bm_free(s);
}

size_t bm_store_map_size(const struct bm_store *s)
{
    return bm__lmdb_map_size(&s->map);
}

MDB_dbi bm__store_dbi(const struct bm_store *s)
{
    return s->dbi;
}

/* ---- read transactions ---- */

/* This thread's shard: assigned round-robin on its first read. */
static struct rshard *my_shard(struct bm_store *s)
{
    static atomic_uint next_shard;
    static _Thread_local unsigned mine = UINT_MAX;

    if (mine == UINT_MAX) {
        mine = atomic_fetch_add_explicit(&next_shard, 1,
                                         memory_order_relaxed) % RSHARDS;
    }
    return &s->shard[mine];
}

/* Excludes every reader (for a remap). */
static void remap_lock_all(struct bm_store *s)
{
    for (size_t i = 0; i < RSHARDS; i++) {
        pthread_rwlock_wrlock(&s->shard[i].lock);
    }
}

static void remap_unlock_all(struct bm_store *s)
{
    for (size_t i = RSHARDS; i-- > 0;) {
        pthread_rwlock_unlock(&s->shard[i].lock);
    }
}

/* The remap lock of the growable map (util/lmdb_map.h). */
static void remap_lock(void *arg, bool lock)
{
    if (lock) {
        remap_lock_all(arg);
    } else {
        remap_unlock_all(arg);
    }
}

enum bm_err bm__store_rtxn_begin(struct bm_store *s, MDB_txn **out,
                                 struct bm_errmsg *em)
{
    struct rshard *sh = my_shard(s);
    MDB_txn *txn = NULL;
    int rc;

    pthread_rwlock_rdlock(&sh->lock);
    for (size_t i = 0; i < RSHARD_POOL && txn == NULL; i++) {
        if (atomic_load_explicit(&sh->pool[i], memory_order_relaxed) != NULL) {
            txn = atomic_exchange(&sh->pool[i], NULL);
        }
    }
    if (txn != NULL) {
        rc = mdb_txn_renew(txn);
        if (rc != 0) {
            mdb_txn_abort(txn);
        }
    } else {
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    }
    if (rc != 0) {
        pthread_rwlock_unlock(&sh->lock);
        *out = NULL;
        return mdb_errf(em, rc, "cannot begin read transaction", NULL);
    }
    *out = txn;
    return BM_OK;
}

void bm__store_rtxn_end(struct bm_store *s, MDB_txn *txn)
{
    struct rshard *sh = my_shard(s);

    if (txn == NULL) {
        return;
    }
    mdb_txn_reset(txn);
    for (size_t i = 0; i < RSHARD_POOL && txn != NULL; i++) {
        MDB_txn *empty = NULL;

        if (atomic_compare_exchange_strong(&sh->pool[i], &empty, txn)) {
            txn = NULL;
        }
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_rwlock_unlock(&sh->lock);
}

/* Copies n bytes from p into *out, reusing its memory when it has the
 * same length (a reader that reads block after block into one blockbuf
 * then allocates nothing). On ENOMEM *out is released. */
static enum bm_err copy_out(struct bm_buf *out, const void *p, size_t n,
                            const char *key, struct bm_errmsg *em)
{
    if (n == 0) {
        bm_buf_release(out);
        return BM_OK;
    }
    if (out->ptr == NULL || out->len != n) {
        uint8_t *q = out->ptr != NULL ? bm_realloc(out->ptr, n)
                                      : bm_malloc(n);

        if (q == NULL) {
            bm_buf_release(out);
            return bm_errf(em, BM_ENOMEM, "out of memory reading '%s'", key);
        }
        out->ptr = q;
        out->len = n;
    }
    memcpy(out->ptr, p, n);
    return BM_OK;
}

/* Copies the value of key into *out (its old contents replaced; released
 * on error). */
static enum bm_err get_copy(struct bm_store *s, MDB_txn *txn, const char *key,
                            size_t klen, struct bm_buf *out,
                            struct bm_errmsg *em)
{
    MDB_val k = kv(key, klen), v;
    int rc = mdb_get(txn, s->dbi, &k, &v);

    if (rc == MDB_NOTFOUND) {
        bm_buf_release(out);
        return bm_errf(em, BM_ENOTFOUND, "'%s' not found", key);
    }
    if (rc != 0) {
        bm_buf_release(out);
        return mdb_errf(em, rc, "cannot read", key);
    }
    return copy_out(out, v.mv_data, v.mv_size, key, em);
}

enum bm_err bm__store_get_u64(struct bm_store *s, MDB_txn *txn,
                              const char *key, size_t klen, uint64_t *out,
                              struct bm_errmsg *em)
{
    MDB_val k = kv(key, klen), v;
    int rc = mdb_get(txn, s->dbi, &k, &v);

    if (rc == MDB_NOTFOUND) {
        return bm_errf(em, BM_ENOTFOUND, "'%s' not found", key);
    }
    if (rc != 0) {
        return mdb_errf(em, rc, "cannot read", key);
    }
    if (v.mv_size != 8) {
        return bm_errf(em, BM_ECORRUPT, "%s: value is %zu bytes, want 8", key,
                       v.mv_size);
    }
    *out = bm_get_le64(v.mv_data);
    return BM_OK;
}

static enum bm_err get_tip(struct bm_store *s, MDB_txn *txn, uint64_t *out,
                           struct bm_errmsg *em)
{
    return bm__store_get_u64(s, txn, "/0/t", 4, out, em);
}

enum bm_err bm_store_height(struct bm_store *s, uint64_t *out,
                            struct bm_errmsg *em)
{
    MDB_txn *txn;
    enum bm_err err = bm__store_rtxn_begin(s, &txn, em);

    if (err != BM_OK) {
        return err;
    }
    err = get_tip(s, txn, out, em);
    bm__store_rtxn_end(s, txn);
    return err;
}

void bm_store_blockbuf_release(struct bm_store_blockbuf *b)
{
    if (b == NULL) {
        return;
    }
    bm_buf_release(&b->header);
    bm_buf_release(&b->data);
    bm_buf_release(&b->signature);
    b->height = 0;
}

/* Starts loading the first bytes of a value found in the map, so that the
 * cache misses of a block's three values overlap instead of queueing one
 * after the other in the copies. */
static void prefetch_value(const MDB_val *v)
{
    const char *p = v->mv_data;
    size_t n = v->mv_size < 1024 ? v->mv_size : 1024;

    for (size_t i = 0; i < n; i += 64) {
        __builtin_prefetch(p + i);
    }
}

static enum bm_err get_block_txn(struct bm_store *s, MDB_txn *txn,
                                 uint64_t height,
                                 struct bm_store_blockbuf *out,
                                 struct bm_errmsg *em)
{
    static const char kinds[3] = {'h', 'd', 'c'};
    struct bm_buf *dst[3] = {&out->header, &out->data, &out->signature};
    char key[3][32]; /* "/0/x/" + 20 digits + NUL */
    MDB_val v[3];
    enum bm_err err = BM_OK;

    /* Find all three values first (prefetching each), then copy them out
     * into out's buffers (reused, released on error). */
    for (size_t i = 0; i < 3; i++) {
        MDB_val k = kv(key[i], bm__store_key_height(key[i], kinds[i],
                                                    height));
        int rc = mdb_get(txn, s->dbi, &k, &v[i]);

        if (rc == MDB_NOTFOUND && i == 0) {
            err = bm_errf(em, BM_ENOTFOUND, "'%s' not found", key[i]);
        } else if (rc == MDB_NOTFOUND) {
            err = bm_errf(em, BM_ECORRUPT,
                          "%s: missing, but /0/h/%" PRIu64 " exists", key[i],
                          height);
        } else if (rc != 0) {
            err = mdb_errf(em, rc, "cannot read", key[i]);
        }
        if (err != BM_OK) {
            goto fail;
        }
        prefetch_value(&v[i]);
    }
    for (size_t i = 0; i < 3; i++) {
        err = copy_out(dst[i], v[i].mv_data, v[i].mv_size, key[i], em);
        if (err != BM_OK) {
            goto fail;
        }
    }
    out->height = height;
    return BM_OK;
fail:
    bm_store_blockbuf_release(out);
    return err;
}

enum bm_err bm_store_get_block(struct bm_store *s, uint64_t height,
                               struct bm_store_blockbuf *out,
                               struct bm_errmsg *em)
{
    MDB_txn *txn;
    enum bm_err err = bm__store_rtxn_begin(s, &txn, em);

    if (err != BM_OK) {
        bm_store_blockbuf_release(out);
        return err;
    }
    err = get_block_txn(s, txn, height, out, em);
    bm__store_rtxn_end(s, txn);
    return err;
}

enum bm_err bm_store_get_height_by_hash(struct bm_store *s,
                                        const struct bm_hash *hash,
                                        uint64_t *out, struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n = bm__store_key_hash(key, hash);
    MDB_txn *txn;
    enum bm_err err = bm__store_rtxn_begin(s, &txn, em);

    if (err != BM_OK) {
        return err;
    }
    err = bm__store_get_u64(s, txn, key, n, out, em);
    bm__store_rtxn_end(s, txn);
    return err;
}

enum bm_err bm_store_get_block_by_hash(struct bm_store *s,
                                       const struct bm_hash *hash,
                                       struct bm_store_blockbuf *out,
                                       struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n = bm__store_key_hash(key, hash);
    uint64_t height;
    MDB_txn *txn;
    enum bm_err err = bm__store_rtxn_begin(s, &txn, em);

    if (err != BM_OK) {
        bm_store_blockbuf_release(out);
        return err;
    }
    err = bm__store_get_u64(s, txn, key, n, &height, em);
    if (err == BM_OK) {
        err = get_block_txn(s, txn, height, out, em);
        if (err == BM_ENOTFOUND) {
            err = bm_errf(em, BM_ECORRUPT,
                          "%s: points to height %" PRIu64 " without a block",
                          key, height);
        }
    } else {
        bm_store_blockbuf_release(out);
    }
    bm__store_rtxn_end(s, txn);
    return err;
}

static enum bm_err get_one(struct bm_store *s, const char *key, size_t klen,
                           struct bm_buf *out, struct bm_errmsg *em)
{
    MDB_txn *txn;
    enum bm_err err = bm__store_rtxn_begin(s, &txn, em);

    if (err != BM_OK) {
        bm_buf_release(out);
        return err;
    }
    err = get_copy(s, txn, key, klen, out, em);
    bm__store_rtxn_end(s, txn);
    return err;
}

enum bm_err bm_store_get_header(struct bm_store *s, uint64_t height,
                                struct bm_buf *out, struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n = bm__store_key_height(key, 'h', height);

    return get_one(s, key, n, out, em);
}

enum bm_err bm_store_get_state(struct bm_store *s, uint64_t height,
                               struct bm_buf *out, struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n = bm__store_key_height(key, 's', height);

    return get_one(s, key, n, out, em);
}

enum bm_err bm_store_get_latest_state(struct bm_store *s, uint64_t *height,
                                      struct bm_buf *out,
                                      struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    uint64_t tip = 0;
    MDB_txn *txn;
    enum bm_err err = bm__store_rtxn_begin(s, &txn, em);

    if (err != BM_OK) {
        bm_buf_release(out);
        return err;
    }
    err = get_tip(s, txn, &tip, em);
    if (err == BM_OK) {
        size_t n = bm__store_key_height(key, 's', tip);

        err = get_copy(s, txn, key, n, out, em);
    } else {
        bm_buf_release(out);
    }
    bm__store_rtxn_end(s, txn);
    if (err == BM_OK && height != NULL) {
        *height = tip;
    }
    return err;
}

enum bm_err bm_store_get_meta(struct bm_store *s, const char *name,
                              struct bm_buf *out, struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n;
    enum bm_err err = meta_key(key, name, &n, em);

    if (err != BM_OK) {
        bm_buf_release(out);
        return err;
    }
    return get_one(s, key, n, out, em);
}

enum bm_err bm_store_get_pending(struct bm_store *s, struct bm_buf *header,
                                 struct bm_buf *data, struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n;
    MDB_txn *txn;
    enum bm_err err;

    bm_buf_release(header);
    bm_buf_release(data);
    err = bm__store_rtxn_begin(s, &txn, em);
    if (err != BM_OK) {
        return err;
    }
    (void)meta_key(key, BM_STORE_META_PENDING_HEADER, &n, NULL);
    err = get_copy(s, txn, key, n, header, em);
    if (err == BM_OK) {
        (void)meta_key(key, BM_STORE_META_PENDING_DATA, &n, NULL);
        err = get_copy(s, txn, key, n, data, em);
    }
    bm__store_rtxn_end(s, txn);
    if (err != BM_OK) {
        bm_buf_release(header);
        bm_buf_release(data);
    }
    return err;
}

/* ---- iterator ---- */

enum bm_err bm_store_iter_new(struct bm_store_iter **out, struct bm_store *s,
                              uint64_t from, uint64_t to)
{
    struct bm_store_iter *it;

    *out = NULL;
    if (from == 0 || from > to) {
        return BM_EINVAL;
    }
    it = bm_calloc(1, sizeof(*it));
    if (it == NULL) {
        return BM_ENOMEM;
    }
    it->s = s;
    it->next = from;
    it->to = to;
    *out = it;
    return BM_OK;
}

int bm_store_iter_next(struct bm_store_iter *it, struct bm_store_blockbuf *b,
                       struct bm_errmsg *em)
{
    enum bm_err err;

    if (it->done) {
        bm_store_blockbuf_release(b);
        return 0;
    }
    err = bm_store_get_block(it->s, it->next, b, em);
    if (err != BM_OK) {
        return err;
    }
    if (it->next == it->to) {
        it->done = true;
    } else {
        it->next++;
    }
    return 1;
}

void bm_store_iter_free(struct bm_store_iter *it)
{
    bm_free(it);
}

/* ---- writing ---- */

typedef enum bm_err write_fn(struct bm_store *s, MDB_txn *txn,
                             const void *arg, struct bm_errmsg *em);

struct write_call {
    struct bm_store *s;
    write_fn *fn;
    const void *arg;
};

static enum bm_err write_call_run(MDB_txn *txn, void *arg,
                                  struct bm_errmsg *em)
{
    struct write_call *c = arg;

    return c->fn(c->s, txn, c->arg, em);
}

/*
 * Runs fn in a write transaction and commits it, growing the map on
 * MDB_MAP_FULL (util/lmdb_map.h). fn must derive everything from arg and
 * the transaction so that a retry after growing the map is idempotent (the
 * aborted attempt left nothing behind).
 */
static enum bm_err write_txn(struct bm_store *s, write_fn *fn, const void *arg,
                             struct bm_errmsg *em)
{
    struct write_call c = {s, fn, arg};
    enum bm_err err;

    if (s->read_only) {
        return bm_errf(em, BM_EREADONLY, "store '%s' is open read-only",
                       s->dir);
    }
    pthread_mutex_lock(&s->write_mu);
    err = bm__lmdb_map_write(&s->map, write_call_run, &c, em);
    pthread_mutex_unlock(&s->write_mu);
    return err;
}

static enum bm_err put(struct bm_store *s, MDB_txn *txn, const char *key,
                       size_t klen, const void *val, size_t vlen,
                       unsigned flags, struct bm_errmsg *em)
{
    MDB_val k = kv(key, klen);
    MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
    int rc = mdb_put(txn, s->dbi, &k, &v, flags);

    if (rc != 0) {
        if (rc == MDB_MAP_FULL) {
            return BM_EMAP_FULL; /* retried after growing */
        }
        return mdb_errf(em, rc, "cannot write", key);
    }
    return BM_OK;
}

static enum bm_err del(struct bm_store *s, MDB_txn *txn, const char *key,
                       size_t klen, struct bm_errmsg *em)
{
    MDB_val k = kv(key, klen);
    int rc = mdb_del(txn, s->dbi, &k, NULL);

    if (rc == MDB_NOTFOUND) {
        return BM_OK;
    }
    if (rc != 0) {
        if (rc == MDB_MAP_FULL) {
            return BM_EMAP_FULL;
        }
        return mdb_errf(em, rc, "cannot delete", key);
    }
    return BM_OK;
}

static enum bm_err put_u64(struct bm_store *s, MDB_txn *txn, const char *key,
                           size_t klen, uint64_t v, unsigned flags,
                           struct bm_errmsg *em)
{
    uint8_t b[8];

    bm_put_le64(b, v);
    return put(s, txn, key, klen, b, 8, flags, em);
}

static enum bm_err check_value(const char *what, size_t i, const void *p,
                               size_t len, struct bm_errmsg *em)
{
    if (len > BM_STORE_MAX_VALUE) {
        return bm_errf(em, BM_ETOOBIG, "blocks[%zu].%s: %zu bytes, max %u",
                       i, what, len, (unsigned)BM_STORE_MAX_VALUE);
    }
    if (len > 0 && p == NULL) {
        return bm_errf(em, BM_EINVAL, "blocks[%zu].%s: NULL with length %zu",
                       i, what, len);
    }
    return BM_OK;
}

static enum bm_err validate_batch(const struct bm_store_batch *b,
                                  struct bm_errmsg *em)
{
    enum bm_err err;

    if (b->n_blocks > 0 && b->blocks == NULL) {
        return bm_errf(em, BM_EINVAL, "batch: blocks is NULL");
    }
    if (b->n_meta > 0 && b->meta == NULL) {
        return bm_errf(em, BM_EINVAL, "batch: meta is NULL");
    }
    for (size_t i = 0; i < b->n_blocks; i++) {
        const struct bm_store_block *blk = &b->blocks[i];

        if (blk->height == 0) {
            return bm_errf(em, BM_EINVAL, "blocks[%zu].height: zero", i);
        }
        if (i > 0 && blk->height != b->blocks[i - 1].height + 1) {
            return bm_errf(em, BM_EINVAL,
                           "blocks[%zu].height: got %" PRIu64
                           ", want %" PRIu64,
                           i, blk->height, b->blocks[i - 1].height + 1);
        }
        if (blk->header_len == 0) {
            return bm_errf(em, BM_EINVAL, "blocks[%zu].header: empty", i);
        }
        err = check_value("header", i, blk->header, blk->header_len, em);
        if (err == BM_OK) {
            err = check_value("data", i, blk->data, blk->data_len, em);
        }
        if (err == BM_OK) {
            err = check_value("signature", i, blk->signature,
                              blk->signature_len, em);
        }
        if (err == BM_OK) {
            err = check_value("state", i, blk->state, blk->state_len, em);
        }
        if (err != BM_OK) {
            return err;
        }
    }
    if (b->n_blocks > 0 && b->blocks[b->n_blocks - 1].state_len == 0) {
        return bm_errf(em, BM_EINVAL,
                       "blocks[%zu].state: required on the last block",
                       b->n_blocks - 1);
    }
    for (size_t i = 0; i < b->n_meta; i++) {
        char key[BM__STORE_KEY_MAX];
        size_t n;

        err = meta_key(key, b->meta[i].name, &n, em);
        if (err != BM_OK) {
            return err;
        }
        if (b->meta[i].value != NULL && b->meta[i].len > BM_STORE_MAX_VALUE) {
            return bm_errf(em, BM_ETOOBIG, "meta '%s': %zu bytes, max %u",
                           b->meta[i].name, b->meta[i].len,
                           (unsigned)BM_STORE_MAX_VALUE);
        }
    }
    return BM_OK;
}

/* The value of one kind of key of blk (NULL/0 for an absent state). */
static void block_value(const struct bm_store_block *blk, char kind,
                        MDB_val *v)
{
    switch (kind) {
    case 'c':
        v->mv_data = (void *)blk->signature;
        v->mv_size = blk->signature_len;
        break;
    case 'd':
        v->mv_data = (void *)blk->data;
        v->mv_size = blk->data_len;
        break;
    case 'h':
        v->mv_data = (void *)blk->header;
        v->mv_size = blk->header_len;
        break;
    default:
        v->mv_data = (void *)blk->state;
        v->mv_size = blk->state_len;
        break;
    }
}

/*
 * Puts the h, d, c and s keys of every block through one cursor, kind by
 * kind: a batch's heights are consecutive, so their keys of one kind are
 * (nearly) adjacent in key order, and LMDB's cursor put skips the descent
 * from the root when the key falls on the leaf the cursor is already on.
 */
static enum bm_err put_block_values(struct bm_store *s, MDB_txn *txn,
                                    const struct bm_store_batch *b,
                                    struct bm_errmsg *em)
{
    static const char kinds[] = {'c', 'd', 'h', 's'}; /* key order */
    char key[BM__STORE_KEY_MAX];
    MDB_cursor *cur = NULL;
    enum bm_err err = BM_OK;
    int rc = mdb_cursor_open(txn, s->dbi, &cur);

    if (rc != 0) {
        return rc == MDB_MAP_FULL ? BM_EMAP_FULL
                                  : mdb_errf(em, rc, "cannot open cursor",
                                             NULL);
    }
    for (size_t j = 0; j < sizeof(kinds) && err == BM_OK; j++) {
        for (size_t i = 0; i < b->n_blocks; i++) {
            const struct bm_store_block *blk = &b->blocks[i];
            MDB_val k, v;

            block_value(blk, kinds[j], &v);
            if (kinds[j] == 's' && v.mv_size == 0) {
                continue; /* no state for this block */
            }
            k = kv(key, bm__store_key_height(key, kinds[j], blk->height));
            rc = mdb_cursor_put(cur, &k, &v, 0);
            if (rc != 0) {
                err = rc == MDB_MAP_FULL ? BM_EMAP_FULL
                                         : mdb_errf(em, rc, "cannot write",
                                                    key);
                break;
            }
        }
    }
    mdb_cursor_close(cur);
    return err;
}

/* /0/i/<hash> -> height, refusing a hash that is already indexed. */
static enum bm_err put_index(struct bm_store *s, MDB_txn *txn,
                             const struct bm_store_block *blk,
                             struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n = bm__store_key_hash(key, &blk->hash);
    uint8_t b[8];
    MDB_val k = kv(key, n), v = {.mv_size = 8, .mv_data = b};
    int rc;

    bm_put_le64(b, blk->height);
    rc = mdb_put(txn, s->dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        uint64_t other = v.mv_size == 8 ? bm_get_le64(v.mv_data) : 0;

        key[n] = '\0';
        return bm_errf(em, BM_EEXIST,
                       "%s: hash already indexed at height %" PRIu64, key,
                       other);
    }
    if (rc == MDB_MAP_FULL) {
        return BM_EMAP_FULL;
    }
    if (rc != 0) {
        key[n] = '\0';
        return mdb_errf(em, rc, "cannot write", key);
    }
    return BM_OK;
}

static enum bm_err apply_meta(struct bm_store *s, MDB_txn *txn,
                              const struct bm_store_meta_op *op,
                              struct bm_errmsg *em)
{
    char key[BM__STORE_KEY_MAX];
    size_t n;
    enum bm_err err = meta_key(key, op->name, &n, em);

    if (err != BM_OK) {
        return err;
    }
    if (op->value == NULL) {
        return del(s, txn, key, n, em);
    }
    return put(s, txn, key, n, op->value, op->len, 0, em);
}

static enum bm_err del_pending(struct bm_store *s, MDB_txn *txn,
                               struct bm_errmsg *em)
{
    struct bm_store_meta_op h = {BM_STORE_META_PENDING_HEADER, NULL, 0};
    struct bm_store_meta_op d = {BM_STORE_META_PENDING_DATA, NULL, 0};
    enum bm_err err = apply_meta(s, txn, &h, em);

    if (err == BM_OK) {
        err = apply_meta(s, txn, &d, em);
    }
    return err;
}

static enum bm_err batch_fn(struct bm_store *s, MDB_txn *txn, const void *arg,
                            struct bm_errmsg *em)
{
    const struct bm_store_batch *b = arg;
    enum bm_err err;

    if (b->n_blocks > 0) {
        uint64_t tip;
        uint64_t first = b->blocks[0].height;

        err = get_tip(s, txn, &tip, em);
        if (err == BM_OK) {
            if (first != tip + 1) {
                return bm_errf(em, BM_EINVAL,
                               "blocks[0].height: got %" PRIu64
                               ", want %" PRIu64 " (store height + 1)",
                               first, tip + 1);
            }
        } else if (err != BM_ENOTFOUND) {
            return err;
        }
        err = put_block_values(s, txn, b, em);
        if (err != BM_OK) {
            return err;
        }
        for (size_t i = 0; i < b->n_blocks; i++) {
            err = put_index(s, txn, &b->blocks[i], em);
            if (err != BM_OK) {
                return err;
            }
        }
        err = put_u64(s, txn, "/0/t", 4, b->blocks[b->n_blocks - 1].height, 0,
                      em);
        if (err != BM_OK) {
            return err;
        }
    }
    for (size_t i = 0; i < b->n_meta; i++) {
        err = apply_meta(s, txn, &b->meta[i], em);
        if (err != BM_OK) {
            return err;
        }
    }
    if (b->clear_pending) {
        return del_pending(s, txn, em);
    }
    return BM_OK;
}

enum bm_err bm_store_write(struct bm_store *s, const struct bm_store_batch *b,
                           struct bm_errmsg *em)
{
    enum bm_err err = validate_batch(b, em);

    if (err != BM_OK) {
        return err;
    }
    return write_txn(s, batch_fn, b, em);
}

struct state_arg {
    uint64_t height;
    const uint8_t *state;
    size_t len;
};

static enum bm_err state_fn(struct bm_store *s, MDB_txn *txn, const void *arg,
                            struct bm_errmsg *em)
{
    const struct state_arg *a = arg;
    char key[BM__STORE_KEY_MAX];
    size_t n;
    uint64_t tip;
    enum bm_err err = get_tip(s, txn, &tip, em);

    if (err == BM_ENOTFOUND) {
        err = put_u64(s, txn, "/0/t", 4, a->height, 0, em);
        if (err != BM_OK) {
            return err;
        }
    } else if (err != BM_OK) {
        return err;
    } else if (tip != a->height) {
        return bm_errf(em, BM_EINVAL,
                       "state height: got %" PRIu64 ", want %" PRIu64
                       " (store height)",
                       a->height, tip);
    }
    n = bm__store_key_height(key, 's', a->height);
    return put(s, txn, key, n, a->state, a->len, 0, em);
}

enum bm_err bm_store_put_state(struct bm_store *s, uint64_t height,
                               const uint8_t *state, size_t len,
                               struct bm_errmsg *em)
{
    struct state_arg a = {height, state, len};

    if (len == 0 || state == NULL) {
        return bm_errf(em, BM_EINVAL, "state: empty");
    }
    if (len > BM_STORE_MAX_VALUE) {
        return bm_errf(em, BM_ETOOBIG, "state: %zu bytes, max %u", len,
                       (unsigned)BM_STORE_MAX_VALUE);
    }
    return write_txn(s, state_fn, &a, em);
}

enum bm_err bm_store_put_meta(struct bm_store *s, const char *name,
                              const uint8_t *value, size_t len,
                              struct bm_errmsg *em)
{
    struct bm_store_meta_op op = {name, value, len};
    struct bm_store_batch b = {.meta = &op, .n_meta = 1};

    if (value == NULL && len > 0) {
        return bm_errf(em, BM_EINVAL, "meta '%s': NULL value with length",
                       name != NULL ? name : "");
    }
    return bm_store_write(s, &b, em);
}

enum bm_err bm_store_set_pending(struct bm_store *s, const uint8_t *header,
                                 size_t header_len, const uint8_t *data,
                                 size_t data_len, struct bm_errmsg *em)
{
    static const uint8_t empty[1];
    struct bm_store_meta_op ops[2] = {
        {BM_STORE_META_PENDING_HEADER, header_len ? header : empty,
         header_len},
        {BM_STORE_META_PENDING_DATA, data_len ? data : empty, data_len},
    };
    struct bm_store_batch b = {.meta = ops, .n_meta = 2};

    if ((header == NULL && header_len > 0) || (data == NULL && data_len > 0)) {
        return bm_errf(em, BM_EINVAL, "pending block: NULL with length");
    }
    return bm_store_write(s, &b, em);
}

enum bm_err bm_store_clear_pending(struct bm_store *s, struct bm_errmsg *em)
{
    struct bm_store_batch b = {.clear_pending = true};

    return bm_store_write(s, &b, em);
}

struct rollback_arg {
    uint64_t n;
    uint64_t *new_height;
};

static enum bm_err rollback_fn(struct bm_store *s, MDB_txn *txn,
                               const void *arg, struct bm_errmsg *em)
{
    static const char kinds[] = {'h', 'd', 'c', 's'};
    const struct rollback_arg *a = arg;
    char key[BM__STORE_KEY_MAX];
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t tip, target;
    size_t n;
    int rc;
    enum bm_err err = get_tip(s, txn, &tip, em);

    if (err == BM_ENOTFOUND) {
        return bm_errf(em, BM_ENOTFOUND, "rollback: store is empty");
    }
    if (err != BM_OK) {
        return err;
    }
    if (a->n > tip) {
        return bm_errf(em, BM_EINVAL,
                       "rollback: %" PRIu64 " blocks, store height is %" PRIu64,
                       a->n, tip);
    }
    target = tip - a->n;
    *a->new_height = target;
    if (a->n == 0) {
        return BM_OK;
    }
    n = bm__store_key_height(key, 's', target);
    k = kv(key, n);
    rc = mdb_get(txn, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return bm_errf(em, BM_ENOTFOUND,
                       "rollback: no state at height %" PRIu64
                       " (%s); cannot roll back below the first stored state",
                       target, key);
    }
    if (rc != 0) {
        return mdb_errf(em, rc, "cannot read", key);
    }
    for (uint64_t h = target + 1; h <= tip && h != 0; h++) {
        for (size_t i = 0; i < sizeof(kinds); i++) {
            n = bm__store_key_height(key, kinds[i], h);
            err = del(s, txn, key, n, em);
            if (err != BM_OK) {
                return err;
            }
        }
    }
    /* Hash index: the keys are hashes, so find the entries by value. */
    rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc != 0) {
        return mdb_errf(em, rc, "cannot open cursor", NULL);
    }
    k = kv("/0/i/", 5);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= 5 && memcmp(k.mv_data, "/0/i/", 5) == 0) {
        if (v.mv_size != 8) {
            size_t kl = k.mv_size < sizeof(key) - 1 ? k.mv_size
                                                    : sizeof(key) - 1;

            memcpy(key, k.mv_data, kl);
            key[kl] = '\0';
            mdb_cursor_close(cur);
            return bm_errf(em, BM_ECORRUPT, "%s: value is %zu bytes, want 8",
                           key, v.mv_size);
        }
        if (bm_get_le64(v.mv_data) > target) {
            size_t kl = k.mv_size < sizeof(key) ? k.mv_size : sizeof(key);

            /* Copy the key: after the delete, seek to the next one. */
            memcpy(key, k.mv_data, kl);
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0) {
                mdb_cursor_close(cur);
                return rc == MDB_MAP_FULL
                           ? BM_EMAP_FULL
                           : mdb_errf(em, rc, "cannot delete index entry",
                                      NULL);
            }
            k = kv(key, kl);
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return mdb_errf(em, rc, "cannot scan hash index", NULL);
    }
    err = put_u64(s, txn, "/0/t", 4, target, 0, em);
    if (err != BM_OK) {
        return err;
    }
    return del_pending(s, txn, em);
}

enum bm_err bm_store_rollback(struct bm_store *s, uint64_t n,
                              uint64_t *new_height, struct bm_errmsg *em)
{
    uint64_t h = 0;
    struct rollback_arg a = {n, &h};
    enum bm_err err = write_txn(s, rollback_fn, &a, em);

    if (err == BM_OK) {
        if (new_height != NULL) {
            *new_height = h;
        }
        bm_log_info("store", "rolled back blocks=%" PRIu64 " height=%" PRIu64,
                    n, h);
    }
    return err;
}

void bm_meta_rhb_name(char *buf, size_t len, uint64_t height, char which)
{
    snprintf(buf, len, "rhb/%llu/%c", (unsigned long long)height, which);
}

enum bm_err bm_meta_get_u64(struct bm_store *s, const char *name,
                            uint64_t *out, struct bm_errmsg *em)
{
    struct bm_buf v = {0};
    enum bm_err err = bm_store_get_meta(s, name, &v, em);

    if (err != BM_OK) {
        return err;
    }
    if (v.len != 8) {
        err = bm_errf(em, BM_ECORRUPT,
                      "store: metadata '/0/m/%s' is %zu bytes, want 8", name,
                      v.len);
    } else {
        *out = bm_get_le64(v.ptr);
    }
    bm_buf_release(&v);
    return err;
}
