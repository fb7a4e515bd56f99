/*
 * rpc_hostile: attacks a node's RPC (libmicrohttpd) on 127.0.0.1 while a
 * legitimate client measures GET /status (tests/reliability/scenarios/
 * hostile_rpc.sh).
 *
 *   rpc_hostile --port P --attack KIND [--conns N] [--seconds S]
 *               [--probe-ms MS]
 *
 * Attacks (for S seconds, default 10):
 *   keepalive  N connections (default 10000), each sends one GET /status
 *              with keep-alive, reads the reply and stays open (another
 *              request every 10 s keeps it within the server's 30 s idle
 *              timeout, also for an attacker slowed by a loaded host)
 *   slowloris  N connections (default 1000), each sends a request line
 *              and then one header byte every second, never finishing
 *   oversize   --conns (default 4) clients in a loop: POST /tx and POST
 *              GetBlock declaring 100 MB (Content-Length), and POST /tx
 *              streaming 2 MB chunked with no length
 *   badjson    clients in a loop: garbage, truncated and mistyped JSON to
 *              the Connect methods and POST /tx
 *   deepjson   clients in a loop: JSON nested 20,000 deep (under the body
 *              cap) to GetBlock and POST /tx
 *   none       no attack (the probe alone: the baseline)
 *
 * The probe (its own thread) opens a new connection every --probe-ms
 * (default 20; 0: no probe, e.g. an attacker run at a lower priority
 * beside a probe-only run with --attack none, as if the attacker were
 * another machine) and times connect + GET /status + the whole reply; a
 * refused, reset or stalled (2 s) probe counts as an error and as an
 * infinitely slow sample. The last line on stdout is
 *   attack=K conns_open=N probes=N probe_errors=N p50_ms=X p99_ms=X
 *   max_ms=X requests=N status_2xx=N status_400=N status_413=N
 *   status_other=N io_errors=N server_closed=N retries=N
 * (p99 over every probe, errors included; server_closed: held
 * connections the server closed, and chunked uploads it cut after an
 * early 413 that the reset took with it; retries: keepalive and
 * slowloris connections opened again because they failed before they
 * were held, see holders_run). SIGUSR1 ends the run early (the line is
 * still printed). Exit 0 unless the tool itself
 * failed (the scenario judges the numbers).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/clock.h"

#define PROBE_TIMEOUT_MS 2000
#define KEEPALIVE_REFRESH_MS 10000
#define TRICKLE_MS 1000
#define HOLD_WINDOW 512u       /* connections pending at a time */
#define HOLD_CONNECT_MS 10000  /* a pending one is retried after this */
#define MAX_CONNS 60000u
#define MAX_PROBES 200000u

enum attack { A_NONE, A_KEEPALIVE, A_SLOWLORIS, A_OVERSIZE, A_BADJSON,
              A_DEEPJSON };

static const char *const attack_names[] = {
    "none", "keepalive", "slowloris", "oversize", "badjson", "deepjson",
};

struct opts {
    uint16_t port;
    enum attack attack;
    unsigned conns;
    unsigned seconds;
    unsigned probe_ms;
};

struct counters {
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t s2xx, s400, s413, sother;
    atomic_uint_fast64_t io_errors;
    atomic_uint_fast64_t server_closed;
    atomic_uint_fast64_t open;
    atomic_uint_fast64_t retries;
};

static struct opts g_o;
static struct counters g_c;
static atomic_bool g_stop;

/* ------------------------------------------------------------ sockets */

static int tcp_connect(bool nonblock)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
                                 (nonblock ? SOCK_NONBLOCK : 0),
                    0);
    int one = 1;

    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_port = htons(g_o.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 &&
        !(nonblock && errno == EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Blocking: waits until fd is ready for events or the deadline. */
static bool wait_fd(int fd, short events, uint64_t deadline_ns)
{
    struct pollfd p = {.fd = fd, .events = events};
    int64_t left = bm_clock_left_ms(deadline_ns);

    if (left <= 0) {
        return false;
    }
    return poll(&p, 1, (int)left) == 1 &&
           (p.revents & (events | POLLHUP | POLLERR)) != 0;
}

static bool send_all(int fd, const char *p, size_t n, uint64_t deadline_ns)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR) &&
            wait_fd(fd, POLLOUT, deadline_ns)) {
            continue;
        }
        return false;
    }
    return true;
}

/*
 * Reads one HTTP/1.1 reply (headers, then Content-Length bytes, or to EOF
 * without a length). Returns the status, or -1 (error, timeout or EOF
 * before a status line).
 */
static int read_reply(int fd, uint64_t deadline_ns)
{
    char buf[16384];
    size_t len = 0;
    long status = -1;
    long want = -1;
    char *hend = NULL;

    for (;;) {
        ssize_t r;

        if (len == sizeof(buf) - 1 && hend == NULL) {
            return -1;
        }
        if (hend != NULL) {
            size_t body = len - (size_t)(hend + 4 - buf);

            if (want >= 0 && body >= (size_t)want) {
                return (int)status;
            }
            if (len == sizeof(buf) - 1) { /* drain a long body */
                memmove(buf, hend, 4);
                hend = buf;
                want -= (long)body;
                len = 4;
            }
        }
        r = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
        if (r > 0) {
            len += (size_t)r;
            buf[len] = '\0';
            if (hend == NULL && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
                const char *cl = strcasestr(buf, "\r\ncontent-length:");

                if (strncmp(buf, "HTTP/1.", 7) != 0 || len < 12) {
                    return -1;
                }
                status = strtol(buf + 9, NULL, 10);
                want = cl != NULL && cl < hend ? strtol(cl + 17, NULL, 10)
                                               : -1;
            }
            continue;
        }
        if (r == 0) {
            return hend != NULL ? (int)status : -1;
        }
        if ((errno == EAGAIN || errno == EINTR) &&
            wait_fd(fd, POLLIN, deadline_ns)) {
            continue;
        }
        return -1;
    }
}

static void count_status(int st)
{
    atomic_fetch_add(&g_c.requests, 1);
    if (st >= 200 && st < 300) {
        atomic_fetch_add(&g_c.s2xx, 1);
    } else if (st == 400) {
        atomic_fetch_add(&g_c.s400, 1);
    } else if (st == 413) {
        atomic_fetch_add(&g_c.s413, 1);
    } else if (st < 0) {
        atomic_fetch_add(&g_c.io_errors, 1);
    } else {
        atomic_fetch_add(&g_c.sother, 1);
    }
}

/* ------------------------------------------------------------ probe */

struct probe {
    double *ms; /* one per probe; errors are INFINITY-like (1e9) */
    size_t n;
    uint64_t errors;
};

static double probe_once(void)
{
    static const char req[] = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n";
    uint64_t t0 = bm_clock_now_ns();
    uint64_t deadline = bm_clock_after_ms(t0, PROBE_TIMEOUT_MS);
    int fd = tcp_connect(true);
    int st = -1;

    if (fd >= 0 && wait_fd(fd, POLLOUT, deadline)) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
            soerr == 0 && send_all(fd, req, sizeof(req) - 1, deadline)) {
            st = read_reply(fd, deadline);
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    if (st != 200) {
        return -1;
    }
    return (double)(bm_clock_now_ns() - t0) / 1e6;
}

static void *probe_main(void *arg)
{
    struct probe *p = arg;
    uint64_t next = bm_clock_now_ns();

    while (!atomic_load(&g_stop) && p->n < MAX_PROBES) {
        double ms = probe_once();

        if (ms < 0) {
            p->errors++;
            ms = 1e9;
        }
        p->ms[p->n++] = ms;
        next = bm_clock_after_ms(next, g_o.probe_ms);
        if (bm_clock_now_ns() < next) {
            bm_sleep_ms((uint64_t)bm_clock_left_ms(next));
        } else {
            next = bm_clock_now_ns();
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q)
{
    size_t i;

    if (n == 0) {
        return 0;
    }
    i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ------------------------------------------------------------ requesters */

/* One request on a fresh connection: headers (and body) sent, the reply's
 * status counted. */
static void one_request(const char *head, const char *body, size_t body_len)
{
    uint64_t deadline = bm_clock_deadline_ms(10000);
    int fd = tcp_connect(false);
    int st = -1;

    if (fd >= 0 && send_all(fd, head, strlen(head), deadline) &&
        (body_len == 0 || send_all(fd, body, body_len, deadline))) {
        st = read_reply(fd, deadline);
    } else if (fd >= 0) {
        /* The server may answer (413) and close while we still send. */
        st = read_reply(fd, deadline);
    }
    if (fd >= 0) {
        close(fd);
    }
    count_status(st);
}

static void post(const char *path, const char *ct, const char *body,
                 size_t len)
{
    char head[512];

    snprintf(head, sizeof(head),
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             path, ct, len);
    one_request(head, body, len);
}

static const char *const connect_paths[] = {
    "/evnode.v1.StoreService/GetBlock",
    "/evnode.v1.StoreService/GetMetadata",
    "/evnode.v1.StoreService/GetState",
};

static void oversize_round(unsigned i)
{
    static char chunk[65536];
    char head[512];
    uint64_t deadline = bm_clock_deadline_ms(10000);
    bool cut = false;
    int fd, st;

    switch (i % 3) {
    case 0:
        one_request("POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    "application/json\r\nContent-Length: 100000000\r\n"
                    "Connection: close\r\n\r\n",
                    chunk, sizeof(chunk));
        return;
    case 1:
        snprintf(head, sizeof(head),
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                 "application/json\r\nContent-Length: 100000000\r\n"
                 "Connection: close\r\n\r\n",
                 connect_paths[0]);
        one_request(head, chunk, sizeof(chunk));
        return;
    default:
        break;
    }
    /* 2 MB chunked, no declared length: refused when it passes the cap. */
    memset(chunk, 'a', sizeof(chunk));
    fd = tcp_connect(false);
    if (fd < 0) {
        count_status(-1);
        return;
    }
    snprintf(head, sizeof(head),
             "POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
             "text/plain\r\nTransfer-Encoding: chunked\r\nConnection: "
             "close\r\n\r\n");
    if (send_all(fd, head, strlen(head), deadline)) {
        char sz[16];

        snprintf(sz, sizeof(sz), "%zx\r\n", sizeof(chunk));
        for (int k = 0; k < 32 && !cut; k++) {
            cut = !send_all(fd, sz, strlen(sz), deadline) ||
                  !send_all(fd, chunk, sizeof(chunk), deadline) ||
                  !send_all(fd, "\r\n", 2, deadline);
        }
        cut = cut || !send_all(fd, "0\r\n\r\n", 5, deadline);
    }
    st = read_reply(fd, deadline);
    if (st < 0 && cut) {
        /* The server answered early and closed while we still sent: the
         * reset took its 413 with it (the node counts it as too_big). */
        atomic_fetch_add(&g_c.requests, 1);
        atomic_fetch_add(&g_c.server_closed, 1);
    } else {
        count_status(st);
    }
    close(fd);
}

static void badjson_round(unsigned i)
{
    static const char *const bodies[] = {
        "{", "}", "{\"height\":", "[1,2,3]", "\"str\"", "nul",
        "{\"height\":\"-1\"}", "{\"height\":{}}", "{\"hash\":\"!!!\"}",
        "{\"key\":123}", "{\"height\":1} trailing", "\xff\xfe\xfd",
        "{\"height\":\"99999999999999999999999\"}", "{\"a\":1,\"a\":2}",
    };
    size_t nb = sizeof(bodies) / sizeof(bodies[0]);
    const char *b = bodies[i % nb];

    if (i % 4 == 3) {
        post("/tx", "application/json", b, strlen(b));
    } else {
        post(connect_paths[i % 2], "application/json", b, strlen(b));
    }
}

static void deepjson_round(unsigned i)
{
    enum { DEPTH = 20000 };
    static char body[2 * DEPTH + 16];
    size_t n = 0;
    char open = i % 2 ? '[' : '{';

    if (open == '[') {
        memset(body, '[', DEPTH);
        n = DEPTH;
        memset(body + n, ']', DEPTH);
        n += DEPTH;
    } else {
        for (unsigned k = 0; k < DEPTH / 6; k++) {
            memcpy(body + n, "{\"a\":", 5);
            n += 5;
        }
        memcpy(body + n, "1", 1);
        n += 1;
        for (unsigned k = 0; k < DEPTH / 6; k++) {
            body[n++] = '}';
        }
    }
    if (i % 3 == 2) {
        post("/tx", "application/json", body, n);
    } else {
        post(connect_paths[0], "application/json", body, n);
    }
}

static void *requester_main(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg * 7;

    while (!atomic_load(&g_stop)) {
        switch (g_o.attack) {
        case A_OVERSIZE:
            oversize_round(i);
            break;
        case A_BADJSON:
            badjson_round(i);
            break;
        default:
            deepjson_round(i);
            break;
        }
        i++;
    }
    return NULL;
}

/* ------------------------------------------------------------ holders */

/* keepalive and slowloris: many non-blocking connections in one epoll.
 * A connection is pending from its connect() until it is held (keepalive:
 * its first reply read; slowloris: its request line sent); at most
 * HOLD_WINDOW are pending at a time, so the attacker opens them as fast
 * as the server takes them without a burst beyond its listen backlog. A
 * pending connection that fails (refused, reset, timed out) is opened
 * again (counted in retries=); one the server closes once held stays
 * closed (server_closed=) and the server's count shows the shortfall. */
struct hold {
    int fd;
    bool connected;
    bool held;
    bool dead;
    uint64_t next_ns;     /* next request (keepalive) or byte (slowloris) */
    size_t rlen;          /* bytes of the current reply read (keepalive) */
};

struct holders {
    struct hold *v;
    unsigned *retry_q;    /* indexes of pending connections that failed */
    unsigned retry_n;
    unsigned pending;
    int ep;
};

static const char ka_req[] = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

static void hold_open(struct holders *hs, unsigned i)
{
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                            .data.u32 = i};
    struct hold *h = &hs->v[i];

    memset(h, 0, sizeof(*h));
    h->next_ns = bm_clock_after_ms(bm_clock_now_ns(), HOLD_CONNECT_MS);
    hs->pending++;
    h->fd = tcp_connect(true);
    if (h->fd < 0 || epoll_ctl(hs->ep, EPOLL_CTL_ADD, h->fd, &e) != 0) {
        if (h->fd >= 0) {
            close(h->fd);
        }
        h->fd = -1;
        h->dead = true;
        hs->pending--;
        hs->retry_q[hs->retry_n++] = i;
    }
}

static void hold_close(struct holders *hs, struct hold *h, bool by_server)
{
    if (h->fd >= 0) {
        close(h->fd); /* also leaves the epoll set */
        h->fd = -1;
    }
    if (h->dead) {
        return;
    }
    h->dead = true;
    if (h->connected) {
        atomic_fetch_sub(&g_c.open, 1);
    }
    if (!h->held) {
        hs->pending--;
        hs->retry_q[hs->retry_n++] = (unsigned)(h - hs->v);
    } else if (by_server) {
        atomic_fetch_add(&g_c.server_closed, 1);
    } else {
        atomic_fetch_add(&g_c.io_errors, 1);
    }
}

static void hold_set_held(struct holders *hs, struct hold *h)
{
    static uint64_t x = 0x9e3779b97f4a7c15u;

    if (!h->held) {
        h->held = true;
        hs->pending--;
        if (g_o.attack == A_KEEPALIVE) {
            /* Its refreshes (one request per KEEPALIVE_REFRESH_MS, to
             * stay under the node's idle timeout) start at a random phase:
             * 10,000 connections opened within a second would otherwise
             * send 10,000 requests within a second every period, a
             * request flood (the badjson/deepjson attacks) rather than
             * idle keep-alive clients. */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            h->next_ns = bm_clock_after_ms(bm_clock_now_ns(),
                                           x % KEEPALIVE_REFRESH_MS);
        }
    }
}

/* Sends what the attack sends now on a connected connection. */
static void hold_act(struct holders *hs, struct hold *h, uint64_t now)
{
    ssize_t w;

    if (g_o.attack == A_KEEPALIVE) {
        w = send(h->fd, ka_req, sizeof(ka_req) - 1, MSG_NOSIGNAL);
        h->next_ns = bm_clock_after_ms(now, h->held ? KEEPALIVE_REFRESH_MS
                                                    : HOLD_CONNECT_MS);
        h->rlen = 0;
    } else {
        static const char trickle[] = "X-a: b\r\n";
        static const char line[] = "GET /status HTTP/1.1\r\nHost: x\r\n";
        /* the request line at once, then one header byte per second */
        if (h->rlen == 0) {
            w = send(h->fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
            if (w == (ssize_t)(sizeof(line) - 1)) {
                hold_set_held(hs, h);
            }
        } else {
            w = send(h->fd, &trickle[h->rlen % (sizeof(trickle) - 1)], 1,
                     MSG_NOSIGNAL);
        }
        h->rlen++;
        h->next_ns = bm_clock_after_ms(now, TRICKLE_MS);
    }
    if (w < 0 && errno != EAGAIN) {
        hold_close(hs, h, true);
    }
}

static void hold_readable(struct holders *hs, struct hold *h)
{
    char buf[8192];

    for (;;) {
        ssize_t r = recv(h->fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (r > 0) {
            /* keepalive: the reply to our request (counted once) */
            if (h->rlen == 0 && strncmp(buf, "HTTP/1.1 200", 12) == 0) {
                count_status(200);
                hold_set_held(hs, h);
            }
            h->rlen += (size_t)r;
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            hold_close(hs, h, true);
        }
        return;
    }
}

static int holders_run(uint64_t end_ns)
{
    unsigned n = g_o.conns;
    struct holders hs = {0};
    struct epoll_event evs[256];
    unsigned opened = 0;

    hs.ep = epoll_create1(EPOLL_CLOEXEC);
    if (hs.ep < 0) {
        return -1;
    }
    hs.v = bm_xcalloc(n, sizeof(*hs.v));
    hs.retry_q = bm_xcalloc(n, sizeof(*hs.retry_q));
    for (unsigned i = 0; i < n; i++) {
        hs.v[i].fd = -1;
    }
    while (bm_clock_now_ns() < end_ns && !atomic_load(&g_stop)) {
        uint64_t now;
        int k;

        while (hs.retry_n > 0 && hs.pending < HOLD_WINDOW) {
            atomic_fetch_add(&g_c.retries, 1);
            hold_open(&hs, hs.retry_q[--hs.retry_n]);
        }
        for (; opened < n && hs.pending < HOLD_WINDOW; opened++) {
            hold_open(&hs, opened);
        }
        k = epoll_wait(hs.ep, evs, 256, 20);
        now = bm_clock_now_ns();
        for (int i = 0; i < k; i++) {
            struct hold *h = &hs.v[evs[i].data.u32];

            if (h->dead) {
                continue;
            }
            if (!h->connected && (evs[i].events & EPOLLOUT)) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP,
                                        .data.u32 = evs[i].data.u32};

                if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) !=
                        0 ||
                    soerr != 0) {
                    hold_close(&hs, h, false);
                    continue;
                }
                h->connected = true;
                atomic_fetch_add(&g_c.open, 1);
                (void)epoll_ctl(hs.ep, EPOLL_CTL_MOD, h->fd, &e);
                hold_act(&hs, h, now);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                hold_readable(&hs, h);
            }
        }
        /* Timed actions; a pending connection with no answer in
         * HOLD_CONNECT_MS is dropped and opened again. */
        now = bm_clock_now_ns();
        for (unsigned i = 0; i < opened; i++) {
            struct hold *h = &hs.v[i];

            if (h->dead || now < h->next_ns) {
                continue;
            }
            if (!h->held && (g_o.attack == A_KEEPALIVE || !h->connected)) {
                hold_close(&hs, h, false);
            } else if (h->connected) {
                hold_act(&hs, h, now);
            }
        }
    }
    for (unsigned i = 0; i < opened; i++) {
        if (hs.v[i].fd >= 0) {
            close(hs.v[i].fd);
        }
    }
    close(hs.ep);
    bm_free(hs.retry_q);
    bm_free(hs.v);
    return 0;
}

/* ------------------------------------------------------------ main */

static int usage(void)
{
    fprintf(stderr, "usage: rpc_hostile --port P --attack "
                    "none|keepalive|slowloris|oversize|badjson|deepjson "
                    "[--conns N] [--seconds S] [--probe-ms MS]\n");
    return 2;
}

static int parse_args(int argc, char **argv)
{
    g_o.seconds = 10;
    g_o.probe_ms = 20;
    g_o.attack = A_NONE;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        unsigned long x = strtoul(v, NULL, 10);

        if (strcmp(a, "--port") == 0 && x > 0 && x < 65536) {
            g_o.port = (uint16_t)x;
        } else if (strcmp(a, "--conns") == 0 && x > 0 && x <= MAX_CONNS) {
            g_o.conns = (unsigned)x;
        } else if (strcmp(a, "--seconds") == 0 && x > 0 && x <= 3600) {
            g_o.seconds = (unsigned)x;
        } else if (strcmp(a, "--probe-ms") == 0 && x <= 10000) {
            g_o.probe_ms = (unsigned)x;
        } else if (strcmp(a, "--attack") == 0) {
            bool ok = false;

            for (size_t k = 0; k < sizeof(attack_names) / sizeof(*attack_names);
                 k++) {
                if (strcmp(v, attack_names[k]) == 0) {
                    g_o.attack = (enum attack)k;
                    ok = true;
                }
            }
            if (!ok) {
                return usage();
            }
        } else {
            return usage();
        }
    }
    if (g_o.port == 0 || argc % 2 != 1) {
        return usage();
    }
    if (g_o.conns == 0) {
        g_o.conns = g_o.attack == A_KEEPALIVE   ? 10000
                    : g_o.attack == A_SLOWLORIS ? 1000
                                                : 4;
    }
    return 0;
}

/* SIGUSR1: stop now and print the result line. */
static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&g_stop, true);
}

/* Enough descriptors for --conns (the hard limit is the ceiling). */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct probe p = {0};
    pthread_t probe_th, req_th[64];
    unsigned n_req = 0;
    uint64_t end;
    int rc;

    rc = parse_args(argc, argv);
    if (rc != 0) {
        return rc;
    }
    raise_nofile();
    signal(SIGUSR1, on_usr1);
    p.ms = bm_xcalloc(MAX_PROBES, sizeof(*p.ms));
    end = bm_clock_deadline_ms((int64_t)g_o.seconds * 1000);
    if (g_o.probe_ms > 0 &&
        pthread_create(&probe_th, NULL, probe_main, &p) != 0) {
        fprintf(stderr, "rpc_hostile: cannot start the probe\n");
        return 1;
    }
    switch (g_o.attack) {
    case A_KEEPALIVE:
    case A_SLOWLORIS:
        rc = holders_run(end);
        break;
    case A_OVERSIZE:
    case A_BADJSON:
    case A_DEEPJSON:
        n_req = g_o.conns < 64 ? g_o.conns : 64;
        for (unsigned i = 0; i < n_req; i++) {
            if (pthread_create(&req_th[i], NULL, requester_main,
                               (void *)(uintptr_t)i) != 0) {
                n_req = i;
                break;
            }
        }
        /* fall through: wait for the end */
    case A_NONE:
        while (bm_clock_now_ns() < end && !atomic_load(&g_stop)) {
            bm_sleep_ms(50);
        }
        break;
    }
    atomic_store(&g_stop, true);
    for (unsigned i = 0; i < n_req; i++) {
        pthread_join(req_th[i], NULL);
    }
    if (g_o.probe_ms > 0) {
        pthread_join(probe_th, NULL);
    }
    qsort(p.ms, p.n, sizeof(*p.ms), cmp_double);
    printf("attack=%s conns_open=%" PRIuFAST64 " probes=%zu probe_errors=%"
           PRIu64 " p50_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%"
           PRIuFAST64 " status_2xx=%" PRIuFAST64 " status_400=%" PRIuFAST64
           " status_413=%" PRIuFAST64 " status_other=%" PRIuFAST64
           " io_errors=%" PRIuFAST64 " server_closed=%" PRIuFAST64
           " retries=%" PRIuFAST64 "\n",
           attack_names[g_o.attack], atomic_load(&g_c.open), p.n, p.errors,
           pct(p.ms, p.n, 0.50), pct(p.ms, p.n, 0.99),
           p.n ? p.ms[p.n - 1] : 0.0, atomic_load(&g_c.requests),
           atomic_load(&g_c.s2xx), atomic_load(&g_c.s400),
           atomic_load(&g_c.s413), atomic_load(&g_c.sother),
           atomic_load(&g_c.io_errors), atomic_load(&g_c.server_closed),
           atomic_load(&g_c.retries));
    bm_free(p.ms);
    return rc == 0 ? 0 : 1;
}
