/* A signed chain for the P2P sync tests and benchmark; chain_fixture.h. */
#include "chain_fixture.h"
#include "util/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockv2/validate.h"
#include "util/alloc.h"

static int build_block(struct cf_chain *c, uint64_t h, unsigned txs,
                       uint64_t time_ns)
{
    struct cf_block *b = &c->b[h];
    struct bm_header *hd = &b->sh.header;
    struct bm_hash dh;
    int err = BM_OK;

    for (unsigned i = 0; err == BM_OK && h % 4 != 0 && i < txs; i++) {
        char tx[48];
        int n = snprintf(tx, sizeof(tx), "h%llu-%u=v", (unsigned long long)h,
                         i);

        err = bm_data_add_tx(&b->data, (const uint8_t *)tx, (size_t)n);
    }
    hd->version.block = 11;
    hd->height = h;
    hd->time = time_ns;
    if (err == BM_OK && h > 1) {
        err = bm_buf_set(&hd->last_header_hash, c->b[h - 1].hash.b,
                         BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        if (b->data.n_txs == 0) {
            dh = bm_empty_data_hash;
        } else {
            err = bm_data_da_commitment(&b->data, &dh);
        }
    }
    if (err == BM_OK) {
        err = bm_buf_set(&hd->data_hash, dh.b, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        uint8_t zero[BM_HASH_SIZE] = {0};

        err = bm_buf_set(&hd->app_hash, zero, sizeof(zero));
    }
    if (err == BM_OK) {
        err = bm_buf_copy(&hd->proposer_address, &c->genesis.proposer_address);
    }
    if (err == BM_OK) {
        err = bm_str_set(&hd->chain_id, c->genesis.chain_id);
    }
    if (err == BM_OK) {
        b->data.has_metadata = true;
        b->data.metadata.height = h;
        b->data.metadata.time = time_ns;
        err = bm_str_set(&b->data.metadata.chain_id, c->genesis.chain_id);
    }
    if (err == BM_OK && h > 1) {
        struct bm_hash ph;

        err = bm_data_hash(&c->b[h - 1].data, &ph);
        if (err == BM_OK) {
            err = bm_buf_set(&b->data.metadata.last_data_hash, ph.b,
                             BM_HASH_SIZE);
        }
    }
    if (err == BM_OK) {
        err = bm_signer_from_privkey(&b->sh.signer, &c->key);
    }
    if (err == BM_OK) {
        err = bm_signed_header_sign(&b->sh, &c->key);
    }
    if (err == BM_OK) {
        err = bm_header_hash(hd, &b->hash);
    }
    if (err == BM_OK) {
        err = bm_signed_header_encode(&b->sh, &b->header_bytes);
    }
    if (err == BM_OK) {
        err = bm_data_encode(&b->data, &b->data_bytes);
    }
    return err;
}

int cf_chain_build(struct cf_chain *c, const char *chain_id, uint8_t seed,
                   uint64_t n, unsigned txs)
{
    uint8_t s32[32];
    uint8_t pub[BM_PUBKEY_SIZE];
    struct bm_hash addr;
    uint64_t start;
    int err;

    memset(c, 0, sizeof(*c));
    memset(s32, seed, sizeof(s32));
    bm_privkey_from_seed(&c->key, s32);
    bm_privkey_public(&c->key, pub);
    bm_address_from_pubkey(pub, &addr);
    start = bm_validate_now_ns() - 1000000000ull - n * 1000000ull;
    err = bm_str_set(&c->genesis.chain_id, chain_id);
    if (err == BM_OK) {
        err = bm_buf_set(&c->genesis.proposer_address, addr.b, BM_HASH_SIZE);
    }
    c->genesis.start_time_ns = start;
    c->genesis.initial_height = 1;
    c->genesis.da_epoch_forced_inclusion = 50;
    c->b = bm_xcalloc(n + 1, sizeof(*c->b));
    c->n = n;
    for (uint64_t h = 1; err == BM_OK && h <= n; h++) {
        err = build_block(c, h, txs, start + h * 1000000ull);
    }
    if (err != BM_OK) {
        cf_chain_release(c);
    }
    return err;
}

void cf_chain_release(struct cf_chain *c)
{
    for (uint64_t h = 0; c->b != NULL && h <= c->n; h++) {
        bm_signed_header_release(&c->b[h].sh);
        bm_data_release(&c->b[h].data);
        bm_buf_release(&c->b[h].header_bytes);
        bm_buf_release(&c->b[h].data_bytes);
    }
    bm_free(c->b);
    bm_genesis_release(&c->genesis);
    bm_privkey_wipe(&c->key);
    memset(c, 0, sizeof(*c));
}

/* The State after block h. */
static int state_after(const struct cf_chain *c, uint64_t h,
                       struct bm_buf *out)
{
    struct bm_state st = {0};
    const struct bm_header *hd = &c->b[h].sh.header;
    int err;

    st.version.block = 11;
    st.initial_height = c->genesis.initial_height;
    st.last_block_height = h;
    st.last_block_time.seconds = (int64_t)(hd->time / 1000000000ull);
    st.last_block_time.nanos = (int32_t)(hd->time % 1000000000ull);
    err = bm_str_set(&st.chain_id, c->genesis.chain_id);
    if (err == BM_OK) {
        err = bm_buf_copy(&st.app_hash, &hd->app_hash);
    }
    if (err == BM_OK) {
        err = bm_buf_set(&st.last_header_hash, c->b[h].hash.b, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = bm_state_encode(&st, out);
    }
    bm_state_release(&st);
    return err;
}

int cf_store_write(struct bm_store *s, const struct cf_chain *c,
                   uint64_t from, uint64_t to)
{
    struct bm_store_block *blocks;
    int err = BM_OK;

    blocks = bm_xcalloc(1000, sizeof(*blocks));
    for (uint64_t lo = from; err == BM_OK && lo <= to; lo += 1000) {
        uint64_t hi = lo + 999 < to ? lo + 999 : to;
        struct bm_buf state = {0};
        struct bm_store_batch batch = {0};
        size_t k = 0;

        for (uint64_t h = lo; h <= hi; h++, k++) {
            const struct cf_block *b = &c->b[h];

            memset(&blocks[k], 0, sizeof(blocks[k]));
            blocks[k].height = h;
            blocks[k].hash = b->hash;
            blocks[k].header = b->header_bytes.ptr;
            blocks[k].header_len = b->header_bytes.len;
            blocks[k].data = b->data_bytes.ptr;
            blocks[k].data_len = b->data_bytes.len;
            blocks[k].signature = b->sh.signature.ptr;
            blocks[k].signature_len = b->sh.signature.len;
        }
        err = state_after(c, hi, &state);
        if (err == BM_OK) {
            blocks[k - 1].state = state.ptr;
            blocks[k - 1].state_len = state.len;
            batch.blocks = blocks;
            batch.n_blocks = k;
            err = bm_store_write(s, &batch, NULL);
        }
        bm_buf_release(&state);
    }
    bm_free(blocks);
    return err;
}

int cf_temp_store_open(const char *tag, char *home, size_t home_len,
                       struct bm_store **out)
{
    int err;

    *out = NULL;
    snprintf(home, home_len, "/tmp/bm-%s-XXXXXX", tag);
    if (mkdtemp(home) == NULL) {
        return BM_ESYS;
    }
    err = bm_store_open(out, home, NULL, NULL);
    if (err != BM_OK) {
        (void)bm_file_remove_tree(home);
    }
    return err;
}

void cf_temp_store_close(const char *home, struct bm_store *s)
{
    bm_store_close(s);
    (void)bm_file_remove_tree(home);
}

int cf_p2p_header_of(const struct bm_signed_header *sh,
                     const struct bm_privkey *key, struct bm_buf *out)
{
    struct bm_p2p_signed_header p;
    struct bm_signed_header copy = {0};
    int err = bm_signed_header_copy(&copy, sh);

    if (err == BM_OK && key != NULL) {
        err = bm_signed_header_sign(&copy, key);
    }
    if (err == BM_OK) {
        memset(&p, 0, sizeof(p));
        p.sh = copy;
        p.has_da_height_hint = true;
        err = bm_p2p_signed_header_encode(&p, out);
    }
    bm_signed_header_release(&copy);
    return err;
}

int cf_p2p_header(const struct cf_chain *c, uint64_t h, uint64_t hint,
                  struct bm_buf *out)
{
    struct bm_p2p_signed_header p;

    memset(&p, 0, sizeof(p));
    p.sh = c->b[h].sh; /* borrowed for the encode */
    p.has_da_height_hint = true;
    p.da_height_hint = hint;
    return bm_p2p_signed_header_encode(&p, out);
}

int cf_p2p_data(const struct cf_chain *c, uint64_t h, uint64_t hint,
                struct bm_buf *out)
{
    struct bm_p2p_data p;

    memset(&p, 0, sizeof(p));
    p.data = c->b[h].data; /* borrowed for the encode */
    p.has_da_height_hint = true;
    p.da_height_hint = hint;
    return bm_p2p_data_encode(&p, out);
}
