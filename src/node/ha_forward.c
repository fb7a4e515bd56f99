/* Forwarding of acknowledged txs to the HA leader (node/ha_forward.h). */
#include "node/ha_forward.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "blockv2/buf.h"
#include "blockv2/executor.h"
#include "blockv2/ha.h"
#include "blockv2/sequencer.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/curl_body.h"
#include "util/curl_init.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/log.h"

#define MOD "ha"
#define DEFAULT_INTERVAL_MS 200u
#define DEFAULT_BACKOFF_MS 5000u
#define DEFAULT_TIMEOUT_MS 5000u
/* A batch's tx bytes: hex doubles them, and the RPC's body cap for a
 * batch is 1 MiB. */
#define MAX_BATCH_BYTES (400u * 1024u)
#define MAX_REPLY_BYTES ((size_t)4 << 20)
#define REPLY_DEPTH 4

struct peer {
    char *id;
    char *url; /* base, "http://host:port" without a trailing '/' */
};

struct bm_ha_fwd {
    struct bm_ha *ha;
    struct bm_seq *seq;
    struct peer *peers;
    size_t n_peers;
    uint32_t interval_ms;
    uint32_t max_backoff_ms;
    uint32_t timeout_ms;
    CURL *curl;

    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* stop, stats, cv */
    struct bm_cond cv;
    bool stop;
    struct bm_ha_fwd_stats st;
    char warned_leader[BM_HA_MAX_NODE_ID + 1]; /* "no address" said once */
};

/* ------------------------------------------------------------ peers */

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] > '~') {
            return false;
        }
    }
    return true;
}

static enum bm_err parse_peer(const char *e, size_t idx, struct peer *p,
                              struct bm_errmsg *em)
{
    const char *eq = e != NULL ? strchr(e, '=') : NULL;
    size_t id_len;
    size_t url_len;
    const char *url;
    bool scheme;

    if (eq == NULL) {
        return bm_errf(em, BM_ECONFIG, "config: ha.peers: entry %zu: want "
                       "NODE_ID=HOST:PORT (or =http://HOST:PORT)", idx + 1);
    }
    id_len = (size_t)(eq - e);
    url = eq + 1;
    url_len = strlen(url);
    while (url_len > 0 && url[url_len - 1] == '/') {
        url_len--;
    }
    if (id_len == 0 || id_len > BM_HA_MAX_NODE_ID || !printable(e, id_len)) {
        return bm_errf(em, BM_ECONFIG, "config: ha.peers: entry %zu: node id "
                       "must be 1..%d printable ASCII bytes", idx + 1,
                       BM_HA_MAX_NODE_ID);
    }
    scheme = strncmp(url, "http://", 7) == 0;
    if (strstr(url, "://") != NULL && !scheme) {
        return bm_errf(em, BM_ECONFIG, "config: ha.peers: entry %zu: only "
                       "http:// RPC addresses", idx + 1);
    }
    if (url_len <= (scheme ? 7u : 0u) || url_len + 7 > BM_HA_FWD_MAX_URL ||
        !printable(url, url_len)) {
        return bm_errf(em, BM_ECONFIG, "config: ha.peers: entry %zu: the RPC "
                       "address must be 1..%d printable bytes", idx + 1,
                       BM_HA_FWD_MAX_URL - 7);
    }
    p->id = bm_xcalloc(1, id_len + 1);
    memcpy(p->id, e, id_len);
    p->url = bm_xcalloc(1, url_len + 8);
    snprintf(p->url, url_len + 8, "%s%.*s", scheme ? "" : "http://",
             (int)url_len, url);
    return BM_OK;
}

static const struct peer *find_peer(const struct bm_ha_fwd *f, const char *id)
{
    for (size_t i = 0; i < f->n_peers; i++) {
        if (strcmp(f->peers[i].id, id) == 0) {
            return &f->peers[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ the reply */

enum bm_err bm_ha_fwd_decode_reply(const char *body, size_t len, size_t n,
                                   int *status, struct bm_errmsg *em)
{
    struct json_object *root = NULL;
    struct json_object *res = NULL;
    enum bm_err err;

    err = bm_json_parse(body, len, REPLY_DEPTH, &root, em);
    if (err != BM_OK) {
        return err;
    }
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "results", &res) ||
        !json_object_is_type(res, json_type_array)) {
        err = bm_errf(em, BM_EPARSE, "leader's reply: results: not an array");
        goto out;
    }
    if (json_object_array_length(res) != n) {
        err = bm_errf(em, BM_EPARSE, "leader's reply: results: %zu entries "
                      "for %zu txs", json_object_array_length(res), n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(res, i);
        struct json_object *s = NULL;
        int64_t v;

        if (!json_object_is_type(e, json_type_object) ||
            !json_object_object_get_ex(e, "status", &s) ||
            !json_object_is_type(s, json_type_int)) {
            err = bm_errf(em, BM_EPARSE, "leader's reply: results[%zu].status: "
                          "not an integer", i);
            goto out;
        }
        v = json_object_get_int64(s);
        if (v < 100 || v > 599) {
            err = bm_errf(em, BM_EPARSE, "leader's reply: results[%zu].status: "
                          "%lld is not an HTTP status", i, (long long)v);
            goto out;
        }
        status[i] = (int)v;
    }
out:
    json_object_put(root);
    return err;
}

/* ------------------------------------------------------------ one round */

/* {"txs_hex": ["..", ..]} of txs[0..n) into *out (returns owned). */
static enum bm_err batch_body(const struct bm_buf *txs, size_t n,
                              struct bm_dynbuf *out)
{
    static const char head[] = "{\"txs_hex\":[";
    enum bm_err err;

    bm_dynbuf_init(out, (size_t)2 << 20);
    err = bm_dynbuf_append(out, head, sizeof(head) - 1);
    for (size_t i = 0; err == BM_OK && i < n; i++) {
        char *hex = bm_hex_dup(txs[i].ptr, txs[i].len);

        if (hex == NULL) {
            return BM_ENOMEM;
        }
        err = bm_dynbuf_append(out, i > 0 ? ",\"" : "\"", i > 0 ? 2 : 1);
        if (err == BM_OK) {
            err = bm_dynbuf_append(out, hex, 2 * txs[i].len);
        }
        if (err == BM_OK) {
            err = bm_dynbuf_append_byte(out, '"');
        }
        bm_free(hex);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append(out, "]}", 2);
    }
    return err;
}

/* POSTs body to <url>/tx; *status the HTTP status, 0 when no answer came
 * (em says why). reply returns owned. */
static void post(struct bm_ha_fwd *f, const char *url,
                 const struct bm_dynbuf *body, long *status,
                 struct bm_dynbuf *reply, struct bm_errmsg *em)
{
    struct curl_slist *hdr = NULL;
    char full[BM_HA_FWD_MAX_URL + 8];
    CURLcode cc;

    *status = 0;
    bm_dynbuf_init(reply, MAX_REPLY_BYTES);
    snprintf(full, sizeof(full), "%s/tx", url);
    curl_easy_reset(f->curl);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(f->curl, CURLOPT_URL, full);
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, (const char *)body->ptr);
    curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, bm_curl_body_write);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
    curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)f->timeout_ms);
    curl_easy_setopt(f->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->curl, CURLOPT_PROTOCOLS_STR, "http");
    cc = curl_easy_perform(f->curl);
    if (cc != CURLE_OK) {
        bm_errf(em, BM_ECONNECT, "POST %s: %s", full, curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(hdr);
}

static void count(struct bm_ha_fwd *f, uint64_t batches, uint64_t txs,
                  uint64_t dups, uint64_t failures)
{
    pthread_mutex_lock(&f->mu);
    f->st.batches += batches;
    f->st.txs += txs;
    f->st.duplicates += dups;
    f->st.failures += failures;
    pthread_mutex_unlock(&f->mu);
}

enum outcome {
    IDLE,    /* nothing to send (or not a follower): wait a round */
    AGAIN,   /* sent a full batch: go on at once */
    BACKOFF, /* the leader did not take them: back off */
};

/* Sends the head of the queue to the leader `who` at url. */
static enum outcome send_batch(struct bm_ha_fwd *f, const char *who,
                               const char *url)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf *txs = NULL;
    uint64_t *ids = NULL;
    uint64_t *done = NULL;
    int *status = NULL;
    struct bm_dynbuf body = {0};
    struct bm_dynbuf reply = {0};
    size_t n = 0, n_done = 0, took = 0, dups = 0, removed = 0;
    long http = 0;
    enum outcome out = BACKOFF;
    enum bm_err err;

    err = bm_seq_peek(f->seq, BM_HA_FWD_MAX_TXS, MAX_BATCH_BYTES, &txs, &ids,
                      &n, &em);
    if (err != BM_OK) {
        bm_log_warn(MOD, "forward: reading the queue err=%s: %s",
                    bm_err_name(err), bm_errmsg_str(&em, err));
        return BACKOFF;
    }
    if (n == 0) {
        return IDLE;
    }
    err = batch_body(txs, n, &body);
    if (err == BM_OK) {
        post(f, url, &body, &http, &reply, &em);
    }
    if (err != BM_OK || http != 200) {
        if (err == BM_OK && http != 0) {
            bm_errf(&em, BM_ERPC, "HTTP %ld: %.*s", http,
                    (int)(reply.len < 200 ? reply.len : 200),
                    reply.ptr != NULL ? (const char *)reply.ptr : "");
            err = BM_ERPC;
        } else if (err == BM_OK) {
            err = BM_ECONNECT;
        }
        bm_log_warn(MOD, "forward: %zu txs to leader '%s' at %s not taken, "
                    "kept; retrying with back-off err=%s: %s", n, who, url,
                    bm_err_name(err), bm_errmsg_str(&em, err));
        count(f, 0, 0, 0, 1);
        goto cleanup;
    }
    status = bm_xcalloc(n, sizeof(*status));
    done = bm_xcalloc(n, sizeof(*done));
    err = bm_ha_fwd_decode_reply((const char *)reply.ptr, reply.len, n,
                                 status, &em);
    if (err != BM_OK) {
        bm_log_warn(MOD, "forward: leader '%s' at %s: %s; %zu txs kept",
                    who, url, bm_errmsg_str(&em, err), n);
        count(f, 0, 0, 0, 1);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        if (status[i] == 202 || status[i] == 409) {
            done[n_done++] = ids[i];
            took += status[i] == 202;
            dups += status[i] == 409;
        }
    }
    /* Only what the leader holds (202) or had (409) leaves the queue. */
    err = bm_seq_forget(f->seq, done, n_done, &removed, &em);
    if (err != BM_OK) {
        bm_log_warn(MOD, "forward: removing %zu forwarded txs from the queue "
                    "err=%s: %s (sent again: the leader answers 409)",
                    n_done, bm_err_name(err), bm_errmsg_str(&em, err));
    }
    count(f, 1, took, dups, n - n_done > 0 ? 1 : 0);
    bm_log_info(MOD, "forwarded txs to the leader leader=%s url=%s sent=%zu "
                "accepted=%zu duplicates=%zu kept=%zu", who, url, n, took,
                dups, n - n_done);
    /* All taken: at once again (the next peek says whether more wait). */
    out = n_done < n || err != BM_OK ? BACKOFF : AGAIN;
cleanup:
    bm_dynbuf_release(&body);
    bm_dynbuf_release(&reply);
    bm_exec_txs_free(txs, n);
    bm_free(ids);
    bm_free(done);
    bm_free(status);
    return out;
}

/* One round: forwards when this candidate follows a known leader. */
static enum outcome round_once(struct bm_ha_fwd *f)
{
    struct bm_ha_status hs;
    const struct peer *p;
    size_t pending = 0;

    bm_ha_status(f->ha, &hs);
    if (hs.role == BM_HA_FOLLOWER) {
        bm_seq_queue_size(f->seq, &pending, NULL);
    }
    pthread_mutex_lock(&f->mu);
    f->st.pending = pending;
    pthread_mutex_unlock(&f->mu);
    if (hs.role != BM_HA_FOLLOWER) {
        return IDLE; /* the leader's own Producer takes its queue */
    }
    if (pending == 0 || hs.leader_id[0] == '\0' ||
        strcmp(hs.leader_id, hs.node_id) == 0) {
        return IDLE;
    }
    p = find_peer(f, hs.leader_id);
    if (p == NULL) {
        if (strcmp(f->warned_leader, hs.leader_id) != 0) {
            snprintf(f->warned_leader, sizeof(f->warned_leader), "%s",
                     hs.leader_id);
            bm_log_warn(MOD, "forward: no ha.peers address for the leader "
                        "'%s': %zu acknowledged txs wait in this node's "
                        "queue", hs.leader_id, pending);
        }
        return IDLE;
    }
    return send_batch(f, hs.leader_id, p->url);
}

static void *fwd_main(void *arg)
{
    struct bm_ha_fwd *f = arg;
    uint64_t backoff = 0;

    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        enum outcome o;
        uint64_t wait;

        pthread_mutex_unlock(&f->mu);
        o = round_once(f);
        if (o == BACKOFF) {
            backoff = backoff == 0 ? f->interval_ms : backoff * 2;
            if (backoff > f->max_backoff_ms) {
                backoff = f->max_backoff_ms;
            }
        } else {
            backoff = 0;
        }
        wait = o == AGAIN ? 0 : o == BACKOFF ? backoff : f->interval_ms;
        pthread_mutex_lock(&f->mu);
        if (wait > 0 && !f->stop) {
            uint64_t until = bm_clock_deadline_ms((int64_t)wait);

            while (!f->stop &&
                   bm_cond_wait_until(&f->cv, &f->mu, until) == 0) {
            }
        }
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static void fwd_free(struct bm_ha_fwd *f)
{
    for (size_t i = 0; i < f->n_peers; i++) {
        bm_free(f->peers[i].id);
        bm_free(f->peers[i].url);
    }
    bm_free(f->peers);
    if (f->curl != NULL) {
        curl_easy_cleanup(f->curl);
    }
    bm_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    bm_free(f);
}

enum bm_err bm_ha_fwd_start(struct bm_ha_fwd **out,
                            const struct bm_ha_fwd_config *cfg,
                            struct bm_errmsg *em)
{
    struct bm_ha_fwd *f;
    enum bm_err err = BM_OK;

    *out = NULL;
    if (cfg == NULL || cfg->ha == NULL || cfg->seq == NULL ||
        (cfg->n_peers > 0 && cfg->peers == NULL)) {
        return bm_errf(em, BM_EINVAL, "ha forward: no election or queue");
    }
    if (cfg->n_peers > BM_HA_FWD_MAX_PEERS) {
        return bm_errf(em, BM_ECONFIG, "config: ha.peers: %zu entries, at "
                       "most %d", cfg->n_peers, BM_HA_FWD_MAX_PEERS);
    }
    f = bm_xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    bm_cond_init(&f->cv);
    f->ha = cfg->ha;
    f->seq = cfg->seq;
    f->interval_ms = cfg->interval_ms ? cfg->interval_ms : DEFAULT_INTERVAL_MS;
    f->max_backoff_ms =
        cfg->max_backoff_ms ? cfg->max_backoff_ms : DEFAULT_BACKOFF_MS;
    f->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    f->peers = cfg->n_peers > 0 ? bm_xcalloc(cfg->n_peers, sizeof(*f->peers))
                                : NULL;
    for (size_t i = 0; i < cfg->n_peers; i++) {
        err = parse_peer(cfg->peers[i], i, &f->peers[i], em);
        if (err != BM_OK) {
            goto fail;
        }
        f->n_peers++;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(f->peers[j].id, f->peers[i].id) == 0) {
                err = bm_errf(em, BM_ECONFIG, "config: ha.peers: node id "
                              "'%s' twice", f->peers[i].id);
                goto fail;
            }
        }
    }
    err = bm_curl_init();
    if (err == BM_OK) {
        f->curl = curl_easy_init();
        if (f->curl == NULL) {
            err = bm_errf(em, BM_EIO, "ha forward: cannot initialise "
                          "libcurl");
        }
    }
    if (err != BM_OK) {
        goto fail;
    }
    if (pthread_create(&f->thread, NULL, fwd_main, f) != 0) {
        err = bm_errf(em, BM_ENOMEM, "ha forward: cannot start its thread");
        goto fail;
    }
    f->started = true;
    *out = f;
    return BM_OK;
fail:
    fwd_free(f);
    return err;
}

void bm_ha_fwd_stop(struct bm_ha_fwd *f)
{
    if (f == NULL) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    bm_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (f->started) {
        pthread_join(f->thread, NULL);
    }
    fwd_free(f);
}

void bm_ha_fwd_stats(struct bm_ha_fwd *f, struct bm_ha_fwd_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (f == NULL) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    *out = f->st;
    pthread_mutex_unlock(&f->mu);
}
