/* A scripted execution client for tests, see fake_el.h. */
#include "fake_el.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <sodium.h>

#include "util/alloc.h"
#include "util/clock.h"

#define MAX_BODY (64u << 20)
#define MAX_BLOCKS 100000u
#define MAX_COUNTERS 32u

struct fblock {
    uint64_t number, timestamp, gas_limit;
    uint8_t hash[32], parent[32], root[32], fee[20], randao[32];
    size_t n_txs;
    char **txs; /* lower-case hex without 0x, owned */
};

struct payload {
    uint8_t id[8];
    struct fblock b;
};

struct counter {
    char name[48];
    uint64_t n;
};

struct fake_el {
    struct MHD_Daemon *d;
    char url[64];
    struct fake_el_config cfg;
    atomic_bool stopping;
    pthread_mutex_t mu;
    struct fake_el_faults f;
    struct fblock *blocks; /* every block known */
    size_t n_blocks, cap_blocks;
    size_t *canon; /* canonical chain: indices into blocks by number */
    size_t n_canon, cap_canon;
    struct payload *payloads;
    size_t n_payloads;
    char **pool;
    size_t n_pool;
    struct counter counters[MAX_COUNTERS];
};

static void die(const char *what)
{
    fprintf(stderr, "fake_el: %s\n", what);
    abort();
}

/* ------------------------------------------------------------ model */

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}

static void block_hash(struct fblock *b)
{
    crypto_hash_sha256_state st;
    uint8_t n[8];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"fake-el/block", 13);
    crypto_hash_sha256_update(&st, b->parent, 32);
    be64(n, b->number);
    crypto_hash_sha256_update(&st, n, 8);
    be64(n, b->timestamp);
    crypto_hash_sha256_update(&st, n, 8);
    be64(n, b->gas_limit);
    crypto_hash_sha256_update(&st, n, 8);
    crypto_hash_sha256_update(&st, b->root, 32);
    crypto_hash_sha256_update(&st, b->fee, 20);
    crypto_hash_sha256_update(&st, b->randao, 32);
    crypto_hash_sha256_final(&st, b->hash);
}

static bool unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            return false;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

static void state_root(const uint8_t parent_root[32], char *const *txs,
                       size_t n, uint8_t out[32])
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"fake-el/state", 13);
    crypto_hash_sha256_update(&st, parent_root, 32);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(txs[i]) / 2;
        uint8_t *raw = malloc(len + 1), l[8];

        if (raw == NULL || !unhex(txs[i], len, raw)) {
            die("state_root: tx");
        }
        be64(l, len);
        crypto_hash_sha256_update(&st, l, 8);
        crypto_hash_sha256_update(&st, raw, len);
        free(raw);
    }
    crypto_hash_sha256_final(&st, out);
}

static void block_free(struct fblock *b)
{
    for (size_t i = 0; i < b->n_txs; i++) {
        free(b->txs[i]);
    }
    free(b->txs);
    b->txs = NULL;
    b->n_txs = 0;
}

static struct fblock block_copy(const struct fblock *b)
{
    struct fblock c = *b;

    c.txs = calloc(b->n_txs + 1, sizeof(char *));
    for (size_t i = 0; i < b->n_txs; i++) {
        c.txs[i] = strdup(b->txs[i]);
    }
    return c;
}

static struct fblock *find(struct fake_el *el, const uint8_t hash[32])
{
    for (size_t i = 0; i < el->n_blocks; i++) {
        if (memcmp(el->blocks[i].hash, hash, 32) == 0) {
            return &el->blocks[i];
        }
    }
    return NULL;
}

static size_t add_block(struct fake_el *el, const struct fblock *b)
{
    struct fblock *have = find(el, b->hash);

    if (have != NULL) {
        return (size_t)(have - el->blocks);
    }
    if (el->n_blocks == MAX_BLOCKS) {
        die("too many blocks");
    }
    if (el->n_blocks == el->cap_blocks) {
        el->cap_blocks = el->cap_blocks ? 2 * el->cap_blocks : 64;
        el->blocks = realloc(el->blocks, el->cap_blocks * sizeof(*el->blocks));
    }
    el->blocks[el->n_blocks] = block_copy(b);
    return el->n_blocks++;
}

static const struct fblock *canon(const struct fake_el *el, uint64_t n)
{
    return n < el->n_canon ? &el->blocks[el->canon[n]] : NULL;
}

static const struct fblock *head(const struct fake_el *el)
{
    return &el->blocks[el->canon[el->n_canon - 1]];
}

/* Canonical chain := the ancestry of block index i. */
static void set_head(struct fake_el *el, size_t i)
{
    uint64_t n = el->blocks[i].number;

    if (n + 1 > el->cap_canon) {
        el->cap_canon = 2 * (n + 1);
        el->canon = realloc(el->canon, el->cap_canon * sizeof(size_t));
    }
    el->n_canon = n + 1;
    for (;;) {
        el->canon[el->blocks[i].number] = i;
        if (el->blocks[i].number == 0) {
            break;
        }
        i = (size_t)(find(el, el->blocks[i].parent) - el->blocks);
    }
}

/* Whether block b is on the canonical chain. */
static bool is_canon(const struct fake_el *el, const struct fblock *b)
{
    const struct fblock *c = canon(el, b->number);

    return c != NULL && memcmp(c->hash, b->hash, 32) == 0;
}

/* ------------------------------------------------------------ JSON */

static struct json_object *jhex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 3);
    struct json_object *o;

    s[0] = '0';
    s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        snprintf(s + 2 + 2 * i, 3, "%02x", p[i]);
    }
    o = json_object_new_string(s);
    free(s);
    return o;
}

static struct json_object *jqty(uint64_t v)
{
    char s[24];

    snprintf(s, sizeof(s), "0x%llx", (unsigned long long)v);
    return json_object_new_string(s);
}

/* A "0x" hex string member of exactly n bytes. */
static bool get_fixed(struct json_object *o, const char *k, uint8_t *out,
                      size_t n)
{
    struct json_object *v;
    const char *s;

    if (!json_object_object_get_ex(o, k, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return false;
    }
    s = json_object_get_string(v);
    return strlen(s) == 2 * n + 2 && s[0] == '0' && s[1] == 'x' &&
           unhex(s + 2, n, out);
}

static bool get_qty(struct json_object *o, const char *k, uint64_t *out)
{
    struct json_object *v;
    const char *s;
    char *end = NULL;

    if (!json_object_object_get_ex(o, k, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return false;
    }
    s = json_object_get_string(v);
    if (strncmp(s, "0x", 2) != 0 || s[2] == '\0') {
        return false;
    }
    *out = strtoull(s + 2, &end, 16);
    return *end == '\0';
}

static struct json_object *block_json(const struct fblock *b, bool payload)
{
    struct json_object *o = json_object_new_object(), *txs;

    json_object_object_add(o, "parentHash", jhex(b->parent, 32));
    json_object_object_add(o, payload ? "feeRecipient" : "miner",
                           jhex(b->fee, 20));
    json_object_object_add(o, "stateRoot", jhex(b->root, 32));
    json_object_object_add(o, payload ? "prevRandao" : "mixHash",
                           jhex(b->randao, 32));
    json_object_object_add(o, payload ? "blockNumber" : "number",
                           jqty(b->number));
    json_object_object_add(o, "gasLimit", jqty(b->gas_limit));
    json_object_object_add(o, "gasUsed", jqty(21000 * b->n_txs));
    json_object_object_add(o, "timestamp", jqty(b->timestamp));
    json_object_object_add(o, "extraData", json_object_new_string("0x"));
    json_object_object_add(o, "baseFeePerGas", jqty(7));
    json_object_object_add(o, payload ? "blockHash" : "hash",
                           jhex(b->hash, 32));
    txs = json_object_new_array();
    for (size_t i = 0; i < b->n_txs; i++) {
        char *s = malloc(strlen(b->txs[i]) + 3);
        snprintf(s, strlen(b->txs[i]) + 3, "0x%s", b->txs[i]);
        json_object_array_add(txs, json_object_new_string(s));
        free(s);
    }
    json_object_object_add(o, "transactions", txs);
    json_object_object_add(o, "withdrawals", json_object_new_array());
    json_object_object_add(o, "blobGasUsed", jqty(0));
    json_object_object_add(o, "excessBlobGas", jqty(0));
    return o;
}

static struct json_object *status_json(const char *st, const uint8_t *lvh,
                                       const char *verr)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "status", json_object_new_string(st));
    json_object_object_add(o, "latestValidHash",
                           lvh != NULL ? jhex(lvh, 32) : NULL);
    json_object_object_add(o, "validationError",
                           verr != NULL ? json_object_new_string(verr)
                                        : NULL);
    return o;
}

/* ------------------------------------------------------------ methods */

struct answer {
    struct json_object *result; /* owned; NULL = JSON null */
    int code;                   /* != 0: a JSON-RPC error */
    char msg[160];
};

static void err_answer(struct answer *a, int code, const char *msg)
{
    a->code = code;
    snprintf(a->msg, sizeof(a->msg), "%s", msg);
}

/* Reads "0x"-hex tx strings from array a into a block's tx list,
 * dropping failing (0xfe...) and undecodable txs. */
static void take_txs(struct fblock *b, struct json_object *a)
{
    size_t n = json_object_array_length(a);

    b->txs = calloc(n + 1, sizeof(char *));
    b->n_txs = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(a, i));
        size_t len = s != NULL ? strlen(s) : 0;
        uint8_t first;

        if (len < 4 || len % 2 != 0 || strncmp(s, "0x", 2) != 0 ||
            !unhex(s + 2, 1, &first) || first == 0xfe) {
            continue;
        }
        b->txs[b->n_txs] = strdup(s + 2);
        for (char *p = b->txs[b->n_txs]; *p != '\0'; p++) {
            if (*p >= 'A' && *p <= 'F') {
                *p = (char)(*p - 'A' + 'a');
            }
        }
        b->n_txs++;
    }
}

static bool take_syncing(struct fake_el *el)
{
    if (el->f.syncing > 0) {
        el->f.syncing--;
        return true;
    }
    return false;
}

static void fcu(struct fake_el *el, struct json_object *params,
                struct answer *a)
{
    struct json_object *st = json_object_array_get_idx(params, 0);
    struct json_object *at = json_object_array_get_idx(params, 1);
    struct json_object *res, *v;
    uint8_t hh[32], sh[32], fh[32];
    struct fblock *hb, nb;
    static const uint8_t zero[32];

    if (st == NULL || !get_fixed(st, "headBlockHash", hh, 32) ||
        !get_fixed(st, "safeBlockHash", sh, 32) ||
        !get_fixed(st, "finalizedBlockHash", fh, 32)) {
        err_answer(a, -32602, "invalid forkchoice state params");
        return;
    }
    hb = find(el, hh);
    res = json_object_new_object();
    if (hb == NULL || take_syncing(el)) {
        json_object_object_add(res, "payloadStatus",
                               status_json("SYNCING", NULL, NULL));
        json_object_object_add(res, "payloadId", NULL);
        a->result = res;
        return;
    }
    if ((memcmp(sh, zero, 32) != 0 && find(el, sh) == NULL) ||
        (memcmp(fh, zero, 32) != 0 && find(el, fh) == NULL)) {
        json_object_put(res);
        err_answer(a, -38002, "Invalid forkchoice state");
        return;
    }
    if (at == NULL || json_object_is_type(at, json_type_null)) {
        /* like ethereumjs: an ancestor of the head keeps the head */
        if (!is_canon(el, hb) || hb->number == head(el)->number) {
            set_head(el, (size_t)(hb - el->blocks));
        }
        json_object_object_add(res, "payloadStatus",
                               status_json("VALID", hb->hash, NULL));
        json_object_object_add(res, "payloadId", NULL);
        a->result = res;
        return;
    }
    memset(&nb, 0, sizeof(nb));
    memcpy(nb.parent, hb->hash, 32);
    nb.number = hb->number + 1;
    nb.gas_limit = hb->gas_limit;
    if (!json_object_object_get_ex(at, "timestamp", &v) ||
        !json_object_is_type(v, json_type_string) ||
        !get_qty(at, "timestamp", &nb.timestamp) ||
        !get_fixed(at, "prevRandao", nb.randao, 32) ||
        !get_fixed(at, "suggestedFeeRecipient", nb.fee, 20)) {
        json_object_put(res);
        err_answer(a, -32602, "invalid payload attributes: timestamp, "
                              "prevRandao or suggestedFeeRecipient");
        return;
    }
    if (nb.timestamp < hb->timestamp ||
        (nb.timestamp == hb->timestamp && !el->cfg.allow_equal_time)) {
        json_object_put(res);
        err_answer(a, -38003, "Invalid payload attributes: timestamp not "
                              "above the parent's");
        return;
    }
    if (!json_object_object_get_ex(at, "gasLimit", &v) ||
        !json_object_is_type(v, json_type_int)) {
        json_object_put(res);
        err_answer(a, -32602, "invalid payload attributes: gasLimit must be "
                              "a number");
        return;
    }
    nb.gas_limit = (uint64_t)json_object_get_int64(v);
    if (el->f.own_pool) {
        struct json_object *pa = json_object_new_array();
        for (size_t i = 0; i < el->n_pool; i++) {
            char s[4096];
            snprintf(s, sizeof(s), "0x%s", el->pool[i]);
            json_object_array_add(pa, json_object_new_string(s));
        }
        take_txs(&nb, pa);
        json_object_put(pa);
    } else if (!json_object_object_get_ex(at, "transactions", &v) ||
               !json_object_is_type(v, json_type_array)) {
        json_object_put(res);
        err_answer(a, -32602, "invalid payload attributes: transactions");
        return;
    } else {
        take_txs(&nb, v);
    }
    state_root(hb->root, nb.txs, nb.n_txs, nb.root);
    block_hash(&nb);
    /* building on an ancestor reorgs to it (ethereumjs) */
    set_head(el, (size_t)(hb - el->blocks));
    el->payloads = realloc(el->payloads,
                           (el->n_payloads + 1) * sizeof(*el->payloads));
    memcpy(el->payloads[el->n_payloads].id, nb.hash, 8);
    el->payloads[el->n_payloads].b = nb;
    el->n_payloads++;
    json_object_object_add(res, "payloadStatus",
                           status_json("VALID", hb->hash, NULL));
    json_object_object_add(res, "payloadId", jhex(nb.hash, 8));
    a->result = res;
}

static void get_payload(struct fake_el *el, const char *method,
                        struct json_object *params, struct answer *a)
{
    uint8_t id[8];
    struct json_object *res;
    const char *s = json_object_get_string(json_object_array_get_idx(params,
                                                                     0));

    if (el->cfg.only_get_payload_v5 && strcmp(method, "engine_getPayloadV5")) {
        err_answer(a, -38005, "Unsupported fork");
        return;
    }
    if (s == NULL || strlen(s) != 18 || !unhex(s + 2, 8, id)) {
        err_answer(a, -32602, "invalid payload id");
        return;
    }
    for (size_t i = el->n_payloads; i-- > 0;) {
        if (memcmp(el->payloads[i].id, id, 8) == 0) {
            res = json_object_new_object();
            struct json_object *ep = block_json(&el->payloads[i].b, true);

            if (el->cfg.payload_escape) {
                json_object_object_add(ep, "fakeNote",
                                       json_object_new_string("a\nb"));
            }
            json_object_object_add(res, "executionPayload", ep);
            json_object_object_add(res, "blockValue", jqty(0));
            json_object_object_add(res, "shouldOverrideBuilder",
                                   json_object_new_boolean(0));
            json_object_object_add(res, "executionRequests",
                                   json_object_new_array());
            a->result = res;
            return;
        }
    }
    err_answer(a, -38001, "Unknown payload");
}

static void new_payload(struct fake_el *el, struct json_object *params,
                        struct answer *a)
{
    struct json_object *p = json_object_array_get_idx(params, 0), *txs;
    struct fblock nb, *parent;
    uint8_t want_hash[32];

    memset(&nb, 0, sizeof(nb));
    if (p == NULL || !get_fixed(p, "parentHash", nb.parent, 32) ||
        !get_fixed(p, "blockHash", want_hash, 32) ||
        !get_fixed(p, "stateRoot", nb.root, 32) ||
        !get_fixed(p, "feeRecipient", nb.fee, 20) ||
        !get_fixed(p, "prevRandao", nb.randao, 32) ||
        !get_qty(p, "blockNumber", &nb.number) ||
        !get_qty(p, "timestamp", &nb.timestamp) ||
        !get_qty(p, "gasLimit", &nb.gas_limit) ||
        !json_object_object_get_ex(p, "transactions", &txs) ||
        json_object_array_length(params) != 4) {
        err_answer(a, -32602, "invalid execution payload");
        return;
    }
    parent = find(el, nb.parent);
    if (parent == NULL || take_syncing(el)) {
        a->result = status_json("SYNCING", NULL, NULL);
        return;
    }
    if (el->f.new_payload_invalid) {
        a->result = status_json("INVALID", parent->hash,
                                "fake: block rejected for the test");
        return;
    }
    take_txs(&nb, txs);
    {
        uint8_t root[32];
        state_root(parent->root, nb.txs, nb.n_txs, root);
        block_hash(&nb);
        if (memcmp(root, nb.root, 32) != 0 ||
            memcmp(nb.hash, want_hash, 32) != 0 ||
            nb.number != parent->number + 1) {
            block_free(&nb);
            a->result = status_json("INVALID", parent->hash,
                                    "fake: block hash or state root wrong");
            return;
        }
    }
    add_block(el, &nb);
    block_free(&nb);
    a->result = status_json("VALID", want_hash, NULL);
}

static void get_block(struct fake_el *el, struct json_object *params,
                      struct answer *a)
{
    const char *s = json_object_get_string(json_object_array_get_idx(params,
                                                                     0));
    const struct fblock *b = NULL;

    if (s != NULL && strcmp(s, "latest") == 0) {
        b = head(el);
    } else if (s != NULL && strncmp(s, "0x", 2) == 0) {
        b = canon(el, strtoull(s + 2, NULL, 16));
    } else {
        err_answer(a, -32602, "invalid block number");
        return;
    }
    if (b != NULL) {
        struct json_object *o = block_json(b, false), *txs;
        /* eth_getBlockByNumber(n, false) lists tx hashes, not raw txs */
        txs = json_object_new_array();
        json_object_object_add(o, "transactions", txs);
        a->result = o;
    }
}

static void pool_remove_included(struct fake_el *el, const struct fblock *b)
{
    size_t w = 0;

    for (size_t i = 0; i < el->n_pool; i++) {
        bool in = false;
        for (size_t k = 0; k < b->n_txs && !in; k++) {
            in = strcasecmp(el->pool[i], b->txs[k]) == 0;
        }
        if (in) {
            free(el->pool[i]);
        } else {
            el->pool[w++] = el->pool[i];
        }
    }
    el->n_pool = w;
}

static void count(struct fake_el *el, const char *method)
{
    for (size_t i = 0; i < MAX_COUNTERS; i++) {
        if (el->counters[i].name[0] == '\0') {
            snprintf(el->counters[i].name, sizeof(el->counters[i].name), "%s",
                     method);
        }
        if (strcmp(el->counters[i].name, method) == 0) {
            el->counters[i].n++;
            return;
        }
    }
}

static void dispatch(struct fake_el *el, const char *method,
                     struct json_object *params, struct answer *a)
{
    count(el, method);
    if (strcmp(method, "engine_forkchoiceUpdatedV3") == 0) {
        size_t before = el->n_canon;
        fcu(el, params, a);
        if (el->n_canon != before || a->code == 0) {
            pool_remove_included(el, head(el));
        }
    } else if (strncmp(method, "engine_getPayloadV", 18) == 0) {
        get_payload(el, method, params, a);
    } else if (strcmp(method, "engine_newPayloadV4") == 0) {
        new_payload(el, params, a);
    } else if (strcmp(method, "eth_getBlockByNumber") == 0) {
        get_block(el, params, a);
    } else if (strcmp(method, "eth_blockNumber") == 0) {
        a->result = jqty(head(el)->number);
    } else if (strcmp(method, "txpoolExt_getTxs") == 0 &&
               !el->f.no_txpool_ext) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < el->n_pool; i++) {
            char s[4096];
            snprintf(s, sizeof(s), "0x%s", el->pool[i]);
            json_object_array_add(arr, json_object_new_string(s));
        }
        a->result = arr;
    } else {
        err_answer(a, -32601, "the method does not exist/is not available");
    }
}

/* ------------------------------------------------------------ HTTP */

struct req {
    char *body;
    size_t len;
    bool too_big;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static bool auth_ok(struct fake_el *el, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                "Authorization");

    return h != NULL && strncmp(h, "Bearer ", 7) == 0 &&
           bm_evm_jwt_verify(el->cfg.jwt_secret, h + 7, (uint64_t)time(NULL),
                             60, NULL) == BM_OK;
}

static enum MHD_Result handle(struct fake_el *el, struct MHD_Connection *c,
                              struct req *rq)
{
    struct json_object *root, *m, *params, *id = NULL, *out;
    struct answer a;
    const char *method;
    enum MHD_Result ret;
    bool down;
    uint32_t hang;

    pthread_mutex_lock(&el->mu);
    down = el->f.down;
    hang = el->f.hang_ms;
    pthread_mutex_unlock(&el->mu);
    if (down) {
        return MHD_NO;
    }
    for (uint32_t t = 0; t < hang && !atomic_load(&el->stopping); t += 10) {
        bm_sleep_ms(10);
    }
    pthread_mutex_lock(&el->mu);
    if (el->f.garbage) {
        pthread_mutex_unlock(&el->mu);
        return reply(c, 200, "<html>this is not JSON{");
    }
    root = json_tokener_parse(rq->body != NULL ? rq->body : "");
    if (root == NULL || !json_object_object_get_ex(root, "method", &m) ||
        !json_object_object_get_ex(root, "params", &params)) {
        pthread_mutex_unlock(&el->mu);
        json_object_put(root);
        return reply(c, 400, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
                             "{\"code\":-32700,\"message\":\"parse error\"}}");
    }
    json_object_object_get_ex(root, "id", &id);
    method = json_object_get_string(m);
    if (strncmp(method, "engine_", 7) == 0 && !auth_ok(el, c)) {
        pthread_mutex_unlock(&el->mu);
        json_object_put(root);
        return reply(c, 401, "{\"error\":\"invalid JWT\"}");
    }
    memset(&a, 0, sizeof(a));
    dispatch(el, method, params, &a);
    pthread_mutex_unlock(&el->mu);
    out = json_object_new_object();
    json_object_object_add(out, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(out, "id", json_object_get(id));
    if (a.code != 0) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "code", json_object_new_int(a.code));
        json_object_object_add(e, "message", json_object_new_string(a.msg));
        json_object_object_add(out, "error", e);
        json_object_put(a.result);
    } else {
        json_object_object_add(out, "result", a.result);
    }
    ret = reply(c, 200, json_object_to_json_string_ext(
                            out, JSON_C_TO_STRING_PLAIN |
                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(out);
    json_object_put(root);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    struct fake_el *el = cls;
    struct req *rq = *con_cls;

    (void)url;
    (void)method;
    (void)version;
    if (rq == NULL) {
        *con_cls = calloc(1, sizeof(struct req));
        return MHD_YES;
    }
    if (*size > 0) {
        if (rq->len + *size > MAX_BODY) {
            rq->too_big = true;
        } else {
            rq->body = realloc(rq->body, rq->len + *size + 1);
            memcpy(rq->body + rq->len, data, *size);
            rq->len += *size;
            rq->body[rq->len] = '\0';
        }
        *size = 0;
        return MHD_YES;
    }
    if (rq->too_big) {
        return reply(c, 413, "{}");
    }
    return handle(el, c, rq);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (rq != NULL) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

struct fake_el *fake_el_start(const struct fake_el_config *cfg)
{
    struct fake_el *el = calloc(1, sizeof(*el));
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    struct fblock g;
    uint8_t seed[4];

    if (el == NULL || sodium_init() < 0) {
        die("start");
    }
    el->cfg = *cfg;
    if (el->cfg.gas_limit == 0) {
        el->cfg.gas_limit = 30000000;
    }
    pthread_mutex_init(&el->mu, NULL);
    atomic_init(&el->stopping, false);
    memset(&g, 0, sizeof(g));
    g.gas_limit = el->cfg.gas_limit;
    seed[0] = (uint8_t)(cfg->seed >> 24);
    seed[1] = (uint8_t)(cfg->seed >> 16);
    seed[2] = (uint8_t)(cfg->seed >> 8);
    seed[3] = (uint8_t)cfg->seed;
    crypto_hash_sha256(g.root, seed, 4);
    block_hash(&g);
    set_head(el, add_block(el, &g));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    el->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, on_request, el, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, el,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (el->d == NULL) {
        die("MHD_start_daemon");
    }
    info = MHD_get_daemon_info(el->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(el->url, sizeof(el->url), "http://127.0.0.1:%u",
             (unsigned)info->port);
    return el;
}

void fake_el_stop(struct fake_el *el)
{
    if (el == NULL) {
        return;
    }
    atomic_store(&el->stopping, true);
    MHD_stop_daemon(el->d);
    for (size_t i = 0; i < el->n_blocks; i++) {
        block_free(&el->blocks[i]);
    }
    for (size_t i = 0; i < el->n_payloads; i++) {
        block_free(&el->payloads[i].b);
    }
    for (size_t i = 0; i < el->n_pool; i++) {
        free(el->pool[i]);
    }
    free(el->pool);
    free(el->blocks);
    free(el->payloads);
    free(el->canon);
    pthread_mutex_destroy(&el->mu);
    free(el);
}

const char *fake_el_url(const struct fake_el *el)
{
    return el->url;
}

void fake_el_fault(struct fake_el *el, const struct fake_el_faults *f)
{
    pthread_mutex_lock(&el->mu);
    el->f = *f;
    pthread_mutex_unlock(&el->mu);
}

uint64_t fake_el_head(struct fake_el *el, uint8_t hash[32],
                      uint8_t root[32])
{
    uint64_t n;

    pthread_mutex_lock(&el->mu);
    n = head(el)->number;
    if (hash != NULL) {
        memcpy(hash, head(el)->hash, 32);
    }
    if (root != NULL) {
        memcpy(root, head(el)->root, 32);
    }
    pthread_mutex_unlock(&el->mu);
    return n;
}

bool fake_el_block(struct fake_el *el, uint64_t n, uint8_t hash[32],
                   uint8_t root[32])
{
    const struct fblock *b;

    pthread_mutex_lock(&el->mu);
    b = canon(el, n);
    if (b != NULL && hash != NULL) {
        memcpy(hash, b->hash, 32);
    }
    if (b != NULL && root != NULL) {
        memcpy(root, b->root, 32);
    }
    pthread_mutex_unlock(&el->mu);
    return b != NULL;
}

void fake_el_truncate(struct fake_el *el, uint64_t n)
{
    uint8_t keep[32];
    size_t w = 0;

    pthread_mutex_lock(&el->mu);
    if (n + 1 > el->n_canon) {
        n = el->n_canon - 1;
    }
    memcpy(keep, canon(el, n)->hash, 32);
    for (size_t i = 0; i < el->n_blocks; i++) {
        if (el->blocks[i].number <= n) {
            el->blocks[w++] = el->blocks[i];
        } else {
            block_free(&el->blocks[i]);
        }
    }
    el->n_blocks = w;
    for (size_t i = 0; i < el->n_payloads; i++) {
        block_free(&el->payloads[i].b);
    }
    el->n_payloads = 0;
    set_head(el, (size_t)(find(el, keep) - el->blocks));
    pthread_mutex_unlock(&el->mu);
}

void fake_el_pool_add(struct fake_el *el, const char *hex)
{
    pthread_mutex_lock(&el->mu);
    el->pool = realloc(el->pool, (el->n_pool + 1) * sizeof(char *));
    el->pool[el->n_pool++] = strdup(hex);
    pthread_mutex_unlock(&el->mu);
}

uint64_t fake_el_calls(struct fake_el *el, const char *method)
{
    uint64_t n = 0;

    pthread_mutex_lock(&el->mu);
    for (size_t i = 0; i < MAX_COUNTERS; i++) {
        if (method == NULL || strcmp(el->counters[i].name, method) == 0) {
            n += el->counters[i].n;
        }
    }
    pthread_mutex_unlock(&el->mu);
    return n;
}
