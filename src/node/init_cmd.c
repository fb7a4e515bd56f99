/*
 * `blockv2 init`: prepares a node home (spec section 9.1/9.4):
 *
 *   DIR/config/evnode.yaml    the commented configuration
 *   DIR/config/genesis.json   new chain (this node proposes) or copied
 *   DIR/config/signer.json    the proposer key, passphrase-encrypted
 *                             (new chain only)
 *   DIR/config/node_key.json  the P2P identity
 *   DIR/<db_path>/            the database directory
 *
 * An existing genesis.json or signer.json is never replaced: init on an
 * initialised home is an error naming the file.
 */
#include "node/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "blockv2/genesis.h"
#include "blockv2/keys.h"
#include "blockv2/types.h"
#include "node/config.h"
#include "node/passphrase.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/hex.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blockv2 init --home DIR --chain-id ID [--evnode.<key> "
            "VALUE ...]\n"
            "       blockv2 init --home DIR --genesis FILE [--evnode.<key> "
            "VALUE ...]\n"
            "\n"
            "  --chain-id ID   start a new chain with this node's signer as "
            "the\n"
            "                  proposer: writes config/signer.json "
            "(encrypted) and\n"
            "                  config/genesis.json (initial height 1, "
            "start time now)\n"
            "  --genesis FILE  follow an existing chain: copies and validates "
            "FILE\n"
            "                  as config/genesis.json; no signer is created\n"
            "\n"
            "Both write config/evnode.yaml (commented; flags given here are\n"
            "kept in it), config/node_key.json and the data directory.\n"
            "The signer passphrase comes from\n"
            "--evnode.signer.passphrase_file FILE (one trailing newline is\n"
            "ignored) or, on a terminal, from a prompt asked twice. It is\n"
            "never taken from a command-line value.\n");
}

/* mkdir -p; 0 or -1 with errno. */
static int mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST) {
                return -1;
            }
            buf[i] = c;
        }
    }
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static uint64_t now_ns(void)
{
    return bm_clock_wall_ns(); /* the genesis time is a wall timestamp */
}

struct init_paths {
    char *config_dir;
    char *yaml;
    char *genesis;
    char *signer_dir;
    char *signer;
    char *node_key;
    char *data;
};

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = bm_xmalloc(n);

    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void paths_release(struct init_paths *p)
{
    bm_free(p->config_dir);
    bm_free(p->yaml);
    bm_free(p->genesis);
    bm_free(p->signer_dir);
    bm_free(p->signer);
    bm_free(p->node_key);
    bm_free(p->data);
    memset(p, 0, sizeof(*p));
}

/* Creates signer.json and fills the genesis of a new chain. */
static int new_chain(const struct bm_node_config *cfg,
                     const struct init_paths *p, const char *chain_id,
                     struct bm_genesis *g, uint8_t pub[BM_PUBKEY_SIZE])
{
    uint8_t *pass = bm_xmalloc(BM_PASSPHRASE_MAX);
    struct bm_errmsg em = {{0}};
    struct bm_privkey key;
    struct bm_hash addr;
    size_t len = 0;
    enum bm_err err;
    int rc = 1;

    memset(&key, 0, sizeof(key));
    err = bm_passphrase_read(cfg->signer_passphrase_file, true, pass,
                             BM_PASSPHRASE_MAX, &len, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    err = bm_signer_file_create(p->signer, NULL, pass, len, false, &key, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    bm_privkey_public(&key, pub);
    bm_address_from_pubkey(pub, &addr);
    g->chain_id = bm_xstrdup(chain_id);
    g->start_time_ns = now_ns();
    g->initial_height = 1;
    g->da_start_height = 0;
    g->da_epoch_forced_inclusion = BM_GENESIS_DEFAULT_DA_EPOCH;
    if (bm_buf_set(&g->proposer_address, addr.b, sizeof(addr.b)) != BM_OK) {
        fprintf(stderr, "blockv2 init: out of memory\n");
        goto out;
    }
    rc = 0;
out:
    bm_privkey_wipe(&key);
    sodium_memzero(pass, BM_PASSPHRASE_MAX);
    bm_free(pass);
    return rc;
}

static int run(const char *home, const char *chain_id,
               const char *genesis_file, int argc, char **argv)
{
    struct bm_node_config cfg;
    struct init_paths p;
    struct bm_genesis g = {0};
    struct bm_privkey node_key;
    struct bm_errmsg em = {{0}};
    uint8_t pub[BM_PUBKEY_SIZE];
    char peer[BM_PEER_ID_STR_SIZE];
    bool aggregator = chain_id != NULL;
    enum bm_err err;
    int rc = 1;

    memset(&cfg, 0, sizeof(cfg));
    memset(&p, 0, sizeof(p));
    memset(&node_key, 0, sizeof(node_key));
    err = bm_node_config_load(&cfg, home, &argc, argv, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    if (argc > 0) {
        fprintf(stderr, "blockv2 init: unknown argument '%s'\n", argv[0]);
        usage(stderr);
        rc = 2;
        goto out;
    }
    if (bm_crypto_init() != BM_OK) {
        fprintf(stderr, "blockv2 init: cannot initialise libsodium\n");
        goto out;
    }
    p.config_dir = bm_node_path(home, BM_NODE_CONFIG_DIR);
    p.yaml = join(p.config_dir, BM_NODE_CONFIG_FILE);
    p.genesis = join(p.config_dir, BM_GENESIS_FILE_NAME);
    p.signer_dir = bm_node_path(home, cfg.signer_path);
    p.signer = join(p.signer_dir, BM_SIGNER_FILE_NAME);
    p.node_key = join(p.config_dir, BM_NODE_KEY_FILE_NAME);
    p.data = bm_node_path(home, cfg.db_path);

    /* refuse before creating anything */
    if (exists(p.genesis)) {
        fprintf(stderr,
                "blockv2 init: '%s' already exists: this home is already "
                "initialised (use another --home, or remove the file)\n",
                p.genesis);
        goto out;
    }
    if (aggregator && exists(p.signer)) {
        fprintf(stderr,
                "blockv2 init: '%s' already exists: refusing to replace a "
                "signer key\n",
                p.signer);
        goto out;
    }
    if (!aggregator) {
        err = bm_genesis_load(&g, genesis_file, &em);
        if (err != BM_OK) {
            fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
            goto out;
        }
    }
    if (mkdirs(home, 0755) != 0 || mkdirs(p.config_dir, 0750) != 0 ||
        mkdirs(p.signer_dir, 0750) != 0 || mkdirs(p.data, 0750) != 0) {
        fprintf(stderr, "blockv2 init: cannot create directories under "
                        "'%s': %s\n",
                home, strerror(errno));
        goto out;
    }
    if (aggregator && new_chain(&cfg, &p, chain_id, &g, pub) != 0) {
        goto out;
    }
    err = bm_genesis_save(&g, p.genesis, false, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    err = bm_node_key_load_or_generate(p.node_key, &node_key, NULL, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    cfg.aggregator = aggregator;
    if (cfg.da_namespace == NULL || cfg.da_namespace[0] == '\0') {
        const struct bm_node_config_key *k = bm_node_config_find(
            "da.namespace");
        err = bm_node_config_set(&cfg, k, g.chain_id, &em);
        if (err != BM_OK) {
            fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
            goto out;
        }
    }
    err = bm_node_config_write_yaml(&cfg, p.yaml, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 init: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    printf("initialised %s (%s of chain '%s')\n", home,
           aggregator ? "aggregator" : "full node", g.chain_id);
    printf("  config:   %s\n", p.yaml);
    printf("  genesis:  %s\n", p.genesis);
    if (aggregator) {
        char hex[2 * BM_HASH_SIZE + 1];
        bm_hex_encode(hex, g.proposer_address.ptr, g.proposer_address.len);
        printf("  signer:   %s\n", p.signer);
        printf("  proposer: %s\n", hex);
    }
    bm_privkey_public(&node_key, pub);
    bm_peer_id_string(pub, peer);
    printf("  node ID:  %s\n", peer);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    bm_privkey_wipe(&node_key);
    bm_genesis_release(&g);
    paths_release(&p);
    bm_node_config_release(&cfg);
    return rc;
}

int bm_cli_init(int argc, char **argv)
{
    const char *home = NULL, *chain_id = NULL, *genesis = NULL;
    char **args = bm_xcalloc((size_t)argc + 1, sizeof(*args));
    int n = 0, rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            bm_free(args);
            return 0;
        }
        if (strcmp(a, "--home") == 0 && v != NULL) {
            home = v;
            i++;
        } else if (strncmp(a, "--home=", 7) == 0) {
            home = a + 7;
        } else if ((strcmp(a, "--chain-id") == 0 ||
                    strcmp(a, "--chain_id") == 0) &&
                   v != NULL) {
            chain_id = v;
            i++;
        } else if (strncmp(a, "--chain-id=", 11) == 0) {
            chain_id = a + 11;
        } else if (strcmp(a, "--genesis") == 0 && v != NULL) {
            genesis = v;
            i++;
        } else if (strncmp(a, "--genesis=", 10) == 0) {
            genesis = a + 10;
        } else {
            args[n++] = argv[i];
        }
    }
    if (home == NULL || home[0] == '\0') {
        fprintf(stderr, "blockv2 init: --home DIR is required\n");
        usage(stderr);
        rc = 2;
    } else if ((chain_id == NULL) == (genesis == NULL)) {
        fprintf(stderr, "blockv2 init: give exactly one of --chain-id ID "
                        "(new chain) or --genesis FILE (follower)\n");
        usage(stderr);
        rc = 2;
    } else if (chain_id != NULL && chain_id[0] == '\0') {
        fprintf(stderr, "blockv2 init: --chain-id: empty chain ID\n");
        rc = 2;
    } else {
        rc = run(home, chain_id, genesis, n, args);
    }
    bm_free(args);
    return rc;
}
