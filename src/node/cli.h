/*
 * Subcommands of the `blockv2` command line. cmd/blockv2.c is a thin
 * dispatcher; each subcommand lives with the subsystem it drives.
 *
 * Each returns the process exit status (0 success, 1 failure, 2 usage).
 * argv[0] is the subcommand name.
 */
#ifndef BM_NODE_CLI_H
#define BM_NODE_CLI_H

/* `blockv2 inspect [--type T] [--hex] FILE|-` (src/node/inspect.c). */
int bm_cli_inspect(int argc, char **argv);

/* `blockv2 store inspect|check|rollback --home DIR ...`
 * (src/node/store_cmd.c). */
int bm_cli_store(int argc, char **argv);

/* `blockv2 da serve --listen ADDR --home DIR ...` (src/node/da_cmd.c). */
int bm_cli_da(int argc, char **argv);

#endif /* BM_NODE_CLI_H */
