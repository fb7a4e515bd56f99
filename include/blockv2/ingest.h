/*
 * Durable tx ingest: group commit into the single sequencer's queue.
 *
 * Callers (the RPC's POST /tx, on its event loops) hand in requests of
 * one or more txs and are completed later. One writer thread takes every
 * request that arrived while its previous commit ran (up to
 * max_group_txs txs), submits them all to the sequencer in ONE write
 * (bm_seq_submit_each_deferred: one LMDB transaction, its data flushed),
 * and completes each request with one status per tx once the write is
 * durable: after the next group's write, whose flush covers it too (one
 * flush per group under load), or after a flush of its own
 * (bm_seq_sync) when no request waits. So:
 *  - a tx whose status is BM_OK is on disk (power-loss safe, unless the
 *    sequencer was opened with no_sync) before its request completes;
 *  - concurrent requests share one commit, so the cost of a sync is
 *    spread over everything that arrived during the previous one;
 *  - duplicates (of queued, in-flight, recently committed txs, or of
 *    another tx of the same group) get BM_EEXIST and are not written.
 * Per-tx statuses are those of bm_seq_submit_each; a failed write gives
 * every tx of the group that error. docs/EXECUTION.md, "Tx ingress".
 *
 * Thread-safety: bm_ingest_submit and bm_ingest_stats from any thread;
 * completions run on the writer thread, one at a time, in submission
 * order. bm_ingest_close/free from one thread, never from a completion.
 */
#ifndef BM_BLOCKV2_INGEST_H
#define BM_BLOCKV2_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm_errmsg;
struct bm_seq;
struct bm_ingest;
struct bm_ingest_req;

/* Completion of a request: its status[] is filled. Runs on the writer
 * thread; must not block for long (it delays every later group) and must
 * not call bm_ingest_close/free. After it returns the ingest no longer
 * touches req. */
typedef void bm_ingest_done_fn(struct bm_ingest_req *req);

/* One request; caller storage that must stay valid until done runs. */
struct bm_ingest_req {
    const struct bm_buf *txs;     /* n txs, borrowed until done */
    const struct bm_hash *hashes; /* their SHA-256, borrowed; may be NULL */
    enum bm_err *status;          /* n slots, written before done */
    size_t n;                     /* 1..BM_MAX_TXS */
    bm_ingest_done_fn *done;      /* required */
    void *arg;                    /* for the caller */
    /* private */
    struct bm_ingest_req *next;
};

struct bm_ingest_options {
    /* Most txs per commit (a group holds at least one request); 0: 65,536. */
    size_t max_group_txs;
    /* Optional: called on the writer thread once per group that queued
     * txs (queued > 0), right after its write (possibly before its last
     * flush: a block may take the txs first, which is safe as a block
     * commits durably) and before its requests complete, e.g. to wake a
     * lazy block producer once per commit rather than once per request.
     * Must not block for long. */
    void (*committed)(void *arg, size_t queued);
    void *committed_arg;
    /* Optional: called on the writer thread once per group (every group,
     * failed ones too), after the last of its requests' done returned:
     * done can hand each completion to the thread that answers it without
     * waking that thread, and this wakes each such thread once per group
     * (one pass) instead of once per request. Must not block for long. */
    void (*completed)(void *arg);
    void *completed_arg;
};

/* Counters since bm_ingest_new (plain data); a request is counted by the
 * time its done runs. */
struct bm_ingest_stats {
    uint64_t commits;     /* groups written */
    uint64_t requests;    /* requests completed */
    uint64_t txs;         /* txs submitted (any status) */
    uint64_t queued;      /* txs answered BM_OK */
    uint64_t max_group;   /* most txs in one group */
    uint64_t commit_ns;   /* total time in bm_seq_submit_each */
};

/*
 * Starts the writer thread for seq (borrowed; must outlive the ingest) and
 * chain_id (copied). opts may be NULL. On success *out returns owned; free
 * with bm_ingest_free. Errors: BM_EINVAL, BM_ENOMEM, BM_ESYS (thread).
 */
enum bm_err bm_ingest_new(struct bm_ingest **out, struct bm_seq *seq,
                          const char *chain_id,
                          const struct bm_ingest_options *opts,
                          struct bm_errmsg *em);

/*
 * Queues req (borrowed until req->done runs). BM_OK: req->done will be
 * called exactly once, on the writer thread (possibly before this
 * returns). Errors (done is never called): BM_ECLOSED (closing or
 * closed), BM_EINVAL (n == 0, above BM_MAX_TXS, or a NULL member). Never
 * blocks beyond a mutex.
 */
enum bm_err bm_ingest_submit(struct bm_ingest *g, struct bm_ingest_req *req);

/*
 * Stops accepting (later submits: BM_ECLOSED), writes and completes every
 * request already queued, and joins the writer. Idempotent. May block (a
 * commit in progress).
 */
void bm_ingest_close(struct bm_ingest *g);

/* Closes (if needed) and frees. NULL-safe. May block. */
void bm_ingest_free(struct bm_ingest *g);

/* Snapshot of the counters. */
void bm_ingest_stats(struct bm_ingest *g, struct bm_ingest_stats *out);

#endif /* BM_BLOCKV2_INGEST_H */
