/*
 * Durable tx ingress benchmark: the load generator and the fsync probe
 * that scripts/bench-tx.sh runs against a real `blockv2 start` (and a real
 * `blockv2 da serve`). Prints `name value unit` lines.
 *
 *   tx_bench load HOST:PORT [--mode single|batch] [--conns 64]
 *            [--seconds 10] [--warmup 2] [--size 64] [--batch 100]
 *       Keeps --conns keep-alive HTTP/1.1 connections (plain sockets,
 *       epoll, one request in flight per connection, no pipelining; one
 *       send and one recv per request as a rule, since the load shares
 *       the node's cores) busy
 *       posting unique --size-byte KV txs to POST /tx: one raw tx per
 *       request (single) or --batch txs per JSON request (batch). A tx
 *       counts as acknowledged when its status is 202 (single: the HTTP
 *       status; batch: its "status":202 entry). Only completions inside
 *       the measured window count. With --pid N (the node), also the
 *       node's CPU time per acknowledged tx over the window (utime+stime
 *       of /proc/N/stat): a cost that does not depend on how busy a
 *       shared machine is. A connection whose request was refused for now
 *       (429 rate limit, 503 the next block full: a batch with no tx
 *       taken and such an entry) waits BACKOFF_MS before its next
 *       request, as a client honouring them does (rather than spin on
 *       refusals); the refused txs are counted (tx_<mode>_backed_off)
 *       among the not acknowledged.
 *   tx_bench load HOST:PORT --mode get [--path /health/live] ...
 *       The same connections sending GET --path (a trivial handler of the
 *       same server): the HTTP limit the tx forms are measured against.
 *       Prints http_get_* lines (a request counts when its status is 200).
 *   tx_bench visible HOST:PORT [--seconds 10] [--warmup 2]
 *       [--interval-ms 20]
 *       The time from POST /tx of a unique single tx to the moment it is
 *       visible (GET /kv/<key> answers 200: executed and committed), one
 *       probe tx every --interval-ms on its own two blocking keep-alive
 *       connections, polling every 0.5 ms; run it beside a load. A probe
 *       refused with 429 or 503 is posted again every 1 ms, its time counted
 *       from the first POST. Prints tx_visible_p50/p99 (ms) and the
 *       number of probes.
 *   tx_bench fsync DIR [--seconds 2]
 *       pwrite (4 KiB) + fdatasync in a loop on a temp file in DIR (the
 *       node's disk): the latency every group commit pays (twice: LMDB
 *       data pages, then the meta page).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"
#include "util/alloc.h"
#include "util/clock.h"

#define MAX_CONNS 1024
#define RESP_MAX (1u << 20)
#define BACKOFF_MS 5

struct conn {
    int fd;
    char *req;       /* the request being sent */
    size_t req_len;
    size_t sent;
    char *resp;      /* response bytes so far */
    size_t resp_len;
    uint64_t started_ns;
    size_t n_txs;    /* txs in the request */
    uint64_t resume_ns; /* != 0: refused with 429, next request then */
    bool want_out;      /* EPOLLOUT in its events (a request partly sent) */
};

struct load {
    const char *host;
    const char *port;
    bool batch;
    bool get;         /* GET path instead of POST /tx */
    const char *path; /* for get */
    int conns;
    double seconds;
    double warmup;
    size_t size;
    size_t per_batch;
    uint64_t nonce;
    uint64_t next_id;
    /* measured window */
    uint64_t win_start;
    uint64_t win_end;
    uint64_t acked;
    uint64_t sent_txs;
    uint64_t requests;
    uint64_t other; /* txs not acknowledged (409, 429, 503, ...) */
    uint64_t limited; /* of them, in requests refused for now (429/503) */
    uint64_t rate_limited; /* of them, answered 429 (the tx limiter) */
    uint64_t *lat;  /* request latencies in the window, ns */
    size_t n_lat;
    size_t cap_lat;
    long pid;        /* node to charge CPU to; 0: none */
    double cpu_start; /* its CPU seconds when the window opened */
    double cpu_end;
    bool in_window;
    bool opened;
};

/* CPU seconds (user + system) of process pid so far; -1 if unreadable. */
static double proc_cpu_s(long pid)
{
    char path[64];
    char buf[2048];
    unsigned long ut = 0;
    unsigned long st = 0;
    const char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Opens and closes the measured window as time passes. */
static void window_tick(struct load *l, uint64_t now)
{
    if (!l->opened && now >= l->win_start) {
        l->opened = true;
        l->in_window = true;
        l->cpu_start = l->pid ? proc_cpu_s(l->pid) : 0;
    }
    if (l->in_window && now > l->win_end) {
        l->in_window = false;
        l->cpu_end = l->pid ? proc_cpu_s(l->pid) : 0;
    }
}

static void die(const char *what)
{
    fprintf(stderr, "tx_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Writes one unique KV tx of l->size bytes ("k<nonce><id>=vvv...") into
 * out (room for size bytes); returns size. */
static size_t make_tx(struct load *l, char *out)
{
    int k = snprintf(out, l->size, "k%08llx%010llx=",
                     (unsigned long long)(l->nonce & 0xffffffffu),
                     (unsigned long long)l->next_id++);
    size_t n = (size_t)k < l->size ? (size_t)k : l->size;

    memset(out + n, 'v', l->size - n);
    return l->size;
}

static void next_request(struct load *l, struct conn *c)
{
    char head[256];
    char *body;
    size_t blen = 0;
    int h;

    bm_free(c->req);
    if (l->get) {
        h = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                     l->path, l->host);
        c->req = bm_xmalloc((size_t)h);
        memcpy(c->req, head, (size_t)h);
        c->req_len = (size_t)h;
        c->sent = 0;
        c->resp_len = 0;
        c->started_ns = bench_now_ns();
        c->n_txs = 1;
        return;
    }
    if (!l->batch) {
        body = bm_xmalloc(l->size);
        blen = make_tx(l, body);
        c->n_txs = 1;
    } else {
        size_t cap = 16 + l->per_batch * (l->size + 3);

        body = bm_xmalloc(cap);
        blen = (size_t)snprintf(body, cap, "{\"txs\":[");
        for (size_t i = 0; i < l->per_batch; i++) {
            if (i > 0) {
                body[blen++] = ',';
            }
            body[blen++] = '"';
            blen += make_tx(l, body + blen);
            body[blen++] = '"';
        }
        body[blen++] = ']';
        body[blen++] = '}';
        c->n_txs = l->per_batch;
    }
    h = snprintf(head, sizeof(head),
                 "POST /tx HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 l->host, l->batch ? "application/json" : "text/plain",
                 blen);
    c->req = bm_xmalloc((size_t)h + blen);
    memcpy(c->req, head, (size_t)h);
    memcpy(c->req + h, body, blen);
    c->req_len = (size_t)h + blen;
    c->sent = 0;
    c->resp_len = 0;
    c->started_ns = bench_now_ns();
    bm_free(body);
}

static int connect_one(const struct load *l)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int one = 1;
    int fd;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(l->host, l->port, &hints, &res) != 0 || res == NULL) {
        fprintf(stderr, "tx_bench: cannot resolve %s:%s\n", l->host,
                l->port);
        exit(1);
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        die("connect");
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Counts occurrences of needle in hay[0..n). */
static size_t count_str(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    size_t c = 0;

    for (size_t i = 0; i + k <= n;) {
        const char *p = memmem(hay + i, n - i, needle, k);

        if (p == NULL) {
            break;
        }
        c++;
        i = (size_t)(p - hay) + k;
    }
    return c;
}

/* If buf[0..len) (NUL-terminated) holds a whole HTTP response, sets
 * *status, *head_len and *body_len and returns true; exits on a response
 * it cannot read. */
static bool whole_response(const char *buf, size_t len, int *status,
                           size_t *head_len, size_t *body_len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    const char *cl;

    if (end == NULL) {
        return false;
    }
    *head_len = (size_t)(end - buf) + 4;
    cl = memmem(buf, *head_len, "Content-Length:", 15);
    if (cl == NULL) {
        cl = memmem(buf, *head_len, "content-length:", 15);
    }
    if (cl == NULL || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
        fprintf(stderr, "tx_bench: bad response: %.200s\n", buf);
        exit(1);
    }
    *body_len = strtoul(cl + 15, NULL, 10);
    return len >= *head_len + *body_len;
}

/* If c->resp holds a whole response, accounts for it and returns true. */
static bool response_done(struct load *l, struct conn *c)
{
    size_t head_len;
    size_t body_len;
    int status;
    uint64_t now;
    size_t acked;
    size_t n429; /* txs answered 429 (the tx limiter) */

    if (!whole_response(c->resp, c->resp_len, &status, &head_len,
                        &body_len)) {
        return false;
    }
    if (l->get) {
        acked = status == 200;
    } else if (!l->batch) {
        acked = status == 202;
    } else {
        acked = status == 200 ? count_str(c->resp + head_len, body_len,
                                          "\"status\":202")
                              : 0;
    }
    if (l->get) {
        n429 = 0;
    } else if (status == 429) {
        n429 = c->n_txs;
    } else {
        n429 = l->batch && status == 200
                   ? count_str(c->resp + head_len, body_len, "\"status\":429")
                   : 0;
    }
    now = bench_now_ns();
    /* Refused as a whole for now (rate limit, or the next block full):
     * back off before the next. */
    if (acked == 0 && !l->get &&
        (n429 > 0 || status == 503 ||
         (l->batch && status == 200 &&
          count_str(c->resp + head_len, body_len, "\"status\":503") > 0))) {
        c->resume_ns = now + (uint64_t)BACKOFF_MS * 1000000u;
    }
    if (now >= l->win_start && now <= l->win_end) {
        if (c->resume_ns != 0) {
            l->limited += c->n_txs;
        }
        l->rate_limited += n429;
        l->acked += acked;
        l->sent_txs += c->n_txs;
        l->other += c->n_txs - acked;
        l->requests++;
        if (l->n_lat == l->cap_lat) {
            l->cap_lat = l->cap_lat ? 2 * l->cap_lat : 4096;
            l->lat = bm_xrealloc(l->lat, l->cap_lat * sizeof(*l->lat));
        }
        l->lat[l->n_lat++] = now - c->started_ns;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Sends what is left of c's request. Returns true when it is all sent;
 * false when the socket is full (the rest goes on EPOLLOUT). */
static bool conn_send(struct conn *c)
{
    while (c->sent < c->req_len) {
        ssize_t w =
            send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EAGAIN) {
                return false;
            }
            die("send");
        }
        c->sent += (size_t)w;
    }
    return true;
}

/* Sets the events connection i waits for: readable always, writable only
 * while its request is partly sent. */
static void conn_watch(struct conn *c, int ep, uint32_t i, bool out)
{
    struct epoll_event ev;

    if (out == c->want_out) {
        return;
    }
    ev.events = out ? EPOLLIN | EPOLLOUT : EPOLLIN;
    ev.data.u32 = i;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        die("epoll_ctl");
    }
    c->want_out = out;
}

/*
 * After a response (or a back-off): the next request on connection i,
 * sent at once (the socket is writable almost always, so the load costs
 * one send and one recv per request and no epoll_ctl: a load generator
 * sharing the node's cores must not spend them), or, past stop_at, its
 * close (returns false).
 */
static bool conn_next(struct load *l, struct conn *c, int ep, uint32_t i,
                      uint64_t stop_at)
{
    if (bench_now_ns() >= stop_at) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    next_request(l, c);
    conn_watch(c, ep, i, !conn_send(c));
    return true;
}

/* Reads what connection c has. true: a whole response is in c->resp (one
 * recv is the rule: the reply fits the socket's buffer). */
static bool conn_recv(struct load *l, struct conn *c)
{
    for (;;) {
        ssize_t r =
            recv(c->fd, c->resp + c->resp_len, RESP_MAX - 1 - c->resp_len, 0);

        if (r < 0 && errno == EAGAIN) {
            return false;
        }
        if (r <= 0) {
            fprintf(stderr, "tx_bench: connection closed by the node\n");
            exit(1);
        }
        c->resp_len += (size_t)r;
        c->resp[c->resp_len] = '\0';
        if (response_done(l, c)) {
            return true;
        }
        if (c->resp_len >= RESP_MAX - 1) {
            fprintf(stderr, "tx_bench: response over %u bytes\n", RESP_MAX);
            exit(1);
        }
    }
}

static int run_load(struct load *l)
{
    struct conn *cs = bm_xcalloc((size_t)l->conns, sizeof(*cs));
    struct epoll_event ev;
    struct epoll_event evs[MAX_CONNS];
    int ep = epoll_create1(0);
    uint64_t t0 = bench_now_ns();
    uint64_t stop_at;
    int active;
    const char *mode = l->get ? "get" : l->batch ? "batch" : "single";
    const char *pre = l->get ? "http" : "tx";
    const char *unit = l->get ? "req" : "tx";

    if (ep < 0) {
        die("epoll");
    }
    l->win_start = t0 + (uint64_t)(l->warmup * 1e9);
    l->win_end = l->win_start + (uint64_t)(l->seconds * 1e9);
    stop_at = l->win_end;
    for (int i = 0; i < l->conns; i++) {
        cs[i].fd = connect_one(l);
        cs[i].resp = bm_xmalloc(RESP_MAX);
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0) {
            die("epoll_ctl");
        }
        next_request(l, &cs[i]);
        conn_watch(&cs[i], ep, (uint32_t)i, !conn_send(&cs[i]));
    }
    active = l->conns;
    while (active > 0) {
        int paused = 0;
        int n;

        /* Connections backing off after a 429: resume those due. */
        for (int i = 0; i < l->conns; i++) {
            struct conn *c = &cs[i];

            if (c->fd < 0 || c->resume_ns == 0) {
                continue;
            }
            if (bench_now_ns() < c->resume_ns) {
                paused++;
                continue;
            }
            c->resume_ns = 0;
            if (!conn_next(l, c, ep, (uint32_t)i, stop_at)) {
                active--;
            }
        }
        if (active == 0) {
            break;
        }
        n = epoll_wait(ep, evs, MAX_CONNS, paused > 0 ? 1 : 100);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        window_tick(l, bench_now_ns());
        if (bench_now_ns() > stop_at + 30000000000ull) {
            fprintf(stderr, "tx_bench: %d requests still open 30 s after "
                            "the end\n", active);
            break;
        }
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32;
            struct conn *c = &cs[i];

            if (c->fd < 0) {
                continue;
            }
            if ((evs[k].events & EPOLLOUT) != 0) {
                conn_watch(c, ep, i, !conn_send(c));
            }
            if ((evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0 ||
                !conn_recv(l, c)) {
                continue;
            }
            if (c->resume_ns != 0) {
                /* Backing off: nothing is sent until it resumes (and no
                 * reply can come before that). */
                c->req_len = 0;
                c->sent = 0;
                conn_watch(c, ep, i, false);
                continue;
            }
            if (!conn_next(l, c, ep, i, stop_at)) {
                active--;
            }
        }
    }
    window_tick(l, UINT64_MAX);
    qsort(l->lat, l->n_lat, sizeof(*l->lat), cmp_u64);
    printf("%s_%s_acked %.0f %s/s\n", pre, mode, (double)l->acked / l->seconds,
           unit);
    if (l->pid != 0 && l->acked > 0 && l->cpu_start >= 0 &&
        l->cpu_end >= l->cpu_start) {
        printf("%s_%s_node_cpu %.2f us/%s\n", pre, mode,
               (l->cpu_end - l->cpu_start) * 1e6 / (double)l->acked, unit);
    }
    printf("%s_%s_requests %.0f req/s\n", pre, mode,
           (double)l->requests / l->seconds);
    printf("%s_%s_not_acked %llu %ss\n", pre, mode,
           (unsigned long long)l->other, unit);
    if (!l->get) {
        printf("%s_%s_backed_off %llu %ss\n", pre, mode,
               (unsigned long long)l->limited, unit);
        printf("%s_%s_rate_limited %llu %ss\n", pre, mode,
               (unsigned long long)l->rate_limited, unit);
    }
    if (l->n_lat > 0) {
        printf("%s_%s_latency_p50 %.3f ms\n", pre, mode,
               (double)l->lat[l->n_lat / 2] / 1e6);
        printf("%s_%s_latency_p99 %.3f ms\n", pre, mode,
               (double)l->lat[l->n_lat * 99 / 100] / 1e6);
    }
    for (int i = 0; i < l->conns; i++) {
        if (cs[i].fd >= 0) {
            close(cs[i].fd);
        }
        bm_free(cs[i].req);
        bm_free(cs[i].resp);
    }
    bm_free(cs);
    bm_free(l->lat);
    close(ep);
    return 0;
}

/* One request on a blocking keep-alive connection; returns the response's
 * HTTP status (the body is read and dropped). */
static int roundtrip(int fd, const char *req, size_t len)
{
    char buf[8192];
    size_t have = 0;
    size_t head_len;
    size_t body_len;
    int status;

    for (size_t sent = 0; sent < len;) {
        ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);

        if (w <= 0) {
            die("send");
        }
        sent += (size_t)w;
    }
    for (;;) {
        ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

        if (r <= 0) {
            die("recv");
        }
        have += (size_t)r;
        buf[have] = '\0';
        if (whole_response(buf, have, &status, &head_len, &body_len)) {
            return status;
        }
        if (have == sizeof(buf) - 1) {
            fprintf(stderr, "tx_bench: response too long\n");
            exit(1);
        }
    }
}

/* tx_bench visible: POST one unique tx, then poll GET /kv/<key> until it
 * answers 200; the latency from the POST to that answer, per probe. */
static int run_visible(struct load *l, double interval_ms)
{
    int post = connect_one(l);
    int poll = connect_one(l);
    uint64_t t0 = bench_now_ns();
    uint64_t win_start = t0 + (uint64_t)(l->warmup * 1e9);
    uint64_t win_end = win_start + (uint64_t)(l->seconds * 1e9);
    uint64_t *lat = NULL;
    size_t n = 0;
    size_t cap = 0;
    unsigned long long lost = 0;

    fcntl(post, F_SETFL, fcntl(post, F_GETFL) & ~O_NONBLOCK);
    fcntl(poll, F_SETFL, fcntl(poll, F_GETFL) & ~O_NONBLOCK);
    for (uint64_t i = 0; bench_now_ns() < win_end; i++) {
        char key[64];
        char req[512];
        uint64_t start;
        uint64_t give_up;
        int h;
        int st;

        snprintf(key, sizeof(key), "vis%08llx%08llx",
                 (unsigned long long)(l->nonce & 0xffffffffu),
                 (unsigned long long)i);
        h = snprintf(req, sizeof(req),
                     "POST /tx HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                     "text/plain\r\nContent-Length: %zu\r\n\r\n%s=1",
                     l->host, strlen(key) + 2, key);
        start = bench_now_ns();
        st = roundtrip(post, req, (size_t)h);
        /* Refused for now (429, 503): the same tx again, timed from the
         * first POST (what a client honouring them sees). */
        while ((st == 429 || st == 503) &&
               bench_now_ns() < start + 10000000000ull) {
            bm_sleep_us(1000);
            st = roundtrip(post, req, (size_t)h);
        }
        if (st == 202) {
            h = snprintf(req, sizeof(req),
                         "GET /kv/%s HTTP/1.1\r\nHost: %s\r\n\r\n", key,
                         l->host);
            give_up = start + 10000000000ull;
            while ((st = roundtrip(poll, req, (size_t)h)) != 200 &&
                   bench_now_ns() < give_up) {
                bm_sleep_us(500);
            }
            if (start >= win_start) {
                if (st != 200) {
                    lost++;
                } else {
                    if (n == cap) {
                        cap = cap ? 2 * cap : 1024;
                        lat = bm_xrealloc(lat, cap * sizeof(*lat));
                    }
                    lat[n++] = bench_now_ns() - start;
                }
            }
        }
        while (bench_now_ns() < start + (uint64_t)(interval_ms * 1e6)) {
            bm_sleep_us((unsigned)((start + (uint64_t)(interval_ms * 1e6) -
                                    bench_now_ns()) / 1000u) + 1u);
        }
    }
    close(post);
    close(poll);
    printf("tx_visible_probes %zu txs\n", n);
    printf("tx_visible_not_seen %llu txs\n", lost);
    if (n > 0) {
        qsort(lat, n, sizeof(*lat), cmp_u64);
        printf("tx_visible_p50 %.3f ms\n", (double)lat[n / 2] / 1e6);
        printf("tx_visible_p99 %.3f ms\n", (double)lat[n * 99 / 100] / 1e6);
    }
    bm_free(lat);
    return 0;
}

static int run_fsync(const char *dir, double seconds)
{
    enum { MAX_ROUNDS = 1 << 20 };
    double *lat = bm_xmalloc(MAX_ROUNDS * sizeof(*lat));
    int n = bench_fsync_rounds_us(dir, MAX_ROUNDS, seconds, lat);

    if (n < 0) {
        die("pwrite/fdatasync");
    }
    printf("fsync_p50 %.3f ms\n", lat[n / 2] / 1e3);
    printf("fsync_p99 %.3f ms\n", lat[(size_t)n * 99 / 100] / 1e3);
    bm_free(lat);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tx_bench load HOST:PORT [--mode single|batch] "
            "[--conns N] [--seconds S] [--warmup S] [--size B] "
            "[--batch N] [--pid NODE_PID] [--path P (get)]\n"
            "       tx_bench visible HOST:PORT [--seconds S] [--warmup S] "
            "[--interval-ms MS]\n"
            "       tx_bench fsync DIR [--seconds S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct load l;
    char hostport[256];
    char *colon;
    double fs_seconds = 2;
    double interval_ms = 20;

    if (argc < 3) {
        usage();
    }
    memset(&l, 0, sizeof(l));
    l.conns = 64;
    l.seconds = 10;
    l.warmup = 2;
    l.size = 64;
    l.per_batch = 100;
    l.path = "/health/live";
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--mode") == 0) {
            l.batch = strcmp(argv[i + 1], "batch") == 0;
            l.get = strcmp(argv[i + 1], "get") == 0;
        } else if (strcmp(argv[i], "--conns") == 0) {
            l.conns = (int)strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            l.seconds = strtod(argv[i + 1], NULL);
            fs_seconds = l.seconds;
        } else if (strcmp(argv[i], "--warmup") == 0) {
            l.warmup = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--size") == 0) {
            l.size = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--batch") == 0) {
            l.per_batch = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--path") == 0) {
            l.path = argv[i + 1];
        } else if (strcmp(argv[i], "--interval-ms") == 0) {
            interval_ms = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--pid") == 0) {
            l.pid = strtol(argv[i + 1], NULL, 10);
        } else {
            usage();
        }
    }
    if (strcmp(argv[1], "fsync") == 0) {
        return run_fsync(argv[2], fs_seconds);
    }
    if ((strcmp(argv[1], "load") != 0 && strcmp(argv[1], "visible") != 0) ||
        l.conns < 1 || l.conns > MAX_CONNS ||
        l.size < 24 || l.size > 4096 || l.per_batch < 1 ||
        l.per_batch > 1000 || !(l.seconds > 0)) {
        usage();
    }
    snprintf(hostport, sizeof(hostport), "%s", argv[2]);
    colon = strrchr(hostport, ':');
    if (colon == NULL) {
        usage();
    }
    *colon = '\0';
    l.host = hostport;
    l.port = colon + 1;
    l.nonce = bench_now_ns() ^ ((uint64_t)getpid() << 32);
    if (strcmp(argv[1], "visible") == 0) {
        if (!(interval_ms > 0) || interval_ms > 10000) {
            usage();
        }
        return run_visible(&l, interval_ms);
    }
    return run_load(&l);
}
