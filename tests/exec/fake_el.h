/*
 * A scripted execution client for tests: an Engine API + eth JSON-RPC
 * server on 127.0.0.1 (libmicrohttpd, a thread per connection, one port
 * for both APIs, port 0 = kernel-chosen) that keeps a small model chain
 * and can be told to misbehave in the ways a real client cannot be made
 * to on demand: answer INVALID, answer SYNCING n times, hang, answer
 * garbage, drop connections, lose its latest blocks. It checks the JWT of
 * every engine_* call (HS256, jwt.h): a wrong secret gets HTTP 401.
 *
 * The model: block hash = SHA-256 over the parent hash, number, time,
 * state root and fee recipient; state root = SHA-256(parent root, every
 * included tx). A tx whose first byte is 0xfe "fails" and is dropped from
 * the block (as ev-reth drops failing txs). Two fake clients with the same
 * seed build identical chains from identical inputs, so an aggregator and
 * a full node each with their own agree block by block. The genesis (block
 * 0) depends on the seed: another seed is "another chain".
 *
 * It behaves like ethereumjs where the two clients differ from ev-reth: a
 * fork choice to an ancestor answers VALID and keeps the head; a build on
 * an ancestor reorgs. The timestamp must be strictly above the parent's
 * unless allow_equal_time.
 *
 * Test-only (a fake for faults that cannot be caused for real). Thread-safe.
 */
#ifndef BM_TESTS_EXEC_FAKE_EL_H
#define BM_TESTS_EXEC_FAKE_EL_H

#include <stdbool.h>
#include <stdint.h>

#include "exec/evm/jwt.h"

struct fake_el;

struct fake_el_config {
    uint8_t jwt_secret[BM_EVM_JWT_SECRET_LEN];
    uint32_t seed;          /* genesis: another seed, another chain */
    uint64_t gas_limit;     /* 0: 30,000,000 */
    bool allow_equal_time;  /* ev-reth: a child may have its parent's time */
    /* getPayloadV4 answers -38005 (a client past Prague): V5 works. */
    bool only_get_payload_v5;
    /* getPayload's executionPayload carries an extra member whose string
     * has an escape ("\n"): an answer the executor's scanner declines. */
    bool payload_escape;
};

/* Fault switches (set with fake_el_fault; all off at start). */
struct fake_el_faults {
    bool new_payload_invalid;  /* newPayload: INVALID + validationError */
    uint32_t syncing;          /* the next n engine answers are SYNCING */
    uint32_t hang_ms;          /* every call waits this long first */
    bool garbage;              /* every call answers non-JSON bytes */
    bool down;                 /* every connection is closed unanswered */
    bool no_txpool_ext;        /* txpoolExt_getTxs: method not found */
    bool own_pool;             /* builds from its pool, not the attrs */
};

/* Starts one on 127.0.0.1 with a free port. Aborts the test on failure. */
struct fake_el *fake_el_start(const struct fake_el_config *cfg);

/* Stops the server and frees the chain. NULL-safe. */
void fake_el_stop(struct fake_el *el);

/* "http://127.0.0.1:PORT" (both APIs); valid until fake_el_stop. */
const char *fake_el_url(const struct fake_el *el);

/* Replaces the fault switches. */
void fake_el_fault(struct fake_el *el, const struct fake_el_faults *f);

/* Head number, and its hash/state root (may be NULL). */
uint64_t fake_el_head(struct fake_el *el, uint8_t hash[32],
                      uint8_t state_root[32]);

/* The canonical block n's hash/state root; false if none. */
bool fake_el_block(struct fake_el *el, uint64_t n, uint8_t hash[32],
                   uint8_t state_root[32]);

/* Forgets every block above n (a client that lost its last writes). */
void fake_el_truncate(struct fake_el *el, uint64_t n);

/* Adds a raw tx (hex without 0x, borrowed) to the pool txpoolExt_getTxs
 * returns; the txs of a built block leave it. */
void fake_el_pool_add(struct fake_el *el, const char *hex);

/* Engine calls answered so far (all methods), and of one method. */
uint64_t fake_el_calls(struct fake_el *el, const char *method);

#endif /* BM_TESTS_EXEC_FAKE_EL_H */
