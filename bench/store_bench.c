/*
 * store_bench: LMDB store throughput.
 *
 *   store_bench [--blocks N] [--durable-seconds S] [--reads N] [--threads T]
 *               [--only grouped,read,durable] [--no-meta-sync] [--dir D]
 *
 * Prints `name value unit` lines:
 *   store_write_grouped   blocks/s, N blocks of ~2 KB, 100 per transaction
 *   store_write_durable   blocks/s, one durable transaction per block
 *                         (stops after N blocks or S seconds, whichever
 *                         comes first; the line says how many were written)
 *   store_read_by_height  blocks/s, bm_store_get_block() of random heights,
 *                         one thread
 *   store_read_by_height_<T>t  the same N reads split over T threads
 *                         (default 2; --threads 1 skips it)
 *   store_read_sequential blocks/s, bm_store_get_block() of heights 1, 2, ...
 *   *_raw_lmdb            the floor: the same figure in raw LMDB (the same
 *                         keys and bytes, no store code; see "the floor")
 *   store_read_by_height_raw_lmdb_one_txn  the same reads in one read
 *                         transaction (what a transaction per read costs)
 *   fsync_latency         microseconds, median of 200 write+fdatasync
 *   *_cpu                 the same per CPU-second of this process (what the
 *                         code costs, independent of a loaded machine)
 *
 * --only runs a subset (reads need the grouped write to fill the store, so
 * "read" writes it without printing it). --no-meta-sync opens the stores
 * with that option (docs/STORE.md) to measure what it buys.
 *
 * Blocks are pre-built byte strings of realistic size (SignedHeader ~250 B,
 * Data ~2 KB, signature 64 B, State ~120 B) so that only the store is
 * measured, not the codec. The temporary homes are under --dir (default
 * $TMPDIR or /tmp) and removed afterwards.
 */
#include "bench_util.h"
#include "blockv2/store.h"
#include "store/store_internal.h" /* the store's key formats */
#include "util/alloc.h"
#include "util/errmsg.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GROUP 100

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct templ {
    uint8_t header[250];
    uint8_t data[2048];
    uint8_t sig[64];
    uint8_t state[120];
};

static void fill(uint8_t *p, size_t n, uint64_t *x)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)splitmix(x);
    }
}

static void make_block(const struct templ *t, uint64_t height,
                       struct bm_store_block *b)
{
    uint64_t x = height * 0x2545f4914f6cdd1dull;

    memset(b, 0, sizeof(*b));
    b->height = height;
    for (int i = 0; i < 4; i++) {
        uint64_t v = splitmix(&x);

        memcpy(b->hash.b + 8 * i, &v, 8);
    }
    b->header = t->header;
    b->header_len = sizeof(t->header);
    b->data = t->data;
    b->data_len = sizeof(t->data);
    b->signature = t->sig;
    b->signature_len = sizeof(t->sig);
    b->state = t->state;
    b->state_len = sizeof(t->state);
}

static char *make_home(const char *dir)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/bm-store-bench-XXXXXX", dir);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return bm_xstrdup(path);
}

static void remove_home(char *home)
{
    char cmd[4200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", home);
    }
    bm_free(home);
}

static struct bm_store *open_or_die(const char *home,
                                   const struct bm_store_options *o)
{
    struct bm_errmsg em = {{0}};
    struct bm_store *s = NULL;
    enum bm_err err = bm_store_open(&s, home, o, &em);

    if (err != BM_OK) {
        fprintf(stderr, "open: %s\n", bm_errmsg_str(&em, err));
        exit(1);
    }
    return s;
}

/* Writes blocks 1..n, `per_txn` per transaction, until n or max_s. */
static double write_blocks(struct bm_store *s, const struct templ *t,
                           uint64_t n, size_t per_txn, double max_s,
                           uint64_t *written, double *cpu_rate)
{
    struct bm_store_block blk[GROUP];
    struct bm_errmsg em = {{0}};
    double t0 = now_s(), c0 = cpu_s(), el = 0;
    uint64_t h = 1;

    while (h <= n) {
        struct bm_store_batch b = {.blocks = blk};
        enum bm_err err;

        for (size_t i = 0; i < per_txn && h <= n; i++, h++) {
            make_block(t, h, &blk[b.n_blocks++]);
        }
        err = bm_store_write(s, &b, &em);
        if (err != BM_OK) {
            fprintf(stderr, "write: %s\n", bm_errmsg_str(&em, err));
            exit(1);
        }
        el = now_s() - t0;
        if (max_s > 0 && el > max_s) {
            break;
        }
    }
    *written = h - 1;
    *cpu_rate = (double)(h - 1) / (cpu_s() - c0);
    return (double)(h - 1) / el;
}

/* n reads of random heights, or of heights 1..tip in order (repeated). */
static double read_blocks(struct bm_store *s, uint64_t tip, uint64_t n,
                          bool sequential, double *cpu_rate)
{
    struct bm_store_blockbuf b = {0};
    uint64_t x = 42;
    double t0 = now_s(), c0 = cpu_s();

    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = sequential ? 1 + i % tip : 1 + splitmix(&x) % tip;

        if (bm_store_get_block(s, h, &b, NULL) != BM_OK ||
            b.data.len != 2048) {
            fprintf(stderr, "read of height %" PRIu64 " failed\n", h);
            exit(1);
        }
    }
    bm_store_blockbuf_release(&b);
    *cpu_rate = (double)n / (cpu_s() - c0);
    return (double)n / (now_s() - t0);
}

struct reader {
    struct bm_store *s;
    uint64_t tip, n, seed;
    pthread_t th;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct bm_store_blockbuf b = {0};
    uint64_t x = r->seed;

    for (uint64_t i = 0; i < r->n; i++) {
        uint64_t h = 1 + splitmix(&x) % r->tip;

        if (bm_store_get_block(r->s, h, &b, NULL) != BM_OK ||
            b.data.len != 2048) {
            fprintf(stderr, "read of height %" PRIu64 " failed\n", h);
            exit(1);
        }
    }
    bm_store_blockbuf_release(&b);
    return NULL;
}

/* n random reads in total, split over `threads` threads. */
static double read_blocks_mt(struct bm_store *s, uint64_t tip, uint64_t n,
                             int threads, double *cpu_rate)
{
    struct reader r[8];
    double t0 = now_s(), c0 = cpu_s();

    for (int i = 0; i < threads; i++) {
        r[i] = (struct reader){s, tip, n / (uint64_t)threads,
                               42 + (uint64_t)i * 7919, 0};
        if (pthread_create(&r[i].th, NULL, reader_main, &r[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(r[i].th, NULL);
    }
    *cpu_rate = (double)n / (cpu_s() - c0);
    return (double)n / (now_s() - t0);
}

/* ------------------------------------------------------------ the floor
 *
 * Raw LMDB: the same keys and bytes put and got with nothing of the
 * store around them, in an environment opened with the store's flags
 * (MDB_NOTLS, and MDB_NOMETASYNC with --no-meta-sync) in a home of the
 * same directory, its map large enough from the start. Writes go the
 * store's way (one cursor, kind by kind; the index keys one by one with
 * MDB_NOOVERWRITE; /0/t once per transaction), with the keys formatted
 * before the clock runs; only begin..commit is timed. Reads are three
 * mdb_get (h, d, c) of keys formatted beforehand, then a touch of the
 * first byte of each value, no copy; in a read transaction renewed for each
 * read (what an API call that must see the latest commit needs), or in
 * one transaction for all of them.
 */

struct raw_env {
    char *home;
    MDB_env *env;
    MDB_dbi dbi;
};

static void mdb_or_die(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "raw lmdb: %s: %s\n", what, mdb_strerror(rc));
        exit(1);
    }
}

static void raw_open(struct raw_env *r, const char *dir, uint64_t n,
                     bool no_meta_sync)
{
    char path[4200];
    MDB_txn *txn;
    size_t map = (size_t)1 << 30;

    while (map / 16384 < n) {
        map *= 2;
    }
    r->home = make_home(dir);
    snprintf(path, sizeof(path), "%s/data", r->home);
    if (mkdir(path, 0755) != 0) {
        perror("mkdir");
        exit(1);
    }
    mdb_or_die(mdb_env_create(&r->env), "env create");
    mdb_or_die(mdb_env_set_mapsize(r->env, map), "set mapsize");
    mdb_or_die(mdb_env_open(r->env, path,
                            MDB_NOTLS | (no_meta_sync ? MDB_NOMETASYNC : 0),
                            0644),
               "env open");
    mdb_or_die(mdb_txn_begin(r->env, NULL, 0, &txn), "txn begin");
    mdb_or_die(mdb_dbi_open(txn, NULL, 0, &r->dbi), "dbi open");
    mdb_or_die(mdb_txn_commit(txn), "commit");
}

static void raw_close(struct raw_env *r)
{
    mdb_env_close(r->env);
    remove_home(r->home);
}

/* The keys of one block, as the store formats them. */
struct raw_keys {
    char k[4][32]; /* c, d, h, s: key order */
    size_t n[4];
    char i[BM__STORE_KEY_MAX];
    size_t ni;
};

static const char raw_kinds[4] = {'c', 'd', 'h', 's'};

static void raw_block_keys(const struct bm_store_block *b, struct raw_keys *k)
{
    for (int j = 0; j < 4; j++) {
        k->n[j] = bm__store_key_height(k->k[j], raw_kinds[j], b->height);
    }
    k->ni = bm__store_key_hash(k->i, &b->hash);
}

static MDB_val raw_val(const void *p, size_t n)
{
    MDB_val v = {.mv_size = n, .mv_data = (void *)p};

    return v;
}

/* One transaction of m blocks (keys k), committed. */
static void raw_put_group(struct raw_env *r, const struct bm_store_block *b,
                          const struct raw_keys *k, size_t m)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    uint8_t tip[8], hv[GROUP][8];

    mdb_or_die(mdb_txn_begin(r->env, NULL, 0, &txn), "txn begin");
    mdb_or_die(mdb_cursor_open(txn, r->dbi, &cur), "cursor open");
    for (int j = 0; j < 4; j++) {
        for (size_t i = 0; i < m; i++) {
            const void *p[4] = {b[i].signature, b[i].data, b[i].header,
                                b[i].state};
            size_t len[4] = {b[i].signature_len, b[i].data_len,
                             b[i].header_len, b[i].state_len};
            MDB_val kk = raw_val(k[i].k[j], k[i].n[j]);
            MDB_val v = raw_val(p[j], len[j]);

            mdb_or_die(mdb_cursor_put(cur, &kk, &v, 0), "cursor put");
        }
    }
    mdb_cursor_close(cur);
    for (size_t i = 0; i < m; i++) {
        MDB_val kk = raw_val(k[i].i, k[i].ni);
        MDB_val v;

        bm_put_le64(hv[i], b[i].height);
        v = raw_val(hv[i], 8);
        mdb_or_die(mdb_put(txn, r->dbi, &kk, &v, MDB_NOOVERWRITE), "put");
    }
    {
        MDB_val kk = raw_val("/0/t", 4);
        MDB_val v;

        bm_put_le64(tip, b[m - 1].height);
        v = raw_val(tip, 8);
        mdb_or_die(mdb_put(txn, r->dbi, &kk, &v, 0), "put");
    }
    mdb_or_die(mdb_txn_commit(txn), "commit");
}

/* As write_blocks, in raw LMDB; only begin..commit is timed. */
static double raw_write_blocks(struct raw_env *r, const struct templ *t,
                               uint64_t n, size_t per_txn, double max_s,
                               uint64_t *written, double *cpu_rate)
{
    struct bm_store_block blk[GROUP];
    struct raw_keys keys[GROUP];
    double el = 0, cpu = 0;
    uint64_t h = 1;

    while (h <= n) {
        size_t m = 0;
        double t0, c0;

        for (; m < per_txn && h <= n; m++, h++) {
            make_block(t, h, &blk[m]);
            raw_block_keys(&blk[m], &keys[m]);
        }
        t0 = now_s();
        c0 = cpu_s();
        raw_put_group(r, blk, keys, m);
        cpu += cpu_s() - c0;
        el += now_s() - t0;
        if (max_s > 0 && el > max_s) {
            break;
        }
    }
    *written = h - 1;
    *cpu_rate = (double)(h - 1) / cpu;
    return (double)(h - 1) / el;
}

/* n reads of random heights (as read_blocks) in raw LMDB; a read
 * transaction renewed per read, or one for all (one_txn). */
static double raw_read_blocks(struct raw_env *r, uint64_t tip, uint64_t n,
                              bool one_txn, double *cpu_rate)
{
    char(*keys)[3][32] = bm_xcalloc(tip + 1, sizeof(*keys));
    size_t(*lens)[3] = bm_xcalloc(tip + 1, sizeof(*lens));
    MDB_txn *txn;
    uint64_t x = 42, sum = 0;
    double t0, c0, rate;

    for (uint64_t h = 1; h <= tip; h++) {
        for (int j = 0; j < 3; j++) {
            lens[h][j] = bm__store_key_height(keys[h][j], "hdc"[j], h);
        }
    }
    mdb_or_die(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn), "txn begin");
    mdb_txn_reset(txn);
    if (one_txn) {
        mdb_or_die(mdb_txn_renew(txn), "txn renew");
    }
    t0 = now_s();
    c0 = cpu_s();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = 1 + splitmix(&x) % tip;

        if (!one_txn) {
            mdb_or_die(mdb_txn_renew(txn), "txn renew");
        }
        MDB_val v[3];

        for (int j = 0; j < 3; j++) {
            MDB_val k = raw_val(keys[h][j], lens[h][j]);

            mdb_or_die(mdb_get(txn, r->dbi, &k, &v[j]), "get");
        }
        for (int j = 0; j < 3; j++) {
            sum += *(const uint8_t *)v[j].mv_data;
        }
        if (!one_txn) {
            mdb_txn_reset(txn);
        }
    }
    *cpu_rate = (double)n / (cpu_s() - c0);
    rate = (double)n / (now_s() - t0);
    mdb_txn_abort(txn);
    bm_free(keys);
    bm_free(lens);
    if (sum == 0) {
        fprintf(stderr, "raw reads: every first byte zero?\n");
    }
    return rate;
}

static bool want(const char *only, const char *what)
{
    return only == NULL || strstr(only, what) != NULL;
}

int main(int argc, char **argv)
{
    struct templ t;
    struct bm_store_options o = {0};
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *only = NULL;
    uint64_t n = 100000, reads = 1000000, written = 0;
    double durable_s = 30, rate, cpu_rate;
    int threads = 2;
    uint64_t x = 1;
    struct bm_store *s;
    struct raw_env raw;
    char *home;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-meta-sync") == 0) {
            o.no_meta_sync = true;
        } else if (i + 1 >= argc) {
            goto usage;
        } else if (strcmp(argv[i], "--blocks") == 0) {
            n = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--durable-seconds") == 0) {
            durable_s = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--reads") == 0) {
            reads = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--only") == 0) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0) {
            dir = argv[++i];
        } else {
            goto usage;
        }
    }
    if (n == 0) {
        n = 1;
    }
    if (threads < 1 || threads > 8) {
        threads = 2;
    }
    fill(t.header, sizeof(t.header), &x);
    fill(t.data, sizeof(t.data), &x);
    fill(t.sig, sizeof(t.sig), &x);
    fill(t.state, sizeof(t.state), &x);

    printf("fsync_latency %.0f us\n", bench_fsync_p50_us(dir, 200));
    fflush(stdout);

    if (want(only, "grouped") || want(only, "read")) {
        home = make_home(dir);
        s = open_or_die(home, &o);
        rate = write_blocks(s, &t, n, GROUP, 0, &written, &cpu_rate);
        if (want(only, "grouped")) {
            printf("store_write_grouped %.0f blocks/s\n", rate);
            printf("store_write_grouped_cpu %.0f blocks/cpu-s\n", cpu_rate);
            fflush(stdout);
        }
        if (want(only, "read")) {
            rate = read_blocks(s, written, reads, false, &cpu_rate);
            printf("store_read_by_height %.0f blocks/s\n", rate);
            printf("store_read_by_height_cpu %.0f blocks/cpu-s\n", cpu_rate);
            if (threads > 1) {
                rate = read_blocks_mt(s, written, reads, threads, &cpu_rate);
                printf("store_read_by_height_%dt %.0f blocks/s\n", threads,
                       rate);
                printf("store_read_by_height_%dt_cpu %.0f blocks/cpu-s\n",
                       threads, cpu_rate);
            }
            rate = read_blocks(s, written, reads, true, &cpu_rate);
            printf("store_read_sequential %.0f blocks/s\n", rate);
            printf("store_read_sequential_cpu %.0f blocks/cpu-s\n",
                   cpu_rate);
            fflush(stdout);
        }
        bm_store_close(s);
        remove_home(home);

        raw_open(&raw, dir, n, o.no_meta_sync);
        rate = raw_write_blocks(&raw, &t, n, GROUP, 0, &written, &cpu_rate);
        if (want(only, "grouped")) {
            printf("store_write_grouped_raw_lmdb %.0f blocks/s\n", rate);
            printf("store_write_grouped_raw_lmdb_cpu %.0f blocks/cpu-s\n",
                   cpu_rate);
            fflush(stdout);
        }
        if (want(only, "read")) {
            rate = raw_read_blocks(&raw, written, reads, false, &cpu_rate);
            printf("store_read_by_height_raw_lmdb %.0f blocks/s\n", rate);
            printf("store_read_by_height_raw_lmdb_cpu %.0f blocks/cpu-s\n",
                   cpu_rate);
            rate = raw_read_blocks(&raw, written, reads, true, &cpu_rate);
            printf("store_read_by_height_raw_lmdb_one_txn %.0f blocks/s\n",
                   rate);
            printf("store_read_by_height_raw_lmdb_one_txn_cpu %.0f "
                   "blocks/cpu-s\n", cpu_rate);
            fflush(stdout);
        }
        raw_close(&raw);
    }

    if (want(only, "durable")) {
        home = make_home(dir);
        s = open_or_die(home, &o);
        rate = write_blocks(s, &t, n, 1, durable_s, &written, &cpu_rate);
        printf("store_write_durable %.0f blocks/s (%" PRIu64 " blocks)\n",
               rate, written);
        printf("store_write_durable_cpu %.0f blocks/cpu-s\n", cpu_rate);
        fflush(stdout);
        bm_store_close(s);
        remove_home(home);

        raw_open(&raw, dir, n, o.no_meta_sync);
        rate = raw_write_blocks(&raw, &t, n, 1, durable_s, &written,
                                &cpu_rate);
        printf("store_write_durable_raw_lmdb %.0f blocks/s (%" PRIu64
               " blocks)\n", rate, written);
        printf("store_write_durable_raw_lmdb_cpu %.0f blocks/cpu-s\n",
               cpu_rate);
        raw_close(&raw);
    }
    return 0;
usage:
    fprintf(stderr, "usage: store_bench [--blocks N] [--durable-seconds S] "
            "[--reads N] [--threads T] [--only grouped,read,durable] "
            "[--no-meta-sync] [--dir D]\n");
    return 2;
}
