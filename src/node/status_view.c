/* The `blockv2 status` summary, see status_view.h. */
#include "node/status_view.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "node/duration.h"
#include "util/errmsg.h"
#include "util/rfc3339.h"

#define JSON_DEPTH 8
/* Largest rendered summary: fixed lines plus BM_STATUS_VIEW_ACTORS_MAX
 * rows of bounded width. */
#define OUT_MAX (64u * 1024u)
/* Width of the label column. */
#define LABEL "%-13s "

/* A number field: absent (*have false) is fine; a non-integer or negative
 * value is an error naming it. */
static enum bm_err get_u64(struct json_object *o, const char *name,
                           const char *where, uint64_t *v, bool *have,
                           struct bm_errmsg *em)
{
    struct json_object *f = NULL;

    *v = 0;
    *have = false;
    if (!json_object_object_get_ex(o, name, &f) || f == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(f, json_type_int) ||
        json_object_get_int64(f) < 0) {
        return bm_errf(em, BM_EINVAL, "status: %s%s: want a non-negative "
                       "integer", where, name);
    }
    *v = json_object_get_uint64(f);
    *have = true;
    return BM_OK;
}

/* A string field: absent is NULL; another type is an error naming it. */
static enum bm_err get_str(struct json_object *o, const char *name,
                           const char *where, const char **s, size_t *len,
                           struct bm_errmsg *em)
{
    struct json_object *f = NULL;

    *s = NULL;
    *len = 0;
    if (!json_object_object_get_ex(o, name, &f) || f == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(f, json_type_string)) {
        return bm_errf(em, BM_EINVAL, "status: %s%s: want a string", where,
                       name);
    }
    *s = json_object_get_string(f);
    *len = (size_t)json_object_get_string_len(f);
    return BM_OK;
}

/* Appends s[0..len) (untrusted) shown safely: at most
 * BM_STATUS_VIEW_STR_MAX bytes, "..." when cut, '?' for every byte that
 * is not printable ASCII; "?" for a missing string. */
static enum bm_err put_safe(struct bm_dynbuf *d, const char *s, size_t len)
{
    enum bm_err err = BM_OK;
    size_t n = len < BM_STATUS_VIEW_STR_MAX ? len : BM_STATUS_VIEW_STR_MAX;

    if (s == NULL) {
        return bm_dynbuf_append(d, "?", 1);
    }
    for (size_t i = 0; err == BM_OK && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        err = bm_dynbuf_append_byte(d, c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (err == BM_OK && n < len) {
        err = bm_dynbuf_append(d, "...", 3);
    }
    return err;
}

/* "812ms", "3.4s", "1m5s", "2h3m0s": a duration rounded for people. */
static void age_text(uint64_t ns, char out[BM_DURATION_STR_SIZE])
{
    uint64_t unit = 1000000u; /* below 1 s: milliseconds */

    if (ns >= 60000000000u) {
        unit = 1000000000u; /* from 1 min: seconds */
    } else if (ns >= 1000000000u) {
        unit = 100000000u; /* from 1 s: tenths */
    }
    ns = ns / unit * unit;
    bm_duration_format(ns, out);
}

static enum bm_err put_height_line(struct bm_dynbuf *d,
                                   struct json_object *root,
                                   uint64_t now_ns, struct bm_errmsg *em)
{
    const char *t;
    size_t tlen;
    uint64_t h;
    bool have;
    int64_t sec;
    int32_t nsec;
    enum bm_err err;

    err = get_u64(root, "height", "", &h, &have, em);
    if (err == BM_OK) {
        err = get_str(root, "last_block_time", "", &t, &tlen, em);
    }
    if (err != BM_OK) {
        return err;
    }
    if (have) {
        err = bm_dynbuf_printf(d, LABEL "%" PRIu64, "height", h);
    } else {
        err = bm_dynbuf_printf(d, LABEL "?", "height");
    }
    if (err != BM_OK || t == NULL || (have && h == 0)) {
        return err != BM_OK ? err : bm_dynbuf_append_byte(d, '\n');
    }
    if (bm_rfc3339_parse(t, tlen, BM_RFC3339_GO, &sec, &nsec) == BM_OK &&
        sec >= 0) {
        uint64_t at = UINT64_MAX; /* past year 2554: never */
        char age[BM_DURATION_STR_SIZE];

        if ((uint64_t)sec < UINT64_MAX / 1000000000u - 1) {
            at = (uint64_t)sec * 1000000000u + (uint64_t)nsec;
        }
        if (now_ns >= at) {
            age_text(now_ns - at, age);
            err = bm_dynbuf_printf(d, ", last block %s ago (", age);
        } else {
            age_text(at - now_ns, age);
            err = bm_dynbuf_printf(d, ", last block %s in the future: "
                                      "check the clocks (", age);
        }
    } else {
        err = bm_dynbuf_printf(d, ", last block at (");
    }
    if (err == BM_OK) {
        err = put_safe(d, t, tlen);
    }
    return err == BM_OK ? bm_dynbuf_printf(d, ")\n") : err;
}

static enum bm_err put_da_line(struct bm_dynbuf *d, struct json_object *root,
                               struct bm_errmsg *em)
{
    uint64_t h, incl, ph, pd;
    bool have_h, have_incl, have_ph, have_pd;
    enum bm_err err;

    err = get_u64(root, "height", "", &h, &have_h, em);
    if (err == BM_OK) {
        err = get_u64(root, "da_included_height", "", &incl, &have_incl, em);
    }
    if (err == BM_OK) {
        err = get_u64(root, "pending_headers", "", &ph, &have_ph, em);
    }
    if (err == BM_OK) {
        err = get_u64(root, "pending_data", "", &pd, &have_pd, em);
    }
    if (err != BM_OK) {
        return err;
    }
    if (!have_incl) {
        return bm_dynbuf_printf(d, LABEL "?\n", "DA");
    }
    err = bm_dynbuf_printf(d, LABEL "included %" PRIu64, "DA", incl);
    if (err == BM_OK && have_h) {
        uint64_t lag = h > incl ? h - incl : 0;
        err = bm_dynbuf_printf(d, ", lag %" PRIu64 " block%s", lag,
                               lag == 1 ? "" : "s");
    }
    if (err == BM_OK && have_ph && have_pd) {
        err = bm_dynbuf_printf(d, " (pending %" PRIu64 " header%s, %" PRIu64
                                  " data)",
                               ph, ph == 1 ? "" : "s", pd);
    }
    return err == BM_OK ? bm_dynbuf_append_byte(d, '\n') : err;
}

static enum bm_err put_str_line(struct bm_dynbuf *d, struct json_object *root,
                                const char *field, const char *label,
                                struct bm_errmsg *em)
{
    const char *s;
    size_t n;
    enum bm_err err = get_str(root, field, "", &s, &n, em);

    if (err == BM_OK) {
        err = bm_dynbuf_printf(d, LABEL, label);
    }
    if (err == BM_OK) {
        err = n == 0 && s != NULL ? bm_dynbuf_printf(d, "(none)")
                                  : put_safe(d, s, n);
    }
    return err == BM_OK ? bm_dynbuf_append_byte(d, '\n') : err;
}

static enum bm_err put_chain_line(struct bm_dynbuf *d,
                                  struct json_object *root,
                                  struct bm_errmsg *em)
{
    struct json_object *f = NULL;
    const char *s;
    size_t n;
    enum bm_err err = get_str(root, "chain_id", "", &s, &n, em);

    if (err == BM_OK) {
        err = bm_dynbuf_printf(d, LABEL, "chain");
    }
    if (err == BM_OK) {
        err = put_safe(d, s, n);
    }
    if (err != BM_OK) {
        return err;
    }
    if (json_object_object_get_ex(root, "aggregator", &f) && f != NULL) {
        if (!json_object_is_type(f, json_type_boolean)) {
            return bm_errf(em, BM_EINVAL, "status: aggregator: want a "
                           "boolean");
        }
        err = bm_dynbuf_printf(d, json_object_get_boolean(f)
                                      ? " (aggregator)"
                                      : " (full node)");
    }
    return err == BM_OK ? bm_dynbuf_append_byte(d, '\n') : err;
}

static enum bm_err put_peers_line(struct bm_dynbuf *d,
                                  struct json_object *root,
                                  struct bm_errmsg *em)
{
    uint64_t n;
    bool have;
    enum bm_err err = get_u64(root, "peers", "", &n, &have, em);

    if (err != BM_OK) {
        return err;
    }
    return have ? bm_dynbuf_printf(d, LABEL "%" PRIu64 "\n", "peers", n)
                : bm_dynbuf_printf(d, LABEL "?\n", "peers");
}

/* "P2P stores  headers H, data D" when /status has P2P store heights. */
static enum bm_err put_p2p_line(struct bm_dynbuf *d, struct json_object *root,
                                struct bm_errmsg *em)
{
    struct json_object *p = NULL;
    uint64_t hh, dh;
    bool have_h, have_d;
    enum bm_err err;

    if (!json_object_object_get_ex(root, "p2p", &p) || p == NULL) {
        return BM_OK;
    }
    if (!json_object_is_type(p, json_type_object)) {
        return bm_errf(em, BM_EINVAL, "status: p2p: want an object");
    }
    err = get_u64(p, "header_height", "p2p.", &hh, &have_h, em);
    if (err == BM_OK) {
        err = get_u64(p, "data_height", "p2p.", &dh, &have_d, em);
    }
    if (err != BM_OK || !have_h || !have_d) {
        return err;
    }
    return bm_dynbuf_printf(d, LABEL "headers %" PRIu64 ", data %" PRIu64
                            " (best seen)\n", "P2P stores", hh, dh);
}

static enum bm_err put_breakers_line(struct bm_dynbuf *d,
                                     struct json_object *root,
                                     struct bm_errmsg *em)
{
    struct json_object *br = NULL;
    enum bm_err err;
    size_t i = 0;

    err = bm_dynbuf_printf(d, LABEL, "breakers");
    if (err != BM_OK) {
        return err;
    }
    if (!json_object_object_get_ex(root, "breakers", &br) || br == NULL) {
        return bm_dynbuf_printf(d, "?\n");
    }
    if (!json_object_is_type(br, json_type_object)) {
        return bm_errf(em, BM_EINVAL, "status: breakers: want an object");
    }
    if (json_object_object_length(br) == 0) {
        return bm_dynbuf_printf(d, "none (no block manager)\n");
    }
    json_object_object_foreach(br, name, val)
    {
        const char *state;

        if (!json_object_is_type(val, json_type_string)) {
            return bm_errf(em, BM_EINVAL, "status: breakers.%.40s: want a "
                           "string", name);
        }
        state = json_object_get_string(val);
        if (err == BM_OK && i > 0) {
            err = bm_dynbuf_printf(d, ", ");
        }
        if (err == BM_OK) {
            err = put_safe(d, name, strlen(name));
        }
        if (err == BM_OK) {
            err = bm_dynbuf_append_byte(d, ' ');
        }
        if (err == BM_OK) {
            err = put_safe(d, state,
                           (size_t)json_object_get_string_len(val));
        }
        i++;
    }
    return err == BM_OK ? bm_dynbuf_append_byte(d, '\n') : err;
}

struct actor_row {
    const char *name;
    size_t name_len;
    uint64_t depth, capacity, dropped, rejected, restarts, failures;
};

static enum bm_err read_actor(struct json_object *a, size_t i,
                              struct actor_row *r, struct bm_errmsg *em)
{
    char where[40];
    uint64_t rf, ri;
    bool have;
    enum bm_err err;

    snprintf(where, sizeof(where), "actors[%zu].", i);
    if (!json_object_is_type(a, json_type_object)) {
        return bm_errf(em, BM_EINVAL, "status: actors[%zu]: want an object",
                       i);
    }
    err = get_str(a, "name", where, &r->name, &r->name_len, em);
    if (err == BM_OK) {
        err = get_u64(a, "depth", where, &r->depth, &have, em);
    }
    if (err == BM_OK) {
        err = get_u64(a, "capacity", where, &r->capacity, &have, em);
    }
    if (err == BM_OK) {
        err = get_u64(a, "dropped", where, &r->dropped, &have, em);
    }
    if (err == BM_OK) {
        err = get_u64(a, "rejected_full", where, &rf, &have, em);
    }
    if (err == BM_OK) {
        err = get_u64(a, "rejected_invalid", where, &ri, &have, em);
    }
    if (err == BM_OK) {
        err = get_u64(a, "restarts", where, &r->restarts, &have, em);
    }
    if (err == BM_OK) {
        err = get_u64(a, "failures", where, &r->failures, &have, em);
    }
    if (err == BM_OK) {
        r->rejected = rf > UINT64_MAX - ri ? UINT64_MAX : rf + ri;
    }
    return err;
}

static enum bm_err put_actors(struct bm_dynbuf *d, struct json_object *root,
                              struct bm_errmsg *em)
{
    struct json_object *arr = NULL;
    size_t n, busy = 0, shown = 0;
    enum bm_err err;

    err = bm_dynbuf_printf(d, LABEL, "actors");
    if (err != BM_OK) {
        return err;
    }
    if (!json_object_object_get_ex(root, "actors", &arr) || arr == NULL) {
        return bm_dynbuf_printf(d, "?\n");
    }
    if (!json_object_is_type(arr, json_type_array)) {
        return bm_errf(em, BM_EINVAL, "status: actors: want an array");
    }
    n = json_object_array_length(arr);
    if (n == 0) {
        return bm_dynbuf_printf(d, "none (no block manager)\n");
    }
    /* First pass: validate every row and count the ones to show. */
    for (size_t i = 0; i < n; i++) {
        struct actor_row r;

        err = read_actor(json_object_array_get_idx(arr, i), i, &r, em);
        if (err != BM_OK) {
            return err;
        }
        busy += r.depth > 0 || r.dropped > 0 || r.restarts > 0;
    }
    if (busy == 0) {
        return bm_dynbuf_printf(d, "%zu, none with queued messages, drops "
                                   "or restarts\n",
                                n);
    }
    err = bm_dynbuf_printf(d, "%zu, %zu with queued messages, drops or "
                              "restarts:\n"
                              "  %-20s %15s %10s %10s %9s %9s\n",
                           n, busy, "name", "depth/capacity", "dropped",
                           "rejected", "restarts", "failures");
    for (size_t i = 0; err == BM_OK && i < n; i++) {
        struct actor_row r;
        char dc[48];
        size_t at;

        (void)read_actor(json_object_array_get_idx(arr, i), i, &r, em);
        if (!(r.depth > 0 || r.dropped > 0 || r.restarts > 0)) {
            continue;
        }
        if (shown == BM_STATUS_VIEW_ACTORS_MAX) {
            err = bm_dynbuf_printf(d, "  ... and %zu more\n", busy - shown);
            break;
        }
        snprintf(dc, sizeof(dc), "%" PRIu64 "/%" PRIu64, r.depth,
                 r.capacity);
        err = bm_dynbuf_printf(d, "  ");
        at = d->len;
        if (err == BM_OK) {
            err = put_safe(d, r.name, r.name_len);
        }
        /* pad the (already bounded) name to its column */
        while (err == BM_OK && d->len - at < 20) {
            err = bm_dynbuf_append_byte(d, ' ');
        }
        if (err == BM_OK) {
            err = bm_dynbuf_printf(d,
                                   " %15s %10" PRIu64 " %10" PRIu64
                                   " %9" PRIu64 " %9" PRIu64 "\n",
                                   dc, r.dropped, r.rejected, r.restarts,
                                   r.failures);
        }
        shown++;
    }
    return err;
}

enum bm_err bm_status_view_render(const uint8_t *json, size_t len,
                                  uint64_t now_unix_ns, struct bm_buf *out,
                                  struct bm_errmsg *em)
{
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    struct bm_dynbuf d;
    enum bm_err err = BM_OK;

    bm_buf_release(out);
    bm_dynbuf_init(&d, OUT_MAX);
    if (len > BM_STATUS_VIEW_MAX) {
        return bm_errf(em, BM_ETOOBIG, "status: %zu bytes, max %u", len,
                       BM_STATUS_VIEW_MAX);
    }
    if (len == 0 || json == NULL) {
        return bm_errf(em, BM_EPARSE, "status: empty reply");
    }
    tok = json_tokener_new_ex(JSON_DEPTH);
    if (tok == NULL) {
        return bm_errf(em, BM_ENOMEM, "status: out of memory");
    }
    root = json_tokener_parse_ex(tok, (const char *)json, (int)len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(root, json_type_object)) {
        err = bm_errf(em, BM_EPARSE, "status: not a JSON object");
        goto out;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\r' &&
            json[i] != '\n') {
            err = bm_errf(em, BM_EPARSE, "status: trailing bytes after the "
                          "JSON object");
            goto out;
        }
    }
    err = put_chain_line(&d, root, em);
    if (err == BM_OK) {
        err = put_height_line(&d, root, now_unix_ns, em);
    }
    if (err == BM_OK) {
        err = put_da_line(&d, root, em);
    }
    if (err == BM_OK) {
        err = put_str_line(&d, root, "app_hash", "app hash", em);
    }
    if (err == BM_OK) {
        err = put_str_line(&d, root, "last_header_hash", "last header", em);
    }
    if (err == BM_OK) {
        err = put_peers_line(&d, root, em);
    }
    if (err == BM_OK) {
        err = put_p2p_line(&d, root, em);
    }
    if (err == BM_OK) {
        err = put_breakers_line(&d, root, em);
    }
    if (err == BM_OK) {
        err = put_actors(&d, root, em);
    }
    /* The text is used as a C string: terminate it, not counted. */
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(&d, '\0');
    }
    if (err == BM_OK) {
        d.len--;
        out->ptr = d.ptr;
        out->len = d.len;
        d.ptr = NULL;
    } else if (err == BM_ETOOBIG || err == BM_ENOMEM) {
        err = bm_errf(em, err, "status: summary too long or out of memory");
    }
out:
    bm_dynbuf_release(&d);
    json_object_put(root);
    json_tokener_free(tok);
    return err;
}
