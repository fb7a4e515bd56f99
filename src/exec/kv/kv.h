/*
 * The in-process key/value application: the node's default executor
 * (implements struct bm_executor_ops, include/blockv2/executor.h).
 *
 * Transactions are `key=value` byte strings, split at the first '='. The key
 * is 1..BM_KV_MAX_KEY bytes of printable ASCII (0x21..0x7e, no '='); the
 * value is 0..BM_KV_MAX_VALUE arbitrary bytes. A later tx for the same key
 * overwrites it. Anything else is malformed: bm_kv_check_tx names the
 * reason, the mempool refuses it, filter_txs marks it Remove, and
 * execute_txs skips it (a block from another proposer may contain one;
 * skipping is deterministic, so every node computes the same root).
 *
 * State lives in its own LMDB environment (e.g. <home>/data/kv) with named
 * databases "pairs" (key -> value), "meta" (genesis, latest height and
 * root accumulator, final height), "heights" (height -> root and input
 * digest) and "undo" (height -> what its txs overwrote, undo.h). The
 * per-height records are kept for the last keep_heights heights only:
 * enough to re-execute the latest heights idempotently and to roll back
 * that far (bm_kv_rollback); deeper, bm_kv_reset and a replay from the
 * block store. The map starts at map_size and doubles on MDB_MAP_FULL up
 * to max_map_size (util/lmdb_map.h, shared with the block store). See
 * docs/EXECUTION.md for the state root and the re-execution rule.
 *
 * State root: an LtHash16 lattice set hash over all pairs. Each pair
 * (k, v) becomes a 2048-byte vector: the AES-256-CTR keystream (IV 0)
 * under key BLAKE2b-256("blockv2/kv/leaf/v1" || be32(len k) || k || v);
 * the accumulator is the lane-wise sum of
 * all vectors as 1024 uint16 lanes mod 2^16; root = SHA-256(
 * "blockv2/kv/root/v1" || be64(pair count) || accumulator as LE lanes).
 * It depends only on the set of pairs (not on insertion order or history)
 * and costs O(1) per written pair (subtract old vector, add new vector), so
 * a block costs O(txs), independent of the state size.
 *
 * Thread-safety: all functions may be called from any thread. Executor
 * writes (init_chain, execute_txs, set_final) are serialised by a mutex;
 * the mempool has its own mutex; bm_kv_get reads a consistent snapshot.
 */
#ifndef BM_EXEC_KV_KV_H
#define BM_EXEC_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/executor.h"
#include "blockv2/types.h"

struct bm_errmsg;

#define BM_KV_MAX_KEY 256u
#define BM_KV_MAX_VALUE 4096u
#define BM_KV_MAX_TX (BM_KV_MAX_KEY + 1u + BM_KV_MAX_VALUE)

#define BM_KV_DEFAULT_MAP_SIZE ((size_t)64 << 20)      /* 64 MiB */
#define BM_KV_DEFAULT_MAX_MAP_SIZE ((size_t)1 << 40)  /* 1 TiB */
#define BM_KV_DEFAULT_KEEP_HEIGHTS 1000u

struct bm_kv_options {
    size_t mempool_max_txs;   /* 0: 100,000 */
    size_t mempool_max_bytes; /* 0: 64 MiB of tx bytes */
    /* Initial LMDB map size; it doubles whenever a write finds it full,
     * up to max_map_size. 0: BM_KV_DEFAULT_MAP_SIZE /
     * BM_KV_DEFAULT_MAX_MAP_SIZE. */
    size_t map_size;
    size_t max_map_size;
    /* Heights whose records (root, input digest, undo log) are kept: the
     * rollback depth. 0: BM_KV_DEFAULT_KEEP_HEIGHTS. */
    uint64_t keep_heights;
    /* Hashes of the last recent_txs executed mempool txs are refused by
     * bm_kv_mempool_add (BM_EEXIST "tx was executed recently"), matching
     * the sequencer's window of committed txs. 0: 65,536. */
    size_t recent_txs;
    bool no_sync;             /* MDB_NOSYNC: tests only, loses durability */
};

struct bm_kv;

/* Latest committed state, from bm_kv_status. */
struct bm_kv_status {
    bool initialised;     /* init_chain has run */
    uint64_t height;      /* last executed height (initial_height-1 before) */
    uint64_t final_height; /* last height passed to set_final, 0 if none */
    uint64_t n_pairs;
    struct bm_hash root;
};

/*
 * Opens (creating if missing) the KV state in directory dir, e.g.
 * "<home>/data/kv". opts may be NULL (defaults). On success *out returns
 * owned; free with bm_kv_free. Errors: BM_EIO/BM_EPERM (directory),
 * BM_ELOCKED, BM_ECORRUPT (stored records of the wrong size), BM_ENOMEM.
 * May block (file I/O).
 */
enum bm_err bm_kv_open(struct bm_kv **out, const char *dir,
                       const struct bm_kv_options *opts,
                       struct bm_errmsg *em);

/* Closes the environment and frees the mempool. NULL-safe. No call on kv
 * may be in progress or follow. */
void bm_kv_free(struct bm_kv *kv);

/* Fills *out with the executor handle for kv (borrowed; valid until
 * bm_kv_free). */
void bm_kv_executor(struct bm_kv *kv, struct bm_executor *out);

/*
 * Checks that tx[0..len) is a well-formed KV tx. BM_OK and *key_len (may
 * be NULL) set; or BM_EBADTX ("no '=' separator", "empty key", "key byte
 * 0x.. at offset N is not printable ASCII") or BM_ETOOBIG ("key is N
 * bytes, max 256", "value ...") with the reason in em. Borrows tx.
 */
enum bm_err bm_kv_check_tx(const uint8_t *tx, size_t len, size_t *key_len,
                           struct bm_errmsg *em);

/*
 * Validates tx (borrowed) and appends a copy to the mempool; *hash (may be
 * NULL) gets its SHA-256 on BM_OK and BM_EEXIST. Errors: BM_EBADTX /
 * BM_ETOOBIG (malformed, reason in em), BM_EEXIST (already in the mempool,
 * or executed recently),
 * BM_EFULL ("mempool full"), BM_ENOMEM. Never blocks on I/O.
 */
enum bm_err bm_kv_mempool_add(struct bm_kv *kv, const uint8_t *tx,
                              size_t len, struct bm_hash *hash,
                              struct bm_errmsg *em);

/* Number of txs in the mempool. */
size_t bm_kv_mempool_len(struct bm_kv *kv);

/*
 * Looks up key at the latest executed height. On BM_OK *value (released
 * first) returns owned and *height (may be NULL) is that height.
 * BM_ENOTFOUND if the key was never set. Borrows key. May block briefly
 * (read transaction).
 */
enum bm_err bm_kv_get(struct bm_kv *kv, const uint8_t *key, size_t key_len,
                      struct bm_buf *value, uint64_t *height,
                      struct bm_errmsg *em);

/* Snapshot of the committed state. Never blocks on I/O. */
void bm_kv_status(struct bm_kv *kv, struct bm_kv_status *out);

/* Current LMDB map size in bytes (grows on demand). Any thread. */
size_t bm_kv_map_size(const struct bm_kv *kv);

/*
 * Rolls the state back to `height` (the executor's Rollback): undoes the
 * heights above it, newest first, from their undo logs, checks that the
 * resulting root is the one recorded for `height` (BM_ECORRUPT if not),
 * and lowers the final height to it if needed; one transaction, so a
 * failure changes nothing. height may be initial_height - 1 (genesis).
 * Errors: BM_ESTATE (not initialised), BM_EHEIGHT_MISMATCH (above the
 * executed height or below genesis), BM_ENOTFOUND (a height's undo log was
 * pruned: see bm_kv_rollback_floor; bm_kv_reset is then the way back),
 * BM_ECORRUPT, LMDB errors. May block (fsync). Not concurrently with
 * execute_txs of a running node: an operator tool or start-up step.
 */
enum bm_err bm_kv_rollback(struct bm_kv *kv, uint64_t height,
                           struct bm_errmsg *em);

/* The lowest height bm_kv_rollback can reach now (the executed height if
 * no undo log is kept). May block briefly (read transaction). */
enum bm_err bm_kv_rollback_floor(struct bm_kv *kv, uint64_t *out,
                                 struct bm_errmsg *em);

/*
 * Back to the genesis state: drops every pair and per-height record, keeps
 * the genesis (chain id, initial height, time); the height becomes
 * initial_height - 1 and the final height 0. The block manager's replay
 * then re-executes every stored block. BM_ESTATE if not initialised. May
 * block (fsync). Same concurrency rule as bm_kv_rollback.
 */
enum bm_err bm_kv_reset(struct bm_kv *kv, struct bm_errmsg *em);

/* Root of the empty state (the genesis root). */
void bm_kv_empty_root(struct bm_hash *out);

#endif /* BM_EXEC_KV_KV_H */
