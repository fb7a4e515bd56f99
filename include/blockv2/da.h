/*
 * Data availability (DA) layer: the celestia-node blob/header JSON-RPC API.
 *
 * Pieces, all in src/da/:
 *  - namespaces from strings and DA IDs (LE64(height) || commitment);
 *  - the Celestia share commitment (go-square inclusion.CreateCommitment,
 *    subtree-root threshold 64), so IDs match what celestia-node computes;
 *  - a client (libcurl + json-c) for blob.Submit/GetAll/Get/GetProof/
 *    Included and header.GetByHeight/NetworkHead/LocalHead;
 *  - a local DA server (libmicrohttpd + LMDB) speaking the same API, used
 *    on laptops, in tests and by `blockv2 da serve`;
 *  - a small vtable (struct bm_da) that the actors call, so tests can wrap
 *    the real client.
 *
 * Errors: DA failures are reported with the DA block of enum bm_err
 * (BM_EDA_NOT_FOUND, BM_EDA_FUTURE_HEIGHT, BM_EDA_TOO_BIG, BM_EDA_IN_MEMPOOL,
 * BM_EDA_NOT_INCLUDED, BM_EDA_DEADLINE, BM_EDA_ERROR), derived from the
 * server's message text exactly as ev-node does (spec section 5.1); the
 * text itself is copied into the caller's struct bm_errmsg. Local argument
 * errors use BM_EINVAL/BM_ENOMEM, a malformed response BM_EPROTO, a refused
 * bearer token BM_EAUTH.
 */
#ifndef BM_BLOCKV2_DA_H
#define BM_BLOCKV2_DA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_errmsg;

#define BM_DA_NS_LEN 29
#define BM_DA_NS_ID_LEN 28
#define BM_DA_NS_V0_ZEROS 18
#define BM_DA_COMMITMENT_LEN 32
#define BM_DA_ID_LEN (8 + BM_DA_COMMITMENT_LEN)
#define BM_DA_SIGNER_LEN 20
#define BM_DA_SUBTREE_ROOT_LEN 90 /* minNs(29) || maxNs(29) || sha256 */
#define BM_DA_SHARE_SIZE 512
#define BM_DA_SUBTREE_ROOT_THRESHOLD 64
/* Default of the local DA server and of ev-node v1: 64 * 64 * 482. */
#define BM_DA_DEFAULT_MAX_BLOB_SIZE 1974272u
/* ev-node's client-side cap (blobsize.DefaultMaxBlobSize, 5 MiB). */
#define BM_DA_CLIENT_MAX_BLOB_SIZE 5242880u

/* ---- namespaces and IDs ------------------------------------------------ */

/* A Celestia namespace: version (1 byte) || id (28 bytes). */
struct bm_da_namespace {
    uint8_t b[BM_DA_NS_LEN];
};

/*
 * Namespace of a config string (ev-node pkg/da/types/namespace.go):
 * version 0, 18 zero bytes, then the first 10 bytes of SHA-256(s[0:len]).
 * Borrows s. Never fails.
 */
void bm_da_namespace_from_string(struct bm_da_namespace *out, const char *s,
                                 size_t len);

/* The header and data namespaces of a chain (config da.namespace and
 * da.data_namespace). */
struct bm_da_namespaces {
    struct bm_da_namespace header;
    struct bm_da_namespace data;
};

/*
 * Derives both namespaces from the config strings. header_ns must be
 * non-empty (ev-node's default is a random string, so operators must set
 * it): BM_ECONFIG otherwise. data_ns NULL or "" falls back to header_ns,
 * as in ev-node. Borrows the strings.
 */
enum bm_err bm_da_namespaces_from_config(struct bm_da_namespaces *out,
                                         const char *header_ns,
                                         const char *data_ns,
                                         struct bm_errmsg *em);

/*
 * Checks that 29 raw bytes form a valid version-0 namespace (version byte
 * 0 and 18 leading zero id bytes) and copies them to *out. BM_EINVAL with a
 * message naming `field` otherwise. Borrows p.
 */
enum bm_err bm_da_namespace_parse(struct bm_da_namespace *out,
                                  const uint8_t *p, size_t len,
                                  const char *field, struct bm_errmsg *em);

/* Writes the DA ID LE64(height) || commitment (40 bytes) to out. */
void bm_da_id_make(uint8_t out[BM_DA_ID_LEN], uint64_t height,
                   const uint8_t commitment[BM_DA_COMMITMENT_LEN]);

/*
 * Splits a DA ID (ev-node SplitID: length must be > 8). On success
 * *height is set and *commitment points into id (valid as long as id is),
 * with *commitment_len = len - 8. BM_EINVAL for a too-short ID.
 */
enum bm_err bm_da_id_split(const uint8_t *id, size_t len, uint64_t *height,
                           const uint8_t **commitment,
                           size_t *commitment_len);

/* ---- share commitment --------------------------------------------------- */

/*
 * Computes the go-square share commitment of one blob: sparse shares,
 * subtree width, mountains, one NMT root per mountain, RFC 6962 root over
 * the subtree roots (docs/DA.md, celestia-da.md section 2.3).
 * share_version is 0 or 1; version 1 needs a 20-byte signer (else NULL).
 * Borrows all inputs. BM_EINVAL for an empty blob, a bad share version or
 * a missing signer; BM_ETOOBIG above 1 GiB; BM_ENOMEM.
 * Thread-safe, pure.
 */
enum bm_err bm_da_commitment(uint8_t out[BM_DA_COMMITMENT_LEN],
                             const struct bm_da_namespace *ns,
                             const uint8_t *data, size_t len,
                             unsigned share_version, const uint8_t *signer);

/*
 * The NMT subtree roots that the commitment is built from (for tests and
 * proof checks). On success *roots is an owned array of *count roots of 90
 * bytes each; free it with bm_free(). Same errors as bm_da_commitment.
 */
enum bm_err bm_da_subtree_roots(uint8_t (**roots)[BM_DA_SUBTREE_ROOT_LEN],
                                size_t *count,
                                const struct bm_da_namespace *ns,
                                const uint8_t *data, size_t len,
                                unsigned share_version, const uint8_t *signer);

/* ---- status mapping (spec section 5.1) ---------------------------------- */

enum bm_da_status {
    BM_DA_STATUS_UNKNOWN = 0,
    BM_DA_STATUS_SUCCESS = 1,
    BM_DA_STATUS_NOT_FOUND = 2,
    BM_DA_STATUS_NOT_INCLUDED = 3,
    BM_DA_STATUS_ALREADY_IN_MEMPOOL = 4,
    BM_DA_STATUS_TOO_BIG = 5,
    BM_DA_STATUS_CONTEXT_DEADLINE = 6,
    BM_DA_STATUS_ERROR = 7,
    BM_DA_STATUS_INCORRECT_ACCOUNT_SEQUENCE = 8,
    BM_DA_STATUS_CONTEXT_CANCELED = 9,
    BM_DA_STATUS_HEIGHT_FROM_FUTURE = 10,
};

/* Canonical error texts (ev-node pkg/da/types/errors.go). */
#define BM_DA_MSG_NOT_FOUND "blob: not found"
#define BM_DA_MSG_TOO_BIG "blob: over size limit"
#define BM_DA_MSG_NOT_INCLUDED                                                 \
    "timed out waiting for tx to be included in a block"
#define BM_DA_MSG_IN_MEMPOOL "tx already in mempool"
#define BM_DA_MSG_ACCOUNT_SEQUENCE "incorrect account sequence"
#define BM_DA_MSG_DEADLINE "context deadline"
#define BM_DA_MSG_FUTURE "given height is from the future"
#define BM_DA_MSG_CANCELED "context canceled"

/* Classifies an error message by substring, as ev-node does. NULL or an
 * unknown text gives BM_DA_STATUS_ERROR. Borrows msg. */
enum bm_da_status bm_da_status_from_message(const char *msg);

/* The enum bm_err for a status (BM_OK for SUCCESS; the account-sequence,
 * canceled and unknown statuses give BM_EDA_ERROR). */
enum bm_err bm_da_status_to_err(enum bm_da_status st);

/* The status for a bm_err returned by this module (BM_OK -> SUCCESS,
 * BM_EDA_* -> their status, anything else -> ERROR). */
enum bm_da_status bm_da_status_from_err(int err);

/* Static name, e.g. "NotFound". Never NULL. */
const char *bm_da_status_name(enum bm_da_status st);

/* ---- blobs and headers --------------------------------------------------- */

/* One blob as carried in the blob API JSON. Owns data. */
struct bm_da_blob {
    struct bm_da_namespace ns;
    struct bm_buf data;
    uint32_t share_version;
    uint8_t commitment[BM_DA_COMMITMENT_LEN];
    bool has_signer;
    uint8_t signer[BM_DA_SIGNER_LEN];
    int64_t index; /* first share index in the EDS; -1 when unknown */
};

/*
 * Fills *b as a version-0 blob: copies data, computes the commitment,
 * index -1. *b must be zeroed or released. Borrows ns and data.
 * BM_EINVAL (empty data), BM_ENOMEM. On failure *b is left empty.
 */
enum bm_err bm_da_blob_init_v0(struct bm_da_blob *b,
                               const struct bm_da_namespace *ns,
                               const uint8_t *data, size_t len);

/* Frees the data and zeroes *b. NULL-safe. */
void bm_da_blob_release(struct bm_da_blob *b);

/* An owned array of blobs. {NULL, 0} is the empty list. */
struct bm_da_blob_list {
    struct bm_da_blob *v;
    size_t n;
};

void bm_da_blob_list_release(struct bm_da_blob_list *l);

/* The parts of an ExtendedHeader the node uses. */
struct bm_da_header {
    uint64_t height;
    bool has_time;
    int64_t time_unix_ns; /* header.time, nanoseconds since the epoch */
};

/* ---- the DA interface used by the actors --------------------------------- */

/*
 * Every call blocks the calling thread until the answer, the timeout or an
 * error. timeout_ms 0 means the implementation's default. Output
 * parameters are only written on success (lists and buffers must be empty
 * on entry and are owned by the caller afterwards). em may be NULL.
 */
struct bm_da_ops {
    /* blob.Submit: all blobs land at one DA height, returned in *height.
     * Borrows blobs (n >= 1, else BM_EINVAL). options_json (a JSON object
     * text) NULL means the configured options. A blob above the client's
     * max_blob_size fails with BM_EDA_TOO_BIG before any request. */
    enum bm_err (*submit)(void *ctx, const struct bm_da_blob *blobs,
                          size_t n, const char *options_json,
                          uint32_t timeout_ms, uint64_t *height,
                          struct bm_errmsg *em);
    /* blob.GetAll: blobs at height in any of the namespaces (1..64). An
     * empty height (null, [] or "blob: not found") gives BM_EDA_NOT_FOUND;
     * on success *out holds >= 1 blobs. */
    enum bm_err (*get_all)(void *ctx, uint64_t height,
                           const struct bm_da_namespace *ns, size_t n_ns,
                           uint32_t timeout_ms, struct bm_da_blob_list *out,
                           struct bm_errmsg *em);
    /* blob.Get: one blob by commitment. */
    enum bm_err (*get)(void *ctx, uint64_t height,
                       const struct bm_da_namespace *ns,
                       const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                       uint32_t timeout_ms, struct bm_da_blob *out,
                       struct bm_errmsg *em);
    /* blob.GetProof: the proof as compact JSON text (a JSON array), owned
     * by the caller; pass it back unchanged to included(). */
    enum bm_err (*get_proof)(void *ctx, uint64_t height,
                             const struct bm_da_namespace *ns,
                             const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                             uint32_t timeout_ms, struct bm_buf *proof_json,
                             struct bm_errmsg *em);
    /* blob.Included. Borrows proof_json (JSON text). */
    enum bm_err (*included)(void *ctx, uint64_t height,
                            const struct bm_da_namespace *ns,
                            const uint8_t *proof_json, size_t proof_len,
                            const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                            uint32_t timeout_ms, bool *included,
                            struct bm_errmsg *em);
    /* header.GetByHeight. */
    enum bm_err (*header_get_by_height)(void *ctx, uint64_t height,
                                        uint32_t timeout_ms,
                                        struct bm_da_header *out,
                                        struct bm_errmsg *em);
    /* header.NetworkHead. */
    enum bm_err (*header_network_head)(void *ctx, uint32_t timeout_ms,
                                       struct bm_da_header *out,
                                       struct bm_errmsg *em);
    /* header.LocalHead. */
    enum bm_err (*header_local_head)(void *ctx, uint32_t timeout_ms,
                                     struct bm_da_header *out,
                                     struct bm_errmsg *em);
};

/* A DA handle: the vtable plus its context (borrowed by the handle). */
struct bm_da {
    const struct bm_da_ops *ops;
    void *ctx;
};

/* ---- client --------------------------------------------------------------- */

struct bm_da_client;

struct bm_da_client_config {
    /* Base URL, e.g. "http://127.0.0.1:7980". Required. */
    const char *url;
    /* Bearer token; NULL or "" sends no Authorization header. */
    const char *auth_token;
    /* Header carrying "Bearer <token>"; NULL = "Authorization". */
    const char *auth_header;
    /* SubmitOptions JSON object (config da.submit_options); NULL = "{}". */
    const char *submit_options_json;
    /* Default per-call timeout; 0 = 60000 ms. */
    uint32_t timeout_ms;
    /* Cap on a response body; 0 = 64 MiB. */
    size_t max_response_size;
    /* Client-side blob size cap (larger blobs fail with BM_EDA_TOO_BIG
     * before any request); 0 = BM_DA_CLIENT_MAX_BLOB_SIZE. */
    size_t max_blob_size;
    /* Config da.gas_price: when set, every blob.Submit made with the
     * configured options sends "gas_price": gas_price and
     * "is_gas_price_set": true (celestia-node's TxConfig); unset, the DA
     * node estimates the price. */
    bool set_gas_price;
    double gas_price;
};

/*
 * Creates a client. Copies everything it needs from cfg (borrowed). The
 * submit options must be a JSON object, and a set gas price a finite
 * number >= 0 that the options do not also set (BM_ECONFIG otherwise).
 * Does no I/O. Returns the client in *out (owned; free with bm_da_client_free).
 */
enum bm_err bm_da_client_new(struct bm_da_client **out,
                             const struct bm_da_client_config *cfg,
                             struct bm_errmsg *em);

/* Frees the client and closes its connection. NULL-safe. Must not race
 * with a call in progress. */
void bm_da_client_free(struct bm_da_client *c);

/*
 * The calls below may block up to their timeout. A client keeps one
 * connection (one CURL easy handle) and serialises calls with a mutex, so
 * it may be shared by threads but calls do not run in parallel; use one
 * client per thread for parallel calls. Semantics as in struct bm_da_ops.
 */
enum bm_err bm_da_client_submit(struct bm_da_client *c,
                                const struct bm_da_blob *blobs, size_t n,
                                const char *options_json, uint32_t timeout_ms,
                                uint64_t *height, struct bm_errmsg *em);
enum bm_err bm_da_client_get_all(struct bm_da_client *c, uint64_t height,
                                 const struct bm_da_namespace *ns,
                                 size_t n_ns, uint32_t timeout_ms,
                                 struct bm_da_blob_list *out,
                                 struct bm_errmsg *em);
enum bm_err bm_da_client_get(struct bm_da_client *c, uint64_t height,
                             const struct bm_da_namespace *ns,
                             const uint8_t commitment[BM_DA_COMMITMENT_LEN],
                             uint32_t timeout_ms, struct bm_da_blob *out,
                             struct bm_errmsg *em);
enum bm_err bm_da_client_get_proof(
    struct bm_da_client *c, uint64_t height, const struct bm_da_namespace *ns,
    const uint8_t commitment[BM_DA_COMMITMENT_LEN], uint32_t timeout_ms,
    struct bm_buf *proof_json, struct bm_errmsg *em);
enum bm_err bm_da_client_included(
    struct bm_da_client *c, uint64_t height, const struct bm_da_namespace *ns,
    const uint8_t *proof_json, size_t proof_len,
    const uint8_t commitment[BM_DA_COMMITMENT_LEN], uint32_t timeout_ms,
    bool *included, struct bm_errmsg *em);
enum bm_err bm_da_client_header_get_by_height(struct bm_da_client *c,
                                              uint64_t height,
                                              uint32_t timeout_ms,
                                              struct bm_da_header *out,
                                              struct bm_errmsg *em);
enum bm_err bm_da_client_header_network_head(struct bm_da_client *c,
                                             uint32_t timeout_ms,
                                             struct bm_da_header *out,
                                             struct bm_errmsg *em);
enum bm_err bm_da_client_header_local_head(struct bm_da_client *c,
                                           uint32_t timeout_ms,
                                           struct bm_da_header *out,
                                           struct bm_errmsg *em);

/* Fills *da with the client's vtable; c is borrowed (must outlive *da). */
void bm_da_from_client(struct bm_da *da, struct bm_da_client *c);

/* ---- local DA server ------------------------------------------------------ */

struct bm_da_server;

/* How the server answers blob.GetAll for a height without matching blobs:
 * local-da's error, or celestia-node's null / []. */
enum bm_da_server_empty {
    BM_DA_EMPTY_NOT_FOUND = 0,
    BM_DA_EMPTY_NULL = 1,
    BM_DA_EMPTY_LIST = 2,
};

struct bm_da_server_config {
    const char *listen_host;   /* IPv4 literal; NULL = "127.0.0.1" */
    uint16_t port;             /* 0 = ephemeral; see bm_da_server_port() */
    const char *home;          /* required; blobs live in <home>/da/ */
    uint32_t block_time_ms;    /* empty-block timer; 0 = none */
    size_t max_blob_size;      /* 0 = BM_DA_DEFAULT_MAX_BLOB_SIZE */
    const char *auth_token;    /* NULL/"" = no authentication */
    double fail_rate;          /* 0..1: answer a call with an error */
    uint32_t latency_ms;       /* delay before every answer */
    uint32_t outage_after;     /* after N calls ... (0 = never) */
    uint32_t outage_for_ms;    /* ... drop connections for this long */
    bool outage_errors;        /* ... or answer them with an error */
    enum bm_da_server_empty empty_mode;
    bool heights_as_numbers;   /* header JSON: numbers instead of strings */
    uint64_t seed;             /* fail-rate PRNG seed; 0 = time based */
};

/*
 * Opens (or creates) <home>/da/, binds listen_host:port and starts serving
 * on internal threads. Returns the server in *out (owned; stop and free it
 * with bm_da_server_stop). BM_EIO/BM_ESYS (cannot bind, cannot open LMDB,
 * message says which), BM_ELOCKED (another server holds the store),
 * BM_EINVAL, BM_ENOMEM. Borrows cfg.
 */
enum bm_err bm_da_server_start(struct bm_da_server **out,
                               const struct bm_da_server_config *cfg,
                               struct bm_errmsg *em);

/* The bound TCP port. Thread-safe. */
uint16_t bm_da_server_port(const struct bm_da_server *s);

/* The current DA height. Thread-safe. */
uint64_t bm_da_server_height(struct bm_da_server *s);

/* Number of JSON-RPC calls received so far (including failed ones). */
uint64_t bm_da_server_calls(struct bm_da_server *s);

/* Number of TCP connections accepted so far. */
uint64_t bm_da_server_connections(struct bm_da_server *s);

/* Stops the threads, closes the store and frees s. May block until calls
 * in progress finish. NULL-safe. */
void bm_da_server_stop(struct bm_da_server *s);

#endif /* BM_BLOCKV2_DA_H */
