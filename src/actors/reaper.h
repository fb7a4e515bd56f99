/*
 * ReaperActor: moves txs from the executor's mempool to the sequencer
 * (aggregator; detached). Every cfg.scrape_interval_ms (TICK): if the
 * reaper limiter allows a round, GetTxs; drop txs already handed over
 * (a bounded window of tx hashes); SUBMIT the rest to the SequencerActor;
 * when any was accepted, TXS to the Aggregator. Failures back off
 * interval * 2^min(n, 5), capped at 30 s (ticks inside the backoff are
 * skipped).
 */
#ifndef BM_ACTORS_REAPER_H
#define BM_ACTORS_REAPER_H

#include <stdint.h>

#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_reaper_kind { BM_REAPER_TICK = 0, BM_REAPER_NKINDS };

struct bm_reaper_tick {
    uint32_t unused;
};

BM_ACTOR_REF(reaper);

/* Spawn with arg = struct bm_env *, detached, overflow drop_oldest. Its
 * init arms its TICK timer. */
extern const struct bm_actor_type bm_reaper_actor_type;

#endif /* BM_ACTORS_REAPER_H */
