#include "util/curl_init.h"

#include <curl/curl.h>
#include <pthread.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum bm_err bm_curl_init(void)
{
    pthread_once(&curl_once, curl_init_once);
    return curl_init_rc == CURLE_OK ? BM_OK : BM_EIO;
}
