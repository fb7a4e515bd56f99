/*
 * Fuzz target: FloodSub RPC frames (src/p2p/floodsub_rpc.h) as they arrive
 * on a peer's stream: uvarint(len) || RPC, repeated, with a 1 MiB cap.
 * For every frame that passes bm_floodsub_rpc_check:
 *  - iterating finds exactly the counted SubOpts and Messages;
 *  - each Message's signed bytes (the re-encoding without fields 5 and 6)
 *    are built, start with the prefix, and decode again to a Message with
 *    the same fields 1-4 and neither 5 nor 6; building them twice gives
 *    the same bytes (a fixed point);
 *  - verification and the message ID never crash, and a verified message
 *    has a 38-byte `from`;
 *  - forwarding the Message unchanged frames to an RPC holding exactly it.
 * A frame that fails the check must not be iterated at all.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/floodsub_rpc.h"
#include "p2p/varint.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP ((size_t)1 << 20)

static int bytes_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void check_msg(const struct bm_floodsub_wire *w)
{
    struct bm_buf sb = {NULL, 0}, sb2 = {NULL, 0}, fwd = {NULL, 0};
    struct bm_floodsub_wire re, re2;
    struct bm_peer_id from;
    uint8_t id[BM_FLOODSUB_MSG_ID_MAX];
    size_t id_len;
    enum bm_err err;

    err = bm_floodsub_signed_bytes(w, &sb);
    if (err == BM_ENOMEM) {
        return;
    }
    if (err != BM_OK || sb.len < BM_FLOODSUB_SIGN_PREFIX_LEN ||
        memcmp(sb.ptr, BM_FLOODSUB_SIGN_PREFIX,
               BM_FLOODSUB_SIGN_PREFIX_LEN) != 0) {
        abort();
    }
    if (bm_floodsub_msg_decode(sb.ptr + BM_FLOODSUB_SIGN_PREFIX_LEN,
                               sb.len - BM_FLOODSUB_SIGN_PREFIX_LEN,
                               &re) != BM_OK) {
        abort();
    }
    if (re.has_signature || re.has_key || re.has_from != w->has_from ||
        re.has_data != w->has_data || re.has_seqno != w->has_seqno ||
        re.has_topic != w->has_topic ||
        !bytes_eq(re.from, re.from_len, w->from, w->from_len) ||
        !bytes_eq(re.data, re.data_len, w->data, w->data_len) ||
        !bytes_eq(re.seqno, re.seqno_len, w->seqno, w->seqno_len) ||
        !bytes_eq(re.topic, re.topic_len, w->topic, w->topic_len)) {
        abort();
    }
    err = bm_floodsub_signed_bytes(&re, &sb2);
    if (err == BM_OK && !bytes_eq(sb.ptr, sb.len, sb2.ptr, sb2.len)) {
        abort(); /* the re-encoding is a fixed point */
    }
    if (bm_floodsub_verify(w, &from) == BM_OK &&
        (!w->has_from || w->from_len != BM_PEER_ID_SIZE ||
         memcmp(w->from, from.b, BM_PEER_ID_SIZE) != 0)) {
        abort();
    }
    if (bm_floodsub_msg_id(w, id, &id_len) == BM_OK &&
        id_len != w->from_len + w->seqno_len) {
        abort();
    }
    if (bm_floodsub_frame_forward(w->raw, w->raw_len, CAP, &fwd) == BM_OK) {
        const uint8_t *body;
        size_t len, subs = 0, msgs = 0;
        struct bm_floodsub_rpc_iter it;

        if (bm_varint_frame_get(fwd.ptr, fwd.len, CAP, &body, &len) !=
                (int64_t)fwd.len ||
            bm_floodsub_rpc_check(body, len, &subs, &msgs) != BM_OK ||
            subs != 0 || msgs != 1) {
            abort();
        }
        bm_floodsub_rpc_iter_init(&it, body, len);
        if (!bm_floodsub_rpc_next_msg(&it, &re2) ||
            !bytes_eq(re2.raw, re2.raw_len, w->raw, w->raw_len)) {
            abort();
        }
    }
    bm_buf_release(&fwd);
    bm_buf_release(&sb2);
    bm_buf_release(&sb);
}

static void check_rpc(const uint8_t *p, size_t n)
{
    struct bm_floodsub_rpc_iter it;
    struct bm_floodsub_subopt so;
    struct bm_floodsub_wire w;
    size_t subs, msgs, k = 0;

    if (bm_floodsub_rpc_check(p, n, &subs, &msgs) != BM_OK) {
        return;
    }
    bm_floodsub_rpc_iter_init(&it, p, n);
    while (bm_floodsub_rpc_next_sub(&it, &so)) {
        if (so.has_topic && (so.topic < p || so.topic + so.topic_len > p + n)) {
            abort();
        }
        k++;
    }
    if (k != subs) {
        abort();
    }
    k = 0;
    bm_floodsub_rpc_iter_init(&it, p, n);
    while (bm_floodsub_rpc_next_msg(&it, &w)) {
        check_msg(&w);
        k++;
    }
    if (k != msgs) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off < size) {
        const uint8_t *body;
        size_t len;
        int64_t r = bm_varint_frame_get(data + off, size - off, CAP, &body,
                                        &len);

        if (r <= 0) {
            /* Not a whole frame: the rest is one RPC body as is. */
            check_rpc(data + off, size - off);
            break;
        }
        check_rpc(body, len);
        off += (size_t)r;
    }
    return 0;
}
