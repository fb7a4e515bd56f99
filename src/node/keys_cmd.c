/*
 * `blockv2 keys show`: the keys of a home as JSON:
 *   {"address": hex SHA-256 of the signer public key,
 *    "pub_key": hex signer public key,
 *    "node_id": libp2p peer ID of config/node_key.json ("12D3KooW...")}
 * address and pub_key need signer.json and its passphrase (the key is
 * decrypted to prove the passphrase); they are omitted when the home has
 * no signer.json (a follower). node_id is omitted without node_key.json.
 */
#include "node/cli.h"

#include <json-c/json.h>
#include <sodium.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "blockv2/keys.h"
#include "blockv2/types.h"
#include "node/config.h"
#include "node/passphrase.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blockv2 keys show --home DIR "
            "[--evnode.signer.passphrase_file FILE]\n"
            "\n"
            "Prints {\"address\", \"pub_key\", \"node_id\"} as JSON. The "
            "signer key is\n"
            "decrypted to check the passphrase (from the file, or asked on "
            "the\n"
            "terminal); a wrong passphrase exits with status 1.\n");
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static void add_hex(json_object *o, const char *name, const uint8_t *p,
                    size_t n)
{
    char hex[2 * 64 + 1];

    bm_hex_encode(hex, p, n);
    json_object_object_add(o, name, json_object_new_string(hex));
}

static int show(const char *home, int argc, char **argv)
{
    struct bm_node_config cfg;
    struct bm_errmsg em = {{0}};
    struct bm_privkey key;
    json_object *root = NULL;
    char *signer_dir = NULL, *signer = NULL, *node_key = NULL;
    uint8_t *pass = NULL;
    size_t len = 0;
    bool any = false;
    enum bm_err err;
    int rc = 1;

    memset(&cfg, 0, sizeof(cfg));
    memset(&key, 0, sizeof(key));
    err = bm_node_config_load(&cfg, home, &argc, argv, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 keys show: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    if (argc > 0) {
        fprintf(stderr, "blockv2 keys show: unknown argument '%s'\n",
                argv[0]);
        rc = 2;
        goto out;
    }
    root = json_object_new_object();
    if (root == NULL || bm_crypto_init() != BM_OK) {
        fprintf(stderr, "blockv2 keys show: out of memory\n");
        goto out;
    }
    signer_dir = bm_node_path(home, cfg.signer_path);
    signer = bm_node_path(signer_dir, BM_SIGNER_FILE_NAME);
    node_key = bm_node_path(home, BM_NODE_CONFIG_DIR "/" BM_NODE_KEY_FILE_NAME);
    if (exists(signer)) {
        uint8_t pub[BM_PUBKEY_SIZE];
        struct bm_hash addr;

        pass = bm_xmalloc(BM_PASSPHRASE_MAX);
        err = bm_passphrase_read(cfg.signer_passphrase_file, false, pass,
                                 BM_PASSPHRASE_MAX, &len, &em);
        if (err == BM_OK) {
            err = bm_signer_file_load(signer, pass, len, &key, &em);
        }
        if (err != BM_OK) {
            fprintf(stderr, "blockv2 keys show: %s\n",
                    bm_errmsg_str(&em, err));
            goto out;
        }
        bm_privkey_public(&key, pub);
        bm_address_from_pubkey(pub, &addr);
        add_hex(root, "address", addr.b, sizeof(addr.b));
        add_hex(root, "pub_key", pub, sizeof(pub));
        bm_privkey_wipe(&key);
        any = true;
    }
    err = bm_node_key_load(node_key, &key, &em);
    if (err == BM_OK) {
        uint8_t pub[BM_PUBKEY_SIZE];
        char peer[BM_PEER_ID_STR_SIZE];

        bm_privkey_public(&key, pub);
        bm_peer_id_string(pub, peer);
        json_object_object_add(root, "node_id", json_object_new_string(peer));
        any = true;
    } else if (err != BM_ENOTFOUND) {
        fprintf(stderr, "blockv2 keys show: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    if (!any) {
        fprintf(stderr,
                "blockv2 keys show: no signer.json or node_key.json in "
                "'%s' (run blockv2 init)\n",
                home);
        goto out;
    }
    printf("%s\n", json_object_to_json_string_ext(
                       root, JSON_C_TO_STRING_PRETTY |
                                 JSON_C_TO_STRING_SPACED |
                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    bm_privkey_wipe(&key);
    if (pass != NULL) {
        sodium_memzero(pass, BM_PASSPHRASE_MAX);
        bm_free(pass);
    }
    json_object_put(root);
    bm_free(signer_dir);
    bm_free(signer);
    bm_free(node_key);
    bm_node_config_release(&cfg);
    return rc;
}

int bm_cli_keys(int argc, char **argv)
{
    const char *home = NULL;
    char **args;
    int n = 0, rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "show") != 0) {
        fprintf(stderr, "blockv2 keys: unknown subcommand '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    args = bm_xcalloc((size_t)argc + 1, sizeof(*args));
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            bm_free(args);
            return 0;
        }
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            home = argv[++i];
        } else if (strncmp(argv[i], "--home=", 7) == 0) {
            home = argv[i] + 7;
        } else {
            args[n++] = argv[i];
        }
    }
    if (home == NULL || home[0] == '\0') {
        fprintf(stderr, "blockv2 keys show: --home DIR is required\n");
        rc = 2;
    } else {
        rc = show(home, n, args);
    }
    bm_free(args);
    return rc;
}
