/*
 * Durable ingest (group commit) on a real sequencer with real fsync:
 * per-tx statuses, requests sharing commits, many threads, close with
 * requests queued.
 */
#include "bm_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blockv2/executor.h"
#include "blockv2/ingest.h"
#include "blockv2/sequencer.h"
#include "exec/kv/ingress.h"
#include "util/clock.h"
#include "util/errmsg.h"

#include "../exec/exec_test_util.h"

#define CHAIN "ingest-chain"

struct fx {
    char *dir;
    struct bm_seq *s;
    struct bm_ingest *g;
};

static void fx_init(struct fx *f, bool sync)
{
    struct bm_seq_options o = {0};
    char *p;

    f->dir = tmpdir_new();
    p = path_join(f->dir, "seq");
    o.no_sync = !sync;
    assert_int_equal(bm_seq_open(&f->s, p, CHAIN, &o, NULL), BM_OK);
    assert_int_equal(bm_ingest_new(&f->g, f->s, CHAIN, NULL, NULL), BM_OK);
    bm_free(p);
}

static void fx_done(struct fx *f)
{
    bm_ingest_free(f->g);
    bm_seq_free(f->s);
    tmpdir_free(f->dir);
}

/* A request with its own storage and a completion flag. */
struct req {
    struct bm_ingest_req r;
    struct bm_buf *txs;
    enum bm_err st[8];
    size_t n;
    pthread_mutex_t mu;
    struct bm_cond cv;
    atomic_int done; /* times done ran */
};

static void on_done(struct bm_ingest_req *r)
{
    struct req *q = r->arg;

    pthread_mutex_lock(&q->mu);
    atomic_fetch_add(&q->done, 1);
    bm_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void req_init(struct req *q, const char *const *s, size_t n)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    bm_cond_init(&q->cv);
    q->txs = txs_from(s, n);
    q->n = n;
    q->r.txs = q->txs;
    q->r.status = q->st;
    q->r.n = n;
    q->r.done = on_done;
    q->r.arg = q;
}

static void req_wait(struct req *q)
{
    pthread_mutex_lock(&q->mu);
    while (atomic_load(&q->done) == 0) {
        bm_cond_wait(&q->cv, &q->mu);
    }
    pthread_mutex_unlock(&q->mu);
}

static void req_release(struct req *q)
{
    bm_exec_txs_free(q->txs, q->n);
    bm_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

static void test_statuses(void **state)
{
    static const char *const s1[] = {"a=1", "b=2", "a=1"};
    static const char *const s2[] = {"b=2", "c=3"};
    struct fx f = {0};
    struct req q1;
    struct req q2;
    struct bm_ingest_stats st;
    size_t n = 0;

    (void)state;
    fx_init(&f, true);
    req_init(&q1, s1, 3);
    req_init(&q2, s2, 2);
    assert_int_equal(bm_ingest_submit(f.g, &q1.r), BM_OK);
    assert_int_equal(bm_ingest_submit(f.g, &q2.r), BM_OK);
    req_wait(&q1);
    req_wait(&q2);
    assert_int_equal(q1.st[0], BM_OK);
    assert_int_equal(q1.st[1], BM_OK);
    assert_int_equal(q1.st[2], BM_EEXIST); /* same request */
    assert_int_equal(q2.st[0], BM_EEXIST); /* other request, maybe same
                                              group: not written twice */
    assert_int_equal(q2.st[1], BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 3);
    bm_ingest_stats(f.g, &st);
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.txs, 5);
    assert_int_equal(st.queued, 3);
    /* Bad requests are refused at once; done never runs. */
    q1.r.n = 0;
    assert_int_equal(bm_ingest_submit(f.g, &q1.r), BM_EINVAL);
    q1.r.n = 3;
    q1.r.done = NULL;
    assert_int_equal(bm_ingest_submit(f.g, &q1.r), BM_EINVAL);
    assert_int_equal(atomic_load(&q1.done), 1);
    req_release(&q1);
    req_release(&q2);
    fx_done(&f);
}

#define BURST 200

/* Requests queued while a commit (with a real fsync) runs share the next
 * one: far fewer commits than requests. */
static void test_group_commit(void **state)
{
    struct fx f = {0};
    struct req *q = bm_xcalloc(BURST, sizeof(*q));
    struct bm_ingest_stats st;
    char names[BURST][16];
    size_t n = 0;

    (void)state;
    fx_init(&f, true);
    for (int i = 0; i < BURST; i++) {
        const char *s[1] = {names[i]};

        snprintf(names[i], sizeof(names[i]), "g%d=v", i);
        req_init(&q[i], s, 1);
    }
    for (int i = 0; i < BURST; i++) {
        assert_int_equal(bm_ingest_submit(f.g, &q[i].r), BM_OK);
    }
    for (int i = 0; i < BURST; i++) {
        req_wait(&q[i]);
        assert_int_equal(q[i].st[0], BM_OK);
        assert_int_equal(atomic_load(&q[i].done), 1);
        req_release(&q[i]);
    }
    bm_ingest_stats(f.g, &st);
    assert_int_equal(st.requests, BURST);
    assert_int_equal(st.queued, BURST);
    /* Submitting 200 requests takes microseconds, a synced commit far
     * longer: most of them wait together. */
    assert_true(st.commits <= BURST / 4);
    assert_true(st.max_group >= BURST / 4);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, BURST);
    bm_free(q);
    fx_done(&f);
}

#define THREADS 8
#define PER_THREAD 100

struct worker {
    struct bm_ingest *g;
    int id;
    int ok;
};

/* Each thread sends PER_THREAD requests of two txs, one at a time (as a
 * keep-alive HTTP client would), the second tx shared by all threads. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < PER_THREAD; i++) {
        char a[32];
        char b[32];
        const char *s[2] = {a, b};
        struct req q;

        snprintf(a, sizeof(a), "t%d-%d=v", w->id, i);
        snprintf(b, sizeof(b), "shared-%d=v", i);
        req_init(&q, s, 2);
        if (bm_ingest_submit(w->g, &q.r) == BM_OK) {
            req_wait(&q);
            w->ok += (q.st[0] == BM_OK) + (q.st[1] == BM_OK);
            if (q.st[1] != BM_OK && q.st[1] != BM_EEXIST) {
                w->ok = -100000;
            }
        }
        req_release(&q);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fx f = {0};
    pthread_t t[THREADS];
    struct worker w[THREADS];
    struct bm_ingest_stats st;
    int ok = 0;
    size_t n = 0;

    (void)state;
    fx_init(&f, false);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){f.g, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    /* Every unique tx once, every shared one once in all. */
    assert_int_equal(ok, THREADS * PER_THREAD + PER_THREAD);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, (size_t)ok);
    bm_ingest_stats(f.g, &st);
    assert_int_equal(st.requests, THREADS * PER_THREAD);
    fx_done(&f);
}

static atomic_size_t hook_queued;
static atomic_int hook_calls;

static void on_committed(void *arg, size_t queued)
{
    (void)arg;
    atomic_fetch_add(&hook_queued, queued);
    atomic_fetch_add(&hook_calls, 1);
}

/* The committed hook runs once per group that queued txs, before its
 * requests complete. */
static void test_committed_hook(void **state)
{
    static const char *const s1[] = {"h=1", "h=2"};
    static const char *const s2[] = {"h=1"};
    struct fx f = {0};
    struct bm_ingest_options io = {0};
    struct req q;

    (void)state;
    fx_init(&f, false);
    bm_ingest_free(f.g);
    io.committed = on_committed;
    assert_int_equal(bm_ingest_new(&f.g, f.s, CHAIN, &io, NULL), BM_OK);
    req_init(&q, s1, 2);
    assert_int_equal(bm_ingest_submit(f.g, &q.r), BM_OK);
    req_wait(&q);
    assert_int_equal(atomic_load(&hook_calls), 1);
    assert_int_equal(atomic_load(&hook_queued), 2);
    req_release(&q);
    /* Nothing new queued: no call. */
    req_init(&q, s2, 1);
    assert_int_equal(bm_ingest_submit(f.g, &q.r), BM_OK);
    req_wait(&q);
    assert_int_equal(q.st[0], BM_EEXIST);
    assert_int_equal(atomic_load(&hook_calls), 1);
    req_release(&q);
    fx_done(&f);
}

/* What the completed hook saw: calls, and requests done before each. */
static atomic_int done_calls;
static atomic_int completed_calls;
static atomic_int completed_bad; /* a call that came before a done */

static void on_done_count(struct bm_ingest_req *r)
{
    atomic_fetch_add(&done_calls, 1);
    on_done(r);
}

static void on_completed(void *arg)
{
    int *seen = arg; /* dones seen by the previous call */

    /* Every call follows at least one done of its own group. */
    if (atomic_load(&done_calls) <= *seen) {
        atomic_fetch_add(&completed_bad, 1);
    }
    *seen = atomic_load(&done_calls);
    atomic_fetch_add(&completed_calls, 1);
}

/* The completed hook runs once per group, after every done of the group
 * (so a caller can hand completions over and wake their threads in one
 * pass): never more often than groups, at least once after the last
 * done. */
static void test_completed_hook(void **state)
{
    struct fx f = {0};
    struct bm_ingest_options io = {0};
    struct bm_ingest_stats st;
    struct req *q = bm_xcalloc(BURST, sizeof(*q));
    char names[BURST][16];
    int seen = 0;

    (void)state;
    fx_init(&f, true);
    bm_ingest_free(f.g);
    io.completed = on_completed;
    io.completed_arg = &seen;
    assert_int_equal(bm_ingest_new(&f.g, f.s, CHAIN, &io, NULL), BM_OK);
    for (int i = 0; i < BURST; i++) {
        const char *s[1] = {names[i]};

        /* Every fourth a duplicate of the one before: groups that queue
         * nothing new complete (and call the hook) too. */
        snprintf(names[i], sizeof(names[i]), "u%d=v", i - (i % 4 == 3));
        req_init(&q[i], s, 1);
        q[i].r.done = on_done_count;
    }
    for (int i = 0; i < BURST; i++) {
        assert_int_equal(bm_ingest_submit(f.g, &q[i].r), BM_OK);
    }
    for (int i = 0; i < BURST; i++) {
        req_wait(&q[i]);
    }
    bm_ingest_close(f.g); /* the last group's hook has returned */
    bm_ingest_stats(f.g, &st);
    assert_int_equal(atomic_load(&done_calls), BURST);
    assert_int_equal((uint64_t)atomic_load(&completed_calls), st.commits);
    assert_int_equal(atomic_load(&completed_bad), 0);
    assert_int_equal(seen, BURST);
    for (int i = 0; i < BURST; i++) {
        assert_int_equal(q[i].st[0], i % 4 == 3 ? BM_EEXIST : BM_OK);
        req_release(&q[i]);
    }
    bm_free(q);
    fx_done(&f);
}

/* The committed hook of the child below: the process dies right after
 * the group's write (committed, its data flushed; on disk for a process
 * crash), before any request is answered. */
static void die_after_commit(void *arg, size_t queued)
{
    (void)arg;
    (void)queued;
    raise(SIGKILL);
}

/*
 * kill -9 between the sync and the answers: a child process submits a
 * group through a real ingest with a real fsync and is killed by the
 * committed hook (after the write, before any done). Its txs were never
 * answered, but they are on disk: the reopened queue holds every one, and
 * submitting them again gives BM_EEXIST (a client that resends after the
 * lost answer gets 409), never a second copy.
 */
static void test_kill_before_answer(void **state)
{
    static const char *const s[] = {"kill1=a", "kill2=b", "kill3=c"};
    char *dir = tmpdir_new();
    char *p = path_join(dir, "seq");
    int wst = 0;
    pid_t pid;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: a real sequencer and ingest; never returns. */
        struct bm_seq_options o = {0};
        struct bm_ingest_options io = {0};
        struct bm_seq *sq = NULL;
        struct bm_ingest *g = NULL;
        struct req q;

        io.committed = die_after_commit;
        if (bm_seq_open(&sq, p, CHAIN, &o, NULL) != BM_OK ||
            bm_ingest_new(&g, sq, CHAIN, &io, NULL) != BM_OK) {
            _exit(3);
        }
        req_init(&q, s, 3);
        if (bm_ingest_submit(g, &q.r) != BM_OK) {
            _exit(4);
        }
        req_wait(&q);
        _exit(5); /* answered: the hook did not run first */
    }
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst));
    assert_int_equal(WTERMSIG(wst), SIGKILL);
    {
        struct bm_seq_options o = {0};
        struct bm_seq *sq = NULL;
        struct bm_buf *txs = txs_from(s, 3);
        enum bm_err st[3];
        size_t n = 0;

        assert_int_equal(bm_seq_open(&sq, p, CHAIN, &o, NULL), BM_OK);
        bm_seq_queue_size(sq, &n, NULL);
        assert_int_equal(n, 3);
        assert_int_equal(bm_seq_submit_each(sq, (const uint8_t *)CHAIN,
                                            strlen(CHAIN), txs, NULL, 3, st,
                                            NULL),
                         BM_OK);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(st[i], BM_EEXIST);
        }
        bm_seq_queue_size(sq, &n, NULL);
        assert_int_equal(n, 3);
        bm_exec_txs_free(txs, 3);
        bm_seq_free(sq);
    }
    bm_free(p);
    tmpdir_free(dir);
}

/*
 * The deferred write of the group commit: a write is durable once a later
 * write's commit (which flushes it) returned, or after bm_seq_sync; a
 * write that queued nothing has ticket 0 (nothing to wait for).
 */
static void test_deferred_durable(void **state)
{
    static const char *const s1[] = {"d1=a", "d2=b"};
    static const char *const s2[] = {"d3=c"};
    struct fx f = {0};
    struct bm_buf *t1 = txs_from(s1, 2);
    struct bm_buf *t2 = txs_from(s2, 1);
    enum bm_err st[2];
    uint64_t k1 = 0;
    uint64_t k2 = 0;
    uint64_t k3 = 7;
    size_t n = 0;

    (void)state;
    fx_init(&f, true);
    assert_int_equal(bm_seq_submit_each_deferred(f.s, (const uint8_t *)CHAIN,
                                                 strlen(CHAIN), t1, NULL, 2,
                                                 st, &k1, NULL),
                     BM_OK);
    assert_int_equal(st[0], BM_OK);
    assert_int_equal(st[1], BM_OK);
    assert_true(k1 > 0);
    assert_false(bm_seq_durable(f.s, k1)); /* its meta page not flushed */
    assert_int_equal(bm_seq_submit_each_deferred(f.s, (const uint8_t *)CHAIN,
                                                 strlen(CHAIN), t2, NULL, 1,
                                                 st, &k2, NULL),
                     BM_OK);
    assert_true(k2 > k1);
    assert_true(bm_seq_durable(f.s, k1)); /* flushed by the second */
    assert_false(bm_seq_durable(f.s, k2));
    /* Duplicates only: nothing written, nothing to wait for. */
    assert_int_equal(bm_seq_submit_each_deferred(f.s, (const uint8_t *)CHAIN,
                                                 strlen(CHAIN), t2, NULL, 1,
                                                 st, &k3, NULL),
                     BM_OK);
    assert_int_equal(st[0], BM_EEXIST);
    assert_int_equal(k3, 0);
    assert_true(bm_seq_durable(f.s, k3));
    assert_false(bm_seq_durable(f.s, k2));
    assert_int_equal(bm_seq_sync(f.s, NULL), BM_OK);
    assert_true(bm_seq_durable(f.s, k2));
    /* A synced submit is durable at once. */
    assert_int_equal(bm_seq_submit_each(f.s, (const uint8_t *)CHAIN,
                                        strlen(CHAIN), t2, NULL, 1, st,
                                        NULL),
                     BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 3);
    bm_exec_txs_free(t1, 2);
    bm_exec_txs_free(t2, 1);
    fx_done(&f);
}

/* Close completes what is queued, then refuses. */
static void test_close(void **state)
{
    struct fx f = {0};
    struct req *q = bm_xcalloc(50, sizeof(*q));
    char names[50][16];
    struct req late;
    static const char *const s1[] = {"late=1"};

    (void)state;
    fx_init(&f, true);
    for (int i = 0; i < 50; i++) {
        const char *s[1] = {names[i]};

        snprintf(names[i], sizeof(names[i]), "c%d=v", i);
        req_init(&q[i], s, 1);
        assert_int_equal(bm_ingest_submit(f.g, &q[i].r), BM_OK);
    }
    bm_ingest_close(f.g);
    for (int i = 0; i < 50; i++) {
        /* All completed by the time close returned. */
        assert_int_equal(atomic_load(&q[i].done), 1);
        assert_int_equal(q[i].st[0], BM_OK);
        req_release(&q[i]);
    }
    req_init(&late, s1, 1);
    assert_int_equal(bm_ingest_submit(f.g, &late.r), BM_ECLOSED);
    assert_int_equal(atomic_load(&late.done), 0);
    req_release(&late);
    bm_ingest_close(f.g); /* idempotent */
    bm_free(q);
    fx_done(&f);
}

/* The ingress path without its threads: parse a batch body, submit it,
 * render the reply. */
static enum bm_err ingress_round(struct bm_seq *s, const char *body)
{
    struct bm_ingress_req r = {0};
    struct bm_buf out = {0};
    int status = 0;
    enum bm_err err;

    err = bm_ingress_parse("application/json", (const uint8_t *)body,
                           strlen(body), &r, NULL);
    if (err == BM_OK) {
        err = bm_seq_submit_each(s, (const uint8_t *)CHAIN, strlen(CHAIN),
                                 r.sub_txs, r.sub_hash, r.n_sub,
                                 r.sub_status, NULL);
    }
    if (err == BM_OK) {
        bm_ingress_req_settle(&r);
        err = bm_ingress_req_reply(&r, &status, &out);
    }
    if (err == BM_OK && (status != 200 || bm_ingress_req_accepted(&r) != 2)) {
        err = BM_ESTATE;
    }
    bm_buf_release(&out);
    bm_ingress_req_release(&r);
    return err;
}

/* Fails the n-th allocation for every n: each failure is BM_ENOMEM,
 * nothing leaks, a request is queued whole or not at all (a failure after
 * the commit, e.g. rendering the reply, leaves it queued: the client's
 * retry gets 409), and a retry completes. */
static void test_oom(void **state)
{
    static const char body[] = "{\"txs\":[\"o1=a\",\"bad\",\"o2=b\"]}";
    bool hit = true;

    (void)state;
    for (int64_t n = 1; hit && n < 500; n++) {
        struct fx f = {0};
        size_t q = 0;
        enum bm_err err;

        fx_init(&f, false);
        bm_alloc_fail_after(n);
        err = ingress_round(f.s, body);
        hit = err != BM_OK;
        bm_alloc_fail_after(0);
        assert_true(err == BM_OK || err == BM_ENOMEM);
        bm_seq_queue_size(f.s, &q, NULL);
        assert_true(q == 0 || q == 2);
        assert_true(hit || q == 2);
        if (hit && q == 0) {
            assert_int_equal(ingress_round(f.s, body), BM_OK);
        }
        fx_done(&f);
    }
    assert_false(hit); /* the loop ran past the last allocation */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: it forks, best while the process has no other thread. */
        cmocka_unit_test(test_kill_before_answer),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_committed_hook),
        cmocka_unit_test(test_completed_hook),
        cmocka_unit_test(test_deferred_durable),
        cmocka_unit_test(test_oom),
    };

    return BM_TEST_RUN(tests);
}
