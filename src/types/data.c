/* Metadata, Data, SignedData, P2PData, Batch and the v1 last-batch-data
 * list: lifecycle and canonical encoding (spec 1.1, 1.3, 4.2). */
#include "blockv2/types.h"

#include <string.h>

#include "types/codec.h"
#include "util/alloc.h"

/* ---- lifecycle ---- */

void bm_metadata_release(struct bm_metadata *m)
{
    if (m == NULL) {
        return;
    }
    bm_free(m->chain_id);
    bm_buf_release(&m->last_data_hash);
    memset(m, 0, sizeof(*m));
}

void bm_data_release(struct bm_data *d)
{
    if (d == NULL) {
        return;
    }
    bm_metadata_release(&d->metadata);
    bm__txs_release(&d->txs, &d->n_txs);
    d->has_metadata = false;
}

void bm_signed_data_release(struct bm_signed_data *sd)
{
    if (sd == NULL) {
        return;
    }
    bm_data_release(&sd->data);
    bm_buf_release(&sd->signature);
    bm_signer_release(&sd->signer);
}

void bm_p2p_data_release(struct bm_p2p_data *p)
{
    if (p == NULL) {
        return;
    }
    bm_data_release(&p->data);
    p->has_da_height_hint = false;
    p->da_height_hint = 0;
}

void bm_batch_release(struct bm_batch *b)
{
    if (b == NULL) {
        return;
    }
    bm__txs_release(&b->txs, &b->n_txs);
}

static enum bm_err txs_copy(struct bm_buf **dst, size_t *n_dst,
                            const struct bm_buf *src, size_t n)
{
    struct bm_buf *a;

    *dst = NULL;
    *n_dst = 0;
    if (n == 0) {
        return BM_OK;
    }
    a = bm_calloc(n, sizeof(*a));
    if (a == NULL) {
        return BM_ENOMEM;
    }
    *dst = a;
    *n_dst = n;
    for (size_t i = 0; i < n; i++) {
        if (bm_buf_copy(&a[i], &src[i]) != BM_OK) {
            bm__txs_release(dst, n_dst);
            return BM_ENOMEM;
        }
    }
    return BM_OK;
}

enum bm_err bm_data_copy(struct bm_data *dst, const struct bm_data *src)
{
    struct bm_data t = {0};
    enum bm_err err = BM_OK;

    if (dst == src) {
        return BM_OK;
    }
    t.has_metadata = src->has_metadata;
    t.metadata.height = src->metadata.height;
    t.metadata.time = src->metadata.time;
    if (bm_str_set(&t.metadata.chain_id, src->metadata.chain_id) ||
        bm_buf_copy(&t.metadata.last_data_hash,
                    &src->metadata.last_data_hash) ||
        txs_copy(&t.txs, &t.n_txs, src->txs, src->n_txs)) {
        err = BM_ENOMEM;
        bm_data_release(&t);
    }
    bm_data_release(dst);
    *dst = t;
    return err;
}

enum bm_err bm_data_add_tx(struct bm_data *d, const uint8_t *tx, size_t len)
{
    struct bm_buf *a;
    size_t bytes;

    if (tx == NULL && len > 0) {
        return BM_EINVAL;
    }
    if (len > BM_MAX_TX_SIZE || d->n_txs >= BM_MAX_TXS) {
        return BM_ETOOBIG;
    }
    if (!bm_size_mul(d->n_txs + 1, sizeof(*a), &bytes)) {
        return BM_EOVERFLOW;
    }
    a = bm_realloc(d->txs, bytes);
    if (a == NULL) {
        return BM_ENOMEM;
    }
    d->txs = a;
    memset(&a[d->n_txs], 0, sizeof(*a));
    if (bm_buf_set(&a[d->n_txs], tx, len) != BM_OK) {
        return BM_ENOMEM;
    }
    d->n_txs++;
    return BM_OK;
}

/* ---- protobuf-c glue ---- */

enum bm_err bm__data_to_pb(struct bm__pb_data *pd, const struct bm_data *d,
                           bool with_metadata)
{
    static const Evnode__V1__Data dinit = EVNODE__V1__DATA__INIT;
    static const Evnode__V1__Metadata minit = EVNODE__V1__METADATA__INIT;
    enum bm_err err;

    pd->d = dinit;
    pd->m = minit;
    pd->txs = NULL;
    if (with_metadata && d->has_metadata) {
        pd->m.chain_id = bm__str(d->metadata.chain_id);
        pd->m.height = d->metadata.height;
        pd->m.time = d->metadata.time;
        pd->m.last_data_hash = bm__bin(&d->metadata.last_data_hash);
        pd->d.metadata = &pd->m;
    }
    err = bm__txs_to_pb(&pd->txs, d->txs, d->n_txs);
    if (err) {
        return err;
    }
    pd->d.n_txs = d->n_txs;
    pd->d.txs = pd->txs;
    return BM_OK;
}

void bm__pb_data_clear(struct bm__pb_data *pd)
{
    bm_free(pd->txs);
    pd->txs = NULL;
}

enum bm_err bm__metadata_from_pb(struct bm_metadata *out,
                                 const Evnode__V1__Metadata *pm)
{
    struct bm_metadata t = {0};

    t.height = pm->height;
    t.time = pm->time;
    if (bm__str_copy(&t.chain_id, pm->chain_id) ||
        bm__bin_copy(&t.last_data_hash, &pm->last_data_hash)) {
        bm_metadata_release(&t);
        return BM_ENOMEM;
    }
    bm_metadata_release(out);
    *out = t;
    return BM_OK;
}

/* Fills *out (zeroed) from metadata + txs (moved out of the protobuf-c
 * message, see bm__txs_from_pb); releases *out on error. */
static enum bm_err data_from_parts(struct bm_data *out,
                                   const Evnode__V1__Metadata *pm,
                                   ProtobufCBinaryData *txs, size_t n)
{
    enum bm_err err = BM_OK;

    if (pm != NULL) {
        out->has_metadata = true;
        err = bm__metadata_from_pb(&out->metadata, pm);
    }
    if (err == BM_OK) {
        err = bm__txs_from_pb(&out->txs, &out->n_txs, txs, n);
    }
    if (err) {
        bm_data_release(out);
    }
    return err;
}

/* ---- encode ---- */

enum bm_err bm_metadata_encode(const struct bm_metadata *m, struct bm_buf *out)
{
    Evnode__V1__Metadata pm = EVNODE__V1__METADATA__INIT;

    pm.chain_id = bm__str(m->chain_id);
    pm.height = m->height;
    pm.time = m->time;
    pm.last_data_hash = bm__bin(&m->last_data_hash);
    return bm__pack(&pm.base, out);
}

enum bm_err bm__data_encode(const struct bm_data *d, bool with_metadata,
                            struct bm_buf *out)
{
    struct bm__pb_data pd;
    enum bm_err err = bm__data_to_pb(&pd, d, with_metadata);

    if (err == BM_OK) {
        err = bm__pack(&pd.d.base, out);
    } else {
        bm_buf_release(out);
    }
    bm__pb_data_clear(&pd);
    return err;
}

enum bm_err bm_data_encode(const struct bm_data *d, struct bm_buf *out)
{
    return bm__data_encode(d, true, out);
}

enum bm_err bm_signed_data_encode(const struct bm_signed_data *sd,
                                  struct bm_buf *out)
{
    Evnode__V1__SignedData m = EVNODE__V1__SIGNED_DATA__INIT;
    struct bm__pb_data pd;
    struct bm__pb_signer ps;
    enum bm_err err = bm__data_to_pb(&pd, &sd->data, true);

    if (err == BM_OK) {
        bm__signer_to_pb(&ps, &sd->signer);
        m.data = &pd.d;
        m.signature = bm__bin(&sd->signature);
        m.signer = &ps.s;
        err = bm__pack(&m.base, out);
    } else {
        bm_buf_release(out);
    }
    bm__pb_data_clear(&pd);
    return err;
}

enum bm_err bm_p2p_data_encode(const struct bm_p2p_data *p, struct bm_buf *out)
{
    Evnode__V1__P2PData m = EVNODE__V1__P2_PDATA__INIT;
    struct bm__pb_data pd;
    enum bm_err err = bm__data_to_pb(&pd, &p->data, true);

    if (err == BM_OK) {
        m.metadata = pd.d.metadata;
        m.n_txs = pd.d.n_txs;
        m.txs = pd.d.txs;
        m.has_da_height_hint = p->has_da_height_hint;
        m.da_height_hint = p->da_height_hint;
        err = bm__pack(&m.base, out);
    } else {
        bm_buf_release(out);
    }
    bm__pb_data_clear(&pd);
    return err;
}

enum bm_err bm_batch_encode(const struct bm_batch *b, struct bm_buf *out)
{
    Evnode__V1__Batch m = EVNODE__V1__BATCH__INIT;
    ProtobufCBinaryData *txs = NULL;
    enum bm_err err = bm__txs_to_pb(&txs, b->txs, b->n_txs);

    if (err == BM_OK) {
        m.n_txs = b->n_txs;
        m.txs = txs;
        err = bm__pack(&m.base, out);
    } else {
        bm_buf_release(out);
    }
    bm_free(txs);
    return err;
}

/* ---- decode ---- */

enum bm_err bm_data_decode(struct bm_data *out, const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_data_release(out);
    err = bm__unpack(&evnode__v1__data__descriptor, &bm__schema_data, p, n,
                     &m);
    if (err == BM_OK) {
        Evnode__V1__Data *d = (void *)m;
        err = data_from_parts(out, d->metadata, d->txs, d->n_txs);
    }
    bm__pb_free(m);
    return err;
}

enum bm_err bm_signed_data_decode(struct bm_signed_data *out, const uint8_t *p,
                                  size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_signed_data_release(out);
    err = bm__unpack(&evnode__v1__signed_data__descriptor,
                     &bm__schema_signed_data, p, n, &m);
    if (err == BM_OK) {
        Evnode__V1__SignedData *s = (void *)m;
        if (s->data != NULL) {
            err = data_from_parts(&out->data, s->data->metadata, s->data->txs,
                                  s->data->n_txs);
        }
        if (err == BM_OK) {
            err = bm__bin_copy(&out->signature, &s->signature);
        }
        if (err == BM_OK && s->signer != NULL) {
            err = bm__signer_from_pb(&out->signer, s->signer);
        }
        if (err) {
            bm_signed_data_release(out);
        }
    }
    bm__pb_free(m);
    return err;
}

enum bm_err bm_p2p_data_decode(struct bm_p2p_data *out, const uint8_t *p,
                               size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_p2p_data_release(out);
    err = bm__unpack(&evnode__v1__p2_pdata__descriptor, &bm__schema_p2p_data,
                     p, n, &m);
    if (err == BM_OK) {
        Evnode__V1__P2PData *d = (void *)m;
        err = data_from_parts(&out->data, d->metadata, d->txs, d->n_txs);
        if (err == BM_OK) {
            out->has_da_height_hint = d->has_da_height_hint;
            out->da_height_hint =
                d->has_da_height_hint ? d->da_height_hint : 0;
        }
    }
    bm__pb_free(m);
    return err;
}

enum bm_err bm_batch_decode(struct bm_batch *out, const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_batch_release(out);
    err = bm__unpack(&evnode__v1__batch__descriptor, &bm__schema_batch, p, n,
                     &m);
    if (err == BM_OK) {
        Evnode__V1__Batch *b = (void *)m;
        err = bm__txs_from_pb(&out->txs, &out->n_txs, b->txs, b->n_txs);
    }
    bm__pb_free(m);
    return err;
}

/* ---- v1 last-batch-data list (spec 4.2, V24) ---- */

enum bm_err bm_last_batch_data_encode(const struct bm_batch *b,
                                      struct bm_buf *out)
{
    struct bm_dynbuf d;
    enum bm_err err = BM_OK;

    bm_buf_release(out);
    bm_dynbuf_init(&d, BM_MAX_MESSAGE_SIZE);
    for (size_t i = 0; i < b->n_txs && err == BM_OK; i++) {
        uint8_t len[4];
        if (b->txs[i].len > UINT32_MAX) {
            err = BM_ETOOBIG;
            break;
        }
        bm_put_le32(len, (uint32_t)b->txs[i].len);
        err = bm_dynbuf_append(&d, len, sizeof(len));
        if (err == BM_OK && b->txs[i].len > 0) {
            err = bm_dynbuf_append(&d, b->txs[i].ptr, b->txs[i].len);
        }
    }
    if (err) {
        bm_dynbuf_release(&d);
        return err;
    }
    bm_dynbuf_detach(&d, out);
    return BM_OK;
}

enum bm_err bm_last_batch_data_decode(struct bm_batch *out, const uint8_t *p,
                                      size_t n)
{
    size_t pos = 0;
    size_t count = 0;
    enum bm_err err = BM_OK;

    bm_batch_release(out);
    if (n > BM_MAX_MESSAGE_SIZE) {
        return BM_ETOOBIG;
    }
    /* first pass: validate and count, so one allocation fits */
    while (pos < n) {
        if (n - pos < 4) {
            return BM_ETRUNCATED;
        }
        uint32_t len = bm_get_le32(p + pos);
        pos += 4;
        if (len > BM_MAX_TX_SIZE || ++count > BM_MAX_TXS) {
            return BM_ETOOBIG;
        }
        if (len > n - pos) {
            return BM_ETRUNCATED;
        }
        pos += len;
    }
    if (count == 0) {
        return BM_OK;
    }
    out->txs = bm_calloc(count, sizeof(*out->txs));
    if (out->txs == NULL) {
        return BM_ENOMEM;
    }
    out->n_txs = count;
    pos = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t len = bm_get_le32(p + pos);
        pos += 4;
        err = bm_buf_set(&out->txs[i], p + pos, len);
        if (err) {
            bm_batch_release(out);
            return err;
        }
        pos += len;
    }
    return BM_OK;
}
