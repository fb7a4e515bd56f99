/*
 * `blockv2 start`: runs a node from its home (spec 9.4): configuration
 * (defaults < config/evnode.yaml < flags), genesis, signer (aggregator),
 * store, KV executor, single sequencer (aggregator), DA client, the block
 * manager, the P2P host (when p2p.listen_address or p2p.peers is set), the
 * RPC server and, if enabled, the Prometheus listener.
 * SIGINT/SIGTERM stop gracefully (the block in flight finishes, LMDB is
 * closed); SIGHUP reopens the log file. The store's lock (data/LOCK)
 * refuses a second node on the same home.
 *
 * `blockv2 start --dev [--reset]`: the quick start. One process in
 * ./.blockv2-dev (or --home): created on first run (new chain
 * "blockv2-dev", a dev passphrase file), with the built-in local DA server
 * on 127.0.0.1:7980 (another free port if taken), the RPC on
 * 127.0.0.1:7331 and P2P on 127.0.0.1:7676 (another free port if taken).
 * --reset wipes the dev home first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "blockv2/da.h"
#include "util/file.h"
#include "blockv2/genesis.h"
#include "blockv2/ha.h"
#include "blockv2/keys.h"
#include "blockv2/manager.h"
#include "blockv2/sequencer.h"
#include "blockv2/store.h"
#include "exec/evm/evm.h"
#include "exec/kv/kv.h"
#include "node/cli.h"
#include "node/config.h"
#include "node/ha_forward.h"
#include "node/ha_node.h"
#include "node/logsink.h"
#include "node/metrics.h"
#include "node/passphrase.h"
#include "node/p2p.h"
#include "node/rpc.h"
#include "p2p/chainsync.h"
#include "p2p/host.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define DEV_HOME ".blockv2-dev"
#define DEV_EVM_HOME ".blockv2-dev-evm"
#define DEV_CHAIN_ID "blockv2-dev"
#define DEV_JWT_FILE "config/jwt.hex"
#define DEV_DA_PORT 7980

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blockv2 start [--home DIR] [--evm] [--evnode.<key> VALUE "
            "...]\n"
            "       blockv2 start --dev [--evm] [--reset] [--home DIR] "
            "[--evnode.<key> VALUE ...]\n"
            "\n"
            "Runs the node of DIR (default $HOME/.blockv2; see `blockv2 "
            "init`).\n"
            "  --dev     quick start: an aggregator with the KV executor, "
            "the\n"
            "            built-in local DA server and the RPC, in ./" DEV_HOME
            "\n"
            "            (created on first run, reused after)\n"
            "  --reset   with --dev: delete the dev home first\n"
            "  --evm     the EVM executor (node.executor evm): an execution\n"
            "            client through the Engine API, with ev-node's flags\n"
            "            --evm.engine-url, --evm.eth-url, --evm.jwt-secret-file,\n"
            "            --evm.genesis-hash, --evm.fee-recipient; with --dev:\n"
            "            in ./" DEV_EVM_HOME ", the JWT secret in config/jwt.hex\n"
            "            when not given, the client's genesis adopted\n"
            "Flags override config/evnode.yaml (`blockv2 config docs` lists "
            "them),\n"
            "e.g. --evnode.node.block_time 500ms. Ctrl-C stops gracefully.\n");
}

static bool file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* Writes n random bytes as hex (0600; a newline after them when nl)
 * unless path exists: the dev passphrase, the dev JWT secret. */
static int dev_secret_file(const char *path, size_t n, bool nl)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 2];
    size_t len = 2 * n + (nl ? 1 : 0);
    int fd;
    ssize_t w;

    if (file_exists(path)) {
        return 0;
    }
    randombytes_buf(raw, n);
    sodium_bin2hex(hex, sizeof(hex), raw, n);
    hex[2 * n] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        return -1;
    }
    w = write(fd, hex, len);
    close(fd);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(hex, sizeof(hex));
    return w == (ssize_t)len ? 0 : -1;
}

/* Creates the dev home on first run (through `init`). */
static int dev_prepare(const char *home, bool reset)
{
    char cfgdir[1024], pass[1100], gen[1100];

    if (reset && file_exists(home)) {
        int err;

        printf("blockv2: --reset: removing %s\n", home);
        err = bm_file_remove_tree(home);
        if (err != BM_OK) {
            fprintf(stderr, "blockv2: --reset: cannot remove '%s': %s\n",
                    home, bm_err_name(err));
            return -1;
        }
    }
    snprintf(cfgdir, sizeof(cfgdir), "%s/config", home);
    snprintf(pass, sizeof(pass), "%s/dev-passphrase", cfgdir);
    snprintf(gen, sizeof(gen), "%s/genesis.json", cfgdir);
    if (file_exists(gen)) {
        return 0;
    }
    if ((mkdir(home, 0700) != 0 && errno != EEXIST) ||
        (mkdir(cfgdir, 0700) != 0 && errno != EEXIST) ||
        dev_secret_file(pass, 16, false) != 0) {
        fprintf(stderr, "blockv2: cannot create the dev home '%s': %s\n",
                home, strerror(errno));
        return -1;
    }
    {
        const char *args[] = {"init",
                              "--home",
                              home,
                              "--chain-id",
                              DEV_CHAIN_ID,
                              "--evnode.node.aggregator",
                              "true",
                              "--evnode.signer.passphrase_file",
                              pass,
                              "--evnode.da.namespace",
                              DEV_CHAIN_ID,
                              "--evnode.da.data_namespace",
                              DEV_CHAIN_ID "-data",
                              "--evnode.da.block_time",
                              "1s",
                              "--evnode.p2p.listen_address",
                              "/ip4/127.0.0.1/tcp/7676"};
        enum { NA = sizeof(args) / sizeof(args[0]) };
        char *av[NA + 1];
        int rc;

        for (size_t i = 0; i < NA; i++) {
            av[i] = bm_xstrdup(args[i]);
        }
        av[NA] = NULL;
        printf("blockv2: creating a dev chain in %s (dev key; passphrase in "
               "%s)\n",
               home, pass);
        rc = bm_cli_init((int)NA, av);
        for (size_t i = 0; i < NA; i++) {
            bm_free(av[i]);
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* Everything a running node holds; released in reverse. */
struct node {
    const char *home;
    struct bm_node_config cfg;
    struct bm_manager_config mcfg;
    struct bm_genesis genesis;
    struct bm_privkey key;
    bool has_key;
    struct bm_hash signer_addr;
    struct bm_store *store;
    struct bm_kv *kv;
    struct bm_evm *evm; /* node.executor evm (then kv is NULL) */
    struct bm_executor exec;
    struct bm_seq *seq;
    struct bm_da_server *da_server; /* --dev only */
    struct bm_da_client *dac;
    struct bm_da da;
    struct bm_manager *m;
    struct bm_rpc_server *rpc;
    struct bm_metrics_server *metrics;
    struct bm_p2p_host *p2p;     /* NULL when P2P is not configured */
    struct bm_chainsync *sync;   /* with p2p: gossip, exchange, stores */
    struct bm_p2p_store p2p_headers; /* views of sync's stores */
    struct bm_p2p_store p2p_data;
    struct bm_broadcaster bc;
    struct bm_ha *ha;            /* NULL without ha.etcd_endpoints */
    struct bm_ha_fwd *ha_fwd;    /* with ha: forwarding to the leader */
    struct bm_logsink *log;
    char da_url[64];
};

static int fail(const char *what, int err, const struct bm_errmsg *em)
{
    fprintf(stderr, "blockv2 start: %s: %s\n", what, bm_errmsg_str(em, err));
    return 1;
}

static int open_sync(struct node *n, struct bm_errmsg *em);

/* The tx queue met a full or failing disk (the RPC's ingest thread or the
 * sequencer actor): the node stops as on a block store write error, so
 * that it never goes on producing while refusing txs. n->m is set before
 * any queue write can happen (the manager starts before the RPC) and
 * cleared only after both stopped. */
static void seq_disk_error(void *arg, enum bm_err err, const char *msg)
{
    struct node *n = arg;

    bm_manager_fail(n->m, "seq", err, msg);
}

/* n->evm from the config's evm.*; *has_genesis: evm.genesis_hash set. */
static int new_evm(struct node *n, bool *has_genesis)
{
    struct bm_evm_config ec;
    struct bm_errmsg em = {{0}};
    int err;

    err = bm_node_config_to_evm(&n->cfg, &ec, &em);
    if (err == BM_OK) {
        err = bm_evm_new(&n->evm, &ec, &em);
    }
    *has_genesis = ec.has_genesis_hash;
    sodium_memzero(ec.jwt_secret, sizeof(ec.jwt_secret));
    if (err != BM_OK) {
        return fail("EVM executor (evm.*)", err, &em);
    }
    return 0;
}

/*
 * The EVM executor from evm.*. --dev: the JWT secret defaults to the dev
 * home's config/jwt.hex (created), and without evm.genesis_hash the
 * client's own genesis is adopted (a dev chain only).
 */
static int open_evm(struct node *n, bool dev)
{
    struct bm_errmsg em = {{0}};
    bool has_genesis = false;
    char *jwt = NULL;
    int err;

    if (dev && (n->cfg.evm_jwt_secret_file == NULL ||
                n->cfg.evm_jwt_secret_file[0] == '\0')) {
        jwt = bm_node_path(n->home, DEV_JWT_FILE);
        if (dev_secret_file(jwt, BM_EVM_JWT_SECRET_LEN, true) != 0) {
            fprintf(stderr, "blockv2 start: cannot write the dev JWT secret "
                            "'%s': %s\n", jwt, strerror(errno));
            bm_free(jwt);
            return 1;
        }
        bm_free(n->cfg.evm_jwt_secret_file);
        n->cfg.evm_jwt_secret_file = jwt;
    }
    if (new_evm(n, &has_genesis) != 0) {
        return 1;
    }
    if (dev && !has_genesis) {
        uint8_t g[BM_EVM_HASH_LEN];
        char hex[2 * BM_EVM_HASH_LEN + 3];

        err = bm_evm_el_genesis(n->evm, g, &em);
        if (err != BM_OK) {
            return fail("EVM executor: the execution client's genesis", err,
                        &em);
        }
        bm_evm_hex(hex, g, sizeof(g));
        bm_log_info("node", "dev: adopting the execution client's genesis "
                    "block genesis_hash=%s", hex);
        bm_evm_free(n->evm);
        n->evm = NULL;
        bm_free(n->cfg.evm_genesis_hash);
        n->cfg.evm_genesis_hash = bm_xstrdup(hex);
        if (new_evm(n, &has_genesis) != 0) {
            return 1;
        }
    }
    bm_evm_executor(n->evm, &n->exec);
    return 0;
}

static int open_parts(struct node *n, bool dev)
{
    struct bm_errmsg em = {{0}};
    char *p = NULL;
    int err;

    /* Genesis. */
    p = bm_node_path(n->home, "config/" BM_GENESIS_FILE_NAME);
    err = bm_genesis_load(&n->genesis, p, &em);
    bm_free(p);
    if (err != BM_OK) {
        return fail("genesis", err, &em);
    }
    /* Signer (aggregator only). */
    if (n->cfg.aggregator) {
        uint8_t pass[BM_PASSPHRASE_MAX];
        size_t plen = 0;
        char *dir = bm_node_path(n->home, n->cfg.signer_path);
        char *file = bm_node_path(dir, "signer.json");
        uint8_t pub[BM_PUBKEY_SIZE];

        bm_free(dir);
        err = bm_passphrase_read(n->cfg.signer_passphrase_file, false, pass,
                                 sizeof(pass), &plen, &em);
        if (err == BM_OK) {
            err = bm_signer_file_load(file, pass, plen, &n->key, &em);
        }
        sodium_memzero(pass, sizeof(pass));
        bm_free(file);
        if (err == BM_EPASSPHRASE || err == BM_EAUTH) {
            fprintf(stderr,
                    "blockv2 start: signer: wrong passphrase for "
                    "config/signer.json (%s)\n",
                    bm_errmsg_str(&em, err));
            return 1;
        }
        if (err != BM_OK) {
            return fail("signer (config/signer.json)", err, &em);
        }
        n->has_key = true;
        bm_privkey_public(&n->key, pub);
        bm_address_from_pubkey(pub, &n->signer_addr);
    }
    if (n->cfg.pruning_mode != NULL &&
        strcmp(n->cfg.pruning_mode, "disabled") != 0) {
        bm_log_warn("node", "pruning.pruning_mode '%s' is reserved: the "
                    "block store keeps every block",
                    n->cfg.pruning_mode);
    }
    /* Store, executor, sequencer. */
    err = bm_store_open(&n->store, n->home, NULL, &em);
    if (err == BM_ELOCKED) {
        fprintf(stderr,
                "blockv2 start: another node is running on %s (its "
                "data/LOCK is held); stop it first\n",
                n->home);
        return 1;
    }
    if (err != BM_OK) {
        return fail("store", err, &em);
    }
    if (strcmp(n->cfg.node_executor, "evm") == 0) {
        if (open_evm(n, dev) != 0) {
            return 1;
        }
    } else {
        p = bm_node_path(n->home, "data/kv");
        mkdir(p, 0700);
        {
            struct bm_kv_options ko;

            bm_node_config_to_kv(&n->cfg, &ko);
            err = bm_kv_open(&n->kv, p, &ko, &em);
        }
        bm_free(p);
        if (err != BM_OK) {
            return fail("KV executor (data/kv)", err, &em);
        }
        bm_kv_executor(n->kv, &n->exec);
    }
    if (n->cfg.aggregator) {
        struct bm_seq_options so = {0};

        so.exec = &n->exec;
        so.max_queue_bytes = (size_t)n->cfg.max_queue_bytes;
        so.max_batch_txs = (size_t)n->cfg.max_block_txs;
        /* An accepted tx fits the next block (docs/EXECUTION.md). */
        so.max_waiting_txs = (size_t)n->cfg.max_block_txs;
        so.on_disk_error = seq_disk_error;
        so.on_disk_error_arg = n;
        p = bm_node_path(n->home, "data/seq");
        mkdir(p, 0700);
        err = bm_seq_open(&n->seq, p, n->genesis.chain_id, &so, &em);
        bm_free(p);
        if (err != BM_OK) {
            return fail("sequencer (data/seq)", err, &em);
        }
    }
    /* The built-in DA server (--dev). */
    if (dev) {
        struct bm_da_server_config sc = {0};

        p = bm_node_path(n->home, "da-local");
        mkdir(p, 0700);
        sc.home = p;
        sc.port = DEV_DA_PORT;
        sc.max_blob_size = (size_t)n->cfg.da_max_blob_size;
        err = bm_da_server_start(&n->da_server, &sc, &em);
        if (err != BM_OK) {
            sc.port = 0; /* 7980 taken: any free port */
            err = bm_da_server_start(&n->da_server, &sc, &em);
        }
        bm_free(p);
        if (err != BM_OK) {
            return fail("local DA server", err, &em);
        }
        snprintf(n->da_url, sizeof(n->da_url), "http://127.0.0.1:%u",
                 (unsigned)bm_da_server_port(n->da_server));
        bm_free(n->cfg.da_address);
        n->cfg.da_address = bm_xstrdup(n->da_url);
    }
    /* DA client. */
    if (n->cfg.da_address != NULL && n->cfg.da_address[0] != '\0') {
        struct bm_da_client_config cc = {0};

        if (n->cfg.da_namespace == NULL || n->cfg.da_namespace[0] == '\0') {
            fprintf(stderr, "blockv2 start: config: da.namespace: must be set "
                            "when da.address is set\n");
            return 1;
        }
        bm_node_config_to_da_client(&n->cfg, &cc);
        err = bm_da_client_new(&n->dac, &cc, &em);
        if (err != BM_OK) {
            return fail("DA client (da.address)", err, &em);
        }
        bm_da_from_client(&n->da, n->dac);
    }
    /* HA: an unreachable etcd or a wrong prefix stops the node here. */
    if (!bm_node_ha_enabled(&n->cfg) && n->cfg.ha_peers.n > 0) {
        bm_errf(&em, BM_ECONFIG, "config: ha.peers: set without "
                "ha.etcd_endpoints (forwarding is for HA candidates)");
        return fail("HA (ha.*)", BM_ECONFIG, &em);
    }
    if (bm_node_ha_enabled(&n->cfg)) {
        err = bm_node_ha_open(&n->ha, &n->cfg, n->genesis.chain_id, &em);
        if (err != BM_OK) {
            return fail("HA (ha.*)", err, &em);
        }
    }
    /* P2P: bound now so a bad address stops the node before it starts. */
    if (bm_node_p2p_enabled(&n->cfg)) {
        err = bm_node_p2p_open(&n->p2p, &n->cfg, n->home, dev, &em);
        if (err != BM_OK) {
            return fail("p2p", err, &em);
        }
        err = open_sync(n, &em);
        if (err != BM_OK) {
            return fail("p2p sync (gossip topics, exchange)", err, &em);
        }
    }
    return 0;
}

/* The manager stopped on a fatal error: wake run_until_stopped, which
 * sleeps in sigwait. Called once, from the manager's thread; kill(2) is
 * all it does (SIGUSR1 is blocked in every thread and taken by sigwait). */
static void wake_signal_loop(void *arg, int err)
{
    (void)arg;
    (void)err;
    (void)kill(getpid(), SIGUSR1);
}

/* Chain sync over P2P on the host: its stores feed the manager, its
 * broadcaster takes the manager's blocks. FloodSub signs with the host's
 * identity (the node key bm_node_p2p_open loaded). */
static int open_sync(struct node *n, struct bm_errmsg *em)
{
    struct bm_chainsync_config sc = {0};
    struct bm_manager_config mc;
    int err;

    bm_node_config_to_manager(&n->cfg, &mc);
    sc.host = n->p2p;
    sc.genesis = &n->genesis;
    sc.store = n->store;
    sc.block_time_ms = mc.block_time_ms;
    err = bm_chainsync_new(&n->sync, &sc, em);
    if (err != BM_OK) {
        return err;
    }
    bm_chainsync_stores(n->sync, &n->p2p_headers, &n->p2p_data);
    bm_chainsync_broadcaster(n->sync, &n->bc);
    return BM_OK;
}

/* chainsync hooks: keep blocks unless this aggregator produces; wake the
 * manager's StoreSync when items arrive (the P2P loop thread). */
static bool sync_follow(void *arg)
{
    struct node *n = arg;

    return !n->cfg.aggregator || bm_manager_catching_up(n->m);
}

static void sync_items(void *arg)
{
    struct node *n = arg;

    bm_manager_notify_p2p(n->m);
}

/* /health/ready's best-known height: the store's, or higher when P2P has
 * seen more (ev-node: the lower of its two go-header stores). */
static uint64_t best_known(void *arg)
{
    struct node *n = arg;
    uint64_t local = 0, p2p;

    (void)bm_store_height(n->store, &local, NULL);
    p2p = n->sync != NULL ? bm_chainsync_best_height(n->sync) : 0;
    return p2p > local ? p2p : local;
}

static int start_services(struct node *n)
{
    struct bm_errmsg em = {{0}};
    struct bm_manager_params p;
    struct bm_rpc_deps d;
    int err;

    bm_node_config_to_manager(&n->cfg, &n->mcfg);
    memset(&p, 0, sizeof(p));
    p.on_fatal = wake_signal_loop;
    p.signer = n->has_key ? &n->key : NULL;
    p.config = &n->mcfg;
    p.genesis = &n->genesis;
    p.store = n->store;
    p.exec = &n->exec;
    p.seq = n->seq;
    p.da = n->dac != NULL ? &n->da : NULL;
    if (n->sync != NULL) {
        p.header_store = &n->p2p_headers;
        p.data_store = &n->p2p_data;
        p.header_broadcaster = &n->bc;
        p.data_broadcaster = &n->bc;
    }
    p.ha = n->ha;
    err = bm_manager_new(&n->m, &p, &em);
    if (err != BM_OK) {
        return fail("block manager", err, &em);
    }
    err = bm_manager_start(n->m, &em);
    if (err != BM_OK) {
        return fail("block manager start", err, &em);
    }
    memset(&d, 0, sizeof(d));
    d.store = n->store;
    d.genesis = &n->genesis;
    d.manager = n->m;
    d.kv = n->kv;
    d.seq = n->seq; /* NULL on a full node: /tx answers 503 */
    d.evm_eth_url = n->evm != NULL ? bm_evm_eth_url(n->evm) : NULL;
    d.header_namespace = n->cfg.da_namespace;
    d.data_namespace = n->cfg.da_data_namespace;
    if (n->has_key) {
        d.signer_address = n->signer_addr.b;
        d.signer_address_len = sizeof(n->signer_addr.b);
    }
    d.aggregator = n->cfg.aggregator;
    d.block_time_ms = n->mcfg.block_time_ms;
    d.lazy_mode = n->cfg.lazy_mode;
    d.lazy_block_interval_ms = n->mcfg.lazy_block_interval_ms;
    d.readiness_max_blocks_behind = n->cfg.readiness_max_blocks_behind;
    d.p2p = n->p2p;
    d.sync = n->sync;
    d.best_known_height = best_known;
    d.best_known_ctx = n;
    d.ha = n->ha;
    if (n->p2p != NULL) {
        struct bm_chainsync_hooks hooks = {sync_follow, n, sync_items, n};

        (void)bm_chainsync_attach(n->sync, &hooks);
        err = bm_p2p_host_start(n->p2p);
        if (err != BM_OK) {
            return fail("p2p host start", err, &em);
        }
        err = bm_chainsync_start(n->sync);
        if (err != BM_OK) {
            return fail("p2p sync start", err, &em);
        }
    }
    err = bm_rpc_server_start(&n->rpc, n->cfg.rpc_address, &d, &em);
    if (err != BM_OK) {
        return fail("RPC server (rpc.address)", err, &em);
    }
    /* HA: a follower forwards the txs it acknowledged to the leader. */
    if (n->ha != NULL && n->seq != NULL) {
        struct bm_ha_fwd_config fc = {0};

        fc.ha = n->ha;
        fc.seq = n->seq;
        fc.peers = (const char *const *)n->cfg.ha_peers.items;
        fc.n_peers = n->cfg.ha_peers.n;
        err = bm_ha_fwd_start(&n->ha_fwd, &fc, &em);
        if (err != BM_OK) {
            return fail("HA forwarding (ha.peers)", err, &em);
        }
    }
    if (n->cfg.prometheus) {
        struct bm_metrics_config mc = {0};

        mc.addr = n->cfg.prometheus_listen_addr;
        mc.ns = n->cfg.instrumentation_namespace;
        mc.chain_id = n->genesis.chain_id;
        mc.manager = n->m;
        mc.store = n->store;
        mc.max_connections = (unsigned)n->cfg.max_open_connections;
        mc.p2p = n->p2p;
        mc.sync = n->sync;
        mc.ha = n->ha;
        mc.ha_fwd = n->ha_fwd;
        mc.rpc = n->rpc;
        err = bm_metrics_server_start(&n->metrics, &mc, &em);
        if (err != BM_OK) {
            return fail("metrics (instrumentation.prometheus_listen_addr)",
                        err, &em);
        }
    }
    return 0;
}

/* Stops everything in reverse order. Returns the manager's stop result. */
static int close_node(struct node *n)
{
    struct bm_errmsg em = {{0}};
    int err = BM_OK;

    /* The metrics listener reads the RPC server's counters: it goes
     * first. */
    bm_metrics_server_stop(n->metrics);
    bm_rpc_server_stop(n->rpc);
    n->rpc = NULL;
    n->metrics = NULL;
    bm_ha_fwd_stop(n->ha_fwd);
    n->ha_fwd = NULL;
    /* The network goes first: nothing new reaches the block manager. The
     * sync services outlive the manager (its StoreSync reads their stores,
     * its Broadcaster publishes until it stopped: refused once the host is
     * stopped). */
    bm_chainsync_stop(n->sync);
    if (n->p2p != NULL) {
        (void)bm_p2p_host_stop(n->p2p);
    }
    if (n->m != NULL) {
        err = bm_manager_stop(n->m, &em);
        if (err != BM_OK) {
            fprintf(stderr, "blockv2: stopped by a fatal error: %s (%s)\n",
                    bm_errmsg_str(&em, err), bm_err_name(err));
        }
        bm_manager_free(n->m);
        n->m = NULL;
    }
    bm_chainsync_free(n->sync);
    n->sync = NULL;
    bm_p2p_host_free(n->p2p);
    n->p2p = NULL;
    /* After the last block: resign, so another candidate takes over at
     * once (graceful hand-over). */
    if (n->ha != NULL) {
        bm_ha_stop(n->ha, true);
        bm_ha_free(n->ha);
        n->ha = NULL;
    }
    bm_da_client_free(n->dac);
    bm_da_server_stop(n->da_server);
    bm_seq_free(n->seq);
    bm_kv_free(n->kv);
    bm_evm_free(n->evm);
    bm_store_close(n->store);
    bm_genesis_release(&n->genesis);
    bm_privkey_wipe(&n->key);
    return err;
}

static const char *rpc_url(const struct node *n, char *buf, size_t len)
{
    const char *a = n->cfg.rpc_address;

    if (a[0] == ':') {
        snprintf(buf, len, "http://127.0.0.1%s", a);
    } else {
        snprintf(buf, len, "http://%s", a);
    }
    return buf;
}

/* Waits for SIGINT/SIGTERM (SIGHUP reopens logs) or a fatal error (the
 * manager's on_fatal sends SIGUSR1). Sleeps: no periodic wake-up. */
static void run_until_stopped(struct node *n, const sigset_t *set)
{
    for (;;) {
        int sig = 0;

        if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            bm_log_info("node", "signal received, stopping signal=%s",
                        sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
        if (sig == SIGHUP) {
            if (n->log != NULL) {
                (void)bm_logsink_reopen(n->log, NULL);
            }
            bm_log_info("node", "SIGHUP: log reopened");
            continue;
        }
        if (bm_manager_wait(n->m, 0, NULL) != BM_ETIMEDOUT) {
            return; /* fatal: close_node reports it */
        }
    }
}

/*
 * Raises the soft open-files limit to the hard one (as Go's runtime does
 * for ev-node): the RPC sizes its connection limit from it (rpc.h), and
 * the P2P host, LMDB and the DA client need descriptors too. Logs the
 * limit in force.
 */
static void raise_nofile(void)
{
    struct rlimit rl;
    rlim_t was;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rl.rlim_cur = was;
        }
    }
    bm_log_info("node", "open files limit=%llu (was %llu)",
                (unsigned long long)rl.rlim_cur, (unsigned long long)was);
}

int bm_cli_start(int argc, char **argv)
{
    struct node n;
    struct bm_errmsg em = {{0}};
    const char *home = NULL;
    char default_home[1024];
    bool dev = false, reset = false, evm = false;
    sigset_t set;
    enum bm_logsink_format fmt = BM_LOGSINK_TEXT;
    int level, err, rc = 1;
    int ac = 0;
    char **av = bm_xcalloc((size_t)argc + 1, sizeof(char *));

    memset(&n, 0, sizeof(n));
    /* Own flags first; the rest (--evnode.*) go to the config loader. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            bm_free(av);
            return 0;
        } else if (strcmp(argv[i], "--dev") == 0) {
            dev = true;
        } else if (strcmp(argv[i], "--reset") == 0) {
            reset = true;
        } else if (strcmp(argv[i], "--evm") == 0) {
            evm = true;
        } else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            home = argv[++i];
        } else if (strncmp(argv[i], "--home=", 7) == 0) {
            home = argv[i] + 7;
        } else {
            av[ac++] = argv[i];
        }
    }
    if (reset && !dev) {
        fprintf(stderr, "blockv2 start: --reset only goes with --dev\n");
        bm_free(av);
        return 2;
    }
    if (home == NULL) {
        const char *h = getenv("HOME");

        if (dev) {
            home = evm ? DEV_EVM_HOME : DEV_HOME;
        } else {
            snprintf(default_home, sizeof(default_home), "%s/.blockv2",
                     h != NULL ? h : ".");
            home = default_home;
        }
    }
    n.home = home;
    /* Signals: blocked in every thread (created below), taken here. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1); /* a fatal error (wake_signal_loop) */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (dev && dev_prepare(home, reset) != 0) {
        goto out;
    }
    {
        char gen[1100];

        snprintf(gen, sizeof(gen), "%s/config/" BM_GENESIS_FILE_NAME, home);
        if (!file_exists(gen)) {
            fprintf(stderr,
                    "blockv2 start: %s is not a node home (no %s); run "
                    "`blockv2 init --home %s --chain-id ID` first, or "
                    "`blockv2 start --dev`\n",
                    home, gen, home);
            goto out;
        }
    }
    err = bm_node_config_load(&n.cfg, home, &ac, av, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 start: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    if (ac > 0) {
        fprintf(stderr, "blockv2 start: unexpected argument '%s'\n", av[0]);
        usage(stderr);
        rc = 2;
        goto out_cfg;
    }
    if (evm) {
        if (bm_node_config_given(&n.cfg, "node.executor") &&
            strcmp(n.cfg.node_executor, "evm") != 0) {
            fprintf(stderr, "blockv2 start: --evm and node.executor '%s' "
                            "disagree\n", n.cfg.node_executor);
            rc = 2;
            goto out_cfg;
        }
        bm_free(n.cfg.node_executor);
        n.cfg.node_executor = bm_xstrdup("evm");
    }
    level = bm_log_level_parse(n.cfg.log_level);
    if (level < 0 ||
        bm_logsink_format_parse(n.cfg.log_format, &fmt) != BM_OK) {
        fprintf(stderr, "blockv2 start: config: log.level/log.format: "
                        "invalid value\n");
        goto out_cfg;
    }
    bm_log_set_level((enum bm_log_level)level);
    if (bm_logsink_new(&n.log, fmt, NULL, &em) == BM_OK) {
        bm_logsink_set_trace(n.log, n.cfg.log_trace);
        bm_logsink_install(n.log);
    }
    raise_nofile();
    if (open_parts(&n, dev) != 0 || start_services(&n) != 0) {
        (void)close_node(&n);
        goto out_log;
    }
    {
        char url[400];

        rpc_url(&n, url, sizeof(url));
        char p2p[BM_PEER_ID_STR_SIZE] = "off";

        if (n.p2p != NULL) {
            bm_peer_id_format(bm_p2p_host_id(n.p2p), p2p);
        }
        bm_log_info("node",
                    "running home=%s chain_id=%s mode=%s executor=%s "
                    "rpc=%s da=%s metrics=%s p2p=%s",
                    home, n.genesis.chain_id,
                    n.cfg.aggregator ? "aggregator" : "full",
                    n.cfg.node_executor, url,
                    n.cfg.da_address != NULL && n.cfg.da_address[0]
                        ? n.cfg.da_address
                        : "off",
                    n.cfg.prometheus ? n.cfg.prometheus_listen_addr : "off",
                    p2p);
        if (dev && n.evm != NULL) {
            printf("\nblockv2 dev node is running with the EVM executor "
                   "(chain %s, home %s)\n"
                   "  execution client: engine %s, eth %s\n"
                   "  JWT secret:  %s\n"
                   "  send a tx:   eth_sendRawTransaction to %s (POST /tx is "
                   "refused)\n"
                   "  status:      blockv2 status          (or: curl "
                   "%s/status)\n"
                   "  local DA:    %s\n"
                   "Ctrl-C stops it; run the same command to continue, add "
                   "--reset to start over.\n\n",
                   n.genesis.chain_id, home, n.cfg.evm_engine_url,
                   n.cfg.evm_eth_url, n.cfg.evm_jwt_secret_file,
                   n.cfg.evm_eth_url, url, n.da_url);
            fflush(stdout);
        } else if (dev) {
            printf("\nblockv2 dev node is running (chain %s, home %s)\n"
                   "  send a tx:   blockv2 tx send k=v     (or: curl -X POST "
                   "--data 'k=v' %s/tx)\n"
                   "  query:       curl %s/kv/k\n"
                   "  status:      blockv2 status          (or: curl "
                   "%s/status)\n"
                   "  local DA:    %s\n"
                   "Ctrl-C stops it; run the same command to continue, add "
                   "--reset to start over.\n\n",
                   n.genesis.chain_id, home, url, url, url, n.da_url);
            fflush(stdout);
        }
    }
    run_until_stopped(&n, &set);
    rc = close_node(&n) == BM_OK ? 0 : 1;
out_log:
    if (n.log != NULL) {
        bm_logsink_free(n.log);
    }
out_cfg:
    bm_node_config_release(&n.cfg);
out:
    bm_free(av);
    return rc;
}
