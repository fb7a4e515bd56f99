/*
 * The cost an HA candidate's Sync pays per applied group of blocks for
 * de-duplication across leaders (docs/HA.md "Transactions"): one
 * bm_seq_note_committed call with the hashes of the group's txs, on a real
 * queue (LMDB, synced as in production) in a temp dir, with the limit of
 * the same run beside it: the median 4 KiB write + fdatasync on the same
 * disk (bench_fsync_p50_us), which each durable LMDB commit pays.
 *
 * Rows: groups of 1 block x 10 txs (a follower at the tip: one block per
 * group), 128 x 10 and 128 x 100 (catch-up: BM_SYNC_GROUP_MAX blocks per
 * group), each with an empty queue (the usual case: only the window
 * grows) and with a queue of 10,000 txs one of which is in the group (a
 * scan and a rebuild of the queue's index). The SHA-256 of the txs is
 * counted too (Sync computes it). Prints one markdown table: median
 * microseconds per call over RUNS runs of ITERS calls, microseconds per
 * tx, and this process's CPU per call. `--quick`: fewer calls.
 */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/executor.h"
#include "blockv2/sequencer.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/file.h"
#include "util/log.h"

#define RUNS 5
#define CHAIN "bench-chain"

static int iters = 40;

struct row {
    const char *what;
    size_t blocks;
    size_t txs_per_block;
    size_t queued; /* txs in the queue besides; one of them is in the group */
};

static void die(const char *what, enum bm_err err, struct bm_errmsg *em)
{
    fprintf(stderr, "seq_note_bench: %s: %s\n", what, bm_errmsg_str(em, err));
    exit(1);
}

static void fill_queue(struct bm_seq *s, size_t n, uint64_t tag)
{
    struct bm_buf *txs = bm_xcalloc(n, sizeof(*txs));
    struct bm_errmsg em = {{0}};
    size_t acc = 0;
    enum bm_err err;

    for (size_t i = 0; i < n; i++) {
        char tx[64];
        int len = snprintf(tx, sizeof(tx), "q%llu_%zu=v",
                           (unsigned long long)tag, i);

        bm_buf_set(&txs[i], (const uint8_t *)tx, (size_t)len);
    }
    err = bm_seq_submit(s, (const uint8_t *)CHAIN, strlen(CHAIN), txs, n,
                        &acc, &em);
    if (err != BM_OK) {
        die("submit", err, &em);
    }
    bm_exec_txs_free(txs, n);
}

/* Median us per call, and CPU us per call, of one row. */
static void run_row(const char *dir, const struct row *r, double *med_us,
                    double *cpu_us)
{
    size_t n = r->blocks * r->txs_per_block;
    struct bm_buf *txs = bm_xcalloc(n, sizeof(*txs));
    struct bm_hash *hs = bm_xcalloc(n, sizeof(*hs));
    double *v = bm_xcalloc((size_t)RUNS * (size_t)iters, sizeof(*v));
    double cpu = 0;
    size_t nv = 0;
    uint64_t tag = 0;

    for (int run = 0; run < RUNS; run++) {
        struct bm_seq *s = NULL;
        struct bm_errmsg em = {{0}};
        char sub[1100];
        enum bm_err err;

        snprintf(sub, sizeof(sub), "%s/q%d", dir, run);
        err = bm_seq_open(&s, sub, CHAIN, NULL, &em);
        if (err != BM_OK) {
            die("open", err, &em);
        }
        for (int it = 0; it < iters; it++) {
            double c0, c1;
            uint64_t t0, t1;

            tag++;
            if (r->queued > 0) {
                fill_queue(s, r->queued, tag);
            }
            for (size_t i = 0; i < n; i++) {
                char tx[64];
                int len = i == 0 && r->queued > 0
                              ? snprintf(tx, sizeof(tx), "q%llu_0=v",
                                         (unsigned long long)tag)
                              : snprintf(tx, sizeof(tx), "b%llu_%zu=v",
                                         (unsigned long long)tag, i);

                bm_buf_release(&txs[i]);
                bm_buf_set(&txs[i], (const uint8_t *)tx, (size_t)len);
            }
            c0 = cpu_s();
            t0 = bench_now_ns();
            for (size_t i = 0; i < n; i++) {
                bm_exec_tx_hash(txs[i].ptr, txs[i].len, &hs[i]);
            }
            err = bm_seq_note_committed(s, hs, n, NULL, &em);
            t1 = bench_now_ns();
            c1 = cpu_s();
            if (err != BM_OK) {
                die("note_committed", err, &em);
            }
            v[nv++] = (double)(t1 - t0) / 1e3;
            cpu += (c1 - c0) * 1e6;
            if (r->queued > 0) {
                /* empty the queue again for the next call */
                struct bm_seq_batch b = {0};

                while (1) {
                    size_t q = 0;

                    bm_seq_queue_size(s, &q, NULL);
                    if (q == 0) {
                        break;
                    }
                    err = bm_seq_get_next_batch(s, (const uint8_t *)CHAIN,
                                                strlen(CHAIN), 0, &b, &em);
                    if (err == BM_OK) {
                        err = bm_seq_ack(s, &em);
                    }
                    if (err != BM_OK) {
                        die("drain", err, &em);
                    }
                }
                bm_seq_batch_release(&b);
            }
        }
        bm_seq_free(s);
    }
    qsort(v, nv, sizeof(*v), bench_cmp_double);
    *med_us = v[nv / 2];
    *cpu_us = cpu / (double)nv;
    bm_exec_txs_free(txs, n);
    bm_free(hs);
    bm_free(v);
}

int main(int argc, char **argv)
{
    static const struct row rows[] = {
        {"1 block x 10 txs, queue empty", 1, 10, 0},
        {"128 blocks x 10 txs, queue empty", 128, 10, 0},
        {"128 blocks x 100 txs, queue empty", 128, 100, 0},
        {"128 blocks x 10 txs, 10,000 queued, 1 in the group", 128, 10, 10000},
    };
    const char *tmp = getenv("TMPDIR");
    char base[1024];
    double fsync_us;

    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        iters = 10;
    }
    bm_log_set_level(BM_LOG_WARN);
    snprintf(base, sizeof(base), "%s/bm-seq-note-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    fsync_us = bench_fsync_p50_us(base, 101);
    printf("| group | calls | median us per call | us per tx | CPU us per "
           "call | limit: 4 KiB write + fdatasync, us |\n");
    printf("|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double med, cpu;
        size_t n = rows[i].blocks * rows[i].txs_per_block;

        run_row(base, &rows[i], &med, &cpu);
        printf("| %s | %d | %.0f | %.2f | %.0f | %.0f |\n", rows[i].what,
               RUNS * iters, med, med / (double)n, cpu, fsync_us);
    }
    bm_file_remove_tree(base);
    return 0;
}
