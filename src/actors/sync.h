/*
 * SyncActor: the owner of block application (detached: it calls the
 * executor and waits on the State actor).
 *  - APPLY (from the Producer): the producer's block, already signed and
 *    validated: ExecuteTxs (behind env->exec_breaker, retried), build the
 *    new State, COMMIT through the State actor with clear_pending; reply
 *    the height. The seed's "ApplyBlock -> SyncActor -> UpdateState ->
 *    StateActor".
 *  - HEADER_IN / DATA_IN (from the Retriever or StoreSync): pending
 *    headers and data held by height in bounded caches (cfg.sync_cache_max
 *    each; beyond it the entry farthest above the store height is
 *    evicted); a header whose data_hash marks an empty block gets
 *    synthesised data (metadata {chain, height, time, last_data_hash});
 *    whenever header and data of store height + 1 are present: validate
 *    (the Validator's check on Sync's thread; the Validator actor for a
 *    last-header-hash mismatch, its once-per-process tolerance), execute, commit (with rhb/<h>/h|d and the DA
 *    cursor as metadata), in height order. ITEMS_IN carries many of them
 *    at once. Group commit: when several consecutive blocks are ready (a
 *    catch-up), up to BM_SYNC_GROUP_MAX of them are validated and
 *    executed one after the other (each against the state after the one
 *    before) inside an executor group (begin_group/commit_group, when the
 *    executor can batch), then committed by the State actor in ONE store
 *    transaction (COMMIT_GROUP), then made durable in the executor: one
 *    durable commit per group instead of one per block; a crash loses at
 *    most the group in flight, never part of a block (the Replayer
 *    repairs an executor ahead by up to a group). A single ready block
 *    (following the chain's tip) is a group of one, durable as before.
 *    Items at or below the store
 *    height, or already seen, are dropped, except a DA item at an applied
 *    height (the block came by P2P first): the same block records its
 *    rhb/<h>/h|d (written with the next commit or DA_PROGRESS, with the
 *    cursor), so the DAIncluder marks it DA-included; another header
 *    where the applied block came from P2P is an alert and a fatal stop
 *    (BM_EFORK); other mismatches are logged and counted (da_conflicts).
 *    A P2P block that fails validation is counted (p2p_blocks_rejected).
 *  - FLUSH (ask, from the Retriever during an aggregator's catch-up):
 *    replies the store height once everything sent before it is handled.
 *  - On an aggregator (catch-up, actors/catchup.h) a block taken from DA
 *    is on DA already: when it is the next block to submit, its commit
 *    also advances the last-submitted header / data height to it, so the
 *    DASubmitter does not post it again.
 *  - Groups across DA heights: while the Retriever is behind the DA
 *    head (DA_PROGRESS.more) the blocks a DA height completes are held
 *    until BM_SYNC_GROUP_MAX are ready, the Retriever reaches the head, a
 *    FLUSH comes or BM_SYNC_HOLD_MS passed (HOLD_OVER, a one-shot timer),
 *    then applied as one group: fewer, bigger groups where a DA height
 *    holds few blocks. Held blocks are not committed, so a crash loses
 *    them as it loses a group in flight (the DA cursor stays below them).
 *  - DA_PROGRESS (from the Retriever): every blob below `cursor` was
 *    delivered. The persisted cursor (BM_META_DA_CURSOR, written with each
 *    committed block) is min(progress cursor, lowest DA height of any
 *    cached item), so a restart rescans only what is not yet committed.
 *  - ROLLBACK (HA, docs/HA.md; from the catch-up poll when the record
 *    shows that the cluster accepted another block at the store's head,
 *    and checked by Sync itself when a header of another block arrives
 *    at its head): the head is a deposed leader's block that was never
 *    replicated nor published. Sync rolls it back at run time, in this
 *    order, each step durable: its txs go back to the sequencer's queue
 *    (bm_ha_gate_requeue_txs), the State actor removes it (ROLLBACK), the
 *    executor rolls back to the height below (bm_executor_rollback),
 *    Sync reloads its state; then it follows the cluster's chain. A kill
 *    -9 between two steps leaves what the start-up path repairs
 *    (bm_ha_gate_rollback_diverged, the Replayer). An executor without a
 *    rollback stops the node (BM_EFORK) for its next start to do it.
 * Fatal (bm_env_fatal): execution failure after retries, a block that
 * fails validation with a state-divergence code (app hash / last header
 * hash mismatch) when it came from the trusted producer, store errors.
 * A DA block failing validation is dropped (logged), not fatal.
 */
#ifndef BM_ACTORS_SYNC_H
#define BM_ACTORS_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/block.h"
#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_sync_kind {
    BM_SYNC_APPLY = 0,
    BM_SYNC_HEADER_IN,
    BM_SYNC_DATA_IN,
    BM_SYNC_DA_PROGRESS,
    BM_SYNC_FLUSH,
    BM_SYNC_ITEMS_IN,
    BM_SYNC_HOLD_OVER,
    BM_SYNC_ROLLBACK,
    BM_SYNC_NKINDS
};

/* Most blocks applied as one group (one store transaction, one executor
 * commit): what a catch-up makes durable at once. The Replayer rolls an
 * executor back by up to this many heights at start (a crash between
 * the executor's and the store's commit of a group). */
#define BM_SYNC_GROUP_MAX 128u
/* Most tx bytes (Data.txs) of one group, so that a group of big blocks
 * stays a bounded transaction. */
#define BM_SYNC_GROUP_MAX_BYTES (32u << 20)
/* Longest time ready blocks are held for a bigger group while the
 * Retriever says more DA heights follow (DA_PROGRESS.more). */
#define BM_SYNC_HOLD_MS 100u
/* Most headers, and most data, in one ITEMS_IN. */
#define BM_SYNC_ITEMS_MAX 65536u

/* APPLY: one reference owned. */
struct bm_sync_apply {
    struct bm_block *blk;
};
void bm_sync_apply_dtor(void *p);

/* APPLY reply. */
struct bm_sync_applied {
    uint64_t height;
    struct bm_hash app_hash; /* state root after the block */
    uint32_t app_hash_len;
};

/* HEADER_IN: a header that passed ValidateBasic and the proposer check
 * at the source (heap, owned). da_height 0 for P2P. sig_verified: the
 * source verified its signature on these bytes (the Validator then does
 * not verify it again: docs/VALIDATION.md "Each signature once").
 * has_hash: hash is the header's hash, computed by the source from the
 * bytes it verified (bm_signed_header_verify_signature_hash), so Sync
 * does not encode and hash the header again; otherwise Sync computes it. */
struct bm_sync_header_in {
    struct bm_signed_header *sh;
    uint64_t da_height;
    uint8_t source; /* enum bm_block_source */
    bool sig_verified;
    bool has_hash;
    struct bm_hash hash;
};
void bm_sync_header_in_dtor(void *p);

/* DATA_IN: data with metadata whose signature was checked at the source
 * (heap, owned). */
struct bm_sync_data_in {
    struct bm_data *data;
    uint64_t da_height;
    uint8_t source;
};
void bm_sync_data_in_dtor(void *p);

/* ITEMS_IN: what a source found together (every blob of a DA height, a
 * range of P2P heights) in one message, so that the blocks they complete
 * are applied as groups (BM_SYNC_GROUP_MAX) rather than one by one as the
 * pieces trickle in. Each entry is what HEADER_IN / DATA_IN carries;
 * headers are taken in before data. Owns both arrays and their items. */
struct bm_sync_items_in {
    struct bm_sync_header_in *headers;
    size_t n_headers; /* 0..BM_SYNC_ITEMS_MAX */
    struct bm_sync_data_in *data;
    size_t n_data;    /* 0..BM_SYNC_ITEMS_MAX */
};
void bm_sync_items_in_dtor(void *p);

/* DA_PROGRESS: every blob below `cursor` was delivered. more: the
 * Retriever goes on with the next DA height at once (it is behind the
 * DA head), so Sync may hold the blocks that are ready, to apply them
 * with what follows as one bigger group (at most BM_SYNC_HOLD_MS, and
 * never past BM_SYNC_GROUP_MAX ready blocks). */
struct bm_sync_da_progress {
    uint64_t cursor;
    bool more;
};

/* HOLD_OVER (Sync's own one-shot timer): apply what is held. */
struct bm_sync_hold_over {
    uint32_t unused;
};

/* ROLLBACK: the store's head `height` may be a block the cluster did not
 * accept (Sync checks again before it acts; a stale one does nothing). */
struct bm_sync_rollback {
    uint64_t height;
};

/* FLUSH request and reply (the height Sync has committed up to). */
struct bm_sync_flush {
    uint32_t unused;
};
struct bm_sync_flushed {
    uint64_t height;
};

BM_ACTOR_REF(sync);
BM_ACTOR_ASK(sync, apply, BM_SYNC_APPLY, struct bm_sync_apply,
             struct bm_sync_applied)
BM_ACTOR_TELL(sync, header_in, BM_SYNC_HEADER_IN, struct bm_sync_header_in)
BM_ACTOR_TELL(sync, data_in, BM_SYNC_DATA_IN, struct bm_sync_data_in)
BM_ACTOR_TELL(sync, items_in, BM_SYNC_ITEMS_IN, struct bm_sync_items_in)
BM_ACTOR_TELL(sync, da_progress, BM_SYNC_DA_PROGRESS,
              struct bm_sync_da_progress)
BM_ACTOR_ASK(sync, flush, BM_SYNC_FLUSH, struct bm_sync_flush,
             struct bm_sync_flushed)
BM_ACTOR_TELL(sync, rollback, BM_SYNC_ROLLBACK, struct bm_sync_rollback)

/* Spawn with arg = struct bm_env *, detached, overflow BM_OVERFLOW_BLOCK
 * (a retriever that runs ahead waits instead of losing blobs). */
extern const struct bm_actor_type bm_sync_actor_type;

static inline struct bm_ref_sync bm_env_sync(const struct bm_env *e)
{
    return (struct bm_ref_sync){e->ids.sync};
}

#endif /* BM_ACTORS_SYNC_H */
