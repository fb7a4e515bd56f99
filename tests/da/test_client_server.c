/*
 * The real client against the real local DA server over 127.0.0.1: every
 * method, empty and future heights, oversize blobs, restart persistence,
 * auth, the block timer and the vtable.
 */
#include "bm_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "blockv2/da.h"
#include "da_test_util.h"
#include "util/curl_init.h"

#include "../../fuzz/targets/getall_equiv.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"

static void make_blob(struct bm_da_blob *b, const struct bm_da_namespace *ns,
                      size_t len, uint8_t seed)
{
    uint8_t *p = bm_xmalloc(len);

    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed + i * 31);
    }
    assert_int_equal(bm_da_blob_init_v0(b, ns, p, len), BM_OK);
    bm_free(p);
}

struct fixture {
    char home[512];
    struct bm_da_server *s;
    struct bm_da_client *c;
    struct bm_da_namespace nh, nd;
};

static void fx_open(struct fixture *fx, const struct bm_da_server_config *cfg0)
{
    struct bm_da_server_config cfg;

    if (cfg0 != NULL) {
        cfg = *cfg0;
    } else {
        memset(&cfg, 0, sizeof(cfg));
    }
    if (fx->home[0] == '\0') {
        da_tmp_home(fx->home, sizeof(fx->home));
    }
    cfg.home = fx->home;
    fx->s = da_start(&cfg);
    fx->c = da_client(fx->s, cfg.auth_token, 5000);
    bm_da_namespace_from_string(&fx->nh, "test-chain-headers", 18);
    bm_da_namespace_from_string(&fx->nd, "test-chain-data", 15);
}

static void fx_close(struct fixture *fx, bool remove)
{
    bm_da_client_free(fx->c);
    bm_da_server_stop(fx->s);
    fx->c = NULL;
    fx->s = NULL;
    if (remove) {
        da_rm_home(fx->home);
        fx->home[0] = '\0';
    }
}

static void test_submit_get_all(void **state)
{
    struct fixture fx = {.s = NULL};
    struct bm_da_blob b[3];
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_errmsg em = {{0}};
    uint64_t h = 0, h2 = 0;
    (void)state;

    fx_open(&fx, NULL);
    make_blob(&b[0], &fx.nh, 100, 1);
    make_blob(&b[1], &fx.nh, 5000, 2);
    make_blob(&b[2], &fx.nd, 1, 3);
    assert_int_equal(bm_da_client_submit(fx.c, b, 3, NULL, 0, &h, &em), BM_OK);
    assert_int_equal(h, 2); /* height 1 is the empty genesis height */
    assert_int_equal(bm_da_server_height(fx.s), 2);

    assert_int_equal(bm_da_client_get_all(fx.c, h, &fx.nh, 1, 0, &l, &em),
                     BM_OK);
    assert_int_equal(l.n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(bm_buf_eq(&l.v[i].data, &b[i].data));
        assert_memory_equal(l.v[i].commitment, b[i].commitment, 32);
        assert_memory_equal(l.v[i].ns.b, fx.nh.b, BM_DA_NS_LEN);
        assert_int_equal(l.v[i].share_version, 0);
    }
    assert_int_equal(l.v[0].index, 0);
    assert_int_equal(l.v[1].index, 1);
    bm_da_blob_list_release(&l);

    struct bm_da_namespace both[2] = {fx.nh, fx.nd};
    assert_int_equal(bm_da_client_get_all(fx.c, h, both, 2, 0, &l, &em),
                     BM_OK);
    assert_int_equal(l.n, 3);
    assert_true(bm_buf_eq(&l.v[2].data, &b[2].data));
    bm_da_blob_list_release(&l);

    /* all calls so far went over one reused connection */
    assert_int_equal(bm_da_server_connections(fx.s), 1);
    /* per Submit a new height */
    assert_int_equal(bm_da_client_submit(fx.c, b + 2, 1, "{\"gas_price\":0.1}",
                                         0, &h2, &em),
                     BM_OK);
    assert_int_equal(h2, h + 1);
    /* a non-object options text is refused locally */
    assert_int_equal(bm_da_client_submit(fx.c, b, 1, "[1]", 0, &h2, &em),
                     BM_EINVAL);
    for (size_t i = 0; i < 3; i++) {
        bm_da_blob_release(&b[i]);
    }
    fx_close(&fx, true);
}

static void test_get_proof_included(void **state)
{
    struct fixture fx = {.s = NULL};
    struct bm_da_blob b[2], got;
    struct bm_buf proof = {NULL, 0};
    struct bm_errmsg em = {{0}};
    uint8_t other[32];
    uint64_t h = 0;
    bool inc = false;
    (void)state;

    fx_open(&fx, NULL);
    make_blob(&b[0], &fx.nd, 700, 9);
    make_blob(&b[1], &fx.nd, 70, 8);
    assert_int_equal(bm_da_client_submit(fx.c, b, 2, NULL, 0, &h, &em), BM_OK);

    memset(&got, 0, sizeof(got));
    assert_int_equal(
        bm_da_client_get(fx.c, h, &fx.nd, b[1].commitment, 0, &got, &em),
        BM_OK);
    assert_true(bm_buf_eq(&got.data, &b[1].data));
    assert_int_equal(got.index, 2); /* after the 2 shares of blob 0 */
    bm_da_blob_release(&got);

    memset(other, 0x5a, sizeof(other));
    assert_int_equal(bm_da_client_get(fx.c, h, &fx.nd, other, 0, &got, &em),
                     BM_EDA_NOT_FOUND);
    assert_string_equal(em.msg, "blob: not found");
    assert_int_equal(bm_da_client_get(fx.c, h, &fx.nh, b[1].commitment, 0,
                                      &got, &em),
                     BM_EDA_NOT_FOUND);

    assert_int_equal(bm_da_client_get_proof(fx.c, h, &fx.nd, b[0].commitment,
                                            0, &proof, &em),
                     BM_OK);
    assert_true(proof.len > 2 && proof.ptr[0] == '[');
    assert_int_equal(bm_da_client_included(fx.c, h, &fx.nd, proof.ptr,
                                           proof.len, b[0].commitment, 0,
                                           &inc, &em),
                     BM_OK);
    assert_true(inc);
    assert_int_equal(bm_da_client_included(fx.c, h, &fx.nd, proof.ptr,
                                           proof.len, other, 0, &inc, &em),
                     BM_OK);
    assert_false(inc);
    assert_int_equal(bm_da_client_included(fx.c, h, &fx.nd,
                                           (const uint8_t *)"[1,", 3, other,
                                           0, &inc, &em),
                     BM_EINVAL);
    bm_buf_release(&proof);
    assert_int_equal(bm_da_client_get_proof(fx.c, h, &fx.nd, other, 0, &proof,
                                            &em),
                     BM_EDA_NOT_FOUND);
    bm_da_blob_release(&b[0]);
    bm_da_blob_release(&b[1]);
    fx_close(&fx, true);
}

static void check_empty(enum bm_da_server_empty mode)
{
    struct bm_da_server_config cfg;
    struct fixture fx = {.s = NULL};
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};

    memset(&cfg, 0, sizeof(cfg));
    cfg.empty_mode = mode;
    fx_open(&fx, &cfg);
    /* height 1 exists and is empty */
    assert_int_equal(bm_da_client_get_all(fx.c, 1, &fx.nh, 1, 0, &l, &em),
                     BM_EDA_NOT_FOUND);
    assert_null(l.v);
    assert_int_equal(bm_da_status_from_err(BM_EDA_NOT_FOUND),
                     BM_DA_STATUS_NOT_FOUND);
    /* future heights */
    assert_int_equal(bm_da_client_get_all(fx.c, 99, &fx.nh, 1, 0, &l, &em),
                     BM_EDA_FUTURE_HEIGHT);
    assert_non_null(strstr(em.msg, "given height is from the future"));
    assert_int_equal(
        bm_da_client_header_get_by_height(fx.c, 1000, 0, &hd, &em),
        BM_EDA_FUTURE_HEIGHT);
    /* height 0 is an error, not a crash */
    assert_int_equal(bm_da_client_get_all(fx.c, 0, &fx.nh, 1, 0, &l, &em),
                     BM_EDA_ERROR);
    fx_close(&fx, true);
}

static void test_empty_and_future(void **state)
{
    (void)state;
    check_empty(BM_DA_EMPTY_NOT_FOUND);
    check_empty(BM_DA_EMPTY_NULL);
    check_empty(BM_DA_EMPTY_LIST);
}

static void check_headers(bool numbers)
{
    struct bm_da_server_config cfg;
    struct fixture fx = {.s = NULL};
    struct bm_da_header hd;
    struct bm_da_blob b;
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    int64_t now = (int64_t)time(NULL) * 1000000000;

    memset(&cfg, 0, sizeof(cfg));
    cfg.heights_as_numbers = numbers;
    fx_open(&fx, &cfg);
    make_blob(&b, &fx.nh, 10, 1);
    assert_int_equal(bm_da_client_submit(fx.c, &b, 1, NULL, 0, &h, &em), BM_OK);
    bm_da_blob_release(&b);
    assert_int_equal(bm_da_client_header_get_by_height(fx.c, h, 0, &hd, &em),
                     BM_OK);
    assert_int_equal(hd.height, h);
    assert_true(hd.has_time);
    assert_true(hd.time_unix_ns > now - 60 * (int64_t)1000000000);
    assert_true(hd.time_unix_ns < now + 60 * (int64_t)1000000000);
    memset(&hd, 0, sizeof(hd));
    assert_int_equal(bm_da_client_header_network_head(fx.c, 0, &hd, &em),
                     BM_OK);
    assert_int_equal(hd.height, h);
    memset(&hd, 0, sizeof(hd));
    assert_int_equal(bm_da_client_header_local_head(fx.c, 0, &hd, &em),
                     BM_OK);
    assert_int_equal(hd.height, h);
    fx_close(&fx, true);
}

static void test_headers(void **state)
{
    (void)state;
    check_headers(false);
    check_headers(true);
}

static void test_oversize(void **state)
{
    struct bm_da_server_config cfg;
    struct fixture fx = {.s = NULL};
    struct bm_da_blob b;
    struct bm_errmsg em = {{0}};
    uint64_t h = 0, calls;
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_blob_size = 1000;
    fx_open(&fx, &cfg);
    make_blob(&b, &fx.nh, 1000, 1);
    assert_int_equal(bm_da_client_submit(fx.c, &b, 1, NULL, 0, &h, &em), BM_OK);
    bm_da_blob_release(&b);
    make_blob(&b, &fx.nh, 1001, 1);
    assert_int_equal(bm_da_client_submit(fx.c, &b, 1, NULL, 0, &h, &em),
                     BM_EDA_TOO_BIG);
    assert_string_equal(em.msg, "blob: over size limit");
    bm_da_blob_release(&b);

    /* the client refuses blobs above its own cap without a request */
    calls = bm_da_server_calls(fx.s);
    make_blob(&b, &fx.nh, BM_DA_CLIENT_MAX_BLOB_SIZE + 1, 1);
    assert_int_equal(bm_da_client_submit(fx.c, &b, 1, NULL, 0, &h, &em),
                     BM_EDA_TOO_BIG);
    assert_int_equal(bm_da_server_calls(fx.s), calls);
    bm_da_blob_release(&b);
    /* a body above the server's request cap (2 x 1000 + 1 MiB) is answered
     * with HTTP 413, which is TooBig (the submitter then sends fewer blobs
     * per call), and the connection stays usable */
    {
        struct bm_da_client_config cc;
        struct bm_da_client *big = NULL;
        struct bm_da_header hd;
        char url[64];
        memset(&cc, 0, sizeof(cc));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u",
                 (unsigned)bm_da_server_port(fx.s));
        cc.url = url;
        cc.timeout_ms = 10000;
        cc.max_blob_size = (size_t)16 << 20;
        assert_int_equal(bm_da_client_new(&big, &cc, &em), BM_OK);
        make_blob(&b, &fx.nh, (size_t)1 << 20, 7);
        assert_int_equal(bm_da_client_submit(big, &b, 1, NULL, 0, &h, &em),
                         BM_EDA_TOO_BIG);
        assert_non_null(strstr(em.msg, "HTTP 413: request body above"));
        assert_int_equal(bm_da_client_header_network_head(big, 0, &hd, &em),
                         BM_OK);
        bm_da_blob_release(&b);
        bm_da_client_free(big);
    }
    {
        struct bm_da_blob many[4];
        for (int i = 0; i < 4; i++) {
            make_blob(&many[i], &fx.nh, 1000, (uint8_t)i);
        }
        /* 4 x 1000 bytes fit the body cap (2 x 1000 + 1 MiB) */
        assert_int_equal(bm_da_client_submit(fx.c, many, 4, NULL, 0, &h, &em),
                         BM_OK);
        for (int i = 0; i < 4; i++) {
            bm_da_blob_release(&many[i]);
        }
    }
    fx_close(&fx, true);
}

/* Uploads that announce a large Content-Length (4 MB, under the body
 * cap) and send one byte: the server's memory follows what arrived, not
 * what was claimed. */
#define CLAIMERS 8

static void test_upload_claim_capped(void **state)
{
    struct fixture fx = {.s = NULL};
    int fds[CLAIMERS];
    int64_t count0, bytes0;
    char req[256];
    int len;
    (void)state;

    fx_open(&fx, NULL);
    len = snprintf(req, sizeof(req),
                   "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: 4000000\r\n\r\n{");
    count0 = bm_alloc_live_count();
    bytes0 = bm_alloc_live_bytes();
    for (int i = 0; i < CLAIMERS; i++) {
        struct sockaddr_in sa;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons(bm_da_server_port(fx.s));
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)),
                         0);
        assert_int_equal(write(fds[i], req, (size_t)len), len);
    }
    /* Each upload has its connection state (one allocation) once its
     * headers are in, and its first body byte soon after (10 s bound). */
    for (int i = 0; i < 1000; i++) {
        if (bm_alloc_live_count() >= count0 + 2 * CLAIMERS) {
            break;
        }
        bm_sleep_ms(10);
    }
    bm_sleep_ms(100);
    assert_true(bm_alloc_live_count() >= count0 + CLAIMERS);
    assert_true(bm_alloc_live_bytes() - bytes0 < (int64_t)CLAIMERS * 4096);
    for (int i = 0; i < CLAIMERS; i++) {
        close(fds[i]);
    }
    fx_close(&fx, true);
}

static void test_restart_keeps_blobs(void **state)
{
    struct fixture fx = {.s = NULL};
    struct bm_da_blob b;
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_errmsg em = {{0}};
    struct bm_da_server *second = NULL;
    struct bm_da_server_config cfg;
    uint64_t h = 0, h2 = 0;
    (void)state;

    fx_open(&fx, NULL);
    make_blob(&b, &fx.nd, 3000, 4);
    assert_int_equal(bm_da_client_submit(fx.c, &b, 1, NULL, 0, &h, &em), BM_OK);
    /* a second server on the same home is refused */
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = fx.home;
    assert_int_equal(bm_da_server_start(&second, &cfg, &em), BM_ELOCKED);
    fx_close(&fx, false);

    fx_open(&fx, NULL);
    assert_int_equal(bm_da_server_height(fx.s), h);
    assert_int_equal(bm_da_client_get_all(fx.c, h, &fx.nd, 1, 0, &l, &em),
                     BM_OK);
    assert_int_equal(l.n, 1);
    assert_true(bm_buf_eq(&l.v[0].data, &b.data));
    bm_da_blob_list_release(&l);
    assert_int_equal(bm_da_client_submit(fx.c, &b, 1, NULL, 0, &h2, &em),
                     BM_OK);
    assert_int_equal(h2, h + 1);
    bm_da_blob_release(&b);
    fx_close(&fx, true);
}

static void test_auth(void **state)
{
    struct bm_da_server_config cfg;
    struct fixture fx = {.s = NULL};
    struct bm_da_client *c;
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.auth_token = "s3cret-token";
    fx_open(&fx, &cfg);
    assert_int_equal(bm_da_client_header_network_head(fx.c, 0, &hd, &em),
                     BM_OK);
    c = da_client(fx.s, NULL, 2000);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EAUTH);
    bm_da_client_free(c);
    c = da_client(fx.s, "s3cret-tokeX", 2000);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EAUTH);
    bm_da_client_free(c);
    c = da_client(fx.s, "s3cret-token-longer", 2000);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EAUTH);
    bm_da_client_free(c);
    fx_close(&fx, true);
}

static void test_block_time(void **state)
{
    struct bm_da_server_config cfg;
    struct fixture fx = {.s = NULL};
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};
    uint64_t start;
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.block_time_ms = 20;
    fx_open(&fx, &cfg);
    start = bm_da_server_height(fx.s);
    /* the timer makes empty heights; poll (bounded) until two appeared */
    for (int i = 0; i < 500; i++) {
        assert_int_equal(bm_da_client_header_network_head(fx.c, 0, &hd, &em),
                         BM_OK);
        if (hd.height >= start + 2) {
            break;
        }
        bm_sleep_ms(10);
    }
    assert_true(hd.height >= start + 2);
    fx_close(&fx, true);
}

/* A wrapper over the client vtable that counts calls (what actor tests
 * do to observe and perturb the DA). */
struct counting {
    struct bm_da inner;
    int calls;
};

static enum bm_err cnt_submit(void *ctx, const struct bm_da_blob *blobs,
                              size_t n, const char *opts, uint32_t t,
                              uint64_t *h, struct bm_errmsg *em)
{
    struct counting *w = ctx;

    w->calls++;
    return w->inner.ops->submit(w->inner.ctx, blobs, n, opts, t, h, em);
}

static void test_vtable(void **state)
{
    struct fixture fx = {.s = NULL};
    struct counting w;
    struct bm_da_ops ops;
    struct bm_da da;
    struct bm_da_blob b;
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    (void)state;

    fx_open(&fx, NULL);
    bm_da_from_client(&w.inner, fx.c);
    w.calls = 0;
    ops = *w.inner.ops;
    ops.submit = cnt_submit;
    da.ops = &ops;
    da.ctx = &w;
    make_blob(&b, &fx.nh, 50, 1);
    assert_int_equal(da.ops->submit(da.ctx, &b, 1, NULL, 0, &h, &em), BM_OK);
    assert_int_equal(w.calls, 1);
    /* the untouched entries still reach the client (ctx is the client) */
    assert_int_equal(
        w.inner.ops->get_all(w.inner.ctx, h, &fx.nh, 1, 0, &l, &em), BM_OK);
    assert_int_equal(l.n, 1);
    bm_da_blob_list_release(&l);
    bm_da_blob_release(&b);
    fx_close(&fx, true);
}

/* Several clients in parallel threads against one server: every Submit
 * gets its own height and every blob reads back. */
struct worker {
    struct bm_da_server *s;
    struct bm_da_namespace ns;
    uint64_t heights[10];
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bm_da_client *c = da_client(w->s, NULL, 10000);
    struct bm_errmsg em = {{0}};

    for (int i = 0; i < 10; i++) {
        struct bm_da_blob b;
        struct bm_da_blob_list l = {NULL, 0};
        uint8_t data[300];
        memset(data, i, sizeof(data));
        data[0] = w->ns.b[28];
        if (bm_da_blob_init_v0(&b, &w->ns, data, sizeof(data)) != BM_OK ||
            bm_da_client_submit(c, &b, 1, NULL, 0, &w->heights[i], &em) !=
                BM_OK ||
            bm_da_client_get_all(c, w->heights[i], &w->ns, 1, 0, &l, &em) !=
                BM_OK ||
            l.n != 1 || !bm_buf_eq(&l.v[0].data, &b.data)) {
            w->failures++;
        }
        bm_da_blob_list_release(&l);
        bm_da_blob_release(&b);
    }
    bm_da_client_free(c);
    return NULL;
}

static void test_parallel_clients(void **state)
{
    struct fixture fx = {.s = NULL};
    struct worker w[4];
    pthread_t th[4];
    (void)state;

    fx_open(&fx, NULL);
    for (int i = 0; i < 4; i++) {
        char name[16];
        memset(&w[i], 0, sizeof(w[i]));
        w[i].s = fx.s;
        snprintf(name, sizeof(name), "worker-%d", i);
        bm_da_namespace_from_string(&w[i].ns, name, strlen(name));
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    /* 40 submits on top of the genesis height, all distinct */
    assert_int_equal(bm_da_server_height(fx.s), 41);
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 10; j++) {
            for (int k = 0; k < 4; k++) {
                for (int m = 0; m < 10; m++) {
                    if (i != k || j != m) {
                        assert_true(w[i].heights[j] != w[k].heights[m]);
                    }
                }
            }
        }
    }
    fx_close(&fx, true);
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    struct bm_dynbuf *d = arg;

    return bm_dynbuf_append(d, p, size * n) == BM_OK ? size * n : 0;
}

/* The raw body of blob.GetAll(h, [both namespaces]) with id 1. */
static void raw_get_all(struct fixture *fx, uint64_t h, struct bm_dynbuf *d)
{
    CURL *c = curl_easy_init();
    char url[64], req[512];
    uint8_t ns[2][48];
    struct bm_dynbuf b;
    const struct bm_da_namespace *nss[2] = {&fx->nh, &fx->nd};

    assert_non_null(c);
    for (int i = 0; i < 2; i++) {
        bm_dynbuf_init(&b, sizeof(ns[i]));
        assert_int_equal(bm__da_b64_append(&b, nss[i]->b, BM_DA_NS_LEN),
                         BM_OK);
        memcpy(ns[i], b.ptr, b.len);
        ns[i][b.len] = '\0';
        bm_dynbuf_release(&b);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u",
             (unsigned)bm_da_server_port(fx->s));
    snprintf(req, sizeof(req),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"blob.GetAll\","
             "\"params\":[%llu,[\"%s\",\"%s\"]]}",
             (unsigned long long)h, (const char *)ns[0], (const char *)ns[1]);
    bm_dynbuf_reset(d);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
}

/*
 * Real answers of our DA server (blobs of many sizes in both namespaces,
 * share version 1 with a signer, every empty-height form): the GetAll
 * scanner decodes each one itself, to what json-c's decoder makes of it,
 * and the client gets the blobs submitted.
 */
static void test_get_all_scanner_real(void **state)
{
    static const enum bm_da_server_empty modes[] = {
        BM_DA_EMPTY_NULL, BM_DA_EMPTY_LIST};
    static const size_t sizes[] = {1, 2, 3, 477, 478, 479, 960, 4096, 70001};
    struct bm_dynbuf body;
    (void)state;

    assert_int_equal(bm_curl_init(), BM_OK);
    bm_dynbuf_init(&body, 8u << 20);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        struct fixture fx = {.s = NULL};
        struct bm_da_server_config cfg;
        struct bm_errmsg em = {{0}};
        uint64_t h = 0, first = 0;

        memset(&cfg, 0, sizeof(cfg));
        cfg.empty_mode = modes[m];
        fx_open(&fx, &cfg);
        /* every size in the first mode; one height in the other */
        size_t n_sizes = m == 0 ? sizeof(sizes) / sizeof(sizes[0]) : 1;

        for (size_t i = 0; i < n_sizes; i++) {
            struct bm_da_blob b[3];
            struct bm_da_blob_list l = {NULL, 0};
            struct bm_da_namespace both[2] = {fx.nh, fx.nd};
            make_blob(&b[0], &fx.nh, sizes[i], (uint8_t)i);
            make_blob(&b[1], &fx.nd, sizes[i] + i, (uint8_t)(i + 1));
            /* share version 1: with the signer in the commitment */
            make_blob(&b[2], &fx.nd, 10 + i, (uint8_t)(i + 2));
            b[2].share_version = 1;
            b[2].has_signer = true;
            memset(b[2].signer, 0x5a + (int)i, BM_DA_SIGNER_LEN);
            assert_int_equal(bm_da_commitment(b[2].commitment, &b[2].ns,
                                              b[2].data.ptr, b[2].data.len,
                                              1, b[2].signer),
                             BM_OK);
            assert_int_equal(
                bm_da_client_submit(fx.c, b, 3, NULL, 0, &h, &em), BM_OK);
            if (first == 0) {
                first = h;
            }
            raw_get_all(&fx, h, &body);
            assert_int_equal(getall_equiv((const char *)body.ptr, body.len, 1),
                             GETALL_SAME);
            assert_int_equal(
                bm_da_client_get_all(fx.c, h, both, 2, 0, &l, &em), BM_OK);
            assert_int_equal(l.n, 3);
            for (size_t j = 0; j < 3; j++) {
                assert_true(bm_buf_eq(&l.v[j].data, &b[j].data));
                assert_memory_equal(l.v[j].commitment, b[j].commitment,
                                    BM_DA_COMMITMENT_LEN);
                assert_int_equal(l.v[j].has_signer, b[j].has_signer);
            }
            bm_da_blob_list_release(&l);
            for (size_t j = 0; j < 3; j++) {
                bm_da_blob_release(&b[j]);
            }
        }
        /* the empty genesis height in this mode: scanned as not found */
        raw_get_all(&fx, first - 1, &body);
        assert_int_equal(getall_equiv((const char *)body.ptr, body.len, 1),
                         GETALL_SAME);
        fx_close(&fx, true);
    }
    bm_dynbuf_release(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_get_all),
        cmocka_unit_test(test_get_proof_included),
        cmocka_unit_test(test_empty_and_future),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_upload_claim_capped),
        cmocka_unit_test(test_restart_keeps_blobs),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_block_time),
        cmocka_unit_test(test_vtable),
        cmocka_unit_test(test_parallel_clients),
        cmocka_unit_test(test_get_all_scanner_real),
    };
    return BM_TEST_RUN(tests);
}
