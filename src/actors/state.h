/*
 * StateActor: the single source of truth for the chain state and the
 * ONLY writer of the store (detached: LMDB commits fsync).
 *  - keeps the last committed State and the store height in memory
 *    (loaded from the store in its first handler; the manager has
 *    bootstrapped a state before it runs, see bootstrap.h);
 *  - COMMIT applies a validated, executed block in one atomic store
 *    transaction (header, data, signature, hash index, height, state and
 *    the message's metadata), then notifies the subscribers (env.h) with
 *    struct bm_state_new_height and marks the hash seen;
 *  - COMMIT_GROUP does the same for consecutive blocks in one transaction
 *    (a full node catching up: one durable commit per group; each block
 *    is whole or absent after a crash, never partial) and notifies once,
 *    with the last height;
 *  - ROLLBACK removes the head block (one store transaction, pending
 *    block included) and reloads the state below it: an HA leader's block
 *    the cluster did not accept, asked by Sync (docs/HA.md);
 *  - SAVE_PENDING / PUT_META write the pending block and metadata;
 *  - GET answers with a copy of the state and the heights it tracks
 *    (store height, DA-included height, last-submitted heights, read from
 *    and kept in sync with the metadata it writes).
 * A store write error is fatal (bm_env_fatal): the node stops rather than
 * continuing with memory and disk disagreeing.
 */
#ifndef BM_ACTORS_STATE_H
#define BM_ACTORS_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/block.h"
#include "actors/env.h"
#include "blockv2/actor.h"
#include "blockv2/types.h"

enum bm_state_kind {
    BM_STATE_GET = 0,
    BM_STATE_SAVE_PENDING,
    BM_STATE_COMMIT,
    BM_STATE_PUT_META,
    BM_STATE_COMMIT_GROUP,
    BM_STATE_ROLLBACK,
    BM_STATE_NKINDS
};

/* Where a committed block came from. */
enum bm_block_source {
    BM_SRC_PRODUCED = 0,
    BM_SRC_DA = 1,
    BM_SRC_P2P = 2,
};

/* GET request (no fields used). */
struct bm_state_get {
    uint32_t flags;
};

/* GET reply. Owns `state` (heap); released by bm_state_info_dtor. */
struct bm_state_info {
    struct bm_state *state;
    uint64_t height;                /* store height */
    uint64_t da_included_height;    /* /0/m/d, 0 if absent */
    uint64_t last_submitted_header; /* 0 if absent */
    uint64_t last_submitted_data;
};
void bm_state_info_dtor(void *p);

/* SAVE_PENDING: SignedHeader bytes and Data bytes (owned). */
struct bm_state_pending {
    struct bm_buf header;
    struct bm_buf data;
};
void bm_state_pending_dtor(void *p);

/* Reply of SAVE_PENDING, COMMIT and PUT_META: the store height after. */
struct bm_state_ack {
    uint64_t height;
};

/* One metadata change: value empty and del true deletes. Owns both. */
struct bm_state_meta_kv {
    char *name;
    struct bm_buf value;
    bool del;
};

/* An owned list of metadata changes. */
struct bm_state_meta_list {
    struct bm_state_meta_kv *v;
    size_t n;
};
/* Appends name = LE64(v) / name = bytes. BM_ENOMEM. */
enum bm_err bm_state_meta_add_u64(struct bm_state_meta_list *l,
                                  const char *name, uint64_t v);
enum bm_err bm_state_meta_add(struct bm_state_meta_list *l, const char *name,
                              const uint8_t *p, size_t len);
void bm_state_meta_list_release(struct bm_state_meta_list *l);
/* Appends a copy of every entry of *src (borrowed) to *dst. BM_ENOMEM
 * (then *dst holds the entries copied so far). */
enum bm_err bm_state_meta_append(struct bm_state_meta_list *dst,
                                 const struct bm_state_meta_list *src);

/* COMMIT: one block (one reference owned), the State after it (heap,
 * owned; last_block_height must be the block's height and tip + 1), extra
 * metadata written in the same transaction, and whether to delete the
 * pending block. */
struct bm_state_commit {
    struct bm_block *blk;
    struct bm_state *new_state;
    struct bm_state_meta_list meta;
    bool clear_pending;
    uint8_t source; /* enum bm_block_source */
};
void bm_state_commit_dtor(void *p);

/* Most blocks in one COMMIT_GROUP. */
#define BM_STATE_GROUP_MAX 1024u

/* COMMIT_GROUP: consecutive blocks committed in ONE store transaction
 * (a catch-up's group, actors/sync.h): v[i] is what COMMIT would carry for
 * height tip + 1 + i (its State after it, its metadata, its source). All
 * or nothing; the reply's height is the last block's. Owns the array and
 * every entry. */
struct bm_state_commit_group {
    struct bm_state_commit *v;
    size_t n; /* 1..BM_STATE_GROUP_MAX */
};
void bm_state_commit_group_dtor(void *p);

/* PUT_META: metadata written in one transaction. */
struct bm_state_put_meta {
    struct bm_state_meta_list meta;
    /* A record of what DA holds (the DA submitter's last-submitted heights
     * and rhb hints): written even after a fatal error halted the node,
     * since those blobs are on DA whatever failed here; without it a
     * restart would submit them again. Every other write stays refused. */
    bool da_record;
};
void bm_state_put_meta_dtor(void *p);

/* ROLLBACK: remove block `height`, which must be the store's head (else
 * BM_EHEIGHT_MISMATCH, nothing done), with its state, hash index entries
 * and the pending block, in one store transaction; the state below it
 * becomes the state. Other metadata is left (DA heights never reach an
 * unreplicated block). Reply: struct bm_state_ack, the new store height.
 * A store write error is fatal. Only Sync sends it: it rolls the executor
 * back to the same height next (actors/sync.h). */
struct bm_state_rollback {
    uint64_t height;
};

/* Notification sent to subscribers after each COMMIT. */
struct bm_state_new_height {
    uint64_t height;
    uint64_t time_ns; /* block time */
};

BM_ACTOR_REF(state);
BM_ACTOR_ASK(state, get, BM_STATE_GET, struct bm_state_get,
             struct bm_state_info)
BM_ACTOR_ASK(state, save_pending, BM_STATE_SAVE_PENDING,
             struct bm_state_pending, struct bm_state_ack)
BM_ACTOR_ASK(state, commit, BM_STATE_COMMIT, struct bm_state_commit,
             struct bm_state_ack)
BM_ACTOR_ASK(state, put_meta, BM_STATE_PUT_META, struct bm_state_put_meta,
             struct bm_state_ack)
BM_ACTOR_ASK(state, commit_group, BM_STATE_COMMIT_GROUP,
             struct bm_state_commit_group, struct bm_state_ack)
BM_ACTOR_ASK(state, rollback, BM_STATE_ROLLBACK, struct bm_state_rollback,
             struct bm_state_ack)

/* Spawn with arg = struct bm_env * (borrowed), opts.detached = true. */
extern const struct bm_actor_type bm_state_actor_type;

/*
 * Writes *l through the State actor (PUT_META, one transaction) and waits
 * for the ack: takes the list (emptied in every case). Returns BM_OK or
 * the ask's error (the State actor makes its own write errors fatal).
 * Blocks: only from detached actors.
 */
int bm_state_put_meta_wait(struct bm_env *env, struct bm_state_meta_list *l,
                           int64_t timeout_ms);

/*
 * bm_state_put_meta_wait for a record of what DA holds (da_record): also
 * written after a fatal error, as long as the store loaded. Takes the list
 * (emptied in every case). Blocks: only from detached actors.
 */
int bm_state_put_da_record_wait(struct bm_env *env,
                                struct bm_state_meta_list *l,
                                int64_t timeout_ms);

static inline struct bm_ref_state bm_env_state(const struct bm_env *e)
{
    return (struct bm_ref_state){e->ids.state};
}

#endif /* BM_ACTORS_STATE_H */
