/*
 * Token-bucket rate limiter (contract in include/blockv2/limiter.h).
 *
 * Representation: amounts are in nano-tokens (NT, 1e-9 token), so a rate
 * in tokens per second is also a rate in NT per nanosecond. The bucket is
 * described by a base point (base_ns, base_nt): the tokens available at
 * time t are
 *
 *     avail(t) = min(cap_nt, base_nt + floor((t - base_ns) * rate))
 *
 * Taking tokens subtracts from base_nt and leaves base_ns alone, so the
 * floor() is applied to the whole interval since the base, not per call,
 * and no rounding error builds up across calls. The base moves to `now`
 * when the bucket is found full (avail is exactly cap_nt then) and, to keep
 * the numbers small, when the interval since the base reaches FOLD_NS (this
 * loses under 1 NT per fold, i.e. under 1e-9 token per ~17 minutes).
 *
 * Range: capacity <= 1e9 tokens (1e18 NT), rate <= 1e6 tokens/s (so the
 * refill between folds is <= 1e18 NT), debt from reservations <= DEBT_MAX:
 * every intermediate value fits in an int64_t.
 */
#include "blockv2/limiter.h"

#include "blockv2/err.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define NT_PER_TOKEN 1000000000ll
#define FOLD_NS (1000ull * 1000000000ull) /* 1000 s */
#define DEBT_MAX (1000000000ll * NT_PER_TOKEN)
/*
 * Relative slack on the refill product: a rate like 0.1 or 1/3 is not exact
 * in binary, and (elapsed * rate) may land a few ulps below an integer that
 * the exact product reaches; this nudges it up by ~2 ulps (at most ~450 NT
 * at the largest refill, far below one token).
 */
#define REFILL_SLACK (1.0 + 4.5e-16)

struct bm_limiter {
    pthread_mutex_t mu;
    char name[BM_LIMITER_NAME_MAX + 1];
    uint64_t capacity;
    double rate; /* tokens/s == NT/ns */
    int64_t cap_nt;
    bm_limiter_clock_fn *clock;
    void *clock_ctx;

    /* under mu */
    uint64_t base_ns;
    int64_t base_nt;
    uint64_t n_allowed;
    uint64_t n_limited;
    uint64_t n_reserved;
    uint64_t n_tokens;
};

static uint64_t default_clock(void *ctx)
{
    (void)ctx;
    return bm_clock_now_ns();
}

int bm_limiter_new(struct bm_limiter **out,
                   const struct bm_limiter_config *cfg, struct bm_errmsg *em)
{
    struct bm_limiter *l;
    size_t nlen;

    if (out == NULL) {
        return bm_errf(em, BM_EINVAL, "limiter: out is NULL");
    }
    *out = NULL;
    if (cfg == NULL) {
        return bm_errf(em, BM_EINVAL, "limiter config: NULL");
    }
    if (cfg->name == NULL) {
        return bm_errf(em, BM_EINVAL, "limiter.name: missing");
    }
    nlen = strnlen(cfg->name, BM_LIMITER_NAME_MAX + 1);
    if (nlen == 0 || nlen > BM_LIMITER_NAME_MAX) {
        return bm_errf(em, BM_EINVAL,
                       "limiter.name: length must be 1..%u bytes",
                       BM_LIMITER_NAME_MAX);
    }
    if (cfg->capacity == 0 || cfg->capacity > BM_LIMITER_CAPACITY_MAX) {
        return bm_errf(em, BM_EINVAL,
                       "limiter '%s'.capacity: got %llu, want 1..%llu",
                       cfg->name, (unsigned long long)cfg->capacity,
                       (unsigned long long)BM_LIMITER_CAPACITY_MAX);
    }
    /* written so that NaN fails too */
    if (!(cfg->rate_per_sec >= 0.0 && cfg->rate_per_sec <= BM_LIMITER_RATE_MAX)) {
        return bm_errf(em, BM_EINVAL,
                       "limiter '%s'.rate_per_sec: got %g, want 0..%g",
                       cfg->name, cfg->rate_per_sec, BM_LIMITER_RATE_MAX);
    }
    l = bm_calloc(1, sizeof(*l));
    if (l == NULL) {
        return bm_errf(em, BM_ENOMEM, "limiter '%s': out of memory",
                       cfg->name);
    }
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        bm_free(l);
        return bm_errf(em, BM_ESYS, "limiter '%s': pthread_mutex_init",
                       cfg->name);
    }
    memcpy(l->name, cfg->name, nlen + 1);
    l->capacity = cfg->capacity;
    l->rate = cfg->rate_per_sec;
    l->cap_nt = (int64_t)cfg->capacity * NT_PER_TOKEN;
    l->clock = cfg->clock != NULL ? cfg->clock : default_clock;
    l->clock_ctx = cfg->clock != NULL ? cfg->clock_ctx : NULL;
    l->base_ns = l->clock(l->clock_ctx);
    l->base_nt = l->cap_nt;
    *out = l;
    return BM_OK;
}

int bm_limiter_new_simple(struct bm_limiter **out, const char *name,
                          uint64_t capacity, double rate_per_sec)
{
    struct bm_limiter_config cfg = {
        .name = name,
        .capacity = capacity,
        .rate_per_sec = rate_per_sec,
    };

    return bm_limiter_new(out, &cfg, NULL);
}

void bm_limiter_free(struct bm_limiter *l)
{
    if (l == NULL) {
        return;
    }
    pthread_mutex_destroy(&l->mu);
    bm_free(l);
}

const char *bm_limiter_name(const struct bm_limiter *l)
{
    return l->name;
}

/* Caller holds mu. Returns the NT available now; may move the base. */
static int64_t refill(struct bm_limiter *l)
{
    uint64_t now = l->clock(l->clock_ctx);
    uint64_t el = now > l->base_ns ? now - l->base_ns : 0;
    int64_t missing = l->cap_nt - l->base_nt;
    double x;
    int64_t add;

    if (missing <= 0) {
        l->base_ns = now;
        l->base_nt = l->cap_nt;
        return l->cap_nt;
    }
    x = (double)el * l->rate * REFILL_SLACK;
    if (x >= (double)missing) {
        l->base_ns = now;
        l->base_nt = l->cap_nt;
        return l->cap_nt;
    }
    add = (int64_t)x; /* floor: x >= 0 and x < missing <= INT64_MAX */
    if (el >= FOLD_NS) {
        l->base_ns = now;
        l->base_nt += add;
        return l->base_nt;
    }
    return l->base_nt + add;
}

bool bm_limiter_allow_n(struct bm_limiter *l, uint64_t n)
{
    bool ok = false;

    pthread_mutex_lock(&l->mu);
    if (n == 0) {
        ok = true;
    } else if (n <= l->capacity) {
        int64_t need = (int64_t)n * NT_PER_TOKEN;

        if (refill(l) >= need) {
            l->base_nt -= need;
            l->n_tokens += n;
            ok = true;
        }
    }
    if (ok) {
        l->n_allowed++;
    } else {
        l->n_limited++;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

bool bm_limiter_allow(struct bm_limiter *l)
{
    return bm_limiter_allow_n(l, 1);
}

int64_t bm_limiter_reserve(struct bm_limiter *l, uint64_t n,
                           uint64_t max_wait_ns)
{
    int64_t need;
    int64_t after;
    int64_t wait = 0;

    if (n == 0 || n > l->capacity) {
        return BM_EINVAL;
    }
    need = (int64_t)n * NT_PER_TOKEN;
    pthread_mutex_lock(&l->mu);
    after = refill(l) - need;
    if (after < 0) {
        double w;

        if (l->rate <= 0.0 || -after > DEBT_MAX) {
            goto limited;
        }
        /* wait until floor(w * rate) covers the deficit */
        w = ceil((double)-after / l->rate);
        if (w > (double)max_wait_ns || w >= 9.0e18) {
            goto limited;
        }
        wait = (int64_t)w;
    }
    l->base_nt -= need;
    l->n_reserved++;
    l->n_tokens += n;
    pthread_mutex_unlock(&l->mu);
    return wait;

limited:
    l->n_limited++;
    pthread_mutex_unlock(&l->mu);
    return BM_ERATE_LIMITED;
}

void bm_limiter_stats(struct bm_limiter *l, struct bm_limiter_stats *st)
{
    int64_t avail;

    pthread_mutex_lock(&l->mu);
    avail = refill(l);
    st->capacity = l->capacity;
    st->rate_per_sec = l->rate;
    st->tokens = (double)avail / (double)NT_PER_TOKEN;
    st->allowed = l->n_allowed;
    st->limited = l->n_limited;
    st->reserved = l->n_reserved;
    st->tokens_granted = l->n_tokens;
    pthread_mutex_unlock(&l->mu);
}
