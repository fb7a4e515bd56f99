/*
 * Test rig of the Manager integration tests (manager_test.c,
 * replay_test.c): one node (aggregator or full node) in a temp home with a
 * real store, KV executor, sequencer and, optionally, a DA client to a
 * real local DA server on 127.0.0.1; a shared genesis and signer key.
 */
#ifndef BM_TESTS_MANAGER_RIG_H
#define BM_TESTS_MANAGER_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/da.h"
#include "blockv2/executor.h"
#include "blockv2/genesis.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "exec/kv/kv.h"
#include "util/clock.h" /* WAIT_FOR, bm_sleep_ms */

struct mt_node {
    char home[256];
    bool aggregator;
    struct bm_store *store;
    struct bm_kv *kv;
    struct bm_executor exec;     /* what the manager calls */
    struct bm_executor kv_exec;  /* the real KV executor */
    struct bm_seq *seq;
    struct bm_da_client *dac;
    struct bm_da da;
    struct bm_manager_config cfg;
    struct bm_manager *m;
};

/* Waits until pred holds; fails the test after timeout_ms. */
#define WAIT_FOR(cond, timeout_ms, what)                                       \
    do {                                                                       \
        uint64_t end_ = bm_clock_now_ms() + (timeout_ms);                      \
        while (!(cond)) {                                                      \
            if (bm_clock_now_ms() > end_) {                                    \
                fail_msg("timed out waiting for %s", what);                    \
            }                                                                  \
            bm_sleep_ms(10);                                                   \
        }                                                                      \
    } while (0)

/* The genesis and the proposer key of every node (genesis_init). */
extern struct bm_privkey g_key;
extern struct bm_genesis g_gen;
/* State of rnd(). */
extern unsigned g_rng;
/* keep_heights of the KV executors mt_open opens (0: the default). */
extern uint64_t g_kv_keep_heights;
/* The HA candidate mt_open hands to the manager (NULL: no HA). */
extern struct bm_ha *g_ha;

/* Removes a directory tree. */
void rm_rf(const char *p);
/* mkdir home/sub (0700), existing is fine. */
void mk(const char *home, const char *sub);
/* A fresh genesis (chain "mgr-chain", start 5 s ago) and key. */
void genesis_init(void);
/* Fast test timings (20 ms blocks, 100 ms DA). */
void cfg_fast(struct bm_manager_config *c, bool agg);
/* Opens the node's parts in `home` (created when new) and builds the
 * manager; does not start it. da_url may be NULL (no DA). */
void mt_open(struct mt_node *n, const char *home, bool agg,
             const char *da_url, const struct bm_manager_config *cfg);
/* As mt_open with exec (copied; its context borrowed, it must outlive the
 * node) in place of a KV executor: n->kv stays NULL. */
void mt_open_exec(struct mt_node *n, const char *home, bool agg,
                  const char *da_url, const struct bm_manager_config *cfg,
                  const struct bm_executor *exec);
/* bm_manager_start, failing the test on error. */
void mt_start(struct mt_node *n);
/* Stops and closes everything but the home. Returns the stop result. */
int mt_close(struct mt_node *n);
uint64_t height_of(struct mt_node *n);
unsigned rnd(void);
/* Adds up to k random KV txs to the aggregator's mempool. */
void add_txs(struct mt_node *n, unsigned k);
void header_hash_at(struct bm_store *s, uint64_t h, struct bm_hash *out);
/* The app hash of the stored state at h (owned copy). */
void app_hash_at(struct bm_store *s, uint64_t h, struct bm_buf *out);
/* A new temp dir /tmp/bm-mgr-XXXXXX. */
void new_home(char *out, size_t len);
/* A local DA server in home (optionally failing after outage_after calls
 * for outage_for_ms); its URL into url. */
struct bm_da_server *da_start(const char *home, uint32_t outage_after,
                              uint32_t outage_for_ms, char *url, size_t len);

/* A DA client to url (returned owned: bm_da_client_free), the namespaces
 * of cfg_fast into *ns and the DA's height into *head. */
struct bm_da_client *da_reader(const char *url, struct bm_da_namespaces *ns,
                               uint64_t *head);

/* Counts, for heights 1..max, how often each header is on the DA at url
 * (namespaces of cfg_fast): count[h] += 1 per blob. */
void count_da_headers(const char *url, uint64_t max, uint32_t *count);

#endif /* BM_TESTS_MANAGER_RIG_H */
