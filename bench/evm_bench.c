/*
 * evm_bench: blockv2's own time per EVM block, against a real execution
 * client (bench/evm_bench.sh starts one: ethereumjs with the test preload,
 * tests/evm/el.sh). An aggregator (real store with fsync, sequencer, the
 * block manager, the EVM executor) makes blocks through
 * bm_manager_produce_block; for each block:
 *   total    = wall time of the produce call (batch, header, signature,
 *              validation, ExecuteTxs over the Engine API, store commit,
 *              sequencer ack);
 *   el       = the time the executor spent waiting for the client's
 *              answers inside ExecuteTxs (bm_evm_stats exec_el_ns), in the
 *              same call;
 *   overhead = total - el: blockv2's part.
 * Two kinds of blocks: empty, and with TXS signed ETH transfers (sent to
 * the client's pool by `TX_CMD send`, pulled by the reaper into the
 * sequencer before the block is made). ethereumjs needs each block in a
 * new second, so blocks are made one per second; the client's time does
 * not count in the overhead either way.
 *
 * Prints `name value unit` lines (medians over the blocks of the run):
 *   evm_<kind>_total_us, evm_<kind>_el_us, evm_<kind>_overhead_us,
 *   evm_<kind>_executor_us (the executor's own part of the overhead:
 *   request building and response decoding), evm_<kind>_cpu_us (CPU
 *   time of every thread but the reaper's during the produce call, less
 *   the other threads' CPU while ExecuteTxs waited for the client (the
 *   rig's idle work over seconds): the block path's CPU, which load
 *   barely changes;
 *   evm_<kind>_rawcpu_us without that subtraction), evm_<kind>_reaper_cpu_us
 *   (the reaper's CPU meanwhile: it re-reads the client's pool every
 *   scrape interval while the client builds), evm_<kind>_runq_us (time the
 *   process's threads spent waiting for a CPU: the load's share),
 *   evm_<kind>_txs (txs per block, to show the blocks were full); and
 *   evm_fsync_us, the disk's flush latency in the same run (a block is
 *   made durable with three commits: pending block, block, sequencer
 *   ack).
 * And where the wall part goes, from readings at the produce call's start,
 * ExecuteTxs's entry and exit, and the call's return: evm_<kind>_pre_us
 * (to ExecuteTxs: batch, header, pending block, signature, validation),
 * evm_<kind>_post_us (after it: the block's commit, the reply; the
 * sequencer's ack too for an empty block, after the reply for a block with
 * txs, whose CPU the block's CPU figure includes: it is read once the
 * queue has dropped the block's txs), each with _cpu_us (the block path's
 * CPU) and _runq_us (the rig's threads' wait for a CPU); what is left of
 * the two is time blocked (disk flushes, locks: evm_<kind>_blocked_us);
 * evm_<kind>_ours_el_cpu_us (the client's CPU during pre and post:
 * --el-pid), evm_<kind>_ours_reaper_us and
 * evm_<kind>_ours_pool_reads (the reaper's CPU and its txpoolExt_getTxs
 * answered in them). The per-block lines on stderr name the threads.
 * Usage: evm_bench --engine URL --eth URL --jwt FILE --genesis-hash 0x..
 *        [--empty N] [--full N] [--txs N] [--tx-cmd CMD] [--el-pid PID]
 */
#include "bench_util.h"
#include "util/file.h"

#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <stdatomic.h>
#include <time.h>

#include "blockv2/actor.h"
#include "blockv2/genesis.h"
#include "blockv2/keys.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/validate.h"
#include "exec/evm/evm.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

struct opts {
    const char *engine, *eth, *jwt, *genesis_hash, *tx_cmd;
    unsigned empty, full, txs;
    long el_pid; /* the client's process, 0: unknown */
};

static void die(const char *what, int err, const struct bm_errmsg *em)
{
    fprintf(stderr, "evm_bench: %s: %s (%s)\n", what,
            bm_errmsg_str(em, err), bm_err_name(err));
    exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static uint64_t median(uint64_t *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of 50 x (4 KiB pwrite + fdatasync) in dir: the disk's flush
 * latency in the same run (every block commits with flushes). */
static uint64_t fsync_us(const char *dir)
{
    char path[128];
    uint8_t page[4096] = {0};
    uint64_t v[50];
    int fd;

    snprintf(path, sizeof(path), "%s/fsync-probe", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return 0;
    }
    for (unsigned i = 0; i < 50; i++) {
        uint64_t t0 = bench_now_ns();

        if (pwrite(fd, page, sizeof(page), (off_t)(i * sizeof(page))) < 0 ||
            fdatasync(fd) != 0) {
            close(fd);
            return 0;
        }
        v[i] = (bench_now_ns() - t0) / 1000u;
    }
    close(fd);
    unlink(path);
    return median(v, 50);
}

/* CPU time of the process's threads so far (/proc/self/task/TID/schedstat:
 * ns on a CPU, ns waiting for one), split into the reaper's thread
 * ("bm:reaper": it re-reads the client's pool every scrape interval while
 * the client builds, so its CPU depends on how long the client takes) and
 * every other thread (the block path). The schedstat files are opened once
 * (threads_open, after the rig started: the rig's threads live for the
 * whole run; later ones are not seen) and read with pread: a walk of
 * /proc/self/task per reading cost ~0.1-0.3 ms of CPU, and two of the
 * four readings per block run on the block path (inside ExecuteTxs), so
 * the figure measured its own measuring. */
#define MAX_THREADS 64

struct tcpu {
    uint64_t path_ns, reaper_ns, runq_ns;
};

static int thr_fd[MAX_THREADS];
static bool thr_reaper[MAX_THREADS];
static char thr_name[MAX_THREADS][20];
static unsigned n_thr;

/* The execution client's threads (--el-pid: its schedstat files, opened
 * once like ours), to see whether it runs during blockv2's part. */
static int el_fd[MAX_THREADS];
static unsigned n_el;

/* Opens the schedstat file of every thread of task dir `dir` into fds
 * (at most MAX_THREADS), names into names when not NULL. Returns the
 * count. */
static unsigned open_tasks(const char *dir, int *fds, bool *reaper,
                           char (*names)[20])
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned n = 0;

    while (d != NULL && n < MAX_THREADS && (e = readdir(d)) != NULL) {
        char path[300], comm[32] = "";
        FILE *f;
        int fd;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
        f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(comm, sizeof(comm), f) == NULL) {
                comm[0] = '\0';
            }
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = '\0';
        snprintf(path, sizeof(path), "%s/%s/schedstat", dir, e->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        if (reaper != NULL) {
            reaper[n] = strncmp(comm, "bm:reaper", 9) == 0;
        }
        if (names != NULL) {
            snprintf(names[n], sizeof(names[n]), "%s", comm);
        }
        fds[n++] = fd;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static bool threads_open(void)
{
    bool reaper = false;

    n_thr = open_tasks("/proc/self/task", thr_fd, thr_reaper, thr_name);
    for (unsigned i = 0; i < n_thr; i++) {
        reaper = reaper || thr_reaper[i];
    }
    return reaper;
}

static void el_open(long pid)
{
    char dir[64];

    snprintf(dir, sizeof(dir), "/proc/%ld/task", pid);
    n_el = open_tasks(dir, el_fd, NULL, NULL);
}

static void threads_close(void)
{
    for (unsigned i = 0; i < n_thr; i++) {
        close(thr_fd[i]);
    }
    for (unsigned i = 0; i < n_el; i++) {
        close(el_fd[i]);
    }
    n_thr = n_el = 0;
}

/* ns on a CPU and ns waiting for one of a schedstat file; false if the
 * thread ended. */
static bool read_schedstat(int fd, uint64_t *run, uint64_t *wait)
{
    char line[96];
    unsigned long long r = 0, w = 0;
    ssize_t k = pread(fd, line, sizeof(line) - 1, 0);

    if (k <= 0) {
        return false;
    }
    line[k] = '\0';
    if (sscanf(line, "%llu %llu", &r, &w) != 2) {
        return false;
    }
    *run = r;
    *wait = w;
    return true;
}

/* One reading at a phase boundary: the time, every thread of ours, the
 * client's threads summed. */
struct snap {
    uint64_t t_ns;
    uint64_t run[MAX_THREADS], wait[MAX_THREADS];
    uint64_t el_run, el_wait;
};

static void snap_take(struct snap *s)
{
    s->t_ns = bench_now_ns();
    for (unsigned i = 0; i < n_thr; i++) {
        s->run[i] = s->wait[i] = 0;
        (void)read_schedstat(thr_fd[i], &s->run[i], &s->wait[i]);
    }
    s->el_run = s->el_wait = 0;
    for (unsigned i = 0; i < n_el; i++) {
        uint64_t r = 0, w = 0;

        if (read_schedstat(el_fd[i], &r, &w)) {
            s->el_run += r;
            s->el_wait += w;
        }
    }
}

static void snap_cpu(const struct snap *s, struct tcpu *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < n_thr; i++) {
        if (thr_reaper[i]) {
            out->reaper_ns += s->run[i];
        } else {
            out->path_ns += s->run[i];
        }
        out->runq_ns += s->wait[i];
    }
}

/* A phase between two readings a..b: wall, the block path's CPU (every
 * thread but the reaper's), its threads' wait for a CPU, the reaper's CPU,
 * the client's CPU and wait. */
struct phase {
    uint64_t wall, cpu, runq, reaper, el_cpu, el_runq;
};

static void phase_of(const struct snap *a, const struct snap *b,
                     struct phase *p)
{
    memset(p, 0, sizeof(*p));
    p->wall = b->t_ns - a->t_ns;
    for (unsigned i = 0; i < n_thr; i++) {
        uint64_t r = b->run[i] - a->run[i], w = b->wait[i] - a->wait[i];

        if (thr_reaper[i]) {
            p->reaper += r;
        } else {
            p->cpu += r;
        }
        p->runq += w;
    }
    p->el_cpu = b->el_run - a->el_run;
    p->el_runq = b->el_wait - a->el_wait;
}

/* "name cpu/wait" (us) of the threads that ran or waited >= 50 us in
 * a..b, into out. */
static void phase_threads(const struct snap *a, const struct snap *b,
                          char *out, size_t cap)
{
    size_t k = 0;

    out[0] = '\0';
    for (unsigned i = 0; i < n_thr && k + 1 < cap; i++) {
        uint64_t r = (b->run[i] - a->run[i]) / 1000u;
        uint64_t w = (b->wait[i] - a->wait[i]) / 1000u;
        int m;

        if (r < 50 && w < 50) {
            continue;
        }
        m = snprintf(out + k, cap - k, "%s%s %llu/%llu", k ? ", " : "",
                     thr_name[i], (unsigned long long)r,
                     (unsigned long long)w);
        if (m < 0 || (size_t)m >= cap - k) {
            break;
        }
        k += (size_t)m;
    }
}

/* The rig's executor is the EVM executor behind a timing wrapper: the
 * CPU of every thread (but the reaper's) while ExecuteTxs waits for the
 * client is the rig's idle work (timers, ticks) over as long as the
 * client takes (seconds for 100 transfers), not the block's; the calling
 * thread's own CPU in it is the executor's work, which is. */
static struct bm_executor inner;
static _Atomic uint64_t exec_all_ns, exec_self_ns;
/* The readings at the entry and exit of the last ExecuteTxs (the phase
 * boundaries inside a produce call), under exec_mu. */
static pthread_mutex_t exec_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snap exec_in, exec_out;
static uint64_t exec_in_eth, exec_out_eth; /* eth calls so far */

static uint64_t self_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum bm_err timed_execute_txs(void *ctx, const struct bm_buf *txs,
                                     size_t n_txs, uint64_t height,
                                     uint64_t time_ns,
                                     const uint8_t *prev_root,
                                     size_t prev_root_len,
                                     struct bm_exec_result *out,
                                     struct bm_errmsg *em)
{
    static struct snap sa, sb; /* one ExecuteTxs at a time */
    struct tcpu a, b;
    uint64_t s0, s1;
    enum bm_err err;

    struct bm_evm_stats ea, eb;

    bm_evm_stats(ctx, &ea);
    snap_take(&sa);
    s0 = self_cpu_ns();
    err = inner.ops->execute_txs(inner.ctx, txs, n_txs, height, time_ns,
                                 prev_root, prev_root_len, out, em);
    s1 = self_cpu_ns();
    snap_take(&sb);
    bm_evm_stats(ctx, &eb);
    snap_cpu(&sa, &a);
    snap_cpu(&sb, &b);
    pthread_mutex_lock(&exec_mu);
    exec_in = sa;
    exec_out = sb;
    exec_in_eth = ea.eth_calls;
    exec_out_eth = eb.eth_calls;
    pthread_mutex_unlock(&exec_mu);
    atomic_fetch_add(&exec_all_ns, b.path_ns - a.path_ns);
    atomic_fetch_add(&exec_self_ns, s1 - s0);
    return err;
}

static struct bm_executor_ops timed_ops;

static void timed_executor(struct bm_evm *evm, struct bm_executor *out)
{
    bm_evm_executor(evm, &inner);
    timed_ops = *inner.ops;
    timed_ops.execute_txs = timed_execute_txs;
    out->ops = &timed_ops;
    out->ctx = inner.ctx;
}

/* Sleeps until 20 ms past the next whole second of the wall clock. */
static void next_second(void)
{
    uint64_t ns = bm_clock_wall_ns() % 1000000000u;

    bm_sleep_us((1000000000u - ns) / 1000u + 20000u);
}

struct rig {
    char dir[64];
    struct bm_genesis gen;
    struct bm_privkey key;
    struct bm_store *store;
    struct bm_evm *evm;
    struct bm_executor exec;
    struct bm_seq *seq;
    struct bm_manager_config cfg;
    struct bm_manager *m;
};

static void rig_open(struct rig *r, const struct opts *o)
{
    struct bm_errmsg em = {{0}};
    struct bm_evm_config ec;
    struct bm_seq_options so = {0};
    struct bm_manager_params p;
    uint8_t seed[32], pub[32];
    struct bm_hash addr;
    char sub[128];
    int err;

    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/bm-evm-bench-XXXXXX");
    if (mkdtemp(r->dir) == NULL || bm_crypto_init() != BM_OK) {
        die("setup", BM_EIO, NULL);
    }
    randombytes_buf(seed, sizeof(seed));
    bm_privkey_from_seed(&r->key, seed);
    bm_privkey_public(&r->key, pub);
    bm_address_from_pubkey(pub, &addr);
    if (bm_str_set(&r->gen.chain_id, "evm-bench") != BM_OK ||
        bm_buf_set(&r->gen.proposer_address, addr.b, 32) != BM_OK) {
        die("genesis", BM_ENOMEM, NULL);
    }
    r->gen.start_time_ns = bm_validate_now_ns() - 2000000000ull;
    r->gen.initial_height = 1;
    snprintf(sub, sizeof(sub), "%s/data", r->dir);
    mkdir(sub, 0700);
    err = bm_store_open(&r->store, r->dir, NULL, &em);
    if (err != BM_OK) {
        die("store", err, &em);
    }
    memset(&ec, 0, sizeof(ec));
    ec.engine_url = o->engine;
    ec.eth_url = o->eth;
    err = bm_evm_jwt_load(o->jwt, ec.jwt_secret, &em);
    if (err == BM_OK) {
        err = bm_evm_parse_hex_key("--genesis-hash", o->genesis_hash,
                                   ec.genesis_hash, BM_EVM_HASH_LEN, &em);
    }
    ec.has_genesis_hash = true;
    if (err == BM_OK) {
        err = bm_evm_new(&r->evm, &ec, &em);
    }
    if (err != BM_OK) {
        die("evm executor", err, &em);
    }
    timed_executor(r->evm, &r->exec);
    snprintf(sub, sizeof(sub), "%s/data/seq", r->dir);
    mkdir(sub, 0700);
    so.exec = &r->exec;
    err = bm_seq_open(&r->seq, sub, r->gen.chain_id, &so, &em);
    if (err != BM_OK) {
        die("sequencer", err, &em);
    }
    bm_manager_config_init(&r->cfg);
    r->cfg.aggregator = true;
    r->cfg.block_time_ms = 3600000; /* blocks only through produce_block */
    r->cfg.scrape_interval_ms = 200;
    memset(&p, 0, sizeof(p));
    p.signer = &r->key;
    p.config = &r->cfg;
    p.genesis = &r->gen;
    p.store = r->store;
    p.exec = &r->exec;
    p.seq = r->seq;
    err = bm_manager_new(&r->m, &p, &em);
    if (err == BM_OK) {
        err = bm_manager_start(r->m, &em);
    }
    if (err != BM_OK) {
        die("manager", err, &em);
    }
}

static void rig_close(struct rig *r)
{
    struct bm_errmsg em = {{0}};
    int err = bm_manager_stop(r->m, &em);

    if (err != BM_OK) {
        die("manager stop", err, &em);
    }
    bm_manager_free(r->m);
    bm_seq_free(r->seq);
    bm_evm_free(r->evm);
    bm_store_close(r->store);
    bm_genesis_release(&r->gen);
    bm_privkey_wipe(&r->key);
    (void)bm_file_remove_tree(r->dir);
}

/* Sends n transfers to the client's pool and waits until the reaper has
 * queued them in the sequencer. */
static void fill(struct rig *r, const struct opts *o, unsigned n)
{
    char cmd[1024];
    size_t queued = 0, bytes = 0;
    uint64_t end;

    snprintf(cmd, sizeof(cmd),
             "%s send --eth %s --to 0x00000000000000000000000000000000000"
             "0beef --count %u >/dev/null",
             o->tx_cmd, o->eth, n);
    if (system(cmd) != 0) {
        fprintf(stderr, "evm_bench: '%s' failed\n", cmd);
        exit(1);
    }
    end = bench_now_ns() + 60ull * 1000000000u;
    while (queued < n) {
        if (bench_now_ns() > end) {
            fprintf(stderr, "evm_bench: only %zu of %u txs reached the "
                            "sequencer\n", queued, n);
            exit(1);
        }
        bm_sleep_ms(20);
        bm_seq_queue_size(r->seq, &queued, &bytes);
    }
}

/* Empty turns (turns that handled nothing: the runtime spinning,
 * docs/actor-runtime.md "Ending a turn") summed over the node's actors. */
static uint64_t empty_turns(struct rig *r)
{
    struct bm_actor_stats *st = NULL;
    size_t cnt = 0;
    uint64_t e = 0;

    if (bm_actor_snapshot(bm_manager_actor_system(r->m), &st, &cnt) ==
        BM_OK) {
        for (size_t i = 0; i < cnt; i++) {
            e += st[i].empty_turns;
        }
        bm_free(st);
    }
    return e;
}

/* Per-block figures of the phases of blockv2's wall part. */
enum {
    PH_PRE,
    PH_PRE_CPU,
    PH_PRE_RUNQ,
    PH_POST,
    PH_POST_CPU,
    PH_POST_RUNQ,
    PH_BLOCKED,
    PH_OURS_REAPER,
    PH_OURS_EL_CPU,
    PH_OURS_ETH,
    PH_N
};

static const char *const ph_names[PH_N] = {
    "pre_us",         "pre_cpu_us",       "pre_runq_us",
    "post_us",        "post_cpu_us",      "post_runq_us",
    "blocked_us",     "ours_reaper_us", "ours_el_cpu_us",   "ours_pool_reads",
};

/*
 * The txs of stored block h. The produce call answers once the block is
 * committed, before the sequencer's ACK (the round ends with it), so the
 * queue's size right after the call does not tell them.
 */
static uint64_t block_txs(struct rig *r, uint64_t h)
{
    struct bm_store_blockbuf b = {0};
    struct bm_data d = {0};
    uint64_t n = 0;

    if (bm_store_get_block(r->store, h, &b, NULL) == BM_OK &&
        bm_data_decode(&d, b.data.ptr, b.data.len) == BM_OK) {
        n = d.n_txs;
    }
    bm_data_release(&d);
    bm_store_blockbuf_release(&b);
    return n;
}

/* Waits (bounded) until the queue has dropped the block's n txs: the
 * ACK that ends the round is done, so its CPU counts in the block's. */
static void wait_acked(struct rig *r, size_t before, uint64_t n)
{
    uint64_t end = bm_clock_deadline_ms(60000);
    size_t q = 0, qb = 0;

    for (;;) {
        bm_seq_queue_size(r->seq, &q, &qb);
        if (q + n <= before || bm_clock_now_ns() >= end) {
            return;
        }
        bm_sleep_ms(1); /* few polls: the bench's thread's CPU counts */
    }
}

/* Makes k blocks of `txs` txs each and prints the medians as <kind>. */
static void measure(struct rig *r, const struct opts *o, const char *kind,
                    unsigned k, unsigned txs)
{
    uint64_t *tot = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *el = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *ovh = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *own = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *ntx = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *cpu = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *rcpu = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *rawcpu = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *runq = bm_xcalloc(k, sizeof(uint64_t));
    uint64_t *empty = bm_xcalloc(k, sizeof(uint64_t));
    /* blockv2's wall part by phase: before ExecuteTxs (batch, header,
     * pending block, signature, validation: "pre") and after it (the
     * block's commit, the sequencer's ack, the reply: "post") */
    uint64_t *ph[PH_N];

    for (unsigned j = 0; j < PH_N; j++) {
        ph[j] = bm_xcalloc(k, sizeof(uint64_t));
    }
    for (unsigned i = 0; i < k; i++) {
        static struct snap s0, s1, s2, x0, x1; /* the bench's thread only */
        struct phase pre, post;
        uint64_t eth_in, eth_out;
        char pre_thr[512], post_thr[512];
        struct bm_evm_stats a, b;
        struct bm_errmsg em = {{0}};
        uint64_t h = 0, before, t0, t1, txs_before;
        struct tcpu c0, c1;
        uint64_t idle, ea0, es0, e0;
        size_t q = 0, qb = 0;
        int err;

        if (txs > 0) {
            fill(r, o, txs);
        }
        bm_seq_queue_size(r->seq, &q, &qb);
        txs_before = q;
        next_second();
        bm_manager_get_store_height(r->m, &before);
        bm_evm_stats(r->evm, &a);
        e0 = empty_turns(r);
        ea0 = atomic_load(&exec_all_ns);
        es0 = atomic_load(&exec_self_ns);
        snap_take(&s0);
        t0 = s0.t_ns;
        err = bm_manager_produce_block(r->m, &h, &em);
        snap_take(&s1);
        t1 = s1.t_ns;
        ntx[i] = err == BM_OK ? block_txs(r, h) : 0;
        wait_acked(r, txs_before, ntx[i]);
        snap_take(&s2);
        snap_cpu(&s0, &c0);
        snap_cpu(&s2, &c1); /* the ACK after the answer included */
        bm_evm_stats(r->evm, &b);
        pthread_mutex_lock(&exec_mu);
        x0 = exec_in;
        x1 = exec_out;
        eth_in = exec_in_eth;
        eth_out = exec_out_eth;
        pthread_mutex_unlock(&exec_mu);
        phase_of(&s0, &x0, &pre);
        phase_of(&x1, &s1, &post);
        phase_threads(&s0, &x0, pre_thr, sizeof(pre_thr));
        phase_threads(&x1, &s1, post_thr, sizeof(post_thr));
        ph[PH_PRE][i] = pre.wall / 1000u;
        ph[PH_PRE_CPU][i] = pre.cpu / 1000u;
        ph[PH_PRE_RUNQ][i] = pre.runq / 1000u;
        ph[PH_POST][i] = post.wall / 1000u;
        ph[PH_POST_CPU][i] = post.cpu / 1000u;
        ph[PH_POST_RUNQ][i] = post.runq / 1000u;
        /* what pre and post spent neither on a CPU nor waiting for one:
         * blocked (the disk's flushes, locks); an estimate, as the path's
         * threads can overlap */
        ph[PH_BLOCKED][i] =
            pre.wall + post.wall > pre.cpu + pre.runq + post.cpu + post.runq
                ? (pre.wall + post.wall - pre.cpu - pre.runq - post.cpu -
                   post.runq) / 1000u
                : 0;
        ph[PH_OURS_REAPER][i] = (pre.reaper + post.reaper) / 1000u;
        ph[PH_OURS_EL_CPU][i] = (pre.el_cpu + post.el_cpu) / 1000u;
        ph[PH_OURS_ETH][i] = (eth_in - a.eth_calls) +
                             (b.eth_calls - eth_out);
        empty[i] = empty_turns(r) - e0;
        if (err != BM_OK || h != before + 1) {
            die("produce_block", err != BM_OK ? err : BM_ESTATE, &em);
        }
        tot[i] = (t1 - t0) / 1000u;
        el[i] = (b.exec_el_ns - a.exec_el_ns) / 1000u;
        ovh[i] = tot[i] > el[i] ? tot[i] - el[i] : 0;
        own[i] = ((b.exec_ns - a.exec_ns) - (b.exec_el_ns - a.exec_el_ns)) /
                 1000u;
        /* the other threads' CPU while ExecuteTxs waited for the client
         * is the rig's idle work (the calling thread's is the block's) */
        idle = (atomic_load(&exec_all_ns) - ea0) -
               (atomic_load(&exec_self_ns) - es0);
        rawcpu[i] = (c1.path_ns - c0.path_ns) / 1000u;
        cpu[i] = c1.path_ns - c0.path_ns > idle
                     ? (c1.path_ns - c0.path_ns - idle) / 1000u
                     : 0;
        rcpu[i] = (c1.reaper_ns - c0.reaper_ns) / 1000u;
        runq[i] = (c1.runq_ns - c0.runq_ns) / 1000u;
        fprintf(stderr, "evm_bench: %s block %llu: total %llu us, EL %llu "
                        "us, blockv2 %llu us (executor %llu us, CPU %llu "
                        "us = %llu us less %llu us idle; reaper CPU %llu us, "
                        "waiting for a CPU %llu us; engine calls %llu, eth "
                        "calls %llu), %llu txs, %llu empty turns\n",
                kind, (unsigned long long)h, (unsigned long long)tot[i],
                (unsigned long long)el[i], (unsigned long long)ovh[i],
                (unsigned long long)own[i], (unsigned long long)cpu[i],
                (unsigned long long)rawcpu[i],
                (unsigned long long)(idle / 1000u),
                (unsigned long long)rcpu[i], (unsigned long long)runq[i],
                (unsigned long long)(b.engine_calls - a.engine_calls),
                (unsigned long long)(b.eth_calls - a.eth_calls),
                (unsigned long long)ntx[i], (unsigned long long)empty[i]);
        fprintf(stderr, "evm_bench: %s block %llu phases: pre %llu us (CPU "
                        "%llu, waiting %llu; client CPU %llu; reaper CPU "
                        "%llu; threads cpu/wait us: %s), executor %llu us, "
                        "post %llu us (CPU %llu, waiting %llu; client CPU "
                        "%llu; reaper CPU %llu; threads: %s), pool reads "
                        "answered in them %llu\n",
                kind, (unsigned long long)h,
                (unsigned long long)(pre.wall / 1000u),
                (unsigned long long)(pre.cpu / 1000u),
                (unsigned long long)(pre.runq / 1000u),
                (unsigned long long)(pre.el_cpu / 1000u),
                (unsigned long long)(pre.reaper / 1000u), pre_thr,
                (unsigned long long)own[i],
                (unsigned long long)(post.wall / 1000u),
                (unsigned long long)(post.cpu / 1000u),
                (unsigned long long)(post.runq / 1000u),
                (unsigned long long)(post.el_cpu / 1000u),
                (unsigned long long)(post.reaper / 1000u), post_thr,
                (unsigned long long)ph[PH_OURS_ETH][i]);
    }
    for (unsigned j = 0; j < PH_N; j++) {
        printf("evm_%s_%s %llu %s\n", kind, ph_names[j],
               (unsigned long long)median(ph[j], k),
               j == PH_OURS_ETH ? "calls" : "us");
        bm_free(ph[j]);
    }
    printf("evm_%s_total_us %llu us\n", kind,
           (unsigned long long)median(tot, k));
    printf("evm_%s_el_us %llu us\n", kind, (unsigned long long)median(el, k));
    printf("evm_%s_overhead_us %llu us\n", kind,
           (unsigned long long)median(ovh, k));
    printf("evm_%s_executor_us %llu us\n", kind,
           (unsigned long long)median(own, k));
    printf("evm_%s_txs %llu txs\n", kind, (unsigned long long)median(ntx, k));
    printf("evm_%s_cpu_us %llu us\n", kind,
           (unsigned long long)median(cpu, k));
    printf("evm_%s_rawcpu_us %llu us\n", kind,
           (unsigned long long)median(rawcpu, k));
    printf("evm_%s_reaper_cpu_us %llu us\n", kind,
           (unsigned long long)median(rcpu, k));
    printf("evm_%s_runq_us %llu us\n", kind,
           (unsigned long long)median(runq, k));
    printf("evm_%s_empty_turns %llu turns\n", kind,
           (unsigned long long)median(empty, k));
    fflush(stdout);
    bm_free(empty);
    bm_free(tot);
    bm_free(el);
    bm_free(ovh);
    bm_free(own);
    bm_free(ntx);
    bm_free(cpu);
    bm_free(rcpu);
    bm_free(rawcpu);
    bm_free(runq);
}

int main(int argc, char **argv)
{
    struct opts o = {NULL, NULL, NULL, NULL, "node tests/evm/tx.mjs", 20, 8,
                     100, 0};
    struct rig r;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (strcmp(k, "--engine") == 0) {
            o.engine = v;
        } else if (strcmp(k, "--eth") == 0) {
            o.eth = v;
        } else if (strcmp(k, "--jwt") == 0) {
            o.jwt = v;
        } else if (strcmp(k, "--genesis-hash") == 0) {
            o.genesis_hash = v;
        } else if (strcmp(k, "--tx-cmd") == 0) {
            o.tx_cmd = v;
        } else if (strcmp(k, "--empty") == 0) {
            o.empty = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(k, "--full") == 0) {
            o.full = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(k, "--el-pid") == 0) {
            o.el_pid = strtol(v, NULL, 10);
        } else if (strcmp(k, "--txs") == 0) {
            o.txs = (unsigned)strtoul(v, NULL, 10);
        } else {
            fprintf(stderr, "evm_bench: unknown option %s\n", k);
            return 2;
        }
    }
    if (o.engine == NULL || o.eth == NULL || o.jwt == NULL ||
        o.genesis_hash == NULL) {
        fprintf(stderr, "usage: evm_bench --engine URL --eth URL --jwt FILE "
                        "--genesis-hash 0x.. [--empty N] [--full N] "
                        "[--txs N] [--tx-cmd CMD] [--el-pid PID]\n");
        return 2;
    }
    bm_log_set_level(BM_LOG_WARN);
    rig_open(&r, &o);
    /* the rig's threads name themselves as they start */
    for (int i = 0; !threads_open() && i < 100; i++) {
        threads_close();
        bm_sleep_ms(20);
    }
    if (o.el_pid > 0) {
        el_open(o.el_pid);
    }
    printf("evm_fsync_us %llu us\n", (unsigned long long)fsync_us(r.dir));
    measure(&r, &o, "empty", o.empty, 0);
    if (o.full > 0) {
        char kind[32];

        snprintf(kind, sizeof(kind), "%utx", o.txs);
        measure(&r, &o, kind, o.full, o.txs);
    }
    {
        struct bm_evm_stats st;

        /* what the executor did over the run: connections opened (one
         * per port while they stay alive) and how getPayload answers
         * were read */
        bm_evm_stats(r.evm, &st);
        fprintf(stderr, "evm_bench: run: engine calls %llu, connections "
                        "opened %llu; eth calls %llu, connections opened "
                        "%llu; getPayload answers scanned %llu, by json-c "
                        "%llu\n",
                (unsigned long long)st.engine_calls,
                (unsigned long long)st.engine_connects,
                (unsigned long long)st.eth_calls,
                (unsigned long long)st.eth_connects,
                (unsigned long long)st.payloads_scanned,
                (unsigned long long)st.payloads_json_c);
    }
    threads_close();
    rig_close(&r);
    return 0;
}
