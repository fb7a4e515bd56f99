/*
 * The etcd JSON gateway decoders (src/ha/etcd_json.c): a raw body from a
 * possibly hostile etcd endpoint, decoded as every answer the HA client
 * reads. Byte 0 picks the call (0-5 unary, 6 a watch line); the rest is
 * the body. Must never crash or leak; a decoded answer is self-consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ha/etcd.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_errmsg em = {{0}};
    unsigned kind;

    if (size < 1) {
        return 0;
    }
    kind = data[0] % 7u;
    data++;
    size--;
    if (kind == 6) {
        struct bm_etcd_watch_msg m = {0};
        if (bm__etcd_decode_watch((const char *)data, size, &m, &em) == BM_OK) {
            if (m.n_events > BM_ETCD_MAX_EVENTS ||
                (m.n_events > 0 && m.events == NULL)) {
                abort();
            }
        }
        bm_etcd_watch_msg_release(&m);
        return 0;
    }
    struct bm_etcd_resp r = {0};
    if (bm__etcd_decode((enum bm_etcd_call)kind, (const char *)data, size, &r,
                        &em) == BM_OK) {
        if (r.revision < 0 || (r.has_kv && r.count < 1) || r.ttl < 0) {
            abort();
        }
    }
    bm_etcd_resp_release(&r);
    return 0;
}
