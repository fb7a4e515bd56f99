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
 * When: the batching strategy (cfg.da_batching_strategy, ev-node's) looks
 * at the pending items of each kind (headers; data of blocks with txs),
 * their bytes before signing, and the time since that kind's last
 * successful submission: immediate (any item), size (bytes >=
 * da_batch_size_threshold x da_max_blob_size), time (>= da_batch_max_delay
 * since the last one), adaptive (size or time); never fewer than
 * da_batch_min_items; and always once max_pending_headers_and_data
 * blocks wait (the producer stops there, so the size or min items would
 * never come). Once it says so, everything pending of that kind is
 * sent. Empty blocks before the first item need no blob: the data height
 * moves past them every round.
 * Batching: the longest prefix whose total size fits cfg.da_max_blob_size
 * (a single item above it is fatal, but the producer's sizing and
 * bm_da_submitter_check_start keep items below it); up to
 * cfg.da_max_submit_attempts per pass; success (possibly partial: the DA
 * returns fewer ids) -> PUT_META
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

#include <stdbool.h>
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

/* The batching strategy of cfg (defaults filled): true if `items` pending
 * items of `bytes` bytes (before signing), since_ms after the last
 * successful submission of their kind, should be sent now. Pure. */
bool bm_da_batch_should_submit(const struct bm_manager_config *c,
                               uint64_t items, uint64_t bytes,
                               uint64_t since_ms);

/*
 * Start-up check of an aggregator with DA, before the actors run: a
 * header of this chain (the stored state's app hash length) fits
 * cfg.da_max_blob_size, and so does the DA blob of every header and data
 * not yet on DA (above the last-submitted heights), e.g. after the limit
 * was lowered. BM_ECONFIG naming da.max_blob_size, the height, the size
 * and the limit; store errors. Reads the store (one read per pending
 * height; pending items near the limit are encoded and signed). May block.
 */
enum bm_err bm_da_submitter_check_start(struct bm_env *env,
                                        struct bm_errmsg *em);

/*
 * Checks the bytes of a stored intent (metadata BM_META_DA_INTENT_*, read
 * at start-up; untrusted) as the submitter decodes them: BM_OK, or
 * BM_ECORRUPT naming `key` (borrowed) and what is wrong. On BM_OK and
 * reencoded != NULL, *reencoded (owned, bm_free) and *relen get the
 * canonical encoding, equal to the input. Borrows p. Pure; for the fuzz
 * target.
 */
enum bm_err bm_da_submitter_intent_check(const char *key, const uint8_t *p,
                                         size_t len, uint8_t **reencoded,
                                         size_t *relen, struct bm_errmsg *em);

static inline struct bm_ref_da_submitter
bm_env_da_submitter(const struct bm_env *e)
{
    return (struct bm_ref_da_submitter){e->ids.da_submitter};
}

#endif /* BM_ACTORS_DA_SUBMITTER_H */
