/* Protobuf glue: wire pre-check, allocator, pack/unpack helpers. */
#include "types/codec.h"

#include <string.h>

#include "util/alloc.h"
#include "util/utf8.h"

/* ---- wire schemas ---- */

enum fkind {
    K_PLAIN, /* scalar or bytes without a specific cap */
    K_HASH,  /* bytes <= BM_MAX_HASH_FIELD */
    K_TX,    /* repeated bytes <= BM_MAX_TX_SIZE each, <= BM_MAX_TXS total */
    K_STR,   /* string <= BM_MAX_CHAIN_ID, valid UTF-8 */
    K_SUB,   /* sub-message */
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4,
       WT_I32 = 5 };

struct fspec {
    uint32_t num;
    uint8_t wt;
    uint8_t kind;
    const struct bm__msg_schema *sub;
};

struct bm__msg_schema {
    const struct fspec *f;
    size_t n;
    bool header; /* track the unknown section and legacy fields 5/7/9 */
};

#define SCHEMA(name, is_header, ...)                                           \
    static const struct fspec name##_f[] = {__VA_ARGS__};                      \
    const struct bm__msg_schema name = {                                       \
        name##_f, sizeof(name##_f) / sizeof(name##_f[0]), is_header}

static const struct fspec version_f[] = {{1, WT_VARINT, K_PLAIN, NULL},
                                         {2, WT_VARINT, K_PLAIN, NULL}};
static const struct bm__msg_schema schema_version = {version_f, 2, false};
static const struct bm__msg_schema schema_timestamp = {version_f, 2, false};

SCHEMA(bm__schema_header, true, {1, WT_LEN, K_SUB, &schema_version},
       {2, WT_VARINT, K_PLAIN, NULL}, {3, WT_VARINT, K_PLAIN, NULL},
       {4, WT_LEN, K_HASH, NULL}, {6, WT_LEN, K_HASH, NULL},
       {8, WT_LEN, K_HASH, NULL}, {10, WT_LEN, K_HASH, NULL},
       {11, WT_LEN, K_HASH, NULL}, {12, WT_LEN, K_STR, NULL});

static const struct fspec signer_f[] = {{1, WT_LEN, K_HASH, NULL},
                                        {2, WT_LEN, K_HASH, NULL}};
static const struct bm__msg_schema schema_signer = {signer_f, 2, false};

SCHEMA(bm__schema_signed_header, false,
       {1, WT_LEN, K_SUB, &bm__schema_header}, {2, WT_LEN, K_HASH, NULL},
       {3, WT_LEN, K_SUB, &schema_signer});
SCHEMA(bm__schema_envelope, false, {1, WT_LEN, K_SUB, &bm__schema_header},
       {2, WT_LEN, K_HASH, NULL}, {3, WT_LEN, K_SUB, &schema_signer},
       {4, WT_LEN, K_HASH, NULL});
SCHEMA(bm__schema_p2p_signed_header, false,
       {1, WT_LEN, K_SUB, &bm__schema_header}, {2, WT_LEN, K_HASH, NULL},
       {3, WT_LEN, K_SUB, &schema_signer}, {4, WT_VARINT, K_PLAIN, NULL});

static const struct fspec metadata_f[] = {
    {1, WT_LEN, K_STR, NULL}, {2, WT_VARINT, K_PLAIN, NULL},
    {3, WT_VARINT, K_PLAIN, NULL}, {4, WT_LEN, K_HASH, NULL}};
static const struct bm__msg_schema schema_metadata = {metadata_f, 4, false};

SCHEMA(bm__schema_data, false, {1, WT_LEN, K_SUB, &schema_metadata},
       {2, WT_LEN, K_TX, NULL});
SCHEMA(bm__schema_signed_data, false, {1, WT_LEN, K_SUB, &bm__schema_data},
       {2, WT_LEN, K_HASH, NULL}, {3, WT_LEN, K_SUB, &schema_signer});
SCHEMA(bm__schema_p2p_data, false, {1, WT_LEN, K_SUB, &schema_metadata},
       {2, WT_LEN, K_TX, NULL}, {3, WT_VARINT, K_PLAIN, NULL});
SCHEMA(bm__schema_state, false, {1, WT_LEN, K_SUB, &schema_version},
       {2, WT_LEN, K_STR, NULL}, {3, WT_VARINT, K_PLAIN, NULL},
       {4, WT_VARINT, K_PLAIN, NULL}, {5, WT_LEN, K_SUB, &schema_timestamp},
       {6, WT_VARINT, K_PLAIN, NULL}, {8, WT_LEN, K_HASH, NULL},
       {9, WT_LEN, K_HASH, NULL}, {10, WT_LEN, K_HASH, NULL});
SCHEMA(bm__schema_batch, false, {1, WT_LEN, K_TX, NULL});
SCHEMA(bm__schema_raft_block_state, false, {1, WT_VARINT, K_PLAIN, NULL},
       {2, WT_VARINT, K_PLAIN, NULL}, {3, WT_VARINT, K_PLAIN, NULL},
       {4, WT_LEN, K_HASH, NULL}, {5, WT_VARINT, K_PLAIN, NULL},
       {6, WT_LEN, K_PLAIN, NULL}, {7, WT_LEN, K_PLAIN, NULL});

/* ---- wire walker ---- */

enum bm_err bm__get_varint(const uint8_t *p, size_t n, size_t *pos,
                           uint64_t *v)
{
    uint64_t r = 0;

    for (unsigned i = 0; i < 10; i++) {
        if (*pos >= n) {
            return BM_ETRUNCATED;
        }
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1) {
            return BM_EVARINT; /* overflows 64 bits */
        }
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = r;
            return BM_OK;
        }
    }
    return BM_EVARINT; /* longer than 10 bytes */
}

struct walk {
    size_t n_txs;
};

static const struct fspec *find_field(const struct bm__msg_schema *s,
                                      uint64_t num)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->f[i].num == num) {
            return &s->f[i];
        }
    }
    return NULL;
}

static enum bm_err walk_msg(struct walk *w, const struct bm__msg_schema *s,
                            const uint8_t *p, size_t n)
{
    size_t pos = 0;
    size_t unknown = 0; /* bytes of unknown fields (header only) */

    while (pos < n) {
        size_t start = pos;
        uint64_t key;
        uint64_t v;
        enum bm_err err = bm__get_varint(p, n, &pos, &key);
        if (err) {
            return err;
        }
        uint64_t num = key >> 3;
        unsigned wt = (unsigned)(key & 7);
        if (num == 0 || num > 0x1fffffff) {
            return BM_EDECODE;
        }
        if (wt == WT_SGROUP || wt == WT_EGROUP || wt > WT_I32) {
            return BM_EWIRETYPE; /* groups: unsupported by protobuf-c */
        }
        const struct fspec *f = find_field(s, num);
        if (f != NULL && f->wt != wt) {
            return BM_EWIRETYPE;
        }
        size_t vstart = pos;
        size_t vlen = 0;
        switch (wt) {
        case WT_VARINT:
            err = bm__get_varint(p, n, &pos, &v);
            if (err) {
                return err;
            }
            break;
        case WT_I64:
        case WT_I32:
            vlen = wt == WT_I64 ? 8 : 4;
            if (n - pos < vlen) {
                return BM_ETRUNCATED;
            }
            pos += vlen;
            break;
        default: /* WT_LEN */
            err = bm__get_varint(p, n, &pos, &v);
            if (err) {
                return err;
            }
            if (v > n - pos) {
                return BM_ETRUNCATED;
            }
            vstart = pos;
            vlen = (size_t)v;
            pos += vlen;
            break;
        }
        if (f == NULL) {
            if (s->header) {
                unknown += pos - start;
                if (unknown > BM_MAX_LEGACY_SECTION) {
                    return BM_ETOOBIG;
                }
                if (wt == WT_LEN && (num == 5 || num == 7 || num == 9) &&
                    vlen > BM_MAX_HASH_FIELD) {
                    return BM_ETOOBIG;
                }
            }
            continue;
        }
        switch (f->kind) {
        case K_HASH:
            if (vlen > BM_MAX_HASH_FIELD) {
                return BM_ETOOBIG;
            }
            break;
        case K_TX:
            if (vlen > BM_MAX_TX_SIZE || ++w->n_txs > BM_MAX_TXS) {
                return BM_ETOOBIG;
            }
            break;
        case K_STR:
            if (vlen > BM_MAX_CHAIN_ID) {
                return BM_ETOOBIG;
            }
            if (!bm_utf8_valid(p + vstart, vlen)) {
                return BM_EDECODE;
            }
            break;
        case K_SUB:
            err = walk_msg(w, f->sub, p + vstart, vlen);
            if (err) {
                return err;
            }
            break;
        default:
            break;
        }
    }
    return BM_OK;
}

enum bm_err bm__wire_check(const struct bm__msg_schema *schema,
                           const uint8_t *p, size_t n)
{
    struct walk w = {0};

    if (n > BM_MAX_MESSAGE_SIZE) {
        return BM_ETOOBIG;
    }
    if (n == 0) {
        return BM_OK;
    }
    if (p == NULL) {
        return BM_EINVAL;
    }
    return walk_msg(&w, schema, p, n);
}

/* ---- allocator ---- */

static void *pb_alloc(void *data, size_t n)
{
    void *p = bm_malloc(n);

    if (p == NULL) {
        ((struct bm__pballoc *)data)->oom = true;
    }
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    bm_free(p);
}

void bm__pballoc_init(struct bm__pballoc *pa)
{
    pa->a.alloc = pb_alloc;
    pa->a.free = pb_free;
    pa->a.allocator_data = pa;
    pa->oom = false;
}

enum bm_err bm__unpack(const ProtobufCMessageDescriptor *desc,
                       const struct bm__msg_schema *schema, const uint8_t *p,
                       size_t n, ProtobufCMessage **out)
{
    static const uint8_t empty[1];
    struct bm__pballoc pa;
    enum bm_err err;

    *out = NULL;
    err = bm__wire_check(schema, p, n);
    if (err) {
        return err;
    }
    bm__pballoc_init(&pa);
    *out = protobuf_c_message_unpack(desc, &pa.a, n, n ? p : empty);
    if (*out == NULL) {
        return pa.oom ? BM_ENOMEM : BM_EDECODE;
    }
    return BM_OK;
}

void bm__pb_free(ProtobufCMessage *m)
{
    struct bm__pballoc pa;

    if (m == NULL) {
        return;
    }
    bm__pballoc_init(&pa);
    protobuf_c_message_free_unpacked(m, &pa.a);
}

enum bm_err bm__pack(const ProtobufCMessage *m, struct bm_buf *out)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p;

    bm_buf_release(out);
    if (n > BM_MAX_MESSAGE_SIZE) {
        return BM_ETOOBIG;
    }
    if (n == 0) {
        return BM_OK;
    }
    p = bm_malloc(n);
    if (p == NULL) {
        return BM_ENOMEM;
    }
    if (protobuf_c_message_pack(m, p) != n) {
        bm_free(p);
        return BM_EPROTO; /* our bug: sizes disagree */
    }
    out->ptr = p;
    out->len = n;
    return BM_OK;
}

/* ---- small helpers ---- */

ProtobufCBinaryData bm__bin(const struct bm_buf *b)
{
    ProtobufCBinaryData d = {b->len, b->ptr};

    return d;
}

enum bm_err bm__bin_copy(struct bm_buf *out, const ProtobufCBinaryData *d)
{
    return bm_buf_set(out, d->data, d->len);
}

enum bm_err bm__str_copy(char **out, const char *s)
{
    bm_free(*out);
    *out = NULL;
    if (s == NULL || s[0] == '\0') {
        return BM_OK;
    }
    *out = bm_strdup(s);
    return *out ? BM_OK : BM_ENOMEM;
}

char *bm__str(const char *s)
{
    /* protobuf-c's string fields are char * but are never written by pack */
    return (char *)(s ? s : protobuf_c_empty_string);
}

enum bm_err bm__put_varint(struct bm_dynbuf *d, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;

    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) {
            b[n] |= 0x80;
        }
        n++;
    } while (v);
    return bm_dynbuf_append(d, b, n);
}

enum bm_err bm__put_tag(struct bm_dynbuf *d, uint32_t field, unsigned wt)
{
    return bm__put_varint(d, ((uint64_t)field << 3) | wt);
}

enum bm_err bm__put_bytes_field(struct bm_dynbuf *d, uint32_t field,
                                const uint8_t *p, size_t n)
{
    enum bm_err err = bm__put_tag(d, field, WT_LEN);

    if (err == BM_OK) {
        err = bm__put_varint(d, n);
    }
    if (err == BM_OK && n > 0) {
        err = bm_dynbuf_append(d, p, n);
    }
    return err;
}

/* ---- tx lists ---- */

void bm__txs_release(struct bm_buf **txs, size_t *n_txs)
{
    if (*txs != NULL) {
        for (size_t i = 0; i < *n_txs; i++) {
            bm_buf_release(&(*txs)[i]);
        }
        bm_free(*txs);
    }
    *txs = NULL;
    *n_txs = 0;
}

enum bm_err bm__txs_from_pb(struct bm_buf **txs, size_t *n_txs,
                            ProtobufCBinaryData *src, size_t n)
{
    struct bm_buf *a;

    bm__txs_release(txs, n_txs);
    if (n == 0) {
        return BM_OK;
    }
    if (n > BM_MAX_TXS) {
        return BM_ETOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        if (src[i].len > BM_MAX_TX_SIZE) {
            return BM_ETOOBIG;
        }
    }
    a = bm_calloc(n, sizeof(*a));
    if (a == NULL) {
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (src[i].len > 0 && src[i].data != NULL) {
            a[i].ptr = src[i].data;
            a[i].len = src[i].len;
            src[i].data = NULL;
            src[i].len = 0;
        }
    }
    *txs = a;
    *n_txs = n;
    return BM_OK;
}

enum bm_err bm__txs_to_pb(ProtobufCBinaryData **out, const struct bm_buf *txs,
                          size_t n)
{
    *out = NULL;
    if (n == 0) {
        return BM_OK;
    }
    *out = bm_calloc(n, sizeof(**out));
    if (*out == NULL) {
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        (*out)[i] = bm__bin(&txs[i]);
    }
    return BM_OK;
}
