/*
 * Timers: one thread driving a hashed timing wheel on the monotonic clock.
 *
 * WHEEL buckets of one tick each (cfg.timer_tick_ms, default 1 ms); a timer
 * lives in bucket (deadline_tick % WHEEL) and is skipped until its tick
 * comes round, so start and cancel are O(1) (doubly linked bucket, table
 * lookup by id) and a tick costs O(timers in that bucket). The thread
 * sleeps until the next tick only while timers exist, otherwise until a
 * timer is started. Expired timers are delivered with no lock held.
 */
#include "actor/actor_internal.h"

#include "util/alloc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define WHEEL 1024u

enum tstate { T_FREE = 0, T_ARMED, T_FIRING, T_CANCELLED };
enum ttype { T_MSG = 0, T_ASK, T_SYS };

struct bm__timer {
    uint32_t slot;
    uint32_t gen;
    enum tstate state;
    enum ttype type;
    uint64_t deadline;
    uint64_t period;
    struct bm__timer *prev, *next;
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

static uint64_t tick_of(const struct bm_actor_system *sys, uint64_t ns)
{
    return ns <= sys->tm_start_ns ? 0 : (ns - sys->tm_start_ns) / tick_ns(sys);
}

int bm__timers_init(struct bm_actor_system *sys)
{
    sys->wheel = bm_calloc(WHEEL, sizeof(*sys->wheel));
    if (sys->wheel == NULL) {
        return BM_ENOMEM;
    }
    pthread_mutex_init(&sys->tm_mu, NULL);
    pthread_cond_init(&sys->tm_cv, NULL);
    sys->tm_start_ns = bm__now_ns();
    sys->tm_cur_tick = 0;
    sys->ntimers = 1; /* slot 0 is "no timer" */
    return BM_OK;
}

static void wheel_insert(struct bm_actor_system *sys, struct bm__timer *t)
{
    struct bm__timer **b = &sys->wheel[t->deadline % WHEEL];

    t->prev = NULL;
    t->next = *b;
    if (*b != NULL) {
        (*b)->prev = t;
    }
    *b = t;
}

static void wheel_unlink(struct bm_actor_system *sys, struct bm__timer *t)
{
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        sys->wheel[t->deadline % WHEEL] = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    t->prev = t->next = NULL;
}

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

static int start_common(struct bm_actor_system *sys, enum ttype type,
                        struct bm_actor_id to, uint32_t kind, void *payload,
                        size_t len, uint64_t corr, int64_t delay_ms,
                        int64_t period_ms, struct bm_timer_id *out)
{
    struct bm__timer *t;
    uint64_t now = bm__now_ns(), tn = tick_ns(sys), dl;

    pthread_mutex_lock(&sys->tm_mu);
    if (sys->tm_quit) {
        pthread_mutex_unlock(&sys->tm_mu);
        bm_free(payload);
        return BM_ESHUTDOWN;
    }
    if (atomic_load(&sys->timers_active) == 0) {
        /* The wheel is empty: skip the idle ticks. */
        sys->tm_cur_tick = tick_of(sys, now);
    }
    t = timer_alloc(sys);
    t->type = type;
    t->to = to;
    t->kind = kind;
    t->payload = payload;
    t->len = len;
    t->corr = corr;
    t->period = period_ms > 0 ? ((uint64_t)period_ms * 1000000ull + tn - 1) / tn
                              : 0;
    dl = (now - sys->tm_start_ns + (uint64_t)delay_ms * 1000000ull + tn - 1) /
         tn;
    t->deadline = dl < sys->tm_cur_tick ? sys->tm_cur_tick : dl;
    wheel_insert(sys, t);
    if (out != NULL) {
        *out = (struct bm_timer_id){t->slot, t->gen};
    }
    pthread_cond_signal(&sys->tm_cv);
    pthread_mutex_unlock(&sys->tm_mu);
    return BM_OK;
}

int bm_timer_start(struct bm_actor_system *sys, struct bm_actor_id to,
                   uint32_t kind, const void *payload, size_t len,
                   int64_t delay_ms, int64_t period_ms,
                   struct bm_timer_id *out)
{
    struct bm__actor *a;
    void *copy = NULL;
    int err;

    if (delay_ms < 0 || period_ms < 0 || delay_ms > 365LL * 86400000LL ||
        period_ms > 365LL * 86400000LL || (len > 0 && payload == NULL)) {
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
        copy = bm_malloc(len);
        if (copy == NULL) {
            return BM_ENOMEM;
        }
        memcpy(copy, payload, len);
    }
    return start_common(sys, T_MSG, to, kind, copy, len, 0, delay_ms,
                        period_ms, out);
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
                wheel_unlink(sys, t);
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

/* Delivers one expiry; false if the timer must not repeat. */
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
        err = bm_actor_tell(sys, t->to, t->kind, t->payload, t->len);
        return err == BM_OK || err == BM_EFULL || err == BM_ETIMEDOUT ||
               err == BM_ERESTARTING;
    }
}

static void *timer_main(void *arg)
{
    struct bm_actor_system *sys = arg;

    bm__tl_sys = sys;
    bm__tl_timer = true;
    pthread_mutex_lock(&sys->tm_mu);
    while (!sys->tm_quit) {
        struct bm__timer *list = NULL, *t, *next;
        uint64_t now, now_tick;

        if (atomic_load(&sys->timers_active) == 0) {
            pthread_cond_wait(&sys->tm_cv, &sys->tm_mu);
            continue;
        }
        now = bm__now_ns();
        now_tick = tick_of(sys, now);
        while (sys->tm_cur_tick <= now_tick) {
            for (t = sys->wheel[sys->tm_cur_tick % WHEEL]; t != NULL;
                 t = next) {
                next = t->next;
                if (t->state == T_ARMED && t->deadline <= sys->tm_cur_tick) {
                    wheel_unlink(sys, t);
                    t->state = T_FIRING;
                    t->fire_next = list;
                    list = t;
                }
            }
            sys->tm_cur_tick++;
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
                    t->deadline += t->period;
                    if (t->deadline < sys->tm_cur_tick) {
                        t->deadline = sys->tm_cur_tick;
                    }
                    t->state = T_ARMED;
                    wheel_insert(sys, t);
                } else {
                    timer_free(sys, t);
                }
            }
            continue;
        }
        {
            uint64_t target =
                sys->tm_start_ns + sys->tm_cur_tick * tick_ns(sys);
            uint64_t delta = target > now ? target - now : 0;
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(delta / 1000000000ull);
            ts.tv_nsec += (long)(delta % 1000000000ull);
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&sys->tm_cv, &sys->tm_mu, &ts);
        }
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
    pthread_cond_signal(&sys->tm_cv);
    pthread_mutex_unlock(&sys->tm_mu);
    if (sys->tm_running) {
        pthread_join(sys->tm_th, NULL);
        sys->tm_running = false;
    }
}

void bm__timers_release(struct bm_actor_system *sys)
{
    if (sys->wheel == NULL) {
        return;
    }
    for (uint32_t i = 1; i < sys->ntimers; i++) {
        bm_free(sys->timers[i]->payload);
        bm_free(sys->timers[i]);
    }
    bm_free(sys->timers);
    bm_free(sys->wheel);
    sys->timers = NULL;
    sys->wheel = NULL;
    pthread_mutex_destroy(&sys->tm_mu);
    pthread_cond_destroy(&sys->tm_cv);
}
