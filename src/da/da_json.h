/*
 * Internal to src/da: JSON and base64 helpers shared by the client, the
 * local server and the fuzz targets. Every input is untrusted: parsers
 * never crash on hostile bytes, cap sizes and name the offending field.
 */
#ifndef BM_DA_DA_JSON_H
#define BM_DA_DA_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "blockv2/buf.h"
#include "blockv2/da.h"
#include "util/errmsg.h"

/* Caps on untrusted JSON. */
#define BM__DA_MAX_BLOBS 65536   /* blobs in one Submit/GetAll */
#define BM__DA_MAX_NAMESPACES 64 /* namespaces in one GetAll */
#define BM__DA_JSON_DEPTH 32

/* Grows d's allocation to at least cap bytes (capped at d->max) so that
 * large appends do not reallocate and copy repeatedly. BM_ENOMEM. */
enum bm_err bm__da_dynbuf_presize(struct bm_dynbuf *d, size_t cap);

/* Length of the padded base64 text of n bytes. */
static inline size_t bm__da_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Appends standard padded base64 of p[0:n]. BM_ETOOBIG past d's cap. */
enum bm_err bm__da_b64_append(struct bm_dynbuf *d, const uint8_t *p,
                              size_t n);

/* Decodes strict padded standard base64 into *out (released first).
 * BM_EPARSE naming field. Borrows s. */
enum bm_err bm__da_b64_decode(struct bm_buf *out, const char *s, size_t len,
                              const char *field, struct bm_errmsg *em);

/* Decodes base64 that must be exactly n bytes. */
enum bm_err bm__da_b64_decode_fixed(uint8_t *out, size_t n, const char *s,
                                    size_t len, const char *field,
                                    struct bm_errmsg *em);

/* Parses a whole JSON text (strict; trailing white space only). On success
 * *out is an owned json_object (json_object_put). BM_EPARSE. */
enum bm_err bm__da_json_parse(const char *text, size_t len,
                              struct json_object **out, struct bm_errmsg *em);

/* An exact uint64 from a JSON integer or a decimal JSON string. */
enum bm_err bm__da_json_u64(struct json_object *o, uint64_t *out,
                            const char *field, struct bm_errmsg *em);

/* An int64 from a JSON integer or decimal string. */
enum bm_err bm__da_json_i64(struct json_object *o, int64_t *out,
                            const char *field, struct bm_errmsg *em);

/* Case-insensitive object member lookup (Go json matches keys so). */
struct json_object *bm__da_json_get(struct json_object *obj, const char *key);

/* RFC 3339 time (with optional fraction and Z or +hh:mm) to unix ns. */
enum bm_err bm__da_time_parse(const char *s, size_t len, int64_t *ns);

/* Formats unix ns as RFC 3339 UTC with nanoseconds; out >= 40 bytes. */
void bm__da_time_format(char *out, size_t cap, int64_t ns);

/* Blob JSON object -> *b (released first). Borrows o. */
enum bm_err bm__da_blob_from_json(struct json_object *o, struct bm_da_blob *b,
                                  const char *field, struct bm_errmsg *em);

/* Appends the blob JSON object of celestia-node's jsonBlob. */
enum bm_err bm__da_blob_append_json(struct bm_dynbuf *d,
                                    const struct bm_da_blob *b);

/* ---- client side: responses ---- */

struct bm__da_response {
    struct json_object *root; /* owned */
    struct json_object *result; /* borrowed from root; may be NULL (null) */
};

/*
 * Parses a JSON-RPC 2.0 response body. want_id is checked when the
 * response carries a numeric id. A JSON-RPC error becomes the bm_err of
 * its message (bm_da_status_from_message) with the message in em.
 * BM_EPROTO for a malformed envelope. On success r->root is owned.
 */
enum bm_err bm__da_response_parse(const char *body, size_t len,
                                  uint64_t want_id, struct bm__da_response *r,
                                  struct bm_errmsg *em);
void bm__da_response_release(struct bm__da_response *r);

/*
 * The blob.GetAll answer with id want_id, decoded without json-c's tree
 * (the hot path of a catch-up): true with *out an owned list (n == 0: the
 * result was null or [], i.e. not found), or false when the body is not
 * exactly the shape our DA servers send (an error member, an unknown or
 * repeated key, an escape, a field that does not decode, ...): decode it
 * then with bm__da_response_parse and bm__da_decode_blobs, which give the
 * error. Whenever this returns true, those give the same blobs (or
 * NotFound for n == 0). Borrows body; every length is bounded by len.
 */
bool bm__da_scan_get_all(const char *body, size_t len, uint64_t want_id,
                         struct bm_da_blob_list *out);

/*
 * The blob.GetAll answer (an HTTP 200 body) as the client decodes it:
 * bm__da_scan_get_all, else the json-c decoder. BM_OK with *out owned
 * (n > 0), BM_EDA_NOT_FOUND for null or [], a JSON-RPC error's bm_err
 * with its message, or BM_EPROTO / BM_EPARSE / BM_EINVAL / BM_EMISSING
 * naming the field. Borrows body.
 */
enum bm_err bm__da_get_all_decode(const char *body, size_t len,
                                  uint64_t want_id,
                                  struct bm_da_blob_list *out,
                                  struct bm_errmsg *em);

/* Result decoders. Borrow result (may be NULL for JSON null). */
enum bm_err bm__da_decode_blobs(struct json_object *result,
                                struct bm_da_blob_list *out,
                                struct bm_errmsg *em);
enum bm_err bm__da_decode_blob(struct json_object *result,
                               struct bm_da_blob *out, struct bm_errmsg *em);
enum bm_err bm__da_decode_height(struct json_object *result, uint64_t *out,
                                 struct bm_errmsg *em);
enum bm_err bm__da_decode_bool(struct json_object *result, bool *out,
                               struct bm_errmsg *em);
enum bm_err bm__da_decode_proof(struct json_object *result,
                                struct bm_buf *proof_json,
                                struct bm_errmsg *em);
enum bm_err bm__da_decode_header(struct json_object *result,
                                 struct bm_da_header *out,
                                 struct bm_errmsg *em);

/* ---- server side: requests ---- */

enum bm__da_method {
    BM__DA_SUBMIT,
    BM__DA_GET_ALL,
    BM__DA_GET,
    BM__DA_GET_PROOF,
    BM__DA_INCLUDED,
    BM__DA_HEADER_GET_BY_HEIGHT,
    BM__DA_HEADER_NETWORK_HEAD,
    BM__DA_HEADER_LOCAL_HEAD,
};

struct bm__da_request {
    char id[72];  /* the request id as JSON text, echoed back ("null") */
    enum bm__da_method method;
    uint64_t height;
    struct bm_da_blob_list blobs;                       /* Submit */
    struct bm_da_namespace ns[BM__DA_MAX_NAMESPACES];   /* GetAll: n_ns */
    size_t n_ns;                                        /* others: ns[0] */
    uint8_t commitment[BM_DA_COMMITMENT_LEN];
};

/* JSON-RPC error codes the server uses besides code 1. */
#define BM__DA_RPC_PARSE_ERROR (-32700)
#define BM__DA_RPC_INVALID_REQUEST (-32600)
#define BM__DA_RPC_NO_METHOD (-32601)
#define BM__DA_RPC_INVALID_PARAMS (-32602)

/*
 * Parses a request body. On failure returns the JSON-RPC error code to
 * answer with in *rpc_code and a message in em; req->id holds the id
 * whenever it could be read. Always call bm__da_request_release.
 */
enum bm_err bm__da_request_parse(const char *body, size_t len,
                                 struct bm__da_request *req, int *rpc_code,
                                 struct bm_errmsg *em);
void bm__da_request_release(struct bm__da_request *req);

/* Number of shares a blob of len bytes occupies (share version 0). */
size_t bm__da_share_count(size_t len);

#endif /* BM_DA_DA_JSON_H */
