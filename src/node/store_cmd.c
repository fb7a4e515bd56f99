/*
 * `blockv2 store inspect|check|rollback --home DIR ...`: operator tools over
 * a node's store (docs/STORE.md). inspect and check open the store
 * read-only (and so refuse to run while a node holds it); rollback opens it
 * read-write.
 */
#include "node/cli.h"

#include <json-c/json.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "blockv2/store.h"
#include "node/inspect.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blockv2 store inspect --home DIR [--height N]\n"
            "       blockv2 store check --home DIR\n"
            "       blockv2 store rollback --home DIR --blocks N\n"
            "\n"
            "  inspect   print the store height, the state and a block (the\n"
            "            tip, or --height N) as JSON\n"
            "  check     verify every store invariant; exit 1 if one fails\n"
            "  rollback  remove the latest N blocks (stop the node first)\n");
}

static int open_store(const struct bm_cli_home_args *a, bool read_only,
                      struct bm_store **s)
{
    struct bm_store_options opt = {.read_only = read_only};
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_store_open(s, a->home, &opt, &em);

    if (err != BM_OK) {
        fprintf(stderr, "blockv2 store: %s\n", bm_errmsg_str(&em, err));
        return 1;
    }
    return 0;
}

/* Decodes bytes with the inspect JSON shapes; NULL on ENOMEM. The JSON
 * object is {"error": ...} when the bytes do not decode. */
static json_object *inspect_json(const struct bm_buf *b,
                                 enum bm_inspect_type t)
{
    char *text = NULL;
    json_object *o;

    (void)bm_inspect_bytes(b->ptr, b->len, t, &text);
    if (text == NULL) {
        return NULL;
    }
    o = json_tokener_parse(text);
    bm_free(text);
    return o;
}

static json_object *hex_json(const struct bm_buf *b)
{
    char *h = bm_hex_dup(b->ptr, b->len);
    json_object *o;

    if (h == NULL) {
        return NULL;
    }
    o = json_object_new_string(h);
    bm_free(h);
    return o;
}

static int cmd_inspect(struct bm_store *s, const struct bm_cli_home_args *a)
{
    struct bm_store_blockbuf blk = {0};
    struct bm_buf st = {0};
    struct bm_errmsg em = {{0}};
    json_object *root = json_object_new_object();
    json_object *block = NULL;
    uint64_t tip = 0, h;
    bool has_tip;
    enum bm_err err;
    int rc = 1;

    if (root == NULL) {
        goto out;
    }
    err = bm_store_height(s, &tip, &em);
    if (err != BM_OK && err != BM_ENOTFOUND) {
        fprintf(stderr, "blockv2 store: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    has_tip = err == BM_OK;
    json_object_object_add(root, "height",
                           has_tip ? json_object_new_uint64(tip) : NULL);
    h = a->has_height ? a->height : tip;
    err = has_tip || a->has_height ? bm_store_get_state(s, h, &st, &em)
                                   : BM_ENOTFOUND;
    if (err == BM_OK) {
        json_object_object_add(root, "state_height",
                               json_object_new_uint64(h));
        json_object_object_add(root, "state",
                               inspect_json(&st, BM_INSPECT_STATE));
    } else if (err == BM_ENOTFOUND) {
        json_object_object_add(root, "state", NULL);
    } else {
        fprintf(stderr, "blockv2 store: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    err = h > 0 ? bm_store_get_block(s, h, &blk, &em) : BM_ENOTFOUND;
    if (err == BM_OK) {
        block = json_object_new_object();
        if (block == NULL) {
            goto out;
        }
        json_object_object_add(block, "height", json_object_new_uint64(h));
        json_object_object_add(block, "header",
                               inspect_json(&blk.header, BM_INSPECT_HEADER));
        json_object_object_add(block, "data",
                               inspect_json(&blk.data, BM_INSPECT_DATA));
        json_object_object_add(block, "signature", hex_json(&blk.signature));
        json_object_object_add(root, "block", block);
    } else if (err == BM_ENOTFOUND) {
        if (a->has_height) {
            fprintf(stderr, "blockv2 store: no block at height %" PRIu64 "\n",
                    h);
            goto out;
        }
        json_object_object_add(root, "block", NULL);
    } else {
        fprintf(stderr, "blockv2 store: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    printf("%s\n", json_object_to_json_string_ext(
                       root, JSON_C_TO_STRING_PRETTY |
                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    rc = 0;
out:
    json_object_put(root);
    bm_store_blockbuf_release(&blk);
    bm_buf_release(&st);
    return rc;
}

static int cmd_check(struct bm_store *s)
{
    struct bm_store_check_report rep;
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_store_check(s, &rep, &em);

    if (err != BM_OK) {
        fprintf(stderr, "blockv2 store check: FAILED: %s\n",
                bm_errmsg_str(&em, err));
        return 1;
    }
    if (rep.empty) {
        printf("ok: empty store\n");
    } else {
        printf("ok: height %" PRIu64 ", %" PRIu64 " blocks (%" PRIu64
               "..%" PRIu64 "), %" PRIu64 " states\n",
               rep.height, rep.n_blocks, rep.base,
               rep.n_blocks ? rep.height : 0, rep.n_states);
    }
    return 0;
}

static int cmd_rollback(struct bm_store *s, const struct bm_cli_home_args *a)
{
    struct bm_errmsg em = {{0}};
    uint64_t h = 0;
    enum bm_err err;

    if (!a->has_blocks) {
        fprintf(stderr, "blockv2 store rollback: --blocks N is required\n");
        return 2;
    }
    err = bm_store_rollback(s, a->blocks, &h, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 store rollback: %s\n",
                bm_errmsg_str(&em, err));
        return 1;
    }
    printf("ok: height %" PRIu64 "\n", h);
    return 0;
}

int bm_cli_store(int argc, char **argv)
{
    struct bm_cli_home_args a = {0};
    struct bm_store *s = NULL;
    const char *sub;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sub = argv[1];
    if (strcmp(sub, "inspect") != 0 && strcmp(sub, "check") != 0 &&
        strcmp(sub, "rollback") != 0) {
        fprintf(stderr, "blockv2 store: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    rc = bm_cli_parse_home_args(argc, argv, "blockv2 store", true, usage,
                                &a);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(sub, "rollback") == 0 && !a.has_blocks) {
        fprintf(stderr, "blockv2 store rollback: --blocks N is required\n");
        return 2;
    }
    rc = open_store(&a, strcmp(sub, "rollback") != 0, &s);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(sub, "inspect") == 0) {
        rc = cmd_inspect(s, &a);
    } else if (strcmp(sub, "check") == 0) {
        rc = cmd_check(s);
    } else {
        rc = cmd_rollback(s, &a);
    }
    bm_store_close(s);
    return rc;
}
