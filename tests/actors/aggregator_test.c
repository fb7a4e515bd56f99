/*
 * AggregatorActor: timing of productions against a capture Producer (a
 * detached test actor that records each PRODUCE ask and may sleep) and a
 * fake State actor (answers GET from the store).
 */
#include "bm_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "actors_test_util.h"

#include "actors/aggregator.h"
#include "actors/producer.h"
#include "actors/state.h"
#include "blockv2/validate.h"
#include "util/alloc.h"

/* ------------------------------------------------ fake State (GET only) */

struct fake_state {
    struct at_node *n;
};

BM_ACTOR_HANDLER(fs_get, struct fake_state, struct bm_state_get)
static int fs_get(struct bm_actor_ctx *ctx, struct fake_state *fs,
                  struct bm_state_get *p)
{
    struct bm_state_info info = {0};

    (void)p;
    info.state = bm_xcalloc(1, sizeof(*info.state));
    at_latest_state(fs->n, info.state);
    info.height = info.state->last_block_height;
    if (bm_actor_reply(ctx, BM_OK, &info, sizeof(info)) != BM_OK) {
        bm_state_info_dtor(&info);
    }
    return BM_OK;
}

static const struct bm_msg_kind fs_kinds[] = {
    [BM_STATE_GET] =
        BM_MSG_KIND("get", struct bm_state_get, sizeof(struct bm_state_info),
                    NULL, fs_get, NULL, bm_state_info_dtor),
};

static const struct bm_actor_type fake_state_type = {
    .name = "fake_state",
    .kinds = fs_kinds,
    .n_kinds = 1,
};

/* ------------------------------------------------ capture Producer */

#define MAX_REC 4096

struct cap_producer {
    pthread_mutex_t mu;
    unsigned sleep_ms; /* per production */
    int fail;          /* non-zero: reply this error */
    uint64_t height;
    size_t n;
    uint32_t reason[MAX_REC];
    uint64_t at_ms[MAX_REC];
    uint64_t first_wall_ns; /* wall clock of the first ask */
    size_t by_reason[4];
};

BM_ACTOR_HANDLER(cp_produce, struct cap_producer, struct bm_producer_req)
static int cp_produce(struct bm_actor_ctx *ctx, struct cap_producer *cp,
                      struct bm_producer_req *p)
{
    struct bm_producer_result r = {0};
    unsigned sleep_ms;
    int fail;

    pthread_mutex_lock(&cp->mu);
    if (cp->n < MAX_REC) {
        cp->reason[cp->n] = p->reason;
        cp->at_ms[cp->n] = bm_env_now_ms();
    }
    if (cp->n == 0) {
        cp->first_wall_ns = bm_validate_now_ns();
    }
    cp->n++;
    if (p->reason < 4) {
        cp->by_reason[p->reason]++;
    }
    sleep_ms = cp->sleep_ms;
    fail = cp->fail;
    r.height = ++cp->height;
    pthread_mutex_unlock(&cp->mu);
    if (sleep_ms > 0) {
        bm_sleep_ms(sleep_ms);
    }
    if (fail != 0) {
        return fail;
    }
    r.produced = true;
    return bm_actor_reply(ctx, BM_OK, &r, sizeof(r));
}

static const struct bm_msg_kind cp_kinds[] = {
    [BM_PRODUCER_PRODUCE] = BM_MSG_KIND("produce", struct bm_producer_req,
                                        sizeof(struct bm_producer_result), NULL,
                                        cp_produce, NULL, NULL),
};

static const struct bm_actor_type cap_producer_type = {
    .name = "cap_producer",
    .kinds = cp_kinds,
    .n_kinds = 1,
};

static size_t cp_count(struct cap_producer *cp, int reason)
{
    size_t v;

    pthread_mutex_lock(&cp->mu);
    v = reason < 0 ? cp->n : cp->by_reason[reason];
    pthread_mutex_unlock(&cp->mu);
    return v;
}

/* ------------------------------------------------ rig */

/* Aggregator mailbox capacity (0: default). */
static uint32_t g_capacity;

struct rig {
    struct at_node n;
    struct fake_state fs;
    struct cap_producer cp;
    uint64_t t0_ms;
};

static void rig_open_at(struct rig *r, bool lazy, uint64_t block_ms,
                        uint64_t lazy_ms, unsigned producer_sleep_ms,
                        uint64_t genesis_ns)
{
    struct at_opts o = {.aggregator = true, .genesis_time_ns = genesis_ns};
    struct bm_manager_config cfg;
    struct bm_actor_opts so = {.name = "fake_state"};
    struct bm_actor_opts po = {.name = "cap_producer", .detached = true};

    memset(r, 0, sizeof(*r));
    bm_manager_config_init(&cfg);
    cfg.block_time_ms = block_ms;
    cfg.lazy_mode = lazy;
    cfg.lazy_block_interval_ms = lazy_ms;
    cfg.scrape_interval_ms = 20;
    cfg.mailbox_capacity = g_capacity;
    o.cfg = &cfg;
    at_node_open(&r->n, &o);
    r->fs.n = &r->n;
    pthread_mutex_init(&r->cp.mu, NULL);
    r->cp.sleep_ms = producer_sleep_ms;
    assert_int_equal(bm_actor_spawn(r->n.sys, &fake_state_type, &r->fs, &so,
                                    &r->n.env.ids.state),
                     BM_OK);
    assert_int_equal(bm_actor_spawn(r->n.sys, &cap_producer_type, &r->cp, &po,
                                    &r->n.env.ids.producer),
                     BM_OK);
    at_spawn(&r->n, &bm_aggregator_actor_type, &r->n.env.ids.aggregator, false,
             BM_OVERFLOW_DROP_OLDEST);
    r->t0_ms = bm_env_now_ms();
    at_start(&r->n);
}

static void rig_open(struct rig *r, bool lazy, uint64_t block_ms,
                     uint64_t lazy_ms, unsigned producer_sleep_ms)
{
    rig_open_at(r, lazy, block_ms, lazy_ms, producer_sleep_ms, 0);
}

static void rig_close(struct rig *r)
{
    at_node_close(&r->n, true);
    pthread_mutex_destroy(&r->cp.mu);
}

struct count_arg {
    struct cap_producer *cp;
    int reason;
    size_t want;
};

static bool count_reached(void *arg)
{
    struct count_arg *c = arg;

    return cp_count(c->cp, c->reason) >= c->want;
}

/* ------------------------------------------------ tests */

static void test_remaining_ms(void **s)
{
    static const struct {
        uint64_t interval, elapsed, want;
    } cases[] = {
        {1000, 0, 1000}, {1000, 1, 999},  {1000, 999, 1},
        {1000, 1000, 1}, {1000, 5000, 1}, {50, 20, 30},
        {0, 0, 1},       {1, 0, 1},       {60000, 59000, 1000},
    };

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(
            bm_aggregator_remaining_ms(cases[i].interval, cases[i].elapsed),
            cases[i].want);
    }
}

/* The schedule in nanoseconds: no rounding to milliseconds (a 5 ms block
 * that took 1.3 ms sleeps 3.7 ms, not 3 or 4), 1 ms when late. */
static void test_remaining_ns(void **s)
{
    static const struct {
        uint64_t interval, elapsed, want;
    } cases[] = {
        {5000000, 1300000, 3700000}, {5000000, 4999999, 1},
        {5000000, 5000000, 1000000}, {5000000, 9000000, 1000000},
        {5000000, 0, 5000000},       {1000, 1, 999},
        {0, 0, 1000000},
    };

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(
            bm_aggregator_remaining_ns(cases[i].interval, cases[i].elapsed),
            cases[i].want);
    }
}

/* Where a production counts from: the due time while the tick is at most a
 * tenth of the interval late (the phase is kept), else now minus a tenth
 * (a late block is not made up by a burst); now when early. */
static void test_start_ns(void **s)
{
    static const struct {
        uint64_t due, now, interval, want;
    } cases[] = {
        {1000, 1000, 100, 1000},    {1000, 1010, 100, 1000},
        {1000, 1011, 100, 1001},    {1000, 1090, 100, 1080},
        {1000, 1500, 100, 1490},    {1000, 900, 100, 900},
        {5000000, 5000030, 5000000, 5000000},
        {0, 0, 0, 0},               {7, 8, 0, 8},
    };

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = bm_aggregator_start_ns(cases[i].due, cases[i].now,
                                              cases[i].interval);

        assert_int_equal(got, cases[i].want);
        /* the next production is due at least 9/10 interval from now */
        if (cases[i].now >= cases[i].due) {
            assert_true(got + cases[i].interval >=
                        cases[i].now + cases[i].interval -
                            cases[i].interval / 10);
        }
    }
}

/* Normal mode: productions at about block_time, all TIMER. */
static void test_normal_mode(void **s)
{
    struct rig r;
    struct count_arg c;
    size_t n1, n2;
    uint64_t t1, elapsed;

    (void)s;
    rig_open(&r, false, 50, 60000, 0);
    c = (struct count_arg){&r.cp, -1, 3};
    assert_true(at_wait(count_reached, &c, 10000));
    n1 = cp_count(&r.cp, -1);
    t1 = bm_env_now_ms();
    /* ~20 expected in 1 s: at least a few (waited for, so that a loaded
     * machine only makes it slower), and never faster than one per block
     * time (+1 for edges) over at least 1 s. */
    c = (struct count_arg){&r.cp, -1, n1 + 4};
    assert_true(at_wait(count_reached, &c, 10000));
    elapsed = bm_env_now_ms() - t1;
    bm_sleep_ms(elapsed < 1000 ? 1000 - elapsed : 0);
    n2 = cp_count(&r.cp, -1);
    elapsed = bm_env_now_ms() - t1;
    assert_true(n2 - n1 >= 4);
    assert_true(n2 - n1 <= elapsed / 50 + 2);
    assert_true(cp_count(&r.cp, BM_PRODUCE_TIMER) >= n2);
    assert_int_equal(cp_count(&r.cp, BM_PRODUCE_LAZY), 0);
    assert_int_equal(cp_count(&r.cp, BM_PRODUCE_TX), 0);

    /* Halted: no more work (one production may be in flight). */
    bm_env_fatal(&r.n.env, "test", BM_EFATAL, "test halt");
    bm_sleep_ms(100);
    n1 = cp_count(&r.cp, -1);
    bm_sleep_ms(400);
    assert_true(cp_count(&r.cp, -1) <= n1 + 1);
    rig_close(&r);
}

/* Before the first block the clock waits for genesis time + block time. */
static void test_first_wait(void **s)
{
    struct rig r;
    struct count_arg c;
    uint64_t genesis_ns = bm_validate_now_ns() + 700ull * 1000000ull;
    uint64_t first_ns;
    size_t n;

    (void)s;
    rig_open_at(&r, false, 100, 60000, 0, genesis_ns);
    bm_sleep_ms(300);
    /* Not yet: genesis is still ~400 ms ahead (checked only when the count
     * was read before genesis + block time, minus the timer slack below:
     * on a loaded machine the sleep can end later than that). */
    n = cp_count(&r.cp, -1);
    if (bm_validate_now_ns() + 30ull * 1000000ull <
        genesis_ns + 100ull * 1000000ull) {
        assert_int_equal(n, 0);
    }
    c = (struct count_arg){&r.cp, -1, 1};
    assert_true(at_wait(count_reached, &c, 10000));
    pthread_mutex_lock(&r.cp.mu);
    first_ns = r.cp.first_wall_ns;
    pthread_mutex_unlock(&r.cp.mu);
    /* The first ask came after genesis + block time (minus timer slack). */
    assert_true(first_ns + 30ull * 1000000ull >=
                genesis_ns + 100ull * 1000000ull);
    rig_close(&r);
}

/* KICK (HA: leadership gained) starts a round at once instead of at the
 * next block tick; one that comes while a round in flight makes a block
 * adds nothing. */
static void test_kick(void **s)
{
    struct rig r;
    struct count_arg c;
    struct bm_aggregator_kick k = {0};
    uint64_t past = bm_validate_now_ns() - 120ull * 1000000000ull;

    (void)s;
    /* a 60 s block time: the only tick in this test is the first one */
    rig_open_at(&r, false, 60000, 60000, 1500, past);
    c = (struct count_arg){&r.cp, -1, 1};
    assert_true(at_wait(count_reached, &c, 10000));
    /* in flight (the producer takes 1.5 s) and it makes a block: no more */
    assert_int_equal(bm_aggregator_tell_kick(r.n.sys,
                                             bm_env_aggregator(&r.n.env), &k),
                     BM_OK);
    bm_sleep_ms(2000);
    assert_int_equal(cp_count(&r.cp, -1), 1);
    /* idle: a round now (generous deadline for a loaded machine; it is
     * milliseconds, the block tick is a minute away) */
    assert_int_equal(bm_aggregator_tell_kick(r.n.sys,
                                             bm_env_aggregator(&r.n.env), &k),
                     BM_OK);
    c = (struct count_arg){&r.cp, -1, 2};
    assert_true(at_wait(count_reached, &c, 20000));
    assert_int_equal(cp_count(&r.cp, BM_PRODUCE_TIMER), 2);
    rig_close(&r);
}

/* A failing producer: the clock keeps going. */
static void test_failures_continue(void **s)
{
    struct rig r;
    struct count_arg c;

    (void)s;
    memset(&r, 0, sizeof(r));
    rig_open(&r, false, 50, 60000, 0);
    pthread_mutex_lock(&r.cp.mu);
    r.cp.fail = BM_EIO;
    pthread_mutex_unlock(&r.cp.mu);
    c = (struct count_arg){&r.cp, -1, cp_count(&r.cp, -1) + 5};
    assert_true(at_wait(count_reached, &c, 10000));
    assert_false(bm_env_halted(&r.n.env));
    rig_close(&r);
}

/* Lazy mode, idle: only LAZY productions, one per lazy interval. */
static void test_lazy_idle(void **s)
{
    struct rig r;
    struct count_arg c;
    size_t lazy;
    uint64_t elapsed;

    (void)s;
    rig_open(&r, true, 50, 400, 0);
    c = (struct count_arg){&r.cp, BM_PRODUCE_LAZY, 2};
    assert_true(at_wait(count_reached, &c, 10000));
    bm_sleep_ms(300);
    lazy = cp_count(&r.cp, BM_PRODUCE_LAZY);
    elapsed = bm_env_now_ms() - r.t0_ms;
    /* One per 400 ms at most (+1 for edges); 1.3 s gives 2-4. */
    assert_true(lazy >= 2);
    assert_true(lazy <= elapsed / 400 + 1);
    assert_int_equal(cp_count(&r.cp, BM_PRODUCE_TIMER), 0);
    assert_int_equal(cp_count(&r.cp, BM_PRODUCE_TX), 0);
    rig_close(&r);
}

static uint64_t agg_handled(struct rig *r)
{
    struct bm_actor_stats st;

    assert_int_equal(
        bm_actor_stats_get(r->n.sys, r->n.env.ids.aggregator, &st), BM_OK);
    return st.handled;
}

/* The aggregator's handled count once it has been still for 200 ms
 * (10 s at most): what it had queued, e.g. the block tick that follows a
 * block, is behind it, however late a loaded machine ran it. */
static uint64_t agg_quiet(struct rig *r)
{
    uint64_t deadline = bm_clock_deadline_ms(10000);
    uint64_t h = agg_handled(r);

    for (;;) {
        uint64_t h2;

        bm_sleep_ms(200);
        h2 = agg_handled(r);
        if (h2 == h || bm_clock_now_ns() >= deadline) {
            return h2;
        }
        h = h2;
    }
}

/* Lazy mode: a TXS notification gives a TX production within about one
 * block time. Without txs the aggregator sleeps: no block tick every block
 * time, no watchdog tick (it used to handle ~20 block ticks a second
 * here). */
static void test_lazy_txs(void **s)
{
    struct rig r;
    struct count_arg c;
    struct bm_aggregator_txs t = {1};
    uint64_t sent_ms, got_ms, h0;

    (void)s;
    rig_open(&r, true, 50, 60000, 0);
    bm_sleep_ms(300);
    assert_int_equal(cp_count(&r.cp, -1), 0);
    /* Two bursts, each into a sleeping aggregator. */
    for (size_t i = 0; i < 2; i++) {
        h0 = agg_quiet(&r);
        bm_sleep_ms(i == 0 ? 1000 : 500);
        assert_int_equal(agg_handled(&r), h0);
        sent_ms = bm_env_now_ms();
        assert_int_equal(
            bm_aggregator_tell_txs(r.n.sys, bm_env_aggregator(&r.n.env), &t),
            BM_OK);
        c = (struct count_arg){&r.cp, BM_PRODUCE_TX, i + 1};
        assert_true(at_wait(count_reached, &c, 5000));
        pthread_mutex_lock(&r.cp.mu);
        got_ms = r.cp.at_ms[i];
        assert_int_equal(r.cp.reason[i], BM_PRODUCE_TX);
        pthread_mutex_unlock(&r.cp.mu);
        /* ~50 ms expected; loose. */
        assert_true(got_ms - sent_ms < 3000);
        /* The flag was cleared by the block: no more TX productions, and
         * asleep again (one block tick after the block finds no txs). */
        bm_sleep_ms(300);
        assert_int_equal(cp_count(&r.cp, BM_PRODUCE_TX), i + 1);
        assert_int_equal(cp_count(&r.cp, BM_PRODUCE_TIMER), 0);
    }
    rig_close(&r);
}

struct notify_arg {
    struct rig *r;
    unsigned sleep_ms;
    atomic_bool stop;
};

static void *notifier(void *arg)
{
    struct notify_arg *na = arg;
    struct bm_aggregator_txs t = {1};

    while (!atomic_load(&na->stop)) {
        (void)bm_aggregator_tell_txs(na->r->n.sys,
                                     bm_env_aggregator(&na->r->n.env), &t);
        if (na->sleep_ms > 0) {
            bm_sleep_ms(na->sleep_ms);
        }
    }
    return NULL;
}

/* A slow producer: ticks arrive while a production is in flight (lazy
 * interval and block ticks with txs flowing), yet at most one ask is ever
 * outstanding and production keeps going. */
static void test_one_in_flight(void **s)
{
    struct rig r;
    struct count_arg c;
    struct bm_actor_stats st;
    struct notify_arg na;
    pthread_t th;

    (void)s;
    rig_open(&r, true, 50, 100, 200);
    na.r = &r;
    na.sleep_ms = 10;
    atomic_init(&na.stop, false);
    assert_int_equal(pthread_create(&th, NULL, notifier, &na), 0);
    c = (struct count_arg){&r.cp, -1, 5};
    assert_true(at_wait(count_reached, &c, 15000));
    atomic_store(&na.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(bm_actor_stats_get(r.n.sys, r.n.env.ids.producer, &st),
                     BM_OK);
    /* The producer's mailbox never held a second ask behind the one in
     * flight. The runtime's high watermark counts a message until the end
     * of the turn that handled it, and the next ask may arrive between the
     * reply and that end: 2 is the one in flight plus its successor, 3
     * would be an overlap. */
    assert_true(st.high_watermark <= 2);
    /* Productions do not overlap: each started >= sleep after the last. */
    pthread_mutex_lock(&r.cp.mu);
    for (size_t i = 1; i < r.cp.n && i < MAX_REC; i++) {
        assert_true(r.cp.at_ms[i] - r.cp.at_ms[i - 1] >= 190);
    }
    pthread_mutex_unlock(&r.cp.mu);
    rig_close(&r);
}

/* A flood of TXS on a tiny drop_oldest mailbox drops ticks; the watchdog
 * keeps production going. */
static void test_flood_keeps_ticking(void **s)
{
    struct rig r;
    struct count_arg c;
    struct notify_arg na;
    struct bm_actor_stats st;
    pthread_t th[2];

    (void)s;
    g_capacity = 2;
    rig_open(&r, false, 50, 60000, 0);
    g_capacity = 0;
    c = (struct count_arg){&r.cp, -1, 1};
    assert_true(at_wait(count_reached, &c, 10000));
    na.r = &r;
    na.sleep_ms = 0;
    atomic_init(&na.stop, false);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, notifier, &na), 0);
    }
    c = (struct count_arg){&r.cp, -1, cp_count(&r.cp, -1) + 3};
    assert_true(at_wait(count_reached, &c, 20000));
    atomic_store(&na.stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(bm_actor_stats_get(r.n.sys, r.n.env.ids.aggregator, &st),
                     BM_OK);
    assert_true(st.dropped > 0);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remaining_ms),
        cmocka_unit_test(test_remaining_ns),
        cmocka_unit_test(test_start_ns),
        cmocka_unit_test(test_normal_mode),
        cmocka_unit_test(test_first_wait),
        cmocka_unit_test(test_kick),
        cmocka_unit_test(test_failures_continue),
        cmocka_unit_test(test_lazy_idle),
        cmocka_unit_test(test_lazy_txs),
        cmocka_unit_test(test_one_in_flight),
        cmocka_unit_test(test_flood_keeps_ticking),
    };

    return BM_TEST_RUN(tests);
}
