/*
 * Redial of configured peers (p2p.peers) over real sockets on 127.0.0.1:
 *  - a peer behind a listener that accepts and resets every connection
 *    (what a cut link through a proxy does) is redialled with a backoff
 *    that doubles from redial_min to redial_max and stays there: never
 *    more attempts than the shortest (jittered) delays allow, counted in
 *    the redials statistic; once the listener is a real host again the
 *    connection is back within redial_max plus slack;
 *  - a sign of life (another peer connects) cuts a long wait back to
 *    redial_min, counted in redial_resets, at most once per redial_max;
 *  - the defaults (1 s doubling to 5 s).
 * Waits are on conditions with generous deadlines; no fixed sleep decides
 * an outcome. The long wait of the second case is set on the loop thread
 * (host_internal.h) instead of being waited for, so that case is quick.
 */
#include "gossip_util.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p2p/host_internal.h"

#define SLACK_MS 5000u   /* beyond a guaranteed delay: a loaded machine */
#define LONG_MS 60000u   /* a wait no test deadline reaches */

/* ------------------------------------------------------------ refuser */

/* A listener that accepts every connection and resets it at once,
 * recording when (bm_clock_now_ms). */
#define REF_MAX 256

struct refuser {
    int fd;
    int stopfd;
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t mu;
    uint64_t at[REF_MAX];
    size_t n;
};

static void *refuser_main(void *arg)
{
    struct refuser *r = arg;
    struct pollfd p[2] = {{.fd = r->fd, .events = POLLIN},
                          {.fd = r->stopfd, .events = POLLIN}};

    for (;;) {
        if (poll(p, 2, -1) < 0) {
            continue;
        }
        if (p[1].revents != 0) {
            return NULL;
        }
        if (p[0].revents != 0) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            int c = accept(r->fd, NULL, NULL);

            if (c < 0) {
                continue;
            }
            pthread_mutex_lock(&r->mu);
            if (r->n < REF_MAX) {
                r->at[r->n] = bm_clock_now_ms();
            }
            r->n++;
            pthread_mutex_unlock(&r->mu);
            (void)setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(c);
        }
    }
}

static void refuser_start(struct refuser *r, uint16_t port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;

    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->fd >= 0);
    assert_int_equal(setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one,
                                sizeof(one)), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r->fd, 64), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&sa, &len), 0);
    r->port = ntohs(sa.sin_port);
    r->stopfd = eventfd(0, EFD_CLOEXEC);
    assert_true(r->stopfd >= 0);
    assert_int_equal(pthread_create(&r->thread, NULL, refuser_main, r), 0);
}

/* Stops accepting and closes the listener (the port is free again). */
static void refuser_stop(struct refuser *r)
{
    uint64_t one = 1;

    assert_int_equal(write(r->stopfd, &one, sizeof(one)), sizeof(one));
    pthread_join(r->thread, NULL);
    close(r->fd);
    close(r->stopfd);
    pthread_mutex_destroy(&r->mu);
}

static size_t refuser_count(struct refuser *r)
{
    size_t n;

    pthread_mutex_lock(&r->mu);
    n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

struct count_arg {
    struct refuser *r;
    size_t want;
};

static bool refused_at_least(void *arg)
{
    struct count_arg *c = arg;

    return refuser_count(c->r) >= c->want;
}

/* ------------------------------------------------------------ hosts */

/* A stopped host on 127.0.0.1:port (0: any) with identity seed byte, the
 * configured peers and redial bounds given. */
static void host_new(struct gu_host *n, uint8_t seed, uint16_t port,
                     const struct bm_multiaddr *peers, size_t n_peers,
                     uint64_t redial_min_ms, uint64_t redial_max_ms)
{
    struct bm_p2p_host_config cfg;

    bm_p2p_host_config_init(&cfg);
    cfg.peers = peers;
    cfg.n_peers = n_peers;
    cfg.redial_min_ms = redial_min_ms;
    cfg.redial_max_ms = redial_max_ms;
    gu_host_new_with(n, seed, port, &cfg);
}

/* The peer ID of identity seed byte `seed`. */
static struct bm_peer_id seed_id(uint8_t seed)
{
    struct bm_privkey k;
    struct bm_peer_id id;
    uint8_t s32[32];

    memset(s32, seed, sizeof(s32));
    bm_privkey_from_seed(&k, s32);
    bm_peer_id_from_privkey(&id, &k);
    bm_privkey_wipe(&k);
    return id;
}

static struct bm_multiaddr addr_of(uint16_t port, const struct bm_peer_id *id)
{
    struct bm_multiaddr ma;
    char text[48];

    snprintf(text, sizeof(text), "/ip4/127.0.0.1/tcp/%u", (unsigned)port);
    assert_int_equal(bm_multiaddr_parse(&ma, text, strlen(text), NULL), BM_OK);
    ma.has_peer = true;
    ma.peer = *id;
    return ma;
}

static struct bm_p2p_stats stats_of(const struct gu_host *n)
{
    struct bm_p2p_stats st;

    bm_p2p_host_stats(n->h, &st);
    return st;
}

struct peer_arg {
    const struct gu_host *n;
    uint64_t peers;
};

static bool peers_are(void *arg)
{
    struct peer_arg *p = arg;

    return stats_of(p->n).peers == p->peers;
}

/* The shortest total of the jittered delays before attempt k (0-based):
 * delay j (1 <= j <= k) is at least half of min(min_ms << (j-1), max). */
static uint64_t least_delays(size_t k, uint64_t min_ms, uint64_t max_ms)
{
    uint64_t sum = 0, d = min_ms;

    for (size_t j = 1; j <= k; j++) {
        sum += d / 2;
        d = d > max_ms / 2 ? max_ms : d * 2;
    }
    return sum;
}

/* ------------------------------------------------------------ cases */

/* The refuser stands for b; a's attempts back off to the cap and stay
 * there; then b itself listens on the port and a is back within the cap
 * plus slack. */
static void redial_capped_then_reconnects(void **state)
{
    const uint64_t min_ms = 50, max_ms = 400;
    struct bm_peer_id bid = seed_id(2);
    struct refuser r;
    struct bm_multiaddr baddr;
    struct gu_host a, b;
    struct count_arg want = {.r = &r, .want = 10};
    struct peer_arg one = {.n = &a, .peers = 1};
    struct bm_p2p_stats st;
    uint64_t t_start, t_end, t_heal, gap_max = 0;
    size_t seen;

    (void)state;
    refuser_start(&r, 0);
    baddr = addr_of(r.port, &bid);
    host_new(&a, 1, 0, &baddr, 1, min_ms, max_ms);
    t_start = bm_clock_now_ms();
    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    /* 10 attempts: 50, 100, 200, then 400 ms at most between them. */
    assert_true(gu_eventually(refused_at_least, &want, 20000 + 10 * max_ms));
    seen = refuser_count(&r);
    t_end = bm_clock_now_ms();
    /* Never more attempts than the shortest delays leave room for. */
    assert_true(t_end - t_start >= least_delays(seen - 1, min_ms, max_ms));
    pthread_mutex_lock(&r.mu);
    for (size_t i = 4; i < 10; i++) {
        uint64_t g = r.at[i] - r.at[i - 1];

        gap_max = g > gap_max ? g : gap_max;
    }
    pthread_mutex_unlock(&r.mu);
    /* At the cap: attempts keep coming, at most max_ms apart (plus the
     * time a loaded machine takes). */
    assert_true(gap_max <= max_ms + SLACK_MS);
    st = stats_of(&a);
    assert_int_equal(st.peers, 0);
    assert_true(st.redials + 1 >= seen);
    assert_true(st.dial_failures + 1 >= seen);
    assert_int_equal(st.redial_resets, 0);

    /* The link heals: b listens on the port. */
    refuser_stop(&r);
    host_new(&b, 2, r.port, NULL, 0, 0, 0);
    assert_int_equal(bm_p2p_host_start(b.h), BM_OK);
    t_heal = bm_clock_now_ms();
    assert_true(gu_eventually(peers_are, &one, max_ms + SLACK_MS));
    assert_true(bm_clock_now_ms() - t_heal <= max_ms + SLACK_MS);
    gu_host_free(&a);
    gu_host_free(&b);
}

struct seed_state {
    uint64_t backoff_ms;
    uint64_t wait_ms;    /* next attempt - now */
    bool dialing;
};

/* On a's loop: unless a dial of b is in progress, b's next attempt is
 * LONG_MS away (*(bool *)arg says whether it was set). */
static void set_long_wait(struct bm_p2p_host *h, void *arg)
{
    struct bm__p2p_seed *sd = &h->seeds[0];

    *(bool *)arg = !sd->dialing;
    if (!sd->dialing) {
        sd->backoff_ms = LONG_MS;
        sd->next_ms = bm_p2p_host_now_ms(h) + LONG_MS;
        bm__p2p_host_due(h, sd->next_ms);
    }
}

static bool long_wait_set(void *arg)
{
    bool set = false;

    gu_on_loop(arg, set_long_wait, &set);
    return set;
}

static void read_seed(struct bm_p2p_host *h, void *arg)
{
    struct seed_state *s = arg;
    const struct bm__p2p_seed *sd = &h->seeds[0];
    uint64_t now = bm_p2p_host_now_ms(h);

    s->backoff_ms = sd->backoff_ms;
    s->wait_ms = sd->next_ms > now ? sd->next_ms - now : 0;
    s->dialing = sd->dialing;
}

struct resets_arg {
    const struct gu_host *n;
    uint64_t want;
};

static bool dials_at_least(void *arg)
{
    struct resets_arg *p = arg;

    return stats_of(p->n).dial_failures >= p->want;
}

/* a waits a long time to redial b, which is down; c connects to a: a
 * redials b at once (b is back by then) — one reset. A second sign of life
 * within redial_max (d connects) leaves another long wait alone. */
static void sign_of_life_cuts_the_wait(void **state)
{
    const uint64_t min_ms = 50;
    struct bm_peer_id bid = seed_id(2);
    struct refuser r;
    struct bm_multiaddr baddr;
    struct gu_host a, b, c, d;
    struct peer_arg a_one = {.n = &a, .peers = 1};
    struct peer_arg a_two = {.n = &a, .peers = 2};
    struct resets_arg failed = {.n = &a, .want = 1};
    struct seed_state ss;
    uint64_t t0;

    (void)state;
    /* b's port, refusing for now. */
    refuser_start(&r, 0);
    baddr = addr_of(r.port, &bid);
    host_new(&a, 1, 0, &baddr, 1, min_ms, LONG_MS);
    assert_int_equal(bm_p2p_host_start(a.h), BM_OK);
    assert_true(gu_eventually(dials_at_least, &failed, GU_WAIT_MS));
    /* Pretend a has backed off to a long wait (as after many failures). */
    assert_true(gu_eventually(long_wait_set, &a, GU_WAIT_MS));
    gu_on_loop(&a, read_seed, &ss);
    assert_true(ss.wait_ms > LONG_MS - SLACK_MS);
    /* b comes back; nothing happens for a while without a sign of life. */
    refuser_stop(&r);
    host_new(&b, 2, r.port, NULL, 0, 0, 0);
    assert_int_equal(bm_p2p_host_start(b.h), BM_OK);
    /* c connects to a: a sign of life. */
    gu_host_new(&c, 3);
    assert_int_equal(bm_p2p_host_start(c.h), BM_OK);
    t0 = bm_clock_now_ms();
    assert_int_equal(gu_dial(&c, &a), BM_OK);
    assert_true(gu_eventually(peers_are, &a_two, min_ms + SLACK_MS));
    assert_true(bm_clock_now_ms() - t0 < min_ms + SLACK_MS);
    assert_int_equal(stats_of(&a).redial_resets, 1);

    /* b goes down again; once a waits long again, a second sign of life
     * within redial_max changes nothing. */
    gu_host_free(&b);
    assert_true(gu_eventually(peers_are, &a_one, GU_WAIT_MS));
    failed.want = stats_of(&a).dial_failures + 1;
    assert_true(gu_eventually(dials_at_least, &failed, GU_WAIT_MS));
    assert_true(gu_eventually(long_wait_set, &a, GU_WAIT_MS));
    gu_host_new(&d, 4);
    assert_int_equal(bm_p2p_host_start(d.h), BM_OK);
    assert_int_equal(gu_dial(&d, &a), BM_OK);
    assert_true(gu_eventually(peers_are, &a_two, GU_WAIT_MS)); /* c, d */
    gu_on_loop(&a, read_seed, &ss);
    assert_false(ss.dialing);
    assert_true(ss.wait_ms > LONG_MS - SLACK_MS);
    assert_int_equal(stats_of(&a).redial_resets, 1);
    gu_host_free(&a);
    gu_host_free(&c);
    gu_host_free(&d);
}

static void defaults(void **state)
{
    struct bm_p2p_host_config cfg;

    (void)state;
    bm_p2p_host_config_init(&cfg);
    assert_int_equal(cfg.redial_min_ms, 1000);
    assert_int_equal(cfg.redial_max_ms, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(redial_capped_then_reconnects),
        cmocka_unit_test(sign_of_life_cuts_the_wait),
    };

    if (bm_crypto_init() != BM_OK) {
        return 1;
    }
    return BM_TEST_RUN(tests);
}
