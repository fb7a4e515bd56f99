/*
 * ReaperActor (reaper.h): every scrape interval, if the reaper limiter
 * allows a round, copies the executor's mempool (GetTxs), drops the txs it
 * already handed over (a bounded window of SHA-256 tx hashes), SUBMITs the
 * rest to the SequencerActor and tells the Aggregator when any was
 * accepted. Detached: GetTxs and the sequencer's fsync block.
 *
 * The window is only a filter against re-sending the same mempool copy
 * every round (the sequencer de-duplicates too); a hash enters it once the
 * sequencer answered the SUBMIT that carried it. A failed round (GetTxs or
 * SUBMIT error) backs off interval * 2^min(n, 5), capped at 30 s, and is
 * logged once per failure streak.
 *
 * The scrape timer is periodic and a round blocks (a busy execution client
 * answers GetTxs only once it has built its block, seconds later): the
 * ticks that queued meanwhile are stale, and a tick that comes less than
 * half an interval after the last round ended is skipped instead of
 * re-reading the pool just read.
 */
#include "actors/reaper.h"

#include <string.h>

#include "actors/aggregator.h"
#include "actors/sequencer.h"
#include "blockv2/executor.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "reaper"

#define WINDOW_CAP 65536
#define BACKOFF_CAP_MS 30000
#define SUBMIT_TIMEOUT_MS 30000

struct reaper {
    struct bm_env *env;
    uint64_t interval_ms;
    struct bm_timer_id timer;
    struct bm__txwin sent; /* hashes already handed over */
    uint32_t fail_streak;
    uint64_t retry_at_ms; /* ticks before this are skipped */
    uint64_t last_end_ms; /* when the last round ended; 0: none yet */
};

static void round_failed(struct reaper *r, int err, const char *what,
                         const struct bm_errmsg *em)
{
    uint32_t n;
    uint64_t backoff;

    r->fail_streak++;
    n = r->fail_streak < 5 ? r->fail_streak : 5;
    backoff = r->interval_ms << n;
    if (backoff > BACKOFF_CAP_MS) {
        backoff = BACKOFF_CAP_MS;
    }
    r->retry_at_ms = bm_env_now_ms() + backoff;
    if (r->fail_streak == 1) {
        bm_log_warn(MOD, "%s failed err=%s msg='%s' backoff_ms=%llu", what,
                    bm_err_name(err), bm_errmsg_str(em, err),
                    (unsigned long long)backoff);
    } else {
        bm_log_debug(MOD, "%s failed err=%s failures=%u backoff_ms=%llu", what,
                     bm_err_name(err), (unsigned)r->fail_streak,
                     (unsigned long long)backoff);
    }
}

static void round_ok(struct reaper *r)
{
    if (r->fail_streak > 0) {
        bm_log_info(MOD, "recovered failures=%u", (unsigned)r->fail_streak);
    }
    r->fail_streak = 0;
    r->retry_at_ms = 0;
}

/* SUBMITs txs[0..n) (ownership moves to the message once sent; on a send
 * error the caller keeps them) and waits for the reply. May block. */
static int submit(struct reaper *r, struct bm_buf **txs, size_t n,
                  size_t *accepted)
{
    struct bm_sequencer_txs req = {.txs = *txs, .n = n};
    struct bm_sequencer_count reply = {0};
    struct bm_future *f = NULL;
    int err;

    err = bm_sequencer_ask_submit(r->env->sys, bm_env_sequencer(r->env), &req,
                                  SUBMIT_TIMEOUT_MS, &f);
    if (err != BM_OK) {
        return err; /* not sent: *txs still ours */
    }
    *txs = NULL; /* the message owns them now */
    err = bm_future_wait(f, -1, &reply, sizeof(reply));
    bm_future_free(f);
    if (err == BM_OK) {
        *accepted = reply.n;
    }
    return err;
}

/* One round. May block (executor, sequencer). */
static void reap(struct reaper *r)
{
    struct bm_env *env = r->env;
    struct bm_batch batch = {0};
    struct bm_buf *fresh = NULL;
    struct bm_hash *hashes = NULL;
    struct bm_errmsg em = {{0}};
    size_t n = 0, accepted = 0;
    int err;

    err = bm_executor_get_txs(env->exec, &batch, &em);
    if (err != BM_OK) {
        round_failed(r, err, "get_txs", &em);
        goto out;
    }
    if (batch.n_txs == 0) {
        round_ok(r);
        goto out;
    }
    fresh = bm_xcalloc(batch.n_txs, sizeof(*fresh));
    hashes = bm_xcalloc(batch.n_txs, sizeof(*hashes));
    for (size_t i = 0; i < batch.n_txs; i++) {
        struct bm_hash h;

        bm_exec_tx_hash(batch.txs[i].ptr, batch.txs[i].len, &h);
        if (bm__txwin_has(&r->sent, &h)) {
            continue;
        }
        /* Move the buffer out of the batch. */
        fresh[n] = batch.txs[i];
        batch.txs[i].ptr = NULL;
        batch.txs[i].len = 0;
        hashes[n] = h;
        n++;
    }
    if (n == 0) {
        round_ok(r);
        goto out;
    }
    err = submit(r, &fresh, n, &accepted);
    if (err != BM_OK) {
        memset(&em, 0, sizeof(em));
        round_failed(r, err, "submit", &em);
        goto out;
    }
    round_ok(r);
    for (size_t i = 0; i < n; i++) {
        bm__txwin_add(&r->sent, &hashes[i]);
    }
    atomic_fetch_add_explicit(&env->m.reaper_txs, accepted,
                              memory_order_relaxed);
    bm_log_debug(MOD, "submitted txs=%zu accepted=%zu", n, accepted);
    if (accepted > 0 && !bm_actor_id_is_none(env->ids.aggregator)) {
        struct bm_aggregator_txs t = {
            .n = accepted > UINT32_MAX ? UINT32_MAX : (uint32_t)accepted};

        err = bm_aggregator_tell_txs(env->sys, bm_env_aggregator(env), &t);
        if (err != BM_OK) {
            bm_log_debug(MOD, "cannot notify aggregator err=%s",
                         bm_err_name(err));
        }
    }
out:
    if (fresh != NULL) {
        bm_exec_txs_free(fresh, n);
    }
    bm_free(hashes);
    bm_batch_release(&batch);
}

BM_ACTOR_HANDLER(on_tick, struct reaper, struct bm_reaper_tick)
static int on_tick(struct bm_actor_ctx *ctx, struct reaper *r,
                   struct bm_reaper_tick *p)
{
    (void)ctx;
    (void)p;
    if (bm_env_halted(r->env)) {
        return BM_OK;
    }
    if (r->retry_at_ms != 0 && bm_env_now_ms() < r->retry_at_ms) {
        return BM_OK; /* backing off */
    }
    if (r->last_end_ms != 0 &&
        bm_env_now_ms() - r->last_end_ms < r->interval_ms / 2) {
        return BM_OK; /* queued while the last round blocked */
    }
    if (r->env->reaper_limiter != NULL &&
        !bm_limiter_allow(r->env->reaper_limiter)) {
        bm_log_debug(MOD, "round skipped: rate limited");
        return BM_OK;
    }
    reap(r);
    r->last_end_ms = bm_env_now_ms();
    return BM_OK;
}

static const struct bm_msg_kind reaper_kinds[BM_REAPER_NKINDS] = {
    [BM_REAPER_TICK] = BM_MSG_KIND("tick", struct bm_reaper_tick, 0, NULL,
                                   on_tick, NULL, NULL),
};

static int reaper_init(struct bm_actor_ctx *ctx, void *arg, void **state_out)
{
    struct bm_env *env = arg;
    struct bm_reaper_tick tick = {0};
    struct reaper *r;
    int err;

    if (env == NULL) {
        return BM_EINVAL;
    }
    r = bm_xcalloc(1, sizeof(*r));
    r->env = env;
    r->interval_ms =
        env->cfg.scrape_interval_ms ? env->cfg.scrape_interval_ms : 1000;
    err = bm__txwin_init(&r->sent, WINDOW_CAP);
    if (err != BM_OK) {
        goto fail;
    }
    err = bm_timer_start(env->sys, bm_actor_ctx_self(ctx), BM_REAPER_TICK,
                         &tick, sizeof(tick), (int64_t)r->interval_ms,
                         (int64_t)r->interval_ms, &r->timer);
    if (err != BM_OK) {
        goto fail;
    }
    *state_out = r;
    return BM_OK;
fail:
    bm__txwin_release(&r->sent);
    bm_free(r);
    return err;
}

static void reaper_terminate(void *state, int reason)
{
    struct reaper *r = state;

    (void)reason;
    if (r == NULL) {
        return;
    }
    (void)bm_timer_cancel(r->env->sys, r->timer);
    bm__txwin_release(&r->sent);
    bm_free(r);
}

const struct bm_actor_type bm_reaper_actor_type = {
    .name = "reaper",
    .kinds = reaper_kinds,
    .n_kinds = BM_REAPER_NKINDS,
    .init = reaper_init,
    .terminate = reaper_terminate,
};
