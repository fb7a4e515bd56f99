#include "p2p/varint.h"

size_t bm_varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t bm_varint_put(uint64_t v, uint8_t *out)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

int bm_varint_get(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    size_t i;

    for (i = 0; i < n && i < BM_VARINT_MAX_LEN; i++) {
        uint8_t b = p[i];
        if (b < 0x80) {
            /* A multi-byte varint whose last group is zero could have been
             * written shorter: Go's ErrNotMinimal. */
            if (b == 0 && i > 0) {
                return BM_EVARINT;
            }
            *v = x | (uint64_t)b << (7 * i);
            return (int)(i + 1);
        }
        if (i == BM_VARINT_MAX_LEN - 1) {
            /* The 9th byte still says "more": above 2^63 - 1. */
            return BM_EVARINT;
        }
        x |= (uint64_t)(b & 0x7f) << (7 * i);
    }
    return 0;
}

int bm_varint_get_pb(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    for (size_t i = 0; i < n && i < 10; i++) {
        uint8_t b = p[i];
        if (i == 9 && b > 1) {
            return BM_EVARINT; /* bits above 2^64 - 1 */
        }
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *v = x;
            return (int)(i + 1);
        }
    }
    return n >= 10 ? BM_EVARINT : 0;
}

int bm_varint_frame_header(const uint8_t *p, size_t n, size_t max, size_t *len)
{
    uint64_t v;
    int r = bm_varint_get(p, n, &v);

    if (r <= 0) {
        return r;
    }
    if (v > max) {
        return BM_ETOOBIG;
    }
    *len = (size_t)v;
    return r;
}

int64_t bm_varint_frame_get(const uint8_t *p, size_t n, size_t max,
                            const uint8_t **body, size_t *len)
{
    size_t blen;
    int h = bm_varint_frame_header(p, n, max, &blen);

    if (h <= 0) {
        return h;
    }
    /* h <= 9 and blen <= max, so the sum only overflows for absurd caps:
     * compare without adding. */
    if (blen > n - (size_t)h) {
        return 0;
    }
    *body = p + h;
    *len = blen;
    return (int64_t)((size_t)h + blen);
}

size_t bm_varint_frame_put_header(uint32_t len, uint8_t *out)
{
    return bm_varint_put(len, out);
}
