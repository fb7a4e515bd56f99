/* The EVM executor over the Engine API, see evm.h. */
#include "exec/evm/evm.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "exec/evm/attrs.h"
#include "exec/evm/endpoint.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "evm"

#define DEFAULT_RETRIES 3u
#define DEFAULT_BACKOFF_MS 1000u
/* ev-node's SafeBlockLag and FinalizedBlockLag. */
#define SAFE_LAG 2u
#define FINAL_LAG 3u
/* Recent block hashes kept for the safe/finalized lookups. */
#define HASH_CACHE 16u
/* get_txs rounds in a row skipped while blocks execute: the next one
 * reads (blocks made back to back on a slow client would else starve the
 * pool's reads). */
#define MAX_POOL_SKIPS 4u
/* Engine API "Unsupported fork" (getPayload of another fork). */
#define RPC_UNSUPPORTED_FORK (-38005)
#define RPC_METHOD_NOT_FOUND (-32601)
/* Hex text of a hash, an address, with "0x" and NUL. */
#define HASH_HEX (2 * BM_EVM_HASH_LEN + 3)

/* A block the executor knows: height and hash. */
struct known {
    uint64_t height;
    uint8_t hash[BM_EVM_HASH_LEN];
};

/* The last block this executor built (its parent lookup is then free). */
struct built {
    bool valid;
    struct bm_evm_block b;
};

struct bm_evm {
    struct bm_evm_endpoint *engine;
    struct bm_evm_endpoint *eth;
    bool has_genesis_hash;
    uint8_t genesis_hash[BM_EVM_HASH_LEN];
    uint8_t fee_recipient[BM_EVM_ADDR_LEN];
    uint32_t retries;
    uint32_t backoff_ms;

    /* Under mu: the fork choice we last gave the EL, and caches. */
    pthread_mutex_t mu;
    bool initialised;
    struct known head, safe, fin;
    struct known cache[HASH_CACHE];
    struct built last;
    unsigned payload_version; /* 4, 5 or 6: the getPayload that worked */

    /* Under mu: inside execute_txs, and the EL's time so far in it. */
    bool in_exec;
    uint64_t cur_el_ns;

    /* An execute_txs is running (get_txs then reads nothing). */
    atomic_bool executing;
    _Atomic uint32_t skips_in_row;
    _Atomic uint64_t pool_reads_skipped;
    _Atomic uint64_t payloads_scanned;
    _Atomic uint64_t payloads_json_c;
    _Atomic uint64_t gas_limit; /* get_execution_info's max_gas */
    _Atomic uint64_t blocks;
    _Atomic uint64_t rebuilt;
    _Atomic uint64_t exec_ns;
    _Atomic uint64_t exec_el_ns;
};

/* ------------------------------------------------------------ helpers */

enum bm_err bm_evm_parse_hex_key(const char *key, const char *text,
                                 uint8_t *out, size_t n,
                                 struct bm_errmsg *em)
{
    size_t len = text != NULL ? strlen(text) : 0;
    struct bm_errmsg pem = {{0}};
    struct json_object *s;
    enum bm_err err;

    if (len != 2 * n + 2) {
        return bm_errf(em, BM_ECONFIG, "config: %s: want 0x and %zu hex "
                       "digits, got %zu characters", key, 2 * n, len);
    }
    s = json_object_new_string_len(text, (int)len);
    if (s == NULL) {
        return BM_ENOMEM;
    }
    err = bm_evm_dec_fixed(s, key, out, n, &pem);
    json_object_put(s);
    if (err != BM_OK) {
        return bm_errf(em, BM_ECONFIG, "config: %s", pem.msg);
    }
    return BM_OK;
}

/* A call made with evm->mu held (params in pieces, flags: endpoint.h):
 * inside execute_txs its time counts as the EL's share of the block. */
static enum bm_err ecall_ex(struct bm_evm *evm, struct bm_evm_endpoint *ep,
                            const char *method,
                            const struct bm_evm_span *params, size_t n,
                            unsigned flags, struct bm_evm_reply *r,
                            struct bm_errmsg *em)
{
    enum bm_err err = bm_evm_endpoint_call_ex(ep, method, params, n, 0,
                                              flags, r, em);

    if (evm->in_exec) {
        evm->cur_el_ns += r->ns;
    }
    return err;
}

static enum bm_err ecall(struct bm_evm *evm, struct bm_evm_endpoint *ep,
                         const char *method, const char *params,
                         struct bm_evm_reply *r, struct bm_errmsg *em)
{
    struct bm_evm_span p = {params, params != NULL ? strlen(params) : 0};

    return ecall_ex(evm, ep, method, &p, 1, 0, r, em);
}

static void cache_put(struct bm_evm *evm, uint64_t height,
                      const uint8_t hash[BM_EVM_HASH_LEN])
{
    struct known *k = &evm->cache[height % HASH_CACHE];

    k->height = height;
    memcpy(k->hash, hash, BM_EVM_HASH_LEN);
}

static const uint8_t *cache_get(const struct bm_evm *evm, uint64_t height)
{
    const struct known *k = &evm->cache[height % HASH_CACHE];
    static const uint8_t zero[BM_EVM_HASH_LEN];

    if (k->height != height || memcmp(k->hash, zero, sizeof(zero)) == 0) {
        return NULL;
    }
    return k->hash;
}

static void known_set(struct known *k, uint64_t height, const uint8_t *hash)
{
    k->height = height;
    memcpy(k->hash, hash, BM_EVM_HASH_LEN);
}

/* eth_getBlockByNumber(h, false) (latest when h is UINT64_MAX). */
static enum bm_err get_block(struct bm_evm *evm, uint64_t h, bool *found,
                             struct bm_evm_block *b, struct bm_errmsg *em)
{
    struct bm_evm_reply r = {0};
    char params[48];
    enum bm_err err;

    if (h == UINT64_MAX) {
        snprintf(params, sizeof(params), "\"latest\",false");
    } else {
        snprintf(params, sizeof(params), "\"0x%" PRIx64 "\",false", h);
    }
    err = ecall(evm, evm->eth, "eth_getBlockByNumber", params, &r, em);
    if (err == BM_OK) {
        struct bm_errmsg dem = {{0}};

        err = bm_evm_dec_block(r.result, found, b, &dem);
        if (err != BM_OK) {
            bm_errf(em, err, "eth_getBlockByNumber: %s", dem.msg);
        } else if (*found && h != UINT64_MAX && b->number != h) {
            err = bm_errf(em, BM_EPROTO, "eth_getBlockByNumber(%" PRIu64
                          "): the execution client answered block %" PRIu64,
                          h, b->number);
        }
    }
    if (err == BM_OK && *found) {
        cache_put(evm, b->number, b->hash);
    }
    bm_evm_reply_release(&r);
    return err;
}

/* The hash of block h: the cache, else the EL. BM_ENOTFOUND if absent. */
static enum bm_err block_hash(struct bm_evm *evm, uint64_t h,
                              uint8_t out[BM_EVM_HASH_LEN],
                              struct bm_errmsg *em)
{
    const uint8_t *c = cache_get(evm, h);
    struct bm_evm_block b;
    bool found = false;
    enum bm_err err;

    if (c != NULL) {
        memcpy(out, c, BM_EVM_HASH_LEN);
        return BM_OK;
    }
    err = get_block(evm, h, &found, &b, em);
    if (err != BM_OK) {
        return err;
    }
    if (!found) {
        return bm_errf(em, BM_ENOTFOUND, "the execution client has no block "
                       "%" PRIu64, h);
    }
    memcpy(out, b.hash, BM_EVM_HASH_LEN);
    return BM_OK;
}

/* The error of a non-VALID payload status after `method` in op. */
static enum bm_err status_error(const char *op, const char *method,
                                const struct bm_evm_payload_status *ps,
                                uint32_t attempts, struct bm_errmsg *em)
{
    char lvh[HASH_HEX] = "none";

    if (ps->has_latest_valid_hash) {
        bm_evm_hex(lvh, ps->latest_valid_hash, BM_EVM_HASH_LEN);
    }
    if (ps->status == BM_EVM_SYNCING || ps->status == BM_EVM_ACCEPTED) {
        return bm_errf(em, BM_EAGAIN, "%s: %s answered %s %u times (the "
                       "execution client is syncing or does not know the "
                       "parent; latestValidHash %s)",
                       op, method, bm_evm_status_name(ps->status),
                       (unsigned)attempts, lvh);
    }
    return bm_errf(em, BM_EEXEC_INVALID, "%s: %s answered %s: %s "
                   "(latestValidHash %s)",
                   op, method, bm_evm_status_name(ps->status),
                   ps->validation_error[0] != '\0' ? ps->validation_error
                                                   : "no validationError",
                   lvh);
}

/* Whether a status is worth another attempt. */
static bool temporary(enum bm_evm_status s)
{
    return s == BM_EVM_SYNCING || s == BM_EVM_ACCEPTED;
}

/*
 * engine_forkchoiceUpdatedV3(state, attrs) (attrs: JSON text or NULL for
 * null) until VALID, retrying SYNCING/ACCEPTED (probe: not retried, the
 * caller checks why first). *out gets the result.
 */
static enum bm_err fcu(struct bm_evm *evm, const struct known *head,
                       const struct known *safe, const struct known *fin,
                       const struct bm_buf *attrs, const char *op, bool probe,
                       struct bm_evm_fcu *out, struct bm_errmsg *em)
{
    static const char method[] = "engine_forkchoiceUpdatedV3";
    char h[HASH_HEX], s[HASH_HEX], f[HASH_HEX];
    char state[3 * HASH_HEX + 80];
    struct bm_evm_span p[2];
    uint32_t backoff = evm->backoff_ms;
    enum bm_err err;
    int n;

    bm_evm_hex(h, head->hash, BM_EVM_HASH_LEN);
    bm_evm_hex(s, safe->hash, BM_EVM_HASH_LEN);
    bm_evm_hex(f, fin->hash, BM_EVM_HASH_LEN);
    n = snprintf(state, sizeof(state), "{\"headBlockHash\":\"%s\","
                 "\"safeBlockHash\":\"%s\",\"finalizedBlockHash\":\"%s\"},",
                 h, s, f);
    if (n < 0 || (size_t)n >= sizeof(state)) {
        return bm_errf(em, BM_EINVAL, "%s: cannot build %s", op, method);
    }
    /* the params in two pieces: the state, the attributes (or null) as
     * built, copied once into the request */
    p[0] = (struct bm_evm_span){state, (size_t)n};
    p[1] = attrs != NULL ? (struct bm_evm_span){(const char *)attrs->ptr,
                                                attrs->len}
                         : (struct bm_evm_span){"null", 4};
    for (uint32_t attempt = 1;; attempt++) {
        struct bm_evm_reply r = {0};
        struct bm_errmsg xem = {{0}};

        err = ecall_ex(evm, evm->engine, method, p, 2, 0, &r, &xem);
        if (err == BM_OK) {
            err = bm_evm_dec_fcu(r.result, out, &xem);
        }
        bm_evm_reply_release(&r);
        if (err != BM_OK) {
            bm_errf(em, err, "%s: %s", op, xem.msg);
            break;
        }
        if (out->ps.status == BM_EVM_VALID) {
            break;
        }
        if (!temporary(out->ps.status) || attempt >= evm->retries ||
            probe) {
            err = status_error(op, method, &out->ps, attempt, em);
            break;
        }
        bm_log_warn(MOD, "%s: %s answered %s, retrying in %u ms", op, method,
                    bm_evm_status_name(out->ps.status), (unsigned)backoff);
        bm_sleep_ms(backoff);
        backoff *= 2;
    }
    return err;
}

/* Fork choice without attributes to the executor's head/safe/finalized. */
static enum bm_err fcu_state(struct bm_evm *evm, const char *op,
                             struct bm_errmsg *em)
{
    struct bm_evm_fcu res;

    return fcu(evm, &evm->head, &evm->safe, &evm->fin, NULL, op, false, &res,
               em);
}

/* ------------------------------------------------------------ ops */

static enum bm_err evm_init_chain(void *ctx, uint64_t genesis_time_ns,
                                  uint64_t initial_height,
                                  const char *chain_id,
                                  struct bm_buf *state_root,
                                  struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;
    struct bm_evm_block g, latest;
    bool found = false;
    char want[HASH_HEX], got[HASH_HEX];
    enum bm_err err;

    (void)genesis_time_ns;
    (void)chain_id;
    bm_buf_release(state_root);
    if (initial_height != 1) {
        return bm_errf(em, BM_EGENESIS, "evm: initial_height must be 1 (the "
                       "rollup height is the execution client's block "
                       "number), got %" PRIu64, initial_height);
    }
    pthread_mutex_lock(&evm->mu);
    err = get_block(evm, 0, &found, &g, em);
    if (err == BM_OK && !found) {
        err = bm_errf(em, BM_EPROTO, "evm: the execution client at %s has no "
                      "block 0", bm_evm_endpoint_url(evm->eth));
    }
    if (err != BM_OK) {
        goto out;
    }
    bm_evm_hex(got, g.hash, BM_EVM_HASH_LEN);
    if (!evm->has_genesis_hash) {
        err = bm_errf(em, BM_ECONFIG, "evm.genesis_hash is not set; the "
                      "execution client's genesis block is %s: if that is "
                      "your chain's, start with --evm.genesis-hash %s",
                      got, got);
        goto out;
    }
    if (memcmp(g.hash, evm->genesis_hash, BM_EVM_HASH_LEN) != 0) {
        bm_evm_hex(want, evm->genesis_hash, BM_EVM_HASH_LEN);
        err = bm_errf(em, BM_EEXEC_CHAIN, "evm: the execution client's "
                      "genesis block is %s but evm.genesis_hash is %s: it "
                      "runs another chain (check the genesis file it was "
                      "started with)", got, want);
        goto out;
    }
    err = get_block(evm, UINT64_MAX, &found, &latest, em);
    if (err == BM_OK && !found) {
        err = bm_errf(em, BM_EPROTO, "evm: the execution client has no "
                      "latest block");
    }
    if (err != BM_OK) {
        goto out;
    }
    if (latest.number > 0) {
        /* the engine port and the JWT are tried now, not at the first
         * block: a harmless authenticated call (a client without it
         * answers an RPC error, which is fine) */
        struct bm_evm_reply r = {0};

        err = ecall(evm, evm->engine, "engine_exchangeCapabilities",
                    "[\"engine_forkchoiceUpdatedV3\",\"engine_getPayloadV4\","
                    "\"engine_newPayloadV4\"]",
                    &r, em);
        bm_evm_reply_release(&r);
        if (err == BM_ERPC) {
            err = BM_OK;
        }
        if (err != BM_OK) {
            goto out;
        }
    }
    known_set(&evm->safe, 0, g.hash);
    known_set(&evm->fin, 0, g.hash);
    known_set(&evm->head, latest.number, latest.hash);
    if (latest.number == 0) {
        /* ev-node acknowledges genesis once; an EL with blocks keeps its
         * head (a fork choice to genesis could unwind it) */
        err = fcu_state(evm, "evm: init_chain", em);
        if (err != BM_OK) {
            goto out;
        }
    }
    atomic_store(&evm->gas_limit, latest.gas_limit);
    err = bm_buf_set(state_root, g.state_root, BM_EVM_HASH_LEN);
    if (err == BM_OK) {
        evm->initialised = true;
        bm_log_info(MOD, "execution client ready genesis=%s head=%" PRIu64
                    " gas_limit=%" PRIu64 " engine=%s eth=%s", got,
                    latest.number, latest.gas_limit,
                    bm_evm_endpoint_url(evm->engine),
                    bm_evm_endpoint_url(evm->eth));
    }
out:
    pthread_mutex_unlock(&evm->mu);
    return err;
}

static enum bm_err evm_get_txs(void *ctx, struct bm_batch *out,
                               struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;
    struct bm_evm_reply r = {0};
    struct bm_errmsg xem = {{0}};
    enum bm_err err;

    bm_batch_release(out);
    if (atomic_load(&evm->executing) &&
        atomic_fetch_add(&evm->skips_in_row, 1) < MAX_POOL_SKIPS) {
        /* the pool holds the block's own txs until it is done, and a
         * client that builds one block at a time answers after it */
        atomic_fetch_add(&evm->pool_reads_skipped, 1);
        return BM_OK;
    }
    atomic_store(&evm->skips_in_row, 0);
    err = bm_evm_endpoint_call(evm->eth, "txpoolExt_getTxs", NULL, 0, &r,
                               &xem);
    if (err == BM_ERPC && r.rpc_code == RPC_METHOD_NOT_FOUND) {
        err = bm_errf(em, BM_EUNSUPPORTED, "txpoolExt_getTxs: the execution "
                      "client at %s lacks ev-reth's txpoolExt_getTxs: %s",
                      bm_evm_endpoint_url(evm->eth), xem.msg);
    } else if (err != BM_OK) {
        bm_errf(em, err, "%s", xem.msg);
    } else {
        err = bm_evm_dec_txs(r.result, out, em);
    }
    bm_evm_reply_release(&r);
    return err;
}

static const char *const get_payload_methods[] = {
    "engine_getPayloadV4", "engine_getPayloadV5", "engine_getPayloadV6"};

/* engine_getPayloadV4 (V5, V6 on "Unsupported fork", the one that worked
 * first next time). *r holds the answer, which *pl borrows. */
static enum bm_err get_payload(struct bm_evm *evm, const uint8_t id[8],
                               struct bm_evm_reply *r,
                               struct bm_evm_payload *pl,
                               struct bm_errmsg *em)
{
    char params[2 * BM_EVM_PAYLOAD_ID_LEN + 8];
    unsigned pref = evm->payload_version - 4, order[3];
    struct bm_errmsg xem = {{0}};
    enum bm_err err = BM_EUNSUPPORTED;
    size_t k = 0;

    params[0] = '"';
    bm_evm_hex(params + 1, id, BM_EVM_PAYLOAD_ID_LEN);
    params[3 + 2 * BM_EVM_PAYLOAD_ID_LEN] = '"';
    params[4 + 2 * BM_EVM_PAYLOAD_ID_LEN] = '\0';
    order[k++] = pref;
    for (unsigned i = 0; i < 3; i++) {
        if (i != pref) {
            order[k++] = i;
        }
    }
    for (size_t i = 0; i < 3; i++) {
        const char *m = get_payload_methods[order[i]];
        struct bm_evm_span ps = {params, strlen(params)};
        struct bm_errmsg dem = {{0}};

        err = ecall_ex(evm, evm->engine, m, &ps, 1, BM_EVM_CALL_KEEP_BODY,
                       r, &xem);
        if (err == BM_OK) {
            /* the answer's own bytes: the scanner, else json-c */
            bool scanned = false;

            err = bm_evm_payload_decode(r, pl, &scanned, &dem);
            atomic_fetch_add(scanned ? &evm->payloads_scanned
                                     : &evm->payloads_json_c, 1);
            if (err != BM_OK) {
                bm_errf(&xem, err, "%s: %s", m, dem.msg);
            }
        }
        if (err == BM_ERPC && r->rpc_code == RPC_UNSUPPORTED_FORK) {
            continue;
        }
        if (err == BM_OK) {
            if (evm->payload_version != 4 + order[i]) {
                evm->payload_version = 4 + order[i];
                bm_log_info(MOD, "getPayload version=%s", m);
            }
        }
        break;
    }
    if (err != BM_OK) {
        bm_errf(em, err, "execute_txs: %s", xem.msg);
    }
    return err;
}

/* engine_newPayloadV4(payload, [], 0x00..00, requests) until VALID: the
 * payload and the requests are getPayload's answer's own JSON text. */
static enum bm_err new_payload(struct bm_evm *evm,
                               const struct bm_evm_payload *pl,
                               struct bm_errmsg *em)
{
    static const char method[] = "engine_newPayloadV4";
    static const char mid[] = ",[],\"0x0000000000000000000000000000000000"
                              "000000000000000000000000000000\",";
    struct bm_evm_span p[3] = {
        pl->payload,
        {mid, sizeof(mid) - 1},
        pl->requests.p != NULL ? pl->requests
                               : (struct bm_evm_span){"[]", 2},
    };
    uint32_t backoff = evm->backoff_ms;
    enum bm_err err;

    for (uint32_t attempt = 1;; attempt++) {
        struct bm_evm_reply r = {0};
        struct bm_evm_payload_status ps;
        struct bm_errmsg xem = {{0}};

        err = ecall_ex(evm, evm->engine, method, p, 3, 0, &r, &xem);
        if (err == BM_OK) {
            err = bm_evm_dec_payload_status(r.result, "newPayload", &ps,
                                            &xem);
        }
        bm_evm_reply_release(&r);
        if (err != BM_OK) {
            bm_errf(em, err, "execute_txs: %s", xem.msg);
            break;
        }
        if (ps.status == BM_EVM_VALID) {
            break;
        }
        if (!temporary(ps.status) || attempt >= evm->retries) {
            err = status_error("execute_txs", method, &ps, attempt, em);
            break;
        }
        bm_log_warn(MOD, "execute_txs: %s answered %s, retrying in %u ms",
                    method, bm_evm_status_name(ps.status), (unsigned)backoff);
        bm_sleep_ms(backoff);
        backoff *= 2;
    }
    return err;
}

/* The payload must be block h on parent p at time ts, built from a
 * subsequence of txs (ev-reth drops the txs that fail, in order): a
 * client that builds from its own pool would make full nodes disagree. */
static enum bm_err check_payload(const struct bm_evm_payload *pl, uint64_t h,
                                 uint64_t ts, const struct bm_evm_block *p,
                                 const struct bm_buf *txs, size_t n_txs,
                                 struct bm_errmsg *em)
{
    size_t j = 0;

    if (pl->number != h || pl->timestamp != ts ||
        memcmp(pl->parent_hash, p->hash, BM_EVM_HASH_LEN) != 0) {
        char got[HASH_HEX], want[HASH_HEX];

        bm_evm_hex(got, pl->parent_hash, BM_EVM_HASH_LEN);
        bm_evm_hex(want, p->hash, BM_EVM_HASH_LEN);
        return bm_errf(em, BM_EPROTO, "execute_txs: the execution client "
                       "built block %" PRIu64 " at time %" PRIu64 " on %s, "
                       "asked for %" PRIu64 " at %" PRIu64 " on %s",
                       pl->number, pl->timestamp, got, h, ts, want);
    }
    for (size_t i = 0; i < pl->n_txs; i++) {
        const struct bm_evm_span *v = &pl->txs[i];

        while (j < n_txs && !(v->len == 2 * txs[j].len &&
                              bm_hex_eq(v->p, txs[j].ptr, txs[j].len))) {
            j++;
        }
        if (j == n_txs) {
            return bm_errf(em, BM_EPROTO, "execute_txs: block %" PRIu64
                           " from the execution client has %zu txs that are "
                           "not the %zu it was given, in order (tx %zu): it "
                           "builds from its own pool; it needs ev-reth's "
                           "payload-attribute transactions", h, pl->n_txs,
                           n_txs, i);
        }
        j++;
    }
    return BM_OK;
}

/* The parent of block h: the block built last, else the EL's block h-1.
 * BM_EHEIGHT_MISMATCH when the EL does not have it (it is behind: the
 * block manager replays), after pointing the fork choice at the EL's
 * latest block. */
static enum bm_err parent_of(struct bm_evm *evm, uint64_t h,
                             struct bm_evm_block *p, struct bm_errmsg *em)
{
    struct bm_evm_block latest;
    bool found = false;
    enum bm_err err;

    if (evm->last.valid && evm->last.b.number == h - 1) {
        *p = evm->last.b;
        return BM_OK;
    }
    err = get_block(evm, h - 1, &found, p, em);
    if (err != BM_OK || found) {
        return err;
    }
    err = get_block(evm, UINT64_MAX, &found, &latest, em);
    if (err != BM_OK || !found) {
        return err != BM_OK ? err : bm_errf(em, BM_EPROTO, "execute_txs: "
                                            "no latest block");
    }
    known_set(&evm->head, latest.number, latest.hash);
    if (evm->safe.height > latest.number) {
        known_set(&evm->safe, latest.number, latest.hash);
    }
    if (evm->fin.height > latest.number) {
        known_set(&evm->fin, latest.number, latest.hash);
    }
    return bm_errf(em, BM_EHEIGHT_MISMATCH, "execute_txs: the execution "
                   "client has no block %" PRIu64 " (its latest is %" PRIu64
                   "): it is behind the rollup, its missing blocks must be "
                   "replayed", h - 1, latest.number);
}

/* Moves safe to h - SAFE_LAG and finalized to h - FINAL_LAG when higher. */
static void advance_safe(struct bm_evm *evm, uint64_t h)
{
    uint8_t hash[BM_EVM_HASH_LEN];
    struct bm_errmsg em = {{0}};

    if (h > SAFE_LAG && h - SAFE_LAG > evm->safe.height &&
        block_hash(evm, h - SAFE_LAG, hash, &em) == BM_OK) {
        known_set(&evm->safe, h - SAFE_LAG, hash);
    }
    if (h > FINAL_LAG && h - FINAL_LAG > evm->fin.height &&
        block_hash(evm, h - FINAL_LAG, hash, &em) == BM_OK) {
        known_set(&evm->fin, h - FINAL_LAG, hash);
    }
}

/* execute_txs with evm->mu held. */
static enum bm_err execute_locked(struct bm_evm *evm,
                                  const struct bm_buf *txs, size_t n_txs,
                                  uint64_t h, uint64_t ts,
                                  const uint8_t *prev_root,
                                  size_t prev_root_len,
                                  struct bm_evm_block *out,
                                  struct bm_errmsg *em)
{
    struct bm_evm_block parent, existing;
    struct bm_evm_reply pr = {0};
    struct bm_evm_payload pl = {0};
    struct bm_evm_fcu res;
    struct bm_evm_attrs ad;
    struct bm_buf attrs = {0};
    struct known pk;
    bool rebuild, had = false;
    bool cached = evm->last.valid && evm->last.b.number == h - 1;
    enum bm_err err;

    err = parent_of(evm, h, &parent, em);
    if (err != BM_OK) {
        return err;
    }
    if (prev_root_len > 0 &&
        (prev_root_len != BM_EVM_HASH_LEN ||
         memcmp(prev_root, parent.state_root, BM_EVM_HASH_LEN) != 0)) {
        char got[HASH_HEX], want[2 * 64 + 3];

        bm_evm_hex(got, parent.state_root, BM_EVM_HASH_LEN);
        bm_evm_hex(want, prev_root,
                   prev_root_len > 64 ? 64 : prev_root_len);
        return bm_errf(em, BM_EEXEC_CHAIN, "execute_txs: the execution "
                       "client's block %" PRIu64 " has state root %s but the "
                       "rollup's app hash there is %s: the client is on "
                       "another chain", h - 1, got, want);
    }
    rebuild = h <= evm->head.height;
    if (rebuild) {
        err = get_block(evm, h, &had, &existing, em);
        if (err != BM_OK) {
            return err;
        }
        bm_log_info(MOD, "execution client already has height %" PRIu64
                    " (head %" PRIu64 "): building it again from the "
                    "rollup's txs", h, evm->head.height);
    }
    /* a fork choice never puts safe or finalized above its head */
    known_set(&pk, h - 1, parent.hash);
    if (evm->safe.height > pk.height) {
        evm->safe = pk;
    }
    if (evm->fin.height > pk.height) {
        evm->fin = pk;
    }
    ad.timestamp = ts;
    ad.height = h;
    ad.fee_recipient = evm->fee_recipient;
    ad.gas_limit = parent.gas_limit;
    err = bm_evm_attrs_build(&ad, txs, n_txs, (size_t)1 << 30, &attrs);
    if (err != BM_OK) {
        return bm_errf(em, err, "execute_txs: cannot build the payload "
                       "attributes of %" PRIu64, h);
    }
    err = fcu(evm, &pk, &evm->safe, &evm->fin, &attrs, "execute_txs",
              cached, &res, em);
    if (err == BM_EAGAIN && cached) {
        /* SYNCING on a parent known only from memory: the client may have
         * lost it (restarted); look it up again before waiting */
        bm_buf_release(&attrs);
        evm->last.valid = false;
        return execute_locked(evm, txs, n_txs, h, ts, prev_root,
                              prev_root_len, out, em);
    }
    if (err == BM_OK && !res.has_payload_id) {
        /* An EL may decline to build on an ancestor of its head: move its
         * head back to the parent (as ev-node's rollback) and ask again. */
        bm_log_warn(MOD, "execute_txs: no payload id on parent %" PRIu64
                    "; moving the execution client's head back to it",
                    h - 1);
        evm->head = evm->safe = evm->fin = pk;
        err = fcu_state(evm, "execute_txs", em);
        if (err == BM_OK) {
            err = fcu(evm, &pk, &evm->safe, &evm->fin, &attrs,
                      "execute_txs", false, &res, em);
        }
        if (err == BM_OK && !res.has_payload_id) {
            err = bm_errf(em, BM_EPROTO, "execute_txs: "
                          "engine_forkchoiceUpdatedV3 with payload "
                          "attributes on block %" PRIu64 " returned no "
                          "payloadId", h - 1);
        }
    }
    bm_buf_release(&attrs);
    if (err == BM_OK) {
        err = get_payload(evm, res.payload_id, &pr, &pl, em);
    }
    if (err == BM_OK) {
        err = check_payload(&pl, h, ts, &parent, txs, n_txs, em);
    }
    if (err == BM_OK) {
        err = new_payload(evm, &pl, em);
    }
    if (err != BM_OK) {
        bm_evm_payload_release(&pl);
        bm_evm_reply_release(&pr);
        return err;
    }
    memset(out, 0, sizeof(*out));
    out->number = h;
    out->timestamp = ts;
    out->gas_limit = pl.gas_limit;
    memcpy(out->hash, pl.block_hash, BM_EVM_HASH_LEN);
    memcpy(out->parent_hash, pl.parent_hash, BM_EVM_HASH_LEN);
    memcpy(out->state_root, pl.state_root, BM_EVM_HASH_LEN);
    bm_evm_payload_release(&pl);
    bm_evm_reply_release(&pr);
    cache_put(evm, h - 1, parent.hash);
    cache_put(evm, h, out->hash);
    known_set(&evm->head, h, out->hash);
    advance_safe(evm, h);
    err = fcu_state(evm, "execute_txs", em);
    if (err != BM_OK) {
        return err;
    }
    if (rebuild) {
        atomic_fetch_add(&evm->rebuilt, 1);
        if (had && memcmp(existing.hash, out->hash, BM_EVM_HASH_LEN) != 0) {
            char was[HASH_HEX], now[HASH_HEX];

            bm_evm_hex(was, existing.hash, BM_EVM_HASH_LEN);
            bm_evm_hex(now, out->hash, BM_EVM_HASH_LEN);
            bm_log_warn(MOD, "execution client's block %" PRIu64 " %s "
                        "replaced by the rollup's %s", h, was, now);
        }
    }
    return BM_OK;
}

static enum bm_err evm_execute_txs(void *ctx, const struct bm_buf *txs,
                                   size_t n_txs, uint64_t height,
                                   uint64_t time_ns, const uint8_t *prev_root,
                                   size_t prev_root_len,
                                   struct bm_exec_result *out,
                                   struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;
    struct bm_evm_block b;
    uint64_t t0;
    enum bm_err err;

    bm_exec_result_release(out);
    atomic_store(&evm->executing, true);
    pthread_mutex_lock(&evm->mu);
    t0 = bm_clock_now_ns();
    evm->in_exec = true;
    evm->cur_el_ns = 0;
    if (!evm->initialised) {
        err = bm_errf(em, BM_ESTATE, "execute_txs: init_chain has not run");
    } else {
        err = execute_locked(evm, txs, n_txs, height, time_ns / 1000000000u,
                             prev_root, prev_root_len, &b, em);
    }
    evm->in_exec = false;
    atomic_fetch_add(&evm->exec_ns, bm_clock_now_ns() - t0);
    atomic_fetch_add(&evm->exec_el_ns, evm->cur_el_ns);
    if (err == BM_OK) {
        evm->last.valid = true;
        evm->last.b = b;
        atomic_store(&evm->gas_limit, b.gas_limit);
        atomic_fetch_add(&evm->blocks, 1);
    } else {
        evm->last.valid = false;
    }
    pthread_mutex_unlock(&evm->mu);
    atomic_store(&evm->executing, false);
    if (err == BM_OK) {
        err = bm_buf_set(&out->state_root, b.state_root, BM_EVM_HASH_LEN);
    }
    return err;
}

static enum bm_err evm_set_final(void *ctx, uint64_t height,
                                 struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;
    struct known safe, fin;
    uint8_t hash[BM_EVM_HASH_LEN];
    enum bm_err err = BM_OK;

    pthread_mutex_lock(&evm->mu);
    safe = evm->safe;
    fin = evm->fin;
    if (!evm->initialised) {
        err = bm_errf(em, BM_ESTATE, "set_final: init_chain has not run");
    } else if (height <= evm->fin.height) {
        err = BM_OK; /* idempotent */
    } else if (height > evm->head.height) {
        err = bm_errf(em, BM_EHEIGHT_MISMATCH, "set_final: height %" PRIu64
                      " is above the executed height %" PRIu64, height,
                      evm->head.height);
    } else {
        err = block_hash(evm, height, hash, em);
        if (err == BM_OK) {
            known_set(&evm->safe, height, hash);
            known_set(&evm->fin, height, hash);
            err = fcu_state(evm, "set_final", em);
        }
        if (err != BM_OK) {
            evm->safe = safe;
            evm->fin = fin;
        }
    }
    pthread_mutex_unlock(&evm->mu);
    return err;
}

static enum bm_err evm_get_execution_info(void *ctx, struct bm_exec_info *out,
                                          struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;

    (void)em;
    out->max_gas = atomic_load(&evm->gas_limit);
    return BM_OK;
}

/* ev-node's FilterTxs: empty txs are removed; with forced-inclusion txs
 * every tx is decoded for its gas (undecodable: removed); txs too large
 * for a block are removed; once the byte (or gas) budget is used the rest
 * is postponed. */
static enum bm_err evm_filter_txs(void *ctx, const struct bm_buf *txs,
                                  size_t n_txs, uint64_t max_bytes,
                                  uint64_t max_gas, bool has_force_included,
                                  enum bm_filter_status *status,
                                  struct bm_errmsg *em)
{
    uint64_t bytes = 0, gas = 0;
    bool full = false;

    (void)ctx;
    (void)em;
    for (size_t i = 0; i < n_txs; i++) {
        uint64_t len = txs[i].len, g = 0;

        if (len == 0) {
            status[i] = BM_FILTER_REMOVE;
            continue;
        }
        if (has_force_included) {
            if (bm_evm_tx_gas(txs[i].ptr, txs[i].len, &g, NULL) != BM_OK ||
                (max_gas > 0 && g > max_gas)) {
                status[i] = BM_FILTER_REMOVE;
                continue;
            }
        }
        if (max_bytes > 0 && len > max_bytes) {
            status[i] = BM_FILTER_REMOVE;
            continue;
        }
        if (full || (max_bytes > 0 && bytes + len > max_bytes) ||
            (has_force_included && max_gas > 0 && gas + g > max_gas)) {
            full = true;
            status[i] = BM_FILTER_POSTPONE;
            continue;
        }
        bytes += len;
        gas += g;
        status[i] = BM_FILTER_OK;
    }
    return BM_OK;
}

static enum bm_err evm_get_latest_height(void *ctx, uint64_t *height,
                                         struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;
    struct bm_evm_reply r = {0};
    struct bm_errmsg xem = {{0}};
    enum bm_err err;

    err = bm_evm_endpoint_call(evm->eth, "eth_blockNumber", NULL, 0, &r,
                               &xem);
    if (err == BM_OK) {
        err = bm_evm_dec_quantity(r.result, "eth_blockNumber", height, &xem);
    }
    if (err != BM_OK) {
        bm_errf(em, err, "get_latest_height: %s", xem.msg);
    }
    bm_evm_reply_release(&r);
    return err;
}

static enum bm_err evm_rollback(void *ctx, uint64_t height,
                                struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;
    struct known head, safe, fin;
    uint8_t hash[BM_EVM_HASH_LEN];
    enum bm_err err;

    pthread_mutex_lock(&evm->mu);
    head = evm->head;
    safe = evm->safe;
    fin = evm->fin;
    err = block_hash(evm, height, hash, em);
    if (err == BM_OK) {
        known_set(&evm->head, height, hash);
        evm->safe = evm->fin = evm->head;
        evm->last.valid = false;
        err = fcu_state(evm, "rollback", em);
    }
    if (err != BM_OK) {
        evm->head = head;
        evm->safe = safe;
        evm->fin = fin;
    } else {
        bm_log_info(MOD, "execution client rolled back height=%" PRIu64,
                    height);
    }
    pthread_mutex_unlock(&evm->mu);
    return err;
}

static enum bm_err evm_get_state_root(void *ctx, uint64_t height,
                                      struct bm_buf *root,
                                      struct bm_errmsg *em)
{
    struct bm_evm *evm = ctx;
    struct bm_evm_block b;
    bool found = false;
    enum bm_err err;

    bm_buf_release(root);
    pthread_mutex_lock(&evm->mu);
    err = get_block(evm, height, &found, &b, em);
    pthread_mutex_unlock(&evm->mu);
    if (err == BM_OK && !found) {
        err = bm_errf(em, BM_ENOTFOUND, "the execution client has no block "
                      "%" PRIu64, height);
    }
    if (err == BM_OK) {
        err = bm_buf_set(root, b.state_root, BM_EVM_HASH_LEN);
    }
    return err;
}

static const struct bm_executor_ops evm_ops = {
    .init_chain = evm_init_chain,
    .get_txs = evm_get_txs,
    .execute_txs = evm_execute_txs,
    .set_final = evm_set_final,
    .get_execution_info = evm_get_execution_info,
    .filter_txs = evm_filter_txs,
    .get_latest_height = evm_get_latest_height,
    .rollback = evm_rollback,
    .get_state_root = evm_get_state_root,
};

/* ------------------------------------------------------------ lifecycle */

enum bm_err bm_evm_new(struct bm_evm **out, const struct bm_evm_config *cfg,
                       struct bm_errmsg *em)
{
    struct bm_evm_endpoint_config ec;
    struct bm_evm *evm;
    enum bm_err err;

    *out = NULL;
    evm = bm_calloc(1, sizeof(*evm));
    if (evm == NULL) {
        return BM_ENOMEM;
    }
    pthread_mutex_init(&evm->mu, NULL);
    memset(&ec, 0, sizeof(ec));
    ec.url = cfg->engine_url;
    ec.jwt_secret = cfg->jwt_secret;
    ec.timeout_ms = cfg->timeout_ms;
    ec.max_response = cfg->max_response;
    ec.what = "engine";
    err = bm_evm_endpoint_new(&evm->engine, &ec, em);
    if (err == BM_OK) {
        ec.url = cfg->eth_url;
        ec.jwt_secret = NULL;
        ec.what = "eth";
        err = bm_evm_endpoint_new(&evm->eth, &ec, em);
    }
    if (err != BM_OK) {
        bm_evm_free(evm);
        return err;
    }
    evm->has_genesis_hash = cfg->has_genesis_hash;
    memcpy(evm->genesis_hash, cfg->genesis_hash, BM_EVM_HASH_LEN);
    memcpy(evm->fee_recipient, cfg->fee_recipient, BM_EVM_ADDR_LEN);
    evm->retries = cfg->status_retries ? cfg->status_retries
                                       : DEFAULT_RETRIES;
    evm->backoff_ms = cfg->retry_backoff_ms ? cfg->retry_backoff_ms
                                            : DEFAULT_BACKOFF_MS;
    evm->payload_version = 4;
    atomic_init(&evm->executing, false);
    atomic_init(&evm->skips_in_row, 0);
    atomic_init(&evm->pool_reads_skipped, 0);
    atomic_init(&evm->payloads_scanned, 0);
    atomic_init(&evm->payloads_json_c, 0);
    atomic_init(&evm->gas_limit, 0);
    atomic_init(&evm->blocks, 0);
    atomic_init(&evm->rebuilt, 0);
    atomic_init(&evm->exec_ns, 0);
    atomic_init(&evm->exec_el_ns, 0);
    *out = evm;
    return BM_OK;
}

void bm_evm_free(struct bm_evm *evm)
{
    if (evm == NULL) {
        return;
    }
    bm_evm_endpoint_free(evm->engine);
    bm_evm_endpoint_free(evm->eth);
    pthread_mutex_destroy(&evm->mu);
    bm_free(evm);
}

void bm_evm_executor(struct bm_evm *evm, struct bm_executor *out)
{
    out->ops = &evm_ops;
    out->ctx = evm;
}

enum bm_err bm_evm_el_genesis(struct bm_evm *evm,
                              uint8_t out[BM_EVM_HASH_LEN],
                              struct bm_errmsg *em)
{
    struct bm_evm_block g;
    bool found = false;
    enum bm_err err;

    pthread_mutex_lock(&evm->mu);
    err = get_block(evm, 0, &found, &g, em);
    pthread_mutex_unlock(&evm->mu);
    if (err == BM_OK && !found) {
        err = bm_errf(em, BM_EPROTO, "the execution client has no block 0");
    }
    if (err == BM_OK) {
        memcpy(out, g.hash, BM_EVM_HASH_LEN);
    }
    return err;
}

void bm_evm_stats(const struct bm_evm *evm, struct bm_evm_stats *out)
{
    struct bm_evm_endpoint_stats s;

    memset(out, 0, sizeof(*out));
    bm_evm_endpoint_stats(evm->engine, &s);
    out->engine_calls = s.calls;
    out->engine_ns = s.ns;
    out->engine_connects = s.connects;
    bm_evm_endpoint_stats(evm->eth, &s);
    out->eth_calls = s.calls;
    out->eth_ns = s.ns;
    out->eth_connects = s.connects;
    out->blocks = atomic_load(&evm->blocks);
    out->rebuilt = atomic_load(&evm->rebuilt);
    out->exec_ns = atomic_load(&evm->exec_ns);
    out->exec_el_ns = atomic_load(&evm->exec_el_ns);
    out->pool_reads_skipped = atomic_load(&evm->pool_reads_skipped);
    out->payloads_scanned = atomic_load(&evm->payloads_scanned);
    out->payloads_json_c = atomic_load(&evm->payloads_json_c);
}

const char *bm_evm_eth_url(const struct bm_evm *evm)
{
    return bm_evm_endpoint_url(evm->eth);
}
