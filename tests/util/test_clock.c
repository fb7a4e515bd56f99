/*
 * util/clock: the one place that reads clocks, computes deadlines and
 * waits. These tests pin down which clock each helper uses (the real
 * clocks are read here directly, as the reference) and that a deadline on
 * the monotonic clock is honoured by a condition variable made with
 * bm_cond_init: a condition variable on CLOCK_REALTIME would take such a
 * deadline (~uptime after 1970) as long past and return at once.
 */
#include "bm_test.h"

#include "util/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static uint64_t ref_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* bm_clock_now_ns reads CLOCK_MONOTONIC, bm_clock_wall_ns CLOCK_REALTIME:
 * each lies between two reads of its reference clock. The two clocks are
 * decades apart on any machine that booted after 1980, so the brackets
 * cannot both hold for the wrong clock. */
static void test_which_clock(void **state)
{
    uint64_t a, x, b;

    (void)state;
    a = ref_ns(CLOCK_MONOTONIC);
    x = bm_clock_now_ns();
    b = ref_ns(CLOCK_MONOTONIC);
    assert_true(a <= x && x <= b);
    a = ref_ns(CLOCK_REALTIME);
    x = bm_clock_wall_ns();
    b = ref_ns(CLOCK_REALTIME);
    assert_true(a <= x && x <= b);
    assert_true(ref_ns(CLOCK_REALTIME) - bm_clock_now_ns() >
                10ull * 365 * 86400 * 1000000000ull);
    x = bm_clock_now_ms();
    assert_true(x * 1000000ull <= ref_ns(CLOCK_MONOTONIC));
}

/* Deadline arithmetic saturates to BM_CLOCK_NEVER instead of wrapping. */
static void test_deadline_arithmetic(void **state)
{
    uint64_t now = bm_clock_now_ns();

    (void)state;
    assert_int_equal(bm_clock_after_ms(0, 5), 5000000ull);
    assert_int_equal(bm_clock_after_ms(now, 0), now);
    assert_int_equal(bm_clock_after_ms(now, 1500), now + 1500000000ull);
    /* Negative: no deadline (the "< 0: forever" convention). */
    assert_int_equal(bm_clock_after_ms(now, -1), BM_CLOCK_NEVER);
    /* INT64_MAX ms is ~292 million years: no deadline, not a wrap. */
    assert_int_equal(bm_clock_after_ms(now, INT64_MAX), BM_CLOCK_NEVER);
    assert_int_equal(bm_clock_after_ms(BM_CLOCK_NEVER, 1), BM_CLOCK_NEVER);
    assert_int_equal(bm_clock_after_ms(BM_CLOCK_NEVER - 999999, 1),
                     BM_CLOCK_NEVER);
    assert_int_equal(bm_clock_after_ms(BM_CLOCK_NEVER - 1000001, 1),
                     BM_CLOCK_NEVER - 1);
    /* The largest representable timeout from 0. */
    assert_int_equal(bm_clock_after_ms(0, (int64_t)(UINT64_MAX / 1000000)),
                     (UINT64_MAX / 1000000) * 1000000);
    /* 100 years from now fits. */
    assert_true(bm_clock_deadline_ms(100LL * 365 * 86400 * 1000) !=
                BM_CLOCK_NEVER);
    assert_int_equal(bm_clock_deadline_ms(INT64_MAX), BM_CLOCK_NEVER);
    assert_int_equal(bm_clock_left_ms(BM_CLOCK_NEVER), INT64_MAX);
    assert_int_equal(bm_clock_left_ms(0), 0);
    assert_int_equal(bm_clock_left_ms(now), 0);
    {
        int64_t left = bm_clock_left_ms(bm_clock_deadline_ms(10000));

        assert_true(left > 9000 && left <= 10000);
    }
}

struct waiter {
    pthread_mutex_t mu;
    struct bm_cond cv;
    bool flag;
};

static void *signal_later(void *arg)
{
    struct waiter *w = arg;

    bm_sleep_ms(50);
    pthread_mutex_lock(&w->mu);
    w->flag = true;
    bm_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* A wait until a monotonic deadline lasts until that deadline (so the
 * condition variable measures CLOCK_MONOTONIC); BM_CLOCK_NEVER waits
 * without a timeout until signalled. */
static void test_cond_wait_until(void **state)
{
    struct waiter w = {.flag = false};
    pthread_t th;
    uint64_t t0, el, dl;
    int rc;

    (void)state;
    pthread_mutex_init(&w.mu, NULL);
    bm_cond_init(&w.cv);
    pthread_mutex_lock(&w.mu);
    t0 = bm_clock_now_ns();
    dl = bm_clock_after_ms(t0, 120);
    do {
        rc = bm_cond_wait_until(&w.cv, &w.mu, dl);
    } while (rc == 0); /* spurious wake-ups */
    el = bm_clock_now_ns() - t0;
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(el >= 120000000ull);
    assert_true(el < 5000000000ull);
    /* A deadline in the past: at once. */
    assert_int_equal(bm_cond_wait_until(&w.cv, &w.mu, t0), ETIMEDOUT);
    pthread_mutex_unlock(&w.mu);
    assert_int_equal(pthread_create(&th, NULL, signal_later, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.flag) {
        assert_int_equal(bm_cond_wait_until(&w.cv, &w.mu, BM_CLOCK_NEVER), 0);
    }
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
    bm_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

/*
 * Ping-pong on two condition variables, each signalled after its mutex is
 * let go (as the runtime's lane and worker kicks do), mixed with short
 * timed waits: every hand-off is seen (the test ends instead of hanging).
 * glibc's condition variable lost such a wake-up about once in millions
 * (glibc bug 25847); this one reads a sequence number under the mutex
 * and cannot.
 */
#define PINGS 200000

struct pingpong {
    pthread_mutex_t mu;
    struct bm_cond cv[2];
    unsigned turn; /* whose move: 0 or 1 */
    unsigned n;
};

static void *pong_main(void *arg)
{
    struct pingpong *p = arg;
    unsigned me = 1;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->turn != me && p->n < PINGS) {
            if (p->n % 7 == 0) {
                (void)bm_cond_wait_until(&p->cv[me], &p->mu,
                                         bm_clock_now_ns() + 20000);
            } else {
                bm_cond_wait(&p->cv[me], &p->mu);
            }
        }
        if (p->n >= PINGS) {
            pthread_mutex_unlock(&p->mu);
            bm_cond_signal(&p->cv[!me]);
            return NULL;
        }
        p->turn = !me;
        p->n++;
        pthread_mutex_unlock(&p->mu);
        bm_cond_signal(&p->cv[!me]);
    }
}

static void test_cond_no_lost_wakeup(void **state)
{
    struct pingpong p;
    pthread_t th;

    (void)state;
    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.mu, NULL);
    bm_cond_init(&p.cv[0]);
    bm_cond_init(&p.cv[1]);
    assert_int_equal(pthread_create(&th, NULL, pong_main, &p), 0);
    for (;;) {
        pthread_mutex_lock(&p.mu);
        while (p.turn != 0 && p.n < PINGS) {
            bm_cond_wait(&p.cv[0], &p.mu);
        }
        if (p.n >= PINGS) {
            pthread_mutex_unlock(&p.mu);
            bm_cond_signal(&p.cv[1]);
            break;
        }
        p.turn = 1;
        p.n++;
        pthread_mutex_unlock(&p.mu);
        bm_cond_signal(&p.cv[1]);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(p.n >= PINGS);
    /* errno is left alone by a wait that times out. */
    errno = 1234;
    pthread_mutex_lock(&p.mu);
    assert_int_equal(bm_cond_wait_until(&p.cv[0], &p.mu, bm_clock_now_ns()),
                     ETIMEDOUT);
    pthread_mutex_unlock(&p.mu);
    assert_int_equal(errno, 1234);
    pthread_mutex_destroy(&p.mu);
}

static void test_sleep(void **state)
{
    uint64_t t0 = bm_clock_now_ns(), el;

    (void)state;
    bm_sleep_ms(30);
    el = bm_clock_now_ns() - t0;
    assert_true(el >= 30000000ull && el < 5000000000ull);
    t0 = bm_clock_now_ns();
    bm_sleep_us(1500);
    assert_true(bm_clock_now_ns() - t0 >= 1500000ull);
    t0 = bm_clock_now_ns();
    bm_sleep_ms(0);
    bm_sleep_us(0);
    assert_true(bm_clock_now_ns() - t0 < 1000000000ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_which_clock),
        cmocka_unit_test(test_deadline_arithmetic),
        cmocka_unit_test(test_cond_wait_until),
        cmocka_unit_test(test_cond_no_lost_wakeup),
        cmocka_unit_test(test_sleep),
    };

    return BM_TEST_RUN(tests);
}
