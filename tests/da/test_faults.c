/*
 * Fault injection of the local DA server (latency, fail rate, outage) and a
 * hostile HTTP server (a fake: garbage and truncated bodies cannot be made
 * by the real server) that must never crash the client.
 */
#include "bm_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "blockv2/da.h"
#include "da_test_util.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"

static void test_timeout_is_deadline(void **state)
{
    struct bm_da_server_config cfg;
    struct bm_da_server *s;
    struct bm_da_client *c;
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};
    char home[512];
    (void)state;

    da_tmp_home(home, sizeof(home));
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = home;
    cfg.latency_ms = 400;
    s = da_start(&cfg);
    c = da_client(s, NULL, 100);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EDA_DEADLINE);
    assert_int_equal(bm_da_status_from_err(BM_EDA_DEADLINE),
                     BM_DA_STATUS_CONTEXT_DEADLINE);
    /* a per-call timeout overrides the client default */
    assert_int_equal(bm_da_client_header_network_head(c, 3000, &hd, &em),
                     BM_OK);
    bm_da_client_free(c);
    bm_da_server_stop(s);
    da_rm_home(home);
}

static void test_fail_rate(void **state)
{
    struct bm_da_server_config cfg;
    struct bm_da_server *s;
    struct bm_da_client *c;
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};
    char home[512];
    int ok = 0, failed = 0;
    (void)state;

    da_tmp_home(home, sizeof(home));
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = home;
    cfg.fail_rate = 1.0;
    s = da_start(&cfg);
    c = da_client(s, NULL, 2000);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EDA_ERROR);
    assert_non_null(strstr(em.msg, "injected failure"));
    bm_da_client_free(c);
    bm_da_server_stop(s);

    cfg.fail_rate = 0.5;
    cfg.seed = 42;
    s = da_start(&cfg);
    c = da_client(s, NULL, 2000);
    for (int i = 0; i < 40; i++) {
        enum bm_err err = bm_da_client_header_network_head(c, 0, &hd, &em);
        if (err == BM_OK) {
            ok++;
        } else {
            assert_int_equal(err, BM_EDA_ERROR);
            failed++;
        }
    }
    assert_true(ok > 0 && failed > 0);
    bm_da_client_free(c);
    bm_da_server_stop(s);
    da_rm_home(home);
}

static void test_outage(void **state)
{
    struct bm_da_server_config cfg;
    struct bm_da_server *s;
    struct bm_da_client *c;
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};
    char home[512];
    enum bm_err err = BM_OK;
    (void)state;

    da_tmp_home(home, sizeof(home));
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = home;
    cfg.outage_after = 2;
    cfg.outage_for_ms = 300;
    s = da_start(&cfg);
    c = da_client(s, NULL, 2000);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em), BM_OK);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em), BM_OK);
    /* the third call gets no answer at all */
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EDA_ERROR);
    /* and the server comes back after the outage (bounded retries) */
    for (int i = 0; i < 200; i++) {
        err = bm_da_client_header_network_head(c, 0, &hd, &em);
        if (err == BM_OK) {
            break;
        }
        assert_int_equal(err, BM_EDA_ERROR);
        bm_sleep_ms(20);
    }
    assert_int_equal(err, BM_OK);
    bm_da_client_free(c);
    bm_da_server_stop(s);
    da_rm_home(home);
}

static void test_outage_errors(void **state)
{
    struct bm_da_server_config cfg;
    struct bm_da_server *s;
    struct bm_da_client *c;
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};
    char home[512];
    (void)state;

    da_tmp_home(home, sizeof(home));
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = home;
    cfg.outage_after = 1;
    cfg.outage_for_ms = 60000;
    cfg.outage_errors = true;
    s = da_start(&cfg);
    c = da_client(s, NULL, 2000);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em), BM_OK);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EDA_ERROR);
    assert_non_null(strstr(em.msg, "outage"));
    bm_da_client_free(c);
    bm_da_server_stop(s);
    da_rm_home(home);
}

static void test_connection_refused(void **state)
{
    struct bm_da_client_config cc;
    struct bm_da_client *c = NULL;
    struct bm_da_header hd;
    struct bm_errmsg em = {{0}};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char url[64];
    (void)state;

    /* find a free port, then close it so nothing listens there */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
    memset(&cc, 0, sizeof(cc));
    cc.url = url;
    cc.timeout_ms = 2000;
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_OK);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, &em),
                     BM_EDA_ERROR);
    bm_da_client_free(c);
    /* bad configuration */
    cc.submit_options_json = "[]";
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
    cc.submit_options_json = "{\"gas_price\":";
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
    cc.submit_options_json = NULL;
    cc.auth_token = "abc\r\nX-Injected: 1";
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
    cc.auth_token = "tok";
    cc.auth_header = "X-Auth: y";
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
    cc.auth_header = NULL;
    cc.auth_token = NULL;
    cc.url = NULL;
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
}

/* ---- hostile server ---- */

struct hostile {
    int fd;
    uint16_t port;
    const char *const *bodies; /* one per connection */
    size_t n;
    pthread_t th;
    char last[65536]; /* the last request read (read after joining) */
};

static void read_request(int cfd, char *buf, size_t cap)
{
    size_t have = 0;
    ssize_t r;

    /* read headers and Content-Length bytes of body (best effort) */
    buf[0] = '\0';
    while (have < cap - 1) {
        r = read(cfd, buf + have, cap - 1 - have);
        if (r <= 0) {
            return;
        }
        have += (size_t)r;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        char *cl = strcasestr(buf, "Content-Length:");
        if (end != NULL && cl != NULL) {
            size_t want = strtoul(cl + 15, NULL, 10);
            if (have >= (size_t)(end + 4 - buf) + want) {
                return;
            }
        }
    }
}

static void *hostile_main(void *arg)
{
    struct hostile *h = arg;

    for (size_t i = 0; i < h->n; i++) {
        int cfd = accept(h->fd, NULL, NULL);
        char head[256];
        if (cfd < 0) {
            return NULL;
        }
        read_request(cfd, h->last, sizeof(h->last));
        if (h->bodies[i] != NULL) {
            size_t len = strlen(h->bodies[i]);
            snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     len);
            if (write(cfd, head, strlen(head)) < 0 ||
                write(cfd, h->bodies[i], len) < 0) {
                /* the client may have gone; fine */
            }
        }
        close(cfd);
    }
    return NULL;
}

/* Serves bodies[0..n) to n connections on 127.0.0.1 (port 0) from a
 * thread; *url gets its address. Join h->th, then close h->fd. */
static void hostile_start(struct hostile *h, const char *const *bodies,
                          size_t n, char *url, size_t len)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    memset(h, 0, sizeof(*h));
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(h->fd, 16), 0);
    assert_int_equal(getsockname(h->fd, (struct sockaddr *)&sa, &sl), 0);
    h->bodies = bodies;
    h->n = n;
    assert_int_equal(pthread_create(&h->th, NULL, hostile_main, h), 0);
    snprintf(url, len, "http://127.0.0.1:%u", ntohs(sa.sin_port));
}

static void test_hostile_server(void **state)
{
    static const char *const bodies[] = {
        "",
        "garbage",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[{\"namespace\":",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"nope\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":[{\"namespace\":\"AA==\","
        "\"data\":\"AA==\"}]}",
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":[1,2,3]}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":\"x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"error\":{\"code\":1,\"message\":7}}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]",
        "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":null}",
        "{\"jsonrpc\":\"2.0\",\"id\":11,\"result\":{\"header\":{\"height\":"
        "\"-5\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":{\"header\":{\"height\":"
        "\"18446744073709551616\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":13,\"result\":{\"header\":{\"height\":"
        "\"18446744073709551615\",\"time\":\"yesterday\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":14,\"result\":18446744073709551615}",
        "{\"jsonrpc\":\"2.0\",\"id\":15,\"result\":1e3}",
        "{\"jsonrpc\":\"2.0\",\"id\":16,\"result\":-1}",
        "{\"jsonrpc\":\"2.0\",\"id\":17,\"result\":{}} trailing",
        NULL, /* closes without an answer */
    };
    struct hostile h;
    struct bm_da_client_config cc;
    struct bm_da_client *c = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_da_namespace ns;
    char url[64];
    size_t n = sizeof(bodies) / sizeof(bodies[0]);
    (void)state;

    hostile_start(&h, bodies, n, url, sizeof(url));
    memset(&cc, 0, sizeof(cc));
    cc.url = url;
    cc.timeout_ms = 3000;
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_OK);
    bm_da_namespace_from_string(&ns, "x", 1);
    for (size_t i = 0; i < n; i++) {
        struct bm_da_blob_list l = {NULL, 0};
        struct bm_da_header hd;
        uint64_t height;
        struct bm_da_blob b;
        enum bm_err err;
        memset(&b, 0, sizeof(b));
        switch (i % 3) {
        case 0:
            err = bm_da_client_get_all(c, 1, &ns, 1, 0, &l, &em);
            break;
        case 1:
            err = bm_da_client_header_get_by_height(c, 1, 0, &hd, &em);
            break;
        default:
            assert_int_equal(bm_da_blob_init_v0(&b, &ns, (const uint8_t *)"a",
                                                1),
                             BM_OK);
            err = bm_da_client_submit(c, &b, 1, NULL, 0, &height, &em);
            bm_da_blob_release(&b);
            break;
        }
        /* every one of these answers is an error of some kind */
        assert_int_not_equal(err, BM_OK);
        bm_da_blob_list_release(&l);
    }
    bm_da_client_free(c);
    pthread_join(h.th, NULL);
    close(h.fd);
}

/* Submits one blob through a client made from cc to a server that
 * answers height 7; returns the request it got in req. */
static void submit_captured(struct bm_da_client_config *cc, char *req,
                            size_t len)
{
    static const char *const ok[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":7}"};
    struct hostile h;
    struct bm_da_client *c = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_da_namespace ns;
    struct bm_da_blob b;
    uint64_t height = 0;
    char url[64];

    hostile_start(&h, ok, 1, url, sizeof(url));
    cc->url = url;
    cc->timeout_ms = 3000;
    assert_int_equal(bm_da_client_new(&c, cc, &em), BM_OK);
    bm_da_namespace_from_string(&ns, "x", 1);
    memset(&b, 0, sizeof(b));
    assert_int_equal(bm_da_blob_init_v0(&b, &ns, (const uint8_t *)"a", 1),
                     BM_OK);
    assert_int_equal(bm_da_client_submit(c, &b, 1, NULL, 0, &height, &em),
                     BM_OK);
    assert_int_equal(height, 7);
    bm_da_blob_release(&b);
    bm_da_client_free(c);
    pthread_join(h.th, NULL);
    close(h.fd);
    snprintf(req, len, "%s", h.last);
}

/* da.gas_price: a set price goes out in blob.Submit's options (with
 * is_gas_price_set, next to the configured options); unset, none does;
 * a price the options also set, a negative or a non-finite one is
 * refused. */
static void test_gas_price(void **state)
{
    static char req[65536];
    struct bm_da_client_config cc;
    struct bm_da_client *c = NULL;
    struct bm_errmsg em = {{0}};
    (void)state;

    memset(&cc, 0, sizeof(cc));
    cc.submit_options_json = "{\"tx_priority\":3}";
    cc.set_gas_price = true;
    cc.gas_price = 0.025;
    submit_captured(&cc, req, sizeof(req));
    assert_non_null(strstr(req, "\"blob.Submit\""));
    assert_non_null(strstr(req, "\"gas_price\":0.025"));
    assert_non_null(strstr(req, "\"is_gas_price_set\":true"));
    assert_non_null(strstr(req, "\"tx_priority\":3"));

    memset(&cc, 0, sizeof(cc));
    submit_captured(&cc, req, sizeof(req));
    assert_non_null(strstr(req, "\"blob.Submit\""));
    assert_null(strstr(req, "gas_price"));

    memset(&cc, 0, sizeof(cc));
    cc.url = "http://127.0.0.1:1";
    cc.set_gas_price = true;
    cc.gas_price = 0.1;
    cc.submit_options_json = "{\"gas_price\":0.2}";
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "da.gas_price"));
    cc.submit_options_json = NULL;
    cc.gas_price = -0.5;
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
    cc.gas_price = 1.0 / 0.0;
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_ECONFIG);
    assert_null(c);
}

/* ---- a lost answer on a reused connection ---- */

/* A fake DA (real sockets on 127.0.0.1) that answers blob.GetAll with
 * "null" on a kept-alive connection and closes the connection without
 * answering every blob.Submit: a DA that stored the blobs and whose
 * answer was lost. Counts the Submit requests it got. */
#define DROPPER_MAX_CONNS 8

struct dropper {
    int fd;
    pthread_t th;
    pthread_t conn_th[DROPPER_MAX_CONNS];
    int conn_fd[DROPPER_MAX_CONNS];
    size_t n_conns;
    atomic_int submits;
};

struct dropper_conn {
    struct dropper *d;
    int fd;
};

static void *dropper_conn_main(void *arg)
{
    struct dropper_conn *dc = arg;
    char *req = bm_xmalloc(65536);

    for (;;) {
        char head[256], body[128];
        const char *id;

        read_request(dc->fd, req, 65536);
        if (req[0] == '\0' || strstr(req, "blob.Submit") != NULL) {
            if (req[0] != '\0') {
                atomic_fetch_add(&dc->d->submits, 1);
            }
            break;
        }
        id = strstr(req, "\"id\":");
        snprintf(body, sizeof(body),
                 "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":null}",
                 id != NULL ? strtoull(id + 5, NULL, 10) : 0ULL);
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n", strlen(body));
        if (write(dc->fd, head, strlen(head)) < 0 ||
            write(dc->fd, body, strlen(body)) < 0) {
            break;
        }
    }
    shutdown(dc->fd, SHUT_RDWR);
    bm_free(req);
    bm_free(dc);
    return NULL;
}

/* Accepts connections, each served by its own thread (joined and closed
 * by the test). */
static void *dropper_main(void *arg)
{
    struct dropper *d = arg;

    while (d->n_conns < DROPPER_MAX_CONNS) {
        struct dropper_conn *dc;
        int cfd = accept(d->fd, NULL, NULL);

        if (cfd < 0) {
            return NULL;
        }
        dc = bm_xmalloc(sizeof(*dc));
        dc->d = d;
        dc->fd = cfd;
        d->conn_fd[d->n_conns] = cfd;
        if (pthread_create(&d->conn_th[d->n_conns], NULL, dropper_conn_main,
                           dc) != 0) {
            bm_free(dc);
            close(cfd);
            return NULL;
        }
        d->n_conns++;
    }
    return NULL;
}

/* The connection of an earlier call is reused for blob.Submit and dies
 * before the answer: the client reports the error once, it never sends
 * the Submit again by itself (libcurl resends a request on a reused
 * connection that died: a second copy on a DA that stored the first,
 * found by the reliability suite's da_faults phase 7). */
static void test_submit_not_resent(void **state)
{
    struct dropper d;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct bm_da_client_config cc;
    struct bm_da_client *c = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_da_blob_list l = {0};
    struct bm_da_namespace ns;
    struct bm_da_blob b;
    uint64_t height = 0;
    char url[64];

    (void)state;
    memset(&d, 0, sizeof(d));
    atomic_init(&d.submits, 0);
    d.fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(d.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(d.fd, 16), 0);
    assert_int_equal(getsockname(d.fd, (struct sockaddr *)&sa, &sl), 0);
    assert_int_equal(pthread_create(&d.th, NULL, dropper_main, &d), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));

    memset(&cc, 0, sizeof(cc));
    cc.url = url;
    cc.timeout_ms = 3000;
    assert_int_equal(bm_da_client_new(&c, &cc, &em), BM_OK);
    bm_da_namespace_from_string(&ns, "x", 1);
    /* a first call leaves a kept-alive connection */
    assert_int_equal(bm_da_client_get_all(c, 1, &ns, 1, 0, &l, &em),
                     BM_EDA_NOT_FOUND);
    memset(&b, 0, sizeof(b));
    assert_int_equal(bm_da_blob_init_v0(&b, &ns, (const uint8_t *)"a", 1),
                     BM_OK);
    assert_int_not_equal(bm_da_client_submit(c, &b, 1, NULL, 0, &height, &em),
                         BM_OK);
    assert_int_equal(atomic_load(&d.submits), 1);
    bm_da_blob_release(&b);
    bm_da_client_free(c);
    shutdown(d.fd, SHUT_RDWR);
    pthread_join(d.th, NULL);
    close(d.fd);
    for (size_t i = 0; i < d.n_conns; i++) {
        pthread_join(d.conn_th[i], NULL);
        close(d.conn_fd[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_is_deadline),
        cmocka_unit_test(test_fail_rate),
        cmocka_unit_test(test_outage),
        cmocka_unit_test(test_outage_errors),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_hostile_server),
        cmocka_unit_test(test_gas_price),
        cmocka_unit_test(test_submit_not_resent),
    };
    return BM_TEST_RUN(tests);
}
