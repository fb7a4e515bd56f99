/* Forwarding of acknowledged txs to the HA leader (node/ha_forward.h):
 * a real etcd, two candidates, the leader's real RPC server and queue. */
#include "ha_test_util.h"

#include "../node/rpc_test_util.h"
#include "blockv2/sequencer.h"
#include "node/ha_forward.h"
#include "node/rpc.h"

#define ID_OF(n) ((const uint8_t *)(n)->genesis.chain_id)
#define ID_LEN_OF(n) strlen((n)->genesis.chain_id)

static void queue(struct at_node *n, const char *tx)
{
    struct bm_buf b = {(uint8_t *)(uintptr_t)tx, strlen(tx)};
    size_t acc = 0;

    assert_int_equal(bm_seq_submit(n->seq, ID_OF(n), ID_LEN_OF(n), &b, 1,
                                   &acc, NULL),
                     BM_OK);
    assert_int_equal(acc, 1);
}

static size_t queued(struct at_node *n)
{
    size_t q = 0;

    bm_seq_queue_size(n->seq, &q, NULL);
    return q;
}

/* Waits (generously: a loaded machine) until queue(n) == want. */
static void wait_queued(struct at_node *n, size_t want, const char *what)
{
    uint64_t end = bm_clock_now_ms() + 30000;

    while (queued(n) != want && bm_clock_now_ms() < end) {
        bm_sleep_ms(20);
    }
    if (queued(n) != want) {
        fail_msg("%s: %zu queued, want %zu", what, queued(n), want);
    }
}

static void wait_leader_known(struct ha_cand *c, const char *id)
{
    struct bm_ha_status st;
    uint64_t end = bm_clock_now_ms() + 20000;

    do {
        bm_ha_status(c->h, &st);
        if (strcmp(st.leader_id, id) == 0) {
            return;
        }
        bm_sleep_ms(20);
    } while (bm_clock_now_ms() < end);
    fail_msg("the follower does not know leader '%s' (got '%s')", id,
             st.leader_id);
}

static struct bm_rpc_server *leader_rpc(struct at_node *n, struct bm_ha *h,
                                        const char *addr)
{
    struct bm_rpc_deps d;
    struct bm_rpc_server *rpc = NULL;
    struct bm_errmsg em = {{0}};

    memset(&d, 0, sizeof(d));
    d.store = n->store;
    d.genesis = &n->genesis;
    d.kv = n->kv;
    d.seq = n->seq;
    d.aggregator = true;
    d.ha = h;
    if (bm_rpc_server_start(&rpc, addr, &d, &em) != BM_OK) {
        fail_msg("rpc at %s: %s", addr, em.msg);
    }
    return rpc;
}

/*
 * The follower t2 holds txs it acknowledged; its forwarder sends them to
 * the leader t1's RPC: 202 and 409 both leave its queue, and the leader
 * queues each once. The leader's RPC gone: nothing leaves, the forwarder
 * retries with back-off and delivers once it is back. A tx the leader saw
 * in a synced block (bm_seq_note_committed) is answered 409: forwarded,
 * never queued twice.
 */
static void test_forward(void **state)
{
    struct etcd_proc *p;
    struct ha_cand c[2];
    struct at_node ldr;
    struct at_node fol;
    struct at_opts o = {0};
    struct bm_rpc_server *rpc;
    struct bm_ha_fwd *fwd = NULL;
    struct bm_ha_fwd_config fc = {0};
    struct bm_ha_fwd_stats st;
    struct bm_errmsg em = {{0}};
    struct bm_hash e5;
    char addr[64];
    char peer1[80];
    const char *peers[2];
    uint64_t end;

    (void)state;
    p = ha_start_etcd();
    ha_cand_start(&c[0], p->url, "/fwd", "t1", 2);
    assert_int_equal(ha_wait_leader(c, 1, 20000), 0);
    ha_cand_start(&c[1], p->url, "/fwd", "t2", 2);
    assert_int_equal(ha_role(&c[1], NULL), BM_HA_FOLLOWER);
    wait_leader_known(&c[1], "t1");
    o.aggregator = true;
    at_node_open(&ldr, &o);
    at_node_open(&fol, &o);
    rpc = leader_rpc(&ldr, c[0].h, "127.0.0.1:0");
    snprintf(addr, sizeof(addr), "127.0.0.1:%u",
             (unsigned)bm_rpc_server_port(rpc));
    snprintf(peer1, sizeof(peer1), "t1=%s", addr);
    peers[0] = peer1;
    peers[1] = "t2=127.0.0.1:1"; /* its own entry: ignored */
    queue(&ldr, "b=2");
    queue(&fol, "a=1");
    queue(&fol, "b=2");
    queue(&fol, "c=3");

    fc.ha = c[1].h;
    fc.seq = fol.seq;
    fc.peers = peers;
    fc.n_peers = 2;
    fc.interval_ms = 50;
    fc.max_backoff_ms = 400;
    assert_int_equal(bm_ha_fwd_start(&fwd, &fc, &em), BM_OK);
    wait_queued(&fol, 0, "follower after forwarding");
    assert_int_equal(queued(&ldr), 3); /* b=2 once */
    bm_ha_fwd_stats(fwd, &st);
    assert_int_equal(st.txs, 2);
    assert_int_equal(st.duplicates, 1);
    assert_true(st.batches >= 1);

    /* The leader's RPC is gone: the tx stays, the forwarder retries. */
    bm_rpc_server_stop(rpc);
    queue(&fol, "d=4");
    end = bm_clock_now_ms() + 30000;
    do {
        bm_sleep_ms(20);
        bm_ha_fwd_stats(fwd, &st);
    } while (st.failures < 2 && bm_clock_now_ms() < end);
    assert_true(st.failures >= 2);
    assert_int_equal(queued(&fol), 1);
    assert_int_equal(queued(&ldr), 3);
    rpc = leader_rpc(&ldr, c[0].h, addr); /* back, same address */
    wait_queued(&fol, 0, "follower after the leader came back");
    assert_int_equal(queued(&ldr), 4);

    /* e=5 is in a block the leader synced: the forwarded copy is a
     * duplicate there and leaves the follower's queue. */
    bm_exec_tx_hash((const uint8_t *)"e=5", 3, &e5);
    assert_int_equal(bm_seq_note_committed(ldr.seq, &e5, 1, NULL, NULL),
                     BM_OK);
    queue(&fol, "e=5");
    wait_queued(&fol, 0, "follower after forwarding a committed tx");
    assert_int_equal(queued(&ldr), 4);
    bm_ha_fwd_stats(fwd, &st);
    assert_int_equal(st.txs, 3);
    assert_int_equal(st.duplicates, 2);

    bm_ha_fwd_stop(fwd);
    bm_rpc_server_stop(rpc);
    ha_cand_free(&c[1]);
    ha_cand_free(&c[0]);
    at_node_close(&fol, true);
    at_node_close(&ldr, true);
}

/* ha.peers entries are checked, naming the entry. */
static void test_peers_config(void **state)
{
    static const char *const bad[][2] = {
        {"t1", "want NODE_ID=HOST:PORT"},
        {"=127.0.0.1:1", "node id must be"},
        {"t1=", "the RPC address must be"},
        {"t1=https://x:1", "only http://"},
        {"t1=http://", "the RPC address must be"},
        {"t1=a b:1", "the RPC address must be"},
    };
    const char *eps[1] = {"http://127.0.0.1:1"};
    struct bm_ha_config hc = {eps, 1, "/cfg", "t9", 2, 0, NULL, NULL};
    struct bm_ha *h = NULL;
    struct at_node n;
    struct at_opts o = {.aggregator = true};
    struct bm_ha_fwd_config fc = {0};
    struct bm_ha_fwd *f = NULL;
    struct bm_errmsg em = {{0}};
    const char *two[2] = {"t1=127.0.0.1:1", "t1=http://127.0.0.1:2/"};

    (void)state;
    assert_int_equal(bm_ha_new(&h, &hc, &em), BM_OK); /* no I/O yet */
    at_node_open(&n, &o);
    fc.ha = h;
    fc.seq = n.seq;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fc.peers = &bad[i][0];
        fc.n_peers = 1;
        memset(&em, 0, sizeof(em));
        assert_int_equal(bm_ha_fwd_start(&f, &fc, &em), BM_ECONFIG);
        assert_null(f);
        if (strstr(em.msg, "ha.peers: entry 1") == NULL ||
            strstr(em.msg, bad[i][1]) == NULL) {
            fail_msg("'%s': %s", bad[i][0], em.msg);
        }
    }
    fc.peers = two;
    fc.n_peers = 2;
    assert_int_equal(bm_ha_fwd_start(&f, &fc, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "'t1' twice"));
    bm_ha_free(h);
    at_node_close(&n, true);
}

/* The leader's answer is untrusted. */
static void test_decode_reply(void **state)
{
    static const struct {
        const char *body;
        size_t n;
        enum bm_err want;
    } cases[] = {
        {"{\"accepted\":1,\"results\":[{\"status\":202,\"hash\":\"ab\"},"
         "{\"status\":409,\"error\":\"dup\"}]}", 2, BM_OK},
        {"{\"results\":[{\"status\":202}]}", 2, BM_EPARSE},
        {"{\"results\":[{\"status\":\"202\"}]}", 1, BM_EPARSE},
        {"{\"results\":[{\"status\":99}]}", 1, BM_EPARSE},
        {"{\"results\":[{\"status\":600}]}", 1, BM_EPARSE},
        {"{\"results\":{}}", 1, BM_EPARSE},
        {"[]", 1, BM_EPARSE},
        {"{\"results\":[[[[[[1]]]]]]}", 1, BM_EPARSE},
        {"{\"results\":[]} x", 0, BM_EPARSE},
        {"", 1, BM_EPARSE},
    };
    int status[2];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bm_errmsg em = {{0}};
        enum bm_err err = bm_ha_fwd_decode_reply(
            cases[i].body, strlen(cases[i].body), cases[i].n, status, &em);

        if (err != cases[i].want) {
            fail_msg("case %zu: %s (%s), want %s", i, bm_err_name(err),
                     em.msg, bm_err_name(cases[i].want));
        }
    }
    assert_int_equal(bm_ha_fwd_decode_reply(cases[0].body,
                                            strlen(cases[0].body), 2, status,
                                            NULL),
                     BM_OK);
    assert_int_equal(status[0], 202);
    assert_int_equal(status[1], 409);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_reply),
        cmocka_unit_test(test_peers_config),
        cmocka_unit_test_teardown(test_forward, ha_teardown_etcd),
    };
    return etcd_proc_exit(BM_TEST_RUN(tests));
}
