/*
 * Actor system and scheduler: worker threads, run queues, the per-worker
 * LIFO "next" slot, work stealing, parking, detached actor threads, and the
 * system stop sequence.
 *
 * Run queues are short mutex-protected intrusive FIFOs (one per worker in
 * BM_SCHED_STEALING, one shared in BM_SCHED_SHARED). An actor is in at most
 * one queue or slot at a time (its SCHED bit says so). When an actor
 * running on worker W makes another actor runnable, that actor goes to W's
 * next slot and runs right after the current turn on the same core (the
 * ping-pong case stays on one core, with no wake-up). Idle workers park on
 * a condition variable and are woken only when work is queued while they
 * sleep. docs/actor-runtime.md has the measurements behind the choice.
 */
#include "actor/actor_internal.h"

#include "util/clock.h"
#include "util/alloc.h"
#include "util/log.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Thread_local struct bm__actor *bm__tl_actor;
_Thread_local struct bm_actor_system *bm__tl_sys;
_Thread_local struct bm__worker *bm__tl_worker;
_Thread_local bool bm__tl_timer;
_Thread_local struct bm__lane *bm__tl_lane;
_Thread_local struct bm__lane *bm__tl_borrow;

#define SLOT_RUNS_MAX 64

uint64_t bm_actor_now_ns(void)
{
    return bm_clock_now_ns();
}

void bm_actor_system_config_init(struct bm_actor_system_config *cfg)
{
    const char *mode = getenv("BM_ACTOR_SCHED");

    memset(cfg, 0, sizeof(*cfg));
    cfg->handler_timing = true;
    /* For measurements only (docs/actor-runtime.md): run any program with
     * the shared run queue without rebuilding it. */
    if (mode != NULL && strcmp(mode, "shared") == 0) {
        cfg->sched = BM_SCHED_SHARED;
    }
    /* For measurements too: BM_ACTOR_SPIN_US=<us> (spin_us). */
    mode = getenv("BM_ACTOR_SPIN_US");
    if (mode != NULL) {
        unsigned long us = strtoul(mode, NULL, 10);

        cfg->spin_us = (unsigned)(us > 10000 ? 10000 : us);
    }
}

static void runq_init(struct bm__runq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    q->head = q->tail = NULL;
    atomic_store_explicit(&q->len, 0, memory_order_relaxed);
}

static uint32_t runq_push(struct bm__runq *q, struct bm__actor *a)
{
    uint32_t len;

    a->rq_next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail != NULL) {
        q->tail->rq_next = a;
    } else {
        q->head = a;
    }
    q->tail = a;
    len = atomic_fetch_add(&q->len, 1) + 1;
    pthread_mutex_unlock(&q->mu);
    return len;
}

static struct bm__actor *runq_pop(struct bm__runq *q)
{
    struct bm__actor *a;

    if (atomic_load_explicit(&q->len, memory_order_relaxed) == 0) {
        return NULL;
    }
    pthread_mutex_lock(&q->mu);
    a = q->head;
    if (a != NULL) {
        q->head = a->rq_next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        atomic_fetch_sub(&q->len, 1);
    }
    pthread_mutex_unlock(&q->mu);
    return a;
}

/* The wakers below signal after unlocking: a thread woken while the
 * waker still holds the mutex would block on it at once (a second context
 * switch per wake-up, measured). Taking the mutex first orders the signal
 * after the sleeper's last check of its predicate, so no wake-up is lost. */
static void wake_worker(struct bm__worker *w)
{
    pthread_mutex_lock(&w->pmu);
    pthread_mutex_unlock(&w->pmu);
    bm_cond_signal(&w->pcv);
}

/* Wakes one parked worker, preferring `pref`. */
static void wake_one(struct bm_actor_system *sys, struct bm__worker *pref)
{
    if (atomic_load(&sys->n_sleeping) == 0) {
        return;
    }
    if (pref != NULL && atomic_load(&pref->sleeping)) {
        wake_worker(pref);
        return;
    }
    for (unsigned i = 0; i < sys->nworkers; i++) {
        struct bm__worker *w = &sys->workers[i];

        if (w != bm__tl_worker && atomic_load(&w->sleeping)) {
            wake_worker(w);
            return;
        }
    }
}

static void pool_schedule(struct bm_actor_system *sys, struct bm__actor *a,
                          bool lifo);

/* A lane-bound actor: into the lane's next slot when a handler on that
 * lane's thread wakes it (lifo), else onto the lane's queue (waking the
 * thread if someone else queued it). A pooled actor displaced from the
 * slot goes to the pool. */
static void lane_schedule(struct bm_actor_system *sys, struct bm__lane *l,
                          struct bm__actor *a, bool lifo)
{
    bool here = bm__tl_lane == l;

    if (here && lifo && bm__tl_actor != NULL) {
        struct bm__actor *old = l->next_slot;

        l->next_slot = a;
        if (old == NULL) {
            return;
        }
        a = old;
        if (a->lane == NULL) {
            pool_schedule(sys, a, false);
            return;
        }
    }
    runq_push(&l->rq, a);
    if (!here) {
        bm__lane_kick(l);
    }
}

void bm__schedule(struct bm_actor_system *sys, struct bm__actor *a, bool lifo)
{
    struct bm__lane *cur = bm__tl_lane;

    if (a->lane != NULL) {
        lane_schedule(sys, a->lane, a, lifo);
        return;
    }
    if (a->detached) {
        bm__dthread_kick(a->dt);
        return;
    }
    /* A pooled actor woken by a handler on a lane's thread runs there next
     * (if the slot is free): the ask/continuation pair stays on one
     * thread. */
    if (cur != NULL && cur->sys == sys && lifo && bm__tl_actor != NULL &&
        cur->next_slot == NULL) {
        cur->next_slot = a;
        return;
    }
    pool_schedule(sys, a, lifo);
}

/* A pooled actor onto a worker: the calling worker's next slot (lifo from
 * a handler), its queue, or round-robin from other threads. */
static void pool_schedule(struct bm_actor_system *sys, struct bm__actor *a,
                          bool lifo)
{
    struct bm__worker *w = bm__tl_worker;

    if (w != NULL && w->sys != sys) {
        w = NULL;
    }
    if (w != NULL && lifo && bm__tl_actor != NULL) {
        struct bm__actor *old = w->next_slot;

        w->next_slot = a;
        if (old == NULL) {
            return;
        }
        a = old; /* the displaced one goes to a queue */
    }
    if (sys->cfg.sched == BM_SCHED_SHARED) {
        runq_push(&sys->shared, a);
        wake_one(sys, NULL);
        return;
    }
    if (w == NULL) {
        unsigned i = atomic_fetch_add_explicit(&sys->rr, 1,
                                               memory_order_relaxed) %
                     sys->nworkers;

        w = &sys->workers[i];
        runq_push(&w->rq, a);
        wake_one(sys, w);
        return;
    }
    /* A worker that queues work for itself wakes a thief only if it has
     * something else to do first (it is mid-turn, or has more queued). */
    if (runq_push(&w->rq, a) >= 2 || w->next_slot != NULL ||
        bm__tl_actor != NULL) {
        wake_one(sys, NULL);
    }
}

static struct bm__actor *steal(struct bm_actor_system *sys,
                               struct bm__worker *self)
{
    for (unsigned k = 1; k < sys->nworkers; k++) {
        struct bm__worker *v = &sys->workers[(self->idx + k) % sys->nworkers];
        struct bm__actor *a = runq_pop(&v->rq);

        if (a != NULL) {
            atomic_fetch_add_explicit(&sys->steals, 1, memory_order_relaxed);
            return a;
        }
    }
    return NULL;
}

static bool any_work(struct bm_actor_system *sys)
{
    if (sys->cfg.sched == BM_SCHED_SHARED) {
        return atomic_load(&sys->shared.len) > 0;
    }
    for (unsigned i = 0; i < sys->nworkers; i++) {
        if (atomic_load(&sys->workers[i].rq.len) > 0) {
            return true;
        }
    }
    return false;
}

static struct bm__actor *next_actor(struct bm_actor_system *sys,
                                    struct bm__worker *w)
{
    struct bm__actor *a = w->next_slot;
    struct bm__runq *q =
        sys->cfg.sched == BM_SCHED_SHARED ? &sys->shared : &w->rq;

    if (a != NULL) {
        w->next_slot = NULL;
        if (++w->slot_runs < SLOT_RUNS_MAX ||
            atomic_load_explicit(&q->len, memory_order_relaxed) == 0) {
            return a;
        }
        /* Let queued actors run: the slot pair goes to the back. */
        runq_push(q, a);
    }
    w->slot_runs = 0;
    a = runq_pop(q);
    if (a == NULL && sys->cfg.sched == BM_SCHED_STEALING) {
        a = steal(sys, w);
    }
    return a;
}

static void *worker_main(void *arg)
{
    struct bm__worker *w = arg;
    struct bm_actor_system *sys = w->sys;

    bm__tl_worker = w;
    bm__tl_sys = sys;
    {
        char name[16]; /* shown by top -H, ps -L, gdb */

        snprintf(name, sizeof(name), "bm-worker%u", w->idx);
        (void)pthread_setname_np(pthread_self(), name);
    }
    for (;;) {
        struct bm__actor *a = next_actor(sys, w);

        if (a != NULL) {
            bm__run_turn(sys, a);
            continue;
        }
        if (atomic_load(&sys->workers_stop)) {
            break;
        }
        pthread_mutex_lock(&w->pmu);
        atomic_store(&w->sleeping, 1);
        atomic_fetch_add(&sys->n_sleeping, 1);
        if (!any_work(sys) && !atomic_load(&sys->workers_stop)) {
            bm_cond_wait(&w->pcv, &w->pmu);
        }
        atomic_fetch_sub(&sys->n_sleeping, 1);
        atomic_store(&w->sleeping, 0);
        pthread_mutex_unlock(&w->pmu);
    }
    bm__tl_worker = NULL;
    bm__tl_sys = NULL;
    return NULL;
}

/* ------------------------------------------------------------ detached */

static void *dthread_main(void *arg)
{
    struct bm__dthread *dt = arg;
    struct bm_actor_system *sys = dt->sys;

    bm__tl_sys = sys;
    {
        /* The actor's name (written before the thread was created). */
        char name[16];

        snprintf(name, sizeof(name), "bm:%.12s",
                 dt->a->name[0] != '\0' ? dt->a->name : dt->a->type->name);
        (void)pthread_setname_np(pthread_self(), name);
    }
    for (;;) {
        pthread_mutex_lock(&dt->mu);
        while (!dt->pending && !dt->quit) {
            bm_cond_wait(&dt->cv, &dt->mu);
        }
        if (!dt->pending && dt->quit) {
            pthread_mutex_unlock(&dt->mu);
            break;
        }
        dt->pending = false;
        pthread_mutex_unlock(&dt->mu);
        bm__run_turn(sys, dt->a);
    }
    return NULL;
}

int bm__dthread_start(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm__dthread *dt = bm_xcalloc(1, sizeof(*dt));

    dt->sys = sys;
    dt->a = a;
    pthread_mutex_init(&dt->mu, NULL);
    bm_cond_init(&dt->cv);
    if (pthread_create(&dt->th, NULL, dthread_main, dt) != 0) {
        pthread_mutex_destroy(&dt->mu);
        bm_cond_destroy(&dt->cv);
        bm_free(dt);
        return BM_ESYS;
    }
    a->dt = dt;
    pthread_mutex_lock(&sys->dt_mu);
    dt->next_all = sys->dts;
    sys->dts = dt;
    pthread_mutex_unlock(&sys->dt_mu);
    return BM_OK;
}

void bm__dthread_kick(struct bm__dthread *dt)
{
    pthread_mutex_lock(&dt->mu);
    dt->pending = true;
    pthread_mutex_unlock(&dt->mu);
    bm_cond_signal(&dt->cv);
}

/* Joins every detached thread (their actors are gone or abandoned). */
static void dthreads_join(struct bm_actor_system *sys)
{
    struct bm__dthread *dt, *next;

    pthread_mutex_lock(&sys->dt_mu);
    dt = sys->dts;
    sys->dts = NULL;
    pthread_mutex_unlock(&sys->dt_mu);
    for (; dt != NULL; dt = next) {
        next = dt->next_all;
        pthread_mutex_lock(&dt->mu);
        dt->quit = true;
        bm_cond_signal(&dt->cv);
        pthread_mutex_unlock(&dt->mu);
        pthread_join(dt->th, NULL);
        pthread_mutex_destroy(&dt->mu);
        bm_cond_destroy(&dt->cv);
        bm_free(dt);
    }
}

/* ------------------------------------------------------------ lanes */

void bm__lane_kick(struct bm__lane *l)
{
    atomic_store(&l->kicked, true);
    /* Taking the mutex orders the signal after the sleeper's last check
     * of `kicked` (it holds mu from setting its parked flag until it
     * waits). A borrowed lane's thread stays asleep: the borrower runs the
     * lane and is the one woken, if it sleeps (bm__lane_return wakes the
     * thread if work is left when it gives the lane back). */
    if (atomic_load(&l->own) == BM__LANE_BORROWED) {
        if (atomic_load(&l->bparked)) {
            pthread_mutex_lock(&l->mu);
            pthread_mutex_unlock(&l->mu);
            bm_cond_signal(&l->bcv);
        }
        return;
    }
    if (atomic_load(&l->parked)) {
        pthread_mutex_lock(&l->mu);
        pthread_mutex_unlock(&l->mu);
        bm_cond_signal(&l->cv);
    }
}

struct bm__actor *bm__lane_next(struct bm__lane *l)
{
    struct bm__actor *a = l->next_slot;

    if (a != NULL) {
        l->next_slot = NULL;
        if (++l->slot_runs < SLOT_RUNS_MAX ||
            atomic_load_explicit(&l->rq.len, memory_order_relaxed) == 0) {
            return a;
        }
        /* Let queued actors run: the slot actor goes to the back. */
        runq_push(&l->rq, a);
    }
    l->slot_runs = 0;
    return runq_pop(&l->rq);
}

/* True while the caller must go on sleeping: nothing kicked it (or it is
 * the lane's thread and a borrower has the lane). Under l->mu. */
static bool lane_sleeps(struct bm__lane *l, bool borrower)
{
    if (!borrower && atomic_load(&l->own) == BM__LANE_BORROWED) {
        return true;
    }
    return !atomic_load(&l->kicked) && !atomic_load(&l->quit);
}

enum bm__park bm__lane_park(struct bm__lane *l, uint64_t deadline_ns)
{
    bool borrower = bm__tl_borrow == l;
    _Atomic bool *parked = borrower ? &l->bparked : &l->parked;
    struct bm_cond *cv = borrower ? &l->bcv : &l->cv;
    uint64_t spin = l->sys->spin_cycles;
    bool timed_out = false;

    /* Spin first: work or an answer that arrives meanwhile costs no
     * wake-up (the next block's request, a continuation from a worker). */
    if (spin > 0) {
        uint64_t end = bm__cycles() + spin;

        do {
            if (atomic_load_explicit(&l->kicked, memory_order_relaxed) ||
                atomic_load_explicit(&l->quit, memory_order_relaxed)) {
                break;
            }
            bm__cpu_relax();
        } while (bm__cycles() < end);
    }
    /* Always through the mutex, even when kicked while spinning: the
     * lane's thread then sees a borrower's return only after the borrower
     * let go of mu (at system stop the lane may be freed once its thread
     * ends). */
    pthread_mutex_lock(&l->mu);
    if (lane_sleeps(l, borrower)) {
        atomic_store(parked, true);
        while (lane_sleeps(l, borrower)) {
            if (bm_cond_wait_until(cv, &l->mu, deadline_ns) == ETIMEDOUT) {
                timed_out = true;
                break;
            }
        }
        atomic_store(parked, false);
    }
    pthread_mutex_unlock(&l->mu);
    if (atomic_exchange(&l->kicked, false)) {
        return BM__PARK_KICKED;
    }
    if (atomic_load(&l->quit)) {
        return BM__PARK_QUIT;
    }
    return timed_out ? BM__PARK_TIMEOUT : BM__PARK_KICKED;
}

/* The lane's thread has nothing to run: it lets the lane be borrowed
 * while it sleeps, and returns once it owns the lane again (kicked with
 * no borrower, or given back with work left or told to quit). */
static void lane_idle(struct bm__lane *l)
{
    int idle = BM__LANE_IDLE;

    atomic_store(&l->own, BM__LANE_IDLE);
    do {
        (void)bm__lane_park(l, BM_CLOCK_NEVER);
        idle = BM__LANE_IDLE;
    } while (!atomic_compare_exchange_strong(&l->own, &idle,
                                             BM__LANE_RUNNING));
}

bool bm__lane_borrow(struct bm_actor_system *sys, struct bm__lane *l)
{
    int idle = BM__LANE_IDLE;
    bool ok = false;

    /* While sys->lanes is set, lanes_join has not started: l is alive.
     * Not a lane with work queued or a kick pending: its thread has been
     * woken for it (or is about to be) and runs it; taking the lane would
     * only make that wake-up a wasted one. */
    pthread_mutex_lock(&sys->dt_mu);
    if (sys->lanes != NULL) {
        pthread_mutex_lock(&l->mu);
        ok = !atomic_load(&l->quit) && !atomic_load(&l->kicked) &&
             atomic_load(&l->rq.len) == 0 &&
             atomic_compare_exchange_strong(&l->own, &idle,
                                            BM__LANE_BORROWED);
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&sys->dt_mu);
    return ok;
}

void bm__lane_return(struct bm__lane *l)
{
    struct bm__actor *a = l->next_slot;

    if (a != NULL) {
        l->next_slot = NULL;
        runq_push(&l->rq, a);
    }
    l->slot_runs = 0;
    /* The kicks seen while borrowed were the borrower's (the queue is
     * looked at below): cleared first, so that a stale flag neither stops
     * the next borrow nor hides a kick made after it. own is stored before
     * the queue is read, and a sender pushes before it sets the flag and
     * reads own (bm__lane_kick): either the sender sees the lane idle and
     * wakes its thread, or this sees the work. Signalled under mu: at
     * system stop the thread may end, and l be freed, once mu is free. */
    pthread_mutex_lock(&l->mu);
    atomic_store(&l->kicked, false);
    atomic_store(&l->own, BM__LANE_IDLE);
    if (atomic_load(&l->rq.len) > 0 || atomic_load(&l->quit)) {
        atomic_store(&l->kicked, true);
        bm_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

static void *lane_main(void *arg)
{
    struct bm__lane *l = arg;
    struct bm_actor_system *sys = l->sys;

    bm__tl_sys = sys;
    bm__tl_lane = l;
    {
        char name[16]; /* the lane's name, written before the thread */

        snprintf(name, sizeof(name), "bm:%.12s", l->name);
        (void)pthread_setname_np(pthread_self(), name);
    }
    for (;;) {
        struct bm__actor *a = bm__lane_next(l);

        if (a != NULL) {
            bm__run_turn(sys, a);
            continue;
        }
        if (atomic_load(&l->quit)) {
            break;
        }
        lane_idle(l);
    }
    bm__tl_lane = NULL;
    bm__tl_sys = NULL;
    return NULL;
}

int bm__lane_get(struct bm_actor_system *sys, const char *name,
                 struct bm__lane **out)
{
    struct bm__lane *l;
    size_t n = strnlen(name, BM_ACTOR_NAME_MAX - 1);
    int err = BM_OK;

    pthread_mutex_lock(&sys->dt_mu);
    for (l = sys->lanes; l != NULL; l = l->next_all) {
        if (strncmp(l->name, name, n) == 0 && l->name[n] == '\0') {
            goto out;
        }
    }
    l = bm_calloc(1, sizeof(*l));
    if (l == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    l->sys = sys;
    memcpy(l->name, name, n);
    runq_init(&l->rq);
    pthread_mutex_init(&l->mu, NULL);
    bm_cond_init(&l->cv);
    bm_cond_init(&l->bcv);
    atomic_init(&l->kicked, false);
    atomic_init(&l->quit, false);
    atomic_init(&l->parked, false);
    atomic_init(&l->own, BM__LANE_RUNNING);
    atomic_init(&l->bparked, false);
    if (pthread_create(&l->th, NULL, lane_main, l) != 0) {
        pthread_mutex_destroy(&l->rq.mu);
        pthread_mutex_destroy(&l->mu);
        bm_cond_destroy(&l->cv);
        bm_cond_destroy(&l->bcv);
        bm_free(l);
        l = NULL;
        err = BM_ESYS;
        goto out;
    }
    l->next_all = sys->lanes;
    sys->lanes = l;
out:
    pthread_mutex_unlock(&sys->dt_mu);
    *out = l;
    return err;
}

/* Joins every lane's thread after it ran what was left runnable. */
static void lanes_join(struct bm_actor_system *sys)
{
    struct bm__lane *l, *next;

    pthread_mutex_lock(&sys->dt_mu);
    l = sys->lanes;
    sys->lanes = NULL;
    pthread_mutex_unlock(&sys->dt_mu);
    for (; l != NULL; l = next) {
        next = l->next_all;
        pthread_mutex_lock(&l->mu);
        atomic_store(&l->quit, true);
        bm_cond_signal(&l->cv);
        /* A borrower gives the lane back (bm__lane_return) before the
         * thread can end. */
        bm_cond_signal(&l->bcv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
        pthread_mutex_destroy(&l->rq.mu);
        pthread_mutex_destroy(&l->mu);
        bm_cond_destroy(&l->cv);
        bm_cond_destroy(&l->bcv);
        bm_free(l);
    }
}

/* ------------------------------------------------------------ system */

int bm_actor_system_new(struct bm_actor_system **out,
                        const struct bm_actor_system_config *cfg)
{
    struct bm_actor_system *sys;
    struct bm_actor_system_config c;
    int err;

    *out = NULL;
    if (cfg != NULL) {
        c = *cfg;
    } else {
        bm_actor_system_config_init(&c);
    }
    if (c.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        c.workers = n > 0 ? (unsigned)n : 1;
    }
    if (c.batch == 0) {
        c.batch = 64;
    }
    if (c.max_actors == 0) {
        c.max_actors = 1u << 21;
    }
    if (c.default_capacity == 0) {
        c.default_capacity = 1024;
    }
    if (c.timer_tick_ms == 0) {
        c.timer_tick_ms = 1;
    }
    if (c.workers > 1024 || c.max_actors > (1u << 28) ||
        c.timer_tick_ms > 1000 || c.default_capacity > (1u << 30) ||
        c.spin_us > 10000 ||
        (c.sched != BM_SCHED_STEALING && c.sched != BM_SCHED_SHARED)) {
        return BM_EINVAL;
    }
    sys = bm_calloc(1, sizeof(*sys));
    if (sys == NULL) {
        return BM_ENOMEM;
    }
    sys->cfg = c;
    bm__pool_init(&sys->pool);
    sys->nchunks = (c.max_actors + BM__CHUNK - 1) / BM__CHUNK;
    sys->chunks = bm_calloc(sys->nchunks, sizeof(*sys->chunks));
    sys->workers = bm_calloc(c.workers, sizeof(*sys->workers));
    if (sys->chunks == NULL || sys->workers == NULL) {
        bm_free(sys->chunks);
        bm_free(sys->workers);
        bm__pool_release(&sys->pool);
        bm_free(sys);
        return BM_ENOMEM;
    }
    sys->nworkers = c.workers;
    sys->next_slot = 1; /* slot 0 is BM_ACTOR_ID_NONE */
    pthread_mutex_init(&sys->slot_mu, NULL);
    pthread_mutex_init(&sys->dt_mu, NULL);
    pthread_mutex_init(&sys->exit_mu, NULL);
    bm_cond_init(&sys->exit_cv);
    pthread_mutex_init(&sys->ask_mu, NULL);
    runq_init(&sys->shared);
    for (unsigned i = 0; i < c.workers; i++) {
        struct bm__worker *w = &sys->workers[i];

        w->sys = sys;
        w->idx = i;
        runq_init(&w->rq);
        pthread_mutex_init(&w->pmu, NULL);
        bm_cond_init(&w->pcv);
    }
    {
        /* Calibrate the cycle counter against the monotonic clock. */
        uint64_t c0 = bm__cycles(), t0 = bm_clock_now_ns(), c1, t1;

        bm_sleep_ms(2);
        c1 = bm__cycles();
        t1 = bm_clock_now_ns();
        sys->ns_per_cycle_q32 = c1 > c0 ? ((t1 - t0) << 32) / (c1 - c0)
                                        : (1ull << 32);
        sys->spin_cycles = sys->ns_per_cycle_q32 == 0
                               ? 0
                               : ((uint64_t)c.spin_us * 1000ull << 32) /
                                     sys->ns_per_cycle_q32;
    }
    err = bm__timers_init(sys);
    if (err != BM_OK) {
        bm_actor_system_free(sys);
        return err;
    }
    *out = sys;
    return BM_OK;
}

int bm_actor_system_start(struct bm_actor_system *sys)
{
    int err;

    if (sys->started || sys->stopped) {
        return BM_ESTATE;
    }
    if (bm__on_actor_thread()) {
        return BM_EINVAL;
    }
    err = bm__timers_start_thread(sys);
    if (err != BM_OK) {
        return err;
    }
    for (unsigned i = 0; i < sys->nworkers; i++) {
        if (pthread_create(&sys->workers[i].th, NULL, worker_main,
                           &sys->workers[i]) != 0) {
            atomic_store(&sys->workers_stop, true);
            for (unsigned j = 0; j < i; j++) {
                wake_worker(&sys->workers[j]);
                pthread_join(sys->workers[j].th, NULL);
            }
            bm__timers_stop_thread(sys);
            atomic_store(&sys->workers_stop, false);
            return BM_ESYS;
        }
    }
    sys->started = true;
    /* Actors spawned before start were queued round-robin: wake all. */
    for (unsigned i = 0; i < sys->nworkers; i++) {
        wake_worker(&sys->workers[i]);
    }
    return BM_OK;
}

void bm__root_failed(struct bm_actor_system *sys, int reason)
{
    bool first;

    pthread_mutex_lock(&sys->exit_mu);
    first = !sys->root_failed;
    if (first) {
        sys->root_failed = true;
        sys->root_failure = reason;
    }
    bm_cond_broadcast(&sys->exit_cv);
    pthread_mutex_unlock(&sys->exit_mu);
    bm_log(BM_LOG_ERROR, "actor", "root supervisor gave up err=%s",
           bm_err_name(reason));
    if (first && sys->cfg.on_root_failure != NULL) {
        sys->cfg.on_root_failure(sys->cfg.on_root_failure_arg, reason);
    }
}

int bm_actor_system_wait(struct bm_actor_system *sys, int64_t timeout_ms)
{
    uint64_t deadline = bm_clock_deadline_ms(timeout_ms);
    int rc;

    if (bm__on_actor_thread()) {
        return BM_EINVAL;
    }
    pthread_mutex_lock(&sys->exit_mu);
    atomic_fetch_add(&sys->exit_waiters, 1);
    while (!sys->root_failed) {
        if (bm_cond_wait_until(&sys->exit_cv, &sys->exit_mu, deadline) ==
            ETIMEDOUT) {
            break;
        }
    }
    atomic_fetch_sub(&sys->exit_waiters, 1);
    rc = sys->root_failed ? sys->root_failure : BM_ETIMEDOUT;
    pthread_mutex_unlock(&sys->exit_mu);
    return rc;
}

static void stop_all_live(struct bm_actor_system *sys);

/* Waits (bounded) until fewer than or equal to `target` actors are live;
 * re-sends stops now and then for actors that a spawn in flight created
 * after the first sweep. */
static bool wait_live(struct bm_actor_system *sys, uint64_t target,
                      uint64_t deadline_ns)
{
    unsigned rounds = 0;

    pthread_mutex_lock(&sys->exit_mu);
    atomic_fetch_add(&sys->exit_waiters, 1);
    while (atomic_load(&sys->live) > target) {
        uint64_t now = bm_clock_now_ns(), slice;

        if (now >= deadline_ns) {
            break;
        }
        if (++rounds % 10 == 0) {
            pthread_mutex_unlock(&sys->exit_mu);
            stop_all_live(sys);
            pthread_mutex_lock(&sys->exit_mu);
        }
        /* Short waits (exits broadcast exit_cv): every 10th round re-sends
         * the stops above. Only while the system stops. */
        slice = bm_clock_after_ms(now, 20);
        bm_cond_wait_until(&sys->exit_cv, &sys->exit_mu,
                           slice < deadline_ns ? slice : deadline_ns);
    }
    atomic_fetch_sub(&sys->exit_waiters, 1);
    pthread_mutex_unlock(&sys->exit_mu);
    return atomic_load(&sys->live) <= target;
}

static void stop_all_live(struct bm_actor_system *sys)
{
    uint32_t n;

    pthread_mutex_lock(&sys->slot_mu);
    n = sys->next_slot;
    pthread_mutex_unlock(&sys->slot_mu);
    for (uint32_t s = 1; s < n; s++) {
        struct bm__actor *a = bm__slot_actor(sys, s);
        uint64_t life;

        if (a == NULL) {
            continue;
        }
        life = atomic_load(&a->life);
        if (life & BM__LIFE_CLOSED) {
            continue;
        }
        bm_actor_stop(sys, (struct bm_actor_id){s, (uint32_t)(life >> 32)});
    }
}

/* After all threads are joined: finalize whatever is still alive
 * (abandoned or never started) so nothing leaks. Single-threaded. */
static void reap_remaining(struct bm_actor_system *sys)
{
    uint32_t n = sys->next_slot;

    for (uint32_t s = 1; s < n; s++) {
        struct bm__actor *a = bm__slot_actor(sys, s);

        if (a == NULL || (atomic_load(&a->life) & BM__LIFE_CLOSED) ||
            atomic_load(&a->status) == BM__ST_DEAD) {
            continue;
        }
        /* A supervisor's held children are finalized with it. */
        if (a->sup == NULL && !bm_actor_id_is_none(a->parent)) {
            struct bm__actor *p = bm__slot_actor(sys, a->parent.slot);

            if (p != NULL && atomic_load(&p->status) != BM__ST_DEAD &&
                !(atomic_load(&p->life) & BM__LIFE_CLOSED)) {
                continue;
            }
        }
        bm__actor_terminate(a, BM_ESHUTDOWN);
        a->parent = BM_ACTOR_ID_NONE;
        bm__actor_finalize(sys, a, BM_ESHUTDOWN);
    }
    /* Second pass for children skipped above whose parent was reaped. */
    for (uint32_t s = 1; s < n; s++) {
        struct bm__actor *a = bm__slot_actor(sys, s);

        if (a == NULL || (atomic_load(&a->life) & BM__LIFE_CLOSED) ||
            atomic_load(&a->status) == BM__ST_DEAD) {
            continue;
        }
        bm__actor_terminate(a, BM_ESHUTDOWN);
        a->parent = BM_ACTOR_ID_NONE;
        bm__actor_finalize(sys, a, BM_ESHUTDOWN);
    }
}

int bm_actor_system_stop(struct bm_actor_system *sys, int64_t timeout_ms)
{
    uint64_t deadline;
    struct bm_actor_id *roots = NULL;
    size_t nroots = 0;
    int rc;

    if (bm__on_actor_thread()) {
        return BM_EINVAL;
    }
    if (sys->stopped) {
        pthread_mutex_lock(&sys->exit_mu);
        rc = sys->root_failed ? sys->root_failure : BM_OK;
        pthread_mutex_unlock(&sys->exit_mu);
        return rc;
    }
    atomic_store(&sys->stopping, true);
    deadline = bm_clock_deadline_ms(timeout_ms);
    if (!sys->started) {
        /* Nothing ever ran: start the threads so stops can be processed. */
        if (bm_actor_system_start(sys) != BM_OK) {
            goto join;
        }
    }
    /* 1. Root supervisors, most recent first; each stops its tree in
     * reverse start order with the per-child shutdown timeouts. */
    pthread_mutex_lock(&sys->exit_mu);
    if (sys->nroots > 0) {
        roots = bm_xmalloc(sys->nroots * sizeof(*roots));
        memcpy(roots, sys->roots, sys->nroots * sizeof(*roots));
        nroots = sys->nroots;
    }
    pthread_mutex_unlock(&sys->exit_mu);
    for (size_t i = nroots; i-- > 0;) {
        if (bm_actor_stop(sys, roots[i]) == BM_OK) {
            int64_t left = bm_clock_left_ms(deadline);

            bm_actor_wait_exit(sys, roots[i], left == INT64_MAX ? -1 : left,
                               NULL);
        }
    }
    bm_free(roots);
    /* 2. Everything else; no new actors from now on. */
    atomic_store(&sys->closing, true);
    stop_all_live(sys);
    if (!wait_live(sys, 0, deadline)) {
        bm_log(BM_LOG_WARN, "actor",
               "actors still alive at stop deadline live=%llu",
               (unsigned long long)atomic_load(&sys->live));
    }
join:
    atomic_store(&sys->closing, true);
    bm__timers_stop_thread(sys);
    atomic_store(&sys->workers_stop, true);
    if (sys->started) {
        for (unsigned i = 0; i < sys->nworkers; i++) {
            wake_worker(&sys->workers[i]);
        }
        for (unsigned i = 0; i < sys->nworkers; i++) {
            pthread_join(sys->workers[i].th, NULL);
        }
    }
    dthreads_join(sys);
    lanes_join(sys);
    reap_remaining(sys);
    bm__asks_shutdown(sys);
    sys->stopped = true;
    pthread_mutex_lock(&sys->exit_mu);
    rc = sys->root_failed ? sys->root_failure : BM_OK;
    pthread_mutex_unlock(&sys->exit_mu);
    return rc;
}

void bm_actor_system_free(struct bm_actor_system *sys)
{
    if (sys == NULL) {
        return;
    }
    if (!sys->stopped && sys->workers != NULL && sys->chunks != NULL) {
        bm_actor_system_stop(sys, -1);
    }
    bm__timers_release(sys);
    bm__asks_release(sys);
    for (uint32_t c = 0; c < sys->nchunks; c++) {
        struct bm__actor *chunk = atomic_load(&sys->chunks[c]);

        if (chunk == NULL) {
            continue;
        }
        for (uint32_t i = 0; i < BM__CHUNK; i++) {
            pthread_mutex_destroy(&chunk[i].mu);
            bm_cond_destroy(&chunk[i].cv);
        }
        bm_free(sys->chunk_raw[c]);
    }
    bm_free(sys->chunk_raw);
    bm_free(sys->chunks);
    for (unsigned i = 0; i < sys->nworkers; i++) {
        pthread_mutex_destroy(&sys->workers[i].rq.mu);
        pthread_mutex_destroy(&sys->workers[i].pmu);
        bm_cond_destroy(&sys->workers[i].pcv);
    }
    bm_free(sys->workers);
    pthread_mutex_destroy(&sys->shared.mu);
    bm_free(sys->free_slots);
    bm_free(sys->roots);
    pthread_mutex_destroy(&sys->slot_mu);
    pthread_mutex_destroy(&sys->dt_mu);
    pthread_mutex_destroy(&sys->exit_mu);
    bm_cond_destroy(&sys->exit_cv);
    pthread_mutex_destroy(&sys->ask_mu);
    bm__pool_release(&sys->pool);
    bm_free(sys);
}

void bm_actor_system_stats_get(struct bm_actor_system *sys,
                               struct bm_actor_system_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->live_actors = atomic_load(&sys->live);
    out->spawned = atomic_load(&sys->spawned);
    out->exited = atomic_load(&sys->exited);
    out->asks_pending = atomic_load(&sys->asks_pending);
    out->asks_timed_out = atomic_load(&sys->asks_timed_out);
    out->late_replies = atomic_load(&sys->late_replies);
    out->timers_active = atomic_load(&sys->timers_active);
    out->timer_wakeups = atomic_load(&sys->timer_wakeups);
    out->steals = atomic_load(&sys->steals);
}
