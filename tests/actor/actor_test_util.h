/*
 * Helpers shared by the actor runtime tests: a system with N workers
 * (created, or created and started); polling loops sleep with
 * bm_sleep_ms (util/clock.h). Header-only because each test is built from
 * one .c file.
 */
#ifndef BM_TESTS_ACTOR_TEST_UTIL_H
#define BM_TESTS_ACTOR_TEST_UTIL_H

#include "bm_test.h"

#include "blockv2/actor.h"
#include "util/clock.h"

/* A new, not yet started system with `workers` workers (asserts success). */
static inline struct bm_actor_system *new_sys(unsigned workers)
{
    struct bm_actor_system_config cfg;
    struct bm_actor_system *sys = NULL;

    bm_actor_system_config_init(&cfg);
    cfg.workers = workers;
    assert_int_equal(bm_actor_system_new(&sys, &cfg), BM_OK);
    return sys;
}

/* A new, started system with `workers` workers (asserts success). */
static inline struct bm_actor_system *start_sys(unsigned workers)
{
    struct bm_actor_system *sys = new_sys(workers);

    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    return sys;
}

#endif /* BM_TESTS_ACTOR_TEST_UTIL_H */
