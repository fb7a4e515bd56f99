/* Namespaces, DA IDs, status mapping and blob helpers (include/blockv2/da.h). */
#include "blockv2/da.h"

#include <string.h>

#include <sodium.h>

#include "util/alloc.h"
#include "util/errmsg.h"

void bm_da_namespace_from_string(struct bm_da_namespace *out, const char *s,
                                 size_t len)
{
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, (const unsigned char *)s, len);
    memset(out->b, 0, sizeof(out->b));
    /* version 0, 18 zero id bytes, then 10 bytes of the hash */
    memcpy(out->b + 1 + BM_DA_NS_V0_ZEROS, h,
           BM_DA_NS_ID_LEN - BM_DA_NS_V0_ZEROS);
}

enum bm_err bm_da_namespaces_from_config(struct bm_da_namespaces *out,
                                         const char *header_ns,
                                         const char *data_ns,
                                         struct bm_errmsg *em)
{
    if (header_ns == NULL || header_ns[0] == '\0') {
        return bm_errf(em, BM_ECONFIG, "da.namespace: must be set");
    }
    if (data_ns == NULL || data_ns[0] == '\0') {
        data_ns = header_ns;
    }
    bm_da_namespace_from_string(&out->header, header_ns, strlen(header_ns));
    bm_da_namespace_from_string(&out->data, data_ns, strlen(data_ns));
    return BM_OK;
}

enum bm_err bm_da_namespace_parse(struct bm_da_namespace *out,
                                  const uint8_t *p, size_t len,
                                  const char *field, struct bm_errmsg *em)
{
    if (len != BM_DA_NS_LEN) {
        return bm_errf(em, BM_EINVAL, "%s: namespace is %zu bytes, want %d",
                       field, len, BM_DA_NS_LEN);
    }
    if (p[0] != 0) {
        return bm_errf(em, BM_EINVAL, "%s: namespace version %u, want 0",
                       field, p[0]);
    }
    for (size_t i = 1; i <= BM_DA_NS_V0_ZEROS; i++) {
        if (p[i] != 0) {
            return bm_errf(em, BM_EINVAL,
                           "%s: version-0 namespace must start with %d "
                           "zero id bytes",
                           field, BM_DA_NS_V0_ZEROS);
        }
    }
    memcpy(out->b, p, BM_DA_NS_LEN);
    return BM_OK;
}

void bm_da_id_make(uint8_t out[BM_DA_ID_LEN], uint64_t height,
                   const uint8_t commitment[BM_DA_COMMITMENT_LEN])
{
    bm_put_le64(out, height);
    memcpy(out + 8, commitment, BM_DA_COMMITMENT_LEN);
}

enum bm_err bm_da_id_split(const uint8_t *id, size_t len, uint64_t *height,
                           const uint8_t **commitment,
                           size_t *commitment_len)
{
    if (id == NULL || len <= 8) {
        return BM_EINVAL;
    }
    *height = bm_get_le64(id);
    *commitment = id + 8;
    *commitment_len = len - 8;
    return BM_OK;
}

enum bm_da_status bm_da_status_from_message(const char *msg)
{
    static const struct {
        const char *text;
        enum bm_da_status st;
    } map[] = {
        /* order as in ev-node block/internal/da/client.go */
        {BM_DA_MSG_NOT_INCLUDED, BM_DA_STATUS_NOT_INCLUDED},
        {BM_DA_MSG_IN_MEMPOOL, BM_DA_STATUS_ALREADY_IN_MEMPOOL},
        {BM_DA_MSG_ACCOUNT_SEQUENCE, BM_DA_STATUS_INCORRECT_ACCOUNT_SEQUENCE},
        {BM_DA_MSG_TOO_BIG, BM_DA_STATUS_TOO_BIG},
        {BM_DA_MSG_DEADLINE, BM_DA_STATUS_CONTEXT_DEADLINE},
        {BM_DA_MSG_NOT_FOUND, BM_DA_STATUS_NOT_FOUND},
        {BM_DA_MSG_FUTURE, BM_DA_STATUS_HEIGHT_FROM_FUTURE},
        {BM_DA_MSG_CANCELED, BM_DA_STATUS_CONTEXT_CANCELED},
    };

    if (msg == NULL) {
        return BM_DA_STATUS_ERROR;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strstr(msg, map[i].text) != NULL) {
            return map[i].st;
        }
    }
    return BM_DA_STATUS_ERROR;
}

enum bm_err bm_da_status_to_err(enum bm_da_status st)
{
    switch (st) {
    case BM_DA_STATUS_SUCCESS:
        return BM_OK;
    case BM_DA_STATUS_NOT_FOUND:
        return BM_EDA_NOT_FOUND;
    case BM_DA_STATUS_NOT_INCLUDED:
        return BM_EDA_NOT_INCLUDED;
    case BM_DA_STATUS_ALREADY_IN_MEMPOOL:
        return BM_EDA_IN_MEMPOOL;
    case BM_DA_STATUS_TOO_BIG:
        return BM_EDA_TOO_BIG;
    case BM_DA_STATUS_CONTEXT_DEADLINE:
        return BM_EDA_DEADLINE;
    case BM_DA_STATUS_HEIGHT_FROM_FUTURE:
        return BM_EDA_FUTURE_HEIGHT;
    default:
        return BM_EDA_ERROR;
    }
}

enum bm_da_status bm_da_status_from_err(int err)
{
    switch (err) {
    case BM_OK:
        return BM_DA_STATUS_SUCCESS;
    case BM_EDA_NOT_FOUND:
        return BM_DA_STATUS_NOT_FOUND;
    case BM_EDA_NOT_INCLUDED:
        return BM_DA_STATUS_NOT_INCLUDED;
    case BM_EDA_IN_MEMPOOL:
        return BM_DA_STATUS_ALREADY_IN_MEMPOOL;
    case BM_EDA_TOO_BIG:
        return BM_DA_STATUS_TOO_BIG;
    case BM_EDA_DEADLINE:
        return BM_DA_STATUS_CONTEXT_DEADLINE;
    case BM_EDA_FUTURE_HEIGHT:
        return BM_DA_STATUS_HEIGHT_FROM_FUTURE;
    default:
        return BM_DA_STATUS_ERROR;
    }
}

const char *bm_da_status_name(enum bm_da_status st)
{
    static const char *const names[] = {
        "Unknown",          "Success",         "NotFound",
        "NotIncludedInBlock", "AlreadyInMempool", "TooBig",
        "ContextDeadline",  "Error",           "IncorrectAccountSequence",
        "ContextCanceled",  "HeightFromFuture",
    };

    if ((unsigned)st >= sizeof(names) / sizeof(names[0])) {
        return "Unknown";
    }
    return names[st];
}

enum bm_err bm_da_blob_init_v0(struct bm_da_blob *b,
                               const struct bm_da_namespace *ns,
                               const uint8_t *data, size_t len)
{
    enum bm_err err;

    memset(b, 0, sizeof(*b));
    b->index = -1;
    b->ns = *ns;
    err = bm_da_commitment(b->commitment, ns, data, len, 0, NULL);
    if (err != BM_OK) {
        return err;
    }
    err = bm_buf_set(&b->data, data, len);
    if (err != BM_OK) {
        return err;
    }
    return BM_OK;
}

void bm_da_blob_release(struct bm_da_blob *b)
{
    if (b == NULL) {
        return;
    }
    bm_buf_release(&b->data);
    memset(b, 0, sizeof(*b));
    b->index = -1;
}

void bm_da_blob_list_release(struct bm_da_blob_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        bm_da_blob_release(&l->v[i]);
    }
    bm_free(l->v);
    l->v = NULL;
    l->n = 0;
}
