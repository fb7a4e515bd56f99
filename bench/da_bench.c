/*
 * DA round trips over loopback: blob.Submit + blob.GetAll of one blob
 * against the in-process local DA server (real HTTP on 127.0.0.1, real
 * LMDB in a temp dir). Prints `name value unit` lines; each value is the
 * median of 5 runs. `da_bench --quick` runs fewer iterations.
 */
#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockv2/da.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define RUNS 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int run(struct bm_da_client *c, const char *label, size_t size,
               int iters)
{
    struct bm_da_namespace ns;
    struct bm_da_blob b;
    struct bm_errmsg em = {{0}};
    double rates[RUNS];
    uint8_t *data = bm_xmalloc(size);

    for (size_t i = 0; i < size; i++) {
        data[i] = (uint8_t)(i * 131 + 7);
    }
    bm_da_namespace_from_string(&ns, "da-bench", 8);
    if (bm_da_blob_init_v0(&b, &ns, data, size) != BM_OK) {
        bm_free(data);
        return 1;
    }
    bm_free(data);
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        for (int i = 0; i < iters; i++) {
            struct bm_da_blob_list l = {NULL, 0};
            uint64_t h = 0;
            enum bm_err err =
                bm_da_client_submit(c, &b, 1, NULL, 0, &h, &em);
            if (err == BM_OK) {
                err = bm_da_client_get_all(c, h, &ns, 1, 0, &l, &em);
            }
            if (err != BM_OK || l.n != 1 || l.v[0].data.len != size) {
                fprintf(stderr, "da_bench: %s\n", bm_errmsg_str(&em, err));
                bm_da_blob_list_release(&l);
                bm_da_blob_release(&b);
                return 1;
            }
            bm_da_blob_list_release(&l);
        }
        rates[r] = iters / (now_s() - t0);
    }
    qsort(rates, RUNS, sizeof(rates[0]), cmp_double);
    printf("da_roundtrip_%s %.1f roundtrips/s\n", label, rates[RUNS / 2]);
    printf("da_roundtrip_%s_mb %.2f MB/s\n", label,
           rates[RUNS / 2] * (double)size / 1e6);
    bm_da_blob_release(&b);
    return 0;
}

int main(int argc, char **argv)
{
    struct bm_da_server_config cfg;
    struct bm_da_client_config cc;
    struct bm_da_server *s = NULL;
    struct bm_da_client *c = NULL;
    struct bm_errmsg em = {{0}};
    char home[] = "/tmp/bm-da-bench-XXXXXX", url[64], cmd[128];
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int rc = 1;

    bm_log_set_level(BM_LOG_WARN);
    if (mkdtemp(home) == NULL) {
        return 1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = home;
    if (bm_da_server_start(&s, &cfg, &em) != BM_OK) {
        fprintf(stderr, "da_bench: %s\n", em.msg);
        goto out;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u",
             (unsigned)bm_da_server_port(s));
    memset(&cc, 0, sizeof(cc));
    cc.url = url;
    if (bm_da_client_new(&c, &cc, &em) != BM_OK) {
        fprintf(stderr, "da_bench: %s\n", em.msg);
        goto out;
    }
    if (run(c, "1k", 1024, quick ? 20 : 200) != 0 ||
        run(c, "100k", 100 * 1024, quick ? 5 : 50) != 0 ||
        run(c, "1900k", 1900 * 1024, quick ? 2 : 10) != 0) {
        goto out;
    }
    rc = 0;
out:
    bm_da_client_free(c);
    bm_da_server_stop(s);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    if (system(cmd) != 0) {
        rc = 1;
    }
    return rc;
}
