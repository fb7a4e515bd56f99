/* Header, data and batch hashes, signature payloads (spec 2.1-2.4, 7.1). */
#include "blockv2/types.h"

#include <string.h>

#include <sodium.h>

#include "types/codec.h"
#include "util/alloc.h"
#include "util/sha256.h"

const struct bm_hash bm_empty_data_hash = {{
    0x6e, 0x34, 0x0b, 0x9c, 0xff, 0xb3, 0x7a, 0x98, 0x9c, 0xa5, 0x44,
    0xe6, 0xbb, 0x78, 0x0a, 0x2c, 0x78, 0x90, 0x1d, 0x3f, 0xb3, 0x37,
    0x38, 0x76, 0x85, 0x11, 0xa3, 0x06, 0x17, 0xaf, 0xa0, 0x1d,
}};

static void sha256_leaf(const struct bm_buf *b, struct bm_hash *out)
{
    static const uint8_t zero = 0;
    const uint8_t *ptrs[2] = {&zero, b->ptr};
    size_t lens[2] = {1, b->len};

    bm_sha256_parts(out->b, ptrs, lens, 2);
}

static bool legacy_nonzero(const struct bm_header *h)
{
    return h->legacy.present && (h->legacy.last_commit_hash.len > 0 ||
                                 h->legacy.consensus_hash.len > 0 ||
                                 h->legacy.last_results_hash.len > 0);
}

enum bm_err bm_header_hash(const struct bm_header *h, struct bm_hash *out)
{
    struct bm_buf b = {0};
    enum bm_err err;

    if (legacy_nonzero(h)) {
        err = bm_header_encode_legacy(h, &b);
    } else {
        err = bm_header_encode_slim(h, &b);
    }
    if (err == BM_OK) {
        bm_sha256(out->b, b.ptr, b.len);
    }
    bm_buf_release(&b);
    return err;
}

enum bm_err bm_data_hash(const struct bm_data *d, struct bm_hash *out)
{
    struct bm_buf b = {0};
    enum bm_err err = bm__data_encode(d, true, &b);

    if (err == BM_OK) {
        sha256_leaf(&b, out);
    }
    bm_buf_release(&b);
    return err;
}

enum bm_err bm_data_da_commitment(const struct bm_data *d, struct bm_hash *out)
{
    return bm_txs_da_commitment(d->txs, d->n_txs, out);
}

enum bm_err bm_txs_da_commitment(const struct bm_buf *txs, size_t n_txs,
                                 struct bm_hash *out)
{
    struct bm_data d = {0};
    struct bm_buf b = {0};
    enum bm_err err;

    /* a borrowing view: bm__data_encode only reads */
    d.txs = (struct bm_buf *)txs;
    d.n_txs = n_txs;
    err = bm__data_encode(&d, false, &b);
    if (err == BM_OK) {
        sha256_leaf(&b, out);
    }
    bm_buf_release(&b);
    return err;
}

enum bm_err bm_batch_hash(const struct bm_batch *b, struct bm_hash *out)
{
    crypto_hash_sha256_state st;
    uint8_t be[8];

    crypto_hash_sha256_init(&st);
    if (b->n_txs > 0) {
        bm_put_be64(be, b->n_txs);
        crypto_hash_sha256_update(&st, be, sizeof(be));
        for (size_t i = 0; i < b->n_txs; i++) {
            bm_put_be64(be, b->txs[i].len);
            crypto_hash_sha256_update(&st, be, sizeof(be));
            if (b->txs[i].len > 0) {
                crypto_hash_sha256_update(&st, b->txs[i].ptr, b->txs[i].len);
            }
        }
    }
    crypto_hash_sha256_final(&st, out->b);
    return BM_OK;
}

bool bm_header_expects_empty_data(const struct bm_header *h)
{
    return h->data_hash.len == 0 ||
           bm_buf_eq_raw(&h->data_hash, bm_empty_data_hash.b, BM_HASH_SIZE);
}

/* Go: Header.MarshalBinary(), i.e. the binary form with legacy fields
 * re-emitted; equal to the slim bytes for every header without them. */
enum bm_err bm_header_signature_payload(const struct bm_header *h,
                                        struct bm_buf *out)
{
    return bm_header_encode(h, out);
}

enum bm_err bm_data_signature_payload(const struct bm_data *d,
                                      struct bm_buf *out)
{
    return bm_data_encode(d, out);
}

enum bm_err bm_envelope_signature_payload(const struct bm_signed_header *sh,
                                          struct bm_buf *out)
{
    return bm_signed_header_encode(sh, out);
}
