/*
 * The node's RPC server (libmicrohttpd, epoll on a pool of BM_RPC_THREADS
 * threads, bounded connections, request bodies and time) on rpc.address.
 * Routes:
 *
 *   POST /evnode.v1.StoreService/GetBlock|GetState|GetMetadata|
 *        GetGenesisDaHeight|GetP2PStoreInfo,
 *        POST /evnode.v1.ConfigService/GetNamespace|GetSignerInfo,
 *        POST /evnode.v1.P2PService/GetPeerInfo|GetNetInfo
 *       ev-node's Connect unary protocol, JSON codec (Content-Type
 *       application/json; protojson field names and rules: lowerCamelCase,
 *       64-bit integers as strings, bytes as standard base64, timestamps as
 *       RFC 3339, zero fields omitted). Errors are Connect error JSON
 *       {"code": "not_found"|"invalid_argument"|..., "message": ...} with
 *       the Connect HTTP status (404, 400, 500, 503, 413, 415, 405).
 *   GET /health/live   200 "OK\n" if the store is readable, else 503.
 *   GET /health/ready  ev-node's readiness rules (docs/OPERATIONS.md "RPC").
 *   GET /status        JSON summary: heights, hashes, P2P peers, actors,
 *                      breakers.
 *   POST /tx, GET /kv/<key>  the KV executor's tx ingress (only when deps.kv
 *       is set): single or batch body (src/exec/kv/ingress.h), behind the
 *       manager's tx limiter (429), answered once the txs are durable in
 *       the sequencer's queue (group commit, include/blockv2/ingest.h;
 *       the connection is suspended meanwhile); 503 without deps.seq.
 *       With the EVM executor (deps.evm_eth_url) POST /tx is refused with 501
 *       and a message naming the execution client's eth_sendRawTransaction.
 *
 * Every request body is untrusted: capped (BM_RPC_MAX_BODY; /tx:
 * BM_INGRESS_MAX_BATCH_BODY), parsed with json-c, and rejected with a
 * message naming the bad field. Details and differences from ev-node:
 * docs/OPERATIONS.md "RPC".
 */
#ifndef BM_NODE_RPC_H
#define BM_NODE_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/store.h"
#include "blockv2/types.h"

struct bm_errmsg;
struct bm_genesis;
struct bm_ha;
struct bm_kv;
struct bm_manager;
struct bm_p2p_host;
struct bm_chainsync;
struct bm_rpc_server;
struct bm_seq;

/* Largest Connect request body. */
#define BM_RPC_MAX_BODY (64u * 1024u)
/*
 * Concurrent connections: at most BM_RPC_MAX_CONNECTIONS, and no more than
 * the open-files limit leaves after BM_RPC_FD_RESERVE descriptors for the
 * rest of the node (never below BM_RPC_MIN_CONNECTIONS). Idle connections
 * cost no thread (epoll) and little memory, so thousands of idle or
 * trickling clients do not lock legitimate ones out; they are closed after
 * the idle timeout. Threads polling them.
 */
#define BM_RPC_MAX_CONNECTIONS 16384u
#define BM_RPC_MIN_CONNECTIONS 64u
#define BM_RPC_FD_RESERVE 1024u
#define BM_RPC_TIMEOUT_S 30u
#define BM_RPC_THREADS 2u
/*
 * libmicrohttpd's memory pool per connection (its read buffer, the
 * request's headers, the reply's header lines; bodies are streamed
 * through it). It zeroes the whole pool after every request, so a smaller
 * pool costs less per request: 16 KiB instead of its default 32 KiB.
 */
#define BM_RPC_CONN_MEMORY (16u * 1024u)

/* Why the server refused a request (counted, bm_rpc_server_stats). */
enum bm_rpc_reject {
    BM_RPC_REJ_TOO_BIG = 0, /* body above its cap (413 / resource_exhausted) */
    BM_RPC_REJ_PARSE,       /* not one JSON value (bad, truncated, too deep) */
    BM_RPC_REJ_INVALID,     /* well-formed but a field is wrong (400) */
    BM_RPC_REJ_NOT_FOUND,   /* no such path or procedure (404) */
    BM_RPC_REJ_METHOD,      /* wrong HTTP method (405) */
    BM_RPC_REJ_MEDIA_TYPE,  /* wrong Content-Type (415) */
    BM_RPC_REJ_RATE_LIMITED, /* 429 */
    BM_RPC_REJ_UNAVAILABLE, /* 503: not an aggregator, queue full, stopping */
    BM_RPC_REJ_ERROR,       /* 5xx: our own failure */
    BM_RPC_REJ_COUNT,
};

/* Static label ("too_big" style). */
const char *bm_rpc_reject_name(enum bm_rpc_reject r);

/* Counters since start (relaxed atomics: each exact at some instant). */
struct bm_rpc_stats {
    uint64_t max_connections;  /* the limit in force */
    uint64_t connections;      /* open now */
    uint64_t connections_total; /* accepted since start */
    uint64_t requests;         /* replies sent */
    uint64_t timeouts;         /* requests cut by the idle timeout */
    uint64_t rejected[BM_RPC_REJ_COUNT];
};

/* What the server reads. Everything is borrowed and must outlive the
 * server. */
struct bm_rpc_deps {
    struct bm_store *store;             /* required */
    const struct bm_genesis *genesis;   /* may be NULL */
    struct bm_manager *manager;         /* may be NULL: store only */
    struct bm_kv *kv;                   /* may be NULL: no /tx, /kv */
    /* The single sequencer POST /tx writes to (with kv; needs genesis for
     * the chain id); NULL: /tx answers 503 (not an aggregator). */
    struct bm_seq *seq;
    /* The EVM executor's eth URL (borrowed), or NULL. When set (kv is then
     * NULL), POST /tx answers 501 naming it: with the EVM executor txs go
     * to the execution client (eth_sendRawTransaction), as with ev-node. */
    const char *evm_eth_url;
    /* da.namespace / da.data_namespace config strings (NULL: not set;
     * data "" or NULL falls back to the header namespace). */
    const char *header_namespace;
    const char *data_namespace;
    /* The signer's address (GetSignerInfo); NULL: unavailable. */
    const uint8_t *signer_address;
    size_t signer_address_len;
    bool aggregator;
    uint64_t block_time_ms;             /* 0: 1000 */
    bool lazy_mode;
    uint64_t lazy_block_interval_ms;    /* 0: 60000 */
    /* node.readiness_max_blocks_behind as loaded (given, or derived from
     * node.readiness_window_seconds: bm_node_config_derive). */
    uint64_t readiness_max_blocks_behind;
    /* Best known network height for /health/ready; NULL: the store
     * height (no P2P yet). Called on server threads; must be
     * thread-safe. */
    uint64_t (*best_known_height)(void *ctx);
    void *best_known_ctx;
    /* The P2P host, for /status, P2PService and the readiness peer rule
     * (may be NULL: no P2P). */
    struct bm_p2p_host *p2p;
    /* Chain sync over P2P, for GetP2PStoreInfo and /status (may be
     * NULL). */
    struct bm_chainsync *sync;
    /* The HA candidate, for /ha/node (NULL: no HA, 404). */
    struct bm_ha *ha;
};

/* ---- request parsing (pure; exposed for tests and the fuzzer) ---- */

enum bm_rpc_method {
    BM_RPC_GET_BLOCK = 0,
    BM_RPC_GET_STATE,
    BM_RPC_GET_METADATA,
    BM_RPC_GET_GENESIS_DA_HEIGHT,
    BM_RPC_GET_NAMESPACE,
    BM_RPC_GET_SIGNER_INFO,
    BM_RPC_GET_P2P_STORE_INFO,
    BM_RPC_GET_PEER_INFO,
    BM_RPC_GET_NET_INFO,
    BM_RPC_METHOD_COUNT,
};

struct bm_rpc_request {
    enum bm_rpc_method method;
    bool by_hash;          /* GetBlock: hash given (else height) */
    uint64_t height;       /* GetBlock: 0 = latest */
    struct bm_hash hash;   /* GetBlock by hash */
    char key[BM_STORE_MAX_META_NAME + 1]; /* GetMetadata */
};

/* Method of a URL path ("/evnode.v1.StoreService/GetBlock"), or -1.
 * Borrows path. */
int bm_rpc_method_from_path(const char *path);

/* The path of a method (static string). */
const char *bm_rpc_method_path(enum bm_rpc_method m);

/*
 * Parses a Connect JSON request body (borrowed, untrusted, len bytes, not
 * NUL-terminated) for method m into *out (zeroed first). An empty body is
 * {}. GetBlock: {"height": "N"|N} or {"hash": base64 (standard or URL-safe,
 * padding optional), 32 bytes}; both is an error; neither = latest.
 * GetMetadata: {"key": string} (1..255 bytes, no NUL). Other methods take
 * google.protobuf.Empty. Unknown fields are refused (as protojson).
 * Errors (message naming the field in em): BM_ETOOBIG (len above
 * BM_RPC_MAX_BODY), BM_EPARSE (not one JSON object), BM_EINVAL (bad or
 * unknown field). Never blocks.
 */
enum bm_err bm_rpc_parse_request(enum bm_rpc_method m, const uint8_t *body,
                                 size_t len, struct bm_rpc_request *out,
                                 struct bm_errmsg *em);

/* ---- server ---- */

/*
 * Starts the server on addr ("host:port", ":port" = all interfaces, "[v6
 * addr]:port"; port 0 = ephemeral, see bm_rpc_server_port). deps is copied
 * (the pointers in it stay borrowed). Returns owned *out (stop with
 * bm_rpc_server_stop). Errors: BM_EINVAL (deps.store missing, bad
 * address; message names it), BM_ESYS (cannot bind/listen), BM_ENOMEM.
 * May block briefly (bind).
 */
enum bm_err bm_rpc_server_start(struct bm_rpc_server **out, const char *addr,
                                const struct bm_rpc_deps *deps,
                                struct bm_errmsg *em);

/* The bound TCP port. */
uint16_t bm_rpc_server_port(const struct bm_rpc_server *s);

/* Copies the counters into *out. Any thread; never blocks. */
void bm_rpc_server_stats(const struct bm_rpc_server *s,
                         struct bm_rpc_stats *out);

/* Stops accepting, waits for the connection threads, frees. NULL-safe.
 * May block (up to the slowest request in flight). */
void bm_rpc_server_stop(struct bm_rpc_server *s);

#endif /* BM_NODE_RPC_H */
