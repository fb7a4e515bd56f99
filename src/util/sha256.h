/* SHA-256 at the CPU's speed: OpenSSL's libcrypto, with the SHA
 * extensions where the CPU has them, through one digest context per
 * thread (made on its first call, freed when it exits). Cheaper than
 * libsodium's portable code at every size, small ones included (a
 * 250-byte header: about 0.35 against 1.4 us; 32 bytes: 0.13 against
 * 0.41 us; docs/PERFORMANCE.md "DA catch-up"). libsodium computes the
 * same digest should libcrypto fail. */
#ifndef BM_UTIL_SHA256_H
#define BM_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

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
