/*
 * `blockv2 config docs|show`: the configuration reference and the
 * effective configuration of a home (src/node/config.h).
 */
#include "node/cli.h"

#include <stdio.h>
#include <string.h>

#include "node/config.h"
#include "util/alloc.h"
#include "util/errmsg.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blockv2 config docs\n"
            "       blockv2 config show [--home DIR] [--evnode.<key> VALUE "
            "...]\n"
            "\n"
            "  docs   print the configuration reference (markdown table:\n"
            "         key, flag, type, default, description)\n"
            "  show   print the effective configuration as YAML: defaults,\n"
            "         then DIR/config/evnode.yaml, then the flags (secrets\n"
            "         redacted)\n");
}

static int cmd_show(int argc, char **argv)
{
    struct bm_node_config cfg;
    struct bm_errmsg em = {{0}};
    struct bm_buf out = {NULL, 0};
    const char *home = NULL;
    char **args;
    int n = 0, rc = 1;
    enum bm_err err;

    memset(&cfg, 0, sizeof(cfg));
    args = bm_xcalloc((size_t)argc + 1, sizeof(*args));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            home = argv[++i];
        } else if (strncmp(argv[i], "--home=", 7) == 0) {
            home = argv[i] + 7;
        } else {
            args[n++] = argv[i];
        }
    }
    err = bm_node_config_load(&cfg, home, &n, args, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 config show: %s\n", bm_errmsg_str(&em, err));
        goto out;
    }
    if (n > 0) {
        fprintf(stderr, "blockv2 config show: unknown argument '%s'\n",
                args[0]);
        usage(stderr);
        rc = 2;
        goto out;
    }
    err = bm_node_config_yaml(&cfg, true, &out);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 config show: %s\n", bm_strerror(err));
        goto out;
    }
    fwrite(out.ptr, 1, out.len, stdout);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    bm_buf_release(&out);
    bm_node_config_release(&cfg);
    bm_free(args);
    return rc;
}

int bm_cli_config(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "docs") == 0) {
        if (argc > 2) {
            if (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
                usage(stdout);
                return 0;
            }
            fprintf(stderr, "blockv2 config docs: unknown argument '%s'\n",
                    argv[2]);
            return 2;
        }
        bm_node_config_markdown(stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (strcmp(argv[1], "show") == 0) {
        return cmd_show(argc - 1, argv + 1);
    }
    fprintf(stderr, "blockv2 config: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
