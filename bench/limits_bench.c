/*
 * The machine's limits that the benchmark suite (scripts/bench.sh) prints
 * beside each figure, measured in the same run: what one Ed25519
 * signature, one verification and one KiB of SHA-256 cost on one core
 * (libsodium, the node's crypto), the verifications per second of every
 * core at once, and the latency of a durable 4 KiB write (pwrite +
 * fdatasync, what every LMDB commit pays twice) in each directory given.
 * CPU figures are the measuring thread's CPU time (CLOCK_THREAD_CPUTIME_ID
 * through cpu_s() of its own thread), medians of 15 batches, so other
 * jobs on a shared machine change them little. Prints `name value unit`.
 *
 *   limits_bench [--threads N] [--fsync DIR]...
 */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util/alloc.h"

#define BATCHES 15
#define MAX_DIRS 8

static double thread_cpu_s(void)
{
    struct timespec ts;

    /* the measuring thread's own CPU time: not slowed by other jobs */
    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), bench_cmp_double);
    return v[n / 2];
}

struct keys {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    unsigned char msg[256]; /* about a signed header's size */
    unsigned char sig[crypto_sign_BYTES];
};

/* µs of CPU per call of what, median of BATCHES batches of n calls. */
static double per_call_us(const struct keys *k, int what, unsigned n)
{
    static unsigned char buf[1024];
    unsigned char out[crypto_hash_sha256_BYTES];
    unsigned char sig[crypto_sign_BYTES];
    double v[BATCHES];
    unsigned bad = 0;

    for (int b = 0; b < BATCHES; b++) {
        double t = thread_cpu_s();

        for (unsigned i = 0; i < n; i++) {
            if (what == 0) {
                crypto_sign_detached(sig, NULL, k->msg, sizeof(k->msg),
                                     k->sk);
            } else if (what == 1) {
                bad += crypto_sign_verify_detached(k->sig, k->msg,
                                                   sizeof(k->msg),
                                                   k->pk) != 0;
            } else {
                buf[i & 1023] ^= (unsigned char)i;
                crypto_hash_sha256(out, buf, sizeof(buf));
            }
        }
        v[b] = (thread_cpu_s() - t) * 1e6 / n;
    }
    if (bad != 0) {
        fprintf(stderr, "limits_bench: %u verifications failed\n", bad);
        exit(1);
    }
    return median(v, BATCHES);
}

struct vthread {
    const struct keys *k;
    unsigned n;
    pthread_t t;
};

static void *verify_many(void *arg)
{
    struct vthread *vt = arg;

    for (unsigned i = 0; i < vt->n; i++) {
        if (crypto_sign_verify_detached(vt->k->sig, vt->k->msg,
                                        sizeof(vt->k->msg), vt->k->pk) != 0) {
            abort(); /* our own signature: cannot fail */
        }
    }
    return NULL;
}

/* Verifications per second of `threads` threads at once (wall clock). */
static double verifies_per_s(const struct keys *k, unsigned threads)
{
    struct vthread vt[64];
    unsigned n = 4000;
    uint64_t t0 = bench_now_ns();
    double s;

    for (unsigned i = 0; i < threads; i++) {
        vt[i].k = k;
        vt[i].n = n;
        if (pthread_create(&vt[i].t, NULL, verify_many, &vt[i]) != 0) {
            fprintf(stderr, "limits_bench: pthread_create failed\n");
            exit(1);
        }
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(vt[i].t, NULL);
    }
    s = (double)(bench_now_ns() - t0) / 1e9;
    return (double)n * threads / s;
}

int main(int argc, char **argv)
{
    struct keys k;
    const char *dirs[MAX_DIRS];
    size_t n_dirs = 0;
    unsigned threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0) {
            threads = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--fsync") == 0 && n_dirs < MAX_DIRS) {
            dirs[n_dirs++] = argv[i + 1];
        } else {
            fprintf(stderr,
                    "usage: limits_bench [--threads N] [--fsync DIR]...\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || sodium_init() < 0) {
        fprintf(stderr, "limits_bench: bad --threads or no libsodium\n");
        return 2;
    }
    crypto_sign_keypair(k.pk, k.sk);
    randombytes_buf(k.msg, sizeof(k.msg));
    crypto_sign_detached(k.sig, NULL, k.msg, sizeof(k.msg), k.sk);
    printf("limit_sign_us %.2f us\n", per_call_us(&k, 0, 400));
    printf("limit_verify_us %.2f us\n", per_call_us(&k, 1, 200));
    printf("limit_sha256_us_per_kib %.3f us\n", per_call_us(&k, 2, 2000));
    printf("limit_verifies_per_s %.0f verifies/s\n",
           verifies_per_s(&k, threads));
    printf("limit_verify_threads %u threads\n", threads);
    for (size_t i = 0; i < n_dirs; i++) {
        double us = bench_fsync_p50_us(dirs[i], 200);

        if (us < 0) {
            fprintf(stderr, "limits_bench: fsync probe in %s: %s\n",
                    dirs[i], strerror(errno));
            continue;
        }
        printf("limit_fsync_%zu_us %.1f us\n", i, us);
    }
    return 0;
}
