/* Round trips, decoder errors, caps and allocation failures. */
#include "bm_test.h"

#include <string.h>

#include "blockv2/types.h"
#include "types_test_util.h"
#include "util/alloc.h"
#include "util/hex.h"

static void make_signed_header(struct bm_signed_header *sh, bool legacy)
{
    struct bm_privkey k;

    memset(sh, 0, sizeof(*sh));
    tu_header(&sh->header, legacy);
    tu_key(&k);
    assert_int_equal(bm_signer_from_privkey(&sh->signer, &k), BM_OK);
    assert_int_equal(bm_signed_header_sign(sh, &k), BM_OK);
}

/* ---- round trips ---- */

static void test_roundtrip_header(void **state)
{
    (void)state;
    for (int legacy = 0; legacy < 2; legacy++) {
        struct bm_header h;
        struct bm_header back = {0};
        struct bm_header cp = {0};
        struct bm_buf a = {0};
        struct bm_buf b = {0};
        struct bm_hash h1;
        struct bm_hash h2;

        tu_header(&h, legacy);
        h.version.block = 11;
        h.version.app = 1;
        tu_fill(&h.validator_hash, 0x44, 20);
        if (legacy) {
            tu_fill(&h.legacy.last_commit_hash, 0x55, 3);
        }
        assert_int_equal(bm_header_encode(&h, &a), BM_OK);
        assert_int_equal(bm_header_decode(&back, a.ptr, a.len), BM_OK);
        assert_int_equal(back.legacy.present, legacy);
        assert_int_equal(bm_header_encode(&back, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));
        assert_int_equal(bm_header_hash(&h, &h1), BM_OK);
        assert_int_equal(bm_header_hash(&back, &h2), BM_OK);
        assert_memory_equal(h1.b, h2.b, 32);
        assert_int_equal(bm_header_copy(&cp, &back), BM_OK);
        assert_int_equal(bm_header_encode(&cp, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));
        assert_int_equal(bm_header_copy(&cp, &cp), BM_OK);
        bm_header_release(&cp);
        bm_header_release(&back);
        bm_header_release(&h);
        bm_buf_release(&a);
        bm_buf_release(&b);
    }
}

static void test_roundtrip_empty_header(void **state)
{
    (void)state;
    struct bm_header h = {0};
    struct bm_buf b = {0};
    struct bm_hash hh;

    assert_int_equal(bm_header_encode(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, "0a00");
    assert_int_equal(bm_header_decode(&h, b.ptr, b.len), BM_OK);
    assert_null(h.chain_id);
    /* legacy encoding always writes height/time and a zero consensus hash */
    assert_int_equal(bm_header_encode_legacy(&h, &b), BM_OK);
    char *want = tu_cat("0a00100018003a20", TU_H00, NULL, NULL, NULL, NULL,
                        NULL, NULL);
    tu_assert_buf_hex(&b, want);
    bm_free(want);
    assert_int_equal(bm_header_hash(&h, &hh), BM_OK);
    assert_int_equal(bm_header_decode(&h, NULL, 0), BM_OK);
    bm_header_release(&h);
    bm_buf_release(&b);
}

static void test_roundtrip_signed_header(void **state)
{
    (void)state;
    for (int legacy = 0; legacy < 2; legacy++) {
        struct bm_signed_header sh;
        struct bm_signed_header back = {0};
        struct bm_signed_header cp = {0};
        struct bm_buf a = {0};
        struct bm_buf b = {0};

        make_signed_header(&sh, legacy);
        assert_int_equal(bm_signed_header_encode(&sh, &a), BM_OK);
        assert_int_equal(bm_signed_header_decode(&back, a.ptr, a.len), BM_OK);
        assert_int_equal(bm_signed_header_encode(&back, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));
        assert_true(bm_signed_header_verify_signature(&back));
        assert_int_equal(bm_signed_header_copy(&cp, &back), BM_OK);
        assert_int_equal(bm_signed_header_encode(&cp, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));
        bm_signed_header_release(&cp);
        bm_signed_header_release(&back);
        bm_signed_header_release(&sh);
        bm_buf_release(&a);
        bm_buf_release(&b);
    }
}

static void test_signer_rules(void **state)
{
    (void)state;
    struct bm_signed_header sh;
    struct bm_signed_header back = {0};
    struct bm_buf a = {0};
    struct bm_buf in = {0};

    /* no public key: empty Signer `1a 00`, address dropped */
    make_signed_header(&sh, false);
    sh.signer.has_pub_key = false;
    assert_int_equal(bm_signed_header_encode(&sh, &a), BM_OK);
    assert_int_equal(a.ptr[a.len - 2], 0x1a);
    assert_int_equal(a.ptr[a.len - 1], 0x00);
    assert_false(bm_signed_header_verify_signature(&sh));
    assert_int_equal(bm_signer_encode(&sh.signer, &a), BM_OK);
    assert_int_equal(a.len, 0);
    /* a Signer with an address but no key decodes as empty */
    tu_hex(&in, "0a020a00" "1a220a20" TU_V2);
    assert_int_equal(bm_signed_header_decode(&back, in.ptr, in.len), BM_OK);
    assert_false(back.signer.has_pub_key);
    assert_int_equal(back.signer.address.len, 0);
    /* a malformed key is refused */
    tu_hex(&in, "0a020a00" "1a0612040801" "1200");
    assert_int_equal(bm_signed_header_decode(&back, in.ptr, in.len),
                     BM_EBADKEY);
    assert_null(back.header.chain_id);
    assert_int_equal(back.signature.len, 0);
    /* header is required */
    tu_hex(&in, "1200");
    assert_int_equal(bm_signed_header_decode(&back, in.ptr, in.len),
                     BM_EMISSING);
    assert_int_equal(bm_signed_header_decode(&back, NULL, 0), BM_EMISSING);
    bm_signed_header_release(&back);
    bm_signed_header_release(&sh);
    bm_buf_release(&a);
    bm_buf_release(&in);
}

static void test_envelope(void **state)
{
    (void)state;
    struct bm_da_header_envelope e = {0};
    struct bm_da_header_envelope back = {0};
    struct bm_signed_header plain = {0};
    struct bm_privkey k;
    struct bm_buf sh_bytes = {0};
    struct bm_buf a = {0};
    struct bm_buf b = {0};

    make_signed_header(&e.sh, false);
    tu_key(&k);
    assert_int_equal(bm_da_header_envelope_sign(&e, &k), BM_OK);
    assert_int_equal(e.envelope_signature.len, 64);
    assert_true(bm_da_header_envelope_verify_signature(&e));
    assert_int_equal(bm_signed_header_encode(&e.sh, &sh_bytes), BM_OK);
    assert_int_equal(bm_envelope_signature_payload(&e.sh, &a), BM_OK);
    assert_true(bm_buf_eq(&a, &sh_bytes));
    assert_true(bm_verify(e.sh.signer.pub_key, a.ptr, a.len,
                          e.envelope_signature.ptr, 64));
    assert_int_equal(bm_da_header_envelope_encode(&e, &a), BM_OK);
    /* superset of SignedHeader: SignedHeader bytes || 22 40 sig */
    assert_int_equal(a.len, sh_bytes.len + 66);
    assert_memory_equal(a.ptr, sh_bytes.ptr, sh_bytes.len);
    assert_int_equal(a.ptr[sh_bytes.len], 0x22);
    assert_int_equal(bm_da_header_envelope_decode(&back, a.ptr, a.len), BM_OK);
    assert_true(bm_da_header_envelope_verify_signature(&back));
    assert_int_equal(bm_da_header_envelope_encode(&back, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    /* a SignedHeader decoder skips field 4 */
    assert_int_equal(bm_signed_header_decode(&plain, a.ptr, a.len), BM_OK);
    assert_int_equal(bm_signed_header_encode(&plain, &b), BM_OK);
    assert_true(bm_buf_eq(&b, &sh_bytes));
    /* an envelope signature over other bytes fails */
    back.sh.header.height++;
    assert_false(bm_da_header_envelope_verify_signature(&back));
    back.envelope_signature.ptr[0] ^= 1;
    back.sh.header.height--;
    assert_false(bm_da_header_envelope_verify_signature(&back));
    bm_signed_header_release(&plain);
    bm_da_header_envelope_release(&back);
    bm_da_header_envelope_release(&e);
    bm_buf_release(&sh_bytes);
    bm_buf_release(&a);
    bm_buf_release(&b);
}

static void test_p2p_signed_header(void **state)
{
    (void)state;
    struct bm_p2p_signed_header p = {0};
    struct bm_p2p_signed_header back = {0};
    struct bm_buf sh_bytes = {0};
    struct bm_buf a = {0};
    struct bm_buf b = {0};
    const uint64_t hints[] = {0, 1, 12345, UINT64_MAX};

    make_signed_header(&p.sh, true);
    assert_int_equal(bm_signed_header_encode(&p.sh, &sh_bytes), BM_OK);
    /* absent hint: identical to SignedHeader */
    assert_int_equal(bm_p2p_signed_header_encode(&p, &a), BM_OK);
    assert_true(bm_buf_eq(&a, &sh_bytes));
    assert_int_equal(bm_p2p_signed_header_decode(&back, a.ptr, a.len), BM_OK);
    assert_false(back.has_da_height_hint);
    assert_true(back.sh.header.legacy.present);
    assert_true(bm_signed_header_verify_signature(&back.sh));
    for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
        p.has_da_height_hint = true;
        p.da_height_hint = hints[i];
        assert_int_equal(bm_p2p_signed_header_encode(&p, &a), BM_OK);
        assert_memory_equal(a.ptr, sh_bytes.ptr, sh_bytes.len);
        assert_int_equal(a.ptr[sh_bytes.len], 0x20);
        if (hints[i] == 0) { /* hint 0 is still emitted */
            assert_int_equal(a.len, sh_bytes.len + 2);
            assert_int_equal(a.ptr[sh_bytes.len + 1], 0x00);
        }
        assert_int_equal(bm_p2p_signed_header_decode(&back, a.ptr, a.len),
                         BM_OK);
        assert_true(back.has_da_height_hint);
        assert_true(back.da_height_hint == hints[i]);
        assert_int_equal(bm_p2p_signed_header_encode(&back, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));
    }
    /* a SignedHeader decoder skips the hint (field 4, varint) */
    struct bm_signed_header plain = {0};
    assert_int_equal(bm_signed_header_decode(&plain, a.ptr, a.len), BM_OK);
    assert_int_equal(bm_signed_header_encode(&plain, &b), BM_OK);
    assert_true(bm_buf_eq(&b, &sh_bytes));
    bm_signed_header_release(&plain);
    /* field 4 of an envelope is bytes, of a P2PSignedHeader a varint */
    struct bm_da_header_envelope e = {0};
    assert_int_equal(bm_da_header_envelope_decode(&e, a.ptr, a.len),
                     BM_EWIRETYPE);
    /* empty signature stays omitted in the proto2 message */
    bm_buf_release(&p.sh.signature);
    p.has_da_height_hint = false;
    assert_int_equal(bm_p2p_signed_header_encode(&p, &a), BM_OK);
    assert_int_equal(bm_signed_header_encode(&p.sh, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    bm_p2p_signed_header_release(&back);
    bm_p2p_signed_header_release(&p);
    bm_buf_release(&sh_bytes);
    bm_buf_release(&a);
    bm_buf_release(&b);
}

static void test_roundtrip_data(void **state)
{
    (void)state;
    struct bm_data d;
    struct bm_data back = {0};
    struct bm_data cp = {0};
    struct bm_buf a = {0};
    struct bm_buf b = {0};

    tu_data(&d);
    /* an empty tx is still emitted as tag + 00 */
    assert_int_equal(bm_data_add_tx(&d, NULL, 0), BM_OK);
    assert_int_equal(bm_data_encode(&d, &a), BM_OK);
    tu_assert_buf_hex(&a, TU_V14 "1200");
    assert_int_equal(bm_data_decode(&back, a.ptr, a.len), BM_OK);
    assert_int_equal(back.n_txs, 3);
    assert_int_equal(back.txs[2].len, 0);
    assert_int_equal(bm_data_encode(&back, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    assert_int_equal(bm_data_copy(&cp, &back), BM_OK);
    assert_int_equal(bm_data_encode(&cp, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    /* present but empty metadata is emitted as 0a 00 */
    bm_data_release(&cp);
    cp.has_metadata = true;
    assert_int_equal(bm_data_encode(&cp, &b), BM_OK);
    tu_assert_buf_hex(&b, "0a00");
    assert_int_equal(bm_data_decode(&cp, b.ptr, b.len), BM_OK);
    assert_true(cp.has_metadata);
    assert_int_equal(bm_metadata_encode(&d.metadata, &b), BM_OK);
    assert_int_equal(b.len, 0x3a);
    bm_data_release(&cp);
    bm_data_release(&back);
    bm_data_release(&d);
    bm_buf_release(&a);
    bm_buf_release(&b);
}

static void test_p2p_data(void **state)
{
    (void)state;
    struct bm_p2p_data p = {0};
    struct bm_p2p_data back = {0};
    struct bm_buf a = {0};
    struct bm_buf b = {0};

    tu_data(&p.data);
    assert_int_equal(bm_p2p_data_encode(&p, &a), BM_OK);
    tu_assert_buf_hex(&a, TU_V14);
    assert_int_equal(bm_p2p_data_decode(&back, a.ptr, a.len), BM_OK);
    assert_false(back.has_da_height_hint);
    p.has_da_height_hint = true;
    assert_int_equal(bm_p2p_data_encode(&p, &a), BM_OK);
    tu_assert_buf_hex(&a, TU_V14 "1800");
    assert_int_equal(bm_p2p_data_decode(&back, a.ptr, a.len), BM_OK);
    assert_true(back.has_da_height_hint);
    assert_true(back.da_height_hint == 0);
    p.da_height_hint = 300;
    assert_int_equal(bm_p2p_data_encode(&p, &a), BM_OK);
    tu_assert_buf_hex(&a, TU_V14 "18ac02");
    assert_int_equal(bm_p2p_data_decode(&back, a.ptr, a.len), BM_OK);
    assert_int_equal(bm_p2p_data_encode(&back, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    /* a Data decoder skips field 3 */
    struct bm_data d = {0};
    assert_int_equal(bm_data_decode(&d, a.ptr, a.len), BM_OK);
    assert_int_equal(bm_data_encode(&d, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V14);
    bm_data_release(&d);
    bm_p2p_data_release(&back);
    bm_p2p_data_release(&p);
    bm_buf_release(&a);
    bm_buf_release(&b);
}

static void test_roundtrip_state(void **state)
{
    (void)state;
    struct bm_state s = {0};
    struct bm_state back = {0};
    struct bm_state cp = {0};
    struct bm_buf a = {0};
    struct bm_buf b = {0};

    assert_int_equal(bm_state_encode(&s, &a), BM_OK);
    tu_assert_buf_hex(&a, "0a002a00");
    s.version.block = 1;
    assert_int_equal(bm_str_set(&s.chain_id, "c"), BM_OK);
    s.initial_height = 1;
    s.last_block_height = 5;
    s.last_block_time.seconds = 1700000000;
    s.last_block_time.nanos = 5;
    s.da_height = 7;
    tu_fill(&s.app_hash, 0xaa, 2);
    tu_fill(&s.last_header_hash, 0xbb, 1);
    tu_fill(&s.next_proposer_address, 0xcc, 1);
    assert_int_equal(bm_state_encode(&s, &a), BM_OK);
    tu_assert_buf_hex(&a, "0a020801120163180120052a080880e2cfaa061005"
                          "30074202aaaa4a01bb5201cc");
    assert_int_equal(bm_state_decode(&back, a.ptr, a.len), BM_OK);
    assert_int_equal(back.last_block_time.nanos, 5);
    assert_int_equal(bm_state_encode(&back, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    assert_int_equal(bm_state_copy(&cp, &back), BM_OK);
    assert_int_equal(bm_state_encode(&cp, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    /* field 7 (v1 last_results_hash) is skipped */
    tu_hex(&b, "3a0101");
    assert_int_equal(bm_state_decode(&back, b.ptr, b.len), BM_OK);
    assert_int_equal(back.app_hash.len, 0);
    bm_state_release(&cp);
    bm_state_release(&back);
    bm_state_release(&s);
    bm_buf_release(&a);
    bm_buf_release(&b);
}

static void test_roundtrip_batch(void **state)
{
    (void)state;
    struct bm_buf txs[3] = {{(uint8_t *)"tx1", 3}, {NULL, 0},
                            {(uint8_t *)"x", 1}};
    struct bm_batch in = {.n_txs = 3, .txs = txs};
    struct bm_batch back = {0};
    struct bm_buf a = {0};
    struct bm_buf b = {0};

    assert_int_equal(bm_batch_encode(&in, &a), BM_OK);
    tu_assert_buf_hex(&a, "0a037478310a000a0178");
    assert_int_equal(bm_batch_decode(&back, a.ptr, a.len), BM_OK);
    assert_int_equal(back.n_txs, 3);
    assert_int_equal(bm_batch_encode(&back, &b), BM_OK);
    assert_true(bm_buf_eq(&a, &b));
    bm_batch_release(&back);
    assert_int_equal(bm_batch_encode(&back, &b), BM_OK);
    assert_int_equal(b.len, 0);
    bm_buf_release(&a);
    bm_buf_release(&b);
}

/* ---- decoder errors ---- */

static void test_truncation_v10(void **state)
{
    (void)state;
    struct bm_buf in = {0};
    struct bm_signed_header sh = {0};

    tu_hex(&in, TU_V10);
    for (size_t n = 0; n < in.len; n++) {
        enum bm_err err = bm_signed_header_decode(&sh, in.ptr, n);
        if (n == 0) {
            assert_int_equal(err, BM_EMISSING);
        } else if (n == 199 || n == 265) { /* whole top-level fields */
            assert_int_equal(err, BM_OK);
        } else {
            assert_int_equal(err, BM_ETRUNCATED);
            assert_null(sh.header.chain_id);
            assert_null(sh.signature.ptr);
        }
        bm_signed_header_release(&sh);
    }
    bm_buf_release(&in);
}

static void test_truncation_v17(void **state)
{
    (void)state;
    struct bm_buf in = {0};
    struct bm_signed_data sd = {0};

    tu_hex(&in, TU_V17);
    for (size_t n = 0; n < in.len; n++) {
        enum bm_err err = bm_signed_data_decode(&sd, in.ptr, n);
        if (n == 0 || n == 72 || n == 138) {
            assert_int_equal(err, BM_OK);
        } else {
            assert_int_equal(err, BM_ETRUNCATED);
            assert_null(sd.data.txs);
            assert_int_equal(sd.data.n_txs, 0);
        }
        bm_signed_data_release(&sd);
    }
    bm_buf_release(&in);
}

static void expect_header_err(const char *hex, enum bm_err want)
{
    struct bm_buf in = {0};
    struct bm_header h = {0};

    tu_hex(&in, hex);
    assert_int_equal(bm_header_decode(&h, in.ptr, in.len), want);
    if (want != BM_OK) {
        assert_null(h.chain_id);
        assert_false(h.legacy.present);
    }
    bm_header_release(&h);
    bm_buf_release(&in);
}

static void test_wire_errors(void **state)
{
    (void)state;
    expect_header_err("120100", BM_EWIRETYPE);         /* height as bytes */
    expect_header_err("0801", BM_EWIRETYPE);           /* version as varint */
    expect_header_err("2101020304050607080a", BM_EWIRETYPE); /* 4 as i64 */
    expect_header_err("0a021201", BM_EWIRETYPE);       /* Version.app bytes */
    expect_header_err("6b6c", BM_EWIRETYPE);           /* group */
    expect_header_err("0f", BM_EWIRETYPE);             /* wire type 7 */
    expect_header_err("00", BM_EDECODE);               /* field number 0 */
    expect_header_err("10ffffffffffffffffffff01", BM_EVARINT); /* 11 bytes */
    expect_header_err("10ffffffffffffffffff02", BM_EVARINT); /* > 64 bits */
    expect_header_err("10ffffffffffffffffff01", BM_OK); /* UINT64_MAX */
    expect_header_err("ffffffffffffffffffffff", BM_EVARINT); /* tag */
    expect_header_err("10ff", BM_ETRUNCATED);
    expect_header_err("10", BM_ETRUNCATED);
    expect_header_err("2205aabb", BM_ETRUNCATED);
    expect_header_err("22ffffffffffffffff7f", BM_ETRUNCATED);
    expect_header_err("620180", BM_EDECODE);           /* bad UTF-8 */
    expect_header_err("6202c0af", BM_EDECODE);         /* overlong */
    expect_header_err("6203eda080", BM_EDECODE);       /* surrogate */
    expect_header_err("6203e282ac", BM_OK);            /* euro sign */
    /* unknown fields of every wire type are skipped */
    expect_header_err("68017101020304050607087a0100"
                      "7d01020304", BM_OK);
    /* legacy 5/7/9 of another wire type are skipped */
    expect_header_err("2801", BM_OK);

    struct bm_header h = {0};
    struct bm_buf in = {0};
    struct bm_buf b = {0};
    tu_hex(&in, "1005" "6801" "2801" "7a03aabbcc" "620163");
    assert_int_equal(bm_header_decode(&h, in.ptr, in.len), BM_OK);
    assert_false(h.legacy.present);
    assert_int_equal(bm_header_encode(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, "0a0010056201" "63");
    bm_header_release(&h);
    bm_buf_release(&in);
    bm_buf_release(&b);

    /* an empty legacy value does not make a legacy header (Go IsZero) */
    tu_hex(&in, "1005" "3a00");
    assert_int_equal(bm_header_decode(&h, in.ptr, in.len), BM_OK);
    assert_false(h.legacy.present);
    assert_int_equal(bm_header_encode(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, "0a001005");
    /* present set by hand with all values empty: still hashed slim */
    struct bm_hash h1;
    struct bm_hash h2;
    assert_int_equal(bm_header_hash(&h, &h1), BM_OK);
    h.legacy.present = true;
    assert_int_equal(bm_header_hash(&h, &h2), BM_OK);
    assert_memory_equal(h1.b, h2.b, 32);
    assert_int_equal(bm_header_encode(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, "0a001005");
    bm_header_release(&h);
    bm_buf_release(&b);

    struct bm_data d = {0};
    tu_hex(&in, "1001");
    assert_int_equal(bm_data_decode(&d, in.ptr, in.len), BM_EWIRETYPE);
    tu_hex(&in, "0a0212011203747831");
    assert_int_equal(bm_data_decode(&d, in.ptr, in.len), BM_EWIRETYPE);
    assert_int_equal(d.n_txs, 0);
    bm_buf_release(&in);
}

/* Builds tag(field, LEN) || varint(n) || n bytes of c. */
static void len_field(struct bm_dynbuf *d, uint32_t field, size_t n,
                      uint8_t c)
{
    uint8_t *tmp = bm_xmalloc(n ? n : 1);
    uint8_t v[16];
    size_t k = 0;
    uint64_t x = (uint64_t)field << 3 | 2;

    memset(tmp, c, n);
    while (x >= 0x80) {
        v[k++] = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    v[k++] = (uint8_t)x;
    x = n;
    do {
        v[k] = (uint8_t)(x & 0x7f);
        x >>= 7;
        if (x) {
            v[k] |= 0x80;
        }
        k++;
    } while (x);
    assert_int_equal(bm_dynbuf_append(d, v, k), BM_OK);
    assert_int_equal(bm_dynbuf_append(d, tmp, n), BM_OK);
    bm_free(tmp);
}

static void test_caps(void **state)
{
    (void)state;
    struct bm_dynbuf d;
    struct bm_header h = {0};
    struct bm_data data = {0};
    struct bm_batch batch = {0};
    struct bm_state st = {0};
    struct bm_signed_header sh = {0};

    bm_dynbuf_init(&d, SIZE_MAX);
    /* hash field at and above the cap */
    len_field(&d, 6, BM_MAX_HASH_FIELD, 1);
    assert_int_equal(bm_header_decode(&h, d.ptr, d.len), BM_OK);
    bm_dynbuf_reset(&d);
    len_field(&d, 6, BM_MAX_HASH_FIELD + 1, 1);
    assert_int_equal(bm_header_decode(&h, d.ptr, d.len), BM_ETOOBIG);
    assert_int_equal(h.data_hash.len, 0);
    bm_dynbuf_reset(&d);
    len_field(&d, 12, BM_MAX_CHAIN_ID + 1, 'a');
    assert_int_equal(bm_header_decode(&h, d.ptr, d.len), BM_ETOOBIG);
    bm_dynbuf_reset(&d);
    len_field(&d, 2, BM_MAX_CHAIN_ID + 1, 'a');
    assert_int_equal(bm_state_decode(&st, d.ptr, d.len), BM_ETOOBIG);
    bm_dynbuf_reset(&d);
    /* a signature above the cap inside a SignedHeader */
    assert_int_equal(bm_dynbuf_append(&d, "\x0a\x00", 2), BM_OK);
    len_field(&d, 2, BM_MAX_HASH_FIELD + 1, 0);
    assert_int_equal(bm_signed_header_decode(&sh, d.ptr, d.len), BM_ETOOBIG);
    bm_dynbuf_reset(&d);
    /* legacy value above 1 KiB; unknown section above 1 MiB */
    len_field(&d, 7, BM_MAX_HASH_FIELD + 1, 0);
    assert_int_equal(bm_header_decode(&h, d.ptr, d.len), BM_ETOOBIG);
    bm_dynbuf_reset(&d);
    len_field(&d, 20, BM_MAX_LEGACY_SECTION - 8, 0);
    assert_int_equal(bm_header_decode(&h, d.ptr, d.len), BM_OK);
    len_field(&d, 21, 8, 0);
    assert_int_equal(bm_header_decode(&h, d.ptr, d.len), BM_ETOOBIG);
    bm_dynbuf_reset(&d);
    /* tx at and above the cap */
    len_field(&d, 2, BM_MAX_TX_SIZE, 7);
    assert_int_equal(bm_data_decode(&data, d.ptr, d.len), BM_OK);
    assert_int_equal(data.txs[0].len, BM_MAX_TX_SIZE);
    bm_dynbuf_reset(&d);
    len_field(&d, 2, BM_MAX_TX_SIZE + 1, 7);
    assert_int_equal(bm_data_decode(&data, d.ptr, d.len), BM_ETOOBIG);
    assert_int_equal(data.n_txs, 0);
    bm_dynbuf_reset(&d);
    /* too many txs */
    for (size_t i = 0; i <= BM_MAX_TXS; i++) {
        assert_int_equal(bm_dynbuf_append(&d, "\x0a\x00", 2), BM_OK);
    }
    assert_int_equal(bm_batch_decode(&batch, d.ptr, d.len), BM_ETOOBIG);
    assert_int_equal(bm_batch_decode(&batch, d.ptr, d.len - 2), BM_OK);
    assert_int_equal(batch.n_txs, BM_MAX_TXS);
    bm_batch_release(&batch);
    d.ptr[0] = 0x12; /* same count as Data txs */
    for (size_t i = 0; i < d.len; i += 2) {
        d.ptr[i] = 0x12;
    }
    assert_int_equal(bm_data_decode(&data, d.ptr, d.len), BM_ETOOBIG);
    bm_dynbuf_release(&d);
    /* whole input above BM_MAX_MESSAGE_SIZE, refused before reading */
    uint8_t *big = bm_calloc(1, (size_t)BM_MAX_MESSAGE_SIZE + 1);
    assert_non_null(big);
    assert_int_equal(bm_data_decode(&data, big, BM_MAX_MESSAGE_SIZE + 1),
                     BM_ETOOBIG);
    assert_int_equal(bm_header_decode(&h, big, BM_MAX_MESSAGE_SIZE + 1),
                     BM_ETOOBIG);
    assert_int_equal(
        bm_last_batch_data_decode(&batch, big, BM_MAX_MESSAGE_SIZE + 1),
        BM_ETOOBIG);
    bm_free(big);
    /* add_tx caps */
    uint8_t one = 1;
    assert_int_equal(bm_data_add_tx(&data, &one, BM_MAX_TX_SIZE + 1),
                     BM_ETOOBIG);
    assert_int_equal(bm_data_add_tx(&data, NULL, 1), BM_EINVAL);
    bm_header_release(&h);
    bm_data_release(&data);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random bytes and random mutations of valid messages: never crash, never
 * leak, a failure leaves the output empty. */
static void test_garbage(void **state)
{
    (void)state;
    struct bm_buf seeds[3] = {{0}};
    uint8_t buf[512];

    tu_hex(&seeds[0], TU_V10);
    tu_hex(&seeds[1], TU_V17);
    tu_hex(&seeds[2], TU_V14 "1800");
    for (int iter = 0; iter < 3000; iter++) {
        size_t n;
        if (iter % 2 == 0) {
            n = rng() % sizeof(buf);
            for (size_t i = 0; i < n; i++) {
                buf[i] = (uint8_t)rng();
            }
        } else {
            const struct bm_buf *s = &seeds[rng() % 3];
            n = s->len;
            memcpy(buf, s->ptr, n);
            for (int m = 0; m < 1 + (int)(rng() % 4); m++) {
                buf[rng() % n] = (uint8_t)rng();
            }
        }
        struct bm_signed_header sh = {0};
        struct bm_da_header_envelope e = {0};
        struct bm_p2p_signed_header psh = {0};
        struct bm_signed_data sd = {0};
        struct bm_p2p_data pd = {0};
        struct bm_state st = {0};
        struct bm_batch b = {0};
        struct bm_buf re = {0};
        if (bm_signed_header_decode(&sh, buf, n) == BM_OK) {
            assert_int_equal(bm_signed_header_encode(&sh, &re), BM_OK);
            (void)bm_signed_header_verify_signature(&sh);
        } else {
            assert_null(sh.header.chain_id);
        }
        if (bm_da_header_envelope_decode(&e, buf, n) == BM_OK) {
            assert_int_equal(bm_da_header_envelope_encode(&e, &re), BM_OK);
        }
        if (bm_p2p_signed_header_decode(&psh, buf, n) == BM_OK) {
            assert_int_equal(bm_p2p_signed_header_encode(&psh, &re), BM_OK);
        }
        if (bm_signed_data_decode(&sd, buf, n) == BM_OK) {
            assert_int_equal(bm_signed_data_encode(&sd, &re), BM_OK);
            (void)bm_signed_data_verify_signature(&sd);
        } else {
            assert_int_equal(sd.data.n_txs, 0);
        }
        if (bm_p2p_data_decode(&pd, buf, n) == BM_OK) {
            assert_int_equal(bm_p2p_data_encode(&pd, &re), BM_OK);
        }
        if (bm_state_decode(&st, buf, n) == BM_OK) {
            assert_int_equal(bm_state_encode(&st, &re), BM_OK);
        }
        if (bm_batch_decode(&b, buf, n) == BM_OK) {
            assert_int_equal(bm_batch_encode(&b, &re), BM_OK);
        }
        bm_batch_release(&b);
        (void)bm_last_batch_data_decode(&b, buf, n);
        bm_batch_release(&b);
        bm_signed_header_release(&sh);
        bm_da_header_envelope_release(&e);
        bm_p2p_signed_header_release(&psh);
        bm_signed_data_release(&sd);
        bm_p2p_data_release(&pd);
        bm_state_release(&st);
        bm_buf_release(&re);
    }
    for (int i = 0; i < 3; i++) {
        bm_buf_release(&seeds[i]);
    }
}

/* ---- random values against an independent reference encoder ---- */

static void ref_varint(struct bm_dynbuf *d, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) {
            b |= 0x80;
        }
        assert_int_equal(bm_dynbuf_append_byte(d, b), BM_OK);
    } while (v);
}

/* proto3 rules: zero scalars omitted */
static void ref_u64(struct bm_dynbuf *d, unsigned num, uint64_t v)
{
    if (v != 0) {
        ref_varint(d, (uint64_t)num << 3);
        ref_varint(d, v);
    }
}

static void ref_len(struct bm_dynbuf *d, unsigned num, const void *p, size_t n,
                    bool always)
{
    if (n > 0 || always) {
        ref_varint(d, (uint64_t)num << 3 | 2);
        ref_varint(d, n);
        assert_int_equal(bm_dynbuf_append(d, p, n), BM_OK);
    }
}

static void ref_header(struct bm_dynbuf *d, const struct bm_header *h)
{
    struct bm_dynbuf v;
    bm_dynbuf_init(&v, 64);
    ref_u64(&v, 1, h->version.block);
    ref_u64(&v, 2, h->version.app);
    ref_len(d, 1, v.ptr, v.len, true);
    bm_dynbuf_release(&v);
    ref_u64(d, 2, h->height);
    ref_u64(d, 3, h->time);
    ref_len(d, 4, h->last_header_hash.ptr, h->last_header_hash.len, false);
    ref_len(d, 6, h->data_hash.ptr, h->data_hash.len, false);
    ref_len(d, 8, h->app_hash.ptr, h->app_hash.len, false);
    ref_len(d, 10, h->proposer_address.ptr, h->proposer_address.len, false);
    ref_len(d, 11, h->validator_hash.ptr, h->validator_hash.len, false);
    ref_len(d, 12, h->chain_id, h->chain_id ? strlen(h->chain_id) : 0, false);
}

static uint64_t rand_u64(void)
{
    switch (rng() % 4) {
    case 0:
        return 0;
    case 1:
        return rng() % 300;
    case 2:
        return UINT64_MAX;
    default:
        return rng() >> (rng() % 64);
    }
}

static void rand_buf(struct bm_buf *b, size_t max)
{
    uint8_t tmp[64];
    size_t n = rng() % 3 == 0 ? 0 : rng() % (max + 1);
    for (size_t i = 0; i < n; i++) {
        tmp[i] = (uint8_t)rng();
    }
    assert_int_equal(bm_buf_set(b, tmp, n), BM_OK);
}

static void rand_str(char **s)
{
    char tmp[16];
    size_t n = rng() % 3 == 0 ? 0 : rng() % 15;
    for (size_t i = 0; i < n; i++) {
        tmp[i] = (char)('a' + rng() % 26);
    }
    tmp[n] = '\0';
    assert_int_equal(bm_str_set(s, rng() % 4 == 0 ? NULL : tmp), BM_OK);
}

static void test_random_canonical(void **state)
{
    (void)state;
    for (int iter = 0; iter < 500; iter++) {
        struct bm_header h = {0};
        struct bm_header back = {0};
        struct bm_data d = {0};
        struct bm_data dback = {0};
        struct bm_state st = {0};
        struct bm_state sback = {0};
        struct bm_dynbuf ref;
        struct bm_buf a = {0};
        struct bm_buf b = {0};

        bm_dynbuf_init(&ref, 1 << 20);
        h.version.block = rand_u64();
        h.version.app = rand_u64();
        h.height = rand_u64();
        h.time = rand_u64();
        rand_buf(&h.last_header_hash, 40);
        rand_buf(&h.data_hash, 40);
        rand_buf(&h.app_hash, 40);
        rand_buf(&h.proposer_address, 40);
        rand_buf(&h.validator_hash, 40);
        rand_str(&h.chain_id);
        ref_header(&ref, &h);
        assert_int_equal(bm_header_encode(&h, &a), BM_OK);
        assert_true(bm_buf_eq_raw(&a, ref.ptr, ref.len));
        assert_int_equal(bm_header_decode(&back, a.ptr, a.len), BM_OK);
        assert_int_equal(bm_header_encode(&back, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));
        assert_true(back.height == h.height && back.time == h.time);

        bm_dynbuf_reset(&ref);
        d.has_metadata = rng() % 2;
        if (d.has_metadata) {
            struct bm_dynbuf m;
            rand_str(&d.metadata.chain_id);
            d.metadata.height = rand_u64();
            d.metadata.time = rand_u64();
            rand_buf(&d.metadata.last_data_hash, 40);
            bm_dynbuf_init(&m, 1024);
            ref_len(&m, 1, d.metadata.chain_id,
                    d.metadata.chain_id ? strlen(d.metadata.chain_id) : 0,
                    false);
            ref_u64(&m, 2, d.metadata.height);
            ref_u64(&m, 3, d.metadata.time);
            ref_len(&m, 4, d.metadata.last_data_hash.ptr,
                    d.metadata.last_data_hash.len, false);
            ref_len(&ref, 1, m.ptr, m.len, true);
            bm_dynbuf_release(&m);
        }
        size_t ntx = rng() % 5;
        for (size_t i = 0; i < ntx; i++) {
            struct bm_buf tx = {0};
            rand_buf(&tx, 40);
            assert_int_equal(bm_data_add_tx(&d, tx.ptr, tx.len), BM_OK);
            ref_len(&ref, 2, tx.ptr, tx.len, true);
            bm_buf_release(&tx);
        }
        assert_int_equal(bm_data_encode(&d, &a), BM_OK);
        assert_true(bm_buf_eq_raw(&a, ref.ptr, ref.len));
        assert_int_equal(bm_data_decode(&dback, a.ptr, a.len), BM_OK);
        assert_int_equal(bm_data_encode(&dback, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));

        bm_dynbuf_reset(&ref);
        struct bm_dynbuf sub;
        bm_dynbuf_init(&sub, 64);
        st.version.block = rand_u64();
        st.version.app = rand_u64();
        rand_str(&st.chain_id);
        st.initial_height = rand_u64();
        st.last_block_height = rand_u64();
        st.last_block_time.seconds = (int64_t)rand_u64();
        st.last_block_time.nanos = (int32_t)(rng() % 1000000000);
        st.da_height = rand_u64();
        rand_buf(&st.app_hash, 40);
        rand_buf(&st.last_header_hash, 40);
        rand_buf(&st.next_proposer_address, 40);
        ref_u64(&sub, 1, st.version.block);
        ref_u64(&sub, 2, st.version.app);
        ref_len(&ref, 1, sub.ptr, sub.len, true);
        ref_len(&ref, 2, st.chain_id, st.chain_id ? strlen(st.chain_id) : 0,
                false);
        ref_u64(&ref, 3, st.initial_height);
        ref_u64(&ref, 4, st.last_block_height);
        bm_dynbuf_reset(&sub);
        /* int64/int32 varints: negative values sign-extend to 10 bytes */
        ref_u64(&sub, 1, (uint64_t)st.last_block_time.seconds);
        ref_u64(&sub, 2, (uint64_t)(int64_t)st.last_block_time.nanos);
        ref_len(&ref, 5, sub.ptr, sub.len, true);
        bm_dynbuf_release(&sub);
        ref_u64(&ref, 6, st.da_height);
        ref_len(&ref, 8, st.app_hash.ptr, st.app_hash.len, false);
        ref_len(&ref, 9, st.last_header_hash.ptr, st.last_header_hash.len,
                false);
        ref_len(&ref, 10, st.next_proposer_address.ptr,
                st.next_proposer_address.len, false);
        assert_int_equal(bm_state_encode(&st, &a), BM_OK);
        assert_true(bm_buf_eq_raw(&a, ref.ptr, ref.len));
        assert_int_equal(bm_state_decode(&sback, a.ptr, a.len), BM_OK);
        assert_true(sback.last_block_time.seconds ==
                    st.last_block_time.seconds);
        assert_int_equal(bm_state_encode(&sback, &b), BM_OK);
        assert_true(bm_buf_eq(&a, &b));

        bm_dynbuf_release(&ref);
        bm_header_release(&h);
        bm_header_release(&back);
        bm_data_release(&d);
        bm_data_release(&dback);
        bm_state_release(&st);
        bm_state_release(&sback);
        bm_buf_release(&a);
        bm_buf_release(&b);
    }
}

/* ---- allocation failures ---- */

typedef enum bm_err decode_fn(const uint8_t *p, size_t n);

static enum bm_err dec_sh(const uint8_t *p, size_t n)
{
    struct bm_signed_header v = {0};
    enum bm_err err = bm_signed_header_decode(&v, p, n);
    if (err == BM_OK) {
        struct bm_buf b = {0};
        struct bm_hash h;
        err = bm_signed_header_encode(&v, &b);
        if (err == BM_OK) {
            err = bm_header_hash(&v.header, &h);
        }
        if (err == BM_OK && !bm_signed_header_verify_signature(&v)) {
            err = BM_ENOMEM; /* verify allocates: an OOM reads as false */
        }
        if (err == BM_OK) {
            struct bm_signed_header cp = {0};
            err = bm_signed_header_copy(&cp, &v);
            bm_signed_header_release(&cp);
        }
        bm_buf_release(&b);
    } else {
        assert_null(v.header.chain_id);
    }
    bm_signed_header_release(&v);
    return err;
}

static enum bm_err dec_sd(const uint8_t *p, size_t n)
{
    struct bm_signed_data v = {0};
    enum bm_err err = bm_signed_data_decode(&v, p, n);
    if (err == BM_OK) {
        struct bm_buf b = {0};
        struct bm_hash h;
        err = bm_signed_data_encode(&v, &b);
        if (err == BM_OK) {
            err = bm_data_da_commitment(&v.data, &h);
        }
        if (err == BM_OK) {
            struct bm_data cp = {0};
            err = bm_data_copy(&cp, &v.data);
            bm_data_release(&cp);
        }
        bm_buf_release(&b);
    } else {
        assert_int_equal(v.data.n_txs, 0);
    }
    bm_signed_data_release(&v);
    return err;
}

static enum bm_err dec_env(const uint8_t *p, size_t n)
{
    struct bm_da_header_envelope v = {0};
    enum bm_err err = bm_da_header_envelope_decode(&v, p, n);
    bm_da_header_envelope_release(&v);
    return err;
}

static enum bm_err dec_p2p(const uint8_t *p, size_t n)
{
    struct bm_p2p_data v = {0};
    enum bm_err err = bm_p2p_data_decode(&v, p, n);
    bm_p2p_data_release(&v);
    return err;
}

static enum bm_err dec_state(const uint8_t *p, size_t n)
{
    struct bm_state v = {0};
    enum bm_err err = bm_state_decode(&v, p, n);
    if (err == BM_OK) {
        struct bm_state cp = {0};
        err = bm_state_copy(&cp, &v);
        bm_state_release(&cp);
    }
    bm_state_release(&v);
    return err;
}

static void alloc_torture(decode_fn *fn, const char *hex)
{
    struct bm_buf in = {0};
    int64_t live;
    int n;

    tu_hex(&in, hex);
    live = bm_alloc_live_count();
    for (n = 1; n < 1000; n++) {
        bm_alloc_fail_after(n);
        enum bm_err err = fn(in.ptr, in.len);
        bm_alloc_fail_after(0);
        assert_int_equal(bm_alloc_live_count(), live);
        if (err == BM_OK) {
            break;
        }
        assert_int_equal(err, BM_ENOMEM);
    }
    assert_true(n > 3 && n < 1000);
    bm_buf_release(&in);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    alloc_torture(dec_sh, TU_V10);
    alloc_torture(dec_sd, TU_V17);
    alloc_torture(dec_p2p, TU_V14 "1805");
    alloc_torture(dec_state, "0a020801120163180120052a080880e2cfaa061005"
                             "30074202aaaa4a01bb5201cc");

    struct bm_da_header_envelope e = {0};
    struct bm_privkey k;
    struct bm_buf b = {0};
    make_signed_header(&e.sh, true);
    tu_key(&k);
    assert_int_equal(bm_da_header_envelope_sign(&e, &k), BM_OK);
    assert_int_equal(bm_da_header_envelope_encode(&e, &b), BM_OK);
    char *hex = bm_hex_dup(b.ptr, b.len);
    alloc_torture(dec_env, hex);
    bm_free(hex);
    /* encoders and signing under allocation failure */
    for (int n = 1; n < 100; n++) {
        bm_alloc_fail_after(n);
        enum bm_err err = bm_da_header_envelope_sign(&e, &k);
        if (err == BM_OK) {
            err = bm_da_header_envelope_encode(&e, &b);
        }
        bm_alloc_fail_after(0);
        if (err == BM_OK) {
            break;
        }
        assert_int_equal(err, BM_ENOMEM);
    }
    assert_true(bm_da_header_envelope_verify_signature(&e));
    bm_da_header_envelope_release(&e);
    bm_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_header),
        cmocka_unit_test(test_roundtrip_empty_header),
        cmocka_unit_test(test_roundtrip_signed_header),
        cmocka_unit_test(test_signer_rules),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_p2p_signed_header),
        cmocka_unit_test(test_roundtrip_data),
        cmocka_unit_test(test_p2p_data),
        cmocka_unit_test(test_roundtrip_state),
        cmocka_unit_test(test_roundtrip_batch),
        cmocka_unit_test(test_truncation_v10),
        cmocka_unit_test(test_truncation_v17),
        cmocka_unit_test(test_wire_errors),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_random_canonical),
        cmocka_unit_test(test_alloc_failures),
    };
    return BM_TEST_RUN(tests);
}
