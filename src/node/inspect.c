/*
 * `blockv2 inspect`: decode one header / envelope / data / state object
 * from a file or stdin and print it as one JSON object.
 */
#include "node/inspect.h"

#include <json-c/json.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "blockv2/buf.h"
#include "blockv2/types.h"
#include "node/cli.h"
#include "util/alloc.h"
#include "util/hex.h"
#include "util/utf8.h"

/* Largest hex text accepted with --hex (two digits per byte + spacing). */
#define HEX_INPUT_MAX ((size_t)BM_MAX_MESSAGE_SIZE * 2 + (1u << 20))

static const char *const type_names[] = {
    [BM_INSPECT_AUTO] = "auto",
    [BM_INSPECT_HEADER] = "header",
    [BM_INSPECT_ENVELOPE] = "envelope",
    [BM_INSPECT_SIGNED_DATA] = "signed-data",
    [BM_INSPECT_DATA] = "data",
    [BM_INSPECT_P2P_HEADER] = "p2p-header",
    [BM_INSPECT_P2P_DATA] = "p2p-data",
    [BM_INSPECT_STATE] = "state",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

enum bm_err bm_inspect_type_parse(const char *name, enum bm_inspect_type *out)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (enum bm_inspect_type)i;
            return BM_OK;
        }
    }
    return BM_EINVAL;
}

const char *bm_inspect_type_name(enum bm_inspect_type t)
{
    if ((size_t)t >= N_TYPES) {
        return "unknown";
    }
    return type_names[t];
}

/* ---- JSON building; any NULL from json-c marks the document failed ---- */

struct jctx {
    bool oom;
};

static void jadd(struct jctx *c, struct json_object *o, const char *key,
                 struct json_object *v)
{
    if (v == NULL) {
        c->oom = true;
        return;
    }
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        c->oom = true;
    }
}

/* Adds an explicit JSON null. */
static void jadd_null(struct jctx *c, struct json_object *o, const char *key)
{
    if (json_object_object_add(o, key, NULL) != 0) {
        c->oom = true;
    }
}

static struct json_object *jobj(struct jctx *c)
{
    struct json_object *o = json_object_new_object();
    if (o == NULL) {
        c->oom = true;
    }
    return o;
}

static struct json_object *jhex(const uint8_t *p, size_t n)
{
    struct json_object *o;
    char *s = bm_hex_dup(p, n);

    if (s == NULL) {
        return NULL;
    }
    o = json_object_new_string_len(s, (int)(2 * n));
    bm_free(s);
    return o;
}

static void jadd_hex(struct jctx *c, struct json_object *o, const char *key,
                     const uint8_t *p, size_t n)
{
    /* json-c string lengths are int; our fields are capped far below. */
    if (n > (size_t)BM_MAX_MESSAGE_SIZE) {
        c->oom = true;
        return;
    }
    jadd(c, o, key, jhex(p, n));
}

static void jadd_buf(struct jctx *c, struct json_object *o, const char *key,
                     const struct bm_buf *b)
{
    jadd_hex(c, o, key, b->ptr, b->len);
}

static void jadd_u64(struct jctx *c, struct json_object *o, const char *key,
                     uint64_t v)
{
    jadd(c, o, key, json_object_new_uint64(v));
}

static void jadd_bool_or_null(struct jctx *c, struct json_object *o,
                              const char *key, int v /* -1 null */)
{
    if (v < 0) {
        jadd_null(c, o, key);
    } else {
        jadd(c, o, key, json_object_new_boolean(v != 0));
    }
}

/* A string field: JSON string if valid UTF-8, else {"hex": "..."}. */
static void jadd_str(struct jctx *c, struct json_object *o, const char *key,
                     const char *s)
{
    size_t n = s == NULL ? 0 : strlen(s);

    if (n > (size_t)BM_MAX_MESSAGE_SIZE) {
        c->oom = true;
        return;
    }
    if (bm_utf8_valid((const uint8_t *)(s == NULL ? "" : s), n)) {
        jadd(c, o, key, json_object_new_string_len(s == NULL ? "" : s,
                                                   (int)n));
        return;
    }
    struct json_object *h = jobj(c);
    if (h == NULL) {
        return;
    }
    jadd_hex(c, h, "hex", (const uint8_t *)s, n);
    jadd(c, o, key, h);
}

static void jadd_version(struct jctx *c, struct json_object *o,
                         const struct bm_version *v)
{
    struct json_object *j = jobj(c);
    if (j == NULL) {
        return;
    }
    jadd_u64(c, j, "block", v->block);
    jadd_u64(c, j, "app", v->app);
    jadd(c, o, "version", j);
}

static struct json_object *header_json(struct jctx *c,
                                       const struct bm_header *h)
{
    struct json_object *o = jobj(c);
    if (o == NULL) {
        return NULL;
    }
    jadd_version(c, o, &h->version);
    jadd_u64(c, o, "height", h->height);
    jadd_u64(c, o, "time", h->time);
    jadd_buf(c, o, "last_header_hash", &h->last_header_hash);
    jadd_buf(c, o, "data_hash", &h->data_hash);
    jadd_buf(c, o, "app_hash", &h->app_hash);
    jadd_buf(c, o, "proposer_address", &h->proposer_address);
    jadd_buf(c, o, "validator_hash", &h->validator_hash);
    jadd_str(c, o, "chain_id", h->chain_id);
    if (h->legacy.present) {
        struct json_object *l = jobj(c);
        if (l != NULL) {
            jadd_buf(c, l, "last_commit_hash", &h->legacy.last_commit_hash);
            jadd_buf(c, l, "consensus_hash", &h->legacy.consensus_hash);
            jadd_buf(c, l, "last_results_hash",
                     &h->legacy.last_results_hash);
            jadd(c, o, "legacy", l);
        }
    }
    return o;
}

static struct json_object *signer_json(struct jctx *c,
                                       const struct bm_signer *s)
{
    struct json_object *o = jobj(c);
    if (o == NULL) {
        return NULL;
    }
    jadd_buf(c, o, "address", &s->address);
    if (s->has_pub_key) {
        jadd_hex(c, o, "pub_key", s->pub_key, BM_PUBKEY_SIZE);
    } else {
        jadd_null(c, o, "pub_key");
    }
    return o;
}

/* -1 when there is no key, else whether address == SHA-256(key). */
static int address_matches(const struct bm_signer *s)
{
    struct bm_hash a;

    if (!s->has_pub_key) {
        return -1;
    }
    bm_address_from_pubkey(s->pub_key, &a);
    return bm_buf_eq_raw(&s->address, a.b, sizeof(a.b)) ? 1 : 0;
}

static void add_hash(struct jctx *c, struct json_object *o, const char *key,
                     enum bm_err (*fn)(const void *, struct bm_hash *),
                     const void *arg)
{
    struct bm_hash h;

    if (fn(arg, &h) != BM_OK) {
        c->oom = true;
        return;
    }
    jadd_hex(c, o, key, h.b, sizeof(h.b));
}

static enum bm_err hash_header(const void *h, struct bm_hash *out)
{
    return bm_header_hash(h, out);
}

static enum bm_err hash_data(const void *d, struct bm_hash *out)
{
    return bm_data_hash(d, out);
}

static enum bm_err hash_da_commitment(const void *d, struct bm_hash *out)
{
    return bm_data_da_commitment(d, out);
}

static void describe_signed_header(struct jctx *c, struct json_object *o,
                                   const struct bm_signed_header *sh)
{
    int valid = -1;

    jadd(c, o, "header", header_json(c, &sh->header));
    jadd_buf(c, o, "signature", &sh->signature);
    jadd(c, o, "signer", signer_json(c, &sh->signer));
    add_hash(c, o, "hash", hash_header, &sh->header);
    if (sh->signature.len != 0) {
        valid = sh->signer.has_pub_key &&
                bm_signed_header_verify_signature(sh);
    }
    jadd_bool_or_null(c, o, "signature_valid", valid);
    jadd_bool_or_null(c, o, "address_matches_pubkey",
                      address_matches(&sh->signer));
    jadd_bool_or_null(c, o, "proposer_matches_signer",
                      bm_buf_eq(&sh->header.proposer_address,
                                &sh->signer.address));
}

static struct json_object *data_json(struct jctx *c, const struct bm_data *d)
{
    struct json_object *o = jobj(c), *txs;

    if (o == NULL) {
        return NULL;
    }
    if (d->has_metadata) {
        struct json_object *m = jobj(c);
        if (m != NULL) {
            jadd_str(c, m, "chain_id", d->metadata.chain_id);
            jadd_u64(c, m, "height", d->metadata.height);
            jadd_u64(c, m, "time", d->metadata.time);
            jadd_buf(c, m, "last_data_hash", &d->metadata.last_data_hash);
            jadd(c, o, "metadata", m);
        }
    } else {
        jadd_null(c, o, "metadata");
    }
    txs = json_object_new_array();
    if (txs == NULL) {
        c->oom = true;
        return o;
    }
    for (size_t i = 0; i < d->n_txs && !c->oom; i++) {
        struct json_object *t = jhex(d->txs[i].ptr, d->txs[i].len);
        if (t == NULL || json_object_array_add(txs, t) != 0) {
            json_object_put(t);
            c->oom = true;
        }
    }
    jadd(c, o, "txs", txs);
    return o;
}

static void describe_data(struct jctx *c, struct json_object *o,
                          const struct bm_data *d)
{
    jadd(c, o, "data", data_json(c, d));
    jadd_u64(c, o, "n_txs", d->n_txs);
    add_hash(c, o, "hash", hash_data, d);
    add_hash(c, o, "da_commitment", hash_da_commitment, d);
}

static void describe_state(struct jctx *c, struct json_object *o,
                           const struct bm_state *s)
{
    struct json_object *j = jobj(c), *t;

    if (j == NULL) {
        return;
    }
    jadd_version(c, j, &s->version);
    jadd_str(c, j, "chain_id", s->chain_id);
    jadd_u64(c, j, "initial_height", s->initial_height);
    jadd_u64(c, j, "last_block_height", s->last_block_height);
    t = jobj(c);
    if (t != NULL) {
        jadd(c, t, "seconds", json_object_new_int64(s->last_block_time.seconds));
        jadd(c, t, "nanos", json_object_new_int(s->last_block_time.nanos));
        jadd(c, j, "last_block_time", t);
    }
    jadd_u64(c, j, "da_height", s->da_height);
    jadd_buf(c, j, "app_hash", &s->app_hash);
    jadd_buf(c, j, "last_header_hash", &s->last_header_hash);
    jadd_buf(c, j, "next_proposer_address", &s->next_proposer_address);
    jadd(c, o, "state", j);
}

/* ---- auto detection: a shallow scan of the top-level fields ---- */

struct scan {
    uint32_t wt[16];  /* bit w set: field number i seen with wire type w */
    bool high_field;  /* a field number >= 16 */
};

static bool read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    uint64_t r = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*i >= n) {
            return false;
        }
        uint8_t b = p[(*i)++];
        if (shift == 63 && b > 1) {
            return false;
        }
        r |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* False if p is not a well-formed sequence of protobuf fields. */
static bool scan_fields(const uint8_t *p, size_t n, struct scan *s)
{
    size_t i = 0;

    memset(s, 0, sizeof(*s));
    while (i < n) {
        uint64_t key, v;
        if (!read_varint(p, n, &i, &key)) {
            return false;
        }
        uint64_t field = key >> 3;
        unsigned wt = (unsigned)(key & 7);
        if (field == 0) {
            return false;
        }
        switch (wt) {
        case 0:
            if (!read_varint(p, n, &i, &v)) {
                return false;
            }
            break;
        case 1:
            if (n - i < 8) {
                return false;
            }
            i += 8;
            break;
        case 2:
            if (!read_varint(p, n, &i, &v) || v > n - i) {
                return false;
            }
            i += (size_t)v;
            break;
        case 5:
            if (n - i < 4) {
                return false;
            }
            i += 4;
            break;
        default: /* groups and invalid wire types */
            return false;
        }
        if (field < 16) {
            s->wt[field] |= 1u << wt;
        } else {
            s->high_field = true;
        }
    }
    return true;
}

/* True if every field seen is in `allowed` (bit w of allowed[i]). */
static bool scan_only(const struct scan *s, const uint32_t allowed[16])
{
    if (s->high_field) {
        return false;
    }
    for (int i = 0; i < 16; i++) {
        if ((s->wt[i] & ~allowed[i]) != 0) {
            return false;
        }
    }
    return true;
}

#define WT_VARINT (1u << 0)
#define WT_LEN (1u << 2)

/* What the DA retriever accepts as a header: proposer and time set. */
static bool header_plausible(const struct bm_signed_header *sh)
{
    return sh->header.proposer_address.len != 0 && sh->header.time != 0;
}

/* ---- the decode-and-describe step per type ---- */

union decoded {
    struct bm_signed_header sh;
    struct bm_da_header_envelope env;
    struct bm_p2p_signed_header p2ph;
    struct bm_signed_data sd;
    struct bm_data d;
    struct bm_p2p_data p2pd;
    struct bm_state st;
};

static enum bm_err decode_as(enum bm_inspect_type t, union decoded *u,
                             const uint8_t *p, size_t n)
{
    memset(u, 0, sizeof(*u));
    switch (t) {
    case BM_INSPECT_HEADER:
        return bm_signed_header_decode(&u->sh, p, n);
    case BM_INSPECT_ENVELOPE:
        return bm_da_header_envelope_decode(&u->env, p, n);
    case BM_INSPECT_P2P_HEADER:
        return bm_p2p_signed_header_decode(&u->p2ph, p, n);
    case BM_INSPECT_SIGNED_DATA:
        return bm_signed_data_decode(&u->sd, p, n);
    case BM_INSPECT_DATA:
        return bm_data_decode(&u->d, p, n);
    case BM_INSPECT_P2P_DATA:
        return bm_p2p_data_decode(&u->p2pd, p, n);
    case BM_INSPECT_STATE:
        return bm_state_decode(&u->st, p, n);
    case BM_INSPECT_AUTO:
        break;
    }
    return BM_EINVAL;
}

static void release_as(enum bm_inspect_type t, union decoded *u)
{
    switch (t) {
    case BM_INSPECT_HEADER:
        bm_signed_header_release(&u->sh);
        break;
    case BM_INSPECT_ENVELOPE:
        bm_da_header_envelope_release(&u->env);
        break;
    case BM_INSPECT_P2P_HEADER:
        bm_p2p_signed_header_release(&u->p2ph);
        break;
    case BM_INSPECT_SIGNED_DATA:
        bm_signed_data_release(&u->sd);
        break;
    case BM_INSPECT_DATA:
        bm_data_release(&u->d);
        break;
    case BM_INSPECT_P2P_DATA:
        bm_p2p_data_release(&u->p2pd);
        break;
    case BM_INSPECT_STATE:
        bm_state_release(&u->st);
        break;
    case BM_INSPECT_AUTO:
        break;
    }
}

static const char *proto_name(enum bm_inspect_type t)
{
    switch (t) {
    case BM_INSPECT_HEADER:
        return "SignedHeader";
    case BM_INSPECT_ENVELOPE:
        return "DAHeaderEnvelope";
    case BM_INSPECT_P2P_HEADER:
        return "P2PSignedHeader";
    case BM_INSPECT_SIGNED_DATA:
        return "SignedData";
    case BM_INSPECT_DATA:
        return "Data";
    case BM_INSPECT_P2P_DATA:
        return "P2PData";
    case BM_INSPECT_STATE:
        return "State";
    case BM_INSPECT_AUTO:
        break;
    }
    return "?";
}

static void describe(struct jctx *c, struct json_object *o,
                     enum bm_inspect_type t, const union decoded *u)
{
    int valid;

    jadd(c, o, "type", json_object_new_string(bm_inspect_type_name(t)));
    switch (t) {
    case BM_INSPECT_HEADER:
        describe_signed_header(c, o, &u->sh);
        break;
    case BM_INSPECT_ENVELOPE:
        describe_signed_header(c, o, &u->env.sh);
        jadd_buf(c, o, "envelope_signature", &u->env.envelope_signature);
        valid = -1;
        if (u->env.envelope_signature.len != 0) {
            valid = u->env.sh.signer.has_pub_key &&
                    bm_da_header_envelope_verify_signature(&u->env);
        }
        jadd_bool_or_null(c, o, "envelope_signature_valid", valid);
        break;
    case BM_INSPECT_P2P_HEADER:
        describe_signed_header(c, o, &u->p2ph.sh);
        if (u->p2ph.has_da_height_hint) {
            jadd_u64(c, o, "da_height_hint", u->p2ph.da_height_hint);
        } else {
            jadd_null(c, o, "da_height_hint");
        }
        break;
    case BM_INSPECT_SIGNED_DATA:
        describe_data(c, o, &u->sd.data);
        jadd_buf(c, o, "signature", &u->sd.signature);
        jadd(c, o, "signer", signer_json(c, &u->sd.signer));
        valid = -1;
        if (u->sd.signature.len != 0) {
            valid = u->sd.signer.has_pub_key &&
                    bm_signed_data_verify_signature(&u->sd);
        }
        jadd_bool_or_null(c, o, "signature_valid", valid);
        jadd_bool_or_null(c, o, "address_matches_pubkey",
                          address_matches(&u->sd.signer));
        break;
    case BM_INSPECT_DATA:
        describe_data(c, o, &u->d);
        jadd_null(c, o, "signature_valid");
        break;
    case BM_INSPECT_P2P_DATA:
        describe_data(c, o, &u->p2pd.data);
        jadd_null(c, o, "signature_valid");
        if (u->p2pd.has_da_height_hint) {
            jadd_u64(c, o, "da_height_hint", u->p2pd.da_height_hint);
        } else {
            jadd_null(c, o, "da_height_hint");
        }
        break;
    case BM_INSPECT_STATE:
        describe_state(c, o, &u->st);
        jadd_null(c, o, "signature_valid");
        break;
    case BM_INSPECT_AUTO:
        break;
    }
}

/*
 * Guesses the type of p[0..n) and leaves it decoded in *u. Order follows a
 * DA retriever (header blob first, then data blob); state and bare data
 * are only accepted when every top-level field belongs to their schema,
 * because the decoders skip unknown fields.
 */
static enum bm_err detect(const uint8_t *p, size_t n, union decoded *u,
                          enum bm_inspect_type *t, char *why, size_t why_len)
{
    static const uint32_t state_fields[16] = {
        [1] = WT_LEN, [2] = WT_LEN, [3] = WT_VARINT, [4] = WT_VARINT,
        [5] = WT_LEN, [6] = WT_VARINT, [8] = WT_LEN, [9] = WT_LEN,
        [10] = WT_LEN,
    };
    static const uint32_t data_fields[16] = {
        [1] = WT_LEN, [2] = WT_LEN, [3] = WT_VARINT,
    };
    struct scan s;
    enum bm_err err;

    if (!scan_fields(p, n, &s)) {
        snprintf(why, why_len, "input is not a protobuf message");
        return BM_EDECODE;
    }
    if (s.wt[4] & WT_VARINT) {
        err = decode_as(BM_INSPECT_P2P_HEADER, u, p, n);
        if (err == BM_OK && header_plausible(&u->p2ph.sh)) {
            *t = BM_INSPECT_P2P_HEADER;
            return BM_OK;
        }
        release_as(BM_INSPECT_P2P_HEADER, u);
        if (err == BM_ENOMEM) {
            goto oom;
        }
    }
    err = decode_as(BM_INSPECT_ENVELOPE, u, p, n);
    if (err == BM_OK && header_plausible(&u->env.sh)) {
        if (u->env.envelope_signature.len != 0) {
            *t = BM_INSPECT_ENVELOPE;
            return BM_OK;
        }
        /* No field 4: a plain SignedHeader; decode it as one. */
        release_as(BM_INSPECT_ENVELOPE, u);
        *t = BM_INSPECT_HEADER;
        err = decode_as(BM_INSPECT_HEADER, u, p, n);
        if (err != BM_OK) {
            snprintf(why, why_len, "cannot decode as %s: %s (%s)",
                     proto_name(*t), bm_strerror(err), bm_err_name(err));
        }
        return err;
    }
    release_as(BM_INSPECT_ENVELOPE, u);
    if (err == BM_ENOMEM) {
        goto oom;
    }
    err = decode_as(BM_INSPECT_SIGNED_DATA, u, p, n);
    if (err == BM_OK && u->sd.signature.len != 0 &&
        u->sd.signer.has_pub_key) {
        *t = BM_INSPECT_SIGNED_DATA;
        return BM_OK;
    }
    release_as(BM_INSPECT_SIGNED_DATA, u);
    if (err == BM_ENOMEM) {
        goto oom;
    }
    if ((s.wt[5] & WT_LEN) && scan_only(&s, state_fields)) {
        err = decode_as(BM_INSPECT_STATE, u, p, n);
        if (err == BM_OK) {
            *t = BM_INSPECT_STATE;
            return BM_OK;
        }
        release_as(BM_INSPECT_STATE, u);
        if (err == BM_ENOMEM) {
            goto oom;
        }
    }
    if (scan_only(&s, data_fields)) {
        *t = (s.wt[3] & WT_VARINT) ? BM_INSPECT_P2P_DATA : BM_INSPECT_DATA;
        err = decode_as(*t, u, p, n);
        if (err == BM_OK) {
            return BM_OK;
        }
        snprintf(why, why_len, "cannot decode as %s: %s (%s)",
                 proto_name(*t), bm_strerror(err), bm_err_name(err));
        release_as(*t, u);
        return err;
    }
    snprintf(why, why_len,
             "input is not a header, envelope, signed data, state or data");
    return BM_EDECODE;
oom:
    snprintf(why, why_len, "out of memory");
    return BM_ENOMEM;
}

/* Serialises o into an owned bm_ string. */
static enum bm_err to_string(struct json_object *o, char **json)
{
    const char *s = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
               JSON_C_TO_STRING_NOSLASHESCAPE);

    *json = NULL;
    if (s == NULL) {
        return BM_ENOMEM;
    }
    *json = bm_strdup(s);
    return *json == NULL ? BM_ENOMEM : BM_OK;
}

static enum bm_err error_json(const char *msg, char **json)
{
    struct json_object *o = json_object_new_object();
    struct json_object *m = json_object_new_string(msg);
    enum bm_err err = BM_ENOMEM;

    *json = NULL;
    if (o != NULL && m != NULL && json_object_object_add(o, "error", m) == 0) {
        m = NULL;
        err = to_string(o, json);
    }
    json_object_put(m);
    json_object_put(o);
    return err;
}

enum bm_err bm_inspect_bytes(const uint8_t *p, size_t n,
                             enum bm_inspect_type type, char **json)
{
    union decoded u;
    struct jctx c = {false};
    struct json_object *o = NULL;
    char why[256];
    enum bm_err err;

    *json = NULL;
    memset(&u, 0, sizeof(u));
    if (n > BM_MAX_MESSAGE_SIZE) {
        snprintf(why, sizeof(why), "input: %zu bytes, above the %u byte cap",
                 n, (unsigned)BM_MAX_MESSAGE_SIZE);
        error_json(why, json);
        return BM_ETOOBIG;
    }
    if ((size_t)type >= N_TYPES) {
        error_json("unknown type", json);
        return BM_EINVAL;
    }
    err = bm_crypto_init();
    if (err != BM_OK) {
        error_json("cannot initialise libsodium", json);
        return err;
    }
    if (type == BM_INSPECT_AUTO) {
        err = detect(p, n, &u, &type, why, sizeof(why));
        if (err != BM_OK) {
            error_json(why, json);
            return err;
        }
    } else {
        err = decode_as(type, &u, p, n);
        if (err != BM_OK) {
            snprintf(why, sizeof(why), "cannot decode as %s: %s (%s)",
                     proto_name(type), bm_strerror(err), bm_err_name(err));
            error_json(why, json);
            return err;
        }
    }
    o = json_object_new_object();
    if (o == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    describe(&c, o, type, &u);
    if (c.oom) {
        err = BM_ENOMEM;
        goto out;
    }
    err = to_string(o, json);
out:
    json_object_put(o);
    release_as(type, &u);
    if (err == BM_ENOMEM && *json == NULL) {
        error_json("out of memory", json);
    }
    return err;
}

/* ---- the command line ---- */

static void usage(FILE *f)
{
    fputs("usage: blockv2 inspect [--type TYPE] [--hex] FILE|-\n"
          "\n"
          "Decodes one object and prints it as one JSON object.\n"
          "\n"
          "  --type TYPE  auto (default), header (SignedHeader), envelope\n"
          "               (DAHeaderEnvelope), signed-data, data (bare "
          "Data),\n"
          "               p2p-header, p2p-data, state\n"
          "  --hex        input is hex text (white space ignored, optional "
          "0x)\n"
          "  -h, --help   show this help\n"
          "\n"
          "Exit status: 0 decoded, 1 cannot read or decode, 2 bad usage.\n",
          f);
}

/* Reads all of f into *out, up to max bytes (BM_ETOOBIG beyond). */
static enum bm_err read_all(FILE *f, size_t max, struct bm_buf *out)
{
    struct bm_dynbuf d;
    uint8_t chunk[65536];
    enum bm_err err = BM_OK;

    bm_dynbuf_init(&d, max);
    for (;;) {
        size_t k = fread(chunk, 1, sizeof(chunk), f);
        if (k > 0) {
            err = bm_dynbuf_append(&d, chunk, k);
            if (err != BM_OK) {
                break;
            }
        }
        if (k < sizeof(chunk)) {
            if (ferror(f)) {
                err = BM_EIO;
            }
            break;
        }
    }
    if (err == BM_OK) {
        bm_dynbuf_detach(&d, out);
    }
    bm_dynbuf_release(&d);
    return err;
}

static bool is_space(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
           ch == '\v' || ch == '\f';
}

/* Replaces the hex text in *b by the bytes it encodes. */
static enum bm_err unhex(struct bm_buf *b, char *why, size_t why_len)
{
    size_t k = 0, start = 0;
    struct bm_buf raw = {0};
    enum bm_err err;

    for (size_t i = 0; i < b->len; i++) {
        if (!is_space(b->ptr[i])) {
            b->ptr[k++] = b->ptr[i];
        }
    }
    if (k >= 2 && b->ptr[0] == '0' && (b->ptr[1] == 'x' || b->ptr[1] == 'X')) {
        start = 2;
    }
    err = bm_hex_decode(&raw, (const char *)b->ptr + start, k - start);
    if (err != BM_OK) {
        snprintf(why, why_len, "--hex: input is not valid hex (%s)",
                 err == BM_EPARSE ? "odd length or a non-hex digit"
                                  : bm_strerror(err));
        return err;
    }
    bm_buf_release(b);
    *b = raw;
    return BM_OK;
}

static int print_error(const char *msg)
{
    char *json = NULL;

    if (error_json(msg, &json) == BM_OK) {
        printf("%s\n", json);
    } else {
        printf("{\"error\": \"out of memory\"}\n");
    }
    bm_free(json);
    return 1;
}

int bm_cli_inspect(int argc, char **argv)
{
    enum bm_inspect_type type = BM_INSPECT_AUTO;
    bool hex = false;
    const char *path = NULL;
    struct bm_buf in = {0};
    char why[512];
    char *json = NULL;
    FILE *f = NULL;
    enum bm_err err;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *tname = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--hex") == 0) {
            hex = true;
        } else if (strcmp(a, "--type") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "inspect: --type needs a value\n");
                usage(stderr);
                return 2;
            }
            tname = argv[++i];
        } else if (strncmp(a, "--type=", 7) == 0) {
            tname = a + 7;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "inspect: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (path == NULL) {
            path = a;
        } else {
            fprintf(stderr, "inspect: more than one input '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (tname != NULL && bm_inspect_type_parse(tname, &type) != BM_OK) {
            fprintf(stderr, "inspect: unknown type '%s'\n", tname);
            usage(stderr);
            return 2;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "inspect: missing FILE (use - for stdin)\n");
        usage(stderr);
        return 2;
    }

    if (strcmp(path, "-") == 0) {
        f = stdin;
    } else {
        f = fopen(path, "rb");
        if (f == NULL) {
            snprintf(why, sizeof(why), "cannot open '%s': %s", path,
                     strerror(errno));
            status = print_error(why);
            goto out;
        }
    }
    err = read_all(f, hex ? HEX_INPUT_MAX : BM_MAX_MESSAGE_SIZE, &in);
    if (err != BM_OK) {
        if (err == BM_ETOOBIG) {
            snprintf(why, sizeof(why), "input: larger than %zu bytes",
                     hex ? HEX_INPUT_MAX : (size_t)BM_MAX_MESSAGE_SIZE);
        } else {
            snprintf(why, sizeof(why), "cannot read '%s': %s", path,
                     bm_strerror(err));
        }
        status = print_error(why);
        goto out;
    }
    if (hex) {
        err = unhex(&in, why, sizeof(why));
        if (err != BM_OK) {
            status = print_error(why);
            goto out;
        }
    }
    err = bm_inspect_bytes(in.ptr, in.len, type, &json);
    if (json == NULL) {
        status = print_error("out of memory");
        goto out;
    }
    printf("%s\n", json);
    status = err == BM_OK ? 0 : 1;
out:
    if (f != NULL && f != stdin) {
        fclose(f);
    }
    bm_free(json);
    bm_buf_release(&in);
    if (fflush(stdout) != 0 && status == 0) {
        status = 1;
    }
    return status;
}
