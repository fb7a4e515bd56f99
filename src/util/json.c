/* Strict whole-text JSON parsing, see json.h. */
#include "util/json.h"

#include <ctype.h>
#include <stdint.h>

#include "util/errmsg.h"

enum bm_err bm_json_parse(const char *text, size_t len, int depth,
                          struct json_object **out, struct bm_errmsg *em)
{
    struct json_tokener *tok;
    struct json_object *o;
    enum json_tokener_error jerr;
    size_t end;

    if (len > INT32_MAX) {
        return bm_errf(em, BM_ETOOBIG, "json: %zu bytes is too large", len);
    }
    tok = json_tokener_new_ex(depth);
    if (tok == NULL) {
        return BM_ENOMEM;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (o == NULL && jerr == json_tokener_continue) {
        /* all input consumed: a NUL tells json-c the text ends here (a
         * top-level number needs it; truncated input stays incomplete) */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        if (jerr == json_tokener_success) {
            end = len;
        }
    }
    json_tokener_free(tok);
    if (o == NULL && jerr == json_tokener_success) {
        /* the text was the literal null */
        *out = NULL;
        return BM_OK;
    }
    if (jerr != json_tokener_success) {
        json_object_put(o);
        return bm_errf(em, BM_EPARSE, "json: %s at offset %zu",
                       jerr == json_tokener_continue
                           ? "truncated input"
                           : json_tokener_error_desc(jerr),
                       end);
    }
    for (size_t i = end; i < len; i++) {
        if (!isspace((unsigned char)text[i])) {
            json_object_put(o);
            return bm_errf(em, BM_EPARSE, "json: trailing data at offset %zu",
                           i);
        }
    }
    *out = o;
    return BM_OK;
}
