/* yamux sans-IO session: frames of spec 11.5, flow control, limits,
 * half-close, reset, keepalive, protocol errors. */
#include "bm_test.h"

#include <string.h>

#include "p2p/yamux.h"
#include "util/hex.h"

#define OUTCAP 65536

/* Events collected while pumping. */
struct evlog {
    struct bm_yamux_event ev[64];
    size_t n;
    /* DATA bytes per stream id (small ids only) */
    uint8_t *data[16];
    size_t data_len[16];
    size_t data_cap[16];
    bool fin[16];
    bool auto_consume;
    int last_err;
    uint32_t last_code;
};

static void log_init(struct evlog *l)
{
    memset(l, 0, sizeof(*l));
    l->auto_consume = true;
}

static void log_release(struct evlog *l)
{
    for (size_t i = 0; i < 16; i++) {
        bm_free(l->data[i]);
    }
}

static void log_data(struct evlog *l, uint32_t sid, const uint8_t *p,
                     size_t n)
{
    size_t i = sid % 16;

    if (l->data_len[i] + n > l->data_cap[i]) {
        l->data_cap[i] = (l->data_len[i] + n) * 2;
        l->data[i] = bm_xrealloc(l->data[i], l->data_cap[i]);
        assert_non_null(l->data[i]);
    }
    memcpy(l->data[i] + l->data_len[i], p, n);
    l->data_len[i] += n;
}

/* Feeds p[0..n) to y in chunks of `chunk` bytes (0: all at once). */
static int feed(struct bm_yamux *y, const uint8_t *p, size_t n, size_t chunk,
                struct evlog *l)
{
    size_t off = 0;

    while (off < n) {
        size_t end = chunk == 0 || off + chunk > n ? n : off + chunk;

        for (;;) {
            struct bm_yamux_event ev;
            size_t used = 0;
            int err = bm_yamux_input(y, p + off, end - off, &used, &ev);

            off += used;
            if (err != BM_OK) {
                l->last_err = err;
                l->last_code = ev.code;
                return err;
            }
            if (ev.type == BM_YAMUX_EV_NONE) {
                assert_int_equal(off, end);
                break;
            }
            if (l->n < 64) {
                l->ev[l->n++] = ev;
            }
            if (ev.type == BM_YAMUX_EV_DATA) {
                log_data(l, ev.sid, ev.data, ev.len);
                if (l->auto_consume) {
                    assert_int_equal(bm_yamux_stream_consumed(y, ev.sid,
                                                              ev.len),
                                     BM_OK);
                }
            }
            if (ev.type == BM_YAMUX_EV_FIN) {
                l->fin[ev.sid % 16] = true;
            }
            if (ev.type == BM_YAMUX_EV_GOAWAY) {
                return BM_OK; /* the session is over */
            }
        }
    }
    return BM_OK;
}

/* Moves everything a has to send into b. Returns bytes moved. */
static size_t pump(struct bm_yamux *a, struct bm_yamux *b, size_t chunk,
                   struct evlog *lb)
{
    static uint8_t buf[OUTCAP];
    size_t total = 0;
    size_t n;

    while ((n = bm_yamux_output(a, buf, sizeof(buf))) > 0) {
        assert_int_equal(feed(b, buf, n, chunk, lb), BM_OK);
        total += n;
    }
    return total;
}

/* A session with a receive window of `window` (0: the default). */
static struct bm_yamux *session_window(bool client, uint32_t window)
{
    struct bm_yamux_config cfg;
    struct bm_yamux *y;

    bm_yamux_config_init(&cfg);
    cfg.client = client;
    cfg.recv_window = window;
    assert_int_equal(bm_yamux_new(&y, &cfg), BM_OK);
    return y;
}

static struct bm_yamux *session(bool client)
{
    return session_window(client, 0);
}

static void expect_output_hex(struct bm_yamux *y, const char *hex)
{
    uint8_t buf[256];
    char got[513];
    size_t n = bm_yamux_output(y, buf, sizeof(buf));

    bm_hex_encode(got, buf, n);
    assert_string_equal(got, hex);
}

static void feed_hex(struct bm_yamux *y, const char *hex, struct evlog *l,
                     int want)
{
    uint8_t buf[256];
    size_t n = strlen(hex) / 2;

    assert_int_equal(bm_hex_decode_fixed(buf, n, hex, strlen(hex)), BM_OK);
    assert_int_equal(feed(y, buf, n, 0, l), want);
}

/* The frames of spec section 11.5, both ways. */
static void test_vectors(void **state)
{
    struct bm_yamux *c = session(true);
    struct bm_yamux *s = session(false);
    struct evlog l;
    uint32_t sid;

    (void)state;
    log_init(&l);
    assert_int_equal(bm_yamux_open(c, &sid), BM_OK);
    assert_int_equal(sid, 1);
    expect_output_hex(c, "000100010000000100000000"); /* WU SYN id 1 */
    feed_hex(s, "000100010000000100000000", &l, BM_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.ev[0].type, BM_YAMUX_EV_OPEN);
    assert_int_equal(l.ev[0].sid, 1);
    expect_output_hex(s, "000100020000000100000000"); /* WU ACK id 1 */
    assert_int_equal(bm_yamux_stream_write(c, 1, (const uint8_t *)
                                           "0123456789abcdefghij", 20),
                     BM_OK);
    {
        uint8_t buf[64];
        size_t n = bm_yamux_output(c, buf, sizeof(buf));
        char hex[129];

        assert_int_equal(n, 32);
        bm_hex_encode(hex, buf, 12);
        assert_string_equal(hex, "000000000000000100000014"); /* Data 20 */
    }
    assert_int_equal(bm_yamux_stream_close(c, 1), BM_OK);
    expect_output_hex(c, "000100040000000100000000"); /* WU FIN id 1 */
    /* Ping SYN 7 gets Ping ACK 7. */
    log_init(&l);
    feed_hex(s, "000200010000000000000007", &l, BM_OK);
    expect_output_hex(s, "000200020000000000000007");
    /* A server's stream: even id, RST with 0x1001. */
    {
        struct bm_yamux *s2 = session(false);

        assert_int_equal(bm_yamux_open(s2, &sid), BM_OK);
        assert_int_equal(sid, 2);
        expect_output_hex(s2, "000100010000000200000000");
        assert_int_equal(bm_yamux_stream_reset(s2, 2, 0x1001), BM_OK);
        expect_output_hex(s2, "000100080000000200001001");
        bm_yamux_goaway(s2, 0);
        expect_output_hex(s2, "000300000000000000000000");
        bm_yamux_free(s2);
    }
    log_release(&l);
    bm_yamux_free(c);
    bm_yamux_free(s);
}

/* 4 MiB each way over one stream through 256 KiB windows, with the
 * input cut at every size from 1 byte up. */
static void test_bulk_both_ways(void **state)
{
    const size_t total = (size_t)4 << 20;
    uint8_t *msg = bm_xmalloc(total);
    size_t chunks[] = {0, 1, 7, 12, 13, 4096, 65537};

    (void)state;
    for (size_t i = 0; i < total; i++) {
        msg[i] = (uint8_t)(i * 31 + 7);
    }
    for (size_t ci = 0; ci < sizeof(chunks) / sizeof(chunks[0]); ci++) {
        struct bm_yamux *c = session(true);
        struct bm_yamux *s = session(false);
        struct evlog lc, ls;
        size_t sent_c = 0, sent_s = 0;
        size_t limit = chunks[ci] == 1 ? total / 16 : total;
        uint32_t sid;

        log_init(&lc);
        log_init(&ls);
        assert_int_equal(bm_yamux_open(c, &sid), BM_OK);
        pump(c, s, chunks[ci], &ls);
        assert_int_equal(bm_yamux_stream_accept(s, sid), BM_OK);
        while (sent_c < limit || sent_s < limit ||
               bm_yamux_has_output(c) || bm_yamux_has_output(s)) {
            size_t k;

            /* Keep at most 1 MiB queued per side. */
            k = limit - sent_c < 300000 ? limit - sent_c : 300000;
            if (k > 0 && bm_yamux_stream_queued(c, sid) < (1u << 20)) {
                assert_int_equal(bm_yamux_stream_write(c, sid, msg + sent_c,
                                                       k),
                                 BM_OK);
                sent_c += k;
            }
            k = limit - sent_s < 300000 ? limit - sent_s : 300000;
            if (k > 0 && bm_yamux_stream_queued(s, sid) < (1u << 20)) {
                assert_int_equal(bm_yamux_stream_write(s, sid, msg + sent_s,
                                                       k),
                                 BM_OK);
                sent_s += k;
            }
            pump(c, s, chunks[ci], &ls);
            pump(s, c, chunks[ci], &lc);
        }
        assert_int_equal(ls.data_len[1], limit);
        assert_int_equal(lc.data_len[1], limit);
        assert_memory_equal(ls.data[1], msg, limit);
        assert_memory_equal(lc.data[1], msg, limit);
        /* Half-close both ways: the stream is freed on both sides. */
        assert_int_equal(bm_yamux_stream_close(c, sid), BM_OK);
        pump(c, s, chunks[ci], &ls);
        assert_true(ls.fin[1]);
        assert_true(bm_yamux_stream_remote_closed(s, sid));
        assert_int_equal(bm_yamux_stream_close(s, sid), BM_OK);
        pump(s, c, chunks[ci], &lc);
        assert_true(lc.fin[1]);
        {
            struct bm_yamux_stats st;

            bm_yamux_stats(c, &st);
            assert_int_equal(st.live_streams, 0);
            bm_yamux_stats(s, &st);
            assert_int_equal(st.live_streams, 0);
        }
        log_release(&lc);
        log_release(&ls);
        bm_yamux_free(c);
        bm_yamux_free(s);
    }
    bm_free(msg);
}

/* A reader that does not consume stops the writer at 256 KiB; a peer that
 * sends past the window gets GoAway(1). */
static void test_window(void **state)
{
    struct bm_yamux *c = session(true);
    struct bm_yamux *s = session(false);
    struct evlog lc, ls;
    uint8_t *big = bm_xcalloc(1, 300 * 1024);
    uint8_t frame[12];
    uint32_t sid;

    (void)state;
    log_init(&lc);
    log_init(&ls);
    ls.auto_consume = false;
    assert_int_equal(bm_yamux_open(c, &sid), BM_OK);
    assert_int_equal(bm_yamux_stream_write(c, sid, big, 300 * 1024), BM_OK);
    pump(c, s, 0, &ls);
    pump(s, c, 0, &lc);
    assert_int_equal(ls.data_len[1], BM_YAMUX_WINDOW);
    assert_int_equal(bm_yamux_stream_send_window(c, sid), 0);
    assert_int_equal(bm_yamux_stream_queued(c, sid),
                     300 * 1024 - BM_YAMUX_WINDOW);
    assert_false(bm_yamux_has_output(c));
    /* Consuming less than half a window sends nothing... */
    assert_int_equal(bm_yamux_stream_consumed(s, sid, 1000), BM_OK);
    assert_false(bm_yamux_has_output(s));
    /* ...more than that credits it, and the rest flows. */
    assert_int_equal(bm_yamux_stream_consumed(s, sid, BM_YAMUX_WINDOW - 1000),
                     BM_OK);
    assert_int_equal(bm_yamux_stream_consumed(s, sid, 1), BM_EINVAL);
    pump(s, c, 0, &lc);
    pump(c, s, 0, &ls);
    assert_int_equal(ls.data_len[1], 300 * 1024);

    /* Raw Data past the window on a fresh stream: protocol error. */
    bm_yamux_free(s);
    s = session(false);
    log_release(&ls);
    log_init(&ls);
    ls.auto_consume = false;
    bm_yamux_header_put(frame, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_SYN, 3, 0);
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_OK);
    for (int i = 0; i < 4; i++) {
        bm_yamux_header_put(frame, BM_YAMUX_DATA, 0, 3, 65536);
        assert_int_equal(feed(s, frame, 12, 0, &ls), BM_OK);
        assert_int_equal(feed(s, big, 65536, 0, &ls), BM_OK);
    }
    bm_yamux_header_put(frame, BM_YAMUX_DATA, 0, 3, 1);
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_EPROTO);
    assert_int_equal(ls.last_code, BM_YAMUX_E_WINDOW);
    expect_output_hex(s, "000100020000000300000000" /* the ACK */
                         "000300000000000000000001");
    /* Sticky. */
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_EPROTO);
    assert_int_equal(ls.last_code, BM_YAMUX_E_CLOSED);
    log_release(&lc);
    log_release(&ls);
    bm_free(big);
    bm_yamux_free(c);
    bm_yamux_free(s);
}

/* A 1 MiB receive window: the rest above 256 KiB goes on the SYN and the
 * ACK, the writer may then have 1 MiB in flight, credit comes back at
 * half of it, and a Data frame that opens a stream still has only the
 * initial 256 KiB. */
static void test_big_window(void **state)
{
    const uint32_t w = 1024u * 1024u;
    struct bm_yamux *c = session_window(true, w);
    struct bm_yamux *s = session_window(false, w);
    struct evlog lc, ls;
    uint8_t *big = bm_xcalloc(1, 2 * w);
    uint8_t frame[12];
    uint32_t sid;

    (void)state;
    log_init(&lc);
    log_init(&ls);
    ls.auto_consume = false;
    assert_int_equal(bm_yamux_open(c, &sid), BM_OK);
    expect_output_hex(c, "0001000100000001000c0000"); /* SYN, +768 KiB */
    bm_yamux_header_put(frame, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_SYN, sid,
                        w - BM_YAMUX_WINDOW);
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_OK);
    expect_output_hex(s, "0001000200000001000c0000"); /* ACK, +768 KiB */
    bm_yamux_header_put(frame, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_ACK, sid,
                        w - BM_YAMUX_WINDOW);
    assert_int_equal(feed(c, frame, 12, 0, &lc), BM_OK);
    assert_int_equal(bm_yamux_stream_send_window(c, sid), w);
    assert_int_equal(bm_yamux_stream_write(c, sid, big, 2 * w), BM_OK);
    pump(c, s, 0, &ls);
    assert_int_equal(ls.data_len[1], w);
    assert_int_equal(bm_yamux_stream_send_window(c, sid), 0);
    /* Credit once half the window is owed. */
    assert_int_equal(bm_yamux_stream_consumed(s, sid, w / 2 - 1), BM_OK);
    assert_false(bm_yamux_has_output(s));
    assert_false(bm_yamux_credit_pending(s));
    assert_int_equal(bm_yamux_stream_consumed(s, sid, 1), BM_OK);
    assert_true(bm_yamux_credit_pending(s));
    expect_output_hex(s, "000100000000000100080000"); /* +512 KiB */
    assert_false(bm_yamux_credit_pending(s));

    /* Data with SYN on a fresh stream: 256 KiB is the limit of that
     * frame; later frames may use the whole window. */
    bm_yamux_free(s);
    s = session_window(false, w);
    log_release(&ls);
    log_init(&ls);
    ls.auto_consume = false;
    bm_yamux_header_put(frame, BM_YAMUX_DATA, BM_YAMUX_SYN, 3,
                        BM_YAMUX_WINDOW);
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_OK);
    assert_int_equal(feed(s, big, BM_YAMUX_WINDOW, 0, &ls), BM_OK);
    bm_yamux_header_put(frame, BM_YAMUX_DATA, 0, 3, w - BM_YAMUX_WINDOW);
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_OK);
    assert_int_equal(feed(s, big, w - BM_YAMUX_WINDOW, 0, &ls), BM_OK);
    bm_yamux_header_put(frame, BM_YAMUX_DATA, 0, 3, 1);
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_EPROTO);
    assert_int_equal(ls.last_code, BM_YAMUX_E_WINDOW);
    bm_yamux_free(s);
    s = session_window(false, w);
    bm_yamux_header_put(frame, BM_YAMUX_DATA, BM_YAMUX_SYN, 3,
                        BM_YAMUX_WINDOW + 1);
    assert_int_equal(feed(s, frame, 12, 0, &ls), BM_EPROTO);
    assert_int_equal(ls.last_code, BM_YAMUX_E_WINDOW);
    bm_yamux_free(s);
    /* Out-of-range windows are clamped: the SYN then grants nothing, or
     * at most up to BM_YAMUX_WINDOW_MAX. */
    s = session_window(true, 1000);
    assert_int_equal(bm_yamux_open(s, &sid), BM_OK);
    expect_output_hex(s, "000100010000000100000000");
    bm_yamux_free(s);
    s = session_window(true, UINT32_MAX);
    assert_int_equal(bm_yamux_open(s, &sid), BM_OK);
    expect_output_hex(s, "000100010000000100fc0000"); /* 16 MiB - 256 KiB */
    log_release(&lc);
    log_release(&ls);
    bm_free(big);
    bm_yamux_free(c);
    bm_yamux_free(s);
}

/* After we reset a stream, the peer may still send what the window
 * allowed (discarded) but not more (GoAway). */
static void test_reset_tombstone(void **state)
{
    struct bm_yamux *s = session(false);
    struct evlog l;
    uint8_t *big = bm_xcalloc(1, 65536);
    uint8_t frame[12];

    (void)state;
    log_init(&l);
    bm_yamux_header_put(frame, BM_YAMUX_DATA, BM_YAMUX_SYN, 1, 65536);
    assert_int_equal(feed(s, frame, 12, 0, &l), BM_OK);
    assert_int_equal(feed(s, big, 65536, 0, &l), BM_OK);
    assert_int_equal(l.ev[0].type, BM_YAMUX_EV_OPEN);
    assert_int_equal(bm_yamux_stream_reset(s, 1, BM_YAMUX_RESET_PROTOCOL),
                     BM_OK);
    expect_output_hex(s, "000100020000000100000000"
                         "000100080000000100001004");
    l.n = 0;
    for (int i = 0; i < 2; i++) {
        bm_yamux_header_put(frame, BM_YAMUX_DATA, 0, 1, 65536);
        assert_int_equal(feed(s, frame, 12, 0, &l), BM_OK);
        assert_int_equal(feed(s, big, 65536, 0, &l), BM_OK);
    }
    assert_int_equal(l.n, 0); /* discarded, no events */
    bm_yamux_header_put(frame, BM_YAMUX_DATA, 0, 1, 65537);
    assert_int_equal(feed(s, frame, 12, 0, &l), BM_EPROTO);
    assert_int_equal(l.last_code, BM_YAMUX_E_WINDOW);
    /* Data for a stream never seen is discarded, not fatal. */
    bm_yamux_free(s);
    s = session(false);
    log_release(&l);
    log_init(&l);
    bm_yamux_header_put(frame, BM_YAMUX_DATA, 0, 9, 65536);
    assert_int_equal(feed(s, frame, 12, 0, &l), BM_OK);
    assert_int_equal(feed(s, big, 65536, 3, &l), BM_OK);
    assert_int_equal(l.n, 0);
    {
        struct bm_yamux_stats st;

        bm_yamux_stats(s, &st);
        assert_int_equal(st.data_discarded, 65536);
    }
    log_release(&l);
    bm_free(big);
    bm_yamux_free(s);
}

static void test_protocol_errors(void **state)
{
    static const struct {
        const char *hex;
        enum bm_yamux_error e;
    } cases[] = {
        {"010000000000000100000000", BM_YAMUX_E_VERSION},
        {"000400000000000100000000", BM_YAMUX_E_TYPE},
        {"00ff00000000000100000000", BM_YAMUX_E_TYPE},
        {"000200010000000100000000", BM_YAMUX_E_SESSION_ID},
        {"000300000000000500000000", BM_YAMUX_E_SESSION_ID},
        {"000000000000000000000001", BM_YAMUX_E_SESSION_ID},
        {"000100010000000200000000", BM_YAMUX_E_SYN_PARITY}, /* server's */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bm_yamux *s = session(false);
        struct evlog l;

        log_init(&l);
        feed_hex(s, cases[i].hex, &l, BM_EPROTO);
        assert_int_equal(l.last_code, cases[i].e);
        expect_output_hex(s, "000300000000000000000001");
        bm_yamux_free(s);
    }
    /* A duplicate SYN. */
    {
        struct bm_yamux *s = session(false);
        struct evlog l;

        log_init(&l);
        feed_hex(s, "000100010000000100000000", &l, BM_OK);
        feed_hex(s, "000100010000000100000000", &l, BM_EPROTO);
        assert_int_equal(l.last_code, BM_YAMUX_E_SYN_DUP);
        bm_yamux_free(s);
    }
    /* A GoAway ends the session. */
    {
        struct bm_yamux *s = session(false);
        struct evlog l;

        log_init(&l);
        feed_hex(s, "000300000000000000001005", &l, BM_OK);
        assert_int_equal(l.ev[0].type, BM_YAMUX_EV_GOAWAY);
        assert_int_equal(l.ev[0].code, 0x1005);
        feed_hex(s, "000200010000000000000007", &l, BM_EPROTO);
        assert_int_equal(l.last_code, BM_YAMUX_E_CLOSED);
        bm_yamux_free(s);
    }
    /* Pings without reading the answers overflow the control queue. */
    {
        struct bm_yamux_config cfg;
        struct bm_yamux *s;
        struct evlog l;
        int err = BM_OK;

        bm_yamux_config_init(&cfg);
        cfg.max_control = 100;
        assert_int_equal(bm_yamux_new(&s, &cfg), BM_OK);
        log_init(&l);
        for (int i = 0; i < 200 && err == BM_OK; i++) {
            uint8_t f[12];

            bm_yamux_header_put(f, BM_YAMUX_PING, BM_YAMUX_SYN, 0,
                                (uint32_t)i);
            err = feed(s, f, 12, 0, &l);
        }
        assert_int_equal(err, BM_EPROTO);
        assert_int_equal(l.last_code, BM_YAMUX_E_CONTROL_FULL);
        bm_yamux_free(s);
    }
}

/* 10,000 stream opens on one session: beyond the limits each is refused
 * with RST and counted; opened-and-closed streams leave nothing behind. */
static void test_stream_flood(void **state)
{
    struct bm_yamux_config cfg;
    struct bm_yamux *s;
    struct evlog l;
    struct bm_yamux_stats st;
    uint8_t *out = bm_xmalloc(OUTCAP);
    size_t refused = 0, opened = 0;

    (void)state;
    bm_yamux_config_init(&cfg);
    cfg.max_streams = 512;
    cfg.accept_backlog = 64;
    assert_int_equal(bm_yamux_new(&s, &cfg), BM_OK);
    /* Never accepted: the backlog fills at 64. */
    for (uint32_t i = 0; i < 10000; i++) {
        uint8_t f[12];
        struct bm_yamux_event ev;
        size_t used;

        bm_yamux_header_put(f, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_SYN,
                            2 * i + 1, 0);
        assert_int_equal(bm_yamux_input(s, f, 12, &used, &ev), BM_OK);
        if (ev.type == BM_YAMUX_EV_OPEN) {
            opened++;
        } else {
            assert_int_equal(ev.type, BM_YAMUX_EV_REFUSED);
            assert_int_equal(ev.code, BM_YAMUX_REFUSED_BACKLOG);
            refused++;
        }
        /* drain the rest of the frame's steps */
        while (bm_yamux_input(s, f + 12, 0, &used, &ev) == BM_OK &&
               ev.type != BM_YAMUX_EV_NONE) {
        }
        (void)bm_yamux_output(s, out, OUTCAP);
    }
    assert_int_equal(opened, 64);
    assert_int_equal(refused, 10000 - 64);
    bm_yamux_stats(s, &st);
    assert_int_equal(st.refused_backlog, 10000 - 64);
    assert_int_equal(st.live_streams, 64);
    bm_yamux_free(s);

    /* Accepted but never closed: the stream limit. */
    assert_int_equal(bm_yamux_new(&s, &cfg), BM_OK);
    log_init(&l);
    opened = refused = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        uint8_t f[12];

        bm_yamux_header_put(f, BM_YAMUX_WINDOW_UPDATE, BM_YAMUX_SYN,
                            2 * i + 1, 0);
        l.n = 0;
        assert_int_equal(feed(s, f, 12, 0, &l), BM_OK);
        if (l.ev[0].type == BM_YAMUX_EV_OPEN) {
            assert_int_equal(bm_yamux_stream_accept(s, 2 * i + 1), BM_OK);
            opened++;
        } else {
            assert_int_equal(l.ev[0].code, BM_YAMUX_REFUSED_LIMIT);
            refused++;
        }
        (void)bm_yamux_output(s, out, OUTCAP);
    }
    assert_int_equal(opened, 512);
    bm_yamux_stats(s, &st);
    assert_int_equal(st.refused_limit, 10000 - 512);
    bm_yamux_free(s);

    /* Opened and closed at once, 10,000 times: nothing left. */
    assert_int_equal(bm_yamux_new(&s, &cfg), BM_OK);
    for (uint32_t i = 0; i < 10000; i++) {
        uint8_t f[12];

        log_init(&l);
        bm_yamux_header_put(f, BM_YAMUX_WINDOW_UPDATE,
                            BM_YAMUX_SYN | BM_YAMUX_FIN, 2 * i + 1, 0);
        assert_int_equal(feed(s, f, 12, 0, &l), BM_OK);
        assert_int_equal(l.ev[0].type, BM_YAMUX_EV_OPEN);
        assert_int_equal(l.ev[1].type, BM_YAMUX_EV_FIN);
        assert_int_equal(bm_yamux_stream_accept(s, 2 * i + 1), BM_OK);
        assert_int_equal(bm_yamux_stream_close(s, 2 * i + 1), BM_OK);
        (void)bm_yamux_output(s, out, OUTCAP);
    }
    bm_yamux_stats(s, &st);
    assert_int_equal(st.live_streams, 0);
    assert_int_equal(st.streams_inbound, 10000);
    bm_yamux_free(s);
    bm_free(out);
}

static void test_keepalive(void **state)
{
    struct bm_yamux *c = session(true);
    struct evlog l;
    uint8_t buf[64];
    size_t n;
    uint32_t value;

    (void)state;
    log_init(&l);
    assert_int_equal(bm_yamux_tick(c, 1000), BM_OK);
    assert_false(bm_yamux_has_output(c));
    assert_int_equal(bm_yamux_tick(c, 30999), BM_OK);
    assert_false(bm_yamux_has_output(c));
    /* A frame received resets the silence timer. */
    feed_hex(c, "000200020000000000000001", &l, BM_OK);
    assert_int_equal(bm_yamux_tick(c, 31000), BM_OK);
    assert_int_equal(bm_yamux_tick(c, 60999), BM_OK);
    assert_false(bm_yamux_has_output(c));
    assert_int_equal(bm_yamux_tick(c, 61000), BM_OK);
    n = bm_yamux_output(c, buf, sizeof(buf));
    assert_int_equal(n, 12);
    assert_int_equal(buf[1], BM_YAMUX_PING);
    assert_int_equal(buf[3], BM_YAMUX_SYN);
    value = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
            (uint32_t)buf[10] << 8 | buf[11];
    /* A wrong value does not count... */
    feed_hex(c, "000200020000000000000002", &l, BM_OK);
    assert_int_equal(bm_yamux_tick(c, 70999), BM_OK);
    assert_int_equal(bm_yamux_tick(c, 71000), BM_ETIMEDOUT);
    /* ...the right one does. */
    {
        uint8_t f[12];

        bm_yamux_header_put(f, BM_YAMUX_PING, BM_YAMUX_ACK, 0, value);
        assert_int_equal(feed(c, f, 12, 0, &l), BM_OK);
    }
    assert_int_equal(bm_yamux_tick(c, 72000), BM_OK);
    assert_int_equal(bm_yamux_tick(c, 90000), BM_OK);
    bm_yamux_free(c);
}

/* Many streams interleaved, FIN on the last Data frame, resets from the
 * peer, and writes after close refused. */
static void test_many_streams(void **state)
{
    struct bm_yamux *c = session(true);
    struct bm_yamux *s = session(false);
    struct evlog lc, ls;
    uint8_t data[5000];
    uint32_t sids[8];

    (void)state;
    log_init(&lc);
    log_init(&ls);
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)i;
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(bm_yamux_open(c, &sids[i]), BM_OK);
        assert_int_equal(sids[i], (uint32_t)(2 * i + 1));
        assert_int_equal(bm_yamux_stream_write(c, sids[i], data,
                                               sizeof(data)),
                         BM_OK);
        assert_int_equal(bm_yamux_stream_close(c, sids[i]), BM_OK);
        assert_int_equal(bm_yamux_stream_write(c, sids[i], data, 1),
                         BM_ECLOSED);
    }
    pump(c, s, 5, &ls);
    pump(s, c, 5, &lc);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(ls.data_len[sids[i] % 16], sizeof(data));
        assert_true(ls.fin[sids[i] % 16]);
    }
    /* ACKs arrived. */
    {
        size_t acks = 0;

        for (size_t i = 0; i < lc.n; i++) {
            acks += lc.ev[i].type == BM_YAMUX_EV_ACKED;
        }
        assert_int_equal(acks, 8);
    }
    /* The server resets one; the client sees it and forgets it. */
    assert_int_equal(bm_yamux_stream_reset(s, 3, 0x1006), BM_OK);
    lc.n = 0;
    pump(s, c, 0, &lc);
    assert_int_equal(lc.ev[0].type, BM_YAMUX_EV_RESET);
    assert_int_equal(lc.ev[0].sid, 3);
    assert_int_equal(lc.ev[0].code, 0x1006);
    assert_int_equal(bm_yamux_stream_write(c, 3, data, 1), BM_ENOTFOUND);
    log_release(&lc);
    log_release(&ls);
    bm_yamux_free(c);
    bm_yamux_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_bulk_both_ways),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_big_window),
        cmocka_unit_test(test_reset_tombstone),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_stream_flood),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_many_streams),
    };

    return BM_TEST_RUN(tests);
}
