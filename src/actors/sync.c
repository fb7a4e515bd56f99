/*
 * SyncActor (sync.h): the one place where blocks are executed and handed
 * to the State actor for commit.
 *
 * Two inputs share one apply path. APPLY carries the producer's block,
 * already signed and validated. HEADER_IN / DATA_IN carry pieces found on
 * DA or P2P; they wait in two bounded caches keyed by height (sorted
 * arrays, binary search) until the header and data of store height + 1
 * are both present (a header that marks an empty block gets synthesised
 * data), then the pair is validated (the Validator's check, run here;
 * the Validator actor only for a last-header-hash mismatch: validate_block),
 * executed and committed, and the loop moves on to the next height.
 *
 * The actor is detached: it blocks on the executor and on the State and
 * Validator actors (asks flow one way: Sync -> State, Sync -> Validator;
 * neither ever calls Sync). It tells StoreSync to wake after a group of
 * P2P blocks (a tell: StoreSync never waits on Sync). It keeps its own copy of the last committed
 * state, loaded from the State actor in the first handler and replaced
 * after each successful commit.
 */
#include "actors/sync.h"

#include <stdio.h>
#include <string.h>

#include "actors/catchup.h"
#include "actors/ha_gate.h"
#include "actors/replayer.h"
#include "actors/state.h"
#include "actors/store_sync.h"
#include "actors/validator.h"
#include "blockv2/ha.h"
#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "sync"

/* Executor attempts per block and the pause between them. */
#define EXEC_ATTEMPTS 3
#define EXEC_RETRY_MS 100
/* Deadlines of the asks Sync makes (generous: a loaded 2-core machine). */
#define GET_TIMEOUT_MS 30000
#define VALIDATE_TIMEOUT_MS 30000
#define COMMIT_TIMEOUT_MS 60000
#define ROLLBACK_TIMEOUT_MS 60000

/* One cached piece: a header (sh set) or a data (data set). */
struct cent {
    uint64_t height;
    uint64_t da_height;
    uint8_t source;
    struct bm_hash hash;         /* headers: Header.Hash() */
    struct bm_signed_header *sh; /* owned (header cache) */
    struct bm_data *data;        /* owned (data cache) */
    bool sig_verified;           /* headers: checked at the source */
};

/* Entries sorted by ascending height, at most one per height, n <= max:
 * buf[off .. off + n) (ents). Blocks are taken from the low end, one per
 * applied block: that moves `off` instead of every other entry. */
struct cache {
    struct cent *buf;
    size_t off;
    size_t n;
    size_t cap; /* entries allocated at buf */
    size_t max;
};

struct sync_st {
    struct bm_env *env;
    bool loaded;
    bool tail_noted; /* note_store_tail ran (HA candidates) */
    struct bm_state state; /* last committed */
    uint64_t da_progress;  /* DA_PROGRESS cursor; 0 = none yet */
    struct cache headers;
    struct cache data;
    /* DA heights found for blocks applied before DA delivered them
     * (P2P): rhb/<h>/h|d entries written with the next commit or flush,
     * always together with the DA cursor that covers them. */
    struct bm_state_meta_list da_seen;
    /* Groups across DA heights (sync.h): the last DA_PROGRESS said more
     * follows; since when ready blocks are held; the HOLD_OVER timer. */
    uint64_t more_until_ms; /* DA_PROGRESS.more: until then */
    uint64_t held_since_ms; /* 0 = nothing held */
    bool hold_armed;
    struct bm_timer_id hold_timer;
    struct bm_actor_id self;
};

/* ------------------------------------------------------------ payloads */

void bm_sync_apply_dtor(void *p)
{
    struct bm_sync_apply *a = p;

    bm_block_unref(a->blk);
    a->blk = NULL;
}

static void free_sh(struct bm_signed_header *sh)
{
    if (sh != NULL) {
        bm_signed_header_release(sh);
        bm_free(sh);
    }
}

static void free_data(struct bm_data *d)
{
    if (d != NULL) {
        bm_data_release(d);
        bm_free(d);
    }
}

void bm_sync_header_in_dtor(void *p)
{
    struct bm_sync_header_in *h = p;

    free_sh(h->sh);
    h->sh = NULL;
}

void bm_sync_data_in_dtor(void *p)
{
    struct bm_sync_data_in *d = p;

    free_data(d->data);
    d->data = NULL;
}

void bm_sync_items_in_dtor(void *p)
{
    struct bm_sync_items_in *m = p;

    for (size_t i = 0; i < m->n_headers && m->headers != NULL; i++) {
        bm_sync_header_in_dtor(&m->headers[i]);
    }
    for (size_t i = 0; i < m->n_data && m->data != NULL; i++) {
        bm_sync_data_in_dtor(&m->data[i]);
    }
    bm_free(m->headers);
    bm_free(m->data);
    memset(m, 0, sizeof(*m));
}

static int validate_apply(const void *payload, struct bm_errmsg *em)
{
    const struct bm_sync_apply *a = payload;

    if (a->blk == NULL) {
        return bm_errf(em, BM_EINVAL, "sync.apply.blk: got NULL, want a block");
    }
    return BM_OK;
}

static int validate_source(uint8_t source, const char *field,
                           struct bm_errmsg *em)
{
    if (source > BM_SRC_P2P) {
        return bm_errf(em, BM_EINVAL, "%s: got %u, want 0..%u", field,
                       (unsigned)source, (unsigned)BM_SRC_P2P);
    }
    return BM_OK;
}

static int validate_header_in(const void *payload, struct bm_errmsg *em)
{
    const struct bm_sync_header_in *h = payload;

    if (h->sh == NULL) {
        return bm_errf(em, BM_EINVAL,
                       "sync.header_in.sh: got NULL, want a signed header");
    }
    return validate_source(h->source, "sync.header_in.source", em);
}

static int validate_data_in(const void *payload, struct bm_errmsg *em)
{
    const struct bm_sync_data_in *d = payload;

    if (d->data == NULL) {
        return bm_errf(em, BM_EINVAL,
                       "sync.data_in.data: got NULL, want a data");
    }
    return validate_source(d->source, "sync.data_in.source", em);
}

static int validate_items_in(const void *payload, struct bm_errmsg *em)
{
    const struct bm_sync_items_in *m = payload;
    int err;

    if (m->n_headers > BM_SYNC_ITEMS_MAX || m->n_data > BM_SYNC_ITEMS_MAX ||
        m->n_headers + m->n_data == 0 ||
        (m->n_headers > 0 && m->headers == NULL) ||
        (m->n_data > 0 && m->data == NULL)) {
        return bm_errf(em, BM_EINVAL,
                       "sync.items_in: got %zu headers and %zu data, want "
                       "1..%u items in arrays",
                       m->n_headers, m->n_data, BM_SYNC_ITEMS_MAX);
    }
    for (size_t i = 0; i < m->n_headers; i++) {
        err = validate_header_in(&m->headers[i], em);
        if (err != BM_OK) {
            return err;
        }
    }
    for (size_t i = 0; i < m->n_data; i++) {
        err = validate_data_in(&m->data[i], em);
        if (err != BM_OK) {
            return err;
        }
    }
    return BM_OK;
}

/* ------------------------------------------------------------ caches */

static void cent_release(struct cent *e)
{
    free_sh(e->sh);
    free_data(e->data);
    memset(e, 0, sizeof(*e));
}

/* The live entries (n of them; NULL before the first insert). */
static struct cent *ents(const struct cache *c)
{
    return c->buf != NULL ? c->buf + c->off : NULL;
}

/* Index of the first entry with height >= h (n if none). */
static size_t cache_lower(const struct cache *c, uint64_t h)
{
    const struct cent *v = ents(c);
    size_t lo = 0, hi = c->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v[mid].height < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The entry at height h, or NULL. */
static struct cent *cache_find(struct cache *c, uint64_t h)
{
    size_t i = cache_lower(c, h);

    return i < c->n && ents(c)[i].height == h ? &ents(c)[i] : NULL;
}

/* Removes entry i without releasing it; *out gets it. */
static void cache_take(struct cache *c, size_t i, struct cent *out)
{
    struct cent *v = ents(c);

    *out = v[i];
    if (i == 0) {
        c->off++; /* the lowest: the usual case, nothing moves */
    } else {
        memmove(&v[i], &v[i + 1], (c->n - i - 1) * sizeof(v[0]));
    }
    c->n--;
    if (c->n == 0) {
        c->off = 0;
    }
}

static void cache_drop(struct cache *c, size_t i)
{
    struct cent e;

    cache_take(c, i, &e);
    cent_release(&e);
}

/*
 * Inserts *e (moved in: *e is zeroed on return either way) where no entry
 * of its height exists. When the cache is full the highest entry is
 * evicted, or *e itself is dropped if it is the highest. Returns true if
 * *e was kept.
 */
static bool cache_insert(struct cache *c, struct cent *e, const char *what)
{
    struct cent *v;
    size_t i;

    if (c->max == 0) {
        cent_release(e);
        return false;
    }
    if (c->n >= c->max) {
        if (e->height > ents(c)[c->n - 1].height) {
            bm_log_debug(MOD, "%s cache full, dropped height=%llu", what,
                         (unsigned long long)e->height);
            cent_release(e);
            return false;
        }
        bm_log_debug(MOD, "%s cache full, evicted height=%llu", what,
                     (unsigned long long)ents(c)[c->n - 1].height);
        cache_drop(c, c->n - 1);
    }
    if (c->off + c->n == c->cap && c->off > 0) {
        /* no room at the end: move the entries to the front */
        memmove(c->buf, ents(c), c->n * sizeof(c->buf[0]));
        c->off = 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;

        if (cap > c->max) {
            cap = c->max;
        }
        c->buf = bm_xrealloc(c->buf, cap * sizeof(c->buf[0]));
        c->cap = cap;
    }
    i = cache_lower(c, e->height);
    v = ents(c);
    memmove(&v[i + 1], &v[i], (c->n - i) * sizeof(v[0]));
    v[i] = *e;
    c->n++;
    memset(e, 0, sizeof(*e));
    return true;
}

/* Drops every entry at or below height h. */
static void cache_prune(struct cache *c, uint64_t h)
{
    size_t k = cache_lower(c, h + 1);
    struct cent *v = ents(c);

    if (k == 0) {
        return;
    }
    for (size_t i = 0; i < k; i++) {
        cent_release(&v[i]);
    }
    c->off += k;
    c->n -= k;
    if (c->n == 0) {
        c->off = 0;
    }
}

/* Lowest non-zero DA height in the cache, or UINT64_MAX. */
static uint64_t cache_min_da(const struct cache *c)
{
    const struct cent *v = ents(c);
    uint64_t m = UINT64_MAX;

    for (size_t i = 0; i < c->n; i++) {
        if (v[i].da_height != 0 && v[i].da_height < m) {
            m = v[i].da_height;
        }
    }
    return m;
}

static void cache_release(struct cache *c)
{
    struct cent *v = ents(c);

    for (size_t i = 0; i < c->n; i++) {
        cent_release(&v[i]);
    }
    bm_free(c->buf);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ helpers */

static uint64_t tip(const struct sync_st *st)
{
    return st->state.last_block_height;
}

static void note_store_tail(struct sync_st *st);

/* Loads the last committed state from the State actor (first handler). */
static int load(struct sync_st *st)
{
    struct bm_env *env = st->env;
    struct bm_state_get g = {0};
    struct bm_state_info info = {0};
    int err;

    if (st->loaded) {
        return BM_OK;
    }
    err = bm_state_call_get(env->sys, bm_env_state(env), &g, &info,
                            GET_TIMEOUT_MS);
    if (err != BM_OK) {
        bm_log_warn(MOD, "state get failed err=%s", bm_err_name(err));
        return err;
    }
    if (info.state == NULL) {
        bm_state_info_dtor(&info);
        bm_log_warn(MOD, "state get: reply without a state");
        return BM_EPROTO;
    }
    bm_state_release(&st->state);
    st->state = *info.state;
    memset(info.state, 0, sizeof(*info.state));
    bm_state_info_dtor(&info);
    st->loaded = true;
    bm_log_debug(MOD, "state loaded height=%llu", (unsigned long long)tip(st));
    if (!st->tail_noted) {
        note_store_tail(st);
    }
    return BM_OK;
}

/*
 * ExecuteTxs behind the executor breaker, EXEC_ATTEMPTS tries. An
 * executor that says it is behind (BM_EHEIGHT_MISMATCH: an execution
 * client that lost its last blocks) gets the missing blocks replayed from
 * the store once (actors/replayer.h) and the block again. A transient
 * failure (bm_executor_err_transient), or the breaker it opened, is
 * returned: nothing
 * is applied and the caller retries later. Inside a group whose earlier
 * blocks are not in the store yet (!may_replay) the replay cannot run:
 * BM_EHEIGHT_MISMATCH is returned, the caller commits the group so far
 * and starts the next one at this block. Any other last failure is
 * fatal, and BM_EIO (a full or failing disk) and BM_EEXEC_INVALID (the
 * execution client's verdict) at once. *res returns owned
 * on BM_OK.
 */
static int execute(struct sync_st *st, const struct bm_block *b,
                   bool may_replay, struct bm_exec_result *res)
{
    struct bm_env *env = st->env;
    const struct bm_header *h = &b->sh.header;
    struct bm_errmsg em = {{0}};
    bool replayed = false;
    int err = BM_EEXEC;

    for (int attempt = 1;; attempt++) {
        struct bm_breaker_token tok = {0};

        if (env->exec_breaker != NULL) {
            int berr = bm_breaker_allow(env->exec_breaker, &tok);

            if (berr != BM_OK) {
                if (em.msg[0] == '\0') {
                    /* opened by earlier transient failures: wait */
                    bm_log_debug(MOD, "executor breaker open height=%llu",
                                 (unsigned long long)h->height);
                    return berr;
                }
                bm_log_warn(MOD, "executor breaker opened height=%llu",
                            (unsigned long long)h->height);
                break;
            }
        }
        err = bm_executor_execute_txs(env->exec, b->data.txs, b->data.n_txs,
                                      h->height, h->time,
                                      st->state.app_hash.ptr,
                                      st->state.app_hash.len, res, &em);
        if (env->exec_breaker != NULL) {
            /* an executor that says it is behind answered: reachable */
            bm_breaker_report(env->exec_breaker, tok,
                              err == BM_OK || err == BM_EHEIGHT_MISMATCH);
        }
        if (err == BM_OK) {
            return BM_OK;
        }
        bm_log_warn(MOD, "execute failed height=%llu attempt=%d err=%s: %s",
                    (unsigned long long)h->height, attempt, bm_err_name(err),
                    bm_errmsg_str(&em, err));
        if (err == BM_EHEIGHT_MISMATCH && !may_replay) {
            return err;
        }
        if (err == BM_EHEIGHT_MISMATCH && !replayed &&
            !bm_env_halted(env)) {
            struct bm_errmsg rem = {{0}};
            int rerr;

            replayed = true;
            rerr = bm_replayer_sync(env, &st->state, &rem);
            if (rerr != BM_OK) {
                err = rerr;
                em = rem;
                break;
            }
            attempt--; /* the replay was the repair, not a try */
            continue;
        }
        /* BM_EIO: the executor's store met a full or failing disk; a
         * retry may fit in pages LMDB frees, but the first failure stops
         * the node (docs/OPERATIONS.md, "Disk full"). BM_EEXEC_INVALID:
         * the execution client judged the block invalid, a verdict a
         * retry cannot change. */
        if (attempt >= EXEC_ATTEMPTS || err == BM_EIO ||
            err == BM_EEXEC_INVALID || bm_env_halted(env)) {
            break;
        }
        bm_sleep_ms(EXEC_RETRY_MS);
    }
    if (bm_executor_err_transient(err)) {
        bm_log_warn(MOD, "executor unavailable, height %llu not applied "
                    "(retried later) err=%s: %s",
                    (unsigned long long)h->height, bm_err_name(err),
                    bm_errmsg_str(&em, err));
        return err;
    }
    atomic_fetch_add_explicit(&env->m.exec_failures, 1, memory_order_relaxed);
    bm_env_fatal(env, MOD, BM_EEXEC, "execute_txs at height %llu: %s (%s)",
                 (unsigned long long)h->height, bm_errmsg_str(&em, err),
                 bm_err_name(err));
    return BM_EEXEC;
}

/* Builds the State after block b from the current one and the result. */
static int next_state(const struct sync_st *st, const struct bm_block *b,
                      struct bm_exec_result *res, struct bm_state *ns)
{
    const struct bm_header *h = &b->sh.header;
    uint64_t da = st->state.da_height;
    int err;

    err = bm_state_copy(ns, &st->state);
    if (err != BM_OK) {
        return err;
    }
    ns->last_block_height = h->height;
    ns->last_block_time.seconds = (int64_t)(h->time / 1000000000ull);
    ns->last_block_time.nanos = (int32_t)(h->time % 1000000000ull);
    bm_buf_release(&ns->app_hash);
    ns->app_hash = res->state_root;
    memset(&res->state_root, 0, sizeof(res->state_root));
    err = bm_buf_set(&ns->last_header_hash, b->hash.b, BM_HASH_SIZE);
    if (err != BM_OK) {
        return err;
    }
    if (res->next_proposer.len > 0) {
        bm_buf_release(&ns->next_proposer_address);
        ns->next_proposer_address = res->next_proposer;
        memset(&res->next_proposer, 0, sizeof(res->next_proposer));
    }
    if (b->header_da_height > da) {
        da = b->header_da_height;
    }
    if (b->data_da_height > da) {
        da = b->data_da_height;
    }
    ns->da_height = da;
    return BM_OK;
}

/*
 * Commits through the State actor: takes one reference of b, moves *meta
 * in (released either way), borrows ns (a copy goes into the message).
 */
static int commit(struct sync_st *st, struct bm_block *b,
                  const struct bm_state *ns, struct bm_state_meta_list *meta,
                  bool clear_pending, uint8_t source)
{
    struct bm_env *env = st->env;
    struct bm_state_commit c = {0};
    struct bm_state_ack ack = {0};
    struct bm_future *f = NULL;
    int err;

    c.new_state = bm_xcalloc(1, sizeof(*c.new_state));
    err = bm_state_copy(c.new_state, ns);
    if (err != BM_OK) {
        bm_free(c.new_state);
        bm_state_meta_list_release(meta);
        return err;
    }
    c.blk = bm_block_ref(b);
    c.meta = *meta;
    memset(meta, 0, sizeof(*meta));
    c.clear_pending = clear_pending;
    c.source = source;
    err = bm_state_ask_commit(env->sys, bm_env_state(env), &c,
                              COMMIT_TIMEOUT_MS, &f);
    if (err != BM_OK) {
        bm_state_commit_dtor(&c);
    } else {
        err = bm_future_wait(f, -1, &ack, sizeof(ack));
        bm_future_free(f);
    }
    if (err != BM_OK && !bm_env_halted(env)) {
        /* The State actor makes its own write errors fatal. Anything else
         * (State restarting or stopping, a full mailbox, a lost reply) may
         * or may not have committed: forget our copy of the state and
         * reload it from the State actor before the next block; the block
         * is retried (the producer reuses its pending block, DA pieces go
         * back to the caches; re-execution of a height is idempotent). */
        bm_log_warn(MOD, "commit of height %llu not confirmed err=%s; "
                    "reloading the state",
                    (unsigned long long)b->sh.header.height,
                    bm_err_name(err));
        st->loaded = false;
    }
    return err;
}

/*
 * The common apply path: execute block b (borrowed; its height must be
 * tip + 1), commit it with *meta (moved in), and adopt the new state.
 * *out (may be NULL) gets the result.
 */
static int apply_block(struct sync_st *st, struct bm_block *b, uint8_t source,
                       bool clear_pending, struct bm_state_meta_list *meta,
                       struct bm_sync_applied *out)
{
    const struct bm_header *h = &b->sh.header;
    struct bm_exec_result res = {0};
    struct bm_state ns = {0};
    int err;

    if (h->height != tip(st) + 1) {
        bm_state_meta_list_release(meta);
        bm_log_warn(MOD, "apply: height %llu is not the next height %llu",
                    (unsigned long long)h->height,
                    (unsigned long long)(tip(st) + 1));
        return BM_EHEIGHT_MISMATCH;
    }
    err = execute(st, b, true, &res);
    if (err != BM_OK) {
        bm_state_meta_list_release(meta);
        goto out;
    }
    err = next_state(st, b, &res, &ns);
    if (err != BM_OK) {
        bm_state_meta_list_release(meta);
        goto out;
    }
    err = commit(st, b, &ns, meta, clear_pending, source);
    if (err != BM_OK) {
        goto out;
    }
    bm_state_release(&st->state);
    st->state = ns;
    memset(&ns, 0, sizeof(ns));
    /* (the State actor marked the block seen with the commit) */
    cache_prune(&st->headers, h->height);
    cache_prune(&st->data, h->height);

    /* The State actor counts the block in the metrics and logs it. */
    bm_log_debug(MOD, "block applied height=%llu txs=%zu source=%u",
                 (unsigned long long)h->height, b->data.n_txs,
                 (unsigned)source);
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        out->height = h->height;
        out->app_hash_len = (uint32_t)(st->state.app_hash.len < BM_HASH_SIZE
                                           ? st->state.app_hash.len
                                           : BM_HASH_SIZE);
        if (out->app_hash_len > 0) {
            memcpy(out->app_hash.b, st->state.app_hash.ptr, out->app_hash_len);
        }
    }
out:
    bm_exec_result_release(&res);
    bm_state_release(&ns);
    return err;
}

/*
 * The data of an empty block whose data was not delivered (spec 3.5):
 * metadata {chain, height, time = header time, last_data_hash of the
 * previous block if present}, no txs. The previous block's data is
 * prev_data (borrowed) when it is not in the store yet (an earlier
 * member of the same group), else NULL: read from the store.
 */
static struct bm_data *synth_empty_data(struct sync_st *st,
                                        const struct bm_header *h,
                                        const struct bm_data *prev_data)
{
    struct bm_data *d = bm_xcalloc(1, sizeof(*d));
    struct bm_store_blockbuf prev = {0};

    d->has_metadata = true;
    if (bm_str_set(&d->metadata.chain_id, h->chain_id) != BM_OK) {
        free_data(d);
        return NULL;
    }
    d->metadata.height = h->height;
    d->metadata.time = h->time;
    if (prev_data != NULL) {
        struct bm_hash ph;

        if (bm_data_hash(prev_data, &ph) != BM_OK ||
            bm_buf_set(&d->metadata.last_data_hash, ph.b, BM_HASH_SIZE) !=
                BM_OK) {
            free_data(d);
            return NULL;
        }
    } else if (h->height > 1 &&
        bm_store_get_block(st->env->store, h->height - 1, &prev, NULL) ==
            BM_OK) {
        struct bm_data pd = {0};
        struct bm_hash ph;

        if (bm_data_decode(&pd, prev.data.ptr, prev.data.len) == BM_OK &&
            bm_data_hash(&pd, &ph) == BM_OK &&
            bm_buf_set(&d->metadata.last_data_hash, ph.b, BM_HASH_SIZE) !=
                BM_OK) {
            bm_data_release(&pd);
            bm_store_blockbuf_release(&prev);
            free_data(d);
            return NULL;
        }
        bm_data_release(&pd);
        bm_store_blockbuf_release(&prev);
    }
    return d;
}

/* Which side a validation code blames. */
enum blame { BLAME_HEADER = 1, BLAME_DATA = 2, BLAME_BOTH = 3 };

static enum blame blame_of(int code)
{
    switch (code) {
    case BM_ENO_PROPOSER:
    case BM_ENO_SIGNATURE:
    case BM_EPROPOSER_MISMATCH:
    case BM_EADDRESS_MISMATCH:
    case BM_ENO_PUBKEY:
    case BM_EBAD_SIGNATURE:
    case BM_ECHAIN_ID_MISMATCH:
    case BM_EHEIGHT_MISMATCH:
    case BM_ETIME_NOT_MONOTONIC:
    case BM_ELAST_HEADER_HASH:
    case BM_EAPP_HASH_MISMATCH:
    case BM_ENOT_PROPOSER:
        return BLAME_HEADER;
    case BM_ENO_METADATA:
    case BM_EDATA_CHAIN_ID:
    case BM_EDATA_HEIGHT:
    case BM_EDATA_TIME:
    case BM_EDATA_HASH_MISMATCH:
    case BM_EEMPTY_BLOCK:
    case BM_ELAST_DATA_HASH:
        return BLAME_DATA;
    default:
        return BLAME_BOTH;
    }
}

/*
 * Validates b against the current state: the Validator's check
 * (bm_validator_check) run here, on Sync's own thread, without the
 * once-per-process last-header-hash tolerance, so that a block costs no
 * hand-off to the Validator actor and no copy of the state. Only a block
 * that this finds with a last-header-hash mismatch is asked of the
 * Validator actor, which owns the tolerance and decides exactly as
 * before (the same rules run in the same order: the answers differ only
 * where the tolerance applies). Returns BM_OK with *code set (BM_OK or
 * the validation code, message in msg), or the ask's error.
 */
static int validate_block(struct sync_st *st, struct bm_block *b, int *code,
                          char *msg, size_t msg_len)
{
    struct bm_errmsg em = {{0}};
    int c;

    c = bm_validator_check(b, &st->state, &st->env->genesis->proposer_address,
                           NULL, 0, &em);
    if (c == BM_ELAST_HEADER_HASH) {
        return bm_validator_request(st->env, b, &st->state,
                                    VALIDATE_TIMEOUT_MS, code, msg, msg_len);
    }
    *code = c;
    snprintf(msg, msg_len, "%s", c == BM_OK ? "" : bm_errmsg_str(&em, c));
    return BM_OK;
}

/* Puts a copy of the header (or data) of b back into its cache. */
static void requeue_header(struct sync_st *st, const struct bm_block *b,
                           const struct cent *orig)
{
    struct cent e = *orig;

    e.data = NULL;
    e.sh = bm_xcalloc(1, sizeof(*e.sh));
    if (bm_signed_header_copy(e.sh, &b->sh) != BM_OK) {
        free_sh(e.sh);
        return;
    }
    cache_insert(&st->headers, &e, "header");
}

static void requeue_data(struct sync_st *st, const struct bm_block *b,
                         const struct cent *orig)
{
    struct cent e = *orig;

    e.sh = NULL;
    e.data = bm_xcalloc(1, sizeof(*e.data));
    if (bm_data_copy(e.data, &b->data) != BM_OK) {
        free_data(e.data);
        return;
    }
    cache_insert(&st->data, &e, "data");
}

/* The last-submitted heights as a group advances them (an aggregator
 * catching up, sync_meta): the State actor's gauges when the group
 * starts, then what the group's blocks set. */
struct submitted {
    uint64_t header;
    uint64_t data;
};

/* Adds last-submitted-{header,data}-height = h for each that is h - 1. */
static int advance_submitted(struct submitted *sub,
                             struct bm_state_meta_list *meta, uint64_t h)
{
    int err = BM_OK;

    if (sub->header + 1 == h) {
        err = bm_state_meta_add_u64(meta, BM_META_LAST_SUBMITTED_HEADER, h);
        sub->header = h;
    }
    if (err == BM_OK && sub->data + 1 == h) {
        err = bm_state_meta_add_u64(meta, BM_META_LAST_SUBMITTED_DATA, h);
        sub->data = h;
    }
    return err;
}

/* The DA cursor to persist: the progress cursor, lowered to the lowest DA
 * height of a cached item (those blobs must be scanned again after a
 * restart). Only when st->da_progress != 0. */
static uint64_t da_cursor(const struct sync_st *st)
{
    uint64_t cur = st->da_progress;
    uint64_t m = cache_min_da(&st->headers);

    if (m < cur) {
        cur = m;
    }
    m = cache_min_da(&st->data);
    return m < cur ? m : cur;
}

/* Metadata of a DA- or P2P-sourced commit: rhb/<h>/h|d and the DA
 * records of blocks applied before (st->da_seen, when with_seen: once per
 * group, cleared once the commit is confirmed). The DA cursor is added
 * once per group, to its last block (group_cursor). */
static int sync_meta(struct sync_st *st, const struct cent *he,
                     const struct cent *de, bool empty_data, bool with_seen,
                     struct submitted *sub, struct bm_state_meta_list *meta)
{
    char name[64];
    uint64_t h = he->height;
    int err = BM_OK;

    /* Where the pieces are on DA (the header may have come by P2P and
     * its copy on DA been seen while it was cached: on_header_in). */
    if (he->da_height != 0) {
        uint64_t dd = empty_data ? he->da_height : de->da_height;

        bm_meta_rhb_name(name, sizeof(name), h, 'h');
        err = bm_state_meta_add_u64(meta, name, he->da_height);
        if (err == BM_OK && dd != 0) {
            bm_meta_rhb_name(name, sizeof(name), h, 'd');
            err = bm_state_meta_add_u64(meta, name, dd);
        }
        /* An aggregator catching up: this block is on DA already. When
         * it is the next one to submit, the DASubmitter need not post it
         * (the DASubmitter is idle meanwhile, so the State actor's gauges
         * are current when a group starts, and the group advances its own
         * copy). After a gap (blocks this node has but never saw on DA, so
         * it does not know where they are) the DASubmitter posts them and
         * what follows again. */
        if (err == BM_OK && he->source == BM_SRC_DA &&
            st->env->cfg.aggregator) {
            err = advance_submitted(sub, meta, h);
        }
    } else if (!empty_data && de->da_height != 0) {
        /* The header came by P2P, the data from DA earlier (it waited in
         * the cache): record where the data is, or the DAIncluder would
         * wait for a blob the retriever has passed. The header's DA
         * height comes when DA delivers it (da_header_at_applied). */
        bm_meta_rhb_name(name, sizeof(name), h, 'd');
        err = bm_state_meta_add_u64(meta, name, de->da_height);
    }
    if (err == BM_OK && with_seen) {
        err = bm_state_meta_append(meta, &st->da_seen);
    }
    return err;
}

/*
 * The DA cursor of a group, added to the metadata of its last block once
 * every member was taken out of the caches (and the pieces of a block
 * that ended the group put back): the group is one store transaction, so
 * a cursor per block would only be overwritten, and computing it scans
 * both caches.
 */
static int group_cursor(const struct sync_st *st,
                        struct bm_state_meta_list *meta)
{
    if (st->da_progress == 0) {
        return BM_OK;
    }
    return bm_state_meta_add_u64(meta, BM_META_DA_CURSOR, da_cursor(st));
}

/* True if the header, and unless it marks an empty block the data, of
 * height h are cached. */
static bool ready_at(struct sync_st *st, uint64_t h)
{
    struct cent *he = cache_find(&st->headers, h);

    return he != NULL && (bm_header_expects_empty_data(&he->sh->header) ||
                          cache_find(&st->data, h) != NULL);
}

/* Consecutive heights from tip + 1 that are ready, at most max. */
static size_t count_ready(struct sync_st *st, size_t max)
{
    size_t n = 0;

    while (n < max && ready_at(st, tip(st) + 1 + n)) {
        n++;
    }
    return n;
}

/* One block of a group: the block (one reference) and what its pieces
 * were (he/de without their payload, which moved into b). */
struct member {
    struct bm_block *b;
    struct cent he;
    struct cent de;
    bool synth;
};

/* Takes the header and data (or synthesised empty data) of tip + 1 out
 * of the caches into a new block. ready_at(tip + 1) must hold. prev
 * (borrowed, may be NULL): the block at tip when it is not in the store
 * yet (the group's member before). */
static int take_block(struct sync_st *st, struct member *m,
                      const struct bm_block *prev)
{
    uint64_t next = tip(st) + 1;
    struct bm_block *b;

    memset(m, 0, sizeof(*m));
    cache_take(&st->headers, cache_lower(&st->headers, next), &m->he);
    if (cache_find(&st->data, next) != NULL) {
        cache_take(&st->data, cache_lower(&st->data, next), &m->de);
    } else {
        m->de.height = next;
        m->de.data = synth_empty_data(st, &m->he.sh->header,
                                      prev != NULL ? &prev->data : NULL);
        if (m->de.data == NULL) {
            cent_release(&m->he);
            return BM_ENOMEM;
        }
        m->synth = true;
    }
    b = bm_block_new();
    b->sh = *m->he.sh;
    bm_free(m->he.sh);
    m->he.sh = NULL;
    b->data = *m->de.data;
    bm_free(m->de.data);
    m->de.data = NULL;
    b->header_da_height = m->he.da_height;
    b->data_da_height = m->synth ? 0 : m->de.da_height;
    b->hash = m->he.hash;
    b->sig_verified = m->he.sig_verified;
    m->b = b;
    return BM_OK;
}

/* Puts the pieces of m back into the caches (a block not applied). */
static void requeue(struct sync_st *st, const struct member *m)
{
    requeue_header(st, m->b, &m->he);
    if (!m->synth) {
        requeue_data(st, m->b, &m->de);
    }
}

/* Drops the blamed piece(s) of a block that failed validation and puts
 * the others back. */
static void drop_invalid(struct sync_st *st, const struct member *m,
                         int code, const char *msg)
{
    struct bm_env *env = st->env;
    enum blame bl = blame_of(code);

    bm_log_warn(MOD, "block dropped height=%llu source=%u code=%s: %s",
                (unsigned long long)m->he.height, (unsigned)m->he.source,
                bm_err_name(code), msg);
    if (m->he.source == BM_SRC_P2P || m->de.source == BM_SRC_P2P) {
        atomic_fetch_add_explicit(&env->m.p2p_blocks_rejected, 1,
                                  memory_order_relaxed);
    }
    if (m->synth) {
        bl = BLAME_BOTH;
    }
    if (!(bl & BLAME_HEADER)) {
        requeue_header(st, m->b, &m->he);
    }
    if (!(bl & BLAME_DATA)) {
        requeue_data(st, m->b, &m->de);
    }
}

/*
 * After a group with P2P blocks is committed: StoreSync hands over at
 * most its AHEAD heights above the store height, so it is told that the
 * store moved (a WAKE: idempotent, its mailbox drops the oldest) and
 * hands over the next range while this thread applies what it has,
 * instead of waiting for its next TICK (a block time) once the P2P
 * layer stopped waking it.
 */
static void wake_store_sync(struct sync_st *st, const struct member *ms,
                            size_t n)
{
    struct bm_env *env = st->env;
    struct bm_store_sync_tick t = {0};

    if (bm_actor_id_is_none(env->ids.store_sync)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (ms[i].he.source == BM_SRC_P2P || ms[i].de.source == BM_SRC_P2P) {
            (void)bm_store_sync_tell_wake(env->sys, bm_env_store_sync(env),
                                          &t);
            return;
        }
    }
}

/*
 * Commits c[0..n) (moved in: the array and every entry are released
 * either way), with the group's DA cursor (group_cursor), in one
 * COMMIT_GROUP and waits for it. An unconfirmed commit
 * makes Sync reload its state from the State actor before the next block
 * (as commit() does).
 */
static int commit_group(struct sync_st *st, struct bm_state_commit *c,
                        size_t n)
{
    struct bm_env *env = st->env;
    struct bm_state_commit_group g = {c, n};
    struct bm_state_ack ack = {0};
    struct bm_future *f = NULL;
    uint64_t first = c[0].blk->sh.header.height;
    int err;

    err = group_cursor(st, &c[n - 1].meta);
    if (err == BM_OK) {
        err = bm_state_ask_commit_group(env->sys, bm_env_state(env), &g,
                                        COMMIT_TIMEOUT_MS, &f);
    }
    if (err != BM_OK) {
        bm_state_commit_group_dtor(&g);
    } else {
        err = bm_future_wait(f, -1, &ack, sizeof(ack));
        bm_future_free(f);
    }
    if (err != BM_OK && !bm_env_halted(env)) {
        bm_log_warn(MOD, "commit of heights %llu..%llu not confirmed err=%s; "
                    "reloading the state",
                    (unsigned long long)first,
                    (unsigned long long)(first + n - 1), bm_err_name(err));
        st->loaded = false;
    }
    return err;
}

/*
 * On an HA candidate (docs/HA.md, "Transactions"): the txs of ds[0..n)
 * (borrowed), committed blocks at heights from..to, were put in blocks by
 * another leader (or by this node earlier). One call for all of them
 * drops their queued copies from the local queue and adds them to the
 * sequencer's window of recent txs, so a copy forwarded to (or re-sent
 * to) this node once it leads is a duplicate. Failing that would let a tx
 * be included twice: the node stops.
 */
static void note_txs(struct bm_env *env, const struct bm_data *const *ds,
                     size_t n, uint64_t from, uint64_t to)
{
    struct bm_errmsg em = {{0}};
    struct bm_hash *hs;
    size_t total = 0, at = 0, dropped = 0;
    int err;

    for (size_t i = 0; i < n; i++) {
        total += ds[i]->n_txs; /* each below BM_MAX_TXS */
    }
    if (total == 0) {
        return;
    }
    hs = bm_xcalloc(total, sizeof(*hs));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < ds[i]->n_txs; j++) {
            bm_exec_tx_hash(ds[i]->txs[j].ptr, ds[i]->txs[j].len, &hs[at++]);
        }
    }
    err = bm_seq_note_committed(env->seq, hs, total, &dropped, &em);
    bm_free(hs);
    if (err != BM_OK) {
        bm_env_fatal(env, MOD, err, "sequencer: noting the %zu txs of heights "
                     "%llu..%llu as committed: %s", total,
                     (unsigned long long)from, (unsigned long long)to,
                     bm_errmsg_str(&em, err));
        return;
    }
    if (dropped > 0) {
        bm_log_info(MOD, "dropped queued txs already in blocks count=%zu "
                    "heights=%llu..%llu", dropped, (unsigned long long)from,
                    (unsigned long long)to);
    }
}

/* note_txs for the group ms[0..n) just committed. */
static void note_committed_txs(struct sync_st *st, const struct member *ms,
                               size_t n)
{
    const struct bm_data **ds;

    if (st->env->ha == NULL || st->env->seq == NULL || n == 0) {
        return;
    }
    ds = bm_xcalloc(n, sizeof(*ds));
    for (size_t i = 0; i < n; i++) {
        ds[i] = &ms[i].b->data;
    }
    note_txs(st->env, ds, n, ms[0].he.height, ms[n - 1].he.height);
    bm_free(ds);
}

/*
 * Once, at the first load on an HA candidate: a kill between a group's
 * store commit and its note_committed_txs left that group's txs in the
 * queue and out of the window. The store's last BM_SYNC_GROUP_MAX blocks
 * (after the start-up rollback of a deposed head) are noted again: their
 * txs are in committed blocks either way, and a tx already noted or acked
 * is only added to the window again.
 */
static void note_store_tail(struct sync_st *st)
{
    struct bm_env *env = st->env;
    uint64_t top = tip(st);
    uint64_t lo = env->genesis->initial_height;
    struct bm_data *ds;
    const struct bm_data **dp;
    size_t n = 0;

    st->tail_noted = true;
    if (env->ha == NULL || env->seq == NULL || top < lo) {
        return;
    }
    if (top - lo + 1 > BM_SYNC_GROUP_MAX) {
        lo = top - BM_SYNC_GROUP_MAX + 1;
    }
    ds = bm_xcalloc(top - lo + 1, sizeof(*ds));
    dp = bm_xcalloc(top - lo + 1, sizeof(*dp));
    for (uint64_t h = lo; h <= top; h++) {
        struct bm_store_blockbuf bb = {0};
        struct bm_errmsg em = {{0}};
        int err = bm_store_get_block(env->store, h, &bb, &em);

        if (err == BM_OK &&
            bm_data_decode(&ds[n], bb.data.ptr, bb.data.len) != BM_OK) {
            err = bm_errf(&em, BM_ECORRUPT, "stored data does not decode");
        }
        bm_store_blockbuf_release(&bb);
        if (err != BM_OK) {
            bm_env_fatal(env, MOD, err, "reading block %llu to note its txs: "
                         "%s", (unsigned long long)h,
                         bm_errmsg_str(&em, err));
            goto out;
        }
        dp[n] = &ds[n];
        n++;
    }
    note_txs(env, dp, n, lo, top);
out:
    for (size_t i = 0; i < top - lo + 1; i++) {
        bm_data_release(&ds[i]);
    }
    bm_free(ds);
    bm_free(dp);
}

/*
 * Validates, executes and commits up to `want` ready blocks from tip + 1
 * as one group (see sync.h): each block is validated against the state
 * after the one before and executed on top of it; then all of them are
 * committed in one store transaction and, when the executor can batch
 * and the group has more than one block, made durable in the executor
 * with one commit_group. A block that fails validation has its blamed
 * piece(s) dropped and ends the group. Errors of the asks and of
 * execution end the group too; the blocks before are still committed.
 */
static int apply_group(struct sync_st *st, size_t want)
{
    struct bm_env *env = st->env;
    struct bm_state_commit *commits = bm_xcalloc(want, sizeof(*commits));
    struct member *ms = bm_xcalloc(want, sizeof(*ms));
    struct submitted sub = {
        atomic_load_explicit(&env->m.last_submitted_header,
                             memory_order_relaxed),
        atomic_load_explicit(&env->m.last_submitted_data,
                             memory_order_relaxed)};
    bool grouped = want > 1 && bm_executor_can_group(env->exec);
    struct bm_errmsg em = {{0}};
    size_t n = 0, bytes = 0;
    int err = BM_OK, cerr;

    if (grouped) {
        err = bm_executor_begin_group(env->exec, &em);
        if (err != BM_OK) {
            bm_log_warn(MOD, "executor group not started err=%s: %s; "
                        "durable per block", bm_err_name(err),
                        bm_errmsg_str(&em, err));
            grouped = false;
            err = BM_OK;
        }
    }
    while (n < want && bytes < BM_SYNC_GROUP_MAX_BYTES) {
        struct member *m = &ms[n];
        struct bm_state_commit *c = &commits[n];
        struct bm_exec_result res = {0};
        struct bm_state ns = {0};
        char msg[256];
        int code = BM_OK;

        if (bm_env_halted(env)) {
            err = BM_ESHUTDOWN;
            break;
        }
        if (!ready_at(st, tip(st) + 1)) {
            break; /* an invalid block dropped a piece */
        }
        err = take_block(st, m, n > 0 ? ms[n - 1].b : NULL);
        if (err != BM_OK) {
            break;
        }
        err = validate_block(st, m->b, &code, msg, sizeof(msg));
        if (err != BM_OK) {
            bm_log_warn(MOD, "validate height=%llu: ask failed err=%s",
                        (unsigned long long)m->he.height, bm_err_name(err));
            requeue(st, m);
            break;
        }
        if (code != BM_OK) {
            drop_invalid(st, m, code, msg);
            bm_block_unref(m->b);
            memset(m, 0, sizeof(*m));
            continue;
        }
        err = sync_meta(st, &m->he, &m->de,
                        m->synth ||
                            (m->b->data.n_txs == 0 && m->de.da_height == 0),
                        n == 0, &sub, &c->meta);
        if (err == BM_OK) {
            err = execute(st, m->b, n == 0, &res);
        }
        if (err == BM_OK) {
            err = next_state(st, m->b, &res, &ns);
        }
        bm_exec_result_release(&res);
        if (err != BM_OK) {
            bm_state_release(&ns);
            bm_state_meta_list_release(&c->meta);
            if (!bm_env_halted(env)) {
                requeue(st, m);
            }
            if (err == BM_EHEIGHT_MISMATCH && n > 0) {
                err = BM_OK; /* the next group replays first (execute) */
            }
            break;
        }
        c->new_state = bm_xcalloc(1, sizeof(*c->new_state));
        err = bm_state_copy(c->new_state, &ns);
        if (err != BM_OK) {
            bm_free(c->new_state);
            c->new_state = NULL;
            bm_state_meta_list_release(&c->meta);
            bm_state_release(&ns);
            requeue(st, m);
            break;
        }
        c->blk = bm_block_ref(m->b);
        c->source = m->he.source;
        bm_state_release(&st->state);
        st->state = ns; /* the next block validates against this */
        for (size_t i = 0; i < m->b->data.n_txs; i++) {
            bytes += m->b->data.txs[i].len;
        }
        n++;
    }
    if (n > 0) {
        uint64_t first = ms[0].he.height, last = ms[n - 1].he.height;

        cerr = commit_group(st, commits, n); /* takes commits */
        commits = NULL;
        if (cerr == BM_OK) {
            /* committed; the State actor marked the blocks seen */
            bm_state_meta_list_release(&st->da_seen);
            cache_prune(&st->headers, last);
            cache_prune(&st->data, last);
            wake_store_sync(st, ms, n);
            note_committed_txs(st, ms, n);
            bm_log_debug(MOD, "blocks applied from=%llu to=%llu grouped=%d",
                         (unsigned long long)first, (unsigned long long)last,
                         (int)grouped);
            bm_catchup_ha_synced(env); /* HA: a new leader at the record */
        } else if (!bm_env_halted(env)) {
            /* Not applied (or not confirmed): keep the pieces for a retry
             * (dropped later if the store has them after all). */
            for (size_t i = 0; i < n; i++) {
                requeue(st, &ms[i]);
            }
        }
        if (err == BM_OK) {
            err = cerr;
        }
    }
    if (grouped) {
        /* After the store's commit: a crash before this leaves the
         * executor behind the store (replayed at start) or, if its
         * heights reached the disk anyway, ahead by at most this group
         * (rolled back at start). */
        cerr = bm_executor_commit_group(env->exec, &em);
        if (cerr != BM_OK) {
            bm_env_fatal(env, MOD, cerr, "executor commit_group: %s",
                         bm_errmsg_str(&em, cerr));
            if (err == BM_OK) {
                err = cerr;
            }
        }
    }
    for (size_t i = 0; i < want; i++) {
        bm_block_unref(ms[i].b);
    }
    bm_free(ms);
    if (commits != NULL) {
        bm_free(commits); /* nothing in it: n == 0 */
    }
    return err;
}

/*
 * Applies cached blocks while the header and data of tip + 1 are present,
 * in groups of up to BM_SYNC_GROUP_MAX. Validation failures drop the
 * blamed piece(s) and go on; other errors are returned.
 */
static int try_sync(struct sync_st *st)
{
    for (;;) {
        size_t want;
        int err;

        if (bm_env_halted(st->env)) {
            return BM_ESHUTDOWN;
        }
        want = count_ready(st, BM_SYNC_GROUP_MAX);
        if (want == 0) {
            return BM_OK;
        }
        err = apply_group(st, want);
        if (err != BM_OK) {
            return err;
        }
    }
}

/*
 * Applies the ready blocks now, or holds them for a bigger group (sync.h
 * "Groups across DA heights"). While the Retriever's last DA_PROGRESS
 * (at most BM_SYNC_HOLD_MS ago) said more DA heights follow, only full
 * groups of BM_SYNC_GROUP_MAX are applied and the rest is held until it
 * has waited BM_SYNC_HOLD_MS (a one-shot HOLD_OVER timer ends the wait
 * if nothing else comes). Otherwise everything ready is applied.
 */
static int sync_or_hold(struct sync_st *st)
{
    struct bm_env *env = st->env;
    struct bm_sync_hold_over t = {0};
    uint64_t now = bm_env_now_ms();
    int err;

    if (st->more_until_ms <= now) {
        st->held_since_ms = 0;
        return try_sync(st);
    }
    while (count_ready(st, BM_SYNC_GROUP_MAX) == BM_SYNC_GROUP_MAX) {
        if (bm_env_halted(env)) {
            return BM_ESHUTDOWN;
        }
        err = apply_group(st, BM_SYNC_GROUP_MAX);
        if (err != BM_OK) {
            return err;
        }
        st->held_since_ms = 0;
    }
    if (count_ready(st, 1) == 0) {
        st->held_since_ms = 0;
        return BM_OK;
    }
    now = bm_env_now_ms();
    if (st->held_since_ms == 0) {
        st->held_since_ms = now;
    }
    if (now - st->held_since_ms < BM_SYNC_HOLD_MS) {
        if (!st->hold_armed &&
            bm_timer_start(env->sys, st->self, BM_SYNC_HOLD_OVER, &t,
                           sizeof(t), BM_SYNC_HOLD_MS, 0,
                           &st->hold_timer) == BM_OK) {
            st->hold_armed = true;
        }
        if (st->hold_armed) {
            return BM_OK; /* held: a later item or the timer applies it */
        }
    }
    st->held_since_ms = 0;
    return try_sync(st);
}

/* ------------------------------------------------- DA after P2P */

/* Most DA records held before they are written without a commit. */
#define DA_SEEN_FLUSH 256

/* Writes the pending DA records with the cursor that covers them in one
 * PUT_META. On failure they stay pending (written again later). */
static int flush_da_seen(struct sync_st *st)
{
    struct bm_state_meta_list l = {0};
    int err;

    if (st->da_seen.n == 0) {
        return BM_OK;
    }
    err = bm_state_meta_append(&l, &st->da_seen);
    if (err == BM_OK && st->da_progress != 0) {
        err = bm_state_meta_add_u64(&l, BM_META_DA_CURSOR, da_cursor(st));
    }
    if (err == BM_OK) {
        err = bm_state_put_meta_wait(st->env, &l, COMMIT_TIMEOUT_MS);
    }
    bm_state_meta_list_release(&l);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot record DA heights of applied blocks err=%s "
                    "records=%zu (retried)", bm_err_name(err),
                    st->da_seen.n);
        return err;
    }
    bm_state_meta_list_release(&st->da_seen);
    return BM_OK;
}

/* Queues rhb/<h>/<which> = da_height unless the store has it already. */
static int note_da_height(struct sync_st *st, uint64_t h, char which,
                          uint64_t da_height)
{
    char name[64];
    uint64_t v;
    int err;

    bm_meta_rhb_name(name, sizeof(name), h, which);
    if (bm_meta_get_u64(st->env->store, name, &v, NULL) == BM_OK) {
        return BM_OK; /* known (this blob was seen before, or re-posted) */
    }
    for (size_t i = 0; i < st->da_seen.n; i++) {
        if (strcmp(st->da_seen.v[i].name, name) == 0) {
            return BM_OK;
        }
    }
    err = bm_state_meta_add_u64(&st->da_seen, name, da_height);
    if (err == BM_OK && st->da_seen.n >= DA_SEEN_FLUSH) {
        err = flush_da_seen(st);
    }
    return err;
}

/* The stored header at h and its hash. BM_ENOTFOUND if not stored. */
static int stored_header(struct sync_st *st, uint64_t h,
                         struct bm_signed_header *sh, struct bm_hash *hash)
{
    struct bm_buf raw = {0};
    int err;

    err = bm_store_get_header(st->env->store, h, &raw, NULL);
    if (err == BM_OK) {
        err = bm_signed_header_decode(sh, raw.ptr, raw.len);
        if (err != BM_OK) {
            err = BM_ECORRUPT;
        }
    }
    if (err == BM_OK) {
        err = bm_header_hash(&sh->header, hash);
    }
    bm_buf_release(&raw);
    return err;
}

/*
 * A DA header at an applied height (the block came by P2P first, or DA
 * posted it again). The same block: record its DA height so the
 * DAIncluder can mark it DA-included. Another block at that height,
 * where this node applied one that DA did not give it (no rhb/<h>/h):
 * the chain on DA contradicts what was applied from P2P, which only an
 * equivocating proposer can cause; this is never overwritten silently:
 * an alert and a fatal stop. Another header on DA where ours came from
 * DA too: DA's first one stands (logged).
 */
static int da_header_at_applied(struct sync_st *st,
                                const struct bm_sync_header_in *p,
                                const struct bm_hash *hash)
{
    struct bm_signed_header ours = {0};
    struct bm_hash oh;
    uint64_t h = p->sh->header.height;
    char name[64];
    uint64_t v;
    int err;

    err = stored_header(st, h, &ours, &oh);
    bm_signed_header_release(&ours);
    if (err != BM_OK) {
        bm_log_warn(MOD, "DA header at applied height=%llu: cannot read "
                    "the stored one err=%s", (unsigned long long)h,
                    bm_err_name(err));
        return BM_OK;
    }
    if (memcmp(oh.b, hash->b, BM_HASH_SIZE) == 0) {
        return note_da_height(st, h, 'h', p->da_height);
    }
    bm_meta_rhb_name(name, sizeof(name), h, 'h');
    if (bm_meta_get_u64(st->env->store, name, &v, NULL) == BM_OK) {
        atomic_fetch_add_explicit(&st->env->m.da_conflicts, 1,
                                  memory_order_relaxed);
        bm_log_error(MOD, "ALERT: a second header on DA for height=%llu "
                     "da_height=%llu (the one applied came from DA height "
                     "%llu); ignored", (unsigned long long)h,
                     (unsigned long long)p->da_height, (unsigned long long)v);
        return BM_OK;
    }
    {
        char a[2 * BM_HASH_SIZE + 1], b[2 * BM_HASH_SIZE + 1];

        bm_hex_encode(a, hash->b, BM_HASH_SIZE);
        bm_hex_encode(b, oh.b, BM_HASH_SIZE);
        atomic_fetch_add_explicit(&st->env->m.da_conflicts, 1,
                                  memory_order_relaxed);
        bm_env_fatal(st->env, MOD, BM_EFORK,
                     "ALERT: the header on DA at height %llu (DA height "
                     "%llu, hash %s) contradicts the block applied from "
                     "P2P (hash %s): the proposer signed two blocks for one "
                     "height; stopping instead of overwriting",
                     (unsigned long long)h, (unsigned long long)p->da_height,
                     a, b);
    }
    return BM_EFORK;
}

/*
 * DA data at an applied height: when its txs are the applied header's
 * (data_hash), record its DA height; otherwise it is not this block's
 * data (logged and counted, not fatal: the header decides the block).
 */
static int da_data_at_applied(struct sync_st *st,
                              const struct bm_sync_data_in *p)
{
    struct bm_signed_header ours = {0};
    struct bm_hash oh;
    uint64_t h = p->data->metadata.height;
    int err;

    err = stored_header(st, h, &ours, &oh);
    if (err != BM_OK) {
        bm_signed_header_release(&ours);
        return BM_OK;
    }
    if (bm_header_expects_empty_data(&ours.header)) {
        bm_signed_header_release(&ours); /* the header's DA height covers */
        return BM_OK;
    }
    err = bm_validate_header_data(&ours.header, p->data, NULL);
    bm_signed_header_release(&ours);
    if (err != BM_OK) {
        atomic_fetch_add_explicit(&st->env->m.da_conflicts, 1,
                                  memory_order_relaxed);
        bm_log_error(MOD, "ALERT: data on DA for applied height=%llu "
                     "da_height=%llu does not match the applied header "
                     "(%s); ignored", (unsigned long long)h,
                     (unsigned long long)p->da_height, bm_err_name(err));
        return BM_OK;
    }
    return note_da_height(st, h, 'd', p->da_height);
}

/* ------------------------------------------------------------ handlers */

BM_ACTOR_HANDLER(on_apply, struct sync_st, struct bm_sync_apply)
BM_ACTOR_HANDLER(on_header_in, struct sync_st, struct bm_sync_header_in)
BM_ACTOR_HANDLER(on_data_in, struct sync_st, struct bm_sync_data_in)
BM_ACTOR_HANDLER(on_da_progress, struct sync_st, struct bm_sync_da_progress)

static int on_apply(struct bm_actor_ctx *ctx, struct sync_st *st,
                    struct bm_sync_apply *p)
{
    struct bm_state_meta_list meta = {0};
    struct bm_sync_applied out = {0};
    int err;

    if (bm_env_halted(st->env)) {
        return BM_ESHUTDOWN;
    }
    err = load(st);
    if (err != BM_OK) {
        return err;
    }
    err = apply_block(st, p->blk, BM_SRC_PRODUCED, true, &meta, &out);
    if (err != BM_OK) {
        return err;
    }
    return bm_actor_reply(ctx, BM_OK, &out, sizeof(out));
}

/* A second header for a cached height replaces the first only when the
 * first fails its own checks and the new one passes them. */
static bool header_ok(const struct sync_st *st,
                      const struct bm_signed_header *sh)
{
    const struct bm_genesis *g = st->env->genesis;

    return bm_signed_header_validate_basic(sh, bm_validate_now_ns(), NULL) ==
               BM_OK &&
           bm_assert_expected_proposer(&st->state, &g->proposer_address,
                                       &sh->header, NULL) == BM_OK;
}

/*
 * HA (sync.h, ROLLBACK): when the store's head is a block the cluster
 * replaced (bm_ha_gate_head_diverged: never replicated, so never
 * published), rolls it back at run time: txs requeued, the State actor's
 * ROLLBACK, the executor, Sync's state. BM_OK when there was nothing to
 * do or it is done; an error is fatal (the node stops, and its next
 * start repairs whatever step was reached).
 */
static int ha_rollback_head(struct sync_st *st)
{
    struct bm_env *env = st->env;
    struct bm_state_rollback rb = {0};
    struct bm_state_ack ack = {0};
    struct bm_ha_status hs;
    struct bm_future *f = NULL;
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    int err;

    if (env->ha == NULL || bm_env_halted(env) || load(st) != BM_OK ||
        !bm_ha_gate_head_diverged(env, &h) || h != tip(st)) {
        return BM_OK;
    }
    if (!bm_executor_can_rollback(env->exec)) {
        bm_env_fatal(env, MOD, BM_EFORK,
                     "ha: this node's block %llu is not the one the "
                     "cluster accepted (it was never replicated nor "
                     "published) and the executor cannot roll back while "
                     "running; stopping: the next start rolls it back",
                     (unsigned long long)h);
        return BM_EFORK;
    }
    bm_log_warn(MOD, "ha: block height=%llu is not the one the cluster "
                "accepted (never replicated nor published): rolling it "
                "back at run time", (unsigned long long)h);
    err = bm_ha_gate_requeue_txs(env, h, &em);
    if (err == BM_OK) {
        rb.height = h;
        err = bm_state_ask_rollback(env->sys, bm_env_state(env), &rb,
                                    ROLLBACK_TIMEOUT_MS, &f);
        if (err == BM_OK) {
            err = bm_future_wait(f, -1, &ack, sizeof(ack));
            bm_future_free(f);
        }
        if (err != BM_OK) {
            bm_errf(&em, err, "the State actor did not roll the store back");
        }
    }
    if (err == BM_OK) {
        err = bm_executor_rollback(env->exec, h - 1, &em);
    }
    st->loaded = false; /* the State actor's state, whatever happened */
    if (err == BM_OK) {
        err = load(st);
        if (err != BM_OK) {
            bm_errf(&em, err, "cannot reload the state");
        }
    }
    if (err != BM_OK) {
        if (!bm_env_halted(env)) {
            bm_env_fatal(env, MOD, BM_EFORK,
                         "ha: run-time rollback of block %llu failed "
                         "(err=%s: %s); stopping: the next start repairs it",
                         (unsigned long long)h, bm_err_name(err),
                         bm_errmsg_str(&em, err));
        }
        return BM_EFORK;
    }
    atomic_store(&env->ha_unreplicated, 0);
    bm_ha_note_rollback(env->ha);
    bm_log_warn(MOD, "rolled back block height=%llu at run time: the "
                "cluster accepted another block at that height; store and "
                "executor at %llu, following", (unsigned long long)h,
                (unsigned long long)tip(st));
    /* the cluster's block at h, at once if the record still holds it */
    bm_ha_status(env->ha, &hs);
    if (hs.replicated_known && hs.replicated_height == h) {
        bm_catchup_ha_apply_record(env, h);
    }
    return BM_OK;
}

/* Takes a header in (moved out of *p when kept); does not apply. */
static int take_header(struct sync_st *st, struct bm_sync_header_in *p)
{
    struct cent e = {0};
    struct cent *old;
    int err;

    e.height = p->sh->header.height;
    if (p->has_hash) {
        e.hash = p->hash; /* the source hashed the bytes it verified */
        err = BM_OK;
    } else {
        err = bm_header_hash(&p->sh->header, &e.hash);
    }
    if (err != BM_OK) {
        bm_log_warn(MOD, "header dropped height=%llu: hash: %s",
                    (unsigned long long)e.height, bm_err_name(err));
        return BM_OK;
    }
    if (e.height == tip(st) && st->env->ha != NULL &&
        !bm_buf_eq_raw(&st->state.last_header_hash, e.hash.b,
                       sizeof(e.hash.b))) {
        /* another block at our head: a deposed leader's, replaced? */
        err = ha_rollback_head(st);
        if (err != BM_OK) {
            return err;
        }
    }
    if (e.height <= tip(st)) {
        if (p->source == BM_SRC_DA && p->da_height != 0) {
            return da_header_at_applied(st, p, &e.hash);
        }
        bm_log_debug(MOD, "header dropped height=%llu: at or below %llu",
                     (unsigned long long)e.height,
                     (unsigned long long)tip(st));
        return BM_OK;
    }
    if (bm_env_is_seen(st->env, &e.hash)) {
        bm_log_debug(MOD, "header dropped height=%llu: seen",
                     (unsigned long long)e.height);
        return BM_OK;
    }
    old = cache_find(&st->headers, e.height);
    if (old != NULL) {
        bool same = memcmp(old->hash.b, e.hash.b, BM_HASH_SIZE) == 0;

        if (same || header_ok(st, old->sh) || !header_ok(st, p->sh)) {
            /* The cached header (from P2P) seen on DA: keep where it is
             * (rhb/<h>/h with the commit), or the DAIncluder would wait
             * for a blob the retriever has passed. */
            if (same && p->source == BM_SRC_DA && p->da_height != 0 &&
                old->da_height == 0) {
                old->da_height = p->da_height;
            }
            bm_log_debug(MOD, "header dropped height=%llu: one is cached",
                         (unsigned long long)e.height);
            return BM_OK;
        }
        cache_drop(&st->headers, cache_lower(&st->headers, e.height));
    }
    e.da_height = p->da_height;
    e.source = p->source;
    e.sig_verified = p->sig_verified;
    e.sh = p->sh;
    p->sh = NULL;
    cache_insert(&st->headers, &e, "header");
    return BM_OK;
}

/* Loaded and not halted: the precondition of taking anything in. */
static int ready(struct sync_st *st)
{
    if (bm_env_halted(st->env)) {
        return BM_ESHUTDOWN;
    }
    return load(st);
}

static int on_header_in(struct bm_actor_ctx *ctx, struct sync_st *st,
                        struct bm_sync_header_in *p)
{
    int err = ready(st);

    (void)ctx;
    if (err == BM_OK) {
        err = take_header(st, p);
    }
    return err == BM_OK ? try_sync(st) : err;
}

/* True if d's txs match the data_hash of the cached header at its height. */
static bool data_fits_header(struct sync_st *st, const struct bm_data *d)
{
    struct cent *h = cache_find(&st->headers, d->metadata.height);
    struct bm_hash c;

    if (h == NULL) {
        return false;
    }
    if (bm_header_expects_empty_data(&h->sh->header)) {
        return d->n_txs == 0;
    }
    return bm_data_da_commitment(d, &c) == BM_OK &&
           bm_buf_eq_raw(&h->sh->header.data_hash, c.b, BM_HASH_SIZE);
}

/* True if a and b carry the same txs. */
static bool same_txs(const struct bm_data *a, const struct bm_data *b)
{
    if (a->n_txs != b->n_txs) {
        return false;
    }
    for (size_t i = 0; i < a->n_txs; i++) {
        if (!bm_buf_eq(&a->txs[i], &b->txs[i])) {
            return false;
        }
    }
    return true;
}

/* Takes a data in (moved out of *p when kept); does not apply. */
static int take_data(struct sync_st *st, struct bm_sync_data_in *p)
{
    struct cent e = {0};
    struct cent *old;

    if (!p->data->has_metadata) {
        bm_log_warn(MOD, "data dropped: no metadata (height unknown)");
        return BM_OK;
    }
    e.height = p->data->metadata.height;
    if (e.height <= tip(st)) {
        if (p->source == BM_SRC_DA && p->da_height != 0) {
            return da_data_at_applied(st, p);
        }
        bm_log_debug(MOD, "data dropped height=%llu: at or below %llu",
                     (unsigned long long)e.height,
                     (unsigned long long)tip(st));
        return BM_OK;
    }
    old = cache_find(&st->data, e.height);
    if (old != NULL) {
        if (data_fits_header(st, old->data) ||
            !data_fits_header(st, p->data)) {
            /* The same txs found on DA after a P2P copy: keep where they
             * are (rhb/<h>/d with the commit), or the DAIncluder would
             * wait for a blob the retriever has passed. */
            if (p->source == BM_SRC_DA && p->da_height != 0 &&
                old->da_height == 0 && same_txs(old->data, p->data)) {
                old->da_height = p->da_height;
                old->source = BM_SRC_DA;
            }
            bm_log_debug(MOD, "data dropped height=%llu: one is cached",
                         (unsigned long long)e.height);
            return BM_OK;
        }
        cache_drop(&st->data, cache_lower(&st->data, e.height));
    }
    e.da_height = p->da_height;
    e.source = p->source;
    e.data = p->data;
    p->data = NULL;
    cache_insert(&st->data, &e, "data");
    return BM_OK;
}

static int on_data_in(struct bm_actor_ctx *ctx, struct sync_st *st,
                      struct bm_sync_data_in *p)
{
    int err = ready(st);

    (void)ctx;
    if (err == BM_OK) {
        err = take_data(st, p);
    }
    return err == BM_OK ? try_sync(st) : err;
}

BM_ACTOR_HANDLER(on_items_in, struct sync_st, struct bm_sync_items_in)

/* Everything in first (headers, then data), then apply what it completes
 * in groups. A fatal answer to one item (a fork) stops there. */
static int on_items_in(struct bm_actor_ctx *ctx, struct sync_st *st,
                       struct bm_sync_items_in *p)
{
    int err = ready(st);

    (void)ctx;
    for (size_t i = 0; i < p->n_headers && err == BM_OK; i++) {
        err = take_header(st, &p->headers[i]);
    }
    for (size_t i = 0; i < p->n_data && err == BM_OK; i++) {
        err = take_data(st, &p->data[i]);
    }
    return err == BM_OK ? sync_or_hold(st) : err;
}

/* Applies what the caches hold (may_hold: or holds it, sync_or_hold),
 * when there is anything and the state is loaded. */
static int apply_cached(struct sync_st *st, bool may_hold)
{
    if (st->headers.n == 0 || bm_env_halted(st->env) || load(st) != BM_OK) {
        return BM_OK;
    }
    return may_hold ? sync_or_hold(st) : try_sync(st);
}

static int validate_rollback(const void *payload, struct bm_errmsg *em)
{
    const struct bm_sync_rollback *r = payload;

    if (r->height == 0) {
        return bm_errf(em, BM_EINVAL, "rollback.height: 0 (no block)");
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(on_rollback, struct sync_st, struct bm_sync_rollback)
static int on_rollback(struct bm_actor_ctx *ctx, struct sync_st *st,
                       struct bm_sync_rollback *p)
{
    int err;

    (void)ctx;
    if (bm_env_halted(st->env) || load(st) != BM_OK ||
        p->height != tip(st)) {
        return BM_OK; /* stale: done already, or not our head */
    }
    err = ha_rollback_head(st);
    return err == BM_OK ? apply_cached(st, false) : err;
}

static int on_da_progress(struct bm_actor_ctx *ctx, struct sync_st *st,
                          struct bm_sync_da_progress *p)
{
    (void)ctx;
    if (p->cursor > st->da_progress) {
        st->da_progress = p->cursor;
    }
    st->more_until_ms = p->more ? bm_env_now_ms() + BM_SYNC_HOLD_MS : 0;
    /* A DA height is done: what it confirmed is written now (a node that
     * follows P2P commits no block for it). A failure is retried. */
    (void)flush_da_seen(st);
    /* pieces held back by an executor that was unavailable are tried
     * again with every DA height read, not only when pieces arrive */
    return apply_cached(st, true);
}

BM_ACTOR_HANDLER(on_hold_over, struct sync_st, struct bm_sync_hold_over)

/* The hold's time is up (or it was not needed any more): apply what is
 * ready. */
static int on_hold_over(struct bm_actor_ctx *ctx, struct sync_st *st,
                        struct bm_sync_hold_over *p)
{
    (void)ctx;
    (void)p;
    st->hold_armed = false;
    st->held_since_ms = 0;
    return apply_cached(st, false);
}

BM_ACTOR_HANDLER(on_flush, struct sync_st, struct bm_sync_flush)

/* Everything sent before this message was handled (one mailbox, FIFO). */
static int on_flush(struct bm_actor_ctx *ctx, struct sync_st *st,
                    struct bm_sync_flush *p)
{
    struct bm_sync_flushed out = {0};
    int err;

    (void)p;
    err = load(st);
    if (err != BM_OK) {
        return err;
    }
    /* Held blocks count as handled: apply them first. */
    st->held_since_ms = 0;
    if (st->headers.n > 0 && !bm_env_halted(st->env)) {
        (void)try_sync(st);
    }
    out.height = tip(st);
    return bm_actor_reply(ctx, BM_OK, &out, sizeof(out));
}

/* ------------------------------------------------------------ type */

static int sync_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    struct bm_env *env = arg;
    struct sync_st *st;

    if (env == NULL) {
        return BM_EINVAL;
    }
    st = bm_xcalloc(1, sizeof(*st));
    st->env = env;
    st->headers.max = env->cfg.sync_cache_max;
    st->data.max = env->cfg.sync_cache_max;
    st->self = bm_actor_ctx_self(ctx);
    *out = st;
    return BM_OK;
}

static void sync_terminate(void *state, int reason)
{
    struct sync_st *st = state;

    (void)reason;
    if (st == NULL) {
        return;
    }
    if (st->hold_armed) {
        (void)bm_timer_cancel(st->env->sys, st->hold_timer);
    }
    cache_release(&st->headers);
    cache_release(&st->data);
    bm_state_meta_list_release(&st->da_seen);
    bm_state_release(&st->state);
    bm_free(st);
}

static const struct bm_msg_kind sync_kinds[BM_SYNC_NKINDS] = {
    [BM_SYNC_APPLY] = BM_MSG_KIND("apply", struct bm_sync_apply,
                                  sizeof(struct bm_sync_applied),
                                  validate_apply, on_apply,
                                  bm_sync_apply_dtor, NULL),
    [BM_SYNC_HEADER_IN] = BM_MSG_KIND("header_in", struct bm_sync_header_in,
                                      0, validate_header_in, on_header_in,
                                      bm_sync_header_in_dtor, NULL),
    [BM_SYNC_DATA_IN] = BM_MSG_KIND("data_in", struct bm_sync_data_in, 0,
                                    validate_data_in, on_data_in,
                                    bm_sync_data_in_dtor, NULL),
    [BM_SYNC_DA_PROGRESS] = BM_MSG_KIND("da_progress",
                                        struct bm_sync_da_progress, 0, NULL,
                                        on_da_progress, NULL, NULL),
    [BM_SYNC_FLUSH] = BM_MSG_KIND("flush", struct bm_sync_flush,
                                  sizeof(struct bm_sync_flushed), NULL,
                                  on_flush, NULL, NULL),
    [BM_SYNC_ITEMS_IN] = BM_MSG_KIND("items_in", struct bm_sync_items_in, 0,
                                     validate_items_in, on_items_in,
                                     bm_sync_items_in_dtor, NULL),
    [BM_SYNC_HOLD_OVER] = BM_MSG_KIND("hold_over", struct bm_sync_hold_over,
                                      0, NULL, on_hold_over, NULL, NULL),
    [BM_SYNC_ROLLBACK] = BM_MSG_KIND("rollback", struct bm_sync_rollback, 0,
                                     validate_rollback, on_rollback, NULL,
                                     NULL),
};

const struct bm_actor_type bm_sync_actor_type = {
    .name = "sync",
    .kinds = sync_kinds,
    .n_kinds = BM_SYNC_NKINDS,
    .init = sync_init,
    .terminate = sync_terminate,
};
