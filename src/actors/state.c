/*
 * StateActor (state.h): the chain state in memory and the only writer of
 * the store. Detached: every write is one fsynced LMDB transaction.
 *
 * The first handler loads the latest state, the store height and the
 * tracked metadata (DA-included and last-submitted heights); a load
 * failure is fatal and every later message gets the same error. After a
 * fatal error (ours or another actor's) writes are refused with
 * BM_ESTATE, so memory and disk cannot drift apart; GET still answers.
 */
#include "actors/state.h"

#include <inttypes.h>
#include <string.h>

#include "blockv2/store.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "state"

struct state_actor {
    struct bm_env *env;          /* borrowed */
    bool loaded;
    int load_err;                /* BM_OK, or the error that halted the load */
    struct bm_state state;       /* owned: state after block `height` */
    uint64_t height;             /* store height */
    uint64_t da_included;        /* /0/m/d */
    uint64_t last_sub_header;    /* /0/m/last-submitted-header-height */
    uint64_t last_sub_data;      /* /0/m/last-submitted-data-height */
};

/* ------------------------------------------------------------ meta lists */

static enum bm_err meta_push(struct bm_state_meta_list *l, const char *name,
                             struct bm_state_meta_kv **out)
{
    struct bm_state_meta_kv *v;
    char *copy;
    size_t n;

    if (name == NULL) {
        return BM_EINVAL;
    }
    if (!bm_size_add(l->n, 1, &n) || !bm_size_mul(n, sizeof(*v), &n)) {
        return BM_EOVERFLOW;
    }
    copy = bm_strdup(name);
    if (copy == NULL) {
        return BM_ENOMEM;
    }
    v = bm_realloc(l->v, n);
    if (v == NULL) {
        bm_free(copy);
        return BM_ENOMEM;
    }
    l->v = v;
    memset(&v[l->n], 0, sizeof(v[l->n]));
    v[l->n].name = copy;
    *out = &v[l->n];
    l->n++;
    return BM_OK;
}

enum bm_err bm_state_meta_add(struct bm_state_meta_list *l, const char *name,
                              const uint8_t *p, size_t len)
{
    struct bm_state_meta_kv *kv;
    enum bm_err err;

    if (p == NULL && len > 0) {
        return BM_EINVAL;
    }
    err = meta_push(l, name, &kv);
    if (err != BM_OK) {
        return err;
    }
    err = bm_buf_set(&kv->value, p, len);
    if (err != BM_OK) {
        l->n--;
        bm_free(kv->name);
        kv->name = NULL;
    }
    return err;
}

enum bm_err bm_state_meta_add_u64(struct bm_state_meta_list *l,
                                  const char *name, uint64_t v)
{
    uint8_t b[8];

    bm_put_le64(b, v);
    return bm_state_meta_add(l, name, b, sizeof(b));
}

enum bm_err bm_state_meta_append(struct bm_state_meta_list *dst,
                                 const struct bm_state_meta_list *src)
{
    enum bm_err err = BM_OK;

    for (size_t i = 0; i < src->n && err == BM_OK; i++) {
        err = bm_state_meta_add(dst, src->v[i].name, src->v[i].value.ptr,
                                src->v[i].value.len);
        if (err == BM_OK && src->v[i].del) {
            dst->v[dst->n - 1].del = true;
        }
    }
    return err;
}

void bm_state_meta_list_release(struct bm_state_meta_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n && l->v != NULL; i++) {
        bm_free(l->v[i].name);
        bm_buf_release(&l->v[i].value);
    }
    bm_free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ------------------------------------------------------------ dtors */

static void state_free(struct bm_state *s)
{
    if (s != NULL) {
        bm_state_release(s);
        bm_free(s);
    }
}

void bm_state_info_dtor(void *p)
{
    struct bm_state_info *i = p;

    state_free(i->state);
    i->state = NULL;
}

void bm_state_pending_dtor(void *p)
{
    struct bm_state_pending *pd = p;

    bm_buf_release(&pd->header);
    bm_buf_release(&pd->data);
}

void bm_state_commit_dtor(void *p)
{
    struct bm_state_commit *c = p;

    bm_block_unref(c->blk);
    c->blk = NULL;
    state_free(c->new_state);
    c->new_state = NULL;
    bm_state_meta_list_release(&c->meta);
}

void bm_state_commit_group_dtor(void *p)
{
    struct bm_state_commit_group *g = p;

    for (size_t i = 0; i < g->n && g->v != NULL; i++) {
        bm_state_commit_dtor(&g->v[i]);
    }
    bm_free(g->v);
    g->v = NULL;
    g->n = 0;
}

void bm_state_put_meta_dtor(void *p)
{
    struct bm_state_put_meta *m = p;

    bm_state_meta_list_release(&m->meta);
}

/* ------------------------------------------------------------ validation */

static bool is_tracked(const char *name)
{
    return strcmp(name, BM_META_DA_INCLUDED) == 0 ||
           strcmp(name, BM_META_LAST_SUBMITTED_HEADER) == 0 ||
           strcmp(name, BM_META_LAST_SUBMITTED_DATA) == 0;
}

static int check_meta_list(const struct bm_state_meta_list *l,
                           struct bm_errmsg *em)
{
    if (l->n > 0 && l->v == NULL) {
        return bm_errf(em, BM_EINVAL, "meta.v: NULL with %zu entries", l->n);
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct bm_state_meta_kv *kv = &l->v[i];
        size_t n;

        if (kv->name == NULL || kv->name[0] == '\0') {
            return bm_errf(em, BM_EINVAL, "meta[%zu].name: empty", i);
        }
        n = strnlen(kv->name, BM_STORE_MAX_META_NAME + 1);
        if (n > BM_STORE_MAX_META_NAME) {
            return bm_errf(em, BM_EINVAL,
                           "meta[%zu].name: longer than %u bytes", i,
                           BM_STORE_MAX_META_NAME);
        }
        if (kv->value.ptr == NULL && kv->value.len > 0) {
            return bm_errf(em, BM_EINVAL,
                           "meta[%zu].value: NULL with length %zu", i,
                           kv->value.len);
        }
        if (kv->value.len > BM_STORE_MAX_VALUE) {
            return bm_errf(em, BM_ETOOBIG,
                           "meta[%zu].value: got %zu bytes, max %u", i,
                           kv->value.len, (unsigned)BM_STORE_MAX_VALUE);
        }
        if (!kv->del && is_tracked(kv->name) && kv->value.len != 8) {
            return bm_errf(em, BM_EINVAL,
                           "meta[%zu].value: got %zu bytes for '%s', want 8",
                           i, kv->value.len, kv->name);
        }
    }
    return BM_OK;
}

static int validate_pending(const void *payload, struct bm_errmsg *em)
{
    const struct bm_state_pending *p = payload;

    if (p->header.ptr == NULL || p->header.len == 0) {
        return bm_errf(em, BM_EINVAL, "header: empty");
    }
    if (p->data.ptr == NULL && p->data.len > 0) {
        return bm_errf(em, BM_EINVAL, "data: NULL with length %zu",
                       p->data.len);
    }
    if (p->header.len > BM_STORE_MAX_VALUE ||
        p->data.len > BM_STORE_MAX_VALUE) {
        return bm_errf(em, BM_ETOOBIG, "header/data: above %u bytes",
                       (unsigned)BM_STORE_MAX_VALUE);
    }
    return BM_OK;
}

static int validate_commit(const void *payload, struct bm_errmsg *em)
{
    const struct bm_state_commit *c = payload;

    if (c->blk == NULL) {
        return bm_errf(em, BM_EINVAL, "blk: NULL");
    }
    if (c->new_state == NULL) {
        return bm_errf(em, BM_EINVAL, "new_state: NULL");
    }
    if (c->source > BM_SRC_P2P) {
        return bm_errf(em, BM_EINVAL, "source: got %u, want 0..2",
                       (unsigned)c->source);
    }
    return check_meta_list(&c->meta, em);
}

static int validate_commit_group(const void *payload, struct bm_errmsg *em)
{
    const struct bm_state_commit_group *g = payload;

    if (g->n == 0 || g->n > BM_STATE_GROUP_MAX || g->v == NULL) {
        return bm_errf(em, BM_EINVAL, "commit_group.n: got %zu, want 1..%u",
                       g->n, BM_STATE_GROUP_MAX);
    }
    for (size_t i = 0; i < g->n; i++) {
        int err = validate_commit(&g->v[i], em);

        if (err != BM_OK) {
            return err;
        }
    }
    return BM_OK;
}

static int validate_put_meta(const void *payload, struct bm_errmsg *em)
{
    const struct bm_state_put_meta *m = payload;

    if (m->meta.n == 0) {
        return bm_errf(em, BM_EINVAL, "meta: empty list");
    }
    return check_meta_list(&m->meta, em);
}

static int validate_rollback(const void *payload, struct bm_errmsg *em)
{
    const struct bm_state_rollback *r = payload;

    if (r->height == 0) {
        return bm_errf(em, BM_EINVAL, "rollback.height: 0 (no block)");
    }
    return BM_OK;
}

/* ------------------------------------------------------------ helpers */

static void publish(struct state_actor *a)
{
    struct bm_env_metrics *m = &a->env->m;

    atomic_store_explicit(&m->height, a->height, memory_order_relaxed);
    atomic_store_explicit(&m->da_included_height, a->da_included,
                          memory_order_relaxed);
    atomic_store_explicit(&m->last_submitted_header, a->last_sub_header,
                          memory_order_relaxed);
    atomic_store_explicit(&m->last_submitted_data, a->last_sub_data,
                          memory_order_relaxed);
}

static enum bm_err load_u64(struct state_actor *a, const char *name,
                            uint64_t *out)
{
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_meta_get_u64(a->env->store, name, out, &em);

    if (err == BM_ENOTFOUND) {
        *out = 0;
        return BM_OK;
    }
    if (err != BM_OK) {
        bm_env_fatal(a->env, MOD, err, "cannot load metadata '%s': %s", name,
                     bm_errmsg_str(&em, err));
    }
    return err;
}

static int load(struct state_actor *a)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf b = {0};
    uint64_t h = 0;
    int err;

    if (a->loaded) {
        return BM_OK;
    }
    if (a->load_err != BM_OK) {
        return a->load_err;
    }
    err = bm_store_get_latest_state(a->env->store, &h, &b, &em);
    if (err != BM_OK) {
        bm_env_fatal(a->env, MOD, err, "cannot load the latest state: %s",
                     bm_errmsg_str(&em, err));
        goto out;
    }
    bm_state_release(&a->state);
    err = bm_state_decode(&a->state, b.ptr, b.len);
    if (err != BM_OK) {
        bm_env_fatal(a->env, MOD, BM_ECORRUPT,
                     "state at height %" PRIu64 " does not decode: %s", h,
                     bm_err_name(err));
        err = BM_ECORRUPT;
        goto out;
    }
    if (a->state.last_block_height != h) {
        bm_env_fatal(a->env, MOD, BM_ECORRUPT,
                     "state.last_block_height: got %" PRIu64
                     ", want %" PRIu64 " (store height)",
                     a->state.last_block_height, h);
        err = BM_ECORRUPT;
        goto out;
    }
    a->height = h;
    err = load_u64(a, BM_META_DA_INCLUDED, &a->da_included);
    if (err == BM_OK) {
        err = load_u64(a, BM_META_LAST_SUBMITTED_HEADER, &a->last_sub_header);
    }
    if (err == BM_OK) {
        err = load_u64(a, BM_META_LAST_SUBMITTED_DATA, &a->last_sub_data);
    }
    if (err != BM_OK) {
        goto out;
    }
    a->loaded = true;
    publish(a);
    bm_log_info(MOD,
                "state loaded height=%" PRIu64 " da_included=%" PRIu64
                " last_submitted_header=%" PRIu64
                " last_submitted_data=%" PRIu64,
                a->height, a->da_included, a->last_sub_header,
                a->last_sub_data);
out:
    bm_buf_release(&b);
    if (err != BM_OK) {
        bm_state_release(&a->state);
        a->load_err = err;
    }
    return err;
}

/* Loaded and not halted: the precondition of every write. */
static int ready_to_write(struct state_actor *a)
{
    int err = load(a);

    if (err != BM_OK) {
        return err;
    }
    if (bm_env_halted(a->env)) {
        bm_log_debug(MOD, "write refused: node halted");
        return BM_ESTATE;
    }
    return BM_OK;
}

/* Fills ops[i] from the message's list (borrowing its bytes). */
static void meta_ops(const struct bm_state_meta_list *l,
                     struct bm_store_meta_op *ops)
{
    static const uint8_t empty[1];

    for (size_t i = 0; i < l->n; i++) {
        ops[i].name = l->v[i].name;
        if (l->v[i].del) {
            ops[i].value = NULL;
            ops[i].len = 0;
        } else {
            ops[i].value = l->v[i].value.len > 0 ? l->v[i].value.ptr : empty;
            ops[i].len = l->v[i].value.len;
        }
    }
}

/* Mirrors the tracked metadata just written into memory and the gauges. */
static void track_meta(struct state_actor *a,
                       const struct bm_state_meta_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct bm_state_meta_kv *kv = &l->v[i];
        uint64_t v = 0;

        if (!kv->del && kv->value.len == 8) {
            v = bm_get_le64(kv->value.ptr);
        } else if (!kv->del) {
            continue;
        }
        if (strcmp(kv->name, BM_META_DA_INCLUDED) == 0) {
            a->da_included = v;
        } else if (strcmp(kv->name, BM_META_LAST_SUBMITTED_HEADER) == 0) {
            a->last_sub_header = v;
        } else if (strcmp(kv->name, BM_META_LAST_SUBMITTED_DATA) == 0) {
            a->last_sub_data = v;
        }
    }
    publish(a);
}

/* One store transaction: blocks[0..n_blocks) and the metadata of
 * lists[0..n_lists) in order (a later list's value of a name wins). A
 * write error is fatal. */
static int write_batch(struct state_actor *a,
                       const struct bm_state_meta_list *const *lists,
                       size_t n_lists, const struct bm_store_block *blocks,
                       size_t n_blocks, bool clear_pending, const char *what)
{
    struct bm_errmsg em = {{0}};
    struct bm_store_meta_op *ops = NULL;
    struct bm_store_batch b = {0};
    size_t n_ops = 0;
    int err;

    for (size_t i = 0; i < n_lists; i++) {
        n_ops += lists[i]->n;
    }
    if (n_ops > 0) {
        ops = bm_xcalloc(n_ops, sizeof(*ops));
        n_ops = 0;
        for (size_t i = 0; i < n_lists; i++) {
            meta_ops(lists[i], &ops[n_ops]);
            n_ops += lists[i]->n;
        }
    }
    b.blocks = blocks;
    b.n_blocks = n_blocks;
    b.meta = ops;
    b.n_meta = n_ops;
    b.clear_pending = clear_pending;
    err = bm_store_write(a->env->store, &b, &em);
    bm_free(ops);
    if (err != BM_OK) {
        bm_env_fatal(a->env, MOD, err, "%s: store write failed: %s", what,
                     bm_errmsg_str(&em, err));
    }
    return err;
}

static int reply_ack(struct bm_actor_ctx *ctx, uint64_t height)
{
    struct bm_state_ack ack = {height};

    if (bm_actor_ctx_is_ask(ctx)) {
        bm_actor_reply(ctx, BM_OK, &ack, sizeof(ack));
    }
    return BM_OK;
}

static const char *source_name(uint8_t s)
{
    switch (s) {
    case BM_SRC_PRODUCED:
        return "produced";
    case BM_SRC_DA:
        return "da";
    case BM_SRC_P2P:
        return "p2p";
    default:
        return "unknown";
    }
}

static void notify(struct state_actor *a, uint64_t height, uint64_t time_ns)
{
    struct bm_env_sub subs[BM_ENV_MAX_SUBSCRIBERS];
    size_t n = bm_env_subscribers(a->env, subs);

    for (size_t i = 0; i < n; i++) {
        struct bm_state_new_height nh = {height, time_ns};
        int err = bm_actor_tell(a->env->sys, subs[i].id, subs[i].kind, &nh,
                                sizeof(nh));

        if (err != BM_OK) {
            bm_log_debug(MOD,
                         "notify skipped subscriber=%u height=%" PRIu64
                         " err=%s",
                         (unsigned)subs[i].id.slot, height, bm_err_name(err));
        }
    }
}

/* ------------------------------------------------------------ handlers */

BM_ACTOR_HANDLER(on_get, struct state_actor, struct bm_state_get)
static int on_get(struct bm_actor_ctx *ctx, struct state_actor *a,
                  struct bm_state_get *p)
{
    struct bm_state_info info = {0};
    int err;

    (void)p;
    err = load(a);
    if (err != BM_OK) {
        return err;
    }
    if (!bm_actor_ctx_is_ask(ctx)) {
        return BM_OK;
    }
    info.state = bm_xcalloc(1, sizeof(*info.state));
    err = bm_state_copy(info.state, &a->state);
    if (err != BM_OK) {
        bm_free(info.state);
        return err;
    }
    info.height = a->height;
    info.da_included_height = a->da_included;
    info.last_submitted_header = a->last_sub_header;
    info.last_submitted_data = a->last_sub_data;
    if (bm_actor_reply(ctx, BM_OK, &info, sizeof(info)) != BM_OK) {
        bm_state_info_dtor(&info);
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(on_save_pending, struct state_actor, struct bm_state_pending)
static int on_save_pending(struct bm_actor_ctx *ctx, struct state_actor *a,
                           struct bm_state_pending *p)
{
    struct bm_errmsg em = {{0}};
    int err = ready_to_write(a);

    if (err != BM_OK) {
        return err;
    }
    err = bm_store_set_pending(a->env->store, p->header.ptr, p->header.len,
                               p->data.ptr, p->data.len, &em);
    if (err != BM_OK) {
        bm_env_fatal(a->env, MOD, err, "save pending: %s",
                     bm_errmsg_str(&em, err));
        return err;
    }
    bm_log_debug(MOD, "pending saved height=%" PRIu64 " header_bytes=%zu",
                 a->height + 1, p->header.len);
    return reply_ack(ctx, a->height);
}

/* Counts one committed block in the metrics. */
static void count_block(struct bm_env *env, const struct bm_state_commit *c,
                        size_t data_bytes)
{
    atomic_store_explicit(&env->m.last_block_txs, c->blk->data.n_txs,
                          memory_order_relaxed);
    atomic_fetch_add_explicit(&env->m.total_txs, c->blk->data.n_txs,
                              memory_order_relaxed);
    atomic_store_explicit(&env->m.last_block_bytes, data_bytes,
                          memory_order_relaxed);
    if (c->source == BM_SRC_PRODUCED) {
        atomic_fetch_add_explicit(&env->m.blocks_produced, 1,
                                  memory_order_relaxed);
    } else if (c->source == BM_SRC_DA) {
        atomic_fetch_add_explicit(&env->m.blocks_synced_da, 1,
                                  memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&env->m.blocks_synced_p2p, 1,
                                  memory_order_relaxed);
    }
}

/*
 * Commits v[0..n) (heights tip + 1 ...) in one store transaction, then
 * takes the last State, counts, marks and logs every block, notifies the
 * subscribers once (the last height) and replies. Moves the new states
 * out of v on success.
 */
static int commit_blocks(struct bm_actor_ctx *ctx, struct state_actor *a,
                         struct bm_state_commit *v, size_t n)
{
    struct bm_env *env = a->env;
    struct bm_store_encoded *enc = NULL;
    struct bm_store_block *sb = NULL;
    const struct bm_state_meta_list **lists = NULL;
    const struct bm_header *last;
    bool clear_pending = false;
    uint64_t want;
    char hex[9];
    int err = ready_to_write(a); /* loads the state on the first message */

    if (err != BM_OK) {
        return err;
    }
    want = a->height + 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = v[i].blk->sh.header.height;

        if (h != want + i || v[i].new_state->last_block_height != want + i) {
            bm_log_debug(MOD,
                         "commit refused height=%" PRIu64
                         " state_height=%" PRIu64 " want=%" PRIu64,
                         h, v[i].new_state->last_block_height, want + i);
            return BM_EHEIGHT_MISMATCH;
        }
    }
    enc = bm_xcalloc(n, sizeof(*enc));
    sb = bm_xcalloc(n, sizeof(*sb));
    lists = bm_xcalloc(n, sizeof(*lists));
    for (size_t i = 0; i < n; i++) {
        /* (the block's hash: Sync and the Producer computed it) */
        err = bm_store_encoded_init_hashed(&enc[i], &v[i].blk->sh,
                                           &v[i].blk->hash, &v[i].blk->data,
                                           v[i].new_state);
        if (err != BM_OK) {
            bm_log_warn(MOD, "commit height=%" PRIu64 " cannot encode: %s",
                        want + i, bm_err_name(err));
            goto out;
        }
        bm_store_encoded_view(&enc[i], &sb[i]);
        lists[i] = &v[i].meta;
        clear_pending = clear_pending || v[i].clear_pending;
    }
    err = write_batch(a, lists, n, sb, n, clear_pending,
                      n == 1 ? "commit" : "commit group");
    if (err != BM_OK) {
        goto out;
    }

    /* The store has them: move the last new state in. */
    bm_state_release(&a->state);
    a->state = *v[n - 1].new_state;
    bm_free(v[n - 1].new_state);
    v[n - 1].new_state = NULL;
    a->height = want + n - 1;
    for (size_t i = 0; i < n; i++) {
        count_block(env, &v[i], enc[i].data.len);
        bm_env_mark_seen(env, &enc[i].hash);
        track_meta(a, &v[i].meta); /* publishes the height too */
    }
    bm_hex_encode(hex, enc[n - 1].hash.b, 4);
    if (n == 1) {
        bm_log_info(MOD,
                    "block committed height=%" PRIu64 " txs=%zu hash=%s "
                    "source=%s",
                    want, v[0].blk->data.n_txs, hex,
                    source_name(v[0].source));
    } else {
        bm_log_info(MOD,
                    "blocks committed from=%" PRIu64 " to=%" PRIu64
                    " count=%zu hash=%s source=%s",
                    want, a->height, n, hex, source_name(v[n - 1].source));
    }
    last = &v[n - 1].blk->sh.header;
    notify(a, a->height, last->time);
    err = reply_ack(ctx, a->height);
out:
    for (size_t i = 0; i < n; i++) {
        bm_store_encoded_release(&enc[i]);
    }
    bm_free(enc);
    bm_free(sb);
    bm_free(lists);
    return err;
}

BM_ACTOR_HANDLER(on_commit, struct state_actor, struct bm_state_commit)
static int on_commit(struct bm_actor_ctx *ctx, struct state_actor *a,
                     struct bm_state_commit *p)
{
    return commit_blocks(ctx, a, p, 1);
}

BM_ACTOR_HANDLER(on_commit_group, struct state_actor,
                 struct bm_state_commit_group)
static int on_commit_group(struct bm_actor_ctx *ctx, struct state_actor *a,
                           struct bm_state_commit_group *p)
{
    return commit_blocks(ctx, a, p->v, p->n);
}

BM_ACTOR_HANDLER(on_put_meta, struct state_actor, struct bm_state_put_meta)
static int on_put_meta(struct bm_actor_ctx *ctx, struct state_actor *a,
                       struct bm_state_put_meta *p)
{
    const struct bm_state_meta_list *l = &p->meta;
    int err = p->da_record ? load(a) : ready_to_write(a);

    if (err != BM_OK) {
        return err;
    }
    err = write_batch(a, &l, 1, NULL, 0, false, "put meta");
    if (err != BM_OK) {
        return err;
    }
    track_meta(a, &p->meta);
    bm_log_debug(MOD, "metadata written n=%zu first=%s", p->meta.n,
                 p->meta.v[0].name);
    return reply_ack(ctx, a->height);
}

BM_ACTOR_HANDLER(on_rollback, struct state_actor, struct bm_state_rollback)
static int on_rollback(struct bm_actor_ctx *ctx, struct state_actor *a,
                       struct bm_state_rollback *p)
{
    struct bm_errmsg em = {{0}};
    uint64_t now_h = 0;
    int err = ready_to_write(a);

    if (err != BM_OK) {
        return err;
    }
    if (p->height != a->height) {
        bm_log_warn(MOD, "rollback refused height=%" PRIu64
                    " store_height=%" PRIu64, p->height, a->height);
        return BM_EHEIGHT_MISMATCH;
    }
    err = bm_store_rollback(a->env->store, 1, &now_h, &em);
    if (err != BM_OK) {
        bm_env_fatal(a->env, MOD, err, "rollback of block %" PRIu64
                     ": store write failed: %s", p->height,
                     bm_errmsg_str(&em, err));
        return err;
    }
    /* the state below it, and the tracked metadata, from the store */
    a->loaded = false;
    err = load(a);
    if (err != BM_OK) {
        return err; /* load made it fatal */
    }
    bm_log_warn(MOD, "block rolled back height=%" PRIu64 " store height now "
                "%" PRIu64, p->height, a->height);
    return reply_ack(ctx, a->height);
}

/* ------------------------------------------------------------ type */

static int state_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    struct state_actor *a;

    (void)ctx;
    if (arg == NULL) {
        return BM_EINVAL;
    }
    a = bm_xcalloc(1, sizeof(*a));
    a->env = arg;
    *out = a;
    return BM_OK;
}

static void state_terminate(void *state, int reason)
{
    struct state_actor *a = state;

    (void)reason;
    if (a == NULL) {
        return;
    }
    bm_state_release(&a->state);
    bm_free(a);
}

static const struct bm_msg_kind state_kinds[BM_STATE_NKINDS] = {
    [BM_STATE_GET] = BM_MSG_KIND("get", struct bm_state_get,
                                 sizeof(struct bm_state_info), NULL, on_get,
                                 NULL, bm_state_info_dtor),
    [BM_STATE_SAVE_PENDING] = BM_MSG_KIND(
        "save_pending", struct bm_state_pending, sizeof(struct bm_state_ack),
        validate_pending, on_save_pending, bm_state_pending_dtor, NULL),
    [BM_STATE_COMMIT] = BM_MSG_KIND("commit", struct bm_state_commit,
                                    sizeof(struct bm_state_ack),
                                    validate_commit, on_commit,
                                    bm_state_commit_dtor, NULL),
    [BM_STATE_PUT_META] = BM_MSG_KIND(
        "put_meta", struct bm_state_put_meta, sizeof(struct bm_state_ack),
        validate_put_meta, on_put_meta, bm_state_put_meta_dtor, NULL),
    [BM_STATE_COMMIT_GROUP] = BM_MSG_KIND(
        "commit_group", struct bm_state_commit_group,
        sizeof(struct bm_state_ack), validate_commit_group, on_commit_group,
        bm_state_commit_group_dtor, NULL),
    [BM_STATE_ROLLBACK] = BM_MSG_KIND("rollback", struct bm_state_rollback,
                                      sizeof(struct bm_state_ack),
                                      validate_rollback, on_rollback, NULL,
                                      NULL),
};

const struct bm_actor_type bm_state_actor_type = {
    .name = "state",
    .kinds = state_kinds,
    .n_kinds = BM_STATE_NKINDS,
    .init = state_init,
    .terminate = state_terminate,
};

static int put_meta_wait(struct bm_env *env, struct bm_state_meta_list *l,
                         bool da_record, int64_t timeout_ms)
{
    struct bm_state_put_meta pm;
    struct bm_state_ack ack;
    struct bm_future *f = NULL;
    int err;

    memset(&pm, 0, sizeof(pm));
    pm.meta = *l;
    pm.da_record = da_record;
    memset(l, 0, sizeof(*l));
    err = bm_state_ask_put_meta(env->sys, bm_env_state(env), &pm, timeout_ms,
                                &f);
    if (err != BM_OK) {
        bm_state_meta_list_release(&pm.meta);
        return err;
    }
    err = bm_future_wait(f, -1, &ack, sizeof(ack));
    bm_future_free(f);
    return err;
}

int bm_state_put_meta_wait(struct bm_env *env, struct bm_state_meta_list *l,
                           int64_t timeout_ms)
{
    return put_meta_wait(env, l, false, timeout_ms);
}

int bm_state_put_da_record_wait(struct bm_env *env,
                                struct bm_state_meta_list *l,
                                int64_t timeout_ms)
{
    return put_meta_wait(env, l, true, timeout_ms);
}
