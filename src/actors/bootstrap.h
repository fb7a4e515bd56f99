/*
 * Start-up of the block manager's state (spec 4.4, current behaviour):
 * load the state at the store height, or create the genesis state
 * (InitChain) and persist it with the height initial_height - 1, so the
 * State actor always finds a state. Single-threaded: called by the manager
 * (and tests) before the actors run.
 */
#ifndef BM_ACTORS_BOOTSTRAP_H
#define BM_ACTORS_BOOTSTRAP_H

#include "actors/env.h"

/*
 * Loads or creates the state. A fresh store: InitChain(genesis time,
 * initial height, chain id) and the state {version {0,0}, chain id,
 * initial_height, last_block_height = initial_height - 1, last_block_time
 * = genesis start time, da_height = genesis da_start_height, app_hash =
 * root, next_proposer_address = genesis proposer} is stored. An existing
 * state must have the genesis chain id (BM_ECHAIN_ID_MISMATCH) and
 * initial height (BM_EGENESIS); InitChain is then called again (it is
 * idempotent) so the executor checks it too. *out (may be NULL; released
 * first) receives the state. May block.
 */
enum bm_err bm_bootstrap_state(struct bm_env *env, struct bm_state *out,
                               struct bm_errmsg *em);

#endif /* BM_ACTORS_BOOTSTRAP_H */
