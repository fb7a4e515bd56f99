/*
 * Leader election and fencing on etcd (include/blockv2/ha.h, docs/HA.md).
 *
 * Four etcd clients, so no thread waits behind another's call: the
 * session thread's (lease grant, keep-alive, campaign), the writer's
 * (bm_ha_replicate, on the caller's thread) and the two watch threads'
 * (<prefix>/leader, <prefix>/block).
 *
 * Timing (TTL = the granted lease TTL):
 *  - keep-alive every TTL/3 after the last answered one; a failed one is
 *    retried every TTL/10;
 *  - a leader whose last answered keep-alive was sent at t is sure of its
 *    lease until t + TTL (etcd counts from when it received it, later);
 *    it steps down at t + TTL - TTL/6, so it stops before etcd could let
 *    another candidate win; every session call's deadline is cut to that
 *    instant, so a hung etcd cannot keep the thread from stepping down;
 *  - a follower campaigns every TTL/3, and at once when the watch sees the
 *    leader key deleted.
 */
#include "blockv2/ha.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/types.h"
#include "ha/etcd.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "ha"
#define MIN_TTL_S 2u
#define MAX_TTL_S 600u
#define WATCH_RETRY_MS 500
#define MS 1000000ull

struct bm_ha {
    struct bm_etcd *sess;
    struct bm_etcd *writer;
    struct bm_etcd *watcher;
    struct bm_etcd *bwatcher; /* the watch of <prefix>/block */
    char *prefix;
    char *node_id;
    char *leader_key;
    char *block_key;
    uint32_t ttl_cfg_s;
    uint32_t call_timeout_ms;
    bm_ha_role_fn *on_role;
    void *arg;
    bm_ha_role_fn *listener; /* under cb_mu (bm_ha_set_listener) */
    void *listener_arg;

    pthread_mutex_t cb_mu; /* orders callbacks; taken before mu */
    uint64_t delivered_seq;

    pthread_mutex_t mu;
    struct bm_cond cv;
    bool started;
    bool stopped;
    bool stopping;
    bool wake_campaign;
    /* A follower behind the record defers a campaign a free leader key
     * asked for until then (monotonic ns), so one at the record wins. */
    uint64_t campaign_not_before;
    bool local_known;      /* bm_ha_note_store_height was called */
    uint64_t local_height; /* this node's store height, as last told */
    enum bm_ha_role role;
    enum bm_ha_reason why;
    uint64_t role_seq;
    int64_t token;
    int64_t lease;
    int64_t ttl_s;
    /* The lease is certain until then (monotonic ns): the last grant or
     * answered keep-alive was sent at t, and this is t + TTL - TTL/6. A
     * leader steps down at this instant. */
    uint64_t step_down_at;
    uint64_t next_keepalive;
    uint64_t next_campaign;
    char leader_id[BM_HA_MAX_NODE_ID + 1];
    bool replicated_known;
    uint64_t replicated_height;
    uint8_t replicated_hash[32];
    size_t replicated_hash_len;
    struct bm_buf replicated_rec; /* its RaftBlockState bytes */
    int64_t block_rev; /* last <prefix>/block revision the watch saw */
    uint64_t leader_changes;
    uint64_t fencing_rejections;
    uint64_t etcd_errors;
    uint64_t replicated_blocks;
    uint64_t rolled_back_blocks;
    atomic_bool frozen;

    pthread_t sess_thr;
    pthread_t watch_thr;
    pthread_t bwatch_thr;
};

const char *bm_ha_reason_name(enum bm_ha_reason r)
{
    switch (r) {
    case BM_HA_WON:
        return "won the campaign";
    case BM_HA_LEASE_EXPIRED:
        return "lease expired";
    case BM_HA_UNSURE:
        return "etcd unreachable: lease no longer certain";
    case BM_HA_FENCED:
        return "guarded write refused";
    case BM_HA_RESIGNED:
        return "stopped";
    }
    return "unknown";
}

const char *bm_ha_role_name(enum bm_ha_role r)
{
    switch (r) {
    case BM_HA_FOLLOWER:
        return "follower";
    case BM_HA_LEADER:
        return "leader";
    case BM_HA_STOPPED:
        return "stopped";
    }
    return "unknown";
}

/* ---- configuration ---- */

static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

static enum bm_err check_config(const struct bm_ha_config *cfg,
                                struct bm_errmsg *em)
{
    size_t len;

    if (cfg->prefix == NULL) {
        return bm_errf(em, BM_ECONFIG, "ha.prefix: empty");
    }
    len = strnlen(cfg->prefix, BM_HA_MAX_PREFIX + 1);
    if (len < 2 || len > BM_HA_MAX_PREFIX || cfg->prefix[0] != '/' ||
        cfg->prefix[len - 1] == '/' || !printable(cfg->prefix, len)) {
        return bm_errf(em, BM_ECONFIG,
                       "ha.prefix: '%.*s': want '/' then "
                       "1..%d printable bytes without a trailing '/' (e.g. "
                       "/blockv2/my-chain)",
                       (int)(len > 64 ? 64 : len), cfg->prefix,
                       BM_HA_MAX_PREFIX - 1);
    }
    if (cfg->node_id == NULL) {
        return bm_errf(em, BM_ECONFIG, "ha.node_id: empty");
    }
    len = strnlen(cfg->node_id, BM_HA_MAX_NODE_ID + 1);
    if (len == 0 || len > BM_HA_MAX_NODE_ID || !printable(cfg->node_id, len)) {
        return bm_errf(em, BM_ECONFIG,
                       "ha.node_id: want 1..%d printable "
                       "bytes without spaces",
                       BM_HA_MAX_NODE_ID);
    }
    if (cfg->lease_ttl_s < MIN_TTL_S || cfg->lease_ttl_s > MAX_TTL_S) {
        return bm_errf(em, BM_ECONFIG, "ha.lease_ttl: %u s, want %u..%u s",
                       cfg->lease_ttl_s, MIN_TTL_S, MAX_TTL_S);
    }
    return BM_OK;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = bm_xmalloc(la + lb + 1);

    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

enum bm_err bm_ha_new(struct bm_ha **out, const struct bm_ha_config *cfg,
                      struct bm_errmsg *em)
{
    struct bm_etcd_config ec = {0};
    struct bm_ha *h;
    enum bm_err err;

    *out = NULL;
    err = check_config(cfg, em);
    if (err != BM_OK) {
        return err;
    }
    h = bm_xcalloc(1, sizeof(*h));
    h->ttl_cfg_s = cfg->lease_ttl_s;
    h->call_timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms
                                              : cfg->lease_ttl_s * 1000u / 3u;
    ec.endpoints = cfg->endpoints;
    ec.n_endpoints = cfg->n_endpoints;
    ec.timeout_ms = h->call_timeout_ms;
    err = bm_etcd_new(&h->sess, &ec, em);
    if (err == BM_OK) {
        /* a guarded write is safe however long it takes (etcd checks the
         * token when it applies it): its deadline is one TTL, so a big
         * record on a busy etcd is not cut at TTL/3 */
        struct bm_etcd_config wc = ec;
        if (wc.timeout_ms < cfg->lease_ttl_s * 1000u) {
            wc.timeout_ms = cfg->lease_ttl_s * 1000u;
        }
        err = bm_etcd_new(&h->writer, &wc, em);
    }
    if (err == BM_OK) {
        err = bm_etcd_new(&h->watcher, &ec, em);
    }
    if (err == BM_OK) {
        err = bm_etcd_new(&h->bwatcher, &ec, em);
    }
    if (err != BM_OK) {
        bm_etcd_free(h->sess);
        bm_etcd_free(h->writer);
        bm_etcd_free(h->watcher);
        bm_free(h);
        return err;
    }
    h->prefix = bm_xstrdup(cfg->prefix);
    h->node_id = bm_xstrdup(cfg->node_id);
    h->leader_key = join(cfg->prefix, "/leader");
    h->block_key = join(cfg->prefix, "/block");
    h->on_role = cfg->on_role;
    h->arg = cfg->arg;
    pthread_mutex_init(&h->cb_mu, NULL);
    pthread_mutex_init(&h->mu, NULL);
    bm_cond_init(&h->cv);
    atomic_init(&h->frozen, false);
    h->role = BM_HA_FOLLOWER;
    *out = h;
    return BM_OK;
}

/* ---- role changes ---- */

/* Caller holds mu. */
static void set_role_locked(struct bm_ha *h, enum bm_ha_role role,
                            int64_t token, enum bm_ha_reason why)
{
    if (h->role == role && h->token == token) {
        return;
    }
    if (h->role == BM_HA_LEADER || role == BM_HA_LEADER) {
        h->leader_changes++;
    }
    if (role == BM_HA_LEADER) {
        bm_log_info(MOD, "leader of '%s' node=%s token=%" PRId64, h->prefix,
                    h->node_id, token);
        snprintf(h->leader_id, sizeof(h->leader_id), "%s", h->node_id);
    } else if (h->role == BM_HA_LEADER) {
        bm_log(why == BM_HA_RESIGNED ? BM_LOG_INFO : BM_LOG_WARN, MOD,
               "no longer leader of '%s' node=%s token=%" PRId64 " reason='%s'",
               h->prefix, h->node_id, h->token, bm_ha_reason_name(why));
        if (strcmp(h->leader_id, h->node_id) == 0) {
            h->leader_id[0] = '\0';
        }
    }
    h->role = role;
    h->token = role == BM_HA_LEADER ? token : 0;
    h->why = why;
    h->role_seq++;
    bm_cond_broadcast(&h->cv);
}

/* Delivers the latest role to the callback, in order, once per change.
 * Caller holds neither lock. */
static void deliver(struct bm_ha *h)
{
    enum bm_ha_role role;
    enum bm_ha_reason why;
    int64_t token;
    bool call = false;

    pthread_mutex_lock(&h->cb_mu);
    pthread_mutex_lock(&h->mu);
    if (h->role_seq > h->delivered_seq) {
        h->delivered_seq = h->role_seq;
        role = h->role;
        why = h->why;
        token = h->token;
        call = true;
    }
    pthread_mutex_unlock(&h->mu);
    if (call && h->on_role != NULL) {
        h->on_role(h->arg, role, token, why);
    }
    if (call && h->listener != NULL) {
        h->listener(h->listener_arg, role, token, why);
    }
    pthread_mutex_unlock(&h->cb_mu);
}

void bm_ha_set_listener(struct bm_ha *h, bm_ha_role_fn *fn, void *arg)
{
    pthread_mutex_lock(&h->cb_mu);
    h->listener = fn;
    h->listener_arg = arg;
    pthread_mutex_unlock(&h->cb_mu);
}

/* ---- the replicated record ---- */

/* What the block manager needs of a replicated record. */
struct rec_info {
    uint64_t height;
    uint8_t hash[32];
    size_t hash_len;
};

/* Reads a <prefix>/block value (untrusted); BM_ECORRUPT naming the key
 * when it is not a RaftBlockState. */
static enum bm_err record_info(const struct bm_ha *h, const uint8_t *p,
                               size_t len, struct rec_info *out,
                               struct bm_errmsg *em)
{
    struct bm_raft_block_state st = {0};
    enum bm_err err;

    err = bm_raft_block_state_decode(&st, p, len);
    if (err != BM_OK) {
        return bm_errf(em, BM_ECORRUPT,
                       "'%s' does not hold a RaftBlockState "
                       "(%s, %zu bytes): a wrong ha.prefix?",
                       h->block_key, bm_err_name(err), len);
    }
    if (st.height == 0 || st.hash.len > sizeof(out->hash)) {
        err = bm_errf(em, BM_ECORRUPT,
                      "'%s' holds a RaftBlockState of "
                      "height %" PRIu64 " with a %zu-byte hash: a wrong "
                      "ha.prefix?",
                      h->block_key, st.height, st.hash.len);
        bm_raft_block_state_release(&st);
        return err;
    }
    out->height = st.height;
    out->hash_len = st.hash.len;
    if (st.hash.len > 0) {
        memcpy(out->hash, st.hash.ptr, st.hash.len);
    }
    bm_raft_block_state_release(&st);
    return BM_OK;
}

/* Caller holds mu. rec/len: the record's bytes (borrowed), when known. */
static void set_replicated_locked(struct bm_ha *h, bool known,
                                  const struct rec_info *ri,
                                  const uint8_t *rec, size_t len)
{
    if (!known || bm_buf_set(&h->replicated_rec, rec, len) != BM_OK) {
        bm_buf_release(&h->replicated_rec);
    }
    h->replicated_known = known;
    h->replicated_height = known ? ri->height : 0;
    h->replicated_hash_len = known ? ri->hash_len : 0;
    if (known && ri->hash_len > 0) {
        memcpy(h->replicated_hash, ri->hash, ri->hash_len);
    }
}

/* ---- session thread ---- */

static void copy_id(char *dst, const struct bm_buf *v)
{
    size_t n = v->len < BM_HA_MAX_NODE_ID ? v->len : BM_HA_MAX_NODE_ID;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = v->ptr[i];
        dst[i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
}

static uint64_t ttl_ns(const struct bm_ha *h)
{
    return (uint64_t)h->ttl_s * 1000u * MS;
}

/* Deadline of a session call: the call timeout, cut to the step-down
 * instant while leader. Caller holds mu. 0 = step down first. */
static uint32_t session_timeout_locked(const struct bm_ha *h, uint64_t now)
{
    uint64_t t = (uint64_t)h->call_timeout_ms * MS;

    if (h->role == BM_HA_LEADER) {
        if (now >= h->step_down_at) {
            return 0;
        }
        if (h->step_down_at - now < t) {
            t = h->step_down_at - now;
        }
    }
    return (uint32_t)((t + MS - 1) / MS);
}

static void count_error(struct bm_ha *h, const char *what, int err,
                        const struct bm_errmsg *em)
{
    h->etcd_errors++;
    bm_log(h->etcd_errors % 50 == 1 ? BM_LOG_WARN : BM_LOG_DEBUG, MOD,
           "%s failed err=%s: %s (etcd errors so far: %" PRIu64 ")", what,
           bm_err_name(err), bm_errmsg_str(em, err), h->etcd_errors);
}

/* Caller holds mu; drops it around the call. */
static void do_grant(struct bm_ha *h, uint64_t now)
{
    struct bm_etcd_resp r = {0};
    struct bm_errmsg em;
    uint32_t timeout = h->call_timeout_ms;
    enum bm_err err;

    pthread_mutex_unlock(&h->mu);
    err = bm_etcd_lease_grant(h->sess, h->ttl_cfg_s, timeout, &r, &em);
    pthread_mutex_lock(&h->mu);
    if (err != BM_OK) {
        count_error(h, "lease grant", err, &em);
        h->next_keepalive = now + ttl_ns(h) / 10;
        return;
    }
    h->lease = r.lease_id;
    h->ttl_s = r.ttl;
    h->step_down_at = now + ttl_ns(h) - ttl_ns(h) / 6;
    h->next_keepalive = now + ttl_ns(h) / 3;
    h->next_campaign = now;
    bm_log_debug(MOD, "lease granted id=%" PRId64 " ttl=%" PRId64 "s", h->lease,
                 h->ttl_s);
}

static void do_keepalive(struct bm_ha *h, uint64_t now)
{
    struct bm_etcd_resp r = {0};
    struct bm_errmsg em;
    uint32_t timeout = session_timeout_locked(h, now);
    int64_t lease = h->lease;
    enum bm_err err;

    pthread_mutex_unlock(&h->mu);
    err = bm_etcd_lease_keepalive(h->sess, lease, timeout, &r, &em);
    pthread_mutex_lock(&h->mu);
    if (h->lease != lease) {
        return; /* resigned meanwhile */
    }
    if (err == BM_ENOTFOUND || (err == BM_OK && r.ttl <= 0)) {
        bm_log_warn(MOD, "lease %" PRId64 " expired at etcd", lease);
        h->lease = 0;
        if (h->role == BM_HA_LEADER) {
            set_role_locked(h, BM_HA_FOLLOWER, 0, BM_HA_LEASE_EXPIRED);
        }
        return;
    }
    if (err != BM_OK) {
        count_error(h, "lease keep-alive", err, &em);
        h->next_keepalive = bm_clock_now_ns() + ttl_ns(h) / 10;
        return;
    }
    h->ttl_s = r.ttl;
    /* sure until now + TTL (the request left at `now` at the earliest) */
    h->step_down_at = now + ttl_ns(h) - ttl_ns(h) / 6;
    h->next_keepalive = now + ttl_ns(h) / 3;
}

static void do_campaign(struct bm_ha *h, uint64_t now)
{
    struct bm_etcd_resp r = {0};
    struct bm_errmsg em;
    struct bm_etcd_cmp cmp = {(const uint8_t *)h->leader_key,
                              strlen(h->leader_key), BM_ETCD_CREATE, 0};
    uint32_t timeout = session_timeout_locked(h, now);
    int64_t lease = h->lease;
    struct rec_info ri = {0};
    struct bm_etcd_resp b = {0};
    struct bm_buf rec = {0};
    bool rec_known = false;
    int64_t token = 0;
    enum bm_err err;

    h->wake_campaign = false;
    h->next_campaign = now + ttl_ns(h) / 3;
    pthread_mutex_unlock(&h->mu);
    err = bm_etcd_txn_put(h->sess, &cmp, 1, (const uint8_t *)h->leader_key,
                          strlen(h->leader_key), (const uint8_t *)h->node_id,
                          strlen(h->node_id), lease,
                          (const uint8_t *)h->block_key, strlen(h->block_key),
                          (const uint8_t *)h->leader_key, strlen(h->leader_key),
                          timeout, &r, &em);
    if (err == BM_OK && r.succeeded) {
        /* the record read in the same txn is the cluster's latest */
        token = r.revision;
        if (r.has_kv) {
            rec = r.kv.value;
        }
    } else if (err == BM_OK) {
        /* ours already (an answer lost before: same token), or another
         * leader's: read the record (before producing; a follower knows
         * how far the cluster is, docs/HA.md "Followers") */
        if (r.has_kv && r.kv.lease == lease) {
            token = r.kv.create_revision;
        }
        err = bm_etcd_get(h->sess, (const uint8_t *)h->block_key,
                          strlen(h->block_key), timeout, &b, &em);
        if (err == BM_OK && b.has_kv) {
            rec = b.kv.value;
        }
    }
    if (err == BM_OK && rec.len > 0) {
        err = record_info(h, rec.ptr, rec.len, &ri, &em);
        rec_known = err == BM_OK;
    }
    pthread_mutex_lock(&h->mu);
    if (err != BM_OK) {
        if (err == BM_ECORRUPT) {
            bm_log_error(MOD, "not leading: %s", em.msg);
        }
        count_error(h, "campaign", err, &em);
        h->next_campaign = bm_clock_now_ns() + ttl_ns(h) / 10;
        bm_etcd_resp_release(&b);
        bm_etcd_resp_release(&r);
        return;
    }
    if (token > 0 && h->lease == lease && !h->stopping &&
        bm_clock_now_ns() >= h->step_down_at) {
        /* the key is ours, but the lease is no longer certain: renew it
         * first; the next campaign finds the key ours (same token) */
        h->next_keepalive = 0;
        h->next_campaign = 0;
    } else if (token > 0 && h->lease == lease && !h->stopping) {
        /* certain until step_down_at, set by the last grant or answered
         * keep-alive (the txn itself proves nothing about the lease's
         * remaining time) */
        set_replicated_locked(h, rec_known, &ri, rec.ptr, rec.len);
        set_role_locked(h, BM_HA_LEADER, token, BM_HA_WON);
    } else {
        if (r.has_kv && !r.succeeded) {
            copy_id(h->leader_id, &r.kv.value);
        }
        /* the watch of <prefix>/block may have brought a newer one
         * meanwhile: the records' heights only grow */
        if (h->role != BM_HA_LEADER && token == 0 &&
            (!h->replicated_known ||
             (rec_known && ri.height >= h->replicated_height))) {
            set_replicated_locked(h, rec_known, &ri, rec.ptr, rec.len);
        }
    }
    bm_etcd_resp_release(&b);
    bm_etcd_resp_release(&r);
}

static void *session_main(void *arg)
{
    struct bm_ha *h = arg;

    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        uint64_t now = bm_clock_now_ns();
        uint64_t wake;

        if (atomic_load(&h->frozen)) {
            bm_cond_wait_until(&h->cv, &h->mu, now + 20 * MS);
            continue;
        }
        if (h->role == BM_HA_LEADER && now >= h->step_down_at) {
            set_role_locked(h, BM_HA_FOLLOWER, 0, BM_HA_UNSURE);
            /* tell at once, before the next (possibly hanging) call */
        } else if (h->lease == 0 && now >= h->next_keepalive) {
            do_grant(h, now);
        } else if (h->lease != 0 && now >= h->next_keepalive) {
            do_keepalive(h, now);
        } else if (h->lease != 0 && h->role != BM_HA_LEADER &&
                   (h->wake_campaign || now >= h->next_campaign) &&
                   now >= h->campaign_not_before) {
            do_campaign(h, now);
        } else {
            wake = h->next_keepalive;
            if (h->role == BM_HA_LEADER && h->step_down_at < wake) {
                wake = h->step_down_at;
            }
            if (h->role != BM_HA_LEADER && h->lease != 0) {
                /* a woken campaign is due when its deferral ends */
                uint64_t c = h->wake_campaign ? 0 : h->next_campaign;
                if (c < h->campaign_not_before) {
                    c = h->campaign_not_before;
                }
                if (c < wake) {
                    wake = c;
                }
            }
            if (!h->wake_campaign || now < h->campaign_not_before) {
                bm_cond_wait_until(&h->cv, &h->mu, wake);
            }
            continue;
        }
        pthread_mutex_unlock(&h->mu);
        deliver(h);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---- watch thread ---- */

static bool on_watch(void *arg, const struct bm_etcd_watch_msg *m)
{
    struct bm_ha *h = arg;
    bool go_on;

    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < m->n_events; i++) {
        const struct bm_etcd_event *ev = &m->events[i];
        if (ev->type == BM_ETCD_EVENT_DELETE) {
            h->leader_id[0] = '\0';
            h->wake_campaign = true;
            if (h->local_known && h->replicated_known &&
                h->local_height + 1 < h->replicated_height) {
                /* more than the record's block behind: a candidate at
                 * the record would produce sooner; it takes TTL/10 */
                h->campaign_not_before = bm_clock_now_ns() + ttl_ns(h) / 10;
            }
            bm_cond_broadcast(&h->cv);
        } else {
            copy_id(h->leader_id, &ev->kv.value);
        }
    }
    go_on = !h->stopping;
    pthread_mutex_unlock(&h->mu);
    return go_on;
}

/*
 * The watch of <prefix>/block: a follower knows each record as etcd
 * accepts it (its readiness lag, the deposed-head check, the record a new
 * leader applies), not only at its next campaign round. The records'
 * heights only grow (docs/HA.md "What is guaranteed"), so an event at or
 * below the known height (a leader's own write, known when it answered)
 * changes nothing. An undecodable value is ignored here: the campaign
 * read reports it.
 */
static bool on_block_watch(void *arg, const struct bm_etcd_watch_msg *m)
{
    struct bm_ha *h = arg;
    bool go_on;

    for (size_t i = 0; i < m->n_events; i++) {
        const struct bm_etcd_event *ev = &m->events[i];
        struct bm_errmsg em;
        struct rec_info ri = {0};

        if (ev->type != BM_ETCD_EVENT_PUT ||
            record_info(h, ev->kv.value.ptr, ev->kv.value.len, &ri, &em) !=
                BM_OK) {
            continue;
        }
        pthread_mutex_lock(&h->mu);
        if (ev->kv.mod_revision > h->block_rev) {
            h->block_rev = ev->kv.mod_revision;
        }
        if (!h->replicated_known || ri.height > h->replicated_height) {
            set_replicated_locked(h, true, &ri, ev->kv.value.ptr,
                                  ev->kv.value.len);
        }
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_lock(&h->mu);
    go_on = !h->stopping;
    pthread_mutex_unlock(&h->mu);
    return go_on;
}

/* Runs the watch of <prefix>/leader (block false) or <prefix>/block until
 * bm_ha_stop, watching again WATCH_RETRY_MS after a watch ends. */
static void watch_loop(struct bm_ha *h, bool block)
{
    struct bm_etcd *client = block ? h->bwatcher : h->watcher;
    const char *key = block ? h->block_key : h->leader_key;

    for (;;) {
        struct bm_errmsg em;
        int64_t from;
        enum bm_err err;

        pthread_mutex_lock(&h->mu);
        bool stop = h->stopping;
        /* the record's watch goes on after the last revision it saw */
        from = block && h->block_rev > 0 ? h->block_rev + 1 : 0;
        pthread_mutex_unlock(&h->mu);
        if (stop) {
            break;
        }
        err = bm_etcd_watch(client, (const uint8_t *)key, strlen(key), from, 0,
                            block ? on_block_watch : on_watch, h, &em);
        if (err == BM_ECANCELED) {
            break;
        }
        bm_log_debug(MOD, "watch of '%s' ended err=%s: %s", key,
                     bm_err_name(err), bm_errmsg_str(&em, err));
        pthread_mutex_lock(&h->mu);
        if (block && err == BM_EETCD) {
            h->block_rev = 0; /* compacted: from now (campaigns read it) */
        }
        if (!block && !h->stopping) {
            /* the session thread polls too: a missed event costs TTL/3 */
            h->wake_campaign = h->role != BM_HA_LEADER;
            bm_cond_broadcast(&h->cv);
        }
        if (!h->stopping) {
            bm_cond_wait_until(&h->cv, &h->mu,
                               bm_clock_deadline_ms(WATCH_RETRY_MS));
        }
        pthread_mutex_unlock(&h->mu);
    }
}

static void *watch_main(void *arg)
{
    watch_loop(arg, false);
    return NULL;
}

static void *bwatch_main(void *arg)
{
    watch_loop(arg, true);
    return NULL;
}

/* ---- lifecycle ---- */

enum bm_err bm_ha_start(struct bm_ha *h, struct bm_errmsg *em)
{
    struct bm_etcd_resp r = {0};
    uint64_t now;
    struct rec_info ri = {0};
    bool known = false;
    enum bm_err err;

    pthread_mutex_lock(&h->mu);
    if (h->started) {
        pthread_mutex_unlock(&h->mu);
        return bm_errf(em, BM_ESTATE, "ha: already started");
    }
    h->started = true;
    pthread_mutex_unlock(&h->mu);

    /* the record first: a wrong prefix is refused before any lease */
    err = bm_etcd_get(h->sess, (const uint8_t *)h->block_key,
                      strlen(h->block_key), 0, &r, em);
    if (err == BM_OK && r.has_kv) {
        err = record_info(h, r.kv.value.ptr, r.kv.value.len, &ri, em);
        known = err == BM_OK;
    }
    pthread_mutex_lock(&h->mu);
    if (known) {
        set_replicated_locked(h, known, &ri, r.kv.value.ptr, r.kv.value.len);
    }
    if (err == BM_OK) {
        h->block_rev = r.revision; /* the record's watch starts after it */
    }
    pthread_mutex_unlock(&h->mu);
    bm_etcd_resp_release(&r);
    now = bm_clock_now_ns();
    if (err == BM_OK) {
        err = bm_etcd_lease_grant(h->sess, h->ttl_cfg_s, 0, &r, em);
    }
    if (err != BM_OK) {
        pthread_mutex_lock(&h->mu);
        h->started = false;
        pthread_mutex_unlock(&h->mu);
        bm_log_error(MOD, "cannot start err=%s: %s", bm_err_name(err),
                     bm_errmsg_str(em, err));
        return err;
    }
    pthread_mutex_lock(&h->mu);
    h->lease = r.lease_id;
    h->ttl_s = r.ttl;
    h->step_down_at = now + ttl_ns(h) - ttl_ns(h) / 6;
    h->next_keepalive = now + ttl_ns(h) / 3;
    h->next_campaign = now;
    pthread_mutex_unlock(&h->mu);
    bm_etcd_resp_release(&r);
    if (pthread_create(&h->sess_thr, NULL, session_main, h) != 0) {
        bm_log_error(MOD, "cannot start the session thread");
        abort();
    }
    if (pthread_create(&h->watch_thr, NULL, watch_main, h) != 0) {
        bm_log_error(MOD, "cannot start the watch thread");
        abort();
    }
    if (pthread_create(&h->bwatch_thr, NULL, bwatch_main, h) != 0) {
        bm_log_error(MOD, "cannot start the record's watch thread");
        abort();
    }
    bm_log_info(MOD,
                "campaigning for '%s' node=%s lease=%" PRId64 " ttl=%" PRId64
                "s etcd=%s",
                h->leader_key, h->node_id, h->lease, h->ttl_s,
                bm_etcd_endpoint(h->sess));
    return BM_OK;
}

void bm_ha_stop(struct bm_ha *h, bool resign)
{
    int64_t lease;
    bool was_running;

    pthread_mutex_lock(&h->mu);
    was_running = h->started && !h->stopped;
    h->stopping = true;
    atomic_store(&h->frozen, false);
    bm_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (!was_running) {
        return;
    }
    bm_etcd_cancel(h->watcher);
    bm_etcd_cancel(h->bwatcher);
    pthread_join(h->sess_thr, NULL);
    pthread_join(h->watch_thr, NULL);
    pthread_join(h->bwatch_thr, NULL);
    pthread_mutex_lock(&h->mu);
    h->stopped = true;
    lease = h->lease;
    h->lease = 0;
    set_role_locked(h, BM_HA_STOPPED, 0, BM_HA_RESIGNED);
    pthread_mutex_unlock(&h->mu);
    deliver(h);
    if (resign && lease != 0) {
        struct bm_errmsg em;
        enum bm_err err = bm_etcd_lease_revoke(h->sess, lease, 0, &em);
        if (err != BM_OK && err != BM_ENOTFOUND) {
            bm_log_warn(MOD,
                        "resign: lease revoke failed err=%s: %s (it "
                        "expires in %" PRId64 " s)",
                        bm_err_name(err), bm_errmsg_str(&em, err), h->ttl_s);
        } else {
            bm_log_info(MOD, "resigned: lease %" PRId64 " revoked", lease);
        }
    }
}

void bm_ha_free(struct bm_ha *h)
{
    if (h == NULL) {
        return;
    }
    bm_ha_stop(h, false);
    bm_etcd_free(h->sess);
    bm_etcd_free(h->writer);
    bm_etcd_free(h->watcher);
    bm_etcd_free(h->bwatcher);
    bm_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->cb_mu);
    bm_free(h->prefix);
    bm_free(h->node_id);
    bm_free(h->leader_key);
    bm_free(h->block_key);
    bm_buf_release(&h->replicated_rec);
    bm_free(h);
}

void bm_ha_status(struct bm_ha *h, struct bm_ha_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&h->mu);
    out->role = h->role;
    out->token = h->token;
    out->lease_id = h->lease;
    out->lease_ttl_s = h->ttl_s;
    snprintf(out->node_id, sizeof(out->node_id), "%s", h->node_id);
    snprintf(out->leader_id, sizeof(out->leader_id), "%s", h->leader_id);
    out->replicated_known = h->replicated_known;
    out->replicated_height = h->replicated_height;
    out->replicated_hash_len = h->replicated_hash_len;
    memcpy(out->replicated_hash, h->replicated_hash,
           sizeof(out->replicated_hash));
    out->leader_changes = h->leader_changes;
    out->fencing_rejections = h->fencing_rejections;
    out->etcd_errors = h->etcd_errors;
    out->replicated_blocks = h->replicated_blocks;
    out->rolled_back_blocks = h->rolled_back_blocks;
    pthread_mutex_unlock(&h->mu);
}

void bm_ha_note_store_height(struct bm_ha *h, uint64_t height)
{
    pthread_mutex_lock(&h->mu);
    h->local_known = true;
    h->local_height = height;
    pthread_mutex_unlock(&h->mu);
}

void bm_ha_note_rollback(struct bm_ha *h)
{
    pthread_mutex_lock(&h->mu);
    h->rolled_back_blocks++;
    pthread_mutex_unlock(&h->mu);
}

enum bm_err bm_ha_record(struct bm_ha *h, struct bm_buf *out)
{
    enum bm_err err = BM_ENOTFOUND;

    pthread_mutex_lock(&h->mu);
    if (h->replicated_known && h->replicated_rec.len > 0) {
        err = bm_buf_copy(out, &h->replicated_rec);
    }
    pthread_mutex_unlock(&h->mu);
    return err;
}

void bm_ha_test_freeze(struct bm_ha *h, bool frozen)
{
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->frozen, frozen);
    bm_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* ---- the block manager's calls ---- */

/* Caller holds mu. */
static enum bm_err check_leader_locked(const struct bm_ha *h, int64_t token,
                                       struct bm_errmsg *em)
{
    if (h->role != BM_HA_LEADER) {
        return bm_errf(em, BM_ENOT_LEADER,
                       "ha: not the leader (%s; leader "
                       "'%s')",
                       bm_ha_role_name(h->role),
                       h->leader_id[0] ? h->leader_id : "unknown");
    }
    if (token != h->token) {
        return bm_errf(em, BM_ENOT_LEADER,
                       "ha: token %" PRId64 " is not "
                       "the current one (%" PRId64 ")",
                       token, h->token);
    }
    return BM_OK;
}

enum bm_err bm_ha_may_produce(struct bm_ha *h, uint64_t height, int64_t token,
                              const uint8_t *prev_hash, size_t prev_len,
                              struct bm_errmsg *em)
{
    enum bm_err err;

    pthread_mutex_lock(&h->mu);
    err = check_leader_locked(h, token, em);
    if (err == BM_OK && h->replicated_known &&
        height != h->replicated_height + 1) {
        err = bm_errf(em, BM_ESTATE,
                      "ha: height %" PRIu64 " but the "
                      "cluster's replicated height is %" PRIu64 ": the "
                      "store must reach it first",
                      height, h->replicated_height);
    }
    if (err == BM_OK && h->replicated_known &&
        (prev_len != h->replicated_hash_len ||
         (prev_len > 0 &&
          memcmp(prev_hash, h->replicated_hash, prev_len) != 0))) {
        err = bm_errf(em, BM_ECORRUPT,
                      "ha: the store's block %" PRIu64
                      " is not the replicated one: it must be rolled back",
                      h->replicated_height);
    }
    pthread_mutex_unlock(&h->mu);
    return err;
}

bool bm_ha_publish_limit(struct bm_ha *h, uint64_t *height)
{
    bool ok;

    pthread_mutex_lock(&h->mu);
    ok = h->role == BM_HA_LEADER && h->replicated_known;
    if (ok && *height > h->replicated_height) {
        *height = h->replicated_height;
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

enum bm_err bm_ha_replicate(struct bm_ha *h, int64_t token, uint64_t height,
                            const uint8_t *record, size_t len,
                            struct bm_errmsg *em)
{
    struct bm_etcd_resp r = {0};
    struct bm_etcd_cmp cmp = {(const uint8_t *)h->leader_key,
                              strlen(h->leader_key), BM_ETCD_CREATE, token};
    struct bm_errmsg local;
    struct rec_info ri = {0};
    enum bm_err err;

    if (em == NULL) {
        em = &local;
    }
    em->msg[0] = '\0';
    err = record_info(h, record, len, &ri, em);
    if (err != BM_OK || ri.height != height) {
        return bm_errf(em, BM_EINVAL,
                       "ha: the record to replicate is not a "
                       "RaftBlockState of height %" PRIu64 " (%s)",
                       height, err != BM_OK ? em->msg : "another height");
    }
    pthread_mutex_lock(&h->mu);
    err = check_leader_locked(h, token, em);
    if (err == BM_OK && h->replicated_known &&
        height != h->replicated_height + 1 && height != h->replicated_height) {
        err = bm_errf(em, BM_ESTATE,
                      "ha: replicate height %" PRIu64
                      " after replicated height %" PRIu64,
                      height, h->replicated_height);
    }
    if (err == BM_OK && h->replicated_known && height == h->replicated_height &&
        (ri.hash_len != h->replicated_hash_len ||
         memcmp(ri.hash, h->replicated_hash, ri.hash_len) != 0)) {
        err = bm_errf(em, BM_ESTATE,
                      "ha: height %" PRIu64 " is replicated "
                      "with another block",
                      height);
    }
    pthread_mutex_unlock(&h->mu);
    if (err != BM_OK) {
        return err;
    }
    err = bm_etcd_txn_put(h->writer, &cmp, 1, (const uint8_t *)h->block_key,
                          strlen(h->block_key), record, len, 0, NULL, 0,
                          (const uint8_t *)h->leader_key, strlen(h->leader_key),
                          0, &r, em);
    pthread_mutex_lock(&h->mu);
    if (err != BM_OK) {
        h->etcd_errors++;
        /* etcd: "request is too large" above --max-request-bytes; its gRPC
         * layer: "received message larger than max" above that + 512 KiB */
        if (err == BM_EETCD && (strstr(em->msg, "too large") != NULL ||
                                strstr(em->msg, "larger than max") != NULL)) {
            err = bm_errf(em, BM_ETOOBIG,
                          "ha: etcd refused the %zu-byte "
                          "record of height %" PRIu64 " as too large (raise "
                          "etcd's --max-request-bytes)",
                          len, height);
        }
    } else if (r.succeeded) {
        set_replicated_locked(h, true, &ri, record, len);
        h->replicated_blocks++;
    } else {
        h->fencing_rejections++;
        if (r.has_kv) {
            char who[BM_HA_MAX_NODE_ID + 1];
            copy_id(who, &r.kv.value);
            snprintf(h->leader_id, sizeof(h->leader_id), "%s", who);
            err = bm_errf(em, BM_ENOT_LEADER,
                          "ha: write of height %" PRIu64
                          " fenced: '%s' is held by node '%s' since revision "
                          "%" PRId64 " (our token %" PRId64 ")",
                          height, h->leader_key, who, r.kv.create_revision,
                          token);
        } else {
            err = bm_errf(em, BM_ELEASE_EXPIRED,
                          "ha: write of height %" PRIu64
                          " fenced: '%s' is gone, our lease expired "
                          "or was revoked (token %" PRId64 ")",
                          height, h->leader_key, token);
        }
        if (h->role == BM_HA_LEADER && h->token == token) {
            set_role_locked(h, BM_HA_FOLLOWER, 0, BM_HA_FENCED);
        }
    }
    pthread_mutex_unlock(&h->mu);
    bm_etcd_resp_release(&r);
    if (err == BM_ENOT_LEADER || err == BM_ELEASE_EXPIRED) {
        bm_log_warn(MOD, "%s", em->msg);
        deliver(h);
    }
    return err;
}
