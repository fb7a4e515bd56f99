/*
 * StoreSyncActor: headers and data of an in-test P2P store (arrays of
 * blocks built with at_make_block) reach a capture Sync actor in height
 * order with source P2P; invalid headers (bad signature, another
 * proposer) are skipped; new heights are picked up on later ticks; without
 * P2P stores the actor is idle (no timer, no message).
 */
#include "bm_test.h"

#include <pthread.h>
#include <string.h>

#include "actors_test_util.h"

#include "actors/state.h"
#include "actors/store_sync.h"
#include "actors/sync.h"
#include "util/alloc.h"

#define MAXH 16

/* ------------------------------------------------ in-test P2P store */

struct mem_p2p {
    pthread_mutex_t mu;
    uint64_t header_height;
    uint64_t data_height;
    struct bm_signed_header sh[MAXH + 1];
    struct bm_data data[MAXH + 1];
};

static enum bm_err mem_header_height(void *ctx, uint64_t *out)
{
    struct mem_p2p *m = ctx;

    pthread_mutex_lock(&m->mu);
    *out = m->header_height;
    pthread_mutex_unlock(&m->mu);
    return BM_OK;
}

static enum bm_err mem_data_height(void *ctx, uint64_t *out)
{
    struct mem_p2p *m = ctx;

    pthread_mutex_lock(&m->mu);
    *out = m->data_height;
    pthread_mutex_unlock(&m->mu);
    return BM_OK;
}

static enum bm_err mem_get_header(void *ctx, uint64_t height,
                                  struct bm_signed_header *out)
{
    struct mem_p2p *m = ctx;
    enum bm_err err = BM_ENOTFOUND;

    pthread_mutex_lock(&m->mu);
    if (height >= 1 && height <= m->header_height && height <= MAXH) {
        err = bm_signed_header_copy(out, &m->sh[height]);
    }
    pthread_mutex_unlock(&m->mu);
    return err;
}

static enum bm_err mem_get_data(void *ctx, uint64_t height, struct bm_data *out)
{
    struct mem_p2p *m = ctx;
    enum bm_err err = BM_ENOTFOUND;

    pthread_mutex_lock(&m->mu);
    if (height >= 1 && height <= m->data_height && height <= MAXH) {
        err = bm_data_copy(out, &m->data[height]);
    }
    pthread_mutex_unlock(&m->mu);
    return err;
}

static void mem_release(struct mem_p2p *m)
{
    for (size_t i = 0; i <= MAXH; i++) {
        bm_signed_header_release(&m->sh[i]);
        bm_data_release(&m->data[i]);
    }
    pthread_mutex_destroy(&m->mu);
}

/* Fills heights 1..count with a chain of blocks. */
static void mem_fill(struct mem_p2p *m, struct at_node *n, uint64_t count)
{
    struct bm_state st = {0};
    const char *txs[] = {"k=v", NULL};

    at_latest_state(n, &st);
    for (uint64_t h = 1; h <= count; h++) {
        struct bm_block *b = at_make_block(n, &st, h % 2 ? txs : NULL);

        assert_int_equal(b->sh.header.height, h);
        assert_int_equal(bm_signed_header_copy(&m->sh[h], &b->sh), BM_OK);
        assert_int_equal(bm_data_copy(&m->data[h], &b->data), BM_OK);
        st.last_block_height = h;
        st.last_block_time.seconds = (int64_t)(b->sh.header.time / 1000000000u);
        st.last_block_time.nanos = (int32_t)(b->sh.header.time % 1000000000u);
        assert_int_equal(bm_buf_set(&st.last_header_hash, b->hash.b, 32),
                         BM_OK);
        bm_block_unref(b);
    }
    bm_state_release(&st);
}

/* ------------------------------------------------ capture Sync */

#define MAX_EV 64

struct cap_sync {
    pthread_mutex_t mu;
    size_t nh, nd;
    uint64_t hh[MAX_EV];
    uint64_t dh[MAX_EV];
    bool bad_meta; /* a message with source != P2P or da_height != 0 */
    size_t nhash;  /* headers handed over with their hash */
};

static void cap_header_dtor(void *p)
{
    struct bm_sync_header_in *m = p;

    if (m->sh != NULL) {
        bm_signed_header_release(m->sh);
        bm_free(m->sh);
        m->sh = NULL;
    }
}

static void cap_data_dtor(void *p)
{
    struct bm_sync_data_in *m = p;

    if (m->data != NULL) {
        bm_data_release(m->data);
        bm_free(m->data);
        m->data = NULL;
    }
}

BM_ACTOR_HANDLER(cs_header, struct cap_sync, struct bm_sync_header_in)
static int cs_header(struct bm_actor_ctx *ctx, struct cap_sync *c,
                     struct bm_sync_header_in *p)
{
    (void)ctx;
    struct bm_hash h;

    pthread_mutex_lock(&c->mu);
    if (p->sh == NULL || p->source != BM_SRC_P2P || p->da_height != 0) {
        c->bad_meta = true;
    } else if (p->has_hash &&
               (bm_header_hash(&p->sh->header, &h) != BM_OK ||
                memcmp(h.b, p->hash.b, BM_HASH_SIZE) != 0)) {
        c->bad_meta = true; /* a hash handed over must be the header's */
    } else if (c->nh < MAX_EV) {
        c->nhash += p->has_hash;
        c->hh[c->nh++] = p->sh->header.height;
    }
    pthread_mutex_unlock(&c->mu);
    return BM_OK;
}

BM_ACTOR_HANDLER(cs_data, struct cap_sync, struct bm_sync_data_in)
static int cs_data(struct bm_actor_ctx *ctx, struct cap_sync *c,
                   struct bm_sync_data_in *p)
{
    (void)ctx;
    pthread_mutex_lock(&c->mu);
    if (p->data == NULL || p->source != BM_SRC_P2P || p->da_height != 0) {
        c->bad_meta = true;
    } else if (c->nd < MAX_EV) {
        c->dh[c->nd++] = p->data->metadata.height;
    }
    pthread_mutex_unlock(&c->mu);
    return BM_OK;
}

/* ITEMS_IN: each header, then each data, as if sent one by one; every
 * header handed over must be marked verified (StoreSync checked it). */
BM_ACTOR_HANDLER(cs_items, struct cap_sync, struct bm_sync_items_in)
static int cs_items(struct bm_actor_ctx *ctx, struct cap_sync *c,
                    struct bm_sync_items_in *p)
{
    for (size_t i = 0; i < p->n_headers; i++) {
        if (!p->headers[i].sig_verified) {
            pthread_mutex_lock(&c->mu);
            c->bad_meta = true;
            pthread_mutex_unlock(&c->mu);
        }
        cs_header(ctx, c, &p->headers[i]);
    }
    for (size_t i = 0; i < p->n_data; i++) {
        cs_data(ctx, c, &p->data[i]);
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(cs_other, struct cap_sync, struct bm_sync_da_progress)
static int cs_other(struct bm_actor_ctx *ctx, struct cap_sync *c,
                    struct bm_sync_da_progress *p)
{
    (void)ctx;
    (void)c;
    (void)p;
    return BM_OK;
}

static const struct bm_msg_kind cs_kinds[BM_SYNC_NKINDS] = {
    [BM_SYNC_APPLY] = BM_MSG_KIND("apply", struct bm_sync_da_progress, 0, NULL,
                                  cs_other, NULL, NULL),
    [BM_SYNC_HEADER_IN] = BM_MSG_KIND("header_in", struct bm_sync_header_in, 0,
                                      NULL, cs_header, cap_header_dtor, NULL),
    [BM_SYNC_DATA_IN] = BM_MSG_KIND("data_in", struct bm_sync_data_in, 0, NULL,
                                    cs_data, cap_data_dtor, NULL),
    [BM_SYNC_DA_PROGRESS] =
        BM_MSG_KIND("da_progress", struct bm_sync_da_progress, 0, NULL,
                    cs_other, NULL, NULL),
    [BM_SYNC_FLUSH] = BM_MSG_KIND("flush", struct bm_sync_da_progress, 0,
                                  NULL, cs_other, NULL, NULL),
    [BM_SYNC_ITEMS_IN] = BM_MSG_KIND("items_in", struct bm_sync_items_in, 0,
                                     NULL, cs_items, bm_sync_items_in_dtor,
                                     NULL),
    [BM_SYNC_HOLD_OVER] = BM_MSG_KIND("hold_over", struct bm_sync_da_progress,
                                      0, NULL, cs_other, NULL, NULL),
    [BM_SYNC_ROLLBACK] = BM_MSG_KIND("rollback", struct bm_sync_da_progress,
                                     0, NULL, cs_other, NULL, NULL),
};

static const struct bm_actor_type cap_sync_type = {
    .name = "cap_sync",
    .kinds = cs_kinds,
    .n_kinds = BM_SYNC_NKINDS,
};

struct want {
    struct cap_sync *c;
    size_t nh, nd;
};

static bool got(void *arg)
{
    struct want *w = arg;
    bool ok;

    pthread_mutex_lock(&w->c->mu);
    ok = w->c->nh >= w->nh && w->c->nd >= w->nd;
    pthread_mutex_unlock(&w->c->mu);
    return ok;
}

/* ------------------------------------------------ tests */

static void spawn_cap_sync(struct at_node *n, struct cap_sync *c)
{
    struct bm_actor_opts o = {.name = "cap_sync"};

    assert_int_equal(
        bm_actor_spawn(n->sys, &cap_sync_type, c, &o, &n->env.ids.sync), BM_OK);
}

static void test_order_and_skip(void **s)
{
    struct at_node n;
    struct at_opts o = {0};
    struct mem_p2p *m = bm_xcalloc(1, sizeof(*m));
    struct cap_sync *c = bm_xcalloc(1, sizeof(*c));
    struct bm_p2p_store hs, ds;
    struct bm_privkey other;
    uint8_t seed[32];
    struct want w;
    static const uint64_t want_h[] = {1, 2, 4, 6, 7, 8};

    (void)s;
    at_node_open(&n, &o);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    mem_fill(m, &n, 8);
    /* Height 3: bad signature. Height 5: signed by another key (its own
     * address as proposer: ValidateBasic passes, the proposer check not). */
    m->sh[3].signature.ptr[0] ^= 1;
    memset(seed, 99, sizeof(seed));
    bm_privkey_from_seed(&other, seed);
    assert_int_equal(bm_signer_from_privkey(&m->sh[5].signer, &other), BM_OK);
    assert_int_equal(bm_buf_copy(&m->sh[5].header.proposer_address,
                                 &m->sh[5].signer.address),
                     BM_OK);
    assert_int_equal(bm_signed_header_sign(&m->sh[5], &other), BM_OK);
    bm_privkey_wipe(&other);
    m->header_height = 6;
    m->data_height = 6;

    hs = (struct bm_p2p_store){mem_header_height, mem_get_header, mem_get_data,
                               m};
    ds =
        (struct bm_p2p_store){mem_data_height, mem_get_header, mem_get_data, m};
    n.env.header_store = &hs;
    n.env.data_store = &ds;
    spawn_cap_sync(&n, c);
    at_spawn(&n, &bm_store_sync_actor_type, &n.env.ids.store_sync, true,
             BM_OVERFLOW_DROP_OLDEST);
    at_start(&n);

    w = (struct want){c, 4, 6};
    assert_true(at_wait(got, &w, 10000));
    /* Later heights arrive on later ticks. */
    pthread_mutex_lock(&m->mu);
    m->header_height = 8;
    m->data_height = 8;
    pthread_mutex_unlock(&m->mu);
    w = (struct want){c, 6, 8};
    assert_true(at_wait(got, &w, 10000));
    bm_sleep_ms(200); /* nothing more, nothing twice */

    pthread_mutex_lock(&c->mu);
    assert_false(c->bad_meta);
    assert_int_equal(c->nh, 6);
    /* each header signed over its slim encoding comes with its hash,
     * checked above to be the header's (Sync does not hash it again) */
    assert_int_equal(c->nhash, 6);
    assert_int_equal(c->nd, 8);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(c->hh[i], want_h[i]);
    }
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(c->dh[i], i + 1);
    }
    pthread_mutex_unlock(&c->mu);
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
    mem_release(m);
    pthread_mutex_destroy(&c->mu);
    bm_free(m);
    bm_free(c);
}

static void test_idle_without_stores(void **s)
{
    struct at_node n;
    struct at_opts o = {0};
    struct cap_sync *c = bm_xcalloc(1, sizeof(*c));
    struct bm_actor_stats st;
    struct bm_actor_system_stats ss;

    (void)s;
    at_node_open(&n, &o);
    pthread_mutex_init(&c->mu, NULL);
    spawn_cap_sync(&n, c);
    at_spawn(&n, &bm_store_sync_actor_type, &n.env.ids.store_sync, true,
             BM_OVERFLOW_DROP_OLDEST);
    at_start(&n);
    bm_sleep_ms(300);
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.store_sync, &st),
                     BM_OK);
    assert_int_equal(st.handled, 0);
    bm_actor_system_stats_get(n.sys, &ss);
    assert_int_equal(ss.timers_active, 0);
    pthread_mutex_lock(&c->mu);
    assert_int_equal(c->nh + c->nd, 0);
    pthread_mutex_unlock(&c->mu);
    at_node_close(&n, true);
    pthread_mutex_destroy(&c->mu);
    bm_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_skip),
        cmocka_unit_test(test_idle_without_stores),
    };

    return BM_TEST_RUN(tests);
}
