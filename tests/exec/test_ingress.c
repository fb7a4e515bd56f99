/* Tx ingress, transport-free: body forms, per-tx checks, replies. (POST
 * /tx over HTTP with the group commit: tests/node/test_rpc.c.) */
#include "bm_test.h"

#include <string.h>

#include "blockv2/executor.h"
#include "exec/kv/ingress.h"
#include "exec/kv/kv.h"
#include "util/errmsg.h"
#include "util/hex.h"

#include "exec_test_util.h"

/* True if the reply body b (not NUL-terminated) contains s. */
static bool has(const struct bm_buf *b, const char *s)
{
    return memmem(b->ptr, b->len, s, strlen(s)) != NULL;
}

static void hash_hex(const char *tx, char out[65])
{
    struct bm_hash h;

    bm_exec_tx_hash((const uint8_t *)tx, strlen(tx), &h);
    bm_hex_encode(out, h.b, BM_HASH_SIZE);
}

/* Parses body and expects a request-wide error with a reason containing
 * `part` (NULL: any). */
static void expect_refused(const char *ct, const char *body, size_t len,
                           enum bm_err want, const char *part)
{
    struct bm_ingress_req r = {0};
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_ingress_parse(ct, (const uint8_t *)body, len, &r,
                                       &em);

    if (err != want) {
        fail_msg("'%.40s': got %s, want %s (%s)", body, bm_err_name(err),
                 bm_err_name(want), em.msg);
    }
    if (part != NULL && strstr(em.msg, part) == NULL) {
        fail_msg("reason '%s' lacks '%s'", em.msg, part);
    }
    assert_int_equal(r.n, 0);
    assert_null(r.err);
    assert_int_equal(bm_ingress_http_status(err), want == BM_ETOOBIG ? 413
                                                                     : 400);
}

/* Parses a single-form body and expects one tx with `want` result. */
static void expect_single(const char *ct, const char *body, enum bm_err want,
                          const char *tx)
{
    struct bm_ingress_req r = {0};
    struct bm_errmsg em = {{0}};

    assert_int_equal(bm_ingress_parse(ct, (const uint8_t *)body, strlen(body),
                                      &r, &em),
                     BM_OK);
    assert_false(r.batch);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.err[0], want);
    if (want == BM_OK) {
        char hex[65];
        char got[65];

        assert_int_equal(r.n_sub, 1);
        assert_true(tx_is(&r.sub_txs[0], tx));
        hash_hex(tx, hex);
        bm_hex_encode(got, r.hash[0].b, 32);
        assert_string_equal(got, hex);
        assert_int_equal(r.sub_pos[0], 0);
    } else {
        assert_int_equal(r.n_sub, 0);
        assert_non_null(r.reason[0]);
    }
    bm_ingress_req_release(&r);
}

static void test_single_forms(void **state)
{
    (void)state;
    expect_single(NULL, "a=1", BM_OK, "a=1");
    expect_single("text/plain", "a=1", BM_OK, "a=1");
    expect_single("application/json; charset=utf-8", "{\"tx\":\"j=1\"}",
                  BM_OK, "j=1");
    expect_single("application/json", "{\"tx_hex\":\"6b3d32\"}", BM_OK,
                  "k=2");
    expect_single("application/json", "{\"tx\":\"w=1\"}\r\n", BM_OK, "w=1");
    expect_single(NULL, "=1", BM_EBADTX, NULL);
    expect_single(NULL, "garbage", BM_EBADTX, NULL);
    expect_refused("application/json", "{\"tx\":\"w=2\"} x", 14, BM_EPARSE,
                   "trailing");
    expect_refused("application/json", "{\"tx\":", 6, BM_EPARSE, NULL);
    expect_refused("application/json", "{\"tx\":1}", 8, BM_EPARSE,
                   "not a string");
    expect_refused("application/json", "{\"tx_hex\":\"zz\"}", 15, BM_EPARSE,
                   "not valid hex");
    expect_refused("application/json", "[1]", 3, BM_EPARSE, "not a JSON "
                   "object");
    expect_refused("application/json", "{\"tx\":\"a=1\",\"txs\":[]}", 21,
                   BM_EPARSE, "exactly one");
}

static void test_sizes(void **state)
{
    size_t big = BM_INGRESS_MAX_BATCH_BODY + 10;
    char *b = bm_xmalloc(big + 1);
    struct bm_ingress_req r = {0};
    struct bm_errmsg em = {{0}};

    (void)state;
    /* A tx above the KV limit: 413 for that tx. */
    memset(b, 'v', big);
    b[0] = 'k';
    b[1] = '=';
    assert_int_equal(bm_ingress_parse(NULL, (const uint8_t *)b,
                                      BM_KV_MAX_TX + 5, &r, &em),
                     BM_OK);
    assert_int_equal(r.err[0], BM_ETOOBIG);
    assert_non_null(strstr(r.reason[0], "tx is"));
    bm_ingress_req_release(&r);
    /* Raw bodies above the single-form cap, any body above the batch
     * cap: the request is refused. */
    expect_refused(NULL, b, BM_INGRESS_MAX_BODY + 1, BM_ETOOBIG, "max");
    expect_refused("application/json", b, big, BM_ETOOBIG, "max");
    bm_free(b);
}

static void test_batch(void **state)
{
    static const char body[] =
        "{\"txs\":[\"a=1\",\"bad\",\"b=2\",7,\"a=1\"]}";
    struct bm_ingress_req r = {0};
    struct bm_errmsg em = {{0}};
    struct bm_buf out = {0};
    int status = 0;

    (void)state;
    assert_int_equal(bm_ingress_parse("application/json",
                                      (const uint8_t *)body, strlen(body), &r,
                                      &em),
                     BM_OK);
    assert_true(r.batch);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.err[1], BM_EBADTX);
    assert_int_equal(r.err[3], BM_EPARSE);
    assert_non_null(strstr(r.reason[3], "txs[3] is not a string"));
    /* The well-formed ones, in order (the repeat is for the sequencer to
     * refuse: it knows what is queued). */
    assert_int_equal(r.n_sub, 3);
    assert_int_equal(r.sub_pos[0], 0);
    assert_int_equal(r.sub_pos[1], 2);
    assert_int_equal(r.sub_pos[2], 4);
    assert_true(tx_is(&r.sub_txs[1], "b=2"));
    /* As the group commit would answer. */
    r.sub_status[0] = BM_OK;
    r.sub_status[1] = BM_EQUEUE_FULL;
    r.sub_status[2] = BM_EEXIST;
    bm_ingress_req_settle(&r);
    assert_int_equal(bm_ingress_req_accepted(&r), 1);
    assert_int_equal(bm_ingress_req_reply(&r, &status, &out), BM_OK);
    assert_int_equal(status, 200);
    assert_true(has(&out, "\"accepted\":1"));
    assert_true(has(&out, "{\"status\":400,\"error\":\"tx has no '='"));
    assert_true(has(&out, "{\"status\":503,"));
    assert_true(has(&out, "{\"status\":409,"));
    assert_true(has(&out, "queue full"));
    bm_buf_release(&out);
    /* Rate limited: every well-formed tx gets 429. */
    assert_int_equal(bm_ingress_req_fail(&r, BM_ERATE_LIMITED, NULL), BM_OK);
    assert_int_equal(bm_ingress_req_accepted(&r), 0);
    assert_int_equal(r.err[2], BM_ERATE_LIMITED);
    assert_int_equal(r.err[1], BM_EBADTX);
    bm_ingress_req_release(&r);

    expect_refused("application/json", "{\"txs\":[]}", 10, BM_EPARSE,
                   "empty");
    expect_refused("application/json", "{\"txs\":\"a=1\"}", 13, BM_EPARSE,
                   "not an array");
    /* hex form */
    {
        static const char hx[] = "{\"txs_hex\":[\"6b3d32\",\"x\"]}";

        assert_int_equal(bm_ingress_parse("application/json",
                                          (const uint8_t *)hx, strlen(hx), &r,
                                          &em),
                         BM_OK);
    }
    assert_int_equal(r.n, 2);
    assert_int_equal(r.n_sub, 1);
    assert_true(tx_is(&r.sub_txs[0], "k=2"));
    assert_int_equal(r.err[1], BM_EPARSE);
    bm_ingress_req_release(&r);
}

/* {"txs":["k0=v",...]} with n txs into d (reset first). */
static void batch_body(struct bm_dynbuf *d, size_t n)
{
    d->len = 0;
    assert_int_equal(bm_dynbuf_printf(d, "{\"txs\":["), BM_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bm_dynbuf_printf(d, "%s\"k%zu=v\"", i ? "," : "",
                                          i),
                         BM_OK);
    }
    assert_int_equal(bm_dynbuf_printf(d, "]}"), BM_OK);
}

static void test_batch_cap(void **state)
{
    struct bm_dynbuf d;
    struct bm_ingress_req r = {0};
    struct bm_errmsg em = {{0}};

    (void)state;
    bm_dynbuf_init(&d, BM_INGRESS_MAX_BATCH_BODY);
    batch_body(&d, BM_INGRESS_MAX_BATCH + 1);
    assert_int_equal(bm_ingress_parse("application/json", d.ptr, d.len, &r,
                                      &em),
                     BM_ETOOBIG);
    assert_non_null(strstr(em.msg, "max 1000"));
    /* Exactly the cap is fine. */
    batch_body(&d, BM_INGRESS_MAX_BATCH);
    assert_int_equal(bm_ingress_parse("application/json", d.ptr, d.len, &r,
                                      &em),
                     BM_OK);
    assert_int_equal(r.n_sub, BM_INGRESS_MAX_BATCH);
    bm_ingress_req_release(&r);
    bm_dynbuf_release(&d);
}

static void test_single_reply(void **state)
{
    struct bm_ingress_req r = {0};
    struct bm_buf out = {0};
    char want[65];
    int status = 0;

    (void)state;
    assert_int_equal(bm_ingress_parse(NULL, (const uint8_t *)"name=alice",
                                      10, &r, NULL),
                     BM_OK);
    r.sub_status[0] = BM_OK;
    bm_ingress_req_settle(&r);
    assert_int_equal(bm_ingress_req_reply(&r, &status, &out), BM_OK);
    assert_int_equal(status, 202);
    hash_hex("name=alice", want);
    assert_true(has(&out, want));
    assert_false(has(&out, "error"));
    r.sub_status[0] = BM_EEXIST;
    bm_ingress_req_settle(&r);
    assert_int_equal(bm_ingress_req_reply(&r, &status, &out), BM_OK);
    assert_int_equal(status, 409);
    assert_true(has(&out, want));
    assert_true(has(&out, "already queued"));
    assert_int_equal(bm_ingress_req_fail(&r, BM_ESTATE, "not an aggregator"),
                     BM_OK);
    assert_int_equal(bm_ingress_req_reply(&r, &status, &out), BM_OK);
    assert_int_equal(status, 503);
    assert_true(has(&out, "not an aggregator"));
    bm_buf_release(&out);
    bm_ingress_req_release(&r);
    assert_int_equal(bm_ingress_http_status(BM_EIO), 500);
    assert_int_equal(bm_ingress_http_status(BM_ECLOSED), 503);
}

static void test_query(void **state)
{
    char *dir = tmpdir_new();
    char *kvdir = path_join(dir, "kv");
    struct bm_kv *kv = NULL;
    struct bm_kv_options o = {.no_sync = true};
    struct bm_executor ex;
    struct bm_buf root = {0};
    struct bm_exec_result er = {0};
    struct bm_buf tx = {0};
    struct bm_buf json = {0};
    struct bm_ingress_reply r;

    (void)state;
    assert_int_equal(bm_kv_open(&kv, kvdir, &o, NULL), BM_OK);
    bm_kv_executor(kv, &ex);
    assert_int_equal(bm_kv_query_json(kv, "name", &json, &r), BM_ENOTFOUND);
    assert_int_equal(r.http_status, 404);
    assert_int_equal(bm_executor_init_chain(&ex, 1, 1, "c", &root, NULL),
                     BM_OK);
    assert_int_equal(bm_buf_set(&tx, (const uint8_t *)"name=alice", 10),
                     BM_OK);
    assert_int_equal(bm_executor_execute_txs(&ex, &tx, 1, 1, 2, root.ptr,
                                             root.len, &er, NULL),
                     BM_OK);
    assert_int_equal(bm_kv_query_json(kv, "name", &json, &r), BM_OK);
    assert_int_equal(r.http_status, 200);
    assert_true(has(&json, "\"value\":\"alice\""));
    assert_true(has(&json, "\"value_hex\":\"616c696365\""));
    assert_true(has(&json, "\"height\":1"));
    bm_buf_release(&json);
    bm_buf_release(&tx);
    bm_exec_result_release(&er);
    bm_buf_release(&root);
    bm_kv_free(kv);
    bm_free(kvdir);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_forms),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_batch_cap),
        cmocka_unit_test(test_single_reply),
        cmocka_unit_test(test_query),
    };

    return BM_TEST_RUN(tests);
}
