/*
 * The block manager's supervision tree (docs/ARCHITECTURE.md, "Block
 * manager"):
 *
 *   blockmanager (rest_for_one, 3 restarts / 60 s)
 *   |-- core (rest_for_one, 5 / 30 s)
 *   |     state -> validator -> sequencer* -> sync -> producer* ->
 *   |     aggregator*
 *   `-- support (one_for_one, 10 / 30 s)
 *         broadcaster, verifier0..-, da_includer+, da_submitter*+,
 *         retriever-+, reaper*, store_sync-
 *   (* aggregator only, - full node only (and an aggregator that catches
 *   up), + with DA; one verifier per scheduler worker)
 *
 * rest_for_one in core: an actor restarts together with every actor
 * started after it, because those cache what it owns (the State actor's
 * state, the Sync actor's state copy). Support actors are independent and
 * reload their cursors from the store, so they restart alone. Stop runs in
 * reverse start order: support first, then the aggregator, the producer,
 * sync, sequencer, validator and finally the State actor; before it, the
 * manager drains the producer so that its block in flight is committed
 * (bm_producer_drain).
 */
#ifndef BM_MANAGER_TREE_H
#define BM_MANAGER_TREE_H

#include "actors/env.h"
#include "blockv2/actor.h"

#define BM_TREE_MAX_CHILDREN 16

/* The lane (actor.h "Lanes") of the actors whose blocking work happens in
 * sequence for each block: State, Sequencer, Sync and Producer (thread
 * "bm:block"). */
#define BM_TREE_BLOCK_LANE "block"

struct bm_tree {
    struct bm_child_spec core[BM_TREE_MAX_CHILDREN];
    struct bm_child_spec support[BM_TREE_MAX_CHILDREN];
    struct bm_child_spec top[2];
    struct bm_supervisor_spec core_spec;
    struct bm_supervisor_spec support_spec;
    struct bm_supervisor_spec root_spec;
    struct bm_actor_id core_id;
    struct bm_actor_id support_id;
    struct bm_actor_id root_id;
};

/* Fills the specs for env's node kind; ids are written into env->ids when
 * the tree starts. t must stay at a fixed address while the tree runs. */
void bm_tree_build(struct bm_tree *t, struct bm_env *env);

/* Starts the tree (before the actor system starts: nothing runs until
 * then) and subscribes the DA actors to new heights. */
enum bm_err bm_tree_start(struct bm_tree *t, struct bm_env *env,
                          struct bm_errmsg *em);

/* The id of the actor called `name` ("state", "producer", ...), or none. */
struct bm_actor_id bm_tree_lookup(const struct bm_env *env, const char *name);

#endif /* BM_MANAGER_TREE_H */
