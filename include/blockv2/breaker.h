/*
 * Circuit breaker.
 *
 * A breaker sits in front of a dependency that can fail (the executor, the
 * DA layer) and stops calling it while it is known to be failing:
 *
 *   closed     calls pass; outcomes are counted. The breaker trips (-> open)
 *              after `consecutive_failures` failures in a row, or when the
 *              failure ratio over the last `window_size` outcomes (a ring of
 *              outcomes, evaluated once it holds `min_calls`) reaches
 *              `failure_ratio`.
 *   open       every call is rejected with BM_ECIRCUIT_OPEN until
 *              `open_timeout_ns` has passed since the trip; the next
 *              admission check then moves the breaker to half-open (lazily:
 *              there is no timer thread).
 *   half-open  at most `half_open_max_probes` probe calls may be in flight at
 *              once; further calls are rejected with BM_ECIRCUIT_OPEN.
 *              `half_open_successes` successful probes close the breaker;
 *              any failed probe opens it again (with a fresh timeout).
 *
 * Generations: every state change starts a new generation. A token from
 * bm_breaker_allow() carries the generation it was issued in; an outcome
 * reported with a token from an older generation is ignored (counted in
 * `stale`), so a slow call started before a trip can neither re-trip nor
 * close the breaker.
 *
 * Thread safety: every function may be called from any thread. State is
 * protected by one mutex held for a few dozen instructions; no function
 * blocks beyond that, so they are safe to call from pooled actors. The
 * state-change callback runs with that mutex held (this is what keeps
 * callbacks in transition order): it must not block and must not call any
 * bm_breaker_* function on the same breaker. Every state change is also
 * logged at info level (module "breaker"), a rare event.
 *
 * Time comes from a monotonic clock in nanoseconds: CLOCK_MONOTONIC by
 * default, or an injected function (tests).
 */
#ifndef BM_BLOCKV2_BREAKER_H
#define BM_BLOCKV2_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

struct bm_breaker;
struct bm_errmsg;

enum bm_breaker_state {
    BM_BREAKER_CLOSED = 0,
    BM_BREAKER_OPEN = 1,
    BM_BREAKER_HALF_OPEN = 2,
};

/* Limits on configuration values (they may come from a config file). */
#define BM_BREAKER_NAME_MAX 64u         /* bytes, without the NUL */
#define BM_BREAKER_WINDOW_MAX 65536u    /* outcomes in the ratio window */
#define BM_BREAKER_PROBES_MAX 65536u    /* half-open probes / successes */

/*
 * Monotonic clock: returns nanoseconds from an arbitrary fixed origin and
 * never goes backwards. Called with the breaker's mutex held, from any
 * thread; must be thread-safe and must not block.
 */
typedef uint64_t bm_breaker_clock_fn(void *ctx);

/*
 * State-change callback: `name` is valid for the duration of the call.
 * Called once per transition, in transition order, with the breaker's mutex
 * held (see the thread-safety rule above).
 */
typedef void bm_breaker_state_cb(void *ctx, const char *name,
                                 enum bm_breaker_state from,
                                 enum bm_breaker_state to);

/*
 * Protected call for bm_breaker_call(): returns BM_OK on success or a
 * negative bm_err on failure (any negative value counts as a failure).
 */
typedef int bm_breaker_fn(void *arg);

struct bm_breaker_config {
    const char *name; /* borrowed; copied by bm_breaker_new; 1..NAME_MAX */

    /* Trip after this many consecutive failures; 0 disables this trip. */
    uint32_t consecutive_failures;

    /*
     * Ratio trip: over the last `window_size` outcomes (0 disables), once
     * at least `min_calls` outcomes are in the window (0 means
     * window_size; must be <= window_size), trip when
     * failures / outcomes >= failure_ratio (0 < ratio <= 1).
     */
    uint32_t window_size;
    uint32_t min_calls;
    double failure_ratio;

    uint64_t open_timeout_ns;       /* open -> half-open; 0 = next call */
    uint32_t half_open_max_probes;  /* concurrent probes; 0 means 1 */
    uint32_t half_open_successes;   /* successes to close; 0 means 1 */

    bm_breaker_state_cb *on_state_change; /* optional */
    void *on_state_change_ctx;

    bm_breaker_clock_fn *clock; /* optional; NULL = CLOCK_MONOTONIC */
    void *clock_ctx;
};

/*
 * Admission token for the two-step API. Plain value: copy it freely, it
 * owns nothing. Report each token exactly once.
 */
struct bm_breaker_token {
    uint64_t generation;
    bool probe; /* admitted in half-open (holds a probe slot) */
};

/* Snapshot of a breaker's state and counters (plain data). */
struct bm_breaker_stats {
    enum bm_breaker_state state;
    uint64_t generation;
    uint64_t successes;   /* outcomes counted as success (current gens) */
    uint64_t failures;    /* outcomes counted as failure (current gens) */
    uint64_t rejections;  /* calls refused with BM_ECIRCUIT_OPEN */
    uint64_t transitions; /* state changes */
    uint64_t stale;       /* outcomes ignored: token from an older gen */
    uint32_t consecutive_failures; /* current run (closed state) */
    uint32_t window_calls;         /* outcomes in the ratio window */
    uint32_t window_failures;      /* failures among them */
    uint32_t probes_in_flight;     /* half-open */
    uint32_t probe_successes;      /* half-open */
};

/*
 * Creates a breaker from `cfg` (borrowed; the name is copied).
 * On success *out is owned by the caller (free with bm_breaker_free).
 * Errors: BM_EINVAL naming the bad field in `em` (em may be NULL): name
 * empty or too long, both trips disabled, window or probe counts above the
 * caps, min_calls > window_size, ratio outside (0, 1] or NaN; BM_ENOMEM.
 * On error *out is NULL.
 */
int bm_breaker_new(struct bm_breaker **out,
                   const struct bm_breaker_config *cfg, struct bm_errmsg *em);

/*
 * The seed's short form (`NewCircuitBreaker(name, 5, 30*time.Second)`):
 * trips after `max_failures` consecutive failures, stays open
 * `open_timeout_ns`, one half-open probe closes it. Same ownership and
 * errors as bm_breaker_new (max_failures must be >= 1).
 */
int bm_breaker_new_simple(struct bm_breaker **out, const char *name,
                          uint32_t max_failures, uint64_t open_timeout_ns);

/*
 * Frees the breaker (NULL is a no-op). No other thread may use it
 * concurrently or afterwards; outstanding tokens become meaningless.
 */
void bm_breaker_free(struct bm_breaker *b);

/*
 * Step 1 of the two-step API: asks to make a call. Returns BM_OK and fills
 * *tok when the call may proceed; the caller must later pass *tok to
 * bm_breaker_report() exactly once. Returns BM_ECIRCUIT_OPEN (and counts a
 * rejection) when open, or when half-open with all probe slots in use.
 * Never blocks (see the thread-safety rule at the top).
 */
int bm_breaker_allow(struct bm_breaker *b, struct bm_breaker_token *tok);

/*
 * Step 2: reports the outcome of a call admitted by bm_breaker_allow().
 * Outcomes whose token is from an older generation are ignored (counted as
 * stale). May change the state and run the state-change callback.
 */
void bm_breaker_report(struct bm_breaker *b, struct bm_breaker_token tok,
                       bool success);

/*
 * Convenience: allow, run fn(arg) on the calling thread, report
 * (fn's return BM_OK = success, negative = failure). Returns
 * BM_ECIRCUIT_OPEN without calling fn when rejected, else fn's return
 * value. Blocks as long as fn does; fn must not use this breaker's
 * two-step API for the same call.
 */
int bm_breaker_call(struct bm_breaker *b, bm_breaker_fn *fn, void *arg);

/*
 * Current state (performs the lazy open -> half-open transition if the
 * timeout has passed, which may run the callback).
 */
enum bm_breaker_state bm_breaker_state(struct bm_breaker *b);

/* Fills *st with a consistent snapshot (same lazy transition as above). */
void bm_breaker_stats(struct bm_breaker *b, struct bm_breaker_stats *st);

/* The breaker's name; valid until bm_breaker_free(). */
const char *bm_breaker_name(const struct bm_breaker *b);

/* Static name of a state ("closed", "open", "half-open"); never NULL. */
const char *bm_breaker_state_name(enum bm_breaker_state s);

#endif /* BM_BLOCKV2_BREAKER_H */
