/*
 * KV executor storage: the map grows from a 1 MiB start while a reader
 * thread reads; per-height records are bounded; rollback through the undo
 * log (also across several chunks) gives back the recorded roots and
 * values; reset; the undo decoder refuses damaged chunks; a damaged undo
 * log in the database makes rollback fail without changing anything.
 */
#include "bm_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <sodium.h>

#include "blockv2/executor.h"
#include "exec/kv/kv.h"
#include "exec/kv/undo.h"
#include "util/errmsg.h"
#include "util/lmdb_env.h"

#include "exec_test_util.h"

#define KV_FX_CHAIN "storage-chain"
#define KV_FX_GENESIS_NS 1700000000000000000ull
#include "kv_fx.h"

/* n txs "<prefix><i>=<vlen bytes of c>" (owned). */
static struct bm_buf *big_txs(const char *prefix, size_t n, size_t vlen,
                              char c)
{
    struct bm_buf *t = bm_xcalloc(n, sizeof(*t));

    for (size_t i = 0; i < n; i++) {
        char key[64];
        int kl = snprintf(key, sizeof(key), "%s%zu=", prefix, i);
        uint8_t *p = bm_xmalloc((size_t)kl + vlen);

        memcpy(p, key, (size_t)kl);
        memset(p + kl, c, vlen);
        t[i].ptr = p;
        t[i].len = (size_t)kl + vlen;
    }
    return t;
}

static void want_value(struct fx *f, const char *key, const char *want)
{
    struct bm_buf v = {0};
    int err = bm_kv_get(f->kv, (const uint8_t *)key, strlen(key), &v, NULL,
                        NULL);

    if (want == NULL) {
        assert_int_equal(err, BM_ENOTFOUND);
    } else {
        assert_int_equal(err, BM_OK);
        assert_int_equal(v.len, strlen(want));
        if (v.len > 0) {
            assert_memory_equal(v.ptr, want, v.len);
        }
    }
    bm_buf_release(&v);
}

static void want_root(struct fx *f, uint64_t height,
                        const struct bm_hash *want)
{
    struct bm_kv_status st;

    bm_kv_status(f->kv, &st);
    assert_int_equal(st.height, height);
    assert_memory_equal(st.root.b, want->b, BM_HASH_SIZE);
}

/* ------------------------------------------------------------ map */

struct reader {
    struct bm_kv *kv;
    atomic_bool stop;
    uint64_t reads;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    struct bm_buf v = {0};

    while (!atomic_load(&r->stop)) {
        int err = bm_kv_get(r->kv, (const uint8_t *)"m0", 2, &v, NULL, NULL);

        assert_true(err == BM_OK || err == BM_ENOTFOUND);
        r->reads++;
    }
    bm_buf_release(&v);
    return NULL;
}

/* A 1 MiB map and ~24 MiB of values (plus the undo logs of the
 * overwrites): every write succeeds, the map grows, a reader running
 * meanwhile never fails, and a restart sees the same state. In dir
 * (owned), on a disk or (test_map_grows_tmpfs) on a tmpfs, where the
 * environment is written through the map (MDB_WRITEMAP, its file
 * allocated up to the map size: docs/STORE.md). */
static void map_grows_from_1mib(char *dir)
{
    struct bm_kv_options o = {.no_sync = true, .map_size = 1u << 20};
    struct fx f = {0};
    struct reader r = {0};
    struct bm_kv_status before, after;
    pthread_t th;
    uint64_t h = 0;

    fx_init_at(&f, &o, dir);
    assert_int_equal(bm_kv_map_size(f.kv), 1u << 20);
    r.kv = f.kv;
    atomic_init(&r.stop, false);
    assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
    for (int round = 0; round < 2; round++) {
        /* Round 0 inserts, round 1 overwrites (undo logs hold the old
         * 4 KiB values). */
        for (int b = 0; b < 6; b++) {
            char prefix[16];
            struct bm_buf *txs;

            snprintf(prefix, sizeof(prefix), "m%d_", b);
            txs = big_txs(prefix, 500, 4000, round == 0 ? 'a' : 'b');
            (void)exec_txs(&f, ++h, txs, 500);
            bm_exec_txs_free(txs, 500);
        }
    }
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    fprintf(stderr, "kv map grown to %zu bytes over %llu heights, %llu "
            "concurrent reads\n", bm_kv_map_size(f.kv),
            (unsigned long long)h, (unsigned long long)r.reads);
    assert_true(bm_kv_map_size(f.kv) >= (size_t)24 << 20);
    bm_kv_status(f.kv, &before);
    assert_int_equal(before.n_pairs, 3000);
    {
        struct bm_buf v = {0};

        assert_int_equal(bm_kv_get(f.kv, (const uint8_t *)"m5_499", 6, &v,
                                   NULL, NULL), BM_OK);
        assert_int_equal(v.len, 4000);
        assert_int_equal(v.ptr[3999], 'b');
        bm_buf_release(&v);
    }
    bm_kv_free(f.kv);
    f.kv = NULL;
    /* Reopen with the same small initial size: LMDB keeps what is used. */
    fx_open_opts(&f, &o);
    bm_kv_status(f.kv, &after);
    assert_int_equal(after.height, h);
    assert_memory_equal(after.root.b, before.root.b, BM_HASH_SIZE);
    /* And it still grows on the next writes. */
    {
        struct bm_buf *txs = big_txs("late", 300, 4000, 'c');

        (void)exec_txs(&f, ++h, txs, 300);
        bm_exec_txs_free(txs, 300);
    }
    if (BM__ENV_WRITEMAP_ON_TMPFS && bm__env_dir_is_tmpfs(f.kvdir)) {
        char path[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/data.mdb", f.kvdir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((size_t)st.st_size, bm_kv_map_size(f.kv));
        assert_true((off_t)st.st_blocks * 512 >= st.st_size);
    }
    fx_done(&f);
}

static void test_map_grows_from_1mib(void **state)
{
    (void)state;
    map_grows_from_1mib(tmpdir_new());
}

static void test_map_grows_tmpfs(void **state)
{
    char tmpl[] = "/dev/shm/bm-exec-test-XXXXXX";

    (void)state;
    if (!BM__ENV_WRITEMAP_ON_TMPFS || !bm__env_dir_is_tmpfs("/dev/shm")) {
        skip(); /* no tmpfs, or a ThreadSanitizer build (lmdb_env.h) */
    }
    assert_non_null(mkdtemp(tmpl));
    map_grows_from_1mib(bm_xstrdup(tmpl));
}

/* A map that may not grow past its start fails cleanly and changes
 * nothing. */
static void test_map_limit(void **state)
{
    struct bm_kv_options o = {.no_sync = true, .map_size = 1u << 20,
                              .max_map_size = 1u << 20};
    struct fx f = {0};
    struct bm_buf *txs = big_txs("x", 400, 4000, 'x');
    struct bm_kv_status st;
    struct bm_exec_result r = {0};
    struct bm_errmsg em = {{0}};

    (void)state;
    fx_init_opts(&f, &o);
    bm_kv_status(f.kv, &st);
    assert_int_equal(bm_executor_execute_txs(&f.ex, txs, 400, 1, KV_FX_GENESIS_NS,
                                             st.root.b, BM_HASH_SIZE, &r, &em),
                     BM_EMAP_FULL);
    assert_non_null(strstr(em.msg, "max_map_size"));
    bm_kv_status(f.kv, &st);
    assert_int_equal(st.height, 0);
    assert_int_equal(st.n_pairs, 0);
    bm_exec_txs_free(txs, 400);
    fx_done(&f);
}

/* ------------------------------------------------------------ rollback */

static void test_rollback_roundtrip(void **state)
{
    static const char *const blocks[6][3] = {
        {"a=1", "b=1", NULL},   {"a=2", "c=1", NULL}, {"a=2", "b=", NULL},
        {"d=x", "a=3", "d=y"},  {"bad", "e=1", NULL}, {"b=9", NULL, NULL},
    };
    struct bm_kv_options o = {.no_sync = true};
    struct fx f = {0};
    struct bm_hash roots[7];
    struct bm_errmsg em = {{0}};
    uint64_t floor = 99, eh = 0;

    (void)state;
    fx_init_opts(&f, &o);
    bm_kv_empty_root(&roots[0]);
    for (uint64_t h = 1; h <= 6; h++) {
        size_t n = 0;

        while (n < 3 && blocks[h - 1][n] != NULL) {
            n++;
        }
        roots[h] = exec_strs(&f, h, blocks[h - 1], n);
    }
    assert_int_equal(bm_executor_get_latest_height(&f.ex, &eh, NULL), BM_OK);
    assert_int_equal(eh, 6);
    assert_int_equal(bm_kv_rollback_floor(f.kv, &floor, NULL), BM_OK);
    assert_int_equal(floor, 0);
    assert_int_equal(bm_executor_set_final(&f.ex, 5, NULL), BM_OK);
    /* Back to 3: d, e gone, a=2, b="" (set at 3), final lowered to 3. */
    assert_int_equal(bm_executor_rollback(&f.ex, 3, &em), BM_OK);
    want_root(&f, 3, &roots[3]);
    want_value(&f, "a", "2");
    want_value(&f, "b", "");
    want_value(&f, "d", NULL);
    want_value(&f, "e", NULL);
    {
        struct bm_kv_status st;

        bm_kv_status(f.kv, &st);
        assert_int_equal(st.final_height, 3);
        assert_int_equal(st.n_pairs, 3);
    }
    /* The same blocks again give the same roots. */
    for (uint64_t h = 4; h <= 6; h++) {
        size_t n = 0;
        struct bm_hash r;

        while (n < 3 && blocks[h - 1][n] != NULL) {
            n++;
        }
        r = exec_strs(&f, h, blocks[h - 1], n);
        assert_memory_equal(r.b, roots[h].b, BM_HASH_SIZE);
    }
    /* Above the tip, below genesis, no-op. */
    assert_int_equal(bm_kv_rollback(f.kv, 7, &em), BM_EHEIGHT_MISMATCH);
    assert_int_equal(bm_kv_rollback(f.kv, 6, &em), BM_OK);
    want_root(&f, 6, &roots[6]);
    /* All the way to genesis, across a restart. */
    bm_kv_free(f.kv);
    fx_open_opts(&f, &o);
    assert_int_equal(bm_kv_rollback(f.kv, 0, &em), BM_OK);
    want_root(&f, 0, &roots[0]);
    want_value(&f, "a", NULL);
    fx_done(&f);
}

/* Counts the entries of the heights and undo databases of a closed KV. */
static void count_records(const char *kvdir, size_t *heights, size_t *undo)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi hd, ud;
    MDB_stat hs, us;

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, kvdir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "heights", 0, &hd), 0);
    assert_int_equal(mdb_dbi_open(txn, "undo", 0, &ud), 0);
    assert_int_equal(mdb_stat(txn, hd, &hs), 0);
    assert_int_equal(mdb_stat(txn, ud, &us), 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    *heights = hs.ms_entries;
    *undo = us.ms_entries;
}

static struct bm_hash exec_k(struct fx *f, uint64_t h)
{
    char tx[32];
    const char *s[1] = {tx};

    snprintf(tx, sizeof(tx), "k%llu=v%llu", (unsigned long long)(h % 7),
             (unsigned long long)h);
    return exec_strs(f, h, s, 1);
}

/* Records are kept for keep_heights heights; rollback stops at the floor
 * and reset is the way further back. */
static void test_records_bounded(void **state)
{
    struct bm_kv_options o = {.no_sync = true, .keep_heights = 5};
    struct fx f = {0};
    struct bm_hash roots[41];
    struct bm_errmsg em = {{0}};
    uint64_t floor = 0;
    size_t nh = 0, nu = 0;

    (void)state;
    fx_init_opts(&f, &o);
    bm_kv_empty_root(&roots[0]);
    for (uint64_t h = 1; h <= 40; h++) {
        roots[h] = exec_k(&f, h);
    }
    bm_kv_free(f.kv);
    f.kv = NULL;
    /* On disk: the records of heights 36..40 only. */
    count_records(f.kvdir, &nh, &nu);
    fprintf(stderr, "records after 40 heights, keep 5: %zu heights, %zu "
            "undo chunks\n", nh, nu);
    assert_int_equal(nh, 5);
    assert_int_equal(nu, 5);
    fx_open_opts(&f, &o);
    assert_int_equal(bm_kv_rollback_floor(f.kv, &floor, NULL), BM_OK);
    assert_int_equal(floor, 35);
    assert_int_equal(bm_kv_rollback(f.kv, 34, &em), BM_ENOTFOUND);
    assert_non_null(strstr(em.msg, "no undo record"));
    want_root(&f, 40, &roots[40]); /* unchanged by the failure */
    assert_int_equal(bm_kv_rollback(f.kv, 36, &em), BM_OK);
    want_root(&f, 36, &roots[36]);
    assert_int_equal(bm_kv_rollback(f.kv, 35, &em), BM_OK);
    want_root(&f, 35, &roots[35]);
    /* Reset: genesis state, and the chain can be executed again. */
    assert_int_equal(bm_kv_reset(f.kv, &em), BM_OK);
    want_root(&f, 0, &roots[0]);
    assert_int_equal(bm_kv_rollback_floor(f.kv, &floor, NULL), BM_OK);
    assert_int_equal(floor, 0);
    for (uint64_t h = 1; h <= 40; h++) {
        struct bm_hash r = exec_k(&f, h);

        assert_memory_equal(r.b, roots[h].b, BM_HASH_SIZE);
    }
    fx_done(&f);
}

/* Height h of the grouped test chain: every third block empty, the
 * others write "k<h % 7>" (new keys, then overwrites), but h % 5 == 0
 * writes "same=1" (from 10 on its current value again: no change). */
static struct bm_hash exec_mixed(struct fx *f, uint64_t h)
{
    char tx[32];
    const char *s[1] = {tx};

    if (h % 3 == 0) {
        return exec_strs(f, h, NULL, 0);
    }
    if (h % 5 == 0) {
        snprintf(tx, sizeof(tx), "same=1");
    } else {
        snprintf(tx, sizeof(tx), "k%llu=v%llu", (unsigned long long)(h % 7),
                 (unsigned long long)h);
    }
    return exec_strs(f, h, s, 1);
}

/* In a group (the catch-up) the records are pruned once, at
 * commit_group, down to exactly what a height by height run keeps; the
 * roots are those of the run without groups, including the blocks that
 * change nothing (their root is the previous one). */
static void test_records_bounded_grouped(void **state)
{
    struct bm_kv_options o = {.no_sync = true, .keep_heights = 5};
    struct fx plain = {0}, f = {0};
    struct bm_hash roots[41];
    struct bm_errmsg em = {{0}};
    uint64_t floor = 0;
    size_t nh = 0, nu = 0;

    (void)state;
    fx_init_opts(&plain, &o);
    bm_kv_empty_root(&roots[0]);
    for (uint64_t h = 1; h <= 40; h++) {
        roots[h] = exec_mixed(&plain, h);
        if (h % 3 == 0 || (h % 5 == 0 && h > 5)) {
            assert_memory_equal(roots[h].b, roots[h - 1].b, BM_HASH_SIZE);
        } else {
            assert_memory_not_equal(roots[h].b, roots[h - 1].b,
                                    BM_HASH_SIZE);
        }
    }
    fx_done(&plain);

    fx_init_opts(&f, &o);
    for (uint64_t lo = 1; lo <= 40; lo += 20) {
        assert_int_equal(bm_executor_begin_group(&f.ex, &em), BM_OK);
        for (uint64_t h = lo; h < lo + 20; h++) {
            struct bm_hash r = exec_mixed(&f, h);

            assert_memory_equal(r.b, roots[h].b, BM_HASH_SIZE);
        }
        assert_int_equal(bm_executor_commit_group(&f.ex, &em), BM_OK);
    }
    bm_kv_free(f.kv);
    f.kv = NULL;
    count_records(f.kvdir, &nh, &nu);
    assert_int_equal(nh, 5);
    assert_int_equal(nu, 5);
    fx_open_opts(&f, &o);
    assert_int_equal(bm_kv_rollback_floor(f.kv, &floor, NULL), BM_OK);
    assert_int_equal(floor, 35);
    assert_int_equal(bm_kv_rollback(f.kv, 35, &em), BM_OK);
    want_root(&f, 35, &roots[35]);
    fx_done(&f);
}

/* The empty state's root is SHA-256("blockv2/kv/root/v1" || be64(0) ||
 * 2048 zero bytes) (docs/EXECUTION.md), computed here independently. */
static void test_empty_root_vector(void **state)
{
    static const char tag[] = "blockv2/kv/root/v1";
    crypto_hash_sha256_state st;
    uint8_t zeros[2048 + 8] = {0};
    struct bm_hash want, got;

    (void)state;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof(tag) - 1);
    crypto_hash_sha256_update(&st, zeros, sizeof(zeros));
    crypto_hash_sha256_final(&st, want.b);
    bm_kv_empty_root(&got);
    assert_memory_equal(got.b, want.b, BM_HASH_SIZE);
}

/* A block whose undo log spans several 1 MiB chunks rolls back. */
static void test_rollback_multi_chunk(void **state)
{
    struct bm_kv_options o = {.no_sync = true};
    struct fx f = {0};
    struct bm_buf *a = big_txs("big", 700, 4000, 'a');
    struct bm_buf *b = big_txs("big", 700, 4000, 'b');
    struct bm_hash r1;
    struct bm_buf v = {0};

    (void)state;
    fx_init_opts(&f, &o);
    r1 = exec_txs(&f, 1, a, 700);
    (void)exec_txs(&f, 2, b, 700); /* ~2.8 MB of old values */
    bm_kv_free(f.kv);
    f.kv = NULL;
    {
        size_t nh = 0, nu = 0;

        count_records(f.kvdir, &nh, &nu);
        assert_int_equal(nh, 2);
        assert_true(nu >= 4); /* height 1: one chunk; height 2: three */
    }
    fx_open_opts(&f, &o);
    assert_int_equal(bm_kv_rollback(f.kv, 1, NULL), BM_OK);
    want_root(&f, 1, &r1);
    assert_int_equal(bm_kv_get(f.kv, (const uint8_t *)"big699", 6, &v, NULL,
                               NULL), BM_OK);
    assert_int_equal(v.len, 4000);
    assert_int_equal(v.ptr[0], 'a');
    bm_buf_release(&v);
    bm_exec_txs_free(a, 700);
    bm_exec_txs_free(b, 700);
    fx_done(&f);
}

/* ------------------------------------------------------------ damage */

static void test_undo_parse(void **state)
{
    struct bm__kv_undo u = {0};
    struct bm__kv_undo_ent *v = NULL;
    struct bm_errmsg em = {{0}};
    const uint8_t *p;
    uint8_t bad[64];
    size_t n = 0, len;

    (void)state;
    bm__kv_undo_reset(&u);
    assert_int_equal(bm__kv_undo_add(&u, (const uint8_t *)"k", 1, false,
                                     NULL, 0), BM_OK);
    assert_int_equal(bm__kv_undo_add(&u, (const uint8_t *)"key", 3, true,
                                     (const uint8_t *)"old", 3), BM_OK);
    assert_int_equal(bm__kv_undo_add(&u, (const uint8_t *)"", 0, false, NULL,
                                     0), BM_EINVAL);
    bm__kv_undo_bytes(&u, &p, &len);
    assert_int_equal(bm__kv_undo_parse(p, len, &v, &n, &em), BM_OK);
    assert_int_equal(n, 2);
    assert_false(v[0].had_old);
    assert_true(v[1].had_old);
    assert_int_equal(v[1].vlen, 3);
    assert_memory_equal(v[1].old, "old", 3);
    bm_free(v);
    /* Every strict prefix is refused. */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(bm__kv_undo_parse(p, cut, &v, &n, &em),
                         BM_ECORRUPT);
        assert_null(v);
    }
    /* Trailing byte, bad flag, zero klen, huge count, huge vlen. */
    memcpy(bad, p, len);
    bad[len] = 0;
    assert_int_equal(bm__kv_undo_parse(bad, len + 1, &v, &n, &em),
                     BM_ECORRUPT);
    memcpy(bad, p, len);
    bad[4] = 7;
    assert_int_equal(bm__kv_undo_parse(bad, len, &v, &n, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "had_old"));
    memcpy(bad, p, len);
    bad[5] = 0;
    bad[6] = 0;
    assert_int_equal(bm__kv_undo_parse(bad, len, &v, &n, &em), BM_ECORRUPT);
    memcpy(bad, "\xff\xff\xff\xff", 4);
    assert_int_equal(bm__kv_undo_parse(bad, len, &v, &n, &em), BM_ECORRUPT);
    memcpy(bad, p, len);
    bad[4 + 4 + 3 + 3] = 0x7f; /* vlen of entry 1, top byte */
    assert_int_equal(bm__kv_undo_parse(bad, len, &v, &n, &em), BM_ECORRUPT);
    bm__kv_undo_release(&u);
}

/* A damaged undo chunk in the database: rollback is BM_ECORRUPT and the
 * state stays at the tip. */
static void test_damaged_undo_in_db(void **state)
{
    static const char *const b1[] = {"a=1"};
    static const char *const b2[] = {"a=2"};
    struct bm_kv_options o = {.no_sync = true};
    struct fx f = {0};
    struct bm_hash r2;
    struct bm_errmsg em = {{0}};
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi undo;
    uint8_t key[BM_KV_UNDO_KEY];
    MDB_val k = {sizeof(key), key};
    MDB_val v = {5, (void *)"\x00\x00\x00\x01\x09"};

    (void)state;
    fx_init_opts(&f, &o);
    (void)exec_strs(&f, 1, b1, 1);
    r2 = exec_strs(&f, 2, b2, 1);
    bm_kv_free(f.kv);
    f.kv = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f.kvdir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "undo", 0, &undo), 0);
    bm__kv_undo_key(key, 2, 0);
    assert_int_equal(mdb_put(txn, undo, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    fx_open_opts(&f, &o);
    assert_int_equal(bm_kv_rollback(f.kv, 1, &em), BM_ECORRUPT);
    fprintf(stderr, "damaged undo: %s\n", em.msg);
    want_root(&f, 2, &r2);
    want_value(&f, "a", "2");
    /* Reset still works. */
    assert_int_equal(bm_kv_reset(f.kv, &em), BM_OK);
    want_value(&f, "a", NULL);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_grows_from_1mib),
        cmocka_unit_test(test_map_grows_tmpfs),
        cmocka_unit_test(test_map_limit),
        cmocka_unit_test(test_rollback_roundtrip),
        cmocka_unit_test(test_records_bounded),
        cmocka_unit_test(test_records_bounded_grouped),
        cmocka_unit_test(test_empty_root_vector),
        cmocka_unit_test(test_rollback_multi_chunk),
        cmocka_unit_test(test_undo_parse),
        cmocka_unit_test(test_damaged_undo_in_db),
    };

    return BM_TEST_RUN(tests);
}
