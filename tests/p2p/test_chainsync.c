/*
 * Chain sync over P2P (src/p2p/chainsync.h) with real block stores in temp
 * dirs and real hosts on 127.0.0.1:
 *  - the topic validators: every Accept / Ignore / Reject rule of the
 *    header and data topics, counted by reason, nothing kept;
 *  - the exchange server over the block store: ranges, head, NOT_FOUND,
 *    by hash, the da_height_hint appended from rhb/<h>/h|d;
 *  - a follower catching up by the exchange within its window, pruning as
 *    its store advances, then following gossip from the broadcaster;
 *  - a peer that publishes headers signed by another key or for another
 *    chain: all rejected, nothing kept, and it is disconnected.
 */
#include "gossip_util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "chain_fixture.h"
#include "p2p/chainsync.h"
#include "p2p/floodsub.h"
#include "p2p/headerex.h"
#include "p2p/p2pstore.h"
#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#define CHAIN "cs-chain"

/* A block store in a temp home. */
struct tstore {
    char home[64];
    struct bm_store *s;
};

static void tstore_open(struct tstore *t)
{
    assert_int_equal(cf_temp_store_open("cs", t->home, sizeof(t->home),
                                        &t->s),
                     BM_OK);
}

static void tstore_close(struct tstore *t)
{
    cf_temp_store_close(t->home, t->s);
}

static uint64_t height_of(struct bm_store *s)
{
    uint64_t h = 0;

    (void)bm_store_height(s, &h, NULL);
    return h;
}

/* A node: a host, a store, chainsync over both. */
struct node {
    struct gu_host host;
    struct tstore store;
    struct bm_chainsync *cs;
    atomic_int notified;
    bool follow;
};

static void on_items(void *arg)
{
    struct node *n = arg;

    atomic_fetch_add(&n->notified, 1);
}

static bool follow(void *arg)
{
    struct node *n = arg;

    return n->follow;
}

static void node_open(struct node *n, const struct cf_chain *c, uint8_t seed,
                      uint64_t stored, size_t window)
{
    struct bm_chainsync_config cfg = {0};
    struct bm_chainsync_hooks hooks = {0};
    struct bm_errmsg em = {{0}};
    int err;

    memset(n, 0, sizeof(*n));
    atomic_init(&n->notified, 0);
    n->follow = true;
    gu_host_new(&n->host, seed);
    tstore_open(&n->store);
    if (stored > 0) {
        assert_int_equal(cf_store_write(n->store.s, c, 1, stored), BM_OK);
    }
    cfg.host = n->host.h;
    cfg.genesis = &c->genesis;
    cfg.store = n->store.s;
    cfg.block_time_ms = 100;
    cfg.tick_ms = 50;
    cfg.window_items = window;
    err = bm_chainsync_new(&n->cs, &cfg, &em);
    if (err != BM_OK) {
        fail_msg("chainsync: %s", bm_errmsg_str(&em, err));
    }
    hooks.follow = follow;
    hooks.follow_arg = n;
    hooks.on_items = on_items;
    hooks.on_items_arg = n;
    assert_int_equal(bm_chainsync_attach(n->cs, &hooks), BM_OK);
}

static void node_start(struct node *n)
{
    assert_int_equal(bm_p2p_host_start(n->host.h), BM_OK);
    assert_int_equal(bm_chainsync_start(n->cs), BM_OK);
}

static void node_close(struct node *n)
{
    bm_chainsync_stop(n->cs);
    (void)bm_p2p_host_stop(n->host.h);
    bm_chainsync_free(n->cs);
    gu_host_free(&n->host);
    tstore_close(&n->store);
}

static struct bm_p2pstore *pstore(struct node *n, enum bm_chainsync_net w)
{
    return bm_chainsync_store(n->cs, w);
}

/* ------------------------------------------------------------ validators */

static void check_is(struct node *n, enum bm_chainsync_net w,
                     const struct bm_buf *b, enum bm_floodsub_verdict v,
                     enum bm_chainsync_reason why, const char *what)
{
    enum bm_chainsync_reason got = BM_CS_REASON_COUNT;
    enum bm_floodsub_verdict gv =
        bm_chainsync_check(n->cs, w, b->ptr, b->len, &got);

    if (gv != v || (v != BM_FLOODSUB_ACCEPT && got != why)) {
        fail_msg("%s: verdict %d reason %s, want %d %s", what, (int)gv,
                 bm_chainsync_reason_name(got), (int)v,
                 bm_chainsync_reason_name(why));
    }
}

/* Block h's header with `edit` applied, signed by key. */
static void edited_header(const struct cf_chain *c, uint64_t h,
                          void (*edit)(struct bm_signed_header *sh),
                          const struct bm_privkey *key, struct bm_buf *out)
{
    struct bm_signed_header sh = {0};

    assert_int_equal(bm_signed_header_copy(&sh, &c->b[h].sh), BM_OK);
    edit(&sh);
    assert_int_equal(cf_p2p_header_of(&sh, key, out), BM_OK);
    bm_signed_header_release(&sh);
}

static void edit_time(struct bm_signed_header *sh)
{
    sh->header.time += 1000u;
}

static void edit_future(struct bm_signed_header *sh)
{
    sh->header.time = bm_validate_now_ns() + 30ull * 1000000000ull;
}

static void edit_chain(struct bm_signed_header *sh)
{
    assert_int_equal(bm_str_set(&sh->header.chain_id, "other-chain"), BM_OK);
}

static void edit_link(struct bm_signed_header *sh)
{
    memset(sh->header.last_header_hash.ptr, 0x5a,
           sh->header.last_header_hash.len);
}

/* Signed by another key that names itself the proposer: ValidateBasic
 * passes, the expected proposer does not. */
static void other_proposer(const struct cf_chain *c, uint64_t h,
                           struct bm_buf *out)
{
    struct bm_signed_header sh = {0};
    struct bm_privkey other;
    uint8_t seed[32];

    memset(seed, 0x77, sizeof(seed));
    bm_privkey_from_seed(&other, seed);
    assert_int_equal(bm_signed_header_copy(&sh, &c->b[h].sh), BM_OK);
    assert_int_equal(bm_signer_from_privkey(&sh.signer, &other), BM_OK);
    assert_int_equal(
        bm_buf_copy(&sh.header.proposer_address, &sh.signer.address), BM_OK);
    assert_int_equal(cf_p2p_header_of(&sh, &other, out), BM_OK);
    bm_signed_header_release(&sh);
    bm_privkey_wipe(&other);
}

static void put_header(struct node *n, const struct cf_chain *c, uint64_t h)
{
    struct bm_p2pstore_entry e = {h, c->b[h].hash, c->b[h].sh.header.time};
    struct bm_buf b = {0};

    assert_int_equal(cf_p2p_header(c, h, 0, &b), BM_OK);
    assert_int_equal(bm_p2pstore_put(pstore(n, BM_CS_HEADERS), &e, b.ptr,
                                     b.len),
                     BM_OK);
    bm_buf_release(&b);
}

static void test_validators(void **s)
{
    struct cf_chain c;
    struct node n;
    struct bm_buf b = {0};
    struct bm_chainsync_stats st;
    struct bm_data d = {0};

    (void)s;
    assert_int_equal(cf_chain_build(&c, CHAIN, 1, 12, 3), BM_OK);
    node_open(&n, &c, 0x41, 5, 0);

    /* Headers. */
    assert_int_equal(cf_p2p_header(&c, 6, 0, &b), BM_OK);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_ACCEPT, 0, "next header");
    assert_int_equal(cf_p2p_header(&c, 5, 3, &b), BM_OK);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_IGNORE, BM_CS_OLD,
             "applied header again");
    edited_header(&c, 5, edit_time, &c.key, &b);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_REJECT, BM_CS_FORK,
             "forked header at an applied height");
    other_proposer(&c, 6, &b);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_REJECT, BM_CS_PROPOSER,
             "signed by another key");
    {
        struct bm_signed_header sh = {0};

        assert_int_equal(bm_signed_header_copy(&sh, &c.b[6].sh), BM_OK);
        sh.signature.ptr[0] ^= 1;
        assert_int_equal(cf_p2p_header_of(&sh, NULL, &b), BM_OK);
        bm_signed_header_release(&sh);
    }
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_REJECT, BM_CS_SIGNATURE,
             "forged signature");
    edited_header(&c, 6, edit_chain, &c.key, &b);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_REJECT, BM_CS_CHAIN_ID,
             "wrong chain ID");
    edited_header(&c, 6, edit_link, &c.key, &b);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_REJECT, BM_CS_LINKAGE,
             "does not link to the stored parent");
    edited_header(&c, 6, edit_future, &c.key, &b);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_REJECT, BM_CS_TIME,
             "more than 10 s ahead");
    assert_int_equal(bm_buf_set(&b, (const uint8_t *)"\x0a\x03xyz", 5),
                     BM_OK);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_REJECT, BM_CS_DECODE,
             "garbage");
    /* Height 8 with 7 unknown: no linkage check, accepted. */
    assert_int_equal(cf_p2p_header(&c, 8, 0, &b), BM_OK);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_ACCEPT, 0, "gap header");
    put_header(&n, &c, 6);
    assert_int_equal(cf_p2p_header(&c, 6, 0, &b), BM_OK);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_IGNORE, BM_CS_OLD,
             "held header again");
    edited_header(&c, 6, edit_time, &c.key, &b);
    check_is(&n, BM_CS_HEADERS, &b, BM_FLOODSUB_IGNORE, BM_CS_CONFLICT,
             "second header at a held height");

    /* Data. */
    assert_int_equal(cf_p2p_data(&c, 7, 0, &b), BM_OK);
    check_is(&n, BM_CS_DATA, &b, BM_FLOODSUB_IGNORE, BM_CS_NO_HEADER,
             "data before its header");
    assert_int_equal(cf_p2p_data(&c, 6, 0, &b), BM_OK);
    check_is(&n, BM_CS_DATA, &b, BM_FLOODSUB_ACCEPT, 0, "data of a header");
    assert_int_equal(cf_p2p_data(&c, 5, 0, &b), BM_OK);
    check_is(&n, BM_CS_DATA, &b, BM_FLOODSUB_IGNORE, BM_CS_OLD,
             "applied data again");
    assert_int_equal(bm_data_copy(&d, &c.b[6].data), BM_OK);
    assert_int_equal(bm_data_add_tx(&d, (const uint8_t *)"x=1", 3), BM_OK);
    {
        struct bm_p2p_data pd;

        memset(&pd, 0, sizeof(pd));
        pd.data = d;
        assert_int_equal(bm_p2p_data_encode(&pd, &b), BM_OK);
        check_is(&n, BM_CS_DATA, &b, BM_FLOODSUB_REJECT, BM_CS_LINKAGE,
                 "data with txs not the header's");
        pd.data.metadata.height = 5;
        pd.data.metadata.time = c.b[5].sh.header.time;
        assert_int_equal(bm_p2p_data_encode(&pd, &b), BM_OK);
        check_is(&n, BM_CS_DATA, &b, BM_FLOODSUB_REJECT, BM_CS_FORK,
                 "other data at an applied height");
        pd.data.metadata.height = 6;
        assert_int_equal(bm_str_set(&pd.data.metadata.chain_id, "nope"),
                         BM_OK);
        assert_int_equal(bm_p2p_data_encode(&pd, &b), BM_OK);
        check_is(&n, BM_CS_DATA, &b, BM_FLOODSUB_REJECT, BM_CS_CHAIN_ID,
                 "data of another chain");
        pd.data.has_metadata = false;
        assert_int_equal(bm_p2p_data_encode(&pd, &b), BM_OK);
        check_is(&n, BM_CS_DATA, &b, BM_FLOODSUB_REJECT, BM_CS_INVALID,
                 "data without metadata");
        d = pd.data;
    }

    /* Counted by reason; nothing was kept by the checks themselves. */
    bm_chainsync_stats(n.cs, &st);
    assert_int_equal(st.net[BM_CS_HEADERS].validated, 12);
    assert_int_equal(st.net[BM_CS_HEADERS].accepted, 2);
    assert_int_equal(st.net[BM_CS_HEADERS].rejected[BM_CS_FORK], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].rejected[BM_CS_PROPOSER], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].rejected[BM_CS_SIGNATURE], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].rejected[BM_CS_CHAIN_ID], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].rejected[BM_CS_LINKAGE], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].rejected[BM_CS_TIME], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].rejected[BM_CS_DECODE], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].ignored[BM_CS_OLD], 2);
    assert_int_equal(st.net[BM_CS_HEADERS].ignored[BM_CS_CONFLICT], 1);
    assert_int_equal(st.net[BM_CS_DATA].validated, 7);
    assert_int_equal(st.net[BM_CS_DATA].accepted, 1);
    assert_int_equal(st.net[BM_CS_DATA].rejected[BM_CS_LINKAGE], 1);
    assert_int_equal(st.net[BM_CS_DATA].rejected[BM_CS_FORK], 1);
    assert_int_equal(st.net[BM_CS_DATA].rejected[BM_CS_CHAIN_ID], 1);
    assert_int_equal(st.net[BM_CS_DATA].rejected[BM_CS_INVALID], 1);
    assert_int_equal(st.net[BM_CS_DATA].ignored[BM_CS_NO_HEADER], 1);
    assert_int_equal(st.net[BM_CS_DATA].ignored[BM_CS_OLD], 1);
    assert_int_equal(st.net[BM_CS_HEADERS].height, 6); /* the one put */
    assert_int_equal(st.net[BM_CS_DATA].height, 0);
    assert_int_equal(atomic_load(&n.notified), 0);

    bm_data_release(&d);
    bm_buf_release(&b);
    node_close(&n);
    cf_chain_release(&c);
}

/* ------------------------------------------------------------ server */

struct req_ctx {
    struct bm_headerex *x;
    struct bm_peer_id peer;
    struct bm_headerex_request req;
    struct gu_sync s;
    struct bm_headerex_result res;
};

static void req_done(struct bm_headerex *x, struct bm_headerex_result *res,
                     void *arg)
{
    struct req_ctx *r = arg;

    (void)x;
    r->res = *res; /* take the items */
    res->items = NULL;
    res->n_items = 0;
    gu_sync_done(&r->s, res->err);
}

static void req_run(struct bm_p2p_host *h, void *arg)
{
    struct req_ctx *r = arg;
    int err;

    (void)h;
    err = bm_headerex_request_loop(r->x, &r->peer, &r->req, NULL, req_done, r);
    if (err != BM_OK) {
        gu_sync_done(&r->s, err);
    }
}

/* One request from client host `from` (exchange x) to peer. */
static int ask(struct gu_host *from, struct bm_headerex *x,
               const struct bm_peer_id *peer, uint64_t origin,
               uint64_t amount, struct bm_headerex_result *out)
{
    struct req_ctx r;
    int err;

    memset(&r, 0, sizeof(r));
    r.x = x;
    r.peer = *peer;
    r.req.has_origin = true;
    r.req.origin = origin;
    r.req.amount = amount;
    gu_sync_init(&r.s);
    assert_int_equal(bm_p2p_host_post(from->h, req_run, &r), BM_OK);
    err = gu_sync_wait(&r.s, GU_WAIT_MS);
    gu_sync_release(&r.s);
    *out = r.res;
    return err;
}

/* The stored bytes of block h plus the hint field (tag, varint). */
static void expect_item(const struct bm_buf *stored, uint8_t tag,
                        uint64_t hint, struct bm_buf *out)
{
    uint8_t tail[11];
    size_t k = 0;

    tail[k++] = tag;
    do {
        tail[k++] = (uint8_t)((hint & 0x7f) | (hint >= 0x80 ? 0x80 : 0));
        hint >>= 7;
    } while (hint != 0);
    assert_int_equal(bm_buf_set(out, stored->ptr, stored->len), BM_OK);
    out->ptr = bm_xrealloc(out->ptr, out->len + k);
    memcpy(out->ptr + out->len, tail, k);
    out->len += k;
}

static void put_rhb(struct bm_store *s, uint64_t h, char which, uint64_t v)
{
    char name[48];
    uint8_t b[8];

    bm_meta_rhb_name(name, sizeof(name), h, which);
    bm_put_le64(b, v);
    assert_int_equal(bm_store_put_meta(s, name, b, 8, NULL), BM_OK);
}

static void test_server(void **s)
{
    struct cf_chain c;
    struct node a;
    struct gu_host cl;
    struct bm_headerex_config xc;
    struct bm_headerex *hx = NULL, *dx = NULL;
    struct bm_headerex_result res;
    struct bm_buf want = {0};
    struct bm_p2p_signed_header ph = {0};

    (void)s;
    assert_int_equal(cf_chain_build(&c, CHAIN, 1, 100, 2), BM_OK);
    node_open(&a, &c, 0x42, 100, 0);
    a.follow = false; /* a producer: serves, fetches nothing */
    put_rhb(a.store.s, 10, 'h', 7);
    put_rhb(a.store.s, 10, 'd', 300);
    gu_host_new(&cl, 0x43);
    bm_headerex_config_init(&xc);
    xc.network_id = CHAIN "-headerSync";
    assert_int_equal(bm_headerex_new(&hx, cl.h, &xc, NULL), BM_OK);
    xc.network_id = CHAIN "-dataSync";
    assert_int_equal(bm_headerex_new(&dx, cl.h, &xc, NULL), BM_OK);
    node_start(&a);
    assert_int_equal(bm_p2p_host_start(cl.h), BM_OK);
    assert_int_equal(gu_dial(&cl, &a.host), BM_OK);

    /* A range of 64 headers: the stored bytes plus da_height_hint. */
    assert_int_equal(ask(&cl, hx, &a.host.id, 1, 64, &res), BM_OK);
    assert_int_equal(res.n_items, 64);
    for (uint64_t h = 1; h <= 64; h++) {
        expect_item(&c.b[h].header_bytes, 0x20, h == 10 ? 7 : 0, &want);
        assert_true(bm_buf_eq(&res.items[h - 1].bytes, &want));
    }
    assert_int_equal(bm_p2p_signed_header_decode(&ph, res.items[9].bytes.ptr,
                                                 res.items[9].bytes.len),
                     BM_OK);
    assert_true(ph.has_da_height_hint);
    assert_int_equal(ph.da_height_hint, 7);
    bm_headerex_result_release(&res);
    /* Partial range up to the head; the head; NOT_FOUND above it. */
    assert_int_equal(ask(&cl, hx, &a.host.id, 90, 20, &res), BM_OK);
    assert_int_equal(res.n_items, 11);
    bm_headerex_result_release(&res);
    assert_int_equal(ask(&cl, hx, &a.host.id, 0, 1, &res), BM_OK);
    assert_int_equal(res.n_items, 1);
    expect_item(&c.b[100].header_bytes, 0x20, 0, &want);
    assert_true(bm_buf_eq(&res.items[0].bytes, &want));
    bm_headerex_result_release(&res);
    assert_int_equal(ask(&cl, hx, &a.host.id, 101, 1, &res), BM_ENOTFOUND);
    bm_headerex_result_release(&res);
    /* Data: the stored Data plus field 3. */
    assert_int_equal(ask(&cl, dx, &a.host.id, 9, 3, &res), BM_OK);
    assert_int_equal(res.n_items, 3);
    expect_item(&c.b[10].data_bytes, 0x18, 300, &want);
    assert_true(bm_buf_eq(&res.items[1].bytes, &want));
    bm_headerex_result_release(&res);

    bm_p2p_signed_header_release(&ph);
    bm_buf_release(&want);
    (void)bm_p2p_host_stop(cl.h);
    bm_headerex_free(hx);
    bm_headerex_free(dx);
    gu_host_free(&cl);
    node_close(&a);
    cf_chain_release(&c);
}

/* ------------------------------------------------------------ follower */

struct sync_wait {
    struct node *n;
    uint64_t h;
};

static bool contiguous_to(void *arg)
{
    struct sync_wait *w = arg;
    uint64_t base = height_of(w->n->store.s);

    return bm_p2pstore_contiguous(pstore(w->n, BM_CS_HEADERS), base) >=
               w->h &&
           bm_p2pstore_contiguous(pstore(w->n, BM_CS_DATA), base) >= w->h;
}

static void wait_contiguous(struct node *n, uint64_t h)
{
    struct sync_wait w = {n, h};

    if (!gu_eventually(contiguous_to, &w, 20000)) {
        fail_msg("P2P stores not filled to %llu (headers to %llu, data to "
                 "%llu above %llu)",
                 (unsigned long long)h,
                 (unsigned long long)bm_p2pstore_contiguous(
                     pstore(n, BM_CS_HEADERS), height_of(n->store.s)),
                 (unsigned long long)bm_p2pstore_contiguous(
                     pstore(n, BM_CS_DATA), height_of(n->store.s)),
                 (unsigned long long)height_of(n->store.s));
    }
}

/* The manager's view decodes exactly the chain's block h. */
static void check_view(struct node *n, const struct cf_chain *c, uint64_t h)
{
    struct bm_p2p_store hv, dv;
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};
    struct bm_buf b = {0};

    bm_chainsync_stores(n->cs, &hv, &dv);
    assert_int_equal(hv.get_header(hv.ctx, h, &sh), BM_OK);
    assert_int_equal(bm_signed_header_encode(&sh, &b), BM_OK);
    assert_true(bm_buf_eq(&b, &c->b[h].header_bytes));
    assert_int_equal(dv.get_data(dv.ctx, h, &d), BM_OK);
    assert_int_equal(bm_data_encode(&d, &b), BM_OK);
    assert_true(bm_buf_eq(&b, &c->b[h].data_bytes));
    assert_int_equal(hv.get_data(hv.ctx, h, &d), BM_ESTATE);
    bm_signed_header_release(&sh);
    bm_data_release(&d);
    bm_buf_release(&b);
}

struct held_wait {
    struct node *n;
    uint64_t h;
};

static bool holds(void *arg)
{
    struct held_wait *w = arg;

    return bm_p2pstore_has(pstore(w->n, BM_CS_HEADERS), w->h) &&
           bm_p2pstore_has(pstore(w->n, BM_CS_DATA), w->h);
}

/* A serves `stored` blocks of c and does not follow; B (seed + 1, an
 * empty store, a window of 128) follows it. Both started, B dialled A. */
static void pair_start(struct node *a, struct node *b,
                       const struct cf_chain *c, uint8_t seed,
                       uint64_t stored)
{
    node_open(a, c, seed, stored, 0);
    a->follow = false;
    node_open(b, c, (uint8_t)(seed + 1), 0, 128);
    node_start(a);
    node_start(b);
    assert_int_equal(gu_dial(&b->host, &a->host), BM_OK);
}

static void test_follow(void **s)
{
    struct cf_chain c;
    struct node a, b;
    struct bm_broadcaster bc;
    struct bm_chainsync_stats st;
    struct held_wait hw;

    (void)s;
    assert_int_equal(cf_chain_build(&c, CHAIN, 1, 302, 2), BM_OK);
    pair_start(&a, &b, &c, 0x51, 300);

    /* The head (300) is known; the window holds 1..128. */
    wait_contiguous(&b, 128);
    assert_int_equal(bm_p2pstore_height(pstore(&b, BM_CS_HEADERS)), 300);
    gu_sleep(300);
    assert_int_equal(bm_p2pstore_contiguous(pstore(&b, BM_CS_HEADERS), 0),
                     128);
    assert_false(bm_p2pstore_has(pstore(&b, BM_CS_HEADERS), 129));
    check_view(&b, &c, 1);
    check_view(&b, &c, 128);
    assert_true(atomic_load(&b.notified) > 0);
    /* The store advances (as the manager would apply): pruned, refilled. */
    assert_int_equal(cf_store_write(b.store.s, &c, 1, 100), BM_OK);
    wait_contiguous(&b, 228);
    assert_false(bm_p2pstore_has(pstore(&b, BM_CS_HEADERS), 100));
    assert_int_equal(cf_store_write(b.store.s, &c, 101, 300), BM_OK);
    gu_sleep(200);

    /* Gossip: A broadcasts blocks 301 and 302. */
    bm_chainsync_broadcaster(a.cs, &bc);
    for (uint64_t h = 301; h <= 302; h++) {
        assert_int_equal(bc.broadcast_header(bc.ctx, &c.b[h].sh), BM_OK);
        assert_int_equal(bc.broadcast_data(bc.ctx, &c.b[h].data), BM_OK);
    }
    hw = (struct held_wait){&b, 302};
    assert_true(gu_eventually(holds, &hw, 10000));
    check_view(&b, &c, 301);
    check_view(&b, &c, 302);
    assert_int_equal(bm_chainsync_best_height(b.cs), 302);

    bm_chainsync_stats(b.cs, &st);
    assert_true(st.net[BM_CS_HEADERS].heads_asked >= 1);
    assert_true(st.net[BM_CS_HEADERS].ranges_started >= 2);
    assert_true(st.net[BM_CS_HEADERS].items_fetched >= 228);
    assert_true(st.net[BM_CS_DATA].items_fetched >= 228);
    assert_int_equal(st.net[BM_CS_HEADERS].bad_items, 0);
    assert_int_equal(st.net[BM_CS_DATA].bad_items, 0);
    assert_int_equal(st.net[BM_CS_HEADERS].accepted, 2);
    assert_int_equal(st.net[BM_CS_DATA].accepted, 2);
    bm_chainsync_stats(a.cs, &st);
    assert_int_equal(st.net[BM_CS_HEADERS].published, 2);
    assert_int_equal(st.net[BM_CS_DATA].published, 2);
    assert_true(st.exchange[BM_CS_HEADERS].served_ranges >= 4);
    assert_true(st.exchange[BM_CS_HEADERS].served_heads >= 1);

    node_close(&b);
    node_close(&a);
    cf_chain_release(&c);
}

/* ----------------------------------------------------- broken link */

/* arg: the follower (struct node) */
static bool bad_header_seen(void *arg)
{
    struct node *n = arg;
    struct bm_chainsync_stats st;

    bm_chainsync_stats(n->cs, &st);
    return st.net[BM_CS_HEADERS].bad_items >= 1 &&
           bm_p2pstore_contiguous(pstore(n, BM_CS_HEADERS), 0) >= 19;
}

/*
 * A served range whose header 20 does not link to header 19 (re-signed by
 * the proposer: only the hash chain tells). The exchange's verifier holds
 * header 19 decoded when header 20 arrives (its memo) and must still check
 * the link: the follower keeps 1..19, counts a bad item and never holds
 * 20.
 */
static void test_range_bad_link(void **s)
{
    struct cf_chain c;
    struct node a, b;
    struct cf_block *k;

    (void)s;
    assert_int_equal(cf_chain_build(&c, CHAIN, 1, 40, 2), BM_OK);
    k = &c.b[20];
    edit_link(&k->sh);
    assert_int_equal(bm_signed_header_sign(&k->sh, &c.key), BM_OK);
    bm_buf_release(&k->header_bytes);
    assert_int_equal(bm_signed_header_encode(&k->sh, &k->header_bytes),
                     BM_OK);
    assert_int_equal(bm_header_hash(&k->sh.header, &k->hash), BM_OK);
    pair_start(&a, &b, &c, 0x61, 40);

    assert_true(gu_eventually(bad_header_seen, &b, 20000));
    gu_sleep(300);
    assert_int_equal(bm_p2pstore_contiguous(pstore(&b, BM_CS_HEADERS), 0),
                     19);
    assert_false(bm_p2pstore_has(pstore(&b, BM_CS_HEADERS), 20));

    node_close(&b);
    node_close(&a);
    cf_chain_release(&c);
}

/* ------------------------------------------------------------ bad peer */

struct peers_wait {
    struct bm_floodsub *fs;
    uint64_t n;
};

static bool fs_peers(void *arg)
{
    struct peers_wait *w = arg;
    struct bm_floodsub_stats st;

    bm_floodsub_stats(w->fs, &st);
    return st.peers >= w->n;
}

struct dc_wait {
    struct node *n;
};

static bool disconnected(void *arg)
{
    struct dc_wait *w = arg;
    struct bm_chainsync_stats st;

    bm_chainsync_stats(w->n->cs, &st);
    return st.floodsub.peers_disconnected >= 1;
}

static void test_bad_publisher(void **s)
{
    struct cf_chain c;
    struct node b;
    struct gu_host m;
    struct bm_floodsub *fs = NULL;
    struct bm_floodsub_config fc;
    struct bm_chainsync_stats st;
    struct peers_wait pw;
    struct dc_wait dw = {&b};
    struct bm_buf buf = {0};
    char topic[128];

    (void)s;
    assert_int_equal(cf_chain_build(&c, CHAIN, 1, 20, 1), BM_OK);
    node_open(&b, &c, 0x61, 10, 0);
    gu_host_new(&m, 0x62);
    bm_floodsub_config_init(&fc);
    assert_int_equal(bm_floodsub_new(&fs, m.h, &fc, NULL), BM_OK);
    snprintf(topic, sizeof(topic), "%s",
             bm_chainsync_topic(b.cs, BM_CS_HEADERS));
    assert_int_equal(bm_floodsub_subscribe(fs, topic, NULL, NULL), BM_OK);
    node_start(&b);
    assert_int_equal(bm_p2p_host_start(m.h), BM_OK);
    assert_int_equal(gu_dial(&m, &b.host), BM_OK);
    pw = (struct peers_wait){fs, 1};
    assert_true(gu_eventually(fs_peers, &pw, GU_WAIT_MS));
    gu_sleep(200); /* B's hello reached us: B gets what we publish */

    /* Headers 11..: signed by the mallory key, then of another chain. */
    for (uint64_t h = 11; h <= 16; h++) {
        other_proposer(&c, h, &buf);
        assert_int_equal(bm_floodsub_publish(fs, topic, buf.ptr, buf.len),
                         BM_OK);
        edited_header(&c, h, edit_chain, &m.key, &buf);
        (void)bm_floodsub_publish(fs, topic, buf.ptr, buf.len);
    }
    assert_true(gu_eventually(disconnected, &dw, GU_WAIT_MS));
    bm_chainsync_stats(b.cs, &st);
    assert_true(st.net[BM_CS_HEADERS].rejected[BM_CS_PROPOSER] >= 5);
    assert_true(st.net[BM_CS_HEADERS].rejected[BM_CS_PROPOSER] +
                    st.net[BM_CS_HEADERS].rejected[BM_CS_CHAIN_ID] >=
                BM_FLOODSUB_REJECT_LIMIT);
    assert_int_equal(st.net[BM_CS_HEADERS].accepted, 0);
    assert_int_equal(st.floodsub.peers_disconnected, 1);
    assert_int_equal(bm_p2pstore_height(pstore(&b, BM_CS_HEADERS)), 0);
    assert_int_equal(atomic_load(&b.notified), 0);

    bm_buf_release(&buf);
    (void)bm_p2p_host_stop(m.h);
    bm_floodsub_free(fs);
    gu_host_free(&m);
    node_close(&b);
    cf_chain_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_follow),
        cmocka_unit_test(test_range_bad_link),
        cmocka_unit_test(test_bad_publisher),
    };

    assert_int_equal(bm_crypto_init(), BM_OK);
    return BM_TEST_RUN(tests);
}
