/* Tx ingress for the KV executor, see ingress.h. */
#include "exec/kv/ingress.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "blockv2/executor.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"

int bm_ingress_http_status(enum bm_err err)
{
    switch (err) {
    case BM_OK:
        return 202;
    case BM_EBADTX:
    case BM_EPARSE:
    case BM_EINVAL:
    case BM_EEMPTY:
        return 400;
    case BM_EEXIST:
        return 409;
    case BM_ETOOBIG:
        return 413;
    case BM_EUNSUPPORTED:
        return 415;
    case BM_ERATE_LIMITED:
        return 429;
    case BM_EQUEUE_FULL:
    case BM_EFULL:
    case BM_ECLOSED:
    case BM_ESTATE:
    case BM_EMAP_FULL:
        return 503;
    case BM_ENOTFOUND:
        return 404;
    default:
        return 500;
    }
}

static bool is_json(const char *ct)
{
    size_t n = strlen("application/json");

    if (ct == NULL || strncasecmp(ct, "application/json", n) != 0) {
        return false;
    }
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Reason of a tx result that has no message of its own. */
static const char *reason_of(enum bm_err err)
{
    switch (err) {
    case BM_EEXIST:
        return "tx already queued or committed recently";
    case BM_EQUEUE_FULL:
        return "queue full, retry later";
    case BM_ERATE_LIMITED:
        return "tx rate limit exceeded, retry later";
    case BM_ECLOSED:
        return "node is shutting down, retry later";
    case BM_ESTATE:
        return "the node cannot take txs now (see its log)";
    case BM_EIO:
        return "the queue's disk write or sync failed: the tx is not known "
               "durable (resend it)";
    case BM_ETOOBIG:
        return "tx too large";
    case BM_EEMPTY:
        return "tx is empty";
    default:
        return bm_strerror(err);
    }
}

/* Parses body as one JSON object (only white space may follow it). On
 * BM_OK *root returns owned. */
static enum bm_err json_object_of(const uint8_t *body, size_t len,
                                  struct json_object **root,
                                  struct bm_errmsg *em)
{
    struct json_tokener *tok;
    struct json_object *o;
    enum bm_err err = BM_OK;

    *root = NULL;
    if (len > (size_t)INT32_MAX) {
        return bm_errf(em, BM_ETOOBIG, "body too large");
    }
    tok = json_tokener_new_ex(4);
    if (tok == NULL) {
        return BM_ENOMEM;
    }
    o = json_tokener_parse_ex(tok, (const char *)body, (int)len);
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
        err = bm_errf(em, BM_EPARSE, "body is not one JSON value");
        goto out;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' &&
            body[i] != '\n') {
            err = bm_errf(em, BM_EPARSE, "trailing bytes after the JSON "
                          "value");
            goto out;
        }
    }
    if (!json_object_is_type(o, json_type_object)) {
        err = bm_errf(em, BM_EPARSE, "body is not a JSON object");
        goto out;
    }
    *root = o;
    o = NULL;
out:
    json_object_put(o);
    json_tokener_free(tok);
    return err;
}

/* Sets up r for n txs (all arrays zeroed). */
static enum bm_err req_alloc(struct bm_ingress_req *r, size_t n)
{
    r->n = n;
    r->err = bm_calloc(n, sizeof(*r->err));
    r->reason = bm_calloc(n, sizeof(*r->reason));
    r->has_hash = bm_calloc(n, sizeof(*r->has_hash));
    r->hash = bm_calloc(n, sizeof(*r->hash));
    r->sub_txs = bm_calloc(n, sizeof(*r->sub_txs));
    r->sub_hash = bm_calloc(n, sizeof(*r->sub_hash));
    r->sub_status = bm_calloc(n, sizeof(*r->sub_status));
    r->sub_pos = bm_calloc(n, sizeof(*r->sub_pos));
    if (r->err == NULL || r->reason == NULL || r->has_hash == NULL ||
        r->hash == NULL || r->sub_txs == NULL || r->sub_hash == NULL ||
        r->sub_status == NULL || r->sub_pos == NULL) {
        return BM_ENOMEM;
    }
    return BM_OK;
}

/* Marks tx i malformed with err and the message in em. */
static enum bm_err tx_refuse(struct bm_ingress_req *r, size_t i,
                             enum bm_err err, const struct bm_errmsg *em)
{
    r->err[i] = err;
    r->reason[i] = bm_strdup(bm_errmsg_str(em, err));
    return r->reason[i] != NULL ? BM_OK : BM_ENOMEM;
}

/* Takes tx i, bytes p[0..len) (borrowed): checks, hashes and adds it to
 * the txs to submit, or records why it is refused. */
static enum bm_err tx_take(struct bm_ingress_req *r, size_t i,
                           const uint8_t *p, size_t len)
{
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_kv_check_tx(p, len, NULL, &em);
    size_t j = r->n_sub;

    if (err == BM_EBADTX || err == BM_ETOOBIG) {
        return tx_refuse(r, i, err, &em);
    }
    if (err != BM_OK) {
        return err;
    }
    err = bm_buf_set(&r->sub_txs[j], p, len);
    if (err != BM_OK) {
        return err;
    }
    bm_exec_tx_hash(p, len, &r->hash[i]);
    r->has_hash[i] = true;
    r->sub_hash[j] = r->hash[i];
    r->sub_pos[j] = i;
    r->n_sub++;
    return BM_OK;
}

/* Takes tx i from a JSON string member, text or hex. */
static enum bm_err tx_take_json(struct bm_ingress_req *r, size_t i,
                                struct json_object *v, bool hex,
                                const char *what)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf raw = {0};
    enum bm_err err;

    if (!json_object_is_type(v, json_type_string)) {
        bm_errf(&em, BM_EPARSE, "%s is not a string", what);
        return tx_refuse(r, i, BM_EPARSE, &em);
    }
    if (!hex) {
        return tx_take(r, i, (const uint8_t *)json_object_get_string(v),
                       (size_t)json_object_get_string_len(v));
    }
    err = bm_hex_decode(&raw, json_object_get_string(v),
                        (size_t)json_object_get_string_len(v));
    if (err == BM_EPARSE) {
        bm_errf(&em, err, "%s is not valid hex", what);
        err = tx_refuse(r, i, err, &em);
    } else if (err == BM_OK) {
        err = tx_take(r, i, raw.ptr, raw.len);
    }
    bm_buf_release(&raw);
    return err;
}

static enum bm_err parse_json(struct bm_ingress_req *r, const uint8_t *body,
                              size_t len, struct bm_errmsg *em)
{
    static const char *const names[] = {"tx", "tx_hex", "txs", "txs_hex"};
    struct json_object *root = NULL;
    struct json_object *m[4] = {NULL, NULL, NULL, NULL};
    int which = -1;
    int count = 0;
    enum bm_err err;

    err = json_object_of(body, len, &root, em);
    if (err) {
        return err;
    }
    for (int i = 0; i < 4; i++) {
        if (json_object_object_get_ex(root, names[i], &m[i])) {
            which = i;
            count++;
        }
    }
    if (count != 1) {
        err = bm_errf(em, BM_EPARSE, "want exactly one of \"tx\", "
                      "\"tx_hex\", \"txs\" and \"txs_hex\"");
        goto out;
    }
    if (which < 2) {
        if (len > BM_INGRESS_MAX_BODY) {
            err = bm_errf(em, BM_ETOOBIG, "body is %zu bytes, max %u", len,
                          BM_INGRESS_MAX_BODY);
            goto out;
        }
        if (!json_object_is_type(m[which], json_type_string)) {
            err = bm_errf(em, BM_EPARSE, "\"%s\" is not a string",
                          names[which]);
            goto out;
        }
        err = req_alloc(r, 1);
        if (err == BM_OK) {
            err = tx_take_json(r, 0, m[which], which == 1, names[which]);
        }
        if (err == BM_OK && r->err[0] == BM_EPARSE) {
            /* A single tx that is not even text: the request is bad. */
            err = bm_errf(em, BM_EPARSE, "%s", r->reason[0]);
        }
        goto out;
    }
    r->batch = true;
    if (!json_object_is_type(m[which], json_type_array)) {
        err = bm_errf(em, BM_EPARSE, "\"%s\" is not an array", names[which]);
        goto out;
    }
    {
        size_t n = json_object_array_length(m[which]);

        if (n == 0) {
            err = bm_errf(em, BM_EPARSE, "\"%s\" is empty", names[which]);
            goto out;
        }
        if (n > BM_INGRESS_MAX_BATCH) {
            err = bm_errf(em, BM_ETOOBIG, "\"%s\" has %zu txs, max %u",
                          names[which], n, BM_INGRESS_MAX_BATCH);
            goto out;
        }
        err = req_alloc(r, n);
        for (size_t i = 0; err == BM_OK && i < n; i++) {
            char what[32];

            snprintf(what, sizeof(what), "%s[%zu]", names[which], i);
            err = tx_take_json(r, i, json_object_array_get_idx(m[which], i),
                               which == 3, what);
        }
    }
out:
    json_object_put(root);
    return err;
}


enum bm_err bm_ingress_parse(const char *ct, const uint8_t *body,
                             size_t len, struct bm_ingress_req *out,
                             struct bm_errmsg *em)
{
    enum bm_err err;

    bm_ingress_req_release(out);
    if (len > BM_INGRESS_MAX_BATCH_BODY) {
        return bm_errf(em, BM_ETOOBIG, "body is %zu bytes, max %u", len,
                       BM_INGRESS_MAX_BATCH_BODY);
    }
    if (is_json(ct)) {
        err = parse_json(out, body, len, em);
    } else if (len > BM_INGRESS_MAX_BODY) {
        err = bm_errf(em, BM_ETOOBIG, "body is %zu bytes, max %u", len,
                      BM_INGRESS_MAX_BODY);
    } else {
        err = req_alloc(out, 1);
        if (err == BM_OK) {
            err = tx_take(out, 0, body, len);
        }
    }
    if (err == BM_ENOMEM) {
        bm_errf(em, err, "out of memory");
    }
    if (err) {
        bm_ingress_req_release(out);
    }
    return err;
}

void bm_ingress_req_settle(struct bm_ingress_req *r)
{
    for (size_t j = 0; j < r->n_sub; j++) {
        r->err[r->sub_pos[j]] = r->sub_status[j];
    }
}

enum bm_err bm_ingress_req_fail(struct bm_ingress_req *r, enum bm_err err,
                                const char *reason)
{
    for (size_t j = 0; j < r->n_sub; j++) {
        size_t i = r->sub_pos[j];

        r->sub_status[j] = err;
        if (reason != NULL && r->reason[i] == NULL) {
            r->reason[i] = bm_strdup(reason);
            if (r->reason[i] == NULL) {
                return BM_ENOMEM;
            }
        }
    }
    bm_ingress_req_settle(r);
    return BM_OK;
}

size_t bm_ingress_req_accepted(const struct bm_ingress_req *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++) {
        n += r->err[i] == BM_OK;
    }
    return n;
}

/* {"hash": ..., "error": ...} of tx i into o (either may be absent). */
static void tx_fields(const struct bm_ingress_req *r, size_t i,
                      struct json_object *o)
{
    if (r->has_hash[i]) {
        char hex[2 * BM_HASH_SIZE + 1];

        bm_hex_encode(hex, r->hash[i].b, BM_HASH_SIZE);
        json_object_object_add(o, "hash", json_object_new_string(hex));
    }
    if (r->err[i] != BM_OK) {
        json_object_object_add(
            o, "error",
            json_object_new_string(r->reason[i] != NULL ? r->reason[i]
                                                        : reason_of(
                                                              r->err[i])));
    }
}

enum bm_err bm_ingress_req_reply(const struct bm_ingress_req *r,
                                 int *status, struct bm_buf *out)
{
    struct json_object *o = json_object_new_object();
    const char *s;
    enum bm_err err;

    bm_buf_release(out);
    *status = 500;
    if (o == NULL) {
        return BM_ENOMEM;
    }
    if (!r->batch) {
        if (r->n == 1) {
            tx_fields(r, 0, o);
            *status = bm_ingress_http_status(r->err[0]);
        }
    } else {
        struct json_object *a = json_object_new_array_ext((int)r->n);

        json_object_object_add(o, "accepted",
                               json_object_new_uint64(
                                   bm_ingress_req_accepted(r)));
        for (size_t i = 0; a != NULL && i < r->n; i++) {
            struct json_object *t = json_object_new_object();

            if (t == NULL) {
                break;
            }
            json_object_object_add(
                t, "status",
                json_object_new_int(bm_ingress_http_status(r->err[i])));
            tx_fields(r, i, t);
            json_object_array_add(a, t);
        }
        json_object_object_add(o, "results", a);
        *status = 200;
    }
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    err = s ? bm_buf_set(out, (const uint8_t *)s, strlen(s)) : BM_ENOMEM;
    json_object_put(o);
    return err;
}

void bm_ingress_req_release(struct bm_ingress_req *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; r->reason != NULL && i < r->n; i++) {
        bm_free(r->reason[i]);
    }
    for (size_t j = 0; r->sub_txs != NULL && j < r->n_sub; j++) {
        bm_buf_release(&r->sub_txs[j]);
    }
    bm_free(r->err);
    bm_free(r->reason);
    bm_free(r->has_hash);
    bm_free(r->hash);
    bm_free(r->sub_txs);
    bm_free(r->sub_hash);
    bm_free(r->sub_status);
    bm_free(r->sub_pos);
    memset(r, 0, sizeof(*r));
}

enum bm_err bm_ingress_reply_json(const struct bm_ingress_reply *r,
                                  struct bm_buf *out)
{
    struct json_object *o = json_object_new_object();
    const char *s;
    enum bm_err err;

    bm_buf_release(out);
    if (o == NULL) {
        return BM_ENOMEM;
    }
    if (r->has_hash) {
        char hex[2 * BM_HASH_SIZE + 1];

        bm_hex_encode(hex, r->hash.b, BM_HASH_SIZE);
        json_object_object_add(o, "hash", json_object_new_string(hex));
    }
    if (r->err != BM_OK) {
        json_object_object_add(o, "error", json_object_new_string(r->reason));
    }
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    err = s ? bm_buf_set(out, (const uint8_t *)s, strlen(s)) : BM_ENOMEM;
    json_object_put(o);
    return err;
}

enum bm_err bm_kv_query_json(struct bm_kv *kv, const char *key,
                             struct bm_buf *out, struct bm_ingress_reply *r)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf v = {0};
    struct json_object *o = NULL;
    uint64_t height = 0;
    size_t klen = strlen(key);
    char *hex = NULL;
    const char *s;
    bool printable = true;
    enum bm_err err;

    bm_buf_release(out);
    memset(r, 0, sizeof(*r));
    err = bm_kv_get(kv, (const uint8_t *)key, klen, &v, &height, &em);
    if (err) {
        r->err = err;
        r->http_status = err == BM_EINVAL ? 400 : bm_ingress_http_status(err);
        snprintf(r->reason, sizeof(r->reason), "%s",
                 bm_errmsg_str(&em, err));
        return err;
    }
    hex = bm_hex_dup(v.ptr, v.len);
    o = json_object_new_object();
    if (hex == NULL || o == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < 0x20 || v.ptr[i] > 0x7e) {
            printable = false;
            break;
        }
    }
    json_object_object_add(o, "key", json_object_new_string_len(key,
                                                                (int)klen));
    if (printable) {
        json_object_object_add(o, "value",
                               json_object_new_string_len(
                                   v.len ? (const char *)v.ptr : "",
                                   (int)v.len));
    }
    json_object_object_add(o, "value_hex", json_object_new_string(hex));
    json_object_object_add(o, "height", json_object_new_uint64(height));
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    err = s ? bm_buf_set(out, (const uint8_t *)s, strlen(s)) : BM_ENOMEM;
out:
    if (err) {
        r->err = err;
        r->http_status = 500;
        snprintf(r->reason, sizeof(r->reason), "%s", bm_strerror(err));
    } else {
        r->http_status = 200;
    }
    json_object_put(o);
    bm_free(hex);
    bm_buf_release(&v);
    return err;
}
