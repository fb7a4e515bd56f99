/*
 * Common test scaffolding over cmocka.
 *
 * BM_TEST_RUN(tests) runs a cmocka group and then checks that every
 * bm_malloc'd byte was freed (STYLE rule 16): a leak fails the binary even
 * when every case passed.
 */
#ifndef BM_TESTS_BM_TEST_H
#define BM_TESTS_BM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "util/alloc.h"

static inline int bm_test_check_leaks(int failed)
{
    int64_t n = bm_alloc_live_count();

    if (n != 0) {
        fprintf(stderr, "[  LEAK    ] %lld live allocations (%lld bytes)\n",
                (long long)n, (long long)bm_alloc_live_bytes());
        return failed ? failed : 1;
    }
    return failed;
}

#define BM_TEST_RUN(tests)                                                     \
    bm_test_check_leaks(cmocka_run_group_tests((tests), NULL, NULL))

/* Source tree root, for test data files. */
#include "bm_config.h"

#endif /* BM_TESTS_BM_TEST_H */
