/*
 * DASubmitterActor (da_submitter.h): posts stored blocks to the DA layer.
 *
 * A round runs inside the handler (the actor is detached, so the DA calls
 * and the backoff sleeps may block). For headers, then data, it keeps a
 * backlog (items and bytes above the last-submitted height, scanned once
 * per height) and asks the batching strategy (cfg.da_batching_strategy,
 * ev-node's submitter) whether to send now. When it says so, the round
 * sends everything pending: it collects the heights (bounded per pass),
 * signs and encodes them into v0 blobs, and submits them with the
 * algorithm of ev-node's submitToDA (spec 8.3, current): the longest
 * prefix that fits cfg.da_max_blob_size, up to cfg.da_max_submit_attempts
 * calls, halving on TooBig, backoff on the other failures. Every success
 * is persisted (last-submitted height and rhb DA hints) through the State
 * actor before the next batch, so a restart resumes after the last batch
 * on DA.
 *
 * Exactly once per namespace: before each submit the round writes an
 * intent (BM_META_DA_INTENT_*: the item heights, their blob commitments
 * and the DA height to search from) in one small metadata write; the
 * success deletes it in the same transaction that records the batch.
 * When the outcome of a submit is unknown (any error but TooBig: the DA
 * may have stored the blobs and the answer been lost), and at start-up
 * when an intent is stored, the next attempt first looks for the
 * commitments on DA (blob.GetAll in the namespace, from the recorded DA
 * height up to the head, at most INTENT_MAX_SCAN heights): found, the
 * batch is recorded as a success at that DA height; not found, it is
 * submitted again; the look-up failing, nothing is submitted (backoff,
 * next round).
 */
#include "actors/da_submitter.h"

#include <stdint.h>
#include <string.h>

#include "actors/catchup.h"
#include "actors/da_actor.h"
#include "actors/da_includer.h"
#include "blockv2/ha.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "da_submitter"
/* Bounds of one collecting pass per kind: items collected, heights looked
 * at, and bytes held (in multiples of the max blob size). */
#define ROUND_MAX_ITEMS 256u
#define ROUND_MAX_SCAN 4096u
#define ROUND_MAX_BLOBS_OF_BYTES 4u
/* NEW_HEIGHT right after a round does not start another. */
#define COLLAPSE_MS 10u
#define BACKOFF_MIN_MS 100u
#define TICK_MIN_MS 100u
#define SLEEP_SLICE_MS 20u
/* Above what a DA blob adds to the stored bytes (signatures, signer,
 * length prefixes): a stored item this much below the limit fits. */
#define BLOB_EXTRA_MAX 512u
/* The stored intent: version, from DA height, last, count, then per item
 * its height and blob commitment. */
#define INTENT_VERSION 1u
#define INTENT_HEAD (1u + 8u + 8u + 4u)
#define INTENT_ITEM (8u + BM_DA_COMMITMENT_LEN)
/* DA heights searched for a submission whose outcome is unknown: a
 * Submit lands at one height right after the head it started from;
 * past this many heights the blobs count as not on DA. */
#define INTENT_MAX_SCAN 64u

enum { K_HEADER = 0, K_DATA = 1 };

static const char *const kind_name[2] = {"headers", "data"};
static const char *const kind_meta[2] = {BM_META_LAST_SUBMITTED_HEADER,
                                         BM_META_LAST_SUBMITTED_DATA};
static const char kind_which[2] = {'h', 'd'};
static const char *const kind_intent[2] = {BM_META_DA_INTENT_HEADER,
                                           BM_META_DA_INTENT_DATA};

/* A submission in flight of one kind: the items of one submit call. */
struct intent {
    bool unknown;     /* its outcome is unknown: look before submitting */
    uint64_t from_da; /* DA height to search from */
    uint64_t last;    /* last-submitted height once it is on DA */
    size_t n;
    uint64_t heights[ROUND_MAX_ITEMS];
    uint8_t com[ROUND_MAX_ITEMS][BM_DA_COMMITMENT_LEN];
};

enum resolved { R_FOUND, R_ABSENT, R_ERROR };

/* The pending items of one kind, in height order. blobs[] is contiguous
 * so that any run of it can be passed to submit. Owns the blobs. */
struct pending {
    struct bm_da_blob *blobs;
    uint64_t *heights;
    uint64_t *adv; /* last-submitted height once blobs[i] is on DA */
    size_t n;
    size_t cap;
    size_t bytes;
    uint64_t scan_end; /* last height examined (0: none) */
};

/* What the batching strategy looks at: the items of heights
 * (last-submitted, scanned] and their bytes before signing (the stored
 * SignedHeader, or the stored Data of a block with txs). */
struct backlog {
    uint64_t scanned;
    uint64_t items;
    uint64_t bytes;
};

struct sub {
    struct bm_da_actor base; /* first: env, init/terminate (da_actor.h) */
    bool loaded;
    uint_fast64_t epoch; /* env->catchup_epoch when loaded */
    uint64_t last[2]; /* last-submitted header / data height */
    uint64_t last_round_ms;
    uint64_t last_submit_ms[2]; /* last successful submit; 0: none yet */
    struct backlog bl[2];
    bool caught_up; /* the last round left nothing to submit */
    uint64_t known_da; /* highest DA height a submission landed at */
    struct intent in[2];
    /* HA: at a (re)load, look on DA for the blocks above the
     * last-submitted heights before submitting them (ha_found_on_da) */
    bool ha_check[2];
};

bool bm_da_batch_should_submit(const struct bm_manager_config *c,
                               uint64_t items, uint64_t bytes,
                               uint64_t since_ms)
{
    double threshold = (double)c->da_max_blob_size * c->da_batch_size_threshold;
    bool full = (double)bytes >= threshold;
    bool late = since_ms >= c->da_batch_max_delay_ms;

    if (items == 0 || items < c->da_batch_min_items) {
        return false;
    }
    switch (c->da_batching_strategy) {
    case BM_DA_BATCH_IMMEDIATE:
        return true;
    case BM_DA_BATCH_SIZE:
        return full;
    case BM_DA_BATCH_ADAPTIVE:
        return full || late;
    case BM_DA_BATCH_TIME:
    default:
        return late;
    }
}

static void pending_release(struct pending *p)
{
    for (size_t i = 0; i < p->n; i++) {
        bm_da_blob_release(&p->blobs[i]);
    }
    bm_free(p->blobs);
    bm_free(p->heights);
    bm_free(p->adv);
    memset(p, 0, sizeof(*p));
}

/* Appends a v0 blob of [bytes, bytes+len) in ns for height h. */
static enum bm_err pending_push(struct pending *p,
                                const struct bm_da_namespace *ns, uint64_t h,
                                const struct bm_buf *bytes)
{
    enum bm_err err;

    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;

        p->blobs = bm_xrealloc(p->blobs, cap * sizeof(*p->blobs));
        p->heights = bm_xrealloc(p->heights, cap * sizeof(*p->heights));
        p->adv = bm_xrealloc(p->adv, cap * sizeof(*p->adv));
        p->cap = cap;
    }
    memset(&p->blobs[p->n], 0, sizeof(p->blobs[p->n]));
    err = bm_da_blob_init_v0(&p->blobs[p->n], ns, bytes->ptr, bytes->len);
    if (err != BM_OK) {
        return err;
    }
    p->heights[p->n] = h;
    p->adv[p->n] = h;
    p->bytes += bytes->len;
    p->n++;
    return BM_OK;
}

/* Sleeps ms in slices, returning early once the node halts. */
static void backoff_sleep(struct bm_env *env, uint64_t ms)
{
    while (ms > 0 && !bm_env_quitting(env)) {
        uint64_t d = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;

        bm_sleep_ms(d);
        ms -= d;
    }
}

/* The last-submitted heights from the store (genesis - 1 when absent). */
static int load_last(struct bm_env *env, uint64_t last[2],
                     struct bm_errmsg *em)
{
    uint64_t base = env->genesis->initial_height > 0
                        ? env->genesis->initial_height - 1
                        : 0;

    for (int k = K_HEADER; k <= K_DATA; k++) {
        int err = bm_meta_get_u64(env->store, kind_meta[k], &last[k], em);

        if (err == BM_ENOTFOUND) {
            last[k] = base;
        } else if (err != BM_OK) {
            return err;
        }
    }
    return BM_OK;
}

/* Encodes in (n >= 1) into an owned buffer of *len bytes. */
static uint8_t *intent_encode(const struct intent *in, size_t *len)
{
    uint8_t *b = bm_xmalloc(INTENT_HEAD + in->n * INTENT_ITEM);
    uint8_t *q = b + INTENT_HEAD;

    b[0] = INTENT_VERSION;
    bm_put_le64(b + 1, in->from_da);
    bm_put_le64(b + 9, in->last);
    bm_put_le32(b + 17, (uint32_t)in->n);
    for (size_t i = 0; i < in->n; i++) {
        bm_put_le64(q, in->heights[i]);
        memcpy(q + 8, in->com[i], BM_DA_COMMITMENT_LEN);
        q += INTENT_ITEM;
    }
    *len = (size_t)(q - b);
    return b;
}

/* Decodes stored bytes (untrusted) into *in: BM_ECORRUPT naming the key
 * unless the version, the count (1..ROUND_MAX_ITEMS), the length and the
 * heights (ascending, at most last) hold. */
static int intent_decode(struct intent *in, const char *key,
                         const uint8_t *p, size_t len, struct bm_errmsg *em)
{
    uint32_t n;

    if (len < INTENT_HEAD || p[0] != INTENT_VERSION) {
        return bm_errf(em, BM_ECORRUPT, "store: metadata '%s': %zu bytes, "
                       "not a version %u intent", key, len, INTENT_VERSION);
    }
    n = bm_get_le32(p + 17);
    if (n == 0 || n > ROUND_MAX_ITEMS ||
        len != INTENT_HEAD + (size_t)n * INTENT_ITEM) {
        return bm_errf(em, BM_ECORRUPT, "store: metadata '%s': count %u "
                       "with %zu bytes (want 1..%u items of %u bytes)", key,
                       n, len, ROUND_MAX_ITEMS, INTENT_ITEM);
    }
    memset(in, 0, sizeof(*in));
    in->from_da = bm_get_le64(p + 1);
    in->last = bm_get_le64(p + 9);
    in->n = n;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = p + INTENT_HEAD + i * INTENT_ITEM;

        in->heights[i] = bm_get_le64(q);
        memcpy(in->com[i], q + 8, BM_DA_COMMITMENT_LEN);
        if (in->heights[i] == 0 || in->heights[i] > in->last ||
            (i > 0 && in->heights[i] <= in->heights[i - 1])) {
            return bm_errf(em, BM_ECORRUPT, "store: metadata '%s': item %zu "
                           "height %llu out of order or above last %llu",
                           key, i, (unsigned long long)in->heights[i],
                           (unsigned long long)in->last);
        }
    }
    in->unknown = true;
    return BM_OK;
}

enum bm_err bm_da_submitter_intent_check(const char *key, const uint8_t *p,
                                         size_t len, uint8_t **reencoded,
                                         size_t *relen, struct bm_errmsg *em)
{
    struct intent *in = bm_xcalloc(1, sizeof(*in));
    int err = intent_decode(in, key, p, len, em);

    if (err == BM_OK && reencoded != NULL) {
        *reencoded = intent_encode(in, relen);
    }
    bm_free(in);
    return err;
}

/* The stored intents: one above the last-submitted height is in flight
 * with an unknown outcome. */
static int load_intents(struct sub *s, struct bm_errmsg *em)
{
    for (int k = K_HEADER; k <= K_DATA; k++) {
        struct bm_buf b = {0};
        int err = bm_store_get_meta(s->base.env->store, kind_intent[k], &b,
                                    em);

        memset(&s->in[k], 0, sizeof(s->in[k]));
        if (err == BM_ENOTFOUND) {
            continue;
        }
        if (err == BM_OK) {
            err = intent_decode(&s->in[k], kind_intent[k], b.ptr, b.len, em);
        }
        bm_buf_release(&b);
        if (err != BM_OK) {
            return err;
        }
        if (s->in[k].last <= s->last[k]) {
            s->in[k].unknown = false; /* recorded already */
        } else {
            bm_log_info(MOD, "%s: a submission of %zu items (%llu..%llu) was "
                        "in flight; looking for it on DA from height %llu",
                        kind_name[k], s->in[k].n,
                        (unsigned long long)s->in[k].heights[0],
                        (unsigned long long)s->in[k].last,
                        (unsigned long long)s->in[k].from_da);
        }
    }
    return BM_OK;
}

static int load(struct sub *s)
{
    struct bm_env *env = s->base.env;
    struct bm_errmsg em = {{0}};
    int err = load_last(env, s->last, &em);

    if (err == BM_OK) {
        err = load_intents(s, &em);
    }
    if (err != BM_OK) {
        bm_env_fatal(env, MOD, err, "cannot load the last-submitted "
                     "heights: %s", bm_errmsg_str(&em, err));
        return err;
    }
    atomic_store_explicit(&env->m.last_submitted_header, s->last[K_HEADER],
                          memory_order_relaxed);
    atomic_store_explicit(&env->m.last_submitted_data, s->last[K_DATA],
                          memory_order_relaxed);
    memset(s->bl, 0, sizeof(s->bl));
    s->epoch = atomic_load(&env->catchup_epoch);
    s->loaded = true;
    s->ha_check[K_HEADER] = s->ha_check[K_DATA] = env->ha != NULL;
    bm_log_debug(MOD, "loaded last_header=%llu last_data=%llu",
                 (unsigned long long)s->last[K_HEADER],
                 (unsigned long long)s->last[K_DATA]);
    return BM_OK;
}

static bool round_full(const struct sub *s, const struct pending *p)
{
    size_t max_bytes = s->base.env->cfg.da_max_blob_size;

    if (max_bytes > SIZE_MAX / ROUND_MAX_BLOBS_OF_BYTES) {
        max_bytes = SIZE_MAX;
    } else {
        max_bytes *= ROUND_MAX_BLOBS_OF_BYTES;
    }
    return p->n >= ROUND_MAX_ITEMS || p->bytes >= max_bytes;
}

/*
 * The stored piece of kind k at height h: *raw gets the SignedHeader
 * bytes (headers) or the Data bytes (data), *sh the decoded header (if
 * not NULL; for data the header tells whether the block has txs).
 * BM_ECORRUPT (message in em) for a stored header that does not decode as
 * its height; read errors as the store gives them.
 */
static int read_piece(struct bm_env *env, int k, uint64_t h,
                      struct bm_buf *raw, struct bm_signed_header *sh,
                      struct bm_errmsg *em)
{
    struct bm_store_blockbuf bb = {0};
    struct bm_signed_header tmp = {0};
    const struct bm_buf *hb;
    int err;

    if (k == K_HEADER) {
        err = bm_store_get_header(env->store, h, raw, em);
        hb = raw;
    } else {
        err = bm_store_get_block(env->store, h, &bb, em);
        hb = &bb.header;
    }
    if (err != BM_OK) {
        goto out;
    }
    if (sh == NULL) {
        sh = &tmp;
    }
    err = bm_signed_header_decode(sh, hb->ptr, hb->len);
    if (err == BM_OK && sh->header.height != h) {
        err = BM_ECORRUPT;
    }
    if (err != BM_OK) {
        err = bm_errf(em, BM_ECORRUPT, "store: header at height %llu does "
                      "not decode as its height (%s)",
                      (unsigned long long)h, bm_err_name(err));
        goto out;
    }
    if (k == K_DATA) {
        *raw = bb.data;
        memset(&bb.data, 0, sizeof(bb.data));
    }
out:
    bm_signed_header_release(&tmp);
    bm_store_blockbuf_release(&bb);
    return err;
}

/*
 * Encodes the DA blob of kind k at height h into *blob: the
 * DAHeaderEnvelope of the stored header (envelope signature over its
 * bytes), or the SignedData of the stored data (signature over the Data
 * bytes, signer = proposer). *empty is set, and nothing encoded, for data
 * without txs. Errors as read_piece, plus BM_ECORRUPT for stored data that
 * does not decode.
 */
static int build_item(struct bm_env *env, int k, uint64_t h,
                      struct bm_buf *blob, bool *empty, struct bm_errmsg *em)
{
    struct bm_da_header_envelope e = {0};
    struct bm_signed_data sd = {0};
    struct bm_buf raw = {0};
    int err;

    *empty = false;
    err = read_piece(env, k, h, &raw, k == K_HEADER ? &e.sh : NULL, em);
    if (err != BM_OK) {
        goto out;
    }
    if (k == K_HEADER) {
        err = bm_da_header_envelope_sign(&e, &env->signer);
        if (err == BM_OK) {
            err = bm_da_header_envelope_encode(&e, blob);
        }
        goto out;
    }
    err = bm_data_decode(&sd.data, raw.ptr, raw.len);
    if (err != BM_OK) {
        err = bm_errf(em, BM_ECORRUPT, "store: data at height %llu does not "
                      "decode (%s)", (unsigned long long)h, bm_err_name(err));
        goto out;
    }
    if (sd.data.n_txs == 0) {
        *empty = true;
        goto out;
    }
    err = bm_signer_copy(&sd.signer, &env->signer_info);
    if (err == BM_OK) {
        err = bm_signed_data_sign(&sd, &env->signer);
    }
    if (err == BM_OK) {
        err = bm_signed_data_encode(&sd, blob);
    }
out:
    bm_buf_release(&raw);
    bm_signed_data_release(&sd);
    bm_da_header_envelope_release(&e);
    return err;
}

/* Builds the blob of kind k at h into p (nothing for empty data: *empty).
 * Corrupt stored bytes are fatal (BM_ECORRUPT returned). */
static int item(struct sub *s, int k, uint64_t h, struct pending *p,
                bool *empty)
{
    struct bm_buf enc = {0};
    struct bm_errmsg em = {{0}};
    int err = build_item(s->base.env, k, h, &enc, empty, &em);

    if (err == BM_ECORRUPT) {
        bm_env_fatal(s->base.env, MOD, err, "%s", bm_errmsg_str(&em, err));
    } else if (err != BM_OK) {
        bm_log_warn(MOD, "cannot build %s blob height=%llu err=%s %s",
                    kind_name[k], (unsigned long long)h, bm_err_name(err),
                    bm_errmsg_str(&em, err));
    } else if (!*empty) {
        err = pending_push(p, k == K_HEADER ? &s->base.env->ns.header
                                            : &s->base.env->ns.data,
                           h, &enc);
    }
    bm_buf_release(&enc);
    return err;
}

/* Collects the items of kind k above s->last[k] up to `top`. Stops early
 * at a round bound or a read error (what was collected stays valid).
 * Returns BM_ECORRUPT after a fatal error, else BM_OK. */
static int collect(struct sub *s, int k, uint64_t top, struct pending *p)
{
    uint64_t scanned = 0;

    for (uint64_t h = s->last[k] + 1; h <= top; h++) {
        bool empty = false;
        int err;

        if (round_full(s, p) || scanned >= ROUND_MAX_SCAN) {
            break;
        }
        scanned++;
        err = item(s, k, h, p, &empty);
        if (err == BM_OK && empty && p->n > 0) {
            /* An empty block after an item is covered by it. */
            p->adv[p->n - 1] = h;
        }
        if (err == BM_ECORRUPT && bm_env_halted(s->base.env)) {
            return err;
        }
        if (err != BM_OK) {
            break;
        }
        p->scan_end = h;
    }
    return BM_OK;
}

/* Persists the new last-submitted height of kind k (and, for a batch,
 * the rhb hints of heights[from, from+cnt) at da_height). */
static int persist(struct sub *s, int k, uint64_t last, const uint64_t *hs,
                   size_t cnt, uint64_t da_height)
{
    struct bm_state_meta_list l = {0};
    char name[48];
    int err;

    err = bm_state_meta_add_u64(&l, kind_meta[k], last);
    for (size_t i = 0; i < cnt && err == BM_OK; i++) {
        bm_meta_rhb_name(name, sizeof(name), hs[i], kind_which[k]);
        err = bm_state_meta_add_u64(&l, name, da_height);
    }
    if (cnt > 0 && err == BM_OK) {
        /* the batch is on DA: its intent goes in the same write */
        err = bm_state_meta_add(&l, kind_intent[k], NULL, 0);
        if (err == BM_OK) {
            l.v[l.n - 1].del = true;
        }
    }
    if (err != BM_OK) {
        bm_state_meta_list_release(&l);
        return err;
    }
    err = bm_da_actor_put_record(s->base.env, &l);
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot persist %s=%llu err=%s", kind_meta[k],
                    (unsigned long long)last, bm_err_name(err));
    }
    /* The blobs are on DA either way: do not resubmit them in this run. */
    if (last > s->last[k]) {
        struct bm_env_metrics *m = &s->base.env->m;

        s->last[k] = last;
        atomic_store_explicit(k == K_HEADER ? &m->last_submitted_header
                                            : &m->last_submitted_data,
                              last, memory_order_relaxed);
    }
    return err;
}

/* Records the items hs[0..cnt) (last-submitted height `last` once on DA)
 * as on DA at da_height: what a successful submit records. */
static void on_success(struct sub *s, int k, const uint64_t *hs, size_t cnt,
                       uint64_t last, uint64_t da_height)
{
    struct bm_env *env = s->base.env;
    uint64_t from = hs[0], to = hs[cnt - 1];

    s->last_submit_ms[k] = bm_env_now_ms();
    atomic_fetch_add_explicit(&env->m.da_submissions, 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(k == K_HEADER ? &env->m.headers_submitted
                                            : &env->m.data_submitted,
                              cnt, memory_order_relaxed);
    bm_log_debug(MOD, "submitted %s count=%zu from=%llu to=%llu da_height=%llu",
                kind_name[k], cnt, (unsigned long long)from,
                (unsigned long long)to, (unsigned long long)da_height);
    (void)persist(s, k, last, hs, cnt, da_height);
    s->in[k].unknown = false;
    if (da_height > s->known_da) {
        s->known_da = da_height;
    }
    if (!bm_actor_id_is_none(env->ids.da_includer)) {
        struct bm_da_includer_included inc = {
            .from = from, .to = to, .da_height = da_height,
            .which = kind_which[k]};

        (void)bm_da_includer_tell_included(s->base.sys, bm_env_da_includer(env),
                                           &inc);
    }
}

/* Length of the longest run from pos whose total size fits max. */
static size_t fitting_prefix(const struct pending *p, size_t pos, size_t max)
{
    size_t total = 0, n = 0;

    while (pos + n < p->n) {
        size_t len = p->blobs[pos + n].data.len;

        if (len > max - total) {
            break;
        }
        total += len;
        n++;
    }
    return n;
}

static uint32_t call_timeout(const struct bm_env *env)
{
    return env->cfg.da_request_timeout_ms > UINT32_MAX
               ? UINT32_MAX
               : (uint32_t)env->cfg.da_request_timeout_ms;
}

/* The DA head into *head. */
static int da_head(struct sub *s, uint64_t *head, struct bm_errmsg *em)
{
    struct bm_env *env = s->base.env;
    struct bm_da_header h = {0};
    int err = env->da->ops->header_network_head(env->da->ctx,
                                                call_timeout(env), &h, em);

    if (err == BM_OK) {
        *head = h.height;
    }
    return err;
}

/* How many of the intent's commitments the blobs of l (in ns) match;
 * the commitments are computed here, not taken from the DA. */
static size_t intent_matches(const struct intent *in,
                             const struct bm_da_namespace *ns,
                             const struct bm_da_blob_list *l)
{
    bool seen[ROUND_MAX_ITEMS] = {false};
    size_t found = 0;

    for (size_t j = 0; j < l->n; j++) {
        const struct bm_da_blob *b = &l->v[j];
        uint8_t com[BM_DA_COMMITMENT_LEN];

        if (b->share_version != 0 || b->data.len == 0 ||
            memcmp(&b->ns, ns, sizeof(*ns)) != 0 ||
            bm_da_commitment(com, ns, b->data.ptr, b->data.len, 0, NULL) !=
                BM_OK) {
            continue;
        }
        for (size_t i = 0; i < in->n; i++) {
            if (!seen[i] && memcmp(com, in->com[i], sizeof(com)) == 0) {
                seen[i] = true;
                found++;
                break;
            }
        }
    }
    return found;
}

/*
 * Looks for the intent of kind k (outcome unknown) on DA: blob.GetAll in
 * its namespace at each height from in->from_da up to the head, at most
 * INTENT_MAX_SCAN heights. All its commitments at one height: recorded
 * as a success there (R_FOUND). None: R_ABSENT (submit again). A failed
 * call or an open breaker: R_ERROR, the outcome stays unknown.
 */
static enum resolved resolve(struct sub *s, int k)
{
    struct bm_env *env = s->base.env;
    struct intent *in = &s->in[k];
    const struct bm_da_namespace *ns =
        k == K_HEADER ? &env->ns.header : &env->ns.data;
    struct bm_breaker_token tok;
    struct bm_errmsg em = {{0}};
    uint64_t head = 0, from = in->from_da > 0 ? in->from_da : 1, end;
    enum resolved r = R_ABSENT;
    int err;

    if (bm_breaker_allow(env->da_breaker, &tok) != BM_OK) {
        return R_ERROR;
    }
    err = da_head(s, &head, &em);
    end = head;
    if (err == BM_OK && head >= from && head - from >= INTENT_MAX_SCAN) {
        end = from + INTENT_MAX_SCAN - 1;
        bm_log_warn(MOD, "%s: looking for the submission in flight at DA "
                    "heights %llu..%llu only (head %llu)", kind_name[k],
                    (unsigned long long)from, (unsigned long long)end,
                    (unsigned long long)head);
    }
    for (uint64_t h = from; err == BM_OK && h <= end; h++) {
        struct bm_da_blob_list l = {0};
        size_t found;

        err = env->da->ops->get_all(env->da->ctx, h, ns, 1, call_timeout(env),
                                    &l, &em);
        if (err == BM_EDA_NOT_FOUND) {
            err = BM_OK;
            continue;
        }
        if (err != BM_OK) {
            break;
        }
        found = intent_matches(in, ns, &l);
        bm_da_blob_list_release(&l);
        if (found == in->n) {
            r = R_FOUND;
            bm_log_info(MOD, "%s: the submission of %llu..%llu whose answer "
                        "was lost is on DA at height %llu: not resubmitted",
                        kind_name[k], (unsigned long long)in->heights[0],
                        (unsigned long long)in->heights[in->n - 1],
                        (unsigned long long)h);
            atomic_fetch_add_explicit(&env->m.da_submit_found, 1,
                                      memory_order_relaxed);
            on_success(s, k, in->heights, in->n, in->last, h);
            break;
        }
        if (found > 0) {
            bm_log_warn(MOD, "%s: %zu of %zu blobs in flight found at DA "
                        "height %llu", kind_name[k], found, in->n,
                        (unsigned long long)h);
        }
    }
    bm_breaker_report(env->da_breaker, tok,
                      err == BM_OK || err == BM_EDA_NOT_FOUND);
    if (err != BM_OK) {
        /* counted as a failed attempt to get the batch on DA */
        atomic_fetch_add_explicit(&env->m.da_submit_failures, 1,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&env->m.da_submit_other, 1,
                                  memory_order_relaxed);
        bm_log_debug(MOD, "%s: cannot look for the submission in flight "
                     "err=%s %s", kind_name[k], bm_err_name(err),
                     bm_errmsg_str(&em, err));
        return R_ERROR;
    }
    if (r == R_ABSENT) {
        bm_log_debug(MOD, "%s: the submission in flight is not on DA "
                     "(heights %llu..%llu): submitting it again",
                     kind_name[k], (unsigned long long)from,
                     (unsigned long long)end);
        in->unknown = false;
    }
    return r;
}

/*
 * HA (docs/HA.md "DA after a failover"): a new leader's blocks above its
 * last-submitted height of kind k (up to top) may be on DA already, put
 * there by the leader before: the blobs are the same bytes (the same
 * stored block, the same key, deterministic signatures). Sync advances
 * the last-submitted heights only for blocks it took from DA, while a
 * follower takes most blocks from P2P and records where DA has them
 * later (the rhb hints). So, per batch of pending items: the run with an
 * rhb hint is on DA (Sync saw it there): the last-submitted height moves
 * over it; for the items after it, their commitments are looked for with
 * blob.GetAll in the namespace from this node's DA cursor (where its Sync
 * got to) to the head, at most INTENT_MAX_SCAN heights, and the run found
 * is recorded as submitted where it was found (as a submission whose
 * answer was lost is). The first item on neither is where submitting
 * starts; a failed look-up changes nothing (a second copy on DA costs
 * fees, never safety). Blocks on DA calls (detached actor).
 */
#define HA_CHECK_PASSES 64u

/* The DA heights of p's items from the rhb hints into at[] (0: none);
 * returns how many from the first have one. */
static size_t ha_hinted(struct sub *s, int k, const struct pending *p,
                        uint64_t *at)
{
    size_t run = 0;

    for (size_t i = 0; i < p->n; i++) {
        char name[48];

        bm_meta_rhb_name(name, sizeof(name), p->heights[i], kind_which[k]);
        if (bm_meta_get_u64(s->base.env->store, name, &at[i], NULL) != BM_OK) {
            at[i] = 0;
        }
        if (at[i] != 0 && run == i) {
            run++;
        }
    }
    return run;
}

/* Fills at[from..n) with the DA heights where the commitments of p's
 * items are (0: not seen). BM_OK or the failed call's error. */
static int ha_scan_da(struct sub *s, int k, const struct pending *p,
                      size_t first, uint64_t *at, struct bm_errmsg *em)
{
    struct bm_env *env = s->base.env;
    const struct bm_da_namespace *ns =
        k == K_HEADER ? &env->ns.header : &env->ns.data;
    struct bm_breaker_token tok;
    uint64_t head = 0, from = 0;
    int err;

    if (bm_breaker_allow(env->da_breaker, &tok) != BM_OK) {
        return bm_errf(em, BM_EDA_ERROR, "DA breaker open");
    }
    err = da_head(s, &head, em);
    if (err == BM_OK &&
        (bm_meta_get_u64(env->store, BM_META_DA_CURSOR, &from, NULL) !=
             BM_OK ||
         from == 0 || from > head || head - from >= INTENT_MAX_SCAN)) {
        from = head >= INTENT_MAX_SCAN ? head - INTENT_MAX_SCAN + 1 : 1;
    }
    for (uint64_t h = from; err == BM_OK && h <= head; h++) {
        struct bm_da_blob_list l = {0};

        err = env->da->ops->get_all(env->da->ctx, h, ns, 1, call_timeout(env),
                                    &l, em);
        if (err == BM_EDA_NOT_FOUND) {
            err = BM_OK;
            continue;
        }
        for (size_t j = 0; err == BM_OK && j < l.n; j++) {
            const struct bm_da_blob *b = &l.v[j];
            uint8_t com[BM_DA_COMMITMENT_LEN];

            if (b->share_version != 0 || b->data.len == 0 ||
                memcmp(&b->ns, ns, sizeof(*ns)) != 0 ||
                bm_da_commitment(com, ns, b->data.ptr, b->data.len, 0,
                                 NULL) != BM_OK) {
                continue;
            }
            for (size_t i = first; i < p->n; i++) {
                if (at[i] == 0 &&
                    memcmp(com, p->blobs[i].commitment, sizeof(com)) == 0) {
                    at[i] = h;
                    break;
                }
            }
        }
        bm_da_blob_list_release(&l);
    }
    bm_breaker_report(env->da_breaker, tok, err == BM_OK);
    return err;
}

static void ha_found_on_da(struct sub *s, int k, uint64_t top)
{
    struct bm_env *env = s->base.env;
    uint64_t before = s->last[k];
    size_t hinted = 0, found = 0;
    bool scanned = false;

    for (unsigned pass = 0; pass < HA_CHECK_PASSES && top > s->last[k] &&
                            !bm_env_quitting(env);
         pass++) {
        struct bm_errmsg em = {{0}};
        struct pending p = {0};
        uint64_t *at;
        size_t run, i;
        int err = BM_OK;

        if (collect(s, k, top, &p) != BM_OK || p.n == 0) {
            pending_release(&p);
            break;
        }
        at = bm_xcalloc(p.n, sizeof(*at));
        run = ha_hinted(s, k, &p, at);
        if (run > 0) {
            (void)persist(s, k, p.adv[run - 1], NULL, 0, 0);
            hinted += run;
        }
        if (run < p.n && !scanned) {
            /* the items after the hinted run, once: the leader before
             * submitted them lately, if at all */
            scanned = true;
            memset(at + run, 0, (p.n - run) * sizeof(*at));
            err = ha_scan_da(s, k, &p, run, at, &em);
            if (err != BM_OK) {
                bm_log_debug(MOD, "%s: cannot look on DA for the blocks of "
                             "the leader before err=%s %s", kind_name[k],
                             bm_err_name(err), bm_errmsg_str(&em, err));
            }
            for (i = run; err == BM_OK && i < p.n && at[i] != 0;) {
                size_t j = i;

                while (j < p.n && at[j] == at[i]) {
                    j++; /* one record per DA height, in height order */
                }
                on_success(s, k, &p.heights[i], j - i, p.adv[j - 1], at[i]);
                atomic_fetch_add_explicit(&env->m.da_submit_found, 1,
                                          memory_order_relaxed);
                found += j - i;
                i = j;
            }
            run = i > run ? i : run;
        }
        i = p.n;
        bm_free(at);
        pending_release(&p);
        if (run < i) {
            break; /* this one is not on DA: submit from here */
        }
    }
    if (s->last[k] > before) {
        bm_log_info(MOD, "%s: blocks %llu..%llu are on DA already (the "
                    "leader before submitted them; %zu known from Sync, %zu "
                    "found on DA): not resubmitted", kind_name[k],
                    (unsigned long long)(before + 1),
                    (unsigned long long)s->last[k], hinted, found);
    }
}

/* Records durably that p[pos, pos+cnt) of kind k is about to be
 * submitted, to be searched from the DA head. */
static int write_intent(struct sub *s, int k, const struct pending *p,
                        size_t pos, size_t cnt)
{
    struct intent *in = &s->in[k];
    struct bm_state_meta_list l = {0};
    struct bm_errmsg em = {{0}};
    uint64_t head = 0;
    uint8_t *b;
    size_t len;
    int err = da_head(s, &head, &em);

    if (err != BM_OK && s->known_da == 0) {
        bm_log_debug(MOD, "%s: no DA head to record before submitting "
                     "err=%s %s", kind_name[k], bm_err_name(err),
                     bm_errmsg_str(&em, err));
        return err;
    }
    memset(in, 0, sizeof(*in));
    in->from_da = err == BM_OK ? head : s->known_da;
    in->last = p->adv[pos + cnt - 1];
    in->n = cnt;
    for (size_t i = 0; i < cnt; i++) {
        in->heights[i] = p->heights[pos + i];
        memcpy(in->com[i], p->blobs[pos + i].commitment,
               BM_DA_COMMITMENT_LEN);
    }
    b = intent_encode(in, &len);
    err = bm_state_meta_add(&l, kind_intent[k], b, len);
    bm_free(b);
    if (err == BM_OK) {
        err = bm_da_actor_put_meta(s->base.env, &l);
    }
    bm_state_meta_list_release(&l);
    if (err != BM_OK) {
        bm_log_warn(MOD, "%s: cannot record the submission in flight "
                    "err=%s", kind_name[k], bm_err_name(err));
    }
    return err;
}

/* The backoff after a failure: doubled from BACKOFF_MIN_MS, at most cap. */
static uint64_t next_backoff(uint64_t backoff, uint64_t cap_ms)
{
    backoff = backoff == 0 ? BACKOFF_MIN_MS : backoff * 2;
    return backoff > cap_ms ? cap_ms : backoff;
}

/* Submits p (kind k) as in da_submitter.h. Returns true once everything
 * is on DA; false when the attempts are used up, the breaker refuses or
 * the node halts. */
static bool submit_pending(struct sub *s, int k, const struct pending *p)
{
    struct bm_env *env = s->base.env;
    const struct bm_manager_config *c = &env->cfg;
    uint64_t cap_ms = c->da_block_time_ms > 0 ? c->da_block_time_ms : 1;
    uint32_t timeout = call_timeout(env);
    size_t pos = 0, limit = SIZE_MAX;
    uint64_t backoff = 0;
    uint32_t attempts = 0;

    while (pos < p->n) {
        struct bm_breaker_token tok;
        struct bm_errmsg em = {{0}};
        uint64_t da_height = 0;
        size_t cnt;
        int err;

        if (bm_env_quitting(env)) {
            return false;
        }
        if (attempts >= c->da_max_submit_attempts) {
            bm_log_warn(MOD, "%s: %zu items not submitted after %u attempts",
                        kind_name[k], p->n - pos, attempts);
            return false;
        }
        if (backoff > 0) {
            backoff_sleep(env, backoff);
            if (bm_env_quitting(env)) {
                return false;
            }
        }
        if (s->in[k].unknown) {
            enum resolved r = resolve(s, k);

            if (r == R_FOUND) {
                /* the intent was p[pos, pos+n): recorded, go on */
                if (s->in[k].heights[0] != p->heights[pos] ||
                    s->in[k].n > p->n - pos) {
                    return false;
                }
                pos += s->in[k].n;
                backoff = 0;
                continue;
            }
            if (r == R_ERROR) {
                attempts++;
                backoff = next_backoff(backoff, cap_ms);
                continue;
            }
        }
        cnt = fitting_prefix(p, pos, c->da_max_blob_size);
        if (cnt == 0) {
            /* The start-up check and the producer's sizing keep items
             * below the limit: reaching this is a bug, not bad input. */
            bm_env_fatal(env, MOD, BM_EDA_TOO_BIG,
                         "%s at height %llu: blob of %zu bytes, above "
                         "da.max_blob_size %zu",
                         kind_name[k], (unsigned long long)p->heights[pos],
                         p->blobs[pos].data.len, c->da_max_blob_size);
            return false;
        }
        if (cnt > limit) {
            cnt = limit;
        }
        if (bm_breaker_allow(env->da_breaker, &tok) != BM_OK) {
            bm_log_debug(MOD, "%s: DA breaker open, round skipped",
                         kind_name[k]);
            return false;
        }
        attempts++;
        err = write_intent(s, k, p, pos, cnt);
        if (err != BM_OK) {
            /* a failed attempt: no DA head, or the intent not stored */
            bm_breaker_report(env->da_breaker, tok, false);
            atomic_fetch_add_explicit(&env->m.da_submit_failures, 1,
                                      memory_order_relaxed);
            atomic_fetch_add_explicit(&env->m.da_submit_other, 1,
                                      memory_order_relaxed);
            backoff = next_backoff(backoff, cap_ms);
            continue;
        }
        err = env->da->ops->submit(env->da->ctx, &p->blobs[pos], cnt, NULL,
                                   timeout, &da_height, &em);
        /* Only TooBig proves the DA did not store them. */
        s->in[k].unknown = err != BM_OK && err != BM_EDA_TOO_BIG;
        bm_breaker_report(env->da_breaker, tok,
                          err == BM_OK || err == BM_EDA_NOT_FOUND ||
                              err == BM_EDA_TOO_BIG);
        if (err == BM_OK) {
            on_success(s, k, &p->heights[pos], cnt, p->adv[pos + cnt - 1],
                       da_height);
            pos += cnt;
            backoff = 0;
            continue;
        }
        atomic_fetch_add_explicit(&env->m.da_submit_failures, 1,
                                  memory_order_relaxed);
        bm_log_debug(MOD, "%s: submit of %zu failed attempt=%u err=%s %s",
                     kind_name[k], cnt, attempts, bm_err_name(err),
                     bm_errmsg_str(&em, err));
        switch (err) {
        case BM_EDA_TOO_BIG:
            atomic_fetch_add_explicit(&env->m.da_submit_too_big, 1,
                                      memory_order_relaxed);
            if (cnt == 1) {
                bm_env_fatal(env, MOD, err,
                             "%s at height %llu: the DA refuses a single "
                             "blob of %zu bytes as too big (its limit is "
                             "below da.max_blob_size %zu)",
                             kind_name[k],
                             (unsigned long long)p->heights[pos],
                             p->blobs[pos].data.len, c->da_max_blob_size);
                return false;
            }
            limit = cnt / 2;
            backoff = 0;
            break;
        case BM_EDA_IN_MEMPOOL:
        case BM_EDA_NOT_INCLUDED:
            atomic_fetch_add_explicit(&env->m.da_submit_mempool, 1,
                                      memory_order_relaxed);
            backoff = cap_ms;
            break;
        default:
            atomic_fetch_add_explicit(&env->m.da_submit_other, 1,
                                      memory_order_relaxed);
            backoff = next_backoff(backoff, cap_ms);
            break;
        }
    }
    return true;
}

/*
 * Extends the backlog of kind k up to top (at most ROUND_MAX_SCAN heights
 * per call). For data, empty blocks before the first item need no blob:
 * the data height moves past them. Returns BM_ECORRUPT after a fatal
 * error, else BM_OK (a read error ends the scan for this round).
 */
static int backlog_update(struct sub *s, int k, uint64_t top)
{
    struct backlog *b = &s->bl[k];
    uint64_t lead = 0;
    uint64_t n = 0;

    if (b->scanned < s->last[k]) {
        *b = (struct backlog){s->last[k], 0, 0};
    }
    while (b->scanned < top && n++ < ROUND_MAX_SCAN) {
        struct bm_signed_header sh = {0};
        struct bm_buf raw = {0};
        struct bm_errmsg em = {{0}};
        uint64_t h = b->scanned + 1;
        int err = read_piece(s->base.env, k, h, &raw, &sh, &em);
        bool empty = k == K_DATA && bm_header_expects_empty_data(&sh.header);

        bm_signed_header_release(&sh);
        if (err == BM_ECORRUPT) {
            bm_env_fatal(s->base.env, MOD, err, "%s", bm_errmsg_str(&em, err));
            bm_buf_release(&raw);
            return err;
        }
        if (err != BM_OK) {
            bm_log_warn(MOD, "cannot read %s height=%llu err=%s %s",
                        kind_name[k], (unsigned long long)h,
                        bm_err_name(err), bm_errmsg_str(&em, err));
            bm_buf_release(&raw);
            break;
        }
        if (!empty) {
            b->items++;
            b->bytes += raw.len;
        } else if (b->items == 0) {
            lead = h;
        }
        bm_buf_release(&raw);
        b->scanned = h;
    }
    if (lead > s->last[k]) {
        (void)persist(s, k, lead, NULL, 0, 0);
    }
    return BM_OK;
}

/* Submits every item of kind k up to top, pass after pass. */
static void send_all(struct sub *s, int k, uint64_t top)
{
    while (s->last[k] < top && !bm_env_quitting(s->base.env)) {
        struct pending p = {0};
        bool done;

        if (collect(s, k, top, &p) != BM_OK) {
            pending_release(&p);
            return;
        }
        if (k == K_DATA) {
            /* Empty blocks before the first item (or all of the scanned
             * ones) need no blob: move the data height past them now. */
            uint64_t lead = p.n > 0 ? p.heights[0] - 1 : p.scan_end;

            if (lead > s->last[k]) {
                (void)persist(s, k, lead, NULL, 0, 0);
            }
        }
        done = p.n > 0 && submit_pending(s, k, &p);
        pending_release(&p);
        if (!done) {
            return;
        }
    }
}

static void run_kind(struct sub *s, int k, uint64_t top)
{
    const struct bm_manager_config *c = &s->base.env->cfg;
    const struct backlog *b = &s->bl[k];
    uint64_t now = bm_env_now_ms();
    uint64_t since = s->last_submit_ms[k] == 0
                         ? UINT64_MAX
                         : now - s->last_submit_ms[k];
    /* The producer stops at max_pending blocks not on DA: a strategy
     * still waiting then (size, min items) would wait forever. */
    bool stalled = c->max_pending_headers_and_data > 0 &&
                   top - s->last[k] >= c->max_pending_headers_and_data;

    if (backlog_update(s, k, top) != BM_OK) {
        return;
    }
    if (b->items == 0 ||
        (!stalled &&
         !bm_da_batch_should_submit(c, b->items, b->bytes, since))) {
        return;
    }
    bm_log_debug(MOD, "batching: sending %s items=%llu bytes=%llu "
                 "since_ms=%llu",
                 kind_name[k], (unsigned long long)b->items,
                 (unsigned long long)b->bytes, (unsigned long long)since);
    send_all(s, k, top);
    s->bl[k] = (struct backlog){s->last[k], 0, 0};
}

static int run_round(struct sub *s)
{
    struct bm_env *env = s->base.env;
    struct bm_errmsg em = {{0}};
    uint64_t top = 0;
    int err;

    s->caught_up = false;
    if (bm_env_quitting(env)) {
        return BM_OK;
    }
    /* Catching up: what Sync takes from DA is on DA already; the
     * last-submitted heights are loaded once it is over. */
    if (bm_catchup_active(env)) {
        return BM_OK;
    }
    /* HA: Sync moved them while this candidate followed */
    if (s->loaded && s->epoch != atomic_load(&env->catchup_epoch)) {
        s->loaded = false;
    }
    if (!s->loaded && load(s) != BM_OK) {
        return BM_OK;
    }
    if (bm_breaker_state(env->da_breaker) == BM_BREAKER_OPEN) {
        bm_log_debug(MOD, "DA breaker open, round skipped");
        goto out;
    }
    err = bm_store_height(env->store, &top, &em);
    if (err == BM_ENOTFOUND) {
        goto out;
    }
    if (err != BM_OK) {
        bm_log_warn(MOD, "cannot read the store height err=%s %s",
                    bm_err_name(err), bm_errmsg_str(&em, err));
        goto out;
    }
    /* HA: the leader publishes what the cluster accepted, nothing more */
    if (env->ha != NULL && !bm_ha_publish_limit(env->ha, &top)) {
        goto out;
    }
    for (int k = K_HEADER; k <= K_DATA && !bm_env_quitting(env); k++) {
        /* never submit over a submission whose outcome is unknown */
        if (s->in[k].unknown && resolve(s, k) == R_ERROR) {
            continue;
        }
        if (s->ha_check[k] && !s->in[k].unknown) {
            s->ha_check[k] = false;
            ha_found_on_da(s, k, top);
        }
        if (top > s->last[k]) {
            run_kind(s, k, top);
        }
    }
    s->caught_up = s->last[K_HEADER] >= top && s->last[K_DATA] >= top;
out:
    s->last_round_ms = bm_env_now_ms();
    return BM_OK;
}

/* The DA blob of kind k at h fits max, else BM_ECONFIG with the advice. */
static int check_item(struct bm_env *env, int k, uint64_t h,
                      struct bm_errmsg *em)
{
    size_t max = env->cfg.da_max_blob_size;
    struct bm_buf raw = {0}, blob = {0};
    bool empty = false;
    int err = read_piece(env, k, h, &raw, NULL, em);

    if (err != BM_OK || raw.len + BLOB_EXTRA_MAX <= max) {
        goto out;
    }
    err = build_item(env, k, h, &blob, &empty, em);
    if (err == BM_OK && blob.len > max) {
        err = bm_errf(em, BM_ECONFIG, "da.max_blob_size: the %s of block "
                      "%llu, not yet on DA, makes a blob of %zu bytes, "
                      "above the limit of %zu; set it back to at least "
                      "%zu until the block is on DA",
                      k == K_HEADER ? "header" : "data", (unsigned long long)h,
                      blob.len, max, blob.len);
    }
out:
    bm_buf_release(&blob);
    bm_buf_release(&raw);
    return err;
}

enum bm_err bm_da_submitter_check_start(struct bm_env *env,
                                        struct bm_errmsg *em)
{
    struct bm_buf sb = {0};
    struct bm_state st = {0};
    uint64_t top = 0, last[2];
    size_t header_max = 0;
    int err;

    err = bm_store_get_latest_state(env->store, &top, &sb, em);
    if (err == BM_ENOTFOUND) {
        err = BM_OK; /* nothing stored yet */
        goto out;
    }
    if (err == BM_OK) {
        err = bm_state_decode(&st, sb.ptr, sb.len);
    }
    if (err == BM_OK) {
        err = bm_da_header_envelope_max_size(st.chain_id, st.app_hash.len,
                                             &header_max);
    }
    if (err != BM_OK) {
        err = bm_errf(em, err, "da submitter: cannot read the state: %s",
                      bm_errmsg_str(em, err));
        goto out;
    }
    if (header_max > env->cfg.da_max_blob_size) {
        err = bm_errf(em, BM_ECONFIG, "da.max_blob_size: %zu bytes, below "
                      "the %zu bytes a header's DA blob may take",
                      env->cfg.da_max_blob_size, header_max);
        goto out;
    }
    err = load_last(env, last, em);
    for (int k = K_HEADER; k <= K_DATA && err == BM_OK; k++) {
        for (uint64_t h = last[k] + 1; h <= top && err == BM_OK; h++) {
            err = check_item(env, k, h, em);
        }
    }
out:
    bm_state_release(&st);
    bm_buf_release(&sb);
    return err;
}

/*
 * The tick runs only while something waits for DA (or a round failed): a
 * caught-up submitter sleeps until the next NEW_HEIGHT re-arms it, so an
 * idle node does not wake for it. Nothing new can need submitting without
 * a new height, and every commit sends NEW_HEIGHT; a restart re-arms in
 * init.
 */
static void tick_resume(struct sub *s, struct bm_actor_ctx *ctx)
{
    struct bm_da_submitter_tick t = {0};

    (void)bm_env_tick_resume(s->base.env, bm_actor_ctx_self(ctx),
                             BM_DA_SUBMITTER_TICK, &t, sizeof(t),
                             (int64_t)TICK_MIN_MS, &s->base.tick);
}

BM_ACTOR_HANDLER(on_tick, struct sub, struct bm_da_submitter_tick)
BM_ACTOR_HANDLER(on_new_height, struct sub, struct bm_state_new_height)

static int on_tick(struct bm_actor_ctx *ctx, struct sub *st,
                   struct bm_da_submitter_tick *p)
{
    int err;

    (void)p;
    bm_env_tick_fired(&st->base.tick); /* one-shot: delivered */
    err = run_round(st);
    if (!st->caught_up && !bm_env_quitting(st->base.env)) {
        tick_resume(st, ctx); /* the next one, after this round */
    }
    return err;
}

static int on_new_height(struct bm_actor_ctx *ctx, struct sub *st,
                         struct bm_state_new_height *p)
{
    (void)p;
    tick_resume(st, ctx);
    if (st->loaded && bm_env_now_ms() - st->last_round_ms < COLLAPSE_MS) {
        return BM_OK;
    }
    return run_round(st);
}

static const struct bm_msg_kind sub_kinds[BM_DA_SUBMITTER_NKINDS] = {
    [BM_DA_SUBMITTER_TICK] = BM_MSG_KIND("tick", struct bm_da_submitter_tick,
                                         0, NULL, on_tick, NULL, NULL),
    [BM_DA_SUBMITTER_NEW_HEIGHT] =
        BM_MSG_KIND("new_height", struct bm_state_new_height, 0,
                    bm_da_actor_validate_new_height, on_new_height, NULL,
                    NULL),
};

static int sub_init(struct bm_actor_ctx *ctx, void *arg, void **state_out)
{
    struct bm_env *env = arg;

    if (env == NULL || env->da == NULL || env->da->ops == NULL ||
        !env->has_signer) {
        return BM_EINVAL;
    }
    return bm_da_actor_init(ctx, env, sizeof(struct sub), BM_DA_SUBMITTER_TICK,
                            sizeof(struct bm_da_submitter_tick),
                            (int64_t)TICK_MIN_MS, state_out);
}

const struct bm_actor_type bm_da_submitter_actor_type = {
    .name = "da_submitter",
    .kinds = sub_kinds,
    .n_kinds = BM_DA_SUBMITTER_NKINDS,
    .init = sub_init,
    .terminate = bm_da_actor_terminate,
};
