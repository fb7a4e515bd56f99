/*
 * The go-header exchange over real sockets between blockv2 hosts on
 * 127.0.0.1: a server over an in-memory item source (items chained by
 * hash, as headers are) and a client with a verifier checking heights and
 * linkage. Head, a range of 64, a partial range, NOT_FOUND (by height and
 * by hash, exactly `02 10 02` + FIN), head with amount 100, the requests
 * the table resets (amount 65, amount 0, neither origin nor hash, garbage),
 * a source error, the client's deadline against a mute server, the
 * server's read and write deadlines, a bad status and a bad item (the peer
 * is blocked), and range sessions over several peers: partial peers,
 * every peer behind, a peer serving forged items.
 */
#include "gossip_util.h"

#include <signal.h>
#include <stdatomic.h>

#include <sodium.h>

#include "p2p/floodsub.h"
#include "p2p/headerex.h"
#include "p2p/varint.h"
#include "p2p/yamux.h"

#define NET "testchain-headerSync"
#define PROTO "/testchain-headerSync/header-ex/v0.0.3"
#define MAXH 2100u

/* ------------------------------------------------------------ items */

/* item(h) = BE64(h) || SHA-256(item(h - 1)) (zeros for h = 1) || pad. */
static uint8_t chain_hash[MAXH + 1][32];

static void make_item(uint64_t h, size_t size, struct bm_buf *out)
{
    uint8_t *p = bm_xmalloc(size);

    bm_put_be64(p, h);
    if (h > 1) {
        memcpy(p + 8, chain_hash[h - 1], 32);
    } else {
        memset(p + 8, 0, 32);
    }
    memset(p + 40, (int)(h & 0xff), size - 40);
    bm_buf_release(out);
    out->ptr = p;
    out->len = size;
}

static void build_chain(size_t size)
{
    struct bm_buf it = {NULL, 0};

    for (uint64_t h = 1; h <= MAXH; h++) {
        make_item(h, size, &it);
        crypto_hash_sha256(chain_hash[h], it.ptr, it.len);
    }
    bm_buf_release(&it);
}

struct source {
    atomic_uint_fast64_t head;     /* 0: empty */
    size_t item_size;
    atomic_bool corrupt;           /* serve items with a broken link */
    atomic_bool fail;              /* every lookup fails */
};

static int src_head(void *arg, uint64_t *height)
{
    struct source *s = arg;
    uint64_t h = atomic_load(&s->head);

    if (atomic_load(&s->fail)) {
        return BM_EIO;
    }
    if (h == 0) {
        return BM_ENOTFOUND;
    }
    *height = h;
    return BM_OK;
}

static int src_get(void *arg, uint64_t height, struct bm_buf *item)
{
    struct source *s = arg;

    if (atomic_load(&s->fail)) {
        return BM_EIO;
    }
    if (height == 0 || height > atomic_load(&s->head) || height > MAXH) {
        return BM_ENOTFOUND;
    }
    make_item(height, s->item_size, item);
    if (atomic_load(&s->corrupt)) {
        item->ptr[8] ^= 0xff;
    }
    return BM_OK;
}

static int src_hash(void *arg, const uint8_t *h, size_t len,
                    struct bm_buf *item)
{
    struct source *s = arg;

    if (len != 32) {
        return BM_ENOTFOUND;
    }
    for (uint64_t i = 1; i <= atomic_load(&s->head) && i <= MAXH; i++) {
        if (memcmp(chain_hash[i], h, 32) == 0) {
            return src_get(arg, i, item);
        }
    }
    return BM_ENOTFOUND;
}

static const struct bm_headerex_source source_ops = {
    .head_height = src_head,
    .get_by_height = src_get,
    .get_by_hash = src_hash,
};

static atomic_uint verifier_calls;

static int verify(void *arg, const uint8_t *item, size_t len,
                  const uint8_t *prev, size_t prev_len, uint64_t want,
                  uint64_t *height)
{
    uint64_t h;

    (void)arg;
    atomic_fetch_add(&verifier_calls, 1);
    if (len < 40) {
        return BM_EDECODE;
    }
    h = bm_get_be64(item);
    if (h == 0 || (want != 0 && h != want)) {
        return BM_EHEIGHT_MISMATCH;
    }
    if (prev != NULL && prev_len >= 8 && bm_get_be64(prev) + 1 == h) {
        uint8_t ph[32];

        crypto_hash_sha256(ph, prev, prev_len);
        if (memcmp(ph, item + 8, 32) != 0) {
            return BM_ELAST_HEADER_HASH;
        }
    }
    *height = h;
    return BM_OK;
}

static const struct bm_headerex_verifier verifier_ops = {.check = verify};

/* ------------------------------------------------------------ nodes */

struct xnode {
    struct gu_host host;
    struct bm_headerex *x;
    struct source src;
};

struct xtweak {
    uint64_t request_ms;
    uint64_t read_ms;
    uint64_t write_ms;
    uint32_t range_parallel;
    size_t item_size;
};

static struct xnode *xnode_new(uint8_t seed, bool serve, uint64_t head,
                               const struct xtweak *tw)
{
    struct xnode *n = bm_xcalloc(1, sizeof(*n));
    struct bm_headerex_config cfg;

    gu_host_new(&n->host, seed);
    atomic_init(&n->src.head, head);
    n->src.item_size = tw != NULL && tw->item_size > 0 ? tw->item_size : 200;
    bm_headerex_config_init(&cfg);
    cfg.network_id = NET;
    if (serve) {
        cfg.source = &source_ops;
        cfg.source_arg = &n->src;
    }
    cfg.verifier = &verifier_ops;
    if (tw != NULL) {
        cfg.request_ms = tw->request_ms;
        cfg.read_ms = tw->read_ms;
        cfg.write_ms = tw->write_ms;
        cfg.range_parallel = tw->range_parallel;
    }
    assert_int_equal(bm_headerex_new(&n->x, n->host.h, &cfg, NULL), BM_OK);
    assert_string_equal(bm_headerex_protocol(n->x), PROTO);
    return n;
}

static void xnode_start(struct xnode *n)
{
    assert_int_equal(bm_p2p_host_start(n->host.h), BM_OK);
}

static void xnode_free(struct xnode *n)
{
    assert_int_equal(bm_p2p_host_stop(n->host.h), BM_OK);
    bm_headerex_free(n->x);
    gu_host_free(&n->host);
    bm_free(n);
}

static struct bm_headerex_stats xstats(const struct xnode *n)
{
    struct bm_headerex_stats st;

    bm_headerex_stats(n->x, &st);
    return st;
}

/* ------------------------------------------------------------ results */

struct res {
    struct gu_sync s;
    int err;
    struct bm_peer_id peer;
    size_t n;
    uint64_t heights[128];
    struct bm_buf first;       /* taken from the result */
};

static void res_cb(struct bm_headerex *x, struct bm_headerex_result *r,
                   void *arg)
{
    struct res *o = arg;

    (void)x;
    o->err = r->err;
    o->peer = r->peer;
    o->n = r->n_items;
    for (size_t i = 0; i < r->n_items && i < 128; i++) {
        o->heights[i] = r->items[i].height;
    }
    if (r->n_items > 0) {
        /* Take the first item's bytes: the result no longer owns them. */
        o->first = r->items[0].bytes;
        memset(&r->items[0].bytes, 0, sizeof(r->items[0].bytes));
    }
    gu_sync_done(&o->s, BM_OK);
}

static void res_init(struct res *o)
{
    memset(o, 0, sizeof(*o));
    gu_sync_init(&o->s);
}

static void res_release(struct res *o)
{
    bm_buf_release(&o->first);
    gu_sync_release(&o->s);
}

static void ask(struct xnode *c, const struct xnode *s, bool head,
                uint64_t origin, uint64_t amount, struct res *o)
{
    struct bm_headerex_request rq = {.has_origin = true, .origin = origin,
                                     .amount = amount};

    res_init(o);
    if (head) {
        assert_int_equal(bm_headerex_head(c->x, &s->host.id, 1, res_cb, o),
                         BM_OK);
    } else {
        assert_int_equal(bm_headerex_request(c->x, &s->host.id, &rq, res_cb,
                                             o),
                         BM_OK);
    }
    assert_int_equal(gu_sync_wait(&o->s, 3 * GU_WAIT_MS), BM_OK);
}

static void assert_run(const struct res *o, uint64_t first, size_t n)
{
    assert_int_equal(o->err, BM_OK);
    assert_int_equal(o->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(o->heights[i], first + i);
    }
}

/* ------------------------------------------------------------ raw client */

/* A hand-written request on a stream; records what comes back. */
struct rawreq {
    struct bm_buf req;
    bool send_fin;
    bool manual_credit;
    struct gu_sync s;
    uint8_t got[64];
    size_t n_got;
    size_t total;
    bool eof;
    int reason;
};

static void rr_open(struct bm_p2p_stream *s, void *arg)
{
    struct rawreq *r = arg;

    if (r->manual_credit) {
        bm_p2p_stream_manual_credit(s, true);
    }
    if (r->req.len > 0) {
        assert_int_equal(bm_p2p_stream_write(s, r->req.ptr, r->req.len),
                         BM_OK);
    }
    if (r->send_fin) {
        assert_int_equal(bm_p2p_stream_close(s), BM_OK);
    }
}

static void rr_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                    void *arg)
{
    struct rawreq *r = arg;

    (void)s;
    for (size_t i = 0; i < n && r->n_got < sizeof(r->got); i++) {
        r->got[r->n_got++] = p[i];
    }
    r->total += n;
}

static void rr_eof(struct bm_p2p_stream *s, void *arg)
{
    struct rawreq *r = arg;

    (void)s;
    r->eof = true;
    if (!r->send_fin) {
        (void)bm_p2p_stream_close(s);
    }
}

static void rr_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct rawreq *r = arg;

    (void)s;
    r->reason = reason;
    gu_sync_done(&r->s, BM_OK);
}

static const struct bm_p2p_handler rr_handler = {
    .on_open = rr_open,
    .on_data = rr_data,
    .on_eof = rr_eof,
    .on_close = rr_close,
};

struct rr_op {
    struct rawreq *r;
    struct bm_peer_id to;
};

static void rr_run(struct bm_p2p_host *h, void *arg)
{
    struct rr_op *o = arg;
    struct bm_p2p_stream *s;

    assert_int_equal(bm_p2p_host_open_stream_loop(h, &o->to, PROTO,
                                                  &rr_handler, o->r, &s),
                     BM_OK);
}

/* Sends the hex request (framed as given) and waits for the stream to
 * end. */
static void raw_request(struct xnode *c, const struct xnode *s,
                        const char *hex, bool fin, struct rawreq *r)
{
    struct rr_op o = {.r = r, .to = s->host.id};
    uint8_t b[128];
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    gu_sync_init(&r->s);
    for (const char *p = hex; p[0] != '\0' && p[1] != '\0';) {
        unsigned v;

        if (*p == ' ') {
            p++;
            continue;
        }
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        b[n++] = (uint8_t)v;
        p += 2;
    }
    assert_int_equal(bm_buf_set(&r->req, b, n), BM_OK);
    r->send_fin = fin;
    gu_on_loop(&c->host, rr_run, &o);
}

static void raw_wait(struct rawreq *r, unsigned ms)
{
    assert_int_equal(gu_sync_wait(&r->s, ms), BM_OK);
}

static void raw_release(struct rawreq *r)
{
    bm_buf_release(&r->req);
    gu_sync_release(&r->s);
}

/* ------------------------------------------------------------ tests */

static void head_range_partial_not_found(void **state)
{
    struct xnode *s = xnode_new(0x61, true, 40, NULL);
    struct xnode *c = xnode_new(0x62, false, 0, NULL);
    struct bm_headerex_stats ss;
    struct bm_headerex_request rq;
    struct res o;
    struct bm_buf it = {NULL, 0};

    (void)state;
    xnode_start(s);
    xnode_start(c);
    assert_int_equal(gu_dial(&c->host, &s->host), BM_OK);

    /* Head: the newest item, verified, with the server as peer. */
    ask(c, s, true, 0, 1, &o);
    assert_run(&o, 40, 1);
    assert_true(bm_peer_id_eq(&o.peer, &s->host.id));
    make_item(40, 200, &it);
    assert_true(bm_buf_eq(&o.first, &it));
    res_release(&o);
    /* A head request with amount 100 is still one head (row order). */
    ask(c, s, false, 0, 100, &o);
    assert_run(&o, 40, 1);
    res_release(&o);
    /* By height, a range of 64 (after the head moves), partial range. */
    ask(c, s, false, 5, 1, &o);
    assert_run(&o, 5, 1);
    res_release(&o);
    atomic_store(&s->src.head, 100);
    ask(c, s, false, 1, 64, &o);
    assert_run(&o, 1, 64);
    res_release(&o);
    ask(c, s, false, 90, 20, &o);
    assert_run(&o, 90, 11);
    res_release(&o);
    /* NOT_FOUND: above the head, an unknown hash. A known hash. */
    ask(c, s, false, 101, 5, &o);
    assert_int_equal(o.err, BM_ENOTFOUND);
    assert_int_equal(o.n, 0);
    res_release(&o);
    memset(&rq, 0, sizeof(rq));
    rq.has_hash = true;
    rq.hash = chain_hash[MAXH]; /* above the head */
    rq.hash_len = 32;
    rq.amount = 1;
    res_init(&o);
    assert_int_equal(bm_headerex_request(c->x, &s->host.id, &rq, res_cb, &o),
                     BM_OK);
    assert_int_equal(gu_sync_wait(&o.s, GU_WAIT_MS), BM_OK);
    assert_int_equal(o.err, BM_ENOTFOUND);
    res_release(&o);
    rq.hash = chain_hash[77];
    res_init(&o);
    assert_int_equal(bm_headerex_request(c->x, &s->host.id, &rq, res_cb, &o),
                     BM_OK);
    assert_int_equal(gu_sync_wait(&o.s, GU_WAIT_MS), BM_OK);
    assert_run(&o, 77, 1);
    res_release(&o);
    /* An empty store answers the head with NOT_FOUND. */
    atomic_store(&s->src.head, 0);
    ask(c, s, true, 0, 1, &o);
    assert_int_equal(o.err, BM_ENOTFOUND);
    res_release(&o);

    ss = xstats(s);
    assert_int_equal(ss.served_heads, 2);
    assert_int_equal(ss.served_ranges, 3);
    assert_int_equal(ss.served_partial, 1);
    assert_int_equal(ss.served_hashes, 1);
    assert_int_equal(ss.served_not_found, 3);
    assert_int_equal(ss.served_items, 2 + 1 + 64 + 11 + 1);
    assert_int_equal(xstats(c).requests, 9);
    assert_int_equal(xstats(c).requests_ok, 6);
    assert_int_equal(xstats(c).requests_not_found, 3);
    /* The client refuses shapes the server would reset. */
    rq.has_hash = false;
    rq.has_origin = true;
    rq.origin = 1;
    rq.amount = 65;
    assert_int_equal(bm_headerex_request(c->x, &s->host.id, &rq, res_cb, &o),
                     BM_EINVAL);
    rq.amount = 0;
    assert_int_equal(bm_headerex_request(c->x, &s->host.id, &rq, res_cb, &o),
                     BM_EINVAL);
    bm_buf_release(&it);
    xnode_free(c);
    xnode_free(s);
}

/* The bytes on the wire, and the rows of the table that reset. */
static void server_table_raw(void **state)
{
    struct xnode *s = xnode_new(0x61, true, 10, NULL);
    struct xnode *c = xnode_new(0x62, false, 0, NULL);
    struct rawreq r;
    struct bm_headerex_stats ss;

    (void)state;
    xnode_start(s);
    xnode_start(c);
    assert_int_equal(gu_dial(&c->host, &s->host), BM_OK);

    /* origin 11 > head 10: exactly 02 10 02, then FIN. */
    raw_request(c, s, "04 080b 1801", true, &r);
    raw_wait(&r, GU_WAIT_MS);
    assert_int_equal(r.reason, BM_OK);
    assert_true(r.eof);
    assert_int_equal(r.n_got, 3);
    assert_memory_equal(r.got, "\x02\x10\x02", 3);
    raw_release(&r);
    /* One OK reply, FIN; request without FIN is answered all the same. */
    raw_request(c, s, "04 0801 1801", false, &r);
    raw_wait(&r, GU_WAIT_MS);
    assert_int_equal(r.reason, BM_OK);
    assert_true(r.eof);
    assert_int_equal(r.total, 2 + 205); /* uvarint(205) = cd 01 */
    assert_int_equal(r.got[0], 0xcd);
    assert_int_equal(r.got[1], 0x01);
    assert_int_equal(r.got[2], 0x0a);
    raw_release(&r);
    /* Bytes after the request in the same write are not read. */
    raw_request(c, s, "04 0801 1801 ffffffffffffffffffffff", true, &r);
    raw_wait(&r, GU_WAIT_MS);
    assert_int_equal(r.reason, BM_OK);
    assert_int_equal(r.total, 2 + 205);
    raw_release(&r);

    /* amount 65, amount 0, origin + amount overflowing, no origin or
     * hash, garbage, a frame above the request cap: reset, no byte. */
    {
        static const char *const resets[] = {
            "04 0801 1841",
            "02 0801",
            "0d 08ffffffffffffffffff01 1802",
            "02 1801",
            "03 ffffff",
            "ffff03",
        };

        for (size_t i = 0; i < sizeof(resets) / sizeof(resets[0]); i++) {
            raw_request(c, s, resets[i], true, &r);
            raw_wait(&r, GU_WAIT_MS);
            assert_int_equal(r.reason, BM_ECANCELED);
            assert_int_equal(r.total, 0);
            raw_release(&r);
        }
    }
    /* EOF before a whole request: reset. */
    raw_request(c, s, "04 08", true, &r);
    raw_wait(&r, GU_WAIT_MS);
    assert_int_equal(r.reason, BM_ECANCELED);
    raw_release(&r);
    /* A failing source: reset. */
    atomic_store(&s->src.fail, true);
    raw_request(c, s, "04 0801 1805", true, &r);
    raw_wait(&r, GU_WAIT_MS);
    assert_int_equal(r.reason, BM_ECANCELED);
    raw_release(&r);
    atomic_store(&s->src.fail, false);

    ss = xstats(s);
    assert_int_equal(ss.served_resets[BM_HEADEREX_RST_TOO_MANY], 1);
    assert_int_equal(ss.served_resets[BM_HEADEREX_RST_RANGE], 2);
    assert_int_equal(ss.served_resets[BM_HEADEREX_RST_NO_DATA], 1);
    assert_int_equal(ss.served_resets[BM_HEADEREX_RST_BAD_REQUEST], 3);
    assert_int_equal(ss.served_resets[BM_HEADEREX_RST_SOURCE], 1);
    assert_int_equal(ss.served_not_found, 1);
    xnode_free(c);
    xnode_free(s);
}

/* ------------------------------------------------------------ deadlines */

/* A server that reads and never answers. */
static void mute_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                      void *arg)
{
    (void)s;
    (void)p;
    (void)n;
    (void)arg;
}

static void mute_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)s;
    (void)reason;
    (void)arg;
}

static const struct bm_p2p_handler mute_handler = {
    .on_data = mute_data,
    .on_close = mute_close,
};

/* A server that answers every request with INVALID (an empty message). */
static void invalid_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                         void *arg)
{
    static const uint8_t invalid[] = {0x00};

    (void)p;
    (void)n;
    (void)arg;
    if (bm_p2p_stream_write(s, invalid, 1) == BM_OK) {
        (void)bm_p2p_stream_close(s);
    }
}

static const struct bm_p2p_handler invalid_handler = {
    .on_data = invalid_data,
    .on_close = mute_close,
};

/* A server whose reply is cut by its FIN (half a frame). */
static void cut_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                     void *arg)
{
    static const uint8_t half[] = {0x08, 0x0a, 0x04, 0x42};

    (void)p;
    (void)n;
    (void)arg;
    if (bm_p2p_stream_write(s, half, sizeof(half)) == BM_OK) {
        (void)bm_p2p_stream_close(s);
    }
}

static const struct bm_p2p_handler cut_handler = {
    .on_data = cut_data,
    .on_close = mute_close,
};

static void deadlines(void **state)
{
    struct xtweak tw = {.request_ms = 300, .read_ms = 300, .write_ms = 400,
                        .item_size = 100000};
    struct xnode *s = xnode_new(0x61, true, 64, &tw);
    struct xnode *c = xnode_new(0x62, false, 0, &tw);
    struct gu_host m;
    struct xnode mv = {0};
    struct rawreq r;
    struct res o;

    (void)state;
    gu_host_new(&m, 0x64);
    assert_int_equal(bm_p2p_host_register(m.h, PROTO, &mute_handler, NULL),
                     BM_OK);
    assert_int_equal(bm_p2p_host_start(m.h), BM_OK);
    mv.host = m;
    xnode_start(s);
    xnode_start(c);
    assert_int_equal(gu_dial(&c->host, &s->host), BM_OK);
    assert_int_equal(gu_dial(&c->host, &m), BM_OK);

    /* The client's deadline against a server that never answers. */
    ask(c, &mv, false, 1, 10, &o);
    assert_int_equal(o.err, BM_ETIMEDOUT);
    assert_int_equal(xstats(c).requests_timeout, 1);
    res_release(&o);
    ask(c, &mv, true, 0, 1, &o); /* head: head_ms (2 s) */
    assert_int_equal(o.err, BM_ETIMEDOUT);
    res_release(&o);

    /* The server's read deadline: a stream that sends nothing. */
    raw_request(c, s, "", false, &r);
    raw_wait(&r, GU_WAIT_MS);
    assert_int_equal(r.reason, BM_ECANCELED);
    raw_release(&r);
    /* The write deadline: 64 items of 100 kB to a reader that never
     * credits its window. */
    memset(&r, 0, sizeof(r));
    {
        struct rr_op op = {.r = &r, .to = s->host.id};
        uint8_t req[] = {0x04, 0x08, 0x01, 0x18, 0x40};

        gu_sync_init(&r.s);
        assert_int_equal(bm_buf_set(&r.req, req, sizeof(req)), BM_OK);
        r.send_fin = true;
        r.manual_credit = true;
        gu_on_loop(&c->host, rr_run, &op);
    }
    raw_wait(&r, GU_WAIT_MS);
    assert_int_equal(r.reason, BM_ECANCELED);
    /* One window (the host's 1 MiB, less the multistream lines), not the
     * range (6.4 MB). */
    assert_true(r.total > 900000 && r.total <= 1024 * 1024);
    raw_release(&r);
    assert_int_equal(xstats(s).served_timeouts, 2);
    assert_int_equal(xstats(s).served_ranges, 0);

    xnode_free(c);
    xnode_free(s);
    assert_int_equal(bm_p2p_host_stop(m.h), BM_OK);
    gu_host_free(&m);
}

/* A bad status or a bad item: the request fails and the peer is blocked
 * (disconnected, as go-header's blockPeer). */
static void bad_replies_block(void **state)
{
    struct xnode *s = xnode_new(0x61, true, 50, NULL);
    struct xnode *c = xnode_new(0x62, false, 0, NULL);
    struct gu_host m;
    struct xnode mv = {0};
    struct res o;

    (void)state;
    gu_host_new(&m, 0x64);
    assert_int_equal(bm_p2p_host_register(m.h, PROTO, &invalid_handler,
                                          NULL),
                     BM_OK);
    assert_int_equal(bm_p2p_host_start(m.h), BM_OK);
    mv.host = m;
    xnode_start(s);
    xnode_start(c);
    assert_int_equal(gu_dial(&c->host, &m), BM_OK);
    ask(c, &mv, false, 1, 4, &o);
    assert_int_equal(o.err, BM_EBADMSG);
    res_release(&o);
    assert_int_equal(xstats(c).bad_replies, 1);
    assert_int_equal(xstats(c).peers_blocked, 1);
    assert_int_equal(bm_p2p_host_stop(m.h), BM_OK);
    gu_host_free(&m);

    /* A reply cut by EOF inside a frame: an error, not NOT_FOUND. */
    gu_host_new(&m, 0x66);
    assert_int_equal(bm_p2p_host_register(m.h, PROTO, &cut_handler, NULL),
                     BM_OK);
    assert_int_equal(bm_p2p_host_start(m.h), BM_OK);
    mv.host = m;
    assert_int_equal(gu_dial(&c->host, &m), BM_OK);
    ask(c, &mv, false, 1, 4, &o);
    assert_int_equal(o.err, BM_ETRUNCATED);
    res_release(&o);
    assert_int_equal(xstats(c).peers_blocked, 1);

    /* Items whose link is broken fail the verifier. */
    assert_int_equal(gu_dial(&c->host, &s->host), BM_OK);
    atomic_store(&s->src.corrupt, true);
    ask(c, s, false, 10, 4, &o);
    assert_int_equal(o.err, BM_EBADMSG);
    res_release(&o);
    assert_int_equal(xstats(c).peers_blocked, 2);
    /* Not connected any more: the request fails at once. */
    gu_sleep(100);
    ask(c, s, false, 10, 4, &o);
    assert_int_equal(o.err, BM_ECLOSED);
    res_release(&o);
    xnode_free(c);
    xnode_free(s);
    assert_int_equal(bm_p2p_host_stop(m.h), BM_OK);
    gu_host_free(&m);
}

/* ------------------------------------------------------------ ranges */

struct rng {
    struct gu_sync s;
    pthread_mutex_t mu;
    uint64_t next_expected;
    uint64_t got;
    bool order_ok;
    int err;
    uint64_t next;
};

static void rng_items(struct bm_headerex *x, struct bm_headerex_result *r,
                      void *arg)
{
    struct rng *g = arg;

    (void)x;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < r->n_items; i++) {
        if (r->items[i].height != g->next_expected ||
            bm_get_be64(r->items[i].bytes.ptr) != g->next_expected) {
            g->order_ok = false;
        }
        g->next_expected++;
        g->got++;
    }
    pthread_mutex_unlock(&g->mu);
}

static void rng_done(struct bm_headerex *x, int err, uint64_t next,
                     void *arg)
{
    struct rng *g = arg;

    (void)x;
    g->err = err;
    g->next = next;
    gu_sync_done(&g->s, BM_OK);
}

static void fetch(struct xnode *c, const struct bm_peer_id *peers, size_t n,
                  uint64_t from, uint64_t count, const struct bm_buf *trusted,
                  struct rng *g)
{
    memset(g, 0, sizeof(*g));
    gu_sync_init(&g->s);
    pthread_mutex_init(&g->mu, NULL);
    g->next_expected = from;
    g->order_ok = true;
    assert_int_equal(bm_headerex_range(c->x, peers, n, from, count, trusted,
                                       rng_items, rng_done, g),
                     BM_OK);
    assert_int_equal(gu_sync_wait(&g->s, 6 * GU_WAIT_MS), BM_OK);
}

static void fetch_release(struct rng *g)
{
    gu_sync_release(&g->s);
    pthread_mutex_destroy(&g->mu);
}

static void range_sessions(void **state)
{
    struct xnode *s1 = xnode_new(0x61, true, 2000, NULL);
    struct xnode *s2 = xnode_new(0x63, true, 300, NULL);
    struct xnode *s3 = xnode_new(0x65, true, 2000, NULL);
    struct xnode *c = xnode_new(0x62, false, 0, NULL);
    struct bm_peer_id peers[3] = {s1->host.id, s2->host.id, s3->host.id};
    struct rng g;

    (void)state;
    xnode_start(s1);
    xnode_start(s2);
    xnode_start(s3);
    xnode_start(c);
    assert_int_equal(gu_dial(&c->host, &s1->host), BM_OK);
    assert_int_equal(gu_dial(&c->host, &s2->host), BM_OK);

    /* 1..2000 from a full peer and one that stops at 300: chunks of 64,
     * re-asked after the partial replies, delivered in order. */
    fetch(c, peers, 2, 1, 2000, NULL, &g);
    assert_int_equal(g.err, BM_OK);
    assert_int_equal(g.next, 2001);
    assert_int_equal(g.got, 2000);
    assert_true(g.order_ok);
    fetch_release(&g);
    assert_true(xstats(s2).served_items > 0);

    /* Every peer behind: what exists is delivered, then NOT_FOUND. */
    fetch(c, &peers[1], 1, 250, 100, NULL, &g);
    assert_int_equal(g.err, BM_ENOTFOUND);
    assert_int_equal(g.next, 301);
    assert_int_equal(g.got, 51);
    assert_true(g.order_ok);
    fetch_release(&g);

    /* The connected peers when none are given (s1, s2). */
    fetch(c, NULL, 0, 1000, 200, NULL, &g);
    assert_int_equal(g.err, BM_OK);
    assert_int_equal(g.got, 200);
    fetch_release(&g);

    /* A peer serving forged items is blocked; the good one serves all
     * (the run starts after a trusted item, as a syncer's does). */
    assert_int_equal(gu_dial(&c->host, &s3->host), BM_OK);
    atomic_store(&s3->src.corrupt, true);
    {
        struct bm_peer_id two[2] = {s3->host.id, s1->host.id};
        struct bm_buf trusted = {NULL, 0};

        make_item(1, 200, &trusted);
        fetch(c, two, 2, 2, 640, &trusted, &g);
        bm_buf_release(&trusted);
    }
    assert_int_equal(g.err, BM_OK);
    assert_int_equal(g.got, 640);
    assert_true(g.order_ok);
    assert_true(xstats(c).peers_blocked >= 1);
    fetch_release(&g);

    /* Nobody to ask: done with NOT_FOUND, from the loop, not inline. */
    {
        struct bm_peer_id nobody;

        memset(&nobody, 0x11, sizeof(nobody));
        fetch(c, &nobody, 1, 1, 10, NULL, &g);
        assert_int_equal(g.err, BM_ENOTFOUND);
        assert_int_equal(g.next, 1);
        fetch_release(&g);
    }
    xnode_free(c);
    xnode_free(s1);
    xnode_free(s2);
    xnode_free(s3);
}

/* The head from several peers: the highest verified one wins. */
static void head_from_several(void **state)
{
    struct xnode *s1 = xnode_new(0x61, true, 120, NULL);
    struct xnode *s2 = xnode_new(0x63, true, 150, NULL);
    struct xnode *s3 = xnode_new(0x65, true, 0, NULL);
    struct xnode *c = xnode_new(0x62, false, 0, NULL);
    struct res o;

    (void)state;
    xnode_start(s1);
    xnode_start(s2);
    xnode_start(s3);
    xnode_start(c);
    assert_int_equal(gu_dial(&c->host, &s1->host), BM_OK);
    assert_int_equal(gu_dial(&c->host, &s2->host), BM_OK);
    assert_int_equal(gu_dial(&c->host, &s3->host), BM_OK);
    gu_sleep(200); /* the peer snapshot refreshes every 100 ms */
    res_init(&o);
    assert_int_equal(bm_headerex_head(c->x, NULL, 0, res_cb, &o), BM_OK);
    assert_int_equal(gu_sync_wait(&o.s, GU_WAIT_MS), BM_OK);
    assert_run(&o, 150, 1);
    assert_true(bm_peer_id_eq(&o.peer, &s2->host.id));
    res_release(&o);
    xnode_free(c);
    xnode_free(s1);
    xnode_free(s2);
    xnode_free(s3);
}

/* ------------------------------------------------------------ identify */

struct idq {
    struct gu_sync s;
    struct bm_peer_id peer;
    char *protocols[16];
    size_t n;
};

static void id_cb(struct bm_p2p_host *h, int err, const struct bm_identify *id,
                  void *arg)
{
    struct idq *q = arg;

    (void)h;
    for (size_t i = 0; err == BM_OK && i < id->n_protocols && i < 16; i++) {
        q->protocols[q->n++] = bm_xstrdup(id->protocols[i]);
    }
    gu_sync_done(&q->s, err);
}

static void id_run(struct bm_p2p_host *h, void *arg)
{
    struct idq *q = arg;

    if (bm_p2p_host_identify_loop(h, &q->peer, id_cb, q) != BM_OK) {
        gu_sync_done(&q->s, BM_EIO);
    }
}

/* A node with FloodSub and both exchanges lists exactly what it serves, in
 * the order of spec 11.4. */
static void identify_lists_protocols(void **state)
{
    static const char *const want[] = {
        "/ipfs/id/1.0.0",
        "/ipfs/ping/1.0.0",
        "/floodsub/1.0.0",
        "/testchain-headerSync/header-ex/v0.0.3",
        "/testchain-dataSync/header-ex/v0.0.3",
    };
    struct gu_host a, b;
    struct bm_floodsub *fs;
    struct bm_floodsub_config fc;
    struct bm_headerex *hx[2];
    struct bm_headerex_config xc;
    struct source src = {.item_size = 200};
    struct idq q;

    (void)state;
    gu_host_new(&a, 0x71);
    gu_host_new(&b, 0x72);
    bm_floodsub_config_init(&fc);
    assert_int_equal(bm_floodsub_new(&fs, a.h, &fc, NULL), BM_OK);
    bm_headerex_config_init(&xc);
    xc.source = &source_ops;
    xc.source_arg = &src;
    xc.network_id = "testchain-headerSync";
    assert_int_equal(bm_headerex_new(&hx[0], a.h, &xc, NULL), BM_OK);
    xc.network_id = "testchain-dataSync";
    assert_int_equal(bm_headerex_new(&hx[1], a.h, &xc, NULL), BM_OK);
    /* Bad network IDs and second registrations are refused. */
    {
        struct bm_headerex *other;

        xc.network_id = "a/b";
        assert_int_equal(bm_headerex_new(&other, a.h, &xc, NULL), BM_EINVAL);
        xc.network_id = "testchain-dataSync";
        assert_int_equal(bm_headerex_new(&other, a.h, &xc, NULL), BM_EEXIST);
        assert_null(other);
    }
    {
        /* A second FloodSub on the same host: its protocol is taken. */
        struct bm_floodsub *other;

        assert_int_equal(bm_floodsub_new(&other, a.h, &fc, NULL), BM_EEXIST);
        assert_null(other);
    }
    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_start(b.h), BM_OK);
    assert_int_equal(gu_dial(&b, &a), BM_OK);

    memset(&q, 0, sizeof(q));
    gu_sync_init(&q.s);
    q.peer = a.id;
    assert_int_equal(bm_p2p_host_post(b.h, id_run, &q), BM_OK);
    assert_int_equal(gu_sync_wait(&q.s, GU_WAIT_MS), BM_OK);
    assert_int_equal(q.n, 5);
    for (size_t i = 0; i < q.n; i++) {
        assert_string_equal(q.protocols[i], want[i]);
        bm_free(q.protocols[i]);
    }
    gu_sync_release(&q.s);
    assert_int_equal(bm_p2p_host_stop(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_stop(b.h), BM_OK);
    bm_floodsub_free(fs);
    bm_headerex_free(hx[0]);
    bm_headerex_free(hx[1]);
    gu_host_free(&a);
    gu_host_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(head_range_partial_not_found),
        cmocka_unit_test(server_table_raw),
        cmocka_unit_test(deadlines),
        cmocka_unit_test(bad_replies_block),
        cmocka_unit_test(range_sessions),
        cmocka_unit_test(head_from_several),
        cmocka_unit_test(identify_lists_protocols),
    };

    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(bm_crypto_init(), BM_OK);
    build_chain(200);
    return BM_TEST_RUN(tests);
}
