/*
 * Subcommands of the `blockv2` command line. cmd/blockv2.c is a thin
 * dispatcher; each subcommand lives with the subsystem it drives.
 *
 * Each returns the process exit status (0 success, 1 failure, 2 usage).
 * argv[0] is the subcommand name.
 */
#ifndef BM_NODE_CLI_H
#define BM_NODE_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <stdio.h>

/* Parses a decimal uint64 (digits only, no sign or spaces, no overflow)
 * into *out; false otherwise (*out unchanged). Borrows s. */
bool bm_cli_parse_u64(const char *s, uint64_t *out);

/* Options of the offline tools over a home (`store`, `exec`). */
struct bm_cli_home_args {
    const char *home;   /* --home DIR (required); borrows argv */
    bool has_height;
    uint64_t height;    /* --height N */
    bool has_blocks;
    uint64_t blocks;    /* --blocks N / -n N, when allowed */
};

/*
 * Parses argv[2..argc) (after "<command> <subcommand>") into *a (zeroed
 * by the caller). prog ("blockv2 store") prefixes the messages; usage is
 * printed to stderr on an unknown option. Returns 0, or 2 on a usage
 * error (message printed).
 */
int bm_cli_parse_home_args(int argc, char **argv, const char *prog,
                           bool allow_blocks, void (*usage)(FILE *),
                           struct bm_cli_home_args *a);

/* `blockv2 inspect [--type T] [--hex] FILE|-` (src/node/inspect.c). */
int bm_cli_inspect(int argc, char **argv);

/* `blockv2 store inspect|check|rollback --home DIR ...`
 * (src/node/store_cmd.c). */
int bm_cli_store(int argc, char **argv);

/* `blockv2 da serve --listen ADDR --home DIR ...` (src/node/da_cmd.c). */
int bm_cli_da(int argc, char **argv);

/* `blockv2 init --home DIR --chain-id ID | --genesis FILE [flags]`
 * (src/node/init_cmd.c). */
int bm_cli_init(int argc, char **argv);

/* `blockv2 keys show --home DIR [flags]` (src/node/keys_cmd.c). */
int bm_cli_keys(int argc, char **argv);

/* `blockv2 config docs|show [--home DIR] [flags]`
 * (src/node/config_cmd.c). */
int bm_cli_config(int argc, char **argv);

/* `blockv2 start [--dev [--reset]] [--home DIR] [--evnode.* ...]`
 * (src/node/start_cmd.c). */
int bm_cli_start(int argc, char **argv);

/* `blockv2 tx send TX...` and `blockv2 status` (src/node/client_cmd.c). */
int bm_cli_tx(int argc, char **argv);
int bm_cli_status(int argc, char **argv);

/* `blockv2 exec status|rollback --home DIR ...` (src/node/exec_cmd.c). */
int bm_cli_exec(int argc, char **argv);

#endif /* BM_NODE_CLI_H */
