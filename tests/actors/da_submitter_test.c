/*
 * DASubmitterActor against a real local DA server, a real store and the
 * real State actor: every header lands once as a signed envelope, every
 * non-empty Data once as SignedData, the last-submitted heights and rhb
 * hints are persisted, small blob limits split submissions, an outage
 * trips the DA breaker and the submitter recovers, and a restart resumes
 * without resubmitting.
 */
#include "bm_test.h"
#include "util/file.h"

#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/da_submitter.h"
#include "actors/state.h"
#include "actors_test_util.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "util/errmsg.h"

#define WAIT_MS 30000
#define MAX_H 64

static void fast_cfg(struct bm_manager_config *c)
{
    bm_manager_config_init(c);
    c->block_time_ms = 50;
    c->da_block_time_ms = 100;
    c->scrape_interval_ms = 20;
    c->lazy_block_interval_ms = 1000;
}



static const char *const TXS[] = {"a=1", "b=2", NULL};

/* Commits heights from..to; heights in `empty` (0-terminated) get no txs. */
static void commit_range(struct at_node *n, uint64_t from, uint64_t to,
                         const uint64_t *empty)
{
    for (uint64_t h = from; h <= to; h++) {
        bool e = false;

        for (size_t i = 0; empty != NULL && empty[i] != 0; i++) {
            e = e || empty[i] == h;
        }
        at_commit_next(n, e ? NULL : TXS, true);
    }
}

static uint64_t meta_u64(struct at_node *n, const char *name)
{
    uint64_t v = 0;

    if (bm_meta_get_u64(n->store, name, &v, NULL) != BM_OK) {
        return 0;
    }
    return v;
}

struct want {
    struct at_node *n;
    uint64_t header;
    uint64_t data;
};

static bool submitted(void *arg)
{
    struct want *w = arg;

    return meta_u64(w->n, BM_META_LAST_SUBMITTED_HEADER) >= w->header &&
           meta_u64(w->n, BM_META_LAST_SUBMITTED_DATA) >= w->data;
}

/* What the DA holds: per block height, how often its header / data was
 * found, and at which DA height (the last one). */
struct da_view {
    unsigned hcount[MAX_H + 1];
    unsigned dcount[MAX_H + 1];
    uint64_t hda[MAX_H + 1];
    uint64_t dda[MAX_H + 1];
    size_t header_heights; /* DA heights holding header blobs */
};

static void scan_da(struct at_node *n, uint64_t top, struct da_view *v)
{
    memset(v, 0, sizeof(*v));
    for (uint64_t dh = 1; dh <= top; dh++) {
        for (int k = 0; k < 2; k++) {
            const struct bm_da_namespace *ns =
                k == 0 ? &n->env.ns.header : &n->env.ns.data;
            struct bm_da_blob_list l = {0};
            struct bm_errmsg em = {{0}};
            int err = bm_da_client_get_all(n->da_client, dh, ns, 1, 5000, &l,
                                           &em);

            if (err == BM_EDA_NOT_FOUND) {
                continue;
            }
            if (err != BM_OK) {
                fail_msg("get_all %llu: %s", (unsigned long long)dh,
                         bm_errmsg_str(&em, err));
            }
            if (k == 0) {
                v->header_heights++;
            }
            for (size_t i = 0; i < l.n; i++) {
                const struct bm_buf *d = &l.v[i].data;

                if (k == 0) {
                    struct bm_da_header_envelope e = {0};
                    bool is_env = false;
                    uint64_t h;

                    assert_int_equal(
                        bm_da_header_envelope_decode(&e, d->ptr, d->len),
                        BM_OK);
                    assert_int_equal(bm_envelope_validate(&e, true, &is_env,
                                                          &em),
                                     BM_OK);
                    assert_true(is_env);
                    h = e.sh.header.height;
                    assert_true(h >= 1 && h <= MAX_H);
                    v->hcount[h]++;
                    v->hda[h] = dh;
                    bm_da_header_envelope_release(&e);
                } else {
                    struct bm_signed_data sd = {0};
                    uint64_t h;

                    assert_int_equal(
                        bm_signed_data_decode(&sd, d->ptr, d->len), BM_OK);
                    assert_int_equal(
                        bm_signed_data_validate(
                            &sd, &n->genesis.proposer_address, &em),
                        BM_OK);
                    assert_true(sd.data.n_txs > 0);
                    h = sd.data.metadata.height;
                    assert_true(h >= 1 && h <= MAX_H);
                    v->dcount[h]++;
                    v->dda[h] = dh;
                    bm_signed_data_release(&sd);
                }
            }
            bm_da_blob_list_release(&l);
        }
    }
}

static bool is_in(uint64_t h, const uint64_t *set)
{
    for (size_t i = 0; set != NULL && set[i] != 0; i++) {
        if (set[i] == h) {
            return true;
        }
    }
    return false;
}

/* Each header 1..top once, each non-empty data once, rhb hints equal to
 * where they were found. */
static void check_da(struct at_node *n, uint64_t da_top, uint64_t top,
                     const uint64_t *empty, struct da_view *v)
{
    char name[48];

    scan_da(n, da_top, v);
    for (uint64_t h = 1; h <= top; h++) {
        assert_int_equal(v->hcount[h], 1);
        bm_meta_rhb_name(name, sizeof(name), h, 'h');
        assert_int_equal(meta_u64(n, name), v->hda[h]);
        bm_meta_rhb_name(name, sizeof(name), h, 'd');
        if (is_in(h, empty)) {
            assert_int_equal(v->dcount[h], 0);
            assert_int_equal(meta_u64(n, name), 0);
        } else {
            assert_int_equal(v->dcount[h], 1);
            assert_int_equal(meta_u64(n, name), v->dda[h]);
        }
    }
    for (uint64_t h = top + 1; h <= MAX_H; h++) {
        assert_int_equal(v->hcount[h], 0);
        assert_int_equal(v->dcount[h], 0);
    }
}

static void open_node(struct at_node *n, const struct bm_manager_config *cfg,
                      const char *home, const char *da_url,
                      uint64_t genesis_ns)
{
    struct at_opts o = {.aggregator = true, .with_da = true, .cfg = cfg,
                        .home = home, .da_url = da_url,
                        .genesis_time_ns = genesis_ns};

    at_node_open(n, &o);
    at_spawn(n, &bm_state_actor_type, &n->env.ids.state, true,
             BM_OVERFLOW_REJECT);
}

static void spawn_submitter(struct at_node *n)
{
    at_spawn(n, &bm_da_submitter_actor_type, &n->env.ids.da_submitter, true,
             BM_OVERFLOW_DROP_OLDEST);
    assert_int_equal(bm_env_subscribe(&n->env, n->env.ids.da_submitter,
                                      BM_DA_SUBMITTER_NEW_HEIGHT),
                     BM_OK);
}

/* 10 blocks (some empty, one trailing) committed while the submitter
 * runs: everything lands once, heights and hints persisted. */
static void test_submit_all(void **state)
{
    static const uint64_t empty[] = {2, 5, 6, 10, 0};
    struct at_node n;
    struct bm_manager_config cfg;
    struct da_view v;
    struct want w;

    (void)state;
    fast_cfg(&cfg);
    open_node(&n, &cfg, NULL, NULL, 0);
    spawn_submitter(&n);
    at_start(&n);
    commit_range(&n, 1, 10, empty);
    w = (struct want){&n, 10, 10};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    check_da(&n, bm_da_server_height(n.da_server), 10, empty, &v);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 10);
    assert_int_equal(atomic_load(&n.env.m.data_submitted), 6);
    assert_true(atomic_load(&n.env.m.da_submissions) >= 2);
    assert_int_equal(atomic_load(&n.env.m.da_submit_failures), 0);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* A blob limit of ~2 envelopes: the round splits into prefixes. */
static void test_prefix_batching(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct da_view v;
    struct want w;

    (void)state;
    fast_cfg(&cfg);
    cfg.da_max_blob_size = 1000;
    open_node(&n, &cfg, NULL, NULL, 0);
    at_start(&n);
    /* All blocks exist before the submitter's first round. */
    commit_range(&n, 1, 10, NULL);
    spawn_submitter(&n);
    w = (struct want){&n, 10, 10};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    check_da(&n, bm_da_server_height(n.da_server), 10, NULL, &v);
    /* At most 1000 bytes per call: headers need several DA heights. */
    assert_true(v.header_heights >= 4);
    assert_true(atomic_load(&n.env.m.da_submissions) >= 6);
    assert_int_equal(atomic_load(&n.env.m.da_submit_failures), 0);
    at_node_close(&n, true);
}

/* A DA that wraps the real client (an injectable fault layer for what
 * the real server cannot be made to do, e.g. lose one answer): every call
 * goes to the real client unless the fault says otherwise. */
enum fault {
    F_PICKY,           /* 1st submit "in mempool"; > 2 blobs too big */
    F_SMALL,           /* every submit too big */
    F_LOSE_ANSWER,     /* 1st and 2nd submit stored, answer lost */
    F_STORE_THEN_DOWN, /* 1st submit stored, answer lost, then DA down */
    F_DROP_THEN_DOWN,  /* 1st submit not stored, answer lost, DA down */
    F_SLOW_FAIL,       /* every submit takes 800 ms; first 3 fail */
};

struct fault_da {
    const struct bm_da *real;
    struct bm_da_ops ops;
    struct bm_da da;
    enum fault fault;
    atomic_uint calls;  /* submit calls */
    atomic_uint stored; /* submits the real DA took */
    atomic_bool down;
};

static enum bm_err real_submit(struct fault_da *f,
                               const struct bm_da_blob *blobs, size_t n,
                               const char *options_json, uint32_t timeout_ms,
                               uint64_t *height, struct bm_errmsg *em)
{
    enum bm_err err = f->real->ops->submit(f->real->ctx, blobs, n,
                                           options_json, timeout_ms, height,
                                           em);

    if (err == BM_OK) {
        atomic_fetch_add(&f->stored, 1);
    }
    return err;
}

static enum bm_err fault_submit(void *ctx, const struct bm_da_blob *blobs,
                                size_t n, const char *options_json,
                                uint32_t timeout_ms, uint64_t *height,
                                struct bm_errmsg *em)
{
    struct fault_da *f = ctx;
    unsigned c = atomic_fetch_add(&f->calls, 1);
    uint64_t h = 0;
    enum bm_err err;

    if (atomic_load(&f->down)) {
        return bm_errf(em, BM_EIO, "injected: DA down");
    }
    switch (f->fault) {
    case F_PICKY:
        if (c == 0) {
            return bm_errf(em, BM_EDA_IN_MEMPOOL, BM_DA_MSG_IN_MEMPOOL);
        }
        if (n > 2) {
            return bm_errf(em, BM_EDA_TOO_BIG, BM_DA_MSG_TOO_BIG);
        }
        break;
    case F_SMALL:
        return bm_errf(em, BM_EDA_TOO_BIG, BM_DA_MSG_TOO_BIG);
    case F_LOSE_ANSWER:
    case F_STORE_THEN_DOWN:
        if (c < (f->fault == F_LOSE_ANSWER ? 2u : 1u)) {
            err = real_submit(f, blobs, n, options_json, timeout_ms, &h, em);
            assert_int_equal(err, BM_OK);
            if (f->fault == F_STORE_THEN_DOWN) {
                atomic_store(&f->down, true);
            }
            return bm_errf(em, BM_ETIMEDOUT, "injected: answer lost");
        }
        break;
    case F_DROP_THEN_DOWN:
        if (c == 0) {
            atomic_store(&f->down, true);
            return bm_errf(em, BM_ETIMEDOUT, "injected: answer lost");
        }
        break;
    case F_SLOW_FAIL:
        bm_sleep_ms(800);
        if (c < 3) {
            return bm_errf(em, BM_EIO, "injected: slow failure");
        }
        break;
    }
    return real_submit(f, blobs, n, options_json, timeout_ms, height, em);
}

static enum bm_err fault_get_all(void *ctx, uint64_t height,
                                 const struct bm_da_namespace *ns,
                                 size_t n_ns, uint32_t timeout_ms,
                                 struct bm_da_blob_list *out,
                                 struct bm_errmsg *em)
{
    struct fault_da *f = ctx;

    if (atomic_load(&f->down)) {
        return bm_errf(em, BM_EIO, "injected: DA down");
    }
    return f->real->ops->get_all(f->real->ctx, height, ns, n_ns, timeout_ms,
                                 out, em);
}

static enum bm_err fault_head(void *ctx, uint32_t timeout_ms,
                              struct bm_da_header *out, struct bm_errmsg *em)
{
    struct fault_da *f = ctx;

    if (atomic_load(&f->down)) {
        return bm_errf(em, BM_EIO, "injected: DA down");
    }
    return f->real->ops->header_network_head(f->real->ctx, timeout_ms, out,
                                             em);
}

/* Puts f (with fault) between n's env and its real DA client. */
static void fault_install(struct at_node *n, struct fault_da *f,
                          enum fault fault)
{
    memset(f, 0, sizeof(*f));
    f->real = n->env.da;
    f->fault = fault;
    memset(&f->ops, 0, sizeof(f->ops));
    f->ops.submit = fault_submit;
    f->ops.get_all = fault_get_all;
    f->ops.header_network_head = fault_head;
    f->da.ops = &f->ops;
    f->da.ctx = f;
    atomic_init(&f->calls, 0);
    atomic_init(&f->stored, 0);
    atomic_init(&f->down, false);
    n->env.da = &f->da;
}

/* Opens a node whose DA has `fault`, commits 1..top (all with txs)
 * before the submitter runs, waits until everything is submitted and
 * checks each header and data once on DA (hints where found). The
 * caller closes n. */
static void submit_with_fault(struct at_node *n, struct fault_da *f,
                              enum fault fault, uint64_t top,
                              struct da_view *v)
{
    struct bm_manager_config cfg;
    struct want w;

    fast_cfg(&cfg);
    open_node(n, &cfg, NULL, NULL, 0);
    fault_install(n, f, fault);
    at_start(n);
    commit_range(n, 1, top, NULL);
    spawn_submitter(n);
    w = (struct want){n, top, top};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    check_da(n, bm_da_server_height(n->da_server), top, NULL, v);
}

/* Mempool -> backoff and retry; TooBig -> the batch is halved until the
 * DA takes it; everything still lands exactly once. */
static void test_mempool_and_halving(void **state)
{
    struct at_node n;
    struct fault_da p;
    struct da_view v;

    (void)state;
    submit_with_fault(&n, &p, F_PICKY, 10, &v);
    assert_int_equal(atomic_load(&n.env.m.da_submit_mempool), 1);
    /* headers: 10 -> 5 -> 2; data likewise (the limit is per round). */
    assert_true(atomic_load(&n.env.m.da_submit_too_big) >= 2);
    assert_int_equal(atomic_load(&n.env.m.da_submit_other), 0);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 10);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* A DA whose own limit is below ours: it refuses even one blob as too
 * big. That is fatal (the operator must lower da.max_blob_size). */
static void test_da_refuses_one_blob_fatal(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct bm_errmsg em = {{0}};
    struct fault_da f;

    (void)state;
    fast_cfg(&cfg);
    open_node(&n, &cfg, NULL, NULL, 0);
    fault_install(&n, &f, F_SMALL);
    at_start(&n);
    commit_range(&n, 1, 1, NULL);
    spawn_submitter(&n);
    assert_int_equal(bm_env_wait_fatal(&n.env, WAIT_MS, &em), BM_EDA_TOO_BIG);
    assert_non_null(strstr(em.msg, "da_submitter"));
    assert_non_null(strstr(em.msg, "da.max_blob_size"));
    assert_int_equal(meta_u64(&n, BM_META_LAST_SUBMITTED_HEADER), 0);
    at_node_close(&n, true);
}

/* A limit that leaves no room for txs is refused when the env is built,
 * naming the key. */
static void test_limit_too_small_refused(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg, small;
    struct bm_manager_params p;
    struct bm_env env;
    struct bm_errmsg em = {{0}};

    (void)state;
    fast_cfg(&cfg);
    open_node(&n, &cfg, NULL, NULL, 0);
    small = cfg;
    small.aggregator = true;
    small.da_namespace = "test-ns";
    small.da_max_blob_size = 64;
    memset(&p, 0, sizeof(p));
    p.signer = &n.key;
    p.config = &small;
    p.genesis = &n.genesis;
    p.store = n.store;
    p.exec = &n.exec;
    p.seq = n.seq;
    p.da = &n.da;
    assert_int_equal(bm_env_init(&env, &p, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "da.max_blob_size"));
    /* A threshold outside (0, 1] is refused too. */
    small.da_max_blob_size = 0;
    small.da_batch_size_threshold = 1.5;
    assert_int_equal(bm_env_init(&env, &p, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "da.batch_size_threshold"));
    at_node_close(&n, true);
}

/* A KV tx of about `len` bytes: "<key>=xxx...". */
static const char *big_tx(char *buf, size_t len, int key)
{
    int k = snprintf(buf, len + 1, "big%d=", key);

    memset(buf + k, 'x', len - (size_t)k);
    buf[len] = '\0';
    return buf;
}

/* Blocks made under one limit, not yet on DA, and a lowered limit: the
 * start-up check names the first block that no longer fits. */
static void test_check_start_lowered_limit(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct bm_errmsg em = {{0}};
    char t1[3001], t2[3001];
    const char *txs1[] = {big_tx(t1, 3000, 1), NULL};
    const char *txs2[] = {big_tx(t2, 3000, 2), NULL};

    (void)state;
    fast_cfg(&cfg);
    open_node(&n, &cfg, NULL, NULL, 0);
    at_start(&n);
    at_commit_next(&n, NULL, true);
    at_commit_next(&n, txs1, true);
    at_commit_next(&n, txs2, true);
    /* Everything fits the stock limit. */
    assert_int_equal(bm_da_submitter_check_start(&n.env, &em), BM_OK);
    /* 2,000 bytes: the headers still fit, block 2's data does not. */
    n.env.cfg.da_max_blob_size = 2000;
    assert_int_equal(bm_da_submitter_check_start(&n.env, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "da.max_blob_size"));
    assert_non_null(strstr(em.msg, "data of block 2"));
    assert_non_null(strstr(em.msg, "limit of 2000"));
    /* Below a header's size: refused for the header. */
    n.env.cfg.da_max_blob_size = 200;
    assert_int_equal(bm_da_submitter_check_start(&n.env, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "header"));
    n.env.cfg.da_max_blob_size = BM_DA_DEFAULT_MAX_BLOB_SIZE;
    at_node_close(&n, true);
}

static bool breaker_tripped(void *arg)
{
    struct bm_breaker_stats st;

    bm_breaker_stats(arg, &st);
    return st.transitions > 0 && st.failures >= 3;
}

static bool breaker_closed(void *arg)
{
    return bm_breaker_state(arg) == BM_BREAKER_CLOSED;
}

/* The DA answers errors for 2 s: the breaker opens, the submitter backs
 * off, then recovers and submits everything exactly once. */
static void test_outage_breaker(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct bm_da_server_config sc = {0};
    struct bm_da_server *srv = NULL;
    struct bm_errmsg em = {{0}};
    struct da_view v;
    struct want w;
    char home[] = "/tmp/bm-da-outage-XXXXXX";
    char url[64];

    (void)state;
    assert_non_null(mkdtemp(home));
    sc.home = home;
    sc.outage_after = 2;
    sc.outage_for_ms = 2000;
    sc.outage_errors = true;
    if (bm_da_server_start(&srv, &sc, &em) != BM_OK) {
        fail_msg("da server: %s", em.msg);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u",
             (unsigned)bm_da_server_port(srv));
    fast_cfg(&cfg);
    cfg.da_breaker_failures = 3;
    cfg.da_breaker_open_ms = 300;
    open_node(&n, &cfg, NULL, url, 0);
    at_start(&n);
    commit_range(&n, 1, 4, NULL);
    spawn_submitter(&n);
    w = (struct want){&n, 4, 4};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    /* Later blocks meet the outage. */
    commit_range(&n, 5, 10, NULL);
    assert_true(at_wait(breaker_tripped, n.env.da_breaker, WAIT_MS));
    w = (struct want){&n, 10, 10};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    assert_true(at_wait(breaker_closed, n.env.da_breaker, WAIT_MS));
    check_da(&n, bm_da_server_height(srv), 10, NULL, &v);
    assert_true(atomic_load(&n.env.m.da_submit_failures) >= 3);
    assert_true(atomic_load(&n.env.m.da_submit_other) >= 3);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 10);
    assert_int_equal(atomic_load(&n.env.m.data_submitted), 10);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
    bm_da_server_stop(srv);
    (void)bm_file_remove_tree(home);
}

/* Restart: the second run starts from the persisted heights and only
 * submits the new blocks. */
static void test_restart_resume(void **state)
{
    static const uint64_t empty[] = {3, 0};
    struct at_node n;
    struct bm_manager_config cfg;
    struct da_view v;
    struct want w;
    char home[256];
    uint64_t calls, genesis_ns;

    (void)state;
    fast_cfg(&cfg);
    open_node(&n, &cfg, NULL, NULL, 0);
    spawn_submitter(&n);
    at_start(&n);
    commit_range(&n, 1, 5, empty);
    w = (struct want){&n, 5, 5};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    snprintf(home, sizeof(home), "%s", n.home);
    genesis_ns = n.genesis.start_time_ns;
    at_node_close(&n, false);

    open_node(&n, &cfg, home, NULL, genesis_ns);
    n.own_home = true; /* remove it at the end */
    spawn_submitter(&n);
    at_start(&n);
    /* Nothing new: a few rounds submit nothing. */
    bm_sleep_ms(400);
    calls = atomic_load(&n.env.m.da_submissions);
    assert_int_equal(calls, 0);
    commit_range(&n, 6, 8, NULL);
    w = (struct want){&n, 8, 8};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    check_da(&n, bm_da_server_height(n.da_server), 8, empty, &v);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 3);
    assert_int_equal(atomic_load(&n.env.m.data_submitted), 3);
    at_node_close(&n, true);
}

/* ---- exactly once: submissions whose answer was lost ---- */

static bool has_meta(struct at_node *n, const char *name)
{
    struct bm_buf b = {0};
    int err = bm_store_get_meta(n->store, name, &b, NULL);

    bm_buf_release(&b);
    return err == BM_OK;
}

struct calls_at_least {
    struct fault_da *f;
    unsigned n;
};

static bool calls_reached(void *arg)
{
    struct calls_at_least *c = arg;

    return atomic_load(&c->f->calls) >= c->n;
}

/* (a) The DA stores the headers, then the data, and both answers are
 * lost: the submitter finds them on DA and does not post them again; the
 * DA heights recorded are where they were stored. */
static void test_lost_answer_not_resubmitted(void **state)
{
    struct at_node n;
    struct fault_da f;
    struct da_view v;

    (void)state;
    /* every header and data once, rhb hints = the DA height found */
    submit_with_fault(&n, &f, F_LOSE_ANSWER, 6, &v);
    assert_int_equal(atomic_load(&f.stored), 2);
    assert_int_equal(atomic_load(&n.env.m.da_submit_found), 2);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 6);
    assert_int_equal(atomic_load(&n.env.m.data_submitted), 6);
    assert_false(has_meta(&n, BM_META_DA_INTENT_HEADER));
    assert_false(has_meta(&n, BM_META_DA_INTENT_DATA));
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* Run 1: the first submit meets `fault` and the DA is down afterwards,
 * so the node stops with the headers' intent stored. Returns run 2's
 * node (real DA) with the submitter running, in *n. */
static void crash_with_intent(struct at_node *n, enum fault fault,
                              unsigned stored)
{
    struct bm_manager_config cfg;
    struct fault_da f;
    struct calls_at_least c = {&f, 1};
    char home[256];
    uint64_t genesis_ns;

    fast_cfg(&cfg);
    open_node(n, &cfg, NULL, NULL, 0);
    fault_install(n, &f, fault);
    at_start(n);
    commit_range(n, 1, 5, NULL);
    spawn_submitter(n);
    /* the intent is written before the first submit; afterwards the
     * look-ups fail (DA down), so nothing is submitted blind */
    assert_true(at_wait(calls_reached, &c, WAIT_MS));
    bm_sleep_ms(300);
    assert_int_equal(atomic_load(&f.calls), 1);
    assert_int_equal(atomic_load(&f.stored), stored);
    snprintf(home, sizeof(home), "%s", n->home);
    genesis_ns = n->genesis.start_time_ns;
    at_node_close(n, false);

    open_node(n, &cfg, home, NULL, genesis_ns);
    n->own_home = true;
    assert_true(has_meta(n, BM_META_DA_INTENT_HEADER));
    assert_int_equal(meta_u64(n, BM_META_LAST_SUBMITTED_HEADER), 0);
    spawn_submitter(n);
    at_start(n);
}

/* Run 2 of crash_with_intent: headers and data 1..5 each once on DA,
 * `found` of them found there (not resubmitted), no intent left. */
static void restart_exactly_once(enum fault fault, unsigned stored,
                                 unsigned found)
{
    struct at_node n;
    struct da_view v;
    struct want w;

    crash_with_intent(&n, fault, stored);
    w = (struct want){&n, 5, 5};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    check_da(&n, bm_da_server_height(n.da_server), 5, NULL, &v);
    assert_int_equal(atomic_load(&n.env.m.da_submit_found), found);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 5);
    assert_false(has_meta(&n, BM_META_DA_INTENT_HEADER));
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* (b) An intent at start-up whose blobs are on DA: recorded at the DA
 * height they are stored at, not submitted again. */
static void test_intent_on_da_at_start(void **state)
{
    (void)state;
    restart_exactly_once(F_STORE_THEN_DOWN, 1, 1);
}

/* (c) An intent at start-up whose blobs never reached DA: submitted
 * once. */
static void test_intent_absent_at_start(void **state)
{
    (void)state;
    restart_exactly_once(F_DROP_THEN_DOWN, 0, 0);
}

/*
 * A slow DA (each submit takes 800 ms, the first ones fail) while the
 * tick period is 100 ms: one TICK waits in the mailbox at most, however
 * long a round blocks. A periodic TICK queued one per period (the
 * reliability suite saw 326 of 1,024 in the aggregator's submitter).
 */
static void test_slow_da_no_tick_pileup(void **state)
{
    struct at_node n;
    struct bm_actor_stats st;
    struct fault_da f;
    struct da_view v;

    (void)state;
    /* committed before the submitter runs: no NEW_HEIGHT in its mailbox */
    submit_with_fault(&n, &f, F_SLOW_FAIL, 4, &v);
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.da_submitter, &st),
                     BM_OK);
    print_message("da_submitter mailbox high watermark %u, dropped %llu, "
                  "submit calls %u\n", (unsigned)st.high_watermark,
                  (unsigned long long)st.dropped, atomic_load(&f.calls));
    /* >= 3.2 s inside rounds: a periodic tick would have queued ~30 */
    assert_true(atomic_load(&f.calls) >= 4);
    assert_true(st.high_watermark <= 2);
    assert_int_equal(st.dropped, 0);
    at_node_close(&n, true);
}

/* ---- batching: the strategy and its keys ---- */

static bool should(const struct bm_manager_config *c, uint64_t items,
                   uint64_t bytes, uint64_t since_ms)
{
    return bm_da_batch_should_submit(c, items, bytes, since_ms);
}

/* The strategies as ev-node's submitter defines them. */
static void test_should_submit(void **state)
{
    struct bm_manager_config c;

    (void)state;
    bm_manager_config_init(&c);
    c.da_max_blob_size = 1000;
    c.da_batch_size_threshold = 0.5;
    c.da_batch_max_delay_ms = 100;
    c.da_batch_min_items = 2;
    c.da_batching_strategy = BM_DA_BATCH_IMMEDIATE;
    assert_false(should(&c, 0, 0, UINT64_MAX));
    assert_false(should(&c, 1, 900, UINT64_MAX)); /* below min items */
    assert_true(should(&c, 2, 1, 0));
    c.da_batching_strategy = BM_DA_BATCH_SIZE;
    assert_false(should(&c, 2, 499, UINT64_MAX));
    assert_true(should(&c, 2, 500, 0));
    assert_false(should(&c, 1, 900, 0));
    c.da_batching_strategy = BM_DA_BATCH_TIME;
    assert_false(should(&c, 5, 5000, 99));
    assert_true(should(&c, 2, 0, 100));
    assert_false(should(&c, 1, 0, 100));
    c.da_batching_strategy = BM_DA_BATCH_ADAPTIVE;
    assert_false(should(&c, 2, 499, 99));
    assert_true(should(&c, 2, 500, 0));
    assert_true(should(&c, 2, 0, 100));
    assert_false(should(&c, 1, 500, 100));
}

static uint64_t last_header(struct at_node *n)
{
    return meta_u64(n, BM_META_LAST_SUBMITTED_HEADER);
}

static uint64_t last_data(struct at_node *n)
{
    return meta_u64(n, BM_META_LAST_SUBMITTED_DATA);
}

/* A node with the submitter running under cfg. */
static void open_batching(struct at_node *n, const struct bm_manager_config *c)
{
    open_node(n, c, NULL, NULL, 0);
    spawn_submitter(n);
    at_start(n);
}

/* Commits one block holding one tx of about 3,000 bytes. */
static void commit_big(struct at_node *n, int key)
{
    char t[3001];
    const char *txs[] = {big_tx(t, 3000, key), NULL};

    at_commit_next(n, txs, true);
}

/* da.batch_min_items = 3: nothing is sent before three items wait. */
static void test_batch_min_items(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct want w;

    (void)state;
    fast_cfg(&cfg);
    cfg.da_batching_strategy = BM_DA_BATCH_IMMEDIATE;
    cfg.da_batch_min_items = 3;
    open_batching(&n, &cfg);
    commit_range(&n, 1, 2, NULL);
    bm_sleep_ms(600); /* six ticks */
    assert_int_equal(last_header(&n), 0);
    assert_int_equal(last_data(&n), 0);
    assert_int_equal(atomic_load(&n.env.m.da_submissions), 0);
    commit_range(&n, 3, 3, NULL);
    w = (struct want){&n, 3, 3};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    /* One call per kind: the three items went together. */
    assert_int_equal(atomic_load(&n.env.m.da_submissions), 2);
    at_node_close(&n, true);
}

/* da.batch_max_delay = 1.5 s (time strategy): after a submission the
 * next waits that long, not da.block_time (100 ms). */
static void test_batch_max_delay(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct want w;
    uint64_t t0, hdr, dat;

    (void)state;
    fast_cfg(&cfg);
    cfg.da_batching_strategy = BM_DA_BATCH_TIME;
    cfg.da_batch_max_delay_ms = 1500;
    open_batching(&n, &cfg);
    /* Block 1's submission ends after t0, so block 2 may not go before
     * t0 + 1.5 s: every bound below is measured from t0, so a loaded
     * machine can only make the test wait longer, never fail it. */
    t0 = bm_env_now_ms();
    commit_range(&n, 1, 1, NULL);
    /* The first submission has nothing to wait for. */
    w = (struct want){&n, 1, 1};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    commit_range(&n, 2, 2, NULL);
    bm_sleep_ms(700);
    hdr = last_header(&n);
    dat = last_data(&n);
    if (bm_env_now_ms() - t0 < 1500) { /* read before the delay ended */
        assert_int_equal(hdr, 1);
        assert_int_equal(dat, 1);
    }
    w = (struct want){&n, 2, 2};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    assert_true(bm_env_now_ms() - t0 >= 1500);
    at_node_close(&n, true);
}

/* da.batch_size_threshold = 0.5 of a 16 KiB limit (size strategy): the
 * data goes once ~8 KiB are pending (three 3 KB blocks, not two); the
 * headers (~1 KiB) stay. */
static void test_batch_size_threshold(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct want w;

    (void)state;
    fast_cfg(&cfg);
    cfg.da_batching_strategy = BM_DA_BATCH_SIZE;
    cfg.da_max_blob_size = 16384;
    cfg.da_batch_size_threshold = 0.5;
    open_batching(&n, &cfg);
    commit_big(&n, 1);
    commit_big(&n, 2);
    bm_sleep_ms(600);
    assert_int_equal(last_data(&n), 0);
    commit_big(&n, 3);
    w = (struct want){&n, 0, 3};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    assert_int_equal(last_header(&n), 0);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 0);
    assert_int_equal(atomic_load(&n.env.m.data_submitted), 3);
    at_node_close(&n, true);
}

/* A size the pending items never reach, and node.max_pending_headers_
 * and_data = 3: the producer would stop there, so the items go at 3. */
static void test_batch_max_pending_sends(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct want w;

    (void)state;
    fast_cfg(&cfg);
    cfg.da_batching_strategy = BM_DA_BATCH_SIZE;
    cfg.da_batch_size_threshold = 1.0;
    cfg.max_pending_headers_and_data = 3;
    open_batching(&n, &cfg);
    commit_range(&n, 1, 2, NULL);
    bm_sleep_ms(600);
    assert_int_equal(last_header(&n), 0);
    commit_range(&n, 3, 3, NULL);
    w = (struct want){&n, 3, 3};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    at_node_close(&n, true);
}

/* da.batching_strategy: with a 60 s max delay, "time" holds block 2,
 * "immediate" sends it, "adaptive" sends the data once the size is
 * reached but holds the (small) headers. */
static void test_batching_strategy(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct want w;

    (void)state;
    fast_cfg(&cfg);
    cfg.da_batch_max_delay_ms = 60000;
    cfg.da_max_blob_size = 16384;
    cfg.da_batch_size_threshold = 0.5;

    cfg.da_batching_strategy = BM_DA_BATCH_TIME;
    open_batching(&n, &cfg);
    commit_range(&n, 1, 1, NULL);
    w = (struct want){&n, 1, 1};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    commit_range(&n, 2, 2, NULL);
    bm_sleep_ms(800);
    assert_int_equal(last_header(&n), 1);
    at_node_close(&n, true);

    cfg.da_batching_strategy = BM_DA_BATCH_IMMEDIATE;
    open_batching(&n, &cfg);
    commit_range(&n, 1, 1, NULL);
    w = (struct want){&n, 1, 1};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    commit_range(&n, 2, 2, NULL);
    w = (struct want){&n, 2, 2};
    assert_true(at_wait(submitted, &w, 5000));
    at_node_close(&n, true);

    cfg.da_batching_strategy = BM_DA_BATCH_ADAPTIVE;
    open_batching(&n, &cfg);
    commit_range(&n, 1, 1, NULL);
    w = (struct want){&n, 1, 1};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    commit_big(&n, 2);
    commit_big(&n, 3);
    commit_big(&n, 4);
    w = (struct want){&n, 1, 4};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    assert_int_equal(last_header(&n), 1);
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_all),
        cmocka_unit_test(test_prefix_batching),
        cmocka_unit_test(test_mempool_and_halving),
        cmocka_unit_test(test_da_refuses_one_blob_fatal),
        cmocka_unit_test(test_limit_too_small_refused),
        cmocka_unit_test(test_check_start_lowered_limit),
        cmocka_unit_test(test_outage_breaker),
        cmocka_unit_test(test_restart_resume),
        cmocka_unit_test(test_lost_answer_not_resubmitted),
        cmocka_unit_test(test_intent_on_da_at_start),
        cmocka_unit_test(test_intent_absent_at_start),
        cmocka_unit_test(test_slow_da_no_tick_pileup),
        cmocka_unit_test(test_should_submit),
        cmocka_unit_test(test_batch_min_items),
        cmocka_unit_test(test_batch_max_delay),
        cmocka_unit_test(test_batch_size_threshold),
        cmocka_unit_test(test_batch_max_pending_sends),
        cmocka_unit_test(test_batching_strategy),
    };

    return BM_TEST_RUN(tests);
}
