/*
 * The EVM executor: drives an Ethereum execution client (ev-reth, or
 * ethereumjs with ev-reth's two extensions) through the Engine API, as
 * ev-node's execution/evm does (spec: shared/spec/evm-engine.md; docs:
 * docs/EXECUTION.md "EVM executor"). Implements struct bm_executor_ops.
 *
 * Two endpoints (endpoint.h): the engine port (JWT) and the eth port. The
 * rollup height h is the EL block number h (initial height 1 on block 0,
 * the EL's genesis); the rollup app hash after h is the EL block's
 * stateRoot.
 *
 *  - init_chain: checks the EL's block 0 against evm.genesis_hash
 *    (BM_EEXEC_CHAIN when it differs), acknowledges it by fork choice when
 *    the EL is at genesis (else tries the engine port and its JWT with
 *    engine_exchangeCapabilities), returns its stateRoot.
 *  - get_txs: txpoolExt_getTxs on the eth port; while an execute_txs
 *    runs, no read: an empty batch at once (the pool then holds the
 *    block's own txs, and a client that builds one block at a time, such
 *    as ethereumjs, answers only after the block: the reads piled up and
 *    all came back with the block, its 100 txs each). The txs stay in the
 *    pool for the next round. At most 4 rounds in a row are skipped: the
 *    fifth reads (and waits for the client), so blocks made back to back
 *    on a slow client do not starve the pool's reads.
 *  - execute_txs(txs, h, t, prev_root): the parent (block h-1) must exist
 *    and have stateRoot prev_root (else BM_EEXEC_CHAIN); then fork choice
 *    to the parent with payload attributes {timestamp t in seconds,
 *    prevRandao = be256(h), suggestedFeeRecipient, withdrawals [],
 *    parentBeaconBlockRoot 0, transactions (ev-reth), gasLimit = the
 *    parent's (ev-reth)}, engine_getPayloadV4 (V5, V6 on -38005), the
 *    payload checked (number h, that parent, that time) and passed through
 *    engine_newPayloadV4 unchanged, and fork choice to it with safe = h-2
 *    and finalized = h-3 (never lowered). Returns its stateRoot.
 *    Re-executing a height the EL already has builds the block again from
 *    the same inputs: the same block when the inputs are the same (its
 *    hash is then the one the EL has), the rollup's block replacing the
 *    EL's otherwise. So a crash anywhere between the calls, of the node or
 *    of the EL, resumes without a sibling block and without a local
 *    record.
 *  - set_final(h): safe = finalized = block h.
 *  - get_latest_height: eth_blockNumber. rollback(h): head = safe =
 *    finalized = block h. get_state_root(h): block h's stateRoot.
 *
 * Payload statuses: VALID proceeds; SYNCING and ACCEPTED are retried
 * (status_retries attempts, backoff doubling from retry_backoff_ms) and
 * then fail with BM_EAGAIN; INVALID and unknown statuses fail with
 * BM_EEXEC_INVALID carrying the client's validationError and
 * latestValidHash. Unreachable or hanging clients give BM_ECONNECT /
 * BM_ETIMEDOUT (the block manager's executor breaker then pauses the
 * node), a refused JWT BM_EAUTH. Nothing here writes local state: a
 * failed call changes nothing the block manager commits.
 *
 * Thread-safety: execute_txs, init_chain, set_final, rollback are
 * serialised by one mutex (they share the fork-choice state); get_txs,
 * get_latest_height and get_state_root use the eth port's own lock;
 * get_execution_info and filter_txs never block. Every op but those two
 * blocks on the network: call them from detached actors.
 */
#ifndef BM_EXEC_EVM_EVM_H
#define BM_EXEC_EVM_EVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/executor.h"
#include "exec/evm/decode.h"
#include "exec/evm/jwt.h"

struct bm_errmsg;
struct bm_evm;

struct bm_evm_config {
    const char *engine_url; /* borrowed; copied */
    const char *eth_url;    /* borrowed; copied */
    uint8_t jwt_secret[BM_EVM_JWT_SECRET_LEN];
    /* evm.genesis_hash; init_chain refuses to start without it and names
     * the EL's own (bm_evm_el_genesis gives it for a dev chain). */
    bool has_genesis_hash;
    uint8_t genesis_hash[BM_EVM_HASH_LEN];
    uint8_t fee_recipient[BM_EVM_ADDR_LEN]; /* zero: none */
    uint32_t timeout_ms;       /* deadline of one call; 0: 30000 */
    uint32_t status_retries;   /* attempts on SYNCING/ACCEPTED; 0: 3 */
    uint32_t retry_backoff_ms; /* first pause between them; 0: 1000 */
    size_t max_response;       /* bytes of one response; 0: 64 MiB */
};

/* Parses "0x" + 2n hex digits (text borrowed; "" is an error) into out,
 * naming key in the BM_ECONFIG message. For evm.genesis_hash (n 32) and
 * evm.fee_recipient (n 20). */
enum bm_err bm_evm_parse_hex_key(const char *key, const char *text,
                                 uint8_t *out, size_t n,
                                 struct bm_errmsg *em);

/* A new executor; no call is made yet. cfg borrowed. Returns owned *out
 * (bm_evm_free). Errors: BM_ECONFIG (URLs), BM_ENOMEM, BM_EIO. */
enum bm_err bm_evm_new(struct bm_evm **out, const struct bm_evm_config *cfg,
                       struct bm_errmsg *em);

/* Frees. NULL-safe; no op may be running or follow. */
void bm_evm_free(struct bm_evm *evm);

/* The executor handle (borrowed; valid until bm_evm_free). */
void bm_evm_executor(struct bm_evm *evm, struct bm_executor *out);

/* The EL's block 0 hash into out (a dev chain adopts it). Blocks. */
enum bm_err bm_evm_el_genesis(struct bm_evm *evm,
                              uint8_t out[BM_EVM_HASH_LEN],
                              struct bm_errmsg *em);

/* Counters: time spent waiting for the EL (both ports) and blocks built. */
struct bm_evm_stats {
    uint64_t engine_calls;
    uint64_t engine_ns;
    uint64_t eth_calls;
    uint64_t eth_ns;
    uint64_t blocks;     /* execute_txs that returned BM_OK */
    uint64_t rebuilt;    /* of those, heights the EL already had */
    uint64_t exec_ns;    /* wall time inside execute_txs */
    uint64_t exec_el_ns; /* of it, waiting for the EL's answers */
    uint64_t pool_reads_skipped; /* get_txs not read: an execute_txs ran */
    uint64_t payloads_scanned;   /* getPayload answers read by the scanner */
    uint64_t payloads_json_c;    /* ... declined by it, read by json-c */
    uint64_t engine_connects;    /* connections opened to each port */
    uint64_t eth_connects;
};

/* Any thread. */
void bm_evm_stats(const struct bm_evm *evm, struct bm_evm_stats *out);

/* The eth port's URL (for messages; valid until bm_evm_free). */
const char *bm_evm_eth_url(const struct bm_evm *evm);

#endif /* BM_EXEC_EVM_EVM_H */
