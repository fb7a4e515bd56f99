/*
 * noise_bench: the cost of the p2p foundations on one core, measured
 * against their limit in the same run.
 *   noise_aead_limit <MB/s>       libsodium ChaCha20-Poly1305 IETF encrypt
 *                                 of 65519-byte buffers: the ceiling
 *   noise_seal <MB/s>             bm_noise_seal in place, 65519-byte frames
 *   noise_open <MB/s>             bm_noise_open in place, same frames
 *   noise_*_cpu <MB/cpu-s>        the same per CPU-second of the process
 *                                 (steadier on a shared machine)
 *   noise_seal_vs_limit <%>       seal / limit, per CPU-second
 *   noise_handshake <hs/s>        complete XX handshakes (both sides, in
 *                                 memory, fresh keys), per second of one
 *                                 core doing both sides: a pair counts 1;
 *                                 also per CPU-second
 *   multistream_negotiation <n/s> responder + eager initiator, in memory
 * MB are 10^6 bytes of plaintext. Prints the median of RUNS runs.
 * Usage: noise_bench [--mb N]   (plaintext per throughput run, default 512)
 */
#include "bench_util.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/keys.h"
#include "p2p/multistream.h"
#include "p2p/noise.h"
#include "util/alloc.h"

#define RUNS 5
#define FRAME_PLAIN BM_NOISE_PLAINTEXT_MAX

/* Wall and CPU seconds of one measured section. */
struct span {
    double wall, cpu;
};

static struct span span_start(void)
{
    struct span s = {now_s(), cpu_s()};
    return s;
}

static struct span span_since(struct span t0)
{
    struct span s = {now_s() - t0.wall, cpu_s() - t0.cpu};
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static void die(const char *what) __attribute__((noreturn));

static void die(const char *what)
{
    fprintf(stderr, "noise_bench: %s\n", what);
    exit(1);
}

/* Seconds of raw libsodium AEAD over the frames, in place, laid out
 * like the frames bm_noise_seal writes: the limit. */
static struct span run_limit(uint8_t *frames, size_t n_frames)
{
    size_t stride = FRAME_PLAIN + BM_NOISE_FRAME_OVERHEAD;
    uint8_t key[32], nonce[12] = {0};
    unsigned long long clen;
    struct span t0;

    randombytes_buf(key, sizeof(key));
    t0 = span_start();
    for (size_t i = 0; i < n_frames; i++) {
        uint8_t *f = frames + i * stride;
        uint64_t n = i;
        memcpy(nonce + 4, &n, 8);
        crypto_aead_chacha20poly1305_ietf_encrypt(
            f + 2, &clen, f + 2, FRAME_PLAIN, NULL, 0, NULL, nonce, key);
    }
    return span_since(t0);
}

/* Seconds of sealing, then of opening, the same frames in place. */
static void run_transport(uint8_t *frames, size_t n_frames, struct span *seal,
                          struct span *open)
{
    struct bm_noise_cipher tx, rx;
    size_t stride = FRAME_PLAIN + BM_NOISE_FRAME_OVERHEAD, c, pl;
    struct span t0;

    memset(&tx, 0, sizeof(tx));
    randombytes_buf(tx.key, sizeof(tx.key));
    rx = tx;
    t0 = span_start();
    for (size_t i = 0; i < n_frames; i++) {
        uint8_t *f = frames + i * stride;
        if (bm_noise_seal(&tx, f + 2, FRAME_PLAIN, f, stride) !=
            (int64_t)stride) {
            die("seal failed");
        }
    }
    *seal = span_since(t0);
    t0 = span_start();
    for (size_t i = 0; i < n_frames; i++) {
        uint8_t *f = frames + i * stride;
        if (bm_noise_open(&rx, f, stride, &c, f + 2, FRAME_PLAIN, &pl) !=
            BM_NOISE_DONE) {
            die("open failed");
        }
    }
    *open = span_since(t0);
}

/* Complete handshakes per second (both sides on this thread); per CPU
 * second in *per_cpu. */
static double run_handshakes(double seconds, double *per_cpu)
{
    struct bm_privkey ka, kb;
    struct bm_peer_id pb;
    struct bm_noise_config ca, cb;
    static uint8_t o1[BM_NOISE_HS_OUT_MAX], o2[BM_NOISE_HS_OUT_MAX],
        o3[BM_NOISE_HS_OUT_MAX];
    struct span t0 = span_start(), t;
    long count = 0;

    bm_keys_generate(&ka);
    bm_keys_generate(&kb);
    bm_peer_id_from_privkey(&pb, &kb);
    memset(&ca, 0, sizeof(ca));
    memset(&cb, 0, sizeof(cb));
    ca.role = BM_NOISE_INITIATOR;
    ca.identity = &ka;
    ca.expected = &pb;
    cb.role = BM_NOISE_RESPONDER;
    cb.identity = &kb;
    do {
        struct bm_noise_hs *a = NULL, *b = NULL;
        struct bm_noise_remote r;
        struct bm_noise_cipher tx, rx;
        size_t c, w1, w2, w3, w4;
        if (bm_noise_hs_new(&ca, &a) != BM_OK ||
            bm_noise_hs_new(&cb, &b) != BM_OK ||
            bm_noise_hs_feed(a, NULL, 0, &c, o1, sizeof(o1), &w1, NULL) !=
                BM_NOISE_AGAIN ||
            bm_noise_hs_feed(b, o1, w1, &c, o2, sizeof(o2), &w2, NULL) !=
                BM_NOISE_AGAIN ||
            bm_noise_hs_feed(a, o2, w2, &c, o3, sizeof(o3), &w3, NULL) !=
                BM_NOISE_DONE ||
            bm_noise_hs_feed(b, o3, w3, &c, o1, sizeof(o1), &w4, NULL) !=
                BM_NOISE_DONE ||
            bm_noise_hs_finish(a, &r, &tx, &rx) != BM_OK ||
            bm_noise_hs_finish(b, &r, &tx, &rx) != BM_OK) {
            die("handshake failed");
        }
        bm_noise_hs_free(a);
        bm_noise_hs_free(b);
        count++;
        t = span_since(t0);
    } while (t.wall < seconds);
    *per_cpu = (double)count / t.cpu;
    return (double)count / t.wall;
}

static double run_multistream(double seconds)
{
    static const char *const served[] = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0",
                                         "/floodsub/1.0.0"};
    static const char *const offer[] = {"/floodsub/1.0.0"};
    static uint8_t oa[BM_MULTISTREAM_OUT_MAX], ob[BM_MULTISTREAM_OUT_MAX];
    double t0 = now_s(), t;
    long count = 0;

    do {
        for (int i = 0; i < 1000; i++) {
            struct bm_multistream a, b;
            size_t c, wa, wb;
            bm_multistream_init(&a, BM_MULTISTREAM_INITIATOR, offer, 1);
            bm_multistream_init(&b, BM_MULTISTREAM_RESPONDER, served, 3);
            bm_multistream_feed(&a, NULL, 0, &c, oa, sizeof(oa), &wa, NULL);
            if (bm_multistream_feed(&b, oa, wa, &c, ob, sizeof(ob), &wb,
                                    NULL) != BM_MULTISTREAM_DONE ||
                bm_multistream_feed(&a, ob, wb, &c, oa, sizeof(oa), &wa,
                                    NULL) != BM_MULTISTREAM_DONE) {
                die("multistream failed");
            }
        }
        count += 1000;
        t = now_s();
    } while (t - t0 < seconds);
    return (double)count / (t - t0);
}

int main(int argc, char **argv)
{
    size_t mb = 512, n_frames, passes;
    size_t stride = FRAME_PLAIN + BM_NOISE_FRAME_OVERHEAD;
    double limit[RUNS], seal[RUNS], open[RUNS], hs[RUNS], ms[RUNS];
    double limit_c[RUNS], seal_c[RUNS], open_c[RUNS], hs_c[RUNS];
    uint8_t *frames;

    if (argc == 3 && strcmp(argv[1], "--mb") == 0) {
        mb = (size_t)strtoul(argv[2], NULL, 10);
    }
    if (bm_crypto_init() != BM_OK || mb == 0) {
        die("init");
    }
    /* Frames laid out as a host would: 2-byte gap, plaintext, tag; 64 MiB
     * of them (beyond the caches, as a real stream), passed over until
     * `mb` MB are done. */
    n_frames = 64 * 1024 * 1024 / stride;
    frames = bm_malloc(n_frames * stride);
    if (frames == NULL) {
        die("out of memory");
    }
    randombytes_buf(frames, n_frames * stride);
    passes =
        (mb * 1000000 + n_frames * FRAME_PLAIN - 1) / (n_frames * FRAME_PLAIN);
    for (int r = 0; r < RUNS; r++) {
        struct span tl = {0, 0}, ts = {0, 0}, to = {0, 0};
        double bytes;
        for (size_t p = 0; p < passes; p++) {
            struct span l1, s1, o1;
            l1 = run_limit(frames, n_frames);
            run_transport(frames, n_frames, &s1, &o1);
            tl.wall += l1.wall;
            tl.cpu += l1.cpu;
            ts.wall += s1.wall;
            ts.cpu += s1.cpu;
            to.wall += o1.wall;
            to.cpu += o1.cpu;
        }
        bytes = (double)(passes * n_frames * FRAME_PLAIN) / 1e6;
        limit[r] = bytes / tl.wall;
        seal[r] = bytes / ts.wall;
        open[r] = bytes / to.wall;
        limit_c[r] = bytes / tl.cpu;
        seal_c[r] = bytes / ts.cpu;
        open_c[r] = bytes / to.cpu;
        hs[r] = run_handshakes(1.0, &hs_c[r]);
        ms[r] = run_multistream(0.5);
    }
    printf("noise_aead_limit %.0f MB/s\n", median(limit, RUNS));
    printf("noise_seal %.0f MB/s\n", median(seal, RUNS));
    printf("noise_open %.0f MB/s\n", median(open, RUNS));
    printf("noise_aead_limit_cpu %.0f MB/cpu-s\n", median(limit_c, RUNS));
    printf("noise_seal_cpu %.0f MB/cpu-s\n", median(seal_c, RUNS));
    printf("noise_open_cpu %.0f MB/cpu-s\n", median(open_c, RUNS));
    printf("noise_seal_vs_limit %.1f %%\n",
           100.0 * median(seal_c, RUNS) / median(limit_c, RUNS));
    printf("noise_handshake %.0f hs/s\n", median(hs, RUNS));
    printf("noise_handshake_cpu %.0f hs/cpu-s\n", median(hs_c, RUNS));
    printf("multistream_negotiation %.0f n/s\n", median(ms, RUNS));
    bm_free(frames);
    return 0;
}
