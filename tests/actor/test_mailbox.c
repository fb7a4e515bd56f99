/*
 * Actor runtime: spawn/send/scheduling, per-sender ordering, one-at-a-time
 * handling, overflow policies with exact accounting, the system lane,
 * validation, stats, stale ids, the blocking rule.
 */
#include "bm_test.h"

#include "actor_test_util.h"

#include "blockv2/actor.h"
#include "util/errmsg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ test actor */

#define MAX_SENDERS 8

struct ctr_state {
    atomic_int inside;
    atomic_int overlap;        /* set if two threads were inside at once */
    atomic_uint_least64_t n;
    uint64_t last[MAX_SENDERS]; /* last seq per sender (actor-private) */
    atomic_int order_errors;
    atomic_uint_least64_t sum;
    atomic_int owned_freed;    /* dtor calls on the "owned" payload kind */
};

struct inc_msg {
    uint32_t sender;
    uint32_t pad;
    uint64_t seq;
};

struct big_msg {
    uint8_t bytes[200]; /* > BM_MSG_INLINE: heap payload */
};

struct owned_msg {
    struct ctr_state *st;  /* to count dtor calls */
    int *buf;              /* owned heap memory */
};

struct get_reply {
    uint64_t n;
};

struct empty_req {
    uint8_t unused;
};

enum { K_INC, K_BIG, K_OWNED, K_GET, K_CHECKED, K_SELFBLOCK, K_NKINDS };

BM_ACTOR_REF(ctr);

static int validate_inc(const void *p, struct bm_errmsg *em)
{
    const struct inc_msg *m = p;

    if (m->sender >= MAX_SENDERS) {
        return bm_errf(em, BM_EINVAL, "inc.sender: %u out of range",
                       m->sender);
    }
    return BM_OK;
}

static void owned_dtor(void *p)
{
    struct owned_msg *m = p;

    if (m->buf != NULL) {
        atomic_fetch_add(&m->st->owned_freed, 1);
        bm_free(m->buf);
        m->buf = NULL;
    }
}

BM_ACTOR_HANDLER(on_inc, struct ctr_state, struct inc_msg)
BM_ACTOR_HANDLER(on_big, struct ctr_state, struct big_msg)
BM_ACTOR_HANDLER(on_owned, struct ctr_state, struct owned_msg)
BM_ACTOR_HANDLER(on_get, struct ctr_state, struct empty_req)
BM_ACTOR_HANDLER(on_checked, struct ctr_state, struct inc_msg)
BM_ACTOR_HANDLER(on_selfblock, struct ctr_state, struct empty_req)

static const struct bm_msg_kind ctr_kinds[K_NKINDS] = {
    [K_INC] = BM_MSG_KIND("inc", struct inc_msg, 0, NULL, on_inc, NULL, NULL),
    [K_BIG] = BM_MSG_KIND("big", struct big_msg, 0, NULL, on_big, NULL, NULL),
    [K_OWNED] = BM_MSG_KIND("owned", struct owned_msg, 0, NULL, on_owned,
                            owned_dtor, NULL),
    [K_GET] = BM_MSG_KIND("get", struct empty_req, sizeof(struct get_reply),
                          NULL, on_get, NULL, NULL),
    [K_CHECKED] = BM_MSG_KIND("checked", struct inc_msg, 0, validate_inc,
                              on_checked, NULL, NULL),
    [K_SELFBLOCK] = BM_MSG_KIND("selfblock", struct empty_req, 0, NULL,
                                on_selfblock, NULL, NULL),
};

static const struct bm_actor_type ctr_type = {
    .name = "ctr",
    .kinds = ctr_kinds,
    .n_kinds = K_NKINDS,
};

BM_ACTOR_TELL(ctr, inc, K_INC, struct inc_msg)
BM_ACTOR_TELL(ctr, big, K_BIG, struct big_msg)
BM_ACTOR_TELL(ctr, owned, K_OWNED, struct owned_msg)
BM_ACTOR_TELL(ctr, checked, K_CHECKED, struct inc_msg)
BM_ACTOR_TELL(ctr, selfblock, K_SELFBLOCK, struct empty_req)
BM_ACTOR_ASK(ctr, get, K_GET, struct empty_req, struct get_reply)

static void enter(struct ctr_state *st)
{
    if (atomic_fetch_add(&st->inside, 1) != 0) {
        atomic_store(&st->overlap, 1);
    }
}

static void leave(struct ctr_state *st)
{
    atomic_fetch_sub(&st->inside, 1);
}

static int on_inc(struct bm_actor_ctx *ctx, struct ctr_state *st,
                  struct inc_msg *m)
{
    (void)ctx;
    enter(st);
    if (m->sender < MAX_SENDERS) {
        if (m->seq != st->last[m->sender] + 1) {
            atomic_fetch_add(&st->order_errors, 1);
        }
        st->last[m->sender] = m->seq;
    }
    atomic_fetch_add(&st->sum, m->seq);
    atomic_fetch_add(&st->n, 1);
    leave(st);
    return BM_OK;
}

static int on_big(struct bm_actor_ctx *ctx, struct ctr_state *st,
                  struct big_msg *m)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(m->bytes); i++) {
        if (m->bytes[i] != (uint8_t)i) {
            atomic_fetch_add(&st->order_errors, 1);
            break;
        }
    }
    atomic_fetch_add(&st->n, 1);
    return BM_OK;
}

static int on_owned(struct bm_actor_ctx *ctx, struct ctr_state *st,
                    struct owned_msg *m)
{
    (void)ctx;
    (void)m; /* left in place: the runtime calls the dtor afterwards */
    atomic_fetch_add(&st->n, 1);
    return BM_OK;
}

static int on_get(struct bm_actor_ctx *ctx, struct ctr_state *st,
                  struct empty_req *m)
{
    struct get_reply r = {atomic_load(&st->n)};

    (void)m;
    return bm_actor_reply(ctx, BM_OK, &r, sizeof(r));
}

static int on_checked(struct bm_actor_ctx *ctx, struct ctr_state *st,
                      struct inc_msg *m)
{
    (void)ctx;
    (void)m;
    atomic_fetch_add(&st->n, 1);
    return BM_OK;
}

/* Sends to a BLOCK-policy actor from inside a handler: must be refused. */
static struct bm_actor_id g_block_target;
static atomic_int g_selfblock_rc = 1;

static int on_selfblock(struct bm_actor_ctx *ctx, struct ctr_state *st,
                        struct empty_req *m)
{
    struct inc_msg im = {0, 0, 1};

    (void)st;
    (void)m;
    atomic_store(&g_selfblock_rc,
                 bm_ctr_tell_inc(bm_actor_ctx_system(ctx),
                                 (struct bm_ref_ctr){g_block_target}, &im));
    return BM_OK;
}

/* ------------------------------------------------------------ helpers */

static void wait_n(struct ctr_state *st, uint64_t n)
{
    for (int i = 0; i < 20000 && atomic_load(&st->n) < n; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&st->n), n);
}

static void check_accounting(struct bm_actor_system *sys, struct bm_actor_id id,
                             uint64_t sent)
{
    struct bm_actor_stats s;

    assert_int_equal(bm_actor_stats_get(sys, id, &s), BM_OK);
    assert_int_equal(s.sent, sent);
    assert_int_equal(s.sent, s.handled + s.rejected_full +
                                 s.rejected_invalid + s.dropped + s.depth);
}

/* ------------------------------------------------------------ tests */

struct sender_arg {
    struct bm_actor_system *sys;
    struct bm_actor_id to;
    uint32_t sender;
    uint64_t n;
};

static void *sender_main(void *p)
{
    struct sender_arg *sa = p;

    for (uint64_t i = 1; i <= sa->n; i++) {
        struct inc_msg m = {sa->sender, 0, i};
        int err;

        /* BLOCK policy: flow control instead of rejects. */
        err = bm_ctr_tell_inc(sa->sys, (struct bm_ref_ctr){sa->to}, &m);
        if (err != BM_OK) {
            fprintf(stderr, "send failed: %s\n", bm_err_name(err));
            return (void *)1;
        }
    }
    return NULL;
}

static void test_order_and_exclusive(void **state)
{
    struct bm_actor_system *sys = new_sys(2);
    struct ctr_state st;
    struct bm_actor_opts o = {.capacity = 64,
                              .overflow = BM_OVERFLOW_BLOCK,
                              .block_timeout_ms = 10000};
    struct bm_actor_id id;
    pthread_t th[4];
    struct sender_arg sa[4];
    const uint64_t n = 20000;

    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st, &o, &id), BM_OK);
    for (uint32_t i = 0; i < 4; i++) {
        sa[i] = (struct sender_arg){sys, id, i, n};
        assert_int_equal(pthread_create(&th[i], NULL, sender_main, &sa[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;

        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    wait_n(&st, 4 * n);
    assert_int_equal(atomic_load(&st.order_errors), 0);
    assert_int_equal(atomic_load(&st.overlap), 0);
    check_accounting(sys, id, 4 * n);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_reject_policy(void **state)
{
    struct bm_actor_system *sys = new_sys(2);
    struct ctr_state st;
    struct bm_actor_opts o = {.capacity = 10};
    struct bm_actor_id id;
    struct bm_actor_stats s;
    uint64_t full = 0;
    int *buf;

    (void)state;
    memset(&st, 0, sizeof(st));
    /* Not started: nothing is consumed while we fill the mailbox. */
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st, &o, &id), BM_OK);
    for (uint64_t i = 1; i <= 25; i++) {
        struct inc_msg m = {0, 0, i};
        int err = bm_ctr_tell_inc(sys, (struct bm_ref_ctr){id}, &m);

        if (err == BM_EFULL) {
            full++;
        } else {
            assert_int_equal(err, BM_OK);
        }
    }
    assert_int_equal(full, 15);
    /* EFULL: the sender keeps ownership of what the payload points to. */
    buf = bm_xmalloc(16);
    {
        struct owned_msg om = {&st, buf};

        assert_int_equal(bm_ctr_tell_owned(sys, (struct bm_ref_ctr){id}, &om),
                         BM_EFULL);
        assert_ptr_equal(om.buf, buf);
        bm_free(buf);
    }
    assert_int_equal(bm_actor_stats_get(sys, id, &s), BM_OK);
    assert_int_equal(s.depth, 10);
    assert_int_equal(s.high_watermark, 10);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    wait_n(&st, 10);
    check_accounting(sys, id, 26);
    assert_int_equal(bm_actor_stats_get(sys, id, &s), BM_OK);
    assert_int_equal(s.rejected_full, 16);
    assert_int_equal(s.handled, 10);
    assert_int_equal(atomic_load(&st.order_errors), 0);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_drop_oldest_policy(void **state)
{
    struct bm_actor_system *sys = new_sys(2);
    struct ctr_state st;
    struct bm_actor_opts o = {.capacity = 8,
                              .overflow = BM_OVERFLOW_DROP_OLDEST};
    struct bm_actor_id id;
    struct bm_actor_stats s;

    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st, &o, &id), BM_OK);
    for (int i = 0; i < 20; i++) {
        struct owned_msg om = {&st, bm_xmalloc(8)};

        assert_int_equal(bm_ctr_tell_owned(sys, (struct bm_ref_ctr){id}, &om),
                         BM_OK);
    }
    assert_int_equal(bm_actor_stats_get(sys, id, &s), BM_OK);
    assert_int_equal(s.dropped, 12);
    assert_int_equal(s.depth, 8);
    /* The watermark never exceeds the capacity, drops included. */
    assert_int_equal(s.high_watermark, 8);
    /* Dropped payloads were destroyed. */
    assert_int_equal(atomic_load(&st.owned_freed), 12);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    wait_n(&st, 8);
    check_accounting(sys, id, 20);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    assert_int_equal(atomic_load(&st.owned_freed), 20);
    bm_actor_system_free(sys);
}

static void test_block_policy(void **state)
{
    struct bm_actor_system *sys = new_sys(2);
    struct ctr_state st, st2;
    struct bm_actor_opts o = {.capacity = 4,
                              .overflow = BM_OVERFLOW_BLOCK,
                              .block_timeout_ms = 50};
    struct bm_actor_id id, id2;
    struct inc_msg m = {0, 0, 1};
    struct empty_req e = {0};

    (void)state;
    memset(&st, 0, sizeof(st));
    memset(&st2, 0, sizeof(st2));
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st, &o, &id), BM_OK);
    for (uint64_t i = 1; i <= 4; i++) {
        m.seq = i;
        assert_int_equal(bm_ctr_tell_inc(sys, (struct bm_ref_ctr){id}, &m),
                         BM_OK);
    }
    /* Full and not running: a non-actor sender times out. */
    m.seq = 5;
    assert_int_equal(bm_ctr_tell_inc(sys, (struct bm_ref_ctr){id}, &m),
                     BM_ETIMEDOUT);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    wait_n(&st, 4);
    check_accounting(sys, id, 5);
    /* From an actor thread the BLOCK policy is refused with EINVAL. */
    g_block_target = id;
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st2, NULL, &id2), BM_OK);
    assert_int_equal(bm_ctr_tell_selfblock(sys, (struct bm_ref_ctr){id2}, &e),
                     BM_OK);
    for (int i = 0; i < 5000 && atomic_load(&g_selfblock_rc) == 1; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&g_selfblock_rc), BM_EINVAL);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_system_lane_and_discard(void **state)
{
    struct bm_actor_system *sys = new_sys(2);
    struct ctr_state st;
    struct bm_actor_opts o = {.capacity = 16};
    struct bm_actor_id id;
    int reason = 0;

    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st, &o, &id), BM_OK);
    for (int i = 0; i < 16; i++) {
        struct owned_msg om = {&st, bm_xmalloc(8)};

        assert_int_equal(bm_ctr_tell_owned(sys, (struct bm_ref_ctr){id}, &om),
                         BM_OK);
    }
    {
        struct owned_msg om = {&st, NULL};

        assert_int_equal(bm_ctr_tell_owned(sys, (struct bm_ref_ctr){id}, &om),
                         BM_EFULL);
    }
    /* The user lane is full; stop still gets through the system lane and
     * is handled before any queued user message. */
    assert_int_equal(bm_actor_stop(sys, id), BM_OK);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    assert_int_equal(bm_actor_wait_exit(sys, id, 5000, &reason), BM_OK);
    assert_int_equal(reason, BM_ESHUTDOWN);
    assert_int_equal(atomic_load(&st.n), 0);
    /* Queued payloads were destroyed at stop. */
    assert_int_equal(atomic_load(&st.owned_freed), 16);
    /* The id is stale now. */
    {
        struct inc_msg m = {0, 0, 1};

        assert_int_equal(bm_ctr_tell_inc(sys, (struct bm_ref_ctr){id}, &m),
                         BM_ENOACTOR);
    }
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_validation_and_kinds(void **state)
{
    struct bm_actor_system *sys = new_sys(1);
    struct ctr_state st;
    struct bm_actor_id id;
    struct bm_actor_stats s;
    struct big_msg big;
    struct get_reply r;
    struct empty_req e = {0};

    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st, NULL, &id), BM_OK);
    for (uint32_t i = 0; i < 10; i++) {
        struct inc_msg m = {i % 2 ? 1000 : 0, 0, i};

        assert_int_equal(
            bm_ctr_tell_checked(sys, (struct bm_ref_ctr){id}, &m), BM_OK);
    }
    for (size_t i = 0; i < sizeof(big.bytes); i++) {
        big.bytes[i] = (uint8_t)i;
    }
    assert_int_equal(bm_ctr_tell_big(sys, (struct bm_ref_ctr){id}, &big),
                     BM_OK);
    /* Untyped misuse is caught at run time. */
    assert_int_equal(bm_actor_tell(sys, id, K_NKINDS, &e, sizeof(e)),
                     BM_EINVAL);
    assert_int_equal(bm_actor_tell(sys, id, K_INC, &e, sizeof(e)), BM_EINVAL);
    assert_int_equal(
        bm_ctr_call_get(sys, (struct bm_ref_ctr){id}, &e, &r, 5000), BM_OK);
    assert_int_equal(r.n, 6); /* 5 valid + big */
    /* The ask's handler is counted after it returns: poll. */
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(bm_actor_stats_get(sys, id, &s), BM_OK);
        if (s.handled == 7) {
            break;
        }
        bm_sleep_ms(1);
    }
    assert_int_equal(s.rejected_invalid, 5);
    assert_int_equal(s.handled, 7);
    assert_int_equal(atomic_load(&st.order_errors), 0);
    {
        struct bm_actor_stats *arr;
        size_t n;

        assert_int_equal(bm_actor_snapshot(sys, &arr, &n), BM_OK);
        assert_int_equal(n, 1);
        assert_string_equal(arr[0].type, "ctr");
        assert_true(arr[0].handler_ns_hist[0] + arr[0].handler_ns_hist[1] +
                        arr[0].handler_ns_hist[2] + arr[0].handler_ns_hist[3] +
                        arr[0].handler_ns_hist[4] + arr[0].handler_ns_hist[5] +
                        arr[0].handler_ns_hist[6] + arr[0].handler_ns_hist[7] +
                        arr[0].handler_ns_hist[8] + arr[0].handler_ns_hist[9] +
                        arr[0].handler_ns_hist[10] +
                        arr[0].handler_ns_hist[23] >
                    0);
        bm_free(arr);
    }
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* Many short-lived actors: slots are recycled, stale ids fail. */
struct once_state {
    struct bm_actor_id reply_to;
    atomic_int *count;
};

static int on_once(struct bm_actor_ctx *ctx, void *state, void *payload)
{
    struct once_state *os = state;

    (void)payload;
    atomic_fetch_add(os->count, 1);
    bm_actor_stop_self(ctx);
    return BM_OK;
}

static const struct bm_msg_kind once_kinds[1] = {
    {.name = "go", .payload_size = 0, .handle = on_once},
};

static const struct bm_actor_type once_type = {
    .name = "once", .kinds = once_kinds, .n_kinds = 1};

static void test_spawn_many(void **state)
{
    struct bm_actor_system *sys = new_sys(2);
    atomic_int count = 0;
    struct once_state os = {BM_ACTOR_ID_NONE, &count};
    struct bm_actor_id first = BM_ACTOR_ID_NONE;
    struct bm_actor_system_stats ss;
    const int n = 20000;

    (void)state;
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    for (int i = 0; i < n; i++) {
        struct bm_actor_id id;
        int err;

        assert_int_equal(bm_actor_spawn(sys, &once_type, &os, NULL, &id),
                         BM_OK);
        if (i == 0) {
            first = id;
        }
        err = bm_actor_tell(sys, id, 0, NULL, 0);
        assert_int_equal(err, BM_OK);
    }
    for (int i = 0; i < 20000 && atomic_load(&count) < n; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&count), n);
    assert_int_equal(bm_actor_tell(sys, first, 0, NULL, 0), BM_ENOACTOR);
    assert_int_equal(bm_actor_stop(sys, first), BM_ENOACTOR);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_stats_get(sys, &ss);
    assert_int_equal(ss.spawned, (uint64_t)n);
    assert_int_equal(ss.exited, (uint64_t)n);
    assert_int_equal(ss.live_actors, 0);
    bm_actor_system_free(sys);
}

static void test_shared_scheduler(void **state)
{
    struct bm_actor_system_config cfg;
    struct bm_actor_system *sys;
    struct ctr_state st;
    struct bm_actor_id id;

    (void)state;
    memset(&st, 0, sizeof(st));
    bm_actor_system_config_init(&cfg);
    cfg.workers = 2;
    cfg.sched = BM_SCHED_SHARED;
    cfg.batch = 4;
    assert_int_equal(bm_actor_system_new(&sys, &cfg), BM_OK);
    assert_int_equal(bm_actor_system_start(sys), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &ctr_type, &st, NULL, &id), BM_OK);
    for (uint64_t i = 1; i <= 500; i++) {
        struct inc_msg m = {0, 0, i};

        assert_int_equal(bm_ctr_tell_inc(sys, (struct bm_ref_ctr){id}, &m),
                         BM_OK);
        if (i % 100 == 0) {
            wait_n(&st, i);
        }
    }
    assert_int_equal(atomic_load(&st.order_errors), 0);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_bad_config(void **state)
{
    struct bm_actor_system_config cfg;
    struct bm_actor_system *sys = NULL;

    (void)state;
    bm_actor_system_config_init(&cfg);
    cfg.workers = 100000;
    assert_int_equal(bm_actor_system_new(&sys, &cfg), BM_EINVAL);
    assert_null(sys);
    bm_actor_system_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_exclusive),
        cmocka_unit_test(test_reject_policy),
        cmocka_unit_test(test_drop_oldest_policy),
        cmocka_unit_test(test_block_policy),
        cmocka_unit_test(test_system_lane_and_discard),
        cmocka_unit_test(test_validation_and_kinds),
        cmocka_unit_test(test_spawn_many),
        cmocka_unit_test(test_shared_scheduler),
        cmocka_unit_test(test_bad_config),
    };

    return BM_TEST_RUN(tests);
}
