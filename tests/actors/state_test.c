/*
 * StateActor over a real store: GET after bootstrap, COMMIT (store height,
 * bm_store_check, subscribers, metrics, seen hashes), a COMMIT at the
 * wrong height refused without halting, PUT_META tracked in GET,
 * SAVE_PENDING and its clearing by a COMMIT, reload after a restart,
 * corrupt metadata -> fatal, writes refused after a fatal error, and the
 * message validators/dtors with zeroed payloads.
 */
#include "bm_test.h"

#include "actors_test_util.h"

#include <pthread.h>
#include <string.h>

#include "actors/state.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "util/errmsg.h"

#define CALL_MS 10000

/* ------------------------------------------------------------ capture */

/* A pooled actor recording the new-height notifications it receives. */
struct capture {
    pthread_mutex_t mu;
    uint64_t heights[16];
    uint64_t times[16];
    size_t n;
};

BM_ACTOR_HANDLER(on_new_height, struct capture, struct bm_state_new_height)
static int on_new_height(struct bm_actor_ctx *ctx, struct capture *c,
                         struct bm_state_new_height *p)
{
    (void)ctx;
    pthread_mutex_lock(&c->mu);
    if (c->n < 16) {
        c->heights[c->n] = p->height;
        c->times[c->n] = p->time_ns;
        c->n++;
    }
    pthread_mutex_unlock(&c->mu);
    return BM_OK;
}

static const struct bm_msg_kind capture_kinds[] = {
    BM_MSG_KIND("new_height", struct bm_state_new_height, 0, NULL,
                on_new_height, NULL, NULL),
};

static const struct bm_actor_type capture_type = {
    .name = "capture",
    .kinds = capture_kinds,
    .n_kinds = 1,
};

static size_t capture_count(struct capture *c)
{
    size_t n;

    pthread_mutex_lock(&c->mu);
    n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

struct capture_wait {
    struct capture *c;
    size_t want;
};

static bool capture_reached(void *arg)
{
    struct capture_wait *w = arg;

    return capture_count(w->c) >= w->want;
}

/* ------------------------------------------------------------ helpers */

static void open_node(struct at_node *n, const char *home, uint64_t gtime)
{
    struct at_opts o = {0};

    o.home = home;
    o.genesis_time_ns = gtime;
    at_node_open(n, &o);
    at_spawn(n, &bm_state_actor_type, &n->env.ids.state, true,
             BM_OVERFLOW_REJECT);
}

/* The State after `b` on top of `st` (heap, owned). */
static struct bm_state *next_state(const struct bm_state *st,
                                   const struct bm_block *b)
{
    struct bm_state *ns = bm_xcalloc(1, sizeof(*ns));

    assert_int_equal(bm_state_copy(ns, st), BM_OK);
    ns->last_block_height = b->sh.header.height;
    ns->last_block_time.seconds = (int64_t)(b->sh.header.time / 1000000000ull);
    ns->last_block_time.nanos = (int32_t)(b->sh.header.time % 1000000000ull);
    assert_int_equal(bm_buf_set(&ns->last_header_hash, b->hash.b, 32), BM_OK);
    return ns;
}

static struct bm_state_info get_info(struct at_node *n)
{
    struct bm_state_get g = {0};
    struct bm_state_info info = {0};

    assert_int_equal(bm_state_call_get(n->sys, bm_env_state(&n->env), &g,
                                       &info, CALL_MS),
                     BM_OK);
    assert_non_null(info.state);
    return info;
}

/* Commits one block with `txs` on top of *st (updated to the new state).
 * Returns the ask status; *hash (may be NULL) gets the block hash. */
static int commit_next(struct at_node *n, struct bm_state *st,
                       const char *const *txs, struct bm_state_meta_list *meta,
                       bool clear_pending, struct bm_hash *hash)
{
    struct bm_state_commit c = {0};
    struct bm_state_ack ack = {0};
    int err;

    c.blk = at_make_block(n, st, txs);
    c.new_state = next_state(st, c.blk);
    c.clear_pending = clear_pending;
    c.source = BM_SRC_PRODUCED;
    if (meta != NULL) {
        c.meta = *meta;
        memset(meta, 0, sizeof(*meta));
    }
    if (hash != NULL) {
        *hash = c.blk->hash;
    }
    assert_int_equal(bm_state_copy(st, c.new_state), BM_OK);
    err = bm_state_call_commit(n->sys, bm_env_state(&n->env), &c, &ack,
                               CALL_MS);
    if (err == BM_OK) {
        assert_int_equal(ack.height, st->last_block_height);
    }
    return err;
}

static void put_meta_u64(struct at_node *n, const char *name, uint64_t v)
{
    struct bm_state_put_meta m = {0};
    struct bm_state_ack ack = {0};

    assert_int_equal(bm_state_meta_add_u64(&m.meta, name, v), BM_OK);
    assert_int_equal(bm_state_call_put_meta(n->sys, bm_env_state(&n->env), &m,
                                            &ack, CALL_MS),
                     BM_OK);
}

/* ------------------------------------------------------------ tests */

static void test_get_after_bootstrap(void **unused)
{
    struct at_node n;
    struct bm_state_info info;

    (void)unused;
    open_node(&n, NULL, 0);
    at_start(&n);
    info = get_info(&n);
    assert_int_equal(info.height, 0);
    assert_int_equal(info.state->last_block_height, 0);
    assert_int_equal(info.state->initial_height, 1);
    assert_string_equal(info.state->chain_id, "test-chain");
    assert_true(bm_buf_eq(&info.state->next_proposer_address,
                          &n.genesis.proposer_address));
    assert_int_equal(info.state->last_header_hash.len, 0);
    assert_int_equal(info.da_included_height, 0);
    assert_int_equal(info.last_submitted_header, 0);
    assert_int_equal(info.last_submitted_data, 0);
    assert_int_equal(atomic_load(&n.env.m.height), 0);
    bm_state_info_dtor(&info);
    at_node_close(&n, true);
}

static void test_commit_three(void **unused)
{
    static const char *const txs1[] = {"a=1", "b=2", NULL};
    static const char *const txs3[] = {"c=3", NULL};
    struct at_node n;
    struct capture cap = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct capture_wait w = {&cap, 3};
    struct bm_actor_id cap_id;
    struct bm_state st = {0};
    struct bm_state_meta_list meta = {0};
    struct bm_hash hashes[3];
    struct bm_errmsg em = {{0}};
    struct bm_store_check_report rep;
    struct bm_state_info info;
    uint64_t h = 0;

    (void)unused;
    open_node(&n, NULL, 0);
    assert_int_equal(bm_actor_spawn(n.sys, &capture_type, &cap, NULL,
                                    &cap_id),
                     BM_OK);
    assert_int_equal(bm_env_subscribe(&n.env, cap_id, 0), BM_OK);
    at_start(&n);
    at_latest_state(&n, &st);

    assert_int_equal(commit_next(&n, &st, txs1, NULL, false, &hashes[0]),
                     BM_OK);
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, &hashes[1]),
                     BM_OK);
    assert_int_equal(bm_state_meta_add_u64(&meta, BM_META_DA_INCLUDED, 2),
                     BM_OK);
    assert_int_equal(bm_state_meta_add(&meta, "custom", (const uint8_t *)"xy",
                                       2),
                     BM_OK);
    assert_int_equal(commit_next(&n, &st, txs3, &meta, false, &hashes[2]),
                     BM_OK);

    assert_int_equal(bm_store_height(n.store, &h, NULL), BM_OK);
    assert_int_equal(h, 3);
    if (bm_store_check(n.store, &rep, &em) != BM_OK) {
        fail_msg("store check: %s", em.msg);
    }
    assert_int_equal(rep.height, 3);
    assert_int_equal(rep.n_blocks, 3);
    for (int i = 0; i < 3; i++) {
        uint64_t at = 0;

        assert_int_equal(bm_store_get_height_by_hash(n.store, &hashes[i], &at,
                                                     NULL),
                         BM_OK);
        assert_int_equal(at, (uint64_t)i + 1);
        assert_true(bm_env_is_seen(&n.env, &hashes[i]));
    }

    assert_true(at_wait(capture_reached, &w, 10000));
    pthread_mutex_lock(&cap.mu);
    assert_int_equal(cap.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(cap.heights[i], i + 1);
        assert_true(cap.times[i] != 0);
    }
    pthread_mutex_unlock(&cap.mu);

    assert_int_equal(atomic_load(&n.env.m.height), 3);
    assert_int_equal(atomic_load(&n.env.m.total_txs), 3);
    assert_int_equal(atomic_load(&n.env.m.last_block_txs), 1);
    assert_true(atomic_load(&n.env.m.last_block_bytes) > 0);
    assert_int_equal(atomic_load(&n.env.m.blocks_produced), 3);
    assert_int_equal(atomic_load(&n.env.m.da_included_height), 2);

    info = get_info(&n);
    assert_int_equal(info.height, 3);
    assert_int_equal(info.state->last_block_height, 3);
    assert_true(bm_buf_eq_raw(&info.state->last_header_hash, hashes[2].b, 32));
    assert_int_equal(info.da_included_height, 2);
    bm_state_info_dtor(&info);
    {
        struct bm_buf v = {0};

        assert_int_equal(bm_store_get_meta(n.store, "custom", &v, NULL),
                         BM_OK);
        assert_true(bm_buf_eq_raw(&v, (const uint8_t *)"xy", 2));
        bm_buf_release(&v);
    }
    assert_false(bm_env_halted(&n.env));
    bm_state_release(&st);
    at_node_close(&n, true);
}

static void test_commit_wrong_height(void **unused)
{
    struct at_node n;
    struct bm_state st = {0};
    struct bm_state old = {0};
    struct bm_state_commit c = {0};
    struct bm_state_ack ack = {0};
    struct bm_block dummy;
    uint64_t h = 0;

    (void)unused;
    open_node(&n, NULL, 0);
    at_start(&n);
    at_latest_state(&n, &st);
    assert_int_equal(bm_state_copy(&old, &st), BM_OK);
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, NULL), BM_OK);

    /* Block 1 again: the tip is 1 now. */
    c.blk = at_make_block(&n, &old, NULL);
    c.new_state = next_state(&old, c.blk);
    assert_int_equal(bm_state_call_commit(n.sys, bm_env_state(&n.env), &c,
                                          &ack, CALL_MS),
                     BM_EHEIGHT_MISMATCH);
    /* Block 2 whose new state claims height 3. */
    memset(&c, 0, sizeof(c));
    c.blk = at_make_block(&n, &st, NULL);
    c.new_state = next_state(&st, c.blk);
    c.new_state->last_block_height = 3;
    assert_int_equal(bm_state_call_commit(n.sys, bm_env_state(&n.env), &c,
                                          &ack, CALL_MS),
                     BM_EHEIGHT_MISMATCH);
    assert_false(bm_env_halted(&n.env));
    assert_int_equal(bm_store_height(n.store, &h, NULL), BM_OK);
    assert_int_equal(h, 1);

    /* A NULL block is refused by validation. */
    memset(&c, 0, sizeof(c));
    memset(&dummy, 0, sizeof(dummy));
    c.new_state = next_state(&st, &dummy);
    assert_int_equal(bm_state_call_commit(n.sys, bm_env_state(&n.env), &c,
                                          &ack, CALL_MS),
                     BM_EBADMSG);

    /* The next block still goes in. */
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, NULL), BM_OK);

    /* After a fatal error (any actor's) writes are refused. */
    bm_env_fatal(&n.env, "test", BM_EIO, "injected");
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, NULL),
                     BM_ESTATE);
    assert_int_equal(bm_store_height(n.store, &h, NULL), BM_OK);
    assert_int_equal(h, 2);
    bm_state_release(&st);
    bm_state_release(&old);
    at_node_close(&n, true);
}

static void test_put_meta(void **unused)
{
    struct at_node n;
    struct bm_state_info info;
    struct bm_state_put_meta m = {0};
    struct bm_state_ack ack = {0};
    uint64_t v = 0;

    (void)unused;
    open_node(&n, NULL, 0);
    at_start(&n);
    put_meta_u64(&n, BM_META_LAST_SUBMITTED_HEADER, 5);
    put_meta_u64(&n, BM_META_LAST_SUBMITTED_DATA, 4);
    info = get_info(&n);
    assert_int_equal(info.last_submitted_header, 5);
    assert_int_equal(info.last_submitted_data, 4);
    assert_int_equal(info.da_included_height, 0);
    bm_state_info_dtor(&info);
    assert_int_equal(atomic_load(&n.env.m.last_submitted_header), 5);
    assert_int_equal(atomic_load(&n.env.m.last_submitted_data), 4);
    assert_int_equal(bm_meta_get_u64(n.store, BM_META_LAST_SUBMITTED_HEADER,
                                     &v, NULL),
                     BM_OK);
    assert_int_equal(v, 5);

    /* Several in one message, including a delete. */
    assert_int_equal(bm_state_meta_add_u64(&m.meta, BM_META_DA_INCLUDED, 7),
                     BM_OK);
    assert_int_equal(bm_state_meta_add_u64(&m.meta,
                                           BM_META_LAST_SUBMITTED_DATA, 0),
                     BM_OK);
    m.meta.v[1].del = true;
    assert_int_equal(bm_state_call_put_meta(n.sys, bm_env_state(&n.env), &m,
                                            &ack, CALL_MS),
                     BM_OK);
    info = get_info(&n);
    assert_int_equal(info.da_included_height, 7);
    assert_int_equal(info.last_submitted_data, 0);
    bm_state_info_dtor(&info);
    assert_int_equal(bm_meta_get_u64(n.store, BM_META_LAST_SUBMITTED_DATA, &v,
                                     NULL),
                     BM_ENOTFOUND);

    /* Refused by validation: empty list, tracked name of 3 bytes. */
    memset(&m, 0, sizeof(m));
    assert_int_equal(bm_state_call_put_meta(n.sys, bm_env_state(&n.env), &m,
                                            &ack, CALL_MS),
                     BM_EBADMSG);
    assert_int_equal(bm_state_meta_add(&m.meta, BM_META_DA_INCLUDED,
                                       (const uint8_t *)"abc", 3),
                     BM_OK);
    assert_int_equal(bm_state_call_put_meta(n.sys, bm_env_state(&n.env), &m,
                                            &ack, CALL_MS),
                     BM_EBADMSG);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* After a fatal error a plain PUT_META is refused, but a record of what
 * DA holds (the DA submitter's) is still written: those blobs are on DA,
 * and a restart must not submit them again. */
static void test_da_record_after_fatal(void **unused)
{
    struct at_node n;
    struct bm_state_put_meta m = {0};
    struct bm_state_meta_list l = {0};
    struct bm_state_ack ack = {0};
    uint64_t v = 0;

    (void)unused;
    open_node(&n, NULL, 0);
    at_start(&n);
    put_meta_u64(&n, BM_META_LAST_SUBMITTED_HEADER, 5);
    bm_env_fatal(&n.env, "test", BM_EIO, "injected");
    assert_int_equal(bm_state_meta_add_u64(&m.meta,
                                           BM_META_LAST_SUBMITTED_HEADER, 6),
                     BM_OK);
    assert_int_equal(bm_state_call_put_meta(n.sys, bm_env_state(&n.env), &m,
                                            &ack, CALL_MS),
                     BM_ESTATE);
    assert_int_equal(bm_meta_get_u64(n.store, BM_META_LAST_SUBMITTED_HEADER,
                                     &v, NULL),
                     BM_OK);
    assert_int_equal(v, 5);
    assert_int_equal(bm_state_meta_add_u64(&l, BM_META_LAST_SUBMITTED_HEADER,
                                           7),
                     BM_OK);
    assert_int_equal(bm_state_put_da_record_wait(&n.env, &l, CALL_MS), BM_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(bm_meta_get_u64(n.store, BM_META_LAST_SUBMITTED_HEADER,
                                     &v, NULL),
                     BM_OK);
    assert_int_equal(v, 7);
    at_node_close(&n, true);
}

static void test_pending(void **unused)
{
    struct at_node n;
    struct bm_state st = {0};
    struct bm_state_pending p = {0};
    struct bm_state_ack ack = {0};
    struct bm_buf hdr = {0}, dat = {0};

    (void)unused;
    open_node(&n, NULL, 0);
    at_start(&n);
    at_latest_state(&n, &st);
    assert_int_equal(bm_buf_set(&p.header, (const uint8_t *)"hdr", 3), BM_OK);
    assert_int_equal(bm_buf_set(&p.data, (const uint8_t *)"dat", 3), BM_OK);
    assert_int_equal(bm_state_call_save_pending(n.sys, bm_env_state(&n.env),
                                                &p, &ack, CALL_MS),
                     BM_OK);
    assert_int_equal(ack.height, 0);
    assert_int_equal(bm_store_get_pending(n.store, &hdr, &dat, NULL), BM_OK);
    assert_true(bm_buf_eq_raw(&hdr, (const uint8_t *)"hdr", 3));
    assert_true(bm_buf_eq_raw(&dat, (const uint8_t *)"dat", 3));

    /* A commit without clear_pending keeps it, one with it clears it. */
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, NULL), BM_OK);
    assert_int_equal(bm_store_get_pending(n.store, &hdr, &dat, NULL), BM_OK);
    assert_int_equal(commit_next(&n, &st, NULL, NULL, true, NULL), BM_OK);
    assert_int_equal(bm_store_get_pending(n.store, &hdr, &dat, NULL),
                     BM_ENOTFOUND);

    /* An empty header is refused by validation. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(bm_state_call_save_pending(n.sys, bm_env_state(&n.env),
                                                &p, &ack, CALL_MS),
                     BM_EBADMSG);
    bm_buf_release(&hdr);
    bm_buf_release(&dat);
    bm_state_release(&st);
    at_node_close(&n, true);
}

static void test_restart(void **unused)
{
    struct at_node n;
    struct bm_state st = {0};
    struct bm_state_meta_list meta = {0};
    struct bm_state_info info;
    struct bm_hash last;
    char home[256];
    uint64_t gtime = bm_validate_now_ns() - 20ull * 1000000000ull;

    (void)unused;
    open_node(&n, NULL, gtime);
    at_start(&n);
    at_latest_state(&n, &st);
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, NULL), BM_OK);
    assert_int_equal(bm_state_meta_add_u64(&meta, BM_META_DA_INCLUDED, 1),
                     BM_OK);
    assert_int_equal(commit_next(&n, &st, NULL, &meta, false, &last), BM_OK);
    put_meta_u64(&n, BM_META_LAST_SUBMITTED_HEADER, 2);
    snprintf(home, sizeof(home), "%s", n.home);
    at_node_close(&n, false);

    open_node(&n, home, gtime);
    n.own_home = true; /* removed at the end */
    at_start(&n);
    info = get_info(&n);
    assert_int_equal(info.height, 2);
    assert_int_equal(info.state->last_block_height, 2);
    assert_true(bm_buf_eq_raw(&info.state->last_header_hash, last.b, 32));
    assert_int_equal(info.da_included_height, 1);
    assert_int_equal(info.last_submitted_header, 2);
    assert_int_equal(info.last_submitted_data, 0);
    bm_state_info_dtor(&info);
    assert_int_equal(atomic_load(&n.env.m.height), 2);
    /* And it goes on from there. */
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, NULL), BM_OK);
    snprintf(home, sizeof(home), "%s", n.home);
    at_node_close(&n, false);

    /* Regression: a COMMIT as the very first message after a restart
     * (the load happens before the height check). */
    open_node(&n, home, gtime);
    n.own_home = true;
    at_start(&n);
    assert_int_equal(commit_next(&n, &st, NULL, NULL, false, NULL), BM_OK);
    assert_int_equal(atomic_load(&n.env.m.height), 4);
    bm_state_release(&st);
    at_node_close(&n, true);
}

static void test_corrupt_meta_fatal(void **unused)
{
    struct at_node n;
    struct bm_state_get g = {0};
    struct bm_state_info info = {0};
    struct bm_errmsg em = {{0}};

    (void)unused;
    open_node(&n, NULL, 0);
    assert_int_equal(bm_store_put_meta(n.store, BM_META_DA_INCLUDED,
                                       (const uint8_t *)"abc", 3, NULL),
                     BM_OK);
    at_start(&n);
    assert_false(bm_env_halted(&n.env));
    assert_int_equal(bm_state_call_get(n.sys, bm_env_state(&n.env), &g, &info,
                                       CALL_MS),
                     BM_ECORRUPT);
    assert_null(info.state);
    assert_true(bm_env_halted(&n.env));
    assert_int_equal(bm_env_wait_fatal(&n.env, 1000, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "state"));
    /* Later messages get the same error. */
    assert_int_equal(bm_state_call_get(n.sys, bm_env_state(&n.env), &g, &info,
                                       CALL_MS),
                     BM_ECORRUPT);
    at_node_close(&n, true);
}

static void test_zero_payloads(void **unused)
{
    const struct bm_actor_type *t = &bm_state_actor_type;
    union {
        struct bm_state_pending p;
        struct bm_state_commit c;
        struct bm_state_put_meta m;
        struct bm_state_info i;
        uint8_t b[256];
    } z;
    struct bm_errmsg em = {{0}};
    struct bm_state_meta_list l = {0};

    (void)unused;
    assert_int_equal(t->n_kinds, BM_STATE_NKINDS);
    for (uint32_t k = 0; k < t->n_kinds; k++) {
        memset(&z, 0, sizeof(z));
        if (t->kinds[k].validate != NULL) {
            em.msg[0] = '\0';
            assert_int_not_equal(t->kinds[k].validate(&z, &em), BM_OK);
            assert_true(em.msg[0] != '\0');
        } else {
            assert_true(t->kinds[k].dtor == NULL);
        }
        if (t->kinds[k].dtor != NULL) {
            t->kinds[k].dtor(&z);
        }
        if (t->kinds[k].reply_dtor != NULL) {
            t->kinds[k].reply_dtor(&z);
        }
    }
    /* List helpers. */
    assert_int_equal(bm_state_meta_add(&l, NULL, NULL, 0), BM_EINVAL);
    assert_int_equal(bm_state_meta_add(&l, "x", NULL, 1), BM_EINVAL);
    assert_int_equal(bm_state_meta_add(&l, "x", NULL, 0), BM_OK);
    assert_int_equal(bm_state_meta_add_u64(&l, "y", 9), BM_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(bm_get_le64(l.v[1].value.ptr), 9);
    /* Allocation failures (name, array, value) leave the list as it was. */
    for (int64_t k = 1; k <= 3; k++) {
        bm_alloc_fail_after(k);
        assert_int_equal(bm_state_meta_add_u64(&l, "z", 1), BM_ENOMEM);
        bm_alloc_fail_after(0);
        assert_int_equal(l.n, 2);
    }
    bm_state_meta_list_release(&l);
    assert_int_equal(l.n, 0);
    bm_state_meta_list_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_payloads),
        cmocka_unit_test(test_get_after_bootstrap),
        cmocka_unit_test(test_commit_three),
        cmocka_unit_test(test_commit_wrong_height),
        cmocka_unit_test(test_put_meta),
        cmocka_unit_test(test_da_record_after_fatal),
        cmocka_unit_test(test_pending),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_corrupt_meta_fatal),
    };

    return BM_TEST_RUN(tests);
}
