/*
 * Clocks, deadlines, timed waits and sleeps. This is the only file that
 * reads a clock, sleeps or sets up a condition variable (scripts/lint.sh
 * checks src/, cmd/ and include/), so the choice of clock is made once:
 *
 * - Monotonic time (CLOCK_MONOTONIC, bm_clock_now_ns) for every interval,
 *   deadline, timeout and timed wait. It never jumps when the wall clock is
 *   set (an NTP step, `date -s`, a VM resume adjusting the time), so a
 *   deadline computed from it always lies the intended time ahead: a wall
 *   clock stepped back does not freeze a timer or an ask, and one stepped
 *   forward does not expire them early.
 * - Wall time (CLOCK_REALTIME, bm_clock_wall_ns) only where a wall
 *   timestamp is the point: block and DA timestamps, the genesis time, the
 *   header drift check, log lines.
 *
 * Deadlines are absolute monotonic nanoseconds. BM_CLOCK_NEVER means "no
 * deadline"; every helper that adds a timeout saturates to it, so an
 * "infinite" timeout (INT64_MAX ms, or any negative one) never overflows
 * into a deadline in the past.
 *
 * Condition variables are this file's own (struct bm_cond, on a futex),
 * not glibc's: glibc's condition variable can fail to wake a waiter
 * (glibc bug 25847; Debian 12 has glibc 2.36): a lane thread left asleep
 * that way stalls its lane and every caller waiting on it
 * (tests/actor/stress_lane.c showed it; docs/RELIABILITY.md "Bugs the
 * suite found"). Timed waits measure CLOCK_MONOTONIC, as every deadline.
 */
#ifndef BM_UTIL_CLOCK_H
#define BM_UTIL_CLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* No deadline: a wait until BM_CLOCK_NEVER is a wait without timeout. */
#define BM_CLOCK_NEVER UINT64_MAX

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC; the origin is
 * unspecified, typically boot). Never fails; any thread. */
uint64_t bm_clock_now_ns(void);

/* bm_clock_now_ns() in milliseconds. */
uint64_t bm_clock_now_ms(void);

/* Wall time: nanoseconds since the Unix epoch (CLOCK_REALTIME); 0 if the
 * clock is before 1970. Only for timestamps, never for deadlines. */
uint64_t bm_clock_wall_ns(void);

/* start_ns + ms milliseconds, saturating: BM_CLOCK_NEVER if ms < 0, if
 * start_ns is BM_CLOCK_NEVER, or if the sum does not fit. Pure. */
uint64_t bm_clock_after_ms(uint64_t start_ns, int64_t ms);

/* The deadline timeout_ms from now: bm_clock_after_ms(bm_clock_now_ns(),
 * timeout_ms). timeout_ms < 0 or too large: BM_CLOCK_NEVER. */
uint64_t bm_clock_deadline_ms(int64_t timeout_ms);

/* Milliseconds left until deadline_ns, rounded up, 0 if it has passed,
 * INT64_MAX for BM_CLOCK_NEVER. */
int64_t bm_clock_left_ms(uint64_t deadline_ns);

/*
 * A condition variable: a sequence number the waiters sleep on (a futex)
 * and a count of sleepers. A wait reads the number while it holds the
 * mutex and sleeps only while the number is unchanged, so a signal that
 * follows the waiter's unlock can never be missed; wake-ups may be
 * spurious (re-check the predicate). Waiters are woken in no particular
 * order: a signal wakes one sleeper, so signal only a condition that one
 * thread waits on at a time and broadcast the others. No resources: a
 * zeroed struct (BM_COND_INIT) is ready, and destroying it is a no-op.
 */
struct bm_cond {
    _Atomic uint32_t seq;
    _Atomic uint32_t sleepers;
};

#define BM_COND_INIT {0, 0}

void bm_cond_init(struct bm_cond *c);
void bm_cond_destroy(struct bm_cond *c);

/* Waits on c (caller holds mu) until it is signalled or the monotonic
 * clock reaches deadline_ns (BM_CLOCK_NEVER: no timeout). Returns 0 when
 * woken (possibly spuriously: re-check the predicate) or ETIMEDOUT; errno
 * is left as it was. Returns with mu held. Blocks. */
int bm_cond_wait_until(struct bm_cond *c, pthread_mutex_t *mu,
                       uint64_t deadline_ns);

/* bm_cond_wait_until without a deadline. */
void bm_cond_wait(struct bm_cond *c, pthread_mutex_t *mu);

/* Wakes one waiter (signal) or all (broadcast), if any. Any thread, with
 * or without the mutex: a waiter that has read the sequence before the
 * signal (it did so under the mutex) is woken or does not sleep. */
void bm_cond_signal(struct bm_cond *c);
void bm_cond_broadcast(struct bm_cond *c);

/* Sleeps ms milliseconds of monotonic time, resuming after signals
 * (an absolute clock_nanosleep, so an interrupted sleep does not drift).
 * Blocks: never call from a pooled actor. */
void bm_sleep_ms(uint64_t ms);

/* bm_sleep_ms in microseconds (for tests that pick sub-millisecond
 * instants). */
void bm_sleep_us(uint64_t us);

#endif /* BM_UTIL_CLOCK_H */
