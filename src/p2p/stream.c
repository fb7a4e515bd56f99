/*
 * Streams: multistream negotiation on each yamux stream, dispatch to the
 * registry's handlers, the stream API, deferred on_close. See host.h for
 * the contract and host_internal.h for the structures.
 */
#include "p2p/host_internal.h"

#include <string.h>

#include "util/alloc.h"
#include "util/log.h"

static void list_add(struct bm__p2p_conn *c, struct bm_p2p_stream *s)
{
    s->prev = NULL;
    s->next = c->streams;
    if (c->streams != NULL) {
        c->streams->prev = s;
    }
    c->streams = s;
}

/* Unlinks s; its own next pointer is kept so an iteration standing on s
 * can move on (the memory lives until the reap). */
static void list_del(struct bm__p2p_conn *c, struct bm_p2p_stream *s)
{
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else if (c->streams == s) {
        c->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    s->prev = NULL;
}

void bm__p2p_stream_finish(struct bm_p2p_stream *s, int reason)
{
    struct bm__p2p_conn *c = s->c;
    struct bm_p2p_host *h = c->h;

    if (s->state == BM__SS_DONE) {
        return;
    }
    if (s->state == BM__SS_OPEN) {
        BM__P2P_SUB(h, streams_open, 1);
    }
    if (s->ping_server) {
        c->ping_streams--;
        s->ping_server = false;
    }
    s->state = BM__SS_DONE;
    s->close_reason = reason;
    if (c->mux != NULL) {
        (void)bm_yamux_stream_set_user(c->mux, s->sid, NULL);
    }
    list_del(c, s);
    bm_free(s->msbuf);
    s->msbuf = NULL;
    s->cnext = NULL;
    if (h->closing_tail != NULL) {
        h->closing_tail->cnext = s;
    } else {
        h->closing = s;
    }
    h->closing_tail = s;
}

void bm__p2p_streams_reap(struct bm_p2p_host *h)
{
    while (h->closing != NULL) {
        struct bm_p2p_stream *s = h->closing;

        h->closing = s->cnext;
        if (h->closing == NULL) {
            h->closing_tail = NULL;
        }
        if (s->notify && s->handler != NULL && s->handler->on_close != NULL) {
            s->handler->on_close(s, s->close_reason, s->arg);
        }
        bm_free(s);
    }
}

void bm__p2p_streams_end(struct bm__p2p_conn *c, int reason)
{
    while (c->streams != NULL) {
        bm__p2p_stream_finish(c->streams, reason);
    }
}

/* Resets s on the wire (if yamux still knows it) and finishes it. */
static void reset_finish(struct bm_p2p_stream *s, uint32_t code, int reason)
{
    struct bm__p2p_conn *c = s->c;

    if (c->mux != NULL &&
        bm_yamux_stream_reset(c->mux, s->sid, code) == BM_OK) {
        BM__P2P_INC(c->h, stream_resets_sent);
        bm__p2p_conn_dirty(c);
    }
    bm__p2p_stream_finish(s, reason);
}

static void refuse(struct bm_p2p_stream *s, enum bm_p2p_stream_refusal why,
                   uint32_t code)
{
    BM__P2P_INC(s->c->h, streams_refused[why]);
    reset_finish(s, code, BM_EPROTO);
}

/* Negotiation bytes and our multistream replies go straight to yamux
 * (outside the per-peer cap: at most BM_MULTISTREAM_OUT_MAX bytes). */
static void raw_write(struct bm_p2p_stream *s, const uint8_t *p, size_t n)
{
    if (n > 0 && bm_yamux_stream_write(s->c->mux, s->sid, p, n) == BM_OK) {
        bm__p2p_conn_dirty(s->c);
    }
}

static struct bm_p2p_stream *stream_alloc(struct bm__p2p_conn *c,
                                          uint32_t sid, bool inbound)
{
    struct bm_p2p_stream *s = bm_calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->msbuf = bm_malloc(BM_MULTISTREAM_IN_MAX);
    if (s->msbuf == NULL) {
        bm_free(s);
        return NULL;
    }
    s->c = c;
    s->sid = sid;
    s->inbound = inbound;
    s->state = BM__SS_NEGOTIATING;
    s->deadline_ms = c->h->now_ms + c->h->cfg.negotiate_ms;
    s->deadline_reason = BM_ETIMEDOUT;
    bm__p2p_host_due(c->h, s->deadline_ms);
    list_add(c, s);
    (void)bm_yamux_stream_set_user(c->mux, sid, s);
    return s;
}

static void stream_inbound(struct bm__p2p_conn *c, uint32_t sid)
{
    struct bm_p2p_host *h = c->h;
    struct bm_p2p_stream *s = stream_alloc(c, sid, true);
    uint8_t out[BM_MULTISTREAM_OUT_MAX];
    size_t used = 0, written = 0;
    int r;

    if (s == NULL) {
        BM__P2P_INC(h, streams_refused[BM_P2P_SR_LIMIT]);
        if (bm_yamux_stream_reset(c->mux, sid, BM_YAMUX_RESET_LIMIT) ==
            BM_OK) {
            BM__P2P_INC(h, stream_resets_sent);
        }
        return;
    }
    r = bm_multistream_init(&s->ms, BM_MULTISTREAM_RESPONDER, h->proto_names,
                            h->n_protos);
    if (r == BM_OK) {
        r = bm_multistream_feed(&s->ms, NULL, 0, &used, out, sizeof(out),
                                &written, NULL);
    }
    if (r < 0) {
        refuse(s, BM_P2P_SR_NEGOTIATION, BM_YAMUX_RESET_NEGOTIATION);
        return;
    }
    raw_write(s, out, written); /* our header, at once (spec 3.2) */
}

/* Hands p[0..n) to the handler; returns the bytes it keeps uncredited. */
static size_t deliver(struct bm_p2p_stream *s, const uint8_t *p, size_t n)
{
    size_t held = s->manual_credit ? n : 0;

    if (n > 0 && s->handler->on_data != NULL) {
        s->handler->on_data(s, p, n, s->arg);
    }
    return held;
}

/* Negotiation is done: pick the handler, tell it, deliver leftovers. */
static size_t negotiated(struct bm_p2p_stream *s, const uint8_t *rest,
                         size_t n_rest)
{
    struct bm__p2p_conn *c = s->c;
    struct bm_p2p_host *h = c->h;
    uint8_t *left = s->msbuf;
    size_t nleft = s->mslen, held = 0;

    if (s->inbound) {
        int idx = bm_multistream_selected(&s->ms);
        const struct bm__p2p_proto *pr = &h->protos[idx];

        if (strcmp(pr->name, BM_PING_PROTOCOL) == 0) {
            if (c->ping_streams >= BM_PING_STREAMS_MAX) {
                refuse(s, BM_P2P_SR_PING_LIMIT, BM_YAMUX_RESET_LIMIT);
                return 0;
            }
            c->ping_streams++;
            s->ping_server = true;
        }
        s->handler = pr->handler;
        s->arg = pr->arg;
        s->protocol = pr->name;
        s->notify = true;
        (void)bm_yamux_stream_accept(c->mux, s->sid);
        BM__P2P_INC(h, streams_inbound);
    } else {
        BM__P2P_INC(h, streams_outbound);
    }
    s->state = BM__SS_OPEN;
    s->deadline_ms = 0;
    s->msbuf = NULL;
    s->mslen = 0;
    BM__P2P_INC(h, streams_open);
    if (s->handler->on_open != NULL) {
        s->handler->on_open(s, s->arg);
    }
    if (s->state == BM__SS_OPEN && nleft > 0) {
        held += deliver(s, left, nleft);
    }
    bm_free(left);
    if (s->state == BM__SS_OPEN && n_rest > 0) {
        held += deliver(s, rest, n_rest);
    }
    return held;
}

int bm__p2p_ms_input(struct bm_multistream *ms, uint8_t *buf, size_t *len,
                     const uint8_t **p, size_t *n, uint8_t *out,
                     size_t *written)
{
    size_t take = BM_MULTISTREAM_IN_MAX - *len;
    size_t used = 0;
    int r;

    if (take > *n) {
        take = *n;
    }
    memcpy(buf + *len, *p, take);
    *len += take;
    *p += take;
    *n -= take;
    r = bm_multistream_feed(ms, buf, *len, &used, out, BM_MULTISTREAM_OUT_MAX,
                            written, NULL);
    memmove(buf, buf + used, *len - used);
    *len -= used;
    if (r == BM_MULTISTREAM_AGAIN && take == 0 &&
        *len == BM_MULTISTREAM_IN_MAX) {
        r = BM_EPROTO; /* a full buffer and still no line */
    }
    return r;
}

/* Negotiation input; returns the bytes held by a manual-credit handler. */
static size_t negotiate(struct bm_p2p_stream *s, const uint8_t *p, size_t n)
{
    uint8_t out[BM_MULTISTREAM_OUT_MAX];

    while (n > 0 && s->state == BM__SS_NEGOTIATING) {
        size_t written = 0;
        int r = bm__p2p_ms_input(&s->ms, s->msbuf, &s->mslen, &p, &n, out,
                                 &written);

        raw_write(s, out, written);
        if (r < 0) {
            if (s->inbound) {
                refuse(s, BM_P2P_SR_NEGOTIATION, BM_YAMUX_RESET_NEGOTIATION);
            } else {
                reset_finish(s, BM_YAMUX_RESET_NEGOTIATION,
                             r == BM_ENOPROTO ? BM_ENOPROTO : BM_EPROTO);
            }
            return 0;
        }
        if (r == BM_MULTISTREAM_DONE) {
            return negotiated(s, p, n);
        }
    }
    return 0;
}

static void on_data_event(struct bm__p2p_conn *c,
                          const struct bm_yamux_event *ev)
{
    struct bm_p2p_stream *s = ev->user;
    size_t held = 0;

    if (s != NULL && s->state == BM__SS_NEGOTIATING) {
        held = negotiate(s, ev->data, ev->len);
    } else if (s != NULL && s->state == BM__SS_OPEN) {
        held = deliver(s, ev->data, ev->len);
    }
    if (held < ev->len && c->mux != NULL) {
        (void)bm_yamux_stream_consumed(c->mux, ev->sid, ev->len - held);
    }
}

static void on_fin_event(struct bm_p2p_stream *s)
{
    if (s == NULL || s->state == BM__SS_DONE) {
        return;
    }
    s->remote_eof = true;
    if (s->state == BM__SS_NEGOTIATING) {
        if (s->inbound) {
            refuse(s, BM_P2P_SR_NEGOTIATION, BM_YAMUX_RESET_NEGOTIATION);
        } else {
            reset_finish(s, BM_YAMUX_RESET_NEGOTIATION, BM_EPROTO);
        }
        return;
    }
    if (s->handler->on_eof != NULL) {
        s->handler->on_eof(s, s->arg);
    }
    if (s->state == BM__SS_OPEN && s->local_closed) {
        bm__p2p_stream_finish(s, BM_OK);
    }
}

void bm__p2p_stream_event(struct bm__p2p_conn *c,
                          const struct bm_yamux_event *ev)
{
    struct bm_p2p_host *h = c->h;
    struct bm_p2p_stream *s = ev->user;

    switch (ev->type) {
    case BM_YAMUX_EV_OPEN:
        stream_inbound(c, ev->sid);
        break;
    case BM_YAMUX_EV_DATA:
        on_data_event(c, ev);
        break;
    case BM_YAMUX_EV_FIN:
        on_fin_event(s);
        break;
    case BM_YAMUX_EV_RESET:
        BM__P2P_INC(h, stream_resets_received);
        if (s != NULL && s->state != BM__SS_DONE) {
            if (s->state == BM__SS_NEGOTIATING && s->inbound) {
                BM__P2P_INC(h, streams_refused[BM_P2P_SR_NEGOTIATION]);
            }
            bm__p2p_stream_finish(s, BM_ECANCELED);
        }
        break;
    case BM_YAMUX_EV_REFUSED:
        if (ev->code == BM_YAMUX_REFUSED_LIMIT) {
            BM__P2P_INC(h, streams_refused[BM_P2P_SR_LIMIT]);
        } else if (ev->code == BM_YAMUX_REFUSED_BACKLOG) {
            BM__P2P_INC(h, streams_refused[BM_P2P_SR_BACKLOG]);
        } else {
            BM__P2P_INC(h, streams_refused[BM_P2P_SR_GOAWAY]);
        }
        BM__P2P_INC(h, stream_resets_sent);
        break;
    default:
        break; /* ACKED, WINDOW, PING_ACK: nothing to do */
    }
}

int bm__p2p_stream_open(struct bm__p2p_conn *c, const char *protocol,
                        const struct bm_p2p_handler *handler, void *arg,
                        struct bm_p2p_stream **out)
{
    struct bm_p2p_stream *s;
    uint8_t buf[BM_MULTISTREAM_OUT_MAX];
    size_t used = 0, written = 0;
    uint32_t sid;
    int r;

    *out = NULL;
    if (c->state != BM__CS_OPEN) {
        return BM_ENOTFOUND;
    }
    r = bm_yamux_open(c->mux, &sid);
    if (r != BM_OK) {
        return r == BM_ECLOSED ? BM_ENOTFOUND : r;
    }
    s = stream_alloc(c, sid, false);
    if (s == NULL) {
        (void)bm_yamux_stream_reset(c->mux, sid, BM_YAMUX_RESET_LIMIT);
        return BM_ENOMEM;
    }
    s->proposal[0] = protocol;
    s->protocol = protocol;
    s->handler = handler;
    s->arg = arg;
    s->notify = true;
    r = bm_multistream_init(&s->ms, BM_MULTISTREAM_INITIATOR, s->proposal, 1);
    if (r == BM_OK) {
        r = bm_multistream_feed(&s->ms, NULL, 0, &used, buf, sizeof(buf),
                                &written, NULL);
    }
    if (r < 0) {
        s->notify = false; /* the caller gets the error instead */
        reset_finish(s, BM_YAMUX_RESET_NEGOTIATION, r);
        return r == BM_EINVAL ? BM_EINVAL : BM_EPROTO;
    }
    raw_write(s, buf, written);
    *out = s;
    return BM_OK;
}

void bm__p2p_stream_deadline(struct bm_p2p_stream *s, uint64_t ms,
                             int reason)
{
    s->deadline_ms = ms == 0 ? 0 : s->c->h->now_ms + ms;
    s->deadline_reason = reason;
    if (s->deadline_ms != 0) {
        bm__p2p_host_due(s->c->h, s->deadline_ms);
    }
}

uint64_t bm__p2p_streams_tick(struct bm__p2p_conn *c, uint64_t now_ms)
{
    struct bm_p2p_stream *s = c->streams;
    uint64_t next = BM__P2P_NEVER;

    while (s != NULL && c->state == BM__CS_OPEN) {
        struct bm_p2p_stream *sn = s->next;

        if (s->state != BM__SS_DONE && s->deadline_ms != 0) {
            if (now_ms < s->deadline_ms) {
                next = s->deadline_ms < next ? s->deadline_ms : next;
            } else if (s->state == BM__SS_NEGOTIATING && s->inbound) {
                refuse(s, BM_P2P_SR_TIMEOUT, BM_YAMUX_RESET_NONE);
            } else {
                reset_finish(s, BM_YAMUX_RESET_NONE, s->deadline_reason);
            }
        }
        s = sn;
    }
    return next;
}

void bm__p2p_streams_writable(struct bm__p2p_conn *c)
{
    struct bm_p2p_stream *s = c->streams;

    while (s != NULL && c->state == BM__CS_OPEN) {
        struct bm_p2p_stream *next = s->next;

        if (s->want_writable && s->state != BM__SS_DONE &&
            bm_yamux_stream_queued(c->mux, s->sid) <= s->low_water) {
            s->want_writable = false;
            if (s->handler->on_writable != NULL) {
                s->handler->on_writable(s, s->arg);
            }
        }
        s = next;
    }
}

/* ------------------------------------------------------------ stream API */

struct bm_p2p_stream_id bm_p2p_stream_id(const struct bm_p2p_stream *s)
{
    struct bm_p2p_stream_id id = {s->c->serial, s->sid};

    return id;
}

const struct bm_peer_id *bm_p2p_stream_peer(const struct bm_p2p_stream *s)
{
    return &s->c->peer;
}

const char *bm_p2p_stream_protocol(const struct bm_p2p_stream *s)
{
    return s->protocol != NULL ? s->protocol : "";
}

bool bm_p2p_stream_inbound(const struct bm_p2p_stream *s)
{
    return s->inbound;
}

struct bm_p2p_host *bm_p2p_stream_host(const struct bm_p2p_stream *s)
{
    return s->c->h;
}

void bm_p2p_stream_set_user(struct bm_p2p_stream *s, void *user)
{
    s->user = user;
}

void *bm_p2p_stream_user(const struct bm_p2p_stream *s)
{
    return s->user;
}

int bm_p2p_stream_write(struct bm_p2p_stream *s, const uint8_t *p, size_t n)
{
    struct bm__p2p_conn *c = s->c;
    int r;

    if (s->state == BM__SS_DONE || s->local_closed ||
        c->state != BM__CS_OPEN) {
        return BM_ECLOSED;
    }
    if (n == 0) {
        return BM_OK;
    }
    if (bm_yamux_queued_total(c->mux) + n > c->h->cfg.max_peer_queue) {
        return BM_EFULL;
    }
    r = bm_yamux_stream_write(c->mux, s->sid, p, n);
    if (r == BM_ENOTFOUND) {
        return BM_ECLOSED;
    }
    if (r == BM_OK) {
        bm__p2p_conn_dirty(c);
    }
    return r;
}

size_t bm_p2p_stream_queued(const struct bm_p2p_stream *s)
{
    if (s->state == BM__SS_DONE || s->c->mux == NULL) {
        return 0;
    }
    return bm_yamux_stream_queued(s->c->mux, s->sid);
}

void bm_p2p_stream_want_writable(struct bm_p2p_stream *s, size_t low_water)
{
    if (s->state == BM__SS_DONE) {
        return;
    }
    s->want_writable = true;
    s->low_water = low_water;
    bm__p2p_conn_dirty(s->c);
}

int bm_p2p_stream_close(struct bm_p2p_stream *s)
{
    struct bm__p2p_conn *c = s->c;

    if (s->state == BM__SS_DONE || s->local_closed) {
        return BM_ECLOSED;
    }
    s->local_closed = true;
    (void)bm_yamux_stream_close(c->mux, s->sid);
    bm__p2p_conn_dirty(c);
    if (s->remote_eof && s->state == BM__SS_OPEN) {
        bm__p2p_stream_finish(s, BM_OK);
    }
    return BM_OK;
}

void bm_p2p_stream_reset(struct bm_p2p_stream *s, uint32_t code)
{
    if (s->state == BM__SS_DONE) {
        return;
    }
    reset_finish(s, code, BM_ESTOPPED);
}

void bm_p2p_stream_manual_credit(struct bm_p2p_stream *s, bool on)
{
    s->manual_credit = on;
}

void bm_p2p_stream_credit(struct bm_p2p_stream *s, size_t n)
{
    if (s->state == BM__SS_DONE || s->c->mux == NULL || n == 0) {
        return;
    }
    if (bm_yamux_stream_consumed(s->c->mux, s->sid, n) == BM_OK &&
        bm_yamux_has_output(s->c->mux)) {
        bm__p2p_conn_dirty(s->c);
    }
}

void bm_p2p_stream_set_deadline(struct bm_p2p_stream *s, uint64_t ms)
{
    if (s->state != BM__SS_DONE) {
        bm__p2p_stream_deadline(s, ms, BM_ETIMEDOUT);
    }
}
