/*
 * Shared round-trip check for the decoder fuzz targets.
 *
 * fuzz_roundtrip() decodes the input; on success it re-encodes the value,
 * decodes those bytes again and re-encodes that: both encodings must be
 * identical (the canonical form is a fixed point). Any other outcome than
 * BM_OK / BM_ENOMEM on the second pass is a finding and abort()s.
 */
#ifndef BM_FUZZ_TARGETS_FUZZ_COMMON_H
#define BM_FUZZ_TARGETS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"
#include "blockv2/validate.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed clock so runs are reproducible: 2023-11-14 + 100 s. */
#define FUZZ_NOW_NS (1700000000000000000ull + 100000000000ull)

struct fuzz_codec {
    const char *name;
    enum bm_err (*decode)(void *out, const uint8_t *p, size_t n);
    enum bm_err (*encode)(const void *in, struct bm_buf *out);
    void (*release)(void *obj);
};

/* Typed wrappers so no call goes through a cast function pointer. */
#define FUZZ_CODEC(var, label, T, dec, enc, rel)                               \
    static enum bm_err var##_dec(void *o, const uint8_t *p, size_t n)          \
    {                                                                          \
        return dec((T *)o, p, n);                                              \
    }                                                                          \
    static enum bm_err var##_enc(const void *o, struct bm_buf *out)            \
    {                                                                          \
        return enc((const T *)o, out);                                         \
    }                                                                          \
    static void var##_rel(void *o)                                             \
    {                                                                          \
        rel((T *)o);                                                           \
    }                                                                          \
    static const struct fuzz_codec var = {label, var##_dec, var##_enc,         \
                                          var##_rel}

static inline void fuzz_fail(const char *codec, const char *what, int err)
{
    fprintf(stderr, "fuzz %s: %s (%s)\n", codec, what, bm_err_name(err));
    abort();
}

/*
 * Decodes data into *a (zeroed storage of the codec's type). Returns true
 * if it decoded; the caller then owns *a and must release it. *b is
 * scratch storage of the same type, released before return.
 */
static inline bool fuzz_roundtrip(const struct fuzz_codec *c,
                                  const uint8_t *data, size_t size, void *a,
                                  void *b)
{
    struct bm_buf e1 = {0}, e2 = {0};
    enum bm_err err;

    if (c->decode(a, data, size) != BM_OK) {
        return false;
    }
    err = c->encode(a, &e1);
    if (err == BM_ENOMEM) {
        return true;
    }
    if (err != BM_OK) {
        fuzz_fail(c->name, "cannot encode a decoded value", err);
    }
    err = c->decode(b, e1.ptr, e1.len);
    if (err != BM_OK) {
        if (err != BM_ENOMEM) {
            fuzz_fail(c->name, "cannot decode its own encoding", err);
        }
        bm_buf_release(&e1);
        return true;
    }
    err = c->encode(b, &e2);
    if (err != BM_OK && err != BM_ENOMEM) {
        fuzz_fail(c->name, "cannot re-encode", err);
    }
    if (err == BM_OK && !bm_buf_eq(&e1, &e2)) {
        fuzz_fail(c->name, "encoding is not stable across a round trip", 0);
    }
    c->release(b);
    bm_buf_release(&e1);
    bm_buf_release(&e2);
    return true;
}

/* Header hash must not change across encode/decode. */
static inline void fuzz_check_header_hash(const char *name,
                                          const struct bm_header *h)
{
    struct bm_buf e = {0};
    struct bm_header h2 = {0};
    struct bm_hash x, y;

    if (bm_header_hash(h, &x) != BM_OK || bm_header_encode(h, &e) != BM_OK) {
        bm_buf_release(&e);
        return;
    }
    if (bm_header_decode(&h2, e.ptr, e.len) != BM_OK) {
        fuzz_fail(name, "cannot decode the header's own encoding", 0);
    }
    if (bm_header_hash(&h2, &y) == BM_OK &&
        memcmp(x.b, y.b, sizeof(x.b)) != 0) {
        fuzz_fail(name, "header hash changes across a round trip", 0);
    }
    bm_header_release(&h2);
    bm_buf_release(&e);
}

/* Runs every header rule that needs no second object. */
static inline void fuzz_validate_header(const struct bm_header *h)
{
    struct bm_errmsg em;
    struct bm_state st = {0};
    struct bm_data empty = {0};
    struct bm_buf b = {0};
    bool tol;

    (void)bm_header_validate_basic(h, FUZZ_NOW_NS, &em);
    (void)bm_validate_header_data(h, &empty, &em);
    (void)bm_assert_expected_proposer(&st, NULL, h, &em);
    (void)bm_assert_valid_sequence(&st, h, BM_SEQ_TOLERATE_LAST_HASH_ONCE,
                                   &tol, &em);
    (void)bm_header_encode_slim(h, &b);
    (void)bm_header_encode_legacy(h, &b);
    (void)bm_header_signature_payload(h, &b);
    (void)bm_header_expects_empty_data(h);
    bm_buf_release(&b);
}

static inline void fuzz_validate_signed_header(
    const struct bm_signed_header *sh)
{
    struct bm_errmsg em;
    struct bm_buf b = {0};

    fuzz_validate_header(&sh->header);
    (void)bm_signed_header_validate_basic(sh, FUZZ_NOW_NS, &em);
    (void)bm_signed_header_verify(sh, sh, FUZZ_NOW_NS, &em);
    (void)bm_envelope_signature_payload(sh, &b);
    bm_buf_release(&b);
}

static inline void fuzz_validate_data(const struct bm_data *d)
{
    struct bm_errmsg em;
    struct bm_hash h;
    struct bm_buf b = {0};
    struct bm_header hdr = {0};

    (void)bm_data_validate(d, FUZZ_NOW_NS, &em);
    (void)bm_data_verify(d, d, FUZZ_NOW_NS, &em);
    (void)bm_data_hash(d, &h);
    (void)bm_data_da_commitment(d, &h);
    (void)bm_data_signature_payload(d, &b);
    /* A header that matches the data's metadata: exercises every branch
     * of the matching rules up to the commitment. */
    if (d->has_metadata) {
        hdr.chain_id = d->metadata.chain_id;
        hdr.height = d->metadata.height;
        hdr.time = d->metadata.time;
    }
    (void)bm_validate_header_data(&hdr, d, &em);
    bm_buf_release(&b);
}

#endif /* BM_FUZZ_TARGETS_FUZZ_COMMON_H */
