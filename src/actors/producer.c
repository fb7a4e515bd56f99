/*
 * ProducerActor (producer.h): one block per PRODUCE request, following
 * the seed's message flow literally:
 *
 *   GET -> State; back-pressure; pending block (store) or NEXT_BATCH ->
 *   Sequencer; CreateBlock; SAVE_PENDING -> State; sign; VALIDATE ->
 *   Validator; APPLY -> Sync (execute + commit); ACK -> Sequencer;
 *   BLOCK -> Broadcaster; NEW_HEIGHT -> DASubmitter; reply.
 *
 * Detached: every step is a blocking call to another actor (calls flow
 * one way; none of those actors ever calls the producer). The first
 * handler also tells the sequencer to drop the txs of the last committed
 * block, so a crash between commit and ACK does not execute them twice.
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

#define NS_PER_MS 1000000ull

struct producer_st {
    struct bm_env *env;
    bool loaded;
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

/* Hands txs (moved in; the pointer and count are cleared either way) to
 * DROP_COMMITTED (which also releases a batch still in flight). Returns the
 * ask's status. */
static int drop_committed(struct bm_env *env, struct bm_buf **txs, size_t *n,
                          uint64_t height)
{
    struct bm_sequencer_txs req = {0};
    struct bm_sequencer_count cnt = {0};
    struct bm_future *f = NULL;
    int err;

    req.txs = *txs;
    req.n = *n;
    *txs = NULL;
    *n = 0;
    err = bm_sequencer_ask_drop_committed(env->sys, bm_env_sequencer(env),
                                          &req, SEQ_TIMEOUT_MS, &f);
    if (err != BM_OK) {
        bm_sequencer_txs_dtor(&req);
    } else {
        err = bm_future_wait(f, -1, &cnt, sizeof(cnt));
        bm_future_free(f);
    }
    if (err != BM_OK) {
        bm_log_warn(MOD, "drop committed txs height=%llu failed err=%s",
                    (unsigned long long)height, bm_err_name(err));
        return err;
    }
    bm_log_debug(MOD, "committed txs dropped height=%llu n=%zu",
                 (unsigned long long)height, cnt.n);
    return BM_OK;
}

/*
 * Makes sure the last committed block's txs are not handed out again: at
 * the first handler (a crash between commit and ack) and after an ACK that
 * failed (the batch would still be in flight). DROP_COMMITTED releases an
 * in-flight batch and drops the committed txs. Until it succeeds no batch
 * is taken (BM_OK or the ask's error; st->loaded tells).
 */
static int load(struct producer_st *st)
{
    struct bm_env *env = st->env;
    struct bm_store_blockbuf blk = {0};
    struct bm_data d = {0};
    uint64_t h = 0;
    int err = BM_OK;

    st->loaded = true;
    if (!has_actor(env->ids.sequencer) ||
        bm_store_height(env->store, &h, NULL) != BM_OK ||
        h < env->genesis->initial_height ||
        bm_store_get_block(env->store, h, &blk, NULL) != BM_OK) {
        return BM_OK;
    }
    if (bm_data_decode(&d, blk.data.ptr, blk.data.len) != BM_OK) {
        bm_log_warn(MOD, "stored data at height %llu does not decode",
                    (unsigned long long)h);
    } else if (d.n_txs > 0) {
        err = drop_committed(env, &d.txs, &d.n_txs, h);
        if (err != BM_OK) {
            st->loaded = false; /* retried before the next batch */
        }
    }
    bm_data_release(&d);
    bm_store_blockbuf_release(&blk);
    return err;
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
 * (its txs are moved into the block). Returns one reference, or NULL with
 * *err set.
 */
static struct bm_block *create_block(struct bm_env *env,
                                     const struct bm_state *s,
                                     uint64_t height,
                                     struct bm_seq_batch *batch, int *err)
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
    if (*err == BM_OK && height > s->initial_height &&
        bm_store_get_block(env->store, height - 1, &prev, NULL) == BM_OK) {
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
        *err = bm_signer_from_privkey(&b->sh.signer, &env->signer);
    }
    if (*err != BM_OK) {
        bm_block_unref(b);
        return NULL;
    }
    return b;
}

/* SAVE_PENDING: the SignedHeader (unsigned) and Data bytes of b. */
static int save_pending(struct bm_env *env, const struct bm_block *b,
                        uint64_t *bytes)
{
    struct bm_state_pending req = {0};
    struct bm_state_ack ack = {0};
    struct bm_future *f = NULL;
    int err;

    err = bm_signed_header_encode(&b->sh, &req.header);
    if (err == BM_OK) {
        err = bm_data_encode(&b->data, &req.data);
    }
    if (err != BM_OK) {
        bm_state_pending_dtor(&req);
        return err;
    }
    *bytes = req.data.len;
    err = bm_state_ask_save_pending(env->sys, bm_env_state(env), &req,
                                    STATE_TIMEOUT_MS, &f);
    if (err != BM_OK) {
        bm_state_pending_dtor(&req);
        return err;
    }
    err = bm_future_wait(f, -1, &ack, sizeof(ack));
    bm_future_free(f);
    return err;
}

/* VALIDATE against s: returns the ask error, or the validation code with
 * its message in msg. */
static int validate_block(struct bm_env *env, struct bm_block *b,
                          const struct bm_state *s, char *msg, size_t len)
{
    int code = BM_OK;
    int err = bm_validator_request(env, b, s, VALIDATE_TIMEOUT_MS, &code,
                                   msg, len);

    return err != BM_OK ? err : code;
}

/* APPLY through the Sync actor. */
static int apply_block(struct bm_env *env, struct bm_block *b,
                       struct bm_sync_applied *out)
{
    struct bm_sync_apply req = {bm_block_ref(b)};
    struct bm_future *f = NULL;
    int err;

    err = bm_sync_ask_apply(env->sys, bm_env_sync(env), &req, APPLY_TIMEOUT_MS,
                            &f);
    if (err != BM_OK) {
        bm_sync_apply_dtor(&req);
        return err;
    }
    err = bm_future_wait(f, -1, out, sizeof(*out));
    bm_future_free(f);
    return err;
}

/* After the commit: ACK (batch from the sequencer) or drop the reused
 * pending block's txs from the queue, broadcast, wake the submitter
 * (those two only when `publish`: with HA, once the block is replicated). */
static void after_commit(struct producer_st *st, struct bm_block *b,
                         bool from_seq, bool publish)
{
    struct bm_env *env = st->env;
    uint64_t height = b->sh.header.height;
    int err;

    if (from_seq) {
        struct bm_sequencer_ack ack = {height};
        struct bm_sequencer_count cnt = {0};

        err = bm_sequencer_call_ack(env->sys, bm_env_sequencer(env), &ack,
                                    &cnt, SEQ_TIMEOUT_MS);
        if (err != BM_OK) {
            /* The batch stays in flight and would be handed out again:
             * drop the committed txs before the next batch (load). */
            bm_log_warn(MOD, "sequencer ack height=%llu failed err=%s; "
                        "dropping its txs before the next batch",
                        (unsigned long long)height, bm_err_name(err));
            st->loaded = false;
        }
    } else if (b->data.n_txs > 0 && has_actor(env->ids.sequencer)) {
        struct bm_buf *txs = bm_xcalloc(b->data.n_txs, sizeof(*txs));
        size_t n = b->data.n_txs;

        for (size_t i = 0; i < n; i++) {
            if (bm_buf_copy(&txs[i], &b->data.txs[i]) != BM_OK) {
                n = i;
                break;
            }
        }
        if (drop_committed(env, &txs, &n, height) != BM_OK) {
            st->loaded = false;
        }
        bm_exec_txs_free(txs, n);
    }
    if (publish && has_actor(env->ids.broadcaster)) {
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
    if (publish && has_actor(env->ids.da_submitter)) {
        struct bm_state_new_height nh = {height, b->sh.header.time};

        err = bm_da_submitter_tell_new_height(env->sys,
                                              bm_env_da_submitter(env), &nh);
        if (err != BM_OK) {
            bm_log_debug(MOD, "da submitter wake height=%llu err=%s",
                         (unsigned long long)height, bm_err_name(err));
        }
    }
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

/* One production round; fills *res. */
static int produce(struct producer_st *st, uint32_t reason,
                   struct bm_producer_result *res)
{
    struct bm_env *env = st->env;
    struct bm_state_get g = {0};
    struct bm_state_info info = {0};
    struct bm_sequencer_batch rb = {0};
    struct bm_sync_applied applied = {0};
    struct bm_block *b = NULL;
    const struct bm_state *s;
    bool from_seq = false;
    int64_t ha_token = 0;
    uint64_t height, bytes = 0;
    char msg[256];
    int err;

    if (!bm_catchup_ha_poll(env)) {
        bm_log_debug(MOD, "skipped: catching up from DA");
        res->catching_up = true;
        (void)bm_store_height(env->store, &res->height, NULL);
        return BM_OK;
    }
    err = bm_state_call_get(env->sys, bm_env_state(env), &g, &info,
                            STATE_TIMEOUT_MS);
    if (err != BM_OK) {
        bm_log_warn(MOD, "state get failed err=%s", bm_err_name(err));
        return err;
    }
    if (info.state == NULL) {
        err = BM_EPROTO;
        goto out;
    }
    s = info.state;
    res->height = info.height;
    if (backpressure(env, &info)) {
        atomic_fetch_add_explicit(&env->m.skipped_backpressure, 1,
                                  memory_order_relaxed);
        bm_log_debug(MOD,
                     "skipped: back-pressure height=%llu "
                     "last_submitted_header=%llu last_submitted_data=%llu",
                     (unsigned long long)info.height,
                     (unsigned long long)info.last_submitted_header,
                     (unsigned long long)info.last_submitted_data);
        res->backpressure = true;
        goto out;
    }
    height = s->last_block_height + 1;
    /* HA: only the leader, at the replicated state (docs/HA.md) */
    if (env->ha != NULL &&
        bm_ha_gate_before(env, s, height, &ha_token) != BM_OK) {
        goto out;
    }

    b = pending_block(env, s, height);
    if (b != NULL) {
        bm_log_info(MOD, "reusing pending block height=%llu",
                    (unsigned long long)height);
        if (!b->sh.signer.has_pub_key) {
            err = bm_signer_from_privkey(&b->sh.signer, &env->signer);
            if (err != BM_OK) {
                goto out;
            }
        }
    } else {
        /* What one DA blob holds: the rest waits for the next block. */
        struct bm_sequencer_next nx = {env->block_tx_budget};

        if (!has_actor(env->ids.sequencer)) {
            err = BM_ESTATE;
            bm_log_warn(MOD, "no sequencer: cannot make a block");
            goto out;
        }
        err = bm_sequencer_call_next_batch(env->sys, bm_env_sequencer(env),
                                           &nx, &rb, SEQ_TIMEOUT_MS);
        if (err != BM_OK || rb.batch == NULL) {
            err = err != BM_OK ? err : BM_EPROTO;
            bm_log_warn(MOD, "next batch failed height=%llu err=%s",
                        (unsigned long long)height, bm_err_name(err));
            goto out;
        }
        if (rb.batch->batch.n_txs == 0 && reason == BM_PRODUCE_TX) {
            bm_log_debug(MOD, "skipped: lazy tx round with an empty batch");
            goto out;
        }
        from_seq = true;
        b = create_block(env, s, height, rb.batch, &err);
        if (b == NULL) {
            bm_log_warn(MOD, "create block height=%llu failed err=%s",
                        (unsigned long long)height, bm_err_name(err));
            goto out;
        }
        err = save_pending(env, b, &bytes);
        if (err != BM_OK) {
            bm_log_warn(MOD, "save pending height=%llu failed err=%s",
                        (unsigned long long)height, bm_err_name(err));
            goto out;
        }
    }

    err = bm_signed_header_sign(&b->sh, &env->signer);
    if (err == BM_OK) {
        err = bm_block_rehash(b);
    }
    if (err != BM_OK) {
        goto out;
    }
    msg[0] = '\0';
    err = validate_block(env, b, s, msg, sizeof(msg));
    if (err != BM_OK) {
        if (is_validation_code(err)) {
            bm_env_fatal(env, MOD, err, "own block at height %llu is "
                         "invalid: %s",
                         (unsigned long long)height, msg);
        } else {
            bm_log_warn(MOD, "validate height=%llu failed err=%s",
                        (unsigned long long)height, bm_err_name(err));
        }
        goto out;
    }
    err = apply_block(env, b, &applied);
    if (err != BM_OK) {
        bm_log_warn(MOD, "apply height=%llu failed err=%s",
                    (unsigned long long)height, bm_err_name(err));
        goto out;
    }
    after_commit(st, b, from_seq,
                 env->ha == NULL ||
                     bm_ha_gate_after(env, b, &info, ha_token) == BM_OK);
    res->height = applied.height;
    res->produced = true;
    bm_log_debug(MOD, "block produced height=%llu txs=%zu pending_bytes=%llu",
                 (unsigned long long)applied.height, b->data.n_txs,
                 (unsigned long long)bytes);
out:
    bm_block_unref(b);
    bm_sequencer_batch_dtor(&rb);
    bm_state_info_dtor(&info);
    return err;
}

/* ------------------------------------------------------------ handler */

BM_ACTOR_HANDLER(on_produce, struct producer_st, struct bm_producer_req)

static int on_produce(struct bm_actor_ctx *ctx, struct producer_st *st,
                      struct bm_producer_req *p)
{
    struct bm_producer_result res = {0};
    int err;

    if (bm_env_halted(st->env)) {
        return BM_ESHUTDOWN;
    }
    if (!st->env->has_signer) {
        bm_log_warn(MOD, "no signer: cannot produce");
        return BM_ESTATE;
    }
    if (!st->loaded) {
        err = load(st);
        if (err != BM_OK) {
            return err; /* no batch until the committed txs are gone */
        }
    }
    err = produce(st, p->reason, &res);
    if (err != BM_OK) {
        return err;
    }
    return bm_actor_reply(ctx, BM_OK, &res, sizeof(res));
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
    *out = st;
    return BM_OK;
}

static void producer_terminate(void *state, int reason)
{
    (void)reason;
    bm_free(state);
}

static const struct bm_msg_kind producer_kinds[BM_PRODUCER_NKINDS] = {
    [BM_PRODUCER_PRODUCE] = BM_MSG_KIND("produce", struct bm_producer_req,
                                        sizeof(struct bm_producer_result),
                                        validate_req, on_produce, NULL, NULL),
};

const struct bm_actor_type bm_producer_actor_type = {
    .name = "producer",
    .kinds = producer_kinds,
    .n_kinds = BM_PRODUCER_NKINDS,
    .init = producer_init,
    .terminate = producer_terminate,
};
