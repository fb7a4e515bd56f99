/* Tx ingress for the KV executor, see ingress.h. */
#include "exec/kv/ingress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

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
        return 400;
    case BM_EEXIST:
        return 409;
    case BM_ETOOBIG:
        return 413;
    case BM_EUNSUPPORTED:
        return 415;
    case BM_EFULL:
        return 429;
    case BM_ENOTFOUND:
        return 404;
    default:
        return 500;
    }
}

static void set_reply(struct bm_ingress_reply *out, enum bm_err err,
                      const char *reason)
{
    out->err = err;
    out->http_status = bm_ingress_http_status(err);
    snprintf(out->reason, sizeof(out->reason), "%s",
             err == BM_OK ? "" : reason);
}

static bool is_json(const char *ct)
{
    size_t n = strlen("application/json");

    if (ct == NULL || strncasecmp(ct, "application/json", n) != 0) {
        return false;
    }
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Extracts the tx from a JSON body into *tx (owned). */
static enum bm_err parse_json(const uint8_t *body, size_t len,
                              struct bm_buf *tx, struct bm_errmsg *em)
{
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    struct json_object *jtx = NULL;
    struct json_object *jhex = NULL;
    enum bm_err err = BM_OK;

    if (len > (size_t)INT32_MAX) {
        return bm_errf(em, BM_ETOOBIG, "body too large");
    }
    tok = json_tokener_new_ex(4);
    if (tok == NULL) {
        return BM_ENOMEM;
    }
    root = json_tokener_parse_ex(tok, (const char *)body, (int)len);
    if (root != NULL && json_tokener_get_error(tok) == json_tokener_success) {
        /* Only white space may follow the value. */
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
            if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' &&
                body[i] != '\n') {
                err = bm_errf(em, BM_EPARSE, "trailing bytes after the JSON "
                              "value");
                goto out;
            }
        }
    }
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success) {
        err = bm_errf(em, BM_EPARSE, "body is not one JSON value");
        goto out;
    }
    if (!json_object_is_type(root, json_type_object)) {
        err = bm_errf(em, BM_EPARSE, "body is not a JSON object");
        goto out;
    }
    json_object_object_get_ex(root, "tx", &jtx);
    json_object_object_get_ex(root, "tx_hex", &jhex);
    if ((jtx == NULL) == (jhex == NULL)) {
        err = bm_errf(em, BM_EPARSE, "want exactly one of \"tx\" and "
                      "\"tx_hex\"");
        goto out;
    }
    if (jtx != NULL) {
        if (!json_object_is_type(jtx, json_type_string)) {
            err = bm_errf(em, BM_EPARSE, "\"tx\" is not a string");
            goto out;
        }
        err = bm_buf_set(tx, (const uint8_t *)json_object_get_string(jtx),
                         (size_t)json_object_get_string_len(jtx));
        goto out;
    }
    if (!json_object_is_type(jhex, json_type_string)) {
        err = bm_errf(em, BM_EPARSE, "\"tx_hex\" is not a string");
        goto out;
    }
    err = bm_hex_decode(tx, json_object_get_string(jhex),
                        (size_t)json_object_get_string_len(jhex));
    if (err == BM_EPARSE) {
        bm_errf(em, err, "\"tx_hex\" is not valid hex");
    }
out:
    json_object_put(root);
    json_tokener_free(tok);
    return err;
}

enum bm_err bm_ingress_parse_body(const char *content_type,
                                  const uint8_t *body, size_t len,
                                  struct bm_buf *tx, struct bm_errmsg *em)
{
    bm_buf_release(tx);
    if (len > BM_INGRESS_MAX_BODY) {
        return bm_errf(em, BM_ETOOBIG, "body is %zu bytes, max %u", len,
                       BM_INGRESS_MAX_BODY);
    }
    if (is_json(content_type)) {
        enum bm_err err = parse_json(body, len, tx, em);

        if (err) {
            bm_buf_release(tx);
        }
        return err;
    }
    return bm_buf_set(tx, body, len);
}

void bm_kv_ingress_submit(struct bm_kv *kv, const char *content_type,
                          const uint8_t *body, size_t len,
                          struct bm_ingress_reply *out)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf tx = {0};
    enum bm_err err;

    memset(out, 0, sizeof(*out));
    err = bm_ingress_parse_body(content_type, body, len, &tx, &em);
    if (err == BM_OK) {
        err = bm_kv_mempool_add(kv, tx.ptr, tx.len, &out->hash, &em);
        out->has_hash = err == BM_OK || err == BM_EEXIST;
    }
    set_reply(out, err, bm_errmsg_str(&em, err));
    bm_buf_release(&tx);
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

/* ---- libmicrohttpd handler ---- */

struct req {
    struct bm_dynbuf body;
    bool too_big;
};

static enum MHD_Result respond(struct MHD_Connection *conn,
                               const struct bm_ingress_reply *r)
{
    struct bm_buf json = {0};
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (bm_ingress_reply_json(r, &json) != BM_OK) {
        return MHD_NO;
    }
    resp = MHD_create_response_from_buffer(json.len, json.ptr,
                                           MHD_RESPMEM_MUST_COPY);
    bm_buf_release(&json);
    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, (unsigned)r->http_status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Sends *json (released) with the given status. */
static enum MHD_Result respond_raw(struct MHD_Connection *conn, int status,
                                   struct bm_buf *json)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(json->len, json->ptr,
                                           MHD_RESPMEM_MUST_COPY);
    bm_buf_release(json);
    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
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

enum MHD_Result bm_kv_ingress_handler(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size,
                                      void **con_cls)
{
    struct bm_kv *kv = cls;
    struct req *rq = *con_cls;
    struct bm_ingress_reply reply = {0};

    (void)version;
    if (rq == NULL) {
        rq = bm_calloc(1, sizeof(*rq));
        if (rq == NULL) {
            return MHD_NO;
        }
        bm_dynbuf_init(&rq->body, BM_INGRESS_MAX_BODY);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!rq->too_big &&
            bm_dynbuf_append(&rq->body, upload_data, *upload_data_size) !=
                BM_OK) {
            rq->too_big = true;
            bm_dynbuf_release(&rq->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strncmp(url, "/kv/", 4) == 0 &&
        strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
        struct bm_buf json = {0};
        enum bm_err err;

        err = bm_kv_query_json(kv, url + 4, &json, &reply);
        if (err == BM_OK) {
            return respond_raw(conn, 200, &json);
        }
    } else if (strcmp(url, "/tx") != 0) {
        reply.err = BM_ENOTFOUND;
        reply.http_status = 404;
        snprintf(reply.reason, sizeof(reply.reason), "no such path");
    } else if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        reply.err = BM_EUNSUPPORTED;
        reply.http_status = 405;
        snprintf(reply.reason, sizeof(reply.reason), "use POST");
    } else if (rq->too_big) {
        reply.err = BM_ETOOBIG;
        reply.http_status = 413;
        snprintf(reply.reason, sizeof(reply.reason), "body above %u bytes",
                 BM_INGRESS_MAX_BODY);
    } else {
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     "Content-Type");

        bm_kv_ingress_submit(kv, ct, rq->body.ptr, rq->body.len, &reply);
    }
    return respond(conn, &reply);
}

void bm_kv_ingress_completed(void *cls, struct MHD_Connection *conn,
                             void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (rq != NULL) {
        bm_dynbuf_release(&rq->body);
        bm_free(rq);
        *con_cls = NULL;
    }
}

/* ---- standalone server ---- */

struct bm_kv_ingress_server {
    struct MHD_Daemon *d;
};

enum bm_err bm_kv_ingress_start(struct bm_kv *kv, const char *host,
                                uint16_t port,
                                struct bm_kv_ingress_server **out,
                                uint16_t *bound_port, struct bm_errmsg *em)
{
    struct sockaddr_in sa;
    struct bm_kv_ingress_server *srv;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (host == NULL || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return bm_errf(em, BM_EINVAL, "ingress: host '%s' is not an IPv4 "
                       "address", host ? host : "(null)");
    }
    srv = bm_calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return BM_ENOMEM;
    }
    srv->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL,
        bm_kv_ingress_handler, kv, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_COMPLETED, bm_kv_ingress_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (srv->d == NULL) {
        bm_free(srv);
        return bm_errf(em, BM_ESYS, "ingress: cannot listen on %s:%u", host,
                       (unsigned)port);
    }
    info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    if (bound_port != NULL) {
        *bound_port = info ? info->port : port;
    }
    *out = srv;
    return BM_OK;
}

void bm_kv_ingress_stop(struct bm_kv_ingress_server *srv)
{
    if (srv == NULL) {
        return;
    }
    MHD_stop_daemon(srv->d);
    bm_free(srv);
}
