/*
 * The Producer's high-availability hooks (docs/HA.md): the gate before a
 * block is made and the replication between its commit and its
 * publication. Only used when the node runs with ha.* (env->ha != NULL).
 */
#ifndef BM_ACTORS_HA_GATE_H
#define BM_ACTORS_HA_GATE_H

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

#endif /* BM_ACTORS_HA_GATE_H */
