/* Tx ingress: the core and POST /tx over a real socket on 127.0.0.1. */
#include "bm_test.h"

#include <string.h>

#include <curl/curl.h>

#include "blockv2/executor.h"
#include "exec/kv/ingress.h"
#include "exec/kv/kv.h"
#include "util/hex.h"

#include "exec_test_util.h"

struct resp {
    char body[1024];
    size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    size_t room = sizeof(r->body) - 1 - r->len;

    if (len > room) {
        len = room;
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return size * n;
}

/* Sends a request; returns the HTTP status, body in *r. */
static long http(uint16_t port, const char *method, const char *path,
                 const char *ctype, const void *body, size_t len,
                 struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char url[128];
    char ct[128];
    long code = 0;

    assert_non_null(c);
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        snprintf(ct, sizeof(ct), "Content-Type: %s",
                 ctype ? ctype : "application/octet-stream");
        hdr = curl_slist_append(hdr, ct);
        hdr = curl_slist_append(hdr, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return code;
}

static void hash_hex(const char *tx, char out[65])
{
    struct bm_hash h;

    bm_exec_tx_hash((const uint8_t *)tx, strlen(tx), &h);
    bm_hex_encode(out, h.b, BM_HASH_SIZE);
}

static void test_core(void **state)
{
    char *dir = tmpdir_new();
    char *kvdir = path_join(dir, "kv");
    struct bm_kv *kv = NULL;
    struct bm_kv_options o = {.no_sync = true};
    struct bm_ingress_reply r;
    struct bm_buf json = {0};
    static const char js[] = "{\"tx\":\"j=1\"}";
    static const char jh[] = "{\"tx_hex\":\"6b3d32\"}"; /* k=2 */

    (void)state;
    assert_int_equal(bm_kv_open(&kv, kvdir, &o, NULL), BM_OK);
    bm_kv_ingress_submit(kv, NULL, (const uint8_t *)"a=1", 3, &r);
    assert_int_equal(r.http_status, 202);
    assert_true(r.has_hash);
    assert_int_equal(bm_ingress_reply_json(&r, &json), BM_OK);
    assert_int_equal(json.ptr[0], '{');
    bm_kv_ingress_submit(kv, "text/plain", (const uint8_t *)"a=1", 3, &r);
    assert_int_equal(r.http_status, 409);
    bm_kv_ingress_submit(kv, "application/json; charset=utf-8",
                         (const uint8_t *)js, strlen(js), &r);
    assert_int_equal(r.http_status, 202);
    bm_kv_ingress_submit(kv, "application/json", (const uint8_t *)jh,
                         strlen(jh), &r);
    assert_int_equal(r.http_status, 202);
    bm_kv_ingress_submit(kv, "application/json",
                         (const uint8_t *)"{\"tx\":\"w=1\"}\r\n", 14, &r);
    assert_int_equal(r.http_status, 202); /* trailing white space is fine */
    bm_kv_ingress_submit(kv, "application/json",
                         (const uint8_t *)"{\"tx\":\"w=2\"} x", 14, &r);
    assert_int_equal(r.http_status, 400);
    assert_non_null(strstr(r.reason, "trailing"));
    bm_kv_ingress_submit(kv, "application/json", (const uint8_t *)"{\"tx\":",
                         6, &r);
    assert_int_equal(r.http_status, 400);
    bm_kv_ingress_submit(kv, "application/json",
                         (const uint8_t *)"{\"tx\":1}", 8, &r);
    assert_int_equal(r.http_status, 400);
    assert_non_null(strstr(r.reason, "not a string"));
    bm_kv_ingress_submit(kv, "application/json",
                         (const uint8_t *)"{\"tx_hex\":\"zz\"}", 15, &r);
    assert_int_equal(r.http_status, 400);
    bm_kv_ingress_submit(kv, NULL, (const uint8_t *)"=1", 2, &r);
    assert_int_equal(r.http_status, 400);
    assert_non_null(strstr(r.reason, "key is empty"));
    assert_int_equal(bm_kv_mempool_len(kv), 4);
    bm_buf_release(&json);
    bm_kv_free(kv);
    bm_free(kvdir);
    tmpdir_free(dir);
}

static void test_http(void **state)
{
    char *dir = tmpdir_new();
    char *kvdir = path_join(dir, "kv");
    struct bm_kv *kv = NULL;
    struct bm_kv_options o = {.no_sync = true};
    struct bm_kv_ingress_server *srv = NULL;
    uint16_t port = 0;
    struct resp r;
    char want[65];
    char *big = bm_xmalloc(BM_INGRESS_MAX_BODY + 100);
    struct bm_batch b = {0};
    struct bm_executor ex;
    struct bm_buf root = {0};
    struct bm_exec_result er = {0};

    (void)state;
    assert_int_equal(bm_kv_open(&kv, kvdir, &o, NULL), BM_OK);
    assert_int_equal(bm_kv_ingress_start(kv, "127.0.0.1", 0, &srv, &port,
                                         NULL), BM_OK);
    assert_true(port != 0);

    assert_int_equal(http(port, "POST", "/tx", NULL, "name=alice", 10, &r),
                     202);
    hash_hex("name=alice", want);
    assert_non_null(strstr(r.body, want));
    assert_int_equal(http(port, "POST", "/tx", NULL, "name=alice", 10, &r),
                     409);
    assert_non_null(strstr(r.body, "already in mempool"));
    assert_int_equal(http(port, "POST", "/tx", "application/json",
                          "{\"tx\":\"city=paris\"}", 19, &r), 202);
    hash_hex("city=paris", want);
    assert_non_null(strstr(r.body, want));
    assert_int_equal(http(port, "POST", "/tx", NULL, "garbage", 7, &r), 400);
    assert_non_null(strstr(r.body, "no '=' separator"));
    memset(big, 'v', BM_INGRESS_MAX_BODY + 100);
    big[0] = 'k';
    big[1] = '=';
    assert_int_equal(http(port, "POST", "/tx", NULL, big, BM_KV_MAX_TX + 5,
                          &r), 413);
    assert_non_null(strstr(r.body, "tx is"));
    assert_int_equal(http(port, "POST", "/tx", NULL, big,
                          BM_INGRESS_MAX_BODY + 100, &r), 413);
    assert_int_equal(http(port, "GET", "/tx", NULL, NULL, 0, &r), 405);
    assert_int_equal(http(port, "POST", "/nope", NULL, "a=1", 3, &r), 404);

    bm_kv_executor(kv, &ex);
    assert_int_equal(bm_executor_get_txs(&ex, &b, NULL), BM_OK);
    assert_int_equal(b.n_txs, 2);
    assert_true(tx_is(&b.txs[0], "name=alice"));
    assert_true(tx_is(&b.txs[1], "city=paris"));

    /* Queries: GET /kv/<key> at the latest height. */
    assert_int_equal(http(port, "GET", "/kv/name", NULL, NULL, 0, &r), 404);
    assert_int_equal(bm_executor_init_chain(&ex, 1, 1, "c", &root, NULL),
                     BM_OK);
    assert_int_equal(bm_executor_execute_txs(&ex, b.txs, b.n_txs, 1, 2,
                                             root.ptr, root.len, &er, NULL),
                     BM_OK);
    assert_int_equal(http(port, "GET", "/kv/name", NULL, NULL, 0, &r), 200);
    assert_non_null(strstr(r.body, "\"value\":\"alice\""));
    assert_non_null(strstr(r.body, "\"value_hex\":\"616c696365\""));
    assert_non_null(strstr(r.body, "\"height\":1"));
    assert_int_equal(http(port, "GET", "/kv/nobody", NULL, NULL, 0, &r),
                     404);
    assert_non_null(strstr(r.body, "key not found"));
    assert_int_equal(http(port, "POST", "/kv/name", NULL, "a=1", 3, &r),
                     404);
    bm_exec_txs_free(b.txs, b.n_txs);
    bm_exec_result_release(&er);
    bm_buf_release(&root);

    bm_kv_ingress_stop(srv);
    bm_free(big);
    bm_kv_free(kv);
    bm_free(kvdir);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core),
        cmocka_unit_test(test_http),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = BM_TEST_RUN(tests);
    curl_global_cleanup();
    return rc;
}
