/*
 * The host's loop as protocols use it, over real sockets on 127.0.0.1:
 *  - timers: one-shot and periodic, order at the same instant, cancel
 *    (pending, fired, from its own callback, stale, zero), a timer added
 *    before the start counts from the start, a callback that re-adds
 *    itself at once does not hold the loop, the BM_P2P_MAX_TIMERS bound;
 *  - an idle host (a connected peer, nothing due) does not wake up: no
 *    fixed tick;
 *  - the peer list: a peer is in the live list (and in the snapshot other
 *    threads read) already inside on_connected, and the snapshot's byte
 *    counters move with the bytes, without a timer;
 *  - the protocol registry beyond 8 entries (BM_P2P_MAX_PROTOCOLS, and the
 *    identify size bound with long names): every protocol is negotiable
 *    and identify lists them all.
 */
#include "gossip_util.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "p2p/identify.h"
#include "p2p/multistream.h"

/* ------------------------------------------------------------ timers */

#define LOG_MAX 64

/* What the timer callbacks saw (loop thread writes, test thread reads
 * under mu). */
struct tlog {
    pthread_mutex_t mu;
    char seq[LOG_MAX];      /* which callback ran, in order */
    size_t n;
    uint64_t at[LOG_MAX];   /* loop time of each run */
    struct bm_p2p_timer_id self;  /* for the self-cancelling timer */
    struct bm_p2p_timer_id victim;
    bool cancel_fired;      /* result of cancelling a fired one-shot */
    unsigned again;         /* re-adds left for the zero-delay chain */
    unsigned links;         /* runs of the zero-delay chain's callback */
    bool chain_over;        /* its last link ran: none of it is pending */
};

struct tcb {
    struct tlog *log;
    char tag;
};

static void tlog_add(struct tlog *l, struct bm_p2p_host *h, char tag)
{
    pthread_mutex_lock(&l->mu);
    if (l->n < LOG_MAX) {
        l->seq[l->n] = tag;
        l->at[l->n] = bm_p2p_host_now_ms(h);
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
}

static size_t tlog_count(struct tlog *l, char tag)
{
    size_t k = 0;

    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        k += l->seq[i] == tag;
    }
    pthread_mutex_unlock(&l->mu);
    return k;
}

static void on_timer(struct bm_p2p_host *h, void *arg)
{
    struct tcb *c = arg;

    tlog_add(c->log, h, c->tag);
}

/* Periodic: cancels itself on its third run. */
static void on_self_cancel(struct bm_p2p_host *h, void *arg)
{
    struct tcb *c = arg;

    tlog_add(c->log, h, c->tag);
    if (tlog_count(c->log, c->tag) == 3) {
        assert_true(bm_p2p_host_timer_cancel(h, c->log->self));
        assert_false(bm_p2p_host_timer_cancel(h, c->log->self));
    }
}

/* One-shot: cancelling itself from inside finds nothing pending. */
static void on_fired_cancel(struct bm_p2p_host *h, void *arg)
{
    struct tcb *c = arg;

    c->log->cancel_fired = bm_p2p_host_timer_cancel(h, c->log->victim);
    tlog_add(c->log, h, c->tag);
}

struct timer_setup {
    struct tlog *log;
    struct tcb cb[8];
    uint64_t t0;
    struct bm_p2p_timer_id pending;
};

static void setup_run(struct bm_p2p_host *h, void *arg)
{
    struct timer_setup *t = arg;
    struct bm_p2p_timer_id id, cancelled;

    t->t0 = bm_p2p_host_now_ms(h);
    /* Same instant: run in the order added (b before c). */
    assert_int_equal(bm_p2p_host_timer_add(h, 60, 0, on_timer, &t->cb[1],
                                           &id),
                     BM_OK);
    assert_true(id.v != 0);
    assert_int_equal(bm_p2p_host_timer_add(h, 60, 0, on_timer, &t->cb[2],
                                           NULL),
                     BM_OK);
    /* Earlier than both although added later. */
    assert_int_equal(bm_p2p_host_timer_add(h, 20, 0, on_timer, &t->cb[3],
                                           NULL),
                     BM_OK);
    /* Cancelled before it is due: never runs. */
    assert_int_equal(bm_p2p_host_timer_add(h, 30, 0, on_timer, &t->cb[4],
                                           &cancelled),
                     BM_OK);
    assert_true(bm_p2p_host_timer_cancel(h, cancelled));
    assert_false(bm_p2p_host_timer_cancel(h, cancelled));
    /* Periodic every 25 ms, cancelling itself on its third run. */
    assert_int_equal(bm_p2p_host_timer_add(h, 25, 25, on_self_cancel,
                                           &t->cb[5], &t->log->self),
                     BM_OK);
    /* A one-shot that cancels itself from inside: false. */
    assert_int_equal(bm_p2p_host_timer_add(h, 10, 0, on_fired_cancel,
                                           &t->cb[6], &t->log->victim),
                     BM_OK);
    /* A periodic one the test cancels from outside (on the loop). */
    assert_int_equal(bm_p2p_host_timer_add(h, 15, 15, on_timer, &t->cb[7],
                                           &t->pending),
                     BM_OK);
    {
        struct bm_p2p_timer_id zero = {0}, unknown = {999999};

        assert_false(bm_p2p_host_timer_cancel(h, zero));
        assert_false(bm_p2p_host_timer_cancel(h, unknown));
    }
    assert_int_equal(bm_p2p_host_timer_add(h, 1, 0, NULL, NULL, NULL),
                     BM_EINVAL);
}

struct cancel_q {
    struct bm_p2p_timer_id id;
    bool result;
};

static void cancel_run(struct bm_p2p_host *h, void *arg)
{
    struct cancel_q *q = arg;

    q->result = bm_p2p_host_timer_cancel(h, q->id);
}

static bool count_at_least(void *arg)
{
    struct tcb *c = arg;

    return tlog_count(c->log, c->tag) >= 3;
}

static void timers(void **state)
{
    struct gu_host a;
    struct tlog log;
    struct timer_setup t;
    struct tcb early = {&log, 'x'};
    struct cancel_q q;
    uint64_t started;
    size_t periodic;

    (void)state;
    memset(&log, 0, sizeof(log));
    pthread_mutex_init(&log.mu, NULL);
    memset(&t, 0, sizeof(t));
    t.log = &log;
    for (int i = 0; i < 8; i++) {
        t.cb[i].log = &log;
        t.cb[i].tag = (char)('a' + i);
    }
    gu_host_new(&a, 0x31);
    /* Added before the start: due 100 ms after the start, not before. */
    assert_int_equal(bm_p2p_host_timer_add(a.h, 100, 0, on_timer, &early,
                                           NULL),
                     BM_OK);
    gu_sleep(150);
    started = bm_clock_now_ms();
    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    gu_on_loop(&a, setup_run, &t);
    assert_true(gu_eventually(count_at_least, &t.cb[5], GU_WAIT_MS));
    assert_true(gu_eventually(count_at_least, &t.cb[7], GU_WAIT_MS));
    q.id = t.pending;
    gu_on_loop(&a, cancel_run, &q);
    assert_true(q.result);
    periodic = tlog_count(&log, 'h');
    gu_sleep(250); /* > every timer's delay: all that will run ran */

    pthread_mutex_lock(&log.mu);
    {
        /* Order of the one-shots: g (10) < d (20) < b < c (both 60, in the
         * order added); none before its delay; the early one ('x') not
         * before 100 ms after the start. */
        int pos[256];

        memset(pos, -1, sizeof(pos));
        for (size_t i = 0; i < log.n; i++) {
            if (pos[(unsigned char)log.seq[i]] < 0) {
                pos[(unsigned char)log.seq[i]] = (int)i;
            }
            if (log.seq[i] == 'b' || log.seq[i] == 'c' || log.seq[i] == 'd' ||
                log.seq[i] == 'g') {
                /* no one-shot runs before its delay */
                uint64_t d = log.seq[i] == 'g'   ? 10
                             : log.seq[i] == 'd' ? 20
                                                 : 60;

                assert_true(log.at[i] >= t.t0 + d);
            }
            if (log.seq[i] == 'x') {
                assert_true(log.at[i] >= started + 100);
            }
        }
        assert_true(pos['g'] >= 0 && pos['d'] >= 0 && pos['b'] >= 0 &&
                    pos['c'] >= 0 && pos['x'] >= 0);
        assert_true(pos['g'] < pos['d']);
        assert_true(pos['d'] < pos['b']);
        assert_true(pos['b'] < pos['c']);
    }
    pthread_mutex_unlock(&log.mu);
    /* Each one-shot ran once; the cancelled one ('e') never. */
    assert_int_equal(tlog_count(&log, 'x'), 1);
    assert_int_equal(tlog_count(&log, 'b'), 1);
    assert_int_equal(tlog_count(&log, 'c'), 1);
    assert_int_equal(tlog_count(&log, 'd'), 1);
    assert_int_equal(tlog_count(&log, 'g'), 1);
    assert_int_equal(tlog_count(&log, 'e'), 0);
    assert_int_equal(tlog_count(&log, 'f'), 3); /* cancelled itself */
    assert_int_equal(tlog_count(&log, 'h'), periodic); /* cancelled */
    assert_false(log.cancel_fired);
    assert_int_equal(bm_p2p_host_stop(a.h), BM_OK);
    gu_host_free(&a);
    pthread_mutex_destroy(&log.mu);
}

/* A callback that re-adds itself with no delay: each copy waits for the
 * next turn, so other work (a post) still gets through. The link that
 * takes `again` to 0 still adds one more: the chain is over only when
 * that last link has run and added nothing (chain_over), not when
 * `again` reads 0. */
static void on_chain(struct bm_p2p_host *h, void *arg)
{
    struct tlog *l = arg;

    pthread_mutex_lock(&l->mu);
    l->links++;
    if (l->again > 0) {
        l->again--;
        pthread_mutex_unlock(&l->mu);
        assert_int_equal(bm_p2p_host_timer_add(h, 0, 0, on_chain, l, NULL),
                         BM_OK);
        return;
    }
    l->chain_over = true;
    pthread_mutex_unlock(&l->mu);
}

static void chain_start(struct bm_p2p_host *h, void *arg)
{
    assert_int_equal(bm_p2p_host_timer_add(h, 0, 0, on_chain, arg, NULL),
                     BM_OK);
}

static void noop(struct bm_p2p_host *h, void *arg)
{
    (void)h;
    (void)arg;
}

static bool chain_done(void *arg)
{
    struct tlog *l = arg;
    bool done;

    pthread_mutex_lock(&l->mu);
    done = l->chain_over;
    pthread_mutex_unlock(&l->mu);
    return done;
}

struct many_q {
    int last_err;
    size_t added;
    struct bm_p2p_timer_id first;
};

static void many_run(struct bm_p2p_host *h, void *arg)
{
    struct many_q *q = arg;
    struct bm_p2p_timer_id id;

    for (size_t i = 0; i < BM_P2P_MAX_TIMERS + 1; i++) {
        q->last_err = bm_p2p_host_timer_add(h, 3600000, 0, noop, NULL, &id);
        if (q->last_err != BM_OK) {
            break;
        }
        if (i == 0) {
            q->first = id;
        }
        q->added++;
    }
}

static void timers_zero_delay_and_bound(void **state)
{
    struct gu_host a;
    struct tlog log;
    struct many_q mq = {0};
    unsigned links;

    (void)state;
    memset(&log, 0, sizeof(log));
    pthread_mutex_init(&log.mu, NULL);
    log.again = 1000;
    gu_host_new(&a, 0x32);
    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    gu_on_loop(&a, chain_start, &log);
    gu_on_loop(&a, noop, NULL); /* gets through while the chain runs */
    assert_true(gu_eventually(chain_done, &log, GU_WAIT_MS));
    pthread_mutex_lock(&log.mu);
    links = log.links;
    pthread_mutex_unlock(&log.mu);
    assert_int_equal(links, 1001); /* the first link, 1000 re-adds */
    /* The bound: BM_P2P_MAX_TIMERS pending (none of the chain's is left),
     * then BM_EFULL; pending timers are freed with the host. */
    gu_on_loop(&a, many_run, &mq);
    assert_int_equal(mq.added, BM_P2P_MAX_TIMERS);
    assert_int_equal(mq.last_err, BM_EFULL);
    assert_int_equal(bm_p2p_host_stop(a.h), BM_OK);
    gu_host_free(&a);
    pthread_mutex_destroy(&log.mu);
}

/* ------------------------------------------------------------ idle */

static uint64_t wakeups(const struct gu_host *n)
{
    struct bm_p2p_stats st;

    bm_p2p_host_stats(n->h, &st);
    return st.loop_wakeups;
}

/*
 * Two connected hosts with nothing to do do not wake up (the loop used to
 * tick every 100 ms: ~15 wake-ups in 1.5 s). A timer then wakes the loop
 * once, at its time.
 */
struct wake_q {
    struct tlog *log;
    struct tcb cb;
};

static void wake_run(struct bm_p2p_host *h, void *arg)
{
    struct wake_q *q = arg;

    assert_int_equal(bm_p2p_host_timer_add(h, 300, 0, on_timer, &q->cb,
                                           NULL),
                     BM_OK);
}

static void idle_host_sleeps(void **state)
{
    struct gu_host a, b;
    struct tlog log;
    struct wake_q q = {&log, {&log, 'w'}};
    uint64_t a0, b0, a1, b1;

    (void)state;
    memset(&log, 0, sizeof(log));
    pthread_mutex_init(&log.mu, NULL);
    gu_host_new(&a, 0x33);
    gu_host_new(&b, 0x34);
    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_start(b.h), BM_OK);
    assert_int_equal(gu_dial(&a, &b), BM_OK);
    gu_sleep(300); /* identify both ways is over */
    a0 = wakeups(&a);
    b0 = wakeups(&b);
    gu_sleep(1500);
    a1 = wakeups(&a);
    b1 = wakeups(&b);
    print_message("idle wake-ups in 1.5 s: a %llu, b %llu\n",
                  (unsigned long long)(a1 - a0),
                  (unsigned long long)(b1 - b0));
    /* Stale deadlines of the identify streams may wake a loop once. */
    assert_true(a1 - a0 <= 2);
    assert_true(b1 - b0 <= 2);
    /* A timer wakes it (one post, one timer: a couple of turns). */
    gu_on_loop(&a, wake_run, &q);
    a0 = wakeups(&a);
    gu_sleep(600);
    assert_int_equal(tlog_count(&log, 'w'), 1);
    assert_true(wakeups(&a) - a0 <= 3);
    assert_int_equal(bm_p2p_host_stop(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_stop(b.h), BM_OK);
    gu_host_free(&a);
    gu_host_free(&b);
    pthread_mutex_destroy(&log.mu);
}

/* ------------------------------------------------------------ peers */

struct seen {
    struct bm_peer_id want;
    atomic_int live;      /* in bm_p2p_host_peers_loop inside on_connected */
    atomic_int snapshot;  /* in bm_p2p_host_peers inside on_connected */
    atomic_int calls;
};

static bool has_peer(const struct bm_p2p_peer_info *pi, size_t n,
                     const struct bm_peer_id *id)
{
    for (size_t i = 0; i < n; i++) {
        if (bm_peer_id_eq(&pi[i].peer, id)) {
            return true;
        }
    }
    return false;
}

static void seen_connected(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                           const struct bm_peer_id *peer, bool inbound,
                           void *arg)
{
    struct seen *s = arg;
    struct bm_p2p_peer_info *pi = NULL;
    size_t n = 0;

    (void)conn;
    (void)inbound;
    assert_true(bm_peer_id_eq(peer, &s->want));
    assert_int_equal(bm_p2p_host_peers_loop(h, &pi, &n), BM_OK);
    atomic_store(&s->live, has_peer(pi, n, peer));
    bm_free(pi);
    assert_int_equal(bm_p2p_host_peers(h, &pi, &n), BM_OK);
    atomic_store(&s->snapshot, has_peer(pi, n, peer));
    bm_free(pi);
    atomic_fetch_add(&s->calls, 1);
}

static bool called(void *arg)
{
    struct seen *s = arg;

    return atomic_load(&s->calls) > 0;
}

static const struct bm_p2p_listener seen_listener = {
    .on_connected = seen_connected,
};

static uint64_t snap_bytes_in(const struct gu_host *n,
                              const struct bm_peer_id *peer)
{
    struct bm_p2p_peer_info *pi = NULL;
    size_t k = 0;
    uint64_t v = 0;

    assert_int_equal(bm_p2p_host_peers(n->h, &pi, &k), BM_OK);
    for (size_t i = 0; i < k; i++) {
        if (bm_peer_id_eq(&pi[i].peer, peer)) {
            v = pi[i].bytes_in;
        }
    }
    bm_free(pi);
    return v;
}

struct ping_q {
    struct gu_sync s;
    struct bm_peer_id peer;
};

static void ping_cb(struct bm_p2p_host *h, int err, const uint64_t *rtt,
                    size_t n, void *arg)
{
    (void)h;
    (void)rtt;
    (void)n;
    gu_sync_done(arg, err);
}

static void ping_run(struct bm_p2p_host *h, void *arg)
{
    struct ping_q *q = arg;
    int err = bm_p2p_host_ping_loop(h, &q->peer, 3, ping_cb, &q->s);

    if (err != BM_OK) {
        gu_sync_done(&q->s, err);
    }
}

static void peers_live_and_snapshot(void **state)
{
    struct gu_host a, b;
    struct seen s;
    struct ping_q q;
    uint64_t before, after;

    (void)state;
    gu_host_new(&a, 0x35);
    gu_host_new(&b, 0x36);
    memset(&s, 0, sizeof(s));
    s.want = b.id;
    assert_int_equal(bm_p2p_host_add_listener(a.h, &seen_listener, &s), BM_OK);
    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_start(b.h), BM_OK);
    assert_int_equal(gu_dial(&a, &b), BM_OK);
    /* The dialler hears of it first, the listeners right after. */
    assert_true(gu_eventually(called, &s, GU_WAIT_MS));
    assert_int_equal(atomic_load(&s.calls), 1);
    assert_int_equal(atomic_load(&s.live), 1);
    assert_int_equal(atomic_load(&s.snapshot), 1);

    /* The snapshot's counters follow the bytes at once (no periodic
     * refresh): a ping's replies are counted when the call returns. */
    gu_sleep(200);
    before = snap_bytes_in(&a, &b.id);
    assert_true(before > 0);
    memset(&q, 0, sizeof(q));
    gu_sync_init(&q.s);
    q.peer = b.id;
    assert_int_equal(bm_p2p_host_post(a.h, ping_run, &q), BM_OK);
    assert_int_equal(gu_sync_wait(&q.s, GU_WAIT_MS), BM_OK);
    gu_sync_release(&q.s);
    after = snap_bytes_in(&a, &b.id);
    assert_true(after >= before + 3 * 32);
    assert_int_equal(bm_p2p_host_stop(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_stop(b.h), BM_OK);
    gu_host_free(&a);
    gu_host_free(&b);
}

/* ------------------------------------------------------------ registry */

#define REG_EXTRA (BM_P2P_MAX_PROTOCOLS - 2) /* beside identify and ping */

struct reg_server {
    atomic_int opened;
};

static void reg_open(struct bm_p2p_stream *s, void *arg)
{
    struct reg_server *r = arg;

    atomic_fetch_add(&r->opened, 1);
    (void)bm_p2p_stream_close(s);
}

static void reg_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)s;
    (void)reason;
    (void)arg;
}

static const struct bm_p2p_handler reg_handler = {
    .on_open = reg_open,
    .on_close = reg_close,
};

struct open_q {
    struct gu_sync s;
    struct bm_peer_id peer;
    const char *protocol;
};

static void client_open(struct bm_p2p_stream *s, void *arg)
{
    (void)s;
    gu_sync_done(arg, BM_OK);
}

static void client_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)s;
    if (reason != BM_OK) {
        gu_sync_done(arg, reason);
    }
}

static const struct bm_p2p_handler client_handler = {
    .on_open = client_open,
    .on_close = client_close,
};

static void open_run(struct bm_p2p_host *h, void *arg)
{
    struct open_q *q = arg;
    struct bm_p2p_stream *s;
    int err = bm_p2p_host_open_stream_loop(h, &q->peer, q->protocol,
                                           &client_handler, &q->s, &s);

    if (err != BM_OK) {
        gu_sync_done(&q->s, err);
    } else {
        (void)bm_p2p_stream_close(s);
    }
}

struct id_q {
    struct gu_sync s;
    struct bm_peer_id peer;
    char **protocols;
    size_t n;
};

static void id_cb(struct bm_p2p_host *h, int err, const struct bm_identify *id,
                  void *arg)
{
    struct id_q *q = arg;

    (void)h;
    if (err == BM_OK) {
        q->protocols = bm_xcalloc(id->n_protocols + 1, sizeof(char *));
        for (size_t i = 0; i < id->n_protocols; i++) {
            q->protocols[q->n++] = bm_xstrdup(id->protocols[i]);
        }
    }
    gu_sync_done(&q->s, err);
}

static void id_run(struct bm_p2p_host *h, void *arg)
{
    struct id_q *q = arg;
    int err = bm_p2p_host_identify_loop(h, &q->peer, id_cb, q);

    if (err != BM_OK) {
        gu_sync_done(&q->s, err);
    }
}

/* Identifies `of` from `from`; checks that the list is exactly names. */
static void check_identify(struct gu_host *from, const struct gu_host *of,
                           char names[][BM_MULTISTREAM_PROTO_MAX + 1],
                           size_t n)
{
    struct id_q q;

    memset(&q, 0, sizeof(q));
    gu_sync_init(&q.s);
    q.peer = of->id;
    assert_int_equal(bm_p2p_host_post(from->h, id_run, &q), BM_OK);
    assert_int_equal(gu_sync_wait(&q.s, GU_WAIT_MS), BM_OK);
    assert_int_equal(q.n, n + 2);
    assert_string_equal(q.protocols[0], BM_IDENTIFY_PROTOCOL);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(q.protocols[i + 2], names[i]);
    }
    for (size_t i = 0; i < q.n; i++) {
        bm_free(q.protocols[i]);
    }
    bm_free(q.protocols);
    gu_sync_release(&q.s);
}

static void open_ok(struct gu_host *from, const struct gu_host *to,
                    const char *protocol)
{
    struct open_q q;

    memset(&q, 0, sizeof(q));
    gu_sync_init(&q.s);
    q.peer = to->id;
    q.protocol = protocol;
    assert_int_equal(bm_p2p_host_post(from->h, open_run, &q), BM_OK);
    assert_int_equal(gu_sync_wait(&q.s, GU_WAIT_MS), BM_OK);
    gu_sync_release(&q.s);
}

static bool opened_n(void *arg)
{
    struct reg_server *r = arg;

    return atomic_load(&r->opened) >= 3;
}

static void registry_beyond_eight(void **state)
{
    static char names[REG_EXTRA][BM_MULTISTREAM_PROTO_MAX + 1];
    static char longs[32][BM_MULTISTREAM_PROTO_MAX + 1];
    struct gu_host a, b, c;
    struct reg_server srv = {0};
    size_t n_long = 0;
    int err;

    (void)state;
    gu_host_new(&a, 0x37);
    gu_host_new(&b, 0x38);
    gu_host_new(&c, 0x39);
    for (size_t i = 0; i < REG_EXTRA; i++) {
        snprintf(names[i], sizeof(names[i]), "/blockv2/test/proto/%zu", i);
        assert_int_equal(bm_p2p_host_register(a.h, names[i], &reg_handler,
                                              &srv),
                         BM_OK);
    }
    assert_int_equal(bm_p2p_host_register(a.h, "/one/too/many", &reg_handler,
                                          &srv),
                     BM_EFULL);
    assert_int_equal(bm_p2p_host_register(a.h, names[3], &reg_handler, &srv),
                     BM_EEXIST);
    /* Long names: as many as identify's 4 KiB message can list. */
    do {
        memset(longs[n_long], 'a' + (int)n_long % 26,
               BM_MULTISTREAM_PROTO_MAX);
        longs[n_long][0] = '/';
        longs[n_long][BM_MULTISTREAM_PROTO_MAX] = '\0';
        err = bm_p2p_host_register(c.h, longs[n_long], &reg_handler, &srv);
        if (err == BM_OK) {
            n_long++;
        }
    } while (err == BM_OK && n_long < 32);
    assert_int_equal(err, BM_EFULL);
    assert_true(n_long >= 10); /* (4096 - overhead) / 258 */
    print_message("protocols of 255 bytes that fit identify: %zu\n", n_long);

    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_start(b.h), BM_OK);
    assert_int_equal(bm_p2p_host_start(c.h), BM_OK);
    assert_int_equal(gu_dial(&b, &a), BM_OK);
    assert_int_equal(gu_dial(&b, &c), BM_OK);
    /* The first, a middle and the last registered are negotiated. */
    open_ok(&b, &a, names[0]);
    open_ok(&b, &a, names[REG_EXTRA / 2]);
    open_ok(&b, &a, names[REG_EXTRA - 1]);
    assert_true(gu_eventually(opened_n, &srv, GU_WAIT_MS));
    check_identify(&b, &a, names, REG_EXTRA);
    check_identify(&b, &c, longs, n_long);
    open_ok(&b, &c, longs[n_long - 1]);
    assert_int_equal(bm_p2p_host_stop(a.h), BM_OK);
    assert_int_equal(bm_p2p_host_stop(b.h), BM_OK);
    assert_int_equal(bm_p2p_host_stop(c.h), BM_OK);
    gu_host_free(&a);
    gu_host_free(&b);
    gu_host_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers),
        cmocka_unit_test(timers_zero_delay_and_bound),
        cmocka_unit_test(idle_host_sleeps),
        cmocka_unit_test(peers_live_and_snapshot),
        cmocka_unit_test(registry_beyond_eight),
    };

    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(bm_crypto_init(), BM_OK);
    return BM_TEST_RUN(tests);
}
