/*
 * The block manager (Manager facade of ../shared/seed/block-manager-v2.md):
 * an aggregator that produces, executes, signs, stores and submits blocks
 * to the DA layer, or a full node that takes them from DA and/or P2P,
 * validates, executes and stores them. Internally a tree of actors
 * (src/actors/, docs/ARCHITECTURE.md "Block manager"); this header is all a
 * node needs.
 *
 * Lifecycle: bm_manager_new (builds everything, starts nothing) ->
 * bm_manager_start (loads or creates the state, starts the actors) ->
 * ... -> bm_manager_stop (graceful: finishes the block in flight, stops
 * the actors in reverse order; returns the failure that stopped the
 * manager, if any) -> bm_manager_free.
 *
 * Fatal path: an error the node cannot continue from (state divergence,
 * execution failure after retries, a store write error, a supervisor that
 * gave up) stops the manager by itself; bm_manager_wait returns it and
 * bm_manager_stop returns it again.
 *
 * Threads: every function may be called from any non-actor thread; none
 * may be called from inside an actor. Calls that talk to an actor block up
 * to their timeout (a few seconds).
 */
#ifndef BM_BLOCKV2_MANAGER_H
#define BM_BLOCKV2_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/da.h"
#include "blockv2/err.h"
#include "blockv2/executor.h"
#include "blockv2/genesis.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/types.h"

struct bm_errmsg;
struct bm_manager;
struct bm_actor_system;
struct bm_limiter_stats;
struct bm_ha;

/* When the DA submitter sends the pending headers or data (ev-node's
 * batching strategies, config da.batching_strategy). An "item" is a
 * header, or the data of a block with txs; "bytes" are their encoded size
 * before signing. */
enum bm_da_batching {
    BM_DA_BATCH_TIME = 0,  /* max delay since the last submission passed */
    BM_DA_BATCH_IMMEDIATE, /* any item pending */
    BM_DA_BATCH_SIZE,      /* bytes >= size threshold x max blob size */
    BM_DA_BATCH_ADAPTIVE,  /* size OR time */
};

/* Block-manager configuration (ev-node config keys in brackets). Zero
 * values mean the default given. Times are milliseconds. */
struct bm_manager_config {
    bool aggregator;                 /* [node.aggregator] false */
    uint64_t block_time_ms;          /* [node.block_time] 1000 */
    bool lazy_mode;                  /* [node.lazy_mode] false */
    uint64_t lazy_block_interval_ms; /* [node.lazy_block_interval] 60000 */
    /* [node.max_pending_headers_and_data] 0 = no limit */
    uint64_t max_pending_headers_and_data;
    uint64_t scrape_interval_ms;     /* [node.scrape_interval] 1000 */
    /* [node.catchup_timeout] aggregator only: sync from DA (and P2P) before
     * producing; bounds the wait for P2P. 0 = no catch-up
     * (src/actors/catchup.h). */
    uint64_t catchup_timeout_ms;
    uint64_t da_block_time_ms;       /* [da.block_time] 6000 */
    /* [da.start_height]: overrides the full node's DA cursor; 0 = none */
    uint64_t da_start_height;
    uint32_t da_max_submit_attempts; /* [da.max_submit_attempts] 30 */
    uint64_t da_request_timeout_ms;  /* [da.request_timeout] 60000 */
    /* [da.max_blob_size] Largest DA blob and DA submission (sum of blob
     * sizes); a block's data and header are each made to fit one blob. 0 =
     * the local DA server's BM_DA_DEFAULT_MAX_BLOB_SIZE. */
    size_t da_max_blob_size;
    /* Submission batching: every pending item is sent once the strategy
     * says so (at least da_batch_min_items of them).
     * [da.batching_strategy] BM_DA_BATCH_TIME;
     * [da.batch_size_threshold] fraction of da_max_blob_size for SIZE and
     * ADAPTIVE, in (0, 1]; 0 = 0.8;
     * [da.batch_max_delay] for TIME and ADAPTIVE; 0 = da_block_time_ms;
     * [da.batch_min_items] 0 = 1. */
    enum bm_da_batching da_batching_strategy;
    double da_batch_size_threshold;
    uint64_t da_batch_max_delay_ms;
    uint64_t da_batch_min_items;
    const char *da_namespace;        /* [da.namespace] required with DA */
    const char *da_data_namespace;   /* [da.data_namespace] "" = namespace */
    /* Largest batch asked from the sequencer, as bytes of Data.txs
     * entries (bm_data_tx_wire_size); 0 = 5 MiB (ev-node). What one DA blob
     * holds (da_max_blob_size) caps it further. */
    uint64_t max_batch_bytes;
    /* Sync caches: pending headers/data held per height; 0 = 10,000. */
    uint32_t sync_cache_max;
    /* Mailbox capacity of each actor; 0 = 1024. */
    uint32_t mailbox_capacity;
    /* Actor-system worker threads; 0 = 2. */
    unsigned workers;
    /* Executor breaker: failures in a row before it opens
     * [node.exec_breaker_failures]; 0 = 5. Open time
     * [node.exec_breaker_open_time]; 0 = 30000 ms. */
    uint32_t exec_breaker_failures;
    uint64_t exec_breaker_open_ms;
    /* DA breaker; 0 = 5 failures, open 0 = da_block_time_ms. */
    uint32_t da_breaker_failures;
    uint64_t da_breaker_open_ms;
    /* Reaper limiter: rounds per second (burst 10); 0 = 20. */
    double reaper_rate;
    /* Tx ingress limiter (bm_manager_tx_allow) [rpc.tx_rate_limit]: txs
     * per second, 0 = no limiter (the default here; `blockv2 start` sizes
     * it from the blocks unless rpc.tx_rate_limit is given,
     * bm_node_config_derive); burst 0 = one second's worth, at least 1,000
     * (a full batch request). */
    double tx_rate;
    uint64_t tx_burst;
};

/* Fills *cfg with the defaults above (aggregator false). */
void bm_manager_config_init(struct bm_manager_config *cfg);

/* A block handed to the P2P layer (header first, then data). Both
 * borrowed for the call. Return BM_OK or an error (logged, not fatal). May
 * block. */
struct bm_broadcaster {
    enum bm_err (*broadcast_header)(void *ctx,
                                    const struct bm_signed_header *sh);
    enum bm_err (*broadcast_data)(void *ctx, const struct bm_data *d);
    void *ctx;
};

/* A P2P header/data store (ev-node's go-header store; the node's is
 * src/p2p/p2pstore.h) the StoreSync actor reads. height() gives the best
 * height the store has seen (0: none); get_* fill *out (zeroed on entry,
 * owned by the caller on BM_OK) with the item held at a height;
 * BM_ENOTFOUND if absent. Items are untrusted to the reader. May block
 * briefly; any thread. */
struct bm_p2p_store {
    enum bm_err (*height)(void *ctx, uint64_t *out);
    enum bm_err (*get_header)(void *ctx, uint64_t height,
                              struct bm_signed_header *out);
    enum bm_err (*get_data)(void *ctx, uint64_t height, struct bm_data *out);
    void *ctx;
};

/* The seed's NewManager parameters. Everything is borrowed and must
 * outlive the manager. */
struct bm_manager_params {
    const struct bm_privkey *signer;        /* required for an aggregator */
    const struct bm_manager_config *config; /* required */
    const struct bm_genesis *genesis;       /* required */
    struct bm_store *store;                 /* required */
    const struct bm_executor *exec;         /* required */
    struct bm_seq *seq;                     /* required for an aggregator */
    const struct bm_da *da;                 /* NULL: no DA (P2P only) */
    const struct bm_p2p_store *header_store; /* NULL: no P2P */
    const struct bm_p2p_store *data_store;
    const struct bm_broadcaster *header_broadcaster; /* NULL: none */
    const struct bm_broadcaster *data_broadcaster;
    /* Called once when the manager stops by itself (the error
     * bm_manager_wait returns), on an internal thread: must not block or
     * call the manager. Lets a caller sleep instead of polling
     * bm_manager_wait (the node wakes its signal loop). NULL: none. */
    void (*on_fatal)(void *arg, int err);
    void *on_fatal_arg;
    /* High availability (blockv2/ha.h, docs/HA.md): the Producer makes a
     * block only while this candidate leads, and replicates it before it
     * is broadcast; the DA submitter publishes only replicated blocks.
     * Started by the caller. NULL: no HA. */
    struct bm_ha *ha;
};

/* Counters and gauges of the block manager (ev-node's metric names in
 * brackets). Read with bm_manager_metrics. */
/* Why the Retriever refused a blob found in the chain's DA namespaces
 * (bm_manager_metrics.da_rejected). */
enum bm_da_reject {
    BM_DA_REJ_DECODE = 0,   /* neither a header nor data (garbage, cut) */
    BM_DA_REJ_INVALID,      /* ValidateBasic / Data.Validate failed */
    BM_DA_REJ_SIGNATURE,    /* a signature does not verify */
    BM_DA_REJ_CHAIN_ID,     /* another chain's header or data */
    BM_DA_REJ_PROPOSER,     /* not signed by the genesis proposer */
    BM_DA_REJ_ENVELOPE,     /* envelope signature (or a bare header after
                               envelopes were seen) */
    BM_DA_REJ_COUNT,
};

/* Static label ("bad_signature" style). */
const char *bm_da_reject_name(enum bm_da_reject r);

struct bm_manager_metrics {
    uint64_t height;              /* [sequencer_height] store height */
    uint64_t da_included_height;  /* [da_inclusion_height] */
    uint64_t last_block_txs;      /* [num_txs] */
    uint64_t total_txs;           /* [total_txs] */
    uint64_t last_block_bytes;    /* [block_size_bytes] */
    uint64_t blocks_produced;
    uint64_t blocks_synced_da;    /* [blocks_synchronized_total{da}] */
    uint64_t blocks_synced_p2p;   /* [blocks_synchronized_total{p2p}] */
    uint64_t da_submissions;      /* successful submit calls */
    uint64_t da_submit_failures;  /* failed submit calls, any reason */
    uint64_t da_submit_too_big;
    uint64_t da_submit_mempool;   /* already in mempool / not included */
    uint64_t da_submit_other;
    uint64_t headers_submitted;
    uint64_t data_submitted;
    uint64_t da_heights_scanned;
    uint64_t da_retrieve_errors;
    uint64_t reaper_txs;          /* txs handed to the sequencer */
    uint64_t skipped_backpressure; /* block ticks skipped: too many pending */
    uint64_t exec_failures;
    /* P2P blocks (header or data from P2P) that failed validation before
     * apply (dropped, nothing applied). */
    uint64_t p2p_blocks_rejected;
    /* Items from the P2P stores StoreSync skipped (bad signature, wrong
     * proposer or height) before they reached Sync. */
    uint64_t p2p_items_skipped;
    /* DA items at an applied height that are not the applied block's
     * (a header: fatal when the block came from P2P; see sync.h). */
    uint64_t da_conflicts;
    /* Blobs in the chain's DA namespaces the Retriever refused, by
     * reason; nothing of them reaches Sync. */
    uint64_t da_rejected[BM_DA_REJ_COUNT];
    /* Blocks with a header or data from DA that failed validation before
     * apply (dropped, nothing applied). */
    uint64_t da_blocks_rejected;
};

/*
 * Builds a stopped manager: checks the parameters (aggregator needs a
 * signer whose address is the genesis proposer and a sequencer; DA needs a
 * namespace), copies the config with defaults filled in, creates the
 * breakers and limiters and the actor system. Does no I/O. Returns owned
 * *out (bm_manager_free). Errors: BM_EINVAL, BM_ECONFIG, BM_ENOT_PROPOSER,
 * BM_ENOMEM, with the reason in em.
 */
enum bm_err bm_manager_new(struct bm_manager **out,
                           const struct bm_manager_params *p,
                           struct bm_errmsg *em);

/*
 * Loads the state from the store, or creates the genesis state (InitChain)
 * and stores it; checks it against the genesis; brings the executor to the
 * store height (src/actors/replayer.h: replays the blocks it is missing,
 * rolls back the one block of a crash window, refuses an executor further
 * ahead); recovers from a crash (pending block, un-acked sequencer batch);
 * checks the DA blob limit against what is already stored (the
 * sequencer's queued txs, blocks not yet on DA, a header's size); then
 * starts the actor tree and its timers. May block (disk, executor; a
 * replay executes every missing block). Errors: BM_ESTATE (already
 * started), BM_EGENESIS (store belongs to another chain), BM_EEXEC_AHEAD
 * (the executor is more than one block ahead: the message names the
 * repair), BM_EAPP_HASH_MISMATCH (a replayed block gave another app hash
 * than the chain records), BM_ECONFIG (something stored does not fit
 * cfg.da_max_blob_size: the message names it, its size and the limit),
 * store and executor errors.
 */
enum bm_err bm_manager_start(struct bm_manager *m, struct bm_errmsg *em);

/*
 * Produces one block now (aggregator only; BM_ESTATE otherwise), waiting
 * for it: *height (may be NULL) gets the new height. BM_EAGAIN when no
 * block was made (back-pressure: too many blocks not yet on DA); other
 * errors as the producer reports them. Blocks up to the producer's
 * timeout. When the block lane is idle the block is made on the calling
 * thread (bm_actor_call_inline): call it from a thread with nothing else
 * to serve.
 */
enum bm_err bm_manager_produce_block(struct bm_manager *m, uint64_t *height,
                                     struct bm_errmsg *em);

/* Copy of the last committed state into *out (released first). */
enum bm_err bm_manager_get_last_state(struct bm_manager *m,
                                      struct bm_state *out);

/*
 * Graceful stop: the block in flight finishes, actors stop in reverse
 * start order, timers end. Returns BM_OK, or the fatal error that stopped
 * the manager (message in em). Idempotent.
 */
enum bm_err bm_manager_stop(struct bm_manager *m, struct bm_errmsg *em);

/* Waits up to timeout_ms (< 0: forever) for the manager to stop by itself
 * (fatal error): returns that error, or BM_ETIMEDOUT. */
enum bm_err bm_manager_wait(struct bm_manager *m, int64_t timeout_ms,
                            struct bm_errmsg *em);

/* Stops (if needed) and frees. NULL-safe. */
void bm_manager_free(struct bm_manager *m);

/*
 * Stops the manager on a fatal error found outside it (the tx queue's
 * disk, written by the RPC's ingest thread): as an actor's fatal error,
 * writes are refused from now on, on_fatal is called (first error only)
 * and bm_manager_stop/wait return err with "who: msg". Any thread; m
 * NULL-safe. Borrows who and msg.
 */
void bm_manager_fail(struct bm_manager *m, const char *who, int err,
                     const char *msg);

/* ---- v1 inspection calls ---- */

enum bm_err bm_manager_get_store_height(struct bm_manager *m, uint64_t *out);
uint64_t bm_manager_get_da_included_height(struct bm_manager *m);
/* True if block `height` is stored and both its header and data (or the
 * empty data) are known to be on DA. */
enum bm_err bm_manager_is_da_included(struct bm_manager *m, uint64_t height,
                                      bool *out);
/* True if a header with this Header.Hash() was stored, produced or seen
 * from DA/P2P by this process. */
bool bm_manager_is_block_hash_seen(struct bm_manager *m,
                                   const struct bm_hash *hash);
/* A tx arrived (e.g. from RPC ingress): in lazy mode a block follows
 * within one block time. Never blocks. */
void bm_manager_notify_new_transactions(struct bm_manager *m);
/* The P2P layer put new items into the header/data stores: the StoreSync
 * actor hands them to Sync now instead of at its next tick. Never blocks
 * (a wake-up lost to a full mailbox is counted and the tick follows). Any
 * non-actor thread, e.g. the P2P loop. */
void bm_manager_notify_p2p(struct bm_manager *m);
/* True while an aggregator catches up before producing
 * (node.catchup_timeout). Any thread. */
bool bm_manager_catching_up(struct bm_manager *m);
/* Stored blocks whose header / non-empty data is not yet submitted. */
uint64_t bm_manager_pending_headers(struct bm_manager *m);
uint64_t bm_manager_pending_data(struct bm_manager *m);
/* Validates a block against the last state as a full node would
 * (ValidateBasic, signature, proposer, sequence, header/data match). */
enum bm_err bm_manager_validate(struct bm_manager *m,
                                const struct bm_signed_header *sh,
                                const struct bm_data *d,
                                struct bm_errmsg *em);

/* ---- observability (for the node's RPC and metrics) ---- */

void bm_manager_metrics(struct bm_manager *m, struct bm_manager_metrics *out);
/* The actor system (for per-actor stats); NULL before bm_manager_new. */
struct bm_actor_system *bm_manager_actor_system(struct bm_manager *m);
/* Breaker states by name ("da", "exec"): 0 closed, 1 open, 2 half-open;
 * -1 if unknown. */
int bm_manager_breaker_state(struct bm_manager *m, const char *name);
/* Admission check for tx ingress (the tx limiter): true if n txs may be
 * accepted now; always true without a limiter (tx_rate 0). */
bool bm_manager_tx_allow(struct bm_manager *m, uint64_t n);
/* Snapshot of a limiter by name ("tx": tx ingress, "reaper") into *out;
 * false if unknown or not configured. Never blocks. Any thread. */
bool bm_manager_limiter_stats(struct bm_manager *m, const char *name,
                              struct bm_limiter_stats *out);

/* ---- testing ---- */

/* Makes the named actor ("state", "producer", ...) fail as if its handler
 * had crashed, so its supervisor restarts it. BM_ENOTFOUND for an unknown
 * name. */
enum bm_err bm_manager_debug_crash_actor(struct bm_manager *m,
                                         const char *name);

#endif /* BM_BLOCKV2_MANAGER_H */
