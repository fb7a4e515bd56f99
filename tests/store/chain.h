/*
 * Test helper: builds a linked chain of real, signed blocks (SignedHeader,
 * Data with metadata, State) for the store tests. Header-only; include
 * after bm_test.h.
 */
#ifndef BM_TESTS_STORE_CHAIN_H
#define BM_TESTS_STORE_CHAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "blockv2/store.h"
#include "blockv2/types.h"

#define CHAIN_ID "store-test"

struct chain {
    struct bm_privkey key;
    struct bm_signer signer;
    struct bm_hash last_hash; /* hash of block `height` */
    uint64_t height;          /* last block built (0: none) */
    uint32_t salt;            /* varies tx bytes between forks */
};

static inline enum bm_err chain_init(struct chain *c, uint32_t salt)
{
    uint8_t seed[32];

    memset(c, 0, sizeof(*c));
    if (bm_crypto_init() != BM_OK) {
        return BM_ECRYPTO;
    }
    memset(seed, 0x5a, sizeof(seed));
    bm_privkey_from_seed(&c->key, seed);
    c->salt = salt;
    return bm_signer_from_privkey(&c->signer, &c->key);
}

static inline void chain_release(struct chain *c)
{
    bm_signer_release(&c->signer);
    bm_privkey_wipe(&c->key);
}

/*
 * Builds block c->height + 1 with one tx of tx_len bytes into *out and
 * advances the chain.
 */
static inline enum bm_err chain_next(struct chain *c, size_t tx_len,
                                     struct bm_store_encoded *out)
{
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};
    struct bm_state st = {0};
    struct bm_hash dh;
    uint8_t app[32], *tx = NULL;
    uint64_t h = c->height + 1;
    uint64_t t = 1700000000000000000ull + h * 1000000000ull;
    enum bm_err err = BM_ENOMEM;

    tx = bm_malloc(tx_len ? tx_len : 1);
    if (tx == NULL) {
        goto out;
    }
    for (size_t i = 0; i < tx_len; i++) {
        tx[i] = (uint8_t)(i * 31 + h * 7 + c->salt);
    }
    memset(app, (int)(h & 0xff), sizeof(app));
    d.has_metadata = true;
    d.metadata.height = h;
    d.metadata.time = t;
    err = bm_str_set(&d.metadata.chain_id, CHAIN_ID);
    if (err == BM_OK) {
        err = bm_data_add_tx(&d, tx, tx_len);
    }
    if (err == BM_OK) {
        err = bm_data_da_commitment(&d, &dh);
    }
    if (err != BM_OK) {
        goto out;
    }
    sh.header.version.block = 11;
    sh.header.version.app = 1;
    sh.header.height = h;
    sh.header.time = t;
    if (c->height > 0) {
        err = bm_buf_set(&sh.header.last_header_hash, c->last_hash.b,
                         BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = bm_buf_set(&sh.header.data_hash, dh.b, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = bm_buf_set(&sh.header.app_hash, app, sizeof(app));
    }
    if (err == BM_OK) {
        err = bm_buf_copy(&sh.header.proposer_address, &c->signer.address);
    }
    if (err == BM_OK) {
        err = bm_str_set(&sh.header.chain_id, CHAIN_ID);
    }
    if (err == BM_OK) {
        err = bm_signer_copy(&sh.signer, &c->signer);
    }
    if (err == BM_OK) {
        err = bm_signed_header_sign(&sh, &c->key);
    }
    if (err != BM_OK) {
        goto out;
    }
    st.version.block = 11;
    st.version.app = 1;
    st.initial_height = 1;
    st.last_block_height = h;
    st.last_block_time.seconds = (int64_t)(t / 1000000000ull);
    err = bm_str_set(&st.chain_id, CHAIN_ID);
    if (err == BM_OK) {
        err = bm_buf_set(&st.app_hash, app, sizeof(app));
    }
    if (err == BM_OK) {
        err = bm_header_hash(&sh.header, &c->last_hash);
    }
    if (err == BM_OK) {
        err = bm_buf_set(&st.last_header_hash, c->last_hash.b, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = bm_store_encoded_init(out, &sh, &d, &st);
    }
    if (err == BM_OK) {
        c->height = h;
    }
out:
    bm_free(tx);
    bm_signed_header_release(&sh);
    bm_data_release(&d);
    bm_state_release(&st);
    return err;
}

/* Continues the chain from the store's tip (nothing stored: height 0). */
static inline enum bm_err chain_resume(struct chain *c, struct bm_store *s)
{
    struct bm_signed_header sh = {0};
    struct bm_buf hb = {0};
    uint64_t tip;
    enum bm_err err = bm_store_height(s, &tip, NULL);

    if (err == BM_ENOTFOUND) {
        c->height = 0;
        return BM_OK;
    }
    if (err != BM_OK) {
        return err;
    }
    err = bm_store_get_header(s, tip, &hb, NULL);
    if (err == BM_OK) {
        err = bm_signed_header_decode(&sh, hb.ptr, hb.len);
    }
    if (err == BM_OK) {
        err = bm_header_hash(&sh.header, &c->last_hash);
    }
    if (err == BM_OK) {
        c->height = tip;
    }
    bm_signed_header_release(&sh);
    bm_buf_release(&hb);
    return err;
}

/* Builds and commits n blocks in one batch. */
static inline enum bm_err chain_commit(struct chain *c, struct bm_store *s,
                                       size_t n, size_t tx_len,
                                       struct bm_errmsg *em)
{
    struct bm_store_encoded enc[64];
    struct bm_store_block blk[64];
    struct bm_store_batch b = {.blocks = blk, .n_blocks = n};
    struct chain saved = *c;
    enum bm_err err = BM_OK;
    size_t built = 0;

    if (n > 64) {
        return BM_EINVAL;
    }
    memset(enc, 0, sizeof(enc));
    for (; built < n && err == BM_OK; built++) {
        err = chain_next(c, tx_len, &enc[built]);
        bm_store_encoded_view(&enc[built], &blk[built]);
    }
    if (err == BM_OK) {
        err = bm_store_write(s, &b, em);
    }
    if (err != BM_OK) {
        /* Keep the chain in step with the store. */
        c->height = saved.height;
        c->last_hash = saved.last_hash;
    }
    for (size_t i = 0; i < built; i++) {
        bm_store_encoded_release(&enc[i]);
    }
    return err;
}

#endif /* BM_TESTS_STORE_CHAIN_H */
