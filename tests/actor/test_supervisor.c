/*
 * Supervision (OTP semantics): one_for_one, one_for_all, rest_for_one;
 * permanent / transient / temporary; intensity and escalation; root
 * give-up reported to the owner; ordered start and reverse stop; restart
 * under load; monitors.
 */
#include "bm_test.h"

#include "actor_test_util.h"

#include "blockv2/actor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ event log */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[4096];

static void log_event(char what, const char *name)
{
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(log_buf);

    if (n + 8 < sizeof(log_buf)) {
        snprintf(log_buf + n, sizeof(log_buf) - n, "%c%s ", what, name);
    }
    pthread_mutex_unlock(&log_mu);
}

static void log_reset(void)
{
    pthread_mutex_lock(&log_mu);
    log_buf[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

static void log_get(char *out, size_t cap)
{
    pthread_mutex_lock(&log_mu);
    snprintf(out, cap, "%s", log_buf);
    pthread_mutex_unlock(&log_mu);
}

static bool log_has(const char *what)
{
    bool has;

    pthread_mutex_lock(&log_mu);
    has = strstr(log_buf, what) != NULL;
    pthread_mutex_unlock(&log_mu);
    return has;
}

/* ------------------------------------------------------------ worker */

struct winfo {
    const char *name;
    atomic_int inits;
    atomic_int terms;
    atomic_int last_reason;
    atomic_int fail_inits;     /* fail this many inits */
    atomic_uint_least64_t pings; /* survives restarts */
    uint32_t sleep_on_stop_ms; /* detached: slow terminate path */
};

struct wstate {
    struct winfo *info;
};

struct empty {
    uint8_t unused;
};

struct target_msg {
    struct bm_actor_id target;
};

enum { W_CRASH, W_FAILCALL, W_QUIT, W_PING, W_SLEEP, W_MONITOR, W_NKINDS };

static int w_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    struct winfo *info = arg;
    struct wstate *st;

    (void)ctx;
    atomic_fetch_add(&info->inits, 1);
    if (atomic_load(&info->fail_inits) > 0) {
        atomic_fetch_sub(&info->fail_inits, 1);
        return BM_EIO;
    }
    st = bm_xmalloc(sizeof(*st));
    st->info = info;
    log_event('+', info->name);
    *out = st;
    return BM_OK;
}

static void w_terminate(void *state, int reason)
{
    struct wstate *st = state;

    atomic_fetch_add(&st->info->terms, 1);
    atomic_store(&st->info->last_reason, reason);
    log_event('-', st->info->name);
    bm_free(st);
}

static atomic_int g_down_count;
static atomic_int g_down_reason;
static struct bm_actor_id g_down_who;
static pthread_mutex_t down_mu = PTHREAD_MUTEX_INITIALIZER;

static void w_down(struct bm_actor_ctx *ctx, void *state,
                   struct bm_actor_id who, int reason)
{
    (void)ctx;
    (void)state;
    pthread_mutex_lock(&down_mu);
    g_down_who = who;
    pthread_mutex_unlock(&down_mu);
    atomic_store(&g_down_reason, reason);
    atomic_fetch_add(&g_down_count, 1);
}

BM_ACTOR_HANDLER(w_crash, struct wstate, struct empty)
BM_ACTOR_HANDLER(w_failcall, struct wstate, struct empty)
BM_ACTOR_HANDLER(w_quit, struct wstate, struct empty)
BM_ACTOR_HANDLER(w_ping, struct wstate, struct empty)
BM_ACTOR_HANDLER(w_sleep, struct wstate, struct empty)
BM_ACTOR_HANDLER(w_monitor, struct wstate, struct target_msg)

static int w_crash(struct bm_actor_ctx *ctx, struct wstate *st,
                   struct empty *m)
{
    (void)ctx;
    (void)st;
    (void)m;
    return BM_EFATAL;
}

static int w_failcall(struct bm_actor_ctx *ctx, struct wstate *st,
                      struct empty *m)
{
    (void)st;
    (void)m;
    bm_actor_fail(ctx, BM_EIO);
    return BM_OK;
}

static int w_quit(struct bm_actor_ctx *ctx, struct wstate *st,
                  struct empty *m)
{
    (void)st;
    (void)m;
    bm_actor_stop_self(ctx);
    return BM_OK;
}

static int w_ping(struct bm_actor_ctx *ctx, struct wstate *st,
                  struct empty *m)
{
    (void)ctx;
    (void)m;
    atomic_fetch_add(&st->info->pings, 1);
    return BM_OK;
}

/* w_sleep (only ever sent to detached workers) is stuck until the test
 * releases it, or the log shows g_stuck_until (another actor's stop, when
 * the test thread itself is blocked), or 20 s. A fixed sleep raced the
 * messages queued behind it and the supervisor's shutdown timer on a
 * loaded machine. */
static atomic_bool g_stuck_began;
static atomic_bool g_stuck_release;
static _Atomic(const char *) g_stuck_until;

static void stuck_reset(const char *until)
{
    atomic_store(&g_stuck_began, false);
    atomic_store(&g_stuck_release, false);
    atomic_store(&g_stuck_until, until);
}

static int w_sleep(struct bm_actor_ctx *ctx, struct wstate *st,
                   struct empty *m)
{
    uint64_t deadline = bm_clock_deadline_ms(20000);
    const char *until = atomic_load(&g_stuck_until);

    (void)ctx;
    (void)st;
    (void)m;
    atomic_store(&g_stuck_began, true);
    while (!atomic_load(&g_stuck_release) &&
           !(until != NULL && log_has(until)) &&
           bm_clock_now_ns() < deadline) {
        bm_sleep_ms(1);
    }
    return BM_OK;
}

/* Waits (20 s at most) until w_sleep has begun. */
static void wait_stuck(void)
{
    for (int i = 0; i < 20000 && !atomic_load(&g_stuck_began); i++) {
        bm_sleep_ms(1);
    }
    assert_true(atomic_load(&g_stuck_began));
}

static int w_monitor(struct bm_actor_ctx *ctx, struct wstate *st,
                     struct target_msg *m)
{
    (void)st;
    return bm_actor_monitor(ctx, m->target);
}

static const struct bm_msg_kind w_kinds[W_NKINDS] = {
    [W_CRASH] = BM_MSG_KIND("crash", struct empty, 0, NULL, w_crash, NULL,
                            NULL),
    [W_FAILCALL] = BM_MSG_KIND("failcall", struct empty, 0, NULL, w_failcall,
                               NULL, NULL),
    [W_QUIT] = BM_MSG_KIND("quit", struct empty, 0, NULL, w_quit, NULL, NULL),
    [W_PING] = BM_MSG_KIND("ping", struct empty, 0, NULL, w_ping, NULL, NULL),
    [W_SLEEP] = BM_MSG_KIND("sleep", struct empty, 0, NULL, w_sleep, NULL,
                            NULL),
    [W_MONITOR] = BM_MSG_KIND("monitor", struct target_msg, 0, NULL,
                              w_monitor, NULL, NULL),
};

static const struct bm_actor_type w_type = {
    .name = "worker",
    .kinds = w_kinds,
    .n_kinds = W_NKINDS,
    .init = w_init,
    .terminate = w_terminate,
    .on_down = w_down,
};

BM_ACTOR_REF(w);
BM_ACTOR_TELL(w, crash, W_CRASH, struct empty)
BM_ACTOR_TELL(w, failcall, W_FAILCALL, struct empty)
BM_ACTOR_TELL(w, quit, W_QUIT, struct empty)
BM_ACTOR_TELL(w, ping, W_PING, struct empty)
BM_ACTOR_TELL(w, sleep, W_SLEEP, struct empty)
BM_ACTOR_TELL(w, monitor, W_MONITOR, struct target_msg)

/* ------------------------------------------------------------ helpers */

static void wait_int(atomic_int *v, int want)
{
    for (int i = 0; i < 10000 && atomic_load(v) < want; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(v), want);
}

static void wait_log(const char *want)
{
    char got[4096];

    for (int i = 0; i < 5000; i++) {
        log_get(got, sizeof(got));
        if (strcmp(got, want) == 0) {
            return;
        }
        bm_sleep_ms(1);
    }
    log_get(got, sizeof(got));
    assert_string_equal(got, want);
}

static struct empty E;

#define CHILD(nm, info, rs, idp)                                               \
    {                                                                          \
        .name = (nm), .type = &w_type, .arg = (info), .restart = (rs),         \
        .id_out = (idp),                                                       \
    }

/* ------------------------------------------------------------ tests */

static void run_strategy_how(enum bm_sup_strategy strat,
                             const char *after_crash, bool kill)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo ia = {.name = "a"}, ib = {.name = "b"}, ic = {.name = "c"};
    struct bm_actor_id a, b, c, sup, b_before;
    struct bm_child_spec ch[3] = {
        CHILD("a", &ia, BM_RESTART_PERMANENT, &a),
        CHILD("b", &ib, BM_RESTART_PERMANENT, &b),
        CHILD("c", &ic, BM_RESTART_PERMANENT, &c),
    };
    struct bm_supervisor_spec spec = {.name = "root",
                                      .strategy = strat,
                                      .intensity = 3,
                                      .period_ms = 5000,
                                      .children = ch,
                                      .n_children = 3};
    struct bm_actor_stats s;

    log_reset();
    assert_int_equal(bm_supervisor_start(sys, &spec, &sup), BM_OK);
    wait_log("+a +b +c ");
    b_before = b;
    log_reset();
    if (kill) {
        assert_int_equal(bm_actor_kill(sys, b, BM_EIO), BM_OK);
    } else {
        assert_int_equal(bm_w_tell_crash(sys, (struct bm_ref_w){b}, &E),
                         BM_OK);
    }
    wait_log(after_crash);
    /* Ids survive restarts; the restarted child works. */
    assert_true(bm_actor_id_eq(b, b_before));
    for (int i = 0; i < 5000; i++) {
        if (bm_w_tell_ping(sys, (struct bm_ref_w){b}, &E) == BM_OK) {
            break;
        }
        bm_sleep_ms(1);
    }
    for (int i = 0; i < 5000 && atomic_load(&ib.pings) == 0; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&ib.pings), 1);
    assert_int_equal(bm_actor_stats_get(sys, b, &s), BM_OK);
    assert_int_equal(s.restarts, 1);
    assert_int_equal(s.failures, 1);
    /* Shutdown: reverse start order. */
    log_reset();
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    wait_log("-c -b -a ");
    assert_int_equal(atomic_load(&ia.inits), atomic_load(&ia.terms));
    assert_int_equal(atomic_load(&ib.inits), atomic_load(&ib.terms));
    assert_int_equal(atomic_load(&ic.inits), atomic_load(&ic.terms));
    assert_int_equal(atomic_load(&ic.last_reason), BM_ESHUTDOWN);
    bm_actor_system_free(sys);
}

static void run_strategy(enum bm_sup_strategy strat, const char *after_crash)
{
    run_strategy_how(strat, after_crash, false);
}

/* bm_actor_kill: the child fails as if its handler had crashed. */
static void test_kill(void **state)
{
    (void)state;
    run_strategy_how(BM_SUP_ONE_FOR_ONE, "-b +b ", true);
    run_strategy_how(BM_SUP_REST_FOR_ONE, "-b -c +b +c ", true);
}

/* Asks queued for an actor when it fails are answered at once with
 * BM_ERESTARTING (not after the restart); queued tells survive it. */
static void test_queued_asks_at_failure(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo ib = {.name = "b"};
    struct bm_actor_id b, sup;
    struct bm_child_spec ch[1] = {CHILD("b", &ib, BM_RESTART_PERMANENT, &b)};
    struct bm_supervisor_spec spec = {.name = "root",
                                      .strategy = BM_SUP_ONE_FOR_ONE,
                                      .intensity = 3,
                                      .children = ch,
                                      .n_children = 1};
    struct bm_future *f = NULL;
    struct empty e = {0};
    uint64_t t0;

    (void)state;
    ch[0].opts.detached = true;
    assert_int_equal(bm_supervisor_start(sys, &spec, &sup), BM_OK);
    wait_int(&ib.inits, 1);
    /* b is stuck until the crash, the ask and the tell are all queued
     * behind it (a fixed sleep could end before they were). */
    stuck_reset(NULL);
    assert_int_equal(bm_w_tell_sleep(sys, (struct bm_ref_w){b}, &E), BM_OK);
    assert_int_equal(bm_w_tell_crash(sys, (struct bm_ref_w){b}, &E), BM_OK);
    assert_int_equal(bm_actor_ask(sys, b, W_PING, &e, sizeof(e), 10000, &f),
                     BM_OK);
    assert_int_equal(bm_w_tell_ping(sys, (struct bm_ref_w){b}, &E), BM_OK);
    atomic_store(&g_stuck_release, true);
    t0 = bm_actor_now_ns();
    assert_int_equal(bm_future_wait(f, -1, NULL, 0), BM_ERESTARTING);
    assert_true(bm_actor_now_ns() - t0 < 5000000000ull);
    bm_future_free(f);
    /* The queued tell ran after the restart. */
    for (int i = 0; i < 5000 && atomic_load(&ib.pings) == 0; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&ib.pings), 1);
    assert_int_equal(atomic_load(&ib.inits), 2);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* A tree started before the system: children are built (ids written)
 * before any of them runs; they run once the system starts. */
static void test_tree_before_start(void **state)
{
    struct bm_actor_system_config cfg;
    struct bm_actor_system *sys;
    struct winfo ia = {.name = "a"}, ib = {.name = "b"};
    struct bm_actor_id a = {0, 0}, b = {0, 0}, sup;
    struct bm_child_spec ch[2] = {
        CHILD("a", &ia, BM_RESTART_PERMANENT, &a),
        CHILD("b", &ib, BM_RESTART_PERMANENT, &b),
    };
    struct bm_supervisor_spec spec = {.name = "root",
                                      .strategy = BM_SUP_REST_FOR_ONE,
                                      .intensity = 3,
                                      .children = ch,
                                      .n_children = 2};

    (void)state;
    bm_actor_system_config_init(&cfg);
    cfg.workers = 2;
    assert_int_equal(bm_actor_system_new(&sys, &cfg), BM_OK);
    log_reset();
    assert_int_equal(bm_supervisor_start(sys, &spec, &sup), BM_OK);
    assert_false(bm_actor_id_is_none(a));
    assert_false(bm_actor_id_is_none(b));
    assert_int_equal(bm_w_tell_ping(sys, (struct bm_ref_w){b}, &E), BM_OK);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    for (int i = 0; i < 5000 && atomic_load(&ib.pings) == 0; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&ib.pings), 1);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_one_for_one(void **state)
{
    (void)state;
    run_strategy(BM_SUP_ONE_FOR_ONE, "-b +b ");
}

static void test_one_for_all(void **state)
{
    (void)state;
    run_strategy(BM_SUP_ONE_FOR_ALL, "-b -c -a +a +b +c ");
}

static void test_rest_for_one(void **state)
{
    (void)state;
    run_strategy(BM_SUP_REST_FOR_ONE, "-b -c +b +c ");
}

static void test_restart_types(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo ip = {.name = "p"}, it = {.name = "t"}, iy = {.name = "y"},
                 it2 = {.name = "u"};
    struct bm_actor_id p, t, y, t2, sup;
    struct bm_child_spec ch[4] = {
        CHILD("p", &ip, BM_RESTART_PERMANENT, &p),
        CHILD("t", &it, BM_RESTART_TRANSIENT, &t),
        CHILD("y", &iy, BM_RESTART_TEMPORARY, &y),
        CHILD("u", &it2, BM_RESTART_TRANSIENT, &t2),
    };
    struct bm_supervisor_spec spec = {.strategy = BM_SUP_ONE_FOR_ONE,
                                      .intensity = 10,
                                      .children = ch,
                                      .n_children = 4};

    (void)state;
    log_reset();
    assert_int_equal(bm_supervisor_start(sys, &spec, &sup), BM_OK);
    wait_log("+p +t +y +u ");
    /* Permanent: restarted even after a normal exit. */
    assert_int_equal(bm_w_tell_quit(sys, (struct bm_ref_w){p}, &E), BM_OK);
    wait_int(&ip.inits, 2);
    assert_int_equal(atomic_load(&ip.last_reason), BM_OK);
    /* Transient: a normal exit is final, the id goes stale. */
    assert_int_equal(bm_w_tell_quit(sys, (struct bm_ref_w){t}, &E), BM_OK);
    assert_int_equal(bm_actor_wait_exit(sys, t, 5000, NULL), BM_OK);
    assert_int_equal(bm_w_tell_ping(sys, (struct bm_ref_w){t}, &E),
                     BM_ENOACTOR);
    assert_int_equal(atomic_load(&it.inits), 1);
    /* Transient: an abnormal exit (bm_actor_fail) restarts it. */
    assert_int_equal(bm_w_tell_failcall(sys, (struct bm_ref_w){t2}, &E),
                     BM_OK);
    wait_int(&it2.inits, 2);
    assert_int_equal(atomic_load(&it2.last_reason), BM_EIO);
    /* Temporary: never restarted. */
    assert_int_equal(bm_w_tell_crash(sys, (struct bm_ref_w){y}, &E), BM_OK);
    assert_int_equal(bm_actor_wait_exit(sys, y, 5000, NULL), BM_OK);
    assert_int_equal(atomic_load(&iy.inits), 1);
    assert_int_equal(atomic_load(&iy.last_reason), BM_EFATAL);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_intensity_escalation(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo iw = {.name = "w"}, ix = {.name = "x"};
    struct bm_actor_id w, x, mid, root;
    struct bm_child_spec inner[1] = {
        CHILD("w", &iw, BM_RESTART_PERMANENT, &w),
    };
    struct bm_supervisor_spec mid_spec = {.name = "mid",
                                          .strategy = BM_SUP_ONE_FOR_ONE,
                                          .intensity = 1,
                                          .period_ms = 10000,
                                          .children = inner,
                                          .n_children = 1};
    struct bm_child_spec outer[2] = {
        {.name = "mid", .sup = &mid_spec, .restart = BM_RESTART_PERMANENT,
         .id_out = &mid},
        CHILD("x", &ix, BM_RESTART_PERMANENT, &x),
    };
    struct bm_supervisor_spec root_spec = {.name = "root",
                                           .strategy = BM_SUP_ONE_FOR_ONE,
                                           .intensity = 5,
                                           .period_ms = 10000,
                                           .children = outer,
                                           .n_children = 2};
    struct bm_actor_id w0;
    struct bm_actor_stats s;

    (void)state;
    log_reset();
    assert_int_equal(bm_supervisor_start(sys, &root_spec, &root), BM_OK);
    wait_log("+w +x ");
    w0 = w;
    /* First crash: mid restarts w (1 restart <= intensity 1). */
    assert_int_equal(bm_w_tell_crash(sys, (struct bm_ref_w){w}, &E), BM_OK);
    wait_int(&iw.inits, 2);
    /* Second crash within the period: mid gives up and escalates; root
     * restarts mid, which re-inits w (same id). x is untouched. */
    for (int i = 0; i < 5000; i++) {
        if (bm_w_tell_crash(sys, (struct bm_ref_w){w}, &E) == BM_OK) {
            break;
        }
        bm_sleep_ms(1);
    }
    wait_int(&iw.inits, 3);
    assert_true(bm_actor_id_eq(w, w0));
    assert_int_equal(atomic_load(&ix.inits), 1);
    assert_int_equal(bm_actor_stats_get(sys, mid, &s), BM_OK);
    assert_int_equal(s.restarts, 1);
    /* The system did not fail: the root absorbed it. */
    assert_int_equal(bm_actor_system_wait(sys, 50), BM_ETIMEDOUT);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    assert_int_equal(atomic_load(&iw.inits), atomic_load(&iw.terms));
    bm_actor_system_free(sys);
}

static void test_root_gives_up(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo ia = {.name = "a"}, ib = {.name = "b"};
    struct bm_actor_id a, b, root;
    struct bm_child_spec ch[2] = {
        CHILD("a", &ia, BM_RESTART_PERMANENT, &a),
        CHILD("b", &ib, BM_RESTART_PERMANENT, &b),
    };
    struct bm_supervisor_spec spec = {.name = "root",
                                      .strategy = BM_SUP_ONE_FOR_ONE,
                                      .intensity = 0,
                                      .children = ch,
                                      .n_children = 2};

    (void)state;
    log_reset();
    assert_int_equal(bm_supervisor_start(sys, &spec, &root), BM_OK);
    wait_log("+a +b ");
    log_reset();
    assert_int_equal(bm_w_tell_crash(sys, (struct bm_ref_w){a}, &E), BM_OK);
    assert_int_equal(bm_actor_system_wait(sys, 5000), BM_EESCALATED);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_EESCALATED);
    /* a failed, b was stopped; nothing restarted. */
    assert_int_equal(atomic_load(&ia.inits), 1);
    assert_int_equal(atomic_load(&ib.terms), 1);
    wait_log("-a -b ");
    bm_actor_system_free(sys);
}

static void test_init_failure_on_restart(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo ia = {.name = "a"};
    struct bm_actor_id a, root;
    struct bm_child_spec ch[1] = {
        CHILD("a", &ia, BM_RESTART_PERMANENT, &a),
    };
    struct bm_supervisor_spec spec = {.strategy = BM_SUP_ONE_FOR_ONE,
                                      .intensity = 3,
                                      .children = ch,
                                      .n_children = 1};

    (void)state;
    assert_int_equal(bm_supervisor_start(sys, &spec, &root), BM_OK);
    /* Two failing re-inits, then success: 1 + 3 inits, 3 restarts used. */
    atomic_store(&ia.fail_inits, 2);
    assert_int_equal(bm_w_tell_crash(sys, (struct bm_ref_w){a}, &E), BM_OK);
    wait_int(&ia.inits, 4);
    assert_int_equal(bm_actor_system_wait(sys, 50), BM_ETIMEDOUT);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    assert_int_equal(atomic_load(&ia.terms), 2);
    bm_actor_system_free(sys);
}

static void test_start_failure(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo ia = {.name = "a"}, ib = {.name = "b"};
    struct bm_child_spec ch[2] = {
        CHILD("a", &ia, BM_RESTART_PERMANENT, NULL),
        CHILD("b", &ib, BM_RESTART_PERMANENT, NULL),
    };
    struct bm_supervisor_spec spec = {.strategy = BM_SUP_ONE_FOR_ONE,
                                      .children = ch,
                                      .n_children = 2};
    struct bm_actor_id root;
    struct bm_child_spec bad = {.name = "bad", .restart = BM_RESTART_PERMANENT};
    struct bm_supervisor_spec bad_spec = {.children = &bad, .n_children = 1};

    (void)state;
    atomic_store(&ib.fail_inits, 1);
    assert_int_equal(bm_supervisor_start(sys, &spec, &root), BM_EIO);
    /* a was started and then stopped again. */
    assert_int_equal(atomic_load(&ia.inits), 1);
    assert_int_equal(atomic_load(&ia.terms), 1);
    assert_int_equal(bm_supervisor_start(sys, &bad_spec, &root), BM_EINVAL);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

struct load_arg {
    struct bm_actor_system *sys;
    struct bm_actor_id id;
    atomic_int stop;
    uint64_t ok, restarting, full, other;
};

static void *load_main(void *p)
{
    struct load_arg *la = p;

    while (!atomic_load(&la->stop)) {
        int err = bm_w_tell_ping(la->sys, (struct bm_ref_w){la->id}, &E);

        if (err == BM_OK) {
            la->ok++;
        } else if (err == BM_ERESTARTING) {
            la->restarting++;
        } else if (err == BM_EFULL) {
            la->full++;
        } else {
            la->other++;
        }
    }
    return NULL;
}

static void test_restart_under_load(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo iw = {.name = "w"};
    struct bm_actor_id w, root;
    struct bm_child_spec ch[1] = {{.name = "w",
                                   .type = &w_type,
                                   .arg = &iw,
                                   .restart = BM_RESTART_PERMANENT,
                                   .opts = {.capacity = 256},
                                   .id_out = &w}};
    struct bm_supervisor_spec spec = {.strategy = BM_SUP_ONE_FOR_ONE,
                                      .intensity = 1000,
                                      .children = ch,
                                      .n_children = 1};
    struct load_arg la;
    pthread_t th;
    struct bm_actor_stats s;
    int crashes = 0;
    uint64_t crash_full = 0;

    (void)state;
    assert_int_equal(bm_supervisor_start(sys, &spec, &root), BM_OK);
    memset(&la, 0, sizeof(la));
    la.sys = sys;
    la.id = w;
    assert_int_equal(pthread_create(&th, NULL, load_main, &la), 0);
    for (int i = 0; i < 20; i++) {
        int err = bm_w_tell_crash(sys, (struct bm_ref_w){w}, &E);

        if (err == BM_OK) {
            crashes++;
        } else if (err == BM_EFULL) {
            crash_full++;
        }
        bm_sleep_ms(5);
    }
    atomic_store(&la.stop, 1);
    pthread_join(th, NULL);
    wait_int(&iw.inits, crashes + 1);
    /* Every accepted ping is handled: none lost across restarts. */
    for (int i = 0; i < 5000 && atomic_load(&iw.pings) < la.ok; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&iw.pings), la.ok);
    assert_int_equal(la.other, 0);
    assert_int_equal(bm_actor_stats_get(sys, w, &s), BM_OK);
    assert_int_equal(s.handled, la.ok + (uint64_t)crashes);
    assert_int_equal(s.rejected_full, la.full + crash_full);
    assert_int_equal(s.dropped, 0);
    assert_int_equal(s.restarts, (uint64_t)crashes);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_monitor(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo im = {.name = "m"}, it = {.name = "t"};
    struct bm_actor_id m, t;
    struct target_msg tm;
    struct bm_actor_id who;

    (void)state;
    atomic_store(&g_down_count, 0);
    assert_int_equal(bm_actor_spawn(sys, &w_type, &im, NULL, &m), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &w_type, &it, NULL, &t), BM_OK);
    tm.target = t;
    assert_int_equal(bm_w_tell_monitor(sys, (struct bm_ref_w){m}, &tm), BM_OK);
    bm_sleep_ms(20);
    assert_int_equal(bm_w_tell_crash(sys, (struct bm_ref_w){t}, &E), BM_OK);
    wait_int(&g_down_count, 1);
    assert_int_equal(atomic_load(&g_down_reason), BM_EFATAL);
    pthread_mutex_lock(&down_mu);
    who = g_down_who;
    pthread_mutex_unlock(&down_mu);
    assert_true(bm_actor_id_eq(who, t));
    /* Monitoring a dead id: DOWN at once with BM_ENOACTOR. */
    assert_int_equal(bm_w_tell_monitor(sys, (struct bm_ref_w){m}, &tm), BM_OK);
    wait_int(&g_down_count, 2);
    assert_int_equal(atomic_load(&g_down_reason), BM_ENOACTOR);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_shutdown_timeout(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct winfo ia = {.name = "a"}, is = {.name = "s"}, ic = {.name = "c"};
    struct bm_actor_id a, s, c, root;
    struct bm_child_spec ch[3] = {
        CHILD("a", &ia, BM_RESTART_PERMANENT, &a),
        {.name = "s", .type = &w_type, .arg = &is,
         .restart = BM_RESTART_PERMANENT, .opts = {.detached = true},
         .shutdown_ms = 30, .id_out = &s},
        CHILD("c", &ic, BM_RESTART_PERMANENT, &c),
    };
    struct bm_supervisor_spec spec = {.strategy = BM_SUP_ONE_FOR_ONE,
                                      .children = ch,
                                      .n_children = 3};

    (void)state;
    log_reset();
    assert_int_equal(bm_supervisor_start(sys, &spec, &root), BM_OK);
    wait_log("+a +s +c ");
    log_reset();
    stuck_reset("-a ");
    assert_int_equal(bm_w_tell_sleep(sys, (struct bm_ref_w){s}, &E), BM_OK);
    /* Wait until s is inside its handler: a stop that came before the
     * handler began would find s idle and stop it at once ("-c -s -a "). */
    wait_stuck();
    /* s is stuck until a has stopped: the supervisor gives it 30 ms,
     * abandons it and goes on with a; s terminates when its handler
     * returns. Had the supervisor waited for s, s would come back after
     * 20 s and the log would read "-c -s -a ". */
    assert_int_equal(bm_actor_system_stop(sys, 60000), BM_OK);
    wait_log("-c -a -s ");
    bm_actor_system_free(sys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_for_one),
        cmocka_unit_test(test_kill),
        cmocka_unit_test(test_queued_asks_at_failure),
        cmocka_unit_test(test_tree_before_start),
        cmocka_unit_test(test_one_for_all),
        cmocka_unit_test(test_rest_for_one),
        cmocka_unit_test(test_restart_types),
        cmocka_unit_test(test_intensity_escalation),
        cmocka_unit_test(test_root_gives_up),
        cmocka_unit_test(test_init_failure_on_restart),
        cmocka_unit_test(test_start_failure),
        cmocka_unit_test(test_restart_under_load),
        cmocka_unit_test(test_monitor),
        cmocka_unit_test(test_shutdown_timeout),
    };

    return BM_TEST_RUN(tests);
}
