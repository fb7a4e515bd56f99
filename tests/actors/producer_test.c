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
#include "util/clock.h"
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

/* Spawn State, Sequencer, Sync and Producer on one lane, as the manager
 * does (docs/ARCHITECTURE.md "Threads"), instead of detached. */
static bool g_lane;

static void spawn_one(struct at_node *n, const struct bm_actor_type *type,
                      struct bm_actor_id *id, enum bm_overflow ov)
{
    struct bm_actor_opts o = {0};

    if (!g_lane) {
        at_spawn(n, type, id, true, ov);
        return;
    }
    o.name = type->name;
    o.lane = "block";
    o.overflow = ov;
    o.capacity = n->env.cfg.mailbox_capacity;
    assert_int_equal(bm_actor_spawn(n->sys, type, &n->env, &o, id), BM_OK);
}

static void spawn_all(struct at_node *n)
{
    spawn_one(n, &bm_state_actor_type, &n->env.ids.state,
              BM_OVERFLOW_REJECT);
    at_spawn(n, &bm_validator_actor_type, &n->env.ids.validator, false,
             BM_OVERFLOW_REJECT);
    spawn_one(n, &bm_sequencer_actor_type, &n->env.ids.sequencer,
              BM_OVERFLOW_REJECT);
    spawn_one(n, &bm_sync_actor_type, &n->env.ids.sync, BM_OVERFLOW_BLOCK);
    spawn_one(n, &bm_producer_actor_type, &n->env.ids.producer,
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

/* Waits until no round is in flight (DRAIN): the PRODUCE ask is answered
 * once the block is committed and published; the round, and with it the
 * sequencer's ACK (the queue's clean-up), ends after that. */
static void settle(struct at_node *n)
{
    struct bm_producer_drain dr = {0};
    struct bm_producer_drained dd = {0};

    assert_int_equal(bm_producer_call_drain(n->sys, bm_env_producer(&n->env),
                                            &dr, &dd, WAIT_MS),
                     BM_OK);
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
    settle(&n);
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
    settle(&n);
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
    settle(&n); /* block 3's ACK done: the txs in the persisted window */
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
    settle(&n);
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

/* The same five blocks with the actors on one lane. */
static void test_produce_five_on_lane(void **state)
{
    g_lane = true;
    test_produce_five(state);
    g_lane = false;
}

static void test_restart_on_lane(void **state)
{
    g_lane = true;
    test_restart(state);
    g_lane = false;
}

/* Requests sent together are served one round after the other, in
 * order; beyond the producer's queue (16 waiting) they are refused with
 * BM_EFULL, not lost. */
static void test_queued_requests(void **state)
{
    enum { N = 24 };
    struct at_node n;
    struct bm_future *f[N];
    struct bm_producer_req req = {BM_PRODUCE_MANUAL};
    uint64_t last = 0;
    int ok = 0, full = 0;

    (void)state;
    g_lane = true;
    open_agg(&n, NULL, 0, false, NULL);
    spawn_all(&n);
    at_start(&n);
    for (int i = 0; i < N; i++) {
        assert_int_equal(bm_producer_ask_produce(n.sys,
                                                 bm_env_producer(&n.env),
                                                 &req, WAIT_MS, &f[i]),
                         BM_OK);
    }
    for (int i = 0; i < N; i++) {
        struct bm_producer_result r = {0};
        int rc = bm_future_wait(f[i], -1, &r, sizeof(r));

        if (rc == BM_OK) {
            assert_true(r.produced);
            assert_true(r.height > last);
            last = r.height;
            ok++;
        } else {
            assert_int_equal(rc, BM_EFULL);
            full++;
        }
        bm_future_free(f[i]);
    }
    /* At least the round in flight and the 16 queued behind it. */
    assert_true(ok >= 17);
    assert_int_equal(ok + full, N);
    check_store(&n, (uint64_t)ok);
    at_node_close(&n, true);
    g_lane = false;
}

/* DRAIN (graceful stop): asked while a round is in flight it is answered
 * after that round committed; once the node quits, new rounds are
 * refused with BM_ESHUTDOWN and DRAIN answers at once. */
static void test_drain(void **state)
{
    struct at_node n;
    struct bm_future *fp = NULL, *fd = NULL;
    struct bm_producer_req req = {BM_PRODUCE_MANUAL};
    struct bm_producer_result res = {0};
    struct bm_producer_drain dr = {0};
    struct bm_producer_drained dd = {0};

    (void)state;
    g_lane = true;
    open_agg(&n, NULL, 0, false, NULL);
    spawn_all(&n);
    at_start(&n);
    assert_int_equal(bm_producer_ask_produce(n.sys, bm_env_producer(&n.env),
                                             &req, WAIT_MS, &fp),
                     BM_OK);
    assert_int_equal(bm_producer_ask_drain(n.sys, bm_env_producer(&n.env),
                                           &dr, WAIT_MS, &fd),
                     BM_OK);
    assert_int_equal(bm_future_wait(fd, -1, &dd, sizeof(dd)), BM_OK);
    assert_int_equal(dd.height, 1); /* the round in flight committed */
    assert_int_equal(bm_future_wait(fp, -1, &res, sizeof(res)), BM_OK);
    assert_true(res.produced);
    assert_int_equal(res.height, 1);
    bm_future_free(fp);
    bm_future_free(fd);
    atomic_store(&n.env.stopping, true);
    assert_int_equal(bm_producer_call_produce(n.sys, bm_env_producer(&n.env),
                                              &req, &res, WAIT_MS),
                     BM_ESHUTDOWN);
    assert_int_equal(bm_producer_call_drain(n.sys, bm_env_producer(&n.env),
                                            &dr, &dd, WAIT_MS),
                     BM_OK);
    assert_int_equal(dd.height, 1);
    check_store(&n, 1);
    at_node_close(&n, true);
    g_lane = false;
}

/* ------------------------------------------------ an ACK held or failed */

/*
 * A detached actor standing in front of the real Sequencer (env.ids.
 * sequencer points to it): NEXT_BATCH and DROP_COMMITTED are passed on,
 * ACK is passed on, held until released, or failed (BM_EIO) without
 * reaching the sequencer. The injectable layer for what cannot be caused
 * for real at will: an ACK that is slow or fails after the commit.
 */
enum gate_mode { GATE_PASS = 0, GATE_HOLD, GATE_FAIL };

static struct {
    struct bm_actor_id real;
    atomic_int mode;
    atomic_bool holding;       /* an ACK is held right now */
    atomic_int acks;           /* ACKs that reached the gate */
    atomic_int batches;        /* NEXT_BATCH asks passed on */
    atomic_int batches_held;   /* ... while an ACK was held */
    atomic_int drops;          /* DROP_COMMITTED asks passed on */
} g_gate;

BM_ACTOR_HANDLER(gate_next, void, struct bm_sequencer_next)
static int gate_next(struct bm_actor_ctx *ctx, void *st,
                     struct bm_sequencer_next *p)
{
    struct bm_sequencer_batch b = {0};
    int err;

    (void)st;
    atomic_fetch_add(&g_gate.batches, 1);
    if (atomic_load(&g_gate.holding)) {
        atomic_fetch_add(&g_gate.batches_held, 1);
    }
    err = bm_sequencer_call_next_batch(bm_actor_ctx_system(ctx),
                                       (struct bm_ref_sequencer){g_gate.real},
                                       p, &b, WAIT_MS);
    if (err != BM_OK) {
        return err;
    }
    return bm_actor_reply(ctx, BM_OK, &b, sizeof(b));
}

BM_ACTOR_HANDLER(gate_txs, void, struct bm_sequencer_txs)
static int gate_txs(struct bm_actor_ctx *ctx, void *st,
                    struct bm_sequencer_txs *p)
{
    struct bm_sequencer_count c = {0};
    int err;

    (void)st;
    atomic_fetch_add(&g_gate.drops, 1);
    err = bm_sequencer_call_drop_committed(
        bm_actor_ctx_system(ctx), (struct bm_ref_sequencer){g_gate.real}, p,
        &c, WAIT_MS);
    if (err != BM_OK) {
        return err;
    }
    p->txs = NULL; /* moved into the ask */
    p->n = 0;
    return bm_actor_reply(ctx, BM_OK, &c, sizeof(c));
}

/* SUBMIT: nobody here sends it (no reaper). */
BM_ACTOR_HANDLER(gate_submit, void, struct bm_sequencer_txs)
static int gate_submit(struct bm_actor_ctx *ctx, void *st,
                       struct bm_sequencer_txs *p)
{
    (void)ctx;
    (void)st;
    (void)p;
    return BM_EINVAL;
}

BM_ACTOR_HANDLER(gate_ack, void, struct bm_sequencer_ack)
static int gate_ack(struct bm_actor_ctx *ctx, void *st,
                    struct bm_sequencer_ack *p)
{
    struct bm_sequencer_count c = {0};
    int err;

    (void)st;
    atomic_fetch_add(&g_gate.acks, 1);
    if (atomic_load(&g_gate.mode) == GATE_HOLD) {
        atomic_store(&g_gate.holding, true);
        while (atomic_load(&g_gate.mode) == GATE_HOLD) {
            bm_sleep_ms(1);
        }
        atomic_store(&g_gate.holding, false);
    }
    if (atomic_load(&g_gate.mode) == GATE_FAIL) {
        return BM_EIO;
    }
    err = bm_sequencer_call_ack(bm_actor_ctx_system(ctx),
                                (struct bm_ref_sequencer){g_gate.real}, p,
                                &c, WAIT_MS);
    if (err != BM_OK) {
        return err;
    }
    return bm_actor_reply(ctx, BM_OK, &c, sizeof(c));
}

static int gate_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    (void)ctx;
    (void)arg;
    *out = NULL;
    return BM_OK;
}

static const struct bm_msg_kind gate_kinds[BM_SEQUENCER_NKINDS] = {
    [BM_SEQUENCER_NEXT_BATCH] = BM_MSG_KIND(
        "next_batch", struct bm_sequencer_next,
        sizeof(struct bm_sequencer_batch), NULL, gate_next, NULL,
        bm_sequencer_batch_dtor),
    [BM_SEQUENCER_SUBMIT] = BM_MSG_KIND(
        "submit", struct bm_sequencer_txs, sizeof(struct bm_sequencer_count),
        NULL, gate_submit, bm_sequencer_txs_dtor, NULL),
    [BM_SEQUENCER_ACK] = BM_MSG_KIND("ack", struct bm_sequencer_ack,
                                     sizeof(struct bm_sequencer_count), NULL,
                                     gate_ack, NULL, NULL),
    [BM_SEQUENCER_DROP_COMMITTED] = BM_MSG_KIND(
        "drop_committed", struct bm_sequencer_txs,
        sizeof(struct bm_sequencer_count), NULL, gate_txs,
        bm_sequencer_txs_dtor, NULL),
};

static const struct bm_actor_type gate_type = {
    .name = "ack_gate",
    .kinds = gate_kinds,
    .n_kinds = BM_SEQUENCER_NKINDS,
    .init = gate_init,
};

/* The actors on the block lane as the manager has them, the Producer
 * talking to the Sequencer through the gate (mode GATE_PASS). */
static void spawn_gated(struct at_node *n)
{
    memset(&g_gate, 0, sizeof(g_gate));
    g_lane = true;
    spawn_all(n);
    g_lane = false;
    g_gate.real = n->env.ids.sequencer;
    at_spawn(n, &gate_type, &n->env.ids.sequencer, true, BM_OVERFLOW_REJECT);
}

/* Waits (bounded, generous) until an ACK is held by the gate. */
static void wait_held(void)
{
    uint64_t end = bm_clock_deadline_ms(WAIT_MS);

    while (!atomic_load(&g_gate.holding)) {
        assert_true(bm_clock_now_ns() < end);
        bm_sleep_ms(1);
    }
}

/* A MANUAL round with the gate holding its ACK: returns the height the
 * answer names, once the ACK is held. */
static uint64_t produce_held(struct at_node *n)
{
    struct bm_producer_req req = {BM_PRODUCE_MANUAL};
    struct bm_producer_result r = {0};
    struct bm_future *f = NULL;

    atomic_store(&g_gate.mode, GATE_HOLD);
    assert_int_equal(bm_producer_ask_produce(n->sys, bm_env_producer(&n->env),
                                             &req, WAIT_MS, &f),
                     BM_OK);
    assert_int_equal(bm_future_wait(f, -1, &r, sizeof(r)), BM_OK);
    assert_true(r.produced);
    bm_future_free(f);
    wait_held(); /* answered, and the ACK is still held */
    return r.height;
}

/* Block h has n_txs txs (tx among them, if not NULL); the queue is empty
 * and the store checks out at height h. */
static void check_last(struct at_node *n, uint64_t h, size_t n_txs,
                       const char *tx)
{
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};
    size_t qn = 1, qb = 1;

    load_block(n, h, &sh, &d);
    assert_int_equal(d.n_txs, n_txs);
    assert_true(tx == NULL || data_has_tx(&d, tx));
    bm_seq_queue_size(n->seq, &qn, &qb);
    assert_int_equal(qn, 0);
    check_store(n, h);
    bm_signed_header_release(&sh);
    bm_data_release(&d);
}

/* PRODUCE is answered once the block is committed, before the ACK: with
 * the ACK held the first ask is answered; a second one (and a DRAIN)
 * asked meanwhile waits, and no batch is taken, until the ACK is done;
 * then the second round makes the next block from the txs queued since. */
static void test_answer_before_ack(void **state)
{
    static const char *const t1[] = {"a=1", "b=2", NULL};
    static const char *const t2[] = {"c=3", NULL};
    struct at_node n;
    struct bm_producer_req req = {BM_PRODUCE_MANUAL};
    struct bm_producer_result r = {0};
    struct bm_producer_drain dr = {0};
    struct bm_producer_drained dd = {0};
    struct bm_future *f2 = NULL, *fd = NULL;
    size_t qn = 0, qb = 0;

    (void)state;
    open_agg(&n, NULL, 0, false, NULL);
    submit(&n, t1);
    spawn_gated(&n);
    at_start(&n);
    assert_int_equal(produce_held(&n), 1);
    bm_seq_queue_size(n.seq, &qn, &qb);
    assert_int_equal(qn, 2); /* not acked yet: a, b still in the queue */
    submit(&n, t2);
    assert_int_equal(bm_producer_ask_produce(n.sys, bm_env_producer(&n.env),
                                             &req, WAIT_MS, &f2),
                     BM_OK);
    assert_int_equal(bm_producer_ask_drain(n.sys, bm_env_producer(&n.env),
                                           &dr, WAIT_MS, &fd),
                     BM_OK);
    /* Queued behind the ACK (a late answer here would be a bug, a slow
     * machine only makes this check weaker). */
    assert_int_equal(bm_future_wait(f2, 100, &r, sizeof(r)), BM_EAGAIN);
    assert_int_equal(bm_future_wait(fd, 0, &dd, sizeof(dd)), BM_EAGAIN);
    atomic_store(&g_gate.mode, GATE_PASS);
    assert_int_equal(bm_future_wait(f2, -1, &r, sizeof(r)), BM_OK);
    assert_true(r.produced);
    assert_int_equal(r.height, 2);
    assert_int_equal(bm_future_wait(fd, -1, &dd, sizeof(dd)), BM_OK);
    assert_int_equal(dd.height, 2);
    assert_int_equal(atomic_load(&g_gate.batches_held), 0);
    assert_int_equal(atomic_load(&g_gate.batches), 2);
    assert_int_equal(atomic_load(&g_gate.acks), 2);
    check_last(&n, 2, 1, "c=3"); /* the DRAIN came after block 2's ACK */
    bm_future_free(f2);
    bm_future_free(fd);
    at_node_close(&n, true);
}

/* A failed ACK after the commit: the PRODUCE was answered with the block;
 * the next round drops the committed txs from the queue first and does
 * not put them in a second block. */
static void test_ack_fails(void **state)
{
    static const char *const t1[] = {"a=1", "b=2", NULL};
    static const char *const t2[] = {"c=3", NULL};
    struct at_node n;
    size_t qn = 0, qb = 0;

    (void)state;
    open_agg(&n, NULL, 0, false, NULL);
    submit(&n, t1);
    spawn_gated(&n);
    at_start(&n);
    atomic_store(&g_gate.mode, GATE_FAIL);
    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 1);
    settle(&n);
    assert_int_equal(atomic_load(&g_gate.acks), 1);
    bm_seq_queue_size(n.seq, &qn, &qb);
    assert_int_equal(qn, 2); /* the ACK never reached the queue */
    atomic_store(&g_gate.mode, GATE_PASS);
    submit(&n, t2);
    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 2);
    settle(&n);
    assert_int_equal(atomic_load(&g_gate.drops), 1);
    check_last(&n, 2, 1, "c=3");
    at_node_close(&n, true);
}

/* Stopped between the commit and the ACK (answered, ACK held, the node
 * closed: the store has the block, the queue still has its txs, as after a
 * kill at that instant): the next incarnation drops them from the queue
 * (S_LOAD) and its first block does not have them. */
static void test_stop_before_ack(void **state)
{
    static const char *const t1[] = {"a=1", "b=2", NULL};
    struct at_node n;
    char home[256];
    uint64_t gen = bm_validate_now_ns() - 60ull * 1000000000ull;
    size_t qn = 0, qb = 0;

    (void)state;
    open_agg(&n, NULL, gen, false, NULL);
    submit(&n, t1);
    spawn_gated(&n);
    at_start(&n);
    assert_int_equal(produce_held(&n), 1);
    atomic_store(&g_gate.mode, GATE_FAIL); /* the ACK never happens */
    snprintf(home, sizeof(home), "%s", n.home);
    at_node_close(&n, false);

    open_agg(&n, home, gen, false, NULL);
    bm_seq_queue_size(n.seq, &qn, &qb);
    assert_int_equal(qn, 2);
    g_lane = true;
    spawn_all(&n);
    g_lane = false;
    at_start(&n);
    assert_int_equal(produce(&n, BM_PRODUCE_MANUAL).height, 2);
    settle(&n);
    check_last(&n, 2, 0, NULL);
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
        cmocka_unit_test(test_produce_five_on_lane),
        cmocka_unit_test(test_restart_on_lane),
        cmocka_unit_test(test_queued_requests),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_answer_before_ack),
        cmocka_unit_test(test_ack_fails),
        cmocka_unit_test(test_stop_before_ack),
    };

    return BM_TEST_RUN(tests);
}
