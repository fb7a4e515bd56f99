#include "util/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

void bm_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t attr;

    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(cv, &attr) != 0) {
        fprintf(stderr, "blockv2: fatal: cannot create a condition variable "
                        "on CLOCK_MONOTONIC\n");
        abort();
    }
    pthread_condattr_destroy(&attr);
}

static struct timespec ns_ts(uint64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / NS_PER_S);
    ts.tv_nsec = (long)(ns % NS_PER_S);
    return ts;
}

int bm_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
                       uint64_t deadline_ns)
{
    struct timespec ts;

    if (deadline_ns == BM_CLOCK_NEVER) {
        return pthread_cond_wait(cv, mu);
    }
    ts = ns_ts(deadline_ns);
    return pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT ? ETIMEDOUT : 0;
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
