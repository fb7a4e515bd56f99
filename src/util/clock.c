#include "util/clock.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

static uint64_t ts_ns(const struct timespec *ts)
{
    if (ts->tv_sec < 0) {
        return 0;
    }
    return (uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec;
}

uint64_t bm_clock_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_ns(&ts);
}

uint64_t bm_clock_now_ms(void)
{
    return bm_clock_now_ns() / NS_PER_MS;
}

uint64_t bm_clock_wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_ns(&ts);
}

uint64_t bm_clock_after_ms(uint64_t start_ns, int64_t ms)
{
    uint64_t d;

    if (ms < 0 || start_ns == BM_CLOCK_NEVER ||
        (uint64_t)ms > (BM_CLOCK_NEVER - 1) / NS_PER_MS) {
        return BM_CLOCK_NEVER;
    }
    d = (uint64_t)ms * NS_PER_MS;
    if (d >= BM_CLOCK_NEVER - start_ns) {
        return BM_CLOCK_NEVER;
    }
    return start_ns + d;
}

uint64_t bm_clock_deadline_ms(int64_t timeout_ms)
{
    return bm_clock_after_ms(bm_clock_now_ns(), timeout_ms);
}

int64_t bm_clock_left_ms(uint64_t deadline_ns)
{
    uint64_t now;

    if (deadline_ns == BM_CLOCK_NEVER) {
        return INT64_MAX;
    }
    now = bm_clock_now_ns();
    if (now >= deadline_ns) {
        return 0;
    }
    return (int64_t)((deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS);
}

static struct timespec ns_ts(uint64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / NS_PER_S);
    ts.tv_nsec = (long)(ns % NS_PER_S);
    return ts;
}

/* ---- condition variables (clock.h "struct bm_cond") ---- */

void bm_cond_init(struct bm_cond *c)
{
    atomic_init(&c->seq, 0);
    atomic_init(&c->sleepers, 0);
}

void bm_cond_destroy(struct bm_cond *c)
{
    (void)c;
}

int bm_cond_wait_until(struct bm_cond *c, pthread_mutex_t *mu,
                       uint64_t deadline_ns)
{
    int saved = errno;
    struct timespec ts;
    uint32_t seq;
    int rc = 0;

    /* Both under mu: a signaller that changed the predicate after our
     * check did so after our unlock below, so it bumps the sequence after
     * we read it (our futex wait then returns at once, or is woken) and
     * sees us counted (it issues the wake). */
    atomic_fetch_add(&c->sleepers, 1);
    seq = atomic_load(&c->seq);
    pthread_mutex_unlock(mu);
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
    if (deadline_ns != BM_CLOCK_NEVER) {
        ts = ns_ts(deadline_ns);
    }
    if (syscall(SYS_futex, &c->seq, FUTEX_WAIT_BITSET_PRIVATE, seq,
                deadline_ns == BM_CLOCK_NEVER ? NULL : &ts, NULL,
                FUTEX_BITSET_MATCH_ANY) != 0 &&
        errno == ETIMEDOUT) {
        rc = ETIMEDOUT;
    }
    atomic_fetch_sub(&c->sleepers, 1);
    pthread_mutex_lock(mu);
    errno = saved;
    return rc;
}

void bm_cond_wait(struct bm_cond *c, pthread_mutex_t *mu)
{
    (void)bm_cond_wait_until(c, mu, BM_CLOCK_NEVER);
}

static void cond_wake(struct bm_cond *c, int n)
{
    int saved;

    atomic_fetch_add(&c->seq, 1);
    if (atomic_load(&c->sleepers) > 0) {
        saved = errno;
        (void)syscall(SYS_futex, &c->seq, FUTEX_WAKE_PRIVATE, n, NULL, NULL,
                      0);
        errno = saved;
    }
}

void bm_cond_signal(struct bm_cond *c)
{
    cond_wake(c, 1);
}

void bm_cond_broadcast(struct bm_cond *c)
{
    cond_wake(c, INT_MAX);
}

static void sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = ns_ts(deadline_ns);

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR) {
    }
}

void bm_sleep_us(uint64_t us)
{
    uint64_t now = bm_clock_now_ns();

    if (us == 0) {
        return;
    }
    /* Saturated: sleep "forever" (until the last representable instant). */
    if (us > (BM_CLOCK_NEVER - 1 - now) / 1000u) {
        sleep_until(BM_CLOCK_NEVER - 1);
        return;
    }
    sleep_until(now + us * 1000u);
}

void bm_sleep_ms(uint64_t ms)
{
    bm_sleep_us(ms > UINT64_MAX / 1000u ? UINT64_MAX : ms * 1000u);
}
