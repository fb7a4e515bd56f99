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

/* Checks a header from the P2P store for `height`. Borrows sh. */
static int check_header(const struct store_sync *s,
                        const struct bm_signed_header *sh, uint64_t height,
                        struct bm_errmsg *em)
{
    const struct bm_genesis *g = s->env->genesis;
    int err;

    if (sh->header.height != height) {
        return bm_errf(
            em, BM_EHEIGHT_MISMATCH, "header.height: got %llu, want %llu",
            (unsigned long long)sh->header.height, (unsigned long long)height);
    }
    err = bm_signed_header_validate_basic(sh, bm_validate_now_ns(), em);
    if (err != BM_OK) {
        return err;
    }
    return bm_assert_expected_proposer(&s->state, &g->proposer_address,
                                       &sh->header, em);
}

/* Hands over headers above s->last_header up to `top`. May block. */
static void pump_headers(struct store_sync *s, uint64_t top)
{
    const struct bm_p2p_store *ps = s->env->header_store;
    struct bm_env *env = s->env;
    unsigned done = 0;

    while (s->last_header < top && done < MAX_PER_TICK) {
        uint64_t h = s->last_header + 1;
        struct bm_signed_header *sh = bm_xcalloc(1, sizeof(*sh));
        struct bm_sync_header_in msg = {0};
        struct bm_errmsg em = {{0}};
        int err;

        done++;
        err = ps->get_header(ps->ctx, h, sh);
        if (err != BM_OK) {
            bm_signed_header_release(sh);
            bm_free(sh);
            if (err != BM_ENOTFOUND) {
                bm_log_debug(MOD, "get_header height=%llu err=%s",
                             (unsigned long long)h, bm_err_name(err));
            }
            return;
        }
        err = check_header(s, sh, h, &em);
        if (err != BM_OK) {
            skipped(s);
            bm_log_warn(MOD, "p2p header skipped height=%llu err=%s msg='%s'",
                        (unsigned long long)h, bm_err_name(err),
                        bm_errmsg_str(&em, err));
            bm_signed_header_release(sh);
            bm_free(sh);
            s->last_header = h;
            continue;
        }
        msg.sh = sh;
        msg.da_height = 0;
        msg.source = BM_SRC_P2P;
        err = bm_sync_tell_header_in(env->sys, bm_env_sync(env), &msg);
        if (err != BM_OK) {
            bm_log_debug(MOD, "cannot send header height=%llu err=%s",
                         (unsigned long long)h, bm_err_name(err));
            bm_signed_header_release(sh);
            bm_free(sh);
            return;
        }
        s->last_header = h;
    }
}

/* Hands over data above s->last_data up to `top`. May block. */
static void pump_data(struct store_sync *s, uint64_t top)
{
    const struct bm_p2p_store *ps = s->env->data_store;
    struct bm_env *env = s->env;
    unsigned done = 0;

    while (s->last_data < top && done < MAX_PER_TICK) {
        uint64_t h = s->last_data + 1;
        struct bm_data *d = bm_xcalloc(1, sizeof(*d));
        struct bm_sync_data_in msg = {0};
        int err;

        done++;
        err = ps->get_data(ps->ctx, h, d);
        if (err != BM_OK) {
            bm_data_release(d);
            bm_free(d);
            if (err != BM_ENOTFOUND) {
                bm_log_debug(MOD, "get_data height=%llu err=%s",
                             (unsigned long long)h, bm_err_name(err));
            }
            return;
        }
        if (d->has_metadata && d->metadata.height != h) {
            skipped(s);
            bm_log_warn(MOD,
                        "p2p data skipped height=%llu err=%s "
                        "msg='data.metadata.height: got %llu'",
                        (unsigned long long)h, bm_err_name(BM_EHEIGHT_MISMATCH),
                        (unsigned long long)d->metadata.height);
            bm_data_release(d);
            bm_free(d);
            s->last_data = h;
            continue;
        }
        msg.data = d;
        msg.da_height = 0;
        msg.source = BM_SRC_P2P;
        err = bm_sync_tell_data_in(env->sys, bm_env_sync(env), &msg);
        if (err != BM_OK) {
            bm_log_debug(MOD, "cannot send data height=%llu err=%s",
                         (unsigned long long)h, bm_err_name(err));
            bm_data_release(d);
            bm_free(d);
            return;
        }
        s->last_data = h;
    }
}

/* The cursors follow the store height; they go back to it when nothing
 * handed over above it was applied for STALL_MS. */
static void move_cursors(struct store_sync *s, uint64_t local)
{
    uint64_t now = bm_env_now_ms();

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
    uint64_t local, top;

    (void)ctx;
    (void)p;
    if (bm_env_halted(env) || env->header_store == NULL ||
        env->data_store == NULL || bm_actor_id_is_none(env->ids.sync)) {
        return BM_OK;
    }
    /* An aggregator takes P2P blocks only while it catches up. */
    if (env->cfg.aggregator && !bm_catchup_active(env)) {
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
    if (top_of(env->header_store, local, &top)) {
        pump_headers(s, top);
    }
    if (top_of(env->data_store, local, &top)) {
        pump_data(s, top);
    }
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
