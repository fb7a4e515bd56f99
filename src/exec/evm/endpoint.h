/*
 * One JSON-RPC endpoint of an execution client (the engine port or the eth
 * port) over libcurl: one easy handle, so one kept-alive HTTP connection,
 * used by one call at a time (a mutex per endpoint: libcurl handles are
 * never shared between threads unlocked). Engine endpoints send a fresh
 * HS256 JWT (jwt.h) with every call.
 *
 * Every call has a deadline (CURLOPT_TIMEOUT_MS) and a response size cap;
 * the response is decoded by decode.h (untrusted). Errors name the method
 * and the URL, and map to codes the block manager acts on:
 *   BM_ECONNECT   the client cannot be reached (refused, reset, closed
 *                 before answering): transient, the executor breaker
 *                 counts it;
 *   BM_ETIMEDOUT  no complete answer within the deadline (a hanging
 *                 client): transient;
 *   BM_EAUTH      HTTP 401/403: the JWT was refused (wrong secret);
 *   BM_ERPC       a JSON-RPC error object (code in reply->rpc_code);
 *   BM_EPROTO     anything malformed, another HTTP status, a body above
 *                 the cap.
 *
 * Thread-safe; calls block (network).
 */
#ifndef BM_EXEC_EVM_ENDPOINT_H
#define BM_EXEC_EVM_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "exec/evm/decode.h"

struct bm_errmsg;
struct bm_evm_endpoint;

struct bm_evm_endpoint_config {
    const char *url;          /* http:// or https://; borrowed, copied */
    const uint8_t *jwt_secret; /* 32 bytes (copied), or NULL: no auth */
    uint32_t timeout_ms;      /* default deadline of a call; 0: 30000 */
    size_t max_response;      /* body cap in bytes; 0: 64 MiB */
    const char *what;         /* "engine" or "eth", for messages */
};

/* Time spent inside calls (the execution client's share of a block). */
struct bm_evm_endpoint_stats {
    uint64_t calls;
    uint64_t ns;
    uint64_t connects; /* new connections opened (1 while the first
                          stays alive) */
};

/*
 * A new endpoint (no connection yet: the first call connects). cfg and
 * its strings are borrowed. Returns owned *out (bm_evm_endpoint_free).
 * Errors: BM_ECONFIG (empty URL or another scheme, naming it), BM_ENOMEM,
 * BM_EIO (libcurl could not start).
 */
enum bm_err bm_evm_endpoint_new(struct bm_evm_endpoint **out,
                                const struct bm_evm_endpoint_config *cfg,
                                struct bm_errmsg *em);

/* Closes the connection and frees. NULL-safe; no call may be in flight. */
void bm_evm_endpoint_free(struct bm_evm_endpoint *ep);

/* The URL (valid until bm_evm_endpoint_free). */
const char *bm_evm_endpoint_url(const struct bm_evm_endpoint *ep);

/*
 * Calls method with params, the JSON text of the params array's elements
 * without brackets (borrowed; "" or NULL: no params), within timeout_ms
 * (0: the endpoint's default). On BM_OK r->result is the result; on
 * BM_ERPC r->rpc_code is the error code; r->ns is the exchange's wall
 * time plus the wait for the endpoint (another thread's call on the one
 * connection): the time this call was blocked on the client. Always call bm_evm_reply_release(r)
 * after. Errors as the header says, with
 * "<method>: ..." in em. May block up to the deadline.
 */
enum bm_err bm_evm_endpoint_call(struct bm_evm_endpoint *ep,
                                 const char *method, const char *params,
                                 uint32_t timeout_ms, struct bm_evm_reply *r,
                                 struct bm_errmsg *em);

/* Flags of bm_evm_endpoint_call_ex. */
#define BM_EVM_CALL_KEEP_BODY 1u

/*
 * bm_evm_endpoint_call with the params text in pieces, params[0..n_params)
 * (borrowed; concatenated into the request without another copy). With
 * BM_EVM_CALL_KEEP_BODY an HTTP 200 body is not parsed: on BM_OK
 * r->body[0..r->body_len) returns owned (released with r) the body as it
 * came and r->id the request's id, for the caller to decode (getPayload:
 * bm_evm_payload_decode). Transport errors and other HTTP statuses as
 * bm_evm_endpoint_call.
 */
enum bm_err bm_evm_endpoint_call_ex(struct bm_evm_endpoint *ep,
                                    const char *method,
                                    const struct bm_evm_span *params,
                                    size_t n_params, uint32_t timeout_ms,
                                    unsigned flags, struct bm_evm_reply *r,
                                    struct bm_errmsg *em);

/* Counters so far. Any thread. */
void bm_evm_endpoint_stats(const struct bm_evm_endpoint *ep,
                           struct bm_evm_endpoint_stats *out);

#endif /* BM_EXEC_EVM_ENDPOINT_H */
