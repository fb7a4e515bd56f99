/* The `blockv2 status` summary over fixed /status bodies. */
#include "bm_test.h"

#include <stdlib.h>
#include <string.h>

#include "node/status_view.h"
#include "util/errmsg.h"

/* 2026-11-24T09:00:00.5Z in Unix nanoseconds. */
#define T_BLOCK 1795510800500000000ull

static const char FULL[] =
    "{\"chain_id\":\"evnode-test\",\"height\":1234,"
    "\"da_included_height\":1230,\"app_hash\":\"0a1b2c\","
    "\"last_header_hash\":\"3e4f\","
    "\"last_block_time\":\"2026-11-24T09:00:00.5Z\",\"aggregator\":true,"
    "\"peers\":0,\"pending_headers\":4,\"pending_data\":3,"
    "\"actors\":["
    "{\"name\":\"state\",\"type\":\"detached\",\"depth\":0,\"capacity\":64,"
    "\"handled\":10,\"rejected_full\":0,\"rejected_invalid\":0,"
    "\"dropped\":0,\"restarts\":0,\"failures\":0},"
    "{\"name\":\"producer\",\"type\":\"detached\",\"depth\":3,"
    "\"capacity\":64,\"handled\":10,\"rejected_full\":1,"
    "\"rejected_invalid\":1,\"dropped\":0,\"restarts\":0,\"failures\":0},"
    "{\"name\":\"retriever\",\"type\":\"pooled\",\"depth\":0,"
    "\"capacity\":16,\"handled\":10,\"rejected_full\":0,"
    "\"rejected_invalid\":0,\"dropped\":12,\"restarts\":0,\"failures\":0},"
    "{\"name\":\"sync\",\"type\":\"detached\",\"depth\":0,\"capacity\":64,"
    "\"handled\":10,\"rejected_full\":0,\"rejected_invalid\":0,"
    "\"dropped\":0,\"restarts\":2,\"failures\":2}],"
    "\"breakers\":{\"da\":\"closed\",\"exec\":\"half-open\"}}";

static char *render_ok(const char *json, uint64_t now)
{
    struct bm_buf out = {NULL, 0};
    struct bm_errmsg em = {{0}};
    enum bm_err err;
    char *s;

    err = bm_status_view_render((const uint8_t *)json, strlen(json), now,
                                &out, &em);
    if (err != BM_OK) {
        fail_msg("render: %s", bm_errmsg_str(&em, err));
    }
    s = bm_xmalloc(out.len + 1);
    memcpy(s, out.ptr, out.len);
    s[out.len] = '\0';
    assert_int_equal(strlen((const char *)out.ptr), out.len);
    bm_buf_release(&out);
    return s;
}

static void must_contain(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) {
        fail_msg("missing %s\n--- in ---\n%s", want, text);
    }
}

static void test_summary(void **state)
{
    char *t;

    (void)state;
    t = render_ok(FULL, T_BLOCK + 812345678ull);
    must_contain(t, "chain         evnode-test (aggregator)\n");
    must_contain(t, "height        1234, last block 812ms ago "
                    "(2026-11-24T09:00:00.5Z)\n");
    must_contain(t, "DA            included 1230, lag 4 blocks (pending 4 "
                    "headers, 3 data)\n");
    must_contain(t, "app hash      0a1b2c\n");
    must_contain(t, "last header   3e4f\n");
    must_contain(t, "peers         0\n");
    must_contain(t, "breakers      da closed, exec half-open\n");
    must_contain(t, "actors        4, 3 with queued messages, drops or "
                    "restarts:\n");
    /* only the busy actors, with their numbers */
    must_contain(t, "  producer                        3/64          0"
                    "          2         0         0\n");
    must_contain(t, "  retriever                       0/16         12"
                    "          0         0         0\n");
    must_contain(t, "  sync                            0/64          0"
                    "          0         2         2\n");
    assert_null(strstr(t, "  state "));
    bm_free(t);

    /* ages for people: tenths from 1 s, seconds from 1 min */
    t = render_ok(FULL, T_BLOCK + 3456000000ull);
    must_contain(t, "last block 3.4s ago");
    bm_free(t);
    t = render_ok(FULL, T_BLOCK + 3723900000000ull);
    must_contain(t, "last block 1h2m3s ago");
    bm_free(t);
    t = render_ok(FULL, T_BLOCK - 2000000000ull);
    must_contain(t, "last block 2s in the future: check the clocks");
    bm_free(t);
}

static void test_quiet_and_empty(void **state)
{
    char *t;

    (void)state;
    /* every actor idle */
    t = render_ok("{\"chain_id\":\"c\",\"height\":5,\"da_included_height\":5,"
                  "\"aggregator\":false,\"peers\":2,\"actors\":["
                  "{\"name\":\"a\",\"depth\":0,\"dropped\":0,\"restarts\":0},"
                  "{\"name\":\"b\",\"depth\":0,\"dropped\":0,\"restarts\":0}"
                  "],\"breakers\":{\"da\":\"open\"}}",
                  T_BLOCK);
    must_contain(t, "chain         c (full node)\n");
    must_contain(t, "DA            included 5, lag 0 blocks\n");
    must_contain(t, "peers         2\n");
    assert_null(strstr(t, "P2P stores"));
    must_contain(t, "breakers      da open\n");
    must_contain(t, "actors        2, none with queued messages, drops or "
                    "restarts\n");
    bm_free(t);
    /* P2P with its stores' heights */
    t = render_ok("{\"chain_id\":\"c\",\"height\":5,\"peers\":1,\"p2p\":"
                  "{\"peer_id\":\"12D3KooW\",\"header_height\":9,"
                  "\"data_height\":8}}",
                  T_BLOCK);
    must_contain(t, "peers         1\nP2P stores    headers 9, data 8 "
                    "(best seen)\n");
    bm_free(t);

    /* a node without a block manager (read-only), and a store at 0 */
    t = render_ok("{\"chain_id\":\"c\",\"height\":0,\"da_included_height\":0,"
                  "\"app_hash\":\"\",\"last_header_hash\":\"\","
                  "\"aggregator\":false,\"peers\":0,\"actors\":[],"
                  "\"breakers\":{}}",
                  T_BLOCK);
    must_contain(t, "height        0\n");
    must_contain(t, "app hash      (none)\n");
    must_contain(t, "breakers      none (no block manager)\n");
    must_contain(t, "actors        none (no block manager)\n");
    bm_free(t);

    /* missing fields print "?" */
    t = render_ok("{}", T_BLOCK);
    must_contain(t, "chain         ?\n");
    must_contain(t, "height        ?\n");
    must_contain(t, "DA            ?\n");
    must_contain(t, "peers         ?\n");
    must_contain(t, "actors        ?\n");
    bm_free(t);
}

static void expect_error(const char *json, enum bm_err want,
                         const char *msg_part)
{
    struct bm_buf out = {NULL, 0};
    struct bm_errmsg em = {{0}};

    assert_int_equal(bm_status_view_render((const uint8_t *)json,
                                           strlen(json), T_BLOCK, &out, &em),
                     want);
    assert_null(out.ptr);
    if (strstr(em.msg, msg_part) == NULL) {
        fail_msg("message '%s' does not name '%s'", em.msg, msg_part);
    }
}

static void test_untrusted(void **state)
{
    struct bm_buf out = {NULL, 0};
    struct bm_errmsg em = {{0}};
    char *t, *big;
    size_t n = BM_STATUS_VIEW_MAX + 1;

    (void)state;
    expect_error("", BM_EPARSE, "status");
    expect_error("[1,2]", BM_EPARSE, "not a JSON object");
    expect_error("{\"height\":1", BM_EPARSE, "not a JSON object");
    expect_error("{} x", BM_EPARSE, "trailing");
    expect_error("{\"height\":-1}", BM_EINVAL, "height");
    expect_error("{\"height\":\"7\"}", BM_EINVAL, "height");
    expect_error("{\"aggregator\":1}", BM_EINVAL, "aggregator");
    expect_error("{\"breakers\":[]}", BM_EINVAL, "breakers");
    expect_error("{\"breakers\":{\"da\":0}}", BM_EINVAL, "breakers.da");
    expect_error("{\"actors\":{}}", BM_EINVAL, "actors");
    expect_error("{\"p2p\":[]}", BM_EINVAL, "p2p");
    expect_error("{\"p2p\":{\"header_height\":-3,\"data_height\":1}}",
                 BM_EINVAL, "p2p.header_height");
    expect_error("{\"actors\":[{\"name\":\"a\"},{\"depth\":true}]}",
                 BM_EINVAL, "actors[1].depth");
    expect_error("{\"a\":[[[[[[[[[[1]]]]]]]]]]}", BM_EPARSE, "JSON");
    big = bm_xmalloc(n);
    memset(big, ' ', n);
    assert_int_equal(bm_status_view_render((const uint8_t *)big, n, 0, &out,
                                           &em),
                     BM_ETOOBIG);
    bm_free(big);

    /* terminal escapes and long strings do not get through */
    t = render_ok("{\"chain_id\":\"\\u001b[31mred\\u0007\","
                  "\"app_hash\":\"" "0123456789012345678901234567890123456789"
                  "0123456789012345678901234567890123456789" "extra\","
                  "\"breakers\":{\"\\u001b]0;x\":\"open\"}}",
                  T_BLOCK);
    assert_null(strchr(t, '\x1b'));
    assert_null(strchr(t, '\x07'));
    must_contain(t, "chain         ?[31mred?\n");
    must_contain(t, "89...\n");
    assert_null(strstr(t, "extra"));
    must_contain(t, "breakers      ?]0;x open\n");
    bm_free(t);
    /* an unparseable time is shown, not trusted */
    t = render_ok("{\"height\":3,\"last_block_time\":\"yesterday\"}",
                  T_BLOCK);
    must_contain(t, "height        3, last block at (yesterday)\n");
    bm_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_quiet_and_empty),
        cmocka_unit_test(test_untrusted),
    };
    return BM_TEST_RUN(tests);
}
