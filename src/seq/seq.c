/* The single sequencer, see include/blockv2/sequencer.h and
 * docs/EXECUTION.md. */
#include "blockv2/sequencer.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>
#include <sodium.h>

#include "util/lmdb_env.h"
#include "util/txset.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define DEFAULT_MAX_TXS 1000000u
#define DEFAULT_MAX_BYTES ((size_t)256 << 20)
#define DEFAULT_MAP_SIZE ((size_t)2 << 30)
#define DEFAULT_RECENT 65536u

struct bm_seq {
    MDB_env *env;
    MDB_dbi queue;
    MDB_dbi meta;
    MDB_dbi recent_db; /* be64 record id -> fingerprints of acked txs */
    bool no_sync;
    pthread_mutex_t mu;
    /* Appends (bm_seq_submit_each*) committed, and how many of the first
     * of them are known durable (see append). */
    uint64_t appends;
    uint64_t appends_durable;
    char *chain_id;
    size_t id_len;
    const struct bm_executor *exec;
    size_t max_txs;
    size_t max_bytes;
    size_t max_tx;
    size_t max_batch_txs; /* 0: no count cap */
    size_t max_waiting_txs; /* bm_seq_submit_each only; 0: none */
    size_t largest; /* no queued tx is longer (an upper bound) */

    uint64_t head;  /* sequence number of the first queued tx */
    uint64_t next;  /* sequence number of the next tx to append */
    size_t n_txs;   /* queued, including in flight */
    size_t n_bytes;
    struct bm__txset set; /* hashes of queued txs */
    struct bm__txwin recent; /* hashes of recently acked txs */
    /* The window on disk: records with ids below rec_next holding
     * rec_total fingerprints (see reserve_recent and prune_recent). */
    uint64_t rec_next;
    size_t rec_total;
    /* Hashes of the queued txs in queue order (a ring of ring_cap slots,
     * ring_len == n_txs), so batches and acks need no re-hashing. */
    struct bm_hash *ring;
    size_t ring_cap;
    size_t ring_start;
    uint64_t last_ts;
    bool failed; /* in-memory mirror lost: every call fails until reopen */
    /* opts.on_disk_error; disk_reported once it was called */
    void (*on_disk_error)(void *arg, enum bm_err err, const char *msg);
    void *on_disk_error_arg;
    bool disk_reported;

    /* The batch handed out and not yet acked: entries [head, fl_end). */
    bool in_flight;
    uint64_t fl_end;
    size_t fl_txs;
    size_t fl_bytes;
    enum bm_filter_status *fl_status; /* per drained tx */
    struct bm_buf *fl_postponed; /* to re-queue at ack */
    size_t fl_n_postponed;
};

void bm_seq_batch_hash(const struct bm_buf *txs, size_t n,
                       struct bm_hash *out)
{
    crypto_hash_sha256_state st;
    uint8_t be[8];

    crypto_hash_sha256_init(&st);
    if (n > 0) {
        bm_put_be64(be, n);
        crypto_hash_sha256_update(&st, be, 8);
        for (size_t i = 0; i < n; i++) {
            bm_put_be64(be, txs[i].len);
            crypto_hash_sha256_update(&st, be, 8);
            if (txs[i].len > 0) {
                crypto_hash_sha256_update(&st, txs[i].ptr, txs[i].len);
            }
        }
    }
    crypto_hash_sha256_final(&st, out->b);
}

void bm_seq_batch_release(struct bm_seq_batch *b)
{
    if (b == NULL) {
        return;
    }
    bm_exec_txs_free(b->batch.txs, b->batch.n_txs);
    memset(b, 0, sizeof(*b));
}

static void flight_reset(struct bm_seq *s)
{
    bm_free(s->fl_status);
    bm_exec_txs_free(s->fl_postponed, s->fl_n_postponed);
    s->fl_status = NULL;
    s->fl_postponed = NULL;
    s->fl_n_postponed = 0;
    s->in_flight = false;
    s->fl_end = 0;
    s->fl_txs = 0;
    s->fl_bytes = 0;
}

/* Makes room for `more` hashes at the ring's tail. */
static enum bm_err ring_reserve(struct bm_seq *s, size_t more)
{
    size_t need;
    size_t ncap;
    size_t bytes;
    struct bm_hash *nr;

    if (!bm_size_add(s->n_txs, more, &need)) {
        return BM_EOVERFLOW;
    }
    if (need <= s->ring_cap) {
        return BM_OK;
    }
    ncap = s->ring_cap ? s->ring_cap : 1024;
    while (ncap < need) {
        if (!bm_size_mul(ncap, 2, &ncap)) {
            return BM_EOVERFLOW;
        }
    }
    if (!bm_size_mul(ncap, sizeof(*nr), &bytes)) {
        return BM_EOVERFLOW;
    }
    nr = bm_malloc(bytes);
    if (nr == NULL) {
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < s->n_txs; i++) {
        nr[i] = s->ring[(s->ring_start + i) % s->ring_cap];
    }
    bm_free(s->ring);
    s->ring = nr;
    s->ring_cap = ncap;
    s->ring_start = 0;
    return BM_OK;
}

/* Appends h; room must have been reserved. Does not touch n_txs. */
static void ring_put(struct bm_seq *s, size_t at, const struct bm_hash *h)
{
    s->ring[(s->ring_start + at) % s->ring_cap] = *h;
}

static const struct bm_hash *ring_get(const struct bm_seq *s, size_t i)
{
    return &s->ring[(s->ring_start + i) % s->ring_cap];
}

/* A write to the queue failed with rc (an LMDB or errno code from a
 * commit or sync; err/em its error): on a full or failing disk, tells
 * on_disk_error (once per open). Holds s->mu. Returns err. */
static enum bm_err disk_error(struct bm_seq *s, int rc, enum bm_err err,
                              const struct bm_errmsg *em)
{
    struct bm_errmsg own = {{0}};

    if (bm__env_rc_is_disk(rc) && s->on_disk_error != NULL &&
        !s->disk_reported) {
        s->disk_reported = true;
        if (em == NULL || em->msg[0] == '\0') {
            bm_errf(&own, err, "tx queue '%s': %s%s", bm__env_path(s->env),
                    mdb_strerror(rc), bm__env_io_hint(rc));
            em = &own;
        }
        s->on_disk_error(s->on_disk_error_arg, err, bm_errmsg_str(em, err));
    }
    return err;
}

/* A write to the queue of operation op failed with LMDB code rc: the
 * error naming the directory, and disk_error. Holds s->mu. */
static enum bm_err write_failed(struct bm_seq *s, int rc, const char *op,
                                struct bm_errmsg *em)
{
    enum bm_err err = bm_errf(em, bm_lmdb_err(rc), "%s on '%s': %s%s", op,
                              bm__env_path(s->env), mdb_strerror(rc),
                              bm__env_io_hint(rc));

    return disk_error(s, rc, err, em);
}

/* Locks s->mu (held on return either way); BM_ESTATE naming op when the
 * sequencer failed. */
static enum bm_err lock_live(struct bm_seq *s, const char *op,
                             struct bm_errmsg *em)
{
    pthread_mutex_lock(&s->mu);
    if (s->failed) {
        return bm_errf(em, BM_ESTATE, "%s: sequencer failed, reopen it", op);
    }
    return BM_OK;
}

/* The entry of a call on arr[0..n) that counts what it did in *count (may
 * be NULL; zeroed): lock_live, and BM_EINVAL for a NULL arr with n > 0.
 * s->mu is held on return either way. */
static enum bm_err enter(struct bm_seq *s, const char *op, const void *arr,
                         size_t n, size_t *count, struct bm_errmsg *em)
{
    if (count != NULL) {
        *count = 0;
    }
    if (lock_live(s, op, em) != BM_OK) {
        return BM_ESTATE;
    }
    if (n > 0 && arr == NULL) {
        return bm_errf(em, BM_EINVAL, "%s: NULL array", op);
    }
    return BM_OK;
}

static enum bm_err check_id(const struct bm_seq *s, const uint8_t *id,
                            size_t id_len, const char *op,
                            struct bm_errmsg *em)
{
    if (s->failed) {
        return bm_errf(em, BM_ESTATE, "%s: sequencer failed, reopen it", op);
    }
    if (id_len != s->id_len || (id_len > 0 && id == NULL) ||
        memcmp(id, s->chain_id, id_len) != 0) {
        return bm_errf(em, BM_ECHAIN_ID_MISMATCH, "%s: invalid chain id "
                       "(want '%s')", op, s->chain_id);
    }
    return BM_OK;
}

/* Rebuilds head/next/counters/dedup set from the stored queue. */
static enum bm_err load_queue(struct bm_seq *s, MDB_txn *txn,
                              struct bm_errmsg *em)
{
    MDB_cursor *cur = NULL;
    MDB_val k;
    MDB_val v;
    bool first = true;
    enum bm_err err = BM_OK;
    int rc;

    rc = mdb_cursor_open(txn, s->queue, &cur);
    if (rc != 0) {
        return bm_errf(em, bm_lmdb_err(rc), "seq: cursor: %s",
                       mdb_strerror(rc));
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct bm_hash h;
        uint64_t seq;

        if (k.mv_size != 8) {
            err = bm_errf(em, BM_ECORRUPT, "seq: queue key of %zu bytes",
                          k.mv_size);
            goto out;
        }
        seq = bm_get_be64(k.mv_data);
        if (first) {
            s->head = seq;
            first = false;
        }
        s->next = seq + 1;
        bm_exec_tx_hash(v.mv_data, v.mv_size, &h);
        err = bm__txset_add(&s->set, &h);
        if (err == BM_EEXIST) {
            err = BM_OK; /* kept; it is handed out twice at worst */
        }
        if (err == BM_OK) {
            err = ring_reserve(s, 1);
        }
        if (err) {
            goto out;
        }
        ring_put(s, s->n_txs, &h);
        s->n_txs++;
        s->n_bytes += v.mv_size;
        if (v.mv_size > s->largest) {
            s->largest = v.mv_size;
        }
    }
    if (rc != MDB_NOTFOUND) {
        err = bm_errf(em, bm_lmdb_err(rc), "seq: reading queue: %s",
                      mdb_strerror(rc));
    }
out:
    mdb_cursor_close(cur);
    return err;
}

/*
 * The window of recently committed txs is persisted so that a duplicate is
 * still refused after a restart: every ack (and drop_committed) appends one
 * record, key be64 record id, value the 8-byte fingerprints (the first 8
 * bytes of the SHA-256) of the txs it removed, and the oldest records go
 * once the rest still hold the window's capacity. Loading adds them oldest
 * first, so the in-memory window ends up with the newest ones.
 */
#define FP_SIZE 8u

static enum bm_err load_recent(struct bm_seq *s, MDB_txn *txn,
                               struct bm_errmsg *em)
{
    MDB_cursor *cur = NULL;
    MDB_val k;
    MDB_val v;
    enum bm_err err = BM_OK;
    int rc;

    rc = mdb_cursor_open(txn, s->recent_db, &cur);
    if (rc != 0) {
        return bm_errf(em, bm_lmdb_err(rc), "seq: cursor: %s",
                       mdb_strerror(rc));
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = v.mv_data;

        if (k.mv_size != 8 || v.mv_size % FP_SIZE != 0) {
            err = bm_errf(em, BM_ECORRUPT, "seq: recent-tx record of %zu "
                          "bytes (key %zu bytes)", v.mv_size, k.mv_size);
            goto out;
        }
        s->rec_next = bm_get_be64(k.mv_data) + 1;
        s->rec_total += v.mv_size / FP_SIZE;
        for (size_t off = 0; off < v.mv_size; off += FP_SIZE) {
            struct bm_hash h = {{0}};

            memcpy(h.b, p + off, FP_SIZE);
            bm__txwin_add(&s->recent, &h);
        }
    }
    if (rc != MDB_NOTFOUND) {
        err = bm_errf(em, bm_lmdb_err(rc), "seq: reading recent txs: %s",
                      mdb_strerror(rc));
    }
out:
    mdb_cursor_close(cur);
    return err;
}

/*
 * Reserves the next record for n fingerprints in txn; *dst (valid until
 * the next write in txn) is where the caller copies them. n == 0 or a
 * disabled window: nothing is written and *dst is NULL.
 */
static int reserve_recent(struct bm_seq *s, MDB_txn *txn, size_t n,
                          uint8_t **dst)
{
    uint8_t be[8];
    MDB_val k = {8, be};
    MDB_val v = {0, NULL};
    int rc;

    *dst = NULL;
    if (n == 0 || s->recent.cap == 0) {
        return 0;
    }
    bm_put_be64(be, s->rec_next);
    v.mv_size = n * FP_SIZE;
    rc = mdb_put(txn, s->recent_db, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc == 0) {
        *dst = v.mv_data;
    }
    return rc;
}

/*
 * After reserve_recent added n fingerprints: deletes the oldest records
 * that the window no longer needs (the rest still hold its capacity; the
 * newest record always stays). *total gets the value rec_total takes once
 * txn commits.
 */
static int prune_recent(struct bm_seq *s, MDB_txn *txn, size_t n,
                        size_t *total)
{
    MDB_cursor *cur = NULL;
    MDB_val k;
    MDB_val v;
    size_t cap = s->recent.cap;
    int rc;

    *total = s->rec_total;
    if (n == 0 || cap == 0) {
        return 0;
    }
    *total += n;
    rc = mdb_cursor_open(txn, s->recent_db, &cur);
    while (rc == 0) {
        uint64_t id;
        size_t cnt;

        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc != 0) {
            break;
        }
        if (k.mv_size != 8) {
            rc = 0; /* not ours to judge here: load_recent refuses it */
            break;
        }
        id = bm_get_be64(k.mv_data);
        cnt = v.mv_size / FP_SIZE;
        if (id == s->rec_next || *total - cnt < cap) {
            break; /* the newest record, or still needed */
        }
        rc = mdb_cursor_del(cur, 0);
        *total -= cnt;
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

enum bm_err bm_seq_open(struct bm_seq **out, const char *dir,
                        const char *chain_id, const struct bm_seq_options *opts,
                        struct bm_errmsg *em)
{
    struct bm_seq *s = NULL;
    MDB_txn *txn = NULL;
    size_t map_size = DEFAULT_MAP_SIZE;
    unsigned flags = 0;
    enum bm_err err;
    MDB_val k = {8, (void *)"chain_id"};
    MDB_val v;
    int rc;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0' || chain_id == NULL ||
        chain_id[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "seq: directory or chain id is empty");
    }
    if (strlen(chain_id) > BM_MAX_CHAIN_ID) {
        return bm_errf(em, BM_ETOOBIG, "seq: chain id above %u bytes",
                       BM_MAX_CHAIN_ID);
    }
    if (sodium_init() < 0) {
        return bm_errf(em, BM_ECRYPTO, "seq: sodium_init failed");
    }
    if (opts != NULL && opts->map_size != 0) {
        map_size = opts->map_size;
    }
    /* MDB_NOMETASYNC: one fsync per commit instead of two for acks and
     * drops: an OS crash may undo the last one but never breaks integrity,
     * and it is recoverable (docs/EXECUTION.md, "Durability"). Appends
     * are synced in full (commit_durable): they answer clients. */
    flags |= MDB_NOMETASYNC;
    if (opts != NULL && opts->no_sync) {
        flags |= MDB_NOSYNC;
    }
    s = bm_calloc(1, sizeof(*s));
    if (s == NULL) {
        return BM_ENOMEM;
    }
    s->no_sync = opts != NULL && opts->no_sync;
    pthread_mutex_init(&s->mu, NULL);
    s->max_txs = opts && opts->max_queue_txs ? opts->max_queue_txs
                                             : DEFAULT_MAX_TXS;
    s->max_bytes = opts && opts->max_queue_bytes ? opts->max_queue_bytes
                                                 : DEFAULT_MAX_BYTES;
    s->max_tx = opts && opts->max_tx_bytes ? opts->max_tx_bytes
                                           : BM_MAX_TX_SIZE;
    s->exec = opts ? opts->exec : NULL;
    s->max_batch_txs = opts ? opts->max_batch_txs : 0;
    s->max_waiting_txs = opts ? opts->max_waiting_txs : 0;
    if (opts != NULL) {
        s->on_disk_error = opts->on_disk_error;
        s->on_disk_error_arg = opts->on_disk_error_arg;
    }
    err = bm__txwin_init(&s->recent, opts && opts->recent_txs
                                         ? opts->recent_txs
                                         : DEFAULT_RECENT);
    if (err) {
        goto out;
    }
    s->chain_id = bm_strdup(chain_id);
    if (s->chain_id == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    s->id_len = strlen(chain_id);
    err = bm__env_open(&s->env, dir, 3, map_size, flags, em);
    if (err) {
        goto out;
    }
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "queue", MDB_CREATE, &s->queue);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "recent", MDB_CREATE, &s->recent_db);
    }
    if (rc == 0) {
        rc = mdb_get(txn, s->meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            v.mv_data = s->chain_id;
            v.mv_size = s->id_len;
            rc = mdb_put(txn, s->meta, &k, &v, 0);
        } else if (rc == 0 && (v.mv_size != s->id_len ||
                               memcmp(v.mv_data, chain_id, s->id_len) != 0)) {
            err = bm_errf(em, BM_ECHAIN_ID_MISMATCH, "seq: queue in '%s' "
                          "belongs to another chain id", dir);
            goto out;
        }
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "seq: cannot open queue in '%s': "
                      "%s", dir, mdb_strerror(rc));
        goto out;
    }
    err = load_queue(s, txn, em);
    if (err == BM_OK) {
        err = load_recent(s, txn, em);
    }
    if (err) {
        goto out;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "seq: commit to '%s': %s%s",
                      bm__env_path(s->env), mdb_strerror(rc),
                      bm__env_io_hint(rc));
        goto out;
    }
    if (s->n_txs > 0) {
        bm_log_info("seq", "restored queue txs=%zu bytes=%zu", s->n_txs,
                    s->n_bytes);
    }
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (err) {
        bm_seq_free(s);
        return err;
    }
    *out = s;
    return BM_OK;
}

void bm_seq_free(struct bm_seq *s)
{
    if (s == NULL) {
        return;
    }
    if (s->env != NULL) {
        mdb_env_close(s->env);
    }
    flight_reset(s);
    bm__txset_release(&s->set);
    bm__txwin_release(&s->recent);
    bm_free(s->ring);
    bm_free(s->chain_id);
    pthread_mutex_destroy(&s->mu);
    bm_free(s);
}

/* The longest queued tx into *out (and s->largest), by reading the queue.
 * Holds mu. */
static enum bm_err longest_queued(struct bm_seq *s, size_t *out,
                                  uint64_t *at, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k;
    MDB_val v;
    int rc;

    *out = 0;
    *at = 0;
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_cursor_open(txn, s->queue, &cur);
    }
    for (rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : rc; rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size > *out) {
            *out = v.mv_size;
            *at = k.mv_size == 8 ? bm_get_be64(k.mv_data) : 0;
        }
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rc != MDB_NOTFOUND) {
        return bm_errf(em, bm_lmdb_err(rc), "seq: reading queue: %s",
                       mdb_strerror(rc));
    }
    s->largest = *out;
    return BM_OK;
}

enum bm_err bm_seq_cap_tx_bytes(struct bm_seq *s, size_t max,
                                struct bm_errmsg *em)
{
    enum bm_err err = BM_OK;
    size_t longest = 0;
    uint64_t at = 0;

    pthread_mutex_lock(&s->mu);
    if (s->failed) {
        err = bm_errf(em, BM_ESTATE, "seq cap: sequencer failed, reopen it");
        goto out;
    }
    if (max == 0 || max >= s->max_tx) {
        goto out;
    }
    if (s->largest > max) {
        err = longest_queued(s, &longest, &at, em);
        if (err == BM_OK && longest > max) {
            err = bm_errf(em, BM_ETOOBIG, "seq: queued tx %llu is %zu bytes, "
                          "above the new limit of %zu",
                          (unsigned long long)at, longest, max);
        }
        if (err) {
            goto out;
        }
    }
    s->max_tx = max;
out:
    pthread_mutex_unlock(&s->mu);
    return err;
}

/*
 * Appends txs[idx[j]] (hash hashes[j]) for j < cnt, `bytes` in all, at
 * the tail in one transaction, and makes it durable (fdatasync of the data
 * and of the meta page, unless no_sync) before returning; with defer, the
 * meta page is not flushed here (see below). The caller holds s->mu, has
 * added the hashes to s->set and reserved the ring. BM_OK: the mirror
 * holds them. An LMDB error: nothing was written (the caller takes the
 * hashes out of the set again). BM_EIO with *stored: committed (the
 * mirror holds them) but the sync failed, so they are not known durable.
 *
 * Durability of deferred appends: the environment runs with
 * MDB_NOMETASYNC, so mdb_txn_commit flushes the file's data (fdatasync,
 * or msync of the whole map with MDB_WRITEMAP) before it writes the new
 * meta page unsynced. That flush also flushes every meta page written
 * before, so once append k's commit returns, appends 1..k-1 are durable
 * (and with them, LMDB commits being ordered, everything they point to);
 * mdb_env_sync makes all of them durable. appends_durable counts that.
 */
static enum bm_err append(struct bm_seq *s, const struct bm_buf *txs,
                          const size_t *idx, const struct bm_hash *hashes,
                          size_t cnt, size_t bytes, const char *op,
                          bool defer, bool *stored, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    enum bm_err err = BM_OK;
    int rc;

    *stored = false;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    for (size_t j = 0; rc == 0 && j < cnt; j++) {
        uint8_t be[8];
        MDB_val k = {8, be};
        MDB_val v = {txs[idx[j]].len, txs[idx[j]].ptr};

        bm_put_be64(be, s->next + j);
        rc = mdb_put(txn, s->queue, &k, &v, MDB_APPEND);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "%s on '%s': %s%s", op,
                      bm__env_path(s->env), mdb_strerror(rc),
                      bm__env_io_hint(rc));
        return disk_error(s, rc, err, em);
    }
    for (size_t j = 0; j < cnt; j++) {
        ring_put(s, s->n_txs + j, &hashes[j]);
    }
    s->next += cnt;
    s->n_txs += cnt;
    s->n_bytes += bytes;
    *stored = true;
    s->appends_durable = s->appends; /* the commit's data flush */
    s->appends++;
    if (s->no_sync) {
        s->appends_durable = s->appends; /* nothing is ever synced */
    }
    /* The commit flushed the data pages; with MDB_NOMETASYNC the meta page
     * that makes them reachable is flushed here, so the append survives a
     * power loss before anyone is told it was queued. */
    if (!s->no_sync && !defer) {
        rc = mdb_env_sync(s->env, 1);
        if (rc == 0) {
            s->appends_durable = s->appends;
        }
        if (rc != 0) {
            err = bm_errf(em, BM_EIO, "%s on '%s': stored but not synced: "
                          "%s%s", op, bm__env_path(s->env), mdb_strerror(rc),
                          bm__env_io_hint(rc));
            (void)disk_error(s, rc, err, em);
        }
    }
    return err;
}

/* A submission being staged: the txs to append, in order. */
struct staged {
    size_t *idx;          /* positions in the caller's txs */
    struct bm_hash *hash; /* their hashes, added to s->set */
    size_t cnt;
    size_t bytes;
};

static void staged_release(struct staged *st)
{
    bm_free(st->idx);
    bm_free(st->hash);
}

/* Takes the staged hashes out of the set again (nothing was written). */
static void unstage(struct bm_seq *s, struct staged *st)
{
    for (size_t j = 0; j < st->cnt; j++) {
        bm__txset_del(&s->set, &st->hash[j]);
    }
    st->cnt = 0;
}

/*
 * Classifies txs[0..n) in order into status[] (BM_OK: staged to append;
 * BM_EEMPTY, BM_ETOOBIG, BM_EEXIST, BM_EQUEUE_FULL as in
 * bm_seq_submit_each) and stages the BM_OK ones, adding their hashes to
 * s->set. hashes may be NULL (computed here). restore (bm_seq_requeue):
 * the window of committed txs and the queue limits are not checked. Holds
 * mu. BM_ENOMEM: nothing staged.
 */
static enum bm_err stage(struct bm_seq *s, const struct bm_buf *txs,
                         const struct bm_hash *hashes, size_t n,
                         size_t wait_cap, enum bm_err *status,
                         struct staged *st, bool restore)
{
    /* Txs waiting for a block: queued, not in the batch being built. */
    size_t waiting = s->n_txs - (s->in_flight ? s->fl_txs : 0);
    enum bm_err err;

    st->idx = bm_calloc(n, sizeof(*st->idx));
    st->hash = bm_calloc(n, sizeof(*st->hash));
    if (st->idx == NULL || st->hash == NULL) {
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct bm_hash h;

        if (txs[i].len == 0) {
            status[i] = BM_EEMPTY;
            continue;
        }
        if (txs[i].len > s->max_tx) {
            status[i] = BM_ETOOBIG;
            continue;
        }
        if (hashes != NULL) {
            h = hashes[i];
        } else {
            bm_exec_tx_hash(txs[i].ptr, txs[i].len, &h);
        }
        if ((!restore && bm__txwin_has(&s->recent, &h)) ||
            bm__txset_has(&s->set, &h)) {
            /* committed a moment ago; queued, in flight, or earlier here */
            status[i] = BM_EEXIST;
            continue;
        }
        if (!restore &&
            (s->n_txs + st->cnt + 1 > s->max_txs ||
             s->n_bytes + st->bytes + txs[i].len > s->max_bytes ||
             (wait_cap != 0 && waiting + st->cnt + 1 > wait_cap))) {
            status[i] = BM_EQUEUE_FULL;
            continue;
        }
        err = bm__txset_add(&s->set, &h);
        if (err) {
            unstage(s, st);
            return err;
        }
        status[i] = BM_OK;
        st->hash[st->cnt] = h;
        st->idx[st->cnt++] = i;
        st->bytes += txs[i].len;
        if (txs[i].len > s->largest) {
            s->largest = txs[i].len;
        }
    }
    return BM_OK;
}

/* Appends what is staged (append()); on a write error unstages it. Holds
 * mu. *stored as in append(). */
static enum bm_err commit_staged(struct bm_seq *s, const struct bm_buf *txs,
                                 struct staged *st, const char *op,
                                 bool defer, bool *stored,
                                 struct bm_errmsg *em)
{
    enum bm_err err;

    *stored = false;
    if (st->cnt == 0) {
        return BM_OK;
    }
    err = ring_reserve(s, st->cnt);
    if (err == BM_OK) {
        err = append(s, txs, st->idx, st->hash, st->cnt, st->bytes, op,
                     defer, stored, em);
    }
    if (err != BM_OK && !*stored) {
        unstage(s, st);
    }
    return err;
}

enum bm_err bm_seq_submit(struct bm_seq *s, const uint8_t *chain_id,
                          size_t id_len, const struct bm_buf *txs, size_t n,
                          size_t *accepted, struct bm_errmsg *em)
{
    struct staged st = {0};
    enum bm_err *status = NULL;
    bool stored = false;
    enum bm_err err;

    if (accepted != NULL) {
        *accepted = 0;
    }
    pthread_mutex_lock(&s->mu);
    err = check_id(s, chain_id, id_len, "submit_batch_txs", em);
    if (err || n == 0) {
        goto out;
    }
    if (txs == NULL) {
        err = bm_errf(em, BM_EINVAL, "submit_batch_txs: txs is NULL");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (txs[i].len > s->max_tx) {
            err = bm_errf(em, BM_ETOOBIG, "submit_batch_txs: txs[%zu] is %zu "
                          "bytes, max %zu", i, txs[i].len, s->max_tx);
            goto out;
        }
    }
    status = bm_calloc(n, sizeof(*status));
    err = status != NULL ? stage(s, txs, NULL, n, 0, status, &st, false)
                         : BM_ENOMEM;
    if (err) {
        goto out;
    }
    /* All or nothing: if one new tx does not fit, the total does not. */
    for (size_t i = 0; i < n; i++) {
        if (status[i] == BM_EQUEUE_FULL) {
            unstage(s, &st);
            err = bm_errf(em, BM_EQUEUE_FULL, "submit_batch_txs: queue full "
                          "(%zu txs, %zu bytes queued; limits %zu txs, %zu "
                          "bytes)", s->n_txs, s->n_bytes, s->max_txs,
                          s->max_bytes);
            goto out;
        }
    }
    err = commit_staged(s, txs, &st, "submit_batch_txs", false, &stored,
                        em);
    if (stored && accepted != NULL) {
        *accepted = st.cnt;
    }
out:
    pthread_mutex_unlock(&s->mu);
    staged_release(&st);
    bm_free(status);
    return err;
}

/* bm_seq_submit_each and bm_seq_submit_each_deferred (defer: *ticket). */
static enum bm_err submit_each(struct bm_seq *s, const uint8_t *chain_id,
                               size_t id_len, const struct bm_buf *txs,
                               const struct bm_hash *hashes, size_t n,
                               enum bm_err *status, bool defer,
                               uint64_t *ticket, struct bm_errmsg *em)
{
    struct staged st = {0};
    bool stored = false;
    enum bm_err err;

    pthread_mutex_lock(&s->mu);
    err = check_id(s, chain_id, id_len, "submit", em);
    if (err || n == 0) {
        goto out;
    }
    if (txs == NULL || status == NULL) {
        err = bm_errf(em, BM_EINVAL, "submit: txs or status is NULL");
        goto out;
    }
    err = stage(s, txs, hashes, n, s->max_waiting_txs, status, &st, false);
    if (err == BM_OK) {
        err = commit_staged(s, txs, &st, "submit", defer, &stored, em);
    }
    if (stored && ticket != NULL) {
        *ticket = s->appends;
    }
    if (err != BM_OK && stored) {
        for (size_t j = 0; j < st.cnt; j++) {
            status[st.idx[j]] = err; /* queued, but not known durable */
        }
        err = BM_OK;
    }
out:
    pthread_mutex_unlock(&s->mu);
    staged_release(&st);
    return err;
}

enum bm_err bm_seq_submit_each(struct bm_seq *s, const uint8_t *chain_id,
                               size_t id_len, const struct bm_buf *txs,
                               const struct bm_hash *hashes, size_t n,
                               enum bm_err *status, struct bm_errmsg *em)
{
    return submit_each(s, chain_id, id_len, txs, hashes, n, status, false,
                       NULL, em);
}

enum bm_err bm_seq_submit_each_deferred(struct bm_seq *s,
                                        const uint8_t *chain_id,
                                        size_t id_len,
                                        const struct bm_buf *txs,
                                        const struct bm_hash *hashes,
                                        size_t n, enum bm_err *status,
                                        uint64_t *ticket,
                                        struct bm_errmsg *em)
{
    *ticket = 0;
    return submit_each(s, chain_id, id_len, txs, hashes, n, status, true,
                       ticket, em);
}

bool bm_seq_durable(struct bm_seq *s, uint64_t ticket)
{
    bool ok;

    pthread_mutex_lock(&s->mu);
    ok = ticket <= s->appends_durable;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

enum bm_err bm_seq_sync(struct bm_seq *s, struct bm_errmsg *em)
{
    uint64_t upto;
    enum bm_err err = BM_OK;
    int rc;

    pthread_mutex_lock(&s->mu);
    upto = s->appends;
    pthread_mutex_unlock(&s->mu);
    if (s->no_sync) {
        return BM_OK;
    }
    /* Without the lock: the block path's reads and acks go on meanwhile
     * (LMDB allows a sync beside a write transaction). */
    rc = mdb_env_sync(s->env, 1);
    pthread_mutex_lock(&s->mu);
    if (rc == 0) {
        if (upto > s->appends_durable) {
            s->appends_durable = upto;
        }
    } else {
        err = bm_errf(em, BM_EIO, "sync of '%s': %s%s",
                      bm__env_path(s->env), mdb_strerror(rc),
                      bm__env_io_hint(rc));
        (void)disk_error(s, rc, err, em);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

static uint64_t next_timestamp(struct bm_seq *s)
{
    uint64_t now = bm_clock_wall_ns(); /* a block timestamp: wall time */

    if (now <= s->last_ts) {
        now = s->last_ts + 1;
    }
    s->last_ts = now;
    return now;
}

/* Reads the queue from key `from` on into txs (owned array), at most
 * max_txs of them and, beyond the first, max_bytes (0: no limit) of their
 * size as Data entries; with ids (may be NULL), their keys into *ids
 * (owned array). *end is one past the last key read. */
static enum bm_err drain(struct bm_seq *s, uint64_t from, size_t max_txs,
                         uint64_t max_bytes, struct bm_buf **txs_out,
                         uint64_t **ids, size_t *n_out, uint64_t *end,
                         size_t *bytes_out, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    struct bm_buf *txs = NULL;
    uint64_t *keys = NULL;
    size_t n = 0;
    size_t cap = 0;
    uint64_t total = 0;
    uint64_t wire = 0; /* the txs' size as Data.txs entries */
    uint8_t be[8];
    MDB_val k = {8, be};
    MDB_val v;
    enum bm_err err = BM_OK;
    int rc;

    *end = from;
    bm_put_be64(be, from);
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_cursor_open(txn, s->queue, &cur);
    }
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8) {
            err = bm_errf(em, BM_ECORRUPT, "seq: queue key of %zu bytes",
                          k.mv_size);
            goto out;
        }
        if (n > 0 && max_bytes != 0 &&
            wire + bm_data_tx_wire_size(v.mv_size) > max_bytes) {
            break;
        }
        if (n >= max_txs || n >= BM_MAX_TXS) {
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            size_t nbytes;
            struct bm_buf *nt;

            if (!bm_size_mul(ncap, sizeof(*nt), &nbytes)) {
                err = BM_EOVERFLOW;
                goto out;
            }
            nt = bm_realloc(txs, nbytes);
            if (nt == NULL) {
                err = BM_ENOMEM;
                goto out;
            }
            txs = nt;
            if (ids != NULL) {
                uint64_t *nk = bm_realloc(keys, ncap * sizeof(*nk));

                if (nk == NULL) {
                    err = BM_ENOMEM;
                    goto out;
                }
                keys = nk;
            }
            cap = ncap;
        }
        txs[n].ptr = NULL;
        txs[n].len = 0;
        err = bm_buf_set(&txs[n], v.mv_data, v.mv_size);
        if (err) {
            goto out;
        }
        if (keys != NULL) {
            keys[n] = bm_get_be64(k.mv_data);
        }
        n++;
        total += v.mv_size;
        wire += bm_data_tx_wire_size(v.mv_size);
        *end = bm_get_be64(k.mv_data) + 1;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        err = bm_errf(em, bm_lmdb_err(rc), "seq: reading queue: %s",
                      mdb_strerror(rc));
    }
out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (err) {
        bm_exec_txs_free(txs, n);
        bm_free(keys);
        return err;
    }
    *txs_out = txs;
    if (ids != NULL) {
        *ids = keys;
    }
    *n_out = n;
    *bytes_out = (size_t)total;
    return BM_OK;
}

enum bm_err bm_seq_get_next_batch(struct bm_seq *s, const uint8_t *chain_id,
                                  size_t id_len, uint64_t max_bytes,
                                  struct bm_seq_batch *out,
                                  struct bm_errmsg *em)
{
    struct bm_buf *txs = NULL;
    enum bm_filter_status *st = NULL;
    size_t n = 0;
    size_t bytes = 0;
    size_t n_ok = 0;
    size_t n_pp = 0;
    uint64_t end = 0;
    enum bm_err err;

    bm_seq_batch_release(out);
    pthread_mutex_lock(&s->mu);
    err = check_id(s, chain_id, id_len, "get_next_batch", em);
    if (err) {
        goto out;
    }
    /* An un-acked batch is rolled back: the head is handed out again. */
    flight_reset(s);
    if (s->n_txs > 0) {
        err = drain(s, s->head,
                    s->max_batch_txs != 0 ? s->max_batch_txs : BM_MAX_TXS,
                    max_bytes, &txs, NULL, &n, &end,
                    &bytes, em);
        if (err) {
            goto out;
        }
    }
    if (n > 0) {
        st = bm_calloc(n, sizeof(*st));
        if (st == NULL) {
            err = BM_ENOMEM;
            goto out;
        }
        if (s->exec != NULL) {
            err = bm_executor_filter_txs(s->exec, txs, n, max_bytes, 0, false,
                                         st, em);
            if (err) {
                goto out;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (st[i] == BM_FILTER_POSTPONE) {
                n_pp++;
            }
        }
        if (n_pp > 0) {
            s->fl_postponed = bm_calloc(n_pp, sizeof(*s->fl_postponed));
            if (s->fl_postponed == NULL) {
                err = BM_ENOMEM;
                goto out;
            }
        }
        /* Compact in place: OK txs stay in txs[0..n_ok), postponed ones
         * move to fl_postponed, removed ones are freed. */
        for (size_t i = 0; i < n; i++) {
            if (st[i] == BM_FILTER_POSTPONE) {
                s->fl_postponed[s->fl_n_postponed++] = txs[i];
                continue;
            }
            if (st[i] == BM_FILTER_OK) {
                txs[n_ok++] = txs[i];
            } else {
                bm_buf_release(&txs[i]);
            }
        }
        s->fl_status = st;
        st = NULL;
        s->in_flight = true;
        s->fl_end = end;
        s->fl_txs = n;
        s->fl_bytes = bytes;
    }
    out->batch.txs = n_ok > 0 ? txs : NULL;
    out->batch.n_txs = n_ok;
    if (n_ok == 0) {
        bm_free(txs);
    }
    txs = NULL;
    n = 0;
    out->timestamp_ns = next_timestamp(s);
out:
    if (err) {
        flight_reset(s);
    }
    pthread_mutex_unlock(&s->mu);
    bm_exec_txs_free(txs, n);
    bm_free(st);
    return err;
}

enum bm_err bm_seq_ack(struct bm_seq *s, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint8_t be[8];
    MDB_val k = {8, be};
    MDB_val v;
    size_t pp_bytes = 0;
    size_t n_done = 0;
    uint8_t *fps = NULL;
    size_t rec_total = 0;
    enum bm_err err = BM_OK;
    int rc;

    err = lock_live(s, "seq ack", em);
    if (err) {
        goto out;
    }
    if (!s->in_flight) {
        goto out;
    }
    bm_put_be64(be, s->head);
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_cursor_open(txn, s->queue, &cur);
    }
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    while (rc == 0) {
        if (k.mv_size != 8 || bm_get_be64(k.mv_data) >= s->fl_end) {
            break;
        }
        rc = mdb_cursor_del(cur, 0);
        if (rc == 0) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    for (size_t j = 0; rc == 0 && j < s->fl_n_postponed; j++) {
        MDB_val pv = {s->fl_postponed[j].len, s->fl_postponed[j].ptr};

        bm_put_be64(be, s->next + j);
        k.mv_data = be;
        k.mv_size = 8;
        rc = mdb_put(txn, s->queue, &k, &pv, MDB_APPEND);
        pp_bytes += s->fl_postponed[j].len;
    }
    /* The acked (not postponed) txs join the persisted window. */
    n_done = s->fl_txs - s->fl_n_postponed;
    if (rc == 0) {
        rc = reserve_recent(s, txn, n_done, &fps);
    }
    if (rc == 0 && fps != NULL) {
        size_t at = 0;

        for (size_t j = 0; j < s->fl_txs; j++) {
            if (s->fl_status[j] != BM_FILTER_POSTPONE) {
                memcpy(fps + FP_SIZE * at++, ring_get(s, j)->b, FP_SIZE);
            }
        }
        rc = prune_recent(s, txn, n_done, &rec_total);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        err = write_failed(s, rc, "seq ack", em);
        goto out;
    }
    if (fps != NULL) {
        s->rec_total = rec_total;
        s->rec_next++;
    }
    /* Pop the acked hashes; postponed ones stay in the set and move to the
     * tail (no growth: as many slots were just freed). */
    {
        size_t moved = 0;

        for (size_t j = 0; j < s->fl_txs; j++) {
            const struct bm_hash *h = ring_get(s, j);

            if (s->fl_status[j] == BM_FILTER_POSTPONE) {
                ring_put(s, s->n_txs + moved++, h);
            } else {
                bm__txset_del(&s->set, h);
                bm__txwin_add(&s->recent, h);
            }
        }
        s->ring_start = (s->ring_start + s->fl_txs) % s->ring_cap;
    }
    s->head = s->fl_end;
    s->next += s->fl_n_postponed;
    s->n_txs = s->n_txs - s->fl_txs + s->fl_n_postponed;
    s->n_bytes = s->n_bytes - s->fl_bytes + pp_bytes;
    if (s->n_txs == 0) {
        s->head = s->next;
    }
    flight_reset(s);
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

/*
 * Deletes from the queue (in txn) every entry with a key from `from` on
 * whose hash is in match; the first gone_cap of their hashes go to
 * gone[], *cnt gets how many were deleted. Holds s->mu. Returns an LMDB
 * code.
 */
static int delete_matching(struct bm_seq *s, MDB_txn *txn,
                           const struct bm__txset *match, uint64_t from,
                           struct bm_hash *gone, size_t gone_cap,
                           size_t *cnt)
{
    MDB_cursor *cur = NULL;
    uint8_t be[8];
    MDB_val k = {8, be};
    MDB_val v;
    int rc;

    *cnt = 0;
    bm_put_be64(be, from);
    rc = mdb_cursor_open(txn, s->queue, &cur);
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    while (rc == 0) {
        struct bm_hash h;

        bm_exec_tx_hash(v.mv_data, v.mv_size, &h);
        if (bm__txset_has(match, &h)) {
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0) {
                break;
            }
            if (*cnt < gone_cap) {
                gone[*cnt] = h;
            }
            (*cnt)++;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Rebuilds the in-memory mirror (set, ring, counters) from the queue in
 * txn after entries were deleted; on failure the sequencer is marked
 * failed. Holds s->mu. */
static enum bm_err rebuild_mirror(struct bm_seq *s, MDB_txn *txn,
                                  struct bm_errmsg *em)
{
    enum bm_err err;

    bm__txset_clear(&s->set);
    s->n_txs = 0;
    s->n_bytes = 0;
    s->ring_start = 0;
    s->head = s->next;
    err = load_queue(s, txn, em);
    if (err) {
        s->failed = true;
    }
    return err;
}

/*
 * The write of bm_seq_drop_committed and bm_seq_note_committed, in one
 * transaction: deletes the queue entries from key `from` on whose hash is
 * in match (the first gone_cap of their hashes into gone[]) into *cnt,
 * and adds to the persisted window win[0..n_win), or, when win is NULL,
 * the deleted entries' hashes (gone[0..min(*cnt, gone_cap))). Rebuilds
 * the in-memory index after a delete (a commit that then fails marks the
 * sequencer failed). Holds s->mu. op names the call in errors.
 */
static enum bm_err remove_and_remember(struct bm_seq *s,
                                       const struct bm__txset *match,
                                       uint64_t from, struct bm_hash *gone,
                                       size_t gone_cap,
                                       const struct bm_hash *win, size_t n_win,
                                       size_t *cnt, const char *op,
                                       struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    uint8_t *fps = NULL;
    size_t rec_total = 0;
    enum bm_err err = BM_OK;
    int rc;

    *cnt = 0;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0 && match->len > 0 && s->n_txs > 0) {
        rc = delete_matching(s, txn, match, from, gone, gone_cap, cnt);
    }
    if (win == NULL) {
        win = gone;
        n_win = *cnt < gone_cap ? *cnt : gone_cap;
    }
    if (rc == 0) {
        rc = reserve_recent(s, txn, n_win, &fps);
    }
    if (rc == 0 && fps != NULL) {
        for (size_t i = 0; i < n_win; i++) {
            memcpy(fps + FP_SIZE * i, win[i].b, FP_SIZE);
        }
        rc = prune_recent(s, txn, n_win, &rec_total);
    }
    if (rc == 0 && *cnt > 0) {
        /* A batch in flight (the queue's first entries, untouched) keeps
         * the ring's first slots. */
        err = rebuild_mirror(s, txn, em);
        if (err) {
            goto out;
        }
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc != 0 && *cnt > 0) {
            s->failed = true; /* the mirror no longer matches the disk */
        }
    }
    if (rc != 0) {
        err = write_failed(s, rc, op, em);
        goto out;
    }
    if (fps != NULL) {
        s->rec_total = rec_total;
        s->rec_next++;
    }
    for (size_t i = 0; i < n_win; i++) {
        bm__txwin_add(&s->recent, &win[i]);
    }
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return err;
}

enum bm_err bm_seq_drop_committed(struct bm_seq *s, const struct bm_buf *txs,
                                  size_t n, size_t *dropped,
                                  struct bm_errmsg *em)
{
    struct bm__txset committed = {0};
    struct bm_hash *gone = NULL; /* hashes of the dropped entries */
    size_t cnt = 0;
    enum bm_err err = BM_OK;

    if (dropped != NULL) {
        *dropped = 0;
    }
    if (n > 0 && txs == NULL) {
        return bm_errf(em, BM_EINVAL, "drop_committed: txs is NULL");
    }
    for (size_t i = 0; i < n; i++) {
        struct bm_hash h;

        bm_exec_tx_hash(txs[i].ptr, txs[i].len, &h);
        err = bm__txset_add(&committed, &h);
        if (err == BM_EEXIST) {
            err = BM_OK;
        }
        if (err) {
            bm__txset_release(&committed);
            return err;
        }
    }
    gone = n > 0 ? bm_calloc(n, sizeof(*gone)) : NULL;
    if (n > 0 && gone == NULL) {
        bm__txset_release(&committed);
        return BM_ENOMEM;
    }
    err = lock_live(s, "drop_committed", em);
    if (err) {
        goto out;
    }
    /* A batch handed out and never acked is released first: its txs are
     * queued again (they are still on disk and in the mirror), then the
     * committed ones are dropped like any other. */
    if (s->in_flight) {
        flight_reset(s);
    }
    if (committed.len == 0 || s->n_txs == 0) {
        goto out;
    }
    /* A committed tx queued twice (only from before de-duplication was
     * exact) is dropped twice; gone keeps the first n. */
    err = remove_and_remember(s, &committed, 0, gone, n, NULL, 0, &cnt,
                              "drop_committed", em);
    if (err) {
        goto out;
    }
    if (dropped != NULL) {
        *dropped = cnt;
    }
    if (cnt > 0) {
        bm_log_info("seq", "dropped txs of the last committed block "
                    "count=%zu", cnt);
    }
out:
    pthread_mutex_unlock(&s->mu);
    bm__txset_release(&committed);
    bm_free(gone);
    return err;
}

enum bm_err bm_seq_verify_batch(struct bm_seq *s, const uint8_t *chain_id,
                                size_t id_len, const struct bm_buf *batch_data,
                                size_t n, bool *ok, struct bm_errmsg *em)
{
    enum bm_err err;

    (void)batch_data;
    (void)n;
    *ok = false;
    pthread_mutex_lock(&s->mu);
    err = check_id(s, chain_id, id_len, "verify_batch", em);
    pthread_mutex_unlock(&s->mu);
    if (err == BM_OK) {
        *ok = true;
    }
    return err;
}

void bm_seq_queue_size(struct bm_seq *s, size_t *n_txs, size_t *n_bytes)
{
    pthread_mutex_lock(&s->mu);
    if (n_txs != NULL) {
        *n_txs = s->n_txs;
    }
    if (n_bytes != NULL) {
        *n_bytes = s->n_bytes;
    }
    pthread_mutex_unlock(&s->mu);
}

enum bm_err bm_seq_note_committed(struct bm_seq *s,
                                  const struct bm_hash *hashes, size_t n,
                                  size_t *dropped, struct bm_errmsg *em)
{
    struct bm__txset queued = {0}; /* hashes[] that are queued now */
    size_t cnt = 0;
    size_t first = 0; /* only the last window-capacity hashes matter */
    enum bm_err err;

    err = enter(s, "note_committed", hashes, n, dropped, em);
    if (err || n == 0) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (bm__txset_has(&s->set, &hashes[i])) {
            err = bm__txset_add(&queued, &hashes[i]);
            if (err == BM_EEXIST) {
                err = BM_OK;
            }
            if (err) {
                goto out;
            }
        }
    }
    if (s->recent.cap < n) {
        first = n - s->recent.cap;
    }
    /* A batch in flight (the queue's first entries) is the Producer's:
     * its ack removes it. */
    err = remove_and_remember(s, &queued, s->in_flight ? s->fl_end : 0,
                              NULL, 0, hashes + first, n - first, &cnt,
                              "note_committed", em);
    if (err == BM_OK && dropped != NULL) {
        *dropped = cnt;
    }
out:
    pthread_mutex_unlock(&s->mu);
    bm__txset_release(&queued);
    return err;
}

enum bm_err bm_seq_peek(struct bm_seq *s, size_t max_txs, size_t max_bytes,
                        struct bm_buf **txs_out, uint64_t **ids_out,
                        size_t *n_out, struct bm_errmsg *em)
{
    uint64_t end = 0;
    size_t bytes = 0;
    enum bm_err err;

    *txs_out = NULL;
    *ids_out = NULL;
    *n_out = 0;
    if (max_txs == 0) {
        return bm_errf(em, BM_EINVAL, "seq peek: max_txs is 0");
    }
    err = lock_live(s, "seq peek", em);
    if (err == BM_OK && s->n_txs > (s->in_flight ? s->fl_txs : 0)) {
        /* A batch in flight is the Producer's: skipped. */
        err = drain(s, s->in_flight ? s->fl_end : s->head, max_txs,
                    max_bytes, txs_out, ids_out, n_out, &end, &bytes, em);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

enum bm_err bm_seq_forget(struct bm_seq *s, const uint64_t *ids, size_t n,
                          size_t *removed, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    size_t cnt = 0;
    enum bm_err err = BM_OK;
    int rc;

    err = enter(s, "seq forget", ids, n, removed, em);
    if (err) {
        goto out;
    }
    if (n == 0 || s->n_txs == 0) {
        goto out;
    }
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t be[8];
        MDB_val k = {8, be};

        if (s->in_flight && ids[i] >= s->head && ids[i] < s->fl_end) {
            continue; /* the Producer's batch: its ack removes it */
        }
        bm_put_be64(be, ids[i]);
        rc = mdb_del(txn, s->queue, &k, NULL);
        if (rc == 0) {
            cnt++;
        } else if (rc == MDB_NOTFOUND) {
            rc = 0;
        }
    }
    if (rc == 0 && cnt > 0) {
        /* A batch in flight is the queue's first entries, untouched: the
         * rebuilt ring keeps it in its first fl_txs slots. */
        err = rebuild_mirror(s, txn, em);
        if (err) {
            goto out;
        }
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc != 0) {
            s->failed = true; /* the mirror no longer matches the disk */
        }
    }
    if (rc != 0) {
        err = write_failed(s, rc, "seq forget", em);
        goto out;
    }
    if (removed != NULL) {
        *removed = cnt;
    }
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

enum bm_err bm_seq_requeue(struct bm_seq *s, const struct bm_buf *txs,
                           size_t n, size_t *queued, struct bm_errmsg *em)
{
    struct staged st = {0};
    enum bm_err *status = NULL;
    bool stored = false;
    enum bm_err err = BM_OK;

    err = enter(s, "seq requeue", txs, n, queued, em);
    if (err) {
        goto out;
    }
    if (n == 0) {
        goto out;
    }
    status = bm_calloc(n, sizeof(*status));
    err = status != NULL ? stage(s, txs, NULL, n, 0, status, &st, true)
                         : BM_ENOMEM;
    if (err == BM_OK) {
        err = commit_staged(s, txs, &st, "seq requeue", false, &stored,
                            em);
    }
    if (stored && queued != NULL) {
        *queued = st.cnt;
    }
out:
    pthread_mutex_unlock(&s->mu);
    staged_release(&st);
    bm_free(status);
    return err;
}
