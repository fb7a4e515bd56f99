/* See sha256.h. */
#include "util/sha256.h"

#include <pthread.h>
#include <stdbool.h>

#include <openssl/evp.h>
#include <sodium.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md; /* fetched once; NULL: libcrypto has none, use sodium */

static void md_fetch(void)
{
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void sodium_parts(uint8_t out[32], const uint8_t *const *ptrs,
                         const size_t *lens, size_t n)
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > 0) {
            crypto_hash_sha256_update(&st, ptrs[i], lens[i]);
        }
    }
    crypto_hash_sha256_final(&st, out);
}

void bm_sha256_parts(uint8_t out[32], const uint8_t *const *ptrs,
                     const size_t *lens, size_t n)
{
    size_t total = 0;
    EVP_MD_CTX *ctx;
    unsigned int outl = 0;
    bool ok;

    for (size_t i = 0; i < n; i++) {
        total += lens[i];
    }
    if (total < BM_SHA256_FAST_MIN) {
        sodium_parts(out, ptrs, lens, n);
        return;
    }
    pthread_once(&md_once, md_fetch);
    ctx = md != NULL ? EVP_MD_CTX_new() : NULL;
    ok = ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        ok = lens[i] == 0 || EVP_DigestUpdate(ctx, ptrs[i], lens[i]) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, out, &outl) == 1 && outl == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        sodium_parts(out, ptrs, lens, n);
    }
}

void bm_sha256(uint8_t out[32], const uint8_t *p, size_t len)
{
    bm_sha256_parts(out, &p, &len, 1);
}
