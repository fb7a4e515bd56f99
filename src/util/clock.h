/*
 * Absolute deadlines for pthread_cond_timedwait (which takes
 * CLOCK_REALTIME time).
 */
#ifndef BM_UTIL_CLOCK_H
#define BM_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* *ts = now (CLOCK_REALTIME) + ms milliseconds; ms >= 0. Never fails. */
void bm_clock_deadline_ms(struct timespec *ts, int64_t ms);

#endif /* BM_UTIL_CLOCK_H */
