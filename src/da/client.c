/* celestia-node blob/header JSON-RPC client over libcurl (blockv2/da.h). */
#include "blockv2/da.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "da/da_json.h"
#include "util/alloc.h"
#include "util/curl_body.h"
#include "util/curl_init.h"
#include "util/errmsg.h"
#include "util/log.h"

#define DEFAULT_TIMEOUT_MS 60000u
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define MAX_REQUEST ((size_t)1 << 30)

struct bm_da_client {
    pthread_mutex_t mu;
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    char *options_json;
    uint32_t timeout_ms;
    size_t max_blob_size;
    uint64_t next_id;
    struct bm_dynbuf resp;
};

static enum bm_err add_header(struct bm_da_client *c, const char *line)
{
    struct curl_slist *h = curl_slist_append(c->headers, line);

    if (h == NULL) {
        return BM_ENOMEM;
    }
    c->headers = h;
    return BM_OK;
}

/* da.gas_price into the submit options (celestia-node TxConfig). */
static enum bm_err add_gas_price(struct json_object *opt,
                                 const struct bm_da_client_config *cfg,
                                 struct bm_errmsg *em)
{
    struct json_object *v;

    if (!cfg->set_gas_price) {
        return BM_OK;
    }
    if (!isfinite(cfg->gas_price) || cfg->gas_price < 0) {
        return bm_errf(em, BM_ECONFIG, "da.gas_price: got %g, want a "
                       "finite price >= 0", cfg->gas_price);
    }
    if (json_object_object_get_ex(opt, "gas_price", NULL) ||
        json_object_object_get_ex(opt, "is_gas_price_set", NULL)) {
        return bm_errf(em, BM_ECONFIG, "da.gas_price: da.submit_options "
                       "sets a gas price too; keep one of them");
    }
    v = json_object_new_double(cfg->gas_price);
    if (v == NULL || json_object_object_add(opt, "gas_price", v) != 0) {
        json_object_put(v);
        return BM_ENOMEM;
    }
    v = json_object_new_boolean(1);
    if (v == NULL || json_object_object_add(opt, "is_gas_price_set", v) != 0) {
        json_object_put(v);
        return BM_ENOMEM;
    }
    return BM_OK;
}

enum bm_err bm_da_client_new(struct bm_da_client **out,
                             const struct bm_da_client_config *cfg,
                             struct bm_errmsg *em)
{
    struct bm_da_client *c = NULL;
    struct json_object *opt = NULL;
    const char *opts = cfg->submit_options_json;
    enum bm_err err;

    if (cfg->url == NULL || cfg->url[0] == '\0') {
        return bm_errf(em, BM_ECONFIG, "da.address: empty URL");
    }
    if (opts == NULL || opts[0] == '\0') {
        opts = "{}";
    }
    for (const char *t = cfg->auth_token; t != NULL && *t != '\0'; t++) {
        /* it becomes an HTTP header: no CR/LF or other controls */
        if ((unsigned char)*t < 0x20 || *t == 0x7f) {
            return bm_errf(em, BM_ECONFIG,
                           "da.auth_token: control character at offset %zu",
                           (size_t)(t - cfg->auth_token));
        }
    }
    err = bm__da_json_parse(opts, strlen(opts), &opt, em);
    if (err != BM_OK || opt == NULL ||
        !json_object_is_type(opt, json_type_object)) {
        json_object_put(opt);
        return bm_errf(em, BM_ECONFIG,
                       "da.submit_options: want a JSON object");
    }
    err = add_gas_price(opt, cfg, em);
    if (err != BM_OK) {
        json_object_put(opt);
        return err;
    }
    if (bm_curl_init() != BM_OK) {
        json_object_put(opt);
        return bm_errf(em, BM_EIO, "curl_global_init failed");
    }
    c = bm_calloc(1, sizeof(*c));
    if (c == NULL) {
        json_object_put(opt);
        return BM_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->max_blob_size =
        cfg->max_blob_size ? cfg->max_blob_size : BM_DA_CLIENT_MAX_BLOB_SIZE;
    c->next_id = 1;
    bm_dynbuf_init(&c->resp, cfg->max_response_size ? cfg->max_response_size
                                                     : DEFAULT_MAX_RESPONSE);
    c->url = bm_strdup(cfg->url);
    c->options_json = bm_strdup(json_object_to_json_string_ext(
        opt, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(opt);
    if (c->url == NULL || c->options_json == NULL) {
        err = BM_ENOMEM;
        goto fail;
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        err = BM_ENOMEM;
        goto fail;
    }
    /* no "Expect: 100-continue" round trip for large bodies */
    err = add_header(c, "Content-Type: application/json");
    if (err == BM_OK) {
        err = add_header(c, "Expect:");
    }
    if (err != BM_OK) {
        goto fail;
    }
    if (cfg->auth_token != NULL && cfg->auth_token[0] != '\0') {
        struct bm_dynbuf hb;
        const char *name =
            cfg->auth_header != NULL && cfg->auth_header[0] != '\0'
                ? cfg->auth_header
                : "Authorization";
        for (const char *t = name; *t != '\0'; t++) {
            if ((unsigned char)*t <= 0x20 || *t == 0x7f || *t == ':') {
                err = bm_errf(em, BM_ECONFIG,
                              "da.auth_header: invalid header name");
                goto fail;
            }
        }
        bm_dynbuf_init(&hb, 8192);
        err = bm_dynbuf_printf(&hb, "%s: Bearer %s", name, cfg->auth_token);
        if (err != BM_OK) {
            bm_dynbuf_release(&hb);
            err = bm_errf(em, BM_ECONFIG, "da.auth_token: too long");
            goto fail;
        }
        err = add_header(c, (const char *)hb.ptr);
        bm_dynbuf_release(&hb);
        if (err != BM_OK) {
            goto fail;
        }
    }
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, bm_curl_body_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    *out = c;
    return BM_OK;
fail:
    bm_da_client_free(c);
    return err;
}

void bm_da_client_free(struct bm_da_client *c)
{
    if (c == NULL) {
        return;
    }
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
    }
    curl_slist_free_all(c->headers);
    bm_dynbuf_release(&c->resp);
    bm_free(c->url);
    bm_free(c->options_json);
    pthread_mutex_destroy(&c->mu);
    bm_free(c);
}

/*
 * One JSON-RPC call: method with the params JSON text (without brackets).
 * On success r holds the parsed response. Caller holds c->mu.
 * With get_all != NULL (blob.GetAll), an HTTP 200 answer is decoded by
 * bm__da_get_all_decode into *get_all instead (r left empty): BM_OK then
 * means *get_all holds the blobs.
 */
static enum bm_err call_locked(struct bm_da_client *c, const char *method,
                               const struct bm_dynbuf *params,
                               uint32_t timeout_ms, struct bm__da_response *r,
                               struct bm_da_blob_list *get_all,
                               struct bm_errmsg *em)
{
    struct bm_dynbuf req;
    struct bm_errmsg rem = {{0}};
    uint64_t id = c->next_id++;
    CURLcode rc;
    long status = 0;
    bool submit;
    enum bm_err err;

    bm_dynbuf_init(&req, MAX_REQUEST);
    err = bm__da_dynbuf_presize(&req, (params ? params->len : 0) + 256);
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&req,
                           "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
                           ",\"method\":\"%s\",\"params\":[",
                               id, method);
    }
    if (err == BM_OK && params != NULL && params->len > 0) {
        err = bm_dynbuf_append(&req, params->ptr, params->len);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&req, "]}");
    }
    if (err != BM_OK) {
        bm_dynbuf_release(&req);
        return bm_errf(em, err, "%s: cannot build request: %s", method,
                       bm_strerror(err));
    }
    bm_dynbuf_reset(&c->resp);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (const char *)req.ptr);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)req.len);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS,
                     (long)(timeout_ms ? timeout_ms : c->timeout_ms));
    /* blob.Submit on a new connection: libcurl silently sends a request
     * again when a reused connection dies before any answer byte, and a
     * DA that stored the first one then stores the blobs twice (the
     * reliability suite's lost answers). On a new connection that error
     * reaches the submitter, which looks on DA before resubmitting. */
    submit = strcmp(method, "blob.Submit") == 0;
    curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, submit ? 1L : 0L);
    rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 0L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    bm_dynbuf_release(&req);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        return bm_errf(em, BM_EDA_DEADLINE,
                       "%s: context deadline exceeded (%s)", method,
                       curl_easy_strerror(rc));
    }
    if (rc == CURLE_WRITE_ERROR) { /* only the body's cap aborts */
        return bm_errf(em, BM_EPROTO, "%s: response body above %zu bytes",
                       method, c->resp.max);
    }
    if (rc != CURLE_OK) {
        return bm_errf(em, BM_EDA_ERROR, "%s: %s: %s", method, c->url,
                       curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    r->root = NULL;
    r->result = NULL;
    if (get_all != NULL && status == 200) {
        return bm__da_get_all_decode((const char *)c->resp.ptr, c->resp.len,
                                     id, get_all, em);
    }
    err = bm__da_response_parse((const char *)c->resp.ptr, c->resp.len, id,
                                r, &rem);
    if (status == 401 || status == 403) {
        bm__da_response_release(r);
        return bm_errf(em, BM_EAUTH, "%s: HTTP %ld: %s", method, status,
                       err == BM_OK ? "unauthorized"
                                    : bm_errmsg_str(&rem, err));
    }
    if (status == 413) {
        /* Content Too Large: the request as a whole is above what the DA
         * node takes, whatever the body says; TooBig makes the submitter
         * send fewer blobs per call instead of retrying the same one. */
        if (err == BM_OK) {
            bm__da_response_release(r);
        }
        return bm_errf(em, BM_EDA_TOO_BIG, "%s: HTTP 413: %s", method,
                       err != BM_OK ? bm_errmsg_str(&rem, err)
                                    : "request too large");
    }
    if (err != BM_OK) {
        bm_errf(em, err, "%s", rem.msg);
    }
    if (status != 200 && err == BM_OK) {
        bm__da_response_release(r);
        return bm_errf(em, BM_EDA_ERROR, "%s: HTTP status %ld", method,
                       status);
    }
    if (status != 200 && err == BM_EPROTO) {
        return bm_errf(em, BM_EDA_ERROR, "%s: HTTP status %ld", method,
                       status);
    }
    return err;
}

static enum bm_err call(struct bm_da_client *c, const char *method,
                        const struct bm_dynbuf *params, uint32_t timeout_ms,
                        struct bm__da_response *r, struct bm_errmsg *em)
{
    enum bm_err err;

    pthread_mutex_lock(&c->mu);
    err = call_locked(c, method, params, timeout_ms, r, NULL, em);
    pthread_mutex_unlock(&c->mu);
    return err;
}

static enum bm_err append_ns(struct bm_dynbuf *d,
                             const struct bm_da_namespace *ns)
{
    enum bm_err err = bm_dynbuf_append_byte(d, '"');

    if (err == BM_OK) {
        err = bm__da_b64_append(d, ns->b, BM_DA_NS_LEN);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '"');
    }
    return err;
}

static enum bm_err append_commitment(struct bm_dynbuf *d, const uint8_t *c)
{
    enum bm_err err = bm_dynbuf_append_byte(d, '"');

    if (err == BM_OK) {
        err = bm__da_b64_append(d, c, BM_DA_COMMITMENT_LEN);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '"');
    }
    return err;
}

enum bm_err bm_da_client_submit(struct bm_da_client *c,
                                const struct bm_da_blob *blobs, size_t n,
                                const char *options_json, uint32_t timeout_ms,
                                uint64_t *height, struct bm_errmsg *em)
{
    struct bm_dynbuf p;
    struct bm__da_response r = {NULL, NULL};
    enum bm_err err = BM_OK;

    if (n == 0) {
        return bm_errf(em, BM_EINVAL, "blob.Submit: no blobs");
    }
    for (size_t i = 0; i < n; i++) {
        if (blobs[i].data.len > c->max_blob_size) {
            return bm_errf(em, BM_EDA_TOO_BIG,
                           "%s: blob %zu is %zu bytes, limit %zu",
                           BM_DA_MSG_TOO_BIG, i, blobs[i].data.len,
                           c->max_blob_size);
        }
    }
    if (options_json != NULL) {
        struct json_object *o = NULL;
        err = bm__da_json_parse(options_json, strlen(options_json), &o, em);
        bool ok = err == BM_OK && o != NULL &&
                  json_object_is_type(o, json_type_object);
        json_object_put(o);
        if (!ok) {
            return bm_errf(em, BM_EINVAL,
                           "blob.Submit: options: want a JSON object");
        }
    }
    bm_dynbuf_init(&p, MAX_REQUEST);
    {
        /* exact-ish size: base64 of every blob plus per-blob JSON */
        size_t want = 1024 + strlen(options_json ? options_json
                                                 : c->options_json);
        for (size_t i = 0; i < n; i++) {
            want += bm__da_b64_len(blobs[i].data.len) + 256;
        }
        err = bm__da_dynbuf_presize(&p, want);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(&p, '[');
    }
    for (size_t i = 0; i < n && err == BM_OK; i++) {
        if (i > 0) {
            err = bm_dynbuf_append_byte(&p, ',');
        }
        if (err == BM_OK) {
            err = bm__da_blob_append_json(&p, &blobs[i]);
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&p, "],%s",
                               options_json ? options_json : c->options_json);
    }
    if (err != BM_OK) {
        bm_dynbuf_release(&p);
        return bm_errf(em, err, "blob.Submit: cannot build request: %s",
                       bm_strerror(err));
    }
    err = call(c, "blob.Submit", &p, timeout_ms, &r, em);
    bm_dynbuf_release(&p);
    if (err == BM_OK) {
        err = bm__da_decode_height(r.result, height, em);
    }
    bm__da_response_release(&r);
    return err;
}

enum bm_err bm_da_client_get_all(struct bm_da_client *c, uint64_t height,
                                 const struct bm_da_namespace *ns,
                                 size_t n_ns, uint32_t timeout_ms,
                                 struct bm_da_blob_list *out,
                                 struct bm_errmsg *em)
{
    struct bm_dynbuf p;
    struct bm__da_response r = {NULL, NULL};
    enum bm_err err;

    if (n_ns == 0 || n_ns > BM__DA_MAX_NAMESPACES) {
        return bm_errf(em, BM_EINVAL, "blob.GetAll: want 1..%d namespaces",
                       BM__DA_MAX_NAMESPACES);
    }
    bm_dynbuf_init(&p, 1 << 16);
    err = bm_dynbuf_printf(&p, "%" PRIu64 ",[", height);
    for (size_t i = 0; i < n_ns && err == BM_OK; i++) {
        if (i > 0) {
            err = bm_dynbuf_append_byte(&p, ',');
        }
        if (err == BM_OK) {
            err = append_ns(&p, &ns[i]);
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(&p, ']');
    }
    if (err == BM_OK) {
        pthread_mutex_lock(&c->mu);
        err = call_locked(c, "blob.GetAll", &p, timeout_ms, &r, out, em);
        pthread_mutex_unlock(&c->mu);
    }
    bm_dynbuf_release(&p);
    bm__da_response_release(&r);
    return err;
}

/* "height,ns,commitment" params of Get and GetProof, or with proof != NULL
 * "height,ns,proof,commitment" of Included (proof spliced in verbatim). */
static enum bm_err by_commitment(struct bm_dynbuf *p, uint64_t height,
                                 const struct bm_da_namespace *ns,
                                 const uint8_t *proof, size_t proof_len,
                                 const uint8_t *commitment)
{
    enum bm_err err = bm_dynbuf_printf(p, "%" PRIu64 ",", height);

    if (err == BM_OK) {
        err = append_ns(p, ns);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(p, ',');
    }
    if (err == BM_OK && proof != NULL) {
        err = bm_dynbuf_append(p, proof, proof_len);
        if (err == BM_OK) {
            err = bm_dynbuf_append_byte(p, ',');
        }
    }
    if (err == BM_OK) {
        err = append_commitment(p, commitment);
    }
    return err;
}

/* Calls method (Get or GetProof) with "height,ns,commitment" params; on
 * success *r holds the response (caller releases it in every case). */
static enum bm_err call_by_commitment(struct bm_da_client *c,
                                      const char *method, uint64_t height,
                                      const struct bm_da_namespace *ns,
                                      const uint8_t *commitment,
                                      uint32_t timeout_ms,
                                      struct bm__da_response *r,
                                      struct bm_errmsg *em)
{
    struct bm_dynbuf p;
    enum bm_err err;

    bm_dynbuf_init(&p, 4096);
    err = by_commitment(&p, height, ns, NULL, 0, commitment);
    if (err == BM_OK) {
        err = call(c, method, &p, timeout_ms, r, em);
    }
    bm_dynbuf_release(&p);
    return err;
}

enum bm_err bm_da_client_get(struct bm_da_client *c, uint64_t height,
                             const struct bm_da_namespace *ns,
                             const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                             uint32_t timeout_ms, struct bm_da_blob *out,
                             struct bm_errmsg *em)
{
    struct bm__da_response r = {NULL, NULL};
    enum bm_err err = call_by_commitment(c, "blob.Get", height, ns,
                                         commitment, timeout_ms, &r, em);

    if (err == BM_OK) {
        err = bm__da_decode_blob(r.result, out, em);
    }
    bm__da_response_release(&r);
    return err;
}

enum bm_err bm_da_client_get_proof(
    struct bm_da_client *c, uint64_t height, const struct bm_da_namespace *ns,
    const uint8_t commitment[BM_DA_COMMITMENT_LEN], uint32_t timeout_ms,
    struct bm_buf *proof_json, struct bm_errmsg *em)
{
    struct bm__da_response r = {NULL, NULL};
    enum bm_err err = call_by_commitment(c, "blob.GetProof", height, ns,
                                         commitment, timeout_ms, &r, em);

    if (err == BM_OK) {
        err = bm__da_decode_proof(r.result, proof_json, em);
    }
    bm__da_response_release(&r);
    return err;
}

enum bm_err bm_da_client_included(
    struct bm_da_client *c, uint64_t height, const struct bm_da_namespace *ns,
    const uint8_t *proof_json, size_t proof_len,
    const uint8_t commitment[BM_DA_COMMITMENT_LEN], uint32_t timeout_ms,
    bool *included, struct bm_errmsg *em)
{
    struct bm_dynbuf p;
    struct bm__da_response r = {NULL, NULL};
    struct json_object *proof = NULL;
    enum bm_err err;

    /* the proof is spliced into the request: it must be one JSON value */
    err = bm__da_json_parse((const char *)proof_json, proof_len, &proof, em);
    json_object_put(proof);
    if (err != BM_OK || proof_len == 0) {
        return bm_errf(em, BM_EINVAL, "blob.Included: proof is not JSON");
    }
    bm_dynbuf_init(&p, MAX_REQUEST);
    err = by_commitment(&p, height, ns, proof_json, proof_len, commitment);
    if (err == BM_OK) {
        err = call(c, "blob.Included", &p, timeout_ms, &r, em);
    }
    bm_dynbuf_release(&p);
    if (err == BM_OK) {
        err = bm__da_decode_bool(r.result, included, em);
    }
    bm__da_response_release(&r);
    return err;
}

static enum bm_err header_call(struct bm_da_client *c, const char *method,
                               const uint64_t *height, uint32_t timeout_ms,
                               struct bm_da_header *out, struct bm_errmsg *em)
{
    struct bm_dynbuf p;
    struct bm__da_response r = {NULL, NULL};
    enum bm_err err = BM_OK;

    bm_dynbuf_init(&p, 64);
    if (height != NULL) {
        err = bm_dynbuf_printf(&p, "%" PRIu64, *height);
    }
    if (err == BM_OK) {
        err = call(c, method, &p, timeout_ms, &r, em);
    }
    bm_dynbuf_release(&p);
    if (err == BM_OK) {
        err = bm__da_decode_header(r.result, out, em);
    }
    bm__da_response_release(&r);
    return err;
}

enum bm_err bm_da_client_header_get_by_height(struct bm_da_client *c,
                                              uint64_t height,
                                              uint32_t timeout_ms,
                                              struct bm_da_header *out,
                                              struct bm_errmsg *em)
{
    return header_call(c, "header.GetByHeight", &height, timeout_ms, out, em);
}

enum bm_err bm_da_client_header_network_head(struct bm_da_client *c,
                                             uint32_t timeout_ms,
                                             struct bm_da_header *out,
                                             struct bm_errmsg *em)
{
    return header_call(c, "header.NetworkHead", NULL, timeout_ms, out, em);
}

enum bm_err bm_da_client_header_local_head(struct bm_da_client *c,
                                           uint32_t timeout_ms,
                                           struct bm_da_header *out,
                                           struct bm_errmsg *em)
{
    return header_call(c, "header.LocalHead", NULL, timeout_ms, out, em);
}

/* ---- vtable adapter ---- */

static enum bm_err op_submit(void *ctx, const struct bm_da_blob *blobs,
                             size_t n, const char *options_json,
                             uint32_t timeout_ms, uint64_t *height,
                             struct bm_errmsg *em)
{
    return bm_da_client_submit(ctx, blobs, n, options_json, timeout_ms,
                               height, em);
}

static enum bm_err op_get_all(void *ctx, uint64_t height,
                              const struct bm_da_namespace *ns, size_t n_ns,
                              uint32_t timeout_ms,
                              struct bm_da_blob_list *out,
                              struct bm_errmsg *em)
{
    return bm_da_client_get_all(ctx, height, ns, n_ns, timeout_ms, out, em);
}

static enum bm_err op_get(void *ctx, uint64_t height,
                          const struct bm_da_namespace *ns,
                          const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                          uint32_t timeout_ms, struct bm_da_blob *out,
                          struct bm_errmsg *em)
{
    return bm_da_client_get(ctx, height, ns, commitment, timeout_ms, out, em);
}

static enum bm_err op_get_proof(void *ctx, uint64_t height,
                                const struct bm_da_namespace *ns,
                                const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                                uint32_t timeout_ms, struct bm_buf *proof_json,
                                struct bm_errmsg *em)
{
    return bm_da_client_get_proof(ctx, height, ns, commitment, timeout_ms,
                                  proof_json, em);
}

static enum bm_err op_included(void *ctx, uint64_t height,
                               const struct bm_da_namespace *ns,
                               const uint8_t *proof_json, size_t proof_len,
                               const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                               uint32_t timeout_ms, bool *included,
                               struct bm_errmsg *em)
{
    return bm_da_client_included(ctx, height, ns, proof_json, proof_len,
                                 commitment, timeout_ms, included, em);
}

static enum bm_err op_header(void *ctx, uint64_t height, uint32_t timeout_ms,
                             struct bm_da_header *out, struct bm_errmsg *em)
{
    return bm_da_client_header_get_by_height(ctx, height, timeout_ms, out,
                                             em);
}

static enum bm_err op_network_head(void *ctx, uint32_t timeout_ms,
                                   struct bm_da_header *out,
                                   struct bm_errmsg *em)
{
    return bm_da_client_header_network_head(ctx, timeout_ms, out, em);
}

static enum bm_err op_local_head(void *ctx, uint32_t timeout_ms,
                                 struct bm_da_header *out,
                                 struct bm_errmsg *em)
{
    return bm_da_client_header_local_head(ctx, timeout_ms, out, em);
}

static const struct bm_da_ops client_ops = {
    .submit = op_submit,
    .get_all = op_get_all,
    .get = op_get,
    .get_proof = op_get_proof,
    .included = op_included,
    .header_get_by_height = op_header,
    .header_network_head = op_network_head,
    .header_local_head = op_local_head,
};

void bm_da_from_client(struct bm_da *da, struct bm_da_client *c)
{
    da->ops = &client_ops;
    da->ctx = c;
}
