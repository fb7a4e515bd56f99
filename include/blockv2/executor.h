/*
 * The execution interface (spec section 6.2): how the block manager drives
 * an execution environment.
 *
 * An executor is a vtable (struct bm_executor_ops) plus an opaque context
 * pointer. The block manager owns a struct bm_executor value and calls the
 * bm_executor_* wrappers below, which check arguments and then dispatch.
 * The in-process KV application (src/exec/kv/kv.h) is the default
 * implementation; a remote executor would implement the same ops.
 *
 * Contract every implementation keeps (spec 6.1/6.2):
 *  - init_chain is idempotent: calling it again with the same genesis
 *    returns the same state root and changes nothing; a different chain id
 *    or initial height for an existing state is BM_ECHAIN_ID_MISMATCH /
 *    BM_EGENESIS.
 *  - get_txs returns the current valid mempool txs WITHOUT removing them.
 *  - execute_txs is deterministic: the same (txs, height, time, prev root)
 *    on the same prior state gives the same new root on every node. An empty
 *    tx list is accepted. Re-executing an already executed height with the
 *    same inputs (crash recovery) returns the recorded result and does not
 *    apply the txs twice; see each implementation for the exact rule.
 *  - set_final is idempotent and called with increasing heights; it
 *    finalises every height up to the one given (the block manager
 *    finalises a run of newly DA-included heights with one call for the
 *    last of them).
 *  - filter_txs returns one status per input tx (same length, same order).
 *  - Optional ops (NULL when not supported; ev-node's HeightProvider and
 *    Rollbackable): get_latest_height reports the last executed height, so
 *    the block manager can replay the blocks the executor is missing at
 *    start; rollback resets the executor to an earlier height;
 *    get_state_root reports the root after a height, so the block manager
 *    can tell an executor on another chain from one behind or ahead.
 *
 * Blocking: every op except get_execution_info may block on disk I/O
 * (fsync) or, for a remote executor, on the network. The block manager
 * therefore calls them from a detached (blocking-allowed) actor, never from
 * an event-loop callback. Implementations are thread-safe: ops may be
 * called concurrently from different threads (the reaper calls get_txs
 * while the block manager executes), but execute_txs/init_chain/set_final
 * are serialised internally.
 *
 * Errors: each op returns BM_OK or a negative enum bm_err and, when em is
 * not NULL, a message naming the field ("execute_txs: height 9 is not the
 * next height 7"). On error the out-params are left empty.
 */
#ifndef BM_BLOCKV2_EXECUTOR_H
#define BM_BLOCKV2_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm_errmsg;

/* Per-tx result of filter_txs (values as in ev-node FilterStatus). */
enum bm_filter_status {
    BM_FILTER_OK = 0,       /* include */
    BM_FILTER_REMOVE = 1,   /* invalid: drop it for good */
    BM_FILTER_POSTPONE = 2, /* valid but does not fit: retry later */
};

/* Result of execute_txs; zero-initialise, free with bm_exec_result_release.
 * next_proposer is empty when the proposer does not change. */
struct bm_exec_result {
    struct bm_buf state_root;
    struct bm_buf next_proposer;
};

/* Result of get_execution_info. max_gas 0 means "no gas limit". */
struct bm_exec_info {
    uint64_t max_gas;
};

struct bm_executor_ops {
    /*
     * Creates the genesis state or, if it exists, checks it matches.
     * genesis_time_ns: Unix ns (UTC). initial_height > 0. chain_id borrowed.
     * *state_root is released first and returns owned. May block.
     */
    enum bm_err (*init_chain)(void *ctx, uint64_t genesis_time_ns,
                              uint64_t initial_height, const char *chain_id,
                              struct bm_buf *state_root,
                              struct bm_errmsg *em);
    /*
     * Copies the mempool's valid txs, oldest first, into *out (released
     * first; returns owned; free with bm_batch_release() or
     * bm_exec_txs_free(out->txs, out->n_txs)). Does not remove them.
     * May block briefly on a mutex.
     */
    enum bm_err (*get_txs)(void *ctx, struct bm_batch *out,
                           struct bm_errmsg *em);
    /*
     * Applies txs[0..n_txs) (borrowed) in order at `height` with block time
     * time_ns on top of prev_root (borrowed; must equal the current root).
     * *out is released first and returns owned. May block (fsync).
     */
    enum bm_err (*execute_txs)(void *ctx, const struct bm_buf *txs,
                               size_t n_txs, uint64_t height,
                               uint64_t time_ns, const uint8_t *prev_root,
                               size_t prev_root_len,
                               struct bm_exec_result *out,
                               struct bm_errmsg *em);
    /* Records that `height`, and so every height below it, is final
     * (DA-included). Idempotent. May block. */
    enum bm_err (*set_final)(void *ctx, uint64_t height,
                             struct bm_errmsg *em);
    /* Fills *out. Never blocks. */
    enum bm_err (*get_execution_info)(void *ctx, struct bm_exec_info *out,
                                      struct bm_errmsg *em);
    /*
     * Classifies txs[0..n_txs) (borrowed) for a block of at most max_bytes
     * tx bytes (0: no limit) and max_gas (0: no limit): writes n_txs
     * statuses to status[] (caller-owned array of n_txs entries). Txs the
     * executor cannot parse are BM_FILTER_REMOVE; txs after the byte budget
     * is used are BM_FILTER_POSTPONE. Forced-inclusion txs
     * (has_force_included) are never postponed. Does not block on disk.
     */
    enum bm_err (*filter_txs)(void *ctx, const struct bm_buf *txs,
                              size_t n_txs, uint64_t max_bytes,
                              uint64_t max_gas, bool has_force_included,
                              enum bm_filter_status *status,
                              struct bm_errmsg *em);
    /*
     * Optional. The last executed height (initial_height - 1 before the
     * first block) into *height. BM_ESTATE before init_chain. May block
     * briefly.
     */
    enum bm_err (*get_latest_height)(void *ctx, uint64_t *height,
                                     struct bm_errmsg *em);
    /*
     * Optional. Rolls the state back to `height` (<= the executed height,
     * >= initial_height - 1) so that the heights above it can be executed
     * again; the state root must then be the one after `height`. An error
     * leaves the state unchanged. May block.
     */
    enum bm_err (*rollback)(void *ctx, uint64_t height,
                            struct bm_errmsg *em);
    /*
     * Optional. The state root after `height` as the executor has it now
     * (*root released first; returns owned): BM_ENOTFOUND when it has no
     * such height. The replay on start compares it with the store's app
     * hash to tell an executor on another chain from one that is only
     * behind or ahead. May block.
     */
    enum bm_err (*get_state_root)(void *ctx, uint64_t height,
                                  struct bm_buf *root, struct bm_errmsg *em);
    /*
     * Optional, both or neither (NULL: the executor cannot batch; every
     * execute_txs is durable when it returns). Group commit for a full
     * node catching up (docs/EXECUTION.md "Group commit"): after
     * begin_group, execute_txs need not make its height durable before
     * returning, but each height must still be applied whole or not at
     * all and heights must persist in order (after a crash the executor
     * holds a prefix of them, which get_latest_height reports);
     * commit_group makes every height executed since begin_group durable
     * and ends the group. begin_group in a group and commit_group outside
     * one do nothing. The block manager commits the group's blocks to its
     * store first, then calls commit_group; a crash between leaves the
     * executor behind (replayed at start) or, if its heights reached the
     * disk anyway, ahead by at most a group (rolled back at start). May
     * block (commit_group: fsync).
     */
    enum bm_err (*begin_group)(void *ctx, struct bm_errmsg *em);
    enum bm_err (*commit_group)(void *ctx, struct bm_errmsg *em);
};

/* An executor handle: a borrowed vtable and its context. The context's
 * owner (e.g. bm_kv_new/bm_kv_free) controls its lifetime; the handle must
 * not be used after the context is freed. */
struct bm_executor {
    const struct bm_executor_ops *ops;
    void *ctx;
};

/*
 * Wrappers: validate arguments (BM_EINVAL for a missing op or NULL
 * pointers, BM_ETOOBIG for more than BM_MAX_TXS txs or a tx above
 * BM_MAX_TX_SIZE, BM_EHEIGHT_ZERO for height 0) and then call the op.
 * Same ownership, blocking and error rules as the op they wrap.
 */
enum bm_err bm_executor_init_chain(const struct bm_executor *ex,
                                   uint64_t genesis_time_ns,
                                   uint64_t initial_height,
                                   const char *chain_id,
                                   struct bm_buf *state_root,
                                   struct bm_errmsg *em);
enum bm_err bm_executor_get_txs(const struct bm_executor *ex,
                                struct bm_batch *out, struct bm_errmsg *em);
enum bm_err bm_executor_execute_txs(const struct bm_executor *ex,
                                    const struct bm_buf *txs, size_t n_txs,
                                    uint64_t height, uint64_t time_ns,
                                    const uint8_t *prev_root,
                                    size_t prev_root_len,
                                    struct bm_exec_result *out,
                                    struct bm_errmsg *em);
enum bm_err bm_executor_set_final(const struct bm_executor *ex,
                                  uint64_t height, struct bm_errmsg *em);
enum bm_err bm_executor_get_execution_info(const struct bm_executor *ex,
                                           struct bm_exec_info *out,
                                           struct bm_errmsg *em);
enum bm_err bm_executor_filter_txs(const struct bm_executor *ex,
                                   const struct bm_buf *txs, size_t n_txs,
                                   uint64_t max_bytes, uint64_t max_gas,
                                   bool has_force_included,
                                   enum bm_filter_status *status,
                                   struct bm_errmsg *em);

/* The optional ops: BM_EUNSUPPORTED when the executor lacks them; else as
 * the op (rollback: BM_EHEIGHT_ZERO is not checked, height 0 is genesis
 * when initial_height is 1). */
enum bm_err bm_executor_get_latest_height(const struct bm_executor *ex,
                                          uint64_t *height,
                                          struct bm_errmsg *em);
enum bm_err bm_executor_rollback(const struct bm_executor *ex,
                                 uint64_t height, struct bm_errmsg *em);
enum bm_err bm_executor_get_state_root(const struct bm_executor *ex,
                                       uint64_t height, struct bm_buf *root,
                                       struct bm_errmsg *em);

/* True for the errors that mean "the executor is not available now" (an
 * execution client that is down: BM_ECONNECT, hangs: BM_ETIMEDOUT, or is
 * syncing: BM_EAGAIN): the block manager waits and retries instead of
 * stopping. The in-process KV executor never returns them. */
bool bm_executor_err_transient(int err);

/* True if the executor implements begin_group and commit_group. */
bool bm_executor_can_group(const struct bm_executor *ex);

/* True if the executor implements rollback (the run-time rollback of an
 * HA leader's unreplicated block needs it, docs/HA.md). */
bool bm_executor_can_rollback(const struct bm_executor *ex);

/* The group ops (BM_EUNSUPPORTED without them); otherwise as the ops. */
enum bm_err bm_executor_begin_group(const struct bm_executor *ex,
                                    struct bm_errmsg *em);
enum bm_err bm_executor_commit_group(const struct bm_executor *ex,
                                     struct bm_errmsg *em);

/* Frees both buffers and zeroes *r. NULL-safe. */
void bm_exec_result_release(struct bm_exec_result *r);

/* Frees an owned array of n owned buffers (as in struct bm_batch / struct
 * bm_data). Same effect as bm_batch_release on {n, txs}. NULL-safe. */
void bm_exec_txs_free(struct bm_buf *txs, size_t n);

/* SHA-256 of one tx: the tx hash used for de-duplication and returned by
 * tx ingress. Borrows tx. Never fails. */
void bm_exec_tx_hash(const uint8_t *tx, size_t len, struct bm_hash *out);

#endif /* BM_BLOCKV2_EXECUTOR_H */
