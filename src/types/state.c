/* State (current schema, spec 1.1, 1.3): lifecycle and encoding. */
#include "blockv2/types.h"

#include <string.h>

#include "types/codec.h"
#include "util/alloc.h"

void bm_state_release(struct bm_state *s)
{
    if (s == NULL) {
        return;
    }
    bm_free(s->chain_id);
    bm_buf_release(&s->app_hash);
    bm_buf_release(&s->last_header_hash);
    bm_buf_release(&s->next_proposer_address);
    memset(s, 0, sizeof(*s));
}

enum bm_err bm_state_copy(struct bm_state *dst, const struct bm_state *src)
{
    struct bm_state t = {0};
    enum bm_err err = BM_OK;

    if (dst == src) {
        return BM_OK;
    }
    t.version = src->version;
    t.initial_height = src->initial_height;
    t.last_block_height = src->last_block_height;
    t.last_block_time = src->last_block_time;
    t.da_height = src->da_height;
    if (bm_str_set(&t.chain_id, src->chain_id) ||
        bm_buf_copy(&t.app_hash, &src->app_hash) ||
        bm_buf_copy(&t.last_header_hash, &src->last_header_hash) ||
        bm_buf_copy(&t.next_proposer_address, &src->next_proposer_address)) {
        err = BM_ENOMEM;
        bm_state_release(&t);
    }
    bm_state_release(dst);
    *dst = t;
    return err;
}

enum bm_err bm_state_encode(const struct bm_state *s, struct bm_buf *out)
{
    Evnode__V1__State m = EVNODE__V1__STATE__INIT;
    Evnode__V1__Version v = EVNODE__V1__VERSION__INIT;
    Evnode__V1__Timestamp ts = EVNODE__V1__TIMESTAMP__INIT;

    v.block = s->version.block;
    v.app = s->version.app;
    ts.seconds = s->last_block_time.seconds;
    ts.nanos = s->last_block_time.nanos;
    m.version = &v;
    m.chain_id = bm__str(s->chain_id);
    m.initial_height = s->initial_height;
    m.last_block_height = s->last_block_height;
    m.last_block_time = &ts;
    m.da_height = s->da_height;
    m.app_hash = bm__bin(&s->app_hash);
    m.last_header_hash = bm__bin(&s->last_header_hash);
    m.next_proposer_address = bm__bin(&s->next_proposer_address);
    return bm__pack(&m.base, out);
}

enum bm_err bm_state_decode(struct bm_state *out, const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    struct bm_state t = {0};
    enum bm_err err;

    bm_state_release(out);
    err = bm__unpack(&evnode__v1__state__descriptor, &bm__schema_state, p, n,
                     &m);
    if (err) {
        return err;
    }
    const Evnode__V1__State *s = (const void *)m;
    if (s->version != NULL) {
        t.version.block = s->version->block;
        t.version.app = s->version->app;
    }
    if (s->last_block_time != NULL) {
        t.last_block_time.seconds = s->last_block_time->seconds;
        t.last_block_time.nanos = s->last_block_time->nanos;
    }
    t.initial_height = s->initial_height;
    t.last_block_height = s->last_block_height;
    t.da_height = s->da_height;
    if (bm__str_copy(&t.chain_id, s->chain_id) ||
        bm__bin_copy(&t.app_hash, &s->app_hash) ||
        bm__bin_copy(&t.last_header_hash, &s->last_header_hash) ||
        bm__bin_copy(&t.next_proposer_address, &s->next_proposer_address)) {
        bm_state_release(&t);
        err = BM_ENOMEM;
    } else {
        *out = t;
    }
    bm__pb_free(m);
    return err;
}
