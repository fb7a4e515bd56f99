/*
 * RPC server over real HTTP (libcurl on 127.0.0.1) against a real store:
 * Connect JSON shapes (field names from the proto/ files, protojson rules),
 * errors, body limits, health, status, tx ingress; and with a running
 * aggregator manager: /status actors and breakers, /health/ready, tx
 * limiter.
 */
#include "rpc_test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "blockv2/da.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "exec/kv/ingress.h"
#include "node/listen.h"
#include "node/rpc.h"
#include "util/clock.h"
#include "util/hex.h"

struct fx {
    struct at_node n;
    struct bm_rpc_server *srv;
    uint16_t port;
    struct bm_hash hash[4]; /* hash[h] of block h */
    uint8_t signer_addr[32];
};

/* Read by the server's threads. */
static atomic_uint_least64_t best_known;

static uint64_t best_known_fn(void *ctx)
{
    (void)ctx;
    return atomic_load(&best_known);
}

static void le64(uint8_t out[8], uint64_t v)
{
    bm_put_le64(out, v);
}

static int setup(void **state)
{
    struct fx *f = bm_xcalloc(1, sizeof(*f));
    struct at_opts o = {0};
    struct bm_rpc_deps d = {0};
    struct bm_errmsg em = {{0}};
    static uint8_t h2[8];
    static uint8_t d2[8];
    static uint8_t incl[8];
    const char *txs2[] = {"a=1", "b=2", NULL};
    const char *txs3[] = {"c=3", NULL};
    struct bm_store_meta_op meta2[3];
    uint8_t pub[BM_PUBKEY_SIZE];
    struct bm_hash addr;

    at_node_open(&f->n, &o);
    le64(h2, 7);
    le64(d2, 8);
    le64(incl, 2);
    meta2[0] = (struct bm_store_meta_op){"rhb/2/h", h2, 8};
    meta2[1] = (struct bm_store_meta_op){"rhb/2/d", d2, 8};
    meta2[2] = (struct bm_store_meta_op){"d", incl, 8};
    commit_block(&f->n, NULL, NULL, 0, &f->hash[1]);
    commit_block(&f->n, txs2, meta2, 3, &f->hash[2]);
    commit_block(&f->n, txs3, NULL, 0, &f->hash[3]);

    bm_privkey_public(&f->n.key, pub);
    bm_address_from_pubkey(pub, &addr);
    memcpy(f->signer_addr, addr.b, 32);
    d.store = f->n.store;
    d.genesis = &f->n.genesis;
    d.kv = f->n.kv;
    d.header_namespace = "test-ns";
    d.data_namespace = "test-ns-data";
    d.signer_address = f->signer_addr;
    d.signer_address_len = 32;
    d.readiness_max_blocks_behind = 3;
    d.best_known_height = best_known_fn;
    assert_int_equal(bm_rpc_server_start(&f->srv, "127.0.0.1:0", &d, &em),
                     BM_OK);
    f->port = bm_rpc_server_port(f->srv);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    bm_rpc_server_stop(f->srv);
    at_node_close(&f->n, true);
    bm_free(f);
    return 0;
}

/* base64 (standard, padded) of p[0:n] into out. */
static void b64(char *out, size_t cap, const uint8_t *p, size_t n)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

static void expect_error(const struct http_resp *r, long status,
                         const char *code, const char *msg_part)
{
    struct json_object *o;

    if (r->status != status) {
        fail_msg("status %ld, want %ld: %s", r->status, status, r->body);
    }
    o = json_of(r);
    assert_string_equal(jstr(o, "code"), code);
    if (msg_part != NULL && strstr(jstr(o, "message"), msg_part) == NULL) {
        fail_msg("message '%s' lacks '%s'", jstr(o, "message"), msg_part);
    }
    json_object_put(o);
}

static void test_get_block_shape(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct json_object *o;
    struct json_object *txs;
    char want[64];
    uint8_t pk[64];
    size_t pklen = 0;
    const char *s;
    static const char *const header_keys[] = {
        "version", "height", "time", "lastHeaderHash", "dataHash", "appHash",
        "proposerAddress", "validatorHash", "chainId", NULL};
    static const char *const sh_keys[] = {"header", "signature", "signer",
                                          NULL};
    static const char *const signer_keys[] = {"address", "pubKey", NULL};
    static const char *const data_keys[] = {"metadata", "txs", NULL};
    static const char *const meta_keys[] = {"chainId", "height", "time",
                                            "lastDataHash", NULL};
    static const char *const resp_keys[] = {"block", "headerDaHeight",
                                            "dataDaHeight", NULL};

    http_post_json(f->port, "/evnode.v1.StoreService/GetBlock",
                   "{\"height\": \"2\"}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "application/json"));
    o = json_of(&r);
    only_keys(o, resp_keys);
    only_keys(jpath(o, "block.header"), sh_keys);
    only_keys(jpath(o, "block.header.header"), header_keys);
    only_keys(jpath(o, "block.header.signer"), signer_keys);
    only_keys(jpath(o, "block.data"), data_keys);
    only_keys(jpath(o, "block.data.metadata"), meta_keys);
    /* 64-bit integers are strings */
    assert_true(json_object_is_type(jpath(o, "block.header.header.height"),
                                    json_type_string));
    assert_string_equal(jstr(o, "block.header.header.height"), "2");
    assert_string_equal(jstr(o, "block.header.header.chainId"),
                        "test-chain");
    assert_non_null(jpath(o, "block.header.header.version"));
    assert_true(strspn(jstr(o, "block.header.header.time"), "0123456789") ==
                strlen(jstr(o, "block.header.header.time")));
    assert_string_equal(jstr(o, "headerDaHeight"), "7");
    assert_string_equal(jstr(o, "dataDaHeight"), "8");
    /* bytes are standard base64 */
    b64(want, sizeof(want), f->hash[1].b, 32);
    assert_string_equal(jstr(o, "block.header.header.lastHeaderHash"), want);
    b64(want, sizeof(want), f->signer_addr, 32);
    assert_string_equal(jstr(o, "block.header.signer.address"), want);
    s = jstr(o, "block.header.signer.pubKey");
    assert_int_equal(sodium_base642bin(pk, sizeof(pk), s, strlen(s), NULL,
                                       &pklen, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(pklen, BM_LIBP2P_PUBKEY_SIZE);
    assert_memory_equal(pk, "\x08\x01\x12\x20", 4);
    s = jstr(o, "block.header.signature");
    assert_int_equal(strlen(s), 88); /* 64 bytes */
    assert_string_equal(jstr(o, "block.data.metadata.height"), "2");
    txs = jpath(o, "block.data.txs");
    assert_int_equal(json_object_array_length(txs), 2);
    b64(want, sizeof(want), (const uint8_t *)"a=1", 3);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(txs,
                                                                         0)),
                        want);
    json_object_put(o);
    http_resp_release(&r);

    /* Block 1: empty, no DA heights: zero fields are omitted. */
    http_post_json(f->port, "/evnode.v1.StoreService/GetBlock",
                   "{\"height\": 1}", &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    assert_null(jpath(o, "headerDaHeight"));
    assert_null(jpath(o, "dataDaHeight"));
    assert_null(jpath(o, "block.data.txs"));
    assert_null(jpath(o, "block.header.header.lastHeaderHash"));
    json_object_put(o);
    http_resp_release(&r);
}

static void test_get_block_latest_and_hash(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct json_object *o;
    char body[128];
    char b[64];
    const char *bodies[] = {"{}", "", "{\"height\":\"0\"}", " {\"height\":0} "};

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        http_post_json(f->port, "/evnode.v1.StoreService/GetBlock",
                       bodies[i], &r);
        assert_int_equal(r.status, 200);
        o = json_of(&r);
        assert_string_equal(jstr(o, "block.header.header.height"), "3");
        json_object_put(o);
        http_resp_release(&r);
    }
    /* by hash: standard padded, and URL-safe unpadded */
    b64(b, sizeof(b), f->hash[2].b, 32);
    snprintf(body, sizeof(body), "{\"hash\":\"%s\"}", b);
    http_post_json(f->port, "/evnode.v1.StoreService/GetBlock", body, &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    assert_string_equal(jstr(o, "block.header.header.height"), "2");
    json_object_put(o);
    http_resp_release(&r);
    sodium_bin2base64(b, sizeof(b), f->hash[3].b, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(body, sizeof(body), "{\"hash\":\"%s\"}", b);
    http_post_json(f->port, "/evnode.v1.StoreService/GetBlock", body, &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    assert_string_equal(jstr(o, "block.header.header.height"), "3");
    json_object_put(o);
    http_resp_release(&r);
}

static void test_get_block_errors(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    char body[128];
    char b[64];
    uint8_t zero[32] = {0};
    const char *path = "/evnode.v1.StoreService/GetBlock";

    http_post_json(f->port, path, "{\"height\":\"99\"}", &r);
    expect_error(&r, 404, "not_found", NULL);
    http_resp_release(&r);
    b64(b, sizeof(b), zero, 32);
    snprintf(body, sizeof(body), "{\"hash\":\"%s\"}", b);
    http_post_json(f->port, path, body, &r);
    expect_error(&r, 404, "not_found", NULL);
    http_resp_release(&r);
    snprintf(body, sizeof(body), "{\"height\":\"1\",\"hash\":\"%s\"}", b);
    http_post_json(f->port, path, body, &r);
    expect_error(&r, 400, "invalid_argument", "hash");
    http_resp_release(&r);
    http_post_json(f->port, path, "{\"height\":\"abc\"}", &r);
    expect_error(&r, 400, "invalid_argument", "height");
    http_resp_release(&r);
    http_post_json(f->port, path, "{\"height\":-1}", &r);
    expect_error(&r, 400, "invalid_argument", "height");
    http_resp_release(&r);
    http_post_json(f->port, path, "{\"height\":\"18446744073709551616\"}",
                   &r);
    expect_error(&r, 400, "invalid_argument", "height");
    http_resp_release(&r);
    http_post_json(f->port, path, "{\"hash\":\"AAAA\"}", &r);
    expect_error(&r, 400, "invalid_argument", "hash");
    http_resp_release(&r);
    http_post_json(f->port, path, "{\"hash\":\"!!!\"}", &r);
    expect_error(&r, 400, "invalid_argument", "hash");
    http_resp_release(&r);
    http_post_json(f->port, path, "{\"heigth\":\"1\"}", &r);
    expect_error(&r, 400, "invalid_argument", "heigth");
    http_resp_release(&r);
    http_post_json(f->port, path, "{\"height\":", &r);
    expect_error(&r, 400, "invalid_argument", "body");
    http_resp_release(&r);
    http_post_json(f->port, path, "[1]", &r);
    expect_error(&r, 400, "invalid_argument", "body");
    http_resp_release(&r);
    http_post_json(f->port, path, "{} x", &r);
    expect_error(&r, 400, "invalid_argument", "trailing");
    http_resp_release(&r);
}

static void test_protocol_errors(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    char *big;
    size_t n = BM_RPC_MAX_BODY + 4096;

    /* wrong content type, wrong method, unknown procedure, unknown path */
    http_do(f->port, "POST", "/evnode.v1.StoreService/GetState",
            "application/proto", "", 0, NULL, &r);
    assert_int_equal(r.status, 415);
    http_resp_release(&r);
    http_do(f->port, "POST", "/evnode.v1.StoreService/GetState", NULL, "{}",
            2, NULL, &r);
    assert_int_equal(r.status, 415);
    http_resp_release(&r);
    http_get(f->port, "/evnode.v1.StoreService/GetState", &r);
    assert_int_equal(r.status, 405);
    http_resp_release(&r);
    http_post_json(f->port, "/evnode.v1.StoreService/Nope", "{}", &r);
    expect_error(&r, 404, "unimplemented", NULL);
    http_resp_release(&r);
    http_get(f->port, "/nope", &r);
    assert_int_equal(r.status, 404);
    http_resp_release(&r);

    /* oversize body: declared length, then chunked */
    big = bm_xmalloc(n);
    memset(big, ' ', n);
    http_do(f->port, "POST", "/evnode.v1.StoreService/GetBlock",
            "application/json", big, n, NULL, &r);
    expect_error(&r, 413, "resource_exhausted", "body");
    http_resp_release(&r);
    http_do(f->port, "POST", "/evnode.v1.StoreService/GetBlock",
            "application/json", big, n, "Transfer-Encoding: chunked", &r);
    expect_error(&r, 413, "resource_exhausted", "body");
    http_resp_release(&r);
    bm_free(big);
    /* the server still answers afterwards */
    http_get(f->port, "/health/live", &r);
    assert_int_equal(r.status, 200);
    http_resp_release(&r);
}

/* Every refused request is counted by reason (bm_rpc_server_stats). */
static void test_rejections_counted(void **state)
{
    struct fx *f = *state;
    struct bm_rpc_stats st;
    struct http_resp r;
    char deep[4096];

    test_protocol_errors(state); /* 415 x2, 405, 404 x2, 413 x2, 200 */
    http_post_json(f->port, "/evnode.v1.StoreService/GetBlock", "{", &r);
    expect_error(&r, 400, "invalid_argument", NULL);
    http_resp_release(&r);
    memset(deep, '[', sizeof(deep) / 2);
    memset(deep + sizeof(deep) / 2, ']', sizeof(deep) / 2 - 1);
    deep[sizeof(deep) - 1] = '\0';
    http_post_json(f->port, "/evnode.v1.StoreService/GetBlock", deep, &r);
    expect_error(&r, 400, "invalid_argument", "JSON");
    http_resp_release(&r);
    http_post_json(f->port, "/evnode.v1.StoreService/GetBlock",
                   "{\"height\":\"x\"}", &r);
    expect_error(&r, 400, "invalid_argument", "height");
    http_resp_release(&r);
    bm_rpc_server_stats(f->srv, &st);
    assert_int_equal(st.rejected[BM_RPC_REJ_MEDIA_TYPE], 2);
    assert_int_equal(st.rejected[BM_RPC_REJ_METHOD], 1);
    assert_int_equal(st.rejected[BM_RPC_REJ_NOT_FOUND], 2);
    assert_int_equal(st.rejected[BM_RPC_REJ_TOO_BIG], 2);
    assert_int_equal(st.rejected[BM_RPC_REJ_PARSE], 2);
    assert_int_equal(st.rejected[BM_RPC_REJ_INVALID], 1);
    assert_int_equal(st.requests, 11); /* the 10 above and one 200 */
    assert_true(st.connections_total >= 11);
    assert_string_equal(bm_rpc_reject_name(BM_RPC_REJ_PARSE), "parse");
}

struct conns_at_least {
    struct bm_rpc_server *srv;
    uint64_t n;
};

static bool conns_reached(void *arg)
{
    struct conns_at_least *c = arg;
    struct bm_rpc_stats st;

    bm_rpc_server_stats(c->srv, &st);
    return st.connections >= c->n;
}

/*
 * Hundreds of idle connections (clients that connect and send nothing, or
 * stop mid-request) do not lock a legitimate client out: the limit comes
 * from the open-files limit, not a fixed 64.
 */
static void test_idle_connections(void **state)
{
    enum { IDLE = 500 };
    struct fx *f = *state;
    struct bm_rpc_stats st;
    struct http_resp r;
    struct conns_at_least want = {f->srv, IDLE};
    int fds[IDLE];

    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
        rl.rlim_cur < BM_RPC_FD_RESERVE + 2 * IDLE) {
        fprintf(stderr, "skipped: the open-files limit is below %u\n",
                BM_RPC_FD_RESERVE + 2 * IDLE);
        skip();
    }
    bm_rpc_server_stats(f->srv, &st);
    assert_true(st.max_connections >= 2 * IDLE);
    for (int i = 0; i < IDLE; i++) {
        struct sockaddr_in a = {0};

        a.sin_family = AF_INET;
        a.sin_port = htons(f->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof(a)),
                         0);
        if (i % 2 == 1) { /* half stop in the middle of a request line */
            assert_int_equal(send(fds[i], "GET /sta", 8, MSG_NOSIGNAL), 8);
        }
    }
    assert_true(at_wait(conns_reached, &want, 20000));
    http_get(f->port, "/status", &r);
    assert_int_equal(r.status, 200);
    http_resp_release(&r);
    for (int i = 0; i < IDLE; i++) {
        close(fds[i]);
    }
}

static void test_get_state(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct json_object *o;
    char want[64];
    const char *t;
    static const char *const state_keys[] = {
        "version", "chainId", "initialHeight", "lastBlockHeight",
        "lastBlockTime", "daHeight", "appHash", "lastHeaderHash",
        "nextProposerAddress", NULL};

    http_post_json(f->port, "/evnode.v1.StoreService/GetState", "{}", &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    only_keys(jpath(o, "state"), state_keys);
    assert_string_equal(jstr(o, "state.chainId"), "test-chain");
    assert_string_equal(jstr(o, "state.initialHeight"), "1");
    assert_string_equal(jstr(o, "state.lastBlockHeight"), "3");
    b64(want, sizeof(want), f->hash[3].b, 32);
    assert_string_equal(jstr(o, "state.lastHeaderHash"), want);
    /* RFC 3339 UTC, 0/3/6/9 fraction digits */
    t = jstr(o, "state.lastBlockTime");
    assert_true(strlen(t) >= 20);
    assert_int_equal(t[4], '-');
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[strlen(t) - 1], 'Z');
    if (strlen(t) > 20) {
        size_t frac = strlen(t) - 21;

        assert_int_equal(t[19], '.');
        assert_true(frac == 3 || frac == 6 || frac == 9);
    }
    json_object_put(o);
    http_resp_release(&r);
}

static void test_metadata(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct json_object *o;
    uint8_t v[8];
    char want[32];
    struct bm_errmsg em = {{0}};

    le64(v, 2);
    b64(want, sizeof(want), v, 8);
    http_post_json(f->port, "/evnode.v1.StoreService/GetMetadata",
                   "{\"key\":\"d\"}", &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    assert_string_equal(jstr(o, "value"), want);
    json_object_put(o);
    http_resp_release(&r);
    http_post_json(f->port, "/evnode.v1.StoreService/GetMetadata",
                   "{\"key\":\"no-such-key\"}", &r);
    expect_error(&r, 404, "not_found", NULL);
    http_resp_release(&r);
    http_post_json(f->port, "/evnode.v1.StoreService/GetMetadata", "{}", &r);
    expect_error(&r, 400, "invalid_argument", "key");
    http_resp_release(&r);
    http_post_json(f->port, "/evnode.v1.StoreService/GetMetadata", "", &r);
    expect_error(&r, 400, "invalid_argument", "key");
    http_resp_release(&r);
    http_post_json(f->port, "/evnode.v1.StoreService/GetMetadata",
                   "{\"key\":5}", &r);
    expect_error(&r, 400, "invalid_argument", "key");
    http_resp_release(&r);

    /* genesis DA height: absent, then present */
    http_post_json(f->port, "/evnode.v1.StoreService/GetGenesisDaHeight",
                   "{}", &r);
    expect_error(&r, 404, "not_found", NULL);
    http_resp_release(&r);
    le64(v, 12345);
    assert_int_equal(bm_store_put_meta(f->n.store, "gdh", v, 8, &em), BM_OK);
    http_post_json(f->port, "/evnode.v1.StoreService/GetGenesisDaHeight",
                   "{}", &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    assert_string_equal(jstr(o, "height"), "12345");
    json_object_put(o);
    http_resp_release(&r);
    assert_int_equal(bm_store_put_meta(f->n.store, "gdh", v, 3, &em), BM_OK);
    http_post_json(f->port, "/evnode.v1.StoreService/GetGenesisDaHeight",
                   "{}", &r);
    expect_error(&r, 404, "not_found", NULL);
    http_resp_release(&r);
    assert_int_equal(bm_store_put_meta(f->n.store, "gdh", NULL, 0, &em),
                     BM_OK);
}

static void test_config_service(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct json_object *o;
    struct bm_da_namespace ns;
    char hex[2 * BM_DA_NS_LEN + 1];
    char want[64];
    struct bm_rpc_server *s2 = NULL;
    struct bm_rpc_deps d = {0};

    http_post_json(f->port, "/evnode.v1.ConfigService/GetNamespace", "{}",
                   &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    bm_da_namespace_from_string(&ns, "test-ns", 7);
    bm_hex_encode(hex, ns.b, sizeof(ns.b));
    assert_string_equal(jstr(o, "headerNamespace"), hex);
    bm_da_namespace_from_string(&ns, "test-ns-data", 12);
    bm_hex_encode(hex, ns.b, sizeof(ns.b));
    assert_string_equal(jstr(o, "dataNamespace"), hex);
    json_object_put(o);
    http_resp_release(&r);

    http_post_json(f->port, "/evnode.v1.ConfigService/GetSignerInfo", "{}",
                   &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    b64(want, sizeof(want), f->signer_addr, 32);
    assert_string_equal(jstr(o, "address"), want);
    json_object_put(o);
    http_resp_release(&r);
    /* Empty requests take no fields. */
    http_post_json(f->port, "/evnode.v1.ConfigService/GetSignerInfo",
                   "{\"x\":1}", &r);
    expect_error(&r, 400, "invalid_argument", "x");
    http_resp_release(&r);

    /* No signer: unavailable; no data namespace: the header one. */
    d.store = f->n.store;
    d.header_namespace = "only-ns";
    assert_int_equal(bm_rpc_server_start(&s2, "127.0.0.1:0", &d, NULL),
                     BM_OK);
    http_post_json(bm_rpc_server_port(s2),
                   "/evnode.v1.ConfigService/GetSignerInfo", "{}", &r);
    expect_error(&r, 503, "unavailable", NULL);
    http_resp_release(&r);
    http_post_json(bm_rpc_server_port(s2),
                   "/evnode.v1.ConfigService/GetNamespace", "{}", &r);
    o = json_of(&r);
    assert_string_equal(jstr(o, "headerNamespace"),
                        jstr(o, "dataNamespace"));
    json_object_put(o);
    http_resp_release(&r);
    /* no kv: /tx is not served */
    http_post_json(bm_rpc_server_port(s2), "/tx", "{\"tx\":\"k=v\"}", &r);
    assert_int_equal(r.status, 404);
    http_resp_release(&r);
    bm_rpc_server_stop(s2);

    /* the EVM executor: /tx refused, naming where txs go */
    d.evm_eth_url = "http://127.0.0.1:8545";
    assert_int_equal(bm_rpc_server_start(&s2, "127.0.0.1:0", &d, NULL),
                     BM_OK);
    http_post_json(bm_rpc_server_port(s2), "/tx", "{\"tx\":\"k=v\"}", &r);
    assert_int_equal(r.status, 501);
    o = json_of(&r);
    assert_non_null(strstr(jstr(o, "error"), "eth_sendRawTransaction at "
                                             "http://127.0.0.1:8545"));
    json_object_put(o);
    http_resp_release(&r);
    bm_rpc_server_stop(s2);
}

static void test_health(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct bm_rpc_server *s2 = NULL;
    struct bm_rpc_deps d = {0};
    struct at_node fresh;
    struct at_opts o = {0};

    http_get(f->port, "/health/live", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "OK\n");
    http_resp_release(&r);

    atomic_store(&best_known, 3);
    http_get(f->port, "/health/ready", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "READY\n");
    http_resp_release(&r);
    atomic_store(&best_known, 6); /* 3 behind: still ready */
    http_get(f->port, "/health/ready", &r);
    assert_int_equal(r.status, 200);
    http_resp_release(&r);
    atomic_store(&best_known, 7);
    http_get(f->port, "/health/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "UNREADY: behind best-known head\n");
    http_resp_release(&r);
    atomic_store(&best_known, 0);
    http_get(f->port, "/health/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "UNREADY: best-known height unknown\n");
    http_resp_release(&r);

    /* Aggregator: the last block must be recent (5 x block time). */
    d.store = f->n.store;
    d.aggregator = true;
    d.block_time_ms = 1;
    assert_int_equal(bm_rpc_server_start(&s2, "127.0.0.1:0", &d, NULL),
                     BM_OK);
    bm_sleep_ms(50);
    http_get(bm_rpc_server_port(s2), "/health/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "UNREADY: aggregator not producing blocks "
                                "at expected rate\n");
    http_resp_release(&r);
    bm_rpc_server_stop(s2);
    d.block_time_ms = 3600 * 1000;
    assert_int_equal(bm_rpc_server_start(&s2, "127.0.0.1:0", &d, NULL),
                     BM_OK);
    http_get(bm_rpc_server_port(s2), "/health/ready", &r);
    assert_int_equal(r.status, 200);
    http_resp_release(&r);
    bm_rpc_server_stop(s2);

    /* A fresh node: live, not ready, empty store errors. */
    at_node_open(&fresh, &o);
    memset(&d, 0, sizeof(d));
    d.store = fresh.store;
    assert_int_equal(bm_rpc_server_start(&s2, "127.0.0.1:0", &d, NULL),
                     BM_OK);
    http_get(bm_rpc_server_port(s2), "/health/live", &r);
    assert_int_equal(r.status, 200);
    http_resp_release(&r);
    http_get(bm_rpc_server_port(s2), "/health/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "UNREADY: no blocks yet\n");
    http_resp_release(&r);
    http_post_json(bm_rpc_server_port(s2), "/evnode.v1.StoreService/GetBlock",
                   "{}", &r);
    expect_error(&r, 404, "not_found", "empty");
    http_resp_release(&r);
    bm_rpc_server_stop(s2);
    at_node_close(&fresh, true);
}

static void test_status_store_only(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct json_object *o;
    char hex[65];
    struct bm_state st = {0};

    http_get(f->port, "/status", &r);
    assert_int_equal(r.status, 200);
    o = json_of(&r);
    assert_int_equal(json_object_get_int64(jpath(o, "height")), 3);
    assert_int_equal(json_object_get_int64(jpath(o, "da_included_height")),
                     2);
    bm_hex_encode(hex, f->hash[3].b, 32);
    assert_string_equal(jstr(o, "last_header_hash"), hex);
    at_latest_state(&f->n, &st);
    bm_hex_encode(hex, st.app_hash.ptr, st.app_hash.len);
    assert_string_equal(jstr(o, "app_hash"), hex);
    bm_state_release(&st);
    assert_false(json_object_get_boolean(jpath(o, "aggregator")));
    assert_int_equal(json_object_get_int(jpath(o, "peers")), 0);
    assert_int_equal(json_object_array_length(jpath(o, "actors")), 0);
    assert_non_null(jpath(o, "breakers"));
    json_object_put(o);
    http_resp_release(&r);
}

static void test_tx_ingress(void **state)
{
    struct fx *f = *state;
    struct http_resp r;
    struct json_object *o;

    /* A full node (no sequencer): well-formed txs are not taken. */
    http_post_json(f->port, "/tx", "{\"tx\":\"key1=value1\"}", &r);
    assert_int_equal(r.status, 503);
    o = json_of(&r);
    assert_int_equal(strlen(jstr(o, "hash")), 64);
    assert_non_null(strstr(jstr(o, "error"), "not an aggregator"));
    json_object_put(o);
    http_resp_release(&r);
    http_post_json(f->port, "/tx", "{\"tx\":", &r);
    assert_int_equal(r.status, 400);
    http_resp_release(&r);
    http_do(f->port, "POST", "/tx", "text/plain", "nokey", 5, NULL, &r);
    assert_int_equal(r.status, 400);
    http_resp_release(&r);
    http_get(f->port, "/tx", &r);
    assert_int_equal(r.status, 405);
    http_resp_release(&r);
    http_get(f->port, "/kv/never-written", &r);
    assert_int_equal(r.status, 404);
    http_resp_release(&r);
}

/* ---- POST /tx on an aggregator: durable, group commit ---- */

struct afx {
    struct at_node n;
    struct bm_rpc_server *srv;
    uint16_t port;
};

static void afx_start_rpc(struct afx *a)
{
    struct bm_rpc_deps d = {0};
    struct bm_errmsg em = {{0}};

    d.store = a->n.store;
    d.genesis = &a->n.genesis;
    d.kv = a->n.kv;
    d.seq = a->n.seq;
    d.aggregator = true;
    assert_int_equal(bm_rpc_server_start(&a->srv, "127.0.0.1:0", &d, &em),
                     BM_OK);
    a->port = bm_rpc_server_port(a->srv);
}

/* An aggregator's parts (no manager) and an RPC server with a sequencer. */
static void afx_open(struct afx *a)
{
    struct at_opts o = {0};

    memset(a, 0, sizeof(*a));
    o.aggregator = true;
    at_node_open(&a->n, &o);
    afx_start_rpc(a);
}

static void post_expect(uint16_t port, const char *ct, const char *body,
                        long status, const char *part)
{
    struct http_resp r;

    http_do(port, "POST", "/tx", ct, body, strlen(body), NULL, &r);
    if (r.status != status ||
        (part != NULL && strstr(r.body, part) == NULL)) {
        fail_msg("POST %.60s: %ld %s, want %ld with '%s'", body, r.status,
                 r.body, status, part ? part : "");
    }
    http_resp_release(&r);
}

static int json_status_at(struct json_object *o, size_t i)
{
    return json_object_get_int(
        jpath(json_object_array_get_idx(jpath(o, "results"), i), "status"));
}

static void test_tx_durable(void **state)
{
    struct afx a;
    struct http_resp r;
    struct json_object *js;
    struct bm_seq_options so = {0};
    char seqdir[300];
    char *big;
    size_t n = 0;

    (void)state;
    afx_open(&a);

    post_expect(a.port, NULL, "d1=one", 202, "\"hash\"");
    post_expect(a.port, "text/plain", "d1=one", 409, "already queued");
    post_expect(a.port, "application/json", "{\"tx\":\"d2=two\"}", 202,
                NULL);
    post_expect(a.port, NULL, "nokey", 400, "no '='");
    /* Batch: one status per tx, in order. */
    http_post_json(a.port, "/tx",
                   "{\"txs\":[\"b1=1\",\"b2=2\",\"bad\",\"b1=1\",\"d1=one\"]}",
                   &r);
    assert_int_equal(r.status, 200);
    js = json_of(&r);
    assert_int_equal(json_object_get_int(jpath(js, "accepted")), 2);
    assert_int_equal(json_object_array_length(jpath(js, "results")), 5);
    assert_int_equal(json_status_at(js, 0), 202);
    assert_int_equal(json_status_at(js, 1), 202);
    assert_int_equal(json_status_at(js, 2), 400);
    assert_int_equal(json_status_at(js, 3), 409);
    assert_int_equal(json_status_at(js, 4), 409);
    json_object_put(js);
    http_resp_release(&r);
    post_expect(a.port, "application/json", "{\"txs\":[]}", 400, "empty");
    /* Bodies above the caps: 413 (the declared length is refused at
     * once). */
    big = bm_xcalloc(BM_INGRESS_MAX_BATCH_BODY + 2, 1);
    memset(big, 'x', BM_INGRESS_MAX_BATCH_BODY + 1);
    memcpy(big, "k=", 2);
    post_expect(a.port, NULL, big, 413, NULL);
    big[BM_INGRESS_MAX_BODY + 1] = '\0';
    post_expect(a.port, NULL, big, 413, "max");
    bm_free(big);
    bm_seq_queue_size(a.n.seq, &n, NULL);
    assert_int_equal(n, 4);

    /* Restart (server and queue): the queued txs are on disk and still
     * refused as duplicates. */
    bm_rpc_server_stop(a.srv);
    bm_seq_free(a.n.seq);
    snprintf(seqdir, sizeof(seqdir), "%s/data/seq", a.n.home);
    assert_int_equal(bm_seq_open(&a.n.seq, seqdir, "test-chain", &so, NULL),
                     BM_OK);
    bm_seq_queue_size(a.n.seq, &n, NULL);
    assert_int_equal(n, 4);
    afx_start_rpc(&a);
    post_expect(a.port, NULL, "b2=2", 409, "already queued");
    post_expect(a.port, NULL, "d3=three", 202, NULL);
    bm_rpc_server_stop(a.srv);
    at_node_close(&a.n, true);
}

#define TX_THREADS 6
#define TX_PER_THREAD 40

struct txw {
    uint16_t port;
    int id;
    int accepted;
};

static void *tx_worker(void *arg)
{
    struct txw *w = arg;

    for (int i = 0; i < TX_PER_THREAD; i++) {
        char body[64];
        struct http_resp r;

        /* Every other request also repeats a tx all threads send. */
        if (i % 2 == 0) {
            snprintf(body, sizeof(body), "w%d-%d=v", w->id, i);
            http_do(w->port, "POST", "/tx", NULL, body, strlen(body), NULL,
                    &r);
            w->accepted += r.status == 202;
        } else {
            snprintf(body, sizeof(body),
                     "{\"txs\":[\"w%d-%d=v\",\"all-%d=v\"]}", w->id, i, i);
            http_post_json(w->port, "/tx", body, &r);
            if (r.status == 200) {
                struct json_object *o = json_tokener_parse(r.body);

                w->accepted += json_object_get_int(jpath(o, "accepted"));
                json_object_put(o);
            }
        }
        http_resp_release(&r);
    }
    return NULL;
}

/* Concurrent clients: every unique tx once, every shared tx exactly once
 * in all, the queue holds exactly what was answered 202. */
static void test_tx_concurrent(void **state)
{
    struct afx a;
    pthread_t t[TX_THREADS];
    struct txw w[TX_THREADS];
    int accepted = 0;
    size_t n = 0;

    (void)state;
    afx_open(&a);
    for (int i = 0; i < TX_THREADS; i++) {
        w[i] = (struct txw){a.port, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, tx_worker, &w[i]), 0);
    }
    for (int i = 0; i < TX_THREADS; i++) {
        pthread_join(t[i], NULL);
        accepted += w[i].accepted;
    }
    assert_int_equal(accepted,
                     TX_THREADS * TX_PER_THREAD + TX_PER_THREAD / 2);
    bm_seq_queue_size(a.n.seq, &n, NULL);
    assert_int_equal(n, (size_t)accepted);
    bm_rpc_server_stop(a.srv);
    at_node_close(&a.n, true);
}

static void test_listen_errors(void **state)
{
    struct fx *f = *state;
    struct bm_errmsg em = {{0}};
    struct bm_rpc_server *s2 = NULL;
    struct bm_rpc_deps d = {0};
    char addr[64];
    int fd;
    uint16_t port;

    (void)f;
    assert_int_equal(bm_listen_tcp("nonsense", "rpc.address", &fd, &port,
                                   &em),
                     BM_EINVAL);
    assert_non_null(strstr(em.msg, "rpc.address"));
    assert_int_equal(bm_listen_tcp("127.0.0.1:99999", "x", &fd, &port, &em),
                     BM_EINVAL);
    assert_int_equal(bm_listen_tcp("127.0.0.1:", "x", &fd, &port, &em),
                     BM_EINVAL);
    /* all interfaces; IPv6 literal (if the host has IPv6) */
    assert_int_equal(bm_listen_tcp(":0", "x", &fd, &port, &em), BM_OK);
    assert_true(port > 0);
    close(fd);
    if (bm_listen_tcp("[::1]:0", "x", &fd, &port, &em) == BM_OK) {
        assert_true(port > 0);
        close(fd);
    }
    assert_int_equal(bm_listen_tcp("[::1:0", "x", &fd, &port, &em),
                     BM_EINVAL);
    assert_int_equal(bm_listen_tcp("tcp://127.0.0.1:0", "x", &fd, &port,
                                   &em),
                     BM_OK);
    assert_true(port > 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)port);
    d.store = f->n.store;
    assert_int_equal(bm_rpc_server_start(&s2, addr, &d, &em), BM_ESYS);
    close(fd);
    assert_int_equal(bm_rpc_server_start(&s2, "127.0.0.1:0", NULL, &em),
                     BM_EINVAL);
}

/*
 * A burst of connections before the server accepts any (what a client
 * fleet or an attacker does to the RPC): the listen backlog queues all of
 * them. With a backlog of 64 the kernel dropped the rest's SYNs and final
 * ACKs: those clients waited for a retransmission (1 s and more) or lost
 * the connection.
 */
static void test_listen_backlog(void **state)
{
    enum { BURST = 512 };
    struct bm_errmsg em = {{0}};
    struct sockaddr_in a = {0};
    int cfd[BURST];
    int fd, accepted = 0;
    uint16_t port;
    unsigned long somaxconn = 0;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");

    (void)state;
    if (f != NULL) {
        if (fscanf(f, "%lu", &somaxconn) != 1) {
            somaxconn = 0;
        }
        fclose(f);
    }
    if (somaxconn < BURST) {
        skip(); /* the host caps every backlog below the burst */
    }
    assert_int_equal(bm_listen_tcp("127.0.0.1:0", "x", &fd, &port, &em),
                     BM_OK);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < BURST; i++) {
        cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(cfd[i] >= 0);
        assert_true(connect(cfd[i], (struct sockaddr *)&a, sizeof(a)) == 0 ||
                    errno == EINPROGRESS);
    }
    /* Every handshake completes into the queue well within a SYN
     * retransmission (1 s): accept them all without waiting. */
    for (int tries = 0; tries < 50 && accepted < BURST; tries++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);

        if (c >= 0) {
            close(c);
            accepted++;
            tries = 0;
            continue;
        }
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK ||
                    errno == EINTR);
        bm_sleep_ms(10);
    }
    assert_int_equal(accepted, BURST);
    for (int i = 0; i < BURST; i++) {
        close(cfd[i]);
    }
    close(fd);
}

/* ---- with a running aggregator manager ---- */

struct mfx {
    struct at_node n;
    struct bm_manager *m;
};

static bool height_at_least_2(void *arg)
{
    struct mfx *x = arg;
    uint64_t h = 0;

    return bm_manager_get_store_height(x->m, &h) == BM_OK && h >= 2;
}

/* An aggregator's parts with the test rig's config (100 ms blocks); the
 * caller may change x->n.cfg before mfx_start. */
static void mfx_open(struct mfx *x)
{
    struct at_opts o = {0};

    memset(x, 0, sizeof(*x));
    o.aggregator = true;
    at_node_open(&x->n, &o);
    x->n.cfg.block_time_ms = 100;
}

/* Starts the manager and an RPC server with the sequencer on it. */
static void mfx_start(struct mfx *x, struct bm_rpc_server **s)
{
    struct bm_manager_params p;
    struct bm_rpc_deps d = {0};
    struct bm_errmsg em = {{0}};
    enum bm_err err;

    memset(&p, 0, sizeof(p));
    p.signer = &x->n.key;
    p.config = &x->n.cfg;
    p.genesis = &x->n.genesis;
    p.store = x->n.store;
    p.exec = &x->n.exec;
    p.seq = x->n.seq;
    err = bm_manager_new(&x->m, &p, &em);
    if (err == BM_OK) {
        err = bm_manager_start(x->m, &em);
    }
    if (err != BM_OK) {
        fail_msg("manager: %s", bm_errmsg_str(&em, err));
    }
    d.store = x->n.store;
    d.genesis = &x->n.genesis;
    d.manager = x->m;
    d.kv = x->n.kv;
    d.seq = x->n.seq;
    d.aggregator = true;
    d.block_time_ms = x->n.cfg.block_time_ms;
    d.lazy_mode = x->n.cfg.lazy_mode;
    d.readiness_max_blocks_behind = 3;
    assert_int_equal(bm_rpc_server_start(s, "127.0.0.1:0", &d, &em), BM_OK);
}

static void mfx_close(struct mfx *x, struct bm_rpc_server *s)
{
    struct bm_errmsg em = {{0}};

    bm_rpc_server_stop(s);
    assert_int_equal(bm_manager_stop(x->m, &em), BM_OK);
    bm_manager_free(x->m);
    at_node_close(&x->n, true);
}

static void test_with_manager(void **state)
{
    struct mfx x;
    struct bm_rpc_server *s = NULL;
    struct http_resp r;
    struct json_object *js;
    struct json_object *actors;
    bool saw_state = false;

    (void)state;
    mfx_open(&x);
    x.n.cfg.tx_rate = 1;
    x.n.cfg.tx_burst = 1;
    mfx_start(&x, &s);
    assert_true(at_wait(height_at_least_2, &x, 60000));

    http_get(bm_rpc_server_port(s), "/status", &r);
    assert_int_equal(r.status, 200);
    js = json_of(&r);
    assert_true(json_object_get_int64(jpath(js, "height")) >= 2);
    assert_true(json_object_get_boolean(jpath(js, "aggregator")));
    assert_string_equal(jstr(js, "breakers.da"), "closed");
    assert_string_equal(jstr(js, "breakers.exec"), "closed");
    assert_int_equal(strlen(jstr(js, "last_header_hash")), 64);
    actors = jpath(js, "actors");
    assert_true(json_object_array_length(actors) > 0);
    for (size_t i = 0; i < json_object_array_length(actors); i++) {
        struct json_object *a = json_object_array_get_idx(actors, i);

        assert_non_null(jpath(a, "depth"));
        assert_non_null(jpath(a, "capacity"));
        assert_non_null(jpath(a, "handled"));
        assert_non_null(jpath(a, "restarts"));
        saw_state = saw_state || strcmp(jstr(a, "name"), "state") == 0;
    }
    assert_true(saw_state);
    json_object_put(js);
    http_resp_release(&r);

    /* Producing every 100 ms: ready (5 x block time, generous on a loaded
     * machine thanks to the retry loop). */
    for (int i = 0; i < 100; i++) {
        http_get(bm_rpc_server_port(s), "/health/ready", &r);
        if (r.status == 200) {
            break;
        }
        http_resp_release(&r);
        bm_sleep_ms(100);
    }
    assert_int_equal(r.status, 200);
    http_resp_release(&r);

    /* The tx limiter (rpc.tx_rate_limit; burst 1, 1/s here): a quick
     * second tx is refused. */
    http_post_json(bm_rpc_server_port(s), "/tx", "{\"tx\":\"lim1=a\"}", &r);
    assert_int_equal(r.status, 202);
    http_resp_release(&r);
    http_post_json(bm_rpc_server_port(s), "/tx", "{\"tx\":\"lim2=b\"}", &r);
    assert_int_equal(r.status, 429);
    http_resp_release(&r);
    mfx_close(&x, s);
}

struct lazy_fx {
    uint16_t port;
};

static bool kv_readable(void *arg)
{
    struct lazy_fx *l = arg;
    struct http_resp r;
    bool ok;

    http_get(l->port, "/kv/lazy", &r);
    ok = r.status == 200;
    http_resp_release(&r);
    return ok;
}

/* A lazy aggregator (blocks only when there are txs, else every 60 s) is
 * woken by the group commit of a POST /tx: the tx is in a block within
 * seconds, not at the next lazy interval. */
static void test_lazy_wake(void **state)
{
    struct mfx x;
    struct bm_rpc_server *s = NULL;
    struct lazy_fx l;
    struct http_resp r;

    (void)state;
    mfx_open(&x);
    x.n.cfg.lazy_mode = true;
    x.n.cfg.lazy_block_interval_ms = 60000;
    mfx_start(&x, &s);
    l.port = bm_rpc_server_port(s);
    /* Let the first (lazy) block come and go. */
    bm_sleep_ms(500);
    http_do(l.port, "POST", "/tx", NULL, "lazy=1", 6, NULL, &r);
    assert_int_equal(r.status, 202);
    http_resp_release(&r);
    assert_true(at_wait(kv_readable, &l, 20000));
    mfx_close(&x, s);
}

#define FX(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX(test_get_block_shape),
        FX(test_get_block_latest_and_hash),
        FX(test_get_block_errors),
        FX(test_protocol_errors),
        FX(test_rejections_counted),
        FX(test_idle_connections),
        FX(test_get_state),
        FX(test_metadata),
        FX(test_config_service),
        FX(test_health),
        FX(test_status_store_only),
        FX(test_tx_ingress),
        cmocka_unit_test(test_tx_durable),
        cmocka_unit_test(test_tx_concurrent),
        FX(test_listen_errors),
        cmocka_unit_test(test_listen_backlog),
        cmocka_unit_test(test_with_manager),
        cmocka_unit_test(test_lazy_wake),
    };

    struct rlimit rl;

    /* As `blockv2 start` does: the RPC sizes its connection limit from
     * the open-files limit. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return BM_TEST_RUN(tests);
}
