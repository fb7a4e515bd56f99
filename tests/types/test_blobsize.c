/*
 * DA blob sizes of produced blocks (src/types/blobsize.c): the tx wire
 * size, the tx budget of a SignedData blob (a block filled to the budget
 * with random tx sizes, signed and encoded, fits the limit and wastes
 * little), the longest tx a budget holds, and the largest header
 * envelope.
 */
#include "bm_test.h"

#include <stdlib.h>
#include <string.h>

#include "blockv2/types.h"
#include "util/alloc.h"

static void test_tx_wire_size(void **state)
{
    (void)state;
    assert_int_equal(bm_data_tx_wire_size(0), 2);
    assert_int_equal(bm_data_tx_wire_size(1), 3);
    assert_int_equal(bm_data_tx_wire_size(127), 129);
    assert_int_equal(bm_data_tx_wire_size(128), 131);
    assert_int_equal(bm_data_tx_wire_size(16383), 16386);
    assert_int_equal(bm_data_tx_wire_size(16384), 16388);
    /* The encoder agrees: one tx of each size in a Data without
     * metadata takes exactly that. */
    for (size_t len = 0; len < 20000; len += 97) {
        struct bm_data d = {0};
        struct bm_buf enc = {0};
        uint8_t *tx = bm_xcalloc(1, len + 1);

        assert_int_equal(bm_data_add_tx(&d, tx, len), BM_OK);
        assert_int_equal(bm_data_encode(&d, &enc), BM_OK);
        assert_int_equal(enc.len, bm_data_tx_wire_size(len));
        bm_buf_release(&enc);
        bm_data_release(&d);
        bm_free(tx);
    }
}

static void test_max_tx_len(void **state)
{
    (void)state;
    assert_int_equal(bm_data_max_tx_len(0), 0);
    assert_int_equal(bm_data_max_tx_len(2), 0);
    assert_int_equal(bm_data_max_tx_len(3), 1);
    assert_int_equal(bm_data_max_tx_len(129), 127);
    assert_int_equal(bm_data_max_tx_len(130), 127);
    assert_int_equal(bm_data_max_tx_len(131), 128);
    for (size_t b = 3; b < 40000; b += 131) {
        size_t l = bm_data_max_tx_len(b);

        assert_true(bm_data_tx_wire_size(l) <= b);
        assert_true(bm_data_tx_wire_size(l + 1) > b);
    }
}

/* A block as our producer makes it: metadata, txs; signed SignedData. */
static size_t signed_data_len(const struct bm_privkey *k, const char *chain,
                              size_t *const lens, size_t n)
{
    struct bm_signed_data sd = {0};
    struct bm_buf enc = {0};
    uint8_t hash[BM_HASH_SIZE];
    uint8_t *tx = bm_xcalloc(1, 70000);
    size_t len;

    memset(hash, 0xab, sizeof(hash));
    memset(tx, 'x', 70000);
    sd.data.has_metadata = true;
    sd.data.metadata.height = 123456789;
    sd.data.metadata.time = 1765000000000000000ull;
    assert_int_equal(bm_str_set(&sd.data.metadata.chain_id, chain), BM_OK);
    assert_int_equal(bm_buf_set(&sd.data.metadata.last_data_hash, hash,
                                sizeof(hash)), BM_OK);
    sd.data.txs = bm_xcalloc(n, sizeof(*sd.data.txs));
    sd.data.n_txs = n;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bm_buf_set(&sd.data.txs[i], tx, lens[i]), BM_OK);
    }
    assert_int_equal(bm_signer_from_privkey(&sd.signer, k), BM_OK);
    assert_int_equal(bm_signed_data_sign(&sd, k), BM_OK);
    assert_int_equal(bm_signed_data_encode(&sd, &enc), BM_OK);
    len = enc.len;
    bm_buf_release(&enc);
    bm_signed_data_release(&sd);
    bm_free(tx);
    return len;
}

/* Random tx sizes (1 byte to 64 KiB) filling the budget as the sequencer
 * does: the signed blob fits the limit, within a few hundred bytes. */
static void test_budget_fits(void **state)
{
    static const size_t limits[] = {1974272, 500000, 65536, 4096, 1000};
    static const char *const chains[] = {"c", "a-much-longer-chain-id-2026"};
    struct bm_privkey k;
    uint8_t seed[32];
    size_t budget = 0;

    (void)state;
    assert_int_equal(bm_crypto_init(), BM_OK);
    memset(seed, 7, sizeof(seed));
    bm_privkey_from_seed(&k, seed);
    srand(12345);
    for (size_t c = 0; c < 2; c++) {
        for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
            for (int round = 0; round < 4; round++) {
                size_t max = limits[l];
                size_t *lens;
                size_t n = 0, used = 0, got;
                size_t cap = round == 0 ? 1 : round == 1 ? 100 : 65536;

                if (cap == 1 && max > 65536) {
                    continue; /* a million 1-byte txs: slow, adds nothing */
                }

                lens = bm_xcalloc(max / 3 + 1, sizeof(*lens));
                assert_int_equal(bm_signed_data_tx_budget(max, chains[c],
                                                          &budget),
                                 BM_OK);
                assert_true(budget < max);
                for (;;) {
                    size_t len = 1 + (size_t)rand() % cap;

                    if (used + bm_data_tx_wire_size(len) > budget) {
                        /* Top up with the longest tx that still fits. */
                        len = bm_data_max_tx_len(budget - used);
                        if (len == 0) {
                            break;
                        }
                    }
                    lens[n++] = len;
                    used += bm_data_tx_wire_size(len);
                }
                got = signed_data_len(&k, chains[c], lens, n);
                assert_true(got <= max);
                assert_true(got + 300 >= max);
                bm_free(lens);
            }
        }
    }
    /* No room for even one tx. */
    assert_int_equal(bm_signed_data_tx_budget(64, "c", &budget), BM_ETOOBIG);
    assert_int_equal(budget, 0);
}

/* The largest envelope bounds real ones and grows with the app hash. */
static void test_header_envelope_max(void **state)
{
    struct bm_da_header_envelope e = {0};
    struct bm_header *h = &e.sh.header;
    struct bm_buf enc = {0};
    struct bm_privkey k;
    uint8_t seed[32], hash[BM_HASH_SIZE];
    size_t max32 = 0, max64 = 0;

    (void)state;
    memset(seed, 9, sizeof(seed));
    memset(hash, 0xcd, sizeof(hash));
    bm_privkey_from_seed(&k, seed);
    assert_int_equal(bm_da_header_envelope_max_size("chain", 32, &max32),
                     BM_OK);
    assert_int_equal(bm_da_header_envelope_max_size("chain", 64, &max64),
                     BM_OK);
    assert_int_equal(max64, max32 + 32);
    assert_int_equal(bm_da_header_envelope_max_size("chain", 5000, &max64),
                     BM_ETOOBIG);
    h->version.block = 11;
    h->version.app = 3;
    h->height = 1ull << 40;
    h->time = 1765000000000000000ull;
    assert_int_equal(bm_str_set(&h->chain_id, "chain"), BM_OK);
    assert_int_equal(bm_buf_set(&h->last_header_hash, hash, 32), BM_OK);
    assert_int_equal(bm_buf_set(&h->data_hash, hash, 32), BM_OK);
    assert_int_equal(bm_buf_set(&h->app_hash, hash, 32), BM_OK);
    assert_int_equal(bm_buf_set(&h->proposer_address, hash, 32), BM_OK);
    assert_int_equal(bm_signer_from_privkey(&e.sh.signer, &k), BM_OK);
    assert_int_equal(bm_signed_header_sign(&e.sh, &k), BM_OK);
    assert_int_equal(bm_da_header_envelope_sign(&e, &k), BM_OK);
    assert_int_equal(bm_da_header_envelope_encode(&e, &enc), BM_OK);
    assert_true(enc.len <= max32);
    assert_true(enc.len + 80 >= max32);
    bm_buf_release(&enc);
    bm_da_header_envelope_release(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_wire_size),
        cmocka_unit_test(test_max_tx_len),
        cmocka_unit_test(test_budget_fits),
        cmocka_unit_test(test_header_envelope_max),
    };

    return BM_TEST_RUN(tests);
}
