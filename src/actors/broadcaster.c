/*
 * BroadcasterActor (broadcaster.h): hands each committed block to the
 * header broadcaster, then to the data broadcaster (when set), in the
 * order the blocks arrive (the Producer sends them in height order).
 * Detached: a broadcaster may block on the network. A broadcast error is
 * logged (warn at the start of a failure streak and every WARN_EVERY
 * failures after it, debug otherwise), never fatal.
 */
#include "actors/broadcaster.h"

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "broadcaster"

#define WARN_EVERY 100

struct broadcaster {
    struct bm_env *env;
    uint64_t blocks;      /* blocks handled */
    uint64_t fail_streak; /* failed broadcasts in a row */
};

void bm_broadcaster_block_dtor(void *p)
{
    struct bm_broadcaster_block *b = p;

    bm_block_unref(b->blk);
    b->blk = NULL;
}

static int validate_block(const void *payload, struct bm_errmsg *em)
{
    const struct bm_broadcaster_block *b = payload;

    if (b->blk == NULL) {
        return bm_errf(em, BM_EINVAL,
                       "broadcaster_block.blk: got NULL, want a block");
    }
    return BM_OK;
}

static void report(struct broadcaster *s, const char *what, uint64_t height,
                   int err)
{
    if (err == BM_OK) {
        if (s->fail_streak > 0) {
            bm_log_info(MOD, "broadcast recovered failures=%llu",
                        (unsigned long long)s->fail_streak);
        }
        s->fail_streak = 0;
        return;
    }
    s->fail_streak++;
    if (s->fail_streak == 1 || s->fail_streak % WARN_EVERY == 0) {
        bm_log_warn(MOD, "broadcast %s failed err=%s height=%llu failures=%llu",
                    what, bm_err_name(err), (unsigned long long)height,
                    (unsigned long long)s->fail_streak);
    } else {
        bm_log_debug(MOD, "broadcast %s failed err=%s height=%llu", what,
                     bm_err_name(err), (unsigned long long)height);
    }
}

BM_ACTOR_HANDLER(on_block, struct broadcaster, struct bm_broadcaster_block)
static int on_block(struct bm_actor_ctx *ctx, struct broadcaster *s,
                    struct bm_broadcaster_block *p)
{
    const struct bm_broadcaster *hb = s->env->header_bc;
    const struct bm_broadcaster *db = s->env->data_bc;
    const struct bm_block *blk = p->blk;
    uint64_t height = blk->sh.header.height;

    (void)ctx;
    s->blocks++;
    if (bm_env_halted(s->env)) {
        return BM_OK;
    }
    if (hb != NULL && hb->broadcast_header != NULL) {
        report(s, "header", height, hb->broadcast_header(hb->ctx, &blk->sh));
    }
    if (db != NULL && db->broadcast_data != NULL) {
        report(s, "data", height, db->broadcast_data(db->ctx, &blk->data));
    }
    bm_log_debug(MOD, "block height=%llu blocks=%llu",
                 (unsigned long long)height, (unsigned long long)s->blocks);
    return BM_OK;
}

static const struct bm_msg_kind bc_kinds[BM_BROADCASTER_NKINDS] = {
    [BM_BROADCASTER_BLOCK] =
        BM_MSG_KIND("block", struct bm_broadcaster_block, 0, validate_block,
                    on_block, bm_broadcaster_block_dtor, NULL),
};

static int bc_init(struct bm_actor_ctx *ctx, void *arg, void **state_out)
{
    struct bm_env *env = arg;
    struct broadcaster *s;

    (void)ctx;
    if (env == NULL) {
        return BM_EINVAL;
    }
    s = bm_xcalloc(1, sizeof(*s));
    s->env = env;
    *state_out = s;
    return BM_OK;
}

static void bc_terminate(void *state, int reason)
{
    (void)reason;
    bm_free(state);
}

const struct bm_actor_type bm_broadcaster_actor_type = {
    .name = "broadcaster",
    .kinds = bc_kinds,
    .n_kinds = BM_BROADCASTER_NKINDS,
    .init = bc_init,
    .terminate = bc_terminate,
};
