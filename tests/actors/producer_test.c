/*
 * ProducerActor tests (src/actors/producer.h) with the real State,
 * Validator, Sequencer and Sync actors on an aggregator node.
 */
#include "bm_test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "actors_test_util.h"

#include "actors/producer.h"
#include "actors/sequencer.h"
#include "actors/state.h"
#include "actors/sync.h"
#include "actors/validator.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "util/errmsg.h"

#define WAIT_MS 120000

static void open_agg_window(struct at_node *n, const char *home,
                            uint64_t gen_time, bool with_da,
                            const struct bm_manager_config *cfg,
                            size_t recent_txs)
{
    struct at_opts o = {0};

    o.seq_recent_txs = recent_txs;
    o.aggregator = true;
    o.home = home;
    o.genesis_time_ns = gen_time;
    o.with_da = with_da;
    o.cfg = cfg;
    at_node_open(n, &o);
}

static void open_agg(struct at_node *n, const char *home, uint64_t gen_time,
                     bool with_da, const struct bm_manager_config *cfg)
{
    open_agg_window(n, home, gen_time, with_da, cfg, 0);
}

static void spawn_all(struct at_node *n)
{
    at_spawn(n, &bm_state_actor_type, &n->env.ids.state, true,
             BM_OVERFLOW_REJECT);
    at_spawn(n, &bm_validator_actor_type, &n->env.ids.validator, false,
             BM_OVERFLOW_REJECT);
    at_spawn(n, &bm_sequencer_actor_type, &n->env.ids.sequencer, true,
             BM_OVERFLOW_REJECT);
    at_spawn(n, &bm_sync_actor_type, &n->env.ids.sync, true,
             BM_OVERFLOW_BLOCK);
    at_spawn(n, &bm_producer_actor_type, &n->env.ids.producer, true,
             BM_OVERFLOW_REJECT);
}

static void submit(struct at_node *n, const char *const *txs)
{
    struct bm_buf b[8];
    size_t k = 0;
    size_t acc = 0;
    struct bm_errmsg em = {{0}};
    int err;

    for (; txs[k] != NULL; k++) {
        b[k].ptr = (uint8_t *)(uintptr_t)txs[k];
        b[k].len = strlen(txs[k]);
    }
    err = bm_seq_submit(n->seq, (const uint8_t *)"test-chain", 10, b, k, &acc,
                        &em);
    if (err != BM_OK) {
        fail_msg("submit: %s", bm_errmsg_str(&em, err));
    }
    assert_int_equal(acc, k);
}

static struct bm_producer_result produce(struct at_node *n, uint32_t reason)
{
    struct bm_producer_req req = {reason};
    struct bm_producer_result res = {0};

    assert_int_equal(bm_producer_call_produce(n->sys, bm_env_producer(&n->env),
                                              &req, &res, WAIT_MS),
                     BM_OK);
    return res;
}

static void load_block(struct at_node *n, uint64_t h,
                       struct bm_signed_header *sh, struct bm_data *d)
{
    struct bm_store_blockbuf b = {0};

    assert_int_equal(bm_store_get_block(n->store, h, &b, NULL), BM_OK);
    assert_int_equal(bm_signed_header_decode(sh, b.header.ptr, b.header.len),
                     BM_OK);
    assert_int_equal(bm_data_decode(d, b.data.ptr, b.data.len), BM_OK);
    bm_store_blockbuf_release(&b);
}

static void check_store(struct at_node *n, uint64_t h)
{
    struct bm_store_check_report rep;
    struct bm_errmsg em = {{0}};
    struct bm_state st = {0};
    struct bm_kv_status ks;
    int err = bm_store_check(n->store, &rep, &em);

    if (err != BM_OK) {
        fail_msg("store check: %s", bm_errmsg_str(&em, err));
    }
    assert_int_equal(rep.height, h);
    at_latest_state(n, &st);
    bm_kv_status(n->kv, &ks);
    assert_true(bm_buf_eq_raw(&st.app_hash, ks.root.b, 32));
    bm_state_release(&st);
}

static bool data_has_tx(const struct bm_data *d, const char *tx)
{
    for (size_t i = 0; i < d->n_txs; i++) {
        if (bm_buf_eq_raw(&d->txs[i], (const uint8_t *)tx, strlen(tx))) {
            return true;
        }
    }
    return false;
}

/* Five manual blocks: heights 1..5, linked, txs included and acked, the
 * first block at the genesis time, times strictly increasing. */
static void test_produce_five(void **state)
{
    static const char *const txs[] = {"a=1", "b=2", "c=3", NULL};
    struct at_node n;
    struct bm_signed_header sh[5];
    struct bm_data d[5];
    size_t total = 0, qn = 1, qb = 1;

    (void)state;
    memset(sh, 0, sizeof(sh));
    memset(d, 0, sizeof(d));
    open_agg(&n, NULL, 0, false, NULL);
    submit(&n, txs);
    spawn_all(&n);
    at_start(&n);
    for (uint64_t h = 1; h <= 5; h++) {
        struct bm_producer_result r = produce(&n, BM_PRODUCE_MANUAL);

        assert_true(r.produced);
        assert_false(r.backpressure);
        assert_int_equal(r.height, h);
    }
    for (uint64_t h = 1; h <= 5; h++) {
        load_block(&n, h, &sh[h - 1], &d[h - 1]);
        assert_int_equal(sh[h - 1].header.height, h);
        assert_true(d[h - 1].has_metadata);
        assert_int_equal(d[h - 1].metadata.height, h);
        total += d[h - 1].n_txs;
        if (h == 1) {
            assert_int_equal(sh[0].header.time, n.genesis.start_time_ns);
            assert_int_equal(sh[0].header.last_header_hash.len, 0);
        } else {
            struct bm_hash ph, pdh;

            assert_int_equal(bm_header_hash(&sh[h - 2].header, &ph), BM_OK);
            assert_true(bm_buf_eq_raw(&sh[h - 1].header.last_header_hash,
                                      ph.b, 32));
            assert_int_equal(bm_data_hash(&d[h - 2], &pdh), BM_OK);
            assert_true(bm_buf_eq_raw(&d[h - 1].metadata.last_data_hash,
                                      pdh.b, 32));
            assert_true(sh[h - 1].header.time > sh[h - 2].header.time);
        }
    }
    assert_int_equal(total, 3);
    assert_true(data_has_tx(&d[0], "a=1"));
    assert_true(data_has_tx(&d[0], "c=3"));
    assert_true(bm_buf_eq_raw(&sh[1].header.data_hash, bm_empty_data_hash.b,
                              32));
    bm_seq_queue_size(n.seq, &qn, &qb);
    assert_int_equal(qn, 0);
    assert_int_equal(atomic_load(&n.env.m.blocks_produced), 5);
    check_store(&n, 5);
    assert_false(bm_env_halted(&n.env));
    for (int i = 0; i < 5; i++) {
        bm_signed_header_release(&sh[i]);
        bm_data_release(&d[i]);
    }
    at_node_close(&n, true);
}

/* A pending block stored before start is the block produced at height 1;
 * the sequencer is not asked for it. */
static void test_pending_reuse(void **state)
{
    static const char *const ptx[] = {"p=1", NULL};
    static const char *const qtx[] = {"q=1", NULL};
    struct at_node n;
    struct bm_state st = {0};
    struct bm_block *b;
    struct bm_buf hb = {0}, db = {0};
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};
    struct bm_hash hh;
    size_t qn = 0, qb = 0;

    (void)state;
    open_agg(&n, NULL, 0, false, NULL);
    at_latest_state(&n, &st);
    b = at_make_block(&n, &st, ptx);
    bm_buf_release(&b->sh.signature); /* saved unsigned, as the producer */
    assert_int_equal(bm_signed_header_encode(&b->sh, &hb), BM_OK);
    assert_int_equal(bm_data_encode(&b->data, &db), BM_OK);
    assert_int_equal(bm_store_set_pending(n.store, hb.ptr, hb.len, db.ptr,
                                          db.len, NULL),
                     BM_OK);
    submit(&n, qtx);
    spawn_all(&n);
    at_start(&n);

    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 1);
    load_block(&n, 1, &sh, &d);
    assert_int_equal(bm_header_hash(&sh.header, &hh), BM_OK);
    assert_memory_equal(hh.b, b->hash.b, 32);
    assert_int_equal(d.n_txs, 1);
    assert_true(data_has_tx(&d, "p=1"));
    bm_seq_queue_size(n.seq, &qn, &qb);
    assert_int_equal(qn, 1); /* q=1 still queued: sequencer not asked */
    assert_int_equal(bm_store_get_pending(n.store, &hb, &db, NULL),
                     BM_ENOTFOUND);
    bm_signed_header_release(&sh);
    bm_data_release(&d);

    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 2);
    load_block(&n, 2, &sh, &d);
    assert_true(data_has_tx(&d, "q=1"));
    bm_seq_queue_size(n.seq, &qn, &qb);
    assert_int_equal(qn, 0);
    check_store(&n, 2);

    bm_signed_header_release(&sh);
    bm_data_release(&d);
    bm_buf_release(&hb);
    bm_buf_release(&db);
    bm_block_unref(b);
    bm_state_release(&st);
    at_node_close(&n, true);
}

/* max_pending 2 with DA configured and no submitter: the third produce is
 * skipped with backpressure. */
static void test_backpressure(void **state)
{
    struct bm_manager_config cfg;
    struct at_node n;
    struct bm_producer_result r;

    (void)state;
    bm_manager_config_init(&cfg);
    cfg.block_time_ms = 50;
    cfg.da_block_time_ms = 100;
    cfg.max_pending_headers_and_data = 2;
    open_agg(&n, NULL, 0, true, &cfg);
    spawn_all(&n);
    at_start(&n);
    assert_true(produce(&n, BM_PRODUCE_TIMER).produced);
    assert_true(produce(&n, BM_PRODUCE_TIMER).produced);
    r = produce(&n, BM_PRODUCE_TIMER);
    assert_false(r.produced);
    assert_true(r.backpressure);
    assert_int_equal(r.height, 2);
    assert_int_equal(atomic_load(&n.env.m.skipped_backpressure), 1);
    check_store(&n, 2);
    at_node_close(&n, true);
}

/* Lazy: a TX round with an empty queue makes no block; a LAZY round
 * makes an empty one. */
static void test_lazy(void **state)
{
    struct at_node n;
    struct bm_producer_result r;
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};

    (void)state;
    open_agg(&n, NULL, 0, false, NULL);
    spawn_all(&n);
    at_start(&n);
    r = produce(&n, BM_PRODUCE_TX);
    assert_false(r.produced);
    assert_false(r.backpressure);
    assert_int_equal(r.height, 0);
    r = produce(&n, BM_PRODUCE_LAZY);
    assert_true(r.produced);
    assert_int_equal(r.height, 1);
    load_block(&n, 1, &sh, &d);
    assert_int_equal(d.n_txs, 0);
    assert_true(bm_header_expects_empty_data(&sh.header));
    check_store(&n, 1);
    bm_signed_header_release(&sh);
    bm_data_release(&d);
    at_node_close(&n, true);
}

/* Close keeping the home, reopen: production continues at the right
 * height, and the txs of the last committed block found in the queue
 * again (a crash between commit and ack) are dropped, not re-executed. */
static void test_restart(void **state)
{
    static const char *const t1[] = {"r=1", NULL};
    static const char *const t3[] = {"s=3", "u=4", NULL};
    static const char *const again[] = {"s=3", NULL};
    struct at_node n;
    char home[256];
    uint64_t gen = bm_validate_now_ns() - 60ull * 1000000000ull;
    struct bm_signed_header sh3 = {0}, sh4 = {0};
    struct bm_data d3 = {0}, d4 = {0};
    struct bm_hash h3;
    size_t qn = 1, qb = 1;

    (void)state;
    open_agg(&n, NULL, gen, false, NULL);
    submit(&n, t1);
    spawn_all(&n);
    at_start(&n);
    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 1);
    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 2);
    submit(&n, t3);
    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 3);
    load_block(&n, 3, &sh3, &d3);
    assert_int_equal(d3.n_txs, 2);
    snprintf(home, sizeof(home), "%s", n.home);
    at_node_close(&n, false);

    /* As if the ack of block 3 was lost: s=3 queued again. (The ack put
     * s=3 and u=4 in the persisted window of committed txs; a window of
     * one keeps only u=4, so the sequencer takes s=3.) */
    open_agg_window(&n, home, gen, false, NULL, 1);
    submit(&n, again);
    spawn_all(&n);
    at_start(&n);
    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 4);
    load_block(&n, 4, &sh4, &d4);
    assert_int_equal(bm_header_hash(&sh3.header, &h3), BM_OK);
    assert_true(bm_buf_eq_raw(&sh4.header.last_header_hash, h3.b, 32));
    assert_int_equal(d4.n_txs, 0);
    bm_seq_queue_size(n.seq, &qn, &qb);
    assert_int_equal(qn, 0);
    check_store(&n, 4);
    bm_signed_header_release(&sh3);
    bm_signed_header_release(&sh4);
    bm_data_release(&d3);
    bm_data_release(&d4);
    n.own_home = true; /* reopened with opts.home: remove it ourselves */
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_produce_five),
        cmocka_unit_test(test_pending_reuse),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_lazy),
        cmocka_unit_test(test_restart),
    };

    return BM_TEST_RUN(tests);
}
