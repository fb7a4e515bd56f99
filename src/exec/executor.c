/* Executor interface wrappers: argument checks, then dispatch (see
 * include/blockv2/executor.h). */
#include "blockv2/executor.h"

#include <sodium.h>

#include "util/alloc.h"
#include "util/errmsg.h"

/* BM_EINVAL unless ex has the op. */
#define CHECK_OP(ex, op, em)                                                   \
    do {                                                                       \
        if ((ex) == NULL || (ex)->ops == NULL || (ex)->ops->op == NULL) {      \
            return bm_errf((em), BM_EINVAL, "executor: " #op                   \
                           " not implemented");                                \
        }                                                                      \
    } while (0)

static enum bm_err check_txs(const struct bm_buf *txs, size_t n_txs,
                             const char *name, struct bm_errmsg *em)
{
    if (n_txs > 0 && txs == NULL) {
        return bm_errf(em, BM_EINVAL, "%s: txs is NULL with n_txs %zu", name,
                       n_txs);
    }
    if (n_txs > BM_MAX_TXS) {
        return bm_errf(em, BM_ETOOBIG, "%s: %zu txs, max %u", name, n_txs,
                       BM_MAX_TXS);
    }
    for (size_t i = 0; i < n_txs; i++) {
        if (txs[i].len > BM_MAX_TX_SIZE) {
            return bm_errf(em, BM_ETOOBIG, "%s: txs[%zu] is %zu bytes, max %u",
                           name, i, txs[i].len, BM_MAX_TX_SIZE);
        }
        if (txs[i].len > 0 && txs[i].ptr == NULL) {
            return bm_errf(em, BM_EINVAL, "%s: txs[%zu] has NULL bytes", name,
                           i);
        }
    }
    return BM_OK;
}

enum bm_err bm_executor_init_chain(const struct bm_executor *ex,
                                   uint64_t genesis_time_ns,
                                   uint64_t initial_height,
                                   const char *chain_id,
                                   struct bm_buf *state_root,
                                   struct bm_errmsg *em)
{
    CHECK_OP(ex, init_chain, em);
    if (state_root == NULL || chain_id == NULL) {
        return bm_errf(em, BM_EINVAL, "init_chain: NULL argument");
    }
    if (initial_height == 0) {
        return bm_errf(em, BM_EHEIGHT_ZERO, "init_chain: initial_height is 0");
    }
    if (chain_id[0] == '\0') {
        return bm_errf(em, BM_ECHAIN_ID_EMPTY, "init_chain: chain_id is empty");
    }
    return ex->ops->init_chain(ex->ctx, genesis_time_ns, initial_height,
                               chain_id, state_root, em);
}

enum bm_err bm_executor_get_txs(const struct bm_executor *ex,
                                struct bm_batch *out, struct bm_errmsg *em)
{
    CHECK_OP(ex, get_txs, em);
    if (out == NULL) {
        return bm_errf(em, BM_EINVAL, "get_txs: out is NULL");
    }
    return ex->ops->get_txs(ex->ctx, out, em);
}

enum bm_err bm_executor_execute_txs(const struct bm_executor *ex,
                                    const struct bm_buf *txs, size_t n_txs,
                                    uint64_t height, uint64_t time_ns,
                                    const uint8_t *prev_root,
                                    size_t prev_root_len,
                                    struct bm_exec_result *out,
                                    struct bm_errmsg *em)
{
    enum bm_err err;

    CHECK_OP(ex, execute_txs, em);
    if (out == NULL || (prev_root_len > 0 && prev_root == NULL)) {
        return bm_errf(em, BM_EINVAL, "execute_txs: NULL argument");
    }
    if (height == 0) {
        return bm_errf(em, BM_EHEIGHT_ZERO, "execute_txs: height is 0");
    }
    err = check_txs(txs, n_txs, "execute_txs", em);
    if (err) {
        return err;
    }
    return ex->ops->execute_txs(ex->ctx, txs, n_txs, height, time_ns,
                                prev_root, prev_root_len, out, em);
}

enum bm_err bm_executor_set_final(const struct bm_executor *ex,
                                  uint64_t height, struct bm_errmsg *em)
{
    CHECK_OP(ex, set_final, em);
    if (height == 0) {
        return bm_errf(em, BM_EHEIGHT_ZERO, "set_final: height is 0");
    }
    return ex->ops->set_final(ex->ctx, height, em);
}

enum bm_err bm_executor_get_execution_info(const struct bm_executor *ex,
                                           struct bm_exec_info *out,
                                           struct bm_errmsg *em)
{
    CHECK_OP(ex, get_execution_info, em);
    if (out == NULL) {
        return bm_errf(em, BM_EINVAL, "get_execution_info: out is NULL");
    }
    return ex->ops->get_execution_info(ex->ctx, out, em);
}

enum bm_err bm_executor_filter_txs(const struct bm_executor *ex,
                                   const struct bm_buf *txs, size_t n_txs,
                                   uint64_t max_bytes, uint64_t max_gas,
                                   bool has_force_included,
                                   enum bm_filter_status *status,
                                   struct bm_errmsg *em)
{
    enum bm_err err;

    CHECK_OP(ex, filter_txs, em);
    if (n_txs > 0 && status == NULL) {
        return bm_errf(em, BM_EINVAL, "filter_txs: status is NULL");
    }
    err = check_txs(txs, n_txs, "filter_txs", em);
    if (err) {
        return err;
    }
    return ex->ops->filter_txs(ex->ctx, txs, n_txs, max_bytes, max_gas,
                               has_force_included, status, em);
}

/* BM_EUNSUPPORTED unless ex has the optional op. */
#define CHECK_OPTIONAL(ex, op, em)                                             \
    do {                                                                       \
        if ((ex) == NULL || (ex)->ops == NULL) {                               \
            return bm_errf((em), BM_EINVAL, "executor: no ops");               \
        }                                                                      \
        if ((ex)->ops->op == NULL) {                                           \
            return bm_errf((em), BM_EUNSUPPORTED,                              \
                           "executor: " #op " not supported");                 \
        }                                                                      \
    } while (0)

enum bm_err bm_executor_get_latest_height(const struct bm_executor *ex,
                                          uint64_t *height,
                                          struct bm_errmsg *em)
{
    CHECK_OPTIONAL(ex, get_latest_height, em);
    if (height == NULL) {
        return bm_errf(em, BM_EINVAL, "get_latest_height: height is NULL");
    }
    return ex->ops->get_latest_height(ex->ctx, height, em);
}

enum bm_err bm_executor_rollback(const struct bm_executor *ex,
                                 uint64_t height, struct bm_errmsg *em)
{
    CHECK_OPTIONAL(ex, rollback, em);
    return ex->ops->rollback(ex->ctx, height, em);
}

enum bm_err bm_executor_get_state_root(const struct bm_executor *ex,
                                       uint64_t height, struct bm_buf *root,
                                       struct bm_errmsg *em)
{
    CHECK_OPTIONAL(ex, get_state_root, em);
    if (root == NULL) {
        return bm_errf(em, BM_EINVAL, "get_state_root: root is NULL");
    }
    return ex->ops->get_state_root(ex->ctx, height, root, em);
}

bool bm_executor_err_transient(int err)
{
    return err == BM_ECONNECT || err == BM_ETIMEDOUT || err == BM_EAGAIN;
}

bool bm_executor_can_group(const struct bm_executor *ex)
{
    return ex != NULL && ex->ops != NULL && ex->ops->begin_group != NULL &&
           ex->ops->commit_group != NULL;
}

bool bm_executor_can_rollback(const struct bm_executor *ex)
{
    return ex != NULL && ex->ops != NULL && ex->ops->rollback != NULL;
}

enum bm_err bm_executor_begin_group(const struct bm_executor *ex,
                                    struct bm_errmsg *em)
{
    CHECK_OPTIONAL(ex, begin_group, em);
    CHECK_OPTIONAL(ex, commit_group, em);
    return ex->ops->begin_group(ex->ctx, em);
}

enum bm_err bm_executor_commit_group(const struct bm_executor *ex,
                                     struct bm_errmsg *em)
{
    CHECK_OPTIONAL(ex, begin_group, em);
    CHECK_OPTIONAL(ex, commit_group, em);
    return ex->ops->commit_group(ex->ctx, em);
}

void bm_exec_result_release(struct bm_exec_result *r)
{
    if (r == NULL) {
        return;
    }
    bm_buf_release(&r->state_root);
    bm_buf_release(&r->next_proposer);
}

void bm_exec_txs_free(struct bm_buf *txs, size_t n)
{
    if (txs == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        bm_buf_release(&txs[i]);
    }
    bm_free(txs);
}

void bm_exec_tx_hash(const uint8_t *tx, size_t len, struct bm_hash *out)
{
    static const uint8_t empty = 0;

    crypto_hash_sha256(out->b, len ? tx : &empty, len);
}
