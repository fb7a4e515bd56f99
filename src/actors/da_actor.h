/*
 * What the DA submitter and the DA includer share (both detached, both
 * driven by a TICK timer and the State actor's NEW_HEIGHT): their state
 * begins with a struct bm_da_actor that init fills and terminate tears
 * down, they write metadata through the State actor and wait for it, and
 * they validate NEW_HEIGHT the same way.
 */
#ifndef BM_ACTORS_DA_ACTOR_H
#define BM_ACTORS_DA_ACTOR_H

#include <stddef.h>
#include <stdint.h>

#include "actors/env.h"
#include "actors/state.h"
#include "blockv2/actor.h"

struct bm_errmsg;

/* The head of a DA actor's state. */
struct bm_da_actor {
    struct bm_env *env;          /* borrowed */
    struct bm_actor_system *sys; /* borrowed */
    struct bm_timer_id tick;
};

/*
 * The body of a DA actor's init: allocates a zeroed state of `size` bytes
 * (it must begin with a struct bm_da_actor), fills its head from ctx and
 * env (borrowed) and arms a one-shot timer that sends message tick_kind
 * (an all-zero payload of payload_size bytes, at most 16) after
 * bm_env_da_tick_ms(env, min_ms); the actor arms it again after each
 * TICK (bm_env_tick_fired, bm_env_tick_resume in env.h). *state_out returns owned on BM_OK; on
 * error nothing is left allocated.
 */
int bm_da_actor_init(struct bm_actor_ctx *ctx, struct bm_env *env,
                     size_t size, uint32_t tick_kind, size_t payload_size,
                     int64_t min_ms, void **state_out);

/* A DA actor's terminate: cancels the timer, frees the state (takes it;
 * NULL-safe). */
void bm_da_actor_terminate(void *state, int reason);

/*
 * Writes the list through the State actor and waits for its ack (may
 * block up to the ask's deadline). Takes the list: it is emptied in every
 * case. Returns the ask's or the write's status.
 */
int bm_da_actor_put_meta(struct bm_env *env, struct bm_state_meta_list *l);

/* bm_da_actor_put_meta for a record of what DA holds (the submitter's
 * last-submitted heights and rhb hints): written even after a fatal error
 * (bm_state_put_da_record_wait). Takes the list (emptied in every case). */
int bm_da_actor_put_record(struct bm_env *env, struct bm_state_meta_list *l);

/* Validate callback of NEW_HEIGHT (struct bm_state_new_height): height
 * must be above 0. */
int bm_da_actor_validate_new_height(const void *payload,
                                    struct bm_errmsg *em);

#endif /* BM_ACTORS_DA_ACTOR_H */
