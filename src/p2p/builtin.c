/*
 * The protocols every host serves: identify (`/ipfs/id/1.0.0`, both roles:
 * we answer and FIN, spec 6.2, and identify every new connection
 * ourselves) and ping (`/ipfs/ping/1.0.0`, both roles, spec 7).
 */
#include "p2p/host_internal.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include "p2p/varint.h"
#include "util/alloc.h"
#include "util/log.h"

/* ------------------------------------------------------------ addresses */

static int add_addr(struct bm_p2p_host *h, const struct bm_multiaddr *ma)
{
    uint8_t bin[BM_MULTIADDR_BIN_MAX];
    size_t n = bm_multiaddr_encode(ma, bin);
    struct bm_buf *na;

    for (size_t i = 0; i < h->n_id_addrs; i++) {
        if (bm_buf_eq_raw(&h->id_addrs[i], bin, n)) {
            return BM_OK;
        }
    }
    if (h->n_id_addrs >= 32) {
        return BM_OK; /* plenty for identify's 4 KiB */
    }
    na = bm_realloc(h->id_addrs, (h->n_id_addrs + 1) * sizeof(*na));
    if (na == NULL) {
        return BM_ENOMEM;
    }
    h->id_addrs = na;
    memset(&na[h->n_id_addrs], 0, sizeof(na[0]));
    if (bm_buf_set(&na[h->n_id_addrs], bin, n) != BM_OK) {
        return BM_ENOMEM;
    }
    h->n_id_addrs++;
    return BM_OK;
}

static bool is_wildcard(const struct bm_multiaddr *ma)
{
    static const uint8_t zero[16] = {0};

    return memcmp(ma->ip, zero, ma->family == 4 ? 4 : 16) == 0;
}

/* Concrete addresses of a wildcard listener (spec 6.1: Go stores what we
 * list in its peerstore). Loopback is listed too: peers on this host. */
static int expand_wildcard(struct bm_p2p_host *h,
                           const struct bm_multiaddr *ma)
{
    struct ifaddrs *ifs = NULL;
    int err = BM_OK;

    if (getifaddrs(&ifs) != 0) {
        return add_addr(h, ma);
    }
    for (struct ifaddrs *i = ifs; i != NULL && err == BM_OK; i = i->ifa_next) {
        struct bm_multiaddr a;
        socklen_t len;

        if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP)) {
            continue;
        }
        if (ma->family == 4 && i->ifa_addr->sa_family == AF_INET) {
            len = sizeof(struct sockaddr_in);
        } else if (ma->family == 6 && i->ifa_addr->sa_family == AF_INET6) {
            const struct sockaddr_in6 *s6 =
                (const struct sockaddr_in6 *)(const void *)i->ifa_addr;

            if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr)) {
                continue; /* needs a zone; not dialable as a multiaddr */
            }
            len = sizeof(struct sockaddr_in6);
        } else {
            continue;
        }
        if (bm_multiaddr_from_sockaddr(&a, i->ifa_addr, len) != BM_OK) {
            continue;
        }
        a.has_port = true;
        a.port = ma->port;
        err = add_addr(h, &a);
    }
    freeifaddrs(ifs);
    return err;
}

int bm__p2p_builtin_init(struct bm_p2p_host *h)
{
    int err = BM_OK;

    for (size_t i = 0; i < h->n_listen && err == BM_OK; i++) {
        const struct bm_multiaddr *ma = &h->listen[i].addr;

        err = is_wildcard(ma) ? expand_wildcard(h, ma) : add_addr(h, ma);
    }
    return err;
}

void bm__p2p_builtin_release(struct bm_p2p_host *h)
{
    for (size_t i = 0; i < h->n_id_addrs; i++) {
        bm_buf_release(&h->id_addrs[i]);
    }
    bm_free(h->id_addrs);
    h->id_addrs = NULL;
    h->n_id_addrs = 0;
}

/* ------------------------------------------------------------ identify */

/* One length-delimited protobuf field of len bytes. */
static size_t field_size(size_t len)
{
    return 1 + bm_varint_size(len) + len;
}

bool bm__p2p_identify_fits(const struct bm_p2p_host *h, size_t n_protos,
                           size_t name_bytes)
{
    size_t total = field_size(36) + field_size(BM_MULTIADDR_BIN_MAX) +
                   field_size(strlen(BM_IDENTIFY_PROTOCOL_VERSION)) +
                   field_size(strlen(h->agent));

    for (size_t i = 0; i < h->n_id_addrs; i++) {
        total += field_size(h->id_addrs[i].len);
    }
    /* Each name is 1..255 bytes: a 1- or 2-byte length. */
    total += name_bytes + n_protos * 3;
    return total <= BM_IDENTIFY_SEND_MAX;
}

/* Our Identify for connection c (observedAddr = c's remote address). */
static int identify_message(struct bm__p2p_conn *c, struct bm_buf *out)
{
    struct bm_p2p_host *h = c->h;
    struct bm_identify id;
    uint8_t pk[36] = {0x08, 0x01, 0x12, 0x20};
    uint8_t obs[BM_MULTIADDR_BIN_MAX];
    char **protos = bm_calloc(h->n_protos ? h->n_protos : 1,
                              sizeof(*protos));
    int err;

    if (protos == NULL) {
        return BM_ENOMEM;
    }
    memcpy(pk + 4, bm_peer_id_key(&h->self), BM_PUBKEY_SIZE);
    memset(&id, 0, sizeof(id));
    id.public_key.ptr = pk;
    id.public_key.len = sizeof(pk);
    id.listen_addrs = h->id_addrs;
    id.n_listen_addrs = h->n_id_addrs;
    for (size_t i = 0; i < h->n_protos; i++) {
        protos[i] = h->protos[i].name;
    }
    id.protocols = protos;
    id.n_protocols = h->n_protos;
    id.observed_addr.ptr = obs;
    id.observed_addr.len = bm_multiaddr_encode(&c->remote, obs);
    id.protocol_version = (char *)BM_IDENTIFY_PROTOCOL_VERSION;
    id.agent_version = h->agent;
    err = bm_identify_encode(&id, out);
    /* id borrows everything else. */
    bm_free(protos);
    return err;
}

static void id_server_open(struct bm_p2p_stream *s, void *arg)
{
    struct bm_buf msg = {0};

    (void)arg;
    bm__p2p_stream_deadline(s, s->c->h->cfg.identify_ms, BM_ETIMEDOUT);
    if (identify_message(s->c, &msg) != BM_OK) {
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_NONE);
        return;
    }
    (void)bm_p2p_stream_write(s, msg.ptr, msg.len);
    (void)bm_p2p_stream_close(s); /* the FIN Go waits for (spec 6.2) */
    bm_buf_release(&msg);
}

static void id_server_data(struct bm_p2p_stream *s, const uint8_t *p,
                           size_t n, void *arg)
{
    (void)s;
    (void)p;
    (void)n;
    (void)arg; /* a client sends nothing; ignore it */
}

static void id_server_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)s;
    (void)reason;
    (void)arg;
}

static const struct bm_p2p_handler id_server = {
    .on_open = id_server_open,
    .on_data = id_server_data,
    .on_close = id_server_close,
};

/* One identify we run as client. */
struct id_client {
    struct bm_identify_reader r;
    bm_p2p_identify_cb *cb;      /* NULL: only the listeners */
    void *arg;
    bool listeners;              /* tell the host's listeners */
    bool done;
};

static void id_client_finish(struct bm_p2p_stream *s, struct id_client *ic,
                             int err, const struct bm_identify *id)
{
    struct bm_p2p_host *h = s->c->h;

    if (ic->done) {
        return;
    }
    ic->done = true;
    if (err == BM_OK && ic->listeners) {
        struct bm_p2p_conn_id cid = {s->c->serial};

        for (size_t i = 0; i < h->n_listeners; i++) {
            const struct bm_p2p_listener *l = h->listeners[i].l;

            if (l->on_identified != NULL) {
                l->on_identified(h, cid, &s->c->peer, id,
                                 h->listeners[i].arg);
            }
        }
    }
    if (ic->cb != NULL) {
        ic->cb(h, err, err == BM_OK ? id : NULL, ic->arg);
    }
}

static void id_client_data(struct bm_p2p_stream *s, const uint8_t *p,
                           size_t n, void *arg)
{
    struct id_client *ic = arg;
    int err = bm_identify_reader_feed(&ic->r, p, n);

    if (err != BM_OK) {
        bm_log_info("p2p", "bad identify from peer=%s err=%s", s->c->peer_str,
                    bm_err_name(err));
        id_client_finish(s, ic, err, NULL);
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_PROTOCOL);
    }
}

static void id_client_eof(struct bm_p2p_stream *s, void *arg)
{
    struct id_client *ic = arg;
    struct bm_identify id;
    int err;

    memset(&id, 0, sizeof(id));
    err = bm_identify_reader_finish(&ic->r, &id);
    if (err == BM_OK && id.public_key.len > 0) {
        uint8_t pub[BM_PUBKEY_SIZE];

        /* The key identify claims must be the one Noise proved. */
        if (bm_peer_id_pubkey_decode(id.public_key.ptr, id.public_key.len,
                                     pub, NULL) != BM_OK ||
            memcmp(pub, bm_peer_id_key(&s->c->peer), BM_PUBKEY_SIZE) != 0) {
            err = BM_EPEER_MISMATCH;
        }
    }
    if (err != BM_OK) {
        bm_log_info("p2p", "identify failed peer=%s err=%s", s->c->peer_str,
                    bm_err_name(err));
    }
    id_client_finish(s, ic, err, &id);
    bm_identify_release(&id);
    (void)bm_p2p_stream_close(s);
}

static void id_client_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct id_client *ic = arg;

    id_client_finish(s, ic, reason == BM_OK ? BM_EPROTO : reason, NULL);
    bm_identify_reader_release(&ic->r);
    bm_free(ic);
}

/* Half-closes our side: identify's client once negotiated (it sends
 * nothing; not behind the proposal, which js-libp2p's responder
 * mishandles), and both ping roles at the peer's EOF. */
static void close_side(struct bm_p2p_stream *s, void *arg)
{
    (void)arg;
    (void)bm_p2p_stream_close(s);
}

static const struct bm_p2p_handler id_client = {
    .on_open = close_side,
    .on_data = id_client_data,
    .on_eof = id_client_eof,
    .on_close = id_client_close,
};

static int identify_conn(struct bm__p2p_conn *c, bool listeners,
                         bm_p2p_identify_cb *cb, void *arg)
{
    struct id_client *ic = bm_calloc(1, sizeof(*ic));
    struct bm_p2p_stream *s;
    int err;

    if (ic == NULL) {
        return BM_ENOMEM;
    }
    ic->cb = cb;
    ic->arg = arg;
    ic->listeners = listeners;
    err = bm__p2p_stream_open(c, BM_IDENTIFY_PROTOCOL, &id_client, ic, &s);
    if (err != BM_OK) {
        bm_free(ic);
        return err;
    }
    bm__p2p_stream_deadline(s, c->h->cfg.identify_ms, BM_ETIMEDOUT);
    return BM_OK;
}

void bm__p2p_builtin_connected(struct bm__p2p_conn *c)
{
    int err = identify_conn(c, true, NULL, NULL);

    if (err != BM_OK) {
        bm_log_info("p2p", "cannot identify peer=%s err=%s", c->peer_str,
                    bm_err_name(err));
    }
}

static struct bm__p2p_conn *oldest_open(struct bm_p2p_host *h,
                                        const struct bm_peer_id *peer)
{
    struct bm__p2p_conn *best = NULL;

    for (struct bm__p2p_conn *c = h->conns; c != NULL; c = c->next) {
        if (c->state == BM__CS_OPEN && bm_peer_id_eq(&c->peer, peer) &&
            (best == NULL || c->serial < best->serial)) {
            best = c;
        }
    }
    return best;
}

int bm_p2p_host_identify_loop(struct bm_p2p_host *h,
                              const struct bm_peer_id *peer,
                              bm_p2p_identify_cb *cb, void *arg)
{
    struct bm__p2p_conn *c = oldest_open(h, peer);

    if (c == NULL) {
        return BM_ENOTFOUND;
    }
    return identify_conn(c, false, cb, arg);
}

int bm_p2p_host_open_stream_loop(struct bm_p2p_host *h,
                                 const struct bm_peer_id *peer,
                                 const char *protocol,
                                 const struct bm_p2p_handler *handler,
                                 void *arg, struct bm_p2p_stream **out)
{
    struct bm__p2p_conn *c;

    *out = NULL;
    if (protocol == NULL || protocol[0] == '\0' || handler == NULL ||
        handler->on_close == NULL ||
        strlen(protocol) > BM_MULTISTREAM_PROTO_MAX) {
        return BM_EINVAL;
    }
    c = oldest_open(h, peer);
    if (c == NULL) {
        return BM_ENOTFOUND;
    }
    return bm__p2p_stream_open(c, protocol, handler, arg, out);
}

/* ------------------------------------------------------------ ping */

static void ping_server_open(struct bm_p2p_stream *s, void *arg)
{
    (void)arg;
    bm__p2p_stream_deadline(s, BM_PING_LIFETIME_MS, BM_ETIMEDOUT);
}

static void ping_server_data(struct bm_p2p_stream *s, const uint8_t *p,
                             size_t n, void *arg)
{
    (void)arg;
    /* Echo as the bytes come: the same bytes as Go's 32-byte rounds. */
    if (bm_p2p_stream_write(s, p, n) != BM_OK) {
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_LIMIT);
    }
}

static const struct bm_p2p_handler ping_server = {
    .on_open = ping_server_open,
    .on_data = ping_server_data,
    .on_eof = close_side,
    .on_close = id_server_close,
};

#define PING_MAX_COUNT 100u

struct ping_client {
    struct bm_ping p;
    unsigned count;
    unsigned done;
    uint64_t rtt[PING_MAX_COUNT];
    bm_p2p_ping_cb *cb;
    void *arg;
    bool finished;
};

static uint64_t now_ns(void)
{
    return bm_actor_now_ns();
}

static void ping_round(struct bm_p2p_stream *s, struct ping_client *pc)
{
    uint8_t out[BM_PING_SIZE];

    bm_ping_start(&pc->p, now_ns(), out);
    bm__p2p_stream_deadline(s, BM_PING_ROUND_MS, BM_ETIMEDOUT);
    if (bm_p2p_stream_write(s, out, sizeof(out)) != BM_OK) {
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_NONE);
    }
}

static void ping_client_open(struct bm_p2p_stream *s, void *arg)
{
    ping_round(s, arg);
}

static void ping_client_data(struct bm_p2p_stream *s, const uint8_t *p,
                             size_t n, void *arg)
{
    struct ping_client *pc = arg;

    while (n > 0 && !pc->finished) {
        size_t used = 0;
        uint64_t rtt = 0;
        int r = bm_ping_feed(&pc->p, p, n, &used, now_ns(), &rtt);

        p += used;
        n -= used;
        if (r < 0) {
            pc->finished = true;
            pc->cb(s->c->h, r, NULL, 0, pc->arg);
            bm_p2p_stream_reset(s, BM_YAMUX_RESET_PROTOCOL);
            return;
        }
        if (r == 0) {
            return;
        }
        pc->rtt[pc->done++] = rtt;
        if (pc->done == pc->count) {
            pc->finished = true;
            bm__p2p_stream_deadline(s, 0, BM_OK);
            pc->cb(s->c->h, BM_OK, pc->rtt, pc->done, pc->arg);
            (void)bm_p2p_stream_close(s);
            return;
        }
        ping_round(s, pc);
    }
}

static void ping_client_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct ping_client *pc = arg;

    if (!pc->finished) {
        pc->cb(s->c->h, reason == BM_OK ? BM_EPROTO : reason, NULL, 0,
               pc->arg);
    }
    bm_free(pc);
}

static const struct bm_p2p_handler ping_client = {
    .on_open = ping_client_open,
    .on_data = ping_client_data,
    .on_eof = close_side,
    .on_close = ping_client_close,
};

int bm_p2p_host_ping_loop(struct bm_p2p_host *h,
                          const struct bm_peer_id *peer, unsigned count,
                          bm_p2p_ping_cb *cb, void *arg)
{
    struct ping_client *pc;
    struct bm_p2p_stream *s;
    int err;

    if (count == 0 || count > PING_MAX_COUNT || cb == NULL) {
        return BM_EINVAL;
    }
    pc = bm_calloc(1, sizeof(*pc));
    if (pc == NULL) {
        return BM_ENOMEM;
    }
    pc->count = count;
    pc->cb = cb;
    pc->arg = arg;
    err = bm_p2p_host_open_stream_loop(h, peer, BM_PING_PROTOCOL,
                                       &ping_client, pc, &s);
    if (err != BM_OK) {
        bm_free(pc);
    }
    return err;
}

/* ------------------------------------------------------------ registry */

int bm__p2p_builtin_register(struct bm_p2p_host *h)
{
    int err = bm_p2p_host_register(h, BM_IDENTIFY_PROTOCOL, &id_server, NULL);

    if (err == BM_OK) {
        err = bm_p2p_host_register(h, BM_PING_PROTOCOL, &ping_server, NULL);
    }
    return err;
}
