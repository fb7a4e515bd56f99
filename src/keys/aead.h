/*
 * AES-256-GCM (12-byte nonce, 16-byte tag, no associated data) for the
 * signer file. Uses libsodium's implementation when the CPU has AES-NI and
 * PCLMUL (crypto_aead_aes256gcm_is_available()), else OpenSSL's EVP
 * implementation (libcrypto). Both produce identical bytes (Go's
 * crypto/cipher GCM: ciphertext || tag). Internal to src/keys/.
 * Thread-safe; does not block.
 */
#ifndef BM_KEYS_AEAD_H
#define BM_KEYS_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

#define BM__GCM_KEY_SIZE 32
#define BM__GCM_NONCE_SIZE 12
#define BM__GCM_TAG_SIZE 16

enum bm__aead_backend {
    BM__AEAD_AUTO = 0,
    BM__AEAD_SODIUM = 1,
    BM__AEAD_OPENSSL = 2,
};

/* Test hook: force a backend (process-wide). BM__AEAD_SODIUM without
 * hardware support makes seal/open return BM_EUNSUPPORTED. */
void bm__aead_set_backend(enum bm__aead_backend b);

/* Name of the backend that AUTO selects now ("libsodium" or "openssl"). */
const char *bm__aead_backend_name(void);

/* Encrypts pt[0..n) into ct (n + 16 bytes; borrowed). BM_ECRYPTO,
 * BM_EUNSUPPORTED. */
enum bm_err bm__aes256gcm_seal(const uint8_t key[BM__GCM_KEY_SIZE],
                               const uint8_t nonce[BM__GCM_NONCE_SIZE],
                               const uint8_t *pt, size_t n, uint8_t *ct);

/* Decrypts and authenticates ct[0..n) (n >= 16) into pt (n - 16 bytes).
 * BM_EAUTH if the tag does not verify (pt is then zeroed), BM_EINVAL,
 * BM_ECRYPTO, BM_EUNSUPPORTED. */
enum bm_err bm__aes256gcm_open(const uint8_t key[BM__GCM_KEY_SIZE],
                               const uint8_t nonce[BM__GCM_NONCE_SIZE],
                               const uint8_t *ct, size_t n, uint8_t *pt);

#endif /* BM_KEYS_AEAD_H */
