/* The node's RPC server, see rpc.h and docs/OPERATIONS.md "RPC". */
#include "node/rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <sodium.h>

#include "actors/env.h"
#include "blockv2/actor.h"
#include "blockv2/da.h"
#include "blockv2/genesis.h"
#include "blockv2/ha.h"
#include "blockv2/ingest.h"
#include "blockv2/manager.h"
#include "blockv2/validate.h"
#include "exec/kv/ingress.h"
#include "node/listen.h"
#include "p2p/chainsync.h"
#include "node/ha_node.h"
#include "p2p/host.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/rfc3339.h"

#define JSON_DEPTH 8
/* Longest base64 text accepted for a 32-byte hash (44 with padding). */
#define HASH_B64_MAX 64u

static const char *const method_paths[BM_RPC_METHOD_COUNT] = {
    [BM_RPC_GET_BLOCK] = "/evnode.v1.StoreService/GetBlock",
    [BM_RPC_GET_STATE] = "/evnode.v1.StoreService/GetState",
    [BM_RPC_GET_METADATA] = "/evnode.v1.StoreService/GetMetadata",
    [BM_RPC_GET_GENESIS_DA_HEIGHT] =
        "/evnode.v1.StoreService/GetGenesisDaHeight",
    [BM_RPC_GET_NAMESPACE] = "/evnode.v1.ConfigService/GetNamespace",
    [BM_RPC_GET_SIGNER_INFO] = "/evnode.v1.ConfigService/GetSignerInfo",
    [BM_RPC_GET_P2P_STORE_INFO] = "/evnode.v1.StoreService/GetP2PStoreInfo",
    [BM_RPC_GET_PEER_INFO] = "/evnode.v1.P2PService/GetPeerInfo",
    [BM_RPC_GET_NET_INFO] = "/evnode.v1.P2PService/GetNetInfo",
};

struct conn;

/*
 * One event loop: a libmicrohttpd daemon in external epoll mode, run by
 * its own thread (loop_main), on a dup of the shared listening socket.
 * POST /tx completions (the ingest's writer thread) are handed to the
 * loop that owns the connection through done_head, and the loop is woken
 * once per group commit (tx_wake): the loop resumes the connections
 * itself, so a completion costs no system call and no wake-up of its
 * own (libmicrohttpd's own resume from another thread writes an eventfd
 * per connection and contends for the daemon's lock).
 */
struct rpc_loop {
    struct bm_rpc_server *srv;
    struct MHD_Daemon *mhd;
    int ep;   /* epoll: the daemon's epoll fd and wake */
    int wake; /* eventfd: completions waiting, or stop */
    pthread_t thread;
    bool running;
    atomic_bool stop;
    pthread_mutex_t mu;     /* done_head, wake_due */
    struct conn *done_head; /* completed POST /tx requests to resume */
    bool wake_due; /* done_head filled since the last wake */
};

struct bm_rpc_server {
    struct rpc_loop loops[BM_RPC_THREADS];
    unsigned n_loops; /* loops set up (loop_init) */
    struct bm_ingest *ingest; /* POST /tx group commit; NULL: no seq */
    struct bm_rpc_deps deps;
    uint16_t port;
    struct bm_buf signer;   /* copy of deps.signer_address */
    bool has_signer;
    char header_ns[2 * BM_DA_NS_LEN + 1];
    char data_ns[2 * BM_DA_NS_LEN + 1];
    unsigned max_conns;
    /* bm_rpc_stats (relaxed atomics, MHD threads write) */
    atomic_uint_least64_t connections;
    atomic_uint_least64_t connections_total;
    atomic_uint_least64_t requests;
    atomic_uint_least64_t timeouts;
    atomic_uint_least64_t rejected[BM_RPC_REJ_COUNT];
};

static const char *const reject_names[BM_RPC_REJ_COUNT] = {
    [BM_RPC_REJ_TOO_BIG] = "too_big",
    [BM_RPC_REJ_PARSE] = "parse",
    [BM_RPC_REJ_INVALID] = "invalid",
    [BM_RPC_REJ_NOT_FOUND] = "not_found",
    [BM_RPC_REJ_METHOD] = "method",
    [BM_RPC_REJ_MEDIA_TYPE] = "media_type",
    [BM_RPC_REJ_RATE_LIMITED] = "rate_limited",
    [BM_RPC_REJ_UNAVAILABLE] = "unavailable",
    [BM_RPC_REJ_ERROR] = "error",
};

const char *bm_rpc_reject_name(enum bm_rpc_reject r)
{
    return (unsigned)r < BM_RPC_REJ_COUNT ? reject_names[r] : "unknown";
}

/* ------------------------------------------------------------ parsing */

int bm_rpc_method_from_path(const char *path)
{
    for (int i = 0; i < BM_RPC_METHOD_COUNT; i++) {
        if (strcmp(path, method_paths[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *bm_rpc_method_path(enum bm_rpc_method m)
{
    return (unsigned)m < BM_RPC_METHOD_COUNT ? method_paths[m] : "";
}

/* protojson uint64: a decimal string or a non-negative integer. */
static enum bm_err json_u64(struct json_object *o, const char *field,
                            uint64_t *out, struct bm_errmsg *em)
{
    if (json_object_is_type(o, json_type_int)) {
        if (json_object_get_int64(o) < 0) {
            return bm_errf(em, BM_EINVAL, "%s: negative", field);
        }
        *out = json_object_get_uint64(o);
        return BM_OK;
    }
    if (json_object_is_type(o, json_type_string)) {
        const char *s = json_object_get_string(o);
        size_t n = (size_t)json_object_get_string_len(o);
        uint64_t v = 0;

        if (n == 0 || n > 20 || strspn(s, "0123456789") != n) {
            return bm_errf(em, BM_EINVAL, "%s: got '%.24s', want a decimal "
                           "uint64", field, s);
        }
        for (size_t i = 0; i < n; i++) {
            if (__builtin_mul_overflow(v, 10u, &v) ||
                __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v)) {
                return bm_errf(em, BM_EINVAL, "%s: above uint64", field);
            }
        }
        *out = v;
        return BM_OK;
    }
    return bm_errf(em, BM_EINVAL, "%s: want a uint64 (string or number)",
                   field);
}

/* protojson bytes: standard or URL-safe base64, padding optional. Decodes
 * exactly `want` bytes into out. */
static enum bm_err json_bytes_fixed(struct json_object *o, const char *field,
                                    uint8_t *out, size_t want,
                                    struct bm_errmsg *em)
{
    const char *s;
    size_t n;
    size_t got = 0;
    const char *end = NULL;
    int variant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    uint8_t tmp[HASH_B64_MAX];

    if (!json_object_is_type(o, json_type_string)) {
        return bm_errf(em, BM_EINVAL, "%s: want a base64 string", field);
    }
    s = json_object_get_string(o);
    n = (size_t)json_object_get_string_len(o);
    if (n > HASH_B64_MAX || want > sizeof(tmp)) {
        return bm_errf(em, BM_EINVAL, "%s: got %zu base64 chars, want %zu "
                       "bytes", field, n, want);
    }
    while (n > 0 && s[n - 1] == '=') {
        n--;
    }
    if (memchr(s, '-', n) != NULL || memchr(s, '_', n) != NULL) {
        variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    }
    if (sodium_base642bin(tmp, sizeof(tmp), s, n, NULL, &got, &end,
                          variant) != 0 ||
        end != s + n) {
        return bm_errf(em, BM_EINVAL, "%s: not valid base64", field);
    }
    if (got != want) {
        return bm_errf(em, BM_EINVAL, "%s: got %zu bytes, want %zu", field,
                       got, want);
    }
    memcpy(out, tmp, want);
    return BM_OK;
}

static enum bm_err parse_fields(enum bm_rpc_method m, struct json_object *root,
                                struct bm_rpc_request *out,
                                struct bm_errmsg *em)
{
    bool have_height = false;
    enum bm_err err;

    json_object_object_foreach(root, k, v)
    {
        if (v == NULL) {
            continue; /* protojson: null = field absent */
        }
        if (m == BM_RPC_GET_BLOCK && strcmp(k, "height") == 0) {
            err = json_u64(v, "height", &out->height, em);
            if (err) {
                return err;
            }
            have_height = true;
        } else if (m == BM_RPC_GET_BLOCK && strcmp(k, "hash") == 0) {
            err = json_bytes_fixed(v, "hash", out->hash.b, BM_HASH_SIZE, em);
            if (err) {
                return err;
            }
            out->by_hash = true;
        } else if (m == BM_RPC_GET_METADATA && strcmp(k, "key") == 0) {
            const char *s;
            size_t n;

            if (!json_object_is_type(v, json_type_string)) {
                return bm_errf(em, BM_EINVAL, "key: want a string");
            }
            s = json_object_get_string(v);
            n = (size_t)json_object_get_string_len(v);
            if (n == 0 || n > BM_STORE_MAX_META_NAME ||
                memchr(s, '\0', n) != NULL) {
                return bm_errf(em, BM_EINVAL, "key: got %zu bytes, want "
                               "1..%u without NUL", n,
                               BM_STORE_MAX_META_NAME);
            }
            memcpy(out->key, s, n);
            out->key[n] = '\0';
        } else {
            return bm_errf(em, BM_EINVAL, "%.64s: unknown field", k);
        }
    }
    if (have_height && out->by_hash) {
        return bm_errf(em, BM_EINVAL, "height, hash: want only one of them");
    }
    if (m == BM_RPC_GET_METADATA && out->key[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "key: required");
    }
    return BM_OK;
}

enum bm_err bm_rpc_parse_request(enum bm_rpc_method m, const uint8_t *body,
                                 size_t len, struct bm_rpc_request *out,
                                 struct bm_errmsg *em)
{
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    enum bm_err err = BM_OK;
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    out->method = m;
    if ((unsigned)m >= BM_RPC_METHOD_COUNT) {
        return bm_errf(em, BM_EINVAL, "method: unknown");
    }
    if (len > BM_RPC_MAX_BODY) {
        return bm_errf(em, BM_ETOOBIG, "body: %zu bytes, max %u", len,
                       BM_RPC_MAX_BODY);
    }
    if (len > 0 && body == NULL) {
        return bm_errf(em, BM_EINVAL, "body: NULL");
    }
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
                       body[i] == '\n')) {
        i++;
    }
    if (i == len) { /* empty body: {} */
        if (m == BM_RPC_GET_METADATA) {
            return bm_errf(em, BM_EINVAL, "key: required");
        }
        return BM_OK;
    }
    tok = json_tokener_new_ex(JSON_DEPTH);
    if (tok == NULL) {
        return BM_ENOMEM;
    }
    root = json_tokener_parse_ex(tok, (const char *)body, (int)len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success) {
        err = bm_errf(em, BM_EPARSE, "body: not one JSON value");
        goto out;
    }
    for (i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' &&
            body[i] != '\n') {
            err = bm_errf(em, BM_EPARSE, "body: trailing bytes after the "
                          "JSON value");
            goto out;
        }
    }
    if (!json_object_is_type(root, json_type_object)) {
        err = bm_errf(em, BM_EPARSE, "body: not a JSON object");
        goto out;
    }
    err = parse_fields(m, root, out, em);
out:
    if (err) {
        enum bm_rpc_method keep = out->method;

        memset(out, 0, sizeof(*out));
        out->method = keep;
    }
    json_object_put(root);
    json_tokener_free(tok);
    return err;
}

/* ------------------------------------------------------------ protojson */

static void add_str(struct json_object *o, const char *k, const char *s)
{
    if (s != NULL && s[0] != '\0') {
        json_object_object_add(o, k, json_object_new_string(s));
    }
}

/* uint64 as a decimal string; omitted when zero (proto3 default). */
static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
    char buf[24];

    if (v != 0) {
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        json_object_object_add(o, k, json_object_new_string(buf));
    }
}

/* Standard padded base64 of p[0:n]; omitted when empty. */
static void add_b64(struct json_object *o, const char *k, const uint8_t *p,
                    size_t n)
{
    size_t cap;
    char *s;

    if (n == 0) {
        return;
    }
    cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    s = bm_xmalloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_object_object_add(o, k, json_object_new_string(s));
    bm_free(s);
}

static void add_buf(struct json_object *o, const char *k,
                    const struct bm_buf *b)
{
    add_b64(o, k, b->ptr, b->len);
}

/* google.protobuf.Timestamp in protojson form: RFC 3339 UTC with 0, 3, 6
 * or 9 fraction digits. */
static void format_timestamp(int64_t sec, int32_t nanos,
                             char out[BM_RFC3339_MAX])
{
    size_t n = bm_rfc3339_format_utc9(sec, nanos, out);
    char *dot = strrchr(out, '.');
    size_t keep = 9;

    if (dot == NULL || n < 11) {
        return;
    }
    nanos = nanos % 1000000000;
    if (nanos < 0) {
        nanos += 1000000000;
    }
    if (nanos == 0) {
        keep = 0;
    } else if (nanos % 1000000 == 0) {
        keep = 3;
    } else if (nanos % 1000 == 0) {
        keep = 6;
    }
    if (keep == 0) {
        dot[0] = 'Z';
        dot[1] = '\0';
    } else {
        dot[1 + keep] = 'Z';
        dot[2 + keep] = '\0';
    }
}

static struct json_object *version_json(const struct bm_version *v)
{
    struct json_object *o = json_object_new_object();

    add_u64(o, "block", v->block);
    add_u64(o, "app", v->app);
    return o;
}

static struct json_object *header_json(const struct bm_header *h)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "version", version_json(&h->version));
    add_u64(o, "height", h->height);
    add_u64(o, "time", h->time);
    add_buf(o, "lastHeaderHash", &h->last_header_hash);
    add_buf(o, "dataHash", &h->data_hash);
    add_buf(o, "appHash", &h->app_hash);
    add_buf(o, "proposerAddress", &h->proposer_address);
    add_buf(o, "validatorHash", &h->validator_hash);
    add_str(o, "chainId", h->chain_id);
    return o;
}

static struct json_object *signer_json(const struct bm_signer *s)
{
    struct json_object *o = json_object_new_object();
    uint8_t pk[BM_LIBP2P_PUBKEY_SIZE];

    if (s->has_pub_key) {
        add_buf(o, "address", &s->address);
        bm_pubkey_libp2p_encode(s->pub_key, pk);
        add_b64(o, "pubKey", pk, sizeof(pk));
    }
    return o;
}

static struct json_object *signed_header_json(const struct bm_signed_header *sh)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "header", header_json(&sh->header));
    add_buf(o, "signature", &sh->signature);
    json_object_object_add(o, "signer", signer_json(&sh->signer));
    return o;
}

static struct json_object *data_json(const struct bm_data *d)
{
    struct json_object *o = json_object_new_object();

    if (d->has_metadata) {
        struct json_object *m = json_object_new_object();

        add_str(m, "chainId", d->metadata.chain_id);
        add_u64(m, "height", d->metadata.height);
        add_u64(m, "time", d->metadata.time);
        add_buf(m, "lastDataHash", &d->metadata.last_data_hash);
        json_object_object_add(o, "metadata", m);
    }
    if (d->n_txs > 0) {
        struct json_object *a = json_object_new_array_ext((int)d->n_txs);

        for (size_t i = 0; i < d->n_txs; i++) {
            size_t cap = sodium_base64_encoded_len(
                d->txs[i].len, sodium_base64_VARIANT_ORIGINAL);
            char *s = bm_xmalloc(cap);

            sodium_bin2base64(s, cap, d->txs[i].ptr, d->txs[i].len,
                              sodium_base64_VARIANT_ORIGINAL);
            json_object_array_add(a, json_object_new_string(s));
            bm_free(s);
        }
        json_object_object_add(o, "txs", a);
    }
    return o;
}

static struct json_object *state_json(const struct bm_state *st)
{
    struct json_object *o = json_object_new_object();
    char ts[BM_RFC3339_MAX];

    json_object_object_add(o, "version", version_json(&st->version));
    add_str(o, "chainId", st->chain_id);
    add_u64(o, "initialHeight", st->initial_height);
    add_u64(o, "lastBlockHeight", st->last_block_height);
    format_timestamp(st->last_block_time.seconds, st->last_block_time.nanos,
                     ts);
    json_object_object_add(o, "lastBlockTime", json_object_new_string(ts));
    add_u64(o, "daHeight", st->da_height);
    add_buf(o, "appHash", &st->app_hash);
    add_buf(o, "lastHeaderHash", &st->last_header_hash);
    add_buf(o, "nextProposerAddress", &st->next_proposer_address);
    return o;
}

/* ------------------------------------------------------------ replies */

struct reply {
    unsigned status;
    const char *content_type;
    struct bm_buf body;
    /* Set where the status alone does not say why (a parse error is a 400
     * like a bad field); otherwise the reason follows from the status. */
    bool parse_error;
};

static void reply_text(struct reply *r, unsigned status, const char *text)
{
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    bm_buf_release(&r->body);
    if (bm_buf_set(&r->body, (const uint8_t *)text, strlen(text)) != BM_OK) {
        r->status = 500;
    }
}

/* Takes the json object (put here). */
static void reply_json(struct reply *r, unsigned status,
                       struct json_object *o)
{
    const char *s = o ? json_object_to_json_string_ext(
                            o, JSON_C_TO_STRING_PLAIN |
                                   JSON_C_TO_STRING_NOSLASHESCAPE)
                      : NULL;

    bm_buf_release(&r->body);
    r->content_type = "application/json";
    r->status = status;
    if (s == NULL ||
        bm_buf_set(&r->body, (const uint8_t *)s, strlen(s)) != BM_OK) {
        r->status = 500;
    }
    json_object_put(o);
}

/* Connect error codes and their HTTP status. */
static unsigned connect_status(const char *code)
{
    static const struct {
        const char *code;
        unsigned status;
    } tab[] = {
        {"invalid_argument", 400}, {"not_found", 404},
        {"unimplemented", 404},    {"internal", 500},
        {"unavailable", 503},      {"resource_exhausted", 413},
        {"unknown", 500},
    };

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(code, tab[i].code) == 0) {
            return tab[i].status;
        }
    }
    return 500;
}

static void reply_connect_error(struct reply *r, const char *code,
                                const char *msg)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "code", json_object_new_string(code));
    json_object_object_add(o, "message", json_object_new_string(msg));
    reply_json(r, connect_status(code), o);
}

/* Maps a store/decode error to a Connect error reply. */
static void reply_store_error(struct reply *r, enum bm_err err,
                              const struct bm_errmsg *em, const char *what)
{
    char msg[600];

    snprintf(msg, sizeof(msg), "%s: %s", what, bm_errmsg_str(em, err));
    if (err == BM_ENOTFOUND) {
        reply_connect_error(r, "not_found", msg);
    } else if (err == BM_EINVAL) {
        reply_connect_error(r, "invalid_argument", msg);
    } else {
        bm_log_warn("rpc", "%s failed err=%s", what, bm_err_name(err));
        reply_connect_error(r, "internal", msg);
    }
}

/* ------------------------------------------------------------ Connect */

static void get_block(struct bm_rpc_server *s, const struct bm_rpc_request *q,
                      struct reply *r)
{
    struct bm_store *st = s->deps.store;
    struct bm_store_blockbuf bb = {0};
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};
    struct bm_errmsg em = {{0}};
    struct json_object *o = NULL;
    struct json_object *blk;
    uint64_t height = q->height;
    uint64_t dah;
    char name[64];
    enum bm_err err;

    if (q->by_hash) {
        err = bm_store_get_block_by_hash(st, &q->hash, &bb, &em);
    } else {
        if (height == 0) {
            err = bm_store_height(st, &height, &em);
            if (err == BM_OK && height == 0) {
                err = BM_ENOTFOUND;
            }
            if (err == BM_ENOTFOUND) {
                reply_connect_error(r, "not_found", "store is empty, no "
                                    "latest block available");
                return;
            }
            if (err) {
                reply_store_error(r, err, &em, "height");
                return;
            }
        }
        err = bm_store_get_block(st, height, &bb, &em);
    }
    if (err == BM_ENOTFOUND) {
        reply_connect_error(r, "not_found", "block not found");
        return;
    }
    if (err) {
        reply_store_error(r, err, &em, "block");
        return;
    }
    err = bm_signed_header_decode(&sh, bb.header.ptr, bb.header.len);
    if (err == BM_OK) {
        err = bm_data_decode(&d, bb.data.ptr, bb.data.len);
    }
    if (err) {
        char msg[128];

        snprintf(msg, sizeof(msg), "stored block %" PRIu64 " does not "
                 "decode: %s", bb.height, bm_err_name(err));
        bm_log_warn("rpc", "stored block does not decode height=%" PRIu64
                    " err=%s", bb.height, bm_err_name(err));
        reply_connect_error(r, "internal", msg);
        goto out;
    }
    o = json_object_new_object();
    blk = json_object_new_object();
    json_object_object_add(blk, "header", signed_header_json(&sh));
    json_object_object_add(blk, "data", data_json(&d));
    json_object_object_add(o, "block", blk);
    height = sh.header.height;
    if (height > 0) {
        bm_meta_rhb_name(name, sizeof(name), height, 'h');
        if (bm_meta_get_u64(st, name, &dah, NULL) == BM_OK) {
            add_u64(o, "headerDaHeight", dah);
        }
        bm_meta_rhb_name(name, sizeof(name), height, 'd');
        if (bm_meta_get_u64(st, name, &dah, NULL) == BM_OK) {
            add_u64(o, "dataDaHeight", dah);
        }
    }
    reply_json(r, 200, o);
out:
    bm_signed_header_release(&sh);
    bm_data_release(&d);
    bm_store_blockbuf_release(&bb);
}

/* Latest state: from the manager when running, else from the store. */
static enum bm_err load_state(struct bm_rpc_server *s, struct bm_state *out,
                              struct bm_errmsg *em)
{
    struct bm_buf b = {0};
    enum bm_err err;

    if (s->deps.manager != NULL) {
        err = bm_manager_get_last_state(s->deps.manager, out);
        if (err == BM_OK) {
            return BM_OK;
        }
    }
    err = bm_store_get_latest_state(s->deps.store, NULL, &b, em);
    if (err == BM_OK) {
        bm_state_release(out);
        err = bm_state_decode(out, b.ptr, b.len);
        if (err) {
            bm_errf(em, BM_ECORRUPT, "stored state does not decode: %s",
                    bm_err_name(err));
            err = BM_ECORRUPT;
        }
    }
    bm_buf_release(&b);
    return err;
}

static void get_state(struct bm_rpc_server *s, struct reply *r)
{
    struct bm_state st = {0};
    struct bm_errmsg em = {{0}};
    struct json_object *o;
    enum bm_err err = load_state(s, &st, &em);

    if (err) {
        reply_store_error(r, err, &em, "state");
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "state", state_json(&st));
    reply_json(r, 200, o);
    bm_state_release(&st);
}

static void get_metadata(struct bm_rpc_server *s,
                         const struct bm_rpc_request *q, struct reply *r)
{
    struct bm_buf v = {0};
    struct bm_errmsg em = {{0}};
    struct json_object *o;
    enum bm_err err = bm_store_get_meta(s->deps.store, q->key, &v, &em);

    if (err) {
        reply_store_error(r, err, &em, "metadata");
        return;
    }
    o = json_object_new_object();
    add_buf(o, "value", &v);
    reply_json(r, 200, o);
    bm_buf_release(&v);
}

static void get_genesis_da_height(struct bm_rpc_server *s, struct reply *r)
{
    struct bm_buf v = {0};
    struct bm_errmsg em = {{0}};
    struct json_object *o;
    enum bm_err err;

    err = bm_store_get_meta(s->deps.store, BM_META_GENESIS_DA_HEIGHT, &v,
                            &em);
    if (err) {
        reply_store_error(r, err, &em, "genesis DA height");
        return;
    }
    if (v.len != 8) {
        reply_connect_error(r, "not_found", "invalid metadata value");
        bm_buf_release(&v);
        return;
    }
    o = json_object_new_object();
    add_u64(o, "height", bm_get_le64(v.ptr));
    reply_json(r, 200, o);
    bm_buf_release(&v);
}

static void get_namespace(struct bm_rpc_server *s, struct reply *r)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "headerNamespace",
                           json_object_new_string(s->header_ns));
    json_object_object_add(o, "dataNamespace",
                           json_object_new_string(s->data_ns));
    reply_json(r, 200, o);
}

static void get_signer_info(struct bm_rpc_server *s, struct reply *r)
{
    struct json_object *o;

    if (!s->has_signer) {
        reply_connect_error(r, "unavailable",
                            "sequencer signer not available");
        return;
    }
    o = json_object_new_object();
    add_buf(o, "address", &s->signer);
    reply_json(r, 200, o);
}

/* ------------------------------------------------ P2P (ev-node shapes) */

/* P2PStoreEntry {height, hash, time}. */
static struct json_object *store_entry_json(uint64_t height,
                                            const struct bm_hash *hash,
                                            uint64_t time_ns)
{
    struct json_object *o = json_object_new_object();
    char ts[BM_RFC3339_MAX];

    add_u64(o, "height", height);
    add_b64(o, "hash", hash->b, BM_HASH_SIZE);
    if (time_ns != 0) {
        format_timestamp((int64_t)(time_ns / 1000000000u),
                         (int32_t)(time_ns % 1000000000u), ts);
        json_object_object_add(o, "time", json_object_new_string(ts));
    }
    return o;
}

/* The identity of stored block h as a header or data entry. */
static bool stored_entry(struct bm_store *st, uint64_t h, bool data,
                         struct bm_hash *hash, uint64_t *time_ns)
{
    struct bm_store_blockbuf b = {0};
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};
    bool ok = false;

    if (bm_store_get_block(st, h, &b, NULL) != BM_OK) {
        return false;
    }
    if (!data && bm_signed_header_decode(&sh, b.header.ptr, b.header.len) ==
                     BM_OK &&
        bm_header_hash(&sh.header, hash) == BM_OK) {
        *time_ns = sh.header.time;
        ok = true;
    } else if (data && bm_data_decode(&d, b.data.ptr, b.data.len) == BM_OK &&
               bm_data_hash(&d, hash) == BM_OK) {
        *time_ns = d.has_metadata ? d.metadata.time : 0;
        ok = true;
    }
    bm_signed_header_release(&sh);
    bm_data_release(&d);
    bm_store_blockbuf_release(&b);
    return ok;
}

/*
 * One P2PStoreSnapshot. blockv2's P2P store is the block store plus the
 * verified items above it (docs/P2P-SYNC.md): height is the higher of the
 * store height and the best height P2P has seen, head the entry there,
 * tail the first stored block (else the lowest item held).
 */
static struct json_object *store_snapshot_json(struct bm_rpc_server *s,
                                               enum bm_chainsync_net which,
                                               const char *label)
{
    struct bm_p2pstore_info info;
    struct json_object *o = json_object_new_object();
    struct bm_store *st = s->deps.store;
    bool data = which == BM_CS_DATA;
    uint64_t local = 0, t = 0;
    struct bm_hash hash;
    struct bm_buf raw = {0};

    bm_p2pstore_info(bm_chainsync_store(s->deps.sync, which), &info);
    (void)bm_store_height(st, &local, NULL);
    add_str(o, "label", label);
    if (info.has_head && info.height > local) {
        add_u64(o, "height", info.height);
        json_object_object_add(o, "head",
                               store_entry_json(info.head.height,
                                                &info.head.hash,
                                                info.head.time_ns));
    } else if (local > 0 && stored_entry(st, local, data, &hash, &t)) {
        add_u64(o, "height", local);
        json_object_object_add(o, "head", store_entry_json(local, &hash, t));
    }
    if (s->deps.genesis != NULL && local >= s->deps.genesis->initial_height &&
        stored_entry(st, s->deps.genesis->initial_height, data, &hash, &t)) {
        json_object_object_add(o, "tail",
                               store_entry_json(
                                   s->deps.genesis->initial_height, &hash, t));
    } else if (info.lowest != 0 &&
               bm_p2pstore_get(bm_chainsync_store(s->deps.sync, which),
                               info.lowest, &raw) == BM_OK) {
        struct bm_p2p_signed_header ph = {0};
        struct bm_p2p_data pd = {0};

        if (!data &&
            bm_p2p_signed_header_decode(&ph, raw.ptr, raw.len) == BM_OK &&
            bm_header_hash(&ph.sh.header, &hash) == BM_OK) {
            json_object_object_add(o, "tail",
                                   store_entry_json(info.lowest, &hash,
                                                    ph.sh.header.time));
        } else if (data &&
                   bm_p2p_data_decode(&pd, raw.ptr, raw.len) == BM_OK &&
                   bm_data_hash(&pd.data, &hash) == BM_OK) {
            json_object_object_add(o, "tail",
                                   store_entry_json(info.lowest, &hash,
                                                    pd.data.metadata.time));
        }
        bm_p2p_signed_header_release(&ph);
        bm_p2p_data_release(&pd);
    }
    bm_buf_release(&raw);
    return o;
}

static void get_p2p_store_info(struct bm_rpc_server *s, struct reply *r)
{
    struct json_object *o = json_object_new_object();
    struct json_object *a;

    if (s->deps.sync != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, store_snapshot_json(s, BM_CS_HEADERS,
                                                     "Header Store"));
        json_object_array_add(a, store_snapshot_json(s, BM_CS_DATA,
                                                     "Data Store"));
        json_object_object_add(o, "stores", a);
    }
    reply_json(r, 200, o);
}

/* PeerInfo.address as ev-node writes it (libp2p AddrInfo.String()):
 * "{<id>: [<multiaddr>]}". */
static void get_peer_info(struct bm_rpc_server *s, struct reply *r)
{
    struct json_object *o = json_object_new_object();
    struct bm_p2p_peer_info *pi = NULL;
    char id[BM_PEER_ID_STR_SIZE];
    char addr[BM_PEER_ID_STR_SIZE + BM_MULTIADDR_STR_SIZE + 8];
    size_t n = 0;

    if (s->deps.p2p != NULL &&
        bm_p2p_host_peers(s->deps.p2p, &pi, &n) == BM_OK && n > 0) {
        struct json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_new_object();

            bm_peer_id_format(&pi[i].peer, id);
            snprintf(addr, sizeof(addr), "{%s: [%s]}", id, pi[i].addr);
            add_str(e, "id", id);
            add_str(e, "address", addr);
            json_object_array_add(a, e);
        }
        json_object_object_add(o, "peers", a);
    }
    bm_free(pi);
    reply_json(r, 200, o);
}

/* NetInfo: our ID, listen addresses with /p2p/<id>, connected peers. */
static void get_net_info(struct bm_rpc_server *s, struct reply *r)
{
    struct bm_p2p_host *h = s->deps.p2p;
    struct bm_multiaddr addrs[BM_P2P_MAX_LISTEN];
    struct bm_p2p_peer_info *pi = NULL;
    struct json_object *o, *ni, *a;
    char id[BM_PEER_ID_STR_SIZE];
    char text[BM_MULTIADDR_STR_SIZE];
    size_t n = 0, n_addrs;

    if (h == NULL) {
        reply_connect_error(r, "unavailable", "P2P is not running "
                            "(p2p.listen_address and p2p.peers are empty)");
        return;
    }
    o = json_object_new_object();
    ni = json_object_new_object();
    bm_peer_id_format(bm_p2p_host_id(h), id);
    add_str(ni, "id", id);
    n_addrs = bm_p2p_host_listen_addrs(h, addrs, BM_P2P_MAX_LISTEN);
    if (n_addrs > 0) {
        a = json_object_new_array();
        for (size_t i = 0; i < n_addrs; i++) {
            addrs[i].has_peer = true;
            addrs[i].peer = *bm_p2p_host_id(h);
            bm_multiaddr_format(&addrs[i], text);
            json_object_array_add(a, json_object_new_string(text));
        }
        json_object_object_add(ni, "listenAddresses", a);
    }
    if (bm_p2p_host_peers(h, &pi, &n) == BM_OK && n > 0) {
        a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            bm_peer_id_format(&pi[i].peer, id);
            json_object_array_add(a, json_object_new_string(id));
        }
        json_object_object_add(ni, "connectedPeers", a);
    }
    bm_free(pi);
    json_object_object_add(o, "netInfo", ni);
    reply_json(r, 200, o);
}

static bool is_json_type(const char *ct)
{
    size_t n = strlen("application/json");

    if (ct == NULL || strncasecmp(ct, "application/json", n) != 0) {
        return false;
    }
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static void handle_connect(struct bm_rpc_server *s, int method,
                           const char *http_method, const char *ct,
                           const struct bm_dynbuf *body, struct reply *r)
{
    struct bm_rpc_request q;
    struct bm_errmsg em = {{0}};
    enum bm_err err;

    if (strcmp(http_method, MHD_HTTP_METHOD_POST) != 0) {
        reply_connect_error(r, "unimplemented", "use POST");
        r->status = 405;
        return;
    }
    if (!is_json_type(ct)) {
        reply_connect_error(r, "unimplemented", "content type: want "
                            "application/json (the proto codec is not "
                            "served)");
        r->status = 415;
        return;
    }
    err = bm_rpc_parse_request((enum bm_rpc_method)method, body->ptr,
                               body->len, &q, &em);
    if (err == BM_ETOOBIG) {
        reply_connect_error(r, "resource_exhausted", bm_errmsg_str(&em, err));
        return;
    }
    if (err) {
        reply_connect_error(r, "invalid_argument", bm_errmsg_str(&em, err));
        r->parse_error = err == BM_EPARSE;
        return;
    }
    switch (q.method) {
    case BM_RPC_GET_BLOCK:
        get_block(s, &q, r);
        break;
    case BM_RPC_GET_STATE:
        get_state(s, r);
        break;
    case BM_RPC_GET_METADATA:
        get_metadata(s, &q, r);
        break;
    case BM_RPC_GET_GENESIS_DA_HEIGHT:
        get_genesis_da_height(s, r);
        break;
    case BM_RPC_GET_NAMESPACE:
        get_namespace(s, r);
        break;
    case BM_RPC_GET_SIGNER_INFO:
        get_signer_info(s, r);
        break;
    case BM_RPC_GET_P2P_STORE_INFO:
        get_p2p_store_info(s, r);
        break;
    case BM_RPC_GET_PEER_INFO:
        get_peer_info(s, r);
        break;
    case BM_RPC_GET_NET_INFO:
        get_net_info(s, r);
        break;
    case BM_RPC_METHOD_COUNT:
        reply_connect_error(r, "unimplemented", "no such method");
        break;
    }
}

/* ------------------------------------------------------------ health */

static void health_live(struct bm_rpc_server *s, struct reply *r)
{
    uint64_t h;
    enum bm_err err = bm_store_height(s->deps.store, &h, NULL);

    if (err == BM_OK || err == BM_ENOTFOUND) {
        reply_text(r, 200, "OK\n");
    } else {
        bm_log_warn("rpc", "liveness check failed: cannot read the store "
                    "err=%s", bm_err_name(err));
        reply_text(r, 503, "FAIL\n");
    }
}

static uint64_t state_time_ns(const struct bm_state *st)
{
    if (st->last_block_time.seconds < 0) {
        return 0;
    }
    return (uint64_t)st->last_block_time.seconds * 1000000000ull +
           (uint64_t)st->last_block_time.nanos;
}

static void health_ready(struct bm_rpc_server *s, struct reply *r)
{
    const struct bm_rpc_deps *d = &s->deps;
    struct bm_state st = {0};
    struct bm_errmsg em = {{0}};
    uint64_t local;
    uint64_t best;
    uint64_t max_delay_ms;
    uint64_t now;
    uint64_t last;
    struct bm_ha_status ha = {0};
    bool producer = d->aggregator;

    /* HA (docs/HA.md): only the leader is judged as an aggregator; a
     * candidate that does not lead is judged as a full node. */
    if (d->ha != NULL) {
        bm_ha_status(d->ha, &ha);
        producer = d->aggregator && ha.role == BM_HA_LEADER;
    }
    /* Not in ev-node: a manager that stopped on a fatal error. */
    if (d->manager != NULL &&
        bm_manager_wait(d->manager, 0, &em) != BM_ETIMEDOUT) {
        reply_text(r, 503, "UNREADY: block manager stopped\n");
        return;
    }
    /* ev-node's P2P rule: a follower with P2P needs a peer. */
    if (d->p2p != NULL && !producer) {
        struct bm_p2p_stats ps;

        bm_p2p_host_stats(d->p2p, &ps);
        if (ps.peers == 0) {
            reply_text(r, 503, "UNREADY: no peers connected\n");
            return;
        }
    }
    if (load_state(s, &st, &em) != BM_OK) {
        reply_text(r, 503, "UNREADY: state unavailable\n");
        return;
    }
    local = st.last_block_height;
    last = state_time_ns(&st);
    bm_state_release(&st);
    if (local == 0) {
        reply_text(r, 503, "UNREADY: no blocks yet\n");
        return;
    }
    if (producer) {
        if (d->lazy_mode) {
            max_delay_ms = 2 * (d->lazy_block_interval_ms
                                    ? d->lazy_block_interval_ms
                                    : 60000);
        } else {
            max_delay_ms = 5 * (d->block_time_ms ? d->block_time_ms : 1000);
        }
        now = bm_validate_now_ns();
        if (now > last && (now - last) / 1000000u > max_delay_ms) {
            reply_text(r, 503, "UNREADY: aggregator not producing blocks at "
                       "expected rate\n");
            return;
        }
    }
    best = d->best_known_height != NULL ? d->best_known_height(
                                              d->best_known_ctx)
                                        : local;
    if (best == 0) {
        reply_text(r, 503, "UNREADY: best-known height unknown\n");
        return;
    }
    if (best > local && best - local > d->readiness_max_blocks_behind) {
        reply_text(r, 503, "UNREADY: behind best-known head\n");
        return;
    }
    /* A leader produces only on top of the replicated block. */
    if (producer && d->ha != NULL && ha.replicated_known &&
        ha.replicated_height > local) {
        reply_text(r, 503, "UNREADY: ha: store behind the replicated "
                           "height\n");
        return;
    }
    /* A follower: its lag behind the record (read every TTL/3). */
    if (!producer && d->ha != NULL && ha.replicated_known &&
        ha.replicated_height > local &&
        ha.replicated_height - local > d->readiness_max_blocks_behind) {
        reply_text(r, 503, "UNREADY: ha: follower behind the replicated "
                           "height\n");
        return;
    }
    reply_text(r, 200, "READY\n");
}

/* ------------------------------------------------------------ status */

static const char *breaker_name(int state)
{
    switch (state) {
    case 0:
        return "closed";
    case 1:
        return "open";
    case 2:
        return "half-open";
    default:
        return "unknown";
    }
}

static void hex_field(struct json_object *o, const char *k,
                      const uint8_t *p, size_t n)
{
    char *hex = bm_hex_dup(p, n);

    json_object_object_add(o, k, json_object_new_string(hex ? hex : ""));
    bm_free(hex);
}

static struct json_object *actors_json(struct bm_manager *m)
{
    struct json_object *a = json_object_new_array();
    struct bm_actor_system *sys = m ? bm_manager_actor_system(m) : NULL;
    struct bm_actor_stats *st = NULL;
    size_t n = 0;

    if (sys == NULL || bm_actor_snapshot(sys, &st, &n) != BM_OK) {
        return a;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "name", json_object_new_string(st[i].name));
        json_object_object_add(o, "type", json_object_new_string(st[i].type));
        json_object_object_add(o, "depth",
                               json_object_new_uint64(st[i].depth));
        json_object_object_add(o, "capacity",
                               json_object_new_uint64(st[i].capacity));
        json_object_object_add(o, "handled",
                               json_object_new_uint64(st[i].handled));
        json_object_object_add(o, "rejected_full",
                               json_object_new_uint64(st[i].rejected_full));
        json_object_object_add(o, "rejected_invalid",
                               json_object_new_uint64(
                                   st[i].rejected_invalid));
        json_object_object_add(o, "dropped",
                               json_object_new_uint64(st[i].dropped));
        json_object_object_add(o, "restarts",
                               json_object_new_uint64(st[i].restarts));
        json_object_object_add(o, "failures",
                               json_object_new_uint64(st[i].failures));
        json_object_array_add(a, o);
    }
    bm_free(st);
    return a;
}

/* "peers": how many; "p2p": our ID, listen addresses, the peers and the
 * P2P stores' heights. */
static void p2p_status(struct json_object *o, struct bm_p2p_host *h,
                       struct bm_chainsync *sync, uint64_t local)
{
    struct bm_p2p_peer_info *pi = NULL;
    struct bm_multiaddr addrs[BM_P2P_MAX_LISTEN];
    struct json_object *p, *a;
    char text[BM_MULTIADDR_STR_SIZE];
    char id[BM_PEER_ID_STR_SIZE];
    size_t n = 0, n_addrs;

    if (h == NULL || bm_p2p_host_peers(h, &pi, &n) != BM_OK) {
        json_object_object_add(o, "peers", json_object_new_int(0));
        return;
    }
    json_object_object_add(o, "peers", json_object_new_uint64(n));
    p = json_object_new_object();
    bm_peer_id_format(bm_p2p_host_id(h), id);
    json_object_object_add(p, "peer_id", json_object_new_string(id));
    a = json_object_new_array();
    n_addrs = bm_p2p_host_listen_addrs(h, addrs, BM_P2P_MAX_LISTEN);
    for (size_t i = 0; i < n_addrs; i++) {
        bm_multiaddr_format(&addrs[i], text);
        json_object_array_add(a, json_object_new_string(text));
    }
    json_object_object_add(p, "listen_addrs", a);
    a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_new_object();

        bm_peer_id_format(&pi[i].peer, id);
        json_object_object_add(e, "peer_id", json_object_new_string(id));
        json_object_object_add(e, "addr", json_object_new_string(pi[i].addr));
        json_object_object_add(e, "direction",
                               json_object_new_string(pi[i].inbound
                                                          ? "inbound"
                                                          : "outbound"));
        json_object_object_add(e, "connections",
                               json_object_new_uint64(pi[i].connections));
        json_object_array_add(a, e);
    }
    json_object_object_add(p, "peers", a);
    if (sync != NULL) {
        /* As GetP2PStoreInfo: the block store plus what P2P has seen. */
        uint64_t hh = bm_p2pstore_height(
            bm_chainsync_store(sync, BM_CS_HEADERS));
        uint64_t dh = bm_p2pstore_height(bm_chainsync_store(sync, BM_CS_DATA));

        json_object_object_add(p, "header_height",
                               json_object_new_uint64(hh > local ? hh : local));
        json_object_object_add(p, "data_height",
                               json_object_new_uint64(dh > local ? dh : local));
    }
    json_object_object_add(o, "p2p", p);
    bm_free(pi);
}

static void status(struct bm_rpc_server *s, struct reply *r)
{
    const struct bm_rpc_deps *d = &s->deps;
    struct json_object *o = json_object_new_object();
    struct json_object *br = json_object_new_object();
    struct bm_state st = {0};
    struct bm_errmsg em = {{0}};
    struct bm_buf hb = {0};
    struct bm_signed_header sh = {0};
    struct bm_hash hash;
    uint64_t height = 0;
    uint64_t da_incl = 0;
    bool have_state = load_state(s, &st, &em) == BM_OK;
    char ts[BM_RFC3339_MAX];

    if (d->manager != NULL) {
        (void)bm_manager_get_store_height(d->manager, &height);
        da_incl = bm_manager_get_da_included_height(d->manager);
    } else {
        (void)bm_store_height(d->store, &height, NULL);
        (void)bm_meta_get_u64(d->store, BM_META_DA_INCLUDED, &da_incl, NULL);
    }
    add_str(o, "chain_id", have_state ? st.chain_id : NULL);
    json_object_object_add(o, "height", json_object_new_uint64(height));
    json_object_object_add(o, "da_included_height",
                           json_object_new_uint64(da_incl));
    hex_field(o, "app_hash", have_state ? st.app_hash.ptr : NULL,
              have_state ? st.app_hash.len : 0);
    /* The tip's Header.Hash(), computed from the stored header (the
     * state's last_header_hash may be unset in older states). */
    if (height > 0 &&
        bm_store_get_header(d->store, height, &hb, NULL) == BM_OK &&
        bm_signed_header_decode(&sh, hb.ptr, hb.len) == BM_OK &&
        bm_header_hash(&sh.header, &hash) == BM_OK) {
        hex_field(o, "last_header_hash", hash.b, sizeof(hash.b));
    } else {
        hex_field(o, "last_header_hash", NULL, 0);
    }
    if (have_state) {
        format_timestamp(st.last_block_time.seconds,
                         st.last_block_time.nanos, ts);
        json_object_object_add(o, "last_block_time",
                               json_object_new_string(ts));
    }
    json_object_object_add(o, "aggregator",
                           json_object_new_boolean(d->aggregator));
    p2p_status(o, d->p2p, d->sync, height);
    if (d->manager != NULL) {
        json_object_object_add(
            o, "pending_headers",
            json_object_new_uint64(bm_manager_pending_headers(d->manager)));
        json_object_object_add(
            o, "pending_data",
            json_object_new_uint64(bm_manager_pending_data(d->manager)));
        json_object_object_add(
            br, "da",
            json_object_new_string(breaker_name(
                bm_manager_breaker_state(d->manager, "da"))));
        json_object_object_add(
            br, "exec",
            json_object_new_string(breaker_name(
                bm_manager_breaker_state(d->manager, "exec"))));
    }
    json_object_object_add(o, "actors", actors_json(d->manager));
    json_object_object_add(o, "breakers", br);
    reply_json(r, 200, o);
    bm_signed_header_release(&sh);
    bm_buf_release(&hb);
    bm_state_release(&st);
}

/* ------------------------------------------------------------ tx ingress */

/*
 * POST /tx is answered only once its txs are on disk. The body is parsed
 * here (bm_ingress_parse), the well-formed txs go to the group commit
 * (bm_ingest_submit) and the connection is suspended; the writer thread's
 * completion marks the request done and resumes the connection, and MHD
 * then calls on_request again, which sends the reply (tx_finish). MHD
 * threads never wait for a disk sync.
 */
static void tx_done(struct bm_ingest_req *req);

/* The reply of a request-wide error. */
static void tx_error(struct reply *r, enum bm_err err,
                     const struct bm_errmsg *em)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "error", json_object_new_string(
                                           bm_errmsg_str(em, err)));
    reply_json(r, (unsigned)bm_ingress_http_status(err), o);
}

static void tx_reply(const struct bm_ingress_req *tx, struct reply *r)
{
    int status = 500;

    r->content_type = "application/json";
    if (bm_ingress_req_reply(tx, &status, &r->body) != BM_OK) {
        status = 500;
    }
    r->status = (unsigned)status;
}

/* Sends the reply of a completed tx request (the connection was resumed). */
static void tx_finish(struct bm_ingress_req *tx, struct reply *r)
{
    bm_ingress_req_settle(tx);
    tx_reply(tx, r);
    bm_ingress_req_release(tx);
}

/* Group commit hook (writer thread): new txs wake a lazy aggregator, once
 * per commit rather than once per request. */
static void tx_committed(void *arg, size_t queued)
{
    struct bm_rpc_server *s = arg;

    (void)queued;
    if (s->deps.manager != NULL) {
        bm_manager_notify_new_transactions(s->deps.manager);
    }
}

static void kv_query(struct bm_rpc_server *s, const char *key,
                     struct reply *r)
{
    struct bm_ingress_reply ir;
    struct bm_buf json = {0};
    enum bm_err err = bm_kv_query_json(s->deps.kv, key, &json, &ir);

    r->content_type = "application/json";
    if (err == BM_OK) {
        r->status = 200;
        bm_buf_release(&r->body);
        r->body = json;
        return;
    }
    r->status = (unsigned)ir.http_status;
    if (bm_ingress_reply_json(&ir, &r->body) != BM_OK) {
        r->status = 500;
    }
}

/* ------------------------------------------------------------ MHD glue */

struct conn {
    struct bm_dynbuf body;
    bool too_big;
    size_t cap;
    /* POST /tx while its group commit runs (see "tx ingress") */
    struct bm_ingress_req tx;
    struct bm_ingest_req ing;
    struct MHD_Connection *mhd;
    struct rpc_loop *loop; /* the loop that owns the connection */
    struct conn *done_next; /* in loop->done_head */
    bool tx_waiting;
    atomic_bool tx_done; /* set by the writer thread before it resumes */
};

/* Wakes l's thread (eventfd). Any thread. */
static void loop_wake(struct rpc_loop *l)
{
    uint64_t one = 1;

    /* Only EAGAIN (the counter at its maximum: a wake is pending) can
     * fail a write to a valid eventfd, and then the loop wakes anyway. */
    (void)!write(l->wake, &one, sizeof(one));
}

/* Hands the completed request cs to its loop, which resumes the
 * connection. now: wake the loop at once (else at the group's end, by
 * tx_wake). Any thread. */
static void loop_push_done(struct conn *cs, bool now)
{
    struct rpc_loop *l = cs->loop;
    bool wake;

    atomic_store_explicit(&cs->tx_done, true, memory_order_release);
    pthread_mutex_lock(&l->mu);
    cs->done_next = l->done_head;
    l->done_head = cs;
    if (!now) {
        l->wake_due = true;
    }
    wake = now;
    pthread_mutex_unlock(&l->mu);
    if (wake) {
        loop_wake(l);
    }
}

/* Resumes every connection whose request completed. Loop thread. */
static void loop_resume_done(struct rpc_loop *l)
{
    struct conn *list;

    pthread_mutex_lock(&l->mu);
    list = l->done_head;
    l->done_head = NULL;
    pthread_mutex_unlock(&l->mu);
    while (list != NULL) {
        struct conn *cs = list;

        list = cs->done_next;
        cs->done_next = NULL;
        MHD_resume_connection(cs->mhd);
    }
}

/*
 * Parses a POST /tx body and hands its well-formed txs to the group
 * commit. true: the connection is suspended until tx_done resumes it;
 * false: *r is the reply now.
 */
static bool tx_begin(struct rpc_loop *l, struct MHD_Connection *c,
                     struct conn *cs, const char *ct, struct reply *r)
{
    struct bm_rpc_server *s = l->srv;
    struct bm_errmsg em = {{0}};
    enum bm_err err;

    err = bm_ingress_parse(ct, cs->body.ptr, cs->body.len, &cs->tx, &em);
    if (err != BM_OK) {
        tx_error(r, err, &em);
        r->parse_error = err == BM_EPARSE;
        return false;
    }
    if (cs->tx.n_sub > 0 && s->ingest == NULL) {
        (void)bm_ingress_req_fail(&cs->tx, BM_ESTATE,
                                  "this node does not take txs (not an "
                                  "aggregator)");
    } else if (cs->tx.n_sub > 0 && s->deps.manager != NULL &&
               !bm_manager_tx_allow(s->deps.manager, cs->tx.n_sub)) {
        (void)bm_ingress_req_fail(&cs->tx, BM_ERATE_LIMITED, NULL);
    } else if (cs->tx.n_sub > 0) {
        memset(&cs->ing, 0, sizeof(cs->ing));
        cs->ing.txs = cs->tx.sub_txs;
        cs->ing.hashes = cs->tx.sub_hash;
        cs->ing.status = cs->tx.sub_status;
        cs->ing.n = cs->tx.n_sub;
        cs->ing.done = tx_done;
        cs->ing.arg = cs;
        cs->mhd = c;
        cs->loop = l;
        cs->tx_waiting = true;
        atomic_store_explicit(&cs->tx_done, false, memory_order_relaxed);
        /* Suspended before the writer can see the request; the loop
         * resumes it once the completion is handed back (loop_push_done),
         * never before this returns. */
        MHD_suspend_connection(c);
        err = bm_ingest_submit(s->ingest, &cs->ing);
        if (err != BM_OK) {
            for (size_t j = 0; j < cs->tx.n_sub; j++) {
                cs->tx.sub_status[j] = err;
            }
            loop_push_done(cs, true);
        }
        return true;
    }
    bm_ingress_req_settle(&cs->tx);
    tx_reply(&cs->tx, r);
    bm_ingress_req_release(&cs->tx);
    return false;
}

/* Group commit completion (writer thread): hands the request to its
 * loop; tx_wake wakes the loop once the whole group is handed over. */
static void tx_done(struct bm_ingest_req *req)
{
    loop_push_done(req->arg, false);
}

/* After a group's completions (writer thread): wakes each loop that got
 * some, once. */
static void tx_wake(void *arg)
{
    struct bm_rpc_server *s = arg;

    for (unsigned i = 0; i < s->n_loops; i++) {
        struct rpc_loop *l = &s->loops[i];
        bool wake;

        pthread_mutex_lock(&l->mu);
        wake = l->wake_due;
        l->wake_due = false;
        pthread_mutex_unlock(&l->mu);
        if (wake) {
            loop_wake(l);
        }
    }
}

/* The reason of a refused request: explicit, else from its status. */
static int reject_reason(const struct reply *r)
{
    if (r->parse_error) {
        return BM_RPC_REJ_PARSE;
    }
    switch (r->status) {
    case 404:
        return BM_RPC_REJ_NOT_FOUND;
    case 405:
        return BM_RPC_REJ_METHOD;
    case 413:
        return BM_RPC_REJ_TOO_BIG;
    case 415:
        return BM_RPC_REJ_MEDIA_TYPE;
    case 429:
        return BM_RPC_REJ_RATE_LIMITED;
    case 503:
        return BM_RPC_REJ_UNAVAILABLE;
    default:
        return r->status >= 500 ? BM_RPC_REJ_ERROR : BM_RPC_REJ_INVALID;
    }
}

/* Counts a reply; a status >= 400 is a refused request. */
static void count_reply(struct bm_rpc_server *s, const struct reply *r)
{
    atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
    if (r->status >= 400) {
        atomic_fetch_add_explicit(&s->rejected[reject_reason(r)], 1,
                                  memory_order_relaxed);
    }
}

static enum MHD_Result send_reply(struct bm_rpc_server *s,
                                  struct MHD_Connection *c, struct reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    count_reply(s, r);
    resp = MHD_create_response_from_buffer(r->body.len, r->body.ptr,
                                           MHD_RESPMEM_MUST_COPY);
    bm_buf_release(&r->body);
    if (resp == NULL) {
        return MHD_NO;
    }
    if (r->content_type != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type);
    }
    ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void too_big_reply(const struct conn *cs, bool connect,
                          struct reply *r)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "body: above %zu bytes", cs->cap);
    if (connect) {
        reply_connect_error(r, "resource_exhausted", msg);
    } else {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "error", json_object_new_string(msg));
        reply_json(r, 413, o);
    }
}

static void not_found(struct reply *r, const char *msg)
{
    reply_connect_error(r, "not_found", msg);
}

static void route(struct bm_rpc_server *s, struct MHD_Connection *c,
                  const char *url, const char *method, struct conn *cs,
                  struct reply *r)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int m = bm_rpc_method_from_path(url);

    if (m >= 0) {
        if (cs->too_big) {
            too_big_reply(cs, true, r);
            return;
        }
        handle_connect(s, m, method, ct, &cs->body, r);
        return;
    }
    if (strncmp(url, "/evnode.v1.", 11) == 0) {
        reply_connect_error(r, "unimplemented", "no such procedure");
        return;
    }
    if (strcmp(url, "/tx") == 0 && s->deps.kv != NULL) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
            struct json_object *o = json_object_new_object();

            json_object_object_add(o, "error", json_object_new_string(
                                                   "use POST"));
            reply_json(r, 405, o);
        } else {
            /* Only a body above the cap gets here: on_request hands
             * every other POST /tx to tx_begin. */
            too_big_reply(cs, false, r);
        }
        return;
    }
    if (strcmp(url, "/tx") == 0 && s->deps.evm_eth_url != NULL) {
        struct json_object *o = json_object_new_object();
        char msg[512];

        snprintf(msg, sizeof(msg), "this node runs the EVM executor: send "
                 "signed Ethereum transactions to the execution client with "
                 "eth_sendRawTransaction at %s (evm.eth_url)",
                 s->deps.evm_eth_url);
        json_object_object_add(o, "error", json_object_new_string(msg));
        reply_json(r, 501, o);
        return;
    }
    if (strncmp(url, "/kv/", 4) == 0 && s->deps.kv != NULL && get) {
        kv_query(s, url + 4, r);
        return;
    }
    if (!get) {
        if (strcmp(url, "/health/live") == 0 ||
            strcmp(url, "/health/ready") == 0 || strcmp(url, "/status") == 0) {
            reply_text(r, 405, "method not allowed\n");
        } else {
            not_found(r, "no such path");
        }
        return;
    }
    if (strcmp(url, "/health/live") == 0) {
        health_live(s, r);
    } else if (strcmp(url, "/health/ready") == 0) {
        health_ready(s, r);
    } else if (strcmp(url, "/status") == 0) {
        status(s, r);
    } else if (strcmp(url, "/ha/node") == 0 && s->deps.ha != NULL) {
        reply_json(r, 200, bm_node_ha_json(s->deps.ha));
    } else {
        not_found(r, "no such path");
    }
}

/* POST /tx on an HA candidate that does not lead (docs/HA.md
 * "Transactions"): refused with 503 naming the leader, so a client sends
 * it there; a follower's queue would hold the tx until it leads. false
 * (nothing replied) when this node leads or HA is off. ha borrowed. */
static bool tx_refuse_follower(struct bm_ha *ha, struct reply *r)
{
    struct bm_ha_status st;
    struct json_object *o;
    char msg[2 * BM_HA_MAX_NODE_ID + 160];

    if (ha == NULL) {
        return false;
    }
    bm_ha_status(ha, &st);
    if (st.role == BM_HA_LEADER) {
        return false;
    }
    if (st.leader_id[0] != '\0') {
        snprintf(msg, sizeof(msg),
                 "not the leader: HA candidate '%s' follows; the leader is "
                 "'%s': send txs to it",
                 st.node_id, st.leader_id);
    } else {
        snprintf(msg, sizeof(msg),
                 "not the leader: HA candidate '%s' follows and no leader "
                 "is known now: retry",
                 st.node_id);
    }
    o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    json_object_object_add(o, "leader", json_object_new_string(st.leader_id));
    reply_json(r, 503, o);
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct rpc_loop *l = cls;
    struct bm_rpc_server *s = l->srv;
    struct conn *cs = *con_cls;
    struct reply r = {0};

    (void)version;
    if (cs == NULL) {
        const char *cl;

        cs = bm_calloc(1, sizeof(*cs));
        if (cs == NULL) {
            return MHD_NO;
        }
        cs->cap = strcmp(url, "/tx") == 0 ? BM_INGRESS_MAX_BATCH_BODY
                                          : BM_RPC_MAX_BODY;
        bm_dynbuf_init(&cs->body, cs->cap);
        *con_cls = cs;
        /* Refuse a declared oversize body at once. */
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strspn(cl, "0123456789") == strlen(cl) &&
            (strlen(cl) > 12 || strtoull(cl, NULL, 10) > cs->cap)) {
            cs->too_big = true;
            too_big_reply(cs, bm_rpc_method_from_path(url) >= 0, &r);
            return send_reply(s, c, &r);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!cs->too_big &&
            bm_dynbuf_append(&cs->body, upload_data, *upload_data_size) !=
                BM_OK) {
            cs->too_big = true;
            bm_dynbuf_release(&cs->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cs->tx_waiting) {
        /* Resumed: the group commit completed (tx_done). */
        if (!atomic_load_explicit(&cs->tx_done, memory_order_acquire)) {
            /* Not expected (only the loop resumes, after tx_done). Wait
             * again: the completion is still to come. */
            MHD_suspend_connection(c);
            return MHD_YES;
        }
        cs->tx_waiting = false;
        tx_finish(&cs->tx, &r);
        bm_log_debug("rpc", "request method=POST path=/tx status=%u",
                     r.status);
        return send_reply(s, c, &r);
    }
    if (strcmp(url, "/tx") == 0 && s->deps.kv != NULL && !cs->too_big &&
        strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        const char *ct = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

        if (tx_refuse_follower(s->deps.ha, &r)) {
            return send_reply(s, c, &r);
        }
        if (tx_begin(l, c, cs, ct, &r)) {
            return MHD_YES; /* suspended until the commit completes */
        }
        return send_reply(s, c, &r);
    }
    route(s, c, url, method, cs, &r);
    bm_log_debug("rpc", "request method=%s path=%.80s status=%u", method, url,
                 r.status);
    return send_reply(s, c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct bm_rpc_server *s = cls;
    struct conn *cs = *con_cls;

    (void)c;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) {
        atomic_fetch_add_explicit(&s->timeouts, 1, memory_order_relaxed);
    }
    if (cs != NULL) {
        bm_dynbuf_release(&cs->body);
        bm_ingress_req_release(&cs->tx);
        bm_free(cs);
        *con_cls = NULL;
    }
}

/* Connections open and accepted (MHD_OPTION_NOTIFY_CONNECTION). */
static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct bm_rpc_server *s = cls;

    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add_explicit(&s->connections, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->connections_total, 1,
                                  memory_order_relaxed);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub_explicit(&s->connections, 1, memory_order_relaxed);
    }
}

/* The connection limit: BM_RPC_MAX_CONNECTIONS, or what the open-files
 * limit leaves after the node's other descriptors (rpc.h). */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    rlim_t n = BM_RPC_MAX_CONNECTIONS;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        if (rl.rlim_cur < (rlim_t)BM_RPC_FD_RESERVE + BM_RPC_MIN_CONNECTIONS) {
            n = BM_RPC_MIN_CONNECTIONS;
        } else if (rl.rlim_cur - BM_RPC_FD_RESERVE < n) {
            n = rl.rlim_cur - BM_RPC_FD_RESERVE;
        }
    }
    return (unsigned)n;
}

void bm_rpc_server_stats(const struct bm_rpc_server *s,
                         struct bm_rpc_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL) {
        return;
    }
    out->max_connections = s->max_conns;
    out->connections = atomic_load_explicit(&s->connections,
                                            memory_order_relaxed);
    out->connections_total = atomic_load_explicit(&s->connections_total,
                                                  memory_order_relaxed);
    out->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
    out->timeouts = atomic_load_explicit(&s->timeouts, memory_order_relaxed);
    for (int i = 0; i < BM_RPC_REJ_COUNT; i++) {
        out->rejected[i] = atomic_load_explicit(&s->rejected[i],
                                                memory_order_relaxed);
    }
}

/* ------------------------------------------------------------ lifecycle */

/*
 * A loop's thread: libmicrohttpd's work (MHD_run) whenever its epoll fd
 * is ready, a connection timeout is due, or the loop is woken (completed
 * POST /tx requests, stop). A completion handed over after
 * loop_resume_done drained the list writes wake, so none is missed.
 */
static void *loop_main(void *arg)
{
    struct rpc_loop *l = arg;

    for (;;) {
        bool stop = atomic_load_explicit(&l->stop, memory_order_acquire);
        MHD_UNSIGNED_LONG_LONG to = 0;
        struct epoll_event ev[2];
        int ms = -1;
        int n;

        loop_resume_done(l);
        (void)MHD_run(l->mhd);
        if (stop) {
            /* Requests refused during this last pass (the ingest is
             * closed) are resumed too: none stays suspended for
             * MHD_stop_daemon. */
            loop_resume_done(l);
            break;
        }
        if (MHD_get_timeout(l->mhd, &to) == MHD_YES) {
            ms = to > INT32_MAX ? INT32_MAX : (int)to;
        }
        n = epoll_wait(l->ep, ev, 2, ms);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == l->wake) {
                uint64_t v;

                /* Cleared before the list is drained (next turn). */
                (void)!read(l->wake, &v, sizeof(v));
            }
        }
    }
    return NULL;
}

/* Sets up loop l of s (nothing started): every loop is set up before any
 * starts, since the writer's tx_wake looks at all of them. */
static void loop_init(struct bm_rpc_server *s, struct rpc_loop *l)
{
    l->srv = s;
    l->ep = -1;
    l->wake = -1;
    pthread_mutex_init(&l->mu, NULL);
}

/* Starts loop l (set up by loop_init) on listen_fd (the daemon owns it
 * once started, else the caller does) with a connection limit of
 * max_conns. */
static enum bm_err loop_start(struct bm_rpc_server *s, struct rpc_loop *l,
                              int listen_fd, unsigned max_conns,
                              struct bm_errmsg *em)
{
    const union MHD_DaemonInfo *info;
    struct epoll_event ev = {0};

    l->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request,
        l, MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_LIMIT, max_conns,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)BM_RPC_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)BM_RPC_CONN_MEMORY,
        MHD_OPTION_END);
    if (l->mhd == NULL) {
        return bm_errf(em, BM_ESYS, "rpc: cannot start the HTTP server");
    }
    info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (info == NULL || l->ep < 0 || l->wake < 0) {
        return bm_errf(em, BM_ESYS, "rpc: event loop: %s", strerror(errno));
    }
    ev.events = EPOLLIN;
    ev.data.fd = info->epoll_fd;
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0) {
        return bm_errf(em, BM_ESYS, "rpc: event loop: %s", strerror(errno));
    }
    ev.data.fd = l->wake;
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &ev) != 0) {
        return bm_errf(em, BM_ESYS, "rpc: event loop: %s", strerror(errno));
    }
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        return bm_errf(em, BM_ESYS, "rpc: cannot start a server thread");
    }
    (void)pthread_setname_np(l->thread, "bm-rpc");
    l->running = true;
    return BM_OK;
}

/* Stops l's thread (after its last completions are resumed). */
static void loop_stop(struct rpc_loop *l)
{
    if (l->running) {
        atomic_store_explicit(&l->stop, true, memory_order_release);
        loop_wake(l);
        pthread_join(l->thread, NULL);
        l->running = false;
    }
}

/* Frees l (set up by loop_init; started or not). */
static void loop_free(struct rpc_loop *l)
{
    if (l->srv == NULL) {
        return;
    }
    loop_stop(l);
    /* Closes the daemon's dup of the listening socket. */
    if (l->mhd != NULL) {
        MHD_stop_daemon(l->mhd);
    }
    if (l->ep >= 0) {
        close(l->ep);
    }
    if (l->wake >= 0) {
        close(l->wake);
    }
    pthread_mutex_destroy(&l->mu);
    l->srv = NULL;
}

static void ns_hex(char *out, const char *s)
{
    struct bm_da_namespace ns;

    bm_da_namespace_from_string(&ns, s ? s : "", s ? strlen(s) : 0);
    bm_hex_encode(out, ns.b, sizeof(ns.b));
}

enum bm_err bm_rpc_server_start(struct bm_rpc_server **out, const char *addr,
                                const struct bm_rpc_deps *deps,
                                struct bm_errmsg *em)
{
    struct bm_rpc_server *s;
    const char *dns;
    int fd = -1;
    enum bm_err err;

    *out = NULL;
    if (deps == NULL || deps->store == NULL) {
        return bm_errf(em, BM_EINVAL, "rpc: store: required");
    }
    s = bm_xcalloc(1, sizeof(*s));
    s->deps = *deps;
    if (deps->signer_address != NULL && deps->signer_address_len > 0) {
        err = bm_buf_set(&s->signer, deps->signer_address,
                         deps->signer_address_len);
        if (err) {
            goto fail;
        }
        s->has_signer = true;
    }
    /* ev-node: hex of the 29-byte namespace derived from each string; an
     * empty data namespace is the header namespace. */
    ns_hex(s->header_ns, deps->header_namespace);
    dns = deps->data_namespace != NULL && deps->data_namespace[0] != '\0'
              ? deps->data_namespace
              : deps->header_namespace;
    ns_hex(s->data_ns, dns);
    s->deps.signer_address = NULL;
    s->deps.signer_address_len = 0;

    err = bm_listen_tcp(addr, "rpc.address", &fd, &s->port, em);
    if (err) {
        goto fail;
    }
    if (deps->seq != NULL && deps->kv != NULL) {
        struct bm_ingest_options io = {0};

        if (deps->genesis == NULL || deps->genesis->chain_id == NULL) {
            close(fd);
            err = bm_errf(em, BM_EINVAL, "rpc: genesis: required with a "
                          "sequencer");
            goto fail;
        }
        io.committed = tx_committed;
        io.committed_arg = s;
        io.completed = tx_wake;
        io.completed_arg = s;
        err = bm_ingest_new(&s->ingest, deps->seq, deps->genesis->chain_id,
                            &io, em);
        if (err) {
            close(fd);
            goto fail;
        }
    }
    /* epoll loops on a small pool of threads, each on its own dup of the
     * listening socket (its daemon closes it): a connection costs no
     * thread, and POST /tx suspends its connection while the group commit
     * runs. The connection limit is shared out among the loops. */
    s->max_conns = connection_limit();
    s->n_loops = BM_RPC_THREADS;
    for (unsigned i = 0; i < BM_RPC_THREADS; i++) {
        loop_init(s, &s->loops[i]);
    }
    for (unsigned i = 0; i < BM_RPC_THREADS; i++) {
        unsigned share = s->max_conns / BM_RPC_THREADS +
                         (i < s->max_conns % BM_RPC_THREADS ? 1u : 0u);
        int lfd = i + 1 < BM_RPC_THREADS ? dup(fd) : fd;

        if (lfd < 0) {
            close(fd);
            err = bm_errf(em, BM_ESYS, "rpc: dup: %s", strerror(errno));
            goto fail;
        }
        err = loop_start(s, &s->loops[i], lfd, share, em);
        if (err) {
            if (s->loops[i].mhd == NULL) {
                close(lfd);
            }
            if (lfd != fd) {
                close(fd);
            }
            goto fail;
        }
    }
    bm_log_info("rpc", "listening addr=%s port=%u max_connections=%u", addr,
                (unsigned)s->port, s->max_conns);
    *out = s;
    return BM_OK;
fail:
    bm_ingest_free(s->ingest);
    for (unsigned i = 0; i < s->n_loops; i++) {
        loop_free(&s->loops[i]);
    }
    bm_buf_release(&s->signer);
    bm_free(s);
    return err;
}

uint16_t bm_rpc_server_port(const struct bm_rpc_server *s)
{
    return s->port;
}

void bm_rpc_server_stop(struct bm_rpc_server *s)
{
    if (s == NULL) {
        return;
    }
    /* Every POST /tx in the group commit completes (and resumes its
     * connection) before MHD stops: stopping with a suspended connection
     * is not allowed. Requests arriving meanwhile get 503 at once. */
    bm_ingest_close(s->ingest);
    for (unsigned i = 0; i < s->n_loops; i++) {
        loop_free(&s->loops[i]);
    }
    bm_ingest_free(s->ingest);
    bm_buf_release(&s->signer);
    bm_free(s);
}
