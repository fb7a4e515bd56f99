/*
 * actor_spawn: one parent actor spawns 1,000,000 short-lived child actors
 * (argv[1] overrides); each child, on its first message, replies once to
 * the parent and stops itself. 2-worker system. Same workload as
 * ../shared/peers/actors `spawn` (flat: one parent, N children).
 *
 * Bounded mailbox: every reply lands in the parent's bounded mailbox, so
 * the parent keeps at most WINDOW children outstanding (WINDOW <= its
 * capacity; argv[2] overrides, default 1000 with capacity 1024): it spawns
 * WINDOW children at start and one more for every reply, so a reply can
 * never find the mailbox full. (The peers spawn all children at once into
 * unbounded mailboxes; CAF in batches of 1,000.)
 *
 * Children use the default options (pooled, reject policy) with a small
 * mailbox (capacity 4: they receive one message).
 *
 * Prints:
 *   actor_spawn <children per second> actors/s
 *   actor_spawn_peak_rss <MiB> MiB
 * Timing covers the first spawn to the last reply.
 */
#include "actor_bench_util.h"

enum { SP_START = 0, SP_DONE = 1 };
enum { CH_HELLO = 0 };

struct sp_start {
    uint32_t window;
};

struct sp_done {
    uint64_t child;
};

struct ch_hello {
    struct bm_actor_id parent;
    uint64_t child;
};

struct sp_parent {
    struct bm_actor_id self;
    uint64_t total;
    uint64_t spawned;
    uint64_t replies;
    uint64_t check; /* sum of child numbers seen */
    int err;
    const char *what;
    sem_t *done;
};

BM_ACTOR_REF(sp_parent);
BM_ACTOR_TELL(sp_parent, start, SP_START, struct sp_start)
BM_ACTOR_TELL(sp_parent, done, SP_DONE, struct sp_done)
BM_ACTOR_REF(sp_child);
BM_ACTOR_TELL(sp_child, hello, CH_HELLO, struct ch_hello)

BM_ACTOR_HANDLER(on_hello, void, struct ch_hello)

static int on_hello(struct bm_actor_ctx *ctx, void *st, struct ch_hello *p)
{
    struct sp_done d = {.child = p->child};
    int err;

    (void)st;
    err = bm_sp_parent_tell_done(bm_actor_ctx_system(ctx),
                                 (struct bm_ref_sp_parent){p->parent}, &d);
    bm_actor_stop_self(ctx);
    return err == BM_OK ? BM_OK : BM_EFATAL;
}

static const struct bm_msg_kind child_kinds[] = {
    [CH_HELLO] = BM_MSG_KIND("hello", struct ch_hello, 0, NULL, on_hello,
                             NULL, NULL),
};

static const struct bm_actor_type child_type = {
    .name = "spawn_child",
    .kinds = child_kinds,
    .n_kinds = 1,
};

static const struct bm_actor_opts child_opts = {.capacity = 4};

/* Spawns the next child and sends it its message. */
static int spawn_one(struct bm_actor_ctx *ctx, struct sp_parent *st)
{
    struct bm_actor_system *sys = bm_actor_ctx_system(ctx);
    struct ch_hello h = {.parent = st->self, .child = st->spawned};
    struct bm_actor_id id;
    int err;

    err = bm_actor_spawn(sys, &child_type, NULL, &child_opts, &id);
    if (err != BM_OK) {
        st->what = "spawn child";
        return err;
    }
    err = bm_sp_child_tell_hello(sys, (struct bm_ref_sp_child){id}, &h);
    if (err != BM_OK) {
        st->what = "send to child";
        return err;
    }
    st->spawned++;
    return BM_OK;
}

static void parent_fail(struct sp_parent *st, int err)
{
    st->err = err;
    sem_post(st->done);
}

BM_ACTOR_HANDLER(on_start, struct sp_parent, struct sp_start)

static int on_start(struct bm_actor_ctx *ctx, struct sp_parent *st,
                    struct sp_start *p)
{
    for (uint32_t i = 0; i < p->window && st->spawned < st->total; i++) {
        int err = spawn_one(ctx, st);

        if (err != BM_OK) {
            parent_fail(st, err);
            return BM_OK;
        }
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(on_done, struct sp_parent, struct sp_done)

static int on_done(struct bm_actor_ctx *ctx, struct sp_parent *st,
                   struct sp_done *p)
{
    st->check += p->child;
    if (++st->replies == st->total) {
        sem_post(st->done);
        return BM_OK;
    }
    if (st->spawned < st->total) {
        int err = spawn_one(ctx, st);

        if (err != BM_OK) {
            parent_fail(st, err);
        }
    }
    return BM_OK;
}

static const struct bm_msg_kind parent_kinds[] = {
    [SP_START] = BM_MSG_KIND("start", struct sp_start, 0, NULL, on_start,
                             NULL, NULL),
    [SP_DONE] = BM_MSG_KIND("done", struct sp_done, 0, NULL, on_done, NULL,
                            NULL),
};

static const struct bm_actor_type parent_type = {
    .name = "spawn_parent",
    .kinds = parent_kinds,
    .n_kinds = 2,
};

int main(int argc, char **argv)
{
    uint64_t n = bench_arg_u64(argc, argv, 1, 1000000);
    uint64_t window = bench_arg_u64(argc, argv, 2, 1000);
    struct bm_actor_system *sys = bench_system_start(0);
    struct sp_parent parent = {.total = n};
    struct bm_actor_opts popts = {.name = "parent"};
    struct sp_start start;
    sem_t done;
    uint64_t t0, t1;
    int err;

    if (window > 1u << 20) {
        bench_die("window", BM_EINVAL);
    }
    /* room for every outstanding reply plus the start message */
    popts.capacity = (uint32_t)window + 24;
    start.window = (uint32_t)window;
    sem_init(&done, 0, 0);
    parent.done = &done;
    err = bm_actor_spawn(sys, &parent_type, &parent, &popts, &parent.self);
    if (err != BM_OK) {
        bench_die("spawn parent", err);
    }
    t0 = bench_now_ns();
    err = bm_sp_parent_tell_start(sys, (struct bm_ref_sp_parent){parent.self},
                                  &start);
    if (err != BM_OK) {
        bench_die("start parent", err);
    }
    bench_wait(&done);
    t1 = bench_now_ns();
    if (parent.err != BM_OK) {
        bench_die(parent.what, parent.err);
    }
    if (parent.check != n * (n - 1) / 2) {
        fprintf(stderr, "replies do not add up\n");
        return 1;
    }
    printf("actor_spawn %.4g actors/s\n",
           (double)n / ((double)(t1 - t0) / 1e9));
    printf("actor_spawn_peak_rss %.1f MiB\n",
           (double)bench_peak_rss_kib() / 1024.0);
    bench_system_stop(sys);
    sem_destroy(&done);
    return 0;
}
