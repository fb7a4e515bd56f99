/* KV executor: tx format, determinism, restart, re-execution, mempool. */
#include "bm_test.h"

#include <string.h>

#include <lmdb.h>

#include "blockv2/executor.h"
#include "exec/kv/kv.h"
#include "util/errmsg.h"

#include "exec_test_util.h"

#define CHAIN "test-chain"
#define GENESIS_NS 1700000000000000000ull
#define KV_FX_CHAIN CHAIN
#define KV_FX_GENESIS_NS GENESIS_NS
#include "kv_fx.h"

static void check_reason(const char *tx, size_t len, int want_err,
                         const char *want_substr)
{
    struct bm_errmsg em = {{0}};

    assert_int_equal(bm_kv_check_tx((const uint8_t *)tx, len, NULL, &em),
                     want_err);
    if (want_substr != NULL) {
        assert_non_null(strstr(em.msg, want_substr));
    }
}

static void test_tx_format(void **state)
{
    char big[BM_KV_MAX_TX + 10];
    size_t klen = 0;

    (void)state;
    check_reason("a=1", 3, BM_OK, NULL);
    check_reason("a=", 2, BM_OK, NULL);
    check_reason("a=b=c", 5, BM_OK, NULL);
    assert_int_equal(bm_kv_check_tx((const uint8_t *)"key=v", 5, &klen, NULL),
                     BM_OK);
    assert_int_equal(klen, 3);
    check_reason("", 0, BM_EBADTX, "empty");
    check_reason("novalue", 7, BM_EBADTX, "no '=' separator");
    check_reason("=v", 2, BM_EBADTX, "key is empty");
    check_reason("a b=v", 5, BM_EBADTX, "not printable");
    check_reason("a\0b=v", 5, BM_EBADTX, "not printable");
    memset(big, 'k', sizeof(big));
    big[BM_KV_MAX_KEY + 1] = '=';
    check_reason(big, BM_KV_MAX_KEY + 3, BM_ETOOBIG, "key is 257 bytes");
    big[BM_KV_MAX_KEY + 1] = 'k';
    big[1] = '=';
    check_reason(big, 2 + BM_KV_MAX_VALUE + 1, BM_ETOOBIG, "value is 4097");
    check_reason(big, sizeof(big), BM_ETOOBIG, "tx is");
}

static void test_init_chain_idempotent(void **state)
{
    struct fx f = {0};
    struct bm_buf root = {0};
    struct bm_hash empty;
    struct bm_errmsg em = {{0}};

    (void)state;
    fx_init(&f);
    bm_kv_empty_root(&empty);
    assert_int_equal(bm_executor_init_chain(&f.ex, GENESIS_NS, 1, CHAIN,
                                            &root, NULL), BM_OK);
    assert_true(bm_buf_eq_raw(&root, empty.b, BM_HASH_SIZE));
    assert_int_equal(bm_executor_init_chain(&f.ex, GENESIS_NS, 1, "other",
                                            &root, &em),
                     BM_ECHAIN_ID_MISMATCH);
    assert_int_equal(root.len, 0);
    assert_int_equal(bm_executor_init_chain(&f.ex, GENESIS_NS, 5, CHAIN,
                                            &root, NULL), BM_EGENESIS);
    assert_int_equal(bm_executor_init_chain(&f.ex, GENESIS_NS, 0, CHAIN,
                                            &root, NULL), BM_EHEIGHT_ZERO);
    bm_buf_release(&root);
    fx_done(&f);
}

static void test_determinism_two_instances(void **state)
{
    static const char *const b1[] = {"a=1", "b=2", "a=3", "c=", "bad"};
    static const char *const b2[] = {"d=4", "b=5"};
    /* Same final pairs {a=3,b=5,c=,d=4} reached in another order/history. */
    static const char *const c1[] = {"d=4", "c=", "x=9"};
    static const char *const c2[] = {"a=3", "b=5", "x=8"};
    static const char *const c3[] = {"x=9"};
    struct fx f1 = {0};
    struct fx f2 = {0};
    struct fx f3 = {0};
    struct bm_hash r1a;
    struct bm_hash r1b;
    struct bm_hash r2a;
    struct bm_hash r2b;
    struct bm_hash r3;
    struct bm_hash empty;
    static const char *const c4[] = {"x=9"};

    (void)state;
    fx_init(&f1);
    fx_init(&f2);
    fx_init(&f3);
    r1a = exec_strs(&f1, 1, b1, 5);
    r2a = exec_strs(&f2, 1, b1, 5);
    assert_memory_equal(r1a.b, r2a.b, BM_HASH_SIZE);
    r1b = exec_strs(&f1, 2, b2, 2);
    r2b = exec_strs(&f2, 2, b2, 2);
    assert_memory_equal(r1b.b, r2b.b, BM_HASH_SIZE);
    assert_memory_not_equal(r1a.b, r1b.b, BM_HASH_SIZE);
    bm_kv_empty_root(&empty);
    assert_memory_not_equal(r1a.b, empty.b, BM_HASH_SIZE);

    /* f1 adds x=9 -> {a=3,b=5,c=,d=4,x=9}; f3 gets there differently. */
    (void)exec_strs(&f1, 3, c4, 1);
    (void)exec_strs(&f3, 1, c1, 3);
    (void)exec_strs(&f3, 2, c2, 3);
    r3 = exec_strs(&f3, 3, c3, 1);
    {
        struct bm_kv_status s1;
        struct bm_kv_status s3;

        bm_kv_status(f1.kv, &s1);
        bm_kv_status(f3.kv, &s3);
        assert_int_equal(s1.n_pairs, 5);
        assert_int_equal(s3.n_pairs, 5);
        assert_memory_equal(s1.root.b, r3.b, BM_HASH_SIZE);
    }
    fx_done(&f1);
    fx_done(&f2);
    fx_done(&f3);
}

/* A block with more new pairs than the leaves one thread sums (kv.c
 * PAR_LEAVES: the rest on a second thread) reaches the root that the
 * same pairs reach in small blocks, overwrites and a malformed tx
 * included. */
static void test_big_block_root(void **state)
{
    enum { N = 1500, SMALL = 100 };
    struct bm_buf *txs = bm_xcalloc(N, sizeof(*txs));
    struct fx f1 = {0};
    struct fx f2 = {0};
    struct bm_hash r1;
    struct bm_hash r2 = {{0}};
    struct bm_kv_status s1;
    struct bm_kv_status s2;

    (void)state;
    for (size_t i = 0; i < N; i++) {
        char tx[48];
        int len;

        /* every 7th tx overwrites an earlier key of the block */
        if (i % 7 == 6) {
            len = snprintf(tx, sizeof(tx), "k%05zu=again%zu", i - 3, i);
        } else if (i == 11) {
            len = snprintf(tx, sizeof(tx), "malformed");
        } else {
            len = snprintf(tx, sizeof(tx), "k%05zu=v%zu", i, i * 31);
        }
        assert_int_equal(bm_buf_set(&txs[i], (const uint8_t *)tx,
                                    (size_t)len), BM_OK);
    }
    fx_init(&f1);
    fx_init(&f2);
    r1 = exec_txs(&f1, 1, txs, N);
    for (size_t i = 0; i < N; i += SMALL) {
        r2 = exec_txs(&f2, 1 + i / SMALL, txs + i, SMALL);
    }
    assert_memory_equal(r1.b, r2.b, BM_HASH_SIZE);
    bm_kv_status(f1.kv, &s1);
    bm_kv_status(f2.kv, &s2);
    assert_true(s1.n_pairs == s2.n_pairs);
    assert_true(s1.n_pairs > 1000);
    bm_exec_txs_free(txs, N);
    fx_done(&f1);
    fx_done(&f2);
}

static void test_malformed_skipped(void **state)
{
    static const char *const with_bad[] = {"a=1", "bad", "=x", "b=2"};
    static const char *const clean[] = {"a=1", "b=2"};
    struct fx f1 = {0};
    struct fx f2 = {0};
    struct bm_hash r1;
    struct bm_hash r2;
    struct bm_buf *txs = txs_from(with_bad, 4);
    enum bm_filter_status st[4];

    (void)state;
    fx_init(&f1);
    fx_init(&f2);
    r1 = exec_strs(&f1, 1, with_bad, 4);
    r2 = exec_strs(&f2, 1, clean, 2);
    assert_memory_equal(r1.b, r2.b, BM_HASH_SIZE);

    assert_int_equal(bm_executor_filter_txs(&f1.ex, txs, 4, 0, 0, false, st,
                                            NULL), BM_OK);
    assert_int_equal(st[0], BM_FILTER_OK);
    assert_int_equal(st[1], BM_FILTER_REMOVE);
    assert_int_equal(st[2], BM_FILTER_REMOVE);
    assert_int_equal(st[3], BM_FILTER_OK);
    /* Byte budget 4: "a=1" fits, "b=2" is postponed. */
    assert_int_equal(bm_executor_filter_txs(&f1.ex, txs, 4, 4, 0, false, st,
                                            NULL), BM_OK);
    assert_int_equal(st[0], BM_FILTER_OK);
    assert_int_equal(st[3], BM_FILTER_POSTPONE);
    bm_exec_txs_free(txs, 4);
    fx_done(&f1);
    fx_done(&f2);
}

static void test_restart_keeps_state(void **state)
{
    static const char *const b1[] = {"k1=v1", "k2=v2"};
    static const char *const b2[] = {"k1=v3"};
    struct fx f = {0};
    struct bm_kv_status before;
    struct bm_kv_status after;
    struct bm_buf v = {0};
    struct bm_buf root = {0};
    uint64_t h = 0;

    (void)state;
    fx_init(&f);
    (void)exec_strs(&f, 1, b1, 2);
    (void)exec_strs(&f, 2, b2, 1);
    assert_int_equal(bm_executor_set_final(&f.ex, 1, NULL), BM_OK);
    bm_kv_status(f.kv, &before);
    bm_kv_free(f.kv);
    fx_open(&f);
    bm_kv_status(f.kv, &after);
    assert_true(after.initialised);
    assert_int_equal(after.height, 2);
    assert_int_equal(after.final_height, 1);
    assert_int_equal(after.n_pairs, 2);
    assert_memory_equal(before.root.b, after.root.b, BM_HASH_SIZE);
    assert_int_equal(bm_kv_get(f.kv, (const uint8_t *)"k1", 2, &v, &h, NULL),
                     BM_OK);
    assert_true(tx_is(&v, "v3"));
    assert_int_equal(h, 2);
    assert_int_equal(bm_kv_get(f.kv, (const uint8_t *)"zz", 2, &v, NULL,
                               NULL), BM_ENOTFOUND);
    /* init_chain after restart is a no-op returning the genesis root. */
    assert_int_equal(bm_executor_init_chain(&f.ex, GENESIS_NS, 1, CHAIN,
                                            &root, NULL), BM_OK);
    bm_buf_release(&root);
    (void)exec_strs(&f, 3, b2, 1);
    bm_buf_release(&v);
    fx_done(&f);
}

static void test_reexecution(void **state)
{
    static const char *const b1[] = {"a=1", "b=2"};
    static const char *const other[] = {"a=9"};
    struct fx f = {0};
    struct bm_hash empty;
    struct bm_hash r1;
    struct bm_exec_result r = {0};
    struct bm_buf *txs = txs_from(b1, 2);
    struct bm_buf *otx = txs_from(other, 1);
    struct bm_kv_status st;
    struct bm_errmsg em = {{0}};

    (void)state;
    fx_init(&f);
    bm_kv_empty_root(&empty);
    r1 = exec_strs(&f, 1, b1, 2);
    /* Same height, same inputs (crash recovery): same root, applied once. */
    assert_int_equal(bm_executor_execute_txs(&f.ex, txs, 2, 1, GENESIS_NS + 1,
                                             empty.b, BM_HASH_SIZE, &r, &em),
                     BM_OK);
    assert_memory_equal(r.state_root.ptr, r1.b, BM_HASH_SIZE);
    bm_kv_status(f.kv, &st);
    assert_int_equal(st.height, 1);
    assert_int_equal(st.n_pairs, 2);
    /* Same height, different txs: refused. */
    assert_int_equal(bm_executor_execute_txs(&f.ex, otx, 1, 1, GENESIS_NS + 1,
                                             empty.b, BM_HASH_SIZE, &r, &em),
                     BM_ESTATE);
    assert_int_equal(r.state_root.len, 0);
    /* Gap. */
    assert_int_equal(bm_executor_execute_txs(&f.ex, txs, 2, 3, GENESIS_NS,
                                             r1.b, BM_HASH_SIZE, &r, &em),
                     BM_EHEIGHT_MISMATCH);
    /* Wrong prev root. */
    assert_int_equal(bm_executor_execute_txs(&f.ex, txs, 2, 2, GENESIS_NS,
                                             empty.b, BM_HASH_SIZE, &r, &em),
                     BM_EAPP_HASH_MISMATCH);
    /* Empty tx list is accepted; root unchanged. */
    assert_int_equal(bm_executor_execute_txs(&f.ex, NULL, 0, 2, GENESIS_NS + 2,
                                             r1.b, BM_HASH_SIZE, &r, &em),
                     BM_OK);
    assert_memory_equal(r.state_root.ptr, r1.b, BM_HASH_SIZE);
    /* set_final: idempotent, not above the executed height. */
    assert_int_equal(bm_executor_set_final(&f.ex, 2, NULL), BM_OK);
    assert_int_equal(bm_executor_set_final(&f.ex, 2, NULL), BM_OK);
    assert_int_equal(bm_executor_set_final(&f.ex, 1, NULL), BM_OK);
    assert_int_equal(bm_executor_set_final(&f.ex, 3, NULL),
                     BM_EHEIGHT_MISMATCH);
    bm_exec_result_release(&r);
    bm_exec_txs_free(txs, 2);
    bm_exec_txs_free(otx, 1);
    fx_done(&f);
}

static void test_mempool(void **state)
{
    struct fx f = {0};
    struct bm_kv_options o = {.no_sync = true, .mempool_max_txs = 3};
    struct bm_errmsg em = {{0}};
    struct bm_hash h;
    struct bm_hash want;
    struct bm_batch b = {0};
    struct bm_exec_info info = {7};
    struct bm_kv_status st;
    struct bm_exec_result r = {0};
    struct bm_buf root = {0};

    (void)state;
    f.dir = tmpdir_new();
    f.kvdir = path_join(f.dir, "kv");
    assert_int_equal(bm_kv_open(&f.kv, f.kvdir, &o, NULL), BM_OK);
    bm_kv_executor(f.kv, &f.ex);
    assert_int_equal(bm_executor_init_chain(&f.ex, GENESIS_NS, 1, CHAIN,
                                            &root, NULL), BM_OK);
    assert_int_equal(bm_kv_mempool_add(f.kv, (const uint8_t *)"a=1", 3, &h,
                                       NULL), BM_OK);
    bm_exec_tx_hash((const uint8_t *)"a=1", 3, &want);
    assert_memory_equal(h.b, want.b, BM_HASH_SIZE);
    assert_int_equal(bm_kv_mempool_add(f.kv, (const uint8_t *)"a=1", 3, &h,
                                       &em), BM_EEXIST);
    assert_int_equal(bm_kv_mempool_add(f.kv, (const uint8_t *)"oops", 4, NULL,
                                       &em), BM_EBADTX);
    assert_non_null(strstr(em.msg, "'='"));
    assert_int_equal(bm_kv_mempool_add(f.kv, (const uint8_t *)"b=2", 3, NULL,
                                       NULL), BM_OK);
    assert_int_equal(bm_kv_mempool_add(f.kv, (const uint8_t *)"c=3", 3, NULL,
                                       NULL), BM_OK);
    assert_int_equal(bm_kv_mempool_add(f.kv, (const uint8_t *)"d=4", 3, NULL,
                                       &em), BM_EFULL);
    assert_non_null(strstr(em.msg, "mempool full"));
    /* GetTxs returns without removing, oldest first. */
    assert_int_equal(bm_executor_get_txs(&f.ex, &b, NULL), BM_OK);
    assert_int_equal(b.n_txs, 3);
    assert_true(tx_is(&b.txs[0], "a=1"));
    assert_true(tx_is(&b.txs[2], "c=3"));
    assert_int_equal(bm_executor_get_txs(&f.ex, &b, NULL), BM_OK);
    assert_int_equal(b.n_txs, 3);
    /* Executing txs removes them from the mempool. */
    assert_int_equal(bm_executor_execute_txs(&f.ex, b.txs, 2, 1, GENESIS_NS,
                                             root.ptr, root.len, &r, NULL),
                     BM_OK);
    assert_int_equal(bm_kv_mempool_len(f.kv), 1);
    /* A tx executed a moment ago is refused (stale resubmission). */
    assert_int_equal(bm_kv_mempool_add(f.kv, (const uint8_t *)"b=2", 3, NULL,
                                       &em), BM_EEXIST);
    assert_non_null(strstr(em.msg, "executed recently"));
    assert_int_equal(bm_executor_get_txs(&f.ex, &b, NULL), BM_OK);
    assert_int_equal(b.n_txs, 1);
    assert_true(tx_is(&b.txs[0], "c=3"));
    bm_kv_status(f.kv, &st);
    assert_int_equal(st.n_pairs, 2);
    assert_int_equal(bm_executor_get_execution_info(&f.ex, &info, NULL),
                     BM_OK);
    assert_int_equal(info.max_gas, 0);
    bm_exec_txs_free(b.txs, b.n_txs);
    bm_exec_result_release(&r);
    bm_buf_release(&root);
    fx_done(&f);
}

static void test_not_initialised(void **state)
{
    struct fx f = {0};
    struct bm_exec_result r = {0};
    struct bm_executor none = {0};

    (void)state;
    f.dir = tmpdir_new();
    f.kvdir = path_join(f.dir, "kv");
    fx_open(&f);
    assert_int_equal(bm_executor_execute_txs(&f.ex, NULL, 0, 1, 0, NULL, 0,
                                             &r, NULL), BM_ESTATE);
    assert_int_equal(bm_executor_set_final(&f.ex, 1, NULL), BM_ESTATE);
    assert_int_equal(bm_executor_set_final(&none, 1, NULL), BM_EINVAL);
    fx_done(&f);
}

/* A stored state record of the wrong size is BM_ECORRUPT, not a crash. */
static void test_corrupt_state(void **state)
{
    struct fx f = {0};
    struct bm_kv *kv = NULL;
    struct bm_errmsg em = {{0}};
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    MDB_val k = {5, (void *)"state"};
    MDB_val v = {3, (void *)"bad"};

    (void)state;
    fx_init(&f);
    bm_kv_free(f.kv);
    f.kv = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, f.kvdir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(bm_kv_open(&kv, f.kvdir, NULL, &em), BM_ECORRUPT);
    assert_null(kv);
    assert_non_null(strstr(em.msg, "meta.state"));
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_format),
        cmocka_unit_test(test_init_chain_idempotent),
        cmocka_unit_test(test_determinism_two_instances),
        cmocka_unit_test(test_big_block_root),
        cmocka_unit_test(test_malformed_skipped),
        cmocka_unit_test(test_restart_keeps_state),
        cmocka_unit_test(test_reexecution),
        cmocka_unit_test(test_mempool),
        cmocka_unit_test(test_not_initialised),
        cmocka_unit_test(test_corrupt_state),
    };

    return BM_TEST_RUN(tests);
}
