/*
 * Clocks shared by the benchmarks (header-only: each benchmark is built
 * from its single .c file). Wall time is CLOCK_MONOTONIC; CPU time is the
 * whole process's, so a rate per CPU-second shows cost independent of how
 * busy the shared machine is.
 */
#ifndef BM_BENCH_BENCH_UTIL_H
#define BM_BENCH_BENCH_UTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort comparator for doubles (medians). */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

#endif /* BM_BENCH_BENCH_UTIL_H */
