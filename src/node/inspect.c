#include "node/cli.h"

#include <stdio.h>

/* Placeholder until the wire types land; replaced by the real decoder. */
int bm_cli_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("{\"error\": \"inspect: not built yet\"}\n", stdout);
    return 1;
}
