/* genesis.json: parse, validate, encode, files; RFC 3339 times. */
#include "bm_test.h"

#include "blockv2/genesis.h"
#include "util/errmsg.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* base64 of 32 bytes 0x00..0x1f */
#define ADDR "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\""

static const uint8_t *P(const char *s)
{
    return (const uint8_t *)s;
}

static void test_time_parse(void **state)
{
    static const struct {
        const char *s;
        uint64_t ns;
    } ok[] = {
        {"1970-01-01T00:00:00.000000001Z", 1},
        {"2024-01-02T03:04:05Z", 1704164645000000000ull},
        {"2024-01-02T03:04:05.5Z", 1704164645500000000ull},
        {"2024-01-02T03:04:05.123456789Z", 1704164645123456789ull},
        /* digits past the 9th are truncated, as Go does */
        {"2024-01-02T03:04:05.1234567891Z", 1704164645123456789ull},
        {"2024-01-02T05:04:05+02:00", 1704164645000000000ull},
        {"2024-01-01T22:34:05-04:30", 1704164645000000000ull},
        {"2024-02-29T00:00:00Z", 1709164800000000000ull},
        {"2000-02-29T12:00:00Z", 951825600000000000ull},
        {"2554-07-21T23:34:33.709551615Z", UINT64_MAX},
    };
    static const struct {
        const char *s;
        int err;
    } bad[] = {
        {"", BM_EPARSE},
        {"2024-01-02", BM_EPARSE},
        {"2024-01-02T03:04:05", BM_EPARSE},
        {"2024-01-02 03:04:05Z", BM_EPARSE},
        {"2024-01-02t03:04:05Z", BM_EPARSE},
        {"2024-01-02T03:04:05z", BM_EPARSE},
        {"2024-01-02T03:04:05.Z", BM_EPARSE},
        {"2024-13-02T03:04:05Z", BM_EPARSE},
        {"2023-02-29T03:04:05Z", BM_EPARSE},
        {"2024-04-31T03:04:05Z", BM_EPARSE},
        {"2024-01-00T03:04:05Z", BM_EPARSE},
        {"2024-01-02T24:04:05Z", BM_EPARSE},
        {"2024-01-02T03:60:05Z", BM_EPARSE},
        {"2024-01-02T03:04:60Z", BM_EPARSE},
        {"2024-01-02T03:04:05+2:00", BM_EPARSE},
        {"2024-01-02T03:04:05+24:00", BM_EPARSE},
        {"2024-01-02T03:04:05+02:60", BM_EPARSE},
        {"2024-01-02T03:04:05Zjunk", BM_EPARSE},
        {"1969-12-31T23:59:59Z", BM_EOVERFLOW},
        {"1970-01-01T00:00:00+00:01", BM_EOVERFLOW},
        {"0001-01-01T00:00:00Z", BM_EOVERFLOW},
        {"2554-07-21T23:34:33.709551616Z", BM_EOVERFLOW},
        {"9999-12-31T23:59:59Z", BM_EOVERFLOW},
    };
    uint64_t ns;
    (void)state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ns = 0;
        if (bm_genesis_time_parse(ok[i].s, strlen(ok[i].s), &ns) != BM_OK ||
            ns != ok[i].ns) {
            fail_msg("'%s': got %llu", ok[i].s, (unsigned long long)ns);
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int err = bm_genesis_time_parse(bad[i].s, strlen(bad[i].s), &ns);
        if (err != bad[i].err) {
            fail_msg("'%s': got %s", bad[i].s, bm_err_name(err));
        }
    }
}

static void test_time_format(void **state)
{
    static const struct {
        uint64_t ns;
        const char *s;
    } cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {1, "1970-01-01T00:00:00.000000001Z"},
        {1704164645000000000ull, "2024-01-02T03:04:05Z"},
        {1704164645500000000ull, "2024-01-02T03:04:05.5Z"},
        {1704164645120000000ull, "2024-01-02T03:04:05.12Z"},
        {1704164645123456789ull, "2024-01-02T03:04:05.123456789Z"},
        {951825600000000000ull, "2000-02-29T12:00:00Z"},
        {UINT64_MAX, "2554-07-21T23:34:33.709551615Z"},
    };
    char out[BM_RFC3339_SIZE];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t back = 0;
        bm_genesis_time_format(cases[i].ns, out);
        assert_string_equal(out, cases[i].s);
        assert_int_equal(bm_genesis_time_parse(out, strlen(out), &back),
                         BM_OK);
        assert_true(back == cases[i].ns);
    }
    /* Every day of a leap and a non-leap year round-trips. */
    for (uint64_t d = 0; d < 3 * 366; d++) {
        uint64_t ns = (1704067200ull + d * 86400 + 3661) * 1000000000ull, b;
        bm_genesis_time_format(ns, out);
        assert_int_equal(bm_genesis_time_parse(out, strlen(out), &b), BM_OK);
        assert_true(b == ns);
    }
}

static void test_genesis_valid(void **state)
{
    const char *j =
        "{\"chain_id\":\"test-chain\",\"start_time\":"
        "\"2024-01-02T05:04:05.25+02:00\",\"initial_height\":1,"
        "\"proposer_address\":" ADDR ",\"extra\":{\"a\":[1,2.5,null]}}";
    struct bm_genesis g = {0};
    struct bm_errmsg em = {{0}};
    (void)state;

    assert_int_equal(bm_genesis_parse(&g, P(j), strlen(j), "g.json", &em),
                     BM_OK);
    assert_string_equal(g.chain_id, "test-chain");
    assert_true(g.start_time_ns == 1704164645250000000ull);
    assert_true(g.initial_height == 1);
    assert_int_equal(g.proposer_address.len, 32);
    assert_int_equal(g.proposer_address.ptr[31], 0x1f);
    assert_true(g.da_start_height == 0);
    assert_true(g.da_epoch_forced_inclusion == 50);

    j = "{\"chain_id\":\"c\",\"start_time\":\"2024-01-02T03:04:05Z\","
        "\"initial_height\":18446744073709551615,\"proposer_address\":"
        ADDR ",\"da_start_height\":9223372036854775808,"
        "\"da_epoch_forced_inclusion\":1,\"da_start_height_x\":-1}";
    assert_int_equal(bm_genesis_parse(&g, P(j), strlen(j), "g.json", &em),
                     BM_OK);
    assert_true(g.initial_height == UINT64_MAX);
    assert_true(g.da_start_height == 9223372036854775808ull);
    assert_true(g.da_epoch_forced_inclusion == 1);

    /* null fields take the defaults (Go leaves the zero value). */
    j = "{\"chain_id\":\"c\",\"start_time\":\"2024-01-02T03:04:05Z\","
        "\"initial_height\":7,\"proposer_address\":" ADDR
        ",\"da_start_height\":null,\"da_epoch_forced_inclusion\":null}";
    assert_int_equal(bm_genesis_parse(&g, P(j), strlen(j), "g.json", &em),
                     BM_OK);
    assert_true(g.da_epoch_forced_inclusion == 50);
    bm_genesis_release(&g);
}

struct bad_case {
    const char *json;
    int err;
    const char *msg;
};

static void test_genesis_invalid(void **state)
{
#define T "\"start_time\":\"2024-01-02T03:04:05Z\""
#define H "\"initial_height\":1"
#define C "\"chain_id\":\"c\""
#define A "\"proposer_address\":" ADDR
    static const struct bad_case cases[] = {
        {"", BM_EPARSE, "empty"},
        {"nope", BM_EPARSE, "not valid JSON"},
        {"\"str\"", BM_EPARSE, "want a JSON object, got string"},
        {"{" C "," T "," H "," A "}x", BM_EPARSE, "not valid JSON"},
        {"{" C "," T "," H "," A ",}", BM_EPARSE, "not valid JSON"},
        {"{" T "," H "," A "}", BM_EGENESIS, "chain_id: missing"},
        {"{\"chain_id\":\"\"," T "," H "," A "}", BM_EGENESIS,
         "chain_id: missing or empty"},
        {"{\"chain_id\":5," T "," H "," A "}", BM_EGENESIS,
         "chain_id: want a string, got a number"},
        {"{\"chain_id\":\"a\\u0000b\"," T "," H "," A "}", BM_EGENESIS,
         "chain_id: contains a NUL"},
        {"{" C "," H "," A "}", BM_EGENESIS, "start_time: missing"},
        {"{" C ",\"start_time\":\"yesterday\"," H "," A "}", BM_EGENESIS,
         "start_time: \"yesterday\" is not an RFC 3339 time"},
        {"{" C ",\"start_time\":\"0001-01-01T00:00:00Z\"," H "," A "}",
         BM_EGENESIS, "start_time: is the zero time"},
        {"{" C ",\"start_time\":\"1960-01-01T00:00:00Z\"," H "," A "}",
         BM_EGENESIS, "start_time: \"1960-01-01T00:00:00Z\" is outside"},
        {"{" C ",\"start_time\":\"1970-01-01T00:00:00Z\"," H "," A "}",
         BM_EGENESIS, "start_time: missing or zero"},
        {"{" C ",\"start_time\":12," H "," A "}", BM_EGENESIS,
         "start_time: want a string, got a number"},
        {"{" C "," T "," A "}", BM_EGENESIS, "initial_height: missing"},
        {"{" C "," T ",\"initial_height\":0," A "}", BM_EGENESIS,
         "initial_height: must be at least 1, got 0"},
        {"{" C "," T ",\"initial_height\":-1," A "}", BM_EGENESIS,
         "initial_height: must not be negative"},
        {"{" C "," T ",\"initial_height\":-0," A "}", BM_EGENESIS,
         "initial_height: must not be negative"},
        {"{" C "," T ",\"initial_height\":1.0," A "}", BM_EGENESIS,
         "initial_height: want an unsigned integer, got a fractional"},
        {"{" C "," T ",\"initial_height\":1e3," A "}", BM_EGENESIS,
         "initial_height: want an unsigned integer, got a fractional"},
        {"{" C "," T ",\"initial_height\":\"1\"," A "}", BM_EGENESIS,
         "initial_height: want an unsigned integer, got a string"},
        {"{" C "," T ",\"initial_height\":true," A "}", BM_EGENESIS,
         "initial_height: want an unsigned integer, got a boolean"},
        {"{" C "," T ",\"initial_height\":18446744073709551616," A "}",
         BM_EGENESIS, "initial_height: above 18446744073709551615"},
        {"{" C "," T ",\"initial_height\":99999999999999999999999," A "}",
         BM_EGENESIS, "initial_height: above"},
        {"{" C "," T ",\"initial_height\":01," A "}", BM_EPARSE,
         "not valid JSON"},
        {"{" C "," T "," H "}", BM_EGENESIS, "proposer_address: missing"},
        {"{" C "," T "," H ",\"proposer_address\":null}", BM_EGENESIS,
         "proposer_address: missing"},
        {"{" C "," T "," H ",\"proposer_address\":\"\"}", BM_EGENESIS,
         "proposer_address: missing or empty"},
        {"{" C "," T "," H ",\"proposer_address\":\"abc\"}", BM_EGENESIS,
         "proposer_address: not valid base64"},
        {"{" C "," T "," H ",\"proposer_address\":[1]}", BM_EGENESIS,
         "proposer_address: want a base64 string, got an array"},
        {"{" C "," T "," H "," A ",\"da_start_height\":-5}", BM_EGENESIS,
         "da_start_height: must not be negative"},
        {"{" C "," T "," H "," A ",\"da_start_height\":\"5\"}", BM_EGENESIS,
         "da_start_height: want an unsigned integer, got a string"},
        {"{" C "," T "," H "," A ",\"da_epoch_forced_inclusion\":0}",
         BM_EGENESIS, "da_epoch_forced_inclusion: must be at least 1"},
        {"{" C "," T "," H "," A ",\"da_epoch_forced_inclusion\":2.5}",
         BM_EGENESIS, "da_epoch_forced_inclusion: want an unsigned integer"},
        /* key written with an escape still maps to the field */
        {"{" C "," T "," A ",\"initial_\\u0068eight\":18446744073709551617}",
         BM_EGENESIS, "initial_height: above"},
    };
    struct bm_genesis g = {0};
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bm_errmsg em = {{0}};
        int err = bm_genesis_parse(&g, P(cases[i].json),
                                   strlen(cases[i].json), "gen.json", &em);
        if (err != cases[i].err || strstr(em.msg, cases[i].msg) == NULL ||
            strstr(em.msg, "gen.json") == NULL) {
            fail_msg("case %zu: got %s '%s', want %s '%s'", i,
                     bm_err_name(err), em.msg, bm_err_name(cases[i].err),
                     cases[i].msg);
        }
        assert_null(g.chain_id);
        assert_null(g.proposer_address.ptr);
    }
    /* Duplicate keys: the last one wins (as in Go). */
    {
        const char *j = "{" C "," T "," A ",\"initial_height\":0,"
                        "\"initial_height\":3}";
        assert_int_equal(bm_genesis_parse(&g, P(j), strlen(j), NULL, NULL),
                         BM_OK);
        assert_true(g.initial_height == 3);
        bm_genesis_release(&g);
    }
#undef T
#undef H
#undef C
#undef A
}

static void test_genesis_encode_roundtrip(void **state)
{
    struct bm_genesis g = {0}, back = {0};
    struct bm_buf out = {0};
    struct bm_errmsg em = {{0}};
    static const uint8_t addr[32] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                     22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
    (void)state;

    g.chain_id = bm_xstrdup("a<b>&\"\\\n\x01");
    g.start_time_ns = 1704164645120000000ull;
    g.initial_height = 5;
    assert_int_equal(bm_buf_set(&g.proposer_address, addr, 32), BM_OK);
    g.da_start_height = UINT64_MAX;
    g.da_epoch_forced_inclusion = 50;
    assert_int_equal(bm_genesis_encode(&g, &out, &em), BM_OK);
    /* Go escapes < > & as \u003c \u003e \u0026 */
    {
        char *s = bm_xmalloc(out.len + 1);
        memcpy(s, out.ptr, out.len);
        s[out.len] = '\0';
        assert_non_null(strstr(s, "a\\u003cb\\u003e\\u0026"));
        bm_free(s);
    }
    assert_int_equal(bm_genesis_parse(&back, out.ptr, out.len, NULL, &em),
                     BM_OK);
    assert_string_equal(back.chain_id, g.chain_id);
    assert_true(back.start_time_ns == g.start_time_ns);
    assert_true(back.initial_height == 5);
    assert_true(bm_buf_eq(&back.proposer_address, &g.proposer_address));
    assert_true(back.da_start_height == UINT64_MAX);
    assert_true(back.da_epoch_forced_inclusion == 50);

    /* Exact Go MarshalIndent layout for a plain chain id. */
    bm_free(g.chain_id);
    g.chain_id = bm_xstrdup("evnode-test");
    g.da_start_height = 0;
    assert_int_equal(bm_genesis_encode(&g, &out, &em), BM_OK);
    {
        const char *exact =
            "{\n"
            "  \"chain_id\": \"evnode-test\",\n"
            "  \"start_time\": \"2024-01-02T03:04:05.12Z\",\n"
            "  \"initial_height\": 5,\n"
            "  \"proposer_address\": " ADDR ",\n"
            "  \"da_start_height\": 0,\n"
            "  \"da_epoch_forced_inclusion\": 50\n"
            "}";
        assert_int_equal(out.len, strlen(exact));
        assert_memory_equal(out.ptr, exact, out.len);
    }

    /* Invalid structs are refused by encode. */
    g.initial_height = 0;
    assert_int_equal(bm_genesis_encode(&g, &out, &em), BM_EGENESIS);
    assert_non_null(strstr(em.msg, "initial_height"));
    g.initial_height = 1;
    bm_free(g.chain_id);
    g.chain_id = bm_xstrdup("bad\xff");
    assert_int_equal(bm_genesis_encode(&g, &out, &em), BM_EGENESIS);
    assert_non_null(strstr(em.msg, "UTF-8"));

    /* copy */
    bm_free(g.chain_id);
    g.chain_id = bm_xstrdup("copy-me");
    assert_int_equal(bm_genesis_copy(&back, &g), BM_OK);
    assert_string_equal(back.chain_id, "copy-me");
    assert_true(bm_buf_eq(&back.proposer_address, &g.proposer_address));

    bm_buf_release(&out);
    bm_genesis_release(&g);
    bm_genesis_release(&back);
}

static void test_genesis_files(void **state)
{
    char dir[256], path[512], tmp[600];
    struct bm_genesis g = {0}, back = {0};
    struct bm_errmsg em = {{0}};
    struct stat st;
    FILE *f;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/bm_gen_XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/%s", dir, BM_GENESIS_FILE_NAME);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    assert_int_equal(bm_genesis_load(&g, path, &em), BM_ENOTFOUND);
    assert_non_null(strstr(em.msg, path));

    g.chain_id = bm_xstrdup("files");
    g.start_time_ns = 1;
    g.initial_height = 1;
    assert_int_equal(bm_buf_set(&g.proposer_address, P("addr"), 4), BM_OK);
    g.da_epoch_forced_inclusion = 3;
    assert_int_equal(bm_genesis_save(&g, path, false, &em), BM_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(bm_genesis_save(&g, path, false, &em), BM_EEXIST);
    assert_int_equal(bm_genesis_load(&back, path, &em), BM_OK);
    assert_string_equal(back.chain_id, "files");
    assert_true(back.start_time_ns == 1);
    assert_true(back.da_epoch_forced_inclusion == 3);
    g.initial_height = 9;
    assert_int_equal(bm_genesis_save(&g, path, true, &em), BM_OK);
    assert_int_equal(bm_genesis_load(&back, path, &em), BM_OK);
    assert_true(back.initial_height == 9);

    /* Invalid genesis is not written. */
    g.initial_height = 0;
    assert_int_equal(bm_genesis_save(&g, path, true, &em), BM_EGENESIS);
    assert_int_equal(bm_genesis_load(&back, path, &em), BM_OK);
    assert_true(back.initial_height == 9);

    /* Huge file. */
    f = fopen(path, "wb");
    assert_non_null(f);
    fputc('{', f);
    for (size_t i = 0; i < BM_GENESIS_FILE_MAX; i++) {
        fputc(' ', f);
    }
    fputc('}', f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(bm_genesis_load(&back, path, &em), BM_ETOOBIG);
    assert_null(back.chain_id);

    unlink(path);
    unlink(tmp);
    rmdir(dir);
    bm_genesis_release(&g);
    bm_genesis_release(&back);
}

/* Every bm_ allocation failure gives BM_ENOMEM, no leak, no crash. */
static void test_genesis_oom(void **state)
{
    const char *j =
        "{\"chain_id\":\"oom\",\"start_time\":\"2024-01-02T03:04:05Z\","
        "\"initial_height\":1,\"proposer_address\":" ADDR "}";
    struct bm_genesis g = {0};
    struct bm_buf out = {0};
    int ok = 0;
    (void)state;

    for (int64_t n = 1; n < 64; n++) {
        int err;
        bm_alloc_fail_after(n);
        err = bm_genesis_parse(&g, P(j), strlen(j), NULL, NULL);
        if (err == BM_OK) {
            err = bm_genesis_encode(&g, &out, NULL);
        }
        bm_alloc_fail_after(0);
        assert_true(err == BM_OK || err == BM_ENOMEM);
        ok += err == BM_OK;
        bm_buf_release(&out);
        bm_genesis_release(&g);
    }
    assert_true(ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_genesis_valid),
        cmocka_unit_test(test_genesis_invalid),
        cmocka_unit_test(test_genesis_encode_roundtrip),
        cmocka_unit_test(test_genesis_files),
        cmocka_unit_test(test_genesis_oom),
    };
    return BM_TEST_RUN(tests);
}
