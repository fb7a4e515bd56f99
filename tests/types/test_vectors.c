/* Spec 2.6 vectors V1-V21, V24 and TestHeaderSerializationSize. */
#include "bm_test.h"

#include <pthread.h>
#include <string.h>

#include "blockv2/types.h"
#include "types_test_util.h"
#include "util/alloc.h"
#include "util/hex.h"

static void test_v1_v3_keys(void **state)
{
    (void)state;
    struct bm_privkey k;
    uint8_t pub[32];
    uint8_t lp[36];
    uint8_t back[32];
    struct bm_hash addr;
    struct bm_signer s = {0};

    assert_int_equal(bm_crypto_init(), BM_OK);
    assert_int_equal(bm_crypto_init(), BM_OK);
    tu_key(&k);
    bm_privkey_public(&k, pub);
    tu_assert_hex(pub, 32, TU_V1);
    tu_assert_hex(k.b, 32, TU_SEED);
    bm_address_from_pubkey(pub, &addr);
    tu_assert_hex(addr.b, 32, TU_V2);
    bm_pubkey_libp2p_encode(pub, lp);
    tu_assert_hex(lp, 36, TU_V3);
    assert_int_equal(bm_pubkey_libp2p_decode(lp, 36, back), BM_OK);
    assert_memory_equal(back, pub, 32);
    assert_int_equal(bm_pubkey_libp2p_decode(lp, 35, back), BM_EBADKEY);
    lp[1] = 2; /* secp256k1 */
    assert_int_equal(bm_pubkey_libp2p_decode(lp, 36, back), BM_EBADKEY);
    assert_int_equal(bm_pubkey_libp2p_decode(NULL, 0, back), BM_EBADKEY);

    assert_int_equal(bm_signer_from_privkey(&s, &k), BM_OK);
    assert_true(s.has_pub_key);
    tu_assert_buf_hex(&s.address, TU_V2);
    struct bm_buf enc = {0};
    assert_int_equal(bm_signer_encode(&s, &enc), BM_OK);
    tu_assert_buf_hex(&enc, "0a20" TU_V2 "1224" TU_V3);
    bm_buf_release(&enc);
    bm_signer_release(&s);
    bm_privkey_wipe(&k);
    assert_int_equal(k.b[0] | k.b[63], 0);
}

static void test_v4_v6_data_commitment(void **state)
{
    (void)state;
    struct bm_data d = {0};
    struct bm_buf b = {0};
    struct bm_hash h;
    char hex[65];

    assert_int_equal(bm_data_add_tx(&d, (const uint8_t *)"tx1", 3), BM_OK);
    assert_int_equal(bm_data_add_tx(&d, (const uint8_t *)"tx2", 3), BM_OK);
    assert_int_equal(bm_data_encode(&d, &b), BM_OK);
    tu_assert_buf_hex(&b, "12037478311203747832");
    assert_int_equal(bm_data_da_commitment(&d, &h), BM_OK);
    tu_assert_hex(h.b, 32, TU_V5);
    assert_int_equal(bm_txs_da_commitment(d.txs, d.n_txs, &h), BM_OK);
    tu_assert_hex(h.b, 32, TU_V5);
    /* without metadata Data.Hash equals the commitment */
    assert_int_equal(bm_data_hash(&d, &h), BM_OK);
    tu_assert_hex(h.b, 32, TU_V5);
    bm_data_release(&d);

    assert_int_equal(bm_data_encode(&d, &b), BM_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(bm_data_da_commitment(&d, &h), BM_OK);
    bm_hex_encode(hex, h.b, 32);
    assert_string_equal(
        hex, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    assert_memory_equal(h.b, bm_empty_data_hash.b, 32);
    assert_int_equal(bm_txs_da_commitment(NULL, 0, &h), BM_OK);
    assert_memory_equal(h.b, bm_empty_data_hash.b, 32);
    bm_buf_release(&b);
}

static void test_v7_v9_legacy_header(void **state)
{
    (void)state;
    struct bm_header h;
    struct bm_buf b = {0};
    struct bm_buf sig = {0};
    struct bm_hash hh;
    struct bm_privkey k;

    tu_header(&h, true);
    assert_int_equal(bm_header_encode_legacy(&h, &b), BM_OK);
    assert_int_equal(b.len, 196);
    tu_assert_buf_hex(&b, TU_V7);
    assert_int_equal(bm_header_hash(&h, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "3a6e20c62fd84c1577ed09a7ac0b728d1025a1147bc59c271c717a74004f4ad4");
    tu_key(&k);
    assert_int_equal(bm_sign(&k, b.ptr, b.len, &sig), BM_OK);
    tu_assert_buf_hex(&sig, TU_V9);
    uint8_t pub[32];
    bm_privkey_public(&k, pub);
    assert_true(bm_verify(pub, b.ptr, b.len, sig.ptr, sig.len));
    assert_false(bm_verify(pub, b.ptr, b.len - 1, sig.ptr, sig.len));
    assert_false(bm_verify(pub, b.ptr, b.len, sig.ptr, sig.len - 1));

    /* the legacy encoding without the consensus hash defaults it to zeros */
    bm_buf_release(&h.legacy.consensus_hash);
    assert_int_equal(bm_header_encode_legacy(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V7);
    /* binary form = slim known fields, then the legacy fields */
    tu_fill(&h.legacy.consensus_hash, 0x00, 32);
    assert_int_equal(bm_header_encode(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V11 "3a20" TU_H00);
    bm_buf_release(&sig);
    bm_buf_release(&b);
    bm_header_release(&h);
}

static void test_v10_signed_header_v1(void **state)
{
    (void)state;
    struct bm_buf in = {0};
    struct bm_buf b = {0};
    struct bm_signed_header sh = {0};
    struct bm_hash hh;

    tu_hex(&in, TU_V10);
    assert_int_equal(in.len, 339);
    assert_int_equal(bm_signed_header_decode(&sh, in.ptr, in.len), BM_OK);
    assert_int_equal(sh.header.height, 2);
    assert_int_equal(sh.header.time, 1700000000000000000ull);
    assert_string_equal(sh.header.chain_id, "test-chain");
    assert_true(sh.header.legacy.present);
    assert_int_equal(sh.header.legacy.consensus_hash.len, 32);
    assert_int_equal(sh.header.legacy.last_commit_hash.len, 0);
    assert_true(sh.signer.has_pub_key);
    tu_assert_hex(sh.signer.pub_key, 32, TU_V1);
    tu_assert_buf_hex(&sh.signer.address, TU_V2);
    tu_assert_buf_hex(&sh.signature, TU_V9);
    assert_int_equal(bm_header_hash(&sh.header, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "3a6e20c62fd84c1577ed09a7ac0b728d1025a1147bc59c271c717a74004f4ad4");
    /* v1 signature is over the legacy bytes: verify falls back to them */
    assert_true(bm_signed_header_verify_signature(&sh));
    assert_int_equal(bm_header_encode_legacy(&sh.header, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V7);
    /* re-encoding moves field 7 after the known fields (Go MarshalBinary) */
    assert_int_equal(bm_signed_header_encode(&sh, &b), BM_OK);
    tu_assert_buf_hex(&b, "0ac401" TU_V11 "3a20" TU_H00 "1240" TU_V9
                          TU_SIGNER);
    bm_signed_header_release(&sh);
    bm_buf_release(&b);
    bm_buf_release(&in);
}

static void test_v11_v13_slim_header(void **state)
{
    (void)state;
    struct bm_signed_header sh = {0};
    struct bm_buf b = {0};
    struct bm_hash hh;
    struct bm_privkey k;

    tu_header(&sh.header, false);
    assert_int_equal(bm_header_encode(&sh.header, &b), BM_OK);
    assert_int_equal(b.len, 162);
    tu_assert_buf_hex(&b, TU_V11);
    assert_int_equal(bm_header_encode_slim(&sh.header, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V11);
    assert_int_equal(bm_header_signature_payload(&sh.header, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V11);
    assert_int_equal(bm_header_hash(&sh.header, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "7a2344522a477dd48887f16fa2ffaf0f36c3a3a982003f2562705213d5902cb4");
    tu_key(&k);
    assert_int_equal(bm_signer_from_privkey(&sh.signer, &k), BM_OK);
    assert_int_equal(bm_signed_header_sign(&sh, &k), BM_OK);
    tu_assert_buf_hex(&sh.signature, TU_V13);
    assert_true(bm_signed_header_verify_signature(&sh));
    assert_int_equal(bm_signed_header_encode(&sh, &b), BM_OK);
    tu_assert_buf_hex(&b, "0aa201" TU_V11 "1240" TU_V13 TU_SIGNER);
    /* adding legacy fields changes both candidate payloads */
    sh.header.legacy.present = true;
    tu_fill(&sh.header.legacy.consensus_hash, 0x07, 32);
    assert_false(bm_signed_header_verify_signature(&sh));
    /* signing covers the binary form (slim || legacy fields) */
    assert_int_equal(bm_signed_header_sign(&sh, &k), BM_OK);
    assert_true(bm_signed_header_verify_signature(&sh));
    assert_int_equal(bm_header_signature_payload(&sh.header, &b), BM_OK);
    char *r07 = tu_rep("07", 32);
    char *want = tu_cat(TU_V11, "3a20", r07, NULL, NULL, NULL, NULL, NULL);
    tu_assert_buf_hex(&b, want);
    bm_free(want);
    bm_free(r07);
    sh.header.height++;
    assert_false(bm_signed_header_verify_signature(&sh));
    /* a non-legacy header signed over its legacy encoding verifies (Go
     * always tries the legacy payload) */
    struct bm_signed_header v1g = {0};
    tu_header(&v1g.header, false);
    assert_int_equal(bm_signer_from_privkey(&v1g.signer, &k), BM_OK);
    assert_int_equal(bm_header_encode_legacy(&v1g.header, &b), BM_OK);
    assert_int_equal(bm_sign(&k, b.ptr, b.len, &v1g.signature), BM_OK);
    assert_true(bm_signed_header_verify_signature(&v1g));
    bm_signed_header_release(&v1g);
    bm_signed_header_release(&sh);
    bm_buf_release(&b);
}

static void test_v14_v17_data(void **state)
{
    (void)state;
    struct bm_signed_data sd = {0};
    struct bm_buf b = {0};
    struct bm_hash hh;
    struct bm_privkey k;

    tu_data(&sd.data);
    assert_int_equal(bm_data_encode(&sd.data, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V14);
    assert_int_equal(bm_data_signature_payload(&sd.data, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V14);
    assert_int_equal(bm_data_hash(&sd.data, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "8f9daea95cacf8cccf4b655fd422cc077e8a23c808ac4e899527333f63590873");
    assert_int_equal(bm_data_da_commitment(&sd.data, &hh), BM_OK);
    tu_assert_hex(hh.b, 32, TU_V5);
    tu_key(&k);
    assert_int_equal(bm_signer_from_privkey(&sd.signer, &k), BM_OK);
    assert_int_equal(bm_signed_data_sign(&sd, &k), BM_OK);
    tu_assert_buf_hex(&sd.signature, TU_V16);
    assert_true(bm_signed_data_verify_signature(&sd));
    assert_int_equal(bm_signed_data_encode(&sd, &b), BM_OK);
    tu_assert_buf_hex(&b, TU_V17);

    struct bm_signed_data back = {0};
    assert_int_equal(bm_signed_data_decode(&back, b.ptr, b.len), BM_OK);
    assert_true(back.data.has_metadata);
    assert_string_equal(back.data.metadata.chain_id, "test-chain");
    assert_int_equal(back.data.n_txs, 2);
    assert_true(bm_buf_eq_raw(&back.data.txs[1], (const uint8_t *)"tx2", 3));
    assert_true(bm_signed_data_verify_signature(&back));
    back.data.metadata.height = 3;
    assert_false(bm_signed_data_verify_signature(&back));
    bm_signed_data_release(&back);
    bm_signed_data_release(&sd);
    bm_buf_release(&b);
}

static void test_v18_v19_upstream_inputs(void **state)
{
    (void)state;
    struct bm_header h = {0};
    struct bm_data d = {0};
    struct bm_buf b = {0};
    struct bm_hash hh;

    h.height = 1;
    h.time = 1234567890;
    assert_int_equal(bm_buf_set(&h.data_hash, (const uint8_t *)"datahash", 8),
                     BM_OK);
    assert_int_equal(bm_header_encode(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, "0a00100118d285d8cc0432086461746168617368");
    assert_int_equal(bm_header_hash(&h, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "a254db6d1832871f51052203357e6a39c0c94199ddb2f78f5238adb4ca3c8005");

    d.has_metadata = true;
    assert_int_equal(bm_str_set(&d.metadata.chain_id, "test-chain"), BM_OK);
    d.metadata.height = 1;
    d.metadata.time = 1234567890;
    assert_int_equal(bm_buf_set(&d.metadata.last_data_hash,
                                (const uint8_t *)"lastdatahash", 12),
                     BM_OK);
    assert_int_equal(bm_data_add_tx(&d, (const uint8_t *)"tx1", 3), BM_OK);
    assert_int_equal(bm_data_add_tx(&d, (const uint8_t *)"tx2", 3), BM_OK);
    assert_int_equal(bm_data_encode(&d, &b), BM_OK);
    tu_assert_buf_hex(&b, "0a220a0a746573742d636861696e100118d285d8cc04220c6c"
                          "617374646174616861736812037478311203747832");
    assert_int_equal(bm_data_hash(&d, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "6404d4d6b9d75866e12e7a05a2d7cbb42911f7f5523e5e35c4e492068c36379f");
    bm_data_release(&d);
    bm_header_release(&h);
    bm_buf_release(&b);
}

static void test_v20_legacy_hash(void **state)
{
    (void)state;
    char *r01 = tu_rep("01", 32);
    char *r02 = tu_rep("02", 32);
    char *r03 = tu_rep("03", 32);
    char *r04 = tu_rep("04", 32);
    char *v20 = tu_cat("0a00100a18b1d1f9d6032a20", r01, "3220", r04, "3a20",
                       r02, "4a20", r03);
    char *full = tu_cat(v20, "620c6c65676163792d636861696e", NULL, NULL, NULL,
                        NULL, NULL, NULL);
    struct bm_header h = {0};
    struct bm_buf b = {0};
    struct bm_hash hh;

    h.height = 10;
    h.time = 987654321;
    tu_fill(&h.data_hash, 0x04, 32);
    assert_int_equal(bm_str_set(&h.chain_id, "legacy-chain"), BM_OK);
    h.legacy.present = true;
    tu_fill(&h.legacy.last_commit_hash, 0x01, 32);
    tu_fill(&h.legacy.consensus_hash, 0x02, 32);
    tu_fill(&h.legacy.last_results_hash, 0x03, 32);
    assert_int_equal(bm_header_encode_legacy(&h, &b), BM_OK);
    tu_assert_buf_hex(&b, full);
    assert_int_equal(bm_header_hash(&h, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "d83ef28e029f2e5d50807037c01ad35f2cc3b68cfe65dfa096effb94be6c506b");

    /* decoding the legacy bytes keeps 5/7/9; binary form re-emits them
     * after the known fields, in field order */
    struct bm_header back = {0};
    assert_int_equal(bm_header_decode(&back, b.ptr, b.len), BM_OK);
    assert_true(back.legacy.present);
    assert_true(bm_buf_eq(&back.legacy.last_results_hash,
                          &h.legacy.last_results_hash));
    assert_int_equal(bm_header_hash(&back, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "d83ef28e029f2e5d50807037c01ad35f2cc3b68cfe65dfa096effb94be6c506b");
    char *bin = tu_cat("0a00100a18b1d1f9d6033220", r04,
                       "620c6c65676163792d636861696e2a20", r01, "3a20", r02,
                       "4a20", r03);
    assert_int_equal(bm_header_encode(&back, &b), BM_OK);
    tu_assert_buf_hex(&b, bin);
    bm_header_release(&back);
    assert_int_equal(bm_header_decode(&back, b.ptr, b.len), BM_OK);
    assert_int_equal(bm_header_hash(&back, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "d83ef28e029f2e5d50807037c01ad35f2cc3b68cfe65dfa096effb94be6c506b");

    bm_header_release(&back);
    bm_header_release(&h);
    bm_buf_release(&b);
    bm_free(bin);
    bm_free(full);
    bm_free(v20);
    bm_free(r01);
    bm_free(r02);
    bm_free(r03);
    bm_free(r04);
}

static void test_v21_batch_hash(void **state)
{
    (void)state;
    struct bm_batch b = {0};
    struct bm_buf txs[2] = {{(uint8_t *)"tx1", 3}, {(uint8_t *)"tx2", 3}};
    struct bm_hash hh;

    assert_int_equal(bm_batch_hash(&b, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    b.txs = txs;
    b.n_txs = 2;
    assert_int_equal(bm_batch_hash(&b, &hh), BM_OK);
    tu_assert_hex(hh.b, 32,
        "5408871304dc3dfaf976aa6e13a84e3271107476188799877c3dd6d9deb4224a");
}

static void test_v24_last_batch_data(void **state)
{
    (void)state;
    struct bm_buf items[2] = {{(uint8_t *)"ab", 2}, {(uint8_t *)"cde", 3}};
    struct bm_batch in = {0};
    struct bm_batch in2 = {0};
    struct bm_batch out = {0};
    struct bm_buf b = {0};

    in.txs = items;
    in.n_txs = 2;
    assert_int_equal(bm_last_batch_data_encode(&in, &b), BM_OK);
    tu_assert_buf_hex(&b, "02000000616203000000636465");
    assert_int_equal(bm_last_batch_data_decode(&out, b.ptr, b.len), BM_OK);
    assert_int_equal(out.n_txs, 2);
    assert_true(bm_buf_eq(&out.txs[0], &items[0]));
    assert_true(bm_buf_eq(&out.txs[1], &items[1]));
    for (size_t n = 1; n < b.len; n++) {
        if (n == 6) {
            continue; /* a whole first entry: valid */
        }
        assert_int_equal(bm_last_batch_data_decode(&out, b.ptr, n),
                         BM_ETRUNCATED);
        assert_int_equal(out.n_txs, 0);
    }
    assert_int_equal(bm_last_batch_data_decode(&out, b.ptr, 6), BM_OK);
    assert_int_equal(out.n_txs, 1);
    const uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(bm_last_batch_data_decode(&out, huge, 4), BM_ETOOBIG);
    assert_int_equal(out.n_txs, 0);
    /* empty list <-> empty value */
    assert_int_equal(bm_last_batch_data_encode(&in2, &b), BM_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(bm_last_batch_data_decode(&out, NULL, 0), BM_OK);
    assert_int_equal(out.n_txs, 0);
    bm_buf_release(&b);
}

/* ev:types/serialization_test.go TestHeaderSerializationSize: 175 bytes. */
static void test_header_serialization_size(void **state)
{
    (void)state;
    struct bm_header h = {0};
    struct bm_buf b = {0};

    h.version.block = 1;
    h.version.app = 2;
    h.height = 3;
    h.time = 4567;
    assert_int_equal(bm_str_set(&h.chain_id, "test"), BM_OK);
    tu_fill(&h.last_header_hash, 0, 32);
    tu_fill(&h.data_hash, 0, 32);
    tu_fill(&h.app_hash, 0, 32);
    tu_fill(&h.validator_hash, 0, 32);
    tu_fill(&h.proposer_address, 0, 20);
    assert_int_equal(bm_header_encode(&h, &b), BM_OK);
    assert_int_equal(b.len, 175);
    bm_header_release(&h);
    bm_buf_release(&b);
}

/* Readers on several threads: lazy sodium init, decode, hash, verify of a
 * shared read-only input (run under TSan in CI). */
static void *thread_main(void *arg)
{
    const struct bm_buf *v10 = arg;
    uintptr_t bad = 0;

    for (int i = 0; i < 20; i++) {
        struct bm_signed_header sh = {0};
        struct bm_hash hh;
        if (bm_crypto_init() != BM_OK ||
            bm_signed_header_decode(&sh, v10->ptr, v10->len) != BM_OK ||
            bm_header_hash(&sh.header, &hh) != BM_OK || hh.b[0] != 0x3a ||
            !bm_signed_header_verify_signature(&sh)) {
            bad++;
        }
        bm_signed_header_release(&sh);
    }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    struct bm_buf v10 = {0};
    pthread_t t[4];

    tu_hex(&v10, TU_V10);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &v10), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    bm_buf_release(&v10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads), /* first: races the lazy init */
        cmocka_unit_test(test_v1_v3_keys),
        cmocka_unit_test(test_v4_v6_data_commitment),
        cmocka_unit_test(test_v7_v9_legacy_header),
        cmocka_unit_test(test_v10_signed_header_v1),
        cmocka_unit_test(test_v11_v13_slim_header),
        cmocka_unit_test(test_v14_v17_data),
        cmocka_unit_test(test_v18_v19_upstream_inputs),
        cmocka_unit_test(test_v20_legacy_hash),
        cmocka_unit_test(test_v21_batch_hash),
        cmocka_unit_test(test_v24_last_batch_data),
        cmocka_unit_test(test_header_serialization_size),
    };
    return BM_TEST_RUN(tests);
}
