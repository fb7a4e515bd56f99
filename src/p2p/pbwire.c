/* Protobuf wire format reader and writer helpers; see pbwire.h. */
#include "p2p/pbwire.h"

#include <string.h>

#include "p2p/varint.h"

/* Reads a tag at p[*pos..n): field number and wire type (unchecked). */
static enum bm_err read_tag(const uint8_t *p, size_t n, size_t *pos,
                            uint32_t *num, unsigned *wt)
{
    uint64_t tag;
    int r = bm_varint_get_pb(p + *pos, n - *pos, &tag);

    if (r < 0) {
        return BM_EVARINT;
    }
    if (r == 0) {
        return BM_ETRUNCATED;
    }
    if (tag >> 3 == 0 || tag >> 3 > BM_PBWIRE_MAX_FIELD) {
        return BM_EDECODE;
    }
    *pos += (size_t)r;
    *num = (uint32_t)(tag >> 3);
    *wt = (unsigned)(tag & 7);
    return BM_OK;
}

/* Reads the value of a field of wire type wt (not a group) at p[*pos..n). */
static enum bm_err read_value(const uint8_t *p, size_t n, size_t *pos,
                              unsigned wt, struct bm_pbwire_field *f)
{
    uint64_t v = 0;
    int r;

    switch (wt) {
    case BM_PBWIRE_VARINT:
        r = bm_varint_get_pb(p + *pos, n - *pos, &v);
        if (r < 0) {
            return BM_EVARINT;
        }
        if (r == 0) {
            return BM_ETRUNCATED;
        }
        *pos += (size_t)r;
        f->u = v;
        return BM_OK;
    case BM_PBWIRE_I64:
    case BM_PBWIRE_I32: {
        size_t w = wt == BM_PBWIRE_I64 ? 8 : 4;

        if (n - *pos < w) {
            return BM_ETRUNCATED;
        }
        for (size_t i = 0; i < w; i++) {
            v |= (uint64_t)p[*pos + i] << (8 * i);
        }
        *pos += w;
        f->u = v;
        return BM_OK;
    }
    case BM_PBWIRE_LEN:
        r = bm_varint_get_pb(p + *pos, n - *pos, &v);
        if (r < 0) {
            return BM_EVARINT;
        }
        if (r == 0) {
            return BM_ETRUNCATED;
        }
        *pos += (size_t)r;
        if (v > n - *pos) {
            return BM_ETRUNCATED;
        }
        f->val = p + *pos;
        f->len = (size_t)v;
        *pos += (size_t)v;
        return BM_OK;
    default:
        return BM_EDECODE; /* 4 (stray end group), 6, 7 */
    }
}

/* Skips the body of group `num` up to and including its end tag. */
static enum bm_err skip_group(const uint8_t *p, size_t n, size_t *pos,
                              uint32_t num, unsigned depth)
{
    if (depth >= BM_PBWIRE_MAX_DEPTH) {
        return BM_EDECODE;
    }
    for (;;) {
        struct bm_pbwire_field f;
        uint32_t inner;
        unsigned wt;
        enum bm_err err;

        if (*pos >= n) {
            return BM_ETRUNCATED;
        }
        err = read_tag(p, n, pos, &inner, &wt);
        if (err != BM_OK) {
            return err;
        }
        if (wt == 4) {
            return inner == num ? BM_OK : BM_EDECODE;
        }
        err = wt == BM_PBWIRE_GROUP ? skip_group(p, n, pos, inner, depth + 1)
                                    : read_value(p, n, pos, wt, &f);
        if (err != BM_OK) {
            return err;
        }
    }
}

enum bm_err bm_pbwire_next(const uint8_t *p, size_t n, size_t *pos,
                           struct bm_pbwire_field *f)
{
    size_t at = *pos;
    unsigned wt;
    enum bm_err err;

    if (at >= n) {
        return BM_ETRUNCATED;
    }
    f->u = 0;
    f->val = NULL;
    f->len = 0;
    err = read_tag(p, n, &at, &f->num, &wt);
    if (err != BM_OK) {
        return err;
    }
    if (wt == BM_PBWIRE_GROUP) {
        err = skip_group(p, n, &at, f->num, 0);
    } else {
        err = read_value(p, n, &at, wt, f);
    }
    if (err != BM_OK) {
        return err;
    }
    f->type = (enum bm_pbwire_type)wt;
    f->start = p + *pos;
    f->span = at - *pos;
    *pos = at;
    return BM_OK;
}

size_t bm_pbwire_put_tag(uint8_t *out, uint32_t num, enum bm_pbwire_type t)
{
    return bm_varint_put((uint64_t)num << 3 | (uint64_t)t, out);
}

size_t bm_pbwire_put_len_hdr(uint8_t *out, uint32_t num, size_t len)
{
    size_t k = bm_pbwire_put_tag(out, num, BM_PBWIRE_LEN);

    return k + bm_varint_put(len, out + k);
}

size_t bm_pbwire_put_len_field(uint8_t *out, uint32_t num, const uint8_t *p,
                               size_t len)
{
    size_t k = bm_pbwire_put_len_hdr(out, num, len);

    if (len > 0) {
        memcpy(out + k, p, len);
    }
    return k + len;
}

size_t bm_pbwire_len_field_size(uint32_t num, size_t len)
{
    return bm_varint_size((uint64_t)num << 3) + bm_varint_size(len) + len;
}

size_t bm_pbwire_put_varint_field(uint8_t *out, uint32_t num, uint64_t v)
{
    size_t k = bm_pbwire_put_tag(out, num, BM_PBWIRE_VARINT);

    return k + bm_varint_put(v, out + k);
}
