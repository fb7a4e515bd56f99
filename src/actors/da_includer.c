/*
 * DAIncluderActor (da_includer.h): advances the DA-included height in
 * order, from the rhb metadata that the submitter (aggregator) or the
 * Sync actor (full node) writes, and finalises each height in the
 * executor (spec 8.4, current). Detached: SetFinal and the store reads may
 * block. A run of heights is finalised with one SetFinal of its last
 * height (finality is a watermark: it covers every height below) and
 * persisted with one PUT_META through the State actor (at most PASS_BATCH
 * heights each), so a catch-up costs one executor commit per run, not per
 * block; SetFinal runs before the height is persisted, so after a crash a
 * height may be finalised twice (SetFinal is idempotent).
 */
#include "actors/da_includer.h"

#include <string.h>

#include "actors/da_actor.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "da_includer"
#define PASS_BATCH 1000u
#define TICK_MIN_MS 50u
#define COLLAPSE_MS 10u
#define SET_FINAL_ATTEMPTS 3
#define SET_FINAL_PAUSE_MS 100u

struct inc {
    struct bm_da_actor base; /* first: env, init/terminate (da_actor.h) */
    bool loaded;
    bool has_gdh;
    uint64_t included;
    uint64_t last_pass_ms;
    bool caught_up; /* the last pass reached the store height */
};

/*
 * DA heights of block n's pieces: BM_OK with *hh and *dh (for empty data
 * *dh = *hh and *empty is true), BM_ENOTFOUND when a piece is not known to
 * be on DA (or the block is not stored), BM_ECORRUPT for a stored header
 * or metadata value of the wrong shape (message in em), or a read error.
 */
static int piece_heights(struct bm_store *s, uint64_t n, uint64_t *hh,
                         uint64_t *dh, bool *empty, struct bm_errmsg *em)
{
    struct bm_signed_header sh = {0};
    struct bm_buf raw = {0};
    char name[48];
    int err;

    *empty = false;
    bm_meta_rhb_name(name, sizeof(name), n, 'h');
    err = bm_meta_get_u64(s, name, hh, em);
    if (err != BM_OK) {
        return err;
    }
    /* Where the data is, when known, without reading the header: an
     * empty block's rhb/<n>/d is written (by Sync, or by a pass of this
     * actor) only as its header's DA height, which is what *dh would be.
     * A catch-up writes it with every block, so a pass reads no header. */
    bm_meta_rhb_name(name, sizeof(name), n, 'd');
    err = bm_meta_get_u64(s, name, dh, em);
    if (err != BM_ENOTFOUND) {
        return err;
    }
    err = bm_store_get_header(s, n, &raw, em);
    if (err != BM_OK) {
        return err;
    }
    err = bm_signed_header_decode(&sh, raw.ptr, raw.len);
    if (err != BM_OK) {
        err = bm_errf(em, BM_ECORRUPT,
                      "store: header at height %llu does not decode: %s",
                      (unsigned long long)n, bm_err_name(err));
        goto out;
    }
    if (bm_header_expects_empty_data(&sh.header)) {
        *empty = true;
        *dh = *hh;
        goto out;
    }
    err = BM_ENOTFOUND; /* the data is not known to be on DA */
out:
    bm_signed_header_release(&sh);
    bm_buf_release(&raw);
    return err;
}

enum bm_err bm_da_includer_is_included(struct bm_env *env, uint64_t height,
                                       bool *out, struct bm_errmsg *em)
{
    uint64_t top = 0, hh = 0, dh = 0;
    bool empty = false;
    int err;

    *out = false;
    if (height == 0) {
        return BM_OK;
    }
    err = bm_store_height(env->store, &top, em);
    if (err == BM_ENOTFOUND) {
        return BM_OK;
    }
    if (err != BM_OK) {
        return err;
    }
    if (height > top) {
        return BM_OK;
    }
    err = piece_heights(env->store, height, &hh, &dh, &empty, em);
    if (err == BM_ENOTFOUND) {
        return BM_OK;
    }
    if (err != BM_OK) {
        return err;
    }
    *out = true;
    return BM_OK;
}

static int load(struct inc *s)
{
    struct bm_env *env = s->base.env;
    struct bm_errmsg em = {{0}};
    uint64_t v = 0;
    int err;

    err = bm_meta_get_u64(env->store, BM_META_DA_INCLUDED, &v, &em);
    if (err == BM_ENOTFOUND) {
        v = env->genesis->initial_height > 0
                ? env->genesis->initial_height - 1
                : 0;
    } else if (err != BM_OK) {
        bm_env_fatal(env, MOD, err, "cannot load %s: %s", BM_META_DA_INCLUDED,
                     bm_errmsg_str(&em, err));
        return err;
    }
    s->included = v;
    err = bm_meta_get_u64(env->store, BM_META_GENESIS_DA_HEIGHT, &v, &em);
    if (err != BM_OK && err != BM_ENOTFOUND) {
        bm_env_fatal(env, MOD, err, "cannot load %s: %s",
                     BM_META_GENESIS_DA_HEIGHT, bm_errmsg_str(&em, err));
        return err;
    }
    s->has_gdh = err == BM_OK;
    atomic_store_explicit(&env->m.da_included_height, s->included,
                          memory_order_relaxed);
    s->loaded = true;
    bm_log_debug(MOD, "loaded included=%llu gdh=%s",
                 (unsigned long long)s->included, s->has_gdh ? "yes" : "no");
    return BM_OK;
}

/* Executor.SetFinal(n), retried; false after the last attempt, which is
 * fatal unless the failure is transient (then a later pass tries again);
 * BM_EIO (a full or failing disk) is fatal at once. */
static bool set_final(struct bm_env *env, uint64_t n)
{
    struct bm_errmsg em = {{0}};
    int err = BM_OK;

    for (int i = 1; i <= SET_FINAL_ATTEMPTS; i++) {
        err = bm_executor_set_final(env->exec, n, &em);
        if (err == BM_OK) {
            return true;
        }
        bm_log_warn(MOD, "set_final height=%llu attempt=%d err=%s %s",
                    (unsigned long long)n, i, bm_err_name(err),
                    bm_errmsg_str(&em, err));
        if (err == BM_EIO) {
            break; /* a full or failing disk: fatal at once (no retry
                    * into pages LMDB frees; docs/OPERATIONS.md) */
        }
        if (i < SET_FINAL_ATTEMPTS) {
            bm_sleep_ms(SET_FINAL_PAUSE_MS);
        }
        if (bm_env_halted(env)) {
            return false;
        }
    }
    if (bm_executor_err_transient(err)) {
        bm_log_warn(MOD, "executor unavailable, height %llu not finalised "
                    "(retried on the next pass) err=%s",
                    (unsigned long long)n, bm_err_name(err));
        return false;
    }
    bm_env_fatal(env, MOD, err, "set_final(%llu) failed %d times: %s",
                 (unsigned long long)n, SET_FINAL_ATTEMPTS,
                 bm_errmsg_str(&em, err));
    return false;
}

/* Persists d = last (with the hints and gdh already in l). */
static bool flush(struct inc *s, struct bm_state_meta_list *l, uint64_t last,
                  size_t count, bool gdh_pending)
{
    struct bm_env *env = s->base.env;
    int err;

    err = bm_state_meta_add_u64(l, BM_META_DA_INCLUDED, last);
    if (err == BM_OK) {
        err = bm_da_actor_put_meta(env, l);
    }
    bm_state_meta_list_release(l);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot persist %s=%llu err=%s", BM_META_DA_INCLUDED,
                    (unsigned long long)last, bm_err_name(err));
        return false;
    }
    s->included = last;
    if (gdh_pending) {
        s->has_gdh = true;
    }
    atomic_store_explicit(&env->m.da_included_height, last,
                          memory_order_relaxed);
    bm_log_debug(MOD, "da included height=%llu count=%zu",
                (unsigned long long)last, count);
    return true;
}

static int run_pass(struct inc *s)
{
    struct bm_env *env = s->base.env;
    struct bm_state_meta_list l = {0};
    struct bm_errmsg em = {{0}};
    uint64_t top = 0, last = 0;
    size_t count = 0;
    bool gdh_pending = false;
    int err;

    s->caught_up = false;
    if (bm_env_halted(env)) {
        return BM_OK;
    }
    if (!s->loaded && load(s) != BM_OK) {
        return BM_OK;
    }
    err = bm_store_height(env->store, &top, &em);
    if (err != BM_OK) {
        if (err != BM_ENOTFOUND) {
            bm_log_warn(MOD, "cannot read the store height err=%s %s",
                        bm_err_name(err), bm_errmsg_str(&em, err));
        }
        s->caught_up = err == BM_ENOTFOUND; /* no block yet */
        goto out;
    }
    for (uint64_t n = s->included + 1; n <= top && !bm_env_halted(env); n++) {
        uint64_t hh = 0, dh = 0;
        bool empty = false;
        char name[48];

        err = piece_heights(env->store, n, &hh, &dh, &empty, &em);
        if (err == BM_ENOTFOUND) {
            break;
        }
        if (err != BM_OK) {
            bm_env_fatal(env, MOD, err, "height %llu: %s",
                         (unsigned long long)n, bm_errmsg_str(&em, err));
            goto out;
        }
        err = BM_OK;
        if (empty) {
            bm_meta_rhb_name(name, sizeof(name), n, 'd');
            err = bm_state_meta_add_u64(&l, name, dh);
        }
        if (err == BM_OK && !s->has_gdh && !gdh_pending) {
            err = bm_state_meta_add_u64(&l, BM_META_GENESIS_DA_HEIGHT,
                                        hh < dh ? hh : dh);
            gdh_pending = true;
        }
        if (err != BM_OK) {
            bm_log_warn(MOD, "cannot build metadata err=%s",
                        bm_err_name(err));
            break;
        }
        last = n;
        count++;
        if (count == PASS_BATCH) {
            if (!set_final(env, last) ||
                !flush(s, &l, last, count, gdh_pending)) {
                goto out;
            }
            count = 0;
            gdh_pending = false;
        }
    }
    if (count > 0 && set_final(env, last)) {
        (void)flush(s, &l, last, count, gdh_pending);
    }
    s->caught_up = s->included >= top;
out:
    bm_state_meta_list_release(&l);
    s->last_pass_ms = bm_env_now_ms();
    return BM_OK;
}

/*
 * The tick runs only while heights wait for inclusion (or a pass failed):
 * a caught-up includer sleeps until NEW_HEIGHT or INCLUDED re-arms it, so
 * an idle node does not wake for it. A new height is the only thing that
 * can put it behind again, and every commit sends NEW_HEIGHT; a restart
 * re-arms in init.
 */
static void tick_resume(struct inc *s, struct bm_actor_ctx *ctx)
{
    struct bm_da_includer_tick t = {0};

    (void)bm_env_tick_resume(s->base.env, bm_actor_ctx_self(ctx),
                             BM_DA_INCLUDER_TICK, &t, sizeof(t),
                             (int64_t)TICK_MIN_MS, &s->base.tick);
}

BM_ACTOR_HANDLER(on_tick, struct inc, struct bm_da_includer_tick)
BM_ACTOR_HANDLER(on_new_height, struct inc, struct bm_state_new_height)
BM_ACTOR_HANDLER(on_included, struct inc, struct bm_da_includer_included)

static int on_tick(struct bm_actor_ctx *ctx, struct inc *st,
                   struct bm_da_includer_tick *p)
{
    int err;

    (void)p;
    bm_env_tick_fired(&st->base.tick); /* one-shot: delivered */
    err = run_pass(st);
    if (!st->caught_up && !bm_env_quitting(st->base.env)) {
        tick_resume(st, ctx); /* the next one, after this round */
    }
    return err;
}

static int on_new_height(struct bm_actor_ctx *ctx, struct inc *st,
                         struct bm_state_new_height *p)
{
    (void)p;
    tick_resume(st, ctx);
    if (st->loaded && bm_env_now_ms() - st->last_pass_ms < COLLAPSE_MS) {
        return BM_OK;
    }
    return run_pass(st);
}

static int on_included(struct bm_actor_ctx *ctx, struct inc *st,
                       struct bm_da_includer_included *p)
{
    tick_resume(st, ctx);
    bm_log_debug(MOD, "included which=%c from=%llu to=%llu da_height=%llu",
                 p->which, (unsigned long long)p->from,
                 (unsigned long long)p->to, (unsigned long long)p->da_height);
    return run_pass(st);
}

static int validate_included(const void *payload, struct bm_errmsg *em)
{
    const struct bm_da_includer_included *p = payload;

    if (p == NULL) {
        return bm_errf(em, BM_EINVAL, "included: payload is NULL");
    }
    if (p->which != 'h' && p->which != 'd') {
        return bm_errf(em, BM_EINVAL, "included.which: got %d, want 'h' or "
                       "'d'", (int)p->which);
    }
    if (p->from == 0 || p->from > p->to) {
        return bm_errf(em, BM_EINVAL,
                       "included.from: got %llu, want 1..to (%llu)",
                       (unsigned long long)p->from,
                       (unsigned long long)p->to);
    }
    return BM_OK;
}

static const struct bm_msg_kind inc_kinds[BM_DA_INCLUDER_NKINDS] = {
    [BM_DA_INCLUDER_TICK] = BM_MSG_KIND("tick", struct bm_da_includer_tick, 0,
                                        NULL, on_tick, NULL, NULL),
    [BM_DA_INCLUDER_NEW_HEIGHT] =
        BM_MSG_KIND("new_height", struct bm_state_new_height, 0,
                    bm_da_actor_validate_new_height, on_new_height, NULL,
                    NULL),
    [BM_DA_INCLUDER_INCLUDED] =
        BM_MSG_KIND("included", struct bm_da_includer_included, 0,
                    validate_included, on_included, NULL, NULL),
};

static int inc_init(struct bm_actor_ctx *ctx, void *arg, void **state_out)
{
    return bm_da_actor_init(ctx, arg, sizeof(struct inc), BM_DA_INCLUDER_TICK,
                            sizeof(struct bm_da_includer_tick),
                            (int64_t)TICK_MIN_MS, state_out);
}

const struct bm_actor_type bm_da_includer_actor_type = {
    .name = "da_includer",
    .kinds = inc_kinds,
    .n_kinds = BM_DA_INCLUDER_NKINDS,
    .init = inc_init,
    .terminate = bm_da_actor_terminate,
};
