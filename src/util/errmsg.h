/*
 * A caller-owned buffer for a human-readable error message that goes with
 * an enum bm_err, e.g. "header.height: got 7, want 6". Functions that take
 * a `struct bm_errmsg *em` accept NULL when the caller only wants the code.
 */
#ifndef BM_UTIL_ERRMSG_H
#define BM_UTIL_ERRMSG_H

#include "blockv2/err.h"

struct bm_errmsg {
    char msg[512];
};

/* Formats into em (if not NULL) and returns err, for `return bm_errf(...)`. */
int bm_errf(struct bm_errmsg *em, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns em->msg, or bm_strerror(err) if em is NULL or empty. */
const char *bm_errmsg_str(const struct bm_errmsg *em, int err);

#endif /* BM_UTIL_ERRMSG_H */
