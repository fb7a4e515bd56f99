#include "bm_test.h"

#include <stdint.h>
#include <string.h>

#include "blockv2/err.h"
#include "util/rfc3339.h"

#define DA_FLAGS \
    (BM_RFC3339_LOWER | BM_RFC3339_SEC60 | BM_RFC3339_LOOSE_MDAY)

struct ok_case {
    const char *s;
    unsigned flags;
    int64_t sec;
    int32_t nsec;
};

struct bad_case {
    const char *s;
    unsigned flags;
};

static void test_parse_ok(void **state)
{
    static const struct ok_case ok[] = {
        {"1970-01-01T00:00:00Z", 0, 0, 0},
        {"1969-12-31T23:59:59Z", 0, -1, 0},
        {"0000-01-01T00:00:00Z", 0, -62167219200LL, 0},
        {"0001-01-01T00:00:00Z", 0, -62135596800LL, 0},
        {"9999-12-31T23:59:59Z", 0, 253402300799LL, 0},
        /* fractions of 1..9 digits, and more (truncated) */
        {"2024-01-02T03:04:05.1Z", 0, 1704164645, 100000000},
        {"2024-01-02T03:04:05.12Z", 0, 1704164645, 120000000},
        {"2024-01-02T03:04:05.123Z", 0, 1704164645, 123000000},
        {"2024-01-02T03:04:05.1234Z", 0, 1704164645, 123400000},
        {"2024-01-02T03:04:05.12345Z", 0, 1704164645, 123450000},
        {"2024-01-02T03:04:05.123456Z", 0, 1704164645, 123456000},
        {"2024-01-02T03:04:05.1234567Z", 0, 1704164645, 123456700},
        {"2024-01-02T03:04:05.12345678Z", 0, 1704164645, 123456780},
        {"2024-01-02T03:04:05.123456789Z", 0, 1704164645, 123456789},
        {"2024-01-02T03:04:05.1234567899999Z", 0, 1704164645, 123456789},
        {"2024-01-02T03:04:05.000000000Z", 0, 1704164645, 0},
        /* offsets */
        {"2024-01-02T05:04:05+02:00", 0, 1704164645, 0},
        {"2024-01-02T01:04:05-02:00", 0, 1704164645, 0},
        {"2024-01-02T03:04:05+00:00", 0, 1704164645, 0},
        {"2024-01-02T03:04:05-00:00", 0, 1704164645, 0},
        {"2024-01-02T08:34:05.5+05:30", 0, 1704164645, 500000000},
        {"2024-01-01T03:05:05-23:59", 0, 1704164645, 0},
        {"1970-01-01T00:00:00+00:01", 0, -60, 0},
        /* leap days */
        {"2024-02-29T00:00:00Z", 0, 1709164800, 0},
        {"2000-02-29T12:00:00Z", 0, 951825600, 0},
        {"1600-02-29T00:00:00Z", 0, -11670998400LL, 0},
        /* flags */
        {"2024-01-02T03:04:05,5Z", BM_RFC3339_COMMA, 1704164645, 500000000},
        {"2024-01-02t03:04:05z", BM_RFC3339_LOWER, 1704164645, 0},
        {"2024-01-02T03:04:60Z", BM_RFC3339_SEC60, 1704164700, 0},
        {"2023-02-29T00:00:00Z", BM_RFC3339_LOOSE_MDAY, 1677628800, 0},
        {"2023-04-31T00:00:00Z", BM_RFC3339_LOOSE_MDAY, 1682899200, 0},
        {"2024-01-02t03:04:60.25z", DA_FLAGS, 1704164700, 250000000},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t sec = 42;
        int32_t nsec = 42;
        int err = bm_rfc3339_parse(ok[i].s, strlen(ok[i].s), ok[i].flags,
                                   &sec, &nsec);

        if (err != BM_OK || sec != ok[i].sec || nsec != ok[i].nsec) {
            fail_msg("'%s': err %s sec %lld nsec %d", ok[i].s,
                     bm_err_name(err), (long long)sec, (int)nsec);
        }
    }
}

static void test_parse_bad(void **state)
{
    static const struct bad_case bad[] = {
        {"", 0},
        {"2024-01-02T03:04:05", 0},
        {"2024-01-02T03:04:05Zjunk", 0},
        {"2024-01-02 03:04:05Z", 0},
        {"2024-01-02T03:04:05z", 0},
        {"2024-01-02t03:04:05Z", 0},
        {"2024-01-02T03:04:05,5Z", 0},
        {"2024-01-02T03:04:05,5Z", DA_FLAGS},
        {"2024-01-02T03:04:05.Z", BM_RFC3339_GO},
        {"2024-01-02T03:04:05.", 0},
        {"2024-01-02T03:04:05.5", 0},
        {"2024-01-02T03:04:05 Z", 0},
        {"24-01-02T03:04:05Z", 0},
        {"2024-1-02T03:04:05Z", 0},
        {"2024/01/02T03:04:05Z", 0},
        {"2024-01-02T03-04-05Z", 0},
        {"+024-01-02T03:04:05Z", 0},
        {"2024-00-02T03:04:05Z", 0},
        {"2024-13-02T03:04:05Z", DA_FLAGS},
        {"2024-01-00T03:04:05Z", DA_FLAGS},
        {"2024-01-32T03:04:05Z", DA_FLAGS},
        {"2023-02-29T00:00:00Z", 0},
        {"1900-02-29T00:00:00Z", 0},
        {"2024-02-30T00:00:00Z", 0},
        {"2024-04-31T00:00:00Z", 0},
        {"2024-01-02T24:04:05Z", DA_FLAGS},
        {"2024-01-02T03:60:05Z", DA_FLAGS},
        {"2024-01-02T03:04:60Z", 0},
        {"2024-01-02T03:04:61Z", DA_FLAGS},
        {"2024-01-02T03:04:05+2:00", 0},
        {"2024-01-02T03:04:05+02", 0},
        {"2024-01-02T03:04:05+0200", 0},
        {"2024-01-02T03:04:05+02:00Z", 0},
        {"2024-01-02T03:04:05+24:00", DA_FLAGS},
        {"2024-01-02T03:04:05+02:60", DA_FLAGS},
        {"2024-01-02T03:04:05-0a:00", 0},
        {"2024-01-02T03:04:05\0Z", 0},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t sec = 42;
        int32_t nsec = 42;
        int err = bm_rfc3339_parse(bad[i].s, strlen(bad[i].s), bad[i].flags,
                                   &sec, &nsec);

        if (err != BM_EPARSE || sec != 42 || nsec != 42) {
            fail_msg("'%s' flags %u: got %s", bad[i].s, bad[i].flags,
                     bm_err_name(err));
        }
    }
    /* The length is honoured: a valid prefix is not enough, and bytes past
     * len are never read as part of the time. */
    {
        const char *s = "2024-01-02T03:04:05Z";
        int64_t sec;
        int32_t nsec;

        assert_int_equal(bm_rfc3339_parse(s, 19, 0, &sec, &nsec), BM_EPARSE);
        assert_int_equal(bm_rfc3339_parse(s, 10, 0, &sec, &nsec), BM_EPARSE);
        assert_int_equal(bm_rfc3339_parse(s, 0, 0, &sec, &nsec), BM_EPARSE);
    }
}

static void test_format(void **state)
{
    static const struct {
        int64_t sec;
        int32_t nsec;
        const char *trim, *fixed;
    } cases[] = {
        {0, 0, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000000Z"},
        {0, 1, "1970-01-01T00:00:00.000000001Z",
         "1970-01-01T00:00:00.000000001Z"},
        {1704164645, 500000000, "2024-01-02T03:04:05.5Z",
         "2024-01-02T03:04:05.500000000Z"},
        {1704164645, 120000000, "2024-01-02T03:04:05.12Z",
         "2024-01-02T03:04:05.120000000Z"},
        {1704164645, 123456789, "2024-01-02T03:04:05.123456789Z",
         "2024-01-02T03:04:05.123456789Z"},
        {-1, 0, "1969-12-31T23:59:59Z", "1969-12-31T23:59:59.000000000Z"},
        {0, -1, "1969-12-31T23:59:59.999999999Z",
         "1969-12-31T23:59:59.999999999Z"},
        {-1, 1500000000, "1970-01-01T00:00:00.5Z",
         "1970-01-01T00:00:00.500000000Z"},
        {1709164800, 0, "2024-02-29T00:00:00Z",
         "2024-02-29T00:00:00.000000000Z"},
        {-62135596800LL, 0, "0001-01-01T00:00:00Z",
         "0001-01-01T00:00:00.000000000Z"},
        {253402300799LL, 999999999, "9999-12-31T23:59:59.999999999Z",
         "9999-12-31T23:59:59.999999999Z"},
        {253402300800LL, 0, "10000-01-01T00:00:00Z",
         "10000-01-01T00:00:00.000000000Z"},
        {-62167219201LL, 0, "-0001-12-31T23:59:59Z",
         "-0001-12-31T23:59:59.000000000Z"},
        {INT64_MAX, 999999999, "292277026596-12-04T15:30:07.999999999Z",
         "292277026596-12-04T15:30:07.999999999Z"},
        {INT64_MIN, 0, "-292277022657-01-27T08:29:52Z",
         "-292277022657-01-27T08:29:52.000000000Z"},
        {INT64_MIN, -999999999, "-292277022657-01-27T08:29:51.000000001Z",
         "-292277022657-01-27T08:29:51.000000001Z"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[BM_RFC3339_MAX];
        size_t n = bm_rfc3339_format_utc(cases[i].sec, cases[i].nsec, out);

        assert_string_equal(out, cases[i].trim);
        assert_int_equal(n, strlen(cases[i].trim));
        n = bm_rfc3339_format_utc9(cases[i].sec, cases[i].nsec, out);
        assert_string_equal(out, cases[i].fixed);
        assert_int_equal(n, strlen(cases[i].fixed));
    }
}

/* Every day from 1596 to 2404 (several 400-year boundaries, leap and
 * non-leap centuries) formats and parses back to the same instant. */
static void test_round_trip(void **state)
{
    (void)state;

    for (int64_t day = -136000; day < 159000; day += 1) {
        int64_t sec = day * 86400 + 3661, back;
        int32_t nsec = (int32_t)((day * 7919) % 1000000000), bn;
        char out[BM_RFC3339_MAX];
        size_t n;

        if (nsec < 0) {
            nsec = -nsec;
        }
        n = bm_rfc3339_format_utc(sec, nsec, out);
        assert_int_equal(bm_rfc3339_parse(out, n, 0, &back, &bn), BM_OK);
        assert_true(back == sec && bn == nsec);
        n = bm_rfc3339_format_utc9(sec, nsec, out);
        assert_int_equal(bm_rfc3339_parse(out, n, 0, &back, &bn), BM_OK);
        assert_true(back == sec && bn == nsec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
    };
    return BM_TEST_RUN(tests);
}
