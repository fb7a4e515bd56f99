/* Test rig of the Manager integration tests, see manager_rig.h. */
#include "bm_test.h"
#include "util/file.h"

#include "manager_rig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "blockv2/validate.h"
#include "util/errmsg.h"

struct bm_privkey g_key;
struct bm_genesis g_gen;
uint64_t g_kv_keep_heights;
struct bm_ha *g_ha;

void rm_rf(const char *p)
{
    (void)bm_file_remove_tree(p);
}

void mk(const char *home, const char *sub)
{
    char p[320];

    snprintf(p, sizeof(p), "%s/%s", home, sub);
    mkdir(p, 0700);
}

void genesis_init(void)
{
    uint8_t seed[32], pub[32];
    struct bm_hash addr;

    assert_int_equal(bm_crypto_init(), BM_OK);
    bm_genesis_release(&g_gen);
    memset(seed, 42, sizeof(seed));
    bm_privkey_from_seed(&g_key, seed);
    bm_privkey_public(&g_key, pub);
    bm_address_from_pubkey(pub, &addr);
    assert_int_equal(bm_str_set(&g_gen.chain_id, "mgr-chain"), BM_OK);
    g_gen.start_time_ns = bm_validate_now_ns() - 5ull * 1000000000ull;
    g_gen.initial_height = 1;
    assert_int_equal(bm_buf_set(&g_gen.proposer_address, addr.b, 32), BM_OK);
    g_gen.da_epoch_forced_inclusion = 50;
}

/* Fast test timings. */
void cfg_fast(struct bm_manager_config *c, bool agg)
{
    bm_manager_config_init(c);
    c->aggregator = agg;
    c->block_time_ms = 20;
    c->da_block_time_ms = 100;
    c->scrape_interval_ms = 10;
    c->da_request_timeout_ms = 5000;
    c->da_namespace = "mgr-headers";
    c->da_data_namespace = "mgr-data";
}

/* The sequencer (aggregator, on seq_exec), the DA client and the manager
 * of a node whose store and n->exec are open. */
static void open_rest(struct mt_node *n, const char *home, bool agg,
                      const char *da_url, const struct bm_manager_config *cfg,
                      const struct bm_executor *seq_exec)
{
    struct bm_errmsg em = {{0}};
    struct bm_seq_options so = {.no_sync = true};
    struct bm_manager_params p;
    char dir[320];
    int err;

    if (agg) {
        snprintf(dir, sizeof(dir), "%s/data/seq", home);
        mkdir(dir, 0700);
        so.exec = seq_exec;
        assert_int_equal(bm_seq_open(&n->seq, dir, g_gen.chain_id, &so, &em),
                         BM_OK);
    }
    if (da_url != NULL) {
        struct bm_da_client_config cc = {.url = da_url, .timeout_ms = 5000};

        assert_int_equal(bm_da_client_new(&n->dac, &cc, &em), BM_OK);
        bm_da_from_client(&n->da, n->dac);
    }
    n->cfg = *cfg;
    memset(&p, 0, sizeof(p));
    p.signer = agg ? &g_key : NULL;
    p.config = &n->cfg;
    p.genesis = &g_gen;
    p.store = n->store;
    p.exec = &n->exec;
    p.seq = n->seq;
    p.da = da_url != NULL ? &n->da : NULL;
    p.ha = g_ha;
    err = bm_manager_new(&n->m, &p, &em);
    if (err != BM_OK) {
        fail_msg("manager new: %s", bm_errmsg_str(&em, err));
    }
}

/* The store of a fresh node in home. */
static void open_store(struct mt_node *n, const char *home, bool agg)
{
    struct bm_errmsg em = {{0}};
    int err;

    memset(n, 0, sizeof(*n));
    n->aggregator = agg;
    snprintf(n->home, sizeof(n->home), "%s", home);
    mk(home, "data");
    err = bm_store_open(&n->store, home, NULL, &em);
    if (err != BM_OK) {
        fail_msg("store: %s", bm_errmsg_str(&em, err));
    }
}

/* Opens the node's parts in `home` (created when new) and builds the
 * manager; does not start it. */
void mt_open(struct mt_node *n, const char *home, bool agg,
                    const char *da_url, const struct bm_manager_config *cfg)
{
    struct bm_errmsg em = {{0}};
    struct bm_kv_options kvo = {.no_sync = true,
                                .keep_heights = g_kv_keep_heights};
    char dir[320];

    open_store(n, home, agg);
    snprintf(dir, sizeof(dir), "%s/data/kv", home);
    mkdir(dir, 0700);
    assert_int_equal(bm_kv_open(&n->kv, dir, &kvo, &em), BM_OK);
    bm_kv_executor(n->kv, &n->kv_exec);
    n->exec = n->kv_exec;
    open_rest(n, home, agg, da_url, cfg, &n->kv_exec);
}

void mt_open_exec(struct mt_node *n, const char *home, bool agg,
                  const char *da_url, const struct bm_manager_config *cfg,
                  const struct bm_executor *exec)
{
    open_store(n, home, agg);
    n->exec = *exec;
    open_rest(n, home, agg, da_url, cfg, &n->exec);
}

void mt_start(struct mt_node *n)
{
    struct bm_errmsg em = {{0}};
    int err = bm_manager_start(n->m, &em);

    if (err != BM_OK) {
        fail_msg("manager start: %s", bm_errmsg_str(&em, err));
    }
}

/* Stops and closes everything but the home. Returns the stop result. */
int mt_close(struct mt_node *n)
{
    struct bm_errmsg em = {{0}};
    int err = bm_manager_stop(n->m, &em);

    if (err != BM_OK) {
        fprintf(stderr, "manager stop: %s\n", bm_errmsg_str(&em, err));
    }
    bm_manager_free(n->m);
    bm_da_client_free(n->dac);
    bm_seq_free(n->seq);
    bm_kv_free(n->kv);
    bm_store_close(n->store);
    n->m = NULL;
    return err;
}

uint64_t height_of(struct mt_node *n)
{
    uint64_t h = 0;

    (void)bm_manager_get_store_height(n->m, &h);
    return h;
}


unsigned g_rng = 12345;

unsigned rnd(void)
{
    g_rng = g_rng * 1103515245u + 12345u;
    return (g_rng >> 8) & 0xffffff;
}

/* Adds up to k random KV txs to the aggregator's mempool. */
void add_txs(struct mt_node *n, unsigned k)
{
    char tx[64];

    for (unsigned i = 0; i < k; i++) {
        int len = snprintf(tx, sizeof(tx), "key%u=val%u", rnd() % 500, rnd());

        (void)bm_kv_mempool_add(n->kv, (const uint8_t *)tx, (size_t)len, NULL,
                                NULL);
    }
}

void header_hash_at(struct bm_store *s, uint64_t h, struct bm_hash *out)
{
    struct bm_buf b = {0};
    struct bm_signed_header sh = {0};

    assert_int_equal(bm_store_get_header(s, h, &b, NULL), BM_OK);
    assert_int_equal(bm_signed_header_decode(&sh, b.ptr, b.len), BM_OK);
    assert_int_equal(bm_header_hash(&sh.header, out), BM_OK);
    bm_signed_header_release(&sh);
    bm_buf_release(&b);
}

void app_hash_at(struct bm_store *s, uint64_t h, struct bm_buf *out)
{
    struct bm_buf b = {0};
    struct bm_state st = {0};

    assert_int_equal(bm_store_get_state(s, h, &b, NULL), BM_OK);
    assert_int_equal(bm_state_decode(&st, b.ptr, b.len), BM_OK);
    assert_int_equal(bm_buf_copy(out, &st.app_hash), BM_OK);
    bm_state_release(&st);
    bm_buf_release(&b);
}

void new_home(char *out, size_t len)
{
    char tmpl[] = "/tmp/bm-mgr-XXXXXX";

    assert_non_null(mkdtemp(tmpl));
    snprintf(out, len, "%s", tmpl);
}

struct bm_da_server *da_start(const char *home, uint32_t outage_after,
                                     uint32_t outage_for_ms, char *url,
                                     size_t len)
{
    struct bm_da_server_config sc = {0};
    struct bm_da_server *s = NULL;
    struct bm_errmsg em = {{0}};

    sc.home = home;
    sc.outage_after = outage_after;
    sc.outage_for_ms = outage_for_ms;
    assert_int_equal(bm_da_server_start(&s, &sc, &em), BM_OK);
    snprintf(url, len, "http://127.0.0.1:%u", (unsigned)bm_da_server_port(s));
    return s;
}

/* Counts, for heights 1..max, how often each header is on DA. */
struct bm_da_client *da_reader(const char *url, struct bm_da_namespaces *ns,
                               uint64_t *head)
{
    struct bm_da_client *c;
    struct bm_da_client_config cc = {.url = url, .timeout_ms = 5000};
    struct bm_da_header hd;

    assert_int_equal(bm_da_namespaces_from_config(ns, "mgr-headers",
                                                  "mgr-data", NULL),
                     BM_OK);
    assert_int_equal(bm_da_client_new(&c, &cc, NULL), BM_OK);
    assert_int_equal(bm_da_client_header_network_head(c, 0, &hd, NULL),
                     BM_OK);
    *head = hd.height;
    return c;
}

void count_da_headers(const char *url, uint64_t max, uint32_t *count)
{
    struct bm_da_namespaces ns;
    uint64_t head;
    struct bm_da_client *c = da_reader(url, &ns, &head);

    for (uint64_t h = 1; h <= head; h++) {
        struct bm_da_blob_list l = {0};

        if (bm_da_client_get_all(c, h, &ns.header, 1, 0, &l, NULL) != BM_OK) {
            continue;
        }
        for (size_t i = 0; i < l.n; i++) {
            struct bm_da_header_envelope e = {0};

            if (bm_da_header_envelope_decode(&e, l.v[i].data.ptr,
                                             l.v[i].data.len) == BM_OK &&
                e.sh.header.height >= 1 && e.sh.header.height <= max) {
                count[e.sh.header.height]++;
            }
            bm_da_header_envelope_release(&e);
        }
        bm_da_blob_list_release(&l);
    }
    bm_da_client_free(c);
}
