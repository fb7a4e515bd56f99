/* go-header exchange messages; see headerex_codec.h. */
#include "p2p/headerex_codec.h"

#include <string.h>

#include "p2p/pbwire.h"
#include "p2p/varint.h"
#include "util/alloc.h"

#define REQ_ORIGIN 1u
#define REQ_HASH 2u
#define REQ_AMOUNT 3u
#define RESP_BODY 1u
#define RESP_STATUS 2u

enum bm_err bm_headerex_request_encode(const struct bm_headerex_request *r,
                                       struct bm_buf *out)
{
    uint8_t tmp[32];
    size_t body = 0, k;
    uint8_t *buf;

    bm_buf_release(out);
    if (r->has_origin == r->has_hash && r->has_origin) {
        return BM_EINVAL;
    }
    if (r->has_hash && r->hash_len > BM_HEADEREX_HASH_MAX) {
        return BM_EINVAL;
    }
    if (r->has_origin) {
        body += bm_pbwire_put_varint_field(tmp, REQ_ORIGIN, r->origin);
    }
    if (r->has_hash) {
        body += bm_pbwire_len_field_size(REQ_HASH, r->hash_len);
    }
    if (r->amount != 0) {
        body += bm_pbwire_put_varint_field(tmp, REQ_AMOUNT, r->amount);
    }
    buf = bm_malloc(bm_varint_size(body) + body);
    if (buf == NULL) {
        return BM_ENOMEM;
    }
    k = bm_varint_put(body, buf);
    if (r->has_origin) {
        k += bm_pbwire_put_varint_field(buf + k, REQ_ORIGIN, r->origin);
    }
    if (r->has_hash) {
        k += bm_pbwire_put_len_field(buf + k, REQ_HASH, r->hash, r->hash_len);
    }
    if (r->amount != 0) {
        k += bm_pbwire_put_varint_field(buf + k, REQ_AMOUNT, r->amount);
    }
    out->ptr = buf;
    out->len = k;
    return BM_OK;
}

enum bm_err bm_headerex_request_decode(const uint8_t *p, size_t n,
                                       struct bm_headerex_request *out)
{
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    while (pos < n) {
        struct bm_pbwire_field f;
        enum bm_err err = bm_pbwire_next(p, n, &pos, &f);

        if (err != BM_OK) {
            return err;
        }
        switch (f.num) {
        case REQ_ORIGIN:
            if (f.type != BM_PBWIRE_VARINT) {
                return BM_EWIRETYPE;
            }
            out->has_origin = true;
            out->has_hash = false;
            out->origin = f.u;
            out->hash = NULL;
            out->hash_len = 0;
            break;
        case REQ_HASH:
            if (f.type != BM_PBWIRE_LEN) {
                return BM_EWIRETYPE;
            }
            out->has_hash = true;
            out->has_origin = false;
            out->origin = 0;
            out->hash = f.val;
            out->hash_len = f.len;
            break;
        case REQ_AMOUNT:
            if (f.type != BM_PBWIRE_VARINT) {
                return BM_EWIRETYPE;
            }
            out->amount = f.u;
            break;
        default:
            break; /* unknown: skipped */
        }
    }
    return BM_OK;
}

/* Length of the HeaderResponse protobuf (no prefix). */
static size_t response_len(size_t body_len, uint64_t status)
{
    uint8_t tmp[16];
    size_t len = 0;

    if (body_len > 0) {
        len += bm_pbwire_len_field_size(RESP_BODY, body_len);
    }
    if (status != 0) {
        len += bm_pbwire_put_varint_field(tmp, RESP_STATUS, status);
    }
    return len;
}

size_t bm_headerex_response_size(size_t body_len, uint64_t status)
{
    size_t len;

    if (body_len > BM_HEADEREX_MAX_MSG) {
        return 0;
    }
    len = response_len(body_len, status);
    return len > BM_HEADEREX_MAX_MSG ? 0 : bm_varint_size(len) + len;
}

size_t bm_headerex_response_put(const uint8_t *body, size_t body_len,
                                uint64_t status, uint8_t *out)
{
    size_t k = bm_varint_put(response_len(body_len, status), out);

    if (body_len > 0) {
        k += bm_pbwire_put_len_field(out + k, RESP_BODY, body, body_len);
    }
    if (status != 0) {
        k += bm_pbwire_put_varint_field(out + k, RESP_STATUS, status);
    }
    return k;
}

enum bm_err bm_headerex_response_decode(const uint8_t *p, size_t n,
                                        struct bm_headerex_response *out)
{
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    while (pos < n) {
        struct bm_pbwire_field f;
        enum bm_err err = bm_pbwire_next(p, n, &pos, &f);

        if (err != BM_OK) {
            return err;
        }
        if (f.num == RESP_BODY) {
            if (f.type != BM_PBWIRE_LEN) {
                return BM_EWIRETYPE;
            }
            out->body = f.val;
            out->body_len = f.len;
        } else if (f.num == RESP_STATUS) {
            if (f.type != BM_PBWIRE_VARINT) {
                return BM_EWIRETYPE;
            }
            out->status = f.u;
        }
    }
    return BM_OK;
}
