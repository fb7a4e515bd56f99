/*
 * DA catch-up benchmark (issue 15, item 2): a fresh full node catches up
 * a chain from the local DA server, in one process with real parts (the
 * block store and the KV executor in LMDB with their default durability,
 * the DA client over HTTP on 127.0.0.1). bench/catchup_bench.sh runs it
 * and prints the table.
 *
 *  1. The DA server runs in a child process (forked first: its CPU is not
 *     the node's).
 *  2. A chain of `blocks` blocks is made by a real aggregator (a Manager
 *     with the KV executor, the sequencer and DA; blocks made one by one
 *     with bm_manager_produce_block; every `tx_every`-th block carries
 *     `txs` txs of ~40 bytes, the others are empty) and posted to the DA
 *     server by its DASubmitter (da.block_time `da_block_ms`: a DA height
 *     holds what was made in that time). Not timed.
 *  3. The limit, measured in this run: one Ed25519 verification of a
 *     header-sized message (µs, one thread; and verifications per second
 *     on `threads` threads at once), and the latency of a 4 KiB write +
 *     fdatasync in each directory.
 *  4. `runs` times, alternating the directories: a full node with a
 *     fresh home in the directory (tmpfs, then disk) is started and timed
 *     until its store height is the chain's; Ed25519 verifications (and
 *     among them repeats: a signature, key and message checked again,
 *     bench/verifycount.c) and durable flushes are counted over that
 *     window (bench/syscount.c),
 *     with the process's CPU time (less the bench's own polling thread)
 *     and context switches.
 *
 * Output: `name value unit` lines (per run, and the chain's facts).
 *   build/bench/catchup_bench [--blocks 10000] [--tx-every 10] [--txs 10]
 *       [--da-block-ms 100] [--runs 3] [--threads 2]
 *       [--tmpfs /dev/shm] [--disk /var/tmp] [--keep]
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <sodium.h>

#include "blockv2/da.h"
#include "util/file.h"
#include "blockv2/genesis.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "blockv2/types.h"
#include "blockv2/validate.h"
#include "exec/kv/kv.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"
#include "util/txset.h"

#include "bench_node.h"
#include "bench_util.h"
#include "syscount.h"
#include "verifycount.h"

#define CHAIN "catchup-bench"
#define NS_HEADERS "cb-headers"
#define NS_DATA "cb-data"

struct opts {
    uint64_t blocks;
    unsigned tx_every;
    unsigned txs;
    unsigned da_block_ms;
    unsigned runs;
    unsigned threads;
    const char *tmpfs;
    const char *disk;
    bool keep;
};

static struct bm_privkey g_key;
static struct bm_genesis g_gen;
/* perf's control FIFO (env CATCHUP_PERF_CTL, `perf record -D -1
 * --control fifo:PATH`): only the catch-up windows are recorded. */
static int g_perf_ctl = -1;

static void perf_ctl(const char *cmd)
{
    if (g_perf_ctl >= 0 &&
        write(g_perf_ctl, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
        g_perf_ctl = -1;
    }
}

static void die(const char *what, int err, const struct bm_errmsg *em)
{
    fprintf(stderr, "catchup_bench: %s: %s%s%s\n", what, bm_err_name(err),
            em != NULL ? ": " : "", em != NULL ? bm_errmsg_str(em, err) : "");
    exit(1);
}

static void genesis_init(void)
{
    uint8_t pub[32];
    struct bm_hash addr;

    bm_privkey_generate(&g_key);
    bm_privkey_public(&g_key, pub);
    bm_address_from_pubkey(pub, &addr);
    if (bm_str_set(&g_gen.chain_id, CHAIN) != BM_OK ||
        bm_buf_set(&g_gen.proposer_address, addr.b, 32) != BM_OK) {
        die("genesis", BM_ENOMEM, NULL);
    }
    g_gen.start_time_ns = bm_validate_now_ns() - 60ull * 1000000000ull;
    g_gen.initial_height = 1;
    g_gen.da_epoch_forced_inclusion = 50;
}

/* ------------------------------------------------------------ DA child */

/* Forks the DA server (home under dir). Returns its pid; *port set. The
 * child serves until the pipe *keep closes. */
static pid_t da_fork(const char *dir, uint16_t *port, int *keep)
{
    int up[2], hold[2];
    pid_t pid;

    if (pipe(up) != 0 || pipe(hold) != 0) {
        die("pipe", BM_ESYS, NULL);
    }
    pid = fork();
    if (pid < 0) {
        die("fork", BM_ESYS, NULL);
    }
    if (pid == 0) {
        struct bm_da_server_config c = {0};
        struct bm_da_server *s = NULL;
        struct bm_errmsg em = {{0}};
        uint16_t p;
        char b;
        int err;

        close(up[0]);
        close(hold[1]);
        c.home = dir;
        err = bm_da_server_start(&s, &c, &em);
        if (err != BM_OK) {
            die("da server", err, &em);
        }
        p = bm_da_server_port(s);
        if (write(up[1], &p, sizeof(p)) != (ssize_t)sizeof(p)) {
            _exit(1);
        }
        while (read(hold[0], &b, 1) > 0) {
        }
        bm_da_server_stop(s);
        _exit(0);
    }
    close(up[1]);
    close(hold[0]);
    if (read(up[0], port, sizeof(*port)) != (ssize_t)sizeof(*port)) {
        die("da server did not start", BM_ESYS, NULL);
    }
    close(up[0]);
    *keep = hold[1];
    return pid;
}

/* ------------------------------------------------------------ nodes */

static void node_open(struct bench_node *n, const char *home, bool agg,
                      const char *url, unsigned da_block_ms)
{
    struct bm_kv_options kvo = {0};
    struct bm_seq_options so = {.no_sync = true};
    struct bm_da_client_config cc = {.url = url, .timeout_ms = 30000};

    /* The aggregator only builds the chain: no fsync there. The full node
     * keeps the defaults (every commit durable). */
    kvo.no_sync = agg;
    bench_node_open(n, home, &kvo, agg ? &so : NULL, &cc, CHAIN);
    n->cfg.aggregator = agg;
    n->cfg.da_namespace = NS_HEADERS;
    n->cfg.da_data_namespace = NS_DATA;
    if (agg) {
        n->cfg.lazy_mode = true;
        n->cfg.block_time_ms = 3600 * 1000;
        n->cfg.lazy_block_interval_ms = 3600 * 1000;
        n->cfg.da_block_time_ms = da_block_ms;
    }
    bench_node_manager(n, agg ? &g_key : NULL, &g_gen);
}

static uint64_t height_of(struct bench_node *n)
{
    uint64_t h = 0;

    (void)bm_manager_get_store_height(n->m, &h);
    return h;
}

/* The height the State actor published after its last commit: an atomic
 * load, where height_of opens an LMDB read transaction. */
static uint64_t published_height(struct bench_node *n)
{
    struct bm_manager_metrics mm;

    bm_manager_metrics(n->m, &mm);
    return mm.height;
}

/* ------------------------------------------------------------ chain */

struct chain_facts {
    uint64_t blocks;
    uint64_t with_txs;
    uint64_t da_heights;
    double seconds;
};

static void submit_txs(struct bench_node *n, uint64_t h, unsigned k)
{
    struct bm_buf txs[64];
    char tx[64][64];
    struct bm_errmsg em = {{0}};
    size_t acc = 0;
    int err;

    if (k > 64) {
        k = 64;
    }
    for (unsigned i = 0; i < k; i++) {
        int len = snprintf(tx[i], sizeof(tx[i]),
                           "bench-key-%" PRIu64 "-%u=value-%08" PRIu64, h, i,
                           h * 64 + i);

        txs[i].ptr = (uint8_t *)tx[i];
        txs[i].len = (size_t)len;
    }
    err = bm_seq_submit(n->seq, (const uint8_t *)CHAIN, strlen(CHAIN), txs, k,
                        &acc, &em);
    if (err != BM_OK || acc != k) {
        die("seq submit", err, &em);
    }
}

static void build_chain(const struct opts *o, const char *base,
                        const char *url, uint16_t da_port,
                        struct chain_facts *f)
{
    struct bench_node a;
    char home[512];
    double t0 = now_s();
    uint64_t end;

    (void)da_port;
    bench_node_dir(base, "agg", home, sizeof(home));
    node_open(&a, home, true, url, o->da_block_ms);
    bench_node_start(&a);
    memset(f, 0, sizeof(*f));
    for (uint64_t h = 1; h <= o->blocks; h++) {
        struct bm_errmsg em = {{0}};
        uint64_t got = 0;
        int err;

        if (o->tx_every != 0 && o->txs != 0 && h % o->tx_every == 0) {
            submit_txs(&a, h, o->txs);
            f->with_txs++;
        }
        err = bm_manager_produce_block(a.m, &got, &em);
        if (err != BM_OK) {
            die("produce", err, &em);
        }
        if (got != h) {
            fprintf(stderr, "catchup_bench: produced height %" PRIu64
                    ", want %" PRIu64 "\n", got, h);
            exit(1);
        }
    }
    end = bm_clock_now_ms() + 600000;
    while (bm_manager_pending_headers(a.m) != 0 ||
           bm_manager_pending_data(a.m) != 0) {
        if (bm_clock_now_ms() > end) {
            die("DA submission did not finish", BM_ETIMEDOUT, NULL);
        }
        bm_sleep_ms(20);
    }
    {
        struct bm_manager_metrics mm;

        bm_manager_metrics(a.m, &mm);
        f->da_heights = mm.da_submissions;
    }
    bench_node_stop(&a);
    (void)bm_file_remove_tree(home);
    f->blocks = o->blocks;
    f->seconds = now_s() - t0;
}

/* ------------------------------------------------------------ limits */

struct vctx {
    const uint8_t *msg;
    size_t len;
    const uint8_t *sig;
    const uint8_t *pub;
    uint64_t n;
    _Atomic uint64_t *done;
};

static void *verify_main(void *arg)
{
    struct vctx *v = arg;
    uint64_t ok = 0;

    for (uint64_t i = 0; i < v->n; i++) {
        ok += crypto_sign_verify_detached(v->sig, v->msg, v->len, v->pub) == 0;
    }
    atomic_fetch_add(v->done, ok);
    return NULL;
}

static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Verifications per second on `threads` threads at once, of a message of
 * a header's size (~250 bytes). *one_us: CPU µs per verification (one
 * thread's CPU time: what a verification costs a core, however busy the
 * machine is). */
static double verify_rate(unsigned threads, double *one_us)
{
    uint8_t msg[250], sig[64], pub[32], sk[64];
    pthread_t t[16];
    struct vctx v;
    _Atomic uint64_t done = 0;
    double t0, t1;

    randombytes_buf(msg, sizeof(msg));
    crypto_sign_keypair(pub, sk);
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
    v = (struct vctx){msg, sizeof(msg), sig, pub, 4000, &done};
    t0 = thread_cpu_s();
    verify_main(&v);
    *one_us = (thread_cpu_s() - t0) * 1e6 / 4000.0;
    if (threads > 16) {
        threads = 16;
    }
    done = 0;
    v.n = 10000;
    t0 = now_s();
    for (unsigned i = 0; i < threads; i++) {
        pthread_create(&t[i], NULL, verify_main, &v);
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
    }
    t1 = now_s();
    return (double)atomic_load(&done) / (t1 - t0);
}

/* Median µs of a 4 KiB pwrite + fdatasync in dir. */
static double fsync_us(const char *dir)
{
    double us = bench_fsync_p50_us(dir, 101);

    if (us < 0) {
        die("fsync probe", BM_EIO, NULL);
    }
    return us;
}

/* ------------------------------------------------------------ catch-up */

struct usage {
    double cpu_s;
    long vcsw;
    long ivcsw;
    long minflt; /* page faults served without I/O (first touches) */
};

static void usage_now(struct usage *u)
{
    struct rusage r;

    getrusage(RUSAGE_SELF, &r);
    u->cpu_s = (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 +
               (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
    u->vcsw = r.ru_nvcsw;
    u->ivcsw = r.ru_nivcsw;
    u->minflt = r.ru_minflt;
}

/* CPU seconds (schedstat: time on a CPU) of this process's threads named
 * `comm` that are alive now. The block lane ("bm:block") is created when
 * the node starts, inside the window, so its total is the window's. */
static double threads_cpu_s(const char *comm)
{
    char path[320], name[64], *end;
    unsigned long long sum = 0;
    struct dirent *e;
    DIR *d = opendir("/proc/self/task");

    if (d == NULL) {
        return 0.0;
    }
    while ((e = readdir(d)) != NULL) {
        unsigned long long ns = 0;
        FILE *f;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        if (fgets(name, sizeof(name), f) == NULL) {
            name[0] = '\0';
        }
        fclose(f);
        end = strchr(name, '\n');
        if (end != NULL) {
            *end = '\0';
        }
        if (strcmp(name, comm) != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
                 e->d_name);
        f = fopen(path, "r");
        if (f != NULL && fscanf(f, "%llu", &ns) == 1) {
            sum += ns;
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    closedir(d);
    return (double)sum / 1e9;
}

/* Per-thread scheduler figures of this process (/proc/self/task/<tid>/
 * schedstat: ns on a CPU, ns waiting on a run queue), grouped by thread
 * name with its digits dropped (bm-worker0 and bm-worker1 are one
 * group). A snapshot at the window's start and one at its end give each
 * group's CPU and run-queue wait over the window (a thread that ended
 * inside the window is not counted; the bench's own thread is left out,
 * its CPU is the poll's). */
#define TS_MAX 256
struct thread_stat {
    long tid;
    char group[16];
    unsigned long long cpu_ns, wait_ns;
};
struct thread_snap {
    size_t n;
    struct thread_stat t[TS_MAX];
};

static void read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");

    buf[0] = '\0';
    if (f != NULL) {
        if (fgets(buf, (int)cap, f) == NULL) {
            buf[0] = '\0';
        }
        fclose(f);
    }
}

static void thread_snap(struct thread_snap *s)
{
    char path[320], line[128];
    struct dirent *e;
    long self = (long)gettid();
    DIR *d = opendir("/proc/self/task");

    s->n = 0;
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL && s->n < TS_MAX) {
        struct thread_stat *t = &s->t[s->n];
        size_t j = 0;

        if (e->d_name[0] == '.' || atol(e->d_name) == self) {
            continue;
        }
        t->tid = atol(e->d_name);
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        read_line(path, line, sizeof(line));
        for (const char *c = line; *c != '\0' && *c != '\n' &&
                                   j + 1 < sizeof(t->group);
             c++) {
            if (*c < '0' || *c > '9') {
                t->group[j++] = (*c == ':' || *c == '-') ? '_' : *c;
            }
        }
        t->group[j] = '\0';
        snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
                 e->d_name);
        read_line(path, line, sizeof(line));
        if (sscanf(line, "%llu %llu", &t->cpu_ns, &t->wait_ns) == 2) {
            s->n++;
        }
    }
    closedir(d);
}

/* Prints each group's CPU and run-queue wait per block over the window
 * from a to b; *cpu_s and *wait_s get the totals. */
static void thread_report(const char *medium, const struct thread_snap *a,
                          const struct thread_snap *b, double n,
                          double *cpu_s, double *wait_s)
{
    bool done[TS_MAX] = {false};

    *cpu_s = 0.0;
    *wait_s = 0.0;
    for (size_t i = 0; i < b->n; i++) {
        double cpu = 0.0, wait = 0.0;

        if (done[i]) {
            continue;
        }
        for (size_t j = i; j < b->n; j++) {
            const struct thread_stat *t = &b->t[j];
            unsigned long long c0 = 0, w0 = 0;

            if (done[j] || strcmp(t->group, b->t[i].group) != 0) {
                continue;
            }
            done[j] = true;
            for (size_t k = 0; k < a->n; k++) {
                if (a->t[k].tid == t->tid) {
                    c0 = a->t[k].cpu_ns;
                    w0 = a->t[k].wait_ns;
                    break;
                }
            }
            cpu += (double)(t->cpu_ns - c0) / 1e9;
            wait += (double)(t->wait_ns - w0) / 1e9;
        }
        *cpu_s += cpu;
        *wait_s += wait;
        if (cpu * 1e6 / n >= 0.05) {
            printf("catchup_%s_thread_%s_cpu_us_per_block %.1f us\n",
                   medium, b->t[i].group, cpu * 1e6 / n);
            printf("catchup_%s_thread_%s_rq_wait_us_per_block %.1f us\n",
                   medium, b->t[i].group, wait * 1e6 / n);
        }
    }
}

/* The machine's CPU time so far (/proc/stat's "cpu" line, clock ticks):
 * all of it, idle (idle + iowait), and stolen by the hypervisor. On a
 * quiet machine the idle share of a window is the time the node left a
 * CPU idle. */
struct machine_cpu {
    unsigned long long total, idle, steal;
};

static void machine_cpu(struct machine_cpu *m)
{
    unsigned long long v[8] = {0};
    char line[256];

    memset(m, 0, sizeof(*m));
    read_line("/proc/stat", line, sizeof(line));
    if (sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
        return;
    }
    for (int i = 0; i < 8; i++) {
        m->total += v[i];
    }
    m->idle = v[3] + v[4];
    m->steal = v[7];
}

static void catch_up(const struct opts *o, const char *medium,
                     const char *base, const char *url, unsigned run)
{
    struct bench_node f;
    struct sc_counts c0, c1;
    struct usage u0, u1;
    static struct thread_snap ts0, ts1;
    struct machine_cpu mc0, mc1;
    double ts_cpu, ts_wait;
    char home[512], name[64];
    double t0, t1, p0, p1;
    uint64_t end, start_ms, first_ms = 0;
    double n = (double)o->blocks;

    snprintf(name, sizeof(name), "full-%s-%u", medium, run);
    bench_node_dir(base, name, home, sizeof(home));
    node_open(&f, home, false, url, 0);
    vc_forget(); /* a repeat is a signature checked twice in this window */
    sc_read(&c0);
    usage_now(&u0);
    thread_snap(&ts0);
    machine_cpu(&mc0);
    perf_ctl("enable\n");
    t0 = now_s();
    bench_node_start(&f);
    end = bm_clock_now_ms() + 900000;
    /* This thread's polling is the bench's, not the node's: its CPU is
     * taken out of the process's and printed apart, and kept small, as
     * it shares the cores. It sleeps on the manager's own condition
     * variable (woken at once if the node stops by itself) for half the
     * time the rate so far says is left (1-100 ms; 2 ms until blocks
     * come): a few dozen wake-ups per run, the last ones 1 ms apart (the
     * end is seen within about 1 ms). It reads the published height, an
     * atomic; the store is read once, to confirm the end. (It was read
     * every 2 ms, in an LMDB read transaction, with a separate sleep:
     * 10-13 us per block of this thread's CPU, docs/PERFORMANCE.md "DA
     * catch-up".) */
    p0 = thread_cpu_s();
    start_ms = bm_clock_now_ms();
    for (;;) {
        struct bm_errmsg em = {{0}};
        uint64_t h = published_height(&f), el = bm_clock_now_ms() - start_ms;
        int64_t wait_ms = 2;
        int err;

        if (h > 0 && first_ms == 0) {
            first_ms = el > 0 ? el : 1; /* to within the 2 ms poll */
        }
        if (h >= o->blocks && height_of(&f) >= o->blocks) {
            break;
        }
        if (h > 0 && h < o->blocks && el > 0) {
            /* left = (blocks - h) / (h / el) ms; wait half of it */
            wait_ms = (int64_t)((o->blocks - h) * el / h / 2);
            wait_ms = wait_ms < 1 ? 1 : wait_ms > 100 ? 100 : wait_ms;
        }
        err = bm_manager_wait(f.m, wait_ms, &em);

        if (err != BM_ETIMEDOUT) {
            die("full node stopped", err, &em);
        }
        if (bm_clock_now_ms() > end) {
            die("catch-up did not finish", BM_ETIMEDOUT, NULL);
        }
    }
    t1 = now_s();
    p1 = thread_cpu_s();
    double lane = threads_cpu_s("bm:block"); /* the block lane's CPU */
    thread_snap(&ts1);
    machine_cpu(&mc1);
    perf_ctl("disable\n");
    sc_read(&c1);
    usage_now(&u1);
    bench_node_stop(&f);
    if (!o->keep) {
        (void)bm_file_remove_tree(home);
    }
    printf("catchup_%s_blocks_per_s %.1f blocks/s\n", medium,
           n / (t1 - t0));
    printf("catchup_%s_verifies_per_block %.3f verifies\n", medium,
           (double)(c1.verifies - c0.verifies) / n);
    printf("catchup_%s_repeated_verifies_per_block %.4f verifies\n", medium,
           (double)(c1.repeats - c0.repeats) / n);
    printf("catchup_%s_flushes_per_block %.4f flushes\n", medium,
           (double)(c1.flushes - c0.flushes) / n);
    printf("catchup_%s_cpu_us_per_block %.1f us\n", medium,
           (u1.cpu_s - u0.cpu_s - (p1 - p0)) * 1e6 / n);
    printf("catchup_%s_poll_cpu_us_per_block %.1f us\n", medium,
           (p1 - p0) * 1e6 / n);
    printf("catchup_%s_lane_cpu_us_per_block %.1f us\n", medium,
           lane * 1e6 / n);
    printf("catchup_%s_vcsw_per_block %.3f switches\n", medium,
           (double)(u1.vcsw - u0.vcsw) / n);
    /* The start, inside the window: the node opened its parts, asked the
     * DA for its head and the first height, checked and applied it. */
    printf("catchup_%s_first_block_ms %" PRIu64 " ms\n", medium, first_ms);
    printf("catchup_%s_minflt_per_block %.3f faults\n", medium,
           (double)(u1.minflt - u0.minflt) / n);
    thread_report(medium, &ts0, &ts1, n, &ts_cpu, &ts_wait);
    /* Of the window's wall time on all online CPUs: the node's threads
     * on a CPU, and waiting for one (runnable, another thread on it);
     * the rest is a CPU the node left idle or to other processes while
     * none of its threads was runnable. */
    {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        double cap = (t1 - t0) * (double)(ncpu > 0 ? ncpu : 1);

        printf("catchup_%s_cores_busy_pct %.1f %%\n", medium,
               100.0 * ts_cpu / cap);
        printf("catchup_%s_rq_wait_pct %.1f %%\n", medium,
               100.0 * ts_wait / cap);
        printf("catchup_%s_rq_wait_us_per_block %.1f us\n", medium,
               ts_wait * 1e6 / n);
    }
    if (mc1.total > mc0.total) {
        double t = (double)(mc1.total - mc0.total);

        printf("catchup_%s_machine_idle_pct %.1f %%\n", medium,
               100.0 * (double)(mc1.idle - mc0.idle) / t);
        printf("catchup_%s_machine_steal_pct %.1f %%\n", medium,
               100.0 * (double)(mc1.steal - mc0.steal) / t);
    }
    printf("catchup_%s_ivcsw_per_block %.3f switches\n", medium,
           (double)(u1.ivcsw - u0.ivcsw) / n);
    fflush(stdout);
}

/* ------------------------------------------------------------ seen */

/*
 * A fresh node's "seen" window (src/actors/env.c: 200,000 hashes, an
 * 8 MiB table filled at random), in a process of its own (a fresh
 * address space: in this one, later nodes get heap memory an earlier
 * node already touched): made as the node makes it (`prefault`: backed
 * at once) or lazily, then the lookup and insert of 10,000 blocks'
 * hashes. Prints the CPU and the page faults of it all.
 */
static void seen_probe(bool prefault)
{
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct bm__txwin w;
        struct usage u0, u1;
        struct bm_hash h;
        const char *how = prefault ? "prefault" : "lazy";

        usage_now(&u0);
        if (bm__txwin_init(&w, 200000u) != BM_OK) {
            _exit(1);
        }
        if (prefault) {
            bm__txwin_prefault(&w);
        }
        for (uint32_t i = 0; i < 10000u; i++) {
            crypto_generichash(h.b, sizeof(h.b), (const uint8_t *)&i,
                               sizeof(i), NULL, 0);
            if (!bm__txwin_has(&w, &h)) {
                bm__txwin_add(&w, &h);
            }
        }
        usage_now(&u1);
        printf("seen_window_%s_cpu_us_per_block %.3f us\n", how,
               (u1.cpu_s - u0.cpu_s) * 1e6 / 10000.0);
        printf("seen_window_%s_faults_per_block %.3f faults\n", how,
               (double)(u1.minflt - u0.minflt) / 10000.0);
        fflush(stdout);
        bm__txwin_release(&w);
        _exit(0);
    }
    if (pid > 0) {
        (void)waitpid(pid, NULL, 0);
    }
}

/* ------------------------------------------------------------ main */

static void usage_exit(void)
{
    fprintf(stderr,
            "usage: catchup_bench [--blocks N] [--tx-every K] [--txs T] "
            "[--da-block-ms MS] [--runs R] [--threads T] [--tmpfs DIR] "
            "[--disk DIR] [--keep]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){10000, 10, 10, 100, 3, 2, "/dev/shm", "/var/tmp",
                       false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (v == NULL) {
            usage_exit();
        }
        i++;
        if (strcmp(a, "--blocks") == 0) {
            o->blocks = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--tx-every") == 0) {
            o->tx_every = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--txs") == 0) {
            o->txs = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--da-block-ms") == 0) {
            o->da_block_ms = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--runs") == 0) {
            o->runs = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--tmpfs") == 0) {
            o->tmpfs = v;
        } else if (strcmp(a, "--disk") == 0) {
            o->disk = v;
        } else {
            usage_exit();
        }
    }
    if (o->blocks == 0 || o->runs == 0 || o->threads == 0) {
        usage_exit();
    }
}

static void temp_base(const char *dir, char *out, size_t len)
{
    snprintf(out, len, "%s/blockv2-catchup-XXXXXX", dir);
    if (mkdtemp(out) == NULL) {
        fprintf(stderr, "catchup_bench: mkdtemp %s: %s\n", out,
                strerror(errno));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    struct chain_facts cf;
    char tbase[512], dbase[512], da_dir[600], url[64];
    uint16_t port = 0;
    int keep = -1;
    pid_t da_pid;
    double one_us, rate;

    parse(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    seen_probe(false);
    seen_probe(true);
    if (getenv("CATCHUP_PERF_CTL") != NULL) {
        g_perf_ctl = open(getenv("CATCHUP_PERF_CTL"), O_WRONLY);
    }
    temp_base(o.tmpfs, tbase, sizeof(tbase));
    temp_base(o.disk, dbase, sizeof(dbase));
    bench_node_dir(tbase, "da", da_dir, sizeof(da_dir));
    da_pid = da_fork(da_dir, &port, &keep);
    if (bm_crypto_init() != BM_OK) {
        die("crypto init", BM_ECRYPTO, NULL);
    }
    bm_log_set_level(BM_LOG_WARN);
    genesis_init();
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)port);

    build_chain(&o, tbase, url, port, &cf);
    printf("chain_blocks %" PRIu64 " blocks\n", cf.blocks);
    printf("chain_blocks_with_txs %" PRIu64 " blocks\n", cf.with_txs);
    printf("chain_txs_per_block_with_txs %u txs\n", o.txs);
    printf("chain_da_submissions %" PRIu64 " heights\n", cf.da_heights);
    /* Signatures a full node must check: per header its own and the DA
     * envelope's, per data blob (blocks with txs) the SignedData's. */
    printf("chain_signatures_per_block %.3f signatures\n",
           (2.0 * (double)cf.blocks + (double)cf.with_txs) /
               (double)cf.blocks);
    printf("chain_build_s %.1f s\n", cf.seconds);

    rate = verify_rate(o.threads, &one_us);
    printf("limit_verify_us %.2f us\n", one_us);
    printf("limit_verifies_per_s_%u_threads %.0f verifies/s\n", o.threads,
           rate);
    printf("limit_fsync_tmpfs_us %.1f us\n", fsync_us(tbase));
    printf("limit_fsync_disk_us %.1f us\n", fsync_us(dbase));
    fflush(stdout);

    for (unsigned r = 1; r <= o.runs; r++) {
        catch_up(&o, "tmpfs", tbase, url, r);
        catch_up(&o, "disk", dbase, url, r);
    }

    close(keep);
    waitpid(da_pid, NULL, 0);
    if (!o.keep) {
        (void)bm_file_remove_tree(tbase);
        (void)bm_file_remove_tree(dbase);
    }
    bm_genesis_release(&g_gen);
    return 0;
}
