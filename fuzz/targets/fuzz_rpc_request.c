/*
 * Fuzz target: the RPC server's Connect JSON request parser on untrusted
 * bytes. The first input byte picks the method (modulo the method count);
 * the rest is the request body. On success the parsed request must be
 * consistent (method kept, key NUL-terminated and non-empty for
 * GetMetadata, height and hash never both set); on failure it must be
 * zeroed except for the method, and the message must name something.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/rpc.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_rpc_request q;
    struct bm_errmsg em = {{0}};
    enum bm_rpc_method m;
    enum bm_err err;

    if (size == 0) {
        return 0;
    }
    m = (enum bm_rpc_method)(data[0] % BM_RPC_METHOD_COUNT);
    err = bm_rpc_parse_request(m, data + 1, size - 1, &q, &em);
    if (q.method != m) {
        abort();
    }
    if (err == BM_OK) {
        size_t klen = strnlen(q.key, sizeof(q.key));

        if (klen == sizeof(q.key)) {
            abort();
        }
        if (m == BM_RPC_GET_METADATA && klen == 0) {
            abort();
        }
        if (m != BM_RPC_GET_BLOCK && (q.by_hash || q.height != 0)) {
            abort();
        }
        if (q.by_hash && q.height != 0) {
            abort();
        }
    } else {
        if (q.by_hash || q.height != 0 || q.key[0] != '\0') {
            abort();
        }
        if (err != BM_ENOMEM && em.msg[0] == '\0') {
            abort();
        }
    }
    /* The method table round-trips. */
    if (bm_rpc_method_from_path(bm_rpc_method_path(m)) != (int)m) {
        abort();
    }
    return 0;
}
