/*
 * StoreSyncActor: takes headers and data from the P2P header/data stores
 * (struct bm_p2p_store in include/blockv2/manager.h) and hands them to the
 * Sync actor (detached: the stores may block). It runs on a full node, and
 * on an aggregator during catch-up only (actors/catchup.h; afterwards it
 * is idle).
 *
 * TICK (every block time) and WAKE (bm_manager_notify_p2p: the P2P layer
 * put new items) do the same: for heights above the last one handed over
 * up to each store's height, at most AHEAD heights above the store height
 * (so the Sync actor's caches are never flooded), get the header
 * (ValidateBasic with its signature, the height asked for, the expected
 * proposer following the state's next_proposer_address) and the data (the
 * height asked for), and send HEADER_IN / DATA_IN with source P2P to the
 * Sync actor. A height not found yet, or a send that fails, stops that
 * cursor until the next TICK or WAKE; a bad item is skipped and counted.
 * If the store height does not move for STALL_MS while items were handed
 * over above it (Sync dropped one, e.g. a block that failed validation),
 * the cursors go back to the store height and the items are handed over
 * again. During catch-up every TICK also asks whether catch-up is over
 * (bm_catchup_poll_p2p). Without P2P stores it is wired but idle: its init
 * arms no timer.
 */
#ifndef BM_ACTORS_STORE_SYNC_H
#define BM_ACTORS_STORE_SYNC_H

#include <stdint.h>

#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_store_sync_kind {
    BM_STORE_SYNC_TICK = 0,
    BM_STORE_SYNC_WAKE,
    BM_STORE_SYNC_NKINDS
};

/* TICK and WAKE payload. */
struct bm_store_sync_tick {
    uint32_t unused;
};

BM_ACTOR_REF(store_sync);
BM_ACTOR_TELL(store_sync, wake, BM_STORE_SYNC_WAKE, struct bm_store_sync_tick)

/* Spawn with arg = struct bm_env *, detached, overflow drop_oldest (a
 * TICK or WAKE is idempotent; a dropped one is counted). */
extern const struct bm_actor_type bm_store_sync_actor_type;

static inline struct bm_ref_store_sync
bm_env_store_sync(const struct bm_env *e)
{
    return (struct bm_ref_store_sync){e->ids.store_sync};
}

#endif /* BM_ACTORS_STORE_SYNC_H */
