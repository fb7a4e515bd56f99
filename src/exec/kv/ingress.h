/*
 * Transaction ingress for the KV executor: `POST /tx` puts one tx into the
 * mempool; `GET /kv/<key>` reads a key at the latest height.
 *
 * Two body forms:
 *  - raw: any Content-Type except application/json; the body is the tx.
 *  - JSON: Content-Type application/json; body {"tx": "<key=value>"} or
 *    {"tx_hex": "<hex bytes>"} (exactly one of the two).
 * Replies (JSON): 202 {"hash":"<sha256 hex>"} when queued; otherwise
 * {"error":"<reason>"} with 400 (malformed tx or JSON), 409 (already in
 * the mempool; "hash" is included too), 413 (too large), 415 (unsupported
 * content type), 429 (mempool full), 404/405 (wrong path/method), 500.
 *
 * The core (bm_kv_ingress_submit) is transport-free so the node's RPC
 * server can mount it; bm_kv_ingress_handler is a libmicrohttpd access
 * handler for the same, and bm_kv_ingress_start runs a tiny standalone
 * server with it (tests, or until the RPC server exists).
 */
#ifndef BM_EXEC_KV_INGRESS_H
#define BM_EXEC_KV_INGRESS_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"
#include "exec/kv/kv.h"

struct bm_errmsg;

/* Largest body accepted (JSON form with a hex-encoded maximal tx). */
#define BM_INGRESS_MAX_BODY (2u * BM_KV_MAX_TX + 1024u)

struct bm_ingress_reply {
    int http_status;
    enum bm_err err;      /* BM_OK for 202 */
    bool has_hash;
    struct bm_hash hash;  /* tx SHA-256 when has_hash */
    char reason[256];     /* empty for 202 */
};

/* Maps an error of bm_kv_mempool_add or parsing to its HTTP status. */
int bm_ingress_http_status(enum bm_err err);

/*
 * Extracts the tx from a request body (borrowed; untrusted): for a JSON
 * content type the "tx"/"tx_hex" member, else the body itself. *tx is
 * released first and returns owned. Errors: BM_EPARSE (bad JSON, reason
 * in em), BM_ETOOBIG (body above BM_INGRESS_MAX_BODY), BM_ENOMEM. Does not
 * validate the tx format (see bm_kv_check_tx).
 */
enum bm_err bm_ingress_parse_body(const char *content_type,
                                  const uint8_t *body, size_t len,
                                  struct bm_buf *tx, struct bm_errmsg *em);

/*
 * Parses body[0..len) (borrowed; untrusted) as described above, validates
 * the tx and adds it to kv's mempool; fills *out. content_type (borrowed)
 * may be NULL (raw). Never fails: errors are reported in *out. Never blocks
 * on I/O (mempool mutex only).
 */
void bm_kv_ingress_submit(struct bm_kv *kv, const char *content_type,
                          const uint8_t *body, size_t len,
                          struct bm_ingress_reply *out);

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

/* Renders the JSON reply body into *out (released first; returns owned). */
enum bm_err bm_ingress_reply_json(const struct bm_ingress_reply *r,
                                  struct bm_buf *out);

/*
 * libmicrohttpd access handler serving POST /tx; cls is the struct bm_kv *
 * (borrowed). Register bm_kv_ingress_completed as
 * MHD_OPTION_NOTIFY_COMPLETED so per-request state is freed. Runs on MHD's
 * threads; does not block beyond the mempool mutex.
 */
enum MHD_Result bm_kv_ingress_handler(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size,
                                      void **con_cls);
void bm_kv_ingress_completed(void *cls, struct MHD_Connection *conn,
                             void **con_cls,
                             enum MHD_RequestTerminationCode toe);

struct bm_kv_ingress_server;

/*
 * Starts an HTTP server with its own thread on host:port (IPv4 literal,
 * borrowed; port 0 picks a free port, returned in *bound_port). kv is
 * borrowed and must outlive the server. On success *out returns owned;
 * stop with bm_kv_ingress_stop. Errors: BM_EINVAL (host), BM_ESYS.
 */
enum bm_err bm_kv_ingress_start(struct bm_kv *kv, const char *host,
                                uint16_t port,
                                struct bm_kv_ingress_server **out,
                                uint16_t *bound_port, struct bm_errmsg *em);

/* Stops the server and waits for its thread. NULL-safe. May block. */
void bm_kv_ingress_stop(struct bm_kv_ingress_server *srv);

#endif /* BM_EXEC_KV_INGRESS_H */
