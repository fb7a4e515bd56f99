/*
 * DASubmitterActor against a real local DA server, a real store and the
 * real State actor: every header lands once as a signed envelope, every
 * non-empty Data once as SignedData, the last-submitted heights and rhb
 * hints are persisted, small blob limits split submissions, an outage
 * trips the DA breaker and the submitter recovers, and a restart resumes
 * without resubmitting.
 */
#include "bm_test.h"

#include <ftw.h>
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

/* A DA that reports "in mempool" on its first submit and refuses more
 * than two blobs per call as too big (wraps the real client). */
struct picky_da {
    const struct bm_da *real;
    struct bm_da_ops ops;
    struct bm_da da;
    atomic_uint calls;
};

static enum bm_err picky_submit(void *ctx, const struct bm_da_blob *blobs,
                                size_t n, const char *options_json,
                                uint32_t timeout_ms, uint64_t *height,
                                struct bm_errmsg *em)
{
    struct picky_da *p = ctx;

    if (atomic_fetch_add(&p->calls, 1) == 0) {
        return bm_errf(em, BM_EDA_IN_MEMPOOL, BM_DA_MSG_IN_MEMPOOL);
    }
    if (n > 2) {
        return bm_errf(em, BM_EDA_TOO_BIG, BM_DA_MSG_TOO_BIG);
    }
    return p->real->ops->submit(p->real->ctx, blobs, n, options_json,
                                timeout_ms, height, em);
}

/* Mempool -> backoff and retry; TooBig -> the batch is halved until the
 * DA takes it; everything still lands exactly once. */
static void test_mempool_and_halving(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct picky_da p;
    struct da_view v;
    struct want w;

    (void)state;
    fast_cfg(&cfg);
    open_node(&n, &cfg, NULL, NULL, 0);
    memset(&p, 0, sizeof(p));
    p.real = n.env.da;
    p.ops = *p.real->ops;
    p.ops.submit = picky_submit;
    p.da.ops = &p.ops;
    p.da.ctx = &p;
    atomic_init(&p.calls, 0);
    n.env.da = &p.da;
    at_start(&n);
    commit_range(&n, 1, 10, NULL);
    spawn_submitter(&n);
    w = (struct want){&n, 10, 10};
    assert_true(at_wait(submitted, &w, WAIT_MS));
    check_da(&n, bm_da_server_height(n.da_server), 10, NULL, &v);
    assert_int_equal(atomic_load(&n.env.m.da_submit_mempool), 1);
    /* headers: 10 -> 5 -> 2; data likewise (the limit is per round). */
    assert_true(atomic_load(&n.env.m.da_submit_too_big) >= 2);
    assert_int_equal(atomic_load(&n.env.m.da_submit_other), 0);
    assert_int_equal(atomic_load(&n.env.m.headers_submitted), 10);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* A single envelope above the limit is fatal. */
static void test_oversized_item_fatal(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct bm_errmsg em = {{0}};

    (void)state;
    fast_cfg(&cfg);
    cfg.da_max_blob_size = 64;
    open_node(&n, &cfg, NULL, NULL, 0);
    at_start(&n);
    commit_range(&n, 1, 1, NULL);
    spawn_submitter(&n);
    assert_int_equal(bm_env_wait_fatal(&n.env, WAIT_MS, &em), BM_EDA_TOO_BIG);
    assert_non_null(strstr(em.msg, "da_submitter"));
    assert_int_equal(meta_u64(&n, BM_META_LAST_SUBMITTED_HEADER), 0);
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

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
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
    nftw(home, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_all),
        cmocka_unit_test(test_prefix_batching),
        cmocka_unit_test(test_mempool_and_halving),
        cmocka_unit_test(test_oversized_item_fatal),
        cmocka_unit_test(test_outage_breaker),
        cmocka_unit_test(test_restart_resume),
    };

    return BM_TEST_RUN(tests);
}
