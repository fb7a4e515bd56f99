/*
 * Actor runtime: ask from outside (futures) and between actors
 * (continuations), deadlines, late replies, asks to stopped actors,
 * validation and handler errors as reply status, detached actors, shutdown
 * with pending asks and queued messages.
 */
#include "bm_test.h"

#include "actor_test_util.h"

#include "blockv2/actor.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

static atomic_int g_reply_freed;

struct svc_req {
    uint64_t v;
    uint32_t sleep_ms;
    uint32_t pad;
};

struct svc_reply {
    uint64_t v;
    int *owned; /* owned heap memory travelling with the reply */
};

static void svc_reply_dtor(void *p)
{
    struct svc_reply *r = p;

    if (r->owned != NULL) {
        atomic_fetch_add(&g_reply_freed, 1);
        bm_free(r->owned);
        r->owned = NULL;
    }
}

static int validate_req(const void *p, struct bm_errmsg *em)
{
    const struct svc_req *r = p;

    (void)em;
    return r->v == 0 ? BM_EINVAL : BM_OK;
}

enum { S_ECHO, S_FAIL, S_NOREPLY, S_CHECKED, S_NKINDS };

struct svc_state {
    atomic_int handled;
};

BM_ACTOR_REF(svc);

BM_ACTOR_HANDLER(svc_echo, struct svc_state, struct svc_req)
BM_ACTOR_HANDLER(svc_fail, struct svc_state, struct svc_req)
BM_ACTOR_HANDLER(svc_noreply, struct svc_state, struct svc_req)

static const struct bm_msg_kind svc_kinds[S_NKINDS] = {
    [S_ECHO] = BM_MSG_KIND("echo", struct svc_req, sizeof(struct svc_reply),
                           NULL, svc_echo, NULL, svc_reply_dtor),
    [S_FAIL] = BM_MSG_KIND("fail", struct svc_req, sizeof(struct svc_reply),
                           NULL, svc_fail, NULL, svc_reply_dtor),
    [S_NOREPLY] = BM_MSG_KIND("noreply", struct svc_req,
                              sizeof(struct svc_reply), NULL, svc_noreply,
                              NULL, svc_reply_dtor),
    [S_CHECKED] = BM_MSG_KIND("checked", struct svc_req,
                              sizeof(struct svc_reply), validate_req, svc_echo,
                              NULL, svc_reply_dtor),
};

static const struct bm_actor_type svc_type = {
    .name = "svc", .kinds = svc_kinds, .n_kinds = S_NKINDS};

BM_ACTOR_ASK(svc, echo, S_ECHO, struct svc_req, struct svc_reply)
BM_ACTOR_ASK(svc, fail, S_FAIL, struct svc_req, struct svc_reply)
BM_ACTOR_ASK(svc, noreply, S_NOREPLY, struct svc_req, struct svc_reply)
BM_ACTOR_ASK(svc, checked, S_CHECKED, struct svc_req, struct svc_reply)

static int svc_echo(struct bm_actor_ctx *ctx, struct svc_state *st,
                    struct svc_req *m)
{
    struct svc_reply r = {m->v + 1, bm_xmalloc(sizeof(int))};

    atomic_fetch_add(&st->handled, 1);
    if (m->sleep_ms > 0) {
        /* Allowed: this test runs svc detached when it sleeps. */
        bm_sleep_ms(m->sleep_ms);
    }
    return bm_actor_reply(ctx, BM_OK, &r, sizeof(r));
}

static int svc_fail(struct bm_actor_ctx *ctx, struct svc_state *st,
                    struct svc_req *m)
{
    (void)ctx;
    (void)m;
    atomic_fetch_add(&st->handled, 1);
    return BM_EIO;
}

static int svc_noreply(struct bm_actor_ctx *ctx, struct svc_state *st,
                       struct svc_req *m)
{
    (void)ctx;
    (void)m;
    atomic_fetch_add(&st->handled, 1);
    return BM_OK;
}

/* ------------------------------------------------------------ client */

struct go_msg {
    struct bm_actor_id target;
    uint32_t sleep_ms;
    int64_t timeout_ms;
};

struct client_state {
    atomic_int results;
    atomic_int last_status;
    atomic_uint_least64_t last_value;
    atomic_uint_least64_t last_cookie;
    atomic_int start_rc;
};

enum { C_GO, C_RESULT, C_NKINDS };

BM_ACTOR_REF(client);
BM_ACTOR_HANDLER(client_go, struct client_state, struct go_msg)
BM_ACTOR_HANDLER(client_result, struct client_state, struct svc_reply)

static const struct bm_msg_kind client_kinds[C_NKINDS] = {
    [C_GO] = BM_MSG_KIND("go", struct go_msg, 0, NULL, client_go, NULL, NULL),
    [C_RESULT] = BM_MSG_KIND("result", struct svc_reply, 0, NULL,
                             client_result, svc_reply_dtor, NULL),
};

static const struct bm_actor_type client_type = {
    .name = "client", .kinds = client_kinds, .n_kinds = C_NKINDS};

BM_ACTOR_TELL(client, go, C_GO, struct go_msg)

static int client_go(struct bm_actor_ctx *ctx, struct client_state *st,
                     struct go_msg *m)
{
    struct svc_req req = {41, m->sleep_ms, 0};

    atomic_store(&st->start_rc,
                 bm_svc_ask_echo_async(ctx, (struct bm_ref_svc){m->target},
                                       &req, m->timeout_ms, C_RESULT, 42));
    return BM_OK;
}

static int client_result(struct bm_actor_ctx *ctx, struct client_state *st,
                         struct svc_reply *r)
{
    atomic_store(&st->last_status, bm_actor_ctx_status(ctx));
    atomic_store(&st->last_value, r->v);
    atomic_store(&st->last_cookie, bm_actor_ctx_cookie(ctx));
    atomic_fetch_add(&st->results, 1);
    /* r->owned is left for the kind's dtor. */
    return BM_OK;
}

/* ------------------------------------------------------------ relay */

/* Answers an outside ask by asking svc itself: defers its reply and
 * answers from the continuation, so it never waits. */
struct relay_state {
    struct bm_actor_id svc;
    struct bm_reply_token tok[4];
    bool used[4];
};

enum { R_GET, R_DONE, R_NKINDS };

static atomic_int g_defer_twice_ok;

BM_ACTOR_REF(relay);
BM_ACTOR_HANDLER(relay_get, struct relay_state, struct svc_req)
BM_ACTOR_HANDLER(relay_done, struct relay_state, struct svc_reply)

static const struct bm_msg_kind relay_kinds[R_NKINDS] = {
    [R_GET] = BM_MSG_KIND("get", struct svc_req, sizeof(struct svc_reply),
                          NULL, relay_get, NULL, svc_reply_dtor),
    [R_DONE] = BM_MSG_KIND("done", struct svc_reply, 0, NULL, relay_done,
                           svc_reply_dtor, NULL),
};

static const struct bm_actor_type relay_type = {
    .name = "relay", .kinds = relay_kinds, .n_kinds = R_NKINDS};

BM_ACTOR_ASK(relay, get, R_GET, struct svc_req, struct svc_reply)

static int relay_get(struct bm_actor_ctx *ctx, struct relay_state *st,
                     struct svc_req *m)
{
    uint32_t i = 0;
    int err;

    while (i < 4 && st->used[i]) {
        i++;
    }
    if (i == 4) {
        return BM_EBUSY; /* auto-reply */
    }
    err = bm_actor_reply_defer(ctx, &st->tok[i]);
    if (err != BM_OK) {
        return err;
    }
    if (bm_actor_reply_defer(ctx, &st->tok[i]) != BM_ESTATE) {
        atomic_fetch_add(&g_defer_twice_ok, 1); /* must not happen */
    }
    st->used[i] = true;
    err = bm_svc_ask_echo_async(ctx, (struct bm_ref_svc){st->svc}, m, 5000,
                                R_DONE, i);
    if (err != BM_OK) {
        st->used[i] = false;
        return bm_actor_reply_token(bm_actor_ctx_system(ctx), &st->tok[i],
                                    err, NULL, 0);
    }
    return BM_OK;
}

static int relay_done(struct bm_actor_ctx *ctx, struct relay_state *st,
                      struct svc_reply *p)
{
    uint64_t i = bm_actor_ctx_cookie(ctx);
    int status = bm_actor_ctx_status(ctx);
    struct svc_reply r = *p;

    if (i >= 4 || !st->used[i]) {
        return BM_OK;
    }
    st->used[i] = false;
    if (status != BM_OK) {
        return bm_actor_reply_token(bm_actor_ctx_system(ctx), &st->tok[i],
                                    status, NULL, 0);
    }
    p->owned = NULL; /* moved into the reply */
    return bm_actor_reply_token(bm_actor_ctx_system(ctx), &st->tok[i],
                                BM_OK, &r, sizeof(r));
}

/* ------------------------------------------------------------ helpers */

static void wait_results(struct client_state *cs, int n)
{
    for (int i = 0; i < 10000 && atomic_load(&cs->results) < n; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&cs->results), n);
}

/* ------------------------------------------------------------ tests */

static void test_call_and_errors(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0};
    struct bm_actor_id id;
    struct bm_ref_svc ref;
    struct svc_req req = {5, 0, 0};
    struct svc_reply rep = {0, NULL};
    struct bm_actor_system_stats st;

    (void)state;
    atomic_store(&g_reply_freed, 0);
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, NULL, &id), BM_OK);
    ref.id = id;
    assert_int_equal(bm_svc_call_echo(sys, ref, &req, &rep, 5000), BM_OK);
    assert_int_equal(rep.v, 6);
    assert_non_null(rep.owned); /* the caller owns the reply now */
    bm_free(rep.owned);
    rep.owned = NULL;
    assert_int_equal(bm_svc_call_fail(sys, ref, &req, &rep, 5000), BM_EIO);
    assert_int_equal(bm_svc_call_noreply(sys, ref, &req, &rep, 5000),
                     BM_EPROTO);
    req.v = 0;
    assert_int_equal(bm_svc_call_checked(sys, ref, &req, &rep, 5000),
                     BM_EBADMSG);
    req.v = 1;
    assert_int_equal(bm_svc_call_checked(sys, ref, &req, &rep, 5000), BM_OK);
    bm_free(rep.owned);
    /* A future freed without waiting: the reply is destroyed. */
    {
        struct bm_future *f;

        assert_int_equal(bm_svc_ask_echo(sys, ref, &req, 5000, &f), BM_OK);
        for (int i = 0; i < 5000 && atomic_load(&g_reply_freed) == 0; i++) {
            struct svc_reply tmp;

            if (bm_future_wait(f, 0, NULL, 0) != BM_EAGAIN) {
                break;
            }
            (void)tmp;
            bm_sleep_ms(1);
        }
        bm_future_free(f);
    }
    assert_int_equal(atomic_load(&g_reply_freed), 1);
    /* Bad timeout, stopped and unknown targets fail fast. */
    {
        struct bm_future *f;

        assert_int_equal(bm_svc_ask_echo(sys, ref, &req, 0, &f), BM_EINVAL);
        assert_null(f);
    }
    assert_int_equal(bm_actor_stop(sys, id), BM_OK);
    assert_int_equal(bm_actor_wait_exit(sys, id, 5000, NULL), BM_OK);
    assert_int_equal(bm_svc_call_echo(sys, ref, &req, &rep, 5000),
                     BM_ENOACTOR);
    bm_actor_system_stats_get(sys, &st);
    assert_int_equal(st.asks_pending, 0);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_timeout_and_late_reply(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0};
    struct bm_actor_opts o = {.detached = true, .name = "slow"};
    struct bm_actor_id id;
    struct bm_ref_svc ref;
    struct svc_req req = {1, 300, 0};
    struct svc_reply rep = {0, NULL};
    struct bm_actor_system_stats st;
    uint64_t t0;

    (void)state;
    atomic_store(&g_reply_freed, 0);
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, &o, &id), BM_OK);
    ref.id = id;
    t0 = bm_actor_now_ns();
    assert_int_equal(bm_svc_call_echo(sys, ref, &req, &rep, 50),
                     BM_ETIMEDOUT);
    assert_true(bm_actor_now_ns() - t0 < 290000000ull);
    /* The reply arrives after the deadline: discarded, counted, freed. */
    for (int i = 0; i < 5000 && atomic_load(&g_reply_freed) == 0; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&g_reply_freed), 1);
    bm_actor_system_stats_get(sys, &st);
    assert_int_equal(st.asks_timed_out, 1);
    assert_int_equal(st.late_replies, 1);
    assert_int_equal(st.asks_pending, 0);
    /* A detached actor answers normally too. */
    req.sleep_ms = 0;
    assert_int_equal(bm_svc_call_echo(sys, ref, &req, &rep, 5000), BM_OK);
    assert_int_equal(rep.v, 2);
    bm_free(rep.owned);
    {
        struct bm_actor_stats as;

        assert_int_equal(bm_actor_stats_get(sys, id, &as), BM_OK);
        assert_true(as.detached);
        assert_string_equal(as.name, "slow");
    }
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* Tells the client to ask (go), waits for its n-th result and checks that
 * it is svc's successful answer to request 41. */
static void go_ok(struct bm_actor_system *sys, struct bm_actor_id cl,
                  struct client_state *cs, struct go_msg *go, int n)
{
    assert_int_equal(bm_client_tell_go(sys, (struct bm_ref_client){cl}, go),
                     BM_OK);
    wait_results(cs, n);
    assert_int_equal(atomic_load(&cs->start_rc), BM_OK);
    assert_int_equal(atomic_load(&cs->last_status), BM_OK);
    assert_int_equal(atomic_load(&cs->last_value), 42);
}

static void test_async_continuation(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0}, slow_ss = {0};
    struct client_state cs;
    struct bm_actor_opts det = {.detached = true};
    struct bm_actor_id svc, slow, cl;
    struct go_msg go;

    (void)state;
    memset(&cs, 0, sizeof(cs));
    atomic_store(&g_reply_freed, 0);
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, NULL, &svc), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &slow_ss, &det, &slow),
                     BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &client_type, &cs, NULL, &cl),
                     BM_OK);
    go = (struct go_msg){svc, 0, 5000};
    go_ok(sys, cl, &cs, &go, 1);
    assert_int_equal(atomic_load(&cs.last_cookie), 42);
    /* The continuation payload's dtor released the reply. */
    for (int i = 0; i < 1000 && atomic_load(&g_reply_freed) < 1; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&g_reply_freed), 1);
    /* Deadline: exactly one continuation, with ETIMEDOUT. */
    go = (struct go_msg){slow, 200, 30};
    assert_int_equal(bm_client_tell_go(sys, (struct bm_ref_client){cl}, &go),
                     BM_OK);
    wait_results(&cs, 2);
    assert_int_equal(atomic_load(&cs.last_status), BM_ETIMEDOUT);
    assert_int_equal(atomic_load(&cs.last_value), 0);
    bm_sleep_ms(300);
    assert_int_equal(atomic_load(&cs.results), 2);
    /* Stopped target: the async ask fails at once. */
    assert_int_equal(bm_actor_stop(sys, svc), BM_OK);
    assert_int_equal(bm_actor_wait_exit(sys, svc, 5000, NULL), BM_OK);
    go = (struct go_msg){svc, 0, 5000};
    assert_int_equal(bm_client_tell_go(sys, (struct bm_ref_client){cl}, &go),
                     BM_OK);
    for (int i = 0; i < 5000 && atomic_load(&cs.start_rc) == BM_OK; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&cs.start_rc), BM_ENOACTOR);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

static void test_shutdown_with_pending(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0};
    struct bm_actor_opts det = {.detached = true};
    struct bm_actor_id slow;
    struct bm_future *f[8];
    struct svc_req req = {1, 100, 0};
    struct bm_actor_system_stats st;

    (void)state;
    atomic_store(&g_reply_freed, 0);
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, &det, &slow), BM_OK);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(
            bm_svc_ask_echo(sys, (struct bm_ref_svc){slow}, &req, 10000, &f[i]),
            BM_OK);
    }
    bm_sleep_ms(20); /* the first request is being handled */
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    {
        int ok = 0, stopped = 0;

        for (int i = 0; i < 8; i++) {
            struct svc_reply r = {0, NULL};
            int rc = bm_future_wait(f[i], 0, &r, sizeof(r));

            if (rc == BM_OK) {
                ok++;
                bm_free(r.owned);
            } else {
                assert_int_equal(rc, BM_ESTOPPED);
                stopped++;
            }
            bm_future_free(f[i]);
        }
        assert_true(ok >= 1);
        assert_int_equal(ok + stopped, 8);
    }
    bm_actor_system_stats_get(sys, &st);
    assert_int_equal(st.asks_pending, 0);
    assert_int_equal(st.live_actors, 0);
    bm_actor_system_free(sys);
}

static void test_deferred_reply(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0};
    struct relay_state rs;
    struct bm_actor_id svc, relay;
    struct svc_req req = {10, 0, 0};
    struct svc_reply rep = {0, NULL};

    (void)state;
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, NULL, &svc), BM_OK);
    rs.svc = svc;
    assert_int_equal(bm_actor_spawn(sys, &relay_type, &rs, NULL, &relay),
                     BM_OK);
    for (int i = 0; i < 50; i++) {
        req.v = 10 + (uint64_t)i;
        assert_int_equal(bm_relay_call_get(sys, (struct bm_ref_relay){relay},
                                           &req, &rep, 5000),
                         BM_OK);
        assert_int_equal(rep.v, 11 + (uint64_t)i);
        assert_non_null(rep.owned);
        bm_free(rep.owned);
    }
    assert_int_equal(atomic_load(&g_defer_twice_ok), 0);
    /* The relayed-to actor is gone: the relay answers with its error. */
    assert_int_equal(bm_actor_stop(sys, svc), BM_OK);
    assert_int_equal(bm_actor_wait_exit(sys, svc, 5000, NULL), BM_OK);
    assert_int_equal(bm_relay_call_get(sys, (struct bm_ref_relay){relay},
                                       &req, &rep, 5000),
                     BM_ENOACTOR);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* ------------------------------------------------------------ caller */

/* Calls svc synchronously from inside its handler: allowed for a detached
 * actor (it may block), refused with BM_EINVAL for a pooled one. */
struct caller_req {
    struct bm_actor_id svc;
    uint32_t sleep_ms; /* asked of svc */
};

static atomic_int g_caller_status;

struct caller_reply {
    int status;
    uint64_t v;
};

BM_ACTOR_REF(caller);
BM_ACTOR_HANDLER(caller_go, void, struct caller_req)

static const struct bm_msg_kind caller_kinds[1] = {
    [0] = BM_MSG_KIND("go", struct caller_req, sizeof(struct caller_reply),
                      NULL, caller_go, NULL, NULL),
};

static const struct bm_actor_type caller_type = {
    .name = "caller", .kinds = caller_kinds, .n_kinds = 1};

BM_ACTOR_ASK(caller, go, 0, struct caller_req, struct caller_reply)

static int caller_go(struct bm_actor_ctx *ctx, void *st, struct caller_req *m)
{
    struct svc_req req = {7, m->sleep_ms, 0};
    struct svc_reply rep = {0, NULL};
    struct caller_reply out = {0, 0};

    (void)st;
    out.status = bm_svc_call_echo(bm_actor_ctx_system(ctx),
                                  (struct bm_ref_svc){m->svc}, &req, &rep,
                                  10000);
    atomic_store(&g_caller_status, out.status);
    out.v = rep.v;
    bm_free(rep.owned);
    return bm_actor_reply(ctx, BM_OK, &out, sizeof(out));
}

static void test_detached_may_call(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0};
    struct bm_actor_opts det = {.detached = true, .name = "caller"};
    struct bm_actor_id svc, det_id, pooled_id;
    struct caller_req req = {{0, 0}, 0};
    struct caller_reply rep;

    (void)state;
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, NULL, &svc), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &caller_type, NULL, &det, &det_id),
                     BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &caller_type, NULL, NULL, &pooled_id),
                     BM_OK);
    req.svc = svc;
    assert_int_equal(bm_caller_call_go(sys, (struct bm_ref_caller){det_id},
                                       &req, &rep, 5000),
                     BM_OK);
    assert_int_equal(rep.status, BM_OK);
    assert_int_equal(rep.v, 8);
    assert_int_equal(bm_caller_call_go(sys, (struct bm_ref_caller){pooled_id},
                                       &req, &rep, 5000),
                     BM_OK);
    assert_int_equal(rep.status, BM_EINVAL);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

/* A detached actor blocked in a call is not held up by it when it is asked
 * to stop: the wait ends with BM_ESTOPPED and the actor exits at once. */
static void test_stop_interrupts_wait(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0};
    struct bm_actor_opts det = {.detached = true};
    struct bm_actor_id svc, caller;
    struct caller_req req = {{0, 0}, 0};
    uint64_t t0;

    (void)state;
    atomic_store(&g_caller_status, 1);
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, &det, &svc), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &caller_type, NULL, &det, &caller),
                     BM_OK);
    req.svc = svc;
    req.sleep_ms = 3000; /* svc answers only after 3 s */
    {
        struct bm_future *f = NULL;

        assert_int_equal(bm_caller_ask_go(sys, (struct bm_ref_caller){caller},
                                          &req, 10000, &f),
                         BM_OK);
        for (int i = 0; i < 2000 && atomic_load(&ss.handled) == 0; i++) {
            bm_sleep_ms(1);
        }
        assert_int_equal(atomic_load(&ss.handled), 1);
        t0 = bm_actor_now_ns();
        assert_int_equal(bm_actor_stop(sys, caller), BM_OK);
        assert_int_equal(bm_actor_wait_exit(sys, caller, 5000, NULL), BM_OK);
        assert_true(bm_actor_now_ns() - t0 < 2000000000ull);
        assert_int_equal(atomic_load(&g_caller_status), BM_ESTOPPED);
        bm_future_free(f);
    }
    assert_int_equal(bm_actor_system_stop(sys, 10000), BM_OK);
    bm_actor_system_free(sys);
}

/* An infinite ask timeout (BM_ACTOR_NO_TIMEOUT = INT64_MAX, or any one
 * whose deadline does not fit in 64-bit monotonic nanoseconds) arms no
 * timer and never expires: the ask completes with its reply. (It used to
 * overflow into a deadline in the past and time out at once.) A large but
 * representable timeout (100 years) arms a timer that stays armed. */
static void test_no_timeout(void **state)
{
    struct bm_actor_system *sys = start_sys(2);
    struct svc_state ss = {0};
    struct client_state cs;
    struct bm_actor_opts det = {.detached = true, .name = "slow"};
    struct bm_actor_id slow, cl;
    struct bm_ref_svc ref;
    struct bm_actor_system_stats st;
    const int64_t never[] = {BM_ACTOR_NO_TIMEOUT, INT64_MAX - 1,
                             INT64_MAX / 1000};
    const int64_t century_ms = 100LL * 365 * 86400 * 1000;
    struct go_msg go;
    uint64_t active0;

    (void)state;
    memset(&cs, 0, sizeof(cs));
    assert_int_equal(bm_actor_spawn(sys, &svc_type, &ss, &det, &slow),
                     BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &client_type, &cs, NULL, &cl),
                     BM_OK);
    ref.id = slow;
    bm_actor_system_stats_get(sys, &st);
    active0 = st.timers_active;
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        struct svc_req req = {1, 200, 0};
        struct svc_reply rep = {0, NULL};
        struct bm_future *f = NULL;

        assert_int_equal(bm_svc_ask_echo(sys, ref, &req, never[i], &f), BM_OK);
        /* Pending, with no deadline timer. */
        assert_int_equal(bm_future_wait(f, 50, &rep, sizeof(rep)), BM_EAGAIN);
        bm_actor_system_stats_get(sys, &st);
        assert_int_equal(st.timers_active, active0);
        assert_int_equal(st.asks_pending, 1);
        assert_int_equal(bm_future_wait(f, BM_ACTOR_NO_TIMEOUT, &rep,
                                        sizeof(rep)),
                         BM_OK);
        assert_int_equal(rep.v, 2);
        bm_free(rep.owned);
        bm_future_free(f);
    }
    /* The same between actors. */
    go = (struct go_msg){slow, 100, BM_ACTOR_NO_TIMEOUT};
    go_ok(sys, cl, &cs, &go, 1);
    /* 100 years fits: a timer is armed, and cancelled by the reply. */
    {
        struct svc_req req = {1, 200, 0};
        struct svc_reply rep = {0, NULL};
        struct bm_future *f = NULL;

        assert_int_equal(bm_svc_ask_echo(sys, ref, &req, century_ms, &f),
                         BM_OK);
        bm_actor_system_stats_get(sys, &st);
        assert_int_equal(st.timers_active, active0 + 1);
        assert_int_equal(bm_future_wait(f, -1, &rep, sizeof(rep)), BM_OK);
        bm_free(rep.owned);
        bm_future_free(f);
        bm_actor_system_stats_get(sys, &st);
        assert_int_equal(st.timers_active, active0);
    }
    bm_actor_system_stats_get(sys, &st);
    assert_int_equal(st.asks_timed_out, 0);
    assert_int_equal(st.asks_pending, 0);
    assert_int_equal(bm_actor_system_stop(sys, 5000), BM_OK);
    bm_actor_system_free(sys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_and_errors),
        cmocka_unit_test(test_timeout_and_late_reply),
        cmocka_unit_test(test_async_continuation),
        cmocka_unit_test(test_shutdown_with_pending),
        cmocka_unit_test(test_deferred_reply),
        cmocka_unit_test(test_detached_may_call),
        cmocka_unit_test(test_stop_interrupts_wait),
        cmocka_unit_test(test_no_timeout),
    };

    return BM_TEST_RUN(tests);
}
