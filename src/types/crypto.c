/* Ed25519 keys, addresses and signatures via libsodium (spec 2.4, 2.5). */
#include "blockv2/types.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/sha256.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc = -1;

static void sodium_init_once(void)
{
    sodium_rc = sodium_init(); /* 0 first time, 1 if already done */
}

enum bm_err bm_crypto_init(void)
{
    pthread_once(&sodium_once, sodium_init_once);
    return sodium_rc < 0 ? BM_ECRYPTO : BM_OK;
}

void bm_privkey_from_seed(struct bm_privkey *out, const uint8_t seed[32])
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];

    (void)bm_crypto_init();
    crypto_sign_seed_keypair(pk, out->b, seed);
    sodium_memzero(pk, sizeof(pk));
}

void bm_privkey_generate(struct bm_privkey *out)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];

    (void)bm_crypto_init();
    crypto_sign_keypair(pk, out->b);
}

void bm_privkey_public(const struct bm_privkey *k,
                       uint8_t pub[BM_PUBKEY_SIZE])
{
    memcpy(pub, k->b + 32, BM_PUBKEY_SIZE);
}

void bm_privkey_wipe(struct bm_privkey *k)
{
    sodium_memzero(k->b, sizeof(k->b));
}

void bm_address_from_pubkey(const uint8_t pub[BM_PUBKEY_SIZE],
                            struct bm_hash *out)
{
    bm_sha256(out->b, pub, BM_PUBKEY_SIZE);
}

enum bm_err bm_signer_from_privkey(struct bm_signer *out,
                                   const struct bm_privkey *k)
{
    struct bm_hash addr;
    enum bm_err err;

    bm_signer_release(out);
    bm_privkey_public(k, out->pub_key);
    bm_address_from_pubkey(out->pub_key, &addr);
    err = bm_buf_set(&out->address, addr.b, sizeof(addr.b));
    if (err) {
        bm_signer_release(out);
        return err;
    }
    out->has_pub_key = true;
    return BM_OK;
}

enum bm_err bm_sign(const struct bm_privkey *k, const uint8_t *msg,
                    size_t len, struct bm_buf *sig)
{
    static const uint8_t empty[1];
    uint8_t *p;
    enum bm_err err = bm_crypto_init();

    bm_buf_release(sig);
    if (err) {
        return err;
    }
    p = bm_malloc(BM_SIGNATURE_SIZE);
    if (p == NULL) {
        return BM_ENOMEM;
    }
    if (crypto_sign_detached(p, NULL, len ? msg : empty, len, k->b) != 0) {
        bm_free(p);
        return BM_ECRYPTO;
    }
    sig->ptr = p;
    sig->len = BM_SIGNATURE_SIZE;
    return BM_OK;
}

bool bm_verify(const uint8_t pub[BM_PUBKEY_SIZE], const uint8_t *msg,
               size_t len, const uint8_t *sig, size_t sig_len)
{
    static const uint8_t empty[1];

    if (sig == NULL || sig_len != BM_SIGNATURE_SIZE ||
        bm_crypto_init() != BM_OK) {
        return false;
    }
    return crypto_sign_verify_detached(sig, len ? msg : empty, len, pub) == 0;
}

/* Signs payload and replaces *sig only on success. */
static enum bm_err sign_buf(const struct bm_privkey *k,
                            const struct bm_buf *payload, struct bm_buf *sig)
{
    struct bm_buf s = {0};
    enum bm_err err = bm_sign(k, payload->ptr, payload->len, &s);

    if (err == BM_OK) {
        bm_buf_release(sig);
        *sig = s;
    }
    return err;
}

enum bm_err bm_signed_header_sign(struct bm_signed_header *sh,
                                  const struct bm_privkey *k)
{
    struct bm_buf payload = {0};
    enum bm_err err = bm_header_signature_payload(&sh->header, &payload);

    if (err == BM_OK) {
        err = sign_buf(k, &payload, &sh->signature);
    }
    bm_buf_release(&payload);
    return err;
}

enum bm_err bm_signed_data_sign(struct bm_signed_data *sd,
                                const struct bm_privkey *k)
{
    struct bm_buf payload = {0};
    enum bm_err err = bm_data_signature_payload(&sd->data, &payload);

    if (err == BM_OK) {
        err = sign_buf(k, &payload, &sd->signature);
    }
    bm_buf_release(&payload);
    return err;
}

enum bm_err bm_da_header_envelope_sign(struct bm_da_header_envelope *e,
                                       const struct bm_privkey *k)
{
    struct bm_buf payload = {0};
    enum bm_err err = bm_envelope_signature_payload(&e->sh, &payload);

    if (err == BM_OK) {
        err = sign_buf(k, &payload, &e->envelope_signature);
    }
    bm_buf_release(&payload);
    return err;
}

bool bm_signed_header_verify_signature_hash(const struct bm_signed_header *sh,
                                            struct bm_hash *hash,
                                            bool *has_hash)
{
    struct bm_buf payload = {0};
    bool ok = false;

    if (has_hash != NULL) {
        *has_hash = false;
    }
    if (!sh->signer.has_pub_key ||
        sh->signature.len != BM_SIGNATURE_SIZE) {
        return false;
    }
    /* the candidates of ev-node's ValidateBasic: binary form, then legacy */
    if (bm_header_signature_payload(&sh->header, &payload) == BM_OK) {
        ok = bm_verify(sh->signer.pub_key, payload.ptr, payload.len,
                       sh->signature.ptr, sh->signature.len);
        /* Without legacy fields the binary form is the slim encoding,
         * whose SHA-256 is Header.Hash() (bm_header_hash). */
        if (ok && hash != NULL && has_hash != NULL &&
            !sh->header.legacy.present) {
            bm_sha256(hash->b, payload.ptr, payload.len);
            *has_hash = true;
        }
    }
    if (!ok && bm_header_encode_legacy(&sh->header, &payload) == BM_OK) {
        ok = bm_verify(sh->signer.pub_key, payload.ptr, payload.len,
                       sh->signature.ptr, sh->signature.len);
    }
    bm_buf_release(&payload);
    return ok;
}

bool bm_signed_header_verify_signature(const struct bm_signed_header *sh)
{
    return bm_signed_header_verify_signature_hash(sh, NULL, NULL);
}

bool bm_signed_data_verify_signature(const struct bm_signed_data *sd)
{
    struct bm_buf payload = {0};
    bool ok = false;

    if (!sd->signer.has_pub_key) {
        return false;
    }
    if (bm_data_signature_payload(&sd->data, &payload) == BM_OK) {
        ok = bm_verify(sd->signer.pub_key, payload.ptr, payload.len,
                       sd->signature.ptr, sd->signature.len);
    }
    bm_buf_release(&payload);
    return ok;
}

bool bm_da_header_envelope_verify_signature(
    const struct bm_da_header_envelope *e)
{
    struct bm_buf payload = {0};
    bool ok = false;

    if (!e->sh.signer.has_pub_key) {
        return false;
    }
    if (bm_envelope_signature_payload(&e->sh, &payload) == BM_OK) {
        ok = bm_verify(e->sh.signer.pub_key, payload.ptr, payload.len,
                       e->envelope_signature.ptr, e->envelope_signature.len);
    }
    bm_buf_release(&payload);
    return ok;
}
