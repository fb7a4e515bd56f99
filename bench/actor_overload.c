/*
 * actor_overload: one unthrottled producer (the main thread, a non-actor
 * thread) sends 10,000,000 messages of one 64-bit integer (argv[1]
 * overrides) to a slower consumer actor that busy-spins ~1 us per message
 * (argv[3] overrides, in ns), on a 2-worker system. The consumer's mailbox
 * holds `capacity` messages (argv[2], default 1024 = the system default).
 *
 * Two phases, one consumer each:
 *   reject       (the default policy) a send to a full mailbox returns
 *                BM_EFULL; the producer counts it and moves on.
 *   drop_oldest  the oldest queued message is discarded and counted.
 * After each phase the consumer is drained and the runtime's counters are
 * checked against the producer's: sent = handled + rejected + dropped
 * (exactly). Peak RSS (getrusage ru_maxrss) is compared with the RSS
 * before the flood: with a bounded mailbox it must not grow with the
 * number of messages sent, only with the capacity. The peers (CAF, Erlang)
 * queue all 10M messages (~1.1 GB / ~0.7 GB).
 *
 * Prints (per phase P = reject | drop):
 *   actor_overload_<P>_send_rate <send attempts per second> msgs/s
 *   actor_overload_<P>_handled / _rejected / _dropped <count> msgs
 *   actor_overload_<P>_accounting <1 if exact, else 0> ok
 *   actor_overload_<P>_high_watermark <max depth> msgs
 * and overall:
 *   actor_overload_peak_rss <MiB> MiB
 *   actor_overload_rss_growth <MiB> MiB   (peak - RSS before the flood)
 *   actor_overload_rss_bound <MiB> MiB    (16 MiB + capacity * 1 KiB)
 *   actor_overload_bounded <1 if growth <= bound> ok
 */
#include "actor_bench_util.h"

enum { OV_VALUE = 0 };

struct ov_value {
    uint64_t v;
};

struct ov_consumer {
    uint64_t spin_ns;
    uint64_t handled;
    uint64_t sink;
};

BM_ACTOR_REF(ov);
BM_ACTOR_TELL(ov, value, OV_VALUE, struct ov_value)

BM_ACTOR_HANDLER(on_value, struct ov_consumer, struct ov_value)

static int on_value(struct bm_actor_ctx *ctx, struct ov_consumer *st,
                    struct ov_value *p)
{
    uint64_t until = bench_now_ns() + st->spin_ns;

    (void)ctx;
    st->sink += p->v;
    while (bench_now_ns() < until) {
        /* simulated work */
    }
    st->handled++;
    return BM_OK;
}

static const struct bm_msg_kind ov_kinds[] = {
    [OV_VALUE] = BM_MSG_KIND("value", struct ov_value, 0, NULL, on_value,
                             NULL, NULL),
};

static const struct bm_actor_type ov_type = {
    .name = "overload_consumer",
    .kinds = ov_kinds,
    .n_kinds = 1,
};

static int run_phase(struct bm_actor_system *sys, const char *label,
                     enum bm_overflow policy, uint64_t n, uint32_t cap,
                     uint64_t spin_ns)
{
    struct ov_consumer cons = {.spin_ns = spin_ns};
    struct bm_actor_opts opts = {.name = label,
                                 .capacity = cap,
                                 .overflow = policy};
    struct bm_actor_stats st;
    struct bm_actor_id id;
    uint64_t ok = 0, full = 0, t0, t1, deadline;
    bool exact;
    int err;

    err = bm_actor_spawn(sys, &ov_type, &cons, &opts, &id);
    if (err != BM_OK) {
        bench_die("spawn consumer", err);
    }
    t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct ov_value m = {.v = i};

        err = bm_ov_tell_value(sys, (struct bm_ref_ov){id}, &m);
        if (err == BM_OK) {
            ok++;
        } else if (err == BM_EFULL) {
            full++;
        } else {
            bench_die("send", err);
        }
    }
    t1 = bench_now_ns();

    /* drain (outside the timing): wait until nothing is queued */
    deadline = bench_now_ns() + 120ull * 1000000000ull;
    for (;;) {
        err = bm_actor_stats_get(sys, id, &st);
        if (err != BM_OK) {
            bench_die("stats", err);
        }
        if (st.depth == 0 && st.handled + st.dropped >= ok) {
            break;
        }
        if (bench_now_ns() > deadline) {
            fprintf(stderr, "%s: consumer did not drain\n", label);
            return 1;
        }
        bm_sleep_ms(1);
    }
    exact = st.sent == n && st.rejected_full == full &&
            st.handled + st.rejected_full + st.rejected_invalid +
                    st.dropped ==
                n &&
            st.handled + st.dropped == ok;
    printf("actor_overload_%s_send_rate %.4g msgs/s\n", label,
           (double)n / ((double)(t1 - t0) / 1e9));
    printf("actor_overload_%s_handled %llu msgs\n", label,
           (unsigned long long)st.handled);
    printf("actor_overload_%s_rejected %llu msgs\n", label,
           (unsigned long long)st.rejected_full);
    printf("actor_overload_%s_dropped %llu msgs\n", label,
           (unsigned long long)st.dropped);
    printf("actor_overload_%s_accounting %d ok\n", label, exact ? 1 : 0);
    printf("actor_overload_%s_high_watermark %u msgs\n", label,
           st.high_watermark);
    if (!exact) {
        fprintf(stderr,
                "%s: counters do not add up: sent %llu (attempts %llu) "
                "handled %llu rejected %llu (producer saw %llu) invalid "
                "%llu dropped %llu\n",
                label, (unsigned long long)st.sent, (unsigned long long)n,
                (unsigned long long)st.handled,
                (unsigned long long)st.rejected_full,
                (unsigned long long)full,
                (unsigned long long)st.rejected_invalid,
                (unsigned long long)st.dropped);
    }
    err = bm_actor_stop(sys, id);
    if (err == BM_OK) {
        err = bm_actor_wait_exit(sys, id, 10000, NULL);
    }
    if (err != BM_OK) {
        bench_die("stop consumer", err);
    }
    return exact ? 0 : 1;
}

int main(int argc, char **argv)
{
    uint64_t n = bench_arg_u64(argc, argv, 1, 10000000);
    uint64_t cap = bench_arg_u64(argc, argv, 2, 1024);
    uint64_t spin = bench_arg_u64(argc, argv, 3, 1000);
    struct bm_actor_system *sys;
    long base_kib, peak_kib;
    double growth, bound;
    int rc = 0;

    if (cap > (1u << 24)) {
        bench_die("capacity", BM_EINVAL);
    }
    sys = bench_system_start(0);
    base_kib = bench_rss_kib();
    rc |= run_phase(sys, "reject", BM_OVERFLOW_REJECT, n, (uint32_t)cap,
                    spin);
    rc |= run_phase(sys, "drop", BM_OVERFLOW_DROP_OLDEST, n, (uint32_t)cap,
                    spin);
    peak_kib = bench_peak_rss_kib();
    growth = (double)(peak_kib - base_kib) / 1024.0;
    bound = 16.0 + (double)cap / 1024.0;
    printf("actor_overload_peak_rss %.1f MiB\n", (double)peak_kib / 1024.0);
    printf("actor_overload_rss_growth %.1f MiB\n", growth);
    printf("actor_overload_rss_bound %.1f MiB\n", bound);
    printf("actor_overload_bounded %d ok\n", growth <= bound ? 1 : 0);
    bench_system_stop(sys);
    return rc;
}
