#include "blockv2/genesis.h"

#include "keys/keyio.h"
#include "util/file.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/rfc3339.h"
#include "util/utf8.h"

#include <stdio.h>
#include <string.h>

#define WHAT "genesis"
#define NS_PER_S 1000000000ull

/* Go's zero time.Time, 0001-01-01T00:00:00Z, in Unix seconds. */
#define GO_ZERO_TIME_UNIX (-62135596800ll)

void bm_genesis_release(struct bm_genesis *g)
{
    if (g == NULL) {
        return;
    }
    bm_free(g->chain_id);
    bm_buf_release(&g->proposer_address);
    memset(g, 0, sizeof(*g));
}

enum bm_err bm_genesis_copy(struct bm_genesis *dst,
                            const struct bm_genesis *src)
{
    struct bm_genesis g = *src;

    bm_genesis_release(dst);
    g.chain_id = NULL;
    g.proposer_address.ptr = NULL;
    g.proposer_address.len = 0;
    if (src->chain_id != NULL) {
        g.chain_id = bm_strdup(src->chain_id);
        if (g.chain_id == NULL) {
            return BM_ENOMEM;
        }
    }
    if (bm_buf_copy(&g.proposer_address, &src->proposer_address) != BM_OK) {
        bm_genesis_release(&g);
        return BM_ENOMEM;
    }
    *dst = g;
    return BM_OK;
}

/* ---- time ---- */

/* Parses RFC 3339 as Go's time.Parse(time.RFC3339) does into Unix seconds
 * (may be negative) and nanoseconds. */
static enum bm_err parse_rfc3339(const char *s, size_t len, int64_t *sec,
                                 uint32_t *nsec)
{
    int32_t frac;
    enum bm_err err = bm_rfc3339_parse(s, len, BM_RFC3339_GO, sec, &frac);

    if (err == BM_OK) {
        *nsec = (uint32_t)frac;
    }
    return err;
}

enum bm_err bm_genesis_time_parse(const char *s, size_t len, uint64_t *ns)
{
    int64_t sec;
    uint32_t nsec;
    int err = parse_rfc3339(s, len, &sec, &nsec);

    if (err != BM_OK) {
        return err;
    }
    if (sec < 0 || (uint64_t)sec > UINT64_MAX / NS_PER_S ||
        (uint64_t)sec * NS_PER_S > UINT64_MAX - nsec) {
        return BM_EOVERFLOW;
    }
    *ns = (uint64_t)sec * NS_PER_S + nsec;
    return BM_OK;
}

void bm_genesis_time_format(uint64_t ns, char out[BM_RFC3339_SIZE])
{
    _Static_assert(BM_RFC3339_SIZE >= BM_RFC3339_MAX, "buffer too small");

    bm_rfc3339_format_utc((int64_t)(ns / NS_PER_S), (int32_t)(ns % NS_PER_S),
                          out);
}

/* ---- validation ---- */

enum bm_err bm_genesis_validate(const struct bm_genesis *g, const char *name,
                                struct bm_errmsg *em)
{
    size_t len;

    name = bm__keyio_name(name);
    if (g->chain_id == NULL || g->chain_id[0] == '\0') {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': chain_id: missing or "
                       "empty", name);
    }
    len = strlen(g->chain_id);
    if (len > BM_GENESIS_CHAIN_ID_MAX) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': chain_id: %zu bytes, "
                       "above the %u byte limit", name, len,
                       BM_GENESIS_CHAIN_ID_MAX);
    }
    if (!bm_utf8_valid((const uint8_t *)g->chain_id, len)) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': chain_id: not valid "
                       "UTF-8", name);
    }
    if (g->initial_height < 1) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': initial_height: must be "
                       "at least 1, got %llu", name,
                       (unsigned long long)g->initial_height);
    }
    if (g->start_time_ns == 0) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': start_time: missing or "
                       "zero", name);
    }
    if (g->proposer_address.len == 0) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': proposer_address: "
                       "missing or empty", name);
    }
    if (g->proposer_address.len > BM_GENESIS_PROPOSER_MAX) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': proposer_address: %zu "
                       "bytes, above the %u byte limit", name,
                       g->proposer_address.len, BM_GENESIS_PROPOSER_MAX);
    }
    if (g->da_epoch_forced_inclusion < 1) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': "
                       "da_epoch_forced_inclusion: must be at least 1, got 0",
                       name);
    }
    return BM_OK;
}

/* ---- JSON ---- */

static enum bm_err get_time(const struct bm__json_doc *doc, uint64_t *ns,
                            struct bm_errmsg *em)
{
    char *text = NULL;
    bool present = false;
    int64_t sec;
    uint32_t nsec;
    int err;

    err = bm__json_get_str(doc, "start_time", BM_EGENESIS, 64, &present,
                           &text, em);
    if (err != BM_OK) {
        return err;
    }
    if (!present) {
        return bm_errf(em, BM_EGENESIS, WHAT " '%s': start_time: missing",
                       doc->name);
    }
    err = parse_rfc3339(text, strlen(text), &sec, &nsec);
    if (err != BM_OK) {
        err = bm_errf(em, BM_EGENESIS, WHAT " '%s': start_time: \"%s\" is "
                      "not an RFC 3339 time", doc->name, text);
    } else if (sec == GO_ZERO_TIME_UNIX && nsec == 0) {
        err = bm_errf(em, BM_EGENESIS, WHAT " '%s': start_time: is the zero "
                      "time", doc->name);
    } else if (bm_genesis_time_parse(text, strlen(text), ns) != BM_OK) {
        err = bm_errf(em, BM_EGENESIS, WHAT " '%s': start_time: \"%s\" is "
                      "outside 1970-01-01T00:00:00Z..2554-07-21T23:34:33Z",
                      doc->name, text);
    }
    bm_free(text);
    return err;
}

enum bm_err bm_genesis_parse(struct bm_genesis *out, const uint8_t *p,
                             size_t n, const char *name,
                             struct bm_errmsg *em)
{
    struct bm__json_doc doc;
    struct bm_genesis g = {0};
    bool present;
    int err;

    bm_genesis_release(out);
    err = bm__json_doc_parse(&doc, WHAT, name, p, n, BM_GENESIS_FILE_MAX, em);
    if (err != BM_OK) {
        return err;
    }
    g.da_epoch_forced_inclusion = BM_GENESIS_DEFAULT_DA_EPOCH;
    err = bm__json_get_str(&doc, "chain_id", BM_EGENESIS,
                           BM_GENESIS_CHAIN_ID_MAX, &present, &g.chain_id, em);
    if (err == BM_OK && !present) {
        err = bm_errf(em, BM_EGENESIS, WHAT " '%s': chain_id: missing",
                      doc.name);
    }
    if (err == BM_OK) {
        err = get_time(&doc, &g.start_time_ns, em);
    }
    if (err == BM_OK) {
        err = bm__json_get_u64(&doc, "initial_height", BM_EGENESIS, &present,
                               &g.initial_height, em);
        if (err == BM_OK && !present) {
            err = bm_errf(em, BM_EGENESIS, WHAT " '%s': initial_height: "
                          "missing", doc.name);
        }
    }
    if (err == BM_OK) {
        err = bm__json_get_b64(&doc, "proposer_address", BM_EGENESIS, 0,
                               BM_GENESIS_PROPOSER_MAX, false, &present,
                               &g.proposer_address, em);
        if (err == BM_OK && !present) {
            err = bm_errf(em, BM_EGENESIS, WHAT " '%s': proposer_address: "
                          "missing", doc.name);
        }
    }
    if (err == BM_OK) {
        err = bm__json_get_u64(&doc, "da_start_height", BM_EGENESIS, NULL,
                               &g.da_start_height, em);
    }
    if (err == BM_OK) {
        err = bm__json_get_u64(&doc, "da_epoch_forced_inclusion",
                               BM_EGENESIS, NULL,
                               &g.da_epoch_forced_inclusion, em);
    }
    if (err == BM_OK) {
        err = bm_genesis_validate(&g, doc.name, em);
    }
    bm__json_doc_release(&doc);
    if (err != BM_OK) {
        bm_genesis_release(&g);
        return err;
    }
    *out = g;
    return BM_OK;
}

enum bm_err bm_genesis_encode(const struct bm_genesis *g, struct bm_buf *out,
                              struct bm_errmsg *em)
{
    struct bm_dynbuf d;
    char t[BM_RFC3339_SIZE];
    int err;

    bm_buf_release(out);
    err = bm_genesis_validate(g, NULL, em);
    if (err != BM_OK) {
        return err;
    }
    bm_genesis_time_format(g->start_time_ns, t);
    bm_dynbuf_init(&d, BM_GENESIS_FILE_MAX);
    err = bm_dynbuf_printf(&d, "{\n  \"chain_id\": ");
    if (err == BM_OK) {
        err = bm__json_put_str(&d, g->chain_id, strlen(g->chain_id));
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, ",\n  \"start_time\": \"%s\",\n"
                               "  \"initial_height\": %llu,\n"
                               "  \"proposer_address\": ",
                               t, (unsigned long long)g->initial_height);
    }
    if (err == BM_OK) {
        err = bm__json_put_b64(&d, g->proposer_address.ptr,
                               g->proposer_address.len);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, ",\n  \"da_start_height\": %llu,\n"
                               "  \"da_epoch_forced_inclusion\": %llu\n}",
                               (unsigned long long)g->da_start_height,
                               (unsigned long long)
                                   g->da_epoch_forced_inclusion);
    }
    if (err != BM_OK) {
        bm_dynbuf_release(&d);
        return bm_errf(em, BM_ENOMEM, WHAT ": out of memory");
    }
    bm_dynbuf_detach(&d, out);
    return BM_OK;
}

enum bm_err bm_genesis_load(struct bm_genesis *out, const char *path,
                            struct bm_errmsg *em)
{
    struct bm_buf raw = {0};
    int err;

    bm_genesis_release(out);
    if (path == NULL) {
        return bm_errf(em, BM_EINVAL, WHAT ": no path");
    }
    err = bm_file_read(path, BM_GENESIS_FILE_MAX, WHAT, &raw, em);
    if (err == BM_OK) {
        err = bm_genesis_parse(out, raw.ptr, raw.len, path, em);
    }
    bm_buf_release(&raw);
    return err;
}

enum bm_err bm_genesis_save(const struct bm_genesis *g, const char *path,
                            bool overwrite, struct bm_errmsg *em)
{
    struct bm_buf json = {0};
    int err;

    if (path == NULL) {
        return bm_errf(em, BM_EINVAL, WHAT ": no path");
    }
    err = bm_genesis_validate(g, path, em);
    if (err == BM_OK) {
        err = bm_genesis_encode(g, &json, em);
    }
    if (err == BM_OK) {
        err = bm_file_write_atomic(path, json.ptr, json.len, 0644,
                                   overwrite ? BM_FILE_REPLACE
                                             : BM_FILE_NOREPLACE,
                                   WHAT, em);
    }
    bm_buf_release(&json);
    return err;
}
