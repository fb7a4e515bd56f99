/* Verifier actors, see verifier.h. */
#include "actors/verifier.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "verifier"
/* Items per helper woken: a helper is woken only for more than this
 * many items (one or two Ed25519 verifies each). */
#define STEP 4u
/* Items claimed at a time. One: the last claims of a batch end within
 * one item of each other, so the caller's wait for the slowest
 * participant (every participant idle meanwhile) is at most one item's
 * checks (4 items were up to 8 verifies, ~0.5 ms, per DA height); a
 * claim costs two atomic adds and a lock, ~0.1 us against 50-120 us of
 * checks. */
#define CLAIM 1u
/* Longest turn of a verifier before it yields its worker. */
#define VERIFIER_SLICE_US 1000u

/*
 * One call of bm_verifier_each. `next` hands out items; `active` counts
 * participants between claiming and finishing a step: the caller, once
 * `next` is past the end, waits for it to reach zero (no step can be
 * claimed after that, so nothing touches the caller's items afterwards).
 * The job itself lives until its last reference goes (a verifier's
 * message may be handled, or dropped, long after the call returned).
 */
struct bm__verifier_job {
    atomic_uint refs;
    atomic_size_t next;
    atomic_uint active;
    size_t n;
    bm_verifier_fn *fn;
    void *arg;
    pthread_mutex_t mu;
    struct bm_cond cv;
};

static void job_unref(struct bm__verifier_job *j)
{
    if (j != NULL && atomic_fetch_sub(&j->refs, 1) == 1) {
        pthread_mutex_destroy(&j->mu);
        bm_cond_destroy(&j->cv);
        bm_free(j);
    }
}

/* Claims and runs steps until none is left or (deadline != 0) the clock
 * passes deadline. Returns true if items may remain. */
static bool work(struct bm__verifier_job *j, uint64_t deadline_ns)
{
    for (;;) {
        size_t i, end;

        atomic_fetch_add(&j->active, 1);
        i = atomic_fetch_add(&j->next, CLAIM);
        if (i >= j->n) {
            pthread_mutex_lock(&j->mu);
            if (atomic_fetch_sub(&j->active, 1) == 1) {
                bm_cond_broadcast(&j->cv);
            }
            pthread_mutex_unlock(&j->mu);
            return false;
        }
        end = i + CLAIM < j->n ? i + CLAIM : j->n;
        for (; i < end; i++) {
            j->fn(j->arg, i);
        }
        pthread_mutex_lock(&j->mu);
        if (atomic_fetch_sub(&j->active, 1) == 1) {
            bm_cond_broadcast(&j->cv);
        }
        pthread_mutex_unlock(&j->mu);
        if (deadline_ns != 0 && bm_clock_now_ns() >= deadline_ns) {
            return atomic_load(&j->next) < j->n;
        }
    }
}

void bm_verifier_run_dtor(void *p)
{
    struct bm_verifier_run *r = p;

    job_unref(r->job);
    r->job = NULL;
}

BM_ACTOR_HANDLER(on_run, void, struct bm_verifier_run)
static int on_run(struct bm_actor_ctx *ctx, void *st,
                  struct bm_verifier_run *p)
{
    struct bm_verifier_run again;

    (void)st;
    if (!work(p->job, bm_clock_now_ns() + VERIFIER_SLICE_US * 1000ull)) {
        return BM_OK;
    }
    /* Yield the worker: the rest of this share comes back as a new
     * message (the reference moves with it). If it cannot be sent, the
     * caller and the others finish the items. */
    again.job = p->job;
    if (bm_verifier_tell_run(bm_actor_ctx_system(ctx),
                             (struct bm_ref_verifier){bm_actor_ctx_self(ctx)},
                             &again) == BM_OK) {
        p->job = NULL;
    }
    return BM_OK;
}

static int validate_run(const void *payload, struct bm_errmsg *em)
{
    const struct bm_verifier_run *r = payload;

    if (r->job == NULL) {
        return bm_errf(em, BM_EINVAL, "verifier.run.job: got NULL, want a "
                       "job");
    }
    return BM_OK;
}

static int verifier_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    (void)ctx;
    if (arg == NULL) {
        return BM_EINVAL;
    }
    *out = arg; /* no state of its own */
    return BM_OK;
}

static const struct bm_msg_kind verifier_kinds[BM_VERIFIER_NKINDS] = {
    [BM_VERIFIER_RUN] = BM_MSG_KIND("run", struct bm_verifier_run, 0,
                                    validate_run, on_run,
                                    bm_verifier_run_dtor, NULL),
};

const struct bm_actor_type bm_verifier_actor_type = {
    .name = "verifier",
    .kinds = verifier_kinds,
    .n_kinds = BM_VERIFIER_NKINDS,
    .init = verifier_init,
    .terminate = NULL,
};

struct bm_verifier_batch {
    struct bm__verifier_job *job; /* NULL: few items, all the caller's */
    bm_verifier_fn *fn;
    void *arg;
    size_t n;
};

struct bm_verifier_batch *bm_verifier_start(struct bm_env *env,
                                            bm_verifier_fn *fn, void *arg,
                                            size_t n)
{
    struct bm_verifier_batch *b = bm_xcalloc(1, sizeof(*b));
    struct bm__verifier_job *j;
    size_t helpers = 0;

    b->fn = fn;
    b->arg = arg;
    b->n = n;
    /* A helper is worth its wake-up (13-26 us here) only with a few steps
     * for it: fewer items are checked on the calling thread alone. */
    if (n > STEP) {
        helpers = (n - 1) / STEP;
    }
    if (helpers > env->n_verifiers) {
        helpers = env->n_verifiers;
    }
    if (helpers == 0) {
        return b;
    }
    j = bm_xcalloc(1, sizeof(*j));
    atomic_init(&j->refs, 1);
    atomic_init(&j->next, 0);
    atomic_init(&j->active, 0);
    j->n = n;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_init(&j->mu, NULL);
    bm_cond_init(&j->cv);
    for (size_t h = 0; h < helpers; h++) {
        struct bm_verifier_run r = {j};
        struct bm_ref_verifier to = {env->ids.verifier[h]};

        atomic_fetch_add(&j->refs, 1);
        if (bm_verifier_tell_run(env->sys, to, &r) != BM_OK) {
            atomic_fetch_sub(&j->refs, 1); /* not sent: still ours */
        }
    }
    b->job = j;
    return b;
}

void bm_verifier_finish(struct bm_verifier_batch *b)
{
    struct bm__verifier_job *j;

    if (b == NULL) {
        return;
    }
    j = b->job;
    if (j == NULL) {
        for (size_t i = 0; i < b->n; i++) {
            b->fn(b->arg, i);
        }
        bm_free(b);
        return;
    }
    (void)work(j, 0);
    pthread_mutex_lock(&j->mu);
    while (atomic_load(&j->active) != 0) {
        bm_cond_wait(&j->cv, &j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    bm_free(b);
}

void bm_verifier_each(struct bm_env *env, bm_verifier_fn *fn, void *arg,
                      size_t n)
{
    if (n == 0) {
        return;
    }
    bm_verifier_finish(bm_verifier_start(env, fn, arg, n));
}
