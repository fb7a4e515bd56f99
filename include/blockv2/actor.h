/*
 * Actor runtime: system/scheduler, actors, bounded mailboxes, typed and
 * validated messages, ask (request/reply with deadlines), timers,
 * supervision (OTP semantics), monitors and statistics.
 *
 * Model
 * -----
 * An actor is a state pointer plus an actor type (a table of message kinds,
 * each with a payload struct, a validate callback and a handler). Actors are
 * addressed by `struct bm_actor_id` (slot + generation), never by pointer: a
 * stale id fails with BM_ENOACTOR. Pooled actors run on a fixed pool of
 * worker threads; an actor handles one message at a time (never two threads
 * inside one actor) and at most `batch` messages per turn. Detached actors
 * (opts.detached) run on their own thread with the same API; use them for
 * work that blocks (HTTP to the DA layer, the executor, LMDB fsync).
 *
 * BLOCKING RULE: code running in a pooled actor (init, handlers, terminate,
 * on_down) must never block: no sleeping, no blocking I/O, no waiting on a
 * future, no mutex held for long. Every prototype below says whether it may
 * block and from which threads it may be called.
 *
 * Messages
 * --------
 * A payload is a plain C struct whose size the kind declares. A send copies
 * the struct's bytes into a pooled message node (inline up to
 * BM_MSG_INLINE bytes, otherwise one heap block); pointers *inside* the
 * struct (e.g. a struct bm_buf) are owned by the message from then on.
 * Ownership transfers ONLY on success: when a send returns an error the
 * sender still owns everything inside its struct. A message that is never
 * handled (rejected by validation, dropped by drop_oldest, discarded at
 * stop) has its kind's `dtor` called on the payload. After a handler returns
 * the runtime calls `dtor` too: a handler that wants to keep a resource
 * moves it out of the payload (sets the field to NULL / empty).
 *
 * Senders use typed functions generated per actor type (BM_ACTOR_REF,
 * BM_ACTOR_TELL, BM_ACTOR_ASK below): a validator message sent to a
 * `struct bm_ref_state` does not compile. The untyped bm_actor_tell/ask are
 * the implementation of those wrappers; they check kind and payload size at
 * run time (BM_EINVAL).
 *
 * Every kind's `validate` runs on the receiving actor's thread just before
 * its handler; a message that fails it is counted in `rejected_invalid`,
 * never handled, and an ask gets the reply status BM_EBADMSG.
 *
 * Mailboxes
 * ---------
 * Two lanes per actor: the user lane (bounded by opts.capacity, policy
 * opts.overflow) and the system lane (unbounded: stop, child exit, DOWN,
 * ask replies and ask timeouts), which is always drained before the user
 * lane, so control messages are never stuck behind a full mailbox.
 *   BM_OVERFLOW_REJECT (default): send returns BM_EFULL, sender keeps
 *     ownership, counted in rejected_full.
 *   BM_OVERFLOW_BLOCK: a non-actor thread or a detached actor waits up to
 *     opts.block_timeout_ms for room (then BM_ETIMEDOUT); from a pooled
 *     actor the send returns BM_EINVAL immediately (it must never wait).
 *   BM_OVERFLOW_DROP_OLDEST: the oldest queued message is discarded (dtor
 *     called, counted in `dropped`) to make room. Only for idempotent
 *     ticks/notifies. A one-shot timer's delivery is never the one
 *     discarded (an actor that re-arms its one-shot tick when it handles
 *     it would never be ticked again): it moves to the back and the next
 *     oldest goes; if the first few queued are all such deliveries, the
 *     new message is refused (BM_EFULL, counted in `rejected_full`).
 * Accounting is exact: sent == handled + rejected_full + rejected_invalid +
 * dropped + depth (depth is 0 once the actor is idle).
 *
 * Lanes
 * -----
 * A lane is one dedicated thread shared by the actors spawned with the same
 * opts.lane name: blocking work that happens in sequence (a block's store
 * writes, its execution, the sequencer's queue) runs on one thread instead
 * of one thread per actor, so a request that goes from one of those actors
 * to the next costs no thread hand-off. Lane actors may block like
 * detached ones (I/O, fsync, a slow executor; they hold up the other
 * actors of their lane meanwhile). Two things make a lane cheap:
 *   - a pooled actor that a lane actor makes runnable runs on the lane's
 *     thread right after the current turn (the lane's "next slot", as on a
 *     worker), unless the slot is taken (then it goes to the pool): a lane
 *     actor asking a pooled one and the continuation coming back stay on
 *     one thread;
 *   - while a lane actor waits on a future (bm_future_wait, bm_actor_call),
 *     the lane thread keeps running the lane's other runnable actors
 *     ("helping"), so waiting on an actor of the same lane completes
 *     instead of deadlocking. Calls must still flow one way: an actor
 *     waited on must not wait, directly or not, on the waiter;
 *   - a thread that is not the runtime's and calls a lane actor with
 *     bm_actor_call_inline "borrows" the lane while the lane's thread is
 *     idle with nothing queued: it runs the lane's work itself,
 *     as the lane's thread would, until its future completes, then gives
 *     the lane back, so the ask and its answer cost no thread wake-up. The
 *     lane still runs one turn at a time; its actors may then run on the
 *     caller's thread, and a turn that blocks blocks the caller. If the
 *     lane's thread is busy the caller waits as on any other future.
 * A BLOCK-policy send from a lane thread to a full mailbox of an actor on
 * the same lane fails with BM_EFULL (waiting could never end); to others it
 * waits as from a detached actor.
 *
 * Failure and supervision
 * -----------------------
 * A failure is a handler or init returning BM_EFATAL or calling
 * bm_actor_fail(). Any other negative handler return is a per-message error
 * (for an ask without reply it becomes the reply status), not a failure.
 * A failed actor's terminate() runs; if it has a supervisor, the supervisor
 * applies its strategy and restarts by calling init() again (the actor keeps
 * its id and its queued tells; asks queued at the failure are answered at
 * once with BM_ERESTARTING, so no asker waits on a restart that may itself
 * wait for the asker to stop; sends during the restart window fail with
 * BM_ERESTARTING). Without supervisor a failed actor just exits.
 * Exit reasons: BM_OK (normal: stop_self), BM_ESHUTDOWN (stopped by
 * bm_actor_stop, a supervisor or system stop), anything else is abnormal.
 */
#ifndef BM_BLOCKV2_ACTOR_H
#define BM_BLOCKV2_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_actor_system;
struct bm_actor_ctx;
struct bm_future;
struct bm_errmsg;

/* ------------------------------------------------------------------ ids */

/* Typed actor id. {0, 0} is "no actor" (BM_ACTOR_ID_NONE). An id stays
 * the same across supervised restarts; after the actor exits for good its
 * generation is retired and every use fails with BM_ENOACTOR. */
struct bm_actor_id {
    uint32_t slot;
    uint32_t gen;
};

#define BM_ACTOR_ID_NONE ((struct bm_actor_id){0, 0})

static inline bool bm_actor_id_is_none(struct bm_actor_id id)
{
    return id.slot == 0 && id.gen == 0;
}

static inline bool bm_actor_id_eq(struct bm_actor_id a, struct bm_actor_id b)
{
    return a.slot == b.slot && a.gen == b.gen;
}

/* Timer id; {0,0} is none. */
struct bm_timer_id {
    uint32_t slot;
    uint32_t gen;
};

/* ------------------------------------------------------------ callbacks */

/* Validates a payload before it is handled. Runs on the receiving actor's
 * thread, must not block and must not keep `payload`. Returns BM_OK or a
 * negative error (the message is then rejected, never handled); `em` may be
 * written with a message naming the bad field (may be NULL). */
typedef int bm_msg_validate_fn(const void *payload, struct bm_errmsg *em);

/* Handles one message. `state` is what init produced; `payload` points to
 * the message's payload struct (NULL for zero-size kinds), valid until the
 * handler returns; the handler may move owned fields out of it. Returns
 * BM_OK, BM_EFATAL (fails the actor), or another negative code (per-message
 * error: becomes the reply status of an unanswered ask). Must not block in a
 * pooled actor. */
typedef int bm_msg_handle_fn(struct bm_actor_ctx *ctx, void *state,
                             void *payload);

/* Releases resources owned by a payload (not the payload memory itself,
 * which the runtime owns). Called for messages that are not handled and
 * after every handler. Must accept an all-zero payload (an ask
 * continuation with an error status carries one). Must not block; may be
 * called on any thread (a drop_oldest drop runs it on the sender's). */
typedef void bm_msg_dtor_fn(void *payload);

/* Builds the actor's state. Runs at spawn (on the spawning thread) and at
 * every supervised restart (on the supervisor's worker), so it must never
 * block, even for a detached actor (do blocking setup in a first message).
 * `arg` is the spawn argument (borrowed; must stay valid until the actor
 * exits for good). Stores the owned state in *state_out. Returns BM_OK or
 * a negative error (spawn fails with it; a failing restart counts as one
 * more restart against the supervisor's intensity). */
typedef int bm_actor_init_fn(struct bm_actor_ctx *ctx, void *arg,
                             void **state_out);

/* Releases the state (takes ownership of it). `reason` is the exit reason
 * (BM_OK, BM_ESHUTDOWN or the failure). Runs on the actor's thread, or on
 * the stopping thread once no thread runs the actor. Must not block. */
typedef void bm_actor_terminate_fn(void *state, int reason);

/* A monitored actor exited with `reason` (BM_ENOACTOR if it was already
 * gone when bm_actor_monitor was called). Runs as a system-lane message on
 * the watcher. */
typedef void bm_actor_down_fn(struct bm_actor_ctx *ctx, void *state,
                              struct bm_actor_id who, int reason);

/* ------------------------------------------------------------ types */

/* Payloads up to this size live inside the pooled message node. */
#define BM_MSG_INLINE 64
/* Hard cap on payload_size and reply_size. */
#define BM_MSG_MAX_PAYLOAD 65536

/* One message kind of an actor type. Kind numbers are indices into the
 * type's `kinds` array. */
struct bm_msg_kind {
    const char *name;               /* static string, for logs and stats */
    size_t payload_size;            /* exact sizeof(payload struct); 0 ok */
    size_t reply_size;              /* sizeof(reply struct) for asks; 0 ok */
    bm_msg_validate_fn *validate;   /* NULL: always valid */
    bm_msg_handle_fn *handle;       /* required */
    bm_msg_dtor_fn *dtor;           /* NULL: payload owns nothing */
    bm_msg_dtor_fn *reply_dtor;     /* for discarded replies; NULL: none */
};

/* An actor type: static, shared by all its instances. */
struct bm_actor_type {
    const char *name;                 /* static string */
    const struct bm_msg_kind *kinds;  /* kinds[k] for kind k */
    uint32_t n_kinds;
    bm_actor_init_fn *init;           /* NULL: state is `arg` */
    bm_actor_terminate_fn *terminate; /* NULL: nothing to release */
    bm_actor_down_fn *on_down;        /* NULL: DOWN messages ignored */
};

/*
 * Typed handler helper. BM_ACTOR_HANDLER(fn, struct st, struct pl) declares
 *     static int fn(struct bm_actor_ctx *, struct st *, struct pl *);
 * and a thunk fn__thunk with the bm_msg_handle_fn signature to put into the
 * kind table (BM_MSG_KIND below). Write the body as a normal definition of
 * fn afterwards.
 */
#define BM_ACTOR_HANDLER(fn, state_type, payload_type)                         \
    static int fn(struct bm_actor_ctx *ctx, state_type *st, payload_type *p); \
    static int fn##__thunk(struct bm_actor_ctx *ctx, void *st, void *p)        \
    {                                                                          \
        return fn(ctx, (state_type *)st, (payload_type *)p);                   \
    }

/* Kind table entry: [KIND] = BM_MSG_KIND("name", struct payload,
 * reply_size, validate, fn, dtor, reply_dtor), where `fn` is the name given
 * to BM_ACTOR_HANDLER and reply_size is sizeof(struct reply) or 0. */
#define BM_MSG_KIND(nm, payload_type, reply_size_, validate_, fn, dtor_,      \
                    reply_dtor_)                                               \
    {                                                                          \
        .name = (nm), .payload_size = sizeof(payload_type),                    \
        .reply_size = (reply_size_), .validate = (validate_),                  \
        .handle = fn##__thunk, .dtor = (dtor_), .reply_dtor = (reply_dtor_),   \
    }

/* ------------------------------------------------------------ system */

enum bm_sched_mode {
    BM_SCHED_STEALING = 0, /* per-worker run queues + stealing (default) */
    BM_SCHED_SHARED = 1,   /* one shared run queue */
};

struct bm_actor_system_config {
    unsigned workers;       /* 0: number of online cores */
    unsigned batch;         /* max messages per turn; 0: 64 */
    uint32_t max_actors;    /* id table size; 0: 1 << 21 */
    uint32_t default_capacity; /* user-lane bound; 0: 1024 */
    /* Timer resolution: deadlines are rounded up to a multiple of it, so
     * timers due within one tick fire in one wake-up; 0: 1 (max 1000). */
    unsigned timer_tick_ms;
    enum bm_sched_mode sched;
    bool handler_timing;    /* handler time histogram; default true */
    /* Busy-wait, in microseconds, before a lane's thread parks and before
     * a thread sleeps on a future (bm_future_wait): work or an answer
     * arriving within it costs no wake-up (13-26 us on an idle VM). Only
     * after activity: an idle system still sleeps. It pays only with a
     * free core; on a loaded machine the spinning thread takes CPU from
     * the one it waits for (docs/PERFORMANCE.md). 0 (default): no
     * spinning; at most 10000. The environment variable BM_ACTOR_SPIN_US
     * sets it for any program (measurements). */
    unsigned spin_us;
    /* Called once, when a root supervisor gives up (the reason
     * bm_actor_system_wait returns), on that supervisor's actor thread:
     * must not block or call system stop/wait. NULL: none. */
    void (*on_root_failure)(void *arg, int reason);
    void *on_root_failure_arg;
};

/* Fills *cfg with the defaults. Never fails. The environment variable
 * BM_ACTOR_SCHED=shared selects BM_SCHED_SHARED (for measurements). */
void bm_actor_system_config_init(struct bm_actor_system_config *cfg);

/* Creates a stopped system (no threads yet). `cfg` is borrowed (NULL:
 * defaults). Returns BM_OK and an owned *out, BM_EINVAL on a bad config or
 * BM_ENOMEM. Any thread. */
int bm_actor_system_new(struct bm_actor_system **out,
                        const struct bm_actor_system_config *cfg);

/* Starts the worker and timer threads. Actors may be spawned before start;
 * they run once started. Returns BM_ESTATE if already started, BM_ESYS if
 * a thread cannot be created. Non-actor threads only. */
int bm_actor_system_start(struct bm_actor_system *sys);

/* Stops everything: root supervisors stop their children in reverse start
 * order (each with its shutdown timeout), then every other actor is stopped,
 * queued messages are discarded (dtor), pending asks complete with
 * BM_ESHUTDOWN, timers are cancelled, threads joined. Blocks until done (a
 * handler that never returns blocks it; timeout_ms < 0 waits forever,
 * otherwise actors still alive after timeout_ms are abandoned and reported
 * with a log line). Returns the reason a root supervisor gave up
 * (e.g. BM_EESCALATED), or BM_OK. Idempotent. Non-actor threads only
 * (BM_EINVAL from an actor thread). */
int bm_actor_system_stop(struct bm_actor_system *sys, int64_t timeout_ms);

/* Waits until the system stops by itself (a root supervisor gave up) or
 * timeout_ms passes (< 0: forever). Returns the failure reason, or
 * BM_ETIMEDOUT. May block; non-actor threads only. Call
 * bm_actor_system_stop afterwards to join threads. */
int bm_actor_system_wait(struct bm_actor_system *sys, int64_t timeout_ms);

/* Frees the system, stopping it first if needed. NULL is a no-op.
 * Non-actor threads only; may block like stop. */
void bm_actor_system_free(struct bm_actor_system *sys);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC, the clock of every
 * deadline and timeout in the runtime; a wall-clock step moves none of
 * them). Any thread. */
uint64_t bm_actor_now_ns(void);

/* ------------------------------------------------------------ spawn */

enum bm_overflow {
    BM_OVERFLOW_REJECT = 0,
    BM_OVERFLOW_BLOCK = 1,
    BM_OVERFLOW_DROP_OLDEST = 2,
};

struct bm_actor_opts {
    const char *name;          /* copied (truncated to 31 bytes); NULL ok */
    uint32_t capacity;         /* user-lane bound; 0: system default */
    enum bm_overflow overflow; /* default REJECT */
    int64_t block_timeout_ms;  /* BLOCK policy; <= 0: 1000 */
    bool detached;             /* own thread (may block) */
    /* Called with `arg` when the actor exits for good (never between
     * restarts). NULL: arg is not owned by the actor. */
    void (*arg_free)(void *arg);
    /* Lane: the name of a dedicated thread shared by every actor spawned
     * with the same name (compared up to 31 bytes; the thread is created
     * by the first such spawn and joined at system stop). NULL: pooled
     * (or detached). Not with `detached` (BM_EINVAL). See "Lanes" above. */
    const char *lane;
};

/* Spawns an unsupervised actor of `type` (borrowed; must outlive the
 * system) with `arg` (see bm_actor_init_fn; owned by the actor on success if
 * opts->arg_free is set), `opts` borrowed (NULL: defaults). init runs on
 * the calling thread before this returns. On success writes the id and
 * returns BM_OK; errors: BM_EINVAL (bad type/opts), BM_EFULL (id table
 * full), BM_ESHUTDOWN, BM_ENOMEM, or init's error. Any thread, including
 * handlers; does not block except the thread creation of a detached
 * actor or of a lane's first actor (BM_ESYS if it fails). */
int bm_actor_spawn(struct bm_actor_system *sys,
                   const struct bm_actor_type *type, void *arg,
                   const struct bm_actor_opts *opts, struct bm_actor_id *out);

/* Asks the actor to stop: a system-lane message; the actor finishes its
 * current message, discards its queued user mail (dtor, counted dropped),
 * fails its pending incoming asks with BM_ESTOPPED, runs terminate with
 * BM_ESHUTDOWN and exits (a supervised child is not restarted: stopping a
 * child by hand removes it from its supervisor). Returns BM_OK, or
 * BM_ENOACTOR. Never blocks; any thread. */
int bm_actor_stop(struct bm_actor_system *sys, struct bm_actor_id id);

/* Waits until the actor has exited for good (timeout_ms < 0: forever).
 * Returns BM_OK with the exit reason in *reason (may be NULL), also when
 * it had already exited and its slot was not reused since; BM_ETIMEDOUT;
 * or BM_ENOACTOR if the id is unknown. May block; non-actor threads only
 * (BM_EINVAL otherwise). */
int bm_actor_wait_exit(struct bm_actor_system *sys, struct bm_actor_id id,
                       int64_t timeout_ms, int *reason);

/* ------------------------------------------------------------ send */

/* Untyped send of kind `kind` with payload bytes [payload, payload+len)
 * (len must equal the kind's payload_size). Ownership of what the payload
 * points to transfers on BM_OK only. Errors: BM_ENOACTOR (stale or unknown
 * id), BM_ESTOPPED (actor stopping or stopped), BM_ERESTARTING, BM_EFULL
 * (reject policy), BM_ETIMEDOUT (block policy), BM_EINVAL (bad kind/len, or
 * block policy from an actor thread), BM_ESHUTDOWN, BM_ENOMEM (payload >
 * BM_MSG_INLINE only). Never blocks except the BLOCK policy on a non-actor
 * thread. Any thread. Prefer the typed wrappers. */
int bm_actor_tell(struct bm_actor_system *sys, struct bm_actor_id to,
                  uint32_t kind, void *payload, size_t len);

/* ------------------------------------------------------------ ask */

/* An ask timeout meaning "no deadline": no timer is armed and the ask
 * completes only with its reply or an error below. Any timeout too large
 * to add to the monotonic clock (about 584 years) means the same; it never
 * wraps into a deadline in the past. */
#define BM_ACTOR_NO_TIMEOUT INT64_MAX

/* Ask from a non-actor thread: sends a request (as bm_actor_tell) with a
 * deadline of timeout_ms (> 0 required; BM_ACTOR_NO_TIMEOUT: none) on the
 * monotonic clock, and returns an owned future.
 * On error nothing was sent and the caller keeps the payload. Never blocks
 * (except the BLOCK policy). The future always completes: with the reply,
 * BM_ETIMEDOUT at the deadline, BM_ESTOPPED / BM_ENOACTOR if the target
 * exits, BM_EBADMSG if validation failed, the handler's error, or
 * BM_ESHUTDOWN at system stop. Any thread (from an actor use
 * bm_actor_ask_async; waiting on a future in a pooled actor is forbidden). */
int bm_actor_ask(struct bm_actor_system *sys, struct bm_actor_id to,
                 uint32_t kind, void *payload, size_t len, int64_t timeout_ms,
                 struct bm_future **out);

/* Waits up to wait_ms (< 0: until completion; completion is bounded by the
 * ask deadline) for the future. On completion returns the request status
 * (BM_OK or an error above) and, if BM_OK, moves the reply struct into
 * [reply, reply+reply_len) (reply_len must equal the kind's reply_size; the
 * caller then owns what it points to). Returns BM_EAGAIN if still pending
 * after wait_ms (the future stays usable). May block: non-actor threads,
 * detached and lane actors only (BM_EINVAL from a pooled actor); a lane
 * thread runs its lane's other actors meanwhile ("Lanes" above; wait_ms
 * is checked between those turns too). In a
 * detached or lane actor the wait also ends with BM_ESTOPPED as soon as the
 * actor is asked to stop or is killed (its supervisor restarting it, the
 * system stopping): the future stays pending; free it (the late reply is
 * discarded). Call at most once successfully. */
int bm_future_wait(struct bm_future *f, int64_t wait_ms, void *reply,
                   size_t reply_len);

/* Frees the future. If still pending the request is abandoned: a later
 * reply is discarded (reply_dtor) and counted as late. If completed but the
 * reply never taken, reply_dtor runs. NULL is a no-op. Any thread. */
void bm_future_free(struct bm_future *f);

/* ask + wait + free in one blocking call. Non-actor threads, detached and
 * lane actors only (BM_EINVAL from a pooled actor). The caller's thread
 * only waits: the target runs where it always runs (a non-actor caller
 * never runs an actor's turn; see bm_actor_call_inline). An actor that
 * calls must not be called back synchronously by the target (deadlock
 * until the deadline): keep calls flowing one way down the actor graph. */
int bm_actor_call(struct bm_actor_system *sys, struct bm_actor_id to,
                  uint32_t kind, void *payload, size_t len, void *reply,
                  size_t reply_len, int64_t timeout_ms);

/* bm_actor_call that, from a non-actor thread to an actor of an idle
 * lane, runs that lane on the calling thread until the answer ("Lanes"
 * above): no thread is woken. The caller then runs whatever the lane
 * runs meanwhile (other lane actors' turns, their blocking I/O), so only
 * a thread that has nothing else to serve should use it (the manager's
 * bm_manager_produce_block; not an RPC or network loop). From any other
 * thread, or to a busy lane, it is bm_actor_call. */
int bm_actor_call_inline(struct bm_actor_system *sys, struct bm_actor_id to,
                         uint32_t kind, void *payload, size_t len,
                         void *reply, size_t reply_len, int64_t timeout_ms);

/* Ask from inside a handler (timeout_ms as for bm_actor_ask): the reply
 * arrives later as a system-lane
 * message of kind `reply_kind` on the calling actor (whose payload_size
 * must equal the target kind's reply_size), with bm_actor_ctx_status()
 * giving the request status and bm_actor_ctx_cookie() returning `cookie`.
 * On a non-OK status the payload is zeroed and the reply kind's validate
 * is skipped. Exactly one continuation is delivered per successful call
 * (reply, BM_ETIMEDOUT at the deadline, or the error). Late replies are
 * discarded and counted. Never blocks. Actor threads only (BM_EINVAL). */
int bm_actor_ask_async(struct bm_actor_ctx *ctx, struct bm_actor_id to,
                       uint32_t kind, void *payload, size_t len,
                       int64_t timeout_ms, uint32_t reply_kind,
                       uint64_t cookie);

/* ------------------------------------------------------- in a handler */

/* Context accessors; `ctx` is valid only during the callback it was passed
 * to. Actor threads only. */
struct bm_actor_system *bm_actor_ctx_system(const struct bm_actor_ctx *ctx);
struct bm_actor_id bm_actor_ctx_self(const struct bm_actor_ctx *ctx);
/* Sending actor of the current message (NONE from outside threads). */
struct bm_actor_id bm_actor_ctx_sender(const struct bm_actor_ctx *ctx);
/* Status of an ask continuation (BM_OK for ordinary messages). */
int bm_actor_ctx_status(const struct bm_actor_ctx *ctx);
/* Cookie of an ask continuation (0 otherwise). */
uint64_t bm_actor_ctx_cookie(const struct bm_actor_ctx *ctx);
/* True if the current message is an ask awaiting a reply. */
bool bm_actor_ctx_is_ask(const struct bm_actor_ctx *ctx);

/* Replies to the current ask with `status` and, if BM_OK, the reply struct
 * [reply, reply+len) (len == the kind's reply_size; ownership of what it
 * points to transfers on BM_OK return). At most one reply per ask: later
 * calls return BM_ESTATE. If the asker is gone or timed out the reply is
 * discarded (reply_dtor) and BM_OK is still returned. If a handler returns
 * without replying, the runtime replies with the handler's error, or
 * BM_EPROTO if it returned BM_OK. Never blocks. */
int bm_actor_reply(struct bm_actor_ctx *ctx, int status, void *reply,
                   size_t len);

/* A reply taken out of an ask by bm_actor_reply_defer: a plain value the
 * actor keeps in its state until it can answer. */
struct bm_reply_token {
    uint64_t corr;
    size_t reply_size;
    bm_msg_dtor_fn *reply_dtor;
};

/* Takes over the reply of the current ask so the handler can return
 * without replying and answer later, typically from the continuation of
 * its own bm_actor_ask_async (a relay never waits). The asker's deadline
 * still applies. Returns BM_OK, BM_EINVAL if the current message is not an
 * ask, BM_ESTATE if it was already replied or deferred. Never blocks. */
int bm_actor_reply_defer(struct bm_actor_ctx *ctx, struct bm_reply_token *out);

/* Answers a deferred ask, like bm_actor_reply (same ownership rule; len
 * must equal t->reply_size when status is BM_OK). Answering twice, or
 * after the deadline, discards the reply (reply_dtor) and counts it late;
 * BM_OK is still returned. BM_EINVAL on a bad status or len. Never blocks;
 * any thread. */
int bm_actor_reply_token(struct bm_actor_system *sys,
                         const struct bm_reply_token *t, int status,
                         void *reply, size_t len);

/* Marks the actor failed with `reason` (a negative error; BM_EFATAL if 0):
 * after the handler returns the actor terminates and its supervisor
 * decides. Never blocks. */
void bm_actor_fail(struct bm_actor_ctx *ctx, int reason);

/* Makes the actor fail with `reason` (a negative error; BM_EFATAL if >= 0)
 * as if its current or next handler had failed: a system-lane message, so
 * it acts even behind a full mailbox; the supervisor then applies its
 * strategy (Erlang's exit(Pid, Reason)). Supervisors themselves are not
 * killed this way (use bm_actor_stop). Returns BM_OK, BM_ENOACTOR or
 * BM_ESTOPPED. Never blocks; any thread. For fault-injection tests and
 * operators. */
int bm_actor_kill(struct bm_actor_system *sys, struct bm_actor_id id,
                  int reason);

/* The actor exits normally (reason BM_OK) after the current handler. */
void bm_actor_stop_self(struct bm_actor_ctx *ctx);

/* The calling actor watches `target`: when it exits, the caller's type
 * on_down runs with the reason (immediately, BM_ENOACTOR, if the target is
 * already gone). Returns BM_OK or BM_ENOMEM. Never blocks. */
int bm_actor_monitor(struct bm_actor_ctx *ctx, struct bm_actor_id target);

/* ------------------------------------------------------------ timers */

/* Delivers kind `kind` with a copy of the payload to `to` after delay_ms,
 * then every period_ms if period_ms > 0. The kind must have no dtor
 * (payload copied per delivery; BM_EINVAL otherwise); payload is copied
 * now (borrowed). Delivery is a normal user-lane send (subject to the
 * overflow policy; a rejected tick is counted on the target). A one-shot
 * delivery is never dropped by DROP_OLDEST ("Mailboxes"), and one refused
 * by a full mailbox (each refusal counted) is tried again every tick until
 * it is queued, the timer is cancelled or the target is gone: it may be
 * the only thing that wakes its actor. A timer stops
 * by itself when its target is gone. Writes *out (may be NULL). Never
 * blocks; any thread. Cost O(log n) per start/cancel/delivery (a heap of
 * deadlines on CLOCK_MONOTONIC; the timer thread sleeps until the first). */
int bm_timer_start(struct bm_actor_system *sys, struct bm_actor_id to,
                   uint32_t kind, const void *payload, size_t len,
                   int64_t delay_ms, int64_t period_ms,
                   struct bm_timer_id *out);

/* One-shot timer at an absolute deadline on the monotonic clock
 * (bm_actor_now_ns() nanoseconds), NOT rounded to the system's tick: for
 * schedules that need sub-millisecond precision (the block clock). A
 * deadline already past fires at once. Otherwise as bm_timer_start
 * (payload copied, kinds with a dtor refused, delivery is a user-lane
 * send); a deadline more than a year ahead is BM_EINVAL. Never blocks; any
 * thread. */
int bm_timer_start_at(struct bm_actor_system *sys, struct bm_actor_id to,
                      uint32_t kind, const void *payload, size_t len,
                      uint64_t deadline_ns, struct bm_timer_id *out);

/* Cancels a timer. Returns BM_OK, or BM_ENOTFOUND if it already fired
 * (one-shot) or was cancelled. A delivery already in a mailbox is not
 * recalled. Never blocks; any thread. */
int bm_timer_cancel(struct bm_actor_system *sys, struct bm_timer_id id);

/* ------------------------------------------------------------ supervision */

enum bm_sup_strategy {
    BM_SUP_ONE_FOR_ONE = 0,
    BM_SUP_ONE_FOR_ALL = 1,
    BM_SUP_REST_FOR_ONE = 2,
};

enum bm_restart {
    BM_RESTART_PERMANENT = 0, /* always restarted */
    BM_RESTART_TRANSIENT = 1, /* restarted on abnormal exit only */
    BM_RESTART_TEMPORARY = 2, /* never restarted */
};

struct bm_supervisor_spec;

/* One child. Exactly one of `type` and `sup` is set. */
struct bm_child_spec {
    const char *name;                     /* copied into opts.name */
    const struct bm_actor_type *type;     /* worker child */
    const struct bm_supervisor_spec *sup; /* nested supervisor child */
    void *arg;                            /* see bm_actor_init_fn */
    struct bm_actor_opts opts;
    enum bm_restart restart;
    /* Time allowed to stop (from the stop request to exit); 0: 5000 ms;
     * < 0: infinity. A handler cannot be preempted: a child still running
     * after the timeout is abandoned (its supervisor moves on, it
     * terminates whenever its handler returns). */
    int64_t shutdown_ms;
    struct bm_actor_id *id_out;           /* optional: child id written here */
};

struct bm_supervisor_spec {
    const char *name;
    enum bm_sup_strategy strategy;
    /* More than `intensity` restarts within `period_ms` (0: 5000) make the
     * supervisor stop all children (reverse start order) and exit with
     * BM_EESCALATED; its parent then decides. A root supervisor that gives up
     * stops the system; bm_actor_system_wait/stop return the reason. */
    uint32_t intensity;
    int64_t period_ms;
    const struct bm_child_spec *children; /* borrowed; must outlive it */
    size_t n_children;
};

/* Starts a root supervisor and its children in order (each child's init on
 * the calling thread). If a child fails to start, the already started ones
 * are stopped in reverse order and the error is returned. Writes the
 * supervisor's id. Non-actor threads only (it waits for stops on error). */
int bm_supervisor_start(struct bm_actor_system *sys,
                        const struct bm_supervisor_spec *spec,
                        struct bm_actor_id *out);

/* ------------------------------------------------------------ stats */

/* Handler time histogram, log2 buckets: bucket 0 is < 128 ns, bucket i
 * (i >= 1) is [2^(i+6), 2^(i+7)) ns, the last one (>= 0.5 s) is
 * open-ended. Sampled:
 * the first message of each turn and every 8th after it is timed (TSC), so
 * the bucket total is <= handled. */
#define BM_ACTOR_HIST_BUCKETS 24
#define BM_ACTOR_NAME_MAX 32

struct bm_actor_stats {
    struct bm_actor_id id;
    char name[BM_ACTOR_NAME_MAX];
    char type[BM_ACTOR_NAME_MAX];
    bool detached;
    /* User lane, summed over restarts of this id. At quiescence
     * sent == handled + rejected_full + rejected_invalid + dropped. */
    uint64_t sent;             /* = received + rejected_full */
    uint64_t received;         /* accepted into the user lane */
    uint64_t handled;          /* handler invoked (incl. failing ones) */
    uint64_t rejected_full;    /* EFULL / ETIMEDOUT at send */
    uint64_t rejected_invalid; /* failed validate (never handled) */
    uint64_t dropped;          /* drop_oldest + discarded at stop */
    uint64_t failures;
    uint64_t restarts;
    uint32_t depth;            /* user-lane messages queued now (approx.
                                * while senders are mid-send) */
    uint32_t high_watermark;   /* max depth seen (a message counts until
                                * the end of the turn that handled it) */
    uint32_t capacity;
    uint64_t handler_ns_hist[BM_ACTOR_HIST_BUCKETS];
    char lane[BM_ACTOR_NAME_MAX]; /* opts.lane, "" for none */
    /* Turns run (a turn: one scheduling of the actor, up to cfg.batch user
     * messages), and those that found nothing to handle. An actor runs only
     * when mail is queued, so empty turns stay near zero (a sender whose
     * message another turn took first); a steady count means the runtime
     * spins (docs/actor-runtime.md "Ending a turn"). */
    uint64_t turns;
    uint64_t empty_turns;
};

struct bm_actor_system_stats {
    uint64_t live_actors;
    uint64_t spawned;
    uint64_t exited;
    uint64_t asks_pending;
    uint64_t asks_timed_out;
    uint64_t late_replies;     /* replies discarded after timeout/abandon */
    uint64_t timers_active;
    uint64_t steals;
    /* Times the timer thread woke up (a deadline, or a start that needed
     * an earlier one). It sleeps until the next deadline: an idle system
     * adds nothing, one periodic 1 s timer adds about one a second. */
    uint64_t timer_wakeups;
};

/* Snapshot of every live actor: *out is an owned array of *n entries (free
 * with bm_free), NULL when *n == 0. Counters are read with relaxed atomics
 * (each is exact; the set is not one instant). Returns BM_OK or BM_ENOMEM.
 * Never blocks for long; any thread. */
int bm_actor_snapshot(struct bm_actor_system *sys,
                      struct bm_actor_stats **out, size_t *n);

/* Stats of one actor. Returns BM_OK or BM_ENOACTOR. Any thread. */
int bm_actor_stats_get(struct bm_actor_system *sys, struct bm_actor_id id,
                       struct bm_actor_stats *out);

/* System-wide counters. Any thread. */
void bm_actor_system_stats_get(struct bm_actor_system *sys,
                               struct bm_actor_system_stats *out);

/* ------------------------------------------------------------ typed API */

/*
 * Typed references and senders. For an actor type `state`:
 *
 *   BM_ACTOR_REF(state);
 *     -> struct bm_ref_state { struct bm_actor_id id; };
 *   BM_ACTOR_TELL(state, put, STATE_PUT, struct state_put)
 *     -> int bm_state_tell_put(struct bm_actor_system *, struct bm_ref_state,
 *                              struct state_put *);
 *     -> int bm_state_after_put(struct bm_actor_system *, struct bm_ref_state,
 *                               const struct state_put *, int64_t delay_ms,
 *                               int64_t period_ms, struct bm_timer_id *);
 *   BM_ACTOR_ASK(state, get, STATE_GET, struct state_get, struct state_info)
 *     -> int bm_state_ask_get(sys, struct bm_ref_state, struct state_get *,
 *                             int64_t timeout_ms, struct bm_future **);
 *     -> int bm_state_call_get(sys, struct bm_ref_state, struct state_get *,
 *                              struct state_info *reply, int64_t timeout_ms);
 *     -> int bm_state_ask_get_async(struct bm_actor_ctx *, struct bm_ref_state,
 *                                   struct state_get *, int64_t timeout_ms,
 *                                   uint32_t reply_kind, uint64_t cookie);
 *
 * Passing a struct bm_ref_validator or another payload type is a compile
 * error (incompatible types). Ownership and blocking rules are those of
 * the untyped functions. Use these from every module; BM_ACTOR_REF is
 * declared once per type in a header next to the payload structs.
 */
/* Generated wrappers may go unused in a .c file (clang warns there). */
#define BM__MAYBE_UNUSED __attribute__((unused))

#define BM_ACTOR_REF(tname)                                                    \
    struct bm_ref_##tname {                                                    \
        struct bm_actor_id id;                                                 \
    }

#define BM_ACTOR_TELL(tname, mname, KIND, payload_type)                        \
    BM__MAYBE_UNUSED                                                           \
    static inline int bm_##tname##_tell_##mname(struct bm_actor_system *sys_,  \
                                                struct bm_ref_##tname to_,     \
                                                payload_type *p_)              \
    {                                                                          \
        return bm_actor_tell(sys_, to_.id, (KIND), p_, sizeof(*p_));           \
    }                                                                          \
    BM__MAYBE_UNUSED                                                           \
    static inline int bm_##tname##_after_##mname(                              \
        struct bm_actor_system *sys_, struct bm_ref_##tname to_,               \
        const payload_type *p_, int64_t delay_ms_, int64_t period_ms_,         \
        struct bm_timer_id *out_)                                              \
    {                                                                          \
        return bm_timer_start(sys_, to_.id, (KIND), p_, sizeof(*p_),           \
                              delay_ms_, period_ms_, out_);                    \
    }

#define BM_ACTOR_ASK(tname, mname, KIND, req_type, reply_type)                 \
    BM__MAYBE_UNUSED                                                           \
    static inline int bm_##tname##_ask_##mname(                                \
        struct bm_actor_system *sys_, struct bm_ref_##tname to_,               \
        req_type *p_, int64_t timeout_ms_, struct bm_future **out_)            \
    {                                                                          \
        return bm_actor_ask(sys_, to_.id, (KIND), p_, sizeof(*p_),             \
                            timeout_ms_, out_);                                \
    }                                                                          \
    BM__MAYBE_UNUSED                                                           \
    static inline int bm_##tname##_call_##mname(                               \
        struct bm_actor_system *sys_, struct bm_ref_##tname to_,               \
        req_type *p_, reply_type *r_, int64_t timeout_ms_)                     \
    {                                                                          \
        return bm_actor_call(sys_, to_.id, (KIND), p_, sizeof(*p_), r_,        \
                             sizeof(*r_), timeout_ms_);                        \
    }                                                                          \
    BM__MAYBE_UNUSED                                                           \
    static inline int bm_##tname##_call_##mname##_inline(                      \
        struct bm_actor_system *sys_, struct bm_ref_##tname to_,               \
        req_type *p_, reply_type *r_, int64_t timeout_ms_)                     \
    {                                                                          \
        return bm_actor_call_inline(sys_, to_.id, (KIND), p_, sizeof(*p_),     \
                                    r_, sizeof(*r_), timeout_ms_);             \
    }                                                                          \
    BM__MAYBE_UNUSED                                                           \
    static inline int bm_##tname##_ask_##mname##_async(                        \
        struct bm_actor_ctx *ctx_, struct bm_ref_##tname to_, req_type *p_,    \
        int64_t timeout_ms_, uint32_t reply_kind_, uint64_t cookie_)           \
    {                                                                          \
        return bm_actor_ask_async(ctx_, to_.id, (KIND), p_, sizeof(*p_),       \
                                  timeout_ms_, reply_kind_, cookie_);          \
    }

#endif /* BM_BLOCKV2_ACTOR_H */
