/*
 * The host: lifecycle, the epoll loop thread, the any-thread command
 * queue, listening and dialling, the gater, duplicate connections, redial
 * of configured peers, the registry and the peer snapshot. See host.h and
 * docs/P2P.md.
 */
#include "p2p/host_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bm_config.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

/* ------------------------------------------------------------ names */

static const char *const hs_names[BM_P2P_HS_COUNT] = {
    [BM_P2P_HS_OK] = "ok",
    [BM_P2P_HS_TIMEOUT] = "timeout",
    [BM_P2P_HS_PEER_MISMATCH] = "peer_mismatch",
    [BM_P2P_HS_NOISE] = "noise",
    [BM_P2P_HS_NEGOTIATION] = "negotiation",
    [BM_P2P_HS_GATED] = "gated",
    [BM_P2P_HS_CONN_LIMIT] = "conn_limit",
    [BM_P2P_HS_IO] = "io",
    [BM_P2P_HS_IP_LIMIT] = "ip_limit",
};

static const char *const dc_names[BM_P2P_DC_COUNT] = {
    [BM_P2P_DC_LOCAL] = "local",
    [BM_P2P_DC_EOF] = "eof",
    [BM_P2P_DC_IO] = "io",
    [BM_P2P_DC_GOAWAY] = "goaway",
    [BM_P2P_DC_YAMUX] = "yamux_protocol",
    [BM_P2P_DC_NOISE] = "noise",
    [BM_P2P_DC_KEEPALIVE] = "keepalive",
    [BM_P2P_DC_SLOW_PEER] = "slow_peer",
    [BM_P2P_DC_DUPLICATE] = "duplicate",
};

static const char *const sr_names[BM_P2P_SR_COUNT] = {
    [BM_P2P_SR_LIMIT] = "limit",
    [BM_P2P_SR_BACKLOG] = "backlog",
    [BM_P2P_SR_GOAWAY] = "goaway",
    [BM_P2P_SR_NEGOTIATION] = "negotiation",
    [BM_P2P_SR_TIMEOUT] = "timeout",
    [BM_P2P_SR_PING_LIMIT] = "ping_limit",
};

const char *bm_p2p_handshake_name(enum bm_p2p_handshake o)
{
    return (unsigned)o < BM_P2P_HS_COUNT ? hs_names[o] : "unknown";
}

const char *bm_p2p_disconnect_name(enum bm_p2p_disconnect r)
{
    return (unsigned)r < BM_P2P_DC_COUNT ? dc_names[r] : "unknown";
}

const char *bm_p2p_stream_refusal_name(enum bm_p2p_stream_refusal r)
{
    return (unsigned)r < BM_P2P_SR_COUNT ? sr_names[r] : "unknown";
}

static uint64_t mono_ms(void)
{
    return bm_clock_now_ms();
}

/* a + b, saturating at BM__P2P_NEVER. */
static uint64_t add_ms(uint64_t a, uint64_t b)
{
    return b > BM__P2P_NEVER - a ? BM__P2P_NEVER : a + b;
}

/* ------------------------------------------------------------ config */

void bm_p2p_host_config_init(struct bm_p2p_host_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_connections = BM_P2P_MAX_CONNECTIONS;
    cfg->max_inbound_per_ip = BM_P2P_MAX_INBOUND_PER_IP;
    cfg->max_peer_queue = BM_P2P_MAX_PEER_QUEUE;
    cfg->max_streams = 1024;
    cfg->accept_backlog = 256;
    cfg->upgrade_ms = BM_P2P_UPGRADE_MS;
    cfg->negotiate_ms = BM_P2P_NEGOTIATE_MS;
    cfg->identify_ms = BM_P2P_IDENTIFY_MS;
    cfg->keepalive_ms = 30000;
    cfg->keepalive_timeout_ms = 10000;
    cfg->redial_min_ms = BM_P2P_REDIAL_MIN_MS;
    cfg->redial_max_ms = BM_P2P_REDIAL_MAX_MS;
}

#define DEFAULT(f, v)                                                          \
    do {                                                                       \
        if (h->cfg.f == 0) {                                                   \
            h->cfg.f = (v);                                                    \
        }                                                                      \
    } while (0)

static int listen_one(struct bm_p2p_host *h, const struct bm_multiaddr *ma,
                      struct bm_errmsg *em)
{
    struct bm__p2p_listen *l = &h->listen[h->n_listen];
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char text[BM_MULTIADDR_STR_SIZE];
    int one = 1;
    int fd;

    bm_multiaddr_format(ma, text);
    if (ma->family == 0 || !ma->has_port || ma->has_peer ||
        bm_multiaddr_to_sockaddr(ma, &ss, &len) != BM_OK) {
        return bm_errf(em, BM_EINVAL,
                       "p2p listen address '%s': want /ip4|ip6/<addr>/tcp/"
                       "<port>",
                       text);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return bm_errf(em, BM_ESYS, "p2p listen address '%s': socket: %s",
                       text, strerror(errno));
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) {
        /* ip4 and ip6 listeners on one port, as Go does. */
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
        int e = errno;

        close(fd);
        return bm_errf(em, BM_ESYS, "p2p listen address '%s': %s", text,
                       strerror(e));
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        bm_multiaddr_from_sockaddr(&l->addr, (struct sockaddr *)&ss, len) !=
            BM_OK) {
        close(fd);
        return bm_errf(em, BM_ESYS, "p2p listen address '%s': getsockname",
                       text);
    }
    l->io.kind = BM__P2P_IO_LISTEN;
    l->fd = fd;
    h->n_listen++;
    return BM_OK;
}

static int copy_ids(struct bm_peer_id **dst, size_t *n,
                    const struct bm_peer_id *src, size_t count)
{
    if (count == 0) {
        return BM_OK;
    }
    *dst = bm_calloc(count, sizeof(**dst));
    if (*dst == NULL) {
        return BM_ENOMEM;
    }
    memcpy(*dst, src, count * sizeof(**dst));
    *n = count;
    return BM_OK;
}

int bm_p2p_host_new(struct bm_p2p_host **out,
                    const struct bm_p2p_host_config *cfg,
                    struct bm_errmsg *em)
{
    struct bm_p2p_host *h;
    struct epoll_event ev;
    int err = BM_OK;

    *out = NULL;
    if (cfg == NULL || cfg->identity == NULL) {
        return bm_errf(em, BM_EINVAL, "p2p host: identity: required");
    }
    if (cfg->n_listen > BM_P2P_MAX_LISTEN) {
        return bm_errf(em, BM_EINVAL, "p2p host: %zu listen addresses, at "
                       "most %u", cfg->n_listen, BM_P2P_MAX_LISTEN);
    }
    if (cfg->n_peers > BM_P2P_MAX_SEEDS) {
        return bm_errf(em, BM_EINVAL, "p2p.peers: %zu entries, at most %u",
                       cfg->n_peers, BM_P2P_MAX_SEEDS);
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        if (!bm_multiaddr_is_dialable(&cfg->peers[i])) {
            char text[BM_MULTIADDR_STR_SIZE];

            bm_multiaddr_format(&cfg->peers[i], text);
            return bm_errf(em, BM_EINVAL, "p2p.peers: '%s': want /ip4|ip6/"
                           "<addr>/tcp/<port>/p2p/<peer id>", text);
        }
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        struct bm_peer_id self;

        bm_peer_id_from_privkey(&self, cfg->identity);
        if (bm_peer_id_eq(&self, &cfg->peers[i].peer)) {
            char text[BM_MULTIADDR_STR_SIZE];

            bm_multiaddr_format(&cfg->peers[i], text);
            return bm_errf(em, BM_EINVAL, "p2p.peers: '%s' is this node's "
                           "own peer ID", text);
        }
    }
    h = bm_xcalloc(1, sizeof(*h));
    h->wake_io.kind = BM__P2P_IO_WAKE;
    h->epfd = -1;
    h->evfd = -1;
    h->cfg = *cfg;
    h->cfg.identity = NULL;
    h->cfg.listen = NULL;
    h->cfg.peers = NULL;
    h->cfg.blocked = NULL;
    h->cfg.allowed = NULL;
    h->cfg.agent_version = NULL;
    DEFAULT(max_connections, BM_P2P_MAX_CONNECTIONS);
    DEFAULT(max_inbound_per_ip, BM_P2P_MAX_INBOUND_PER_IP);
    DEFAULT(max_peer_queue, BM_P2P_MAX_PEER_QUEUE);
    DEFAULT(max_streams, 1024);
    DEFAULT(accept_backlog, 256);
    DEFAULT(upgrade_ms, BM_P2P_UPGRADE_MS);
    DEFAULT(negotiate_ms, BM_P2P_NEGOTIATE_MS);
    DEFAULT(identify_ms, BM_P2P_IDENTIFY_MS);
    DEFAULT(keepalive_ms, 30000);
    DEFAULT(keepalive_timeout_ms, 10000);
    DEFAULT(redial_min_ms, BM_P2P_REDIAL_MIN_MS);
    DEFAULT(redial_max_ms, BM_P2P_REDIAL_MAX_MS);
    if (h->cfg.redial_max_ms > BM_P2P_REDIAL_LIMIT_MS) {
        h->cfg.redial_max_ms = BM_P2P_REDIAL_LIMIT_MS;
    }
    if (h->cfg.redial_min_ms > h->cfg.redial_max_ms) {
        h->cfg.redial_min_ms = h->cfg.redial_max_ms;
    }
    h->identity = *cfg->identity;
    bm_peer_id_from_privkey(&h->self, &h->identity);
    snprintf(h->agent, sizeof(h->agent), "%s",
             cfg->agent_version != NULL ? cfg->agent_version
                                        : "blockv2/" BM_VERSION);
    randombytes_buf(h->static_key, sizeof(h->static_key));
    h->now_ms = mono_ms();
    h->next_tick_ms = h->now_ms;
    pthread_mutex_init(&h->cmd_mu, NULL);
    pthread_mutex_init(&h->snap_mu, NULL);
    for (size_t i = 0; i < cfg->n_peers; i++) {
        h->seeds[i].addr = cfg->peers[i];
        h->seeds[i].backoff_ms = h->cfg.redial_min_ms;
    }
    h->n_seeds = cfg->n_peers;
    err = copy_ids(&h->blocked, &h->n_blocked, cfg->blocked, cfg->n_blocked);
    if (err == BM_OK) {
        err = copy_ids(&h->allowed, &h->n_allowed, cfg->allowed,
                       cfg->n_allowed);
    }
    for (size_t i = 0; err == BM_OK && i < cfg->n_listen; i++) {
        err = listen_one(h, &cfg->listen[i], em);
    }
    if (err == BM_OK) {
        err = bm__p2p_builtin_register(h);
    }
    if (err == BM_OK) {
        err = bm__p2p_builtin_init(h);
    }
    if (err == BM_OK) {
        h->epfd = epoll_create1(EPOLL_CLOEXEC);
        h->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (h->epfd < 0 || h->evfd < 0) {
            err = bm_errf(em, BM_ESYS, "p2p host: epoll/eventfd: %s",
                          strerror(errno));
        }
    }
    if (err == BM_OK) {
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = &h->wake_io;
        if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->evfd, &ev) != 0) {
            err = bm_errf(em, BM_ESYS, "p2p host: epoll_ctl: %s",
                          strerror(errno));
        }
    }
    for (size_t i = 0; err == BM_OK && i < h->n_listen; i++) {
        ev.events = EPOLLIN;
        ev.data.ptr = &h->listen[i].io;
        if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->listen[i].fd, &ev) != 0) {
            err = bm_errf(em, BM_ESYS, "p2p host: epoll_ctl: %s",
                          strerror(errno));
        }
    }
    if (err != BM_OK) {
        if (err == BM_ENOMEM) {
            (void)bm_errf(em, err, "p2p host: out of memory");
        }
        bm_p2p_host_free(h);
        return err;
    }
    *out = h;
    return BM_OK;
}

/* Room for one more protocol in the registry (doubling). */
static int grow_registry(struct bm_p2p_host *h)
{
    struct bm__p2p_proto *np;
    const char **nn;
    size_t cap;

    if (h->n_protos < h->cap_protos) {
        return BM_OK;
    }
    cap = h->cap_protos ? h->cap_protos * 2 : 8;
    np = bm_realloc(h->protos, cap * sizeof(*np));
    if (np == NULL) {
        return BM_ENOMEM;
    }
    h->protos = np;
    nn = bm_realloc(h->proto_names, cap * sizeof(*nn));
    if (nn == NULL) {
        return BM_ENOMEM;
    }
    h->proto_names = nn;
    h->cap_protos = cap;
    return BM_OK;
}

int bm_p2p_host_register(struct bm_p2p_host *h, const char *protocol,
                         const struct bm_p2p_handler *handler, void *arg)
{
    size_t len;
    int err;

    if (h->started) {
        return BM_ESTATE;
    }
    if (protocol == NULL || handler == NULL || handler->on_close == NULL) {
        return BM_EINVAL;
    }
    len = strlen(protocol);
    if (len == 0 || len > BM_MULTISTREAM_PROTO_MAX ||
        memchr(protocol, '\n', len) != NULL) {
        return BM_EINVAL;
    }
    for (size_t i = 0; i < h->n_protos; i++) {
        if (strcmp(h->protos[i].name, protocol) == 0) {
            return BM_EEXIST;
        }
    }
    if (h->n_protos >= BM_P2P_MAX_PROTOCOLS ||
        !bm__p2p_identify_fits(h, h->n_protos + 1, h->proto_bytes + len)) {
        return BM_EFULL;
    }
    err = grow_registry(h);
    if (err != BM_OK) {
        return err;
    }
    memcpy(h->protos[h->n_protos].name, protocol, len + 1);
    h->protos[h->n_protos].handler = handler;
    h->protos[h->n_protos].arg = arg;
    h->n_protos++;
    h->proto_bytes += len;
    /* Names are inside protos, which may just have moved. */
    for (size_t i = 0; i < h->n_protos; i++) {
        h->proto_names[i] = h->protos[i].name;
    }
    return BM_OK;
}

int bm_p2p_host_add_listener(struct bm_p2p_host *h,
                             const struct bm_p2p_listener *l, void *arg)
{
    if (h->started) {
        return BM_ESTATE;
    }
    if (h->n_listeners >= BM__P2P_MAX_LISTENERS) {
        return BM_EFULL;
    }
    h->listeners[h->n_listeners].l = l;
    h->listeners[h->n_listeners].arg = arg;
    h->n_listeners++;
    return BM_OK;
}

const struct bm_peer_id *bm_p2p_host_id(const struct bm_p2p_host *h)
{
    return &h->self;
}

const struct bm_privkey *bm_p2p_host_identity(const struct bm_p2p_host *h)
{
    return &h->identity;
}

size_t bm_p2p_host_listen_addrs(const struct bm_p2p_host *h,
                                struct bm_multiaddr *out, size_t max)
{
    size_t n = h->n_listen < max ? h->n_listen : max;

    for (size_t i = 0; i < n; i++) {
        out[i] = h->listen[i].addr;
    }
    return n;
}

uint64_t bm_p2p_host_now_ms(const struct bm_p2p_host *h)
{
    return h->now_ms;
}

/* ------------------------------------------------------------ timers */

static bool timer_before(const struct bm__p2p_timer *a,
                         const struct bm__p2p_timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->id < b->id);
}

static void timer_swap(struct bm_p2p_host *h, size_t i, size_t j)
{
    struct bm__p2p_timer t = h->timers[i];

    h->timers[i] = h->timers[j];
    h->timers[j] = t;
}

static void timer_up(struct bm_p2p_host *h, size_t i)
{
    while (i > 0 && timer_before(&h->timers[i], &h->timers[(i - 1) / 2])) {
        timer_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void timer_down(struct bm_p2p_host *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < h->n_timers && timer_before(&h->timers[l], &h->timers[m])) {
            m = l;
        }
        if (r < h->n_timers && timer_before(&h->timers[r], &h->timers[m])) {
            m = r;
        }
        if (m == i) {
            return;
        }
        timer_swap(h, i, m);
        i = m;
    }
}

/* Removes the timer at heap index i. */
static void timer_remove_at(struct bm_p2p_host *h, size_t i)
{
    h->n_timers--;
    if (i == h->n_timers) {
        return;
    }
    h->timers[i] = h->timers[h->n_timers];
    timer_up(h, i);
    timer_down(h, i);
}

int bm_p2p_host_timer_add(struct bm_p2p_host *h, uint64_t delay_ms,
                          uint64_t period_ms, bm_p2p_timer_cb *cb, void *arg,
                          struct bm_p2p_timer_id *out)
{
    struct bm__p2p_timer *t;

    if (out != NULL) {
        out->v = 0;
    }
    if (cb == NULL) {
        return BM_EINVAL;
    }
    if (h->n_timers >= BM_P2P_MAX_TIMERS) {
        return BM_EFULL;
    }
    if (h->n_timers == h->cap_timers) {
        size_t cap = h->cap_timers ? h->cap_timers * 2 : 16;
        struct bm__p2p_timer *nt = bm_realloc(h->timers, cap * sizeof(*nt));

        if (nt == NULL) {
            return BM_ENOMEM;
        }
        h->timers = nt;
        h->cap_timers = cap;
    }
    t = &h->timers[h->n_timers];
    t->due_ms = add_ms(h->now_ms, delay_ms);
    t->id = ++h->next_timer_id;
    t->period_ms = period_ms;
    t->cb = cb;
    t->arg = arg;
    if (out != NULL) {
        out->v = t->id;
    }
    h->n_timers++;
    timer_up(h, h->n_timers - 1);
    return BM_OK;
}

bool bm_p2p_host_timer_cancel(struct bm_p2p_host *h,
                              struct bm_p2p_timer_id id)
{
    if (id.v == 0) {
        return false;
    }
    for (size_t i = 0; i < h->n_timers; i++) {
        if (h->timers[i].id == id.v) {
            timer_remove_at(h, i);
            return true;
        }
    }
    return false;
}

/* Runs the timers due now. Timers added by a callback wait for the next
 * turn even when due at once, so a callback that re-adds itself with no
 * delay cannot hold the loop. */
static void run_timers(struct bm_p2p_host *h)
{
    uint64_t first_new = h->next_timer_id + 1;

    while (h->n_timers > 0 && h->timers[0].due_ms <= h->now_ms &&
           h->timers[0].id < first_new && !h->stop_requested) {
        struct bm__p2p_timer t = h->timers[0];

        if (t.period_ms > 0) {
            /* Stays pending (so the callback can cancel it); the next
             * run is a period after this one, or after now if late. */
            h->timers[0].due_ms =
                add_ms(t.due_ms, t.period_ms) > h->now_ms
                    ? add_ms(t.due_ms, t.period_ms)
                    : add_ms(h->now_ms, t.period_ms);
            timer_down(h, 0);
        } else {
            timer_remove_at(h, 0);
        }
        BM__P2P_INC(h, timers_fired);
        t.cb(h, t.arg);
    }
}

/* ------------------------------------------------------------ gater */

static bool id_in(const struct bm_peer_id *list, size_t n,
                  const struct bm_peer_id *peer)
{
    for (size_t i = 0; i < n; i++) {
        if (bm_peer_id_eq(&list[i], peer)) {
            return true;
        }
    }
    return false;
}

int bm__p2p_host_gate(const struct bm_p2p_host *h,
                      const struct bm_peer_id *peer)
{
    if (!h->cfg.gater) {
        return BM_OK;
    }
    if (id_in(h->allowed, h->n_allowed, peer)) {
        return BM_OK; /* ev-node: allowed wins over blocked */
    }
    if (id_in(h->blocked, h->n_blocked, peer) || h->n_allowed > 0) {
        return BM_EPERM;
    }
    return BM_OK;
}

/* ------------------------------------------------------------ lookups */

struct bm__p2p_conn *bm__p2p_host_conn(struct bm_p2p_host *h,
                                       uint64_t serial)
{
    for (struct bm__p2p_conn *c = h->conns; c != NULL; c = c->next) {
        if (c->serial == serial) {
            return c;
        }
    }
    return NULL;
}

struct bm_p2p_stream *bm_p2p_host_stream_loop(struct bm_p2p_host *h,
                                              struct bm_p2p_stream_id id)
{
    struct bm__p2p_conn *c = bm__p2p_host_conn(h, id.conn);
    struct bm_p2p_stream *s;

    if (c == NULL || c->state != BM__CS_OPEN) {
        return NULL;
    }
    s = bm_yamux_stream_user(c->mux, id.sid);
    return s != NULL && s->state != BM__SS_DONE ? s : NULL;
}

bool bm_p2p_host_connected_loop(struct bm_p2p_host *h,
                                const struct bm_peer_id *peer)
{
    for (struct bm__p2p_conn *c = h->conns; c != NULL; c = c->next) {
        if (c->state == BM__CS_OPEN && bm_peer_id_eq(&c->peer, peer)) {
            return true;
        }
    }
    return false;
}

static bool dialling(struct bm_p2p_host *h, const struct bm_peer_id *peer)
{
    for (struct bm__p2p_conn *c = h->conns; c != NULL; c = c->next) {
        if (!c->inbound && c->state != BM__CS_OPEN && c->has_expected &&
            bm_peer_id_eq(&c->expected, peer)) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ dial */

static int dial(struct bm_p2p_host *h, const struct bm_multiaddr *ma,
                bool force, int seed, bm_p2p_dial_cb *cb, void *arg)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    struct bm__p2p_conn *c;
    int one = 1;
    int fd;

    if (!bm_multiaddr_is_dialable(ma) ||
        bm_multiaddr_to_sockaddr(ma, &ss, &len) != BM_OK) {
        return BM_EINVAL;
    }
    if (bm_peer_id_eq(&ma->peer, &h->self)) {
        return BM_EINVAL; /* ourselves */
    }
    if (bm__p2p_host_gate(h, &ma->peer) != BM_OK) {
        BM__P2P_INC(h, handshakes[BM_P2P_HS_GATED]);
        return BM_EPERM;
    }
    if (!force && bm_p2p_host_connected_loop(h, &ma->peer)) {
        return BM_EEXIST;
    }
    if (!force && dialling(h, &ma->peer)) {
        return BM_EBUSY;
    }
    if (h->n_conns >= h->cfg.max_connections) {
        BM__P2P_INC(h, handshakes[BM_P2P_HS_CONN_LIMIT]);
        return BM_EFULL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return BM_ESYS;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    BM__P2P_INC(h, dials);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        BM__P2P_INC(h, dial_failures);
        BM__P2P_INC(h, handshakes[BM_P2P_HS_IO]);
        return BM_ECONNECT;
    }
    c = bm__p2p_conn_new(h, fd, false, ma);
    if (c == NULL) {
        return BM_ENOMEM;
    }
    c->has_expected = true;
    c->expected = ma->peer;
    c->force = force;
    c->seed = seed;
    c->dial_cb = cb;
    c->dial_arg = arg;
    return BM_OK;
}

int bm_p2p_host_dial_loop(struct bm_p2p_host *h,
                          const struct bm_multiaddr *ma, bool force,
                          bm_p2p_dial_cb *cb, void *arg)
{
    return dial(h, ma, force, -1, cb, arg);
}

/* A delay of at most d ms (d >= 1), at least half of it: spread so that
 * peers cut off together do not all redial at the same instant. */
static uint64_t jitter(uint64_t d)
{
    uint64_t half = d / 2;

    return d - randombytes_uniform((uint32_t)(d - half) + 1u);
}

/* Schedules sd's next attempt after its current delay (jittered) and
 * doubles the delay for the one after, up to redial_max_ms. */
static void seed_schedule(struct bm_p2p_host *h, struct bm__p2p_seed *sd)
{
    sd->next_ms = h->now_ms + jitter(sd->backoff_ms);
    bm__p2p_host_due(h, sd->next_ms);
    sd->backoff_ms = sd->backoff_ms > h->cfg.redial_max_ms / 2
                         ? h->cfg.redial_max_ms
                         : sd->backoff_ms * 2;
}

static void seed_dial(struct bm_p2p_host *h, size_t i)
{
    struct bm__p2p_seed *sd = &h->seeds[i];
    int err = dial(h, &sd->addr, false, (int)i, NULL, NULL);

    if (err == BM_EEXIST || err == BM_EBUSY) {
        return; /* connected or being dialled some other way */
    }
    if (sd->tried) {
        BM__P2P_INC(h, redials);
    }
    sd->tried = true;
    if (err == BM_OK) {
        sd->dialing = true;
        return;
    }
    seed_schedule(h, sd);
}

/* A connection to or from peer came up: the network works. Every other
 * configured peer waiting longer than the minimum gets its delay cut back
 * to the minimum (jittered), at most once per redial_max_ms each, so that
 * a peer that is really down is not dialled much more often than the
 * backoff allows. The peer itself restarts at the minimum. */
static void seeds_sign_of_life(struct bm_p2p_host *h,
                               const struct bm__p2p_conn *c)
{
    const struct bm_peer_id *peer = &c->peer;

    for (size_t i = 0; i < h->n_seeds; i++) {
        struct bm__p2p_seed *sd = &h->seeds[i];

        if (bm_peer_id_eq(&sd->addr.peer, peer)) {
            sd->backoff_ms = h->cfg.redial_min_ms;
            sd->dialing = false;
            continue;
        }
        if (sd->dialing || sd->next_ms <= h->now_ms + h->cfg.redial_min_ms ||
            (sd->revived &&
             h->now_ms - sd->revived_ms < h->cfg.redial_max_ms) ||
            bm_p2p_host_connected_loop(h, &sd->addr.peer)) {
            continue;
        }
        sd->revived = true;
        sd->revived_ms = h->now_ms;
        sd->backoff_ms = h->cfg.redial_min_ms;
        seed_schedule(h, sd);
        BM__P2P_INC(h, redial_resets);
        bm_log_debug("p2p", "sign of life from peer=%s: configured peer "
                     "%zu redialled in %llu ms", c->peer_str, i + 1,
                     (unsigned long long)(sd->next_ms - h->now_ms));
    }
}

void bm_p2p_host_close_conn_loop(struct bm_p2p_host *h,
                                 struct bm_p2p_conn_id conn)
{
    struct bm__p2p_conn *c = bm__p2p_host_conn(h, conn.v);

    if (c != NULL) {
        bm__p2p_conn_close(c, BM_P2P_DC_LOCAL);
    }
}

size_t bm_p2p_host_disconnect_loop(struct bm_p2p_host *h,
                                   const struct bm_peer_id *peer)
{
    size_t n = 0;
    struct bm__p2p_conn *c = h->conns;

    while (c != NULL) {
        struct bm__p2p_conn *next = c->next;

        if (c->has_peer && bm_peer_id_eq(&c->peer, peer)) {
            bm__p2p_conn_close(c, BM_P2P_DC_LOCAL);
            n++;
        }
        c = next;
    }
    return n;
}

/* ------------------------------------------------------------ conn events */

static void tell_dialler(struct bm__p2p_conn *c, int err)
{
    bm_p2p_dial_cb *cb = c->dial_cb;
    struct bm_p2p_conn_id id = {c->serial};

    if (cb != NULL) {
        c->dial_cb = NULL;
        cb(c->h, err, id, err == BM_OK ? &c->peer : NULL, c->dial_arg);
    }
}

bool bm__p2p_host_conn_up(struct bm__p2p_conn *c)
{
    struct bm_p2p_host *h = c->h;
    struct bm_p2p_conn_id id = {c->serial};
    bool we_dial_first = memcmp(h->self.b, c->peer.b, BM_PEER_ID_SIZE) < 0;
    size_t others = 0;

    /* Duplicates: the same peer dialled at the same time from both
     * sides keeps the connection dialled by the lower peer ID (both ends
     * decide alike); Go may keep two, so up to BM_P2P_CONNS_PER_PEER are
     * tolerated otherwise. */
    for (struct bm__p2p_conn *o = h->conns; o != NULL && !c->force;
         o = o->next) {
        if (o == c || o->state != BM__CS_OPEN || o->force ||
            !bm_peer_id_eq(&o->peer, &c->peer)) {
            continue;
        }
        if (o->inbound != c->inbound &&
            h->now_ms - o->opened_ms < h->cfg.upgrade_ms) {
            bool c_survives = c->inbound != we_dial_first;

            if (!c_survives) {
                bm__p2p_conn_close(c, BM_P2P_DC_DUPLICATE);
                tell_dialler(c, BM_OK);
                return false;
            }
            bm__p2p_conn_close(o, BM_P2P_DC_DUPLICATE);
            break;
        }
        others++;
    }
    if (others + 1 > BM_P2P_CONNS_PER_PEER) {
        bm__p2p_conn_close(c, BM_P2P_DC_DUPLICATE);
        tell_dialler(c, BM_OK);
        return false;
    }
    seeds_sign_of_life(h, c);
    bm_log_info("p2p", "connected peer=%s dir=%s conn=%llu", c->peer_str,
                c->inbound ? "inbound" : "outbound",
                (unsigned long long)c->serial);
    bm__p2p_host_snapshot(h);
    tell_dialler(c, BM_OK);
    c->announced = c->state == BM__CS_OPEN;
    for (size_t i = 0; i < h->n_listeners && c->state == BM__CS_OPEN; i++) {
        const struct bm_p2p_listener *l = h->listeners[i].l;

        if (l->on_connected != NULL) {
            l->on_connected(h, id, &c->peer, c->inbound,
                            h->listeners[i].arg);
        }
    }
    return c->state == BM__CS_OPEN;
}

void bm__p2p_host_conn_down(struct bm__p2p_conn *c, bool was_open,
                            int reason, const char *reason_name)
{
    struct bm_p2p_host *h = c->h;
    struct bm_p2p_conn_id id = {c->serial};

    if (c->seed >= 0 && !was_open) {
        struct bm__p2p_seed *sd = &h->seeds[c->seed];

        sd->dialing = false;
        seed_schedule(h, sd);
        bm_log_debug("p2p", "dial of configured peer failed, retry in %llu "
                     "ms err=%s",
                     (unsigned long long)(sd->next_ms - h->now_ms),
                     bm_err_name(reason));
    }
    if (!was_open) {
        tell_dialler(c, reason);
        return;
    }
    bm_log_info("p2p", "disconnected peer=%s conn=%llu reason=%s",
                c->peer_str, (unsigned long long)c->serial, reason_name);
    bm__p2p_host_snapshot(h);
    for (size_t i = 0; i < h->n_listeners && c->announced; i++) {
        const struct bm_p2p_listener *l = h->listeners[i].l;

        if (l->on_disconnected != NULL) {
            l->on_disconnected(h, id, &c->peer, reason, reason_name,
                               h->listeners[i].arg);
        }
    }
    /* A configured peer we lost is redialled after the current backoff
     * (redial_min_ms, jittered, doubling to redial_max_ms per failure),
     * unless another connection to it remains. */
    for (size_t i = 0; i < h->n_seeds; i++) {
        struct bm__p2p_seed *sd = &h->seeds[i];

        if (bm_peer_id_eq(&sd->addr.peer, &c->peer) && !sd->dialing &&
            !bm_p2p_host_connected_loop(h, &c->peer)) {
            seed_schedule(h, sd);
        }
    }
}

/* ------------------------------------------------------------ snapshot */

static uint64_t conn_pending(const struct bm__p2p_conn *c)
{
    return bm_yamux_queued_total(c->mux) + (c->wtail - c->whead);
}

/* The connected peers now, one entry per peer (its oldest connection's
 * address and direction, counters summed), into out[0..h->n_conns) whose
 * entries are `stride` bytes apart. With slots (the snapshot being built,
 * entries at the same indices), each open connection is pointed at its
 * peer's slot and its pending bytes are recorded as told. Returns the
 * count. */
static size_t collect(struct bm_p2p_host *h, struct bm_p2p_peer_info *out,
                      size_t stride, struct bm__p2p_snap_peer *slots)
{
    size_t n = 0;

#define AT(i) ((struct bm_p2p_peer_info *)(void *)((char *)out + (i) * stride))
    for (struct bm__p2p_conn *c = h->conns; c != NULL; c = c->next) {
        struct bm_p2p_peer_info *p;
        uint64_t pending;
        size_t k;

        if (slots != NULL) {
            c->slot = NULL;
        }
        if (c->state != BM__CS_OPEN) {
            continue;
        }
        for (k = 0; k < n; k++) {
            if (bm_peer_id_eq(&AT(k)->peer, &c->peer)) {
                break;
            }
        }
        p = AT(k);
        if (k == n) {
            n++;
            memset(p, 0, sizeof(*p));
            p->peer = c->peer;
            p->inbound = c->inbound;
            p->connected_ms = c->opened_ms;
            bm_multiaddr_format(&c->remote, p->addr);
        } else if (c->opened_ms < p->connected_ms) {
            p->inbound = c->inbound;
            p->connected_ms = c->opened_ms;
            bm_multiaddr_format(&c->remote, p->addr);
        }
        pending = conn_pending(c);
        p->connections++;
        p->bytes_in += c->bytes_in;
        p->bytes_out += c->bytes_out;
        p->pending_send += pending;
        if (slots != NULL) {
            c->slot = &slots[k];
            c->pending_told = pending;
        }
    }
#undef AT
    return n;
}

void bm__p2p_host_snapshot(struct bm_p2p_host *h)
{
    struct bm__p2p_snap_peer *snap = NULL;
    size_t n = 0;

    if (h->n_conns > 0) {
        snap = bm_calloc(h->n_conns, sizeof(*snap));
    }
    if (snap != NULL) {
        n = collect(h, &snap[0].info, sizeof(*snap), snap);
        for (size_t i = 0; i < n; i++) {
            atomic_init(&snap[i].bytes_in, snap[i].info.bytes_in);
            atomic_init(&snap[i].bytes_out, snap[i].info.bytes_out);
            atomic_init(&snap[i].pending_send, snap[i].info.pending_send);
        }
    } else {
        /* Out of memory (or no connection): an empty list, and no
         * connection points into the old one. */
        for (struct bm__p2p_conn *c = h->conns; c != NULL; c = c->next) {
            c->slot = NULL;
        }
    }
    atomic_store_explicit(&h->cnt.peers, n, memory_order_relaxed);
    pthread_mutex_lock(&h->snap_mu);
    bm_free(h->snap);
    h->snap = snap;
    h->n_snap = n;
    pthread_mutex_unlock(&h->snap_mu);
}

void bm__p2p_host_count(struct bm__p2p_conn *c, uint64_t in, uint64_t out)
{
    struct bm__p2p_snap_peer *sp = c->slot;
    uint64_t pending;

    if (sp == NULL) {
        return;
    }
    if (in > 0) {
        atomic_fetch_add_explicit(&sp->bytes_in, in, memory_order_relaxed);
    }
    if (out > 0) {
        atomic_fetch_add_explicit(&sp->bytes_out, out, memory_order_relaxed);
    }
    pending = conn_pending(c);
    if (pending != c->pending_told) {
        /* Unsigned wrap-around adds the (possibly negative) difference. */
        atomic_fetch_add_explicit(&sp->pending_send,
                                  pending - c->pending_told,
                                  memory_order_relaxed);
        c->pending_told = pending;
    }
}

int bm_p2p_host_peers(const struct bm_p2p_host *h,
                      struct bm_p2p_peer_info **out, size_t *n)
{
    struct bm_p2p_host *hm = (struct bm_p2p_host *)h; /* the mutex only */
    int err = BM_OK;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&hm->snap_mu);
    if (h->n_snap > 0) {
        *out = bm_malloc(h->n_snap * sizeof(**out));
        if (*out == NULL) {
            err = BM_ENOMEM;
        } else {
            for (size_t i = 0; i < h->n_snap; i++) {
                struct bm__p2p_snap_peer *sp = &hm->snap[i];

                (*out)[i] = sp->info;
                (*out)[i].bytes_in = atomic_load_explicit(
                    &sp->bytes_in, memory_order_relaxed);
                (*out)[i].bytes_out = atomic_load_explicit(
                    &sp->bytes_out, memory_order_relaxed);
                (*out)[i].pending_send = atomic_load_explicit(
                    &sp->pending_send, memory_order_relaxed);
            }
            *n = h->n_snap;
        }
    }
    pthread_mutex_unlock(&hm->snap_mu);
    return err;
}

int bm_p2p_host_peers_loop(struct bm_p2p_host *h,
                           struct bm_p2p_peer_info **out, size_t *n)
{
    struct bm_p2p_peer_info *info;
    size_t count;

    *out = NULL;
    *n = 0;
    if (h->n_conns == 0) {
        return BM_OK;
    }
    info = bm_malloc(h->n_conns * sizeof(*info));
    if (info == NULL) {
        return BM_ENOMEM;
    }
    count = collect(h, info, sizeof(*info), NULL);
    if (count == 0) {
        bm_free(info);
        return BM_OK;
    }
    *out = info;
    *n = count;
    return BM_OK;
}

void bm_p2p_host_stats(const struct bm_p2p_host *h, struct bm_p2p_stats *out)
{
#define LD(f) atomic_load_explicit(&h->cnt.f, memory_order_relaxed)
    memset(out, 0, sizeof(*out));
    out->peers = LD(peers);
    out->connections = LD(connections);
    out->conns_inbound = LD(conns_inbound);
    out->conns_outbound = LD(conns_outbound);
    out->bytes_in = LD(bytes_in);
    out->bytes_out = LD(bytes_out);
    for (size_t i = 0; i < BM_P2P_HS_COUNT; i++) {
        out->handshakes[i] = LD(handshakes[i]);
    }
    for (size_t i = 0; i < BM_P2P_DC_COUNT; i++) {
        out->disconnects[i] = LD(disconnects[i]);
    }
    out->streams_open = LD(streams_open);
    out->streams_inbound = LD(streams_inbound);
    out->streams_outbound = LD(streams_outbound);
    for (size_t i = 0; i < BM_P2P_SR_COUNT; i++) {
        out->streams_refused[i] = LD(streams_refused[i]);
    }
    out->stream_resets_sent = LD(stream_resets_sent);
    out->stream_resets_received = LD(stream_resets_received);
    out->dials = LD(dials);
    out->dial_failures = LD(dial_failures);
    out->redials = LD(redials);
    out->redial_resets = LD(redial_resets);
    out->commands_rejected = LD(commands_rejected);
    out->actor_tell_failures = LD(actor_tell_failures);
    out->loop_wakeups = LD(loop_wakeups);
    out->timers_fired = LD(timers_fired);
#undef LD
}

/* ------------------------------------------------------------ commands */

static int push(struct bm_p2p_host *h, struct bm__p2p_cmd *cmd, bool force)
{
    bool wake;

    pthread_mutex_lock(&h->cmd_mu);
    if (!atomic_load(&h->running)) {
        pthread_mutex_unlock(&h->cmd_mu);
        return BM_ESTOPPED;
    }
    if (!force && (h->cmd_len >= BM__P2P_CMD_MAX ||
                   h->cmd_bytes + cmd->data.len > BM__P2P_CMD_BYTES_MAX)) {
        pthread_mutex_unlock(&h->cmd_mu);
        BM__P2P_INC(h, commands_rejected);
        return BM_EFULL;
    }
    if (h->cmd_len == h->cmd_cap) {
        size_t cap = h->cmd_cap ? h->cmd_cap * 2 : 64;
        struct bm__p2p_cmd *nq = bm_malloc(cap * sizeof(*nq));

        if (nq == NULL) {
            pthread_mutex_unlock(&h->cmd_mu);
            return BM_ENOMEM;
        }
        for (size_t i = 0; i < h->cmd_len; i++) {
            nq[i] = h->cmds[(h->cmd_head + i) % h->cmd_cap];
        }
        bm_free(h->cmds);
        h->cmds = nq;
        h->cmd_cap = cap;
        h->cmd_head = 0;
    }
    h->cmds[(h->cmd_head + h->cmd_len) % h->cmd_cap] = *cmd;
    wake = h->cmd_len == 0;
    h->cmd_len++;
    h->cmd_bytes += cmd->data.len;
    if (cmd->type == BM__CMD_STOP) {
        atomic_store(&h->running, false);
    }
    pthread_mutex_unlock(&h->cmd_mu);
    if (wake) {
        uint64_t one = 1;

        (void)!write(h->evfd, &one, sizeof(one));
    }
    return BM_OK;
}

static bool pop(struct bm_p2p_host *h, struct bm__p2p_cmd *out)
{
    bool got = false;

    pthread_mutex_lock(&h->cmd_mu);
    if (h->cmd_len > 0) {
        *out = h->cmds[h->cmd_head];
        h->cmd_head = (h->cmd_head + 1) % h->cmd_cap;
        h->cmd_len--;
        h->cmd_bytes -= out->data.len;
        got = true;
    }
    pthread_mutex_unlock(&h->cmd_mu);
    return got;
}

int bm_p2p_host_post(struct bm_p2p_host *h,
                     void (*fn)(struct bm_p2p_host *h, void *arg),
                     void *arg)
{
    struct bm__p2p_cmd cmd;

    if (fn == NULL) {
        return BM_EINVAL;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = BM__CMD_POST;
    cmd.fn = fn;
    cmd.arg = arg;
    return push(h, &cmd, false);
}

int bm_p2p_host_send(struct bm_p2p_host *h, struct bm_p2p_stream_id id,
                     struct bm_buf *data)
{
    struct bm__p2p_cmd cmd;
    int err;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = BM__CMD_SEND;
    cmd.stream = id;
    cmd.data = *data;
    err = push(h, &cmd, false);
    if (err == BM_OK) {
        data->ptr = NULL;
        data->len = 0;
    }
    return err;
}

int bm_p2p_host_close_stream(struct bm_p2p_host *h,
                             struct bm_p2p_stream_id id)
{
    struct bm__p2p_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = BM__CMD_CLOSE_STREAM;
    cmd.stream = id;
    return push(h, &cmd, false);
}

int bm_p2p_host_reset_stream(struct bm_p2p_host *h,
                             struct bm_p2p_stream_id id, uint32_t code)
{
    struct bm__p2p_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = BM__CMD_RESET_STREAM;
    cmd.stream = id;
    cmd.code = code;
    return push(h, &cmd, false);
}

int bm_p2p_host_dial(struct bm_p2p_host *h, const struct bm_multiaddr *ma)
{
    struct bm__p2p_cmd cmd;

    if (!bm_multiaddr_is_dialable(ma)) {
        return BM_EINVAL;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = BM__CMD_DIAL;
    cmd.addr = *ma;
    return push(h, &cmd, false);
}

int bm_p2p_host_disconnect(struct bm_p2p_host *h,
                           const struct bm_peer_id *peer)
{
    struct bm__p2p_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = BM__CMD_DISCONNECT;
    cmd.peer = *peer;
    return push(h, &cmd, false);
}

static void run_command(struct bm_p2p_host *h, struct bm__p2p_cmd *cmd)
{
    struct bm_p2p_stream *s;

    switch (cmd->type) {
    case BM__CMD_POST:
        cmd->fn(h, cmd->arg);
        break;
    case BM__CMD_SEND:
        s = bm_p2p_host_stream_loop(h, cmd->stream);
        if (s != NULL && bm_p2p_stream_write(s, cmd->data.ptr,
                                             cmd->data.len) == BM_EFULL) {
            bm_log_warn("p2p", "peer cannot keep up, disconnecting peer=%s "
                        "queued=%zu",
                        s->c->peer_str, bm_yamux_queued_total(s->c->mux));
            bm__p2p_conn_close(s->c, BM_P2P_DC_SLOW_PEER);
        }
        bm_buf_release(&cmd->data);
        break;
    case BM__CMD_CLOSE_STREAM:
        s = bm_p2p_host_stream_loop(h, cmd->stream);
        if (s != NULL) {
            (void)bm_p2p_stream_close(s);
        }
        break;
    case BM__CMD_RESET_STREAM:
        s = bm_p2p_host_stream_loop(h, cmd->stream);
        if (s != NULL) {
            bm_p2p_stream_reset(s, cmd->code);
        }
        break;
    case BM__CMD_DIAL:
        (void)dial(h, &cmd->addr, false, -1, NULL, NULL);
        break;
    case BM__CMD_DISCONNECT:
        (void)bm_p2p_host_disconnect_loop(h, &cmd->peer);
        break;
    case BM__CMD_STOP:
        h->stop_requested = true;
        break;
    }
}

static void run_commands(struct bm_p2p_host *h)
{
    struct bm__p2p_cmd cmd;
    uint64_t v;

    (void)!read(h->evfd, &v, sizeof(v));
    while (pop(h, &cmd)) {
        run_command(h, &cmd);
    }
}

/* ------------------------------------------------------------ loop */

/* True if h holds max_inbound_per_ip inbound connections (open or in
 * the upgrade) from ip's address. At most max_connections to look at. */
static bool ip_full(const struct bm_p2p_host *h, const struct bm_multiaddr *ip)
{
    uint32_t n = 0;
    size_t len = ip->family == 4 ? 4 : 16;

    if (h->cfg.max_inbound_per_ip == UINT32_MAX) {
        return false;
    }
    for (const struct bm__p2p_conn *c = h->conns; c != NULL; c = c->next) {
        if (c->inbound && c->state != BM__CS_CLOSED &&
            c->remote.family == ip->family &&
            memcmp(c->remote.ip, ip->ip, len) == 0 &&
            ++n >= h->cfg.max_inbound_per_ip) {
            return true;
        }
    }
    return false;
}

static void accept_all(struct bm_p2p_host *h, struct bm__p2p_listen *l)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        struct bm_multiaddr remote;
        int one = 1;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                bm_log_warn("p2p", "accept failed: %s", strerror(errno));
            }
            return;
        }
        if (h->n_conns >= h->cfg.max_connections) {
            BM__P2P_INC(h, handshakes[BM_P2P_HS_CONN_LIMIT]);
            close(fd);
            continue;
        }
        if (bm_multiaddr_from_sockaddr(&remote, (struct sockaddr *)&ss,
                                       len) != BM_OK) {
            close(fd);
            continue;
        }
        if (ip_full(h, &remote)) {
            BM__P2P_INC(h, handshakes[BM_P2P_HS_IP_LIMIT]);
            close(fd);
            continue;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)bm__p2p_conn_new(h, fd, true, &remote);
    }
}

void bm__p2p_host_due(struct bm_p2p_host *h, uint64_t at_ms)
{
    if (at_ms < h->next_tick_ms) {
        h->next_tick_ms = at_ms;
    }
}

/* Deadline work: every connection's (upgrade, keepalive, streams) and the
 * redials due; then the earliest deadline left is when to come back. */
static void tick(struct bm_p2p_host *h)
{
    struct bm__p2p_conn *c = h->conns;
    uint64_t next = BM__P2P_NEVER;

    /* Deadlines set while this runs lower it again (bm__p2p_host_due). */
    h->next_tick_ms = BM__P2P_NEVER;
    h->last_tick_ms = h->now_ms;
    while (c != NULL) {
        struct bm__p2p_conn *cn = c->next;
        uint64_t due = bm__p2p_conn_tick(c, h->now_ms);

        next = due < next ? due : next;
        c = cn;
    }
    for (size_t i = 0; i < h->n_seeds && !h->stop_requested; i++) {
        struct bm__p2p_seed *sd = &h->seeds[i];

        if (sd->dialing || bm_p2p_host_connected_loop(h, &sd->addr.peer)) {
            continue; /* a connection's deadline or a disconnect wakes us */
        }
        if (h->now_ms >= sd->next_ms) {
            seed_dial(h, i);
        } else if (sd->next_ms < next) {
            next = sd->next_ms;
        }
    }
    bm__p2p_host_due(h, next);
}

/* How long epoll_wait may sleep: until the earliest timer or deadline
 * (deadlines at most every BM__P2P_TICK_MIN_MS), or for ever. */
static int loop_timeout(const struct bm_p2p_host *h)
{
    uint64_t wake = h->next_tick_ms;

    if (h->dirty != NULL || h->closing != NULL) {
        return 0;
    }
    if (wake != BM__P2P_NEVER &&
        wake < h->last_tick_ms + BM__P2P_TICK_MIN_MS) {
        wake = h->last_tick_ms + BM__P2P_TICK_MIN_MS;
    }
    if (h->n_timers > 0 && h->timers[0].due_ms < wake) {
        wake = h->timers[0].due_ms;
    }
    if (wake == BM__P2P_NEVER) {
        return -1;
    }
    if (wake <= h->now_ms) {
        return 0;
    }
    return wake - h->now_ms > 3600000u ? 3600000 : (int)(wake - h->now_ms);
}

/* Flushes dirty connections and runs deferred on_close callbacks until
 * both settle (bounded), then frees dead connections. */
static void end_of_turn(struct bm_p2p_host *h)
{
    struct bm__p2p_conn **pp;

    for (int round = 0; round < 8 && (h->dirty != NULL ||
                                      h->closing != NULL);
         round++) {
        struct bm__p2p_conn *list;

        bm__p2p_streams_reap(h);
        list = h->dirty;
        h->dirty = NULL;
        while (list != NULL) {
            struct bm__p2p_conn *c = list;

            list = c->dnext;
            c->dirty = false;
            if (c->state == BM__CS_CLOSED) {
                continue;
            }
            bm__p2p_conn_flush(c);
            if (c->state == BM__CS_OPEN) {
                bm__p2p_streams_writable(c);
            }
        }
    }
    bm__p2p_streams_reap(h);
    /* Dead connections may still sit on the dirty list: drop them. */
    pp = &h->dirty;
    while (*pp != NULL) {
        if ((*pp)->state == BM__CS_CLOSED) {
            (*pp)->dirty = false;
            *pp = (*pp)->dnext;
        } else {
            pp = &(*pp)->dnext;
        }
    }
    while (h->dead != NULL) {
        struct bm__p2p_conn *c = h->dead;

        h->dead = c->xnext;
        bm__p2p_conn_free(c);
    }
}

static void *loop_main(void *arg)
{
    struct bm_p2p_host *h = arg;
    struct epoll_event evs[64];

    (void)pthread_setname_np(pthread_self(), "bm-p2p");
    h->next_tick_ms = h->now_ms; /* redial the configured peers at once */
    while (!h->stop_requested) {
        int n = epoll_wait(h->epfd, evs, 64, loop_timeout(h));

        BM__P2P_INC(h, loop_wakeups);
        h->now_ms = mono_ms();
        for (int i = 0; i < n; i++) {
            struct bm__p2p_io *io = evs[i].data.ptr;

            if (io->kind == BM__P2P_IO_WAKE) {
                run_commands(h);
            } else if (io->kind == BM__P2P_IO_LISTEN) {
                accept_all(h, (struct bm__p2p_listen *)(void *)io);
            } else {
                bm__p2p_conn_event((struct bm__p2p_conn *)(void *)io,
                                   evs[i].events);
            }
        }
        if (h->now_ms >= h->next_tick_ms &&
            h->now_ms >= h->last_tick_ms + BM__P2P_TICK_MIN_MS) {
            tick(h);
        }
        run_timers(h);
        end_of_turn(h);
    }
    /* Shutdown: close everything, run what is left. */
    while (h->conns != NULL) {
        bm__p2p_conn_close(h->conns, BM_P2P_DC_LOCAL);
    }
    end_of_turn(h);
    run_commands(h);
    end_of_turn(h);
    bm__p2p_host_snapshot(h);
    return NULL;
}

int bm_p2p_host_start(struct bm_p2p_host *h)
{
    uint64_t now = mono_ms();

    if (h->started) {
        return BM_ESTATE;
    }
    /* Timers added before the start count from now: shifting them all
     * keeps the heap's order. */
    for (size_t i = 0; i < h->n_timers; i++) {
        h->timers[i].due_ms = add_ms(h->timers[i].due_ms, now - h->now_ms);
    }
    h->now_ms = now;
    atomic_store(&h->running, true);
    if (pthread_create(&h->thread, NULL, loop_main, h) != 0) {
        atomic_store(&h->running, false);
        return BM_ESYS;
    }
    h->started = true;
    for (size_t i = 0; i < h->n_listen; i++) {
        char text[BM_MULTIADDR_STR_SIZE];
        char id[BM_PEER_ID_STR_SIZE];

        bm_multiaddr_format(&h->listen[i].addr, text);
        bm_peer_id_format(&h->self, id);
        bm_log_info("p2p", "listening addr=%s/p2p/%s", text, id);
    }
    return BM_OK;
}

int bm_p2p_host_stop(struct bm_p2p_host *h)
{
    struct bm__p2p_cmd cmd;

    if (!h->started) {
        return BM_OK;
    }
    if (pthread_equal(pthread_self(), h->thread)) {
        return BM_EINVAL;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = BM__CMD_STOP;
    (void)push(h, &cmd, true);
    pthread_join(h->thread, NULL);
    h->started = false;
    return BM_OK;
}

void bm_p2p_host_free(struct bm_p2p_host *h)
{
    if (h == NULL) {
        return;
    }
    (void)bm_p2p_host_stop(h);
    /* Commands never run (host never started): release their payloads. */
    for (size_t i = 0; i < h->cmd_len; i++) {
        bm_buf_release(&h->cmds[(h->cmd_head + i) % h->cmd_cap].data);
    }
    for (size_t i = 0; i < h->n_listen; i++) {
        close(h->listen[i].fd);
    }
    if (h->epfd >= 0) {
        close(h->epfd);
    }
    if (h->evfd >= 0) {
        close(h->evfd);
    }
    bm__p2p_builtin_release(h);
    bm_free(h->cmds);
    bm_free(h->timers);
    bm_free(h->protos);
    bm_free(h->proto_names);
    bm_free(h->snap);
    bm_free(h->blocked);
    bm_free(h->allowed);
    pthread_mutex_destroy(&h->cmd_mu);
    pthread_mutex_destroy(&h->snap_mu);
    sodium_memzero(&h->identity, sizeof(h->identity));
    sodium_memzero(h->static_key, sizeof(h->static_key));
    bm_free(h);
}
