/*
 * AggregatorActor: the block-production clock (aggregator.h). Pooled, so it
 * never blocks: the state comes from the State actor as a STATE
 * continuation and each production is an async ask to the Producer whose
 * result comes back as PRODUCED.
 *
 * Timers are one-shot and re-armed after each production (remaining-sleep
 * rule), at exact monotonic deadlines in nanoseconds (bm_timer_start_at,
 * util/clock.h): a production that a tick started on time counts from the
 * tick's due time, not from when the tick was handled, so the block
 * schedule keeps its phase (block k is due at start + k * block time)
 * instead of drifting by the timer and hand-off latency of each block.
 * Only that latency is made up: a tick later than a tenth of the block
 * time (a loaded machine, a slow block) moves the phase by the rest, so
 * blocks never come in a burst that followers would see as a lag of
 * several blocks (bm_aggregator_start_ns).
 * Each arm bumps the timer's generation; a tick whose generation is
 * not the current one belongs to a cancelled timer and is ignored. A tick
 * that arrives while a production is in flight is remembered (one pending
 * flag per timer) and handled when PRODUCED arrives, unless the re-arm
 * after the block superseded it, so a timer chain is never lost.
 *
 * The mailbox drops the oldest message when full (ticks and TXS are
 * idempotent), so a tick can be lost: once started, a one-shot START (the
 * watchdog) is due STALL_SLACK_MS after the earliest expected tick and is
 * moved each time a timer is armed, so it fires only if that tick was lost
 * (and every TXS checks too, for a flood that drops the watchdog as well);
 * a tick overdue by STALL_SLACK_MS is handled as if it had come.
 *
 * Idle means asleep: the watchdog costs no wake-up while ticks come on
 * time, and in lazy mode the block timer is not re-armed while there are
 * no transactions (a TXS arms it, for the remainder of the block time
 * since the last production started); only the lazy interval ticks.
 *
 * Continuations carry a cookie (a per-incarnation base plus a sequence
 * number) so that a reply meant for a previous incarnation (before a
 * supervised restart) is ignored.
 */
#include "actors/aggregator.h"

#include <string.h>

#include "actors/producer.h"
#include "actors/state.h"
#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "aggregator"

/* Generous: a block may wait on fsyncs and the executor. */
#define PRODUCE_TIMEOUT_MS 60000
#define STATE_TIMEOUT_MS 10000
/* Retry delay when the state cannot be read yet. */
#define START_RETRY_MS 100
/* A failing producer is reported at most this often (plus at the first
 * failure of a streak). */
#define WARN_EVERY_MS 10000
/* Until started, START ticks every WATCHDOG_MS (init may run while the
 * actor is held by its supervisor). Then a tick expected for STALL_SLACK_MS
 * past its due time was lost (a drop_oldest mailbox dropped it, or arming
 * failed): it is handled as if it had come. */
#define WATCHDOG_MS 1000
#define STALL_SLACK_MS 1000

#define NS_PER_MS 1000000ull

enum which_timer { T_BLOCK = 0, T_LAZY = 1, T_COUNT };

struct agg_timer {
    struct bm_timer_id id;
    uint64_t gen; /* generation of the armed timer */
    bool armed;   /* a tick is expected (armed, or arming failed) */
    uint64_t due_ns; /* monotonic */
    bool pending; /* ticked while a production was in flight */
};

struct aggregator {
    struct bm_env *env;
    bool lazy;
    uint64_t block_ns;
    uint64_t lazy_ns;
    bool started;     /* state read, timers running */
    bool state_asked; /* a STATE continuation is expected */
    uint64_t state_asked_ms;
    struct bm_timer_id start_timer;
    struct bm_timer_id watchdog;
    uint64_t cookie_base;
    uint64_t seq;    /* last cookie offset used */
    uint64_t expect; /* cookie of the awaited continuation */
    struct agg_timer t[T_COUNT];
    /* Production in flight. */
    bool in_flight;
    enum which_timer in_flight_timer;
    uint32_t in_flight_reason;
    /* Start of the production in flight: the due time of the tick that
     * started it (when on time), else when it started. Monotonic ns. */
    uint64_t in_flight_start_ns;
    uint64_t last_block_start_ns; /* start of the last production */
    /* TXS flag: txs arrived since the last block; txs_during: since the
     * production in flight started (kept when that block is made). */
    bool txs;
    bool txs_during;
    /* KICK while a round was in flight: another round if it made none. */
    bool kicked;
    /* Failure reporting. */
    uint64_t fail_streak;
    uint64_t last_warn_ms;
};

uint64_t bm_aggregator_remaining_ns(uint64_t interval_ns, uint64_t elapsed_ns)
{
    if (elapsed_ns < interval_ns) {
        return interval_ns - elapsed_ns;
    }
    return NS_PER_MS;
}

uint64_t bm_aggregator_start_ns(uint64_t due_ns, uint64_t now_ns,
                                uint64_t interval_ns)
{
    uint64_t carry = interval_ns / BM_AGGREGATOR_CARRY_DIV;

    if (due_ns > now_ns) {
        return now_ns;
    }
    return now_ns - due_ns <= carry ? due_ns : now_ns - carry;
}

uint64_t bm_aggregator_remaining_ms(uint64_t interval_ms, uint64_t elapsed_ms)
{
    if (interval_ms > UINT64_MAX / NS_PER_MS ||
        elapsed_ms > UINT64_MAX / NS_PER_MS) {
        return elapsed_ms < interval_ms ? interval_ms - elapsed_ms : 1;
    }
    return bm_aggregator_remaining_ns(interval_ms * NS_PER_MS,
                                      elapsed_ms * NS_PER_MS) /
           NS_PER_MS;
}

static const char *reason_name(uint32_t r)
{
    switch (r) {
    case BM_PRODUCE_TIMER:
        return "timer";
    case BM_PRODUCE_LAZY:
        return "lazy";
    case BM_PRODUCE_TX:
        return "tx";
    default:
        return "manual";
    }
}

static uint64_t next_cookie(struct aggregator *a)
{
    a->seq++;
    a->expect = a->cookie_base + a->seq;
    return a->expect;
}

/* Once started (and with no production in flight, whose end re-arms it),
 * moves the watchdog to STALL_SLACK_MS after the earliest expected tick;
 * none while no tick is expected. Never blocks. */
static void arm_watchdog(struct aggregator *a, struct bm_actor_ctx *ctx)
{
    struct bm_aggregator_tick wd = {0};
    uint64_t due = UINT64_MAX, now, delay;
    int err;

    if (!a->started) {
        return; /* the periodic START of init is still needed */
    }
    (void)bm_timer_cancel(a->env->sys, a->watchdog);
    memset(&a->watchdog, 0, sizeof(a->watchdog));
    if (a->in_flight) {
        return;
    }
    for (int w = 0; w < T_COUNT; w++) {
        if (a->t[w].armed && a->t[w].due_ns < due) {
            due = a->t[w].due_ns;
        }
    }
    if (due == UINT64_MAX) {
        return;
    }
    now = bm_clock_now_ns();
    due = due / NS_PER_MS + STALL_SLACK_MS + 1;
    delay = due > now / NS_PER_MS ? due - now / NS_PER_MS : 1;
    err = bm_timer_start(a->env->sys, bm_actor_ctx_self(ctx),
                         BM_AGGREGATOR_START, &wd, sizeof(wd), (int64_t)delay,
                         0, &a->watchdog);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot arm watchdog err=%s", bm_err_name(err));
    }
}

/* (Re-)arms timer `w` to fire at due_ns (monotonic; exact, not rounded
 * to the timer tick), cancelling the previous one, and moves the
 * watchdog. A failure to arm is logged (the system is stopping or out of
 * memory). Never blocks. */
static void arm(struct aggregator *a, struct bm_actor_ctx *ctx,
                enum which_timer w, uint64_t due_ns)
{
    struct agg_timer *t = &a->t[w];
    struct bm_aggregator_tick tick;
    uint32_t kind =
        w == T_BLOCK ? BM_AGGREGATOR_BLOCK_TICK : BM_AGGREGATOR_LAZY_TICK;
    int err;

    if (t->armed) {
        (void)bm_timer_cancel(a->env->sys, t->id);
        t->armed = false;
    }
    t->pending = false;
    t->gen++;
    tick.gen = t->gen;
    err = bm_timer_start_at(a->env->sys, bm_actor_ctx_self(ctx), kind, &tick,
                            sizeof(tick), due_ns, &t->id);
    /* Expected even on failure: the watchdog retries it later. */
    t->armed = true;
    t->due_ns = due_ns;
    if (err != BM_OK) {
        memset(&t->id, 0, sizeof(t->id));
        bm_log_warn(MOD, "cannot arm %s timer err=%s",
                    w == T_BLOCK ? "block" : "lazy", bm_err_name(err));
    }
    arm_watchdog(a, ctx);
}

static void on_timer(struct aggregator *a, struct bm_actor_ctx *ctx,
                     enum which_timer w);

/* Watchdog: a tick overdue by STALL_SLACK_MS was lost; act as if it had
 * come (a re-armed tick could be dropped again under a flood). Cancels
 * the late timer, so a delivery still queued is stale. Never blocks. */
static void check_stall(struct aggregator *a, struct bm_actor_ctx *ctx)
{
    uint64_t now = bm_clock_now_ns();

    if (!a->started || a->in_flight) {
        return;
    }
    for (int w = 0; w < T_COUNT && !a->in_flight; w++) {
        struct agg_timer *t = &a->t[w];

        if (t->armed && now > t->due_ns + STALL_SLACK_MS * NS_PER_MS) {
            bm_log_debug(MOD, "%s tick lost", w == T_BLOCK ? "block" : "lazy");
            (void)bm_timer_cancel(a->env->sys, t->id);
            t->gen++;
            on_timer(a, ctx, (enum which_timer)w);
        }
    }
}

static void cancel_all(struct aggregator *a)
{
    (void)bm_timer_cancel(a->env->sys, a->start_timer);
    (void)bm_timer_cancel(a->env->sys, a->watchdog);
    for (int w = 0; w < T_COUNT; w++) {
        if (a->t[w].armed) {
            (void)bm_timer_cancel(a->env->sys, a->t[w].id);
            a->t[w].armed = false;
        }
        a->t[w].gen++;
        a->t[w].pending = false;
    }
}

static void note_failure(struct aggregator *a, int err)
{
    uint64_t now = bm_env_now_ms();

    a->fail_streak++;
    if (a->fail_streak == 1 || now - a->last_warn_ms >= WARN_EVERY_MS) {
        a->last_warn_ms = now;
        bm_log_warn(MOD, "block production failed err=%s failures=%llu",
                    bm_err_name(err), (unsigned long long)a->fail_streak);
    }
}

static uint64_t interval_ns(const struct aggregator *a, enum which_timer w)
{
    return w == T_BLOCK ? a->block_ns : a->lazy_ns;
}

/* Asks the Producer for a block; the tick came from timer `w`, due at
 * due_ns (0: not a timely tick, counted from now). The production counts
 * from bm_aggregator_start_ns: the due time when the tick is at most a
 * tenth of the interval late, else now less that tenth. On a send error
 * the failure is noted and the timer re-armed, so timing goes on. */
static void produce(struct aggregator *a, struct bm_actor_ctx *ctx,
                    enum which_timer w, uint32_t reason, uint64_t due_ns)
{
    struct bm_producer_req req = {.reason = reason};
    uint64_t cookie = next_cookie(a);
    uint64_t now = bm_clock_now_ns();
    int err;

    err = bm_producer_ask_produce_async(ctx, bm_env_producer(a->env), &req,
                                        PRODUCE_TIMEOUT_MS,
                                        BM_AGGREGATOR_PRODUCED, cookie);
    if (err != BM_OK) {
        note_failure(a, err);
        arm(a, ctx, w, now + interval_ns(a, w));
        return;
    }
    a->in_flight = true;
    a->in_flight_timer = w;
    a->in_flight_reason = reason;
    a->in_flight_start_ns =
        due_ns != 0 ? bm_aggregator_start_ns(due_ns, now, interval_ns(a, w))
                    : now;
    a->txs_during = false;
    bm_log_debug(MOD, "produce reason=%s", reason_name(reason));
}

/* The logic of a tick of timer `w` that is current (generation checked).
 * Never blocks. */
static void on_timer(struct aggregator *a, struct bm_actor_ctx *ctx,
                     enum which_timer w)
{
    uint64_t due = a->t[w].due_ns;

    a->t[w].armed = false;
    if (bm_env_quitting(a->env)) {
        return; /* halted, or a graceful stop has begun */
    }
    if (a->in_flight) {
        a->t[w].pending = true;
        return;
    }
    if (w == T_LAZY) {
        produce(a, ctx, w, BM_PRODUCE_LAZY, due);
    } else if (!a->lazy) {
        produce(a, ctx, w, BM_PRODUCE_TIMER, due);
    } else if (a->txs) {
        produce(a, ctx, w, BM_PRODUCE_TX, due);
    } else {
        /* Lazy and nothing to do: the block timer sleeps until a TXS. */
        arm_watchdog(a, ctx);
    }
}

/* Lazy mode: txs arrived while the block timer sleeps; it fires once the
 * block time since the last production's start has passed. */
static void wake_block_timer(struct aggregator *a, struct bm_actor_ctx *ctx)
{
    uint64_t now;

    if (!a->lazy || !a->started || a->in_flight || a->t[T_BLOCK].armed ||
        bm_env_halted(a->env)) {
        return;
    }
    now = bm_clock_now_ns();
    arm(a, ctx, T_BLOCK,
        now + bm_aggregator_remaining_ns(a->block_ns,
                                         now - a->last_block_start_ns));
}

/* Arms the START timer (retry or watchdog of the state read). */
static void arm_start(struct aggregator *a, struct bm_actor_ctx *ctx,
                      uint64_t delay_ms)
{
    struct bm_aggregator_tick start = {0};
    int err;

    (void)bm_timer_cancel(a->env->sys, a->start_timer);
    err = bm_timer_start(a->env->sys, bm_actor_ctx_self(ctx),
                         BM_AGGREGATOR_START, &start, sizeof(start),
                         (int64_t)delay_ms, 0, &a->start_timer);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot arm start timer err=%s", bm_err_name(err));
    }
}

static void ask_state(struct aggregator *a, struct bm_actor_ctx *ctx)
{
    struct bm_state_get req = {0};
    uint64_t cookie = next_cookie(a);
    int err;

    err = bm_state_ask_get_async(ctx, bm_env_state(a->env), &req,
                                 STATE_TIMEOUT_MS, BM_AGGREGATOR_STATE, cookie);
    if (err == BM_OK) {
        a->state_asked = true;
        a->state_asked_ms = bm_env_now_ms();
        /* Watchdog: a continuation that never gets handled (rejected by
         * validation) must not stall the clock. */
        arm_start(a, ctx, STATE_TIMEOUT_MS + 1000);
        return;
    }
    bm_log_debug(MOD, "cannot ask state err=%s; retrying", bm_err_name(err));
    arm_start(a, ctx, START_RETRY_MS);
}

BM_ACTOR_HANDLER(on_start, struct aggregator, struct bm_aggregator_tick)
static int on_start(struct bm_actor_ctx *ctx, struct aggregator *a,
                    struct bm_aggregator_tick *p)
{
    (void)p;
    if (bm_env_halted(a->env)) {
        return BM_OK;
    }
    if (a->started) {
        /* The watchdog (or a stale START): handle lost ticks, then move
         * the watchdog after whatever is expected now. */
        check_stall(a, ctx);
        arm_watchdog(a, ctx);
        return BM_OK;
    }
    if (a->state_asked &&
        bm_env_now_ms() - a->state_asked_ms <= STATE_TIMEOUT_MS) {
        return BM_OK;
    }
    a->state_asked = false;
    ask_state(a, ctx);
    return BM_OK;
}

static int validate_state(const void *payload, struct bm_errmsg *em)
{
    const struct bm_state_info *i = payload;

    if (i->state == NULL) {
        return bm_errf(em, BM_EINVAL,
                       "state_info.state: got NULL, want a state");
    }
    return BM_OK;
}

/* First wait in ns: until genesis time + block time before the first
 * block, else until last block time + block time (wall clock); 0 if that
 * is past. */
static uint64_t first_wait_ns(const struct aggregator *a,
                              const struct bm_state *s)
{
    const struct bm_genesis *g = a->env->genesis;
    uint64_t base, target, now = bm_validate_now_ns();

    if (s->last_block_height < g->initial_height) {
        base = g->start_time_ns;
    } else {
        base = s->last_block_time.seconds < 0
                   ? 0
                   : (uint64_t)s->last_block_time.seconds * 1000000000ull +
                         (uint64_t)(s->last_block_time.nanos < 0
                                        ? 0
                                        : s->last_block_time.nanos);
    }
    target = base + a->block_ns;
    if (target <= now) {
        return 0;
    }
    return target - now;
}

BM_ACTOR_HANDLER(on_state, struct aggregator, struct bm_state_info)
static int on_state(struct bm_actor_ctx *ctx, struct aggregator *a,
                    struct bm_state_info *p)
{
    int status = bm_actor_ctx_status(ctx);
    uint64_t wait, now;

    if (!a->state_asked || bm_actor_ctx_cookie(ctx) != a->expect) {
        return BM_OK; /* stale continuation */
    }
    a->state_asked = false;
    (void)bm_timer_cancel(a->env->sys, a->start_timer);
    if (bm_env_halted(a->env)) {
        return BM_OK;
    }
    if (status != BM_OK || p->state == NULL) {
        bm_log_warn(MOD, "cannot get state err=%s; retrying",
                    bm_err_name(status != BM_OK ? status : BM_EINVAL));
        arm_start(a, ctx, START_RETRY_MS);
        return BM_OK;
    }
    wait = first_wait_ns(a, p->state);
    now = bm_clock_now_ns();
    a->started = true;
    arm(a, ctx, T_BLOCK, now + wait); /* replaces init's periodic START */
    if (a->lazy) {
        arm(a, ctx, T_LAZY, now + wait + a->lazy_ns);
    }
    bm_log_info(MOD,
                "started mode=%s height=%llu block_time_us=%llu "
                "first_wait_us=%llu",
                a->lazy ? "lazy" : "normal",
                (unsigned long long)p->state->last_block_height,
                (unsigned long long)(a->block_ns / 1000),
                (unsigned long long)(wait / 1000));
    return BM_OK;
}

BM_ACTOR_HANDLER(on_block_tick, struct aggregator, struct bm_aggregator_tick)
static int on_block_tick(struct bm_actor_ctx *ctx, struct aggregator *a,
                         struct bm_aggregator_tick *p)
{
    if (!a->started || p->gen != a->t[T_BLOCK].gen) {
        return BM_OK;
    }
    on_timer(a, ctx, T_BLOCK);
    return BM_OK;
}

BM_ACTOR_HANDLER(on_lazy_tick, struct aggregator, struct bm_aggregator_tick)
static int on_lazy_tick(struct bm_actor_ctx *ctx, struct aggregator *a,
                        struct bm_aggregator_tick *p)
{
    if (!a->started || !a->lazy || p->gen != a->t[T_LAZY].gen) {
        return BM_OK;
    }
    on_timer(a, ctx, T_LAZY);
    return BM_OK;
}

BM_ACTOR_HANDLER(on_txs, struct aggregator, struct bm_aggregator_txs)
static int on_txs(struct bm_actor_ctx *ctx, struct aggregator *a,
                  struct bm_aggregator_txs *p)
{
    (void)p;
    a->txs = true;
    if (a->in_flight) {
        a->txs_during = true;
    }
    check_stall(a, ctx);
    wake_block_timer(a, ctx);
    return BM_OK;
}

/* A round now, counted from now: the pending block tick is cancelled
 * (on_produced re-arms it). Not in flight. False (nothing changed) in
 * lazy mode without txs. Never blocks. */
static bool kick_now(struct aggregator *a, struct bm_actor_ctx *ctx)
{
    struct agg_timer *t = &a->t[T_BLOCK];

    if (a->lazy && !a->txs) {
        return false; /* lazy: a block waits for txs or the lazy tick */
    }
    if (t->armed) {
        (void)bm_timer_cancel(a->env->sys, t->id);
        t->armed = false;
    }
    t->gen++;
    t->pending = false;
    produce(a, ctx, T_BLOCK, a->lazy ? BM_PRODUCE_TX : BM_PRODUCE_TIMER, 0);
    return true;
}

BM_ACTOR_HANDLER(on_kick, struct aggregator, struct bm_aggregator_kick)
static int on_kick(struct bm_actor_ctx *ctx, struct aggregator *a,
                   struct bm_aggregator_kick *p)
{
    (void)p;
    if (!a->started || bm_env_quitting(a->env)) {
        return BM_OK; /* START produces on time anyway */
    }
    if (a->in_flight) {
        a->kicked = true;
        return BM_OK;
    }
    (void)kick_now(a, ctx);
    return BM_OK;
}

BM_ACTOR_HANDLER(on_produced, struct aggregator, struct bm_producer_result)
static int on_produced(struct bm_actor_ctx *ctx, struct aggregator *a,
                       struct bm_producer_result *p)
{
    int status = bm_actor_ctx_status(ctx);
    enum which_timer w = a->in_flight_timer;
    bool produced = status == BM_OK && p->produced;
    uint64_t now, start, elapsed;
    bool rearmed[T_COUNT] = {false, false};

    if (!a->in_flight || bm_actor_ctx_cookie(ctx) != a->expect) {
        return BM_OK; /* stale continuation */
    }
    a->in_flight = false;
    now = bm_clock_now_ns();
    start = a->in_flight_start_ns;
    elapsed = now > start ? now - start : 0;
    if (produced) {
        a->last_block_start_ns = start;
    }
    if (status != BM_OK) {
        note_failure(a, status);
    } else {
        if (a->fail_streak > 0) {
            bm_log_info(MOD, "block production recovered failures=%llu",
                        (unsigned long long)a->fail_streak);
        }
        a->fail_streak = 0;
        bm_log_debug(MOD,
                     "produced=%d reason=%s height=%llu backpressure=%d "
                     "elapsed_us=%llu",
                     (int)p->produced, reason_name(a->in_flight_reason),
                     (unsigned long long)p->height, (int)p->backpressure,
                     (unsigned long long)(elapsed / 1000));
    }
    /* The txs were taken by the block, or there was nothing to take (an
     * empty batch in lazy mode): clear the flag, keeping txs that arrived
     * meanwhile. Back-pressure or an error keeps it. */
    if (produced || (status == BM_OK && !p->backpressure)) {
        a->txs = a->txs_during;
    }
    if (bm_env_halted(a->env)) {
        return BM_OK;
    }
    if (a->kicked && !produced && status == BM_OK &&
        !bm_env_quitting(a->env)) {
        /* the kick came while this round found nothing to do: start the
         * one it asked for now (the block timer re-arms after it) */
        a->kicked = false;
        if (kick_now(a, ctx)) {
            return BM_OK;
        }
    }
    a->kicked = false;
    /* Remaining sleep from now: the interval minus the time since the
     * production's start (its tick's due time), at least 1 ms when late. */
    if (!a->lazy) {
        arm(a, ctx, T_BLOCK,
            now + bm_aggregator_remaining_ns(a->block_ns, elapsed));
        rearmed[T_BLOCK] = true;
    } else if (produced) {
        /* After any block both timers restart. */
        arm(a, ctx, T_BLOCK,
            now + bm_aggregator_remaining_ns(a->block_ns, elapsed));
        arm(a, ctx, T_LAZY,
            now + bm_aggregator_remaining_ns(a->lazy_ns, elapsed));
        rearmed[T_BLOCK] = rearmed[T_LAZY] = true;
    } else {
        arm(a, ctx, w, now + bm_aggregator_remaining_ns(interval_ns(a, w),
                                                        elapsed));
        rearmed[w] = true;
    }
    /* A tick remembered while in flight whose timer was not restarted
     * above is handled now (at most one production starts). */
    for (int i = 0; i < T_COUNT; i++) {
        if (a->t[i].pending && !rearmed[i]) {
            a->t[i].pending = false;
            if (a->in_flight) {
                a->t[i].pending = true;
            } else {
                on_timer(a, ctx, (enum which_timer)i);
            }
        }
    }
    return BM_OK;
}

static const struct bm_msg_kind agg_kinds[BM_AGGREGATOR_NKINDS] = {
    [BM_AGGREGATOR_START] = BM_MSG_KIND("start", struct bm_aggregator_tick, 0,
                                        NULL, on_start, NULL, NULL),
    [BM_AGGREGATOR_BLOCK_TICK] =
        BM_MSG_KIND("block_tick", struct bm_aggregator_tick, 0, NULL,
                    on_block_tick, NULL, NULL),
    [BM_AGGREGATOR_LAZY_TICK] =
        BM_MSG_KIND("lazy_tick", struct bm_aggregator_tick, 0, NULL,
                    on_lazy_tick, NULL, NULL),
    [BM_AGGREGATOR_TXS] = BM_MSG_KIND("txs", struct bm_aggregator_txs, 0, NULL,
                                      on_txs, NULL, NULL),
    [BM_AGGREGATOR_PRODUCED] =
        BM_MSG_KIND("produced", struct bm_producer_result, 0, NULL, on_produced,
                    NULL, NULL),
    [BM_AGGREGATOR_STATE] =
        BM_MSG_KIND("state", struct bm_state_info, 0, validate_state, on_state,
                    bm_state_info_dtor, NULL),
    [BM_AGGREGATOR_KICK] = BM_MSG_KIND("kick", struct bm_aggregator_kick, 0,
                                       NULL, on_kick, NULL, NULL),
};

static int agg_init(struct bm_actor_ctx *ctx, void *arg, void **state_out)
{
    struct bm_env *env = arg;
    struct aggregator *a;
    struct bm_aggregator_tick start = {0};
    int err;

    if (env == NULL) {
        return BM_EINVAL;
    }
    a = bm_xcalloc(1, sizeof(*a));
    a->env = env;
    a->lazy = env->cfg.lazy_mode;
    a->block_ns = (env->cfg.block_time_ms ? env->cfg.block_time_ms : 1000) *
                  NS_PER_MS;
    a->lazy_ns = (env->cfg.lazy_block_interval_ms
                      ? env->cfg.lazy_block_interval_ms
                      : 60000) *
                 NS_PER_MS;
    /* Distinct per incarnation: continuations of a previous one (before a
     * restart) never match. */
    a->cookie_base = bm_actor_now_ns() << 8;
    /* START now and then every WATCHDOG_MS: init runs before the actor
     * is RUNNING again after a supervised restart, so a first tick that
     * lands in that window is refused (BM_ERESTARTING); the next one
     * starts it. Once started, arm_watchdog replaces it with the one-shot
     * lost-tick watchdog. */
    err = bm_timer_start(env->sys, bm_actor_ctx_self(ctx), BM_AGGREGATOR_START,
                         &start, sizeof(start), 0, WATCHDOG_MS, &a->watchdog);
    if (err != BM_OK) {
        bm_free(a);
        return err;
    }
    *state_out = a;
    return BM_OK;
}

static void agg_terminate(void *state, int reason)
{
    struct aggregator *a = state;

    (void)reason;
    if (a == NULL) {
        return;
    }
    cancel_all(a);
    bm_free(a);
}

const struct bm_actor_type bm_aggregator_actor_type = {
    .name = "aggregator",
    .kinds = agg_kinds,
    .n_kinds = BM_AGGREGATOR_NKINDS,
    .init = agg_init,
    .terminate = agg_terminate,
};
