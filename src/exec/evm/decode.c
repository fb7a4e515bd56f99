/* Decoders of execution-client responses, see decode.h. */
#include "exec/evm/decode.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/json_scan.h"

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
    bm_free(r->body);
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

/* The value of the quantity digits d[0..n) (after "0x"): 0 when it is
 * one, 1 for a byte that is not a hex digit (*bad: its index), 2 above
 * 64 bits, 3 for no digits or more than 64. */
static int quantity_value(const char *d, size_t n, uint64_t *out,
                          size_t *bad)
{
    uint64_t x = 0;

    if (n == 0 || n > 64) {
        return 3;
    }
    for (size_t i = 0; i < n; i++) {
        int k = bm_hex_digit(d[i]);
        if (k < 0) {
            *bad = i;
            return 1;
        }
        if (x >> 60 != 0) {
            return 2;
        }
        x = x << 4 | (uint64_t)k;
    }
    *out = x;
    return 0;
}

enum bm_err bm_evm_dec_quantity(struct json_object *v, const char *field,
                                uint64_t *out, struct bm_errmsg *em)
{
    size_t n = 0, bad = 0;
    const char *d = hex_digits(v, &n);
    int rc = d != NULL ? quantity_value(d, n, out, &bad) : 3;

    if (rc == 1) {
        return bm_errf(em, BM_EPROTO, "%s: byte 0x%02x at offset %zu "
                       "is not a hex digit", field,
                       (unsigned)(unsigned char)d[bad], bad + 2);
    }
    if (rc == 2) {
        return bm_errf(em, BM_EPROTO, "%s: above 64 bits", field);
    }
    if (rc != 0) {
        return bm_errf(em, BM_EPROTO, "%s: want a quantity (0x and 1..64 "
                       "hex digits)", field);
    }
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

void bm_evm_payload_release(struct bm_evm_payload *pl)
{
    if (pl == NULL) {
        return;
    }
    bm_free(pl->txs);
    memset(pl, 0, sizeof(*pl));
}

/* json-c's text of v, as newPayload sends it; BM_ETOOBIG above the cap. */
static enum bm_err json_text(struct json_object *v, const char *field,
                             struct bm_evm_span *out, struct bm_errmsg *em)
{
    size_t len = 0;
    const char *t = json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

    if (t == NULL) {
        return BM_ENOMEM;
    }
    if (len > BM_EVM_MAX_PAYLOAD_TEXT) {
        return bm_errf(em, BM_ETOOBIG, "%s: %zu bytes of JSON, max %zu",
                       field, len, BM_EVM_MAX_PAYLOAD_TEXT);
    }
    out->p = t;
    out->len = len;
    return BM_OK;
}

enum bm_err bm_evm_dec_payload(struct json_object *result,
                               struct bm_evm_payload *out,
                               struct bm_errmsg *em)
{
    static const char w[] = "executionPayload";
    struct json_object *ep, *txs, *rq;
    struct bm_evm_payload pl;
    enum bm_err err;

    bm_evm_payload_release(out);
    memset(&pl, 0, sizeof(pl));
    ep = member(result, "executionPayload");
    if (ep == NULL || !json_object_is_type(ep, json_type_object)) {
        return bm_errf(em, BM_EPROTO, "getPayload.executionPayload: want an "
                       "object");
    }
    err = get_quantity(ep, w, "blockNumber", &pl.number, em);
    if (err == BM_OK) {
        err = get_quantity(ep, w, "timestamp", &pl.timestamp, em);
    }
    if (err == BM_OK) {
        err = get_quantity(ep, w, "gasLimit", &pl.gas_limit, em);
    }
    if (err == BM_OK) {
        err = get_hash(ep, w, "blockHash", pl.block_hash, em);
    }
    if (err == BM_OK) {
        err = get_hash(ep, w, "parentHash", pl.parent_hash, em);
    }
    if (err == BM_OK) {
        err = get_hash(ep, w, "stateRoot", pl.state_root, em);
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
    rq = member(result, "executionRequests");
    if (rq != NULL && !json_object_is_type(rq, json_type_null)) {
        err = check_data_array(rq, "getPayload.executionRequests",
                               BM_EVM_MAX_REQUESTS, BM_EVM_MAX_REQUEST_BYTES,
                               false, true, em);
        if (err == BM_OK) {
            err = json_text(rq, "getPayload.executionRequests", &pl.requests,
                            em);
        }
        if (err != BM_OK) {
            return err;
        }
    }
    err = json_text(ep, "getPayload.executionPayload", &pl.payload, em);
    if (err != BM_OK) {
        return err;
    }
    pl.n_txs = json_object_array_length(txs);
    if (pl.n_txs > 0) {
        pl.txs = bm_calloc(pl.n_txs, sizeof(*pl.txs));
        if (pl.txs == NULL) {
            return BM_ENOMEM;
        }
    }
    for (size_t i = 0; i < pl.n_txs; i++) {
        pl.txs[i].p = hex_digits(json_object_array_get_idx(txs, i),
                                 &pl.txs[i].len);
    }
    *out = pl;
    return BM_OK;
}

/* ---- getPayload answers without the json-c tree ----
 *
 * A 100-transfer block's getPayload answer is ~25 KB, most of it the txs'
 * hex: json-c built a node and a copy of every string, and newPayload
 * wrote the whole tree back out. The scanner below checks the answer in
 * one pass over the body, decodes the fields the executor reads, and
 * keeps the byte ranges of the executionPayload object and the
 * executionRequests array, which newPayload sends as they came. It
 * accepts a strict subset of JSON (printable ASCII strings without
 * escapes, plain integers, no repeated key in any object, bounded depth)
 * in which json-c's reading and re-serialisation of a value spell the
 * same JSON value as its own bytes; anything else is declined, and the
 * caller takes the json-c path, which owns every error message.
 */

/* Keys kept per object to find a repeated one; more: declined. */
#define SCAN_MAX_KEYS 48

/* A string of printable ASCII without escapes: its text without quotes. */
static bool ps_string(struct bm_json_scan *s, struct bm_evm_span *out)
{
    const uint8_t *str;

    if (!bm_json_scan_string(s, &str, &out->len)) {
        return false;
    }
    out->p = (const char *)str;
    return true;
}

/* A key, once per object: keys[0..*nk) are the object's keys so far. */
static bool ps_key(struct bm_json_scan *s, struct bm_evm_span *keys, size_t *nk,
                   struct bm_evm_span *k)
{
    if (!ps_string(s, k) || !bm_json_scan_byte(s, ':') ||
        *nk == SCAN_MAX_KEYS) {
        return false;
    }
    for (size_t i = 0; i < *nk; i++) {
        if (keys[i].len == k->len && memcmp(keys[i].p, k->p, k->len) == 0) {
            return false;
        }
    }
    keys[(*nk)++] = *k;
    return true;
}

static bool key_is(const struct bm_evm_span *k, const char *name)
{
    size_t n = strlen(name);

    return k->len == n && memcmp(k->p, name, n) == 0;
}

/* Any value of the subset, depth levels of nesting left. */
static bool ps_value(struct bm_json_scan *s, int depth)
{
    struct bm_evm_span keys[SCAN_MAX_KEYS], k;
    size_t nk = 0;
    int64_t i;

    bm_json_scan_ws(s);
    if (s->p == s->end) {
        return false;
    }
    switch (*s->p) {
    case '"':
        return ps_string(s, &k);
    case 't':
        return bm_json_scan_word(s, "true", 4);
    case 'f':
        return bm_json_scan_word(s, "false", 5);
    case 'n':
        return bm_json_scan_word(s, "null", 4);
    case '[':
        if (depth == 0) {
            return false;
        }
        s->p++;
        if (bm_json_scan_byte(s, ']')) {
            return true;
        }
        do {
            if (!ps_value(s, depth - 1)) {
                return false;
            }
        } while (bm_json_scan_byte(s, ','));
        return bm_json_scan_byte(s, ']');
    case '{':
        if (depth == 0) {
            return false;
        }
        s->p++;
        if (bm_json_scan_byte(s, '}')) {
            return true;
        }
        do {
            if (!ps_key(s, keys, &nk, &k) || !ps_value(s, depth - 1)) {
                return false;
            }
        } while (bm_json_scan_byte(s, ','));
        return bm_json_scan_byte(s, '}');
    default:
        return bm_json_scan_int(s, &i);
    }
}

/* A "0x" string's digits, unchecked: every caller checks that each one
 * is a hex digit (which leaves no escape, control or non-ASCII byte), so
 * the closing quote is found with memchr and the digits read once. */
static bool ps_hex(struct bm_json_scan *s, struct bm_evm_span *d)
{
    const uint8_t *str;
    size_t len;

    if (!bm_json_scan_raw_string(s, &str, &len) || len < 2 ||
        str[0] != '0' || (str[1] != 'x' && str[1] != 'X')) {
        return false;
    }
    d->p = (const char *)str + 2;
    d->len = len - 2;
    return true;
}

static bool ps_quantity(struct bm_json_scan *s, uint64_t *out)
{
    struct bm_evm_span d;
    size_t bad = 0;

    return ps_hex(s, &d) && quantity_value(d.p, d.len, out, &bad) == 0;
}

static bool ps_hash(struct bm_json_scan *s, uint8_t out[BM_EVM_HASH_LEN])
{
    struct bm_evm_span d;

    return ps_hex(s, &d) && d.len == 2 * BM_EVM_HASH_LEN &&
           bm_hex_unhex(out, d.p, BM_EVM_HASH_LEN);
}

/* An array of at most max_n DATA strings of 1..max bytes; each one's
 * digits into (*v)[..] when v (grown here; the caller frees it). */
static bool ps_data_array(struct bm_json_scan *s, size_t max_n, size_t max,
                          struct bm_evm_span **v, size_t *n)
{
    size_t cap = 0;

    *n = 0;
    if (!bm_json_scan_byte(s, '[')) {
        return false;
    }
    if (bm_json_scan_byte(s, ']')) {
        return true;
    }
    do {
        struct bm_evm_span d;

        if (*n == max_n || !ps_hex(s, &d) || d.len == 0 || d.len % 2 != 0 ||
            d.len / 2 > max || !bm_hex_all_digits(d.p, d.len)) {
            return false;
        }
        if (v != NULL) {
            if (*n == cap) {
                size_t nc = cap == 0 ? 128 : cap * 2;
                struct bm_evm_span *nv;

                nv = bm_realloc(*v, nc * sizeof(*nv));
                if (nv == NULL) {
                    return false;
                }
                *v = nv;
                cap = nc;
            }
            (*v)[*n] = d;
        }
        (*n)++;
    } while (bm_json_scan_byte(s, ','));
    return bm_json_scan_byte(s, ']');
}

enum payload_field {
    PF_NUMBER = 1u << 0,
    PF_TIMESTAMP = 1u << 1,
    PF_GAS_LIMIT = 1u << 2,
    PF_BLOCK_HASH = 1u << 3,
    PF_PARENT_HASH = 1u << 4,
    PF_STATE_ROOT = 1u << 5,
    PF_TXS = 1u << 6,
    PF_ALL = (1u << 7) - 1,
};

/* The executionPayload object (depth: levels left below it). */
static bool ps_exec_payload(struct bm_json_scan *s, int depth,
                            struct bm_evm_payload *pl)
{
    struct bm_evm_span keys[SCAN_MAX_KEYS], k;
    size_t nk = 0;
    unsigned seen = 0;
    bool ok;

    bm_json_scan_ws(s);
    pl->payload.p = (const char *)s->p;
    if (!bm_json_scan_byte(s, '{') || bm_json_scan_byte(s, '}')) {
        return false;
    }
    do {
        unsigned bit = 0;

        if (!ps_key(s, keys, &nk, &k)) {
            return false;
        }
        if (key_is(&k, "blockNumber")) {
            bit = PF_NUMBER;
            ok = ps_quantity(s, &pl->number);
        } else if (key_is(&k, "timestamp")) {
            bit = PF_TIMESTAMP;
            ok = ps_quantity(s, &pl->timestamp);
        } else if (key_is(&k, "gasLimit")) {
            bit = PF_GAS_LIMIT;
            ok = ps_quantity(s, &pl->gas_limit);
        } else if (key_is(&k, "blockHash")) {
            bit = PF_BLOCK_HASH;
            ok = ps_hash(s, pl->block_hash);
        } else if (key_is(&k, "parentHash")) {
            bit = PF_PARENT_HASH;
            ok = ps_hash(s, pl->parent_hash);
        } else if (key_is(&k, "stateRoot")) {
            bit = PF_STATE_ROOT;
            ok = ps_hash(s, pl->state_root);
        } else if (key_is(&k, "transactions")) {
            bit = PF_TXS;
            ok = ps_data_array(s, BM_MAX_TXS, BM_MAX_TX_SIZE, &pl->txs,
                               &pl->n_txs);
        } else {
            ok = ps_value(s, depth - 1);
        }
        if (!ok) {
            return false;
        }
        seen |= bit;
    } while (bm_json_scan_byte(s, ','));
    if (!bm_json_scan_byte(s, '}') || seen != PF_ALL) {
        return false;
    }
    pl->payload.len = (size_t)((const char *)s->p - pl->payload.p);
    return pl->payload.len <= BM_EVM_MAX_PAYLOAD_TEXT;
}

/* The result object (depth: levels left below it). */
static bool ps_result(struct bm_json_scan *s, int depth,
                      struct bm_evm_payload *pl)
{
    struct bm_evm_span keys[SCAN_MAX_KEYS], k;
    size_t nk = 0, nr = 0;
    bool has_payload = false, ok;

    if (!bm_json_scan_byte(s, '{') || bm_json_scan_byte(s, '}')) {
        return false;
    }
    do {
        if (!ps_key(s, keys, &nk, &k)) {
            return false;
        }
        if (key_is(&k, "executionPayload")) {
            has_payload = true;
            ok = ps_exec_payload(s, depth - 1, pl);
        } else if (key_is(&k, "executionRequests")) {
            bm_json_scan_ws(s);
            pl->requests.p = (const char *)s->p;
            if (bm_json_scan_word(s, "null", 4)) {
                pl->requests.p = NULL;
                ok = true;
            } else {
                ok = ps_data_array(s, BM_EVM_MAX_REQUESTS,
                                   BM_EVM_MAX_REQUEST_BYTES, NULL, &nr);
                pl->requests.len =
                    (size_t)((const char *)s->p - pl->requests.p);
            }
        } else {
            ok = ps_value(s, depth - 1);
        }
        if (!ok) {
            return false;
        }
    } while (bm_json_scan_byte(s, ','));
    return bm_json_scan_byte(s, '}') && has_payload;
}

bool bm_evm_scan_payload(const char *body, size_t len, uint64_t want_id,
                         struct bm_evm_payload *out)
{
    struct bm_json_scan s = {(const uint8_t *)body,
                             (const uint8_t *)body + len};
    struct bm_evm_payload pl;
    struct bm_evm_span keys[SCAN_MAX_KEYS], k, v;
    size_t nk = 0;
    bool has_id = false, has_result = false, ok;
    int64_t id;

    memset(&pl, 0, sizeof(pl));
    if (body == NULL || len > INT32_MAX || !bm_json_scan_byte(&s, '{')) {
        return false;
    }
    do {
        if (!ps_key(&s, keys, &nk, &k)) {
            goto decline;
        }
        if (key_is(&k, "jsonrpc")) {
            ok = ps_string(&s, &v) && key_is(&v, "2.0");
        } else if (key_is(&k, "id")) {
            has_id = true;
            ok = bm_json_scan_int(&s, &id) && id >= 0 &&
                 (uint64_t)id == want_id;
        } else if (key_is(&k, "result")) {
            has_result = true;
            ok = ps_result(&s, BM_EVM_SCAN_DEPTH - 1, &pl);
        } else {
            ok = false; /* "error", or anything else */
        }
        if (!ok) {
            goto decline;
        }
    } while (bm_json_scan_byte(&s, ','));
    if (!bm_json_scan_byte(&s, '}') || !has_id || !has_result) {
        goto decline;
    }
    bm_json_scan_ws(&s);
    if (s.p != s.end) {
        goto decline;
    }
    bm_evm_payload_release(out);
    *out = pl;
    return true;
decline:
    bm_free(pl.txs);
    return false;
}

enum bm_err bm_evm_payload_decode(struct bm_evm_reply *r,
                                  struct bm_evm_payload *out, bool *scanned,
                                  struct bm_errmsg *em)
{
    char *body = r->body;
    size_t len = r->body_len;
    uint64_t id = r->id, ns = r->ns;
    bool sc = bm_evm_scan_payload(body, len, id, out);
    enum bm_err err;

    if (scanned != NULL) {
        *scanned = sc;
    }
    if (sc) {
        return BM_OK;
    }
    /* the body moves out of r while json-c parses it (the parse releases
     * r first) and back for the payload's borrowers */
    r->body = NULL;
    err = bm_evm_reply_parse(body, len, id, r, em);
    r->body = body;
    r->body_len = len;
    r->id = id;
    r->ns = ns;
    if (err == BM_OK) {
        err = bm_evm_dec_payload(r->result, out, em);
    }
    return err;
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
