/*
 * Helpers shared by the node's HTTP tests (RPC and metrics): a libcurl
 * client, JSON path lookup, and committing rig blocks straight to the
 * store. Header-only (static functions), test code only.
 */
#ifndef BM_TESTS_NODE_RPC_TEST_UTIL_H
#define BM_TESTS_NODE_RPC_TEST_UTIL_H

#include "bm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "actors/actors_test_util.h"
#include "blockv2/store.h"
#include "util/alloc.h"
#include "util/errmsg.h"

struct http_resp {
    long status;
    char *body; /* NUL-terminated, bm_free */
    size_t len;
    char ctype[128];
};

static inline size_t http_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct http_resp *r = arg;
    size_t n = size * nmemb;

    r->body = bm_xrealloc(r->body, r->len + n + 1);
    memcpy(r->body + r->len, p, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static inline void http_resp_release(struct http_resp *r)
{
    bm_free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Performs one request on 127.0.0.1:port. ct NULL: no Content-Type;
 * extra: one more header line or NULL. */
static inline void http_do(uint16_t port, const char *method, const char *path,
                    const char *ct, const void *body, size_t blen,
                    const char *extra, struct http_resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512];
    char cth[160];
    char *ctp = NULL;
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    r->body = bm_xmalloc(1);
    r->body[0] = '\0';
    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body ? blen : 0));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    snprintf(cth, sizeof(cth), "Content-Type: %s", ct ? ct : "");
    if (ct == NULL) {
        snprintf(cth, sizeof(cth), "Content-Type:");
    }
    h = curl_slist_append(h, cth);
    h = curl_slist_append(h, "Expect:");
    if (extra != NULL) {
        h = curl_slist_append(h, extra);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fail_msg("curl %s %s: %s", method, path, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctp);
    snprintf(r->ctype, sizeof(r->ctype), "%s", ctp ? ctp : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static inline void http_post_json(uint16_t port, const char *path, const char *body,
                           struct http_resp *r)
{
    http_do(port, "POST", path, "application/json", body, strlen(body), NULL,
            r);
}

static inline void http_get(uint16_t port, const char *path, struct http_resp *r)
{
    http_do(port, "GET", path, NULL, NULL, 0, NULL, r);
}

/* Parses r->body as a JSON object (asserts). */
static inline struct json_object *json_of(const struct http_resp *r)
{
    struct json_object *o = json_tokener_parse(r->body);

    if (o == NULL) {
        fail_msg("not JSON: %s", r->body);
    }
    return o;
}

/* Dot-separated member path ("block.header.header.height"); NULL if
 * absent. Borrowed from o. */
static inline struct json_object *jpath(struct json_object *o, const char *path)
{
    char buf[256];
    char *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL && o != NULL;
         k = strtok_r(NULL, ".", &save)) {
        struct json_object *v = NULL;

        if (!json_object_object_get_ex(o, k, &v)) {
            return NULL;
        }
        o = v;
    }
    return o;
}

/* Only these members may appear in an object (protojson names). */
static inline void only_keys(struct json_object *o,
                             const char *const *allowed)
{
    json_object_object_foreach(o, k, v)
    {
        bool ok = false;

        (void)v;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            ok = ok || strcmp(k, allowed[i]) == 0;
        }
        if (!ok) {
            fail_msg("unexpected member '%s'", k);
        }
    }
}

static inline const char *jstr(struct json_object *o, const char *path)
{
    struct json_object *v = jpath(o, path);

    if (v == NULL) {
        return NULL;
    }
    return json_object_get_string(v);
}

/* Commits the next block (txs NULL-terminated or NULL) with the given
 * metadata ops in one store write; *hash (may be NULL) gets its hash. */
static inline void commit_block(struct at_node *n, const char *const *txs,
                         const struct bm_store_meta_op *meta, size_t n_meta,
                         struct bm_hash *hash)
{
    struct bm_state st = {0};
    struct bm_state nst = {0};
    struct bm_store_encoded enc = {0};
    struct bm_store_block blk;
    struct bm_store_batch batch = {0};
    struct bm_errmsg em = {{0}};
    struct bm_block *b;
    enum bm_err err;

    at_latest_state(n, &st);
    b = at_make_block(n, &st, txs);
    assert_int_equal(bm_state_copy(&nst, &st), BM_OK);
    nst.last_block_height = b->sh.header.height;
    nst.last_block_time.seconds =
        (int64_t)(b->sh.header.time / 1000000000ull);
    nst.last_block_time.nanos = (int32_t)(b->sh.header.time % 1000000000ull);
    assert_int_equal(bm_buf_set(&nst.last_header_hash, b->hash.b, 32),
                     BM_OK);
    assert_int_equal(bm_store_encoded_init(&enc, &b->sh, &b->data, &nst),
                     BM_OK);
    bm_store_encoded_view(&enc, &blk);
    batch.blocks = &blk;
    batch.n_blocks = 1;
    batch.meta = meta;
    batch.n_meta = n_meta;
    err = bm_store_write(n->store, &batch, &em);
    if (err != BM_OK) {
        fail_msg("store write: %s", bm_errmsg_str(&em, err));
    }
    if (hash != NULL) {
        *hash = b->hash;
    }
    bm_store_encoded_release(&enc);
    bm_block_unref(b);
    bm_state_release(&st);
    bm_state_release(&nst);
}

#endif /* BM_TESTS_NODE_RPC_TEST_UTIL_H */
