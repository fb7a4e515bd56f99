/* See sha256.h. */
#include "util/sha256.h"

#include <pthread.h>
#include <stdbool.h>

#include <openssl/evp.h>
#include <sodium.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md; /* fetched once; NULL: libcrypto has none, use sodium */
/* One digest context per thread, reused by every call on it (a context
 * made and freed per call was two allocations and a provider set-up per
 * hash); freed when the thread exits. */
static pthread_key_t ctx_key;
static bool ctx_key_ok;

/* The same context, read without a call; the key's value stays the owner
 * (its destructor frees the context at thread exit). */
static _Thread_local EVP_MD_CTX *tl_ctx;

/* Runs on the exiting thread: a later hash on it (another destructor's)
 * makes a new context, as the key's value is NULL by then. */
static void ctx_free(void *ctx)
{
    tl_ctx = NULL;
    EVP_MD_CTX_free(ctx);
}

static void md_fetch(void)
{
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

/* This thread's context (made on its first call), or NULL. */
static EVP_MD_CTX *thread_ctx(void)
{
    EVP_MD_CTX *ctx = tl_ctx;

    if (ctx != NULL) {
        return ctx;
    }
    pthread_once(&md_once, md_fetch);
    if (md == NULL || !ctx_key_ok) {
        return NULL;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx != NULL && pthread_setspecific(ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    tl_ctx = ctx;
    return ctx;
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
    EVP_MD_CTX *ctx = thread_ctx();
    unsigned int outl = 0;
    bool ok;

    ok = ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        ok = lens[i] == 0 || EVP_DigestUpdate(ctx, ptrs[i], lens[i]) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, out, &outl) == 1 && outl == 32;
    if (!ok) {
        sodium_parts(out, ptrs, lens, n);
    }
}

void bm_sha256(uint8_t out[32], const uint8_t *p, size_t len)
{
    bm_sha256_parts(out, &p, &len, 1);
}
