/*
 * ValidatorActor: checks a block against a state as a full node does
 * (pooled: CPU only). In order: SignedHeader.ValidateBasic (proposer,
 * signature, key/address binding, time), Data.Validate when the data has
 * metadata, AssertExpectedProposer (state's next proposer, else genesis),
 * AssertValidSequence (chain id, height, time, last header hash with the
 * once-per-process tolerance, app hash), header <-> data match (spec 3.3,
 * 3.5). The same check is available as a function for the manager's
 * Validate call.
 */
#ifndef BM_ACTORS_VALIDATOR_H
#define BM_ACTORS_VALIDATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/block.h"
#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_validator_kind { BM_VALIDATOR_VALIDATE = 0, BM_VALIDATOR_NKINDS };

/* VALIDATE: the block (one reference owned) and the state to validate
 * against (heap copy, owned). now_ns 0 = wall clock. own: the Producer's
 * block, just made and signed with env->signer: its signature is not
 * verified again and its data_hash not recomputed from its txs (both were
 * made from these bytes a moment ago); every other check runs, the
 * state-divergence checks (app hash, last header hash) included. */
struct bm_validator_req {
    struct bm_block *blk;
    struct bm_state *state;
    uint64_t now_ns;
    bool own;
};
void bm_validator_req_dtor(void *p);

/* Reply: the validation code (BM_OK or a -60..-99 code) and its message. */
struct bm_validator_result {
    int code;
    char msg[256];
};

BM_ACTOR_REF(validator);
BM_ACTOR_ASK(validator, validate, BM_VALIDATOR_VALIDATE,
             struct bm_validator_req, struct bm_validator_result)

/* Spawn with arg = struct bm_env * (borrowed); pooled. */
extern const struct bm_actor_type bm_validator_actor_type;

/*
 * The check itself. genesis_proposer: the genesis proposer address.
 * *tolerance_unused (in/out, may be NULL = never tolerate): whether the
 * once-per-process last-header-hash tolerance is still available; cleared
 * when used. Borrows everything. Returns BM_OK or the validation code
 * with em naming the field. A block marked sig_verified (its source
 * verified the header's signature) is not verified again; every other
 * rule runs. The Validator actor runs the same check, and for a request
 * marked own (bm_validator_req) does not verify the signature either.
 */
int bm_validator_check(const struct bm_block *blk,
                       const struct bm_state *state,
                       const struct bm_buf *genesis_proposer,
                       bool *tolerance_unused, uint64_t now_ns,
                       struct bm_errmsg *em);

/*
 * Asks the Validator actor to check b against s and waits for the answer
 * (detached actors and non-actor threads only; it blocks). Borrows b (the
 * message takes its own reference) and s (copied). Returns BM_OK with the
 * validation code (BM_OK or -60..-99) in *code and its message in
 * msg[0..len), or the ask's own error (BM_ETIMEDOUT, BM_ENOACTOR,
 * BM_ENOMEM, ...), in which case *code is untouched.
 */
int bm_validator_request(struct bm_env *env, struct bm_block *b,
                         const struct bm_state *s, int64_t timeout_ms,
                         int *code, char *msg, size_t len);

static inline struct bm_ref_validator bm_env_validator(const struct bm_env *e)
{
    return (struct bm_ref_validator){e->ids.validator};
}

#endif /* BM_ACTORS_VALIDATOR_H */
