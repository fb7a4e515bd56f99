/* Leader election and fencing (blockv2/ha.h) on a real etcd. */
#include "ha_test_util.h"

#include <inttypes.h>

#include "blockv2/types.h"

#define TTL 2 /* s: etcd's minimum lease TTL with default timing */
#define TTL_MS (TTL * 1000)

static struct etcd_proc etcd;

static int group_setup(void **state)
{
    (void)state;
    if (etcd_proc_binary() == NULL) {
        return 0;
    }
    return etcd_proc_start(&etcd) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    etcd_proc_destroy(&etcd);
    return 0;
}

static enum bm_err replicate(struct ha_cand *c, int64_t token, uint64_t h,
                             struct bm_errmsg *em)
{
    struct bm_buf rec = {0};
    enum bm_err err;

    ha_record(h, &rec);
    err = bm_ha_replicate(c->h, token, h, rec.ptr, rec.len, em);
    bm_buf_release(&rec);
    return err;
}

/* The gate, with the hash of record h - 1 as the store's previous block. */
static enum bm_err may(struct ha_cand *c, uint64_t h, int64_t token,
                       struct bm_errmsg *em)
{
    uint8_t prev[32];

    memset(prev, (int)(h - 1), sizeof(prev));
    return bm_ha_may_produce(c->h, h, token, prev, sizeof(prev), em);
}

static int count_leaders(struct ha_cand *cs, size_t n)
{
    int k = 0;

    for (size_t i = 0; i < n; i++) {
        if (ha_role(&cs[i], NULL) == BM_HA_LEADER) {
            k++;
        }
    }
    return k;
}

static void test_config(void **state)
{
    struct ha_cand c;
    struct bm_errmsg em = {{0}};
    const char *url = "http://127.0.0.1:1";

    (void)state;
    assert_int_equal(ha_cand_new(&c, url, "blockv2", "a", TTL, &em),
                     BM_ECONFIG);
    assert_non_null(strstr(em.msg, "ha.prefix"));
    assert_int_equal(ha_cand_new(&c, url, "/blockv2/", "a", TTL, &em),
                     BM_ECONFIG);
    assert_non_null(strstr(em.msg, "ha.prefix"));
    assert_int_equal(ha_cand_new(&c, url, "/block v2", "a", TTL, &em),
                     BM_ECONFIG);
    assert_int_equal(ha_cand_new(&c, url, "/b", "", TTL, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "ha.node_id"));
    assert_int_equal(ha_cand_new(&c, url, "/b", "a b", TTL, &em), BM_ECONFIG);
    assert_int_equal(ha_cand_new(&c, url, "/b", "a", 1, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "ha.lease_ttl"));
    assert_int_equal(ha_cand_new(&c, "localhost:2379", "/b", "a", TTL, &em),
                     BM_ECONFIG);
    assert_non_null(strstr(em.msg, "ha.etcd_endpoints"));
    pthread_mutex_destroy(&c.rec.mu);
}

static void test_unreachable_at_start(void **state)
{
    struct ha_cand c;
    struct bm_errmsg em = {{0}};
    char dead[64];

    (void)state;
    etcd_proc_dead_url(dead, sizeof(dead));
    assert_int_equal(ha_cand_new(&c, dead, "/t/unreach", "a", TTL, &em), BM_OK);
    assert_int_equal(bm_ha_start(c.h, &em), BM_ECONNECT);
    assert_non_null(strstr(em.msg, dead));
    assert_int_equal(ha_role(&c, NULL), BM_HA_FOLLOWER);
    ha_cand_free(&c);
}

static void test_wrong_prefix(void **state)
{
    struct ha_cand c;
    struct bm_errmsg em = {{0}};
    struct bm_etcd *e;
    struct bm_etcd_resp r = {0};

    (void)state;
    HA_NEED_ETCD();
    /* a prefix whose block key holds something else */
    e = ha_client(etcd.url);
    assert_int_equal(bm_etcd_put(e, (const uint8_t *)"/t/other/block", 14,
                                 (const uint8_t *)"{\"not\":\"ours\"}", 14, 0,
                                 0, &r, &em),
                     BM_OK);
    assert_int_equal(ha_cand_new(&c, etcd.url, "/t/other", "a", TTL, &em),
                     BM_OK);
    assert_int_equal(bm_ha_start(c.h, &em), BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "'/t/other/block'"));
    assert_non_null(strstr(em.msg, "ha.prefix"));
    ha_cand_free(&c);
    bm_etcd_resp_release(&r);
    bm_etcd_free(e);
}

static void test_one_leader(void **state)
{
    struct ha_cand cs[3];
    struct bm_etcd *e;
    struct bm_etcd_resp r = {0};
    struct bm_errmsg em = {{0}};
    struct bm_ha_status st;
    int64_t token;
    int li;

    (void)state;
    HA_NEED_ETCD();
    ha_cand_start(&cs[0], etcd.url, "/t/one", "a", TTL);
    ha_cand_start(&cs[1], etcd.url, "/t/one", "b", TTL);
    ha_cand_start(&cs[2], etcd.url, "/t/one", "c", TTL);
    li = ha_wait_leader(cs, 3, 5000);
    assert_true(li >= 0);
    /* exactly one, for two TTLs of keep-alives */
    for (int i = 0; i < 2 * TTL_MS / 20; i++) {
        assert_int_equal(count_leaders(cs, 3), 1);
        bm_sleep_ms(20);
    }
    assert_int_equal(ha_role(&cs[li], &token), BM_HA_LEADER);
    /* the token is the leader key's create_revision; the value its id */
    e = ha_client(etcd.url);
    assert_int_equal(
        bm_etcd_get(e, (const uint8_t *)"/t/one/leader", 13, 0, &r, &em),
        BM_OK);
    assert_true(r.has_kv);
    assert_true(r.kv.create_revision == token);
    assert_true(bm_buf_eq_raw(&r.kv.value, (const uint8_t *)cs[li].id,
                              strlen(cs[li].id)));
    /* the callback said so (waited for: it runs after the status
     * flips); the others know who leads */
    {
        struct ha_rec rec;

        ha_rec_wait_role(&cs[li].rec, BM_HA_LEADER, 5000, &rec);
        assert_int_equal(rec.role, BM_HA_LEADER);
        assert_true(rec.token == token);
        assert_int_equal(rec.why, BM_HA_WON);
    }
    for (int i = 0; i < 3; i++) {
        bm_ha_status(cs[i].h, &st);
        if (i != li) {
            assert_int_equal(st.role, BM_HA_FOLLOWER);
            assert_string_equal(st.leader_id, cs[li].id);
        }
    }
    for (int i = 0; i < 3; i++) {
        ha_cand_free(&cs[i]);
    }
    bm_etcd_resp_release(&r);
    bm_etcd_free(e);
}

static void test_replicate_and_gate(void **state)
{
    struct ha_cand a, b;
    struct bm_errmsg em = {{0}};
    struct bm_ha_status st;
    int64_t ta, tb;
    int64_t ms;

    (void)state;
    HA_NEED_ETCD();
    ha_cand_start(&a, etcd.url, "/t/rep", "a", TTL);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, 5000) >= 0);
    ha_cand_start(&b, etcd.url, "/t/rep", "b", TTL);
    ha_role(&a, &ta);
    /* no record yet: any height; then strictly the next one */
    assert_int_equal(may(&a, 1, ta, &em), BM_OK);
    assert_int_equal(may(&a, 1, ta + 1, &em), BM_ENOT_LEADER);
    assert_int_equal(may(&b, 1, ta, &em), BM_ENOT_LEADER);
    assert_non_null(strstr(em.msg, "not the leader"));
    for (uint64_t h = 1; h <= 3; h++) {
        assert_int_equal(may(&a, h, ta, &em), BM_OK);
        assert_int_equal(replicate(&a, ta, h, &em), BM_OK);
    }
    assert_int_equal(replicate(&a, ta, 3, &em), BM_OK); /* a retry */
    assert_int_equal(may(&a, 3, ta, &em), BM_ESTATE);
    assert_int_equal(replicate(&a, ta, 5, &em), BM_ESTATE);
    assert_int_equal(replicate(&b, ta, 4, &em), BM_ENOT_LEADER);
    /* the store's block 3 is another one: refused */
    {
        uint8_t other[32] = {0};
        assert_int_equal(
            bm_ha_may_produce(a.h, 4, ta, other, sizeof(other), &em),
            BM_ECORRUPT);
        assert_non_null(strstr(em.msg, "rolled back"));
    }
    /* a record of another height than claimed */
    {
        struct bm_buf rec = {0};
        ha_record(7, &rec);
        assert_int_equal(bm_ha_replicate(a.h, ta, 4, rec.ptr, rec.len, &em),
                         BM_EINVAL);
        assert_int_equal(
            bm_ha_replicate(a.h, ta, 4, (const uint8_t *)"x", 1, &em),
            BM_EINVAL);
        bm_buf_release(&rec);
    }
    /* DA may get what is replicated, from the leader only */
    {
        uint64_t top = 9;
        assert_true(bm_ha_publish_limit(a.h, &top));
        assert_true(top == 3);
        top = 2;
        assert_true(bm_ha_publish_limit(a.h, &top));
        assert_true(top == 2);
        assert_false(bm_ha_publish_limit(b.h, &top));
    }
    bm_ha_status(a.h, &st);
    assert_true(st.replicated_known && st.replicated_height == 3);
    assert_true(st.replicated_blocks == 4);
    /* hand-over: a resigns, b takes over at once (watch) and continues
     * from the replicated height */
    {
        uint64_t t0 = bm_clock_now_ns();
        bm_ha_stop(a.h, true);
        ms = ha_wait_role(&b, BM_HA_LEADER, 5000);
        assert_true(ms >= 0);
        fprintf(stderr, "hand-over took %" PRId64 " ms (TTL %d s)\n",
                (int64_t)((bm_clock_now_ns() - t0) / 1000000u), TTL);
        assert_true(ms < TTL_MS / 3);
    }
    ha_role(&b, &tb);
    assert_true(tb > ta);
    assert_int_equal(may(&b, 1, tb, &em), BM_ESTATE);
    assert_non_null(strstr(em.msg, "replicated height is 3"));
    assert_int_equal(may(&b, 4, tb, &em), BM_OK);
    assert_int_equal(replicate(&b, tb, 4, &em), BM_OK);
    /* the deposed leader's token no longer writes */
    assert_int_equal(replicate(&a, ta, 5, &em), BM_ENOT_LEADER);
    ha_cand_free(&a);
    ha_cand_free(&b);
}

/* A follower knows each record as etcd accepts it (the watch of
 * <prefix>/block), not at its next campaign round: with a 30 s TTL those
 * come every 10 s. The second role callback (bm_ha_set_listener) sees the
 * hand-over; after it is cleared it is not called. */
static void test_follower_watches_record(void **state)
{
    struct ha_cand a, b;
    struct ha_rec lis = {0}, got;
    struct bm_errmsg em = {{0}};
    struct bm_ha_status st;
    uint64_t deadline;
    int64_t ta, tb;
    int calls;

    (void)state;
    HA_NEED_ETCD();
    pthread_mutex_init(&lis.mu, NULL);
    ha_cand_start(&a, etcd.url, "/t/watchrec", "a", 30);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, 5000) >= 0);
    ha_cand_start(&b, etcd.url, "/t/watchrec", "b", 30);
    bm_ha_set_listener(b.h, ha_rec_cb, &lis);
    ha_role(&a, &ta);
    for (uint64_t h = 1; h <= 3; h++) {
        assert_int_equal(replicate(&a, ta, h, &em), BM_OK);
    }
    deadline = bm_clock_deadline_ms(5000);
    do {
        bm_ha_status(b.h, &st);
        if (st.replicated_known && st.replicated_height == 3) {
            break;
        }
        bm_sleep_ms(5);
    } while (bm_clock_now_ns() < deadline);
    assert_true(st.replicated_known && st.replicated_height == 3);
    assert_int_equal(st.role, BM_HA_FOLLOWER);
    /* the record's bytes too, as written */
    {
        struct bm_buf want = {0}, have = {0};
        ha_record(3, &want);
        assert_int_equal(bm_ha_record(b.h, &have), BM_OK);
        assert_true(bm_buf_eq(&want, &have));
        bm_buf_release(&want);
        bm_buf_release(&have);
    }
    /* hand-over: b's listener sees it lead */
    bm_ha_stop(a.h, true);
    assert_true(ha_wait_role(&b, BM_HA_LEADER, 5000) >= 0);
    /* The status flips before the callbacks run (they run outside the
     * state lock), so wait for the listener itself. */
    ha_rec_wait_role(&lis, BM_HA_LEADER, 5000, &got);
    assert_int_equal(got.role, BM_HA_LEADER);
    ha_role(&b, &tb);
    assert_int_equal(got.token, tb);
    /* told of the leadership once; the start-up FOLLOWER may have come
     * before or after the listener was set */
    assert_in_range(got.calls, 1, 2);
    calls = got.calls;
    bm_ha_set_listener(b.h, NULL, NULL);
    bm_ha_stop(b.h, true);
    ha_rec_get(&lis, &got);
    assert_int_equal(got.calls, calls); /* cleared: not told of the stop */
    ha_cand_free(&a);
    ha_cand_free(&b);
    pthread_mutex_destroy(&lis.mu);
}

/* A follower more than one block below the record defers its campaign
 * (TTL/10: 3 s here) when the leader key is freed, so the follower at the
 * record wins; alone, it still leads after the deferral. */
static void test_behind_follower_defers(void **state)
{
    struct ha_cand a, b, c;
    struct bm_errmsg em = {{0}};
    struct bm_ha_status st;
    uint64_t deadline;
    int64_t ta, ms;

    (void)state;
    HA_NEED_ETCD();
    ha_cand_start(&a, etcd.url, "/t/defer", "a", 30);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, 5000) >= 0);
    ha_cand_start(&b, etcd.url, "/t/defer", "b", 30);
    ha_cand_start(&c, etcd.url, "/t/defer", "c", 30);
    ha_role(&a, &ta);
    for (uint64_t h = 1; h <= 5; h++) {
        assert_int_equal(replicate(&a, ta, h, &em), BM_OK);
    }
    deadline = bm_clock_deadline_ms(10000);
    do {
        bm_ha_status(b.h, &st);
        if (st.replicated_height == 5) {
            bm_ha_status(c.h, &st);
        }
        if (st.replicated_height == 5) {
            break;
        }
        bm_sleep_ms(5);
    } while (bm_clock_now_ns() < deadline);
    assert_true(st.replicated_height == 5);
    bm_ha_note_store_height(b.h, 2); /* 3 below the record */
    bm_ha_note_store_height(c.h, 4); /* the record's block is missing */
    bm_ha_stop(a.h, true);
    /* The follower at the record wins: whichever of b and c leads first
     * must be c (b defers 3 s; c needs no fixed time to win, which on a
     * loaded machine can take longer than a bound would allow). */
    deadline = bm_clock_deadline_ms(10000);
    while (ha_role(&c, NULL) != BM_HA_LEADER &&
           ha_role(&b, NULL) != BM_HA_LEADER &&
           bm_clock_now_ns() < deadline) {
        bm_sleep_ms(2);
    }
    assert_int_equal(ha_role(&c, NULL), BM_HA_LEADER);
    assert_int_equal(ha_role(&b, NULL), BM_HA_FOLLOWER);
    /* alone and behind: it leads after the deferral */
    bm_ha_stop(c.h, true);
    ms = ha_wait_role(&b, BM_HA_LEADER, 15000);
    fprintf(stderr, "behind follower led %" PRId64 " ms after the resign\n",
            ms);
    assert_true(ms >= 2500);
    assert_true(ms < 10000); /* TTL/3 would be the next periodic round */
    ha_cand_free(&a);
    ha_cand_free(&b);
    ha_cand_free(&c);
}

/* A record above etcd's request limit (1.5 MiB by default) is refused
 * with the cause named; the leader stays leader, nothing is replicated. */
static void test_record_too_large(void **state)
{
    struct ha_cand a;
    struct bm_errmsg em = {{0}};
    struct bm_raft_block_state s = {0};
    struct bm_buf rec = {0};
    struct bm_ha_status st;
    int64_t ta;
    /* above --max-request-bytes (etcd's message), and above its gRPC
     * limit (the gRPC layer's message) */
    const size_t sizes[] = {1600u << 10, 2u << 20};

    (void)state;
    HA_NEED_ETCD();
    ha_cand_start(&a, etcd.url, "/t/big", "a", TTL);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, 5000) >= 0);
    ha_role(&a, &ta);
    for (size_t i = 0; i < 2; i++) {
        s.height = 1;
        s.data.ptr = bm_xcalloc(sizes[i], 1);
        s.data.len = sizes[i];
        assert_int_equal(bm_raft_block_state_encode(&s, &rec), BM_OK);
        assert_int_equal(bm_ha_replicate(a.h, ta, 1, rec.ptr, rec.len, &em),
                         BM_ETOOBIG);
        assert_non_null(strstr(em.msg, "--max-request-bytes"));
        bm_raft_block_state_release(&s);
    }
    bm_ha_status(a.h, &st);
    assert_int_equal(st.role, BM_HA_LEADER);
    assert_false(st.replicated_known);
    bm_buf_release(&rec);
    bm_raft_block_state_release(&s);
    ha_cand_free(&a);
}

/* The leader stops sending keep-alives (frozen, as if SIGSTOPped): the
 * lease expires, the other wins, and the old leader's guarded write is
 * refused by etcd. */
static void test_lease_expiry_failover(void **state)
{
    struct ha_cand a, b;
    struct bm_errmsg em = {{0}};
    struct bm_ha_status st;
    struct ha_rec rec;
    int64_t ta, tb, ms;

    (void)state;
    HA_NEED_ETCD();
    ha_cand_start(&a, etcd.url, "/t/exp", "a", TTL);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, 5000) >= 0);
    ha_cand_start(&b, etcd.url, "/t/exp", "b", TTL);
    ha_role(&a, &ta);
    assert_int_equal(replicate(&a, ta, 1, &em), BM_OK);
    bm_ha_test_freeze(a.h, true);
    /* etcd expires a's lease after TTL (checked every 500 ms); b's watch
     * sees the key deleted */
    ms = ha_wait_role(&b, BM_HA_LEADER, TTL_MS + 3000);
    assert_true(ms >= 0);
    fprintf(stderr, "failover after freeze: %" PRId64 " ms (TTL %d s)\n", ms,
            TTL);
    ha_role(&b, &tb);
    assert_true(tb > ta);
    /* a still believes it leads: its write reaches etcd and is fenced */
    assert_int_equal(ha_role(&a, NULL), BM_HA_LEADER);
    assert_int_equal(replicate(&a, ta, 2, &em), BM_ENOT_LEADER);
    assert_non_null(strstr(em.msg, "node 'b'"));
    assert_int_equal(ha_role(&a, NULL), BM_HA_FOLLOWER);
    ha_rec_get(&a.rec, &rec);
    assert_int_equal(rec.role, BM_HA_FOLLOWER);
    assert_int_equal(rec.why, BM_HA_FENCED);
    bm_ha_status(a.h, &st);
    assert_true(st.fencing_rejections == 1);
    /* b goes on from a's replicated block; a rejoins as a follower */
    assert_int_equal(may(&b, 2, tb, &em), BM_OK);
    assert_int_equal(replicate(&b, tb, 2, &em), BM_OK);
    bm_ha_test_freeze(a.h, false);
    bm_sleep_ms(TTL_MS);
    assert_int_equal(ha_role(&a, NULL), BM_HA_FOLLOWER);
    assert_int_equal(ha_role(&b, NULL), BM_HA_LEADER);
    bm_ha_status(a.h, &st);
    assert_string_equal(st.leader_id, "b");
    assert_true(st.lease_id != 0);
    ha_cand_free(&a);
    ha_cand_free(&b);
}

/* The lease expires between the leader's decision to write and the
 * write: the guard fails because the leader key is gone. */
static void test_lease_expires_mid_write(void **state)
{
    struct ha_cand a;
    struct bm_etcd *e;
    struct bm_errmsg em = {{0}};
    struct bm_ha_status st;
    int64_t ta;

    (void)state;
    HA_NEED_ETCD();
    ha_cand_start(&a, etcd.url, "/t/mid", "a", TTL);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, 5000) >= 0);
    ha_role(&a, &ta);
    assert_int_equal(may(&a, 1, ta, &em), BM_OK);
    bm_ha_test_freeze(a.h, true);
    bm_ha_status(a.h, &st);
    /* the lease ends at etcd (revoked here rather than waited for) */
    e = ha_client(etcd.url);
    assert_int_equal(bm_etcd_lease_revoke(e, st.lease_id, 0, &em), BM_OK);
    assert_int_equal(replicate(&a, ta, 1, &em), BM_ELEASE_EXPIRED);
    assert_non_null(strstr(em.msg, "'/t/mid/leader' is gone"));
    assert_non_null(strstr(em.msg, "lease expired"));
    assert_int_equal(ha_role(&a, NULL), BM_HA_FOLLOWER);
    /* unfrozen, it notices its lease is gone, takes a new one and wins
     * again with a new token */
    bm_ha_test_freeze(a.h, false);
    assert_true(ha_wait_role(&a, BM_HA_LEADER, TTL_MS + 3000) >= 0);
    {
        int64_t t2;
        ha_role(&a, &t2);
        assert_true(t2 > ta);
    }
    ha_cand_free(&a);
    bm_etcd_free(e);
}

/* etcd stops answering (SIGSTOP) or dies: the leader steps down within
 * one TTL; when etcd is back, the campaign resumes. */
static void etcd_outage(bool kill_it)
{
    struct etcd_proc *own;
    struct ha_cand cs[2];
    struct ha_rec rec;
    uint64_t t0;
    int64_t ms;
    int li;

    own = ha_start_etcd();
    ha_cand_start(&cs[0], own->url, "/t/out", "a", TTL);
    ha_cand_start(&cs[1], own->url, "/t/out", "b", TTL);
    li = ha_wait_leader(cs, 2, 5000);
    assert_true(li >= 0);
    struct ha_cand *l = &cs[li];
    t0 = bm_clock_now_ns();
    if (kill_it) {
        etcd_proc_kill(own);
    } else {
        etcd_proc_pause(own);
    }
    /* the callback (what the block manager acts on) says so */
    ms = -1;
    for (int i = 0; i < 2 * TTL_MS / 5; i++) {
        ha_rec_get(&l->rec, &rec);
        if (rec.role == BM_HA_FOLLOWER) {
            ms = (int64_t)((rec.at_ns - t0) / 1000000u);
            break;
        }
        bm_sleep_ms(5);
    }
    fprintf(stderr,
            "etcd %s: leader stepped down after %" PRId64 " ms "
            "(TTL %d s)\n",
            kill_it ? "killed" : "stopped", ms, TTL);
    assert_true(ms >= 0 && ms <= TTL_MS);
    assert_int_equal(rec.why, BM_HA_UNSURE);
    /* nobody leads while etcd is away */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(count_leaders(cs, 2), 0);
        bm_sleep_ms(50);
    }
    if (kill_it) {
        assert_true(etcd_proc_restart(own));
    } else {
        etcd_proc_resume(own);
    }
    li = ha_wait_leader(cs, 2, 4 * TTL_MS);
    assert_true(li >= 0);
    fprintf(stderr, "etcd back: %s leads\n", cs[li].id);
    ha_cand_free(&cs[0]);
    ha_cand_free(&cs[1]);
}

static void test_etcd_stopped(void **state)
{
    (void)state;
    etcd_outage(false);
}

static void test_etcd_killed(void **state)
{
    (void)state;
    etcd_outage(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_unreachable_at_start),
        cmocka_unit_test(test_wrong_prefix),
        cmocka_unit_test(test_one_leader),
        cmocka_unit_test(test_replicate_and_gate),
        cmocka_unit_test(test_follower_watches_record),
        cmocka_unit_test(test_behind_follower_defers),
        cmocka_unit_test(test_record_too_large),
        cmocka_unit_test(test_lease_expiry_failover),
        cmocka_unit_test(test_lease_expires_mid_write),
        cmocka_unit_test_teardown(test_etcd_stopped, ha_teardown_etcd),
        cmocka_unit_test_teardown(test_etcd_killed, ha_teardown_etcd),
    };
    return etcd_proc_exit(bm_test_check_leaks(
        cmocka_run_group_tests(tests, group_setup, group_teardown)));
}
