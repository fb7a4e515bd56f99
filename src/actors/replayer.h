/*
 * Replayer (ev-node's execution replayer, block/internal/common/replay.go):
 * at start-up, after the state is loaded and before any actor runs, the
 * executor is brought to the store height, so that producing or syncing
 * never finds it at another height.
 *
 *  - Executor at the store height: nothing to do.
 *  - Behind (its last commits were lost, e.g. an OS crash with the KV's
 *    lighter sync, or it was rolled back or reset): every missing block is
 *    read from the store and executed again, in order, with the block's
 *    own time and the app hash its header carries as the previous root;
 *    the resulting root must equal the app hash of the next stored header
 *    (for the last stored block: the stored state's app hash) before the
 *    next block is replayed. A mismatch is BM_EAPP_HASH_MISMATCH.
 *  - Up to BM_SYNC_GROUP_MAX blocks ahead: the crash window between
 *    executing blocks and committing them to the store (one block, or
 *    the group of a catch-up, actors/sync.h). The executor is rolled back
 *    to the store height (its rollback op) and the block manager executes
 *    those blocks again as usual; an executor without the op executes
 *    them again idempotently.
 *  - Further ahead (the store was rolled back, or lost data): refused
 *    with BM_EEXEC_AHEAD naming both heights and the repair,
 *    `blockv2 exec rollback --height <store height>` on this home.
 *
 * An executor with get_state_root is first checked to be on this chain
 * at the lower of the two heights (its root there must be the store's app
 * hash; else BM_EEXEC_CHAIN, "on another chain"); when it is, an executor
 * ahead by any number of blocks is rolled back to the store height, as
 * ev-node does.
 *
 * An executor without get_latest_height (the optional HeightProvider op)
 * is not checked, as in ev-node. Called by the manager (and tests) before
 * the actor system starts, and by the Sync actor when the executor says
 * it is behind (BM_EHEIGHT_MISMATCH: an execution client that lost its
 * last blocks while the node ran); never by two threads at once. May
 * block (store reads, executor calls).
 */
#ifndef BM_ACTORS_REPLAYER_H
#define BM_ACTORS_REPLAYER_H

#include "actors/env.h"

/*
 * Brings env->exec to the height of st (borrowed: the state loaded from
 * env->store by bm_bootstrap_state) as above. Logs what it did (replayed
 * heights, rollback). Errors: BM_EEXEC_AHEAD, BM_EEXEC_CHAIN,
 * BM_EAPP_HASH_MISMATCH,
 * BM_ENOTFOUND (a block to replay is not in the store), BM_ECORRUPT (a
 * stored block does not decode), and the executor's and store's errors,
 * with the height in em.
 */
enum bm_err bm_replayer_sync(struct bm_env *env, const struct bm_state *st,
                             struct bm_errmsg *em);

#endif /* BM_ACTORS_REPLAYER_H */
