/*
 * The host over real sockets on 127.0.0.1: two (or three) hosts in one
 * process, each with its own loop thread. Noise + yamux up, ping and
 * identify both ways, 100 streams, 4 MiB each way over one stream, a wrong
 * peer ID, the gater, the connection limit, redial after the listener
 * restarts, typed messages to an actor, and bad input from raw sockets
 * (garbage before and after the handshake, bad Noise frames, bad yamux
 * frames, 10,000 stream opens), each refused with a counted reason.
 */
#include "bm_test.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "blockv2/actor.h"
#include "p2p/host.h"
#include "p2p/multistream.h"
#include "p2p/noise.h"
#include "p2p/yamux.h"
#include "util/clock.h"

#define ECHO "/blockv2/test/echo/1.0.0"
#define ACTOR_ECHO "/blockv2/test/actor-echo/1.0.0"
#define WAIT_MS 10000

/* ------------------------------------------------------------ plumbing */

/* A result filled on the loop thread, waited for on the test thread. */
struct call {
    pthread_mutex_t mu;
    struct bm_cond cv;
    bool done;
    int err;
    struct bm_peer_id peer;
    uint64_t rtt[8];
    size_t n_rtt;
    struct bm_identify id;
};

static void call_init(struct call *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    bm_cond_init(&c->cv);
}

static void call_release(struct call *c)
{
    bm_identify_release(&c->id);
    pthread_mutex_destroy(&c->mu);
    bm_cond_destroy(&c->cv);
}

static void call_done(struct call *c, int err)
{
    pthread_mutex_lock(&c->mu);
    c->err = err;
    c->done = true;
    bm_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int call_wait(struct call *c)
{
    uint64_t deadline = bm_clock_deadline_ms(WAIT_MS);
    int err;

    pthread_mutex_lock(&c->mu);
    while (!c->done) {
        if (bm_cond_wait_until(&c->cv, &c->mu, deadline) == ETIMEDOUT) {
            break;
        }
    }
    err = c->done ? c->err : BM_ETIMEDOUT;
    pthread_mutex_unlock(&c->mu);
    return err;
}

static void sleep_ms(unsigned ms)
{
    bm_sleep_ms(ms);
}

/* ------------------------------------------------------------ echo server */

static void echo_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                      void *arg)
{
    (void)arg;
    if (bm_p2p_stream_write(s, p, n) != BM_OK) {
        bm_p2p_stream_reset(s, 0);
    }
}

static void echo_eof(struct bm_p2p_stream *s, void *arg)
{
    (void)arg;
    (void)bm_p2p_stream_close(s);
}

static void echo_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)s;
    (void)reason;
    (void)arg;
}

static void echo_data_ignore(struct bm_p2p_stream *s, const uint8_t *p,
                             size_t n, void *arg)
{
    (void)s;
    (void)p;
    (void)n;
    (void)arg;
}

static const struct bm_p2p_handler echo_server = {
    .on_data = echo_data,
    .on_eof = echo_eof,
    .on_close = echo_close,
};

/* ------------------------------------------------------------ nodes */

struct tnode {
    struct bm_p2p_host *h;
    struct bm_privkey key;
    struct bm_peer_id id;
    struct bm_multiaddr addr; /* dialable, with /p2p */
};

struct tweak {
    const struct bm_multiaddr *peers;
    size_t n_peers;
    const struct bm_peer_id *blocked;
    size_t n_blocked;
    const struct bm_peer_id *allowed;
    size_t n_allowed;
    uint32_t max_connections;
    uint32_t max_inbound_per_ip;
    uint16_t port;
    size_t max_peer_queue;
    uint64_t upgrade_ms;
    uint64_t negotiate_ms;
    bool ip6;
};

static struct tnode *node_new(uint8_t seed, const struct tweak *tw)
{
    struct tnode *n = bm_xcalloc(1, sizeof(*n));
    struct bm_p2p_host_config cfg;
    struct bm_multiaddr listen;
    uint8_t s32[32];
    char text[64];

    memset(s32, seed, sizeof(s32));
    bm_privkey_from_seed(&n->key, s32);
    bm_peer_id_from_privkey(&n->id, &n->key);
    snprintf(text, sizeof(text), "/%s/tcp/%u",
             tw != NULL && tw->ip6 ? "ip6/::1" : "ip4/127.0.0.1",
             tw != NULL ? tw->port : 0);
    assert_int_equal(bm_multiaddr_parse(&listen, text, strlen(text), NULL),
                     BM_OK);
    bm_p2p_host_config_init(&cfg);
    cfg.identity = &n->key;
    cfg.listen = &listen;
    cfg.n_listen = 1;
    if (tw != NULL) {
        cfg.peers = tw->peers;
        cfg.n_peers = tw->n_peers;
        cfg.gater = tw->n_blocked > 0 || tw->n_allowed > 0;
        cfg.blocked = tw->blocked;
        cfg.n_blocked = tw->n_blocked;
        cfg.allowed = tw->allowed;
        cfg.n_allowed = tw->n_allowed;
        cfg.max_connections = tw->max_connections;
        cfg.max_inbound_per_ip = tw->max_inbound_per_ip;
        cfg.max_peer_queue = tw->max_peer_queue;
        cfg.upgrade_ms = tw->upgrade_ms;
        cfg.negotiate_ms = tw->negotiate_ms;
    }
    if (bm_p2p_host_new(&n->h, &cfg, NULL) != BM_OK) {
        bm_privkey_wipe(&n->key);
        bm_free(n);
        return NULL; /* only ip6 on a host without ::1 */
    }
    assert_int_equal(bm_p2p_host_register(n->h, ECHO, &echo_server, NULL),
                     BM_OK);
    assert_int_equal(bm_p2p_host_listen_addrs(n->h, &n->addr, 1), 1);
    n->addr.has_peer = true;
    n->addr.peer = n->id;
    return n;
}

static void node_start(struct tnode *n)
{
    assert_int_equal(bm_p2p_host_start(n->h), BM_OK);
}

static void node_free(struct tnode *n)
{
    if (n == NULL) {
        return;
    }
    bm_p2p_host_free(n->h);
    bm_privkey_wipe(&n->key);
    bm_free(n);
}

static struct bm_p2p_stats stats(const struct tnode *n)
{
    struct bm_p2p_stats st;

    bm_p2p_host_stats(n->h, &st);
    return st;
}

/* Waits until f(n) holds (polling stats), up to WAIT_MS. */
static bool eventually(bool (*f)(const struct tnode *, const void *),
                       const struct tnode *n, const void *arg)
{
    for (int i = 0; i < WAIT_MS / 10; i++) {
        if (f(n, arg)) {
            return true;
        }
        sleep_ms(10);
    }
    return f(n, arg);
}

static bool has_peers(const struct tnode *n, const void *arg)
{
    return stats(n).peers == *(const uint64_t *)arg;
}

static bool no_streams(const struct tnode *n, const void *arg)
{
    (void)arg;
    return stats(n).streams_open == 0;
}

/* ------------------------------------------------------------ operations */

struct op {
    struct call *call;
    struct bm_multiaddr addr;
    struct bm_peer_id peer;
    unsigned count;
    bool force;
};

static void dial_cb(struct bm_p2p_host *h, int err, struct bm_p2p_conn_id conn,
                    const struct bm_peer_id *peer, void *arg)
{
    struct call *c = arg;

    (void)h;
    (void)conn;
    if (peer != NULL) {
        c->peer = *peer;
    }
    call_done(c, err);
}

static void do_dial(struct bm_p2p_host *h, void *arg)
{
    struct op *o = arg;
    int err = bm_p2p_host_dial_loop(h, &o->addr, o->force, dial_cb, o->call);

    if (err != BM_OK) {
        call_done(o->call, err);
    }
}

static void post(struct tnode *n, void (*fn)(struct bm_p2p_host *, void *),
                 struct op *o)
{
    assert_int_equal(bm_p2p_host_post(n->h, fn, o), BM_OK);
}

static int dial(struct tnode *a, const struct bm_multiaddr *addr,
                struct bm_peer_id *proven)
{
    struct call c;
    struct op o = {.call = &c, .addr = *addr};
    int err;

    call_init(&c);
    post(a, do_dial, &o);
    err = call_wait(&c);
    if (proven != NULL) {
        *proven = c.peer;
    }
    call_release(&c);
    return err;
}

static void ping_cb(struct bm_p2p_host *h, int err, const uint64_t *rtt,
                    size_t n, void *arg)
{
    struct call *c = arg;

    (void)h;
    for (size_t i = 0; i < n && i < 8; i++) {
        c->rtt[i] = rtt[i];
    }
    c->n_rtt = n;
    call_done(c, err);
}

static void do_ping(struct bm_p2p_host *h, void *arg)
{
    struct op *o = arg;
    int err = bm_p2p_host_ping_loop(h, &o->peer, o->count, ping_cb, o->call);

    if (err != BM_OK) {
        call_done(o->call, err);
    }
}

static void identify_cb(struct bm_p2p_host *h, int err,
                        const struct bm_identify *id, void *arg)
{
    struct call *c = arg;

    (void)h;
    if (err == BM_OK) {
        /* Keep a copy: the result is only valid during the call. */
        for (size_t i = 0; i < id->n_protocols; i++) {
            c->id.protocols = bm_xrealloc(c->id.protocols,
                                          (i + 1) * sizeof(char *));
            c->id.protocols[i] = bm_xstrdup(id->protocols[i]);
            c->id.n_protocols = i + 1;
        }
        c->id.agent_version = bm_xstrdup(id->agent_version
                                             ? id->agent_version
                                             : "");
        assert_int_equal(bm_buf_copy(&c->id.public_key, &id->public_key),
                         BM_OK);
        assert_int_equal(bm_buf_copy(&c->id.observed_addr,
                                     &id->observed_addr),
                         BM_OK);
        c->id.n_listen_addrs = id->n_listen_addrs;
    }
    call_done(c, err);
}

static void do_identify(struct bm_p2p_host *h, void *arg)
{
    struct op *o = arg;
    int err = bm_p2p_host_identify_loop(h, &o->peer, identify_cb, o->call);

    if (err != BM_OK) {
        call_done(o->call, err);
    }
}

/* Pings and identifies b from a; checks what b says about itself. */
static void ping_identify(struct tnode *a, struct tnode *b)
{
    struct call c;
    struct op o = {.call = &c, .peer = b->id, .count = 3};
    struct bm_multiaddr obs;

    call_init(&c);
    post(a, do_ping, &o);
    assert_int_equal(call_wait(&c), BM_OK);
    assert_int_equal(c.n_rtt, 3);
    call_release(&c);

    call_init(&c);
    post(a, do_identify, &o);
    assert_int_equal(call_wait(&c), BM_OK);
    assert_true(bm_identify_has_protocol(&c.id, "/ipfs/id/1.0.0"));
    assert_true(bm_identify_has_protocol(&c.id, "/ipfs/ping/1.0.0"));
    assert_true(bm_identify_has_protocol(&c.id, ECHO));
    assert_int_equal(c.id.n_protocols, 3);
    assert_int_equal(strncmp(c.id.agent_version, "blockv2/", 8), 0);
    assert_int_equal(c.id.public_key.len, 36);
    assert_memory_equal(c.id.public_key.ptr + 4, bm_peer_id_key(&b->id), 32);
    assert_int_equal(c.id.n_listen_addrs, 1);
    /* b saw a at 127.0.0.1 */
    assert_int_equal(bm_multiaddr_decode(&obs, c.id.observed_addr.ptr,
                                         c.id.observed_addr.len, NULL),
                     BM_OK);
    assert_int_equal(obs.family, b->addr.family); /* a dialled b's family */
    assert_true(obs.family == 6 || obs.ip[0] == 127);
    call_release(&c);
}

/* ------------------------------------------------------------ echo client */

/* The protocol the echo client speaks (ECHO, or ACTOR_ECHO). */
static const char *echo_proto = ECHO;

struct echo_job {
    struct call *call;
    struct bm_peer_id peer;
    const uint8_t *data;
    size_t len;
    unsigned streams_left;
    size_t sent;
    size_t got;
    bool bad;
};

static const struct bm_p2p_handler echo_client;

static void echo_pump(struct bm_p2p_stream *s, struct echo_job *j)
{
    while (j->sent < j->len && bm_p2p_stream_queued(s) < (1u << 20)) {
        size_t k = j->len - j->sent < 65536 ? j->len - j->sent : 65536;

        if (bm_p2p_stream_write(s, j->data + j->sent, k) != BM_OK) {
            bm_p2p_stream_reset(s, 0);
            return;
        }
        j->sent += k;
    }
    if (j->sent == j->len) {
        (void)bm_p2p_stream_close(s);
    } else {
        bm_p2p_stream_want_writable(s, 256 * 1024);
    }
}

static void echo_next(struct bm_p2p_host *h, struct echo_job *j)
{
    struct bm_p2p_stream *s;
    int err;

    j->sent = j->got = 0;
    err = bm_p2p_host_open_stream_loop(h, &j->peer, echo_proto, &echo_client,
                                       j, &s);
    if (err != BM_OK) {
        call_done(j->call, err);
        return;
    }
    echo_pump(s, j); /* writes may start before the echo of the proposal */
}

static void echo_c_writable(struct bm_p2p_stream *s, void *arg)
{
    echo_pump(s, arg);
}

static void echo_c_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                        void *arg)
{
    struct echo_job *j = arg;

    (void)s;
    if (j->got + n > j->len || memcmp(p, j->data + j->got, n) != 0) {
        j->bad = true;
    }
    j->got += n;
}

static void echo_c_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct echo_job *j = arg;

    if (reason != BM_OK || j->bad || j->got != j->len) {
        call_done(j->call, reason != BM_OK ? reason : BM_ECORRUPT);
        return;
    }
    if (--j->streams_left == 0) {
        call_done(j->call, BM_OK);
        return;
    }
    echo_next(bm_p2p_stream_host(s), j);
}

static const struct bm_p2p_handler echo_client = {
    .on_data = echo_c_data,
    .on_writable = echo_c_writable,
    .on_close = echo_c_close,
};

static void do_echo(struct bm_p2p_host *h, void *arg)
{
    echo_next(h, arg);
}

static int echo(struct tnode *a, struct tnode *b, size_t len,
                unsigned streams)
{
    struct call c;
    struct echo_job j;
    uint8_t *data = bm_xmalloc(len + 1);
    int err;

    for (size_t i = 0; i < len; i++) {
        data[i] = (uint8_t)((i * 31 + 7) % 251);
    }
    call_init(&c);
    memset(&j, 0, sizeof(j));
    j.call = &c;
    j.peer = b->id;
    j.data = data;
    j.len = len;
    j.streams_left = streams;
    assert_int_equal(bm_p2p_host_post(a->h, do_echo, &j), BM_OK);
    err = call_wait(&c);
    call_release(&c);
    bm_free(data);
    return err;
}

/* ------------------------------------------------------------ tests */

static void test_connect_ping_identify(void **state)
{
    struct tnode *a = node_new(1, NULL);
    struct tnode *b = node_new(2, NULL);
    struct bm_peer_id proven;
    uint64_t one = 1;

    (void)state;
    node_start(a);
    node_start(b);
    assert_int_equal(dial(a, &b->addr, &proven), BM_OK);
    assert_true(bm_peer_id_eq(&proven, &b->id));
    assert_true(eventually(has_peers, a, &one));
    assert_true(eventually(has_peers, b, &one));
    /* A second dial while connected: nothing new. */
    assert_int_equal(dial(a, &b->addr, NULL), BM_EEXIST);
    ping_identify(a, b);
    ping_identify(b, a);
    assert_int_equal(stats(a).handshakes[BM_P2P_HS_OK], 1);
    assert_int_equal(stats(b).handshakes[BM_P2P_HS_OK], 1);
    assert_int_equal(stats(a).connections, 1);
    {
        struct bm_p2p_peer_info *pi = NULL;
        size_t n = 0;

        assert_int_equal(bm_p2p_host_peers(b->h, &pi, &n), BM_OK);
        assert_int_equal(n, 1);
        assert_true(bm_peer_id_eq(&pi[0].peer, &a->id));
        assert_true(pi[0].inbound);
        assert_int_equal(strncmp(pi[0].addr, "/ip4/127.0.0.1/tcp/", 19), 0);
        bm_free(pi);
    }
    node_free(a);
    node_free(b);
}

static void test_streams(void **state)
{
    struct tnode *a = node_new(1, NULL);
    struct tnode *b = node_new(2, NULL);
    struct bm_p2p_stats st;

    (void)state;
    node_start(a);
    node_start(b);
    assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
    /* 100 streams opened and closed on one connection. */
    assert_int_equal(echo(a, b, 1000, 100), BM_OK);
    /* 4 MiB each way over one stream (through 1 MiB windows). */
    assert_int_equal(echo(a, b, (size_t)4 << 20, 1), BM_OK);
    assert_int_equal(echo(b, a, (size_t)4 << 20, 1), BM_OK);
    assert_true(eventually(no_streams, a, NULL));
    assert_true(eventually(no_streams, b, NULL));
    st = stats(a);
    assert_true(st.streams_outbound >= 101);
    assert_true(st.bytes_out > (8u << 20));
    node_free(a);
    node_free(b);
}

static void test_wrong_peer_id(void **state)
{
    struct tnode *a = node_new(1, NULL);
    struct tnode *b = node_new(2, NULL);
    struct bm_multiaddr wrong;
    struct bm_privkey other;
    uint8_t s32[32];

    (void)state;
    node_start(a);
    node_start(b);
    memset(s32, 9, sizeof(s32));
    bm_privkey_from_seed(&other, s32);
    wrong = b->addr;
    bm_peer_id_from_privkey(&wrong.peer, &other);
    assert_int_equal(dial(a, &wrong, NULL), BM_EPEER_MISMATCH);
    assert_int_equal(stats(a).handshakes[BM_P2P_HS_PEER_MISMATCH], 1);
    assert_int_equal(stats(a).peers, 0);
    /* The right ID still works. */
    assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
    node_free(a);
    node_free(b);
}

static bool gated_once(const struct tnode *n, const void *arg)
{
    (void)arg;
    return stats(n).handshakes[BM_P2P_HS_GATED] >= 1;
}

static bool no_conns(const struct tnode *n, const void *arg)
{
    (void)arg;
    return stats(n).connections == 0;
}

static void test_gater(void **state)
{
    struct tnode *a = node_new(1, NULL);
    struct tnode *c = node_new(3, NULL);
    struct tnode *b;
    struct tnode *d;
    struct tweak tw;
    uint64_t one = 1;

    (void)state;
    node_start(a);
    node_start(c);
    /* b blocks a: a's handshake completes on a's side, b hangs up. */
    memset(&tw, 0, sizeof(tw));
    tw.blocked = &a->id;
    tw.n_blocked = 1;
    b = node_new(2, &tw);
    node_start(b);
    (void)dial(a, &b->addr, NULL);
    assert_true(eventually(gated_once, b, NULL));
    assert_true(eventually(no_conns, b, NULL));
    assert_true(eventually(no_conns, a, NULL));
    /* c is not blocked. */
    assert_int_equal(dial(c, &b->addr, NULL), BM_OK);
    assert_true(eventually(has_peers, b, &one));
    /* b refuses to dial a, before any packet. */
    assert_int_equal(dial(b, &a->addr, NULL), BM_EPERM);
    node_free(b);
    /* d allows only c. */
    memset(&tw, 0, sizeof(tw));
    tw.allowed = &c->id;
    tw.n_allowed = 1;
    d = node_new(4, &tw);
    node_start(d);
    (void)dial(a, &d->addr, NULL);
    assert_true(eventually(gated_once, d, NULL));
    assert_int_equal(dial(c, &d->addr, NULL), BM_OK);
    assert_int_equal(dial(d, &a->addr, NULL), BM_EPERM);
    node_free(d);
    node_free(a);
    node_free(c);
}

static bool limited(const struct tnode *n, const void *arg)
{
    (void)arg;
    return stats(n).handshakes[BM_P2P_HS_CONN_LIMIT] >= 1;
}

static void test_connection_limit(void **state)
{
    struct tnode *a = node_new(1, NULL);
    struct tnode *c = node_new(3, NULL);
    struct tnode *b;
    struct tweak tw;
    uint64_t one = 1;

    (void)state;
    memset(&tw, 0, sizeof(tw));
    tw.max_connections = 1;
    b = node_new(2, &tw);
    node_start(a);
    node_start(b);
    node_start(c);
    assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
    assert_int_not_equal(dial(c, &b->addr, NULL), BM_OK);
    assert_true(eventually(limited, b, NULL));
    assert_true(eventually(has_peers, b, &one));
    /* b itself may not dial beyond the limit either. */
    assert_int_equal(dial(b, &c->addr, NULL), BM_EFULL);
    node_free(a);
    node_free(b);
    node_free(c);
}

/* A silent TCP connection to addr's port from 127.0.0.2 (another
 * loopback address): the fd, or -1 if that source cannot be bound. */
static int silent_from_2(const struct bm_multiaddr *addr)
{
    struct sockaddr_in src = {0}, dst = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002u);
    dst.sin_family = AF_INET;
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    dst.sin_port = htons(addr->port);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
        close(fd);
        return -1;
    }
    assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
    return fd;
}

/* Reads fd until EOF or an error (at most WAIT_MS): true if the host sent
 * anything first (its multistream header: the connection was accepted),
 * false if it closed at once (refused). */
static bool accepted_then_closed(int fd)
{
    bool got = false;

    for (int i = 0; i < WAIT_MS / 100; i++) {
        struct pollfd p = {fd, POLLIN, 0};
        char buf[256];
        ssize_t n;

        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            return got;
        }
        got = true;
    }
    fail_msg("connection neither refused nor closed by the deadline");
    return got;
}

static bool ip_limited(const struct tnode *n, const void *arg)
{
    return stats(n).handshakes[BM_P2P_HS_IP_LIMIT] >=
           *(const uint64_t *)arg;
}

static bool upgrade_timeouts(const struct tnode *n, const void *arg)
{
    return stats(n).handshakes[BM_P2P_HS_TIMEOUT] >= *(const uint64_t *)arg;
}

/*
 * Per-IP cap on inbound connections (real sockets): 4 silent connections
 * from 127.0.0.2 to b (cap 2): 2 accepted (b speaks first) and closed at
 * the upgrade deadline, 2 refused at once and counted (ip_limit); a peer
 * from 127.0.0.1 connects meanwhile. Loopback is capped too: a third
 * host from 127.0.0.1 is refused while two are connected, and gets in
 * once one left.
 */
static void test_ip_limit(void **state)
{
    struct tnode *a = node_new(1, NULL);
    struct tnode *c = node_new(3, NULL);
    struct tnode *d = node_new(4, NULL);
    struct tnode *b;
    struct tweak tw;
    int fds[4];
    int n_acc = 0;
    uint64_t two = 2, one = 1, refused;

    (void)state;
    memset(&tw, 0, sizeof(tw));
    tw.max_inbound_per_ip = 2;
    tw.upgrade_ms = 1500;
    b = node_new(2, &tw);
    node_start(a);
    node_start(b);
    node_start(c);
    node_start(d);
    for (int i = 0; i < 4; i++) {
        fds[i] = silent_from_2(&b->addr);
    }
    if (fds[0] >= 0) {
        assert_true(eventually(ip_limited, b, &two));
        /* another address is not affected */
        assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
        for (int i = 0; i < 4; i++) {
            n_acc += accepted_then_closed(fds[i]);
            close(fds[i]);
        }
        assert_int_equal(n_acc, 2);
        assert_true(eventually(upgrade_timeouts, b, &two));
        assert_int_equal(stats(b).handshakes[BM_P2P_HS_IP_LIMIT], 2);
    } else {
        assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
        print_message("127.0.0.2 cannot be bound: its part skipped\n");
    }
    /* 127.0.0.1: a and c in, d refused and counted */
    assert_int_equal(dial(c, &b->addr, NULL), BM_OK);
    refused = stats(b).handshakes[BM_P2P_HS_IP_LIMIT] + 1;
    assert_int_not_equal(dial(d, &b->addr, NULL), BM_OK);
    assert_true(eventually(ip_limited, b, &refused));
    node_free(c);
    assert_true(eventually(has_peers, b, &one));
    assert_int_equal(dial(d, &b->addr, NULL), BM_OK);
    node_free(a);
    node_free(b);
    node_free(d);
}

static void test_redial(void **state)
{
    struct tnode *b = node_new(2, NULL);
    struct tnode *a;
    struct tweak tw;
    struct bm_multiaddr baddr = b->addr;
    uint64_t one = 1, zero = 0;
    uint64_t dials;

    (void)state;
    node_start(b);
    memset(&tw, 0, sizeof(tw));
    tw.peers = &baddr;
    tw.n_peers = 1;
    a = node_new(1, &tw);
    node_start(a);
    /* a dials its configured peer by itself. */
    assert_true(eventually(has_peers, a, &one));
    dials = stats(a).dials;
    /* The listener goes away, then comes back on the same port. */
    node_free(b);
    assert_true(eventually(has_peers, a, &zero));
    sleep_ms(300);
    memset(&tw, 0, sizeof(tw));
    tw.port = baddr.port;
    b = node_new(2, &tw);
    node_start(b);
    assert_true(eventually(has_peers, a, &one));
    assert_true(stats(a).dials > dials);
    assert_true(eventually(has_peers, b, &one));
    node_free(a);
    node_free(b);
}

/* ------------------------------------------------------------ actor sink */

struct actor_state {
    struct bm_p2p_host *h;
    uint64_t events;
};

BM_ACTOR_HANDLER(on_stream_event, struct actor_state,
                 struct bm_p2p_stream_event)
static int on_stream_event(struct bm_actor_ctx *ctx, struct actor_state *st,
                           struct bm_p2p_stream_event *ev)
{
    (void)ctx;
    st->events++;
    if (ev->type == BM_P2P_EV_DATA) {
        /* Echo through the any-thread API; the buffer moves on OK. */
        if (bm_p2p_host_send(st->h, ev->stream, &ev->data) != BM_OK) {
            return BM_EFULL;
        }
    } else if (ev->type == BM_P2P_EV_EOF) {
        (void)bm_p2p_host_close_stream(st->h, ev->stream);
    }
    return BM_OK;
}

static const struct bm_msg_kind actor_kinds[] = {
    BM_MSG_KIND("stream_event", struct bm_p2p_stream_event, 0, NULL,
                on_stream_event, bm_p2p_stream_event_release, NULL),
};

static const struct bm_actor_type actor_type = {
    .name = "p2p_echo",
    .kinds = actor_kinds,
    .n_kinds = 1,
};


static void test_actor_sink(void **state)
{
    struct bm_actor_system *sys;
    struct actor_state st;
    struct bm_p2p_actor_sink sink;
    struct tnode *a = node_new(1, NULL);
    struct tnode *b = node_new(2, NULL);
    struct bm_actor_id aid;
    struct bm_actor_opts opts = {.name = "p2p_echo", .capacity = 4096};

    (void)state;
    assert_int_equal(bm_actor_system_new(&sys, NULL), BM_OK);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    memset(&st, 0, sizeof(st));
    st.h = b->h;
    assert_int_equal(bm_actor_spawn(sys, &actor_type, &st, &opts, &aid),
                     BM_OK);
    sink.sys = sys;
    sink.to = aid;
    sink.kind = 0;
    assert_int_equal(bm_p2p_host_register(b->h, ACTOR_ECHO,
                                          &bm_p2p_actor_handler, &sink),
                     BM_OK);
    node_start(a);
    node_start(b);
    assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
    echo_proto = ACTOR_ECHO;
    assert_int_equal(echo(a, b, 300000, 3), BM_OK);
    echo_proto = ECHO;
    assert_int_equal(stats(b).actor_tell_failures, 0);
    node_free(a);
    node_free(b);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    assert_true(st.events > 3 * 3); /* the actor's threads are joined */
    bm_actor_system_free(sys);
}

/* ------------------------------------------------------------ raw client */

/* A hand-driven libp2p client over a blocking socket: multistream and
 * Noise from the sans-IO modules, then hand-made yamux frames. */
struct raw {
    int fd;
    struct bm_privkey key;
    struct bm_noise_cipher tx;
    struct bm_noise_cipher rx;
    uint8_t in[1 << 18];
    size_t in_len;
    bool eof;
};

static int raw_tcp(const struct tnode *b)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

    assert_int_equal(bm_multiaddr_to_sockaddr(&b->addr, &ss, &len), BM_OK);
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

        if (k <= 0) {
            return; /* the host hung up: the test checks that */
        }
        p += k;
        n -= (size_t)k;
    }
}

/* Reads more into r->in (waits up to ms). False at EOF or timeout. */
static bool raw_recv(struct raw *r, int ms)
{
    struct pollfd pfd = {r->fd, POLLIN, 0};
    ssize_t k;

    if (poll(&pfd, 1, ms) <= 0) {
        return false;
    }
    k = recv(r->fd, r->in + r->in_len, sizeof(r->in) - r->in_len, 0);
    if (k <= 0) {
        r->eof = true;
        return false;
    }
    r->in_len += (size_t)k;
    return true;
}

static void raw_consume(struct raw *r, size_t n)
{
    memmove(r->in, r->in + n, r->in_len - n);
    r->in_len -= n;
}

static void raw_connect(struct raw *r, const struct tnode *b)
{
    static const char *const noise[1] = {BM_NOISE_ID};
    struct bm_multistream ms;
    struct bm_noise_config nc;
    struct bm_noise_hs *hs;
    struct bm_noise_remote remote;
    uint8_t out[BM_MULTISTREAM_OUT_MAX + BM_NOISE_HS_OUT_MAX];
    uint8_t s32[32];
    size_t used, written;
    int res;

    memset(r, 0, sizeof(*r));
    memset(s32, 0x5a, sizeof(s32));
    bm_privkey_from_seed(&r->key, s32);
    r->fd = raw_tcp(b);
    assert_int_equal(bm_multistream_init(&ms, BM_MULTISTREAM_INITIATOR,
                                         noise, 1),
                     BM_OK);
    res = bm_multistream_feed(&ms, NULL, 0, &used, out, sizeof(out),
                              &written, NULL);
    send_all(r->fd, out, written);
    while (res == BM_MULTISTREAM_AGAIN) {
        assert_true(raw_recv(r, WAIT_MS));
        res = bm_multistream_feed(&ms, r->in, r->in_len, &used, out,
                                  sizeof(out), &written, NULL);
        send_all(r->fd, out, written);
        raw_consume(r, used);
    }
    assert_int_equal(res, BM_MULTISTREAM_DONE);
    memset(&nc, 0, sizeof(nc));
    nc.role = BM_NOISE_INITIATOR;
    nc.identity = &r->key;
    nc.expected = &b->id;
    assert_int_equal(bm_noise_hs_new(&nc, &hs), BM_OK);
    res = bm_noise_hs_feed(hs, NULL, 0, &used, out, sizeof(out), &written,
                           NULL);
    send_all(r->fd, out, written);
    while (res == BM_NOISE_AGAIN) {
        assert_true(raw_recv(r, WAIT_MS));
        res = bm_noise_hs_feed(hs, r->in, r->in_len, &used, out, sizeof(out),
                               &written, NULL);
        send_all(r->fd, out, written);
        raw_consume(r, used);
    }
    assert_int_equal(res, BM_NOISE_DONE);
    assert_int_equal(bm_noise_hs_finish(hs, &remote, &r->tx, &r->rx), BM_OK);
    assert_int_equal(remote.muxer, BM_NOISE_MUXER_YAMUX);
    bm_noise_hs_free(hs);
}

static void raw_close(struct raw *r)
{
    close(r->fd);
    bm_privkey_wipe(&r->key);
}

static struct raw *raw_new(const struct tnode *b)
{
    struct raw *r = bm_xcalloc(1, sizeof(*r));

    raw_connect(r, b);
    return r;
}

/* Seals and sends plaintext (yamux bytes). */
static void raw_send(struct raw *r, const uint8_t *p, size_t n)
{
    size_t cap = bm_noise_sealed_size(n);
    uint8_t *buf = bm_xmalloc(cap);
    int64_t k = bm_noise_seal_all(&r->tx, p, n, buf, cap);

    assert_true(k > 0);
    send_all(r->fd, buf, (size_t)k);
    bm_free(buf);
}

/*
 * Reads transport frames until the peer closes (or ms pass), collecting
 * their plaintext into out (cap bytes). Returns the plaintext length; sets
 * r->eof if the connection was closed.
 */
static size_t raw_drain(struct raw *r, uint8_t *out, size_t cap, int ms)
{
    size_t n = 0;

    for (;;) {
        size_t used = 0, plen = 0;
        int res = bm_noise_open(&r->rx, r->in, r->in_len, &used, r->in + 2,
                                sizeof(r->in) - 2, &plen);

        if (res == BM_NOISE_DONE) {
            size_t k = plen < cap - n ? plen : cap - n;

            memcpy(out + n, r->in + 2, k);
            n += k;
            raw_consume(r, used);
            continue;
        }
        assert_int_equal(res, BM_NOISE_AGAIN);
        if (!raw_recv(r, ms)) {
            return n;
        }
    }
}

/* True if the yamux byte stream p[0..n) holds a GoAway with `code`. */
static bool has_goaway(const uint8_t *p, size_t n, uint32_t code)
{
    uint8_t want[12];

    bm_yamux_header_put(want, BM_YAMUX_GOAWAY, 0, 0, code);
    for (size_t i = 0; i + 12 <= n; i++) {
        if (memcmp(p + i, want, 12) == 0) {
            return true;
        }
    }
    return false;
}

static bool disconnected_for(const struct tnode *n, const void *arg)
{
    return stats(n).disconnects[*(const enum bm_p2p_disconnect *)arg] >= 1;
}

static bool negotiation_failed(const struct tnode *n, const void *arg)
{
    return stats(n).handshakes[BM_P2P_HS_NEGOTIATION] >=
           *(const uint64_t *)arg;
}

static bool backlog_refused(const struct tnode *n, const void *arg)
{
    return stats(n).streams_refused[BM_P2P_SR_BACKLOG] >=
           *(const uint64_t *)arg;
}

static void test_bad_input(void **state)
{
    struct tnode *b = node_new(2, NULL);
    uint8_t *out = bm_xmalloc(1 << 20);
    struct raw *r = bm_xcalloc(1, sizeof(*r));
    enum bm_p2p_disconnect why;

    (void)state;
    node_start(b);

    /* Garbage before the handshake: HTTP, then random bytes. */
    {
        /* 'G' reads as a length of 71: the 71 bytes after it are not a
         * newline-terminated token. */
        static const char http[] = "GET / HTTP/1.1\r\nHost: example.org\r\n"
                                   "User-Agent: curl/7.88.1\r\n"
                                   "Accept: */*\r\n\r\n";
        uint8_t junk[4096];
        uint64_t want = 2;
        int fd = raw_tcp(b);

        send_all(fd, (const uint8_t *)http, sizeof(http) - 1);
        close(fd);
        randombytes_buf(junk, sizeof(junk));
        fd = raw_tcp(b);
        send_all(fd, junk, sizeof(junk));
        close(fd);
        assert_true(eventually(negotiation_failed, b, &want));
    }
    /* Garbage after the handshake: a frame that does not decrypt. */
    {
        uint8_t junk[1000];

        raw_connect(r, b);
        randombytes_buf(junk, sizeof(junk));
        junk[0] = 0x03;
        junk[1] = 0xe6; /* a 998-byte frame of noise */
        send_all(r->fd, junk, sizeof(junk));
        (void)raw_drain(r, out, 1 << 20, 3000);
        assert_true(r->eof);
        why = BM_P2P_DC_NOISE;
        assert_true(eventually(disconnected_for, b, &why));
        raw_close(r);
    }
    /* An oversized Noise frame: the largest length, garbage inside. */
    {
        uint8_t *big = bm_xmalloc(65537);

        raw_connect(r, b);
        randombytes_buf(big, 65537);
        big[0] = 0xff;
        big[1] = 0xff;
        send_all(r->fd, big, 65537);
        (void)raw_drain(r, out, 1 << 20, 3000);
        assert_true(r->eof);
        bm_free(big);
        raw_close(r);
    }
    /* A frame shorter than its tag. */
    {
        uint8_t tiny[7] = {0x00, 0x05, 1, 2, 3, 4, 5};
        uint64_t before = stats(b).disconnects[BM_P2P_DC_NOISE];

        raw_connect(r, b);
        send_all(r->fd, tiny, sizeof(tiny));
        (void)raw_drain(r, out, 1 << 20, 3000);
        assert_true(r->eof);
        sleep_ms(50);
        assert_true(stats(b).disconnects[BM_P2P_DC_NOISE] > before);
        raw_close(r);
    }
    /* yamux: bad version, then an unknown type: GoAway(1) and close. */
    for (int k = 0; k < 2; k++) {
        uint8_t f[12];
        size_t n;

        raw_connect(r, b);
        bm_yamux_header_put(f, BM_YAMUX_PING, BM_YAMUX_SYN, 0, 7);
        if (k == 0) {
            f[0] = 1; /* version 1 */
        } else {
            f[1] = 9; /* type 9 */
        }
        raw_send(r, f, sizeof(f));
        n = raw_drain(r, out, 1 << 20, 3000);
        assert_true(r->eof);
        assert_true(has_goaway(out, n, BM_YAMUX_GOAWAY_PROTOCOL));
        raw_close(r);
    }
    why = BM_P2P_DC_YAMUX;
    assert_true(eventually(disconnected_for, b, &why));
    assert_true(stats(b).disconnects[BM_P2P_DC_YAMUX] >= 2);
    /* 10,000 stream opens on one connection: the accept backlog refuses
     * the excess with RST, counted; the connection keeps working. */
    {
        const uint32_t n_open = 10000;
        uint8_t *frames = bm_xmalloc((size_t)n_open * 12);
        uint64_t want = n_open - 256;
        uint8_t ping[12];
        size_t n;

        raw_connect(r, b);
        for (uint32_t i = 0; i < n_open; i++) {
            bm_yamux_header_put(frames + (size_t)i * 12,
                                BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_SYN,
                                2 * i + 1, 0);
        }
        /* One Noise frame holds 5459 frames: two frames. */
        raw_send(r, frames, (size_t)n_open * 12);
        assert_true(eventually(backlog_refused, b, &want));
        bm_yamux_header_put(ping, BM_YAMUX_PING, BM_YAMUX_SYN, 0, 42);
        raw_send(r, ping, sizeof(ping));
        n = raw_drain(r, out, 1 << 20, 500);
        assert_false(r->eof);
        bm_yamux_header_put(ping, BM_YAMUX_PING, BM_YAMUX_ACK, 0, 42);
        {
            bool found = false;

            for (size_t i = 0; i + 12 <= n && !found; i++) {
                found = memcmp(out + i, ping, 12) == 0;
            }
            assert_true(found);
        }
        raw_close(r);
        bm_free(frames);
    }
    /* The host still serves. */
    {
        struct tnode *a = node_new(1, NULL);

        node_start(a);
        assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
        ping_identify(a, b);
        node_free(a);
    }
    assert_true(eventually(no_conns, b, NULL));
    node_free(b);
    bm_free(r);
    bm_free(out);
}

/* ------------------------------------------------------------ slow peer */

#define BLACKHOLE "/blockv2/test/blackhole/1.0.0"

/* Reads nothing: never credits the window, so its peer's queue grows. */
static void hole_open(struct bm_p2p_stream *s, void *arg)
{
    (void)arg;
    bm_p2p_stream_manual_credit(s, true);
}

static const struct bm_p2p_handler blackhole = {
    .on_open = hole_open,
    .on_data = echo_data_ignore,
    .on_close = echo_close,
};

struct open_op {
    struct call *call;
    struct bm_peer_id peer;
    struct bm_p2p_stream_id id;
};

static void opened(struct bm_p2p_stream *s, void *arg)
{
    struct open_op *o = arg;

    o->id = bm_p2p_stream_id(s);
    call_done(o->call, BM_OK);
}

static void closed_reason(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct open_op *o = arg;

    (void)s;
    o->call->err = reason; /* read after the host is freed */
}

static const struct bm_p2p_handler opener = {
    .on_open = opened,
    .on_data = echo_data_ignore,
    .on_close = closed_reason,
};

static void do_open(struct bm_p2p_host *h, void *arg)
{
    struct open_op *o = arg;
    struct bm_p2p_stream *s;
    int err = bm_p2p_host_open_stream_loop(h, &o->peer, BLACKHOLE, &opener,
                                           o, &s);

    if (err != BM_OK) {
        call_done(o->call, err);
    }
}

static bool slow_dropped(const struct tnode *n, const void *arg)
{
    (void)arg;
    return stats(n).disconnects[BM_P2P_DC_SLOW_PEER] == 1;
}

/* An actor-style sender on another thread outruns a peer that does not
 * read: once the connection's queue passes max_peer_queue the peer is
 * disconnected, counted as slow_peer, and the stream ends with BM_ECLOSED. */
static void test_slow_peer(void **state)
{
    struct tnode *a, *b = node_new(2, NULL);
    struct tweak tw;
    struct call c;
    struct open_op o;
    int sent = 0;

    (void)state;
    memset(&tw, 0, sizeof(tw));
    tw.max_peer_queue = 1 << 20;
    a = node_new(1, &tw);
    assert_int_equal(bm_p2p_host_register(b->h, BLACKHOLE, &blackhole, NULL),
                     BM_OK);
    node_start(a);
    node_start(b);
    assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
    call_init(&c);
    memset(&o, 0, sizeof(o));
    o.call = &c;
    o.peer = b->id;
    assert_int_equal(bm_p2p_host_post(a->h, do_open, &o), BM_OK);
    assert_int_equal(call_wait(&c), BM_OK);
    for (int i = 0; i < 64 && !slow_dropped(a, NULL); i++) {
        struct bm_buf chunk = {0};

        chunk.ptr = bm_xcalloc(1, 128 * 1024);
        chunk.len = 128 * 1024;
        if (bm_p2p_host_send(a->h, o.id, &chunk) == BM_OK) {
            sent++;
        } else {
            bm_buf_release(&chunk);
        }
        sleep_ms(5);
    }
    assert_true(eventually(slow_dropped, a, NULL));
    assert_true(sent >= 8); /* 1 MiB queued before the drop */
    node_free(a);
    node_free(b);
    assert_int_equal(c.err, BM_ECLOSED);
    call_release(&c);
}

/* ------------------------------------------------------------ timeouts */

static bool upgrade_timed_out(const struct tnode *n, const void *arg)
{
    (void)arg;
    return stats(n).handshakes[BM_P2P_HS_TIMEOUT] >= 1;
}

static bool negotiation_timed_out(const struct tnode *n, const void *arg)
{
    (void)arg;
    return stats(n).streams_refused[BM_P2P_SR_TIMEOUT] >= 1;
}

/* A connection that never upgrades and a stream that never names its
 * protocol are dropped at their deadlines (Go's 15 s and 10 s, shortened
 * here), counted. */
static void test_timeouts(void **state)
{
    struct tnode *b;
    struct tweak tw;
    struct raw *r;
    uint8_t syn[12];
    int fd;

    (void)state;
    memset(&tw, 0, sizeof(tw));
    tw.upgrade_ms = 300;
    tw.negotiate_ms = 300;
    b = node_new(2, &tw);
    node_start(b);
    fd = raw_tcp(b); /* says nothing */
    assert_true(eventually(upgrade_timed_out, b, NULL));
    close(fd);
    r = raw_new(b);
    bm_yamux_header_put(syn, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_SYN, 1, 0);
    raw_send(r, syn, sizeof(syn)); /* a stream, no protocol */
    assert_true(eventually(negotiation_timed_out, b, NULL));
    raw_close(r);
    bm_free(r);
    node_free(b);
}

/* IPv6: a host on ::1 dialled over /ip6. */
static void test_ip6(void **state)
{
    struct tweak tw;
    struct tnode *a = node_new(1, NULL);
    struct tnode *b;

    (void)state;
    memset(&tw, 0, sizeof(tw));
    tw.ip6 = true;
    b = node_new(2, &tw);
    if (b == NULL) {
        node_free(a);
        skip(); /* no IPv6 loopback here */
    }
    node_start(a);
    node_start(b);
    assert_int_equal(b->addr.family, 6);
    assert_int_equal(dial(a, &b->addr, NULL), BM_OK);
    ping_identify(a, b);
    node_free(a);
    node_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_ping_identify),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_wrong_peer_id),
        cmocka_unit_test(test_gater),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_ip_limit),
        cmocka_unit_test(test_redial),
        cmocka_unit_test(test_actor_sink),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_slow_peer),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_ip6),
    };

    if (bm_crypto_init() != BM_OK) {
        return 1;
    }
    return BM_TEST_RUN(tests);
}
