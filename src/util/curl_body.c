#include "util/curl_body.h"

#include <stdint.h>

#include "blockv2/buf.h"

size_t bm_curl_body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct bm_dynbuf *body = arg;

    if (nmemb != 0 && size > SIZE_MAX / nmemb) {
        return 0;
    }
    if (bm_dynbuf_append(body, ptr, size * nmemb) != BM_OK) {
        return 0; /* over the cap (or out of memory): abort the transfer */
    }
    return size * nmemb;
}
