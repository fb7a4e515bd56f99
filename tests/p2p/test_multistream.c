/*
 * multistream-select 1.0 (src/p2p/multistream.h): the bytes of spec 3.5
 * (Go dialling C: "/tls/1.0.0" first gets "na"), Go's pipelined and lazy
 * forms (3.4), both roles, "na" and "ls", leftover bytes, caps at the
 * limit and one above, and every way of splitting the input.
 */
#include "sansio_util.h"

#include "p2p/multistream.h"
#include "util/errmsg.h"

#define HDR "13 2f6d756c746973747265616d2f312e302e30 0a"
#define TLS "0b 2f746c732f312e302e30 0a"
#define NOISE "07 2f6e6f6973650a"
#define NA "03 6e610a"
#define YAMUX "0d 2f79616d75782f312e302e30 0a"
#define ID "0f 2f697066732f69642f312e302e30 0a"
#define FLOODSUB "10 2f666c6f6f647375622f312e302e30 0a"

static const char *const noise_only[] = {"/noise"};
static const char *const served[] = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0",
                                     "/floodsub/1.0.0"};

/* The result of one feed call, and the output it wrote. */
struct step {
    int r;
    size_t consumed;
    size_t written;
    uint8_t out[BM_MULTISTREAM_OUT_MAX];
};

static void feed(struct bm_multistream *m, const uint8_t *in, size_t n,
                 struct step *s)
{
    s->r = bm_multistream_feed(m, in, n, &s->consumed, s->out, sizeof(s->out),
                               &s->written, NULL);
}

static void feed_hex(struct bm_multistream *m, const char *hex, struct step *s,
                     uint8_t *buf, size_t *n)
{
    *n = sx_hex(buf, 4096, hex);
    feed(m, buf, *n, s);
}

/* Spec 3.5: Go dials C. C writes its header at once, answers "na" to
 * TLS, echoes "/noise"; Noise message 1 arriving behind "/noise" is left
 * for the next layer. */
static void test_responder_go_dials(void **state)
{
    struct bm_multistream m;
    struct step s;
    uint8_t buf[4096];
    size_t n;
    (void)state;

    assert_int_equal(
        bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1),
        BM_OK);
    feed(&m, NULL, 0, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    sx_assert_hex(s.out, s.written, HDR);
    assert_int_equal(bm_multistream_selected(&m), -1);
    assert_false(bm_multistream_can_send(&m));

    feed_hex(&m, HDR TLS, &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    assert_int_equal(s.consumed, n);
    sx_assert_hex(s.out, s.written, NA);

    feed_hex(&m, NOISE "0020 7b0d47d934", &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(s.consumed, 8);
    sx_assert_hex(s.out, s.written, NOISE);
    assert_true(bm_multistream_done(&m));
    assert_true(bm_multistream_can_send(&m));
    assert_int_equal(bm_multistream_selected(&m), 0);
    sx_assert_hex(buf + s.consumed, n - s.consumed, "0020 7b0d47d934");

    /* Done: nothing more is consumed or written. */
    feed(&m, buf, n, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(s.consumed, 0);
    assert_int_equal(s.written, 0);
}

/* The whole of 3.5 in a single segment gives the same bytes. */
static void test_responder_one_segment(void **state)
{
    struct bm_multistream m;
    struct step s;
    uint8_t buf[4096];
    size_t n;
    (void)state;

    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    feed_hex(&m, HDR TLS NOISE "00", &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(s.consumed, n - 1);
    sx_assert_hex(s.out, s.written, HDR NA NOISE);
}

/* Spec 3.4 / R4: header || protocol || first bytes in one Data frame. */
static void test_responder_lazy_peer(void **state)
{
    struct bm_multistream m;
    struct step s;
    uint8_t buf[4096];
    size_t n;
    (void)state;

    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, served, 3);
    feed_hex(&m, HDR FLOODSUB "31 0a2f0801", &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(bm_multistream_selected(&m), 2);
    sx_assert_hex(s.out, s.written, HDR FLOODSUB);
    sx_assert_hex(buf + s.consumed, n - s.consumed, "31 0a2f0801");
}

/* Unknown protocols, "ls", the muxers we lack: all "na". */
static void test_responder_na(void **state)
{
    struct bm_multistream m;
    struct step s;
    uint8_t buf[4096];
    size_t n;
    (void)state;

    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, served, 3);
    feed_hex(&m,
             HDR "03 6c730a"
                 "0d 2f6d706c65782f362e372e30 0a"
                 "10 2f697066732f6b61642f312e302e30 0a" ID,
             &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(s.consumed, n);
    sx_assert_hex(s.out, s.written, HDR NA NA NA ID);
}

static void expect_fail(struct bm_multistream *m, const char *hex, int err,
                        const char *needle)
{
    struct bm_errmsg em;
    struct step s;
    uint8_t buf[4096];
    size_t n = sx_hex(buf, sizeof(buf), hex);

    s.r = bm_multistream_feed(m, buf, n, &s.consumed, s.out, sizeof(s.out),
                              &s.written, &em);
    assert_int_equal(s.r, err);
    if (needle != NULL) {
        if (strstr(em.msg, needle) == NULL) {
            fprintf(stderr, "message '%s' lacks '%s'\n", em.msg, needle);
        }
        assert_non_null(strstr(em.msg, needle));
    }
    /* Failed for good. */
    s.r = bm_multistream_feed(m, buf, n, &s.consumed, s.out, sizeof(s.out),
                              &s.written, NULL);
    assert_int_equal(s.r, BM_ESTATE);
    assert_false(bm_multistream_can_send(m));
}

static void test_responder_errors(void **state)
{
    struct bm_multistream m;
    struct step s;
    uint8_t buf[2048];
    size_t n;
    (void)state;

    /* Not the header first. */
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    expect_fail(&m, NOISE, BM_EPROTO, "expected header");
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    expect_fail(&m, "13 2f6d756c746973747265616d2f322e302e30 0a", BM_EPROTO,
                "'/multistream/2.0.0'");
    /* No trailing newline; an empty message; a bad length varint. */
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    expect_fail(&m, HDR "07 2f6e6f69736520", BM_EPROTO, "newline");
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    expect_fail(&m, HDR "00", BM_EPROTO, "newline");
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    expect_fail(&m, "8700", BM_EVARINT, "length prefix");

    /* Caps: a 1024-byte message is read (and refused with "na"); 1025 is
     * refused from its prefix alone. */
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    n = sx_hex(buf, sizeof(buf), HDR "8008");
    memset(buf + n, 'x', 1023);
    buf[n + 1023] = '\n';
    feed(&m, buf, n + 1024, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    assert_int_equal(s.consumed, n + 1024);
    sx_assert_hex(s.out, s.written, HDR NA);
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    expect_fail(&m, HDR "8108", BM_ETOOBIG, "above 1024");

    /* At most 16 unsupported proposals are answered. */
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    n = sx_hex(buf, sizeof(buf), HDR);
    for (int i = 0; i < BM_MULTISTREAM_NA_MAX; i++) {
        n += sx_hex(buf + n, sizeof(buf) - n, TLS);
    }
    feed(&m, buf, n, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    assert_int_equal(s.written, 20 + 4 * BM_MULTISTREAM_NA_MAX);
    expect_fail(&m, TLS, BM_EPROTO, "more than 16");
    /* ... but the 16th and a supported one still negotiate. */
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    n = sx_hex(buf, sizeof(buf), HDR);
    for (int i = 0; i < BM_MULTISTREAM_NA_MAX; i++) {
        n += sx_hex(buf + n, sizeof(buf) - n, TLS);
    }
    n += sx_hex(buf + n, sizeof(buf) - n, NOISE);
    feed(&m, buf, n, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
}

/* C dials: eager header || "/noise", then the echo. */
static void test_initiator(void **state)
{
    static const char *const two[] = {"/tls/1.0.0", "/noise"};
    struct bm_multistream m;
    struct step s;
    uint8_t buf[4096];
    size_t n;
    (void)state;

    assert_int_equal(
        bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, noise_only, 1),
        BM_OK);
    feed(&m, NULL, 0, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    sx_assert_hex(s.out, s.written, HDR NOISE);
    assert_false(bm_multistream_can_send(&m));
    feed_hex(&m, HDR NOISE "0020ff", &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(s.consumed, n - 3);
    assert_int_equal(s.written, 0);
    assert_int_equal(bm_multistream_selected(&m), 0);

    /* "na" to the first proposal: the next one goes out on its own. */
    bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, two, 2);
    feed(&m, NULL, 0, &s);
    sx_assert_hex(s.out, s.written, HDR TLS);
    feed_hex(&m, HDR NA, &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    sx_assert_hex(s.out, s.written, NOISE);
    feed_hex(&m, NOISE, &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(bm_multistream_selected(&m), 1);

    /* Every proposal refused. */
    bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, two, 2);
    feed(&m, NULL, 0, &s);
    expect_fail(&m, HDR NA NA, BM_ENOPROTO, "every other proposal");
    bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, noise_only, 1);
    feed(&m, NULL, 0, &s);
    expect_fail(&m, HDR NA, BM_ENOPROTO, "refused '/noise'");
    /* An answer that is neither the echo nor "na". */
    bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, noise_only, 1);
    feed(&m, NULL, 0, &s);
    expect_fail(&m, HDR YAMUX, BM_EPROTO, "proposed '/noise'");
    /* The header missing. */
    bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, noise_only, 1);
    feed(&m, NULL, 0, &s);
    expect_fail(&m, NOISE, BM_EPROTO, "expected header");
}

/* Lazy initiator (spec 3.4): may send at once; "na" fails late. */
static void test_initiator_lazy(void **state)
{
    static const char *const fs[] = {"/floodsub/1.0.0"};
    struct bm_multistream m;
    struct step s;
    uint8_t buf[4096];
    size_t n;
    (void)state;

    assert_int_equal(
        bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR_LAZY, served, 2),
        BM_EINVAL);
    assert_int_equal(
        bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR_LAZY, fs, 1), BM_OK);
    assert_false(bm_multistream_can_send(&m));
    feed(&m, NULL, 0, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    sx_assert_hex(s.out, s.written, HDR FLOODSUB);
    assert_true(bm_multistream_can_send(&m));
    assert_false(bm_multistream_done(&m));
    assert_int_equal(bm_multistream_selected(&m), 0);
    feed_hex(&m, HDR, &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_AGAIN);
    assert_true(bm_multistream_can_send(&m));
    feed_hex(&m, FLOODSUB "2d0a", &s, buf, &n);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(s.consumed, n - 2);

    bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR_LAZY, fs, 1);
    feed(&m, NULL, 0, &s);
    expect_fail(&m, HDR NA, BM_ENOPROTO, "refused '/floodsub/1.0.0'");
}

static void test_init_and_caller_errors(void **state)
{
    static const char *const empty[] = {""};
    static const char *const nl[] = {"/a\nb"};
    static const char *const nul[] = {NULL};
    static const char *const many[9] = {"/a", "/b", "/c", "/d", "/e",
                                        "/f", "/g", "/h", "/i"};
    char long_id[BM_MULTISTREAM_PROTO_MAX + 2];
    const char *const longs[] = {long_id};
    struct bm_multistream m;
    struct step s;
    uint8_t out[16];
    size_t c, w;
    (void)state;

    assert_int_equal(
        bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, empty, 1), BM_EINVAL);
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, nl, 1),
                     BM_EINVAL);
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, nul, 1),
                     BM_EINVAL);
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, NULL, 0),
                     BM_EINVAL);
    /* An initiator proposes at most 8 (its output bound); a responder may
     * accept more. */
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, many, 9),
                     BM_EINVAL);
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, many, 8),
                     BM_OK);
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, many, 9),
                     BM_OK);
    assert_int_equal(
        bm_multistream_init(&m, (enum bm_multistream_role)7, many, 1),
        BM_EINVAL);
    /* Failed init leaves a failed object. */
    feed(&m, NULL, 0, &s);
    assert_int_equal(s.r, BM_ESTATE);
    memset(long_id, 'p', sizeof(long_id));
    long_id[BM_MULTISTREAM_PROTO_MAX] = '\0';
    assert_int_equal(
        bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, longs, 1), BM_OK);
    long_id[BM_MULTISTREAM_PROTO_MAX] = 'p';
    long_id[BM_MULTISTREAM_PROTO_MAX + 1] = '\0';
    assert_int_equal(
        bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, longs, 1), BM_EINVAL);
    /* Output buffer below the bound. */
    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    assert_int_equal(
        bm_multistream_feed(&m, NULL, 0, &c, out, sizeof(out), &w, NULL),
        BM_EINVAL);
}

/*
 * Largest output: an initiator with 8 proposals of 255 bytes, all refused
 * but the last, fits BM_MULTISTREAM_OUT_MAX over the whole negotiation.
 */
static void test_output_bound(void **state)
{
    char ids[8][BM_MULTISTREAM_PROTO_MAX + 1];
    const char *protos[8];
    struct bm_multistream m;
    struct step s;
    uint8_t buf[4096];
    size_t total = 0, n;
    (void)state;

    for (int i = 0; i < 8; i++) {
        memset(ids[i], 'a' + i, BM_MULTISTREAM_PROTO_MAX);
        ids[i][BM_MULTISTREAM_PROTO_MAX] = '\0';
        protos[i] = ids[i];
    }
    bm_multistream_init(&m, BM_MULTISTREAM_INITIATOR, protos, 8);
    feed(&m, NULL, 0, &s);
    total += s.written;
    n = sx_hex(buf, sizeof(buf), HDR NA NA NA NA NA NA NA);
    n += (size_t)bm_multistream_put_line(ids[7], BM_MULTISTREAM_PROTO_MAX,
                                         buf + n, sizeof(buf) - n);
    feed(&m, buf, n, &s);
    total += s.written;
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(bm_multistream_selected(&m), 7);
    assert_true(total <= BM_MULTISTREAM_OUT_MAX);
    assert_int_equal(total, 20 + 8 * (2 + BM_MULTISTREAM_PROTO_MAX + 1));
}

/*
 * A responder with BM_MULTISTREAM_ACCEPT_MAX protocols (a host's registry
 * is not limited by the initiator's 8): the last one is found and
 * echoed, its index reported; one more is refused at init.
 */
static void test_responder_many(void **state)
{
    static char ids[BM_MULTISTREAM_ACCEPT_MAX + 1][16];
    static const char *protos[BM_MULTISTREAM_ACCEPT_MAX + 1];
    struct bm_multistream m;
    struct step s;
    uint8_t buf[64];
    size_t n;
    int w;
    (void)state;

    for (int i = 0; i <= BM_MULTISTREAM_ACCEPT_MAX; i++) {
        snprintf(ids[i], sizeof(ids[i]), "/p/%d", i);
        protos[i] = ids[i];
    }
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, protos,
                                         BM_MULTISTREAM_ACCEPT_MAX + 1),
                     BM_EINVAL);
    assert_int_equal(bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, protos,
                                         BM_MULTISTREAM_ACCEPT_MAX),
                     BM_OK);
    n = sx_hex(buf, sizeof(buf), HDR);
    w = bm_multistream_put_line(ids[BM_MULTISTREAM_ACCEPT_MAX - 1],
                                strlen(ids[BM_MULTISTREAM_ACCEPT_MAX - 1]),
                                buf + n, sizeof(buf) - n);
    assert_true(w > 0);
    n += (size_t)w;
    feed(&m, buf, n, &s);
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    assert_int_equal(bm_multistream_selected(&m),
                     BM_MULTISTREAM_ACCEPT_MAX - 1);
    /* Our header, then the echo of the last protocol. */
    sx_assert_hex(s.out, 20, HDR);
    assert_memory_equal(s.out + 20, buf + 20, (size_t)w);
    assert_int_equal(s.written, 20 + (size_t)w);
}

/*
 * Splitting: the responder's full exchange (header, TLS, "/noise", then
 * data) fed in two pieces at every split point, and byte by byte, as a
 * host does (unconsumed bytes are kept and re-presented with more):
 * same result, same output, same leftover.
 */
static void run_split(const uint8_t *in, size_t n, size_t step_max,
                      size_t split, uint8_t *out, size_t *out_len,
                      size_t *leftover)
{
    struct bm_multistream m;
    struct step s;
    size_t have = 0, used = 0, fed = 0;
    uint8_t held[4096];

    bm_multistream_init(&m, BM_MULTISTREAM_RESPONDER, noise_only, 1);
    *out_len = 0;
    s.r = BM_MULTISTREAM_AGAIN;
    while (s.r == BM_MULTISTREAM_AGAIN) {
        size_t add = split > 0 ? (fed < split ? split - fed : n - fed)
                               : (n - fed < step_max ? n - fed : step_max);
        memcpy(held + have, in + fed, add);
        have += add;
        fed += add;
        feed(&m, held, have, &s);
        memcpy(out + *out_len, s.out, s.written);
        *out_len += s.written;
        memmove(held, held + s.consumed, have - s.consumed);
        have -= s.consumed;
        used += s.consumed;
        assert_true(s.r >= 0);
        if (fed == n && s.r == BM_MULTISTREAM_AGAIN) {
            break;
        }
    }
    assert_int_equal(s.r, BM_MULTISTREAM_DONE);
    *leftover = n - used;
}

static void test_every_split(void **state)
{
    uint8_t in[256], out[1024], ref[1024];
    size_t n, ref_len, ref_left, out_len, left;
    (void)state;

    n = sx_hex(in, sizeof(in), HDR TLS NOISE "0020 aabbcc");
    run_split(in, n, n, 0, ref, &ref_len, &ref_left);
    sx_assert_hex(ref, ref_len, HDR NA NOISE);
    assert_int_equal(ref_left, 5);
    for (size_t split = 1; split < n; split++) {
        run_split(in, n, 0, split, out, &out_len, &left);
        assert_int_equal(out_len, ref_len);
        assert_memory_equal(out, ref, ref_len);
        assert_int_equal(left, ref_left);
    }
    run_split(in, n, 1, 0, out, &out_len, &left);
    assert_int_equal(out_len, ref_len);
    assert_memory_equal(out, ref, ref_len);
    assert_int_equal(left, ref_left);
}

/* Both state machines against each other through memory. */
static void test_initiator_responder(void **state)
{
    static const char *const offer[] = {"/mplex/6.7.0", "/yamux/1.0.0"};
    static const char *const accept[] = {"/yamux/1.0.0"};
    struct bm_multistream a, b;
    struct step sa, sb;
    (void)state;

    bm_multistream_init(&a, BM_MULTISTREAM_INITIATOR, offer, 2);
    bm_multistream_init(&b, BM_MULTISTREAM_RESPONDER, accept, 1);
    feed(&a, NULL, 0, &sa);
    feed(&b, NULL, 0, &sb);
    for (int round = 0; round < 4; round++) {
        struct step ta, tb;
        feed(&b, sa.out, sa.written, &tb);
        feed(&a, sb.out, sb.written, &ta);
        assert_true(ta.r >= 0 && tb.r >= 0);
        assert_int_equal(tb.consumed, sa.written);
        assert_int_equal(ta.consumed, sb.written);
        sa = ta;
        sb = tb;
    }
    assert_true(bm_multistream_done(&a));
    assert_true(bm_multistream_done(&b));
    assert_int_equal(bm_multistream_selected(&a), 1);
    assert_int_equal(bm_multistream_selected(&b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responder_go_dials),
        cmocka_unit_test(test_responder_one_segment),
        cmocka_unit_test(test_responder_lazy_peer),
        cmocka_unit_test(test_responder_na),
        cmocka_unit_test(test_responder_errors),
        cmocka_unit_test(test_initiator),
        cmocka_unit_test(test_initiator_lazy),
        cmocka_unit_test(test_init_and_caller_errors),
        cmocka_unit_test(test_responder_many),
        cmocka_unit_test(test_output_bound),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_initiator_responder),
    };
    return BM_TEST_RUN(tests);
}
