/*
 * Chain sync over P2P (chainsync.h): topic validators, P2P stores, the
 * exchange server over the block store, the exchange client that fills
 * gaps, and the broadcaster. Everything below "loop thread" runs on the
 * host's loop thread and touches the loop-only fields without locks.
 */
#include "p2p/chainsync.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blockv2/validate.h"
#include "p2p/varint.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "p2p-sync"

/* Go's DefaultMaxBlobSize: the FloodSub frame limit (spec 8.6). */
#define DEFAULT_MAX_GOSSIP ((size_t)5242880)
/* go-header's check of an untrusted header's time (spec 9.3 step 4.4). */
#define FUTURE_NS BM_GOHEADER_CLOCK_DRIFT_NS
#define NAME_MAX_LEN 256

/* ------------------------------------------------------------ types */

/* What is known of a header: enough to check the next header's linkage
 * and its data. */
struct known {
    uint64_t height;          /* 0: empty slot */
    struct bm_hash hash;
    uint64_t time;
    bool empty_data;          /* data_hash marks an empty block */
    struct bm_hash data_hash; /* valid unless empty_data */
};

#define NCOUNT 12 /* counters per network besides the reasons */
enum {
    C_PUBLISHED = 0,
    C_PUBLISH_FAILED,
    C_PUBLISH_TOO_BIG,
    C_VALIDATED,
    C_ACCEPTED,
    C_HEADS,
    C_RANGES,
    C_RANGES_FAILED,
    C_FETCHED,
    C_FETCH_DROPPED,
    C_BAD_ITEMS,
};

struct net {
    struct bm_chainsync *cs;
    enum bm_chainsync_net kind;
    char topic[NAME_MAX_LEN];
    char network[NAME_MAX_LEN];
    struct bm_headerex *x;
    struct bm_p2pstore *store;
    atomic_uint_least64_t c[NCOUNT];
    atomic_uint_least64_t rejected[BM_CS_REASON_COUNT];
    atomic_uint_least64_t ignored[BM_CS_REASON_COUNT];
    /* loop thread */
    bool range_busy;
    uint64_t retry_at_ms;
    /* The last item this net's exchange verifier accepted, decoded: the
     * next item of a range links to it, so its bytes are compared with
     * these instead of being decoded again (loop thread). */
    struct {
        struct bm_buf bytes;
        struct bm_p2p_signed_header ph; /* headers */
        struct bm_p2p_data pd;          /* data */
        bool valid;
    } memo;
};

struct bm_chainsync {
    struct bm_p2p_host *host;
    const struct bm_genesis *genesis;
    struct bm_store *store;
    uint64_t block_time_ms;
    uint64_t tick_ms;
    uint64_t window;          /* P2P store items (fetch limit) */
    struct bm_floodsub *fs;
    struct net net[BM_CS_NNETS];
    struct bm_chainsync_hooks hooks;
    bool started;

    /* loop thread */
    struct known ring[BM_CHAINSYNC_RING];
    bool st_loaded;
    uint64_t st_height;       /* store height the cached state is for */
    struct bm_state st;       /* latest stored state (expected proposer) */
    bool head_busy;
    uint64_t head_ms;         /* last head request */
    uint64_t best_ms;         /* last time the best header height rose */
    /* The validator's verdict on the message being handled, for its
     * deliver call right after (same message, same thread). */
    struct {
        bool ok;
        const uint8_t *p;
        size_t n;
        struct bm_p2pstore_entry e;
        struct known k;
    } stash;

    /* the tick: a one-shot host timer, re-armed for the next thing due
     * (loop thread); running between start and stop (any thread) */
    atomic_bool running;
    struct bm_p2p_timer_id ticker;
    uint64_t tick_at;
};

static const char *const reason_names[BM_CS_REASON_COUNT] = {
    [BM_CS_DECODE] = "decode",
    [BM_CS_INVALID] = "invalid",
    [BM_CS_SIGNATURE] = "bad_signature",
    [BM_CS_CHAIN_ID] = "chain_id",
    [BM_CS_PROPOSER] = "proposer",
    [BM_CS_HEIGHT] = "height",
    [BM_CS_TIME] = "time",
    [BM_CS_LINKAGE] = "linkage",
    [BM_CS_FORK] = "fork",
    [BM_CS_OLD] = "old",
    [BM_CS_CONFLICT] = "conflict",
    [BM_CS_NO_HEADER] = "no_header",
    [BM_CS_FULL] = "full",
    [BM_CS_NOT_FOLLOWING] = "not_following",
};

const char *bm_chainsync_reason_name(enum bm_chainsync_reason r)
{
    return (unsigned)r < BM_CS_REASON_COUNT ? reason_names[r] : "unknown";
}

const char *bm_chainsync_net_name(enum bm_chainsync_net n)
{
    return n == BM_CS_HEADERS ? "header" : "data";
}

static void inc(struct net *n, int which)
{
    atomic_fetch_add_explicit(&n->c[which], 1, memory_order_relaxed);
}

static uint64_t load(atomic_uint_least64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* ------------------------------------------------------------ helpers */


static uint64_t store_height(const struct bm_chainsync *cs)
{
    uint64_t h = 0;

    if (bm_store_height(cs->store, &h, NULL) != BM_OK) {
        return 0;
    }
    return h;
}

static bool following(const struct bm_chainsync *cs)
{
    return cs->hooks.follow == NULL || cs->hooks.follow(cs->hooks.follow_arg);
}

static void notify(const struct bm_chainsync *cs)
{
    if (cs->hooks.on_items != NULL) {
        cs->hooks.on_items(cs->hooks.on_items_arg);
    }
}

/* The latest stored state (reloaded when the store height moved). Loop
 * thread (or a single-threaded caller). */
static const struct bm_state *state_now(struct bm_chainsync *cs)
{
    uint64_t h = store_height(cs);
    struct bm_buf raw = {0};
    struct bm_state st = {0};

    if (cs->st_loaded && h == cs->st_height) {
        return &cs->st;
    }
    if (bm_store_get_latest_state(cs->store, NULL, &raw, NULL) == BM_OK &&
        bm_state_decode(&st, raw.ptr, raw.len) == BM_OK) {
        bm_state_release(&cs->st);
        cs->st = st;
        cs->st_height = h;
        cs->st_loaded = true;
    } else {
        bm_state_release(&st);
    }
    bm_buf_release(&raw);
    return &cs->st;
}

static void known_of(const struct bm_header *h, const struct bm_hash *hash,
                     struct known *k)
{
    memset(k, 0, sizeof(*k));
    k->height = h->height;
    k->hash = *hash;
    k->time = h->time;
    k->empty_data = bm_header_expects_empty_data(h);
    if (!k->empty_data && h->data_hash.len == BM_HASH_SIZE) {
        memcpy(k->data_hash.b, h->data_hash.ptr, BM_HASH_SIZE);
    }
}

static void ring_put(struct bm_chainsync *cs, const struct known *k)
{
    cs->ring[k->height % BM_CHAINSYNC_RING] = *k;
}

/* The header known at height h: the ring, the header P2P store or the
 * block store. Loop thread. */
static bool known_at(struct bm_chainsync *cs, uint64_t h, struct known *out)
{
    const struct known *r = &cs->ring[h % BM_CHAINSYNC_RING];
    struct bm_p2p_signed_header p = {0};
    struct bm_signed_header sh = {0};
    struct bm_buf raw = {0};
    struct bm_hash hash;
    bool ok = false;

    if (h == 0) {
        return false;
    }
    if (r->height == h) {
        *out = *r;
        return true;
    }
    if (bm_p2pstore_get(cs->net[BM_CS_HEADERS].store, h, &raw) == BM_OK &&
        bm_p2p_signed_header_decode(&p, raw.ptr, raw.len) == BM_OK &&
        bm_header_hash(&p.sh.header, &hash) == BM_OK) {
        known_of(&p.sh.header, &hash, out);
        ok = true;
    } else if (bm_store_get_header(cs->store, h, &raw, NULL) == BM_OK &&
               bm_signed_header_decode(&sh, raw.ptr, raw.len) == BM_OK &&
               bm_header_hash(&sh.header, &hash) == BM_OK) {
        known_of(&sh.header, &hash, out);
        ok = true;
    }
    bm_p2p_signed_header_release(&p);
    bm_signed_header_release(&sh);
    bm_buf_release(&raw);
    if (ok) {
        ring_put(cs, out);
    }
    return ok;
}

/* The stored header's identity at an applied height. */
static bool stored_at(struct bm_chainsync *cs, uint64_t h, struct known *out)
{
    struct bm_signed_header sh = {0};
    struct bm_buf raw = {0};
    struct bm_hash hash;
    bool ok = false;

    if (bm_store_get_header(cs->store, h, &raw, NULL) == BM_OK &&
        bm_signed_header_decode(&sh, raw.ptr, raw.len) == BM_OK &&
        bm_header_hash(&sh.header, &hash) == BM_OK) {
        known_of(&sh.header, &hash, out);
        ok = true;
    }
    bm_signed_header_release(&sh);
    bm_buf_release(&raw);
    return ok;
}

/* Data d fits header k: the same time and txs (data_hash, or none for an
 * empty block). */
static bool data_fits(const struct known *k, const struct bm_data *d)
{
    struct bm_hash c;

    if (!d->has_metadata || d->metadata.time != k->time) {
        return false;
    }
    if (k->empty_data) {
        return d->n_txs == 0;
    }
    return bm_data_da_commitment(d, &c) == BM_OK &&
           memcmp(c.b, k->data_hash.b, BM_HASH_SIZE) == 0;
}

static enum bm_chainsync_reason header_reason(int err)
{
    switch (err) {
    case BM_ENO_SIGNATURE:
    case BM_EPROPOSER_MISMATCH:
    case BM_EADDRESS_MISMATCH:
    case BM_ENO_PUBKEY:
    case BM_EBAD_SIGNATURE:
        return BM_CS_SIGNATURE;
    case BM_ETIME_FUTURE:
        return BM_CS_TIME;
    default:
        return BM_CS_INVALID;
    }
}

static bool chain_is(const struct bm_chainsync *cs, const char *id,
                     bool any_case)
{
    const char *ours = cs->genesis->chain_id;

    if (id == NULL) {
        return false;
    }
    return any_case ? strcasecmp(id, ours) == 0 : strcmp(id, ours) == 0;
}

/* ------------------------------------------------------------ validators */

/*
 * The header topic's checks (spec 9.3; chainsync.h). On Accept *e and *k
 * describe the header. Loop thread.
 */
static enum bm_floodsub_verdict check_header(struct bm_chainsync *cs,
                                             const uint8_t *p, size_t len,
                                             struct bm_p2pstore_entry *e,
                                             struct known *k,
                                             enum bm_chainsync_reason *why)
{
    struct bm_p2p_signed_header ph = {0};
    const struct bm_header *h = &ph.sh.header;
    uint64_t now = bm_validate_now_ns();
    enum bm_floodsub_verdict v = BM_FLOODSUB_REJECT;
    struct known prev, ours;
    struct bm_hash hash;
    uint64_t applied;
    int err;

    if (bm_p2p_signed_header_decode(&ph, p, len) != BM_OK ||
        bm_header_hash(h, &hash) != BM_OK) {
        *why = BM_CS_DECODE;
        goto out;
    }
    if (!chain_is(cs, h->chain_id, false)) {
        *why = BM_CS_CHAIN_ID;
        goto out;
    }
    if (h->height < cs->genesis->initial_height) {
        *why = BM_CS_HEIGHT;
        goto out;
    }
    err = bm_header_validate_basic(h, now, NULL);
    if (err != BM_OK) {
        *why = header_reason(err);
        goto out;
    }
    if (bm_assert_expected_proposer(state_now(cs),
                                    &cs->genesis->proposer_address, h,
                                    NULL) != BM_OK) {
        *why = BM_CS_PROPOSER;
        goto out;
    }
    err = bm_signed_header_validate_basic(&ph.sh, now, NULL);
    if (err != BM_OK) {
        *why = header_reason(err);
        goto out;
    }
    known_of(h, &hash, k);
    applied = store_height(cs);
    if (h->height <= applied) {
        if (stored_at(cs, h->height, &ours) &&
            memcmp(ours.hash.b, hash.b, BM_HASH_SIZE) == 0) {
            v = BM_FLOODSUB_IGNORE;
            *why = BM_CS_OLD;
        } else {
            *why = BM_CS_FORK;
        }
        goto out;
    }
    if (h->time > now + FUTURE_NS) {
        *why = BM_CS_TIME;
        goto out;
    }
    if (known_at(cs, h->height - 1, &prev)) {
        if (h->last_header_hash.len != BM_HASH_SIZE ||
            memcmp(h->last_header_hash.ptr, prev.hash.b, BM_HASH_SIZE) != 0) {
            *why = BM_CS_LINKAGE;
            goto out;
        }
        if (h->time < prev.time) {
            *why = BM_CS_TIME;
            goto out;
        }
    }
    if (bm_p2pstore_has(cs->net[BM_CS_HEADERS].store, h->height) &&
        known_at(cs, h->height, &ours)) {
        v = BM_FLOODSUB_IGNORE;
        *why = memcmp(ours.hash.b, hash.b, BM_HASH_SIZE) == 0 ? BM_CS_OLD
                                                              : BM_CS_CONFLICT;
        goto out;
    }
    e->height = h->height;
    e->hash = hash;
    e->time_ns = h->time;
    v = BM_FLOODSUB_ACCEPT;
out:
    bm_p2p_signed_header_release(&ph);
    return v;
}

/* The data topic's checks. On Accept *e describes the data. */
static enum bm_floodsub_verdict check_data(struct bm_chainsync *cs,
                                           const uint8_t *p, size_t len,
                                           struct bm_p2pstore_entry *e,
                                           enum bm_chainsync_reason *why)
{
    struct bm_p2p_data pd = {0};
    const struct bm_data *d = &pd.data;
    enum bm_floodsub_verdict v = BM_FLOODSUB_REJECT;
    struct known k;
    struct bm_hash hash;
    uint64_t hgt;

    if (bm_p2p_data_decode(&pd, p, len) != BM_OK ||
        bm_data_hash(d, &hash) != BM_OK) {
        *why = BM_CS_DECODE;
        goto out;
    }
    if (bm_data_validate(d, bm_validate_now_ns(), NULL) != BM_OK) {
        *why = BM_CS_INVALID;
        goto out;
    }
    if (!chain_is(cs, d->metadata.chain_id, false)) {
        *why = BM_CS_CHAIN_ID;
        goto out;
    }
    hgt = d->metadata.height;
    if (hgt < cs->genesis->initial_height) {
        *why = BM_CS_HEIGHT;
        goto out;
    }
    if (hgt <= store_height(cs)) {
        if (stored_at(cs, hgt, &k) && data_fits(&k, d)) {
            v = BM_FLOODSUB_IGNORE;
            *why = BM_CS_OLD;
        } else {
            *why = BM_CS_FORK;
        }
        goto out;
    }
    if (!known_at(cs, hgt, &k)) {
        v = BM_FLOODSUB_IGNORE;
        *why = BM_CS_NO_HEADER;
        goto out;
    }
    if (!data_fits(&k, d)) {
        *why = BM_CS_LINKAGE;
        goto out;
    }
    if (bm_p2pstore_has(cs->net[BM_CS_DATA].store, hgt)) {
        v = BM_FLOODSUB_IGNORE;
        *why = BM_CS_OLD; /* held, and what is held fits the header too */
        goto out;
    }
    e->height = hgt;
    e->hash = hash;
    e->time_ns = d->metadata.time;
    v = BM_FLOODSUB_ACCEPT;
out:
    bm_p2p_data_release(&pd);
    return v;
}

static void count_verdict(struct net *n, enum bm_floodsub_verdict v,
                          enum bm_chainsync_reason why)
{
    inc(n, C_VALIDATED);
    if (v == BM_FLOODSUB_ACCEPT) {
        inc(n, C_ACCEPTED);
    } else if (v == BM_FLOODSUB_IGNORE) {
        atomic_fetch_add_explicit(&n->ignored[why], 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&n->rejected[why], 1, memory_order_relaxed);
    }
}

static enum bm_floodsub_verdict check(struct bm_chainsync *cs,
                                      enum bm_chainsync_net which,
                                      const uint8_t *p, size_t len,
                                      struct bm_p2pstore_entry *e,
                                      struct known *k,
                                      enum bm_chainsync_reason *why)
{
    enum bm_floodsub_verdict v;

    memset(e, 0, sizeof(*e));
    memset(k, 0, sizeof(*k));
    *why = BM_CS_DECODE;
    v = which == BM_CS_HEADERS ? check_header(cs, p, len, e, k, why)
                               : check_data(cs, p, len, e, why);
    count_verdict(&cs->net[which], v, *why);
    return v;
}

enum bm_floodsub_verdict bm_chainsync_check(struct bm_chainsync *cs,
                                            enum bm_chainsync_net n,
                                            const uint8_t *p, size_t len,
                                            enum bm_chainsync_reason *why)
{
    struct bm_p2pstore_entry e;
    struct known k;
    enum bm_chainsync_reason r;
    enum bm_floodsub_verdict v = check(cs, n, p, len, &e, &k, &r);

    if (why != NULL) {
        *why = r;
    }
    return v;
}

/* ------------------------------------------------- loop thread: gossip */

static void fetch(struct net *n);
static void schedule(struct bm_chainsync *cs);

static void on_best(struct bm_chainsync *cs, uint64_t before)
{
    if (bm_p2pstore_height(cs->net[BM_CS_HEADERS].store) > before) {
        cs->best_ms = bm_p2p_host_now_ms(cs->host);
    }
}

/* Keeps an accepted item (loop thread): put, remember, wake the manager,
 * and fetch what lies between the block store and it. */
static void keep(struct net *n, const struct bm_p2pstore_entry *e,
                 const struct known *k, const uint8_t *p, size_t len)
{
    struct bm_chainsync *cs = n->cs;
    uint64_t before = bm_p2pstore_height(cs->net[BM_CS_HEADERS].store);
    int err;

    if (!following(cs)) {
        atomic_fetch_add_explicit(&n->ignored[BM_CS_NOT_FOLLOWING], 1,
                                  memory_order_relaxed);
        return;
    }
    (void)bm_p2pstore_prune(n->store, store_height(cs));
    err = bm_p2pstore_put(n->store, e, p, len);
    if (n->kind == BM_CS_HEADERS && k != NULL && k->height != 0) {
        ring_put(cs, k);
    }
    if (err == BM_EFULL && n->kind == BM_CS_HEADERS) {
        bm_p2pstore_note(n->store, e); /* beyond the window: fetched later */
    }
    if (err == BM_EFULL) {
        atomic_fetch_add_explicit(&n->ignored[BM_CS_FULL], 1,
                                  memory_order_relaxed);
    }
    on_best(cs, before);
    if (err == BM_OK) {
        notify(cs);
    }
    fetch(&cs->net[BM_CS_HEADERS]);
    fetch(&cs->net[BM_CS_DATA]);
    schedule(cs);
}

static enum bm_floodsub_verdict topic_validate(const struct bm_floodsub_msg *m,
                                               void *arg)
{
    struct net *n = arg;
    struct bm_chainsync *cs = n->cs;
    enum bm_chainsync_reason why;
    enum bm_floodsub_verdict v;

    cs->stash.ok = false;
    v = check(cs, n->kind, m->data, m->data_len, &cs->stash.e, &cs->stash.k,
              &why);
    if (v == BM_FLOODSUB_ACCEPT) {
        cs->stash.ok = true;
        cs->stash.p = m->data;
        cs->stash.n = m->data_len;
    } else if (v == BM_FLOODSUB_REJECT) {
        char id[BM_PEER_ID_STR_SIZE];

        bm_peer_id_format(&m->source, id);
        bm_log_debug(MOD, "gossip %s rejected reason=%s from=%s",
                     bm_chainsync_net_name(n->kind),
                     bm_chainsync_reason_name(why), id);
    }
    return v;
}

static void topic_deliver(const struct bm_floodsub_msg *m, void *arg)
{
    struct net *n = arg;
    struct bm_chainsync *cs = n->cs;

    if (!cs->stash.ok || cs->stash.p != m->data ||
        cs->stash.n != m->data_len) {
        return; /* not the message just validated: cannot happen */
    }
    cs->stash.ok = false;
    keep(n, &cs->stash.e, &cs->stash.k, m->data, m->data_len);
}

static const struct bm_floodsub_topic topic_ops = {
    .validate = topic_validate,
    .deliver = topic_deliver,
};

/* ------------------------------------------- loop thread: item source */

/* Appends the da_height_hint field (always written, as Go does). */
static int add_hint(struct net *n, uint64_t height, struct bm_buf *item)
{
    uint8_t tail[1 + BM_VARINT_MAX_LEN];
    char name[64];
    uint64_t hint = 0;
    size_t k;
    uint8_t *p;

    bm_meta_rhb_name(name, sizeof(name), height,
                     n->kind == BM_CS_HEADERS ? 'h' : 'd');
    (void)bm_meta_get_u64(n->cs->store, name, &hint, NULL);
    /* P2PSignedHeader field 4 / P2PData field 3, varint. */
    tail[0] = n->kind == BM_CS_HEADERS ? 0x20 : 0x18;
    k = 1 + bm_varint_put(hint, tail + 1);
    p = bm_realloc(item->ptr, item->len + k);
    if (p == NULL) {
        return BM_ENOMEM;
    }
    memcpy(p + item->len, tail, k);
    item->ptr = p;
    item->len += k;
    return BM_OK;
}

static int src_head(void *arg, uint64_t *height)
{
    struct net *n = arg;
    int err = bm_store_height(n->cs->store, height, NULL);

    if (err == BM_OK && *height == 0) {
        err = BM_ENOTFOUND;
    }
    return err;
}

/* The marshalled P2PSignedHeader / P2PData of stored block `height`. */
static int src_get(void *arg, uint64_t height, struct bm_buf *item)
{
    struct net *n = arg;
    struct bm_store_blockbuf b = {0};
    int err;

    bm_buf_release(item);
    if (n->kind == BM_CS_HEADERS) {
        err = bm_store_get_header(n->cs->store, height, item, NULL);
    } else {
        err = bm_store_get_block(n->cs->store, height, &b, NULL);
        if (err == BM_OK) {
            *item = b.data;
            memset(&b.data, 0, sizeof(b.data));
        }
        bm_store_blockbuf_release(&b);
    }
    if (err == BM_OK && item->len == 0) {
        err = BM_ECORRUPT;
    }
    if (err == BM_OK) {
        err = add_hint(n, height, item);
    }
    if (err != BM_OK) {
        bm_buf_release(item);
    }
    return err;
}

static int src_by_hash(void *arg, const uint8_t *h, size_t len,
                       struct bm_buf *item)
{
    struct net *n = arg;
    struct bm_hash hash;
    uint64_t height;
    int err;

    if (n->kind != BM_CS_HEADERS || len != BM_HASH_SIZE) {
        return BM_ENOTFOUND; /* data is not indexed by hash */
    }
    memcpy(hash.b, h, BM_HASH_SIZE);
    err = bm_store_get_height_by_hash(n->cs->store, &hash, &height, NULL);
    if (err != BM_OK) {
        return err;
    }
    return src_get(arg, height, item);
}

static const struct bm_headerex_source block_source = {
    .head_height = src_head,
    .get_by_height = src_get,
    .get_by_hash = src_by_hash,
};

/* --------------------------------------------- loop thread: verifier */

static void memo_clear(struct net *n)
{
    bm_buf_release(&n->memo.bytes);
    bm_p2p_signed_header_release(&n->memo.ph);
    bm_p2p_data_release(&n->memo.pd);
    memset(&n->memo, 0, sizeof(n->memo));
}

/* True if p[0..len) are the bytes of the item n->memo holds. Borrows p. */
static bool memo_is(const struct net *n, const uint8_t *p, size_t len)
{
    return n->memo.valid && n->memo.bytes.len == len &&
           (len == 0 || memcmp(n->memo.bytes.ptr, p, len) == 0);
}

/* Makes item[0..len), just accepted, the memo: takes ownership of *ph or
 * *pd (whichever is not NULL; left zeroed), copies the bytes. Without
 * memory for the copy there is no memo (the next item decodes its
 * predecessor, as without one). */
static void memo_keep(struct net *n, const uint8_t *item, size_t len,
                      struct bm_p2p_signed_header *ph, struct bm_p2p_data *pd)
{
    memo_clear(n);
    if (bm_buf_set(&n->memo.bytes, item, len) != BM_OK) {
        memo_clear(n);
        return;
    }
    if (ph != NULL) {
        n->memo.ph = *ph;
        memset(ph, 0, sizeof(*ph));
    } else {
        n->memo.pd = *pd;
        memset(pd, 0, sizeof(*pd));
    }
    n->memo.valid = true;
}

/*
 * A header from a peer's exchange reply: decodes, chain ID (any case, as
 * go-header), the height asked for, Header.ValidateBasic; linked to an
 * adjacent previous item by last_header_hash and time order, it is
 * authentic as far as that item is (the range starts at a stored block);
 * with no adjacent previous item its signature and proposer are checked.
 */
static int verify_header(void *arg, const uint8_t *item, size_t len,
                         const uint8_t *prev, size_t prev_len,
                         uint64_t want, uint64_t *height)
{
    struct net *n = arg;
    struct bm_chainsync *cs = n->cs;
    struct bm_p2p_signed_header ph = {0}, pp = {0};
    const struct bm_p2p_signed_header *pv = NULL; /* prev, decoded */
    const struct bm_header *h = &ph.sh.header;
    uint64_t now = bm_validate_now_ns();
    bool linked = false;
    struct bm_hash phash;
    int err = BM_EBADMSG;

    if (bm_p2p_signed_header_decode(&ph, item, len) != BM_OK ||
        !chain_is(cs, h->chain_id, true) ||
        (want != 0 && h->height != want) || h->height == 0 ||
        bm_header_validate_basic(h, now, NULL) != BM_OK) {
        goto out;
    }
    if (prev != NULL && memo_is(n, prev, prev_len)) {
        pv = &n->memo.ph;
    } else if (prev != NULL &&
               bm_p2p_signed_header_decode(&pp, prev, prev_len) == BM_OK) {
        pv = &pp;
    }
    if (pv != NULL && pv->sh.header.height + 1 == h->height) {
        if (bm_header_hash(&pv->sh.header, &phash) != BM_OK ||
            h->last_header_hash.len != BM_HASH_SIZE ||
            memcmp(h->last_header_hash.ptr, phash.b, BM_HASH_SIZE) != 0 ||
            h->time < pv->sh.header.time) {
            goto out;
        }
        linked = true;
    }
    if (!linked &&
        (bm_signed_header_validate_basic(&ph.sh, now, NULL) != BM_OK ||
         bm_assert_expected_proposer(state_now(cs),
                                     &cs->genesis->proposer_address, h,
                                     NULL) != BM_OK)) {
        goto out;
    }
    *height = h->height;
    err = BM_OK;
    memo_keep(n, item, len, &ph, NULL); /* pv is not used after this */
out:
    if (err != BM_OK) {
        inc(n, C_BAD_ITEMS);
    }
    bm_p2p_signed_header_release(&ph);
    bm_p2p_signed_header_release(&pp);
    return err;
}

/* Data from a peer's exchange reply: decodes, Data.Validate, chain ID (any
 * case), the height asked for; linked to an adjacent previous item by
 * go-header's Verify (last_data_hash = Data.Hash of it). */
static int verify_data(void *arg, const uint8_t *item, size_t len,
                       const uint8_t *prev, size_t prev_len, uint64_t want,
                       uint64_t *height)
{
    struct net *n = arg;
    struct bm_p2p_data pd = {0}, pp = {0};
    const struct bm_p2p_data *pv = NULL; /* prev, decoded */
    const struct bm_data *d = &pd.data;
    uint64_t now = bm_validate_now_ns();
    int err = BM_EBADMSG;

    if (bm_p2p_data_decode(&pd, item, len) != BM_OK ||
        bm_data_validate(d, now, NULL) != BM_OK ||
        !chain_is(n->cs, d->metadata.chain_id, true) ||
        (want != 0 && d->metadata.height != want)) {
        goto out;
    }
    if (prev != NULL && memo_is(n, prev, prev_len)) {
        pv = &n->memo.pd;
    } else if (prev != NULL &&
               bm_p2p_data_decode(&pp, prev, prev_len) == BM_OK) {
        pv = &pp;
    }
    if (pv != NULL && pv->data.has_metadata &&
        pv->data.metadata.height + 1 == d->metadata.height &&
        bm_data_verify(&pv->data, d, now, NULL) != BM_OK) {
        goto out;
    }
    *height = d->metadata.height;
    err = BM_OK;
    memo_keep(n, item, len, NULL, &pd); /* pv is not used after this */
out:
    if (err != BM_OK) {
        inc(n, C_BAD_ITEMS);
    }
    bm_p2p_data_release(&pd);
    bm_p2p_data_release(&pp);
    return err;
}

static const struct bm_headerex_verifier header_verifier = {verify_header};
static const struct bm_headerex_verifier data_verifier = {verify_data};

/* ----------------------------------------------- loop thread: client */

/* The entry (and for headers the ring record) of a verified item. */
static bool entry_of(struct net *n, const struct bm_buf *item,
                     struct bm_p2pstore_entry *e, struct known *k,
                     struct bm_data *data_out)
{
    bool ok = false;

    memset(e, 0, sizeof(*e));
    memset(k, 0, sizeof(*k));
    if (n->kind == BM_CS_HEADERS) {
        struct bm_p2p_signed_header ph = {0};

        if (bm_p2p_signed_header_decode(&ph, item->ptr, item->len) ==
                BM_OK &&
            bm_header_hash(&ph.sh.header, &e->hash) == BM_OK) {
            e->height = ph.sh.header.height;
            e->time_ns = ph.sh.header.time;
            known_of(&ph.sh.header, &e->hash, k);
            ok = true;
        }
        bm_p2p_signed_header_release(&ph);
    } else {
        struct bm_p2p_data pd = {0};

        if (bm_p2p_data_decode(&pd, item->ptr, item->len) == BM_OK &&
            pd.data.has_metadata && bm_data_hash(&pd.data, &e->hash) == BM_OK) {
            e->height = pd.data.metadata.height;
            e->time_ns = pd.data.metadata.time;
            *data_out = pd.data;
            memset(&pd.data, 0, sizeof(pd.data));
            ok = true;
        }
        bm_p2p_data_release(&pd);
    }
    return ok;
}

/* Puts one fetched item; false if it was not kept. */
static bool keep_fetched(struct net *n, const struct bm_buf *item)
{
    struct bm_chainsync *cs = n->cs;
    struct bm_p2pstore_entry e;
    struct bm_data d = {0};
    struct known k, hk;
    bool ok;

    ok = entry_of(n, item, &e, &k, &d);
    /* Data must fit its header when the header is known (a range that did
     * not start at a stored block cannot prove it otherwise). */
    if (ok && n->kind == BM_CS_DATA && known_at(cs, e.height, &hk) &&
        !data_fits(&hk, &d)) {
        ok = false;
    }
    bm_data_release(&d);
    if (ok && bm_p2pstore_put(n->store, &e, item->ptr, item->len) != BM_OK) {
        ok = false;
    }
    if (ok && n->kind == BM_CS_HEADERS) {
        ring_put(cs, &k);
    }
    inc(n, ok ? C_FETCHED : C_FETCH_DROPPED);
    return ok;
}

static void on_range_items(struct bm_headerex *x, struct bm_headerex_result *res,
                           void *arg)
{
    struct net *n = arg;
    uint64_t before = bm_p2pstore_height(n->cs->net[BM_CS_HEADERS].store);
    bool any = false;

    (void)x;
    for (size_t i = 0; i < res->n_items; i++) {
        any |= keep_fetched(n, &res->items[i].bytes);
    }
    on_best(n->cs, before);
    if (any) {
        notify(n->cs);
    }
    schedule(n->cs);
}

static void on_range_done(struct bm_headerex *x, int err, uint64_t next,
                          void *arg)
{
    struct net *n = arg;

    (void)x;
    n->range_busy = false;
    if (err != BM_OK) {
        inc(n, C_RANGES_FAILED);
        n->retry_at_ms = bm_p2p_host_now_ms(n->cs->host) +
                         BM_CHAINSYNC_RETRY_MS;
        bm_log_debug(MOD, "%s range stopped at height=%llu err=%s",
                     bm_chainsync_net_name(n->kind),
                     (unsigned long long)next, bm_err_name(err));
        schedule(n->cs);
        return;
    }
    fetch(n);
    schedule(n->cs);
}

/* The item at height h as bytes: the P2P store's, else the stored
 * block's. */
static bool item_at(struct net *n, uint64_t h, uint64_t applied,
                    struct bm_buf *out)
{
    if (bm_p2pstore_get(n->store, h, out) == BM_OK) {
        return true;
    }
    return h >= n->cs->genesis->initial_height && h <= applied &&
           src_get(n, h, out) == BM_OK;
}

/*
 * Fills the first gap above the block store height: from the first
 * height not held up to the next held one (or the best header height
 * known), at most the window ahead of the store. One range at a time per
 * network. Loop thread.
 */
static void fetch(struct net *n)
{
    struct bm_chainsync *cs = n->cs;
    uint64_t applied, target, from, end, next, limit;
    struct bm_buf trusted = {0};
    int err;

    if (n->range_busy || !following(cs) ||
        bm_p2p_host_now_ms(cs->host) < n->retry_at_ms) {
        return;
    }
    applied = store_height(cs);
    (void)bm_p2pstore_prune(n->store, applied);
    target = bm_p2pstore_height(cs->net[BM_CS_HEADERS].store);
    if (applied < cs->genesis->initial_height - 1) {
        applied = cs->genesis->initial_height - 1;
    }
    from = bm_p2pstore_contiguous(n->store, applied) + 1;
    if (target < from) {
        return;
    }
    next = bm_p2pstore_next_held(n->store, from);
    end = next != 0 && next - 1 < target ? next - 1 : target;
    limit = applied + cs->window;
    if (end > limit) {
        end = limit;
    }
    if (end < from) {
        return;
    }
    (void)item_at(n, from - 1, applied, &trusted);
    err = bm_headerex_range_loop(n->x, NULL, 0, from, end - from + 1,
                                 trusted.len > 0 ? &trusted : NULL,
                                 on_range_items, on_range_done, n);
    bm_buf_release(&trusted);
    if (err != BM_OK) {
        n->retry_at_ms = bm_p2p_host_now_ms(cs->host) + BM_CHAINSYNC_RETRY_MS;
        return;
    }
    n->range_busy = true;
    inc(n, C_RANGES);
    bm_log_debug(MOD, "%s range from=%llu count=%llu",
                 bm_chainsync_net_name(n->kind), (unsigned long long)from,
                 (unsigned long long)(end - from + 1));
}

static void on_head(struct bm_headerex *x, struct bm_headerex_result *res,
                    void *arg)
{
    struct bm_chainsync *cs = arg;
    struct net *n = &cs->net[BM_CS_HEADERS];
    uint64_t before = bm_p2pstore_height(n->store);

    (void)x;
    cs->head_busy = false;
    if (res->err == BM_OK && res->n_items > 0) {
        struct bm_p2pstore_entry e;
        struct bm_data d = {0};
        struct known k;
        const struct bm_buf *item = &res->items[0].bytes;

        if (entry_of(n, item, &e, &k, &d) && e.height > store_height(cs) &&
            following(cs)) {
            if (bm_p2pstore_put(n->store, &e, item->ptr, item->len) !=
                BM_OK) {
                bm_p2pstore_note(n->store, &e);
            } else {
                notify(cs);
            }
            ring_put(cs, &k);
        }
        bm_data_release(&d);
    }
    on_best(cs, before);
    fetch(&cs->net[BM_CS_HEADERS]);
    fetch(&cs->net[BM_CS_DATA]);
    schedule(cs);
}

static void ask_head(struct bm_chainsync *cs)
{
    if (cs->head_busy || !following(cs)) {
        return;
    }
    cs->head_ms = bm_p2p_host_now_ms(cs->host);
    if (bm_headerex_head_loop(cs->net[BM_CS_HEADERS].x, NULL, 0, on_head,
                              cs) == BM_OK) {
        cs->head_busy = true;
        inc(&cs->net[BM_CS_HEADERS], C_HEADS);
    }
}

/* Drops the data item right above the store when it does not fit the
 * header there (a bad item fetched before its header was known), so it
 * is fetched again. */
static void drop_misfit(struct bm_chainsync *cs, uint64_t applied)
{
    struct net *n = &cs->net[BM_CS_DATA];
    struct bm_buf raw = {0};
    struct bm_p2p_data pd = {0};
    struct known k;

    if (bm_p2pstore_get(n->store, applied + 1, &raw) == BM_OK &&
        known_at(cs, applied + 1, &k) &&
        (bm_p2p_data_decode(&pd, raw.ptr, raw.len) != BM_OK ||
         !data_fits(&k, &pd.data))) {
        bm_log_warn(MOD, "data held at height=%llu does not fit its "
                    "header: fetching it again",
                    (unsigned long long)(applied + 1));
        (void)bm_p2pstore_remove(n->store, applied + 1);
        inc(n, C_FETCH_DROPPED);
    }
    bm_p2p_data_release(&pd);
    bm_buf_release(&raw);
}

static uint64_t head_stale_ms(const struct bm_chainsync *cs)
{
    uint64_t stale = BM_CHAINSYNC_HEAD_STALE_BLOCKS * cs->block_time_ms;

    return stale < BM_CHAINSYNC_HEAD_MIN_MS ? BM_CHAINSYNC_HEAD_MIN_MS
                                            : stale;
}

/* ms from now until the tick has something to do, or UINT64_MAX: every
 * tick_ms while the P2P stores hold items (they are pruned as the block
 * store moves); when following, when the head goes stale and when a
 * failed range is due again. Everything else is driven by events
 * (gossip, exchange replies, new peers). */
static uint64_t tick_delay(struct bm_chainsync *cs)
{
    uint64_t now = bm_p2p_host_now_ms(cs->host);
    uint64_t d = UINT64_MAX;

    for (int i = 0; i < BM_CS_NNETS; i++) {
        if (bm_p2pstore_next_held(cs->net[i].store, 0) != 0) {
            d = cs->tick_ms;
        }
    }
    if (!following(cs)) {
        return d;
    }
    if (!cs->head_busy) {
        uint64_t last = cs->best_ms > cs->head_ms ? cs->best_ms : cs->head_ms;
        uint64_t due = last + head_stale_ms(cs);

        d = due <= now ? 0 : (due - now < d ? due - now : d);
    }
    for (int i = 0; i < BM_CS_NNETS; i++) {
        const struct net *n = &cs->net[i];

        if (!n->range_busy && n->retry_at_ms > now &&
            n->retry_at_ms - now < d) {
            d = n->retry_at_ms - now;
        }
    }
    return d;
}

static void tick_loop(struct bm_p2p_host *h, void *arg);

/* (Re-)arms the tick for the next thing due, unless an earlier tick is
 * pending already. Loop thread. */
static void schedule(struct bm_chainsync *cs)
{
    uint64_t now = bm_p2p_host_now_ms(cs->host), delay;

    if (!atomic_load(&cs->running)) {
        return;
    }
    delay = tick_delay(cs);
    if (delay == UINT64_MAX) {
        return; /* an event re-arms it */
    }
    if (cs->ticker.v != 0 && cs->tick_at <= now + delay) {
        return;
    }
    (void)bm_p2p_host_timer_cancel(cs->host, cs->ticker);
    cs->ticker.v = 0;
    if (bm_p2p_host_timer_add(cs->host, delay, 0, tick_loop, cs,
                              &cs->ticker) == BM_OK) {
        cs->tick_at = now + delay;
    } else {
        bm_log_warn(MOD, "cannot arm the sync tick: no more host timers");
    }
}

static void tick_loop(struct bm_p2p_host *h, void *arg)
{
    struct bm_chainsync *cs = arg;
    uint64_t applied = store_height(cs);
    uint64_t now = bm_p2p_host_now_ms(h);
    uint64_t stale = head_stale_ms(cs);

    cs->ticker.v = 0;
    if (!atomic_load(&cs->running)) {
        return;
    }
    for (int i = 0; i < BM_CS_NNETS; i++) {
        (void)bm_p2pstore_prune(cs->net[i].store, applied);
    }
    drop_misfit(cs, applied);
    if (following(cs)) {
        if (now - cs->best_ms >= stale && now - cs->head_ms >= stale) {
            ask_head(cs);
        }
        fetch(&cs->net[BM_CS_HEADERS]);
        fetch(&cs->net[BM_CS_DATA]);
    }
    schedule(cs);
}

static void on_identified(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                          const struct bm_peer_id *peer,
                          const struct bm_identify *id, void *arg)
{
    struct bm_chainsync *cs = arg;

    (void)h;
    (void)conn;
    (void)peer;
    (void)id;
    ask_head(cs);
    schedule(cs);
}

static const struct bm_p2p_listener listener = {
    .on_identified = on_identified,
};

/* ------------------------------------------------------------ broadcaster */

static uint64_t hint_of(struct bm_chainsync *cs, uint64_t height, char which)
{
    char name[64];
    uint64_t v = 0;

    bm_meta_rhb_name(name, sizeof(name), height, which);
    (void)bm_meta_get_u64(cs->store, name, &v, NULL);
    return v;
}

static enum bm_err publish(struct net *n, const struct bm_buf *b)
{
    int err = bm_floodsub_publish(n->cs->fs, n->topic, b->ptr, b->len);

    if (err == BM_OK) {
        inc(n, C_PUBLISHED);
    } else {
        inc(n, C_PUBLISH_FAILED);
        if (err == BM_ETOOBIG) {
            inc(n, C_PUBLISH_TOO_BIG);
        }
    }
    return (enum bm_err)err;
}

static enum bm_err bc_header(void *ctx, const struct bm_signed_header *sh)
{
    struct bm_chainsync *cs = ctx;
    struct bm_p2p_signed_header p;
    struct bm_buf b = {0};
    enum bm_err err;

    memset(&p, 0, sizeof(p));
    p.sh = *sh; /* borrowed for the encode; never released here */
    p.has_da_height_hint = true;
    p.da_height_hint = hint_of(cs, sh->header.height, 'h');
    err = bm_p2p_signed_header_encode(&p, &b);
    if (err == BM_OK) {
        err = publish(&cs->net[BM_CS_HEADERS], &b);
    }
    bm_buf_release(&b);
    return err;
}

static enum bm_err bc_data(void *ctx, const struct bm_data *d)
{
    struct bm_chainsync *cs = ctx;
    struct bm_p2p_data p;
    struct bm_buf b = {0};
    enum bm_err err;

    memset(&p, 0, sizeof(p));
    p.data = *d; /* borrowed for the encode */
    p.has_da_height_hint = true;
    p.da_height_hint =
        d->has_metadata ? hint_of(cs, d->metadata.height, 'd') : 0;
    err = bm_p2p_data_encode(&p, &b);
    if (err == BM_OK) {
        err = publish(&cs->net[BM_CS_DATA], &b);
    }
    bm_buf_release(&b);
    return err;
}

/* ------------------------------------------------------------ public */

static int make_net(struct bm_chainsync *cs, enum bm_chainsync_net kind,
                    const struct bm_chainsync_config *cfg,
                    struct bm_errmsg *em)
{
    struct net *n = &cs->net[kind];
    struct bm_headerex_config xc;
    const char *suffix = kind == BM_CS_HEADERS ? "headerSync" : "dataSync";
    int err;

    n->cs = cs;
    n->kind = kind;
    snprintf(n->network, sizeof(n->network), "%s-%s", cfg->genesis->chain_id,
             suffix);
    snprintf(n->topic, sizeof(n->topic), "/%s/header-sub/v0.0.1", n->network);
    err = bm_p2pstore_new(&n->store,
                          kind == BM_CS_HEADERS ? BM_P2PSTORE_HEADERS
                                                : BM_P2PSTORE_DATA,
                          cfg->window_items, cfg->window_bytes);
    if (err != BM_OK) {
        return err;
    }
    bm_headerex_config_init(&xc);
    xc.network_id = n->network;
    xc.source = &block_source;
    xc.source_arg = n;
    xc.verifier = kind == BM_CS_HEADERS ? &header_verifier : &data_verifier;
    xc.verifier_arg = n;
    xc.block_bad_peers = true;
    err = bm_headerex_new(&n->x, cfg->host, &xc, em);
    if (err != BM_OK) {
        return err;
    }
    return bm_floodsub_subscribe(cs->fs, n->topic, &topic_ops, n);
}

int bm_chainsync_new(struct bm_chainsync **out,
                     const struct bm_chainsync_config *cfg,
                     struct bm_errmsg *em)
{
    struct bm_chainsync *cs;
    struct bm_floodsub_config fc;
    int err;

    *out = NULL;
    if (cfg->host == NULL || cfg->genesis == NULL || cfg->store == NULL ||
        cfg->genesis->chain_id == NULL) {
        return bm_errf(em, BM_EINVAL, "chainsync: host, genesis and store: "
                       "required");
    }
    if (strlen(cfg->genesis->chain_id) > 150) {
        return bm_errf(em, BM_EINVAL, "chainsync: chain ID of %zu bytes: "
                       "at most 150 fit a topic", strlen(cfg->genesis->chain_id));
    }
    cs = bm_xcalloc(1, sizeof(*cs));
    cs->host = cfg->host;
    cs->genesis = cfg->genesis;
    cs->store = cfg->store;
    cs->block_time_ms = cfg->block_time_ms ? cfg->block_time_ms : 1000;
    cs->tick_ms = cfg->tick_ms ? cfg->tick_ms : BM_CHAINSYNC_TICK_MS;
    cs->window = cfg->window_items ? cfg->window_items : BM_P2PSTORE_MAX_ITEMS;
    atomic_init(&cs->running, false);
    for (int i = 0; i < BM_CS_NNETS; i++) {
        for (int j = 0; j < NCOUNT; j++) {
            atomic_init(&cs->net[i].c[j], 0);
        }
        for (int j = 0; j < BM_CS_REASON_COUNT; j++) {
            atomic_init(&cs->net[i].rejected[j], 0);
            atomic_init(&cs->net[i].ignored[j], 0);
        }
    }
    bm_floodsub_config_init(&fc);
    fc.max_rpc = cfg->max_gossip ? cfg->max_gossip : DEFAULT_MAX_GOSSIP;
    err = bm_floodsub_new(&cs->fs, cfg->host, &fc, em);
    for (int i = 0; err == BM_OK && i < BM_CS_NNETS; i++) {
        err = make_net(cs, (enum bm_chainsync_net)i, cfg, em);
    }
    if (err == BM_OK) {
        err = bm_p2p_host_add_listener(cfg->host, &listener, cs);
    }
    if (err != BM_OK) {
        if (em != NULL && em->msg[0] == '\0') {
            (void)bm_errf(em, err, "chainsync: cannot set up the protocols: "
                          "%s", bm_err_name(err));
        }
        bm_chainsync_free(cs);
        return err;
    }
    *out = cs;
    return BM_OK;
}

int bm_chainsync_attach(struct bm_chainsync *cs,
                        const struct bm_chainsync_hooks *hooks)
{
    if (cs->started) {
        return BM_ESTATE;
    }
    cs->hooks = *hooks;
    return BM_OK;
}

/* The loop thread arms the first tick. */
static void start_run(struct bm_p2p_host *h, void *arg)
{
    (void)h;
    schedule(arg);
}

int bm_chainsync_start(struct bm_chainsync *cs)
{
    int err;

    if (cs->started) {
        return BM_ESTATE;
    }
    atomic_store(&cs->running, true);
    err = bm_p2p_host_post(cs->host, start_run, cs);
    if (err != BM_OK) {
        atomic_store(&cs->running, false);
        return err;
    }
    cs->started = true;
    return BM_OK;
}

void bm_chainsync_stop(struct bm_chainsync *cs)
{
    if (cs != NULL) {
        atomic_store(&cs->running, false);
    }
}

void bm_chainsync_free(struct bm_chainsync *cs)
{
    if (cs == NULL) {
        return;
    }
    bm_chainsync_stop(cs);
    for (int i = 0; i < BM_CS_NNETS; i++) {
        bm_headerex_free(cs->net[i].x);
        bm_p2pstore_free(cs->net[i].store);
        memo_clear(&cs->net[i]);
    }
    bm_floodsub_free(cs->fs);
    bm_state_release(&cs->st);
    bm_free(cs);
}

void bm_chainsync_stores(struct bm_chainsync *cs, struct bm_p2p_store *headers,
                         struct bm_p2p_store *data)
{
    bm_p2pstore_view(cs->net[BM_CS_HEADERS].store, headers);
    bm_p2pstore_view(cs->net[BM_CS_DATA].store, data);
}

struct bm_p2pstore *bm_chainsync_store(struct bm_chainsync *cs,
                                       enum bm_chainsync_net n)
{
    return cs->net[n].store;
}

void bm_chainsync_broadcaster(struct bm_chainsync *cs,
                              struct bm_broadcaster *out)
{
    out->broadcast_header = bc_header;
    out->broadcast_data = bc_data;
    out->ctx = cs;
}

const char *bm_chainsync_topic(const struct bm_chainsync *cs,
                               enum bm_chainsync_net n)
{
    return cs->net[n].topic;
}

void bm_chainsync_stats(struct bm_chainsync *cs,
                        struct bm_chainsync_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < BM_CS_NNETS; i++) {
        struct net *n = &cs->net[i];
        struct bm_chainsync_net_stats *o = &out->net[i];
        struct bm_p2pstore_info info;

        o->published = load(&n->c[C_PUBLISHED]);
        /* too_big first: failed is counted before it, so it is never
         * below a too_big read earlier. */
        o->publish_too_big = load(&n->c[C_PUBLISH_TOO_BIG]);
        o->publish_failed = load(&n->c[C_PUBLISH_FAILED]);
        o->publish_other = o->publish_failed - o->publish_too_big;
        o->validated = load(&n->c[C_VALIDATED]);
        o->accepted = load(&n->c[C_ACCEPTED]);
        for (int r = 0; r < BM_CS_REASON_COUNT; r++) {
            o->rejected[r] = load(&n->rejected[r]);
            o->ignored[r] = load(&n->ignored[r]);
        }
        o->heads_asked = load(&n->c[C_HEADS]);
        o->ranges_started = load(&n->c[C_RANGES]);
        o->ranges_failed = load(&n->c[C_RANGES_FAILED]);
        o->items_fetched = load(&n->c[C_FETCHED]);
        o->items_dropped = load(&n->c[C_FETCH_DROPPED]);
        o->bad_items = load(&n->c[C_BAD_ITEMS]);
        bm_p2pstore_info(n->store, &info);
        o->height = info.height;
        o->held = info.items;
        bm_headerex_stats(n->x, &out->exchange[i]);
    }
    bm_floodsub_stats(cs->fs, &out->floodsub);
}

uint64_t bm_chainsync_best_height(struct bm_chainsync *cs)
{
    uint64_t h = bm_p2pstore_height(cs->net[BM_CS_HEADERS].store);
    uint64_t d = bm_p2pstore_height(cs->net[BM_CS_DATA].store);

    return h < d ? h : d;
}
