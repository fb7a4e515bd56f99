/*
 * DAIncluderActor with a real store, KV executor and State actor: the
 * DA-included height advances in order only when both rhb hints (or an
 * empty block's header hint) exist, stops at a gap, finalises in the
 * executor, persists d and gdh (once), resumes after a restart; a
 * SetFinal that keeps failing is fatal, one whose executor is unreachable
 * is retried; bm_da_includer_is_included; and
 * the submitter + includer pair end to end on a real DA server.
 */
#include "bm_test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "actors/da_includer.h"
#include "actors/da_submitter.h"
#include "actors/state.h"
#include "actors_test_util.h"
#include "blockv2/store.h"
#include "util/errmsg.h"

#define WAIT_MS 30000

static void fast_cfg(struct bm_manager_config *c)
{
    bm_manager_config_init(c);
    c->block_time_ms = 50;
    c->da_block_time_ms = 100;
    c->scrape_interval_ms = 20;
    c->lazy_block_interval_ms = 1000;
}



static const char *const TXS[] = {"a=1", "b=2", NULL};

/* Writes rhb/<h>/<which> = da through the State actor. */
static void put_rhb(struct at_node *n, uint64_t h, char which, uint64_t da)
{
    struct bm_state_put_meta pm;
    struct bm_state_ack ack;
    char name[48];

    memset(&pm, 0, sizeof(pm));
    bm_meta_rhb_name(name, sizeof(name), h, which);
    assert_int_equal(bm_state_meta_add_u64(&pm.meta, name, da), BM_OK);
    assert_int_equal(bm_state_call_put_meta(n->sys, bm_env_state(&n->env),
                                            &pm, &ack, 10000),
                     BM_OK);
}

static uint64_t meta_u64(struct at_node *n, const char *name)
{
    uint64_t v = 0;

    if (bm_meta_get_u64(n->store, name, &v, NULL) != BM_OK) {
        return 0;
    }
    return v;
}

static uint64_t final_height(struct at_node *n)
{
    struct bm_kv_status st;

    bm_kv_status(n->kv, &st);
    return st.final_height;
}

struct want {
    struct at_node *n;
    uint64_t included;
};

static bool included_at(void *arg)
{
    struct want *w = arg;

    return meta_u64(w->n, BM_META_DA_INCLUDED) == w->included &&
           atomic_load(&w->n->env.m.da_included_height) == w->included &&
           final_height(w->n) == w->included;
}

/* Faults for the executor the actors see (NULL: the KV executor as is). */
struct exec_fault {
    const struct bm_executor_ops *over; /* at_exec_wrap's replaced ops */
    void *arg;
    struct at_exec_wrap wrap;
    struct bm_executor ex;
};

static void open_node(struct at_node *n, const char *home, uint64_t gen_ns,
                      struct exec_fault *f)
{
    struct bm_manager_config cfg;
    struct at_opts o = {.aggregator = true, .cfg = &cfg, .home = home,
                        .genesis_time_ns = gen_ns};

    fast_cfg(&cfg);
    at_node_open(n, &o);
    if (f != NULL) {
        at_exec_wrap(&f->wrap, &n->exec, f->over, f->arg, &f->ex);
        n->env.exec = &f->ex;
    }
    at_spawn(n, &bm_state_actor_type, &n->env.ids.state, true,
             BM_OVERFLOW_REJECT);
    at_spawn(n, &bm_da_includer_actor_type, &n->env.ids.da_includer, true,
             BM_OVERFLOW_DROP_OLDEST);
    assert_int_equal(bm_env_subscribe(&n->env, n->env.ids.da_includer,
                                      BM_DA_INCLUDER_NEW_HEIGHT),
                     BM_OK);
    at_start(n);
}

static bool included(struct at_node *n, uint64_t h)
{
    bool out = true;
    struct bm_errmsg em = {{0}};
    int err = bm_da_includer_is_included(&n->env, h, &out, &em);

    if (err != BM_OK) {
        fail_msg("is_included %llu: %s", (unsigned long long)h,
                 bm_errmsg_str(&em, err));
    }
    return out;
}

static void tell_included(struct at_node *n, uint64_t from, uint64_t to,
                          char which)
{
    struct bm_da_includer_included inc = {.from = from, .to = to,
                                          .da_height = 1, .which = which};

    assert_int_equal(bm_da_includer_tell_included(
                         n->sys, bm_env_da_includer(&n->env), &inc),
                     BM_OK);
}

/* Advance in order, stop at gaps, empty blocks need only their header,
 * gdh once, d persisted, SetFinal called; restart resumes. */
static void test_advance_and_restart(void **state)
{
    struct at_node n;
    struct want w = {&n, 0};
    char home[256], name[48];
    uint64_t gen_ns;

    (void)state;
    open_node(&n, NULL, 0, NULL);
    for (uint64_t h = 1; h <= 6; h++) {
        at_commit_next(&n, h == 3 ? NULL : TXS, true);
    }
    /* Nothing on DA yet. */
    bm_sleep_ms(300);
    assert_int_equal(meta_u64(&n, BM_META_DA_INCLUDED), 0);
    assert_int_equal(final_height(&n), 0);
    assert_false(included(&n, 1));

    /* 1 complete; 2 lacks data; 3 (empty) and 4 complete. */
    put_rhb(&n, 1, 'h', 5);
    put_rhb(&n, 1, 'd', 6);
    put_rhb(&n, 2, 'h', 3);
    put_rhb(&n, 3, 'h', 7);
    put_rhb(&n, 4, 'h', 7);
    put_rhb(&n, 4, 'd', 8);
    tell_included(&n, 1, 4, 'h');
    w.included = 1;
    assert_true(at_wait(included_at, &w, WAIT_MS));
    assert_int_equal(meta_u64(&n, BM_META_GENESIS_DA_HEIGHT), 5);
    /* Stopped at the gap for a while. */
    bm_sleep_ms(300);
    assert_true(included_at(&w));
    assert_true(included(&n, 1));
    assert_false(included(&n, 2));
    assert_true(included(&n, 3)); /* empty: header is enough */
    assert_true(included(&n, 4));
    assert_false(included(&n, 0));
    assert_false(included(&n, 99));

    /* Data of 2 at a lower DA height: 2..4 advance, gdh unchanged. */
    put_rhb(&n, 2, 'd', 3);
    w.included = 4;
    assert_true(at_wait(included_at, &w, WAIT_MS));
    assert_int_equal(meta_u64(&n, BM_META_GENESIS_DA_HEIGHT), 5);
    bm_meta_rhb_name(name, sizeof(name), 3, 'd');
    assert_int_equal(meta_u64(&n, name), 7);
    assert_true(included(&n, 2));
    assert_false(included(&n, 5));
    assert_false(bm_env_halted(&n.env));

    snprintf(home, sizeof(home), "%s", n.home);
    gen_ns = n.genesis.start_time_ns;
    at_node_close(&n, false);

    /* Restart: loads d = 4 and the existing gdh. */
    open_node(&n, home, gen_ns, NULL);
    n.own_home = true;
    w.included = 4;
    assert_true(at_wait(included_at, &w, WAIT_MS));
    put_rhb(&n, 5, 'h', 2);
    put_rhb(&n, 5, 'd', 2);
    w.included = 5;
    assert_true(at_wait(included_at, &w, WAIT_MS));
    assert_int_equal(meta_u64(&n, BM_META_GENESIS_DA_HEIGHT), 5);
    assert_false(included(&n, 6));
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* A height the executor never executed: SetFinal fails 3 times -> fatal,
 * and the DA-included height is not moved past it. */
static void test_set_final_failure_fatal(void **state)
{
    struct at_node n;
    struct bm_errmsg em = {{0}};

    (void)state;
    open_node(&n, NULL, 0, NULL);
    at_commit_next(&n, TXS, false);
    put_rhb(&n, 1, 'h', 1);
    put_rhb(&n, 1, 'd', 1);
    assert_int_equal(bm_env_wait_fatal(&n.env, WAIT_MS, &em),
                     BM_EHEIGHT_MISMATCH);
    assert_non_null(strstr(em.msg, "da_includer"));
    assert_int_equal(meta_u64(&n, BM_META_DA_INCLUDED), 0);
    at_node_close(&n, true);
}

/* SetFinal cannot reach the execution client while `down` is set;
 * everything else is the KV executor's (at_exec_wrap). */
struct down_exec {
    atomic_bool down;
    atomic_int refused;
};

static enum bm_err dx_set_final(void *ctx, uint64_t h, struct bm_errmsg *em)
{
    struct at_exec_wrap *w = ctx;
    struct down_exec *d = w->arg;

    if (atomic_load(&d->down)) {
        atomic_fetch_add(&d->refused, 1);
        return bm_errf(em, BM_ECONNECT, "set_final: execution client down");
    }
    return w->inner->ops->set_final(w->inner->ctx, h, em);
}

static const struct bm_executor_ops down_ops = {.set_final = dx_set_final};
struct refusals {
    struct at_node *n;
    struct down_exec *dx;
};

static bool refused_twice_or_halted(void *arg)
{
    struct refusals *r = arg;

    return atomic_load(&r->dx->refused) >= 6 || bm_env_halted(&r->n->env);
}

/* An executor that cannot be reached (an execution client restarting) is
 * waited for: not fatal, the DA-included height stays put while it is
 * down and advances once it answers again. */
static void test_set_final_unavailable_waits(void **state)
{
    struct at_node n;
    struct down_exec dx;
    struct exec_fault f = {.over = &down_ops, .arg = &dx};
    struct want w = {&n, 1};

    (void)state;
    memset(&dx, 0, sizeof(dx));
    atomic_init(&dx.down, true);
    atomic_init(&dx.refused, 0);
    open_node(&n, NULL, 0, &f);
    at_commit_next(&n, TXS, true);
    put_rhb(&n, 1, 'h', 1);
    put_rhb(&n, 1, 'd', 1);
    /* Several passes refused (3 attempts each), none fatal. */
    assert_true(at_wait(refused_twice_or_halted, &(struct refusals){&n, &dx},
                        WAIT_MS));
    assert_false(bm_env_halted(&n.env));
    assert_int_equal(meta_u64(&n, BM_META_DA_INCLUDED), 0);
    assert_int_equal(final_height(&n), 0);
    atomic_store(&dx.down, false);
    assert_true(at_wait(included_at, &w, WAIT_MS));
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* SetFinal on a full or failing disk (BM_EIO, counted in refused). */
static enum bm_err disk_set_final(void *ctx, uint64_t h, struct bm_errmsg *em)
{
    struct at_exec_wrap *w = ctx;
    struct down_exec *d = w->arg;

    (void)h;
    atomic_fetch_add(&d->refused, 1);
    return bm_errf(em, BM_EIO, "set_final: kv: injected disk full");
}

static const struct bm_executor_ops disk_ops = {.set_final = disk_set_final};

/* BM_EIO from SetFinal (the executor's store on a full or failing disk) is
 * fatal at the first attempt: no retry into pages LMDB frees
 * (docs/OPERATIONS.md, Disk full); the DA-included height stays put. */
static void test_set_final_disk_error_fatal_at_once(void **state)
{
    struct at_node n;
    struct down_exec dx;
    struct exec_fault f = {.over = &disk_ops, .arg = &dx};
    struct bm_errmsg em = {{0}};

    (void)state;
    memset(&dx, 0, sizeof(dx));
    atomic_init(&dx.refused, 0);
    open_node(&n, NULL, 0, &f);
    at_commit_next(&n, TXS, true);
    put_rhb(&n, 1, 'h', 1);
    put_rhb(&n, 1, 'd', 1);
    assert_int_equal(bm_env_wait_fatal(&n.env, WAIT_MS, &em), BM_EIO);
    assert_non_null(strstr(em.msg, "injected disk full"));
    assert_int_equal(atomic_load(&dx.refused), 1);
    assert_int_equal(meta_u64(&n, BM_META_DA_INCLUDED), 0);
    at_node_close(&n, true);
}

/* Invalid INCLUDED messages are rejected by validation. */
static void test_validate(void **state)
{
    const struct bm_msg_kind *k =
        &bm_da_includer_actor_type.kinds[BM_DA_INCLUDER_INCLUDED];
    const struct bm_msg_kind *nh =
        &bm_da_includer_actor_type.kinds[BM_DA_INCLUDER_NEW_HEIGHT];
    struct bm_da_includer_included inc = {0};
    struct bm_state_new_height ev = {0};
    struct bm_errmsg em = {{0}};

    (void)state;
    assert_int_equal(k->validate(&inc, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "included.which"));
    inc.which = 'd';
    assert_int_equal(k->validate(&inc, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "included.from"));
    inc.from = 3;
    inc.to = 2;
    assert_int_equal(k->validate(&inc, &em), BM_EINVAL);
    inc.to = 3;
    assert_int_equal(k->validate(&inc, &em), BM_OK);
    assert_int_equal(nh->validate(&ev, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "new_height.height"));
    ev.height = 1;
    assert_int_equal(nh->validate(&ev, &em), BM_OK);
}

static uint64_t handled(struct at_node *n, struct bm_actor_id id)
{
    struct bm_actor_stats st;

    assert_int_equal(bm_actor_stats_get(n->sys, id, &st), BM_OK);
    return st.handled;
}

/* Submitter and includer together on a real DA server: every block ends
 * DA-included and final. Caught up, both stop ticking (an idle node does
 * not wake for them); the next block wakes them again. */
static void test_with_submitter(void **state)
{
    struct at_node n;
    struct bm_manager_config cfg;
    struct at_opts o = {.aggregator = true, .with_da = true, .cfg = &cfg};
    struct want w = {&n, 8};
    char name[48];

    (void)state;
    fast_cfg(&cfg);
    at_node_open(&n, &o);
    at_spawn(&n, &bm_state_actor_type, &n.env.ids.state, true,
             BM_OVERFLOW_REJECT);
    at_spawn(&n, &bm_da_includer_actor_type, &n.env.ids.da_includer, true,
             BM_OVERFLOW_DROP_OLDEST);
    at_spawn(&n, &bm_da_submitter_actor_type, &n.env.ids.da_submitter, true,
             BM_OVERFLOW_DROP_OLDEST);
    assert_int_equal(bm_env_subscribe(&n.env, n.env.ids.da_submitter,
                                      BM_DA_SUBMITTER_NEW_HEIGHT),
                     BM_OK);
    at_start(&n);
    for (uint64_t h = 1; h <= 8; h++) {
        at_commit_next(&n, h % 3 == 0 ? NULL : TXS, true);
    }
    assert_true(at_wait(included_at, &w, WAIT_MS));
    for (uint64_t h = 1; h <= 8; h++) {
        assert_true(included(&n, h));
        bm_meta_rhb_name(name, sizeof(name), h, 'd');
        assert_true(meta_u64(&n, name) > 0);
    }
    assert_true(meta_u64(&n, BM_META_GENESIS_DA_HEIGHT) > 0);
    /* Idle: no tick reaches either actor (they tick every 50 / 100 ms
     * while behind). */
    bm_sleep_ms(300);
    {
        uint64_t i0 = handled(&n, n.env.ids.da_includer);
        uint64_t s0 = handled(&n, n.env.ids.da_submitter);

        bm_sleep_ms(600);
        assert_int_equal(handled(&n, n.env.ids.da_includer), i0);
        assert_int_equal(handled(&n, n.env.ids.da_submitter), s0);
    }
    /* A new block resumes both. */
    at_commit_next(&n, TXS, true);
    w.included = 9;
    assert_true(at_wait(included_at, &w, WAIT_MS));
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_advance_and_restart),
        cmocka_unit_test(test_set_final_failure_fatal),
        cmocka_unit_test(test_set_final_disk_error_fatal_at_once),
        cmocka_unit_test(test_set_final_unavailable_waits),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_with_submitter),
    };

    return BM_TEST_RUN(tests);
}
