/*
 * SequencerActor over a real sequencer queue: submit -> next_batch -> ack,
 * de-duplication, un-acked batches handed out again, max_bytes,
 * drop_committed (releasing a batch in flight), the empty
 * queue giving an empty batch, invalid messages (empty or NULL tx lists).
 */
#include "bm_test.h"

#include "actors_test_util.h"

#include <string.h>

#include "actors/sequencer.h"
#include "util/errmsg.h"

#define CALL_MS 10000

static void open_node(struct at_node *n)
{
    struct at_opts o = {0};

    o.aggregator = true;
    at_node_open(n, &o);
    at_spawn(n, &bm_sequencer_actor_type, &n->env.ids.sequencer, true,
             BM_OVERFLOW_REJECT);
    at_start(n);
}

static struct bm_sequencer_txs make_txs(const char *const *txs)
{
    struct bm_sequencer_txs t = {0};

    while (txs[t.n] != NULL) {
        t.n++;
    }
    t.txs = bm_xcalloc(t.n > 0 ? t.n : 1, sizeof(*t.txs));
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal(bm_buf_set(&t.txs[i], (const uint8_t *)txs[i],
                                    strlen(txs[i])),
                         BM_OK);
    }
    return t;
}

static int submit(struct at_node *n, const char *const *txs, size_t *count)
{
    struct bm_sequencer_txs t = make_txs(txs);
    struct bm_sequencer_count c = {0};
    int err = bm_sequencer_call_submit(n->sys, bm_env_sequencer(&n->env), &t,
                                       &c, CALL_MS);

    *count = c.n;
    return err;
}

static int drop(struct at_node *n, const char *const *txs, size_t *count)
{
    struct bm_sequencer_txs t = make_txs(txs);
    struct bm_sequencer_count c = {0};
    int err = bm_sequencer_call_drop_committed(
        n->sys, bm_env_sequencer(&n->env), &t, &c, CALL_MS);

    *count = c.n;
    return err;
}

static void ack(struct at_node *n, uint64_t height)
{
    struct bm_sequencer_ack a = {height};
    struct bm_sequencer_count c = {99};

    assert_int_equal(bm_sequencer_call_ack(n->sys, bm_env_sequencer(&n->env),
                                           &a, &c, CALL_MS),
                     BM_OK);
    assert_int_equal(c.n, 0);
}

/* Takes the next batch and checks it holds exactly `want` (NULL-ended). */
static void expect_batch(struct at_node *n, uint64_t max_bytes,
                         const char *const *want)
{
    struct bm_sequencer_next req = {max_bytes};
    struct bm_sequencer_batch r = {0};
    size_t k = 0;

    assert_int_equal(bm_sequencer_call_next_batch(n->sys,
                                                  bm_env_sequencer(&n->env),
                                                  &req, &r, CALL_MS),
                     BM_OK);
    assert_non_null(r.batch);
    while (want[k] != NULL) {
        k++;
    }
    assert_int_equal(r.batch->batch.n_txs, k);
    for (size_t i = 0; i < k; i++) {
        assert_true(bm_buf_eq_raw(&r.batch->batch.txs[i],
                                  (const uint8_t *)want[i], strlen(want[i])));
    }
    assert_true(r.batch->timestamp_ns != 0);
    bm_sequencer_batch_dtor(&r);
    assert_null(r.batch);
}

static const char *const none[] = {NULL};

static void test_submit_batch_ack(void **unused)
{
    static const char *const t1[] = {"a=1", "b=2", "c=3", NULL};
    static const char *const t2[] = {"b=2", "d=4", NULL};
    static const char *const all[] = {"a=1", "b=2", "c=3", "d=4", NULL};
    struct at_node n;
    size_t cnt = 0;

    (void)unused;
    open_node(&n);
    /* Empty queue: an empty batch. */
    expect_batch(&n, 0, none);
    assert_int_equal(submit(&n, t1, &cnt), BM_OK);
    assert_int_equal(cnt, 3);
    /* Duplicate of a queued tx dropped. */
    assert_int_equal(submit(&n, t2, &cnt), BM_OK);
    assert_int_equal(cnt, 1);
    expect_batch(&n, 0, all);
    /* Not acked: the same batch again. */
    expect_batch(&n, 0, all);
    ack(&n, 1);
    expect_batch(&n, 0, none);
    /* Recently committed txs are still duplicates. */
    assert_int_equal(submit(&n, t1, &cnt), BM_OK);
    assert_int_equal(cnt, 0);
    /* An empty list is refused by validation. */
    assert_int_equal(submit(&n, none, &cnt), BM_EBADMSG);
    /* Ack without a batch in flight is a no-op. */
    ack(&n, 2);
    at_node_close(&n, true);
}

static void test_max_bytes(void **unused)
{
    static const char *const t[] = {"k1=0123456", "k2=0123456", "k3=0123456",
                                    NULL};
    static const char *const first[] = {"k1=0123456", NULL};
    static const char *const rest[] = {"k2=0123456", "k3=0123456", NULL};
    struct at_node n;
    size_t cnt = 0;

    (void)unused;
    open_node(&n);
    assert_int_equal(submit(&n, t, &cnt), BM_OK);
    assert_int_equal(cnt, 3);
    expect_batch(&n, 15, first);
    ack(&n, 1);
    /* 0: what one DA blob holds (env block_tx_budget). */
    expect_batch(&n, 0, rest);
    ack(&n, 2);
    at_node_close(&n, true);
}

static void test_drop_committed(void **unused)
{
    static const char *const t[] = {"x=1", "y=2", "z=3", NULL};
    static const char *const y[] = {"y=2", "w=9", NULL};
    static const char *const xz[] = {"x=1", "z=3", NULL};
    struct at_node n;
    size_t cnt = 0;

    (void)unused;
    open_node(&n);
    assert_int_equal(submit(&n, t, &cnt), BM_OK);
    assert_int_equal(drop(&n, y, &cnt), BM_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(drop(&n, none, &cnt), BM_EBADMSG);
    expect_batch(&n, 0, xz);
    /* A batch is in flight: it is released, and its committed txs go. */
    assert_int_equal(drop(&n, xz, &cnt), BM_OK);
    assert_int_equal(cnt, 2);
    ack(&n, 1); /* nothing in flight any more: a no-op */
    expect_batch(&n, 0, none);
    /* Wrong state is not fatal: the actor keeps serving. */
    assert_false(bm_env_halted(&n.env));
    assert_int_equal(submit(&n, y, &cnt), BM_OK);
    assert_int_equal(cnt, 1);
    at_node_close(&n, true);
}

static void test_invalid_messages(void **unused)
{
    struct at_node n;
    struct bm_sequencer_txs t = {0};
    struct bm_sequencer_count c = {0};
    struct bm_errmsg em = {{0}};
    const struct bm_msg_kind *k =
        &bm_sequencer_actor_type.kinds[BM_SEQUENCER_SUBMIT];

    (void)unused;
    open_node(&n);
    t.n = 2; /* txs NULL */
    assert_int_equal(bm_sequencer_call_submit(n.sys, bm_env_sequencer(&n.env),
                                              &t, &c, CALL_MS),
                     BM_EBADMSG);
    t.txs = bm_xcalloc(2, sizeof(*t.txs));
    t.txs[1].len = 4; /* NULL with length */
    assert_int_equal(k->validate(&t, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "txs[1]"));
    t.txs[1].len = 0;
    assert_int_equal(bm_sequencer_call_drop_committed(
                         n.sys, bm_env_sequencer(&n.env), &t, &c, CALL_MS),
                     BM_OK);
    /* Zeroed payloads: refused, and every dtor accepts them. */
    memset(&t, 0, sizeof(t));
    assert_int_equal(k->validate(&t, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "empty"));
    bm_sequencer_txs_dtor(&t);
    {
        struct bm_sequencer_batch b = {0};

        bm_sequencer_batch_dtor(&b);
    }
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_batch_ack),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_drop_committed),
        cmocka_unit_test(test_invalid_messages),
    };

    return BM_TEST_RUN(tests);
}
