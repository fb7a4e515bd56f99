/*
 * RetrieverActor, see src/actors/retriever.h.
 *
 * One DA height per message: a TICK (a one-shot timer, armed again when
 * the TICK is handled: while a DA call blocks, no TICKs pile up in the
 * mailbox) or a CONTINUE (sent to itself while the cursor is at or below
 * the cached network head, at most one outstanding). Each height is fetched with one blob.GetAll over
 * the header namespace and, if different, the data namespace, behind
 * env->da_breaker. Every blob is untrusted: it is decoded and checked
 * here (envelope signature, SignedHeader.ValidateBasic, chain ID,
 * proposer; or SignedData signature, chain ID and metadata) before
 * anything reaches the Sync actor, and a refused blob is counted by
 * reason (env->m.da_rejected). A height is "done" only when every
 * accepted blob and the DA_PROGRESS notice were handed to Sync; a send
 * that fails (Sync's mailbox blocks and times out, or Sync is restarting)
 * leaves the cursor where it is and the height is scanned again on the
 * next TICK (Sync drops the duplicates).
 *
 * While the verifier actors check the blobs of height h, this thread
 * fetches h + 1 (if at or below the known head): one height ahead at
 * most, kept for exactly that height and used when the cursor gets there;
 * a failed or "future" prefetch is dropped and the height fetched again
 * in turn, so what Sync gets, and in which order, does not change.
 */
#include "actors/retriever.h"

#include <string.h>

#include "actors/catchup.h"
#include "actors/state.h"
#include "actors/sync.h"
#include "actors/verifier.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "retriever"
/* Lower bound of the TICK period. */
#define MIN_TICK_MS 50
/* A CONTINUE not handled within this time is presumed dropped (the
 * mailbox is drop_oldest) and may be sent again. */
#define CONTINUE_STALE_MS 5000
/* Deadline of the FLUSH round trip to Sync at the end of a catch-up. */
#define FLUSH_TIMEOUT_MS 30000

BM_ACTOR_TELL(retriever, cont, BM_RETRIEVER_CONTINUE, struct bm_retriever_tick)

struct retriever {
    struct bm_env *env;           /* borrowed */
    struct bm_timer_id tick;
    int64_t period_ms;            /* TICK: this long after the last one */
    bool loaded;
    /* Set after the first accepted envelope: bare SignedHeaders are
     * refused from then on. */
    bool strict;
    bool continue_pending;
    uint64_t continue_sent_ms;
    uint64_t cursor;              /* next DA height to scan (>= 1) */
    uint64_t head;                /* cached network head; 0 = unknown */
    bool failing;                 /* in a DA error streak (warned) */
    bool idle;                    /* aggregator after catch-up: no work */
    uint64_t junk;                /* blobs ignored (not ours) */
    uint64_t refused;             /* headers/data that failed checks */
    /* The next DA height, fetched while the verifiers checked the one
     * before (prefetch): its answer (BM_OK or BM_EDA_NOT_FOUND) and
     * blobs, used only for exactly that height. */
    bool pf_have;
    uint64_t pf_h;
    int pf_err;
    struct bm_da_blob_list pf_list;
};

/* The reason label of a validation error. */
static enum bm_da_reject reject_reason(int err)
{
    switch (err) {
    case BM_ENO_SIGNATURE:
    case BM_EPROPOSER_MISMATCH:
    case BM_EADDRESS_MISMATCH:
    case BM_ENO_PUBKEY:
    case BM_EBAD_SIGNATURE:
        return BM_DA_REJ_SIGNATURE;
    case BM_ENOT_PROPOSER:
        return BM_DA_REJ_PROPOSER;
    case BM_ECHAIN_ID_MISMATCH:
    case BM_EDATA_CHAIN_ID:
        return BM_DA_REJ_CHAIN_ID;
    case BM_EENVELOPE_SIGNATURE:
        return BM_DA_REJ_ENVELOPE;
    default:
        return BM_DA_REJ_INVALID;
    }
}

/* Counts a refused blob (env metrics by reason, and the stop log). */
static void refuse(struct retriever *r, enum bm_da_reject why)
{
    r->refused++;
    atomic_fetch_add_explicit(&r->env->m.da_rejected[why], 1,
                              memory_order_relaxed);
}

/* True if chain_id (may be NULL) is the genesis chain ID. */
static bool our_chain(const struct bm_env *env, const char *chain_id)
{
    return chain_id != NULL && strcmp(chain_id, env->genesis->chain_id) == 0;
}

static uint32_t call_timeout_ms(const struct bm_env *env)
{
    uint64_t t = env->cfg.da_request_timeout_ms;

    return t == 0 || t > UINT32_MAX ? 0 : (uint32_t)t;
}

static bool ns_eq(const struct bm_da_namespace *a,
                  const struct bm_da_namespace *b)
{
    return memcmp(a->b, b->b, BM_DA_NS_LEN) == 0;
}

/* ------------------------------------------------------------ cursor */

/* The state's da_height, or 0 when there is no state yet. */
static int state_da_height(struct bm_env *env, uint64_t *out,
                           struct bm_errmsg *em)
{
    struct bm_buf bytes = {0};
    struct bm_state st = {0};
    uint64_t height = 0;
    int err;

    *out = 0;
    err = bm_store_get_latest_state(env->store, &height, &bytes, em);
    if (err == BM_ENOTFOUND) {
        return BM_OK;
    }
    if (err != BM_OK) {
        return err;
    }
    err = bm_state_decode(&st, bytes.ptr, bytes.len);
    if (err != BM_OK) {
        err = bm_errf(em, BM_ECORRUPT,
                      "store: state at height %llu does not decode: %s",
                      (unsigned long long)height, bm_err_name(err));
    } else {
        *out = st.da_height;
    }
    bm_state_release(&st);
    bm_buf_release(&bytes);
    return err;
}

/* Blocking setup (first handler): the start cursor. */
static int load(struct retriever *r)
{
    struct bm_env *env = r->env;
    struct bm_errmsg em = {{0}};
    const char *from = "meta";
    uint64_t cursor = 0;
    int err;

    err = bm_meta_get_u64(env->store, BM_META_DA_CURSOR, &cursor, &em);
    if (err == BM_ENOTFOUND) {
        uint64_t sh = 0;

        err = state_da_height(env, &sh, &em);
        cursor = env->genesis->da_start_height;
        from = "genesis";
        if (err == BM_OK && sh > cursor) {
            cursor = sh;
            from = "state";
        }
        if (err == BM_OK && env->cfg.aggregator) {
            /* An aggregator catching up: its tip was posted at rhb/<tip>/h,
             * so every later block is at that DA height or above. */
            uint64_t tip = 0, at = 0;
            char name[64];

            if (bm_store_height(env->store, &tip, NULL) == BM_OK) {
                bm_meta_rhb_name(name, sizeof(name), tip, 'h');
                if (bm_meta_get_u64(env->store, name, &at, NULL) == BM_OK &&
                    at > cursor) {
                    cursor = at;
                    from = "tip";
                }
            }
        }
    }
    if (err != BM_OK) {
        if (err == BM_ECORRUPT) {
            bm_env_fatal(env, MOD, err, "%s", bm_errmsg_str(&em, err));
        } else if (!r->failing) {
            r->failing = true; /* warn once; retried on every TICK */
            bm_log_warn(MOD, "cannot load the da cursor err=%s msg=%s",
                        bm_err_name(err), bm_errmsg_str(&em, err));
        }
        return err;
    }
    if (env->cfg.da_start_height != 0) {
        cursor = env->cfg.da_start_height;
        from = "config";
    }
    /* DA height 0 does not exist on Celestia. */
    r->cursor = cursor > 0 ? cursor : 1;
    r->head = 0;
    r->loaded = true;
    bm_log_info(MOD, "start da_height=%llu from=%s",
                (unsigned long long)r->cursor, from);
    return BM_OK;
}

/* ------------------------------------------------------------ DA calls */

static int refresh_head(struct retriever *r, struct bm_errmsg *em)
{
    struct bm_env *env = r->env;
    struct bm_breaker_token tok;
    struct bm_da_header hdr = {0};
    int err;

    err = bm_breaker_allow(env->da_breaker, &tok);
    if (err != BM_OK) {
        return err;
    }
    err = env->da->ops->header_network_head(env->da->ctx, call_timeout_ms(env),
                                            &hdr, em);
    bm_breaker_report(env->da_breaker, tok, err == BM_OK);
    if (err == BM_OK) {
        r->head = hdr.height;
    }
    return err;
}

/* GetAll at h in our namespaces; *out owned by the caller on BM_OK. */
static int fetch(struct retriever *r, uint64_t h, struct bm_da_blob_list *out,
                 struct bm_errmsg *em)
{
    struct bm_env *env = r->env;
    struct bm_da_namespace ns[2];
    struct bm_breaker_token tok;
    size_t n_ns = 1;
    int err;

    ns[0] = env->ns.header;
    if (!ns_eq(&env->ns.header, &env->ns.data)) {
        ns[1] = env->ns.data;
        n_ns = 2;
    }
    err = bm_breaker_allow(env->da_breaker, &tok);
    if (err != BM_OK) {
        return err;
    }
    err = env->da->ops->get_all(env->da->ctx, h, ns, n_ns,
                                call_timeout_ms(env), out, em);
    bm_breaker_report(env->da_breaker, tok,
                      err == BM_OK || err == BM_EDA_NOT_FOUND ||
                          err == BM_EDA_FUTURE_HEIGHT);
    return err;
}

/* Drops a prefetched answer (if any). */
static void prefetch_drop(struct retriever *r)
{
    bm_da_blob_list_release(&r->pf_list);
    r->pf_have = false;
}

/*
 * Fetches DA height h ahead of the cursor, while the verifiers check the
 * height before it: only a height at or below the known head, one at a
 * time, kept only when the DA answered it (blobs, or none). A failure or
 * "height from the future" is dropped here and met again when the cursor
 * gets there (fetch_at), where it is counted and retried as always.
 */
static void prefetch(struct retriever *r, uint64_t h)
{
    struct bm_errmsg em = {{0}};
    int err;

    if (r->pf_have || h > r->head || bm_env_quitting(r->env)) {
        return;
    }
    err = fetch(r, h, &r->pf_list, &em);
    if (err == BM_OK || err == BM_EDA_NOT_FOUND) {
        r->pf_have = true;
        r->pf_h = h;
        r->pf_err = err;
        return;
    }
    bm_da_blob_list_release(&r->pf_list);
    bm_log_debug(MOD, "prefetch failed da_height=%llu err=%s msg=%s",
                 (unsigned long long)h, bm_err_name(err),
                 bm_errmsg_str(&em, err));
}

/* The answer at h: the prefetched one if it is h's, else fetched now. */
static int fetch_at(struct retriever *r, uint64_t h,
                    struct bm_da_blob_list *out, struct bm_errmsg *em)
{
    if (r->pf_have && r->pf_h == h) {
        int err = r->pf_err;

        *out = r->pf_list;
        r->pf_list = (struct bm_da_blob_list){NULL, 0};
        r->pf_have = false;
        atomic_fetch_add_explicit(&r->env->m.da_prefetched, 1,
                                  memory_order_relaxed);
        if (err != BM_OK) {
            bm_errf(em, err, BM_DA_MSG_NOT_FOUND);
        }
        return err;
    }
    if (r->pf_have && r->pf_h != h + 1) {
        prefetch_drop(r); /* not the next height's: stale */
    }
    return fetch(r, h, out, em);
}

/* ------------------------------------------------------------ blobs */

/* What a blob turned out to be. */
enum kind {
    K_JUNK = 0,   /* neither (or not in our namespaces) */
    K_HEADER,     /* a well-formed, self-signed header */
    K_DATA,       /* signed data with txs */
    K_DATA_EMPTY, /* signed data of an empty block: Sync synthesises it */
};

/*
 * One blob of a DA height, checked on any thread (check_blob): decoded
 * and every signature verified once. What depends on the blobs before it
 * (strict mode after the first envelope) is decided afterwards, in order,
 * on the Retriever's thread (deliver).
 */
struct blob_check {
    const struct bm_da_blob *blob; /* borrowed from the list */
    bool in_hdr;
    bool in_data;
    enum kind kind;
    int err;                       /* K_HEADER / K_DATA: BM_OK or refused */
    enum bm_da_reject why;         /* err != BM_OK: the counted reason */
    int bad;                       /* K_JUNK: a header failing ValidateBasic */
    bool is_env;                   /* K_HEADER: an envelope (signed) */
    bool has_hash;                 /* K_HEADER: hash is the header's */
    struct bm_hash hash;
    struct bm_da_header_envelope e; /* K_HEADER (owned) */
    struct bm_signed_data sd;      /* K_DATA (owned) */
    struct bm_errmsg em;
};

/* Read-only context of a height's checks. */
struct scan_ctx {
    struct retriever *r;
    uint64_t h;
    uint64_t now_ns;
    struct blob_check *v;
};

/* The blob as a DAHeaderEnvelope or a legacy SignedHeader: K_HEADER if
 * it decodes and passes SignedHeader.ValidateBasic (the header's
 * signature), with err the verdict of the envelope signature (not
 * strict: deliver() applies strict mode) and of the proposer. */
static bool check_header(const struct scan_ctx *sc, struct blob_check *c)
{
    const struct bm_env *env = sc->r->env;
    const struct bm_da_blob *b = c->blob;
    struct bm_errmsg em = {{0}};
    int err;

    if (bm_da_header_envelope_decode(&c->e, b->data.ptr, b->data.len) !=
        BM_OK) {
        bm_da_header_envelope_release(&c->e);
        return false;
    }
    err = bm_signed_header_validate_basic_hash(&c->e.sh, sc->now_ns,
                                              &c->hash, &c->has_hash, &em);
    if (err != BM_OK) {
        bm_log_debug(MOD, "not a header da_height=%llu err=%s msg=%s",
                     (unsigned long long)sc->h, bm_err_name(err),
                     bm_errmsg_str(&em, err));
        c->bad = err; /* counts only if it is no data either */
        bm_da_header_envelope_release(&c->e);
        return false;
    }
    /* A well-formed, self-signed header: from here on it is accepted or
     * refused, never tried as data. */
    c->kind = K_HEADER;
    if (!our_chain(env, c->e.sh.header.chain_id)) {
        /* Another chain's header (the same proposer key may sign several
         * chains): it must never take a height's place in Sync, nor look
         * like a fork of an applied block. */
        c->why = BM_DA_REJ_CHAIN_ID;
        c->err = bm_errf(&c->em, BM_ECHAIN_ID_MISMATCH,
                         "chain_id '%.64s' is not the genesis chain id",
                         c->e.sh.header.chain_id ? c->e.sh.header.chain_id
                                                 : "");
        return true;
    }
    c->why = BM_DA_REJ_ENVELOPE;
    c->err = bm_envelope_validate(&c->e, false, &c->is_env, &c->em);
    if (c->err == BM_OK && !bm_buf_eq(&c->e.sh.header.proposer_address,
                                      &env->genesis->proposer_address)) {
        c->why = BM_DA_REJ_PROPOSER;
        c->err = bm_errf(&c->em, BM_ENOT_PROPOSER,
                         "header.proposer_address is not the genesis "
                         "proposer");
    }
    return true;
}

/* The blob as SignedData: K_DATA with err its verdict (signature,
 * proposer, Data.Validate), or K_DATA_EMPTY. */
static bool check_data(const struct scan_ctx *sc, struct blob_check *c)
{
    const struct bm_env *env = sc->r->env;
    const struct bm_da_blob *b = c->blob;

    if (bm_signed_data_decode(&c->sd, b->data.ptr, b->data.len) != BM_OK ||
        !c->sd.data.has_metadata) {
        bm_signed_data_release(&c->sd);
        return false;
    }
    if (c->sd.data.n_txs == 0) {
        c->kind = K_DATA_EMPTY;
        return true;
    }
    c->kind = K_DATA;
    c->err = bm_signed_data_validate(&c->sd, &env->genesis->proposer_address,
                                     &c->em);
    if (c->err == BM_OK) {
        c->err = bm_data_validate(&c->sd.data, sc->now_ns, &c->em);
    }
    if (c->err == BM_OK && !our_chain(env, c->sd.data.metadata.chain_id)) {
        c->err = bm_errf(&c->em, BM_EDATA_CHAIN_ID, "metadata.chain_id "
                         "'%.64s' is not the genesis chain id",
                         c->sd.data.metadata.chain_id
                             ? c->sd.data.metadata.chain_id
                             : "");
    }
    if (c->err != BM_OK) {
        c->why = reject_reason(c->err);
    }
    return true;
}

/* bm_verifier_fn: classifies and checks blob i (any thread). */
static void check_blob(void *arg, size_t i)
{
    const struct scan_ctx *sc = arg;
    struct blob_check *c = &sc->v[i];

    if (c->blob->data.len == 0 || c->blob->data.ptr == NULL) {
        return;
    }
    if (c->in_hdr && check_header(sc, c)) {
        return;
    }
    if (c->in_data) {
        (void)check_data(sc, c);
    }
}

static void blob_check_release(struct blob_check *c)
{
    bm_da_header_envelope_release(&c->e);
    bm_signed_data_release(&c->sd);
}

/* Moves the accepted headers and data of v[0..n), in blob order, into
 * *m (arrays of n entries each, caller-allocated), counting and logging
 * the rest. Strict mode (bare SignedHeaders refused after the first
 * accepted envelope) follows the blob order, as blobs were seen. */
static void deliver(struct retriever *r, uint64_t h, struct blob_check *v,
                    size_t n, struct bm_sync_items_in *m)
{
    for (size_t i = 0; i < n; i++) {
        struct blob_check *c = &v[i];

        switch (c->kind) {
        case K_HEADER: {
            struct bm_sync_header_in *hi;

            if (c->err == BM_OK && !c->is_env && r->strict) {
                c->why = BM_DA_REJ_ENVELOPE;
                c->err = bm_errf(&c->em, BM_ENO_SIGNATURE,
                                 "envelope_signature: got (absent), want a "
                                 "signed envelope (strict mode)");
            }
            if (c->err != BM_OK) {
                refuse(r, c->why);
                bm_log_debug(MOD,
                             "header refused da_height=%llu height=%llu "
                             "strict=%d err=%s msg=%s",
                             (unsigned long long)h,
                             (unsigned long long)c->e.sh.header.height,
                             (int)r->strict, bm_err_name(c->err),
                             bm_errmsg_str(&c->em, c->err));
                break;
            }
            if (c->is_env && !r->strict) {
                r->strict = true;
                bm_log_info(MOD, "envelope seen: strict mode on "
                            "da_height=%llu", (unsigned long long)h);
            }
            hi = &m->headers[m->n_headers++];
            hi->sh = bm_xcalloc(1, sizeof(*hi->sh));
            *hi->sh = c->e.sh; /* moved */
            memset(&c->e.sh, 0, sizeof(c->e.sh));
            hi->da_height = h;
            hi->source = BM_SRC_DA;
            hi->sig_verified = true; /* check_header verified it */
            hi->has_hash = c->has_hash; /* ... and hashed those bytes */
            hi->hash = c->hash;
            bm_log_debug(MOD, "header found da_height=%llu height=%llu "
                         "envelope=%d", (unsigned long long)h,
                         (unsigned long long)hi->sh->header.height,
                         (int)c->is_env);
            break;
        }
        case K_DATA: {
            struct bm_sync_data_in *di;

            if (c->err != BM_OK) {
                refuse(r, c->why);
                bm_log_debug(MOD, "data refused da_height=%llu height=%llu "
                             "err=%s msg=%s", (unsigned long long)h,
                             (unsigned long long)c->sd.data.metadata.height,
                             bm_err_name(c->err),
                             bm_errmsg_str(&c->em, c->err));
                break;
            }
            di = &m->data[m->n_data++];
            di->data = bm_xcalloc(1, sizeof(*di->data));
            *di->data = c->sd.data; /* moved */
            memset(&c->sd.data, 0, sizeof(c->sd.data));
            di->da_height = h;
            di->source = BM_SRC_DA;
            bm_log_debug(MOD, "data found da_height=%llu height=%llu txs=%zu",
                         (unsigned long long)h,
                         (unsigned long long)di->data->metadata.height,
                         di->data->n_txs);
            break;
        }
        case K_DATA_EMPTY:
            bm_log_debug(MOD, "empty data ignored da_height=%llu height=%llu",
                         (unsigned long long)h,
                         (unsigned long long)c->sd.data.metadata.height);
            break;
        case K_JUNK:
        default:
            if (c->bad != BM_OK) {
                /* A header that failed ValidateBasic (e.g. a bad
                 * signature) and is no data either. */
                refuse(r, reject_reason(c->bad));
                break;
            }
            r->junk++;
            if (c->in_hdr || c->in_data) {
                atomic_fetch_add_explicit(
                    &r->env->m.da_rejected[BM_DA_REJ_DECODE], 1,
                    memory_order_relaxed);
            }
            bm_log_debug(MOD, "junk blob ignored da_height=%llu bytes=%zu "
                         "ns_ok=%d", (unsigned long long)h,
                         c->blob->data.len, (int)(c->in_hdr || c->in_data));
            break;
        }
    }
}

/*
 * Checks every blob of one DA height (in parallel: bm_verifier_each) and
 * hands what passed to Sync as one ITEMS_IN. Returns BM_OK (Sync has
 * them), or the error of the send (the height must then be retried),
 * BM_ENOMEM (retried too) or BM_ESHUTDOWN.
 */
static int process_blobs(struct retriever *r, uint64_t h,
                         const struct bm_da_blob_list *list)
{
    struct bm_env *env = r->env;
    struct scan_ctx sc = {r, h, bm_validate_now_ns(), NULL};
    struct bm_sync_items_in m = {0};
    int err = BM_OK;

    if (list->n == 0) {
        return BM_OK;
    }
    if (bm_env_quitting(env)) {
        return BM_ESHUTDOWN;
    }
    /* Sized by the DA's answer (already in memory): a failed allocation
     * is an error to retry, not an abort. */
    sc.v = bm_calloc(list->n, sizeof(*sc.v));
    m.headers = bm_calloc(list->n, sizeof(*m.headers));
    m.data = bm_calloc(list->n, sizeof(*m.data));
    if (sc.v == NULL || m.headers == NULL || m.data == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < list->n; i++) {
        sc.v[i].blob = &list->v[i];
        sc.v[i].in_hdr = ns_eq(&list->v[i].ns, &env->ns.header);
        sc.v[i].in_data = ns_eq(&list->v[i].ns, &env->ns.data);
    }
    {
        /* The verifiers check this height while this thread fetches the
         * next one (at most one ahead); then it helps with what is left. */
        struct bm_verifier_batch *vb =
            bm_verifier_start(env, check_blob, &sc, list->n);
        if (h < r->head) {
            prefetch(r, h + 1);
        }
        bm_verifier_finish(vb);
    }
    deliver(r, h, sc.v, list->n, &m);
    if (m.n_headers + m.n_data > 0) {
        err = bm_sync_tell_items_in(env->sys, bm_env_sync(env), &m);
        if (err == BM_OK) {
            memset(&m, 0, sizeof(m)); /* Sync owns them */
        }
    }
out:
    for (size_t i = 0; sc.v != NULL && i < list->n; i++) {
        blob_check_release(&sc.v[i]);
    }
    bm_free(sc.v);
    bm_sync_items_in_dtor(&m);
    return err;
}

/* Scans one DA height. BM_OK: every blob and the progress notice were
 * handed to Sync (or the height is empty); otherwise the DA error or the
 * breaker's BM_ECIRCUIT_OPEN, or (with *sync_err set) the error of a send
 * to Sync. */
static int scan(struct retriever *r, uint64_t h, bool *sync_err,
                struct bm_errmsg *em)
{
    struct bm_env *env = r->env;
    struct bm_da_blob_list list = {0};
    struct bm_sync_da_progress prog = {0};
    int err;

    *sync_err = false;
    err = fetch_at(r, h, &list, em);
    if (err == BM_EDA_NOT_FOUND) {
        err = BM_OK;
    } else if (err != BM_OK) {
        return err;
    }
    err = process_blobs(r, h, &list);
    bm_da_blob_list_release(&list);
    if (err == BM_OK) {
        prog.cursor = h + 1;
        /* Behind the head, the next height follows at once: Sync may
         * hold what this one completed for a bigger group. */
        prog.more = h < r->head;
        err = bm_sync_tell_da_progress(env->sys, bm_env_sync(env), &prog);
    }
    *sync_err = err != BM_OK;
    return err;
}

/* ------------------------------------------------------------ driver */

static void da_error(struct retriever *r, const char *what, int err,
                     const struct bm_errmsg *em)
{
    atomic_fetch_add_explicit(&r->env->m.da_retrieve_errors, 1,
                              memory_order_relaxed);
    if (!r->failing) {
        r->failing = true;
        bm_log_warn(MOD, "da %s failed da_height=%llu err=%s msg=%s", what,
                    (unsigned long long)r->cursor, bm_err_name(err),
                    bm_errmsg_str(em, err));
    } else {
        bm_log_debug(MOD, "da %s failed da_height=%llu err=%s", what,
                     (unsigned long long)r->cursor, bm_err_name(err));
    }
}

static void da_ok(struct retriever *r)
{
    if (r->failing) {
        r->failing = false;
        bm_log_info(MOD, "da recovered da_height=%llu",
                    (unsigned long long)r->cursor);
    }
}

static void send_continue(struct bm_actor_ctx *ctx, struct retriever *r)
{
    struct bm_retriever_tick p = {0};
    struct bm_ref_retriever self = {bm_actor_ctx_self(ctx)};
    uint64_t now = bm_env_now_ms();

    if (r->continue_pending && now - r->continue_sent_ms < CONTINUE_STALE_MS) {
        return;
    }
    if (bm_retriever_tell_cont(r->env->sys, self, &p) == BM_OK) {
        r->continue_pending = true;
        r->continue_sent_ms = now;
    }
}

/*
 * At the DA head. An aggregator catching up (actors/catchup.h) waits until
 * Sync handled everything sent so far (FLUSH: one mailbox, in order), then
 * lets catch-up end if the P2P condition holds too.
 */
static void at_head(struct retriever *r)
{
    struct bm_env *env = r->env;
    struct bm_sync_flush req = {0};
    struct bm_sync_flushed res = {0};
    int err;

    if (!env->cfg.aggregator || !bm_catchup_active(env)) {
        return;
    }
    err = bm_sync_call_flush(env->sys, bm_env_sync(env), &req, &res,
                             FLUSH_TIMEOUT_MS);
    if (err != BM_OK) {
        bm_log_debug(MOD, "catch-up: sync flush failed err=%s; retrying",
                     bm_err_name(err));
        return;
    }
    bm_log_debug(MOD, "catch-up: da head reached da_height=%llu height=%llu",
                 (unsigned long long)r->head, (unsigned long long)res.height);
    (void)bm_catchup_try_finish(env, res.height);
}

/* An aggregator's Retriever works only during catch-up: afterwards its
 * own blocks are all it would find. Stops the timer once. */
static bool idle_after_catchup(struct retriever *r)
{
    struct bm_env *env = r->env;

    if (!env->cfg.aggregator || bm_catchup_active(env)) {
        return false;
    }
    if (env->ha != NULL) {
        /* an HA candidate follows again once it stops leading: keep
         * ticking, idle while it leads */
        return bm_catchup_ha_poll(env);
    }
    if (!r->idle) {
        r->idle = true;
        prefetch_drop(r);
        bm_timer_cancel(env->sys, r->tick);
        bm_log_info(MOD, "catch-up over: idle da_height=%llu",
                    (unsigned long long)r->cursor);
    }
    return true;
}

/* One step: refresh the head if needed, scan the cursor height, advance,
 * and keep going (CONTINUE) while behind the head. */
static void step(struct bm_actor_ctx *ctx, struct retriever *r)
{
    struct bm_env *env = r->env;
    struct bm_errmsg em = {{0}};
    bool sync_err = false;
    int err;

    if (bm_env_quitting(env) || idle_after_catchup(r)) {
        return;
    }
    if (!r->loaded && load(r) != BM_OK) {
        return;
    }
    if (r->cursor == UINT64_MAX) {
        return; /* nothing can follow (a hostile head) */
    }
    if (r->cursor > r->head) {
        err = refresh_head(r, &em);
        if (err == BM_ECIRCUIT_OPEN) {
            return;
        }
        if (err != BM_OK) {
            da_error(r, "head", err, &em);
            return;
        }
        if (r->cursor > r->head) {
            da_ok(r);
            at_head(r);
            return; /* at the head: wait for a TICK */
        }
    }
    err = scan(r, r->cursor, &sync_err, &em);
    if (sync_err) {
        /* Sync did not take a message (its mailbox stayed full, it is
         * restarting or stopping): retry this height on a later TICK. */
        bm_log_debug(MOD, "sync busy, retrying da_height=%llu err=%s",
                     (unsigned long long)r->cursor, bm_err_name(err));
        return;
    }
    switch (err) {
    case BM_OK:
        da_ok(r);
        r->cursor++;
        atomic_fetch_add_explicit(&env->m.da_heights_scanned, 1,
                                  memory_order_relaxed);
        break;
    case BM_EDA_FUTURE_HEIGHT:
        /* The cached head was ahead of what the DA serves: refresh it on
         * the next TICK. */
        da_ok(r);
        r->head = r->cursor - 1;
        return;
    case BM_ECIRCUIT_OPEN:
        return;
    default:
        da_error(r, "get_all", err, &em);
        return;
    }
    if (r->cursor <= r->head) {
        send_continue(ctx, r);
    }
}

/* ------------------------------------------------------------ actor */

/* Arms the next TICK, delay_ms from now. A periodic timer would queue a
 * TICK every period while a DA call blocks (seconds, with a slow DA): the
 * mailbox filled with stale TICKs, dropped (drop_oldest) or each followed
 * by a DA call. */
static int arm_tick(struct bm_actor_ctx *ctx, struct retriever *r,
                    int64_t delay_ms)
{
    struct bm_retriever_tick p = {0};

    return bm_timer_start(r->env->sys, bm_actor_ctx_self(ctx),
                          BM_RETRIEVER_TICK, &p, sizeof(p), delay_ms, 0,
                          &r->tick);
}

BM_ACTOR_HANDLER(on_tick, struct retriever, struct bm_retriever_tick)
static int on_tick(struct bm_actor_ctx *ctx, struct retriever *st,
                   struct bm_retriever_tick *p)
{
    int err;

    (void)p;
    step(ctx, st);
    if (st->idle || bm_env_quitting(st->env)) {
        return BM_OK;
    }
    err = arm_tick(ctx, st, st->period_ms);
    if (err != BM_OK) {
        /* Without a TICK the retriever would stop for good: fail, and
         * the supervisor restarts it (init arms the timer again). */
        bm_log_error(MOD, "cannot arm the tick timer err=%s",
                     bm_err_name(err));
    }
    return err;
}

BM_ACTOR_HANDLER(on_continue, struct retriever, struct bm_retriever_tick)
static int on_continue(struct bm_actor_ctx *ctx, struct retriever *st,
                       struct bm_retriever_tick *p)
{
    (void)p;
    st->continue_pending = false;
    step(ctx, st);
    return BM_OK;
}

static const struct bm_msg_kind retriever_kinds[BM_RETRIEVER_NKINDS] = {
    [BM_RETRIEVER_TICK] = BM_MSG_KIND("tick", struct bm_retriever_tick, 0,
                                      NULL, on_tick, NULL, NULL),
    [BM_RETRIEVER_CONTINUE] = BM_MSG_KIND("continue",
                                          struct bm_retriever_tick, 0, NULL,
                                          on_continue, NULL, NULL),
};

/* Takes env (borrowed); writes an owned state. Arms the first TICK. */
static int retriever_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    struct bm_env *env = arg;
    struct retriever *r;
    int err;

    if (env == NULL || env->da == NULL || env->sys == NULL) {
        bm_log_error(MOD, "cannot start err=BM_EINVAL msg=env.da: got "
                          "NULL, want a DA handle");
        return BM_EINVAL;
    }
    r = bm_xcalloc(1, sizeof(*r));
    r->env = env;
    r->period_ms = bm_env_da_tick_ms(env, MIN_TICK_MS);
    err = arm_tick(ctx, r, 0);
    if (err != BM_OK) {
        bm_free(r);
        return err;
    }
    *out = r;
    return BM_OK;
}

/* Takes the state. */
static void retriever_terminate(void *state, int reason)
{
    struct retriever *r = state;

    (void)reason;
    if (r == NULL) {
        return;
    }
    if (!r->idle) {
        bm_timer_cancel(r->env->sys, r->tick);
    }
    prefetch_drop(r);
    bm_log_debug(MOD, "stop da_height=%llu junk=%llu refused=%llu",
                 (unsigned long long)r->cursor, (unsigned long long)r->junk,
                 (unsigned long long)r->refused);
    bm_free(r);
}

const struct bm_actor_type bm_retriever_actor_type = {
    .name = "retriever",
    .kinds = retriever_kinds,
    .n_kinds = BM_RETRIEVER_NKINDS,
    .init = retriever_init,
    .terminate = retriever_terminate,
    .on_down = NULL,
};
