/*
 * The block manager with the EVM executor, against the scripted execution
 * client (fake_el.h) on 127.0.0.1, with a real store and a real local DA
 * server in temp dirs:
 *  - an aggregator builds blocks from the client's pool; a full node with
 *    its own client follows from DA to the same header hashes, app hashes
 *    and client block hashes at every height;
 *  - restarts: a client behind the store is replayed, one ahead on the
 *    same chain is rolled back, one on another chain (another genesis, or
 *    the same genesis and another history) is refused with
 *    BM_EEXEC_CHAIN naming both roots;
 *  - a client that is down or hangs pauses production (breaker) without
 *    stopping the node or committing anything, and production resumes when
 *    it answers again; one that answers INVALID stops the node with its
 *    message; one that loses its last blocks while the node runs is
 *    replayed by the Sync actor.
 * The same flows against a real ethereumjs are evm-js's e2e (tests/evm).
 */
#include "bm_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "blockv2/genesis.h"
#include "blockv2/keys.h"
#include "blockv2/manager.h"
#include "blockv2/store.h"
#include "exec/evm/evm.h"
#include "fake_el.h"
#include "manager_rig.h"
#include "util/errmsg.h"

/* A node (manager_rig.h) with the EVM executor. */
struct en {
    struct mt_node n;
    struct bm_evm *evm;
};

/* The genesis hash of the fake clients' seed-1 chain (this chain's). */
static void chain_genesis(uint8_t g[32])
{
    struct fake_el_config fc;
    struct fake_el *ref;

    memset(&fc, 0, sizeof(fc));
    fc.seed = 1;
    ref = fake_el_start(&fc);
    assert_true(fake_el_block(ref, 0, g, NULL));
    fake_el_stop(ref);
}

static void en_open(struct en *e, const char *home, bool agg,
                    const char *da_url, const struct bm_manager_config *cfg,
                    struct fake_el *el, uint32_t timeout_ms)
{
    struct bm_errmsg em = {{0}};
    struct bm_evm_config ec;
    struct bm_executor ex;

    memset(&ec, 0, sizeof(ec));
    ec.engine_url = ec.eth_url = fake_el_url(el);
    for (int i = 0; i < 32; i++) {
        ec.jwt_secret[i] = (uint8_t)i;
    }
    chain_genesis(ec.genesis_hash);
    ec.has_genesis_hash = true;
    ec.timeout_ms = timeout_ms;
    ec.retry_backoff_ms = 10;
    assert_int_equal(bm_evm_new(&e->evm, &ec, &em), BM_OK);
    bm_evm_executor(e->evm, &ex);
    mt_open_exec(&e->n, home, agg, da_url, cfg, &ex);
}

static int en_start(struct en *e, struct bm_errmsg *em)
{
    return bm_manager_start(e->n.m, em);
}

static int en_close(struct en *e)
{
    int err = mt_close(&e->n);

    bm_evm_free(e->evm);
    e->evm = NULL;
    return err;
}

static uint64_t en_height(struct en *e)
{
    return height_of(&e->n);
}

static struct fake_el *el_new(uint32_t seed)
{
    struct fake_el_config c;

    memset(&c, 0, sizeof(c));
    for (int i = 0; i < 32; i++) {
        c.jwt_secret[i] = (uint8_t)i;
    }
    c.seed = seed;
    c.allow_equal_time = true; /* fast test blocks share a second */
    return fake_el_start(&c);
}

/* The store's app hash at every height 1..h is the client's state root,
 * and the client's head is h. */
static void assert_agrees(struct en *n, struct fake_el *el, uint64_t h)
{
    for (uint64_t i = 1; i <= h; i++) {
        struct bm_buf a = {0};
        uint8_t r[32];

        app_hash_at(n->n.store, i, &a);
        assert_true(fake_el_block(el, i, NULL, r));
        if (a.len != 32 || memcmp(a.ptr, r, 32) != 0) {
            fail_msg("height %llu: app hash is not the client's state root",
                     (unsigned long long)i);
        }
        bm_buf_release(&a);
    }
}

static void produce(struct en *n, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        struct bm_errmsg em = {{0}};
        uint64_t h = 0;
        int err = bm_manager_produce_block(n->n.m, &h, &em);

        if (err != BM_OK) {
            fail_msg("produce: %s", bm_errmsg_str(&em, err));
        }
    }
}

static void pool_txs(struct fake_el *el, unsigned k)
{
    char hex[64];

    for (unsigned i = 0; i < k; i++) {
        snprintf(hex, sizeof(hex), "02%08x%08x", rnd(), rnd());
        fake_el_pool_add(el, hex);
    }
}

static void manual_cfg(struct bm_manager_config *c)
{
    cfg_fast(c, true);
    c->block_time_ms = 3600000; /* blocks only through produce_block */
}

/* ------------------------------------------------------------ tests */

static void test_aggregator_and_follower(void **state)
{
    char home[256], fhome[256], dahome[256], url[96];
    struct fake_el *ela = el_new(1), *elf = el_new(1);
    struct bm_da_server *da;
    struct bm_manager_config ca, cf;
    struct en agg, full;
    uint64_t h;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    new_home(fhome, sizeof(fhome));
    new_home(dahome, sizeof(dahome));
    da = da_start(dahome, 0, 0, url, sizeof(url));
    cfg_fast(&ca, true);
    ca.block_time_ms = 50;
    en_open(&agg, home, true, url, &ca, ela, 5000);
    assert_int_equal(en_start(&agg, NULL), BM_OK);
    for (int round = 0; round < 10; round++) {
        pool_txs(ela, 3);
        bm_sleep_ms(60);
    }
    WAIT_FOR(en_height(&agg) >= 12, 60000, "aggregator blocks");
    cfg_fast(&cf, false);
    en_open(&full, fhome, false, url, &cf, elf, 5000);
    assert_int_equal(en_start(&full, NULL), BM_OK);
    h = en_height(&agg);
    WAIT_FOR(en_height(&full) >= h, 60000, "full node follows from DA");
    assert_int_equal(en_close(&agg), BM_OK);
    assert_int_equal(en_close(&full), BM_OK);
    en_open(&agg, home, true, NULL, &ca, ela, 5000);
    en_open(&full, fhome, false, NULL, &cf, elf, 5000);
    h = en_height(&full);
    assert_agrees(&agg, ela, h);
    assert_agrees(&full, elf, h);
    for (uint64_t i = 1; i <= h; i++) {
        struct bm_hash x, y;
        uint8_t a[32], b[32];

        header_hash_at(agg.n.store, i, &x);
        header_hash_at(full.n.store, i, &y);
        assert_memory_equal(x.b, y.b, 32);
        assert_true(fake_el_block(ela, i, a, NULL));
        assert_true(fake_el_block(elf, i, b, NULL));
        assert_memory_equal(a, b, 32);
    }
    /* the pool's txs went into blocks */
    assert_true(fake_el_calls(ela, "txpoolExt_getTxs") > 0);
    fprintf(stderr, "agreed on %llu heights\n", (unsigned long long)h);
    en_close(&agg);
    en_close(&full);
    bm_da_server_stop(da);
    fake_el_stop(ela);
    fake_el_stop(elf);
    rm_rf(home);
    rm_rf(fhome);
    rm_rf(dahome);
}

/* Executes blocks h0+1..h0+k directly on el (what another node wrote). */
static void el_extend(struct fake_el *el, uint64_t h0, unsigned k,
                      uint8_t tag)
{
    struct bm_evm_config ec;
    struct bm_evm *evm = NULL;
    struct bm_executor ex;
    struct bm_buf root = {0};
    struct bm_errmsg em = {{0}};

    memset(&ec, 0, sizeof(ec));
    ec.engine_url = ec.eth_url = fake_el_url(el);
    for (int i = 0; i < 32; i++) {
        ec.jwt_secret[i] = (uint8_t)i;
    }
    ec.has_genesis_hash = fake_el_block(el, 0, ec.genesis_hash, NULL);
    assert_int_equal(bm_evm_new(&evm, &ec, &em), BM_OK);
    bm_evm_executor(evm, &ex);
    assert_int_equal(bm_executor_init_chain(&ex, 1, 1, "x", &root, &em),
                     BM_OK);
    assert_int_equal(bm_executor_get_state_root(&ex, h0, &root, &em), BM_OK);
    for (unsigned i = 1; i <= k; i++) {
        struct bm_exec_result res = {0};
        uint8_t tx[4] = {0x02, tag, (uint8_t)i, 9};
        struct bm_buf t = {tx, 4};
        int err = bm_executor_execute_txs(&ex, &t, 1, h0 + i,
                                          (4000000000ull + h0 + i) *
                                              1000000000ull,
                                          root.ptr, root.len, &res, &em);
        if (err != BM_OK) {
            fail_msg("el_extend: %s", bm_errmsg_str(&em, err));
        }
        bm_buf_release(&root);
        root = res.state_root;
        res.state_root.ptr = NULL;
        bm_exec_result_release(&res);
    }
    bm_buf_release(&root);
    bm_evm_free(evm);
}

static void test_restarts(void **state)
{
    char home[256];
    struct fake_el *el = el_new(1);
    struct bm_manager_config c;
    struct en n;
    struct bm_errmsg em = {{0}};

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    manual_cfg(&c);
    en_open(&n, home, true, NULL, &c, el, 5000);
    assert_int_equal(en_start(&n, NULL), BM_OK);
    pool_txs(el, 4);
    produce(&n, 8);
    assert_int_equal(en_height(&n), 8);
    assert_agrees(&n, el, 8);
    assert_int_equal(en_close(&n), BM_OK);

    /* behind: the client lost its last 3 blocks; the start replays them */
    fake_el_truncate(el, 5);
    en_open(&n, home, true, NULL, &c, el, 5000);
    assert_int_equal(en_start(&n, NULL), BM_OK);
    assert_int_equal(fake_el_head(el, NULL, NULL), 8);
    assert_agrees(&n, el, 8);
    produce(&n, 2);
    assert_agrees(&n, el, 10);
    assert_int_equal(en_close(&n), BM_OK);

    /* ahead on the same chain by 3: rolled back, and block 11 is the
     * rollup's */
    el_extend(el, 10, 3, 0xaa);
    assert_int_equal(fake_el_head(el, NULL, NULL), 13);
    en_open(&n, home, true, NULL, &c, el, 5000);
    assert_int_equal(en_start(&n, NULL), BM_OK);
    produce(&n, 1);
    assert_int_equal(en_height(&n), 11);
    assert_agrees(&n, el, 11);
    assert_int_equal(fake_el_head(el, NULL, NULL), 11);
    assert_int_equal(en_close(&n), BM_OK);

    /* another genesis: refused before anything runs */
    {
        struct fake_el *other = el_new(2);

        en_open(&n, home, true, NULL, &c, other, 5000);
        assert_int_equal(en_start(&n, &em), BM_EEXEC_CHAIN);
        fprintf(stderr, "refused: %s\n", em.msg);
        assert_non_null(strstr(em.msg, "runs another chain"));
        en_close(&n);
        fake_el_stop(other);
    }
    /* the same genesis, another history up to beyond the store height */
    {
        struct fake_el *fork = el_new(1);

        el_extend(fork, 0, 12, 0xbb);
        en_open(&n, home, true, NULL, &c, fork, 5000);
        assert_int_equal(en_start(&n, &em), BM_EEXEC_CHAIN);
        fprintf(stderr, "refused: %s\n", em.msg);
        assert_non_null(strstr(em.msg, "state root at height 11"));
        assert_non_null(strstr(em.msg, "another chain"));
        en_close(&n);
        /* nothing was written to it */
        assert_int_equal(fake_el_head(fork, NULL, NULL), 12);
        fake_el_stop(fork);
    }
    /* and the right client still works */
    en_open(&n, home, true, NULL, &c, el, 5000);
    assert_int_equal(en_start(&n, NULL), BM_OK);
    produce(&n, 1);
    assert_agrees(&n, el, 12);
    assert_int_equal(en_close(&n), BM_OK);
    fake_el_stop(el);
    rm_rf(home);
}

static void test_unavailable_then_invalid(void **state)
{
    char home[256];
    struct fake_el *el = el_new(1);
    struct bm_manager_config c;
    struct fake_el_faults f;
    struct en n;
    struct bm_errmsg em = {{0}};
    uint64_t h;
    int err;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    cfg_fast(&c, true);
    c.block_time_ms = 50;
    c.exec_breaker_failures = 2;
    c.exec_breaker_open_ms = 300;
    en_open(&n, home, true, NULL, &c, el, 400);
    assert_int_equal(en_start(&n, NULL), BM_OK);
    WAIT_FOR(en_height(&n) >= 5, 30000, "first blocks");

    memset(&f, 0, sizeof(f));
    f.down = true;
    fake_el_fault(el, &f);
    bm_sleep_ms(300); /* the block in flight settles */
    h = en_height(&n);
    bm_sleep_ms(1500);
    assert_int_equal(en_height(&n), h);
    assert_int_equal(bm_manager_wait(n.n.m, 0, NULL), BM_ETIMEDOUT);
    assert_true(fake_el_head(el, NULL, NULL) <= h + 1);
    memset(&f, 0, sizeof(f));
    fake_el_fault(el, &f);
    WAIT_FOR(en_height(&n) >= h + 3, 30000, "production resumes");

    f.hang_ms = 2000;
    fake_el_fault(el, &f);
    bm_sleep_ms(600);
    h = en_height(&n);
    bm_sleep_ms(1500);
    assert_int_equal(en_height(&n), h);
    assert_int_equal(bm_manager_wait(n.n.m, 0, NULL), BM_ETIMEDOUT);
    memset(&f, 0, sizeof(f));
    fake_el_fault(el, &f);
    WAIT_FOR(en_height(&n) >= h + 3, 30000, "production resumes after hang");
    /* The calls that timed out are still answered by the client after
     * its 2 s: a late fork choice moves its head back (as any Engine API
     * client would), and the next blocks move it forward again. Let them
     * land before the next phase. */
    bm_sleep_ms(2500);
    h = en_height(&n);
    WAIT_FOR(en_height(&n) >= h + 2, 30000, "blocks after the late calls");

    f.new_payload_invalid = true;
    fake_el_fault(el, &f);
    err = bm_manager_wait(n.n.m, 30000, &em);
    fprintf(stderr, "stopped: %s (%s)\n", em.msg, bm_err_name(err));
    assert_int_equal(err, BM_EEXEC);
    assert_non_null(strstr(em.msg, "answered INVALID"));
    assert_non_null(strstr(em.msg, "fake: block rejected for the test"));
    h = en_height(&n);
    /* nothing half-committed: the client has no block the store lacks */
    assert_int_equal(fake_el_head(el, NULL, NULL), h);
    assert_agrees(&n, el, h);
    assert_int_equal(en_close(&n), BM_EEXEC);
    fake_el_stop(el);
    rm_rf(home);
}

static void test_lost_blocks_while_running(void **state)
{
    char home[256];
    struct fake_el *el = el_new(1);
    struct bm_manager_config c;
    struct en n;
    uint64_t h;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    cfg_fast(&c, true);
    c.block_time_ms = 50;
    en_open(&n, home, true, NULL, &c, el, 5000);
    assert_int_equal(en_start(&n, NULL), BM_OK);
    WAIT_FOR(en_height(&n) >= 8, 30000, "first blocks");
    fake_el_truncate(el, 3);
    h = en_height(&n);
    WAIT_FOR(en_height(&n) >= h + 4, 30000, "production continues");
    assert_int_equal(bm_manager_wait(n.n.m, 0, NULL), BM_ETIMEDOUT);
    assert_int_equal(en_close(&n), BM_OK);
    en_open(&n, home, true, NULL, &c, el, 5000);
    h = en_height(&n);
    assert_agrees(&n, el, h);
    en_close(&n);
    fake_el_stop(el);
    rm_rf(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aggregator_and_follower),
        cmocka_unit_test(test_restarts),
        cmocka_unit_test(test_unavailable_then_invalid),
        cmocka_unit_test(test_lost_blocks_while_running),
    };

    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    bm_genesis_release(&g_gen);
    bm_privkey_wipe(&g_key);
    return bm_test_check_leaks(rc);
}
