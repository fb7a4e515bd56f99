/*
 * go-header exchange on the host: server, single requests, head from
 * several peers, range sessions. See headerex.h for the rules and
 * docs/P2P-GOSSIP.md. Everything runs on the host's loop thread except
 * the any-thread wrappers at the end (which only post) and the stats.
 */
#include "p2p/headerex.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "p2p/frame_reader.h"
#include "p2p/varint.h"
#include "p2p/yamux.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

/* Server pacing: stop producing replies above HIGH bytes queued on the
 * stream, resume at LOW. */
#define SRV_HIGH ((size_t)1 << 20)
#define SRV_LOW ((size_t)256 << 10)
#define PROTO_SUFFIX "/header-ex/v0.0.3"

static const char *const reset_names[BM_HEADEREX_RST_COUNT] = {
    "bad_request", "no_data", "range", "too_many", "source", "overload",
};

const char *bm_headerex_reset_name(enum bm_headerex_reset r)
{
    return (unsigned)r < BM_HEADEREX_RST_COUNT ? reset_names[r] : "unknown";
}

struct hx_counters {
    atomic_uint_fast64_t served_heads;
    atomic_uint_fast64_t served_ranges;
    atomic_uint_fast64_t served_partial;
    atomic_uint_fast64_t served_hashes;
    atomic_uint_fast64_t served_not_found;
    atomic_uint_fast64_t served_items;
    atomic_uint_fast64_t served_timeouts;
    atomic_uint_fast64_t served_resets[BM_HEADEREX_RST_COUNT];
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t requests_ok;
    atomic_uint_fast64_t requests_not_found;
    atomic_uint_fast64_t requests_timeout;
    atomic_uint_fast64_t requests_failed;
    atomic_uint_fast64_t bad_replies;
    atomic_uint_fast64_t items_received;
    atomic_uint_fast64_t peers_blocked;
};

#define INC(x, f) atomic_fetch_add_explicit(&(x)->cnt.f, 1, memory_order_relaxed)
#define ADD(x, f, v)                                                           \
    atomic_fetch_add_explicit(&(x)->cnt.f, (v), memory_order_relaxed)

struct bm_headerex {
    struct bm_p2p_host *h;
    struct bm_headerex_config cfg;
    char network[BM_HEADEREX_NETWORK_MAX + 1];
    char protocol[BM_HEADEREX_NETWORK_MAX + sizeof(PROTO_SUFFIX) + 2];
    struct hx_counters cnt;
};

static uint64_t now_ms(const struct bm_headerex *x)
{
    return bm_p2p_host_now_ms(x->h);
}

void bm_headerex_result_release(struct bm_headerex_result *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n_items; i++) {
        bm_buf_release(&r->items[i].bytes);
    }
    bm_free(r->items);
    r->items = NULL;
    r->n_items = 0;
}

/* ================================================================ server */

struct srv {
    struct bm_headerex *x;
    struct bm_p2p_stream *s;
    struct bm_frame_reader rx;
    bool answered;
    bool writing;            /* a range in progress */
    bool partial;
    uint64_t next;           /* next height to write */
    uint64_t last;           /* last height to write */
    uint64_t first;
};

static void srv_reset(struct bm_p2p_stream *s, struct srv *sv,
                      enum bm_headerex_reset why)
{
    INC(sv->x, served_resets[why]);
    sv->answered = true;
    sv->writing = false;
    bm_p2p_stream_reset(s, BM_YAMUX_RESET_NONE);
}

/* Writes one framed reply; false (stream reset) if it could not. */
static bool srv_write(struct bm_p2p_stream *s, struct srv *sv,
                      const uint8_t *body, size_t len, uint64_t status)
{
    size_t size = bm_headerex_response_size(len, status);
    uint8_t *buf;
    int err;

    if (size == 0 || size > sv->x->cfg.max_msg + BM_VARINT_MAX_LEN) {
        srv_reset(s, sv, BM_HEADEREX_RST_SOURCE); /* an item too large */
        return false;
    }
    buf = bm_malloc(size);
    if (buf == NULL) {
        srv_reset(s, sv, BM_HEADEREX_RST_OVERLOAD);
        return false;
    }
    (void)bm_headerex_response_put(body, len, status, buf);
    err = bm_p2p_stream_write(s, buf, size);
    bm_free(buf);
    if (err != BM_OK) {
        srv_reset(s, sv, BM_HEADEREX_RST_OVERLOAD);
        return false;
    }
    return true;
}

static void srv_not_found(struct bm_p2p_stream *s, struct srv *sv)
{
    static const uint8_t nf[] = {0x02, 0x10, 0x02};

    INC(sv->x, served_not_found);
    if (bm_p2p_stream_write(s, nf, sizeof(nf)) != BM_OK) {
        srv_reset(s, sv, BM_HEADEREX_RST_OVERLOAD);
        return;
    }
    (void)bm_p2p_stream_close(s);
}

/* One item by height as the only reply (head). */
static void srv_one(struct bm_p2p_stream *s, struct srv *sv, int err,
                    struct bm_buf *item, atomic_uint_fast64_t *ok_counter)
{
    if (err == BM_ENOTFOUND) {
        srv_not_found(s, sv);
    } else if (err != BM_OK) {
        srv_reset(s, sv, BM_HEADEREX_RST_SOURCE);
    } else if (srv_write(s, sv, item->ptr, item->len,
                         BM_HEADEREX_STATUS_OK)) {
        atomic_fetch_add_explicit(ok_counter, 1, memory_order_relaxed);
        INC(sv->x, served_items);
        (void)bm_p2p_stream_close(s);
    }
    bm_buf_release(item);
}

/* Writes range replies until done or the stream's queue is high. */
static void srv_pump(struct bm_p2p_stream *s, struct srv *sv)
{
    const struct bm_headerex_source *src = sv->x->cfg.source;

    while (sv->writing && sv->next <= sv->last) {
        struct bm_buf item = {NULL, 0};
        int err;

        if (bm_p2p_stream_queued(s) > SRV_HIGH) {
            bm_p2p_stream_want_writable(s, SRV_LOW);
            return;
        }
        err = src->get_by_height(sv->x->cfg.source_arg, sv->next, &item);
        if (err == BM_ENOTFOUND && sv->next == sv->first) {
            bm_buf_release(&item);
            sv->writing = false;
            srv_not_found(s, sv);
            return;
        }
        if (err == BM_ENOTFOUND) {
            /* A gap after some replies: end the range there. */
            bm_buf_release(&item);
            sv->partial = true;
            break;
        }
        if (err != BM_OK) {
            bm_buf_release(&item);
            srv_reset(s, sv, BM_HEADEREX_RST_SOURCE);
            return;
        }
        if (!srv_write(s, sv, item.ptr, item.len, BM_HEADEREX_STATUS_OK)) {
            bm_buf_release(&item);
            return;
        }
        bm_buf_release(&item);
        INC(sv->x, served_items);
        sv->next++;
    }
    if (sv->writing) {
        sv->writing = false;
        INC(sv->x, served_ranges);
        if (sv->partial) {
            INC(sv->x, served_partial);
        }
        (void)bm_p2p_stream_close(s);
    }
}

/* The decision table of spec 10.2, in order. */
static void srv_answer(struct bm_p2p_stream *s, struct srv *sv,
                       const struct bm_headerex_request *rq)
{
    struct bm_headerex *x = sv->x;
    const struct bm_headerex_source *src = x->cfg.source;
    void *sa = x->cfg.source_arg;
    struct bm_buf item = {NULL, 0};
    uint64_t head, o = rq->origin, a = rq->amount;
    int err;

    sv->answered = true;
    bm_p2p_stream_set_deadline(s, x->cfg.write_ms);
    if (!rq->has_origin && !rq->has_hash) {
        srv_reset(s, sv, BM_HEADEREX_RST_NO_DATA);
        return;
    }
    if (rq->has_hash) {
        err = src->get_by_hash != NULL
                  ? src->get_by_hash(sa, rq->hash, rq->hash_len, &item)
                  : BM_ENOTFOUND;
        srv_one(s, sv, err, &item, &x->cnt.served_hashes);
        return;
    }
    if (a == 0 || o + a <= o) {
        srv_reset(s, sv, BM_HEADEREX_RST_RANGE);
        return;
    }
    if (o == 0) {
        err = src->head_height(sa, &head);
        if (err == BM_OK) {
            err = src->get_by_height(sa, head, &item);
        }
        srv_one(s, sv, err, &item, &x->cnt.served_heads);
        return;
    }
    if (a > BM_HEADEREX_MAX_RANGE) {
        srv_reset(s, sv, BM_HEADEREX_RST_TOO_MANY);
        return;
    }
    err = src->head_height(sa, &head);
    if (err == BM_ENOTFOUND || (err == BM_OK && o > head)) {
        srv_not_found(s, sv);
        return;
    }
    if (err != BM_OK) {
        srv_reset(s, sv, BM_HEADEREX_RST_SOURCE);
        return;
    }
    sv->first = o;
    sv->next = o;
    sv->last = o + a - 1;
    if (sv->last > head) {
        sv->last = head;
        sv->partial = true;
    }
    sv->writing = true;
    srv_pump(s, sv);
}

static void srv_open(struct bm_p2p_stream *s, void *arg)
{
    struct bm_headerex *x = arg;
    struct srv *sv = bm_calloc(1, sizeof(*sv));

    if (sv == NULL) {
        INC(x, served_resets[BM_HEADEREX_RST_OVERLOAD]);
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_LIMIT);
        return;
    }
    sv->x = x;
    sv->s = s;
    bm_frame_reader_init(&sv->rx, BM_HEADEREX_REQUEST_MAX);
    bm_p2p_stream_set_user(s, sv);
    bm_p2p_stream_set_deadline(s, x->cfg.read_ms);
}

/* The request frame: answer it and read no further. */
static bool srv_request(void *arg, const uint8_t *p, size_t n)
{
    struct srv *sv = arg;
    struct bm_headerex_request rq;

    if (bm_headerex_request_decode(p, n, &rq) != BM_OK) {
        srv_reset(sv->s, sv, BM_HEADEREX_RST_BAD_REQUEST);
    } else {
        srv_answer(sv->s, sv, &rq);
    }
    return false;
}

static void srv_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                     void *arg)
{
    struct srv *sv = bm_p2p_stream_user(s);

    (void)arg;
    if (sv == NULL || sv->answered) {
        return; /* one request per stream; the rest is ignored */
    }
    if (bm_frame_reader_feed(&sv->rx, p, n, srv_request, sv) != BM_OK) {
        srv_reset(s, sv, BM_HEADEREX_RST_BAD_REQUEST);
    }
    if (sv->answered) {
        bm_frame_reader_release(&sv->rx);
    }
}

static void srv_eof(struct bm_p2p_stream *s, void *arg)
{
    struct srv *sv = bm_p2p_stream_user(s);

    (void)arg;
    if (sv != NULL && !sv->answered) {
        srv_reset(s, sv, BM_HEADEREX_RST_BAD_REQUEST);
    }
}

static void srv_writable(struct bm_p2p_stream *s, void *arg)
{
    struct srv *sv = bm_p2p_stream_user(s);

    (void)arg;
    if (sv != NULL && sv->writing) {
        srv_pump(s, sv);
    }
}

static void srv_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct srv *sv = bm_p2p_stream_user(s);

    (void)arg;
    if (sv == NULL) {
        return;
    }
    if (reason == BM_ETIMEDOUT) {
        INC(sv->x, served_timeouts);
    }
    bm_frame_reader_release(&sv->rx);
    bm_free(sv);
}

static const struct bm_p2p_handler srv_handler = {
    .on_open = srv_open,
    .on_data = srv_data,
    .on_eof = srv_eof,
    .on_writable = srv_writable,
    .on_close = srv_close,
};

/* ================================================================ requests */

struct creq;
typedef void creq_done_fn(struct creq *r, struct bm_headerex_result *res);

/* One request on one stream. */
struct creq {
    struct bm_headerex *x;
    struct bm_peer_id peer;
    struct bm_buf wire;          /* the framed request */
    uint64_t max_replies;
    uint64_t want0;              /* height of the first item, 0: unknown */
    bool verify;
    struct bm_buf prev;          /* verifier's previous item (owned) */
    uint64_t deadline_at;
    struct bm_p2p_stream *s;
    struct bm_frame_reader rx;
    struct bm_headerex_item *items;
    size_t n_items;
    bool done;
    int fail_err;                /* for a start failure reported later */
    creq_done_fn *complete;
    void *owner;                 /* user cb data, head op or session */
    bm_headerex_cb *cb;
    void *cb_arg;
    size_t slot;                 /* session: peer slot */
    uint64_t start;              /* session: first height */
    uint64_t amount;             /* session: heights asked */
};

static void creq_free(struct creq *r)
{
    for (size_t i = 0; i < r->n_items; i++) {
        bm_buf_release(&r->items[i].bytes);
    }
    bm_free(r->items);
    bm_buf_release(&r->wire);
    bm_buf_release(&r->prev);
    bm_frame_reader_release(&r->rx);
    bm_free(r);
}

/* Completes r with err (once); the items move into the result. */
static void creq_finish(struct creq *r, int err)
{
    struct bm_headerex *x = r->x;
    struct bm_headerex_result res;

    if (r->done) {
        return;
    }
    r->done = true;
    memset(&res, 0, sizeof(res));
    if (err == BM_OK && r->n_items == 0) {
        err = BM_ENOTFOUND;
    }
    if (err != BM_OK) {
        for (size_t i = 0; i < r->n_items; i++) {
            bm_buf_release(&r->items[i].bytes);
        }
        bm_free(r->items);
    } else {
        res.items = r->items;
        res.n_items = r->n_items;
        ADD(x, items_received, r->n_items);
    }
    r->items = NULL;
    r->n_items = 0;
    res.err = err;
    res.peer = r->peer;
    switch (err) {
    case BM_OK:
        INC(x, requests_ok);
        break;
    case BM_ENOTFOUND:
        INC(x, requests_not_found);
        break;
    case BM_ETIMEDOUT:
        INC(x, requests_timeout);
        break;
    case BM_EBADMSG:
        break; /* counted in bad_replies */
    default:
        INC(x, requests_failed);
        break;
    }
    r->complete(r, &res);
    bm_headerex_result_release(&res);
}

/* A bad reply: fail the request, reset the stream, maybe block the peer. */
static void creq_bad(struct bm_p2p_stream *s, struct creq *r, const char *why)
{
    struct bm_headerex *x = r->x;
    char idtext[BM_PEER_ID_STR_SIZE];

    INC(x, bad_replies);
    bm_peer_id_format(&r->peer, idtext);
    bm_log_info("headerex", "bad reply from peer=%s network=%s why=%s",
                idtext, x->network, why);
    bm_p2p_stream_reset(s, BM_YAMUX_RESET_PROTOCOL);
    if (x->cfg.block_bad_peers) {
        INC(x, peers_blocked);
        (void)bm_p2p_host_disconnect_loop(x->h, &r->peer);
    }
    creq_finish(r, BM_EBADMSG); /* last: counters are final when told */
}

/* One OK body: verify (if asked) and keep. Returns false on a bad item. */
static bool creq_item(struct creq *r, const uint8_t *body, size_t len)
{
    const struct bm_headerex_verifier *v = r->x->cfg.verifier;
    uint64_t want = r->want0 != 0 ? r->want0 + r->n_items : 0;
    uint64_t height = want;
    struct bm_headerex_item *it;

    if (r->verify && v != NULL) {
        const uint8_t *prev = NULL;
        size_t prev_len = 0;

        if (r->n_items > 0) {
            prev = r->items[r->n_items - 1].bytes.ptr;
            prev_len = r->items[r->n_items - 1].bytes.len;
        } else if (r->prev.ptr != NULL) {
            prev = r->prev.ptr;
            prev_len = r->prev.len;
        }
        if (v->check(r->x->cfg.verifier_arg, body, len, prev, prev_len, want,
                     &height) != BM_OK ||
            (want != 0 && height != want)) {
            return false;
        }
    }
    it = bm_realloc(r->items, (r->n_items + 1) * sizeof(*it));
    if (it == NULL) {
        return false;
    }
    r->items = it;
    memset(&it[r->n_items], 0, sizeof(*it));
    if (bm_buf_set(&it[r->n_items].bytes, body, len) != BM_OK) {
        return false;
    }
    it[r->n_items].height = height;
    r->n_items++;
    return true;
}

static void cl_open(struct bm_p2p_stream *s, void *arg)
{
    struct creq *r = arg;
    uint64_t now = now_ms(r->x);

    if (now >= r->deadline_at) {
        creq_finish(r, BM_ETIMEDOUT);
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_NONE);
        return;
    }
    bm_p2p_stream_set_deadline(s, r->deadline_at - now);
    /* After the echo, not behind the proposal (js-libp2p). */
    if (bm_p2p_stream_write(s, r->wire.ptr, r->wire.len) != BM_OK) {
        creq_finish(r, BM_EFULL);
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_NONE);
        return;
    }
    (void)bm_p2p_stream_close(s);
}

/* One reply frame. Returns false once the request is over. */
static bool cl_reply(void *arg, const uint8_t *p, size_t n)
{
    struct creq *r = arg;
    struct bm_headerex_response resp;

    if (bm_headerex_response_decode(p, n, &resp) != BM_OK) {
        creq_bad(r->s, r, "undecodable reply");
        return false;
    }
    if (resp.status == BM_HEADEREX_STATUS_NOT_FOUND) {
        creq_finish(r, r->n_items > 0 ? BM_OK : BM_ENOTFOUND);
        return false;
    }
    if (resp.status != BM_HEADEREX_STATUS_OK) {
        creq_bad(r->s, r, "bad status");
        return false;
    }
    if (!creq_item(r, resp.body, resp.body_len)) {
        creq_bad(r->s, r, "item failed verification");
        return false;
    }
    if (r->n_items >= r->max_replies) {
        creq_finish(r, BM_OK); /* enough: the rest is ignored */
        return false;
    }
    return true;
}

static void cl_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                    void *arg)
{
    struct creq *r = arg;
    enum bm_err err;

    if (r->done) {
        return;
    }
    r->s = s;
    err = bm_frame_reader_feed(&r->rx, p, n, cl_reply, r);
    if (err != BM_OK && !r->done) {
        creq_bad(s, r, err == BM_ETOOBIG ? "reply too large"
                                         : "undecodable reply");
    }
    if (r->done) {
        bm_frame_reader_release(&r->rx);
    }
}

static void cl_eof(struct bm_p2p_stream *s, void *arg)
{
    struct creq *r = arg;

    (void)s;
    /* EOF ends NOT_FOUND and partial ranges; inside a reply it is an
     * error (Go's reader fails too). */
    creq_finish(r, bm_frame_reader_partial(&r->rx) ? BM_ETRUNCATED : BM_OK);
}

static void cl_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct creq *r = arg;

    (void)s;
    creq_finish(r, reason == BM_OK ? BM_OK
                   : reason == BM_ESTOPPED ? BM_ECANCELED
                                           : reason);
    creq_free(r);
}

static const struct bm_p2p_handler client_handler = {
    .on_open = cl_open,
    .on_data = cl_data,
    .on_eof = cl_eof,
    .on_close = cl_close,
};

static struct creq *creq_new(struct bm_headerex *x,
                             const struct bm_peer_id *peer,
                             const struct bm_headerex_request *rq,
                             uint64_t timeout_ms)
{
    struct creq *r = bm_calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    if (bm_headerex_request_encode(rq, &r->wire) != BM_OK) {
        bm_free(r);
        return NULL;
    }
    r->x = x;
    r->peer = *peer;
    r->max_replies = rq->has_hash || rq->origin == 0 ? 1 : rq->amount;
    r->want0 = rq->has_origin ? rq->origin : 0;
    r->verify = true;
    r->deadline_at = now_ms(x) + timeout_ms;
    bm_frame_reader_init(&r->rx, x->cfg.max_msg);
    return r;
}

/* Opens r's stream. On error r is untouched (the caller frees it). */
static int creq_start(struct creq *r)
{
    struct bm_p2p_stream *s;
    int err = bm_p2p_host_open_stream_loop(r->x->h, &r->peer,
                                           r->x->protocol, &client_handler,
                                           r, &s);

    if (err == BM_OK) {
        INC(r->x, requests);
    }
    return err;
}

/* A request that could not start completes on the next loop turn. */
static void creq_fail_later_run(struct bm_p2p_host *h, void *arg)
{
    struct creq *r = arg;

    (void)h;
    creq_finish(r, r->fail_err);
    creq_free(r);
}

static bool valid_request(const struct bm_headerex_request *rq)
{
    if (rq->has_origin == rq->has_hash) {
        return false;
    }
    if (rq->has_hash) {
        return rq->hash_len <= BM_HEADEREX_HASH_MAX;
    }
    return rq->origin == 0 ||
           (rq->amount >= 1 && rq->amount <= BM_HEADEREX_MAX_RANGE &&
            rq->origin + rq->amount > rq->origin);
}

/* ---- single request */

static void user_done(struct creq *r, struct bm_headerex_result *res)
{
    r->cb(r->x, res, r->cb_arg);
}

int bm_headerex_request_loop(struct bm_headerex *x,
                             const struct bm_peer_id *peer,
                             const struct bm_headerex_request *req,
                             const struct bm_buf *prev, bm_headerex_cb *cb,
                             void *arg)
{
    struct bm_headerex_request rq = *req;
    struct creq *r;
    int err;

    if (!valid_request(&rq)) {
        return BM_EINVAL;
    }
    if (rq.has_origin && rq.origin == 0 && rq.amount == 0) {
        rq.amount = 1;
    }
    r = creq_new(x, peer, &rq, x->cfg.request_ms);
    if (r == NULL) {
        return BM_ENOMEM;
    }
    if (prev != NULL && prev->len > 0 &&
        bm_buf_copy(&r->prev, prev) != BM_OK) {
        creq_free(r);
        return BM_ENOMEM;
    }
    r->complete = user_done;
    r->cb = cb;
    r->cb_arg = arg;
    err = creq_start(r);
    if (err != BM_OK) {
        r->fail_err = err == BM_ENOTFOUND ? BM_ECLOSED : err;
        err = bm_p2p_host_post(x->h, creq_fail_later_run, r);
        if (err != BM_OK) {
            creq_free(r);
            return err;
        }
    }
    return BM_OK;
}

/* ---- peers to ask */

/* The connected peers (live) when the caller gave none. Returns owned
 * *out (bm_free) and its count, at most max. */
static size_t connected_peers(struct bm_headerex *x, struct bm_peer_id **out,
                              size_t max)
{
    struct bm_p2p_peer_info *info = NULL;
    size_t n = 0, k = 0;

    *out = NULL;
    if (bm_p2p_host_peers_loop(x->h, &info, &n) != BM_OK || n == 0) {
        bm_free(info);
        return 0;
    }
    *out = bm_calloc(n < max ? n : max, sizeof(**out));
    for (size_t i = 0; *out != NULL && i < n && k < max; i++) {
        (*out)[k++] = info[i].peer;
    }
    bm_free(info);
    return *out != NULL ? k : 0;
}

/* ================================================================ head */

struct headop {
    struct bm_headerex *x;
    bm_headerex_cb *cb;
    void *arg;
    size_t pending;
    bool has;
    struct bm_headerex_item best;
    struct bm_peer_id best_peer;
    int last_err;
};

static void head_finish(struct headop *op)
{
    struct bm_headerex_result res;

    memset(&res, 0, sizeof(res));
    if (op->has) {
        res.items = bm_malloc(sizeof(*res.items));
        if (res.items != NULL) {
            res.items[0] = op->best;
            res.n_items = 1;
            memset(&op->best, 0, sizeof(op->best));
        }
    }
    if (res.n_items > 0) {
        res.err = BM_OK;
    } else {
        res.err = op->has ? BM_ENOMEM : op->last_err;
    }
    res.peer = op->best_peer;
    op->cb(op->x, &res, op->arg);
    bm_headerex_result_release(&res);
    bm_buf_release(&op->best.bytes);
    bm_free(op);
}

static void head_req_done(struct creq *r, struct bm_headerex_result *res)
{
    struct headop *op = r->owner;

    if (res->err == BM_OK && res->n_items > 0 &&
        (!op->has || res->items[0].height > op->best.height)) {
        bm_buf_release(&op->best.bytes);
        op->best = res->items[0];
        memset(&res->items[0], 0, sizeof(res->items[0]));
        op->best_peer = res->peer;
        op->has = true;
    } else if (res->err != BM_OK) {
        op->last_err = res->err;
    }
    if (--op->pending == 0) {
        head_finish(op);
    }
}

static void head_none_run(struct bm_p2p_host *h, void *arg)
{
    (void)h;
    head_finish(arg);
}

int bm_headerex_head_loop(struct bm_headerex *x,
                          const struct bm_peer_id *peers, size_t n,
                          bm_headerex_cb *cb, void *arg)
{
    struct bm_headerex_request rq = {.has_origin = true, .origin = 0,
                                     .amount = 1};
    struct bm_peer_id *own = NULL;
    struct headop *op = bm_calloc(1, sizeof(*op));
    int err = BM_OK;

    if (op == NULL) {
        return BM_ENOMEM;
    }
    op->x = x;
    op->cb = cb;
    op->arg = arg;
    op->last_err = BM_ENOTFOUND;
    if (n == 0) {
        n = connected_peers(x, &own, x->cfg.head_peers);
        peers = own;
    }
    for (size_t i = 0; i < n && i < x->cfg.head_peers; i++) {
        struct creq *r = creq_new(x, &peers[i], &rq, x->cfg.head_ms);

        if (r == NULL) {
            continue;
        }
        r->complete = head_req_done;
        r->owner = op;
        op->pending++;
        err = creq_start(r);
        if (err != BM_OK) {
            op->pending--;
            op->last_err = err == BM_ENOTFOUND ? BM_ECLOSED : err;
            creq_free(r);
        }
    }
    bm_free(own);
    if (op->pending == 0) {
        err = bm_p2p_host_post(x->h, head_none_run, op);
        if (err != BM_OK) {
            bm_free(op);
            return err;
        }
    }
    return BM_OK;
}

/* ================================================================ range */

struct slot {
    struct bm_peer_id id;
    bool bad;
    uint8_t failures;
    uint32_t busy;
    uint64_t behind;          /* lacks heights >= behind; 0: unknown */
};

/* A run of received items waiting for its turn (sorted by start). */
struct chunk {
    struct chunk *next;
    uint64_t start;
    size_t slot;
    struct bm_headerex_item *items;
    size_t n;
};

/* Heights to ask again (sorted by start). */
struct todo {
    struct todo *next;
    uint64_t start;
    uint64_t amount;
};

struct session {
    struct bm_headerex *x;
    struct slot *slots;
    size_t n_slots;
    size_t rr;
    uint64_t next;            /* first height never assigned */
    uint64_t end;             /* exclusive */
    uint64_t deliver;         /* next height to hand over */
    struct bm_buf prev;       /* the last item handed over (or trusted) */
    struct chunk *chunks;
    struct todo *todo;
    size_t inflight;
    bool finished;
    bool starting;            /* inside bm_headerex_range_loop */
    int end_err;              /* why it ended while starting */
    bm_headerex_cb *on_items;
    bm_headerex_range_done_cb *done;
    void *arg;
};

static void sess_free(struct session *ss)
{
    while (ss->chunks != NULL) {
        struct chunk *c = ss->chunks;

        ss->chunks = c->next;
        for (size_t i = 0; i < c->n; i++) {
            bm_buf_release(&c->items[i].bytes);
        }
        bm_free(c->items);
        bm_free(c);
    }
    while (ss->todo != NULL) {
        struct todo *t = ss->todo;

        ss->todo = t->next;
        bm_free(t);
    }
    bm_buf_release(&ss->prev);
    bm_free(ss->slots);
    bm_free(ss);
}

static void sess_end(struct session *ss, int err)
{
    if (ss->finished) {
        return;
    }
    ss->finished = true;
    if (ss->starting) {
        ss->end_err = err; /* never call back from inside the call */
        return;
    }
    ss->done(ss->x, err, ss->deliver, ss->arg);
}

/* Queues [start, start + amount) to be asked again, keeping order. */
static void sess_todo(struct session *ss, uint64_t start, uint64_t amount)
{
    struct todo **pp = &ss->todo;
    struct todo *t;

    if (amount == 0) {
        return;
    }
    t = bm_xmalloc(sizeof(*t));
    t->start = start;
    t->amount = amount;
    while (*pp != NULL && (*pp)->start < start) {
        pp = &(*pp)->next;
    }
    t->next = *pp;
    *pp = t;
}

static void sess_block(struct session *ss, size_t i, const char *why)
{
    struct bm_headerex *x = ss->x;
    char idtext[BM_PEER_ID_STR_SIZE];

    ss->slots[i].bad = true;
    INC(x, bad_replies);
    bm_peer_id_format(&ss->slots[i].id, idtext);
    bm_log_info("headerex", "bad item from peer=%s network=%s why=%s",
                idtext, x->network, why);
    if (x->cfg.block_bad_peers) {
        INC(x, peers_blocked);
        (void)bm_p2p_host_disconnect_loop(x->h, &ss->slots[i].id);
    }
}

/* Hands over every verified item that is next in height order. */
static void sess_deliver(struct session *ss)
{
    const struct bm_headerex_verifier *v = ss->x->cfg.verifier;

    while (!ss->finished && ss->chunks != NULL &&
           ss->chunks->start == ss->deliver) {
        struct chunk *c = ss->chunks;
        struct bm_headerex_result res;
        size_t ok = 0;

        ss->chunks = c->next;
        for (; ok < c->n; ok++) {
            uint64_t want = c->start + ok, height = want;

            if (v != NULL &&
                (v->check(ss->x->cfg.verifier_arg, c->items[ok].bytes.ptr,
                          c->items[ok].bytes.len, ss->prev.ptr, ss->prev.len,
                          want, &height) != BM_OK ||
                 height != want)) {
                break;
            }
            c->items[ok].height = want;
            bm_buf_release(&ss->prev);
            if (bm_buf_copy(&ss->prev, &c->items[ok].bytes) != BM_OK) {
                break;
            }
        }
        if (ok < c->n) {
            sess_block(ss, c->slot, "item failed verification");
            sess_todo(ss, c->start + ok, c->n - ok);
            for (size_t i = ok; i < c->n; i++) {
                bm_buf_release(&c->items[i].bytes);
            }
        }
        if (ok > 0) {
            memset(&res, 0, sizeof(res));
            res.err = BM_OK;
            res.peer = ss->slots[c->slot].id;
            res.items = c->items;
            res.n_items = ok;
            c->items = NULL;
            ss->deliver += ok;
            ADD(ss->x, items_received, ok);
            ss->on_items(ss->x, &res, ss->arg);
            bm_headerex_result_release(&res);
        }
        bm_free(c->items);
        bm_free(c);
    }
}

static void sess_req_done(struct creq *r, struct bm_headerex_result *res);

/* Starts requests while there is room and work. */
static void sess_dispatch(struct session *ss)
{
    struct bm_headerex *x = ss->x;

    while (!ss->finished && ss->inflight < x->cfg.range_parallel) {
        uint64_t start, amount;
        size_t pick = SIZE_MAX;
        struct bm_headerex_request rq;
        struct creq *r;

        if (ss->todo != NULL) {
            start = ss->todo->start;
            amount = ss->todo->amount;
        } else if (ss->next < ss->end) {
            start = ss->next;
            amount = ss->end - ss->next;
        } else {
            break;
        }
        if (amount > BM_HEADEREX_MAX_RANGE) {
            amount = BM_HEADEREX_MAX_RANGE;
        }
        /* The least busy peer that may have `start`, round-robin. */
        for (size_t k = 0; k < ss->n_slots; k++) {
            size_t i = (ss->rr + k) % ss->n_slots;
            const struct slot *sl = &ss->slots[i];

            if (sl->bad || (sl->behind != 0 && sl->behind <= start)) {
                continue;
            }
            if (pick == SIZE_MAX || sl->busy < ss->slots[pick].busy) {
                pick = i;
            }
        }
        if (pick == SIZE_MAX) {
            if (ss->inflight == 0) {
                sess_end(ss, BM_ENOTFOUND); /* nobody has `start` */
            }
            break;
        }
        ss->rr = (pick + 1) % ss->n_slots;
        memset(&rq, 0, sizeof(rq));
        rq.has_origin = true;
        rq.origin = start;
        rq.amount = amount;
        r = creq_new(x, &ss->slots[pick].id, &rq, x->cfg.request_ms);
        if (r == NULL) {
            if (ss->inflight == 0) {
                sess_end(ss, BM_ENOMEM);
            }
            break;
        }
        r->verify = false; /* in height order, by sess_deliver */
        r->complete = sess_req_done;
        r->owner = ss;
        r->slot = pick;
        r->start = start;
        r->amount = amount;
        if (creq_start(r) != BM_OK) {
            creq_free(r);
            ss->slots[pick].bad = true; /* not connected any more */
            continue;
        }
        /* Claimed: take it off the todo list or the fresh range. */
        if (ss->todo != NULL && ss->todo->start == start) {
            struct todo *t = ss->todo;

            if (t->amount > amount) {
                t->start += amount;
                t->amount -= amount;
            } else {
                ss->todo = t->next;
                bm_free(t);
            }
        } else {
            ss->next += amount;
        }
        ss->slots[pick].busy++;
        ss->inflight++;
    }
}

static void sess_add_chunk(struct session *ss, size_t slot, uint64_t start,
                           struct bm_headerex_result *res)
{
    struct chunk **pp = &ss->chunks;
    struct chunk *c = bm_xcalloc(1, sizeof(*c));

    c->start = start;
    c->slot = slot;
    c->items = res->items;
    c->n = res->n_items;
    res->items = NULL;
    res->n_items = 0;
    while (*pp != NULL && (*pp)->start < start) {
        pp = &(*pp)->next;
    }
    c->next = *pp;
    *pp = c;
}

static void sess_req_done(struct creq *r, struct bm_headerex_result *res)
{
    struct session *ss = r->owner;
    struct slot *sl = &ss->slots[r->slot];

    ss->inflight--;
    sl->busy--;
    if (res->err == BM_OK || res->err == BM_ENOTFOUND) {
        size_t k = res->n_items;

        if (k > r->amount) {
            k = r->amount; /* creq reads at most `amount` */
        }
        sl->failures = 0;
        if (k < r->amount) {
            sl->behind = r->start + k; /* partial: re-ask the rest */
            sess_todo(ss, r->start + k, r->amount - k);
        }
        if (k > 0) {
            sess_add_chunk(ss, r->slot, r->start, res);
        }
    } else {
        if (res->err == BM_EBADMSG || res->err == BM_ENOPROTO ||
            ++sl->failures >= 2) {
            sl->bad = true;
        }
        sess_todo(ss, r->start, r->amount);
    }
    sess_deliver(ss);
    if (!ss->finished && ss->deliver >= ss->end && ss->inflight == 0) {
        sess_end(ss, BM_OK);
    }
    sess_dispatch(ss);
    if (ss->finished && ss->inflight == 0) {
        sess_free(ss);
    }
}

static void sess_none_run(struct bm_p2p_host *h, void *arg)
{
    struct session *ss = arg;

    (void)h;
    ss->finished = false;
    sess_end(ss, ss->end_err);
    sess_free(ss);
}

int bm_headerex_range_loop(struct bm_headerex *x,
                           const struct bm_peer_id *peers, size_t n,
                           uint64_t from, uint64_t count,
                           const struct bm_buf *trusted,
                           bm_headerex_cb *on_items,
                           bm_headerex_range_done_cb *done, void *arg)
{
    struct bm_peer_id *own = NULL;
    struct session *ss;
    int err;

    if (count == 0 || from == 0 || from + count < from) {
        return BM_EINVAL;
    }
    ss = bm_calloc(1, sizeof(*ss));
    if (ss == NULL) {
        return BM_ENOMEM;
    }
    if (n == 0) {
        n = connected_peers(x, &own, BM_HEADEREX_RANGE_PEERS);
        peers = own;
    }
    if (n > BM_HEADEREX_RANGE_PEERS) {
        n = BM_HEADEREX_RANGE_PEERS;
    }
    ss->slots = n > 0 ? bm_calloc(n, sizeof(*ss->slots)) : NULL;
    if ((n > 0 && ss->slots == NULL) ||
        (trusted != NULL && trusted->len > 0 &&
         bm_buf_copy(&ss->prev, trusted) != BM_OK)) {
        bm_free(own);
        sess_free(ss);
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        ss->slots[i].id = peers[i];
    }
    bm_free(own);
    ss->x = x;
    ss->n_slots = n;
    ss->next = from;
    ss->deliver = from;
    ss->end = from + count;
    ss->on_items = on_items;
    ss->done = done;
    ss->arg = arg;
    ss->starting = true;
    ss->end_err = BM_ENOTFOUND;
    sess_dispatch(ss);
    ss->starting = false;
    if (ss->finished || ss->inflight == 0) {
        /* Nothing started (no usable peer): complete on the next turn. */
        err = bm_p2p_host_post(x->h, sess_none_run, ss);
        if (err != BM_OK) {
            sess_free(ss);
            return err;
        }
    }
    return BM_OK;
}

/* ================================================================ setup */

void bm_headerex_config_init(struct bm_headerex_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->request_ms = BM_HEADEREX_REQUEST_MS;
    cfg->head_ms = BM_HEADEREX_HEAD_MS;
    cfg->read_ms = BM_HEADEREX_READ_MS;
    cfg->write_ms = BM_HEADEREX_WRITE_MS;
    cfg->max_msg = BM_HEADEREX_MAX_MSG;
    cfg->head_peers = BM_HEADEREX_HEAD_PEERS;
    cfg->range_parallel = BM_HEADEREX_RANGE_PARALLEL;
    cfg->block_bad_peers = true;
}

int bm_headerex_new(struct bm_headerex **out, struct bm_p2p_host *h,
                    const struct bm_headerex_config *cfg,
                    struct bm_errmsg *em)
{
    struct bm_headerex *x;
    struct bm_headerex_config d;
    size_t nl;
    int err;

    *out = NULL;
    nl = cfg->network_id != NULL ? strlen(cfg->network_id) : 0;
    if (nl == 0 || nl > BM_HEADEREX_NETWORK_MAX ||
        strpbrk(cfg->network_id, "/\n") != NULL) {
        return bm_errf(em, BM_EINVAL, "header-ex: bad network ID '%s'",
                       cfg->network_id != NULL ? cfg->network_id : "");
    }
    if (cfg->source != NULL &&
        (cfg->source->head_height == NULL ||
         cfg->source->get_by_height == NULL)) {
        return bm_errf(em, BM_EINVAL, "header-ex: incomplete item source");
    }
    x = bm_calloc(1, sizeof(*x));
    if (x == NULL) {
        return BM_ENOMEM;
    }
    bm_headerex_config_init(&d);
    x->h = h;
    x->cfg = *cfg;
    x->cfg.network_id = NULL;
#define DEF_(f)                                                                \
    if (x->cfg.f == 0) {                                                       \
        x->cfg.f = d.f;                                                        \
    }
    DEF_(request_ms)
    DEF_(head_ms)
    DEF_(read_ms)
    DEF_(write_ms)
    DEF_(max_msg)
    DEF_(head_peers)
    DEF_(range_parallel)
#undef DEF_
    memcpy(x->network, cfg->network_id, nl + 1);
    snprintf(x->protocol, sizeof(x->protocol), "/%s%s", x->network,
             PROTO_SUFFIX);
    if (cfg->source != NULL) {
        err = bm_p2p_host_register(h, x->protocol, &srv_handler, x);
        if (err != BM_OK) {
            bm_free(x);
            return bm_errf(em, err, "header-ex: cannot register '%s': %s",
                           x->protocol, bm_strerror(err));
        }
    }
    *out = x;
    return BM_OK;
}

void bm_headerex_free(struct bm_headerex *x)
{
    bm_free(x);
}

const char *bm_headerex_protocol(const struct bm_headerex *x)
{
    return x->protocol;
}

#define LOAD(f) atomic_load_explicit(&x->cnt.f, memory_order_relaxed)

void bm_headerex_stats(const struct bm_headerex *x,
                       struct bm_headerex_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->served_heads = LOAD(served_heads);
    out->served_ranges = LOAD(served_ranges);
    out->served_partial = LOAD(served_partial);
    out->served_hashes = LOAD(served_hashes);
    out->served_not_found = LOAD(served_not_found);
    out->served_items = LOAD(served_items);
    out->served_timeouts = LOAD(served_timeouts);
    for (unsigned i = 0; i < BM_HEADEREX_RST_COUNT; i++) {
        out->served_resets[i] = LOAD(served_resets[i]);
    }
    out->requests = LOAD(requests);
    out->requests_ok = LOAD(requests_ok);
    out->requests_not_found = LOAD(requests_not_found);
    out->requests_timeout = LOAD(requests_timeout);
    out->requests_failed = LOAD(requests_failed);
    out->bad_replies = LOAD(bad_replies);
    out->items_received = LOAD(items_received);
    out->peers_blocked = LOAD(peers_blocked);
}

/* ================================================================ posting */

enum job_kind { JOB_REQUEST, JOB_HEAD, JOB_RANGE };

struct job {
    enum job_kind kind;
    struct bm_headerex *x;
    struct bm_peer_id *peers;
    size_t n;
    struct bm_headerex_request rq;
    uint8_t hash[BM_HEADEREX_HASH_MAX];
    uint64_t from, count;
    struct bm_buf trusted;
    bm_headerex_cb *cb;
    bm_headerex_range_done_cb *done;
    void *arg;
};

static void job_free(struct job *j)
{
    bm_free(j->peers);
    bm_buf_release(&j->trusted);
    bm_free(j);
}

static void job_run(struct bm_p2p_host *h, void *arg)
{
    struct job *j = arg;
    int err = BM_OK;

    (void)h;
    switch (j->kind) {
    case JOB_REQUEST:
        if (j->rq.has_hash) {
            j->rq.hash = j->hash;
        }
        err = bm_headerex_request_loop(j->x, &j->peers[0], &j->rq, NULL,
                                       j->cb, j->arg);
        break;
    case JOB_HEAD:
        err = bm_headerex_head_loop(j->x, j->peers, j->n, j->cb, j->arg);
        break;
    case JOB_RANGE:
        err = bm_headerex_range_loop(j->x, j->peers, j->n, j->from, j->count,
                                     &j->trusted, j->cb, j->done, j->arg);
        break;
    }
    if (err != BM_OK) {
        /* The loop-side call refused: tell the caller the same way. */
        if (j->kind == JOB_RANGE) {
            j->done(j->x, err, j->from, j->arg);
        } else {
            struct bm_headerex_result res;

            memset(&res, 0, sizeof(res));
            res.err = err;
            if (j->kind == JOB_REQUEST) {
                res.peer = j->peers[0];
            }
            j->cb(j->x, &res, j->arg);
        }
    }
    job_free(j);
}

static int job_post(struct bm_headerex *x, struct job *j,
                    const struct bm_peer_id *peers, size_t n)
{
    int err;

    j->x = x;
    if (n > 0) {
        j->peers = bm_malloc(n * sizeof(*peers));
        if (j->peers == NULL) {
            job_free(j);
            return BM_ENOMEM;
        }
        memcpy(j->peers, peers, n * sizeof(*peers));
        j->n = n;
    }
    err = bm_p2p_host_post(x->h, job_run, j);
    if (err != BM_OK) {
        job_free(j);
    }
    return err;
}

int bm_headerex_request(struct bm_headerex *x, const struct bm_peer_id *peer,
                        const struct bm_headerex_request *req,
                        bm_headerex_cb *cb, void *arg)
{
    struct job *j;

    if (!valid_request(req)) {
        return BM_EINVAL;
    }
    j = bm_calloc(1, sizeof(*j));
    if (j == NULL) {
        return BM_ENOMEM;
    }
    j->kind = JOB_REQUEST;
    j->rq = *req;
    if (req->has_hash && req->hash_len > 0) {
        memcpy(j->hash, req->hash, req->hash_len);
    }
    j->cb = cb;
    j->arg = arg;
    return job_post(x, j, peer, 1);
}

int bm_headerex_head(struct bm_headerex *x, const struct bm_peer_id *peers,
                     size_t n, bm_headerex_cb *cb, void *arg)
{
    struct job *j = bm_calloc(1, sizeof(*j));

    if (j == NULL) {
        return BM_ENOMEM;
    }
    j->kind = JOB_HEAD;
    j->cb = cb;
    j->arg = arg;
    return job_post(x, j, peers, n);
}

int bm_headerex_range(struct bm_headerex *x, const struct bm_peer_id *peers,
                      size_t n, uint64_t from, uint64_t count,
                      const struct bm_buf *trusted, bm_headerex_cb *on_items,
                      bm_headerex_range_done_cb *done, void *arg)
{
    struct job *j;

    if (count == 0 || from == 0 || from + count < from) {
        return BM_EINVAL;
    }
    j = bm_calloc(1, sizeof(*j));
    if (j == NULL) {
        return BM_ENOMEM;
    }
    j->kind = JOB_RANGE;
    j->from = from;
    j->count = count;
    if (trusted != NULL && trusted->len > 0 &&
        bm_buf_copy(&j->trusted, trusted) != BM_OK) {
        bm_free(j);
        return BM_ENOMEM;
    }
    j->cb = on_items;
    j->done = done;
    j->arg = arg;
    if (n > BM_HEADEREX_RANGE_PEERS) {
        n = BM_HEADEREX_RANGE_PEERS;
    }
    return job_post(x, j, peers, n);
}
