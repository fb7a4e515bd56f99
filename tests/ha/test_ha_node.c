/* The node's ha.* keys (node/ha_node.h): checks and the candidate. */
#include "ha_test_util.h"

#include "../node/rpc_test_util.h"
#include "blockv2/sequencer.h"
#include "node/config.h"
#include "node/ha_node.h"
#include "node/metrics.h"
#include "node/rpc.h"

#include <sys/stat.h>

static void set(struct bm_node_config *cfg, const char *key, const char *v)
{
    struct bm_errmsg em = {{0}};
    const struct bm_node_config_key *k = bm_node_config_find(key);

    assert_non_null(k);
    if (bm_node_config_set(cfg, k, v, &em) != BM_OK) {
        fail_msg("%s", em.msg);
    }
}

static void expect(struct bm_node_config *cfg, enum bm_err want,
                   const char *says)
{
    struct bm_ha *h = NULL;
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_node_ha_open(&h, cfg, "chain-x", &em);

    if (err != want || strstr(em.msg, says) == NULL) {
        fail_msg("got %s '%s', want %s '%s'", bm_err_name(err), em.msg,
                 bm_err_name(want), says);
    }
    assert_null(h);
}

static void test_keys(void **state)
{
    struct bm_node_config cfg = {0};
    char dead[64];

    (void)state;
    bm_node_config_defaults(&cfg);
    assert_false(bm_node_ha_enabled(&cfg));
    etcd_proc_dead_url(dead, sizeof(dead));
    set(&cfg, "ha.etcd_endpoints", dead);
    assert_true(bm_node_ha_enabled(&cfg));
    expect(&cfg, BM_ECONFIG, "node.aggregator");
    set(&cfg, "node.aggregator", "true");
    expect(&cfg, BM_ECONFIG, "ha.node_id");
    set(&cfg, "ha.node_id", "n1");
    set(&cfg, "ha.lease_ttl", "2500ms");
    expect(&cfg, BM_ECONFIG, "ha.lease_ttl");
    set(&cfg, "ha.lease_ttl", "1s");
    expect(&cfg, BM_ECONFIG, "ha.lease_ttl");
    set(&cfg, "ha.lease_ttl", "3s");
    set(&cfg, "ha.prefix", "no-slash");
    expect(&cfg, BM_ECONFIG, "ha.prefix");
    set(&cfg, "ha.prefix", "");
    /* unreachable etcd at start-up: refused, naming the endpoint */
    expect(&cfg, BM_ECONNECT, dead);
    bm_node_config_release(&cfg);
}

static void test_candidate(void **state)
{
    struct etcd_proc *p;
    struct bm_node_config cfg = {0};
    struct bm_ha *h = NULL;
    struct bm_ha_status st;
    struct bm_errmsg em = {{0}};
    struct bm_etcd *e;
    struct bm_etcd_resp r = {0};

    (void)state;
    p = ha_start_etcd();
    bm_node_config_defaults(&cfg);
    set(&cfg, "node.aggregator", "true");
    set(&cfg, "ha.etcd_endpoints", p->url);
    set(&cfg, "ha.node_id", "n1");
    set(&cfg, "ha.lease_ttl", "2s");
    assert_int_equal(bm_node_ha_open(&h, &cfg, "chain-x", &em), BM_OK);
    for (int i = 0; i < 500; i++) {
        bm_ha_status(h, &st);
        if (st.role == BM_HA_LEADER) {
            break;
        }
        bm_sleep_ms(10);
    }
    assert_int_equal(st.role, BM_HA_LEADER);
    assert_true(st.lease_ttl_s == 2);
    /* the default prefix is the chain's */
    e = ha_client(p->url);
    assert_int_equal(bm_etcd_get(e, (const uint8_t *)"/blockv2/chain-x/leader",
                                 strlen("/blockv2/chain-x/leader"), 0, &r, &em),
                     BM_OK);
    assert_true(r.has_kv && r.kv.create_revision == st.token);
    /* /ha/node, as ev-node's /raft/node */
    {
        struct bm_rpc_deps d;
        struct bm_rpc_server *rpc = NULL;
        struct http_resp hr;
        char want[64];
        char home[512];
        struct bm_store *store = NULL;

        snprintf(home, sizeof(home), "%s/home", p->dir);
        mkdir(home, 0700);
        assert_int_equal(bm_store_open(&store, home, NULL, &em), BM_OK);
        memset(&d, 0, sizeof(d));
        d.store = store;
        d.ha = h;
        assert_int_equal(bm_rpc_server_start(&rpc, "127.0.0.1:0", &d, &em),
                         BM_OK);
        http_do(bm_rpc_server_port(rpc), "GET", "/ha/node", NULL, NULL, 0, NULL,
                &hr);
        assert_int_equal(hr.status, 200);
        assert_non_null(strstr(hr.body, "\"is_leader\":true"));
        assert_non_null(strstr(hr.body, "\"node_id\":\"n1\""));
        assert_non_null(strstr(hr.body, "\"leader_id\":\"n1\""));
        snprintf(want, sizeof(want), "\"token\":%lld", (long long)st.token);
        assert_non_null(strstr(hr.body, want));
        http_resp_release(&hr);
        bm_rpc_server_stop(rpc);
        /* Prometheus: blockv2_ha_* */
        {
            struct bm_metrics_config mc;
            struct bm_buf page = {0};
            char *txt;

            memset(&mc, 0, sizeof(mc));
            mc.store = store;
            mc.ha = h;
            assert_int_equal(bm_metrics_collect(&mc, &page), BM_OK);
            txt = bm_strndup((const char *)page.ptr, page.len);
            assert_non_null(
                strstr(txt, "blockv2_ha_is_leader{chain_id=\"\"} 1"));
            assert_non_null(strstr(txt, "# TYPE blockv2_ha_fencing_rejections_"
                                        "total counter"));
            assert_non_null(strstr(txt, "blockv2_ha_leader_changes_total{"));
            bm_free(txt);
            bm_buf_release(&page);
        }
        bm_store_close(store);
    }
    /* resign: the key goes at once */
    bm_ha_stop(h, true);
    assert_int_equal(bm_etcd_get(e, (const uint8_t *)"/blockv2/chain-x/leader",
                                 strlen("/blockv2/chain-x/leader"), 0, &r, &em),
                     BM_OK);
    assert_false(r.has_kv);
    bm_ha_free(h);
    bm_etcd_resp_release(&r);
    bm_etcd_free(e);
    bm_node_config_release(&cfg);
}

/* GET /health/ready from a server over d: want status and body. */
static void expect_ready(const struct bm_rpc_deps *d, int status,
                         const char *body)
{
    struct bm_rpc_server *rpc = NULL;
    struct http_resp hr;
    struct bm_errmsg em = {{0}};

    assert_int_equal(bm_rpc_server_start(&rpc, "127.0.0.1:0", d, &em), BM_OK);
    http_get(bm_rpc_server_port(rpc), "/health/ready", &hr);
    bm_rpc_server_stop(rpc);
    if (hr.status != status || strcmp(hr.body, body) != 0) {
        fail_msg("ready: got %ld '%s', want %d '%s'", hr.status, hr.body, status,
                 body);
    }
    http_resp_release(&hr);
}

/* /health/ready knows the role: only the leader is judged as an aggregator
 * (its blocks' rate, its store at the replicated height); a candidate that
 * does not lead is judged as a full node. */
static void test_ready_by_role(void **state)
{
    struct etcd_proc *p;
    struct ha_cand c[2];
    struct at_node n;
    struct at_opts o = {0};
    struct bm_rpc_deps d;
    struct bm_hash hash;
    struct bm_errmsg em = {{0}};
    int64_t token = 0;

    (void)state;
    p = ha_start_etcd();
    ha_cand_start(&c[0], p->url, "/ready", "r1", 2);
    assert_int_equal(ha_wait_leader(c, 1, 20000), 0);
    ha_cand_start(&c[1], p->url, "/ready", "r2", 2);
    at_node_open(&n, &o);
    commit_block(&n, NULL, NULL, 0, &hash);
    commit_block(&n, NULL, NULL, 0, &hash);
    bm_sleep_ms(50); /* the blocks' time is now: make them 50 ms old */
    memset(&d, 0, sizeof(d));
    d.store = n.store;
    d.aggregator = true;
    d.block_time_ms = 1; /* 5 x 1 ms < the blocks' age */
    d.ha = c[0].h;
    expect_ready(&d, 503,
                 "UNREADY: aggregator not producing blocks at "
                 "expected rate\n");
    d.ha = c[1].h; /* the follower is not judged by its blocks' age */
    assert_int_equal(ha_role(&c[1], NULL), BM_HA_FOLLOWER);
    expect_ready(&d, 200, "READY\n");
    /* the leader's store (height 2) below the replicated height (3) */
    d.ha = c[0].h;
    d.block_time_ms = 3600 * 1000;
    expect_ready(&d, 200, "READY\n");
    assert_int_equal(ha_role(&c[0], &token), BM_HA_LEADER);
    for (uint64_t h = 1; h <= 3; h++) {
        struct bm_buf rec = {0};

        ha_record(h, &rec);
        if (bm_ha_replicate(c[0].h, token, h, rec.ptr, rec.len, &em) != BM_OK) {
            fail_msg("replicate %llu: %s", (unsigned long long)h, em.msg);
        }
        bm_buf_release(&rec);
    }
    expect_ready(&d, 503,
                 "UNREADY: ha: store behind the replicated "
                 "height\n");
    /* a follower reads the record every TTL/3: its store is 1 behind */
    d.ha = c[1].h;
    {
        struct bm_ha_status st;
        uint64_t end = bm_clock_now_ms() + 10000;

        do {
            bm_sleep_ms(20);
            bm_ha_status(c[1].h, &st);
        } while ((!st.replicated_known || st.replicated_height != 3) &&
                 bm_clock_now_ms() < end);
        assert_true(st.replicated_known && st.replicated_height == 3);
    }
    expect_ready(&d, 503,
                 "UNREADY: ha: follower behind the replicated "
                 "height\n");
    d.readiness_max_blocks_behind = 1;
    expect_ready(&d, 200, "READY\n");
    ha_cand_free(&c[1]);
    ha_cand_free(&c[0]);
    at_node_close(&n, true);
}

/* POST /tx on a candidate: the follower refuses it (503, naming the
 * leader; nothing queued), the leader takes it (202). */
static void test_tx_on_follower(void **state)
{
    struct etcd_proc *p;
    struct ha_cand c[2];
    struct at_node n;
    struct at_opts o = {0};
    struct bm_rpc_deps d;
    struct bm_rpc_server *rpc = NULL;
    struct http_resp hr;
    struct bm_errmsg em = {{0}};
    size_t queued = 0, bytes = 0;

    (void)state;
    p = ha_start_etcd();
    ha_cand_start(&c[0], p->url, "/txf", "t1", 2);
    assert_int_equal(ha_wait_leader(c, 1, 20000), 0);
    ha_cand_start(&c[1], p->url, "/txf", "t2", 2);
    o.aggregator = true;
    at_node_open(&n, &o);
    memset(&d, 0, sizeof(d));
    d.store = n.store;
    d.genesis = &n.genesis;
    d.kv = n.kv;
    d.seq = n.seq;
    d.aggregator = true;
    d.ha = c[1].h;
    assert_int_equal(ha_role(&c[1], NULL), BM_HA_FOLLOWER);
    {
        /* the follower learns who leads on its next campaign round */
        struct bm_ha_status st;
        uint64_t end = bm_clock_now_ms() + 10000;

        do {
            bm_ha_status(c[1].h, &st);
            if (strcmp(st.leader_id, "t1") == 0) {
                break;
            }
            bm_sleep_ms(20);
        } while (bm_clock_now_ms() < end);
        assert_string_equal(st.leader_id, "t1");
    }
    assert_int_equal(bm_rpc_server_start(&rpc, "127.0.0.1:0", &d, &em), BM_OK);
    http_post_json(bm_rpc_server_port(rpc), "/tx", "{\"txs\":[\"f=1\"]}", &hr);
    if (hr.status != 503 ||
        strstr(hr.body, "the leader is 't1': send txs to it") == NULL ||
        strstr(hr.body, "\"leader\":\"t1\"") == NULL) {
        fail_msg("follower: got %ld '%s'", hr.status, hr.body);
    }
    http_resp_release(&hr);
    bm_seq_queue_size(n.seq, &queued, &bytes);
    assert_int_equal(queued, 0);
    bm_rpc_server_stop(rpc);
    rpc = NULL;
    d.ha = c[0].h; /* the leader takes it */
    assert_int_equal(bm_rpc_server_start(&rpc, "127.0.0.1:0", &d, &em), BM_OK);
    http_post_json(bm_rpc_server_port(rpc), "/tx", "{\"txs\":[\"f=1\"]}", &hr);
    if (hr.status != 200 || strstr(hr.body, "202") == NULL) {
        fail_msg("leader: got %ld '%s'", hr.status, hr.body);
    }
    http_resp_release(&hr);
    bm_seq_queue_size(n.seq, &queued, &bytes);
    assert_int_equal(queued, 1);
    bm_rpc_server_stop(rpc);
    ha_cand_free(&c[1]);
    ha_cand_free(&c[0]);
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test_teardown(test_candidate, ha_teardown_etcd),
        cmocka_unit_test_teardown(test_ready_by_role, ha_teardown_etcd),
        cmocka_unit_test_teardown(test_tx_on_follower, ha_teardown_etcd),
    };
    return etcd_proc_exit(BM_TEST_RUN(tests));
}
