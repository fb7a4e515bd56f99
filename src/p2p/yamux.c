/* yamux sans-IO session; see yamux.h and libp2p-subset.md section 5. */
#include "p2p/yamux.h"

#include <string.h>

#include "util/alloc.h"

#define VERSION 0u
#define TOMBSTONES 64u          /* recently reset streams remembered */
#define QUEUE_KEEP (1u << 20)   /* an empty send queue above this is freed */
#define CTL_FRAMES_MIN 64u

/* A send queue: a ring buffer that grows up to the session's cap. */
struct ring {
    uint8_t *buf;
    size_t cap;
    size_t head;
    size_t len;
};

struct stream {
    uint32_t id;
    bool inbound;
    bool accepted;      /* inbound: left the accept backlog */
    bool acked;         /* outbound: the peer ACKed */
    bool local_fin;     /* close requested */
    bool fin_sent;
    bool remote_fin;
    bool in_ready;
    uint32_t recv_window;      /* bytes the peer may still send */
    uint64_t recv_unconsumed;  /* received, not yet consumed */
    uint64_t recv_owed;        /* consumed, not yet credited */
    uint64_t send_window;      /* bytes we may still send */
    struct ring tx;
    void *user;
    struct stream *rnext;      /* ready list */
    struct stream *rprev;
};

struct tomb {
    uint32_t id;     /* 0: empty */
    uint32_t window; /* what the peer may still send */
};

/* The frame being parsed. */
enum step {
    STEP_HEADER = 0, /* collecting the 12-byte header */
    STEP_SYN,
    STEP_ACK,
    STEP_BODY,       /* window delta, or Data payload */
    STEP_FIN,
    STEP_RST,
};

struct bm_yamux {
    struct bm_yamux_config cfg;
    /* streams: open addressing, linear probing, power-of-two size */
    struct stream **tab;
    size_t tab_cap;
    uint32_t live;
    uint32_t unaccepted;
    size_t queued;      /* sum of the send queues */
    uint32_t next_id;
    /* ready list (round-robin of streams with something to send) */
    struct stream *rhead;
    struct stream *rtail;
    /* control frames: ring of 12-byte frames */
    uint8_t *ctl;
    uint32_t ctl_cap;   /* frames */
    uint32_t ctl_head;
    uint32_t ctl_len;
    /* parser */
    uint8_t hdr[BM_YAMUX_HEADER_SIZE];
    size_t hdr_len;
    enum step step;
    uint8_t f_type;
    uint16_t f_flags;
    uint32_t f_sid;
    uint32_t f_len;
    uint32_t body_left;     /* Data payload bytes still to come */
    bool body_deliver;      /* payload goes to a live stream */
    bool body_done;         /* window delta applied */
    void *ev_user;          /* user pointer of the frame's stream */
    /* session state */
    bool failed;            /* protocol error or GoAway received */
    bool credit_queued;     /* a stream's credit is in the control queue */
    bool going_away;        /* we queued GoAway */
    struct tomb tombs[TOMBSTONES];
    uint32_t tomb_next;
    /* keepalive */
    bool rx_since_tick;
    bool ka_started;
    bool ka_outstanding;
    uint32_t ka_value;
    uint64_t ka_sent_ms;
    uint64_t last_rx_ms;
    struct bm_yamux_stats st;
};

static const char *const error_names[BM_YAMUX_E_COUNT] = {
    [BM_YAMUX_E_NONE] = "none",
    [BM_YAMUX_E_VERSION] = "version",
    [BM_YAMUX_E_TYPE] = "type",
    [BM_YAMUX_E_SESSION_ID] = "session_id",
    [BM_YAMUX_E_SYN_PARITY] = "syn_parity",
    [BM_YAMUX_E_SYN_DUP] = "syn_duplicate",
    [BM_YAMUX_E_WINDOW] = "window",
    [BM_YAMUX_E_SEND_WINDOW] = "send_window",
    [BM_YAMUX_E_CONTROL_FULL] = "control_full",
    [BM_YAMUX_E_CLOSED] = "closed",
};

const char *bm_yamux_error_name(enum bm_yamux_error e)
{
    if ((unsigned)e >= BM_YAMUX_E_COUNT) {
        return "unknown";
    }
    return error_names[e];
}

void bm_yamux_config_init(struct bm_yamux_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_streams = 1024;
    cfg->accept_backlog = 256;
    cfg->max_data_frame = 65524;
    cfg->max_stream_queue = (size_t)16 << 20;
    cfg->max_control = 4096;
    cfg->keepalive_ms = 30000;
    cfg->keepalive_timeout_ms = 10000;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void bm_yamux_header_put(uint8_t out[BM_YAMUX_HEADER_SIZE], uint8_t type,
                         uint16_t flags, uint32_t sid, uint32_t len)
{
    out[0] = VERSION;
    out[1] = type;
    out[2] = (uint8_t)(flags >> 8);
    out[3] = (uint8_t)flags;
    put_be32(out + 4, sid);
    put_be32(out + 8, len);
}

/* ------------------------------------------------------------ send ring */

static void ring_release(struct ring *r)
{
    bm_free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* Appends n bytes; grows the buffer (never above max). */
static int ring_append(struct ring *r, const uint8_t *p, size_t n, size_t max)
{
    size_t need, tail, first;

    if (n == 0) {
        return BM_OK;
    }
    if (!bm_size_add(r->len, n, &need) || need > max) {
        return BM_EFULL;
    }
    if (need > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        uint8_t *nb;

        while (cap < need) {
            cap = cap > max / 2 ? max : cap * 2;
        }
        nb = bm_malloc(cap);
        if (nb == NULL) {
            return BM_ENOMEM;
        }
        /* Unwrap into the new buffer. */
        first = r->cap - r->head < r->len ? r->cap - r->head : r->len;
        if (r->len > 0) {
            memcpy(nb, r->buf + r->head, first);
            memcpy(nb + first, r->buf, r->len - first);
        }
        bm_free(r->buf);
        r->buf = nb;
        r->cap = cap;
        r->head = 0;
    }
    tail = (r->head + r->len) % r->cap;
    first = r->cap - tail < n ? r->cap - tail : n;
    memcpy(r->buf + tail, p, first);
    memcpy(r->buf, p + first, n - first);
    r->len += n;
    return BM_OK;
}

/* Moves n (<= len) bytes from the front into out. */
static void ring_take(struct ring *r, uint8_t *out, size_t n)
{
    size_t first = r->cap - r->head < n ? r->cap - r->head : n;

    memcpy(out, r->buf + r->head, first);
    memcpy(out + first, r->buf, n - first);
    r->head = (r->head + n) % r->cap;
    r->len -= n;
    if (r->len == 0) {
        r->head = 0;
        if (r->cap > QUEUE_KEEP) {
            ring_release(r);
        }
    }
}

/* ------------------------------------------------------------ stream table */

static size_t slot_of(const struct bm_yamux *y, uint32_t id)
{
    /* A 32-bit finaliser (murmur3): IDs are sequential with a step of 2,
     * so their low bits alone would leave half the table unused. */
    uint32_t h = id;

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return (size_t)h & (y->tab_cap - 1);
}

static struct stream *find(const struct bm_yamux *y, uint32_t id)
{
    size_t i;

    if (id == 0) {
        return NULL;
    }
    for (i = slot_of(y, id); y->tab[i] != NULL; i = (i + 1) & (y->tab_cap - 1)) {
        if (y->tab[i]->id == id) {
            return y->tab[i];
        }
    }
    return NULL;
}

static void tab_put(struct bm_yamux *y, struct stream *s)
{
    size_t i = slot_of(y, s->id);

    while (y->tab[i] != NULL) {
        i = (i + 1) & (y->tab_cap - 1);
    }
    y->tab[i] = s;
}

static int tab_grow(struct bm_yamux *y)
{
    struct stream **old = y->tab;
    size_t old_cap = y->tab_cap;
    struct stream **nt = bm_calloc(old_cap * 2, sizeof(*nt));

    if (nt == NULL) {
        return BM_ENOMEM;
    }
    y->tab = nt;
    y->tab_cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] != NULL) {
            tab_put(y, old[i]);
        }
    }
    bm_free(old);
    return BM_OK;
}

/* Removes s from the table (backward-shift deletion, no tombstones). */
static void tab_del(struct bm_yamux *y, const struct stream *s)
{
    size_t mask = y->tab_cap - 1;
    size_t i = slot_of(y, s->id);
    size_t j;

    while (y->tab[i] != s) {
        i = (i + 1) & mask;
    }
    y->tab[i] = NULL;
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (y->tab[j] == NULL) {
            break;
        }
        home = slot_of(y, y->tab[j]->id);
        /* Move tab[j] into the hole at i if its home is not in (i, j]. */
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            y->tab[i] = y->tab[j];
            y->tab[j] = NULL;
            i = j;
        }
    }
}

/* ------------------------------------------------------------ ready list */

static bool wants_output(const struct stream *s)
{
    if (s->fin_sent) {
        return false;
    }
    if (s->tx.len > 0) {
        return s->send_window > 0;
    }
    return s->local_fin;
}

static void ready_remove(struct bm_yamux *y, struct stream *s)
{
    if (!s->in_ready) {
        return;
    }
    if (s->rprev != NULL) {
        s->rprev->rnext = s->rnext;
    } else {
        y->rhead = s->rnext;
    }
    if (s->rnext != NULL) {
        s->rnext->rprev = s->rprev;
    } else {
        y->rtail = s->rprev;
    }
    s->rnext = s->rprev = NULL;
    s->in_ready = false;
}

static void ready_update(struct bm_yamux *y, struct stream *s)
{
    if (wants_output(s)) {
        if (!s->in_ready) {
            s->rprev = y->rtail;
            s->rnext = NULL;
            if (y->rtail != NULL) {
                y->rtail->rnext = s;
            } else {
                y->rhead = s;
            }
            y->rtail = s;
            s->in_ready = true;
        }
    } else {
        ready_remove(y, s);
    }
}

/* ------------------------------------------------------------ control */

static int ctl_push(struct bm_yamux *y, uint8_t type, uint16_t flags,
                    uint32_t sid, uint32_t len)
{
    uint32_t tail;

    if (y->ctl_len == y->ctl_cap) {
        uint32_t cap = y->ctl_cap ? y->ctl_cap * 2 : CTL_FRAMES_MIN;
        uint8_t *nb;

        if (y->ctl_cap >= y->cfg.max_control) {
            return BM_EFULL;
        }
        if (cap > y->cfg.max_control) {
            cap = y->cfg.max_control;
        }
        nb = bm_malloc((size_t)cap * BM_YAMUX_HEADER_SIZE);
        if (nb == NULL) {
            return BM_ENOMEM;
        }
        for (uint32_t i = 0; i < y->ctl_len; i++) {
            memcpy(nb + (size_t)i * BM_YAMUX_HEADER_SIZE,
                   y->ctl + (size_t)((y->ctl_head + i) % y->ctl_cap) *
                                BM_YAMUX_HEADER_SIZE,
                   BM_YAMUX_HEADER_SIZE);
        }
        bm_free(y->ctl);
        y->ctl = nb;
        y->ctl_cap = cap;
        y->ctl_head = 0;
    }
    tail = (y->ctl_head + y->ctl_len) % y->ctl_cap;
    bm_yamux_header_put(y->ctl + (size_t)tail * BM_YAMUX_HEADER_SIZE, type,
                        flags, sid, len);
    y->ctl_len++;
    return BM_OK;
}

/* ------------------------------------------------------------ lifecycle */

int bm_yamux_new(struct bm_yamux **out, const struct bm_yamux_config *cfg)
{
    struct bm_yamux *y = bm_calloc(1, sizeof(*y));

    *out = NULL;
    if (y == NULL) {
        return BM_ENOMEM;
    }
    if (cfg != NULL) {
        y->cfg = *cfg;
    } else {
        bm_yamux_config_init(&y->cfg);
    }
    if (y->cfg.max_streams == 0) {
        y->cfg.max_streams = 1024;
    }
    if (y->cfg.accept_backlog == 0) {
        y->cfg.accept_backlog = 256;
    }
    if (y->cfg.max_data_frame == 0) {
        y->cfg.max_data_frame = 65524;
    }
    if (y->cfg.max_stream_queue == 0) {
        y->cfg.max_stream_queue = (size_t)16 << 20;
    }
    if (y->cfg.max_control == 0) {
        y->cfg.max_control = 4096;
    }
    if (y->cfg.keepalive_ms == 0) {
        y->cfg.keepalive_ms = 30000;
    }
    if (y->cfg.keepalive_timeout_ms == 0) {
        y->cfg.keepalive_timeout_ms = 10000;
    }
    if (y->cfg.recv_window < BM_YAMUX_WINDOW) {
        y->cfg.recv_window = BM_YAMUX_WINDOW;
    }
    if (y->cfg.recv_window > BM_YAMUX_WINDOW_MAX) {
        y->cfg.recv_window = BM_YAMUX_WINDOW_MAX;
    }
    y->tab_cap = 64;
    y->tab = bm_calloc(y->tab_cap, sizeof(*y->tab));
    if (y->tab == NULL) {
        bm_free(y);
        return BM_ENOMEM;
    }
    y->next_id = y->cfg.client ? 1 : 2;
    *out = y;
    return BM_OK;
}

static void stream_free(struct stream *s)
{
    ring_release(&s->tx);
    bm_free(s);
}

void bm_yamux_free(struct bm_yamux *y)
{
    if (y == NULL) {
        return;
    }
    for (size_t i = 0; i < y->tab_cap; i++) {
        if (y->tab[i] != NULL) {
            stream_free(y->tab[i]);
        }
    }
    bm_free(y->tab);
    bm_free(y->ctl);
    bm_free(y);
}

static void tomb_add(struct bm_yamux *y, uint32_t id, uint32_t window)
{
    y->tombs[y->tomb_next].id = id;
    y->tombs[y->tomb_next].window = window;
    y->tomb_next = (y->tomb_next + 1) % TOMBSTONES;
}

static struct tomb *tomb_find(struct bm_yamux *y, uint32_t id)
{
    for (uint32_t i = 0; i < TOMBSTONES; i++) {
        if (y->tombs[i].id == id && id != 0) {
            return &y->tombs[i];
        }
    }
    return NULL;
}

/* Removes s from every structure and frees it. */
static void stream_end(struct bm_yamux *y, struct stream *s)
{
    y->queued -= s->tx.len;
    ready_remove(y, s);
    tab_del(y, s);
    y->live--;
    if (s->inbound && !s->accepted) {
        y->unaccepted--;
    }
    stream_free(s);
}

static struct stream *stream_new(struct bm_yamux *y, uint32_t id, bool inbound)
{
    struct stream *s;

    if ((size_t)(y->live + 1) * 2 > y->tab_cap && tab_grow(y) != BM_OK) {
        return NULL;
    }
    s = bm_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->id = id;
    s->inbound = inbound;
    /* The window above the initial 256 KiB goes on the SYN or the ACK. */
    s->recv_window = y->cfg.recv_window;
    s->send_window = BM_YAMUX_WINDOW;
    tab_put(y, s);
    y->live++;
    if (inbound) {
        y->unaccepted++;
    }
    return s;
}

/* ------------------------------------------------------------ input */

static int fail(struct bm_yamux *y, struct bm_yamux_event *ev,
                enum bm_yamux_error e, uint32_t sid)
{
    if (!y->failed) {
        y->failed = true;
        if (!y->going_away) {
            y->going_away = true;
            /* Room is always made for the GoAway: drop queued control
             * frames if needed (the session is over anyway). */
            if (y->ctl_len == y->ctl_cap && y->ctl_len > 0) {
                y->ctl_len--;
            }
            (void)ctl_push(y, BM_YAMUX_GOAWAY, 0, 0,
                           BM_YAMUX_GOAWAY_PROTOCOL);
        }
    }
    ev->type = BM_YAMUX_EV_NONE;
    ev->code = (uint32_t)e;
    ev->sid = sid;
    return BM_EPROTO;
}

static void frame_done(struct bm_yamux *y)
{
    y->step = STEP_HEADER;
    y->hdr_len = 0;
}

/* Refuses an inbound SYN: RST, and a tombstone so data already sent within
 * the window is discarded rather than fatal. */
static int refuse(struct bm_yamux *y, struct bm_yamux_event *ev,
                  enum bm_yamux_refusal why)
{
    if (ctl_push(y, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_RST, y->f_sid,
                 BM_YAMUX_RESET_LIMIT) != BM_OK) {
        return fail(y, ev, BM_YAMUX_E_CONTROL_FULL, y->f_sid);
    }
    tomb_add(y, y->f_sid, y->cfg.recv_window); /* the ACK may have gone */
    y->st.resets_sent++;
    if (why == BM_YAMUX_REFUSED_LIMIT) {
        y->st.refused_limit++;
    } else if (why == BM_YAMUX_REFUSED_BACKLOG) {
        y->st.refused_backlog++;
    }
    ev->type = BM_YAMUX_EV_REFUSED;
    ev->sid = y->f_sid;
    ev->code = (uint32_t)why;
    return BM_OK;
}

/* Validates a complete header and sets up the frame's steps. */
static int start_frame(struct bm_yamux *y, struct bm_yamux_event *ev)
{
    const uint8_t *h = y->hdr;

    y->rx_since_tick = true;
    if (h[0] != VERSION) {
        return fail(y, ev, BM_YAMUX_E_VERSION, 0);
    }
    if (h[1] > BM_YAMUX_GOAWAY) {
        return fail(y, ev, BM_YAMUX_E_TYPE, 0);
    }
    y->f_type = h[1];
    y->f_flags = (uint16_t)((uint16_t)h[2] << 8 | h[3]);
    y->f_sid = get_be32(h + 4);
    y->f_len = get_be32(h + 8);
    y->body_left = 0;
    y->body_deliver = false;
    y->body_done = false;
    if (y->f_type == BM_YAMUX_PING || y->f_type == BM_YAMUX_GOAWAY) {
        if (y->f_sid != 0) {
            return fail(y, ev, BM_YAMUX_E_SESSION_ID, y->f_sid);
        }
        y->step = STEP_BODY;
        return BM_OK;
    }
    if (y->f_sid == 0) {
        return fail(y, ev, BM_YAMUX_E_SESSION_ID, 0);
    }
    y->step = STEP_SYN;
    return BM_OK;
}

/* Session frames (Ping, GoAway): one event at most. */
static int session_frame(struct bm_yamux *y, struct bm_yamux_event *ev)
{
    frame_done(y);
    if (y->f_type == BM_YAMUX_PING) {
        if (y->f_flags & BM_YAMUX_SYN) {
            if (ctl_push(y, BM_YAMUX_PING, BM_YAMUX_ACK, 0, y->f_len) !=
                BM_OK) {
                return fail(y, ev, BM_YAMUX_E_CONTROL_FULL, 0);
            }
            y->st.pings_answered++;
            return BM_OK;
        }
        if (y->f_flags & BM_YAMUX_ACK) {
            if (y->ka_outstanding && y->f_len == y->ka_value) {
                y->ka_outstanding = false;
            }
            ev->type = BM_YAMUX_EV_PING_ACK;
            ev->code = y->f_len;
        }
        return BM_OK;
    }
    /* GoAway: the session is over whatever the code. */
    y->failed = true;
    ev->type = BM_YAMUX_EV_GOAWAY;
    ev->code = y->f_len;
    return BM_OK;
}

/* One step of a stream frame (Data or WindowUpdate). */
static int stream_step(struct bm_yamux *y, const uint8_t *p, size_t n,
                       size_t *used, struct bm_yamux_event *ev)
{
    struct stream *s = find(y, y->f_sid);
    bool is_data = y->f_type == BM_YAMUX_DATA;

    /* Captured before a step may free the stream (FIN both ways, RST). */
    y->ev_user = s != NULL ? s->user : NULL;

    switch (y->step) {
    case STEP_SYN:
        y->step = STEP_ACK;
        if (!(y->f_flags & BM_YAMUX_SYN)) {
            return BM_OK;
        }
        if ((y->f_sid & 1u) == (y->cfg.client ? 1u : 0u)) {
            return fail(y, ev, BM_YAMUX_E_SYN_PARITY, y->f_sid);
        }
        if (s != NULL) {
            return fail(y, ev, BM_YAMUX_E_SYN_DUP, y->f_sid);
        }
        {
            struct tomb *t = tomb_find(y, y->f_sid);

            if (t != NULL) {
                t->id = 0; /* the ID is reused: a new stream */
            }
        }
        if (y->going_away) {
            return refuse(y, ev, BM_YAMUX_REFUSED_GOAWAY);
        }
        if (y->live >= y->cfg.max_streams) {
            return refuse(y, ev, BM_YAMUX_REFUSED_LIMIT);
        }
        if (y->unaccepted >= y->cfg.accept_backlog) {
            return refuse(y, ev, BM_YAMUX_REFUSED_BACKLOG);
        }
        if (ctl_push(y, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_ACK, y->f_sid,
                     y->cfg.recv_window - BM_YAMUX_WINDOW) != BM_OK) {
            return fail(y, ev, BM_YAMUX_E_CONTROL_FULL, y->f_sid);
        }
        s = stream_new(y, y->f_sid, true);
        if (s == NULL) {
            /* Out of memory for one stream: refuse it like a limit. */
            return refuse(y, ev, BM_YAMUX_REFUSED_LIMIT);
        }
        y->st.streams_inbound++;
        ev->type = BM_YAMUX_EV_OPEN;
        ev->sid = y->f_sid;
        return BM_OK;

    case STEP_ACK:
        y->step = STEP_BODY;
        if ((y->f_flags & BM_YAMUX_ACK) && s != NULL && !s->inbound &&
            !s->acked) {
            s->acked = true;
            ev->type = BM_YAMUX_EV_ACKED;
            ev->sid = s->id;
        }
        return BM_OK;

    case STEP_BODY:
        if (!is_data) {
            y->step = STEP_FIN;
            if (s == NULL || y->f_len == 0 || (y->f_flags & BM_YAMUX_RST)) {
                return BM_OK;
            }
            if (s->send_window + y->f_len > UINT32_MAX) {
                return fail(y, ev, BM_YAMUX_E_SEND_WINDOW, s->id);
            }
            s->send_window += y->f_len;
            ready_update(y, s);
            ev->type = BM_YAMUX_EV_WINDOW;
            ev->sid = s->id;
            return BM_OK;
        }
        if (!y->body_done) {
            /* Window check on the whole frame, at its header (Go). */
            y->body_done = true;
            y->body_left = y->f_len;
            if (s != NULL) {
                uint32_t limit = s->recv_window;

                /* A Data frame that opens the stream has only the initial
                 * window: the peer cannot have seen our ACK's grant. */
                if ((y->f_flags & BM_YAMUX_SYN) && limit > BM_YAMUX_WINDOW) {
                    limit = BM_YAMUX_WINDOW;
                }
                if (y->f_len > limit) {
                    return fail(y, ev, BM_YAMUX_E_WINDOW, s->id);
                }
                s->recv_window -= y->f_len;
                s->recv_unconsumed += y->f_len;
                y->body_deliver = !s->remote_fin;
            } else {
                struct tomb *t = tomb_find(y, y->f_sid);

                if (t != NULL) {
                    if (y->f_len > t->window) {
                        return fail(y, ev, BM_YAMUX_E_WINDOW, y->f_sid);
                    }
                    t->window -= y->f_len;
                }
            }
        }
        if (y->body_left == 0) {
            y->step = STEP_FIN;
            return BM_OK;
        }
        if (n == 0) {
            return BM_OK; /* need more input */
        }
        {
            size_t k = n < y->body_left ? n : y->body_left;

            *used = k;
            y->body_left -= (uint32_t)k;
            if (y->body_left == 0) {
                y->step = STEP_FIN;
            }
            if (y->body_deliver && s != NULL) {
                ev->type = BM_YAMUX_EV_DATA;
                ev->sid = s->id;
                ev->data = p;
                ev->len = k;
            } else {
                y->st.data_discarded += k;
                if (s != NULL) {
                    /* Data after the peer's FIN: dropped, but the window
                     * it used is given back as consumed. */
                    s->recv_unconsumed -= k;
                    s->recv_owed += k;
                }
            }
        }
        return BM_OK;

    case STEP_FIN:
        y->step = STEP_RST;
        if ((y->f_flags & BM_YAMUX_FIN) && s != NULL && !s->remote_fin) {
            s->remote_fin = true;
            ev->type = BM_YAMUX_EV_FIN;
            ev->sid = s->id;
            if (s->fin_sent) {
                stream_end(y, s);
            }
        }
        return BM_OK;

    case STEP_RST:
    default:
        frame_done(y);
        if ((y->f_flags & BM_YAMUX_RST) && s != NULL) {
            y->st.resets_received++;
            ev->type = BM_YAMUX_EV_RESET;
            ev->sid = s->id;
            ev->code = y->f_type == BM_YAMUX_WINDOW_UPDATE ? y->f_len : 0;
            stream_end(y, s);
        }
        return BM_OK;
    }
}

int bm_yamux_input(struct bm_yamux *y, const uint8_t *p, size_t n,
                   size_t *used, struct bm_yamux_event *ev)
{
    size_t off = 0;
    int err;

    memset(ev, 0, sizeof(*ev));
    *used = 0;
    if (y->failed) {
        ev->code = BM_YAMUX_E_CLOSED;
        return BM_EPROTO;
    }
    for (;;) {
        if (y->step == STEP_HEADER) {
            size_t k = BM_YAMUX_HEADER_SIZE - y->hdr_len;

            if (k > n - off) {
                k = n - off;
            }
            memcpy(y->hdr + y->hdr_len, p + off, k);
            y->hdr_len += k;
            off += k;
            if (y->hdr_len < BM_YAMUX_HEADER_SIZE) {
                *used = off;
                return BM_OK; /* need more */
            }
            err = start_frame(y, ev);
            if (err != BM_OK) {
                *used = off;
                return err;
            }
            continue;
        }
        if (y->f_type == BM_YAMUX_PING || y->f_type == BM_YAMUX_GOAWAY) {
            err = session_frame(y, ev);
        } else {
            size_t k = 0;

            err = stream_step(y, p + off, n - off, &k, ev);
            off += k;
            if (ev->type != BM_YAMUX_EV_NONE) {
                ev->user = y->ev_user;
            }
            if (err == BM_OK && ev->type == BM_YAMUX_EV_NONE &&
                y->step == STEP_BODY && y->body_done && y->body_left > 0 &&
                off == n) {
                *used = off;
                return BM_OK; /* payload continues in the next input */
            }
        }
        if (err != BM_OK || ev->type != BM_YAMUX_EV_NONE) {
            *used = off;
            return err;
        }
        if (off == n && y->step == STEP_HEADER) {
            *used = off;
            return BM_OK;
        }
    }
}

/* ------------------------------------------------------------ output */

bool bm_yamux_has_output(const struct bm_yamux *y)
{
    return y->ctl_len > 0 || y->rhead != NULL;
}

size_t bm_yamux_control_pending(const struct bm_yamux *y)
{
    return y->ctl_len;
}

bool bm_yamux_credit_pending(const struct bm_yamux *y)
{
    return y->credit_queued;
}

size_t bm_yamux_output(struct bm_yamux *y, uint8_t *buf, size_t cap)
{
    size_t off = 0;

    while (y->ctl_len > 0 && off + BM_YAMUX_HEADER_SIZE <= cap) {
        memcpy(buf + off, y->ctl + (size_t)y->ctl_head * BM_YAMUX_HEADER_SIZE,
               BM_YAMUX_HEADER_SIZE);
        y->ctl_head = (y->ctl_head + 1) % y->ctl_cap;
        y->ctl_len--;
        off += BM_YAMUX_HEADER_SIZE;
    }
    if (y->ctl_len == 0) {
        y->credit_queued = false;
    }
    if (y->failed) {
        return off; /* after an error only control frames (GoAway) go */
    }
    while (y->rhead != NULL && off + BM_YAMUX_HEADER_SIZE < cap) {
        struct stream *s = y->rhead;
        size_t room = cap - off - BM_YAMUX_HEADER_SIZE;
        size_t k = s->tx.len;
        uint16_t flags = 0;

        ready_remove(y, s);
        if (k > s->send_window) {
            k = (size_t)s->send_window;
        }
        if (k > y->cfg.max_data_frame) {
            k = y->cfg.max_data_frame;
        }
        if (k > room) {
            k = room;
        }
        /* FIN goes on its own WindowUpdate after the last Data frame, as
         * Go sends it: js-libp2p's yamux applies a frame's flags before
         * its payload, so data and FIN in one frame lose the data. */
        if (s->local_fin && k == 0 && s->tx.len == 0) {
            flags |= BM_YAMUX_FIN;
            s->fin_sent = true;
        }
        if (k == 0 && flags == 0) {
            ready_update(y, s);
            break; /* cannot happen: ready streams have output */
        }
        bm_yamux_header_put(buf + off,
                            k > 0 ? BM_YAMUX_DATA : BM_YAMUX_WINDOW_UPDATE,
                            flags, s->id, (uint32_t)k);
        off += BM_YAMUX_HEADER_SIZE;
        if (k > 0) {
            ring_take(&s->tx, buf + off, k);
            y->queued -= k;
            s->send_window -= k;
            off += k;
        }
        if (s->fin_sent && s->remote_fin) {
            stream_end(y, s);
        } else {
            ready_update(y, s);
        }
    }
    return off;
}

/* ------------------------------------------------------------ stream API */

int bm_yamux_open(struct bm_yamux *y, uint32_t *sid)
{
    struct stream *s;
    int err;

    *sid = 0;
    if (y->failed || y->going_away) {
        return BM_ECLOSED;
    }
    if (y->live >= y->cfg.max_streams) {
        return BM_EFULL;
    }
    if (y->next_id > UINT32_MAX - 2) {
        return BM_EOVERFLOW;
    }
    err = ctl_push(y, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_SYN, y->next_id,
                   y->cfg.recv_window - BM_YAMUX_WINDOW);
    if (err != BM_OK) {
        return err;
    }
    s = stream_new(y, y->next_id, false);
    if (s == NULL) {
        y->ctl_len--; /* take the SYN back: it was the last one pushed */
        return BM_ENOMEM;
    }
    y->next_id += 2;
    y->st.streams_outbound++;
    *sid = s->id;
    return BM_OK;
}

int bm_yamux_stream_accept(struct bm_yamux *y, uint32_t sid)
{
    struct stream *s = find(y, sid);

    if (s == NULL) {
        return BM_ENOTFOUND;
    }
    if (s->inbound && !s->accepted) {
        s->accepted = true;
        y->unaccepted--;
    }
    return BM_OK;
}

int bm_yamux_stream_write(struct bm_yamux *y, uint32_t sid, const uint8_t *p,
                          size_t n)
{
    struct stream *s = find(y, sid);
    int err;

    if (s == NULL) {
        return BM_ENOTFOUND;
    }
    if (s->local_fin || y->failed) {
        return BM_ECLOSED;
    }
    err = ring_append(&s->tx, p, n, y->cfg.max_stream_queue);
    if (err != BM_OK) {
        return err;
    }
    y->queued += n;
    ready_update(y, s);
    return BM_OK;
}

size_t bm_yamux_queued_total(const struct bm_yamux *y)
{
    return y->queued;
}

int bm_yamux_stream_set_user(struct bm_yamux *y, uint32_t sid, void *user)
{
    struct stream *s = find(y, sid);

    if (s == NULL) {
        return BM_ENOTFOUND;
    }
    s->user = user;
    return BM_OK;
}

void *bm_yamux_stream_user(const struct bm_yamux *y, uint32_t sid)
{
    const struct stream *s = find(y, sid);

    return s != NULL ? s->user : NULL;
}

size_t bm_yamux_stream_queued(const struct bm_yamux *y, uint32_t sid)
{
    const struct stream *s = find(y, sid);

    return s != NULL ? s->tx.len : 0;
}

uint32_t bm_yamux_stream_send_window(const struct bm_yamux *y, uint32_t sid)
{
    const struct stream *s = find(y, sid);

    return s != NULL ? (uint32_t)s->send_window : 0;
}

bool bm_yamux_stream_remote_closed(const struct bm_yamux *y, uint32_t sid)
{
    const struct stream *s = find(y, sid);

    return s != NULL && s->remote_fin;
}

int bm_yamux_stream_consumed(struct bm_yamux *y, uint32_t sid, size_t n)
{
    struct stream *s = find(y, sid);

    if (s == NULL) {
        return BM_ENOTFOUND;
    }
    if (n > s->recv_unconsumed) {
        return BM_EINVAL;
    }
    s->recv_unconsumed -= n;
    s->recv_owed += n;
    /* One update once half a window is owed; none after the peer's FIN
     * (it sends nothing more). */
    if (s->recv_owed >= y->cfg.recv_window / 2 && !s->remote_fin &&
        !y->failed) {
        uint32_t delta = (uint32_t)s->recv_owed;

        if (ctl_push(y, BM_YAMUX_WINDOW_UPDATE, 0, s->id, delta) == BM_OK) {
            s->recv_window += delta;
            s->recv_owed = 0;
            y->credit_queued = true;
        }
        /* A full control queue: the credit is retried on the next
         * consumption; the peer just waits. */
    }
    return BM_OK;
}

int bm_yamux_stream_close(struct bm_yamux *y, uint32_t sid)
{
    struct stream *s = find(y, sid);

    if (s == NULL) {
        return BM_ENOTFOUND;
    }
    if (s->local_fin) {
        return BM_ECLOSED;
    }
    s->local_fin = true;
    ready_update(y, s);
    return BM_OK;
}

int bm_yamux_stream_reset(struct bm_yamux *y, uint32_t sid, uint32_t code)
{
    struct stream *s = find(y, sid);

    if (s == NULL) {
        return BM_ENOTFOUND;
    }
    if (!y->failed) {
        /* A full control queue loses the RST; the stream is gone for us
         * either way and the peer's data is discarded. */
        (void)ctl_push(y, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_RST, sid, code);
    }
    y->st.resets_sent++;
    if (!s->remote_fin) {
        tomb_add(y, sid, s->recv_window);
    }
    stream_end(y, s);
    return BM_OK;
}

int bm_yamux_ping(struct bm_yamux *y, uint32_t value)
{
    if (y->failed || y->going_away) {
        return BM_ECLOSED;
    }
    return ctl_push(y, BM_YAMUX_PING, BM_YAMUX_SYN, 0, value);
}

void bm_yamux_goaway(struct bm_yamux *y, uint32_t code)
{
    if (y->going_away) {
        return;
    }
    y->going_away = true;
    if (y->ctl_len == y->ctl_cap && y->ctl_len > 0) {
        y->ctl_len--; /* always room for the GoAway */
    }
    (void)ctl_push(y, BM_YAMUX_GOAWAY, 0, 0, code);
}

int bm_yamux_tick(struct bm_yamux *y, uint64_t now_ms)
{
    if (!y->ka_started || y->rx_since_tick) {
        y->ka_started = true;
        y->rx_since_tick = false;
        y->last_rx_ms = now_ms;
    }
    if (y->failed) {
        return BM_OK;
    }
    if (y->ka_outstanding) {
        if (now_ms - y->ka_sent_ms >= y->cfg.keepalive_timeout_ms) {
            return BM_ETIMEDOUT;
        }
        return BM_OK;
    }
    if (now_ms - y->last_rx_ms >= y->cfg.keepalive_ms) {
        /* Values of our own keepalives: a counter in a range the host's
         * RTT pings (small counters) do not use. */
        uint32_t v = 0x6b610000u | (++y->ka_value & 0xffffu);

        if (ctl_push(y, BM_YAMUX_PING, BM_YAMUX_SYN, 0, v) == BM_OK) {
            y->ka_value = v;
            y->ka_outstanding = true;
            y->ka_sent_ms = now_ms;
        }
    }
    return BM_OK;
}

uint64_t bm_yamux_next_tick(const struct bm_yamux *y)
{
    uint64_t at;

    if (!y->ka_started || y->rx_since_tick) {
        return 0; /* tick at once: it starts the keepalive clock */
    }
    if (y->failed) {
        return UINT64_MAX;
    }
    at = y->ka_outstanding ? y->ka_sent_ms + y->cfg.keepalive_timeout_ms
                           : y->last_rx_ms + y->cfg.keepalive_ms;
    return at < y->last_rx_ms ? UINT64_MAX : at; /* overflow: never */
}

void bm_yamux_stats(const struct bm_yamux *y, struct bm_yamux_stats *out)
{
    *out = y->st;
    out->live_streams = y->live;
}
