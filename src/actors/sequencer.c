/*
 * SequencerActor (sequencer.h): the single sequencer behind a mailbox.
 * Detached, since every call may fsync the queue. Sequencer errors are the
 * ask's status (the caller decides), never fatal.
 */
#include "actors/sequencer.h"

#include <inttypes.h>
#include <string.h>

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "sequencer"

struct sequencer_actor {
    struct bm_env *env; /* borrowed */
    const uint8_t *chain_id;
    size_t id_len;
};

void bm_sequencer_batch_dtor(void *p)
{
    struct bm_sequencer_batch *b = p;

    if (b->batch != NULL) {
        bm_seq_batch_release(b->batch);
        bm_free(b->batch);
        b->batch = NULL;
    }
}

void bm_sequencer_txs_dtor(void *p)
{
    struct bm_sequencer_txs *t = p;

    for (size_t i = 0; i < t->n && t->txs != NULL; i++) {
        bm_buf_release(&t->txs[i]);
    }
    bm_free(t->txs);
    t->txs = NULL;
    t->n = 0;
}

static int validate_txs(const void *payload, struct bm_errmsg *em)
{
    const struct bm_sequencer_txs *t = payload;

    if (t->n == 0) {
        return bm_errf(em, BM_EINVAL, "n: empty tx list");
    }
    if (t->txs == NULL) {
        return bm_errf(em, BM_EINVAL, "txs: NULL with %zu entries", t->n);
    }
    if (t->n > BM_MAX_TXS) {
        return bm_errf(em, BM_ETOOBIG, "n: got %zu txs, max %u", t->n,
                       BM_MAX_TXS);
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->txs[i].ptr == NULL && t->txs[i].len > 0) {
            return bm_errf(em, BM_EINVAL, "txs[%zu]: NULL with length %zu",
                           i, t->txs[i].len);
        }
    }
    return BM_OK;
}

static void reply_count(struct bm_actor_ctx *ctx, size_t n)
{
    struct bm_sequencer_count c = {n};

    if (bm_actor_ctx_is_ask(ctx)) {
        bm_actor_reply(ctx, BM_OK, &c, sizeof(c));
    }
}

BM_ACTOR_HANDLER(on_next, struct sequencer_actor, struct bm_sequencer_next)
static int on_next(struct bm_actor_ctx *ctx, struct sequencer_actor *s,
                   struct bm_sequencer_next *p)
{
    struct bm_errmsg em = {{0}};
    struct bm_sequencer_batch r = {0};
    uint64_t max = p->max_bytes ? p->max_bytes : s->env->block_tx_budget;
    int err;

    r.batch = bm_xcalloc(1, sizeof(*r.batch));
    err = bm_seq_get_next_batch(s->env->seq, s->chain_id, s->id_len, max,
                                r.batch, &em);
    if (err != BM_OK) {
        bm_log_debug(MOD, "next batch failed: %s", bm_errmsg_str(&em, err));
        bm_sequencer_batch_dtor(&r);
        return err;
    }
    bm_log_debug(MOD, "next batch txs=%zu max_bytes=%" PRIu64,
                 r.batch->batch.n_txs, max);
    if (!bm_actor_ctx_is_ask(ctx) ||
        bm_actor_reply(ctx, BM_OK, &r, sizeof(r)) != BM_OK) {
        bm_sequencer_batch_dtor(&r);
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(on_submit, struct sequencer_actor, struct bm_sequencer_txs)
static int on_submit(struct bm_actor_ctx *ctx, struct sequencer_actor *s,
                     struct bm_sequencer_txs *p)
{
    struct bm_errmsg em = {{0}};
    size_t accepted = 0;
    int err = bm_seq_submit(s->env->seq, s->chain_id, s->id_len, p->txs, p->n,
                            &accepted, &em);

    if (err != BM_OK) {
        bm_log_debug(MOD, "submit of %zu txs failed: %s", p->n,
                     bm_errmsg_str(&em, err));
        return err;
    }
    reply_count(ctx, accepted);
    return BM_OK;
}

BM_ACTOR_HANDLER(on_ack, struct sequencer_actor, struct bm_sequencer_ack)
static int on_ack(struct bm_actor_ctx *ctx, struct sequencer_actor *s,
                  struct bm_sequencer_ack *p)
{
    struct bm_errmsg em = {{0}};
    int err = bm_seq_ack(s->env->seq, &em);

    if (err != BM_OK) {
        bm_log_debug(MOD, "ack height=%" PRIu64 " failed: %s", p->height,
                     bm_errmsg_str(&em, err));
        return err;
    }
    reply_count(ctx, 0);
    return BM_OK;
}

BM_ACTOR_HANDLER(on_drop, struct sequencer_actor, struct bm_sequencer_txs)
static int on_drop(struct bm_actor_ctx *ctx, struct sequencer_actor *s,
                   struct bm_sequencer_txs *p)
{
    struct bm_errmsg em = {{0}};
    size_t dropped = 0;
    int err = bm_seq_drop_committed(s->env->seq, p->txs, p->n, &dropped, &em);

    if (err != BM_OK) {
        bm_log_debug(MOD, "drop committed failed: %s",
                     bm_errmsg_str(&em, err));
        return err;
    }
    if (dropped > 0) {
        bm_log_debug(MOD, "dropped committed txs n=%zu", dropped);
    }
    reply_count(ctx, dropped);
    return BM_OK;
}

static int sequencer_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    struct bm_env *env = arg;
    struct sequencer_actor *s;

    (void)ctx;
    if (env == NULL || env->seq == NULL || env->genesis == NULL ||
        env->genesis->chain_id == NULL) {
        return BM_EINVAL;
    }
    s = bm_xcalloc(1, sizeof(*s));
    s->env = env;
    s->chain_id = (const uint8_t *)env->genesis->chain_id;
    s->id_len = strlen(env->genesis->chain_id);
    *out = s;
    return BM_OK;
}

static void sequencer_terminate(void *state, int reason)
{
    (void)reason;
    bm_free(state);
}

static const struct bm_msg_kind sequencer_kinds[BM_SEQUENCER_NKINDS] = {
    [BM_SEQUENCER_NEXT_BATCH] = BM_MSG_KIND(
        "next_batch", struct bm_sequencer_next,
        sizeof(struct bm_sequencer_batch), NULL, on_next, NULL,
        bm_sequencer_batch_dtor),
    [BM_SEQUENCER_SUBMIT] = BM_MSG_KIND(
        "submit", struct bm_sequencer_txs, sizeof(struct bm_sequencer_count),
        validate_txs, on_submit, bm_sequencer_txs_dtor, NULL),
    [BM_SEQUENCER_ACK] = BM_MSG_KIND("ack", struct bm_sequencer_ack,
                                     sizeof(struct bm_sequencer_count), NULL,
                                     on_ack, NULL, NULL),
    [BM_SEQUENCER_DROP_COMMITTED] = BM_MSG_KIND(
        "drop_committed", struct bm_sequencer_txs,
        sizeof(struct bm_sequencer_count), validate_txs, on_drop,
        bm_sequencer_txs_dtor, NULL),
};

const struct bm_actor_type bm_sequencer_actor_type = {
    .name = "sequencer",
    .kinds = sequencer_kinds,
    .n_kinds = BM_SEQUENCER_NKINDS,
    .init = sequencer_init,
    .terminate = sequencer_terminate,
};
