/* JSON and base64 helpers of the DA layer (see da_json.h). */
#include "da/da_json.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>


#include "util/alloc.h"
#include "util/json.h"
#include "util/json_scan.h"
#include "util/rfc3339.h"

#define SHARE_FIRST 478u
#define SHARE_CONT 482u

size_t bm__da_share_count(size_t len)
{
    if (len <= SHARE_FIRST) {
        return 1;
    }
    return 1 + (len - SHARE_FIRST + SHARE_CONT - 1) / SHARE_CONT;
}

/*
 * Base64 (standard alphabet, padded). Table-driven rather than libsodium's
 * constant-time codec: the data is public and blobs are megabytes, where
 * the constant-time code was the largest cost of a round trip.
 */
static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63, or 0xff for a byte outside the alphabet */
static const uint8_t b64_rev[256] = {
#define X 0xff
#define R16 X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X
    R16, R16,
    X, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    R16, R16, R16, R16, R16, R16, R16, R16,
#undef R16
#undef X
};

enum bm_err bm__da_dynbuf_presize(struct bm_dynbuf *d, size_t cap)
{
    uint8_t *np;

    if (cap > d->max) {
        cap = d->max;
    }
    if (cap <= d->cap) {
        return BM_OK;
    }
    /* what bm_dynbuf's own reserve() does, done once up front */
    np = bm_realloc(d->ptr, cap);
    if (np == NULL) {
        return BM_ENOMEM;
    }
    d->ptr = np;
    d->cap = cap;
    return BM_OK;
}

enum bm_err bm__da_b64_append(struct bm_dynbuf *d, const uint8_t *p,
                              size_t n)
{
    char chunk[4096];
    size_t i = 0;

    if (n / 3 > (d->max - d->len) / 4) {
        return BM_ETOOBIG;
    }
    while (i < n) {
        size_t o = 0;
        enum bm_err err;
        /* whole groups of 3 while they fit in the chunk */
        while (i + 3 <= n && o + 4 <= sizeof(chunk)) {
            uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
                         p[i + 2];
            chunk[o++] = b64_alpha[v >> 18];
            chunk[o++] = b64_alpha[(v >> 12) & 63];
            chunk[o++] = b64_alpha[(v >> 6) & 63];
            chunk[o++] = b64_alpha[v & 63];
            i += 3;
        }
        if (i < n && i + 3 > n && o + 4 <= sizeof(chunk)) {
            uint32_t v = (uint32_t)p[i] << 16;
            if (n - i == 2) {
                v |= (uint32_t)p[i + 1] << 8;
            }
            chunk[o++] = b64_alpha[v >> 18];
            chunk[o++] = b64_alpha[(v >> 12) & 63];
            chunk[o++] = n - i == 2 ? b64_alpha[(v >> 6) & 63] : '=';
            chunk[o++] = '=';
            i = n;
        }
        err = bm_dynbuf_append(d, chunk, o);
        if (err != BM_OK) {
            return err;
        }
    }
    return BM_OK;
}

/* The byte length of strict padded base64 text in[0..len), len a
 * non-zero multiple of 4, or 0 when it carries no byte. */
static size_t b64_out_len(const uint8_t *in, size_t len)
{
    size_t pad = 0;

    if (in[len - 1] == '=') {
        pad = in[len - 2] == '=' ? 2 : 1;
    }
    return len / 4 * 3 - pad;
}

/* Decodes in[0..len) (len a non-zero multiple of 4, n = b64_out_len)
 * into p[0..n). False on a byte outside the alphabet or misplaced
 * padding. Shared by the json-c decoder and the GetAll scanner, so both
 * accept exactly the same texts. */
static bool b64_decode_into(uint8_t *p, size_t n, const uint8_t *in,
                            size_t len)
{
    size_t pad = len / 4 * 3 - n, o = 0;

    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        uint8_t a = b64_rev[in[i]], b = b64_rev[in[i + 1]];
        uint8_t c = last && pad == 2 ? 0 : b64_rev[in[i + 2]];
        uint8_t e = last && pad >= 1 ? 0 : b64_rev[in[i + 3]];
        uint32_t v;
        if ((a | b | c | e) & 0xc0) {
            return false;
        }
        v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | e;
        p[o++] = (uint8_t)(v >> 16);
        if (o < n) {
            p[o++] = (uint8_t)(v >> 8);
        }
        if (o < n) {
            p[o++] = (uint8_t)v;
        }
    }
    return true;
}

enum bm_err bm__da_b64_decode(struct bm_buf *out, const char *s, size_t len,
                              const char *field, struct bm_errmsg *em)
{
    const uint8_t *in = (const uint8_t *)s;
    size_t n;
    uint8_t *p;

    bm_buf_release(out);
    if (len == 0) {
        return BM_OK;
    }
    if (len % 4 != 0) {
        return bm_errf(em, BM_EPARSE, "%s: invalid base64 length %zu", field,
                       len);
    }
    n = b64_out_len(in, len);
    if (n == 0) {
        return bm_errf(em, BM_EPARSE, "%s: invalid base64", field);
    }
    p = bm_malloc(n);
    if (p == NULL) {
        return BM_ENOMEM;
    }
    if (!b64_decode_into(p, n, in, len)) {
        bm_free(p);
        return bm_errf(em, BM_EPARSE, "%s: invalid base64", field);
    }
    out->ptr = p;
    out->len = n;
    return BM_OK;
}

enum bm_err bm__da_b64_decode_fixed(uint8_t *out, size_t n, const char *s,
                                    size_t len, const char *field,
                                    struct bm_errmsg *em)
{
    struct bm_buf b = {NULL, 0};
    enum bm_err err;

    /* reject absurd lengths before allocating */
    if (len > (n + 2) / 3 * 4) {
        return bm_errf(em, BM_EINVAL, "%s: want %zu bytes of base64", field,
                       n);
    }
    err = bm__da_b64_decode(&b, s, len, field, em);
    if (err != BM_OK) {
        return err;
    }
    if (b.len != n) {
        size_t got = b.len;
        bm_buf_release(&b);
        return bm_errf(em, BM_EINVAL, "%s: got %zu bytes, want %zu", field,
                       got, n);
    }
    memcpy(out, b.ptr, n);
    bm_buf_release(&b);
    return BM_OK;
}

enum bm_err bm__da_json_parse(const char *text, size_t len,
                              struct json_object **out, struct bm_errmsg *em)
{
    return bm_json_parse(text, len, BM__DA_JSON_DEPTH, out, em);
}

static enum bm_err parse_dec(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20) {
        return BM_EPARSE;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return BM_EPARSE;
        }
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) {
            return BM_EOVERFLOW;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return BM_OK;
}

enum bm_err bm__da_json_u64(struct json_object *o, uint64_t *out,
                            const char *field, struct bm_errmsg *em)
{
    if (o == NULL) {
        return bm_errf(em, BM_EMISSING, "%s: missing", field);
    }
    if (json_object_is_type(o, json_type_int)) {
        /* json-c keeps integers above INT64_MAX as uint64, but clamps
         * anything above UINT64_MAX to UINT64_MAX: that value is refused
         * as a number (ambiguous) and accepted only as a string */
        if (json_object_get_int64(o) < 0) {
            return bm_errf(em, BM_EPROTO, "%s: negative", field);
        }
        if (json_object_get_uint64(o) == UINT64_MAX) {
            return bm_errf(em, BM_EPROTO, "%s: out of range", field);
        }
        *out = json_object_get_uint64(o);
        return BM_OK;
    }
    if (json_object_is_type(o, json_type_string)) {
        uint64_t v;
        if (parse_dec(json_object_get_string(o),
                      (size_t)json_object_get_string_len(o), &v) != BM_OK) {
            return bm_errf(em, BM_EPROTO, "%s: not a uint64 string", field);
        }
        *out = v;
        return BM_OK;
    }
    return bm_errf(em, BM_EPROTO, "%s: want an integer", field);
}

enum bm_err bm__da_json_i64(struct json_object *o, int64_t *out,
                            const char *field, struct bm_errmsg *em)
{
    if (o != NULL && json_object_is_type(o, json_type_int)) {
        int64_t v = json_object_get_int64(o);
        if (v == INT64_MAX && json_object_get_uint64(o) != (uint64_t)v) {
            return bm_errf(em, BM_EPROTO, "%s: out of range", field);
        }
        *out = v;
        return BM_OK;
    }
    if (o != NULL && json_object_is_type(o, json_type_string)) {
        const char *s = json_object_get_string(o);
        size_t len = (size_t)json_object_get_string_len(o);
        bool neg = len > 0 && s[0] == '-';
        uint64_t v;
        if (parse_dec(s + neg, len - neg, &v) != BM_OK ||
            v > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) {
            return bm_errf(em, BM_EPROTO, "%s: not an int64 string", field);
        }
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return BM_OK;
    }
    if (o == NULL) {
        return bm_errf(em, BM_EMISSING, "%s: missing", field);
    }
    return bm_errf(em, BM_EPROTO, "%s: want an integer", field);
}

struct json_object *bm__da_json_get(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
        return NULL;
    }
    if (json_object_object_get_ex(obj, key, &v)) {
        return v;
    }
    json_object_object_foreach(obj, k, val)
    {
        if (strcasecmp(k, key) == 0) {
            return val;
        }
    }
    return NULL;
}

/* Accepts what this parser has always accepted from DA nodes: 't'/'z',
 * second 60 and days 29..31 in any month, but not ',' as decimal mark. */
#define DA_TIME_FLAGS \
    (BM_RFC3339_LOWER | BM_RFC3339_SEC60 | BM_RFC3339_LOOSE_MDAY)

enum bm_err bm__da_time_parse(const char *s, size_t len, int64_t *ns)
{
    int64_t secs;
    int32_t frac;
    enum bm_err err = bm_rfc3339_parse(s, len, DA_TIME_FLAGS, &secs, &frac);

    if (err != BM_OK) {
        return err;
    }
    /* int64 ns covers 1678..2262 */
    if (secs > INT64_MAX / 1000000000 - 1 || secs < INT64_MIN / 1000000000 + 1) {
        return BM_EOVERFLOW;
    }
    *ns = secs * 1000000000 + (int64_t)frac;
    return BM_OK;
}

void bm__da_time_format(char *out, size_t cap, int64_t ns)
{
    char t[BM_RFC3339_MAX];

    bm_rfc3339_format_utc9(ns / 1000000000, (int32_t)(ns % 1000000000), t);
    snprintf(out, cap, "%s", t);
}

static enum bm_err get_string(struct json_object *o, const char **s,
                              size_t *len, const char *field,
                              struct bm_errmsg *em)
{
    *s = NULL; /* defined on every path (keeps -O3 flow analysis quiet) */
    *len = 0;
    if (o == NULL) {
        return bm_errf(em, BM_EMISSING, "%s: missing", field);
    }
    if (!json_object_is_type(o, json_type_string)) {
        return bm_errf(em, BM_EPROTO, "%s: want a string", field);
    }
    *s = json_object_get_string(o);
    *len = (size_t)json_object_get_string_len(o);
    return BM_OK;
}

/*
 * An error of a member's check, made under the member's own name
 * ("data: invalid base64"), as "<field>.data: invalid base64". The name
 * is composed only on error: a DA answer has thousands of blobs, and a
 * name formatted per member ahead of each check was a measurable part of
 * decoding one (docs/PERFORMANCE.md "DA catch-up").
 */
static enum bm_err member_err(struct bm_errmsg *em, enum bm_err err,
                              const char *field)
{
    char inner[sizeof(em->msg)];

    if (em == NULL) {
        return err;
    }
    if (err == BM_ENOMEM) { /* the one error without a message */
        return bm_errf(em, err, "%s: out of memory", field);
    }
    memcpy(inner, em->msg, sizeof(inner));
    inner[sizeof(inner) - 1] = '\0';
    return bm_errf(em, err, "%s.%s", field, inner);
}

enum bm_err bm__da_blob_from_json(struct json_object *o, struct bm_da_blob *b,
                                  const char *field, struct bm_errmsg *em)
{
    struct json_object *v;
    const char *s;
    size_t len;
    uint64_t sv = 0;
    enum bm_err err;

    bm_da_blob_release(b);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "%s: want an object", field);
    }
    err = get_string(bm__da_json_get(o, "namespace"), &s, &len, "namespace",
                     em);
    if (err == BM_OK) {
        err = bm__da_b64_decode_fixed(b->ns.b, BM_DA_NS_LEN, s, len,
                                      "namespace", em);
    }
    if (err != BM_OK) {
        goto fail;
    }
    err = get_string(bm__da_json_get(o, "data"), &s, &len, "data", em);
    if (err == BM_OK) {
        err = bm__da_b64_decode(&b->data, s, len, "data", em);
    }
    if (err != BM_OK) {
        goto fail;
    }
    v = bm__da_json_get(o, "share_version");
    if (v != NULL) {
        err = bm__da_json_u64(v, &sv, "share_version", em);
        if (err != BM_OK) {
            goto fail;
        }
        if (sv > 1) {
            err = bm_errf(em, BM_EPROTO,
                          "share_version: unsupported share version %" PRIu64,
                          sv);
            goto fail;
        }
    }
    b->share_version = (uint32_t)sv;
    v = bm__da_json_get(o, "commitment");
    if (v != NULL && !json_object_is_type(v, json_type_null)) {
        err = get_string(v, &s, &len, "commitment", em);
        if (err == BM_OK) {
            err = bm__da_b64_decode_fixed(b->commitment, BM_DA_COMMITMENT_LEN,
                                          s, len, "commitment", em);
        }
        if (err != BM_OK) {
            goto fail;
        }
    }
    v = bm__da_json_get(o, "signer");
    if (v != NULL && !json_object_is_type(v, json_type_null)) {
        err = get_string(v, &s, &len, "signer", em);
        if (err == BM_OK && len > 0) {
            err = bm__da_b64_decode_fixed(b->signer, BM_DA_SIGNER_LEN, s, len,
                                          "signer", em);
            b->has_signer = err == BM_OK;
        }
        if (err != BM_OK) {
            goto fail;
        }
    }
    b->index = -1;
    v = bm__da_json_get(o, "index");
    if (v != NULL) {
        err = bm__da_json_i64(v, &b->index, "index", em);
        if (err != BM_OK) {
            goto fail;
        }
    }
    return BM_OK;
fail:
    bm_da_blob_release(b);
    return member_err(em, err, field);
}

enum bm_err bm__da_blob_append_json(struct bm_dynbuf *d,
                                    const struct bm_da_blob *b)
{
    enum bm_err err;

    err = bm_dynbuf_printf(d, "{\"namespace\":\"");
    if (err == BM_OK) {
        err = bm__da_b64_append(d, b->ns.b, BM_DA_NS_LEN);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(d, "\",\"data\":\"");
    }
    if (err == BM_OK) {
        err = bm__da_b64_append(d, b->data.ptr, b->data.len);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(d, "\",\"share_version\":%u,\"commitment\":\"",
                               (unsigned)b->share_version);
    }
    if (err == BM_OK) {
        err = bm__da_b64_append(d, b->commitment, BM_DA_COMMITMENT_LEN);
    }
    if (err == BM_OK && b->has_signer) {
        err = bm_dynbuf_printf(d, "\",\"signer\":\"");
        if (err == BM_OK) {
            err = bm__da_b64_append(d, b->signer, BM_DA_SIGNER_LEN);
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(d, "\",\"index\":%" PRId64 "}", b->index);
    }
    return err;
}

/* ---- responses ---- */

void bm__da_response_release(struct bm__da_response *r)
{
    if (r == NULL) {
        return;
    }
    json_object_put(r->root);
    r->root = NULL;
    r->result = NULL;
}

enum bm_err bm__da_response_parse(const char *body, size_t len,
                                  uint64_t want_id, struct bm__da_response *r,
                                  struct bm_errmsg *em)
{
    struct json_object *root = NULL, *v, *e;
    enum bm_err err;

    r->root = NULL;
    r->result = NULL;
    {
        struct bm_errmsg pem = {{0}};
        err = bm__da_json_parse(body, len, &root, &pem);
        if (err != BM_OK) {
            return bm_errf(em, BM_EPROTO, "response: %s",
                           bm_errmsg_str(&pem, err));
        }
    }
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return bm_errf(em, BM_EPROTO, "response: not a JSON object");
    }
    v = bm__da_json_get(root, "id");
    if (v != NULL && json_object_is_type(v, json_type_int) &&
        (json_object_get_int64(v) < 0 ||
         json_object_get_uint64(v) != want_id)) {
        err = bm_errf(em, BM_EPROTO, "response.id: got %.32s, want %" PRIu64,
                      json_object_get_string(v), want_id);
        json_object_put(root);
        return err;
    }
    e = bm__da_json_get(root, "error");
    if (e != NULL && !json_object_is_type(e, json_type_null)) {
        struct json_object *m = bm__da_json_get(e, "message");
        struct json_object *c = bm__da_json_get(e, "code");
        const char *msg = "";
        int64_t code = 0;
        enum bm_da_status st;
        if (!json_object_is_type(e, json_type_object)) {
            json_object_put(root);
            return bm_errf(em, BM_EPROTO, "response.error: want an object");
        }
        if (m != NULL && json_object_is_type(m, json_type_string)) {
            msg = json_object_get_string(m);
        }
        if (c != NULL && json_object_is_type(c, json_type_int)) {
            code = json_object_get_int64(c);
        }
        st = bm_da_status_from_message(msg);
        err = bm_da_status_to_err(st);
        if (err == BM_OK) {
            err = BM_EDA_ERROR;
        }
        /* the server's text is kept verbatim so callers can match it */
        if (code == 1 || msg[0] != '\0') {
            bm_errf(em, err, "%s", msg[0] != '\0' ? msg : "(no message)");
        } else {
            bm_errf(em, err, "rpc error code %" PRId64, code);
        }
        json_object_put(root);
        return err;
    }
    if (!json_object_object_get_ex(root, "result", &v)) {
        json_object_put(root);
        return bm_errf(em, BM_EPROTO, "response: neither result nor error");
    }
    r->root = root;
    r->result = v;
    return BM_OK;
}

enum bm_err bm__da_decode_blobs(struct json_object *result,
                                struct bm_da_blob_list *out,
                                struct bm_errmsg *em)
{
    struct bm_da_blob_list l = {NULL, 0};
    size_t n;
    enum bm_err err;

    if (result == NULL) {
        return bm_errf(em, BM_EDA_NOT_FOUND, BM_DA_MSG_NOT_FOUND);
    }
    if (!json_object_is_type(result, json_type_array)) {
        return bm_errf(em, BM_EPROTO, "result: want an array of blobs");
    }
    n = json_object_array_length(result);
    if (n == 0) {
        return bm_errf(em, BM_EDA_NOT_FOUND, BM_DA_MSG_NOT_FOUND);
    }
    if (n > BM__DA_MAX_BLOBS) {
        return bm_errf(em, BM_EPROTO, "result: %zu blobs, at most %d", n,
                       BM__DA_MAX_BLOBS);
    }
    l.v = bm_calloc(n, sizeof(*l.v));
    if (l.v == NULL) {
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char f[48];
        snprintf(f, sizeof(f), "result[%zu]", i);
        err = bm__da_blob_from_json(json_object_array_get_idx(result, i),
                                    &l.v[i], f, em);
        if (err != BM_OK) {
            l.n = i;
            bm_da_blob_list_release(&l);
            return err;
        }
    }
    l.n = n;
    *out = l;
    return BM_OK;
}

enum bm_err bm__da_decode_blob(struct json_object *result,
                               struct bm_da_blob *out, struct bm_errmsg *em)
{
    struct bm_da_blob b;

    if (result == NULL) {
        return bm_errf(em, BM_EDA_NOT_FOUND, BM_DA_MSG_NOT_FOUND);
    }
    memset(&b, 0, sizeof(b));
    enum bm_err err = bm__da_blob_from_json(result, &b, "result", em);
    if (err != BM_OK) {
        return err;
    }
    *out = b;
    return BM_OK;
}

enum bm_err bm__da_decode_height(struct json_object *result, uint64_t *out,
                                 struct bm_errmsg *em)
{
    return bm__da_json_u64(result, out, "result", em);
}

enum bm_err bm__da_decode_bool(struct json_object *result, bool *out,
                               struct bm_errmsg *em)
{
    if (result == NULL || !json_object_is_type(result, json_type_boolean)) {
        return bm_errf(em, BM_EPROTO, "result: want a boolean");
    }
    *out = json_object_get_boolean(result) != 0;
    return BM_OK;
}

enum bm_err bm__da_decode_proof(struct json_object *result,
                                struct bm_buf *proof_json,
                                struct bm_errmsg *em)
{
    const char *s;
    size_t len;

    if (result == NULL || !json_object_is_type(result, json_type_array)) {
        return bm_errf(em, BM_EPROTO, "result: want an array of NMT proofs");
    }
    s = json_object_to_json_string_length(
        result, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (s == NULL) {
        return BM_ENOMEM;
    }
    return bm_buf_set(proof_json, (const uint8_t *)s, len);
}

enum bm_err bm__da_decode_header(struct json_object *result,
                                 struct bm_da_header *out,
                                 struct bm_errmsg *em)
{
    struct json_object *hdr, *h, *t;
    struct bm_da_header r = {0, false, 0};
    enum bm_err err;

    if (result == NULL || !json_object_is_type(result, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "result: want a header object");
    }
    hdr = bm__da_json_get(result, "header");
    h = bm__da_json_get(hdr, "height");
    if (h == NULL) {
        h = bm__da_json_get(result, "height");
    }
    err = bm__da_json_u64(h, &r.height, "result.header.height", em);
    if (err != BM_OK) {
        return err == BM_EMISSING ? BM_EPROTO : err;
    }
    t = bm__da_json_get(hdr, "time");
    if (t == NULL) {
        t = bm__da_json_get(result, "time");
    }
    if (t != NULL && !json_object_is_type(t, json_type_null)) {
        if (!json_object_is_type(t, json_type_string) ||
            bm__da_time_parse(json_object_get_string(t),
                              (size_t)json_object_get_string_len(t),
                              &r.time_unix_ns) != BM_OK) {
            return bm_errf(em, BM_EPROTO,
                           "result.header.time: want an RFC 3339 time");
        }
        r.has_time = true;
    }
    *out = r;
    return BM_OK;
}

/* ---- requests ---- */

void bm__da_request_release(struct bm__da_request *req)
{
    if (req == NULL) {
        return;
    }
    bm_da_blob_list_release(&req->blobs);
}

static const struct {
    const char *name;
    enum bm__da_method m;
    size_t nparams;
} methods[] = {
    {"blob.Submit", BM__DA_SUBMIT, 2},
    {"blob.GetAll", BM__DA_GET_ALL, 2},
    {"blob.Get", BM__DA_GET, 3},
    {"blob.GetProof", BM__DA_GET_PROOF, 3},
    {"blob.Included", BM__DA_INCLUDED, 4},
    {"header.GetByHeight", BM__DA_HEADER_GET_BY_HEIGHT, 1},
    {"header.NetworkHead", BM__DA_HEADER_NETWORK_HEAD, 0},
    {"header.LocalHead", BM__DA_HEADER_LOCAL_HEAD, 0},
};

static enum bm_err param_ns(struct json_object *v, struct bm_da_namespace *ns,
                            const char *field, struct bm_errmsg *em)
{
    uint8_t raw[BM_DA_NS_LEN];
    const char *s;
    size_t len;
    enum bm_err err;

    err = get_string(v, &s, &len, field, em);
    if (err == BM_OK) {
        err = bm__da_b64_decode_fixed(raw, BM_DA_NS_LEN, s, len, field, em);
    }
    if (err == BM_OK) {
        err = bm_da_namespace_parse(ns, raw, BM_DA_NS_LEN, field, em);
    }
    return err;
}

static enum bm_err parse_params(struct json_object *params,
                                struct bm__da_request *req,
                                struct bm_errmsg *em)
{
    struct json_object *p0 = json_object_array_get_idx(params, 0);
    const char *s;
    size_t len, n;
    enum bm_err err;

    switch (req->method) {
    case BM__DA_SUBMIT: {
        struct json_object *opt = json_object_array_get_idx(params, 1);
        if (p0 == NULL || !json_object_is_type(p0, json_type_array)) {
            return bm_errf(em, BM_EINVAL, "params[0]: want an array of blobs");
        }
        if (opt != NULL && !json_object_is_type(opt, json_type_object)) {
            return bm_errf(em, BM_EINVAL, "params[1]: want a TxConfig object");
        }
        n = json_object_array_length(p0);
        if (n > BM__DA_MAX_BLOBS) {
            return bm_errf(em, BM_EINVAL, "params[0]: %zu blobs, at most %d",
                           n, BM__DA_MAX_BLOBS);
        }
        if (n == 0) {
            return BM_OK;
        }
        req->blobs.v = bm_calloc(n, sizeof(*req->blobs.v));
        if (req->blobs.v == NULL) {
            return BM_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            char f[48];
            snprintf(f, sizeof(f), "params[0][%zu]", i);
            err = bm__da_blob_from_json(json_object_array_get_idx(p0, i),
                                        &req->blobs.v[i], f, em);
            if (err != BM_OK) {
                return err == BM_ENOMEM ? err : BM_EINVAL;
            }
            req->blobs.n = i + 1;
            err = bm_da_namespace_parse(&req->blobs.v[i].ns,
                                        req->blobs.v[i].ns.b, BM_DA_NS_LEN,
                                        f, em);
            if (err != BM_OK) {
                return err;
            }
        }
        return BM_OK;
    }
    case BM__DA_HEADER_NETWORK_HEAD:
    case BM__DA_HEADER_LOCAL_HEAD:
        return BM_OK;
    default:
        break;
    }
    err = bm__da_json_u64(p0, &req->height, "params[0]", em);
    if (err != BM_OK) {
        return BM_EINVAL;
    }
    switch (req->method) {
    case BM__DA_GET_ALL: {
        struct json_object *arr = json_object_array_get_idx(params, 1);
        if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
            return bm_errf(em, BM_EINVAL,
                           "params[1]: want an array of namespaces");
        }
        n = json_object_array_length(arr);
        if (n == 0 || n > BM__DA_MAX_NAMESPACES) {
            return bm_errf(em, BM_EINVAL,
                           "params[1]: want 1..%d namespaces, got %zu",
                           BM__DA_MAX_NAMESPACES, n);
        }
        for (size_t i = 0; i < n; i++) {
            char f[32];
            snprintf(f, sizeof(f), "params[1][%zu]", i);
            err = param_ns(json_object_array_get_idx(arr, i), &req->ns[i], f,
                           em);
            if (err != BM_OK) {
                return BM_EINVAL;
            }
        }
        req->n_ns = n;
        return BM_OK;
    }
    case BM__DA_GET:
    case BM__DA_GET_PROOF:
    case BM__DA_INCLUDED: {
        size_t ci = req->method == BM__DA_INCLUDED ? 3 : 2;
        err = param_ns(json_object_array_get_idx(params, 1), &req->ns[0],
                       "params[1]", em);
        if (err != BM_OK) {
            return BM_EINVAL;
        }
        req->n_ns = 1;
        err = get_string(json_object_array_get_idx(params, ci), &s, &len,
                         ci == 3 ? "params[3]" : "params[2]", em);
        if (err == BM_OK) {
            err = bm__da_b64_decode_fixed(req->commitment,
                                          BM_DA_COMMITMENT_LEN, s, len,
                                          ci == 3 ? "params[3]" : "params[2]",
                                          em);
        }
        return err == BM_OK ? BM_OK : BM_EINVAL;
    }
    default:
        return BM_OK;
    }
}

enum bm_err bm__da_request_parse(const char *body, size_t len,
                                 struct bm__da_request *req, int *rpc_code,
                                 struct bm_errmsg *em)
{
    struct json_object *root = NULL, *v, *params;
    const char *name;
    bool found = false;
    size_t np;
    enum bm_err err;

    memset(req, 0, sizeof(*req));
    snprintf(req->id, sizeof(req->id), "null");
    *rpc_code = 0;
    err = bm__da_json_parse(body, len, &root, em);
    if (err != BM_OK) {
        *rpc_code = BM__DA_RPC_PARSE_ERROR;
        return err;
    }
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        *rpc_code = BM__DA_RPC_INVALID_REQUEST;
        err = bm_errf(em, BM_EINVAL, "request: not a JSON object");
        goto out;
    }
    v = bm__da_json_get(root, "id");
    if (v != NULL && (json_object_is_type(v, json_type_int) ||
                      json_object_is_type(v, json_type_string))) {
        size_t il;
        const char *id = json_object_to_json_string_length(
            v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &il);
        if (id != NULL && il < sizeof(req->id)) {
            memcpy(req->id, id, il);
            req->id[il] = '\0';
        }
    }
    v = bm__da_json_get(root, "method");
    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        *rpc_code = BM__DA_RPC_INVALID_REQUEST;
        err = bm_errf(em, BM_EINVAL, "request.method: want a string");
        goto out;
    }
    name = json_object_get_string(v);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(name, methods[i].name) == 0) {
            req->method = methods[i].m;
            np = methods[i].nparams;
            found = true;
            break;
        }
    }
    if (!found) {
        *rpc_code = BM__DA_RPC_NO_METHOD;
        err = bm_errf(em, BM_EUNSUPPORTED, "method '%.64s' not found", name);
        goto out;
    }
    params = bm__da_json_get(root, "params");
    if (params != NULL && json_object_is_type(params, json_type_null)) {
        params = NULL;
    }
    if ((params == NULL && np > 0) ||
        (params != NULL && !json_object_is_type(params, json_type_array))) {
        *rpc_code = BM__DA_RPC_INVALID_PARAMS;
        err = bm_errf(em, BM_EINVAL, "request.params: want an array of %zu",
                      np);
        goto out;
    }
    if (params != NULL && json_object_array_length(params) != np) {
        *rpc_code = BM__DA_RPC_INVALID_PARAMS;
        err = bm_errf(em, BM_EINVAL,
                      "request.params: got %zu parameters, want %zu",
                      json_object_array_length(params), np);
        goto out;
    }
    err = params == NULL ? BM_OK : parse_params(params, req, em);
    if (err != BM_OK) {
        *rpc_code = BM__DA_RPC_INVALID_PARAMS;
    }
out:
    json_object_put(root);
    return err;
}

/* ---- blob.GetAll answers without the json-c tree ----
 *
 * A catch-up decodes one GetAll answer per DA height, each with every
 * blob of the height as base64 text: json-c's object tree (a node and a
 * copy of every string) was most of the Retriever's CPU per block
 * (docs/PERFORMANCE.md "DA catch-up"). This scanner reads exactly the
 * shape our DA servers send and decodes each base64 string from the
 * response body straight into the blob's own buffer. Anything else (an
 * error member, an unknown or repeated key, an escape in a string, a
 * number that is not a plain integer, a field that would not decode) is
 * declined, never guessed: the caller then decodes the same bytes with
 * the json-c decoder, which owns every error message. So the scanner
 * accepts a subset of what that decoder accepts, with the same result
 * (fuzz/targets/fuzz_da_getall.c checks this on every input).
 */

/* Base64 text into exactly n bytes at out. */
static bool scan_b64_fixed(const uint8_t *str, size_t len, uint8_t *out,
                           size_t n)
{
    return len == bm__da_b64_len(n) && len > 0 && b64_out_len(str, len) == n &&
           b64_decode_into(out, n, str, len);
}

enum blob_key {
    BK_NAMESPACE = 1u << 0,
    BK_DATA = 1u << 1,
    BK_SHARE_VERSION = 1u << 2,
    BK_COMMITMENT = 1u << 3,
    BK_SIGNER = 1u << 4,
    BK_INDEX = 1u << 5,
};

static unsigned blob_key(const uint8_t *k, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } keys[] = {
        {"namespace", BK_NAMESPACE},   {"data", BK_DATA},
        {"share_version", BK_SHARE_VERSION}, {"commitment", BK_COMMITMENT},
        {"signer", BK_SIGNER},         {"index", BK_INDEX},
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strlen(keys[i].name) == len && memcmp(keys[i].name, k, len) == 0) {
            return keys[i].bit;
        }
    }
    return 0;
}

/* One blob object into *b (zeroed by the caller; on false it may hold a
 * data buffer, which the caller releases). */
static bool scan_blob(struct bm_json_scan *s, struct bm_da_blob *b)
{
    unsigned seen = 0;

    b->index = -1;
    if (!bm_json_scan_byte(s, '{')) {
        return false;
    }
    if (bm_json_scan_byte(s, '}')) {
        return false; /* no namespace: the json-c decoder says so */
    }
    do {
        const uint8_t *k, *v;
        size_t klen, vlen;
        unsigned bit;
        int64_t i;

        if (!bm_json_scan_string(s, &k, &klen) || !bm_json_scan_byte(s, ':')) {
            return false;
        }
        bit = blob_key(k, klen);
        if (bit == 0 || (seen & bit) != 0) {
            return false; /* unknown, other case, or repeated */
        }
        seen |= bit;
        switch (bit) {
        case BK_NAMESPACE:
            if (!bm_json_scan_raw_string(s, &v, &vlen) ||
                !scan_b64_fixed(v, vlen, b->ns.b, BM_DA_NS_LEN)) {
                return false;
            }
            break;
        case BK_DATA:
            if (!bm_json_scan_raw_string(s, &v, &vlen) || vlen % 4 != 0) {
                return false;
            }
            if (vlen > 0) {
                size_t n = b64_out_len(v, vlen);
                if (n == 0) {
                    return false;
                }
                b->data.ptr = bm_malloc(n);
                if (b->data.ptr == NULL) {
                    return false;
                }
                b->data.len = n;
                if (!b64_decode_into(b->data.ptr, n, v, vlen)) {
                    return false;
                }
            }
            break;
        case BK_SHARE_VERSION:
            if (!bm_json_scan_int(s, &i) || i < 0 || i > 1) {
                return false;
            }
            b->share_version = (uint32_t)i;
            break;
        case BK_COMMITMENT:
            if (bm_json_scan_word(s, "null", 4)) {
                break;
            }
            if (!bm_json_scan_raw_string(s, &v, &vlen) ||
                !scan_b64_fixed(v, vlen, b->commitment,
                                BM_DA_COMMITMENT_LEN)) {
                return false;
            }
            break;
        case BK_SIGNER:
            if (bm_json_scan_word(s, "null", 4)) {
                break;
            }
            if (!bm_json_scan_raw_string(s, &v, &vlen)) {
                return false;
            }
            if (vlen > 0) {
                if (!scan_b64_fixed(v, vlen, b->signer, BM_DA_SIGNER_LEN)) {
                    return false;
                }
                b->has_signer = true;
            }
            break;
        case BK_INDEX:
            if (!bm_json_scan_int(s, &b->index)) {
                return false;
            }
            break;
        default:
            return false;
        }
    } while (bm_json_scan_byte(s, ','));
    return bm_json_scan_byte(s, '}') && (seen & (BK_NAMESPACE | BK_DATA)) ==
                                    (BK_NAMESPACE | BK_DATA);
}

/* Grows l to hold one more blob (zeroed); false on ENOMEM or past the
 * cap (the json-c decoder then names it). */
static bool scan_list_grow(struct bm_da_blob_list *l, size_t *cap)
{
    if (l->n == BM__DA_MAX_BLOBS) {
        return false;
    }
    if (l->n == *cap) {
        size_t nc = *cap == 0 ? 16 : *cap * 2;
        struct bm_da_blob *nv;
        if (nc > BM__DA_MAX_BLOBS) {
            nc = BM__DA_MAX_BLOBS;
        }
        nv = bm_realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL) {
            return false;
        }
        l->v = nv;
        *cap = nc;
    }
    memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
    return true;
}

/* The result: null, or an array of blob objects. */
static bool scan_result(struct bm_json_scan *s, struct bm_da_blob_list *l)
{
    size_t cap = 0;

    if (bm_json_scan_word(s, "null", 4)) {
        return true;
    }
    if (!bm_json_scan_byte(s, '[')) {
        return false;
    }
    if (bm_json_scan_byte(s, ']')) {
        return true;
    }
    do {
        bool ok;
        if (!scan_list_grow(l, &cap)) {
            return false;
        }
        ok = scan_blob(s, &l->v[l->n]);
        l->n++; /* released with the list either way */
        if (!ok) {
            return false;
        }
    } while (bm_json_scan_byte(s, ','));
    return bm_json_scan_byte(s, ']');
}

bool bm__da_scan_get_all(const char *body, size_t len, uint64_t want_id,
                         struct bm_da_blob_list *out)
{
    struct bm_json_scan s = {(const uint8_t *)body,
                             (const uint8_t *)body + len};
    struct bm_da_blob_list l = {NULL, 0};
    unsigned seen = 0;
    enum { K_JSONRPC = 1, K_ID = 2, K_RESULT = 4 };

    if (body == NULL || len > INT32_MAX || !bm_json_scan_byte(&s, '{') ||
        bm_json_scan_peek(&s, '}')) {
        return false;
    }
    do {
        const uint8_t *k, *v;
        size_t klen, vlen;
        unsigned bit = 0;
        int64_t id;

        if (!bm_json_scan_string(&s, &k, &klen) ||
            !bm_json_scan_byte(&s, ':')) {
            goto decline;
        }
        if (klen == 7 && memcmp(k, "jsonrpc", 7) == 0) {
            bit = K_JSONRPC;
        } else if (klen == 2 && memcmp(k, "id", 2) == 0) {
            bit = K_ID;
        } else if (klen == 6 && memcmp(k, "result", 6) == 0) {
            bit = K_RESULT;
        }
        if (bit == 0 || (seen & bit) != 0) {
            goto decline; /* "error", anything else, or repeated */
        }
        seen |= bit;
        if (bit == K_JSONRPC && !bm_json_scan_string(&s, &v, &vlen)) {
            goto decline;
        }
        if (bit == K_ID && (!bm_json_scan_int(&s, &id) || id < 0 ||
                            (uint64_t)id != want_id)) {
            goto decline;
        }
        if (bit == K_RESULT && !scan_result(&s, &l)) {
            goto decline;
        }
    } while (bm_json_scan_byte(&s, ','));
    if (!bm_json_scan_byte(&s, '}') || (seen & K_RESULT) == 0) {
        goto decline;
    }
    bm_json_scan_ws(&s);
    if (s.p != s.end) {
        goto decline;
    }
    *out = l;
    return true;
decline:
    bm_da_blob_list_release(&l);
    return false;
}

enum bm_err bm__da_get_all_decode(const char *body, size_t len,
                                  uint64_t want_id,
                                  struct bm_da_blob_list *out,
                                  struct bm_errmsg *em)
{
    struct bm__da_response r = {NULL, NULL};
    struct bm_da_blob_list l = {NULL, 0};
    enum bm_err err;

    if (bm__da_scan_get_all(body, len, want_id, &l)) {
        if (l.n == 0) {
            bm_da_blob_list_release(&l);
            return bm_errf(em, BM_EDA_NOT_FOUND, BM_DA_MSG_NOT_FOUND);
        }
        *out = l;
        return BM_OK;
    }
    err = bm__da_response_parse(body, len, want_id, &r, em);
    if (err == BM_OK) {
        err = bm__da_decode_blobs(r.result, out, em);
    }
    bm__da_response_release(&r);
    return err;
}
