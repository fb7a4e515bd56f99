/*
 * `blockv2 exec status|rollback --home DIR ...`: operator tools over the
 * KV executor's state in <home>/data/kv (docs/EXECUTION.md, "Replay and
 * rollback").
 *
 *  - status prints the executor's height, final height, pair count, state
 *    root, the lowest height it can roll back to and its map size as JSON,
 *    with the store height when the store can be opened (node stopped).
 *  - rollback brings the executor back to --height (default: the store
 *    height), the repair the node names when it refuses to start with an
 *    executor ahead of its store. It opens the store read-only first, so
 *    it refuses to run while a node holds the home. Within the undo
 *    records (the last heights the executor keeps) the heights are undone;
 *    deeper, the executor is reset to genesis and the node replays every
 *    stored block at its next start.
 */
#include "node/cli.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "blockv2/store.h"
#include "exec/kv/kv.h"
#include "node/config.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blockv2 exec status --home DIR\n"
            "       blockv2 exec rollback --home DIR [--height N]\n"
            "\n"
            "  status    print the KV executor's height, final height, "
            "pairs,\n"
            "            root and how far it can roll back, as JSON\n"
            "  rollback  roll the executor back to height N (default: the "
            "store\n"
            "            height; stop the node first)\n");
}

/* Opens <home>/data/kv, which must exist. Returns 0 or 1 (printed). */
static int open_kv(const char *home, struct bm_kv **kv)
{
    struct bm_errmsg em = {{0}};
    struct stat sb;
    char *dir = bm_node_path(home, "data/kv");
    int err;

    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        struct bm_node_config cfg;

        memset(&cfg, 0, sizeof(cfg));
        if (bm_node_config_load(&cfg, home, NULL, NULL, NULL) == BM_OK &&
            strcmp(cfg.node_executor, "evm") == 0) {
            fprintf(stderr, "blockv2 exec: '%s' runs the EVM executor: its "
                            "state is the execution client's, which the "
                            "node brings to the store height by itself at "
                            "start (replay, or rollback on the same chain)\n",
                    home);
        } else {
            fprintf(stderr, "blockv2 exec: no executor state in '%s'\n",
                    dir);
        }
        bm_node_config_release(&cfg);
        bm_free(dir);
        return 1;
    }
    err = bm_kv_open(kv, dir, NULL, &em);
    bm_free(dir);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 exec: %s\n", bm_errmsg_str(&em, err));
        return 1;
    }
    return 0;
}

/* The store height of home, opened read-only (refused while a node runs).
 * Returns BM_OK, BM_ENOTFOUND (no block yet) or the open error. */
static int store_height(const char *home, uint64_t *out,
                        struct bm_errmsg *em)
{
    struct bm_store_options opt = {.read_only = true};
    struct bm_store *s = NULL;
    int err = bm_store_open(&s, home, &opt, em);

    if (err != BM_OK) {
        return err;
    }
    err = bm_store_height(s, out, em);
    bm_store_close(s);
    return err;
}

static int cmd_status(const struct bm_cli_home_args *a)
{
    struct bm_errmsg em = {{0}};
    struct bm_kv *kv = NULL;
    struct bm_kv_status st;
    uint64_t floor = 0, sh = 0;
    char root[2 * BM_HASH_SIZE + 1];
    int err, rc;

    rc = open_kv(a->home, &kv);
    if (rc != 0) {
        return rc;
    }
    bm_kv_status(kv, &st);
    err = bm_kv_rollback_floor(kv, &floor, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 exec: %s\n", bm_errmsg_str(&em, err));
        bm_kv_free(kv);
        return 1;
    }
    bm_hex_encode(root, st.root.b, BM_HASH_SIZE);
    root[2 * BM_HASH_SIZE] = '\0';
    printf("{\"initialised\": %s, \"height\": %" PRIu64
           ", \"final_height\": %" PRIu64 ", \"pairs\": %" PRIu64
           ", \"root\": \"%s\", \"rollback_floor\": %" PRIu64
           ", \"map_size\": %zu, \"store_height\": ",
           st.initialised ? "true" : "false", st.height, st.final_height,
           st.n_pairs, root, floor, bm_kv_map_size(kv));
    bm_kv_free(kv);
    if (store_height(a->home, &sh, &em) == BM_OK) {
        printf("%" PRIu64 "}\n", sh);
    } else {
        printf("null}\n");
    }
    return 0;
}

static int cmd_rollback(const struct bm_cli_home_args *a)
{
    struct bm_errmsg em = {{0}};
    struct bm_kv *kv = NULL;
    struct bm_kv_status st;
    uint64_t sh = 0, target, floor = 0;
    int err, rc;

    err = store_height(a->home, &sh, &em);
    if (err == BM_ELOCKED) {
        fprintf(stderr, "blockv2 exec rollback: a node is running on %s; "
                        "stop it first\n", a->home);
        return 1;
    }
    if (err != BM_OK && !(err == BM_ENOTFOUND && a->has_height)) {
        fprintf(stderr, "blockv2 exec rollback: store: %s\n",
                bm_errmsg_str(&em, err));
        return 1;
    }
    target = a->has_height ? a->height : sh;
    if (err == BM_OK && target > sh) {
        fprintf(stderr, "blockv2 exec rollback: height %" PRIu64 " is above "
                        "the store height %" PRIu64 "; the node would refuse "
                        "to start\n", target, sh);
        return 1;
    }
    rc = open_kv(a->home, &kv);
    if (rc != 0) {
        return rc;
    }
    bm_kv_status(kv, &st);
    if (!st.initialised) {
        printf("ok: the executor has no state yet\n");
        bm_kv_free(kv);
        return 0;
    }
    if (st.height <= target) {
        printf("ok: executor at height %" PRIu64 ", not above %" PRIu64
               "; nothing to roll back (the node replays the missing blocks "
               "at start)\n", st.height, target);
        bm_kv_free(kv);
        return 0;
    }
    err = bm_kv_rollback(kv, target, &em);
    if (err == BM_ENOTFOUND) {
        (void)bm_kv_rollback_floor(kv, &floor, NULL);
        printf("executor undo records reach back to height %" PRIu64
               " only; resetting it to genesis\n", floor);
        err = bm_kv_reset(kv, &em);
        if (err == BM_OK) {
            bm_kv_status(kv, &st);
            printf("ok: executor reset to height %" PRIu64 "; the node "
                   "replays blocks %" PRIu64 "..%" PRIu64 " from the store "
                   "at its next start\n", st.height, st.height + 1, target);
        }
    } else if (err == BM_OK) {
        printf("ok: executor rolled back from height %" PRIu64 " to %" PRIu64
               "\n", st.height, target);
    }
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 exec rollback: %s\n",
                bm_errmsg_str(&em, err));
    }
    bm_kv_free(kv);
    return err == BM_OK ? 0 : 1;
}

int bm_cli_exec(int argc, char **argv)
{
    struct bm_cli_home_args a = {0};
    const char *sub;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sub = argv[1];
    if (strcmp(sub, "status") != 0 && strcmp(sub, "rollback") != 0) {
        fprintf(stderr, "blockv2 exec: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    rc = bm_cli_parse_home_args(argc, argv, "blockv2 exec", false, usage,
                                &a);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(sub, "status") == 0) {
        if (a.has_height) {
            fprintf(stderr, "blockv2 exec status: --height is not an "
                            "option of status\n");
            return 2;
        }
        return cmd_status(&a);
    }
    return cmd_rollback(&a);
}
