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

int bm_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static enum bm_err decode_into(uint8_t *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len / 2; i++) {
        int hi = bm_hex_digit(s[2 * i]);
        int lo = bm_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return BM_EPARSE;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return BM_OK;
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
