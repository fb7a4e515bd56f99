/*
 * FloodSub latency and exchange catch-up between two blockv2 hosts in one
 * process over 127.0.0.1 (each host has its own loop thread), with the
 * limit measured in the same run: Ed25519 verifications per second on one
 * core (a block costs two: header and data).
 *
 *   gossip_bench [--blocks N] [--interval-ms MS] [--items N] [--item-bytes B]
 *
 * Gossip: the "aggregator" publishes a header-sized payload (item-bytes)
 * every interval-ms (default 100, ev-node's block time in the issue's
 * target) carrying its publish time; the follower's deliver callback
 * records the latency. Catch-up: the follower fetches heights 1..items
 * (default 10,000) from the aggregator's exchange server with a range
 * session and a verifier that checks each item's height and hash link
 * (SHA-256 of the previous item), as a syncer's cheap checks do; the
 * signature checks are left to the consumer, whose limit is the last row.
 * Prints one table; figures from a shared machine are indicative only.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench_util.h"
#include "p2p/floodsub.h"
#include "p2p/headerex.h"
#include "p2p/host.h"
#include "util/alloc.h"
#include "util/clock.h"

#define TOPIC "/bench-headerSync/header-sub/v0.0.1"
#define NET "bench-headerSync"

struct node {
    struct bm_p2p_host *h;
    struct bm_privkey key;
    struct bm_peer_id id;
    struct bm_multiaddr addr;
    struct bm_floodsub *fs;
    struct bm_headerex *x;
};

/* ------------------------------------------------------------ items */

static size_t item_bytes = 400;
static uint64_t n_items = 10000;
static uint8_t (*hashes)[32];

static void make_item(uint64_t h, struct bm_buf *out)
{
    uint8_t *p = bm_xmalloc(item_bytes);

    bm_put_be64(p, h);
    if (h > 1) {
        memcpy(p + 8, hashes[h - 1], 32);
    } else {
        memset(p + 8, 0, 32);
    }
    memset(p + 40, (int)(h & 0xff), item_bytes - 40);
    out->ptr = p;
    out->len = item_bytes;
}

static int src_head(void *arg, uint64_t *height)
{
    (void)arg;
    *height = n_items;
    return BM_OK;
}

static int src_get(void *arg, uint64_t height, struct bm_buf *item)
{
    (void)arg;
    if (height == 0 || height > n_items) {
        return BM_ENOTFOUND;
    }
    bm_buf_release(item);
    make_item(height, item);
    return BM_OK;
}

static const struct bm_headerex_source source = {
    .head_height = src_head,
    .get_by_height = src_get,
};

static int check(void *arg, const uint8_t *item, size_t len,
                 const uint8_t *prev, size_t prev_len, uint64_t want,
                 uint64_t *height)
{
    uint64_t h;

    (void)arg;
    if (len < 40) {
        return BM_EDECODE;
    }
    h = bm_get_be64(item);
    if (want != 0 && h != want) {
        return BM_EHEIGHT_MISMATCH;
    }
    if (prev != NULL && bm_get_be64(prev) + 1 == h) {
        uint8_t ph[32];

        crypto_hash_sha256(ph, prev, prev_len);
        if (memcmp(ph, item + 8, 32) != 0) {
            return BM_ELAST_HEADER_HASH;
        }
    }
    *height = h;
    return BM_OK;
}

static const struct bm_headerex_verifier verifier = {.check = check};

/* ------------------------------------------------------------ gossip */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct bm_cond cv = BM_COND_INIT;
static uint64_t *lat_ns;
static size_t n_lat;
static uint64_t range_got;
static int range_err = 1;

static void deliver(const struct bm_floodsub_msg *m, void *arg)
{
    uint64_t sent;

    (void)arg;
    if (m->data_len < 8) {
        return;
    }
    sent = bm_get_be64(m->data);
    pthread_mutex_lock(&mu);
    lat_ns[n_lat++] = bench_now_ns() - sent;
    bm_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static const struct bm_floodsub_topic ops = {.deliver = deliver};

static void on_items(struct bm_headerex *x, struct bm_headerex_result *r,
                     void *arg)
{
    (void)x;
    (void)arg;
    pthread_mutex_lock(&mu);
    range_got += r->n_items;
    pthread_mutex_unlock(&mu);
}

static void on_done(struct bm_headerex *x, int err, uint64_t next, void *arg)
{
    (void)x;
    (void)next;
    (void)arg;
    pthread_mutex_lock(&mu);
    range_err = err;
    bm_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* ------------------------------------------------------------ setup */

static void die(const char *what, int err)
{
    fprintf(stderr, "gossip_bench: %s: %s\n", what, bm_strerror(err));
    exit(1);
}

static void node_new(struct node *n, uint8_t seed)
{
    struct bm_p2p_host_config hc;
    struct bm_floodsub_config fc;
    struct bm_headerex_config xc;
    struct bm_multiaddr listen;
    uint8_t s32[32];
    const char *text = "/ip4/127.0.0.1/tcp/0";
    int err;

    memset(s32, seed, sizeof(s32));
    bm_privkey_from_seed(&n->key, s32);
    bm_peer_id_from_privkey(&n->id, &n->key);
    if (bm_multiaddr_parse(&listen, text, strlen(text), NULL) != BM_OK) {
        die("listen address", BM_EINVAL);
    }
    bm_p2p_host_config_init(&hc);
    hc.identity = &n->key;
    hc.listen = &listen;
    hc.n_listen = 1;
    err = bm_p2p_host_new(&n->h, &hc, NULL);
    if (err != BM_OK) {
        die("host", err);
    }
    (void)bm_p2p_host_listen_addrs(n->h, &n->addr, 1);
    n->addr.has_peer = true;
    n->addr.peer = n->id;
    bm_floodsub_config_init(&fc);
    err = bm_floodsub_new(&n->fs, n->h, &fc, NULL);
    if (err == BM_OK) {
        err = bm_floodsub_subscribe(n->fs, TOPIC, &ops, NULL);
    }
    if (err != BM_OK) {
        die("floodsub", err);
    }
    bm_headerex_config_init(&xc);
    xc.network_id = NET;
    xc.source = &source;
    xc.verifier = &verifier;
    err = bm_headerex_new(&n->x, n->h, &xc, NULL);
    if (err != BM_OK) {
        die("exchange", err);
    }
    err = bm_p2p_host_start(n->h);
    if (err != BM_OK) {
        die("start", err);
    }
}

static void node_free(struct node *n)
{
    (void)bm_p2p_host_stop(n->h);
    bm_floodsub_free(n->fs);
    bm_headerex_free(n->x);
    bm_p2p_host_free(n->h);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);

    return (double)v[i] / 1e6;
}

int main(int argc, char **argv)
{
    unsigned blocks = 100, interval = 100;
    struct node a, f;
    uint8_t *payload;
    double t0, t1, c0, c1, verify_rate, verify_cpu_rate;
    int err;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--blocks") == 0) {
            blocks = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--interval-ms") == 0) {
            interval = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--items") == 0) {
            n_items = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--item-bytes") == 0) {
            item_bytes = strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (blocks == 0 || n_items == 0 || item_bytes < 64) {
        fprintf(stderr, "gossip_bench: bad arguments\n");
        return 2;
    }
    if (bm_crypto_init() != BM_OK) {
        return 1;
    }
    hashes = bm_xcalloc(n_items + 1, sizeof(*hashes));
    for (uint64_t h = 1; h <= n_items; h++) {
        struct bm_buf it = {NULL, 0};

        make_item(h, &it);
        crypto_hash_sha256(hashes[h], it.ptr, it.len);
        bm_buf_release(&it);
    }
    lat_ns = bm_xcalloc(blocks, sizeof(*lat_ns));
    payload = bm_xcalloc(1, item_bytes);
    node_new(&a, 0x0a);
    node_new(&f, 0x0f);
    err = bm_p2p_host_dial(f.h, &a.addr);
    if (err != BM_OK) {
        die("dial", err);
    }
    bm_sleep_ms(500); /* connection, streams, hellos */

    /* Gossip latency. */
    for (unsigned i = 0; i < blocks; i++) {
        bm_put_be64(payload, bench_now_ns());
        err = bm_floodsub_publish(a.fs, TOPIC, payload, item_bytes);
        if (err != BM_OK) {
            die("publish", err);
        }
        bm_sleep_ms(interval);
    }
    pthread_mutex_lock(&mu);
    for (int w = 0; w < 50 && n_lat < blocks; w++) {
        pthread_mutex_unlock(&mu);
        bm_sleep_ms(100);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);

    /* Catch-up by exchange. */
    t0 = now_s();
    c0 = cpu_s();
    err = bm_headerex_range(f.x, &a.id, 1, 1, n_items, NULL, on_items,
                            on_done, NULL);
    if (err != BM_OK) {
        die("range", err);
    }
    pthread_mutex_lock(&mu);
    while (range_err == 1) {
        bm_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    t1 = now_s();
    c1 = cpu_s();

    /* The limit: Ed25519 verifications on one core. */
    {
        uint8_t sig[64], msg[400];
        unsigned k = 0;
        double v0 = now_s(), vc0 = cpu_s();

        memset(msg, 7, sizeof(msg));
        crypto_sign_detached(sig, NULL, msg, sizeof(msg), a.key.b);
        while (now_s() - v0 < 1.0) {
            for (int j = 0; j < 100; j++) {
                if (crypto_sign_verify_detached(sig, msg, sizeof(msg),
                                                a.key.b + 32) != 0) {
                    die("verify", BM_ECRYPTO);
                }
            }
            k += 100;
        }
        verify_rate = k / (now_s() - v0);
        verify_cpu_rate = k / (cpu_s() - vc0); /* the hosts are idle now */
    }

    qsort(lat_ns, n_lat, sizeof(*lat_ns), cmp_u64);
    printf("%-44s %14s %s\n", "measure", "value", "unit");
    printf("%-44s %14zu %s\n", "gossip messages delivered", n_lat,
           "of published");
    printf("%-44s %14u %s\n", "gossip publish interval", interval, "ms");
    printf("%-44s %14zu %s\n", "gossip payload", item_bytes, "bytes");
    if (n_lat > 0) {
        printf("%-44s %14.3f %s\n", "gossip latency p50", pct(lat_ns, n_lat, 0.5),
               "ms");
        printf("%-44s %14.3f %s\n", "gossip latency p99",
               pct(lat_ns, n_lat, 0.99), "ms");
        printf("%-44s %14.3f %s\n", "gossip latency max",
               (double)lat_ns[n_lat - 1] / 1e6, "ms");
    }
    printf("%-44s %14s %s\n", "exchange range result",
           range_err == BM_OK ? "ok" : bm_err_name(range_err), "");
    printf("%-44s %14llu %s\n", "exchange items fetched",
           (unsigned long long)range_got, "items");
    printf("%-44s %14.0f %s\n", "exchange catch-up", range_got / (t1 - t0),
           "items/s");
    printf("%-44s %14.0f %s\n", "exchange catch-up per CPU second",
           range_got / (c1 - c0), "items/cpu-s");
    printf("%-44s %14.0f %s\n", "limit: Ed25519 verify, one core",
           verify_rate, "verifies/s");
    printf("%-44s %14.0f %s\n", "limit: Ed25519 verify per CPU second",
           verify_cpu_rate, "verifies/cpu-s");
    printf("%-44s %14.0f %s\n", "limit: blocks/s at 2 verifies, 2 cores",
           verify_cpu_rate, "blocks/s");
    node_free(&f);
    node_free(&a);
    bm_free(lat_ns);
    bm_free(payload);
    bm_free(hashes);
    return range_err == BM_OK && n_lat == blocks ? 0 : 1;
}
