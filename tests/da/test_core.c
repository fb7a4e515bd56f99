/* Namespaces (V23), DA IDs (V22) and the status mapping of spec 5.1. */
#include "bm_test.h"

#include <string.h>

#include <sodium.h>

#include "blockv2/da.h"
#include "util/errmsg.h"
#include "util/hex.h"

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
    char got[256];

    assert_true(2 * n < sizeof(got));
    bm_hex_encode(got, p, n);
    assert_string_equal(got, want);
}

static void test_namespace_v23(void **state)
{
    struct bm_da_namespace ns;
    (void)state;

    bm_da_namespace_from_string(&ns, "test-chain-headers", 18);
    assert_hex(ns.b, sizeof(ns.b),
               "0000000000000000000000000000000000000028d007d5acf22ced1c47");
    bm_da_namespace_from_string(&ns, "test-chain-data", 15);
    assert_hex(ns.b, sizeof(ns.b),
               "000000000000000000000000000000000000004fd8e89212a2177e26d3");
}

static void test_namespaces_from_config(void **state)
{
    struct bm_da_namespaces n;
    struct bm_errmsg em = {{0}};
    (void)state;

    assert_int_equal(bm_da_namespaces_from_config(&n, "test-chain-headers",
                                                  "test-chain-data", &em),
                     BM_OK);
    assert_hex(n.header.b, BM_DA_NS_LEN,
               "0000000000000000000000000000000000000028d007d5acf22ced1c47");
    assert_hex(n.data.b, BM_DA_NS_LEN,
               "000000000000000000000000000000000000004fd8e89212a2177e26d3");
    /* data falls back to the header namespace */
    assert_int_equal(
        bm_da_namespaces_from_config(&n, "test-chain-headers", "", &em),
        BM_OK);
    assert_memory_equal(n.data.b, n.header.b, BM_DA_NS_LEN);
    assert_int_equal(bm_da_namespaces_from_config(&n, NULL, "x", &em),
                     BM_ECONFIG);
    assert_non_null(strstr(em.msg, "da.namespace"));
}

static void test_namespace_parse(void **state)
{
    struct bm_da_namespace ns, got;
    struct bm_errmsg em = {{0}};
    uint8_t bad[BM_DA_NS_LEN];
    (void)state;

    bm_da_namespace_from_string(&ns, "x", 1);
    assert_int_equal(bm_da_namespace_parse(&got, ns.b, sizeof(ns.b), "ns",
                                           &em),
                     BM_OK);
    assert_memory_equal(got.b, ns.b, sizeof(ns.b));
    assert_int_equal(bm_da_namespace_parse(&got, ns.b, 28, "ns", &em),
                     BM_EINVAL);
    assert_non_null(strstr(em.msg, "ns: namespace is 28 bytes"));
    memcpy(bad, ns.b, sizeof(bad));
    bad[0] = 1;
    assert_int_equal(bm_da_namespace_parse(&got, bad, sizeof(bad), "ns", &em),
                     BM_EINVAL);
    bad[0] = 0;
    bad[5] = 1;
    assert_int_equal(bm_da_namespace_parse(&got, bad, sizeof(bad), "ns", NULL),
                     BM_EINVAL);
}

static void test_id_v22(void **state)
{
    uint8_t c[32], id[BM_DA_ID_LEN];
    const uint8_t *cp = NULL;
    size_t clen = 0;
    uint64_t h = 0;
    (void)state;

    crypto_hash_sha256(c, (const uint8_t *)"blob", 4);
    bm_da_id_make(id, 5, c);
    assert_hex(id, sizeof(id),
               "0500000000000000fa2c8cc4f28176bbeed4b736df569a34c79cd3723e9ec42"
               "f9674b4d46ac6b8b8");
    assert_int_equal(bm_da_id_split(id, sizeof(id), &h, &cp, &clen), BM_OK);
    assert_int_equal(h, 5);
    assert_int_equal(clen, 32);
    assert_memory_equal(cp, c, 32);
    /* SplitID rejects IDs of length <= 8 */
    assert_int_equal(bm_da_id_split(id, 8, &h, &cp, &clen), BM_EINVAL);
    assert_int_equal(bm_da_id_split(id, 9, &h, &cp, &clen), BM_OK);
    assert_int_equal(clen, 1);
    bm_da_id_make(id, UINT64_MAX, c);
    assert_int_equal(bm_da_id_split(id, sizeof(id), &h, &cp, &clen), BM_OK);
    assert_true(h == UINT64_MAX);
}

static void test_status_mapping(void **state)
{
    static const struct {
        const char *msg;
        enum bm_da_status st;
        int err;
    } cases[] = {
        {"blob: not found", BM_DA_STATUS_NOT_FOUND, BM_EDA_NOT_FOUND},
        {"height 9 is in the future: given height is from the future",
         BM_DA_STATUS_HEIGHT_FROM_FUTURE, BM_EDA_FUTURE_HEIGHT},
        {"blob: over size limit", BM_DA_STATUS_TOO_BIG, BM_EDA_TOO_BIG},
        {"rpc: tx already in mempool", BM_DA_STATUS_ALREADY_IN_MEMPOOL,
         BM_EDA_IN_MEMPOOL},
        {"timed out waiting for tx to be included in a block",
         BM_DA_STATUS_NOT_INCLUDED, BM_EDA_NOT_INCLUDED},
        {"context deadline exceeded", BM_DA_STATUS_CONTEXT_DEADLINE,
         BM_EDA_DEADLINE},
        {"incorrect account sequence",
         BM_DA_STATUS_INCORRECT_ACCOUNT_SEQUENCE, BM_EDA_ERROR},
        {"context canceled", BM_DA_STATUS_CONTEXT_CANCELED, BM_EDA_ERROR},
        {"something else", BM_DA_STATUS_ERROR, BM_EDA_ERROR},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum bm_da_status st = bm_da_status_from_message(cases[i].msg);
        assert_int_equal(st, cases[i].st);
        assert_int_equal(bm_da_status_to_err(st), cases[i].err);
    }
    assert_int_equal(bm_da_status_from_message(NULL), BM_DA_STATUS_ERROR);
    assert_int_equal(bm_da_status_to_err(BM_DA_STATUS_SUCCESS), BM_OK);
    assert_int_equal(bm_da_status_from_err(BM_EDA_FUTURE_HEIGHT),
                     BM_DA_STATUS_HEIGHT_FROM_FUTURE);
    assert_int_equal(bm_da_status_from_err(BM_ENOMEM), BM_DA_STATUS_ERROR);
    assert_string_equal(bm_da_status_name(BM_DA_STATUS_TOO_BIG), "TooBig");
    assert_string_equal(bm_da_status_name((enum bm_da_status)99), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_namespace_v23),
        cmocka_unit_test(test_namespaces_from_config),
        cmocka_unit_test(test_namespace_parse),
        cmocka_unit_test(test_id_v22),
        cmocka_unit_test(test_status_mapping),
    };
    return BM_TEST_RUN(tests);
}
