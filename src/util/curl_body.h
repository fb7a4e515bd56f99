#ifndef BM_UTIL_CURL_BODY_H
#define BM_UTIL_CURL_BODY_H

#include <stddef.h>

/*
 * The body of an HTTP answer, collected by libcurl into a capped buffer:
 * the one CURLOPT_WRITEFUNCTION of every HTTP client (DA, EVM, etcd, the
 * CLI, the HA forwarder). The cap is the struct bm_dynbuf's own (fixed by
 * bm_dynbuf_init), so an answer cannot grow memory past what the caller
 * chose.
 *
 *   bm_dynbuf_init(&body, max);
 *   curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, bm_curl_body_write);
 *   curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
 *
 * A transfer whose body passes the cap (or whose append cannot allocate)
 * is aborted: curl_easy_perform returns CURLE_WRITE_ERROR, and the buffer
 * holds the bytes received before the chunk that did not fit.
 */

/* libcurl's write callback. arg borrows a struct bm_dynbuf * (valid for
 * the transfer). Appends size * nmemb bytes from ptr and returns that
 * count; returns 0 (libcurl then aborts the transfer) when they do not fit
 * under the buffer's cap, when size * nmemb overflows, or when memory runs
 * out, leaving the buffer as it was. */
size_t bm_curl_body_write(char *ptr, size_t size, size_t nmemb, void *arg);

#endif /* BM_UTIL_CURL_BODY_H */
