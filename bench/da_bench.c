/*
 * DA round trips over loopback: blob.Submit + blob.GetAll of one blob
 * against the in-process local DA server (real HTTP on 127.0.0.1, real
 * LMDB in a temp dir). Prints `name value unit` lines; each value is the
 * median of 5 runs. `da_bench --quick` runs fewer iterations.
 *
 * Also the CPU to decode one blob.GetAll answer shaped like a DA height
 * of a catch-up (22 header blobs of 260 bytes and 2 data blobs of 700, as
 * the local DA server encodes them), per blob: through json-c's object
 * tree and through the scanner the client uses (src/da/da_json.c).
 */
#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockv2/da.h"
#include "da/da_json.h"
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

/* The answer body: 22 blobs of 260 bytes and 2 of 700 (owned). */
static void getall_body(struct bm_dynbuf *d)
{
    struct bm_da_namespace ns;

    bm_da_namespace_from_string(&ns, "da-bench", 8);
    bm_dynbuf_init(d, 1 << 20);
    if (bm_dynbuf_printf(d, "{\"jsonrpc\":\"2.0\",\"id\":1,"
                            "\"result\":[") != BM_OK) {
        abort();
    }
    for (size_t i = 0; i < 24; i++) {
        size_t len = i < 22 ? 260 : 700;
        uint8_t data[700];
        struct bm_da_blob b = {0};

        for (size_t k = 0; k < len; k++) {
            data[k] = (uint8_t)(k * 131 + i);
        }
        if (bm_da_blob_init_v0(&b, &ns, data, len) != BM_OK ||
            (i > 0 && bm_dynbuf_append_byte(d, ',') != BM_OK) ||
            bm__da_blob_append_json(d, &b) != BM_OK) {
            abort();
        }
        bm_da_blob_release(&b);
    }
    if (bm_dynbuf_printf(d, "]}") != BM_OK) {
        abort();
    }
}

/* CPU us per blob to decode the body, median of RUNS; scan: the
 * client's decoder, else json-c's tree and bm__da_decode_blobs. */
static double decode_us_per_blob(const struct bm_dynbuf *d, bool scan,
                                 int iters)
{
    double v[RUNS];

    for (int r = 0; r < RUNS; r++) {
        double t0 = cpu_s();
        size_t n = 0;

        for (int i = 0; i < iters; i++) {
            struct bm_da_blob_list l = {NULL, 0};
            struct bm__da_response resp = {NULL, NULL};
            enum bm_err err;

            if (scan) {
                err = bm__da_get_all_decode((const char *)d->ptr, d->len, 1,
                                            &l, NULL);
            } else {
                err = bm__da_response_parse((const char *)d->ptr, d->len, 1,
                                            &resp, NULL);
                if (err == BM_OK) {
                    err = bm__da_decode_blobs(resp.result, &l, NULL);
                }
                bm__da_response_release(&resp);
            }
            if (err != BM_OK) {
                abort();
            }
            n += l.n;
            bm_da_blob_list_release(&l);
        }
        v[r] = (cpu_s() - t0) * 1e6 / (double)n;
    }
    qsort(v, RUNS, sizeof(v[0]), cmp_double);
    return v[RUNS / 2];
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
    {
        struct bm_dynbuf body;

        getall_body(&body);
        printf("da_getall_decode_json_c %.3f us/blob\n",
               decode_us_per_blob(&body, false, quick ? 200 : 2000));
        printf("da_getall_decode_scanner %.3f us/blob\n",
               decode_us_per_blob(&body, true, quick ? 200 : 2000));
        bm_dynbuf_release(&body);
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
