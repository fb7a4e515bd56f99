/* Header, SignedHeader, DAHeaderEnvelope, P2PSignedHeader: lifecycle and
 * canonical encoding (spec 1.1, 1.3, 1.4, 2.1). */
#include "blockv2/types.h"

#include <string.h>

#include "types/codec.h"
#include "util/alloc.h"

enum { LEGACY_LAST_COMMIT = 5, LEGACY_CONSENSUS = 7, LEGACY_LAST_RESULTS = 9 };

/* ---- lifecycle ---- */

enum bm_err bm_str_set(char **dst, const char *src)
{
    char *s = NULL;

    if (src != NULL) {
        s = bm_strdup(src);
        if (s == NULL) {
            return BM_ENOMEM;
        }
    }
    bm_free(*dst);
    *dst = s;
    return BM_OK;
}

static void legacy_release(struct bm_header_legacy *l)
{
    bm_buf_release(&l->last_commit_hash);
    bm_buf_release(&l->consensus_hash);
    bm_buf_release(&l->last_results_hash);
    l->present = false;
}

void bm_header_release(struct bm_header *h)
{
    if (h == NULL) {
        return;
    }
    bm_buf_release(&h->last_header_hash);
    bm_buf_release(&h->data_hash);
    bm_buf_release(&h->app_hash);
    bm_buf_release(&h->proposer_address);
    bm_buf_release(&h->validator_hash);
    bm_free(h->chain_id);
    legacy_release(&h->legacy);
    memset(h, 0, sizeof(*h));
}

enum bm_err bm_header_copy(struct bm_header *dst, const struct bm_header *src)
{
    struct bm_header t = {0};
    enum bm_err err = BM_OK;

    if (dst == src) {
        return BM_OK;
    }
    t.version = src->version;
    t.height = src->height;
    t.time = src->time;
    t.legacy.present = src->legacy.present;
    if (bm_buf_copy(&t.last_header_hash, &src->last_header_hash) ||
        bm_buf_copy(&t.data_hash, &src->data_hash) ||
        bm_buf_copy(&t.app_hash, &src->app_hash) ||
        bm_buf_copy(&t.proposer_address, &src->proposer_address) ||
        bm_buf_copy(&t.validator_hash, &src->validator_hash) ||
        bm_str_set(&t.chain_id, src->chain_id) ||
        bm_buf_copy(&t.legacy.last_commit_hash,
                    &src->legacy.last_commit_hash) ||
        bm_buf_copy(&t.legacy.consensus_hash, &src->legacy.consensus_hash) ||
        bm_buf_copy(&t.legacy.last_results_hash,
                    &src->legacy.last_results_hash)) {
        err = BM_ENOMEM;
        bm_header_release(&t);
    }
    bm_header_release(dst);
    *dst = t;
    return err;
}

void bm_signed_header_release(struct bm_signed_header *sh)
{
    if (sh == NULL) {
        return;
    }
    bm_header_release(&sh->header);
    bm_buf_release(&sh->signature);
    bm_signer_release(&sh->signer);
}

enum bm_err bm_signed_header_copy(struct bm_signed_header *dst,
                                  const struct bm_signed_header *src)
{
    struct bm_signed_header t = {0};
    enum bm_err err;

    if (dst == src) {
        return BM_OK;
    }
    err = bm_header_copy(&t.header, &src->header);
    if (err == BM_OK) {
        err = bm_buf_copy(&t.signature, &src->signature);
    }
    if (err == BM_OK) {
        err = bm_signer_copy(&t.signer, &src->signer);
    }
    if (err) {
        bm_signed_header_release(&t);
    }
    bm_signed_header_release(dst);
    *dst = t;
    return err;
}

void bm_da_header_envelope_release(struct bm_da_header_envelope *e)
{
    if (e == NULL) {
        return;
    }
    bm_signed_header_release(&e->sh);
    bm_buf_release(&e->envelope_signature);
}

void bm_p2p_signed_header_release(struct bm_p2p_signed_header *p)
{
    if (p == NULL) {
        return;
    }
    bm_signed_header_release(&p->sh);
    p->has_da_height_hint = false;
    p->da_height_hint = 0;
}

/* ---- protobuf-c glue ---- */

static enum bm_err legacy_field(ProtobufCMessageUnknownField *uf,
                                uint32_t num, const struct bm_buf *v)
{
    struct bm_dynbuf d;
    struct bm_buf b = {0};
    enum bm_err err;

    bm_dynbuf_init(&d, BM_MAX_MESSAGE_SIZE);
    err = bm__put_varint(&d, v->len);
    if (err == BM_OK) {
        err = bm_dynbuf_append(&d, v->ptr, v->len);
    }
    if (err) {
        bm_dynbuf_release(&d);
        return err;
    }
    bm_dynbuf_detach(&d, &b);
    uf->tag = num;
    uf->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    uf->len = b.len;
    uf->data = b.ptr;
    return BM_OK;
}

enum bm_err bm__header_to_pb(struct bm__pb_header *ph,
                             const struct bm_header *h, bool with_legacy)
{
    static const Evnode__V1__Header hinit = EVNODE__V1__HEADER__INIT;
    static const Evnode__V1__Version vinit = EVNODE__V1__VERSION__INIT;
    const struct bm_buf *lv[3];
    const uint32_t ln[3] = {LEGACY_LAST_COMMIT, LEGACY_CONSENSUS,
                            LEGACY_LAST_RESULTS};

    memset(ph, 0, sizeof(*ph));
    ph->h = hinit;
    ph->v = vinit;
    ph->v.block = h->version.block;
    ph->v.app = h->version.app;
    ph->h.version = &ph->v;
    ph->h.height = h->height;
    ph->h.time = h->time;
    ph->h.last_header_hash = bm__bin(&h->last_header_hash);
    ph->h.data_hash = bm__bin(&h->data_hash);
    ph->h.app_hash = bm__bin(&h->app_hash);
    ph->h.proposer_address = bm__bin(&h->proposer_address);
    ph->h.validator_hash = bm__bin(&h->validator_hash);
    ph->h.chain_id = bm__str(h->chain_id);
    if (!with_legacy || !h->legacy.present) {
        return BM_OK;
    }
    lv[0] = &h->legacy.last_commit_hash;
    lv[1] = &h->legacy.consensus_hash;
    lv[2] = &h->legacy.last_results_hash;
    for (size_t i = 0; i < 3; i++) {
        if (lv[i]->len == 0) {
            continue;
        }
        enum bm_err err =
            legacy_field(&ph->uf[ph->h.base.n_unknown_fields], ln[i], lv[i]);
        if (err) {
            return err;
        }
        ph->h.base.n_unknown_fields++;
    }
    if (ph->h.base.n_unknown_fields > 0) {
        ph->h.base.unknown_fields = ph->uf;
    }
    return BM_OK;
}

void bm__pb_header_clear(struct bm__pb_header *ph)
{
    for (size_t i = 0; i < 3; i++) {
        bm_free(ph->uf[i].data);
        ph->uf[i].data = NULL;
    }
    ph->h.base.n_unknown_fields = 0;
    ph->h.base.unknown_fields = NULL;
}

/* Extracts fields 5/7/9 of wire type bytes from the unknown fields. */
static enum bm_err legacy_from_pb(struct bm_header_legacy *l,
                                  const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *uf = &m->unknown_fields[i];
        struct bm_buf *dst;
        size_t pos = 0;
        uint64_t len;
        if (uf->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
            continue;
        }
        switch (uf->tag) {
        case LEGACY_LAST_COMMIT:
            dst = &l->last_commit_hash;
            break;
        case LEGACY_CONSENSUS:
            dst = &l->consensus_hash;
            break;
        case LEGACY_LAST_RESULTS:
            dst = &l->last_results_hash;
            break;
        default:
            continue;
        }
        /* protobuf-c keeps the length prefix in data */
        enum bm_err err = bm__get_varint(uf->data, uf->len, &pos, &len);
        if (err) {
            return err;
        }
        if (len != uf->len - pos) {
            return BM_EDECODE;
        }
        if (len > BM_MAX_HASH_FIELD) {
            return BM_ETOOBIG;
        }
        err = bm_buf_set(dst, uf->data + pos, (size_t)len);
        if (err) {
            return err;
        }
    }
    /* Go keeps Legacy only if a value is non-empty (IsZero) */
    l->present = l->last_commit_hash.len > 0 || l->consensus_hash.len > 0 ||
                 l->last_results_hash.len > 0;
    return BM_OK;
}

enum bm_err bm__header_from_pb(struct bm_header *out,
                               const Evnode__V1__Header *ph)
{
    struct bm_header t = {0};
    enum bm_err err = BM_ENOMEM;

    if (ph->version != NULL) {
        t.version.block = ph->version->block;
        t.version.app = ph->version->app;
    }
    t.height = ph->height;
    t.time = ph->time;
    if (bm__bin_copy(&t.last_header_hash, &ph->last_header_hash) ||
        bm__bin_copy(&t.data_hash, &ph->data_hash) ||
        bm__bin_copy(&t.app_hash, &ph->app_hash) ||
        bm__bin_copy(&t.proposer_address, &ph->proposer_address) ||
        bm__bin_copy(&t.validator_hash, &ph->validator_hash) ||
        bm__str_copy(&t.chain_id, ph->chain_id)) {
        goto fail;
    }
    err = legacy_from_pb(&t.legacy, &ph->base);
    if (err) {
        goto fail;
    }
    bm_header_release(out);
    *out = t;
    return BM_OK;
fail:
    bm_header_release(&t);
    return err;
}

/* ---- header encodings ---- */

static enum bm_err header_encode(const struct bm_header *h, bool with_legacy,
                                 struct bm_buf *out)
{
    struct bm__pb_header ph;
    enum bm_err err = bm__header_to_pb(&ph, h, with_legacy);

    if (err == BM_OK) {
        err = bm__pack(&ph.h.base, out);
    } else {
        bm_buf_release(out);
    }
    bm__pb_header_clear(&ph);
    return err;
}

enum bm_err bm_header_encode(const struct bm_header *h, struct bm_buf *out)
{
    return header_encode(h, true, out);
}

enum bm_err bm_header_encode_slim(const struct bm_header *h,
                                  struct bm_buf *out)
{
    return header_encode(h, false, out);
}

/* Legacy (v1-compatible) ascending encoding, spec 2.1. */
enum bm_err bm_header_encode_legacy(const struct bm_header *h,
                                    struct bm_buf *out)
{
    static const uint8_t zero32[32];
    struct bm_dynbuf d;
    struct bm_dynbuf v;
    enum bm_err err = BM_OK;
    const struct bm_buf *f5 = &h->legacy.last_commit_hash;
    const struct bm_buf *f7 = &h->legacy.consensus_hash;
    const struct bm_buf *f9 = &h->legacy.last_results_hash;
    size_t chain_len = h->chain_id ? strlen(h->chain_id) : 0;

    bm_buf_release(out);
    bm_dynbuf_init(&d, BM_MAX_MESSAGE_SIZE);
    bm_dynbuf_init(&v, 32);
    /* version sub-message, always present */
    if (h->version.block) {
        err = bm__put_tag(&v, 1, 0);
        err = err ? err : bm__put_varint(&v, h->version.block);
    }
    if (err == BM_OK && h->version.app) {
        err = bm__put_tag(&v, 2, 0);
        err = err ? err : bm__put_varint(&v, h->version.app);
    }
#define PUT(expr)                                                              \
    do {                                                                       \
        if (err == BM_OK) {                                                    \
            err = (expr);                                                      \
        }                                                                      \
    } while (0)
#define PUT_BYTES(num, b)                                                      \
    do {                                                                       \
        if ((b)->len > 0) {                                                    \
            PUT(bm__put_bytes_field(&d, (num), (b)->ptr, (b)->len));           \
        }                                                                      \
    } while (0)
    PUT(bm__put_bytes_field(&d, 1, v.ptr, v.len));
    PUT(bm__put_tag(&d, 2, 0));
    PUT(bm__put_varint(&d, h->height));
    PUT(bm__put_tag(&d, 3, 0));
    PUT(bm__put_varint(&d, h->time));
    PUT_BYTES(4, &h->last_header_hash);
    PUT_BYTES(5, f5);
    PUT_BYTES(6, &h->data_hash);
    if (f7->len > 0) {
        PUT_BYTES(7, f7);
    } else {
        PUT(bm__put_bytes_field(&d, 7, zero32, sizeof(zero32)));
    }
    PUT_BYTES(8, &h->app_hash);
    PUT_BYTES(9, f9);
    PUT_BYTES(10, &h->proposer_address);
    PUT_BYTES(11, &h->validator_hash);
    if (chain_len > 0) {
        PUT(bm__put_bytes_field(&d, 12, (const uint8_t *)h->chain_id,
                                chain_len));
    }
#undef PUT_BYTES
#undef PUT
    bm_dynbuf_release(&v);
    if (err) {
        bm_dynbuf_release(&d);
        return err;
    }
    bm_dynbuf_detach(&d, out);
    return BM_OK;
}

enum bm_err bm_header_decode(struct bm_header *out, const uint8_t *p,
                             size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_header_release(out);
    err = bm__unpack(&evnode__v1__header__descriptor, &bm__schema_header, p,
                     n, &m);
    if (err == BM_OK) {
        err = bm__header_from_pb(out, (const Evnode__V1__Header *)m);
    }
    bm__pb_free(m);
    return err;
}

/* ---- SignedHeader family ---- */

/* Fills a SignedHeader-shaped view (header, signature, signer). */
struct sh_view {
    struct bm__pb_header ph;
    struct bm__pb_signer ps;
    ProtobufCBinaryData sig;
};

static enum bm_err sh_view_init(struct sh_view *v,
                                const struct bm_signed_header *sh)
{
    bm__signer_to_pb(&v->ps, &sh->signer);
    v->sig = bm__bin(&sh->signature);
    return bm__header_to_pb(&v->ph, &sh->header, true);
}

enum bm_err bm_signed_header_encode(const struct bm_signed_header *sh,
                                    struct bm_buf *out)
{
    Evnode__V1__SignedHeader m = EVNODE__V1__SIGNED_HEADER__INIT;
    struct sh_view v;
    enum bm_err err = sh_view_init(&v, sh);

    if (err == BM_OK) {
        m.header = &v.ph.h;
        m.signature = v.sig;
        m.signer = &v.ps.s;
        err = bm__pack(&m.base, out);
    } else {
        bm_buf_release(out);
    }
    bm__pb_header_clear(&v.ph);
    return err;
}

enum bm_err bm_da_header_envelope_encode(const struct bm_da_header_envelope *e,
                                         struct bm_buf *out)
{
    Evnode__V1__DAHeaderEnvelope m = EVNODE__V1__DAHEADER_ENVELOPE__INIT;
    struct sh_view v;
    enum bm_err err = sh_view_init(&v, &e->sh);

    if (err == BM_OK) {
        m.header = &v.ph.h;
        m.signature = v.sig;
        m.signer = &v.ps.s;
        m.envelope_signature = bm__bin(&e->envelope_signature);
        err = bm__pack(&m.base, out);
    } else {
        bm_buf_release(out);
    }
    bm__pb_header_clear(&v.ph);
    return err;
}

enum bm_err bm_p2p_signed_header_encode(const struct bm_p2p_signed_header *p,
                                        struct bm_buf *out)
{
    Evnode__V1__P2PSignedHeader m = EVNODE__V1__P2_PSIGNED_HEADER__INIT;
    struct sh_view v;
    enum bm_err err = sh_view_init(&v, &p->sh);

    if (err == BM_OK) {
        m.header = &v.ph.h;
        /* proto2 file: keep proto3 omit-empty for bytes */
        m.has_signature = v.sig.len > 0;
        m.signature = v.sig;
        m.signer = &v.ps.s;
        m.has_da_height_hint = p->has_da_height_hint;
        m.da_height_hint = p->da_height_hint;
        err = bm__pack(&m.base, out);
    } else {
        bm_buf_release(out);
    }
    bm__pb_header_clear(&v.ph);
    return err;
}

/* Shared decode of fields 1-3; the header is required (Go FromProto). */
static enum bm_err sh_from_pb(struct bm_signed_header *out,
                              const Evnode__V1__Header *h,
                              const ProtobufCBinaryData *sig,
                              const Evnode__V1__Signer *signer)
{
    struct bm_signed_header t = {0};
    enum bm_err err;

    if (h == NULL) {
        return BM_EMISSING;
    }
    err = bm__header_from_pb(&t.header, h);
    if (err == BM_OK) {
        err = bm__bin_copy(&t.signature, sig);
    }
    if (err == BM_OK && signer != NULL) {
        err = bm__signer_from_pb(&t.signer, signer);
    }
    if (err) {
        bm_signed_header_release(&t);
        return err;
    }
    *out = t;
    return BM_OK;
}

enum bm_err bm_signed_header_decode(struct bm_signed_header *out,
                                    const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_signed_header_release(out);
    err = bm__unpack(&evnode__v1__signed_header__descriptor,
                     &bm__schema_signed_header, p, n, &m);
    if (err == BM_OK) {
        const Evnode__V1__SignedHeader *s = (const void *)m;
        err = sh_from_pb(out, s->header, &s->signature, s->signer);
    }
    bm__pb_free(m);
    return err;
}

enum bm_err bm_da_header_envelope_decode(struct bm_da_header_envelope *out,
                                         const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_da_header_envelope_release(out);
    err = bm__unpack(&evnode__v1__daheader_envelope__descriptor,
                     &bm__schema_envelope, p, n, &m);
    if (err == BM_OK) {
        const Evnode__V1__DAHeaderEnvelope *e = (const void *)m;
        err = sh_from_pb(&out->sh, e->header, &e->signature, e->signer);
        if (err == BM_OK) {
            err = bm__bin_copy(&out->envelope_signature,
                               &e->envelope_signature);
            if (err) {
                bm_da_header_envelope_release(out);
            }
        }
    }
    bm__pb_free(m);
    return err;
}

enum bm_err bm_p2p_signed_header_decode(struct bm_p2p_signed_header *out,
                                        const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    enum bm_err err;

    bm_p2p_signed_header_release(out);
    err = bm__unpack(&evnode__v1__p2_psigned_header__descriptor,
                     &bm__schema_p2p_signed_header, p, n, &m);
    if (err == BM_OK) {
        const Evnode__V1__P2PSignedHeader *s = (const void *)m;
        static const ProtobufCBinaryData none = {0, NULL};
        err = sh_from_pb(&out->sh, s->header,
                         s->has_signature ? &s->signature : &none,
                         s->signer);
        if (err == BM_OK) {
            out->has_da_height_hint = s->has_da_height_hint;
            out->da_height_hint =
                s->has_da_height_hint ? s->da_height_hint : 0;
        }
    }
    bm__pb_free(m);
    return err;
}
