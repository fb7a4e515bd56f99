#ifndef BM_UTIL_CURL_INIT_H
#define BM_UTIL_CURL_INIT_H

#include "blockv2/err.h"

/*
 * libcurl's global initialisation, once per process for every HTTP client
 * (DA, EVM, etcd, the CLI). curl_global_init is not thread-safe, so one
 * pthread_once guards it for all of them: separate guards per module
 * could run it twice at once from two threads. Returns BM_OK, or BM_EIO if
 * libcurl failed to initialise (the same answer on every later call).
 * Thread-safe.
 */
enum bm_err bm_curl_init(void);

#endif /* BM_UTIL_CURL_INIT_H */
