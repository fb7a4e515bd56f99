/*
 * Sizes of the DA blobs of a block this node produces (types.h, "DA blob
 * sizes"): how many bytes of txs a SignedData blob can hold, and the
 * largest DAHeaderEnvelope. Both are measured by encoding a skeleton whose
 * fixed fields take their largest encoded size, so they hold for every
 * block whatever its height, time or hashes.
 */
#include "blockv2/types.h"

#include <string.h>

static size_t varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t bm_data_tx_wire_size(size_t len)
{
    /* field 2, wire type 2: a one-byte tag, the length, the bytes */
    return 1 + varint_len(len) + len;
}

size_t bm_data_max_tx_len(size_t budget)
{
    size_t len;

    if (budget < 2) {
        return 0;
    }
    len = budget - 2;
    while (len > 0 && bm_data_tx_wire_size(len) > budget) {
        len--;
    }
    return len;
}

/* An Ed25519 signer with a 32-byte address (what our producer signs
 * with); the key bytes do not change the size. */
static enum bm_err skeleton_signer(struct bm_signer *s)
{
    static const uint8_t addr[BM_HASH_SIZE] = {0};

    memset(s, 0, sizeof(*s));
    s->has_pub_key = true;
    memset(s->pub_key, 0xff, sizeof(s->pub_key));
    return bm_buf_set(&s->address, addr, sizeof(addr));
}

static enum bm_err hash_field(struct bm_buf *b, size_t len)
{
    static const uint8_t zeros[BM_MAX_HASH_FIELD] = {0};

    if (len > sizeof(zeros)) {
        return BM_ETOOBIG;
    }
    return bm_buf_set(b, zeros, len);
}

enum bm_err bm_signed_data_tx_budget(size_t max_blob, const char *chain_id,
                                     size_t *budget)
{
    struct bm_signed_data sd;
    struct bm_buf enc = {0};
    size_t overhead;
    enum bm_err err;

    *budget = 0;
    memset(&sd, 0, sizeof(sd));
    sd.data.has_metadata = true;
    sd.data.metadata.height = UINT64_MAX;
    sd.data.metadata.time = UINT64_MAX;
    err = bm_str_set(&sd.data.metadata.chain_id, chain_id);
    if (err == BM_OK) {
        err = hash_field(&sd.data.metadata.last_data_hash, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = hash_field(&sd.signature, BM_SIGNATURE_SIZE);
    }
    if (err == BM_OK) {
        err = skeleton_signer(&sd.signer);
    }
    if (err == BM_OK) {
        err = bm_signed_data_encode(&sd, &enc);
    }
    if (err != BM_OK) {
        goto out;
    }
    /* The Data field's length prefix grows with the txs, at most to the
     * varint of the largest message we encode. */
    overhead = enc.len + varint_len(BM_MAX_MESSAGE_SIZE) - 1;
    if (max_blob <= overhead || max_blob - overhead < bm_data_tx_wire_size(1)) {
        err = BM_ETOOBIG;
        goto out;
    }
    *budget = max_blob - overhead;
out:
    bm_buf_release(&enc);
    bm_signed_data_release(&sd);
    return err;
}

enum bm_err bm_da_header_envelope_max_size(const char *chain_id,
                                           size_t app_hash_len, size_t *out)
{
    struct bm_da_header_envelope e;
    struct bm_header *h = &e.sh.header;
    struct bm_buf enc = {0};
    enum bm_err err;

    *out = 0;
    memset(&e, 0, sizeof(e));
    h->version.block = UINT64_MAX;
    h->version.app = UINT64_MAX;
    h->height = UINT64_MAX;
    h->time = UINT64_MAX;
    err = bm_str_set(&h->chain_id, chain_id);
    if (err == BM_OK) {
        err = hash_field(&h->last_header_hash, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = hash_field(&h->data_hash, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = hash_field(&h->app_hash, app_hash_len);
    }
    if (err == BM_OK) {
        err = hash_field(&h->proposer_address, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = hash_field(&h->validator_hash, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = hash_field(&e.sh.signature, BM_SIGNATURE_SIZE);
    }
    if (err == BM_OK) {
        err = hash_field(&e.envelope_signature, BM_SIGNATURE_SIZE);
    }
    if (err == BM_OK) {
        err = skeleton_signer(&e.sh.signer);
    }
    if (err == BM_OK) {
        err = bm_da_header_envelope_encode(&e, &enc);
    }
    if (err == BM_OK) {
        *out = enc.len;
    }
    bm_buf_release(&enc);
    bm_da_header_envelope_release(&e);
    return err;
}
