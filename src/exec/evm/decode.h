/*
 * Decoders of what an execution client answers (JSON-RPC 2.0 over HTTP):
 * the response envelope and the Engine API / eth results the EVM executor
 * uses. Every byte is untrusted: the text is parsed strictly with a depth
 * cap (util/json.h), every field is checked for its JSON type, every hex
 * value must be "0x"-prefixed with the right number of digits, counts and
 * sizes are capped, and an error names the field ("executionPayload.
 * stateRoot: want 0x and 64 hex digits"). Nothing here asserts on input.
 *
 * Pure functions; thread-safe. Fuzz targets: fuzz/targets/fuzz_evm_rpc.c,
 * fuzz/targets/fuzz_evm_payload.c (the getPayload scanner against json-c).
 */
#ifndef BM_EXEC_EVM_DECODE_H
#define BM_EXEC_EVM_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm_errmsg;

#define BM_EVM_HASH_LEN 32u
#define BM_EVM_ADDR_LEN 20u
#define BM_EVM_PAYLOAD_ID_LEN 8u
/* Nesting depth of a response (a payload is 3 deep; margin). */
#define BM_EVM_JSON_DEPTH 16
/* Execution requests in one payload, and bytes of one (EIP-7685). */
#define BM_EVM_MAX_REQUESTS 64u
#define BM_EVM_MAX_REQUEST_BYTES (1u << 20)
/* Characters of the client's own text kept in messages. */
#define BM_EVM_TEXT_MAX 200u
/* Bytes of the executionPayload's JSON text passed on to newPayload (a
 * block of BM_MAX_TXS small txs as hex fits; the response cap, 64 MiB by
 * default, is the tighter bound in practice). */
#define BM_EVM_MAX_PAYLOAD_TEXT ((size_t)256 << 20)
/* Nesting the getPayload scanner follows (a payload's withdrawals are 5
 * deep from the response's root); deeper answers go to json-c. */
#define BM_EVM_SCAN_DEPTH 8

/* A parsed response. */
struct bm_evm_reply {
    struct json_object *root;   /* owned; release with bm_evm_reply_release */
    struct json_object *result; /* borrowed from root; NULL for null */
    int64_t rpc_code;           /* the error's code when BM_ERPC */
    uint64_t ns;                /* blocked on the client: the HTTP
                                   exchange's wall time and the wait for
                                   the connection (endpoint.h sets it) */
    uint64_t id;                /* the request's id (endpoint.h sets it) */
    char *body;                 /* owned: the raw HTTP body, when the call
                                   kept it (bm_evm_endpoint_call_body) */
    size_t body_len;
};

/*
 * Parses the response body[0..len) (borrowed) to the request with id
 * want_id. BM_OK: r->result is the result (NULL for JSON null). A JSON-RPC
 * error object: BM_ERPC with r->rpc_code set and "<message> (code N)" in
 * em (the message made printable and cut at BM_EVM_TEXT_MAX). Otherwise
 * BM_EPROTO naming the problem (not JSON, not an object, jsonrpc not
 * "2.0", id not want_id, neither or both of result and error). r is
 * released first; on every return it may hold a root: always call
 * bm_evm_reply_release.
 */
enum bm_err bm_evm_reply_parse(const char *body, size_t len, uint64_t want_id,
                               struct bm_evm_reply *r, struct bm_errmsg *em);

/* Frees r->root and r->body and zeroes *r. NULL-safe. */
void bm_evm_reply_release(struct bm_evm_reply *r);

/* ---- values (v borrowed; field names the value in messages) ---- */

/* A QUANTITY: "0x" and 1..64 hex digits whose value fits 64 bits. */
enum bm_err bm_evm_dec_quantity(struct json_object *v, const char *field,
                                uint64_t *out, struct bm_errmsg *em);

/* DATA of exactly n bytes: "0x" and 2n hex digits. */
enum bm_err bm_evm_dec_fixed(struct json_object *v, const char *field,
                             uint8_t *out, size_t n, struct bm_errmsg *em);

/* DATA of at most max bytes into *out (released first; returns owned). */
enum bm_err bm_evm_dec_data(struct json_object *v, const char *field,
                            size_t max, struct bm_buf *out,
                            struct bm_errmsg *em);

/* True when v is the DATA "0x" + hex of exactly p[0..n) (either case). */
bool bm_evm_dec_data_eq(struct json_object *v, const uint8_t *p, size_t n);

/* Writes "0x" and the lower-case hex of p[0..n) and a NUL to out
 * (2n + 3 bytes). */
void bm_evm_hex(char *out, const uint8_t *p, size_t n);

/* ---- results ---- */

/* Header fields of eth_getBlockByNumber(n, false). */
struct bm_evm_block {
    uint64_t number;
    uint64_t timestamp;
    uint64_t gas_limit;
    uint8_t hash[BM_EVM_HASH_LEN];
    uint8_t parent_hash[BM_EVM_HASH_LEN];
    uint8_t state_root[BM_EVM_HASH_LEN];
};

/* result of eth_getBlockByNumber: *found false for null (no such block),
 * else the fields. */
enum bm_err bm_evm_dec_block(struct json_object *result, bool *found,
                             struct bm_evm_block *out, struct bm_errmsg *em);

enum bm_evm_status {
    BM_EVM_VALID = 0,
    BM_EVM_INVALID,
    BM_EVM_SYNCING,
    BM_EVM_ACCEPTED,
    BM_EVM_INVALID_BLOCK_HASH, /* pre-Shanghai spelling; treated as INVALID */
    BM_EVM_STATUS_UNKNOWN,     /* any other string: treated as INVALID */
};

/* Name of a status ("VALID"). */
const char *bm_evm_status_name(enum bm_evm_status s);

/* PayloadStatusV1. validation_error is the client's text, made printable
 * and cut (empty when null or absent). */
struct bm_evm_payload_status {
    enum bm_evm_status status;
    bool has_latest_valid_hash;
    uint8_t latest_valid_hash[BM_EVM_HASH_LEN];
    char validation_error[BM_EVM_TEXT_MAX + 1];
};

enum bm_err bm_evm_dec_payload_status(struct json_object *o,
                                      const char *field,
                                      struct bm_evm_payload_status *out,
                                      struct bm_errmsg *em);

/* result of engine_forkchoiceUpdatedV3. */
struct bm_evm_fcu {
    struct bm_evm_payload_status ps;
    bool has_payload_id;
    uint8_t payload_id[BM_EVM_PAYLOAD_ID_LEN];
};

enum bm_err bm_evm_dec_fcu(struct json_object *result, struct bm_evm_fcu *out,
                           struct bm_errmsg *em);

/* A piece of a reply's text (borrowed from it). */
struct bm_evm_span {
    const char *p;
    size_t len;
};

/*
 * result of engine_getPayloadV4..V6: the JSON text of the executionPayload
 * object and of the executionRequests array, which newPayload passes on,
 * and the fields the executor reads, checked. Every transaction must be
 * non-empty DATA of at most BM_MAX_TX_SIZE bytes, at most BM_MAX_TXS of
 * them; requests are DATA, at most BM_EVM_MAX_REQUESTS of
 * BM_EVM_MAX_REQUEST_BYTES; the payload's text at most
 * BM_EVM_MAX_PAYLOAD_TEXT bytes. Release with bm_evm_payload_release.
 */
struct bm_evm_payload {
    struct bm_evm_span payload;  /* borrowed from the reply: one JSON
                                    object's text */
    struct bm_evm_span requests; /* borrowed; p NULL: absent (send []) */
    struct bm_evm_span *txs;     /* owned array of n_txs: each tx's hex
                                    digits after "0x", borrowed from the
                                    reply */
    uint64_t number;
    uint64_t timestamp;
    uint64_t gas_limit;
    size_t n_txs;
    uint8_t block_hash[BM_EVM_HASH_LEN];
    uint8_t parent_hash[BM_EVM_HASH_LEN];
    uint8_t state_root[BM_EVM_HASH_LEN];
};

/* Frees pl->txs and zeroes *pl. NULL-safe. */
void bm_evm_payload_release(struct bm_evm_payload *pl);

/*
 * The json-c decoder of a getPayload result (borrowed from a parsed
 * reply). The texts are json-c's serialisation of the two values (valid
 * until the reply is released or the values are serialised again). *out
 * is released first; on error it holds nothing. Errors name the field.
 */
enum bm_err bm_evm_dec_payload(struct json_object *result,
                               struct bm_evm_payload *out,
                               struct bm_errmsg *em);

/*
 * The getPayload answer body[0..len) (borrowed; must outlive *out) without
 * json-c: a scanner of the shape execution clients send (a JSON-RPC
 * response with id want_id and a result object) that checks the same
 * fields as bm_evm_dec_payload and keeps the executionPayload's and the
 * executionRequests' own bytes. Anything outside that shape (an error
 * member, a repeated key, an escape or a byte outside printable ASCII in
 * a string, a number that is not a plain integer, nesting deeper than
 * BM_EVM_SCAN_DEPTH, a field that does not decode) is declined: false,
 * nothing held. So what it accepts, json-c's path accepts with the same
 * fields and the same JSON values (fuzz_evm_payload checks this).
 */
bool bm_evm_scan_payload(const char *body, size_t len, uint64_t want_id,
                         struct bm_evm_payload *out);

/*
 * A getPayload answer r->body[0..r->body_len) (r from
 * bm_evm_endpoint_call_body; the request's id in r->id): the scanner,
 * else json-c (bm_evm_reply_parse into r, then bm_evm_dec_payload), which
 * owns the error messages: BM_ERPC with r->rpc_code for a JSON-RPC error,
 * BM_EPROTO / BM_ETOOBIG naming the field. *out borrows from r.
 * *scanned (may be NULL) tells whether the scanner read it.
 */
enum bm_err bm_evm_payload_decode(struct bm_evm_reply *r,
                                  struct bm_evm_payload *out, bool *scanned,
                                  struct bm_errmsg *em);

/*
 * result of txpoolExt_getTxs: an array (or null: none) of "0x" raw
 * transactions, each non-empty and at most BM_MAX_TX_SIZE bytes, at most
 * BM_MAX_TXS. *out is released first and returns owned (bm_batch_release).
 */
enum bm_err bm_evm_dec_txs(struct json_object *result, struct bm_batch *out,
                           struct bm_errmsg *em);

/*
 * The gas limit of a raw transaction (EIP-2718 envelope: legacy RLP list,
 * or type 0x01..0x04 followed by an RLP list), tx[0..len) borrowed. Checks
 * the RLP framing of the outer list and the fields up to the gas limit.
 * BM_EBADTX naming the problem when it does not decode.
 */
enum bm_err bm_evm_tx_gas(const uint8_t *tx, size_t len, uint64_t *gas,
                          struct bm_errmsg *em);

#endif /* BM_EXEC_EVM_DECODE_H */
