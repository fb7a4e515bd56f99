/*
 * Catch-up before production (node.catchup_timeout; ev-node's
 * NewAggregatorWithCatchupComponents and its failover waitForCatchup).
 *
 * An aggregator configured with a catch-up timeout first syncs like a full
 * node: the Retriever walks the DA layer from its cursor and the Sync
 * actor validates, executes and commits what it finds (so an aggregator
 * restarted on a home whose store is behind the DA chain picks up the
 * blocks produced meanwhile, e.g. by the instance it replaces, instead of
 * forking at the next height). Meanwhile the Producer makes no block and
 * the DASubmitter submits nothing. Catch-up ends when all of these hold:
 *  - DA: the Retriever reached the DA head (a header.NetworkHead at or
 *    below its cursor) and the Sync actor has handled everything the
 *    Retriever sent (a FLUSH round trip). As in ev-node the DA part has
 *    no timeout: producing before the DA head is known would fork the
 *    chain.
 *  - P2P: the store reached the height of the P2P header and data stores,
 *    or catchup_timeout has passed since the start (then P2P is ignored).
 *    blockv2 has no P2P layer yet (issue 14): without P2P stores
 *    (bm_manager_params.header_store/data_store NULL) this holds at once.
 *    NEEDSWORK(issue 14): the StoreSync actor must then also run during
 *    catch-up to feed P2P blocks to Sync (src/manager/tree.c).
 * Then the Retriever of the aggregator goes idle, the DASubmitter starts
 * (from the last-submitted heights, which Sync advanced for the blocks it
 * took from DA, so they are not submitted again) and the Producer makes
 * the next block. Without a DA layer there is nothing to catch up from:
 * catch-up is skipped with a warning.
 *
 * Thread-safety: the flag is atomic; any actor may ask; only the manager
 * (before the actors start) and the Retriever change it.
 */
#ifndef BM_ACTORS_CATCHUP_H
#define BM_ACTORS_CATCHUP_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/env.h"

/* True while the aggregator catches up (no production, no submission). */
bool bm_catchup_active(const struct bm_env *env);

/* Called by the manager before the actors start: enters catch-up when
 * cfg.catchup_timeout_ms > 0 on an aggregator with DA (logs either way).
 * Not thread-safe (single-threaded start-up). */
void bm_catchup_begin(struct bm_env *env);

/*
 * The P2P condition: true without P2P stores, when the store height is
 * at least the P2P stores' height (which is > 0), or once
 * catchup_timeout_ms has passed since bm_catchup_begin. May block briefly
 * (the P2P stores' height()). Any thread.
 */
bool bm_catchup_p2p_done(struct bm_env *env, uint64_t store_height);

/*
 * Called by the Retriever once the DA part holds (head reached, Sync
 * drained): ends catch-up if the P2P condition holds too, logging the
 * heights. Returns true when catch-up is over (now or before).
 */
bool bm_catchup_try_finish(struct bm_env *env, uint64_t store_height);

#endif /* BM_ACTORS_CATCHUP_H */
