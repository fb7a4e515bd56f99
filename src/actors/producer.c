/*
 * ProducerActor (producer.h): one block per PRODUCE request, following
 * the seed's message flow literally:
 *
 *   GET -> State; back-pressure; pending block (store) or NEXT_BATCH ->
 *   Sequencer; CreateBlock; SAVE_PENDING -> State; sign; VALIDATE ->
 *   Validator; APPLY -> Sync (execute + commit); BLOCK -> Broadcaster;
 *   NEW_HEIGHT -> DASubmitter; ACK -> Sequencer; reply; ACK's answer.
 *   (The seed acks before it broadcasts and answers after the ACK; the
 *   block is committed either way, and publishing and answering first
 *   spare followers and the asker the wait for the queue's fsync. A block
 *   without txs is answered after the ACK's answer, as before: its ACK has
 *   nothing to persist, and answering first would leave that ACK to wake
 *   the lane's thread when a caller borrowed the lane.)
 *
 * It never waits: each step is an ask whose answer comes back as a
 * continuation (one kind per step), and the PRODUCE ask is answered from
 * the APPLY's (or, for a block without txs, the ACK's) through its
 * deferred reply token. The round stays in flight until the ACK's answer
 * is back: one round runs at a time, so the next batch is never taken
 * before the last one's ACK is done or has failed (then `loaded` is false
 * and its txs are dropped first), and DRAIN (graceful stop) waits for the
 * ACK too. Requests that arrive meanwhile wait in a short queue
 * (QUEUE_MAX).
 * A continuation carries the round's cookie (a per-incarnation base plus
 * a sequence number), so an answer meant for an earlier round or
 * incarnation is ignored. The manager runs the Producer on the block lane
 * with State, Sequencer and Sync (docs/ARCHITECTURE.md "Threads"), so a
 * round's asks and their answers stay on one thread.
 *
 * The first round also tells the sequencer to drop the txs of the last
 * committed block, so a crash between commit and ACK does not execute
 * them twice.
 */
#include "actors/producer.h"

#include <stdio.h>
#include <string.h>

#include "actors/block.h"
#include "actors/broadcaster.h"
#include "actors/catchup.h"
#include "actors/da_submitter.h"
#include "actors/ha_gate.h"
#include "actors/sequencer.h"
#include "actors/state.h"
#include "actors/sync.h"
#include "actors/validator.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "producer"

/* Deadlines of the producer's asks (generous: a loaded 2-core machine;
 * APPLY covers execution retries and the commit). */
#define STATE_TIMEOUT_MS 30000
#define SEQ_TIMEOUT_MS 30000
#define VALIDATE_TIMEOUT_MS 30000
#define APPLY_TIMEOUT_MS 120000
/* PRODUCE requests held while a round runs (a manual block while the
 * block timer runs, say); more are answered BM_EFULL. */
#define QUEUE_MAX 16
/* DRAIN asks held until the round in flight ends. */
#define DRAIN_MAX 4

#define NS_PER_MS 1000000ull

/* What the round in flight waits for. */
enum step {
    S_IDLE = 0, /* no round */
    S_LOAD,     /* DROP_COMMITTED of the last block's txs (first round) */
    S_STATE,    /* GET */
    S_BATCH,    /* NEXT_BATCH */
    S_PENDING,  /* SAVE_PENDING */
    S_VALIDATE, /* VALIDATE */
    S_APPLY,    /* APPLY */
    S_ACK,      /* ACK, or DROP_COMMITTED of a reused pending block */
};

struct waiting {
    struct bm_reply_token tok;
    uint32_t reason;
};

struct round {
    enum step step;
    uint64_t cookie;
    uint32_t reason;
    struct bm_reply_token tok;  /* the PRODUCE ask being answered */
    struct bm_state_info info;  /* owned: the state the block builds on */
    struct bm_block *b;         /* one reference, once made */
    bool from_seq;              /* batch from the sequencer (else pending) */
    uint64_t height;
    uint64_t bytes;             /* encoded data size (log) */
    int64_t ha_token;           /* HA: the fencing token of the gate */
    bool publish;               /* broadcast and submit (HA: replicated) */
    bool replied;               /* tok answered (the ACK may still run) */
    struct bm_producer_result res;
};

struct producer_st {
    struct bm_env *env;
    bool loaded;
    /* Data.Hash() of the last block this incarnation committed, at
     * dh_height (0: none), whose header hash is dh_block: the next
     * block's last_data_hash without reading and decoding that block from
     * the store. Used only when the state the next block builds on has
     * dh_block as its last header hash: with HA that block may have been
     * rolled back since (docs/HA.md) and another one be at dh_height. */
    struct bm_hash dh;
    struct bm_hash dh_block;
    uint64_t dh_height;
    /* The store height when this incarnation started, and whether its
     * block's txs were dropped from the queue (load): with HA, the head
     * at the first round may be another leader's block synced since. */
    uint64_t boot_height;
    bool boot_dropped;
    uint64_t cookie_base;
    uint64_t seq;
    struct round r;
    struct waiting q[QUEUE_MAX]; /* ring */
    size_t qhead, qn;
    struct bm_reply_token drain[DRAIN_MAX];
    size_t ndrain;
};

/* ------------------------------------------------------------ messages */

static int validate_req(const void *payload, struct bm_errmsg *em)
{
    const struct bm_producer_req *r = payload;

    if (r->reason > BM_PRODUCE_MANUAL) {
        return bm_errf(em, BM_EINVAL, "producer.req.reason: got %u, want 0..%u",
                       (unsigned)r->reason, (unsigned)BM_PRODUCE_MANUAL);
    }
    return BM_OK;
}

/* ------------------------------------------------------------ helpers */

/* Validation codes are -60 .. -99 (include/blockv2/err.h). */
static bool is_validation_code(int err)
{
    return err <= BM_ENO_PROPOSER && err >= -99;
}

static bool has_actor(struct bm_actor_id id)
{
    return !bm_actor_id_is_none(id);
}

static uint64_t state_time_ns(const struct bm_state *s)
{
    if (s->last_block_time.seconds < 0 || s->last_block_time.nanos < 0) {
        return 0;
    }
    return (uint64_t)s->last_block_time.seconds * 1000000000ull +
           (uint64_t)s->last_block_time.nanos;
}

/* True if d's txs fit the room one DA blob leaves for them. */
static bool txs_fit(const struct bm_env *env, const struct bm_data *d)
{
    size_t wire = 0;

    for (size_t i = 0; i < d->n_txs; i++) {
        wire += bm_data_tx_wire_size(d->txs[i].len);
        if (wire > env->block_tx_budget) {
            return false;
        }
    }
    return true;
}

/*
 * The pending block saved by an earlier run, if it is the block for
 * height (it links to the state): returns it (one reference) or NULL.
 */
static struct bm_block *pending_block(struct bm_env *env,
                                      const struct bm_state *s,
                                      uint64_t height)
{
    struct bm_buf hb = {0}, db = {0};
    struct bm_block *b = NULL;
    struct bm_header *h;

    if (bm_store_get_pending(env->store, &hb, &db, NULL) != BM_OK) {
        goto out;
    }
    b = bm_block_new();
    if (bm_signed_header_decode(&b->sh, hb.ptr, hb.len) != BM_OK ||
        bm_data_decode(&b->data, db.ptr, db.len) != BM_OK) {
        bm_log_warn(MOD, "pending block does not decode; ignored");
        goto drop;
    }
    h = &b->sh.header;
    if (!txs_fit(env, &b->data)) {
        /* A lowered DA blob limit: its txs are still queued in the
         * sequencer (never acked), so a new batch brings them back. */
        bm_log_warn(MOD, "pending block height=%llu does not fit one DA "
                    "blob any more; ignored",
                    (unsigned long long)h->height);
        goto drop;
    }
    if (h->height != height) {
        bm_log_debug(MOD, "pending block height=%llu ignored, want %llu",
                     (unsigned long long)h->height,
                     (unsigned long long)height);
        goto drop;
    }
    if (!bm_buf_eq(&h->last_header_hash, &s->last_header_hash) ||
        !bm_buf_eq(&h->app_hash, &s->app_hash)) {
        bm_log_warn(MOD, "pending block height=%llu does not link to the "
                    "state; ignored",
                    (unsigned long long)height);
        goto drop;
    }
    goto out;
drop:
    bm_block_unref(b);
    b = NULL;
out:
    bm_buf_release(&hb);
    bm_buf_release(&db);
    return b;
}

/*
 * CreateBlock: header and data of `height` on top of s from the batch
 * (its txs are moved into the block). prev_dh: Data.Hash() of the block
 * at height - 1 if known (NULL: read that block from the store). Returns
 * one reference, or NULL with *err set.
 */
static struct bm_block *create_block(struct bm_env *env,
                                     const struct bm_state *s,
                                     uint64_t height,
                                     struct bm_seq_batch *batch,
                                     const struct bm_hash *prev_dh, int *err)
{
    struct bm_block *b = bm_block_new();
    struct bm_header *h = &b->sh.header;
    struct bm_data *d = &b->data;
    struct bm_store_blockbuf prev = {0};
    struct bm_hash hash;
    uint64_t last = state_time_ns(s);

    d->txs = batch->batch.txs;
    d->n_txs = batch->batch.n_txs;
    batch->batch.txs = NULL;
    batch->batch.n_txs = 0;

    h->version = s->version;
    h->height = height;
    if (height == s->initial_height) {
        h->time = env->genesis->start_time_ns;
    } else {
        h->time = batch->timestamp_ns;
        if (h->time <= last) {
            h->time = last + NS_PER_MS;
        }
    }
    *err = bm_str_set(&h->chain_id, s->chain_id);
    if (*err == BM_OK) {
        *err = bm_buf_copy(&h->last_header_hash, &s->last_header_hash);
    }
    if (*err == BM_OK) {
        *err = bm_buf_copy(&h->app_hash, &s->app_hash);
    }
    if (*err == BM_OK) {
        *err = bm_buf_copy(&h->proposer_address,
                           s->next_proposer_address.len > 0
                               ? &s->next_proposer_address
                               : &env->genesis->proposer_address);
    }
    if (*err == BM_OK) {
        if (d->n_txs == 0) {
            *err = bm_buf_set(&h->data_hash, bm_empty_data_hash.b,
                              BM_HASH_SIZE);
        } else {
            *err = bm_data_da_commitment(d, &hash);
            if (*err == BM_OK) {
                *err = bm_buf_set(&h->data_hash, hash.b, BM_HASH_SIZE);
            }
        }
    }
    if (*err == BM_OK) {
        d->has_metadata = true;
        d->metadata.height = height;
        d->metadata.time = h->time;
        *err = bm_str_set(&d->metadata.chain_id, s->chain_id);
    }
    if (*err == BM_OK && height > s->initial_height && prev_dh != NULL) {
        *err = bm_buf_set(&d->metadata.last_data_hash, prev_dh->b,
                          BM_HASH_SIZE);
    } else if (*err == BM_OK && height > s->initial_height &&
               bm_store_get_block(env->store, height - 1, &prev, NULL) ==
                   BM_OK) {
        struct bm_data pd = {0};

        *err = bm_data_decode(&pd, prev.data.ptr, prev.data.len);
        if (*err == BM_OK) {
            *err = bm_data_hash(&pd, &hash);
        }
        if (*err == BM_OK) {
            *err = bm_buf_set(&d->metadata.last_data_hash, hash.b,
                              BM_HASH_SIZE);
        }
        bm_data_release(&pd);
        bm_store_blockbuf_release(&prev);
    }
    if (*err == BM_OK) {
        *err = bm_signer_copy(&b->sh.signer, &env->signer_info);
    }
    if (*err != BM_OK) {
        bm_block_unref(b);
        return NULL;
    }
    return b;
}

static bool backpressure(const struct bm_env *env,
                         const struct bm_state_info *info)
{
    uint64_t lim = env->cfg.max_pending_headers_and_data;
    uint64_t h = info->height;

    if (lim == 0 || env->da == NULL) {
        return false;
    }
    return (h > info->last_submitted_header &&
            h - info->last_submitted_header >= lim) ||
           (h > info->last_submitted_data &&
            h - info->last_submitted_data >= lim);
}

/* ------------------------------------------------------------ a round */

static void finish(struct bm_actor_ctx *ctx, struct producer_st *st, int err);

/* Sends DROP_COMMITTED with txs (moved in; cleared either way) for the
 * round's current step (S_LOAD or S_ACK). Returns the send's status. */
static int ask_drop(struct bm_actor_ctx *ctx, struct producer_st *st,
                    struct bm_buf **txs, size_t *n)
{
    struct bm_sequencer_txs req = {*txs, *n};
    int err;

    *txs = NULL;
    *n = 0;
    err = bm_sequencer_ask_drop_committed_async(
        ctx, bm_env_sequencer(st->env), &req, SEQ_TIMEOUT_MS,
        BM_PRODUCER_C_SEQ, st->r.cookie);
    if (err != BM_OK) {
        bm_sequencer_txs_dtor(&req);
    }
    return err;
}

static void ask_state(struct bm_actor_ctx *ctx, struct producer_st *st)
{
    struct bm_state_get g = {0};
    int err;

    st->r.step = S_STATE;
    err = bm_state_ask_get_async(ctx, bm_env_state(st->env), &g,
                                 STATE_TIMEOUT_MS, BM_PRODUCER_C_STATE,
                                 st->r.cookie);
    if (err != BM_OK) {
        bm_log_warn(MOD, "state get failed err=%s", bm_err_name(err));
        finish(ctx, st, err);
    }
}

/* Appends copies of the txs of stored block h to *txs (*n of *cap). */
static int add_block_txs(struct bm_env *env, uint64_t h, struct bm_buf **txs,
                         size_t *n, size_t *cap)
{
    struct bm_store_blockbuf blk = {0};
    struct bm_data d = {0};
    int err = BM_OK;

    if (bm_store_get_block(env->store, h, &blk, NULL) != BM_OK) {
        goto out;
    }
    if (bm_data_decode(&d, blk.data.ptr, blk.data.len) != BM_OK) {
        bm_log_warn(MOD, "stored data at height %llu does not decode",
                    (unsigned long long)h);
        goto out;
    }
    if (d.n_txs > 0 && *n + d.n_txs > *cap) {
        *cap = *n + d.n_txs;
        *txs = bm_xrealloc(*txs, *cap * sizeof(**txs));
    }
    for (size_t i = 0; i < d.n_txs && err == BM_OK; i++) {
        memset(&(*txs)[*n], 0, sizeof(**txs));
        err = bm_buf_copy(&(*txs)[*n], &d.txs[i]);
        if (err == BM_OK) {
            (*n)++;
        }
    }
out:
    bm_data_release(&d);
    bm_store_blockbuf_release(&blk);
    return err;
}

/*
 * Makes sure the last committed block's txs are not handed out again: at
 * the first round (a crash between commit and ack) and after an ACK that
 * failed (the batch would still be in flight). DROP_COMMITTED releases an
 * in-flight batch and drops the committed txs; until it succeeds no batch
 * is taken. Goes on with GET when there is nothing to drop. With HA the
 * first round as leader may come after this node followed, when the head
 * is another leader's block: the block at the head when this incarnation
 * started (this node's own last one, maybe committed and never acked) is
 * dropped too, once, or its txs would go in a second block.
 */
static void load(struct bm_actor_ctx *ctx, struct producer_st *st)
{
    struct bm_env *env = st->env;
    struct bm_buf *txs = NULL;
    size_t n = 0, cap = 0;
    uint64_t h = 0;
    int err = BM_OK;

    if (!has_actor(env->ids.sequencer) ||
        bm_store_height(env->store, &h, NULL) != BM_OK ||
        h < env->genesis->initial_height) {
        goto done;
    }
    if (!st->boot_dropped && st->boot_height != h &&
        st->boot_height >= env->genesis->initial_height) {
        /* the block at the start first (one block per DROP_COMMITTED:
         * its size cap), then the head (on_seq_done comes back here) */
        err = add_block_txs(env, st->boot_height, &txs, &n, &cap);
        if (err == BM_OK && n > 0) {
            h = st->boot_height;
        } else {
            st->boot_dropped = true;
        }
    }
    if (err == BM_OK && n == 0) {
        err = add_block_txs(env, h, &txs, &n, &cap);
    }
    if (err == BM_OK && n > 0) {
        st->r.step = S_LOAD;
        st->r.height = h;
        err = ask_drop(ctx, st, &txs, &n);
        if (err == BM_OK) {
            goto out; /* continued in on_seq_done */
        }
        bm_log_warn(MOD, "drop committed txs height=%llu failed err=%s",
                    (unsigned long long)h, bm_err_name(err));
    }
done:
    if (err == BM_OK) {
        st->loaded = true;
        st->boot_dropped = true;
        ask_state(ctx, st);
    } else {
        finish(ctx, st, err); /* retried at the next round */
    }
out:
    bm_exec_txs_free(txs, n);
}

/* Starts a round for the PRODUCE whose reply is tok. */
static void start(struct bm_actor_ctx *ctx, struct producer_st *st,
                  const struct bm_reply_token *tok, uint32_t reason)
{
    struct bm_env *env = st->env;

    memset(&st->r, 0, sizeof(st->r));
    st->r.tok = *tok;
    st->r.reason = reason;
    st->r.cookie = st->cookie_base + ++st->seq;
    st->r.step = S_LOAD;
    /* A graceful stop has begun: no new round (the one in flight, if
     * any, finished before this one could start). */
    if (bm_env_quitting(env)) {
        finish(ctx, st, BM_ESHUTDOWN);
        return;
    }
    if (!bm_catchup_ha_poll(env)) {
        bm_log_debug(MOD, "skipped: catching up from DA");
        st->r.res.catching_up = true;
        (void)bm_store_height(env->store, &st->r.res.height, NULL);
        finish(ctx, st, BM_OK);
        return;
    }
    if (!st->loaded) {
        load(ctx, st);
        return;
    }
    ask_state(ctx, st);
}

/* Answers the DRAIN asks (no round in flight). */
static void drained(struct producer_st *st)
{
    struct bm_producer_drained d = {0};

    (void)bm_store_height(st->env->store, &d.height, NULL);
    for (size_t i = 0; i < st->ndrain; i++) {
        bm_actor_reply_token(st->env->sys, &st->drain[i], BM_OK, &d,
                             sizeof(d));
    }
    st->ndrain = 0;
}

/* Answers the round's PRODUCE (its result, or err) unless it was
 * answered already; the round goes on. */
static void reply(struct producer_st *st, int err)
{
    struct bm_env *env = st->env;
    struct round *r = &st->r;

    if (r->replied) {
        return;
    }
    r->replied = true;
    if (err == BM_OK) {
        bm_actor_reply_token(env->sys, &r->tok, BM_OK, &r->res,
                             sizeof(r->res));
    } else {
        bm_actor_reply_token(env->sys, &r->tok, err, NULL, 0);
    }
}

/* Answers the round's PRODUCE (its result, or err) if not done yet, drops
 * what the round holds and starts the next queued request, if any. */
static void finish(struct bm_actor_ctx *ctx, struct producer_st *st, int err)
{
    struct round *r = &st->r;

    reply(st, err);
    bm_block_unref(r->b);
    bm_state_info_dtor(&r->info);
    memset(r, 0, sizeof(*r));
    if (st->qn > 0) {
        struct waiting w = st->q[st->qhead];

        st->qhead = (st->qhead + 1) % QUEUE_MAX;
        st->qn--;
        start(ctx, st, &w.tok, w.reason);
    }
    if (st->r.step == S_IDLE && st->ndrain > 0) {
        drained(st);
    }
}

/* The continuation for step `want` of the current round? Checks the
 * cookie and the step; a failed ask ends the round with its status. */
static bool current(struct bm_actor_ctx *ctx, struct producer_st *st,
                    enum step want, const char *what)
{
    int status = bm_actor_ctx_status(ctx);

    if (st->r.step != want || bm_actor_ctx_cookie(ctx) != st->r.cookie) {
        return false; /* stale: an earlier round or incarnation */
    }
    if (status != BM_OK) {
        bm_log_warn(MOD, "%s height=%llu failed err=%s", what,
                    (unsigned long long)st->r.height, bm_err_name(status));
        finish(ctx, st, status);
        return false;
    }
    if (bm_env_halted(st->env)) {
        finish(ctx, st, BM_ESHUTDOWN);
        return false;
    }
    return true;
}

/* SAVE_PENDING with the SignedHeader (unsigned) and Data bytes of r.b. */
static void ask_pending(struct bm_actor_ctx *ctx, struct producer_st *st)
{
    struct bm_state_pending req = {0};
    int err;

    err = bm_signed_header_encode(&st->r.b->sh, &req.header);
    if (err == BM_OK) {
        err = bm_data_encode(&st->r.b->data, &req.data);
    }
    if (err == BM_OK) {
        st->r.bytes = req.data.len;
        st->r.step = S_PENDING;
        err = bm_state_ask_save_pending_async(ctx, bm_env_state(st->env),
                                              &req, STATE_TIMEOUT_MS,
                                              BM_PRODUCER_C_PENDING,
                                              st->r.cookie);
    }
    if (err != BM_OK) {
        bm_state_pending_dtor(&req);
        bm_log_warn(MOD, "save pending height=%llu failed err=%s",
                    (unsigned long long)st->r.height, bm_err_name(err));
        finish(ctx, st, err);
    }
}

/* Signs r.b and asks the Validator to check it against the state. Our
 * own signature is not verified again (bm_validator_req.own). */
static void sign_and_validate(struct bm_actor_ctx *ctx,
                              struct producer_st *st)
{
    struct bm_env *env = st->env;
    struct bm_validator_req req = {0};
    int err;

    err = bm_signed_header_sign(&st->r.b->sh, &env->signer);
    if (err == BM_OK) {
        err = bm_block_rehash(st->r.b);
    }
    if (err == BM_OK) {
        /* The round needs the state no more: it moves into the request. */
        req.state = st->r.info.state;
        st->r.info.state = NULL;
        req.blk = bm_block_ref(st->r.b);
        req.own = true;
        st->r.step = S_VALIDATE;
        err = bm_validator_ask_validate_async(
            ctx, bm_env_validator(env), &req, VALIDATE_TIMEOUT_MS,
            BM_PRODUCER_C_VALIDATED, st->r.cookie);
    }
    if (err != BM_OK) {
        bm_validator_req_dtor(&req);
        bm_log_warn(MOD, "validate height=%llu failed err=%s",
                    (unsigned long long)st->r.height, bm_err_name(err));
        finish(ctx, st, err);
    }
}

/* After the commit: ACK (batch from the sequencer) or drop the reused
 * pending block's txs from the queue. True if an answer is awaited
 * (on_seq_done goes on); false if there was nothing to do or the ask could
 * not be sent (then st->loaded is false: the committed txs are dropped
 * before the next batch). */
static bool ack(struct bm_actor_ctx *ctx, struct producer_st *st)
{
    struct bm_env *env = st->env;
    struct bm_block *b = st->r.b;
    int err;

    st->r.step = S_ACK;
    if (st->r.from_seq) {
        struct bm_sequencer_ack a = {st->r.height};

        err = bm_sequencer_ask_ack_async(ctx, bm_env_sequencer(env), &a,
                                         SEQ_TIMEOUT_MS, BM_PRODUCER_C_SEQ,
                                         st->r.cookie);
    } else if (b->data.n_txs > 0 && has_actor(env->ids.sequencer)) {
        struct bm_buf *txs = bm_xcalloc(b->data.n_txs, sizeof(*txs));
        size_t n = b->data.n_txs;

        err = BM_OK;
        for (size_t i = 0; i < n && err == BM_OK; i++) {
            err = bm_buf_copy(&txs[i], &b->data.txs[i]);
        }
        if (err == BM_OK) {
            err = ask_drop(ctx, st, &txs, &n);
        } else {
            bm_exec_txs_free(txs, n);
        }
    } else {
        return false;
    }
    if (err == BM_OK) {
        return true;
    }
    /* The batch stays in flight and would be handed out again: drop the
     * committed txs before the next batch (load). */
    bm_log_warn(MOD, "sequencer ack height=%llu failed err=%s; "
                "dropping its txs before the next batch",
                (unsigned long long)st->r.height, bm_err_name(err));
    st->loaded = false;
    return false;
}

/* The block is committed (with HA, replicated too: st->r.publish):
 * broadcast it and wake the submitter at once, before the sequencer's ACK,
 * so full nodes following by P2P get it one queue fsync sooner. A crash
 * between here and the ACK loses nothing: the next incarnation drops the
 * committed block's txs from the queue first (S_LOAD). */
static void publish(struct producer_st *st)
{
    struct bm_env *env = st->env;
    struct bm_block *b = st->r.b;
    uint64_t height = st->r.height;
    int err;

    if (!st->r.publish) {
        return;
    }
    if (has_actor(env->ids.broadcaster) &&
        (env->header_bc != NULL || env->data_bc != NULL)) {
        struct bm_broadcaster_block m = {bm_block_ref(b)};

        err = bm_broadcaster_tell_block(env->sys, bm_env_broadcaster(env), &m);
        if (err != BM_OK) {
            bm_broadcaster_block_dtor(&m);
            /* Stopping or restarting broadcaster: expected at shutdown. */
            bm_log(err == BM_EFULL ? BM_LOG_WARN : BM_LOG_DEBUG, MOD,
                   "broadcast height=%llu not sent err=%s",
                   (unsigned long long)height, bm_err_name(err));
        }
    }
    if (has_actor(env->ids.da_submitter)) {
        struct bm_state_new_height nh = {height, b->sh.header.time};

        err = bm_da_submitter_tell_new_height(env->sys,
                                              bm_env_da_submitter(env), &nh);
        if (err != BM_OK) {
            bm_log_debug(MOD, "da submitter wake height=%llu err=%s",
                         (unsigned long long)height, bm_err_name(err));
        }
    }
}

/* The block is committed, published and acknowledged (or its ack failed
 * and st->loaded is false): answer if not done yet, end the round. */
static void committed(struct bm_actor_ctx *ctx, struct producer_st *st)
{
    bm_log_debug(MOD, "block produced height=%llu txs=%zu pending_bytes=%llu",
                 (unsigned long long)st->r.height, st->r.b->data.n_txs,
                 (unsigned long long)st->r.bytes);
    finish(ctx, st, BM_OK);
}

/* ------------------------------------------------------------ handlers */

BM_ACTOR_HANDLER(on_produce, struct producer_st, struct bm_producer_req)
BM_ACTOR_HANDLER(on_drain, struct producer_st, struct bm_producer_drain)
BM_ACTOR_HANDLER(on_state, struct producer_st, struct bm_state_info)
BM_ACTOR_HANDLER(on_batch, struct producer_st, struct bm_sequencer_batch)
BM_ACTOR_HANDLER(on_pending, struct producer_st, struct bm_state_ack)
BM_ACTOR_HANDLER(on_validated, struct producer_st,
                 struct bm_validator_result)
BM_ACTOR_HANDLER(on_applied, struct producer_st, struct bm_sync_applied)
BM_ACTOR_HANDLER(on_seq_done, struct producer_st, struct bm_sequencer_count)

static int on_produce(struct bm_actor_ctx *ctx, struct producer_st *st,
                      struct bm_producer_req *p)
{
    struct bm_reply_token tok;
    int err;

    if (bm_env_halted(st->env)) {
        return BM_ESHUTDOWN;
    }
    if (!st->env->has_signer) {
        bm_log_warn(MOD, "no signer: cannot produce");
        return BM_ESTATE;
    }
    if (st->r.step != S_IDLE && st->qn == QUEUE_MAX) {
        bm_log_warn(MOD, "produce refused: %d requests wait already",
                    QUEUE_MAX);
        return BM_EFULL;
    }
    err = bm_actor_reply_defer(ctx, &tok);
    if (err != BM_OK) {
        return err; /* not an ask: nobody to answer */
    }
    if (st->r.step != S_IDLE) {
        struct waiting *w = &st->q[(st->qhead + st->qn) % QUEUE_MAX];

        w->tok = tok;
        w->reason = p->reason;
        st->qn++;
        return BM_OK;
    }
    start(ctx, st, &tok, p->reason);
    return BM_OK;
}

static int on_drain(struct bm_actor_ctx *ctx, struct producer_st *st,
                    struct bm_producer_drain *p)
{
    int err;

    (void)p;
    if (st->ndrain == DRAIN_MAX) {
        return BM_EFULL;
    }
    err = bm_actor_reply_defer(ctx, &st->drain[st->ndrain]);
    if (err != BM_OK) {
        return err;
    }
    st->ndrain++;
    if (st->r.step == S_IDLE) {
        drained(st);
    }
    return BM_OK;
}

static int on_state(struct bm_actor_ctx *ctx, struct producer_st *st,
                    struct bm_state_info *p)
{
    struct bm_env *env = st->env;
    struct bm_sequencer_next nx = {env->block_tx_budget};
    const struct bm_state *s;
    int err;

    if (!current(ctx, st, S_STATE, "state get")) {
        return BM_OK;
    }
    if (p->state == NULL) {
        finish(ctx, st, BM_EPROTO);
        return BM_OK;
    }
    st->r.info = *p;
    p->state = NULL; /* moved into the round */
    s = st->r.info.state;
    st->r.res.height = st->r.info.height;
    if (backpressure(env, &st->r.info)) {
        atomic_fetch_add_explicit(&env->m.skipped_backpressure, 1,
                                  memory_order_relaxed);
        bm_log_debug(MOD,
                     "skipped: back-pressure height=%llu "
                     "last_submitted_header=%llu last_submitted_data=%llu",
                     (unsigned long long)st->r.info.height,
                     (unsigned long long)st->r.info.last_submitted_header,
                     (unsigned long long)st->r.info.last_submitted_data);
        st->r.res.backpressure = true;
        finish(ctx, st, BM_OK);
        return BM_OK;
    }
    st->r.height = s->last_block_height + 1;
    /* HA: only the leader, at the replicated state (docs/HA.md); the
     * gate may block on etcd, on the block lane like the commits. */
    if (env->ha != NULL &&
        bm_ha_gate_before(env, s, st->r.height, &st->r.ha_token) != BM_OK) {
        finish(ctx, st, BM_OK);
        return BM_OK;
    }
    st->r.b = pending_block(env, s, st->r.height);
    if (st->r.b != NULL) {
        bm_log_info(MOD, "reusing pending block height=%llu",
                    (unsigned long long)st->r.height);
        err = BM_OK;
        if (!st->r.b->sh.signer.has_pub_key) {
            err = bm_signer_from_privkey(&st->r.b->sh.signer, &env->signer);
        }
        if (err != BM_OK) {
            finish(ctx, st, err);
            return BM_OK;
        }
        sign_and_validate(ctx, st);
        return BM_OK;
    }
    if (!has_actor(env->ids.sequencer)) {
        bm_log_warn(MOD, "no sequencer: cannot make a block");
        finish(ctx, st, BM_ESTATE);
        return BM_OK;
    }
    /* What one DA blob holds: the rest waits for the next block. */
    st->r.step = S_BATCH;
    err = bm_sequencer_ask_next_batch_async(ctx, bm_env_sequencer(env), &nx,
                                            SEQ_TIMEOUT_MS,
                                            BM_PRODUCER_C_BATCH,
                                            st->r.cookie);
    if (err != BM_OK) {
        bm_log_warn(MOD, "next batch failed height=%llu err=%s",
                    (unsigned long long)st->r.height, bm_err_name(err));
        finish(ctx, st, err);
    }
    return BM_OK;
}

/* Is the cached Data.Hash() the one of the block the round builds on? */
static bool dh_current(const struct producer_st *st)
{
    const struct bm_buf *lh = &st->r.info.state->last_header_hash;

    return st->dh_height != 0 && st->dh_height + 1 == st->r.height &&
           bm_buf_eq_raw(lh, st->dh_block.b, sizeof(st->dh_block.b));
}

static int on_batch(struct bm_actor_ctx *ctx, struct producer_st *st,
                    struct bm_sequencer_batch *p)
{
    int err = BM_OK;

    if (!current(ctx, st, S_BATCH, "next batch")) {
        return BM_OK;
    }
    if (p->batch == NULL) {
        finish(ctx, st, BM_EPROTO);
        return BM_OK;
    }
    if (p->batch->batch.n_txs == 0 && st->r.reason == BM_PRODUCE_TX) {
        /* The sequencer handed out an empty batch: nothing in flight. */
        bm_log_debug(MOD, "skipped: lazy tx round with an empty batch");
        finish(ctx, st, BM_OK);
        return BM_OK;
    }
    st->r.from_seq = true;
    st->r.b = create_block(st->env, st->r.info.state, st->r.height, p->batch,
                           dh_current(st) ? &st->dh : NULL, &err);
    if (st->r.b == NULL) {
        bm_log_warn(MOD, "create block height=%llu failed err=%s",
                    (unsigned long long)st->r.height, bm_err_name(err));
        finish(ctx, st, err);
        return BM_OK;
    }
    ask_pending(ctx, st);
    return BM_OK;
}

static int on_pending(struct bm_actor_ctx *ctx, struct producer_st *st,
                      struct bm_state_ack *p)
{
    (void)p;
    if (current(ctx, st, S_PENDING, "save pending")) {
        sign_and_validate(ctx, st);
    }
    return BM_OK;
}

static int on_validated(struct bm_actor_ctx *ctx, struct producer_st *st,
                        struct bm_validator_result *p)
{
    struct bm_sync_apply req = {0};
    int err;

    if (!current(ctx, st, S_VALIDATE, "validate")) {
        return BM_OK;
    }
    if (p->code != BM_OK) {
        p->msg[sizeof(p->msg) - 1] = '\0';
        if (is_validation_code(p->code)) {
            bm_env_fatal(st->env, MOD, p->code,
                         "own block at height %llu is invalid: %s",
                         (unsigned long long)st->r.height, p->msg);
        } else {
            bm_log_warn(MOD, "validate height=%llu failed err=%s",
                        (unsigned long long)st->r.height,
                        bm_err_name(p->code));
        }
        finish(ctx, st, p->code);
        return BM_OK;
    }
    req.blk = bm_block_ref(st->r.b);
    st->r.step = S_APPLY;
    err = bm_sync_ask_apply_async(ctx, bm_env_sync(st->env), &req,
                                  APPLY_TIMEOUT_MS, BM_PRODUCER_C_APPLIED,
                                  st->r.cookie);
    if (err != BM_OK) {
        bm_sync_apply_dtor(&req);
        bm_log_warn(MOD, "apply height=%llu failed err=%s",
                    (unsigned long long)st->r.height, bm_err_name(err));
        finish(ctx, st, err);
    }
    return BM_OK;
}

static int on_applied(struct bm_actor_ctx *ctx, struct producer_st *st,
                      struct bm_sync_applied *p)
{
    if (!current(ctx, st, S_APPLY, "apply")) {
        return BM_OK;
    }
    st->r.res.height = p->height;
    st->dh_height = 0;
    if (bm_data_hash(&st->r.b->data, &st->dh) == BM_OK) {
        st->dh_block = st->r.b->hash;
        st->dh_height = st->r.height;
    }
    /* HA: replicated before it is published (docs/HA.md) */
    st->r.publish = st->env->ha == NULL ||
                    bm_ha_gate_after(st->env, st->r.b, &st->r.info,
                                     st->r.ha_token) == BM_OK;
    publish(st);
    /* The result no longer changes: the ACK is the queue's clean-up. */
    st->r.res.produced = true;
    if (!ack(ctx, st)) {
        committed(ctx, st);
        return BM_OK;
    }
    /* Answered now, the round stays in flight until the ACK's answer.
     * Without txs the ACK has nothing to persist (bm_seq_ack skips an
     * empty batch; only a batch the filter emptied has deletions to
     * commit): answered after it, so the lane's work ends with the round
     * and a caller that borrowed the lane wakes no thread. */
    if (st->r.b->data.n_txs > 0) {
        reply(st, BM_OK);
    }
    return BM_OK;
}

static int on_seq_done(struct bm_actor_ctx *ctx, struct producer_st *st,
                       struct bm_sequencer_count *p)
{
    int status = bm_actor_ctx_status(ctx);

    if (bm_actor_ctx_cookie(ctx) != st->r.cookie ||
        (st->r.step != S_LOAD && st->r.step != S_ACK)) {
        return BM_OK; /* stale */
    }
    if (st->r.step == S_LOAD) {
        if (!current(ctx, st, S_LOAD, "drop committed txs")) {
            return BM_OK; /* st->loaded stays false: retried next round */
        }
        bm_log_debug(MOD, "committed txs dropped height=%llu n=%zu",
                     (unsigned long long)st->r.height, p->n);
        if (!st->boot_dropped && st->r.height == st->boot_height) {
            st->boot_dropped = true;
            load(ctx, st); /* now the head's */
            return BM_OK;
        }
        st->loaded = true;
        st->boot_dropped = true;
        ask_state(ctx, st);
        return BM_OK;
    }
    if (status != BM_OK) {
        /* The block is committed: only the queue's clean-up failed. */
        bm_log_warn(MOD, "sequencer ack height=%llu failed err=%s; "
                    "dropping its txs before the next batch",
                    (unsigned long long)st->r.height, bm_err_name(status));
        st->loaded = false;
    }
    committed(ctx, st);
    return BM_OK;
}

/* ------------------------------------------------------------ type */

static int producer_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    struct producer_st *st;

    (void)ctx;
    if (arg == NULL) {
        return BM_EINVAL;
    }
    st = bm_xcalloc(1, sizeof(*st));
    st->env = arg;
    if (bm_store_height(st->env->store, &st->boot_height, NULL) != BM_OK) {
        st->boot_height = 0;
    }
    /* Distinct per incarnation: continuations of a previous one (before a
     * restart) never match. */
    st->cookie_base = bm_actor_now_ns() << 8;
    *out = st;
    return BM_OK;
}

/* Answers every PRODUCE still held (the round's and the queued ones):
 * their askers would otherwise wait for their deadlines. */
static void producer_terminate(void *state, int reason)
{
    struct producer_st *st = state;
    int err = reason == BM_OK || reason == BM_ESHUTDOWN ? BM_ESTOPPED
                                                        : BM_ERESTARTING;

    if (st->r.step != S_IDLE) {
        reply(st, err); /* unless the round answered before its ACK */
        bm_block_unref(st->r.b);
        bm_state_info_dtor(&st->r.info);
    }
    for (; st->qn > 0; st->qn--) {
        bm_actor_reply_token(st->env->sys, &st->q[st->qhead].tok, err, NULL,
                             0);
        st->qhead = (st->qhead + 1) % QUEUE_MAX;
    }
    for (size_t i = 0; i < st->ndrain; i++) {
        bm_actor_reply_token(st->env->sys, &st->drain[i], err, NULL, 0);
    }
    bm_free(st);
}

static const struct bm_msg_kind producer_kinds[BM_PRODUCER_NKINDS] = {
    [BM_PRODUCER_PRODUCE] = BM_MSG_KIND("produce", struct bm_producer_req,
                                        sizeof(struct bm_producer_result),
                                        validate_req, on_produce, NULL, NULL),
    [BM_PRODUCER_DRAIN] = BM_MSG_KIND("drain", struct bm_producer_drain,
                                      sizeof(struct bm_producer_drained),
                                      NULL, on_drain, NULL, NULL),
    [BM_PRODUCER_C_STATE] = BM_MSG_KIND("c_state", struct bm_state_info, 0,
                                        NULL, on_state, bm_state_info_dtor,
                                        NULL),
    [BM_PRODUCER_C_BATCH] = BM_MSG_KIND("c_batch", struct bm_sequencer_batch,
                                        0, NULL, on_batch,
                                        bm_sequencer_batch_dtor, NULL),
    [BM_PRODUCER_C_PENDING] = BM_MSG_KIND("c_pending", struct bm_state_ack,
                                          0, NULL, on_pending, NULL, NULL),
    [BM_PRODUCER_C_VALIDATED] = BM_MSG_KIND("c_validated",
                                            struct bm_validator_result, 0,
                                            NULL, on_validated, NULL, NULL),
    [BM_PRODUCER_C_APPLIED] = BM_MSG_KIND("c_applied",
                                          struct bm_sync_applied, 0, NULL,
                                          on_applied, NULL, NULL),
    [BM_PRODUCER_C_SEQ] = BM_MSG_KIND("c_seq", struct bm_sequencer_count, 0,
                                      NULL, on_seq_done, NULL, NULL),
};

const struct bm_actor_type bm_producer_actor_type = {
    .name = "producer",
    .kinds = producer_kinds,
    .n_kinds = BM_PRODUCER_NKINDS,
    .init = producer_init,
    .terminate = producer_terminate,
};
