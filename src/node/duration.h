/*
 * Durations in Go's time.Duration syntax ("1s", "1m30s", "250ms", "1.5h",
 * "0"), as ev-node's config uses them: the config table's duration keys
 * (src/node/config.c) and anything else that reads or prints one.
 * Functions are pure and reentrant.
 */
#ifndef BM_NODE_DURATION_H
#define BM_NODE_DURATION_H

#include <stdint.h>

#include "blockv2/err.h"

/* Parses s (borrowed, NUL-terminated, untrusted) as a non-negative Go
 * duration into nanoseconds. BM_EPARSE (syntax, negative, missing or
 * unknown unit) or BM_EOVERFLOW (> 2^63-1 ns). *ns is written only on
 * success. */
enum bm_err bm_duration_parse(const char *s, uint64_t *ns);

/* Longest bm_duration_format output, with NUL. */
#define BM_DURATION_STR_SIZE 40

/* Formats ns as Go's time.Duration.String() does ("1m30s", "250ms",
 * "1h0m0s", "0s") into out (NUL-terminated). */
void bm_duration_format(uint64_t ns, char out[BM_DURATION_STR_SIZE]);

#endif /* BM_NODE_DURATION_H */
