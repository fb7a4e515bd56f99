/*
 * POST /tx answers, over raw keep-alive sockets to a real RPC server with
 * a real sequencer (real fsync): the group commit's completions are handed
 * back to the server's event loops in one pass per group
 * (docs/EXECUTION.md "Tx ingress"), so
 *  - many connections with pipelined requests each get every answer
 *    exactly once, in order, and the queue holds exactly what was
 *    answered 202;
 *  - a server process killed with SIGKILL while requests are in flight
 *    (so, at some instant between a group's sync and its answers) loses
 *    no tx it answered 202, and a resend of any of them is a duplicate.
 */
#include "bm_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/actors_test_util.h"
#include "blockv2/executor.h"
#include "blockv2/sequencer.h"
#include "node/rpc.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/file.h"

#define CHAIN "test-chain"
/* Generous: only a hung server hits it (then the test fails, not hangs). */
#define RECV_TIMEOUT_S 60

/* ---- a minimal HTTP/1.1 client on a blocking socket ---- */

struct hconn {
    int fd;
    char buf[1 << 16];
    size_t len; /* bytes buffered (the start of the next responses) */
};

static void hconn_open(struct hconn *h, uint16_t port)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {RECV_TIMEOUT_S, 0};
    int one = 1;

    h->len = 0;
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(h->fd >= 0);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(h->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    (void)setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Appends one request to out (at *off; asserts it fits). */
static void put_request(char *out, size_t cap, size_t *off,
                        const char *method, const char *path, const char *ct,
                        const char *body)
{
    size_t blen = body != NULL ? strlen(body) : 0;
    int n = snprintf(out + *off, cap - *off,
                     "%s %s HTTP/1.1\r\nHost: t\r\n%s%s%sContent-Length: "
                     "%zu\r\n\r\n%s",
                     method, path, ct ? "Content-Type: " : "", ct ? ct : "",
                     ct ? "\r\n" : "", blen, body ? body : "");

    assert_true(n > 0 && (size_t)n < cap - *off);
    *off += (size_t)n;
}

/* Sends all of p[0..n); false if the peer is gone. */
static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0) {
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/*
 * Reads the next whole response: *status and its body (NUL-terminated,
 * into body[cap]). false: the connection ended (or timed out) first.
 */
static bool read_response(struct hconn *h, int *status, char *body,
                          size_t cap)
{
    for (;;) {
        char *end;
        const char *cl;
        size_t head;
        size_t blen;

        h->buf[h->len] = '\0';
        end = strstr(h->buf, "\r\n\r\n");
        if (end != NULL) {
            head = (size_t)(end - h->buf) + 4;
            cl = strstr(h->buf, "\r\nContent-Length:");
            assert_non_null(cl);
            assert_true(cl < end);
            blen = strtoul(cl + 17, NULL, 10);
            assert_true(head + blen < sizeof(h->buf));
            if (h->len >= head + blen) {
                assert_int_equal(sscanf(h->buf, "HTTP/1.1 %d", status), 1);
                assert_true(blen < cap);
                memcpy(body, h->buf + head, blen);
                body[blen] = '\0';
                memmove(h->buf, h->buf + head + blen,
                        h->len - head - blen);
                h->len -= head + blen;
                return true;
            }
        }
        {
            ssize_t r = recv(h->fd, h->buf + h->len,
                             sizeof(h->buf) - 1 - h->len, 0);

            if (r <= 0) {
                return false;
            }
            h->len += (size_t)r;
        }
    }
}

/* ---- an aggregator's parts and an RPC server ---- */

static void rpc_start(struct at_node *n, struct bm_rpc_server **srv,
                      uint16_t *port)
{
    struct bm_rpc_deps d = {0};
    struct bm_errmsg em = {{0}};

    d.store = n->store;
    d.genesis = &n->genesis;
    d.kv = n->kv;
    d.seq = n->seq;
    d.aggregator = true;
    assert_int_equal(bm_rpc_server_start(srv, "127.0.0.1:0", &d, &em), BM_OK);
    *port = bm_rpc_server_port(*srv);
}

/* ---- kill -9 with requests in flight ---- */

#define KILL_CONNS 16
#define KILL_AFTER 400 /* txs answered 202 before the kill */
#define KILL_MAX_PER_CONN 4000

struct kconn {
    uint16_t port;
    int id;
    atomic_int *acked_total;
    int sent;       /* txs sent: k<id>-0 .. k<id>-(sent-1) */
    bool *acked;    /* [KILL_MAX_PER_CONN]: answered 202 */
};

static void *kill_client(void *arg)
{
    struct kconn *k = arg;
    struct hconn *h = bm_xcalloc(1, sizeof(*h));
    char req[512];
    char body[512];

    hconn_open(h, k->port);
    for (int i = 0; i < KILL_MAX_PER_CONN; i++) {
        char tx[64];
        size_t off = 0;
        int status = 0;

        snprintf(tx, sizeof(tx), "k%d-%d=v", k->id, i);
        put_request(req, sizeof(req), &off, "POST", "/tx", "text/plain",
                    tx);
        k->sent = i + 1;
        if (!send_all(h->fd, req, off) ||
            !read_response(h, &status, body, sizeof(body))) {
            break; /* the server was killed */
        }
        if (status != 202) {
            /* Only the kill may end this early; record and stop. */
            k->acked[i] = false;
            k->sent = -status;
            break;
        }
        k->acked[i] = true;
        atomic_fetch_add(k->acked_total, 1);
    }
    close(h->fd);
    bm_free(h);
    return NULL;
}

/* What the child tells the parent. */
struct kill_hello {
    uint16_t port;
    char home[256];
};

/* The child: an aggregator's parts in a new home and an RPC server;
 * writes its port and home to wfd and serves until killed. */
static void kill_child(int wfd)
{
    struct at_opts o = {0};
    struct at_node *n = bm_xcalloc(1, sizeof(*n));
    struct bm_rpc_server *srv = NULL;
    struct kill_hello hello = {0};

    o.aggregator = true;
    at_node_open(n, &o);
    rpc_start(n, &srv, &hello.port);
    snprintf(hello.home, sizeof(hello.home), "%s", n->home);
    if (write(wfd, &hello, sizeof(hello)) != (ssize_t)sizeof(hello)) {
        _exit(3);
    }
    for (;;) {
        pause();
    }
}

static bool enough_acked(void *arg)
{
    return atomic_load((atomic_int *)arg) >= KILL_AFTER;
}

/*
 * A server process under KILL_CONNS connections of single txs is killed
 * (SIGKILL) once KILL_AFTER were answered: with that many requests in
 * flight, groups are being synced and answered at the instant of the
 * kill. Every tx answered 202 is in the reopened queue, and resending it
 * is a duplicate (BM_EEXIST); no tx is there twice.
 */
static void test_kill_in_flight(void **state)
{
    struct kill_hello hello = {0};
    char seqdir[512];
    int pfd[2];
    uint16_t port;
    pid_t pid;
    int wst = 0;
    atomic_int acked_total = 0;
    struct kconn k[KILL_CONNS];
    pthread_t t[KILL_CONNS];
    struct bm_seq *sq = NULL;
    struct bm_seq_options so = {0};
    size_t queued = 0;
    size_t answered = 0;
    size_t unanswered_durable = 0;

    (void)state;
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        kill_child(pfd[1]);
    }
    close(pfd[1]);
    if (read(pfd[0], &hello, sizeof(hello)) != (ssize_t)sizeof(hello)) {
        kill(pid, SIGKILL); /* a child whose setup failed */
        waitpid(pid, &wst, 0);
        fail_msg("the server process did not start");
    }
    close(pfd[0]);
    port = hello.port;
    for (int i = 0; i < KILL_CONNS; i++) {
        k[i] = (struct kconn){port, i, &acked_total, 0,
                              bm_xcalloc(KILL_MAX_PER_CONN, sizeof(bool))};
        assert_int_equal(pthread_create(&t[i], NULL, kill_client, &k[i]),
                         0);
    }
    assert_true(at_wait(enough_acked, &acked_total, 60000));
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst));
    for (int i = 0; i < KILL_CONNS; i++) {
        pthread_join(t[i], NULL);
        assert_true(k[i].sent >= 0); /* never answered but 202 */
    }

    snprintf(seqdir, sizeof(seqdir), "%s/data/seq", hello.home);
    assert_int_equal(bm_seq_open(&sq, seqdir, CHAIN, &so, NULL), BM_OK);
    bm_seq_queue_size(sq, &queued, NULL);
    for (int i = 0; i < KILL_CONNS; i++) {
        for (int j = 0; j < k[i].sent; j++) {
            char tx[64];
            struct bm_buf b;
            enum bm_err st = BM_OK;

            snprintf(tx, sizeof(tx), "k%d-%d=v", i, j);
            b.ptr = (uint8_t *)tx;
            b.len = strlen(tx);
            assert_int_equal(bm_seq_submit_each(sq, (const uint8_t *)CHAIN,
                                                strlen(CHAIN), &b, NULL, 1,
                                                &st, NULL),
                             BM_OK);
            if (k[i].acked[j]) {
                answered++;
                if (st != BM_EEXIST) {
                    fail_msg("tx %s was answered 202 but is not in the "
                             "queue after the kill", tx);
                }
            } else if (st == BM_EEXIST) {
                unanswered_durable++; /* synced, its answer lost */
            }
        }
        bm_free(k[i].acked);
    }
    /* Everything queued is one of the txs sent, once. */
    assert_int_equal(queued, answered + unanswered_durable);
    assert_true(answered >= KILL_AFTER);
    print_message("kill: %zu answered 202, %zu durable but unanswered\n",
                  answered, unanswered_durable);
    bm_seq_free(sq);
    assert_int_equal(bm_file_remove_tree(hello.home), BM_OK);
}

/* ---- many connections, pipelined requests: every answer once ---- */

#define PIPE_CONNS 24
#define PIPE_REQS 12

/*
 * PIPE_CONNS connections each send PIPE_REQS requests in one write
 * (pipelined), then GET /health/live: every third request a tx all
 * connections send (exactly one 202 in all), every fourth a batch of two,
 * the rest unique single txs. Each connection must read exactly its
 * answers, in order, then the health answer (a request answered twice
 * would show up before it), and the queue holds exactly the txs answered
 * 202.
 */
static void test_pipelined_exactly_once(void **state)
{
    struct at_node *n = bm_xcalloc(1, sizeof(*n));
    struct at_opts o = {0};
    struct bm_rpc_server *srv = NULL;
    struct hconn *h = bm_xcalloc(PIPE_CONNS, sizeof(*h));
    char *req = bm_xmalloc(1 << 15);
    char body[1024];
    uint16_t port = 0;
    int shared_202[PIPE_REQS] = {0};
    size_t accepted = 0;
    size_t queued = 0;

    (void)state;
    o.aggregator = true;
    at_node_open(n, &o);
    rpc_start(n, &srv, &port);
    for (int c = 0; c < PIPE_CONNS; c++) {
        size_t off = 0;

        hconn_open(&h[c], port);
        for (int j = 0; j < PIPE_REQS; j++) {
            char tx[160];

            if (j % 3 == 0) {
                snprintf(tx, sizeof(tx), "shared%d=v", j);
                put_request(req, 1 << 15, &off, "POST", "/tx", NULL, tx);
            } else if (j % 4 == 1) {
                snprintf(tx, sizeof(tx),
                         "{\"txs\":[\"b%d-%d=v\",\"c%d-%d=v\"]}", c, j, c, j);
                put_request(req, 1 << 15, &off, "POST", "/tx",
                            "application/json", tx);
            } else {
                snprintf(tx, sizeof(tx), "p%d-%d=v", c, j);
                put_request(req, 1 << 15, &off, "POST", "/tx", "text/plain",
                            tx);
            }
        }
        put_request(req, 1 << 15, &off, "GET", "/health/live", NULL, NULL);
        assert_true(send_all(h[c].fd, req, off));
    }
    for (int c = 0; c < PIPE_CONNS; c++) {
        for (int j = 0; j < PIPE_REQS; j++) {
            int status = 0;

            assert_true(read_response(&h[c], &status, body, sizeof(body)));
            if (j % 3 == 0) {
                assert_true(status == 202 || status == 409);
                assert_non_null(strstr(body, "\"hash\""));
                shared_202[j] += status == 202;
                accepted += status == 202;
            } else if (j % 4 == 1) {
                assert_int_equal(status, 200);
                assert_non_null(strstr(body, "\"accepted\":2"));
                accepted += 2;
            } else {
                if (status != 202) {
                    fail_msg("conn %d request %d: %d %s", c, j, status,
                             body);
                }
                accepted++;
            }
        }
        {
            int status = 0;

            assert_true(read_response(&h[c], &status, body, sizeof(body)));
            assert_int_equal(status, 200);
            assert_string_equal(body, "OK\n");
        }
        assert_int_equal(h[c].len, 0); /* nothing more was sent */
        close(h[c].fd);
    }
    for (int j = 0; j < PIPE_REQS; j += 3) {
        assert_int_equal(shared_202[j], 1);
    }
    bm_seq_queue_size(n->seq, &queued, NULL);
    assert_int_equal(queued, accepted);
    bm_rpc_server_stop(srv);
    at_node_close(n, true);
    bm_free(n);
    bm_free(req);
    bm_free(h);
}

/*
 * A graceful stop with requests in flight: PIPE_CONNS connections each
 * send PIPE_REQS pipelined txs and the server is stopped at once. The
 * stop returns (every suspended connection is resumed before its daemon
 * stops), each connection reads whole answers (202, or 503 for a request
 * that arrived during the stop) until the server closes it, and every tx
 * answered 202 is in the queue.
 */
static void test_stop_in_flight(void **state)
{
    struct at_node *n = bm_xcalloc(1, sizeof(*n));
    struct at_opts o = {0};
    struct bm_rpc_server *srv = NULL;
    struct hconn *h = bm_xcalloc(PIPE_CONNS, sizeof(*h));
    char *req = bm_xmalloc(1 << 15);
    char body[1024];
    uint16_t port = 0;
    size_t answered = 0;
    size_t queued = 0;

    (void)state;
    o.aggregator = true;
    at_node_open(n, &o);
    rpc_start(n, &srv, &port);
    for (int c = 0; c < PIPE_CONNS; c++) {
        size_t off = 0;

        hconn_open(&h[c], port);
        for (int j = 0; j < PIPE_REQS; j++) {
            char tx[64];

            snprintf(tx, sizeof(tx), "s%d-%d=v", c, j);
            put_request(req, 1 << 15, &off, "POST", "/tx", "text/plain", tx);
        }
        assert_true(send_all(h[c].fd, req, off));
    }
    bm_rpc_server_stop(srv);
    for (int c = 0; c < PIPE_CONNS; c++) {
        int status = 0;

        while (read_response(&h[c], &status, body, sizeof(body))) {
            if (status != 202 && status != 503) {
                fail_msg("conn %d: %d %s", c, status, body);
            }
            answered += status == 202;
        }
        close(h[c].fd);
    }
    bm_seq_queue_size(n->seq, &queued, NULL);
    assert_true(queued >= answered);
    at_node_close(n, true);
    bm_free(n);
    bm_free(req);
    bm_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: it forks, best while the process has no other thread. */
        cmocka_unit_test(test_kill_in_flight),
        cmocka_unit_test(test_pipelined_exactly_once),
        cmocka_unit_test(test_stop_in_flight),
    };

    signal(SIGPIPE, SIG_IGN);
    return BM_TEST_RUN(tests);
}
