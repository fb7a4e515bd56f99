/*
 * Token-bucket rate limiter.
 *
 * A bucket holds up to `capacity` tokens (the burst) and gains
 * `rate_per_sec` tokens per second, refilled lazily from a monotonic clock
 * at every call (no timer). A new limiter starts full. allow()/allow_n()
 * take tokens if they are all there and never wait; reserve(n) always takes
 * them, letting the bucket go into debt, and tells the caller how long to
 * wait before acting.
 *
 * Tokens are kept in fixed point (1e-9 token units) and the refill is
 * computed from a base time that moves only when the bucket is full (or
 * every ~17 minutes of continuous use), not at every call, so rounding
 * never accumulates per call: token counts at given times are exact for
 * the rates one configures (10/s, 0.5/s, 1/3 s...), to within 1e-9 token
 * for refills up to ~1e6 tokens (beyond, the error stays below 5e-16 of
 * the refill: a rate like 0.1 or 1/3 is not exact in binary, and the
 * refill is nudged up by that much so exact multiples are not missed).
 *
 * Reservations cannot be cancelled: the tokens are spent when reserve()
 * returns, whether or not the caller acts (simpler than x/time/rate's
 * Cancel, and a cancelled reservation would have to reason about later
 * reservations that already queued behind it).
 *
 * Thread safety: every function may be called from any thread. State is
 * protected by one mutex held for a few dozen instructions; nothing blocks
 * beyond that, so limiters are safe to use from pooled actors (reserve()
 * returns the wait, it never sleeps).
 */
#ifndef BM_BLOCKV2_LIMITER_H
#define BM_BLOCKV2_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

struct bm_limiter;
struct bm_errmsg;

/* Limits on configuration values (they may come from a config file). */
#define BM_LIMITER_NAME_MAX 64u
#define BM_LIMITER_CAPACITY_MAX 1000000000ull  /* tokens */
#define BM_LIMITER_RATE_MAX 1e6                /* tokens per second */

/*
 * Monotonic clock: nanoseconds from an arbitrary fixed origin, never going
 * backwards. Called with the limiter's mutex held, from any thread; must be
 * thread-safe and must not block.
 */
typedef uint64_t bm_limiter_clock_fn(void *ctx);

struct bm_limiter_config {
    const char *name;      /* borrowed; copied; 1..NAME_MAX bytes */
    uint64_t capacity;     /* burst, 1..CAPACITY_MAX tokens */
    double rate_per_sec;   /* refill, 0..RATE_MAX (0: only the burst) */
    bm_limiter_clock_fn *clock; /* optional; NULL = CLOCK_MONOTONIC */
    void *clock_ctx;
};

/* Snapshot of a limiter (plain data). */
struct bm_limiter_stats {
    uint64_t capacity;
    double rate_per_sec;
    double tokens;          /* now; negative while reservations are owed */
    uint64_t allowed;       /* allow/allow_n calls that took their tokens */
    uint64_t limited;       /* allow/allow_n/reserve calls refused */
    uint64_t reserved;      /* reserve calls that took their tokens */
    uint64_t tokens_granted; /* tokens taken by allowed + reserved calls */
};

/*
 * Creates a limiter from `cfg` (borrowed; the name is copied). The bucket
 * starts full. On success *out is owned by the caller (bm_limiter_free).
 * Errors: BM_EINVAL naming the bad field in `em` (may be NULL): name empty
 * or too long, capacity 0 or above the cap, rate negative, NaN, infinite
 * or above the cap; BM_ENOMEM. On error *out is NULL.
 */
int bm_limiter_new(struct bm_limiter **out,
                   const struct bm_limiter_config *cfg, struct bm_errmsg *em);

/*
 * The seed's short form (`NewRateLimiter(name, 100, 10)`: 100 tokens,
 * 10 per second). Same ownership and errors as bm_limiter_new.
 */
int bm_limiter_new_simple(struct bm_limiter **out, const char *name,
                          uint64_t capacity, double rate_per_sec);

/* Frees the limiter (NULL is a no-op); no concurrent or later use. */
void bm_limiter_free(struct bm_limiter *l);

/* Takes one token if available: true = go, false = limited. Never blocks. */
bool bm_limiter_allow(struct bm_limiter *l);

/*
 * Takes n tokens if all n are available now, else takes none. n == 0 is
 * always allowed; n > capacity is always limited. Never blocks.
 */
bool bm_limiter_allow_n(struct bm_limiter *l, uint64_t n);

/*
 * Reserves n tokens (1..capacity) and returns the wait in nanoseconds
 * (>= 0, rounded up) until they are covered by the refill; 0 means act now.
 * The tokens are taken immediately, so the bucket may go negative and later
 * callers wait behind this reservation. If the wait would exceed
 * `max_wait_ns`, nothing is reserved and BM_ERATE_LIMITED is returned
 * (counted as limited); also when rate is 0 and the tokens are not there.
 * BM_EINVAL for n == 0 or n > capacity. Cannot be cancelled. Never blocks:
 * the caller sleeps (or arms a timer) itself.
 */
int64_t bm_limiter_reserve(struct bm_limiter *l, uint64_t n,
                           uint64_t max_wait_ns);

/* Fills *st with a consistent snapshot (after a lazy refill). */
void bm_limiter_stats(struct bm_limiter *l, struct bm_limiter_stats *st);

/* The limiter's name; valid until bm_limiter_free(). */
const char *bm_limiter_name(const struct bm_limiter *l);

#endif /* BM_BLOCKV2_LIMITER_H */
