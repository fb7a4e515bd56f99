/*
 * The environment every block-manager actor receives as its spawn
 * argument: the borrowed subsystems (store, executor, sequencer, DA),
 * configuration, keys, breakers, limiters, metrics, the ids of all actors
 * and the fatal path. Built by the manager (src/manager/) or by a test
 * (tests/actors/actors_test_util.c) before the actor system starts, and
 * read-only afterwards except for the atomics and mutex-protected parts
 * named below. Never freed by an actor.
 *
 * Rules for actors using it:
 *  - Actor ids (env->ids) are written before the system starts and never
 *    change (supervised restarts keep an id), so reading them is safe.
 *  - The store may be READ from any actor (reads are thread-safe and copy
 *    out); only the State actor writes it.
 *  - init() must not block and must not send messages; blocking setup
 *    (store reads, executor calls) happens in the first handler (a
 *    `loaded` flag in the actor's state), so a restart reloads.
 *  - A fatal condition (state divergence, execution failure after retries,
 *    a store write that fails) calls bm_env_fatal(): it records the first
 *    error, logs it, and wakes the manager, which stops everything. After
 *    that, actors should do no more work (bm_env_halted()).
 */
#ifndef BM_ACTORS_ENV_H
#define BM_ACTORS_ENV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "blockv2/actor.h"
#include "blockv2/breaker.h"
#include "blockv2/da.h"
#include "blockv2/executor.h"
#include "blockv2/genesis.h"
#include "blockv2/limiter.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/types.h"
#include "util/clock.h"
#include "util/txset.h"

/* Most verifier actors (one per scheduler worker, capped here). */
#define BM_ENV_MAX_VERIFIERS 8

/* Ids of the actors (BM_ACTOR_ID_NONE when not running on this node). */
struct bm_env_ids {
    struct bm_actor_id state;
    struct bm_actor_id validator;
    struct bm_actor_id sequencer;   /* aggregator only */
    struct bm_actor_id producer;    /* aggregator only */
    struct bm_actor_id aggregator;  /* aggregator only */
    struct bm_actor_id sync;
    struct bm_actor_id broadcaster;
    struct bm_actor_id retriever;   /* full node with DA */
    struct bm_actor_id da_submitter; /* aggregator with DA */
    struct bm_actor_id da_includer; /* any node with DA */
    struct bm_actor_id reaper;      /* aggregator only */
    struct bm_actor_id store_sync;  /* full node */
    /* Pooled signature checkers (actors/verifier.h), one per scheduler
     * worker: verifier[0..n_verifiers). */
    struct bm_actor_id verifier[BM_ENV_MAX_VERIFIERS];
};

/* Metrics: relaxed atomics, written by actors, read by the manager.
 * Names as struct bm_manager_metrics. */
struct bm_env_metrics {
    atomic_uint_least64_t height;
    atomic_uint_least64_t da_included_height;
    atomic_uint_least64_t last_block_txs;
    atomic_uint_least64_t total_txs;
    atomic_uint_least64_t last_block_bytes;
    atomic_uint_least64_t blocks_produced;
    atomic_uint_least64_t blocks_synced_da;
    atomic_uint_least64_t blocks_synced_p2p;
    atomic_uint_least64_t da_submissions;
    atomic_uint_least64_t da_submit_failures;
    atomic_uint_least64_t da_submit_too_big;
    atomic_uint_least64_t da_submit_mempool;
    atomic_uint_least64_t da_submit_other;
    /* submissions whose answer was lost, found on DA (not resubmitted) */
    atomic_uint_least64_t da_submit_found;
    atomic_uint_least64_t headers_submitted;
    atomic_uint_least64_t data_submitted;
    atomic_uint_least64_t da_heights_scanned;
    atomic_uint_least64_t da_retrieve_errors;
    /* DA heights whose answer was fetched ahead (Retriever) and used */
    atomic_uint_least64_t da_prefetched;
    atomic_uint_least64_t reaper_txs;
    atomic_uint_least64_t skipped_backpressure;
    atomic_uint_least64_t exec_failures;
    atomic_uint_least64_t p2p_blocks_rejected;
    atomic_uint_least64_t p2p_items_skipped;
    atomic_uint_least64_t da_conflicts;
    atomic_uint_least64_t da_rejected[BM_DA_REJ_COUNT];
    atomic_uint_least64_t da_blocks_rejected;
    /* Last-submitted heights and pending counts (gauges). */
    atomic_uint_least64_t last_submitted_header;
    atomic_uint_least64_t last_submitted_data;
};

/* Subscribers of the State actor's new-height notifications. The list
 * lives here (not in the actor) so it survives restarts. */
#define BM_ENV_MAX_SUBSCRIBERS 8
struct bm_env_sub {
    struct bm_actor_id id;
    uint32_t kind; /* payload: struct bm_state_new_height */
};

struct bm_env {
    struct bm_actor_system *sys;
    struct bm_manager_config cfg; /* copy; defaults filled; strings below */
    const struct bm_genesis *genesis;
    struct bm_store *store;
    const struct bm_executor *exec;
    struct bm_seq *seq;            /* NULL on a full node */
    const struct bm_da *da;        /* NULL: no DA */
    struct bm_da_namespaces ns;    /* valid if da != NULL */
    const struct bm_p2p_store *header_store; /* NULL: no P2P */
    const struct bm_p2p_store *data_store;
    const struct bm_broadcaster *header_bc;  /* NULL: none */
    const struct bm_broadcaster *data_bc;
    /* A block's txs, as bytes of Data.txs entries (bm_data_tx_wire_size),
     * so that its SignedData fits one DA blob (and at most
     * cfg.max_batch_bytes); the longest tx such a block can hold. */
    size_t block_tx_budget;
    size_t block_max_tx;

    bool has_signer;
    struct bm_privkey signer;       /* wiped at release */
    struct bm_signer signer_info;   /* pub key + address (owned) */

    struct bm_breaker *da_breaker;   /* owned by the env */
    struct bm_breaker *exec_breaker;
    struct bm_limiter *reaper_limiter;
    struct bm_limiter *tx_limiter;

    struct bm_env_ids ids;
    size_t n_verifiers; /* verifier actors in ids.verifier */
    struct bm_env_metrics m;

    /* State subscribers (mutex-protected). */
    pthread_mutex_t sub_mu;
    struct bm_env_sub subs[BM_ENV_MAX_SUBSCRIBERS];
    size_t n_subs;

    /* Header hashes seen (produced, stored or received), bounded window
     * (mutex-protected): IsBlockHashSeen. */
    pthread_mutex_t seen_mu;
    struct bm__txwin seen;

    /* Fatal path. */
    pthread_mutex_t fatal_mu;
    struct bm_cond fatal_cv;
    int fatal_err;                 /* first fatal error; BM_OK if none */
    char fatal_msg[512];
    atomic_bool halted;
    /* Set by the manager when a graceful stop begins: long DA rounds and
     * backoff sleeps end early (bm_env_quitting). */
    atomic_bool stopping;
    /* Catch-up before production (actors/catchup.h): set by the manager
     * before the actors start, cleared once by the Retriever. */
    atomic_bool catching_up;
    /* The DA part of catch-up holds (set by the Retriever; at once
     * without DA). */
    atomic_bool catchup_da_done;
    uint64_t catchup_start_ms; /* written before the actors start */
    /* Times catch-up ended (HA: once per leadership): the DASubmitter
     * reloads its last-submitted heights when it changes. */
    atomic_uint_fast64_t catchup_epoch;
    /* HA: the height of the replicated record last handed to Sync, and
     * when (bm_catchup_ha_poll). */
    atomic_uint_fast64_t ha_applied_height;
    atomic_uint_fast64_t ha_applied_ms;
    /* HA: the height of this node's head when it is a block it produced
     * whose replication was refused for sure (fenced, or not the leader
     * any more: never written, never published); 0 when none
     * (actors/ha_gate.h). */
    atomic_uint_fast64_t ha_unreplicated;
    /* Called (if set) once by the fatal path after recording, with no
     * lock held; the manager uses it to wake its watcher. Never blocks. */
    void (*on_fatal)(void *arg, int err);
    void *on_fatal_arg;
    /* High availability (blockv2/ha.h); NULL: none. Borrowed. */
    struct bm_ha *ha;
};

/*
 * Initialises *env from the manager parameters: copies the config with
 * defaults filled (bm_manager_config_init values for zero fields), derives
 * the DA namespaces, copies the signer key and checks that its address is
 * the genesis proposer (BM_ENOT_PROPOSER), checks the DA batching values
 * and sizes a block's txs from the DA blob limit (BM_ECONFIG naming the
 * key when it is out of range or too small), creates the breakers and
 * limiters, sets every id to none. Does not create the actor system
 * (env->sys is set by the caller). On error *env is released. Borrows p
 * (its pointers must outlive env).
 */
enum bm_err bm_env_init(struct bm_env *env, const struct bm_manager_params *p,
                        struct bm_errmsg *em);

/* Frees what bm_env_init created (breakers, limiters, seen window, key
 * copy wiped). Does not touch env->sys. */
void bm_env_release(struct bm_env *env);

/* Records the first fatal error (later ones are only logged), logs it at
 * error level naming the actor, sets halted, wakes bm_env_wait_fatal.
 * Never blocks for long; any thread. */
void bm_env_fatal(struct bm_env *env, const char *actor, int err,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* True once a fatal error was recorded. */
bool bm_env_halted(struct bm_env *env);

/* True once halted or a graceful stop has begun: for loops that may run
 * long (DA submission rounds, retries, backoff sleeps). Committing the
 * block in flight must not check this. */
bool bm_env_quitting(struct bm_env *env);

/* Waits up to timeout_ms (< 0 forever) for a fatal error; returns it (and
 * copies the message to em) or BM_ETIMEDOUT. Non-actor threads. */
int bm_env_wait_fatal(struct bm_env *env, int64_t timeout_ms,
                      struct bm_errmsg *em);

/* Seen header hashes. Thread-safe. */
void bm_env_mark_seen(struct bm_env *env, const struct bm_hash *h);
bool bm_env_is_seen(struct bm_env *env, const struct bm_hash *h);

/* Adds a State subscriber (kind's payload is struct bm_state_new_height).
 * BM_EFULL past BM_ENV_MAX_SUBSCRIBERS. Thread-safe. */
enum bm_err bm_env_subscribe(struct bm_env *env, struct bm_actor_id id,
                             uint32_t kind);

/* Copies the subscriber list (for the State actor). Returns the count. */
size_t bm_env_subscribers(struct bm_env *env,
                          struct bm_env_sub out[BM_ENV_MAX_SUBSCRIBERS]);

/* Period of a DA actor's tick: a quarter of the DA block time, at least
 * min_ms (current ev-node's submitter cadence). */
int64_t bm_env_da_tick_ms(const struct bm_env *env, int64_t min_ms);

/*
 * A DA actor's tick that runs only while the actor has work, so that an
 * idle node does not wake for it. It is one-shot, armed again by the
 * actor after each TICK it handles (bm_env_tick_fired first), so at most
 * one TICK waits in its mailbox however long a round blocks on a slow DA
 * (a periodic timer queued one per period: 326 of 1,024 seen).
 * bm_env_tick_resume arms *tick (one TICK after bm_env_da_tick_ms(env,
 * min_ms); kind and [payload, payload+len) as for bm_timer_start, payload
 * borrowed) unless it is armed already; on failure *tick stays {0, 0}
 * (the caller's next event retries) and the error is returned.
 * bm_env_tick_fired marks it delivered (*tick = {0, 0}): call it at the
 * start of the TICK handler. bm_env_tick_pause cancels it and sets *tick
 * to {0, 0}. Never block; the actor's own thread.
 */
enum bm_err bm_env_tick_resume(struct bm_env *env, struct bm_actor_id self,
                               uint32_t kind, const void *payload,
                               size_t len, int64_t min_ms,
                               struct bm_timer_id *tick);
void bm_env_tick_pause(struct bm_env *env, struct bm_timer_id *tick);
void bm_env_tick_fired(struct bm_timer_id *tick);

/* Monotonic milliseconds (for backoff arithmetic). */
uint64_t bm_env_now_ms(void);

/* Metadata names (spec 4.2) and their LE64 helpers. */
#define BM_META_DA_INCLUDED "d"
#define BM_META_LAST_SUBMITTED_HEADER "last-submitted-header-height"
#define BM_META_LAST_SUBMITTED_DATA "last-submitted-data-height"
#define BM_META_GENESIS_DA_HEIGHT "gdh"
/* Ours: the full node's DA retrieval cursor, written with each block. */
#define BM_META_DA_CURSOR "blockv2/da-cursor"
/* Ours: the DA submitter's submission in flight per namespace (headers /
 * data), written before a submit, deleted with its success (da_submitter.c). */
#define BM_META_DA_INTENT_HEADER "blockv2/da-intent/h"
#define BM_META_DA_INTENT_DATA "blockv2/da-intent/d"

/* bm_meta_rhb_name and bm_meta_get_u64 live in blockv2/store.h (the
 * store owns the key layout; src/p2p reads the rhb entries too). */

#endif /* BM_ACTORS_ENV_H */
