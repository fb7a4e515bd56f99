/*
 * Catch-up conditions (src/actors/catchup.h) without actors: when it is
 * entered, and the P2P condition with stand-in P2P stores: not done below
 * the P2P height, done at it, and done once catchup_timeout has passed
 * (the value bounds the wait: a test that fails if it were ignored).
 */
#include "bm_test.h"

#include <string.h>
#include <time.h>

#include "actors/catchup.h"
#include "util/clock.h"

static uint64_t g_p2p_height;

static enum bm_err p2p_height(void *ctx, uint64_t *out)
{
    (void)ctx;
    *out = g_p2p_height;
    return BM_OK;
}

static void env_init(struct bm_env *e, bool agg, uint64_t timeout_ms,
                     bool da)
{
    static const struct bm_da dummy_da;

    memset(e, 0, sizeof(*e));
    atomic_init(&e->catching_up, false);
    atomic_init(&e->catchup_da_done, false);
    e->cfg.aggregator = agg;
    e->cfg.catchup_timeout_ms = timeout_ms;
    e->da = da ? &dummy_da : NULL;
}

static void test_begin(void **state)
{
    struct bm_env e;

    (void)state;
    env_init(&e, true, 0, true);
    bm_catchup_begin(&e);
    assert_false(bm_catchup_active(&e)); /* 0: no catch-up */
    env_init(&e, true, 1000, false);
    bm_catchup_begin(&e);
    assert_false(bm_catchup_active(&e)); /* nothing to catch up from */
    env_init(&e, true, 1000, true);
    bm_catchup_begin(&e);
    assert_true(bm_catchup_active(&e));
    /* Without P2P stores the DA part alone ends it. */
    assert_true(bm_catchup_try_finish(&e, 5));
    assert_false(bm_catchup_active(&e));
    assert_true(bm_catchup_try_finish(&e, 5));
}

static void test_p2p_wait_bounded_by_timeout(void **state)
{
    struct bm_p2p_store hs = {p2p_height, NULL, NULL, NULL};
    struct bm_env e;
    uint64_t t0;

    (void)state;
    env_init(&e, true, 300, true);
    e.header_store = &hs;
    bm_catchup_begin(&e);
    t0 = e.catchup_start_ms;
    /* P2P knows nothing yet: wait (until the timeout). */
    g_p2p_height = 0;
    assert_false(bm_catchup_p2p_done(&e, 10));
    /* P2P is ahead of the store: wait. */
    g_p2p_height = 30;
    assert_false(bm_catchup_try_finish(&e, 20));
    assert_true(bm_catchup_active(&e));
    /* The store reached it: done. */
    assert_true(bm_catchup_p2p_done(&e, 30));
    /* Still behind, but the timeout passes: P2P is ignored (a margin
     * below 300 ms, as the check reads the clock again). */
    while (bm_env_now_ms() - t0 < 280) {
        if (bm_catchup_p2p_done(&e, 20)) {
            fail_msg("P2P wait ended after %llu ms, before the 300 ms "
                     "timeout", (unsigned long long)(bm_env_now_ms() - t0));
        }
        bm_sleep_ms(10);
    }
    bm_sleep_ms(20);
    assert_true(bm_catchup_try_finish(&e, 20));
    assert_false(bm_catchup_active(&e));
}

/* Without DA the DA part holds at once: P2P alone decides, and StoreSync's
 * poll ends it. With DA, the poll waits for the Retriever's DA part. */
static void test_p2p_only_and_poll(void **state)
{
    struct bm_p2p_store hs = {p2p_height, NULL, NULL, NULL};
    struct bm_p2p_store ds = {p2p_height, NULL, NULL, NULL};
    struct bm_env e;

    (void)state;
    env_init(&e, true, 60000, false);
    e.header_store = &hs;
    e.data_store = &ds;
    bm_catchup_begin(&e);
    assert_true(bm_catchup_active(&e));
    g_p2p_height = 0;
    assert_false(bm_catchup_poll_p2p(&e, 0)); /* no network view yet */
    g_p2p_height = 40;
    assert_false(bm_catchup_poll_p2p(&e, 39));
    assert_true(bm_catchup_active(&e));
    assert_true(bm_catchup_poll_p2p(&e, 40));
    assert_false(bm_catchup_active(&e));

    env_init(&e, true, 60000, true);
    e.header_store = &hs;
    e.data_store = &ds;
    bm_catchup_begin(&e);
    assert_false(bm_catchup_poll_p2p(&e, 40)); /* DA not at its head */
    assert_true(bm_catchup_active(&e));
    assert_true(bm_catchup_try_finish(&e, 40)); /* the Retriever's call */
    assert_false(bm_catchup_active(&e));
    assert_true(bm_catchup_poll_p2p(&e, 40));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_begin),
        cmocka_unit_test(test_p2p_wait_bounded_by_timeout),
        cmocka_unit_test(test_p2p_only_and_poll),
    };

    return BM_TEST_RUN(tests);
}
