/*
 * DASubmitterActor: publishes blocks to the DA layer (aggregator;
 * detached). On TICK (every max(da_block_time/4, 100 ms)) and on
 * NEW_HEIGHT from the State actor:
 *  - headers: every stored height above last-submitted-header-height, as
 *    a DAHeaderEnvelope (envelope_signature over the SignedHeader bytes)
 *    into the header namespace;
 *  - data: every stored height above last-submitted-data-height with txs,
 *    as SignedData (signature over the Data bytes, signer = proposer) into
 *    the data namespace; empty blocks are not submitted and the data
 *    height moves past them.
 * Batching: the longest prefix whose total size fits cfg.da_max_blob_size
 * (a single item above it is fatal); up to cfg.da_max_submit_attempts per
 * round; success (possibly partial: the DA returns fewer ids) -> PUT_META
 * {last-submitted-*-height, rhb/<h>/h or rhb/<h>/d = DA height} through
 * the State actor, INCLUDED to the DA includer, continue with the rest and
 * reset the backoff; TooBig -> halve the batch; NotIncluded/InMempool ->
 * backoff = da block time; other errors -> backoff doubling from 100 ms,
 * capped at the DA block time. All DA calls go through env->da_breaker;
 * while it is open the round is skipped (production continues up to
 * max_pending). Metrics: submissions, failures by reason.
 */
#ifndef BM_ACTORS_DA_SUBMITTER_H
#define BM_ACTORS_DA_SUBMITTER_H

#include <stdint.h>

#include "actors/env.h"
#include "actors/state.h"
#include "blockv2/actor.h"

enum bm_da_submitter_kind {
    BM_DA_SUBMITTER_TICK = 0,
    BM_DA_SUBMITTER_NEW_HEIGHT, /* struct bm_state_new_height */
    BM_DA_SUBMITTER_NKINDS
};

struct bm_da_submitter_tick {
    uint32_t unused;
};

BM_ACTOR_REF(da_submitter);
BM_ACTOR_TELL(da_submitter, new_height, BM_DA_SUBMITTER_NEW_HEIGHT,
              struct bm_state_new_height)

/* Spawn with arg = struct bm_env * (env->da and signer required),
 * detached, overflow drop_oldest. Its init arms its TICK timer. */
extern const struct bm_actor_type bm_da_submitter_actor_type;

static inline struct bm_ref_da_submitter
bm_env_da_submitter(const struct bm_env *e)
{
    return (struct bm_ref_da_submitter){e->ids.da_submitter};
}

#endif /* BM_ACTORS_DA_SUBMITTER_H */
