/*
 * actor_pingpong: two pooled actors pass one message back and forth,
 * 1,000,000 round trips (argv[1] overrides), one message in flight, on a
 * 2-worker system. Same workload as ../shared/peers/actors `pingpong`.
 *
 * Prints:
 *   actor_pingpong <round trips per second> roundtrips/s
 *   actor_pingpong_latency <ns per round trip> ns
 * Timing covers the first send to the last reply (system start/stop
 * excluded).
 */
#include "actor_bench_util.h"

enum { PP_BALL = 0 };

struct pp_ball {
    uint64_t n;
};

struct pp_state {
    struct bm_actor_id peer;
    uint64_t target; /* 0 on the pong side */
    sem_t *done;
    int err;
};

BM_ACTOR_REF(pp);
BM_ACTOR_TELL(pp, ball, PP_BALL, struct pp_ball)

BM_ACTOR_HANDLER(on_ball, struct pp_state, struct pp_ball)

static int on_ball(struct bm_actor_ctx *ctx, struct pp_state *st,
                   struct pp_ball *p)
{
    struct pp_ball b = {.n = p->n};
    struct bm_ref_pp peer = {st->peer};
    int err;

    if (st->target != 0) { /* ping side: a round trip completed */
        b.n++;
        if (b.n == st->target) {
            sem_post(st->done);
            return BM_OK;
        }
    }
    err = bm_pp_tell_ball(bm_actor_ctx_system(ctx), peer, &b);
    if (err != BM_OK) {
        st->err = err;
        sem_post(st->done);
    }
    return BM_OK;
}

static const struct bm_msg_kind pp_kinds[] = {
    [PP_BALL] = BM_MSG_KIND("ball", struct pp_ball, 0, NULL, on_ball, NULL,
                            NULL),
};

static const struct bm_actor_type pp_type = {
    .name = "pingpong",
    .kinds = pp_kinds,
    .n_kinds = 1,
};

int main(int argc, char **argv)
{
    uint64_t n = bench_arg_u64(argc, argv, 1, 1000000);
    struct bm_actor_system *sys = bench_system_start(0);
    struct pp_state ping = {.target = n}, pong = {0};
    struct bm_actor_id ping_id, pong_id;
    struct pp_ball b = {0};
    sem_t done;
    uint64_t t0, t1;
    double secs;
    int err;

    sem_init(&done, 0, 0);
    ping.done = &done;
    pong.done = &done;
    err = bm_actor_spawn(sys, &pp_type, &ping, NULL, &ping_id);
    if (err != BM_OK) {
        bench_die("spawn ping", err);
    }
    err = bm_actor_spawn(sys, &pp_type, &pong, NULL, &pong_id);
    if (err != BM_OK) {
        bench_die("spawn pong", err);
    }
    /* no message is in flight yet, so no handler reads these now */
    ping.peer = pong_id;
    pong.peer = ping_id;

    t0 = bench_now_ns();
    err = bm_pp_tell_ball(sys, (struct bm_ref_pp){pong_id}, &b);
    if (err != BM_OK) {
        bench_die("first send", err);
    }
    bench_wait(&done);
    t1 = bench_now_ns();
    if (ping.err != BM_OK || pong.err != BM_OK) {
        bench_die("send in handler",
                  ping.err != BM_OK ? ping.err : pong.err);
    }
    secs = (double)(t1 - t0) / 1e9;
    printf("actor_pingpong %.4g roundtrips/s\n", (double)n / secs);
    printf("actor_pingpong_latency %.1f ns\n", (double)(t1 - t0) / (double)n);
    bench_system_stop(sys);
    sem_destroy(&done);
    return 0;
}
