/*
 * Clocks shared by the benchmarks (header-only: each benchmark is built
 * from its single .c file). Wall time is CLOCK_MONOTONIC; CPU time is the
 * whole process's, so a rate per CPU-second shows cost independent of how
 * busy the shared machine is.
 */
#ifndef BM_BENCH_BENCH_UTIL_H
#define BM_BENCH_BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* The fsync probe (what every durable LMDB commit pays twice): up to n
 * (>= 1) rounds of a 4 KiB pwrite + fdatasync on a temp file in dir,
 * stopping early once `seconds` have passed when seconds > 0. The
 * latencies in µs go to v (room for n), sorted ascending. Returns how
 * many rounds ran (>= 1), or -1 with errno set if the file cannot be made
 * or written. */
static inline int bench_fsync_rounds_us(const char *dir, int n,
                                        double seconds, double *v)
{
    char path[4096];
    char buf[4096];
    uint64_t end;
    int fd, i;

    if (n < 1) {
        errno = EINVAL;
        return -1;
    }
    snprintf(path, sizeof(path), "%s/bench-fsync.XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    unlink(path);
    memset(buf, 0x5a, sizeof(buf));
    end = bench_now_ns() + (uint64_t)(seconds * 1e9);
    for (i = 0; i < n && (seconds <= 0 || i == 0 || bench_now_ns() < end);
         i++) {
        uint64_t t = bench_now_ns();

        if (pwrite(fd, buf, sizeof(buf), (off_t)(i % 16) * 4096) !=
                (ssize_t)sizeof(buf) ||
            fdatasync(fd) != 0) {
            int e = errno;

            close(fd);
            errno = e;
            return -1;
        }
        v[i] = (double)(bench_now_ns() - t) / 1e3;
    }
    close(fd);
    qsort(v, (size_t)i, sizeof(v[0]), bench_cmp_double);
    return i;
}

/* Median µs of n (1..1001) fsync probe rounds in dir; -1 with errno set
 * if the file cannot be made or written. */
static inline double bench_fsync_p50_us(const char *dir, int n)
{
    double v[1001];

    if (n < 1 || n > 1001) {
        errno = EINVAL;
        return -1;
    }
    n = bench_fsync_rounds_us(dir, n, 0, v);
    return n < 0 ? -1 : v[n / 2];
}

#endif /* BM_BENCH_BENCH_UTIL_H */
