/*
 * The block manager under HA (actors/ha_gate.h) with a real etcd, store,
 * executor and local DA server: only the leader produces, every block is
 * replicated before it is published, a fenced leader publishes nothing
 * more, and a leader whose etcd goes away stops within one TTL.
 */
#include "ha_test_util.h"

#include <inttypes.h>

#include "blockv2/types.h"
#include "manager_rig.h"

#define TTL 2
#define TTL_MS (TTL * 1000)
#define PREFIX "/t/mgr"

/* The replicated record in etcd. */
static void etcd_record(const char *url, struct bm_raft_block_state *out)
{
    struct bm_etcd *e = ha_client(url);
    struct bm_etcd_resp r = {0};
    struct bm_errmsg em = {{0}};

    assert_int_equal(bm_etcd_get(e, (const uint8_t *)PREFIX "/block",
                                 strlen(PREFIX "/block"), 0, &r, &em),
                     BM_OK);
    assert_true(r.has_kv);
    assert_int_equal(
        bm_raft_block_state_decode(out, r.kv.value.ptr, r.kv.value.len), BM_OK);
    bm_etcd_resp_release(&r);
    bm_etcd_free(e);
}

/* The replicated record's height. */
static uint64_t record_height(const char *url)
{
    struct bm_raft_block_state rec = {0};
    uint64_t h;

    etcd_record(url, &rec);
    h = rec.height;
    bm_raft_block_state_release(&rec);
    return h;
}

/* The record holds the store's block at its height, byte for byte. */
static void check_record_matches(const char *url, struct mt_node *n,
                                 uint64_t *height)
{
    struct bm_raft_block_state rec = {0};
    struct bm_store_blockbuf bb = {0};
    struct bm_hash hh;
    struct bm_errmsg em = {{0}};

    etcd_record(url, &rec);
    assert_int_equal(bm_store_get_block(n->store, rec.height, &bb, &em), BM_OK);
    assert_true(bm_buf_eq(&rec.header, &bb.header));
    assert_true(bm_buf_eq(&rec.data, &bb.data));
    header_hash_at(n->store, rec.height, &hh);
    assert_true(bm_buf_eq_raw(&rec.hash, hh.b, sizeof(hh.b)));
    *height = rec.height;
    bm_store_blockbuf_release(&bb);
    bm_raft_block_state_release(&rec);
}

static uint64_t max_on_da(const char *url, uint64_t upto)
{
    uint32_t *count = bm_xcalloc(upto + 1, sizeof(*count));
    uint64_t top = 0;

    count_da_headers(url, upto, count);
    for (uint64_t h = 1; h <= upto; h++) {
        assert_true(count[h] <= 1);
        if (count[h] == 1) {
            top = h;
        }
    }
    bm_free(count);
    return top;
}

/* What the tests with a DA layer start: etcd, a local DA server in a new
 * home, candidate a leading, and a node under it that made `blocks`
 * blocks. */
struct leader_rig {
    struct etcd_proc *etcd;
    struct ha_cand a;
    struct mt_node n;
    struct bm_manager_config cfg;
    struct bm_da_server *da;
    char home[256], da_url[64];
};

static void leader_rig_start_ms(struct leader_rig *r, uint64_t blocks,
                                uint64_t block_ms)
{
    r->etcd = ha_start_etcd();
    genesis_init();
    new_home(r->home, sizeof(r->home));
    r->da = da_start(r->home, 0, 0, r->da_url, sizeof(r->da_url));
    ha_cand_start(&r->a, r->etcd->url, PREFIX, "a", TTL);
    assert_true(ha_wait_role(&r->a, BM_HA_LEADER, 5000) >= 0);
    g_ha = r->a.h;
    cfg_fast(&r->cfg, true);
    if (block_ms != 0) {
        r->cfg.block_time_ms = block_ms;
    }
    mt_open(&r->n, r->home, true, r->da_url, &r->cfg);
    mt_start(&r->n);
    WAIT_FOR(height_of(&r->n) >= blocks, 20000, "blocks under HA");
}

static void leader_rig_start(struct leader_rig *r, uint64_t blocks)
{
    leader_rig_start_ms(r, blocks, 0);
}

/* After the node was closed: candidate a, the DA server, the home. */
static void leader_rig_free(struct leader_rig *r)
{
    ha_cand_free(&r->a);
    g_ha = NULL;
    bm_da_server_stop(r->da);
    rm_rf(r->home);
}

static void test_fenced_leader_publishes_nothing(void **state)
{
    struct leader_rig r;
    struct etcd_proc *etcd;
    struct ha_cand b;
    uint64_t rh, h_fenced, h;

    (void)state;
    leader_rig_start(&r, 10);
    etcd = r.etcd;
    /* A block is replicated after its commit, before the next block: the
     * record may still be one behind the store here. */
    WAIT_FOR(record_height(etcd->url) >= 10, 5000, "block 10 replicated");
    check_record_matches(etcd->url, &r.n, &rh);
    assert_true(rh >= 10);

    /* a is frozen (as if stopped); b wins; a's next write is fenced */
    ha_cand_start(&b, etcd->url, PREFIX, "b", TTL);
    bm_ha_test_freeze(r.a.h, true);
    assert_true(ha_wait_role(&b, BM_HA_LEADER, TTL_MS + 3000) >= 0);
    assert_true(ha_wait_role(&r.a, BM_HA_FOLLOWER, 5000) >= 0);
    h_fenced = height_of(&r.n);
    check_record_matches(etcd->url, &r.n, &rh);
    /* at most the one block whose write was refused is unreplicated */
    assert_true(h_fenced == rh || h_fenced == rh + 1);
    bm_sleep_ms(300);
    assert_true(height_of(&r.n) == h_fenced);
    /* DA never sees a block the cluster did not accept */
    bm_sleep_ms(500);
    assert_true(max_on_da(r.da_url, h_fenced) <= rh);
    fprintf(stderr, "fenced at height %" PRIu64 ", replicated %" PRIu64 "\n",
            h_fenced, rh);

    /* b hands over (resign) and a, thawed, leads again: its unreplicated
     * head is replicated from the store, production and DA resume */
    bm_ha_stop(b.h, true);
    bm_ha_test_freeze(r.a.h, false);
    assert_true(ha_wait_role(&r.a, BM_HA_LEADER, TTL_MS + 3000) >= 0);
    WAIT_FOR(height_of(&r.n) >= h_fenced + 5, 20000, "production resumed");
    h = height_of(&r.n);
    WAIT_FOR(max_on_da(r.da_url, h) >= h_fenced, 20000,
             "DA caught up with the replicated blocks");
    check_record_matches(etcd->url, &r.n, &rh);
    assert_true(rh >= h_fenced + 4);

    assert_int_equal(mt_close(&r.n), BM_OK);
    ha_cand_free(&b);
    leader_rig_free(&r);
}

static void test_etcd_outage_stops_production(void **state)
{
    struct etcd_proc *etcd;
    struct ha_cand a;
    struct mt_node n;
    struct bm_manager_config cfg;
    struct ha_rec rec;
    char home[256];
    uint64_t t0, h_stop, rh;

    (void)state;
    etcd = ha_start_etcd();
    genesis_init();
    new_home(home, sizeof(home));
    ha_cand_start(&a, etcd->url, PREFIX, "a", TTL);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, 5000) >= 0);
    g_ha = a.h;
    cfg_fast(&cfg, true);
    mt_open(&n, home, true, NULL, &cfg);
    mt_start(&n);
    WAIT_FOR(height_of(&n) >= 5, 20000, "5 blocks under HA");
    t0 = bm_clock_now_ns();
    etcd_proc_pause(etcd);
    WAIT_FOR(ha_role(&a, NULL) == BM_HA_FOLLOWER, 2 * TTL_MS,
             "the leader steps down");
    /* the callback runs after the status flips: wait for it, or rec is
     * still the LEADER call from before t0 */
    ha_rec_wait_role(&a.rec, BM_HA_FOLLOWER, 5000, &rec);
    assert_int_equal(rec.role, BM_HA_FOLLOWER);
    assert_true(rec.at_ns >= t0);
    assert_true(rec.at_ns - t0 <= (uint64_t)TTL_MS * 1000000u);
    bm_sleep_ms(200); /* a round in flight ends */
    h_stop = height_of(&n);
    bm_sleep_ms(500);
    assert_true(height_of(&n) == h_stop);
    etcd_proc_resume(etcd);
    WAIT_FOR(height_of(&n) >= h_stop + 5, 4 * TTL_MS + 10000,
             "production resumes with etcd");
    check_record_matches(etcd->url, &n, &rh);
    fprintf(stderr, "stopped at %" PRIu64 ", resumed to %" PRIu64 "\n", h_stop,
            rh);
    assert_int_equal(mt_close(&n), BM_OK);
    ha_cand_free(&a);
    g_ha = NULL;
    rm_rf(home);
}

/*
 * Failover catch-up (docs/HA.md "Followers"): the old leader replicated
 * its last block and died before publishing it, so the new leader's
 * store is one block below the record and neither DA nor P2P has that
 * block. The new leader applies the record's block itself (Sync, full
 * validation), then produces on top of it.
 */
static void test_new_leader_applies_the_record(void **state)
{
    struct leader_rig r;
    struct ha_cand b;
    struct bm_da_server *da2;
    struct bm_store *st = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_hash want, got;
    char home2[256], da2_url[64];
    uint64_t rh, h = 0;

    (void)state;
    leader_rig_start(&r, 5);
    new_home(home2, sizeof(home2));
    assert_int_equal(mt_close(&r.n), BM_OK);
    bm_da_server_stop(r.da);
    /* the block in flight at the stop was replicated: store = record */
    rh = record_height(r.etcd->url);
    assert_int_equal(bm_store_open(&st, r.home, NULL, &em), BM_OK);
    assert_int_equal(bm_store_height(st, &h, &em), BM_OK);
    assert_true(h == rh);
    header_hash_at(st, rh, &want);
    /* the node lost its last block (it was never published) */
    assert_int_equal(bm_store_rollback(st, 1, &h, &em), BM_OK);
    assert_true(h == rh - 1);
    bm_store_close(st);

    /* b leads with the record at rh; its store is at rh - 1 and its DA
     * (a new, empty one) has nothing */
    da2 = da_start(home2, 0, 0, da2_url, sizeof(da2_url));
    ha_cand_start(&b, r.etcd->url, PREFIX, "b", TTL);
    bm_ha_stop(r.a.h, true);
    assert_true(ha_wait_role(&b, BM_HA_LEADER, TTL_MS + 3000) >= 0);
    g_ha = b.h;
    mt_open(&r.n, r.home, true, da2_url, &r.cfg);
    mt_start(&r.n);
    WAIT_FOR(height_of(&r.n) >= rh + 2, 20000,
             "the record's block applied, production on top of it");
    header_hash_at(r.n.store, rh, &got);
    assert_memory_equal(want.b, got.b, sizeof(want.b));
    WAIT_FOR(record_height(r.etcd->url) >= rh + 2, 5000, "rh + 2 replicated");
    check_record_matches(r.etcd->url, &r.n, &h);
    fprintf(stderr, "record %" PRIu64 " applied from etcd, now at %" PRIu64
            "\n", rh, h);
    assert_int_equal(mt_close(&r.n), BM_OK);
    ha_cand_free(&b);
    ha_cand_free(&r.a);
    g_ha = NULL;
    bm_da_server_stop(da2);
    rm_rf(home2);
    rm_rf(r.home);
}

static void seq_put(struct mt_node *n, const char *tx, size_t want)
{
    struct bm_buf t = {(uint8_t *)(uintptr_t)tx, strlen(tx)};
    size_t acc = 99;

    assert_int_equal(bm_seq_submit(n->seq, (const uint8_t *)g_gen.chain_id,
                                   strlen(g_gen.chain_id), &t, 1, &acc, NULL),
                     BM_OK);
    assert_int_equal(acc, want);
}

static size_t seq_len(struct mt_node *n)
{
    size_t q = 0;

    bm_seq_queue_size(n->seq, &q, NULL);
    return q;
}

/*
 * A candidate that follows (docs/HA.md, "Transactions") holds a tx it
 * acknowledged while it led; the leader includes the same tx (a
 * forwarded copy). When the follower's Sync applies that block, the
 * tx leaves its queue and a later copy of it is a duplicate there: it is
 * never included twice. Its other queued tx stays.
 */
static void test_follower_drops_synced_txs(void **state)
{
    struct leader_rig r;
    struct ha_cand b;
    struct mt_node f;
    char home2[256];

    (void)state;
    leader_rig_start(&r, 3);
    ha_cand_start(&b, r.etcd->url, PREFIX, "b", TTL);
    assert_int_equal(ha_role(&b, NULL), BM_HA_FOLLOWER);
    new_home(home2, sizeof(home2));
    g_ha = b.h;
    mt_open(&f, home2, true, r.da_url, &r.cfg);
    mt_start(&f);
    seq_put(&f, "syn=1", 1);
    seq_put(&f, "own=2", 1);
    seq_put(&r.n, "syn=1", 1);
    WAIT_FOR(seq_len(&r.n) == 0, 20000, "the leader includes syn=1");
    WAIT_FOR(seq_len(&f) == 1, 30000,
             "the follower drops syn=1 once it applied its block");
    seq_put(&f, "syn=1", 0); /* in its window now */
    seq_put(&f, "own=2", 0); /* still queued */
    fprintf(stderr, "follower at height %" PRIu64 " dropped the synced tx\n",
            height_of(&f));
    assert_int_equal(mt_close(&f), BM_OK);
    assert_int_equal(mt_close(&r.n), BM_OK);
    ha_cand_free(&b);
    rm_rf(home2);
    leader_rig_free(&r);
}

/* Submits txs "fz<n>=1" to r's node (acknowledged: durable in its
 * queue) until candidate a steps down; *n_sent counts them. */
static void submit_until_follower(struct leader_rig *r, unsigned *n_sent)
{
    struct bm_errmsg em = {{0}};

    for (uint64_t end = bm_clock_now_ms() + TTL_MS + 8000;
         ha_role(&r->a, NULL) != BM_HA_FOLLOWER && bm_clock_now_ms() < end;
         bm_sleep_ms(2)) {
        char tx[32];
        struct bm_buf t = {(uint8_t *)tx, 0};

        t.len = (size_t)snprintf(tx, sizeof(tx), "fz%u=1", (*n_sent)++);
        assert_int_equal(bm_seq_submit(r->n.seq,
                                       (const uint8_t *)g_gen.chain_id,
                                       strlen(g_gen.chain_id), &t, 1, NULL,
                                       &em),
                         BM_OK);
    }
}

/*
 * A deposed leader's unreplicated head (docs/HA.md), the start-up path: a
 * leader commits a block, its write is fenced (another leader won
 * meanwhile), and the node is stopped (as by a kill before its run-time
 * rollback) before the new leader replicates another block at that
 * height. Its next start rolls the block back, counted in
 * blockv2_ha_rolled_back_blocks_total, and queues its txs again.
 */
static void test_deposed_head_rolled_back_at_start(void **state)
{
    struct leader_rig r;
    struct ha_cand b;
    struct bm_ha_status st;
    struct bm_buf rec = {0};
    struct bm_errmsg em = {{0}};
    int64_t token = 0;
    uint64_t rh, h_fenced;
    struct bm_data fenced = {0};
    unsigned n_sent = 0;

    (void)state;
    leader_rig_start(&r, 5);
    /* a is frozen; b wins; a's next block is committed, its write fenced */
    ha_cand_start(&b, r.etcd->url, PREFIX, "b", TTL);
    bm_ha_test_freeze(r.a.h, true);
    /* txs acknowledged until a steps down: some go in the fenced block */
    submit_until_follower(&r, &n_sent);
    assert_true(ha_wait_role(&r.a, BM_HA_FOLLOWER, 5000) >= 0);
    assert_true(ha_wait_role(&b, BM_HA_LEADER, 1000) >= 0);
    bm_ha_test_freeze(r.a.h, false);
    h_fenced = height_of(&r.n);
    rh = record_height(r.etcd->url);
    assert_true(h_fenced == rh + 1);
    {
        struct bm_store_blockbuf bb = {0};

        assert_int_equal(bm_store_get_block(r.n.store, h_fenced, &bb, &em),
                         BM_OK);
        assert_int_equal(bm_data_decode(&fenced, bb.data.ptr, bb.data.len),
                         BM_OK);
        bm_store_blockbuf_release(&bb);
    }
    assert_true(fenced.n_txs > 0);
    assert_int_equal(mt_close(&r.n), BM_OK);
    assert_true(max_on_da(r.da_url, h_fenced) <= rh);
    /* b replicates another block at that height meanwhile */
    assert_int_equal(ha_role(&b, &token), BM_HA_LEADER);
    ha_record(rh + 1, &rec);
    assert_int_equal(bm_ha_replicate(b.h, token, rh + 1, rec.ptr, rec.len,
                                     &em),
                     BM_OK);
    bm_buf_release(&rec);

    /* the next start rolls it back; its txs were put back already, as
     * if a run-time rollback was killed after its first step: they are
     * not queued twice */
    mt_open(&r.n, r.home, true, r.da_url, &r.cfg);
    assert_int_equal(bm_seq_requeue(r.n.seq, fenced.txs, fenced.n_txs, NULL,
                                    &em),
                     BM_OK);
    mt_start(&r.n);
    assert_true(height_of(&r.n) == rh);
    bm_ha_status(r.a.h, &st);
    assert_true(st.rolled_back_blocks == 1);
    bm_sleep_ms(500);
    assert_int_equal(bm_manager_wait(r.n.m, 0, &em), BM_ETIMEDOUT);
    assert_true(height_of(&r.n) == rh);
    /* its txs were acknowledged: they are queued again, not lost */
    {
        struct bm_buf *q = NULL;
        uint64_t *ids = NULL;
        size_t nq = 0;

        assert_int_equal(bm_seq_peek(r.n.seq, 100000, 0, &q, &ids, &nq, &em),
                         BM_OK);
        for (size_t i = 0; i < fenced.n_txs; i++) {
            size_t found = 0;

            for (size_t j = 0; j < nq; j++) {
                found += bm_buf_eq(&q[j], &fenced.txs[i]) ? 1 : 0;
            }
            assert_int_equal(found, 1);
        }
        bm_exec_txs_free(q, nq);
        bm_free(ids);
    }
    fprintf(stderr, "block %" PRIu64 " (%zu txs of %u sent) rolled back at "
            "the restart, its txs queued again\n", h_fenced, fenced.n_txs,
            n_sent);
    bm_data_release(&fenced);
    assert_int_equal(mt_close(&r.n), BM_OK);
    ha_cand_free(&b);
    leader_rig_free(&r);
}


/* Occurrences of every tx "fz<i>=1" (i < n) in n's chain up to `top`. */
static void count_fz_txs(struct mt_node *n, uint64_t top, uint32_t *count,
                         unsigned sent)
{
    for (uint64_t h = 1; h <= top; h++) {
        struct bm_store_blockbuf bb = {0};
        struct bm_data d = {0};
        struct bm_errmsg em = {{0}};

        assert_int_equal(bm_store_get_block(n->store, h, &bb, &em), BM_OK);
        assert_int_equal(bm_data_decode(&d, bb.data.ptr, bb.data.len), BM_OK);
        for (size_t i = 0; i < d.n_txs; i++) {
            unsigned k = 0;
            char tx[32];

            if (d.txs[i].len >= sizeof(tx)) {
                continue;
            }
            memcpy(tx, d.txs[i].ptr, d.txs[i].len);
            tx[d.txs[i].len] = '\0';
            if (sscanf(tx, "fz%u=1", &k) == 1 && k < sent) {
                count[k]++;
            }
        }
        bm_data_release(&d);
        bm_store_blockbuf_release(&bb);
    }
}

/* The header hash at h, or zeroes when n has no block there. */
static void hash_or_zero(struct mt_node *n, uint64_t h, struct bm_hash *out)
{
    if (height_of(n) >= h) {
        header_hash_at(n->store, h, out);
    } else {
        memset(out, 0, sizeof(*out));
    }
}

/*
 * A deposed leader's unreplicated head, rolled back at run time (docs/HA.md
 * "A deposed leader's unreplicated head"): a commits block H while another
 * candidate (c) took the leadership, so its guarded write is fenced and H
 * is never published. Then b (a node that followed a over DA) leads and
 * makes another block at H. a's node keeps running: it rolls H back
 * (store, executor, its txs into the queue), follows b's chain, and when
 * it leads again its acknowledged txs go in exactly once; no height holds
 * two blocks on the nodes or on DA.
 */
static void test_deposed_head_rolled_back_at_run_time(void **state)
{
    struct leader_rig r;
    struct ha_cand b, c;
    struct mt_node nb;
    struct bm_ha_status st;
    struct bm_errmsg em = {{0}};
    struct bm_hash fenced_hash, ha, hb;
    char home_b[256];
    uint64_t rh, h_fenced, top;
    uint32_t *count;
    unsigned n_sent = 0;
    size_t fenced_txs;
    uint64_t t0 = bm_clock_now_ms();

    (void)state;
    /* Blocks of 300 ms, above the DA poll (100 ms): a follower without
     * P2P is at most one block below the record when a leader is
     * deposed, so the next one can catch up from DA and the record. */
    leader_rig_start_ms(&r, 5, 300);
    /* b: a candidate whose node follows a over DA; frozen, so that it
     * does not campaign until the test lets it */
    ha_cand_start(&b, r.etcd->url, PREFIX, "b", TTL);
    assert_int_equal(ha_role(&b, NULL), BM_HA_FOLLOWER);
    bm_ha_test_freeze(b.h, true);
    new_home(home_b, sizeof(home_b));
    g_ha = b.h;
    mt_open(&nb, home_b, true, r.da_url, &r.cfg);
    mt_start(&nb);
    g_ha = r.a.h;
    WAIT_FOR(height_of(&nb) >= 3, 20000, "b's node follows over DA");

    /* a is frozen; c wins; a's next block is committed, its write fenced */
    ha_cand_start(&c, r.etcd->url, PREFIX, "c", TTL);
    bm_ha_test_freeze(r.a.h, true);
    submit_until_follower(&r, &n_sent);
    assert_true(ha_wait_role(&r.a, BM_HA_FOLLOWER, 5000) >= 0);
    assert_true(ha_wait_role(&c, BM_HA_LEADER, 1000) >= 0);
    h_fenced = height_of(&r.n);
    rh = record_height(r.etcd->url);
    assert_true(h_fenced == rh + 1);
    header_hash_at(r.n.store, h_fenced, &fenced_hash);
    {
        struct bm_store_blockbuf bb = {0};
        struct bm_data d = {0};

        assert_int_equal(bm_store_get_block(r.n.store, h_fenced, &bb, &em),
                         BM_OK);
        assert_int_equal(bm_data_decode(&d, bb.data.ptr, bb.data.len), BM_OK);
        fenced_txs = d.n_txs;
        bm_data_release(&d);
        bm_store_blockbuf_release(&bb);
    }
    assert_true(fenced_txs > 0);

    /* c hands over; b (thawed) leads and makes its own block at h_fenced;
     * a stays frozen so that it cannot lead again meanwhile */
    bm_ha_stop(c.h, true);
    bm_ha_test_freeze(b.h, false);
    assert_true(ha_wait_role(&b, BM_HA_LEADER, TTL_MS + 5000) >= 0);
    WAIT_FOR(height_of(&nb) >= h_fenced + 2, 20000, "b produces");
    /* a rolls its block back at run time and follows b's chain */
    WAIT_FOR(height_of(&r.n) >= h_fenced + 2, 20000,
             "a follows b's chain past its rolled-back block");
    assert_int_equal(bm_manager_wait(r.n.m, 0, &em), BM_ETIMEDOUT);
    bm_ha_status(r.a.h, &st);
    assert_true(st.rolled_back_blocks == 1);
    header_hash_at(r.n.store, h_fenced, &ha);
    header_hash_at(nb.store, h_fenced, &hb);
    assert_memory_equal(ha.b, hb.b, sizeof(ha.b));
    assert_memory_not_equal(ha.b, fenced_hash.b, sizeof(ha.b));
    assert_true(max_on_da(r.da_url, height_of(&nb)) >= 1);
    fprintf(stderr, "block %" PRIu64 " (%zu txs) rolled back at run time; "
            "a follows b at %" PRIu64 "\n", h_fenced, fenced_txs,
            height_of(&r.n));

    /* b is frozen in turn (as if paused): a leads again once b's lease
     * expired and puts the queued txs in blocks; b, thawed, steps down
     * on its own timer (a block it made meanwhile would be fenced and
     * rolled back the same way) and follows */
    bm_ha_test_freeze(r.a.h, false);
    bm_ha_test_freeze(b.h, true);
    assert_true(ha_wait_role(&r.a, BM_HA_LEADER, 2 * TTL_MS + 5000) >= 0);
    bm_ha_test_freeze(b.h, false);
    WAIT_FOR(seq_len(&r.n) == 0, 20000, "a includes its queued txs");
    top = height_of(&r.n) + 1;
    WAIT_FOR(height_of(&r.n) >= top && height_of(&nb) >= top, 20000,
             "b's node follows a again");
    assert_int_equal(bm_manager_wait(r.n.m, 0, &em), BM_ETIMEDOUT);
    assert_int_equal(bm_manager_wait(nb.m, 0, &em), BM_ETIMEDOUT);

    /* one chain: the same block at every height on both nodes, at most
     * one header per height on DA */
    for (uint64_t h = 1; h <= top; h++) {
        hash_or_zero(&r.n, h, &ha);
        hash_or_zero(&nb, h, &hb);
        assert_memory_equal(ha.b, hb.b, sizeof(ha.b));
    }
    (void)max_on_da(r.da_url, top);
    /* every acknowledged tx in exactly one block */
    count = bm_xcalloc(n_sent + 1, sizeof(*count));
    count_fz_txs(&r.n, top, count, n_sent);
    for (unsigned i = 0; i < n_sent; i++) {
        if (count[i] != 1) {
            fprintf(stderr, "tx fz%u=1: in %u blocks\n", i, count[i]);
        }
        assert_int_equal(count[i], 1);
    }
    bm_free(count);
    bm_ha_status(b.h, &st);
    fprintf(stderr, "%u acknowledged txs in exactly one block each, chain "
            "at %" PRIu64 " (b rolled back %" PRIu64 "), %" PRIu64 " ms\n",
            n_sent, top, st.rolled_back_blocks, bm_clock_now_ms() - t0);

    assert_int_equal(mt_close(&nb), BM_OK);
    assert_int_equal(mt_close(&r.n), BM_OK);
    ha_cand_free(&c);
    ha_cand_free(&b);
    rm_rf(home_b);
    leader_rig_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fenced_leader_publishes_nothing,
                                  ha_teardown_etcd),
        cmocka_unit_test_teardown(test_etcd_outage_stops_production,
                                  ha_teardown_etcd),
        cmocka_unit_test_teardown(test_new_leader_applies_the_record,
                                  ha_teardown_etcd),
        cmocka_unit_test_teardown(test_deposed_head_rolled_back_at_start,
                                  ha_teardown_etcd),
        cmocka_unit_test_teardown(test_deposed_head_rolled_back_at_run_time,
                                  ha_teardown_etcd),
        cmocka_unit_test_teardown(test_follower_drops_synced_txs,
                                  ha_teardown_etcd),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    bm_genesis_release(&g_gen);
    bm_privkey_wipe(&g_key);
    return etcd_proc_exit(bm_test_check_leaks(rc));
}
