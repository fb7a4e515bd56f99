/*
 * DASubmitterActor (da_submitter.h): posts stored blocks to the DA layer.
 *
 * A round runs inside the handler (the actor is detached, so the DA calls
 * and the backoff sleeps may block): for headers, then data, it collects
 * the heights above the last-submitted height (bounded per round), signs
 * and encodes them into v0 blobs, and submits them with the algorithm of
 * ev-node's submitToDA (spec 8.3, current): the longest prefix that fits
 * cfg.da_max_blob_size, up to cfg.da_max_submit_attempts calls, halving on
 * TooBig, backoff on the other failures. Every success is persisted
 * (last-submitted height and rhb DA hints) through the State actor before
 * the next batch, so a restart resumes after the last batch on DA.
 */
#include "actors/da_submitter.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "actors/catchup.h"
#include "actors/da_includer.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "da_submitter"
/* Bounds of one round per kind: items collected, heights looked at, and
 * bytes held (in multiples of the max blob size). */
#define ROUND_MAX_ITEMS 256u
#define ROUND_MAX_SCAN 4096u
#define ROUND_MAX_BLOBS_OF_BYTES 4u
/* NEW_HEIGHT right after a round does not start another. */
#define COLLAPSE_MS 10u
#define BACKOFF_MIN_MS 100u
#define TICK_MIN_MS 100u
#define META_TIMEOUT_MS 30000
#define SLEEP_SLICE_MS 20u

enum { K_HEADER = 0, K_DATA = 1 };

static const char *const kind_name[2] = {"headers", "data"};
static const char *const kind_meta[2] = {BM_META_LAST_SUBMITTED_HEADER,
                                         BM_META_LAST_SUBMITTED_DATA};
static const char kind_which[2] = {'h', 'd'};

/* The pending items of one kind, in height order. blobs[] is contiguous
 * so that any run of it can be passed to submit. Owns the blobs. */
struct pending {
    struct bm_da_blob *blobs;
    uint64_t *heights;
    uint64_t *adv; /* last-submitted height once blobs[i] is on DA */
    size_t n;
    size_t cap;
    size_t bytes;
    uint64_t scan_end; /* last height examined (0: none) */
};

struct sub {
    struct bm_env *env;
    struct bm_actor_system *sys;
    struct bm_timer_id tick;
    bool loaded;
    uint64_t last[2]; /* last-submitted header / data height */
    uint64_t last_round_ms;
};

static void pending_release(struct pending *p)
{
    for (size_t i = 0; i < p->n; i++) {
        bm_da_blob_release(&p->blobs[i]);
    }
    bm_free(p->blobs);
    bm_free(p->heights);
    bm_free(p->adv);
    memset(p, 0, sizeof(*p));
}

/* Appends a v0 blob of [bytes, bytes+len) in ns for height h. */
static enum bm_err pending_push(struct pending *p,
                                const struct bm_da_namespace *ns, uint64_t h,
                                const struct bm_buf *bytes)
{
    enum bm_err err;

    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;

        p->blobs = bm_xrealloc(p->blobs, cap * sizeof(*p->blobs));
        p->heights = bm_xrealloc(p->heights, cap * sizeof(*p->heights));
        p->adv = bm_xrealloc(p->adv, cap * sizeof(*p->adv));
        p->cap = cap;
    }
    memset(&p->blobs[p->n], 0, sizeof(p->blobs[p->n]));
    err = bm_da_blob_init_v0(&p->blobs[p->n], ns, bytes->ptr, bytes->len);
    if (err != BM_OK) {
        return err;
    }
    p->heights[p->n] = h;
    p->adv[p->n] = h;
    p->bytes += bytes->len;
    p->n++;
    return BM_OK;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Sleeps ms in slices, returning early once the node halts. */
static void backoff_sleep(struct bm_env *env, uint64_t ms)
{
    while (ms > 0 && !bm_env_quitting(env)) {
        uint64_t d = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;

        sleep_ms(d);
        ms -= d;
    }
}

/* Writes the list through the State actor and waits for the ack. Takes
 * the list (emptied in every case). */
static int put_meta(struct bm_env *env, struct bm_state_meta_list *l)
{
    return bm_state_put_meta_wait(env, l, META_TIMEOUT_MS);
}

static int load(struct sub *s)
{
    struct bm_env *env = s->env;
    uint64_t base = env->genesis->initial_height > 0
                        ? env->genesis->initial_height - 1
                        : 0;
    struct bm_errmsg em = {{0}};

    for (int k = K_HEADER; k <= K_DATA; k++) {
        uint64_t v = 0;
        int err = bm_meta_get_u64(env->store, kind_meta[k], &v, &em);

        if (err == BM_ENOTFOUND) {
            v = base;
        } else if (err != BM_OK) {
            bm_env_fatal(env, MOD, err, "cannot load %s: %s", kind_meta[k],
                         bm_errmsg_str(&em, err));
            return err;
        }
        s->last[k] = v;
    }
    atomic_store_explicit(&env->m.last_submitted_header, s->last[K_HEADER],
                          memory_order_relaxed);
    atomic_store_explicit(&env->m.last_submitted_data, s->last[K_DATA],
                          memory_order_relaxed);
    s->loaded = true;
    bm_log_debug(MOD, "loaded last_header=%llu last_data=%llu",
                 (unsigned long long)s->last[K_HEADER],
                 (unsigned long long)s->last[K_DATA]);
    return BM_OK;
}

static bool round_full(const struct sub *s, const struct pending *p)
{
    size_t max_bytes = s->env->cfg.da_max_blob_size;

    if (max_bytes > SIZE_MAX / ROUND_MAX_BLOBS_OF_BYTES) {
        max_bytes = SIZE_MAX;
    } else {
        max_bytes *= ROUND_MAX_BLOBS_OF_BYTES;
    }
    return p->n >= ROUND_MAX_ITEMS || p->bytes >= max_bytes;
}

/* Builds the DAHeaderEnvelope blob of the stored header at h. A stored
 * header that does not decode or has another height is fatal. */
static int header_item(struct sub *s, uint64_t h, struct pending *p)
{
    struct bm_env *env = s->env;
    struct bm_da_header_envelope e = {0};
    struct bm_buf raw = {0}, enc = {0};
    struct bm_errmsg em = {{0}};
    int err;

    err = bm_store_get_header(env->store, h, &raw, &em);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot read header height=%llu err=%s %s",
                    (unsigned long long)h, bm_err_name(err),
                    bm_errmsg_str(&em, err));
        goto out;
    }
    err = bm_signed_header_decode(&e.sh, raw.ptr, raw.len);
    if (err == BM_OK && e.sh.header.height != h) {
        err = BM_ECORRUPT;
    }
    if (err != BM_OK) {
        bm_env_fatal(env, MOD, BM_ECORRUPT,
                     "store: header at height %llu does not decode as its "
                     "height (%s)",
                     (unsigned long long)h, bm_err_name(err));
        err = BM_ECORRUPT;
        goto out;
    }
    err = bm_da_header_envelope_sign(&e, &env->signer);
    if (err == BM_OK) {
        err = bm_da_header_envelope_encode(&e, &enc);
    }
    if (err == BM_OK) {
        err = pending_push(p, &env->ns.header, h, &enc);
    }
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot build header blob height=%llu err=%s",
                    (unsigned long long)h, bm_err_name(err));
    }
out:
    bm_buf_release(&enc);
    bm_buf_release(&raw);
    bm_da_header_envelope_release(&e);
    return err;
}

/* Builds the SignedData blob of the stored data at h; *empty is set (and
 * nothing pushed) for a block without txs. */
static int data_item(struct sub *s, uint64_t h, struct pending *p,
                     bool *empty)
{
    struct bm_env *env = s->env;
    struct bm_store_blockbuf bb = {0};
    struct bm_signed_data sd = {0};
    struct bm_buf enc = {0};
    struct bm_errmsg em = {{0}};
    int err;

    *empty = false;
    err = bm_store_get_block(env->store, h, &bb, &em);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot read block height=%llu err=%s %s",
                    (unsigned long long)h, bm_err_name(err),
                    bm_errmsg_str(&em, err));
        goto out;
    }
    err = bm_data_decode(&sd.data, bb.data.ptr, bb.data.len);
    if (err != BM_OK) {
        bm_env_fatal(env, MOD, BM_ECORRUPT,
                     "store: data at height %llu does not decode (%s)",
                     (unsigned long long)h, bm_err_name(err));
        err = BM_ECORRUPT;
        goto out;
    }
    if (sd.data.n_txs == 0) {
        *empty = true;
        goto out;
    }
    err = bm_signer_copy(&sd.signer, &env->signer_info);
    if (err == BM_OK) {
        err = bm_signed_data_sign(&sd, &env->signer);
    }
    if (err == BM_OK) {
        err = bm_signed_data_encode(&sd, &enc);
    }
    if (err == BM_OK) {
        err = pending_push(p, &env->ns.data, h, &enc);
    }
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot build data blob height=%llu err=%s",
                    (unsigned long long)h, bm_err_name(err));
    }
out:
    bm_buf_release(&enc);
    bm_signed_data_release(&sd);
    bm_store_blockbuf_release(&bb);
    return err;
}

/* Collects the items of kind k above s->last[k] up to `top`. Stops early
 * at a round bound or a read error (what was collected stays valid).
 * Returns BM_ECORRUPT after a fatal error, else BM_OK. */
static int collect(struct sub *s, int k, uint64_t top, struct pending *p)
{
    uint64_t scanned = 0;

    for (uint64_t h = s->last[k] + 1; h <= top; h++) {
        int err;

        if (round_full(s, p) || scanned >= ROUND_MAX_SCAN) {
            break;
        }
        scanned++;
        if (k == K_HEADER) {
            err = header_item(s, h, p);
        } else {
            bool empty = false;

            err = data_item(s, h, p, &empty);
            if (err == BM_OK && empty) {
                /* An empty block after an item is covered by it. */
                if (p->n > 0) {
                    p->adv[p->n - 1] = h;
                }
            }
        }
        if (err == BM_ECORRUPT && bm_env_halted(s->env)) {
            return err;
        }
        if (err != BM_OK) {
            break;
        }
        p->scan_end = h;
    }
    return BM_OK;
}

/* Persists the new last-submitted height of kind k (and, for a batch,
 * the rhb hints of heights[from, from+cnt) at da_height). */
static int persist(struct sub *s, int k, uint64_t last, const uint64_t *hs,
                   size_t cnt, uint64_t da_height)
{
    struct bm_state_meta_list l = {0};
    char name[48];
    int err;

    err = bm_state_meta_add_u64(&l, kind_meta[k], last);
    for (size_t i = 0; i < cnt && err == BM_OK; i++) {
        bm_meta_rhb_name(name, sizeof(name), hs[i], kind_which[k]);
        err = bm_state_meta_add_u64(&l, name, da_height);
    }
    if (err != BM_OK) {
        bm_state_meta_list_release(&l);
        return err;
    }
    err = put_meta(s->env, &l);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot persist %s=%llu err=%s", kind_meta[k],
                    (unsigned long long)last, bm_err_name(err));
    }
    /* The blobs are on DA either way: do not resubmit them in this run. */
    if (last > s->last[k]) {
        s->last[k] = last;
        atomic_store_explicit(k == K_HEADER ? &s->env->m.last_submitted_header
                                            : &s->env->m.last_submitted_data,
                              last, memory_order_relaxed);
    }
    return err;
}

static void on_success(struct sub *s, int k, const struct pending *p,
                       size_t pos, size_t cnt, uint64_t da_height)
{
    struct bm_env *env = s->env;
    uint64_t from = p->heights[pos], to = p->heights[pos + cnt - 1];

    atomic_fetch_add_explicit(&env->m.da_submissions, 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(k == K_HEADER ? &env->m.headers_submitted
                                            : &env->m.data_submitted,
                              cnt, memory_order_relaxed);
    bm_log_debug(MOD, "submitted %s count=%zu from=%llu to=%llu da_height=%llu",
                kind_name[k], cnt, (unsigned long long)from,
                (unsigned long long)to, (unsigned long long)da_height);
    (void)persist(s, k, p->adv[pos + cnt - 1], &p->heights[pos], cnt,
                  da_height);
    if (!bm_actor_id_is_none(env->ids.da_includer)) {
        struct bm_da_includer_included inc = {
            .from = from, .to = to, .da_height = da_height,
            .which = kind_which[k]};

        (void)bm_da_includer_tell_included(s->sys, bm_env_da_includer(env),
                                           &inc);
    }
}

/* Length of the longest run from pos whose total size fits max. */
static size_t fitting_prefix(const struct pending *p, size_t pos, size_t max)
{
    size_t total = 0, n = 0;

    while (pos + n < p->n) {
        size_t len = p->blobs[pos + n].data.len;

        if (len > max - total) {
            break;
        }
        total += len;
        n++;
    }
    return n;
}

/* Submits p (kind k) as in da_submitter.h. Returns when everything is on
 * DA, the attempts are used up, the breaker refuses or the node halts. */
static void submit_pending(struct sub *s, int k, const struct pending *p)
{
    struct bm_env *env = s->env;
    const struct bm_manager_config *c = &env->cfg;
    uint64_t cap_ms = c->da_block_time_ms > 0 ? c->da_block_time_ms : 1;
    uint32_t timeout = c->da_request_timeout_ms > UINT32_MAX
                           ? UINT32_MAX
                           : (uint32_t)c->da_request_timeout_ms;
    size_t pos = 0, limit = SIZE_MAX;
    uint64_t backoff = 0;
    uint32_t attempts = 0;

    while (pos < p->n) {
        struct bm_breaker_token tok;
        struct bm_errmsg em = {{0}};
        uint64_t da_height = 0;
        size_t cnt;
        int err;

        if (bm_env_quitting(env)) {
            return;
        }
        if (attempts >= c->da_max_submit_attempts) {
            bm_log_warn(MOD, "%s: %zu items not submitted after %u attempts",
                        kind_name[k], p->n - pos, attempts);
            return;
        }
        if (backoff > 0) {
            backoff_sleep(env, backoff);
            if (bm_env_quitting(env)) {
                return;
            }
        }
        cnt = fitting_prefix(p, pos, c->da_max_blob_size);
        if (cnt == 0) {
            bm_env_fatal(env, MOD, BM_EDA_TOO_BIG,
                         "%s at height %llu: blob of %zu bytes, above "
                         "da.max_blob_size %zu",
                         kind_name[k], (unsigned long long)p->heights[pos],
                         p->blobs[pos].data.len, c->da_max_blob_size);
            return;
        }
        if (cnt > limit) {
            cnt = limit;
        }
        if (bm_breaker_allow(env->da_breaker, &tok) != BM_OK) {
            bm_log_debug(MOD, "%s: DA breaker open, round skipped",
                         kind_name[k]);
            return;
        }
        attempts++;
        err = env->da->ops->submit(env->da->ctx, &p->blobs[pos], cnt, NULL,
                                   timeout, &da_height, &em);
        bm_breaker_report(env->da_breaker, tok,
                          err == BM_OK || err == BM_EDA_NOT_FOUND ||
                              err == BM_EDA_TOO_BIG);
        if (err == BM_OK) {
            on_success(s, k, p, pos, cnt, da_height);
            pos += cnt;
            backoff = 0;
            continue;
        }
        atomic_fetch_add_explicit(&env->m.da_submit_failures, 1,
                                  memory_order_relaxed);
        bm_log_debug(MOD, "%s: submit of %zu failed attempt=%u err=%s %s",
                     kind_name[k], cnt, attempts, bm_err_name(err),
                     bm_errmsg_str(&em, err));
        switch (err) {
        case BM_EDA_TOO_BIG:
            atomic_fetch_add_explicit(&env->m.da_submit_too_big, 1,
                                      memory_order_relaxed);
            if (cnt == 1) {
                bm_env_fatal(env, MOD, err,
                             "%s at height %llu: the DA refuses a single "
                             "blob of %zu bytes as too big",
                             kind_name[k],
                             (unsigned long long)p->heights[pos],
                             p->blobs[pos].data.len);
                return;
            }
            limit = cnt / 2;
            backoff = 0;
            break;
        case BM_EDA_IN_MEMPOOL:
        case BM_EDA_NOT_INCLUDED:
            atomic_fetch_add_explicit(&env->m.da_submit_mempool, 1,
                                      memory_order_relaxed);
            backoff = cap_ms;
            break;
        default:
            atomic_fetch_add_explicit(&env->m.da_submit_other, 1,
                                      memory_order_relaxed);
            backoff = backoff == 0 ? BACKOFF_MIN_MS : backoff * 2;
            if (backoff > cap_ms) {
                backoff = cap_ms;
            }
            break;
        }
    }
}

static void run_kind(struct sub *s, int k, uint64_t top)
{
    struct pending p = {0};

    if (collect(s, k, top, &p) != BM_OK) {
        goto out;
    }
    if (k == K_DATA) {
        /* Empty blocks before the first item (or all of the scanned ones)
         * need no blob: move the data height past them now. */
        uint64_t lead = p.n > 0 ? p.heights[0] - 1 : p.scan_end;

        if (lead > s->last[k]) {
            (void)persist(s, k, lead, NULL, 0, 0);
        }
    }
    if (p.n > 0) {
        submit_pending(s, k, &p);
    }
out:
    pending_release(&p);
}

static int run_round(struct sub *s)
{
    struct bm_env *env = s->env;
    struct bm_errmsg em = {{0}};
    uint64_t top = 0;
    int err;

    if (bm_env_quitting(env)) {
        return BM_OK;
    }
    /* Catching up: what Sync takes from DA is on DA already; the
     * last-submitted heights are loaded once it is over. */
    if (bm_catchup_active(env)) {
        return BM_OK;
    }
    if (!s->loaded && load(s) != BM_OK) {
        return BM_OK;
    }
    if (bm_breaker_state(env->da_breaker) == BM_BREAKER_OPEN) {
        bm_log_debug(MOD, "DA breaker open, round skipped");
        goto out;
    }
    err = bm_store_height(env->store, &top, &em);
    if (err == BM_ENOTFOUND) {
        goto out;
    }
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot read the store height err=%s %s",
                    bm_err_name(err), bm_errmsg_str(&em, err));
        goto out;
    }
    for (int k = K_HEADER; k <= K_DATA && !bm_env_quitting(env); k++) {
        if (top > s->last[k]) {
            run_kind(s, k, top);
        }
    }
out:
    s->last_round_ms = bm_env_now_ms();
    return BM_OK;
}

BM_ACTOR_HANDLER(on_tick, struct sub, struct bm_da_submitter_tick)
BM_ACTOR_HANDLER(on_new_height, struct sub, struct bm_state_new_height)

static int on_tick(struct bm_actor_ctx *ctx, struct sub *st,
                   struct bm_da_submitter_tick *p)
{
    (void)ctx;
    (void)p;
    return run_round(st);
}

static int on_new_height(struct bm_actor_ctx *ctx, struct sub *st,
                         struct bm_state_new_height *p)
{
    (void)ctx;
    (void)p;
    if (st->loaded && bm_env_now_ms() - st->last_round_ms < COLLAPSE_MS) {
        return BM_OK;
    }
    return run_round(st);
}

static int validate_new_height(const void *payload, struct bm_errmsg *em)
{
    const struct bm_state_new_height *p = payload;

    if (p == NULL || p->height == 0) {
        return bm_errf(em, BM_EINVAL, "new_height.height: got 0, want >= 1");
    }
    return BM_OK;
}

static const struct bm_msg_kind sub_kinds[BM_DA_SUBMITTER_NKINDS] = {
    [BM_DA_SUBMITTER_TICK] = BM_MSG_KIND("tick", struct bm_da_submitter_tick,
                                         0, NULL, on_tick, NULL, NULL),
    [BM_DA_SUBMITTER_NEW_HEIGHT] =
        BM_MSG_KIND("new_height", struct bm_state_new_height, 0,
                    validate_new_height, on_new_height, NULL, NULL),
};

static int sub_init(struct bm_actor_ctx *ctx, void *arg, void **state_out)
{
    struct bm_env *env = arg;
    struct bm_da_submitter_tick t = {0};
    struct sub *s;
    int64_t period;
    int err;

    if (env == NULL || env->da == NULL || env->da->ops == NULL ||
        !env->has_signer) {
        return BM_EINVAL;
    }
    s = bm_xcalloc(1, sizeof(*s));
    s->env = env;
    s->sys = bm_actor_ctx_system(ctx);
    period = bm_env_da_tick_ms(env, (int64_t)TICK_MIN_MS);
    err = bm_timer_start(s->sys, bm_actor_ctx_self(ctx), BM_DA_SUBMITTER_TICK,
                         &t, sizeof(t), period, period, &s->tick);
    if (err != BM_OK) {
        bm_free(s);
        return err;
    }
    *state_out = s;
    return BM_OK;
}

static void sub_terminate(void *state, int reason)
{
    struct sub *s = state;

    (void)reason;
    if (s == NULL) {
        return;
    }
    (void)bm_timer_cancel(s->sys, s->tick);
    bm_free(s);
}

const struct bm_actor_type bm_da_submitter_actor_type = {
    .name = "da_submitter",
    .kinds = sub_kinds,
    .n_kinds = BM_DA_SUBMITTER_NKINDS,
    .init = sub_init,
    .terminate = sub_terminate,
};
