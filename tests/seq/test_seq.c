/* Single sequencer: persisted FIFO, dedup, packing, ack, bounds, V21. */
#include "bm_test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "blockv2/executor.h"
#include "blockv2/sequencer.h"
#include "exec/kv/kv.h"
#include "util/errmsg.h"
#include "util/hex.h"

#include "../exec/exec_test_util.h"

#define CHAIN "test-chain"
#define ID ((const uint8_t *)CHAIN)
#define ID_LEN (sizeof(CHAIN) - 1)

struct fx {
    char *dir;
    char *seqdir;
    struct bm_seq *s;
    struct bm_seq_options o;
};

static void fx_open(struct fx *f)
{
    struct bm_errmsg em = {{0}};

    assert_int_equal(bm_seq_open(&f->s, f->seqdir, CHAIN, &f->o, &em), BM_OK);
}

static void fx_init(struct fx *f)
{
    f->o.no_sync = true;
    f->dir = tmpdir_new();
    f->seqdir = path_join(f->dir, "data/seq");
    fx_open(f);
}

static void fx_reopen(struct fx *f)
{
    bm_seq_free(f->s);
    f->s = NULL;
    fx_open(f);
}

static void fx_done(struct fx *f)
{
    bm_seq_free(f->s);
    bm_free(f->seqdir);
    tmpdir_free(f->dir);
}

static void submit(struct fx *f, const char *const *s, size_t n,
                   size_t want_accepted)
{
    struct bm_buf *txs = txs_from(s, n);
    size_t acc = 99;

    assert_int_equal(bm_seq_submit(f->s, ID, ID_LEN, txs, n, &acc, NULL),
                     BM_OK);
    assert_int_equal(acc, want_accepted);
    bm_exec_txs_free(txs, n);
}

/* Gets a batch and checks its txs are exactly want[0..n). */
static void expect_batch(struct fx *f, uint64_t max_bytes,
                         const char *const *want, size_t n)
{
    struct bm_seq_batch b = {0};

    assert_int_equal(bm_seq_get_next_batch(f->s, ID, ID_LEN, max_bytes, &b,
                                           NULL), BM_OK);
    assert_int_equal(b.batch.n_txs, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(tx_is(&b.batch.txs[i], want[i]));
    }
    assert_true(b.timestamp_ns > 0);
    bm_seq_batch_release(&b);
}

static void test_batch_hash_v21(void **state)
{
    static const char *const s[] = {"tx1", "tx2"};
    struct bm_buf *txs = txs_from(s, 2);
    struct bm_hash h;
    char hex[65];

    (void)state;
    bm_seq_batch_hash(txs, 2, &h);
    bm_hex_encode(hex, h.b, BM_HASH_SIZE);
    assert_string_equal(hex, "5408871304dc3dfaf976aa6e13a84e3271107476188799"
                             "877c3dd6d9deb4224a");
    /* Same as the types module's bm_batch_hash. */
    {
        struct bm_batch b = {2, txs};
        struct bm_hash h2;

        assert_int_equal(bm_batch_hash(&b, &h2), BM_OK);
        assert_memory_equal(h.b, h2.b, BM_HASH_SIZE);
    }
    bm_seq_batch_hash(NULL, 0, &h);
    bm_hex_encode(hex, h.b, BM_HASH_SIZE);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b93"
                             "4ca495991b7852b855");
    bm_exec_txs_free(txs, 2);
}

static void test_chain_id(void **state)
{
    static const char *const s[] = {"a=1"};
    struct fx f = {0};
    struct bm_buf *txs = txs_from(s, 1);
    struct bm_errmsg em = {{0}};
    struct bm_seq_batch b = {0};
    struct bm_seq *other = NULL;
    bool ok = false;

    (void)state;
    fx_init(&f);
    assert_int_equal(bm_seq_submit(f.s, (const uint8_t *)"other", 5, txs, 1,
                                   NULL, &em), BM_ECHAIN_ID_MISMATCH);
    assert_non_null(strstr(em.msg, "invalid chain id"));
    assert_int_equal(bm_seq_get_next_batch(f.s, (const uint8_t *)"test-chaiN",
                                           ID_LEN, 0, &b, NULL),
                     BM_ECHAIN_ID_MISMATCH);
    assert_int_equal(bm_seq_verify_batch(f.s, ID, ID_LEN, NULL, 0, &ok, NULL),
                     BM_OK);
    assert_true(ok);
    assert_int_equal(bm_seq_verify_batch(f.s, ID, 3, NULL, 0, &ok, NULL),
                     BM_ECHAIN_ID_MISMATCH);
    assert_false(ok);
    /* The queue directory belongs to CHAIN. */
    bm_seq_free(f.s);
    f.s = NULL;
    assert_int_equal(bm_seq_open(&other, f.seqdir, "other", &f.o, NULL),
                     BM_ECHAIN_ID_MISMATCH);
    fx_open(&f);
    bm_exec_txs_free(txs, 1);
    fx_done(&f);
}

static void test_fifo_and_restart_order(void **state)
{
    /* Hash order differs from submission order. */
    static const char *const b1[] = {"zz=1", "aa=2", "mm=3"};
    static const char *const b2[] = {"bb=4", "yy=5"};
    static const char *const all[] = {"zz=1", "aa=2", "mm=3", "bb=4", "yy=5"};
    static const char *const b3[] = {"cc=6", "dd=7"};
    struct fx f = {0};
    size_t n = 0;
    size_t bytes = 0;

    (void)state;
    fx_init(&f);
    expect_batch(&f, 0, NULL, 0); /* empty queue: empty batch */
    submit(&f, b1, 3, 3);
    submit(&f, b2, 2, 2);
    submit(&f, NULL, 0, 0);
    fx_reopen(&f);
    bm_seq_queue_size(f.s, &n, &bytes);
    assert_int_equal(n, 5);
    assert_int_equal(bytes, 20);
    expect_batch(&f, 0, all, 5);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 0);
    fx_reopen(&f);
    expect_batch(&f, 0, NULL, 0);
    /* The committed txs are still duplicates after the restart (the
     * window is persisted); appending new ones after a full drain +
     * restart keeps working. */
    submit(&f, b2, 2, 0);
    submit(&f, b3, 2, 2);
    expect_batch(&f, 0, b3, 2);
    fx_done(&f);
}

static void test_dedup(void **state)
{
    static const char *const b1[] = {"a=1", "b=2", "a=1", ""};
    static const char *const b2[] = {"b=2", "c=3"};
    static const char *const want[] = {"a=1", "b=2", "c=3"};
    static const char *const again[] = {"a=1"};
    static const char *const c3[] = {"c=3"};
    struct fx f = {0};

    (void)state;
    f.o.recent_txs = 2; /* window of the last 2 committed txs */
    fx_init(&f);
    submit(&f, b1, 4, 2);
    submit(&f, b2, 2, 1);
    expect_batch(&f, 0, want, 3);
    /* In flight: still a duplicate. */
    submit(&f, again, 1, 0);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    /* Committed a moment ago (in the window): a stale copy, dropped. */
    submit(&f, c3, 1, 0);
    /* a=1 left the 2-tx window: the same bytes may be queued again. */
    submit(&f, again, 1, 1);
    /* The dedup set of queued txs survives restart. */
    fx_reopen(&f);
    submit(&f, again, 1, 0);
    fx_done(&f);
}

static void test_max_bytes_packing(void **state)
{
    static const char *const s[] = {"k1=aaaaaa", "k2=bbbbbb", "k3=cccccc",
                                    "k4=dddddd"}; /* 9 bytes each */
    static const char *const big[] = {"big=0123456789"};
    struct fx f = {0};

    (void)state;
    fx_init(&f);
    submit(&f, s, 4, 4);
    submit(&f, big, 1, 1);
    /* Each tx counts as a Data entry: 9 bytes take 11, 14 take 16. */
    expect_batch(&f, 21, s, 1);
    expect_batch(&f, 22, s, 2);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    expect_batch(&f, 37, s + 2, 2);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    /* The head alone exceeds max_bytes: it still goes out alone. */
    expect_batch(&f, 5, big, 1);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    fx_done(&f);
}

/* max_batch_txs caps a batch by count ([node.max_block_txs]); the bytes
 * still cap it first when tighter. */
static void test_max_batch_txs(void **state)
{
    static const char *const s[] = {"k1=aaaaaa", "k2=bbbbbb", "k3=cccccc",
                                    "k4=dddddd", "k5=eeeeee"};
    struct fx f = {0};

    (void)state;
    f.o.max_batch_txs = 2;
    fx_init(&f);
    submit(&f, s, 5, 5);
    expect_batch(&f, 0, s, 2);
    /* not acked: the same head again */
    expect_batch(&f, 1000, s, 2);
    expect_batch(&f, 11, s, 1);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    expect_batch(&f, 0, s + 1, 2);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    expect_batch(&f, 0, s + 3, 2);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    expect_batch(&f, 0, s + 5, 0);
    fx_done(&f);
}

static void test_unacked_return(void **state)
{
    static const char *const s[] = {"a=1", "b=2", "c=3"};
    static const char *const late[] = {"d=4"};
    static const char *const rest[] = {"c=3", "d=4"};
    struct fx f = {0};

    (void)state;
    fx_init(&f);
    submit(&f, s, 3, 3);
    expect_batch(&f, 10, s, 2);
    /* No ack (block failed): the same txs come back. */
    expect_batch(&f, 10, s, 2);
    /* Crash without ack: they come back after restart, in order. */
    fx_reopen(&f);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK); /* nothing in flight */
    expect_batch(&f, 10, s, 2);
    submit(&f, late, 1, 1); /* while a batch is in flight */
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK); /* second ack: no-op */
    fx_reopen(&f);
    expect_batch(&f, 0, rest, 2);
    fx_done(&f);
}

/* Lowering the longest tx accepted: refused while a longer tx is queued
 * (also after a restart), applied once it is gone. */
static void test_cap_tx_bytes(void **state)
{
    static const char *const s[] = {"a=1", "long=0123456789"}; /* 3, 15 */
    static const char *const mid[] = {"mid=01234567"};           /* 12 */
    static const char *const all[] = {"a=1", "long=0123456789",
                                      "mid=01234567"};
    static const char *const small[] = {"b=2"};
    struct fx f = {0};
    struct bm_buf *txs = txs_from(mid, 1);
    struct bm_errmsg em = {{0}};

    (void)state;
    fx_init(&f);
    submit(&f, s, 2, 2);
    /* 0, or above the current limit: nothing changes. */
    assert_int_equal(bm_seq_cap_tx_bytes(f.s, 0, &em), BM_OK);
    assert_int_equal(bm_seq_cap_tx_bytes(f.s, (size_t)BM_MAX_TX_SIZE * 2,
                                         &em), BM_OK);
    assert_int_equal(bm_seq_cap_tx_bytes(f.s, 10, &em), BM_ETOOBIG);
    assert_non_null(strstr(em.msg, "15 bytes"));
    assert_non_null(strstr(em.msg, "limit of 10"));
    submit(&f, mid, 1, 1); /* the limit did not change */
    fx_reopen(&f);
    assert_int_equal(bm_seq_cap_tx_bytes(f.s, 10, &em), BM_ETOOBIG);
    expect_batch(&f, 0, all, 3);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    assert_int_equal(bm_seq_cap_tx_bytes(f.s, 10, &em), BM_OK);
    assert_int_equal(bm_seq_submit(f.s, ID, ID_LEN, txs, 1, NULL, &em),
                     BM_ETOOBIG);
    submit(&f, small, 1, 1);
    bm_exec_txs_free(txs, 1);
    fx_done(&f);
}

static void test_queue_full_and_oversize(void **state)
{
    static const char *const s[] = {"a=1", "b=2"};
    static const char *const more[] = {"c=3", "d=4"};
    static const char *const one[] = {"c=3"};
    struct fx f = {0};
    struct bm_buf *txs = txs_from(more, 2);
    struct bm_errmsg em = {{0}};
    size_t n = 0;
    struct bm_buf huge = {0};

    (void)state;
    f.o.max_queue_txs = 3;
    f.o.max_tx_bytes = 16;
    fx_init(&f);
    submit(&f, s, 2, 2);
    assert_int_equal(bm_seq_submit(f.s, ID, ID_LEN, txs, 2, NULL, &em),
                     BM_EQUEUE_FULL);
    assert_non_null(strstr(em.msg, "queue full"));
    assert_int_equal(bm_seq_submit(f.s, ID, ID_LEN, txs, 2, NULL, NULL),
                     BM_EQUEUE_FULL);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 2); /* nothing of the refused batch was queued */
    submit(&f, one, 1, 1);  /* fits, and c=3 was not left in the set */
    assert_int_equal(bm_buf_set(&huge, (const uint8_t *)"k=0123456789abcdef",
                                18), BM_OK);
    assert_int_equal(bm_seq_submit(f.s, ID, ID_LEN, &huge, 1, NULL, &em),
                     BM_ETOOBIG);
    bm_buf_release(&huge);
    bm_exec_txs_free(txs, 2);
    fx_done(&f);
}

/* bm_seq_submit_each on txs s[0..n); expects statuses want[0..n). */
static void submit_each(struct fx *f, const char *const *s, size_t n,
                        const enum bm_err *want)
{
    struct bm_buf *txs = txs_from(s, n);
    enum bm_err st[16];
    struct bm_errmsg em = {{0}};

    assert_true(n <= 16);
    memset(st, 0x7f, sizeof(st));
    assert_int_equal(bm_seq_submit_each(f->s, ID, ID_LEN, txs, NULL, n, st,
                                        &em),
                     BM_OK);
    for (size_t i = 0; i < n; i++) {
        if (st[i] != want[i]) {
            fail_msg("tx %zu '%s': %s, want %s", i, s[i], bm_err_name(st[i]),
                     bm_err_name(want[i]));
        }
    }
    bm_exec_txs_free(txs, n);
}

/* The durable ingress path: one status per tx. */
static void test_submit_each(void **state)
{
    static const char *const b1[] = {"a=1", "b=2", "a=1", "",
                                     "k=0123456789abcdef", "c=3", "d=4"};
    static const enum bm_err w1[] = {BM_OK,     BM_OK,    BM_EEXIST,
                                     BM_EEMPTY, BM_ETOOBIG, BM_OK,
                                     BM_EQUEUE_FULL};
    static const char *const b2[] = {"b=2", "e=5", "a=1"};
    static const enum bm_err w2[] = {BM_EEXIST, BM_EQUEUE_FULL, BM_EEXIST};
    static const char *const first3[] = {"a=1", "b=2", "c=3"};
    static const char *const b3[] = {"a=1", "e=5", "f=6"};
    static const enum bm_err w3[] = {BM_EEXIST, BM_OK, BM_OK};
    struct fx f = {0};
    struct bm_buf *txs = txs_from(b2, 1);
    struct bm_hash h[1];
    enum bm_err st[1];
    size_t n = 0;

    (void)state;
    f.o.max_queue_txs = 3;
    f.o.max_tx_bytes = 16;
    fx_init(&f);
    submit_each(&f, b1, 7, w1);
    /* Queued (and in flight): duplicates; no room for a new one. */
    submit_each(&f, b2, 3, w2);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 3);
    expect_batch(&f, 0, first3, 3);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    /* Committed: still a duplicate, also after a restart. */
    fx_reopen(&f);
    submit_each(&f, b3, 3, w3);
    /* Hashes given by the caller are used as they are. */
    bm_exec_tx_hash(txs[0].ptr, txs[0].len, &h[0]);
    assert_int_equal(bm_seq_submit_each(f.s, ID, ID_LEN, txs, h, 1, st,
                                        NULL),
                     BM_OK);
    assert_int_equal(st[0], BM_EEXIST);
    /* Wrong chain: the call fails, nothing is queued. */
    assert_int_equal(bm_seq_submit_each(f.s, (const uint8_t *)"x", 1, txs,
                                        NULL, 1, st, NULL),
                     BM_ECHAIN_ID_MISMATCH);
    bm_exec_txs_free(txs, 1);
    fx_done(&f);
}

/* Acks n txs named p0..p(n-1) (prefix p) as one batch. */
static void commit_named(struct fx *f, char p, int n)
{
    char buf[8][8];
    const char *s[8];

    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%c%d=x", p, i);
        s[i] = buf[i];
    }
    submit(f, s, (size_t)n, (size_t)n);
    expect_batch(f, 0, s, (size_t)n);
    assert_int_equal(bm_seq_ack(f->s, NULL), BM_OK);
}

/* The persisted window keeps at least recent_txs fingerprints, prunes
 * older records, and reloads the newest after a restart. */
/* max_waiting_txs: submit_each (POST /tx) takes a tx only while fewer
 * wait for a block (the batch handed out does not count); submit (the
 * reaper) is not held to it. */
static void test_max_waiting_txs(void **state)
{
    static const char *const s1[] = {"a=1", "b=2", "c=3", "d=4"};
    static const enum bm_err w1[] = {BM_OK, BM_OK, BM_EQUEUE_FULL,
                                     BM_EQUEUE_FULL};
    static const char *const s2[] = {"c=3", "d=4", "e=5"};
    static const enum bm_err w2[] = {BM_OK, BM_OK, BM_EQUEUE_FULL};
    static const char *const first2[] = {"a=1", "b=2"};
    static const char *const r[] = {"r=1", "s=2"};
    struct fx f = {0};
    size_t n = 0;

    (void)state;
    f.o.max_waiting_txs = 2;
    fx_init(&f);
    submit_each(&f, s1, 4, w1);
    /* Handed out to a block: two more may wait behind it. */
    expect_batch(&f, 0, first2, 2);
    submit_each(&f, s2, 3, w2);
    /* The reaper's path is not capped. */
    submit(&f, r, 2, 2);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 6);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 4);
    fx_done(&f);
}

static void test_recent_window_persisted(void **state)
{
    static const char *const a0[] = {"a0=x"};
    static const char *const b0[] = {"b0=x"};
    static const char *const b1[] = {"b1=x"};
    static const char *const c1[] = {"c1=x"};
    struct fx f = {0};

    (void)state;
    f.o.recent_txs = 4;
    fx_init(&f);
    commit_named(&f, 'a', 3);
    commit_named(&f, 'b', 3);
    commit_named(&f, 'c', 2);
    for (int round = 0; round < 2; round++) {
        /* The window is the last 4: b1, b2, c0, c1. */
        submit(&f, c1, 1, 0);
        submit(&f, b1, 1, 0);
        if (round == 0) {
            fx_reopen(&f);
        }
    }
    /* Older ones left the window (and their record was pruned). */
    submit(&f, a0, 1, 1);
    submit(&f, b0, 1, 1);
    fx_done(&f);
}

/* Test executor whose filter postpones txs starting with 'p' while
 * ctx->postpone is set (KV never postpones within the drain budget). */
struct pp_exec {
    bool postpone;
};

static enum bm_err pp_filter(void *ctx, const struct bm_buf *txs, size_t n,
                             uint64_t max_bytes, uint64_t max_gas,
                             bool forced, enum bm_filter_status *st,
                             struct bm_errmsg *em)
{
    struct pp_exec *p = ctx;

    (void)max_bytes;
    (void)max_gas;
    (void)forced;
    (void)em;
    for (size_t i = 0; i < n; i++) {
        st[i] = p->postpone && txs[i].ptr[0] == 'p' ? BM_FILTER_POSTPONE
                                                     : BM_FILTER_OK;
    }
    return BM_OK;
}

static void test_filter_with_kv(void **state)
{
    static const char *const s[] = {"a=1", "bad", "b=2", "c=3"};
    static const char *const ok[] = {"a=1", "b=2", "c=3"};
    static const char *const s2[] = {"x=1", "p=2", "y=3"};
    static const char *const ok2[] = {"x=1", "y=3"};
    static const char *const then[] = {"z=4", "p=2"};
    static const char *const z[] = {"z=4"};
    static const struct bm_executor_ops pp_ops = {.filter_txs = pp_filter};
    struct pp_exec pp = {true};
    struct bm_executor ppx = {&pp_ops, &pp};
    struct fx f = {0};
    struct bm_kv *kv = NULL;
    struct bm_kv_options ko = {.no_sync = true};
    struct bm_executor ex;
    char *kvdir;
    size_t n = 0;

    (void)state;
    f.dir = tmpdir_new();
    kvdir = path_join(f.dir, "data/kv");
    assert_int_equal(bm_kv_open(&kv, kvdir, &ko, NULL), BM_OK);
    bm_kv_executor(kv, &ex);
    f.o.no_sync = true;
    f.o.exec = &ex;
    f.seqdir = path_join(f.dir, "data/seq");
    fx_open(&f);
    submit(&f, s, 4, 4);
    /* The malformed tx is removed from the batch and deleted at ack. */
    expect_batch(&f, 0, ok, 3);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 0);

    /* Postponed txs are re-queued at the tail at ack. */
    bm_seq_free(f.s);
    f.s = NULL;
    f.o.exec = &ppx;
    fx_open(&f);
    submit(&f, s2, 3, 3);
    expect_batch(&f, 0, ok2, 2);
    submit(&f, z, 1, 1);
    submit(&f, s2 + 1, 1, 0); /* postponed tx is still a duplicate */
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 2);
    pp.postpone = false;
    fx_reopen(&f);
    expect_batch(&f, 0, then, 2);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    bm_seq_free(f.s);
    f.s = NULL;
    bm_kv_free(kv);
    fx_done(&f);
    bm_free(kvdir);
}

static void test_drop_committed(void **state)
{
    static const char *const s[] = {"a=1", "b=2", "c=3", "d=4"};
    static const char *const committed[] = {"a=1", "b=2", "x=9"};
    static const char *const rest[] = {"c=3", "d=4"};
    static const char *const again[] = {"a=1", "e=5"};
    static const char *const tail[] = {"c=3", "d=4", "e=5"};
    struct fx f = {0};
    struct bm_buf *ct = txs_from(committed, 3);
    struct bm_seq_batch b = {0};
    size_t dropped = 0;
    size_t n = 0;

    (void)state;
    fx_init(&f);
    submit(&f, s, 4, 4);
    assert_int_equal(bm_seq_get_next_batch(f.s, ID, ID_LEN, 6, &b, NULL),
                     BM_OK);
    /* The block holding a=1,b=2 committed but the batch was never acked
     * (the producer restarted): the batch in flight is released and the
     * committed txs dropped. */
    assert_int_equal(bm_seq_drop_committed(f.s, ct, 3, &dropped, NULL),
                     BM_OK);
    assert_int_equal(dropped, 2);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 2);
    expect_batch(&f, 0, rest, 2);
    /* The dropped txs count as recently committed; order stays FIFO. */
    submit(&f, again, 2, 1);
    expect_batch(&f, 0, tail, 3);
    fx_reopen(&f);
    expect_batch(&f, 0, tail, 3);
    /* The drop recorded a=1 and b=2 as committed, on disk too. */
    submit(&f, committed, 2, 0);
    /* After a crash the same call finds nothing more to drop. */
    assert_int_equal(bm_seq_drop_committed(f.s, ct, 3, &dropped, NULL),
                     BM_OK);
    assert_int_equal(dropped, 0);
    bm_seq_batch_release(&b);
    bm_exec_txs_free(ct, 3);
    fx_done(&f);
}

/* Txs another leader put in blocks (an HA follower's Sync): queued
 * copies go, every one of them counts as committed (also the ones never
 * queued here, and after a restart), the rest of the queue keeps its
 * order, and a call with no queued tx does not touch the queue. */
static void test_note_committed(void **state)
{
    static const char *const s[] = {"a=1", "b=2", "c=3", "d=4"};
    static const char *const synced[] = {"b=2", "x=9", "d=4"};
    static const char *const rest[] = {"a=1", "c=3"};
    static const char *const later[] = {"y=8", "z=7"};
    static const char *const fwd[] = {"b=2", "x=9", "d=4", "y=8", "e=5"};
    static const char *const tail[] = {"a=1", "c=3", "e=5"};
    static const enum bm_err dup[] = {BM_EEXIST, BM_EEXIST, BM_EEXIST,
                                      BM_EEXIST, BM_OK};
    struct bm_buf *st = txs_from(synced, 3);
    struct bm_buf *lt = txs_from(later, 2);
    struct bm_hash h[3];
    struct fx f = {0};
    size_t dropped = 99;
    size_t n = 0;

    (void)state;
    fx_init(&f);
    submit(&f, s, 4, 4);
    for (size_t i = 0; i < 3; i++) {
        bm_exec_tx_hash(st[i].ptr, st[i].len, &h[i]);
    }
    assert_int_equal(bm_seq_note_committed(f.s, h, 3, &dropped, NULL), BM_OK);
    assert_int_equal(dropped, 2);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 2);
    expect_batch(&f, 0, rest, 2);
    /* None queued: only the window grows. */
    for (size_t i = 0; i < 2; i++) {
        bm_exec_tx_hash(lt[i].ptr, lt[i].len, &h[i]);
    }
    assert_int_equal(bm_seq_note_committed(f.s, h, 2, &dropped, NULL), BM_OK);
    assert_int_equal(dropped, 0);
    assert_int_equal(bm_seq_note_committed(f.s, NULL, 0, NULL, NULL), BM_OK);
    fx_reopen(&f);
    /* Forwarded copies of committed txs are duplicates, on disk too. */
    submit_each(&f, fwd, 5, dup);
    expect_batch(&f, 0, tail, 3);
    bm_exec_txs_free(st, 3);
    bm_exec_txs_free(lt, 2);
    fx_done(&f);
}

/* A batch in flight (the Producer's) is left to its ack: a committed
 * copy in it is not deleted, the queued ones after it are. */
static void test_note_committed_in_flight(void **state)
{
    static const char *const s[] = {"a=1", "b=2", "c=3"};
    static const char *const rest[] = {"b=2"};
    struct fx f = {0};
    struct bm_seq_batch b = {0};
    struct bm_hash h[2];
    size_t dropped = 0;
    size_t n = 0;

    (void)state;
    fx_init(&f);
    submit(&f, s, 3, 3);
    assert_int_equal(bm_seq_get_next_batch(f.s, ID, ID_LEN, 4, &b, NULL),
                     BM_OK);
    assert_int_equal(b.batch.n_txs, 1); /* a=1 in flight */
    bm_exec_tx_hash((const uint8_t *)"a=1", 3, &h[0]);
    bm_exec_tx_hash((const uint8_t *)"c=3", 3, &h[1]);
    assert_int_equal(bm_seq_note_committed(f.s, h, 2, &dropped, NULL), BM_OK);
    assert_int_equal(dropped, 1);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 2);
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 1);
    expect_batch(&f, 0, rest, 1);
    bm_seq_batch_release(&b);
    fx_done(&f);
}

/* Forwarding's view of the queue: peek copies from the head past a batch
 * in flight and changes nothing; forget deletes by id, durably, skips a
 * batch in flight and ids already gone, and the forgotten txs are not
 * "committed" (a new submission queues them again). */
static void test_peek_forget(void **state)
{
    static const char *const s[] = {"a=1", "b=2", "c=3", "d=4", "e=5"};
    static const char *const rest[] = {"a=1", "d=4"};
    static const char *const back[] = {"b=2"};
    static const char *const tail[] = {"d=4", "b=2"};
    struct fx f = {0};
    struct bm_seq_batch b = {0};
    struct bm_buf *txs = NULL;
    uint64_t *ids = NULL;
    uint64_t fl_id = 0;
    size_t n = 0;
    size_t removed = 99;

    (void)state;
    fx_init(&f);
    assert_int_equal(bm_seq_peek(f.s, 8, 0, &txs, &ids, &n, NULL), BM_OK);
    assert_int_equal(n, 0);
    assert_null(txs);
    submit(&f, s, 5, 5);
    assert_int_equal(bm_seq_peek(f.s, 0, 0, &txs, &ids, &n, NULL),
                     BM_EINVAL);
    /* Two txs at most, then three bytes beyond the first: one. */
    assert_int_equal(bm_seq_peek(f.s, 2, 0, &txs, &ids, &n, NULL), BM_OK);
    assert_int_equal(n, 2);
    assert_true(tx_is(&txs[0], "a=1") && tx_is(&txs[1], "b=2"));
    bm_exec_txs_free(txs, n);
    bm_free(ids);
    assert_int_equal(bm_seq_peek(f.s, 8, 3, &txs, &ids, &n, NULL), BM_OK);
    assert_int_equal(n, 1);
    fl_id = ids[0];
    bm_exec_txs_free(txs, n);
    bm_free(ids);
    /* a=1 in flight: skipped by peek and by forget. */
    assert_int_equal(bm_seq_get_next_batch(f.s, ID, ID_LEN, 4, &b, NULL),
                     BM_OK);
    assert_int_equal(b.batch.n_txs, 1);
    assert_int_equal(bm_seq_peek(f.s, 8, 0, &txs, &ids, &n, NULL), BM_OK);
    assert_int_equal(n, 4);
    assert_true(tx_is(&txs[0], "b=2") && tx_is(&txs[3], "e=5"));
    {
        uint64_t gone[4] = {ids[0], ids[1], ids[3], fl_id};

        assert_int_equal(bm_seq_forget(f.s, gone, 4, &removed, NULL), BM_OK);
        assert_int_equal(removed, 3);
        assert_int_equal(bm_seq_forget(f.s, gone, 4, &removed, NULL), BM_OK);
        assert_int_equal(removed, 0);
    }
    bm_exec_txs_free(txs, n);
    bm_free(ids);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 2);
    /* The batch in flight is still acked as one. */
    assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
    bm_seq_queue_size(f.s, &n, NULL);
    assert_int_equal(n, 1);
    fx_reopen(&f);
    submit(&f, rest, 2, 0); /* a=1 committed, d=4 still queued */
    submit(&f, back, 1, 1); /* b=2 was forgotten, not committed */
    expect_batch(&f, 0, tail, 2);
    bm_seq_batch_release(&b);
    fx_done(&f);
}

/* GetTxs -> SubmitBatchTxs -> GetNextBatch -> ExecuteTxs -> Ack. */
static void test_pipeline(void **state)
{
    struct fx f = {0};
    struct bm_kv *kv = NULL;
    struct bm_kv_options ko = {.no_sync = true};
    struct bm_executor ex;
    struct bm_buf root = {0};
    struct bm_batch got = {0};
    struct bm_batch stale = {0};
    struct bm_seq_batch b = {0};
    struct bm_exec_result r = {0};
    struct bm_buf v = {0};
    char *kvdir;
    uint64_t last_ts = 0;

    (void)state;
    fx_init(&f);
    kvdir = path_join(f.dir, "data/kv");
    assert_int_equal(bm_kv_open(&kv, kvdir, &ko, NULL), BM_OK);
    bm_kv_executor(kv, &ex);
    assert_int_equal(bm_executor_init_chain(&ex, 1, 1, CHAIN, &root, NULL),
                     BM_OK);
    for (int i = 0; i < 50; i++) {
        char tx[32];
        int len = snprintf(tx, sizeof(tx), "key%d=value%d", i % 20, i);

        assert_int_equal(bm_kv_mempool_add(kv, (const uint8_t *)tx,
                                           (size_t)len, NULL, NULL), BM_OK);
    }
    assert_int_equal(bm_executor_get_txs(&ex, &stale, NULL), BM_OK);
    for (uint64_t h = 1; h <= 10; h++) {
        assert_int_equal(bm_executor_get_txs(&ex, &got, NULL), BM_OK);
        assert_int_equal(bm_seq_submit(f.s, ID, ID_LEN, got.txs, got.n_txs,
                                       NULL, NULL), BM_OK);
        assert_int_equal(bm_seq_get_next_batch(f.s, ID, ID_LEN, 100, &b,
                                               NULL), BM_OK);
        assert_true(b.timestamp_ns > last_ts);
        last_ts = b.timestamp_ns;
        assert_int_equal(bm_executor_execute_txs(&ex, b.batch.txs,
                                                 b.batch.n_txs, h,
                                                 b.timestamp_ns, root.ptr,
                                                 root.len, &r, NULL),
                         BM_OK);
        assert_int_equal(bm_buf_copy(&root, &r.state_root), BM_OK);
        assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
        bm_seq_batch_release(&b);
    }
    assert_int_equal(bm_kv_mempool_len(kv), 0);
    /* A reaper copy taken before the blocks committed: submitting it late
     * queues nothing (no double execution). */
    {
        size_t acc = 99;

        assert_int_equal(stale.n_txs, 50);
        assert_int_equal(bm_seq_submit(f.s, ID, ID_LEN, stale.txs,
                                       stale.n_txs, &acc, NULL), BM_OK);
        assert_int_equal(acc, 0);
        bm_exec_txs_free(stale.txs, stale.n_txs);
    }
    assert_int_equal(bm_kv_get(kv, (const uint8_t *)"key9", 4, &v, NULL,
                               NULL), BM_OK);
    assert_true(tx_is(&v, "value49"));
    bm_buf_release(&v);
    bm_exec_txs_free(got.txs, got.n_txs);
    bm_exec_result_release(&r);
    bm_buf_release(&root);
    bm_seq_free(f.s);
    f.s = NULL;
    bm_kv_free(kv);
    fx_done(&f);
    bm_free(kvdir);
}

/* One round of the block path; returns the first error. Mempool
 * duplicates (from an earlier, failed round) are not errors. */
static enum bm_err oom_round(struct bm_kv *kv, const struct bm_executor *ex,
                             struct bm_seq *s, struct bm_buf *root)
{
    static const char *const t[] = {"a=1", "b=2", "c=3"};
    struct bm_batch got = {0};
    struct bm_seq_batch b = {0};
    struct bm_exec_result r = {0};
    enum bm_err err = BM_OK;

    for (size_t i = 0; i < 3; i++) {
        err = bm_kv_mempool_add(kv, (const uint8_t *)t[i], 3, NULL, NULL);
        if (err == BM_EEXIST) {
            err = BM_OK;
        }
        if (err) {
            goto out;
        }
    }
    err = bm_executor_get_txs(ex, &got, NULL);
    if (!err) {
        err = bm_seq_submit(s, ID, ID_LEN, got.txs, got.n_txs, NULL, NULL);
    }
    if (!err) {
        err = bm_seq_get_next_batch(s, ID, ID_LEN, 0, &b, NULL);
    }
    if (!err) {
        err = bm_executor_execute_txs(ex, b.batch.txs, b.batch.n_txs, 1, 7,
                                      root->ptr, root->len, &r, NULL);
    }
    if (!err) {
        err = bm_seq_ack(s, NULL);
    }
out:
    bm_exec_txs_free(got.txs, got.n_txs);
    bm_seq_batch_release(&b);
    bm_exec_result_release(&r);
    return err;
}

/* Fails the n-th allocation for every n: each error is BM_ENOMEM, nothing
 * leaks, and a retry without failures completes the round. */
static void test_oom(void **state)
{
    bool hit = true;

    (void)state;
    for (int64_t n = 1; hit && n < 500; n++) {
        struct fx f = {0};
        struct bm_kv *kv = NULL;
        struct bm_kv_options ko = {.no_sync = true};
        struct bm_executor ex;
        struct bm_buf root = {0};
        struct bm_buf v = {0};
        char *kvdir;
        enum bm_err err;

        fx_init(&f);
        kvdir = path_join(f.dir, "data/kv");
        assert_int_equal(bm_kv_open(&kv, kvdir, &ko, NULL), BM_OK);
        bm_kv_executor(kv, &ex);
        assert_int_equal(bm_executor_init_chain(&ex, 1, 1, CHAIN, &root,
                                                NULL), BM_OK);
        bm_alloc_fail_after(n);
        err = oom_round(kv, &ex, f.s, &root);
        /* Still counting down: the n-th allocation never happened. */
        hit = err != BM_OK;
        bm_alloc_fail_after(0);
        assert_true(err == BM_OK || err == BM_ENOMEM);
        if (hit) {
            assert_int_equal(oom_round(kv, &ex, f.s, &root), BM_OK);
        }
        assert_int_equal(bm_kv_get(kv, (const uint8_t *)"c", 1, &v, NULL,
                                   NULL), BM_OK);
        assert_true(tx_is(&v, "3"));
        bm_buf_release(&v);
        bm_buf_release(&root);
        bm_seq_free(f.s);
        f.s = NULL;
        bm_kv_free(kv);
        fx_done(&f);
        bm_free(kvdir);
    }
    assert_false(hit); /* the loop ran past the last allocation */
}

#define CONC_TXS 2000

struct conc {
    struct bm_kv *kv;
    atomic_bool stop;
    atomic_int added;
};

static void *producer(void *arg)
{
    struct conc *c = arg;

    for (int i = 0; i < CONC_TXS; i++) {
        char tx[32];
        int len = snprintf(tx, sizeof(tx), "p%d=%d", i, i);
        enum bm_err err;

        do {
            err = bm_kv_mempool_add(c->kv, (const uint8_t *)tx, (size_t)len,
                                    NULL, NULL);
        } while (err == BM_EFULL);
        if (err == BM_OK) {
            atomic_fetch_add(&c->added, 1);
        }
    }
    return NULL;
}

static void *reader(void *arg)
{
    struct conc *c = arg;
    struct bm_buf v = {0};
    struct bm_kv_status st;

    while (!atomic_load(&c->stop)) {
        (void)bm_kv_get(c->kv, (const uint8_t *)"p7", 2, &v, NULL, NULL);
        bm_kv_status(c->kv, &st);
    }
    bm_buf_release(&v);
    return NULL;
}

/* Ingress, reader and the block path on different threads (for TSan). */
static void test_concurrent(void **state)
{
    struct fx f = {0};
    struct bm_kv_options ko = {.no_sync = true, .mempool_max_txs = 256};
    struct bm_executor ex;
    struct bm_buf root = {0};
    struct bm_batch got = {0};
    struct bm_seq_batch b = {0};
    struct bm_exec_result r = {0};
    struct bm_kv_status st = {0};
    struct conc c = {0};
    pthread_t tp;
    pthread_t tr;
    char *kvdir;
    uint64_t h = 1;

    (void)state;
    fx_init(&f);
    kvdir = path_join(f.dir, "data/kv");
    assert_int_equal(bm_kv_open(&c.kv, kvdir, &ko, NULL), BM_OK);
    bm_kv_executor(c.kv, &ex);
    assert_int_equal(bm_executor_init_chain(&ex, 1, 1, CHAIN, &root, NULL),
                     BM_OK);
    assert_int_equal(pthread_create(&tp, NULL, producer, &c), 0);
    assert_int_equal(pthread_create(&tr, NULL, reader, &c), 0);
    for (int iter = 0; iter < 1000000 && st.n_pairs < CONC_TXS; iter++) {
        assert_int_equal(bm_executor_get_txs(&ex, &got, NULL), BM_OK);
        assert_int_equal(bm_seq_submit(f.s, ID, ID_LEN, got.txs, got.n_txs,
                                       NULL, NULL), BM_OK);
        assert_int_equal(bm_seq_get_next_batch(f.s, ID, ID_LEN, 1000, &b,
                                               NULL), BM_OK);
        if (b.batch.n_txs == 0) {
            continue;
        }
        assert_int_equal(bm_executor_execute_txs(&ex, b.batch.txs,
                                                 b.batch.n_txs, h++,
                                                 b.timestamp_ns, root.ptr,
                                                 root.len, &r, NULL),
                         BM_OK);
        assert_int_equal(bm_buf_copy(&root, &r.state_root), BM_OK);
        assert_int_equal(bm_seq_ack(f.s, NULL), BM_OK);
        bm_kv_status(c.kv, &st);
    }
    atomic_store(&c.stop, true);
    pthread_join(tp, NULL);
    pthread_join(tr, NULL);
    assert_int_equal(atomic_load(&c.added), CONC_TXS);
    assert_int_equal(st.n_pairs, CONC_TXS);
    assert_int_equal(bm_kv_mempool_len(c.kv), 0);
    bm_exec_txs_free(got.txs, got.n_txs);
    bm_seq_batch_release(&b);
    bm_exec_result_release(&r);
    bm_buf_release(&root);
    bm_seq_free(f.s);
    f.s = NULL;
    bm_kv_free(c.kv);
    fx_done(&f);
    bm_free(kvdir);
}

/* on_disk_error's calls */
struct disk_seen {
    int calls;
    enum bm_err err;
    char msg[512];
};

static void on_disk(void *arg, enum bm_err err, const char *msg)
{
    struct disk_seen *d = arg;

    d->calls++;
    d->err = err;
    snprintf(d->msg, sizeof(d->msg), "%s", msg);
}

/* Mounts a fresh tmpfs of `size` on dir in a private mount namespace (it
 * goes away with the process). False (nothing mounted) without root or
 * mount rights. */
static bool private_tmpfs(const char *dir, const char *size)
{
    char opt[32];

    snprintf(opt, sizeof(opt), "size=%s", size);
    return geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount("tmpfs", dir, "tmpfs", 0, opt) == 0;
}

/*
 * A full disk, for real (a 512 KiB tmpfs; root only, else skipped): the
 * append that meets ENOSPC fails with BM_EIO naming the directory and
 * "disk full", calls on_disk_error once (the node stops on it), and
 * nothing is half-written: after space is freed a reopen finds exactly
 * the txs that were accepted.
 */
static void test_disk_full(void **state)
{
    struct bm_seq_options o = {0};
    struct disk_seen seen = {0};
    struct bm_errmsg em = {{0}};
    struct bm_seq *s = NULL;
    char *dir = tmpdir_new();
    char *seqdir = path_join(dir, "seq");
    char *filler = path_join(dir, "filler");
    static char val[4000];
    size_t accepted = 0, n_txs = 0;
    enum bm_err err = BM_OK;
    FILE *fp;

    (void)state;
    if (!private_tmpfs(dir, "512k")) {
        bm_free(filler);
        bm_free(seqdir);
        tmpdir_free(dir);
        skip();
    }
    /* room to free afterwards */
    fp = fopen(filler, "w");
    assert_non_null(fp);
    memset(val, 'f', sizeof(val));
    for (int i = 0; i < 32; i++) {
        assert_int_equal(fwrite(val, 1, sizeof(val), fp), sizeof(val));
    }
    assert_int_equal(fclose(fp), 0);
    o.map_size = 16u << 20;
    o.on_disk_error = on_disk;
    o.on_disk_error_arg = &seen;
    assert_int_equal(bm_seq_open(&s, seqdir, CHAIN, &o, &em), BM_OK);
    for (int i = 0; i < 1000 && err == BM_OK; i++) {
        struct bm_buf tx = {(uint8_t *)val, sizeof(val)};
        size_t acc = 0;

        snprintf(val, 16, "tx-%06d", i);
        err = bm_seq_submit(s, ID, ID_LEN, &tx, 1, &acc, &em);
        accepted += err == BM_OK ? acc : 0;
    }
    assert_int_equal(err, BM_EIO);
    assert_true(accepted > 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.err, BM_EIO);
    assert_non_null(strstr(seen.msg, seqdir));
    assert_non_null(strstr(seen.msg, "disk full"));
    assert_non_null(strstr(bm_errmsg_str(&em, err), seqdir));
    /* still full: a later failure is not reported again (a small write
     * may still fit in a page LMDB frees: the disk is not "full" for
     * every write, which is why the first failure stops the node) */
    err = BM_OK;
    for (int i = 1000; i < 2000 && err == BM_OK; i++) {
        struct bm_buf tx = {(uint8_t *)val, sizeof(val)};
        size_t acc = 0;

        snprintf(val, 16, "tx-%06d", i);
        err = bm_seq_submit(s, ID, ID_LEN, &tx, 1, &acc, NULL);
        accepted += err == BM_OK ? acc : 0;
    }
    assert_int_equal(err, BM_EIO);
    assert_int_equal(seen.calls, 1);
    bm_seq_queue_size(s, &n_txs, NULL);
    assert_int_equal(n_txs, accepted);
    bm_seq_free(s);
    s = NULL;
    /* space freed: the queue holds exactly what was accepted */
    assert_int_equal(unlink(filler), 0);
    memset(&o, 0, sizeof(o));
    o.map_size = 16u << 20;
    assert_int_equal(bm_seq_open(&s, seqdir, CHAIN, &o, &em), BM_OK);
    bm_seq_queue_size(s, &n_txs, NULL);
    assert_int_equal(n_txs, accepted);
    bm_seq_free(s);
    assert_int_equal(umount2(dir, MNT_DETACH), 0);
    bm_free(filler);
    bm_free(seqdir);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_hash_v21),
        cmocka_unit_test(test_chain_id),
        cmocka_unit_test(test_fifo_and_restart_order),
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_max_bytes_packing),
        cmocka_unit_test(test_max_batch_txs),
        cmocka_unit_test(test_max_waiting_txs),
        cmocka_unit_test(test_cap_tx_bytes),
        cmocka_unit_test(test_unacked_return),
        cmocka_unit_test(test_queue_full_and_oversize),
        cmocka_unit_test(test_submit_each),
        cmocka_unit_test(test_recent_window_persisted),
        cmocka_unit_test(test_filter_with_kv),
        cmocka_unit_test(test_drop_committed),
        cmocka_unit_test(test_note_committed),
        cmocka_unit_test(test_note_committed_in_flight),
        cmocka_unit_test(test_peek_forget),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_disk_full),
    };

    return BM_TEST_RUN(tests);
}
