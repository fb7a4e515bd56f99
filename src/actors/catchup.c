/* Catch-up before production, see catchup.h. */
#include "actors/catchup.h"

#include "util/log.h"

#define MOD "catchup"

bool bm_catchup_active(const struct bm_env *env)
{
    return atomic_load(&((struct bm_env *)env)->catching_up);
}

void bm_catchup_begin(struct bm_env *env)
{
    bool p2p = env->header_store != NULL && env->data_store != NULL;

    if (env->cfg.catchup_timeout_ms == 0 || !env->cfg.aggregator) {
        return;
    }
    if (env->da == NULL && !p2p) {
        bm_log_warn(MOD, "node.catchup_timeout is set but there is neither "
                    "a DA layer nor P2P to catch up from; producing at "
                    "once");
        return;
    }
    env->catchup_start_ms = bm_env_now_ms();
    /* Without DA the DA part holds from the start. */
    atomic_store(&env->catchup_da_done, env->da == NULL);
    atomic_store(&env->catching_up, true);
    bm_log_info(MOD, "syncing from %s before producing blocks "
                "p2p_timeout_ms=%llu",
                env->da != NULL ? (p2p ? "DA and P2P" : "DA") : "P2P",
                (unsigned long long)env->cfg.catchup_timeout_ms);
}

/* max(height of the P2P header store, of the data store); 0 if unknown. */
static uint64_t p2p_height(struct bm_env *env)
{
    const struct bm_p2p_store *s[2] = {env->header_store, env->data_store};
    uint64_t best = 0;

    for (int i = 0; i < 2; i++) {
        uint64_t h = 0;

        if (s[i] != NULL && s[i]->height != NULL &&
            s[i]->height(s[i]->ctx, &h) == BM_OK && h > best) {
            best = h;
        }
    }
    return best;
}

bool bm_catchup_p2p_done(struct bm_env *env, uint64_t store_height)
{
    uint64_t ph;

    if (env->header_store == NULL && env->data_store == NULL) {
        return true; /* no P2P source (issue 14) */
    }
    if (bm_env_now_ms() - env->catchup_start_ms >=
        env->cfg.catchup_timeout_ms) {
        return true; /* the P2P wait is over: P2P is ignored */
    }
    ph = p2p_height(env);
    return ph > 0 && store_height >= ph;
}

/* Ends catch-up when the P2P part holds (the DA part held). */
static bool finish(struct bm_env *env, uint64_t store_height)
{
    bool expected = true;

    if (!bm_catchup_p2p_done(env, store_height)) {
        return false;
    }
    /* Retriever and StoreSync may both get here: one logs. */
    if (!atomic_compare_exchange_strong(&env->catching_up, &expected,
                                        false)) {
        return true;
    }
    bm_log_info(MOD, "caught up: producing blocks height=%llu ms=%llu",
                (unsigned long long)store_height,
                (unsigned long long)(bm_env_now_ms() - env->catchup_start_ms));
    return true;
}

bool bm_catchup_try_finish(struct bm_env *env, uint64_t store_height)
{
    if (!bm_catchup_active(env)) {
        return true;
    }
    atomic_store(&env->catchup_da_done, true);
    return finish(env, store_height);
}

bool bm_catchup_poll_p2p(struct bm_env *env, uint64_t store_height)
{
    if (!bm_catchup_active(env)) {
        return true;
    }
    if (!atomic_load(&env->catchup_da_done)) {
        return false;
    }
    return finish(env, store_height);
}
