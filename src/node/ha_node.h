/*
 * The node's high-availability candidate (docs/HA.md), built from the
 * ha.* configuration keys: ha.etcd_endpoints (none = no HA), ha.prefix
 * ("" = /blockv2/<chain id>), ha.node_id (required), ha.lease_ttl (whole
 * seconds, 2 s .. 10 min). From the node's main thread.
 */
#ifndef BM_NODE_HA_NODE_H
#define BM_NODE_HA_NODE_H

#include <stdbool.h>

#include "blockv2/err.h"

struct bm_errmsg;
struct bm_ha;
struct bm_node_config;

/* True when the configuration asks for HA (ha.etcd_endpoints set). */
bool bm_node_ha_enabled(const struct bm_node_config *cfg);

/*
 * Checks the ha.* keys (BM_ECONFIG naming the key: HA needs
 * node.aggregator, an ha.node_id, a whole-second ha.lease_ttl), then
 * creates the candidate and starts it (bm_ha_start: it connects to etcd
 * and campaigns; an unreachable etcd or a wrong prefix is refused here,
 * naming the endpoints or the key). Borrows cfg and chain_id. Returns an
 * owned *out: stop it with bm_ha_stop(h, true) after the block manager,
 * then bm_ha_free. Blocks up to one etcd call deadline.
 */
enum bm_err bm_node_ha_open(struct bm_ha **out,
                            const struct bm_node_config *cfg,
                            const char *chain_id, struct bm_errmsg *em);

/*
 * The /ha/node answer (as ev-node's /raft/node: is_leader, node_id; plus
 * leader_id, role, token, lease_id, lease_ttl_s, replicated_height and the
 * counters leader_changes, fencing_rejections, etcd_errors,
 * replicated_blocks). Returns an owned json-c object (json_object_put);
 * NULL on out-of-memory. Any thread.
 */
struct json_object *bm_node_ha_json(struct bm_ha *h);

#endif /* BM_NODE_HA_NODE_H */
