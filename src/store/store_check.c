/*
 * Store verification (bm_store_check) and the writer's encode helper: the
 * parts of the store that need the block codec.
 */
#include "blockv2/store.h"

#include "store/store_internal.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/lmdb_err.h"

#include <lmdb.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Per-kind key statistics from the scan. */
struct kind_stats {
    uint64_t count;
    uint64_t min;
    uint64_t max;
};

struct scan {
    bool has_tip;
    uint64_t tip;
    struct kind_stats h, d, c, s;
    uint64_t n_index;
};

/* Copies an LMDB key into a printable NUL-terminated buffer. */
static void key_str(char *buf, size_t cap, const MDB_val *k)
{
    size_t n = k->mv_size < cap - 1 ? k->mv_size : cap - 1;
    const unsigned char *p = k->mv_data;

    for (size_t i = 0; i < n; i++) {
        buf[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    }
    buf[n] = '\0';
}

/* Strict decimal: no sign, no leading zero (except "0"), fits uint64. */
static bool parse_height(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 20 || (n > 1 && p[0] == '0')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(p[i] - '0'), &v)) {
            return false;
        }
    }
    *out = v;
    return true;
}

static bool is_upper_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'F'))) {
            return false;
        }
    }
    return true;
}

static void stats_add(struct kind_stats *st, uint64_t h)
{
    if (st->count == 0 || h < st->min) {
        st->min = h;
    }
    if (st->count == 0 || h > st->max) {
        st->max = h;
    }
    st->count++;
}

/* Pass 1: every key under /0/ (except metadata) parses; gather stats. */
static enum bm_err scan_keys(struct bm_store *s, MDB_txn *txn, struct scan *sc,
                             struct bm_errmsg *em)
{
    char name[BM__STORE_KEY_MAX];
    MDB_cursor *cur = NULL;
    MDB_val k = {.mv_size = 3, .mv_data = (void *)"/0/"}, v;
    enum bm_err err = BM_OK;
    int rc = mdb_cursor_open(txn, bm__store_dbi(s), &cur);

    if (rc != 0) {
        return bm_errf(em, bm_lmdb_err(rc), "cannot open cursor: %s",
                       mdb_strerror(rc));
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        uint64_t h;
        char kind;

        if (k.mv_size < 3 || memcmp(p, "/0/", 3) != 0) {
            break;
        }
        key_str(name, sizeof(name), &k);
        if (k.mv_size == 4 && p[3] == 't') {
            if (v.mv_size != 8) {
                err = bm_errf(em, BM_ECORRUPT,
                              "/0/t: value is %zu bytes, want 8", v.mv_size);
                goto out;
            }
            sc->has_tip = true;
            sc->tip = bm_get_le64(v.mv_data);
            continue;
        }
        if (k.mv_size < 5 || p[4] != '/') {
            continue; /* not ours (e.g. the reaper's seen-tx keys) */
        }
        kind = (char)p[3];
        if (kind == 'm') {
            continue;
        }
        if (kind == 'i') {
            if (k.mv_size != 5 + 2 * BM_HASH_SIZE ||
                !is_upper_hex(p + 5, 2 * BM_HASH_SIZE)) {
                err = bm_errf(em, BM_ECORRUPT,
                              "%s: not an upper-case hex header hash", name);
                goto out;
            }
            if (v.mv_size != 8) {
                err = bm_errf(em, BM_ECORRUPT, "%s: value is %zu bytes, "
                              "want 8", name, v.mv_size);
                goto out;
            }
            sc->n_index++;
            continue;
        }
        if (kind != 'h' && kind != 'd' && kind != 'c' && kind != 's') {
            continue;
        }
        if (!parse_height(p + 5, k.mv_size - 5, &h) ||
            (h == 0 && kind != 's')) {
            err = bm_errf(em, BM_ECORRUPT, "%s: malformed height in key",
                          name);
            goto out;
        }
        stats_add(kind == 'h'   ? &sc->h
                  : kind == 'd' ? &sc->d
                  : kind == 'c' ? &sc->c
                                : &sc->s,
                  h);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        err = bm_errf(em, bm_lmdb_err(rc), "cannot scan store: %s",
                      mdb_strerror(rc));
    }
out:
    mdb_cursor_close(cur);
    return err;
}

/* Zero-copy view of a value inside the txn; decoders copy what they keep. */
static enum bm_err get_view(struct bm_store *s, MDB_txn *txn, const char *key,
                            size_t klen, MDB_val *v, struct bm_errmsg *em)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    int rc = mdb_get(txn, bm__store_dbi(s), &k, v);

    if (rc == MDB_NOTFOUND) {
        return bm_errf(em, BM_ECORRUPT, "%s: missing", key);
    }
    if (rc != 0) {
        return bm_errf(em, bm_lmdb_err(rc), "cannot read '%s': %s", key,
                       mdb_strerror(rc));
    }
    return BM_OK;
}

static enum bm_err check_states_above(const struct scan *sc,
                                      struct bm_errmsg *em)
{
    if (sc->s.count > 0 && sc->s.max > sc->tip) {
        return bm_errf(em, BM_ECORRUPT,
                       "/0/s/%" PRIu64 ": state above the store height %" PRIu64,
                       sc->s.max, sc->tip);
    }
    return BM_OK;
}

static enum bm_err check_ranges(const struct scan *sc, struct bm_errmsg *em)
{
    const struct {
        const struct kind_stats *st;
        char kind;
    } kinds[] = {{&sc->d, 'd'}, {&sc->c, 'c'}};

    if (!sc->has_tip) {
        if (sc->h.count || sc->d.count || sc->c.count || sc->s.count ||
            sc->n_index) {
            return bm_errf(em, BM_ECORRUPT,
                           "/0/t: missing, but blocks or states are stored");
        }
        return BM_OK;
    }
    if (sc->h.count == 0) {
        if (sc->d.count || sc->c.count || sc->n_index) {
            return bm_errf(em, BM_ECORRUPT,
                           "/0/h: no headers, but data, signatures or index "
                           "entries are stored");
        }
        return check_states_above(sc, em);
    }
    if (sc->h.max != sc->tip) {
        return bm_errf(em, BM_ECORRUPT,
                       "/0/t: height %" PRIu64 ", but the highest header is "
                       "/0/h/%" PRIu64,
                       sc->tip, sc->h.max);
    }
    if (sc->h.max - sc->h.min + 1 != sc->h.count) {
        return bm_errf(em, BM_ECORRUPT,
                       "/0/h: %" PRIu64 " headers between %" PRIu64
                       " and %" PRIu64 ": heights are not contiguous",
                       sc->h.count, sc->h.min, sc->h.max);
    }
    for (size_t i = 0; i < 2; i++) {
        const struct kind_stats *st = kinds[i].st;

        if (st->count != sc->h.count || st->min != sc->h.min ||
            st->max != sc->h.max) {
            return bm_errf(em, BM_ECORRUPT,
                           "/0/%c: %" PRIu64 " keys in %" PRIu64 "..%" PRIu64
                           ", want %" PRIu64 " in %" PRIu64 "..%" PRIu64,
                           kinds[i].kind, st->count, st->min, st->max,
                           sc->h.count, sc->h.min, sc->h.max);
        }
    }
    if (sc->n_index != sc->h.count) {
        return bm_errf(em, BM_ECORRUPT,
                       "/0/i: %" PRIu64 " index entries for %" PRIu64
                       " blocks",
                       sc->n_index, sc->h.count);
    }
    return check_states_above(sc, em);
}

/* Pass 2: one block. prev is the previous block's hash (NULL at base). */
static enum bm_err check_block(struct bm_store *s, MDB_txn *txn, uint64_t h,
                               const struct bm_hash *prev,
                               struct bm_hash *hash_out, struct bm_errmsg *em)
{
    struct bm_signed_header sh = {0};
    struct bm_data d = {0};
    char key[BM__STORE_KEY_MAX];
    size_t n;
    uint64_t ih;
    MDB_val v;
    enum bm_err err;

    n = bm__store_key_height(key, 'h', h);
    err = get_view(s, txn, key, n, &v, em);
    if (err != BM_OK) {
        goto out;
    }
    err = bm_signed_header_decode(&sh, v.mv_data, v.mv_size);
    if (err != BM_OK) {
        err = bm_errf(em, err == BM_ENOMEM ? BM_ENOMEM : BM_ECORRUPT,
                      "%s: cannot decode SignedHeader: %s", key,
                      bm_strerror(err));
        goto out;
    }
    if (sh.header.height != h) {
        err = bm_errf(em, BM_ECORRUPT,
                      "%s: header.height is %" PRIu64, key, sh.header.height);
        goto out;
    }
    err = bm_header_hash(&sh.header, hash_out);
    if (err != BM_OK) {
        err = bm_errf(em, err, "%s: cannot hash header", key);
        goto out;
    }
    if (prev != NULL &&
        !bm_buf_eq_raw(&sh.header.last_header_hash, prev->b, BM_HASH_SIZE)) {
        err = bm_errf(em, BM_ECORRUPT,
                      "%s: last_header_hash does not link to block %" PRIu64,
                      key, h - 1);
        goto out;
    }
    n = bm__store_key_height(key, 'c', h);
    err = get_view(s, txn, key, n, &v, em);
    if (err != BM_OK) {
        goto out;
    }
    if (!bm_buf_eq_raw(&sh.signature, v.mv_data, v.mv_size)) {
        err = bm_errf(em, BM_ECORRUPT,
                      "%s: differs from the signature in /0/h/%" PRIu64, key,
                      h);
        goto out;
    }
    n = bm__store_key_hash(key, hash_out);
    err = bm__store_get_u64(s, txn, key, n, &ih, em);
    if (err == BM_ENOTFOUND) {
        err = bm_errf(em, BM_ECORRUPT, "%s: missing index entry for block "
                      "%" PRIu64, key, h);
    }
    if (err != BM_OK) {
        goto out;
    }
    if (ih != h) {
        err = bm_errf(em, BM_ECORRUPT,
                      "%s: points to height %" PRIu64 ", want %" PRIu64, key,
                      ih, h);
        goto out;
    }
    n = bm__store_key_height(key, 'd', h);
    err = get_view(s, txn, key, n, &v, em);
    if (err != BM_OK) {
        goto out;
    }
    err = bm_data_decode(&d, v.mv_data, v.mv_size);
    if (err != BM_OK) {
        err = bm_errf(em, err == BM_ENOMEM ? BM_ENOMEM : BM_ECORRUPT,
                      "%s: cannot decode Data: %s", key, bm_strerror(err));
        goto out;
    }
    if (d.has_metadata && d.metadata.height != h) {
        err = bm_errf(em, BM_ECORRUPT, "%s: metadata.height is %" PRIu64, key,
                      d.metadata.height);
        goto out;
    }
out:
    bm_signed_header_release(&sh);
    bm_data_release(&d);
    return err;
}

static enum bm_err check_state(struct bm_store *s, MDB_txn *txn,
                               const struct scan *sc,
                               const struct bm_hash *tip_hash,
                               struct bm_errmsg *em)
{
    struct bm_state st = {0};
    char key[BM__STORE_KEY_MAX];
    size_t n = bm__store_key_height(key, 's', sc->tip);
    MDB_val v;
    enum bm_err err = get_view(s, txn, key, n, &v, em);

    if (err != BM_OK) {
        return err;
    }
    err = bm_state_decode(&st, v.mv_data, v.mv_size);
    if (err != BM_OK) {
        return bm_errf(em, err == BM_ENOMEM ? BM_ENOMEM : BM_ECORRUPT,
                       "%s: cannot decode State: %s", key, bm_strerror(err));
    }
    if (st.last_block_height != sc->tip) {
        err = bm_errf(em, BM_ECORRUPT,
                      "%s: last_block_height is %" PRIu64
                      ", store height is %" PRIu64,
                      key, st.last_block_height, sc->tip);
    } else if (tip_hash != NULL && st.last_header_hash.len > 0 &&
               !bm_buf_eq_raw(&st.last_header_hash, tip_hash->b,
                              BM_HASH_SIZE)) {
        err = bm_errf(em, BM_ECORRUPT,
                      "%s: last_header_hash differs from the hash of block "
                      "%" PRIu64,
                      key, sc->tip);
    }
    bm_state_release(&st);
    return err;
}

enum bm_err bm_store_check(struct bm_store *s,
                           struct bm_store_check_report *rep,
                           struct bm_errmsg *em)
{
    struct scan sc = {0};
    struct bm_hash prev, cur;
    MDB_txn *txn = NULL;
    enum bm_err err;

    if (rep != NULL) {
        memset(rep, 0, sizeof(*rep));
    }
    err = bm__store_rtxn_begin(s, &txn, em);
    if (err != BM_OK) {
        return err;
    }
    err = scan_keys(s, txn, &sc, em);
    if (err == BM_OK) {
        err = check_ranges(&sc, em);
    }
    if (err != BM_OK || !sc.has_tip) {
        goto out;
    }
    for (uint64_t h = sc.h.min; sc.h.count > 0 && h <= sc.h.max; h++) {
        err = check_block(s, txn, h, h == sc.h.min ? NULL : &prev, &cur, em);
        if (err != BM_OK) {
            goto out;
        }
        prev = cur;
        if (h == UINT64_MAX) {
            break;
        }
    }
    err = check_state(s, txn, &sc, sc.h.count > 0 ? &prev : NULL, em);
out:
    bm__store_rtxn_end(s, txn);
    if (err == BM_OK && rep != NULL) {
        rep->empty = !sc.has_tip;
        rep->height = sc.tip;
        rep->base = sc.h.count > 0 ? sc.h.min : 0;
        rep->n_blocks = sc.h.count;
        rep->n_states = sc.s.count;
    }
    return err;
}

enum bm_err bm_store_check_tip(struct bm_store *s, struct bm_errmsg *em)
{
    struct scan sc = {0};
    struct bm_hash tip_hash;
    MDB_txn *txn = NULL;
    MDB_val k = {.mv_size = 4, .mv_data = (void *)"/0/t"};
    MDB_val v;
    enum bm_err err;
    int rc;

    err = bm__store_rtxn_begin(s, &txn, em);
    if (err != BM_OK) {
        return err;
    }
    rc = mdb_get(txn, bm__store_dbi(s), &k, &v);
    if (rc == MDB_NOTFOUND) {
        goto out; /* empty store */
    }
    if (rc != 0) {
        err = bm_errf(em, bm_lmdb_err(rc), "cannot read '/0/t': %s",
                      mdb_strerror(rc));
        goto out;
    }
    if (v.mv_size != 8) {
        err = bm_errf(em, BM_ECORRUPT, "/0/t: value is %zu bytes, want 8",
                      v.mv_size);
        goto out;
    }
    sc.has_tip = true;
    sc.tip = bm_get_le64(v.mv_data);
    if (sc.tip > 0) {
        err = check_block(s, txn, sc.tip, NULL, &tip_hash, em);
    }
    if (err == BM_OK) {
        err = check_state(s, txn, &sc, sc.tip > 0 ? &tip_hash : NULL, em);
    }
out:
    bm__store_rtxn_end(s, txn);
    return err;
}

/* ---- encode helper ---- */

void bm_store_encoded_release(struct bm_store_encoded *e)
{
    if (e == NULL) {
        return;
    }
    bm_buf_release(&e->header);
    bm_buf_release(&e->data);
    bm_buf_release(&e->signature);
    bm_buf_release(&e->state);
    memset(e, 0, sizeof(*e));
}

enum bm_err bm_store_encoded_init(struct bm_store_encoded *out,
                                  const struct bm_signed_header *sh,
                                  const struct bm_data *d,
                                  const struct bm_state *st)
{
    return bm_store_encoded_init_hashed(out, sh, NULL, d, st);
}

enum bm_err bm_store_encoded_init_hashed(struct bm_store_encoded *out,
                                         const struct bm_signed_header *sh,
                                         const struct bm_hash *hash,
                                         const struct bm_data *d,
                                         const struct bm_state *st)
{
    enum bm_err err;

    bm_store_encoded_release(out);
    err = bm_signed_header_encode(sh, &out->header);
    if (err == BM_OK) {
        err = bm_data_encode(d, &out->data);
    }
    if (err == BM_OK) {
        err = bm_buf_copy(&out->signature, &sh->signature);
    }
    if (err == BM_OK && st != NULL) {
        err = bm_state_encode(st, &out->state);
    }
    if (err == BM_OK && hash != NULL) {
        out->hash = *hash;
    } else if (err == BM_OK) {
        err = bm_header_hash(&sh->header, &out->hash);
    }
    if (err != BM_OK) {
        bm_store_encoded_release(out);
        return err;
    }
    out->height = sh->header.height;
    return BM_OK;
}

void bm_store_encoded_view(const struct bm_store_encoded *e,
                           struct bm_store_block *blk)
{
    memset(blk, 0, sizeof(*blk));
    blk->height = e->height;
    blk->hash = e->hash;
    blk->header = e->header.ptr;
    blk->header_len = e->header.len;
    blk->data = e->data.ptr;
    blk->data_len = e->data.len;
    blk->signature = e->signature.ptr;
    blk->signature_len = e->signature.len;
    blk->state = e->state.ptr;
    blk->state_len = e->state.len;
}
