/* A real etcd process for tests and benchmarks (etcd_proc.h). */
#include "etcd_proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ha/etcd.h"
#include "util/clock.h"
#include "util/errmsg.h"

const char *etcd_proc_binary(void)
{
    static char found[512];
    const char *env = getenv("BM_ETCD");
    const char *path = getenv("PATH");

    if (env != NULL && env[0] != '\0') {
        return access(env, X_OK) == 0 ? env : NULL;
    }
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t n = end != NULL ? (size_t)(end - path) : strlen(path);
        if (n > 0 && n < sizeof(found) - 8) {
            snprintf(found, sizeof(found), "%.*s/etcd", (int)n, path);
            if (access(found, X_OK) == 0) {
                return found;
            }
        }
        path = end != NULL ? end + 1 : NULL;
    }
    return access("/usr/bin/etcd", X_OK) == 0 ? "/usr/bin/etcd" : NULL;
}

bool etcd_proc_required(void)
{
    const char *ci = getenv("CI");

    return ci != NULL && ci[0] != '\0' && strcmp(ci, "false") != 0;
}

int etcd_proc_exit(int rc)
{
    if (rc == 0 && etcd_proc_binary() == NULL && !etcd_proc_required()) {
        fprintf(stderr, "skipped: no etcd binary (apt-get install "
                        "etcd-server, as scripts/bootstrap.sh does)\n");
        return 77;
    }
    return rc;
}

static uint16_t free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uint16_t port = 0;

    if (fd < 0) {
        return 0;
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

void etcd_proc_dead_url(char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%u", (unsigned)free_port());
}

static pid_t spawn(const struct etcd_proc *p)
{
    const char *bin = etcd_proc_binary();
    char data[300], log[300], client[64];
    pid_t pid;

    if (bin == NULL) {
        return -1;
    }
    snprintf(data, sizeof(data), "%s/data", p->dir);
    snprintf(log, sizeof(log), "%s/etcd.log", p->dir);
    snprintf(client, sizeof(client), "http://127.0.0.1:%u", (unsigned)p->port);
    pid = fork();
    if (pid != 0) {
        return pid;
    }
    /* child */
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    /* never outlive the test, even when it crashes */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl(bin, bin, "--name", "n1", "--data-dir", data, "--listen-client-urls",
          client, "--advertise-client-urls", client, "--listen-peer-urls",
          "http://127.0.0.1:0", "--initial-advertise-peer-urls",
          "http://127.0.0.1:0", "--initial-cluster", "n1=http://127.0.0.1:0",
          "--initial-cluster-state", "new", (char *)NULL);
    _exit(127);
}

/* Polls until etcd answers a range (true) or exits / 20 s pass. */
static bool wait_ready(struct etcd_proc *p)
{
    const char *eps[1] = {p->url};
    struct bm_etcd_config cfg = {eps, 1, 500, 0};
    struct bm_etcd *e = NULL;
    struct bm_errmsg em;
    uint64_t deadline = bm_clock_deadline_ms(20000);
    bool ok = false;

    if (bm_etcd_new(&e, &cfg, &em) != BM_OK) {
        fprintf(stderr, "etcd_proc: %s\n", em.msg);
        return false;
    }
    while (bm_clock_now_ns() < deadline) {
        struct bm_etcd_resp r = {0};
        int status;

        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            break;
        }
        if (bm_etcd_get(e, (const uint8_t *)"ready", 5, 500, &r, &em) ==
            BM_OK) {
            ok = true;
            bm_etcd_resp_release(&r);
            break;
        }
        bm_sleep_ms(50);
    }
    bm_etcd_free(e);
    return ok;
}

bool etcd_proc_start(struct etcd_proc *p)
{
    const char *t = getenv("TMPDIR");

    memset(p, 0, sizeof(*p));
    if (etcd_proc_binary() == NULL) {
        fprintf(stderr, "etcd_proc: no etcd binary (apt-get install "
                        "etcd-server)\n");
        return false;
    }
    snprintf(p->dir, sizeof(p->dir), "%s/bm-etcd-XXXXXX",
             t != NULL ? t : "/tmp");
    if (mkdtemp(p->dir) == NULL) {
        fprintf(stderr, "etcd_proc: mkdtemp: %s\n", strerror(errno));
        return false;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        p->port = free_port();
        snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u",
                 (unsigned)p->port);
        p->pid = spawn(p);
        if (p->pid < 0) {
            p->pid = 0;
            return false;
        }
        if (wait_ready(p)) {
            return true;
        }
        etcd_proc_kill(p);
    }
    fprintf(stderr, "etcd_proc: etcd did not start (see %s/etcd.log)\n",
            p->dir);
    return false;
}

bool etcd_proc_restart(struct etcd_proc *p)
{
    if (p->pid != 0) {
        etcd_proc_stop(p);
    }
    p->pid = spawn(p);
    if (p->pid <= 0) {
        p->pid = 0;
        return false;
    }
    return wait_ready(p);
}

static void reap(struct etcd_proc *p, int sig, int grace_ms)
{
    uint64_t deadline;
    int status;

    if (p->pid == 0) {
        return;
    }
    kill(p->pid, SIGCONT);
    kill(p->pid, sig);
    deadline = bm_clock_deadline_ms(grace_ms);
    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (bm_clock_now_ns() >= deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        bm_sleep_ms(10);
    }
    p->pid = 0;
}

void etcd_proc_stop(struct etcd_proc *p)
{
    reap(p, SIGTERM, 5000);
}

void etcd_proc_kill(struct etcd_proc *p)
{
    reap(p, SIGKILL, 5000);
}

/* The state letter of a /proc/.../stat file ('T' = stopped), or 0. */
static char stat_state(const char *path)
{
    char buf[512];
    FILE *f = fopen(path, "r");
    char *rp;
    char st = 0;

    if (f == NULL) {
        return 0;
    }
    if (fgets(buf, sizeof(buf), f) != NULL) {
        rp = strrchr(buf, ')'); /* the name may hold spaces */
        if (rp != NULL && rp[1] == ' ') {
            st = rp[2];
        }
    }
    fclose(f);
    return st;
}

/* True once every thread of pid is stopped. */
static bool all_stopped(pid_t pid)
{
    char path[300];
    struct dirent *de;
    DIR *d;
    bool ok = true;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (d == NULL) {
        return false;
    }
    while (ok && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/task/%.32s/stat", (int)pid,
                 de->d_name);
        ok = stat_state(path) == 'T';
    }
    closedir(d);
    return ok;
}

void etcd_proc_pause(struct etcd_proc *p)
{
    uint64_t deadline;

    if (p->pid == 0) {
        return;
    }
    kill(p->pid, SIGSTOP);
    /* kill(2) returns before every thread has stopped: a request being
     * served on another core could still be answered */
    deadline = bm_clock_deadline_ms(5000);
    while (!all_stopped(p->pid) && bm_clock_now_ns() < deadline) {
        bm_sleep_ms(1);
    }
}

void etcd_proc_resume(struct etcd_proc *p)
{
    if (p->pid != 0) {
        kill(p->pid, SIGCONT);
    }
}

void etcd_proc_destroy(struct etcd_proc *p)
{
    char cmd[400];

    etcd_proc_stop(p);
    if (p->dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "etcd_proc: cannot remove %s\n", p->dir);
        }
        p->dir[0] = '\0';
    }
}
