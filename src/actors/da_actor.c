/* The pieces the DA submitter and includer share (da_actor.h). */
#include "actors/da_actor.h"

#include <string.h>

#include "util/alloc.h"
#include "util/errmsg.h"

#define META_TIMEOUT_MS 30000
#define MAX_TICK_PAYLOAD 16u

int bm_da_actor_init(struct bm_actor_ctx *ctx, struct bm_env *env,
                     size_t size, uint32_t tick_kind, size_t payload_size,
                     int64_t min_ms, void **state_out)
{
    static const uint8_t zero[MAX_TICK_PAYLOAD] = {0};
    struct bm_da_actor *a;
    int64_t period;
    int err;

    if (env == NULL || size < sizeof(*a) || payload_size > sizeof(zero)) {
        return BM_EINVAL;
    }
    a = bm_xcalloc(1, size);
    a->env = env;
    a->sys = bm_actor_ctx_system(ctx);
    period = bm_env_da_tick_ms(env, min_ms);
    err = bm_timer_start(a->sys, bm_actor_ctx_self(ctx), tick_kind, zero,
                         payload_size, period, 0, &a->tick);
    if (err != BM_OK) {
        bm_free(a);
        return err;
    }
    *state_out = a;
    return BM_OK;
}

void bm_da_actor_terminate(void *state, int reason)
{
    struct bm_da_actor *a = state;

    (void)reason;
    if (a == NULL) {
        return;
    }
    (void)bm_timer_cancel(a->sys, a->tick);
    bm_free(a);
}

int bm_da_actor_put_meta(struct bm_env *env, struct bm_state_meta_list *l)
{
    return bm_state_put_meta_wait(env, l, META_TIMEOUT_MS);
}

int bm_da_actor_put_record(struct bm_env *env, struct bm_state_meta_list *l)
{
    return bm_state_put_da_record_wait(env, l, META_TIMEOUT_MS);
}

int bm_da_actor_validate_new_height(const void *payload,
                                    struct bm_errmsg *em)
{
    const struct bm_state_new_height *p = payload;

    if (p == NULL || p->height == 0) {
        return bm_errf(em, BM_EINVAL, "new_height.height: got 0, want >= 1");
    }
    return BM_OK;
}
