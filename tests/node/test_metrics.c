/*
 * Prometheus renderer over plain structs (names, HELP/TYPE, escaping,
 * histogram buckets, text-format grammar), and the /metrics listener over
 * real HTTP with a store-only node and with a running aggregator manager.
 */
#include "rpc_test_util.h"

#include "blockv2/limiter.h"
#include "node/ha_forward.h"
#include "node/metrics.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static char *render(const struct bm_metrics_snapshot *s)
{
    struct bm_buf b = {0};
    char *t;

    assert_int_equal(bm_metrics_render(s, &b), BM_OK);
    t = bm_xmalloc(b.len + 1);
    memcpy(t, b.ptr, b.len);
    t[b.len] = '\0';
    bm_buf_release(&b);
    return t;
}

static bool has_line(const char *page, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = strstr(page, line); p != NULL;
         p = strstr(p + 1, line)) {
        if ((p == page || p[-1] == '\n') && p[n] == '\n') {
            return true;
        }
    }
    return false;
}

static void must_have(const char *page, const char *line)
{
    if (!has_line(page, line)) {
        fail_msg("missing line: %s", line);
    }
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == ':' || (!first && c >= '0' && c <= '9');
}

/*
 * Checks the text format: every line is a comment (# HELP name text /
 * # TYPE name type) or a sample `name{labels} value` whose family (name
 * minus _bucket/_sum/_count for histograms) is the last TYPE line before
 * it (a family's samples form one group, as the format requires); label
 * values are properly quoted and escaped; no family has two TYPE lines.
 */
static void check_grammar(const char *page)
{
    char types[200][96];
    size_t n_types = 0;
    const char *p = page;

    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        char line[1024];
        size_t len;

        assert_non_null(eol); /* every line ends with \n */
        len = (size_t)(eol - p);
        assert_true(len > 0 && len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[96];
            char type[32];

            assert_int_equal(sscanf(line + 7, "%95s %31s", name, type), 2);
            assert_true(strcmp(type, "gauge") == 0 ||
                        strcmp(type, "counter") == 0 ||
                        strcmp(type, "histogram") == 0);
            for (size_t i = 0; i < n_types; i++) {
                assert_string_not_equal(types[i], name);
            }
            assert_true(n_types < 200);
            snprintf(types[n_types++], sizeof(types[0]), "%s", name);
            continue;
        }
        {
            size_t i = 0;
            char name[96];
            bool known = false;
            char *end = NULL;

            assert_true(name_char(line[0], true));
            while (name_char(line[i], i == 0)) {
                i++;
            }
            assert_true(i < sizeof(name));
            memcpy(name, line, i);
            name[i] = '\0';
            if (line[i] == '{') {
                i++;
                while (line[i] != '}') {
                    assert_true(name_char(line[i], true));
                    while (name_char(line[i], false)) {
                        i++;
                    }
                    assert_int_equal(line[i++], '=');
                    assert_int_equal(line[i++], '"');
                    while (line[i] != '"') {
                        assert_true(line[i] != '\0');
                        if (line[i] == '\\') {
                            i++;
                            assert_true(line[i] == '\\' || line[i] == '"' ||
                                        line[i] == 'n');
                        }
                        i++;
                    }
                    i++;
                    if (line[i] == ',') {
                        i++;
                    }
                }
                i++;
            }
            assert_int_equal(line[i++], ' ');
            if (strcmp(line + i, "+Inf") != 0) {
                (void)strtod(line + i, &end);
                assert_true(end != NULL && *end == '\0' && end != line + i);
            }
            if (n_types > 0) {
                const char *cur = types[n_types - 1];
                size_t tl = strlen(cur);

                known = strcmp(cur, name) == 0 ||
                        (strncmp(cur, name, tl) == 0 &&
                         (strcmp(name + tl, "_bucket") == 0 ||
                          strcmp(name + tl, "_sum") == 0 ||
                          strcmp(name + tl, "_count") == 0));
            }
            if (!known) {
                fail_msg("sample outside its family's group (after "
                         "TYPE %s): %s",
                         n_types > 0 ? types[n_types - 1] : "nothing", line);
            }
        }
    }
}

static void test_render(void **state)
{
    struct bm_metrics_snapshot s;
    struct bm_actor_stats a[3];
    struct bm_metrics_breaker br[2] = {{"da", 1}, {"exec", 0}};
    struct bm_metrics_limiter lim[1] = {{"tx", 12.5, 40, 3}};
    char *page;

    (void)state;
    memset(&s, 0, sizeof(s));
    memset(a, 0, sizeof(a));
    s.chain_id = "my \"chain\"\\x";
    s.m.height = 42;
    s.m.da_included_height = 40;
    s.m.last_block_txs = 3;
    s.m.total_txs = 100;
    s.m.last_block_bytes = 999;
    s.m.blocks_synced_da = 5;
    s.m.blocks_synced_p2p = 6;
    s.m.da_submit_too_big = 2;
    s.m.da_submit_mempool = 4;
    s.m.da_submit_other = 1;
    s.m.blocks_produced = 42;
    s.pending_headers = 2;
    s.pending_data = 1;
    snprintf(a[0].name, sizeof(a[0].name), "state");
    snprintf(a[0].type, sizeof(a[0].type), "state");
    a[0].depth = 7;
    a[0].capacity = 1024;
    a[0].handled = 50;
    a[0].rejected_full = 2;
    a[0].rejected_invalid = 1;
    a[0].dropped = 3;
    a[0].restarts = 1;
    a[0].handler_ns_hist[0] = 4;  /* < 128 ns */
    a[0].handler_ns_hist[3] = 6;  /* [512, 1024) ns */
    a[0].handler_ns_hist[BM_ACTOR_HIST_BUCKETS - 1] = 1; /* >= 0.5 s */
    snprintf(a[1].name, sizeof(a[1].name), "we\"ird\nname");
    snprintf(a[2].name, sizeof(a[2].name), "state"); /* duplicate name */
    a[2].id.slot = 9;
    s.actors = a;
    s.n_actors = 3;
    s.breakers = br;
    s.n_breakers = 2;
    s.limiters = lim;
    s.n_limiters = 1;
    page = render(&s);
    check_grammar(page);

#define C "chain_id=\"my \\\"chain\\\"\\\\x\""
    must_have(page, "# TYPE evnode_sequencer_height gauge");
    must_have(page, "evnode_sequencer_height{" C "} 42");
    must_have(page, "evnode_sequencer_num_txs{" C "} 3");
    must_have(page, "evnode_sequencer_total_txs{" C "} 100");
    must_have(page, "evnode_sequencer_block_size_bytes{" C "} 999");
    must_have(page, "evnode_sequencer_latest_block_height{" C "} 42");
    must_have(page, "evnode_sequencer_da_inclusion_height{" C "} 40");
    must_have(page, "evnode_sequencer_pending_headers_count{" C "} 2");
    must_have(page, "evnode_sequencer_pending_data_count{" C "} 1");
    must_have(page, "# TYPE evnode_sequencer_blocks_synchronized_total "
                    "counter");
    must_have(page, "evnode_sequencer_blocks_synchronized_total{" C
                    ",source=\"da\"} 5");
    must_have(page, "evnode_sequencer_blocks_synchronized_total{" C
                    ",source=\"p2p\"} 6");
    must_have(page, "evnode_sequencer_da_submitter_failures_total{" C
                    ",reason=\"too_big\"} 2");
    must_have(page, "evnode_sequencer_da_submitter_failures_total{" C
                    ",reason=\"already_in_mempool\"} 4");
    must_have(page, "evnode_sequencer_da_submitter_failures_total{" C
                    ",reason=\"unknown\"} 1");
    must_have(page, "evnode_sequencer_da_submitter_failures_total{" C
                    ",reason=\"timeout\"} 0");
    must_have(page, "blockv2_blocks_produced_total{" C "} 42");
    must_have(page, "blockv2_actor_mailbox_depth{" C ",actor=\"state\"} 7");
    must_have(page, "blockv2_actor_mailbox_capacity{" C
                    ",actor=\"state\"} 1024");
    must_have(page, "blockv2_actor_handled_total{" C ",actor=\"state\"} 50");
    must_have(page, "blockv2_actor_rejected_total{" C
                    ",actor=\"state\",reason=\"full\"} 2");
    must_have(page, "blockv2_actor_rejected_total{" C
                    ",actor=\"state\",reason=\"invalid\"} 1");
    must_have(page, "blockv2_actor_dropped_total{" C ",actor=\"state\"} 3");
    must_have(page, "blockv2_actor_restarts_total{" C ",actor=\"state\"} 1");
    /* escaping of label values and a unique label for a duplicate name */
    must_have(page, "blockv2_actor_mailbox_depth{" C
                    ",actor=\"we\\\"ird\\nname\"} 0");
    must_have(page, "blockv2_actor_mailbox_depth{" C ",actor=\"state#9\"} 0");
    /* histogram: cumulative buckets, the open-ended one only in +Inf */
    must_have(page, "# TYPE blockv2_actor_handler_seconds histogram");
    must_have(page, "blockv2_actor_handler_seconds_bucket{" C
                    ",actor=\"state\",le=\"1.28e-07\"} 4");
    must_have(page, "blockv2_actor_handler_seconds_bucket{" C
                    ",actor=\"state\",le=\"5.12e-07\"} 4");
    must_have(page, "blockv2_actor_handler_seconds_bucket{" C
                    ",actor=\"state\",le=\"1.024e-06\"} 10");
    must_have(page, "blockv2_actor_handler_seconds_bucket{" C
                    ",actor=\"state\",le=\"0.536870912\"} 10");
    must_have(page, "blockv2_actor_handler_seconds_bucket{" C
                    ",actor=\"state\",le=\"+Inf\"} 11");
    must_have(page, "blockv2_actor_handler_seconds_count{" C
                    ",actor=\"state\"} 11");
    must_have(page, "blockv2_breaker_state{" C ",breaker=\"da\"} 1");
    must_have(page, "blockv2_breaker_state{" C ",breaker=\"exec\"} 0");
    must_have(page, "blockv2_limiter_tokens{" C ",limiter=\"tx\"} 12.5");
    must_have(page, "blockv2_limiter_allowed_total{" C ",limiter=\"tx\"} 40");
    must_have(page, "blockv2_limiter_limited_total{" C ",limiter=\"tx\"} 3");
    assert_non_null(strstr(page, "# HELP evnode_sequencer_height "));
#undef C
    bm_free(page);

    /* Custom namespace; invalid namespace refused. */
    s.ns = "rollkit";
    s.chain_id = NULL;
    page = render(&s);
    check_grammar(page);
    must_have(page, "rollkit_sequencer_height{chain_id=\"\"} 42");
    bm_free(page);
    {
        struct bm_buf b = {0};

        s.ns = "9bad";
        assert_int_equal(bm_metrics_render(&s, &b), BM_EINVAL);
        s.ns = "bad-ns";
        assert_int_equal(bm_metrics_render(&s, &b), BM_EINVAL);
        assert_null(b.ptr);
    }
    assert_true(bm_metrics_ns_valid("evnode"));
    assert_true(bm_metrics_ns_valid("a:b_1"));
    assert_false(bm_metrics_ns_valid(""));
}

static void test_render_empty(void **state)
{
    struct bm_metrics_snapshot s;
    char *page;

    (void)state;
    memset(&s, 0, sizeof(s));
    page = render(&s);
    check_grammar(page);
    must_have(page, "evnode_sequencer_height{chain_id=\"\"} 0");
    must_have(page, "# TYPE blockv2_actor_handler_seconds histogram");
    bm_free(page);
}

/* docs/OPERATIONS.md "Metrics" names every family the renderer writes. */
static void test_docs_list_every_family(void **state)
{
    struct bm_metrics_snapshot s;
    struct bm_actor_stats a;
    struct bm_metrics_breaker br = {"da", 0};
    struct bm_metrics_limiter lim = {"tx", 1, 0, 0};
    struct bm_ha_fwd_stats fwd = {0};
    char path[512];
    FILE *f;
    char *doc;
    char *page;
    long n;
    int families = 0;

    (void)state;
    memset(&s, 0, sizeof(s));
    memset(&a, 0, sizeof(a));
    snprintf(a.name, sizeof(a.name), "state");
    s.actors = &a;
    s.n_actors = 1;
    s.breakers = &br;
    s.n_breakers = 1;
    s.limiters = &lim;
    s.n_limiters = 1;
    s.ha_fwd = &fwd;
    page = render(&s);
    snprintf(path, sizeof(path), "%s/docs/OPERATIONS.md", BM_SOURCE_ROOT);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    doc = bm_xmalloc((size_t)n + 1);
    assert_int_equal(fread(doc, 1, (size_t)n, f), (size_t)n);
    doc[n] = '\0';
    fclose(f);
    for (const char *p = strstr(page, "# TYPE "); p != NULL;
         p = strstr(p + 1, "# TYPE ")) {
        char name[96];
        char quoted[100];

        assert_int_equal(sscanf(p + 7, "%95s", name), 1);
        snprintf(quoted, sizeof(quoted), "`%s`", name);
        if (strstr(doc, quoted) == NULL) {
            fail_msg("docs/OPERATIONS.md does not list %s", name);
        }
        families++;
    }
    assert_true(families > 30);
    bm_free(doc);
    bm_free(page);
}

static void test_listener_store_only(void **state)
{
    struct at_node n;
    struct at_opts o = {0};
    struct bm_metrics_server *srv = NULL;
    struct bm_metrics_config cfg = {0};
    struct bm_errmsg em = {{0}};
    struct bm_limiter *lim = NULL;
    struct bm_limiter *lims[1];
    struct http_resp r;

    (void)state;
    at_node_open(&n, &o);
    commit_block(&n, NULL, NULL, 0, NULL);
    commit_block(&n, NULL, NULL, 0, NULL);
    assert_int_equal(bm_limiter_new_simple(&lim, "ingress", 10, 1.0), BM_OK);
    lims[0] = lim;
    cfg.addr = "127.0.0.1:0";
    cfg.chain_id = "test-chain";
    cfg.store = n.store;
    cfg.limiters = lims;
    cfg.n_limiters = 1;
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_OK);
    http_get(bm_metrics_server_port(srv), "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/plain"));
    assert_non_null(strstr(r.ctype, "0.0.4"));
    check_grammar(r.body);
    must_have(r.body, "evnode_sequencer_height{chain_id=\"test-chain\"} 2");
    must_have(r.body, "blockv2_limiter_tokens{chain_id=\"test-chain\","
                      "limiter=\"ingress\"} 10");
    http_resp_release(&r);
    http_get(bm_metrics_server_port(srv), "/other", &r);
    assert_int_equal(r.status, 404);
    http_resp_release(&r);
    bm_metrics_server_stop(srv);

    /* configuration errors name the setting */
    cfg.ns = "bad ns";
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "instrumentation.namespace"));
    cfg.ns = NULL;
    cfg.addr = "no-port";
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "prometheus_listen_addr"));
    cfg.store = NULL;
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_EINVAL);
    bm_limiter_free(lim);
    at_node_close(&n, true);
}

/* ---- instrumentation.max_open_connections ---- */

static int raw_connect(uint16_t port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void raw_send(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Reads what arrives within ms into buf (NUL-terminated). Returns the
 * bytes read, 0 on EOF, -1 if nothing arrived in time, -2 on a reset. */
static ssize_t raw_recv(int fd, char *buf, size_t cap, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    buf[0] = '\0';
    if (poll(&p, 1, ms) <= 0) {
        return -1;
    }
    n = recv(fd, buf, cap - 1, 0);
    if (n < 0) {
        return -2;
    }
    buf[n] = '\0';
    return n;
}

static const char GET_METRICS[] =
    "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/* With a limit of 1, a connection that holds the only slot keeps a second
 * one from being served (libmicrohttpd closes it at once) until the first
 * closes; with a limit of 2 the second is served at once. (The hard-coded
 * 16 of old served both.) */
static void test_listener_connection_limit(void **state)
{
    struct at_node n;
    struct at_opts o = {0};
    struct bm_metrics_server *srv = NULL;
    struct bm_metrics_config cfg = {0};
    struct bm_errmsg em = {{0}};
    char buf[512];
    int hold, second;
    ssize_t got = -1;

    (void)state;
    at_node_open(&n, &o);
    commit_block(&n, NULL, NULL, 0, NULL);
    cfg.addr = "127.0.0.1:0";
    cfg.store = n.store;

    cfg.max_connections = 1;
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_OK);
    hold = raw_connect(bm_metrics_server_port(srv));
    raw_send(hold, "GET /metrics HTTP/1.1\r\nHost: t\r\n"); /* unfinished */
    bm_sleep_ms(100); /* let the server take it */
    second = raw_connect(bm_metrics_server_port(srv));
    raw_send(second, GET_METRICS);
    got = raw_recv(second, buf, sizeof(buf), 700);
    if (got > 0) {
        fail_msg("limit 1: a second connection was served: %.60s", buf);
    }
    close(second);
    close(hold);
    /* The slot frees once the server sees the close. */
    for (int i = 0; i < 300; i++) {
        second = raw_connect(bm_metrics_server_port(srv));
        raw_send(second, GET_METRICS);
        got = raw_recv(second, buf, sizeof(buf), 30000);
        close(second);
        if (got > 0) {
            break;
        }
        bm_sleep_ms(100);
    }
    assert_true(got > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    bm_metrics_server_stop(srv);

    cfg.max_connections = 2;
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_OK);
    hold = raw_connect(bm_metrics_server_port(srv));
    raw_send(hold, "GET /metrics HTTP/1.1\r\nHost: t\r\n");
    bm_sleep_ms(100);
    second = raw_connect(bm_metrics_server_port(srv));
    raw_send(second, GET_METRICS);
    got = raw_recv(second, buf, sizeof(buf), 30000);
    assert_true(got > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    close(second);
    close(hold);
    bm_metrics_server_stop(srv);
    at_node_close(&n, true);
}

static bool height_at_least_2(void *arg)
{
    struct bm_manager *m = arg;
    uint64_t h = 0;

    return bm_manager_get_store_height(m, &h) == BM_OK && h >= 2;
}

static void test_listener_with_manager(void **state)
{
    struct at_node n;
    struct at_opts o = {0};
    struct bm_manager *m = NULL;
    struct bm_manager_params p;
    struct bm_metrics_server *srv = NULL;
    struct bm_metrics_config cfg = {0};
    struct bm_errmsg em = {{0}};
    struct http_resp r;
    enum bm_err err;

    (void)state;
    o.aggregator = true;
    at_node_open(&n, &o);
    n.cfg.block_time_ms = 50;
    n.cfg.tx_rate = 1000; /* the "tx" limiter exists only when set */
    memset(&p, 0, sizeof(p));
    p.signer = &n.key;
    p.config = &n.cfg;
    p.genesis = &n.genesis;
    p.store = n.store;
    p.exec = &n.exec;
    p.seq = n.seq;
    err = bm_manager_new(&m, &p, &em);
    if (err == BM_OK) {
        err = bm_manager_start(m, &em);
    }
    if (err != BM_OK) {
        fail_msg("manager: %s", bm_errmsg_str(&em, err));
    }
    assert_true(at_wait(height_at_least_2, m, 60000));
    cfg.addr = "127.0.0.1:0";
    cfg.chain_id = "test-chain";
    cfg.manager = m;
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_OK);
    http_get(bm_metrics_server_port(srv), "/metrics", &r);
    assert_int_equal(r.status, 200);
    check_grammar(r.body);
    assert_non_null(strstr(r.body, "blockv2_actor_mailbox_depth{chain_id=\""
                                   "test-chain\",actor=\"state\"} "));
    assert_non_null(strstr(r.body, "blockv2_actor_handler_seconds_bucket{"
                                   "chain_id=\"test-chain\",actor=\"state\","
                                   "le=\"+Inf\"} "));
    must_have(r.body, "blockv2_breaker_state{chain_id=\"test-chain\","
                      "breaker=\"da\"} 0");
    assert_non_null(strstr(r.body, "blockv2_limiter_tokens{chain_id=\""
                                   "test-chain\",limiter=\"tx\"} "));
    assert_non_null(strstr(r.body, "blockv2_limiter_limited_total{chain_id="
                                   "\"test-chain\",limiter=\"reaper\"} "));
    assert_null(strstr(r.body, "evnode_sequencer_height{chain_id=\""
                               "test-chain\"} 0\n"));
    http_resp_release(&r);
    bm_metrics_server_stop(srv);
    assert_int_equal(bm_manager_stop(m, &em), BM_OK);
    bm_manager_free(m);
    at_node_close(&n, true);
}

/* A scrape still works when the process holds more descriptors than
 * select() can watch (FD_SETSIZE): a node whose RPC holds thousands of
 * client connections. Before, the server used select() and refused every
 * connection whose descriptor was past FD_SETSIZE, so /metrics went dark
 * under an RPC connection flood (found by the reliability suite). */
static void test_listener_high_fds(void **state)
{
    struct at_node n;
    struct at_opts o = {0};
    struct bm_metrics_server *srv = NULL;
    struct bm_metrics_config cfg = {0};
    struct bm_errmsg em = {{0}};
    struct http_resp r;
    struct rlimit rl, old;
    int fds[FD_SETSIZE + 8];
    size_t nf = 0;

    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FD_SETSIZE + 256) {
        skip();
    }
    rl.rlim_cur = FD_SETSIZE + 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    at_node_open(&n, &o);
    commit_block(&n, NULL, NULL, 0, NULL);
    cfg.addr = "127.0.0.1:0";
    cfg.chain_id = "test-chain";
    cfg.store = n.store;
    assert_int_equal(bm_metrics_server_start(&srv, &cfg, &em), BM_OK);
    /* Every descriptor below FD_SETSIZE taken: the accepted one is past. */
    while (nf < sizeof(fds) / sizeof(fds[0])) {
        fds[nf] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fds[nf] >= 0);
        if (fds[nf++] >= FD_SETSIZE) {
            break;
        }
    }
    http_get(bm_metrics_server_port(srv), "/metrics", &r);
    assert_int_equal(r.status, 200);
    must_have(r.body, "evnode_sequencer_height{chain_id=\"test-chain\"} 1");
    http_resp_release(&r);
    while (nf > 0) {
        close(fds[--nf]);
    }
    bm_metrics_server_stop(srv);
    at_node_close(&n, true);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_empty),
        cmocka_unit_test(test_docs_list_every_family),
        cmocka_unit_test(test_listener_store_only),
        cmocka_unit_test(test_listener_connection_limit),
        cmocka_unit_test(test_listener_with_manager),
        cmocka_unit_test(test_listener_high_fds),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return BM_TEST_RUN(tests);
}
