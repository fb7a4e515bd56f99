/*
 * DAIncluderActor: advances the DA-included height (any node with DA;
 * detached: SetFinal may block). On TICK (every da_block_time / 4, at
 * least 50 ms), NEW_HEIGHT and INCLUDED: from n = DA-included height + 1
 * while n <= store height: header DA height = rhb/<n>/h (metadata written
 * by the submitter or by the Sync actor's commit), data DA height =
 * rhb/<n>/d, or the header's DA height when block n has empty data; if
 * both are known: Executor.SetFinal(n) (idempotent; retried 3 times, then
 * fatal), and after a run of heights one PUT_META through the State actor
 * with /0/m/d = last n (and rhb/<n>/d for empty blocks, gdh on the first
 * inclusion). Stops at the first height not known to be included. The
 * DA-included height is also published in env->m.da_included_height.
 */
#ifndef BM_ACTORS_DA_INCLUDER_H
#define BM_ACTORS_DA_INCLUDER_H

#include <stdint.h>

#include "actors/env.h"
#include "actors/state.h"
#include "blockv2/actor.h"

enum bm_da_includer_kind {
    BM_DA_INCLUDER_TICK = 0,
    BM_DA_INCLUDER_NEW_HEIGHT, /* struct bm_state_new_height */
    BM_DA_INCLUDER_INCLUDED,
    BM_DA_INCLUDER_NKINDS
};

struct bm_da_includer_tick {
    uint32_t unused;
};

/* Heights from..to of headers (which 'h') or data ('d') are now on DA at
 * da_height (already persisted as rhb metadata by the sender). */
struct bm_da_includer_included {
    uint64_t from;
    uint64_t to;
    uint64_t da_height;
    char which;
};

BM_ACTOR_REF(da_includer);
BM_ACTOR_TELL(da_includer, included, BM_DA_INCLUDER_INCLUDED,
              struct bm_da_includer_included)

/* Spawn with arg = struct bm_env *, detached, overflow drop_oldest. Its
 * init arms its TICK timer. */
extern const struct bm_actor_type bm_da_includer_actor_type;

/* True if block `height` is stored and both pieces are on DA according to
 * the rhb metadata (used by bm_manager_is_da_included). */
enum bm_err bm_da_includer_is_included(struct bm_env *env, uint64_t height,
                                       bool *out, struct bm_errmsg *em);

static inline struct bm_ref_da_includer
bm_env_da_includer(const struct bm_env *e)
{
    return (struct bm_ref_da_includer){e->ids.da_includer};
}

#endif /* BM_ACTORS_DA_INCLUDER_H */
