/*
 * RetrieverActor against a real local DA server: blobs are put on the DA
 * with the rig's client, a capture actor stands in for the Sync actor
 * (env->ids.sync) and records HEADER_IN / DATA_IN / DA_PROGRESS.
 */
#include "bm_test.h"

#include "actors_test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "actors/retriever.h"
#include "actors/state.h"
#include "actors/sync.h"
#include "blockv2/store.h"
#include "util/errmsg.h"

/* ------------------------------------------------------------ capture */

enum ev_kind { EV_HEADER = 1, EV_DATA, EV_PROGRESS };

struct ev {
    enum ev_kind kind;
    uint64_t value;     /* block height, or the progress cursor */
    uint64_t da_height; /* header/data */
    uint8_t source;
    size_t n_txs;
    int strict_seen;
    bool verified; /* headers: marked sig_verified by the Retriever */
};

#define MAX_EVS 8192

struct capture {
    pthread_mutex_t mu;
    struct ev ev[MAX_EVS];
    size_t n;
    uint64_t last_progress;
    atomic_bool paused; /* handlers wait while set (detached capture) */
};

static struct capture cap;

static void cap_reset(void)
{
    pthread_mutex_lock(&cap.mu);
    cap.n = 0;
    cap.last_progress = 0;
    atomic_store(&cap.paused, false);
    pthread_mutex_unlock(&cap.mu);
}

static void cap_add(struct ev e)
{
    while (atomic_load(&cap.paused)) {
        bm_sleep_ms(5);
    }
    pthread_mutex_lock(&cap.mu);
    if (cap.n < MAX_EVS) {
        cap.ev[cap.n++] = e;
    }
    if (e.kind == EV_PROGRESS) {
        cap.last_progress = e.value;
    }
    pthread_mutex_unlock(&cap.mu);
}

static uint64_t cap_progress(void)
{
    uint64_t v;

    pthread_mutex_lock(&cap.mu);
    v = cap.last_progress;
    pthread_mutex_unlock(&cap.mu);
    return v;
}

static void cap_apply_dtor(void *p)
{
    struct bm_sync_apply *a = p;

    bm_block_unref(a->blk);
    a->blk = NULL;
}

static void cap_header_dtor(void *p)
{
    struct bm_sync_header_in *m = p;

    if (m->sh != NULL) {
        bm_signed_header_release(m->sh);
        bm_free(m->sh);
        m->sh = NULL;
    }
}

static void cap_data_dtor(void *p)
{
    struct bm_sync_data_in *m = p;

    if (m->data != NULL) {
        bm_data_release(m->data);
        bm_free(m->data);
        m->data = NULL;
    }
}

BM_ACTOR_HANDLER(cap_on_apply, struct capture, struct bm_sync_apply)
static int cap_on_apply(struct bm_actor_ctx *ctx, struct capture *st,
                        struct bm_sync_apply *p)
{
    (void)ctx;
    (void)st;
    (void)p;
    return BM_EINVAL;
}

BM_ACTOR_HANDLER(cap_on_header, struct capture, struct bm_sync_header_in)
static int cap_on_header(struct bm_actor_ctx *ctx, struct capture *st,
                         struct bm_sync_header_in *p)
{
    (void)ctx;
    (void)st;
    assert_non_null(p->sh);
    cap_add((struct ev){.kind = EV_HEADER,
                        .value = p->sh->header.height,
                        .da_height = p->da_height,
                        .source = p->source,
                        .verified = p->sig_verified});
    return BM_OK;
}

BM_ACTOR_HANDLER(cap_on_data, struct capture, struct bm_sync_data_in)
static int cap_on_data(struct bm_actor_ctx *ctx, struct capture *st,
                       struct bm_sync_data_in *p)
{
    (void)ctx;
    (void)st;
    assert_non_null(p->data);
    cap_add((struct ev){.kind = EV_DATA,
                        .value = p->data->metadata.height,
                        .da_height = p->da_height,
                        .source = p->source,
                        .n_txs = p->data->n_txs});
    return BM_OK;
}

/* ITEMS_IN: each header, then each data, as if sent one by one. */
BM_ACTOR_HANDLER(cap_on_items, struct capture, struct bm_sync_items_in)
static int cap_on_items(struct bm_actor_ctx *ctx, struct capture *st,
                        struct bm_sync_items_in *p)
{
    for (size_t i = 0; i < p->n_headers; i++) {
        cap_on_header(ctx, st, &p->headers[i]);
    }
    for (size_t i = 0; i < p->n_data; i++) {
        cap_on_data(ctx, st, &p->data[i]);
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(cap_on_flush, struct capture, struct bm_sync_flush)
static int cap_on_flush(struct bm_actor_ctx *ctx, struct capture *st,
                        struct bm_sync_flush *p)
{
    struct bm_sync_flushed out = {0};

    (void)st;
    (void)p;
    return bm_actor_reply(ctx, BM_OK, &out, sizeof(out));
}

BM_ACTOR_HANDLER(cap_on_progress, struct capture, struct bm_sync_da_progress)
static int cap_on_progress(struct bm_actor_ctx *ctx, struct capture *st,
                           struct bm_sync_da_progress *p)
{
    (void)ctx;
    (void)st;
    cap_add((struct ev){.kind = EV_PROGRESS, .value = p->cursor});
    return BM_OK;
}

static const struct bm_msg_kind cap_kinds[BM_SYNC_NKINDS] = {
    [BM_SYNC_APPLY] = BM_MSG_KIND("apply", struct bm_sync_apply,
                                  sizeof(struct bm_sync_applied), NULL,
                                  cap_on_apply, cap_apply_dtor, NULL),
    [BM_SYNC_HEADER_IN] = BM_MSG_KIND("header_in", struct bm_sync_header_in,
                                      0, NULL, cap_on_header,
                                      cap_header_dtor, NULL),
    [BM_SYNC_DATA_IN] = BM_MSG_KIND("data_in", struct bm_sync_data_in, 0,
                                    NULL, cap_on_data, cap_data_dtor, NULL),
    [BM_SYNC_DA_PROGRESS] = BM_MSG_KIND("da_progress",
                                        struct bm_sync_da_progress, 0, NULL,
                                        cap_on_progress, NULL, NULL),
    [BM_SYNC_FLUSH] = BM_MSG_KIND("flush", struct bm_sync_flush,
                                  sizeof(struct bm_sync_flushed), NULL,
                                  cap_on_flush, NULL, NULL),
    [BM_SYNC_ITEMS_IN] = BM_MSG_KIND("items_in", struct bm_sync_items_in, 0,
                                     NULL, cap_on_items,
                                     bm_sync_items_in_dtor, NULL),
    /* Sync's own timer: never sent to the capture. */
    [BM_SYNC_HOLD_OVER] = BM_MSG_KIND("hold_over",
                                      struct bm_sync_da_progress, 0, NULL,
                                      cap_on_progress, NULL, NULL),
    /* HA only: never sent here. */
    [BM_SYNC_ROLLBACK] = BM_MSG_KIND("rollback",
                                     struct bm_sync_da_progress, 0, NULL,
                                     cap_on_progress, NULL, NULL),
};

static const struct bm_actor_type cap_type = {
    .name = "capture-sync",
    .kinds = cap_kinds,
    .n_kinds = BM_SYNC_NKINDS,
};

/* Spawns the capture as env->ids.sync (detached, BLOCK like Sync). */
static void spawn_capture(struct at_node *n, uint32_t capacity,
                          int64_t block_timeout_ms)
{
    struct bm_actor_opts o = {0};

    cap_reset();
    o.name = "sync";
    o.detached = true;
    o.overflow = BM_OVERFLOW_BLOCK;
    o.capacity = capacity;
    o.block_timeout_ms = block_timeout_ms;
    assert_int_equal(bm_actor_spawn(n->sys, &cap_type, &cap, &o,
                                    &n->env.ids.sync),
                     BM_OK);
}

static void spawn_retriever(struct at_node *n)
{
    at_spawn(n, &bm_retriever_actor_type, &n->env.ids.retriever, true,
             BM_OVERFLOW_DROP_OLDEST);
}

/* ------------------------------------------------------------ blobs */

struct blob_spec {
    const struct bm_da_namespace *ns;
    struct bm_buf bytes; /* owned */
};

/* Submits the blobs in one call (one DA height); frees their bytes.
 * Returns the DA height. */
static uint64_t submit(struct at_node *n, struct blob_spec *bs, size_t cnt)
{
    struct bm_da_blob blobs[8];
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    int err;

    assert_true(cnt >= 1 && cnt <= 8);
    memset(blobs, 0, sizeof(blobs));
    for (size_t i = 0; i < cnt; i++) {
        assert_int_equal(bm_da_blob_init_v0(&blobs[i], bs[i].ns,
                                            bs[i].bytes.ptr, bs[i].bytes.len),
                         BM_OK);
        bm_buf_release(&bs[i].bytes);
    }
    err = n->da.ops->submit(n->da.ctx, blobs, cnt, NULL, 5000, &h, &em);
    if (err != BM_OK) {
        fail_msg("submit: %s", bm_errmsg_str(&em, err));
    }
    for (size_t i = 0; i < cnt; i++) {
        bm_da_blob_release(&blobs[i]);
    }
    return h;
}

static struct bm_buf enc_legacy(const struct bm_block *b)
{
    struct bm_buf out = {0};

    assert_int_equal(bm_signed_header_encode(&b->sh, &out), BM_OK);
    return out;
}

static struct bm_buf enc_envelope(const struct bm_block *b,
                                  const struct bm_privkey *k, bool corrupt)
{
    struct bm_da_header_envelope e = {0};
    struct bm_buf out = {0};

    assert_int_equal(bm_signed_header_copy(&e.sh, &b->sh), BM_OK);
    assert_int_equal(bm_da_header_envelope_sign(&e, k), BM_OK);
    if (corrupt) {
        assert_true(e.envelope_signature.len > 0);
        e.envelope_signature.ptr[0] ^= 0x55;
    }
    assert_int_equal(bm_da_header_envelope_encode(&e, &out), BM_OK);
    bm_da_header_envelope_release(&e);
    return out;
}

static struct bm_buf enc_data(const struct bm_block *b,
                              const struct bm_privkey *k)
{
    struct bm_signed_data sd = {0};
    struct bm_buf out = {0};

    assert_int_equal(bm_data_copy(&sd.data, &b->data), BM_OK);
    assert_int_equal(bm_signer_from_privkey(&sd.signer, k), BM_OK);
    assert_int_equal(bm_signed_data_sign(&sd, k), BM_OK);
    assert_int_equal(bm_signed_data_encode(&sd, &out), BM_OK);
    bm_signed_data_release(&sd);
    return out;
}

static struct bm_buf enc_raw(const char *s)
{
    struct bm_buf out = {0};

    assert_int_equal(bm_buf_set(&out, (const uint8_t *)s, strlen(s)), BM_OK);
    return out;
}

/* A block at `height` (on top of the node's latest state with the height
 * bumped; the retriever does not check the chain). */
static struct bm_block *make_block(struct at_node *n, uint64_t height,
                                   const char *const *txs)
{
    struct bm_state st = {0};
    struct bm_block *b;

    at_latest_state(n, &st);
    st.last_block_height = height - 1;
    b = at_make_block(n, &st, txs);
    bm_state_release(&st);
    assert_int_equal(b->sh.header.height, height);
    return b;
}

/* Re-signs b as proposed by key k (self-consistent, wrong proposer). */
static void resign_as(struct bm_block *b, const struct bm_privkey *k)
{
    bm_signer_release(&b->sh.signer);
    assert_int_equal(bm_signer_from_privkey(&b->sh.signer, k), BM_OK);
    assert_int_equal(bm_buf_copy(&b->sh.header.proposer_address,
                                 &b->sh.signer.address),
                     BM_OK);
    assert_int_equal(bm_signed_header_sign(&b->sh, k), BM_OK);
    assert_int_equal(bm_block_rehash(b), BM_OK);
}

static const char *const txs_a[] = {"a=1", "b=2", NULL};
static const char *const txs_b[] = {"c=3", NULL};

/* ------------------------------------------------------------ checks */

static uint64_t want_progress;

static bool progress_reached(void *arg)
{
    (void)arg;
    return cap_progress() >= want_progress;
}

static void wait_progress(uint64_t cursor, int64_t timeout_ms)
{
    want_progress = cursor;
    if (!at_wait(progress_reached, NULL, timeout_ms)) {
        fail_msg("da progress: got %llu, want >= %llu",
                 (unsigned long long)cap_progress(),
                 (unsigned long long)cursor);
    }
}

/*
 * Checks the event order: progress values are consecutive from
 * start + 1, and every header/data found at DA height h arrives after
 * progress(h) and before progress(h + 1). Returns the events (copy).
 */
static size_t check_order(uint64_t start, struct ev *out, size_t max)
{
    uint64_t cur = start;
    size_t n;

    pthread_mutex_lock(&cap.mu);
    n = cap.n < max ? cap.n : max;
    memcpy(out, cap.ev, n * sizeof(*out));
    pthread_mutex_unlock(&cap.mu);
    for (size_t i = 0; i < n; i++) {
        if (out[i].kind == EV_PROGRESS) {
            if (out[i].value != cur + 1) {
                fail_msg("event %zu: progress got %llu, want %llu", i,
                         (unsigned long long)out[i].value,
                         (unsigned long long)(cur + 1));
            }
            cur = out[i].value;
        } else {
            assert_int_equal(out[i].da_height, cur);
            assert_int_equal(out[i].source, BM_SRC_DA);
        }
    }
    return n;
}

struct found {
    uint64_t height;
    uint64_t da_height;
};

/* The header (or data) events, in order. */
static size_t collect(const struct ev *evs, size_t n, enum ev_kind kind,
                      struct found *out, size_t max)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (evs[i].kind == kind && k < max) {
            out[k].height = evs[i].value;
            out[k].da_height = evs[i].da_height;
            k++;
        }
    }
    return k;
}

static struct ev evbuf[MAX_EVS];

static void open_node(struct at_node *n, uint32_t block_time_ms,
                      const char *da_url,
                      const struct bm_manager_config *cfg)
{
    struct at_opts o = {0};

    o.with_da = true;
    o.da_url = da_url;
    o.da_server_block_time_ms = block_time_ms;
    o.cfg = cfg;
    at_node_open(n, &o);
}

/* ------------------------------------------------------------ tests */

/*
 * Headers and data of several blocks, in order with their DA heights:
 * legacy header accepted before the first envelope, refused after it
 * (strict mode); bad envelope signature, wrong proposer, junk and an
 * empty-tx data blob are ignored; a height with only foreign blobs is
 * NotFound and is skipped over.
 */
static void test_found_in_order(void **s)
{
    struct at_node n;
    struct bm_privkey other;
    uint8_t seed[32];
    struct bm_da_namespace foreign;
    struct bm_block *b1, *b2, *b3, *bx, *be;
    uint64_t h1, h2, h3, h4, h5, h6, h7;
    struct found hdr[16], dat[16];
    size_t n_ev, n_hdr, n_dat;

    (void)s;
    open_node(&n, 0, NULL, NULL);
    memset(seed, 0x42, sizeof(seed));
    bm_privkey_from_seed(&other, seed);
    bm_da_namespace_from_string(&foreign, "someone-else", 12);

    b1 = make_block(&n, 1, txs_a);
    b2 = make_block(&n, 2, txs_b);
    b3 = make_block(&n, 3, txs_a);
    bx = make_block(&n, 3, txs_b);
    resign_as(bx, &other);
    be = make_block(&n, 4, NULL);

    {   /* h1: legacy header 1 + data 1 (no envelope seen yet) */
        struct blob_spec bs[] = {{&n.env.ns.header, enc_legacy(b1)},
                                 {&n.env.ns.data, enc_data(b1, &n.key)}};
        h1 = submit(&n, bs, 2);
    }
    {   /* h2: only a foreign blob -> NotFound in our namespaces */
        struct blob_spec bs[] = {{&foreign, enc_envelope(b2, &n.key, false)}};
        h2 = submit(&n, bs, 1);
    }
    {   /* h3: envelope header 2 (strict mode from now on), junk */
        struct blob_spec bs[] = {{&n.env.ns.header, enc_raw("junk-header")},
                                 {&n.env.ns.header,
                                  enc_envelope(b2, &n.key, false)},
                                 {&n.env.ns.data, enc_raw("junk-data")}};
        h3 = submit(&n, bs, 3);
    }
    {   /* h4: data 2; data 1 in the header namespace is not a header */
        struct blob_spec bs[] = {{&n.env.ns.data, enc_data(b2, &n.key)},
                                 {&n.env.ns.header, enc_data(b1, &n.key)}};
        h4 = submit(&n, bs, 2);
    }
    {   /* h5: refused: legacy in strict mode, bad envelope signature,
         * wrong proposer (validly self-signed), data signed by another
         * key, empty-tx data */
        struct blob_spec bs[] = {{&n.env.ns.header, enc_legacy(b3)},
                                 {&n.env.ns.header,
                                  enc_envelope(b3, &n.key, true)},
                                 {&n.env.ns.header,
                                  enc_envelope(bx, &other, false)},
                                 {&n.env.ns.data, enc_data(b3, &other)},
                                 {&n.env.ns.data, enc_data(be, &n.key)}};
        h5 = submit(&n, bs, 5);
    }
    {   /* h6: header 3 (envelope) + data 3 */
        struct blob_spec bs[] = {{&n.env.ns.data, enc_data(b3, &n.key)},
                                 {&n.env.ns.header,
                                  enc_envelope(b3, &n.key, false)}};
        h6 = submit(&n, bs, 2);
    }
    {   /* h7: empty block 4: header only */
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(be, &n.key, false)}};
        h7 = submit(&n, bs, 1);
    }
    assert_true(h1 >= 1);
    assert_true(h1 < h2 && h2 < h3 && h3 < h4 && h4 < h5 && h5 < h6 &&
                h6 < h7);

    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);
    wait_progress(h7 + 1, 30000);

    n_ev = check_order(1, evbuf, MAX_EVS);
    n_hdr = collect(evbuf, n_ev, EV_HEADER, hdr, 16);
    n_dat = collect(evbuf, n_ev, EV_DATA, dat, 16);
    assert_int_equal(n_hdr, 4);
    assert_int_equal(hdr[0].height, 1);
    assert_int_equal(hdr[0].da_height, h1);
    assert_int_equal(hdr[1].height, 2);
    assert_int_equal(hdr[1].da_height, h3);
    assert_int_equal(hdr[2].height, 3);
    assert_int_equal(hdr[2].da_height, h6);
    assert_int_equal(hdr[3].height, 4);
    assert_int_equal(hdr[3].da_height, h7);
    assert_int_equal(n_dat, 3);
    assert_int_equal(dat[0].height, 1);
    assert_int_equal(dat[0].da_height, h1);
    assert_int_equal(dat[1].height, 2);
    assert_int_equal(dat[1].da_height, h4);
    assert_int_equal(dat[2].height, 3);
    assert_int_equal(dat[2].da_height, h6);
    for (size_t i = 0; i < n_ev; i++) {
        if (evbuf[i].kind == EV_DATA) {
            assert_true(evbuf[i].n_txs > 0);
        }
        if (evbuf[i].kind == EV_HEADER) {
            /* Checked here once: the Validator will not verify again. */
            assert_true(evbuf[i].verified);
        }
    }
    assert_true(atomic_load(&n.env.m.da_heights_scanned) >= h7);

    bm_block_unref(b1);
    bm_block_unref(b2);
    bm_block_unref(b3);
    bm_block_unref(bx);
    bm_block_unref(be);
    bm_privkey_wipe(&other);
    at_node_close(&n, true);
}

/*
 * Following the head: with a DA that produces empty heights the cursor
 * keeps advancing (NotFound), waits at the head, and picks up a block
 * submitted later at its DA height. The mailbox stays small (at most one
 * CONTINUE outstanding).
 */
static void test_follow_head(void **s)
{
    struct at_node n;
    struct bm_block *b1;
    struct bm_actor_stats rs;
    struct found hdr[8], dat[8];
    uint64_t h, head;
    size_t n_ev;

    (void)s;
    open_node(&n, 100, NULL, NULL);
    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);

    wait_progress(4, 30000);
    head = bm_da_server_height(n.da_server);
    /* It never runs past the DA head. */
    assert_true(cap_progress() <= bm_da_server_height(n.da_server) + 1);
    wait_progress(head + 3, 30000);

    b1 = make_block(&n, 1, txs_a);
    {
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(b1, &n.key, false)},
                                 {&n.env.ns.data, enc_data(b1, &n.key)}};
        h = submit(&n, bs, 2);
    }
    wait_progress(h + 3, 30000);
    n_ev = check_order(1, evbuf, MAX_EVS);
    assert_int_equal(collect(evbuf, n_ev, EV_HEADER, hdr, 8), 1);
    assert_int_equal(collect(evbuf, n_ev, EV_DATA, dat, 8), 1);
    assert_int_equal(hdr[0].da_height, h);
    assert_int_equal(dat[0].da_height, h);

    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.retriever, &rs),
                     BM_OK);
    assert_true(rs.high_watermark < 256);
    assert_int_equal(atomic_load(&n.env.m.da_retrieve_errors), 0);

    bm_block_unref(b1);
    at_node_close(&n, true);
}

/* Resume: the stored DA cursor is where scanning starts; a configured
 * da_start_height overrides it. (A fresh local DA server is at height 1,
 * so the five submissions land at DA heights 2..6.) */
static void run_resume(uint64_t meta, uint64_t cfg_start, uint64_t want)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct bm_errmsg em = {{0}};
    struct found hdr[8];
    uint8_t v[8];
    uint64_t hs[5];
    size_t n_ev, n_hdr, k = 0;

    bm_manager_config_init(&cfg);
    cfg.block_time_ms = 50;
    cfg.da_block_time_ms = 100;
    cfg.da_start_height = cfg_start;
    open_node(&n, 0, NULL, &cfg);
    for (uint64_t i = 0; i < 5; i++) {
        struct bm_block *b = make_block(&n, i + 1, NULL);
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(b, &n.key, false)}};

        hs[i] = submit(&n, bs, 1);
        assert_true(i == 0 || hs[i] == hs[i - 1] + 1);
        bm_block_unref(b);
    }
    assert_true(want > hs[0] && want <= hs[4]);
    if (meta != 0) {
        bm_put_le64(v, meta);
        assert_int_equal(bm_store_put_meta(n.store, BM_META_DA_CURSOR, v,
                                           sizeof(v), &em),
                         BM_OK);
    }
    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);
    wait_progress(hs[4] + 1, 30000);
    n_ev = check_order(want, evbuf, MAX_EVS);
    n_hdr = collect(evbuf, n_ev, EV_HEADER, hdr, 8);
    for (size_t i = 0; i < 5; i++) {
        if (hs[i] < want) {
            continue;
        }
        assert_true(k < n_hdr);
        assert_int_equal(hdr[k].da_height, hs[i]);
        assert_int_equal(hdr[k].height, i + 1);
        k++;
    }
    assert_int_equal(n_hdr, k);
    at_node_close(&n, true);
}

static void test_resume_from_meta(void **s)
{
    (void)s;
    run_resume(4, 0, 4);
}

static void test_config_start_overrides(void **s)
{
    (void)s;
    run_resume(5, 3, 3);
}

/*
 * DA outage: the server drops every connection for a while; the breaker
 * opens, errors are counted, and once the DA is back the retriever
 * resumes at the height it failed on (no height skipped).
 */
static void test_da_outage(void **s)
{
    struct at_node n;
    struct bm_da_server *srv = NULL;
    struct bm_da_server_config sc = {0};
    struct bm_breaker_stats bs_st;
    struct bm_errmsg em = {{0}};
    struct found hdr[16];
    char home[] = "/tmp/bm-retr-da-XXXXXX";
    char url[64];
    uint64_t hs[6];
    size_t n_ev, n_hdr;
    int err;

    (void)s;
    assert_non_null(mkdtemp(home));
    sc.home = home;
    /* 6 submits, then the retriever's head + 3 GetAll calls succeed. */
    sc.outage_after = 10;
    sc.outage_for_ms = 1500;
    err = bm_da_server_start(&srv, &sc, &em);
    if (err != BM_OK) {
        fail_msg("da server: %s", bm_errmsg_str(&em, err));
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u",
             (unsigned)bm_da_server_port(srv));
    open_node(&n, 0, url, NULL);
    for (uint64_t i = 0; i < 6; i++) {
        struct bm_block *b = make_block(&n, i + 1, txs_b);
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(b, &n.key, false)}};

        hs[i] = submit(&n, bs, 1);
        bm_block_unref(b);
    }
    assert_int_equal(bm_da_server_calls(srv), 6);

    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);
    wait_progress(hs[5] + 1, 60000);

    n_ev = check_order(1, evbuf, MAX_EVS);
    n_hdr = collect(evbuf, n_ev, EV_HEADER, hdr, 16);
    assert_int_equal(n_hdr, 6);
    for (size_t i = 0; i < n_hdr; i++) {
        assert_int_equal(hdr[i].height, i + 1);
        assert_int_equal(hdr[i].da_height, hs[i]);
    }
    assert_true(atomic_load(&n.env.m.da_retrieve_errors) > 0);
    bm_breaker_stats(n.env.da_breaker, &bs_st);
    assert_true(bs_st.transitions >= 2); /* opened, and closed again */
    assert_true(bs_st.rejections > 0);
    assert_int_equal(bs_st.state, BM_BREAKER_CLOSED);

    at_node_close(&n, true);
    bm_da_server_stop(srv);
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
        assert_int_equal(system(cmd), 0);
    }
}

/* One namespace for headers and data (ev-node's default when
 * da.data_namespace is empty): each blob is tried as a header, then as
 * data. */
static void test_single_namespace(void **s)
{
    struct at_node n;
    struct bm_block *b1, *b2;
    struct found hdr[8], dat[8];
    uint64_t h1, h2;
    size_t n_ev;

    (void)s;
    open_node(&n, 0, NULL, NULL);
    n.env.ns.data = n.env.ns.header; /* before the system starts */
    b1 = make_block(&n, 1, txs_a);
    b2 = make_block(&n, 2, txs_b);
    {
        struct blob_spec bs[] = {{&n.env.ns.header, enc_data(b1, &n.key)},
                                 {&n.env.ns.header, enc_legacy(b1)},
                                 {&n.env.ns.header, enc_raw("junk")}};
        h1 = submit(&n, bs, 3);
    }
    {
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(b2, &n.key, false)},
                                 {&n.env.ns.header, enc_data(b2, &n.key)}};
        h2 = submit(&n, bs, 2);
    }
    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);
    wait_progress(h2 + 1, 30000);
    n_ev = check_order(1, evbuf, MAX_EVS);
    assert_int_equal(collect(evbuf, n_ev, EV_HEADER, hdr, 8), 2);
    assert_int_equal(collect(evbuf, n_ev, EV_DATA, dat, 8), 2);
    assert_int_equal(hdr[0].da_height, h1);
    assert_int_equal(hdr[1].da_height, h2);
    assert_int_equal(dat[0].height, 1);
    assert_int_equal(dat[0].da_height, h1);
    assert_int_equal(dat[1].height, 2);
    assert_int_equal(dat[1].da_height, h2);
    bm_block_unref(b1);
    bm_block_unref(b2);
    at_node_close(&n, true);
}

/* b as another chain's block (same proposer): chain ID changed in the
 * header (re-signed by k) and the data. */
static void rechain(struct bm_block *b, const struct bm_privkey *k)
{
    assert_int_equal(bm_str_set(&b->sh.header.chain_id, "another-chain"),
                     BM_OK);
    assert_int_equal(bm_str_set(&b->data.metadata.chain_id, "another-chain"),
                     BM_OK);
    assert_int_equal(bm_signed_header_sign(&b->sh, k), BM_OK);
    assert_int_equal(bm_block_rehash(b), BM_OK);
}

static uint64_t rejected(struct at_node *n, enum bm_da_reject why)
{
    return atomic_load(&n->env.m.da_rejected[why]);
}

/*
 * Every refused blob is counted by reason, and nothing refused reaches
 * Sync: garbage (decode), a header whose signature does not verify
 * (bad_signature), another chain's header and data signed by the real
 * proposer (chain_id: such a header must never hold a height in Sync),
 * a wrong proposer (header and data), a bad envelope signature. The good
 * block after them is delivered.
 */
static void test_refused_counted(void **s)
{
    struct at_node n;
    struct bm_privkey other;
    uint8_t seed[32];
    struct bm_block *good, *badsig, *chain, *wrong;
    struct found hdr[8], dat[8];
    uint64_t h1, h2;
    size_t n_ev;

    (void)s;
    open_node(&n, 0, NULL, NULL);
    memset(seed, 0x43, sizeof(seed));
    bm_privkey_from_seed(&other, seed);
    good = make_block(&n, 1, txs_a);
    badsig = make_block(&n, 1, txs_b);
    badsig->sh.signature.ptr[3] ^= 0x01;
    chain = make_block(&n, 1, txs_b);
    rechain(chain, &n.key);
    wrong = make_block(&n, 1, txs_b);
    resign_as(wrong, &other);
    {
        struct blob_spec bs[] = {
            {&n.env.ns.header, enc_raw("garbage-header")},
            {&n.env.ns.data, enc_raw("garbage-data")},
            {&n.env.ns.header, enc_envelope(badsig, &n.key, false)},
            {&n.env.ns.header, enc_envelope(chain, &n.key, false)},
            {&n.env.ns.data, enc_data(chain, &n.key)},
            {&n.env.ns.header, enc_envelope(wrong, &other, false)},
            {&n.env.ns.data, enc_data(wrong, &other)},
            {&n.env.ns.header, enc_envelope(good, &n.key, true)},
        };
        h1 = submit(&n, bs, sizeof(bs) / sizeof(bs[0]));
    }
    {
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(good, &n.key, false)},
                                 {&n.env.ns.data, enc_data(good, &n.key)}};
        h2 = submit(&n, bs, 2);
    }
    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);
    wait_progress(h2 + 1, 30000);
    n_ev = check_order(1, evbuf, MAX_EVS);
    assert_int_equal(collect(evbuf, n_ev, EV_HEADER, hdr, 8), 1);
    assert_int_equal(collect(evbuf, n_ev, EV_DATA, dat, 8), 1);
    assert_int_equal(hdr[0].da_height, h2);
    assert_int_equal(dat[0].da_height, h2);
    assert_true(h1 < h2);
    assert_int_equal(rejected(&n, BM_DA_REJ_DECODE), 2);
    assert_int_equal(rejected(&n, BM_DA_REJ_SIGNATURE), 1);
    assert_int_equal(rejected(&n, BM_DA_REJ_CHAIN_ID), 2);
    assert_int_equal(rejected(&n, BM_DA_REJ_PROPOSER), 2);
    assert_int_equal(rejected(&n, BM_DA_REJ_ENVELOPE), 1);
    assert_int_equal(rejected(&n, BM_DA_REJ_INVALID), 0);
    bm_block_unref(good);
    bm_block_unref(badsig);
    bm_block_unref(chain);
    bm_block_unref(wrong);
    bm_privkey_wipe(&other);
    at_node_close(&n, true);
}

static bool capture_full(void *arg)
{
    struct at_node *n = arg;
    struct bm_actor_stats st;

    return bm_actor_stats_get(n->sys, n->env.ids.sync, &st) == BM_OK &&
           st.rejected_full > 0;
}

/*
 * Back-pressure: Sync's mailbox (BLOCK policy) stays full, sends time out;
 * the retriever keeps its cursor and re-scans the same DA height until
 * Sync takes everything. Nothing is skipped.
 */
static void test_sync_backpressure(void **s)
{
    struct at_node n;
    struct ev *evs = evbuf;
    uint64_t hs[8];
    size_t n_ev;
    bool seen[9] = {false};

    (void)s;
    open_node(&n, 0, NULL, NULL);
    for (uint64_t i = 0; i < 8; i++) {
        struct bm_block *b = make_block(&n, i + 1, txs_a);
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(b, &n.key, false)},
                                 {&n.env.ns.data, enc_data(b, &n.key)}};

        hs[i] = submit(&n, bs, 2);
        bm_block_unref(b);
    }
    spawn_capture(&n, 2, 50);
    atomic_store(&cap.paused, true);
    spawn_retriever(&n);
    at_start(&n);
    assert_true(at_wait(capture_full, &n, 30000));
    bm_sleep_ms(300);
    atomic_store(&cap.paused, false);
    wait_progress(hs[7] + 1, 30000);

    /* Retried heights deliver their blobs again (Sync drops
     * duplicates), but progress is consecutive and nothing is lost. */
    n_ev = check_order(1, evs, MAX_EVS);
    for (size_t i = 0; i < n_ev; i++) {
        if (evs[i].kind == EV_HEADER) {
            assert_true(evs[i].value >= 1 && evs[i].value <= 8);
            assert_int_equal(evs[i].da_height, hs[evs[i].value - 1]);
            seen[evs[i].value] = true;
        }
    }
    for (size_t i = 1; i <= 8; i++) {
        assert_true(seen[i]);
    }
    at_node_close(&n, true);
}

/*
 * A slow DA (every answer 400 ms late, 8 times the TICK period): TICKs do
 * not pile up in the retriever's mailbox while a call blocks (the TICK is
 * a one-shot timer armed again when handled), nothing is dropped, and the
 * blocks are still found. Found by the reliability suite's overload
 * scenario: with a periodic TICK and a DA 10 s late, a full node's
 * retriever mailbox grew by one stale TICK a period (581 of 1024 in 30 s,
 * then drop_oldest), each followed by a DA call once the DA was fast.
 */
static void test_slow_da_no_tick_pileup(void **s)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct bm_da_server *srv = NULL;
    struct bm_da_server_config sc = {0};
    struct bm_actor_stats st;
    struct bm_errmsg em = {{0}};
    char home[] = "/tmp/bm-retr-slow-XXXXXX";
    char url[64];
    uint64_t hs[3];
    uint32_t hwm;
    int err;

    (void)s;
    assert_non_null(mkdtemp(home));
    sc.home = home;
    sc.latency_ms = 400;
    err = bm_da_server_start(&srv, &sc, &em);
    if (err != BM_OK) {
        fail_msg("da server: %s", bm_errmsg_str(&em, err));
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u",
             (unsigned)bm_da_server_port(srv));
    bm_manager_config_init(&cfg);
    cfg.da_block_time_ms = 50;
    open_node(&n, 0, url, &cfg);
    for (uint64_t i = 0; i < 3; i++) {
        struct bm_block *b = make_block(&n, i + 1, txs_b);
        struct blob_spec bs[] = {{&n.env.ns.header,
                                  enc_envelope(b, &n.key, false)}};

        hs[i] = submit(&n, bs, 1);
        bm_block_unref(b);
    }
    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);
    wait_progress(hs[2] + 1, 60000);
    bm_sleep_ms(2000); /* at the head: head refreshes, each 400 ms */
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.retriever, &st),
                     BM_OK);
    hwm = st.high_watermark;
    bm_sleep_ms(2000);
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.retriever, &st),
                     BM_OK);
    print_message("retriever mailbox high watermark %u then %u, dropped "
                  "%llu\n", (unsigned)hwm, (unsigned)st.high_watermark,
                  (unsigned long long)st.dropped);
    /* A few (the message in hand, a CONTINUE, the one TICK armed), and
     * not growing with time; a periodic TICK gave 80 here and more each
     * second. */
    assert_true(st.high_watermark <= 8);
    assert_int_equal(st.high_watermark, hwm);
    assert_int_equal(st.dropped, 0);
    at_node_close(&n, true);
    bm_da_server_stop(srv);
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
        assert_int_equal(system(cmd), 0);
    }
}

/* ---- prefetch: the next DA height fetched while this one is checked ---- */

/* A DA whose GetAll fails twice at one height and answers "from the
 * future" twice at another (the first of each is usually the prefetch,
 * the second the Retriever's own fetch), counting the calls per height. */
static struct {
    const struct bm_da_ops *inner;
    struct bm_da_ops ops;
    pthread_mutex_t mu;
    unsigned calls[64];
    uint64_t fail_h, future_h;
} fw = {.mu = PTHREAD_MUTEX_INITIALIZER};

static enum bm_err fw_get_all(void *ctx, uint64_t h,
                              const struct bm_da_namespace *ns, size_t n_ns,
                              uint32_t timeout_ms,
                              struct bm_da_blob_list *out,
                              struct bm_errmsg *em)
{
    unsigned k = 0;

    pthread_mutex_lock(&fw.mu);
    if (h < 64) {
        k = fw.calls[h]++;
    }
    pthread_mutex_unlock(&fw.mu);
    if (h == fw.fail_h && k < 2) {
        return bm_errf(em, BM_EDA_ERROR, "injected failure");
    }
    if (h == fw.future_h && k < 2) {
        return bm_errf(em, BM_EDA_FUTURE_HEIGHT,
                       "header: given height is from the future");
    }
    return fw.inner->get_all(ctx, h, ns, n_ns, timeout_ms, out, em);
}

static unsigned fw_calls(uint64_t h)
{
    unsigned k;

    pthread_mutex_lock(&fw.mu);
    k = h < 64 ? fw.calls[h] : 0;
    pthread_mutex_unlock(&fw.mu);
    return k;
}

/*
 * 8 DA heights of 3 blocks each (6 blobs: the verifier actors take part),
 * one height failing twice and one answering "height from the future"
 * twice: every header and data arrives exactly once, in DA order, each
 * height's before the next one's progress; a height that was answered is
 * fetched exactly once (its prefetched answer is the one used).
 */
static void test_prefetch_in_order(void **s)
{
    struct at_node n;
    uint64_t hs[8];
    size_t n_ev;
    unsigned hdr_seen[25] = {0}, dat_seen[25] = {0};

    (void)s;
    open_node(&n, 0, NULL, NULL);
    for (uint64_t i = 0; i < 8; i++) {
        struct blob_spec bs[6];

        for (uint64_t j = 0; j < 3; j++) {
            struct bm_block *b = make_block(&n, i * 3 + j + 1, txs_a);

            bs[j * 2].ns = &n.env.ns.header;
            bs[j * 2].bytes = enc_envelope(b, &n.key, false);
            bs[j * 2 + 1].ns = &n.env.ns.data;
            bs[j * 2 + 1].bytes = enc_data(b, &n.key);
            bm_block_unref(b);
        }
        hs[i] = submit(&n, bs, 6);
        assert_true(hs[i] < 64);
    }
    memset(fw.calls, 0, sizeof(fw.calls));
    fw.fail_h = hs[2];
    fw.future_h = hs[5];
    fw.inner = n.da.ops;
    fw.ops = *n.da.ops;
    fw.ops.get_all = fw_get_all;
    n.da.ops = &fw.ops; /* env->da points at n.da */

    spawn_capture(&n, 1024, 5000);
    spawn_retriever(&n);
    at_start(&n);
    wait_progress(hs[7] + 1, 60000);

    n_ev = check_order(1, evbuf, MAX_EVS);
    for (size_t i = 0; i < n_ev; i++) {
        uint64_t v = evbuf[i].value;

        if (evbuf[i].kind == EV_HEADER || evbuf[i].kind == EV_DATA) {
            assert_true(v >= 1 && v <= 24);
            assert_int_equal(evbuf[i].da_height, hs[(v - 1) / 3]);
            if (evbuf[i].kind == EV_HEADER) {
                hdr_seen[v]++;
            } else {
                dat_seen[v]++;
            }
        }
    }
    for (size_t v = 1; v <= 24; v++) {
        assert_int_equal(hdr_seen[v], 1);
        assert_int_equal(dat_seen[v], 1);
    }
    for (size_t i = 0; i < 8; i++) {
        if (hs[i] == fw.fail_h || hs[i] == fw.future_h) {
            assert_int_equal(fw_calls(hs[i]), 3);
        } else {
            assert_int_equal(fw_calls(hs[i]), 1);
        }
    }
    assert_true(atomic_load(&n.env.m.da_retrieve_errors) >= 1);
    /* the heights after the first were fetched ahead, but for the two
     * faulty ones (and what a slow start left to the TICK) */
    print_message("prefetched answers used: %llu of 8 heights\n",
                  (unsigned long long)atomic_load(&n.env.m.da_prefetched));
    assert_true(atomic_load(&n.env.m.da_prefetched) >= 3);
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found_in_order),
        cmocka_unit_test(test_prefetch_in_order),
        cmocka_unit_test(test_slow_da_no_tick_pileup),
        cmocka_unit_test(test_follow_head),
        cmocka_unit_test(test_resume_from_meta),
        cmocka_unit_test(test_config_start_overrides),
        cmocka_unit_test(test_single_namespace),
        cmocka_unit_test(test_da_outage),
        cmocka_unit_test(test_sync_backpressure),
        cmocka_unit_test(test_refused_counted),
    };

    pthread_mutex_init(&cap.mu, NULL);
    return BM_TEST_RUN(tests);
}
