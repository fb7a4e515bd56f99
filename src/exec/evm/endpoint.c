/* JSON-RPC endpoint of an execution client over libcurl, see endpoint.h. */
#include "exec/evm/endpoint.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "exec/evm/jwt.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/curl_body.h"
#include "util/curl_init.h"
#include "util/errmsg.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
/* A request carries at most a block's txs as hex, twice over. */
#define MAX_REQUEST ((size_t)512 << 20)

struct bm_evm_endpoint {
    pthread_mutex_t mu;
    CURL *curl;
    char *url;
    char what[16];
    bool auth;
    uint8_t secret[BM_EVM_JWT_SECRET_LEN];
    uint32_t timeout_ms;
    uint64_t next_id;
    struct bm_dynbuf req;  /* reused; under mu */
    struct bm_dynbuf resp; /* reused; under mu */
    uint64_t last_ns; /* under mu: the last exchange's time */
    _Atomic uint64_t calls;
    _Atomic uint64_t ns;
    _Atomic uint64_t connects;
};

enum bm_err bm_evm_endpoint_new(struct bm_evm_endpoint **out,
                                const struct bm_evm_endpoint_config *cfg,
                                struct bm_errmsg *em)
{
    struct bm_evm_endpoint *ep;
    const char *what = cfg->what != NULL ? cfg->what : "endpoint";

    *out = NULL;
    if (cfg->url == NULL || cfg->url[0] == '\0') {
        return bm_errf(em, BM_ECONFIG, "evm %s URL is empty", what);
    }
    if (strncasecmp(cfg->url, "http://", 7) != 0 &&
        strncasecmp(cfg->url, "https://", 8) != 0) {
        char shown[80];

        snprintf(shown, sizeof(shown), "%s", cfg->url);
        for (char *p = shown; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                *p = '?';
            }
        }
        return bm_errf(em, BM_ECONFIG, "evm %s URL '%s': want http:// or "
                       "https://", what, shown);
    }
    if (bm_curl_init() != BM_OK) {
        return bm_errf(em, BM_EIO, "curl_global_init failed");
    }
    ep = bm_calloc(1, sizeof(*ep));
    if (ep == NULL) {
        return BM_ENOMEM;
    }
    pthread_mutex_init(&ep->mu, NULL);
    snprintf(ep->what, sizeof(ep->what), "%s", what);
    ep->url = bm_strdup(cfg->url);
    ep->curl = curl_easy_init();
    if (ep->url == NULL || ep->curl == NULL) {
        bm_evm_endpoint_free(ep);
        return BM_ENOMEM;
    }
    if (cfg->jwt_secret != NULL) {
        ep->auth = true;
        memcpy(ep->secret, cfg->jwt_secret, sizeof(ep->secret));
    }
    ep->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    ep->next_id = 1;
    bm_dynbuf_init(&ep->req, MAX_REQUEST);
    bm_dynbuf_init(&ep->resp, cfg->max_response ? cfg->max_response
                                                 : DEFAULT_MAX_RESPONSE);
    atomic_init(&ep->calls, 0);
    atomic_init(&ep->ns, 0);
    atomic_init(&ep->connects, 0);
    curl_easy_setopt(ep->curl, CURLOPT_URL, ep->url);
    curl_easy_setopt(ep->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ep->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(ep->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(ep->curl, CURLOPT_WRITEFUNCTION, bm_curl_body_write);
    curl_easy_setopt(ep->curl, CURLOPT_WRITEDATA, &ep->resp);
    curl_easy_setopt(ep->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(ep->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(ep->curl, CURLOPT_FOLLOWLOCATION, 0L);
    *out = ep;
    return BM_OK;
}

void bm_evm_endpoint_free(struct bm_evm_endpoint *ep)
{
    if (ep == NULL) {
        return;
    }
    if (ep->curl != NULL) {
        curl_easy_cleanup(ep->curl);
    }
    bm_dynbuf_release(&ep->req);
    bm_dynbuf_release(&ep->resp);
    bm_free(ep->url);
    sodium_memzero(ep->secret, sizeof(ep->secret));
    pthread_mutex_destroy(&ep->mu);
    bm_free(ep);
}

const char *bm_evm_endpoint_url(const struct bm_evm_endpoint *ep)
{
    return ep->url;
}

void bm_evm_endpoint_stats(const struct bm_evm_endpoint *ep,
                           struct bm_evm_endpoint_stats *out)
{
    out->calls = atomic_load_explicit(&ep->calls, memory_order_relaxed);
    out->ns = atomic_load_explicit(&ep->ns, memory_order_relaxed);
    out->connects = atomic_load_explicit(&ep->connects,
                                         memory_order_relaxed);
}

/* Maps a transfer failure to the endpoint's error codes. */
static enum bm_err transfer_error(struct bm_evm_endpoint *ep,
                                  const char *method, CURLcode rc,
                                  uint32_t timeout_ms, struct bm_errmsg *em)
{
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        return bm_errf(em, BM_ETIMEDOUT, "%s: no answer from the execution "
                       "client's %s port %s within %u ms (is it hanging?)",
                       method, ep->what, ep->url, (unsigned)timeout_ms);
    }
    if (rc == CURLE_WRITE_ERROR) { /* only the body's cap aborts */
        return bm_errf(em, BM_EPROTO, "%s: response from %s above %zu bytes",
                       method, ep->url, ep->resp.max);
    }
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
        rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE) {
        return bm_errf(em, BM_ECONNECT, "%s: cannot reach the execution "
                       "client's %s port %s: %s", method, ep->what, ep->url,
                       curl_easy_strerror(rc));
    }
    return bm_errf(em, BM_EPROTO, "%s: %s: %s", method, ep->url,
                   curl_easy_strerror(rc));
}

/* One call; caller holds ep->mu. keep_body: an HTTP 200 body is copied
 * into r->body, not parsed. */
static enum bm_err call_locked(struct bm_evm_endpoint *ep, const char *method,
                               const struct bm_evm_span *params,
                               size_t n_params, uint32_t timeout_ms,
                               bool keep_body, struct bm_evm_reply *r,
                               struct bm_errmsg *em)
{
    struct curl_slist *hdr = NULL, *h;
    uint64_t id = ep->next_id++, t0;
    struct bm_errmsg pem = {{0}};
    long status = 0;
    CURLcode rc;
    enum bm_err err;

    bm_dynbuf_reset(&ep->req);
    err = bm_dynbuf_printf(&ep->req,
                           "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
                           ",\"method\":\"%s\",\"params\":[",
                           id, method);
    for (size_t i = 0; err == BM_OK && i < n_params; i++) {
        err = bm_dynbuf_append(&ep->req, params[i].p, params[i].len);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append(&ep->req, "]}", 2);
    }
    if (err != BM_OK) {
        return bm_errf(em, err, "%s: request of %zu bytes cannot be built",
                       method, ep->req.len);
    }
    hdr = curl_slist_append(NULL, "Content-Type: application/json");
    h = hdr != NULL ? curl_slist_append(hdr, "Expect:") : NULL;
    if (h != NULL && ep->auth) {
        char line[BM_EVM_JWT_TOKEN_MAX + 32];

        memcpy(line, "Authorization: Bearer ", 22);
        bm_evm_jwt_token(ep->secret, bm_clock_wall_ns() / 1000000000u,
                         line + 22);
        h = curl_slist_append(hdr, line);
        sodium_memzero(line, sizeof(line));
    }
    if (h == NULL) {
        curl_slist_free_all(hdr);
        return BM_ENOMEM;
    }
    bm_dynbuf_reset(&ep->resp);
    curl_easy_setopt(ep->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(ep->curl, CURLOPT_POSTFIELDS, (const char *)ep->req.ptr);
    curl_easy_setopt(ep->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)ep->req.len);
    curl_easy_setopt(ep->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    t0 = bm_clock_now_ns();
    rc = curl_easy_perform(ep->curl);
    ep->last_ns = bm_clock_now_ns() - t0;
    atomic_fetch_add_explicit(&ep->ns, ep->last_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&ep->calls, 1, memory_order_relaxed);
    {
        long nc = 0;

        if (curl_easy_getinfo(ep->curl, CURLINFO_NUM_CONNECTS, &nc) ==
                CURLE_OK &&
            nc > 0) {
            atomic_fetch_add_explicit(&ep->connects, (uint64_t)nc,
                                      memory_order_relaxed);
        }
    }
    curl_easy_setopt(ep->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(ep->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        return transfer_error(ep, method, rc, timeout_ms, em);
    }
    curl_easy_getinfo(ep->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 401 || status == 403) {
        return bm_errf(em, BM_EAUTH, "%s: HTTP %ld from %s: the execution "
                       "client refused the JWT (is evm.jwt_secret_file the "
                       "secret the client was started with?)",
                       method, status, ep->url);
    }
    if (keep_body && status == 200) {
        r->body = bm_malloc(ep->resp.len > 0 ? ep->resp.len : 1);
        if (r->body == NULL) {
            return BM_ENOMEM;
        }
        if (ep->resp.len > 0) {
            memcpy(r->body, ep->resp.ptr, ep->resp.len);
        }
        r->body_len = ep->resp.len;
        r->id = id;
        return BM_OK;
    }
    err = bm_evm_reply_parse((const char *)ep->resp.ptr, ep->resp.len, id, r,
                             &pem);
    r->id = id;
    if (status != 200 && (err == BM_OK || err == BM_EPROTO)) {
        return bm_errf(em, BM_EPROTO, "%s: HTTP status %ld from %s", method,
                       status, ep->url);
    }
    if (err != BM_OK) {
        return bm_errf(em, err, "%s: %s", method, pem.msg);
    }
    return BM_OK;
}

enum bm_err bm_evm_endpoint_call_ex(struct bm_evm_endpoint *ep,
                                    const char *method,
                                    const struct bm_evm_span *params,
                                    size_t n_params, uint32_t timeout_ms,
                                    unsigned flags, struct bm_evm_reply *r,
                                    struct bm_errmsg *em)
{
    enum bm_err err;
    uint64_t t0, waited;

    bm_evm_reply_release(r);
    t0 = bm_clock_now_ns();
    pthread_mutex_lock(&ep->mu);
    /* waiting for the connection is waiting for another call's answer
     * (the reaper's txpoolExt_getTxs beside the block path's calls): the
     * execution client's time too */
    waited = bm_clock_now_ns() - t0;
    ep->last_ns = 0;
    err = call_locked(ep, method, params, n_params,
                      timeout_ms ? timeout_ms : ep->timeout_ms,
                      (flags & BM_EVM_CALL_KEEP_BODY) != 0, r, em);
    r->ns = ep->last_ns + waited;
    pthread_mutex_unlock(&ep->mu);
    return err;
}

enum bm_err bm_evm_endpoint_call(struct bm_evm_endpoint *ep,
                                 const char *method, const char *params,
                                 uint32_t timeout_ms, struct bm_evm_reply *r,
                                 struct bm_errmsg *em)
{
    struct bm_evm_span p = {params, params != NULL ? strlen(params) : 0};

    return bm_evm_endpoint_call_ex(ep, method, &p, 1, timeout_ms, 0, r, em);
}
