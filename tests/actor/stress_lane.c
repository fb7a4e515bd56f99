/*
 * Actor runtime stress: the node's shape on one lane, for a hang that
 * shows only under load (docs/RELIABILITY.md "Bugs the suite found").
 *
 * A lane "blk" holds S (answers GET: the State actor), P (PRODUCE: calls
 * S and a detached actor D that sleeps a little, as an fsync does, tells
 * a pooled actor B and a lane-mate Q, then answers: the Producer) and Q
 * (counts notes: the Sequencer). A pooled actor A (the Aggregator) is
 * ticked by a periodic timer and asks P with a continuation. Outside
 * threads call S (plainly, as /status does, and inline, borrowing the
 * idle lane), call P inline (manual production) and tell Q (tx notes).
 *
 * Every counter must keep moving. A watchdog looks each 500 ms: if one
 * stands still for STALL_S seconds it prints the lane's words, takes gdb
 * backtraces of every thread and aborts. Runs for STRESS_SECONDS
 * (default 8; the suite's run); long runs by hand:
 *   STRESS_SECONDS=600 build/tests/test_actor_stress_lane
 * BM_STRESS_INLINE=0: the outside calls never borrow the lane;
 * BM_STRESS_HOLD=1: a stalled process waits for a debugger instead.
 * Exit 0: no stall.
 */
#include "actor/actor_internal.h"
#include "blockv2/actor.h"
#include "util/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STALL_S 15
#define N_CALLERS 3

enum { K_TICK, K_DONE, K_PRODUCE, K_GET, K_WORK, K_NOTE, K_NKINDS };

struct req {
    uint32_t spin_us; /* work this long (D: sleep) */
};

struct rep {
    uint64_t v;
};

struct node {
    uint64_t v;
    atomic_ullong handled;
};

static struct {
    struct bm_actor_system *sys;
    struct node s, p, q, d, a, b;
    struct bm_actor_id is, ip, iq, id, ia, ib;
    atomic_ullong ticks_ok, ticks_err, calls_ok, calls_err, prod_ok, prod_err,
        tells_ok, tells_err;
    atomic_bool stop;
    bool inline_calls; /* BM_STRESS_INLINE=0: outside calls never borrow */
} g;

BM_ACTOR_HANDLER(on_tick, struct node, struct req)
BM_ACTOR_HANDLER(on_done, struct node, struct rep)
BM_ACTOR_HANDLER(on_produce, struct node, struct req)
BM_ACTOR_HANDLER(on_get, struct node, struct req)
BM_ACTOR_HANDLER(on_work, struct node, struct req)
BM_ACTOR_HANDLER(on_note, struct node, struct req)

static const struct bm_msg_kind kinds[K_NKINDS] = {
    [K_TICK] = BM_MSG_KIND("tick", struct req, 0, NULL, on_tick, NULL, NULL),
    [K_DONE] = BM_MSG_KIND("done", struct rep, 0, NULL, on_done, NULL, NULL),
    [K_PRODUCE] = BM_MSG_KIND("produce", struct req, sizeof(struct rep), NULL,
                              on_produce, NULL, NULL),
    [K_GET] = BM_MSG_KIND("get", struct req, sizeof(struct rep), NULL, on_get,
                          NULL, NULL),
    [K_WORK] = BM_MSG_KIND("work", struct req, sizeof(struct rep), NULL,
                           on_work, NULL, NULL),
    [K_NOTE] = BM_MSG_KIND("note", struct req, 0, NULL, on_note, NULL, NULL),
};

static const struct bm_actor_type node_type = {
    .name = "node", .kinds = kinds, .n_kinds = K_NKINDS};

static void spin_us(uint32_t us)
{
    uint64_t end = bm_clock_now_ns() + (uint64_t)us * 1000;

    while (bm_clock_now_ns() < end) {
    }
}

static uint32_t rnd(uint32_t *x, uint32_t n)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x % n;
}

static int on_tick(struct bm_actor_ctx *ctx, struct node *n, struct req *p)
{
    struct req r = {5};

    (void)n;
    (void)p;
    if (bm_actor_ask_async(ctx, g.ip, K_PRODUCE, &r, sizeof(r), 5000, K_DONE,
                           1) != BM_OK) {
        atomic_fetch_add(&g.ticks_err, 1);
    }
    return BM_OK;
}

static int on_done(struct bm_actor_ctx *ctx, struct node *n, struct rep *p)
{
    (void)n;
    (void)p;
    if (bm_actor_ctx_status(ctx) == BM_OK) {
        atomic_fetch_add(&g.ticks_ok, 1);
    } else {
        atomic_fetch_add(&g.ticks_err, 1);
    }
    return BM_OK;
}

static int on_produce(struct bm_actor_ctx *ctx, struct node *n, struct req *p)
{
    struct bm_actor_system *sys = bm_actor_ctx_system(ctx);
    struct req r = {0};
    struct rep a = {0};
    struct rep out;

    spin_us(p->spin_us);
    (void)bm_actor_call(sys, g.is, K_GET, &r, sizeof(r), &a, sizeof(a), 5000);
    r.spin_us = 100;
    (void)bm_actor_call(sys, g.id, K_WORK, &r, sizeof(r), &a, sizeof(a), 5000);
    r.spin_us = 0;
    (void)bm_actor_tell(sys, g.iq, K_NOTE, &r, sizeof(r));
    (void)bm_actor_tell(sys, g.ib, K_NOTE, &r, sizeof(r));
    out.v = ++n->v;
    atomic_fetch_add(&n->handled, 1);
    return bm_actor_reply(ctx, BM_OK, &out, sizeof(out));
}

static int on_get(struct bm_actor_ctx *ctx, struct node *n, struct req *p)
{
    struct rep out = {++n->v};

    (void)p;
    atomic_fetch_add(&n->handled, 1);
    return bm_actor_reply(ctx, BM_OK, &out, sizeof(out));
}

static int on_work(struct bm_actor_ctx *ctx, struct node *n, struct req *p)
{
    struct rep out = {++n->v};

    if (p->spin_us > 0) {
        bm_sleep_us(p->spin_us);
    }
    atomic_fetch_add(&n->handled, 1);
    return bm_actor_reply(ctx, BM_OK, &out, sizeof(out));
}

static int on_note(struct bm_actor_ctx *ctx, struct node *n, struct req *p)
{
    (void)ctx;
    (void)p;
    n->v++;
    atomic_fetch_add(&n->handled, 1);
    return BM_OK;
}

static void *caller_main(void *arg)
{
    uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1;

    while (!atomic_load(&g.stop)) {
        struct req r = {0};
        struct rep a;
        uint32_t what = rnd(&x, 16);
        int rc;

        if (what == 0) {
            /* Manual production: bm_manager_produce_block's inline call. */
            r.spin_us = 20;
            rc = (g.inline_calls ? bm_actor_call_inline : bm_actor_call)(
                g.sys, g.ip, K_PRODUCE, &r, sizeof(r), &a, sizeof(a), 5000);
            atomic_fetch_add(rc == BM_OK ? &g.prod_ok : &g.prod_err, 1);
        } else if (what < 4) {
            rc = bm_actor_tell(g.sys, g.iq, K_NOTE, &r, sizeof(r));
            atomic_fetch_add(rc == BM_OK ? &g.tells_ok : &g.tells_err, 1);
        } else {
            /* /status (a plain call) and inline calls, half each. */
            rc = what < 10 || !g.inline_calls
                     ? bm_actor_call(g.sys, g.is, K_GET, &r, sizeof(r), &a,
                                     sizeof(a), 5000)
                     : bm_actor_call_inline(g.sys, g.is, K_GET, &r, sizeof(r),
                                            &a, sizeof(a), 5000);
            atomic_fetch_add(rc == BM_OK ? &g.calls_ok : &g.calls_err, 1);
        }
        switch (rnd(&x, 4)) {
        case 0:
            break;
        case 1:
            spin_us(rnd(&x, 50));
            break;
        default:
            bm_sleep_us(rnd(&x, 300));
            break;
        }
    }
    return NULL;
}

static void dump(const char *why)
{
    struct bm__lane *l = bm__slot_actor(g.sys, g.is.slot)->lane;

    fprintf(stderr,
            "%s\n  lane own=%d kicked=%d parked=%d bparked=%d "
            "quit=%d rq.len=%u\n"
            "  ticks ok=%llu err=%llu calls ok=%llu err=%llu produce "
            "ok=%llu err=%llu tells ok=%llu err=%llu\n"
            "  handled S=%llu P=%llu Q=%llu D=%llu B=%llu\n",
            why, atomic_load(&l->own), atomic_load(&l->kicked),
            atomic_load(&l->parked), atomic_load(&l->bparked),
            atomic_load(&l->quit), (unsigned)atomic_load(&l->rq.len),
            atomic_load(&g.ticks_ok), atomic_load(&g.ticks_err),
            atomic_load(&g.calls_ok), atomic_load(&g.calls_err),
            atomic_load(&g.prod_ok), atomic_load(&g.prod_err),
            atomic_load(&g.tells_ok), atomic_load(&g.tells_err),
            atomic_load(&g.s.handled), atomic_load(&g.p.handled),
            atomic_load(&g.q.handled), atomic_load(&g.d.handled),
            atomic_load(&g.b.handled));
}

/* Every thread's stack, by gdb if there is one (BM_STRESS_GDB=0: not). */
static void backtraces(void)
{
    const char *on = getenv("BM_STRESS_GDB");
    char cmd[128];

    if (on != NULL && strcmp(on, "0") == 0) {
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "gdb -p %d -batch -ex 'thread apply all bt' 1>&2 2>/dev/null",
             (int)getpid());
    if (system(cmd) != 0) {
        fprintf(stderr, "(no gdb backtraces)\n");
    }
}

static struct bm_actor_id spawn(struct node *n, const char *name,
                                const char *lane, bool detached)
{
    struct bm_actor_opts o = {
        .name = name, .lane = lane, .detached = detached, .capacity = 4096};
    struct bm_actor_id id;

    if (bm_actor_spawn(g.sys, &node_type, n, &o, &id) != BM_OK) {
        fprintf(stderr, "spawn %s failed\n", name);
        exit(2);
    }
    return id;
}

int main(void)
{
    struct bm_actor_system_config cfg;
    const char *env = getenv("STRESS_SECONDS");
    long secs = env != NULL ? strtol(env, NULL, 10) : 8;
    pthread_t th[N_CALLERS];
    struct req tick = {0};
    struct bm_timer_id tid;
    /* The counters the watchdog watches, and when each last moved. */
    atomic_ullong *watched[] = {&g.ticks_ok, &g.calls_ok, &g.prod_ok,
                                &g.q.handled};
    uint64_t last[4] = {0}, moved_at[4];
    uint64_t end;

    env = getenv("BM_STRESS_INLINE");
    g.inline_calls = env == NULL || strcmp(env, "0") != 0;
    bm_actor_system_config_init(&cfg);
    cfg.workers = 2;
    if (bm_actor_system_new(&g.sys, &cfg) != BM_OK ||
        bm_actor_system_start(g.sys) != BM_OK) {
        fprintf(stderr, "system start failed\n");
        return 2;
    }
    g.is = spawn(&g.s, "state", "blk", false);
    g.iq = spawn(&g.q, "sequencer", "blk", false);
    g.ip = spawn(&g.p, "producer", "blk", false);
    g.id = spawn(&g.d, "da", NULL, true);
    g.ib = spawn(&g.b, "broadcaster", NULL, false);
    g.ia = spawn(&g.a, "aggregator", NULL, false);
    if (bm_timer_start(g.sys, g.ia, K_TICK, &tick, sizeof(tick), 1, 1, &tid) !=
        BM_OK) {
        fprintf(stderr, "timer failed\n");
        return 2;
    }
    for (uintptr_t i = 0; i < N_CALLERS; i++) {
        if (pthread_create(&th[i], NULL, caller_main, (void *)i) != 0) {
            return 2;
        }
    }
    for (int i = 0; i < 4; i++) {
        moved_at[i] = bm_clock_now_ns();
    }
    end = bm_clock_now_ns() + (uint64_t)secs * 1000000000u;
    while (bm_clock_now_ns() < end) {
        bool still = false;

        bm_sleep_ms(500);
        for (int i = 0; i < 4; i++) {
            uint64_t v = atomic_load(watched[i]);

            if (v != last[i]) {
                last[i] = v;
                moved_at[i] = bm_clock_now_ns();
            } else if (bm_clock_now_ns() - moved_at[i] >
                       (uint64_t)STALL_S * 1000000000u) {
                still = true;
            }
        }
        if (still) {
            dump("STALL: a counter stood still");
            backtraces();
            if (getenv("BM_STRESS_HOLD") != NULL) {
                /* Kept for a debugger: gdb -p PID. */
                fprintf(stderr, "HOLD pid %d\n", (int)getpid());
                for (;;) {
                    bm_sleep_ms(1000);
                }
            }
            abort();
        }
    }
    atomic_store(&g.stop, true);
    for (int i = 0; i < N_CALLERS; i++) {
        pthread_join(th[i], NULL);
    }
    dump("done, no stall");
    if (bm_actor_system_stop(g.sys, 10000) != BM_OK) {
        fprintf(stderr, "system stop failed\n");
        return 1;
    }
    bm_actor_system_free(g.sys);
    return atomic_load(&g.calls_err) + atomic_load(&g.prod_err) > 0 ? 1 : 0;
}
