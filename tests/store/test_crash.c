/*
 * Crash test: a child process (this binary re-executed with --crash-child)
 * commits blocks in a loop and prints each acknowledged height to a pipe;
 * the parent SIGKILLs it at a random moment, 200 times. After each kill the
 * store must pass bm_store_check() and its height must be at least the last
 * acknowledged one (and never go backwards). The real `blockv2 store check`
 * (BM_BLOCKV2_EXE) is run on a few iterations too. Every other home is
 * written with the no_meta_sync option, whose promise is the same for a
 * killed process (it only weakens power-loss durability), and half of the
 * homes are on the tmpfs /dev/shm, where the store writes through the map
 * (MDB_WRITEMAP).
 */
#include "bm_test.h"

#include "blockv2/store.h"
#include "store/chain.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/lmdb_env.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ITERATIONS 200
#define ITERATIONS_PER_HOME 25 /* bounds the chain, so check stays short */
#define MAX_KILL_DELAY_US 20000

static char self_exe[4096];

/* ---- child ---- */

static int crash_child(const char *home, bool no_meta_sync)
{
    struct bm_store_options opt = {.no_meta_sync = no_meta_sync};
    struct bm_errmsg em = {{0}};
    struct bm_store *s = NULL;
    struct chain c;
    uint64_t x = (uint64_t)getpid() * 2654435761u;

    if (bm_store_open(&s, home, &opt, &em) != BM_OK) {
        fprintf(stderr, "crash child: open: %s\n", em.msg);
        return 1;
    }
    if (chain_init(&c, 0) != BM_OK || chain_resume(&c, s) != BM_OK) {
        fprintf(stderr, "crash child: cannot resume the chain\n");
        return 1;
    }
    for (;;) {
        char line[32];
        size_t n;
        int len;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Mostly single durable blocks, sometimes a group commit. */
        n = (x % 4 == 0) ? 1 + (size_t)(x >> 8) % 8 : 1;
        if (chain_commit(&c, s, n, 500 + (size_t)(x >> 16) % 2500, &em) !=
            BM_OK) {
            fprintf(stderr, "crash child: commit: %s\n", em.msg);
            return 1;
        }
        len = snprintf(line, sizeof(line), "%" PRIu64 "\n", c.height);
        if (write(1, line, (size_t)len) != len) {
            return 1;
        }
    }
}

/* ---- parent ---- */

/* A temp home on the disk, or on the tmpfs /dev/shm (where the store
 * writes through the map, MDB_WRITEMAP: docs/STORE.md) when mem and there
 * is one. */
static char *make_home(bool mem)
{
    char tmpl[] = "/tmp/bm-crash-XXXXXX";
    char shm[] = "/dev/shm/bm-crash-XXXXXX";
    char *dir = mkdtemp(mem && bm__env_dir_is_tmpfs("/dev/shm") ? shm
                                                                 : tmpl);

    assert_non_null(dir);
    return bm_xstrdup(dir);
}

static void free_home(char *home)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    assert_int_equal(system(cmd), 0);
    bm_free(home);
}

/* Parses complete lines of acknowledged heights; keeps the last. */
static void parse_acks(const char *buf, size_t len, uint64_t *last)
{
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            uint64_t v = 0;

            for (size_t j = start; j < i; j++) {
                v = v * 10 + (uint64_t)(buf[j] - '0');
            }
            *last = v;
            start = i + 1;
        }
    }
}

static void run_cli_check(const char *home)
{
    const char *exe = getenv("BM_BLOCKV2_EXE");
    char cmd[1200];
    int rc;

    if (exe == NULL || access(exe, X_OK) != 0) {
        fail_msg("BM_BLOCKV2_EXE is not set or not executable");
    }
    snprintf(cmd, sizeof(cmd), "'%s' store check --home '%s' >/dev/null",
             exe, home);
    rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
}

/* One child lifetime; returns the last acknowledged height (or prev). */
static uint64_t run_child(const char *home, bool no_meta_sync,
                          uint64_t prev_ack, bool wait_first_ack,
                          long delay_us)
{
    char buf[65536];
    size_t used = 0;
    uint64_t ack = prev_ack;
    int fds[2], status;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(self_exe, self_exe, "--crash-child", home,
              no_meta_sync ? "--no-meta-sync" : (char *)NULL, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (wait_first_ack) {
        /* Wait until the child has committed once, so the kill lands in
         * the write loop rather than during start-up. */
        ssize_t n = read(fds[0], buf, sizeof(buf));

        assert_true(n > 0);
        used = (size_t)n;
    }
    bm_sleep_us((uint64_t)delay_us);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* A child that exited on its own failed (it loops forever). */
    assert_true(WIFSIGNALED(status));
    for (;;) {
        ssize_t n;

        if (used == sizeof(buf)) {
            /* Keep the unfinished line. */
            char *nl = memrchr(buf, '\n', used);
            size_t keep;

            assert_non_null(nl);
            parse_acks(buf, (size_t)(nl - buf) + 1, &ack);
            keep = used - (size_t)(nl - buf) - 1;
            memmove(buf, nl + 1, keep);
            used = keep;
        }
        n = read(fds[0], buf + used, sizeof(buf) - used);
        if (n <= 0) {
            break;
        }
        used += (size_t)n;
    }
    close(fds[0]);
    parse_acks(buf, used, &ack);
    return ack;
}

static void test_crash_kill(void **state)
{
    char *home = NULL;
    uint64_t ack = 0, last_height = 0, total_acked = 0;
    uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    int cli_runs = 0;

    (void)state;
    fprintf(stderr, "crash test seed %" PRIu64 "\n", x);
    for (int i = 0; i < ITERATIONS; i++) {
        struct bm_store_options ro = {.read_only = true};
        struct bm_store_check_report rep;
        struct bm_errmsg em = {{0}};
        struct bm_store *s = NULL;
        uint64_t before;
        enum bm_err err;
        long delay;

        if (i % ITERATIONS_PER_HOME == 0) {
            if (home != NULL) {
                free_home(home);
            }
            /* Homes 2, 3, 6, 7 on the tmpfs (both sync options). */
            home = make_home((i / ITERATIONS_PER_HOME) % 4 >= 2);
            ack = 0;
            last_height = 0;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        delay = (long)(x % (MAX_KILL_DELAY_US + 1));
        before = ack;
        /* One in eight kills lands anywhere, start-up included. */
        ack = run_child(home, (i / ITERATIONS_PER_HOME) % 2 == 1, ack,
                        (x >> 40) % 8 != 0, delay);
        total_acked += ack - before;

        err = bm_store_open(&s, home, &ro, &em);
        if (err == BM_ENOTFOUND && ack == 0) {
            continue; /* killed before it created the store */
        }
        if (err != BM_OK) {
            fail_msg("iteration %d: open: %s (%s)", i, bm_err_name(err),
                     em.msg);
        }
        err = bm_store_check(s, &rep, &em);
        if (err != BM_OK) {
            fail_msg("iteration %d: check: %s (%s)", i, bm_err_name(err),
                     em.msg);
        }
        bm_store_close(s);
        if (rep.empty) {
            assert_int_equal(ack, 0);
        }
        if (rep.height < ack || rep.height < last_height) {
            fail_msg("iteration %d: height %" PRIu64 " below acknowledged %"
                     PRIu64 " (previous %" PRIu64 ")",
                     i, rep.height, ack, last_height);
        }
        /* The store may be ahead of the last ack by the one commit whose
         * acknowledgement the kill cut off (at most 8 blocks). */
        assert_true(rep.height <= ack + 8);
        ack = rep.height;
        last_height = rep.height;
        if (i % 50 == 49) {
            run_cli_check(home);
            cli_runs++;
        }
    }
    assert_true(cli_runs >= 1);
    /* The kills must have hit a working writer, not just start-ups. */
    assert_true(total_acked > ITERATIONS / 2);
    fprintf(stderr, "crash test: %d kills, %" PRIu64 " blocks acknowledged, "
            "store checked after every kill\n", ITERATIONS, total_acked);
    free_home(home);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_kill),
    };
    ssize_t n;

    if ((argc == 3 || argc == 4) && strcmp(argv[1], "--crash-child") == 0) {
        return crash_child(argv[2], argc == 4 &&
                                        strcmp(argv[3], "--no-meta-sync") == 0);
    }
    n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "cannot resolve /proc/self/exe\n");
        return 1;
    }
    self_exe[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    return BM_TEST_RUN(tests);
}
