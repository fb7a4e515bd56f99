/*
 * Client commands that talk to a running node's RPC:
 *   blockv2 tx send [--rpc URL] TX...   POST /tx (one request per tx)
 *   blockv2 status [--json] [--rpc URL] GET /status, as a summary for
 *                                       people (node/status_view.h) or,
 *                                       with --json, as the JSON itself
 * The RPC address defaults to rpc.address of the home's config
 * (--home DIR; default ./.blockv2-dev if it exists, else $HOME/.blockv2),
 * else 127.0.0.1:7331.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "blockv2/buf.h"
#include "node/cli.h"
#include "node/config.h"
#include "node/status_view.h"
#include "util/clock.h"
#include "util/curl_body.h"
#include "util/curl_init.h"
#include "util/errmsg.h"

#define MAX_REPLY (1u << 20)

struct reply {
    struct bm_dynbuf body;
};

/* Resolves the RPC base URL from --rpc, the home's config, or the
 * default. Writes into url. */
static void resolve_url(const char *rpc, const char *home, char *url,
                        size_t len)
{
    struct bm_node_config cfg = {0};
    struct stat st;
    const char *addr = "127.0.0.1:7331";
    char def[1024];
    char *noargs[1] = {NULL};
    int ac = 0;

    if (rpc != NULL) {
        snprintf(url, len, "%s%s",
                 strncmp(rpc, "http", 4) == 0 ? "" : "http://", rpc);
        return;
    }
    if (home == NULL) {
        const char *h = getenv("HOME");

        if (stat(".blockv2-dev/config", &st) == 0) {
            home = ".blockv2-dev";
        } else {
            snprintf(def, sizeof(def), "%s/.blockv2", h ? h : ".");
            home = def;
        }
    }
    if (bm_node_config_load(&cfg, home, &ac, noargs, NULL) == BM_OK &&
        cfg.rpc_address != NULL && cfg.rpc_address[0] != '\0') {
        addr = cfg.rpc_address;
    }
    snprintf(url, len, "http://%s%s", addr[0] == ':' ? "127.0.0.1" : "",
             addr);
    bm_node_config_release(&cfg);
}

/* One HTTP request; returns the HTTP status or -1 (message printed). */
static long request(const char *url, const char *body, size_t body_len,
                    struct reply *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    long status = -1;
    CURLcode cc;

    if (c == NULL) {
        fprintf(stderr, "blockv2: cannot initialise libcurl\n");
        return -1;
    }
    bm_dynbuf_init(&r->body, MAX_REPLY);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bm_curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "blockv2: %s: %s (is the node running?)\n", url,
                curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return status;
}

static void print_body(FILE *f, struct reply *r)
{
    fwrite(r->body.ptr, 1, r->body.len, f);
    if (r->body.len == 0 || r->body.ptr[r->body.len - 1] != '\n') {
        fputc('\n', f);
    }
}

/* Parses --rpc URL / --home DIR; returns the index of the first other
 * argument. */
static int common_flags(int argc, char **argv, int i, const char **rpc,
                        const char **home)
{
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--rpc") == 0 && i + 1 < argc) {
            *rpc = argv[++i];
        } else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            *home = argv[++i];
        } else {
            break;
        }
    }
    return i;
}

int bm_cli_tx(int argc, char **argv)
{
    const char *rpc = NULL, *home = NULL;
    char base[512], url[600];
    int i, failed = 0;

    if (argc < 2 || strcmp(argv[1], "send") != 0) {
        FILE *f = argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout
                                                                 : stderr;

        fprintf(f, "usage: blockv2 tx send [--rpc HOST:PORT] [--home DIR] "
                   "TX...\n"
                   "  sends each TX (for the KV app: key=value) to the node's "
                   "POST /tx\n"
                   "  and prints the node's answer (the tx hash) as JSON.\n");
        return f == stdout ? 0 : 2;
    }
    i = common_flags(argc, argv, 2, &rpc, &home);
    if (i >= argc) {
        fprintf(stderr, "blockv2 tx send: no tx given (e.g. k=v)\n");
        return 2;
    }
    resolve_url(rpc, home, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/tx", base);
    (void)bm_curl_init(); /* a failure shows as a failed request */
    for (; i < argc; i++) {
        struct reply r;
        long st = request(url, argv[i], strlen(argv[i]), &r);

        if (st < 0) {
            failed++;
        } else {
            print_body(st >= 200 && st < 300 ? stdout : stderr, &r);
            if (st < 200 || st >= 300) {
                failed++;
            }
        }
        bm_dynbuf_release(&r.body);
    }
    curl_global_cleanup();
    return failed ? 1 : 0;
}

/* Prints the summary of a /status body; falls back to the JSON itself
 * (and fails) if it cannot be read. */
static int print_summary(struct reply *r)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf text = {NULL, 0};
    enum bm_err err;

    /* Wall time: the view shows the age of the last block's timestamp. */
    err = bm_status_view_render(r->body.ptr, r->body.len, bm_clock_wall_ns(),
                                &text, &em);
    if (err != BM_OK) {
        fprintf(stderr, "blockv2 status: %s\n", bm_errmsg_str(&em, err));
        print_body(stderr, r);
        return 1;
    }
    fwrite(text.ptr, 1, text.len, stdout);
    bm_buf_release(&text);
    return 0;
}

int bm_cli_status(int argc, char **argv)
{
    const char *rpc = NULL, *home = NULL;
    char base[512], url[600];
    struct reply r;
    bool json = false;
    long st;
    int i, rc = 1;

    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: blockv2 status [--json] [--rpc HOST:PORT] "
               "[--home DIR]\n"
               "  a summary of the node's GET /status: chain, heights, DA "
               "lag, last\n"
               "  block age, peers, breakers, and the actors with queued "
               "messages,\n"
               "  drops or restarts. --json prints the JSON itself.\n");
        return 0;
    }
    i = 1;
    for (;;) {
        int next = common_flags(argc, argv, i, &rpc, &home);

        if (next < argc && strcmp(argv[next], "--json") == 0) {
            json = true;
            i = next + 1;
            continue;
        }
        i = next;
        break;
    }
    if (i < argc) {
        fprintf(stderr, "blockv2 status: unexpected argument '%s'\n",
                argv[i]);
        return 2;
    }
    resolve_url(rpc, home, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/status", base);
    (void)bm_curl_init(); /* a failure shows as a failed request */
    st = request(url, NULL, 0, &r);
    if (st == 200) {
        if (json) {
            print_body(stdout, &r);
            rc = 0;
        } else {
            rc = print_summary(&r);
        }
    } else if (st >= 0) {
        print_body(stderr, &r);
    }
    bm_dynbuf_release(&r.body);
    curl_global_cleanup();
    return rc;
}
