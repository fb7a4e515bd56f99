/* Shared by the HA tests: a real etcd per group, candidates, waits. */
#ifndef BM_TESTS_HA_HA_TEST_UTIL_H
#define BM_TESTS_HA_HA_TEST_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bm_test.h"
#include "blockv2/ha.h"
#include "blockv2/types.h"
#include "etcd_proc.h"
#include "ha/etcd.h"
#include "util/clock.h"
#include "util/errmsg.h"

/* Skips (outside CI) or fails (in CI) when there is no etcd binary. */
#define HA_NEED_ETCD()                                                         \
    do {                                                                       \
        if (etcd_proc_binary() == NULL) {                                      \
            if (etcd_proc_required()) {                                        \
                fail_msg("etcd not installed (CI): apt-get install "           \
                         "etcd-server (scripts/bootstrap.sh)");                \
            }                                                                  \
            fprintf(stderr, "skip: no etcd binary (apt-get install "           \
                            "etcd-server)\n");                                 \
            skip();                                                            \
        }                                                                      \
    } while (0)

/* The etcd a test starts for itself (static, so that the test's teardown
 * removes it even when an assertion ended the test early). */
static struct etcd_proc ha_own_proc;

static inline struct etcd_proc *ha_start_etcd(void)
{
    HA_NEED_ETCD();
    if (!etcd_proc_start(&ha_own_proc)) {
        fail_msg("cannot start etcd (see %s/etcd.log)", ha_own_proc.dir);
    }
    return &ha_own_proc;
}

/* cmocka teardown of the tests that call ha_start_etcd. */
static inline int ha_teardown_etcd(void **state)
{
    (void)state;
    etcd_proc_destroy(&ha_own_proc);
    return 0;
}

static inline struct bm_etcd *ha_client(const char *url)
{
    const char *eps[1] = {url};
    struct bm_etcd_config cfg = {eps, 1, 2000, 0};
    struct bm_etcd *e = NULL;
    struct bm_errmsg em;

    if (bm_etcd_new(&e, &cfg, &em) != BM_OK) {
        fail_msg("bm_etcd_new: %s", em.msg);
    }
    return e;
}

/* What the role callback saw. */
struct ha_rec {
    pthread_mutex_t mu;
    enum bm_ha_role role;
    int64_t token;
    enum bm_ha_reason why;
    int calls;
    uint64_t at_ns; /* of the last call */
};

static inline void ha_rec_cb(void *arg, enum bm_ha_role role, int64_t token,
                             enum bm_ha_reason why)
{
    struct ha_rec *r = arg;

    pthread_mutex_lock(&r->mu);
    r->role = role;
    r->token = token;
    r->why = why;
    r->calls++;
    r->at_ns = bm_clock_now_ns();
    pthread_mutex_unlock(&r->mu);
}

static inline void ha_rec_get(struct ha_rec *r, struct ha_rec *out)
{
    pthread_mutex_lock(&r->mu);
    out->role = r->role;
    out->token = r->token;
    out->why = r->why;
    out->calls = r->calls;
    out->at_ns = r->at_ns;
    pthread_mutex_unlock(&r->mu);
}

/* Waits (ms at most) until the recorder r holds role; *out gets its last
 * state either way. The status (bm_ha_status) flips before the callbacks
 * run (they run outside the state lock), so a check of what a callback
 * saw waits for the callback itself. */
static inline void ha_rec_wait_role(struct ha_rec *r, enum bm_ha_role role,
                                    int64_t ms, struct ha_rec *out)
{
    uint64_t deadline = bm_clock_deadline_ms(ms);

    do {
        ha_rec_get(r, out);
        if (out->role == role) {
            return;
        }
        bm_sleep_ms(2);
    } while (bm_clock_now_ns() < deadline);
}

/* A candidate with its recorder. */
struct ha_cand {
    struct bm_ha *h;
    struct ha_rec rec;
    char id[32];
};

static inline enum bm_err ha_cand_new(struct ha_cand *c, const char *url,
                                      const char *prefix, const char *id,
                                      uint32_t ttl_s, struct bm_errmsg *em)
{
    const char *eps[1] = {url};
    struct bm_ha_config cfg;

    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->rec.mu, NULL);
    snprintf(c->id, sizeof(c->id), "%s", id);
    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoints = eps;
    cfg.n_endpoints = 1;
    cfg.prefix = prefix;
    cfg.node_id = id;
    cfg.lease_ttl_s = ttl_s;
    cfg.on_role = ha_rec_cb;
    cfg.arg = &c->rec;
    return bm_ha_new(&c->h, &cfg, em);
}

static inline void ha_cand_start(struct ha_cand *c, const char *url,
                                 const char *prefix, const char *id,
                                 uint32_t ttl_s)
{
    struct bm_errmsg em = {{0}};
    enum bm_err err = ha_cand_new(c, url, prefix, id, ttl_s, &em);

    if (err == BM_OK) {
        err = bm_ha_start(c->h, &em);
    }
    if (err != BM_OK) {
        fail_msg("candidate %s: %s", id, bm_errmsg_str(&em, err));
    }
}

static inline void ha_cand_free(struct ha_cand *c)
{
    bm_ha_free(c->h);
    c->h = NULL;
    pthread_mutex_destroy(&c->rec.mu);
}

static inline enum bm_ha_role ha_role(struct ha_cand *c, int64_t *token)
{
    struct bm_ha_status st;

    bm_ha_status(c->h, &st);
    if (token != NULL) {
        *token = st.token;
    }
    return st.role;
}

/* Waits up to ms for one of cs[0..n) to lead; returns its index or -1. */
static inline int ha_wait_leader(struct ha_cand *cs, size_t n, int64_t ms)
{
    uint64_t deadline = bm_clock_deadline_ms(ms);

    do {
        for (size_t i = 0; i < n; i++) {
            if (cs[i].h != NULL && ha_role(&cs[i], NULL) == BM_HA_LEADER) {
                return (int)i;
            }
        }
        bm_sleep_ms(5);
    } while (bm_clock_now_ns() < deadline);
    return -1;
}

/* Waits up to ms for c's role to be `role`; returns the ms it took or -1. */
static inline int64_t ha_wait_role(struct ha_cand *c, enum bm_ha_role role,
                                   int64_t ms)
{
    uint64_t start = bm_clock_now_ns();
    uint64_t deadline = bm_clock_deadline_ms(ms);

    do {
        if (ha_role(c, NULL) == role) {
            return (int64_t)((bm_clock_now_ns() - start) / 1000000u);
        }
        bm_sleep_ms(2);
    } while (bm_clock_now_ns() < deadline);
    return -1;
}

/* A RaftBlockState record of height h. */
static inline void ha_record(uint64_t h, struct bm_buf *out)
{
    struct bm_raft_block_state s = {0};
    uint8_t hash[32];

    memset(hash, (int)h, sizeof(hash));
    s.height = h;
    s.timestamp = 1700000000000000000ull + h;
    assert_int_equal(bm_buf_set(&s.hash, hash, sizeof(hash)), BM_OK);
    assert_int_equal(bm_buf_set(&s.header, (const uint8_t *)"header", 6),
                     BM_OK);
    assert_int_equal(bm_buf_set(&s.data, (const uint8_t *)"data", 4), BM_OK);
    assert_int_equal(bm_raft_block_state_encode(&s, out), BM_OK);
    bm_raft_block_state_release(&s);
}

#endif /* BM_TESTS_HA_HA_TEST_UTIL_H */
