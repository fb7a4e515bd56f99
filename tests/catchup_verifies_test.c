/*
 * Each signature once (docs/VALIDATION.md): a fresh full node catches up a
 * small chain from the real local DA server, and the Ed25519
 * verifications it makes are counted by the wrapper of
 * bench/verifycount.c (linked into this test: it replaces libsodium's
 * crypto_sign_verify_detached for the whole process).
 *
 * An aggregator makes the chain (some blocks with txs, most empty) and is
 * closed; the blobs on the DA are then counted: every header envelope
 * carries two signatures (the header's own and the envelope's), a legacy
 * SignedHeader one, a SignedData with txs one (empty blocks post no data
 * blob). The full node must verify exactly that many, and none twice (a
 * repeat is the same signature, key and message checked again, wherever:
 * Retriever, Sync, Validator, the group path, the last block of a group).
 */
#include "bm_test.h"

#include <string.h>

#include "blockv2/da.h"
#include "blockv2/manager.h"
#include "blockv2/types.h"
#include "util/errmsg.h"

#include "manager_rig.h"
#include "bench/verifycount.h"

#define N_BLOCKS 40

/* What the full node must verify: the signatures on the DA at url. */
struct da_sigs {
    uint64_t envelopes;  /* header blobs with an envelope signature */
    uint64_t legacy;     /* header blobs without */
    uint64_t data;       /* SignedData blobs with txs */
};

static void count_da_signatures(const char *url, struct da_sigs *out)
{
    struct bm_da_namespaces ns;
    uint64_t head;
    struct bm_da_client *c = da_reader(url, &ns, &head);

    memset(out, 0, sizeof(*out));
    for (uint64_t h = 1; h <= head; h++) {
        struct bm_da_blob_list l = {0};

        /* A height without our blobs: BM_ENOTFOUND (nothing to count). */
        if (bm_da_client_get_all(c, h, &ns.header, 1, 0, &l, NULL) !=
            BM_OK) {
            bm_da_blob_list_release(&l);
        }
        for (size_t i = 0; i < l.n; i++) {
            struct bm_da_header_envelope e = {0};

            assert_int_equal(bm_da_header_envelope_decode(
                                 &e, l.v[i].data.ptr, l.v[i].data.len),
                             BM_OK);
            if (e.envelope_signature.len > 0) {
                out->envelopes++;
            } else {
                out->legacy++;
            }
            bm_da_header_envelope_release(&e);
        }
        bm_da_blob_list_release(&l);
        if (bm_da_client_get_all(c, h, &ns.data, 1, 0, &l, NULL) != BM_OK) {
            bm_da_blob_list_release(&l);
        }
        for (size_t i = 0; i < l.n; i++) {
            struct bm_signed_data sd = {0};

            assert_int_equal(bm_signed_data_decode(&sd, l.v[i].data.ptr,
                                                   l.v[i].data.len),
                             BM_OK);
            if (sd.data.n_txs > 0) {
                out->data++;
            }
            bm_signed_data_release(&sd);
        }
        bm_da_blob_list_release(&l);
    }
    bm_da_client_free(c);
}

static uint64_t verifies_since(const struct vc_counts *c0)
{
    struct vc_counts c;

    vc_read(&c);
    return c.verifies - c0->verifies;
}

static void test_each_signature_once(void **state)
{
    char da_home[256], agg_home[256], full_home[256], url[64];
    struct bm_da_server *da;
    struct mt_node agg, full;
    struct bm_manager_config ca, cf;
    struct da_sigs sigs;
    struct vc_counts c0, c1;
    uint64_t target, want;
    unsigned polls = 0;

    (void)state;
    genesis_init();
    new_home(da_home, sizeof(da_home));
    new_home(agg_home, sizeof(agg_home));
    new_home(full_home, sizeof(full_home));
    da = da_start(da_home, 0, 0, url, sizeof(url));
    cfg_fast(&ca, true);
    cfg_fast(&cf, false);

    /* The chain: txs now and then, so that both kinds of block exist. */
    mt_open(&agg, agg_home, true, url, &ca);
    mt_start(&agg);
    WAIT_FOR((polls++ % 8 == 0 ? add_txs(&agg, 3) : (void)0,
              height_of(&agg) >= N_BLOCKS),
             120000, "aggregator to make the chain");
    WAIT_FOR(bm_manager_get_da_included_height(agg.m) >= N_BLOCKS, 120000,
             "the chain on the DA");
    target = bm_manager_get_da_included_height(agg.m);
    assert_int_equal(mt_close(&agg), BM_OK);

    count_da_signatures(url, &sigs);
    want = 2 * sigs.envelopes + sigs.legacy + sigs.data;
    assert_true(sigs.envelopes >= target);
    assert_true(sigs.data > 0);
    assert_true(sigs.data < sigs.envelopes);

    /* The catch-up: counted from the start (the manager's key-pair self
     * check at open is not a blob's). */
    mt_open(&full, full_home, false, url, &cf);
    vc_forget();
    vc_read(&c0);
    mt_start(&full);
    WAIT_FOR(height_of(&full) >= target, 120000, "full node to catch up");
    WAIT_FOR(bm_manager_get_da_included_height(full.m) >= target, 120000,
             "full node DA-included height");
    WAIT_FOR(verifies_since(&c0) >= want, 120000,
             "every blob on the DA checked");
    /* Anything checked a second time would show here. */
    bm_sleep_ms(300);
    vc_read(&c1);
    print_message("DA: %llu envelopes, %llu legacy headers, %llu data "
                  "blobs with txs; %llu verifies, %llu repeated\n",
                  (unsigned long long)sigs.envelopes,
                  (unsigned long long)sigs.legacy,
                  (unsigned long long)sigs.data,
                  (unsigned long long)(c1.verifies - c0.verifies),
                  (unsigned long long)(c1.repeats - c0.repeats));
    assert_int_equal(c1.repeats - c0.repeats, 0);
    assert_int_equal(c1.verifies - c0.verifies, want);

    assert_int_equal(mt_close(&full), BM_OK);
    bm_da_server_stop(da);
    rm_rf(da_home);
    rm_rf(agg_home);
    rm_rf(full_home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_signature_once),
    };

    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    bm_genesis_release(&g_gen);
    bm_privkey_wipe(&g_key);
    return bm_test_check_leaks(rc);
}
