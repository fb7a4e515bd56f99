/*
 * FloodSub over real sockets between blockv2 hosts on 127.0.0.1, each with
 * its own loop thread:
 *  - three hosts in a line: relay, exactly one copy, nothing back to the
 *    source; a 5 MiB - 1 KiB message through the line;
 *  - a scripted raw peer (a host without FloodSub that writes frames by
 *    hand on its own /floodsub/1.0.0 stream): duplicates, forged and
 *    missing signatures, our own ID as origin, an unsubscribed topic, the
 *    origin excluded from forwarding, subscriptions ending with the
 *    stream, an oversized frame refused from its prefix, repeated rejects
 *    disconnecting the peer, replacement of its stream, and our stream
 *    reopened when it dies, with Go's give-up rule;
 *  - validator verdicts (ignore, deferred accept and reject, a deferred
 *    answer that never comes) and the bounded publish queue.
 */
#include "gossip_util.h"

#include <signal.h>
#include <stdatomic.h>

#include <sodium.h>

#include "p2p/floodsub.h"
#include "p2p/varint.h"
#include "p2p/yamux.h"

#define T1 "/testchain-headerSync/header-sub/v0.0.1"
#define T2 "/testchain-dataSync/header-sub/v0.0.1"
#define TX "/otherchain-headerSync/header-sub/v0.0.1"
#define INBOX_MAX 64

/* ------------------------------------------------------------ gossip nodes */

struct got {
    struct bm_peer_id from;
    struct bm_peer_id source;
    char topic[64];
    struct bm_buf data;
};

struct gnode {
    struct gu_host host;
    struct bm_floodsub *fs;
    pthread_mutex_t mu;
    struct got in[INBOX_MAX];
    size_t n_in;
    uint64_t last_token;
    bool judge;               /* verdicts by data prefix (else accept) */
};

/* Data starting with "reject", "ignore" or "defer" gets that verdict. */
static enum bm_floodsub_verdict validate(const struct bm_floodsub_msg *m,
                                         void *arg)
{
    struct gnode *g = arg;

    if (!g->judge) {
        return BM_FLOODSUB_ACCEPT;
    }
    if (m->data_len >= 6 && memcmp(m->data, "reject", 6) == 0) {
        return BM_FLOODSUB_REJECT;
    }
    if (m->data_len >= 6 && memcmp(m->data, "ignore", 6) == 0) {
        return BM_FLOODSUB_IGNORE;
    }
    if (m->data_len >= 5 && memcmp(m->data, "defer", 5) == 0) {
        pthread_mutex_lock(&g->mu);
        g->last_token = m->token;
        pthread_mutex_unlock(&g->mu);
        return BM_FLOODSUB_DEFER;
    }
    return BM_FLOODSUB_ACCEPT;
}

static void deliver(const struct bm_floodsub_msg *m, void *arg)
{
    struct gnode *g = arg;

    pthread_mutex_lock(&g->mu);
    if (g->n_in < INBOX_MAX) {
        struct got *x = &g->in[g->n_in++];

        x->from = m->from;
        x->source = m->source;
        snprintf(x->topic, sizeof(x->topic), "%s", m->topic);
        assert_int_equal(bm_buf_set(&x->data, m->data, m->data_len), BM_OK);
    }
    pthread_mutex_unlock(&g->mu);
}

static const struct bm_floodsub_topic topic_ops = {
    .validate = validate,
    .deliver = deliver,
};

struct gtweak {
    size_t max_rpc;
    uint32_t reject_limit;
    size_t publish_queue;
    uint64_t defer_timeout_ms;
    bool judge;
};

static struct gnode *gnode_new(uint8_t seed, const struct gtweak *tw)
{
    struct gnode *g = bm_xcalloc(1, sizeof(*g));
    struct bm_floodsub_config cfg;

    gu_host_new(&g->host, seed);
    pthread_mutex_init(&g->mu, NULL);
    bm_floodsub_config_init(&cfg);
    if (tw != NULL) {
        cfg.max_rpc = tw->max_rpc;
        cfg.reject_limit = tw->reject_limit;
        cfg.publish_queue = tw->publish_queue;
        cfg.defer_timeout_ms = tw->defer_timeout_ms;
        g->judge = tw->judge;
    }
    assert_int_equal(bm_floodsub_new(&g->fs, g->host.h, &cfg, NULL), BM_OK);
    assert_int_equal(bm_floodsub_subscribe(g->fs, T1, &topic_ops, g), BM_OK);
    assert_int_equal(bm_floodsub_subscribe(g->fs, T2, &topic_ops, g), BM_OK);
    assert_int_equal(bm_p2p_host_start(g->host.h), BM_OK);
    return g;
}

static void gnode_free(struct gnode *g)
{
    if (g == NULL) {
        return;
    }
    assert_int_equal(bm_p2p_host_stop(g->host.h), BM_OK);
    bm_floodsub_free(g->fs);
    gu_host_free(&g->host);
    for (size_t i = 0; i < g->n_in; i++) {
        bm_buf_release(&g->in[i].data);
    }
    pthread_mutex_destroy(&g->mu);
    bm_free(g);
}

static size_t inbox(struct gnode *g)
{
    size_t n;

    pthread_mutex_lock(&g->mu);
    n = g->n_in;
    pthread_mutex_unlock(&g->mu);
    return n;
}

static struct bm_floodsub_stats fstats(const struct gnode *g)
{
    struct bm_floodsub_stats st;

    bm_floodsub_stats(g->fs, &st);
    return st;
}

struct topic_q {
    struct gnode *g;
    struct bm_peer_id peer;
    const char *topic;
    bool result;
};

static void topic_q_run(struct bm_p2p_host *h, void *arg)
{
    struct topic_q *q = arg;

    (void)h;
    q->result = bm_floodsub_peer_has_topic_loop(q->g->fs, &q->peer, q->topic);
}

static bool has_topic_pred(void *arg)
{
    struct topic_q *q = arg;

    gu_on_loop(&q->g->host, topic_q_run, q);
    return q->result;
}

/* True once g has peer's subscription to topic (within the wait). */
static bool sees_sub(struct gnode *g, const struct bm_peer_id *peer,
                     const char *topic)
{
    struct topic_q q = {.g = g, .peer = *peer, .topic = topic};

    return gu_eventually(has_topic_pred, &q, GU_WAIT_MS);
}

static bool no_sub_pred(void *arg)
{
    return !has_topic_pred(arg);
}

struct inbox_q {
    struct gnode *g;
    size_t n;
};

static bool inbox_pred(void *arg)
{
    struct inbox_q *q = arg;

    return inbox(q->g) >= q->n;
}

static bool wait_inbox(struct gnode *g, size_t n)
{
    struct inbox_q q = {g, n};

    return gu_eventually(inbox_pred, &q, GU_WAIT_MS);
}

struct drop_q {
    struct gnode *g;
    enum bm_floodsub_drop why;
    uint64_t n;
};

static bool drop_pred(void *arg)
{
    struct drop_q *q = arg;

    return fstats(q->g).dropped[q->why] >= q->n;
}

static bool wait_drop(struct gnode *g, enum bm_floodsub_drop why, uint64_t n)
{
    struct drop_q q = {g, why, n};

    return gu_eventually(drop_pred, &q, GU_WAIT_MS);
}

/* ------------------------------------------------------------ raw peer */

/* A host without FloodSub that speaks it by hand. */
struct raw {
    struct gu_host host;
    pthread_mutex_t mu;
    /* streams the FloodSub node opens to us */
    unsigned in_opened;
    uint64_t in_opened_ms[8]; /* when the first 8 were opened */
    unsigned reset_in;        /* reset this many of them at open */
    unsigned in_msgs;         /* Message entries received */
    struct bm_dynbuf rx;
    /* our own stream to the node */
    struct bm_p2p_stream *out;
    unsigned out_opened;
    unsigned out_closed;
    int out_close_reason;
    size_t out_bytes;         /* bytes the node wrote on our stream */
    bool out_eof;
    struct bm_buf pending[8]; /* written once negotiated */
    size_t n_pending;
    bool disconnected;
};

static void raw_in_open(struct bm_p2p_stream *s, void *arg)
{
    struct raw *r = arg;
    bool reset;

    pthread_mutex_lock(&r->mu);
    if (r->in_opened < 8) {
        r->in_opened_ms[r->in_opened] = bm_clock_now_ms();
    }
    r->in_opened++;
    reset = r->reset_in > 0;
    if (reset) {
        r->reset_in--;
    }
    bm_dynbuf_reset(&r->rx);
    pthread_mutex_unlock(&r->mu);
    if (reset) {
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_NONE);
    }
}

static void raw_in_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                        void *arg)
{
    struct raw *r = arg;
    size_t off = 0;

    (void)s;
    pthread_mutex_lock(&r->mu);
    assert_int_equal(bm_dynbuf_append(&r->rx, p, n), BM_OK);
    for (;;) {
        const uint8_t *body;
        size_t len, msgs;
        int64_t k = bm_varint_frame_get(r->rx.ptr + off, r->rx.len - off,
                                        BM_FLOODSUB_MAX_RPC_DEFAULT, &body,
                                        &len);

        assert_true(k >= 0);
        if (k == 0) {
            break;
        }
        assert_int_equal(bm_floodsub_rpc_check(body, len, NULL, &msgs),
                         BM_OK);
        r->in_msgs += (unsigned)msgs;
        off += (size_t)k;
    }
    memmove(r->rx.ptr, r->rx.ptr + off, r->rx.len - off);
    r->rx.len -= off;
    pthread_mutex_unlock(&r->mu);
}

static void raw_in_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)s;
    (void)reason;
    (void)arg;
}

static const struct bm_p2p_handler raw_in = {
    .on_open = raw_in_open,
    .on_data = raw_in_data,
    .on_close = raw_in_close,
};

static void raw_out_open(struct bm_p2p_stream *s, void *arg)
{
    struct raw *r = arg;

    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_pending; i++) {
        assert_int_equal(bm_p2p_stream_write(s, r->pending[i].ptr,
                                             r->pending[i].len),
                         BM_OK);
        bm_buf_release(&r->pending[i]);
    }
    r->n_pending = 0;
    pthread_mutex_unlock(&r->mu);
}

static void raw_out_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                         void *arg)
{
    struct raw *r = arg;

    (void)s;
    (void)p;
    pthread_mutex_lock(&r->mu);
    r->out_bytes += n;
    pthread_mutex_unlock(&r->mu);
}

static void raw_out_eof(struct bm_p2p_stream *s, void *arg)
{
    struct raw *r = arg;

    (void)s;
    pthread_mutex_lock(&r->mu);
    r->out_eof = true;
    pthread_mutex_unlock(&r->mu);
}

static void raw_out_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct raw *r = arg;

    pthread_mutex_lock(&r->mu);
    if (r->out == s) {
        r->out = NULL;
    }
    r->out_closed++;
    r->out_close_reason = reason;
    pthread_mutex_unlock(&r->mu);
}

static const struct bm_p2p_handler raw_out = {
    .on_open = raw_out_open,
    .on_data = raw_out_data,
    .on_eof = raw_out_eof,
    .on_close = raw_out_close,
};

static void raw_disconnected(struct bm_p2p_host *h, struct bm_p2p_conn_id c,
                             const struct bm_peer_id *peer, int reason,
                             const char *name, void *arg)
{
    struct raw *r = arg;

    (void)h;
    (void)c;
    (void)peer;
    (void)reason;
    (void)name;
    pthread_mutex_lock(&r->mu);
    r->disconnected = true;
    pthread_mutex_unlock(&r->mu);
}

static const struct bm_p2p_listener raw_listener = {
    .on_disconnected = raw_disconnected,
};

static struct raw *raw_new(uint8_t seed)
{
    struct raw *r = bm_xcalloc(1, sizeof(*r));

    gu_host_new(&r->host, seed);
    pthread_mutex_init(&r->mu, NULL);
    bm_dynbuf_init(&r->rx, (size_t)8 << 20);
    assert_int_equal(bm_p2p_host_register(r->host.h, BM_FLOODSUB_PROTOCOL,
                                          &raw_in, r),
                     BM_OK);
    assert_int_equal(bm_p2p_host_add_listener(r->host.h, &raw_listener, r),
                     BM_OK);
    assert_int_equal(bm_p2p_host_start(r->host.h), BM_OK);
    return r;
}

static void raw_free(struct raw *r)
{
    assert_int_equal(bm_p2p_host_stop(r->host.h), BM_OK);
    gu_host_free(&r->host);
    for (size_t i = 0; i < r->n_pending; i++) {
        bm_buf_release(&r->pending[i]);
    }
    bm_dynbuf_release(&r->rx);
    pthread_mutex_destroy(&r->mu);
    bm_free(r);
}

struct raw_op {
    struct raw *r;
    struct bm_peer_id to;
    const struct bm_buf *frame;
    bool close;
};

static void raw_open_run(struct bm_p2p_host *h, void *arg)
{
    struct raw_op *o = arg;
    struct bm_p2p_stream *s;

    assert_int_equal(bm_p2p_host_open_stream_loop(h, &o->to,
                                                  BM_FLOODSUB_PROTOCOL,
                                                  &raw_out, o->r, &s),
                     BM_OK);
    pthread_mutex_lock(&o->r->mu);
    o->r->out = s;
    o->r->out_opened++;
    pthread_mutex_unlock(&o->r->mu);
}

/* Opens a new FloodSub stream to `to` whose first bytes are `first`. */
static void raw_open(struct raw *r, const struct bm_peer_id *to,
                     const struct bm_buf *first)
{
    struct raw_op o = {.r = r, .to = *to};

    pthread_mutex_lock(&r->mu);
    if (first != NULL) {
        assert_int_equal(bm_buf_copy(&r->pending[r->n_pending++], first),
                         BM_OK);
    }
    pthread_mutex_unlock(&r->mu);
    gu_on_loop(&r->host, raw_open_run, &o);
}

static void raw_send_run(struct bm_p2p_host *h, void *arg)
{
    struct raw_op *o = arg;

    (void)h;
    assert_non_null(o->r->out);
    if (o->close) {
        assert_int_equal(bm_p2p_stream_close(o->r->out), BM_OK);
    } else {
        assert_int_equal(bm_p2p_stream_write(o->r->out, o->frame->ptr,
                                             o->frame->len),
                         BM_OK);
    }
}

static void raw_send(struct raw *r, const struct bm_buf *frame)
{
    struct raw_op o = {.r = r, .frame = frame};

    gu_on_loop(&r->host, raw_send_run, &o);
}

static void raw_close(struct raw *r)
{
    struct raw_op o = {.r = r, .close = true};

    gu_on_loop(&r->host, raw_send_run, &o);
}

static unsigned raw_get(struct raw *r, const unsigned *field)
{
    unsigned v;

    pthread_mutex_lock(&r->mu);
    v = *field;
    pthread_mutex_unlock(&r->mu);
    return v;
}

struct raw_q {
    struct raw *r;
    const unsigned *field;
    unsigned n;
};

static bool raw_pred(void *arg)
{
    struct raw_q *q = arg;

    return raw_get(q->r, q->field) >= q->n;
}

static bool raw_wait(struct raw *r, const unsigned *field, unsigned n)
{
    struct raw_q q = {r, field, n};

    return gu_eventually(raw_pred, &q, GU_WAIT_MS);
}

static bool raw_disconnected_pred(void *arg)
{
    struct raw *r = arg;
    bool d;

    pthread_mutex_lock(&r->mu);
    d = r->disconnected;
    pthread_mutex_unlock(&r->mu);
    return d;
}

/* ------------------------------------------------------------ messages */

static uint64_t next_seq = 1000;

static void key_of(uint8_t seed, struct bm_privkey *k)
{
    uint8_t s[32];

    memset(s, seed, sizeof(s));
    bm_privkey_from_seed(k, s);
}

/* A framed RPC{publish:[msg]} authored by the key of `seed`. */
static void signed_frame(uint8_t seed, const char *topic, const char *data,
                         struct bm_buf *out)
{
    struct bm_privkey k;
    uint8_t seq[8];

    key_of(seed, &k);
    bm_put_be64(seq, next_seq++);
    assert_int_equal(bm_floodsub_frame_publish_signed(
                         &k, seq, (const uint8_t *)topic, strlen(topic),
                         (const uint8_t *)data, strlen(data),
                         BM_FLOODSUB_MAX_RPC_DEFAULT, out),
                     BM_OK);
}

/* The same without its signature field (the last 66 bytes). */
static void unsigned_frame(uint8_t seed, const char *topic, const char *data,
                           struct bm_buf *out)
{
    struct bm_buf f = {NULL, 0};
    const uint8_t *body;
    size_t len;
    struct bm_floodsub_rpc_iter it;
    struct bm_floodsub_wire w;

    signed_frame(seed, topic, data, &f);
    assert_true(bm_varint_frame_get(f.ptr, f.len, f.len, &body, &len) > 0);
    bm_floodsub_rpc_iter_init(&it, body, len);
    assert_true(bm_floodsub_rpc_next_msg(&it, &w));
    assert_int_equal(bm_floodsub_frame_forward(w.raw, w.raw_len - 66,
                                               BM_FLOODSUB_MAX_RPC_DEFAULT,
                                               out),
                     BM_OK);
    bm_buf_release(&f);
}

static void hello(const char *topic, struct bm_buf *out)
{
    assert_int_equal(bm_floodsub_frame_subs(&topic, 1, true,
                                            BM_FLOODSUB_MAX_RPC_DEFAULT, out),
                     BM_OK);
}

/* ------------------------------------------------------------ tests */

static void line_relay_exactly_once(void **state)
{
    struct gnode *a = gnode_new(0x41, NULL);
    struct gnode *b = gnode_new(0x42, NULL);
    struct gnode *c = gnode_new(0x43, NULL);
    struct bm_floodsub_stats sb;

    (void)state;
    assert_int_equal(gu_dial(&a->host, &b->host), BM_OK);
    assert_int_equal(gu_dial(&c->host, &b->host), BM_OK);
    assert_true(sees_sub(b, &a->host.id, T1));
    assert_true(sees_sub(b, &c->host.id, T1));
    assert_true(sees_sub(a, &b->host.id, T1));
    assert_true(sees_sub(c, &b->host.id, T2));

    assert_int_equal(bm_floodsub_publish(a->fs, T1, (const uint8_t *)"one", 3),
                     BM_OK);
    assert_true(wait_inbox(c, 1));
    assert_true(wait_inbox(b, 1));
    assert_true(bm_peer_id_eq(&c->in[0].from, &a->host.id));
    assert_true(bm_peer_id_eq(&c->in[0].source, &b->host.id));
    assert_string_equal(c->in[0].topic, T1);
    assert_true(bm_buf_eq_raw(&c->in[0].data, (const uint8_t *)"one", 3));
    assert_true(bm_peer_id_eq(&b->in[0].source, &a->host.id));

    assert_int_equal(bm_floodsub_publish(c->fs, T2, (const uint8_t *)"two", 3),
                     BM_OK);
    assert_true(wait_inbox(a, 1));
    assert_true(bm_peer_id_eq(&a->in[0].from, &c->host.id));
    assert_string_equal(a->in[0].topic, T2);

    /* Exactly one copy each; nothing back to the author. */
    gu_sleep(300);
    assert_int_equal(inbox(a), 1);
    assert_int_equal(inbox(b), 2);
    assert_int_equal(inbox(c), 1);
    sb = fstats(b);
    assert_int_equal(sb.delivered, 2);
    assert_int_equal(sb.forwarded, 2);
    assert_int_equal(sb.dropped[BM_FLOODSUB_DROP_DUPLICATE], 0);
    assert_int_equal(fstats(a).published, 1);
    assert_int_equal(fstats(a).sent, 1);
    assert_int_equal(fstats(a).received, 1);
    assert_int_equal(fstats(a).dropped[BM_FLOODSUB_DROP_DUPLICATE], 0);
    assert_int_equal(sb.peers, 2);

    /* A topic nobody subscribed to is written to nobody. */
    assert_int_equal(bm_floodsub_publish(a->fs, TX, (const uint8_t *)"x", 1),
                     BM_OK);
    gu_sleep(100);
    assert_int_equal(fstats(a).sent, 1);
    gnode_free(a);
    gnode_free(b);
    gnode_free(c);
}

/* 5 MiB - 1 KiB through a line of three (yamux windows, reassembly). */
static void line_large_message(void **state)
{
    struct gnode *a = gnode_new(0x41, NULL);
    struct gnode *b = gnode_new(0x42, NULL);
    struct gnode *c = gnode_new(0x43, NULL);
    size_t len = ((size_t)5 << 20) - 1024;
    uint8_t *data = bm_xcalloc(1, BM_FLOODSUB_MAX_RPC_DEFAULT);

    (void)state;
    randombytes_buf(data, len);
    assert_int_equal(gu_dial(&a->host, &b->host), BM_OK);
    assert_int_equal(gu_dial(&b->host, &c->host), BM_OK);
    assert_true(sees_sub(a, &b->host.id, T2));
    assert_true(sees_sub(b, &c->host.id, T2));
    assert_int_equal(bm_floodsub_publish(a->fs, T2, data, len), BM_OK);
    assert_true(wait_inbox(c, 1));
    assert_true(bm_buf_eq_raw(&c->in[0].data, data, len));
    assert_true(bm_peer_id_eq(&c->in[0].from, &a->host.id));
    /* Over the limit: refused before anything is sent. */
    assert_int_equal(bm_floodsub_publish(a->fs, T2, data,
                                         BM_FLOODSUB_MAX_RPC_DEFAULT),
                     BM_ETOOBIG);
    assert_int_equal(fstats(a).publish_refused, 1);
    bm_free(data);
    gnode_free(a);
    gnode_free(b);
    gnode_free(c);
}

static void raw_bad_messages(void **state)
{
    struct gnode *b = gnode_new(0x42, NULL);
    struct gnode *c = gnode_new(0x43, NULL);
    struct raw *r = raw_new(0x52);
    struct bm_buf h = {NULL, 0}, m1 = {NULL, 0}, f = {NULL, 0};
    struct bm_floodsub_stats sb;

    (void)state;
    assert_int_equal(gu_dial(&c->host, &b->host), BM_OK);
    assert_int_equal(gu_dial(&r->host, &b->host), BM_OK);
    hello(T1, &h);
    raw_open(r, &b->host.id, &h);
    assert_true(sees_sub(b, &r->host.id, T1));
    assert_true(sees_sub(b, &c->host.id, T1));
    assert_true(raw_wait(r, &r->in_opened, 1)); /* b's stream to us */

    /* A good message authored by X (0x58): delivered, forwarded to C. */
    signed_frame(0x58, T1, "good", &m1);
    raw_send(r, &m1);
    assert_true(wait_inbox(c, 1));
    assert_int_equal(inbox(b), 1);
    /* The identical bytes again: a duplicate, not forwarded. */
    raw_send(r, &m1);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_DUPLICATE, 1));
    /* A flipped signature bit, no signature, our own ID as origin (signed
     * by B's key), a topic B does not have. */
    signed_frame(0x58, T1, "forged", &f);
    f.ptr[f.len - 1] ^= 0x01;
    raw_send(r, &f);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_BAD_SIGNATURE, 1));
    unsigned_frame(0x58, T1, "unsigned", &f);
    raw_send(r, &f);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_NO_SIGNATURE, 1));
    signed_frame(0x42, T1, "self", &f);
    raw_send(r, &f);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_SELF, 1));
    signed_frame(0x58, TX, "other topic", &f);
    raw_send(r, &f);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_UNSUBSCRIBED, 1));
    /* Authored by C, sent by R: B forwards to neither (origin, source). */
    signed_frame(0x43, T1, "c-authored", &f);
    raw_send(r, &f);
    assert_true(wait_inbox(b, 2));
    /* C publishes: B forwards to R (subscribed), not back to C. */
    assert_int_equal(bm_floodsub_publish(c->fs, T1, (const uint8_t *)"from-c",
                                         6),
                     BM_OK);
    assert_true(raw_wait(r, &r->in_msgs, 1));
    gu_sleep(200);

    sb = fstats(b);
    assert_int_equal(sb.received, 8);
    assert_int_equal(sb.delivered, 3);
    assert_int_equal(sb.forwarded, 2); /* good -> C, from-c -> R */
    assert_int_equal(raw_get(r, &r->in_msgs), 1);
    assert_int_equal(inbox(c), 1);
    assert_int_equal(fstats(c).dropped[BM_FLOODSUB_DROP_DUPLICATE], 0);
    assert_int_equal(sb.peers_disconnected, 0);
    /* B never wrote, closed or reset the stream R opened. */
    pthread_mutex_lock(&r->mu);
    assert_int_equal(r->out_bytes, 0);
    assert_false(r->out_eof);
    assert_int_equal(r->out_closed, 0);
    pthread_mutex_unlock(&r->mu);

    /* R closes its stream: B closes its side, R's topics are gone. */
    raw_close(r);
    {
        struct topic_q q = {.g = b, .peer = r->host.id, .topic = T1};

        assert_true(gu_eventually(no_sub_pred, &q, GU_WAIT_MS));
    }
    assert_true(raw_wait(r, &r->out_closed, 1));
    pthread_mutex_lock(&r->mu);
    assert_int_equal(r->out_close_reason, BM_OK);
    pthread_mutex_unlock(&r->mu);
    bm_buf_release(&h);
    bm_buf_release(&m1);
    bm_buf_release(&f);
    raw_free(r);
    gnode_free(b);
    gnode_free(c);
}

/* A frame above max_rpc is refused from its length prefix alone. */
static void raw_oversized_frame(void **state)
{
    struct gtweak tw = {.max_rpc = 65536};
    struct gnode *b = gnode_new(0x42, &tw);
    struct raw *r = raw_new(0x52);
    struct bm_buf h = {NULL, 0}, f = {NULL, 0};
    uint8_t junk[100];
    size_t k;

    (void)state;
    assert_int_equal(gu_dial(&r->host, &b->host), BM_OK);
    hello(T1, &h);
    raw_open(r, &b->host.id, &h);
    assert_true(sees_sub(b, &r->host.id, T1));
    memset(junk, 0x12, sizeof(junk));
    k = bm_varint_put(65537, junk);
    assert_int_equal(bm_buf_set(&f, junk, sizeof(junk)), BM_OK);
    (void)k;
    raw_send(r, &f);
    assert_true(raw_wait(r, &r->out_closed, 1));
    pthread_mutex_lock(&r->mu);
    assert_int_equal(r->out_close_reason, BM_ECANCELED); /* reset by B */
    pthread_mutex_unlock(&r->mu);
    assert_int_equal(fstats(b).rpc_too_big, 1);
    assert_int_equal(fstats(b).received, 0);

    /* A frame of exactly max_rpc bytes is read (it is garbage, so the
     * RPC is refused as undecodable, not as too big). */
    bm_buf_release(&f);
    f.ptr = bm_xcalloc(1, 65540);
    k = bm_varint_put(65536, f.ptr);
    f.ptr[k] = 0x00; /* field 0: malformed */
    f.len = k + 65536;
    raw_open(r, &b->host.id, &h);
    raw_send(r, &f);
    assert_true(raw_wait(r, &r->out_closed, 2));
    assert_int_equal(fstats(b).rpc_too_big, 1);
    assert_int_equal(fstats(b).rpc_invalid, 1);
    /* And a good message on a fresh stream still gets through. */
    bm_buf_release(&f);
    signed_frame(0x58, T1, "after", &f);
    raw_open(r, &b->host.id, &h);
    raw_send(r, &f);
    assert_true(wait_inbox(b, 1));
    bm_buf_release(&f);
    f.ptr = bm_xcalloc(1, 65536);
    f.len = 65536;
    assert_int_equal(bm_floodsub_publish(b->fs, T1, f.ptr, f.len),
                     BM_ETOOBIG);
    bm_buf_release(&h);
    bm_buf_release(&f);
    raw_free(r);
    gnode_free(b);
}

/* reject_limit rejected messages disconnect the peer, counted. */
static void raw_repeated_rejects(void **state)
{
    struct gtweak tw = {.reject_limit = 3, .judge = true};
    struct gnode *b = gnode_new(0x42, &tw);
    struct raw *r = raw_new(0x52);
    struct bm_buf h = {NULL, 0}, f = {NULL, 0};

    (void)state;
    assert_int_equal(gu_dial(&r->host, &b->host), BM_OK);
    hello(T1, &h);
    raw_open(r, &b->host.id, &h);
    assert_true(sees_sub(b, &r->host.id, T1));
    signed_frame(0x58, T1, "reject-1", &f);
    raw_send(r, &f);
    signed_frame(0x58, T1, "reject-2", &f);
    raw_send(r, &f);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_REJECTED, 2));
    assert_false(raw_disconnected_pred(r));
    signed_frame(0x58, T1, "reject-3", &f);
    raw_send(r, &f);
    assert_true(gu_eventually(raw_disconnected_pred, r, GU_WAIT_MS));
    assert_int_equal(fstats(b).peers_disconnected, 1);
    assert_int_equal(fstats(b).dropped[BM_FLOODSUB_DROP_REJECTED], 3);
    assert_int_equal(fstats(b).delivered, 0);
    bm_buf_release(&h);
    bm_buf_release(&f);
    raw_free(r);
    gnode_free(b);
}

/* The token of the last deferred message (0 if none within the wait). */
static uint64_t wait_token(struct gnode *b)
{
    uint64_t token = 0;

    for (int i = 0; i < GU_WAIT_MS / 5 && token == 0; i++) {
        pthread_mutex_lock(&b->mu);
        token = b->last_token;
        pthread_mutex_unlock(&b->mu);
        if (token == 0) {
            gu_sleep(5);
        }
    }
    return token;
}

/* Ignore drops quietly; deferred verdicts arrive later from any thread;
 * a deferred answer that never comes times out. */
static void validator_verdicts(void **state)
{
    struct gtweak tw = {.defer_timeout_ms = 300, .judge = true};
    struct gnode *b = gnode_new(0x42, &tw);
    struct gnode *c = gnode_new(0x43, NULL);
    struct raw *r = raw_new(0x52);
    struct bm_buf h = {NULL, 0}, f = {NULL, 0};
    uint64_t token, t0;

    (void)state;
    assert_int_equal(gu_dial(&c->host, &b->host), BM_OK);
    assert_int_equal(gu_dial(&r->host, &b->host), BM_OK);
    hello(T1, &h);
    raw_open(r, &b->host.id, &h);
    assert_true(sees_sub(b, &r->host.id, T1));
    assert_true(sees_sub(b, &c->host.id, T1));

    signed_frame(0x58, T1, "ignore-me", &f);
    raw_send(r, &f);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_IGNORED, 1));

    /* Deferred, then accepted: delivered and forwarded to C. */
    signed_frame(0x58, T1, "defer-accept", &f);
    raw_send(r, &f);
    token = wait_token(b);
    assert_true(token != 0);
    assert_int_equal(inbox(b), 0);
    assert_int_equal(bm_floodsub_validation_done(b->fs, token,
                                                 BM_FLOODSUB_ACCEPT),
                     BM_OK);
    assert_true(wait_inbox(c, 1));
    assert_int_equal(inbox(b), 1);
    /* The same token again, an unknown token: ignored. */
    assert_int_equal(bm_floodsub_validation_done(b->fs, token,
                                                 BM_FLOODSUB_ACCEPT),
                     BM_OK);
    assert_int_equal(bm_floodsub_validation_done(b->fs, 999999,
                                                 BM_FLOODSUB_REJECT),
                     BM_OK);
    assert_int_equal(bm_floodsub_validation_done(b->fs, token,
                                                 BM_FLOODSUB_DEFER),
                     BM_EINVAL);

    /* Deferred, then rejected. */
    pthread_mutex_lock(&b->mu);
    b->last_token = 0;
    pthread_mutex_unlock(&b->mu);
    signed_frame(0x58, T1, "defer-reject", &f);
    raw_send(r, &f);
    token = wait_token(b);
    assert_true(token != 0);
    assert_int_equal(bm_floodsub_validation_done(b->fs, token,
                                                 BM_FLOODSUB_REJECT),
                     BM_OK);
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_REJECTED, 1));

    /* Deferred and never answered: dropped when the timeout passes, with
     * nothing else arriving (a host timer), not before. */
    pthread_mutex_lock(&b->mu);
    b->last_token = 0;
    pthread_mutex_unlock(&b->mu);
    signed_frame(0x58, T1, "defer-never", &f);
    raw_send(r, &f);
    token = wait_token(b);
    assert_true(token != 0);
    t0 = bm_clock_now_ms();
    assert_true(wait_drop(b, BM_FLOODSUB_DROP_TIMEOUT, 1));
    assert_true(bm_clock_now_ms() - t0 + 20 >= 300);
    /* Answered too late: ignored. */
    assert_int_equal(bm_floodsub_validation_done(b->fs, token,
                                                 BM_FLOODSUB_ACCEPT),
                     BM_OK);
    gu_sleep(100);
    assert_int_equal(fstats(b).dropped[BM_FLOODSUB_DROP_TIMEOUT], 1);
    assert_int_equal(inbox(c), 1);
    assert_int_equal(fstats(b).forwarded, 1);
    bm_buf_release(&h);
    bm_buf_release(&f);
    raw_free(r);
    gnode_free(b);
    gnode_free(c);
}

/* A newer stream from the same peer replaces the older one; our stream to
 * a peer that keeps resetting it is reopened 4 times with Go's backoff (at
 * once, then >= 100, >= 200, >= 400 ms apart), then left alone. */
static void streams_replace_and_reopen(void **state)
{
    static const uint64_t min_gap[4] = {0, 100, 200, 400};
    struct gnode *b = gnode_new(0x42, NULL);
    struct raw *r = raw_new(0x52);
    struct bm_buf h = {NULL, 0};
    struct bm_floodsub_stats sb;

    (void)state;
    pthread_mutex_lock(&r->mu);
    r->reset_in = 100;
    pthread_mutex_unlock(&r->mu);
    assert_int_equal(gu_dial(&r->host, &b->host), BM_OK);
    assert_true(raw_wait(r, &r->in_opened, 5));
    gu_sleep(1500); /* more than a fifth delay would be (800-1000 ms) */
    assert_int_equal(raw_get(r, &r->in_opened), 5);
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < 4; i++) {
        uint64_t gap = r->in_opened_ms[i + 1] - r->in_opened_ms[i];

        print_message("reopen %d after %llu ms\n", i + 1,
                      (unsigned long long)gap);
        assert_true(gap >= min_gap[i]);
    }
    pthread_mutex_unlock(&r->mu);
    sb = fstats(b);
    assert_int_equal(sb.streams_opened, 5);
    assert_int_equal(sb.streams_reopened, 4);

    hello(T1, &h);
    raw_open(r, &b->host.id, &h);
    assert_true(sees_sub(b, &r->host.id, T1));
    raw_open(r, &b->host.id, &h);
    assert_true(raw_wait(r, &r->out_closed, 1));
    pthread_mutex_lock(&r->mu);
    assert_int_equal(r->out_close_reason, BM_ECANCELED);
    assert_int_equal(r->out_bytes, 0);
    pthread_mutex_unlock(&r->mu);
    assert_int_equal(fstats(b).streams_replaced, 1);
    assert_true(sees_sub(b, &r->host.id, T1));
    assert_int_equal(fstats(b).peers, 1);
    bm_buf_release(&h);
    raw_free(r);
    gnode_free(b);
}

/* ------------------------------------------------------------ publish */

struct blocker {
    struct gu_sync release;
    struct gu_sync entered;
};

static void block_loop(struct bm_p2p_host *h, void *arg)
{
    struct blocker *bl = arg;

    (void)h;
    gu_sync_done(&bl->entered, BM_OK);
    (void)gu_sync_wait(&bl->release, GU_WAIT_MS);
}

/* The publish queue is bounded: a full queue is an error the caller sees,
 * counted, never a wait. */
static void publish_queue_bound(void **state)
{
    struct gtweak tw = {.publish_queue = 2};
    struct gnode *a = gnode_new(0x41, &tw);
    struct gnode *b = gnode_new(0x42, NULL);
    struct blocker bl;

    (void)state;
    assert_int_equal(gu_dial(&a->host, &b->host), BM_OK);
    assert_true(sees_sub(a, &b->host.id, T1));
    gu_sync_init(&bl.release);
    gu_sync_init(&bl.entered);
    assert_int_equal(bm_p2p_host_post(a->host.h, block_loop, &bl), BM_OK);
    assert_int_equal(gu_sync_wait(&bl.entered, GU_WAIT_MS), BM_OK);
    assert_int_equal(bm_floodsub_publish(a->fs, T1, (const uint8_t *)"1", 1),
                     BM_OK);
    assert_int_equal(bm_floodsub_publish(a->fs, T1, (const uint8_t *)"2", 1),
                     BM_OK);
    assert_int_equal(bm_floodsub_publish(a->fs, T1, (const uint8_t *)"3", 1),
                     BM_EFULL);
    assert_int_equal(fstats(a).publish_refused, 1);
    gu_sync_done(&bl.release, BM_OK);
    assert_true(wait_inbox(b, 2));
    gu_sleep(100);
    assert_int_equal(inbox(b), 2);
    assert_int_equal(fstats(a).published, 2);
    /* Room again. */
    assert_int_equal(bm_floodsub_publish(a->fs, T1, (const uint8_t *)"4", 1),
                     BM_OK);
    assert_true(wait_inbox(b, 3));
    gu_sync_release(&bl.release);
    gu_sync_release(&bl.entered);
    gnode_free(a);
    gnode_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_relay_exactly_once),
        cmocka_unit_test(line_large_message),
        cmocka_unit_test(raw_bad_messages),
        cmocka_unit_test(raw_oversized_frame),
        cmocka_unit_test(raw_repeated_rejects),
        cmocka_unit_test(validator_verdicts),
        cmocka_unit_test(streams_replace_and_reopen),
        cmocka_unit_test(publish_queue_bound),
    };

    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(bm_crypto_init(), BM_OK);
    return BM_TEST_RUN(tests);
}
