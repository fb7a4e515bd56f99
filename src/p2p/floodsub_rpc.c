/* FloodSub RPC codec, signing and verification; see floodsub_rpc.h. */
#include "p2p/floodsub_rpc.h"

#include <string.h>

#include <sodium.h>

#include "p2p/pbwire.h"
#include "p2p/varint.h"
#include "util/alloc.h"

/* RPC fields */
#define RPC_SUBS 1u
#define RPC_PUBLISH 2u
/* SubOpts fields */
#define SUB_SUBSCRIBE 1u
#define SUB_TOPIC 2u
/* Message fields */
#define MSG_FROM 1u
#define MSG_DATA 2u
#define MSG_SEQNO 3u
#define MSG_TOPIC 4u
#define MSG_SIGNATURE 5u
#define MSG_KEY 6u

static enum bm_err decode_subopt(const uint8_t *p, size_t n,
                                 struct bm_floodsub_subopt *out)
{
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    while (pos < n) {
        struct bm_pbwire_field f;
        enum bm_err err = bm_pbwire_next(p, n, &pos, &f);

        if (err != BM_OK) {
            return err;
        }
        if (f.num == SUB_SUBSCRIBE) {
            if (f.type != BM_PBWIRE_VARINT) {
                return BM_EWIRETYPE;
            }
            out->subscribe = f.u != 0;
        } else if (f.num == SUB_TOPIC) {
            if (f.type != BM_PBWIRE_LEN) {
                return BM_EWIRETYPE;
            }
            out->has_topic = true;
            out->topic = f.val;
            out->topic_len = f.len;
        }
        /* 3, 4 (partial-message flags) and unknown fields: skipped */
    }
    return BM_OK;
}

enum bm_err bm_floodsub_msg_decode(const uint8_t *p, size_t n,
                                   struct bm_floodsub_wire *out)
{
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    out->raw = p;
    out->raw_len = n;
    while (pos < n) {
        struct bm_pbwire_field f;
        enum bm_err err = bm_pbwire_next(p, n, &pos, &f);

        if (err != BM_OK) {
            return err;
        }
        if (f.num < MSG_FROM || f.num > MSG_KEY) {
            continue; /* unknown: kept in raw, re-encoded for verification */
        }
        if (f.type != BM_PBWIRE_LEN) {
            return BM_EWIRETYPE;
        }
        switch (f.num) {
        case MSG_FROM:
            out->has_from = true;
            out->from = f.val;
            out->from_len = f.len;
            break;
        case MSG_DATA:
            out->has_data = true;
            out->data = f.val;
            out->data_len = f.len;
            break;
        case MSG_SEQNO:
            out->has_seqno = true;
            out->seqno = f.val;
            out->seqno_len = f.len;
            break;
        case MSG_TOPIC:
            out->has_topic = true;
            out->topic = f.val;
            out->topic_len = f.len;
            break;
        case MSG_SIGNATURE:
            out->has_signature = true;
            out->signature = f.val;
            out->signature_len = f.len;
            break;
        default:
            out->has_key = true;
            out->key = f.val;
            out->key_len = f.len;
            break;
        }
    }
    return BM_OK;
}

enum bm_err bm_floodsub_rpc_check(const uint8_t *p, size_t n, size_t *n_subs,
                                  size_t *n_msgs)
{
    size_t pos = 0, subs = 0, msgs = 0;

    while (pos < n) {
        struct bm_pbwire_field f;
        enum bm_err err = bm_pbwire_next(p, n, &pos, &f);

        if (err != BM_OK) {
            return err;
        }
        if (f.num == RPC_SUBS) {
            struct bm_floodsub_subopt so;

            if (f.type != BM_PBWIRE_LEN) {
                return BM_EWIRETYPE;
            }
            err = decode_subopt(f.val, f.len, &so);
            subs++;
        } else if (f.num == RPC_PUBLISH) {
            struct bm_floodsub_wire m;

            if (f.type != BM_PBWIRE_LEN) {
                return BM_EWIRETYPE;
            }
            err = bm_floodsub_msg_decode(f.val, f.len, &m);
            msgs++;
        }
        /* control (3), partial (10), unknown: skipped */
        if (err != BM_OK) {
            return err;
        }
    }
    if (n_subs != NULL) {
        *n_subs = subs;
    }
    if (n_msgs != NULL) {
        *n_msgs = msgs;
    }
    return BM_OK;
}

void bm_floodsub_rpc_iter_init(struct bm_floodsub_rpc_iter *it,
                               const uint8_t *p, size_t n)
{
    it->p = p;
    it->n = n;
    it->pos = 0;
}

/* The next LEN field numbered num, or false at the end (or on an error,
 * which a checked RPC does not have). */
static bool next_entry(struct bm_floodsub_rpc_iter *it, uint32_t num,
                       struct bm_pbwire_field *f)
{
    while (it->pos < it->n) {
        if (bm_pbwire_next(it->p, it->n, &it->pos, f) != BM_OK) {
            it->pos = it->n;
            return false;
        }
        if (f->num == num && f->type == BM_PBWIRE_LEN) {
            return true;
        }
    }
    return false;
}

bool bm_floodsub_rpc_next_sub(struct bm_floodsub_rpc_iter *it,
                              struct bm_floodsub_subopt *out)
{
    struct bm_pbwire_field f;

    while (next_entry(it, RPC_SUBS, &f)) {
        if (decode_subopt(f.val, f.len, out) == BM_OK) {
            return true;
        }
    }
    return false;
}

bool bm_floodsub_rpc_next_msg(struct bm_floodsub_rpc_iter *it,
                              struct bm_floodsub_wire *out)
{
    struct bm_pbwire_field f;

    while (next_entry(it, RPC_PUBLISH, &f)) {
        if (bm_floodsub_msg_decode(f.val, f.len, out) == BM_OK) {
            return true;
        }
    }
    return false;
}

enum bm_err bm_floodsub_signed_bytes(const struct bm_floodsub_wire *m,
                                     struct bm_buf *out)
{
    const uint8_t *val[4] = {m->from, m->data, m->seqno, m->topic};
    size_t len[4] = {m->from_len, m->data_len, m->seqno_len, m->topic_len};
    bool has[4] = {m->has_from, m->has_data, m->has_seqno, m->has_topic};
    size_t total = BM_FLOODSUB_SIGN_PREFIX_LEN, pos = 0, k;
    uint8_t *buf;

    bm_buf_release(out);
    for (unsigned i = 0; i < 4; i++) {
        if (has[i]) {
            total += bm_pbwire_len_field_size(i + 1, len[i]);
        }
    }
    /* Unknown fields, in received order. */
    while (pos < m->raw_len) {
        struct bm_pbwire_field f;

        if (bm_pbwire_next(m->raw, m->raw_len, &pos, &f) != BM_OK) {
            return BM_EDECODE;
        }
        if (f.num < MSG_FROM || f.num > MSG_KEY) {
            total += f.span;
        }
    }
    buf = bm_malloc(total);
    if (buf == NULL) {
        return BM_ENOMEM;
    }
    memcpy(buf, BM_FLOODSUB_SIGN_PREFIX, BM_FLOODSUB_SIGN_PREFIX_LEN);
    k = BM_FLOODSUB_SIGN_PREFIX_LEN;
    for (unsigned i = 0; i < 4; i++) {
        if (has[i]) {
            k += bm_pbwire_put_len_field(buf + k, i + 1, val[i], len[i]);
        }
    }
    pos = 0;
    while (pos < m->raw_len) {
        struct bm_pbwire_field f;

        (void)bm_pbwire_next(m->raw, m->raw_len, &pos, &f);
        if (f.num < MSG_FROM || f.num > MSG_KEY) {
            memcpy(buf + k, f.start, f.span);
            k += f.span;
        }
    }
    out->ptr = buf;
    out->len = k;
    return BM_OK;
}

enum bm_err bm_floodsub_verify(const struct bm_floodsub_wire *m,
                               struct bm_peer_id *from)
{
    struct bm_peer_id id;
    struct bm_buf signed_bytes = {NULL, 0};
    enum bm_err err;
    bool ok;

    if (!m->has_signature) {
        return BM_ENO_SIGNATURE;
    }
    if (!m->has_from) {
        return BM_EDECODE;
    }
    err = bm_peer_id_decode(&id, m->from, m->from_len, NULL);
    if (err != BM_OK) {
        return err;
    }
    if (m->has_key) {
        uint8_t pub[BM_PUBKEY_SIZE];

        err = bm_peer_id_pubkey_decode(m->key, m->key_len, pub, NULL);
        if (err != BM_OK) {
            return err == BM_EBADKEY ? BM_EDECODE : err;
        }
        if (memcmp(pub, bm_peer_id_key(&id), BM_PUBKEY_SIZE) != 0) {
            return BM_EPEER_MISMATCH;
        }
    }
    if (m->signature_len != BM_SIGNATURE_SIZE) {
        return BM_EBAD_SIGNATURE;
    }
    err = bm_floodsub_signed_bytes(m, &signed_bytes);
    if (err != BM_OK) {
        return err;
    }
    ok = bm_verify(bm_peer_id_key(&id), signed_bytes.ptr, signed_bytes.len,
                   m->signature, m->signature_len);
    bm_buf_release(&signed_bytes);
    if (!ok) {
        return BM_EBAD_SIGNATURE;
    }
    *from = id;
    return BM_OK;
}

enum bm_err bm_floodsub_msg_id(const struct bm_floodsub_wire *m,
                               uint8_t out[BM_FLOODSUB_MSG_ID_MAX],
                               size_t *len)
{
    if (m->from_len > BM_PEER_ID_SIZE || m->seqno_len > BM_FLOODSUB_SEQNO_MAX) {
        return BM_ETOOBIG;
    }
    if (m->from_len > 0) {
        memcpy(out, m->from, m->from_len);
    }
    if (m->seqno_len > 0) {
        memcpy(out + m->from_len, m->seqno, m->seqno_len);
    }
    *len = m->from_len + m->seqno_len;
    return BM_OK;
}

/* Sizes of Message{1, 2, 3, 4} and of the signature field. */
static size_t unsigned_size(size_t topic_len, size_t data_len)
{
    return bm_pbwire_len_field_size(MSG_FROM, BM_PEER_ID_SIZE) +
           bm_pbwire_len_field_size(MSG_DATA, data_len) +
           bm_pbwire_len_field_size(MSG_SEQNO, BM_FLOODSUB_SEQNO_SIZE) +
           bm_pbwire_len_field_size(MSG_TOPIC, topic_len);
}

#define SIG_FIELD_SIZE (2u + BM_SIGNATURE_SIZE)

size_t bm_floodsub_publish_size(size_t topic_len, size_t data_len,
                                size_t *rpc_len)
{
    size_t msg = unsigned_size(topic_len, data_len) + SIG_FIELD_SIZE;
    size_t rpc = bm_pbwire_len_field_size(RPC_PUBLISH, msg);

    if (rpc_len != NULL) {
        *rpc_len = rpc;
    }
    return bm_varint_size(rpc) + rpc;
}

enum bm_err bm_floodsub_frame_publish_signed(
    const struct bm_privkey *key, const uint8_t seqno[BM_FLOODSUB_SEQNO_SIZE],
    const uint8_t *topic, size_t topic_len, const uint8_t *data,
    size_t data_len, size_t max_rpc, struct bm_buf *out)
{
    struct bm_peer_id from;
    size_t fields, msg, rpc, hdr, off, k, total;
    uint8_t *buf;

    bm_buf_release(out);
    if (topic_len == 0 || topic_len > BM_FLOODSUB_TOPIC_MAX) {
        return BM_EINVAL;
    }
    /* data_len is bounded by max_rpc before any size arithmetic. */
    if (data_len > max_rpc) {
        return BM_ETOOBIG;
    }
    fields = unsigned_size(topic_len, data_len);
    msg = fields + SIG_FIELD_SIZE;
    total = bm_floodsub_publish_size(topic_len, data_len, &rpc);
    if (rpc > max_rpc) {
        return BM_ETOOBIG;
    }
    hdr = total - msg; /* uvarint(rpc) || 12 || uvarint(msg) */
    off = hdr > BM_FLOODSUB_SIGN_PREFIX_LEN ? hdr : BM_FLOODSUB_SIGN_PREFIX_LEN;
    buf = bm_malloc(off + msg);
    if (buf == NULL) {
        return BM_ENOMEM;
    }
    bm_peer_id_from_privkey(&from, key);
    k = off;
    k += bm_pbwire_put_len_field(buf + k, MSG_FROM, from.b, BM_PEER_ID_SIZE);
    k += bm_pbwire_put_len_field(buf + k, MSG_DATA, data, data_len);
    k += bm_pbwire_put_len_field(buf + k, MSG_SEQNO, seqno, BM_FLOODSUB_SEQNO_SIZE);
    k += bm_pbwire_put_len_field(buf + k, MSG_TOPIC, topic, topic_len);
    memcpy(buf + off - BM_FLOODSUB_SIGN_PREFIX_LEN, BM_FLOODSUB_SIGN_PREFIX,
           BM_FLOODSUB_SIGN_PREFIX_LEN);
    k += bm_pbwire_put_len_hdr(buf + k, MSG_SIGNATURE, BM_SIGNATURE_SIZE);
    if (crypto_sign_detached(buf + k, NULL,
                             buf + off - BM_FLOODSUB_SIGN_PREFIX_LEN,
                             BM_FLOODSUB_SIGN_PREFIX_LEN + fields,
                             key->b) != 0) {
        bm_free(buf);
        return BM_ECRYPTO;
    }
    /* The frame header goes right before the fields, over the prefix. */
    {
        size_t h = off - hdr;

        h += bm_varint_put(rpc, buf + h);
        h += bm_pbwire_put_len_hdr(buf + h, RPC_PUBLISH, msg);
        (void)h;
    }
    if (off > hdr) {
        memmove(buf, buf + off - hdr, total);
    }
    out->ptr = buf;
    out->len = total;
    return BM_OK;
}

enum bm_err bm_floodsub_frame_forward(const uint8_t *msg, size_t len,
                                      size_t max_rpc, struct bm_buf *out)
{
    size_t rpc, k;
    uint8_t *buf;

    bm_buf_release(out);
    if (len > max_rpc) {
        return BM_ETOOBIG;
    }
    rpc = bm_pbwire_len_field_size(RPC_PUBLISH, len);
    if (rpc > max_rpc) {
        return BM_ETOOBIG;
    }
    buf = bm_malloc(bm_varint_size(rpc) + rpc);
    if (buf == NULL) {
        return BM_ENOMEM;
    }
    k = bm_varint_put(rpc, buf);
    k += bm_pbwire_put_len_field(buf + k, RPC_PUBLISH, msg, len);
    out->ptr = buf;
    out->len = k;
    return BM_OK;
}

enum bm_err bm_floodsub_frame_subs(const char *const *topics, size_t n,
                                   bool subscribe, size_t max_rpc,
                                   struct bm_buf *out)
{
    size_t rpc = 0, k;
    uint8_t *buf;

    bm_buf_release(out);
    if (n == 0) {
        return BM_OK;
    }
    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(topics[i]);
        size_t so = 2 + bm_pbwire_len_field_size(SUB_TOPIC, tl);

        if (tl > BM_FLOODSUB_TOPIC_MAX) {
            return BM_ETOOBIG;
        }
        rpc += bm_pbwire_len_field_size(RPC_SUBS, so);
    }
    if (rpc > max_rpc) {
        return BM_ETOOBIG;
    }
    buf = bm_malloc(bm_varint_size(rpc) + rpc);
    if (buf == NULL) {
        return BM_ENOMEM;
    }
    k = bm_varint_put(rpc, buf);
    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(topics[i]);
        size_t so = 2 + bm_pbwire_len_field_size(SUB_TOPIC, tl);

        k += bm_pbwire_put_len_hdr(buf + k, RPC_SUBS, so);
        k += bm_pbwire_put_varint_field(buf + k, SUB_SUBSCRIBE,
                                        subscribe ? 1 : 0);
        k += bm_pbwire_put_len_field(buf + k, SUB_TOPIC, (const uint8_t *)topics[i],
                           tl);
    }
    out->ptr = buf;
    out->len = k;
    return BM_OK;
}
