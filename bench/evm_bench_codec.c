/*
 * The EVM executor's own CPU per block outside the HTTP exchanges, on
 * recorded-shape answers, no client: what ExecuteTxs builds and decodes
 * for a block of --txs transfers (default 100, 114-byte EIP-1559
 * transfers as tests/evm/tx.mjs sends them):
 *
 *   attrs_us          the payload attributes (bm_evm_attrs_build)
 *   attrs_before_us   the same text the way the executor built it before
 *                     (hex in 512-byte chunks into a growing buffer, then
 *                     copied into the fork choice's params), for
 *                     comparison in the same run
 *   payload_json_c_us the getPayload answer through json-c (parse, check,
 *                     the executionPayload serialised for newPayload):
 *                     what the executor did before, and does now for an
 *                     answer the scanner declines
 *   payload_scan_us   the same answer through the scanner
 *                     (bm_evm_payload_decode)
 *   answer_bytes      the getPayload answer's size
 *
 * With --eth URL (an execution client's eth port, e.g. from
 * tests/evm/el.sh start), also --calls eth_blockNumber calls through the
 * executor's endpoint (one kept-alive connection), per call:
 *
 *   call_wall_us      wall time of bm_evm_endpoint_call
 *   call_outside_us   of it, outside the HTTP exchange (building the
 *                     request and its headers, parsing the answer: what
 *                     counts as the executor's own part of a block)
 *   call_cpu_us       the calling thread's CPU, exchange included
 *   call_connects     connections opened over all the calls
 *
 * CPU time of the bench's thread per block, median of --runs runs of
 * --iters blocks each. Prints `name value unit` lines.
 *
 *   build/bench/evm_bench_codec [--txs N] [--iters N] [--runs N]
 *                               [--eth URL [--calls N]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec/evm/attrs.h"
#include "exec/evm/decode.h"
#include "exec/evm/endpoint.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/hex.h"

#define TX_LEN 114u

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    fprintf(stderr, "evm_bench_codec: %s\n", what);
    exit(1);
}

/* The attributes as the executor built them before attrs.c. */
static void attrs_before(const struct bm_evm_attrs *a,
                         const struct bm_buf *txs, size_t n,
                         struct bm_dynbuf *params)
{
    static const char digits[] = "0123456789abcdef";
    struct bm_dynbuf d;
    char rnd[67], fee[43], chunk[512];
    uint8_t randao[32] = {0};
    enum bm_err err;

    for (int i = 0; i < 8; i++) {
        randao[31 - i] = (uint8_t)(a->height >> (8 * i));
    }
    bm_evm_hex(rnd, randao, 32);
    bm_evm_hex(fee, a->fee_recipient, 20);
    bm_dynbuf_init(&d, (size_t)1 << 30);
    err = bm_dynbuf_printf(&d, "{\"timestamp\":\"0x%" PRIx64 "\",\"prevRandao"
                           "\":\"%s\",\"suggestedFeeRecipient\":\"%s\","
                           "\"withdrawals\":[],\"parentBeaconBlockRoot\":\"0x"
                           "%064d\",\"transactions\":[",
                           a->timestamp, rnd, fee, 0);
    for (size_t i = 0; err == BM_OK && i < n; i++) {
        size_t k = 0;

        if (i > 0) {
            err = bm_dynbuf_append_byte(&d, ',');
        }
        if (err == BM_OK) {
            err = bm_dynbuf_append(&d, "\"0x", 3);
        }
        for (size_t j = 0; err == BM_OK && j < txs[i].len; j++) {
            chunk[k++] = digits[txs[i].ptr[j] >> 4];
            chunk[k++] = digits[txs[i].ptr[j] & 15];
            if (k == sizeof(chunk) || j + 1 == txs[i].len) {
                err = bm_dynbuf_append(&d, chunk, k);
                k = 0;
            }
        }
        if (err == BM_OK) {
            err = bm_dynbuf_append_byte(&d, '"');
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "],\"gasLimit\":%" PRIu64 "}",
                               a->gas_limit);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(&d, 0);
    }
    /* fcu then copied it after the fork-choice state */
    bm_dynbuf_init(params, (size_t)1 << 30);
    if (err == BM_OK) {
        err = bm_dynbuf_printf(params, "{\"headBlockHash\":\"%s\","
                               "\"safeBlockHash\":\"%s\",\"finalizedBlockHash"
                               "\":\"%s\"},", rnd, rnd, rnd);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append(params, d.ptr, strlen((const char *)d.ptr));
    }
    bm_dynbuf_release(&d);
    if (err != BM_OK) {
        die("attrs_before");
    }
}

/* A getPayload answer of ethereumjs' shape with the txs. */
static char *answer(const struct bm_buf *txs, size_t n, size_t *len)
{
    struct bm_dynbuf d;
    char h[67];
    uint8_t x[32];
    enum bm_err err;

    memset(x, 0x5a, sizeof(x));
    bm_evm_hex(h, x, 32);
    bm_dynbuf_init(&d, (size_t)1 << 30);
    err = bm_dynbuf_printf(&d, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{"
                           "\"executionPayload\":{\"parentHash\":\"%s\","
                           "\"feeRecipient\":\"0x0000000000000000000000000000"
                           "000000000000\",\"stateRoot\":\"%s\","
                           "\"receiptsRoot\":\"%s\",\"logsBloom\":\"0x", h, h,
                           h);
    for (int i = 0; err == BM_OK && i < 512; i++) {
        err = bm_dynbuf_append_byte(&d, '0');
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "\",\"prevRandao\":\"%s\",\"blockNumber\":"
                               "\"0x5\",\"gasLimit\":\"0x1c9c380\","
                               "\"gasUsed\":\"0x%zx\",\"timestamp\":"
                               "\"0x6750a1b2\",\"extraData\":\"0x\","
                               "\"baseFeePerGas\":\"0x7\",\"blockHash\":"
                               "\"%s\",\"transactions\":[",
                               h, n * 21000, h);
    }
    for (size_t i = 0; err == BM_OK && i < n; i++) {
        char *hex = bm_hex_dup(txs[i].ptr, txs[i].len);

        err = hex != NULL ? bm_dynbuf_printf(&d, "%s\"0x%s\"",
                                             i > 0 ? "," : "", hex)
                          : BM_ENOMEM;
        bm_free(hex);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "],\"withdrawals\":[],\"blobGasUsed\":"
                               "\"0x0\",\"excessBlobGas\":\"0x0\","
                               "\"parentBeaconBlockRoot\":\"%s\"},"
                               "\"blockValue\":\"0x0\",\"blobsBundle\":{"
                               "\"commitments\":[],\"proofs\":[],\"blobs\":[]"
                               "},\"shouldOverrideBuilder\":false,"
                               "\"executionRequests\":[]}}", h);
    }
    if (err != BM_OK) {
        die("answer");
    }
    *len = d.len;
    return (char *)d.ptr;
}

/* Calls eth_blockNumber n times at url; prints the per-call figures. */
static void live_calls(const char *url, unsigned n)
{
    struct bm_evm_endpoint_config cfg = {url, NULL, 5000, 0, "eth"};
    struct bm_evm_endpoint *ep = NULL;
    struct bm_evm_endpoint_stats st;
    struct bm_errmsg em = {{0}};
    uint64_t *wall = bm_calloc(n, sizeof(uint64_t));
    uint64_t *out = bm_calloc(n, sizeof(uint64_t));
    uint64_t *cpu = bm_calloc(n, sizeof(uint64_t));

    if (wall == NULL || out == NULL || cpu == NULL ||
        bm_evm_endpoint_new(&ep, &cfg, &em) != BM_OK) {
        die("endpoint");
    }
    for (unsigned i = 0; i < n; i++) {
        struct bm_evm_reply r = {0};
        uint64_t t0 = bm_clock_now_ns(), c0 = cpu_ns(), t1;

        if (bm_evm_endpoint_call(ep, "eth_blockNumber", NULL, 0, &r, &em) !=
            BM_OK) {
            die(em.msg);
        }
        t1 = bm_clock_now_ns();
        cpu[i] = cpu_ns() - c0;
        wall[i] = t1 - t0;
        out[i] = wall[i] > r.ns ? wall[i] - r.ns : 0;
        bm_evm_reply_release(&r);
    }
    qsort(wall, n, sizeof(*wall), cmp_u64);
    qsort(out, n, sizeof(*out), cmp_u64);
    qsort(cpu, n, sizeof(*cpu), cmp_u64);
    bm_evm_endpoint_stats(ep, &st);
    printf("evm_codec_call_wall_us %.1f us\n", (double)wall[n / 2] / 1000.0);
    printf("evm_codec_call_outside_us %.1f us\n",
           (double)out[n / 2] / 1000.0);
    printf("evm_codec_call_cpu_us %.1f us\n", (double)cpu[n / 2] / 1000.0);
    printf("evm_codec_call_connects %llu connections\n",
           (unsigned long long)st.connects);
    bm_evm_endpoint_free(ep);
    bm_free(wall);
    bm_free(out);
    bm_free(cpu);
}

/* One measure: CPU per block of `what` over iters blocks, runs times. */
enum which { ATTRS, ATTRS_BEFORE, JSON_C, SCAN, N_WHICH };

int main(int argc, char **argv)
{
    static const char *const names[N_WHICH] = {
        "attrs", "attrs_before", "payload_json_c", "payload_scan"};
    unsigned n = 100, iters = 2000, runs = 5, calls = 500;
    const char *eth = NULL;
    struct bm_buf *txs;
    uint8_t fee[20] = {0};
    struct bm_evm_attrs a = {1733337522, 5, fee, 30000000};
    size_t alen = 0;
    char *ans;
    uint64_t *v;

    for (int i = 1; i + 1 < argc; i += 2) {
        unsigned x = (unsigned)strtoul(argv[i + 1], NULL, 10);

        if (strcmp(argv[i], "--txs") == 0) {
            n = x;
        } else if (strcmp(argv[i], "--iters") == 0 && x > 0) {
            iters = x;
        } else if (strcmp(argv[i], "--runs") == 0 && x > 0) {
            runs = x;
        } else if (strcmp(argv[i], "--calls") == 0 && x > 0) {
            calls = x;
        } else if (strcmp(argv[i], "--eth") == 0) {
            eth = argv[i + 1];
        } else {
            die("usage: evm_bench_codec [--txs N] [--iters N] [--runs N] "
                "[--eth URL [--calls N]]");
        }
    }
    txs = bm_calloc(n > 0 ? n : 1, sizeof(*txs));
    v = bm_calloc(runs, sizeof(*v));
    if (txs == NULL || v == NULL) {
        die("out of memory");
    }
    for (unsigned i = 0; i < n; i++) {
        txs[i].ptr = bm_malloc(TX_LEN);
        if (txs[i].ptr == NULL) {
            die("out of memory");
        }
        txs[i].len = TX_LEN;
        for (unsigned j = 0; j < TX_LEN; j++) {
            txs[i].ptr[j] = (uint8_t)(i * 31 + j * 7);
        }
        txs[i].ptr[0] = 0x02;
    }
    ans = answer(txs, n, &alen);
    for (unsigned w = 0; w < N_WHICH; w++) {
        for (unsigned r = 0; r < runs; r++) {
            uint64_t t0 = cpu_ns();

            for (unsigned it = 0; it < iters; it++) {
                struct bm_evm_reply rep = {0};
                struct bm_evm_payload pl = {0};
                struct bm_errmsg em = {{0}};
                struct bm_buf out = {0};
                struct bm_dynbuf p;

                switch (w) {
                case ATTRS:
                    if (bm_evm_attrs_build(&a, txs, n, (size_t)1 << 30,
                                           &out) != BM_OK) {
                        die("attrs");
                    }
                    bm_buf_release(&out);
                    break;
                case ATTRS_BEFORE:
                    attrs_before(&a, txs, n, &p);
                    bm_dynbuf_release(&p);
                    break;
                case JSON_C:
                    if (bm_evm_reply_parse(ans, alen, 1, &rep, &em) !=
                            BM_OK ||
                        bm_evm_dec_payload(rep.result, &pl, &em) != BM_OK ||
                        pl.n_txs != n) {
                        die(em.msg);
                    }
                    break;
                default: {
                    bool scanned = false;

                    /* the body as the endpoint hands it over (a copy) */
                    rep.body = bm_malloc(alen);
                    if (rep.body == NULL) {
                        die("out of memory");
                    }
                    memcpy(rep.body, ans, alen);
                    rep.body_len = alen;
                    rep.id = 1;
                    if (bm_evm_payload_decode(&rep, &pl, &scanned, &em) !=
                            BM_OK ||
                        !scanned || pl.n_txs != n) {
                        die("the scanner declined the answer");
                    }
                    break;
                }
                }
                bm_evm_payload_release(&pl);
                bm_evm_reply_release(&rep);
            }
            v[r] = (cpu_ns() - t0) / iters;
        }
        qsort(v, runs, sizeof(*v), cmp_u64);
        printf("evm_codec_%s_us %.1f us\n", names[w],
               (double)v[runs / 2] / 1000.0);
    }
    printf("evm_codec_answer_bytes %zu bytes\n", alen);
    printf("evm_codec_txs %u txs\n", n);
    if (eth != NULL) {
        live_calls(eth, calls);
    }
    for (unsigned i = 0; i < n; i++) {
        bm_free(txs[i].ptr);
    }
    bm_free(txs);
    bm_free(v);
    bm_free(ans);
    return 0;
}
