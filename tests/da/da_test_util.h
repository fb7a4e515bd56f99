/* Helpers shared by the DA tests: temp homes and server/client pairs. */
#ifndef BM_TESTS_DA_TEST_UTIL_H
#define BM_TESTS_DA_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/da.h"
#include "util/errmsg.h"

static inline void da_tmp_home(char *out, size_t cap)
{
    const char *t = getenv("TMPDIR");

    snprintf(out, cap, "%s/bm-da-XXXXXX", t != NULL ? t : "/tmp");
    if (mkdtemp(out) == NULL) {
        fail_msg("mkdtemp failed");
    }
}

static inline void da_rm_home(const char *home)
{
    char cmd[1200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    if (system(cmd) != 0) {
        fail_msg("cannot remove %s", home);
    }
}

static inline struct bm_da_server *
da_start(const struct bm_da_server_config *cfg)
{
    struct bm_da_server *s = NULL;
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_da_server_start(&s, cfg, &em);

    if (err != BM_OK) {
        fail_msg("server start: %s", bm_errmsg_str(&em, err));
    }
    return s;
}

static inline struct bm_da_client *da_client(struct bm_da_server *s,
                                             const char *token,
                                             uint32_t timeout_ms)
{
    struct bm_da_client *c = NULL;
    struct bm_errmsg em = {{0}};
    char url[64];
    struct bm_da_client_config cc;

    memset(&cc, 0, sizeof(cc));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u",
             (unsigned)bm_da_server_port(s));
    cc.url = url;
    cc.auth_token = token;
    cc.timeout_ms = timeout_ms;
    enum bm_err err = bm_da_client_new(&c, &cc, &em);
    if (err != BM_OK) {
        fail_msg("client: %s", bm_errmsg_str(&em, err));
    }
    return c;
}

#endif /* BM_TESTS_DA_TEST_UTIL_H */
