/*
 * Scaffolding of the FloodSub and exchange socket tests: blockv2 hosts on
 * 127.0.0.1 (port 0), a synchronous dial, running a function on a host's
 * loop thread and waiting for it, and polling for a condition.
 */
#ifndef BM_TESTS_P2P_GOSSIP_UTIL_H
#define BM_TESTS_P2P_GOSSIP_UTIL_H

#include "bm_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "p2p/host.h"
#include "util/clock.h"

#define GU_WAIT_MS 10000

static inline void gu_sleep(unsigned ms)
{
    bm_sleep_ms(ms);
}

/* A one-shot completion between a loop thread and the test thread. */
struct gu_sync {
    pthread_mutex_t mu;
    struct bm_cond cv;
    bool done;
    int err;
};

static inline void gu_sync_init(struct gu_sync *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    bm_cond_init(&s->cv);
}

static inline void gu_sync_release(struct gu_sync *s)
{
    pthread_mutex_destroy(&s->mu);
    bm_cond_destroy(&s->cv);
}

static inline void gu_sync_done(struct gu_sync *s, int err)
{
    pthread_mutex_lock(&s->mu);
    s->err = err;
    s->done = true;
    bm_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits up to ms; BM_ETIMEDOUT if it did not complete. */
static inline int gu_sync_wait(struct gu_sync *s, unsigned ms)
{
    uint64_t deadline = bm_clock_deadline_ms((int64_t)ms);
    int err;

    pthread_mutex_lock(&s->mu);
    while (!s->done) {
        if (bm_cond_wait_until(&s->cv, &s->mu, deadline) == ETIMEDOUT) {
            break;
        }
    }
    err = s->done ? s->err : BM_ETIMEDOUT;
    pthread_mutex_unlock(&s->mu);
    return err;
}

struct gu_host {
    struct bm_p2p_host *h;
    struct bm_privkey key;
    struct bm_peer_id id;
    struct bm_multiaddr addr; /* dialable, with /p2p */
};

/* A stopped host listening on 127.0.0.1:port (0: kernel-chosen) with
 * identity seed byte; base (may be NULL: the defaults) gives the other
 * settings (borrowed; its identity and listen fields are replaced). */
static inline void gu_host_new_with(struct gu_host *n, uint8_t seed,
                                    uint16_t port,
                                    const struct bm_p2p_host_config *base)
{
    struct bm_p2p_host_config cfg;
    struct bm_multiaddr listen;
    uint8_t s32[32];
    char text[48];

    memset(n, 0, sizeof(*n));
    memset(s32, seed, sizeof(s32));
    bm_privkey_from_seed(&n->key, s32);
    bm_peer_id_from_privkey(&n->id, &n->key);
    snprintf(text, sizeof(text), "/ip4/127.0.0.1/tcp/%u", (unsigned)port);
    assert_int_equal(bm_multiaddr_parse(&listen, text, strlen(text), NULL),
                     BM_OK);
    if (base != NULL) {
        cfg = *base;
    } else {
        bm_p2p_host_config_init(&cfg);
    }
    cfg.identity = &n->key;
    cfg.listen = &listen;
    cfg.n_listen = 1;
    assert_int_equal(bm_p2p_host_new(&n->h, &cfg, NULL), BM_OK);
    assert_int_equal(bm_p2p_host_listen_addrs(n->h, &n->addr, 1), 1);
    n->addr.has_peer = true;
    n->addr.peer = n->id;
}

/* A stopped host listening on 127.0.0.1, port 0, identity seed byte. */
static inline void gu_host_new(struct gu_host *n, uint8_t seed)
{
    gu_host_new_with(n, seed, 0, NULL);
}

static inline void gu_host_free(struct gu_host *n)
{
    bm_p2p_host_free(n->h);
    bm_privkey_wipe(&n->key);
    n->h = NULL;
}

/* Runs a function on a loop thread and waits for it. */
struct gu_call {
    void (*fn)(struct bm_p2p_host *h, void *arg);
    void *arg;
    struct gu_sync s;
};

static inline void gu_call_tramp(struct bm_p2p_host *h, void *arg)
{
    struct gu_call *c = arg;

    c->fn(h, c->arg);
    gu_sync_done(&c->s, BM_OK);
}

static inline void gu_on_loop(struct gu_host *n,
                              void (*fn)(struct bm_p2p_host *h, void *arg),
                              void *arg)
{
    struct gu_call c = {.fn = fn, .arg = arg};

    gu_sync_init(&c.s);
    assert_int_equal(bm_p2p_host_post(n->h, gu_call_tramp, &c), BM_OK);
    assert_int_equal(gu_sync_wait(&c.s, GU_WAIT_MS), BM_OK);
    gu_sync_release(&c.s);
}

struct gu_dial {
    struct bm_multiaddr addr;
    struct gu_sync s;
};

static inline void gu_dial_cb(struct bm_p2p_host *h, int err,
                              struct bm_p2p_conn_id conn,
                              const struct bm_peer_id *peer, void *arg)
{
    (void)h;
    (void)conn;
    (void)peer;
    gu_sync_done(arg, err);
}

static inline void gu_dial_run(struct bm_p2p_host *h, void *arg)
{
    struct gu_dial *d = arg;
    int err = bm_p2p_host_dial_loop(h, &d->addr, false, gu_dial_cb, &d->s);

    if (err != BM_OK) {
        gu_sync_done(&d->s, err);
    }
}

/* Dials `to` from `from` and waits until Noise and yamux are up. */
static inline int gu_dial(struct gu_host *from, const struct gu_host *to)
{
    struct gu_dial d = {.addr = to->addr};
    int err;

    gu_sync_init(&d.s);
    assert_int_equal(bm_p2p_host_post(from->h, gu_dial_run, &d), BM_OK);
    err = gu_sync_wait(&d.s, GU_WAIT_MS);
    gu_sync_release(&d.s);
    return err;
}

/* Polls pred(arg) every 5 ms for up to ms. */
static inline bool gu_eventually(bool (*pred)(void *arg), void *arg,
                                 unsigned ms)
{
    for (unsigned i = 0; i < ms / 5; i++) {
        if (pred(arg)) {
            return true;
        }
        gu_sleep(5);
    }
    return pred(arg);
}

#endif /* BM_TESTS_P2P_GOSSIP_UTIL_H */
