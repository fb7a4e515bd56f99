/*
 * Local DA server: the celestia-node blob/header JSON-RPC subset over
 * libmicrohttpd (one thread per connection), blobs persisted in LMDB under
 * <home>/da/. See include/blockv2/da.h and docs/DA.md.
 *
 * Locking: s->mu guards the LMDB environment, the height and the PRNG;
 * every LMDB transaction runs under it (the server is a test and laptop
 * tool, simplicity wins over read concurrency).
 */
#include "blockv2/da.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <microhttpd.h>
#include <sodium.h>

#include "da/da_json.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/lmdb_err.h"
#include "util/log.h"

#define MAP_SIZE ((size_t)4 << 30)
#define BLOB_HDR (BM_DA_NS_LEN + BM_DA_COMMITMENT_LEN + 2 + BM_DA_SIGNER_LEN)
#define CHAIN_ID "blockv2-local-da"

struct bm_da_server {
    struct MHD_Daemon *mhd;
    int listen_fd;
    int lock_fd;
    uint16_t port;
    MDB_env *env;
    MDB_dbi dbi_meta, dbi_heights, dbi_blobs;
    pthread_mutex_t mu;
    struct bm_cond cond;
    pthread_t ticker;
    bool ticker_started;
    bool stopping;         /* under mu */
    uint64_t height;       /* under mu */
    uint64_t rng;          /* under mu */
    int64_t outage_start;  /* under mu; 0 = not started */
    atomic_uint_fast64_t calls;
    atomic_uint_fast64_t connections;
    /* configuration (immutable after start) */
    size_t max_blob;
    size_t max_body;
    char *token;
    double fail_rate;
    uint32_t latency_ms;
    uint32_t outage_after;
    uint32_t outage_for_ms;
    bool outage_errors;
    uint32_t block_time_ms;
    enum bm_da_server_empty empty_mode;
    bool numbers;
};

struct conn {
    struct bm_dynbuf body;
    bool too_big;
};

/* ---- store ---- */

/* An LMDB failure, with the shared code (util/lmdb_err.h) and LMDB's text.
 * A missing record is handled by the callers before they get here. */
static enum bm_err mdb_err(int rc, struct bm_errmsg *em, const char *what)
{
    return bm_errf(em, bm_lmdb_err(rc), "local-da: %s: %s", what,
                   mdb_strerror(rc));
}

/* Appends a new height with the given blobs (n may be 0). Holds mu. */
static enum bm_err new_height_locked(struct bm_da_server *s,
                                     const struct bm_da_blob *blobs, size_t n,
                                     uint64_t *height, struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    uint8_t hk[8], tv[8], mk[] = "height";
    uint64_t h = s->height + 1;
    MDB_val k, v;
    int rc;

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        return mdb_err(rc, em, "begin");
    }
    bm_put_be64(hk, h);
    bm_put_le64(tv, bm_clock_wall_ns());
    k = (MDB_val){8, hk};
    v = (MDB_val){8, tv};
    rc = mdb_put(txn, s->dbi_heights, &k, &v, 0);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct bm_da_blob *b = &blobs[i];
        uint8_t bk[12];
        uint8_t *p;
        bm_put_be64(bk, h);
        bk[8] = (uint8_t)(i >> 24);
        bk[9] = (uint8_t)(i >> 16);
        bk[10] = (uint8_t)(i >> 8);
        bk[11] = (uint8_t)i;
        k = (MDB_val){sizeof(bk), bk};
        v = (MDB_val){BLOB_HDR + b->data.len, NULL};
        rc = mdb_put(txn, s->dbi_blobs, &k, &v, MDB_RESERVE);
        if (rc != 0) {
            break;
        }
        p = v.mv_data;
        memcpy(p, b->ns.b, BM_DA_NS_LEN);
        memcpy(p + BM_DA_NS_LEN, b->commitment, BM_DA_COMMITMENT_LEN);
        p[61] = (uint8_t)b->share_version;
        p[62] = b->has_signer ? 1 : 0;
        memcpy(p + 63, b->signer, BM_DA_SIGNER_LEN);
        if (b->data.len > 0) {
            memcpy(p + BLOB_HDR, b->data.ptr, b->data.len);
        }
    }
    if (rc == 0) {
        uint8_t hv[8];
        bm_put_le64(hv, h);
        k = (MDB_val){sizeof(mk) - 1, mk};
        v = (MDB_val){8, hv};
        rc = mdb_put(txn, s->dbi_meta, &k, &v, 0);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return mdb_err(rc, em, "write height");
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return mdb_err(rc, em, "commit");
    }
    s->height = h;
    *height = h;
    return BM_OK;
}

static enum bm_err open_store(struct bm_da_server *s, const char *home,
                              struct bm_errmsg *em)
{
    struct bm_dynbuf path;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    uint8_t mk[] = "height";
    enum bm_err err = BM_OK;
    int rc;

    bm_dynbuf_init(&path, 4096);
    if (bm_dynbuf_printf(&path, "%s/da", home) != BM_OK) {
        bm_dynbuf_release(&path);
        return bm_errf(em, BM_EINVAL, "home: path too long");
    }
    if (mkdir(home, 0700) != 0 && errno != EEXIST) {
        err = bm_errf(em, BM_EIO, "cannot create '%s': %s", home,
                      strerror(errno));
        goto out;
    }
    if (mkdir((const char *)path.ptr, 0700) != 0 && errno != EEXIST) {
        err = bm_errf(em, BM_EIO, "cannot create '%s': %s",
                      (const char *)path.ptr, strerror(errno));
        goto out;
    }
    bm_dynbuf_printf(&path, "/server.lock");
    s->lock_fd = open((const char *)path.ptr, O_RDWR | O_CREAT | O_CLOEXEC,
                      0600);
    if (s->lock_fd < 0) {
        err = bm_errf(em, BM_EIO, "cannot open '%s': %s",
                      (const char *)path.ptr, strerror(errno));
        goto out;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        err = bm_errf(em, BM_ELOCKED, "'%s' is locked by another DA server",
                      (const char *)path.ptr);
        goto out;
    }
    path.len -= strlen("/server.lock");
    path.ptr[path.len] = '\0';
    rc = mdb_env_create(&s->env);
    if (rc == 0) {
        rc = mdb_env_set_mapsize(s->env, MAP_SIZE);
    }
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(s->env, 4);
    }
    if (rc == 0) {
        rc = mdb_env_open(s->env, (const char *)path.ptr,
                           MDB_NOTLS | MDB_NOSYNC, 0600);
    }
    if (rc != 0) {
        err = bm_errf(em, BM_EIO, "cannot open LMDB '%s': %s",
                      (const char *)path.ptr, mdb_strerror(rc));
        goto out;
    }
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "heights", MDB_CREATE, &s->dbi_heights);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "blobs", MDB_CREATE, &s->dbi_blobs);
    }
    if (rc == 0) {
        k = (MDB_val){sizeof(mk) - 1, mk};
        rc = mdb_get(txn, s->dbi_meta, &k, &v);
        if (rc == 0) {
            if (v.mv_size != 8) {
                mdb_txn_abort(txn);
                err = bm_errf(em, BM_ECORRUPT, "local-da: meta height: "
                                               "%zu bytes, want 8",
                              v.mv_size);
                goto out;
            }
            s->height = bm_get_le64(v.mv_data);
        } else if (rc == MDB_NOTFOUND) {
            rc = 0;
        }
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else {
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        err = mdb_err(rc, em, "open databases");
        goto out;
    }
    if (s->height == 0) {
        uint64_t h;
        err = new_height_locked(s, NULL, 0, &h, em);
    }
out:
    bm_dynbuf_release(&path);
    return err;
}

/* ---- JSON output ---- */

static enum bm_err append_json_string(struct bm_dynbuf *d, const char *s)
{
    enum bm_err err = bm_dynbuf_append_byte(d, '"');

    for (; *s != '\0' && err == BM_OK; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            err = bm_dynbuf_append_byte(d, '\\');
            if (err == BM_OK) {
                err = bm_dynbuf_append_byte(d, ch);
            }
        } else if (ch < 0x20 || ch >= 0x7f) {
            err = bm_dynbuf_printf(d, "\\u%04x", ch);
        } else {
            err = bm_dynbuf_append_byte(d, ch);
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '"');
    }
    return err;
}

static void error_body(struct bm_dynbuf *d, const char *id, int code,
                       const char *msg)
{
    bm_dynbuf_reset(d);
    d->max = 1 << 16;
    bm_dynbuf_printf(d,
                     "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":%d,"
                     "\"message\":",
                     id, code);
    append_json_string(d, msg);
    bm_dynbuf_printf(d, "}}");
}

static enum bm_err header_json(struct bm_da_server *s, struct bm_dynbuf *d,
                               uint64_t h, int64_t t)
{
    char ts[64], hs[32];

    bm__da_time_format(ts, sizeof(ts), t);
    if (s->numbers) {
        snprintf(hs, sizeof(hs), "%" PRIu64, h);
    } else {
        snprintf(hs, sizeof(hs), "\"%" PRIu64 "\"", h);
    }
    return bm_dynbuf_printf(
        d,
        "{\"header\":{\"version\":{\"block\":\"11\",\"app\":\"0\"},"
        "\"chain_id\":\"" CHAIN_ID "\",\"height\":%s,\"time\":\"%s\","
        "\"last_block_id\":{\"hash\":\"\",\"parts\":{\"total\":0,"
        "\"hash\":\"\"}},\"data_hash\":\"\",\"app_hash\":\"\"},"
        "\"commit\":{\"height\":%s,\"round\":0,\"block_id\":{\"hash\":\"\","
        "\"parts\":{\"total\":0,\"hash\":\"\"}},\"signatures\":[]},"
        "\"validator_set\":{\"validators\":[],\"proposer\":null},"
        "\"dah\":{\"row_roots\":[],\"column_roots\":[]}}",
        hs, ts, hs);
}

/* ---- method handlers: append the result JSON, or return an error with
 *      its message in em (code 1, as go-jsonrpc sends plain errors) ---- */

static enum bm_err check_height_locked(struct bm_da_server *s, uint64_t h,
                                       struct bm_errmsg *em)
{
    if (h == 0) {
        return bm_errf(em, BM_EINVAL, "height must be bigger than zero");
    }
    if (h > s->height) {
        return bm_errf(em, BM_EDA_FUTURE_HEIGHT,
                       "header: " BM_DA_MSG_FUTURE
                       ": networkHeight: %" PRIu64
                       ", requestedHeight: %" PRIu64,
                       s->height, h);
    }
    return BM_OK;
}

static bool ns_in(const struct bm__da_request *req, const uint8_t *ns)
{
    for (size_t i = 0; i < req->n_ns; i++) {
        if (memcmp(req->ns[i].b, ns, BM_DA_NS_LEN) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Walks the blobs at req->height. For GetAll appends every match to d;
 * otherwise stops at the blob with req->commitment and, when d is not
 * NULL, appends it (Get) or a placeholder proof (GetProof). *found counts
 * matches. Holds mu.
 */
static enum bm_err scan_locked(struct bm_da_server *s,
                               const struct bm__da_request *req,
                               struct bm_dynbuf *d, size_t *found,
                               struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint8_t key[12] = {0};
    MDB_val k, v;
    int64_t index = 0;
    enum bm_err err = BM_OK;
    int rc;

    *found = 0;
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_cursor_open(txn, s->dbi_blobs, &cur);
    }
    if (rc != 0) {
        err = mdb_err(rc, em, "read");
        goto out;
    }
    bm_put_be64(key, req->height);
    k = (MDB_val){sizeof(key), key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct bm_da_blob b;
        const uint8_t *p = v.mv_data;
        size_t shares;
        if (k.mv_size != 12 || memcmp(k.mv_data, key, 8) != 0) {
            break;
        }
        if (v.mv_size <= BLOB_HDR || p[61] > 1) {
            err = bm_errf(em, BM_ECORRUPT, "local-da: corrupt blob record");
            goto out;
        }
        shares = bm__da_share_count(v.mv_size - BLOB_HDR);
        if (!ns_in(req, p) ||
            (req->method != BM__DA_GET_ALL &&
             memcmp(p + BM_DA_NS_LEN, req->commitment,
                    BM_DA_COMMITMENT_LEN) != 0)) {
            index += (int64_t)shares;
            continue;
        }
        (*found)++;
        if (d == NULL) {
            break;
        }
        if (req->method == BM__DA_GET_PROOF) {
            err = bm_dynbuf_printf(d,
                                   "[{\"start\":%" PRId64 ",\"end\":%" PRId64
                                   ",\"nodes\":[],\"is_max_namespace_"
                                   "ignored\":true}]",
                                   index, index + (int64_t)shares);
            break;
        }
        memset(&b, 0, sizeof(b));
        memcpy(b.ns.b, p, BM_DA_NS_LEN);
        memcpy(b.commitment, p + BM_DA_NS_LEN, BM_DA_COMMITMENT_LEN);
        b.share_version = p[61];
        b.has_signer = p[62] != 0;
        memcpy(b.signer, p + 63, BM_DA_SIGNER_LEN);
        b.data.ptr = (uint8_t *)p + BLOB_HDR; /* borrowed, not released */
        b.data.len = v.mv_size - BLOB_HDR;
        b.index = index;
        if (req->method == BM__DA_GET_ALL && *found > 1) {
            err = bm_dynbuf_append_byte(d, ',');
        }
        if (err == BM_OK) {
            err = bm__da_blob_append_json(d, &b);
        }
        if (err != BM_OK || req->method != BM__DA_GET_ALL) {
            break;
        }
        index += (int64_t)shares;
    }
    if (err == BM_OK && rc != 0 && rc != MDB_NOTFOUND) {
        err = mdb_err(rc, em, "scan");
    }
out:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return err;
}

static enum bm_err do_submit(struct bm_da_server *s,
                             struct bm__da_request *req, struct bm_dynbuf *d,
                             struct bm_errmsg *em)
{
    uint64_t h = 0;
    enum bm_err err;

    if (req->blobs.n == 0) {
        return bm_errf(em, BM_EINVAL, "blob: cannot submit an empty list");
    }
    for (size_t i = 0; i < req->blobs.n; i++) {
        struct bm_da_blob *b = &req->blobs.v[i];
        if (b->data.len == 0) {
            return bm_errf(em, BM_EINVAL, "blob %zu: data can not be empty",
                           i);
        }
        if (b->data.len > s->max_blob) {
            return bm_errf(em, BM_EDA_TOO_BIG, BM_DA_MSG_TOO_BIG);
        }
        if (b->share_version == 1 && !b->has_signer) {
            return bm_errf(em, BM_EINVAL,
                           "blob %zu: share version 1 needs a signer", i);
        }
        /* celestia-app computes the commitment itself */
        err = bm_da_commitment(b->commitment, &b->ns, b->data.ptr,
                               b->data.len, b->share_version,
                               b->has_signer ? b->signer : NULL);
        if (err != BM_OK) {
            return bm_errf(em, err, "blob %zu: %s", i, bm_strerror(err));
        }
    }
    pthread_mutex_lock(&s->mu);
    err = new_height_locked(s, req->blobs.v, req->blobs.n, &h, em);
    pthread_mutex_unlock(&s->mu);
    if (err != BM_OK) {
        return err;
    }
    return bm_dynbuf_printf(d, "%" PRIu64, h);
}

static enum bm_err do_blob_read(struct bm_da_server *s,
                                struct bm__da_request *req,
                                struct bm_dynbuf *d, struct bm_errmsg *em)
{
    size_t found = 0, mark;
    enum bm_err err;

    pthread_mutex_lock(&s->mu);
    err = check_height_locked(s, req->height, em);
    if (err != BM_OK) {
        goto out;
    }
    if (req->method == BM__DA_GET_ALL) {
        mark = d->len;
        err = bm_dynbuf_append_byte(d, '[');
        if (err == BM_OK) {
            err = scan_locked(s, req, d, &found, em);
        }
        if (err == BM_OK && found == 0) {
            d->len = mark;
            if (s->empty_mode == BM_DA_EMPTY_NULL) {
                err = bm_dynbuf_printf(d, "null");
            } else if (s->empty_mode == BM_DA_EMPTY_LIST) {
                err = bm_dynbuf_printf(d, "[]");
            } else {
                err = bm_errf(em, BM_EDA_NOT_FOUND, BM_DA_MSG_NOT_FOUND);
            }
        } else if (err == BM_OK) {
            err = bm_dynbuf_append_byte(d, ']');
        }
        goto out;
    }
    err = scan_locked(s, req, req->method == BM__DA_INCLUDED ? NULL : d,
                      &found, em);
    if (err != BM_OK) {
        goto out;
    }
    if (req->method == BM__DA_INCLUDED) {
        err = bm_dynbuf_printf(d, "%s", found > 0 ? "true" : "false");
    } else if (found == 0) {
        err = bm_errf(em, BM_EDA_NOT_FOUND, BM_DA_MSG_NOT_FOUND);
    }
out:
    pthread_mutex_unlock(&s->mu);
    return err;
}

static enum bm_err do_header(struct bm_da_server *s,
                             struct bm__da_request *req, struct bm_dynbuf *d,
                             struct bm_errmsg *em)
{
    MDB_txn *txn = NULL;
    uint8_t hk[8];
    MDB_val k, v;
    uint64_t h;
    int64_t t = 0;
    enum bm_err err = BM_OK;
    int rc;

    pthread_mutex_lock(&s->mu);
    h = req->method == BM__DA_HEADER_GET_BY_HEIGHT ? req->height : s->height;
    err = check_height_locked(s, h, em);
    if (err != BM_OK) {
        goto out;
    }
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        err = mdb_err(rc, em, "read");
        goto out;
    }
    bm_put_be64(hk, h);
    k = (MDB_val){8, hk};
    rc = mdb_get(txn, s->dbi_heights, &k, &v);
    if (rc == 0 && v.mv_size == 8) {
        t = (int64_t)bm_get_le64(v.mv_data);
    } else if (rc == 0 || rc == MDB_NOTFOUND) {
        err = bm_errf(em, BM_ECORRUPT, "local-da: no time for height %" PRIu64,
                      h);
    } else {
        err = mdb_err(rc, em, "read height");
    }
    mdb_txn_abort(txn);
out:
    pthread_mutex_unlock(&s->mu);
    if (err == BM_OK) {
        err = header_json(s, d, h, t);
    }
    return err;
}

static uint64_t next_rand_locked(struct bm_da_server *s)
{
    /* xorshift64* */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 2685821657736338717ULL;
}

/* Builds the whole response body into d; returns the HTTP status, or 0
 * to drop the connection without an answer. */
static unsigned handle(struct bm_da_server *s, struct conn *c,
                       const char *auth, struct bm_dynbuf *d)
{
    struct bm__da_request req;
    struct bm_errmsg em = {{0}};
    uint64_t n = atomic_fetch_add(&s->calls, 1) + 1;
    bool fail = false;
    int rpc_code = 0;
    enum bm_err err;

    if (s->outage_after > 0 && n > s->outage_after) {
        int64_t now = (int64_t)bm_clock_now_ns();
        bool drop;
        pthread_mutex_lock(&s->mu);
        if (s->outage_start == 0) {
            s->outage_start = now;
            bm_log_info("da-server", "outage begins for %u ms",
                        s->outage_for_ms);
        }
        drop = now - s->outage_start < (int64_t)s->outage_for_ms * 1000000;
        pthread_mutex_unlock(&s->mu);
        if (drop && s->outage_errors) {
            error_body(d, "null", 1, "local-da: unavailable (outage)");
            return MHD_HTTP_SERVICE_UNAVAILABLE;
        }
        if (drop) {
            return 0;
        }
    }
    if (s->latency_ms > 0) {
        bm_sleep_ms(s->latency_ms);
    }
    if (s->token != NULL) {
        size_t tl = strlen(s->token);
        bool ok = auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
                  strlen(auth + 7) == tl &&
                  sodium_memcmp(auth + 7, s->token, tl) == 0;
        if (!ok) {
            error_body(d, "null", 1, "unauthorized: missing or invalid "
                                     "bearer token");
            return MHD_HTTP_UNAUTHORIZED;
        }
    }
    if (c->too_big) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body above %zu bytes",
                 s->max_body);
        error_body(d, "null", BM__DA_RPC_INVALID_REQUEST, msg);
        return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    err = bm__da_request_parse((const char *)c->body.ptr, c->body.len, &req,
                               &rpc_code, &em);
    if (err != BM_OK) {
        error_body(d, req.id, rpc_code ? rpc_code : 1,
                   bm_errmsg_str(&em, err));
        bm__da_request_release(&req);
        return MHD_HTTP_OK;
    }
    if (s->fail_rate > 0) {
        pthread_mutex_lock(&s->mu);
        fail = (double)(next_rand_locked(s) >> 11) * 0x1.0p-53 < s->fail_rate;
        pthread_mutex_unlock(&s->mu);
    }
    if (fail) {
        error_body(d, req.id, 1, "local-da: injected failure");
        bm__da_request_release(&req);
        return MHD_HTTP_OK;
    }
    err = bm_dynbuf_printf(d, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":",
                           req.id);
    if (err == BM_OK) {
        switch (req.method) {
        case BM__DA_SUBMIT:
            err = do_submit(s, &req, d, &em);
            break;
        case BM__DA_GET_ALL:
        case BM__DA_GET:
        case BM__DA_GET_PROOF:
        case BM__DA_INCLUDED:
            err = do_blob_read(s, &req, d, &em);
            break;
        default:
            err = do_header(s, &req, d, &em);
            break;
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(d, '}');
    }
    if (err != BM_OK) {
        error_body(d, req.id, 1, bm_errmsg_str(&em, err));
    }
    bm__da_request_release(&req);
    return MHD_HTTP_OK;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct bm_da_server *s = cls;
    struct conn *c = *con_cls;
    struct MHD_Response *resp;
    struct bm_dynbuf d;
    struct bm_buf out = {NULL, 0};
    unsigned status;
    enum MHD_Result ret;

    (void)url;
    (void)version;
    if (c == NULL) {
        c = bm_calloc(1, sizeof(*c));
        if (c == NULL) {
            return MHD_NO;
        }
        /* The body grows with the bytes that arrive (at most twice what
         * came, and never above max_body), whatever Content-Length
         * claims: a client that announces a large upload and sends
         * nothing costs no memory. */
        bm_dynbuf_init(&c->body, s->max_body);
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!c->too_big &&
            bm_dynbuf_append(&c->body, upload_data, *upload_data_size) !=
                BM_OK) {
            c->too_big = true;
            bm_dynbuf_release(&c->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    bm_dynbuf_init(&d, (size_t)1 << 30);
    if (strcmp(method, "POST") != 0) {
        error_body(&d, "null", BM__DA_RPC_INVALID_REQUEST,
                   "JSON-RPC needs POST");
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else {
        status = handle(s, c, MHD_lookup_connection_value(
                                  mc, MHD_HEADER_KIND, "Authorization"),
                        &d);
    }
    if (status == 0) {
        bm_dynbuf_release(&d);
        return MHD_NO;
    }
    bm_dynbuf_detach(&d, &out);
    resp = MHD_create_response_from_buffer_with_free_callback(
        out.len, out.ptr, bm_free);
    if (resp == NULL) {
        bm_buf_release(&out);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *mc,
                         void **con_cls, enum MHD_RequestTerminationCode tc)
{
    struct conn *c = *con_cls;

    (void)cls;
    (void)mc;
    (void)tc;
    if (c != NULL) {
        bm_dynbuf_release(&c->body);
        bm_free(c);
        *con_cls = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *mc,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct bm_da_server *s = cls;

    (void)mc;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->connections, 1);
    }
}

/* Adds an empty height every block_time_ms, on a fixed monotonic
 * schedule (a wall-clock step neither stalls nor rushes it). */
static void *ticker_main(void *arg)
{
    struct bm_da_server *s = arg;
    uint64_t next = bm_clock_now_ns();

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        uint64_t h;
        struct bm_errmsg em = {{0}};

        next = bm_clock_after_ms(next, (int64_t)s->block_time_ms);
        while (!s->stopping &&
               bm_cond_wait_until(&s->cond, &s->mu, next) != ETIMEDOUT) {
        }
        if (s->stopping) {
            break;
        }
        if (new_height_locked(s, NULL, 0, &h, &em) != BM_OK) {
            bm_log_warn("da-server", "cannot add an empty height: %s",
                        em.msg);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static enum bm_err bind_listen(struct bm_da_server *s, const char *host,
                               uint16_t port, struct bm_errmsg *em)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return bm_errf(em, BM_EINVAL, "listen: '%s' is not an IPv4 address",
                       host);
    }
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) {
        return bm_errf(em, BM_ESYS, "socket: %s", strerror(errno));
    }
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(s->listen_fd, 128) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&sa, &sl) != 0) {
        return bm_errf(em, BM_ESYS, "cannot listen on %s:%u: %s", host,
                       (unsigned)port, strerror(errno));
    }
    s->port = ntohs(sa.sin_port);
    return BM_OK;
}

enum bm_err bm_da_server_start(struct bm_da_server **out,
                               const struct bm_da_server_config *cfg,
                               struct bm_errmsg *em)
{
    struct bm_da_server *s;
    enum bm_err err;

    if (cfg->home == NULL || cfg->home[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "home: required");
    }
    if (!(cfg->fail_rate >= 0 && cfg->fail_rate <= 1)) {
        return bm_errf(em, BM_EINVAL, "fail-rate: want 0..1");
    }
    s = bm_calloc(1, sizeof(*s));
    if (s == NULL) {
        return BM_ENOMEM;
    }
    s->listen_fd = -1;
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    bm_cond_init(&s->cond);
    atomic_init(&s->calls, 0);
    atomic_init(&s->connections, 0);
    s->max_blob = cfg->max_blob_size ? cfg->max_blob_size
                                     : BM_DA_DEFAULT_MAX_BLOB_SIZE;
    if (s->max_blob > ((size_t)1 << 28)) {
        err = bm_errf(em, BM_EINVAL, "max-blob-size: at most 256 MiB");
        goto fail;
    }
    /* base64 inflates by 4/3; leave room for several blobs and JSON */
    s->max_body = s->max_blob * 2 + ((size_t)1 << 20);
    s->fail_rate = cfg->fail_rate;
    s->latency_ms = cfg->latency_ms;
    s->outage_after = cfg->outage_after;
    s->outage_for_ms = cfg->outage_for_ms;
    s->outage_errors = cfg->outage_errors;
    s->block_time_ms = cfg->block_time_ms;
    s->empty_mode = cfg->empty_mode;
    s->numbers = cfg->heights_as_numbers;
    s->rng = cfg->seed ? cfg->seed
                       : bm_clock_wall_ns() | 1u;
    if (cfg->auth_token != NULL && cfg->auth_token[0] != '\0') {
        s->token = bm_strdup(cfg->auth_token);
        if (s->token == NULL) {
            err = BM_ENOMEM;
            goto fail;
        }
    }
    err = open_store(s, cfg->home, em);
    if (err != BM_OK) {
        goto fail;
    }
    err = bind_listen(s, cfg->listen_host ? cfg->listen_host : "127.0.0.1",
                      cfg->port, em);
    if (err != BM_OK) {
        goto fail;
    }
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        /* larger read buffer: fewer, bigger upload chunks for big blobs */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
        MHD_OPTION_END);
    if (s->mhd == NULL) {
        err = bm_errf(em, BM_ESYS, "cannot start the HTTP daemon");
        goto fail;
    }
    s->listen_fd = -1; /* MHD closes it on stop */
    if (s->block_time_ms > 0) {
        if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
            err = bm_errf(em, BM_ESYS, "cannot start the block timer");
            goto fail;
        }
        s->ticker_started = true;
    }
    bm_log_info("da-server", "listening port=%u height=%" PRIu64,
                (unsigned)s->port, bm_da_server_height(s));
    *out = s;
    return BM_OK;
fail:
    bm_da_server_stop(s);
    return err;
}

uint16_t bm_da_server_port(const struct bm_da_server *s)
{
    return s->port;
}

uint64_t bm_da_server_height(struct bm_da_server *s)
{
    uint64_t h;

    pthread_mutex_lock(&s->mu);
    h = s->height;
    pthread_mutex_unlock(&s->mu);
    return h;
}

uint64_t bm_da_server_calls(struct bm_da_server *s)
{
    return atomic_load(&s->calls);
}

uint64_t bm_da_server_connections(struct bm_da_server *s)
{
    return atomic_load(&s->connections);
}

void bm_da_server_stop(struct bm_da_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->ticker_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        bm_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->ticker, NULL);
    }
    if (s->mhd != NULL) {
        MHD_stop_daemon(s->mhd);
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    if (s->env != NULL) {
        mdb_env_sync(s->env, 1);
        mdb_env_close(s->env);
    }
    if (s->lock_fd >= 0) {
        close(s->lock_fd);
    }
    bm_free(s->token);
    bm_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    bm_free(s);
}
