/*
 * The node configuration table and everything driven by it: defaults,
 * value parsing, the YAML loader (libcyaml, with a schema built from the
 * table at load time), --evnode.* flags, the commented YAML writer and the
 * markdown reference. See src/node/config.h.
 */
#include "node/config.h"

#include <cyaml/cyaml.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/manager.h"
#include "exec/evm/evm.h"
#include "exec/kv/kv.h"
#include "node/duration.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/file.h"
#include "util/log.h"
#include "util/utf8.h"

#define OFF(f) offsetof(struct bm_node_config, f)

/* The table. Order is the order of the written YAML and of the docs;
 * keys of one section are contiguous. */
static const struct bm_node_config_key keys[] = {
    {"db_path", BM_CFG_STRING, "data",
     "database directory, relative to the home unless absolute", OFF(db_path),
     0, NULL, 0},

    {"node.aggregator", BM_CFG_BOOL, "false",
     "produce blocks (this node's signer must be the genesis proposer)",
     OFF(aggregator), 0, NULL, 0},
    {"node.light", BM_CFG_BOOL, "false",
     "light node: header sync only (reserved: not implemented yet)",
     OFF(light), 0, NULL, 0},
    {"node.block_time", BM_CFG_DURATION, "1s",
     "interval between blocks; also the reaper interval", OFF(block_time_ns),
     BM_CFG_F_NONZERO, NULL, 0},
    {"node.lazy_mode", BM_CFG_BOOL, "false",
     "lazy aggregation: produce a block only when there are transactions "
     "(or after lazy_block_interval)",
     OFF(lazy_mode), 0, NULL, 0},
    {"node.lazy_block_interval", BM_CFG_DURATION, "1m0s",
     "longest interval between blocks in lazy mode",
     OFF(lazy_block_interval_ns), BM_CFG_F_NONZERO, NULL, 0},
    {"node.max_pending_headers_and_data", BM_CFG_UINT, "0",
     "stop producing when this many blocks are not yet on DA (0 = no "
     "limit)",
     OFF(max_pending_headers_and_data), 0, NULL, 0},
    {"node.scrape_interval", BM_CFG_DURATION, "1s",
     "how often the reaper asks the executor for transactions",
     OFF(scrape_interval_ns), BM_CFG_F_NONZERO, NULL, 0},
    {"node.readiness_window_seconds", BM_CFG_UINT, "15",
     "/health/ready: seconds of blocks a node may lag behind the best known "
     "height; sets node.readiness_max_blocks_behind to this window / "
     "node.block_time when that key is not given",
     OFF(readiness_window_seconds), BM_CFG_F_NONZERO, NULL, 0},
    {"node.readiness_max_blocks_behind", BM_CFG_UINT, "15",
     "/health/ready: most blocks a node may lag behind the best known "
     "height and still be ready (0 = at the head); when not given: "
     "node.readiness_window_seconds / node.block_time",
     OFF(readiness_max_blocks_behind), BM_CFG_F_DERIVED, NULL, 0},
    {"node.catchup_timeout", BM_CFG_DURATION, "0s",
     "aggregator only: sync from DA (and P2P) before producing; bounds the "
     "wait for P2P, DA is synced to its head (0 = no catch-up)",
     OFF(catchup_timeout_ns), 0, NULL, 0},
    {"node.trusted_hash", BM_CFG_STRING, "",
     "hex header hash to initialise the P2P header store (reserved)",
     OFF(trusted_hash), 0, NULL, 0},
    {"node.executor", BM_CFG_STRING, "kv",
     "the executor: kv (the in-process key/value app) or evm (an execution "
     "client through the Engine API, evm.*); when not given: evm if any "
     "evm.* key is set to other than its default, else kv",
     OFF(node_executor), BM_CFG_F_DERIVED, "kv|evm", 0},
    {"node.max_queue_bytes", BM_CFG_UINT, "268435456",
     "aggregator: most tx bytes queued for blocks; POST /tx answers 503 "
     "(queue full) beyond (the sequencer's store holds at most 1 GiB)",
     OFF(max_queue_bytes), BM_CFG_F_NONZERO, NULL, 1u << 30},
    {"node.max_block_txs", BM_CFG_UINT, "120000",
     "aggregator: most txs in one block (what one DA blob holds caps it "
     "further); POST /tx answers 503 while this many wait for the next "
     "block; when not given: 120 per ms of node.block_time, at least 1000 "
     "(docs/EXECUTION.md)",
     OFF(max_block_txs), BM_CFG_F_NONZERO | BM_CFG_F_DERIVED, NULL,
     BM_MAX_TXS},
    {"node.exec_breaker_failures", BM_CFG_UINT, "5",
     "failed executor calls in a row (an execution client down or not "
     "answering) that open the exec breaker: no block is made or applied "
     "while it is open",
     OFF(exec_breaker_failures), BM_CFG_F_NONZERO, NULL, 1000},
    {"node.exec_breaker_open_time", BM_CFG_DURATION, "30s",
     "how long the exec breaker stays open before one call tries the "
     "executor again; also the longest a node waits after the execution "
     "client is back",
     OFF(exec_breaker_open_ns), BM_CFG_F_NONZERO, NULL, 0},

    {"da.address", BM_CFG_STRING, "http://127.0.0.1:7980",
     "DA JSON-RPC URL (celestia-node blob API or `blockv2 da serve`)",
     OFF(da_address), 0, NULL, 0},
    {"da.auth_token", BM_CFG_STRING, "",
     "bearer token sent to the DA node (secret)", OFF(da_auth_token),
     BM_CFG_F_SECRET, NULL, 0},
    {"da.namespace", BM_CFG_STRING, "",
     "DA namespace of headers (any string; `init` sets the chain ID)",
     OFF(da_namespace), 0, NULL, 0},
    {"da.data_namespace", BM_CFG_STRING, "",
     "DA namespace of block data (\"\" = da.namespace)",
     OFF(da_data_namespace), 0, NULL, 0},
    {"da.forced_inclusion_namespace", BM_CFG_STRING, "",
     "DA namespace of forced-inclusion transactions (reserved)",
     OFF(da_forced_inclusion_namespace), 0, NULL, 0},
    {"da.block_time", BM_CFG_DURATION, "6s",
     "DA block time: poll and submit interval, backoff cap",
     OFF(da_block_time_ns), BM_CFG_F_NONZERO, NULL, 0},
    {"da.start_height", BM_CFG_UINT, "0",
     "developer override of the full node's first DA height (0 = from "
     "genesis/state)",
     OFF(da_start_height), BM_CFG_F_NOWRITE, NULL, 0},
    {"da.max_submit_attempts", BM_CFG_UINT, "30",
     "attempts to submit one batch to DA before giving up",
     OFF(da_max_submit_attempts), BM_CFG_F_NONZERO, NULL, UINT32_MAX},
    {"da.request_timeout", BM_CFG_DURATION, "1m0s",
     "timeout of one DA request", OFF(da_request_timeout_ns),
     BM_CFG_F_NONZERO, NULL, 0},
    {"da.submit_options", BM_CFG_STRING, "",
     "JSON options sent with blob.Submit", OFF(da_submit_options), 0, NULL,
     0},
    {"da.gas_price", BM_CFG_FLOAT, "-1",
     "gas price of DA submissions, sent as gas_price in blob.Submit's "
     "options (< 0 = the DA node's estimate)",
     OFF(da_gas_price), 0, NULL, 0},
    {"da.mempool_ttl", BM_CFG_UINT, "25",
     "DA blocks a submission may stay in the mempool (ev-node: unused)",
     OFF(da_mempool_ttl), 0, NULL, 0},
    {"da.batching_strategy", BM_CFG_STRING, "time",
     "when pending headers/data are sent: immediate (at once), size (at "
     "da.batch_size_threshold), time (da.batch_max_delay after the last "
     "submission), adaptive (size or time)",
     OFF(da_batching_strategy), 0, "immediate|size|time|adaptive", 0},
    {"da.batch_size_threshold", BM_CFG_FLOAT, "0.8",
     "size and adaptive: fraction of da.max_blob_size the pending bytes "
     "must reach, in (0, 1]",
     OFF(da_batch_size_threshold), 0, NULL, 0},
    {"da.batch_max_delay", BM_CFG_DURATION, "0s",
     "time and adaptive: wait after the last submission (0 = "
     "da.block_time)",
     OFF(da_batch_max_delay_ns), 0, NULL, 0},
    {"da.batch_min_items", BM_CFG_UINT, "1",
     "fewest pending headers (or blocks with txs) before a submission",
     OFF(da_batch_min_items), BM_CFG_F_NONZERO, NULL, 0},
    {"da.max_blob_size", BM_CFG_UINT, "1974272",
     "largest DA blob and submission in bytes; a block's data and header "
     "each fit one blob (the DA network's limit)",
     OFF(da_max_blob_size), BM_CFG_F_NONZERO, NULL, 64u << 20},

    {"p2p.listen_address", BM_CFG_STRING, "/ip4/0.0.0.0/tcp/7676",
     "libp2p listen multiaddr /ip4/<addr>/tcp/<port> or /ip6/... (\"\" = do "
     "not listen; P2P runs if this or p2p.peers is set)",
     OFF(p2p_listen_address), 0, NULL, 0},
    {"p2p.peers", BM_CFG_STRLIST, "",
     "comma-separated /ip4/<addr>/tcp/<port>/p2p/<id> (or /ip6) dialled "
     "and redialled (backoff 1 s doubling to p2p.redial_max, jittered)",
     OFF(p2p_peers), 0, NULL, 0},
    {"p2p.blocked_peers", BM_CFG_STRLIST, "",
     "comma-separated peer IDs (or multiaddrs with /p2p) refused at dial "
     "and accept (needs disable_connection_gater false)",
     OFF(p2p_blocked_peers), 0, NULL, 0},
    {"p2p.allowed_peers", BM_CFG_STRLIST, "",
     "comma-separated peer IDs always allowed; when set, all others are "
     "refused (needs disable_connection_gater false)",
     OFF(p2p_allowed_peers), 0, NULL, 0},
    {"p2p.disable_connection_gater", BM_CFG_BOOL, "true",
     "ignore blocked_peers/allowed_peers (ev-node's default)",
     OFF(p2p_disable_connection_gater), 0, NULL, 0},
    {"p2p.max_inbound_per_ip", BM_CFG_UINT, "8",
     "most inbound P2P connections from one IP address, loopback too (of "
     "128 in all); more are refused and counted; 0 = no cap",
     OFF(p2p_max_inbound_per_ip), 0, NULL, 128},
    {"p2p.redial_max", BM_CFG_DURATION, "5s",
     "longest wait between redials of a p2p.peers entry that is down "
     "(100ms-1h); a healed link is back within it, and a connection to "
     "any peer cuts the wait back to 1 s",
     OFF(p2p_redial_max_ns), BM_CFG_F_NONZERO, NULL, 0},

    {"rpc.address", BM_CFG_STRING, "127.0.0.1:7331",
     "HOST:PORT of the RPC server (Connect JSON, /health, /status, /tx)",
     OFF(rpc_address), 0, NULL, 0},
    {"rpc.enable_da_visualization", BM_CFG_BOOL, "false",
     "serve ev-node's DA visualisation pages (reserved)",
     OFF(rpc_enable_da_visualization), 0, NULL, 0},
    {"rpc.tx_rate_limit", BM_CFG_UINT, "29913",
     "POST /tx: most txs accepted per second, burst one second's worth "
     "and at least 1000 (429 beyond; 0 = no limit); when not given: what "
     "blocks carry, node.max_block_txs (or the 64-byte txs one DA blob "
     "holds, if fewer) per node.block_time, burst one block's worth",
     OFF(rpc_tx_rate_limit), BM_CFG_F_DERIVED, NULL, 1000000},

    {"instrumentation.prometheus", BM_CFG_BOOL, "false",
     "serve Prometheus metrics at /metrics", OFF(prometheus), 0, NULL, 0},
    {"instrumentation.prometheus_listen_addr", BM_CFG_STRING, ":26660",
     "address of the metrics server", OFF(prometheus_listen_addr), 0, NULL,
     0},
    {"instrumentation.max_open_connections", BM_CFG_UINT, "3",
     "most metrics connections open at once (each has a thread); further "
     "ones are closed at once",
     OFF(max_open_connections), BM_CFG_F_NONZERO, NULL, 1024},
    {"instrumentation.namespace", BM_CFG_STRING, "evnode",
     "prefix of the metric names", OFF(instrumentation_namespace), 0, NULL,
     0},
    {"instrumentation.pprof", BM_CFG_BOOL, "false",
     "Go pprof server (reserved: not applicable)", OFF(pprof), 0, NULL, 0},
    {"instrumentation.pprof_listen_addr", BM_CFG_STRING, ":6060",
     "pprof address (reserved)", OFF(pprof_listen_addr), 0, NULL, 0},

    {"log.level", BM_CFG_STRING, "info", "log level", OFF(log_level), 0,
     "debug|info|warn|error", 0},
    {"log.format", BM_CFG_STRING, "text",
     "log line format", OFF(log_format), 0, "text|json", 0},
    {"log.trace", BM_CFG_BOOL, "false",
     "add a stack trace (stack=object+offset,...) to error logs",
     OFF(log_trace), 0, NULL, 0},

    {"signer.signer_type", BM_CFG_STRING, "file",
     "signer implementation", OFF(signer_type), 0, "file", 0},
    {"signer.signer_path", BM_CFG_STRING, "config",
     "directory of signer.json, relative to the home unless absolute",
     OFF(signer_path), 0, NULL, 0},
    {"signer.passphrase_file", BM_CFG_STRING, "",
     "file holding the signer passphrase (one trailing newline is "
     "ignored); \"\" = ask on the terminal",
     OFF(signer_passphrase_file), 0, NULL, 0},

    {"pruning.pruning_mode", BM_CFG_STRING, "disabled",
     "block store pruning (reserved: the store keeps every block; the KV "
     "executor bounds its own records, see kv.*)",
     OFF(pruning_mode), 0, "disabled|all|metadata", 0},
    {"pruning.pruning_keep_recent", BM_CFG_UINT, "100000",
     "blocks kept when pruning (reserved)", OFF(pruning_keep_recent), 0,
     NULL, 0},
    {"pruning.pruning_interval", BM_CFG_DURATION, "15m0s",
     "interval between pruning runs (reserved)", OFF(pruning_interval_ns),
     BM_CFG_F_NONZERO, NULL, 0},

    {"kv.initial_map_size", BM_CFG_UINT, "67108864",
     "initial LMDB map size of the KV executor (data/kv) in bytes; it "
     "doubles whenever full, up to 1 TiB (on a tmpfs: at most 4 MiB to "
     "start, growing by half, docs/STORE.md)",
     OFF(kv_initial_map_size), BM_CFG_F_NONZERO, NULL, (uint64_t)1 << 40},

    {"ha.etcd_endpoints", BM_CFG_STRLIST, "",
     "comma-separated etcd endpoints (http://HOST:PORT) of the aggregator "
     "candidates' leader election; \"\" = no HA (replaces ev-node's "
     "raft.*; docs/HA.md)",
     OFF(ha_etcd_endpoints), 0, NULL, 0},
    {"ha.prefix", BM_CFG_STRING, "",
     "etcd key prefix of this chain's election (\"\" = /blockv2/<chain "
     "id>)",
     OFF(ha_prefix), 0, NULL, 0},
    {"ha.node_id", BM_CFG_STRING, "",
     "this candidate's id in the election, unique per node (required with "
     "ha.etcd_endpoints; ev-node: raft.node_id)",
     OFF(ha_node_id), 0, NULL, 0},
    {"ha.lease_ttl", BM_CFG_DURATION, "3s",
     "etcd lease TTL in whole seconds (2s..10m): a leader that cannot renew "
     "it stops producing within it; a failover takes about as long",
     OFF(ha_lease_ttl_ns), BM_CFG_F_NONZERO, NULL, 0},
    {"ha.peers", BM_CFG_STRLIST, "",
     "comma-separated NODE_ID=HOST:PORT RPC addresses of the candidates: "
     "a candidate that does not lead forwards the txs it acknowledged to "
     "the leader's (\"\" = no forwarding; docs/HA.md)",
     OFF(ha_peers), 0, NULL, 0},
    {"evm.engine_url", BM_CFG_STRING, "http://localhost:8551",
     "Engine API URL of the execution client (JWT-authenticated)",
     OFF(evm_engine_url), 0, NULL, 0},
    {"evm.eth_url", BM_CFG_STRING, "http://localhost:8545",
     "eth JSON-RPC URL of the execution client (txpoolExt_getTxs, blocks)",
     OFF(evm_eth_url), 0, NULL, 0},
    {"evm.jwt_secret_file", BM_CFG_STRING, "",
     "file with the 32-byte JWT secret as 64 hex digits, shared with the "
     "execution client (path as given; required with evm)",
     OFF(evm_jwt_secret_file), 0, NULL, 0},
    {"evm.genesis_hash", BM_CFG_STRING, "",
     "0x hash of the execution client's genesis block; the start is "
     "refused when the client's differs (required with evm)",
     OFF(evm_genesis_hash), 0, NULL, 0},
    {"evm.fee_recipient", BM_CFG_STRING, "",
     "0x address that receives the blocks' fees (\"\" = the zero address)",
     OFF(evm_fee_recipient), 0, NULL, 0},
    {"evm.request_timeout", BM_CFG_DURATION, "30s",
     "deadline of one call to the execution client; a client that does "
     "not answer in time counts as unavailable",
     OFF(evm_request_timeout_ns), BM_CFG_F_NONZERO, NULL, 0},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

_Static_assert(N_KEYS <= 64 * BM_NODE_CONFIG_GIVEN_WORDS,
               "struct bm_node_config.given has a bit per table row");

/* Comments written above each section of the YAML. */
static const struct {
    const char *name;
    const char *comment;
} sections[] = {
    {"node", "block production and sync"},
    {"da", "data availability layer"},
    {"p2p", "peer-to-peer networking (libp2p: TCP, Noise, yamux)"},
    {"rpc", "RPC server"},
    {"instrumentation", "metrics"},
    {"log", "logging"},
    {"signer", "block signer (aggregator)"},
    {"pruning", "store pruning"},
    {"kv", "the in-process KV executor"},
    {"ha", "high availability: leader election on etcd (docs/HA.md)"},
    {"evm", "the EVM executor: an execution client through the Engine API"},
};

#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

/* Old flag names of ev-node v1 mapped to the YAML keys. */
static const struct {
    const char *from;
    const char *to;
} aliases[] = {
    {"signer.type", "signer.signer_type"},
    {"signer.path", "signer.signer_path"},
};

/* ev-node's flags of the EVM executor (execution/evm/flags.go), accepted
 * besides --evnode.<key>. */
static const struct {
    const char *flag;
    const char *key;
} evnode_flags[] = {
    {"--evm.engine-url", "evm.engine_url"},
    {"--evm.eth-url", "evm.eth_url"},
    {"--evm.jwt-secret-file", "evm.jwt_secret_file"},
    {"--evm.genesis-hash", "evm.genesis_hash"},
    {"--evm.fee-recipient", "evm.fee_recipient"},
};

const char *bm_node_config_evnode_flag(const char *key)
{
    for (size_t i = 0; i < sizeof(evnode_flags) / sizeof(evnode_flags[0]);
         i++) {
        if (strcmp(evnode_flags[i].key, key) == 0) {
            return evnode_flags[i].flag;
        }
    }
    return NULL;
}

const struct bm_node_config_key *bm_node_config_keys(size_t *n)
{
    *n = N_KEYS;
    return keys;
}

const struct bm_node_config_key *bm_node_config_find(const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].key, key) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

const char *bm_node_config_type_name(enum bm_node_config_type t)
{
    switch (t) {
    case BM_CFG_BOOL:
        return "bool";
    case BM_CFG_STRING:
        return "string";
    case BM_CFG_DURATION:
        return "duration";
    case BM_CFG_UINT:
        return "uint";
    case BM_CFG_FLOAT:
        return "float";
    case BM_CFG_STRLIST:
        return "string list";
    }
    return "?";
}

/* ---- field access ---- */

static void *field(struct bm_node_config *cfg,
                   const struct bm_node_config_key *k)
{
    return (char *)cfg + k->offset;
}

static const void *cfield(const struct bm_node_config *cfg,
                          const struct bm_node_config_key *k)
{
    return (const char *)cfg + k->offset;
}

static void strlist_release(struct bm_node_strlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        bm_free(l->items[i]);
    }
    bm_free(l->items);
    l->items = NULL;
    l->n = 0;
}

void bm_node_config_release(struct bm_node_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].type == BM_CFG_STRING) {
            char **s = field(cfg, &keys[i]);
            bm_free(*s);
            *s = NULL;
        } else if (keys[i].type == BM_CFG_STRLIST) {
            strlist_release(field(cfg, &keys[i]));
        }
    }
    memset(cfg, 0, sizeof(*cfg));
}

void bm_node_config_defaults(struct bm_node_config *cfg)
{
    bm_node_config_release(cfg);
    for (size_t i = 0; i < N_KEYS; i++) {
        enum bm_err err = bm_node_config_set(cfg, &keys[i], keys[i].def,
                                             NULL);
        if (err != BM_OK) {
            /* a bad default is a bug in the table above */
            bm_log_error("config", "bad default key=%s", keys[i].key);
            abort();
        }
    }
    memset(cfg->given, 0, sizeof(cfg->given));
}

/* ---- value parsing ---- */

/* A printable, bounded copy of untrusted text for messages. */
static void show(char *out, size_t cap, const char *s)
{
    size_t j = 0, i;

    for (i = 0; s[i] != '\0' && j + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (s[i] != '\0' && j + 4 <= cap) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

static enum bm_err invalid(struct bm_errmsg *em,
                           const struct bm_node_config_key *k,
                           const char *text, const char *why)
{
    char v[80];

    show(v, sizeof(v), text);
    return bm_errf(em, BM_ECONFIG, "config: %s: invalid %s '%s'%s%s%s",
                   k->key, bm_node_config_type_name(k->type), v,
                   why != NULL ? " (" : "", why != NULL ? why : "",
                   why != NULL ? ")" : "");
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        if (__builtin_mul_overflow(v, 10u, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v)) {
            return false;
        }
    }
    *out = v;
    return true;
}

static bool parse_float(const char *s, double *out)
{
    char *end = NULL;
    double v;

    if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n') {
        return false;
    }
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits s at commas, trimming blanks and dropping empty items. */
static enum bm_err parse_strlist(const char *s, struct bm_node_strlist *out,
                                 const char **why)
{
    struct bm_node_strlist l = {NULL, 0};
    size_t cap = 0;

    while (*s != '\0') {
        const char *e = strchr(s, ',');
        const char *b = s, *t;

        if (e == NULL) {
            e = s + strlen(s);
        }
        t = e;
        while (b < t && is_space(*b)) {
            b++;
        }
        while (t > b && is_space(t[-1])) {
            t--;
        }
        if (t > b) {
            if (l.n == BM_NODE_CONFIG_LIST_MAX) {
                strlist_release(&l);
                *why = "too many items";
                return BM_ECONFIG;
            }
            if (l.n == cap) {
                cap = cap ? cap * 2 : 4;
                l.items = bm_xrealloc(l.items, cap * sizeof(*l.items));
            }
            l.items[l.n] = bm_xmalloc((size_t)(t - b) + 1);
            memcpy(l.items[l.n], b, (size_t)(t - b));
            l.items[l.n][t - b] = '\0';
            l.n++;
        }
        s = *e == ',' ? e + 1 : e;
    }
    *out = l;
    return BM_OK;
}

static bool in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);

    while (*choices != '\0') {
        const char *e = strchr(choices, '|');
        size_t len = e != NULL ? (size_t)(e - choices) : strlen(choices);
        if (len == n && memcmp(choices, s, n) == 0) {
            return true;
        }
        if (e == NULL) {
            break;
        }
        choices = e + 1;
    }
    return false;
}

/* Parses text into the field of row k (bm_node_config_set without the
 * "given" mark). */
static enum bm_err set_value(struct bm_node_config *cfg,
                             const struct bm_node_config_key *k,
                             const char *text, struct bm_errmsg *em)
{
    size_t len;
    enum bm_err err;

    if (cfg == NULL || k == NULL || text == NULL) {
        return bm_errf(em, BM_EINVAL, "config: NULL argument");
    }
    len = strlen(text);
    if (len > BM_NODE_CONFIG_VALUE_MAX) {
        return invalid(em, k, text, "value too long");
    }
    if (!bm_utf8_valid((const uint8_t *)text, len)) {
        return invalid(em, k, text, "not UTF-8");
    }
    switch (k->type) {
    case BM_CFG_BOOL: {
        bool b;
        if (!parse_bool(text, &b)) {
            return invalid(em, k, text, "want true or false");
        }
        *(bool *)field(cfg, k) = b;
        return BM_OK;
    }
    case BM_CFG_STRING:
        if (k->choices != NULL && !in_choices(k->choices, text)) {
            char why[96];
            snprintf(why, sizeof(why), "want one of %s", k->choices);
            return invalid(em, k, text, why);
        }
        bm_free(*(char **)field(cfg, k));
        *(char **)field(cfg, k) = bm_xstrdup(text);
        return BM_OK;
    case BM_CFG_DURATION: {
        uint64_t ns = 0;
        err = bm_duration_parse(text, &ns);
        if (err != BM_OK) {
            return invalid(em, k, text,
                           text[0] == '-'           ? "negative"
                           : err == BM_EOVERFLOW    ? "out of range"
                                                    : NULL);
        }
        if (ns == 0 && (k->flags & BM_CFG_F_NONZERO)) {
            return invalid(em, k, text, "must be above 0");
        }
        *(uint64_t *)field(cfg, k) = ns;
        return BM_OK;
    }
    case BM_CFG_UINT: {
        uint64_t v = 0;
        if (!parse_uint(text, &v)) {
            return invalid(em, k, text, "want a decimal number");
        }
        if (v == 0 && (k->flags & BM_CFG_F_NONZERO)) {
            return invalid(em, k, text, "must be above 0");
        }
        if (k->max != 0 && v > k->max) {
            char why[48];
            snprintf(why, sizeof(why), "at most %" PRIu64, k->max);
            return invalid(em, k, text, why);
        }
        *(uint64_t *)field(cfg, k) = v;
        return BM_OK;
    }
    case BM_CFG_FLOAT: {
        double v = 0;
        if (!parse_float(text, &v)) {
            return invalid(em, k, text, NULL);
        }
        *(double *)field(cfg, k) = v;
        return BM_OK;
    }
    case BM_CFG_STRLIST: {
        struct bm_node_strlist l = {NULL, 0};
        const char *why = NULL;
        if (parse_strlist(text, &l, &why) != BM_OK) {
            return invalid(em, k, text, why);
        }
        strlist_release(field(cfg, k));
        *(struct bm_node_strlist *)field(cfg, k) = l;
        return BM_OK;
    }
    }
    return bm_errf(em, BM_EINVAL, "config: %s: bad type", k->key);
}

/* Index of row k in the table, or N_KEYS if k is not one of its rows. */
static size_t row_index(const struct bm_node_config_key *k)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (k == &keys[i]) {
            return i;
        }
    }
    return N_KEYS;
}

enum bm_err bm_node_config_set(struct bm_node_config *cfg,
                               const struct bm_node_config_key *k,
                               const char *text, struct bm_errmsg *em)
{
    enum bm_err err = set_value(cfg, k, text, em);
    size_t i;

    if (err == BM_OK) {
        i = row_index(k);
        if (i < N_KEYS) {
            cfg->given[i / 64] |= (uint64_t)1 << (i % 64);
        }
    }
    return err;
}

static bool row_given(const struct bm_node_config *cfg,
                      const struct bm_node_config_key *k)
{
    size_t i = row_index(k);

    return i < N_KEYS && (cfg->given[i / 64] >> (i % 64) & 1u) != 0;
}

bool bm_node_config_given(const struct bm_node_config *cfg, const char *key)
{
    const struct bm_node_config_key *k = bm_node_config_find(key);

    return k != NULL && row_given(cfg, k);
}

/* ev-node's derivation: how many blocks of node.block_time fit in the
 * readiness window (whole blocks, rounded down). */
static uint64_t readiness_blocks(uint64_t window_s, uint64_t block_ns)
{
    uint64_t ns;

    if (block_ns == 0) {
        return 30; /* not reachable: block_time is non-zero */
    }
    if (__builtin_mul_overflow(window_s, (uint64_t)1000000000u, &ns)) {
        return UINT64_MAX / block_ns;
    }
    return ns / block_ns;
}

/* Whether row k (a string or duration row) holds its default value. */
static bool row_is_default(const struct bm_node_config *cfg,
                           const struct bm_node_config_key *k)
{
    if (k->type == BM_CFG_STRING) {
        const char *v = *(char *const *)cfield(cfg, k);
        return strcmp(v != NULL ? v : "", k->def) == 0;
    }
    if (k->type == BM_CFG_DURATION) {
        uint64_t def = 0;
        return bm_duration_parse(k->def, &def) == BM_OK &&
               *(const uint64_t *)cfield(cfg, k) == def;
    }
    return true;
}

/* node.max_block_txs when not given: 120 txs per ms of block time (a
 * block of them is built in a fraction of its block time,
 * docs/PERFORMANCE.md "Tx path"), in [1000, BM_MAX_TXS]. */
static uint64_t block_txs(uint64_t block_ns)
{
    uint64_t ms = block_ns / 1000000u;

    if (ms > BM_MAX_TXS / 120u) {
        return BM_MAX_TXS;
    }
    return ms * 120u < 1000u ? 1000u : ms * 120u;
}

/* rpc.tx_rate_limit when not given: what blocks carry a second, the
 * smaller of max_block_txs and the 64-byte txs one DA blob holds, per
 * block time; in [1000, 1,000,000]. */
static uint64_t carried_rate(const struct bm_node_config *cfg)
{
    uint64_t per_block = cfg->max_block_txs;
    uint64_t blob = cfg->da_max_blob_size / bm_data_tx_wire_size(64);
    long double rate;

    if (blob < per_block) {
        per_block = blob;
    }
    if (cfg->block_time_ns == 0) {
        return 1000000u; /* not reachable: block_time is non-zero */
    }
    rate = (long double)per_block * 1e9L / (long double)cfg->block_time_ns;
    if (rate > 1000000.0L) {
        return 1000000u;
    }
    return rate < 1000.0L ? 1000u : (uint64_t)rate;
}

void bm_node_config_derive(struct bm_node_config *cfg)
{
    if (!bm_node_config_given(cfg, "node.max_block_txs")) {
        cfg->max_block_txs = block_txs(cfg->block_time_ns);
    }
    if (!bm_node_config_given(cfg, "rpc.tx_rate_limit")) {
        cfg->rpc_tx_rate_limit = carried_rate(cfg);
    }
    if (!bm_node_config_given(cfg, "node.readiness_max_blocks_behind")) {
        cfg->readiness_max_blocks_behind = readiness_blocks(
            cfg->readiness_window_seconds, cfg->block_time_ns);
    }
    if (!bm_node_config_given(cfg, "node.executor")) {
        bool evm = false;

        /* a value other than the default: the evnode.yaml that init
         * writes holds every evm.* key at its default */
        for (size_t i = 0; i < N_KEYS; i++) {
            if (strncmp(keys[i].key, "evm.", 4) == 0 &&
                !row_is_default(cfg, &keys[i])) {
                evm = true;
            }
        }
        bm_free(cfg->node_executor);
        cfg->node_executor = bm_xstrdup(evm ? "evm" : "kv");
    }
}

/* ---- YAML loading ---- */

#define TRACK_DEPTH 16
#define TRACK_KEY 64

/* State of one load, fed by libcyaml's log callback: cyaml reports
 * ignored (unknown) keys and errors only by logging, so the callback
 * follows the mapping depth (PUSH/POP lines) and the last key at each
 * depth to name the full key ("node.bogus"). */
struct yaml_track {
    const char *name;
    unsigned depth;
    unsigned top; /* depth of the root mapping's keys; 0 = not yet */
    char key[TRACK_DEPTH][TRACK_KEY];
    size_t unknown;
    char err[200];      /* first error line */
    char err_path[160]; /* from the backtrace, outermost first */
    bool in_backtrace;
};

static void track_copy(char *dst, size_t cap, const char *src, size_t n)
{
    char tmp[TRACK_KEY * 2];

    if (n >= sizeof(tmp)) {
        n = sizeof(tmp) - 1;
    }
    memcpy(tmp, src, n);
    tmp[n] = '\0';
    show(dst, cap, tmp);
}

static void track_line(struct yaml_track *t, cyaml_log_t level,
                       const char *line)
{
    size_t n = strlen(line);
    const char *p;

    while (n > 0 && line[n - 1] == '\n') {
        n--;
    }
    if (strncmp(line, "Load: PUSH[", 11) == 0) {
        t->depth = (unsigned)strtoul(line + 11, NULL, 10);
        if (t->top == 0 && strstr(line, "in mapping (key)") != NULL) {
            t->top = t->depth;
        }
        return;
    }
    if (strncmp(line, "Load: POP[", 10) == 0) {
        unsigned d = (unsigned)strtoul(line + 10, NULL, 10);
        t->depth = d > 0 ? d - 1 : 0;
        return;
    }
    if (level == CYAML_LOG_INFO && strncmp(line, "Load: [", 7) == 0 &&
        n > 8 && line[n - 1] == ']') {
        if (t->depth < TRACK_DEPTH) {
            track_copy(t->key[t->depth], TRACK_KEY, line + 7, n - 8);
        }
        return;
    }
    if (strncmp(line, "Load: Ignoring key: ", 20) == 0) {
        char k[TRACK_KEY];
        track_copy(k, sizeof(k), line + 20, n - 20);
        t->unknown++;
        if (t->top != 0 && t->depth > t->top &&
            t->depth - 1 < TRACK_DEPTH) {
            bm_log_warn("config", "unknown key '%s.%s' in %s ignored",
                        t->key[t->depth - 1], k, t->name);
        } else {
            bm_log_warn("config", "unknown key '%s' in %s ignored", k,
                        t->name);
        }
        return;
    }
    if (level < CYAML_LOG_ERROR) {
        return;
    }
    p = line;
    if (strncmp(p, "Load: ", 6) == 0) {
        p += 6;
        n -= 6;
    }
    if (strncmp(p, "Backtrace:", 10) == 0) {
        t->in_backtrace = t->err_path[0] == '\0';
        return;
    }
    if (t->in_backtrace && strstr(line, "in mapping field '") != NULL) {
        const char *b = strstr(line, "in mapping field '") + 18;
        const char *e = strchr(b, '\'');
        char k[TRACK_KEY], tmp[sizeof(t->err_path)];
        size_t kl, pl = strlen(t->err_path);
        if (e == NULL) {
            return;
        }
        track_copy(k, sizeof(k), b, (size_t)(e - b));
        kl = strlen(k);
        if (kl + 1 + pl >= sizeof(tmp)) {
            return;
        }
        /* innermost first: prepend */
        memcpy(tmp, k, kl);
        if (pl > 0) {
            tmp[kl] = '.';
            memcpy(tmp + kl + 1, t->err_path, pl + 1);
        } else {
            tmp[kl] = '\0';
        }
        memcpy(t->err_path, tmp, sizeof(tmp));
        return;
    }
    if (t->in_backtrace) {
        return;
    }
    if (t->err[0] == '\0') {
        /* libcyaml's wording for the usual shape mistakes */
        if (strncmp(p, "Expecting STRING", 16) == 0) {
            snprintf(t->err, sizeof(t->err),
                     "want a single value, not a list or mapping");
        } else if (strncmp(p, "Expecting MAPPING", 17) == 0) {
            snprintf(t->err, sizeof(t->err),
                     "want a mapping of keys (section: key: value)");
        } else {
            track_copy(t->err, sizeof(t->err), p, n);
        }
    }
}

static void yaml_log(cyaml_log_t level, void *ctx, const char *fmt,
                     va_list args)
{
    char line[512];

    vsnprintf(line, sizeof(line), fmt, args);
    track_line(ctx, level, line);
}

static void *yaml_mem(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (size == 0) {
        bm_free(ptr);
        return NULL;
    }
    return bm_realloc(ptr, size);
}

static const cyaml_schema_value_t str_value = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, char, 0,
                       BM_NODE_CONFIG_VALUE_MAX),
};

/* Schema of the file, built from the table: the loaded data is an array
 * of N_KEYS string pointers (index = table row); every section mapping
 * is read into that same array (offset 0), each key at its row. */
struct yaml_schema {
    cyaml_schema_field_t top[N_KEYS + N_SECTIONS + 1];
    cyaml_schema_field_t sec[N_SECTIONS][N_KEYS + 1];
    cyaml_schema_value_t sec_value[N_SECTIONS];
    cyaml_schema_value_t root;
};

static void leaf_field(cyaml_schema_field_t *f, const char *name, size_t row)
{
    memset(f, 0, sizeof(*f));
    f->key = name;
    f->data_offset = (uint32_t)(row * sizeof(char *));
    f->value = str_value;
}

static void build_schema(struct yaml_schema *s)
{
    size_t nt = 0;

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strchr(keys[i].key, '.') == NULL) {
            leaf_field(&s->top[nt++], keys[i].key, i);
        }
    }
    for (size_t j = 0; j < N_SECTIONS; j++) {
        size_t len = strlen(sections[j].name), nf = 0;
        cyaml_schema_field_t *f;
        for (size_t i = 0; i < N_KEYS; i++) {
            if (strncmp(keys[i].key, sections[j].name, len) == 0 &&
                keys[i].key[len] == '.') {
                leaf_field(&s->sec[j][nf++], keys[i].key + len + 1, i);
            }
        }
        s->sec_value[j].type = CYAML_MAPPING;
        s->sec_value[j].flags = CYAML_FLAG_OPTIONAL;
        s->sec_value[j].data_size = (uint32_t)(N_KEYS * sizeof(char *));
        s->sec_value[j].mapping.fields = s->sec[j];
        f = &s->top[nt++];
        memset(f, 0, sizeof(*f));
        f->key = sections[j].name;
        f->data_offset = 0;
        f->value = s->sec_value[j];
    }
    s->root.type = CYAML_MAPPING;
    s->root.flags = CYAML_FLAG_POINTER;
    s->root.data_size = (uint32_t)(N_KEYS * sizeof(char *));
    s->root.mapping.fields = s->top;
}

enum bm_err bm_node_config_parse_yaml(struct bm_node_config *cfg,
                                      const uint8_t *p, size_t n,
                                      const char *name, size_t *unknown,
                                      struct bm_errmsg *em)
{
    struct yaml_schema *schema = NULL;
    struct yaml_track *track = NULL;
    cyaml_config_t ycfg;
    char **raw = NULL;
    cyaml_err_t yerr;
    enum bm_err err = BM_OK;
    char shown[128];

    if (cfg == NULL || (p == NULL && n > 0)) {
        return bm_errf(em, BM_EINVAL, "config: NULL argument");
    }
    show(shown, sizeof(shown), name != NULL ? name : "config");
    if (n > BM_NODE_CONFIG_YAML_MAX) {
        return bm_errf(em, BM_ETOOBIG,
                       "config '%s': %zu bytes, above the limit of %u",
                       shown, n, BM_NODE_CONFIG_YAML_MAX);
    }
    if (n == 0) {
        return BM_OK;
    }
    schema = bm_xmalloc(sizeof(*schema));
    track = bm_xcalloc(1, sizeof(*track));
    build_schema(schema);
    track->name = shown;
    memset(&ycfg, 0, sizeof(ycfg));
    ycfg.log_fn = yaml_log;
    ycfg.log_ctx = track;
    ycfg.mem_fn = yaml_mem;
    ycfg.log_level = CYAML_LOG_DEBUG;
    ycfg.flags = CYAML_CFG_IGNORE_UNKNOWN_KEYS | CYAML_CFG_NO_ALIAS;
    yerr = cyaml_load_data(p, n, &ycfg, &schema->root, (cyaml_data_t **)&raw,
                           NULL);
    if (unknown != NULL) {
        *unknown = track->unknown;
    }
    if (yerr != CYAML_OK) {
        err = yerr == CYAML_ERR_OOM ? BM_ENOMEM : BM_EPARSE;
        if (track->err_path[0] != '\0') {
            bm_errf(em, err, "config '%s': %s: %s", shown, track->err_path,
                    track->err[0] != '\0' ? track->err
                                          : cyaml_strerror(yerr));
        } else {
            bm_errf(em, err, "config '%s': %s", shown,
                    track->err[0] != '\0' ? track->err
                                          : cyaml_strerror(yerr));
        }
        goto out;
    }
    for (size_t i = 0; raw != NULL && i < N_KEYS; i++) {
        if (raw[i] == NULL) {
            continue;
        }
        err = bm_node_config_set(cfg, &keys[i], raw[i], em);
        if (err != BM_OK) {
            goto out;
        }
    }
out:
    if (raw != NULL) {
        cyaml_free(&ycfg, &schema->root, raw, 0);
    }
    bm_free(track);
    bm_free(schema);
    return err;
}

enum bm_err bm_node_config_load_yaml(struct bm_node_config *cfg,
                                     const char *path,
                                     struct bm_errmsg *em)
{
    struct bm_buf text = {NULL, 0};
    enum bm_err err;

    if (cfg == NULL || path == NULL) {
        return bm_errf(em, BM_EINVAL, "config: NULL argument");
    }
    err = bm_file_read(path, BM_NODE_CONFIG_YAML_MAX, "config", &text, em);
    if (err == BM_ENOTFOUND) {
        return BM_OK;
    }
    if (err != BM_OK) {
        return err;
    }
    err = bm_node_config_parse_yaml(cfg, text.ptr, text.len, path, NULL, em);
    bm_buf_release(&text);
    return err;
}

/* ---- flags ---- */

static bool has_prefix(const char *s, const char *p, const char **rest)
{
    size_t n = strlen(p);

    if (strncmp(s, p, n) != 0) {
        return false;
    }
    *rest = s + n;
    return true;
}

enum bm_err bm_node_config_apply_flags(struct bm_node_config *cfg,
                                       int *argc, char **argv,
                                       struct bm_errmsg *em)
{
    int n, w = 0;

    if (cfg == NULL || argc == NULL || (*argc > 0 && argv == NULL)) {
        return bm_errf(em, BM_EINVAL, "config: NULL argument");
    }
    n = *argc;
    for (int i = 0; i < n; i++) {
        const struct bm_node_config_key *k;
        const char *a = argv[i], *rest = NULL, *eq, *value;
        char name[128], shown[96];
        size_t len;
        enum bm_err err;

        const char *key = NULL;

        if (a != NULL && has_prefix(a, "--evm.", &rest)) {
            /* ev-node's spelling of the EVM flags */
            for (size_t j = 0;
                 j < sizeof(evnode_flags) / sizeof(evnode_flags[0]); j++) {
                size_t fl = strlen(evnode_flags[j].flag);
                if (strncmp(a, evnode_flags[j].flag, fl) == 0 &&
                    (a[fl] == '\0' || a[fl] == '=')) {
                    key = evnode_flags[j].key;
                    rest = a + fl;
                }
            }
            if (key == NULL) {
                show(shown, sizeof(shown), a);
                return bm_errf(em, BM_ECONFIG,
                               "config: unknown flag '%s' (see `blockv2 "
                               "config docs`)", shown);
            }
        } else if (a == NULL || !(has_prefix(a, "--evnode.", &rest) ||
                                  has_prefix(a, "--rollkit.", &rest))) {
            argv[w++] = argv[i];
            continue;
        }
        eq = strchr(rest, '=');
        len = eq != NULL ? (size_t)(eq - rest) : strlen(rest);
        show(shown, sizeof(shown), a);
        if (key != NULL) {
            len = strlen(key);
            rest = key;
        }
        if (len >= sizeof(name)) {
            return bm_errf(em, BM_ECONFIG, "config: unknown flag '%s'",
                           shown);
        }
        memcpy(name, rest, len);
        name[len] = '\0';
        for (size_t j = 0; j < sizeof(aliases) / sizeof(aliases[0]); j++) {
            if (strcmp(name, aliases[j].from) == 0) {
                snprintf(name, sizeof(name), "%s", aliases[j].to);
            }
        }
        if (strcmp(name, "signer.passphrase") == 0) {
            return bm_errf(em, BM_ECONFIG,
                           "config: a passphrase is never given on the "
                           "command line: use "
                           "--evnode.signer.passphrase_file FILE");
        }
        k = bm_node_config_find(name);
        if (k == NULL) {
            return bm_errf(em, BM_ECONFIG,
                           "config: unknown flag '%s' (see `blockv2 config "
                           "docs`)",
                           shown);
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (k->type == BM_CFG_BOOL) {
            value = "true";
            if (i + 1 < n && argv[i + 1] != NULL &&
                (strcmp(argv[i + 1], "true") == 0 ||
                 strcmp(argv[i + 1], "false") == 0)) {
                value = argv[++i];
            }
        } else if (i + 1 < n && argv[i + 1] != NULL) {
            value = argv[++i];
        } else {
            return bm_errf(em, BM_ECONFIG, "config: flag '%s' needs a value",
                           shown);
        }
        err = bm_node_config_set(cfg, k, value, em);
        if (err != BM_OK) {
            return err;
        }
    }
    *argc = w;
    if (w < n) {
        argv[w] = NULL;
    }
    return BM_OK;
}

char *bm_node_path(const char *home, const char *rel)
{
    size_t n;
    char *p;

    if (rel[0] == '/' || home == NULL || home[0] == '\0') {
        return bm_xstrdup(rel);
    }
    n = strlen(home) + strlen(rel) + 2;
    p = bm_xmalloc(n);
    snprintf(p, n, "%s/%s", home, rel);
    return p;
}

enum bm_err bm_node_config_load(struct bm_node_config *cfg, const char *home,
                                int *argc, char **argv,
                                struct bm_errmsg *em)
{
    enum bm_err err = BM_OK;

    bm_node_config_defaults(cfg);
    if (home != NULL) {
        char *path = bm_node_path(home,
                                  BM_NODE_CONFIG_DIR "/" BM_NODE_CONFIG_FILE);
        err = bm_node_config_load_yaml(cfg, path, em);
        bm_free(path);
    }
    if (err == BM_OK && argc != NULL) {
        err = bm_node_config_apply_flags(cfg, argc, argv, em);
    }
    if (err != BM_OK) {
        bm_node_config_release(cfg);
        return err;
    }
    bm_node_config_derive(cfg);
    return BM_OK;
}

/* ---- YAML writing ---- */

static enum bm_err put_quoted(struct bm_dynbuf *d, const char *s)
{
    enum bm_err err = bm_dynbuf_append_byte(d, '"');

    for (const unsigned char *p = (const unsigned char *)s;
         err == BM_OK && *p != '\0'; p++) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            err = bm_dynbuf_printf(d, "\\%c", (char)c);
        } else if (c == '\n') {
            err = bm_dynbuf_printf(d, "\\n");
        } else if (c == '\t') {
            err = bm_dynbuf_printf(d, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            err = bm_dynbuf_printf(d, "\\x%02x", c);
        } else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            /* C1 control characters must be escaped in YAML */
            err = bm_dynbuf_printf(d, "\\x%02x", (unsigned)p[1]);
            p++;
        } else if (c == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
            err = bm_dynbuf_printf(d, "\\ufeff");
            p += 2;
        } else if (c == 0xef && p[1] == 0xbf &&
                   (p[2] == 0xbe || p[2] == 0xbf)) {
            err = bm_dynbuf_printf(d, "\\uff%s", p[2] == 0xbe ? "fe" : "ff");
            p += 2;
        } else {
            err = bm_dynbuf_append_byte(d, (uint8_t)c);
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '"');
    }
    return err;
}

/* Shortest text that reads back as v. */
static void format_float(double v, char *out, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            return;
        }
    }
}

/* The value of row k as text; strings quoted (YAML) when quote. */
static enum bm_err put_value(struct bm_dynbuf *d,
                             const struct bm_node_config *cfg,
                             const struct bm_node_config_key *k, bool quote)
{
    const void *f = cfield(cfg, k);
    char tmp[64];

    switch (k->type) {
    case BM_CFG_BOOL:
        return bm_dynbuf_printf(d, "%s", *(const bool *)f ? "true" : "false");
    case BM_CFG_STRING: {
        const char *s = *(char *const *)f;
        s = s != NULL ? s : "";
        return quote ? put_quoted(d, s) : bm_dynbuf_printf(d, "%s", s);
    }
    case BM_CFG_DURATION: {
        char dur[BM_DURATION_STR_SIZE];
        bm_duration_format(*(const uint64_t *)f, dur);
        return bm_dynbuf_printf(d, "%s", dur);
    }
    case BM_CFG_UINT:
        return bm_dynbuf_printf(d, "%" PRIu64, *(const uint64_t *)f);
    case BM_CFG_FLOAT:
        format_float(*(const double *)f, tmp, sizeof(tmp));
        return bm_dynbuf_printf(d, "%s", tmp);
    case BM_CFG_STRLIST: {
        const struct bm_node_strlist *l = f;
        struct bm_dynbuf j;
        enum bm_err err = BM_OK;
        bm_dynbuf_init(&j, (size_t)16 << 20);
        for (size_t i = 0; err == BM_OK && i < l->n; i++) {
            err = bm_dynbuf_printf(&j, "%s%s", i > 0 ? "," : "",
                                   l->items[i]);
        }
        if (err == BM_OK) {
            err = bm_dynbuf_append_byte(&j, 0);
        }
        if (err == BM_OK) {
            const char *s = (const char *)j.ptr;
            err = quote ? put_quoted(d, s) : bm_dynbuf_printf(d, "%s", s);
        }
        bm_dynbuf_release(&j);
        return err;
    }
    }
    return BM_EINVAL;
}

static enum bm_err put_key(struct bm_dynbuf *d,
                           const struct bm_node_config *cfg,
                           const struct bm_node_config_key *k,
                           const char *leaf, const char *indent, bool redact)
{
    /* A derived value the operator did not give is written as a comment:
     * written as a value it would pin what is derived at load time. */
    bool derived = (k->flags & BM_CFG_F_DERIVED) && !row_given(cfg, k);
    enum bm_err err;

    err = bm_dynbuf_printf(d, "%s# %s\n%s%s%s: ", indent, k->desc, indent,
                           derived ? "# " : "", leaf);
    if (err != BM_OK) {
        return err;
    }
    if (redact && (k->flags & BM_CFG_F_SECRET)) {
        const char *s = *(char *const *)cfield(cfg, k);
        err = bm_dynbuf_printf(d, "%s", s != NULL && s[0] != '\0'
                                            ? "\"<redacted>\""
                                            : "\"\"");
    } else {
        err = put_value(d, cfg, k, true);
    }
    return err == BM_OK ? bm_dynbuf_append_byte(d, '\n') : err;
}

enum bm_err bm_node_config_yaml(const struct bm_node_config *cfg,
                                bool redact, struct bm_buf *out)
{
    struct bm_dynbuf d;
    enum bm_err err;

    if (cfg == NULL || out == NULL) {
        return BM_EINVAL;
    }
    bm_buf_release(out);
    bm_dynbuf_init(&d, (size_t)64 << 20);
    err = bm_dynbuf_printf(
        &d, "# evnode.yaml: blockv2 node configuration (ev-node keys).\n"
            "# Precedence: defaults < this file < --evnode.<key> flags.\n"
            "# Durations use Go syntax (\"1s\", \"1m30s\", \"250ms\").\n"
            "# Reference: `blockv2 config docs` or docs/OPERATIONS.md.\n");
    for (size_t i = 0; err == BM_OK && i < N_KEYS; i++) {
        if (strchr(keys[i].key, '.') == NULL &&
            !(keys[i].flags & BM_CFG_F_NOWRITE)) {
            err = bm_dynbuf_append_byte(&d, '\n');
            if (err == BM_OK) {
                err = put_key(&d, cfg, &keys[i], keys[i].key, "", redact);
            }
        }
    }
    for (size_t j = 0; err == BM_OK && j < N_SECTIONS; j++) {
        size_t len = strlen(sections[j].name);
        err = bm_dynbuf_printf(&d, "\n# %s\n%s:\n", sections[j].comment,
                               sections[j].name);
        for (size_t i = 0; err == BM_OK && i < N_KEYS; i++) {
            if (strncmp(keys[i].key, sections[j].name, len) == 0 &&
                keys[i].key[len] == '.' &&
                !(keys[i].flags & BM_CFG_F_NOWRITE)) {
                err = put_key(&d, cfg, &keys[i], keys[i].key + len + 1, "  ",
                              redact);
            }
        }
    }
    if (err == BM_OK) {
        bm_dynbuf_detach(&d, out);
    }
    bm_dynbuf_release(&d);
    return err;
}

enum bm_err bm_node_config_write_yaml(const struct bm_node_config *cfg,
                                      const char *path,
                                      struct bm_errmsg *em)
{
    struct bm_buf text = {NULL, 0};
    enum bm_err err;

    if (cfg == NULL || path == NULL) {
        return bm_errf(em, BM_EINVAL, "config: NULL argument");
    }
    err = bm_node_config_yaml(cfg, false, &text);
    if (err != BM_OK) {
        return bm_errf(em, err, "config '%s': %s", path, bm_strerror(err));
    }
    err = bm_file_write_atomic(path, text.ptr, text.len, 0644,
                               BM_FILE_REPLACE, "config", em);
    bm_buf_release(&text);
    return err;
}

/* ---- manager config ---- */

static uint64_t ns_to_ms(uint64_t ns)
{
    return ns / 1000000u + (ns % 1000000u != 0);
}

/* The table allows only these names. */
static enum bm_da_batching batching_strategy(const char *name)
{
    static const struct {
        const char *name;
        enum bm_da_batching v;
    } map[] = {{"immediate", BM_DA_BATCH_IMMEDIATE},
               {"size", BM_DA_BATCH_SIZE},
               {"adaptive", BM_DA_BATCH_ADAPTIVE}};

    for (size_t i = 0; name != NULL && i < sizeof(map) / sizeof(map[0]);
         i++) {
        if (strcmp(name, map[i].name) == 0) {
            return map[i].v;
        }
    }
    return BM_DA_BATCH_TIME;
}

void bm_node_config_to_manager(const struct bm_node_config *cfg,
                               struct bm_manager_config *out)
{
    bm_manager_config_init(out);
    out->aggregator = cfg->aggregator;
    out->block_time_ms = ns_to_ms(cfg->block_time_ns);
    out->lazy_mode = cfg->lazy_mode;
    out->lazy_block_interval_ms = ns_to_ms(cfg->lazy_block_interval_ns);
    out->max_pending_headers_and_data = cfg->max_pending_headers_and_data;
    out->scrape_interval_ms = ns_to_ms(cfg->scrape_interval_ns);
    out->exec_breaker_failures = (uint32_t)cfg->exec_breaker_failures;
    out->exec_breaker_open_ms = ns_to_ms(cfg->exec_breaker_open_ns);
    if (out->exec_breaker_open_ms > UINT64_MAX / 1000000u) {
        out->exec_breaker_open_ms = UINT64_MAX / 1000000u; /* ns fit */
    }
    out->catchup_timeout_ms = ns_to_ms(cfg->catchup_timeout_ns);
    out->da_block_time_ms = ns_to_ms(cfg->da_block_time_ns);
    out->da_start_height = cfg->da_start_height;
    out->da_max_submit_attempts = (uint32_t)cfg->da_max_submit_attempts;
    out->da_request_timeout_ms = ns_to_ms(cfg->da_request_timeout_ns);
    out->da_namespace = cfg->da_namespace;
    out->da_data_namespace = cfg->da_data_namespace;
    out->da_max_blob_size = (size_t)cfg->da_max_blob_size;
    out->da_batching_strategy = batching_strategy(cfg->da_batching_strategy);
    out->da_batch_size_threshold = cfg->da_batch_size_threshold;
    out->da_batch_max_delay_ms = ns_to_ms(cfg->da_batch_max_delay_ns);
    out->da_batch_min_items = cfg->da_batch_min_items;
    out->tx_rate = (double)cfg->rpc_tx_rate_limit;
    if (!bm_node_config_given(cfg, "rpc.tx_rate_limit")) {
        /* Sized from the blocks: a burst of one block's worth, so that
         * what it lets in is in the next blocks (docs/OPERATIONS.md). */
        uint64_t burst = cfg->rpc_tx_rate_limit * ns_to_ms(cfg->block_time_ns)
                         / 1000u;

        out->tx_burst = burst < 1000u ? 1000u : burst;
    }
}

void bm_node_config_to_da_client(const struct bm_node_config *cfg,
                                 struct bm_da_client_config *out)
{
    uint64_t ms = cfg->da_request_timeout_ns / 1000000u;

    memset(out, 0, sizeof(*out));
    out->url = cfg->da_address;
    out->auth_token = cfg->da_auth_token;
    out->submit_options_json =
        cfg->da_submit_options != NULL && cfg->da_submit_options[0] != '\0'
            ? cfg->da_submit_options
            : NULL;
    out->timeout_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
    out->max_blob_size = (size_t)cfg->da_max_blob_size;
    out->set_gas_price = cfg->da_gas_price >= 0;
    out->gas_price = cfg->da_gas_price;
}

void bm_node_config_to_kv(const struct bm_node_config *cfg,
                          struct bm_kv_options *out)
{
    memset(out, 0, sizeof(*out));
    out->map_size = cfg->kv_initial_map_size > SIZE_MAX
                        ? SIZE_MAX
                        : (size_t)cfg->kv_initial_map_size;
}

enum bm_err bm_node_config_to_evm(const struct bm_node_config *cfg,
                                  struct bm_evm_config *out,
                                  struct bm_errmsg *em)
{
    uint64_t ms = cfg->evm_request_timeout_ns / 1000000u;
    enum bm_err err;

    memset(out, 0, sizeof(*out));
    out->engine_url = cfg->evm_engine_url;
    out->eth_url = cfg->evm_eth_url;
    out->timeout_ms = ms == 0 ? 1 : ms > UINT32_MAX ? UINT32_MAX
                                                     : (uint32_t)ms;
    if (cfg->evm_jwt_secret_file == NULL ||
        cfg->evm_jwt_secret_file[0] == '\0') {
        return bm_errf(em, BM_ECONFIG, "config: evm.jwt_secret_file: the EVM "
                       "executor needs the execution client's JWT secret "
                       "(--evm.jwt-secret-file FILE)");
    }
    err = bm_evm_jwt_load(cfg->evm_jwt_secret_file, out->jwt_secret, em);
    if (err != BM_OK) {
        return err;
    }
    if (cfg->evm_genesis_hash != NULL && cfg->evm_genesis_hash[0] != '\0') {
        err = bm_evm_parse_hex_key("evm.genesis_hash", cfg->evm_genesis_hash,
                                   out->genesis_hash, BM_EVM_HASH_LEN, em);
        if (err != BM_OK) {
            return err;
        }
        out->has_genesis_hash = true;
    }
    if (cfg->evm_fee_recipient != NULL && cfg->evm_fee_recipient[0] != '\0') {
        err = bm_evm_parse_hex_key("evm.fee_recipient",
                                   cfg->evm_fee_recipient,
                                   out->fee_recipient, BM_EVM_ADDR_LEN, em);
    }
    return err;
}

/* ---- markdown reference ---- */

void bm_node_config_markdown(FILE *f)
{
    struct bm_node_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    bm_node_config_defaults(&cfg);
    fprintf(f, "| Key | Flag | Type | Default | Description |\n"
               "|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct bm_node_config_key *k = &keys[i];
        struct bm_dynbuf d;
        char type[96], also[80];
        const char *evf;

        if (k->choices != NULL) {
            char alts[64];
            size_t j = 0;
            for (const char *c = k->choices; *c != '\0' && j + 3 < sizeof(alts);
                 c++) {
                if (*c == '|') {
                    alts[j++] = ',';
                    alts[j++] = ' ';
                } else {
                    alts[j++] = *c;
                }
            }
            alts[j] = '\0';
            snprintf(type, sizeof(type), "string (%s)", alts);
        } else {
            snprintf(type, sizeof(type), "%s",
                     bm_node_config_type_name(k->type));
        }
        bm_dynbuf_init(&d, 1u << 16);
        if (put_value(&d, &cfg, k, k->type == BM_CFG_STRING ||
                                       k->type == BM_CFG_STRLIST) != BM_OK ||
            bm_dynbuf_append_byte(&d, 0) != BM_OK) {
            bm_dynbuf_release(&d);
            continue;
        }
        evf = bm_node_config_evnode_flag(k->key);
        if (evf != NULL) {
            snprintf(also, sizeof(also), "; also ev-node's flag `%s`", evf);
        } else {
            also[0] = '\0';
        }
        fprintf(f, "| `%s` | `--evnode.%s` | %s | `%s` | %s%s%s |\n", k->key,
                k->key, type, (const char *)d.ptr, k->desc,
                (k->flags & BM_CFG_F_NOWRITE) ? " (not in the generated file)"
                                              : "",
                also);
        bm_dynbuf_release(&d);
    }
    bm_node_config_release(&cfg);
}
