/*
 * A wall-clock step does not freeze (or rush) timers, asks or timed waits.
 *
 * The real clock cannot be stepped in a test (root, and it would disturb
 * the machine), so this binary interposes clock_gettime: every read of
 * CLOCK_REALTIME in the process (the runtime is linked in statically, so
 * its calls resolve here) returns the real wall time plus an offset the
 * test moves by an hour either way, or every 20 ms in the last case. A
 * deadline taken from CLOCK_REALTIME and handed to a wait measured by the
 * kernel would then sit an hour off: an hour-long freeze, or a wait that
 * returns at once and spins. Every wait below must still last what it was
 * asked to, and the timer thread must not spin.
 *
 * What this proves: no code path exercised here (timer thread, ask
 * deadlines, future waits, BLOCK sends, wait_exit, system_wait) takes a
 * deadline from the wall clock. That the kernel measures those waits on
 * CLOCK_MONOTONIC is shown by tests/util/test_clock.c, and that nothing
 * else in src/ reads a clock outside src/util/clock.c by scripts/lint.sh.
 */
#include "bm_test.h"

#include "actor_test_util.h"

#include "blockv2/actor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HOUR_NS (3600ll * 1000000000ll)

static _Atomic int64_t g_wall_offset_ns;

/* The interposer: the real clock through the system call, REALTIME moved
 * by g_wall_offset_ns. */
int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int64_t off;
    long rc = syscall(SYS_clock_gettime, clk, ts);

    if (rc != 0) {
        return -1;
    }
    if (clk == CLOCK_REALTIME) {
        off = atomic_load(&g_wall_offset_ns);
        ts->tv_sec += (time_t)(off / 1000000000ll);
        ts->tv_nsec += (long)(off % 1000000000ll);
        if (ts->tv_nsec < 0) {
            ts->tv_nsec += 1000000000L;
            ts->tv_sec--;
        } else if (ts->tv_nsec >= 1000000000L) {
            ts->tv_nsec -= 1000000000L;
            ts->tv_sec++;
        }
    }
    return 0;
}

static int64_t real_wall_ns(void)
{
    struct timespec ts;

    syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ------------------------------------------------------------ actors */

struct msg {
    uint32_t tag;
    uint32_t sleep_ms;
};

struct st {
    atomic_int count[2];
};

static int on_msg(struct bm_actor_ctx *ctx, void *state, void *payload)
{
    struct st *s = state;
    struct msg *m = payload;

    (void)ctx;
    if (m->sleep_ms > 0) {
        bm_sleep_ms(m->sleep_ms); /* detached actors only */
    }
    if (m->tag < 2) {
        atomic_fetch_add(&s->count[m->tag], 1);
    }
    return BM_OK;
}

static const struct bm_msg_kind kinds[1] = {
    {.name = "msg", .payload_size = sizeof(struct msg), .handle = on_msg},
};

static const struct bm_actor_type w_type = {
    .name = "w", .kinds = kinds, .n_kinds = 1};

static uint64_t wakeups(struct bm_actor_system *sys)
{
    struct bm_actor_system_stats ss;

    bm_actor_system_stats_get(sys, &ss);
    return ss.timer_wakeups;
}

/* Elapsed ms since t0 is within [lo, lo + 2000). */
static void assert_took(uint64_t t0, uint64_t lo_ms)
{
    uint64_t el = (bm_actor_now_ns() - t0) / 1000000u;

    if (el < lo_ms || el >= lo_ms + 2000) {
        print_error("took %llu ms, want %llu ms\n", (unsigned long long)el,
                    (unsigned long long)lo_ms);
    }
    assert_true(el >= lo_ms && el < lo_ms + 2000);
}

/* Timers, ask deadlines, future waits, a BLOCK send, wait_exit and
 * system_wait, each checked for its duration; `step` (if set) is applied
 * right after the timers are armed. */
static void scenarios(void (*step)(void))
{
    struct bm_actor_system *sys = start_sys(2);
    struct st ts, ds;
    struct bm_actor_opts det = {.detached = true};
    struct bm_actor_opts blk = {.detached = true, .capacity = 1,
                                .overflow = BM_OVERFLOW_BLOCK,
                                .block_timeout_ms = 150};
    struct bm_actor_id tk, slow, full;
    struct bm_timer_id per;
    struct bm_future *f = NULL;
    struct msg m = {0, 0}, nap = {1, 500};
    uint64_t t0, w0;

    memset(&ts, 0, sizeof(ts));
    memset(&ds, 0, sizeof(ds));
    assert_int_equal(bm_actor_spawn(sys, &w_type, &ts, NULL, &tk), BM_OK);
    assert_int_equal(bm_actor_spawn(sys, &w_type, &ds, &det, &slow), BM_OK);

    /* Timers: a 300 ms one-shot and a 100 ms periodic timer. */
    t0 = bm_actor_now_ns();
    w0 = wakeups(sys);
    m.tag = 0;
    assert_int_equal(bm_timer_start(sys, tk, 0, &m, sizeof(m), 300, 0, NULL),
                     BM_OK);
    m.tag = 1;
    assert_int_equal(bm_timer_start(sys, tk, 0, &m, sizeof(m), 100, 100, &per),
                     BM_OK);
    if (step != NULL) {
        step();
    }
    for (int i = 0; i < 3000 && atomic_load(&ts.count[0]) == 0; i++) {
        bm_sleep_ms(1);
    }
    assert_int_equal(atomic_load(&ts.count[0]), 1);
    assert_took(t0, 300);
    {
        uint64_t el = (bm_actor_now_ns() - t0) / 1000000u;

        bm_sleep_ms(el < 1000 ? 1000 - el : 0);
    }
    assert_true(atomic_load(&ts.count[1]) >= 5);
    /* About one wake-up per delivery; a spinning thread makes millions. */
    assert_true(wakeups(sys) - w0 <= 40);
    assert_int_equal(bm_timer_cancel(sys, per), BM_OK);

    /* An ask deadline (100 ms) while the target sleeps 500 ms. */
    t0 = bm_actor_now_ns();
    assert_int_equal(bm_actor_call(sys, slow, 0, &nap, sizeof(nap), NULL, 0,
                                   100),
                     BM_ETIMEDOUT);
    assert_took(t0, 100);

    /* A future wait of 100 ms on an ask with a long deadline. */
    bm_sleep_ms(500); /* slow is idle again */
    assert_int_equal(bm_actor_ask(sys, slow, 0, &nap, sizeof(nap), 10000, &f),
                     BM_OK);
    t0 = bm_actor_now_ns();
    assert_int_equal(bm_future_wait(f, 100, NULL, 0), BM_EAGAIN);
    assert_took(t0, 100);
    assert_int_equal(bm_future_wait(f, -1, NULL, 0), BM_EPROTO); /* no reply */
    bm_future_free(f);

    /* A BLOCK send to a full mailbox times out after block_timeout_ms
     * (the consumer sleeps 500 ms per message, so the mailbox stays full
     * by the second or third send). */
    assert_int_equal(bm_actor_spawn(sys, &w_type, &ds, &blk, &full), BM_OK);
    assert_int_equal(bm_actor_tell(sys, full, 0, &nap, sizeof(nap)), BM_OK);
    bm_sleep_ms(50);
    {
        int err = BM_OK;

        for (int i = 0; i < 3 && err == BM_OK; i++) {
            t0 = bm_actor_now_ns();
            err = bm_actor_tell(sys, full, 0, &nap, sizeof(nap));
        }
        assert_int_equal(err, BM_ETIMEDOUT);
        assert_took(t0, 150);
    }

    /* wait_exit and system_wait time out on time. */
    t0 = bm_actor_now_ns();
    assert_int_equal(bm_actor_wait_exit(sys, tk, 100, NULL), BM_ETIMEDOUT);
    assert_took(t0, 100);
    t0 = bm_actor_now_ns();
    assert_int_equal(bm_actor_system_wait(sys, 100), BM_ETIMEDOUT);
    assert_took(t0, 100);

    assert_int_equal(bm_actor_system_stop(sys, 10000), BM_OK);
    bm_actor_system_free(sys);
}

static void step_back(void)
{
    atomic_store(&g_wall_offset_ns, -HOUR_NS);
}

static void step_forward(void)
{
    atomic_store(&g_wall_offset_ns, HOUR_NS);
}

static void test_interposer_active(void **state)
{
    int64_t d;

    (void)state;
    atomic_store(&g_wall_offset_ns, HOUR_NS);
    d = (int64_t)bm_clock_wall_ns() - real_wall_ns();
    atomic_store(&g_wall_offset_ns, 0);
    /* The runtime's wall clock reads go through the interposer. */
    assert_true(d > HOUR_NS - 1000000000ll && d < HOUR_NS + 1000000000ll);
}

static void test_step_back(void **state)
{
    (void)state;
    atomic_store(&g_wall_offset_ns, 0);
    scenarios(step_back);
    atomic_store(&g_wall_offset_ns, 0);
}

static void test_step_forward(void **state)
{
    (void)state;
    atomic_store(&g_wall_offset_ns, 0);
    scenarios(step_forward);
    atomic_store(&g_wall_offset_ns, 0);
}

static atomic_bool g_jump_stop;

/* The wall clock jumps between -1 h, 0 and +1 h every 20 ms. */
static void *jumper(void *arg)
{
    static const int64_t offs[3] = {-HOUR_NS, 0, HOUR_NS};
    unsigned i = 0;

    (void)arg;
    while (!atomic_load(&g_jump_stop)) {
        atomic_store(&g_wall_offset_ns, offs[i++ % 3]);
        bm_sleep_ms(20);
    }
    return NULL;
}

static void test_jumping(void **state)
{
    pthread_t th;

    (void)state;
    atomic_store(&g_jump_stop, false);
    assert_int_equal(pthread_create(&th, NULL, jumper, NULL), 0);
    scenarios(NULL);
    atomic_store(&g_jump_stop, true);
    pthread_join(th, NULL);
    atomic_store(&g_wall_offset_ns, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interposer_active),
        cmocka_unit_test(test_step_back),
        cmocka_unit_test(test_step_forward),
        cmocka_unit_test(test_jumping),
    };

    return BM_TEST_RUN(tests);
}
