/* Frame reassembly; see frame_reader.h. */
#include "p2p/frame_reader.h"

#include "p2p/varint.h"

#define KEEP_MAX ((size_t)1 << 20)

void bm_frame_reader_init(struct bm_frame_reader *r, size_t max)
{
    r->max = max;
    bm_dynbuf_init(&r->buf, max + BM_VARINT_MAX_LEN);
}

void bm_frame_reader_release(struct bm_frame_reader *r)
{
    if (r != NULL) {
        bm_dynbuf_release(&r->buf);
        bm_dynbuf_init(&r->buf, r->max + BM_VARINT_MAX_LEN);
    }
}

bool bm_frame_reader_partial(const struct bm_frame_reader *r)
{
    return r->buf.len > 0;
}

enum bm_err bm_frame_reader_feed(struct bm_frame_reader *r, const uint8_t *p,
                                 size_t n, bm_frame_reader_fn *fn,
                                 void *arg)
{
    while (n > 0) {
        size_t blen, want, take;
        int h;

        if (r->buf.len == 0) {
            const uint8_t *body;
            int64_t k = bm_varint_frame_get(p, n, r->max, &body, &blen);

            if (k < 0) {
                return (enum bm_err)k;
            }
            if (k > 0) {
                p += k;
                n -= (size_t)k;
                if (!fn(arg, body, blen)) {
                    return BM_OK;
                }
                continue;
            }
            /* Less than one frame of at most max + 9 bytes: keep it. */
            return bm_dynbuf_append(&r->buf, p, n);
        }
        h = bm_varint_frame_header(r->buf.ptr, r->buf.len, r->max, &blen);
        if (h < 0) {
            return (enum bm_err)h;
        }
        /* Prefix still incomplete: one byte at a time (at most 9). */
        want = h == 0 ? r->buf.len + 1 : (size_t)h + blen;
        take = want - r->buf.len;
        if (take > n) {
            take = n;
        }
        if (bm_dynbuf_append(&r->buf, p, take) != BM_OK) {
            return BM_ENOMEM;
        }
        p += take;
        n -= take;
        if (h > 0 && r->buf.len == want) {
            bool more = fn(arg, r->buf.ptr + h, blen);

            if (r->buf.cap > KEEP_MAX) {
                bm_frame_reader_release(r);
            } else {
                r->buf.len = 0;
            }
            if (!more) {
                return BM_OK;
            }
        }
    }
    /* A prefix completed by the last byte is judged now, not with the
     * next chunk. */
    if (r->buf.len > 0) {
        size_t blen;
        int h = bm_varint_frame_header(r->buf.ptr, r->buf.len, r->max,
                                       &blen);

        if (h < 0) {
            return (enum bm_err)h;
        }
    }
    return BM_OK;
}
