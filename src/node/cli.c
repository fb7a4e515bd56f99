/* Helpers shared by the `blockv2` subcommands, see cli.h. */
#include "node/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool bm_cli_parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* One numeric option: 0, or 2 after a message. */
static int num_opt(const char *prog, const char *name, const char *v,
                   uint64_t *out, bool *has)
{
    if (!bm_cli_parse_u64(v, out)) {
        fprintf(stderr, "%s: %s: not a number: '%s'\n", prog, name, v);
        return 2;
    }
    *has = true;
    return 0;
}

int bm_cli_parse_home_args(int argc, char **argv, const char *prog,
                           bool allow_blocks, void (*usage)(FILE *),
                           struct bm_cli_home_args *a)
{
    for (int i = 2; i < argc; i += 2) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;

        if (strcmp(o, "--home") == 0 && v != NULL) {
            a->home = v;
        } else if (strcmp(o, "--height") == 0 && v != NULL) {
            rc = num_opt(prog, "--height", v, &a->height, &a->has_height);
        } else if (allow_blocks &&
                   (strcmp(o, "--blocks") == 0 || strcmp(o, "-n") == 0) &&
                   v != NULL) {
            rc = num_opt(prog, "--blocks", v, &a->blocks, &a->has_blocks);
        } else {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", prog,
                    o);
            usage(stderr);
            rc = 2;
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (a->home == NULL) {
        fprintf(stderr, "%s: --home DIR is required\n", prog);
        return 2;
    }
    return 0;
}
