#include "actors_test_util.h"
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bm_test.h"

#include "actors/bootstrap.h"
#include "actors/state.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/errmsg.h"

bool at_wait(bool (*cond)(void *), void *arg, int64_t timeout_ms)
{
    uint64_t end = bm_env_now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        if (cond(arg)) {
            return true;
        }
        if (bm_env_now_ms() >= end) {
            return cond(arg);
        }
        bm_sleep_ms(5);
    }
}

static void mkdir_p(const char *dir)
{
    char buf[512];

    snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0700);
            *p = '/';
        }
    }
    mkdir(buf, 0700);
}

void at_node_open(struct at_node *n, const struct at_opts *o)
{
    struct bm_errmsg em = {{0}};
    struct bm_manager_params p;
    struct bm_actor_system_config scfg;
    struct bm_kv_options kvo = {.no_sync = true};
    struct bm_seq_options so = {.no_sync = true};
    uint8_t seed[32];
    struct bm_hash addr;
    uint8_t pub[BM_PUBKEY_SIZE];
    char dir[320];
    int err;

    memset(n, 0, sizeof(*n));
    assert_int_equal(bm_crypto_init(), BM_OK);
    if (o->home != NULL) {
        snprintf(n->home, sizeof(n->home), "%s", o->home);
    } else {
        char tmpl[] = "/tmp/bm-actors-XXXXXX";

        assert_non_null(mkdtemp(tmpl));
        snprintf(n->home, sizeof(n->home), "%s", tmpl);
        n->own_home = true;
    }
    snprintf(dir, sizeof(dir), "%s/data", n->home);
    mkdir_p(dir);
    err = bm_store_open(&n->store, n->home, NULL, &em);
    if (err != BM_OK) {
        fail_msg("store open: %s", bm_errmsg_str(&em, err));
    }
    snprintf(dir, sizeof(dir), "%s/data/kv", n->home);
    mkdir_p(dir);
    err = bm_kv_open(&n->kv, dir, &kvo, &em);
    if (err != BM_OK) {
        fail_msg("kv open: %s", bm_errmsg_str(&em, err));
    }
    bm_kv_executor(n->kv, &n->exec);

    memset(seed, o->key_seed ? o->key_seed : 7, sizeof(seed));
    bm_privkey_from_seed(&n->key, seed);
    bm_privkey_public(&n->key, pub);
    bm_address_from_pubkey(pub, &addr);
    assert_int_equal(bm_str_set(&n->genesis.chain_id, "test-chain"), BM_OK);
    n->genesis.start_time_ns =
        o->genesis_time_ns ? o->genesis_time_ns
                           : bm_validate_now_ns() - 10ull * 1000000000ull;
    n->genesis.initial_height = 1;
    assert_int_equal(bm_buf_set(&n->genesis.proposer_address, addr.b, 32),
                     BM_OK);
    n->genesis.da_start_height = 0;
    n->genesis.da_epoch_forced_inclusion = 50;

    if (o->aggregator) {
        snprintf(dir, sizeof(dir), "%s/data/seq", n->home);
        mkdir_p(dir);
        so.exec = &n->exec;
        so.recent_txs = o->seq_recent_txs;
        err = bm_seq_open(&n->seq, dir, "test-chain", &so, &em);
        if (err != BM_OK) {
            fail_msg("seq open: %s", bm_errmsg_str(&em, err));
        }
    }
    if (o->with_da) {
        struct bm_da_client_config cc = {0};

        if (o->da_url != NULL) {
            snprintf(n->da_url, sizeof(n->da_url), "%s", o->da_url);
        } else {
            struct bm_da_server_config sc = {0};

            sc.home = n->home;
            sc.block_time_ms = o->da_server_block_time_ms;
            err = bm_da_server_start(&n->da_server, &sc, &em);
            if (err != BM_OK) {
                fail_msg("da server: %s", bm_errmsg_str(&em, err));
            }
            snprintf(n->da_url, sizeof(n->da_url), "http://127.0.0.1:%u",
                     (unsigned)bm_da_server_port(n->da_server));
        }
        cc.url = n->da_url;
        cc.timeout_ms = 5000;
        assert_int_equal(bm_da_client_new(&n->da_client, &cc, &em), BM_OK);
        bm_da_from_client(&n->da, n->da_client);
    }

    if (o->cfg != NULL) {
        n->cfg = *o->cfg;
    } else {
        bm_manager_config_init(&n->cfg);
        n->cfg.block_time_ms = 50;
        n->cfg.da_block_time_ms = 100;
        n->cfg.scrape_interval_ms = 20;
        n->cfg.lazy_block_interval_ms = 1000;
    }
    n->cfg.aggregator = o->aggregator;
    if (o->with_da) {
        n->cfg.da_namespace = "test-ns";
        n->cfg.da_data_namespace = "test-ns-data";
    }
    memset(&p, 0, sizeof(p));
    p.signer = &n->key; /* full nodes get it too: only checked if aggregator */
    p.config = &n->cfg;
    p.genesis = &n->genesis;
    p.store = n->store;
    p.exec = &n->exec;
    p.seq = n->seq;
    p.da = o->with_da ? &n->da : NULL;
    if (!o->aggregator) {
        p.signer = NULL;
    }
    err = bm_env_init(&n->env, &p, &em);
    if (err != BM_OK) {
        fail_msg("env init: %s", bm_errmsg_str(&em, err));
    }
    err = bm_bootstrap_state(&n->env, NULL, &em);
    if (err != BM_OK) {
        fail_msg("bootstrap: %s", bm_errmsg_str(&em, err));
    }
    bm_actor_system_config_init(&scfg);
    scfg.workers = 2;
    assert_int_equal(bm_actor_system_new(&n->sys, &scfg), BM_OK);
    n->env.sys = n->sys;
}

void at_spawn(struct at_node *n, const struct bm_actor_type *type,
              struct bm_actor_id *id, bool detached, enum bm_overflow ov)
{
    struct bm_actor_opts o = {0};
    int err;

    o.name = type->name;
    o.detached = detached;
    o.overflow = ov;
    o.capacity = n->env.cfg.mailbox_capacity;
    err = bm_actor_spawn(n->sys, type, &n->env, &o, id);
    if (err != BM_OK) {
        fail_msg("spawn %s: %s", type->name, bm_err_name(err));
    }
}

void at_start(struct at_node *n)
{
    assert_int_equal(bm_actor_system_start(n->sys), BM_OK);
    n->started = true;
}

void at_node_close(struct at_node *n, bool remove_home)
{
    if (n->sys != NULL) {
        bm_actor_system_stop(n->sys, 10000);
        bm_actor_system_free(n->sys);
        n->sys = NULL;
    }
    bm_env_release(&n->env);
    bm_da_client_free(n->da_client);
    bm_da_server_stop(n->da_server);
    bm_seq_free(n->seq);
    bm_kv_free(n->kv);
    bm_store_close(n->store);
    bm_genesis_release(&n->genesis);
    bm_privkey_wipe(&n->key);
    if (remove_home && n->own_home) {
        (void)bm_file_remove_tree(n->home);
    }
    memset(n, 0, sizeof(*n));
}

void at_latest_state(struct at_node *n, struct bm_state *out)
{
    struct bm_buf b = {0};

    assert_int_equal(bm_store_get_latest_state(n->store, NULL, &b, NULL),
                     BM_OK);
    bm_state_release(out);
    assert_int_equal(bm_state_decode(out, b.ptr, b.len), BM_OK);
    bm_buf_release(&b);
}

struct bm_block *at_make_block(struct at_node *n, const struct bm_state *st,
                               const char *const *txs)
{
    struct bm_block *b = bm_block_new();
    struct bm_header *h = &b->sh.header;
    struct bm_hash dh;
    uint64_t height = st->last_block_height + 1;
    uint64_t last_ns = (uint64_t)st->last_block_time.seconds * 1000000000ull +
                       (uint64_t)st->last_block_time.nanos;
    uint64_t now = bm_validate_now_ns();
    struct bm_store_blockbuf prev = {0};

    if (now <= last_ns) {
        now = last_ns + 1000000;
    }
    for (size_t i = 0; txs != NULL && txs[i] != NULL; i++) {
        assert_int_equal(bm_data_add_tx(&b->data, (const uint8_t *)txs[i],
                                        strlen(txs[i])),
                         BM_OK);
    }
    h->version = st->version;
    h->height = height;
    h->time = height == st->initial_height ? n->genesis.start_time_ns : now;
    assert_int_equal(bm_buf_copy(&h->last_header_hash, &st->last_header_hash),
                     BM_OK);
    if (b->data.n_txs == 0) {
        assert_int_equal(bm_buf_set(&h->data_hash, bm_empty_data_hash.b, 32),
                         BM_OK);
    } else {
        assert_int_equal(bm_data_da_commitment(&b->data, &dh), BM_OK);
        assert_int_equal(bm_buf_set(&h->data_hash, dh.b, 32), BM_OK);
    }
    assert_int_equal(bm_buf_copy(&h->app_hash, &st->app_hash), BM_OK);
    assert_int_equal(bm_buf_copy(&h->proposer_address,
                                 &n->genesis.proposer_address),
                     BM_OK);
    assert_int_equal(bm_str_set(&h->chain_id, n->genesis.chain_id), BM_OK);
    b->data.has_metadata = true;
    assert_int_equal(bm_str_set(&b->data.metadata.chain_id,
                                n->genesis.chain_id),
                     BM_OK);
    b->data.metadata.height = height;
    b->data.metadata.time = h->time;
    if (height > 1 &&
        bm_store_get_block(n->store, height - 1, &prev, NULL) == BM_OK) {
        struct bm_data pd = {0};
        struct bm_hash ph;

        if (bm_data_decode(&pd, prev.data.ptr, prev.data.len) == BM_OK &&
            bm_data_hash(&pd, &ph) == BM_OK) {
            assert_int_equal(
                bm_buf_set(&b->data.metadata.last_data_hash, ph.b, 32), BM_OK);
        }
        bm_data_release(&pd);
        bm_store_blockbuf_release(&prev);
    }
    assert_int_equal(bm_signer_from_privkey(&b->sh.signer, &n->key), BM_OK);
    assert_int_equal(bm_signed_header_sign(&b->sh, &n->key), BM_OK);
    assert_int_equal(bm_block_rehash(b), BM_OK);
    return b;
}

void at_commit_next(struct at_node *n, const char *const *txs, bool execute)
{
    struct bm_state st = {0};
    struct bm_state *ns = bm_xcalloc(1, sizeof(*ns));
    struct bm_exec_result res = {0};
    struct bm_state_commit c;
    struct bm_state_ack ack = {0};
    struct bm_errmsg em = {{0}};
    struct bm_block *b;
    uint64_t h;
    int err;

    at_latest_state(n, &st);
    b = at_make_block(n, &st, txs);
    h = b->sh.header.height;
    assert_int_equal(bm_state_copy(ns, &st), BM_OK);
    if (execute) {
        err = bm_executor_execute_txs(&n->exec, b->data.txs, b->data.n_txs, h,
                                      b->sh.header.time, st.app_hash.ptr,
                                      st.app_hash.len, &res, &em);
        if (err != BM_OK) {
            fail_msg("execute: %s", bm_errmsg_str(&em, err));
        }
        assert_int_equal(bm_buf_copy(&ns->app_hash, &res.state_root), BM_OK);
    }
    ns->last_block_height = h;
    ns->last_block_time.seconds = (int64_t)(b->sh.header.time / 1000000000u);
    ns->last_block_time.nanos = (int32_t)(b->sh.header.time % 1000000000u);
    assert_int_equal(bm_buf_set(&ns->last_header_hash, b->hash.b, 32), BM_OK);
    memset(&c, 0, sizeof(c));
    c.blk = b;
    c.new_state = ns;
    c.source = BM_SRC_PRODUCED;
    assert_int_equal(bm_state_call_commit(n->sys, bm_env_state(&n->env), &c,
                                          &ack, 10000),
                     BM_OK);
    assert_int_equal(ack.height, h);
    bm_exec_result_release(&res);
    bm_state_release(&st);
}

/* at_exec_wrap's forwarders: ctx is the struct at_exec_wrap. */
static const struct bm_executor *inner_of(void *ctx)
{
    return ((struct at_exec_wrap *)ctx)->inner;
}

static enum bm_err wrap_init_chain(void *ctx, uint64_t t, uint64_t ih,
                                   const char *id, struct bm_buf *root,
                                   struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->init_chain(in->ctx, t, ih, id, root, em);
}

static enum bm_err wrap_get_txs(void *ctx, struct bm_batch *out,
                                struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->get_txs(in->ctx, out, em);
}

static enum bm_err wrap_execute(void *ctx, const struct bm_buf *txs,
                                size_t n, uint64_t height, uint64_t time_ns,
                                const uint8_t *prev, size_t prev_len,
                                struct bm_exec_result *out,
                                struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->execute_txs(in->ctx, txs, n, height, time_ns, prev,
                                prev_len, out, em);
}

static enum bm_err wrap_set_final(void *ctx, uint64_t h, struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->set_final(in->ctx, h, em);
}

static enum bm_err wrap_info(void *ctx, struct bm_exec_info *out,
                             struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->get_execution_info(in->ctx, out, em);
}

static enum bm_err wrap_filter(void *ctx, const struct bm_buf *txs, size_t n,
                               uint64_t max_bytes, uint64_t max_gas, bool fi,
                               enum bm_filter_status *status,
                               struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->filter_txs(in->ctx, txs, n, max_bytes, max_gas, fi,
                               status, em);
}

static enum bm_err wrap_latest(void *ctx, uint64_t *height,
                               struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->get_latest_height(in->ctx, height, em);
}

static enum bm_err wrap_rollback(void *ctx, uint64_t height,
                                 struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->rollback(in->ctx, height, em);
}

static enum bm_err wrap_state_root(void *ctx, uint64_t height,
                                   struct bm_buf *root, struct bm_errmsg *em)
{
    const struct bm_executor *in = inner_of(ctx);

    return in->ops->get_state_root(in->ctx, height, root, em);
}

void at_exec_wrap(struct at_exec_wrap *w, const struct bm_executor *inner,
                  const struct bm_executor_ops *over, void *arg,
                  struct bm_executor *out)
{
    const struct bm_executor_ops *io = inner->ops;
    struct bm_executor_ops *o = &w->ops;

    memset(w, 0, sizeof(*w));
    w->inner = inner;
    w->arg = arg;
    o->init_chain = over->init_chain ? over->init_chain : wrap_init_chain;
    o->get_txs = over->get_txs ? over->get_txs : wrap_get_txs;
    o->execute_txs = over->execute_txs ? over->execute_txs : wrap_execute;
    o->set_final = over->set_final ? over->set_final : wrap_set_final;
    o->get_execution_info =
        over->get_execution_info ? over->get_execution_info : wrap_info;
    o->filter_txs = over->filter_txs ? over->filter_txs : wrap_filter;
    o->get_latest_height = over->get_latest_height ? over->get_latest_height
                           : io->get_latest_height ? wrap_latest
                                                   : NULL;
    o->rollback = over->rollback ? over->rollback
                  : io->rollback ? wrap_rollback
                                 : NULL;
    o->get_state_root = over->get_state_root ? over->get_state_root
                        : io->get_state_root ? wrap_state_root
                                             : NULL;
    out->ops = o;
    out->ctx = w;
}
