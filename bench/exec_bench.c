/*
 * exec_bench: KV transactions per second through the block path
 *   GetTxs -> SubmitBatchTxs -> GetNextBatch -> ExecuteTxs -> Ack (commit)
 * with 64-byte `key=value` txs (unique keys: every tx inserts a pair),
 * real LMDB environments with fsync on every commit, blocks of
 * BLOCK_TXS txs. Filling the mempool (bm_kv_mempool_add, i.e. tx ingress)
 * is timed separately. Prints the median of RUNS runs:
 *   exec_pipeline <tx/s> tx/s          (wall clock)
 *   exec_pipeline_cpu <n> tx/cpu-s     (per CPU-second of the process,
 *                                       fsync waits excluded)
 *   exec_mempool_add <tx/s> tx/s
 * Usage: exec_bench [--nosync] [--txs N]
 */
#include "bench_util.h"
#include "util/file.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockv2/executor.h"
#include "blockv2/sequencer.h"
#include "blockv2/types.h"
#include "exec/kv/kv.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#define RUNS 5
#define BLOCK_TXS 10000u
#define TX_SIZE 64

static void die(const char *what, int err, const struct bm_errmsg *em)
{
    fprintf(stderr, "exec_bench: %s: %s\n", what, bm_errmsg_str(em, err));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* One run; returns pipeline tx/s (wall clock), *cpu_rate gets pipeline
 * tx per CPU-second, *add_rate gets mempool-add tx/s. */
static double run(size_t total, bool no_sync, uint64_t salt,
                  double *cpu_rate, double *add_rate)
{
    char tmpl[] = "/tmp/bm-exec-bench-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char kvdir[128];
    char seqdir[128];
    struct bm_kv_options ko = {.no_sync = no_sync,
                               .mempool_max_txs = 2 * BLOCK_TXS};
    struct bm_seq_options so = {.no_sync = no_sync};
    struct bm_errmsg em = {{0}};
    struct bm_kv *kv = NULL;
    struct bm_seq *seq = NULL;
    struct bm_executor ex;
    struct bm_buf root = {0};
    struct bm_batch got = {0};
    struct bm_seq_batch b = {0};
    struct bm_exec_result r = {0};
    const uint8_t *id = (const uint8_t *)"bench-chain";
    double t_pipe = 0;
    double t_add = 0;
    double c_pipe = 0;
    size_t done = 0;
    uint64_t h = 1;
    int err;

    if (dir == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(kvdir, sizeof(kvdir), "%s/data/kv", dir);
    snprintf(seqdir, sizeof(seqdir), "%s/data/seq", dir);
    so.exec = &ex;
    err = bm_kv_open(&kv, kvdir, &ko, &em);
    if (err) {
        die("kv open", err, &em);
    }
    bm_kv_executor(kv, &ex);
    err = bm_seq_open(&seq, seqdir, "bench-chain", &so, &em);
    if (err) {
        die("seq open", err, &em);
    }
    err = bm_executor_init_chain(&ex, 1, 1, "bench-chain", &root, &em);
    if (err) {
        die("init_chain", err, &em);
    }
    while (done < total) {
        size_t n = total - done < BLOCK_TXS ? total - done : BLOCK_TXS;
        double t0 = now_s();

        for (size_t i = 0; i < n; i++) {
            char tx[TX_SIZE + 1];

            /* 3 + 16 key chars, '=', 44 value chars: 64 bytes. */
            snprintf(tx, sizeof(tx), "key%016llx=%044llu",
                     (unsigned long long)(salt ^ (done + i)),
                     (unsigned long long)(done + i));
            err = bm_kv_mempool_add(kv, (const uint8_t *)tx, TX_SIZE, NULL,
                                    &em);
            if (err) {
                die("mempool add", err, &em);
            }
        }
        double t1 = now_s();
        double c1 = cpu_s();

        err = bm_executor_get_txs(&ex, &got, &em);
        if (!err) {
            err = bm_seq_submit(seq, id, 11, got.txs, got.n_txs, NULL, &em);
        }
        if (!err) {
            err = bm_seq_get_next_batch(seq, id, 11,
                                        (uint64_t)BLOCK_TXS *
                                            bm_data_tx_wire_size(TX_SIZE),
                                        &b,
                                        &em);
        }
        if (!err) {
            err = bm_executor_execute_txs(&ex, b.batch.txs, b.batch.n_txs, h,
                                          b.timestamp_ns, root.ptr, root.len,
                                          &r, &em);
        }
        if (!err) {
            err = bm_buf_copy(&root, &r.state_root);
        }
        if (!err) {
            err = bm_seq_ack(seq, &em);
        }
        if (err) {
            die("pipeline", err, &em);
        }
        if (b.batch.n_txs != n) {
            fprintf(stderr, "exec_bench: batch has %zu txs, want %zu\n",
                    b.batch.n_txs, n);
            exit(1);
        }
        double t2 = now_s();

        c_pipe += cpu_s() - c1;

        t_add += t1 - t0;
        t_pipe += t2 - t1;
        done += n;
        h++;
    }
    bm_exec_txs_free(got.txs, got.n_txs);
    bm_seq_batch_release(&b);
    bm_exec_result_release(&r);
    bm_buf_release(&root);
    bm_seq_free(seq);
    bm_kv_free(kv);
    (void)bm_file_remove_tree(dir);
    *add_rate = (double)total / t_add;
    *cpu_rate = (double)total / c_pipe;
    return (double)total / t_pipe;
}

int main(int argc, char **argv)
{
    double pipe[RUNS];
    double add[RUNS];
    double cpu[RUNS];
    size_t total = 200000;
    bool no_sync = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nosync") == 0) {
            no_sync = true;
        } else if (strcmp(argv[i], "--txs") == 0 && i + 1 < argc) {
            total = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: exec_bench [--nosync] [--txs N]\n");
            return 2;
        }
    }
    if (total == 0) {
        total = 1;
    }
    for (int i = 0; i < RUNS; i++) {
        pipe[i] = run(total, no_sync, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1),
                      &cpu[i], &add[i]);
    }
    qsort(pipe, RUNS, sizeof(pipe[0]), cmp_double);
    qsort(add, RUNS, sizeof(add[0]), cmp_double);
    qsort(cpu, RUNS, sizeof(cpu[0]), cmp_double);
    printf("exec_pipeline %.0f tx/s\n", pipe[RUNS / 2]);
    printf("exec_pipeline_cpu %.0f tx/cpu-s\n", cpu[RUNS / 2]);
    printf("exec_mempool_add %.0f tx/s\n", add[RUNS / 2]);
    return 0;
}
