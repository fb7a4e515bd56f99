/*
 * Helpers shared by the actor benchmarks (bench/actor_*.c): clock, peak
 * RSS, a 2-worker actor system, a completion signal for handlers, and
 * argument parsing. Header-only (static functions) because bench/meson.build
 * builds each benchmark from its single .c file.
 *
 * Output convention: one `name value unit` line per figure on stdout.
 */
#ifndef BM_BENCH_ACTOR_BENCH_UTIL_H
#define BM_BENCH_ACTOR_BENCH_UTIL_H

#include "bench_util.h"
#include "blockv2/actor.h"
#include "blockv2/err.h"
#include "util/clock.h"

#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_WORKERS 2

/* Peak resident set size of this process in KiB (ru_maxrss). */
static inline long bench_peak_rss_kib(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return -1;
    }
    return ru.ru_maxrss;
}

/* Current resident set size in KiB, from /proc/self/statm. */
static inline long bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1, rss = -1;

    if (f == NULL) {
        return -1;
    }
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) {
        rss = -1;
    }
    fclose(f);
    return rss < 0 ? -1 : rss * 4;
}

/* Parses argv[i] as a positive count, or returns `def` if absent. */
static inline uint64_t bench_arg_u64(int argc, char **argv, int i,
                                     uint64_t def)
{
    char *end = NULL;
    unsigned long long v;

    if (argc <= i) {
        return def;
    }
    errno = 0;
    v = strtoull(argv[i], &end, 10);
    if (errno != 0 || end == argv[i] || *end != '\0' || v == 0) {
        fprintf(stderr, "bad count '%s'\n", argv[i]);
        exit(2);
    }
    return v;
}

static inline void bench_die(const char *what, int err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, bm_strerror(err),
            bm_err_name(err));
    exit(1);
}

/*
 * A started system with BENCH_WORKERS workers and otherwise the defaults;
 * exits on error. BM_BENCH_HANDLER_TIMING=0 in the environment turns the
 * per-message handler time histogram off (it reads the clock per message).
 */
static inline struct bm_actor_system *bench_system_start(uint32_t capacity)
{
    struct bm_actor_system_config cfg;
    struct bm_actor_system *sys = NULL;
    const char *timing;
    int err;

    bm_actor_system_config_init(&cfg);
    cfg.workers = BENCH_WORKERS;
    if (capacity != 0) {
        cfg.default_capacity = capacity;
    }
    timing = getenv("BM_BENCH_HANDLER_TIMING");
    if (timing != NULL && strcmp(timing, "0") == 0) {
        cfg.handler_timing = false;
    }
    err = bm_actor_system_new(&sys, &cfg);
    if (err != BM_OK) {
        bench_die("bm_actor_system_new", err);
    }
    err = bm_actor_system_start(sys);
    if (err != BM_OK) {
        bench_die("bm_actor_system_start", err);
    }
    return sys;
}

static inline void bench_system_stop(struct bm_actor_system *sys)
{
    int err = bm_actor_system_stop(sys, 10000);

    if (err != BM_OK) {
        fprintf(stderr, "bm_actor_system_stop: %s\n", bm_err_name(err));
    }
    bm_actor_system_free(sys);
}

/*
 * Waits for a completion signal posted from a handler (sem_post never
 * blocks); gives up and exits after 300 s so a lost message shows up as a
 * failure, not a hang.
 */
static inline void bench_wait(sem_t *s)
{
    struct timespec ts;

    /* A deadline on the monotonic clock (sem_clockwait), like the
     * runtime's own waits. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 300;
    while (sem_clockwait(s, CLOCK_MONOTONIC, &ts) != 0) {
        if (errno == ETIMEDOUT) {
            fprintf(stderr, "timed out waiting for completion\n");
            exit(1);
        }
        if (errno != EINTR) {
            perror("sem_clockwait");
            exit(1);
        }
    }
}

#endif /* BM_BENCH_ACTOR_BENCH_UTIL_H */
