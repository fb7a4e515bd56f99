#include "bm_test.h"

#include "blockv2/breaker.h"
#include "blockv2/err.h"
#include "util/errmsg.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* Injectable clock: a counter tests set by hand (atomic for the hammer). */
struct fake_clock {
    _Atomic uint64_t now;
    uint64_t step; /* added at every read (hammer only) */
};

static uint64_t fake_now(void *ctx)
{
    struct fake_clock *c = ctx;

    return atomic_fetch_add(&c->now, c->step) + c->step;
}

#define MAX_EVENTS 64

struct events {
    int n;
    enum bm_breaker_state from[MAX_EVENTS];
    enum bm_breaker_state to[MAX_EVENTS];
    char name[32];
};

static void on_change(void *ctx, const char *name, enum bm_breaker_state from,
                      enum bm_breaker_state to)
{
    struct events *ev = ctx;

    if (ev->n < MAX_EVENTS) {
        ev->from[ev->n] = from;
        ev->to[ev->n] = to;
    }
    ev->n++;
    snprintf(ev->name, sizeof(ev->name), "%s", name);
}

static void report(struct bm_breaker *b, bool success)
{
    struct bm_breaker_token tok;

    assert_int_equal(bm_breaker_allow(b, &tok), BM_OK);
    bm_breaker_report(b, tok, success);
}

static struct bm_breaker *make(struct bm_breaker_config *cfg,
                               struct fake_clock *clk, struct events *ev)
{
    struct bm_breaker *b = NULL;
    struct bm_errmsg em = {{0}};

    cfg->clock = fake_now;
    cfg->clock_ctx = clk;
    if (ev != NULL) {
        cfg->on_state_change = on_change;
        cfg->on_state_change_ctx = ev;
    }
    if (bm_breaker_new(&b, cfg, &em) != BM_OK) {
        fail_msg("bm_breaker_new: %s", em.msg);
    }
    return b;
}

static void test_consecutive_trip(void **state)
{
    struct fake_clock clk = {.now = 1000};
    struct bm_breaker_config cfg = {
        .name = "exec", .consecutive_failures = 3, .open_timeout_ns = 100};
    struct events ev = {0};
    struct bm_breaker *b = make(&cfg, &clk, &ev);
    struct bm_breaker_token tok;
    struct bm_breaker_stats st;

    (void)state;
    report(b, false);
    report(b, false);
    report(b, true); /* a success resets the run */
    report(b, false);
    report(b, false);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    bm_breaker_stats(b, &st);
    assert_int_equal(st.consecutive_failures, 2);
    report(b, false);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    assert_int_equal(bm_breaker_allow(b, &tok), BM_ECIRCUIT_OPEN);
    assert_int_equal(bm_breaker_allow(b, &tok), BM_ECIRCUIT_OPEN);
    bm_breaker_stats(b, &st);
    assert_int_equal(st.successes, 1);
    assert_int_equal(st.failures, 5);
    assert_int_equal(st.rejections, 2);
    assert_int_equal(st.transitions, 1);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.name, "exec");
    assert_string_equal(bm_breaker_name(b), "exec");
    bm_breaker_free(b);
}

static void test_ratio_trip_min_calls(void **state)
{
    struct fake_clock clk = {.now = 5};
    struct bm_breaker_config cfg = {.name = "da",
                                    .window_size = 10,
                                    .min_calls = 5,
                                    .failure_ratio = 0.5,
                                    .open_timeout_ns = 100};
    struct bm_breaker *b = make(&cfg, &clk, NULL);
    struct bm_breaker_stats st;

    (void)state;
    for (int i = 0; i < 4; i++) {
        report(b, false); /* 100 % but under min_calls */
    }
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    bm_breaker_stats(b, &st);
    assert_int_equal(st.window_calls, 4);
    assert_int_equal(st.window_failures, 4);
    report(b, true); /* 4 / 5 >= 0.5 */
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    bm_breaker_free(b);
}

static void test_ratio_window_evicts(void **state)
{
    struct fake_clock clk = {.now = 5};
    struct bm_breaker_config cfg = {.name = "win",
                                    .window_size = 4,
                                    .failure_ratio = 0.5,
                                    .open_timeout_ns = 100};
    struct bm_breaker *b = make(&cfg, &clk, NULL);
    struct bm_breaker_stats st;

    (void)state;
    report(b, false); /* F           1/1 but min_calls = 4 */
    report(b, true);  /* F S         */
    report(b, true);  /* F S S       */
    report(b, true);  /* F S S S     1/4 */
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    report(b, true); /* S S S S (F evicted) 0/4 */
    bm_breaker_stats(b, &st);
    assert_int_equal(st.window_calls, 4);
    assert_int_equal(st.window_failures, 0);
    report(b, false); /* S S S F 1/4 */
    report(b, true);  /* S S F S 1/4 */
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    report(b, false); /* S F S F 2/4 = 0.5 */
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    bm_breaker_free(b);
}

static void test_half_open_probes(void **state)
{
    struct fake_clock clk = {.now = 1000};
    struct bm_breaker_config cfg = {.name = "probe",
                                    .consecutive_failures = 1,
                                    .open_timeout_ns = 500,
                                    .half_open_max_probes = 2,
                                    .half_open_successes = 3};
    struct events ev = {0};
    struct bm_breaker *b = make(&cfg, &clk, &ev);
    struct bm_breaker_token t1, t2, t3, t4;
    struct bm_breaker_stats st;

    (void)state;
    report(b, false);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    atomic_store(&clk.now, 1499);
    assert_int_equal(bm_breaker_allow(b, &t1), BM_ECIRCUIT_OPEN);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    atomic_store(&clk.now, 1500);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_HALF_OPEN);
    assert_int_equal(bm_breaker_allow(b, &t1), BM_OK);
    assert_true(t1.probe);
    assert_int_equal(bm_breaker_allow(b, &t2), BM_OK);
    assert_int_equal(bm_breaker_allow(b, &t3), BM_ECIRCUIT_OPEN);
    bm_breaker_stats(b, &st);
    assert_int_equal(st.probes_in_flight, 2);
    assert_int_equal(st.rejections, 2);
    bm_breaker_report(b, t1, true); /* frees a slot */
    bm_breaker_stats(b, &st);
    assert_int_equal(st.probes_in_flight, 1);
    assert_int_equal(st.probe_successes, 1);
    assert_int_equal(bm_breaker_allow(b, &t3), BM_OK);
    assert_int_equal(bm_breaker_allow(b, &t4), BM_ECIRCUIT_OPEN);
    bm_breaker_report(b, t2, true);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_HALF_OPEN);
    bm_breaker_report(b, t3, true); /* third success closes */
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    bm_breaker_stats(b, &st);
    assert_int_equal(st.probes_in_flight, 0);
    assert_int_equal(st.window_calls, 0);
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(ev.n, 3);
    bm_breaker_free(b);
}

static void test_probe_failure_reopens(void **state)
{
    struct fake_clock clk = {.now = 0};
    struct bm_breaker_config cfg = {.name = "reopen",
                                    .consecutive_failures = 2,
                                    .open_timeout_ns = 100,
                                    .half_open_max_probes = 3,
                                    .half_open_successes = 3};
    struct bm_breaker *b = make(&cfg, &clk, NULL);
    struct bm_breaker_token t1, t2, t3;

    (void)state;
    report(b, false);
    report(b, false);
    atomic_store(&clk.now, 100);
    assert_int_equal(bm_breaker_allow(b, &t1), BM_OK);
    assert_int_equal(bm_breaker_allow(b, &t2), BM_OK);
    bm_breaker_report(b, t1, true);
    atomic_store(&clk.now, 150);
    bm_breaker_report(b, t2, false); /* one failed probe re-opens */
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    /* a fresh timeout from the re-open at 150, not from the first trip */
    atomic_store(&clk.now, 249);
    assert_int_equal(bm_breaker_allow(b, &t3), BM_ECIRCUIT_OPEN);
    atomic_store(&clk.now, 250);
    assert_int_equal(bm_breaker_allow(b, &t3), BM_OK);
    bm_breaker_report(b, t3, true);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_HALF_OPEN);
    bm_breaker_free(b);
}

static void test_stale_generation_ignored(void **state)
{
    struct fake_clock clk = {.now = 0};
    struct bm_breaker_config cfg = {.name = "gen",
                                    .consecutive_failures = 2,
                                    .open_timeout_ns = 10};
    struct bm_breaker *b = make(&cfg, &clk, NULL);
    struct bm_breaker_token old_ok, old_fail, probe, zero = {0};
    struct bm_breaker_stats st, st2;

    (void)state;
    assert_int_equal(bm_breaker_allow(b, &old_ok), BM_OK);
    assert_int_equal(bm_breaker_allow(b, &old_fail), BM_OK);
    report(b, false);
    report(b, false); /* trips; old tokens are from the closed generation */
    bm_breaker_report(b, old_ok, true);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    atomic_store(&clk.now, 10);
    assert_int_equal(bm_breaker_allow(b, &probe), BM_OK);
    /* a late success from before the trip must not close the breaker */
    bm_breaker_report(b, old_ok, true);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_HALF_OPEN);
    bm_breaker_report(b, probe, true);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    /* a late failure from the old closed generation must not count */
    bm_breaker_stats(b, &st);
    bm_breaker_report(b, old_fail, false);
    bm_breaker_report(b, probe, false); /* half-open generation: stale too */
    bm_breaker_report(b, zero, false);  /* never issued */
    bm_breaker_stats(b, &st2);
    assert_int_equal(st2.state, BM_BREAKER_CLOSED);
    assert_int_equal(st2.consecutive_failures, 0);
    assert_int_equal(st2.failures, st.failures);
    assert_int_equal(st2.stale, st.stale + 3);
    assert_int_equal(st.stale, 2);
    report(b, false); /* still one failure short of a trip */
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    bm_breaker_free(b);
}

static void test_callback_order(void **state)
{
    struct fake_clock clk = {.now = 0};
    struct bm_breaker_config cfg = {.name = "order",
                                    .consecutive_failures = 1,
                                    .open_timeout_ns = 10};
    struct events ev = {0};
    struct bm_breaker *b = make(&cfg, &clk, &ev);
    struct bm_breaker_stats st;
    static const enum bm_breaker_state want_from[] = {
        BM_BREAKER_CLOSED, BM_BREAKER_OPEN, BM_BREAKER_HALF_OPEN,
        BM_BREAKER_OPEN, BM_BREAKER_HALF_OPEN};
    static const enum bm_breaker_state want_to[] = {
        BM_BREAKER_OPEN, BM_BREAKER_HALF_OPEN, BM_BREAKER_OPEN,
        BM_BREAKER_HALF_OPEN, BM_BREAKER_CLOSED};

    (void)state;
    report(b, false);                /* closed -> open */
    atomic_store(&clk.now, 10);
    report(b, false);                /* open -> half-open -> open */
    atomic_store(&clk.now, 20);
    report(b, true);                 /* open -> half-open -> closed */
    assert_int_equal(ev.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ev.from[i], want_from[i]);
        assert_int_equal(ev.to[i], want_to[i]);
    }
    bm_breaker_stats(b, &st);
    assert_int_equal(st.transitions, 5);
    assert_int_equal(st.generation, 6);
    assert_string_equal(bm_breaker_state_name(BM_BREAKER_HALF_OPEN),
                        "half-open");
    bm_breaker_free(b);
}

static int calls;

static int fn_ok(void *arg)
{
    (void)arg;
    calls++;
    return BM_OK;
}

static int fn_fail(void *arg)
{
    calls++;
    return *(int *)arg;
}

static void test_call_and_simple(void **state)
{
    struct bm_breaker *b = NULL;
    int io = BM_EIO;

    (void)state;
    calls = 0;
    /* the seed's form: 5 consecutive failures, 30 s open */
    assert_int_equal(bm_breaker_new_simple(&b, "exec", 5, 30000000000ull),
                     BM_OK);
    assert_int_equal(bm_breaker_call(b, fn_ok, NULL), BM_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(bm_breaker_call(b, fn_fail, &io), BM_EIO);
    }
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_CLOSED);
    assert_int_equal(bm_breaker_call(b, fn_fail, &io), BM_EIO);
    assert_int_equal(bm_breaker_state(b), BM_BREAKER_OPEN);
    assert_int_equal(calls, 6);
    assert_int_equal(bm_breaker_call(b, fn_ok, NULL), BM_ECIRCUIT_OPEN);
    assert_int_equal(calls, 6); /* rejected: fn not called */
    bm_breaker_free(b);
    bm_breaker_free(NULL);
}

static void test_config_rejected(void **state)
{
    struct bm_breaker *b = (struct bm_breaker *)&b;
    struct bm_errmsg em = {{0}};
    struct bm_breaker_config cfg = {.name = "x", .consecutive_failures = 1};
    char longname[BM_BREAKER_NAME_MAX + 2];

    (void)state;
    cfg.name = NULL;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    assert_null(b);
    assert_non_null(strstr(em.msg, "name"));
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cfg.name = longname;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    cfg.name = "";
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    cfg.name = "x";
    cfg.consecutive_failures = 0;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    cfg.window_size = 10;
    cfg.failure_ratio = 0.0;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "failure_ratio"));
    cfg.failure_ratio = NAN;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    cfg.failure_ratio = 1.5;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    cfg.failure_ratio = 1.0;
    cfg.min_calls = 11;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "min_calls"));
    cfg.min_calls = 0;
    cfg.window_size = BM_BREAKER_WINDOW_MAX + 1;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "window_size"));
    cfg.window_size = 10;
    cfg.half_open_max_probes = BM_BREAKER_PROBES_MAX + 1;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_EINVAL);
    cfg.half_open_max_probes = 0;
    cfg.half_open_successes = BM_BREAKER_PROBES_MAX + 1;
    assert_int_equal(bm_breaker_new(&b, &cfg, NULL), BM_EINVAL);
    assert_int_equal(bm_breaker_new(&b, NULL, NULL), BM_EINVAL);
    assert_int_equal(bm_breaker_new_simple(&b, "x", 0, 1), BM_EINVAL);
    assert_null(b);
    cfg.half_open_successes = 0;
    assert_int_equal(bm_breaker_new(&b, &cfg, &em), BM_OK);
    bm_breaker_free(b);
}

/*
 * Hammer: threads allow/report concurrently against a clock that advances
 * 1 ns per read, so the breaker keeps cycling through all three states.
 * Every attempt is either rejected or admitted-and-reported; the counters
 * must account for every one, and every callback must be seen.
 */
#define HAMMER_THREADS 4
#define HAMMER_ITERS 20000

struct hammer {
    struct bm_breaker *b;
    int seed;
    uint64_t rejected;
    uint64_t admitted;
    uint32_t max_probes_seen;
};

static _Atomic uint64_t hammer_callbacks;

static void hammer_cb(void *ctx, const char *name, enum bm_breaker_state from,
                      enum bm_breaker_state to)
{
    (void)ctx;
    (void)name;
    (void)from;
    (void)to;
    atomic_fetch_add(&hammer_callbacks, 1);
}

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    uint32_t x = (uint32_t)h->seed * 2654435761u + 1;

    for (int i = 0; i < HAMMER_ITERS; i++) {
        struct bm_breaker_token tok;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (bm_breaker_allow(h->b, &tok) != BM_OK) {
            h->rejected++;
            continue;
        }
        h->admitted++;
        bm_breaker_report(h->b, tok, (x % 3) != 0);
        if ((i & 255) == 0) {
            struct bm_breaker_stats st;

            bm_breaker_stats(h->b, &st);
            if (st.probes_in_flight > h->max_probes_seen) {
                h->max_probes_seen = st.probes_in_flight;
            }
        }
    }
    return NULL;
}

static void test_hammer(void **state)
{
    struct fake_clock clk = {.now = 0, .step = 1};
    struct bm_breaker_config cfg = {.name = "hammer",
                                    .consecutive_failures = 3,
                                    .window_size = 16,
                                    .failure_ratio = 0.6,
                                    .open_timeout_ns = 64,
                                    .half_open_max_probes = 2,
                                    .half_open_successes = 2,
                                    .on_state_change = hammer_cb,
                                    .clock = fake_now,
                                    .clock_ctx = &clk};
    struct bm_breaker *b = NULL;
    struct hammer h[HAMMER_THREADS];
    pthread_t th[HAMMER_THREADS];
    struct bm_breaker_stats st;
    uint64_t rejected = 0, admitted = 0;

    (void)state;
    assert_int_equal(bm_breaker_new(&b, &cfg, NULL), BM_OK);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        h[i] = (struct hammer){.b = b, .seed = i + 1};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &h[i]),
                         0);
    }
    for (int i = 0; i < HAMMER_THREADS; i++) {
        pthread_join(th[i], NULL);
        rejected += h[i].rejected;
        admitted += h[i].admitted;
        assert_true(h[i].max_probes_seen <= 2);
    }
    bm_breaker_stats(b, &st);
    assert_int_equal(rejected + admitted,
                     (uint64_t)HAMMER_THREADS * HAMMER_ITERS);
    assert_int_equal(st.rejections, rejected);
    assert_int_equal(st.successes + st.failures + st.stale, admitted);
    assert_int_equal(st.transitions, atomic_load(&hammer_callbacks));
    assert_int_equal(st.generation, st.transitions + 1);
    assert_true(st.transitions > 10); /* the test did cycle the states */
    bm_breaker_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive_trip),
        cmocka_unit_test(test_ratio_trip_min_calls),
        cmocka_unit_test(test_ratio_window_evicts),
        cmocka_unit_test(test_half_open_probes),
        cmocka_unit_test(test_probe_failure_reopens),
        cmocka_unit_test(test_stale_generation_ignored),
        cmocka_unit_test(test_callback_order),
        cmocka_unit_test(test_call_and_simple),
        cmocka_unit_test(test_config_rejected),
        cmocka_unit_test(test_hammer),
    };

    return BM_TEST_RUN(tests);
}
