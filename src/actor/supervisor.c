/*
 * Supervisors with OTP semantics.
 *
 * A supervisor is an actor of the internal type bm__sup_type whose state is
 * a struct bm__sup that survives its own restarts. Everything it does runs
 * on its own turn, driven by system-lane messages, so it never waits:
 *   CHILD_EXIT  a child exited; if `held` the child is parked (SCHED bit
 *               kept) until the supervisor restarts it (re-runs init, same
 *               id) or finalizes it;
 *   STOP        stop all children in reverse start order, then exit;
 *   SUP_TIMEOUT a child did not stop within its shutdown time.
 * Stopping several children is a sequence: send STOP to one child, wait for
 * its CHILD_EXIT (or the timeout), then the next lower one.
 *
 * Restart intensity: the times of the last intensity+1 restarts are kept
 * in a ring; one more restart inside `period` means give up: stop all
 * children, exit with BM_EESCALATED (children stay parked so the parent can
 * restart the whole subtree with the same ids). A root that gives up
 * reports the reason to bm_actor_system_wait/stop.
 */
#include "actor/actor_internal.h"

#include "util/alloc.h"
#include "util/log.h"

#include <string.h>

enum cstate { C_NONE = 0, C_HELD, C_RUNNING, C_STOPPING, C_ABANDONED, C_GONE };
enum after { A_RESTART = 0, A_EXIT };

struct child {
    const struct bm_child_spec *spec;
    struct bm_actor_id id;
    enum cstate st;
    int last_reason;
    bool pending; /* failed during a stop sequence, outside its range */
};

struct bm__sup {
    const struct bm_supervisor_spec *spec;
    struct child *ch;
    size_t n;
    uint64_t *ring;
    size_t ring_cap, ring_len, ring_head;
    bool stopping;
    size_t cur, lo;
    bool cur_waiting;
    enum after after;
    size_t r_lo, r_hi;
    int exit_reason;
    bool exit_hold;
    uint64_t seq;
    struct bm_timer_id timer;
};

static int sup_noop_handle(struct bm_actor_ctx *ctx, void *state,
                           void *payload)
{
    (void)ctx;
    (void)state;
    (void)payload;
    return BM_OK;
}

static const struct bm_msg_kind sup_kinds[1] = {
    {.name = "none", .handle = sup_noop_handle},
};

const struct bm_actor_type bm__sup_type = {
    .name = "supervisor",
    .kinds = sup_kinds,
    .n_kinds = 0,
};

void bm__sup_free(struct bm__sup *s)
{
    if (s == NULL) {
        return;
    }
    bm_free(s->ch);
    bm_free(s->ring);
    bm_free(s);
}

static bool abnormal(int reason)
{
    return reason != BM_OK && reason != BM_ESHUTDOWN;
}

static int64_t shutdown_of(const struct child *c)
{
    if (c->spec->shutdown_ms < 0) {
        return -1;
    }
    return c->spec->shutdown_ms == 0 ? 5000 : c->spec->shutdown_ms;
}

static bool record_restart(struct bm__sup *s)
{
    uint64_t now = bm_clock_now_ns();
    uint64_t period = (uint64_t)(s->spec->period_ms > 0 ? s->spec->period_ms
                                                        : 5000) *
                      1000000ull;
    size_t oldest;

    s->ring[s->ring_head] = now;
    s->ring_head = (s->ring_head + 1) % s->ring_cap;
    if (s->ring_len < s->ring_cap) {
        s->ring_len++;
    }
    if (s->ring_len < s->ring_cap) {
        return true;
    }
    /* ring_cap == intensity + 1 restarts; the oldest is at ring_head. */
    oldest = s->ring_head;
    return now - s->ring[oldest] > period;
}

static struct bm__actor *child_actor(struct bm_actor_system *sys,
                                     const struct child *c)
{
    struct bm__actor *ca = bm__slot_actor(sys, c->id.slot);

    if (ca == NULL || !bm_actor_id_eq(bm__actor_id(ca), c->id)) {
        return NULL;
    }
    return ca;
}

static int sup_spawn_held(struct bm_actor_system *sys,
                          const struct bm_supervisor_spec *spec,
                          struct bm_actor_id parent, const char *name,
                          struct bm__actor **out);

static bool external_thread(void)
{
    return bm__tl_actor == NULL && bm__tl_worker == NULL;
}

/* Spawns a child's actor, held (not runnable). */
static int start_child_held(struct bm_actor_system *sys, struct bm__actor *sa,
                            struct child *c)
{
    struct bm_actor_opts o = c->spec->opts;
    struct bm__actor *ca;
    int err;

    if (c->spec->name != NULL) {
        o.name = c->spec->name;
    }
    if (c->spec->sup != NULL) {
        err = sup_spawn_held(sys, c->spec->sup, bm__actor_id(sa), o.name,
                             &ca);
    } else {
        err = bm__spawn_held(sys, c->spec->type, c->spec->arg, &o,
                             bm__actor_id(sa), NULL, &ca);
    }
    if (err != BM_OK) {
        return err;
    }
    c->id = bm__actor_id(ca);
    c->st = C_HELD;
    c->pending = false;
    if (c->spec->id_out != NULL && external_thread()) {
        *c->spec->id_out = c->id;
    }
    return BM_OK;
}

/* Re-runs init of a held child. */
static int reinit_child(struct bm_actor_system *sys, struct child *c)
{
    struct bm__actor *ca = child_actor(sys, c);
    int err;

    if (ca == NULL) {
        return BM_ENOACTOR;
    }
    ca->epoch++;
    atomic_fetch_add_explicit(&ca->st_restarts, 1, memory_order_relaxed);
    err = bm__actor_init(sys, ca);
    if (err == BM_OK) {
        atomic_store(&ca->status, BM__ST_RUNNING);
    }
    return err;
}

static void release_child(struct bm_actor_system *sys, struct child *c)
{
    struct bm__actor *ca = child_actor(sys, c);

    if (ca == NULL) {
        c->st = C_GONE;
        return;
    }
    c->st = C_RUNNING;
    atomic_store(&ca->status, BM__ST_RUNNING);
    bm__release(sys, ca);
}

static void finalize_child(struct bm_actor_system *sys, struct child *c,
                           int reason)
{
    struct bm__actor *ca = child_actor(sys, c);

    c->st = C_GONE;
    if (ca == NULL) {
        return;
    }
    ca->parent = BM_ACTOR_ID_NONE;
    bm__actor_terminate(ca, reason);
    bm__actor_finalize(sys, ca, reason);
}

/* ------------------------------------------------------------ init */

int bm__sup_init(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm__sup *s = a->sup;
    size_t i;
    int err = BM_OK;

    s->ring_len = s->ring_head = 0;
    s->stopping = false;
    s->cur_waiting = false;
    for (i = 0; i < s->n; i++) {
        struct child *c = &s->ch[i];

        if (c->st == C_HELD) {
            err = reinit_child(sys, c);
        } else if (c->st == C_NONE || c->st == C_GONE) {
            err = start_child_held(sys, a, c);
        }
        if (err != BM_OK) {
            bm_log(BM_LOG_WARN, "actor",
                   "supervisor cannot start child '%s' err=%s",
                   c->spec->name ? c->spec->name : "?", bm_err_name(err));
            if (c->st == C_HELD) {
                finalize_child(sys, c, err);
            }
            c->st = C_NONE;
            break;
        }
    }
    if (err != BM_OK) {
        for (size_t j = s->n; j-- > 0;) {
            if (s->ch[j].st == C_HELD) {
                finalize_child(sys, &s->ch[j], BM_ESHUTDOWN);
                s->ch[j].st = C_NONE;
            }
        }
        return err;
    }
    /* All children built: let them run, in start order. */
    for (i = 0; i < s->n; i++) {
        if (s->ch[i].st == C_HELD) {
            release_child(sys, &s->ch[i]);
        }
    }
    return BM_OK;
}

static int sup_spawn_held(struct bm_actor_system *sys,
                          const struct bm_supervisor_spec *spec,
                          struct bm_actor_id parent, const char *name,
                          struct bm__actor **out)
{
    struct bm__sup *s = bm_xcalloc(1, sizeof(*s));
    struct bm_actor_opts o;

    s->spec = spec;
    s->n = spec->n_children;
    s->ch = bm_xcalloc(s->n ? s->n : 1, sizeof(*s->ch));
    for (size_t i = 0; i < s->n; i++) {
        s->ch[i].spec = &spec->children[i];
    }
    s->ring_cap = (size_t)spec->intensity + 1;
    s->ring = bm_xcalloc(s->ring_cap, sizeof(*s->ring));
    memset(&o, 0, sizeof(o));
    o.name = name != NULL ? name : spec->name;
    /* bm__spawn_held owns s from here, also on failure. */
    return bm__spawn_held(sys, &bm__sup_type, (void *)spec, &o, parent, s,
                          out);
}

/* ------------------------------------------------------------ stopping */

static void finish_stop(struct bm_actor_system *sys, struct bm__actor *a);
static void handle_exit(struct bm_actor_system *sys, struct bm__actor *a,
                        size_t i);

static void advance(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm__sup *s = a->sup;

    while (s->cur > s->lo) {
        struct child *c = &s->ch[--s->cur];
        struct bm__actor *ca;
        int64_t t;

        if (c->st != C_RUNNING) {
            continue;
        }
        ca = child_actor(sys, c);
        if (ca == NULL ||
            bm__send_sys_simple(sys, c->id, BM__SYS_STOP, bm__actor_id(a),
                                BM_ESHUTDOWN, 1, ca->epoch) != BM_OK) {
            c->st = C_GONE;
            continue;
        }
        c->st = C_STOPPING;
        s->cur_waiting = true;
        s->seq++;
        t = shutdown_of(c);
        s->timer = (struct bm_timer_id){0, 0};
        if (t >= 0) {
            bm__timer_start_sys(sys, bm__actor_id(a), s->seq, t, &s->timer);
        }
        return;
    }
    finish_stop(sys, a);
}

static void begin_stop(struct bm_actor_system *sys, struct bm__actor *a,
                       size_t lo, size_t hi_excl, enum after after,
                       int reason, bool hold)
{
    struct bm__sup *s = a->sup;

    if (s->stopping) {
        /* Already stopping: widen to an exit if asked. */
        if (after == A_EXIT) {
            if (s->after != A_EXIT) {
                s->exit_hold = hold;
            } else {
                s->exit_hold = s->exit_hold && hold;
            }
            s->after = A_EXIT;
            s->exit_reason = reason;
            s->lo = 0;
        }
        return;
    }
    s->stopping = true;
    s->after = after;
    s->exit_reason = reason;
    s->exit_hold = hold;
    s->lo = lo;
    s->cur = hi_excl;
    s->cur_waiting = false;
    advance(sys, a);
}

static void give_up(struct bm_actor_system *sys, struct bm__actor *a)
{
    bm_log(BM_LOG_ERROR, "actor",
           "supervisor '%s' gave up: restart intensity exceeded",
           a->name[0] ? a->name : "?");
    begin_stop(sys, a, 0, a->sup->n, A_EXIT, BM_EESCALATED, true);
}

/* Restarts a held child; on init failure retries within intensity.
 * Returns false if the supervisor gave up. */
static bool restart_child(struct bm_actor_system *sys, struct bm__actor *a,
                          struct child *c)
{
    for (;;) {
        int err = reinit_child(sys, c);

        if (err == BM_OK) {
            release_child(sys, c);
            return true;
        }
        if (err == BM_ENOACTOR) {
            c->st = C_GONE;
            return true;
        }
        c->last_reason = err;
        if (!record_restart(a->sup)) {
            give_up(sys, a);
            return false;
        }
    }
}

static void finish_stop(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm__sup *s = a->sup;

    s->stopping = false;
    s->cur_waiting = false;
    if (s->after == A_EXIT) {
        if (bm_actor_id_is_none(a->parent) && abnormal(s->exit_reason)) {
            bm__root_failed(sys, s->exit_reason);
        }
        bm__request_exit(a, s->exit_reason, s->exit_hold);
        return;
    }
    for (size_t j = s->r_lo; j <= s->r_hi && j < s->n; j++) {
        struct child *c = &s->ch[j];

        if (c->st != C_HELD) {
            continue;
        }
        if (c->spec->restart == BM_RESTART_TEMPORARY) {
            finalize_child(sys, c, BM_ESHUTDOWN);
            continue;
        }
        c->pending = false;
        if (!restart_child(sys, a, c)) {
            return;
        }
    }
    for (size_t j = 0; j < s->n; j++) {
        if (s->ch[j].pending && s->ch[j].st == C_HELD) {
            s->ch[j].pending = false;
            handle_exit(sys, a, j);
            if (s->stopping) {
                return;
            }
        }
    }
}

/* A held child j exited with ch[j].last_reason while the supervisor runs
 * normally: apply restart type, intensity and strategy. */
static void handle_exit(struct bm_actor_system *sys, struct bm__actor *a,
                        size_t i)
{
    struct bm__sup *s = a->sup;
    struct child *c = &s->ch[i];
    bool restart;

    switch (c->spec->restart) {
    case BM_RESTART_PERMANENT:
        restart = true;
        break;
    case BM_RESTART_TRANSIENT:
        restart = abnormal(c->last_reason);
        break;
    default:
        restart = false;
        break;
    }
    if (!restart) {
        finalize_child(sys, c, c->last_reason);
        return;
    }
    if (!record_restart(s)) {
        give_up(sys, a);
        return;
    }
    switch (s->spec->strategy) {
    case BM_SUP_ONE_FOR_ALL:
        s->r_lo = 0;
        s->r_hi = s->n - 1;
        begin_stop(sys, a, 0, s->n, A_RESTART, BM_OK, false);
        break;
    case BM_SUP_REST_FOR_ONE:
        s->r_lo = i;
        s->r_hi = s->n - 1;
        begin_stop(sys, a, i + 1, s->n, A_RESTART, BM_OK, false);
        break;
    case BM_SUP_ONE_FOR_ONE:
    default:
        restart_child(sys, a, c);
        break;
    }
}

void bm__sup_on_child_exit(struct bm_actor_system *sys, struct bm__actor *a,
                           struct bm_actor_id child, int reason, bool held)
{
    struct bm__sup *s = a->sup;
    struct child *c = NULL;
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (bm_actor_id_eq(s->ch[i].id, child) && s->ch[i].st != C_NONE &&
            s->ch[i].st != C_GONE) {
            c = &s->ch[i];
            break;
        }
    }
    if (c == NULL) {
        if (held) {
            struct bm__actor *ca = bm__slot_actor(sys, child.slot);

            if (ca != NULL && bm_actor_id_eq(bm__actor_id(ca), child)) {
                ca->parent = BM_ACTOR_ID_NONE;
                bm__actor_finalize(sys, ca, reason);
            }
        }
        return;
    }
    c->last_reason = reason;
    if (s->stopping) {
        bool was_cur = s->cur_waiting && i == s->cur;
        bool was_stopping = c->st == C_STOPPING;

        c->st = held ? C_HELD : C_GONE;
        /* A child that exited by itself (not by our stop) outside the
         * range being restarted is dealt with once the sequence ends. */
        if (!was_stopping && held &&
            !(s->after == A_RESTART && i >= s->r_lo && i <= s->r_hi) &&
            s->after != A_EXIT) {
            c->pending = true;
        }
        if (was_cur) {
            if (s->timer.slot != 0) {
                bm_timer_cancel(sys, s->timer);
            }
            s->cur_waiting = false;
            advance(sys, a);
        }
        return;
    }
    if (!held) {
        c->st = C_GONE; /* stopped by hand: removed from the supervisor */
        return;
    }
    c->st = C_HELD;
    handle_exit(sys, a, i);
}

void bm__sup_on_timeout(struct bm_actor_system *sys, struct bm__actor *a,
                        uint64_t seq)
{
    struct bm__sup *s = a->sup;
    struct child *c;

    if (!s->stopping || !s->cur_waiting || seq != s->seq) {
        return;
    }
    c = &s->ch[s->cur];
    bm_log(BM_LOG_WARN, "actor",
           "child '%s' did not stop within its shutdown time; abandoned",
           c->spec->name ? c->spec->name : "?");
    c->st = C_ABANDONED;
    s->cur_waiting = false;
    advance(sys, a);
}

void bm__sup_on_stop(struct bm_actor_system *sys, struct bm__actor *a,
                     bool hold)
{
    begin_stop(sys, a, 0, a->sup->n, A_EXIT, BM_ESHUTDOWN, hold);
}

void bm__sup_release(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm__sup *s = a->sup;

    if (s == NULL) {
        return;
    }
    if (s->cur_waiting && s->timer.slot != 0) {
        bm_timer_cancel(sys, s->timer);
    }
    for (size_t j = s->n; j-- > 0;) {
        struct child *c = &s->ch[j];

        if (c->st == C_HELD) {
            finalize_child(sys, c, BM_ESHUTDOWN);
        } else if (c->st == C_RUNNING || c->st == C_STOPPING ||
                   c->st == C_ABANDONED) {
            /* Its exit report will find us gone; it then finalizes
             * itself. */
            bm__send_sys_simple(sys, c->id, BM__SYS_STOP, bm__actor_id(a),
                                BM_ESHUTDOWN, 0, UINT64_MAX);
        }
    }
    a->sup = NULL;
    bm__sup_free(s);
}

/* ------------------------------------------------------------ public */

static int check_spec(const struct bm_supervisor_spec *spec, int depth)
{
    if (spec == NULL || depth > 16 || spec->n_children > 4096 ||
        (spec->n_children > 0 && spec->children == NULL) ||
        spec->intensity > 100000 ||
        (spec->strategy != BM_SUP_ONE_FOR_ONE &&
         spec->strategy != BM_SUP_ONE_FOR_ALL &&
         spec->strategy != BM_SUP_REST_FOR_ONE)) {
        return BM_EINVAL;
    }
    for (size_t i = 0; i < spec->n_children; i++) {
        const struct bm_child_spec *c = &spec->children[i];

        if ((c->type == NULL) == (c->sup == NULL) ||
            (c->restart != BM_RESTART_PERMANENT &&
             c->restart != BM_RESTART_TRANSIENT &&
             c->restart != BM_RESTART_TEMPORARY)) {
            return BM_EINVAL;
        }
        if (c->sup != NULL && check_spec(c->sup, depth + 1) != BM_OK) {
            return BM_EINVAL;
        }
    }
    return BM_OK;
}

int bm_supervisor_start(struct bm_actor_system *sys,
                        const struct bm_supervisor_spec *spec,
                        struct bm_actor_id *out)
{
    struct bm__actor *a;
    struct bm_actor_id id;
    int err;

    if (!external_thread()) {
        return BM_EINVAL;
    }
    err = check_spec(spec, 0);
    if (err != BM_OK) {
        return err;
    }
    err = sup_spawn_held(sys, spec, BM_ACTOR_ID_NONE, spec->name, &a);
    if (err != BM_OK) {
        return err;
    }
    id = bm__actor_id(a);
    pthread_mutex_lock(&sys->exit_mu);
    if (sys->nroots == sys->caproots) {
        sys->caproots = sys->caproots ? sys->caproots * 2 : 4;
        sys->roots =
            bm_xrealloc(sys->roots, sys->caproots * sizeof(*sys->roots));
    }
    sys->roots[sys->nroots++] = id;
    pthread_mutex_unlock(&sys->exit_mu);
    *out = id;
    bm__release(sys, a);
    return BM_OK;
}
