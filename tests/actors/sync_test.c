/*
 * SyncActor tests (src/actors/sync.h) with the real State and Validator
 * actors. A "source" node builds a chain through APPLY (the producer's
 * path); its stored blocks are then delivered to a fresh node as
 * HEADER_IN / DATA_IN in various orders.
 */
#include "bm_test.h"

#include <stdatomic.h>
#include <string.h>

#include "actors_test_util.h"

#include "actors/state.h"
#include "actors/store_sync.h"
#include "actors/sync.h"
#include "actors/validator.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "p2p/p2pstore.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#define MAXB 8
#define WAIT_MS 60000

/* A chain built by a source node: blocks 1..n (index i = height i + 1). */
struct chain {
    size_t n;
    uint64_t gen_time;
    struct bm_signed_header sh[MAXB];
    struct bm_data data[MAXB];
    struct bm_hash hash[MAXB];
    struct bm_buf data_bytes[MAXB];
    struct bm_hash root; /* KV root after block n */
};

static void chain_release(struct chain *c)
{
    for (size_t i = 0; i < c->n; i++) {
        bm_signed_header_release(&c->sh[i]);
        bm_data_release(&c->data[i]);
        bm_buf_release(&c->data_bytes[i]);
    }
    memset(c, 0, sizeof(*c));
}

static void spawn_sync_node(struct at_node *n)
{
    at_spawn(n, &bm_state_actor_type, &n->env.ids.state, true,
             BM_OVERFLOW_REJECT);
    at_spawn(n, &bm_validator_actor_type, &n->env.ids.validator, false,
             BM_OVERFLOW_REJECT);
    at_spawn(n, &bm_sync_actor_type, &n->env.ids.sync, true,
             BM_OVERFLOW_BLOCK);
}

static uint64_t store_height(struct at_node *n)
{
    uint64_t h = 0;

    if (bm_store_height(n->store, &h, NULL) != BM_OK) {
        return 0;
    }
    return h;
}

struct hwait {
    struct at_node *n;
    uint64_t h;
};

static bool height_reached(void *arg)
{
    struct hwait *w = arg;

    return store_height(w->n) >= w->h;
}

static void wait_height(struct at_node *n, uint64_t h)
{
    struct hwait w = {n, h};

    assert_true(at_wait(height_reached, &w, WAIT_MS));
    assert_int_equal(store_height(n), h);
}

struct handled_wait {
    struct at_node *n;
    uint64_t want;
};

static bool handled_reached(void *arg)
{
    struct handled_wait *w = arg;
    struct bm_actor_stats s;

    if (bm_actor_stats_get(w->n->sys, w->n->env.ids.sync, &s) != BM_OK) {
        return false;
    }
    return s.handled >= w->want;
}

/* Waits until the Sync actor has handled `want` user messages. */
static void wait_handled(struct at_node *n, uint64_t want)
{
    struct handled_wait w = {n, want};

    assert_true(at_wait(handled_reached, &w, WAIT_MS));
}

/*
 * Builds n blocks (txs[i] for block i + 1; NULL entry = empty block) on a
 * scratch node through APPLY and reads them back from its store.
 */
static void build_chain(struct chain *c, size_t n,
                        const char *const *const *txs)
{
    struct at_node a;
    struct at_opts o = {0};
    struct bm_state st = {0};
    struct bm_kv_status ks;

    memset(c, 0, sizeof(*c));
    c->gen_time = bm_validate_now_ns() - 60ull * 1000000000ull;
    o.genesis_time_ns = c->gen_time;
    at_node_open(&a, &o);
    spawn_sync_node(&a);
    at_start(&a);
    for (size_t i = 0; i < n; i++) {
        struct bm_sync_apply ap = {0};
        struct bm_sync_applied out = {0};

        at_latest_state(&a, &st);
        ap.blk = at_make_block(&a, &st, txs[i]);
        assert_int_equal(bm_sync_call_apply(a.sys, bm_env_sync(&a.env), &ap,
                                            &out, WAIT_MS),
                         BM_OK);
        assert_int_equal(out.height, i + 1);
        assert_int_equal(out.app_hash_len, 32);
    }
    assert_int_equal(store_height(&a), n);
    for (size_t i = 0; i < n; i++) {
        struct bm_store_blockbuf b = {0};

        assert_int_equal(bm_store_get_block(a.store, i + 1, &b, NULL), BM_OK);
        assert_int_equal(
            bm_signed_header_decode(&c->sh[i], b.header.ptr, b.header.len),
            BM_OK);
        assert_int_equal(bm_data_decode(&c->data[i], b.data.ptr, b.data.len),
                         BM_OK);
        assert_int_equal(bm_header_hash(&c->sh[i].header, &c->hash[i]), BM_OK);
        c->data_bytes[i] = b.data;
        memset(&b.data, 0, sizeof(b.data));
        bm_store_blockbuf_release(&b);
    }
    c->n = n;
    bm_kv_status(a.kv, &ks);
    c->root = ks.root;
    at_latest_state(&a, &st);
    assert_true(bm_buf_eq_raw(&st.app_hash, ks.root.b, 32));
    bm_state_release(&st);
    at_node_close(&a, true);
}

/* Opens the receiving node with the chain's genesis time. */
static void open_receiver(struct at_node *n, const struct chain *c,
                          const struct bm_manager_config *cfg)
{
    struct at_opts o = {0};

    o.genesis_time_ns = c->gen_time;
    o.cfg = cfg;
    at_node_open(n, &o);
}

static void send_header_sh(struct at_node *n, const struct bm_signed_header *sh,
                           uint64_t da, uint8_t src)
{
    struct bm_sync_header_in m = {0};

    m.sh = bm_xcalloc(1, sizeof(*m.sh));
    assert_int_equal(bm_signed_header_copy(m.sh, sh), BM_OK);
    m.da_height = da;
    m.source = src;
    assert_int_equal(bm_sync_tell_header_in(n->sys, bm_env_sync(&n->env), &m),
                     BM_OK);
}

/* Header of height h from the chain. */
static void send_h(struct at_node *n, const struct chain *c, uint64_t h,
                   uint64_t da, uint8_t src)
{
    send_header_sh(n, &c->sh[h - 1], da, src);
}

static void send_d(struct at_node *n, const struct chain *c, uint64_t h,
                   uint64_t da, uint8_t src)
{
    struct bm_sync_data_in m = {0};

    m.data = bm_xcalloc(1, sizeof(*m.data));
    assert_int_equal(bm_data_copy(m.data, &c->data[h - 1]), BM_OK);
    m.da_height = da;
    m.source = src;
    assert_int_equal(bm_sync_tell_data_in(n->sys, bm_env_sync(&n->env), &m),
                     BM_OK);
}

/* Store height, hashes and data bytes equal the chain's up to h; the
 * store checks out. */
static void check_store(struct at_node *n, const struct chain *c, uint64_t h)
{
    struct bm_store_check_report rep;
    struct bm_errmsg em = {{0}};
    int err;

    assert_int_equal(store_height(n), h);
    for (uint64_t i = 1; i <= h; i++) {
        struct bm_store_blockbuf b = {0};
        struct bm_signed_header sh = {0};
        struct bm_hash hh;

        assert_int_equal(bm_store_get_block(n->store, i, &b, NULL), BM_OK);
        assert_int_equal(bm_signed_header_decode(&sh, b.header.ptr,
                                                 b.header.len),
                         BM_OK);
        assert_int_equal(bm_header_hash(&sh.header, &hh), BM_OK);
        assert_memory_equal(hh.b, c->hash[i - 1].b, 32);
        assert_true(bm_buf_eq(&b.data, &c->data_bytes[i - 1]));
        bm_signed_header_release(&sh);
        bm_store_blockbuf_release(&b);
    }
    err = bm_store_check(n->store, &rep, &em);
    if (err != BM_OK) {
        fail_msg("store check: %s", bm_errmsg_str(&em, err));
    }
    assert_int_equal(rep.height, h);
}

static void check_app_hash(struct at_node *n, const struct chain *c)
{
    struct bm_state st = {0};
    struct bm_kv_status ks;

    at_latest_state(n, &st);
    bm_kv_status(n->kv, &ks);
    assert_true(bm_buf_eq_raw(&st.app_hash, ks.root.b, 32));
    assert_memory_equal(ks.root.b, c->root.b, 32);
    bm_state_release(&st);
}

static const char *const tx1[] = {"a=1", "b=2", NULL};
static const char *const tx2[] = {"c=3", NULL};
static const char *const tx3[] = {"a=4", "d=5", "e=6", NULL};
static const char *const tx5[] = {"f=7", NULL};

/* Blocks 1..5, block 4 empty. */
static const char *const *const chain5[] = {tx1, tx2, tx3, NULL, tx5};

/* In order, data first, header first, height 3 before 2. */
static void test_sync_orders(void **state)
{
    struct chain c;
    struct at_node n;

    (void)state;
    build_chain(&c, 5, chain5);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    send_d(&n, &c, 1, 0, BM_SRC_P2P); /* data first */
    send_h(&n, &c, 1, 0, BM_SRC_P2P);
    wait_height(&n, 1);
    send_h(&n, &c, 3, 0, BM_SRC_P2P); /* 3 before 2 */
    send_d(&n, &c, 3, 0, BM_SRC_P2P);
    send_d(&n, &c, 2, 0, BM_SRC_P2P);
    wait_handled(&n, 5);
    assert_int_equal(store_height(&n), 1);
    send_h(&n, &c, 2, 0, BM_SRC_P2P); /* header last: applies 2 then 3 */
    wait_height(&n, 3);
    send_h(&n, &c, 5, 0, BM_SRC_P2P);
    send_h(&n, &c, 4, 0, BM_SRC_P2P);
    send_d(&n, &c, 4, 0, BM_SRC_P2P); /* late: already applied or used */
    send_d(&n, &c, 5, 0, BM_SRC_P2P);
    wait_height(&n, 5);
    check_store(&n, &c, 5);
    check_app_hash(&n, &c);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_p2p), 5);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
    chain_release(&c);
}

/* An empty block whose data never arrives: synthesised, byte-identical
 * to the producer's data (metadata with last_data_hash). */
static void test_sync_empty_synthesis(void **state)
{
    static const char *const *const ch[] = {tx1, NULL, NULL, tx2};
    struct chain c;
    struct at_node n;

    (void)state;
    build_chain(&c, 4, ch);
    assert_true(bm_header_expects_empty_data(&c.sh[1].header));
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);
    send_h(&n, &c, 1, 0, BM_SRC_P2P);
    send_d(&n, &c, 1, 0, BM_SRC_P2P);
    send_h(&n, &c, 2, 0, BM_SRC_P2P);
    send_h(&n, &c, 3, 0, BM_SRC_P2P);
    wait_height(&n, 3);
    send_d(&n, &c, 4, 0, BM_SRC_P2P);
    send_h(&n, &c, 4, 0, BM_SRC_P2P);
    wait_height(&n, 4);
    check_store(&n, &c, 4);
    check_app_hash(&n, &c);
    at_node_close(&n, true);
    chain_release(&c);
}

/* Everything in one ITEMS_IN: the blocks apply as one group, and an
 * empty block after another block of the same group (not in the store
 * yet) still gets its data's last_data_hash from it. */
static void test_sync_group_empty_synthesis(void **state)
{
    static const char *const *const ch[] = {tx1, NULL, NULL, tx2, NULL};
    struct bm_sync_items_in m = {0};
    struct chain c;
    struct at_node n;

    (void)state;
    build_chain(&c, 5, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);
    m.headers = bm_xcalloc(5, sizeof(*m.headers));
    m.data = bm_xcalloc(2, sizeof(*m.data));
    for (size_t i = 0; i < 5; i++) {
        m.headers[i].sh = bm_xcalloc(1, sizeof(*m.headers[i].sh));
        assert_int_equal(bm_signed_header_copy(m.headers[i].sh, &c.sh[i]),
                         BM_OK);
        m.headers[i].da_height = 7;
        m.headers[i].source = BM_SRC_DA;
    }
    m.n_headers = 5;
    for (size_t i = 0; i < 2; i++) {
        uint64_t h = i == 0 ? 1 : 4;

        m.data[i].data = bm_xcalloc(1, sizeof(*m.data[i].data));
        assert_int_equal(bm_data_copy(m.data[i].data, &c.data[h - 1]),
                         BM_OK);
        m.data[i].da_height = 7;
        m.data[i].source = BM_SRC_DA;
    }
    m.n_data = 2;
    assert_int_equal(bm_sync_tell_items_in(n.sys, bm_env_sync(&n.env), &m),
                     BM_OK);
    wait_height(&n, 5);
    check_store(&n, &c, 5);
    check_app_hash(&n, &c);
    at_node_close(&n, true);
    chain_release(&c);
}

/* A header with a bad signature is dropped (not fatal); the valid header
 * for that height then applies with the data already cached. Duplicates
 * and stale deliveries are ignored. */
static void test_sync_bad_signature_and_duplicates(void **state)
{
    static const char *const *const ch[] = {tx1, tx2, tx3};
    struct chain c;
    struct at_node n;
    struct bm_signed_header bad = {0};

    (void)state;
    build_chain(&c, 3, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    send_h(&n, &c, 1, 0, BM_SRC_P2P);
    send_h(&n, &c, 1, 0, BM_SRC_P2P); /* duplicate while cached */
    send_d(&n, &c, 1, 0, BM_SRC_P2P);
    send_d(&n, &c, 1, 0, BM_SRC_P2P); /* stale */
    send_h(&n, &c, 1, 0, BM_SRC_P2P); /* stale */
    wait_height(&n, 1);

    assert_int_equal(bm_signed_header_copy(&bad, &c.sh[1]), BM_OK);
    bad.signature.ptr[3] ^= 0x55;
    send_header_sh(&n, &bad, 0, BM_SRC_DA);
    send_d(&n, &c, 2, 0, BM_SRC_P2P);
    wait_handled(&n, 7);
    assert_int_equal(store_height(&n), 1);
    assert_false(bm_env_halted(&n.env));
    send_h(&n, &c, 2, 0, BM_SRC_P2P);
    wait_height(&n, 2);

    send_d(&n, &c, 3, 0, BM_SRC_P2P);
    send_d(&n, &c, 3, 0, BM_SRC_P2P); /* duplicate data while cached */
    send_h(&n, &c, 3, 0, BM_SRC_P2P);
    send_h(&n, &c, 3, 0, BM_SRC_P2P);
    send_h(&n, &c, 2, 0, BM_SRC_P2P);
    wait_height(&n, 3);
    wait_handled(&n, 13);
    assert_int_equal(store_height(&n), 3);
    check_store(&n, &c, 3);
    check_app_hash(&n, &c);
    assert_false(bm_env_halted(&n.env));
    bm_signed_header_release(&bad);
    at_node_close(&n, true);
    chain_release(&c);
}

/* Caches hold sync_cache_max entries each; beyond it the highest height
 * is evicted (or the new item dropped when it is the highest). */
static void test_sync_cache_bound(void **state)
{
    static const char *const *const ch[] = {tx1, tx2, tx3, tx5};
    struct bm_manager_config cfg;
    struct chain c;
    struct at_node n;

    (void)state;
    build_chain(&c, 4, ch);
    bm_manager_config_init(&cfg);
    cfg.block_time_ms = 50;
    cfg.da_block_time_ms = 100;
    cfg.sync_cache_max = 2;
    open_receiver(&n, &c, &cfg);
    spawn_sync_node(&n);
    at_start(&n);

    for (uint64_t h = 2; h <= 4; h++) { /* 4 is dropped (cache full) */
        send_h(&n, &c, h, 0, BM_SRC_P2P);
        send_d(&n, &c, h, 0, BM_SRC_P2P);
    }
    send_h(&n, &c, 1, 0, BM_SRC_P2P); /* evicts header 3 */
    send_d(&n, &c, 1, 0, BM_SRC_P2P); /* evicts data 3 */
    wait_height(&n, 2);
    wait_handled(&n, 8);
    assert_int_equal(store_height(&n), 2);
    send_h(&n, &c, 3, 0, BM_SRC_P2P);
    send_d(&n, &c, 3, 0, BM_SRC_P2P);
    send_d(&n, &c, 4, 0, BM_SRC_P2P);
    send_h(&n, &c, 4, 0, BM_SRC_P2P);
    wait_height(&n, 4);
    check_store(&n, &c, 4);
    check_app_hash(&n, &c);
    at_node_close(&n, true);
    chain_release(&c);
}

static uint64_t meta_u64(struct at_node *n, const char *name)
{
    uint64_t v = 0;
    struct bm_errmsg em = {{0}};
    int err = bm_meta_get_u64(n->store, name, &v, &em);

    if (err != BM_OK) {
        fail_msg("meta %s: %s", name, bm_errmsg_str(&em, err));
    }
    return v;
}

static uint64_t rhb(struct at_node *n, uint64_t h, char which)
{
    char name[64];

    bm_meta_rhb_name(name, sizeof(name), h, which);
    return meta_u64(n, name);
}

/* DA-sourced commits write rhb/<h>/h|d and the DA cursor
 * (min(progress, lowest cached DA height)); state.da_height follows. */
static void test_sync_da_meta(void **state)
{
    static const char *const *const ch[] = {tx1, NULL, tx2};
    struct chain c;
    struct at_node n;
    struct bm_sync_da_progress pr = {10, false};
    struct bm_state st = {0};

    (void)state;
    build_chain(&c, 3, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    assert_int_equal(bm_sync_tell_da_progress(n.sys, bm_env_sync(&n.env), &pr),
                     BM_OK);
    send_h(&n, &c, 1, 5, BM_SRC_DA);
    send_d(&n, &c, 1, 6, BM_SRC_DA);
    wait_height(&n, 1);
    assert_int_equal(rhb(&n, 1, 'h'), 5);
    assert_int_equal(rhb(&n, 1, 'd'), 6);
    assert_int_equal(meta_u64(&n, BM_META_DA_CURSOR), 10);

    send_h(&n, &c, 3, 8, BM_SRC_DA);  /* cached while 2 commits */
    send_h(&n, &c, 2, 7, BM_SRC_DA);  /* empty block: header only */
    wait_height(&n, 2);
    assert_int_equal(rhb(&n, 2, 'h'), 7);
    assert_int_equal(rhb(&n, 2, 'd'), 7);
    assert_int_equal(meta_u64(&n, BM_META_DA_CURSOR), 8);

    send_d(&n, &c, 3, 9, BM_SRC_DA);
    wait_height(&n, 3);
    assert_int_equal(rhb(&n, 3, 'h'), 8);
    assert_int_equal(rhb(&n, 3, 'd'), 9);
    assert_int_equal(meta_u64(&n, BM_META_DA_CURSOR), 10);
    at_latest_state(&n, &st);
    assert_int_equal(st.da_height, 9);
    bm_state_release(&st);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_da), 3);
    check_store(&n, &c, 3);
    at_node_close(&n, true);
    chain_release(&c);
}

struct meta_wait {
    struct at_node *n;
    const char *name;
};

static bool meta_present(void *arg)
{
    struct meta_wait *w = arg;
    uint64_t v;

    return bm_meta_get_u64(w->n->store, w->name, &v, NULL) == BM_OK;
}

static void wait_rhb(struct at_node *n, uint64_t h, char which)
{
    char name[48];
    struct meta_wait w = {n, name};

    bm_meta_rhb_name(name, sizeof(name), h, which);
    assert_true(at_wait(meta_present, &w, WAIT_MS));
}

/* The header of c at height h, re-timed by 1 ms and signed again by the
 * proposer: a second valid block for that height. */
static void forked_header(struct at_node *n, const struct chain *c,
                          uint64_t h, struct bm_signed_header *out)
{
    assert_int_equal(bm_signed_header_copy(out, &c->sh[h - 1]), BM_OK);
    out->header.time += 1000000u;
    assert_int_equal(bm_signed_header_sign(out, &n->key), BM_OK);
}

/*
 * Blocks applied from P2P first: DA delivering them later records
 * rhb/<h>/h|d (written at the next DA height, with the cursor) so they
 * become DA-included; the empty block's header alone covers it. A second
 * header on DA where ours came from DA is only counted; a DA header that
 * contradicts a block applied from P2P stops the node (BM_EFORK), and the
 * store keeps the applied block.
 */
static void test_sync_da_after_p2p(void **state)
{
    static const char *const *const ch[] = {tx1, tx2, NULL, tx3};
    struct chain c;
    struct at_node n;
    struct bm_sync_da_progress pr = {30, false};
    struct bm_signed_header fork = {0};
    struct bm_errmsg em = {{0}};

    (void)state;
    build_chain(&c, 4, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    for (uint64_t h = 1; h <= 4; h++) {
        send_h(&n, &c, h, 0, BM_SRC_P2P);
        send_d(&n, &c, h, 0, BM_SRC_P2P);
    }
    wait_height(&n, 4);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_p2p), 4);

    send_h(&n, &c, 1, 20, BM_SRC_DA);
    send_d(&n, &c, 1, 21, BM_SRC_DA);
    send_h(&n, &c, 2, 22, BM_SRC_DA);
    send_d(&n, &c, 2, 22, BM_SRC_DA);
    send_h(&n, &c, 3, 23, BM_SRC_DA); /* empty block: no data blob */
    assert_int_equal(bm_sync_tell_da_progress(n.sys, bm_env_sync(&n.env), &pr),
                     BM_OK);
    wait_rhb(&n, 3, 'h');
    assert_int_equal(rhb(&n, 1, 'h'), 20);
    assert_int_equal(rhb(&n, 1, 'd'), 21);
    assert_int_equal(rhb(&n, 2, 'h'), 22);
    assert_int_equal(rhb(&n, 2, 'd'), 22);
    assert_int_equal(rhb(&n, 3, 'h'), 23);
    assert_int_equal(meta_u64(&n, BM_META_DA_CURSOR), 30);
    assert_int_equal(atomic_load(&n.env.m.da_conflicts), 0);

    /* Data on DA whose txs are not the applied header's: counted only. */
    {
        struct bm_sync_data_in m = {0};

        m.data = bm_xcalloc(1, sizeof(*m.data));
        assert_int_equal(bm_data_copy(m.data, &c.data[1]), BM_OK);
        assert_int_equal(bm_data_add_tx(m.data, (const uint8_t *)"x=9", 3),
                         BM_OK);
        m.da_height = 24;
        m.source = BM_SRC_DA;
        assert_int_equal(
            bm_sync_tell_data_in(n.sys, bm_env_sync(&n.env), &m), BM_OK);
    }
    /* A second header on DA for height 1 (ours came from DA): counted. */
    forked_header(&n, &c, 1, &fork);
    send_header_sh(&n, &fork, 25, BM_SRC_DA);
    bm_signed_header_release(&fork);
    wait_handled(&n, 16); /* 8 P2P, 5 DA, progress, data, header */
    assert_int_equal(atomic_load(&n.env.m.da_conflicts), 2);
    assert_false(bm_env_halted(&n.env));

    /* Height 4 came from P2P only: another block for it on DA is fatal. */
    forked_header(&n, &c, 4, &fork);
    send_header_sh(&n, &fork, 26, BM_SRC_DA);
    bm_signed_header_release(&fork);
    assert_int_equal(bm_env_wait_fatal(&n.env, WAIT_MS, &em), BM_EFORK);
    assert_non_null(strstr(em.msg, "contradicts the block applied from P2P"));
    assert_int_equal(atomic_load(&n.env.m.da_conflicts), 3);
    check_store(&n, &c, 4);
    at_node_close(&n, true);
    chain_release(&c);
}

/* DA data found before the block's header came by P2P: the block is
 * applied from the P2P header and that cached DA data, and the data's DA
 * height is recorded with the commit (rhb/<h>/d), or the DAIncluder would
 * wait for a blob the retriever has passed (e2e step 9 stalled on it). */
static void test_sync_da_data_before_p2p_header(void **state)
{
    static const char *const *const ch[] = {tx1, tx2};
    struct chain c;
    struct at_node n;
    struct bm_errmsg em = {{0}};
    uint64_t v = 0;
    char name[64];

    (void)state;
    build_chain(&c, 2, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    send_d(&n, &c, 1, 21, BM_SRC_DA);
    send_d(&n, &c, 1, 0, BM_SRC_P2P); /* the cached DA copy stays */
    send_h(&n, &c, 1, 0, BM_SRC_P2P);
    send_h(&n, &c, 2, 0, BM_SRC_P2P);
    send_d(&n, &c, 2, 0, BM_SRC_P2P);
    wait_height(&n, 2);
    assert_int_equal(rhb(&n, 1, 'd'), 21);
    /* Its header is not known on DA yet: no rhb/1/h; it comes with the
     * DA header at the applied height. */
    bm_meta_rhb_name(name, sizeof(name), 1, 'h');
    assert_int_equal(bm_meta_get_u64(n.store, name, &v, &em), BM_ENOTFOUND);
    bm_meta_rhb_name(name, sizeof(name), 2, 'd');
    assert_int_equal(bm_meta_get_u64(n.store, name, &v, &em), BM_ENOTFOUND);
    check_store(&n, &c, 2);
    at_node_close(&n, true);
    chain_release(&c);
}

/* The other order: the P2P copy of the data (or header) is cached first
 * and the same piece then found on DA (dropped as a duplicate): its DA
 * height is kept and recorded with the commit all the same. */
static void test_sync_p2p_data_then_da_copy(void **state)
{
    static const char *const *const ch[] = {tx1, tx2};
    struct chain c;
    struct at_node n;

    (void)state;
    build_chain(&c, 2, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);
    send_d(&n, &c, 1, 0, BM_SRC_P2P);
    send_d(&n, &c, 1, 31, BM_SRC_DA);
    send_h(&n, &c, 1, 0, BM_SRC_P2P);
    wait_height(&n, 1);
    assert_int_equal(rhb(&n, 1, 'd'), 31);
    /* Headers alike: block 2's P2P header is cached (its data has not
     * come), then found on DA; the block still counts as from P2P. */
    send_h(&n, &c, 2, 0, BM_SRC_P2P);
    send_h(&n, &c, 2, 32, BM_SRC_DA);
    send_d(&n, &c, 2, 0, BM_SRC_P2P);
    wait_height(&n, 2);
    assert_int_equal(rhb(&n, 2, 'h'), 32);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_p2p), 2);
    check_store(&n, &c, 2);
    at_node_close(&n, true);
    chain_release(&c);
}

/*
 * The DA copy of a piece that came by P2P and waits in the cache (its
 * block is not applied yet: the other piece is missing) is not dropped as
 * a duplicate: its DA height is kept and written with the block. Found by
 * the crash loop (tests/reliability): after a restart a P2P + DA follower
 * gets both copies at once while it catches up; with the DA heights
 * dropped and the DA cursor past them, those blocks never became
 * DA-included and the DA-included height stopped for good.
 */
static void test_sync_da_copy_of_cached_p2p(void **state)
{
    static const char *const *const ch[] = {tx1, tx2};
    struct chain c;
    struct at_node n;
    struct bm_sync_da_progress pr = {30, false};

    (void)state;
    build_chain(&c, 2, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    /* Height 1: the P2P header waits for its data; the DA copy of the
     * header comes, then the data from DA. */
    send_h(&n, &c, 1, 0, BM_SRC_P2P);
    send_h(&n, &c, 1, 5, BM_SRC_DA);
    send_d(&n, &c, 1, 6, BM_SRC_DA);
    wait_height(&n, 1);
    assert_int_equal(rhb(&n, 1, 'h'), 5);
    assert_int_equal(rhb(&n, 1, 'd'), 6);

    /* Height 2: the P2P data waits for its header; its DA copy comes, then
     * the header from P2P; the DA header comes after the block applied. */
    send_d(&n, &c, 2, 0, BM_SRC_P2P);
    send_d(&n, &c, 2, 7, BM_SRC_DA);
    send_h(&n, &c, 2, 0, BM_SRC_P2P);
    wait_height(&n, 2);
    assert_int_equal(rhb(&n, 2, 'd'), 7);
    send_h(&n, &c, 2, 8, BM_SRC_DA);
    assert_int_equal(bm_sync_tell_da_progress(n.sys, bm_env_sync(&n.env), &pr),
                     BM_OK);
    wait_rhb(&n, 2, 'h');
    assert_int_equal(rhb(&n, 2, 'h'), 8);
    assert_int_equal(meta_u64(&n, BM_META_DA_CURSOR), 30);
    assert_int_equal(atomic_load(&n.env.m.da_conflicts), 0);
    check_store(&n, &c, 2);
    at_node_close(&n, true);
    chain_release(&c);
}

/* Puts sh (as a P2PSignedHeader) at its height in the header store,
 * replacing what is held there. */
static void p2p_put_header(struct bm_p2pstore *ps,
                           const struct bm_signed_header *sh)
{
    struct bm_p2p_signed_header p;
    struct bm_p2pstore_entry e = {0};
    struct bm_buf b = {0};

    memset(&p, 0, sizeof(p));
    p.sh = *sh; /* borrowed for the encode */
    p.has_da_height_hint = true;
    assert_int_equal(bm_p2p_signed_header_encode(&p, &b), BM_OK);
    e.height = sh->header.height;
    assert_int_equal(bm_header_hash(&sh->header, &e.hash), BM_OK);
    if (bm_p2pstore_replace(ps, &e, b.ptr, b.len) == BM_ENOTFOUND) {
        assert_int_equal(bm_p2pstore_put(ps, &e, b.ptr, b.len), BM_OK);
    }
    bm_buf_release(&b);
}

static void p2p_put_data(struct bm_p2pstore *ps, const struct bm_data *d)
{
    struct bm_p2p_data p;
    struct bm_p2pstore_entry e = {0};
    struct bm_buf b = {0};

    memset(&p, 0, sizeof(p));
    p.data = *d; /* borrowed for the encode */
    assert_int_equal(bm_p2p_data_encode(&p, &b), BM_OK);
    e.height = d->metadata.height;
    assert_int_equal(bm_p2pstore_put(ps, &e, b.ptr, b.len), BM_OK);
    bm_buf_release(&b);
}

struct counter_wait {
    atomic_uint_least64_t *c;
    uint64_t want;
};

static bool counter_reached(void *arg)
{
    struct counter_wait *w = arg;

    return atomic_load(w->c) >= w->want;
}

/*
 * P2P stores -> StoreSync -> Sync -> Validator -> State, all real: the
 * good blocks are applied (source p2p); a forged signature (skipped by
 * StoreSync), a wrong chain ID signed by the proposer (rejected by the
 * Validator) and a fork at an applied height (never handed over) apply
 * nothing and are counted; once the right header arrives, StoreSync hands
 * it over again after its stall timeout and it is applied.
 */
static void test_sync_from_p2p_stores(void **state)
{
    static const char *const *const ch[] = {tx1, tx2, NULL, tx3};
    struct chain c;
    struct at_node n;
    struct bm_p2pstore *hs = NULL, *ds = NULL;
    struct bm_p2p_store hv, dv;
    struct bm_signed_header bad = {0};
    struct counter_wait cw;

    (void)state;
    build_chain(&c, 4, ch);
    open_receiver(&n, &c, NULL);
    assert_int_equal(bm_p2pstore_new(&hs, BM_P2PSTORE_HEADERS, 0, 0), BM_OK);
    assert_int_equal(bm_p2pstore_new(&ds, BM_P2PSTORE_DATA, 0, 0), BM_OK);
    bm_p2pstore_view(hs, &hv);
    bm_p2pstore_view(ds, &dv);
    n.env.header_store = &hv;
    n.env.data_store = &dv;
    spawn_sync_node(&n);
    at_spawn(&n, &bm_store_sync_actor_type, &n.env.ids.store_sync, true,
             BM_OVERFLOW_DROP_OLDEST);
    at_start(&n);

    for (uint64_t h = 1; h <= 3; h++) {
        p2p_put_header(hs, &c.sh[h - 1]);
        p2p_put_data(ds, &c.data[h - 1]);
    }
    wait_height(&n, 3);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_p2p), 3);

    /* A fork at applied height 2, signed by the proposer: held, never
     * handed over (StoreSync starts above the store height). */
    forked_header(&n, &c, 2, &bad);
    p2p_put_header(hs, &bad);
    bm_signed_header_release(&bad);
    /* Height 4: a forged signature, then the right data. */
    assert_int_equal(bm_signed_header_copy(&bad, &c.sh[3]), BM_OK);
    bad.signature.ptr[0] ^= 1;
    p2p_put_header(hs, &bad);
    bm_signed_header_release(&bad);
    p2p_put_data(ds, &c.data[3]);
    cw = (struct counter_wait){&n.env.m.p2p_items_skipped, 1};
    assert_true(at_wait(counter_reached, &cw, WAIT_MS));
    /* Another chain's header, signed by the proposer: the Validator. */
    assert_int_equal(bm_signed_header_copy(&bad, &c.sh[3]), BM_OK);
    assert_int_equal(bm_str_set(&bad.header.chain_id, "other-chain"), BM_OK);
    assert_int_equal(bm_signed_header_sign(&bad, &n.key), BM_OK);
    p2p_put_header(hs, &bad);
    bm_signed_header_release(&bad);
    cw = (struct counter_wait){&n.env.m.p2p_blocks_rejected, 1};
    assert_true(at_wait(counter_reached, &cw, WAIT_MS));
    assert_int_equal(store_height(&n), 3);
    check_store(&n, &c, 3); /* block 2 is still the chain's */

    /* The right header: handed over again, applied. */
    p2p_put_header(hs, &c.sh[3]);
    wait_height(&n, 4);
    check_store(&n, &c, 4);
    check_app_hash(&n, &c);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_p2p), 4);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
    bm_p2pstore_free(hs);
    bm_p2pstore_free(ds);
    chain_release(&c);
}

/* Appends the header and data of c's height h, found at DA height da,
 * to m (whose arrays have room for them). */
static void items_add(struct bm_sync_items_in *m, const struct chain *c,
                      uint64_t h, uint64_t da)
{
    struct bm_sync_header_in *hi = &m->headers[m->n_headers++];
    struct bm_sync_data_in *di = &m->data[m->n_data++];

    hi->sh = bm_xcalloc(1, sizeof(*hi->sh));
    assert_int_equal(bm_signed_header_copy(hi->sh, &c->sh[h - 1]), BM_OK);
    hi->da_height = da;
    hi->source = BM_SRC_DA;
    di->data = bm_xcalloc(1, sizeof(*di->data));
    assert_int_equal(bm_data_copy(di->data, &c->data[h - 1]), BM_OK);
    di->da_height = da;
    di->source = BM_SRC_DA;
}

/* Heights from..to of c (header and data) as one ITEMS_IN from DA
 * height da, as the Retriever sends a DA height. */
static void send_items(struct at_node *n, const struct chain *c,
                       uint64_t from, uint64_t to, uint64_t da)
{
    struct bm_sync_items_in m = {0};
    size_t k = (size_t)(to - from + 1);

    m.headers = bm_xcalloc(k, sizeof(*m.headers));
    m.data = bm_xcalloc(k, sizeof(*m.data));
    for (uint64_t h = from; h <= to; h++) {
        items_add(&m, c, h, da);
    }
    assert_int_equal(bm_sync_tell_items_in(n->sys, bm_env_sync(&n->env), &m),
                     BM_OK);
}

static void send_progress(struct at_node *n, uint64_t cursor, bool more)
{
    struct bm_sync_da_progress pr = {cursor, more};

    assert_int_equal(bm_sync_tell_da_progress(n->sys, bm_env_sync(&n->env),
                                              &pr),
                     BM_OK);
}

/*
 * Groups across DA heights (sync.h): while the Retriever says more DA
 * heights follow, ready blocks may be held for a bigger group, but never
 * lost or stuck: a FLUSH sent after them finds them applied; with nothing
 * after them, the hold's timer applies them; a DA height that ends the
 * catch-up (more = false) applies everything at once. Every block is
 * validated and committed as before (same store, same app hash).
 */
static void test_sync_hold_across_da_heights(void **state)
{
    static const char *const *const ch[] = {tx1, tx2, tx3, tx5, tx1, tx2};
    struct chain c;
    struct at_node n;
    struct bm_sync_flush req = {0};
    struct bm_sync_flushed res = {0};

    (void)state;
    build_chain(&c, 6, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    /* DA heights 1 and 2, more to come: a FLUSH after them sees both. */
    send_progress(&n, 1, true);
    send_items(&n, &c, 1, 1, 1);
    send_progress(&n, 2, true);
    send_items(&n, &c, 2, 3, 2);
    send_progress(&n, 3, true);
    assert_int_equal(bm_sync_call_flush(n.sys, bm_env_sync(&n.env), &req,
                                        &res, WAIT_MS),
                     BM_OK);
    assert_int_equal(res.height, 3);
    assert_int_equal(store_height(&n), 3);

    /* More announced, nothing follows: the timer applies it. */
    send_items(&n, &c, 4, 4, 3);
    send_progress(&n, 4, true);
    wait_height(&n, 4);

    /* The last DA height of a catch-up: applied with what was held. */
    send_items(&n, &c, 5, 5, 4);
    send_progress(&n, 5, true);
    send_items(&n, &c, 6, 6, 5);
    send_progress(&n, 6, false);
    wait_height(&n, 6);
    check_store(&n, &c, 6);
    check_app_hash(&n, &c);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_da), 6);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
    chain_release(&c);
}

/*
 * A bad block in the middle of what one DA height completes: its data
 * does not match its header (another tx), so it is refused (its data
 * dropped, its header kept) and never applied; the blocks before it are
 * committed as one group whose DA cursor (written once, with the group's
 * last block) is the DA height of the refused block's header, the lowest
 * one still waiting, so a restart scans that height again. The right data
 * from a later DA height then completes the rest, and the chain ends with
 * the app hash of the good chain.
 */
static void test_sync_group_bad_block_in_middle(void **state)
{
    static const char *const *const ch[] = {tx1, tx2, tx3, tx5, tx1};
    struct chain c;
    struct at_node n;
    struct bm_sync_items_in m = {0};
    struct bm_sync_flush req = {0};
    struct bm_sync_flushed res = {0};

    (void)state;
    build_chain(&c, 5, ch);
    open_receiver(&n, &c, NULL);
    spawn_sync_node(&n);
    at_start(&n);

    send_progress(&n, 20, false);
    /* heights 1..5 in one ITEMS_IN: 1-2 from DA height 10, 3 from 11,
     * 4-5 from 12; the data of 3 carries a tx its header did not sign */
    m.headers = bm_xcalloc(5, sizeof(*m.headers));
    m.data = bm_xcalloc(5, sizeof(*m.data));
    for (uint64_t h = 1; h <= 5; h++) {
        items_add(&m, &c, h, h <= 2 ? 10 : h == 3 ? 11 : 12);
    }
    assert_int_equal(bm_buf_set(&m.data[2].data->txs[0],
                                (const uint8_t *)"z=9", 3),
                     BM_OK);
    assert_int_equal(bm_sync_tell_items_in(n.sys, bm_env_sync(&n.env), &m),
                     BM_OK);
    /* FLUSH: everything sent before it was handled */
    assert_int_equal(bm_sync_call_flush(n.sys, bm_env_sync(&n.env), &req,
                                        &res, WAIT_MS),
                     BM_OK);
    assert_int_equal(res.height, 2);
    assert_int_equal(store_height(&n), 2);
    assert_int_equal(meta_u64(&n, BM_META_DA_CURSOR), 11);
    assert_int_equal(rhb(&n, 2, 'h'), 10);

    send_d(&n, &c, 3, 13, BM_SRC_DA);
    wait_height(&n, 5);
    assert_int_equal(meta_u64(&n, BM_META_DA_CURSOR), 20);
    assert_int_equal(rhb(&n, 3, 'h'), 11);
    assert_int_equal(rhb(&n, 3, 'd'), 13);
    assert_int_equal(rhb(&n, 5, 'd'), 12);
    check_store(&n, &c, 5);
    check_app_hash(&n, &c);
    assert_int_equal(atomic_load(&n.env.m.blocks_synced_da), 5);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
    chain_release(&c);
}

/* An injectable fault layer over the KV executor: execute_txs fails at
 * fail_height, everything else is forwarded. */
struct fault_exec {
    uint64_t fail_height;
    enum bm_err err; /* the injected error */
    atomic_int fails;
};

/* ctx: the at_exec_wrap; its arg: the struct fault_exec. */
static enum bm_err fx_execute(void *ctx, const struct bm_buf *txs, size_t n,
                              uint64_t height, uint64_t time_ns,
                              const uint8_t *prev, size_t prev_len,
                              struct bm_exec_result *out, struct bm_errmsg *em)
{
    struct at_exec_wrap *w = ctx;
    struct fault_exec *f = w->arg;

    if (height == f->fail_height) {
        atomic_fetch_add(&f->fails, 1);
        return bm_errf(em, f->err, "execute_txs: injected failure at %llu",
                       (unsigned long long)height);
    }
    return w->inner->ops->execute_txs(w->inner->ctx, txs, n, height, time_ns,
                                      prev, prev_len, out, em);
}

static const struct bm_executor_ops fault_ops = {.execute_txs = fx_execute};
/* Execution failing at height 2 with err is fatal after `tries`
 * attempts: BM_EEXEC, the store stays at 1, exec_failures counts it. */
static void exec_failure_fatal(enum bm_err err, int tries)
{
    static const char *const *const ch[] = {tx1, tx2};
    struct chain c;
    struct at_node n;
    struct fault_exec fx;
    struct at_exec_wrap wrap;
    struct bm_executor ex;
    struct bm_errmsg em = {{0}};

    build_chain(&c, 2, ch);
    open_receiver(&n, &c, NULL);
    memset(&fx, 0, sizeof(fx));
    fx.fail_height = 2;
    fx.err = err;
    atomic_init(&fx.fails, 0);
    at_exec_wrap(&wrap, &n.exec, &fault_ops, &fx, &ex);
    n.env.exec = &ex;
    spawn_sync_node(&n);
    at_start(&n);

    send_h(&n, &c, 1, 0, BM_SRC_P2P);
    send_d(&n, &c, 1, 0, BM_SRC_P2P);
    wait_height(&n, 1);
    send_h(&n, &c, 2, 0, BM_SRC_P2P);
    send_d(&n, &c, 2, 0, BM_SRC_P2P);
    assert_int_equal(bm_env_wait_fatal(&n.env, WAIT_MS, &em), BM_EEXEC);
    assert_true(bm_env_halted(&n.env));
    assert_int_equal(atomic_load(&fx.fails), tries);
    assert_int_equal(atomic_load(&n.env.m.exec_failures), 1);
    assert_int_equal(store_height(&n), 1);
    at_node_close(&n, true);
    chain_release(&c);
}

/* An executor error: fatal after its 3 attempts. */
static void test_sync_exec_failure_fatal(void **state)
{
    (void)state;
    exec_failure_fatal(BM_EPROTO, 3);
}

/* A full or failing disk under the executor (BM_EIO): fatal at the first
 * failure, no retry into pages LMDB frees (docs/OPERATIONS.md, Disk
 * full). */
static void test_sync_exec_disk_error_fatal_at_once(void **state)
{
    (void)state;
    exec_failure_fatal(BM_EIO, 1);
}

/* The execution client judged the block invalid (BM_EEXEC_INVALID): a
 * verdict, fatal at the first answer. */
static void test_sync_exec_invalid_fatal_at_once(void **state)
{
    (void)state;
    exec_failure_fatal(BM_EEXEC_INVALID, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_orders),
        cmocka_unit_test(test_sync_empty_synthesis),
        cmocka_unit_test(test_sync_group_empty_synthesis),
        cmocka_unit_test(test_sync_bad_signature_and_duplicates),
        cmocka_unit_test(test_sync_cache_bound),
        cmocka_unit_test(test_sync_da_meta),
        cmocka_unit_test(test_sync_da_after_p2p),
        cmocka_unit_test(test_sync_da_data_before_p2p_header),
        cmocka_unit_test(test_sync_p2p_data_then_da_copy),
        cmocka_unit_test(test_sync_da_copy_of_cached_p2p),
        cmocka_unit_test(test_sync_from_p2p_stores),
        cmocka_unit_test(test_sync_exec_failure_fatal),
        cmocka_unit_test(test_sync_exec_disk_error_fatal_at_once),
        cmocka_unit_test(test_sync_exec_invalid_fatal_at_once),
        cmocka_unit_test(test_sync_hold_across_da_heights),
        cmocka_unit_test(test_sync_group_bad_block_in_middle),
    };

    return BM_TEST_RUN(tests);
}
