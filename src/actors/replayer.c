/* Replayer, see replayer.h. */
#include "actors/replayer.h"

#include <stdio.h>
#include <string.h>

#include "actors/sync.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "replayer"
/* Progress line every this many replayed blocks. */
#define PROGRESS_EVERY 1000u

/* A stored block, decoded. */
struct sblock {
    struct bm_signed_header sh;
    struct bm_data data;
};

static void sblock_release(struct sblock *b)
{
    bm_signed_header_release(&b->sh);
    bm_data_release(&b->data);
}

/* Reads and decodes block h (header only when with_data is false). */
static enum bm_err load_block(struct bm_env *env, uint64_t h, bool with_data,
                              struct sblock *out, struct bm_errmsg *em)
{
    struct bm_store_blockbuf bb = {0};
    struct bm_buf hb = {0};
    const struct bm_buf *hdr;
    enum bm_err err;

    sblock_release(out);
    if (with_data) {
        err = bm_store_get_block(env->store, h, &bb, em);
        hdr = &bb.header;
    } else {
        err = bm_store_get_header(env->store, h, &hb, em);
        hdr = &hb;
    }
    if (err == BM_ENOTFOUND) {
        err = bm_errf(em, BM_ENOTFOUND, "replay: block %llu is not in the "
                      "store", (unsigned long long)h);
        goto out;
    }
    if (err != BM_OK) {
        goto out;
    }
    err = bm_signed_header_decode(&out->sh, hdr->ptr, hdr->len);
    if (err == BM_OK && out->sh.header.height != h) {
        err = BM_EHEIGHT_MISMATCH;
    }
    if (err == BM_OK && with_data) {
        err = bm_data_decode(&out->data, bb.data.ptr, bb.data.len);
    }
    if (err != BM_OK) {
        err = bm_errf(em, BM_ECORRUPT, "replay: stored block %llu does not "
                      "decode (%s)", (unsigned long long)h, bm_err_name(err));
    }
out:
    bm_store_blockbuf_release(&bb);
    bm_buf_release(&hb);
    return err;
}

static void hex_of(const struct bm_buf *b, char *out, size_t len)
{
    size_t n = b->len;

    if (2 * n + 1 > len) {
        n = (len - 1) / 2;
    }
    bm_hex_encode(out, b->ptr, n);
    out[2 * n] = '\0';
}

/* Executes block `cur` (height h) and checks the root against `want`. */
static enum bm_err replay_one(struct bm_env *env, const struct sblock *cur,
                              const struct bm_buf *want, const char *want_of,
                              struct bm_errmsg *em)
{
    const struct bm_header *h = &cur->sh.header;
    struct bm_exec_result res = {0};
    struct bm_errmsg xem = {{0}};
    enum bm_err err;

    err = bm_executor_execute_txs(env->exec, cur->data.txs, cur->data.n_txs,
                                  h->height, h->time, h->app_hash.ptr,
                                  h->app_hash.len, &res, &xem);
    if (err != BM_OK) {
        err = bm_errf(em, err, "replay of height %llu: %s",
                      (unsigned long long)h->height,
                      bm_errmsg_str(&xem, err));
    } else if (!bm_buf_eq(&res.state_root, want)) {
        char got[2 * BM_HASH_SIZE + 1], exp[2 * BM_HASH_SIZE + 1];

        hex_of(&res.state_root, got, sizeof(got));
        hex_of(want, exp, sizeof(exp));
        err = bm_errf(em, BM_EAPP_HASH_MISMATCH,
                      "replay of height %llu: app hash %s, but %s says %s",
                      (unsigned long long)h->height, got, want_of, exp);
    } else {
        bm_log_debug(MOD, "replayed height=%llu txs=%zu",
                     (unsigned long long)h->height, cur->data.n_txs);
    }
    bm_exec_result_release(&res);
    return err;
}

static enum bm_err replay(struct bm_env *env, const struct bm_state *st,
                          uint64_t from, uint64_t to, struct bm_errmsg *em)
{
    struct sblock cur = {0}, next = {0};
    uint64_t t0 = bm_env_now_ms(), txs = 0;
    enum bm_err err;

    bm_log_info(MOD, "executor behind the store: replaying blocks from=%llu "
                "to=%llu count=%llu", (unsigned long long)from,
                (unsigned long long)to, (unsigned long long)(to - from + 1));
    err = load_block(env, from, true, &cur, em);
    for (uint64_t h = from; err == BM_OK && h <= to; h++) {
        char what[64];

        if (h < to) {
            err = load_block(env, h + 1, true, &next, em);
            if (err != BM_OK) {
                break;
            }
            snprintf(what, sizeof(what), "header %llu",
                     (unsigned long long)(h + 1));
            err = replay_one(env, &cur, &next.sh.header.app_hash, what, em);
        } else {
            snprintf(what, sizeof(what), "the stored state at %llu",
                     (unsigned long long)h);
            err = replay_one(env, &cur, &st->app_hash, what, em);
        }
        if (err != BM_OK) {
            break;
        }
        txs += cur.data.n_txs;
        if ((h - from + 1) % PROGRESS_EVERY == 0 && h < to) {
            bm_log_info(MOD, "replay progress height=%llu of=%llu",
                        (unsigned long long)h, (unsigned long long)to);
        }
        /* The next block becomes the current one. */
        sblock_release(&cur);
        cur = next;
        memset(&next, 0, sizeof(next));
    }
    sblock_release(&cur);
    sblock_release(&next);
    if (err == BM_OK) {
        bm_log_info(MOD, "replayed blocks from=%llu to=%llu count=%llu "
                    "txs=%llu ms=%llu", (unsigned long long)from,
                    (unsigned long long)to,
                    (unsigned long long)(to - from + 1),
                    (unsigned long long)txs,
                    (unsigned long long)(bm_env_now_ms() - t0));
    } else {
        bm_log_error(MOD, "replay failed err=%s: %s", bm_err_name(err),
                     bm_errmsg_str(em, err));
    }
    return err;
}

/* The app hash after height h: the state's for the store height, else
 * the state stored at h, else the app hash header h + 1 carries. */
static enum bm_err app_hash_after(struct bm_env *env,
                                  const struct bm_state *st, uint64_t h,
                                  struct bm_buf *out, struct bm_errmsg *em)
{
    struct bm_buf sb = {0};
    struct bm_state s = {0};
    struct sblock next = {0};
    enum bm_err err;

    if (h == st->last_block_height) {
        return bm_buf_copy(out, &st->app_hash);
    }
    err = bm_store_get_state(env->store, h, &sb, NULL);
    if (err == BM_OK && bm_state_decode(&s, sb.ptr, sb.len) == BM_OK) {
        err = bm_buf_copy(out, &s.app_hash);
    } else {
        err = load_block(env, h + 1, false, &next, em);
        if (err == BM_OK) {
            err = bm_buf_copy(out, &next.sh.header.app_hash);
        }
    }
    bm_state_release(&s);
    bm_buf_release(&sb);
    sblock_release(&next);
    return err;
}

/*
 * With an executor that reports its state root (get_state_root): checks
 * that it is on this chain at the lower of the two heights. BM_OK and
 * *checked true when it is; *checked false when the op is missing.
 */
static enum bm_err same_chain(struct bm_env *env, const struct bm_state *st,
                              uint64_t exec_h, bool *checked,
                              struct bm_errmsg *em)
{
    uint64_t h = exec_h < st->last_block_height ? exec_h
                                                : st->last_block_height;
    struct bm_buf got = {0}, want = {0};
    enum bm_err err;

    *checked = false;
    err = bm_executor_get_state_root(env->exec, h, &got, em);
    if (err == BM_EUNSUPPORTED) {
        return BM_OK;
    }
    if (err == BM_OK) {
        err = app_hash_after(env, st, h, &want, em);
    }
    if (err == BM_OK && !bm_buf_eq(&got, &want)) {
        char g[2 * BM_HASH_SIZE + 1], w[2 * BM_HASH_SIZE + 1];

        hex_of(&got, g, sizeof(g));
        hex_of(&want, w, sizeof(w));
        err = bm_errf(em, BM_EEXEC_CHAIN,
                      "the executor's state root at height %llu is %s but "
                      "the store's app hash there is %s: the executor is on "
                      "another chain (for the EVM executor: the execution "
                      "client's data belongs to another chain; start it on "
                      "this chain's genesis with an empty data directory)",
                      (unsigned long long)h, g, w);
    }
    if (err == BM_OK) {
        *checked = true;
    }
    bm_buf_release(&got);
    bm_buf_release(&want);
    return err;
}

enum bm_err bm_replayer_sync(struct bm_env *env, const struct bm_state *st,
                             struct bm_errmsg *em)
{
    uint64_t store_h = st->last_block_height;
    uint64_t exec_h = 0;
    uint64_t genesis_h = env->genesis->initial_height - 1;
    enum bm_err err;

    err = bm_executor_get_latest_height(env->exec, &exec_h, em);
    if (err == BM_EUNSUPPORTED) {
        bm_log_debug(MOD, "executor has no height: not checked");
        return BM_OK;
    }
    if (err != BM_OK) {
        return err;
    }
    if (exec_h >= genesis_h) {
        bool checked = false;

        err = same_chain(env, st, exec_h, &checked, em);
        if (err != BM_OK) {
            return err;
        }
        if (checked && exec_h > store_h) {
            /* the same chain at the store height: what is above it is the
             * executor's own, rolled back as ev-node does */
            bm_log_warn(MOD, "executor ahead of the store on the same chain: "
                        "rolling it back from=%llu to=%llu",
                        (unsigned long long)exec_h,
                        (unsigned long long)store_h);
            return bm_executor_rollback(env->exec, store_h, em);
        }
    }
    if (exec_h == store_h) {
        bm_log_info(MOD, "executor in sync with the store height=%llu",
                    (unsigned long long)store_h);
        return BM_OK;
    }
    if (exec_h > store_h) {
        /* A crash between execution and commit: one block, or a group of
         * a catch-up (actors/sync.h: the executor's heights may reach its
         * disk before the store's commit of the group). */
        if (exec_h - store_h <= BM_SYNC_GROUP_MAX) {
            bm_log_warn(MOD, "executor ahead of the store by %llu block(s) "
                        "(a crash between execution and commit): rolling "
                        "it back from=%llu to=%llu",
                        (unsigned long long)(exec_h - store_h),
                        (unsigned long long)exec_h,
                        (unsigned long long)store_h);
            err = bm_executor_rollback(env->exec, store_h, em);
            if (err == BM_EUNSUPPORTED) {
                /* No rollback op: executing the same blocks again is
                 * idempotent; a different block would be refused by it. */
                bm_log_warn(MOD, "executor cannot roll back; continuing");
                return BM_OK;
            }
            if (err != BM_ENOTFOUND) {
                return err;
            }
            /* Beyond its undo records: the operator's repair below. */
        }
        return bm_errf(em, BM_EEXEC_AHEAD,
                       "executor is at height %llu but the store is at "
                       "height %llu (was the store rolled back?): stop the "
                       "node and run `blockv2 exec rollback --height %llu` "
                       "on this home (`--home DIR`), then start it again",
                       (unsigned long long)exec_h,
                       (unsigned long long)store_h,
                       (unsigned long long)store_h);
    }
    if (exec_h < genesis_h) {
        return bm_errf(em, BM_ESTATE, "executor height %llu is below the "
                       "genesis height %llu", (unsigned long long)exec_h,
                       (unsigned long long)genesis_h);
    }
    return replay(env, st, exec_h + 1, store_h, em);
}
