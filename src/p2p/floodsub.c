/*
 * FloodSub router on the host: peers, their two one-way streams, frames,
 * the receive pipeline, forwarding, publishing from actors, deferred
 * validation. See floodsub.h for the rules and docs/P2P-GOSSIP.md.
 *
 * Everything below runs on the host's loop thread, except the three
 * any-thread entry points (publish, validation_done, stats), which touch
 * only atomics and immutable fields and hand the rest to the loop with
 * bm_p2p_host_post.
 *
 * Lifetime of a peer record: created when the peer connects (or first
 * opens a stream); `refs` counts the streams whose user data points at it;
 * freed once it is disconnected and no stream refers to it.
 */
#include "p2p/floodsub.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "p2p/frame_reader.h"
#include "p2p/seen_cache.h"
#include "p2p/yamux.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

static const char *const drop_names[BM_FLOODSUB_DROP_COUNT] = {
    "unsubscribed",  "no_signature", "self_origin",
    "duplicate",     "bad_signature", "rejected",
    "ignored",       "overload",     "validation_timeout",
};

const char *bm_floodsub_drop_name(enum bm_floodsub_drop d)
{
    return (unsigned)d < BM_FLOODSUB_DROP_COUNT ? drop_names[d] : "unknown";
}

struct fs_topic {
    char *name;
    size_t len;
    const struct bm_floodsub_topic *ops;
    void *arg;
};

struct fs_peer {
    struct fs_peer *next;
    struct bm_floodsub *fs;
    struct bm_peer_id id;
    unsigned refs;               /* streams whose user data points here */
    bool connected;
    struct bm_p2p_stream *in;    /* its stream: we only read */
    struct bm_p2p_stream *out;   /* ours: we only write */
    bool out_open;               /* negotiated */
    struct bm_buf *pending;      /* RPCs waiting for out_open */
    size_t n_pending;
    size_t pending_bytes;
    bool unsupported;            /* answered "na" */
    bool gave_up;                /* too many reopens */
    /* Go's dead-peer backoff: reopen attempts, the last delay, when the
     * last one was made; a pending reopen. */
    unsigned respawns;
    uint64_t backoff_ms;
    uint64_t respawn_last;
    struct bm_p2p_timer_id respawn;
    char **topics;               /* announced by the peer */
    size_t n_topics;
    uint32_t rejects;
    uint64_t reject_since;
};

/* User data of one FloodSub stream. */
struct fs_stream {
    struct fs_peer *p;
    bool inbound;
    bool dead;                   /* reset by us; ignore further bytes */
    struct bm_frame_reader rx;   /* inbound frames */
    struct bm_p2p_stream *s;     /* the stream (inbound) */
    struct bm_floodsub *fs;
};

struct fs_deferred {
    struct fs_deferred *next;
    uint64_t token;
    uint64_t t_ms;
    struct fs_topic *topic;
    struct bm_peer_id source;
    struct bm_peer_id from;
    struct bm_buf raw;           /* the Message, as received */
};

struct fs_counters {
    atomic_uint_fast64_t published;
    atomic_uint_fast64_t publish_refused;
    atomic_uint_fast64_t sent;
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t delivered;
    atomic_uint_fast64_t forwarded;
    atomic_uint_fast64_t dropped[BM_FLOODSUB_DROP_COUNT];
    atomic_uint_fast64_t rpcs_received;
    atomic_uint_fast64_t rpc_too_big;
    atomic_uint_fast64_t rpc_invalid;
    atomic_uint_fast64_t send_dropped;
    atomic_uint_fast64_t peers_disconnected;
    atomic_uint_fast64_t streams_opened;
    atomic_uint_fast64_t streams_reopened;
    atomic_uint_fast64_t streams_replaced;
    atomic_uint_fast64_t seen_evicted;
    atomic_uint_fast64_t peers;
};

#define INC(fs, f) atomic_fetch_add_explicit(&(fs)->cnt.f, 1, memory_order_relaxed)
#define ADD(fs, f, v)                                                          \
    atomic_fetch_add_explicit(&(fs)->cnt.f, (v), memory_order_relaxed)
#define DEC(fs, f) atomic_fetch_sub_explicit(&(fs)->cnt.f, 1, memory_order_relaxed)

struct bm_floodsub {
    struct bm_p2p_host *h;
    const struct bm_privkey *key; /* the host's (immutable) */
    struct bm_peer_id self;
    struct bm_floodsub_config cfg;
    struct fs_topic topics[BM_FLOODSUB_MAX_TOPICS];
    size_t n_topics;
    struct fs_peer *peers;
    struct bm_seen_cache *seen;
    struct fs_deferred *def_head;  /* oldest first */
    struct fs_deferred *def_tail;
    size_t n_def;
    struct bm_p2p_timer_id def_timer; /* the oldest one's expiry */
    uint64_t def_timer_at;
    uint64_t next_token;
    atomic_uint_fast64_t seqno;
    atomic_size_t pub_count;
    atomic_size_t pub_bytes;
    struct fs_counters cnt;
};

/* ------------------------------------------------------------ helpers */

static uint64_t now_ms(const struct bm_floodsub *fs)
{
    return bm_p2p_host_now_ms(fs->h);
}

static struct fs_topic *find_topic(struct bm_floodsub *fs, const uint8_t *t,
                                   size_t len)
{
    for (size_t i = 0; i < fs->n_topics; i++) {
        if (fs->topics[i].len == len && memcmp(fs->topics[i].name, t, len) == 0) {
            return &fs->topics[i];
        }
    }
    return NULL;
}

static struct fs_peer *find_peer(struct bm_floodsub *fs,
                                 const struct bm_peer_id *id)
{
    for (struct fs_peer *p = fs->peers; p != NULL; p = p->next) {
        if (bm_peer_id_eq(&p->id, id)) {
            return p;
        }
    }
    return NULL;
}

/* The record of peer id, created if needed (NULL only on ENOMEM). */
static struct fs_peer *get_peer(struct bm_floodsub *fs,
                                const struct bm_peer_id *id)
{
    struct fs_peer *p = find_peer(fs, id);

    if (p != NULL) {
        return p;
    }
    p = bm_calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->id = *id;
    p->fs = fs;
    p->next = fs->peers;
    fs->peers = p;
    return p;
}

static void clear_topics(struct fs_peer *p)
{
    for (size_t i = 0; i < p->n_topics; i++) {
        bm_free(p->topics[i]);
    }
    bm_free(p->topics);
    p->topics = NULL;
    p->n_topics = 0;
}

static void drop_pending(struct bm_floodsub *fs, struct fs_peer *p)
{
    if (p->n_pending > 0) {
        ADD(fs, send_dropped, p->n_pending);
    }
    for (size_t i = 0; i < p->n_pending; i++) {
        bm_buf_release(&p->pending[i]);
    }
    bm_free(p->pending);
    p->pending = NULL;
    p->n_pending = 0;
    p->pending_bytes = 0;
}

static void free_peer(struct bm_floodsub *fs, struct fs_peer *p)
{
    clear_topics(p);
    drop_pending(fs, p);
    bm_free(p);
}

/* Frees p if it is gone: disconnected and no stream refers to it. */
static void maybe_free(struct bm_floodsub *fs, struct fs_peer *p)
{
    struct fs_peer **pp = &fs->peers;

    if (p->connected || p->refs > 0) {
        return;
    }
    (void)bm_p2p_host_timer_cancel(fs->h, p->respawn);
    while (*pp != NULL && *pp != p) {
        pp = &(*pp)->next;
    }
    if (*pp == p) {
        *pp = p->next;
    }
    free_peer(fs, p);
}

static bool peer_has_topic(const struct fs_peer *p, const char *t, size_t len)
{
    for (size_t i = 0; i < p->n_topics; i++) {
        if (strlen(p->topics[i]) == len && memcmp(p->topics[i], t, len) == 0) {
            return true;
        }
    }
    return false;
}

static void peer_subscription(struct bm_floodsub *fs, struct fs_peer *p,
                              const struct bm_floodsub_subopt *so)
{
    char **nt;

    if (!so->has_topic || so->topic_len == 0 ||
        so->topic_len > BM_FLOODSUB_TOPIC_MAX) {
        return;
    }
    for (size_t i = 0; i < p->n_topics; i++) {
        if (strlen(p->topics[i]) == so->topic_len &&
            memcmp(p->topics[i], so->topic, so->topic_len) == 0) {
            if (!so->subscribe) {
                bm_free(p->topics[i]);
                p->topics[i] = p->topics[--p->n_topics];
            }
            return;
        }
    }
    if (!so->subscribe || p->n_topics >= fs->cfg.peer_topics_max ||
        memchr(so->topic, 0, so->topic_len) != NULL) {
        return;
    }
    nt = bm_realloc(p->topics, (p->n_topics + 1) * sizeof(*nt));
    if (nt == NULL) {
        return;
    }
    p->topics = nt;
    nt[p->n_topics] = bm_strndup((const char *)so->topic, so->topic_len);
    if (nt[p->n_topics] != NULL) {
        p->n_topics++;
    }
}

/* A peer sent something provably bad: count it, and disconnect it after
 * reject_limit within reject_window_ms. */
static void penalize(struct bm_floodsub *fs, struct fs_peer *p,
                     const char *what)
{
    uint64_t now = now_ms(fs);
    char idtext[BM_PEER_ID_STR_SIZE];

    if (p->rejects == 0 || now - p->reject_since > fs->cfg.reject_window_ms) {
        p->rejects = 0;
        p->reject_since = now;
    }
    p->rejects++;
    bm_peer_id_format(&p->id, idtext);
    bm_log_debug("floodsub", "bad message from peer=%s why=%s count=%u",
                 idtext, what, (unsigned)p->rejects);
    if (p->rejects >= fs->cfg.reject_limit) {
        p->rejects = 0;
        INC(fs, peers_disconnected);
        bm_log_warn("floodsub", "disconnecting peer=%s after %u rejected "
                    "messages in %llu ms (last: %s)", idtext,
                    (unsigned)fs->cfg.reject_limit,
                    (unsigned long long)fs->cfg.reject_window_ms, what);
        (void)bm_p2p_host_disconnect_loop(fs->h, &p->id);
    }
}

/* ------------------------------------------------------------ our stream */

static const struct bm_p2p_handler out_handler;

static void open_out(struct bm_floodsub *fs, struct fs_peer *p)
{
    struct bm_p2p_stream *s = NULL;
    struct fs_stream *ctx;
    int err;

    if (p->out != NULL || !p->connected || p->unsupported || p->gave_up) {
        return;
    }
    ctx = bm_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return;
    }
    err = bm_p2p_host_open_stream_loop(fs->h, &p->id, BM_FLOODSUB_PROTOCOL,
                                       &out_handler, fs, &s);
    if (err != BM_OK) {
        bm_free(ctx);
        bm_log_debug("floodsub", "cannot open stream err=%s",
                     bm_err_name(err));
        return;
    }
    ctx->p = p;
    bm_p2p_stream_set_user(s, ctx);
    p->out = s;
    p->out_open = false;
    p->refs++;
    INC(fs, streams_opened);
}

/* Writes one frame f[0..len) (borrowed) on p's stream, opening it or
 * queueing while it negotiates. Returns true if written or queued. */
static bool send_frame(struct bm_floodsub *fs, struct fs_peer *p,
                       const uint8_t *f, size_t len)
{
    if (p->out == NULL && p->respawn.v == 0) {
        open_out(fs, p);
    }
    if (p->out == NULL && p->respawn.v == 0) {
        INC(fs, send_dropped);
        return false;
    }
    /* Negotiating, or waiting for a reopen: queue (as Go's peer queue
     * keeps what is written meanwhile). */
    if (!p->out_open) {
        struct bm_buf *slot;

        if (p->n_pending >= fs->cfg.out_pending_max ||
            p->pending_bytes + len > 2 * fs->cfg.max_rpc + 64) {
            INC(fs, send_dropped);
            return false;
        }
        if (p->pending == NULL) {
            p->pending = bm_calloc(fs->cfg.out_pending_max, sizeof(*slot));
            if (p->pending == NULL) {
                INC(fs, send_dropped);
                return false;
            }
        }
        slot = &p->pending[p->n_pending];
        if (bm_buf_set(slot, f, len) != BM_OK) {
            INC(fs, send_dropped);
            return false;
        }
        p->n_pending++;
        p->pending_bytes += len;
        return true;
    }
    if (bm_p2p_stream_write(p->out, f, len) != BM_OK) {
        INC(fs, send_dropped); /* connection queue full (slow peer), closing */
        return false;
    }
    return true;
}

static void write_hello(struct bm_floodsub *fs, struct fs_peer *p)
{
    const char *names[BM_FLOODSUB_MAX_TOPICS];
    struct bm_buf hello = {NULL, 0};

    for (size_t i = 0; i < fs->n_topics; i++) {
        names[i] = fs->topics[i].name;
    }
    if (fs->n_topics == 0 ||
        bm_floodsub_frame_subs(names, fs->n_topics, true, fs->cfg.max_rpc,
                               &hello) != BM_OK) {
        return; /* Go writes no hello without subscriptions either */
    }
    if (bm_p2p_stream_write(p->out, hello.ptr, hello.len) != BM_OK) {
        INC(fs, send_dropped);
    }
    bm_buf_release(&hello);
}

static void out_open(struct bm_p2p_stream *s, void *arg)
{
    struct bm_floodsub *fs = arg;
    struct fs_stream *ctx = bm_p2p_stream_user(s);
    struct fs_peer *p = ctx->p;

    if (p->out != s) {
        return;
    }
    p->out_open = true;
    write_hello(fs, p);
    for (size_t i = 0; i < p->n_pending; i++) {
        if (bm_p2p_stream_write(s, p->pending[i].ptr, p->pending[i].len) !=
            BM_OK) {
            INC(fs, send_dropped);
        }
        bm_buf_release(&p->pending[i]);
    }
    p->n_pending = 0;
    p->pending_bytes = 0;
}

/* The peer never writes on our stream (Go resets it if it does); bytes are
 * discarded. */
static void out_data(struct bm_p2p_stream *s, const uint8_t *d, size_t n,
                     void *arg)
{
    (void)s;
    (void)d;
    (void)n;
    (void)arg;
}

static void respawn_run(struct bm_p2p_host *h, void *arg)
{
    struct fs_peer *p = arg;
    struct bm_floodsub *fs = p->fs;

    (void)h;
    p->respawn.v = 0;
    if (p->out != NULL) {
        return; /* reopened meanwhile (it reconnected or identified) */
    }
    if (p->connected && bm_p2p_host_connected_loop(fs->h, &p->id)) {
        open_out(fs, p);
        if (p->out != NULL) {
            INC(fs, streams_reopened);
            return;
        }
    }
    drop_pending(fs, p);
    maybe_free(fs, p);
}

/*
 * Our stream to p died while p is still connected: reopen it after Go's
 * backoff (pubsub's deadPeerBackoff): at once the first time, then after
 * 100 ms, then doubling plus a random 0-99 ms, at most 10 s; at most
 * BM_FLOODSUB_RESPAWN_MAX attempts, counted afresh once the last one is
 * more than BM_FLOODSUB_RESPAWN_WINDOW_MS old. After that it is not
 * reopened until p reconnects or identifies again. RPCs for p wait in its
 * queue meanwhile.
 */
static void respawn(struct bm_floodsub *fs, struct fs_peer *p)
{
    uint64_t now = now_ms(fs);
    uint64_t delay;

    if (p->respawn.v != 0) {
        return;
    }
    if (p->respawns == 0 ||
        now - p->respawn_last > BM_FLOODSUB_RESPAWN_WINDOW_MS) {
        p->respawns = 0;
        p->backoff_ms = 0;
    } else if (p->respawns >= BM_FLOODSUB_RESPAWN_MAX) {
        p->gave_up = true;
        bm_log_info("floodsub", "stream to peer died %u times: not "
                    "reopened until it reconnects",
                    (unsigned)BM_FLOODSUB_RESPAWN_MAX + 1);
        return;
    } else if (p->backoff_ms < BM_FLOODSUB_BACKOFF_MIN_MS) {
        p->backoff_ms = BM_FLOODSUB_BACKOFF_MIN_MS;
    } else if (p->backoff_ms < BM_FLOODSUB_BACKOFF_MAX_MS) {
        p->backoff_ms = 2 * p->backoff_ms +
                        randombytes_uniform(BM_FLOODSUB_BACKOFF_JITTER_MS);
        if (p->backoff_ms > BM_FLOODSUB_BACKOFF_MAX_MS) {
            p->backoff_ms = BM_FLOODSUB_BACKOFF_MAX_MS;
        }
    }
    p->respawns++;
    p->respawn_last = now;
    delay = p->backoff_ms;
    if (delay == 0) {
        open_out(fs, p);
        if (p->out != NULL) {
            INC(fs, streams_reopened);
        }
        return;
    }
    if (bm_p2p_host_timer_add(fs->h, delay, 0, respawn_run, p,
                              &p->respawn) != BM_OK) {
        p->respawn.v = 0; /* no timer: reopened when it reconnects */
    }
}

static void out_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct bm_floodsub *fs = arg;
    struct fs_stream *ctx = bm_p2p_stream_user(s);
    struct fs_peer *p = ctx->p;

    bm_free(ctx);
    p->refs--;
    if (p->out == s) {
        p->out = NULL;
        p->out_open = false;
        drop_pending(fs, p);
        if (reason == BM_ENOPROTO || reason == BM_EPROTO) {
            p->unsupported = true; /* until it identifies with floodsub */
        } else if (p->connected && bm_p2p_host_connected_loop(fs->h, &p->id)) {
            respawn(fs, p);
        }
    }
    maybe_free(fs, p);
}

static const struct bm_p2p_handler out_handler = {
    .on_open = out_open,
    .on_data = out_data,
    .on_close = out_close,
};

/* ------------------------------------------------------------ receiving */

/* Writes raw (a Message) to every peer that announced topic, except the
 * source and the author. */
static void forward(struct bm_floodsub *fs, const struct fs_topic *t,
                    const uint8_t *raw, size_t len,
                    const struct bm_peer_id *source,
                    const struct bm_peer_id *from)
{
    struct bm_buf frame = {NULL, 0};

    for (struct fs_peer *p = fs->peers; p != NULL; p = p->next) {
        if (!p->connected || bm_peer_id_eq(&p->id, source) ||
            bm_peer_id_eq(&p->id, from) ||
            !peer_has_topic(p, t->name, t->len)) {
            continue;
        }
        if (frame.ptr == NULL &&
            bm_floodsub_frame_forward(raw, len, fs->cfg.max_rpc, &frame) !=
                BM_OK) {
            INC(fs, send_dropped);
            return;
        }
        if (send_frame(fs, p, frame.ptr, frame.len)) {
            INC(fs, forwarded);
        }
    }
    bm_buf_release(&frame);
}

static void accept_msg(struct bm_floodsub *fs, const struct fs_topic *t,
                       const struct bm_floodsub_msg *m, const uint8_t *raw,
                       size_t raw_len)
{
    INC(fs, delivered);
    if (t->ops != NULL && t->ops->deliver != NULL) {
        t->ops->deliver(m, t->arg);
    }
    forward(fs, t, raw, raw_len, &m->source, &m->from);
}

static void fill_msg(struct bm_floodsub_msg *m, const struct fs_topic *t,
                     const struct bm_floodsub_wire *w,
                     const struct bm_peer_id *from,
                     const struct bm_peer_id *source)
{
    memset(m, 0, sizeof(*m));
    m->from = *from;
    m->source = *source;
    m->topic = t->name;
    m->data = w->data;
    m->data_len = w->data_len;
    m->seqno = w->seqno;
    m->seqno_len = w->seqno_len;
}

static void drop(struct bm_floodsub *fs, enum bm_floodsub_drop why)
{
    INC(fs, dropped[why]);
}

static void expire_deferred(struct bm_floodsub *fs);

static void expiry_run(struct bm_p2p_host *h, void *arg)
{
    struct bm_floodsub *fs = arg;

    (void)h;
    fs->def_timer.v = 0;
    expire_deferred(fs);
}

/* Keeps one timer at the oldest deferred validation's deadline, so an
 * answer that never comes is dropped (and counted) on time rather than
 * at the next event. */
static void arm_expiry(struct bm_floodsub *fs)
{
    uint64_t at, now = now_ms(fs);

    if (fs->def_head == NULL) {
        (void)bm_p2p_host_timer_cancel(fs->h, fs->def_timer);
        fs->def_timer.v = 0;
        return;
    }
    at = fs->def_head->t_ms + fs->cfg.defer_timeout_ms;
    if (fs->def_timer.v != 0 && fs->def_timer_at == at) {
        return;
    }
    (void)bm_p2p_host_timer_cancel(fs->h, fs->def_timer);
    fs->def_timer_at = at;
    if (bm_p2p_host_timer_add(fs->h, at > now ? at - now : 0, 0, expiry_run,
                              fs, &fs->def_timer) != BM_OK) {
        fs->def_timer.v = 0; /* expired at the next deferral or verdict */
    }
}

/* Drops deferred validations older than defer_timeout_ms. */
static void expire_deferred(struct bm_floodsub *fs)
{
    uint64_t now = now_ms(fs);

    while (fs->def_head != NULL &&
           now - fs->def_head->t_ms >= fs->cfg.defer_timeout_ms) {
        struct fs_deferred *d = fs->def_head;

        fs->def_head = d->next;
        if (fs->def_head == NULL) {
            fs->def_tail = NULL;
        }
        fs->n_def--;
        drop(fs, BM_FLOODSUB_DROP_TIMEOUT);
        bm_buf_release(&d->raw);
        bm_free(d);
    }
    arm_expiry(fs);
}

static void defer_msg(struct bm_floodsub *fs, struct fs_topic *t,
                      const struct bm_floodsub_msg *m,
                      const struct bm_floodsub_wire *w)
{
    struct fs_deferred *d;

    expire_deferred(fs);
    if (fs->n_def >= fs->cfg.max_deferred) {
        drop(fs, BM_FLOODSUB_DROP_OVERLOAD);
        return;
    }
    d = bm_calloc(1, sizeof(*d));
    if (d == NULL || bm_buf_set(&d->raw, w->raw, w->raw_len) != BM_OK) {
        bm_free(d);
        drop(fs, BM_FLOODSUB_DROP_OVERLOAD);
        return;
    }
    d->token = m->token;
    d->t_ms = now_ms(fs);
    d->topic = t;
    d->source = m->source;
    d->from = m->from;
    if (fs->def_tail != NULL) {
        fs->def_tail->next = d;
    } else {
        fs->def_head = d;
    }
    fs->def_tail = d;
    fs->n_def++;
    arm_expiry(fs);
}

/* Spec 8.5 for one Message from peer src. */
static void process_msg(struct bm_floodsub *fs, struct fs_peer *src,
                        const struct bm_floodsub_wire *w)
{
    struct fs_topic *t;
    struct bm_peer_id from;
    struct bm_floodsub_msg m;
    enum bm_floodsub_verdict v;
    uint64_t now = now_ms(fs);
    enum bm_err err;

    INC(fs, received);
    t = w->has_topic ? find_topic(fs, w->topic, w->topic_len) : NULL;
    if (t == NULL) {
        drop(fs, BM_FLOODSUB_DROP_UNSUBSCRIBED);
        return;
    }
    if (!w->has_signature) {
        drop(fs, BM_FLOODSUB_DROP_NO_SIGNATURE);
        penalize(fs, src, "no_signature");
        return;
    }
    if (w->from_len == BM_PEER_ID_SIZE &&
        memcmp(w->from, fs->self.b, BM_PEER_ID_SIZE) == 0) {
        drop(fs, BM_FLOODSUB_DROP_SELF);
        return;
    }
    if (bm_seen_cache_has(fs->seen, w->from, w->from_len, w->seqno,
                          w->seqno_len, now)) {
        drop(fs, BM_FLOODSUB_DROP_DUPLICATE);
        return;
    }
    err = bm_floodsub_verify(w, &from);
    if (err != BM_OK) {
        drop(fs, BM_FLOODSUB_DROP_BAD_SIGNATURE);
        penalize(fs, src, bm_err_name(err));
        return;
    }
    if (!bm_seen_cache_add(fs->seen, w->from, w->from_len, w->seqno,
                           w->seqno_len, now)) {
        drop(fs, BM_FLOODSUB_DROP_DUPLICATE);
        return;
    }
    atomic_store_explicit(&fs->cnt.seen_evicted,
                          bm_seen_cache_evicted(fs->seen),
                          memory_order_relaxed);
    fill_msg(&m, t, w, &from, &src->id);
    m.token = fs->next_token + 1;
    v = t->ops != NULL && t->ops->validate != NULL ? t->ops->validate(&m, t->arg)
                                                   : BM_FLOODSUB_ACCEPT;
    switch (v) {
    case BM_FLOODSUB_ACCEPT:
        accept_msg(fs, t, &m, w->raw, w->raw_len);
        break;
    case BM_FLOODSUB_IGNORE:
        drop(fs, BM_FLOODSUB_DROP_IGNORED);
        break;
    case BM_FLOODSUB_DEFER:
        fs->next_token++;
        defer_msg(fs, t, &m, w);
        break;
    default:
        drop(fs, BM_FLOODSUB_DROP_REJECTED);
        penalize(fs, src, "rejected");
        break;
    }
}

/* Kills an inbound stream that sent garbage (Go resets it too). */
static void kill_in(struct bm_floodsub *fs, struct bm_p2p_stream *s,
                    struct fs_stream *ctx, const char *what)
{
    ctx->dead = true;
    bm_p2p_stream_reset(s, BM_YAMUX_RESET_PROTOCOL);
    penalize(fs, ctx->p, what);
}

/* Still reading ctx's stream: not killed, not replaced, peer connected
 * (a penalty may have disconnected it in the middle of an RPC). */
static bool in_alive(const struct fs_stream *ctx)
{
    return !ctx->dead && ctx->p->in == ctx->s && ctx->p->connected;
}

/* One RPC body from the stream s. Returns false if s was killed. */
static bool handle_rpc(struct bm_floodsub *fs, struct bm_p2p_stream *s,
                       struct fs_stream *ctx, const uint8_t *p, size_t n)
{
    struct bm_floodsub_rpc_iter it;
    struct bm_floodsub_subopt so;
    struct bm_floodsub_wire w;

    if (n == 0) {
        return true; /* empty frames are skipped */
    }
    if (bm_floodsub_rpc_check(p, n, NULL, NULL) != BM_OK) {
        INC(fs, rpc_invalid);
        kill_in(fs, s, ctx, "rpc_invalid");
        return false;
    }
    INC(fs, rpcs_received);
    bm_floodsub_rpc_iter_init(&it, p, n);
    while (bm_floodsub_rpc_next_sub(&it, &so)) {
        peer_subscription(fs, ctx->p, &so);
    }
    bm_floodsub_rpc_iter_init(&it, p, n);
    while (in_alive(ctx) && bm_floodsub_rpc_next_msg(&it, &w)) {
        process_msg(fs, ctx->p, &w);
    }
    return in_alive(ctx);
}

static bool in_frame(void *arg, const uint8_t *p, size_t n)
{
    struct fs_stream *ctx = arg;

    return handle_rpc(ctx->fs, ctx->s, ctx, p, n);
}

static void in_frames(struct bm_floodsub *fs, struct bm_p2p_stream *s,
                      struct fs_stream *ctx, const uint8_t *p, size_t n)
{
    enum bm_err err = bm_frame_reader_feed(&ctx->rx, p, n, in_frame, ctx);

    if (err == BM_OK) {
        return;
    }
    if (err == BM_ETOOBIG) {
        INC(fs, rpc_too_big);
    } else {
        INC(fs, rpc_invalid);
    }
    if (!ctx->dead) {
        kill_in(fs, s, ctx, err == BM_ETOOBIG ? "rpc_too_big"
                                              : "rpc_invalid");
    }
}

/* ------------------------------------------------------------ its stream */

static void in_open(struct bm_p2p_stream *s, void *arg)
{
    struct bm_floodsub *fs = arg;
    struct fs_peer *p = get_peer(fs, bm_p2p_stream_peer(s));
    struct fs_stream *ctx = p != NULL ? bm_calloc(1, sizeof(*ctx)) : NULL;

    if (ctx == NULL) {
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_LIMIT);
        if (p != NULL) {
            maybe_free(fs, p);
        }
        return;
    }
    p->connected = true;
    if (p->in != NULL) {
        /* A newer stream replaces the old one (Go resets it too). */
        struct bm_p2p_stream *old = p->in;
        struct fs_stream *octx = bm_p2p_stream_user(old);

        octx->dead = true;
        p->in = NULL;
        clear_topics(p);
        bm_p2p_stream_reset(old, BM_YAMUX_RESET_NONE);
        INC(fs, streams_replaced);
    } else {
        INC(fs, peers);
    }
    ctx->p = p;
    ctx->inbound = true;
    ctx->s = s;
    ctx->fs = fs;
    bm_frame_reader_init(&ctx->rx, fs->cfg.max_rpc);
    bm_p2p_stream_set_user(s, ctx);
    p->in = s;
    p->refs++;
    /* It may have connected before it could speak FloodSub. */
    open_out(fs, p);
}

static void in_data(struct bm_p2p_stream *s, const uint8_t *d, size_t n,
                    void *arg)
{
    struct fs_stream *ctx = bm_p2p_stream_user(s);

    if (ctx != NULL && !ctx->dead) {
        in_frames(arg, s, ctx, d, n);
    }
}

/* The peer closed its stream: we close our side of it (never before). */
static void in_eof(struct bm_p2p_stream *s, void *arg)
{
    (void)arg;
    (void)bm_p2p_stream_close(s);
}

static void in_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct bm_floodsub *fs = arg;
    struct fs_stream *ctx = bm_p2p_stream_user(s);
    struct fs_peer *p;

    (void)reason;
    if (ctx == NULL) {
        return;
    }
    p = ctx->p;
    if (p->in == s) {
        p->in = NULL;
        clear_topics(p); /* spec 8.3: its subscriptions end with it */
        DEC(fs, peers);
    }
    bm_frame_reader_release(&ctx->rx);
    bm_free(ctx);
    p->refs--;
    maybe_free(fs, p);
}

static const struct bm_p2p_handler in_handler = {
    .on_open = in_open,
    .on_data = in_data,
    .on_eof = in_eof,
    .on_close = in_close,
};

/* ------------------------------------------------------------ connections */

static void on_connected(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                         const struct bm_peer_id *peer, bool inbound,
                         void *arg)
{
    struct bm_floodsub *fs = arg;
    struct fs_peer *p = get_peer(fs, peer);

    (void)h;
    (void)conn;
    (void)inbound;
    if (p == NULL) {
        return;
    }
    if (!p->connected) {
        /* A new peer, as Go's handleNewPeer: our stream is opened at once;
         * the reopen history (respawns) is kept, as Go keeps its
         * backoff until it expires. */
        p->connected = true;
        p->gave_up = false;
        p->unsupported = false;
    }
    open_out(fs, p);
}

static void on_identified(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                          const struct bm_peer_id *peer,
                          const struct bm_identify *id, void *arg)
{
    struct bm_floodsub *fs = arg;
    struct fs_peer *p;

    (void)h;
    (void)conn;
    if (!bm_identify_has_protocol(id, BM_FLOODSUB_PROTOCOL)) {
        return;
    }
    p = find_peer(fs, peer);
    if (p == NULL) {
        return;
    }
    p->unsupported = false;
    p->gave_up = false;
    open_out(fs, p);
}

static void on_disconnected(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                            const struct bm_peer_id *peer, int reason,
                            const char *reason_name, void *arg)
{
    struct bm_floodsub *fs = arg;
    struct fs_peer *p = find_peer(fs, peer);

    (void)conn;
    (void)reason;
    (void)reason_name;
    if (p == NULL || bm_p2p_host_connected_loop(h, peer)) {
        return;
    }
    p->connected = false;
    maybe_free(fs, p);
}

static const struct bm_p2p_listener listener = {
    .on_connected = on_connected,
    .on_identified = on_identified,
    .on_disconnected = on_disconnected,
};

/* ------------------------------------------------------------ lifecycle */

void bm_floodsub_config_init(struct bm_floodsub_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_rpc = BM_FLOODSUB_MAX_RPC_DEFAULT;
    cfg->seen_ttl_ms = BM_FLOODSUB_SEEN_TTL_MS;
    cfg->seen_max = BM_FLOODSUB_SEEN_MAX;
    cfg->reject_limit = BM_FLOODSUB_REJECT_LIMIT;
    cfg->reject_window_ms = BM_FLOODSUB_REJECT_WINDOW_MS;
    cfg->publish_queue = BM_FLOODSUB_PUBLISH_QUEUE;
    cfg->publish_queue_bytes = BM_FLOODSUB_PUBLISH_QUEUE_BYTES;
    cfg->max_deferred = BM_FLOODSUB_MAX_DEFERRED;
    cfg->defer_timeout_ms = BM_FLOODSUB_DEFER_TIMEOUT_MS;
    cfg->peer_topics_max = BM_FLOODSUB_PEER_TOPICS_MAX;
    cfg->out_pending_max = BM_FLOODSUB_OUT_PENDING_MAX;
}

/* Replaces zeros by defaults. */
static void apply_defaults(struct bm_floodsub_config *c)
{
    struct bm_floodsub_config d;

    bm_floodsub_config_init(&d);
#define DEF_(f)                                                                \
    if (c->f == 0) {                                                           \
        c->f = d.f;                                                            \
    }
    DEF_(max_rpc)
    DEF_(seen_ttl_ms)
    DEF_(seen_max)
    DEF_(reject_limit)
    DEF_(reject_window_ms)
    DEF_(publish_queue)
    DEF_(publish_queue_bytes)
    DEF_(max_deferred)
    DEF_(defer_timeout_ms)
    DEF_(peer_topics_max)
    DEF_(out_pending_max)
#undef DEF_
}

/* Go's seqno start: the Unix time in ns (unique across restarts). */
static uint64_t unix_ns(void)
{
    return bm_clock_wall_ns();
}

int bm_floodsub_new(struct bm_floodsub **out, struct bm_p2p_host *h,
                    const struct bm_floodsub_config *cfg,
                    struct bm_errmsg *em)
{
    struct bm_floodsub *fs;
    int err;

    *out = NULL;
    if (cfg == NULL || h == NULL) {
        return bm_errf(em, BM_EINVAL, "floodsub: no host or config");
    }
    fs = bm_calloc(1, sizeof(*fs));
    if (fs == NULL) {
        return BM_ENOMEM;
    }
    fs->h = h;
    fs->key = bm_p2p_host_identity(h);
    fs->self = *bm_p2p_host_id(h);
    fs->cfg = *cfg;
    apply_defaults(&fs->cfg);
    atomic_init(&fs->seqno, unix_ns());
    err = bm_seen_cache_new(&fs->seen, fs->cfg.seen_max, fs->cfg.seen_ttl_ms);
    if (err == BM_OK) {
        err = bm_p2p_host_register(h, BM_FLOODSUB_PROTOCOL, &in_handler, fs);
    }
    if (err == BM_OK) {
        err = bm_p2p_host_add_listener(h, &listener, fs);
    }
    if (err != BM_OK) {
        bm_floodsub_free(fs);
        return bm_errf(em, err, "floodsub: cannot attach to the host: %s",
                       bm_strerror(err));
    }
    *out = fs;
    return BM_OK;
}

void bm_floodsub_free(struct bm_floodsub *fs)
{
    if (fs == NULL) {
        return;
    }
    while (fs->peers != NULL) {
        struct fs_peer *p = fs->peers;

        fs->peers = p->next;
        free_peer(fs, p);
    }
    while (fs->def_head != NULL) {
        struct fs_deferred *d = fs->def_head;

        fs->def_head = d->next;
        bm_buf_release(&d->raw);
        bm_free(d);
    }
    for (size_t i = 0; i < fs->n_topics; i++) {
        bm_free(fs->topics[i].name);
    }
    bm_seen_cache_free(fs->seen);
    bm_free(fs);
}

/* Sends RPC{subscriptions: [{subscribe, topic}]} to every peer. */
static void announce(struct bm_floodsub *fs, const char *topic,
                     bool subscribe)
{
    struct bm_buf f = {NULL, 0};

    if (fs->peers == NULL ||
        bm_floodsub_frame_subs(&topic, 1, subscribe, fs->cfg.max_rpc, &f) !=
            BM_OK) {
        return;
    }
    for (struct fs_peer *p = fs->peers; p != NULL; p = p->next) {
        /* A stream still negotiating sends the hello, which has it. */
        if (p->connected && p->out != NULL && p->out_open) {
            (void)send_frame(fs, p, f.ptr, f.len);
        } else if (p->connected && p->out == NULL && subscribe) {
            open_out(fs, p);
        }
    }
    bm_buf_release(&f);
}

int bm_floodsub_subscribe(struct bm_floodsub *fs, const char *topic,
                          const struct bm_floodsub_topic *ops, void *arg)
{
    size_t len = topic != NULL ? strlen(topic) : 0;
    struct fs_topic *t;

    if (len == 0 || len > BM_FLOODSUB_TOPIC_MAX) {
        return BM_EINVAL;
    }
    if (find_topic(fs, (const uint8_t *)topic, len) != NULL) {
        return BM_EEXIST;
    }
    if (fs->n_topics >= BM_FLOODSUB_MAX_TOPICS) {
        return BM_EFULL;
    }
    t = &fs->topics[fs->n_topics];
    t->name = bm_strdup(topic);
    if (t->name == NULL) {
        return BM_ENOMEM;
    }
    t->len = len;
    t->ops = ops;
    t->arg = arg;
    fs->n_topics++;
    announce(fs, topic, true);
    return BM_OK;
}

int bm_floodsub_unsubscribe(struct bm_floodsub *fs, const char *topic)
{
    struct fs_topic *t = find_topic(fs, (const uint8_t *)topic,
                                    topic != NULL ? strlen(topic) : 0);
    struct fs_deferred **dp = &fs->def_head;
    size_t idx;

    if (t == NULL) {
        return BM_ENOTFOUND;
    }
    announce(fs, topic, false);
    fs->def_tail = NULL;
    while (*dp != NULL) {
        struct fs_deferred *d = *dp;

        if (d->topic == t) {
            *dp = d->next;
            fs->n_def--;
            bm_buf_release(&d->raw);
            bm_free(d);
        } else {
            fs->def_tail = d;
            dp = &d->next;
        }
    }
    arm_expiry(fs);
    idx = (size_t)(t - fs->topics);
    bm_free(t->name);
    /* Keep the array dense; deferred entries of moved topics follow. */
    if (idx != fs->n_topics - 1) {
        struct fs_topic *last = &fs->topics[fs->n_topics - 1];

        for (struct fs_deferred *d = fs->def_head; d != NULL; d = d->next) {
            if (d->topic == last) {
                d->topic = t;
            }
        }
        *t = *last;
    }
    fs->n_topics--;
    return BM_OK;
}

/* ------------------------------------------------------------ publish */

struct pub_job {
    struct bm_floodsub *fs;
    struct bm_buf frame;
    uint8_t seqno[BM_FLOODSUB_SEQNO_SIZE];
    size_t topic_len;
    char topic[]; /* NUL-terminated */
};

static void pub_run(struct bm_p2p_host *h, void *arg)
{
    struct pub_job *j = arg;
    struct bm_floodsub *fs = j->fs;

    (void)h;
    atomic_fetch_sub_explicit(&fs->pub_count, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&fs->pub_bytes, j->frame.len,
                              memory_order_relaxed);
    /* Our own ID: a copy that comes back is a duplicate (and self). */
    (void)bm_seen_cache_add(fs->seen, fs->self.b, BM_PEER_ID_SIZE, j->seqno,
                            sizeof(j->seqno), now_ms(fs));
    INC(fs, published);
    for (struct fs_peer *p = fs->peers; p != NULL; p = p->next) {
        if (p->connected && peer_has_topic(p, j->topic, j->topic_len) &&
            send_frame(fs, p, j->frame.ptr, j->frame.len)) {
            INC(fs, sent);
        }
    }
    bm_buf_release(&j->frame);
    bm_free(j);
}

int bm_floodsub_publish(struct bm_floodsub *fs, const char *topic,
                        const uint8_t *data, size_t len)
{
    size_t tl = topic != NULL ? strlen(topic) : 0;
    size_t size, rpc;
    struct pub_job *j;
    uint64_t seq;
    int err;

    if (tl == 0 || tl > BM_FLOODSUB_TOPIC_MAX) {
        INC(fs, publish_refused);
        return BM_EINVAL;
    }
    if (len > fs->cfg.max_rpc) {
        INC(fs, publish_refused);
        return BM_ETOOBIG;
    }
    size = bm_floodsub_publish_size(tl, len, &rpc);
    if (rpc > fs->cfg.max_rpc) {
        INC(fs, publish_refused);
        return BM_ETOOBIG;
    }
    if (atomic_fetch_add_explicit(&fs->pub_count, 1, memory_order_relaxed) >=
        fs->cfg.publish_queue) {
        atomic_fetch_sub_explicit(&fs->pub_count, 1, memory_order_relaxed);
        INC(fs, publish_refused);
        return BM_EFULL;
    }
    if (atomic_fetch_add_explicit(&fs->pub_bytes, size, memory_order_relaxed) +
            size > fs->cfg.publish_queue_bytes) {
        err = BM_EFULL;
        goto undo;
    }
    j = bm_calloc(1, sizeof(*j) + tl + 1);
    if (j == NULL) {
        err = BM_ENOMEM;
        goto undo;
    }
    j->fs = fs;
    memcpy(j->topic, topic, tl + 1);
    j->topic_len = tl;
    seq = atomic_fetch_add_explicit(&fs->seqno, 1, memory_order_relaxed) + 1;
    bm_put_be64(j->seqno, seq);
    err = bm_floodsub_frame_publish_signed(fs->key, j->seqno,
                                           (const uint8_t *)topic, tl, data,
                                           len, fs->cfg.max_rpc, &j->frame);
    if (err == BM_OK) {
        err = bm_p2p_host_post(fs->h, pub_run, j);
    }
    if (err != BM_OK) {
        bm_buf_release(&j->frame);
        bm_free(j);
        goto undo;
    }
    return BM_OK;
undo:
    atomic_fetch_sub_explicit(&fs->pub_bytes, size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&fs->pub_count, 1, memory_order_relaxed);
    INC(fs, publish_refused);
    return err;
}

/* ------------------------------------------------------------ deferred */

struct verdict_job {
    struct bm_floodsub *fs;
    uint64_t token;
    enum bm_floodsub_verdict v;
};

static void verdict_run(struct bm_p2p_host *h, void *arg)
{
    struct verdict_job *j = arg;
    struct bm_floodsub *fs = j->fs;
    struct fs_deferred **dp = &fs->def_head, *d = NULL, *prev = NULL;

    (void)h;
    expire_deferred(fs);
    while (*dp != NULL && (*dp)->token != j->token) {
        prev = *dp;
        dp = &(*dp)->next;
    }
    d = *dp;
    if (d == NULL) {
        bm_free(j);
        return;
    }
    *dp = d->next;
    if (fs->def_tail == d) {
        fs->def_tail = prev;
    }
    fs->n_def--;
    arm_expiry(fs);
    if (j->v == BM_FLOODSUB_ACCEPT) {
        struct bm_floodsub_wire w;
        struct bm_floodsub_msg m;

        if (bm_floodsub_msg_decode(d->raw.ptr, d->raw.len, &w) == BM_OK) {
            fill_msg(&m, d->topic, &w, &d->from, &d->source);
            m.token = d->token;
            accept_msg(fs, d->topic, &m, d->raw.ptr, d->raw.len);
        }
    } else if (j->v == BM_FLOODSUB_IGNORE) {
        drop(fs, BM_FLOODSUB_DROP_IGNORED);
    } else {
        struct fs_peer *src = find_peer(fs, &d->source);

        drop(fs, BM_FLOODSUB_DROP_REJECTED);
        if (src != NULL && src->connected) {
            penalize(fs, src, "rejected");
        }
    }
    bm_buf_release(&d->raw);
    bm_free(d);
    bm_free(j);
}

int bm_floodsub_validation_done(struct bm_floodsub *fs, uint64_t token,
                                enum bm_floodsub_verdict verdict)
{
    struct verdict_job *j;
    int err;

    if (verdict == BM_FLOODSUB_DEFER || (unsigned)verdict > 3u) {
        return BM_EINVAL;
    }
    j = bm_malloc(sizeof(*j));
    if (j == NULL) {
        return BM_ENOMEM;
    }
    j->fs = fs;
    j->token = token;
    j->v = verdict;
    err = bm_p2p_host_post(fs->h, verdict_run, j);
    if (err != BM_OK) {
        bm_free(j);
    }
    return err;
}

/* ------------------------------------------------------------ stats */

#define LOAD(f) atomic_load_explicit(&fs->cnt.f, memory_order_relaxed)

void bm_floodsub_stats(const struct bm_floodsub *fs,
                       struct bm_floodsub_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->published = LOAD(published);
    out->publish_refused = LOAD(publish_refused);
    out->sent = LOAD(sent);
    out->received = LOAD(received);
    out->delivered = LOAD(delivered);
    out->forwarded = LOAD(forwarded);
    for (unsigned i = 0; i < BM_FLOODSUB_DROP_COUNT; i++) {
        out->dropped[i] = LOAD(dropped[i]);
    }
    out->rpcs_received = LOAD(rpcs_received);
    out->rpc_too_big = LOAD(rpc_too_big);
    out->rpc_invalid = LOAD(rpc_invalid);
    out->send_dropped = LOAD(send_dropped);
    out->peers_disconnected = LOAD(peers_disconnected);
    out->streams_opened = LOAD(streams_opened);
    out->streams_reopened = LOAD(streams_reopened);
    out->streams_replaced = LOAD(streams_replaced);
    out->seen_evicted = LOAD(seen_evicted);
    out->peers = LOAD(peers);
}

bool bm_floodsub_peer_has_topic_loop(struct bm_floodsub *fs,
                                     const struct bm_peer_id *peer,
                                     const char *topic)
{
    struct fs_peer *p = find_peer(fs, peer);

    return p != NULL && peer_has_topic(p, topic, strlen(topic));
}
