/* RaftBlockState (the HA block record): lifecycle and encoding. */
#include "blockv2/types.h"

#include <string.h>

#include "types/codec.h"
#include "util/alloc.h"

void bm_raft_block_state_release(struct bm_raft_block_state *s)
{
    if (s == NULL) {
        return;
    }
    bm_buf_release(&s->hash);
    bm_buf_release(&s->header);
    bm_buf_release(&s->data);
    memset(s, 0, sizeof(*s));
}

enum bm_err bm_raft_block_state_encode(const struct bm_raft_block_state *s,
                                       struct bm_buf *out)
{
    Evnode__V1__RaftBlockState m = EVNODE__V1__RAFT_BLOCK_STATE__INIT;

    m.height = s->height;
    m.last_submitted_da_header_height = s->last_submitted_da_header_height;
    m.last_submitted_da_data_height = s->last_submitted_da_data_height;
    m.hash = bm__bin(&s->hash);
    m.timestamp = s->timestamp;
    m.header = bm__bin(&s->header);
    m.data = bm__bin(&s->data);
    return bm__pack(&m.base, out);
}

enum bm_err bm_raft_block_state_decode(struct bm_raft_block_state *out,
                                       const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    struct bm_raft_block_state t = {0};
    enum bm_err err;

    bm_raft_block_state_release(out);
    err = bm__unpack(&evnode__v1__raft_block_state__descriptor,
                     &bm__schema_raft_block_state, p, n, &m);
    if (err) {
        return err;
    }
    const Evnode__V1__RaftBlockState *s = (const void *)m;
    t.height = s->height;
    t.last_submitted_da_header_height = s->last_submitted_da_header_height;
    t.last_submitted_da_data_height = s->last_submitted_da_data_height;
    t.timestamp = s->timestamp;
    if (bm__bin_copy(&t.hash, &s->hash) ||
        bm__bin_copy(&t.header, &s->header) ||
        bm__bin_copy(&t.data, &s->data)) {
        bm_raft_block_state_release(&t);
        err = BM_ENOMEM;
    } else {
        *out = t;
    }
    bm__pb_free(m);
    return err;
}
