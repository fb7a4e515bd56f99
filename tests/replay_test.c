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
 * And catch-up before production (node.catchup_timeout,
 * src/actors/catchup.h), with a real local DA server: an aggregator
 * restarted on a copy of its home whose store is behind the DA chain
 * takes the missing blocks from DA before it produces the next one (and
 * does not post them again); with catch-up off it forks at once.
 */
#include "bm_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "actors/sync.h"
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

/* A new chain in a new home: `blocks` blocks made and the node closed. */
static void new_chain(char *home, size_t len, unsigned blocks)
{
    struct mt_node n;
    struct bm_manager_config c;

    genesis_init();
    new_home(home, len);
    open_agg(&n, home, &c);
    mt_start(&n);
    produce(&n, blocks);
    assert_int_equal(mt_close(&n), BM_OK);
}

/* Starts the node of home (replay, rollback of a crash window), checks
 * the executor is in sync, makes `blocks` more blocks (the chain then
 * ends at want), checks again and closes. */
static void resume(const char *home, unsigned blocks, uint64_t want)
{
    struct mt_node n;
    struct bm_manager_config c;

    open_agg(&n, home, &c);
    mt_start(&n);
    check_in_sync(&n);
    produce(&n, blocks);
    assert_int_equal(height_of(&n), want);
    check_in_sync(&n);
    assert_int_equal(mt_close(&n), BM_OK);
    store_check(home);
}

/* ------------------------------------------------------------ tests */

static void test_replay_behind(void **state)
{
    char home[256], out[4096];
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_hash before[11], after;

    (void)state;
    new_chain(home, sizeof(home), 10);
    open_agg(&n, home, &c);
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
     * stored state at 10; the chain continues on top of them. */
    resume(home, 3, 13);
    open_agg(&n, home, &c);
    for (uint64_t h = 1; h <= 10; h++) {
        header_hash_at(n.store, h, &after);
        assert_memory_equal(after.b, before[h].b, BM_HASH_SIZE);
    }
    assert_int_equal(mt_close(&n), BM_OK);
    rm_rf(home);
}

/* The executor further ahead than a catch-up group (the store was rolled
 * back): refused, naming both heights and the repair. */
static void test_executor_ahead(void **state)
{
    enum { TOP = BM_SYNC_GROUP_MAX + 10, BACK = BM_SYNC_GROUP_MAX + 3 };
    char home[256], out[4096], want[128];
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_errmsg em = {{0}};

    (void)state;
    new_chain(home, sizeof(home), TOP);
    assert_int_equal(cli(out, sizeof(out), "store rollback --home %s "
                         "--blocks %d", home, BACK), 0);

    /* Refused, naming both heights and the repair. */
    open_agg(&n, home, &c);
    assert_int_equal(start_err(&n, &em), BM_EEXEC_AHEAD);
    snprintf(want, sizeof(want), "executor is at height %d", TOP);
    assert_non_null(strstr(em.msg, want));
    snprintf(want, sizeof(want), "store is at height %d", TOP - BACK);
    assert_non_null(strstr(em.msg, want));
    snprintf(want, sizeof(want), "blockv2 exec rollback --height %d",
             TOP - BACK);
    assert_non_null(strstr(em.msg, want));
    assert_int_equal(mt_close(&n), BM_OK);

    /* The named repair, while a node holds the home: refused. */
    open_agg(&n, home, &c);
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s "
                         "--height %d", home, TOP - BACK), 1);
    assert_non_null(strstr(out, "stop it first"));
    assert_int_equal(mt_close(&n), BM_OK);
    /* Node stopped: it works (the height defaults to the store's). */
    assert_int_equal(cli(out, sizeof(out), "exec rollback --home %s", home),
                     0);
    snprintf(want, sizeof(want), "rolled back from height %d to %d", TOP,
             TOP - BACK);
    assert_non_null(strstr(out, want));
    resume(home, 4, TOP - BACK + 4);
    rm_rf(home);
}

/* Ahead by a catch-up group or less (the executor's heights of a group
 * reached its disk before the store's commit; here made by rolling the
 * store back): rolled back at start, the chain goes on from the store. */
static void test_executor_ahead_by_a_group(void **state)
{
    char home[256], out[4096];
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_kv_status ks;

    (void)state;
    new_chain(home, sizeof(home), 20);
    assert_int_equal(cli(out, sizeof(out), "store rollback --home %s "
                         "--blocks 12", home), 0);
    open_agg(&n, home, &c);
    bm_kv_status(n.kv, &ks);
    assert_int_equal(ks.height, 20);
    assert_int_equal(mt_close(&n), BM_OK);
    resume(home, 5, 13); /* rolled back to 8, then 9..13 made anew */
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
    g_kv_keep_heights = 3; /* undo logs of the last 3 heights only */
    new_chain(home, sizeof(home), 10);
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
    resume(home, 1, 7); /* replays 1..6 first */
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
    new_chain(home, sizeof(home), 5);
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
    new_chain(home, sizeof(home), 5);

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

/* ------------------------------------------------------------ catch-up */

static void copy_home(const char *from, const char *to)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "cp -a %s/. %s/", from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_catchup_from_da(void **state)
{
    char da_home[256], a_home[256], b_home[256], c_home[256], url[64];
    struct bm_da_server *da;
    struct mt_node a, b, cn;
    struct bm_manager_config ca, cb, cc;
    struct bm_manager_metrics mb;
    struct bm_hash *ha;
    uint64_t copy_h, top;
    uint32_t *count;

    (void)state;
    genesis_init();
    new_home(da_home, sizeof(da_home));
    new_home(a_home, sizeof(a_home));
    new_home(b_home, sizeof(b_home));
    new_home(c_home, sizeof(c_home));
    da = da_start(da_home, 0, 0, url, sizeof(url));
    cfg_fast(&ca, true);
    ca.block_time_ms = 3600000; /* A: blocks only through produce */

    /* A makes 10 blocks; its home is copied (the copies' store ends at
     * copy_h); A makes 15 more; all of them reach DA. */
    mt_open(&a, a_home, true, url, &ca);
    mt_start(&a);
    produce(&a, 10);
    copy_h = height_of(&a);
    /* The copy knows where all of its blocks are on DA. */
    WAIT_FOR(bm_manager_get_da_included_height(a.m) >= copy_h, 60000,
             "A's first blocks on DA");
    assert_int_equal(mt_close(&a), BM_OK);
    copy_home(a_home, b_home);
    copy_home(a_home, c_home);
    mt_open(&a, a_home, true, url, &ca);
    mt_start(&a);
    produce(&a, 15);
    top = height_of(&a);
    WAIT_FOR(bm_manager_get_da_included_height(a.m) >= top, 60000,
             "A's blocks on DA");
    ha = bm_xcalloc(top + 1, sizeof(*ha));
    for (uint64_t h = 1; h <= top; h++) {
        header_hash_at(a.store, h, &ha[h]);
    }
    assert_int_equal(mt_close(&a), BM_OK);
    fprintf(stderr, "catch-up: copy at %llu, chain on DA up to %llu\n",
            (unsigned long long)copy_h, (unsigned long long)top);

    /* B: the copy with catch-up on takes copy_h+1..top from DA, then
     * produces top+1 on top of them. */
    cfg_fast(&cb, true);
    cb.catchup_timeout_ms = 3000;
    mt_open(&b, b_home, true, url, &cb);
    mt_start(&b);
    WAIT_FOR((add_txs(&b, 2), height_of(&b) >= top + 3), 60000,
             "B past the DA chain");
    for (uint64_t h = 1; h <= top; h++) {
        struct bm_hash hb;

        header_hash_at(b.store, h, &hb);
        if (memcmp(hb.b, ha[h].b, BM_HASH_SIZE) != 0) {
            fail_msg("B's block %llu is not A's: it did not catch up",
                     (unsigned long long)h);
        }
    }
    bm_manager_metrics(b.m, &mb);
    assert_true(mb.blocks_synced_da >= top - copy_h);
    WAIT_FOR(bm_manager_get_da_included_height(b.m) >= top + 3, 60000,
             "B's own blocks on DA");
    assert_int_equal(mt_close(&b), BM_OK);
    store_check(b_home);
    /* B did not post the blocks it took from DA again. */
    count = bm_xcalloc(top + 4, sizeof(*count));
    count_da_headers(url, top + 3, count);
    for (uint64_t h = 1; h <= top + 3; h++) {
        if (count[h] != 1) {
            fail_msg("header %llu is on DA %u times", (unsigned long long)h,
                     count[h]);
        }
    }
    bm_free(count);

    /* C: the same copy with catch-up off produces copy_h+1 at once: its
     * own block, not A's (the fork catch-up prevents). */
    cfg_fast(&cc, true);
    mt_open(&cn, c_home, true, url, &cc);
    mt_start(&cn);
    WAIT_FOR(height_of(&cn) >= copy_h + 1, 60000, "C's first block");
    {
        struct bm_hash hc;

        header_hash_at(cn.store, copy_h + 1, &hc);
        assert_memory_not_equal(hc.b, ha[copy_h + 1].b, BM_HASH_SIZE);
    }
    assert_int_equal(mt_close(&cn), BM_OK);
    bm_free(ha);
    bm_da_server_stop(da);
    rm_rf(da_home);
    rm_rf(a_home);
    rm_rf(b_home);
    rm_rf(c_home);
}

/* A full node cannot be given a catch-up timeout (ev-node refuses it). */
static void test_catchup_needs_aggregator(void **state)
{
    char home[256];
    struct bm_manager_config c;
    struct bm_manager_params p;
    struct bm_manager *m = NULL;
    struct bm_store *s = NULL;
    struct bm_kv *kv = NULL;
    struct bm_executor ex;
    struct bm_errmsg em = {{0}};
    char dir[320];

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    assert_int_equal(bm_store_open(&s, home, NULL, NULL), BM_OK);
    snprintf(dir, sizeof(dir), "%s/data/kv", home);
    assert_int_equal(bm_kv_open(&kv, dir, NULL, NULL), BM_OK);
    bm_kv_executor(kv, &ex);
    cfg_fast(&c, false);
    c.catchup_timeout_ms = 1000;
    memset(&p, 0, sizeof(p));
    p.config = &c;
    p.genesis = &g_gen;
    p.store = s;
    p.exec = &ex;
    assert_int_equal(bm_manager_new(&m, &p, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "node.catchup_timeout"));
    assert_null(m);
    bm_kv_free(kv);
    bm_store_close(s);
    rm_rf(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_behind),
        cmocka_unit_test(test_executor_ahead),
        cmocka_unit_test(test_executor_ahead_by_a_group),
        cmocka_unit_test(test_repair_beyond_undo),
        cmocka_unit_test(test_crash_window),
        cmocka_unit_test(test_replay_mismatch),
        cmocka_unit_test(test_catchup_from_da),
        cmocka_unit_test(test_catchup_needs_aggregator),
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
