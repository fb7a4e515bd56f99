/* util/curl_body: libcurl's write callback into a capped buffer, alone and
 * in a real transfer from an HTTP server on 127.0.0.1 (libmicrohttpd). */
#include "bm_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>

#include "blockv2/buf.h"
#include "util/curl_body.h"
#include "util/curl_init.h"

#define BODY_LEN 100000

static char body_bytes[BODY_LEN];

static void test_cap(void **state)
{
    struct bm_dynbuf d;
    char chunk[8] = "abcdefg";

    (void)state;
    bm_dynbuf_init(&d, 10);
    assert_int_equal(bm_curl_body_write(chunk, 1, 5, &d), 5);
    /* 5 + 6 > 10: refused, the 5 bytes kept as they were */
    assert_int_equal(bm_curl_body_write(chunk, 1, 6, &d), 0);
    assert_int_equal(d.len, 5);
    assert_memory_equal(d.ptr, "abcde", 5);
    /* exactly up to the cap is fine, one byte more is not */
    assert_int_equal(bm_curl_body_write(chunk, 5, 1, &d), 5);
    assert_int_equal(d.len, 10);
    assert_int_equal(bm_curl_body_write(chunk, 1, 1, &d), 0);
    assert_int_equal(d.len, 10);
    /* an empty chunk is accepted */
    assert_int_equal(bm_curl_body_write(chunk, 1, 0, &d), 0);
    assert_int_equal(d.len, 10);
    /* size * nmemb overflowing: refused without an append */
    assert_int_equal(bm_curl_body_write(chunk, SIZE_MAX / 2 + 1, 2, &d), 0);
    assert_int_equal(d.len, 10);
    bm_dynbuf_release(&d);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_len, void **ctx)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)ctx;
    r = MHD_create_response_from_buffer(BODY_LEN, body_bytes,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* GETs the server's BODY_LEN bytes into a buffer capped at max. */
static CURLcode fetch(const char *url, struct bm_dynbuf *d, size_t max)
{
    CURL *c = curl_easy_init();
    CURLcode rc;

    assert_non_null(c);
    bm_dynbuf_init(d, max);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bm_curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    return rc;
}

static void test_transfer(void **state)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *mhd;
    const union MHD_DaemonInfo *info;
    struct bm_dynbuf d;
    char url[64];

    (void)state;
    for (size_t i = 0; i < BODY_LEN; i++) {
        body_bytes[i] = (char)('a' + i % 26);
    }
    assert_int_equal(bm_curl_init(), BM_OK);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                           on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                           MHD_OPTION_END);
    assert_non_null(mhd);
    info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)info->port);

    /* a cap of exactly the body: every byte arrives */
    assert_int_equal(fetch(url, &d, BODY_LEN), CURLE_OK);
    assert_int_equal(d.len, BODY_LEN);
    assert_memory_equal(d.ptr, body_bytes, BODY_LEN);
    bm_dynbuf_release(&d);

    /* one byte less: the transfer is aborted, the buffer within the cap */
    assert_int_equal(fetch(url, &d, BODY_LEN - 1), CURLE_WRITE_ERROR);
    assert_true(d.len < BODY_LEN);
    if (d.len > 0) {
        assert_memory_equal(d.ptr, body_bytes, d.len);
    }
    bm_dynbuf_release(&d);

    MHD_stop_daemon(mhd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_transfer),
    };

    return BM_TEST_RUN(tests);
}
