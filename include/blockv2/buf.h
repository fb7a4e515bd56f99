/*
 * Byte buffers.
 *
 * struct bm_buf is an owned, heap-allocated byte string: {NULL, 0} is the
 * empty buffer, bm_buf_release() frees it and resets it to empty. A growable
 * variant, struct bm_dynbuf, has a hard size cap fixed at init (STYLE rule
 * 17, curl dynbuf): appends past the cap fail with BM_ETOOBIG and leave the
 * buffer as it was.
 */
#ifndef BM_BLOCKV2_BUF_H
#define BM_BLOCKV2_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_buf {
    uint8_t *ptr;
    size_t len;
};

/* Copies len bytes from p into *b (after releasing what *b held). Returns
 * BM_ENOMEM on failure, leaving *b empty. len 0 gives the empty buffer. */
enum bm_err bm_buf_set(struct bm_buf *b, const uint8_t *p, size_t len);

/* Duplicates src into *dst (dst is released first). */
enum bm_err bm_buf_copy(struct bm_buf *dst, const struct bm_buf *src);

/* Frees the bytes and resets *b to empty. NULL-safe. */
void bm_buf_release(struct bm_buf *b);

/* True when both hold the same bytes. */
bool bm_buf_eq(const struct bm_buf *a, const struct bm_buf *b);

/* True when b holds exactly len bytes equal to p. */
bool bm_buf_eq_raw(const struct bm_buf *b, const uint8_t *p, size_t len);

struct bm_dynbuf {
    uint8_t *ptr;
    size_t len;
    size_t cap;  /* allocated */
    size_t max;  /* hard cap on len */
};

void bm_dynbuf_init(struct bm_dynbuf *d, size_t max);
enum bm_err bm_dynbuf_append(struct bm_dynbuf *d, const void *p, size_t n);
enum bm_err bm_dynbuf_append_byte(struct bm_dynbuf *d, uint8_t c);
/* Appends a NUL-terminated formatted string (the NUL is not counted). */
enum bm_err bm_dynbuf_printf(struct bm_dynbuf *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Moves the contents into *out (out is released first); d becomes empty. */
void bm_dynbuf_detach(struct bm_dynbuf *d, struct bm_buf *out);
void bm_dynbuf_reset(struct bm_dynbuf *d);
void bm_dynbuf_release(struct bm_dynbuf *d);

/* Little-endian fixed-width helpers (heights in store values, DA IDs). */
static inline void bm_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint64_t bm_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static inline void bm_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint32_t bm_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline void bm_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[7 - i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint64_t bm_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

#endif /* BM_BLOCKV2_BUF_H */
