#include "keys/keyio.h"

#include "util/alloc.h"

#include <json-c/json.h>
#include <sodium.h>

#include <stdio.h>
#include <string.h>

#define JSON_MAX_DEPTH 16
#define FLAG_NEG 1u
#define FLAG_OVF 2u

const char *bm__keyio_name(const char *name)
{
    return name != NULL ? name : "<input>";
}

/* ---- JSON ---- */

static void flag_key(struct bm__json_doc *doc, const uint8_t *kp, size_t kn,
                     bool escaped, unsigned flags, bool *table_full)
{
    char key[64];
    size_t klen;

    if (escaped) {
        /* Let json-c unescape the key text (it is valid JSON). */
        struct json_object *s;
        char raw[256];
        if (kn + 3 > sizeof(raw)) {
            return; /* longer than any key we read */
        }
        raw[0] = '"';
        memcpy(raw + 1, kp, kn);
        raw[kn + 1] = '"';
        raw[kn + 2] = '\0';
        s = json_tokener_parse(raw);
        if (s == NULL || !json_object_is_type(s, json_type_string) ||
            (size_t)json_object_get_string_len(s) >= sizeof(key)) {
            json_object_put(s);
            return;
        }
        klen = (size_t)json_object_get_string_len(s);
        memcpy(key, json_object_get_string(s), klen);
        json_object_put(s);
    } else {
        if (kn >= sizeof(key)) {
            return;
        }
        memcpy(key, kp, kn);
        klen = kn;
    }
    key[klen] = '\0';
    for (unsigned i = 0; i < doc->n_flagged; i++) {
        if (strcmp(doc->flagged[i].key, key) == 0) {
            doc->flagged[i].flags |= (uint8_t)flags;
            return;
        }
    }
    if (doc->n_flagged == sizeof(doc->flagged) / sizeof(doc->flagged[0])) {
        *table_full = true;
        return;
    }
    memcpy(doc->flagged[doc->n_flagged].key, key, klen + 1);
    doc->flagged[doc->n_flagged].flags = (uint8_t)flags;
    doc->n_flagged++;
}

static unsigned classify_int(const uint8_t *p, size_t n)
{
    unsigned flags = 0;
    uint64_t v = 0;
    size_t i = 0;

    if (n > 0 && p[0] == '-') {
        flags |= FLAG_NEG;
        i = 1;
    }
    for (size_t j = i; j < n; j++) {
        if (p[j] == '.' || p[j] == 'e' || p[j] == 'E') {
            return 0; /* json-c types it double; the getter refuses it */
        }
    }
    for (; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (d > 9) {
            return flags;
        }
        if (__builtin_mul_overflow(v, 10u, &v) ||
            __builtin_add_overflow(v, d, &v)) {
            flags |= FLAG_OVF;
            break;
        }
    }
    return flags;
}

/*
 * Walks valid JSON text and flags top-level members whose value is an
 * integer literal that json-c would clamp or fold (negative, > 2^64-1).
 * Returns false if too many members were flagged to remember.
 */
static bool prescan(struct bm__json_doc *doc, const uint8_t *p, size_t n)
{
    const uint8_t *key = NULL;
    size_t key_len = 0, i = 0;
    bool key_esc = false, expect_key = false, full = false;
    int depth = 0;

    while (i < n) {
        uint8_t c = p[i];
        if (c == '"') {
            size_t start = ++i;
            bool esc = false;
            while (i < n && p[i] != '"') {
                if (p[i] == '\\') {
                    esc = true;
                    i++;
                }
                i++;
            }
            if (i > n) {
                i = n;
            }
            if (depth == 1 && expect_key) {
                key = p + start;
                key_len = i - start;
                key_esc = esc;
                expect_key = false;
            }
            i++;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
            if (depth == 1 && c == '{') {
                expect_key = true;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = true;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < n && p[i] != '\0' &&
                   strchr("+-0123456789.eE", p[i]) != NULL) {
                i++;
            }
            if (depth == 1 && key != NULL) {
                unsigned flags = classify_int(p + start, i - start);
                if (flags != 0) {
                    flag_key(doc, key, key_len, key_esc, flags, &full);
                }
            }
            continue;
        }
        i++;
    }
    return !full;
}

enum bm_err bm__json_doc_parse(struct bm__json_doc *doc, const char *what,
                               const char *name, const uint8_t *p, size_t n,
                               size_t max, struct bm_errmsg *em)
{
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    enum json_tokener_error jerr;
    size_t end;
    int err = BM_OK;

    memset(doc, 0, sizeof(*doc));
    doc->what = what;
    doc->name = bm__keyio_name(name);
    if (n > max) {
        return bm_errf(em, BM_ETOOBIG, "%s '%s': %zu bytes, above the %zu "
                       "byte limit", what, doc->name, n, max);
    }
    if (n > (size_t)INT32_MAX) {
        return bm_errf(em, BM_ETOOBIG, "%s '%s': input too large", what,
                       doc->name);
    }
    if (n == 0) {
        return bm_errf(em, BM_EPARSE, "%s '%s': empty file, want a JSON "
                       "object", what, doc->name);
    }
    tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (tok == NULL) {
        return bm_errf(em, BM_ENOMEM, "%s '%s': out of memory", what,
                       doc->name);
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                    JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, (const char *)p, (int)n);
    jerr = json_tokener_get_error(tok);
    if (root == NULL || jerr != json_tokener_success) {
        const char *why = jerr == json_tokener_continue
                              ? "unexpected end of input"
                              : json_tokener_error_desc(jerr);
        err = bm_errf(em, BM_EPARSE, "%s '%s': not valid JSON: %s at byte "
                      "%zu", what, doc->name, why,
                      json_tokener_get_parse_end(tok));
        goto out;
    }
    end = json_tokener_get_parse_end(tok);
    for (size_t i = end; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
            err = bm_errf(em, BM_EPARSE, "%s '%s': not valid JSON: trailing "
                          "data at byte %zu", what, doc->name, i);
            goto out;
        }
    }
    if (!json_object_is_type(root, json_type_object)) {
        err = bm_errf(em, BM_EPARSE, "%s '%s': want a JSON object, got %s",
                      what, doc->name,
                      json_type_to_name(json_object_get_type(root)));
        goto out;
    }
    if (!prescan(doc, p, n)) {
        err = bm_errf(em, BM_EPARSE, "%s '%s': too many out-of-range "
                      "numbers", what, doc->name);
        goto out;
    }
    doc->root = root;
    root = NULL;
out:
    json_object_put(root);
    json_tokener_free(tok);
    return err;
}

void bm__json_doc_release(struct bm__json_doc *doc)
{
    json_object_put(doc->root);
    memset(doc, 0, sizeof(*doc));
}

static struct json_object *lookup(const struct bm__json_doc *doc,
                                  const char *key)
{
    struct json_object *v = NULL;

    if (doc->root == NULL ||
        !json_object_object_get_ex(doc->root, key, &v) || v == NULL ||
        json_object_is_type(v, json_type_null)) {
        return NULL;
    }
    return v;
}

static const char *type_desc(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
        return "a fractional number";
    case json_type_int:
        return "a number";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    default:
        return "null";
    }
}

enum bm_err bm__json_get_u64(const struct bm__json_doc *doc, const char *key,
                             int bad, bool *present, uint64_t *out,
                             struct bm_errmsg *em)
{
    struct json_object *v = lookup(doc, key);
    unsigned flags = 0;

    if (present != NULL) {
        *present = false;
    }
    if (v == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(v, json_type_int)) {
        return bm_errf(em, bad, "%s '%s': %s: want an unsigned integer, got "
                       "%s", doc->what, doc->name, key, type_desc(v));
    }
    for (unsigned i = 0; i < doc->n_flagged; i++) {
        if (strcmp(doc->flagged[i].key, key) == 0) {
            flags = doc->flagged[i].flags;
        }
    }
    if ((flags & FLAG_NEG) != 0 || json_object_get_int64(v) < 0) {
        return bm_errf(em, bad, "%s '%s': %s: must not be negative",
                       doc->what, doc->name, key);
    }
    if ((flags & FLAG_OVF) != 0) {
        return bm_errf(em, bad, "%s '%s': %s: above 18446744073709551615",
                       doc->what, doc->name, key);
    }
    *out = json_object_get_uint64(v);
    if (present != NULL) {
        *present = true;
    }
    return BM_OK;
}

enum bm_err bm__json_get_str(const struct bm__json_doc *doc, const char *key,
                             int bad, size_t max, bool *present, char **out,
                             struct bm_errmsg *em)
{
    struct json_object *v = lookup(doc, key);
    const char *s;
    size_t len;
    char *copy;

    if (present != NULL) {
        *present = false;
    }
    if (v == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return bm_errf(em, bad, "%s '%s': %s: want a string, got %s",
                       doc->what, doc->name, key, type_desc(v));
    }
    s = json_object_get_string(v);
    len = (size_t)json_object_get_string_len(v);
    if (len > max) {
        return bm_errf(em, bad, "%s '%s': %s: %zu bytes, above the %zu byte "
                       "limit", doc->what, doc->name, key, len, max);
    }
    if (memchr(s, '\0', len) != NULL) {
        return bm_errf(em, bad, "%s '%s': %s: contains a NUL character",
                       doc->what, doc->name, key);
    }
    copy = bm_strndup(s, len);
    if (copy == NULL) {
        return bm_errf(em, BM_ENOMEM, "%s '%s': out of memory", doc->what,
                       doc->name);
    }
    bm_free(*out);
    *out = copy;
    if (present != NULL) {
        *present = true;
    }
    return BM_OK;
}

enum bm_err bm__json_get_b64(const struct bm__json_doc *doc, const char *key,
                             int bad, size_t min, size_t max, bool secret,
                             bool *present, struct bm_buf *out,
                             struct bm_errmsg *em)
{
    struct json_object *v = lookup(doc, key);
    const char *s;
    const char *end = NULL;
    size_t len, bin_cap, bin_len = 0, max_text;
    uint8_t *bin = NULL;
    int err = BM_OK;

    if (present != NULL) {
        *present = false;
    }
    if (v == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return bm_errf(em, bad, "%s '%s': %s: want a base64 string, got %s",
                       doc->what, doc->name, key, type_desc(v));
    }
    s = json_object_get_string(v);
    len = (size_t)json_object_get_string_len(v);
    max_text = (max + 2) / 3 * 4;
    if (len > max_text) {
        err = bm_errf(em, bad, "%s '%s': %s: %zu base64 characters, above "
                      "the limit of %zu bytes", doc->what, doc->name, key, len,
                      max);
        goto out;
    }
    bin_cap = len / 4 * 3 + 3;
    bin = bm_malloc(bin_cap);
    if (bin == NULL) {
        err = bm_errf(em, BM_ENOMEM, "%s '%s': out of memory", doc->what,
                      doc->name);
        goto out;
    }
    if (sodium_base642bin(bin, bin_cap, s, len, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + len) {
        err = bm_errf(em, bad, "%s '%s': %s: not valid base64", doc->what,
                      doc->name, key);
        goto out;
    }
    if (bin_len < min || bin_len > max) {
        if (min == max) {
            err = bm_errf(em, bad, "%s '%s': %s: %zu bytes, want %zu",
                          doc->what, doc->name, key, bin_len, min);
        } else {
            err = bm_errf(em, bad, "%s '%s': %s: %zu bytes, want %zu..%zu",
                          doc->what, doc->name, key, bin_len, min, max);
        }
        goto out;
    }
    err = bm_buf_set(out, bin, bin_len);
    if (err != BM_OK) {
        err = bm_errf(em, err, "%s '%s': out of memory", doc->what,
                      doc->name);
        goto out;
    }
    if (present != NULL) {
        *present = true;
    }
out:
    if (bin != NULL) {
        sodium_memzero(bin, bin_cap);
        bm_free(bin);
    }
    if (secret && s != NULL) {
        /* Best effort: json-c owns the text; wipe the plaintext copy. */
        sodium_memzero((void *)s, len);
    }
    return err;
}

enum bm_err bm__json_put_b64(struct bm_dynbuf *d, const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *tmp = bm_malloc(cap);
    int err;

    if (tmp == NULL) {
        return BM_ENOMEM;
    }
    sodium_bin2base64(tmp, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    err = bm_dynbuf_append_byte(d, '"');
    if (err == BM_OK) {
        err = bm_dynbuf_append(d, tmp, strlen(tmp));
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '"');
    }
    sodium_memzero(tmp, cap);
    bm_free(tmp);
    return err;
}

enum bm_err bm__json_put_str(struct bm_dynbuf *d, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int err = bm_dynbuf_append_byte(d, '"');

    for (size_t i = 0; i < n && err == BM_OK; i++) {
        uint8_t c = (uint8_t)s[i];
        char esc[7];
        switch (c) {
        case '"':
            err = bm_dynbuf_append(d, "\\\"", 2);
            continue;
        case '\\':
            err = bm_dynbuf_append(d, "\\\\", 2);
            continue;
        case '\n':
            err = bm_dynbuf_append(d, "\\n", 2);
            continue;
        case '\r':
            err = bm_dynbuf_append(d, "\\r", 2);
            continue;
        case '\t':
            err = bm_dynbuf_append(d, "\\t", 2);
            continue;
        case '\b':
            err = bm_dynbuf_append(d, "\\b", 2);
            continue;
        case '\f':
            err = bm_dynbuf_append(d, "\\f", 2);
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            err = bm_dynbuf_append(d, esc, 6);
            continue;
        }
        if (c == 0xe2 && i + 2 < n && (uint8_t)s[i + 1] == 0x80 &&
            ((uint8_t)s[i + 2] == 0xa8 || (uint8_t)s[i + 2] == 0xa9)) {
            err = bm_dynbuf_append(d, (uint8_t)s[i + 2] == 0xa8 ? "\\u2028"
                                                                : "\\u2029",
                                   6);
            i += 2;
            continue;
        }
        err = bm_dynbuf_append_byte(d, c);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '"');
    }
    return err;
}
