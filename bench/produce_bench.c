/*
 * produce_bench: the cost of making a block, through the public Manager
 * API, on a real node (block store, KV executor and sequencer queue, each
 * a real LMDB environment with fsync on every commit; no DA, no P2P), and
 * the block-time floor. Each figure is printed beside the limits measured
 * in the same run, so the overhead of the block manager can be told apart
 * from the crypto and the disk:
 *
 *   crypto_sign_us, crypto_verify_us, crypto_sha256_kb_us
 *                          Ed25519 sign / verify of a header's signing
 *                          payload, SHA-256 of 1 KiB (libsodium), in CPU
 *                          time of the measuring thread
 *   fsync_<fs>_us          pwrite 4 KiB + fdatasync in the node's directory
 *                          (median)
 *   produce_<k>_<fs>_us    wall time of one bm_manager_produce_block, mean
 *                          over the blocks of a run; k = empty or 100tx
 *                          (--txs K: K txs instead of 100, named Ktx)
 *   produce_<k>_<fs>_cpu_us   CPU time of the whole process per block
 *   produce_<k>_<fs>_csw   context switches of the whole process per
 *                          block (getrusage: voluntary + involuntary, all
 *                          threads)
 *   produce_<k>_<fs>_vcsw  the voluntary ones only (threads that went to
 *                          sleep: the thread hand-offs; involuntary ones
 *                          are preemption by other load)
 *   produce_<k>_<fs>_turns, _empty_turns
 *                          actor turns per block, summed over the node's
 *                          actors, and those that handled nothing (the
 *                          runtime spinning: docs/actor-runtime.md
 *                          "Ending a turn")
 *   produce_empty_<fs>_overhead_us
 *                          produce_empty_<fs>_us minus the crypto an empty
 *                          block does (OWN_SIGNS signs, OWN_VERIFIES
 *                          verifies, SHA256_KB KiB hashed); _cpu_overhead_us
 *                          the same from the CPU time per block (no
 *                          wake-up latency, no time lost to other jobs)
 *   floor_<fs>_pct         block time FLOOR_BLOCK_MS with FLOOR_TXS-tx
 *                          blocks: blocks made / blocks scheduled over
 *                          --floor-seconds, in percent
 *   floor_<fs>_txs_per_block  mean txs per block in that window
 *
 * Every figure is the median over --runs runs (each on a fresh node).
 * <fs> is "tmpfs" (--tmpfs DIR, default /dev/shm) and "disk" (--disk DIR,
 * default /var/tmp). Usage:
 *   produce_bench [--runs N] [--blocks N] [--floor-seconds S]
 *                 [--tmpfs DIR] [--disk DIR] [--only produce|floor|limits]
 *                 [--fs tmpfs|disk] [--kind empty|txs] [--txs K]
 *                 [--threads]
 * --threads prints, on stderr, each thread's voluntary context switches
 * per produced block.
 * Lines are `name value unit` (scripts/bench.sh keeps and medians them).
 */
#include "bench_node.h"
#include "bench_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "blockv2/actor.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/types.h"
#include "blockv2/validate.h"
#include "exec/kv/kv.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/file.h"
#include "util/log.h"

/* The crypto one produced empty block does, counted with callgrind
 * (docs/PERFORMANCE.md "Block production"): one header signature; no
 * verification (the block's own signature is not verified again,
 * docs/ARCHITECTURE.md); SHA-256 over about 5 KiB: the KV executor's
 * state root twice (its 2 KiB LtHash vector, before and after the block),
 * two header hashes, the data hash, the signer's address. */
#define OWN_SIGNS 1
#define OWN_VERIFIES 0
#define SHA256_KB 5

#define MAX_RUNS 15
#define TX_SIZE 64
#define WARMUP_BLOCKS 20
#define FLOOR_BLOCK_MS 5
#define FLOOR_TXS 1000

static struct bm_privkey g_key;
static struct bm_genesis g_gen;
static uint64_t g_tx_seq;

static void die(const char *what, int err, const struct bm_errmsg *em)
{
    fprintf(stderr, "produce_bench: %s: %s\n", what,
            em != NULL ? bm_errmsg_str(em, err) : bm_err_name(err));
    exit(1);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(v[0]), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void genesis_init(void)
{
    uint8_t seed[32], pub[32];
    struct bm_hash addr;

    if (bm_crypto_init() != BM_OK) {
        die("crypto init", BM_EINVAL, NULL);
    }
    bm_genesis_release(&g_gen);
    randombytes_buf(seed, sizeof(seed));
    bm_privkey_from_seed(&g_key, seed);
    bm_privkey_public(&g_key, pub);
    bm_address_from_pubkey(pub, &addr);
    if (bm_str_set(&g_gen.chain_id, "bench-chain") != BM_OK ||
        bm_buf_set(&g_gen.proposer_address, addr.b, 32) != BM_OK) {
        die("genesis", BM_ENOMEM, NULL);
    }
    g_gen.start_time_ns = bm_validate_now_ns() - 1000000000ull;
    g_gen.initial_height = 1;
}

/* A node in a fresh directory under base; block_ms 0: blocks only
 * through bm_manager_produce_block. */
static void node_open(struct bench_node *n, const char *base,
                      uint64_t block_ms, uint64_t max_batch_bytes)
{
    struct bm_kv_options ko = {.mempool_max_txs = 10};
    struct bm_seq_options so = {.max_queue_txs = 2000000,
                                .max_queue_bytes = 512u << 20};
    char home[320];

    snprintf(home, sizeof(home), "%s/bm-produce-bench-XXXXXX", base);
    if (mkdtemp(home) == NULL) {
        perror(home);
        exit(1);
    }
    bench_node_open(n, home, &ko, &so, NULL, g_gen.chain_id);
    n->cfg.aggregator = true;
    /* Manual blocks only: the block timer is an hour away. */
    n->cfg.block_time_ms = block_ms != 0 ? block_ms : 3600000;
    n->cfg.max_batch_bytes = max_batch_bytes;
    bench_node_manager(n, &g_key, &g_gen);
}

static void node_close(struct bench_node *n)
{
    bench_node_stop(n);
    (void)bm_file_remove_tree(n->home);
}

/* Queues k unique 64-byte KV txs in the sequencer (not timed). */
static void queue_txs(struct bench_node *n, size_t k)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf *txs = bm_xcalloc(k, sizeof(*txs));
    size_t acc = 0;
    int err;

    for (size_t i = 0; i < k; i++) {
        char tx[TX_SIZE + 1];

        snprintf(tx, sizeof(tx), "key%016llx=%044llu",
                 (unsigned long long)g_tx_seq, (unsigned long long)i);
        g_tx_seq++;
        if (bm_buf_set(&txs[i], (const uint8_t *)tx, TX_SIZE) != BM_OK) {
            die("tx", BM_ENOMEM, NULL);
        }
    }
    err = bm_seq_submit(n->seq, (const uint8_t *)g_gen.chain_id,
                        strlen(g_gen.chain_id), txs, k, &acc, &em);
    if (err != BM_OK || acc != k) {
        die("seq submit", err != BM_OK ? err : BM_EPROTO, &em);
    }
    for (size_t i = 0; i < k; i++) {
        bm_buf_release(&txs[i]);
    }
    bm_free(txs);
}

static void produce_one(struct bench_node *n)
{
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    int err = bm_manager_produce_block(n->m, &h, &em);

    if (err != BM_OK) {
        die("produce_block", err, &em);
    }
}

static long csw(const struct rusage *u, bool voluntary_only)
{
    return voluntary_only ? u->ru_nvcsw : u->ru_nvcsw + u->ru_nivcsw;
}

static double tv_s(const struct timeval *t)
{
    return (double)t->tv_sec + (double)t->tv_usec / 1e6;
}

struct produce_res {
    double us, cpu_us, csw, vcsw, turns, empty_turns;
};

/* Turns and empty turns (turns that found nothing to handle: the runtime
 * spinning, docs/actor-runtime.md "Ending a turn") summed over the node's
 * actors. */
static void actor_turns(struct bench_node *n, uint64_t *turns, uint64_t *empty)
{
    struct bm_actor_stats *st = NULL;
    size_t cnt = 0;

    *turns = *empty = 0;
    if (bm_actor_snapshot(bm_manager_actor_system(n->m), &st, &cnt) !=
        BM_OK) {
        die("bm_actor_snapshot", BM_ENOMEM, NULL);
    }
    for (size_t i = 0; i < cnt; i++) {
        *turns += st[i].turns;
        *empty += st[i].empty_turns;
    }
    bm_free(st);
}

/* Per-thread voluntary context switches (/proc/self/task/<tid>), to see
 * which threads sleep per block (--threads). */
#define MAX_THREADS 64
struct thread_csw {
    int n;
    long tid[MAX_THREADS];
    char name[MAX_THREADS][20];
    long vcsw[MAX_THREADS];
};

static void threads_read(struct thread_csw *t)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;

    t->n = 0;
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL && t->n < MAX_THREADS) {
        char path[300], line[128];
        FILE *f;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        t->tid[t->n] = atol(e->d_name);
        t->name[t->n][0] = '\0';
        t->vcsw[t->n] = 0;
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "Name:", 5) == 0) {
                sscanf(line + 5, "%19s", t->name[t->n]);
            } else if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0) {
                t->vcsw[t->n] = atol(line + 24);
            }
        }
        fclose(f);
        t->n++;
    }
    closedir(d);
}

static void threads_print(const struct thread_csw *a,
                          const struct thread_csw *b, int blocks)
{
    for (int i = 0; i < b->n; i++) {
        long before = 0;

        for (int j = 0; j < a->n; j++) {
            if (a->tid[j] == b->tid[i]) {
                before = a->vcsw[j];
            }
        }
        if (b->vcsw[i] - before > 0) {
            fprintf(stderr, "  thread %-16s %.2f voluntary switches/block\n",
                    b->name[i], (double)(b->vcsw[i] - before) / blocks);
        }
    }
}

static bool g_threads;

/* One run: `blocks` blocks with k txs each (queued before each block,
 * outside the timed call). */
static struct produce_res run_produce(const char *base, size_t k,
                                      int blocks)
{
    struct bench_node n;
    struct produce_res r = {0};
    struct thread_csw th0, th1;
    double wall = 0, cpu = 0;
    long sw = 0, vsw = 0;
    uint64_t turns0, empty0, turns1, empty1;

    node_open(&n, base, 0, 0);
    bench_node_start(&n);
    for (int i = 0; i < WARMUP_BLOCKS; i++) {
        if (k > 0) {
            queue_txs(&n, k);
        }
        produce_one(&n);
    }
    if (g_threads) {
        threads_read(&th0);
    }
    actor_turns(&n, &turns0, &empty0);
    for (int i = 0; i < blocks; i++) {
        struct rusage u0, u1;
        double t0, t1;

        if (k > 0) {
            queue_txs(&n, k);
        }
        getrusage(RUSAGE_SELF, &u0);
        t0 = now_s();
        produce_one(&n);
        t1 = now_s();
        getrusage(RUSAGE_SELF, &u1);
        wall += t1 - t0;
        cpu += tv_s(&u1.ru_utime) + tv_s(&u1.ru_stime) -
               tv_s(&u0.ru_utime) - tv_s(&u0.ru_stime);
        sw += csw(&u1, false) - csw(&u0, false);
        vsw += csw(&u1, true) - csw(&u0, true);
    }
    actor_turns(&n, &turns1, &empty1);
    if (g_threads) {
        threads_read(&th1);
        fprintf(stderr, "produce k=%zu:\n", k);
        threads_print(&th0, &th1, blocks);
    }
    node_close(&n);
    r.us = wall * 1e6 / blocks;
    r.cpu_us = cpu * 1e6 / blocks;
    r.csw = (double)sw / blocks;
    r.vcsw = (double)vsw / blocks;
    r.turns = (double)(turns1 - turns0) / blocks;
    r.empty_turns = (double)(empty1 - empty0) / blocks;
    return r;
}

/* Median µs of a 4 KiB pwrite + fdatasync in a file under base. */
static double fsync_us(const char *base)
{
    double us = bench_fsync_p50_us(base, 201);

    if (us < 0) {
        perror("fsync bench");
        exit(1);
    }
    return us;
}

/* CPU time of the calling thread: the crypto limits below are timed on it,
 * so that time the shared machine gives to other jobs is not counted. */
static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Per-op costs of the block's crypto in thread CPU time, each the median
 * of 15 batches. */
static void crypto_us(double *sign, double *verify, double *sha_kb)
{
    enum { OPS = 200, BATCHES = 15 };
    struct bm_signed_header sh = {0};
    struct bm_buf payload = {0};
    uint8_t kb[1024], pub[32], out[32];
    double s[BATCHES], v[BATCHES], h[BATCHES];
    struct bm_hash addr;

    /* A header like the ones the bench produces. */
    bm_privkey_public(&g_key, pub);
    bm_address_from_pubkey(pub, &addr);
    sh.header.version.block = 11;
    sh.header.height = 12345;
    sh.header.time = bm_validate_now_ns();
    if (bm_str_set(&sh.header.chain_id, g_gen.chain_id) != BM_OK ||
        bm_buf_set(&sh.header.last_header_hash, out, 32) != BM_OK ||
        bm_buf_set(&sh.header.data_hash, out, 32) != BM_OK ||
        bm_buf_set(&sh.header.app_hash, out, 32) != BM_OK ||
        bm_buf_set(&sh.header.proposer_address, addr.b, 32) != BM_OK ||
        bm_signer_from_privkey(&sh.signer, &g_key) != BM_OK ||
        bm_header_signature_payload(&sh.header, &payload) != BM_OK) {
        die("crypto setup", BM_ENOMEM, NULL);
    }
    randombytes_buf(kb, sizeof(kb));
    for (int b = 0; b < BATCHES; b++) {
        double t0 = thread_cpu_s();

        for (int i = 0; i < OPS; i++) {
            if (bm_signed_header_sign(&sh, &g_key) != BM_OK) {
                die("sign", BM_EINVAL, NULL);
            }
        }
        double t1 = thread_cpu_s();

        for (int i = 0; i < OPS; i++) {
            if (!bm_verify(pub, payload.ptr, payload.len, sh.signature.ptr,
                           sh.signature.len)) {
                die("verify", BM_EBAD_SIGNATURE, NULL);
            }
        }
        double t2 = thread_cpu_s();

        for (int i = 0; i < OPS; i++) {
            crypto_hash_sha256(out, kb, sizeof(kb));
            kb[i % sizeof(kb)] ^= out[0];
        }
        double t3 = thread_cpu_s();

        s[b] = (t1 - t0) * 1e6 / OPS;
        v[b] = (t2 - t1) * 1e6 / OPS;
        h[b] = (t3 - t2) * 1e6 / OPS;
    }
    *sign = median(s, BATCHES);
    *verify = median(v, BATCHES);
    *sha_kb = median(h, BATCHES);
    bm_buf_release(&payload);
    bm_signed_header_release(&sh);
}

/*
 * Block-time floor: an aggregator with block time FLOOR_BLOCK_MS and
 * FLOOR_TXS queued txs per block; after the first block, counts the
 * blocks made in `seconds` against the blocks the schedule asks for.
 */
static double run_floor(const char *base, double seconds,
                        double *txs_per_block)
{
    struct bench_node n;
    size_t blocks = (size_t)(seconds * 1000 / FLOOR_BLOCK_MS * 1.25) + 20;
    uint64_t h0 = 0, h1 = 0, txs0, txs1;
    struct bm_manager_metrics mm;
    double t0, t1;

    /* max_batch_bytes: exactly FLOOR_TXS txs of TX_SIZE bytes per block. */
    node_open(&n, base, FLOOR_BLOCK_MS,
              (uint64_t)FLOOR_TXS * bm_data_tx_wire_size(TX_SIZE));
    for (size_t b = 0; b < blocks; b += 10) {
        queue_txs(&n, (size_t)FLOOR_TXS * 10);
    }
    bench_node_start(&n);
    /* Let it settle (first blocks, caches), then measure. */
    while (h0 < 20) {
        bm_sleep_ms(1);
        (void)bm_manager_get_store_height(n.m, &h0);
    }
    bm_manager_metrics(n.m, &mm);
    txs0 = mm.total_txs;
    (void)bm_manager_get_store_height(n.m, &h0);
    t0 = now_s();
    bm_sleep_ms((uint64_t)(seconds * 1000));
    (void)bm_manager_get_store_height(n.m, &h1);
    t1 = now_s();
    bm_manager_metrics(n.m, &mm);
    txs1 = mm.total_txs;
    node_close(&n);
    *txs_per_block = h1 > h0 ? (double)(txs1 - txs0) / (double)(h1 - h0) : 0;
    return 100.0 * (double)(h1 - h0) / ((t1 - t0) * 1000.0 / FLOOR_BLOCK_MS);
}

static void print(const char *name, const char *fs, const char *suffix,
                  double v, const char *unit)
{
    printf("%s_%s%s %.2f %s\n", name, fs, suffix, v, unit);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *dirs[2] = {"/dev/shm", "/var/tmp"};
    const char *fsn[2] = {"tmpfs", "disk"};
    const char *only = NULL;
    const char *want_fs = NULL;
    const char *want_kind = NULL;
    size_t txs_k = 100;
    int runs = 5, blocks = 2000;
    double floor_s = 3;
    double sign, verify, sha_kb;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc) {
            blocks = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--floor-seconds") == 0 && i + 1 < argc) {
            floor_s = atof(argv[++i]);
        } else if (strcmp(argv[i], "--tmpfs") == 0 && i + 1 < argc) {
            dirs[0] = argv[++i];
        } else if (strcmp(argv[i], "--disk") == 0 && i + 1 < argc) {
            dirs[1] = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--fs") == 0 && i + 1 < argc) {
            want_fs = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0) {
            g_threads = true;
        } else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
            want_kind = argv[++i];
        } else if (strcmp(argv[i], "--txs") == 0 && i + 1 < argc) {
            txs_k = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr,
                    "usage: produce_bench [--runs N] [--blocks N] "
                    "[--floor-seconds S] [--tmpfs DIR] [--disk DIR] "
                    "[--only produce|floor|limits] [--fs tmpfs|disk] "
                    "[--kind empty|txs] [--txs K] [--threads]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || blocks < 1 || floor_s <= 0 ||
        txs_k < 1 || txs_k > 100000) {
        fprintf(stderr, "produce_bench: bad --runs/--blocks/--floor-seconds\n");
        return 2;
    }
    bm_log_set_level(BM_LOG_ERROR);
    genesis_init();

    crypto_us(&sign, &verify, &sha_kb);
    printf("crypto_sign_us %.2f us\n", sign);
    printf("crypto_verify_us %.2f us\n", verify);
    printf("crypto_sha256_kb_us %.2f us\n", sha_kb);
    for (int f = 0; f < 2; f++) {
        if (want_fs != NULL && strcmp(want_fs, fsn[f]) != 0) {
            continue;
        }
        print("fsync", fsn[f], "_us", fsync_us(dirs[f]), "us");
    }
    fflush(stdout);
    if (only != NULL && strcmp(only, "limits") == 0) {
        return 0;
    }
    for (int f = 0; f < 2; f++) {
        if (want_fs != NULL && strcmp(want_fs, fsn[f]) != 0) {
            continue;
        }
        if (only == NULL || strcmp(only, "produce") == 0) {
            for (int kk = 0; kk < 2; kk++) {
                size_t k = kk == 0 ? 0 : txs_k;
                char name[32];
                double us[MAX_RUNS], cpu[MAX_RUNS], sw[MAX_RUNS],
                    vsw[MAX_RUNS], trn[MAX_RUNS], etrn[MAX_RUNS];

                if (want_kind != NULL &&
                    strcmp(want_kind, kk == 0 ? "empty" : "txs") != 0) {
                    continue;
                }
                if (kk == 0) {
                    snprintf(name, sizeof(name), "produce_empty");
                } else {
                    snprintf(name, sizeof(name), "produce_%zutx", k);
                }

                for (int r = 0; r < runs; r++) {
                    struct produce_res pr = run_produce(dirs[f], k, blocks);

                    us[r] = pr.us;
                    cpu[r] = pr.cpu_us;
                    sw[r] = pr.csw;
                    vsw[r] = pr.vcsw;
                    trn[r] = pr.turns;
                    etrn[r] = pr.empty_turns;
                }
                print(name, fsn[f], "_us", median(us, runs), "us");
                print(name, fsn[f], "_cpu_us", median(cpu, runs), "us");
                print(name, fsn[f], "_csw", median(sw, runs), "switches");
                print(name, fsn[f], "_vcsw", median(vsw, runs), "switches");
                print(name, fsn[f], "_turns", median(trn, runs), "turns");
                print(name, fsn[f], "_empty_turns", median(etrn, runs),
                      "turns");
                if (kk == 0) {
                    double crypto = OWN_SIGNS * sign + OWN_VERIFIES * verify +
                                    SHA256_KB * sha_kb;

                    print(name, fsn[f], "_crypto_us", crypto, "us");
                    print(name, fsn[f], "_overhead_us",
                          median(us, runs) - crypto, "us");
                    print(name, fsn[f], "_cpu_overhead_us",
                          median(cpu, runs) - crypto, "us");
                }
            }
        }
        if (only == NULL || strcmp(only, "floor") == 0) {
            double pct[MAX_RUNS], tpb[MAX_RUNS];

            for (int r = 0; r < runs; r++) {
                pct[r] = run_floor(dirs[f], floor_s, &tpb[r]);
            }
            print("floor", fsn[f], "_pct", median(pct, runs), "%");
            print("floor", fsn[f], "_txs_per_block", median(tpb, runs),
                  "txs");
        }
    }
    return 0;
}
