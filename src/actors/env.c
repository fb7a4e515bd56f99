/*
 * The actors' shared environment (env.h): construction from the manager
 * parameters, the fatal path, seen hashes, subscribers, metadata helpers,
 * and the genesis/bootstrap of the state (bootstrap.c has the latter).
 */
#include "actors/env.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

/* Bounded "seen" window, as ev-node's 200,000-entry LRU. */
#define SEEN_CAP 200000u

void bm_manager_config_init(struct bm_manager_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->block_time_ms = 1000;
    cfg->lazy_block_interval_ms = 60000;
    cfg->scrape_interval_ms = 1000;
    cfg->da_block_time_ms = 6000;
    cfg->da_max_submit_attempts = 30;
    cfg->da_request_timeout_ms = 60000;
    cfg->da_max_blob_size = BM_DA_DEFAULT_MAX_BLOB_SIZE;
    cfg->max_batch_bytes = 5u << 20;
    cfg->sync_cache_max = 10000;
    cfg->mailbox_capacity = 1024;
    cfg->workers = 2;
    cfg->exec_breaker_failures = 5;
    cfg->exec_breaker_open_ms = 30000;
    cfg->da_breaker_failures = 5;
    cfg->da_breaker_open_ms = 0; /* filled from da_block_time_ms */
    cfg->reaper_rate = 20.0;
    cfg->tx_rate = 0; /* no tx limiter (rpc.tx_rate_limit) */
    cfg->tx_burst = 0;
}

#define FILL(f)                                                                \
    do {                                                                       \
        if (c->f == 0) {                                                       \
            c->f = d.f;                                                        \
        }                                                                      \
    } while (0)

static void fill_defaults(struct bm_manager_config *c)
{
    struct bm_manager_config d;

    bm_manager_config_init(&d);
    FILL(block_time_ms);
    FILL(lazy_block_interval_ms);
    FILL(scrape_interval_ms);
    FILL(da_block_time_ms);
    FILL(da_max_submit_attempts);
    FILL(da_request_timeout_ms);
    FILL(da_max_blob_size);
    FILL(max_batch_bytes);
    FILL(sync_cache_max);
    FILL(mailbox_capacity);
    FILL(workers);
    FILL(exec_breaker_failures);
    FILL(exec_breaker_open_ms);
    FILL(da_breaker_failures);
    if (c->da_breaker_open_ms == 0) {
        c->da_breaker_open_ms = c->da_block_time_ms;
    }
    if (!(c->reaper_rate > 0)) {
        c->reaper_rate = d.reaper_rate;
    }
    if (!(c->tx_rate > 0)) {
        c->tx_rate = 0;
    }
    if (c->tx_rate > 0 && c->tx_burst == 0) {
        /* One second's worth, and at least a full batch request. */
        c->tx_burst = c->tx_rate < 1000.0 ? 1000 : (uint64_t)c->tx_rate;
    }
    if (c->da_batch_size_threshold == 0) {
        c->da_batch_size_threshold = 0.8;
    }
    if (c->da_batch_max_delay_ms == 0) {
        c->da_batch_max_delay_ms = c->da_block_time_ms;
    }
    if (c->da_batch_min_items == 0) {
        c->da_batch_min_items = 1;
    }
}

/* The batching values, and the room for txs in one DA blob. */
static enum bm_err check_da_sizing(struct bm_env *env, struct bm_errmsg *em)
{
    const struct bm_manager_config *c = &env->cfg;
    const char *chain_id = env->genesis->chain_id ? env->genesis->chain_id
                                                  : "";
    size_t budget = 0;
    enum bm_err err;

    if ((unsigned)c->da_batching_strategy > BM_DA_BATCH_ADAPTIVE) {
        return bm_errf(em, BM_ECONFIG, "da.batching_strategy: got %u, want "
                       "time, immediate, size or adaptive",
                       (unsigned)c->da_batching_strategy);
    }
    if (!(c->da_batch_size_threshold > 0 &&
          c->da_batch_size_threshold <= 1)) {
        return bm_errf(em, BM_ECONFIG, "da.batch_size_threshold: got %g, "
                       "want a fraction of the blob size in (0, 1]",
                       c->da_batch_size_threshold);
    }
    err = bm_signed_data_tx_budget(c->da_max_blob_size, chain_id, &budget);
    if (err == BM_ETOOBIG) {
        return bm_errf(em, BM_ECONFIG, "da.max_blob_size: %zu bytes leave "
                       "no room for txs in a block's data blob",
                       c->da_max_blob_size);
    }
    if (err != BM_OK) {
        return bm_errf(em, err, "manager: cannot size blocks: %s",
                       bm_err_name(err));
    }
    env->block_tx_budget =
        c->max_batch_bytes < budget ? (size_t)c->max_batch_bytes : budget;
    env->block_max_tx = bm_data_max_tx_len(env->block_tx_budget);
    return BM_OK;
}

/*
 * The producer does not verify its own fresh signatures (the Validator's
 * own-block check): instead the key is checked once here. A signature
 * made with the secret half must verify with the public half; a key whose
 * halves do not belong together (a damaged key file) would otherwise sign
 * every block invalidly.
 */
static enum bm_err check_key_pair(const struct bm_privkey *k,
                                  const uint8_t pub[BM_PUBKEY_SIZE],
                                  struct bm_errmsg *em)
{
    static const uint8_t msg[] = "blockv2 signer self-check";
    struct bm_buf sig = {0};
    enum bm_err err = bm_sign(k, msg, sizeof(msg), &sig);

    if (err == BM_OK && !bm_verify(pub, msg, sizeof(msg), sig.ptr, sig.len)) {
        err = bm_errf(em, BM_EBADKEY,
                      "signer: a signature made with the key does not "
                      "verify with its public key (damaged key)");
    }
    bm_buf_release(&sig);
    return err;
}

enum bm_err bm_env_init(struct bm_env *env, const struct bm_manager_params *p,
                        struct bm_errmsg *em)
{
    int err;

    memset(env, 0, sizeof(*env));
    pthread_mutex_init(&env->sub_mu, NULL);
    pthread_mutex_init(&env->seen_mu, NULL);
    pthread_mutex_init(&env->fatal_mu, NULL);
    bm_cond_init(&env->fatal_cv);
    atomic_init(&env->halted, false);
    atomic_init(&env->stopping, false);
    atomic_init(&env->catching_up, false);
    atomic_init(&env->catchup_da_done, false);
    atomic_init(&env->catchup_epoch, 0);
    atomic_init(&env->ha_applied_height, 0);
    atomic_init(&env->ha_applied_ms, 0);
    atomic_init(&env->ha_unreplicated, 0);
    if (p == NULL || p->config == NULL || p->genesis == NULL ||
        p->store == NULL || p->exec == NULL) {
        err = bm_errf(em, BM_EINVAL,
                      "manager: config, genesis, store and executor are "
                      "required");
        goto fail;
    }
    env->cfg = *p->config;
    fill_defaults(&env->cfg);
    env->genesis = p->genesis;
    env->store = p->store;
    env->exec = p->exec;
    env->seq = p->seq;
    env->da = p->da;
    env->header_store = p->header_store;
    env->data_store = p->data_store;
    env->header_bc = p->header_broadcaster;
    env->data_bc = p->data_broadcaster;
    env->ha = p->ha;
    err = check_da_sizing(env, em);
    if (err != BM_OK) {
        goto fail;
    }
    if (env->cfg.lazy_mode &&
        env->cfg.lazy_block_interval_ms < env->cfg.block_time_ms) {
        err = bm_errf(em, BM_ECONFIG,
                      "node.lazy_block_interval: %llu ms is shorter than "
                      "node.block_time %llu ms",
                      (unsigned long long)env->cfg.lazy_block_interval_ms,
                      (unsigned long long)env->cfg.block_time_ms);
        goto fail;
    }
    if (env->cfg.catchup_timeout_ms > 0 && !env->cfg.aggregator) {
        err = bm_errf(em, BM_ECONFIG,
                      "node.catchup_timeout: requires node.aggregator (a "
                      "full node always syncs)");
        goto fail;
    }
    if (p->da != NULL) {
        err = bm_da_namespaces_from_config(&env->ns, env->cfg.da_namespace,
                                           env->cfg.da_data_namespace, em);
        if (err != BM_OK) {
            goto fail;
        }
    }
    /* The namespace strings are borrowed from the caller's config; the
     * env keeps only the derived bytes. */
    env->cfg.da_namespace = NULL;
    env->cfg.da_data_namespace = NULL;
    if (p->signer != NULL) {
        struct bm_hash addr;

        env->has_signer = true;
        env->signer = *p->signer;
        err = bm_signer_from_privkey(&env->signer_info, &env->signer);
        if (err != BM_OK) {
            goto fail;
        }
        bm_address_from_pubkey(env->signer_info.pub_key, &addr);
        if (env->cfg.aggregator &&
            !bm_buf_eq_raw(&p->genesis->proposer_address, addr.b,
                           sizeof(addr.b))) {
            err = bm_errf(em, BM_ENOT_PROPOSER,
                          "signer: address is not the genesis proposer "
                          "(genesis.proposer_address)");
            goto fail;
        }
        err = check_key_pair(&env->signer, env->signer_info.pub_key, em);
        if (err != BM_OK) {
            goto fail;
        }
    }
    if (env->cfg.aggregator && (!env->has_signer || env->seq == NULL)) {
        err = bm_errf(em, BM_EINVAL,
                      "manager: an aggregator needs a signer and a "
                      "sequencer");
        goto fail;
    }
    err = bm_breaker_new_simple(&env->da_breaker, "da",
                                env->cfg.da_breaker_failures,
                                env->cfg.da_breaker_open_ms * 1000000ull);
    if (err == BM_OK) {
        err = bm_breaker_new_simple(&env->exec_breaker, "exec",
                                    env->cfg.exec_breaker_failures,
                                    env->cfg.exec_breaker_open_ms * 1000000ull);
    }
    if (err == BM_OK) {
        err = bm_limiter_new_simple(&env->reaper_limiter, "reaper", 10,
                                    env->cfg.reaper_rate);
    }
    if (err == BM_OK && env->cfg.tx_rate > 0) {
        err = bm_limiter_new_simple(&env->tx_limiter, "tx",
                                    env->cfg.tx_burst, env->cfg.tx_rate);
    }
    if (err == BM_OK) {
        err = bm__txwin_init(&env->seen, SEEN_CAP);
    }
    if (err == BM_OK) {
        /* 8 MiB of table filled at random: a fresh node's first ~10,000
         * blocks would otherwise fault ~2,000 pages one by one. */
        bm__txwin_prefault(&env->seen);
    }
    if (err != BM_OK) {
        err = bm_errf(em, err, "manager: cannot create breakers/limiters: %s",
                      bm_err_name(err));
        goto fail;
    }
    return BM_OK;
fail:
    bm_env_release(env);
    return err;
}

void bm_env_release(struct bm_env *env)
{
    bm_breaker_free(env->da_breaker);
    bm_breaker_free(env->exec_breaker);
    bm_limiter_free(env->reaper_limiter);
    bm_limiter_free(env->tx_limiter);
    env->da_breaker = env->exec_breaker = NULL;
    env->reaper_limiter = env->tx_limiter = NULL;
    bm__txwin_release(&env->seen);
    bm_signer_release(&env->signer_info);
    bm_privkey_wipe(&env->signer);
    pthread_mutex_destroy(&env->sub_mu);
    pthread_mutex_destroy(&env->seen_mu);
    pthread_mutex_destroy(&env->fatal_mu);
    bm_cond_destroy(&env->fatal_cv);
}

void bm_env_fatal(struct bm_env *env, const char *actor, int err,
                  const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    bool first;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err == BM_OK) {
        err = BM_EFATAL;
    }
    pthread_mutex_lock(&env->fatal_mu);
    first = env->fatal_err == BM_OK;
    if (first) {
        env->fatal_err = err;
        snprintf(env->fatal_msg, sizeof(env->fatal_msg), "%s: %s",
                 actor != NULL ? actor : "manager", msg);
        atomic_store(&env->halted, true);
        bm_cond_broadcast(&env->fatal_cv);
    }
    pthread_mutex_unlock(&env->fatal_mu);
    bm_log_error("manager", "fatal actor=%s err=%s %s%s",
                 actor != NULL ? actor : "manager", bm_err_name(err), msg,
                 first ? "" : " (after an earlier fatal error)");
    if (first && env->on_fatal != NULL) {
        env->on_fatal(env->on_fatal_arg, err);
    }
}

bool bm_env_halted(struct bm_env *env)
{
    return atomic_load(&env->halted);
}

bool bm_env_quitting(struct bm_env *env)
{
    return atomic_load(&env->halted) || atomic_load(&env->stopping);
}

int bm_env_wait_fatal(struct bm_env *env, int64_t timeout_ms,
                      struct bm_errmsg *em)
{
    uint64_t deadline = bm_clock_deadline_ms(timeout_ms);
    int err;

    pthread_mutex_lock(&env->fatal_mu);
    while (env->fatal_err == BM_OK) {
        if (bm_cond_wait_until(&env->fatal_cv, &env->fatal_mu, deadline) ==
            ETIMEDOUT) {
            break;
        }
    }
    err = env->fatal_err;
    if (err != BM_OK && em != NULL) {
        snprintf(em->msg, sizeof(em->msg), "%s", env->fatal_msg);
    }
    pthread_mutex_unlock(&env->fatal_mu);
    return err != BM_OK ? err : BM_ETIMEDOUT;
}

void bm_env_mark_seen(struct bm_env *env, const struct bm_hash *h)
{
    pthread_mutex_lock(&env->seen_mu);
    bm__txwin_add(&env->seen, h);
    pthread_mutex_unlock(&env->seen_mu);
}

bool bm_env_is_seen(struct bm_env *env, const struct bm_hash *h)
{
    bool r;

    pthread_mutex_lock(&env->seen_mu);
    r = bm__txwin_has(&env->seen, h);
    pthread_mutex_unlock(&env->seen_mu);
    return r;
}

enum bm_err bm_env_subscribe(struct bm_env *env, struct bm_actor_id id,
                             uint32_t kind)
{
    enum bm_err err = BM_OK;

    pthread_mutex_lock(&env->sub_mu);
    if (env->n_subs == BM_ENV_MAX_SUBSCRIBERS) {
        err = BM_EFULL;
    } else {
        env->subs[env->n_subs].id = id;
        env->subs[env->n_subs].kind = kind;
        env->n_subs++;
    }
    pthread_mutex_unlock(&env->sub_mu);
    return err;
}

size_t bm_env_subscribers(struct bm_env *env,
                          struct bm_env_sub out[BM_ENV_MAX_SUBSCRIBERS])
{
    size_t n;

    pthread_mutex_lock(&env->sub_mu);
    n = env->n_subs;
    memcpy(out, env->subs, n * sizeof(*out));
    pthread_mutex_unlock(&env->sub_mu);
    return n;
}

int64_t bm_env_da_tick_ms(const struct bm_env *env, int64_t min_ms)
{
    int64_t period = (int64_t)(env->cfg.da_block_time_ms / 4);

    return period < min_ms ? min_ms : period;
}

enum bm_err bm_env_tick_resume(struct bm_env *env, struct bm_actor_id self,
                               uint32_t kind, const void *payload,
                               size_t len, int64_t min_ms,
                               struct bm_timer_id *tick)
{
    int64_t period = bm_env_da_tick_ms(env, min_ms);
    int err;

    if (tick->slot != 0) {
        return BM_OK;
    }
    err = bm_timer_start(env->sys, self, kind, payload, len, period, 0,
                         tick);
    if (err != BM_OK) {
        *tick = (struct bm_timer_id){0, 0};
    }
    return err;
}

void bm_env_tick_fired(struct bm_timer_id *tick)
{
    *tick = (struct bm_timer_id){0, 0};
}

void bm_env_tick_pause(struct bm_env *env, struct bm_timer_id *tick)
{
    if (tick->slot != 0) {
        (void)bm_timer_cancel(env->sys, *tick);
        *tick = (struct bm_timer_id){0, 0};
    }
}

uint64_t bm_env_now_ms(void)
{
    return bm_clock_now_ms();
}
