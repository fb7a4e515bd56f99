/*
 * The local DA server's JSON-RPC request parser (src/da/da_json.c): a raw
 * POST body from any local process. Must never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "da/da_json.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm__da_request req;
    struct bm_errmsg em = {{0}};
    int code = 0;

    (void)bm__da_request_parse((const char *)data, size, &req, &code, &em);
    bm__da_request_release(&req);
    return 0;
}
