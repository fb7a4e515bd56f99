/*
 * Transaction ingress for the KV executor, transport-free: parses a
 * `POST /tx` body into txs (each checked with bm_kv_check_tx and hashed),
 * maps results to HTTP statuses and renders the reply; `GET /kv/<key>`
 * reads a key at the latest height. The node's RPC server
 * (src/node/rpc.c) does the HTTP and hands the well-formed txs to the
 * durable group commit (include/blockv2/ingest.h).
 *
 * Body forms (docs/EXECUTION.md, "Tx ingress"):
 *  - single, raw: any Content-Type except application/json; the body is
 *    the tx (at most BM_INGRESS_MAX_BODY bytes).
 *  - single, JSON: {"tx": "<key=value>"} or {"tx_hex": "<hex>"}.
 *  - batch, JSON: {"txs": ["k=v", ...]} or {"txs_hex": ["6b3d31", ...]},
 *    1..BM_INGRESS_MAX_BATCH txs, body at most BM_INGRESS_MAX_BATCH_BODY.
 * Replies (JSON): single: the tx's status with {"hash": ...} and/or
 * {"error": ...}; batch: 200 {"accepted": N, "results": [{"status": 202,
 * "hash": ...}, {"status": 400, "error": ...}, ...]} (one per tx, in
 * order) unless the request as a whole fails (400, 413, 429, 503).
 */
#ifndef BM_EXEC_KV_INGRESS_H
#define BM_EXEC_KV_INGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"
#include "exec/kv/kv.h"

struct bm_errmsg;

/* Largest single-form body (JSON with a hex-encoded maximal tx). */
#define BM_INGRESS_MAX_BODY (2u * BM_KV_MAX_TX + 1024u)
/* Batch form: most txs in one request, and the largest body. */
#define BM_INGRESS_MAX_BATCH 1000u
#define BM_INGRESS_MAX_BATCH_BODY (1024u * 1024u)

/* Reply of a query or of a request-wide error. */
struct bm_ingress_reply {
    int http_status;
    enum bm_err err;      /* BM_OK for 2xx */
    bool has_hash;
    struct bm_hash hash;  /* tx SHA-256 when has_hash */
    char reason[256];     /* empty for 2xx */
};

/*
 * HTTP status of a tx result or request error: BM_OK 202; BM_EBADTX,
 * BM_EPARSE, BM_EINVAL, BM_EEMPTY 400; BM_EEXIST 409; BM_ETOOBIG 413;
 * BM_EUNSUPPORTED 415; BM_ERATE_LIMITED 429; BM_EQUEUE_FULL, BM_EFULL,
 * BM_ECLOSED, BM_ESTATE, BM_EMAP_FULL 503 (not accepting now);
 * BM_ENOTFOUND 404; anything else 500 (e.g. BM_EIO: the sync failed, not
 * known durable).
 */
int bm_ingress_http_status(enum bm_err err);

/* One parsed request. Zero-initialise; bm_ingress_req_release frees. */
struct bm_ingress_req {
    bool batch;            /* batch form (reply shape) */
    size_t n;              /* txs in the request */
    enum bm_err *err;      /* n: per-tx result (BM_OK so far = well formed) */
    char **reason;         /* n: owned message of a malformed tx, or NULL */
    bool *has_hash;        /* n */
    struct bm_hash *hash;  /* n: SHA-256 (when has_hash) */
    /* The well-formed txs, to submit: sub_txs[j] (owned) is tx
     * sub_pos[j] of the request, with hash sub_hash[j]; sub_status[j] is
     * where the submitter writes its result (see bm_ingress_req_settle). */
    size_t n_sub;
    struct bm_buf *sub_txs;
    struct bm_hash *sub_hash;
    enum bm_err *sub_status;
    size_t *sub_pos;
};

/*
 * Parses body[0..len) (borrowed; untrusted) of content type ct (borrowed,
 * may be NULL = raw) into *out (released first; returns owned): every tx
 * is checked with bm_kv_check_tx (a malformed one gets its error and
 * reason and is not in the sub_* arrays) and hashed. Errors of the request
 * as a whole (then *out holds nothing): BM_EPARSE (not JSON, wrong shape,
 * empty batch; message in em), BM_ETOOBIG (body or tx count above the
 * caps), BM_ENOMEM. Never blocks.
 */
enum bm_err bm_ingress_parse(const char *ct, const uint8_t *body,
                             size_t len, struct bm_ingress_req *out,
                             struct bm_errmsg *em);

/* Copies sub_status[] into the per-tx results (after the submission
 * completed). */
void bm_ingress_req_settle(struct bm_ingress_req *r);

/* Sets every well-formed tx's result to err (e.g. BM_ERATE_LIMITED, or
 * the node is not accepting txs), with reason (borrowed, copied; NULL:
 * the code's default) as its message. BM_ENOMEM (the results are set,
 * some messages may be the default). */
enum bm_err bm_ingress_req_fail(struct bm_ingress_req *r, enum bm_err err,
                                const char *reason);

/* Number of txs whose result is BM_OK. */
size_t bm_ingress_req_accepted(const struct bm_ingress_req *r);

/*
 * Renders the reply of r: *status gets the HTTP status (the tx's for the
 * single form, 200 for a batch) and *out (released first; returns owned)
 * the JSON body. BM_ENOMEM.
 */
enum bm_err bm_ingress_req_reply(const struct bm_ingress_req *r,
                                 int *status, struct bm_buf *out);

void bm_ingress_req_release(struct bm_ingress_req *r);

/*
 * Query of the latest state, GET /kv/<key>: on BM_OK *out (released
 * first; returns owned) is {"key":..., "value":... (only when every byte
 * is printable ASCII), "value_hex":..., "height":N} and r->http_status is
 * 200; otherwise *r holds the error (404 key not found, 400 bad key, 500)
 * and the code is returned. key is a NUL-terminated string (borrowed).
 * May block briefly (LMDB read transaction).
 */
enum bm_err bm_kv_query_json(struct bm_kv *kv, const char *key,
                             struct bm_buf *out, struct bm_ingress_reply *r);

/* Renders a bm_ingress_reply as JSON into *out (released first; returns
 * owned): {"hash": ...} when has_hash, {"error": reason} unless BM_OK. */
enum bm_err bm_ingress_reply_json(const struct bm_ingress_reply *r,
                                  struct bm_buf *out);

#endif /* BM_EXEC_KV_INGRESS_H */
