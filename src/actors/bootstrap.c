#include "actors/bootstrap.h"

#include <string.h>

#include "util/errmsg.h"
#include "util/log.h"

static enum bm_err genesis_state(struct bm_env *env, const struct bm_buf *root,
                                 struct bm_state *st)
{
    const struct bm_genesis *g = env->genesis;
    enum bm_err err;

    memset(st, 0, sizeof(*st));
    err = bm_str_set(&st->chain_id, g->chain_id);
    if (err != BM_OK) {
        return err;
    }
    st->initial_height = g->initial_height;
    st->last_block_height = g->initial_height - 1;
    st->last_block_time.seconds = (int64_t)(g->start_time_ns / 1000000000u);
    st->last_block_time.nanos = (int32_t)(g->start_time_ns % 1000000000u);
    st->da_height = g->da_start_height;
    err = bm_buf_copy(&st->app_hash, root);
    if (err == BM_OK) {
        err = bm_buf_copy(&st->next_proposer_address, &g->proposer_address);
    }
    return err;
}

enum bm_err bm_bootstrap_state(struct bm_env *env, struct bm_state *out,
                               struct bm_errmsg *em)
{
    const struct bm_genesis *g = env->genesis;
    struct bm_buf root = {0}, bytes = {0};
    struct bm_state st = {0};
    uint64_t height = 0;
    enum bm_err err;

    /* The tip block and its state are what the node builds on: a bad
     * value there stops the start, naming the key (the rest of the store
     * is for `blockv2 store check`). */
    err = bm_store_check_tip(env->store, em);
    if (err != BM_OK) {
        goto out;
    }
    err = bm_store_get_latest_state(env->store, &height, &bytes, em);
    if (err == BM_OK) {
        err = bm_state_decode(&st, bytes.ptr, bytes.len);
        if (err != BM_OK) {
            err = bm_errf(em, BM_ECORRUPT,
                          "store: state at height %llu does not decode: %s",
                          (unsigned long long)height, bm_err_name(err));
            goto out;
        }
        if (st.chain_id == NULL || strcmp(st.chain_id, g->chain_id) != 0) {
            err = bm_errf(em, BM_ECHAIN_ID_MISMATCH,
                          "state.chain_id: got '%s', want '%s' (genesis)",
                          st.chain_id ? st.chain_id : "", g->chain_id);
            goto out;
        }
        if (st.initial_height != g->initial_height) {
            err = bm_errf(em, BM_EGENESIS,
                          "state.initial_height: got %llu, want %llu "
                          "(genesis)",
                          (unsigned long long)st.initial_height,
                          (unsigned long long)g->initial_height);
            goto out;
        }
        /* The executor checks its own genesis (idempotent). */
        err = bm_executor_init_chain(env->exec, g->start_time_ns,
                                     g->initial_height, g->chain_id, &root,
                                     em);
        if (err != BM_OK) {
            goto out;
        }
        bm_log_info("manager", "state loaded height=%llu",
                    (unsigned long long)st.last_block_height);
    } else if (err == BM_ENOTFOUND) {
        err = bm_executor_init_chain(env->exec, g->start_time_ns,
                                     g->initial_height, g->chain_id, &root,
                                     em);
        if (err != BM_OK) {
            goto out;
        }
        err = genesis_state(env, &root, &st);
        if (err == BM_OK) {
            err = bm_state_encode(&st, &bytes);
        }
        if (err == BM_OK) {
            err = bm_store_put_state(env->store, st.last_block_height,
                                     bytes.ptr, bytes.len, em);
        }
        if (err != BM_OK) {
            goto out;
        }
        bm_log_info("manager", "genesis state created chain_id=%s "
                    "initial_height=%llu",
                    g->chain_id, (unsigned long long)g->initial_height);
    } else {
        goto out;
    }
    if (out != NULL) {
        bm_state_release(out);
        *out = st;
        memset(&st, 0, sizeof(st));
    }
out:
    bm_state_release(&st);
    bm_buf_release(&root);
    bm_buf_release(&bytes);
    return err;
}
