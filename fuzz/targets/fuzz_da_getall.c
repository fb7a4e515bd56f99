/*
 * The blob.GetAll scanner of the DA client (src/da/da_json.c,
 * bm__da_scan_get_all): a raw HTTP body from a possibly hostile DA node.
 * Must never crash or leak, and whenever it decodes a body, the json-c
 * decoder must decode the same body to the same blobs (a differential
 * check: abort on any difference). The id expected is 1, as in the seeds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "getall_equiv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (getall_equiv((const char *)data, size, 1) == GETALL_DIFFERENT) {
        fprintf(stderr, "fuzz_da_getall: the scanner and the json-c "
                        "decoder disagree\n");
        abort();
    }
    return 0;
}
