/*
 * Process-wide count of Ed25519 verifications, kept by a wrapper around
 * libsodium's crypto_sign_verify_detached (bench/verifycount.c), and of
 * those that repeat a verification already made since the last
 * vc_forget(): the same signature, public key and message checked again
 * (what "each signature checked once" forbids). Only for executables that
 * link verifycount.c (benchmarks, and tests that count verifies): the
 * wrapper replaces the call for the whole process.
 */
#ifndef BM_BENCH_VERIFYCOUNT_H
#define BM_BENCH_VERIFYCOUNT_H

#include <stdint.h>

struct vc_counts {
    uint64_t verifies; /* crypto_sign_verify_detached calls */
    uint64_t repeats;  /* of them, a (signature, key, message) seen before */
};

/* The counts since the process started. Any thread. */
void vc_read(struct vc_counts *out);

/* Forgets the verifications seen so far: a later check of the same
 * signature is not a repeat. Call it while nothing verifies (before a
 * measured window). The seen-set holds up to 2^20 verifications; beyond
 * that, repeats are no longer detected (the totals still are). */
void vc_forget(void);

#endif /* BM_BENCH_VERIFYCOUNT_H */
