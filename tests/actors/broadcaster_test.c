/*
 * BroadcasterActor: blocks reach an in-test header/data broadcaster in
 * order (header then data, block after block); a failing broadcaster is
 * logged (warn) and is not fatal; without broadcasters blocks are only
 * counted.
 */
#include "bm_test.h"

#include <pthread.h>
#include <string.h>

#include "actors_test_util.h"

#include "actors/broadcaster.h"
#include "util/log.h"

/* ------------------------------------------------ in-test broadcaster */

#define MAX_EV 256

struct cap_bc {
    pthread_mutex_t mu;
    size_t n;
    char what[MAX_EV]; /* 'h' or 'd' */
    uint64_t height[MAX_EV];
    uint64_t fail_header_at; /* header of this height fails (0: none) */
};

static void cap_record(struct cap_bc *c, char what, uint64_t height)
{
    pthread_mutex_lock(&c->mu);
    if (c->n < MAX_EV) {
        c->what[c->n] = what;
        c->height[c->n] = height;
    }
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

static enum bm_err cap_header(void *ctx, const struct bm_signed_header *sh)
{
    struct cap_bc *c = ctx;
    bool fail;

    cap_record(c, 'h', sh->header.height);
    pthread_mutex_lock(&c->mu);
    fail = c->fail_header_at != 0 && sh->header.height == c->fail_header_at;
    pthread_mutex_unlock(&c->mu);
    return fail ? BM_EIO : BM_OK;
}

static enum bm_err cap_data(void *ctx, const struct bm_data *d)
{
    cap_record(ctx, 'd', d->metadata.height);
    return BM_OK;
}

static size_t cap_n(struct cap_bc *c)
{
    size_t n;

    pthread_mutex_lock(&c->mu);
    n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

struct n_arg {
    struct cap_bc *c;
    size_t want;
};

static bool n_reached(void *arg)
{
    struct n_arg *a = arg;

    return cap_n(a->c) >= a->want;
}

/* ------------------------------------------------ log capture */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned warn_lines;

static void log_sink(enum bm_log_level level, const char *module,
                     const char *msg, void *arg)
{
    (void)arg;
    if (level == BM_LOG_WARN && strcmp(module, "broadcaster") == 0 &&
        strstr(msg, "broadcast header failed") != NULL) {
        pthread_mutex_lock(&log_mu);
        warn_lines++;
        pthread_mutex_unlock(&log_mu);
    }
}

static unsigned warns(void)
{
    unsigned v;

    pthread_mutex_lock(&log_mu);
    v = warn_lines;
    pthread_mutex_unlock(&log_mu);
    return v;
}

/* ------------------------------------------------ helpers */

/* Sends blocks of heights 1..count (consecutive states). */
static void send_blocks(struct at_node *n, uint64_t count)
{
    struct bm_state st = {0};

    at_latest_state(n, &st);
    for (uint64_t i = 0; i < count; i++) {
        struct bm_block *b = at_make_block(n, &st, NULL);
        struct bm_broadcaster_block m = {.blk = b};

        st.last_block_height = b->sh.header.height;
        st.last_block_time.seconds = (int64_t)(b->sh.header.time / 1000000000u);
        st.last_block_time.nanos = (int32_t)(b->sh.header.time % 1000000000u);
        assert_int_equal(bm_buf_set(&st.last_header_hash, b->hash.b, 32),
                         BM_OK);
        assert_int_equal(
            bm_broadcaster_tell_block(n->sys, bm_env_broadcaster(&n->env), &m),
            BM_OK);
    }
    bm_state_release(&st);
}

static void open_node(struct at_node *n, struct cap_bc *c,
                      struct bm_broadcaster *hb, struct bm_broadcaster *db)
{
    struct at_opts o = {.aggregator = true};

    at_node_open(n, &o);
    if (c != NULL) {
        hb->broadcast_header = cap_header;
        hb->broadcast_data = NULL;
        hb->ctx = c;
        db->broadcast_header = NULL;
        db->broadcast_data = cap_data;
        db->ctx = c;
        n->env.header_bc = hb;
        n->env.data_bc = db;
    }
    at_spawn(n, &bm_broadcaster_actor_type, &n->env.ids.broadcaster, true,
             BM_OVERFLOW_REJECT);
    at_start(n);
}

/* ------------------------------------------------ tests */

static void test_order(void **s)
{
    struct at_node n;
    struct cap_bc c;
    struct bm_broadcaster hb, db;
    struct n_arg w = {&c, 10};

    (void)s;
    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.mu, NULL);
    open_node(&n, &c, &hb, &db);
    send_blocks(&n, 5);
    assert_true(at_wait(n_reached, &w, 10000));
    pthread_mutex_lock(&c.mu);
    assert_int_equal(c.n, 10);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(c.what[i], i % 2 == 0 ? 'h' : 'd');
        assert_int_equal(c.height[i], i / 2 + 1);
    }
    pthread_mutex_unlock(&c.mu);
    at_node_close(&n, true);
    pthread_mutex_destroy(&c.mu);
}

static void test_error_not_fatal(void **s)
{
    struct at_node n;
    struct cap_bc c;
    struct bm_broadcaster hb, db;
    struct n_arg w = {&c, 8};
    struct bm_actor_stats st;

    (void)s;
    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.mu, NULL);
    c.fail_header_at = 2;
    bm_log_set_sink(log_sink, NULL);
    open_node(&n, &c, &hb, &db);
    send_blocks(&n, 4);
    assert_true(at_wait(n_reached, &w, 10000));
    /* Data of the failed block and later blocks still went out. */
    pthread_mutex_lock(&c.mu);
    assert_int_equal(c.what[3], 'd');
    assert_int_equal(c.height[3], 2);
    assert_int_equal(c.height[7], 4);
    pthread_mutex_unlock(&c.mu);
    assert_int_equal(warns(), 1);
    assert_false(bm_env_halted(&n.env));
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.broadcaster, &st),
                     BM_OK);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.handled, 4);
    at_node_close(&n, true);
    bm_log_set_sink(NULL, NULL);
    pthread_mutex_destroy(&c.mu);
}

struct handled_arg {
    struct at_node *n;
    uint64_t want;
};

static bool handled_reached(void *arg)
{
    struct handled_arg *a = arg;
    struct bm_actor_stats st;

    return bm_actor_stats_get(a->n->sys, a->n->env.ids.broadcaster, &st) ==
               BM_OK &&
           st.handled >= a->want;
}

static bool rejected_one(void *arg)
{
    struct at_node *n = arg;
    struct bm_actor_stats st;

    return bm_actor_stats_get(n->sys, n->env.ids.broadcaster, &st) == BM_OK &&
           st.rejected_invalid >= 1;
}

static void test_no_broadcasters(void **s)
{
    struct at_node n;
    struct handled_arg w = {&n, 3};
    struct bm_broadcaster_block bad = {0};

    (void)s;
    open_node(&n, NULL, NULL, NULL);
    send_blocks(&n, 3);
    assert_true(at_wait(handled_reached, &w, 10000));
    /* A NULL block is rejected by validation, never handled. */
    assert_int_equal(
        bm_broadcaster_tell_block(n.sys, bm_env_broadcaster(&n.env), &bad),
        BM_OK);
    assert_true(at_wait(rejected_one, &n, 10000));
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_error_not_fatal),
        cmocka_unit_test(test_no_broadcasters),
    };

    return BM_TEST_RUN(tests);
}
