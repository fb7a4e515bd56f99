/* The KV executor's undo log, see undo.h. */
#include "exec/kv/undo.h"

#include <string.h>

#include "exec/kv/kv.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#define HDR 4u             /* be32 n */
#define ENT_MIN 3u         /* had_old + be16 klen (klen >= 1 follows) */
/* Largest chunk: a full chunk plus one largest entry. */
#define CHUNK_MAX (BM_KV_UNDO_CHUNK + 7u + BM_KV_MAX_KEY + BM_KV_MAX_VALUE)

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void bm__kv_undo_reset(struct bm__kv_undo *u)
{
    static const uint8_t zero[HDR];

    if (u->b.max == 0) {
        bm_dynbuf_init(&u->b, CHUNK_MAX);
    }
    u->b.len = 0;
    u->n = 0;
    /* Cannot fail past the first chunk: the memory is kept. */
    (void)bm_dynbuf_append(&u->b, zero, HDR);
}

void bm__kv_undo_release(struct bm__kv_undo *u)
{
    if (u != NULL) {
        bm_dynbuf_release(&u->b);
        u->n = 0;
    }
}

enum bm_err bm__kv_undo_add(struct bm__kv_undo *u, const uint8_t *key,
                            size_t klen, bool had_old, const uint8_t *old,
                            size_t vlen)
{
    uint8_t hdr[7];
    size_t len0;
    enum bm_err err;

    if (klen == 0 || klen > BM_KV_MAX_KEY || vlen > BM_KV_MAX_VALUE ||
        u->n == UINT32_MAX) {
        return BM_EINVAL;
    }
    if (u->b.len < HDR) {
        bm__kv_undo_reset(u);
        if (u->b.len < HDR) {
            return BM_ENOMEM;
        }
    }
    len0 = u->b.len;
    hdr[0] = had_old ? 1 : 0;
    hdr[1] = (uint8_t)(klen >> 8);
    hdr[2] = (uint8_t)klen;
    err = bm_dynbuf_append(&u->b, hdr, 3);
    if (err == BM_OK) {
        err = bm_dynbuf_append(&u->b, key, klen);
    }
    if (err == BM_OK && had_old) {
        put_be32(hdr + 3, (uint32_t)vlen);
        err = bm_dynbuf_append(&u->b, hdr + 3, 4);
        if (err == BM_OK && vlen > 0) {
            err = bm_dynbuf_append(&u->b, old, vlen);
        }
    }
    if (err != BM_OK) {
        u->b.len = len0;
        return err == BM_ETOOBIG ? BM_EINVAL : err;
    }
    u->n++;
    return BM_OK;
}

bool bm__kv_undo_full(const struct bm__kv_undo *u)
{
    return u->b.len >= BM_KV_UNDO_CHUNK;
}

void bm__kv_undo_bytes(struct bm__kv_undo *u, const uint8_t **p,
                       size_t *len)
{
    if (u->b.len < HDR) {
        bm__kv_undo_reset(u);
    }
    if (u->b.len >= HDR) {
        put_be32(u->b.ptr, u->n);
        *p = u->b.ptr;
        *len = u->b.len;
    } else {
        /* No memory for even the header: an empty chunk. */
        static const uint8_t empty[HDR];

        *p = empty;
        *len = HDR;
    }
}

void bm__kv_undo_key(uint8_t key[BM_KV_UNDO_KEY], uint64_t h, uint32_t c)
{
    bm_put_be64(key, h);
    put_be32(key + 8, c);
}

enum bm_err bm__kv_undo_parse(const uint8_t *p, size_t len,
                              struct bm__kv_undo_ent **out, size_t *n,
                              struct bm_errmsg *em)
{
    struct bm__kv_undo_ent *v = NULL;
    enum bm_err err = BM_OK;
    uint32_t count;
    size_t off = HDR;

    *out = NULL;
    *n = 0;
    if (len < HDR) {
        return bm_errf(em, BM_ECORRUPT, "undo chunk: %zu bytes, want at "
                       "least %u", len, HDR);
    }
    count = get_be32(p);
    if (count > (len - HDR) / (ENT_MIN + 1)) {
        return bm_errf(em, BM_ECORRUPT, "undo chunk: %u entries do not fit "
                       "in %zu bytes", count, len);
    }
    if (count > 0) {
        v = bm_calloc(count, sizeof(*v));
        if (v == NULL) {
            return BM_ENOMEM;
        }
    }
    for (uint32_t i = 0; i < count && err == BM_OK; i++) {
        struct bm__kv_undo_ent e = {0};

        if (len - off < ENT_MIN) {
            err = BM_ETRUNCATED;
            break;
        }
        if (p[off] > 1) {
            err = bm_errf(em, BM_ECORRUPT, "undo chunk: entry %u: had_old "
                          "is %u, want 0 or 1", i, p[off]);
            break;
        }
        e.had_old = p[off] == 1;
        e.klen = (size_t)p[off + 1] << 8 | p[off + 2];
        off += ENT_MIN;
        if (e.klen == 0 || e.klen > BM_KV_MAX_KEY) {
            err = bm_errf(em, BM_ECORRUPT, "undo chunk: entry %u: klen %zu, "
                          "want 1..%u", i, e.klen, BM_KV_MAX_KEY);
            break;
        }
        if (len - off < e.klen) {
            err = BM_ETRUNCATED;
            break;
        }
        e.key = p + off;
        off += e.klen;
        if (e.had_old) {
            if (len - off < 4) {
                err = BM_ETRUNCATED;
                break;
            }
            e.vlen = get_be32(p + off);
            off += 4;
            if (e.vlen > BM_KV_MAX_VALUE) {
                err = bm_errf(em, BM_ECORRUPT, "undo chunk: entry %u: vlen "
                              "%zu, want at most %u", i, e.vlen,
                              BM_KV_MAX_VALUE);
                break;
            }
            if (len - off < e.vlen) {
                err = BM_ETRUNCATED;
                break;
            }
            e.old = p + off;
            off += e.vlen;
        }
        v[i] = e;
    }
    if (err == BM_ETRUNCATED) {
        err = bm_errf(em, BM_ECORRUPT, "undo chunk: truncated at byte %zu "
                      "of %zu", off, len);
    } else if (err == BM_OK && off != len) {
        err = bm_errf(em, BM_ECORRUPT, "undo chunk: %zu bytes after %u "
                      "entries", len - off, count);
    }
    if (err != BM_OK) {
        bm_free(v);
        return err;
    }
    *out = v;
    *n = count;
    return BM_OK;
}
