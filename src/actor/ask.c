/*
 * Request/reply: the ask table, futures for outside callers and
 * continuations for actors.
 *
 * Every ask gets an entry in a slot table keyed by a 64-bit correlation id
 * (generation << 32 | slot) and a deadline timer (none for an infinite
 * timeout: INT64_MAX ms saturates to BM_CLOCK_NEVER). Whoever
 * removes the entry (the reply, the deadline, the target's exit, an
 * abandoning caller, system stop) completes the ask; everyone else finds
 * it gone, so a late reply is discarded (reply_dtor) and counted instead
 * of completing twice.
 */
#include "actor/actor_internal.h"

#include "util/clock.h"
#include "util/alloc.h"

#include <errno.h>
#include <string.h>

struct bm_future {
    pthread_mutex_t mu;
    struct bm_cond cv;
    int refs;
    bool done;
    bool taken;
    bool abandoned;
    /* Mirrors done for a waiter's spin (a hint: the reply is read under mu
     * as always). */
    _Atomic bool done_hint;
    int status;
    void *reply;
    size_t reply_len;
    bm_msg_dtor_fn *reply_dtor;
    struct bm_actor_system *sys;
    uint64_t corr;
    /* The lane whose thread (or borrower) helps-waits on this future
     * (kicked at completion), or NULL. Under mu. */
    struct bm__lane *lane;
};

static void future_unref(struct bm_future *f)
{
    bool last;

    pthread_mutex_lock(&f->mu);
    last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (last) {
        pthread_mutex_destroy(&f->mu);
        bm_cond_destroy(&f->cv);
        bm_free(f->reply);
        bm_free(f);
    }
}

/* Returns false if the caller abandoned the future (reply not taken). */
static bool future_complete(struct bm_future *f, int status,
                            const void *reply, size_t len)
{
    struct bm__lane *lane = NULL;
    bool delivered;

    pthread_mutex_lock(&f->mu);
    delivered = !f->abandoned;
    if (delivered) {
        f->status = status;
        if (status == BM_OK && len > 0) {
            f->reply = bm_xmalloc(len);
            memcpy(f->reply, reply, len);
        }
        f->reply_len = status == BM_OK ? len : 0;
        f->done = true;
        atomic_store_explicit(&f->done_hint, true, memory_order_release);
        lane = f->lane;
    }
    pthread_mutex_unlock(&f->mu);
    /* After unlocking (a woken waiter does not block on f->mu at once);
     * f lives on: this entry's reference is dropped below. */
    if (delivered) {
        bm_cond_broadcast(&f->cv);
    }
    /* Completed on the waiting lane's own thread (an actor its help loop
     * ran): the loop sees done after that turn, no kick needed. */
    if (lane != NULL && lane != bm__tl_lane) {
        bm__lane_kick(lane);
    }
    future_unref(f);
    return delivered;
}

/* ------------------------------------------------------------ table */

static uint64_t ask_register(struct bm_actor_system *sys,
                             const struct bm__ask *tmpl, int64_t timeout_ms)
{
    uint32_t slot;
    struct bm__ask *e;
    uint64_t corr;

    pthread_mutex_lock(&sys->ask_mu);
    if (sys->ask_free != 0) {
        slot = sys->ask_free;
        sys->ask_free = sys->asks[slot].next_free;
    } else {
        if (sys->nasks == 0) {
            sys->nasks = 1; /* slot 0: corr 0 means "no ask" */
        }
        if (sys->nasks >= sys->capasks) {
            uint32_t ncap = sys->capasks ? sys->capasks * 2 : 64;

            sys->asks = bm_xrealloc(sys->asks, ncap * sizeof(*sys->asks));
            memset(sys->asks + sys->capasks, 0,
                   (ncap - sys->capasks) * sizeof(*sys->asks));
            sys->capasks = ncap;
        }
        slot = sys->nasks++;
    }
    e = &sys->asks[slot];
    {
        uint32_t gen = e->gen + 1;

        *e = *tmpl;
        e->gen = gen == 0 ? 1 : gen;
    }
    e->used = true;
    e->next_free = 0;
    corr = ((uint64_t)e->gen << 32) | slot;
    atomic_fetch_add(&sys->asks_pending, 1);
    /* Lock order: ask_mu, then tm_mu (the timer thread fires with no
     * lock held). */
    if (bm__timer_start_ask(sys, corr, timeout_ms, &e->timer) != BM_OK) {
        e->timer = (struct bm_timer_id){0, 0};
    }
    pthread_mutex_unlock(&sys->ask_mu);
    return corr;
}

/* Removes the entry for corr into *out; false if gone. Caller holds
 * ask_mu. */
static bool ask_take(struct bm_actor_system *sys, uint64_t corr,
                     struct bm__ask *out)
{
    uint32_t slot = (uint32_t)corr, gen = (uint32_t)(corr >> 32);
    struct bm__ask *e;

    if (slot == 0 || slot >= sys->nasks) {
        return false;
    }
    e = &sys->asks[slot];
    if (!e->used || e->gen != gen) {
        return false;
    }
    *out = *e;
    e->used = false;
    e->fut = NULL;
    e->next_free = sys->ask_free;
    sys->ask_free = slot;
    atomic_fetch_sub(&sys->asks_pending, 1);
    return true;
}

bool bm__ask_complete(struct bm_actor_system *sys, uint64_t corr, int status,
                      const void *reply, size_t len, bool from_timer)
{
    struct bm__ask e;
    struct bm__node *n;
    bool found;

    pthread_mutex_lock(&sys->ask_mu);
    found = ask_take(sys, corr, &e);
    pthread_mutex_unlock(&sys->ask_mu);
    if (!found) {
        if (!from_timer) {
            atomic_fetch_add_explicit(&sys->late_replies, 1,
                                      memory_order_relaxed);
        }
        return false;
    }
    if (from_timer) {
        atomic_fetch_add_explicit(&sys->asks_timed_out, 1,
                                  memory_order_relaxed);
    } else if (e.timer.slot != 0) {
        bm_timer_cancel(sys, e.timer);
    }
    if (!e.cont) {
        bool ok = future_complete(e.fut, status, reply, len);

        if (!ok) {
            atomic_fetch_add_explicit(&sys->late_replies, 1,
                                      memory_order_relaxed);
        }
        return ok;
    }
    n = bm__node_alloc(&sys->pool);
    n->sys = BM__SYS_CONT;
    n->kind = e.reply_kind;
    n->status = status;
    n->corr = e.cookie;
    if (e.reply_size > BM_MSG_INLINE) {
        n->heap = bm_xcalloc(1, e.reply_size);
        n->flags = BM__NF_HEAP;
    } else {
        memset(n->u.bytes, 0, sizeof(n->u.bytes));
    }
    if (status == BM_OK && len > 0 && len == e.reply_size) {
        memcpy(bm__node_payload(n), reply, len);
    }
    if (bm__tl_actor != NULL) {
        n->from = bm__actor_id(bm__tl_actor);
    }
    if (bm__send_sys(sys, e.asker, n) != BM_OK) {
        bm__node_dispose(sys, n);
        atomic_fetch_add_explicit(&sys->late_replies, 1, memory_order_relaxed);
        return false;
    }
    return true;
}

/* Removes a still-pending ask (send failed or caller abandoned it). */
static bool ask_cancel(struct bm_actor_system *sys, uint64_t corr)
{
    struct bm__ask e;
    bool found;

    pthread_mutex_lock(&sys->ask_mu);
    found = ask_take(sys, corr, &e);
    pthread_mutex_unlock(&sys->ask_mu);
    if (found && e.timer.slot != 0) {
        bm_timer_cancel(sys, e.timer);
    }
    return found;
}

void bm__asks_shutdown(struct bm_actor_system *sys)
{
    for (;;) {
        struct bm__ask e;
        bool found = false;

        pthread_mutex_lock(&sys->ask_mu);
        for (uint32_t s = 1; s < sys->nasks && !found; s++) {
            if (sys->asks[s].used) {
                found = ask_take(sys, ((uint64_t)sys->asks[s].gen << 32) | s,
                                 &e);
            }
        }
        pthread_mutex_unlock(&sys->ask_mu);
        if (!found) {
            break;
        }
        if (!e.cont) {
            future_complete(e.fut, BM_ESHUTDOWN, NULL, 0);
        }
    }
}

void bm__asks_release(struct bm_actor_system *sys)
{
    bm_free(sys->asks);
    sys->asks = NULL;
    sys->nasks = sys->capasks = 0;
}

/* ------------------------------------------------------------ ask */

struct ask_pre {
    struct bm_actor_system *sys;
    struct bm__ask tmpl;
    size_t cont_size;
    int64_t timeout_ms;
    bool registered;
    uint64_t corr;
    struct bm_future *fut;
    bool borrow;               /* borrow the target's lane if idle */
    struct bm__lane *borrowed; /* the lane borrowed, or NULL */
};

/* True on a thread that is not one of the runtime's (workers, detached
 * and lane threads, the timer thread set bm__tl_sys; a borrower too, while
 * it borrows): only such a thread's wait may borrow a lane. */
static bool may_borrow(void)
{
    return bm__tl_sys == NULL && bm__tl_actor == NULL;
}

static int pre_register(void *arg, const struct bm__actor *to,
                        const struct bm_msg_kind *k, bool room,
                        uint64_t *corr)
{
    struct ask_pre *p = arg;

    if (p->tmpl.cont) {
        if (k->reply_size != p->cont_size) {
            return BM_EINVAL;
        }
        p->tmpl.reply_size = p->cont_size;
    } else {
        p->fut->reply_dtor = k->reply_dtor;
        p->tmpl.reply_size = k->reply_size;
    }
    p->corr = ask_register(p->sys, &p->tmpl, p->timeout_ms);
    p->registered = true;
    if (p->fut != NULL) {
        p->fut->corr = p->corr;
        /* Borrowed before the push, so that the push's kick finds the
         * lane borrowed and does not wake its thread (a wait that began
         * after the push would find the thread woken). Not when the send
         * may wait for room: only the lane can make room, and its owner
         * would be the one waiting. */
        if (p->borrow && room && to->lane != NULL &&
            bm__lane_borrow(p->sys, to->lane)) {
            p->borrowed = to->lane;
        }
    }
    *corr = p->corr;
    return BM_OK;
}

/* bm_actor_ask; with `borrow` (a non-runtime thread about to wait), the
 * target's lane is borrowed if idle and returned in *borrowed (NULL if
 * not), which the caller passes to future_wait. */
static int ask_future(struct bm_actor_system *sys, struct bm_actor_id to,
                      uint32_t kind, void *payload, size_t len,
                      int64_t timeout_ms, bool borrow,
                      struct bm__lane **borrowed, struct bm_future **out)
{
    struct ask_pre p;
    struct bm_future *f;
    int err;

    *out = NULL;
    *borrowed = NULL;
    if (timeout_ms <= 0) {
        return BM_EINVAL;
    }
    f = bm_xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    bm_cond_init(&f->cv);
    f->refs = 2; /* the caller and the ask entry */
    f->sys = sys;
    atomic_init(&f->done_hint, false);
    memset(&p, 0, sizeof(p));
    p.sys = sys;
    p.tmpl.cont = false;
    p.tmpl.fut = f;
    p.timeout_ms = timeout_ms;
    p.fut = f;
    p.borrow = borrow && may_borrow();
    err = bm__send_user(sys, to, kind, payload, len, BM__NF_ASK, pre_register,
                        &p, NULL);
    if (err != BM_OK) {
        if (p.borrowed != NULL) {
            bm__lane_return(p.borrowed);
        }
        if (p.registered && ask_cancel(sys, p.corr)) {
            future_unref(f); /* the entry's reference */
        } else if (!p.registered) {
            future_unref(f);
        }
        future_unref(f);
        return err;
    }
    *borrowed = p.borrowed;
    *out = f;
    return BM_OK;
}

int bm_actor_ask(struct bm_actor_system *sys, struct bm_actor_id to,
                 uint32_t kind, void *payload, size_t len, int64_t timeout_ms,
                 struct bm_future **out)
{
    struct bm__lane *borrowed;

    return ask_future(sys, to, kind, payload, len, timeout_ms, false,
                      &borrowed, out);
}

void bm__future_wake(struct bm_future *f)
{
    pthread_mutex_lock(&f->mu);
    bm_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Waits for completion (caller holds f->mu). BM_OK when done, BM_EAGAIN
 * at the deadline, BM_ESTOPPED when the detached actor `self` is asked to
 * stop (bm__send_sys wakes the future registered in self->waiting_on). */
static bool stop_requested(const struct bm__actor *self)
{
    uint64_t req = atomic_load(&self->stop_req);

    return req == UINT64_MAX ||
           (req != 0 && req == (uint64_t)self->epoch + 1);
}

static int wait_done(struct bm_future *f, struct bm__actor *self,
                     uint64_t deadline)
{
    while (!f->done) {
        if (self != NULL && stop_requested(self)) {
            return BM_ESTOPPED;
        }
        if (bm_cond_wait_until(&f->cv, &f->mu, deadline) == ETIMEDOUT &&
            !f->done) {
            return BM_EAGAIN;
        }
    }
    return BM_OK;
}

/*
 * Runs lane l's work (next slot, then queue) until f completes (BM_OK),
 * the lane actor `self` is asked to stop (BM_ESTOPPED; bm__send_sys kicks
 * the lane), the deadline passes (BM_EAGAIN: checked between turns too) or
 * the lane is told to quit (BM_ESHUTDOWN: at once for a borrower, self
 * NULL; when it has nothing left to run for the lane's thread). Whatever
 * it waits for kicks the lane: the completion of f (f->lane), work queued
 * for the lane, a stop request. The actors it runs are never self (self
 * holds SCHED for the whole wait). Returns with f->mu held and f->lane
 * cleared.
 */
static int run_lane(struct bm_future *f, struct bm__lane *l,
                    struct bm__actor *self, uint64_t deadline)
{
    int rc = BM_OK;

    pthread_mutex_lock(&f->mu);
    f->lane = l;
    while (!f->done) {
        struct bm__actor *a;

        pthread_mutex_unlock(&f->mu);
        if (self != NULL && stop_requested(self)) {
            rc = BM_ESTOPPED;
        } else if (self == NULL && atomic_load(&l->quit)) {
            rc = BM_ESHUTDOWN;
        } else if (deadline != BM_CLOCK_NEVER &&
                   bm_clock_now_ns() >= deadline) {
            rc = BM_EAGAIN;
        } else if ((a = bm__lane_next(l)) != NULL) {
            bm__run_turn(l->sys, a);
        } else {
            switch (bm__lane_park(l, deadline)) {
            case BM__PARK_TIMEOUT:
                rc = BM_EAGAIN;
                break;
            case BM__PARK_QUIT:
                rc = BM_ESHUTDOWN;
                break;
            default:
                break;
            }
        }
        pthread_mutex_lock(&f->mu);
        if (rc != BM_OK && !f->done) {
            break;
        }
        rc = BM_OK;
    }
    /* Cleared under f->mu: a later completion no longer kicks the lane
     * (a borrowed one may be freed once given back, at system stop). */
    f->lane = NULL;
    return rc;
}

/*
 * A lane actor's wait: the lane's thread runs the lane's other runnable
 * actors (and the pooled ones in its next slot) until f completes, self
 * is asked to stop or the deadline passes (run_lane). Returns as
 * wait_done (or BM_ESHUTDOWN once the lane is told to quit at system
 * stop), with f->mu held.
 */
static int help_wait(struct bm_future *f, struct bm__actor *self,
                     uint64_t deadline)
{
    return run_lane(f, self->lane, self, deadline);
}

/*
 * A non-runtime thread's wait on a borrowed lane (bm__lane_borrow): the
 * caller runs the lane's work as its thread would, with the lane as its
 * current lane (so pooled actors woken there run in its next slot), until
 * f completes (BM_OK), the deadline passes (BM_EAGAIN) or the lane is told
 * to quit (BM_ESHUTDOWN: the caller then waits as any other thread); then
 * it gives the lane back. A turn that blocks blocks the caller, which was
 * waiting anyway. Returns with f->mu held.
 */
static int borrow_wait(struct bm_future *f, struct bm__lane *l,
                       uint64_t deadline)
{
    int rc;

    bm__tl_sys = l->sys;
    bm__tl_lane = l;
    bm__tl_borrow = l;
    rc = run_lane(f, l, NULL, deadline);
    pthread_mutex_unlock(&f->mu);
    bm__lane_return(l);
    bm__tl_borrow = NULL;
    bm__tl_lane = NULL;
    bm__tl_sys = NULL;
    pthread_mutex_lock(&f->mu);
    return rc;
}

/* bm_future_wait; `held`: the lane the caller borrowed in ask_future, or
 * NULL. */
static int future_wait(struct bm_future *f, int64_t wait_ms, void *reply,
                       size_t reply_len, struct bm__lane *held)
{
    struct bm__actor *self = bm__tl_actor; /* detached/lane actor, or NULL */
    uint64_t deadline;
    int status;

    if (bm__on_pooled_actor_thread()) {
        if (held != NULL) {
            bm__lane_return(held);
        }
        return BM_EINVAL;
    }
    deadline = bm_clock_deadline_ms(wait_ms);
    if (self != NULL && self->lane != NULL && self->lane == bm__tl_lane) {
        status = help_wait(f, self, deadline);
        goto done;
    }
    /* A non-runtime thread's call to a lane actor runs the lane itself
     * while its thread sleeps (actor.h "Lanes"). */
    if (held != NULL) {
        status = borrow_wait(f, held, deadline);
        if (status == BM_ESHUTDOWN) {
            /* The lanes are being joined: the ask ends with the stop. */
            status = wait_done(f, NULL, deadline);
        }
        goto done;
    }
    /* Spin a while before sleeping: an answer within it costs no wake-up
     * (system config spin_us). */
    if (wait_ms != 0 && f->sys->spin_cycles > 0) {
        uint64_t end = bm__cycles() + f->sys->spin_cycles;

        while (!atomic_load_explicit(&f->done_hint, memory_order_acquire) &&
               bm__cycles() < end &&
               (self == NULL || !stop_requested(self))) {
            bm__cpu_relax();
        }
    }
    if (self != NULL) {
        /* A detached actor's wait ends when it is asked to stop (its
         * supervisor restarting it, the system stopping), so that the stop
         * is not held up by an answer that may only come after it. Lock
         * order: self->mu, then f->mu. */
        pthread_mutex_lock(&self->mu);
        self->waiting_on = f;
        pthread_mutex_unlock(&self->mu);
    }
    pthread_mutex_lock(&f->mu);
    status = wait_done(f, self, deadline);
done:
    if (status == BM_OK && f->taken) {
        status = BM_ESTATE;
    } else if (status == BM_OK) {
        status = f->status;
        if (status == BM_OK &&
            (reply_len != f->reply_len || (reply_len > 0 && reply == NULL))) {
            status = BM_EINVAL;
        } else {
            if (status == BM_OK && reply_len > 0) {
                memcpy(reply, f->reply, reply_len);
            }
            f->taken = true;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (self != NULL && self->lane == NULL) {
        pthread_mutex_lock(&self->mu);
        self->waiting_on = NULL;
        pthread_mutex_unlock(&self->mu);
    }
    return status;
}

int bm_future_wait(struct bm_future *f, int64_t wait_ms, void *reply,
                   size_t reply_len)
{
    return future_wait(f, wait_ms, reply, reply_len, NULL);
}

void bm_future_free(struct bm_future *f)
{
    bool pending;

    if (f == NULL) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->abandoned = true;
    pending = !f->done;
    pthread_mutex_unlock(&f->mu);
    if (pending && ask_cancel(f->sys, f->corr)) {
        future_unref(f); /* we removed the entry: drop its reference */
    }
    pthread_mutex_lock(&f->mu);
    if (f->done && !f->taken && f->status == BM_OK && f->reply != NULL &&
        f->reply_dtor != NULL) {
        f->reply_dtor(f->reply);
    }
    f->taken = true;
    pthread_mutex_unlock(&f->mu);
    future_unref(f);
}

static int call(struct bm_actor_system *sys, struct bm_actor_id to,
                uint32_t kind, void *payload, size_t len, void *reply,
                size_t reply_len, int64_t timeout_ms, bool borrow)
{
    struct bm_future *f;
    struct bm__lane *held;
    int err;

    if (bm__on_pooled_actor_thread()) {
        return BM_EINVAL;
    }
    err = ask_future(sys, to, kind, payload, len, timeout_ms, borrow, &held,
                     &f);
    if (err != BM_OK) {
        return err;
    }
    err = future_wait(f, -1, reply, reply_len, held);
    bm_future_free(f);
    return err;
}

int bm_actor_call(struct bm_actor_system *sys, struct bm_actor_id to,
                  uint32_t kind, void *payload, size_t len, void *reply,
                  size_t reply_len, int64_t timeout_ms)
{
    return call(sys, to, kind, payload, len, reply, reply_len, timeout_ms,
                false);
}

int bm_actor_call_inline(struct bm_actor_system *sys, struct bm_actor_id to,
                         uint32_t kind, void *payload, size_t len,
                         void *reply, size_t reply_len, int64_t timeout_ms)
{
    return call(sys, to, kind, payload, len, reply, reply_len, timeout_ms,
                true);
}

int bm_actor_ask_async(struct bm_actor_ctx *ctx, struct bm_actor_id to,
                       uint32_t kind, void *payload, size_t len,
                       int64_t timeout_ms, uint32_t reply_kind,
                       uint64_t cookie)
{
    struct ask_pre p;
    const struct bm_actor_type *t;
    int err;

    if (ctx == NULL || timeout_ms <= 0 || ctx->a != bm__tl_actor) {
        return BM_EINVAL;
    }
    t = ctx->a->type;
    if (reply_kind >= t->n_kinds) {
        return BM_EINVAL;
    }
    memset(&p, 0, sizeof(p));
    p.sys = ctx->sys;
    p.tmpl.cont = true;
    p.tmpl.asker = ctx->self;
    p.tmpl.reply_kind = reply_kind;
    p.tmpl.cookie = cookie;
    p.cont_size = t->kinds[reply_kind].payload_size;
    p.timeout_ms = timeout_ms;
    err = bm__send_user(ctx->sys, to, kind, payload, len, BM__NF_ASK,
                        pre_register, &p, NULL);
    if (err != BM_OK && p.registered) {
        ask_cancel(ctx->sys, p.corr);
    }
    return err;
}
