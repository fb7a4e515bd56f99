/* Helpers shared by the tests in tests/types (static, header-only). */
#ifndef BM_TESTS_TYPES_TEST_UTIL_H
#define BM_TESTS_TYPES_TEST_UTIL_H

#include <string.h>

#include "blockv2/types.h"
#include "util/alloc.h"
#include "util/hex.h"

/* Decodes a hex literal into *out (test input is trusted). */
static inline void tu_hex(struct bm_buf *out, const char *hex)
{
    assert_int_equal(bm_hex_decode(out, hex, strlen(hex)), BM_OK);
}

/* Asserts that p[0..n) is exactly the given hex. */
static inline void tu_assert_hex(const uint8_t *p, size_t n, const char *hex)
{
    char *s = bm_hex_dup(p, n);
    assert_non_null(s);
    assert_string_equal(s, hex);
    bm_free(s);
}

static inline void tu_assert_buf_hex(const struct bm_buf *b, const char *hex)
{
    tu_assert_hex(b->ptr, b->len, hex);
}

/* n copies of the byte c as a bm_buf. */
static inline void tu_fill(struct bm_buf *out, uint8_t c, size_t n)
{
    uint8_t tmp[64];
    assert_true(n <= sizeof(tmp));
    memset(tmp, c, n);
    assert_int_equal(bm_buf_set(out, tmp, n), BM_OK);
}

/* A hex string of n copies of byte "xx". */
static inline char *tu_rep(const char *xx, size_t n)
{
    char *s = bm_xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + 2 * i, xx, 2);
    }
    s[2 * n] = '\0';
    return s;
}

/* Concatenates up to 8 strings into an owned string. */
static inline char *tu_cat(const char *a, const char *b, const char *c,
                           const char *d, const char *e, const char *f,
                           const char *g, const char *h)
{
    const char *v[8] = {a, b, c, d, e, f, g, h};
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        n += v[i] ? strlen(v[i]) : 0;
    }
    char *s = bm_xmalloc(n + 1);
    size_t pos = 0;
    for (int i = 0; i < 8; i++) {
        if (v[i]) {
            size_t l = strlen(v[i]);
            memcpy(s + pos, v[i], l);
            pos += l;
        }
    }
    s[pos] = '\0';
    return s;
}

#define TU_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define TU_V1 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define TU_V2 "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
#define TU_V3 "08011220" TU_V1
#define TU_V5 "a1f4ef20834f538e8169ab5b5e3ec0e58b426c6db1d73ec1e03a0ab80ef29341"
#define TU_V9                                                                  \
    "478d2ab26a6c8149a554da5339a61ec0a9e34cc17f48ac0cf09cc9ccfa344c83"         \
    "c70a2a400b2ed8659bfb37e9ace6de247d4737971c2e138d1e1feab6f8c72904"
#define TU_V13                                                                 \
    "5a730efb4297ed86b8aaeace94618d6a13c07740c850fb07e9244c879e4acd53"         \
    "bdd8ba15a49a315384d348c483dcb99c30aadc66aebbccaf2f1c5e15eacb9b0d"
#define TU_V16                                                                 \
    "36cabd4bcbba83052c9715672e8bf7bea9fb1c3f67b919ad35b7a4ba0878a40c"         \
    "f0ca4fc11af85fc9c40f1097cbc18e9e2314799aeec1b0d9bc8c132987b85c04"
#define TU_H11 "1111111111111111111111111111111111111111111111111111111111111111"
#define TU_H00 "0000000000000000000000000000000000000000000000000000000000000000"
#define TU_H22 "2222222222222222222222222222222222222222222222222222222222222222"
#define TU_H33 "3333333333333333333333333333333333333333333333333333333333333333"
/* V7 without the consensus hash element = V11 (slim). */
#define TU_V7_HEAD "0a001002188080a8b1e39fe7cb172220" TU_H11 "3220" TU_V5
#define TU_V7_TAIL                                                             \
    "4220" TU_H22 "5220" TU_V2 "620a746573742d636861696e"
#define TU_V7 TU_V7_HEAD "3a20" TU_H00 TU_V7_TAIL
#define TU_V11 TU_V7_HEAD TU_V7_TAIL
#define TU_V14                                                                 \
    "0a3a0a0a746573742d636861696e1002188080a8b1e39fe7cb172220" TU_H33         \
    "12037478311203747832"
#define TU_SIGNER "1a480a20" TU_V2 "1224" TU_V3
#define TU_V10 "0ac401" TU_V7 "1240" TU_V9 TU_SIGNER
#define TU_V17 "0a46" TU_V14 "1240" TU_V16 TU_SIGNER

/* The RFC 8032 test key 1. */
static inline void tu_key(struct bm_privkey *k)
{
    uint8_t seed[32];
    assert_int_equal(bm_hex_decode_fixed(seed, 32, TU_SEED, 64), BM_OK);
    bm_privkey_from_seed(k, seed);
}

/* The V7/V11 header; legacy adds consensus_hash = 32 zero bytes (V7). */
static inline void tu_header(struct bm_header *h, bool legacy)
{
    memset(h, 0, sizeof(*h));
    h->height = 2;
    h->time = 1700000000000000000ull;
    tu_fill(&h->last_header_hash, 0x11, 32);
    tu_hex(&h->data_hash, TU_V5);
    tu_fill(&h->app_hash, 0x22, 32);
    tu_hex(&h->proposer_address, TU_V2);
    assert_int_equal(bm_str_set(&h->chain_id, "test-chain"), BM_OK);
    if (legacy) {
        h->legacy.present = true;
        tu_fill(&h->legacy.consensus_hash, 0x00, 32);
    }
}

/* The V14 data: metadata + tx1, tx2. */
static inline void tu_data(struct bm_data *d)
{
    memset(d, 0, sizeof(*d));
    d->has_metadata = true;
    assert_int_equal(bm_str_set(&d->metadata.chain_id, "test-chain"), BM_OK);
    d->metadata.height = 2;
    d->metadata.time = 1700000000000000000ull;
    tu_fill(&d->metadata.last_data_hash, 0x33, 32);
    assert_int_equal(bm_data_add_tx(d, (const uint8_t *)"tx1", 3), BM_OK);
    assert_int_equal(bm_data_add_tx(d, (const uint8_t *)"tx2", 3), BM_OK);
}

#endif /* BM_TESTS_TYPES_TEST_UTIL_H */
