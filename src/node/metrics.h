/*
 * Prometheus metrics: a text-format (version 0.0.4) renderer over plain
 * structs, and a small HTTP listener serving GET /metrics on
 * instrumentation.prometheus_listen_addr.
 *
 * Names follow ev-node (<namespace>_sequencer_<name> and
 * <namespace>_p2p_<name>, namespace default "evnode", label chain_id on
 * every series) plus blockv2_* series for the actor runtime, breakers,
 * limiters and the P2P host. The full list is in
 * docs/OPERATIONS.md "Metrics" (keep it in step with metrics.c).
 */
#ifndef BM_NODE_METRICS_H
#define BM_NODE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/actor.h"
#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/manager.h"

struct bm_chainsync;
struct bm_chainsync_stats;
struct bm_errmsg;
struct bm_ha;
struct bm_ha_status;
struct bm_ha_fwd;
struct bm_ha_fwd_stats;
struct bm_limiter;
struct bm_metrics_server;
struct bm_p2p_host;
struct bm_p2p_peer_info;
struct bm_p2p_stats;
struct bm_rpc_server;
struct bm_rpc_stats;
struct bm_store;

#define BM_METRICS_DEFAULT_NAMESPACE "evnode"
/* ev-node's default instrumentation.max_open_connections. */
#define BM_METRICS_DEFAULT_MAX_CONNECTIONS 3u
/* Longest rendered page. */
#define BM_METRICS_MAX_PAGE ((size_t)16 << 20)

struct bm_metrics_breaker {
    const char *name;  /* borrowed */
    int state;         /* 0 closed, 1 open, 2 half-open, -1 unknown */
};

struct bm_metrics_limiter {
    const char *name;  /* borrowed */
    double tokens;
    uint64_t allowed;
    uint64_t limited;
};

/* Everything one page shows. All pointers are borrowed for the call. */
struct bm_metrics_snapshot {
    const char *ns;          /* NULL or "": "evnode" */
    const char *chain_id;    /* NULL: "" */
    /* Block-manager counters; without a manager the caller fills height
     * and da_included_height from the store and leaves the rest zero. */
    struct bm_manager_metrics m;
    uint64_t pending_headers;
    uint64_t pending_data;
    const struct bm_actor_stats *actors;
    size_t n_actors;
    const struct bm_metrics_breaker *breakers;
    size_t n_breakers;
    const struct bm_metrics_limiter *limiters;
    size_t n_limiters;
    /* P2P host counters and peers (NULL/0 without P2P: zeros). */
    const struct bm_p2p_stats *p2p;
    const struct bm_p2p_peer_info *peers;
    size_t n_peers;
    /* Chain sync over P2P: gossip, exchange, P2P stores (NULL: zeros). */
    const struct bm_chainsync_stats *sync;
    /* The HA election (blockv2_ha_*; NULL without HA: not rendered). */
    const struct bm_ha_status *ha;
    /* Forwarding of acknowledged txs to the leader (NULL: not rendered). */
    const struct bm_ha_fwd_stats *ha_fwd;
    /* The RPC server's connections and refused requests (NULL: zeros). */
    const struct bm_rpc_stats *rpc;
};

/* True if ns is a valid metric-name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*,
 * 1..64 chars). */
bool bm_metrics_ns_valid(const char *ns);

/*
 * Renders the snapshot as Prometheus text into *out (released first;
 * returns owned). Every family has HELP and TYPE lines; label values are
 * escaped (\\, \", \n). Errors: BM_EINVAL (invalid ns), BM_ETOOBIG (page
 * above BM_METRICS_MAX_PAGE), BM_ENOMEM. Pure; never blocks.
 */
enum bm_err bm_metrics_render(const struct bm_metrics_snapshot *in,
                              struct bm_buf *out);

/* Listener configuration. Pointers are borrowed and must outlive the
 * server. */
struct bm_metrics_config {
    const char *addr;          /* "host:port", ":port"; port 0: ephemeral */
    const char *ns;            /* NULL: "evnode" */
    const char *chain_id;      /* NULL: "" */
    struct bm_manager *manager; /* may be NULL */
    struct bm_store *store;    /* required without a manager */
    /* Limiters the node owns besides the manager's (may be NULL/0). */
    struct bm_limiter *const *limiters;
    size_t n_limiters;
    /* instrumentation.max_open_connections: most connections open at
     * once (each has a thread); libmicrohttpd closes further ones as soon
     * as it accepts them. 0: BM_METRICS_DEFAULT_MAX_CONNECTIONS. */
    unsigned max_connections;
    struct bm_p2p_host *p2p;   /* may be NULL */
    struct bm_chainsync *sync; /* may be NULL */
    struct bm_ha *ha;          /* may be NULL: no HA */
    struct bm_ha_fwd *ha_fwd;  /* may be NULL: no forwarding */
    const struct bm_rpc_server *rpc; /* may be NULL */
};

/*
 * Collects a snapshot from cfg's manager (metrics, pending counts, actor
 * snapshot, breakers "da" and "exec", limiters "tx" and "reaper") or
 * store, plus cfg's own limiters, and renders it into *out
 * (released first; returns owned). May block briefly (store reads).
 */
enum bm_err bm_metrics_collect(const struct bm_metrics_config *cfg,
                               struct bm_buf *out);

/*
 * Starts the listener (own threads) serving GET /metrics
 * (text/plain; version=0.0.4); other paths 404. Returns owned *out.
 * Errors: BM_EINVAL (address, namespace, neither manager nor store),
 * BM_ESYS, BM_ENOMEM.
 */
enum bm_err bm_metrics_server_start(struct bm_metrics_server **out,
                                    const struct bm_metrics_config *cfg,
                                    struct bm_errmsg *em);

uint16_t bm_metrics_server_port(const struct bm_metrics_server *s);

/* Stops and frees. NULL-safe. May block (requests in flight). */
void bm_metrics_server_stop(struct bm_metrics_server *s);

#endif /* BM_NODE_METRICS_H */
