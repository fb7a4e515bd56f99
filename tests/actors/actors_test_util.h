/*
 * Test rig for the block-manager actors: a real node home in a temp dir
 * with a real store, KV executor, sequencer, signer key and genesis, an
 * optional real local DA server on 127.0.0.1, the actors' env, and an
 * actor system (created stopped). Tests spawn the actors they need with
 * at_spawn, then at_start.
 */
#ifndef BM_TESTS_ACTORS_TEST_UTIL_H
#define BM_TESTS_ACTORS_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/block.h"
#include "actors/env.h"
#include "blockv2/actor.h"
#include "blockv2/da.h"
#include "blockv2/genesis.h"
#include "blockv2/manager.h"
#include "exec/kv/kv.h"
#include "util/clock.h" /* bm_sleep_ms */

struct at_node {
    char home[256];
    bool own_home;
    struct bm_store *store;
    struct bm_kv *kv;
    struct bm_executor exec;
    struct bm_seq *seq;
    struct bm_privkey key;
    struct bm_genesis genesis;
    struct bm_da_server *da_server; /* own server, if started */
    struct bm_da_client *da_client;
    struct bm_da da;
    char da_url[64];
    struct bm_manager_config cfg;
    struct bm_env env;
    struct bm_actor_system *sys;
    bool started;
};

struct at_opts {
    bool aggregator;         /* signer + sequencer */
    bool with_da;            /* DA client (own server unless da_url) */
    const char *da_url;      /* existing DA server */
    uint32_t da_server_block_time_ms; /* own server; 0 = none */
    const char *home;        /* existing home (restart); NULL = new */
    uint8_t key_seed;        /* proposer key = seed byte repeated */
    const struct bm_manager_config *cfg; /* NULL: defaults + fast times */
    uint64_t genesis_time_ns; /* 0: now - 10 s */
    size_t seq_recent_txs;    /* sequencer's recent_txs; 0: default */
};

/* Builds everything and bootstraps the state (bm_bootstrap_state).
 * Asserts on failure (cmocka). The system is created, not started. */
void at_node_open(struct at_node *n, const struct at_opts *o);

/* Spawns `type` with arg &n->env; writes the id to *id (e.g.
 * &n->env.ids.state). Asserts on failure. */
void at_spawn(struct at_node *n, const struct bm_actor_type *type,
              struct bm_actor_id *id, bool detached, enum bm_overflow ov);

/* Starts the actor system. */
void at_start(struct at_node *n);

/* Stops the system and closes everything; remove_home deletes the temp
 * home (keep it to reopen with opts.home = n->home). */
void at_node_close(struct at_node *n, bool remove_home);

/*
 * Builds the next block on top of `st` (the state after block
 * st->last_block_height), signed by n->key, with txs "k<i>=v<i>" style
 * payloads given as strings (NULL-terminated array; NULL = empty block),
 * time = max(now, last block time + 1 ms). Includes data metadata with
 * last_data_hash of the stored previous block if present. Returns a block
 * with one reference.
 */
struct bm_block *at_make_block(struct at_node *n, const struct bm_state *st,
                               const char *const *txs);

/* Commits the next block with txs (NULL: empty) through the State actor
 * (which must be running); executes it first unless `execute` is false
 * (the executor then lags behind the store). Asserts. */
void at_commit_next(struct at_node *n, const char *const *txs, bool execute);

/* Loads the latest state from the store (asserts). */
void at_latest_state(struct at_node *n, struct bm_state *out);

/*
 * An executor that forwards every op to `inner` except those a test
 * replaces (faults): at_exec_wrap sets *out to an executor whose ops are
 * over's non-NULL ops and, for the rest, forwarders to inner (optional ops
 * only where inner has them). Every op gets the struct at_exec_wrap as
 * ctx: a replaced op reaches inner through w->inner and its test state
 * through w->arg. inner, over and arg are borrowed; w must outlive *out.
 */
struct at_exec_wrap {
    const struct bm_executor *inner;
    void *arg;
    struct bm_executor_ops ops; /* private */
};

void at_exec_wrap(struct at_exec_wrap *w, const struct bm_executor *inner,
                  const struct bm_executor_ops *over, void *arg,
                  struct bm_executor *out);

/* Polls cond(arg) every 5 ms for up to timeout_ms; returns its last value. */
bool at_wait(bool (*cond)(void *), void *arg, int64_t timeout_ms);

#endif /* BM_TESTS_ACTORS_TEST_UTIL_H */
