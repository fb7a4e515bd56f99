/*
 * A real single-member etcd for tests and benchmarks: Debian's
 * etcd-server binary, started in a temp dir on a kernel-chosen 127.0.0.1
 * port, stopped, paused (SIGSTOP), resumed, killed and restarted on the
 * same port and data.
 *
 * etcd's JSON gateway dials the configured client address, so port 0
 * cannot be passed to etcd itself: the port is taken by binding
 * 127.0.0.1:0, reading it back and closing the socket just before etcd
 * starts; if another process takes it first, etcd exits and the start is
 * retried on a new port.
 */
#ifndef BM_TESTS_HA_ETCD_PROC_H
#define BM_TESTS_HA_ETCD_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct etcd_proc {
    char dir[256]; /* temp dir: data/ and etcd.log */
    char url[64];  /* http://127.0.0.1:PORT */
    uint16_t port;
    pid_t pid; /* 0 = not running */
};

/* The etcd binary ($BM_ETCD, else etcd on PATH, else /usr/bin/etcd), or
 * NULL when there is none. */
const char *etcd_proc_binary(void);

/* True when tests must fail rather than skip without etcd ($CI set). */
bool etcd_proc_required(void);

/* A test binary's exit status from its run's rc: 77 (meson's "skipped")
 * when there is no etcd binary outside CI and nothing failed, else rc (in
 * CI the tests that need etcd have failed already). */
int etcd_proc_exit(int rc);

/* Starts etcd in a new temp dir; waits until it answers (<= 20 s).
 * Returns false (message on stderr) when it cannot. */
bool etcd_proc_start(struct etcd_proc *p);

/* Starts it again on the same port and data dir (after stop/kill). */
bool etcd_proc_restart(struct etcd_proc *p);

/* SIGTERM and wait (SIGKILL after 5 s). */
void etcd_proc_stop(struct etcd_proc *p);

/* SIGKILL and wait. */
void etcd_proc_kill(struct etcd_proc *p);

/* SIGSTOP / SIGCONT. */
void etcd_proc_pause(struct etcd_proc *p);
void etcd_proc_resume(struct etcd_proc *p);

/* Stops etcd if running and removes the temp dir. */
void etcd_proc_destroy(struct etcd_proc *p);

/* A URL on 127.0.0.1 where nothing listens (a port bound then closed). */
void etcd_proc_dead_url(char *out, size_t cap);

#endif /* BM_TESTS_HA_ETCD_PROC_H */
