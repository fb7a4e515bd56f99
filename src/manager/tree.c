#include "manager/tree.h"

#include <string.h>

#include "actors/aggregator.h"
#include "actors/broadcaster.h"
#include "actors/catchup.h"
#include "actors/da_includer.h"
#include "actors/da_submitter.h"
#include "actors/producer.h"
#include "actors/reaper.h"
#include "actors/retriever.h"
#include "actors/sequencer.h"
#include "actors/state.h"
#include "actors/store_sync.h"
#include "actors/sync.h"
#include "actors/validator.h"
#include "actors/verifier.h"
#include "util/errmsg.h"

/* Time a child gets to stop. The producer may be finishing a block (an
 * executor call, a commit); DA actors may be inside a DA call. */
#define SHUTDOWN_CORE_MS 30000
#define SHUTDOWN_DA_MS 15000

/* Where a child runs: a worker of the pool, its own thread, or the block
 * lane (docs/ARCHITECTURE.md "Threads"). */
enum where { POOLED, DETACHED, BLOCK_LANE };

static void child(struct bm_child_spec *c, size_t *n, const char *name,
                  const struct bm_actor_type *type, struct bm_env *env,
                  enum where where, enum bm_overflow ov, int64_t shutdown_ms,
                  struct bm_actor_id *id_out)
{
    struct bm_child_spec *s = &c[(*n)++];

    memset(s, 0, sizeof(*s));
    s->name = name;
    s->type = type;
    s->arg = env;
    s->opts.detached = where == DETACHED;
    s->opts.lane = where == BLOCK_LANE ? BM_TREE_BLOCK_LANE : NULL;
    s->opts.overflow = ov;
    s->opts.capacity = env->cfg.mailbox_capacity;
    s->opts.block_timeout_ms = 5000;
    s->restart = BM_RESTART_PERMANENT;
    s->shutdown_ms = shutdown_ms;
    s->id_out = id_out;
}

void bm_tree_build(struct bm_tree *t, struct bm_env *env)
{
    bool agg = env->cfg.aggregator;
    bool da = env->da != NULL;
    bool p2p = env->header_store != NULL && env->data_store != NULL;
    size_t nc = 0, ns = 0;

    memset(t, 0, sizeof(*t));
    child(t->core, &nc, "state", &bm_state_actor_type, env, BLOCK_LANE,
          BM_OVERFLOW_REJECT, SHUTDOWN_CORE_MS, &env->ids.state);
    child(t->core, &nc, "validator", &bm_validator_actor_type, env, POOLED,
          BM_OVERFLOW_REJECT, 0, &env->ids.validator);
    if (agg) {
        child(t->core, &nc, "sequencer", &bm_sequencer_actor_type, env,
              BLOCK_LANE, BM_OVERFLOW_REJECT, SHUTDOWN_CORE_MS,
              &env->ids.sequencer);
    }
    child(t->core, &nc, "sync", &bm_sync_actor_type, env, BLOCK_LANE,
          BM_OVERFLOW_BLOCK, SHUTDOWN_CORE_MS, &env->ids.sync);
    if (agg) {
        child(t->core, &nc, "producer", &bm_producer_actor_type, env,
              BLOCK_LANE, BM_OVERFLOW_REJECT, SHUTDOWN_CORE_MS,
              &env->ids.producer);
        child(t->core, &nc, "aggregator", &bm_aggregator_actor_type, env,
              POOLED, BM_OVERFLOW_DROP_OLDEST, 0, &env->ids.aggregator);
    }
    child(t->support, &ns, "broadcaster", &bm_broadcaster_actor_type, env,
          DETACHED, BM_OVERFLOW_REJECT, SHUTDOWN_DA_MS,
          &env->ids.broadcaster);
    /* Signature checks of a catch-up (actors/verifier.h): one per worker,
     * before the Retriever and StoreSync that hand them work. */
    if (!agg || bm_catchup_active(env)) {
        static const char *const names[BM_ENV_MAX_VERIFIERS] = {
            "verifier0", "verifier1", "verifier2", "verifier3",
            "verifier4", "verifier5", "verifier6", "verifier7"};
        size_t nv = env->cfg.workers < BM_ENV_MAX_VERIFIERS
                        ? env->cfg.workers
                        : BM_ENV_MAX_VERIFIERS;

        for (size_t i = 0; i < nv; i++) {
            child(t->support, &ns, names[i], &bm_verifier_actor_type, env,
                  POOLED, BM_OVERFLOW_REJECT, 0, &env->ids.verifier[i]);
        }
        env->n_verifiers = nv;
    }
    if (da) {
        child(t->support, &ns, "da_includer", &bm_da_includer_actor_type,
              env, DETACHED, BM_OVERFLOW_DROP_OLDEST, SHUTDOWN_DA_MS,
              &env->ids.da_includer);
    }
    if (agg && da) {
        child(t->support, &ns, "da_submitter", &bm_da_submitter_actor_type,
              env, DETACHED, BM_OVERFLOW_DROP_OLDEST, SHUTDOWN_DA_MS,
              &env->ids.da_submitter);
    }
    /* An aggregator runs a Retriever, and with P2P stores a StoreSync,
     * only to catch up (actors/catchup.h); both go idle after it. */
    if (da && (!agg || bm_catchup_active(env))) {
        child(t->support, &ns, "retriever", &bm_retriever_actor_type, env,
              DETACHED, BM_OVERFLOW_DROP_OLDEST, SHUTDOWN_DA_MS,
              &env->ids.retriever);
    }
    if (agg) {
        child(t->support, &ns, "reaper", &bm_reaper_actor_type, env,
              DETACHED, BM_OVERFLOW_DROP_OLDEST, SHUTDOWN_DA_MS,
              &env->ids.reaper);
    }
    if (!agg || (p2p && bm_catchup_active(env))) {
        child(t->support, &ns, "store_sync", &bm_store_sync_actor_type, env,
              DETACHED, BM_OVERFLOW_DROP_OLDEST, SHUTDOWN_DA_MS,
              &env->ids.store_sync);
    }
    t->core_spec = (struct bm_supervisor_spec){
        .name = "core", .strategy = BM_SUP_REST_FOR_ONE, .intensity = 5,
        .period_ms = 30000, .children = t->core, .n_children = nc};
    t->support_spec = (struct bm_supervisor_spec){
        .name = "support", .strategy = BM_SUP_ONE_FOR_ONE, .intensity = 10,
        .period_ms = 30000, .children = t->support, .n_children = ns};
    t->top[0] = (struct bm_child_spec){.name = "core",
                                       .sup = &t->core_spec,
                                       .restart = BM_RESTART_PERMANENT,
                                       .shutdown_ms = -1,
                                       .id_out = &t->core_id};
    t->top[1] = (struct bm_child_spec){.name = "support",
                                       .sup = &t->support_spec,
                                       .restart = BM_RESTART_PERMANENT,
                                       .shutdown_ms = -1,
                                       .id_out = &t->support_id};
    t->root_spec = (struct bm_supervisor_spec){
        .name = "blockmanager", .strategy = BM_SUP_REST_FOR_ONE,
        .intensity = 3, .period_ms = 60000, .children = t->top,
        .n_children = 2};
}

enum bm_err bm_tree_start(struct bm_tree *t, struct bm_env *env,
                          struct bm_errmsg *em)
{
    int err = bm_supervisor_start(env->sys, &t->root_spec, &t->root_id);

    if (err != BM_OK) {
        return bm_errf(em, err, "manager: cannot start the actor tree: %s",
                       bm_err_name(err));
    }
    if (!bm_actor_id_is_none(env->ids.da_submitter)) {
        (void)bm_env_subscribe(env, env->ids.da_submitter,
                               BM_DA_SUBMITTER_NEW_HEIGHT);
    }
    if (!bm_actor_id_is_none(env->ids.da_includer)) {
        (void)bm_env_subscribe(env, env->ids.da_includer,
                               BM_DA_INCLUDER_NEW_HEIGHT);
    }
    return BM_OK;
}

struct bm_actor_id bm_tree_lookup(const struct bm_env *env, const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"state", offsetof(struct bm_env_ids, state)},
        {"validator", offsetof(struct bm_env_ids, validator)},
        {"sequencer", offsetof(struct bm_env_ids, sequencer)},
        {"producer", offsetof(struct bm_env_ids, producer)},
        {"aggregator", offsetof(struct bm_env_ids, aggregator)},
        {"sync", offsetof(struct bm_env_ids, sync)},
        {"broadcaster", offsetof(struct bm_env_ids, broadcaster)},
        {"retriever", offsetof(struct bm_env_ids, retriever)},
        {"da_submitter", offsetof(struct bm_env_ids, da_submitter)},
        {"da_includer", offsetof(struct bm_env_ids, da_includer)},
        {"reaper", offsetof(struct bm_env_ids, reaper)},
        {"store_sync", offsetof(struct bm_env_ids, store_sync)},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].name, name) == 0) {
            const char *base = (const char *)&env->ids;

            return *(const struct bm_actor_id *)(const void *)(base +
                                                               map[i].off);
        }
    }
    return BM_ACTOR_ID_NONE;
}
