/* SHA-256 of large inputs at the CPU's speed (the SHA extensions through
 * OpenSSL's libcrypto where the CPU has them, about 5x libsodium's
 * portable code on x86-64); small inputs stay on libsodium, whose call
 * costs less. Same digest either way. */
#ifndef BM_UTIL_SHA256_H
#define BM_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Inputs of at least this many bytes in all go to libcrypto. */
#define BM_SHA256_FAST_MIN 1024u

/*
 * out = SHA-256(parts[0] || ... || parts[n-1]), where part i is lens[i]
 * bytes at ptrs[i] (borrowed; a NULL pointer only with length 0). Never
 * fails: should libcrypto refuse, libsodium computes it.
 */
void bm_sha256_parts(uint8_t out[32], const uint8_t *const *ptrs,
                     const size_t *lens, size_t n);

/* out = SHA-256(p[0..len)); p borrowed (NULL only with len 0). */
void bm_sha256(uint8_t out[32], const uint8_t *p, size_t len);

#endif /* BM_UTIL_SHA256_H */
