/* Decoders of execution-client responses, see decode.h. */
#include "exec/evm/decode.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/json.h"

/* ------------------------------------------------------------ helpers */

/* Copies s into out (cap bytes) with every non-printable byte as '?',
 * cut at cap - 1. */
static void printable(char *out, size_t cap, const char *s)
{
    size_t j = 0;

    for (; s != NULL && *s != '\0' && j + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[j] = '\0';
}

/* The digits after "0x" of a JSON string v, or NULL. */
static const char *hex_digits(struct json_object *v, size_t *n)
{
    const char *s;
    size_t len;

    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    s = json_object_get_string(v);
    len = (size_t)json_object_get_string_len(v);
    if (len < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) {
        return NULL;
    }
    *n = len - 2;
    return s + 2;
}

/* Member key of object o (borrowed), or NULL when absent or o is not an
 * object. */
static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return v;
}

void bm_evm_hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = digits[p[i] >> 4];
        out[3 + 2 * i] = digits[p[i] & 15];
    }
    out[2 + 2 * n] = '\0';
}

/* ------------------------------------------------------------ envelope */

void bm_evm_reply_release(struct bm_evm_reply *r)
{
    if (r == NULL) {
        return;
    }
    json_object_put(r->root);
    memset(r, 0, sizeof(*r));
}

enum bm_err bm_evm_reply_parse(const char *body, size_t len, uint64_t want_id,
                               struct bm_evm_reply *r, struct bm_errmsg *em)
{
    struct bm_errmsg pem = {{0}};
    struct json_object *v, *res, *e;
    bool has_res, has_err;
    enum bm_err err;

    bm_evm_reply_release(r);
    err = bm_json_parse(body, len, BM_EVM_JSON_DEPTH, &r->root, &pem);
    if (err != BM_OK) {
        return bm_errf(em, err == BM_ENOMEM ? err : BM_EPROTO,
                       "response: %s", pem.msg);
    }
    if (r->root == NULL || !json_object_is_type(r->root, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "response: not a JSON object");
    }
    v = member(r->root, "jsonrpc");
    if (v != NULL && (!json_object_is_type(v, json_type_string) ||
                      strcmp(json_object_get_string(v), "2.0") != 0)) {
        return bm_errf(em, BM_EPROTO, "response.jsonrpc: want \"2.0\"");
    }
    v = member(r->root, "id");
    if (v == NULL || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0 ||
        json_object_get_uint64(v) != want_id) {
        char got[48];

        printable(got, sizeof(got),
                  v != NULL ? json_object_to_json_string(v) : "absent");
        return bm_errf(em, BM_EPROTO, "response.id: got %s, want %" PRIu64,
                       got, want_id);
    }
    has_res = json_object_object_get_ex(r->root, "result", &res);
    e = member(r->root, "error");
    has_err = e != NULL && !json_object_is_type(e, json_type_null);
    if (has_err) {
        struct json_object *c = member(e, "code"), *m = member(e, "message");
        char msg[BM_EVM_TEXT_MAX + 1];

        if (!json_object_is_type(e, json_type_object) || c == NULL ||
            !json_object_is_type(c, json_type_int)) {
            return bm_errf(em, BM_EPROTO, "response.error: want an object "
                           "with an integer code");
        }
        r->rpc_code = json_object_get_int64(c);
        printable(msg, sizeof(msg),
                  m != NULL && json_object_is_type(m, json_type_string)
                      ? json_object_get_string(m)
                      : "(no message)");
        return bm_errf(em, BM_ERPC, "%s (code %" PRId64 ")", msg,
                       r->rpc_code);
    }
    if (!has_res) {
        return bm_errf(em, BM_EPROTO, "response: neither result nor error");
    }
    r->result = res;
    return BM_OK;
}

/* ------------------------------------------------------------ values */

enum bm_err bm_evm_dec_quantity(struct json_object *v, const char *field,
                                uint64_t *out, struct bm_errmsg *em)
{
    size_t n = 0;
    const char *d = hex_digits(v, &n);
    uint64_t x = 0;

    if (d == NULL || n == 0 || n > 64) {
        return bm_errf(em, BM_EPROTO, "%s: want a quantity (0x and 1..64 "
                       "hex digits)", field);
    }
    for (size_t i = 0; i < n; i++) {
        int k = bm_hex_digit(d[i]);
        if (k < 0) {
            return bm_errf(em, BM_EPROTO, "%s: byte 0x%02x at offset %zu "
                           "is not a hex digit", field,
                           (unsigned)(unsigned char)d[i], i + 2);
        }
        if (x >> 60 != 0) {
            return bm_errf(em, BM_EPROTO, "%s: above 64 bits", field);
        }
        x = x << 4 | (uint64_t)k;
    }
    *out = x;
    return BM_OK;
}

enum bm_err bm_evm_dec_fixed(struct json_object *v, const char *field,
                             uint8_t *out, size_t n, struct bm_errmsg *em)
{
    size_t nd = 0;
    const char *d = hex_digits(v, &nd);

    if (d == NULL || nd != 2 * n || !bm_hex_unhex(out, d, n)) {
        return bm_errf(em, BM_EPROTO, "%s: want 0x and %zu hex digits",
                       field, 2 * n);
    }
    return BM_OK;
}

enum bm_err bm_evm_dec_data(struct json_object *v, const char *field,
                            size_t max, struct bm_buf *out,
                            struct bm_errmsg *em)
{
    size_t nd = 0;
    const char *d = hex_digits(v, &nd);
    uint8_t *p;

    bm_buf_release(out);
    if (d == NULL || nd % 2 != 0) {
        return bm_errf(em, BM_EPROTO, "%s: want 0x and an even number of "
                       "hex digits", field);
    }
    if (nd / 2 > max) {
        return bm_errf(em, BM_ETOOBIG, "%s: %zu bytes, max %zu", field,
                       nd / 2, max);
    }
    if (nd == 0) {
        return BM_OK;
    }
    p = bm_malloc(nd / 2);
    if (p == NULL) {
        return BM_ENOMEM;
    }
    if (!bm_hex_unhex(p, d, nd / 2)) {
        bm_free(p);
        return bm_errf(em, BM_EPROTO, "%s: not hex", field);
    }
    out->ptr = p;
    out->len = nd / 2;
    return BM_OK;
}

bool bm_evm_dec_data_eq(struct json_object *v, const uint8_t *p, size_t n)
{
    size_t nd = 0;
    const char *d = hex_digits(v, &nd);

    if (d == NULL || nd != 2 * n) {
        return false;
    }
    return bm_hex_eq(d, p, n);
}

/* ------------------------------------------------------------ results */

/* Decodes member key of o as a quantity / fixed hash, naming
 * "<what>.<key>". */
static enum bm_err get_quantity(struct json_object *o, const char *what,
                                const char *key, uint64_t *out,
                                struct bm_errmsg *em)
{
    char f[96];

    snprintf(f, sizeof(f), "%s.%s", what, key);
    return bm_evm_dec_quantity(member(o, key), f, out, em);
}

static enum bm_err get_hash(struct json_object *o, const char *what,
                            const char *key, uint8_t *out,
                            struct bm_errmsg *em)
{
    char f[96];

    snprintf(f, sizeof(f), "%s.%s", what, key);
    return bm_evm_dec_fixed(member(o, key), f, out, BM_EVM_HASH_LEN, em);
}

enum bm_err bm_evm_dec_block(struct json_object *result, bool *found,
                             struct bm_evm_block *out, struct bm_errmsg *em)
{
    enum bm_err err;

    memset(out, 0, sizeof(*out));
    *found = false;
    if (result == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(result, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "block: want an object or null");
    }
    err = get_quantity(result, "block", "number", &out->number, em);
    if (err == BM_OK) {
        err = get_quantity(result, "block", "timestamp", &out->timestamp,
                           em);
    }
    if (err == BM_OK) {
        err = get_quantity(result, "block", "gasLimit", &out->gas_limit, em);
    }
    if (err == BM_OK) {
        err = get_hash(result, "block", "hash", out->hash, em);
    }
    if (err == BM_OK) {
        err = get_hash(result, "block", "parentHash", out->parent_hash, em);
    }
    if (err == BM_OK) {
        err = get_hash(result, "block", "stateRoot", out->state_root, em);
    }
    *found = err == BM_OK;
    return err;
}

static const char *const status_names[] = {
    "VALID", "INVALID", "SYNCING", "ACCEPTED", "INVALID_BLOCK_HASH",
    "UNKNOWN",
};

const char *bm_evm_status_name(enum bm_evm_status s)
{
    return (unsigned)s < sizeof(status_names) / sizeof(status_names[0])
               ? status_names[s]
               : "UNKNOWN";
}

enum bm_err bm_evm_dec_payload_status(struct json_object *o,
                                      const char *field,
                                      struct bm_evm_payload_status *out,
                                      struct bm_errmsg *em)
{
    struct json_object *v;
    const char *s;
    char f[96];

    memset(out, 0, sizeof(*out));
    v = member(o, "status");
    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        return bm_errf(em, BM_EPROTO, "%s.status: want a string", field);
    }
    s = json_object_get_string(v);
    out->status = BM_EVM_STATUS_UNKNOWN;
    for (size_t i = 0; i < BM_EVM_STATUS_UNKNOWN; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            out->status = (enum bm_evm_status)i;
        }
    }
    v = member(o, "latestValidHash");
    if (v != NULL && !json_object_is_type(v, json_type_null)) {
        snprintf(f, sizeof(f), "%s.latestValidHash", field);
        if (bm_evm_dec_fixed(v, f, out->latest_valid_hash, BM_EVM_HASH_LEN,
                             em) != BM_OK) {
            return BM_EPROTO;
        }
        out->has_latest_valid_hash = true;
    }
    v = member(o, "validationError");
    if (v != NULL && json_object_is_type(v, json_type_string)) {
        printable(out->validation_error, sizeof(out->validation_error),
                  json_object_get_string(v));
    } else if (v != NULL && !json_object_is_type(v, json_type_null)) {
        return bm_errf(em, BM_EPROTO, "%s.validationError: want a string "
                       "or null", field);
    }
    if (out->status == BM_EVM_STATUS_UNKNOWN) {
        /* kept for the message: the client's own word */
        char word[40];

        printable(word, sizeof(word), s);
        if (out->validation_error[0] == '\0') {
            snprintf(out->validation_error, sizeof(out->validation_error),
                     "unknown status '%s'", word);
        }
    }
    return BM_OK;
}

enum bm_err bm_evm_dec_fcu(struct json_object *result, struct bm_evm_fcu *out,
                           struct bm_errmsg *em)
{
    struct json_object *ps, *id;
    enum bm_err err;

    memset(out, 0, sizeof(*out));
    ps = member(result, "payloadStatus");
    if (ps == NULL || !json_object_is_type(ps, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "forkchoiceUpdated.payloadStatus: want "
                       "an object");
    }
    err = bm_evm_dec_payload_status(ps, "forkchoiceUpdated.payloadStatus",
                                    &out->ps, em);
    if (err != BM_OK) {
        return err;
    }
    id = member(result, "payloadId");
    if (id != NULL && !json_object_is_type(id, json_type_null)) {
        err = bm_evm_dec_fixed(id, "forkchoiceUpdated.payloadId",
                               out->payload_id, BM_EVM_PAYLOAD_ID_LEN, em);
        if (err != BM_OK) {
            return err;
        }
        out->has_payload_id = true;
    }
    return BM_OK;
}

/* Checks every element of array a is DATA of 1..max bytes (empty allowed
 * when allow_empty), at most max_n elements; the digits too when
 * digits (else the caller's decoding checks them). The element's name is
 * built only for an error. */
static enum bm_err check_data_array(struct json_object *a, const char *field,
                                    size_t max_n, size_t max,
                                    bool allow_empty, bool digits,
                                    struct bm_errmsg *em)
{
    size_t n;

    if (a == NULL || !json_object_is_type(a, json_type_array)) {
        return bm_errf(em, BM_EPROTO, "%s: want an array", field);
    }
    n = json_object_array_length(a);
    if (n > max_n) {
        return bm_errf(em, BM_ETOOBIG, "%s: %zu entries, max %zu", field, n,
                       max_n);
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(a, i);
        size_t nd = 0;
        const char *d = hex_digits(v, &nd);

        if (d == NULL || nd % 2 != 0 || (nd == 0 && !allow_empty)) {
            return bm_errf(em, BM_EPROTO, "%s[%zu]: want 0x and a non-empty "
                           "even number of hex digits", field, i);
        }
        if (nd / 2 > max) {
            return bm_errf(em, BM_ETOOBIG, "%s[%zu]: %zu bytes, max %zu",
                           field, i, nd / 2, max);
        }
        if (digits && !bm_hex_all_digits(d, nd)) {
            for (size_t j = 0; j < nd; j++) {
                if (bm_hex_digit(d[j]) < 0) {
                    return bm_errf(em, BM_EPROTO, "%s[%zu]: byte at offset "
                                   "%zu is not a hex digit", field, i, j + 2);
                }
            }
        }
    }
    return BM_OK;
}

enum bm_err bm_evm_dec_payload(struct json_object *result,
                               struct bm_evm_payload *out,
                               struct bm_errmsg *em)
{
    static const char w[] = "executionPayload";
    struct json_object *ep, *txs, *rq;
    enum bm_err err;

    memset(out, 0, sizeof(*out));
    ep = member(result, "executionPayload");
    if (ep == NULL || !json_object_is_type(ep, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "getPayload.executionPayload: want an "
                       "object");
    }
    err = get_quantity(ep, w, "blockNumber", &out->number, em);
    if (err == BM_OK) {
        err = get_quantity(ep, w, "timestamp", &out->timestamp, em);
    }
    if (err == BM_OK) {
        err = get_quantity(ep, w, "gasLimit", &out->gas_limit, em);
    }
    if (err == BM_OK) {
        err = get_hash(ep, w, "blockHash", out->block_hash, em);
    }
    if (err == BM_OK) {
        err = get_hash(ep, w, "parentHash", out->parent_hash, em);
    }
    if (err == BM_OK) {
        err = get_hash(ep, w, "stateRoot", out->state_root, em);
    }
    if (err != BM_OK) {
        return err;
    }
    txs = member(ep, "transactions");
    err = check_data_array(txs, "executionPayload.transactions", BM_MAX_TXS,
                           BM_MAX_TX_SIZE, false, true, em);
    if (err != BM_OK) {
        return err;
    }
    out->n_txs = json_object_array_length(txs);
    rq = member(result, "executionRequests");
    if (rq != NULL && !json_object_is_type(rq, json_type_null)) {
        err = check_data_array(rq, "getPayload.executionRequests",
                               BM_EVM_MAX_REQUESTS, BM_EVM_MAX_REQUEST_BYTES,
                               false, true, em);
        if (err != BM_OK) {
            return err;
        }
        out->execution_requests = rq;
    }
    out->execution_payload = ep;
    return BM_OK;
}

enum bm_err bm_evm_dec_txs(struct json_object *result, struct bm_batch *out,
                           struct bm_errmsg *em)
{
    struct bm_batch b = {0, NULL};
    enum bm_err err;
    size_t n;

    bm_batch_release(out);
    if (result == NULL) {
        return BM_OK;
    }
    /* the shape of every entry first (nothing allocated for an answer
     * that fails it); the digits while decoding (one pass) */
    err = check_data_array(result, "txpoolExt_getTxs", BM_MAX_TXS,
                           BM_MAX_TX_SIZE, false, false, em);
    if (err != BM_OK) {
        return err;
    }
    n = json_object_array_length(result);
    if (n == 0) {
        return BM_OK;
    }
    b.txs = bm_calloc(n, sizeof(*b.txs));
    if (b.txs == NULL) {
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t nd = 0;
        const char *d = hex_digits(json_object_array_get_idx(result, i), &nd);
        uint8_t *p = bm_malloc(nd / 2);

        if (p == NULL) {
            err = BM_ENOMEM;
        } else if (!bm_hex_unhex(p, d, nd / 2)) {
            bm_free(p);
            p = NULL;
            err = BM_EPROTO;
            for (size_t j = 0; j < nd; j++) {
                if (bm_hex_digit(d[j]) < 0) {
                    bm_errf(em, err, "txpoolExt_getTxs[%zu]: byte at offset "
                            "%zu is not a hex digit", i, j + 2);
                    break;
                }
            }
        }
        if (err != BM_OK) {
            b.n_txs = i;
            bm_batch_release(&b);
            return err;
        }
        b.txs[i].ptr = p;
        b.txs[i].len = nd / 2;
    }
    b.n_txs = n;
    *out = b;
    return BM_OK;
}

/* ------------------------------------------------------------ RLP */

/* One RLP item at p[0..len): its payload [*off, *off + *n) and whether it
 * is a list; the item's total size is *off + *n <= len. */
static bool rlp_item(const uint8_t *p, size_t len, bool *list, size_t *off,
                     size_t *n)
{
    uint8_t b;
    size_t ll, v = 0;

    if (len == 0) {
        return false;
    }
    b = p[0];
    if (b < 0x80) {
        *list = false;
        *off = 0;
        *n = 1;
        return true;
    }
    *list = b >= 0xc0;
    if (b <= 0xb7 || (b >= 0xc0 && b <= 0xf7)) {
        *off = 1;
        *n = (size_t)(b - (*list ? 0xc0 : 0x80));
        /* a one-byte string below 0x80 must be the byte itself */
        if (!*list && *n == 1 && (len < 2 || p[1] < 0x80)) {
            return false;
        }
        return *n <= len - 1;
    }
    ll = (size_t)(b - (*list ? 0xf7 : 0xb7));
    if (ll > sizeof(size_t) || ll >= len || p[1] == 0) {
        return false;
    }
    for (size_t i = 0; i < ll; i++) {
        v = v << 8 | p[1 + i];
    }
    if (v <= 55) {
        return false; /* not canonical */
    }
    *off = 1 + ll;
    *n = v;
    return v <= len - *off;
}

enum bm_err bm_evm_tx_gas(const uint8_t *tx, size_t len, uint64_t *gas,
                          struct bm_errmsg *em)
{
    size_t idx, off = 0, n = 0, pos;
    bool list = false;
    const uint8_t *p = tx;

    if (len == 0) {
        return bm_errf(em, BM_EBADTX, "tx: empty");
    }
    if (tx[0] >= 0xc0) {
        idx = 2; /* legacy: nonce, gasPrice, gas */
    } else if (tx[0] == 0x01) {
        idx = 3; /* chainId, nonce, gasPrice, gas */
    } else if (tx[0] >= 0x02 && tx[0] <= 0x04) {
        idx = 4; /* chainId, nonce, tip cap, fee cap, gas */
    } else {
        return bm_errf(em, BM_EBADTX, "tx: unknown type 0x%02x", tx[0]);
    }
    if (tx[0] < 0xc0) {
        p++;
        len--;
    }
    if (!rlp_item(p, len, &list, &off, &n) || !list || off + n != len) {
        return bm_errf(em, BM_EBADTX, "tx: not one RLP list");
    }
    pos = off;
    for (size_t i = 0;; i++) {
        size_t io = 0, in = 0;
        bool il = false;

        if (!rlp_item(p + pos, off + n - pos, &il, &io, &in)) {
            return bm_errf(em, BM_EBADTX, "tx: field %zu does not decode", i);
        }
        if (i == idx) {
            uint64_t g = 0;

            if (il || in > 8 || (in > 0 && p[pos + io] == 0)) {
                return bm_errf(em, BM_EBADTX, "tx: gas limit is not a "
                               "64-bit integer");
            }
            for (size_t k = 0; k < in; k++) {
                g = g << 8 | p[pos + io + k];
            }
            *gas = g;
            return BM_OK;
        }
        pos += io + in;
    }
}
