/*
 * The single sequencer (spec section 7.3): orders the txs the reaper
 * submits and hands them to the block manager as batches.
 *
 * Queue. Every accepted tx is one entry of a persisted FIFO queue in its
 * own LMDB environment (e.g. <home>/data/seq): key = big-endian uint64
 * sequence number, value = the tx bytes, so the order after a restart is
 * the submission order. An append is synced to disk (power-loss safe)
 * before the call returns. A tx whose SHA-256 equals that of a queued or
 * in-flight tx, or of a recently committed one (a persisted window), is
 * dropped (de-duplication). The queue is bounded by a tx
 * count and a byte total; a submission that does not fit is refused whole
 * with BM_EQUEUE_FULL ("queue full") and nothing is written.
 *
 * Batches and acknowledgement. bm_seq_get_next_batch takes txs from the
 * head of the queue, in order, while their total size fits max_bytes (at
 * least one tx, so an oversize head cannot stall the queue), and marks them
 * in flight; they stay on disk. After the block holding them is committed,
 * the block manager calls bm_seq_ack, which deletes them. If no ack comes
 * (block production failed, or the node crashed), the next
 * bm_seq_get_next_batch (or the next open) hands the same txs out again:
 * un-acked txs come back.
 *
 * With an executor attached (opts.exec), each batch is passed through its
 * filter_txs: Remove txs are dropped from the batch and deleted at ack;
 * Postpone txs are dropped from the batch and re-queued at the tail at ack.
 *
 * Thread-safety: all functions may be called from any thread; a mutex
 * serialises them. Submit, get_next_batch and ack may block on LMDB fsync;
 * call them from a detached (blocking-allowed) actor.
 */
#ifndef BM_BLOCKV2_SEQUENCER_H
#define BM_BLOCKV2_SEQUENCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/executor.h"
#include "blockv2/types.h"

struct bm_errmsg;

struct bm_seq_options {
    size_t max_queue_txs;    /* 0: 1,000,000 */
    size_t max_queue_bytes;  /* 0: 256 MiB of tx bytes */
    size_t max_tx_bytes;     /* 0: BM_MAX_TX_SIZE */
    size_t map_size;         /* LMDB map size; 0: 2 GiB */
    /* Hashes of the last recent_txs acked (committed) txs are still
     * treated as duplicates: a client's retry of a tx that is already in
     * a block, or a stale copy the reaper read before the block
     * committed, is not queued again. 0: 65,536. Persisted with each ack
     * (as 8-byte fingerprints), so the window survives a restart. */
    size_t recent_txs;
    /* Most txs one batch (one block) takes from the queue; 0: no count
     * cap (only the caller's max_bytes and BM_MAX_TXS). [node.max_block_txs] */
    size_t max_batch_txs;
    /* bm_seq_submit_each (the node's POST /tx) refuses a tx with
     * BM_EQUEUE_FULL while this many txs already wait for a block (queued,
     * not in the batch handed out), so that an accepted tx fits the next
     * batch; bm_seq_submit (the reaper) is not held to it. 0: no such cap.
     * The node sets it to node.max_block_txs (docs/EXECUTION.md). */
    size_t max_waiting_txs;
    bool no_sync;            /* MDB_NOSYNC: tests only */
    /* Optional executor for filter_txs (borrowed; must outlive the
     * sequencer). NULL: every tx is OK. */
    const struct bm_executor *exec;
    /* Optional: called when a write to the queue (append, ack, drop of
     * committed txs: commit or sync) fails on a full or failing disk
     * (ENOSPC, EDQUOT, EIO), first time only per open, from the thread
     * that wrote, with the error and its message (naming the directory
     * and "disk full or failing"; borrowed for the call). The node stops
     * on it (docs/OPERATIONS.md, "Disk full"). Must not call into the
     * sequencer. */
    void (*on_disk_error)(void *arg, enum bm_err err, const char *msg);
    void *on_disk_error_arg;
};

/* A batch from bm_seq_get_next_batch; zero-initialise, free with
 * bm_seq_batch_release. */
struct bm_seq_batch {
    struct bm_batch batch;  /* txs, in queue order; may be empty */
    uint64_t timestamp_ns;  /* Unix ns UTC, strictly increasing per open */
};

struct bm_seq;

/*
 * Opens (creating if missing) the queue in directory dir for chain_id
 * (both borrowed). A queue created for another chain id is refused with
 * BM_ECHAIN_ID_MISMATCH. Un-acked txs of an earlier run are kept, in order.
 * opts may be NULL. On success *out returns owned; free with bm_seq_free.
 * May block (file I/O).
 */
enum bm_err bm_seq_open(struct bm_seq **out, const char *dir,
                        const char *chain_id, const struct bm_seq_options *opts,
                        struct bm_errmsg *em);

/* Closes the queue. NULL-safe; nothing may run concurrently or after. */
void bm_seq_free(struct bm_seq *s);

/*
 * SubmitBatchTxs: appends txs[0..n) (borrowed) to the queue in order,
 * skipping empty txs and duplicates (of queued, in-flight or recently
 * committed txs). chain_id[0..id_len) must equal the
 * sequencer's chain id: otherwise BM_ECHAIN_ID_MISMATCH ("invalid chain
 * id"). Errors: BM_ETOOBIG (a tx above max_tx_bytes; nothing queued),
 * BM_EQUEUE_FULL ("queue full"; nothing queued), BM_EMAP_FULL/BM_EIO
 * (nothing queued), BM_ENOMEM. *accepted (may be NULL) is the number of txs
 * queued. An empty list is a no-op. The append is durable (data and meta
 * page synced) when this returns BM_OK; BM_EIO with *accepted > 0 means
 * queued but the sync failed. May block (fsync).
 */
enum bm_err bm_seq_submit(struct bm_seq *s, const uint8_t *chain_id,
                          size_t id_len, const struct bm_buf *txs, size_t n,
                          size_t *accepted, struct bm_errmsg *em);

/*
 * Durable submission with one result per tx, for tx ingress (the group
 * commit of include/blockv2/ingest.h calls it once per group). Appends
 * the new txs of txs[0..n) (borrowed) in order in ONE transaction and
 * makes it durable (fdatasync of the data and the meta page, unless
 * no_sync) before returning. hashes (borrowed, may be NULL) are the txs'
 * SHA-256 (bm_exec_tx_hash), so they need not be computed under the lock.
 * Each status[i] (n slots, caller storage) gets:
 *   BM_OK          queued and durable;
 *   BM_EEXIST      a duplicate: queued, in flight, committed recently (the
 *                  persisted window of recent_txs), or earlier in txs;
 *   BM_EQUEUE_FULL no room (max_queue_txs/max_queue_bytes, or
 *                  max_waiting_txs wait for a block); txs after it that
 *                  still fit are queued;
 *   BM_ETOOBIG     above max_tx_bytes;  BM_EEMPTY  an empty tx;
 *   BM_EIO         queued but the sync failed: not known durable (em).
 * Returns BM_OK when every status is set. Otherwise nothing was queued and
 * status is unset: BM_ECHAIN_ID_MISMATCH, BM_ESTATE (sequencer failed),
 * BM_EINVAL, BM_EMAP_FULL/BM_EIO (the write failed), BM_ENOMEM. May block
 * (fsync); holds the sequencer's lock while it writes.
 */
enum bm_err bm_seq_submit_each(struct bm_seq *s, const uint8_t *chain_id,
                               size_t id_len, const struct bm_buf *txs,
                               const struct bm_hash *hashes, size_t n,
                               enum bm_err *status, struct bm_errmsg *em);

/*
 * bm_seq_submit_each without the last flush: BM_OK means queued (in the
 * queue, and on disk after a process crash) but not yet known durable
 * against a power loss. *ticket (0 when nothing was written) names the
 * write: it is durable once bm_seq_durable(s, *ticket) is true, which the
 * next append's commit makes it (a commit flushes every earlier one: one
 * flush serves two groups under load) or bm_seq_sync. For the group
 * commit (include/blockv2/ingest.h), which answers a group only then.
 * Statuses and errors as bm_seq_submit_each (BM_EIO: the data flush
 * failed). May block (fsync); holds the sequencer's lock while it writes.
 */
enum bm_err bm_seq_submit_each_deferred(struct bm_seq *s,
                                        const uint8_t *chain_id,
                                        size_t id_len,
                                        const struct bm_buf *txs,
                                        const struct bm_hash *hashes,
                                        size_t n, enum bm_err *status,
                                        uint64_t *ticket,
                                        struct bm_errmsg *em);

/* True once the write of ticket (bm_seq_submit_each_deferred; 0: none) is
 * durable. Any thread; never blocks beyond the lock. */
bool bm_seq_durable(struct bm_seq *s, uint64_t ticket);

/* Flushes the queue (mdb_env_sync): every write committed before the call
 * is durable after BM_OK. BM_EIO: the flush failed (em; the disk error is
 * reported as for a write). May block (fsync), without the lock. */
enum bm_err bm_seq_sync(struct bm_seq *s, struct bm_errmsg *em);

/*
 * GetNextBatch: fills *out (released first; returns owned) with the txs at
 * the head of the queue whose total size as entries of an encoded Data
 * (bm_data_tx_wire_size: each tx's length plus its field header) fits
 * max_bytes (0: no limit; always at least one tx when the queue is not
 * empty), capped at BM_MAX_TXS, and a timestamp. An empty queue gives an
 * empty batch. Any batch handed out earlier and not acked is handed out
 * again first.
 * Errors: BM_ECHAIN_ID_MISMATCH, BM_ECORRUPT, BM_ENOMEM, and errors of the
 * executor's filter_txs. May block.
 */
enum bm_err bm_seq_get_next_batch(struct bm_seq *s, const uint8_t *chain_id,
                                  size_t id_len, uint64_t max_bytes,
                                  struct bm_seq_batch *out,
                                  struct bm_errmsg *em);

/*
 * Lowers the longest tx the queue accepts (opts.max_tx_bytes) to max; a
 * max of 0 or above the current limit changes nothing. If a queued tx is
 * longer than max: BM_ETOOBIG (the message names its sequence number and
 * size) and nothing changes; so a limit lowered on a queue that already
 * holds longer txs is refused, not discovered later. O(1) unless a tx that
 * long was ever queued (then one pass over the queue). May block.
 */
enum bm_err bm_seq_cap_tx_bytes(struct bm_seq *s, size_t max,
                                struct bm_errmsg *em);

/*
 * Acknowledges the last batch from bm_seq_get_next_batch after its block
 * was committed: deletes its txs from the queue (re-queueing postponed
 * ones). No batch in flight: no-op. On error nothing changes and the batch
 * stays in flight. May block (fsync).
 */
enum bm_err bm_seq_ack(struct bm_seq *s, struct bm_errmsg *em);

/*
 * Start-up clean-up (spec 7.3): drops from the queue every tx whose SHA-256
 * equals that of one of txs[0..n) (borrowed), the txs of the last committed
 * block. Call once after bm_seq_open, before the first batch: it covers a
 * crash between the block commit and bm_seq_ack, which would otherwise
 * hand the block's txs out again. *dropped (may be NULL) gets the count.
 * A batch in flight is released first (its txs are queued again, then
 * dropped if committed): the caller calls this when it holds no batch (at
 * start, or after committing a block it had saved as pending, whose batch
 * may still be in flight). BM_ESTATE if the sequencer failed.
 * O(queue length). May block (fsync).
 * If rebuilding the in-memory index fails (BM_ENOMEM) the disk is left
 * unchanged and the sequencer is marked failed: every later call returns
 * BM_ESTATE until it is freed and reopened.
 */
enum bm_err bm_seq_drop_committed(struct bm_seq *s, const struct bm_buf *txs,
                                  size_t n, size_t *dropped,
                                  struct bm_errmsg *em);

/*
 * For a node that follows another producer (an HA candidate applying the
 * leader's blocks, docs/HA.md "Transactions"): the txs whose SHA-256
 * (bm_exec_tx_hash) are hashes[0..n) (borrowed) are in committed blocks.
 * In one transaction, every queued copy is deleted from the queue and
 * all n hashes join the persisted window of recent_txs (the last
 * recent_txs of them when n is larger), so a later submission of any of
 * them (a forwarded or re-sent copy) is a duplicate (BM_EEXIST) and is
 * never included twice. Meant to be called once per group of blocks: one
 * write (one fsync) whatever n; the queue is scanned (O(queue length))
 * only when one of the hashes is queued. A batch in flight is left alone
 * (the Producer's: its ack removes it). *dropped (may be NULL) gets the
 * number of queue entries deleted. Errors: BM_ESTATE (sequencer failed),
 * BM_EINVAL, BM_ENOMEM, LMDB errors (nothing changed). May block (fsync).
 */
enum bm_err bm_seq_note_committed(struct bm_seq *s,
                                  const struct bm_hash *hashes, size_t n,
                                  size_t *dropped, struct bm_errmsg *em);

/*
 * For forwarding (an HA candidate that does not lead hands its queued txs
 * to the leader, docs/HA.md "Transactions"): copies up to max_txs txs
 * (and, beyond the first, up to max_bytes of their size as Data entries,
 * bm_data_tx_wire_size; 0: no limit) from
 * the head of the queue, skipping a batch in flight (the Producer's), into
 * *txs (returns owned, free with bm_exec_txs_free(*txs, *n)) with their
 * queue ids in *ids (returns owned, bm_free). Nothing changes in the
 * queue. An empty queue: *n = 0 and both NULL. Errors: BM_EINVAL
 * (max_txs 0), BM_ESTATE, BM_ECORRUPT, BM_ENOMEM, LMDB errors.
 */
enum bm_err bm_seq_peek(struct bm_seq *s, size_t max_txs, size_t max_bytes,
                        struct bm_buf **txs, uint64_t **ids, size_t *n,
                        struct bm_errmsg *em);

/*
 * Deletes the queue entries ids[0..n) (borrowed; from bm_seq_peek) in one
 * durable transaction, e.g. once the leader took them. Ids no longer
 * queued, and entries of a batch in flight, are skipped. They do not join
 * the window of committed txs (they are not in a block yet). *removed
 * (may be NULL) gets the count. O(queue length) when one was removed (the
 * in-memory index is rebuilt). A commit that fails after the rebuild marks
 * the sequencer failed (BM_ESTATE until reopened). May block (fsync).
 */
enum bm_err bm_seq_forget(struct bm_seq *s, const uint64_t *ids, size_t n,
                          size_t *removed, struct bm_errmsg *em);

/*
 * Puts txs[0..n) (borrowed) back at the tail of the queue, durably: the
 * txs of a block that was committed (so acked) and then rolled back (an
 * HA leader's block the cluster did not accept, docs/HA.md), which are
 * acknowledged and in no block any more. Unlike bm_seq_submit, the window
 * of committed txs (they are in it since their ack) and the queue limits
 * do not refuse them; a tx already queued or in flight, empty or above
 * max_tx_bytes is skipped. *queued (may be NULL) gets the count. Errors
 * as bm_seq_submit's write errors (nothing queued). May block (fsync).
 */
enum bm_err bm_seq_requeue(struct bm_seq *s, const struct bm_buf *txs,
                           size_t n, size_t *queued, struct bm_errmsg *em);

/*
 * VerifyBatch: the single sequencer is the proposer, so a batch for its
 * chain id is valid: *ok = true. Other chain ids: BM_ECHAIN_ID_MISMATCH.
 * batch_data (borrowed, may be NULL) is not inspected (a non-proposer
 * would check DA proofs; not supported here).
 */
enum bm_err bm_seq_verify_batch(struct bm_seq *s, const uint8_t *chain_id,
                                size_t id_len, const struct bm_buf *batch_data,
                                size_t n, bool *ok, struct bm_errmsg *em);

/* Queued txs (including in-flight ones) and their total bytes. */
void bm_seq_queue_size(struct bm_seq *s, size_t *n_txs, size_t *n_bytes);

void bm_seq_batch_release(struct bm_seq_batch *b);

/*
 * Sequencer Batch.Hash (spec 7.1, V21): SHA-256(be64 tx count || for each
 * tx: be64 length || tx); an empty list hashes the empty string. Borrows
 * txs. Never fails.
 */
void bm_seq_batch_hash(const struct bm_buf *txs, size_t n,
                       struct bm_hash *out);

#endif /* BM_BLOCKV2_SEQUENCER_H */
