/*
 * Strict parsing of one whole JSON text with json-c, shared by every
 * decoder of outside JSON (DA, Engine API). Untrusted input: bounded depth,
 * no trailing bytes except white space, and an error naming the offset.
 */
#ifndef BM_UTIL_JSON_H
#define BM_UTIL_JSON_H

#include <stddef.h>

#include <json-c/json.h>

#include "blockv2/err.h"

struct bm_errmsg;

/*
 * Parses text[0..len) (borrowed; need not be NUL-terminated) as one JSON
 * value nested at most depth deep (json-c's strict mode). On BM_OK *out
 * returns an owned json_object (json_object_put), or NULL for the literal
 * null. Errors: BM_EPARSE ("json: truncated input at offset N", trailing
 * data, json-c's reason), BM_ETOOBIG (above INT32_MAX bytes), BM_ENOMEM.
 */
enum bm_err bm_json_parse(const char *text, size_t len, int depth,
                          struct json_object **out, struct bm_errmsg *em);

#endif /* BM_UTIL_JSON_H */
