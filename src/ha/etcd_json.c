/*
 * Decoders of etcd v3 JSON gateway bodies (src/ha/etcd.h). Every body is
 * untrusted: the parse is strict with a depth cap, each field is checked
 * for its JSON type before use, counts are capped, and errors name the
 * field. proto3 JSON omits zero values, so an absent scalar reads as 0.
 */
#include "ha/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "util/alloc.h"
#include "util/errmsg.h"

#define JSON_DEPTH 16
#define MAX_ETCD_MSG 200 /* bytes of etcd's error text we keep */

void bm_etcd_kv_release(struct bm_etcd_kv *kv)
{
    if (kv == NULL) {
        return;
    }
    bm_buf_release(&kv->key);
    bm_buf_release(&kv->value);
    memset(kv, 0, sizeof(*kv));
}

void bm_etcd_resp_release(struct bm_etcd_resp *r)
{
    if (r == NULL) {
        return;
    }
    bm_etcd_kv_release(&r->kv);
    memset(r, 0, sizeof(*r));
}

void bm_etcd_watch_msg_release(struct bm_etcd_watch_msg *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n_events; i++) {
        bm_etcd_kv_release(&m->events[i].kv);
    }
    bm_free(m->events);
    memset(m, 0, sizeof(*m));
}

enum bm_err bm__etcd_b64_append(struct bm_dynbuf *d, const uint8_t *p, size_t n)
{
    size_t enc_len;
    size_t new_len;
    char *tmp;
    enum bm_err err;

    if (n > (SIZE_MAX - 4) / 4 * 3) {
        return BM_ETOOBIG;
    }
    /* includes the NUL that sodium writes */
    enc_len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    if (!bm_size_add(d->len, enc_len - 1, &new_len) || new_len > d->max) {
        return BM_ETOOBIG;
    }
    tmp = bm_malloc(enc_len);
    if (tmp == NULL) {
        return BM_ENOMEM;
    }
    sodium_bin2base64(tmp, enc_len, p, n, sodium_base64_VARIANT_ORIGINAL);
    err = bm_dynbuf_append(d, tmp, enc_len - 1);
    bm_free(tmp);
    return err;
}

/* Strict padded base64 to bytes (json string o). */
static enum bm_err b64_decode(struct json_object *o, struct bm_buf *out,
                              const char *field, struct bm_errmsg *em)
{
    const char *s;
    size_t len;
    size_t bin_len = 0;
    uint8_t *bin;

    if (!json_object_is_type(o, json_type_string)) {
        return bm_errf(em, BM_EPROTO, "etcd: %s: want a base64 string", field);
    }
    s = json_object_get_string(o);
    len = (size_t)json_object_get_string_len(o);
    if (len == 0) {
        bm_buf_release(out);
        return BM_OK;
    }
    if (len % 4 != 0) {
        return bm_errf(em, BM_EPROTO, "etcd: %s: base64 length %zu", field,
                       len);
    }
    bin = bm_malloc(len / 4 * 3);
    if (bin == NULL) {
        return BM_ENOMEM;
    }
    if (sodium_base642bin(bin, len / 4 * 3, s, len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        bm_free(bin);
        return bm_errf(em, BM_EPROTO, "etcd: %s: invalid base64", field);
    }
    bm_buf_release(out);
    if (bin_len == 0) {
        bm_free(bin);
        return BM_OK;
    }
    out->ptr = bin;
    out->len = bin_len;
    return BM_OK;
}

/* An int64 member: absent or null = 0; a JSON integer or a decimal
 * string (proto3 JSON's int64). */
static enum bm_err get_i64(struct json_object *obj, const char *name,
                           int64_t *out, const char *ctx, struct bm_errmsg *em)
{
    struct json_object *o = NULL;

    *out = 0;
    if (!json_object_object_get_ex(obj, name, &o) || o == NULL) {
        return BM_OK;
    }
    if (json_object_is_type(o, json_type_int)) {
        errno = 0;
        int64_t v = json_object_get_int64(o);
        if (errno != 0 || v == INT64_MAX || v == INT64_MIN) {
            return bm_errf(em, BM_EPROTO, "etcd: %s.%s: out of range", ctx,
                           name);
        }
        *out = v;
        return BM_OK;
    }
    if (json_object_is_type(o, json_type_string)) {
        const char *s = json_object_get_string(o);
        size_t len = (size_t)json_object_get_string_len(o);
        size_t i = 0;
        bool neg = false;
        uint64_t v = 0;

        if (len > 0 && s[0] == '-') {
            neg = true;
            i = 1;
        }
        if (i == len || len > 20) {
            goto bad;
        }
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') {
                goto bad;
            }
            if (v > (UINT64_MAX - 9) / 10) {
                goto bad;
            }
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (!neg && v > (uint64_t)INT64_MAX) {
            goto bad;
        }
        if (neg && v > (uint64_t)INT64_MAX + 1) {
            goto bad;
        }
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return BM_OK;
    }
bad:
    return bm_errf(em, BM_EPROTO, "etcd: %s.%s: want an int64", ctx, name);
}

static enum bm_err get_bool(struct json_object *obj, const char *name,
                            bool *out, const char *ctx, struct bm_errmsg *em)
{
    struct json_object *o = NULL;

    *out = false;
    if (!json_object_object_get_ex(obj, name, &o) || o == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(o, json_type_boolean)) {
        return bm_errf(em, BM_EPROTO, "etcd: %s.%s: want a boolean", ctx, name);
    }
    *out = json_object_get_boolean(o) != 0;
    return BM_OK;
}

/* Member name of obj that must be an object when present. */
static enum bm_err get_obj(struct json_object *obj, const char *name,
                           struct json_object **out, const char *ctx,
                           struct bm_errmsg *em)
{
    struct json_object *o = NULL;

    *out = NULL;
    if (!json_object_object_get_ex(obj, name, &o) || o == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(o, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "etcd: %s.%s: want an object", ctx, name);
    }
    *out = o;
    return BM_OK;
}

static enum bm_err get_array(struct json_object *obj, const char *name,
                             struct json_object **out, const char *ctx,
                             struct bm_errmsg *em)
{
    struct json_object *o = NULL;

    *out = NULL;
    if (!json_object_object_get_ex(obj, name, &o) || o == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(o, json_type_array)) {
        return bm_errf(em, BM_EPROTO, "etcd: %s.%s: want an array", ctx, name);
    }
    *out = o;
    return BM_OK;
}

/* Copies etcd's text into em, keeping printable ASCII only. */
static int etcd_error(struct bm_errmsg *em, int err, const char *text,
                      int64_t code)
{
    char clean[MAX_ETCD_MSG + 1];
    size_t n = 0;

    for (const char *p = text; p != NULL && *p != '\0' && n < MAX_ETCD_MSG;
         p++) {
        unsigned char c = (unsigned char)*p;
        clean[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    clean[n] = '\0';
    return bm_errf(em, err, "etcd: %s (code %" PRId64 ")",
                   n > 0 ? clean : "error without a message", code);
}

/* The gRPC status code of an etcd error to our code. */
static int grpc_err(int64_t code)
{
    switch (code) {
    case 4: /* DeadlineExceeded */
        return BM_ETIMEDOUT;
    case 5: /* NotFound */
        return BM_ENOTFOUND;
    case 14: /* Unavailable */
        return BM_EAGAIN;
    default:
        return BM_EETCD;
    }
}

/*
 * An error answer: unary {"error": "text", "message": "text", "code": N}
 * or a stream's {"error": {"grpc_code": N, "message": "text", ...}}.
 * Returns BM_OK when root carries no error.
 */
static enum bm_err check_error(struct json_object *root, struct bm_errmsg *em)
{
    struct json_object *e = NULL;
    struct json_object *m = NULL;
    int64_t code = 0;
    enum bm_err err;

    if (!json_object_object_get_ex(root, "error", &e) || e == NULL) {
        return BM_OK;
    }
    if (json_object_is_type(e, json_type_object)) {
        err = get_i64(e, "grpc_code", &code, "error", em);
        if (err != BM_OK) {
            return err;
        }
        json_object_object_get_ex(e, "message", &m);
    } else if (json_object_is_type(e, json_type_string)) {
        err = get_i64(root, "code", &code, "body", em);
        if (err != BM_OK) {
            return err;
        }
        if (!json_object_object_get_ex(root, "message", &m)) {
            m = e;
        }
    } else {
        return bm_errf(em, BM_EPROTO,
                       "etcd: error: want an object or a "
                       "string");
    }
    if (m != NULL && !json_object_is_type(m, json_type_string)) {
        return bm_errf(em, BM_EPROTO, "etcd: error.message: want a string");
    }
    return etcd_error(em, grpc_err(code),
                      m != NULL ? json_object_get_string(m) : NULL, code);
}

static enum bm_err parse(const char *body, size_t len, struct json_object **out,
                         struct bm_errmsg *em)
{
    struct json_tokener *tok;
    struct json_object *root;
    enum json_tokener_error jerr;

    *out = NULL;
    if (len == 0) {
        return bm_errf(em, BM_EPROTO, "etcd: empty body");
    }
    if (len > INT_MAX) {
        return bm_errf(em, BM_ETOOBIG, "etcd: body of %zu bytes", len);
    }
    tok = json_tokener_new_ex(JSON_DEPTH);
    if (tok == NULL) {
        return BM_ENOMEM;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, body, (int)len);
    jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_success) {
        /* only white space may follow the value */
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
            if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' &&
                body[i] != '\t') {
                jerr = json_tokener_error_parse_unexpected;
                break;
            }
        }
    }
    json_tokener_free(tok);
    if (jerr != json_tokener_success || root == NULL) {
        json_object_put(root);
        return bm_errf(em, BM_EPROTO, "etcd: body is not JSON: %s",
                       jerr == json_tokener_success
                           ? "no value"
                           : json_tokener_error_desc(jerr));
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return bm_errf(em, BM_EPROTO, "etcd: body: want an object");
    }
    *out = root;
    return BM_OK;
}

static enum bm_err decode_header(struct json_object *obj, int64_t *rev,
                                 int64_t *term, const char *ctx,
                                 struct bm_errmsg *em)
{
    struct json_object *h;
    enum bm_err err = get_obj(obj, "header", &h, ctx, em);

    if (err != BM_OK) {
        return err;
    }
    if (h == NULL) {
        return bm_errf(em, BM_EPROTO, "etcd: %s.header: missing", ctx);
    }
    err = get_i64(h, "revision", rev, "header", em);
    if (err == BM_OK && term != NULL) {
        err = get_i64(h, "raft_term", term, "header", em);
    }
    if (err == BM_OK && *rev < 0) {
        err = bm_errf(em, BM_EPROTO, "etcd: header.revision: negative");
    }
    return err;
}

static enum bm_err decode_kv(struct json_object *o, struct bm_etcd_kv *kv,
                             const char *ctx, struct bm_errmsg *em)
{
    struct json_object *v = NULL;
    enum bm_err err;

    bm_etcd_kv_release(kv);
    if (!json_object_is_type(o, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "etcd: %s: want an object", ctx);
    }
    err = get_i64(o, "create_revision", &kv->create_revision, ctx, em);
    if (err == BM_OK) {
        err = get_i64(o, "mod_revision", &kv->mod_revision, ctx, em);
    }
    if (err == BM_OK) {
        err = get_i64(o, "version", &kv->version, ctx, em);
    }
    if (err == BM_OK) {
        err = get_i64(o, "lease", &kv->lease, ctx, em);
    }
    if (err == BM_OK &&
        (kv->create_revision < 0 || kv->mod_revision < 0 || kv->version < 0)) {
        err = bm_errf(em, BM_EPROTO, "etcd: %s: negative revision", ctx);
    }
    if (err == BM_OK && json_object_object_get_ex(o, "key", &v) && v) {
        err = b64_decode(v, &kv->key, "kv.key", em);
    }
    if (err == BM_OK && json_object_object_get_ex(o, "value", &v) && v) {
        err = b64_decode(v, &kv->value, "kv.value", em);
    }
    if (err != BM_OK) {
        bm_etcd_kv_release(kv);
    }
    return err;
}

/* A RangeResponse object: count, first kv. */
static enum bm_err decode_range(struct json_object *obj,
                                struct bm_etcd_resp *out, const char *ctx,
                                struct bm_errmsg *em)
{
    struct json_object *kvs;
    size_t n;
    enum bm_err err = get_i64(obj, "count", &out->count, ctx, em);

    if (err == BM_OK) {
        err = get_array(obj, "kvs", &kvs, ctx, em);
    }
    if (err != BM_OK) {
        return err;
    }
    n = kvs != NULL ? json_object_array_length(kvs) : 0;
    if (n > BM_ETCD_MAX_KVS) {
        return bm_errf(em, BM_EPROTO, "etcd: %s.kvs: %zu entries, at most %u",
                       ctx, n, BM_ETCD_MAX_KVS);
    }
    if (out->count < 0 || (uint64_t)out->count < n) {
        return bm_errf(em, BM_EPROTO,
                       "etcd: %s.count: %" PRId64 " below the %zu kvs", ctx,
                       out->count, n);
    }
    if (n > 0) {
        err = decode_kv(json_object_array_get_idx(kvs, 0), &out->kv, "kvs[0]",
                        em);
        out->has_kv = err == BM_OK;
    }
    return err;
}

/* A TxnResponse: succeeded, and the kv of the first range response. */
static enum bm_err decode_txn(struct json_object *root,
                              struct bm_etcd_resp *out, struct bm_errmsg *em)
{
    struct json_object *rs;
    size_t n;
    enum bm_err err = get_bool(root, "succeeded", &out->succeeded, "txn", em);

    if (err == BM_OK) {
        err = get_array(root, "responses", &rs, "txn", em);
    }
    if (err != BM_OK) {
        return err;
    }
    n = rs != NULL ? json_object_array_length(rs) : 0;
    if (n > 16) {
        return bm_errf(em, BM_EPROTO, "etcd: txn.responses: %zu entries", n);
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(rs, i);
        struct json_object *range;
        if (!json_object_is_type(r, json_type_object)) {
            return bm_errf(em, BM_EPROTO,
                           "etcd: txn.responses[%zu]: want an object", i);
        }
        err = get_obj(r, "response_range", &range, "txn.responses", em);
        if (err != BM_OK) {
            return err;
        }
        if (range != NULL && !out->has_kv) {
            err = decode_range(range, out, "txn.response_range", em);
            if (err != BM_OK) {
                return err;
            }
        }
    }
    return BM_OK;
}

enum bm_err bm__etcd_decode(enum bm_etcd_call call, const char *body,
                            size_t len, struct bm_etcd_resp *out,
                            struct bm_errmsg *em)
{
    struct json_object *root = NULL;
    struct json_object *obj;
    struct bm_etcd_resp t = {0};
    enum bm_err err;

    bm_etcd_resp_release(out);
    err = parse(body, len, &root, em);
    if (err != BM_OK) {
        return err;
    }
    err = check_error(root, em);
    if (err != BM_OK) {
        goto out;
    }
    obj = root;
    if (call == BM_ETCD_CALL_KEEPALIVE) {
        err = get_obj(root, "result", &obj, "body", em);
        if (err == BM_OK && obj == NULL) {
            err = bm_errf(em, BM_EPROTO, "etcd: keepalive: no result");
        }
        if (err == BM_OK) {
            err = check_error(obj, em);
        }
        if (err != BM_OK) {
            goto out;
        }
    }
    err = decode_header(obj, &t.revision, &t.raft_term, "body", em);
    if (err != BM_OK) {
        goto out;
    }
    switch (call) {
    case BM_ETCD_CALL_RANGE:
        err = decode_range(obj, &t, "range", em);
        break;
    case BM_ETCD_CALL_TXN:
        err = decode_txn(obj, &t, em);
        break;
    case BM_ETCD_CALL_GRANT:
    case BM_ETCD_CALL_KEEPALIVE:
        err = get_i64(obj, "ID", &t.lease_id, "lease", em);
        if (err == BM_OK) {
            err = get_i64(obj, "TTL", &t.ttl, "lease", em);
        }
        if (err == BM_OK && call == BM_ETCD_CALL_GRANT) {
            struct json_object *ge = NULL;
            if (json_object_object_get_ex(obj, "error", &ge) && ge != NULL &&
                json_object_is_type(ge, json_type_string) &&
                json_object_get_string_len(ge) > 0) {
                err = etcd_error(em, BM_EETCD, json_object_get_string(ge), 0);
            } else if (t.lease_id <= 0 || t.ttl <= 0) {
                err = bm_errf(em, BM_EPROTO,
                              "etcd: lease grant: ID %" PRId64 " TTL %" PRId64,
                              t.lease_id, t.ttl);
            }
        }
        if (err == BM_OK && t.ttl < 0) {
            t.ttl = 0; /* -1: the lease is gone */
        }
        break;
    case BM_ETCD_CALL_PUT:
    case BM_ETCD_CALL_REVOKE:
        break;
    }
out:
    json_object_put(root);
    if (err == BM_OK) {
        *out = t;
    } else {
        bm_etcd_resp_release(&t);
    }
    return err;
}

enum bm_err bm__etcd_decode_watch(const char *line, size_t len,
                                  struct bm_etcd_watch_msg *out,
                                  struct bm_errmsg *em)
{
    struct json_object *root = NULL;
    struct json_object *res;
    struct json_object *evs;
    struct bm_etcd_watch_msg t = {0};
    size_t n;
    enum bm_err err;

    bm_etcd_watch_msg_release(out);
    err = parse(line, len, &root, em);
    if (err != BM_OK) {
        return err;
    }
    err = check_error(root, em);
    if (err == BM_OK) {
        err = get_obj(root, "result", &res, "watch", em);
    }
    if (err == BM_OK && res == NULL) {
        err = bm_errf(em, BM_EPROTO, "etcd: watch: no result");
    }
    if (err == BM_OK) {
        err = decode_header(res, &t.revision, NULL, "watch", em);
    }
    if (err == BM_OK) {
        err = get_bool(res, "created", &t.created, "watch", em);
    }
    if (err == BM_OK) {
        err = get_bool(res, "canceled", &t.canceled, "watch", em);
    }
    if (err == BM_OK) {
        err =
            get_i64(res, "compact_revision", &t.compact_revision, "watch", em);
    }
    if (err == BM_OK) {
        err = get_array(res, "events", &evs, "watch", em);
    }
    if (err != BM_OK) {
        goto out;
    }
    n = evs != NULL ? json_object_array_length(evs) : 0;
    if (n > BM_ETCD_MAX_EVENTS) {
        err = bm_errf(em, BM_ETOOBIG, "etcd: watch.events: %zu, at most %u", n,
                      BM_ETCD_MAX_EVENTS);
        goto out;
    }
    if (n > 0) {
        t.events = bm_calloc(n, sizeof(*t.events));
        if (t.events == NULL) {
            err = BM_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n && err == BM_OK; i++) {
        struct json_object *ev = json_object_array_get_idx(evs, i);
        struct json_object *type = NULL;
        struct json_object *kv;

        if (!json_object_is_type(ev, json_type_object)) {
            err = bm_errf(em, BM_EPROTO,
                          "etcd: watch.events[%zu]: want an "
                          "object",
                          i);
            break;
        }
        t.n_events = i + 1;
        t.events[i].type = BM_ETCD_EVENT_PUT;
        if (json_object_object_get_ex(ev, "type", &type) && type != NULL) {
            const char *s = json_object_is_type(type, json_type_string)
                                ? json_object_get_string(type)
                                : "";
            if (strcmp(s, "DELETE") == 0) {
                t.events[i].type = BM_ETCD_EVENT_DELETE;
            } else if (strcmp(s, "PUT") != 0) {
                err = bm_errf(em, BM_EPROTO,
                              "etcd: watch.events[%zu].type: unknown", i);
                break;
            }
        }
        err = get_obj(ev, "kv", &kv, "watch.events", em);
        if (err == BM_OK && kv == NULL) {
            err = bm_errf(em, BM_EPROTO,
                          "etcd: watch.events[%zu].kv: "
                          "missing",
                          i);
        }
        if (err == BM_OK) {
            err = decode_kv(kv, &t.events[i].kv, "watch.events.kv", em);
        }
    }
out:
    json_object_put(root);
    if (err == BM_OK) {
        *out = t;
    } else {
        bm_etcd_watch_msg_release(&t);
    }
    return err;
}
