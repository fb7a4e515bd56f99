/* etcd v3 JSON gateway client over libcurl (src/ha/etcd.h). */
#include "ha/etcd.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/curl_body.h"
#include "util/curl_init.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MAX_REQUEST ((size_t)64 << 20)
#define WATCH_POLL_MS 1000

struct bm_etcd {
    pthread_mutex_t mu;
    CURL *curl;
    CURLM *multi;
    struct curl_slist *headers;
    char **endpoints;
    size_t n_endpoints;
    atomic_size_t cur;
    uint32_t timeout_ms;
    size_t max_response;
    struct bm_dynbuf resp;
    bool resp_too_big;
    /* watch state (the watching thread only) */
    bool watching;
    bm_etcd_watch_fn *watch_fn;
    void *watch_arg;
    bool watch_stop; /* fn returned false */
    enum bm_err watch_err;
    struct bm_errmsg watch_em;
    atomic_bool cancel;
};

/* Splits e->resp at newlines and hands each complete line to the watch
 * callback. Returns false to abort the transfer. */
static bool watch_lines(struct bm_etcd *e)
{
    for (;;) {
        uint8_t *nl = memchr(e->resp.ptr, '\n', e->resp.len);
        struct bm_etcd_watch_msg m = {0};
        size_t line;
        enum bm_err err;

        if (nl == NULL) {
            return true;
        }
        line = (size_t)(nl - e->resp.ptr);
        if (line > 0) {
            err = bm__etcd_decode_watch((const char *)e->resp.ptr, line, &m,
                                        &e->watch_em);
            if (err != BM_OK) {
                e->watch_err = err;
                return false;
            }
            bool go_on = e->watch_fn(e->watch_arg, &m);
            bool canceled = m.canceled;
            bm_etcd_watch_msg_release(&m);
            if (!go_on) {
                e->watch_stop = true;
                return false;
            }
            if (canceled) {
                e->watch_err = bm_errf(&e->watch_em, BM_EETCD,
                                       "etcd: watch canceled by the server");
                return false;
            }
        }
        memmove(e->resp.ptr, nl + 1, e->resp.len - line - 1);
        e->resp.len -= line + 1;
    }
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct bm_etcd *e = arg;
    size_t n = bm_curl_body_write(ptr, size, nmemb, &e->resp);

    if (n != size * nmemb) {
        e->resp_too_big = true;
        return 0; /* aborts the transfer */
    }
    if (e->watching && !watch_lines(e)) {
        return 0;
    }
    return n;
}

static enum bm_err check_url(const char *u, size_t i, struct bm_errmsg *em)
{
    size_t len = strnlen(u, BM_ETCD_MAX_URL + 1);

    if (len > BM_ETCD_MAX_URL) {
        return bm_errf(em, BM_ECONFIG,
                       "ha.etcd_endpoints[%zu]: longer than "
                       "%u bytes",
                       i, BM_ETCD_MAX_URL);
    }
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        return bm_errf(em, BM_ECONFIG,
                       "ha.etcd_endpoints[%zu]: '%s': want "
                       "http://HOST:PORT or https://HOST:PORT",
                       i, u);
    }
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)u[k];
        if (c <= 0x20 || c >= 0x7f) {
            return bm_errf(em, BM_ECONFIG,
                           "ha.etcd_endpoints[%zu]: space or "
                           "control byte at offset %zu",
                           i, k);
        }
    }
    if (strlen(u) == (u[4] == 's' ? 8u : 7u)) {
        return bm_errf(em, BM_ECONFIG, "ha.etcd_endpoints[%zu]: no host", i);
    }
    return BM_OK;
}

enum bm_err bm_etcd_new(struct bm_etcd **out, const struct bm_etcd_config *cfg,
                        struct bm_errmsg *em)
{
    struct bm_etcd *e = NULL;
    enum bm_err err;

    *out = NULL;
    if (cfg->n_endpoints == 0 || cfg->endpoints == NULL) {
        return bm_errf(em, BM_ECONFIG, "ha.etcd_endpoints: empty");
    }
    if (cfg->n_endpoints > BM_ETCD_MAX_ENDPOINTS) {
        return bm_errf(em, BM_ECONFIG,
                       "ha.etcd_endpoints: %zu endpoints, at "
                       "most %d",
                       cfg->n_endpoints, BM_ETCD_MAX_ENDPOINTS);
    }
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        if (cfg->endpoints[i] == NULL) {
            return bm_errf(em, BM_ECONFIG, "ha.etcd_endpoints[%zu]: NULL", i);
        }
        err = check_url(cfg->endpoints[i], i, em);
        if (err != BM_OK) {
            return err;
        }
    }
    if (bm_curl_init() != BM_OK) {
        return bm_errf(em, BM_EIO, "etcd: curl_global_init failed");
    }
    e = bm_calloc(1, sizeof(*e));
    if (e == NULL) {
        return BM_ENOMEM;
    }
    pthread_mutex_init(&e->mu, NULL);
    atomic_init(&e->cur, 0);
    atomic_init(&e->cancel, false);
    e->timeout_ms =
        cfg->timeout_ms ? cfg->timeout_ms : BM_ETCD_DEFAULT_TIMEOUT_MS;
    e->max_response =
        cfg->max_response ? cfg->max_response : BM_ETCD_DEFAULT_MAX_RESPONSE;
    bm_dynbuf_init(&e->resp, e->max_response);
    e->endpoints = bm_calloc(cfg->n_endpoints, sizeof(char *));
    if (e->endpoints == NULL) {
        goto nomem;
    }
    e->n_endpoints = cfg->n_endpoints;
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        size_t len = strlen(cfg->endpoints[i]);
        /* no trailing slash: paths start with one */
        while (len > 0 && cfg->endpoints[i][len - 1] == '/') {
            len--;
        }
        e->endpoints[i] = bm_strndup(cfg->endpoints[i], len);
        if (e->endpoints[i] == NULL) {
            goto nomem;
        }
    }
    e->curl = curl_easy_init();
    e->multi = curl_multi_init();
    if (e->curl == NULL || e->multi == NULL) {
        goto nomem;
    }
    {
        struct curl_slist *h =
            curl_slist_append(NULL, "Content-Type: application/json");
        if (h == NULL) {
            goto nomem;
        }
        e->headers = h;
        /* no "Expect: 100-continue" round trip before large bodies */
        h = curl_slist_append(e->headers, "Expect:");
        if (h == NULL) {
            goto nomem;
        }
        e->headers = h;
    }
    curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
    curl_easy_setopt(e->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e->curl, CURLOPT_FOLLOWLOCATION, 0L);
    *out = e;
    return BM_OK;
nomem:
    bm_etcd_free(e);
    return BM_ENOMEM;
}

void bm_etcd_free(struct bm_etcd *e)
{
    if (e == NULL) {
        return;
    }
    if (e->curl != NULL) {
        curl_easy_cleanup(e->curl);
    }
    if (e->multi != NULL) {
        curl_multi_cleanup(e->multi);
    }
    curl_slist_free_all(e->headers);
    for (size_t i = 0; i < e->n_endpoints; i++) {
        bm_free(e->endpoints[i]);
    }
    bm_free(e->endpoints);
    bm_dynbuf_release(&e->resp);
    pthread_mutex_destroy(&e->mu);
    bm_free(e);
}

const char *bm_etcd_endpoint(const struct bm_etcd *e)
{
    return e
        ->endpoints[atomic_load(&((struct bm_etcd *)e)->cur) % e->n_endpoints];
}

/* Appends "; what" to a bounded note. */
static void note_add(char *note, size_t cap, const char *ep, const char *why)
{
    size_t len = strlen(note);

    if (len + 4 < cap) {
        snprintf(note + len, cap - len, "%s%s: %s", len ? "; " : "", ep, why);
    }
}

/* One unary call with endpoint failover. Caller holds e->mu. */
static enum bm_err call_locked(struct bm_etcd *e, const char *path,
                               const struct bm_dynbuf *body,
                               uint32_t timeout_ms, enum bm_etcd_call kind,
                               struct bm_etcd_resp *out, struct bm_errmsg *em)
{
    uint64_t deadline =
        bm_clock_deadline_ms(timeout_ms ? timeout_ms : e->timeout_ms);
    char note[400] = "";
    char url[BM_ETCD_MAX_URL + 32];
    bool timed_out = false;
    size_t n = e->n_endpoints;

    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, (const char *)body->ptr);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)body->len);
    for (size_t tried = 0; tried < n; tried++) {
        int64_t left = bm_clock_left_ms(deadline);
        size_t cur = atomic_load(&e->cur) % n;
        const char *ep = e->endpoints[cur];
        long status = 0;
        CURLcode rc;
        enum bm_err err;

        if (left <= 0) {
            timed_out = true;
            break;
        }
        /* with several endpoints left, one that hangs must not use up the
         * whole budget */
        int64_t budget = left / (int64_t)(n - tried);
        if (budget < 1) {
            budget = 1;
        }
        snprintf(url, sizeof(url), "%s%s", ep, path);
        curl_easy_setopt(e->curl, CURLOPT_URL, url);
        curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)budget);
        curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)budget);
        bm_dynbuf_reset(&e->resp);
        e->resp_too_big = false;
        rc = curl_easy_perform(e->curl);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
            err = bm__etcd_decode(kind, (const char *)e->resp.ptr, e->resp.len,
                                  out, em);
            if (err == BM_EAGAIN) {
                /* this member cannot serve (no quorum): try another */
                note_add(note, sizeof(note), ep, bm_errmsg_str(em, err));
                atomic_store(&e->cur, (cur + 1) % n);
                continue;
            }
            if (status != 200 && (err == BM_OK || err == BM_EPROTO)) {
                bm_etcd_resp_release(out);
                return bm_errf(em, BM_EETCD,
                               "etcd: HTTP %ld from %s%s (not "
                               "an etcd v3 JSON gateway?)",
                               status, ep, path);
            }
            return err;
        }
        if (e->resp_too_big) {
            return bm_errf(em, BM_ETOOBIG,
                           "etcd: answer from %s%s above %zu "
                           "bytes",
                           ep, path, e->max_response);
        }
        timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        note_add(note, sizeof(note), ep, curl_easy_strerror(rc));
        atomic_store(&e->cur, (cur + 1) % n);
    }
    if (timed_out || bm_clock_left_ms(deadline) <= 0) {
        return bm_errf(em, BM_ETIMEDOUT,
                       "etcd: %s: no answer within %u ms "
                       "(%s)",
                       path, timeout_ms ? timeout_ms : e->timeout_ms,
                       note[0] ? note : "deadline passed");
    }
    return bm_errf(em, BM_ECONNECT, "etcd: %s: no endpoint answered (%s)", path,
                   note);
}

static enum bm_err call(struct bm_etcd *e, const char *path,
                        const struct bm_dynbuf *body, uint32_t timeout_ms,
                        enum bm_etcd_call kind, struct bm_etcd_resp *out,
                        struct bm_errmsg *em)
{
    struct bm_etcd_resp t = {0};
    enum bm_err err;

    bm_etcd_resp_release(out);
    pthread_mutex_lock(&e->mu);
    err = call_locked(e, path, body, timeout_ms, kind, &t, em);
    pthread_mutex_unlock(&e->mu);
    if (err == BM_OK) {
        *out = t;
    } else {
        bm_etcd_resp_release(&t);
    }
    return err;
}

/* "name":"<base64>" */
static enum bm_err put_b64(struct bm_dynbuf *d, const char *name,
                           const uint8_t *p, size_t n)
{
    enum bm_err err = bm_dynbuf_printf(d, "\"%s\":\"", name);

    if (err == BM_OK) {
        err = bm__etcd_b64_append(d, p, n);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '"');
    }
    return err;
}

static enum bm_err check_key(const uint8_t *key, size_t klen,
                             struct bm_errmsg *em)
{
    if (key == NULL || klen == 0 || klen > BM_ETCD_MAX_KEY) {
        return bm_errf(em, BM_EINVAL, "etcd: key of %zu bytes (1..%u)", klen,
                       BM_ETCD_MAX_KEY);
    }
    return BM_OK;
}

/* Sends the request built in d (or reports why it could not be built:
 * err), then releases d. */
static enum bm_err send_req(struct bm_etcd *e, const char *path,
                            struct bm_dynbuf *d, enum bm_err err,
                            uint32_t timeout_ms, enum bm_etcd_call kind,
                            struct bm_etcd_resp *out, struct bm_errmsg *em)
{
    if (err != BM_OK) {
        err = bm_errf(em, err, "etcd: cannot build request: %s",
                      bm_strerror(err));
    } else {
        err = call(e, path, d, timeout_ms, kind, out, em);
    }
    bm_dynbuf_release(d);
    return err;
}

/* {"key":"<base64>"} */
static enum bm_err put_key_obj(struct bm_dynbuf *d, const uint8_t *key,
                               size_t klen)
{
    enum bm_err err = bm_dynbuf_append_byte(d, '{');

    if (err == BM_OK) {
        err = put_b64(d, "key", key, klen);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '}');
    }
    return err;
}

enum bm_err bm_etcd_get(struct bm_etcd *e, const uint8_t *key, size_t klen,
                        uint32_t timeout_ms, struct bm_etcd_resp *out,
                        struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    enum bm_err err = check_key(key, klen, em);

    if (err != BM_OK) {
        return err;
    }
    bm_dynbuf_init(&d, MAX_REQUEST);
    err = put_key_obj(&d, key, klen);
    return send_req(e, "/v3/kv/range", &d, err, timeout_ms, BM_ETCD_CALL_RANGE,
                    out, em);
}

/* {"key":..,"value":..[,"lease":"N"]} without braces */
static enum bm_err put_fields(struct bm_dynbuf *d, const uint8_t *key,
                              size_t klen, const uint8_t *value, size_t vlen,
                              int64_t lease)
{
    enum bm_err err = put_b64(d, "key", key, klen);

    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, ',');
    }
    if (err == BM_OK) {
        err = put_b64(d, "value", value, vlen);
    }
    if (err == BM_OK && lease != 0) {
        err = bm_dynbuf_printf(d, ",\"lease\":\"%" PRId64 "\"", lease);
    }
    return err;
}

enum bm_err bm_etcd_put(struct bm_etcd *e, const uint8_t *key, size_t klen,
                        const uint8_t *value, size_t vlen, int64_t lease,
                        uint32_t timeout_ms, struct bm_etcd_resp *out,
                        struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    enum bm_err err = check_key(key, klen, em);

    if (err != BM_OK) {
        return err;
    }
    bm_dynbuf_init(&d, MAX_REQUEST);
    err = bm_dynbuf_append_byte(&d, '{');
    if (err == BM_OK) {
        err = put_fields(&d, key, klen, value, vlen, lease);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(&d, '}');
    }
    return send_req(e, "/v3/kv/put", &d, err, timeout_ms, BM_ETCD_CALL_PUT, out,
                    em);
}

/* Compare target names and the Compare field holding their value, by
 * enum bm_etcd_target. */
static const struct {
    const char *name;
    const char *field;
} targets[] = {
    [BM_ETCD_VERSION] = {"VERSION", "version"},
    [BM_ETCD_CREATE] = {"CREATE", "create_revision"},
    [BM_ETCD_MOD] = {"MOD", "mod_revision"},
    [BM_ETCD_LEASE] = {"LEASE", "lease"},
};

enum bm_err bm_etcd_txn_put(struct bm_etcd *e, const struct bm_etcd_cmp *cmps,
                            size_t n_cmps, const uint8_t *key, size_t klen,
                            const uint8_t *value, size_t vlen, int64_t lease,
                            const uint8_t *ok_range_key, size_t ok_klen,
                            const uint8_t *fail_key, size_t fail_klen,
                            uint32_t timeout_ms, struct bm_etcd_resp *out,
                            struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    enum bm_err err;

    if (n_cmps == 0 || n_cmps > 8) {
        return bm_errf(em, BM_EINVAL, "etcd: txn with %zu compares (1..8)",
                       n_cmps);
    }
    err = check_key(key, klen, em);
    if (err == BM_OK) {
        err = check_key(fail_key, fail_klen, em);
    }
    if (err == BM_OK && ok_range_key != NULL) {
        err = check_key(ok_range_key, ok_klen, em);
    }
    for (size_t i = 0; i < n_cmps && err == BM_OK; i++) {
        err = check_key(cmps[i].key, cmps[i].klen, em);
        if (err == BM_OK &&
            (unsigned)cmps[i].target >= sizeof(targets) / sizeof(targets[0])) {
            err = bm_errf(em, BM_EINVAL, "etcd: compare %zu: bad target", i);
        }
    }
    if (err != BM_OK) {
        return err;
    }
    bm_dynbuf_init(&d, MAX_REQUEST);
    err = bm_dynbuf_printf(&d, "{\"compare\":[");
    for (size_t i = 0; i < n_cmps && err == BM_OK; i++) {
        err = bm_dynbuf_printf(&d,
                               "%s{\"result\":\"EQUAL\",\"target\":\"%s\","
                               "\"%s\":\"%" PRId64 "\",",
                               i ? "," : "", targets[cmps[i].target].name,
                               targets[cmps[i].target].field, cmps[i].value);
        if (err == BM_OK) {
            err = put_b64(&d, "key", cmps[i].key, cmps[i].klen);
        }
        if (err == BM_OK) {
            err = bm_dynbuf_append_byte(&d, '}');
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "],\"success\":[{\"request_put\":{");
    }
    if (err == BM_OK) {
        err = put_fields(&d, key, klen, value, vlen, lease);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "}}");
    }
    if (err == BM_OK && ok_range_key != NULL) {
        err = bm_dynbuf_printf(&d, ",{\"request_range\":");
        if (err == BM_OK) {
            err = put_key_obj(&d, ok_range_key, ok_klen);
        }
        if (err == BM_OK) {
            err = bm_dynbuf_append_byte(&d, '}');
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "],\"failure\":[{\"request_range\":");
    }
    if (err == BM_OK) {
        err = put_key_obj(&d, fail_key, fail_klen);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "}]}");
    }
    return send_req(e, "/v3/kv/txn", &d, err, timeout_ms, BM_ETCD_CALL_TXN, out,
                    em);
}

enum bm_err bm_etcd_lease_grant(struct bm_etcd *e, int64_t ttl_s,
                                uint32_t timeout_ms, struct bm_etcd_resp *out,
                                struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    enum bm_err err;

    if (ttl_s <= 0 || ttl_s > 3600) {
        return bm_errf(em, BM_EINVAL,
                       "etcd: lease TTL %" PRId64 " s "
                       "(1..3600)",
                       ttl_s);
    }
    bm_dynbuf_init(&d, 256);
    err = bm_dynbuf_printf(&d, "{\"TTL\":\"%" PRId64 "\"}", ttl_s);
    return send_req(e, "/v3/lease/grant", &d, err, timeout_ms,
                    BM_ETCD_CALL_GRANT, out, em);
}

enum bm_err bm_etcd_lease_keepalive(struct bm_etcd *e, int64_t lease,
                                    uint32_t timeout_ms,
                                    struct bm_etcd_resp *out,
                                    struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    enum bm_err err;

    bm_dynbuf_init(&d, 256);
    err = bm_dynbuf_printf(&d, "{\"ID\":\"%" PRId64 "\"}", lease);
    err = send_req(e, "/v3/lease/keepalive", &d, err, timeout_ms,
                   BM_ETCD_CALL_KEEPALIVE, out, em);
    if (err == BM_OK && out->lease_id != lease && out->ttl > 0) {
        bm_etcd_resp_release(out);
        return bm_errf(em, BM_EPROTO,
                       "etcd: keepalive of lease %" PRId64
                       " answered for another lease",
                       lease);
    }
    return err;
}

enum bm_err bm_etcd_lease_revoke(struct bm_etcd *e, int64_t lease,
                                 uint32_t timeout_ms, struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    struct bm_etcd_resp r = {0};
    enum bm_err err;

    bm_dynbuf_init(&d, 256);
    err = bm_dynbuf_printf(&d, "{\"ID\":\"%" PRId64 "\"}", lease);
    err = send_req(e, "/v3/lease/revoke", &d, err, timeout_ms,
                   BM_ETCD_CALL_REVOKE, &r, em);
    bm_etcd_resp_release(&r);
    return err;
}

/* ---- watch ---- */

void bm_etcd_cancel(struct bm_etcd *e)
{
    atomic_store(&e->cancel, true);
    curl_multi_wakeup(e->multi);
}

void bm_etcd_reset_cancel(struct bm_etcd *e)
{
    atomic_store(&e->cancel, false);
}

enum bm_err bm_etcd_watch(struct bm_etcd *e, const uint8_t *key, size_t klen,
                          int64_t start_revision, uint32_t connect_timeout_ms,
                          bm_etcd_watch_fn *fn, void *arg, struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    char url[BM_ETCD_MAX_URL + 32];
    size_t cur;
    const char *ep;
    CURLcode rc = CURLE_OK;
    enum bm_err err = check_key(key, klen, em);
    bool done = false;

    if (err != BM_OK) {
        return err;
    }
    bm_dynbuf_init(&d, MAX_REQUEST);
    err = bm_dynbuf_printf(&d, "{\"create_request\":{");
    if (err == BM_OK) {
        err = put_b64(&d, "key", key, klen);
    }
    if (err == BM_OK && start_revision > 0) {
        err = bm_dynbuf_printf(&d, ",\"start_revision\":\"%" PRId64 "\"",
                               start_revision);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, "}}");
    }
    if (err != BM_OK) {
        bm_dynbuf_release(&d);
        return bm_errf(em, err, "etcd: cannot build request: %s",
                       bm_strerror(err));
    }
    pthread_mutex_lock(&e->mu);
    cur = atomic_load(&e->cur) % e->n_endpoints;
    ep = e->endpoints[cur];
    snprintf(url, sizeof(url), "%s/v3/watch", ep);
    curl_easy_setopt(e->curl, CURLOPT_URL, url);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, (const char *)d.ptr);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d.len);
    curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(
        e->curl, CURLOPT_CONNECTTIMEOUT_MS,
        (long)(connect_timeout_ms ? connect_timeout_ms : e->timeout_ms));
    bm_dynbuf_reset(&e->resp);
    e->resp_too_big = false;
    e->watching = true;
    e->watch_fn = fn;
    e->watch_arg = arg;
    e->watch_stop = false;
    e->watch_err = BM_OK;
    e->watch_em.msg[0] = '\0';
    curl_multi_add_handle(e->multi, e->curl);
    while (!done) {
        int running = 0;
        int left = 0;
        CURLMsg *msg;

        if (atomic_load(&e->cancel)) {
            break;
        }
        curl_multi_perform(e->multi, &running);
        while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                rc = msg->data.result;
                done = true;
            }
        }
        if (!done) {
            curl_multi_poll(e->multi, NULL, 0, WATCH_POLL_MS, NULL);
        }
    }
    curl_multi_remove_handle(e->multi, e->curl);
    e->watching = false;
    if (atomic_load(&e->cancel) && !done) {
        err = bm_errf(em, BM_ECANCELED, "etcd: watch cancelled");
    } else if (e->watch_stop) {
        err = BM_OK;
    } else if (e->watch_err != BM_OK) {
        err = bm_errf(em, e->watch_err, "%s", e->watch_em.msg);
    } else if (e->resp_too_big) {
        err = bm_errf(em, BM_ETOOBIG,
                      "etcd: watch message from %s above %zu "
                      "bytes",
                      ep, e->max_response);
    } else if (rc != CURLE_OK) {
        atomic_store(&e->cur, (cur + 1) % e->n_endpoints);
        err = bm_errf(em, BM_ECONNECT, "etcd: watch on %s: %s", ep,
                      curl_easy_strerror(rc));
    } else {
        long status = 0;
        curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
        err = bm_errf(em, status == 200 ? BM_ECONNECT : BM_EETCD,
                      "etcd: watch on %s ended (HTTP %ld)", ep, status);
    }
    bm_dynbuf_reset(&e->resp);
    pthread_mutex_unlock(&e->mu);
    bm_dynbuf_release(&d);
    return err;
}
