/*
 * Replay on start (src/actors/replayer.h) through the Manager, with the
 * real store and KV executor in a temp home and the real `blockv2` binary
 * (BM_BLOCKV2_EXE) for the operator commands:
 *  - executor rolled back N blocks behind the store (`blockv2 exec
 *    rollback`): the next start replays them, the app hashes match the
 *    stored ones, and the chain continues;
 *  - store rolled back (`blockv2 store rollback`): the start is refused
 *    with both heights and the repair; the repair it names works;
 *  - the crash window (executor one block ahead): rolled back by itself;
 *  - a replayed block whose result differs from the next header, or from
 *    the stored state, stops the start with BM_EAPP_HASH_MISMATCH.
 */
#include "bm_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "blockv2/manager.h"
#include "blockv2/store.h"
#include "exec/kv/kv.h"
#include "util/errmsg.h"
#include "util/log.h"

#include "manager_rig.h"

/* Runs `blockv2 <args>` (2>&1) and returns its exit status; the output
 * goes to out. */
static int cli(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cli(char *out, size_t cap, const char *fmt, ...)
{
    const char *exe = getenv("BM_BLOCKV2_EXE");
    char cmd[1024];
    int n, st;
    size_t len = 0;
    va_list ap;
    FILE *p;

    assert_non_null(exe);
    n = snprintf(cmd, sizeof(cmd), "%s ", exe);
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (len + 1 < cap) {
        size_t r = fread(out + len, 1, cap - 1 - len, p);

        if (r == 0) {
            break;
        }
        len += r;
    }
    out[len] = '\0';
    st = pclose(p);
    fprintf(stderr, "$ %s\n%s", cmd, out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A manual-production aggregator without DA. */
static void open_agg(struct mt_node *n, const char *home,
                     struct bm_manager_config *c)
{
    cfg_fast(c, true);
    c->block_time_ms = 3600000; /* blocks only through produce_block */
    mt_open(n, home, true, NULL, c);
}

static void produce(struct mt_node *n, unsigned blocks)
{
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;

    for (unsigned i = 0; i < blocks; i++) {
        int err;

        add_txs(n, 8);
        err = bm_manager_produce_block(n->m, &h, &em);
        if (err != BM_OK) {
            fail_msg("produce: %s", bm_errmsg_str(&em, err));
        }
    }
}

/* The executor is at the store height and its root is the stored app
 * hash there. */
static void check_in_sync(struct mt_node *n)
{
    struct bm_kv_status ks;
    struct bm_buf ah = {0};
    uint64_t h = 0;

    assert_int_equal(bm_store_height(n->store, &h, NULL), BM_OK);
    bm_kv_status(n->kv, &ks);
    assert_int_equal(ks.height, h);
    app_hash_at(n->store, h, &ah);
    assert_true(bm_buf_eq_raw(&ah, ks.root.b, BM_HASH_SIZE));
    bm_buf_release(&ah);
}

static void store_check(const char *home)
{
    struct bm_store *s = NULL;
    struct bm_store_check_report rep;
    struct bm_errmsg em = {{0}};
    int err;

    assert_int_equal(bm_store_open(&s, home, NULL, NULL), BM_OK);
    err = bm_store_check(s, &rep, &em);
    if (err != BM_OK) {
        fail_msg("store check: %s", bm_errmsg_str(&em, err));
    }
    bm_store_close(s);
}

static int start_err(struct mt_node *n, struct bm_errmsg *em)
{
    int err = bm_manager_start(n->m, em);

    fprintf(stderr, "start: %s: %s\n", bm_err_name(err),
            bm_errmsg_str(em, err));
    return err;
}

/* ------------------------------------------------------------ tests */

static void test_replay_behind(void **state)
{
    char home[256], out[4096];
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_hash before[11], after;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    open_agg(&n, home, &c);
    mt_start(&n);
    produce(&n, 10);
    for (uint64_t h = 1; h <= 10; h++) {
        header_hash_at(n.store, h, &before[h]);
    }
    assert_int_equal(mt_close(&n), BM_OK);

    /* The executor 4 blocks behind the store. */
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s "
                         "--height 6", home), 0);
    assert_non_null(strstr(out, "rolled back from height 10 to 6"));
    assert_int_equal(cli(out, sizeof(out), "exec status --home %s", home),
                     0);
    assert_non_null(strstr(out, "\"height\": 6,"));
    assert_non_null(strstr(out, "\"store_height\": 10}"));

    /* Start: 7..10 are replayed, checked against headers 8..10 and the
     * stored state at 10. */
    open_agg(&n, home, &c);
    mt_start(&n);
    check_in_sync(&n);
    for (uint64_t h = 1; h <= 10; h++) {
        header_hash_at(n.store, h, &after);
        assert_memory_equal(after.b, before[h].b, BM_HASH_SIZE);
    }
    /* The chain continues on top of the replayed state. */
    produce(&n, 3);
    assert_int_equal(height_of(&n), 13);
    check_in_sync(&n);
    assert_int_equal(mt_close(&n), BM_OK);
    store_check(home);
    rm_rf(home);
}

static void test_executor_ahead(void **state)
{
    char home[256], out[4096];
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_errmsg em = {{0}};

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    open_agg(&n, home, &c);
    mt_start(&n);
    produce(&n, 10);
    assert_int_equal(mt_close(&n), BM_OK);
    assert_int_equal(cli(out, sizeof(out), "store rollback --home %s "
                         "--blocks 3", home), 0);

    /* Refused, naming both heights and the repair. */
    open_agg(&n, home, &c);
    assert_int_equal(start_err(&n, &em), BM_EEXEC_AHEAD);
    assert_non_null(strstr(em.msg, "executor is at height 10"));
    assert_non_null(strstr(em.msg, "store is at height 7"));
    assert_non_null(strstr(em.msg, "blockv2 exec rollback --height 7"));
    assert_int_equal(mt_close(&n), BM_OK);

    /* The named repair, while a node holds the home: refused. */
    open_agg(&n, home, &c);
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s "
                         "--height 7", home), 1);
    assert_non_null(strstr(out, "stop it first"));
    assert_int_equal(mt_close(&n), BM_OK);
    /* Node stopped: it works (the height defaults to the store's). */
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s", home),
                     0);
    assert_non_null(strstr(out, "rolled back from height 10 to 7"));
    open_agg(&n, home, &c);
    mt_start(&n);
    check_in_sync(&n);
    produce(&n, 4);
    assert_int_equal(height_of(&n), 11);
    check_in_sync(&n);
    assert_int_equal(mt_close(&n), BM_OK);
    store_check(home);
    rm_rf(home);
}

/* Deeper than the undo records reach: the repair resets the executor
 * and the start replays the whole chain. */
static void test_repair_beyond_undo(void **state)
{
    char home[256], out[4096];
    struct mt_node n;
    struct bm_manager_config c;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    g_kv_keep_heights = 3; /* undo logs of the last 3 heights only */
    open_agg(&n, home, &c);
    mt_start(&n);
    produce(&n, 10);
    assert_int_equal(mt_close(&n), BM_OK);
    assert_int_equal(cli(out, sizeof(out), "exec status --home %s", home),
                     0);
    assert_non_null(strstr(out, "\"rollback_floor\": 7,"));
    assert_int_equal(cli(out, sizeof(out), "store rollback --home %s "
                         "--blocks 4", home), 0);
    open_agg(&n, home, &c);
    assert_int_equal(bm_manager_start(n.m, NULL), BM_EEXEC_AHEAD);
    assert_int_equal(mt_close(&n), BM_OK);
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s", home),
                     0);
    assert_non_null(strstr(out, "resetting it to genesis"));
    assert_non_null(strstr(out, "replays blocks 1..6"));
    open_agg(&n, home, &c);
    mt_start(&n); /* replays 1..6 */
    check_in_sync(&n);
    produce(&n, 1);
    check_in_sync(&n);
    assert_int_equal(mt_close(&n), BM_OK);
    g_kv_keep_heights = 0;
    rm_rf(home);
}

/* The crash window: the executor committed a block the store did not. */
static void test_crash_window(void **state)
{
    static const char tx[] = "crash=1";
    char home[256];
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_kv_status ks;
    struct bm_exec_result r = {0};
    struct bm_buf txs = {(uint8_t *)tx, sizeof(tx) - 1};
    struct bm_buf v = {0};

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    open_agg(&n, home, &c);
    mt_start(&n);
    produce(&n, 5);
    assert_int_equal(mt_close(&n), BM_OK);
    open_agg(&n, home, &c);
    bm_kv_status(n.kv, &ks);
    assert_int_equal(bm_executor_execute_txs(&n.kv_exec, &txs, 1, 6,
                                             g_gen.start_time_ns + 1,
                                             ks.root.b, BM_HASH_SIZE, &r,
                                             NULL),
                     BM_OK);
    bm_exec_result_release(&r);
    mt_start(&n); /* rolls height 6 back */
    check_in_sync(&n);
    assert_int_equal(bm_kv_get(n.kv, (const uint8_t *)"crash", 5, &v, NULL,
                               NULL), BM_ENOTFOUND);
    produce(&n, 1);
    assert_int_equal(height_of(&n), 6);
    check_in_sync(&n);
    assert_int_equal(mt_close(&n), BM_OK);
    rm_rf(home);
}

/* An executor layer that corrupts the root of one height: a replayed
 * block whose result is not what the chain recorded (a nondeterministic
 * executor cannot be made for real). */
static const struct bm_executor *g_real;
static uint64_t g_bad_height;

static enum bm_err flip_exec(void *ctx, const struct bm_buf *txs, size_t n,
                             uint64_t height, uint64_t t, const uint8_t *prev,
                             size_t prev_len, struct bm_exec_result *out,
                             struct bm_errmsg *em)
{
    enum bm_err err = g_real->ops->execute_txs(g_real->ctx, txs, n, height, t,
                                               prev, prev_len, out, em);

    (void)ctx;
    if (err == BM_OK && height == g_bad_height && out->state_root.len > 0) {
        out->state_root.ptr[0] ^= 0xff;
    }
    return err;
}

static void test_replay_mismatch(void **state)
{
    char home[256], out[4096];
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_errmsg em = {{0}};
    static struct bm_executor_ops flip_ops;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    open_agg(&n, home, &c);
    mt_start(&n);
    produce(&n, 5);
    assert_int_equal(mt_close(&n), BM_OK);

    /* A replayed result that differs from the next header. */
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s "
                         "--height 2", home), 0);
    open_agg(&n, home, &c);
    flip_ops = *n.kv_exec.ops;
    flip_ops.execute_txs = flip_exec;
    g_real = &n.kv_exec;
    g_bad_height = 4;
    n.exec.ops = &flip_ops;
    assert_int_equal(start_err(&n, &em), BM_EAPP_HASH_MISMATCH);
    assert_non_null(strstr(em.msg, "replay of height 4"));
    assert_non_null(strstr(em.msg, "header 5 says"));
    assert_int_equal(mt_close(&n), BM_OK);

    /* The last block is checked against the stored state: tamper with
     * the state's app hash at 5. */
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s "
                         "--height 3", home), 0);
    open_agg(&n, home, &c);
    {
        struct bm_buf b = {0};
        struct bm_state st = {0};

        assert_int_equal(bm_store_get_state(n.store, 5, &b, NULL), BM_OK);
        assert_int_equal(bm_state_decode(&st, b.ptr, b.len), BM_OK);
        memset(st.app_hash.ptr, 0xab, st.app_hash.len);
        bm_buf_release(&b);
        assert_int_equal(bm_state_encode(&st, &b), BM_OK);
        assert_int_equal(bm_store_put_state(n.store, 5, b.ptr, b.len, NULL),
                         BM_OK);
        bm_state_release(&st);
        bm_buf_release(&b);
    }
    assert_int_equal(start_err(&n, &em), BM_EAPP_HASH_MISMATCH);
    assert_non_null(strstr(em.msg, "replay of height 5"));
    assert_non_null(strstr(em.msg, "the stored state at 5 says abab"));
    assert_int_equal(mt_close(&n), BM_OK);
    rm_rf(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_behind),
        cmocka_unit_test(test_executor_ahead),
        cmocka_unit_test(test_repair_beyond_undo),
        cmocka_unit_test(test_crash_window),
        cmocka_unit_test(test_replay_mismatch),
    };
    int rc;

    if (getenv("BM_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("BM_TEST_FILTER"));
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    bm_genesis_release(&g_gen);
    bm_privkey_wipe(&g_key);
    return bm_test_check_leaks(rc);
}
