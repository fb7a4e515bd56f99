/*
 * A client of etcd's v3 JSON gateway (etcd 3.4: POST /v3/kv/range,
 * /v3/kv/put, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/lease/revoke, /v3/watch) over libcurl and json-c, for the
 * high-availability election (src/ha/ha.c, docs/HA.md). Keys and values are
 * opaque bytes (base64 on the wire); int64 fields travel as JSON strings.
 *
 * Endpoints and failover: a client has 1..BM_ETCD_MAX_ENDPOINTS endpoint
 * URLs ("http://127.0.0.1:2379") and talks to one at a time. A call that
 * fails at the transport level (refused, reset, timed out), or that etcd
 * answers "unavailable", is retried on the next endpoint while the call's
 * deadline has time left, each endpoint at most once per call; the client
 * then stays on the endpoint that answered. Every call the election makes
 * is safe to repeat (a txn whose answer was lost is repeated with the same
 * compare and put; see docs/HA.md).
 *
 * Deadlines: every call takes timeout_ms (0 = the client's default), one
 * budget for all its attempts.
 *
 * Untrusted responses: bodies are capped (max_response), parsed strictly
 * with a depth cap, and every field used is type-checked; a malformed
 * answer is BM_EPROTO naming the field (src/ha/etcd_json.c, fuzzed by
 * fuzz/targets/fuzz_etcd_response.c).
 *
 * Errors: BM_ECONNECT (no endpoint reachable: the message names each
 * endpoint and curl's reason), BM_ETIMEDOUT (deadline), BM_ENOTFOUND (etcd
 * "not found", e.g. a lease that is gone), BM_EETCD (any other etcd error;
 * the message is etcd's, e.g. "etcdserver: request is too large"),
 * BM_EPROTO, BM_ENOMEM, BM_EINVAL (bad argument), BM_ECANCELED (watch
 * cancelled).
 *
 * Threads: a client serialises its unary calls with a mutex (one CURL easy
 * handle, one connection); use one client per thread that must not wait
 * for another. bm_etcd_cancel may be called from any thread.
 */
#ifndef BM_HA_ETCD_H
#define BM_HA_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_errmsg;

#define BM_ETCD_MAX_ENDPOINTS 16
#define BM_ETCD_MAX_URL 512 /* bytes of one endpoint URL */
#define BM_ETCD_DEFAULT_TIMEOUT_MS 2000u
#define BM_ETCD_DEFAULT_MAX_RESPONSE (16u << 20) /* bytes of one body */
#define BM_ETCD_MAX_KEY 4096u                    /* bytes of a key we send */
#define BM_ETCD_MAX_KVS 64u    /* kvs decoded from one range response */
#define BM_ETCD_MAX_EVENTS 64u /* events decoded from one watch message */

struct bm_etcd;

struct bm_etcd_config {
    /* Endpoint URLs, borrowed: http:// or https://, no control bytes,
     * at most BM_ETCD_MAX_URL bytes each. */
    const char *const *endpoints;
    size_t n_endpoints;
    uint32_t timeout_ms; /* default deadline of a call; 0 = 2000 */
    size_t max_response; /* cap on one body; 0 = 16 MiB */
};

/* One key-value pair as etcd returns it (mvccpb.KeyValue). Owns its
 * buffers. */
struct bm_etcd_kv {
    struct bm_buf key;
    struct bm_buf value;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
};

void bm_etcd_kv_release(struct bm_etcd_kv *kv);

/*
 * A decoded unary response. Fields not carried by the call stay 0/false.
 * kv is the first key of a range (or of the range a failed txn ran); count
 * is the number of keys the range matched.
 */
struct bm_etcd_resp {
    int64_t revision;  /* header.revision */
    int64_t raft_term; /* header.raft_term */
    bool succeeded;    /* txn */
    bool has_kv;
    struct bm_etcd_kv kv;
    int64_t count;
    int64_t lease_id; /* lease grant / keepalive */
    int64_t ttl;      /* grant / keepalive: seconds; keepalive 0 = gone */
};

void bm_etcd_resp_release(struct bm_etcd_resp *r);

/*
 * Creates a client; copies the configuration. BM_ECONFIG (no endpoint,
 * too many, a malformed URL: the message names it), BM_ENOMEM, BM_EIO
 * (libcurl could not start). No I/O. Returns owned in *out.
 */
enum bm_err bm_etcd_new(struct bm_etcd **out, const struct bm_etcd_config *cfg,
                        struct bm_errmsg *em);

/* Frees the client. NULL-safe. No call may be in progress. */
void bm_etcd_free(struct bm_etcd *e);

/* The endpoint the client talks to now (valid until bm_etcd_free). */
const char *bm_etcd_endpoint(const struct bm_etcd *e);

/* ---- unary calls: block up to timeout_ms; *out is released first and
 * holds the answer only on BM_OK ---- */

/* Range of one key (no range_end). has_kv tells whether it exists. */
enum bm_err bm_etcd_get(struct bm_etcd *e, const uint8_t *key, size_t klen,
                        uint32_t timeout_ms, struct bm_etcd_resp *out,
                        struct bm_errmsg *em);

/* Put key = value, attached to lease (0 = none). */
enum bm_err bm_etcd_put(struct bm_etcd *e, const uint8_t *key, size_t klen,
                        const uint8_t *value, size_t vlen, int64_t lease,
                        uint32_t timeout_ms, struct bm_etcd_resp *out,
                        struct bm_errmsg *em);

/* What a compare of a txn looks at (etcdserverpb.Compare target). */
enum bm_etcd_target {
    BM_ETCD_VERSION,
    BM_ETCD_CREATE,
    BM_ETCD_MOD,
    BM_ETCD_LEASE,
};

/* One compare "target(key) == value" (borrows key). */
struct bm_etcd_cmp {
    const uint8_t *key;
    size_t klen;
    enum bm_etcd_target target;
    int64_t value;
};

/*
 * A txn: if every compare holds, put key = value (with lease, 0 = none)
 * and, when ok_range_key is not NULL, range it in the same txn (a read
 * atomic with the put); otherwise range fail_key (so the caller learns
 * what is there instead). out->succeeded tells which branch ran; out->kv
 * and has_kv are ok_range_key's state on success, fail_key's on failure.
 * 1..8 compares. Borrows everything.
 */
enum bm_err bm_etcd_txn_put(struct bm_etcd *e, const struct bm_etcd_cmp *cmps,
                            size_t n_cmps, const uint8_t *key, size_t klen,
                            const uint8_t *value, size_t vlen, int64_t lease,
                            const uint8_t *ok_range_key, size_t ok_klen,
                            const uint8_t *fail_key, size_t fail_klen,
                            uint32_t timeout_ms, struct bm_etcd_resp *out,
                            struct bm_errmsg *em);

/* Grants a lease of ttl_s seconds (etcd may raise it to its minimum):
 * out->lease_id, out->ttl. */
enum bm_err bm_etcd_lease_grant(struct bm_etcd *e, int64_t ttl_s,
                                uint32_t timeout_ms, struct bm_etcd_resp *out,
                                struct bm_errmsg *em);

/* One keep-alive of a lease: out->ttl is the TTL it now has, 0 when the
 * lease no longer exists (expired or revoked). */
enum bm_err bm_etcd_lease_keepalive(struct bm_etcd *e, int64_t lease,
                                    uint32_t timeout_ms,
                                    struct bm_etcd_resp *out,
                                    struct bm_errmsg *em);

/* Revokes a lease (its keys are deleted). A lease already gone is
 * BM_ENOTFOUND. */
enum bm_err bm_etcd_lease_revoke(struct bm_etcd *e, int64_t lease,
                                 uint32_t timeout_ms, struct bm_errmsg *em);

/* ---- watch ---- */

enum bm_etcd_event_type {
    BM_ETCD_EVENT_PUT,
    BM_ETCD_EVENT_DELETE,
};

struct bm_etcd_event {
    enum bm_etcd_event_type type;
    struct bm_etcd_kv kv;
};

/* One message of a watch stream. Owns its events. */
struct bm_etcd_watch_msg {
    int64_t revision;
    bool created;
    bool canceled;
    int64_t compact_revision;
    struct bm_etcd_event *events; /* n_events, <= BM_ETCD_MAX_EVENTS */
    size_t n_events;
};

void bm_etcd_watch_msg_release(struct bm_etcd_watch_msg *m);

/* Called for each message of a watch, on the watching thread; m is valid
 * until the callback returns. Return false to end the watch (BM_OK). */
typedef bool bm_etcd_watch_fn(void *arg, const struct bm_etcd_watch_msg *m);

/*
 * Watches key from start_revision (0 = from now) on the current endpoint,
 * calling fn per message, until fn returns false (BM_OK), bm_etcd_cancel
 * (BM_ECANCELED), the stream ends or fails (BM_ECONNECT, BM_EETCD,
 * BM_EPROTO: the caller re-watches, from the last revision it saw + 1), or
 * etcd cancels the watch (BM_EETCD; a compacted start_revision reports
 * compact_revision to fn first). connect_timeout_ms bounds connecting (0 =
 * the client's default); the stream itself has no deadline. Blocks; one
 * watch per client at a time, and no unary call on the same client
 * meanwhile.
 */
enum bm_err bm_etcd_watch(struct bm_etcd *e, const uint8_t *key, size_t klen,
                          int64_t start_revision, uint32_t connect_timeout_ms,
                          bm_etcd_watch_fn *fn, void *arg,
                          struct bm_errmsg *em);

/* Makes a watch in progress (or the next one) return BM_ECANCELED at
 * once; sticky until bm_etcd_reset_cancel. Any thread. */
void bm_etcd_cancel(struct bm_etcd *e);
void bm_etcd_reset_cancel(struct bm_etcd *e);

/* ---- decoders of untrusted bodies (src/ha/etcd_json.c) ---- */

/* What a body answers; tells the decoder which fields to expect. */
enum bm_etcd_call {
    BM_ETCD_CALL_RANGE,
    BM_ETCD_CALL_PUT,
    BM_ETCD_CALL_TXN,
    BM_ETCD_CALL_GRANT,
    BM_ETCD_CALL_KEEPALIVE, /* a stream message: {"result": {...}} */
    BM_ETCD_CALL_REVOKE,
};

/*
 * Decodes the body of a unary answer (borrowed; at most the client's cap)
 * into *out (released first). An etcd error object becomes BM_ENOTFOUND,
 * BM_ETIMEDOUT, BM_EAGAIN (unavailable) or BM_EETCD with etcd's message in
 * em; a malformed body BM_EPROTO naming the field. Pure.
 */
enum bm_err bm__etcd_decode(enum bm_etcd_call call, const char *body,
                            size_t len, struct bm_etcd_resp *out,
                            struct bm_errmsg *em);

/* Decodes one line of a watch stream into *out (released first). Same
 * errors as bm__etcd_decode; BM_ETOOBIG above BM_ETCD_MAX_EVENTS. */
enum bm_err bm__etcd_decode_watch(const char *line, size_t len,
                                  struct bm_etcd_watch_msg *out,
                                  struct bm_errmsg *em);

/* Appends standard padded base64 of p[0..n) to d. BM_ETOOBIG past d's
 * cap, BM_ENOMEM. */
enum bm_err bm__etcd_b64_append(struct bm_dynbuf *d, const uint8_t *p,
                                size_t n);

#endif /* BM_HA_ETCD_H */
