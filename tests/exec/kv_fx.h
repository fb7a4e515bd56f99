/*
 * Fixture of the KV executor tests (test_kv.c, test_kv_storage.c): a KV
 * state in data/kv of a fresh temp dir, initialised for chain KV_FX_CHAIN
 * at genesis time KV_FX_GENESIS_NS (both defined by the includer), and
 * block execution on top of the current root (block time genesis +
 * height ns).
 */
#ifndef BM_TESTS_EXEC_KV_FX_H
#define BM_TESTS_EXEC_KV_FX_H

#include <string.h>

#include "blockv2/executor.h"
#include "exec/kv/kv.h"
#include "util/errmsg.h"

#include "exec_test_util.h"

struct fx {
    char *dir;
    char *kvdir;
    struct bm_kv *kv;
    struct bm_executor ex;
};

/* Opens f->kvdir with options o (NULL: no_sync only). */
static void fx_open_opts(struct fx *f, const struct bm_kv_options *o)
{
    struct bm_kv_options dflt = {.no_sync = true};
    struct bm_errmsg em = {{0}};
    int err = bm_kv_open(&f->kv, f->kvdir, o != NULL ? o : &dflt, &em);

    if (err != BM_OK) {
        fail_msg("kv open: %s", bm_errmsg_str(&em, err));
    }
    bm_kv_executor(f->kv, &f->ex);
}

static inline void fx_open(struct fx *f)
{
    fx_open_opts(f, NULL);
}

/* Temp dir dir (owned, removed by fx_done), opened with o (NULL: no_sync
 * only) and initialised. */
static void fx_init_at(struct fx *f, const struct bm_kv_options *o,
                       char *dir)
{
    struct bm_buf root = {0};

    f->dir = dir;
    f->kvdir = path_join(f->dir, "data/kv");
    fx_open_opts(f, o);
    assert_int_equal(bm_executor_init_chain(&f->ex, KV_FX_GENESIS_NS, 1,
                                            KV_FX_CHAIN, &root, NULL),
                     BM_OK);
    bm_buf_release(&root);
}

/* A new temp dir, opened with o (NULL: no_sync only) and initialised. */
static void fx_init_opts(struct fx *f, const struct bm_kv_options *o)
{
    fx_init_at(f, o, tmpdir_new());
}

static inline void fx_init(struct fx *f)
{
    fx_init_opts(f, NULL);
}

static void fx_done(struct fx *f)
{
    bm_kv_free(f->kv);
    bm_free(f->kvdir);
    tmpdir_free(f->dir);
}

/* Executes txs (borrowed) at height on top of the current root; returns
 * the new root. */
static struct bm_hash exec_txs(struct fx *f, uint64_t height,
                               const struct bm_buf *txs, size_t n)
{
    struct bm_kv_status st;
    struct bm_exec_result r = {0};
    struct bm_errmsg em = {{0}};
    struct bm_hash out;
    int err;

    bm_kv_status(f->kv, &st);
    err = bm_executor_execute_txs(&f->ex, txs, n, height,
                                  KV_FX_GENESIS_NS + height, st.root.b,
                                  BM_HASH_SIZE, &r, &em);
    if (err != BM_OK) {
        fail_msg("execute height %llu: %s", (unsigned long long)height,
                 bm_errmsg_str(&em, err));
    }
    assert_int_equal(r.state_root.len, BM_HASH_SIZE);
    assert_int_equal(r.next_proposer.len, 0);
    memcpy(out.b, r.state_root.ptr, BM_HASH_SIZE);
    bm_exec_result_release(&r);
    return out;
}

/* The same with string txs. */
static struct bm_hash exec_strs(struct fx *f, uint64_t height,
                                const char *const *s, size_t n)
{
    struct bm_buf *txs = txs_from(s, n);
    struct bm_hash h = exec_txs(f, height, txs, n);

    bm_exec_txs_free(txs, n);
    return h;
}

#endif /* BM_TESTS_EXEC_KV_FX_H */
