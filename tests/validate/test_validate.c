#include "bm_test.h"

#include <inttypes.h>
#include <string.h>

#include "blockv2/types.h"
#include "blockv2/validate.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "validate/bm_vectors.h"

#define SEC 1000000000ull
#define T0 VEC_TIME
#define NOW (T0 + 100 * SEC)

struct block {
    struct bm_signed_header sh;
    struct bm_data data;
};

static struct bm_privkey key;

static int load_key(void)
{
    uint8_t seed[32];

    if (bm_crypto_init() != BM_OK ||
        bm_hex_decode_fixed(seed, 32, VEC_SEED, 64) != BM_OK) {
        return -1;
    }
    bm_privkey_from_seed(&key, seed);
    return 0;
}

static void buf_fill(struct bm_buf *b, uint8_t v, size_t n)
{
    uint8_t tmp[64];

    memset(tmp, v, sizeof(tmp));
    assert_true(n <= sizeof(tmp));
    assert_int_equal(bm_buf_set(b, tmp, n), BM_OK);
}

static void buf_hash(struct bm_buf *b, const struct bm_hash *h)
{
    assert_int_equal(bm_buf_set(b, h->b, sizeof(h->b)), BM_OK);
}

/* Re-signs after a mutation so only the rule under test fails. */
static void resign(struct block *b)
{
    assert_int_equal(bm_signed_header_sign(&b->sh, &key), BM_OK);
}

/*
 * A well-formed block at `height`/`time` with ntx txs; the links are
 * taken from prev when not NULL.
 */
static void make_block(struct block *b, uint64_t height, uint64_t time,
                       int ntx, const struct block *prev)
{
    struct bm_hash h;

    memset(b, 0, sizeof(*b));
    b->data.has_metadata = true;
    assert_int_equal(bm_str_set(&b->data.metadata.chain_id, "test-chain"),
                     BM_OK);
    b->data.metadata.height = height;
    b->data.metadata.time = time;
    for (int i = 0; i < ntx; i++) {
        char tx[32];
        int n = snprintf(tx, sizeof(tx), "tx%d-%" PRIu64, i, height);
        assert_int_equal(bm_data_add_tx(&b->data, (const uint8_t *)tx,
                                        (size_t)n),
                         BM_OK);
    }
    b->sh.header.height = height;
    b->sh.header.time = time;
    assert_int_equal(bm_str_set(&b->sh.header.chain_id, "test-chain"), BM_OK);
    if (prev != NULL) {
        assert_int_equal(bm_header_hash(&prev->sh.header, &h), BM_OK);
        buf_hash(&b->sh.header.last_header_hash, &h);
        assert_int_equal(bm_data_hash(&prev->data, &h), BM_OK);
        buf_hash(&b->data.metadata.last_data_hash, &h);
    }
    assert_int_equal(bm_data_da_commitment(&b->data, &h), BM_OK);
    buf_hash(&b->sh.header.data_hash, &h);
    buf_fill(&b->sh.header.app_hash, 0x22, 32);
    assert_int_equal(bm_signer_from_privkey(&b->sh.signer, &key), BM_OK);
    assert_int_equal(
        bm_buf_copy(&b->sh.header.proposer_address, &b->sh.signer.address),
        BM_OK);
    resign(b);
}

static void block_release(struct block *b)
{
    bm_signed_header_release(&b->sh);
    bm_data_release(&b->data);
}

/* The state after applying b (app hash unchanged: 32 x 22). */
static void state_after(struct bm_state *s, const struct block *b)
{
    struct bm_hash h;

    memset(s, 0, sizeof(*s));
    assert_int_equal(bm_str_set(&s->chain_id, "test-chain"), BM_OK);
    s->initial_height = 1;
    s->last_block_height = b->sh.header.height;
    s->last_block_time.seconds = (int64_t)(b->sh.header.time / SEC);
    s->last_block_time.nanos = (int32_t)(b->sh.header.time % SEC);
    buf_fill(&s->app_hash, 0x22, 32);
    assert_int_equal(bm_header_hash(&b->sh.header, &h), BM_OK);
    buf_hash(&s->last_header_hash, &h);
}

/* Asserts the code and that the message contains every needle. */
static void expect(int got, int want, const struct bm_errmsg *em,
                   const char *n1, const char *n2, const char *n3)
{
    const char *needles[] = {n1, n2, n3};

    if (got != want) {
        fprintf(stderr, "got %s (%s), want %s\n", bm_err_name(got),
                em->msg, bm_err_name(want));
    }
    assert_int_equal(got, want);
    for (size_t i = 0; i < 3; i++) {
        if (needles[i] != NULL && strstr(em->msg, needles[i]) == NULL) {
            fail_msg("message '%s' lacks '%s'", em->msg, needles[i]);
        }
    }
}

static char *u64s(char *buf, size_t n, uint64_t v)
{
    snprintf(buf, n, "%" PRIu64, v);
    return buf;
}

/* ---- good chain: every rule passes ---- */

static void test_good_chain(void **state)
{
    struct block b1, b2;
    struct bm_state st;
    struct bm_errmsg em = {{0}};
    struct bm_da_header_envelope env = {0};
    struct bm_signed_data sd = {0};
    bool tol = true;
    (void)state;

    make_block(&b1, 1, T0, 2, NULL);
    make_block(&b2, 2, T0 + SEC, 3, &b1);
    state_after(&st, &b1);

    assert_int_equal(bm_header_validate_basic(&b2.sh.header, NOW, &em),
                     BM_OK);
    assert_int_equal(bm_signed_header_validate_basic(&b2.sh, NOW, &em),
                     BM_OK);
    assert_int_equal(bm_data_validate(&b2.data, NOW, &em), BM_OK);
    assert_int_equal(bm_validate_header_data(&b2.sh.header, &b2.data, &em),
                     BM_OK);
    assert_int_equal(bm_assert_expected_proposer(&st, NULL, &b2.sh.header,
                                                 &em),
                     BM_OK);
    assert_int_equal(bm_assert_valid_sequence(&st, &b2.sh.header, BM_SEQ_NONE,
                                              &tol, &em),
                     BM_OK);
    assert_false(tol);
    assert_int_equal(bm_signed_header_verify(&b1.sh, &b2.sh, NOW, &em),
                     BM_OK);
    assert_int_equal(bm_data_verify(&b1.data, &b2.data, NOW, &em), BM_OK);

    assert_int_equal(bm_signed_header_copy(&env.sh, &b2.sh), BM_OK);
    assert_int_equal(bm_da_header_envelope_sign(&env, &key), BM_OK);
    assert_int_equal(bm_envelope_validate(&env, true, &tol, &em), BM_OK);
    assert_true(tol);

    assert_int_equal(bm_data_copy(&sd.data, &b2.data), BM_OK);
    assert_int_equal(bm_signer_copy(&sd.signer, &b2.sh.signer), BM_OK);
    assert_int_equal(bm_signed_data_sign(&sd, &key), BM_OK);
    assert_int_equal(bm_signed_data_validate(&sd, &b2.sh.header.proposer_address,
                                             &em),
                     BM_OK);
    /* NULL errmsg is allowed. */
    assert_int_equal(bm_signed_data_validate(&sd, NULL, NULL), BM_OK);

    bm_signed_data_release(&sd);
    bm_da_header_envelope_release(&env);
    bm_state_release(&st);
    block_release(&b1);
    block_release(&b2);
}

/* V10 (v1 header with legacy consensus_hash, signed over the legacy bytes)
 * still validates: the legacy-payload fallback. */
static void test_vector_v10_legacy_signature(void **state)
{
    struct bm_buf raw = {0};
    struct bm_signed_header sh = {0};
    struct bm_errmsg em = {{0}};
    struct bm_hash h;
    char hex[65];
    (void)state;

    assert_int_equal(bm_hex_decode(&raw, VEC_V10_SIGNED_HEADER,
                                   strlen(VEC_V10_SIGNED_HEADER)),
                     BM_OK);
    assert_int_equal(raw.len, 339);
    assert_int_equal(bm_signed_header_decode(&sh, raw.ptr, raw.len), BM_OK);
    assert_true(sh.header.legacy.present);
    assert_int_equal(bm_header_hash(&sh.header, &h), BM_OK);
    bm_hex_encode(hex, h.b, 32);
    assert_string_equal(hex, VEC_V8_HASH);
    assert_int_equal(bm_signed_header_validate_basic(&sh, NOW, &em), BM_OK);
    /* Decoded signer: address V2 = SHA-256(V1). */
    bm_hex_encode(hex, sh.signer.address.ptr, 32);
    assert_string_equal(hex, VEC_V2_ADDR);
    /* Flip one signature byte. */
    sh.signature.ptr[5] ^= 1;
    expect(bm_signed_header_validate_basic(&sh, NOW, &em), BM_EBAD_SIGNATURE,
           &em, "signed_header.signature", VEC_V1_PUB, "binary or legacy");
    bm_signed_header_release(&sh);
    bm_buf_release(&raw);
}

/*
 * bm_signed_header_validate_basic_hash: the same verdict as
 * bm_signed_header_validate_basic, and the header's hash (that of
 * bm_header_hash) from the bytes it verified, only for a header without
 * legacy fields whose binary form verified.
 */
static void test_validate_basic_hash(void **state)
{
    struct block b1;
    struct bm_buf raw = {0};
    struct bm_signed_header sh = {0};
    struct bm_errmsg em = {{0}};
    struct bm_hash h, want;
    bool has = false;
    (void)state;

    make_block(&b1, 1, T0, 2, NULL);
    assert_int_equal(bm_header_hash(&b1.sh.header, &want), BM_OK);
    assert_int_equal(bm_signed_header_validate_basic_hash(&b1.sh, NOW, &h,
                                                          &has, &em),
                     BM_OK);
    assert_true(has);
    assert_memory_equal(h.b, want.b, 32);
    assert_true(bm_signed_header_verify_signature_hash(&b1.sh, NULL, NULL));
    /* A bad signature: refused as before, no hash. */
    b1.sh.signature.ptr[7] ^= 1;
    memset(h.b, 0, sizeof(h.b));
    expect(bm_signed_header_validate_basic_hash(&b1.sh, NOW, &h, &has, &em),
           BM_EBAD_SIGNATURE, &em, "signed_header.signature", NULL, NULL);
    assert_false(has);
    assert_false(bm_signed_header_verify_signature_hash(&b1.sh, &h, &has));
    assert_false(has);
    block_release(&b1);

    /* Legacy fields (V10, signed over the legacy bytes): valid, and the
     * hash is left to bm_header_hash. */
    assert_int_equal(bm_hex_decode(&raw, VEC_V10_SIGNED_HEADER,
                                   strlen(VEC_V10_SIGNED_HEADER)),
                     BM_OK);
    assert_int_equal(bm_signed_header_decode(&sh, raw.ptr, raw.len), BM_OK);
    has = true;
    assert_int_equal(bm_signed_header_validate_basic_hash(&sh, NOW, &h, &has,
                                                          &em),
                     BM_OK);
    assert_false(has);
    bm_signed_header_release(&sh);
    bm_buf_release(&raw);
}

/* ---- Header / SignedHeader ValidateBasic ---- */

static void test_header_basic_failures(void **state)
{
    struct block b;
    struct bm_errmsg em = {{0}};
    char n1[32], n2[32];
    (void)state;

    make_block(&b, 5, T0, 1, NULL);

    bm_buf_release(&b.sh.header.proposer_address);
    expect(bm_header_validate_basic(&b.sh.header, NOW, &em), BM_ENO_PROPOSER,
           &em, "header.proposer_address", "(empty)", NULL);
    assert_int_equal(bm_buf_copy(&b.sh.header.proposer_address,
                                 &b.sh.signer.address),
                     BM_OK);

    b.sh.header.time = 0;
    expect(bm_header_validate_basic(&b.sh.header, NOW, &em), BM_ETIME_ZERO,
           &em, "header.time", "got 0", NULL);

    /* now + 60 s is allowed, one ns more is not. */
    b.sh.header.time = NOW + 60 * SEC;
    assert_int_equal(bm_header_validate_basic(&b.sh.header, NOW, &em), BM_OK);
    b.sh.header.time = NOW + 60 * SEC + 1;
    expect(bm_header_validate_basic(&b.sh.header, NOW, &em), BM_ETIME_FUTURE,
           &em, "header.time", u64s(n1, sizeof(n1), NOW + 60 * SEC + 1),
           u64s(n2, sizeof(n2), NOW + 60 * SEC));
    /* Saturating arithmetic near the top of the clock. */
    b.sh.header.time = UINT64_MAX;
    assert_int_equal(bm_header_validate_basic(&b.sh.header, UINT64_MAX - 1,
                                              &em),
                     BM_OK);

    /* The signed header reports the header rule too. */
    b.sh.header.time = 0;
    expect(bm_signed_header_validate_basic(&b.sh, NOW, &em), BM_ETIME_ZERO,
           &em, "header.time", NULL, NULL);
    block_release(&b);
}

static void test_signed_header_failures(void **state)
{
    struct block b;
    struct bm_errmsg em = {{0}};
    char hex[65];
    (void)state;

    make_block(&b, 5, T0, 1, NULL);
    bm_hex_encode(hex, b.sh.signer.address.ptr, 32);

    /* ENO_SIGNATURE */
    bm_buf_release(&b.sh.signature);
    expect(bm_signed_header_validate_basic(&b.sh, NOW, &em), BM_ENO_SIGNATURE,
           &em, "signed_header.signature", "(empty)", NULL);
    resign(&b);

    /* EPROPOSER_MISMATCH: names both addresses. */
    buf_fill(&b.sh.header.proposer_address, 0x44, 32);
    resign(&b);
    expect(bm_signed_header_validate_basic(&b.sh, NOW, &em),
           BM_EPROPOSER_MISMATCH, &em, "signer.address", hex,
           "4444444444444444");
    assert_int_equal(bm_buf_copy(&b.sh.header.proposer_address,
                                 &b.sh.signer.address),
                     BM_OK);
    resign(&b);

    /* ENO_PUBKEY */
    b.sh.signer.has_pub_key = false;
    expect(bm_signed_header_validate_basic(&b.sh, NOW, &em), BM_ENO_PUBKEY,
           &em, "signer.pub_key", NULL, NULL);
    b.sh.signer.has_pub_key = true;

    /* EADDRESS_MISMATCH: proposer == signer.address, but not SHA-256(key). */
    buf_fill(&b.sh.signer.address, 0x55, 32);
    buf_fill(&b.sh.header.proposer_address, 0x55, 32);
    resign(&b);
    expect(bm_signed_header_validate_basic(&b.sh, NOW, &em),
           BM_EADDRESS_MISMATCH, &em, "signer.address: got 5555", hex,
           "SHA-256");
    assert_int_equal(bm_signer_from_privkey(&b.sh.signer, &key), BM_OK);
    assert_int_equal(bm_buf_copy(&b.sh.header.proposer_address,
                                 &b.sh.signer.address),
                     BM_OK);
    resign(&b);
    assert_int_equal(bm_signed_header_validate_basic(&b.sh, NOW, &em), BM_OK);

    /* EBAD_SIGNATURE: a mutated header no longer matches the signature. */
    b.sh.header.height++;
    expect(bm_signed_header_validate_basic(&b.sh, NOW, &em), BM_EBAD_SIGNATURE,
           &em, "signed_header.signature", NULL, NULL);
    b.sh.header.height--;
    /* ... and a short signature. */
    assert_int_equal(bm_buf_set(&b.sh.signature, (const uint8_t *)"xy", 2),
                     BM_OK);
    expect(bm_signed_header_validate_basic(&b.sh, NOW, &em), BM_EBAD_SIGNATURE,
           &em, "7879", NULL, NULL);
    block_release(&b);
}

/* ---- Data.Validate ---- */

static void test_data_failures(void **state)
{
    struct block b;
    struct bm_errmsg em = {{0}};
    char n1[32];
    (void)state;

    make_block(&b, 5, T0, 1, NULL);

    b.data.has_metadata = false;
    expect(bm_data_validate(&b.data, NOW, &em), BM_ENO_METADATA, &em,
           "data.metadata", "absent", NULL);
    b.data.has_metadata = true;

    assert_int_equal(bm_str_set(&b.data.metadata.chain_id, ""), BM_OK);
    expect(bm_data_validate(&b.data, NOW, &em), BM_ECHAIN_ID_EMPTY, &em,
           "data.metadata.chain_id", NULL, NULL);
    assert_int_equal(bm_str_set(&b.data.metadata.chain_id, NULL), BM_OK);
    expect(bm_data_validate(&b.data, NOW, &em), BM_ECHAIN_ID_EMPTY, &em,
           "data.metadata.chain_id", NULL, NULL);
    assert_int_equal(bm_str_set(&b.data.metadata.chain_id, "test-chain"),
                     BM_OK);

    b.data.metadata.height = 0;
    expect(bm_data_validate(&b.data, NOW, &em), BM_EHEIGHT_ZERO, &em,
           "data.metadata.height", "got 0", NULL);
    b.data.metadata.height = 5;

    b.data.metadata.time = 0;
    expect(bm_data_validate(&b.data, NOW, &em), BM_ETIME_ZERO, &em,
           "data.metadata.time", "got 0", NULL);
    b.data.metadata.time = NOW + 61 * SEC;
    expect(bm_data_validate(&b.data, NOW, &em), BM_ETIME_FUTURE, &em,
           "data.metadata.time", u64s(n1, sizeof(n1), NOW + 61 * SEC),
           "now + 1m");
    block_release(&b);
}

/* ---- SignedData (DA data blob) ---- */

static void test_signed_data_failures(void **state)
{
    struct block b;
    struct bm_signed_data sd = {0};
    struct bm_errmsg em = {{0}};
    struct bm_buf other = {0};
    (void)state;

    make_block(&b, 5, T0, 2, NULL);
    assert_int_equal(bm_data_copy(&sd.data, &b.data), BM_OK);
    assert_int_equal(bm_signer_copy(&sd.signer, &b.sh.signer), BM_OK);

    expect(bm_signed_data_validate(&sd, NULL, &em), BM_ENO_SIGNATURE, &em,
           "signed_data.signature", "(empty)", NULL);
    assert_int_equal(bm_signed_data_sign(&sd, &key), BM_OK);
    assert_int_equal(bm_signed_data_validate(&sd, NULL, &em), BM_OK);

    buf_fill(&other, 0x66, 32);
    expect(bm_signed_data_validate(&sd, &other, &em), BM_ENOT_PROPOSER, &em,
           "signed_data.signer.address", VEC_V2_ADDR, "6666");

    sd.signer.has_pub_key = false;
    expect(bm_signed_data_validate(&sd, NULL, &em), BM_ENO_PUBKEY, &em,
           "signed_data.signer.pub_key", NULL, NULL);
    sd.signer.has_pub_key = true;

    buf_fill(&sd.signer.address, 0x66, 32);
    expect(bm_signed_data_validate(&sd, &other, &em), BM_EADDRESS_MISMATCH,
           &em, "signed_data.signer.address", VEC_V2_ADDR, NULL);
    assert_int_equal(bm_buf_copy(&sd.signer.address, &b.sh.signer.address),
                     BM_OK);

    sd.data.metadata.height = 6;
    expect(bm_signed_data_validate(&sd, NULL, &em), BM_EBAD_SIGNATURE, &em,
           "signed_data.signature", VEC_V1_PUB, NULL);

    bm_buf_release(&other);
    bm_signed_data_release(&sd);
    block_release(&b);
}

/* ---- go-header Verify for headers and data ---- */

static void test_verify_failures(void **state)
{
    struct block b1, b2, b3;
    struct bm_errmsg em = {{0}};
    char hex[65];
    struct bm_hash h;
    (void)state;

    make_block(&b1, 1, T0, 1, NULL);
    make_block(&b2, 2, T0 + SEC, 1, &b1);
    make_block(&b3, 3, T0 + 2 * SEC, 1, &b2);

    /* Non-adjacent: only pre-checks; the (b1 -> b3) link is not checked. */
    assert_int_equal(bm_signed_header_verify(&b1.sh, &b3.sh, NOW, &em),
                     BM_OK);
    assert_int_equal(bm_data_verify(&b1.data, &b3.data, NOW, &em), BM_OK);

    /* Adjacent with a broken link. */
    assert_int_equal(bm_header_hash(&b1.sh.header, &h), BM_OK);
    bm_hex_encode(hex, h.b, 32);
    buf_fill(&b2.sh.header.last_header_hash, 0x77, 32);
    expect(bm_signed_header_verify(&b1.sh, &b2.sh, NOW, &em),
           BM_ELAST_HEADER_HASH, &em, "last_header_hash: got 7777", hex,
           NULL);
    assert_int_equal(bm_data_hash(&b1.data, &h), BM_OK);
    bm_hex_encode(hex, h.b, 32);
    buf_fill(&b2.data.metadata.last_data_hash, 0x78, 32);
    expect(bm_data_verify(&b1.data, &b2.data, NOW, &em), BM_ELAST_DATA_HASH,
           &em, "last_data_hash: got 7878", hex, NULL);

    /* Height order. */
    expect(bm_signed_header_verify(&b2.sh, &b1.sh, NOW, &em),
           BM_EHEIGHT_ORDER, &em, "height: got 1", "want > 2", NULL);
    expect(bm_signed_header_verify(&b2.sh, &b2.sh, NOW, &em),
           BM_EHEIGHT_ORDER, &em, "height: got 2", NULL, NULL);
    expect(bm_data_verify(&b2.data, &b1.data, NOW, &em), BM_EHEIGHT_ORDER,
           &em, "data.metadata.height", NULL, NULL);

    /* Time goes backwards (equal is fine). */
    b3.sh.header.time = b1.sh.header.time - 1;
    expect(bm_signed_header_verify(&b1.sh, &b3.sh, NOW, &em),
           BM_ETIME_NOT_MONOTONIC, &em, "header.time", NULL, NULL);
    b3.sh.header.time = b1.sh.header.time;
    assert_int_equal(bm_signed_header_verify(&b1.sh, &b3.sh, NOW, &em),
                     BM_OK);

    /* now + 10 s. */
    b3.sh.header.time = NOW + 10 * SEC;
    assert_int_equal(bm_signed_header_verify(&b1.sh, &b3.sh, NOW, &em),
                     BM_OK);
    b3.sh.header.time = NOW + 10 * SEC + 1;
    expect(bm_signed_header_verify(&b1.sh, &b3.sh, NOW, &em), BM_ETIME_FUTURE,
           &em, "untrusted header.time", "now + 10s", NULL);

    /* Chain id. */
    assert_int_equal(bm_str_set(&b3.sh.header.chain_id, "other"), BM_OK);
    expect(bm_signed_header_verify(&b1.sh, &b3.sh, NOW, &em),
           BM_ECHAIN_ID_MISMATCH, &em, "\"other\"", "\"test-chain\"", NULL);
    assert_int_equal(bm_str_set(&b3.data.metadata.chain_id, "other"), BM_OK);
    expect(bm_data_verify(&b1.data, &b3.data, NOW, &em),
           BM_ECHAIN_ID_MISMATCH, &em, "data.metadata.chain_id", NULL, NULL);

    /* Data without metadata. */
    b3.data.has_metadata = false;
    expect(bm_data_verify(&b1.data, &b3.data, NOW, &em), BM_ENO_METADATA,
           &em, "untrusted data.metadata", NULL, NULL);
    expect(bm_data_verify(&b3.data, &b1.data, NOW, &em), BM_ENO_METADATA,
           &em, "trusted data.metadata", NULL, NULL);

    block_release(&b1);
    block_release(&b2);
    block_release(&b3);
}

/* ---- types.Validate(header, data) and the empty-block rules ---- */

static void test_header_data_matching(void **state)
{
    struct block b, e;
    struct bm_errmsg em = {{0}};
    char hex[65];
    (void)state;

    make_block(&b, 5, T0, 2, NULL);

    assert_int_equal(bm_str_set(&b.data.metadata.chain_id, "x"), BM_OK);
    expect(bm_validate_header_data(&b.sh.header, &b.data, &em),
           BM_EDATA_CHAIN_ID, &em, "data.metadata.chain_id: got \"x\"",
           "\"test-chain\"", NULL);
    assert_int_equal(bm_str_set(&b.data.metadata.chain_id, "test-chain"),
                     BM_OK);

    b.data.metadata.height = 7;
    expect(bm_validate_header_data(&b.sh.header, &b.data, &em),
           BM_EDATA_HEIGHT, &em, "data.metadata.height: got 7", "want 5",
           NULL);
    b.data.metadata.height = 5;

    b.data.metadata.time = T0 + 1;
    expect(bm_validate_header_data(&b.sh.header, &b.data, &em), BM_EDATA_TIME,
           &em, "data.metadata.time", NULL, NULL);
    b.data.metadata.time = T0;

    /* Without metadata only the commitment is compared. */
    b.data.has_metadata = false;
    assert_int_equal(bm_validate_header_data(&b.sh.header, &b.data, &em),
                     BM_OK);
    b.data.has_metadata = true;

    /* One more tx: commitment differs. */
    bm_hex_encode(hex, b.sh.header.data_hash.ptr, 32);
    assert_int_equal(bm_data_add_tx(&b.data, (const uint8_t *)"zz", 2), BM_OK);
    expect(bm_validate_header_data(&b.sh.header, &b.data, &em),
           BM_EDATA_HASH_MISMATCH, &em, "header.data_hash: got", hex,
           "3 data txs");

    /* Empty block: the constant and an empty data_hash both expect 0 txs. */
    make_block(&e, 6, T0, 0, NULL);
    bm_hex_encode(hex, e.sh.header.data_hash.ptr, 32);
    assert_string_equal(hex, VEC_V6_EMPTY);
    assert_int_equal(bm_validate_header_data(&e.sh.header, &e.data, &em),
                     BM_OK);
    bm_buf_release(&e.sh.header.data_hash);
    assert_int_equal(bm_validate_header_data(&e.sh.header, &e.data, &em),
                     BM_OK);
    assert_int_equal(bm_data_add_tx(&e.data, (const uint8_t *)"t", 1), BM_OK);
    expect(bm_validate_header_data(&e.sh.header, &e.data, &em),
           BM_EEMPTY_BLOCK, &em, "data.txs: got 1", "(empty)", NULL);
    assert_int_equal(bm_hex_decode(&e.sh.header.data_hash, VEC_V6_EMPTY, 64),
                     BM_OK);
    expect(bm_validate_header_data(&e.sh.header, &e.data, &em),
           BM_EEMPTY_BLOCK, &em, "data.txs", VEC_V6_EMPTY, NULL);

    block_release(&e);
    block_release(&b);
}

/* ---- AssertExpectedProposer ---- */

static void test_expected_proposer(void **state)
{
    struct block b;
    struct bm_state st;
    struct bm_buf genesis = {0};
    struct bm_errmsg em = {{0}};
    (void)state;

    make_block(&b, 2, T0, 1, NULL);
    state_after(&st, &b);

    /* Nothing configured: nothing checked. */
    assert_int_equal(bm_assert_expected_proposer(&st, NULL, &b.sh.header,
                                                 &em),
                     BM_OK);
    /* Genesis proposer used when the state has none. */
    buf_fill(&genesis, 0x99, 32);
    expect(bm_assert_expected_proposer(&st, &genesis, &b.sh.header, &em),
           BM_ENOT_PROPOSER, &em, "header.proposer_address", VEC_V2_ADDR,
           "genesis proposer");
    /* State's next proposer wins over genesis. */
    assert_int_equal(bm_buf_copy(&st.next_proposer_address,
                                 &b.sh.header.proposer_address),
                     BM_OK);
    assert_int_equal(bm_assert_expected_proposer(&st, &genesis, &b.sh.header,
                                                 &em),
                     BM_OK);
    buf_fill(&st.next_proposer_address, 0x98, 32);
    expect(bm_assert_expected_proposer(&st, NULL, &b.sh.header, &em),
           BM_ENOT_PROPOSER, &em, "9898", "state.next_proposer_address",
           NULL);

    bm_buf_release(&genesis);
    bm_state_release(&st);
    block_release(&b);
}

/* ---- AssertValidSequence ---- */

static void test_valid_sequence(void **state)
{
    struct block b1, b2;
    struct bm_state st, fresh = {0};
    struct bm_errmsg em = {{0}};
    bool tol = false;
    char hex[65];
    (void)state;

    make_block(&b1, 6, T0, 1, NULL);
    make_block(&b2, 7, T0 + SEC, 1, &b1);
    state_after(&st, &b1);

    /* The example: height 7 after a state at height 5. */
    st.last_block_height = 5;
    expect(bm_assert_valid_sequence(&st, &b2.sh.header, BM_SEQ_NONE, NULL,
                                    &em),
           BM_EHEIGHT_MISMATCH, &em,
           "header.height: got 7, want 6 (state.last_block_height + 1)", NULL,
           NULL);
    st.last_block_height = 6;

    /* Fresh state: only the chain id. */
    assert_int_equal(bm_str_set(&fresh.chain_id, "test-chain"), BM_OK);
    fresh.last_block_height = 100;
    assert_int_equal(bm_assert_valid_sequence(&fresh, &b2.sh.header,
                                              BM_SEQ_NONE, NULL, &em),
                     BM_OK);
    assert_int_equal(bm_str_set(&fresh.chain_id, "other"), BM_OK);
    expect(bm_assert_valid_sequence(&fresh, &b2.sh.header, BM_SEQ_NONE, NULL,
                                    &em),
           BM_ECHAIN_ID_MISMATCH, &em, "header.chain_id: got \"test-chain\"",
           "want \"other\"", NULL);

    /* Time: equal accepted, earlier refused. */
    b2.sh.header.time = T0;
    assert_int_equal(bm_assert_valid_sequence(&st, &b2.sh.header, BM_SEQ_NONE,
                                              NULL, &em),
                     BM_OK);
    b2.sh.header.time = T0 - 1;
    expect(bm_assert_valid_sequence(&st, &b2.sh.header, BM_SEQ_NONE, NULL,
                                    &em),
           BM_ETIME_NOT_MONOTONIC, &em, "header.time: got 1699999999999999999",
           "1700000000.000000000", NULL);
    b2.sh.header.time = T0 + SEC;
    /* Non-normalised timestamp: 1699999999 s + 1.5e9 ns > T0 + 0.4 s. */
    st.last_block_time.seconds = 1699999999;
    st.last_block_time.nanos = 1500000000;
    b2.sh.header.time = T0 + 400000000;
    expect(bm_assert_valid_sequence(&st, &b2.sh.header, BM_SEQ_NONE, NULL,
                                    &em),
           BM_ETIME_NOT_MONOTONIC, &em, "header.time", NULL, NULL);
    st.last_block_time.seconds = (int64_t)(T0 / SEC);
    st.last_block_time.nanos = 0;
    b2.sh.header.time = T0 + SEC;

    /* Hash link, then its once-per-process tolerance. */
    bm_hex_encode(hex, st.last_header_hash.ptr, 32);
    buf_fill(&b2.sh.header.last_header_hash, 0x12, 32);
    expect(bm_assert_valid_sequence(&st, &b2.sh.header, BM_SEQ_NONE, &tol,
                                    &em),
           BM_ELAST_HEADER_HASH, &em, "header.last_header_hash: got 1212", hex,
           "state.last_header_hash");
    assert_false(tol);
    assert_int_equal(bm_assert_valid_sequence(&st, &b2.sh.header,
                                              BM_SEQ_TOLERATE_LAST_HASH_ONCE,
                                              &tol, &em),
                     BM_OK);
    assert_true(tol);

    /* App hash. */
    buf_fill(&b2.sh.header.app_hash, 0x23, 32);
    expect(bm_assert_valid_sequence(&st, &b2.sh.header,
                                    BM_SEQ_TOLERATE_LAST_HASH_ONCE, &tol, &em),
           BM_EAPP_HASH_MISMATCH, &em, "header.app_hash: got 2323",
           "want 2222", "state.app_hash");
    assert_false(tol);

    bm_state_release(&fresh);
    bm_state_release(&st);
    block_release(&b1);
    block_release(&b2);
}

/* ---- DA envelope signature ---- */

static void test_envelope(void **state)
{
    struct block b;
    struct bm_da_header_envelope env = {0};
    struct bm_errmsg em = {{0}};
    bool is_env = true;
    (void)state;

    make_block(&b, 3, T0, 1, NULL);
    assert_int_equal(bm_signed_header_copy(&env.sh, &b.sh), BM_OK);

    /* Legacy blob without envelope signature. */
    assert_int_equal(bm_envelope_validate(&env, false, &is_env, &em), BM_OK);
    assert_false(is_env);
    expect(bm_envelope_validate(&env, true, &is_env, &em), BM_ENO_SIGNATURE,
           &em, "envelope.envelope_signature", "strict", NULL);

    assert_int_equal(bm_da_header_envelope_sign(&env, &key), BM_OK);
    assert_int_equal(bm_envelope_validate(&env, false, &is_env, &em), BM_OK);
    assert_true(is_env);

    /* The envelope signature covers the header signature too. */
    env.sh.signature.ptr[0] ^= 0x80;
    expect(bm_envelope_validate(&env, false, &is_env, &em),
           BM_EENVELOPE_SIGNATURE, &em, "envelope.envelope_signature",
           VEC_V1_PUB, NULL);
    assert_false(is_env);
    env.sh.signature.ptr[0] ^= 0x80;

    env.sh.signer.has_pub_key = false;
    expect(bm_envelope_validate(&env, false, NULL, &em), BM_ENO_PUBKEY, &em,
           "envelope.signer.pub_key", NULL, NULL);

    bm_da_header_envelope_release(&env);
    block_release(&b);
}

/* Long hash fields are cut in messages. */
static void test_message_truncation(void **state)
{
    struct block b;
    struct bm_state st;
    struct bm_errmsg em = {{0}};
    uint8_t big[1024];
    (void)state;

    make_block(&b, 2, T0, 1, NULL);
    state_after(&st, &b);
    st.last_block_height = 1;
    memset(big, 0xab, sizeof(big));
    assert_int_equal(bm_buf_set(&b.sh.header.last_header_hash, big,
                                sizeof(big)),
                     BM_OK);
    expect(bm_assert_valid_sequence(&st, &b.sh.header, BM_SEQ_NONE, NULL,
                                    &em),
           BM_ELAST_HEADER_HASH, &em, "...(1024 bytes)", NULL, NULL);
    assert_true(strlen(em.msg) < sizeof(em.msg) - 1);
    bm_state_release(&st);
    block_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_chain),
        cmocka_unit_test(test_vector_v10_legacy_signature),
        cmocka_unit_test(test_validate_basic_hash),
        cmocka_unit_test(test_header_basic_failures),
        cmocka_unit_test(test_signed_header_failures),
        cmocka_unit_test(test_data_failures),
        cmocka_unit_test(test_signed_data_failures),
        cmocka_unit_test(test_verify_failures),
        cmocka_unit_test(test_header_data_matching),
        cmocka_unit_test(test_expected_proposer),
        cmocka_unit_test(test_valid_sequence),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_message_truncation),
    };

    if (load_key() != 0) {
        fprintf(stderr, "cannot load the RFC 8032 test key\n");
        return 1;
    }
    return BM_TEST_RUN(tests);
}
