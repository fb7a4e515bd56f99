/*
 * Circuit breaker: a mutex-protected state machine (see
 * include/blockv2/breaker.h for the contract).
 *
 * The ratio window is a ring of the last `window_size` outcomes (one byte
 * each) with running totals, so recording an outcome and evaluating the
 * ratio are O(1). The ring lives in the same allocation as the breaker.
 */
#include "blockv2/breaker.h"

#include "blockv2/err.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

struct bm_breaker {
    pthread_mutex_t mu;
    char name[BM_BREAKER_NAME_MAX + 1];

    /* configuration (immutable after new) */
    uint32_t max_consecutive;
    uint32_t window_size;
    uint32_t min_calls;
    double failure_ratio;
    uint64_t open_timeout_ns;
    uint32_t max_probes;
    uint32_t probes_to_close;
    bm_breaker_state_cb *on_change;
    void *on_change_ctx;
    bm_breaker_clock_fn *clock;
    void *clock_ctx;

    /* state (under mu) */
    enum bm_breaker_state state;
    uint64_t generation;
    uint64_t opened_at_ns;
    uint32_t consecutive;
    uint32_t win_pos;   /* next slot to write */
    uint32_t win_calls; /* valid slots, <= window_size */
    uint32_t win_failures;
    uint32_t probes_in_flight;
    uint32_t probe_successes;

    /* counters (under mu) */
    uint64_t n_success;
    uint64_t n_failure;
    uint64_t n_reject;
    uint64_t n_transition;
    uint64_t n_stale;

    uint8_t window[]; /* window_size outcomes: 1 = failure */
};

static uint64_t default_clock(void *ctx)
{
    (void)ctx;
    return bm_clock_now_ns();
}

const char *bm_breaker_state_name(enum bm_breaker_state s)
{
    switch (s) {
    case BM_BREAKER_CLOSED:
        return "closed";
    case BM_BREAKER_OPEN:
        return "open";
    case BM_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}

static int check_config(const struct bm_breaker_config *cfg,
                        struct bm_errmsg *em)
{
    size_t nlen;

    if (cfg == NULL) {
        return bm_errf(em, BM_EINVAL, "breaker config: NULL");
    }
    if (cfg->name == NULL) {
        return bm_errf(em, BM_EINVAL, "breaker.name: missing");
    }
    nlen = strnlen(cfg->name, BM_BREAKER_NAME_MAX + 1);
    if (nlen == 0 || nlen > BM_BREAKER_NAME_MAX) {
        return bm_errf(em, BM_EINVAL,
                       "breaker.name: length must be 1..%u bytes",
                       BM_BREAKER_NAME_MAX);
    }
    if (cfg->consecutive_failures == 0 && cfg->window_size == 0) {
        return bm_errf(em, BM_EINVAL,
                       "breaker '%s': consecutive_failures and window_size "
                       "are both 0 (the breaker could never trip)",
                       cfg->name);
    }
    if (cfg->window_size > BM_BREAKER_WINDOW_MAX) {
        return bm_errf(em, BM_EINVAL,
                       "breaker '%s'.window_size: got %u, max %u", cfg->name,
                       cfg->window_size, BM_BREAKER_WINDOW_MAX);
    }
    if (cfg->window_size > 0) {
        if (cfg->min_calls > cfg->window_size) {
            return bm_errf(em, BM_EINVAL,
                           "breaker '%s'.min_calls: got %u, above "
                           "window_size %u",
                           cfg->name, cfg->min_calls, cfg->window_size);
        }
        /* written so that NaN fails too */
        if (!(cfg->failure_ratio > 0.0 && cfg->failure_ratio <= 1.0)) {
            return bm_errf(em, BM_EINVAL,
                           "breaker '%s'.failure_ratio: got %g, want (0, 1]",
                           cfg->name, cfg->failure_ratio);
        }
    }
    if (cfg->half_open_max_probes > BM_BREAKER_PROBES_MAX) {
        return bm_errf(em, BM_EINVAL,
                       "breaker '%s'.half_open_max_probes: got %u, max %u",
                       cfg->name, cfg->half_open_max_probes,
                       BM_BREAKER_PROBES_MAX);
    }
    if (cfg->half_open_successes > BM_BREAKER_PROBES_MAX) {
        return bm_errf(em, BM_EINVAL,
                       "breaker '%s'.half_open_successes: got %u, max %u",
                       cfg->name, cfg->half_open_successes,
                       BM_BREAKER_PROBES_MAX);
    }
    return BM_OK;
}

int bm_breaker_new(struct bm_breaker **out,
                   const struct bm_breaker_config *cfg, struct bm_errmsg *em)
{
    struct bm_breaker *b;
    size_t size;
    int err;

    if (out == NULL) {
        return bm_errf(em, BM_EINVAL, "breaker: out is NULL");
    }
    *out = NULL;
    err = check_config(cfg, em);
    if (err != BM_OK) {
        return err;
    }
    if (!bm_size_add(sizeof(*b), cfg->window_size, &size)) {
        return bm_errf(em, BM_EOVERFLOW, "breaker '%s': size overflow",
                       cfg->name);
    }
    b = bm_calloc(1, size);
    if (b == NULL) {
        return bm_errf(em, BM_ENOMEM, "breaker '%s': out of memory",
                       cfg->name);
    }
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        bm_free(b);
        return bm_errf(em, BM_ESYS, "breaker '%s': pthread_mutex_init",
                       cfg->name);
    }
    memcpy(b->name, cfg->name, strlen(cfg->name) + 1);
    b->max_consecutive = cfg->consecutive_failures;
    b->window_size = cfg->window_size;
    b->min_calls = cfg->min_calls != 0 ? cfg->min_calls : cfg->window_size;
    b->failure_ratio = cfg->failure_ratio;
    b->open_timeout_ns = cfg->open_timeout_ns;
    b->max_probes =
        cfg->half_open_max_probes != 0 ? cfg->half_open_max_probes : 1;
    b->probes_to_close =
        cfg->half_open_successes != 0 ? cfg->half_open_successes : 1;
    b->on_change = cfg->on_state_change;
    b->on_change_ctx = cfg->on_state_change_ctx;
    b->clock = cfg->clock != NULL ? cfg->clock : default_clock;
    b->clock_ctx = cfg->clock != NULL ? cfg->clock_ctx : NULL;
    b->state = BM_BREAKER_CLOSED;
    b->generation = 1;
    *out = b;
    return BM_OK;
}

int bm_breaker_new_simple(struct bm_breaker **out, const char *name,
                          uint32_t max_failures, uint64_t open_timeout_ns)
{
    struct bm_breaker_config cfg = {
        .name = name,
        .consecutive_failures = max_failures,
        .open_timeout_ns = open_timeout_ns,
        .half_open_max_probes = 1,
        .half_open_successes = 1,
    };

    if (max_failures == 0) {
        if (out != NULL) {
            *out = NULL;
        }
        return BM_EINVAL;
    }
    return bm_breaker_new(out, &cfg, NULL);
}

void bm_breaker_free(struct bm_breaker *b)
{
    if (b == NULL) {
        return;
    }
    pthread_mutex_destroy(&b->mu);
    bm_free(b);
}

const char *bm_breaker_name(const struct bm_breaker *b)
{
    return b->name;
}

static void window_reset(struct bm_breaker *b)
{
    b->consecutive = 0;
    b->win_pos = 0;
    b->win_calls = 0;
    b->win_failures = 0;
    if (b->window_size > 0) {
        memset(b->window, 0, b->window_size);
    }
}

/* Caller holds mu. Starts a new generation in state `to`. */
static void set_state(struct bm_breaker *b, enum bm_breaker_state to,
                      uint64_t now)
{
    enum bm_breaker_state from = b->state;

    b->state = to;
    b->generation++;
    b->n_transition++;
    b->probes_in_flight = 0;
    b->probe_successes = 0;
    switch (to) {
    case BM_BREAKER_OPEN:
        b->opened_at_ns = now;
        break;
    case BM_BREAKER_CLOSED:
        window_reset(b);
        break;
    case BM_BREAKER_HALF_OPEN:
        break;
    }
    bm_log_info("breaker", "state change name=%s from=%s to=%s", b->name,
                bm_breaker_state_name(from), bm_breaker_state_name(to));
    if (b->on_change != NULL) {
        b->on_change(b->on_change_ctx, b->name, from, to);
    }
}

/* Caller holds mu: open -> half-open once the timeout has passed. */
static void maybe_half_open(struct bm_breaker *b, uint64_t now)
{
    /* now < opened_at only with a broken clock: then stay open */
    if (b->state == BM_BREAKER_OPEN && now >= b->opened_at_ns &&
        now - b->opened_at_ns >= b->open_timeout_ns) {
        set_state(b, BM_BREAKER_HALF_OPEN, now);
    }
}

int bm_breaker_allow(struct bm_breaker *b, struct bm_breaker_token *tok)
{
    uint64_t now;
    int err = BM_OK;

    pthread_mutex_lock(&b->mu);
    now = b->clock(b->clock_ctx);
    maybe_half_open(b, now);
    switch (b->state) {
    case BM_BREAKER_CLOSED:
        tok->generation = b->generation;
        tok->probe = false;
        break;
    case BM_BREAKER_HALF_OPEN:
        if (b->probes_in_flight < b->max_probes) {
            b->probes_in_flight++;
            tok->generation = b->generation;
            tok->probe = true;
        } else {
            b->n_reject++;
            err = BM_ECIRCUIT_OPEN;
        }
        break;
    case BM_BREAKER_OPEN:
        b->n_reject++;
        err = BM_ECIRCUIT_OPEN;
        break;
    }
    pthread_mutex_unlock(&b->mu);
    return err;
}

/* Caller holds mu; state is closed. Records one outcome, maybe trips. */
static void closed_outcome(struct bm_breaker *b, bool success, uint64_t now)
{
    bool trip = false;

    if (success) {
        b->consecutive = 0;
    } else {
        b->consecutive++;
        if (b->max_consecutive != 0 && b->consecutive >= b->max_consecutive) {
            trip = true;
        }
    }
    if (b->window_size > 0) {
        uint8_t fail = success ? 0 : 1;

        if (b->win_calls == b->window_size) {
            b->win_failures -= b->window[b->win_pos]; /* evict oldest */
        } else {
            b->win_calls++;
        }
        b->window[b->win_pos] = fail;
        b->win_failures += fail;
        b->win_pos = (b->win_pos + 1) % b->window_size;
        if (b->win_calls >= b->min_calls &&
            (double)b->win_failures >=
                b->failure_ratio * (double)b->win_calls) {
            trip = true;
        }
    }
    if (trip) {
        set_state(b, BM_BREAKER_OPEN, now);
    }
}

void bm_breaker_report(struct bm_breaker *b, struct bm_breaker_token tok,
                       bool success)
{
    uint64_t now;

    pthread_mutex_lock(&b->mu);
    if (tok.generation != b->generation) {
        b->n_stale++;
        goto out;
    }
    now = b->clock(b->clock_ctx);
    if (success) {
        b->n_success++;
    } else {
        b->n_failure++;
    }
    switch (b->state) {
    case BM_BREAKER_CLOSED:
        closed_outcome(b, success, now);
        break;
    case BM_BREAKER_HALF_OPEN:
        if (tok.probe && b->probes_in_flight > 0) {
            b->probes_in_flight--;
        }
        if (!success) {
            set_state(b, BM_BREAKER_OPEN, now);
        } else if (++b->probe_successes >= b->probes_to_close) {
            set_state(b, BM_BREAKER_CLOSED, now);
        }
        break;
    case BM_BREAKER_OPEN:
        /* unreachable: no token is issued in the open generation */
        break;
    }
out:
    pthread_mutex_unlock(&b->mu);
}

int bm_breaker_call(struct bm_breaker *b, bm_breaker_fn *fn, void *arg)
{
    struct bm_breaker_token tok;
    int err;

    err = bm_breaker_allow(b, &tok);
    if (err != BM_OK) {
        return err;
    }
    err = fn(arg);
    bm_breaker_report(b, tok, err >= 0);
    return err;
}

enum bm_breaker_state bm_breaker_state(struct bm_breaker *b)
{
    enum bm_breaker_state s;

    pthread_mutex_lock(&b->mu);
    maybe_half_open(b, b->clock(b->clock_ctx));
    s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

void bm_breaker_stats(struct bm_breaker *b, struct bm_breaker_stats *st)
{
    pthread_mutex_lock(&b->mu);
    maybe_half_open(b, b->clock(b->clock_ctx));
    st->state = b->state;
    st->generation = b->generation;
    st->successes = b->n_success;
    st->failures = b->n_failure;
    st->rejections = b->n_reject;
    st->transitions = b->n_transition;
    st->stale = b->n_stale;
    st->consecutive_failures = b->consecutive;
    st->window_calls = b->win_calls;
    st->window_failures = b->win_failures;
    st->probes_in_flight = b->probes_in_flight;
    st->probe_successes = b->probe_successes;
    pthread_mutex_unlock(&b->mu);
}
