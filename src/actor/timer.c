/*
 * Timers: one thread that sleeps until the earliest deadline.
 *
 * Deadlines are absolute CLOCK_MONOTONIC nanoseconds (util/clock.h),
 * rounded up to the tick (cfg.timer_tick_ms, default 1 ms) counted from
 * system creation, so timers due in the same tick fire in one wake-up;
 * bm_timer_start_at's deadlines are exact (a schedule in microseconds).
 * The thread's timer slack is TIMER_SLACK_NS instead of the kernel's
 * default 50 us, so a deadline is met to a few microseconds.
 * Armed timers sit in a binary min-heap ordered by (deadline, arm order);
 * an id table gives O(1) lookup by id, and start/cancel cost O(log n).
 *
 * The thread waits on tm_cv (a CLOCK_MONOTONIC condition variable) until
 * the heap's first deadline, or without a timeout when no timer is armed;
 * a start signals it only when the new deadline is earlier than the one it
 * sleeps until. A cancelled first timer is not signalled: the thread wakes
 * at its old deadline, finds nothing due and sleeps again. So an idle
 * system costs no wake-ups, and a system whose only timer ticks every
 * second costs one a second (counted in bm_actor_system_stats
 * .timer_wakeups).
 *
 * A timeout too large to represent (INT64_MAX ms) is "no deadline": an ask
 * or supervisor timeout that saturates to BM_CLOCK_NEVER arms no timer at
 * all. Expired timers are delivered with no lock held.
 */
#include "actor/actor_internal.h"

#include "util/alloc.h"
#include "util/clock.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#define TIMER_SLACK_NS 5000ul

enum tstate { T_FREE = 0, T_ARMED, T_FIRING, T_CANCELLED };
enum ttype { T_MSG = 0, T_ASK, T_SYS };

struct bm__timer {
    uint32_t slot;
    uint32_t gen;
    enum tstate state;
    enum ttype type;
    uint64_t deadline; /* monotonic ns, a tick boundary (but start_at) */
    uint64_t seq;      /* arm order: ties fire first-armed first */
    uint64_t period;   /* ns, a multiple of the tick; 0: one-shot */
    uint32_t heap_idx; /* while ARMED */
    struct bm__timer *fire_next;
    uint32_t next_free;
    bool repeat;
    struct bm_actor_id to;
    uint32_t kind;
    void *payload;
    size_t len;
    uint64_t corr;
};

static uint64_t tick_ns(const struct bm_actor_system *sys)
{
    return (uint64_t)sys->cfg.timer_tick_ms * 1000000ull;
}

/* The first tick boundary at or after ns (ns != BM_CLOCK_NEVER); saturates
 * to BM_CLOCK_NEVER. */
static uint64_t round_up(const struct bm_actor_system *sys, uint64_t ns)
{
    uint64_t tn = tick_ns(sys), rel, r;

    if (ns <= sys->tm_start_ns) {
        return sys->tm_start_ns;
    }
    rel = ns - sys->tm_start_ns;
    r = rel % tn;
    if (r != 0) {
        if (rel > BM_CLOCK_NEVER - sys->tm_start_ns - (tn - r)) {
            return BM_CLOCK_NEVER;
        }
        rel += tn - r;
    }
    return sys->tm_start_ns + rel;
}

int bm__timers_init(struct bm_actor_system *sys)
{
    pthread_mutex_init(&sys->tm_mu, NULL);
    bm_cond_init(&sys->tm_cv);
    sys->tm_start_ns = bm_clock_now_ns();
    sys->tm_wait_until = BM_CLOCK_NEVER;
    sys->ntimers = 1; /* slot 0 is "no timer" */
    sys->tm_inited = true;
    return BM_OK;
}

/* ------------------------------------------------------------ heap */

static bool before(const struct bm__timer *a, const struct bm__timer *b)
{
    return a->deadline < b->deadline ||
           (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(struct bm_actor_system *sys, uint32_t i,
                     struct bm__timer *t)
{
    sys->heap[i] = t;
    t->heap_idx = i;
}

static void sift_up(struct bm_actor_system *sys, uint32_t i)
{
    struct bm__timer *t = sys->heap[i];

    while (i > 0) {
        uint32_t p = (i - 1) / 2;

        if (!before(t, sys->heap[p])) {
            break;
        }
        heap_set(sys, i, sys->heap[p]);
        i = p;
    }
    heap_set(sys, i, t);
}

static void sift_down(struct bm_actor_system *sys, uint32_t i)
{
    struct bm__timer *t = sys->heap[i];
    uint32_t n = sys->nheap;

    for (;;) {
        uint32_t c = 2 * i + 1;

        if (c >= n) {
            break;
        }
        if (c + 1 < n && before(sys->heap[c + 1], sys->heap[c])) {
            c++;
        }
        if (!before(sys->heap[c], t)) {
            break;
        }
        heap_set(sys, i, sys->heap[c]);
        i = c;
    }
    heap_set(sys, i, t);
}

/* Caller holds tm_mu. Never fails (aborts on OOM like bm_xmalloc). */
static void heap_push(struct bm_actor_system *sys, struct bm__timer *t)
{
    if (sys->nheap == sys->capheap) {
        uint32_t ncap = sys->capheap ? sys->capheap * 2 : 64;

        sys->heap = bm_xrealloc(sys->heap, ncap * sizeof(*sys->heap));
        sys->capheap = ncap;
    }
    t->seq = sys->tm_seq++;
    heap_set(sys, sys->nheap++, t);
    sift_up(sys, t->heap_idx);
}

/* Caller holds tm_mu; t is in the heap. */
static void heap_remove(struct bm_actor_system *sys, struct bm__timer *t)
{
    uint32_t i = t->heap_idx;
    struct bm__timer *last = sys->heap[--sys->nheap];

    if (last == t) {
        return;
    }
    heap_set(sys, i, last);
    if (i > 0 && before(last, sys->heap[(i - 1) / 2])) {
        sift_up(sys, i);
    } else {
        sift_down(sys, i);
    }
}

/* ------------------------------------------------------------ table */

/* Caller holds tm_mu. */
static void timer_free(struct bm_actor_system *sys, struct bm__timer *t)
{
    bm_free(t->payload);
    t->payload = NULL;
    t->state = T_FREE;
    t->next_free = sys->tm_free;
    sys->tm_free = t->slot;
    atomic_fetch_sub(&sys->timers_active, 1);
}

/* Caller holds tm_mu. */
static struct bm__timer *timer_alloc(struct bm_actor_system *sys)
{
    struct bm__timer *t;
    uint32_t slot;

    if (sys->tm_free != 0) {
        slot = sys->tm_free;
        t = sys->timers[slot];
        sys->tm_free = t->next_free;
    } else {
        if (sys->ntimers >= sys->captimers) {
            uint32_t ncap = sys->captimers ? sys->captimers * 2 : 64;

            sys->timers = bm_xrealloc(sys->timers, ncap * sizeof(void *));
            sys->captimers = ncap;
        }
        slot = sys->ntimers++;
        t = bm_xcalloc(1, sizeof(*t));
        t->slot = slot;
        sys->timers[slot] = t;
    }
    t->gen++;
    if (t->gen == 0) {
        t->gen = 1;
    }
    t->state = T_ARMED;
    t->payload = NULL;
    t->len = 0;
    t->period = 0;
    atomic_fetch_add(&sys->timers_active, 1);
    return t;
}

/* Arms a timer at deadline dl (monotonic ns; BM_CLOCK_NEVER: none). Takes
 * ownership of payload in every case. */
static int start_at(struct bm_actor_system *sys, enum ttype type,
                    struct bm_actor_id to, uint32_t kind, void *payload,
                    size_t len, uint64_t corr, uint64_t dl,
                    int64_t period_ms, struct bm_timer_id *out)
{
    struct bm__timer *t;

    if (out != NULL) {
        *out = (struct bm_timer_id){0, 0};
    }
    if (dl == BM_CLOCK_NEVER) {
        /* No deadline: nothing to arm (only asks and supervisor stops get
         * here; bm_timer_start bounds its delays). */
        bm_free(payload);
        return BM_OK;
    }
    pthread_mutex_lock(&sys->tm_mu);
    if (sys->tm_quit) {
        pthread_mutex_unlock(&sys->tm_mu);
        bm_free(payload);
        return BM_ESHUTDOWN;
    }
    t = timer_alloc(sys);
    t->type = type;
    t->to = to;
    t->kind = kind;
    t->payload = payload;
    t->len = len;
    t->corr = corr;
    if (period_ms > 0) {
        uint64_t tn = tick_ns(sys);

        t->period = ((uint64_t)period_ms * 1000000ull + tn - 1) / tn * tn;
    }
    t->deadline = dl;
    heap_push(sys, t);
    if (out != NULL) {
        *out = (struct bm_timer_id){t->slot, t->gen};
    }
    /* Wake the thread only if it sleeps past the new deadline. */
    if (dl < sys->tm_wait_until) {
        bm_cond_signal(&sys->tm_cv);
    }
    pthread_mutex_unlock(&sys->tm_mu);
    return BM_OK;
}

/* start_at with the deadline delay_ms from now, rounded up to the tick. */
static int start_common(struct bm_actor_system *sys, enum ttype type,
                        struct bm_actor_id to, uint32_t kind, void *payload,
                        size_t len, uint64_t corr, int64_t delay_ms,
                        int64_t period_ms, struct bm_timer_id *out)
{
    uint64_t dl = bm_clock_deadline_ms(delay_ms);

    if (dl != BM_CLOCK_NEVER) {
        dl = round_up(sys, dl);
    }
    return start_at(sys, type, to, kind, payload, len, corr, dl, period_ms,
                    out);
}

/* Checks a timer message for `to` and copies its payload into *copy
 * (NULL for an empty one). */
static int msg_copy(struct bm_actor_system *sys, struct bm_actor_id to,
                    uint32_t kind, const void *payload, size_t len,
                    void **copy)
{
    struct bm__actor *a;
    int err;

    *copy = NULL;
    if (len > 0 && payload == NULL) {
        return BM_EINVAL;
    }
    err = bm__actor_ref(sys, to, &a);
    if (err != BM_OK) {
        return err;
    }
    if (kind >= a->type->n_kinds || a->type->kinds[kind].payload_size != len ||
        a->type->kinds[kind].dtor != NULL) {
        bm__actor_unref(a);
        return BM_EINVAL;
    }
    bm__actor_unref(a);
    if (len > 0) {
        *copy = bm_malloc(len);
        if (*copy == NULL) {
            return BM_ENOMEM;
        }
        memcpy(*copy, payload, len);
    }
    return BM_OK;
}

int bm_timer_start(struct bm_actor_system *sys, struct bm_actor_id to,
                   uint32_t kind, const void *payload, size_t len,
                   int64_t delay_ms, int64_t period_ms,
                   struct bm_timer_id *out)
{
    void *copy;
    int err;

    if (delay_ms < 0 || period_ms < 0 || delay_ms > 365LL * 86400000LL ||
        period_ms > 365LL * 86400000LL) {
        return BM_EINVAL;
    }
    err = msg_copy(sys, to, kind, payload, len, &copy);
    if (err != BM_OK) {
        return err;
    }
    return start_common(sys, T_MSG, to, kind, copy, len, 0, delay_ms,
                        period_ms, out);
}

int bm_timer_start_at(struct bm_actor_system *sys, struct bm_actor_id to,
                      uint32_t kind, const void *payload, size_t len,
                      uint64_t deadline_ns, struct bm_timer_id *out)
{
    void *copy;
    int err;

    if (deadline_ns == BM_CLOCK_NEVER ||
        deadline_ns > bm_clock_after_ms(bm_clock_now_ns(),
                                        365LL * 86400000LL)) {
        return BM_EINVAL;
    }
    err = msg_copy(sys, to, kind, payload, len, &copy);
    if (err != BM_OK) {
        return err;
    }
    return start_at(sys, T_MSG, to, kind, copy, len, 0, deadline_ns, 0, out);
}

int bm__timer_start_ask(struct bm_actor_system *sys, uint64_t corr,
                        int64_t delay_ms, struct bm_timer_id *out)
{
    return start_common(sys, T_ASK, BM_ACTOR_ID_NONE, 0, NULL, 0, corr,
                        delay_ms, 0, out);
}

int bm__timer_start_sys(struct bm_actor_system *sys, struct bm_actor_id to,
                        uint64_t corr, int64_t delay_ms,
                        struct bm_timer_id *out)
{
    return start_common(sys, T_SYS, to, 0, NULL, 0, corr, delay_ms, 0, out);
}

int bm_timer_cancel(struct bm_actor_system *sys, struct bm_timer_id id)
{
    struct bm__timer *t;
    int err = BM_ENOTFOUND;

    pthread_mutex_lock(&sys->tm_mu);
    if (id.slot != 0 && id.slot < sys->ntimers) {
        t = sys->timers[id.slot];
        if (t->gen == id.gen) {
            if (t->state == T_ARMED) {
                heap_remove(sys, t);
                timer_free(sys, t);
                err = BM_OK;
            } else if (t->state == T_FIRING) {
                t->state = T_CANCELLED;
                err = BM_OK;
            }
        }
    }
    pthread_mutex_unlock(&sys->tm_mu);
    return err;
}

/* ------------------------------------------------------------ thread */

/* Delivers one expiry; false if the timer must not repeat (a one-shot:
 * true if it must be tried again, refused by a full mailbox). */
static bool fire(struct bm_actor_system *sys, struct bm__timer *t)
{
    int err;

    switch (t->type) {
    case T_ASK:
        bm__ask_complete(sys, t->corr, BM_ETIMEDOUT, NULL, 0, true);
        return false;
    case T_SYS:
        bm__send_sys_simple(sys, t->to, BM__SYS_SUP_TIMEOUT, BM_ACTOR_ID_NONE,
                            0, 0, t->corr);
        return false;
    case T_MSG:
    default:
        /* A one-shot delivery may be the only thing that wakes its actor:
         * never the victim of DROP_OLDEST (BM__NF_KEEP), and refused by a
         * full mailbox it is tried again a tick later (the caller re-arms
         * a one-shot that returns true). */
        err = bm__send_user(sys, t->to, t->kind, t->payload, t->len,
                            t->period == 0 ? BM__NF_KEEP : 0, NULL, NULL,
                            NULL);
        if (t->period == 0) {
            return err == BM_EFULL;
        }
        return err == BM_OK || err == BM_EFULL || err == BM_ETIMEDOUT ||
               err == BM_ERESTARTING;
    }
}

/* The next deadline of a periodic timer that fired late at `now`: its
 * phase is kept and missed periods are skipped (no burst of catch-up
 * deliveries). */
static uint64_t next_period(const struct bm__timer *t, uint64_t now)
{
    uint64_t next = t->deadline + t->period;

    if (next <= now) {
        next += ((now - next) / t->period + 1) * t->period;
    }
    return next;
}

static void *timer_main(void *arg)
{
    struct bm_actor_system *sys = arg;

    bm__tl_sys = sys;
    bm__tl_timer = true;
    (void)pthread_setname_np(pthread_self(), "bm-timer");
    (void)prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
    pthread_mutex_lock(&sys->tm_mu);
    while (!sys->tm_quit) {
        struct bm__timer *list = NULL, **tail = &list, *t, *next;
        uint64_t now = bm_clock_now_ns();

        while (sys->nheap > 0 && sys->heap[0]->deadline <= now) {
            t = sys->heap[0];
            heap_remove(sys, t);
            t->state = T_FIRING;
            t->fire_next = NULL;
            *tail = t;
            tail = &t->fire_next;
        }
        if (list != NULL) {
            pthread_mutex_unlock(&sys->tm_mu);
            for (t = list; t != NULL; t = t->fire_next) {
                /* Each timer is private to this thread while FIRING. */
                t->repeat = fire(sys, t);
            }
            pthread_mutex_lock(&sys->tm_mu);
            for (t = list; t != NULL; t = next) {
                next = t->fire_next;
                if (t->state == T_FIRING && t->period > 0 && t->repeat) {
                    t->deadline = next_period(t, now);
                    t->state = T_ARMED;
                    heap_push(sys, t);
                } else if (t->state == T_FIRING && t->repeat) {
                    /* a one-shot refused by a full mailbox: next tick */
                    t->deadline = round_up(sys, now + tick_ns(sys));
                    t->state = T_ARMED;
                    heap_push(sys, t);
                } else {
                    timer_free(sys, t);
                }
            }
            continue;
        }
        sys->tm_wait_until =
            sys->nheap > 0 ? sys->heap[0]->deadline : BM_CLOCK_NEVER;
        bm_cond_wait_until(&sys->tm_cv, &sys->tm_mu, sys->tm_wait_until);
        sys->tm_wait_until = 0; /* awake: starts need not signal */
        atomic_fetch_add_explicit(&sys->timer_wakeups, 1,
                                  memory_order_relaxed);
    }
    pthread_mutex_unlock(&sys->tm_mu);
    bm__tl_sys = NULL;
    return NULL;
}

int bm__timers_start_thread(struct bm_actor_system *sys)
{
    if (pthread_create(&sys->tm_th, NULL, timer_main, sys) != 0) {
        return BM_ESYS;
    }
    sys->tm_running = true;
    return BM_OK;
}

void bm__timers_stop_thread(struct bm_actor_system *sys)
{
    pthread_mutex_lock(&sys->tm_mu);
    sys->tm_quit = true;
    bm_cond_signal(&sys->tm_cv);
    pthread_mutex_unlock(&sys->tm_mu);
    if (sys->tm_running) {
        pthread_join(sys->tm_th, NULL);
        sys->tm_running = false;
    }
}

void bm__timers_release(struct bm_actor_system *sys)
{
    if (!sys->tm_inited) {
        return;
    }
    for (uint32_t i = 1; i < sys->ntimers; i++) {
        bm_free(sys->timers[i]->payload);
        bm_free(sys->timers[i]);
    }
    bm_free(sys->timers);
    bm_free(sys->heap);
    sys->timers = NULL;
    sys->heap = NULL;
    sys->nheap = sys->capheap = 0;
    sys->tm_inited = false;
    pthread_mutex_destroy(&sys->tm_mu);
    bm_cond_destroy(&sys->tm_cv);
}
