/*
 * The node's P2P host, built from the p2p.* configuration keys and the
 * node key (config/node_key.json, generated on first start as ev-node's
 * LoadOrGenNodeKey does): the ID `blockv2 keys show` prints is the one the
 * host proves in every Noise handshake.
 *
 * P2P runs when p2p.listen_address or p2p.peers is set. Configuration
 * errors name the key and the value ("config: p2p.peers: entry 2
 * '/ip4/1.2.3.4/tcp/1': want .../p2p/<peer id>"). blocked_peers and
 * allowed_peers take peer IDs or multiaddrs ending in /p2p/<id> (ev-node
 * writes the latter); they apply only with disable_connection_gater false,
 * as in ev-node, and a warning says so when they are set but ignored.
 *
 * Lifecycle: bm_node_p2p_open returns a bound, stopped host; other layers
 * register their protocols on it, then bm_p2p_host_start; at shutdown
 * bm_p2p_host_free closes every connection. From the node's main thread;
 * may block briefly (file I/O).
 */
#ifndef BM_NODE_P2P_H
#define BM_NODE_P2P_H

#include <stdbool.h>

#include "blockv2/err.h"

struct bm_errmsg;
struct bm_node_config;
struct bm_p2p_host;

/* True when the configuration asks for P2P. */
bool bm_node_p2p_enabled(const struct bm_node_config *cfg);

/*
 * Loads (or creates) the node key of home and builds the host from cfg
 * (borrowed). With `dev`, a listen port already in use falls back to a
 * free one. Returns an owned, stopped *out (free with bm_p2p_host_free).
 * Errors: BM_ECONFIG (a p2p.* value), BM_ESYS (cannot listen), those of
 * the node key file.
 */
enum bm_err bm_node_p2p_open(struct bm_p2p_host **out,
                             const struct bm_node_config *cfg,
                             const char *home, bool dev,
                             struct bm_errmsg *em);

#endif /* BM_NODE_P2P_H */
