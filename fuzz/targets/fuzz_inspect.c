/*
 * Fuzz target: the `blockv2 inspect` core on untrusted bytes. The first
 * byte picks the --type (auto and every explicit type); the output must
 * be a JSON object with either "type" or "error".
 */
#include "fuzz_common.h"

#include <json-c/json.h>

#include "node/inspect.h"
#include "util/alloc.h"

#define N_TYPES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum bm_inspect_type t = BM_INSPECT_AUTO;
    struct json_object *o;
    char *json = NULL;
    enum bm_err err;

    if (size > 0) {
        t = (enum bm_inspect_type)(data[0] % N_TYPES);
        data++;
        size--;
    }
    err = bm_inspect_bytes(data, size, t, &json);
    if (json == NULL) {
        if (err != BM_ENOMEM) {
            fuzz_fail("inspect", "no JSON produced", err);
        }
        return 0;
    }
    o = json_tokener_parse(json);
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, err == BM_OK ? "type" : "error",
                                   NULL)) {
        fprintf(stderr, "%s\n", json);
        fuzz_fail("inspect", "output is not the expected JSON object", err);
    }
    json_object_put(o);
    bm_free(json);
    return 0;
}
