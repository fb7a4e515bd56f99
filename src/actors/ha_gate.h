/*
 * The Producer's high-availability hooks (docs/HA.md): the gate before a
 * block is made and the replication between its commit and its
 * publication. Only used when the node runs with ha.* (env->ha != NULL).
 */
#ifndef BM_ACTORS_HA_GATE_H
#define BM_ACTORS_HA_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/block.h"
#include "actors/env.h"
#include "actors/state.h"

/*
 * May the producer make block `height` on top of state s (the store's
 * latest)? BM_OK with the fencing token in *token while this node leads
 * and its store is at the replicated state. When its store's head is the
 * one block it committed but could not replicate (a write whose answer
 * was lost, a crash, a lost leadership regained), that block is
 * replicated first, from the store. Otherwise the reason (not the leader,
 * store behind or diverging) is logged (at most once per second) and
 * returned. May block (etcd) up to one call deadline.
 */
int bm_ha_gate_before(struct bm_env *env, const struct bm_state *s,
                      uint64_t height, int64_t *token);

/*
 * After b was committed: replicates its RaftBlockState under token.
 * BM_OK means b may be broadcast and submitted to DA; any error means it
 * must not be (it stays in the store unpublished; the next round's gate
 * replicates it again or refuses). Logs failures. May block.
 */
int bm_ha_gate_after(struct bm_env *env, const struct bm_block *b,
                     const struct bm_state_info *info, int64_t token);

/*
 * A deposed leader's unreplicated head (docs/HA.md): is the store's head
 * (height *height) a block the cluster did not accept, because the
 * record shows another block at that height (the record is at that
 * height with another hash, or one above it on top of another hash)?
 * Such a block was never replicated, so never published. Also true when
 * the head is this node's own block whose write was refused for sure
 * (bm_ha_gate_after: BM_ENOT_LEADER or BM_ELEASE_EXPIRED, noted in
 * env->ha_unreplicated) and the record is at or above its height: the
 * cluster's block there is another one, however far the cluster went.
 * False when the head is the cluster's, or while nothing tells (the
 * record is below the head, or more than one above it for a block this
 * node did not see refused, e.g. after a restart). Reads the store. Any
 * thread.
 */
bool bm_ha_gate_head_diverged(struct bm_env *env, uint64_t *height);

/*
 * Puts the txs of the store's block `height` back in the sequencer's
 * queue (bm_seq_requeue, durable; a tx queued already is skipped, so a
 * second call after a crash adds nothing): the block is about to be
 * rolled back, and its txs were acknowledged and are in no block the
 * cluster accepted. BM_OK without a sequencer. Reads the store; may
 * block (fsync). Any thread.
 */
int bm_ha_gate_requeue_txs(struct bm_env *env, uint64_t height,
                           struct bm_errmsg *em);

/*
 * At start, before the state is loaded: rolls back the store's head when
 * bm_ha_gate_head_diverged says so (one block: the gate never lets a
 * leader make a second unreplicated one), with a warning and the
 * blockv2_ha_rolled_back_blocks_total metric; the replayer then rolls
 * the executor back to the store. BM_OK when nothing was to be done.
 * Single-threaded start-up (the store's writer).
 */
int bm_ha_gate_rollback_diverged(struct bm_env *env, struct bm_errmsg *em);

#endif /* BM_ACTORS_HA_GATE_H */
