/*
 * Verifier actors: the signature checks of a catch-up, in parallel on the
 * worker pool. A source that has many items to check at once (the
 * Retriever: every blob of a DA height; StoreSync: a range of P2P
 * headers) calls bm_verifier_each with one function and the item count.
 * The calling thread and every verifier actor (pooled, env->ids.verifier,
 * one per scheduler worker) then take items from one shared counter, a
 * few at a time, until none is left: whole ranges per wake-up (one
 * message per verifier per call), automatically balanced however uneven
 * the items are (a header costs two Ed25519 verifies, an empty block's
 * data none).
 *
 * A verifier works at most VERIFIER_SLICE_US per turn and then sends the
 * rest of its share to itself, so a long batch never holds a worker away
 * from the other pooled actors (the Validator, the Aggregator) for longer
 * than that.
 *
 * The function must be safe to run for different items on different
 * threads at once (each call touches only item i and what is read-only
 * during the call).
 */
#ifndef BM_ACTORS_VERIFIER_H
#define BM_ACTORS_VERIFIER_H

#include <stddef.h>

#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_verifier_kind { BM_VERIFIER_RUN = 0, BM_VERIFIER_NKINDS };

/* Checks item i of arg. Must not block. */
typedef void bm_verifier_fn(void *arg, size_t i);

struct bm__verifier_job;

/* RUN: a share of a job (one reference owned; the dtor drops it). */
struct bm_verifier_run {
    struct bm__verifier_job *job;
};
void bm_verifier_run_dtor(void *p);

BM_ACTOR_REF(verifier);
BM_ACTOR_TELL(verifier, run, BM_VERIFIER_RUN, struct bm_verifier_run)

/* Spawn with arg = struct bm_env * (borrowed); pooled; REJECT overflow
 * (a full mailbox only means the caller does more itself). */
extern const struct bm_actor_type bm_verifier_actor_type;

/*
 * Calls fn(arg, i) once for every i in [0, n), on the calling thread and,
 * when n is large enough to be worth a wake-up, on the verifier actors at
 * once; returns when every call has returned (fn's effects are then
 * visible to the caller). Never fails: whatever a verifier cannot take
 * (stopping, restarting, mailbox full) the caller does. Borrows arg.
 * Blocks while others finish their items: detached actors and non-actor
 * threads only (never a pooled actor).
 */
void bm_verifier_each(struct bm_env *env, bm_verifier_fn *fn, void *arg,
                      size_t n);

/*
 * bm_verifier_each in two halves, for a caller with other work meanwhile
 * (the Retriever fetches the next DA height while the verifiers check
 * this one). start hands the items to the verifier actors and returns at
 * once (owned batch; with few items, none is handed out and finish does
 * them all); finish checks what is left on the calling thread, waits for
 * every call of fn to have returned, and frees the batch. Every start
 * must be followed by one finish (the items and arg are borrowed until
 * then). Same threads as bm_verifier_each.
 */
struct bm_verifier_batch;
struct bm_verifier_batch *bm_verifier_start(struct bm_env *env,
                                            bm_verifier_fn *fn, void *arg,
                                            size_t n);
void bm_verifier_finish(struct bm_verifier_batch *b);

#endif /* BM_ACTORS_VERIFIER_H */
