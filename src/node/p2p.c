/* The node's P2P host from its configuration; see p2p.h. */
#include "node/p2p.h"

#include <string.h>

#include "blockv2/keys.h"
#include "node/config.h"
#include "p2p/host.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

/* p2p.redial_max below this would dial a peer that is down several times
 * a second. */
#define REDIAL_MAX_LOW_NS (100ull * 1000000ull)

bool bm_node_p2p_enabled(const struct bm_node_config *cfg)
{
    return (cfg->p2p_listen_address != NULL &&
            cfg->p2p_listen_address[0] != '\0') ||
           cfg->p2p_peers.n > 0;
}

/* A peer ID, or a multiaddr ending in /p2p/<id> (ev-node's form). */
static enum bm_err parse_peer(const char *key, size_t i, const char *s,
                              struct bm_peer_id *out, struct bm_errmsg *em)
{
    struct bm_multiaddr ma;
    struct bm_errmsg inner = {{0}};

    if (bm_peer_id_parse(out, s, strlen(s), NULL) == BM_OK) {
        return BM_OK;
    }
    if (bm_multiaddr_parse(&ma, s, strlen(s), &inner) == BM_OK && ma.has_peer) {
        *out = ma.peer;
        return BM_OK;
    }
    return bm_errf(em, BM_ECONFIG, "config: %s: entry %zu '%.200s': want a "
                   "peer ID (12D3KooW...) or a multiaddr ending in /p2p/<id>",
                   key, i + 1, s);
}

static enum bm_err parse_peers(const char *key,
                               const struct bm_node_strlist *l,
                               struct bm_peer_id **out, struct bm_errmsg *em)
{
    enum bm_err err = BM_OK;

    *out = NULL;
    if (l->n == 0) {
        return BM_OK;
    }
    *out = bm_xcalloc(l->n, sizeof(**out));
    for (size_t i = 0; i < l->n && err == BM_OK; i++) {
        err = parse_peer(key, i, l->items[i], &(*out)[i], em);
    }
    return err;
}

enum bm_err bm_node_p2p_open(struct bm_p2p_host **out,
                             const struct bm_node_config *cfg,
                             const char *home, bool dev,
                             struct bm_errmsg *em)
{
    struct bm_p2p_host_config hc;
    struct bm_privkey key;
    struct bm_multiaddr listen;
    struct bm_multiaddr *peers = NULL;
    struct bm_peer_id *blocked = NULL, *allowed = NULL;
    struct bm_errmsg inner = {{0}};
    char *path = NULL;
    bool generated = false;
    enum bm_err err;
    int herr;

    *out = NULL;
    memset(&key, 0, sizeof(key));
    bm_p2p_host_config_init(&hc);
    if (cfg->p2p_listen_address != NULL && cfg->p2p_listen_address[0]) {
        const char *s = cfg->p2p_listen_address;

        if (bm_multiaddr_parse(&listen, s, strlen(s), &inner) != BM_OK ||
            listen.family == 0 || !listen.has_port || listen.has_peer) {
            err = bm_errf(em, BM_ECONFIG, "config: p2p.listen_address: '%s':"
                          " want /ip4|ip6/<addr>/tcp/<port>%s%s",
                          s, inner.msg[0] ? ": " : "", inner.msg);
            goto out;
        }
        hc.listen = &listen;
        hc.n_listen = 1;
    }
    if (cfg->p2p_peers.n > 0) {
        peers = bm_xcalloc(cfg->p2p_peers.n, sizeof(*peers));
        for (size_t i = 0; i < cfg->p2p_peers.n; i++) {
            const char *s = cfg->p2p_peers.items[i];

            memset(&inner, 0, sizeof(inner));
            if (bm_multiaddr_parse(&peers[i], s, strlen(s), &inner) !=
                    BM_OK ||
                !bm_multiaddr_is_dialable(&peers[i])) {
                err = bm_errf(em, BM_ECONFIG, "config: p2p.peers: entry %zu "
                              "'%.200s': want /ip4|ip6/<addr>/tcp/<port>/p2p/"
                              "<peer id>%s%s",
                              i + 1, s, inner.msg[0] ? ": " : "", inner.msg);
                goto out;
            }
        }
        hc.peers = peers;
        hc.n_peers = cfg->p2p_peers.n;
    }
    err = parse_peers("p2p.blocked_peers", &cfg->p2p_blocked_peers, &blocked,
                      em);
    if (err == BM_OK) {
        err = parse_peers("p2p.allowed_peers", &cfg->p2p_allowed_peers,
                          &allowed, em);
    }
    if (err != BM_OK) {
        goto out;
    }
    hc.gater = !cfg->p2p_disable_connection_gater;
    hc.max_inbound_per_ip = cfg->p2p_max_inbound_per_ip == 0
                                ? UINT32_MAX
                                : (uint32_t)cfg->p2p_max_inbound_per_ip;
    if (cfg->p2p_redial_max_ns < REDIAL_MAX_LOW_NS ||
        cfg->p2p_redial_max_ns / 1000000u > BM_P2P_REDIAL_LIMIT_MS) {
        err = bm_errf(em, BM_ECONFIG, "config: p2p.redial_max: %llu ms: "
                      "want 100ms to 1h",
                      (unsigned long long)(cfg->p2p_redial_max_ns / 1000000u));
        goto out;
    }
    hc.redial_max_ms = cfg->p2p_redial_max_ns / 1000000u;
    hc.blocked = blocked;
    hc.n_blocked = cfg->p2p_blocked_peers.n;
    hc.allowed = allowed;
    hc.n_allowed = cfg->p2p_allowed_peers.n;
    if (!hc.gater && (hc.n_blocked > 0 || hc.n_allowed > 0)) {
        bm_log_warn("p2p", "p2p.blocked_peers/allowed_peers are ignored: "
                    "p2p.disable_connection_gater is true (ev-node's "
                    "default); set it to false to enforce them");
    }
    path = bm_node_path(home, BM_NODE_CONFIG_DIR "/" BM_NODE_KEY_FILE_NAME);
    err = bm_node_key_load_or_generate(path, &key, &generated, em);
    if (err != BM_OK) {
        goto out;
    }
    if (generated) {
        bm_log_info("p2p", "created the node key file=%s", path);
    }
    hc.identity = &key;
    herr = bm_p2p_host_new(out, &hc, em);
    if (herr == BM_ESYS && dev && hc.n_listen == 1) {
        /* --dev: the default port is taken (another dev node): any port. */
        listen.port = 0;
        herr = bm_p2p_host_new(out, &hc, em);
    }
    err = herr == BM_EINVAL ? BM_ECONFIG : (enum bm_err)herr;
out:
    bm_privkey_wipe(&key);
    bm_free(path);
    bm_free(peers);
    bm_free(blocked);
    bm_free(allowed);
    return err;
}

