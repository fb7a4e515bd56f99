/*
 * AggregatorActor: block-production timing (pooled; never blocks: it asks
 * the Producer with bm_producer_ask_produce_async and gets the result as a
 * PRODUCED continuation; at most one production in flight).
 *  - START (armed by its own init as a 0 ms one-shot timer): GET the state
 *    (async) and wait until last block time + block time (genesis time +
 *    block time before the first block), then arm the timers.
 *  - Normal mode: on each BLOCK_TICK produce; re-arm for block_time -
 *    elapsed, or 1 ms if production took longer (remaining-sleep rule),
 *    in nanoseconds, elapsed counted from the tick's due time (so the
 *    schedule keeps its phase; bm_aggregator_remaining_ns) as long as the
 *    tick is at most a tenth of the interval late (bm_aggregator_start_ns).
 *  - Lazy mode: BLOCK_TICK produces only if TXS arrived since the last
 *    block; LAZY_TICK produces (possibly empty) every lazy_block_interval;
 *    after any block both timers re-arm (interval - elapsed, min 1 ms).
 *  - TXS (from the Reaper or bm_manager_notify_new_transactions) sets the
 *    flag.
 *  - A tick that arrives while a production is in flight is remembered
 *    (one pending tick), not queued.
 * Ticks carry a generation so that ticks of cancelled timers are ignored.
 */
#ifndef BM_ACTORS_AGGREGATOR_H
#define BM_ACTORS_AGGREGATOR_H

#include <stdint.h>

#include "actors/env.h"
#include "actors/producer.h"
#include "actors/state.h"
#include "blockv2/actor.h"

enum bm_aggregator_kind {
    BM_AGGREGATOR_START = 0,
    BM_AGGREGATOR_BLOCK_TICK,
    BM_AGGREGATOR_LAZY_TICK,
    BM_AGGREGATOR_TXS,
    BM_AGGREGATOR_PRODUCED, /* continuation: struct bm_producer_result */
    BM_AGGREGATOR_STATE,    /* continuation: struct bm_state_info */
    BM_AGGREGATOR_KICK,     /* produce now: struct bm_aggregator_kick */
    BM_AGGREGATOR_NKINDS
};

struct bm_aggregator_tick {
    uint64_t gen;
};

struct bm_aggregator_txs {
    uint32_t n;
};

/* KICK (HA: this candidate became leader, or its store reached the
 * replicated height; docs/HA.md "Timing"): a round starts now instead of
 * at the next block tick, and the block timer counts from it. While a
 * round is in flight, one more starts when it ends without a block. Lazy
 * mode: only when txs wait. Before START has read the state: ignored. */
struct bm_aggregator_kick {
    uint32_t why; /* unused, 0 */
};

BM_ACTOR_REF(aggregator);
BM_ACTOR_TELL(aggregator, txs, BM_AGGREGATOR_TXS, struct bm_aggregator_txs)
BM_ACTOR_TELL(aggregator, kick, BM_AGGREGATOR_KICK, struct bm_aggregator_kick)

/* Spawn with arg = struct bm_env *, pooled, overflow drop_oldest (ticks
 * and notifications are idempotent; drops are counted). */
extern const struct bm_actor_type bm_aggregator_actor_type;

/* Remaining sleep after a production that took elapsed_ns: interval -
 * elapsed, or 1 ms when the production took the whole interval or longer
 * (v1 getRemainingSleep), in nanoseconds. The aggregator's schedule runs on
 * it: the block timer is an exact monotonic deadline, and a production
 * counts from its tick's due time, so the schedule has no millisecond
 * rounding and keeps its phase. */
uint64_t bm_aggregator_remaining_ns(uint64_t interval_ns, uint64_t elapsed_ns);

/* Where a production whose tick was due at due_ns and is handled at
 * now_ns (monotonic ns) counts from: the due time when the tick is at most
 * interval_ns / BM_AGGREGATOR_CARRY_DIV late (the timer and hand-off
 * latency: the schedule keeps its phase), else now minus that much (the
 * phase moves by the rest of the lateness). So a production starts at
 * least (1 - 1/BM_AGGREGATOR_CARRY_DIV) of the interval after the one
 * before unless that one overran, and a late block is not made up by a
 * burst of blocks (full nodes following by P2P would lag by several
 * blocks). now_ns when the tick is early. */
#define BM_AGGREGATOR_CARRY_DIV 10
uint64_t bm_aggregator_start_ns(uint64_t due_ns, uint64_t now_ns,
                                uint64_t interval_ns);

/* bm_aggregator_remaining_ns in milliseconds. */
uint64_t bm_aggregator_remaining_ms(uint64_t interval_ms, uint64_t elapsed_ms);

static inline struct bm_ref_aggregator
bm_env_aggregator(const struct bm_env *e)
{
    return (struct bm_ref_aggregator){e->ids.aggregator};
}

#endif /* BM_ACTORS_AGGREGATOR_H */
