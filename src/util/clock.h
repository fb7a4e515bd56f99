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
 * Condition variables that may be waited with a timeout are created with
 * bm_cond_init (pthread_condattr_setclock(CLOCK_MONOTONIC)) and waited
 * with bm_cond_wait_until, so the kernel measures the wait on the same
 * clock as the deadline.
 */
#ifndef BM_UTIL_CLOCK_H
#define BM_UTIL_CLOCK_H

#include <pthread.h>
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

/* Initialises *cv on CLOCK_MONOTONIC. Aborts on failure (glibc cannot fail
 * here; a condition variable on the wrong clock would be a silent bug).
 * Destroy with pthread_cond_destroy. */
void bm_cond_init(pthread_cond_t *cv);

/* Waits on cv (initialised by bm_cond_init; caller holds mu) until it is
 * signalled or the monotonic clock reaches deadline_ns (BM_CLOCK_NEVER:
 * no timeout). Returns 0 when woken (possibly spuriously: re-check the
 * predicate) or ETIMEDOUT. Blocks. */
int bm_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
                       uint64_t deadline_ns);

/* Sleeps ms milliseconds of monotonic time, resuming after signals
 * (an absolute clock_nanosleep, so an interrupted sleep does not drift).
 * Blocks: never call from a pooled actor. */
void bm_sleep_ms(uint64_t ms);

/* bm_sleep_ms in microseconds (for tests that pick sub-millisecond
 * instants). */
void bm_sleep_us(uint64_t us);

#endif /* BM_UTIL_CLOCK_H */
