/*
 * ProducerActor: makes one block per PRODUCE request (never waits: every
 * step is an async ask answered by a continuation; the manager runs it on
 * the block lane; the flow of the seed, literally):
 *   GetState -> StateActor; back-pressure (cfg.max_pending_headers_and_data:
 *   store height - last submitted header/data height >= limit -> skipped,
 *   counted in skipped_backpressure); pending block in the store
 *   (pending_header/pending_data at store height + 1) -> reuse it, else
 *   GetBatch -> SequencerActor (NEXT_BATCH; an error -> no block); an empty
 *   batch still makes a block unless the aggregator is lazy and the
 *   request reason is BM_PRODUCE_TX (then skipped); CreateBlock (first-block
 *   rules: time = genesis start time and empty last hashes for the first
 *   block; otherwise time = max(batch time, last block time) so time is
 *   monotonic; proposer = state next proposer; data_hash =
 *   DACommitment(txs) or the empty constant; data metadata set) ->
 *   SAVE_PENDING -> StateActor; sign header; ValidateBlock ->
 *   ValidatorActor; ApplyBlock -> SyncActor (execute + commit);
 *   Broadcast -> BroadcasterActor; wake the DASubmitter; Ack ->
 *   SequencerActor (the seed acks before it broadcasts: publishing the
 *   committed block first spares P2P followers the queue's fsync).
 * Replies with the new height once the block is committed and published
 * and the Ack sent (a block with txs: before the Ack's answer, which ends
 * the round; the next round and DRAIN wait for it; a failed Ack makes the
 * next round drop the block's txs from the queue first; a block without
 * txs: after it). A validation failure of its own block or an
 * apply failure is fatal (bm_env_fatal). While the aggregator catches up
 * (actors/catchup.h) no block is made.
 */
#ifndef BM_ACTORS_PRODUCER_H
#define BM_ACTORS_PRODUCER_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_producer_kind {
    BM_PRODUCER_PRODUCE = 0,
    BM_PRODUCER_DRAIN,       /* struct bm_producer_drain */
    /* Continuations of the producer's own asks (internal). */
    BM_PRODUCER_C_STATE,     /* struct bm_state_info */
    BM_PRODUCER_C_BATCH,     /* struct bm_sequencer_batch */
    BM_PRODUCER_C_PENDING,   /* struct bm_state_ack */
    BM_PRODUCER_C_VALIDATED, /* struct bm_validator_result */
    BM_PRODUCER_C_APPLIED,   /* struct bm_sync_applied */
    BM_PRODUCER_C_SEQ,       /* struct bm_sequencer_count */
    BM_PRODUCER_NKINDS
};

enum bm_produce_reason {
    BM_PRODUCE_TIMER = 0,  /* block timer (normal mode) */
    BM_PRODUCE_LAZY = 1,   /* lazy interval: empty block allowed */
    BM_PRODUCE_TX = 2,     /* lazy mode, txs arrived */
    BM_PRODUCE_MANUAL = 3, /* bm_manager_produce_block */
};

struct bm_producer_req {
    uint32_t reason; /* enum bm_produce_reason */
};

/* Reply. produced false: no block (catching up, back-pressure, no
 * batch, nothing to do in lazy mode); height is then the unchanged store
 * height. */
struct bm_producer_result {
    uint64_t height;
    bool produced;
    bool backpressure;
    bool catching_up; /* actors/catchup.h: no block before it ends */
};

/* DRAIN (ask, from the manager's graceful stop, after env->stopping is
 * set): answered once no round is in flight, so the block in flight is
 * committed and its Ack done (or failed) before the actors stop. Rounds
 * not started yet are refused with BM_ESHUTDOWN while the node quits. Reply: the store height. At
 * most 4 DRAIN asks wait at once (more: BM_EFULL). */
struct bm_producer_drain {
    uint32_t unused;
};
struct bm_producer_drained {
    uint64_t height;
};

BM_ACTOR_REF(producer);
BM_ACTOR_ASK(producer, produce, BM_PRODUCER_PRODUCE, struct bm_producer_req,
             struct bm_producer_result)
BM_ACTOR_ASK(producer, drain, BM_PRODUCER_DRAIN, struct bm_producer_drain,
             struct bm_producer_drained)

/* Spawn with arg = struct bm_env *: pooled, detached or on a lane (the
 * manager puts it on the block lane). One round at a time; up to 16
 * PRODUCE requests wait meanwhile, more get BM_EFULL. */
extern const struct bm_actor_type bm_producer_actor_type;

static inline struct bm_ref_producer bm_env_producer(const struct bm_env *e)
{
    return (struct bm_ref_producer){e->ids.producer};
}

#endif /* BM_ACTORS_PRODUCER_H */
