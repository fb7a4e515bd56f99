/*
 * Compiled (not run) by compile_fail.sh: the plain build must compile, and
 * each BM_BAD_* variant must NOT compile, proving that typed senders reject
 * a message meant for another actor type.
 */
#include "blockv2/actor.h"

struct state_put {
    uint64_t height;
};

struct validator_check {
    uint64_t height;
    uint8_t hash[32];
};

BM_ACTOR_REF(state);
BM_ACTOR_REF(validator);
BM_ACTOR_TELL(state, put, 0, struct state_put)
BM_ACTOR_TELL(validator, check, 0, struct validator_check)

int typed_send_probe(struct bm_actor_system *sys, struct bm_ref_state st,
                     struct bm_ref_validator va);

int typed_send_probe(struct bm_actor_system *sys, struct bm_ref_state st,
                     struct bm_ref_validator va)
{
    struct state_put sp = {1};
    struct validator_check vc = {1, {0}};
    int err;

    (void)va;
    (void)vc;
    err = bm_state_tell_put(sys, st, &sp);
    if (err != BM_OK) {
        return err;
    }
#if defined(BM_BAD_REF)
    /* A validator message sent to the state actor's reference. */
    return bm_validator_tell_check(sys, st, &vc);
#elif defined(BM_BAD_PAYLOAD)
    /* The state actor's sender with a validator payload. */
    return bm_state_tell_put(sys, st, &vc);
#else
    return bm_validator_tell_check(sys, va, &vc);
#endif
}
