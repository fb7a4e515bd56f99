/*
 * Process-wide counters of Ed25519 verifications (verifycount.h) and
 * durable flushes, kept by wrappers around libc's fsync/fdatasync/msync(MS_SYNC)/writes to O_DSYNC descriptors
 * (bench/syscount.c). Only for benchmark executables that link
 * syscount.c: the wrappers replace those calls for the whole process.
 */
#ifndef BM_BENCH_SYSCOUNT_H
#define BM_BENCH_SYSCOUNT_H

#include <stdint.h>

struct sc_counts {
    uint64_t verifies; /* crypto_sign_verify_detached calls */
    uint64_t repeats;  /* of them, repeats of a verification (verifycount.h) */
    uint64_t flushes;  /* fsync + fdatasync + msync(MS_SYNC) + O_DSYNC writes */
};

/* The counters since the process started. Any thread. */
void sc_read(struct sc_counts *out);

#endif /* BM_BENCH_SYSCOUNT_H */
