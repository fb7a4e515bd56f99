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
 *  - P2P: the store reached the height of the P2P header and data stores
 *    (which is > 0: the best verified height P2P has seen, from gossip or
 *    a peer's head), or catchup_timeout has passed since the start (then
 *    P2P is ignored). Without P2P stores
 *    (bm_manager_params.header_store/data_store NULL) this holds at once.
 *    With them the StoreSync actor runs during catch-up and feeds the P2P
 *    blocks to Sync (src/manager/tree.c), then goes idle.
 * Then the Retriever of the aggregator goes idle, the DASubmitter starts
 * (from the last-submitted heights, which Sync advanced for the blocks it
 * took from DA, so they are not submitted again) and the Producer makes
 * the next block. Without a DA layer the DA part holds at once and
 * catch-up is P2P only (ev-node since #3386 runs without DA); with
 * neither DA nor P2P stores there is nothing to catch up from: catch-up
 * is skipped with a warning.
 *
 * Who ends it: the Retriever once the DA part holds
 * (bm_catchup_try_finish), and the StoreSync actor on every tick once the
 * DA part held (bm_catchup_poll_p2p), whichever sees the P2P part hold
 * first.
 *
 * Thread-safety: the flags are atomic; any actor may ask; only the
 * manager (before the actors start), the Retriever and StoreSync change
 * them.
 */
#ifndef BM_ACTORS_CATCHUP_H
#define BM_ACTORS_CATCHUP_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/env.h"

/* True while the aggregator catches up (no production, no submission). */
bool bm_catchup_active(const struct bm_env *env);

/* Called by the manager before the actors start: enters catch-up when
 * cfg.catchup_timeout_ms > 0 on an aggregator with DA or P2P stores (logs
 * either way). Not thread-safe (single-threaded start-up). */
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
 * drained): records that, and ends catch-up if the P2P condition holds
 * too, logging the heights. Returns true when catch-up is over (now or
 * before).
 */
bool bm_catchup_try_finish(struct bm_env *env, uint64_t store_height);

/*
 * Called by StoreSync on every tick with the store height: ends catch-up
 * if the DA part held already and the P2P condition holds. Returns true
 * when catch-up is over (now or before).
 */
bool bm_catchup_poll_p2p(struct bm_env *env, uint64_t store_height);

/*
 * High availability (docs/HA.md "Followers"): a candidate (env->ha set,
 * with DA or P2P stores) catches up for as long as it does not lead: it
 * syncs like a full node (Retriever, StoreSync, Sync) and makes no block.
 * This poll ends catch-up once it leads and its store reached the
 * replicated height (at the replicated height - 1 it first hands the
 * record's block to Sync: the old leader replicated it, then died before
 * publishing it), and enters it again when it no longer leads. The
 * Producer calls it every round, the Retriever and StoreSync every tick;
 * bm_catchup_try_finish and bm_catchup_poll_p2p come here for such a
 * node (the DA head and the P2P height do not matter: the replicated
 * record says where the chain is). Without HA it only returns
 * !bm_catchup_active. Returns true when not catching up. May block
 * briefly (a store read, a send to Sync). Any thread.
 */
bool bm_catchup_ha_poll(struct bm_env *env);

/*
 * HA: Sync committed blocks. A leader still catching up polls at once
 * (bm_catchup_ha_poll), so its first block does not wait for the next
 * round: when catch-up ends here, the Aggregator is kicked
 * (BM_AGGREGATOR_KICK), as it is whenever catch-up ends. Nothing without
 * HA or while following. Sync's thread.
 */
void bm_catchup_ha_synced(struct bm_env *env);

/*
 * HA: hands the replicated record's block, when the record is at
 * `height`, to Sync (ITEMS_IN, validated and applied as a P2P block): a
 * new leader one block below the record, whose block no peer and no DA
 * has, and a deposed leader that just rolled back its own block at that
 * height (actors/sync.h, ROLLBACK), which need not wait for DA or P2P to
 * bring it again. At most once a second per height; failures are logged.
 * May block briefly (Sync's mailbox). Any thread.
 */
void bm_catchup_ha_apply_record(struct bm_env *env, uint64_t height);

#endif /* BM_ACTORS_CATCHUP_H */
