/*
 * The cost of HA per block: a guarded write of the block record
 * (bm_ha_replicate: a txn on the leader key's create_revision putting
 * <prefix>/block) against a real single-member etcd on 127.0.0.1 (Debian's
 * etcd-server, started in a temp dir), with etcd's own round trips beside
 * it, measured in the same run: a linearizable range of one key and a
 * plain put of the same bytes (the floor a guarded write cannot beat).
 *
 * Prints one markdown table: per operation the median and p99 latency in
 * microseconds over RUNS x ITERS calls (median of the per-run medians; p99
 * of all calls) and this process's CPU time per call (the client's share:
 * encoding, base64, JSON, HTTP; etcd runs in its own process). `ha_bench
 * --quick` does fewer calls. The etcd data dir is on $TMPDIR (or /tmp): each
 * write fsyncs etcd's WAL there.
 */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/ha.h"
#include "blockv2/types.h"
#include "etcd_proc.h"
#include "ha/etcd.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define RUNS 5

static int iters = 200;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

enum op { OP_RANGE, OP_PUT, OP_GUARDED };

struct ctx {
    struct bm_etcd *e;
    struct bm_ha *h;
    int64_t token;
    uint64_t height;
    size_t size;
};

static void record(uint64_t height, size_t size, struct bm_buf *out)
{
    struct bm_raft_block_state s = {0};
    uint8_t hash[32];
    uint8_t *data = bm_xmalloc(size);

    memset(hash, (int)height, sizeof(hash));
    for (size_t i = 0; i < size; i++) {
        data[i] = (uint8_t)(i * 131 + height);
    }
    s.height = height;
    s.timestamp = height;
    s.hash.ptr = hash;
    s.hash.len = sizeof(hash);
    s.header.ptr = data;
    s.header.len = size < 300 ? size : 300;
    s.data.ptr = data;
    s.data.len = size;
    if (bm_raft_block_state_encode(&s, out) != BM_OK) {
        abort();
    }
    bm_free(data);
}

static uint64_t one(struct ctx *c, enum op op)
{
    struct bm_etcd_resp r = {0};
    struct bm_errmsg em = {{0}};
    struct bm_buf rec = {0};
    enum bm_err err;
    uint64_t t0, t;

    if (op != OP_RANGE) {
        record(c->height + 1, c->size, &rec);
    }
    t0 = bench_now_ns();
    switch (op) {
    case OP_RANGE:
        err = bm_etcd_get(c->e, (const uint8_t *)"/bench/k", 8, 0, &r, &em);
        break;
    case OP_PUT:
        err = bm_etcd_put(c->e, (const uint8_t *)"/bench/plain", 12, rec.ptr,
                          rec.len, 0, 0, &r, &em);
        break;
    default:
        err = bm_ha_replicate(c->h, c->token, c->height + 1, rec.ptr, rec.len,
                              &em);
        if (err == BM_OK) {
            c->height++;
        }
        break;
    }
    t = bench_now_ns() - t0;
    if (err != BM_OK) {
        fprintf(stderr, "ha_bench: %s\n", bm_errmsg_str(&em, err));
        exit(1);
    }
    bm_etcd_resp_release(&r);
    bm_buf_release(&rec);
    return t;
}

static void measure(struct ctx *c, enum op op, size_t size, const char *name)
{
    uint64_t *all = bm_xcalloc((size_t)RUNS * (size_t)iters, sizeof(*all));
    uint64_t med[RUNS];
    double cpu0;

    c->size = size;
    for (int i = 0; i < 20; i++) {
        (void)one(c, op);
    }
    cpu0 = cpu_s();
    for (int r = 0; r < RUNS; r++) {
        uint64_t *run = all + (size_t)r * (size_t)iters;
        for (int i = 0; i < iters; i++) {
            run[i] = one(c, op);
        }
        uint64_t *sorted = bm_xcalloc((size_t)iters, sizeof(*sorted));
        memcpy(sorted, run, (size_t)iters * sizeof(*sorted));
        qsort(sorted, (size_t)iters, sizeof(*sorted), cmp_u64);
        med[r] = sorted[iters / 2];
        bm_free(sorted);
    }
    double cpu_us = (cpu_s() - cpu0) * 1e6 / ((double)RUNS * (double)iters);
    qsort(med, RUNS, sizeof(med[0]), cmp_u64);
    qsort(all, (size_t)RUNS * (size_t)iters, sizeof(*all), cmp_u64);
    size_t n = (size_t)RUNS * (size_t)iters;
    printf("| %s | %zu | %.0f | %.0f | %.0f | %.0f |\n", name, size,
           (double)med[RUNS / 2] / 1e3, (double)all[n * 99 / 100] / 1e3, cpu_us,
           (double)n);
    bm_free(all);
}

int main(int argc, char **argv)
{
    struct etcd_proc p;
    struct ctx c = {0};
    struct bm_errmsg em = {{0}};
    const char *eps[1];
    struct bm_ha_config hc = {0};
    struct bm_etcd_config ec = {0};
    struct bm_ha_status st;

    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        iters = 40;
    }
    bm_log_set_level(BM_LOG_WARN);
    if (!etcd_proc_start(&p)) {
        fprintf(stderr, "ha_bench: cannot start etcd (apt-get install "
                        "etcd-server)\n");
        return 1;
    }
    eps[0] = p.url;
    ec.endpoints = eps;
    ec.n_endpoints = 1;
    ec.timeout_ms = 5000;
    hc.endpoints = eps;
    hc.n_endpoints = 1;
    hc.prefix = "/bench";
    hc.node_id = "bench";
    hc.lease_ttl_s = 10;
    hc.call_timeout_ms = 5000;
    if (bm_etcd_new(&c.e, &ec, &em) != BM_OK ||
        bm_ha_new(&c.h, &hc, &em) != BM_OK || bm_ha_start(c.h, &em) != BM_OK) {
        fprintf(stderr, "ha_bench: %s\n", em.msg);
        etcd_proc_destroy(&p);
        return 1;
    }
    for (int i = 0; i < 500; i++) {
        bm_ha_status(c.h, &st);
        if (st.role == BM_HA_LEADER) {
            break;
        }
        bm_sleep_ms(10);
    }
    if (st.role != BM_HA_LEADER) {
        fprintf(stderr, "ha_bench: no leadership\n");
        return 1;
    }
    c.token = st.token;
    {
        char load[64] = "?";
        FILE *f = fopen("/proc/loadavg", "r");
        if (f != NULL) {
            if (fgets(load, sizeof(load), f) == NULL) {
                snprintf(load, sizeof(load), "?");
            }
            fclose(f);
            load[strcspn(load, "\n")] = '\0';
        }
        printf("etcd %s, data on %s, %d runs x %d calls, loadavg %s\n", p.url,
               getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", RUNS, iters, load);
    }
    printf("| operation | bytes | median us | p99 us | client CPU us | "
           "calls |\n");
    printf("|---|---|---|---|---|---|\n");
    measure(&c, OP_RANGE, 0, "etcd round trip: range of one key");
    measure(&c, OP_PUT, 1024, "etcd put (the floor of a write)");
    measure(&c, OP_GUARDED, 1024, "guarded write (bm_ha_replicate)");
    measure(&c, OP_PUT, 65536, "etcd put (the floor of a write)");
    measure(&c, OP_GUARDED, 65536, "guarded write (bm_ha_replicate)");
    bm_ha_free(c.h);
    bm_etcd_free(c.e);
    etcd_proc_destroy(&p);
    return 0;
}
