#include "blockv2/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

enum bm_err bm_buf_set(struct bm_buf *b, const uint8_t *p, size_t len)
{
    bm_buf_release(b);
    if (len == 0) {
        return BM_OK;
    }
    b->ptr = bm_memdup(p, len);
    if (b->ptr == NULL) {
        return BM_ENOMEM;
    }
    b->len = len;
    return BM_OK;
}

enum bm_err bm_buf_copy(struct bm_buf *dst, const struct bm_buf *src)
{
    if (dst == src) {
        return BM_OK;
    }
    return bm_buf_set(dst, src->ptr, src->len);
}

void bm_buf_release(struct bm_buf *b)
{
    if (b == NULL) {
        return;
    }
    bm_free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
}

bool bm_buf_eq(const struct bm_buf *a, const struct bm_buf *b)
{
    return bm_buf_eq_raw(a, b->ptr, b->len);
}

bool bm_buf_eq_raw(const struct bm_buf *b, const uint8_t *p, size_t len)
{
    if (b->len != len) {
        return false;
    }
    return len == 0 || memcmp(b->ptr, p, len) == 0;
}

void bm_dynbuf_init(struct bm_dynbuf *d, size_t max)
{
    d->ptr = NULL;
    d->len = 0;
    d->cap = 0;
    d->max = max;
}

static enum bm_err reserve(struct bm_dynbuf *d, size_t extra)
{
    size_t need, ncap;
    uint8_t *np;

    if (!bm_size_add(d->len, extra, &need) || need > d->max) {
        return BM_ETOOBIG;
    }
    if (need <= d->cap) {
        return BM_OK;
    }
    ncap = d->cap ? d->cap : 64;
    while (ncap < need) {
        if (!bm_size_mul(ncap, 2, &ncap)) {
            ncap = need;
            break;
        }
    }
    if (ncap > d->max) {
        ncap = d->max;
    }
    np = bm_realloc(d->ptr, ncap);
    if (np == NULL) {
        return BM_ENOMEM;
    }
    d->ptr = np;
    d->cap = ncap;
    return BM_OK;
}

enum bm_err bm_dynbuf_append(struct bm_dynbuf *d, const void *p, size_t n)
{
    enum bm_err err;

    if (n == 0) {
        return BM_OK;
    }
    err = reserve(d, n);
    if (err) {
        return err;
    }
    memcpy(d->ptr + d->len, p, n);
    d->len += n;
    return BM_OK;
}

enum bm_err bm_dynbuf_append_byte(struct bm_dynbuf *d, uint8_t c)
{
    return bm_dynbuf_append(d, &c, 1);
}

enum bm_err bm_dynbuf_printf(struct bm_dynbuf *d, const char *fmt, ...)
{
    va_list ap;
    int n;
    enum bm_err err;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return BM_EINVAL;
    }
    /* Room for the NUL vsnprintf writes; it is not counted in len. */
    err = reserve(d, (size_t)n + 1);
    if (err) {
        return err;
    }
    va_start(ap, fmt);
    vsnprintf((char *)d->ptr + d->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->len += (size_t)n;
    return BM_OK;
}

void bm_dynbuf_detach(struct bm_dynbuf *d, struct bm_buf *out)
{
    bm_buf_release(out);
    if (d->len == 0) {
        bm_dynbuf_release(d);
        return;
    }
    out->ptr = d->ptr;
    out->len = d->len;
    d->ptr = NULL;
    d->len = 0;
    d->cap = 0;
}

void bm_dynbuf_reset(struct bm_dynbuf *d)
{
    d->len = 0;
}

void bm_dynbuf_release(struct bm_dynbuf *d)
{
    bm_free(d->ptr);
    d->ptr = NULL;
    d->len = 0;
    d->cap = 0;
}
