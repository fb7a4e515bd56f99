/*
 * Actor runtime: lanes (actor.h "Lanes"). Actors spawned with the same
 * opts.lane share one dedicated thread; a pooled actor a lane actor wakes
 * runs on the lane's thread next; a lane actor's wait on a future keeps
 * its lane running (so waiting on a lane-mate completes); a stop ends such
 * a wait; a BLOCK send to a full lane-mate is refused; supervised restarts
 * keep the lane. A non-runtime thread's wait on an ask to a lane actor
 * borrows the idle lane and runs its work on the caller's thread (the
 * borrow tests at the end: white box, they look at the lane's owner word
 * to know when the lane is idle rather than sleeping).
 */
#include "bm_test.h"

#include "actor_test_util.h"

#include "actor/actor_internal.h"
#include "blockv2/actor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------ a service */

struct job {
    uint32_t sleep_ms;   /* block this long first */
    uint32_t forward;    /* > 0: call `next` (blocking) and add its answer */
    struct bm_actor_id next;
};

struct job_reply {
    uint64_t v;
};

struct svc {
    atomic_uintptr_t thread; /* pthread_self() of the last handler */
    atomic_int handled;
    atomic_int last_rc;      /* status of the forwarded call */
    uint64_t v;
    struct bm_reply_token tok; /* a HOLD ask's deferred reply */
    atomic_int held;           /* HOLD asks deferred */
    /* NOTE answers this deferred ask first, if set (then clears it). */
    struct bm_reply_token *answer;
    struct guard *guard;       /* set: checks that its lane runs alone */
};

/* One lane runs one handler at a time, whoever runs it (its thread or a
 * borrower): a handler of a guarded actor enters with no other thread
 * inside (a nested wait's handlers run on the same thread). */
struct guard {
    atomic_uintptr_t owner;
    atomic_int overlaps;
};

static _Thread_local int g_depth;

static uintptr_t self_thread(void);

static void guard_enter(struct guard *g)
{
    uintptr_t none = 0;

    if (g != NULL && g_depth++ == 0 &&
        !atomic_compare_exchange_strong(&g->owner, &none, self_thread())) {
        atomic_fetch_add(&g->overlaps, 1);
    }
}

static void guard_leave(struct guard *g)
{
    if (g != NULL && --g_depth == 0) {
        atomic_store(&g->owner, 0);
    }
}

enum { J_RUN, J_GO, J_DONE, J_HOLD, J_NOTE, J_NKINDS };

BM_ACTOR_REF(svc);

static uintptr_t self_thread(void)
{
    return (uintptr_t)pthread_self();
}

BM_ACTOR_HANDLER(on_run, struct svc, struct job)
BM_ACTOR_HANDLER(on_go, struct svc, struct job)
BM_ACTOR_HANDLER(on_done, struct svc, struct job_reply)
BM_ACTOR_HANDLER(on_hold, struct svc, struct job)
BM_ACTOR_HANDLER(on_note, struct svc, struct job)

static const struct bm_msg_kind svc_kinds[J_NKINDS] = {
    [J_RUN] = BM_MSG_KIND("run", struct job, sizeof(struct job_reply), NULL,
                          on_run, NULL, NULL),
    /* go: ask `next` asynchronously; the answer comes back as done. */
    [J_GO] = BM_MSG_KIND("go", struct job, 0, NULL, on_go, NULL, NULL),
    [J_DONE] = BM_MSG_KIND("done", struct job_reply, 0, NULL, on_done, NULL,
                           NULL),
    /* hold: defer the reply (the test answers it with s->tok). */
    [J_HOLD] = BM_MSG_KIND("hold", struct job, sizeof(struct job_reply),
                           NULL, on_hold, NULL, NULL),
    /* note: a tell that only records where it ran (and tells `next` a note
     * if forward > 0). */
    [J_NOTE] = BM_MSG_KIND("note", struct job, 0, NULL, on_note, NULL, NULL),
};

static const struct bm_actor_type svc_type = {
    .name = "svc", .kinds = svc_kinds, .n_kinds = J_NKINDS};

BM_ACTOR_ASK(svc, run, J_RUN, struct job, struct job_reply)
BM_ACTOR_TELL(svc, go, J_GO, struct job)
BM_ACTOR_ASK(svc, hold, J_HOLD, struct job, struct job_reply)
BM_ACTOR_TELL(svc, note, J_NOTE, struct job)

static int on_run(struct bm_actor_ctx *ctx, struct svc *s, struct job *p)
{
    struct job_reply r = {++s->v};

    guard_enter(s->guard);
    atomic_store(&s->thread, self_thread());
    if (p->sleep_ms > 0) {
        bm_sleep_ms(p->sleep_ms);
    }
    if (p->forward > 0) {
        struct job sub = {0, p->forward - 1, BM_ACTOR_ID_NONE};
        struct job_reply sr = {0};
        int rc;

        /* The next hop forwards to what its own state says (unused
         * here): chains are built by the caller's `next`. */
        rc = bm_svc_call_run(bm_actor_ctx_system(ctx),
                             (struct bm_ref_svc){p->next}, &sub, &sr, 5000);
        atomic_store(&s->last_rc, rc);
        r.v += sr.v * 1000;
    }
    atomic_fetch_add(&s->handled, 1);
    guard_leave(s->guard);
    return bm_actor_reply(ctx, BM_OK, &r, sizeof(r));
}

static int on_go(struct bm_actor_ctx *ctx, struct svc *s, struct job *p)
{
    struct job sub = {0, 0, BM_ACTOR_ID_NONE};

    atomic_store(&s->thread, self_thread());
    atomic_store(&s->last_rc,
                 bm_actor_ask_async(ctx, p->next, J_RUN, &sub, sizeof(sub),
                                    5000, J_DONE, 7));
    return BM_OK;
}

static int on_done(struct bm_actor_ctx *ctx, struct svc *s,
                   struct job_reply *p)
{
    (void)p;
    if (bm_actor_ctx_status(ctx) == BM_OK && bm_actor_ctx_cookie(ctx) == 7) {
        atomic_store(&s->thread, self_thread());
        atomic_fetch_add(&s->handled, 1);
    }
    return BM_OK;
}

static int on_hold(struct bm_actor_ctx *ctx, struct svc *s, struct job *p)
{
    (void)p;
    atomic_store(&s->thread, self_thread());
    assert_int_equal(bm_actor_reply_defer(ctx, &s->tok), BM_OK);
    atomic_fetch_add(&s->held, 1);
    return BM_OK;
}

static int on_note(struct bm_actor_ctx *ctx, struct svc *s, struct job *p)
{
    guard_enter(s->guard);
    atomic_store(&s->thread, self_thread());
    if (s->answer != NULL) {
        struct job_reply r = {9};

        assert_int_equal(bm_actor_reply_token(bm_actor_ctx_system(ctx),
                                              s->answer, BM_OK, &r,
                                              sizeof(r)),
                         BM_OK);
        s->answer = NULL;
    }
    if (p->forward > 0) {
        struct job sub = {0, 0, BM_ACTOR_ID_NONE};

        atomic_store(&s->last_rc,
                     bm_svc_tell_note(bm_actor_ctx_system(ctx),
                                      (struct bm_ref_svc){p->next}, &sub));
    }
    atomic_fetch_add(&s->handled, 1);
    guard_leave(s->guard);
    return BM_OK;
}

static struct bm_actor_id spawn_on(struct bm_actor_system *sys,
                                   struct svc *s, const char *lane,
                                   uint32_t capacity,
                                   enum bm_overflow overflow)
{
    struct bm_actor_opts o = {.lane = lane, .capacity = capacity,
                              .overflow = overflow};
    struct bm_actor_id id;

    memset(s, 0, sizeof(*s));
    assert_int_equal(bm_actor_spawn(sys, &svc_type, s, &o, &id), BM_OK);
    return id;
}

static void wait_handled(struct svc *s, int n)
{
    for (int i = 0; i < 5000 && atomic_load(&s->handled) < n; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&s->handled), n);
}

/* Runs a job on `id` and returns the status; *th: the thread its handler
 * ran on. The future is polled (wait_ms 0), not waited on: a wait would
 * borrow an idle lane and run the job on this thread (the borrow tests),
 * while the callers look at where the lane runs by itself. */
static int try_run_on(struct bm_actor_system *sys, struct bm_actor_id id,
                      struct svc *s, uintptr_t *th)
{
    struct job j = {0, 0, BM_ACTOR_ID_NONE};
    struct job_reply r = {0};
    struct bm_future *f = NULL;
    uint64_t deadline = bm_clock_deadline_ms(5000);
    int rc = bm_svc_ask_run(sys, (struct bm_ref_svc){id}, &j, 5000, &f);

    if (rc != BM_OK) {
        return rc;
    }
    while ((rc = bm_future_wait(f, 0, &r, sizeof(r))) == BM_EAGAIN &&
           bm_clock_now_ns() < deadline) {
        bm_sleep_ms(1);
    }
    bm_future_free(f);
    *th = atomic_load(&s->thread);
    return rc;
}

static uintptr_t run_on(struct bm_actor_system *sys, struct bm_actor_id id,
                        struct svc *s)
{
    uintptr_t th = 0;

    assert_int_equal(try_run_on(sys, id, s, &th), BM_OK);
    return th;
}

/* ------------------------------------------------------------ tests */

static void test_one_thread_per_lane(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b, c, p;
    struct bm_actor_id ia, ib, ic, ip;
    struct bm_actor_stats st;
    struct bm_actor_opts bad = {.lane = "x", .detached = true};
    struct bm_actor_opts empty = {.lane = ""};
    struct bm_actor_id dummy;
    uintptr_t ta, tb, tc, tp;

    (void)state;
    ia = spawn_on(sys, &a, "one", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "one", 0, BM_OVERFLOW_REJECT);
    ic = spawn_on(sys, &c, "two", 0, BM_OVERFLOW_REJECT);
    ip = spawn_on(sys, &p, NULL, 0, BM_OVERFLOW_REJECT);
    ta = run_on(sys, ia, &a);
    tb = run_on(sys, ib, &b);
    tc = run_on(sys, ic, &c);
    tp = run_on(sys, ip, &p);
    assert_true(ta == tb);        /* same lane, same thread */
    assert_true(ta != tc);        /* another lane, another thread */
    assert_true(tp != ta && tp != tc); /* pooled: a worker */
    for (int i = 0; i < 20; i++) { /* always that thread */
        assert_true(run_on(sys, ia, &a) == ta);
        assert_true(run_on(sys, ic, &c) == tc);
    }
    assert_int_equal(bm_actor_stats_get(sys, ia, &st), BM_OK);
    assert_string_equal(st.lane, "one");
    assert_false(st.detached);
    assert_int_equal(bm_actor_stats_get(sys, ip, &st), BM_OK);
    assert_string_equal(st.lane, "");
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &p, &bad, &dummy),
                     BM_EINVAL);
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &p, &empty, &dummy),
                     BM_EINVAL);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* A lane actor asks a pooled one asynchronously: the pooled actor runs on
 * the lane's thread, and so does the continuation. */
static void test_pooled_runs_on_lane_next_slot(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, p;
    struct bm_actor_id ia, ip;
    struct job go;
    uintptr_t lane_thread;

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ip = spawn_on(sys, &p, NULL, 0, BM_OVERFLOW_REJECT);
    lane_thread = run_on(sys, ia, &a);
    atomic_store(&a.handled, 0);
    for (int i = 1; i <= 50; i++) {
        go = (struct job){0, 0, ip};
        atomic_store(&p.thread, 0);
        assert_int_equal(bm_svc_tell_go(sys, (struct bm_ref_svc){ia}, &go),
                         BM_OK);
        wait_handled(&a, i);
        assert_int_equal(atomic_load(&a.last_rc), BM_OK);
        assert_true(atomic_load(&p.thread) == lane_thread);
        assert_true(atomic_load(&a.thread) == lane_thread);
    }
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* Blocking calls between actors of one lane complete (the waiting thread
 * runs the callee), nested too, and so does a call to a pooled actor. */
static void test_wait_helps_lane(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b, c, p;
    struct bm_actor_id ia, ib, ic, ip;
    struct job j;
    struct job_reply r = {0};

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    ic = spawn_on(sys, &c, "blk", 0, BM_OVERFLOW_REJECT);
    ip = spawn_on(sys, &p, NULL, 0, BM_OVERFLOW_REJECT);
    /* a -> b (same lane). */
    j = (struct job){0, 1, ib};
    assert_int_equal(bm_svc_call_run(sys, (struct bm_ref_svc){ia}, &j, &r,
                                     5000),
                     BM_OK);
    assert_int_equal(atomic_load(&a.last_rc), BM_OK);
    assert_int_equal(r.v, 1 + 1000);
    assert_true(atomic_load(&a.thread) == atomic_load(&b.thread));
    /* b -> c (same lane). */
    j = (struct job){0, 1, ic};
    assert_int_equal(bm_svc_call_run(sys, (struct bm_ref_svc){ib}, &j, &r,
                                     5000),
                     BM_OK);
    assert_int_equal(atomic_load(&b.last_rc), BM_OK);
    /* a -> pooled p. */
    j = (struct job){0, 1, ip};
    assert_int_equal(bm_svc_call_run(sys, (struct bm_ref_svc){ia}, &j, &r,
                                     5000),
                     BM_OK);
    assert_int_equal(atomic_load(&a.last_rc), BM_OK);
    assert_int_equal(atomic_load(&p.handled), 1);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* Nested waits: an actor a lane thread runs while helping may itself wait
 * on a lane-mate. x calls y, y calls z; all three share one lane. */
struct chain {
    struct bm_actor_id next;
    atomic_int done;
    int rc;
};

enum { C_CALL, C_NKINDS };

struct cmsg {
    uint32_t depth;
};

struct creply {
    uint32_t depth;
};

BM_ACTOR_REF(chain);
BM_ACTOR_HANDLER(chain_call, struct chain, struct cmsg)
static const struct bm_msg_kind chain_kinds[C_NKINDS] = {
    [C_CALL] = BM_MSG_KIND("call", struct cmsg, sizeof(struct creply), NULL,
                           chain_call, NULL, NULL),
};
static const struct bm_actor_type chain_type = {
    .name = "chain", .kinds = chain_kinds, .n_kinds = C_NKINDS};
BM_ACTOR_ASK(chain, call, C_CALL, struct cmsg, struct creply)

static int chain_call(struct bm_actor_ctx *ctx, struct chain *c,
                      struct cmsg *p)
{
    struct creply r = {p->depth};

    if (!bm_actor_id_is_none(c->next)) {
        struct cmsg m = {p->depth + 1};

        c->rc = bm_chain_call_call(bm_actor_ctx_system(ctx),
                                   (struct bm_ref_chain){c->next}, &m, &r,
                                   5000);
    }
    atomic_fetch_add(&c->done, 1);
    return bm_actor_reply(ctx, BM_OK, &r, sizeof(r));
}

static void test_nested_waits(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct chain x = {0}, y = {0}, z = {0};
    struct bm_actor_opts o = {.lane = "blk"};
    struct bm_actor_id ix, iy, iz;
    struct cmsg m = {0};
    struct creply r = {0};

    (void)state;
    assert_int_equal(bm_actor_spawn(sys, &chain_type, &z, &o, &iz), BM_OK);
    y.next = iz;
    assert_int_equal(bm_actor_spawn(sys, &chain_type, &y, &o, &iy), BM_OK);
    x.next = iy;
    assert_int_equal(bm_actor_spawn(sys, &chain_type, &x, &o, &ix), BM_OK);
    for (int i = 1; i <= 20; i++) {
        assert_int_equal(bm_chain_call_call(sys, (struct bm_ref_chain){ix},
                                            &m, &r, 5000),
                         BM_OK);
        assert_int_equal(r.depth, 2);
        assert_int_equal(x.rc, BM_OK);
        assert_int_equal(y.rc, BM_OK);
        assert_int_equal(atomic_load(&z.done), i);
    }
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* A stop ends a lane actor's wait at once (its supervisor would otherwise
 * wait for an answer that comes only after the stop). */
static void test_stop_ends_lane_wait(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, slow;
    struct bm_actor_opts det = {.detached = true};
    struct bm_actor_id ia, islow;
    struct job j;
    struct bm_future *f = NULL;
    struct job_reply r = {0};
    uint64_t t0;

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    memset(&slow, 0, sizeof(slow));
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &slow, &det, &islow),
                     BM_OK);
    /* slow is busy for a second; a's call to it queues behind that. */
    {
        struct job busy = {1000, 0, BM_ACTOR_ID_NONE};

        assert_int_equal(bm_svc_ask_run(sys, (struct bm_ref_svc){islow},
                                        &busy, 10000, &f),
                         BM_OK);
    }
    bm_sleep_ms(20);
    j = (struct job){0, 1, islow};
    {
        struct bm_future *fa = NULL;

        assert_int_equal(bm_svc_ask_run(sys, (struct bm_ref_svc){ia}, &j,
                                        10000, &fa),
                         BM_OK);
        bm_sleep_ms(50); /* a is waiting */
        t0 = bm_actor_now_ns();
        assert_int_equal(bm_actor_stop(sys, ia), BM_OK);
        assert_int_equal(bm_actor_wait_exit(sys, ia, 2000, NULL), BM_OK);
        assert_true(bm_actor_now_ns() - t0 < 700000000ull);
        assert_int_equal(atomic_load(&a.last_rc), BM_ESTOPPED);
        (void)bm_future_wait(fa, 2000, &r, sizeof(r));
        bm_future_free(fa);
    }
    assert_int_equal(bm_future_wait(f, 5000, &r, sizeof(r)), BM_OK);
    bm_future_free(f);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* BLOCK policy: a lane actor cannot wait for room in a lane-mate (it would
 * have to run it): BM_EFULL. */
struct filler {
    struct bm_actor_id target;
    atomic_int rc_last;
    atomic_int sent;
};

enum { F_FILL, F_NKINDS };
struct fmsg {
    uint32_t n;
};
BM_ACTOR_REF(filler);
BM_ACTOR_HANDLER(on_fill, struct filler, struct fmsg)
static const struct bm_msg_kind filler_kinds[F_NKINDS] = {
    [F_FILL] = BM_MSG_KIND("fill", struct fmsg, 0, NULL, on_fill, NULL, NULL),
};
static const struct bm_actor_type filler_type = {
    .name = "filler", .kinds = filler_kinds, .n_kinds = F_NKINDS};
BM_ACTOR_TELL(filler, fill, F_FILL, struct fmsg)

static int on_fill(struct bm_actor_ctx *ctx, struct filler *f,
                   struct fmsg *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        struct job j = {0, 0, BM_ACTOR_ID_NONE};
        int rc = bm_svc_tell_go(bm_actor_ctx_system(ctx),
                                (struct bm_ref_svc){f->target}, &j);

        atomic_store(&f->rc_last, rc);
        if (rc != BM_OK) {
            break;
        }
        atomic_fetch_add(&f->sent, 1);
    }
    return BM_OK;
}

static void test_block_send_to_lane_mate(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc t;
    struct filler f = {0};
    struct bm_actor_opts fo = {.lane = "blk"};
    struct bm_actor_id it, ifl;
    struct fmsg m = {10};
    uint64_t t0;

    (void)state;
    it = spawn_on(sys, &t, "blk", 4, BM_OVERFLOW_BLOCK);
    f.target = it;
    atomic_init(&f.rc_last, 1);
    assert_int_equal(bm_actor_spawn(sys, &filler_type, &f, &fo, &ifl), BM_OK);
    t0 = bm_actor_now_ns();
    assert_int_equal(bm_filler_tell_fill(sys, (struct bm_ref_filler){ifl},
                                         &m),
                     BM_OK);
    for (int i = 0; i < 5000 && atomic_load(&f.rc_last) == 1; i++) {
        bm_sleep_ms(1);
    }
    while (atomic_load(&f.rc_last) == BM_OK && atomic_load(&f.sent) < 10) {
        bm_sleep_ms(1);
    }
    /* Four fit; the fifth is refused at once instead of waiting 1 s. */
    assert_int_equal(atomic_load(&f.sent), 4);
    assert_int_equal(atomic_load(&f.rc_last), BM_EFULL);
    assert_true(bm_actor_now_ns() - t0 < 900000000ull);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* A lane actor that blocks holds up its lane-mates, not pooled actors. */
static void test_lane_blocks_only_itself(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b, p;
    struct bm_actor_id ia, ib, ip;
    struct bm_future *fa = NULL, *fb = NULL;
    struct job slow = {300, 0, BM_ACTOR_ID_NONE};
    struct job quick = {0, 0, BM_ACTOR_ID_NONE};
    struct job_reply r;
    uint64_t t0;

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    ip = spawn_on(sys, &p, NULL, 0, BM_OVERFLOW_REJECT);
    assert_int_equal(bm_svc_ask_run(sys, (struct bm_ref_svc){ia}, &slow, 5000,
                                    &fa),
                     BM_OK);
    bm_sleep_ms(20);
    t0 = bm_actor_now_ns();
    /* Pooled: answers while a blocks. */
    assert_int_equal(bm_svc_call_run(sys, (struct bm_ref_svc){ip}, &quick, &r,
                                     5000),
                     BM_OK);
    assert_true(bm_actor_now_ns() - t0 < 250000000ull);
    /* b shares a's thread: after a is done. */
    assert_int_equal(bm_svc_ask_run(sys, (struct bm_ref_svc){ib}, &quick,
                                    5000, &fb),
                     BM_OK);
    assert_int_equal(bm_future_wait(fb, 5000, &r, sizeof(r)), BM_OK);
    assert_int_equal(bm_future_wait(fa, 0, &r, sizeof(r)), BM_OK);
    bm_future_free(fa);
    bm_future_free(fb);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* A supervised lane actor is restarted on its lane. */
static void test_restart_keeps_lane(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a;
    struct bm_child_spec child;
    struct bm_supervisor_spec spec;
    struct bm_actor_id sup, ia = BM_ACTOR_ID_NONE;
    uintptr_t before;
    struct bm_actor_stats st;

    (void)state;
    memset(&a, 0, sizeof(a));
    memset(&child, 0, sizeof(child));
    child.name = "lane-child";
    child.type = &svc_type;
    child.arg = &a;
    child.opts.lane = "blk";
    child.restart = BM_RESTART_PERMANENT;
    child.id_out = &ia;
    spec = (struct bm_supervisor_spec){.name = "sup",
                                       .strategy = BM_SUP_ONE_FOR_ONE,
                                       .intensity = 5,
                                       .children = &child,
                                       .n_children = 1};
    assert_int_equal(bm_supervisor_start(sys, &spec, &sup), BM_OK);
    before = run_on(sys, ia, &a);
    assert_int_equal(bm_actor_kill(sys, ia, BM_EFATAL), BM_OK);
    for (int i = 0; i < 5000; i++) {
        if (bm_actor_stats_get(sys, ia, &st) == BM_OK && st.restarts >= 1) {
            break;
        }
        bm_sleep_ms(1);
    }
    assert_int_equal(bm_actor_stats_get(sys, ia, &st), BM_OK);
    assert_true(st.restarts >= 1);
    assert_string_equal(st.lane, "blk");
    for (int i = 0; i < 2000; i++) {
        uintptr_t th = 0;

        if (try_run_on(sys, ia, &a, &th) == BM_OK) {
            break;
        }
        bm_sleep_ms(1);
    }
    assert_true(atomic_load(&a.thread) == before);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* With cfg.spin_us the lane spins before it parks and waits spin before
 * they sleep: the same calls complete, back to back and after idle gaps
 * longer than the spin. */
static void test_spin(void **state)
{
    struct bm_actor_system_config cfg;
    struct bm_actor_system *sys = NULL;
    struct svc a, b, p;
    struct bm_actor_id ia, ib, ip;
    struct job j;
    struct job_reply r = {0};

    (void)state;
    bm_actor_system_config_init(&cfg);
    cfg.workers = 2;
    cfg.spin_us = 100;
    assert_int_equal(bm_actor_system_new(&sys, &cfg), BM_OK);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    ip = spawn_on(sys, &p, NULL, 0, BM_OVERFLOW_REJECT);
    for (int i = 0; i < 200; i++) {
        j = (struct job){0, 1, i % 2 ? ib : ip};
        assert_int_equal(bm_svc_call_run(sys, (struct bm_ref_svc){ia}, &j, &r,
                                         5000),
                         BM_OK);
        assert_int_equal(atomic_load(&a.last_rc), BM_OK);
        if (i % 50 == 0) {
            bm_sleep_ms(2); /* parked, not spinning, by now */
        }
    }
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
    /* Out of range. */
    cfg.spin_us = 10001;
    assert_int_equal(bm_actor_system_new(&sys, &cfg), BM_EINVAL);
}

/* ------------------------------------------------------------ borrowing */

static struct bm__lane *lane_of(struct bm_actor_system *sys,
                                struct bm_actor_id id)
{
    return bm__slot_actor(sys, id.slot)->lane;
}

/* Waits (generous deadline) until the lane's owner word is `own`. */
static void wait_own(struct bm__lane *l, int own)
{
    uint64_t deadline = bm_clock_deadline_ms(10000);

    while (atomic_load(&l->own) != own && bm_clock_now_ns() < deadline) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&l->own), own);
}

/* Waits until *v >= want (generous deadline). */
static void wait_at_least(atomic_int *v, int want)
{
    uint64_t deadline = bm_clock_deadline_ms(10000);

    while (atomic_load(v) < want && bm_clock_now_ns() < deadline) {
        bm_sleep_ms(1);
    }
    assert_true(atomic_load(v) >= want);
}

/* A plain call (bm_actor_call) from this (non-runtime) thread never runs
 * a turn here, even on an idle lane: the lane's thread runs the callee and
 * the lane-mate it calls, and the lane is never borrowed (an RPC thread
 * must not end up making a block). */
static void test_call_does_not_borrow(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b;
    struct bm_actor_id ia, ib;
    struct bm__lane *l;
    uintptr_t lane_thread, me = self_thread();
    struct job j;
    struct job_reply r = {0};

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    l = lane_of(sys, ia);
    lane_thread = run_on(sys, ia, &a);
    assert_true(lane_thread != me);
    for (int i = 0; i < 20; i++) {
        wait_own(l, BM__LANE_IDLE);
        j = (struct job){0, 1, ib};
        assert_int_equal(
            bm_svc_call_run(sys, (struct bm_ref_svc){ia}, &j, &r, 5000), BM_OK);
        assert_int_equal(atomic_load(&a.last_rc), BM_OK);
        assert_true(atomic_load(&a.thread) == lane_thread);
        assert_true(atomic_load(&b.thread) == lane_thread);
        assert_true(atomic_load(&l->own) != BM__LANE_BORROWED);
    }
    assert_int_equal(atomic_load(&a.handled), 21);
    assert_int_equal(atomic_load(&b.handled), 20);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* An inline call (bm_actor_call_inline) from this (non-runtime) thread to
 * an actor of an idle lane runs on this thread: the callee, a lane-mate it
 * calls (a nested wait on the borrowed lane) and a pooled actor it calls (the
 * lane's next slot). The lane's thread stays parked, and runs tells again
 * afterwards. */
static void test_borrow_runs_on_caller(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b, p;
    struct bm_actor_id ia, ib, ip;
    struct bm__lane *l;
    uintptr_t lane_thread, me = self_thread();
    struct job j;
    struct job_reply r = {0};

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    ip = spawn_on(sys, &p, NULL, 0, BM_OVERFLOW_REJECT);
    l = lane_of(sys, ia);
    lane_thread = run_on(sys, ia, &a);
    assert_true(lane_thread != me);
    for (int i = 0; i < 20; i++) {
        wait_own(l, BM__LANE_IDLE);
        j = (struct job){0, 1, ib};
        assert_int_equal(
            bm_svc_call_run_inline(sys, (struct bm_ref_svc){ia}, &j, &r, 5000),
            BM_OK);
        assert_int_equal(atomic_load(&a.last_rc), BM_OK);
        assert_true(atomic_load(&a.thread) == me);
        assert_true(atomic_load(&b.thread) == me);
        /* Given back, idle at once (no work was left). */
        assert_int_equal(atomic_load(&l->own), BM__LANE_IDLE);
        j = (struct job){0, 1, ip};
        assert_int_equal(
            bm_svc_call_run_inline(sys, (struct bm_ref_svc){ia}, &j, &r, 5000),
            BM_OK);
        assert_int_equal(atomic_load(&a.last_rc), BM_OK);
        assert_true(atomic_load(&a.thread) == me);
        assert_true(atomic_load(&p.thread) == me);
    }
    assert_int_equal(atomic_load(&p.handled), 20);
    assert_int_equal(atomic_load(&b.handled), 20);
    assert_true(run_on(sys, ib, &b) == lane_thread);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* A busy lane is not borrowed: the caller waits and the lane's thread
 * runs the call after its current turn. */
static void test_borrow_not_busy_lane(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b;
    struct bm_actor_id ia, ib;
    struct bm_future *fa = NULL;
    struct job slow = {200, 0, BM_ACTOR_ID_NONE};
    struct job quick = {0, 0, BM_ACTOR_ID_NONE};
    struct job_reply r = {0};
    uintptr_t lane_thread;

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    lane_thread = run_on(sys, ia, &a);
    atomic_store(&a.thread, 0);
    /* The lane's thread runs the slow job (asked, not waited on). */
    assert_int_equal(bm_svc_ask_run(sys, (struct bm_ref_svc){ia}, &slow,
                                    5000, &fa),
                     BM_OK);
    for (int i = 0; i < 10000 && atomic_load(&a.thread) == 0; i++) {
        bm_sleep_ms(1);
    }
    assert_true(atomic_load(&a.thread) == lane_thread);
    assert_int_equal(
        bm_svc_call_run_inline(sys, (struct bm_ref_svc){ib}, &quick, &r, 5000),
        BM_OK);
    assert_true(atomic_load(&b.thread) == lane_thread);
    assert_int_equal(bm_future_wait(fa, 5000, &r, sizeof(r)), BM_OK);
    bm_future_free(fa);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* The ask's deadline while borrowed ends the call with BM_ETIMEDOUT (the
 * late reply is discarded); the lane is given back and borrowed again by
 * the next call. A plain ask's wait with its own deadline still works. */
static void test_borrow_deadlines(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b;
    struct bm_actor_id ia, ib;
    struct bm__lane *l;
    struct job j = {0, 0, BM_ACTOR_ID_NONE};
    struct job_reply r = {0}, late = {5};
    struct bm_actor_system_stats st;
    uintptr_t me = self_thread();

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    l = lane_of(sys, ia);
    (void)run_on(sys, ia, &a);
    for (int i = 1; i <= 3; i++) {
        wait_own(l, BM__LANE_IDLE);
        assert_int_equal(
            bm_svc_call_hold_inline(sys, (struct bm_ref_svc){ia}, &j, &r, 100),
            BM_ETIMEDOUT);
        assert_true(atomic_load(&a.thread) == me);
        assert_int_equal(atomic_load(&a.held), i);
        assert_int_equal(atomic_load(&l->own), BM__LANE_IDLE);
        assert_int_equal(bm_actor_reply_token(sys, &a.tok, BM_OK, &late,
                                              sizeof(late)),
                         BM_OK);
        assert_int_equal(
            bm_svc_call_run_inline(sys, (struct bm_ref_svc){ib}, &j, &r, 5000),
            BM_OK);
        assert_true(atomic_load(&b.thread) == me);
    }
    bm_actor_system_stats_get(sys, &st);
    assert_true(st.late_replies >= 3);
    assert_true(st.asks_timed_out >= 3);
    /* A plain ask's wait does not borrow (its push woke the lane's
     * thread): the wait's own deadline, then the answer, as ever. */
    for (int i = 1; i <= 3; i++) {
        struct bm_future *f = NULL;
        struct job_reply ok = {42};
        int held = atomic_load(&a.held);

        wait_own(l, BM__LANE_IDLE);
        assert_int_equal(bm_svc_ask_hold(sys, (struct bm_ref_svc){ia}, &j,
                                         10000, &f),
                         BM_OK);
        assert_int_equal(bm_future_wait(f, 30, &r, sizeof(r)), BM_EAGAIN);
        wait_at_least(&a.held, held + 1);
        wait_own(l, BM__LANE_IDLE);
        assert_int_equal(bm_actor_reply_token(sys, &a.tok, BM_OK, &ok,
                                              sizeof(ok)),
                         BM_OK);
        r.v = 0;
        assert_int_equal(bm_future_wait(f, 5000, &r, sizeof(r)), BM_OK);
        assert_int_equal(r.v, 42);
        bm_future_free(f);
    }
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

struct borrower {
    struct bm_actor_system *sys;
    struct bm_actor_id to;
    uint32_t kind;       /* J_HOLD or J_RUN */
    uint32_t sleep_ms;
    atomic_uintptr_t thread;
    atomic_int rc;
    struct job_reply r;
};

static void *borrower_main(void *arg)
{
    struct borrower *b = arg;
    struct job j = {b->sleep_ms, 0, BM_ACTOR_ID_NONE};
    int rc;

    atomic_store(&b->thread, self_thread());
    if (b->kind == J_HOLD) {
        rc = bm_svc_call_hold_inline(b->sys, (struct bm_ref_svc){b->to}, &j,
                                     &b->r, BM_ACTOR_NO_TIMEOUT);
    } else {
        rc = bm_svc_call_run_inline(b->sys, (struct bm_ref_svc){b->to}, &j,
                                    &b->r, BM_ACTOR_NO_TIMEOUT);
    }
    atomic_store(&b->rc, rc);
    return NULL;
}

/* While a caller holds the lane and sleeps, work queued for the lane
 * wakes the caller, not the lane's thread, and runs on the caller's
 * thread; work left when the caller's answer comes goes back to the lane's
 * thread. */
static void test_borrow_kicks_borrower(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b, c;
    struct bm_actor_id ia, ib, ic;
    struct bm__lane *l;
    struct borrower bw;
    pthread_t th;
    uintptr_t lane_thread;
    struct job note = {0, 1, BM_ACTOR_ID_NONE};

    (void)state;
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    ic = spawn_on(sys, &c, "blk", 0, BM_OVERFLOW_REJECT);
    l = lane_of(sys, ia);
    lane_thread = run_on(sys, ia, &a);
    wait_own(l, BM__LANE_IDLE);
    memset(&bw, 0, sizeof(bw));
    bw.sys = sys;
    bw.to = ia;
    bw.kind = J_HOLD;
    atomic_init(&bw.rc, 1);
    assert_int_equal(pthread_create(&th, NULL, borrower_main, &bw), 0);
    wait_at_least(&a.held, 1);
    wait_own(l, BM__LANE_BORROWED);
    for (int i = 0; i < 10000 && !atomic_load(&l->bparked); i++) {
        bm_sleep_ms(1);
    }
    assert_true(atomic_load(&l->bparked));
    assert_true(atomic_load(&a.thread) == atomic_load(&bw.thread));
    /* b's note runs on the borrower, and so does c's (b's next slot). */
    note.next = ic;
    assert_int_equal(bm_svc_tell_note(sys, (struct bm_ref_svc){ib}, &note),
                     BM_OK);
    wait_handled(&c, 1);
    assert_true(atomic_load(&b.thread) == atomic_load(&bw.thread));
    assert_true(atomic_load(&c.thread) == atomic_load(&bw.thread));
    assert_int_equal(atomic_load(&l->own), BM__LANE_BORROWED);
    /* b answers the borrower's ask and then tells c: c is left in the
     * lane's next slot when the answer comes, and the lane's thread runs
     * it once the lane is given back. */
    b.answer = &a.tok; /* b runs only on the borrower, after this */
    assert_int_equal(bm_svc_tell_note(sys, (struct bm_ref_svc){ib}, &note),
                     BM_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&bw.rc), BM_OK);
    assert_int_equal(bw.r.v, 9);
    wait_handled(&c, 2);
    assert_true(atomic_load(&c.thread) == lane_thread);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* System stop while a caller holds the lane: asleep (its ask is never
 * answered: it ends with the stop), or inside a blocking turn (the
 * answer comes, the stop goes on on the lane's thread). */
static void test_borrow_stop(void **state)
{
    for (int v = 0; v < 2; v++) {
        struct bm_actor_system *sys = start_sys(2);
        struct svc a;
        struct bm_actor_id ia;
        struct bm__lane *l;
        struct borrower bw;
        pthread_t th;
        int rc;

        (void)state;
        ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
        l = lane_of(sys, ia);
        (void)run_on(sys, ia, &a);
        wait_own(l, BM__LANE_IDLE);
        atomic_store(&a.thread, 0);
        memset(&bw, 0, sizeof(bw));
        bw.sys = sys;
        bw.to = ia;
        bw.kind = v == 0 ? J_HOLD : J_RUN;
        bw.sleep_ms = 200;
        atomic_init(&bw.rc, 1);
        assert_int_equal(pthread_create(&th, NULL, borrower_main, &bw), 0);
        for (int i = 0; i < 10000 && atomic_load(&a.thread) == 0; i++) {
            bm_sleep_ms(1);
        }
        assert_true(atomic_load(&a.thread) == atomic_load(&bw.thread));
        assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
        assert_int_equal(pthread_join(th, NULL), 0);
        rc = atomic_load(&bw.rc);
        if (v == 0) {
            assert_true(rc == BM_ESHUTDOWN || rc == BM_ESTOPPED);
        } else {
            assert_int_equal(rc, BM_OK);
        }
        bm_actor_system_free(sys);
    }
}

/* Many callers and the lane's own thread at once: a lane never runs two
 * handlers at a time, and every call and tell is handled once. */
struct hammer {
    struct bm_actor_system *sys;
    struct bm_actor_id a, b;
    atomic_int ok;
};

#define HAMMER_CALLS 300

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;

    for (int i = 0; i < HAMMER_CALLS; i++) {
        struct job j = {0, (uint32_t)(i % 2), h->b};
        struct job_reply r;

        if (bm_svc_call_run_inline(h->sys, (struct bm_ref_svc){h->a}, &j, &r,
                                   10000) == BM_OK) {
            atomic_fetch_add(&h->ok, 1);
        }
    }
    return NULL;
}

static void test_borrow_exclusive(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc a, b, c;
    struct bm_actor_id ia, ib, ic;
    struct guard g;
    struct hammer h;
    pthread_t th[2];
    struct job note = {0, 0, BM_ACTOR_ID_NONE};
    int tells = 0;

    (void)state;
    memset(&g, 0, sizeof(g));
    ia = spawn_on(sys, &a, "blk", 0, BM_OVERFLOW_REJECT);
    ib = spawn_on(sys, &b, "blk", 0, BM_OVERFLOW_REJECT);
    ic = spawn_on(sys, &c, "blk", 0, BM_OVERFLOW_REJECT);
    a.guard = b.guard = c.guard = &g;
    memset(&h, 0, sizeof(h));
    h.sys = sys;
    h.a = ia;
    h.b = ib;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h), 0);
    }
    for (int i = 0; i < HAMMER_CALLS; i++) {
        if (bm_svc_tell_note(sys, (struct bm_ref_svc){ic}, &note) == BM_OK) {
            tells++;
        }
        if (i % 16 == 0) {
            bm_sleep_ms(1);
        }
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    wait_handled(&c, tells);
    assert_int_equal(atomic_load(&h.ok), 2 * HAMMER_CALLS);
    assert_int_equal(atomic_load(&a.handled), 2 * HAMMER_CALLS);
    assert_int_equal(atomic_load(&b.handled), HAMMER_CALLS);
    assert_int_equal(atomic_load(&g.overlaps), 0);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread_per_lane),
        cmocka_unit_test(test_pooled_runs_on_lane_next_slot),
        cmocka_unit_test(test_wait_helps_lane),
        cmocka_unit_test(test_nested_waits),
        cmocka_unit_test(test_stop_ends_lane_wait),
        cmocka_unit_test(test_block_send_to_lane_mate),
        cmocka_unit_test(test_lane_blocks_only_itself),
        cmocka_unit_test(test_restart_keeps_lane),
        cmocka_unit_test(test_spin),
        cmocka_unit_test(test_call_does_not_borrow),
        cmocka_unit_test(test_borrow_runs_on_caller),
        cmocka_unit_test(test_borrow_not_busy_lane),
        cmocka_unit_test(test_borrow_deadlines),
        cmocka_unit_test(test_borrow_kicks_borrower),
        cmocka_unit_test(test_borrow_stop),
        cmocka_unit_test(test_borrow_exclusive),
    };

    return BM_TEST_RUN(tests);
}
