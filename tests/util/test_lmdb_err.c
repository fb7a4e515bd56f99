/* util/lmdb_err: the one LMDB error map, checked against a real LMDB. */
#include "bm_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "util/lmdb_env.h"
#include "util/lmdb_err.h"

static void test_table(void **state)
{
    static const struct {
        int rc;
        enum bm_err want;
    } cases[] = {
        {MDB_SUCCESS, BM_OK},
        {MDB_NOTFOUND, BM_ENOTFOUND},
        {ENOENT, BM_ENOTFOUND},
        {MDB_MAP_FULL, BM_EMAP_FULL},
        {MDB_CORRUPTED, BM_ECORRUPT},
        {MDB_PAGE_NOTFOUND, BM_ECORRUPT},
        {MDB_INVALID, BM_ECORRUPT},
        {MDB_VERSION_MISMATCH, BM_ECORRUPT},
        {MDB_BAD_DBI, BM_ECORRUPT},
        {MDB_INCOMPATIBLE, BM_ECORRUPT},
        {MDB_KEYEXIST, BM_EEXIST},
        /* A size the caller asked for, not damage on disk. */
        {MDB_BAD_VALSIZE, BM_ETOOBIG},
        {MDB_TXN_FULL, BM_ETOOBIG},
        {MDB_CURSOR_FULL, BM_ETOOBIG},
        {MDB_PAGE_FULL, BM_ETOOBIG},
        {MDB_DBS_FULL, BM_ETOOBIG},
        {MDB_READERS_FULL, BM_EBUSY},
        {MDB_MAP_RESIZED, BM_EAGAIN},
        {EACCES, BM_EREADONLY},
        {EPERM, BM_EREADONLY},
        {EROFS, BM_EREADONLY},
        {EAGAIN, BM_ELOCKED},
        {EBUSY, BM_ELOCKED},
        {ENOMEM, BM_ENOMEM},
        {EINVAL, BM_EINVAL},
        {MDB_BAD_TXN, BM_EIO},
        {MDB_PANIC, BM_EIO},
        {EIO, BM_EIO},
        {ENOSPC, BM_EIO},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (bm_lmdb_err(cases[i].rc) != cases[i].want) {
            fail_msg("rc %d (%s): got %s, want %s", cases[i].rc,
                     mdb_strerror(cases[i].rc),
                     bm_err_name(bm_lmdb_err(cases[i].rc)),
                     bm_err_name(cases[i].want));
        }
    }
}

/* The codes a real LMDB returns for an oversized key, a duplicate key and
 * a missing key map as the table says. */
static void test_real_lmdb(void **state)
{
    const char *base = getenv("TMPDIR");
    char dir[256], cmd[300];
    uint8_t big[1024] = {0};
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k, v;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/bm_lmdb_err_XXXXXX",
             base != NULL ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    k = (MDB_val){sizeof(big), big}; /* above mdb_env_get_maxkeysize */
    v = (MDB_val){1, big};
    assert_int_equal(bm_lmdb_err(mdb_put(txn, dbi, &k, &v, 0)), BM_ETOOBIG);
    k = (MDB_val){0, big}; /* LMDB refuses an empty key too */
    assert_int_equal(bm_lmdb_err(mdb_put(txn, dbi, &k, &v, 0)), BM_ETOOBIG);
    k = (MDB_val){4, big};
    assert_int_equal(bm_lmdb_err(mdb_put(txn, dbi, &k, &v, 0)), BM_OK);
    assert_int_equal(bm_lmdb_err(mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE)),
                     BM_EEXIST);
    k = (MDB_val){5, big};
    assert_int_equal(bm_lmdb_err(mdb_get(txn, dbi, &k, &v)), BM_ENOTFOUND);
    mdb_txn_abort(txn);
    /* write errors name the environment's directory, and a full disk
     * (which LMDB reports as EIO after a short write) is hinted at */
    assert_string_equal(bm__env_path(env), dir);
    assert_string_equal(bm__env_path(NULL), "?");
    assert_non_null(strstr(bm__env_io_hint(EIO), "disk full"));
    assert_non_null(strstr(bm__env_io_hint(ENOSPC), "disk full"));
    assert_string_equal(bm__env_io_hint(MDB_MAP_FULL), "");
    mdb_env_close(env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_real_lmdb),
    };
    return BM_TEST_RUN(tests);
}
