/*
 * StoreSyncActor: takes headers and data from the P2P header/data stores
 * (struct bm_p2p_store in include/blockv2/manager.h) when P2P exists
 * (full node; detached). Every block time (TICK): for heights above the
 * last one it handed over up to each store's height, get the header
 * (ValidateBasic + genesis proposer check) and the data, and send
 * HEADER_IN / DATA_IN with source P2P to the Sync actor. Without P2P
 * stores (today) it is wired but idle: its init arms no timer.
 */
#ifndef BM_ACTORS_STORE_SYNC_H
#define BM_ACTORS_STORE_SYNC_H

#include <stdint.h>

#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_store_sync_kind { BM_STORE_SYNC_TICK = 0, BM_STORE_SYNC_NKINDS };

struct bm_store_sync_tick {
    uint32_t unused;
};

BM_ACTOR_REF(store_sync);

/* Spawn with arg = struct bm_env *, detached, overflow drop_oldest. */
extern const struct bm_actor_type bm_store_sync_actor_type;

#endif /* BM_ACTORS_STORE_SYNC_H */
