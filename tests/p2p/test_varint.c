/*
 * Unsigned varints and length-prefixed framing (src/p2p/varint.h): Go's
 * go-varint rules, the framing snippets of spec section 11.4/11.5, caps
 * at the limit and one above, truncation at every byte.
 */
#include "sansio_util.h"

#include "p2p/multistream.h"
#include "p2p/varint.h"

static void roundtrip(uint64_t v, const char *hex)
{
    uint8_t buf[16], want[16];
    size_t n = bm_varint_put(v, buf), wn = sx_hex(want, sizeof(want), hex);
    uint64_t got = 0;

    assert_int_equal(n, wn);
    assert_memory_equal(buf, want, n);
    assert_int_equal(bm_varint_size(v), n);
    assert_int_equal(bm_varint_get(buf, n, &got), (int)n);
    assert_true(got == v);
    /* Every proper prefix needs more. */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bm_varint_get(buf, i, &got), 0);
    }
    /* Trailing bytes are not consumed. */
    buf[n] = 0xff;
    assert_int_equal(bm_varint_get(buf, n + 1, &got), (int)n);
}

static void test_varint_roundtrip(void **state)
{
    (void)state;
    roundtrip(0, "00");
    roundtrip(1, "01");
    roundtrip(127, "7f");
    roundtrip(128, "8001");
    roundtrip(300, "ac02");
    roundtrip(421, "a503"); /* /p2p */
    roundtrip(16383, "ff7f");
    roundtrip(16384, "808001");
    roundtrip(BM_VARINT_MAX_VALUE, "ffffffffffffffff7f");
}

static int get(const char *hex, uint64_t *v)
{
    uint8_t b[32];
    size_t n = sx_hex(b, sizeof(b), hex);
    return bm_varint_get(b, n, v);
}

static void test_varint_rejects(void **state)
{
    uint64_t v = 0;
    (void)state;
    /* Not minimal: the last group is zero (Go's ErrNotMinimal). */
    assert_int_equal(get("8000", &v), BM_EVARINT);
    assert_int_equal(get("8100", &v), BM_EVARINT);
    assert_int_equal(get("ff8000", &v), BM_EVARINT);
    assert_int_equal(get("ffffffffffffffff00", &v), BM_EVARINT);
    /* 2^63 needs 10 bytes: above Go's 63-bit limit. */
    assert_int_equal(get("80808080808080808001", &v), BM_EVARINT);
    /* The 9th byte still has the continuation bit: overflow, even before
     * a 10th byte arrives. */
    assert_int_equal(get("ffffffffffffffffff", &v), BM_EVARINT);
    assert_int_equal(get("ffffffffffffffff", &v), 0);
    assert_int_equal(get("", &v), 0);
}

static void test_varint_pb(void **state)
{
    uint8_t b[16];
    uint64_t v = 0;
    size_t n;
    (void)state;
    /* protobuf rules: non-minimal accepted, 10 bytes, 64 bits. */
    n = sx_hex(b, sizeof(b), "8100");
    assert_int_equal(bm_varint_get_pb(b, n, &v), 2);
    assert_true(v == 1);
    n = sx_hex(b, sizeof(b), "ffffffffffffffffff01");
    assert_int_equal(bm_varint_get_pb(b, n, &v), 10);
    assert_true(v == UINT64_MAX);
    n = sx_hex(b, sizeof(b), "ffffffffffffffffff02");
    assert_int_equal(bm_varint_get_pb(b, n, &v), BM_EVARINT);
    n = sx_hex(b, sizeof(b), "ffffffffffffffffff8001");
    assert_int_equal(bm_varint_get_pb(b, n, &v), BM_EVARINT);
    for (size_t i = 0; i < 10; i++) {
        n = sx_hex(b, sizeof(b), "ffffffffffffffffff01");
        assert_int_equal(bm_varint_get_pb(b, i, &v), 0);
    }
}

/* A framed message of spec 11.5: the whole frame, then every
 * truncation. */
static void frame_vector(const char *hex, size_t body_len)
{
    uint8_t b[512];
    size_t n = sx_hex(b, sizeof(b), hex), len = 0;
    const uint8_t *body = NULL;

    assert_int_equal(bm_varint_frame_get(b, n, 1 << 20, &body, &len),
                     (int64_t)n);
    assert_int_equal(len, body_len);
    assert_ptr_equal(body, b + (n - body_len));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bm_varint_frame_get(b, i, 1 << 20, &body, &len), 0);
    }
    /* Cap exactly at the body length passes; one below refuses as soon
     * as the prefix is complete. */
    assert_int_equal(bm_varint_frame_get(b, n, body_len, &body, &len),
                     (int64_t)n);
    if (body_len > 0) {
        assert_int_equal(
            bm_varint_frame_get(b, n - body_len, body_len - 1, &body, &len),
            BM_ETOOBIG);
    }
}

static void test_frames_spec(void **state)
{
    (void)state;
    /* go-header exchange (spec 11.5). */
    frame_vector("04 0801 1814", 4);
    frame_vector("04 0800 1801", 4);
    frame_vector(
        "24 1220 "
        "abababababababababababababababababababababababababababababababab"
        " 1801",
        36);
    frame_vector("02 1002", 2);
    frame_vector("08 0a04424f4459 1001", 8);
    /* FloodSub hello, js/C form (spec 11.2). */
    frame_vector("2d 0a2b 0801 1227 2f74657374636861696e2d68656164657253796e"
                 "632f6865616465722d7375622f76302e302e31",
                 45);
    /* A zero-length frame is one byte. */
    frame_vector("00", 0);
}

static void test_frame_header(void **state)
{
    uint8_t b[16];
    size_t len = 0, n;
    (void)state;
    /* identify, uvarint(214) (spec 11.4) */
    n = sx_hex(b, sizeof(b), "d601");
    assert_int_equal(bm_varint_frame_header(b, n, 8192, &len), 2);
    assert_int_equal(len, 214);
    assert_int_equal(bm_varint_frame_header(b, 1, 8192, &len), 0);
    assert_int_equal(bm_varint_frame_header(b, n, 213, &len), BM_ETOOBIG);
    assert_int_equal(bm_varint_frame_header(b, n, 214, &len), 2);
    /* FloodSub limit: 5 242 880 at the limit and one above. */
    n = bm_varint_frame_put_header(5242880, b);
    assert_int_equal(bm_varint_frame_header(b, n, 5242880, &len), (int)n);
    assert_int_equal(len, 5242880);
    n = bm_varint_frame_put_header(5242881, b);
    assert_int_equal(bm_varint_frame_header(b, n, 5242880, &len), BM_ETOOBIG);
    /* A bad prefix is refused. */
    n = sx_hex(b, sizeof(b), "8000");
    assert_int_equal(bm_varint_frame_header(b, n, 100, &len), BM_EVARINT);
    n = sx_hex(b, sizeof(b), "b401");
    assert_int_equal(bm_varint_frame_put_header(180, b + 8), 2);
    assert_memory_equal(b, b + 8, 2);
}

/* Multistream lines of spec 11.5, written by bm_multistream_put_line and
 * read back as frames. */
static void line_vector(const char *token, const char *hex)
{
    uint8_t out[1100];
    int n = bm_multistream_put_line(token, strlen(token), out, sizeof(out));
    const uint8_t *body;
    size_t len;

    assert_true(n > 0);
    sx_assert_hex(out, (size_t)n, hex);
    assert_int_equal(bm_varint_frame_get(out, (size_t)n, 1024, &body, &len), n);
    assert_int_equal(len, strlen(token) + 1);
    assert_int_equal(body[len - 1], '\n');
}

static void test_multistream_lines(void **state)
{
    uint8_t out[1100];
    char big[1100];
    (void)state;
    line_vector("/ipfs/id/1.0.0", "0f2f697066732f69642f312e302e300a");
    line_vector("/ipfs/ping/1.0.0", "112f697066732f70696e672f312e302e300a");
    line_vector("/floodsub/1.0.0", "102f666c6f6f647375622f312e302e300a");
    line_vector("/yamux/1.0.0", "0d2f79616d75782f312e302e300a");
    line_vector("/testchain-headerSync/header-ex/v0.0.3",
                "27 2f74657374636861696e2d68656164657253796e632f6865616465722d"
                "65782f76302e302e33 0a");
    line_vector("/multistream/1.0.0",
                "13 2f6d756c746973747265616d2f312e302e30 0a");
    line_vector("na", "03 6e61 0a");
    /* Caps: 1023 token bytes (n = 1024) is the largest line. */
    memset(big, 'a', sizeof(big));
    assert_int_equal(bm_multistream_put_line(big, 1023, out, sizeof(out)),
                     2 + 1024);
    assert_int_equal(bm_multistream_put_line(big, 1024, out, sizeof(out)),
                     BM_EINVAL);
    assert_int_equal(bm_multistream_put_line(big, 0, out, sizeof(out)),
                     BM_EINVAL);
    assert_int_equal(bm_multistream_put_line(big, 10, out, 11), BM_ETOOBIG);
    assert_int_equal(bm_multistream_put_line(big, 10, out, 12), 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_roundtrip),
        cmocka_unit_test(test_varint_rejects),
        cmocka_unit_test(test_varint_pb),
        cmocka_unit_test(test_frames_spec),
        cmocka_unit_test(test_frame_header),
        cmocka_unit_test(test_multistream_lines),
    };
    return BM_TEST_RUN(tests);
}
