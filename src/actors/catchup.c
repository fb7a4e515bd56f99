/* Catch-up before production, see catchup.h. */
#include "actors/catchup.h"

#include <inttypes.h>
#include <string.h>

#include "actors/aggregator.h"
#include "actors/ha_gate.h"
#include "actors/state.h"
#include "actors/sync.h"
#include "blockv2/ha.h"
#include "blockv2/store.h"
#include "blockv2/types.h"
#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "catchup"

bool bm_catchup_active(const struct bm_env *env)
{
    return atomic_load(&((struct bm_env *)env)->catching_up);
}

/* HA candidates follow (docs/HA.md "Followers") when they have a source
 * to follow: DA or the P2P stores. */
static bool ha_follows(const struct bm_env *env)
{
    return env->ha != NULL && env->cfg.aggregator &&
           (env->da != NULL ||
            (env->header_store != NULL && env->data_store != NULL));
}

void bm_catchup_begin(struct bm_env *env)
{
    bool p2p = env->header_store != NULL && env->data_store != NULL;

    if (ha_follows(env)) {
        atomic_store(&env->catchup_da_done, false);
        atomic_store(&env->catching_up, true);
        bm_log_info(MOD, "ha: following from %s until this candidate leads "
                    "and its store is at the replicated height",
                    env->da != NULL ? (p2p ? "DA and P2P" : "DA") : "P2P");
        return;
    }
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

/*
 * Failover catch-up: this leader's store is one block below the
 * replicated record (the old leader replicated it and died before
 * publishing it). Hands the record's header and data to Sync, which
 * validates and applies them as any P2P block; at most once a second per
 * height.
 */
void bm_catchup_ha_apply_record(struct bm_env *env, uint64_t height)
{
    struct bm_raft_block_state rec = {0};
    struct bm_sync_items_in m = {0};
    struct bm_signed_header *sh = NULL;
    struct bm_data *d = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_buf raw = {0};
    uint64_t now = bm_env_now_ms();
    int err;

    if (atomic_load(&env->ha_applied_height) == height &&
        now - atomic_load(&env->ha_applied_ms) < 1000) {
        return;
    }
    atomic_store(&env->ha_applied_height, height);
    atomic_store(&env->ha_applied_ms, now);
    err = bm_ha_record(env->ha, &raw);
    if (err == BM_OK) {
        err = bm_raft_block_state_decode(&rec, raw.ptr, raw.len);
    }
    if (err == BM_OK && rec.height != height) {
        err = bm_errf(&em, BM_ESTATE, "the record moved on to height %" PRIu64,
                      rec.height);
    }
    if (err == BM_OK) {
        sh = bm_xcalloc(1, sizeof(*sh));
        err = bm_signed_header_decode(sh, rec.header.ptr, rec.header.len);
        if (err != BM_OK) {
            bm_errf(&em, err, "record.header: not a SignedHeader");
        }
    }
    if (err == BM_OK && sh->header.height != height) {
        err = bm_errf(&em, BM_EHEIGHT_MISMATCH,
                      "record.header.height: got %" PRIu64 ", want %" PRIu64,
                      sh->header.height, height);
    }
    if (err == BM_OK) {
        err = bm_signed_header_validate_basic(sh, bm_validate_now_ns(), &em);
    }
    if (err == BM_OK) {
        d = bm_xcalloc(1, sizeof(*d));
        if (bm_data_decode(d, rec.data.ptr, rec.data.len) != BM_OK ||
            !d->has_metadata || d->metadata.height != height) {
            /* an empty block's data need not travel: Sync makes it */
            bm_data_release(d);
            bm_free(d);
            d = NULL;
        }
        m.headers = bm_xcalloc(1, sizeof(*m.headers));
        m.headers[0] = (struct bm_sync_header_in){
            .sh = sh, .source = BM_SRC_P2P, .sig_verified = true};
        m.n_headers = 1;
        sh = NULL;
        if (d != NULL) {
            m.data = bm_xcalloc(1, sizeof(*m.data));
            m.data[0] = (struct bm_sync_data_in){.data = d,
                                                 .source = BM_SRC_P2P};
            m.n_data = 1;
            d = NULL;
        }
        err = bm_sync_tell_items_in(env->sys, bm_env_sync(env), &m);
        if (err == BM_OK) {
            memset(&m, 0, sizeof(m)); /* Sync owns them */
        } else {
            bm_errf(&em, err, "Sync did not take it");
        }
    }
    if (err == BM_OK) {
        bm_log_info(MOD, "ha: applying the replicated block height=%" PRIu64
                    " from the record", height);
    } else {
        bm_log_warn(MOD, "ha: cannot apply the replicated block height=%" PRIu64
                    " from the record err=%s: %s", height, bm_err_name(err),
                    bm_errmsg_str(&em, err));
    }
    bm_sync_items_in_dtor(&m);
    if (sh != NULL) {
        bm_signed_header_release(sh);
        bm_free(sh);
    }
    bm_raft_block_state_release(&rec);
    bm_buf_release(&raw);
}

bool bm_catchup_ha_poll(struct bm_env *env)
{
    struct bm_ha_status st;
    uint64_t height = 0;
    bool expected;
    int err;

    if (!ha_follows(env)) {
        return !bm_catchup_active(env);
    }
    bm_ha_status(env->ha, &st);
    err = bm_store_height(env->store, &height, NULL);
    if (err == BM_OK || err == BM_ENOTFOUND) {
        /* a follower far behind lets one at the record win */
        bm_ha_note_store_height(env->ha, err == BM_OK ? height : 0);
    }
    if (st.role != BM_HA_LEADER) {
        expected = false;
        if (atomic_compare_exchange_strong(&env->catching_up, &expected,
                                           true)) {
            bm_log_info(MOD, "ha: not leading (leader '%s'): following",
                        st.leader_id[0] ? st.leader_id : "unknown");
        }
        /* A deposed leader's head the cluster replaced: nothing can
         * follow on top of it. Sync, the owner of block application,
         * rolls it back at run time (actors/sync.h, ROLLBACK); a stale
         * or repeated request does nothing there, and a send that fails
         * is tried again at the next poll. */
        if (bm_ha_gate_head_diverged(env, &height) && !bm_env_halted(env) &&
            !bm_actor_id_is_none(env->ids.sync)) {
            struct bm_sync_rollback rb = {height};

            err = bm_sync_tell_rollback(env->sys, bm_env_sync(env), &rb);
            if (err != BM_OK) {
                bm_log_debug(MOD, "ha: rollback of height=%" PRIu64
                             " not sent to Sync err=%s (next poll)", height,
                             bm_err_name(err));
            }
        }
        return false;
    }
    if (!bm_catchup_active(env)) {
        return true;
    }
    err = bm_store_height(env->store, &height, NULL);
    if (err != BM_OK && err != BM_ENOTFOUND) {
        return false;
    }
    if (err == BM_ENOTFOUND) {
        height = 0;
    }
    if (st.replicated_known && height < st.replicated_height) {
        if (height + 1 == st.replicated_height) {
            bm_catchup_ha_apply_record(env, st.replicated_height);
        }
        return false;
    }
    expected = true;
    if (atomic_compare_exchange_strong(&env->catching_up, &expected, false)) {
        struct bm_aggregator_kick k = {0};

        atomic_fetch_add(&env->catchup_epoch, 1);
        bm_log_info(MOD, "ha: leading at height=%" PRIu64
                    " (replicated %" PRIu64 "): producing blocks",
                    height, st.replicated_known ? st.replicated_height : 0);
        /* the first block now, not at the next tick (from the Producer's
         * own round this only marks that round: it produces) */
        if (!bm_actor_id_is_none(env->ids.aggregator)) {
            (void)bm_aggregator_tell_kick(env->sys, bm_env_aggregator(env),
                                          &k);
        }
    }
    return true;
}

void bm_catchup_ha_synced(struct bm_env *env)
{
    struct bm_ha_status st;
    uint64_t height = 0;

    if (!ha_follows(env) || !bm_catchup_active(env)) {
        return;
    }
    bm_ha_status(env->ha, &st);
    if (st.role == BM_HA_LEADER) {
        (void)bm_catchup_ha_poll(env);
    } else if (bm_store_height(env->store, &height, NULL) == BM_OK) {
        bm_ha_note_store_height(env->ha, height);
    }
}

bool bm_catchup_try_finish(struct bm_env *env, uint64_t store_height)
{
    if (ha_follows(env)) {
        return bm_catchup_ha_poll(env);
    }
    if (!bm_catchup_active(env)) {
        return true;
    }
    atomic_store(&env->catchup_da_done, true);
    return finish(env, store_height);
}

bool bm_catchup_poll_p2p(struct bm_env *env, uint64_t store_height)
{
    if (ha_follows(env)) {
        return bm_catchup_ha_poll(env);
    }
    if (!bm_catchup_active(env)) {
        return true;
    }
    if (!atomic_load(&env->catchup_da_done)) {
        return false;
    }
    return finish(env, store_height);
}
