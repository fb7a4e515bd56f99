#include "bm_test.h"

#include "blockv2/store.h"
#include "store/chain.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/lmdb_env.h"

#include <lmdb.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *self_exe;

/* ---- temp homes ---- */

static char *make_home(void)
{
    char tmpl[] = "/tmp/bm-store-XXXXXX";
    char *dir = mkdtemp(tmpl);

    assert_non_null(dir);
    return bm_xstrdup(dir);
}

static void rm_rf(const char *path)
{
    char cmd[512];
    int rc;

    /* Restore write permission first (the read-only test removes it). */
    snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'",
             path, path);
    rc = system(cmd);
    assert_int_equal(rc, 0);
}

static void free_home(char *home)
{
    rm_rf(home);
    bm_free(home);
}

static struct bm_store *open_ok(const char *home,
                                const struct bm_store_options *opt)
{
    struct bm_errmsg em = {{0}};
    struct bm_store *s = NULL;
    enum bm_err err = bm_store_open(&s, home, opt, &em);

    if (err != BM_OK) {
        fail_msg("open %s: %s (%s)", home, bm_err_name(err), em.msg);
    }
    return s;
}

static void commit_ok(struct chain *c, struct bm_store *s, size_t n,
                      size_t tx_len)
{
    struct bm_errmsg em = {{0}};
    enum bm_err err = chain_commit(c, s, n, tx_len, &em);

    if (err != BM_OK) {
        fail_msg("commit: %s (%s)", bm_err_name(err), em.msg);
    }
}

static void check_ok(struct bm_store *s, struct bm_store_check_report *rep)
{
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_store_check(s, rep, &em);

    if (err != BM_OK) {
        fail_msg("check: %s (%s)", bm_err_name(err), em.msg);
    }
}

static uint64_t height_of(struct bm_store *s)
{
    uint64_t h = 0;

    assert_int_equal(bm_store_height(s, &h, NULL), BM_OK);
    return h;
}

/* Decodes the stored header at height and returns its hash. */
static struct bm_hash hash_at(struct bm_store *s, uint64_t height)
{
    struct bm_signed_header sh = {0};
    struct bm_buf b = {0};
    struct bm_hash h;

    assert_int_equal(bm_store_get_header(s, height, &b, NULL), BM_OK);
    assert_int_equal(bm_signed_header_decode(&sh, b.ptr, b.len), BM_OK);
    assert_int_equal(sh.header.height, height);
    assert_int_equal(bm_header_hash(&sh.header, &h), BM_OK);
    bm_signed_header_release(&sh);
    bm_buf_release(&b);
    return h;
}

/* Raw LMDB access to plant corrupt values (the store must be closed). */
static void raw_put(const char *home, const char *key, const void *val,
                    size_t len, bool del)
{
    char dir[512];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key};
    MDB_val v = {.mv_size = len, .mv_data = (void *)val};

    snprintf(dir, sizeof(dir), "%s/data", home);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_mapsize(env, (size_t)64 << 20), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    if (del) {
        assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    } else {
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* ---- tests ---- */

static void test_missing_home(void **state)
{
    struct bm_errmsg em = {{0}};
    struct bm_store *s = NULL;
    char *home = make_home();
    char path[512];
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/nope", home);
    assert_int_equal(bm_store_open(&s, path, NULL, &em), BM_ENOHOME);
    assert_null(s);
    assert_non_null(strstr(em.msg, "does not exist"));
    assert_non_null(strstr(em.msg, path));
    snprintf(path, sizeof(path), "%s/file", home);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(bm_store_open(&s, path, NULL, &em), BM_ENOHOME);
    assert_int_equal(bm_store_open(&s, "", NULL, &em), BM_EINVAL);
    /* Read-only open of a home without a store. */
    {
        struct bm_store_options ro = {.read_only = true};

        assert_int_equal(bm_store_open(&s, home, &ro, &em), BM_ENOTFOUND);
    }
    free_home(home);
}

/*
 * A writer killed while it created the store leaves data/ with LOCK and
 * at most a data.mdb.new (data.mdb is renamed into place whole, see
 * bm__env_create_whole): a read-only open finds no store, and the next
 * writer replaces the leftover and opens. (A half-made data.mdb used to
 * read as "Bad file descriptor", or MDB_INVALID for every later open.)
 */
static void test_create_killed(void **state)
{
    struct bm_store_options ro = {.read_only = true};
    struct bm_store_check_report rep;
    struct bm_errmsg em = {{0}};
    struct bm_store *s = NULL;
    char *home = make_home();
    char path[512];
    struct stat st;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/data", home);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/data/LOCK", home);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/data/data.mdb.new", home);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0); /* zeros, no meta page */
    close(fd);
    assert_int_equal(bm_store_open(&s, home, &ro, &em), BM_ENOTFOUND);
    assert_null(s);
    s = open_ok(home, NULL);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    bm_store_close(s);
    s = open_ok(home, &ro);
    check_ok(s, &rep);
    assert_true(rep.empty);
    bm_store_close(s);
    free_home(home);
}

static void test_empty(void **state)
{
    struct bm_store_check_report rep;
    struct bm_store_blockbuf b = {0};
    struct bm_buf buf = {0};
    struct bm_hash zero = {{0}};
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    uint64_t h = 99;

    (void)state;
    assert_int_equal(bm_store_height(s, &h, NULL), BM_ENOTFOUND);
    assert_int_equal(bm_store_get_block(s, 1, &b, NULL), BM_ENOTFOUND);
    assert_int_equal(bm_store_get_block_by_hash(s, &zero, &b, NULL),
                     BM_ENOTFOUND);
    assert_int_equal(bm_store_get_height_by_hash(s, &zero, &h, NULL),
                     BM_ENOTFOUND);
    assert_int_equal(bm_store_get_state(s, 1, &buf, NULL), BM_ENOTFOUND);
    assert_int_equal(bm_store_get_latest_state(s, &h, &buf, NULL),
                     BM_ENOTFOUND);
    assert_int_equal(bm_store_get_meta(s, "x", &buf, NULL), BM_ENOTFOUND);
    assert_int_equal(bm_store_rollback(s, 1, NULL, NULL), BM_ENOTFOUND);
    check_ok(s, &rep);
    assert_true(rep.empty);
    assert_int_equal(rep.n_blocks, 0);
    assert_true(bm_store_map_size(s) >= BM_STORE_DEFAULT_MAP_SIZE);
    bm_store_close(s);
    bm_store_close(NULL);
    free_home(home);
}

static void test_write_read(void **state)
{
    struct bm_store_encoded enc[10];
    struct bm_store_check_report rep;
    struct bm_store_blockbuf b = {0};
    struct bm_store_iter *it = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_buf buf = {0};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    uint64_t h;
    int rc;

    (void)state;
    memset(enc, 0, sizeof(enc));
    assert_int_equal(chain_init(&c, 1), BM_OK);
    for (int i = 0; i < 10; i++) {
        struct bm_store_block blk;
        struct bm_store_batch batch = {.blocks = &blk, .n_blocks = 1};

        assert_int_equal(chain_next(&c, 100 + (size_t)i, &enc[i]), BM_OK);
        bm_store_encoded_view(&enc[i], &blk);
        assert_int_equal(bm_store_write(s, &batch, &em), BM_OK);
        assert_int_equal(height_of(s), (uint64_t)i + 1);
    }
    for (int i = 0; i < 10; i++) {
        uint64_t want = (uint64_t)i + 1;

        assert_int_equal(bm_store_get_block(s, want, &b, NULL), BM_OK);
        assert_int_equal(b.height, want);
        assert_true(bm_buf_eq(&b.header, &enc[i].header));
        assert_true(bm_buf_eq(&b.data, &enc[i].data));
        assert_true(bm_buf_eq(&b.signature, &enc[i].signature));
        assert_int_equal(bm_store_get_block_by_hash(s, &enc[i].hash, &b, NULL),
                         BM_OK);
        assert_int_equal(b.height, want);
        assert_true(bm_buf_eq(&b.data, &enc[i].data));
        assert_int_equal(
            bm_store_get_height_by_hash(s, &enc[i].hash, &h, NULL), BM_OK);
        assert_int_equal(h, want);
        assert_int_equal(bm_store_get_header(s, want, &buf, NULL), BM_OK);
        assert_true(bm_buf_eq(&buf, &enc[i].header));
        assert_int_equal(bm_store_get_state(s, want, &buf, NULL), BM_OK);
        assert_true(bm_buf_eq(&buf, &enc[i].state));
        /* The index is by Header.Hash(), which the stored bytes give. */
        {
            struct bm_hash hh = hash_at(s, want);

            assert_memory_equal(hh.b, enc[i].hash.b, BM_HASH_SIZE);
        }
    }
    assert_int_equal(bm_store_get_latest_state(s, &h, &buf, NULL), BM_OK);
    assert_int_equal(h, 10);
    assert_true(bm_buf_eq(&buf, &enc[9].state));
    assert_int_equal(bm_store_get_block(s, 11, &b, NULL), BM_ENOTFOUND);
    assert_null(b.header.ptr);

    /* Iterator over 3..7, then past the tip. */
    assert_int_equal(bm_store_iter_new(&it, s, 3, 7), BM_OK);
    for (uint64_t want = 3; want <= 7; want++) {
        rc = bm_store_iter_next(it, &b, NULL);
        assert_int_equal(rc, 1);
        assert_int_equal(b.height, want);
        assert_true(bm_buf_eq(&b.header, &enc[want - 1].header));
    }
    assert_int_equal(bm_store_iter_next(it, &b, NULL), 0);
    assert_int_equal(bm_store_iter_next(it, &b, NULL), 0);
    bm_store_iter_free(it);
    assert_int_equal(bm_store_iter_new(&it, s, 9, 12), BM_OK);
    assert_int_equal(bm_store_iter_next(it, &b, NULL), 1);
    assert_int_equal(bm_store_iter_next(it, &b, NULL), 1);
    assert_int_equal(bm_store_iter_next(it, &b, NULL), BM_ENOTFOUND);
    bm_store_iter_free(it);
    assert_int_equal(bm_store_iter_new(&it, s, 5, 4), BM_EINVAL);
    assert_int_equal(bm_store_iter_new(&it, s, 0, 4), BM_EINVAL);
    bm_store_iter_free(NULL);

    check_ok(s, &rep);
    assert_false(rep.empty);
    assert_int_equal(rep.height, 10);
    assert_int_equal(rep.base, 1);
    assert_int_equal(rep.n_blocks, 10);
    assert_int_equal(rep.n_states, 10);

    for (int i = 0; i < 10; i++) {
        bm_store_encoded_release(&enc[i]);
    }
    bm_store_blockbuf_release(&b);
    bm_buf_release(&buf);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_group_commit(void **state)
{
    struct bm_store_check_report rep;
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);

    (void)state;
    assert_int_equal(chain_init(&c, 2), BM_OK);
    commit_ok(&c, s, 50, 500);
    assert_int_equal(height_of(s), 50);
    commit_ok(&c, s, 1, 500);
    commit_ok(&c, s, 64, 10);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 115);
    assert_int_equal(rep.height, 115);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_batch_errors(void **state)
{
    struct bm_store_encoded enc[3];
    struct bm_store_block blk[3];
    struct bm_store_batch b = {.blocks = blk};
    struct bm_store_meta_op op = {0};
    struct bm_errmsg em = {{0}};
    struct bm_store_blockbuf got = {0};
    char longname[BM_STORE_MAX_META_NAME + 2];
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);

    (void)state;
    memset(enc, 0, sizeof(enc));
    assert_int_equal(chain_init(&c, 3), BM_OK);
    commit_ok(&c, s, 2, 50);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(chain_next(&c, 50, &enc[i]), BM_OK);
        bm_store_encoded_view(&enc[i], &blk[i]);
    }
    /* Gap after the tip (block 4 first). */
    b.blocks = &blk[1];
    b.n_blocks = 2;
    assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "want 3"));
    /* Not contiguous inside the batch. */
    {
        struct bm_store_block two[2] = {blk[0], blk[2]};

        b.blocks = two;
        assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
    }
    /* Old height. */
    b.blocks = blk;
    b.n_blocks = 1;
    {
        struct bm_store_block old = blk[0];

        old.height = 2;
        b.blocks = &old;
        assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
        old.height = 0;
        assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
        old = blk[0];
        old.header_len = 0;
        assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
        old = blk[0];
        old.state_len = 0;
        assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
        assert_non_null(strstr(em.msg, "state"));
        old = blk[0];
        old.data_len = (size_t)BM_STORE_MAX_VALUE + 1;
        assert_int_equal(bm_store_write(s, &b, &em), BM_ETOOBIG);
        old = blk[0];
        old.signature = NULL;
        assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
    }
    /* Duplicate hash: block 4 reuses block 3's hash. The whole batch,
     * including block 3, must be absent afterwards. */
    {
        struct bm_store_block dup[2] = {blk[0], blk[1]};

        dup[1].hash = dup[0].hash;
        b.blocks = dup;
        b.n_blocks = 2;
        assert_int_equal(bm_store_write(s, &b, &em), BM_EEXIST);
        assert_non_null(strstr(em.msg, "/0/i/"));
        assert_int_equal(height_of(s), 2);
        assert_int_equal(bm_store_get_block(s, 3, &got, NULL), BM_ENOTFOUND);
    }
    /* Bad metadata names. */
    b.n_blocks = 0;
    b.meta = &op;
    b.n_meta = 1;
    op.name = "";
    op.value = (const uint8_t *)"v";
    op.len = 1;
    assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    op.name = longname;
    assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
    op.name = NULL;
    assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
    assert_int_equal(bm_store_get_meta(s, longname, &(struct bm_buf){0}, NULL),
                     BM_EINVAL);
    /* A meta op that fails validation keeps the blocks out too. */
    b.blocks = blk;
    b.n_blocks = 1;
    assert_int_equal(bm_store_write(s, &b, &em), BM_EINVAL);
    assert_int_equal(height_of(s), 2);
    /* The valid batch still goes in. */
    b.n_meta = 0;
    b.n_blocks = 3;
    assert_int_equal(bm_store_write(s, &b, &em), BM_OK);
    assert_int_equal(height_of(s), 5);
    check_ok(s, NULL);

    for (int i = 0; i < 3; i++) {
        bm_store_encoded_release(&enc[i]);
    }
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_meta_pending(void **state)
{
    struct bm_store_encoded enc = {0};
    struct bm_store_block blk;
    struct bm_store_meta_op ops[2] = {
        {"d", (const uint8_t *)"\x05\0\0\0\0\0\0\0", 8},
        {"last-submitted-header-height", (const uint8_t *)"\1\0\0\0\0\0\0\0",
         8},
    };
    struct bm_store_batch b = {.blocks = &blk, .n_blocks = 1, .meta = ops,
                               .n_meta = 2, .clear_pending = true};
    struct bm_buf v = {0}, ph = {0}, pd = {0};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);

    (void)state;
    assert_int_equal(chain_init(&c, 4), BM_OK);
    assert_int_equal(bm_store_put_meta(s, "gdh", (const uint8_t *)"abc", 3,
                                       NULL),
                     BM_OK);
    assert_int_equal(bm_store_get_meta(s, "gdh", &v, NULL), BM_OK);
    assert_true(bm_buf_eq_raw(&v, (const uint8_t *)"abc", 3));
    assert_int_equal(bm_store_put_meta(s, "gdh", (const uint8_t *)"", 0, NULL),
                     BM_OK);
    assert_int_equal(bm_store_get_meta(s, "gdh", &v, NULL), BM_OK);
    assert_int_equal(v.len, 0);
    assert_int_equal(bm_store_put_meta(s, "gdh", NULL, 0, NULL), BM_OK);
    assert_int_equal(bm_store_get_meta(s, "gdh", &v, NULL), BM_ENOTFOUND);
    assert_int_equal(bm_store_put_meta(s, "gdh", NULL, 3, NULL), BM_EINVAL);
    /* Deleting an absent name is fine. */
    assert_int_equal(bm_store_put_meta(s, "gdh", NULL, 0, NULL), BM_OK);

    /* Pending block: both or nothing. */
    assert_int_equal(bm_store_get_pending(s, &ph, &pd, NULL), BM_ENOTFOUND);
    assert_int_equal(chain_next(&c, 64, &enc), BM_OK);
    assert_int_equal(bm_store_set_pending(s, enc.header.ptr, enc.header.len,
                                          enc.data.ptr, enc.data.len, NULL),
                     BM_OK);
    assert_int_equal(bm_store_get_pending(s, &ph, &pd, NULL), BM_OK);
    assert_true(bm_buf_eq(&ph, &enc.header));
    assert_true(bm_buf_eq(&pd, &enc.data));
    assert_int_equal(bm_store_get_meta(s, BM_STORE_META_PENDING_HEADER, &v,
                                       NULL),
                     BM_OK);
    assert_true(bm_buf_eq(&v, &enc.header));
    assert_int_equal(bm_store_clear_pending(s, NULL), BM_OK);
    assert_int_equal(bm_store_get_pending(s, &ph, &pd, NULL), BM_ENOTFOUND);
    assert_null(ph.ptr);
    assert_int_equal(bm_store_set_pending(s, NULL, 5, NULL, 0, NULL),
                     BM_EINVAL);

    /* Block + metadata + clearing the pending block: one transaction. */
    assert_int_equal(bm_store_set_pending(s, enc.header.ptr, enc.header.len,
                                          enc.data.ptr, enc.data.len, NULL),
                     BM_OK);
    bm_store_encoded_view(&enc, &blk);
    assert_int_equal(bm_store_write(s, &b, NULL), BM_OK);
    assert_int_equal(bm_store_get_pending(s, &ph, &pd, NULL), BM_ENOTFOUND);
    assert_int_equal(bm_store_get_meta(s, "d", &v, NULL), BM_OK);
    assert_int_equal(bm_get_le64(v.ptr), 5);
    assert_int_equal(bm_store_get_meta(s, "last-submitted-header-height", &v,
                                       NULL),
                     BM_OK);
    assert_int_equal(height_of(s), 1);
    check_ok(s, NULL);

    bm_buf_release(&v);
    bm_store_encoded_release(&enc);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_put_state(void **state)
{
    struct bm_store_check_report rep;
    struct bm_state st = {0};
    struct bm_buf enc = {0}, got = {0};
    struct bm_errmsg em = {{0}};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    uint64_t h;

    (void)state;
    assert_int_equal(chain_init(&c, 5), BM_OK);
    /* Genesis state at initial_height - 1 = 0, before any block. */
    st.last_block_height = 0;
    st.initial_height = 1;
    assert_int_equal(bm_str_set(&st.chain_id, CHAIN_ID), BM_OK);
    assert_int_equal(bm_state_encode(&st, &enc), BM_OK);
    assert_int_equal(bm_store_put_state(s, 0, enc.ptr, enc.len, &em), BM_OK);
    assert_int_equal(height_of(s), 0);
    check_ok(s, &rep);
    assert_false(rep.empty);
    assert_int_equal(rep.n_blocks, 0);
    assert_int_equal(bm_store_get_latest_state(s, &h, &got, NULL), BM_OK);
    assert_int_equal(h, 0);
    assert_true(bm_buf_eq(&got, &enc));
    assert_int_equal(bm_store_put_state(s, 0, NULL, 0, &em), BM_EINVAL);

    commit_ok(&c, s, 3, 10);
    assert_int_equal(bm_store_put_state(s, 2, enc.ptr, enc.len, &em),
                     BM_EINVAL);
    assert_non_null(strstr(em.msg, "want 3"));
    /* Replace the tip state (e.g. a DA height update). */
    st.last_block_height = 3;
    st.da_height = 77;
    assert_int_equal(bm_state_encode(&st, &enc), BM_OK);
    assert_int_equal(bm_store_put_state(s, 3, enc.ptr, enc.len, &em), BM_OK);
    assert_int_equal(bm_store_get_latest_state(s, &h, &got, NULL), BM_OK);
    assert_true(bm_buf_eq(&got, &enc));
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 3);
    assert_int_equal(rep.n_states, 4);
    /* Rollback all three blocks down to the genesis state. */
    assert_int_equal(bm_store_rollback(s, 3, &h, &em), BM_OK);
    assert_int_equal(h, 0);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 0);

    bm_state_release(&st);
    bm_buf_release(&enc);
    bm_buf_release(&got);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_restart(void **state)
{
    struct bm_store_blockbuf b1[30], b2 = {0};
    struct bm_buf st1 = {0}, st2 = {0}, m = {0};
    struct bm_store_check_report r1, r2;
    struct bm_hash hh;
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    uint64_t h1, h2;

    (void)state;
    memset(b1, 0, sizeof(b1));
    assert_int_equal(chain_init(&c, 6), BM_OK);
    commit_ok(&c, s, 10, 300);
    commit_ok(&c, s, 20, 300);
    assert_int_equal(bm_store_put_meta(s, "d", (const uint8_t *)"12345678", 8,
                                       NULL),
                     BM_OK);
    for (uint64_t h = 1; h <= 30; h++) {
        assert_int_equal(bm_store_get_block(s, h, &b1[h - 1], NULL), BM_OK);
    }
    assert_int_equal(bm_store_get_latest_state(s, &h1, &st1, NULL), BM_OK);
    check_ok(s, &r1);
    hh = hash_at(s, 17);
    bm_store_close(s);

    s = open_ok(home, NULL);
    assert_int_equal(height_of(s), 30);
    for (uint64_t h = 1; h <= 30; h++) {
        assert_int_equal(bm_store_get_block(s, h, &b2, NULL), BM_OK);
        assert_true(bm_buf_eq(&b2.header, &b1[h - 1].header));
        assert_true(bm_buf_eq(&b2.data, &b1[h - 1].data));
        assert_true(bm_buf_eq(&b2.signature, &b1[h - 1].signature));
    }
    assert_int_equal(bm_store_get_latest_state(s, &h2, &st2, NULL), BM_OK);
    assert_int_equal(h1, h2);
    assert_true(bm_buf_eq(&st1, &st2));
    assert_int_equal(bm_store_get_height_by_hash(s, &hh, &h2, NULL), BM_OK);
    assert_int_equal(h2, 17);
    assert_int_equal(bm_store_get_meta(s, "d", &m, NULL), BM_OK);
    assert_true(bm_buf_eq_raw(&m, (const uint8_t *)"12345678", 8));
    check_ok(s, &r2);
    assert_memory_equal(&r1, &r2, sizeof(r1));
    /* And it keeps going. */
    assert_int_equal(chain_resume(&c, s), BM_OK);
    commit_ok(&c, s, 5, 300);
    check_ok(s, &r2);
    assert_int_equal(r2.height, 35);

    for (int i = 0; i < 30; i++) {
        bm_store_blockbuf_release(&b1[i]);
    }
    bm_store_blockbuf_release(&b2);
    bm_buf_release(&st1);
    bm_buf_release(&st2);
    bm_buf_release(&m);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_rollback(void **state)
{
    struct bm_store_check_report rep;
    struct bm_store_blockbuf b = {0};
    struct bm_hash hashes[21];
    struct bm_errmsg em = {{0}};
    struct bm_buf ph = {0}, pd = {0}, st = {0};
    struct bm_state dst = {0};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    uint64_t h;

    (void)state;
    assert_int_equal(chain_init(&c, 7), BM_OK);
    commit_ok(&c, s, 20, 200);
    for (uint64_t i = 1; i <= 20; i++) {
        hashes[i] = hash_at(s, i);
    }
    assert_int_equal(bm_store_set_pending(s, (const uint8_t *)"h", 1,
                                          (const uint8_t *)"d", 1, NULL),
                     BM_OK);
    assert_int_equal(bm_store_rollback(s, 0, &h, &em), BM_OK);
    assert_int_equal(h, 20);
    assert_int_equal(bm_store_rollback(s, 21, &h, &em), BM_EINVAL);
    assert_int_equal(bm_store_rollback(s, 5, &h, &em), BM_OK);
    assert_int_equal(h, 15);
    assert_int_equal(height_of(s), 15);
    for (uint64_t i = 16; i <= 20; i++) {
        assert_int_equal(bm_store_get_block(s, i, &b, NULL), BM_ENOTFOUND);
        assert_int_equal(bm_store_get_height_by_hash(s, &hashes[i], &h, NULL),
                         BM_ENOTFOUND);
        assert_int_equal(bm_store_get_state(s, i, &st, NULL), BM_ENOTFOUND);
    }
    for (uint64_t i = 1; i <= 15; i++) {
        assert_int_equal(bm_store_get_height_by_hash(s, &hashes[i], &h, NULL),
                         BM_OK);
        assert_int_equal(h, i);
    }
    assert_int_equal(bm_store_get_latest_state(s, &h, &st, NULL), BM_OK);
    assert_int_equal(bm_state_decode(&dst, st.ptr, st.len), BM_OK);
    assert_int_equal(dst.last_block_height, 15);
    assert_int_equal(bm_store_get_pending(s, &ph, &pd, NULL), BM_ENOTFOUND);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 15);
    /* No state at height 0 here: the first block cannot be removed. */
    assert_int_equal(bm_store_rollback(s, 15, &h, &em), BM_ENOTFOUND);
    assert_non_null(strstr(em.msg, "/0/s/0"));
    assert_int_equal(bm_store_rollback(s, 14, &h, &em), BM_OK);
    assert_int_equal(h, 1);
    /* A different block 2 (another fork) can be written after it. */
    c.height = 1;
    c.last_hash = hashes[1];
    c.salt = 99;
    commit_ok(&c, s, 3, 200);
    assert_false(0 == memcmp(hash_at(s, 2).b, hashes[2].b, BM_HASH_SIZE));
    check_ok(s, &rep);
    assert_int_equal(rep.height, 4);

    bm_state_release(&dst);
    bm_buf_release(&st);
    bm_store_blockbuf_release(&b);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_map_grows(void **state)
{
    struct bm_store_options opt = {.map_size = 64 << 10};
    struct bm_store_check_report rep;
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, &opt);
    size_t before = bm_store_map_size(s);

    (void)state;
    assert_int_equal(chain_init(&c, 8), BM_OK);
    for (int i = 0; i < 40; i++) {
        commit_ok(&c, s, 5, 2000);
    }
    assert_true(bm_store_map_size(s) > before);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 200);
    bm_store_close(s);
    /* The grown size persists. */
    s = open_ok(home, &opt);
    assert_true(bm_store_map_size(s) > before);
    check_ok(s, &rep);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

/* One batch larger than the map: it is retried after each growth, and the
 * retry is idempotent (every part lands exactly once). */
static void test_map_grows_mid_batch(void **state)
{
    struct bm_store_options opt = {.map_size = 64 << 10};
    struct bm_store_encoded enc[40];
    struct bm_store_block blk[40];
    struct bm_store_meta_op op = {"d", (const uint8_t *)"\x28\0\0\0\0\0\0\0",
                                  8};
    struct bm_store_batch b = {.blocks = blk, .n_blocks = 40, .meta = &op,
                               .n_meta = 1, .clear_pending = true};
    struct bm_store_check_report rep;
    struct bm_errmsg em = {{0}};
    struct bm_buf v = {0}, w = {0};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, &opt);
    size_t before = bm_store_map_size(s);

    (void)state;
    memset(enc, 0, sizeof(enc));
    assert_int_equal(chain_init(&c, 16), BM_OK);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(chain_next(&c, 2000, &enc[i]), BM_OK);
        bm_store_encoded_view(&enc[i], &blk[i]);
    }
    assert_int_equal(bm_store_set_pending(s, (const uint8_t *)"h", 1,
                                          (const uint8_t *)"d", 1, NULL),
                     BM_OK);
    assert_int_equal(bm_store_write(s, &b, &em), BM_OK);
    assert_true(bm_store_map_size(s) >= 4 * before);
    assert_int_equal(height_of(s), 40);
    assert_int_equal(bm_store_get_meta(s, "d", &v, NULL), BM_OK);
    assert_int_equal(bm_get_le64(v.ptr), 40);
    assert_int_equal(bm_store_get_pending(s, &v, &w, NULL), BM_ENOTFOUND);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 40);
    assert_int_equal(rep.n_states, 40);
    for (int i = 0; i < 40; i++) {
        bm_store_encoded_release(&enc[i]);
    }
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_map_full(void **state)
{
    struct bm_store_options opt = {.map_size = 256 << 10,
                                   .max_map_size = 256 << 10};
    struct bm_store_check_report rep;
    struct bm_errmsg em = {{0}};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, &opt);
    enum bm_err err = BM_OK;
    uint64_t last = 0;

    (void)state;
    assert_int_equal(chain_init(&c, 9), BM_OK);
    for (int i = 0; i < 1000 && err == BM_OK; i++) {
        err = chain_commit(&c, s, 3, 2000, &em);
        if (err == BM_OK) {
            last = c.height;
        }
    }
    assert_int_equal(err, BM_EMAP_FULL);
    assert_non_null(strstr(em.msg, "full"));
    assert_true(last > 0);
    /* Nothing partial: the height is the last acknowledged one. */
    assert_int_equal(height_of(s), last);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, last);
    /* Reads still work; rollback frees space. */
    assert_int_equal(bm_store_rollback(s, 10, NULL, &em), BM_OK);
    bm_store_close(s);
    chain_release(&c);
    free_home(home);
}

/* bm_store_check_tip: the tip block and its state only, naming the key. */
static void test_check_tip(void **state)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf hdr8 = {0}, st8 = {0};
    struct bm_store_blockbuf b8 = {0};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    uint8_t v[8];

    (void)state;
    assert_int_equal(bm_store_check_tip(s, &em), BM_OK); /* empty */
    assert_int_equal(chain_init(&c, 10), BM_OK);
    commit_ok(&c, s, 8, 100);
    assert_int_equal(bm_store_check_tip(s, &em), BM_OK);
    assert_int_equal(bm_store_get_header(s, 8, &hdr8, NULL), BM_OK);
    assert_int_equal(bm_store_get_state(s, 8, &st8, NULL), BM_OK);
    assert_int_equal(bm_store_get_block(s, 8, &b8, NULL), BM_OK);
    bm_store_close(s);

#define EXPECT_TIP(code, needle)                                               \
    do {                                                                       \
        s = open_ok(home, NULL);                                               \
        assert_int_equal(bm_store_check_tip(s, &em), (code));                  \
        if ((code) != BM_OK && strstr(em.msg, (needle)) == NULL) {             \
            fail_msg("message '%s' lacks '%s'", em.msg, (needle));            \
        }                                                                      \
        bm_store_close(s);                                                     \
    } while (0)
    /* below the tip: not read (bm_store_check's job) */
    raw_put(home, "/0/h/5", "\xff\xff\xff", 3, false);
    EXPECT_TIP(BM_OK, "");
    raw_put(home, "/0/h/8", "garbage", 7, false);
    EXPECT_TIP(BM_ECORRUPT, "/0/h/8");
    raw_put(home, "/0/h/8", hdr8.ptr, hdr8.len, false);
    raw_put(home, "/0/d/8", "\xff", 1, false);
    EXPECT_TIP(BM_ECORRUPT, "/0/d/8");
    raw_put(home, "/0/d/8", NULL, 0, true);
    EXPECT_TIP(BM_ECORRUPT, "/0/d/8");
    raw_put(home, "/0/d/8", b8.data.ptr, b8.data.len, false);
    EXPECT_TIP(BM_OK, "");
    raw_put(home, "/0/s/8", "\xff", 1, false);
    EXPECT_TIP(BM_ECORRUPT, "/0/s/8");
    raw_put(home, "/0/s/8", st8.ptr, st8.len, false);
    raw_put(home, "/0/t", "abc", 3, false);
    EXPECT_TIP(BM_ECORRUPT, "/0/t");
    bm_put_le64(v, 9); /* no block there */
    raw_put(home, "/0/t", v, 8, false);
    EXPECT_TIP(BM_ECORRUPT, "/0/h/9");
#undef EXPECT_TIP
    bm_store_blockbuf_release(&b8);
    bm_buf_release(&hdr8);
    bm_buf_release(&st8);
    chain_release(&c);
    free_home(home);
}

static void test_corrupt(void **state)
{
    struct bm_store_blockbuf b = {0}, b3 = {0};
    struct bm_errmsg em = {{0}};
    struct bm_hash h5;
    struct bm_buf hdr5 = {0}, hdr6 = {0}, st8 = {0};
    char key[128], hex[2 * BM_HASH_SIZE + 1];
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    uint64_t h;
    uint8_t v[8];

    (void)state;
    assert_int_equal(chain_init(&c, 10), BM_OK);
    commit_ok(&c, s, 8, 100);
    check_ok(s, NULL);
    h5 = hash_at(s, 5);
    assert_int_equal(bm_store_get_header(s, 5, &hdr5, NULL), BM_OK);
    assert_int_equal(bm_store_get_header(s, 6, &hdr6, NULL), BM_OK);
    assert_int_equal(bm_store_get_block(s, 3, &b3, NULL), BM_OK);
    assert_int_equal(bm_store_get_state(s, 8, &st8, NULL), BM_OK);
    bm_store_close(s);

#define EXPECT_CHECK_CORRUPT(needle)                                           \
    do {                                                                       \
        s = open_ok(home, NULL);                                               \
        assert_int_equal(bm_store_check(s, NULL, &em), BM_ECORRUPT);           \
        if (strstr(em.msg, (needle)) == NULL) {                                \
            fail_msg("check message '%s' lacks '%s'", em.msg, (needle));       \
        }                                                                      \
        bm_store_close(s);                                                     \
    } while (0)
#define EXPECT_CHECK_OK()                                                      \
    do {                                                                       \
        s = open_ok(home, NULL);                                               \
        check_ok(s, NULL);                                                     \
        bm_store_close(s);                                                     \
    } while (0)

    /* /0/t of the wrong size: every path reports it, nothing crashes. */
    raw_put(home, "/0/t", "abc", 3, false);
    s = open_ok(home, NULL);
    assert_int_equal(bm_store_height(s, &h, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "/0/t"));
    assert_int_equal(bm_store_check(s, NULL, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "/0/t"));
    {
        struct bm_buf tmp = {0};

        assert_int_equal(bm_store_get_latest_state(s, &h, &tmp, &em),
                         BM_ECORRUPT);
        assert_null(tmp.ptr);
    }
    assert_int_equal(chain_commit(&c, s, 1, 10, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "/0/t"));
    assert_int_equal(bm_store_rollback(s, 1, NULL, &em), BM_ECORRUPT);
    bm_store_close(s);
    bm_put_le64(v, 8);
    raw_put(home, "/0/t", v, 8, false);
    EXPECT_CHECK_OK();
    /* /0/t pointing below the highest block. */
    bm_put_le64(v, 7);
    raw_put(home, "/0/t", v, 8, false);
    EXPECT_CHECK_CORRUPT("/0/t");
    bm_put_le64(v, 8);
    raw_put(home, "/0/t", v, 8, false);

    /* Hash index value of the wrong size. */
    bm_hex_encode_upper(hex, h5.b, BM_HASH_SIZE);
    snprintf(key, sizeof(key), "/0/i/%s", hex);
    raw_put(home, key, "\1\2\3\4", 4, false);
    s = open_ok(home, NULL);
    assert_int_equal(bm_store_get_height_by_hash(s, &h5, &h, &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, key));
    assert_int_equal(bm_store_get_block_by_hash(s, &h5, &b, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, key));
    bm_store_close(s);
    EXPECT_CHECK_CORRUPT(key);
    /* Index pointing at the wrong height. */
    bm_put_le64(v, 4);
    raw_put(home, key, v, 8, false);
    EXPECT_CHECK_CORRUPT(key);
    /* Index entry missing. */
    raw_put(home, key, NULL, 0, true);
    EXPECT_CHECK_CORRUPT("/0/i");
    bm_put_le64(v, 5);
    raw_put(home, key, v, 8, false);
    EXPECT_CHECK_OK();

    /* Undecodable header. */
    raw_put(home, "/0/h/5", "\xff\xff\xff", 3, false);
    EXPECT_CHECK_CORRUPT("/0/h/5");
    /* Header 6 stored at height 5: wrong height in the value. */
    raw_put(home, "/0/h/5", hdr6.ptr, hdr6.len, false);
    EXPECT_CHECK_CORRUPT("/0/h/5");
    raw_put(home, "/0/h/5", hdr5.ptr, hdr5.len, false);
    /* Signature in /0/c differs from the header's. */
    raw_put(home, "/0/c/4", "sig", 3, false);
    EXPECT_CHECK_CORRUPT("/0/c/4");
    raw_put(home, "/0/c/4", b3.signature.ptr, b3.signature.len, false);
    EXPECT_CHECK_CORRUPT("/0/c/4");
    {
        /* Restore from block 4's own header. */
        struct bm_signed_header sh = {0};
        struct bm_buf h4 = {0};

        s = open_ok(home, NULL);
        assert_int_equal(bm_store_get_header(s, 4, &h4, NULL), BM_OK);
        bm_store_close(s);
        assert_int_equal(bm_signed_header_decode(&sh, h4.ptr, h4.len), BM_OK);
        raw_put(home, "/0/c/4", sh.signature.ptr, sh.signature.len, false);
        bm_signed_header_release(&sh);
        bm_buf_release(&h4);
    }
    EXPECT_CHECK_OK();
    /* Missing data for a block that exists. */
    raw_put(home, "/0/d/3", NULL, 0, true);
    s = open_ok(home, NULL);
    assert_int_equal(bm_store_get_block(s, 3, &b, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "/0/d/3"));
    bm_store_close(s);
    EXPECT_CHECK_CORRUPT("/0/d");
    /* Undecodable data. */
    raw_put(home, "/0/d/3", "\xff", 1, false);
    EXPECT_CHECK_CORRUPT("/0/d/3");
    raw_put(home, "/0/d/3", b3.data.ptr, b3.data.len, false);
    EXPECT_CHECK_OK();
    /* Malformed height in a key. */
    raw_put(home, "/0/c/007", "x", 1, false);
    EXPECT_CHECK_CORRUPT("/0/c/007");
    raw_put(home, "/0/c/007", NULL, 0, true);
    /* Undecodable state at the tip, then a missing one. */
    raw_put(home, "/0/s/8", "\xff", 1, false);
    EXPECT_CHECK_CORRUPT("/0/s/8");
    raw_put(home, "/0/s/8", NULL, 0, true);
    EXPECT_CHECK_CORRUPT("/0/s/8");
    /* State of another height at the tip. */
    raw_put(home, "/0/s/8", "\x20\x07", 2, false);
    EXPECT_CHECK_CORRUPT("/0/s/8");
    raw_put(home, "/0/s/8", st8.ptr, st8.len, false);
    EXPECT_CHECK_OK();
    /* State above the tip. */
    raw_put(home, "/0/s/9", "\x20\x09", 2, false);
    EXPECT_CHECK_CORRUPT("/0/s/9");
    raw_put(home, "/0/s/9", NULL, 0, true);
    /* A hole: block 4 removed entirely. */
    raw_put(home, "/0/h/4", NULL, 0, true);
    EXPECT_CHECK_CORRUPT("/0/h");
    /* No /0/t at all, with blocks present. */
    raw_put(home, "/0/t", NULL, 0, true);
    EXPECT_CHECK_CORRUPT("/0/t");
#undef EXPECT_CHECK_CORRUPT
#undef EXPECT_CHECK_OK

    /* Not an LMDB file at all. */
    {
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/data/data.mdb", home);
        fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        for (int i = 0; i < 256; i++) {
            assert_int_equal(write(fd, "garbage!garbage!garbage!garbage!",
                                   32),
                             32);
        }
        close(fd);
        s = NULL;
        assert_int_equal(bm_store_open(&s, home, NULL, &em), BM_ECORRUPT);
        assert_null(s);
    }

    bm_store_blockbuf_release(&b);
    bm_store_blockbuf_release(&b3);
    bm_buf_release(&hdr5);
    bm_buf_release(&hdr6);
    bm_buf_release(&st8);
    chain_release(&c);
    free_home(home);
}

#define UNPRIV_SKIPPED 1

/*
 * Opens the store (read-write or read-only) and, if read-only, runs the
 * check. As root, does it in a child dropped to uid/gid 65534 so that the
 * permission bits apply. Returns the bm_err, or UNPRIV_SKIPPED if the
 * privileges cannot be dropped here.
 */
static int open_unprivileged(const char *home, bool read_only)
{
    struct bm_store_options opt = {.read_only = read_only};
    struct bm_store *s = NULL;
    bool in_child = false;
    enum bm_err err;
    int status;

    if (geteuid() == 0) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid != 0) {
            assert_int_equal(waitpid(pid, &status, 0), pid);
            assert_true(WIFEXITED(status));
            if (WEXITSTATUS(status) == 200) {
                print_message("cannot drop privileges: permission cases "
                              "skipped\n");
                return UNPRIV_SKIPPED;
            }
            return -WEXITSTATUS(status);
        }
        if (setgid(65534) != 0 || setuid(65534) != 0) {
            _exit(200);
        }
        in_child = true;
    }
    err = bm_store_open(&s, home, &opt, NULL);
    if (err == BM_OK && read_only) {
        err = bm_store_check(s, NULL, NULL);
    }
    bm_store_close(s);
    if (in_child) {
        _exit((int)-err);
    }
    return err;
}

/* Runs open_unprivileged and checks its result; returns false (checking
 * nothing) if privileges cannot be dropped here. */
static bool expect_unprivileged(const char *home, bool read_only, int want)
{
    int got = open_unprivileged(home, read_only);

    if (got == UNPRIV_SKIPPED) {
        return false;
    }
    assert_int_equal(got, want);
    return true;
}

static void test_read_only(void **state)
{
    struct bm_store_options ro = {.read_only = true};
    struct bm_store_check_report rep;
    struct bm_store_blockbuf b = {0};
    struct bm_errmsg em = {{0}};
    struct chain c;
    char *home = make_home();
    char *copy = make_home();
    char cmd[1200];
    struct bm_store *s = open_ok(home, NULL);

    (void)state;
    assert_int_equal(chain_init(&c, 11), BM_OK);
    commit_ok(&c, s, 12, 100);
    bm_store_close(s);

    /* MDB_RDONLY open: reads work, writes are refused. */
    s = open_ok(home, &ro);
    assert_int_equal(height_of(s), 12);
    assert_int_equal(bm_store_get_block(s, 7, &b, NULL), BM_OK);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 12);
    assert_int_equal(chain_commit(&c, s, 1, 10, &em), BM_EREADONLY);
    assert_non_null(strstr(em.msg, "read-only"));
    assert_int_equal(bm_store_put_meta(s, "x", NULL, 0, NULL), BM_EREADONLY);
    assert_int_equal(bm_store_rollback(s, 1, NULL, NULL), BM_EREADONLY);
    /* Two read-only opens share the lock; a writer is refused. */
    {
        struct bm_store *s2 = open_ok(home, &ro);
        struct bm_store *w = NULL;

        assert_int_equal(bm_store_open(&w, home, NULL, &em), BM_ELOCKED);
        bm_store_close(s2);
    }
    bm_store_close(s);

    /* A copy without write permission (files and directories). */
    snprintf(cmd, sizeof(cmd),
             "cp -r '%s/data' '%s/data' && chmod -R a-w '%s/data' && "
             "chmod a+rx '%s' '%s/data' && chmod -R a+r '%s/data'",
             home, copy, copy, copy, copy, copy);
    assert_int_equal(system(cmd), 0);
    s = open_ok(copy, &ro);
    assert_int_equal(height_of(s), 12);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 12);
    bm_store_close(s);

    bm_store_blockbuf_release(&b);
    chain_release(&c);
    free_home(home);
    free_home(copy);
}

/*
 * Permission bits: a store whose files and directories cannot be written
 * opens read-only but not read-write, and a home where data/ cannot be
 * created is refused. Root ignores permission bits, so as root the cases
 * run in a child dropped to uid/gid 65534; where that is not possible the
 * test reports a skip (cmocka's skip()), never a pass.
 */
static void test_read_only_permissions(void **state)
{
    struct chain c;
    char *home = make_home();
    char *copy = make_home();
    char cmd[1200], sub[600];
    struct bm_store *s = open_ok(home, NULL);
    bool ran;

    (void)state;
    assert_int_equal(chain_init(&c, 11), BM_OK);
    commit_ok(&c, s, 12, 100);
    bm_store_close(s);
    chain_release(&c);
    /* A copy without write permission (files and directories). */
    snprintf(cmd, sizeof(cmd),
             "cp -r '%s/data' '%s/data' && chmod -R a-w '%s/data' && "
             "chmod a+rx '%s' '%s/data' && chmod -R a+r '%s/data'",
             home, copy, copy, copy, copy, copy);
    assert_int_equal(system(cmd), 0);
    /* A home without permission to create data/. */
    snprintf(sub, sizeof(sub), "%s/ro-home", copy);
    assert_int_equal(mkdir(sub, 0555), 0);
    ran = expect_unprivileged(copy, false, BM_EREADONLY);
    if (ran) {
        expect_unprivileged(copy, true, BM_OK);
        expect_unprivileged(sub, false, BM_EREADONLY);
    }
    free_home(home);
    free_home(copy);
    if (!ran) {
        skip();
    }
}

static void test_locked(void **state)
{
    struct bm_errmsg em = {{0}};
    struct bm_store *s = NULL, *s2 = NULL;
    struct bm_store_options ro = {.read_only = true};
    int to_child[2], from_child[2], status;
    char *home = make_home();
    char ready = 0;
    pid_t pid;

    (void)state;
    /* Same process, second open. */
    s = open_ok(home, NULL);
    assert_int_equal(bm_store_open(&s2, home, NULL, &em), BM_ELOCKED);
    assert_null(s2);
    bm_store_close(s);

    /* Another process holds it. */
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(from_child), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(self_exe, self_exe, "--hold-lock", home, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    assert_int_equal(read(from_child[0], &ready, 1), 1);
    assert_int_equal(ready, 'R');
    assert_int_equal(bm_store_open(&s, home, NULL, &em), BM_ELOCKED);
    assert_non_null(strstr(em.msg, "locked by another process"));
    assert_int_equal(bm_store_open(&s, home, &ro, &em), BM_ELOCKED);
    close(to_child[1]); /* the child closes its store and exits */
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(from_child[0]);
    s = open_ok(home, NULL);
    bm_store_close(s);
    free_home(home);
}

/* ---- readers concurrent with a writer that grows the map ---- */

struct reader_arg {
    struct bm_store *s;
    atomic_bool *stop;
    atomic_uint_fast64_t *tip;
    uint64_t reads;
    int failures;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    struct bm_store_blockbuf b = {0};
    struct bm_signed_header sh = {0};
    uint64_t x = 88172645463325252ull;

    while (!atomic_load(a->stop)) {
        uint64_t tip = atomic_load(a->tip), h;

        if (tip == 0) {
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h = 1 + x % tip;
        if (bm_store_get_block(a->s, h, &b, NULL) != BM_OK ||
            bm_signed_header_decode(&sh, b.header.ptr, b.header.len) !=
                BM_OK ||
            sh.header.height != h) {
            a->failures++;
        }
        bm_signed_header_release(&sh);
        a->reads++;
    }
    bm_store_blockbuf_release(&b);
    return NULL;
}

/* n_readers threads read random blocks while the writer commits
 * `commits` groups of 4 blocks into a map that starts at 64 KiB (so it is
 * grown, excluding every reader, several times). */
static void run_concurrent_readers(int n_readers, int commits)
{
    struct bm_store_options opt = {.map_size = 64 << 10};
    struct reader_arg args[16];
    pthread_t th[16];
    atomic_bool stop = false;
    atomic_uint_fast64_t tip = 0;
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, &opt);
    size_t before = bm_store_map_size(s);

    assert_true(n_readers <= 16);
    assert_int_equal(chain_init(&c, 12), BM_OK);
    for (int i = 0; i < n_readers; i++) {
        args[i] = (struct reader_arg){s, &stop, &tip, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &args[i]),
                         0);
    }
    for (int i = 0; i < commits; i++) {
        commit_ok(&c, s, 4, 1500);
        atomic_store(&tip, c.height);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < n_readers; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_true(bm_store_map_size(s) > before);
    check_ok(s, NULL);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    run_concurrent_readers(2, 60);
}

/* More reader threads than the store has reader shards (8): threads share
 * shards and their pooled read transactions, and every shard's lock is
 * taken by the remaps. */
static void test_many_readers(void **state)
{
    (void)state;
    run_concurrent_readers(11, 30);
}

/* Reads into one blockbuf / bm_buf reuse its memory when the lengths match
 * and reallocate when they do not; the results must equal fresh reads. */
static void test_read_reuse(void **state)
{
    static const size_t tx_len[] = {100, 2500, 100, 40, 2500, 700};
    struct bm_store_blockbuf reused = {0}, fresh = {0};
    struct bm_buf hdr = {0}, hdr_fresh = {0};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    enum bm_err err;

    (void)state;
    assert_int_equal(chain_init(&c, 21), BM_OK);
    for (size_t i = 0; i < sizeof(tx_len) / sizeof(tx_len[0]); i++) {
        commit_ok(&c, s, 1, tx_len[i]);
    }
    for (int round = 0; round < 3; round++) {
        for (uint64_t h = 1; h <= 6; h++) {
            uint64_t hh = round == 1 ? 7 - h : h;

            assert_int_equal(bm_store_get_block(s, hh, &reused, NULL), BM_OK);
            assert_int_equal(bm_store_get_block(s, hh, &fresh, NULL), BM_OK);
            assert_int_equal(reused.height, hh);
            assert_true(bm_buf_eq(&reused.header, &fresh.header));
            assert_true(bm_buf_eq(&reused.data, &fresh.data));
            assert_true(bm_buf_eq(&reused.signature, &fresh.signature));
            bm_store_blockbuf_release(&fresh);
            assert_int_equal(bm_store_get_header(s, hh, &hdr, NULL), BM_OK);
            assert_int_equal(bm_store_get_header(s, hh, &hdr_fresh, NULL),
                             BM_OK);
            assert_true(bm_buf_eq(&hdr, &hdr_fresh));
            bm_buf_release(&hdr_fresh);
        }
    }
    /* A block of another size whose allocation fails: ENOMEM, nothing kept,
     * nothing leaked. */
    assert_int_equal(bm_store_get_block(s, 1, &reused, NULL), BM_OK);
    bm_alloc_fail_after(1);
    err = bm_store_get_block(s, 2, &reused, NULL);
    bm_alloc_fail_after(0);
    assert_int_equal(err, BM_ENOMEM);
    assert_null(reused.header.ptr);
    assert_null(reused.data.ptr);
    assert_null(reused.signature.ptr);
    /* A missing height releases what the buffer held. */
    assert_int_equal(bm_store_get_block(s, 3, &reused, NULL), BM_OK);
    assert_int_equal(bm_store_get_block(s, 99, &reused, NULL), BM_ENOTFOUND);
    assert_null(reused.data.ptr);
    assert_int_equal(reused.data.len, 0);
    bm_buf_release(&hdr);
    chain_release(&c);
    bm_store_close(s);
    free_home(home);
}

/* no_meta_sync changes only when the meta page is flushed: the same API
 * answers, and a store written with it reopens with or without it. */
static void test_no_meta_sync(void **state)
{
    struct bm_store_options nms = {.no_meta_sync = true};
    struct bm_store_check_report rep;
    struct bm_hash h5;
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, &nms);

    (void)state;
    assert_int_equal(chain_init(&c, 22), BM_OK);
    commit_ok(&c, s, 1, 300);
    commit_ok(&c, s, 4, 300);
    assert_int_equal(height_of(s), 5);
    h5 = hash_at(s, 5);
    bm_store_close(s);
    s = open_ok(home, NULL); /* default (durable) open of the same files */
    assert_int_equal(height_of(s), 5);
    assert_memory_equal(hash_at(s, 5).b, h5.b, BM_HASH_SIZE);
    commit_ok(&c, s, 2, 300);
    bm_store_close(s);
    s = open_ok(home, &nms);
    assert_int_equal(height_of(s), 7);
    commit_ok(&c, s, 1, 300);
    check_ok(s, &rep);
    assert_int_equal(rep.height, 8);
    assert_int_equal(rep.n_blocks, 8);
    bm_store_close(s);
    chain_release(&c);
    free_home(home);
}

/* The size and the allocated bytes of <home>/data/data.mdb. */
static void data_file(const char *home, off_t *size, off_t *allocated)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s/data/data.mdb", home);
    assert_int_equal(stat(path, &st), 0);
    *size = st.st_size;
    *allocated = (off_t)st.st_blocks * 512;
}

static void copy_data(const char *from_home, const char *to_home)
{
    char cmd[1200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s/data' && cp -a '%s/data' '%s/'",
             to_home, from_home, to_home);
    assert_int_equal(system(cmd), 0);
}

/* Copies from's store to to, where it opens at c's height, takes n more
 * blocks and passes check. */
static void move_and_commit(const char *from, const char *to,
                            struct chain *c, size_t n)
{
    struct bm_store_check_report rep;
    struct bm_store *s;

    copy_data(from, to);
    s = open_ok(to, NULL);
    assert_int_equal(height_of(s), c->height);
    commit_ok(c, s, n, 300);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, c->height);
    bm_store_close(s);
}

/* On a tmpfs the store writes through the map (MDB_WRITEMAP,
 * docs/STORE.md): the map starts at 4 MiB, its file is allocated in full
 * (no hole a write through the map could fault on when the tmpfs is full),
 * it grows, and the files reopen read-only, after a move to a disk (where
 * the store writes with pwrite) and back. */
static void test_writemap_tmpfs(void **state)
{
    char tmpl[] = "/dev/shm/bm-store-XXXXXX";
    struct bm_store_options ro = {.read_only = true};
    struct bm_store_check_report rep;
    struct bm_hash h300;
    struct chain c;
    char *mem, *disk;
    struct bm_store *s;
    off_t size, alloc;

    (void)state;
    if (!BM__ENV_WRITEMAP_ON_TMPFS || !bm__env_dir_is_tmpfs("/dev/shm")) {
        skip(); /* no tmpfs, or a ThreadSanitizer build (lmdb_env.h) */
    }
    assert_non_null(mkdtemp(tmpl));
    mem = bm_xstrdup(tmpl);
    disk = make_home();
    assert_false(bm__env_dir_is_tmpfs(disk));
    s = open_ok(mem, NULL);
    assert_int_equal(bm_store_map_size(s), BM__ENV_WRITEMAP_START);
    data_file(mem, &size, &alloc);
    assert_int_equal((size_t)size, BM__ENV_WRITEMAP_START);
    assert_true(alloc >= size);
    assert_int_equal(chain_init(&c, 31), BM_OK);
    for (int i = 0; i < 60; i++) {
        commit_ok(&c, s, 5, 20000); /* ~6 MB: the map grows */
    }
    assert_true(bm_store_map_size(s) > BM__ENV_WRITEMAP_START);
    data_file(mem, &size, &alloc);
    assert_int_equal((size_t)size, bm_store_map_size(s));
    assert_true(alloc >= size);
    check_ok(s, &rep);
    assert_int_equal(rep.n_blocks, 300);
    h300 = hash_at(s, 300);
    bm_store_close(s);

    /* Read-only (no WRITEMAP) and read-write again. */
    s = open_ok(mem, &ro);
    assert_int_equal(height_of(s), 300);
    assert_memory_equal(hash_at(s, 300).b, h300.b, BM_HASH_SIZE);
    check_ok(s, &rep);
    bm_store_close(s);
    s = open_ok(mem, NULL);
    assert_int_equal(height_of(s), 300);
    commit_ok(&c, s, 1, 300);
    bm_store_close(s);

    /* To a disk (pwrite), where it goes on, and back to the tmpfs. */
    move_and_commit(mem, disk, &c, 3);
    move_and_commit(disk, mem, &c, 2);
    s = open_ok(mem, NULL);
    assert_int_equal(height_of(s), 306);
    assert_memory_equal(hash_at(s, 300).b, h300.b, BM_HASH_SIZE);
    data_file(mem, &size, &alloc);
    assert_true(alloc >= size);
    bm_store_close(s);
    chain_release(&c);
    free_home(disk);
    free_home(mem);
}

static void test_encoded_helpers(void **state)
{
    struct bm_store_encoded e = {0};
    struct bm_store_block blk;
    struct chain c;

    (void)state;
    assert_int_equal(chain_init(&c, 13), BM_OK);
    assert_int_equal(chain_next(&c, 10, &e), BM_OK);
    bm_store_encoded_view(&e, &blk);
    assert_int_equal(blk.height, 1);
    assert_ptr_equal(blk.header, e.header.ptr);
    assert_int_equal(blk.state_len, e.state.len);
    assert_int_equal(blk.signature_len, BM_SIGNATURE_SIZE);
    assert_memory_equal(blk.hash.b, c.last_hash.b, BM_HASH_SIZE);
    bm_store_encoded_release(&e);
    assert_null(e.header.ptr);
    bm_store_encoded_release(NULL);
    bm_store_blockbuf_release(NULL);
    chain_release(&c);
}

static void test_out_of_memory(void **state)
{
    struct bm_store_blockbuf b = {0};
    struct bm_buf v = {0};
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    struct bm_store *s2 = NULL;
    enum bm_err err;

    (void)state;
    assert_int_equal(chain_init(&c, 15), BM_OK);
    commit_ok(&c, s, 3, 100);
    for (int64_t n = 1; n <= 3; n++) {
        bm_alloc_fail_after(n);
        err = bm_store_get_block(s, 2, &b, NULL);
        bm_alloc_fail_after(0);
        assert_int_equal(err, BM_ENOMEM);
        assert_null(b.header.ptr);
        assert_null(b.data.ptr);
        assert_null(b.signature.ptr);
    }
    bm_alloc_fail_after(1);
    err = bm_store_get_latest_state(s, NULL, &v, NULL);
    bm_alloc_fail_after(0);
    assert_int_equal(err, BM_ENOMEM);
    bm_store_close(s);
    /* Every allocation of open failing in turn: clean error, no leak. */
    for (int64_t n = 1; n <= 4; n++) {
        bm_alloc_fail_after(n);
        err = bm_store_open(&s2, home, NULL, NULL);
        bm_alloc_fail_after(0);
        if (err == BM_OK) {
            bm_store_close(s2);
            break;
        }
        assert_int_equal(err, BM_ENOMEM);
        assert_null(s2);
    }
    chain_release(&c);
    free_home(home);
}

/* ---- the `blockv2 store` command (BM_BLOCKV2_EXE) ---- */

/* Runs `blockv2 store ARGS` (2>&1), returns the exit status and the output
 * (owned) in *out. */
static int run_cli(const char *args, char **out)
{
    const char *exe = getenv("BM_BLOCKV2_EXE");
    struct bm_dynbuf d;
    char cmd[1200], chunk[4096];
    size_t n;
    FILE *f;
    int st;

    if (exe == NULL) {
        fail_msg("BM_BLOCKV2_EXE is not set");
    }
    snprintf(cmd, sizeof(cmd), "'%s' store %s 2>&1", exe, args);
    f = popen(cmd, "r");
    assert_non_null(f);
    bm_dynbuf_init(&d, 1 << 24);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        assert_int_equal(bm_dynbuf_append(&d, chunk, n), BM_OK);
    }
    assert_int_equal(bm_dynbuf_append_byte(&d, 0), BM_OK);
    st = pclose(f);
    *out = (char *)d.ptr;
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_cli(void **state)
{
    struct chain c;
    char *home = make_home();
    struct bm_store *s = open_ok(home, NULL);
    char args[700], *out = NULL;

    (void)state;
    assert_int_equal(chain_init(&c, 14), BM_OK);
    commit_ok(&c, s, 5, 40);
    /* While the node holds the store, the CLI refuses. */
    snprintf(args, sizeof(args), "check --home '%s'", home);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "locked by another process"));
    bm_free(out);
    bm_store_close(s);

    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "ok: height 5, 5 blocks"));
    bm_free(out);
    snprintf(args, sizeof(args), "inspect --home '%s'", home);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "\"last_block_height\":5"));
    assert_non_null(strstr(out, "\"type\":\"header\""));
    assert_non_null(strstr(out, "\"type\":\"data\""));
    assert_non_null(strstr(out, "\"signature\":\""));
    bm_free(out);
    snprintf(args, sizeof(args), "inspect --home '%s' --height 3", home);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "\"height\":3"));
    bm_free(out);
    snprintf(args, sizeof(args), "inspect --home '%s' --height 9", home);
    assert_int_equal(run_cli(args, &out), 1);
    bm_free(out);
    snprintf(args, sizeof(args), "inspect --home '%s' --height x", home);
    assert_int_equal(run_cli(args, &out), 2);
    bm_free(out);
    snprintf(args, sizeof(args), "rollback --home '%s' --blocks 2", home);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "ok: height 3"));
    bm_free(out);
    snprintf(args, sizeof(args), "rollback --home '%s'", home);
    assert_int_equal(run_cli(args, &out), 2);
    bm_free(out);
    raw_put(home, "/0/t", "bad", 3, false);
    snprintf(args, sizeof(args), "check --home '%s'", home);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "/0/t"));
    bm_free(out);
    snprintf(args, sizeof(args), "check --home '%s/missing'", home);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "does not exist"));
    bm_free(out);
    assert_int_equal(run_cli("frobnicate --home /tmp", &out), 2);
    bm_free(out);
    assert_int_equal(run_cli("check", &out), 2);
    bm_free(out);
    chain_release(&c);
    free_home(home);
}

/* Child mode for test_locked: hold the store until stdin closes. */
static int hold_lock(const char *home)
{
    struct bm_store *s = NULL;
    char ch;

    if (bm_store_open(&s, home, NULL, NULL) != BM_OK) {
        return 1;
    }
    if (write(1, "R", 1) != 1) {
        return 1;
    }
    while (read(0, &ch, 1) > 0) {
    }
    bm_store_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_home),
        cmocka_unit_test(test_create_killed),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_write_read),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_batch_errors),
        cmocka_unit_test(test_meta_pending),
        cmocka_unit_test(test_put_state),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_rollback),
        cmocka_unit_test(test_map_grows),
        cmocka_unit_test(test_map_grows_mid_batch),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_check_tip),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_read_only_permissions),
        cmocka_unit_test(test_locked),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_many_readers),
        cmocka_unit_test(test_read_reuse),
        cmocka_unit_test(test_no_meta_sync),
        cmocka_unit_test(test_writemap_tmpfs),
        cmocka_unit_test(test_encoded_helpers),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_cli),
    };

    if (argc == 3 && strcmp(argv[1], "--hold-lock") == 0) {
        return hold_lock(argv[2]);
    }
    self_exe = "/proc/self/exe";
    {
        static char buf[4096];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

        if (n > 0) {
            buf[n] = '\0';
            self_exe = buf;
        }
    }
    return BM_TEST_RUN(tests);
}
