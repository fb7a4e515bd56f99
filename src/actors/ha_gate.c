/* The Producer's high-availability hooks (actors/ha_gate.h). */
#include "actors/ha_gate.h"

#include <inttypes.h>
#include <stdatomic.h>

#include "blockv2/ha.h"
#include "blockv2/store.h"
#include "blockv2/types.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "ha"

/* One refusal line per second at most: the aggregator ticks every block
 * time on every follower. */
static _Atomic uint64_t last_refusal_log_ms;

static void log_refusal(int err, const struct bm_errmsg *em)
{
    uint64_t now = bm_clock_now_ms();
    uint64_t last = atomic_load(&last_refusal_log_ms);

    if (now - last < 1000 ||
        !atomic_compare_exchange_strong(&last_refusal_log_ms, &last, now)) {
        return;
    }
    bm_log(err == BM_ENOT_LEADER ? BM_LOG_DEBUG : BM_LOG_WARN, MOD,
           "not producing err=%s: %s", bm_err_name(err),
           bm_errmsg_str(em, err));
}

/* The record of a block: SignedHeader and Data bytes as stored. */
static int encode_record(uint64_t height, const struct bm_buf *hash,
                         uint64_t time_ns, const struct bm_buf *header,
                         const struct bm_buf *data, uint64_t sub_header,
                         uint64_t sub_data, struct bm_buf *out)
{
    struct bm_raft_block_state r = {0};

    /* borrowed views: encode copies nothing, and r is not released */
    r.height = height;
    r.hash = *hash;
    r.timestamp = time_ns;
    r.header = *header;
    r.data = *data;
    r.last_submitted_da_header_height = sub_header;
    r.last_submitted_da_data_height = sub_data;
    return bm_raft_block_state_encode(&r, out);
}

/* Replicates the store's block at `height` (committed, never published). */
static int replicate_stored(struct bm_env *env, uint64_t height, int64_t token,
                            struct bm_errmsg *em)
{
    struct bm_store_blockbuf bb = {0};
    struct bm_signed_header sh = {0};
    struct bm_hash hash;
    struct bm_buf hb = {0};
    struct bm_buf rec = {0};
    int err;

    err = bm_store_get_block(env->store, height, &bb, em);
    if (err == BM_OK) {
        err = bm_signed_header_decode(&sh, bb.header.ptr, bb.header.len);
    }
    if (err == BM_OK) {
        struct bm_ha_status st;
        bm_ha_status(env->ha, &st);
        /* it must build on the replicated block, or it is a fork */
        if (!bm_buf_eq_raw(&sh.header.last_header_hash, st.replicated_hash,
                           st.replicated_hash_len)) {
            bm_store_blockbuf_release(&bb);
            bm_signed_header_release(&sh);
            return bm_errf(em, BM_ECORRUPT,
                           "ha: the store's block %" PRIu64
                           " does not build on the replicated block: it "
                           "must be rolled back",
                           height);
        }
        err = bm_header_hash(&sh.header, &hash);
    }
    if (err == BM_OK) {
        hb.ptr = hash.b;
        hb.len = sizeof(hash.b);
        err = encode_record(height, &hb, sh.header.time, &bb.header, &bb.data,
                            0, 0, &rec);
    }
    if (err == BM_OK) {
        err = bm_ha_replicate(env->ha, token, height, rec.ptr, rec.len, em);
    } else {
        bm_errf(em, err, "ha: cannot read stored block %" PRIu64, height);
    }
    if (err == BM_OK) {
        atomic_store(&env->ha_unreplicated, 0);
        bm_log_info(MOD,
                    "replicated stored block height=%" PRIu64 " token=%" PRId64,
                    height, token);
    }
    bm_buf_release(&rec);
    bm_signed_header_release(&sh);
    bm_store_blockbuf_release(&bb);
    return err;
}

int bm_ha_gate_before(struct bm_env *env, const struct bm_state *s,
                      uint64_t height, int64_t *token)
{
    struct bm_ha_status st;
    struct bm_errmsg em = {{0}};
    int err;

    bm_ha_status(env->ha, &st);
    if (st.role != BM_HA_LEADER) {
        err = bm_errf(&em, BM_ENOT_LEADER, "follower (leader '%s')",
                      st.leader_id[0] ? st.leader_id : "unknown");
        log_refusal(err, &em);
        return err;
    }
    *token = st.token;
    err = bm_ha_may_produce(env->ha, height, st.token, s->last_header_hash.ptr,
                            s->last_header_hash.len, &em);
    if (err == BM_ESTATE && st.replicated_known && height >= 2 &&
        st.replicated_height == height - 2) {
        /* our head (height - 1) was committed, never replicated */
        err = replicate_stored(env, height - 1, st.token, &em);
        if (err == BM_OK) {
            err = bm_ha_may_produce(env->ha, height, st.token,
                                    s->last_header_hash.ptr,
                                    s->last_header_hash.len, &em);
        }
    }
    if (err != BM_OK) {
        log_refusal(err, &em);
    }
    return err;
}

int bm_ha_gate_after(struct bm_env *env, const struct bm_block *b,
                     const struct bm_state_info *info, int64_t token)
{
    struct bm_buf header = {0}, data = {0}, rec = {0};
    struct bm_buf hash = {(uint8_t *)b->hash.b, sizeof(b->hash.b)};
    struct bm_errmsg em = {{0}};
    uint64_t height = b->sh.header.height;
    int err;

    err = bm_signed_header_encode(&b->sh, &header);
    if (err == BM_OK) {
        err = bm_data_encode(&b->data, &data);
    }
    if (err == BM_OK) {
        err = encode_record(height, &hash, b->sh.header.time, &header, &data,
                            info->last_submitted_header,
                            info->last_submitted_data, &rec);
    }
    if (err == BM_OK) {
        err = bm_ha_replicate(env->ha, token, height, rec.ptr, rec.len, &em);
    }
    if (err != BM_OK) {
        bm_log_warn(MOD,
                    "block height=%" PRIu64 " committed but not "
                    "replicated, not published err=%s: %s",
                    height, bm_err_name(err), bm_errmsg_str(&em, err));
    }
    /* refused for sure (not an unknown outcome): never replicated */
    atomic_store(&env->ha_unreplicated,
                 err == BM_ENOT_LEADER || err == BM_ELEASE_EXPIRED ? height
                                                                    : 0);
    bm_buf_release(&rec);
    bm_buf_release(&data);
    bm_buf_release(&header);
    return err;
}

/* The cluster's header hash at `height` from the record, if it tells:
 * its hash when it is at that height (no copy), the parent hash in its
 * header when it is one above. */
static bool cluster_hash_at(struct bm_env *env, uint64_t height,
                            struct bm_buf *out)
{
    struct bm_raft_block_state rec = {0};
    struct bm_signed_header sh = {0};
    struct bm_ha_status st;
    struct bm_buf raw = {0};
    bool ok = false;

    bm_ha_status(env->ha, &st);
    if (!st.replicated_known) {
        return false;
    }
    if (st.replicated_height == height) {
        return bm_buf_set(out, st.replicated_hash, st.replicated_hash_len) ==
               BM_OK;
    }
    if (height == UINT64_MAX || st.replicated_height != height + 1 ||
        bm_ha_record(env->ha, &raw) != BM_OK ||
        bm_raft_block_state_decode(&rec, raw.ptr, raw.len) != BM_OK) {
        goto out;
    }
    if (rec.height == height + 1 &&
        bm_signed_header_decode(&sh, rec.header.ptr, rec.header.len) ==
            BM_OK &&
        sh.header.height == rec.height) {
        ok = bm_buf_copy(out, &sh.header.last_header_hash) == BM_OK;
    }
out:
    bm_signed_header_release(&sh);
    bm_raft_block_state_release(&rec);
    bm_buf_release(&raw);
    return ok;
}

bool bm_ha_gate_head_diverged(struct bm_env *env, uint64_t *height)
{
    struct bm_buf want = {0};
    struct bm_hash have;
    uint64_t h = 0;
    bool diverged = false;

    if (env->ha == NULL || bm_store_height(env->store, &h, NULL) != BM_OK ||
        h == 0) {
        return false;
    }
    *height = h;
    if (atomic_load(&env->ha_unreplicated) == h) {
        struct bm_ha_status st;

        /* our own block, refused for sure: never replicated, so when the
         * cluster has a block at h, it is another one */
        bm_ha_status(env->ha, &st);
        if (st.replicated_known && st.replicated_height >= h) {
            return true;
        }
    }
    if (cluster_hash_at(env, h, &want) && want.len > 0) {
        struct bm_store_blockbuf bb = {0};
        struct bm_signed_header sh = {0};

        if (bm_store_get_block(env->store, h, &bb, NULL) == BM_OK &&
            bm_signed_header_decode(&sh, bb.header.ptr, bb.header.len) ==
                BM_OK &&
            bm_header_hash(&sh.header, &have) == BM_OK) {
            diverged = !bm_buf_eq_raw(&want, have.b, sizeof(have.b));
        }
        bm_signed_header_release(&sh);
        bm_store_blockbuf_release(&bb);
    }
    bm_buf_release(&want);
    return diverged;
}

/* The txs of block h (about to be rolled back: acked, and in no block the
 * cluster accepted) go back to the queue, so they are not lost: forwarded
 * to the leader while this node follows, or included when it leads. */
int bm_ha_gate_requeue_txs(struct bm_env *env, uint64_t h,
                           struct bm_errmsg *em)
{
    struct bm_store_blockbuf bb = {0};
    struct bm_data d = {0};
    size_t q = 0;
    int err;

    if (env->seq == NULL) {
        return BM_OK;
    }
    err = bm_store_get_block(env->store, h, &bb, em);
    if (err == BM_OK && bm_data_decode(&d, bb.data.ptr, bb.data.len) !=
                            BM_OK) {
        err = bm_errf(em, BM_ECORRUPT, "stored data at height %" PRIu64
                      " does not decode", h);
    }
    if (err == BM_OK) {
        err = bm_seq_requeue(env->seq, d.txs, d.n_txs, &q, em);
    }
    if (err == BM_OK && q > 0) {
        bm_log_warn(MOD, "put back txs of block height=%" PRIu64 " in the "
                    "queue count=%zu (acknowledged, in no accepted block)",
                    h, q);
    }
    bm_data_release(&d);
    bm_store_blockbuf_release(&bb);
    return err;
}

int bm_ha_gate_rollback_diverged(struct bm_env *env, struct bm_errmsg *em)
{
    uint64_t h = 0, now_h = 0;
    int err;

    if (!bm_ha_gate_head_diverged(env, &h)) {
        return BM_OK;
    }
    err = bm_ha_gate_requeue_txs(env, h, em);
    if (err == BM_OK) {
        err = bm_store_rollback(env->store, 1, &now_h, em);
    }
    if (err != BM_OK) {
        return bm_errf(em, err, "ha: cannot roll back block %" PRIu64
                       " (the cluster accepted another block there): %s",
                       h, bm_errmsg_str(em, err));
    }
    bm_ha_note_rollback(env->ha);
    bm_log_warn(MOD, "rolled back block height=%" PRIu64 ": the cluster "
                "accepted another block at that height; this one was never "
                "replicated nor published (store height now %" PRIu64 ")",
                h, now_h);
    return BM_OK;
}
