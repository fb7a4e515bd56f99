/*
 * `blockv2 da serve` as a process (BM_BLOCKV2_EXE): starts on port 0,
 * prints its address, serves the real client, keeps blobs across a
 * restart, exits 0 on SIGTERM; bad options exit 2.
 */
#include "bm_test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blockv2/da.h"
#include "da_test_util.h"
#include "util/errmsg.h"

struct proc {
    pid_t pid;
    FILE *out;
    unsigned port;
};

static void spawn(struct proc *p, char *const argv[])
{
    int fds[2];
    char line[256];

    assert_int_equal(pipe(fds), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    p->out = fdopen(fds[0], "r");
    assert_non_null(p->out);
    /* blocks until the server printed its address (or exited) */
    assert_non_null(fgets(line, sizeof(line), p->out));
    assert_int_equal(sscanf(line, "listening on 127.0.0.1:%u", &p->port), 1);
}

static int stop(struct proc *p)
{
    int st = 0;

    kill(p->pid, SIGTERM);
    assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
    fclose(p->out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static struct bm_da_client *client_for(unsigned port)
{
    struct bm_da_client_config cc;
    struct bm_da_client *c = NULL;
    char url[64];

    memset(&cc, 0, sizeof(cc));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
    cc.url = url;
    cc.auth_token = "tok";
    cc.timeout_ms = 5000;
    assert_int_equal(bm_da_client_new(&c, &cc, NULL), BM_OK);
    return c;
}

static void test_serve(void **state)
{
    const char *exe = getenv("BM_BLOCKV2_EXE");
    char home[512];
    struct proc p;
    struct bm_da_client *c;
    struct bm_da_namespace ns;
    struct bm_da_blob b;
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    (void)state;

    if (exe == NULL) {
        skip();
    }
    da_tmp_home(home, sizeof(home));
    char *argv[] = {(char *)exe, (char *)"da", (char *)"serve",
                    (char *)"--listen", (char *)"127.0.0.1:0",
                    (char *)"--home", home, (char *)"--block-time",
                    (char *)"0", (char *)"--auth-token", (char *)"tok",
                    (char *)"--empty-mode", (char *)"null", NULL};
    spawn(&p, argv);
    c = client_for(p.port);
    bm_da_namespace_from_string(&ns, "cli", 3);
    assert_int_equal(bm_da_blob_init_v0(&b, &ns, (const uint8_t *)"abc", 3),
                     BM_OK);
    assert_int_equal(bm_da_client_submit(c, &b, 1, NULL, 0, &h, &em), BM_OK);
    assert_int_equal(bm_da_client_get_all(c, 1, &ns, 1, 0, &l, &em),
                     BM_EDA_NOT_FOUND);
    bm_da_client_free(c);
    assert_int_equal(stop(&p), 0);

    spawn(&p, argv);
    c = client_for(p.port);
    assert_int_equal(bm_da_client_get_all(c, h, &ns, 1, 0, &l, &em), BM_OK);
    assert_int_equal(l.n, 1);
    assert_true(bm_buf_eq(&l.v[0].data, &b.data));
    bm_da_blob_list_release(&l);
    bm_da_blob_release(&b);
    bm_da_client_free(c);
    assert_int_equal(stop(&p), 0);
    da_rm_home(home);
}

static int run_status(char *const argv[])
{
    pid_t pid = fork();
    int st = 0;

    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_bad_options(void **state)
{
    const char *exe = getenv("BM_BLOCKV2_EXE");
    (void)state;

    if (exe == NULL) {
        skip();
    }
    char *a1[] = {(char *)exe, (char *)"da", (char *)"serve", NULL};
    char *a2[] = {(char *)exe, (char *)"da", (char *)"serve", (char *)"--home",
                  (char *)"/tmp/x", (char *)"--fail-rate", (char *)"2", NULL};
    char *a3[] = {(char *)exe, (char *)"da", (char *)"serve", (char *)"--home",
                  (char *)"/tmp/x", (char *)"--latency", (char *)"1h", NULL};
    char *a4[] = {(char *)exe, (char *)"da", (char *)"nope", NULL};
    char *a5[] = {(char *)exe, (char *)"da", (char *)"serve", (char *)"--listen",
                  (char *)"nohostport", (char *)"--home", (char *)"/tmp/x",
                  NULL};
    char *a6[] = {(char *)exe, (char *)"da", (char *)"serve", (char *)"--help",
                  NULL};
    assert_int_equal(run_status(a1), 2);
    assert_int_equal(run_status(a2), 2);
    assert_int_equal(run_status(a3), 2);
    assert_int_equal(run_status(a4), 2);
    assert_int_equal(run_status(a5), 2);
    assert_int_equal(run_status(a6), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve),
        cmocka_unit_test(test_bad_options),
    };
    return BM_TEST_RUN(tests);
}
