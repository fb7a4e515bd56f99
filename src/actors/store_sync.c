/*
 * StoreSyncActor (store_sync.h): feeds the Sync actor from the P2P header
 * and data stores. Detached: the stores may block.
 *
 * Two cursors (last header height and last data height handed over) start
 * at the store height (read in the first TICK) and never fall behind it:
 * blocks that arrived another way (DA) are not re-sent. Each TICK or WAKE
 * walks each cursor up to its P2P store's height, at most MAX_PER_TICK
 * heights and at most AHEAD above the store height, so a long catch-up
 * stays responsive to stop and never floods Sync's caches. Everything
 * from a P2P store is untrusted: a header must pass
 * SignedHeader.ValidateBasic (its signature included), carry the height
 * asked for and be signed by the expected proposer (the state's
 * next_proposer_address, else the genesis proposer); data must carry the
 * height asked for when it has metadata; a bad item is skipped (logged,
 * counted in p2p_items_skipped). A height not found yet, or a send that
 * fails, stops that cursor until the next TICK or WAKE.
 */
#include "actors/store_sync.h"

#include <string.h>

#include "actors/catchup.h"
#include "actors/state.h"
#include "actors/sync.h"
#include "actors/verifier.h"
#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "store_sync"

#define MAX_PER_TICK 1024
/* Most heights handed over above the store height (Sync caches them). */
#define AHEAD 2048u
/* No store progress for this long with items handed over above it: hand
 * them over again. */
#define STALL_MS 2000u

struct store_sync {
    struct bm_env *env;
    struct bm_timer_id timer;
    bool loaded;
    uint64_t last_header; /* last header height handed over */
    uint64_t last_data;
    uint64_t last_local;  /* store height at the last progress */
    uint64_t progress_ms; /* when the store height last moved */
    struct bm_state state; /* latest stored state (expected proposer) */
};

static bool store_height(struct store_sync *s, uint64_t *out)
{
    struct bm_errmsg em = {{0}};
    int err;

    err = bm_store_height(s->env->store, out, &em);
    if (err == BM_ENOTFOUND) {
        *out = 0;
        return true;
    }
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot read store height err=%s msg='%s'",
                    bm_err_name(err), bm_errmsg_str(&em, err));
        return false;
    }
    return true;
}

/* Reloads s->state from the store (kept as it was on failure). */
static void load_state(struct store_sync *s)
{
    struct bm_buf raw = {0};
    struct bm_state st = {0};

    if (bm_store_get_latest_state(s->env->store, NULL, &raw, NULL) ==
            BM_OK &&
        bm_state_decode(&st, raw.ptr, raw.len) == BM_OK) {
        bm_state_release(&s->state);
        s->state = st;
    } else {
        bm_state_release(&st);
    }
    bm_buf_release(&raw);
}

static void skipped(struct store_sync *s)
{
    atomic_fetch_add_explicit(&s->env->m.p2p_items_skipped, 1,
                              memory_order_relaxed);
}

/* Checks a header from the P2P store for `height`; *hash gets its hash
 * when the signature check learned it from the bytes it verified
 * (*has_hash), so that Sync does not encode and hash it again. Borrows
 * sh. */
static int check_header(const struct store_sync *s,
                        const struct bm_signed_header *sh, uint64_t height,
                        uint64_t now_ns, struct bm_hash *hash, bool *has_hash,
                        struct bm_errmsg *em)
{
    const struct bm_genesis *g = s->env->genesis;
    int err;

    *has_hash = false;
    if (sh->header.height != height) {
        return bm_errf(
            em, BM_EHEIGHT_MISMATCH, "header.height: got %llu, want %llu",
            (unsigned long long)sh->header.height, (unsigned long long)height);
    }
    err = bm_signed_header_validate_basic_hash(sh, now_ns, hash, has_hash,
                                               em);
    if (err != BM_OK) {
        return err;
    }
    return bm_assert_expected_proposer(&s->state, &g->proposer_address,
                                       &sh->header, em);
}

/* The headers of one pump, checked in parallel (bm_verifier_each). */
struct hdr_batch {
    const struct store_sync *s; /* read-only during the checks */
    uint64_t from;              /* height of v[0] */
    uint64_t now_ns;
    struct bm_signed_header *v; /* n decoded headers, owned */
    int *err;                   /* n verdicts */
    struct bm_hash *hash;       /* n header hashes, where has_hash */
    bool *has_hash;
    struct bm_errmsg *em;       /* n messages */
    size_t n;
};

/* bm_verifier_fn: checks header i of the batch (any thread). */
static void check_one(void *arg, size_t i)
{
    struct hdr_batch *b = arg;

    b->err[i] = check_header(b->s, &b->v[i], b->from + i, b->now_ns,
                             &b->hash[i], &b->has_hash[i], &b->em[i]);
}

static void hdr_batch_release(struct hdr_batch *b)
{
    for (size_t i = 0; b->v != NULL && i < b->n; i++) {
        bm_signed_header_release(&b->v[i]);
    }
    bm_free(b->v);
    bm_free(b->err);
    bm_free(b->hash);
    bm_free(b->has_hash);
    bm_free(b->em);
    memset(b, 0, sizeof(*b));
}

/*
 * Adds the headers above s->last_header up to `top` (at most
 * MAX_PER_TICK, stopping at the first one not held) to *m, each checked
 * (signature included, on the verifier actors at once) and marked
 * verified; a bad one is skipped (logged, counted). *last gets the last
 * height looked at. May block.
 */
static void take_headers(struct store_sync *s, uint64_t top,
                         struct bm_sync_items_in *m, uint64_t *last)
{
    const struct bm_p2p_store *ps = s->env->header_store;
    struct hdr_batch b = {0};
    uint64_t want = top > s->last_header ? top - s->last_header : 0;

    *last = s->last_header;
    if (want > MAX_PER_TICK) {
        want = MAX_PER_TICK;
    }
    if (want == 0) {
        return;
    }
    b.s = s;
    b.from = s->last_header + 1;
    b.now_ns = bm_validate_now_ns();
    b.v = bm_xcalloc(want, sizeof(*b.v));
    b.err = bm_xcalloc(want, sizeof(*b.err));
    b.hash = bm_xcalloc(want, sizeof(*b.hash));
    b.has_hash = bm_xcalloc(want, sizeof(*b.has_hash));
    b.em = bm_xcalloc(want, sizeof(*b.em));
    m->headers = bm_xcalloc(want, sizeof(*m->headers));
    for (; b.n < want; b.n++) {
        int err = ps->get_header(ps->ctx, b.from + b.n, &b.v[b.n]);

        if (err != BM_OK) {
            bm_signed_header_release(&b.v[b.n]);
            if (err != BM_ENOTFOUND) {
                bm_log_debug(MOD, "get_header height=%llu err=%s",
                             (unsigned long long)(b.from + b.n),
                             bm_err_name(err));
            }
            break;
        }
    }
    bm_verifier_each(s->env, check_one, &b, b.n);
    for (size_t i = 0; i < b.n; i++) {
        struct bm_sync_header_in *hi;

        if (b.err[i] != BM_OK) {
            skipped(s);
            bm_log_warn(MOD, "p2p header skipped height=%llu err=%s msg='%s'",
                        (unsigned long long)(b.from + i),
                        bm_err_name(b.err[i]),
                        bm_errmsg_str(&b.em[i], b.err[i]));
            continue;
        }
        hi = &m->headers[m->n_headers++];
        hi->sh = bm_xcalloc(1, sizeof(*hi->sh));
        *hi->sh = b.v[i]; /* moved */
        memset(&b.v[i], 0, sizeof(b.v[i]));
        hi->da_height = 0;
        hi->source = BM_SRC_P2P;
        hi->sig_verified = true; /* check_header verified it */
        hi->has_hash = b.has_hash[i]; /* ... and hashed those bytes */
        hi->hash = b.hash[i];
    }
    *last = s->last_header + b.n;
    hdr_batch_release(&b);
}

/* Adds the data above s->last_data up to `top` (at most MAX_PER_TICK,
 * stopping at the first one not held) to *m; data whose metadata names
 * another height is skipped. *last gets the last height looked at. May
 * block. */
static void take_data(struct store_sync *s, uint64_t top,
                      struct bm_sync_items_in *m, uint64_t *last)
{
    const struct bm_p2p_store *ps = s->env->data_store;
    uint64_t want = top > s->last_data ? top - s->last_data : 0;
    uint64_t h = s->last_data;

    *last = h;
    if (want > MAX_PER_TICK) {
        want = MAX_PER_TICK;
    }
    if (want == 0) {
        return;
    }
    m->data = bm_xcalloc(want, sizeof(*m->data));
    for (uint64_t k = 0; k < want; k++) {
        struct bm_data *d = bm_xcalloc(1, sizeof(*d));
        struct bm_sync_data_in *di;
        int err;

        err = ps->get_data(ps->ctx, h + 1, d);
        if (err != BM_OK) {
            bm_data_release(d);
            bm_free(d);
            if (err != BM_ENOTFOUND) {
                bm_log_debug(MOD, "get_data height=%llu err=%s",
                             (unsigned long long)(h + 1), bm_err_name(err));
            }
            break;
        }
        h++;
        if (d->has_metadata && d->metadata.height != h) {
            skipped(s);
            bm_log_warn(MOD,
                        "p2p data skipped height=%llu err=%s "
                        "msg='data.metadata.height: got %llu'",
                        (unsigned long long)h,
                        bm_err_name(BM_EHEIGHT_MISMATCH),
                        (unsigned long long)d->metadata.height);
            bm_data_release(d);
            bm_free(d);
            continue;
        }
        di = &m->data[m->n_data++];
        di->data = d;
        di->da_height = 0;
        di->source = BM_SRC_P2P;
    }
    *last = h;
}

/* Hands the headers and data above the cursors (up to their tops) to
 * Sync in one ITEMS_IN; the cursors move only once Sync took it. */
static void pump(struct store_sync *s, bool have_htop, uint64_t htop,
                 bool have_dtop, uint64_t dtop)
{
    struct bm_env *env = s->env;
    struct bm_sync_items_in m = {0};
    uint64_t lh = s->last_header, ld = s->last_data;
    int err = BM_OK;

    if (have_htop) {
        take_headers(s, htop, &m, &lh);
    }
    if (have_dtop) {
        take_data(s, dtop, &m, &ld);
    }
    if (m.n_headers + m.n_data > 0) {
        err = bm_sync_tell_items_in(env->sys, bm_env_sync(env), &m);
        if (err == BM_OK) {
            memset(&m, 0, sizeof(m)); /* Sync owns them */
        } else {
            bm_log_debug(MOD, "cannot hand over headers to %llu and data "
                         "to %llu err=%s", (unsigned long long)lh,
                         (unsigned long long)ld, bm_err_name(err));
        }
    }
    if (err == BM_OK) {
        s->last_header = lh;
        s->last_data = ld;
    }
    bm_sync_items_in_dtor(&m);
}

/* The cursors follow the store height; they go back to it when nothing
 * handed over above it was applied for STALL_MS. */
static void move_cursors(struct store_sync *s, uint64_t local)
{
    uint64_t now = bm_env_now_ms();

    if (s->loaded && local < s->last_local) {
        /* the store went back (an HA rollback, docs/HA.md): what was
         * handed over above it is handed over again */
        s->last_header = local;
        s->last_data = local;
    }
    if (!s->loaded || local != s->last_local) {
        s->last_local = local;
        s->progress_ms = now;
    } else if ((s->last_header > local || s->last_data > local) &&
               now - s->progress_ms >= STALL_MS) {
        bm_log_info(MOD, "no progress at height=%llu for %u ms: handing "
                    "over again from there (headers to %llu, data to %llu "
                    "were handed over)",
                    (unsigned long long)local, STALL_MS,
                    (unsigned long long)s->last_header,
                    (unsigned long long)s->last_data);
        s->last_header = local;
        s->last_data = local;
        s->progress_ms = now;
    }
    if (s->last_header < local) {
        s->last_header = local;
    }
    if (s->last_data < local) {
        s->last_data = local;
    }
}

/* min(P2P store height, local + AHEAD); false if unknown. */
static bool top_of(const struct bm_p2p_store *ps, uint64_t local,
                   uint64_t *top)
{
    int err = ps->height(ps->ctx, top);

    if (err != BM_OK) {
        bm_log_debug(MOD, "p2p store height err=%s", bm_err_name(err));
        return false;
    }
    if (*top > local + AHEAD) {
        *top = local + AHEAD;
    }
    return true;
}

BM_ACTOR_HANDLER(on_tick, struct store_sync, struct bm_store_sync_tick)
static int on_tick(struct bm_actor_ctx *ctx, struct store_sync *s,
                   struct bm_store_sync_tick *p)
{
    struct bm_env *env = s->env;
    uint64_t local, htop = 0, dtop = 0;
    bool have_htop, have_dtop;

    (void)ctx;
    (void)p;
    if (bm_env_halted(env) || env->header_store == NULL ||
        env->data_store == NULL || bm_actor_id_is_none(env->ids.sync)) {
        return BM_OK;
    }
    /* An aggregator takes P2P blocks only while it catches up. */
    if (env->cfg.aggregator && bm_catchup_ha_poll(env)) {
        return BM_OK;
    }
    if (!store_height(s, &local)) {
        return BM_OK;
    }
    if (local != s->last_local || !s->loaded) {
        load_state(s);
    }
    if (!s->loaded) {
        bm_log_info(MOD, "started store_height=%llu",
                    (unsigned long long)local);
    }
    move_cursors(s, local);
    s->loaded = true;
    have_htop = top_of(env->header_store, local, &htop);
    have_dtop = top_of(env->data_store, local, &dtop);
    pump(s, have_htop, htop, have_dtop, dtop);
    if (env->cfg.aggregator) {
        (void)bm_catchup_poll_p2p(env, local);
    }
    return BM_OK;
}

static const struct bm_msg_kind store_sync_kinds[BM_STORE_SYNC_NKINDS] = {
    [BM_STORE_SYNC_TICK] = BM_MSG_KIND("tick", struct bm_store_sync_tick, 0,
                                       NULL, on_tick, NULL, NULL),
    [BM_STORE_SYNC_WAKE] = BM_MSG_KIND("wake", struct bm_store_sync_tick, 0,
                                       NULL, on_tick, NULL, NULL),
};

static int store_sync_init(struct bm_actor_ctx *ctx, void *arg,
                           void **state_out)
{
    struct bm_env *env = arg;
    struct bm_store_sync_tick tick = {0};
    struct store_sync *s;
    uint64_t every;
    int err;

    if (env == NULL) {
        return BM_EINVAL;
    }
    s = bm_xcalloc(1, sizeof(*s));
    s->env = env;
    if (env->header_store != NULL && env->data_store != NULL) {
        every = env->cfg.block_time_ms ? env->cfg.block_time_ms : 1000;
        err = bm_timer_start(env->sys, bm_actor_ctx_self(ctx),
                             BM_STORE_SYNC_TICK, &tick, sizeof(tick),
                             (int64_t)every, (int64_t)every, &s->timer);
        if (err != BM_OK) {
            bm_free(s);
            return err;
        }
    }
    *state_out = s;
    return BM_OK;
}

static void store_sync_terminate(void *state, int reason)
{
    struct store_sync *s = state;

    (void)reason;
    if (s == NULL) {
        return;
    }
    (void)bm_timer_cancel(s->env->sys, s->timer);
    bm_state_release(&s->state);
    bm_free(s);
}

const struct bm_actor_type bm_store_sync_actor_type = {
    .name = "store_sync",
    .kinds = store_sync_kinds,
    .n_kinds = BM_STORE_SYNC_NKINDS,
    .init = store_sync_init,
    .terminate = store_sync_terminate,
};
