/*
 * The node configuration (spec section 9, issue #8): ev-node's config keys,
 * file and flags, driven by ONE table (src/node/config.c) that the YAML
 * loader, the flag parser, the commented evnode.yaml writer and the
 * markdown reference (`blockv2 config docs`, docs/OPERATIONS.md) all read.
 *
 * Precedence: defaults < <home>/config/evnode.yaml < flags.
 *  - YAML: nested mappings by section ("node:", "da:", ...); top-level keys
 *    such as db_path stand alone. Unknown keys are logged as a warning
 *    naming the key and ignored; invalid values are refused with the key
 *    and the value ("config: node.block_time: invalid duration 'abc'").
 *    Files above BM_NODE_CONFIG_YAML_MAX are refused. Aliases are refused.
 *  - Flags: --evnode.<key> VALUE, --evnode.<key>=VALUE, and the old
 *    prefix --rollkit.<key>; booleans may be bare (--evnode.node.aggregator)
 *    and then take a following "true"/"false" only if one is there.
 *  - Types: bool (Go strconv.ParseBool: true/false/1/0/t/f/TRUE/...),
 *    string (optionally one of a fixed set), duration (Go: "1s", "1m30s",
 *    "250ms", "1.5h", "0"; negative, overflowing or unit-less values are
 *    refused), uint (decimal), float, string list (comma-separated, as
 *    ev-node's p2p.peers).
 *
 * struct bm_node_config is a value type that owns its strings: fill it with
 * bm_node_config_defaults, release it with bm_node_config_release.
 * Functions are reentrant; the file functions block (disk I/O).
 */
#ifndef BM_NODE_CONFIG_H
#define BM_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_errmsg;
struct bm_da_client_config;
struct bm_kv_options;
struct bm_manager_config;

#define BM_NODE_CONFIG_DIR "config"
#define BM_NODE_CONFIG_FILE "evnode.yaml"
#define BM_NODE_CONFIG_YAML_MAX (1u << 20) /* bytes */
#define BM_NODE_CONFIG_VALUE_MAX 4096u     /* bytes of one value */
#define BM_NODE_CONFIG_LIST_MAX 256u       /* items of one string list */
#define BM_NODE_CONFIG_GIVEN_WORDS 2       /* 64 table rows per word */

/* A comma-separated string list: items owned, none empty. */
struct bm_node_strlist {
    char **items;
    size_t n;
};

/* Every key of the table, as C fields (durations in nanoseconds). */
struct bm_node_config {
    /* node */
    bool aggregator;
    bool light;
    uint64_t block_time_ns;
    bool lazy_mode;
    uint64_t lazy_block_interval_ns;
    uint64_t max_pending_headers_and_data;
    uint64_t max_queue_bytes;
    uint64_t max_block_txs;
    uint64_t scrape_interval_ns;
    uint64_t readiness_window_seconds;
    uint64_t readiness_max_blocks_behind;
    uint64_t catchup_timeout_ns;
    char *trusted_hash;
    uint64_t exec_breaker_failures;
    uint64_t exec_breaker_open_ns;
    /* da */
    char *da_address;
    char *da_auth_token;
    char *da_namespace;
    char *da_data_namespace;
    char *da_forced_inclusion_namespace;
    uint64_t da_block_time_ns;
    uint64_t da_start_height;
    uint64_t da_max_submit_attempts;
    uint64_t da_request_timeout_ns;
    char *da_submit_options;
    double da_gas_price;
    uint64_t da_mempool_ttl;
    char *da_batching_strategy;
    double da_batch_size_threshold;
    uint64_t da_batch_max_delay_ns;
    uint64_t da_batch_min_items;
    uint64_t da_max_blob_size;
    /* p2p (src/node/p2p.c) */
    char *p2p_listen_address;
    struct bm_node_strlist p2p_peers;
    struct bm_node_strlist p2p_blocked_peers;
    struct bm_node_strlist p2p_allowed_peers;
    bool p2p_disable_connection_gater;
    uint64_t p2p_max_inbound_per_ip;
    uint64_t p2p_redial_max_ns;
    /* rpc */
    char *rpc_address;
    bool rpc_enable_da_visualization;
    uint64_t rpc_tx_rate_limit;
    /* instrumentation */
    bool prometheus;
    char *prometheus_listen_addr;
    uint64_t max_open_connections;
    char *instrumentation_namespace;
    bool pprof;
    char *pprof_listen_addr;
    /* log */
    char *log_level;
    char *log_format;
    bool log_trace;
    /* signer */
    char *signer_type;
    char *signer_path;
    char *signer_passphrase_file;
    /* pruning */
    char *pruning_mode;
    uint64_t pruning_keep_recent;
    uint64_t pruning_interval_ns;
    /* kv */
    uint64_t kv_initial_map_size;
    /* ha (docs/HA.md) */
    struct bm_node_strlist ha_etcd_endpoints;
    char *ha_prefix;
    char *ha_node_id;
    uint64_t ha_lease_ttl_ns;
    struct bm_node_strlist ha_peers; /* NODE_ID=HOST:PORT */
    /* executor choice and evm */
    char *node_executor;
    char *evm_engine_url;
    char *evm_eth_url;
    char *evm_jwt_secret_file;
    char *evm_genesis_hash;
    char *evm_fee_recipient;
    uint64_t evm_request_timeout_ns;
    /* top level */
    char *db_path;
    /* Which rows a YAML file or a flag gave (bit i = row i of the table;
     * the defaults are not "given"). See bm_node_config_given. */
    uint64_t given[BM_NODE_CONFIG_GIVEN_WORDS];
};

enum bm_node_config_type {
    BM_CFG_BOOL,
    BM_CFG_STRING,
    BM_CFG_DURATION,
    BM_CFG_UINT,
    BM_CFG_FLOAT,
    BM_CFG_STRLIST,
};

/* Table flags. */
#define BM_CFG_F_NONZERO 1u  /* 0 is refused (durations, uints) */
#define BM_CFG_F_SECRET 2u   /* redacted by `config show` */
#define BM_CFG_F_NOWRITE 4u  /* read and settable, not in the written YAML */
#define BM_CFG_F_DERIVED 8u  /* when not given, bm_node_config_derive
                                computes it from other keys; the written
                                YAML has it as a comment until given */

/* One row of the table. */
struct bm_node_config_key {
    const char *key;          /* "node.block_time" */
    enum bm_node_config_type type;
    const char *def;          /* default, as text in the key's syntax */
    const char *desc;         /* one line */
    size_t offset;            /* of the field in struct bm_node_config */
    unsigned flags;           /* BM_CFG_F_* */
    const char *choices;      /* "text|json" or NULL */
    uint64_t max;             /* uint maximum, 0 = UINT64_MAX */
};

/* The table (static storage) and its length. */
const struct bm_node_config_key *bm_node_config_keys(size_t *n);

/* Row of key ("node.block_time"), or NULL. */
const struct bm_node_config_key *bm_node_config_find(const char *key);

/* ev-node's own spelling of the flag of key ("--evm.engine-url" for
 * evm.engine_url), also accepted by bm_node_config_apply_flags, or NULL
 * when the key has only --evnode.<key>. */
const char *bm_node_config_evnode_flag(const char *key);

/* Name of a type as printed in the docs ("duration"). */
const char *bm_node_config_type_name(enum bm_node_config_type t);

/* Releases any previous contents of *cfg (so *cfg must be zeroed or hold
 * a config), then fills it with the table's defaults. Aborts on
 * out-of-memory (small, fixed allocations). */
void bm_node_config_defaults(struct bm_node_config *cfg);

/* Frees the strings and zeroes *cfg. NULL-safe. */
void bm_node_config_release(struct bm_node_config *cfg);

/*
 * Parses text (borrowed) as the value of row k and stores it in *cfg
 * (replacing the old value), marking the row given. Errors: BM_ECONFIG,
 * with "config: <key>: invalid <type> '<text>'" (plus the reason) in em.
 * *cfg is unchanged on error.
 */
enum bm_err bm_node_config_set(struct bm_node_config *cfg,
                               const struct bm_node_config_key *k,
                               const char *text, struct bm_errmsg *em);

/*
 * Applies the YAML text p[0..n) (borrowed, untrusted) over *cfg. name
 * (borrowed, may be NULL) names the source in messages and warnings.
 * Errors: BM_ETOOBIG (above BM_NODE_CONFIG_YAML_MAX), BM_EPARSE (not
 * YAML, or not the expected shape: the message names the key),
 * BM_ECONFIG (invalid value). On error *cfg may hold some of the file's
 * values: callers discard it. Unknown keys are logged (warn, module
 * "config") and counted in *unknown (may be NULL).
 */
enum bm_err bm_node_config_parse_yaml(struct bm_node_config *cfg,
                                      const uint8_t *p, size_t n,
                                      const char *name, size_t *unknown,
                                      struct bm_errmsg *em);

/*
 * Reads the file at path (borrowed) and applies it as
 * bm_node_config_parse_yaml does. An absent file is fine (BM_OK, *cfg
 * untouched). Other errors: BM_EPERM, BM_EIO, and the parse errors.
 * Blocks.
 */
enum bm_err bm_node_config_load_yaml(struct bm_node_config *cfg,
                                     const char *path,
                                     struct bm_errmsg *em);

/*
 * Applies every --evnode.<key> / --rollkit.<key> option of argv[0..*argc)
 * over *cfg and removes it (and its value) from argv: on return
 * argv[0..*argc) holds the other arguments in their order, followed by a
 * NULL if there is room (argv is modified in place; the strings are
 * borrowed, never freed). Errors: BM_ECONFIG for an unknown key, a
 * missing value or an invalid value, naming the flag.
 */
enum bm_err bm_node_config_apply_flags(struct bm_node_config *cfg,
                                       int *argc, char **argv,
                                       struct bm_errmsg *em);

/* True if key ("node.block_time") was given by a YAML file or a flag
 * since the defaults were applied (false for an unknown key). */
bool bm_node_config_given(const struct bm_node_config *cfg, const char *key);

/*
 * Fills the BM_CFG_F_DERIVED rows that were not given, from the keys they
 * derive from (ev-node's rules):
 *   node.readiness_max_blocks_behind = node.readiness_window_seconds
 *       / node.block_time (whole blocks, rounded down);
 *   node.executor = "evm" when any evm.* key holds another value than
 *       its default (ev-node's EVM flags select the EVM executor; the
 *       evnode.yaml that init writes has them all at their defaults),
 *       else "kv";
 *   node.max_block_txs = 120 per ms of node.block_time (120,000 txs a
 *       second of blocks), at least 1,000, at most BM_MAX_TXS;
 *   rpc.tx_rate_limit = the txs blocks carry a second: node.max_block_txs,
 *       or the 64-byte txs one DA blob holds if fewer, per node.block_time
 *       (at least 1,000, at most 1,000,000); bm_node_config_to_manager
 *       then sets the burst to one block's worth.
 * bm_node_config_load calls it last; callers that build a config with
 * bm_node_config_set call it themselves.
 */
void bm_node_config_derive(struct bm_node_config *cfg);

/*
 * defaults, then <home>/config/evnode.yaml (if home is not NULL), then the
 * flags of argv (as bm_node_config_apply_flags), then
 * bm_node_config_derive. *cfg is released first; on error it is released
 * again.
 */
enum bm_err bm_node_config_load(struct bm_node_config *cfg, const char *home,
                                int *argc, char **argv,
                                struct bm_errmsg *em);

/*
 * The commented evnode.yaml text of *cfg into *out (released first;
 * returns owned): a header, then every key grouped by section with its
 * description as a comment above it. redact replaces secret values with
 * "<redacted>". BM_ENOMEM.
 */
enum bm_err bm_node_config_yaml(const struct bm_node_config *cfg,
                                bool redact, struct bm_buf *out);

/* Writes bm_node_config_yaml(cfg) to path (borrowed) with mode 0644 as
 * bm_file_write_atomic does (path.tmp, fsync, rename, directory fsync).
 * Errors: BM_EPERM, BM_EIO, BM_ENOMEM, BM_ENOTFOUND. */
enum bm_err bm_node_config_write_yaml(const struct bm_node_config *cfg,
                                      const char *path,
                                      struct bm_errmsg *em);

/*
 * Fills *out with bm_manager_config_init values overridden by cfg
 * (durations rounded up to whole milliseconds so a non-zero duration
 * never becomes the "default" 0). out's strings borrow cfg's: cfg must
 * outlive out.
 */
void bm_node_config_to_manager(const struct bm_node_config *cfg,
                               struct bm_manager_config *out);

/* Fills *out (zeroed first) with the KV executor options of cfg (kv.*);
 * the rest keeps the KV defaults. */
void bm_node_config_to_kv(const struct bm_node_config *cfg,
                          struct bm_kv_options *out);

/*
 * Fills *out (zeroed first) with the DA client's settings from cfg:
 * da.address, da.auth_token, da.submit_options ("" = none),
 * da.request_timeout, da.max_blob_size, da.gas_price (>= 0 is sent). out's
 * strings borrow cfg's: cfg must outlive out.
 */
void bm_node_config_to_da_client(const struct bm_node_config *cfg,
                                 struct bm_da_client_config *out);

struct bm_evm_config;

/*
 * Fills *out (zeroed first) with the EVM executor's settings from cfg
 * (evm.*): the URLs (borrowed from cfg: cfg must outlive out), the JWT
 * secret read from evm.jwt_secret_file (a path as given: relative to the
 * working directory, as ev-node reads it), evm.genesis_hash (has_genesis_
 * hash false when "") and evm.fee_recipient ("" = the zero address), and
 * evm.request_timeout. Errors: BM_ECONFIG naming the key (no secret file
 * given, a bad hex value), and the file's errors. Blocks (file read).
 */
enum bm_err bm_node_config_to_evm(const struct bm_node_config *cfg,
                                  struct bm_evm_config *out,
                                  struct bm_errmsg *em);

/* Prints the reference table (key, flag, type, default, description) as
 * markdown. */
void bm_node_config_markdown(FILE *f);

/* ---- home helpers for the node commands ---- */

/* home/rel, or rel itself when it is absolute. Owned result (bm_free). */
char *bm_node_path(const char *home, const char *rel);

#endif /* BM_NODE_CONFIG_H */
