/*
 * SequencerActor: wraps the single sequencer (include/blockv2/sequencer.h)
 * so the seed's message flow "GetBatch -> SequencerActor" is literal
 * (detached: the queue fsyncs). Chain id from the genesis.
 */
#ifndef BM_ACTORS_SEQUENCER_H
#define BM_ACTORS_SEQUENCER_H

#include <stddef.h>
#include <stdint.h>

#include "actors/env.h"
#include "blockv2/actor.h"
#include "blockv2/sequencer.h"

enum bm_sequencer_kind {
    BM_SEQUENCER_NEXT_BATCH = 0,
    BM_SEQUENCER_SUBMIT,
    BM_SEQUENCER_ACK,
    BM_SEQUENCER_DROP_COMMITTED,
    BM_SEQUENCER_NKINDS
};

/* NEXT_BATCH request: max bytes of Data.txs entries (0: what one DA blob
 * holds, env->block_tx_budget). */
struct bm_sequencer_next {
    uint64_t max_bytes;
};

/* NEXT_BATCH reply: the batch (heap, owned). */
struct bm_sequencer_batch {
    struct bm_seq_batch *batch;
};
void bm_sequencer_batch_dtor(void *p);

/* SUBMIT / DROP_COMMITTED request: owned txs. */
struct bm_sequencer_txs {
    struct bm_buf *txs;
    size_t n;
};
void bm_sequencer_txs_dtor(void *p);

/* SUBMIT / DROP_COMMITTED reply: txs accepted / dropped. ACK reply: 0. */
struct bm_sequencer_count {
    size_t n;
};

/* ACK request: the height whose block holds the batch. */
struct bm_sequencer_ack {
    uint64_t height;
};

BM_ACTOR_REF(sequencer);
BM_ACTOR_ASK(sequencer, next_batch, BM_SEQUENCER_NEXT_BATCH,
             struct bm_sequencer_next, struct bm_sequencer_batch)
BM_ACTOR_ASK(sequencer, submit, BM_SEQUENCER_SUBMIT, struct bm_sequencer_txs,
             struct bm_sequencer_count)
BM_ACTOR_ASK(sequencer, ack, BM_SEQUENCER_ACK, struct bm_sequencer_ack,
             struct bm_sequencer_count)
BM_ACTOR_ASK(sequencer, drop_committed, BM_SEQUENCER_DROP_COMMITTED,
             struct bm_sequencer_txs, struct bm_sequencer_count)

/* Spawn with arg = struct bm_env * (env->seq required), detached. */
extern const struct bm_actor_type bm_sequencer_actor_type;

static inline struct bm_ref_sequencer bm_env_sequencer(const struct bm_env *e)
{
    return (struct bm_ref_sequencer){e->ids.sequencer};
}

#endif /* BM_ACTORS_SEQUENCER_H */
