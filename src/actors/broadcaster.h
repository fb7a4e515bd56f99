/*
 * BroadcasterActor: hands committed blocks to the header and data
 * broadcasters (P2P gossip; env->header_bc / data_bc), header first, then
 * data, in height order (detached: a broadcaster may block). Without
 * broadcasters it only counts. Errors are logged, never fatal (current
 * ev-node).
 */
#ifndef BM_ACTORS_BROADCASTER_H
#define BM_ACTORS_BROADCASTER_H

#include "actors/block.h"
#include "actors/env.h"
#include "blockv2/actor.h"

enum bm_broadcaster_kind { BM_BROADCASTER_BLOCK = 0, BM_BROADCASTER_NKINDS };

/* BLOCK: one reference owned. */
struct bm_broadcaster_block {
    struct bm_block *blk;
};
void bm_broadcaster_block_dtor(void *p);

BM_ACTOR_REF(broadcaster);
BM_ACTOR_TELL(broadcaster, block, BM_BROADCASTER_BLOCK,
              struct bm_broadcaster_block)

/* Spawn with arg = struct bm_env *, detached. */
extern const struct bm_actor_type bm_broadcaster_actor_type;

static inline struct bm_ref_broadcaster
bm_env_broadcaster(const struct bm_env *e)
{
    return (struct bm_ref_broadcaster){e->ids.broadcaster};
}

#endif /* BM_ACTORS_BROADCASTER_H */
