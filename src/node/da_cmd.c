/*
 * `blockv2 da serve`: runs the local DA server (src/da/server.c) until
 * SIGINT or SIGTERM.
 */
#include "node/cli.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/da.h"
#include "util/errmsg.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blockv2 da serve --home DIR [options]\n"
            "\n"
            "Serves the celestia-node blob/header JSON-RPC API (blob.Submit,\n"
            "GetAll, Get, GetProof, Included, header.GetByHeight,\n"
            "NetworkHead, LocalHead) with blobs kept in DIR/da/ (LMDB).\n"
            "\n"
            "options:\n"
            "  --listen HOST:PORT    address (default 127.0.0.1:7980; port 0 "
            "= any)\n"
            "  --home DIR            data directory (required)\n"
            "  --block-time D        empty DA block every D (default 1s; 0 = "
            "off)\n"
            "  --max-blob-size N     largest blob in bytes (default 1974272)\n"
            "  --auth-token T        require 'Authorization: Bearer T'\n"
            "  --fail-rate P         answer a fraction P of calls with an "
            "error\n"
            "  --latency D           delay every answer by D\n"
            "  --outage-after N      after N calls, drop connections ...\n"
            "  --outage-for D        ... for D (default 10s)\n"
            "  --outage-errors       answer with errors during the outage\n"
            "  --empty-mode M        GetAll on an empty height: notfound "
            "(default),\n"
            "                        null or empty (celestia-node's forms)\n"
            "  --numeric-heights     header heights as JSON numbers\n"
            "durations: 250ms, 1s, 2m (a bare number is seconds)\n");
}

/* Parses "250ms", "1.5s", "2m", "3" (seconds) into milliseconds. */
static int parse_duration(const char *s, uint32_t *ms)
{
    char *end = NULL;
    double v, mult = 1000;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || !(v >= 0)) {
        return -1;
    }
    if (strcmp(end, "ms") == 0) {
        mult = 1;
    } else if (strcmp(end, "s") == 0 || *end == '\0') {
        mult = 1000;
    } else if (strcmp(end, "m") == 0) {
        mult = 60000;
    } else {
        return -1;
    }
    v *= mult;
    if (v > 86400000.0) {
        return -1;
    }
    *ms = (uint32_t)v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int serve(int argc, char **argv)
{
    struct bm_da_server_config cfg;
    struct bm_da_server *s = NULL;
    struct bm_errmsg em = {{0}};
    char host[256] = "127.0.0.1";
    uint64_t port = 7980, u;
    sigset_t set;
    int sig = 0;
    enum bm_err err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.block_time_ms = 1000;
    cfg.outage_for_ms = 10000;
    for (int i = 1; i < argc;) {
        const char *a = argv[i++];
        const char *v = i < argc ? argv[i] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--numeric-heights") == 0) {
            cfg.heights_as_numbers = true;
            continue;
        }
        if (strcmp(a, "--outage-errors") == 0) {
            cfg.outage_errors = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "blockv2 da serve: %s needs a value\n", a);
            return 2;
        }
        i++; /* the value */
        if (strcmp(a, "--listen") == 0) {
            const char *colon = strrchr(v, ':');
            if (colon == NULL || (size_t)(colon - v) >= sizeof(host) ||
                parse_u64(colon + 1, &port) != 0 || port > 65535) {
                fprintf(stderr, "blockv2 da serve: --listen: want "
                                "HOST:PORT\n");
                return 2;
            }
            memcpy(host, v, (size_t)(colon - v));
            host[colon - v] = '\0';
        } else if (strcmp(a, "--home") == 0) {
            cfg.home = v;
        } else if (strcmp(a, "--block-time") == 0) {
            if (parse_duration(v, &cfg.block_time_ms) != 0) {
                fprintf(stderr, "blockv2 da serve: --block-time: bad "
                                "duration '%s'\n",
                        v);
                return 2;
            }
        } else if (strcmp(a, "--max-blob-size") == 0) {
            if (parse_u64(v, &u) != 0 || u == 0 || u > (1u << 28)) {
                fprintf(stderr, "blockv2 da serve: --max-blob-size: want "
                                "1..268435456\n");
                return 2;
            }
            cfg.max_blob_size = (size_t)u;
        } else if (strcmp(a, "--auth-token") == 0) {
            cfg.auth_token = v;
        } else if (strcmp(a, "--fail-rate") == 0) {
            char *end = NULL;
            cfg.fail_rate = strtod(v, &end);
            if (end == v || *end != '\0' || !(cfg.fail_rate >= 0) ||
                cfg.fail_rate > 1) {
                fprintf(stderr, "blockv2 da serve: --fail-rate: want "
                                "0..1\n");
                return 2;
            }
        } else if (strcmp(a, "--latency") == 0) {
            if (parse_duration(v, &cfg.latency_ms) != 0) {
                fprintf(stderr, "blockv2 da serve: --latency: bad duration "
                                "'%s'\n",
                        v);
                return 2;
            }
        } else if (strcmp(a, "--outage-after") == 0) {
            if (parse_u64(v, &u) != 0 || u > UINT32_MAX) {
                fprintf(stderr, "blockv2 da serve: --outage-after: want a "
                                "count\n");
                return 2;
            }
            cfg.outage_after = (uint32_t)u;
        } else if (strcmp(a, "--outage-for") == 0) {
            if (parse_duration(v, &cfg.outage_for_ms) != 0) {
                fprintf(stderr, "blockv2 da serve: --outage-for: bad "
                                "duration '%s'\n",
                        v);
                return 2;
            }
        } else if (strcmp(a, "--empty-mode") == 0) {
            if (strcmp(v, "notfound") == 0) {
                cfg.empty_mode = BM_DA_EMPTY_NOT_FOUND;
            } else if (strcmp(v, "null") == 0) {
                cfg.empty_mode = BM_DA_EMPTY_NULL;
            } else if (strcmp(v, "empty") == 0) {
                cfg.empty_mode = BM_DA_EMPTY_LIST;
            } else {
                fprintf(stderr, "blockv2 da serve: --empty-mode: want "
                                "notfound, null or empty\n");
                return 2;
            }
        } else {
            fprintf(stderr, "blockv2 da serve: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (cfg.home == NULL) {
        fprintf(stderr, "blockv2 da serve: --home is required\n");
        return 2;
    }
    cfg.listen_host = host;
    cfg.port = (uint16_t)port;
    /* block the signals before the server threads start, so only
     * sigwait() below receives them */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    err = bm_da_server_start(&s, &cfg, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 da serve: %s\n", bm_errmsg_str(&em, err));
        return 1;
    }
    printf("listening on %s:%u\n", host, (unsigned)bm_da_server_port(s));
    fflush(stdout);
    sigwait(&set, &sig);
    bm_da_server_stop(s);
    return 0;
}

int bm_cli_da(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0) {
        return serve(argc - 1, argv + 1);
    }
    fprintf(stderr, "blockv2 da: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
