/*
 * The Manager facade (include/blockv2/manager.h): builds the env and the
 * actor tree, starts and stops them, answers the v1 inspection calls, and
 * turns a fatal error or a supervisor that gave up into a stop.
 */
#include "blockv2/manager.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "actors/aggregator.h"
#include "actors/bootstrap.h"
#include "actors/catchup.h"
#include "actors/da_includer.h"
#include "actors/da_submitter.h"
#include "actors/env.h"
#include "actors/ha_gate.h"
#include "actors/producer.h"
#include "actors/replayer.h"
#include "actors/state.h"
#include "actors/store_sync.h"
#include "actors/validator.h"
#include "blockv2/actor.h"
#include "blockv2/ha.h"
#include "manager/tree.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

/* Time a caller waits for the State actor / the producer. */
#define CALL_TIMEOUT_MS 10000
#define PRODUCE_TIMEOUT_MS 120000
/* Time actors get to stop. */
#define STOP_TIMEOUT_MS 60000
/* Time the block in flight gets to commit at a graceful stop. */
#define DRAIN_TIMEOUT_MS 30000

struct bm_manager {
    struct bm_env env;
    struct bm_actor_system *sys;
    struct bm_tree tree;
    pthread_mutex_t mu;
    bool started;
    bool stopped;
    /* Watcher: turns a fatal error (an escalation is one too) into a
     * stop. It sleeps on wcv until one is recorded or the manager stops:
     * no polling. */
    pthread_t watcher;
    bool watcher_running;
    pthread_mutex_t wmu;
    struct bm_cond wcv;
    bool fatal_seen; /* under wmu */
    atomic_bool quit;
    void (*on_fatal)(void *arg, int err); /* bm_manager_params */
    void *on_fatal_arg;
    int stop_err;
    struct bm_errmsg stop_em;
};

/* env->on_fatal: runs once, on the thread that recorded the first fatal
 * error (often an actor): wakes the watcher, then the caller's hook. */
static void on_env_fatal(void *arg, int err)
{
    struct bm_manager *m = arg;

    (void)pthread_setname_np(pthread_self(), "bm-watch");
    pthread_mutex_lock(&m->wmu);
    m->fatal_seen = true;
    bm_cond_broadcast(&m->wcv);
    pthread_mutex_unlock(&m->wmu);
    if (m->on_fatal != NULL) {
        m->on_fatal(m->on_fatal_arg, err);
    }
}

/* The root supervisor gave up (on its actor thread): a fatal error. */
static void on_root_failure(void *arg, int reason)
{
    struct bm_manager *m = arg;

    bm_env_fatal(&m->env, "supervisor", reason,
                 "the block manager's supervisor gave up "
                 "(restart intensity exceeded)");
}

enum bm_err bm_manager_new(struct bm_manager **out,
                           const struct bm_manager_params *p,
                           struct bm_errmsg *em)
{
    struct bm_manager *m;
    struct bm_actor_system_config scfg;
    enum bm_err err;

    *out = NULL;
    err = bm_crypto_init();
    if (err != BM_OK) {
        return bm_errf(em, err, "manager: libsodium init failed");
    }
    m = bm_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->wmu, NULL);
    bm_cond_init(&m->wcv);
    atomic_init(&m->quit, false);
    err = bm_env_init(&m->env, p, em);
    if (err != BM_OK) {
        pthread_mutex_destroy(&m->mu);
        pthread_mutex_destroy(&m->wmu);
        bm_cond_destroy(&m->wcv);
        bm_free(m);
        return err;
    }
    m->on_fatal = p->on_fatal;
    m->on_fatal_arg = p->on_fatal_arg;
    m->env.on_fatal = on_env_fatal;
    m->env.on_fatal_arg = m;
    bm_actor_system_config_init(&scfg);
    scfg.workers = m->env.cfg.workers;
    scfg.default_capacity = m->env.cfg.mailbox_capacity;
    scfg.on_root_failure = on_root_failure;
    scfg.on_root_failure_arg = m;
    err = bm_actor_system_new(&m->sys, &scfg);
    if (err != BM_OK) {
        bm_env_release(&m->env);
        pthread_mutex_destroy(&m->mu);
        pthread_mutex_destroy(&m->wmu);
        bm_cond_destroy(&m->wcv);
        bm_free(m);
        return bm_errf(em, err, "manager: cannot create the actor system");
    }
    m->env.sys = m->sys;
    *out = m;
    return BM_OK;
}

static void *watch(void *arg)
{
    struct bm_manager *m = arg;

    (void)pthread_setname_np(pthread_self(), "bm-watch");
    pthread_mutex_lock(&m->wmu);
    while (!m->fatal_seen && !atomic_load(&m->quit)) {
        bm_cond_wait(&m->wcv, &m->wmu);
    }
    pthread_mutex_unlock(&m->wmu);
    if (!atomic_load(&m->quit)) {
        bm_log_error("manager", "stopping after a fatal error");
        bm_actor_system_stop(m->sys, STOP_TIMEOUT_MS);
    }
    return NULL;
}

/* Operator errors of the DA blob limit, found before anything runs: a
 * queued tx that no block can hold, a block not yet on DA whose blob is
 * now too big, a header that does not fit. */
static enum bm_err check_da_limits(struct bm_env *env, struct bm_errmsg *em)
{
    struct bm_errmsg sem = {{0}};
    enum bm_err err;

    if (env->seq != NULL) {
        err = bm_seq_cap_tx_bytes(env->seq, env->block_max_tx, &sem);
        if (err == BM_ETOOBIG) {
            return bm_errf(em, BM_ECONFIG, "da.max_blob_size: %zu bytes "
                           "hold txs of at most %zu bytes: %s",
                           env->cfg.da_max_blob_size, env->block_max_tx,
                           bm_errmsg_str(&sem, err));
        }
        if (err != BM_OK) {
            return bm_errf(em, err, "%s", bm_errmsg_str(&sem, err));
        }
    }
    if (env->cfg.aggregator && env->da != NULL && env->has_signer) {
        return bm_da_submitter_check_start(env, em);
    }
    return BM_OK;
}

/* HA: a candidate that becomes leader starts its first round now, not
 * at the next block tick (the Producer's gate decides; docs/HA.md
 * "Timing"). The election's session thread; never blocks. */
static void on_ha_role(void *arg, enum bm_ha_role role, int64_t token,
                       enum bm_ha_reason why)
{
    struct bm_manager *m = arg;
    struct bm_aggregator_kick k = {0};

    (void)token;
    (void)why;
    if (role == BM_HA_LEADER &&
        !bm_actor_id_is_none(m->env.ids.aggregator)) {
        (void)bm_aggregator_tell_kick(m->sys, bm_env_aggregator(&m->env), &k);
    }
}

enum bm_err bm_manager_start(struct bm_manager *m, struct bm_errmsg *em)
{
    struct bm_state st = {0};
    enum bm_err err;

    pthread_mutex_lock(&m->mu);
    if (m->started) {
        pthread_mutex_unlock(&m->mu);
        return bm_errf(em, BM_ESTATE, "manager: already started");
    }
    m->started = true;
    pthread_mutex_unlock(&m->mu);
    /* HA: a deposed leader's block the cluster did not accept */
    err = bm_ha_gate_rollback_diverged(&m->env, em);
    if (err != BM_OK) {
        return err;
    }
    err = bm_bootstrap_state(&m->env, &st, em);
    if (err == BM_OK) {
        /* Before producing or syncing: the executor at the store height. */
        err = bm_replayer_sync(&m->env, &st, em);
    }
    bm_state_release(&st);
    if (err != BM_OK) {
        return err;
    }
    err = check_da_limits(&m->env, em);
    if (err != BM_OK) {
        return err;
    }
    /* node.catchup_timeout: sync from DA before producing. */
    bm_catchup_begin(&m->env);
    bm_tree_build(&m->tree, &m->env);
    /* The tree is built before the system runs: every id in env->ids is
     * written before any actor can read it. */
    err = bm_tree_start(&m->tree, &m->env, em);
    if (err != BM_OK) {
        return err;
    }
    err = bm_actor_system_start(m->sys);
    if (err != BM_OK) {
        return bm_errf(em, err, "manager: cannot start the actor system");
    }
    if (m->env.ha != NULL) {
        uint64_t h = 0;

        err = bm_store_height(m->env.store, &h, NULL);
        if (err == BM_OK || err == BM_ENOTFOUND) {
            bm_ha_note_store_height(m->env.ha, err == BM_OK ? h : 0);
        }
        bm_ha_set_listener(m->env.ha, on_ha_role, m);
    }
    if (pthread_create(&m->watcher, NULL, watch, m) == 0) {
        m->watcher_running = true;
    } else {
        if (m->env.ha != NULL) {
            bm_ha_set_listener(m->env.ha, NULL, NULL);
        }
        bm_actor_system_stop(m->sys, STOP_TIMEOUT_MS);
        return bm_errf(em, BM_ESYS, "manager: cannot create a thread");
    }
    bm_log_info("manager", "started mode=%s da=%s block_time_ms=%llu lazy=%s",
                m->env.cfg.aggregator ? "aggregator" : "full",
                m->env.da != NULL ? "on" : "off",
                (unsigned long long)m->env.cfg.block_time_ms,
                m->env.cfg.lazy_mode ? "true" : "false");
    return BM_OK;
}

static bool running(struct bm_manager *m)
{
    bool r;

    pthread_mutex_lock(&m->mu);
    r = m->started && !m->stopped;
    pthread_mutex_unlock(&m->mu);
    return r && !bm_env_halted(&m->env);
}

enum bm_err bm_manager_produce_block(struct bm_manager *m, uint64_t *height,
                                     struct bm_errmsg *em)
{
    struct bm_producer_req req = {BM_PRODUCE_MANUAL};
    struct bm_producer_result res = {0};
    int err;

    if (!m->env.cfg.aggregator) {
        return bm_errf(em, BM_ESTATE, "produce_block: not an aggregator");
    }
    if (!running(m)) {
        return bm_errf(em, BM_ESTATE, "produce_block: manager not running");
    }
    /* The caller's thread runs the block if the lane is idle (manager.h). */
    err = bm_producer_call_produce_inline(m->sys, bm_env_producer(&m->env),
                                          &req, &res, PRODUCE_TIMEOUT_MS);
    if (err != BM_OK) {
        return bm_errf(em, err, "produce_block: %s", bm_err_name(err));
    }
    if (!res.produced) {
        return bm_errf(em, BM_EAGAIN, "produce_block: no block made (%s)",
                       res.catching_up    ? "catching up from DA"
                       : res.backpressure ? "too many blocks not yet on DA"
                                          : "nothing to produce");
    }
    if (height != NULL) {
        *height = res.height;
    }
    return BM_OK;
}

enum bm_err bm_manager_get_last_state(struct bm_manager *m,
                                      struct bm_state *out)
{
    struct bm_state_get req = {0};
    struct bm_state_info info = {0};
    struct bm_buf b = {0};
    enum bm_err err;

    if (running(m)) {
        err = bm_state_call_get(m->sys, bm_env_state(&m->env), &req, &info,
                                CALL_TIMEOUT_MS);
        if (err == BM_OK) {
            err = bm_state_copy(out, info.state);
            bm_state_info_dtor(&info);
            return err;
        }
    }
    /* Not running (or the State actor is restarting): read the store. */
    err = bm_store_get_latest_state(m->env.store, NULL, &b, NULL);
    if (err == BM_OK) {
        bm_state_release(out);
        err = bm_state_decode(out, b.ptr, b.len);
    }
    bm_buf_release(&b);
    return err;
}

/* A graceful stop lets the block in flight commit before the actors stop
 * (the Producer refuses new rounds once env.stopping is set, and answers
 * DRAIN when none is in flight). Best effort, bounded. */
static void drain_producer(struct bm_manager *m)
{
    struct bm_producer_drain req = {0};
    struct bm_producer_drained res = {0};

    if (bm_actor_id_is_none(m->env.ids.producer) || bm_env_halted(&m->env)) {
        return;
    }
    (void)bm_producer_call_drain(m->sys, bm_env_producer(&m->env), &req,
                                 &res, DRAIN_TIMEOUT_MS);
}

enum bm_err bm_manager_stop(struct bm_manager *m, struct bm_errmsg *em)
{
    int sys_err;
    int fatal;
    struct bm_errmsg fem = {{0}};

    pthread_mutex_lock(&m->mu);
    if (m->stopped || !m->started) {
        bool was = m->stopped;

        m->stopped = true;
        pthread_mutex_unlock(&m->mu);
        if (was && m->stop_err != BM_OK && em != NULL) {
            *em = m->stop_em;
        }
        return was ? m->stop_err : BM_OK;
    }
    m->stopped = true;
    pthread_mutex_unlock(&m->mu);
    atomic_store(&m->env.stopping, true);
    if (m->env.ha != NULL) {
        bm_ha_set_listener(m->env.ha, NULL, NULL);
    }
    drain_producer(m);
    pthread_mutex_lock(&m->wmu);
    atomic_store(&m->quit, true);
    bm_cond_broadcast(&m->wcv);
    pthread_mutex_unlock(&m->wmu);
    if (m->watcher_running) {
        pthread_join(m->watcher, NULL);
        m->watcher_running = false;
    }
    sys_err = bm_actor_system_stop(m->sys, STOP_TIMEOUT_MS);
    fatal = bm_env_wait_fatal(&m->env, 0, &fem);
    if (fatal != BM_ETIMEDOUT) {
        m->stop_err = fatal;
        m->stop_em = fem;
    } else if (sys_err != BM_OK) {
        m->stop_err = sys_err;
        bm_errf(&m->stop_em, sys_err, "manager: actor system: %s",
                bm_err_name(sys_err));
    }
    bm_log_info("manager", "stopped err=%s", bm_err_name(m->stop_err));
    if (m->stop_err != BM_OK && em != NULL) {
        *em = m->stop_em;
    }
    return m->stop_err;
}

enum bm_err bm_manager_wait(struct bm_manager *m, int64_t timeout_ms,
                            struct bm_errmsg *em)
{
    return bm_env_wait_fatal(&m->env, timeout_ms, em);
}

void bm_manager_fail(struct bm_manager *m, const char *who, int err,
                     const char *msg)
{
    if (m != NULL) {
        bm_env_fatal(&m->env, who, err, "%s", msg);
    }
}

void bm_manager_free(struct bm_manager *m)
{
    if (m == NULL) {
        return;
    }
    (void)bm_manager_stop(m, NULL);
    bm_actor_system_free(m->sys);
    bm_env_release(&m->env);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->wmu);
    bm_cond_destroy(&m->wcv);
    bm_free(m);
}

/* ---- inspection ---- */

enum bm_err bm_manager_get_store_height(struct bm_manager *m, uint64_t *out)
{
    return bm_store_height(m->env.store, out, NULL);
}

uint64_t bm_manager_get_da_included_height(struct bm_manager *m)
{
    return atomic_load_explicit(&m->env.m.da_included_height,
                                memory_order_relaxed);
}

enum bm_err bm_manager_is_da_included(struct bm_manager *m, uint64_t height,
                                      bool *out)
{
    return bm_da_includer_is_included(&m->env, height, out, NULL);
}

bool bm_manager_is_block_hash_seen(struct bm_manager *m,
                                   const struct bm_hash *hash)
{
    uint64_t h;

    return bm_env_is_seen(&m->env, hash) ||
           bm_store_get_height_by_hash(m->env.store, hash, &h, NULL) == BM_OK;
}

void bm_manager_notify_p2p(struct bm_manager *m)
{
    struct bm_store_sync_tick t = {0};

    if (running(m) && !bm_actor_id_is_none(m->env.ids.store_sync)) {
        (void)bm_store_sync_tell_wake(m->sys, bm_env_store_sync(&m->env), &t);
    }
}

bool bm_manager_catching_up(struct bm_manager *m)
{
    return m != NULL && bm_catchup_active(&m->env);
}

void bm_manager_notify_new_transactions(struct bm_manager *m)
{
    struct bm_aggregator_txs t = {1};

    if (running(m) && !bm_actor_id_is_none(m->env.ids.aggregator)) {
        (void)bm_aggregator_tell_txs(m->sys, bm_env_aggregator(&m->env), &t);
    }
}

static uint64_t pending(struct bm_manager *m, atomic_uint_least64_t *last)
{
    uint64_t h = 0;
    uint64_t l = atomic_load_explicit(last, memory_order_relaxed);

    if (bm_store_height(m->env.store, &h, NULL) != BM_OK) {
        return 0;
    }
    return h > l ? h - l : 0;
}

uint64_t bm_manager_pending_headers(struct bm_manager *m)
{
    return pending(m, &m->env.m.last_submitted_header);
}

uint64_t bm_manager_pending_data(struct bm_manager *m)
{
    return pending(m, &m->env.m.last_submitted_data);
}

enum bm_err bm_manager_validate(struct bm_manager *m,
                                const struct bm_signed_header *sh,
                                const struct bm_data *d,
                                struct bm_errmsg *em)
{
    struct bm_state st = {0};
    struct bm_block *b;
    enum bm_err err;

    err = bm_manager_get_last_state(m, &st);
    if (err != BM_OK) {
        return bm_errf(em, err, "validate: no state: %s", bm_err_name(err));
    }
    b = bm_block_new();
    err = bm_signed_header_copy(&b->sh, sh);
    if (err == BM_OK) {
        err = bm_data_copy(&b->data, d);
    }
    if (err == BM_OK) {
        err = bm_block_rehash(b);
    }
    if (err == BM_OK) {
        err = bm_validator_check(b, &st, &m->env.genesis->proposer_address,
                                 NULL, 0, em);
    }
    bm_block_unref(b);
    bm_state_release(&st);
    return err;
}

/* ---- observability ---- */

#define LOAD(f) atomic_load_explicit(&e->m.f, memory_order_relaxed)

void bm_manager_metrics(struct bm_manager *m, struct bm_manager_metrics *out)
{
    const struct bm_env *e = &m->env;

    memset(out, 0, sizeof(*out));
    out->height = LOAD(height);
    out->da_included_height = LOAD(da_included_height);
    out->last_block_txs = LOAD(last_block_txs);
    out->total_txs = LOAD(total_txs);
    out->last_block_bytes = LOAD(last_block_bytes);
    out->blocks_produced = LOAD(blocks_produced);
    out->blocks_synced_da = LOAD(blocks_synced_da);
    out->blocks_synced_p2p = LOAD(blocks_synced_p2p);
    out->da_submissions = LOAD(da_submissions);
    out->da_submit_failures = LOAD(da_submit_failures);
    out->da_submit_too_big = LOAD(da_submit_too_big);
    out->da_submit_mempool = LOAD(da_submit_mempool);
    out->da_submit_other = LOAD(da_submit_other);
    out->headers_submitted = LOAD(headers_submitted);
    out->data_submitted = LOAD(data_submitted);
    out->da_heights_scanned = LOAD(da_heights_scanned);
    out->da_retrieve_errors = LOAD(da_retrieve_errors);
    out->reaper_txs = LOAD(reaper_txs);
    out->skipped_backpressure = LOAD(skipped_backpressure);
    out->exec_failures = LOAD(exec_failures);
    out->p2p_blocks_rejected = LOAD(p2p_blocks_rejected);
    out->p2p_items_skipped = LOAD(p2p_items_skipped);
    out->da_conflicts = LOAD(da_conflicts);
    for (int i = 0; i < BM_DA_REJ_COUNT; i++) {
        out->da_rejected[i] = LOAD(da_rejected[i]);
    }
    out->da_blocks_rejected = LOAD(da_blocks_rejected);
}

const char *bm_da_reject_name(enum bm_da_reject r)
{
    static const char *const names[BM_DA_REJ_COUNT] = {
        [BM_DA_REJ_DECODE] = "decode",
        [BM_DA_REJ_INVALID] = "invalid",
        [BM_DA_REJ_SIGNATURE] = "bad_signature",
        [BM_DA_REJ_CHAIN_ID] = "chain_id",
        [BM_DA_REJ_PROPOSER] = "proposer",
        [BM_DA_REJ_ENVELOPE] = "envelope",
    };

    return (unsigned)r < BM_DA_REJ_COUNT ? names[r] : "unknown";
}

struct bm_actor_system *bm_manager_actor_system(struct bm_manager *m)
{
    return m != NULL ? m->sys : NULL;
}

int bm_manager_breaker_state(struct bm_manager *m, const char *name)
{
    if (strcmp(name, "da") == 0) {
        return (int)bm_breaker_state(m->env.da_breaker);
    }
    if (strcmp(name, "exec") == 0) {
        return (int)bm_breaker_state(m->env.exec_breaker);
    }
    return -1;
}

bool bm_manager_tx_allow(struct bm_manager *m, uint64_t n)
{
    return m->env.tx_limiter == NULL ||
           bm_limiter_allow_n(m->env.tx_limiter, n);
}

bool bm_manager_limiter_stats(struct bm_manager *m, const char *name,
                              struct bm_limiter_stats *out)
{
    struct bm_limiter *l = NULL;

    if (strcmp(name, "tx") == 0) {
        l = m->env.tx_limiter;
    } else if (strcmp(name, "reaper") == 0) {
        l = m->env.reaper_limiter;
    }
    if (l == NULL) {
        return false;
    }
    bm_limiter_stats(l, out);
    return true;
}

enum bm_err bm_manager_debug_crash_actor(struct bm_manager *m,
                                         const char *name)
{
    struct bm_actor_id id = bm_tree_lookup(&m->env, name);

    if (bm_actor_id_is_none(id)) {
        return BM_ENOTFOUND;
    }
    return bm_actor_kill(m->sys, id, BM_EFATAL);
}
