/*
 * RetrieverActor: follows the chain on the DA layer (full node, and an
 * aggregator during its catch-up, actors/catchup.h; detached: DA calls
 * block). Walks DA heights from the start cursor = BM_META_DA_CURSOR if
 * stored, else max(genesis da_start_height, state.da_height, and on an
 * aggregator the DA height its tip was posted at, rhb/<tip>/h);
 * cfg.da_start_height overrides all when set. On an aggregator, reaching
 * the DA head ends the catch-up (after a FLUSH round trip to Sync) and the
 * Retriever then goes idle (timer cancelled).
 * For each height: blob.GetAll in the header namespace and, if different,
 * the data namespace (behind env->da_breaker). Each header blob is decoded
 * as a DAHeaderEnvelope (envelope signature verified; after the first
 * valid envelope, strict mode refuses bare SignedHeaders) or a legacy
 * SignedHeader; it must pass SignedHeader.ValidateBasic and have the
 * expected proposer (genesis proposer; rotation is checked later by the
 * Validator) -> HEADER_IN to the Sync actor. Each data blob must be a
 * SignedData with metadata, signed by the proposer key -> DATA_IN.
 * Anything else is junk (logged at debug, counted). After a height:
 * DA_PROGRESS(height + 1) to Sync and advance.
 * NotFound -> advance; height-from-future -> wait for the next TICK;
 * other errors -> breaker records it, retry the same height on the next
 * TICK. Following the head: while the cursor is at or below
 * header.NetworkHead it continues immediately (CONTINUE to itself);
 * otherwise it waits for a TICK (every cfg.da_block_time_ms / 4, at
 * least 50 ms).
 */
#ifndef BM_ACTORS_RETRIEVER_H
#define BM_ACTORS_RETRIEVER_H

#include <stdint.h>

#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_retriever_kind {
    BM_RETRIEVER_TICK = 0,
    BM_RETRIEVER_CONTINUE,
    BM_RETRIEVER_NKINDS
};

struct bm_retriever_tick {
    uint32_t unused;
};

BM_ACTOR_REF(retriever);

/* Spawn with arg = struct bm_env * (env->da required), detached,
 * overflow drop_oldest. Its init arms its first TICK (a one-shot timer,
 * armed again as each TICK is handled). */
extern const struct bm_actor_type bm_retriever_actor_type;

#endif /* BM_ACTORS_RETRIEVER_H */
