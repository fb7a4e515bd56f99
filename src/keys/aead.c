#include "keys/aead.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <limits.h>
#include <stdatomic.h>
#include <string.h>

static atomic_int forced_backend = BM__AEAD_AUTO;

void bm__aead_set_backend(enum bm__aead_backend b)
{
    atomic_store(&forced_backend, (int)b);
}

static enum bm__aead_backend pick(void)
{
    int b = atomic_load(&forced_backend);

    if (b != BM__AEAD_AUTO) {
        return (enum bm__aead_backend)b;
    }
    if (sodium_init() >= 0 && crypto_aead_aes256gcm_is_available()) {
        return BM__AEAD_SODIUM;
    }
    return BM__AEAD_OPENSSL;
}

const char *bm__aead_backend_name(void)
{
    return pick() == BM__AEAD_SODIUM ? "libsodium" : "openssl";
}

static enum bm_err ossl_seal(const uint8_t *key, const uint8_t *nonce,
                             const uint8_t *pt, size_t n, uint8_t *ct)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    enum bm_err err = BM_ECRYPTO;
    int len = 0, fin = 0;

    if (ctx == NULL) {
        return BM_ENOMEM;
    }
    if (n > INT_MAX - 32) {
        err = BM_EINVAL;
        goto out;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BM__GCM_NONCE_SIZE,
                            NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
        EVP_EncryptUpdate(ctx, ct, &len, pt, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, ct + len, &fin) != 1 ||
        (size_t)(len + fin) != n ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BM__GCM_TAG_SIZE,
                            ct + n) != 1) {
        goto out;
    }
    err = BM_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

static enum bm_err ossl_open(const uint8_t *key, const uint8_t *nonce,
                             const uint8_t *ct, size_t n, uint8_t *pt)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t m = n - BM__GCM_TAG_SIZE;
    uint8_t tag[BM__GCM_TAG_SIZE];
    enum bm_err err = BM_ECRYPTO;
    int len = 0, fin = 0;

    if (ctx == NULL) {
        return BM_ENOMEM;
    }
    if (n > INT_MAX - 32) {
        err = BM_EINVAL;
        goto out;
    }
    memcpy(tag, ct + m, sizeof(tag));
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BM__GCM_NONCE_SIZE,
                            NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
        EVP_DecryptUpdate(ctx, pt, &len, ct, (int)m) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BM__GCM_TAG_SIZE,
                            tag) != 1) {
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, pt + len, &fin) != 1) {
        err = BM_EAUTH;
        goto out;
    }
    err = BM_OK;
out:
    if (err != BM_OK && m > 0) {
        sodium_memzero(pt, m);
    }
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

enum bm_err bm__aes256gcm_seal(const uint8_t key[BM__GCM_KEY_SIZE],
                               const uint8_t nonce[BM__GCM_NONCE_SIZE],
                               const uint8_t *pt, size_t n, uint8_t *ct)
{
    enum bm__aead_backend b = pick();
    unsigned long long clen = 0;

    if (b == BM__AEAD_OPENSSL) {
        return ossl_seal(key, nonce, pt, n, ct);
    }
    if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()) {
        return BM_EUNSUPPORTED;
    }
    if (crypto_aead_aes256gcm_encrypt(ct, &clen, pt, n, NULL, 0, NULL, nonce,
                                      key) != 0 ||
        clen != n + BM__GCM_TAG_SIZE) {
        return BM_ECRYPTO;
    }
    return BM_OK;
}

enum bm_err bm__aes256gcm_open(const uint8_t key[BM__GCM_KEY_SIZE],
                               const uint8_t nonce[BM__GCM_NONCE_SIZE],
                               const uint8_t *ct, size_t n, uint8_t *pt)
{
    enum bm__aead_backend b = pick();
    unsigned long long mlen = 0;

    if (n < BM__GCM_TAG_SIZE) {
        return BM_EINVAL;
    }
    if (b == BM__AEAD_OPENSSL) {
        return ossl_open(key, nonce, ct, n, pt);
    }
    if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()) {
        return BM_EUNSUPPORTED;
    }
    if (crypto_aead_aes256gcm_decrypt(pt, &mlen, NULL, ct, n, NULL, 0, nonce,
                                      key) != 0) {
        return BM_EAUTH;
    }
    return BM_OK;
}
