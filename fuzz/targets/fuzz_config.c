/*
 * Fuzz target: evnode.yaml parsing (bm_node_config_parse_yaml over the
 * defaults, libcyaml underneath) and Go duration parsing. A file that
 * loads must write back (bm_node_config_yaml) to YAML that loads to the
 * same configuration and writes the same bytes (fixed point).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"
#include "node/duration.h"
#include "util/errmsg.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_node_config a, b;
    struct bm_buf y1 = {NULL, 0}, y2 = {NULL, 0};
    struct bm_errmsg em;
    enum bm_err err;

    /* unknown keys are warnings: keep the output quiet */
    bm_log_set_level(BM_LOG_ERROR);
    if (size < 64) {
        char s[64];
        uint64_t ns = 0, back = 0;
        memcpy(s, data, size);
        s[size] = '\0';
        if (bm_duration_parse(s, &ns) == BM_OK) {
            char out[BM_DURATION_STR_SIZE];
            bm_duration_format(ns, out);
            if (bm_duration_parse(out, &back) != BM_OK || back != ns) {
                fprintf(stderr, "duration round trip failed: %s\n", out);
                abort();
            }
        }
    }
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    bm_node_config_defaults(&a);
    bm_node_config_defaults(&b);
    err = bm_node_config_parse_yaml(&a, data, size, "fuzz", NULL, &em);
    if (err != BM_OK) {
        goto out;
    }
    if (bm_node_config_yaml(&a, false, &y1) != BM_OK) {
        goto out;
    }
    err = bm_node_config_parse_yaml(&b, y1.ptr, y1.len, "fuzz2", NULL, &em);
    if (err != BM_OK) {
        fprintf(stderr, "written config does not load: %s\n", em.msg);
        abort();
    }
    if (bm_node_config_yaml(&b, false, &y2) == BM_OK &&
        (y1.len != y2.len || memcmp(y1.ptr, y2.ptr, y1.len) != 0)) {
        fprintf(stderr, "config YAML is not a fixed point\n");
        abort();
    }
out:
    bm_buf_release(&y1);
    bm_buf_release(&y2);
    bm_node_config_release(&a);
    bm_node_config_release(&b);
    return 0;
}
