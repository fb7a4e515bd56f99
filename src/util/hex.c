#include "util/hex.h"

#include "util/alloc.h"

static void encode(char *out, const uint8_t *p, size_t len, const char *dig)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = dig[p[i] >> 4];
        out[2 * i + 1] = dig[p[i] & 15];
    }
    out[2 * len] = '\0';
}

void bm_hex_encode(char *out, const uint8_t *p, size_t len)
{
    encode(out, p, len, "0123456789abcdef");
}

void bm_hex_encode_upper(char *out, const uint8_t *p, size_t len)
{
    encode(out, p, len, "0123456789ABCDEF");
}

char *bm_hex_dup(const uint8_t *p, size_t len)
{
    size_t n;
    char *s;

    if (!bm_size_mul(len, 2, &n) || !bm_size_add(n, 1, &n)) {
        return NULL;
    }
    s = bm_malloc(n);
    if (s != NULL) {
        bm_hex_encode(s, p, len);
    }
    return s;
}

/* A hex digit's value, 255 for any other byte: a table, because the
 * EVM decoder passes every byte of a pool read and a payload through
 * here, and a branchy test per character was a tenth of its CPU. */
static const uint8_t hex_val[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 255, 255, 255, 255, 255,
    255, 10, 11, 12, 13, 14, 15, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 10, 11, 12, 13, 14, 15, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

int bm_hex_digit(char c)
{
    uint8_t v = hex_val[(unsigned char)c];

    return v == 255 ? -1 : (int)v;
}

bool bm_hex_unhex(uint8_t *out, const char *s, size_t n)
{
    unsigned bad = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned hi = hex_val[(unsigned char)s[2 * i]];
        unsigned lo = hex_val[(unsigned char)s[2 * i + 1]];

        bad |= hi | lo; /* 255 sets bit 4; a digit never does */
        out[i] = (uint8_t)(hi << 4 | (lo & 15));
    }
    return (bad & 0x10) == 0;
}

bool bm_hex_all_digits(const char *s, size_t len)
{
    unsigned bad = 0;

    for (size_t i = 0; i < len; i++) {
        bad |= hex_val[(unsigned char)s[i]];
    }
    return (bad & 0x10) == 0;
}

bool bm_hex_eq(const char *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned hi = hex_val[(unsigned char)s[2 * i]];
        unsigned lo = hex_val[(unsigned char)s[2 * i + 1]];

        if (((hi | lo) & 0x10) != 0 || (uint8_t)(hi << 4 | lo) != p[i]) {
            return false;
        }
    }
    return true;
}

static enum bm_err decode_into(uint8_t *out, const char *s, size_t len)
{
    return bm_hex_unhex(out, s, len / 2) ? BM_OK : BM_EPARSE;
}

enum bm_err bm_hex_decode(struct bm_buf *out, const char *s, size_t len)
{
    uint8_t *p;
    enum bm_err err;

    bm_buf_release(out);
    if (len % 2 != 0) {
        return BM_EPARSE;
    }
    if (len == 0) {
        return BM_OK;
    }
    p = bm_malloc(len / 2);
    if (p == NULL) {
        return BM_ENOMEM;
    }
    err = decode_into(p, s, len);
    if (err) {
        bm_free(p);
        return err;
    }
    out->ptr = p;
    out->len = len / 2;
    return BM_OK;
}

enum bm_err bm_hex_decode_fixed(uint8_t *out, size_t n, const char *s,
                                size_t len)
{
    if (len != 2 * n) {
        return BM_EPARSE;
    }
    return decode_into(out, s, len);
}
