/*
 * Actor runtime internals shared by the src/actor/ sources (not a public API).
 *
 * Ownership of an actor's execution: the SCHED bit of `life`. Whoever sets
 * it (a sender that found the actor idle, spawn, a supervisor holding a
 * failed child) is the only one allowed to run the actor or touch its
 * consumer-side fields until it clears it again (bm__release, or the end
 * of a turn, which returns the popped messages' pins and clears SCHED in
 * one atomic). A worker that runs an actor holds it for the whole turn; a
 * failed supervised child keeps it set ("held") until its supervisor
 * restarts or finalizes it. Keeping SCHED in the same word as the pin
 * count makes "is there work?" and "who schedules?" one atomic decision:
 * a sender pins with a compare-exchange that also claims SCHED when the
 * actor is idle, so a send to an idle actor costs three atomics (pin +
 * claim, queue exchange, and the consumer's end-of-turn release).
 *
 * Lifetime of an actor slot: `life` packs the generation (high 32 bits), a
 * CLOSED bit and a pin count: user-lane messages queued plus senders
 * currently inside a send (so it is also the mailbox depth used for the
 * capacity check). A user send pins with one fetch_add and the queued
 * message keeps the pin until popped; system sends pin and unpin around
 * their push. Finalize sets CLOSED, drains until the count is zero, and
 * then bumps the generation. Actor structs are never freed before the
 * system, so a stale sender only ever touches `life`.
 */
#ifndef BM_ACTOR_ACTOR_INTERNAL_H
#define BM_ACTOR_ACTOR_INTERNAL_H

#include "blockv2/actor.h"
#include "util/clock.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BM__CACHELINE 64
#define BM__CHUNK_BITS 10
#define BM__CHUNK (1u << BM__CHUNK_BITS)

/* ------------------------------------------------------------ mailbox */

struct bm__link {
    _Atomic(struct bm__link *) next;
};

/* Vyukov intrusive MPSC queue: producers exchange `head`; the single
 * consumer walks from `tail`. One atomic exchange per push. */
struct bm__mpsc {
    alignas(BM__CACHELINE) _Atomic(struct bm__link *) head;
    alignas(BM__CACHELINE) struct bm__link *tail;
    struct bm__link stub;
};

enum bm__sys_type {
    BM__SYS_USER = 0,     /* a user-lane message */
    BM__SYS_STOP = 1,     /* aux: 1 = hold for restart; corr: epoch or ~0 */
    BM__SYS_CHILD_EXIT,   /* from: child; status: reason; aux: held */
    BM__SYS_DOWN,         /* from: who; status: reason */
    BM__SYS_CONT,         /* ask continuation: kind, status, corr = cookie */
    BM__SYS_SUP_TIMEOUT,  /* corr: stop sequence number */
    BM__SYS_KILL,         /* status: failure reason */
};

enum bm__node_flags {
    BM__NF_HEAP = 1u << 0, /* payload in `heap`, not inline */
    BM__NF_ASK = 1u << 1,  /* user message is an ask; corr = ask id */
    /* A one-shot timer's delivery: DROP_OLDEST moves it to the back
     * instead of dropping it (actor.h "Mailboxes"). */
    BM__NF_KEEP = 1u << 2,
};

struct bm__node {
    struct bm__link link;
    uint32_t kind;
    uint16_t flags;
    uint16_t sys;
    struct bm_actor_id from;
    int32_t status;
    uint32_t aux;
    uint64_t corr;
    void *heap;
    struct bm__node *pool_next; /* free-list link (never while queued) */
    union {
        max_align_t align;
        unsigned char bytes[BM_MSG_INLINE];
    } u;
};

static inline void *bm__node_payload(struct bm__node *n)
{
    return (n->flags & BM__NF_HEAP) ? n->heap : (void *)n->u.bytes;
}

void bm__mpsc_init(struct bm__mpsc *q);
/* True if the queue was empty from the consumer's side when n went in
 * (the previous head was the stub): the one push after which nobody else
 * is bound to find the queue non-empty, so its sender must look whether the
 * consumer is idle (bm__send_user). Any later push found a message the
 * consumer has not returned yet, and whoever runs it will see this one. */
bool bm__mpsc_push(struct bm__mpsc *q, struct bm__node *n);
/* Consumer only. NULL if empty or if a producer is between its exchange
 * and its link store (the caller sees a count > 0 and retries later). */
struct bm__node *bm__mpsc_pop(struct bm__mpsc *q);
/* True if the queue holds a message the consumer has not returned, given
 * `tail`: the consumer's q->tail read while it still was the consumer (the
 * SCHED holder). Any thread, after the holder let go: a message pushed
 * meanwhile shows as head != stub. Conservative (true may be a message
 * another holder already took). */
static inline bool bm__mpsc_has_mail(struct bm__mpsc *q,
                                     const struct bm__link *tail)
{
    return tail != &q->stub ||
           atomic_load_explicit(&q->head, memory_order_seq_cst) != &q->stub;
}
/* Consumer only, after bm__mpsc_pop returned NULL with mail queued: waits
 * for the producer that is still linking it; NULL if it turns out nothing
 * is queued. */
struct bm__node *bm__mpsc_pop_linking(struct bm__mpsc *q);
/* Consumer only: as bm__mpsc_pop, but a message a producer is still
 * linking (exchanged, not yet linked) is waited for instead of reported
 * as NULL. NULL only when nothing was pushed. */
static inline struct bm__node *bm__mpsc_pop_wait(struct bm__mpsc *q)
{
    struct bm__node *n = bm__mpsc_pop(q);

    if (n != NULL || !bm__mpsc_has_mail(q, q->tail)) {
        return n;
    }
    return bm__mpsc_pop_linking(q);
}

/* Node pool: per-thread caches over a system-wide free list of slabs. */
struct bm__pool {
    pthread_mutex_t mu;
    struct bm__node *free;   /* global free list (pool_next) */
    size_t nfree;
    void **slabs;
    size_t nslabs, capslabs;
    uint64_t id;             /* unique per system, keys thread caches */
};

void bm__pool_init(struct bm__pool *p);
void bm__pool_release(struct bm__pool *p);
/* Never fails (aborts on OOM like bm_xmalloc). */
struct bm__node *bm__node_alloc(struct bm__pool *p);
/* Frees the node (not its heap payload). */
void bm__node_free(struct bm__pool *p, struct bm__node *n);

/* ------------------------------------------------------------ actors */

enum bm__status {
    BM__ST_RUNNING = 0,
    BM__ST_RESTARTING = 1, /* held by its supervisor */
    BM__ST_STOPPING = 2,
    BM__ST_DEAD = 3,
};

#define BM__LIFE_CLOSED (1ull << 31)
#define BM__LIFE_SCHED (1ull << 30)
#define BM__LIFE_REFS 0x3fffffffull

struct bm__watch {
    struct bm_actor_id watcher;
    struct bm__watch *next;
};

struct bm__sup;
struct bm__dthread;
struct bm__lane;

struct bm__actor {
    /* sender side */
    alignas(BM__CACHELINE) _Atomic uint64_t life;
    _Atomic uint32_t sys_count; /* system-lane depth */
    /* A STOP or KILL was sent: a detached actor blocked in bm_future_wait
     * returns early. Holds epoch + 1 of the incarnation a STOP targets, or
     * UINT64_MAX for "whatever runs" (KILL, unconditional STOP); 0 = none.
     * Cleared at each init, and a stale STOP (older epoch) never matches. */
    _Atomic uint64_t stop_req;
    _Atomic int status;
    _Atomic uint32_t hwm;
    _Atomic uint32_t waiters;   /* BLOCK senders waiting */
    _Atomic uint64_t st_rejected_full;
    uint32_t capacity;
    enum bm_overflow overflow;
    int64_t block_timeout_ms;
    const struct bm_actor_type *type;

    struct bm__mpsc user;
    struct bm__mpsc sysq;

    /* consumer side (owned by the sched holder) */
    alignas(BM__CACHELINE) void *state;
    void *arg;
    void (*arg_free)(void *arg);
    struct bm__actor *rq_next;
    uint32_t slot;
    uint32_t epoch;            /* incarnation, for stale STOPs */
    struct bm_actor_id parent; /* supervisor, or none */
    struct bm__sup *sup;       /* set if this actor is a supervisor */
    struct bm__dthread *dt;    /* set if detached */
    struct bm__lane *lane;     /* set if bound to a lane (opts.lane) */
    bool detached;
    bool in_init;
    bool has_state;     /* init succeeded, terminate not yet run */
    int fail_reason;
    bool stop_self;
    bool exit_req;      /* exit after the current message */
    bool exit_hold;
    int exit_reason_req;
    char name[BM_ACTOR_NAME_MAX];

    pthread_mutex_t mu;        /* watchers, BLOCK waits, drop_oldest pops,
                                * waiting_on */
    struct bm_cond cv;
    /* Detached actors: the future its thread waits on (bm_future_wait),
     * woken when a STOP or KILL sets stop_req. Under mu. */
    struct bm_future *waiting_on;
    struct bm__watch *watchers;
    bool watch_closed;

    /* statistics: single writer (sched holder), relaxed atomics */
    _Atomic uint64_t st_handled;
    _Atomic uint64_t st_rejected_invalid;
    _Atomic uint64_t st_dropped;
    _Atomic uint64_t st_failures;
    _Atomic uint64_t st_restarts;
    _Atomic uint64_t st_turns;       /* turns run */
    _Atomic uint64_t st_empty_turns; /* turns that found nothing to do */
    _Atomic uint64_t hist[BM_ACTOR_HIST_BUCKETS];

    /* last exit, for bm_actor_wait_exit (under sys->exit_mu) */
    uint32_t exit_gen;
    int exit_reason;
};

struct bm_actor_ctx {
    struct bm_actor_system *sys;
    struct bm__actor *a;
    struct bm_actor_id self;
    struct bm__node *node; /* current message, NULL in init */
    bool replied;
    int status;
    uint64_t cookie;
};

/* ------------------------------------------------------------ scheduler */

struct bm__runq {
    pthread_mutex_t mu;
    struct bm__actor *head, *tail;
    _Atomic uint32_t len;
};

struct bm__worker {
    struct bm_actor_system *sys;
    unsigned idx;
    pthread_t th;
    struct bm__runq rq;
    struct bm__actor *next_slot;
    unsigned slot_runs;
    pthread_mutex_t pmu;
    struct bm_cond pcv;
    _Atomic int sleeping;
    uint64_t rng;
};

struct bm__dthread {
    struct bm_actor_system *sys;
    struct bm__actor *a;
    pthread_t th;
    pthread_mutex_t mu;
    struct bm_cond cv;
    bool pending;
    bool quit;
    struct bm__dthread *next_all;
};

/*
 * A lane (actor.h "Lanes"): one dedicated thread for the actors bound to
 * it. Its run queue holds lane-bound actors and pooled actors that moved
 * out of its next slot; the next slot (lane thread only) holds the actor
 * to run right after the current turn: a lane actor or a pooled one a lane
 * actor woke. `kicked` is set by anything the thread may be waiting for:
 * work queued from another thread, a future it helps-waits on completing,
 * a stop request for one of its actors, quit. The thread spins a while
 * (cfg.spin_us) before it parks; a kicker signals only a parked thread
 * (`parked` and `kicked` are seq_cst: one of the two sees the other).
 */
/*
 * Borrowing (actor.h "Lanes"): a thread that is not a runtime thread and
 * waits on the future of an ask to a lane actor may take the lane over
 * while the lane's thread is idle (parked in its main loop with nothing on
 * its stack) and run the lane's work itself until its future completes.
 * `own` says who runs the lane: its thread (RUNNING), nobody (IDLE: the
 * thread is idle and takes the lane back when kicked), or a borrower
 * (BORROWED: the thread stays parked, a kick only sets `kicked` and wakes
 * the borrower if it sleeps on `bcv`). Only the owner touches next_slot
 * and slot_runs and runs lane work; the transitions are atomics (the
 * borrow under mu), which order one owner's accesses before the next's.
 */
enum bm__lane_own {
    BM__LANE_RUNNING = 0,
    BM__LANE_IDLE = 1,
    BM__LANE_BORROWED = 2,
};

struct bm__lane {
    struct bm_actor_system *sys;
    char name[BM_ACTOR_NAME_MAX];
    pthread_t th;
    struct bm__runq rq;
    struct bm__actor *next_slot; /* the lane's owner only */
    unsigned slot_runs;          /* the lane's owner only */
    pthread_mutex_t mu;
    struct bm_cond cv;
    _Atomic bool kicked;
    _Atomic bool quit;
    _Atomic bool parked;         /* the thread asleep on cv (set under mu) */
    _Atomic int own;             /* enum bm__lane_own */
    _Atomic bool bparked;        /* the borrower asleep on bcv (under mu) */
    struct bm_cond bcv;
    struct bm__lane *next_all;   /* under sys->dt_mu */
};

/* Ask table entry. */
struct bm__ask {
    uint32_t gen;
    uint32_t next_free;
    bool used;
    bool cont;
    struct bm_future *fut;
    struct bm_actor_id asker;
    uint32_t reply_kind;
    uint64_t cookie;
    size_t reply_size;
    struct bm_timer_id timer;
};

struct bm__timer;

struct bm_actor_system {
    struct bm_actor_system_config cfg;
    struct bm__pool pool;

    /* actor table */
    _Atomic(struct bm__actor *) *chunks;
    void **chunk_raw;
    uint32_t nchunks;
    pthread_mutex_t slot_mu;
    uint32_t *free_slots;
    size_t nfree_slots, capfree_slots;
    uint32_t next_slot; /* never used slots start here */

    /* workers */
    struct bm__worker *workers;
    unsigned nworkers;
    struct bm__runq shared; /* BM_SCHED_SHARED */
    _Atomic unsigned n_sleeping;
    _Atomic unsigned rr;
    _Atomic bool workers_stop;
    bool started;
    bool stopped;

    /* detached threads and lanes */
    pthread_mutex_t dt_mu;
    struct bm__dthread *dts;
    struct bm__lane *lanes;

    /* exits and system state */
    pthread_mutex_t exit_mu;
    struct bm_cond exit_cv;
    _Atomic unsigned exit_waiters;
    _Atomic uint64_t live;
    _Atomic uint64_t spawned;
    _Atomic uint64_t exited;
    _Atomic bool closing;     /* no more spawns */
    _Atomic bool stopping;
    int root_failure;         /* under exit_mu */
    bool root_failed;         /* under exit_mu */
    struct bm_actor_id *roots; /* root supervisors, under exit_mu */
    size_t nroots, caproots;

    /* asks */
    pthread_mutex_t ask_mu;
    struct bm__ask *asks;
    uint32_t nasks, capasks;
    uint32_t ask_free;
    _Atomic uint64_t asks_pending;
    _Atomic uint64_t asks_timed_out;
    _Atomic uint64_t late_replies;

    /* timers */
    pthread_mutex_t tm_mu;
    struct bm_cond tm_cv;
    pthread_t tm_th;
    bool tm_running;
    bool tm_quit;
    bool tm_inited;
    struct bm__timer **timers; /* id table */
    uint32_t ntimers, captimers;
    uint32_t tm_free;
    struct bm__timer **heap;   /* armed timers, min-heap by deadline */
    uint32_t nheap, capheap;
    uint64_t tm_seq;           /* arm order, breaks deadline ties */
    uint64_t tm_start_ns;      /* tick origin (monotonic) */
    /* Deadline the thread sleeps until (BM_CLOCK_NEVER: no timeout); 0
     * while it is awake. A start signals only an earlier deadline. */
    uint64_t tm_wait_until;
    _Atomic uint64_t timers_active;
    _Atomic uint64_t timer_wakeups;

    _Atomic uint64_t steals;
    uint64_t ns_per_cycle_q32; /* handler timing: ns = cycles * q >> 32 */
    uint64_t spin_cycles;      /* cfg.spin_us in bm__cycles() units */
};

extern _Thread_local struct bm__actor *bm__tl_actor;
extern _Thread_local struct bm_actor_system *bm__tl_sys;
extern _Thread_local struct bm__worker *bm__tl_worker;
extern _Thread_local bool bm__tl_timer; /* the timer thread never waits */
extern _Thread_local struct bm__lane *bm__tl_lane; /* on a lane's thread */
/* The lane this (non-runtime) thread borrowed, while it runs it. */
extern _Thread_local struct bm__lane *bm__tl_borrow;

static inline bool bm__on_actor_thread(void)
{
    return bm__tl_actor != NULL;
}

/* True while a pooled actor runs (on a worker or on a lane's thread):
 * such code must never wait. A detached or lane actor may block (wait on
 * a future, call another actor, block on a full mailbox). */
static inline bool bm__on_pooled_actor_thread(void)
{
    return bm__tl_actor != NULL && !bm__tl_actor->detached &&
           bm__tl_actor->lane == NULL;
}

/* Claims the SCHED bit; true if the caller now owns the actor's
 * execution. */
static inline bool bm__claim(struct bm__actor *a)
{
    return !(atomic_fetch_or(&a->life, BM__LIFE_SCHED) & BM__LIFE_SCHED);
}

/* Lookup without a reference (for the holder of SCHED or for stats). */
struct bm__actor *bm__slot_actor(struct bm_actor_system *sys, uint32_t slot);
/* Takes a sender reference; BM_OK, BM_ENOACTOR or BM_ESTOPPED. */
int bm__actor_ref(struct bm_actor_system *sys, struct bm_actor_id id,
                  struct bm__actor **out);
void bm__actor_unref(struct bm__actor *a);
struct bm_actor_id bm__actor_id(const struct bm__actor *a);

/* Make a runnable actor run (caller holds sched and passes it on). */
void bm__schedule(struct bm_actor_system *sys, struct bm__actor *a,
                  bool lifo);
/* Drop the sched flag and reschedule if mail arrived meanwhile (a message
 * queued, not a sender still inside a send: that sender claims the actor
 * itself after its push). */
void bm__release(struct bm_actor_system *sys, struct bm__actor *a);
/* Run one turn (caller holds sched). */
void bm__run_turn(struct bm_actor_system *sys, struct bm__actor *a);

/* Sends a user-lane message (see bm_actor_tell). `pre`, if set, runs
 * after the kind checks and before the message is queued, with the target
 * (pinned), its kind and whether its mailbox has room for this message
 * (false: the send may wait, drop or fail); it may set *corr and fail the
 * send by returning an error. */
typedef int bm__pre_fn(void *arg, const struct bm__actor *to,
                       const struct bm_msg_kind *k, bool room,
                       uint64_t *corr);
int bm__send_user(struct bm_actor_system *sys, struct bm_actor_id to,
                  uint32_t kind, void *payload, size_t len, uint16_t flags,
                  bm__pre_fn *pre, void *pre_arg, uint64_t *corr_out);
void bm__node_dispose(struct bm_actor_system *sys, struct bm__node *n);

/* Push a system-lane message; BM_OK, BM_ENOACTOR, BM_ESTOPPED. Takes
 * ownership of the node on BM_OK only. */
int bm__send_sys(struct bm_actor_system *sys, struct bm_actor_id to,
                 struct bm__node *n);
int bm__send_sys_simple(struct bm_actor_system *sys, struct bm_actor_id to,
                        uint16_t type, struct bm_actor_id from, int status,
                        uint32_t aux, uint64_t corr);

/* Spawn internals: creates the actor held (sched = 1, not yet runnable);
 * init is run. Takes ownership of `sup` (freed on failure). */
int bm__spawn_held(struct bm_actor_system *sys,
                   const struct bm_actor_type *type, void *arg,
                   const struct bm_actor_opts *opts, struct bm_actor_id parent,
                   struct bm__sup *sup, struct bm__actor **out);
/* Runs type->init for a held actor (spawn and restart). */
int bm__actor_init(struct bm_actor_system *sys, struct bm__actor *a);
/* Ask the current turn to end with an exit (used by supervisors). */
void bm__request_exit(struct bm__actor *a, int reason, bool hold);
/* Terminate + notify the parent or finalize; caller holds sched. */
void bm__actor_exit(struct bm_actor_system *sys, struct bm__actor *a,
                    int reason, bool hold);
/* Final exit of a held actor: drains, DOWNs, retires the id. */
void bm__actor_finalize(struct bm_actor_system *sys, struct bm__actor *a,
                        int reason);
/* Runs terminate if the actor has state. */
void bm__actor_terminate(struct bm__actor *a, int reason);
void bm__discard_node(struct bm_actor_system *sys, struct bm__actor *a,
                      struct bm__node *n, int reason);

/* Detached threads. */
int bm__dthread_start(struct bm_actor_system *sys, struct bm__actor *a);
void bm__dthread_kick(struct bm__dthread *dt);

/* Lanes. bm__lane_get returns the lane named `name` (its thread started),
 * creating it on first use: BM_OK, BM_ESYS or BM_ENOMEM. */
int bm__lane_get(struct bm_actor_system *sys, const char *name,
                 struct bm__lane **out);
/* Sets `kicked` and wakes whoever runs the lane (its thread, or the
 * borrower) if it sleeps. Any thread. */
void bm__lane_kick(struct bm__lane *l);
/* The lane's next runnable actor (next slot, then queue) or NULL. The
 * lane's owner only (its thread or the borrower). */
struct bm__actor *bm__lane_next(struct bm__lane *l);
/* The lane's owner only: sleeps until kicked, told to quit or deadline_ns
 * (BM_CLOCK_NEVER: no timeout), clearing `kicked`. */
enum bm__park { BM__PARK_KICKED, BM__PARK_TIMEOUT, BM__PARK_QUIT };
enum bm__park bm__lane_park(struct bm__lane *l, uint64_t deadline_ns);
/* A thread that is not a runtime thread takes the lane over if its thread
 * is idle and the system is not joining its lanes: true if the caller now
 * owns it (then it must call bm__lane_return). Never blocks for long. */
bool bm__lane_borrow(struct bm_actor_system *sys, struct bm__lane *l);
/* Gives a borrowed lane back: the actor in its next slot goes to its
 * queue, and the lane's thread is woken only if work is queued or it was
 * told to quit. `l` may be freed (system stop) as soon as this returns. */
void bm__lane_return(struct bm__lane *l);

/* Asks. */
void bm__asks_release(struct bm_actor_system *sys);
/* Completes ask `corr`. Returns true if the reply was delivered (the reply
 * bytes were copied); false if the ask is gone (caller discards). */
bool bm__ask_complete(struct bm_actor_system *sys, uint64_t corr, int status,
                      const void *reply, size_t len, bool from_timer);
void bm__asks_shutdown(struct bm_actor_system *sys);
/* Wakes the threads waiting on f (they re-check their stop request). */
void bm__future_wake(struct bm_future *f);

/* Timers. */
int bm__timers_init(struct bm_actor_system *sys);
int bm__timers_start_thread(struct bm_actor_system *sys);
void bm__timers_stop_thread(struct bm_actor_system *sys);
void bm__timers_release(struct bm_actor_system *sys);
int bm__timer_start_ask(struct bm_actor_system *sys, uint64_t corr,
                        int64_t delay_ms, struct bm_timer_id *out);
int bm__timer_start_sys(struct bm_actor_system *sys, struct bm_actor_id to,
                        uint64_t corr, int64_t delay_ms,
                        struct bm_timer_id *out);

/* Supervisors. */
void bm__sup_on_stop(struct bm_actor_system *sys, struct bm__actor *a,
                     bool hold);
void bm__sup_on_child_exit(struct bm_actor_system *sys, struct bm__actor *a,
                           struct bm_actor_id child, int reason, bool held);
void bm__sup_on_timeout(struct bm_actor_system *sys, struct bm__actor *a,
                        uint64_t seq);
/* Init callback of supervisor actors (arg: the spec). */
int bm__sup_init(struct bm_actor_system *sys, struct bm__actor *a);
void bm__sup_free(struct bm__sup *s);
/* Finalize held children of a finalized supervisor; frees sup. */
void bm__sup_release(struct bm_actor_system *sys, struct bm__actor *a);
extern const struct bm_actor_type bm__sup_type;

void bm__root_failed(struct bm_actor_system *sys, int reason);

/* Cheap cycle counter for handler timing (the TSC on x86, where
 * clock_gettime costs ~100 ns under KVM); nanoseconds elsewhere. */
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t bm__cycles(void)
{
    return __rdtsc();
}
static inline void bm__cpu_relax(void)
{
    _mm_pause();
}
#else
static inline uint64_t bm__cycles(void)
{
    return bm_clock_now_ns();
}
static inline void bm__cpu_relax(void)
{
}
#endif

#endif /* BM_ACTOR_ACTOR_INTERNAL_H */
