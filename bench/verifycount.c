/*
 * Ed25519 verification counter (verifycount.h): the executable's
 * crypto_sign_verify_detached, which the dynamic linker binds before
 * libsodium's (our library's calls resolve to it), counts the call,
 * notes a fingerprint of what it checks in a lock-free open-addressing
 * set to spot repeats, and calls libsodium's (dlsym(RTLD_NEXT)).
 */
#include "verifycount.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <sodium.h>

#define VC_SLOTS (1u << 20)

static _Atomic uint64_t n_verify;
static _Atomic uint64_t n_repeat;
/* Fingerprints (never 0) of the verifications since vc_forget(). */
static _Atomic uint64_t seen[VC_SLOTS];

typedef int (*verify_fn)(const unsigned char *, const unsigned char *,
                         unsigned long long, const unsigned char *);

/* FNV-1a, 64 bits, continued from h over p[0..n). */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* True if fp was already in the set; adds it otherwise. */
static bool seen_before(uint64_t fp)
{
    size_t i = (size_t)(fp ^ (fp >> 32)) & (VC_SLOTS - 1);

    for (size_t probes = 0; probes < VC_SLOTS / 2; probes++) {
        uint64_t cur = atomic_load_explicit(&seen[i], memory_order_relaxed);

        if (cur == fp) {
            return true;
        }
        if (cur == 0) {
            uint64_t empty = 0;

            if (atomic_compare_exchange_strong(&seen[i], &empty, fp)) {
                return false;
            }
            if (empty == fp) {
                return true;
            }
        }
        i = (i + 1) & (VC_SLOTS - 1);
    }
    return false; /* full: no longer detected */
}

int crypto_sign_verify_detached(const unsigned char *sig,
                                const unsigned char *m,
                                unsigned long long mlen,
                                const unsigned char *pk)
{
    static _Atomic(verify_fn) real;
    verify_fn fn = atomic_load_explicit(&real, memory_order_relaxed);
    uint64_t fp = 0xcbf29ce484222325ull;

    if (fn == NULL) {
        fn = (verify_fn)dlsym(RTLD_NEXT, "crypto_sign_verify_detached");
        if (fn == NULL) {
            abort();
        }
        atomic_store_explicit(&real, fn, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&n_verify, 1, memory_order_relaxed);
    fp = fnv(fp, sig, crypto_sign_BYTES);
    fp = fnv(fp, pk, crypto_sign_PUBLICKEYBYTES);
    fp = fnv(fp, m, (size_t)mlen);
    if (seen_before(fp == 0 ? 1 : fp)) {
        atomic_fetch_add_explicit(&n_repeat, 1, memory_order_relaxed);
    }
    return fn(sig, m, mlen, pk);
}

void vc_read(struct vc_counts *out)
{
    out->verifies = atomic_load_explicit(&n_verify, memory_order_relaxed);
    out->repeats = atomic_load_explicit(&n_repeat, memory_order_relaxed);
}

void vc_forget(void)
{
    for (size_t i = 0; i < VC_SLOTS; i++) {
        atomic_store_explicit(&seen[i], 0, memory_order_relaxed);
    }
}
