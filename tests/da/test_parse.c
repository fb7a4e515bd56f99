/*
 * The JSON pieces of the DA layer in isolation: exact 64-bit integers as
 * numbers or strings, RFC 3339 times, base64 fields, response envelopes
 * and request parsing (what the fuzz targets exercise at random).
 */
#include "bm_test.h"

#include <string.h>

#include <sodium.h>

#include "blockv2/da.h"
#include "da/da_json.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#include "../../fuzz/targets/getall_equiv.h"

static enum bm_err parse_u64(const char *text, uint64_t *v)
{
    struct json_object *o = NULL;
    enum bm_err err = bm__da_json_parse(text, strlen(text), &o, NULL);

    if (err == BM_OK) {
        err = bm__da_json_u64(o, v, "x", NULL);
    }
    json_object_put(o);
    return err;
}

static void test_u64(void **state)
{
    uint64_t v = 0;
    (void)state;

    assert_int_equal(parse_u64("0", &v), BM_OK);
    assert_true(v == 0);
    /* json-c clamps larger numbers to UINT64_MAX, so that number is
     * ambiguous and refused; the string form is exact */
    assert_int_not_equal(parse_u64("18446744073709551615", &v), BM_OK);
    assert_int_equal(parse_u64("18446744073709551614", &v), BM_OK);
    assert_true(v == UINT64_MAX - 1);
    assert_int_equal(parse_u64("\"18446744073709551615\"", &v), BM_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse_u64("9223372036854775808", &v), BM_OK);
    assert_true(v == 9223372036854775808ULL);
    assert_int_equal(parse_u64("\"12345\"", &v), BM_OK);
    assert_true(v == 12345);
    assert_int_not_equal(parse_u64("\"18446744073709551616\"", &v), BM_OK);
    assert_int_not_equal(parse_u64("18446744073709551616", &v), BM_OK);
    assert_int_not_equal(parse_u64("-1", &v), BM_OK);
    assert_int_not_equal(parse_u64("\"-1\"", &v), BM_OK);
    assert_int_not_equal(parse_u64("1.5", &v), BM_OK);
    assert_int_not_equal(parse_u64("1e3", &v), BM_OK);
    assert_int_not_equal(parse_u64("\"\"", &v), BM_OK);
    assert_int_not_equal(parse_u64("\" 1\"", &v), BM_OK);
    assert_int_not_equal(parse_u64("true", &v), BM_OK);
    assert_int_not_equal(parse_u64("1 2", &v), BM_OK);
}

static void test_time(void **state)
{
    int64_t ns = 0;
    char buf[64];
    (void)state;

    assert_int_equal(bm__da_time_parse("1970-01-01T00:00:00Z", 20, &ns),
                     BM_OK);
    assert_true(ns == 0);
    const char *t = "2025-07-25T12:00:00.123456789+02:00";
    assert_int_equal(bm__da_time_parse(t, strlen(t), &ns), BM_OK);
    assert_true(ns == 1753437600123456789LL);
    bm__da_time_format(buf, sizeof(buf), ns);
    assert_string_equal(buf, "2025-07-25T10:00:00.123456789Z");
    assert_int_equal(bm__da_time_parse(buf, strlen(buf), &ns), BM_OK);
    assert_true(ns == 1753437600123456789LL);
    t = "2025-07-25T10:00:00.5Z";
    assert_int_equal(bm__da_time_parse(t, strlen(t), &ns), BM_OK);
    assert_true(ns == 1753437600500000000LL);
    t = "2025-07-25 10:00:00Z";
    assert_int_not_equal(bm__da_time_parse(t, strlen(t), &ns), BM_OK);
    t = "2025-13-25T10:00:00Z";
    assert_int_not_equal(bm__da_time_parse(t, strlen(t), &ns), BM_OK);
    t = "2025-07-25T10:00:00.Z";
    assert_int_not_equal(bm__da_time_parse(t, strlen(t), &ns), BM_OK);
    t = "2025-07-25T10:00:00";
    assert_int_not_equal(bm__da_time_parse(t, strlen(t), &ns), BM_OK);
    t = "9999-07-25T10:00:00Z";
    assert_int_not_equal(bm__da_time_parse(t, strlen(t), &ns), BM_OK);
}

static void test_base64(void **state)
{
    struct bm_buf b = {NULL, 0};
    struct bm_errmsg em = {{0}};
    uint8_t fixed[4];
    (void)state;

    assert_int_equal(bm__da_b64_decode(&b, "aGVsbG8=", 8, "f", &em), BM_OK);
    assert_true(bm_buf_eq_raw(&b, (const uint8_t *)"hello", 5));
    bm_buf_release(&b);
    assert_int_equal(bm__da_b64_decode(&b, "aGVsbG8", 7, "f", &em), BM_EPARSE);
    assert_int_equal(bm__da_b64_decode(&b, "aGVs*G8=", 8, "f", &em),
                     BM_EPARSE);
    assert_non_null(strstr(em.msg, "f: invalid base64"));
    assert_int_equal(bm__da_b64_decode(&b, "", 0, "f", &em), BM_OK);
    assert_null(b.ptr);
    assert_int_equal(
        bm__da_b64_decode_fixed(fixed, 4, "aGVsbG8=", 8, "g", &em),
        BM_EINVAL);
    assert_int_equal(bm__da_b64_decode_fixed(fixed, 4, "aGVsbA==", 8, "g", &em),
                     BM_OK);
    assert_memory_equal(fixed, "hell", 4);
}

/* Our table codec against libsodium's, for every length 0..300 and a
 * large buffer that crosses the encoder's chunk size. */
static void test_base64_vs_sodium(void **state)
{
    static uint8_t data[10000];
    static char ref[sizeof(data) * 4 / 3 + 8];
    (void)state;

    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 37 + (i >> 3));
    }
    for (size_t n = 0; n <= sizeof(data); n = n < 300 ? n + 1 : n * 3 + 1) {
        struct bm_dynbuf d;
        struct bm_buf back = {NULL, 0};
        if (n > sizeof(data)) {
            n = sizeof(data);
        }
        sodium_bin2base64(ref, sizeof(ref), data, n,
                          sodium_base64_VARIANT_ORIGINAL);
        bm_dynbuf_init(&d, sizeof(ref));
        assert_int_equal(bm__da_b64_append(&d, data, n), BM_OK);
        assert_int_equal(d.len, strlen(ref));
        assert_memory_equal(d.ptr, ref, d.len);
        assert_int_equal(
            bm__da_b64_decode(&back, ref, strlen(ref), "f", NULL), BM_OK);
        assert_int_equal(back.len, n);
        if (n > 0) {
            assert_memory_equal(back.ptr, data, n);
        }
        bm_buf_release(&back);
        bm_dynbuf_release(&d);
        if (n == sizeof(data)) {
            break;
        }
    }
    /* bad padding and characters */
    static const char *const bad[] = {"====", "A===", "AB=C", "AB\nC",
                                      "AB-_", "=AAA", "AAAA=AAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct bm_buf b = {NULL, 0};
        assert_int_equal(bm__da_b64_decode(&b, bad[i], strlen(bad[i]), "f",
                                           NULL),
                         BM_EPARSE);
        assert_null(b.ptr);
    }
}

static enum bm_err resp(const char *body, struct bm__da_response *r,
                        struct bm_errmsg *em)
{
    return bm__da_response_parse(body, strlen(body), 7, r, em);
}

static void test_response(void **state)
{
    struct bm__da_response r = {NULL, NULL};
    struct bm_errmsg em = {{0}};
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_da_header h;
    uint64_t v = 0;
    (void)state;

    assert_int_equal(resp("{\"id\":7,\"result\":5}", &r, &em), BM_OK);
    assert_int_equal(bm__da_decode_height(r.result, &v, &em), BM_OK);
    assert_true(v == 5);
    bm__da_response_release(&r);
    /* wrong id */
    assert_int_equal(resp("{\"id\":8,\"result\":5}", &r, &em), BM_EPROTO);
    /* no result and no error */
    assert_int_equal(resp("{\"id\":7}", &r, &em), BM_EPROTO);
    /* errors map by message text */
    assert_int_equal(
        resp("{\"id\":7,\"error\":{\"code\":1,\"message\":\"blob: not "
             "found\"}}",
             &r, &em),
        BM_EDA_NOT_FOUND);
    assert_string_equal(em.msg, "blob: not found");
    assert_int_equal(
        resp("{\"id\":7,\"error\":{\"code\":1,\"message\":\"tx already in "
             "mempool\"}}",
             &r, &em),
        BM_EDA_IN_MEMPOOL);
    assert_int_equal(resp("{\"id\":7,\"error\":{\"code\":-32601}}", &r, &em),
                     BM_EDA_ERROR);
    /* null and [] are "not found" for GetAll */
    assert_int_equal(resp("{\"id\":7,\"result\":null}", &r, &em), BM_OK);
    assert_int_equal(bm__da_decode_blobs(r.result, &l, &em),
                     BM_EDA_NOT_FOUND);
    bm__da_response_release(&r);
    assert_int_equal(resp("{\"id\":7,\"result\":[]}", &r, &em), BM_OK);
    assert_int_equal(bm__da_decode_blobs(r.result, &l, &em),
                     BM_EDA_NOT_FOUND);
    bm__da_response_release(&r);
    /* a blob with a short namespace names the field */
    assert_int_equal(resp("{\"id\":7,\"result\":[{\"namespace\":\"AAAA\","
                          "\"data\":\"\",\"commitment\":null}]}",
                          &r, &em),
                     BM_OK);
    assert_int_equal(bm__da_decode_blobs(r.result, &l, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "result[0].namespace"));
    bm__da_response_release(&r);
    /* the member's name is composed on error only: still the full path,
     * with the index of the blob and the inner message */
    assert_int_equal(resp("{\"id\":7,\"result\":[{\"namespace\":"
                          "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
                          "\"data\":\"AAAA\"},{\"namespace\":"
                          "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
                          "\"data\":\"A$AA\"}]}",
                          &r, &em),
                     BM_OK);
    assert_int_equal(bm__da_decode_blobs(r.result, &l, &em), BM_EPARSE);
    assert_non_null(strstr(em.msg, "result[1].data: invalid base64"));
    bm__da_response_release(&r);
    assert_int_equal(resp("{\"id\":7,\"result\":[{\"namespace\":"
                          "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
                          "\"data\":\"AAAA\",\"share_version\":2}]}",
                          &r, &em),
                     BM_OK);
    assert_int_equal(bm__da_decode_blobs(r.result, &l, &em), BM_EPROTO);
    assert_non_null(strstr(em.msg, "result[0].share_version: unsupported"));
    bm__da_response_release(&r);
    assert_int_equal(resp("{\"id\":7,\"result\":[{\"namespace\":"
                          "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}",
                          &r, &em),
                     BM_OK);
    assert_int_equal(bm__da_decode_blobs(r.result, &l, &em), BM_EMISSING);
    assert_string_equal(em.msg, "result[0].data: missing");
    bm__da_response_release(&r);
    /* tmjson header: string height; flat header: number height */
    assert_int_equal(
        resp("{\"id\":7,\"result\":{\"header\":{\"height\":\"18446744073709551615\","
             "\"time\":\"2025-07-25T10:00:00Z\"}}}",
             &r, &em),
        BM_OK);
    assert_int_equal(bm__da_decode_header(r.result, &h, &em), BM_OK);
    assert_true(h.height == UINT64_MAX);
    assert_true(h.has_time);
    bm__da_response_release(&r);
    assert_int_equal(resp("{\"id\":7,\"result\":{\"Height\":9}}", &r, &em),
                     BM_OK);
    assert_int_equal(bm__da_decode_header(r.result, &h, &em), BM_OK);
    assert_true(h.height == 9);
    assert_false(h.has_time);
    bm__da_response_release(&r);
    /* garbage, truncated, trailing data, deep nesting */
    assert_int_equal(resp("", &r, &em), BM_EPROTO);
    assert_int_equal(resp("{\"id\":7,\"result\":[", &r, &em), BM_EPROTO);
    assert_int_equal(resp("{\"id\":7,\"result\":1} x", &r, &em), BM_EPROTO);
    char deep[200];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_equal(resp(deep, &r, &em), BM_EPROTO);
}

static void test_request(void **state)
{
    struct bm__da_request req;
    struct bm_errmsg em = {{0}};
    int code = 0;
    const char *t;
    (void)state;

    t = "{\"jsonrpc\":\"2.0\",\"id\":\"x1\",\"method\":\"blob.GetAll\","
        "\"params\":[\"42\",[\"AAAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc=\"]]}";
    assert_int_equal(bm__da_request_parse(t, strlen(t), &req, &code, &em),
                     BM_OK);
    assert_int_equal(req.method, BM__DA_GET_ALL);
    assert_true(req.height == 42);
    assert_int_equal(req.n_ns, 1);
    assert_string_equal(req.id, "\"x1\"");
    bm__da_request_release(&req);

    t = "{\"id\":3,\"method\":\"blob.Nope\",\"params\":[]}";
    assert_int_not_equal(bm__da_request_parse(t, strlen(t), &req, &code, &em),
                         BM_OK);
    assert_int_equal(code, BM__DA_RPC_NO_METHOD);
    assert_string_equal(req.id, "3");
    bm__da_request_release(&req);

    /* a version-1 namespace is refused */
    t = "{\"id\":3,\"method\":\"blob.GetAll\",\"params\":[1,"
        "[\"AQAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc=\"]]}";
    assert_int_not_equal(bm__da_request_parse(t, strlen(t), &req, &code, &em),
                         BM_OK);
    assert_int_equal(code, BM__DA_RPC_INVALID_PARAMS);
    bm__da_request_release(&req);

    t = "{\"id\":3,\"method\":\"blob.Get\",\"params\":[1]}";
    assert_int_not_equal(bm__da_request_parse(t, strlen(t), &req, &code, &em),
                         BM_OK);
    assert_int_equal(code, BM__DA_RPC_INVALID_PARAMS);
    bm__da_request_release(&req);

    t = "{\"id\":3,\"method\":\"blob.Submit\",\"params\":[[{\"namespace\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc=\",\"data\":\"aGk=\"}],"
        "{\"gas_price\":0.2}]}";
    assert_int_equal(bm__da_request_parse(t, strlen(t), &req, &code, &em),
                     BM_OK);
    assert_int_equal(req.blobs.n, 1);
    assert_true(bm_buf_eq_raw(&req.blobs.v[0].data, (const uint8_t *)"hi", 2));
    bm__da_request_release(&req);

    t = "{\"id\":3,\"method\":";
    assert_int_not_equal(bm__da_request_parse(t, strlen(t), &req, &code, &em),
                         BM_OK);
    assert_int_equal(code, BM__DA_RPC_PARSE_ERROR);
    bm__da_request_release(&req);
}

/* Every bm_ allocation in the decoders fails in turn: errors only, no
 * crash, no leak (BM_TEST_RUN checks the live count at exit). */
/* ---- the blob.GetAll scanner (bm__da_scan_get_all) ---- */

#define NS29 "AAAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc="
#define C32 "bXv72VwMR5mZlnhBKw3JPg9NPHs+jfgWvL3h7ylkxkI="
#define S20 "AQEBAQEBAQEBAQEBAQEBAQEBAQE="

static bool scans(const char *body)
{
    struct bm_da_blob_list l = {NULL, 0};
    bool ok = bm__da_scan_get_all(body, strlen(body), 7, &l);

    bm_da_blob_list_release(&l);
    return ok;
}

static enum getall_verdict equiv(const char *body)
{
    return getall_equiv(body, strlen(body), 7);
}

/* The client's decode of a 200 body; em's message in *msg. */
static enum bm_err decode(const char *body, struct bm_errmsg *em,
                          size_t *n)
{
    struct bm_da_blob_list l = {NULL, 0};
    enum bm_err err = bm__da_get_all_decode(body, strlen(body), 7, &l, em);

    *n = l.n;
    bm_da_blob_list_release(&l);
    return err;
}

static void test_getall_scan(void **state)
{
    const char *good =
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":[{\"namespace\":\"" NS29
        "\",\"data\":\"aGVsbG8=\",\"share_version\":0,\"commitment\":\"" C32
        "\",\"index\":0},{\"namespace\":\"" NS29 "\",\"data\":\"d29ybGQ=\","
        "\"share_version\":1,\"commitment\":\"" C32 "\",\"signer\":\"" S20
        "\",\"index\":-1}]}";
    const char *spaced =
        " {\n \"result\" : [ { \"data\" : \"\" ,\t\"namespace\" : \"" NS29
        "\" , \"commitment\" : null , \"signer\" : null } ] ,\r\n \"id\" : 7 "
        "} \n";
    struct bm_da_blob_list l = {NULL, 0};
    struct bm_errmsg em = {{0}};
    size_t n = 0, len = strlen(good);
    char *buf;
    (void)state;

    /* the shapes our DA server sends: decoded, and as json-c decodes them */
    assert_true(bm__da_scan_get_all(good, len, 7, &l));
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].data.len, 5);
    assert_memory_equal(l.v[0].data.ptr, "hello", 5);
    assert_false(l.v[0].has_signer);
    assert_true(l.v[1].has_signer);
    assert_int_equal(l.v[1].share_version, 1);
    assert_int_equal(l.v[1].index, -1);
    bm_da_blob_list_release(&l);
    assert_int_equal(equiv(good), GETALL_SAME);
    assert_int_equal(equiv(spaced), GETALL_SAME);
    assert_int_equal(equiv("{\"id\":7,\"result\":null}"), GETALL_SAME);
    assert_int_equal(equiv("{\"result\":[],\"jsonrpc\":\"2.0\"}"),
                     GETALL_SAME);
    assert_int_equal(decode("{\"id\":7,\"result\":[ ]}", &em, &n),
                     BM_EDA_NOT_FOUND);
    assert_int_equal(decode(good, &em, &n), BM_OK);
    assert_int_equal(n, 2);

    /* truncated at every byte: never decoded by the scanner, and the
     * client's decode fails (json-c names the offset) */
    buf = bm_xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, good, i);
        buf[i] = '\0';
        assert_false(scans(buf));
        assert_int_not_equal(decode(buf, &em, &n), BM_OK);
    }
    bm_free(buf);

    /* declined, then refused by the json-c decoder, naming the field */
    static const struct {
        const char *body;
        enum bm_err err;
        const char *msg;
    } bad[] = {
        /* wrong types */
        {"{\"id\":7,\"result\":{}}", BM_EPROTO, "result: want an array"},
        {"{\"id\":7,\"result\":[5]}", BM_EPROTO, "result[0]: want an object"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":5}]}",
         BM_EPROTO, "result[0].data: want a string"},
        {"{\"id\":7,\"result\":[{\"namespace\":null,\"data\":\"\"}]}",
         BM_EMISSING, "result[0].namespace: missing"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
         "\"index\":1.5}]}",
         BM_EPROTO, "result[0].index: want an integer"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
         "\"share_version\":2}]}",
         BM_EPROTO, "result[0].share_version: unsupported"},
        /* bad base64, wrong fixed lengths */
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"A$AA\"}]}",
         BM_EPARSE, "result[0].data: invalid base64"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"AAA\"}]}",
         BM_EPARSE, "result[0].data: invalid base64 length 3"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"AAAA\",\"data\":\"\"}]}",
         BM_EINVAL, "result[0].namespace"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
         "\"commitment\":\"" NS29 "\"}]}",
         BM_EINVAL, "result[0].commitment"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
         "\"signer\":\"" C32 "\"}]}",
         BM_EINVAL, "result[0].signer"},
        {"{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\"}]}", BM_EMISSING,
         "result[0].data: missing"},
        /* the envelope */
        {"{\"id\":8,\"result\":null}", BM_EPROTO, "response.id"},
        {"{\"id\":7}", BM_EPROTO, "neither result nor error"},
        {"{\"id\":7,\"error\":{\"code\":1,\"message\":\"blob: not found\"}}",
         BM_EDA_NOT_FOUND, "blob: not found"},
        {"{\"id\":7,\"result\":null} x", BM_EPROTO, "at offset 23"},
        {"[]", BM_EPROTO, "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(scans(bad[i].body));
        memset(&em, 0, sizeof(em));
        enum bm_err got = decode(bad[i].body, &em, &n);
        if (got != bad[i].err) {
            fail_msg("case %zu: got %s (%s), want %s", i, bm_err_name(got),
                     em.msg, bm_err_name(bad[i].err));
        }
        if (strstr(em.msg, bad[i].msg) == NULL) {
            fail_msg("case %zu: '%s' lacks '%s'", i, em.msg, bad[i].msg);
        }
    }

    /* shapes the scanner leaves to json-c, which accepts them: duplicate
     * keys (json-c keeps the last), other cases, unknown members with
     * nested junk, escapes, numbers as strings, leading zeros, -0 */
    static const char *const other[] = {
        "{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"AAAA\","
        "\"data\":\"aGVsbG8=\"}]}",
        "{\"id\":7,\"id\":7,\"result\":null}",
        "{\"id\":7,\"result\":[],\"result\":[]}",
        "{\"id\":7,\"result\":[{\"Namespace\":\"" NS29 "\",\"data\":\"\"}]}",
        "{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
        "\"junk\":{\"a\":[[[[{\"b\":[1,2,{}]}]]]]}}]}",
        "{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"aGVs\\/G8=\"}]}",
        "{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
        "\"share_version\":\"1\",\"index\":\"-4\"}]}",
        "{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
        "\"index\":-0}]}",
        "{\"id\":7,\"result\":[{\"namespace\":\"" NS29 "\",\"data\":\"\","
        "\"index\":1234567890123456789}]}",
        "{\"id\":7,\"error\":null,\"result\":null}",
        "{\"id\":\"7\",\"result\":null}",
        "{\"id\":07,\"result\":null}",
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        if (scans(other[i])) {
            fail_msg("other %zu: scanned", i);
        }
        assert_int_not_equal(equiv(other[i]), GETALL_DIFFERENT);
    }
    /* the duplicate data: json-c's last value, through the client path */
    {
        struct bm_da_blob_list d = {NULL, 0};
        assert_int_equal(bm__da_get_all_decode(other[0], strlen(other[0]), 7,
                                               &d, &em),
                         BM_OK);
        assert_int_equal(d.v[0].data.len, 5);
        bm_da_blob_list_release(&d);
    }

    /* huge lengths: more blobs than the cap is declined and refused by
     * count (4 MiB of JSON: seconds under a sanitizer, so in the plain
     * build only); a long data string is decoded straight into its
     * buffer */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    {
        const char *one = "{\"namespace\":\"" NS29 "\",\"data\":\"\"},";
        size_t one_len = strlen(one), cap = (size_t)BM__DA_MAX_BLOBS + 1;
        size_t total = 32 + cap * one_len;
        char *big = bm_xmalloc(total), *q = big;
        size_t pre = (size_t)sprintf(q, "{\"id\":7,\"result\":[");
        q += pre;
        for (size_t i = 0; i < cap; i++) {
            memcpy(q, one, one_len);
            q += one_len;
        }
        q[-1] = ']';
        *q++ = '}';
        *q = '\0';
        assert_false(scans(big));
        assert_int_equal(decode(big, &em, &n), BM_EPROTO);
        assert_non_null(strstr(em.msg, "blobs, at most"));
        /* one blob fewer: exactly the cap, decoded by the scanner (its
         * equivalence with json-c is the other cases': this one would
         * only cost time under the sanitizers) */
        q = big + pre + (cap - 1) * one_len;
        q[-1] = ']';
        q[0] = '}';
        q[1] = '\0';
        {
            struct bm_da_blob_list c = {NULL, 0};
            assert_true(bm__da_scan_get_all(big, strlen(big), 7, &c));
            assert_int_equal(c.n, cap - 1);
            bm_da_blob_list_release(&c);
        }
        bm_free(big);
    }
#endif
    {
        size_t dl = 1 << 16;
        char *big = bm_xmalloc(dl + 128), *q = big;
        q += sprintf(q, "{\"id\":7,\"result\":[{\"namespace\":\"" NS29
                        "\",\"data\":\"");
        memset(q, 'A', dl);
        q += dl;
        sprintf(q, "\"}]}");
        assert_int_equal(equiv(big), GETALL_SAME);
        bm_free(big);
    }
}

static void test_alloc_failures(void **state)
{
    const char *body =
        "{\"id\":7,\"result\":[{\"namespace\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc=\",\"data\":\"aGVsbG8=\","
        "\"commitment\":\"bXv72VwMR5mZlnhBKw3JPg9NPHs+jfgWvL3h7ylkxkI=\"},"
        "{\"namespace\":\"AAAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc=\","
        "\"data\":\"d29ybGQ=\",\"signer\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQE=\","
        "\"share_version\":1}]}";
    const char *req =
        "{\"id\":3,\"method\":\"blob.Submit\",\"params\":[[{\"namespace\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc=\",\"data\":\"aGk=\"},"
        "{\"namespace\":\"AAAAAAAAAAAAAAAAAAAAAAAAACjQB9Ws8iztHEc=\","
        "\"data\":\"aGk=\"}],{}]}";
    int ok = 0;
    (void)state;

    for (int64_t n = 1; n <= 12; n++) {
        struct bm__da_response r = {NULL, NULL};
        struct bm_da_blob_list l = {NULL, 0};
        struct bm__da_request q;
        int code = 0;
        enum bm_err err;
        bm_alloc_fail_after(n);
        err = bm__da_response_parse(body, strlen(body), 7, &r, NULL);
        if (err == BM_OK) {
            err = bm__da_decode_blobs(r.result, &l, NULL);
            if (err == BM_OK) {
                assert_int_equal(l.n, 2);
                assert_true(l.v[1].has_signer);
                ok++;
            } else {
                assert_int_equal(err, BM_ENOMEM);
            }
        }
        bm_da_blob_list_release(&l);
        bm__da_response_release(&r);
        bm_alloc_fail_after(n);
        err = bm__da_request_parse(req, strlen(req), &q, &code, NULL);
        assert_true(err == BM_OK || err == BM_ENOMEM);
        bm__da_request_release(&q);
        /* the GetAll scanner: BM_OK or BM_ENOMEM, nothing leaked */
        bm_alloc_fail_after(n);
        err = bm__da_get_all_decode(body, strlen(body), 7, &l, NULL);
        assert_true(err == BM_OK || err == BM_ENOMEM);
        bm_da_blob_list_release(&l);
        bm_alloc_fail_after(0);
    }
    assert_true(ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_base64_vs_sodium),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_getall_scan),
    };
    return BM_TEST_RUN(tests);
}
