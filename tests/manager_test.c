/*
 * Integration tests of the Manager facade: an aggregator and a full node on
 * one machine, talking only through the real local DA server on 127.0.0.1,
 * each with a real store, KV executor and sequencer in its own temp home.
 *  - 200+ blocks with random KV txs: same heights, header hashes and app
 *    hash on both; DA-included height reaches the tip on both; each node
 *    restarted mid-way.
 *  - DA outage: breaker opens, production stops at the pending limit,
 *    everything is submitted after recovery, each header on DA once.
 *  - executor failure: the fatal path stops the manager with that error.
 *  - a crashed actor is restarted by its supervisor; the chain continues.
 *  - lazy mode: no empty blocks while idle except one per lazy interval;
 *    a tx makes a block quickly.
 */
#include "bm_test.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "blockv2/actor.h"
#include "blockv2/da.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "exec/kv/kv.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#include "manager_rig.h"

/* ------------------------------------------------------------ tests */

#define N_BLOCKS 200

static void test_aggregator_and_full_node(void **state)
{
    char da_home[256], agg_home[256], full_home[256], url[64];
    struct bm_da_server *da;
    struct mt_node agg, full;
    struct bm_manager_config ca, cf;
    uint64_t target;
    struct bm_buf ah = {0}, fh = {0};

    (void)state;
    genesis_init();
    new_home(da_home, sizeof(da_home));
    new_home(agg_home, sizeof(agg_home));
    new_home(full_home, sizeof(full_home));
    da = da_start(da_home, 0, 0, url, sizeof(url));
    cfg_fast(&ca, true);
    cfg_fast(&cf, false);

    mt_open(&agg, agg_home, true, url, &ca);
    mt_open(&full, full_home, false, url, &cf);
    mt_start(&agg);
    mt_start(&full);

    /* First half, then restart the aggregator. */
    WAIT_FOR((add_txs(&agg, 3), height_of(&agg) >= N_BLOCKS / 2), 120000,
             "aggregator to reach 100");
    assert_int_equal(mt_close(&agg), BM_OK);
    mt_open(&agg, agg_home, true, url, &ca);
    mt_start(&agg);
    WAIT_FOR((add_txs(&agg, 3), height_of(&agg) >= N_BLOCKS * 3 / 4), 120000,
             "aggregator to reach 150");
    /* Restart the full node mid-way. */
    assert_int_equal(mt_close(&full), BM_OK);
    mt_open(&full, full_home, false, url, &cf);
    mt_start(&full);
    WAIT_FOR((add_txs(&agg, 3), height_of(&agg) >= N_BLOCKS), 120000,
             "aggregator to reach 200");
    target = height_of(&agg);
    WAIT_FOR(height_of(&full) >= target, 120000, "full node to catch up");
    WAIT_FOR(bm_manager_get_da_included_height(agg.m) >= target, 120000,
             "aggregator DA-included height");
    WAIT_FOR(bm_manager_get_da_included_height(full.m) >= target, 120000,
             "full node DA-included height");

    /* Same chain: every header hash, and the app hash at the target. */
    for (uint64_t h = 1; h <= target; h++) {
        struct bm_hash a, f;

        header_hash_at(agg.store, h, &a);
        header_hash_at(full.store, h, &f);
        assert_memory_equal(a.b, f.b, 32);
        assert_true(bm_manager_is_block_hash_seen(full.m, &a));
    }
    app_hash_at(agg.store, target, &ah);
    app_hash_at(full.store, target, &fh);
    assert_true(bm_buf_eq(&ah, &fh));
    {
        bool inc = false;

        assert_int_equal(bm_manager_is_da_included(full.m, target, &inc),
                         BM_OK);
        assert_true(inc);
    }
    {
        struct bm_manager_metrics ma, mf;

        bm_manager_metrics(agg.m, &ma);
        bm_manager_metrics(full.m, &mf);
        assert_true(ma.total_txs > 0);
        assert_true(mf.blocks_synced_da > 0);
    }
    bm_buf_release(&ah);
    bm_buf_release(&fh);
    assert_int_equal(mt_close(&agg), BM_OK);
    assert_int_equal(mt_close(&full), BM_OK);
    {
        struct bm_store *s;
        struct bm_store_check_report rep;

        assert_int_equal(bm_store_open(&s, agg_home, NULL, NULL), BM_OK);
        assert_int_equal(bm_store_check(s, &rep, NULL), BM_OK);
        bm_store_close(s);
        assert_int_equal(bm_store_open(&s, full_home, NULL, NULL), BM_OK);
        assert_int_equal(bm_store_check(s, &rep, NULL), BM_OK);
        bm_store_close(s);
    }
    bm_da_server_stop(da);
    rm_rf(da_home);
    rm_rf(agg_home);
    rm_rf(full_home);
}

static void test_da_outage(void **state)
{
    char da_home[256], agg_home[256], url[64];
    struct bm_da_server *da;
    struct mt_node agg;
    struct bm_manager_config ca;
    struct bm_manager_metrics mm;
    bool opened = false;
    uint64_t h, end;
    uint32_t *count;

    (void)state;
    genesis_init();
    new_home(da_home, sizeof(da_home));
    new_home(agg_home, sizeof(agg_home));
    /* After 30 calls the DA layer drops every connection for 3 s. */
    da = da_start(da_home, 30, 3000, url, sizeof(url));
    cfg_fast(&ca, true);
    ca.max_pending_headers_and_data = 10;
    ca.da_breaker_failures = 2;
    ca.da_breaker_open_ms = 500;
    ca.da_request_timeout_ms = 1000;
    mt_open(&agg, agg_home, true, url, &ca);
    mt_start(&agg);
    /* During the outage: the breaker opens and production stops at the
     * pending limit. */
    end = bm_clock_now_ms() + 60000;
    while (bm_clock_now_ms() < end) {
        add_txs(&agg, 2);
        if (bm_manager_breaker_state(agg.m, "da") == 1) {
            opened = true;
        }
        bm_manager_metrics(agg.m, &mm);
        if (opened && mm.skipped_backpressure > 0) {
            break;
        }
        bm_sleep_ms(5);
    }
    assert_true(opened);
    assert_true(mm.skipped_backpressure > 0);
    assert_true(bm_manager_pending_headers(agg.m) <= 10);
    /* After recovery everything is submitted and included. */
    WAIT_FOR(height_of(&agg) >= 40, 60000, "production to resume");
    h = height_of(&agg);
    WAIT_FOR(bm_manager_get_da_included_height(agg.m) >= h, 60000,
             "DA inclusion after the outage");
    assert_int_equal(mt_close(&agg), BM_OK);
    /* No block lost or duplicated: every header 1..h is on DA once. */
    count = calloc(h + 1, sizeof(*count)); /* lint: allow-raw-alloc */
    assert_non_null(count);
    count_da_headers(url, h, count);
    for (uint64_t i = 1; i <= h; i++) {
        if (count[i] != 1) {
            fail_msg("header %llu is on DA %u times", (unsigned long long)i,
                     count[i]);
        }
    }
    free(count); /* lint: allow-raw-alloc */
    bm_da_server_stop(da);
    rm_rf(da_home);
    rm_rf(agg_home);
}

/* An executor that fails execute_txs from a chosen height on: an
 * injectable fault layer over the real KV executor. */
static uint64_t g_fail_height;
static const struct bm_executor *g_inner;

static enum bm_err bad_init(void *ctx, uint64_t t, uint64_t ih,
                            const char *cid, struct bm_buf *root,
                            struct bm_errmsg *em)
{
    (void)ctx;
    return g_inner->ops->init_chain(g_inner->ctx, t, ih, cid, root, em);
}

static enum bm_err bad_get_txs(void *ctx, struct bm_batch *out,
                               struct bm_errmsg *em)
{
    (void)ctx;
    return g_inner->ops->get_txs(g_inner->ctx, out, em);
}

static enum bm_err bad_exec(void *ctx, const struct bm_buf *txs, size_t n,
                            uint64_t height, uint64_t t, const uint8_t *prev,
                            size_t prev_len, struct bm_exec_result *out,
                            struct bm_errmsg *em)
{
    (void)ctx;
    if (height >= g_fail_height) {
        return bm_errf(em, BM_EIO, "injected: disk gone at height %llu",
                       (unsigned long long)height);
    }
    return g_inner->ops->execute_txs(g_inner->ctx, txs, n, height, t, prev,
                                     prev_len, out, em);
}

static enum bm_err bad_final(void *ctx, uint64_t h, struct bm_errmsg *em)
{
    (void)ctx;
    return g_inner->ops->set_final(g_inner->ctx, h, em);
}

static enum bm_err bad_info(void *ctx, struct bm_exec_info *out,
                            struct bm_errmsg *em)
{
    (void)ctx;
    return g_inner->ops->get_execution_info(g_inner->ctx, out, em);
}

static enum bm_err bad_filter(void *ctx, const struct bm_buf *txs, size_t n,
                              uint64_t mb, uint64_t mg, bool fi,
                              enum bm_filter_status *st, struct bm_errmsg *em)
{
    (void)ctx;
    return g_inner->ops->filter_txs(g_inner->ctx, txs, n, mb, mg, fi, st, em);
}

static const struct bm_executor_ops bad_ops = {
    .init_chain = bad_init,
    .get_txs = bad_get_txs,
    .execute_txs = bad_exec,
    .set_final = bad_final,
    .get_execution_info = bad_info,
    .filter_txs = bad_filter,
};

static void test_executor_failure_is_fatal(void **state)
{
    char home[256];
    struct mt_node agg;
    struct bm_manager_config ca;
    struct bm_errmsg em = {{0}};
    int err;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    cfg_fast(&ca, true);
    ca.exec_breaker_failures = 2;
    mt_open(&agg, home, true, NULL, &ca);
    g_inner = &agg.kv_exec;
    g_fail_height = 5;
    agg.exec.ops = &bad_ops;
    agg.exec.ctx = NULL;
    mt_start(&agg);
    err = bm_manager_wait(agg.m, 60000, &em);
    assert_int_equal(err, BM_EEXEC);
    assert_non_null(strstr(em.msg, "injected: disk gone at height 5"));
    fprintf(stderr, "fatal as expected: %s (%s)\n", bm_err_name(err), em.msg);
    assert_int_equal(height_of(&agg), 4);
    assert_int_equal(mt_close(&agg), err);
    rm_rf(home);
}

static void test_crashed_actor_restarts(void **state)
{
    static const char *const victims[] = {"producer", "state", "sync",
                                          "reaper", "aggregator",
                                          "validator"};
    char home[256];
    struct mt_node agg;
    struct bm_manager_config ca;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    cfg_fast(&ca, true);
    mt_open(&agg, home, true, NULL, &ca);
    mt_start(&agg);
    WAIT_FOR(height_of(&agg) >= 3, 30000, "first blocks");
    for (size_t i = 0; i < sizeof(victims) / sizeof(victims[0]); i++) {
        uint64_t h0;
        struct bm_actor_stats st = {0};
        struct bm_actor_system *sys = bm_manager_actor_system(agg.m);
        struct bm_actor_stats *all = NULL;
        size_t n = 0;
        bool found = false;

        assert_int_equal(bm_manager_debug_crash_actor(agg.m, victims[i]),
                         BM_OK);
        h0 = height_of(&agg);
        WAIT_FOR((add_txs(&agg, 1), height_of(&agg) >= h0 + 3), 30000,
                 "chain to continue after a crash");
        assert_int_equal(bm_actor_snapshot(sys, &all, &n), BM_OK);
        for (size_t j = 0; j < n; j++) {
            if (strcmp(all[j].name, victims[i]) == 0) {
                st = all[j];
                found = true;
            }
        }
        bm_free(all);
        assert_true(found);
        assert_true(st.restarts >= 1);
    }
    assert_int_equal(bm_manager_debug_crash_actor(agg.m, "nope"),
                     BM_ENOTFOUND);
    assert_int_equal(mt_close(&agg), BM_OK);
    rm_rf(home);
}

static void test_lazy_mode(void **state)
{
    char home[256];
    struct mt_node agg;
    struct bm_manager_config ca;
    uint64_t h0, h1, t0;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    cfg_fast(&ca, true);
    ca.lazy_mode = true;
    ca.block_time_ms = 100;
    ca.lazy_block_interval_ms = 1000;
    mt_open(&agg, home, true, NULL, &ca);
    mt_start(&agg);
    bm_sleep_ms(500);
    h0 = height_of(&agg);
    /* Idle for 3.2 s: about three lazy blocks (one per interval), never
     * one per block time (that would be ~32). */
    bm_sleep_ms(3200);
    h1 = height_of(&agg);
    fprintf(stderr, "lazy: %llu blocks in 3.2 s idle\n",
            (unsigned long long)(h1 - h0));
    assert_true(h1 - h0 >= 2 && h1 - h0 <= 5);
    /* A tx: a block follows within about a block time (loose bound for
     * loaded CI machines and sanitizers). */
    h0 = height_of(&agg);
    t0 = bm_clock_now_ms();
    add_txs(&agg, 1);
    bm_manager_notify_new_transactions(agg.m);
    WAIT_FOR(height_of(&agg) > h0, 5000, "a block after a tx");
    fprintf(stderr, "lazy: tx to block %llu ms (block time 100 ms)\n",
            (unsigned long long)(bm_clock_now_ms() - t0));
    {
        struct bm_state st = {0};

        assert_int_equal(bm_manager_get_last_state(agg.m, &st), BM_OK);
        assert_true(st.last_block_height >= h0 + 1);
        bm_state_release(&st);
    }
    assert_int_equal(mt_close(&agg), BM_OK);
    rm_rf(home);
}

static void test_manual_produce_and_errors(void **state)
{
    char home[256];
    struct mt_node agg, full;
    struct bm_manager_config ca, cf;
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    struct bm_manager_params p;
    struct bm_manager *bad = NULL;

    (void)state;
    genesis_init();
    new_home(home, sizeof(home));
    cfg_fast(&ca, true);
    ca.block_time_ms = 3600000; /* timer effectively off */
    mt_open(&agg, home, true, NULL, &ca);
    mt_start(&agg);
    for (int i = 0; i < 3; i++) {
        uint64_t before = height_of(&agg);

        assert_int_equal(bm_manager_produce_block(agg.m, &h, &em), BM_OK);
        assert_true(h > before);
    }
    assert_int_equal(bm_manager_start(agg.m, &em), BM_ESTATE);
    assert_int_equal(mt_close(&agg), BM_OK);
    /* A full node cannot produce. */
    cfg_fast(&cf, false);
    mt_open(&full, home, false, NULL, &cf);
    mt_start(&full);
    assert_int_equal(bm_manager_produce_block(full.m, &h, &em), BM_ESTATE);
    assert_int_equal(mt_close(&full), BM_OK);
    /* An aggregator whose key is not the genesis proposer is refused. */
    {
        struct bm_privkey other;
        uint8_t seed[32];
        struct bm_store *s;

        memset(seed, 9, sizeof(seed));
        bm_privkey_from_seed(&other, seed);
        assert_int_equal(bm_store_open(&s, home, NULL, NULL), BM_OK);
        memset(&p, 0, sizeof(p));
        p.signer = &other;
        p.config = &ca;
        p.genesis = &g_gen;
        p.store = s;
        p.exec = &agg.kv_exec; /* not called */
        p.seq = (struct bm_seq *)(uintptr_t)1; /* not used before check */
        assert_int_equal(bm_manager_new(&bad, &p, &em), BM_ENOT_PROPOSER);
        assert_null(bad);
        bm_store_close(s);
    }
    rm_rf(home);
}

/* ------------------------------------------------ blocks that fit DA */

#define LOAD_VALUE 4080u

/* Tx i of the load: "ld<i>=" and LOAD_VALUE letters (~4.1 KB). */
static void load_tx(struct bm_buf *out, unsigned i)
{
    char tx[32 + LOAD_VALUE];
    int k = snprintf(tx, sizeof(tx), "ld%05u=", i);

    memset(tx + k, 'a' + (int)(i % 26), LOAD_VALUE);
    assert_int_equal(
        bm_buf_set(out, (const uint8_t *)tx, (size_t)k + LOAD_VALUE), BM_OK);
}

/* Tx i of the small load: 18 bytes, "s<i>=v<i>". */
static void small_tx(struct bm_buf *out, unsigned i)
{
    char tx[32];
    int k = snprintf(tx, sizeof(tx), "s%06u=v%09u", i, i);

    assert_int_equal(bm_buf_set(out, (const uint8_t *)tx, (size_t)k), BM_OK);
}

/* The SignedData blob the submitter makes of block h's data. */
static size_t data_blob_len(struct bm_store *s, uint64_t h, struct bm_data *d)
{
    struct bm_store_blockbuf bb = {0};
    struct bm_signed_data sd = {0};
    struct bm_buf enc = {0};
    size_t len;

    assert_int_equal(bm_store_get_block(s, h, &bb, NULL), BM_OK);
    assert_int_equal(bm_data_decode(d, bb.data.ptr, bb.data.len), BM_OK);
    assert_int_equal(bm_data_copy(&sd.data, d), BM_OK);
    assert_int_equal(bm_signer_from_privkey(&sd.signer, &g_key), BM_OK);
    assert_int_equal(bm_signed_data_sign(&sd, &g_key), BM_OK);
    assert_int_equal(bm_signed_data_encode(&sd, &enc), BM_OK);
    len = enc.len;
    bm_buf_release(&enc);
    bm_signed_data_release(&sd);
    bm_store_blockbuf_release(&bb);
    return len;
}

/*
 * n_txs txs made by make(), all queued before the first block (stock
 * limit, 1,974,272 bytes): each block takes what one blob holds and the
 * rest waits for the next; the node keeps producing, every block reaches
 * DA, every tx is in exactly one block, in order, and at least min_full
 * blocks were cut at the limit.
 */
static void load_run(unsigned n_txs, void (*make)(struct bm_buf *, unsigned),
                     size_t min_full)
{
    char da_home[256], home[256], url[64];
    struct bm_da_server *da;
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_manager_metrics mm;
    struct bm_buf *txs = bm_xcalloc(n_txs, sizeof(*txs));
    struct bm_errmsg em = {{0}};
    size_t acc = 0, seen = 0, full = 0;
    uint64_t top;

    genesis_init();
    new_home(da_home, sizeof(da_home));
    new_home(home, sizeof(home));
    da = da_start(da_home, 0, 0, url, sizeof(url));
    cfg_fast(&c, true);
    c.block_time_ms = 300;
    mt_open(&n, home, true, url, &c);
    for (unsigned i = 0; i < n_txs; i++) {
        make(&txs[i], i);
    }
    if (bm_seq_submit(n.seq, (const uint8_t *)g_gen.chain_id,
                      strlen(g_gen.chain_id), txs, n_txs, &acc,
                      &em) != BM_OK) {
        fail_msg("seq submit: %s", em.msg);
    }
    assert_int_equal(acc, n_txs);
    mt_start(&n);
    WAIT_FOR((bm_manager_metrics(n.m, &mm), mm.total_txs >= n_txs), 120000,
             "every tx in a block");
    top = height_of(&n);
    WAIT_FOR(bm_manager_get_da_included_height(n.m) >= top, 120000,
             "every block on DA");
    bm_manager_metrics(n.m, &mm);
    assert_int_equal(mm.da_submit_too_big, 0);
    assert_int_equal(mt_close(&n), BM_OK);

    assert_int_equal(bm_store_open(&n.store, home, NULL, NULL), BM_OK);
    for (uint64_t h = 1; h <= top; h++) {
        struct bm_data d = {0};
        size_t len = data_blob_len(n.store, h, &d);

        assert_true(len <= BM_DA_DEFAULT_MAX_BLOB_SIZE);
        if (len > BM_DA_DEFAULT_MAX_BLOB_SIZE - 8192) {
            full++;
        }
        for (size_t i = 0; i < d.n_txs; i++) {
            assert_true(seen < n_txs);
            assert_true(bm_buf_eq(&d.txs[i], &txs[seen]));
            seen++;
        }
        bm_data_release(&d);
    }
    bm_store_close(n.store);
    assert_int_equal(seen, n_txs);
    assert_true(full >= min_full);
    bm_exec_txs_free(txs, n_txs);
    bm_da_server_stop(da);
    rm_rf(da_home);
    rm_rf(home);
}

/* ~3.5 blobs of ~4.1 KB txs: at least three blocks cut at the limit. */
static void test_load_fills_blobs(void **state)
{
    (void)state;
    load_run(1700, load_tx, 3);
}

/* The case: ~2.3 MB of tiny txs (130,000 of 18 bytes) at once.
 * Counting raw bytes would overflow the blob by their field headers
 * (2 bytes each); the first block is cut at the limit. */
static void test_small_txs_fill_blob(void **state)
{
    (void)state;
    load_run(130000, small_tx, 1);
}

/* Blocks of ~3 KB made without DA, then a start with DA and a limit of
 * 2,000 bytes: refused before anything runs, naming the block; a queued
 * tx longer than a lowered limit holds is refused too. With the limit
 * back, the node starts and submits everything. */
static void test_lowered_limit_refused_at_start(void **state)
{
    char da_home[256], home[256], url[64];
    struct bm_da_server *da;
    struct mt_node n;
    struct bm_manager_config c;
    struct bm_manager_metrics mm;
    struct bm_errmsg em = {{0}};
    struct bm_buf tx = {0};
    uint64_t top;

    (void)state;
    genesis_init();
    new_home(da_home, sizeof(da_home));
    new_home(home, sizeof(home));
    da = da_start(da_home, 0, 0, url, sizeof(url));
    cfg_fast(&c, true);
    mt_open(&n, home, true, NULL, &c);
    mt_start(&n);
    for (unsigned i = 0; i < 3; i++) {
        load_tx(&tx, i);
        assert_int_equal(bm_kv_mempool_add(n.kv, tx.ptr, tx.len, NULL, NULL),
                         BM_OK);
    }
    WAIT_FOR((bm_manager_metrics(n.m, &mm), mm.total_txs >= 3), 60000,
             "the big txs in blocks");
    assert_int_equal(mt_close(&n), BM_OK);

    c.da_max_blob_size = 2000;
    mt_open(&n, home, true, url, &c);
    assert_int_equal(bm_manager_start(n.m, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "da.max_blob_size"));
    assert_non_null(strstr(em.msg, "not yet on DA"));
    assert_int_equal(mt_close(&n), BM_OK);

    /* A queued tx of ~4.1 KB and a limit that holds less (no DA: only
     * the sequencer's queue is checked). */
    mt_open(&n, home, true, NULL, &c);
    load_tx(&tx, 99);
    assert_int_equal(bm_seq_submit(n.seq, (const uint8_t *)g_gen.chain_id,
                                   strlen(g_gen.chain_id), &tx, 1, NULL,
                                   NULL), BM_OK);
    assert_int_equal(bm_manager_start(n.m, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "hold txs of at most"));
    assert_int_equal(mt_close(&n), BM_OK);

    c.da_max_blob_size = 0; /* the stock limit */
    mt_open(&n, home, true, url, &c);
    mt_start(&n);
    WAIT_FOR((bm_manager_metrics(n.m, &mm), mm.total_txs >= 1), 60000,
             "the queued tx in a block");
    top = height_of(&n);
    WAIT_FOR(bm_manager_get_da_included_height(n.m) >= top, 60000,
             "every block on DA");
    assert_int_equal(mt_close(&n), BM_OK);
    bm_buf_release(&tx);
    bm_da_server_stop(da);
    rm_rf(da_home);
    rm_rf(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manual_produce_and_errors),
        cmocka_unit_test(test_aggregator_and_full_node),
        cmocka_unit_test(test_da_outage),
        cmocka_unit_test(test_executor_failure_is_fatal),
        cmocka_unit_test(test_crashed_actor_restarts),
        cmocka_unit_test(test_lazy_mode),
        cmocka_unit_test(test_load_fills_blobs),
        cmocka_unit_test(test_small_txs_fill_blob),
        cmocka_unit_test(test_lowered_limit_refused_at_start),
    };
    int rc;

    /* Debugging aids: BM_TEST_FILTER=test_lazy* runs matching tests only;
     * BM_TEST_DEBUG=1 logs at debug level. */
    if (getenv("BM_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("BM_TEST_FILTER"));
    }
    if (getenv("BM_TEST_DEBUG") != NULL) {
        bm_log_set_level(BM_LOG_DEBUG);
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);

    bm_genesis_release(&g_gen);
    bm_privkey_wipe(&g_key);
    return bm_test_check_leaks(rc);
}
