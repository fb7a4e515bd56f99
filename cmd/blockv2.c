/*
 * blockv2: the node's command line. Thin by design: it dispatches to the
 * subcommands in src/node/ and owns nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "bm_config.h"
#include "node/cli.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("blockv2 %s\n", BM_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
#ifdef BM_HAVE_START_CMD
    {"start", bm_cli_start,
     "run the node (start --dev: a local chain with built-in DA)"},
#endif
#ifdef BM_HAVE_CLIENT_CMD
    {"tx", bm_cli_tx, "send txs to a running node (tx send k=v)"},
    {"status", bm_cli_status, "print a running node's status"},
#endif
    {"inspect", bm_cli_inspect,
     "decode one header/envelope/data/state object and print it as JSON"},
#ifdef BM_HAVE_STORE_CMD
    {"store", bm_cli_store, "inspect, check or roll back a node's store"},
#endif
#ifdef BM_HAVE_EXEC_CMD
    {"exec", bm_cli_exec,
     "show or roll back the KV executor's state (exec status|rollback)"},
#endif
#ifdef BM_HAVE_DA_CMD
    {"da", bm_cli_da, "run the built-in local DA server (da serve)"},
#endif
#ifdef BM_HAVE_INIT_CMD
    {"init", bm_cli_init,
     "create a node home: config, genesis, signer and node keys"},
#endif
#ifdef BM_HAVE_KEYS_CMD
    {"keys", bm_cli_keys, "show the signer address and node ID (keys show)"},
#endif
#ifdef BM_HAVE_CONFIG_CMD
    {"config", bm_cli_config,
     "print the config reference (docs) or a home's config (show)"},
#endif
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show help for a command"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: blockv2 <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\nrun 'blockv2 help <command>' for a command's options\n");
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) == 0 &&
            commands[i].fn != cmd_help) {
            char *args[] = {argv[1], (char *)"--help", NULL};
            return commands[i].fn(2, args);
        }
    }
    fprintf(stderr, "blockv2: unknown command '%s'\n", argv[1]);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        return cmd_version(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "blockv2: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
