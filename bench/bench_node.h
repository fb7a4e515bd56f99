/*
 * A node of the in-process benchmarks (produce_bench, catchup_bench): a
 * store, the KV executor, a sequencer and a DA client when wanted, and a
 * Manager over them, opened, started, stopped and freed the same way
 * (header-only, like bench_util.h). A failure prints what failed and
 * exits 1: a benchmark has nothing to recover.
 *
 *   bench_node_open(&n, home, &ko, &so, &dc, chain_id);  // so, dc: or NULL
 *   bm_manager_config_init(&n.cfg); n.cfg.aggregator = true; ...
 *   bench_node_manager(&n, &key, &genesis);              // key: or NULL
 *   bench_node_start(&n);
 *   ...
 *   bench_node_stop(&n);                                  // home stays
 */
#ifndef BM_BENCH_BENCH_NODE_H
#define BM_BENCH_BENCH_NODE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blockv2/da.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/types.h"
#include "exec/kv/kv.h"
#include "util/errmsg.h"

struct bench_node {
    char home[512];
    struct bm_store *store;
    struct bm_kv *kv;
    struct bm_executor exec;
    struct bm_seq *seq;        /* NULL: no sequencer (a full node) */
    struct bm_da_client *dac;  /* NULL: no DA */
    struct bm_da da;
    struct bm_manager_config cfg;
    struct bm_manager *m;
};

static inline void bench_node_die(const char *what, int err,
                                  const struct bm_errmsg *em)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
            em != NULL ? bm_errmsg_str(em, err) : bm_err_name(err));
    exit(1);
}

/* home/sub as a directory (it may exist) into out. */
static inline void bench_node_dir(const char *home, const char *sub,
                                  char *out, size_t len)
{
    snprintf(out, len, "%s/%s", home, sub);
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: mkdir %s: %s\n", program_invocation_short_name,
                out, strerror(errno));
        exit(1);
    }
}

/* Opens the parts of a node in home (an existing directory): the store,
 * the KV executor in home/data/kv (ko), a sequencer in home/data/seq for
 * chain_id when so is not NULL (so->exec is set here), a DA client when
 * dc is not NULL. n->cfg is then the caller's to set. */
static inline void bench_node_open(struct bench_node *n, const char *home,
                                   const struct bm_kv_options *ko,
                                   struct bm_seq_options *so,
                                   const struct bm_da_client_config *dc,
                                   const char *chain_id)
{
    struct bm_errmsg em = {{0}};
    char data[600], dir[700];
    int err;

    memset(n, 0, sizeof(*n));
    snprintf(n->home, sizeof(n->home), "%s", home);
    bench_node_dir(home, "data", data, sizeof(data));
    err = bm_store_open(&n->store, home, NULL, &em);
    if (err != BM_OK) {
        bench_node_die("store open", err, &em);
    }
    bench_node_dir(data, "kv", dir, sizeof(dir));
    err = bm_kv_open(&n->kv, dir, ko, &em);
    if (err != BM_OK) {
        bench_node_die("kv open", err, &em);
    }
    bm_kv_executor(n->kv, &n->exec);
    if (so != NULL) {
        bench_node_dir(data, "seq", dir, sizeof(dir));
        so->exec = &n->exec;
        err = bm_seq_open(&n->seq, dir, chain_id, so, &em);
        if (err != BM_OK) {
            bench_node_die("seq open", err, &em);
        }
    }
    if (dc != NULL) {
        err = bm_da_client_new(&n->dac, dc, &em);
        if (err != BM_OK) {
            bench_node_die("da client", err, &em);
        }
        bm_da_from_client(&n->da, n->dac);
    }
    bm_manager_config_init(&n->cfg);
}

/* The Manager over the node's parts with n->cfg; signer NULL: a node that
 * signs nothing (a full node). signer and genesis are borrowed and must
 * outlive the node. */
static inline void bench_node_manager(struct bench_node *n,
                                      const struct bm_privkey *signer,
                                      const struct bm_genesis *genesis)
{
    struct bm_errmsg em = {{0}};
    struct bm_manager_params p;
    int err;

    memset(&p, 0, sizeof(p));
    p.signer = signer;
    p.config = &n->cfg;
    p.genesis = genesis;
    p.store = n->store;
    p.exec = &n->exec;
    p.seq = n->seq;
    p.da = n->dac != NULL ? &n->da : NULL;
    err = bm_manager_new(&n->m, &p, &em);
    if (err != BM_OK) {
        bench_node_die("manager new", err, &em);
    }
}

static inline void bench_node_start(struct bench_node *n)
{
    struct bm_errmsg em = {{0}};
    int err = bm_manager_start(n->m, &em);

    if (err != BM_OK) {
        bench_node_die("manager start", err, &em);
    }
}

/* Stops the Manager and frees every part; the home directory stays. */
static inline void bench_node_stop(struct bench_node *n)
{
    struct bm_errmsg em = {{0}};
    int err = bm_manager_stop(n->m, &em);

    if (err != BM_OK) {
        bench_node_die("manager stop", err, &em);
    }
    bm_manager_free(n->m);
    bm_da_client_free(n->dac);
    bm_seq_free(n->seq);
    bm_kv_free(n->kv);
    bm_store_close(n->store);
    n->m = NULL;
    n->dac = NULL;
    n->seq = NULL;
    n->kv = NULL;
    n->store = NULL;
}

#endif /* BM_BENCH_BENCH_NODE_H */
