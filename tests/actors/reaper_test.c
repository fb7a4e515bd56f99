/*
 * ReaperActor: txs in the KV mempool reach the real SequencerActor (and
 * the single sequencer's queue), the Aggregator (a capture actor) is told;
 * txs already handed over are not submitted again; a limiter refusal
 * skips the round; a failing SUBMIT backs off and warns once; the ticks
 * that queued while a round blocked do not re-read the pool back to back.
 */
#include "bm_test.h"

#include <pthread.h>
#include <string.h>

#include "actors_test_util.h"

#include "actors/aggregator.h"
#include "actors/reaper.h"
#include "actors/sequencer.h"
#include "blockv2/limiter.h"
#include "util/errmsg.h"
#include "util/log.h"

/* ------------------------------------------------ capture Aggregator */

struct cap_agg {
    pthread_mutex_t mu;
    unsigned notifies;
    uint64_t txs;
};

BM_ACTOR_HANDLER(ca_txs, struct cap_agg, struct bm_aggregator_txs)
static int ca_txs(struct bm_actor_ctx *ctx, struct cap_agg *c,
                  struct bm_aggregator_txs *p)
{
    (void)ctx;
    pthread_mutex_lock(&c->mu);
    c->notifies++;
    c->txs += p->n;
    pthread_mutex_unlock(&c->mu);
    return BM_OK;
}

BM_ACTOR_HANDLER(ca_other, struct cap_agg, struct bm_aggregator_tick)
static int ca_other(struct bm_actor_ctx *ctx, struct cap_agg *c,
                    struct bm_aggregator_tick *p)
{
    (void)ctx;
    (void)c;
    (void)p;
    return BM_OK;
}

static const struct bm_msg_kind ca_kinds[] = {
    [BM_AGGREGATOR_START] = BM_MSG_KIND("start", struct bm_aggregator_tick, 0,
                                        NULL, ca_other, NULL, NULL),
    [BM_AGGREGATOR_BLOCK_TICK] = BM_MSG_KIND(
        "block_tick", struct bm_aggregator_tick, 0, NULL, ca_other, NULL, NULL),
    [BM_AGGREGATOR_LAZY_TICK] = BM_MSG_KIND(
        "lazy_tick", struct bm_aggregator_tick, 0, NULL, ca_other, NULL, NULL),
    [BM_AGGREGATOR_TXS] = BM_MSG_KIND("txs", struct bm_aggregator_txs, 0, NULL,
                                      ca_txs, NULL, NULL),
};

static const struct bm_actor_type cap_agg_type = {
    .name = "cap_agg",
    .kinds = ca_kinds,
    .n_kinds = BM_AGGREGATOR_TXS + 1,
};

static unsigned ca_notifies(struct cap_agg *c)
{
    unsigned v;

    pthread_mutex_lock(&c->mu);
    v = c->notifies;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* ------------------------------------------------ log capture */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned submit_warns;

static void log_sink(enum bm_log_level level, const char *module,
                     const char *msg, void *arg)
{
    (void)arg;
    if (level == BM_LOG_WARN && strcmp(module, "reaper") == 0 &&
        strstr(msg, "submit failed") != NULL) {
        pthread_mutex_lock(&log_mu);
        submit_warns++;
        pthread_mutex_unlock(&log_mu);
    }
}

static unsigned warns(void)
{
    unsigned v;

    pthread_mutex_lock(&log_mu);
    v = submit_warns;
    pthread_mutex_unlock(&log_mu);
    return v;
}

/* ------------------------------------------------ helpers */

struct rig {
    struct at_node n;
    struct cap_agg ca;
};

static void add_tx(struct rig *r, const char *tx)
{
    struct bm_errmsg em = {{0}};
    int err =
        bm_kv_mempool_add(r->n.kv, (const uint8_t *)tx, strlen(tx), NULL, &em);

    if (err != BM_OK) {
        fail_msg("mempool add '%s': %s", tx, bm_errmsg_str(&em, err));
    }
}

/* Opens an aggregator node with the real SequencerActor (unless
 * no_sequencer) and a capture Aggregator; `lim` replaces the reaper
 * limiter (the env owns and frees it). Does not spawn the reaper. */
static void rig_open(struct rig *r, bool no_sequencer, struct bm_limiter *lim)
{
    struct at_opts o = {.aggregator = true};
    struct bm_actor_opts ao = {.name = "cap_agg"};

    memset(r, 0, sizeof(*r));
    at_node_open(&r->n, &o);
    pthread_mutex_init(&r->ca.mu, NULL);
    if (lim != NULL) {
        bm_limiter_free(r->n.env.reaper_limiter);
        r->n.env.reaper_limiter = lim;
    }
    if (!no_sequencer) {
        at_spawn(&r->n, &bm_sequencer_actor_type, &r->n.env.ids.sequencer, true,
                 BM_OVERFLOW_REJECT);
    }
    assert_int_equal(bm_actor_spawn(r->n.sys, &cap_agg_type, &r->ca, &ao,
                                    &r->n.env.ids.aggregator),
                     BM_OK);
}

static void rig_start_reaper(struct rig *r)
{
    at_spawn(&r->n, &bm_reaper_actor_type, &r->n.env.ids.reaper, true,
             BM_OVERFLOW_DROP_OLDEST);
    at_start(&r->n);
}

static void rig_close(struct rig *r)
{
    at_node_close(&r->n, true);
    pthread_mutex_destroy(&r->ca.mu);
}

struct reaped_arg {
    struct rig *r;
    uint64_t txs;
    unsigned notifies;
};

static bool reaped(void *arg)
{
    struct reaped_arg *a = arg;

    return atomic_load(&a->r->n.env.m.reaper_txs) >= a->txs &&
           ca_notifies(&a->r->ca) >= a->notifies;
}

static uint64_t seq_handled(struct rig *r)
{
    struct bm_actor_stats st;

    assert_int_equal(bm_actor_stats_get(r->n.sys, r->n.env.ids.sequencer, &st),
                     BM_OK);
    return st.handled;
}

/* ------------------------------------------------ tests */

static void test_reap_and_no_duplicates(void **s)
{
    struct rig r;
    struct reaped_arg w = {&r, 3, 1};
    size_t qn = 0, qb = 0;

    (void)s;
    rig_open(&r, false, NULL);
    add_tx(&r, "a=1");
    add_tx(&r, "b=2");
    add_tx(&r, "c=3");
    rig_start_reaper(&r);
    assert_true(at_wait(reaped, &w, 10000));
    bm_seq_queue_size(r.n.seq, &qn, &qb);
    assert_int_equal(qn, 3);
    pthread_mutex_lock(&r.ca.mu);
    assert_int_equal(r.ca.txs, 3);
    pthread_mutex_unlock(&r.ca.mu);
    assert_int_equal(seq_handled(&r), 1);

    /* The txs stay in the mempool (not executed): many rounds later they
     * were not submitted again. */
    bm_sleep_ms(400);
    assert_int_equal(seq_handled(&r), 1);
    assert_int_equal(atomic_load(&r.n.env.m.reaper_txs), 3);
    assert_int_equal(ca_notifies(&r.ca), 1);

    /* A new tx goes alone. */
    add_tx(&r, "d=4");
    w = (struct reaped_arg){&r, 4, 2};
    assert_true(at_wait(reaped, &w, 10000));
    bm_seq_queue_size(r.n.seq, &qn, &qb);
    assert_int_equal(qn, 4);
    assert_int_equal(seq_handled(&r), 2);
    rig_close(&r);
}

struct limited_arg {
    struct bm_limiter *lim;
    uint64_t want;
};

static bool limited_reached(void *arg)
{
    struct limited_arg *a = arg;
    struct bm_limiter_stats st;

    bm_limiter_stats(a->lim, &st);
    return st.limited >= a->want;
}

static void test_limiter_skips_round(void **s)
{
    struct rig r;
    struct bm_limiter *lim = NULL;
    struct reaped_arg w = {&r, 1, 1};
    struct limited_arg la;

    (void)s;
    /* One round of burst, no refill: every later round is refused. */
    assert_int_equal(bm_limiter_new_simple(&lim, "reaper-test", 1, 0), BM_OK);
    rig_open(&r, false, lim);
    add_tx(&r, "a=1");
    rig_start_reaper(&r);
    assert_true(at_wait(reaped, &w, 10000));
    add_tx(&r, "b=2");
    la = (struct limited_arg){lim, 5};
    assert_true(at_wait(limited_reached, &la, 10000));
    assert_int_equal(atomic_load(&r.n.env.m.reaper_txs), 1);
    assert_int_equal(seq_handled(&r), 1);
    rig_close(&r);
}

static void test_failure_backoff(void **s)
{
    struct rig r;
    struct bm_limiter_stats st;
    uint64_t t0, elapsed;

    (void)s;
    bm_log_set_sink(log_sink, NULL);
    /* No sequencer: every SUBMIT fails (no actor). */
    rig_open(&r, true, NULL);
    add_tx(&r, "a=1");
    t0 = bm_env_now_ms();
    rig_start_reaper(&r);
    bm_sleep_ms(1500);
    bm_limiter_stats(r.n.env.reaper_limiter, &st);
    elapsed = bm_env_now_ms() - t0;
    /* Interval 20 ms: ~75 ticks; with backoff 40, 80, 160, 320, 640, 640
     * ms only ~7 rounds run. Loose bound. */
    assert_true(st.allowed >= 2);
    assert_true(st.allowed <= 15 + elapsed / 640);
    assert_int_equal(warns(), 1);
    assert_int_equal(atomic_load(&r.n.env.m.reaper_txs), 0);
    assert_int_equal(ca_notifies(&r.ca), 0);
    assert_false(bm_env_halted(&r.n.env));
    rig_close(&r);
    bm_log_set_sink(NULL, NULL);
}

/* A GetTxs that blocks 300 ms at its first call (a busy execution
 * client) and notes, for every call, whether it started less than 8 ms
 * after the previous call ended (a stale queued tick's round). */
struct slow_pool {
    pthread_mutex_t mu;
    unsigned calls, back_to_back;
    uint64_t last_end_ns;
};

static enum bm_err slow_get_txs(void *ctx, struct bm_batch *out,
                                struct bm_errmsg *em)
{
    struct at_exec_wrap *w = ctx;
    struct slow_pool *sp = w->arg;
    uint64_t t0 = bm_clock_now_ns();
    enum bm_err err;
    bool first;

    pthread_mutex_lock(&sp->mu);
    first = sp->calls++ == 0;
    if (sp->last_end_ns != 0 && t0 - sp->last_end_ns < 8000000u) {
        sp->back_to_back++;
    }
    pthread_mutex_unlock(&sp->mu);
    if (first) {
        bm_sleep_ms(300);
    }
    err = w->inner->ops->get_txs(w->inner->ctx, out, em);
    pthread_mutex_lock(&sp->mu);
    sp->last_end_ns = bm_clock_now_ns();
    pthread_mutex_unlock(&sp->mu);
    return err;
}

static bool pool_calls(void *arg)
{
    struct slow_pool *sp = arg;
    bool done;

    pthread_mutex_lock(&sp->mu);
    done = sp->calls >= 10;
    pthread_mutex_unlock(&sp->mu);
    return done;
}

static void test_stale_ticks_skipped(void **s)
{
    static const struct bm_executor_ops over = {.get_txs = slow_get_txs};
    struct slow_pool sp = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct at_exec_wrap wrap;
    struct bm_executor ex;
    struct rig r;
    struct reaped_arg w = {&r, 1, 1};

    (void)s;
    rig_open(&r, false, NULL);
    at_exec_wrap(&wrap, &r.n.exec, &over, &sp, &ex);
    r.n.env.exec = &ex;
    add_tx(&r, "a=1");
    rig_start_reaper(&r);
    /* Interval 20 ms: ~15 ticks queue behind the first, 300-ms round; the
     * limiter (burst 10) would let them all re-read the pool at once. */
    assert_true(at_wait(reaped, &w, 10000));
    assert_true(at_wait(pool_calls, &sp, 10000));
    pthread_mutex_lock(&sp.mu);
    assert_int_equal(sp.back_to_back, 0);
    pthread_mutex_unlock(&sp.mu);
    assert_int_equal(seq_handled(&r), 1);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reap_and_no_duplicates),
        cmocka_unit_test(test_limiter_skips_round),
        cmocka_unit_test(test_failure_backoff),
        cmocka_unit_test(test_stale_ticks_skipped),
    };

    return BM_TEST_RUN(tests);
}
