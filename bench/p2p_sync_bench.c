/*
 * P2P sync benchmark (issue 14), in one process over real sockets on
 * 127.0.0.1 and real block stores in temp dirs (bench/p2p_sync_bench.sh
 * runs it and prints the table):
 *
 *  - limit: Ed25519 verifications of a header-sized message per second on
 *    `threads` threads at once (2: the target machine's cores): a block
 *    from the exchange costs one verify before it is applied (its
 *    header's signature, checked once by StoreSync; the Validator trusts
 *    that mark, docs/VALIDATION.md "Each signature once");
 *  - catch-up: a node with an empty store fetches `blocks` blocks (headers
 *    and data) by the exchange from a node that has them, until both P2P
 *    stores hold every height: what the P2P layer delivers to the block
 *    manager (fetch, frame, verify as a hash chain, store), not the apply;
 *  - gossip latency: the aggregator side publishes the header and data of
 *    one block every `interval` ms through the broadcaster; latency is the
 *    time from the header's publish call to both items being held in the
 *    follower's P2P stores (validated, signature checked), p50 and p99.
 *
 * Output: `name value unit` lines.
 *   build/bench/p2p_sync_bench [--blocks 10000] [--gossip 200]
 *                              [--interval 100] [--threads 2]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "blockv2/store.h"
#include "blockv2/types.h"
#include "p2p/chainsync.h"
#include "p2p/host.h"
#include "p2p/p2pstore.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#include "../tests/p2p/chain_fixture.h"
#include "util/clock.h"

#define CHAIN "bench-chain"

static uint64_t now_ns(void)
{
    return bm_clock_now_ns();
}

static void sleep_ms(unsigned ms)
{
    bm_sleep_ms(ms);
}

static void die(const char *what, int err)
{
    fprintf(stderr, "p2p_sync_bench: %s: %s\n", what, bm_err_name(err));
    exit(1);
}

/* ------------------------------------------------------------ limit */

struct vctx {
    const struct cf_chain *c;
    uint64_t n;
    _Atomic uint64_t *done;
};

static void *verify_main(void *arg)
{
    struct vctx *v = arg;
    struct bm_buf msg = {0};
    const struct cf_block *b = &v->c->b[1];
    uint64_t ok = 0;

    if (bm_header_signature_payload(&b->sh.header, &msg) != BM_OK) {
        return NULL;
    }
    for (uint64_t i = 0; i < v->n; i++) {
        ok += crypto_sign_verify_detached(b->sh.signature.ptr, msg.ptr,
                                          msg.len, b->sh.signer.pub_key) == 0;
    }
    atomic_fetch_add(v->done, ok);
    bm_buf_release(&msg);
    return NULL;
}

/* Verifies per second on `threads` threads at once. */
static double verify_rate(const struct cf_chain *c, unsigned threads)
{
    pthread_t t[16];
    struct vctx v;
    _Atomic uint64_t done = 0;
    uint64_t t0, t1;

    v.c = c;
    v.n = 20000;
    v.done = &done;
    t0 = now_ns();
    for (unsigned i = 0; i < threads; i++) {
        pthread_create(&t[i], NULL, verify_main, &v);
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
    }
    t1 = now_ns();
    return (double)atomic_load(&done) * 1e9 / (double)(t1 - t0);
}

/* ------------------------------------------------------------ nodes */

struct node {
    char home[64];
    struct bm_store *store;
    struct bm_p2p_host *host;
    struct bm_privkey key;
    struct bm_multiaddr addr;
    struct bm_chainsync *cs;
    /* gossip latency (the follower's on_items hook, loop thread) */
    uint64_t *held_at;         /* when header and data of h were held */
    uint64_t max_h;
};

static void on_items(void *arg)
{
    struct node *n = arg;
    struct bm_p2pstore *hs, *ds;
    uint64_t t = now_ns();

    if (n->held_at == NULL) {
        return;
    }
    hs = bm_chainsync_store(n->cs, BM_CS_HEADERS);
    ds = bm_chainsync_store(n->cs, BM_CS_DATA);
    for (uint64_t h = 1; h <= n->max_h; h++) {
        if (n->held_at[h] == 0 && bm_p2pstore_has(hs, h) &&
            bm_p2pstore_has(ds, h)) {
            n->held_at[h] = t;
        }
    }
}

static void node_open(struct node *n, const struct cf_chain *c, uint8_t seed,
                      uint64_t stored, size_t window)
{
    struct bm_p2p_host_config hc;
    struct bm_chainsync_config cc = {0};
    struct bm_chainsync_hooks hooks = {0};
    struct bm_multiaddr listen;
    struct bm_errmsg em = {{0}};
    uint8_t s32[32];
    const char *text = "/ip4/127.0.0.1/tcp/0";
    int err;

    memset(n, 0, sizeof(*n));
    err = cf_temp_store_open("syncbench", n->home, sizeof(n->home),
                             &n->store);
    if (err == BM_OK && stored > 0) {
        err = cf_store_write(n->store, c, 1, stored);
    }
    if (err != BM_OK) {
        die("store", err);
    }
    memset(s32, seed, sizeof(s32));
    bm_privkey_from_seed(&n->key, s32);
    (void)bm_multiaddr_parse(&listen, text, strlen(text), NULL);
    bm_p2p_host_config_init(&hc);
    hc.identity = &n->key;
    hc.listen = &listen;
    hc.n_listen = 1;
    err = bm_p2p_host_new(&n->host, &hc, &em);
    if (err != BM_OK) {
        die("host", err);
    }
    (void)bm_p2p_host_listen_addrs(n->host, &n->addr, 1);
    n->addr.has_peer = true;
    bm_peer_id_from_privkey(&n->addr.peer, &n->key);
    cc.host = n->host;
    cc.genesis = &c->genesis;
    cc.store = n->store;
    cc.block_time_ms = 100;
    cc.tick_ms = 20;
    cc.window_items = window;
    cc.window_bytes = (size_t)1 << 30;
    err = bm_chainsync_new(&n->cs, &cc, &em);
    if (err != BM_OK) {
        die("chainsync", err);
    }
    hooks.on_items = on_items;
    hooks.on_items_arg = n;
    (void)bm_chainsync_attach(n->cs, &hooks);
}

static void node_start(struct node *n)
{
    if (bm_p2p_host_start(n->host) != BM_OK ||
        bm_chainsync_start(n->cs) != BM_OK) {
        die("start", BM_ESYS);
    }
}

static void node_close(struct node *n)
{
    bm_chainsync_stop(n->cs);
    (void)bm_p2p_host_stop(n->host);
    bm_chainsync_free(n->cs);
    bm_p2p_host_free(n->host);
    cf_temp_store_close(n->home, n->store);
    bm_privkey_wipe(&n->key);
}

/* ------------------------------------------------------------ runs */

static double catch_up(const struct cf_chain *c, uint64_t blocks)
{
    struct node a, b;
    uint64_t t0, t1, hh = 0, dh = 0;

    node_open(&a, c, 0x51, blocks, 0);
    node_open(&b, c, 0x52, 0, blocks + 64);
    node_start(&a);
    node_start(&b);
    t0 = now_ns();
    if (bm_p2p_host_dial(b.host, &a.addr) != BM_OK) {
        die("dial", BM_ECONNECT);
    }
    for (;;) {
        hh = bm_p2pstore_contiguous(bm_chainsync_store(b.cs, BM_CS_HEADERS),
                                    0);
        dh = bm_p2pstore_contiguous(bm_chainsync_store(b.cs, BM_CS_DATA), 0);
        if (hh >= blocks && dh >= blocks) {
            break;
        }
        if (now_ns() - t0 > 120ull * 1000000000ull) {
            fprintf(stderr, "p2p_sync_bench: catch-up stalled at headers %llu "
                    "data %llu\n", (unsigned long long)hh,
                    (unsigned long long)dh);
            exit(1);
        }
        sleep_ms(1);
    }
    t1 = now_ns();
    node_close(&b);
    node_close(&a);
    return (double)blocks * 1e9 / (double)(t1 - t0);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

static void gossip(const struct cf_chain *c, uint64_t n_blocks,
                   unsigned interval_ms, double *p50, double *p99)
{
    struct node a, b;
    struct bm_broadcaster bc;
    uint64_t *published = bm_xcalloc(n_blocks + 1, sizeof(uint64_t));
    uint64_t *held = bm_xcalloc(n_blocks + 1, sizeof(uint64_t));
    uint64_t *lat = bm_xcalloc(n_blocks, sizeof(uint64_t));
    size_t k = 0;

    node_open(&a, c, 0x61, 0, 0);
    node_open(&b, c, 0x62, 0, 0);
    b.held_at = held;
    b.max_h = n_blocks;
    node_start(&a);
    node_start(&b);
    if (bm_p2p_host_dial(b.host, &a.addr) != BM_OK) {
        die("dial", BM_ECONNECT);
    }
    sleep_ms(1000); /* connected, identified, FloodSub hellos exchanged */
    bm_chainsync_broadcaster(a.cs, &bc);
    for (uint64_t h = 1; h <= n_blocks; h++) {
        uint64_t t = now_ns();

        published[h] = t;
        if (bc.broadcast_header(bc.ctx, &c->b[h].sh) != BM_OK ||
            bc.broadcast_data(bc.ctx, &c->b[h].data) != BM_OK) {
            die("publish", BM_EFULL);
        }
        sleep_ms(interval_ms);
    }
    sleep_ms(500);
    node_close(&b); /* joins the loop: held[] is final */
    node_close(&a);
    for (uint64_t h = 1; h <= n_blocks; h++) {
        if (held[h] != 0) {
            lat[k++] = held[h] - published[h];
        }
    }
    if (k < n_blocks) {
        fprintf(stderr, "p2p_sync_bench: %zu of %llu blocks arrived\n", k,
                (unsigned long long)n_blocks);
    }
    qsort(lat, k, sizeof(lat[0]), cmp_u64);
    *p50 = k ? (double)lat[k / 2] / 1e6 : -1;
    *p99 = k ? (double)lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] / 1e6
             : -1;
    bm_free(published);
    bm_free(held);
    bm_free(lat);
}

int main(int argc, char **argv)
{
    uint64_t blocks = 10000, n_gossip = 200;
    unsigned interval = 100, threads = 2;
    struct cf_chain c;
    double vps, rate, p50, p99;
    int err;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--blocks") == 0) {
            blocks = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--gossip") == 0) {
            n_gossip = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--interval") == 0) {
            interval = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = (unsigned)strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (threads == 0 || threads > 16 || blocks == 0 || n_gossip == 0) {
        fprintf(stderr, "p2p_sync_bench: bad arguments\n");
        return 2;
    }
    bm_log_set_level(BM_LOG_WARN);
    if (bm_crypto_init() != BM_OK) {
        die("crypto", BM_ESYS);
    }
    err = cf_chain_build(&c, CHAIN, 1,
                         blocks > n_gossip ? blocks : n_gossip, 4);
    if (err != BM_OK) {
        die("chain", err);
    }
    vps = verify_rate(&c, threads);
    printf("verify_threads %u threads\n", threads);
    printf("verifies_per_s %.0f verifies/s\n", vps);
    printf("limit_blocks_per_s %.0f blocks/s\n", vps);
    rate = catch_up(&c, blocks);
    printf("catchup_blocks %llu blocks\n", (unsigned long long)blocks);
    printf("catchup_blocks_per_s %.0f blocks/s\n", rate);
    gossip(&c, n_gossip, interval, &p50, &p99);
    printf("gossip_blocks %llu blocks\n", (unsigned long long)n_gossip);
    printf("gossip_p50_ms %.3f ms\n", p50);
    printf("gossip_p99_ms %.3f ms\n", p99);
    cf_chain_release(&c);
    return 0;
}
