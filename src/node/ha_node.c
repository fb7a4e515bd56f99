/* The node's HA candidate from its config (node/ha_node.h). */
#include "node/ha_node.h"

#include <stdio.h>

#include <json-c/json.h>

#include "blockv2/ha.h"
#include "node/config.h"
#include "util/errmsg.h"

#define NS_PER_S 1000000000ull

bool bm_node_ha_enabled(const struct bm_node_config *cfg)
{
    return cfg->ha_etcd_endpoints.n > 0;
}

enum bm_err bm_node_ha_open(struct bm_ha **out,
                            const struct bm_node_config *cfg,
                            const char *chain_id, struct bm_errmsg *em)
{
    struct bm_ha_config hc = {0};
    char prefix[BM_HA_MAX_PREFIX + 64];
    struct bm_ha *h = NULL;
    uint64_t ttl = cfg->ha_lease_ttl_ns;
    enum bm_err err;

    *out = NULL;
    if (!cfg->aggregator) {
        return bm_errf(em, BM_ECONFIG,
                       "config: ha.etcd_endpoints: HA "
                       "candidates are aggregators (set node.aggregator)");
    }
    if (cfg->ha_node_id == NULL || cfg->ha_node_id[0] == '\0') {
        return bm_errf(em, BM_ECONFIG,
                       "config: ha.node_id: must be set "
                       "(unique per candidate) when ha.etcd_endpoints is "
                       "set");
    }
    if (ttl % NS_PER_S != 0 || ttl < 2 * NS_PER_S || ttl > 600 * NS_PER_S) {
        return bm_errf(em, BM_ECONFIG,
                       "config: ha.lease_ttl: want whole "
                       "seconds from 2s to 10m (etcd leases count seconds)");
    }
    if (cfg->ha_prefix != NULL && cfg->ha_prefix[0] != '\0') {
        snprintf(prefix, sizeof(prefix), "%s", cfg->ha_prefix);
    } else {
        snprintf(prefix, sizeof(prefix), "/blockv2/%s", chain_id);
    }
    hc.endpoints = (const char *const *)cfg->ha_etcd_endpoints.items;
    hc.n_endpoints = cfg->ha_etcd_endpoints.n;
    hc.prefix = prefix;
    hc.node_id = cfg->ha_node_id;
    hc.lease_ttl_s = (uint32_t)(ttl / NS_PER_S);
    err = bm_ha_new(&h, &hc, em);
    if (err == BM_OK) {
        err = bm_ha_start(h, em);
    }
    if (err != BM_OK) {
        bm_ha_free(h);
        return err;
    }
    *out = h;
    return BM_OK;
}

struct json_object *bm_node_ha_json(struct bm_ha *h)
{
    struct bm_ha_status st;
    struct json_object *o = json_object_new_object();

    if (o == NULL) {
        return NULL;
    }
    bm_ha_status(h, &st);
    json_object_object_add(o, "is_leader",
                           json_object_new_boolean(st.role == BM_HA_LEADER));
    json_object_object_add(o, "node_id", json_object_new_string(st.node_id));
    json_object_object_add(o, "leader_id",
                           json_object_new_string(st.leader_id));
    json_object_object_add(o, "role",
                           json_object_new_string(bm_ha_role_name(st.role)));
    json_object_object_add(o, "token", json_object_new_int64(st.token));
    json_object_object_add(o, "lease_id", json_object_new_int64(st.lease_id));
    json_object_object_add(o, "lease_ttl_s",
                           json_object_new_int64(st.lease_ttl_s));
    if (st.replicated_known) {
        json_object_object_add(o, "replicated_height",
                               json_object_new_uint64(st.replicated_height));
    }
    json_object_object_add(o, "leader_changes",
                           json_object_new_uint64(st.leader_changes));
    json_object_object_add(o, "fencing_rejections",
                           json_object_new_uint64(st.fencing_rejections));
    json_object_object_add(o, "etcd_errors",
                           json_object_new_uint64(st.etcd_errors));
    json_object_object_add(o, "replicated_blocks",
                           json_object_new_uint64(st.replicated_blocks));
    return o;
}
