#include "bm_test.h"

#include "blockv2/err.h"
#include "blockv2/limiter.h"
#include "util/clock.h"
#include "util/errmsg.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define SEC 1000000000ull
#define MS 1000000ull

struct fake_clock {
    _Atomic uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
    struct fake_clock *c = ctx;

    return atomic_load(&c->now);
}

static void set_time(struct fake_clock *c, uint64_t t)
{
    atomic_store(&c->now, t);
}

static struct bm_limiter *make(struct fake_clock *clk, uint64_t cap,
                               double rate)
{
    struct bm_limiter_config cfg = {.name = "test",
                                    .capacity = cap,
                                    .rate_per_sec = rate,
                                    .clock = fake_now,
                                    .clock_ctx = clk};
    struct bm_limiter *l = NULL;
    struct bm_errmsg em = {{0}};

    if (bm_limiter_new(&l, &cfg, &em) != BM_OK) {
        fail_msg("bm_limiter_new: %s", em.msg);
    }
    return l;
}

static double tokens(struct bm_limiter *l)
{
    struct bm_limiter_stats st;

    bm_limiter_stats(l, &st);
    return st.tokens;
}

static void test_refill_exact(void **state)
{
    const uint64_t t0 = 7 * SEC;
    struct fake_clock clk = {.now = t0};
    struct bm_limiter *l = make(&clk, 100, 10.0);
    struct bm_limiter_stats st;

    (void)state;
    assert_true(bm_limiter_allow_n(l, 100)); /* starts full */
    assert_false(bm_limiter_allow(l));
    set_time(&clk, t0 + 100 * MS - 1);
    assert_false(bm_limiter_allow(l)); /* 0.99999999 token */
    set_time(&clk, t0 + 100 * MS);
    assert_true(bm_limiter_allow(l)); /* exactly 1 */
    assert_false(bm_limiter_allow(l));
    set_time(&clk, t0 + 1050 * MS); /* 10.5 refilled, 1 taken */
    assert_true(tokens(l) == 9.5);
    assert_false(bm_limiter_allow_n(l, 10));
    assert_true(bm_limiter_allow_n(l, 9));
    assert_true(tokens(l) == 0.5);
    assert_true(bm_limiter_allow_n(l, 0));
    bm_limiter_stats(l, &st);
    assert_int_equal(st.allowed, 4);
    assert_int_equal(st.limited, 4);
    assert_int_equal(st.reserved, 0);
    assert_int_equal(st.tokens_granted, 110);
    assert_int_equal(st.capacity, 100);
    assert_true(st.rate_per_sec == 10.0);
    bm_limiter_free(l);
}

static void test_burst_cap(void **state)
{
    struct fake_clock clk = {.now = 0};
    struct bm_limiter *l = make(&clk, 100, 10.0);

    (void)state;
    set_time(&clk, 1000 * SEC); /* long idle: still only capacity */
    assert_true(tokens(l) == 100.0);
    assert_false(bm_limiter_allow_n(l, 101)); /* above capacity: never */
    assert_true(bm_limiter_allow_n(l, 60));
    set_time(&clk, 1005 * SEC); /* 40 + 50 */
    assert_true(tokens(l) == 90.0);
    set_time(&clk, 1010 * SEC); /* 40 + 100, capped */
    assert_true(tokens(l) == 100.0);
    assert_true(bm_limiter_allow_n(l, 100));
    assert_false(bm_limiter_allow(l));
    set_time(&clk, 1010 * SEC + 300 * MS);
    assert_true(tokens(l) == 3.0);
    bm_limiter_free(l);
}

static void test_fractional_rates(void **state)
{
    struct fake_clock clk = {.now = 0};
    struct bm_limiter *half = make(&clk, 1, 0.5);
    struct bm_limiter *third = make(&clk, 3, 1.0 / 3.0);
    struct bm_limiter *twoh = make(&clk, 5, 2.5);

    (void)state;
    assert_true(bm_limiter_allow(half));
    assert_true(bm_limiter_allow_n(third, 3));
    assert_true(bm_limiter_allow_n(twoh, 5));
    set_time(&clk, 400 * MS - 1);
    assert_false(bm_limiter_allow(twoh));
    set_time(&clk, 400 * MS);
    assert_true(bm_limiter_allow(twoh)); /* 2.5/s: one per 400 ms */
    assert_false(bm_limiter_allow(twoh));
    set_time(&clk, 2 * SEC - 1);
    assert_false(bm_limiter_allow(half));
    set_time(&clk, 2 * SEC);
    assert_true(bm_limiter_allow(half)); /* 0.5/s: one per 2 s */
    assert_false(bm_limiter_allow(half));
    set_time(&clk, 3 * SEC - 1);
    assert_false(bm_limiter_allow(third));
    set_time(&clk, 3 * SEC);
    assert_true(bm_limiter_allow(third)); /* 1/3 per s: one per 3 s */
    assert_false(bm_limiter_allow(third));
    set_time(&clk, 9 * SEC);
    assert_true(bm_limiter_allow_n(third, 2)); /* 3 s .. 9 s: 2 more */
    assert_false(bm_limiter_allow(third));
    /* 2.5/s after many small steps: no rounding drift per call */
    for (uint64_t t = 400 * MS; t <= 10400 * MS; t += 7 * MS) {
        set_time(&clk, t);
        (void)tokens(twoh);
    }
    set_time(&clk, 10400 * MS); /* 10 s since the last take: 25, cap 5 */
    assert_true(tokens(twoh) == 5.0);
    assert_true(bm_limiter_allow_n(twoh, 5));
    set_time(&clk, 10400 * MS + 1);
    for (uint64_t t = 10400 * MS + 1; t < 12400 * MS; t += 999983) {
        set_time(&clk, t);
        assert_false(bm_limiter_allow_n(twoh, 5));
    }
    set_time(&clk, 12400 * MS); /* 2 s * 2.5 = 5 */
    assert_true(bm_limiter_allow_n(twoh, 5));
    bm_limiter_free(half);
    bm_limiter_free(third);
    bm_limiter_free(twoh);
}

static void test_long_interval_fold(void **state)
{
    struct fake_clock clk = {.now = 0};
    struct bm_limiter *l = make(&clk, 1000000000ull, 100000.0);

    (void)state;
    assert_true(bm_limiter_allow_n(l, 1000000000ull));
    /*
     * Refills of 1e8 tokens (1e17 NT) are exact to within the rounding
     * slack (a few hundred NT, < 1e-6 token), not to the NT.
     */
    set_time(&clk, 1500 * SEC); /* past the fold interval, not full */
    assert_true(fabs(tokens(l) - 150000000.0) < 1e-6);
    set_time(&clk, 2000 * SEC);
    assert_true(fabs(tokens(l) - 200000000.0) < 1e-6);
    assert_true(bm_limiter_allow_n(l, 200000000ull));
    assert_false(bm_limiter_allow(l));
    set_time(&clk, 2000 * SEC + 10 * 1000); /* 10 us = 1 token */
    assert_true(bm_limiter_allow(l));
    bm_limiter_free(l);
}

static void test_reserve(void **state)
{
    const uint64_t t0 = 3 * SEC;
    struct fake_clock clk = {.now = t0};
    struct bm_limiter *l = make(&clk, 10, 10.0);
    struct bm_limiter *z = make(&clk, 2, 0.0);
    struct bm_limiter *t3 = make(&clk, 1, 3.0);
    struct bm_limiter_stats st;
    int64_t w;

    (void)state;
    assert_int_equal(bm_limiter_reserve(l, 4, 0), 0); /* there: no wait */
    assert_true(bm_limiter_allow_n(l, 6));
    assert_int_equal(bm_limiter_reserve(l, 5, UINT64_MAX), 500 * MS);
    assert_int_equal(bm_limiter_reserve(l, 5, UINT64_MAX), 1000 * MS);
    assert_true(tokens(l) == -10.0);
    assert_false(bm_limiter_allow(l)); /* later callers queue behind */
    set_time(&clk, t0 + 500 * MS);
    assert_true(tokens(l) == -5.0);
    set_time(&clk, t0 + 1000 * MS);
    assert_true(tokens(l) == 0.0);
    assert_false(bm_limiter_allow(l));
    /* the wait is above max_wait: nothing reserved */
    assert_int_equal(bm_limiter_reserve(l, 1, 50 * MS), BM_ERATE_LIMITED);
    assert_true(tokens(l) == 0.0);
    assert_int_equal(bm_limiter_reserve(l, 1, 100 * MS), 100 * MS);
    assert_int_equal(bm_limiter_reserve(l, 0, 0), BM_EINVAL);
    assert_int_equal(bm_limiter_reserve(l, 11, UINT64_MAX), BM_EINVAL);
    bm_limiter_stats(l, &st);
    assert_int_equal(st.reserved, 4);
    assert_int_equal(st.allowed, 1);
    assert_int_equal(st.limited, 3);
    assert_int_equal(st.tokens_granted, 21);

    /* rate 0: the burst and nothing else */
    assert_int_equal(bm_limiter_reserve(z, 1, UINT64_MAX), 0);
    assert_int_equal(bm_limiter_reserve(z, 1, UINT64_MAX), 0);
    assert_int_equal(bm_limiter_reserve(z, 1, UINT64_MAX), BM_ERATE_LIMITED);
    set_time(&clk, 1000 * SEC);
    assert_false(bm_limiter_allow(z));

    /* 3/s: the wait is rounded up and the tokens are there at its end */
    assert_true(bm_limiter_allow(t3));
    w = bm_limiter_reserve(t3, 1, UINT64_MAX);
    assert_int_equal(w, 333333334);
    set_time(&clk, 1000 * SEC + (uint64_t)w - 1);
    assert_true(tokens(t3) < 0.0);
    set_time(&clk, 1000 * SEC + (uint64_t)w);
    assert_true(tokens(t3) >= 0.0);
    bm_limiter_free(l);
    bm_limiter_free(z);
    bm_limiter_free(t3);
}

static void test_simple_and_config(void **state)
{
    struct bm_limiter *l = (struct bm_limiter *)&l;
    struct bm_limiter_config cfg = {.name = "x", .capacity = 1};
    struct bm_errmsg em = {{0}};
    uint64_t t0, elapsed;
    int n = 0;

    (void)state;
    /* the seed's form: 100 tokens, 10 per second */
    t0 = bm_clock_now_ns();
    assert_int_equal(bm_limiter_new_simple(&l, "api", 100, 10), BM_OK);
    assert_string_equal(bm_limiter_name(l), "api");
    while (bm_limiter_allow(l)) {
        n++;
    }
    /* real clock: 100 from the burst plus what 10/s refilled meanwhile */
    elapsed = bm_clock_now_ns() - t0;
    assert_true(n >= 100);
    assert_true((double)n <= 100.0 + 10.0 * (double)elapsed / 1e9);
    bm_limiter_free(l);
    bm_limiter_free(NULL);

    cfg.capacity = 0;
    assert_int_equal(bm_limiter_new(&l, &cfg, &em), BM_EINVAL);
    assert_null(l);
    assert_non_null(strstr(em.msg, "capacity"));
    cfg.capacity = BM_LIMITER_CAPACITY_MAX + 1;
    assert_int_equal(bm_limiter_new(&l, &cfg, &em), BM_EINVAL);
    cfg.capacity = 1;
    cfg.rate_per_sec = -1.0;
    assert_int_equal(bm_limiter_new(&l, &cfg, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "rate_per_sec"));
    cfg.rate_per_sec = NAN;
    assert_int_equal(bm_limiter_new(&l, &cfg, &em), BM_EINVAL);
    cfg.rate_per_sec = INFINITY;
    assert_int_equal(bm_limiter_new(&l, &cfg, &em), BM_EINVAL);
    cfg.rate_per_sec = 2e6;
    assert_int_equal(bm_limiter_new(&l, &cfg, NULL), BM_EINVAL);
    cfg.rate_per_sec = 1.0;
    cfg.name = "";
    assert_int_equal(bm_limiter_new(&l, &cfg, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "name"));
    cfg.name = NULL;
    assert_int_equal(bm_limiter_new(&l, &cfg, &em), BM_EINVAL);
    assert_int_equal(bm_limiter_new(&l, NULL, &em), BM_EINVAL);
    assert_null(l);
}

/*
 * Hammer on the real clock: every attempt is allowed or limited, the
 * per-thread grants add up to the limiter's count, and the total never
 * exceeds capacity + rate * elapsed.
 */
#define HAMMER_THREADS 4
#define HAMMER_ITERS 50000

struct hammer {
    struct bm_limiter *l;
    uint64_t attempts;
    uint64_t allowed;
    uint64_t limited;
    uint64_t tokens;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;

    for (int i = 0; i < HAMMER_ITERS; i++) {
        uint64_t n = 1 + (uint64_t)(i % 3);

        h->attempts++;
        if (i % 5 == 4) {
            int64_t w = bm_limiter_reserve(h->l, n, 20000);

            if (w >= 0) {
                h->allowed++;
                h->tokens += n;
            } else {
                h->limited++;
            }
        } else if (bm_limiter_allow_n(h->l, n)) {
            h->allowed++;
            h->tokens += n;
        } else {
            h->limited++;
        }
    }
    return NULL;
}

static void test_hammer(void **state)
{
    const uint64_t cap = 500;
    const double rate = 200000.0;
    struct bm_limiter *l = NULL;
    struct hammer h[HAMMER_THREADS];
    pthread_t th[HAMMER_THREADS];
    struct bm_limiter_stats st;
    uint64_t start, elapsed, tokens = 0, allowed = 0, limited = 0;

    (void)state;
    start = bm_clock_now_ns();
    assert_int_equal(bm_limiter_new_simple(&l, "hammer", cap, rate), BM_OK);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        h[i] = (struct hammer){.l = l};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &h[i]),
                         0);
    }
    for (int i = 0; i < HAMMER_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(h[i].allowed + h[i].limited, h[i].attempts);
        tokens += h[i].tokens;
        allowed += h[i].allowed;
        limited += h[i].limited;
    }
    bm_limiter_stats(l, &st);
    elapsed = bm_clock_now_ns() - start;
    assert_int_equal(st.allowed + st.reserved, allowed);
    assert_int_equal(st.limited, limited);
    assert_int_equal(allowed + limited,
                     (uint64_t)HAMMER_THREADS * HAMMER_ITERS);
    assert_int_equal(st.tokens_granted, tokens);
    /*
     * Granted tokens plus what is left (negative while reservations are
     * owed) never exceed the burst plus the refill since creation; the
     * debt is bounded by max_wait (20 us of refill) and n <= 3.
     */
    assert_true((double)tokens + st.tokens <=
                (double)cap + rate * (double)elapsed / 1e9 + 1e-6);
    assert_true(st.tokens >= -(rate * 20000 / 1e9) - 3.0);
    assert_true((double)tokens <=
                (double)cap + rate * (double)elapsed / 1e9 + 7.0);
    assert_true(tokens >= cap); /* the test did drain the bucket */
    bm_limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refill_exact),
        cmocka_unit_test(test_burst_cap),
        cmocka_unit_test(test_fractional_rates),
        cmocka_unit_test(test_long_interval_fold),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_simple_and_config),
        cmocka_unit_test(test_hammer),
    };

    return BM_TEST_RUN(tests);
}
