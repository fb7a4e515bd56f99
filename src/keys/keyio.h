/*
 * Internal helpers shared by the key and genesis files (src/keys/,
 * src/types/genesis.c): a thin layer over json-c that reads flat JSON
 * objects with exact 64-bit integers and Go-compatible base64 ([]byte
 * fields use StdEncoding with padding). Their files are read and written
 * with src/util/file.h.
 *
 * Error messages have the form "<what> '<file>': <field>: <problem>"; the
 * caller passes `what` ("signer file", "genesis") and the file name (or
 * NULL, shown as "<input>").
 *
 * Not part of the public API (bm__ prefix). Functions are reentrant and do
 * not block.
 */
#ifndef BM_KEYS_KEYIO_H
#define BM_KEYS_KEYIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "util/errmsg.h"

struct json_object;

/* A parsed top-level JSON object. */
struct bm__json_doc {
    struct json_object *root; /* owned (json-c reference) */
    const char *what;         /* borrowed, for messages */
    const char *name;         /* borrowed, never NULL */
    /* Top-level keys whose value is an integer literal json-c cannot
     * represent faithfully (negative zero, above 2^64-1): json-c clamps
     * such values silently, so the raw text is pre-scanned. */
    unsigned n_flagged;
    struct {
        char key[64];
        uint8_t flags; /* 1: negative, 2: overflow */
    } flagged[16];
};

/*
 * Parses p[0..n) (borrowed; at most max bytes) as one JSON object, with
 * json-c in strict mode, UTF-8 validation and a nesting limit; trailing
 * bytes other than white space are refused. name may be NULL. On success
 * *doc must be released with bm__json_doc_release. Errors: BM_ETOOBIG,
 * BM_EPARSE (not JSON / not an object), BM_ENOMEM.
 */
enum bm_err bm__json_doc_parse(struct bm__json_doc *doc, const char *what,
                               const char *name, const uint8_t *p, size_t n,
                               size_t max, struct bm_errmsg *em);
void bm__json_doc_release(struct bm__json_doc *doc);

/*
 * Field getters. A field that is absent or JSON null sets *present false
 * and returns BM_OK (Go leaves the zero value); `present` may be NULL,
 * then absence is BM_OK too and the output is untouched. Type, size and
 * range problems return `bad` (the caller's error code, e.g. BM_ECORRUPT)
 * with a message naming the field and the file.
 */

/* Exact unsigned 64-bit integer: refuses floats, exponents, negatives
 * (also -0), strings and values above 2^64-1. */
enum bm_err bm__json_get_u64(const struct bm__json_doc *doc, const char *key,
                             int bad, bool *present, uint64_t *out,
                             struct bm_errmsg *em);

/* String of at most max bytes without NUL bytes; *out returns owned. */
enum bm_err bm__json_get_str(const struct bm__json_doc *doc, const char *key,
                             int bad, size_t max, bool *present, char **out,
                             struct bm_errmsg *em);

/* Base64 (StdEncoding, padded) decoding to min..max bytes into *out
 * (released first; returns owned). If `secret`, json-c's copy of the
 * text is wiped after decoding. */
enum bm_err bm__json_get_b64(const struct bm__json_doc *doc, const char *key,
                             int bad, size_t min, size_t max, bool secret,
                             bool *present, struct bm_buf *out,
                             struct bm_errmsg *em);

/* Appends "b64(p)" (quoted) to d. */
enum bm_err bm__json_put_b64(struct bm_dynbuf *d, const uint8_t *p,
                             size_t n);

/* Appends s[0..n) as a quoted JSON string escaped the way Go's
 * encoding/json does (\" \\ \n \r \t, \u00XX for other controls and for
 * < > &, \u2028 \u2029). */
enum bm_err bm__json_put_str(struct bm_dynbuf *d, const char *s, size_t n);

/* Returns name, or "<input>" when name is NULL. */
const char *bm__keyio_name(const char *name);

#endif /* BM_KEYS_KEYIO_H */
