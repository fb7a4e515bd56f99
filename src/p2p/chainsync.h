/*
 * Chain sync over P2P: ev-node's header and data sync services
 * (EV pkg/sync) on the host, for one chain. The block-aware top of
 * src/p2p (with p2pstore.h); the FloodSub router and the exchange below
 * it know nothing of blocks. docs/P2P-SYNC.md has the design.
 *
 * What it does:
 *  - FloodSub topics "/<chainID>-headerSync/header-sub/v0.0.1"
 *    (P2PSignedHeader) and "/<chainID>-dataSync/header-sub/v0.0.1"
 *    (P2PData), with topic validators that run on the loop thread (cheap:
 *    a decode, a few comparisons, store reads through short read
 *    transactions, one Ed25519 verify; never deferred). Header: decode,
 *    chain ID, height >= the initial height, Header.ValidateBasic, the
 *    expected proposer (the stored state's next_proposer_address, else
 *    the genesis proposer), the signature; at an applied height: the same
 *    block is Ignored (old), another is Rejected (fork); time <= now +
 *    10 s; linkage (last_header_hash, time order) when the previous
 *    header is known. Data: decode, Data.Validate, chain ID, height; at an
 *    applied height Ignore (same txs as the applied header) or Reject
 *    (fork); else it must fit the known header of its height (data_hash,
 *    time) or is Ignored (no header yet: the exchange fetches it later).
 *    Every verdict is counted by topic and reason.
 *  - Accepted items go into two bounded P2P stores (p2pstore.h), which
 *    the block manager reads through struct bm_p2p_store; each put wakes
 *    it (hooks.on_items).
 *  - The exchange "/<chainID>-headerSync/header-ex/v0.0.3" and
 *    "-dataSync": a server over the block store (heads, ranges, by hash
 *    for headers; da_height_hint from rhb/<h>/h|d), and a client: at each
 *    new peer and when gossip is silent it asks the head, and it fills
 *    every gap between the block store height and the best header height
 *    known by ranges (verified as a hash chain from the stored block
 *    below them; an item with no stored predecessor gets its signature
 *    and proposer checked), at most the P2P store's window ahead.
 *  - A broadcaster (struct bm_broadcaster) for the block manager's
 *    Broadcaster actor: publishes the header, then the data, of every
 *    committed block (da_height_hint from rhb/<h>/h|d, 0 when unknown,
 *    always present as Go writes it).
 *
 * Threads: bm_chainsync_new and bm_chainsync_attach before the host
 * starts; validators, deliveries, exchange callbacks and the tick run on
 * the host's loop thread; the broadcaster runs on the caller's thread (an
 * actor) and never blocks; bm_chainsync_stats and bm_chainsync_best_height
 * from any thread. The tick is a host timer armed for the next thing due:
 * every tick_ms while the P2P stores hold items (pruned as the block store
 * moves), the head when it went stale, a failed range's retry; a node
 * with nothing to do does not wake up.
 *
 * Lifecycle: new -> attach -> bm_p2p_host_start -> start -> ... -> stop
 * -> bm_p2p_host_stop -> the manager stops -> bm_chainsync_free (the
 * manager reads the stores and calls the broadcaster until it stopped).
 */
#ifndef BM_P2P_CHAINSYNC_H
#define BM_P2P_CHAINSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/genesis.h"
#include "blockv2/manager.h"
#include "blockv2/store.h"
#include "blockv2/types.h"
#include "p2p/floodsub.h"
#include "p2p/headerex.h"
#include "p2p/host.h"
#include "p2p/p2pstore.h"

struct bm_errmsg;
struct bm_chainsync;

#define BM_CHAINSYNC_TICK_MS 200u
/* The head is asked again when nothing raised the best height for this
 * many block times (at least HEAD_MIN_MS). */
#define BM_CHAINSYNC_HEAD_STALE_BLOCKS 3u
#define BM_CHAINSYNC_HEAD_MIN_MS 2000u
/* A failed range is retried after this long. */
#define BM_CHAINSYNC_RETRY_MS 1000u
/* Recent headers remembered for linkage checks. */
#define BM_CHAINSYNC_RING 256u

struct bm_chainsync_config {
    struct bm_p2p_host *host;           /* borrowed; not started; FloodSub
                                           signs with its identity */
    const struct bm_genesis *genesis;   /* borrowed; chain ID, proposer */
    struct bm_store *store;             /* borrowed; read only */
    size_t max_gossip;     /* FloodSub frame limit; 0: 5 MiB (DA blob) */
    uint64_t block_time_ms;             /* 0: 1000 */
    uint64_t tick_ms;                   /* 0: BM_CHAINSYNC_TICK_MS */
    size_t window_items;                /* P2P stores; 0: defaults */
    size_t window_bytes;
};

/* Set once before the host starts (bm_chainsync_attach). */
struct bm_chainsync_hooks {
    /* Whether to keep and fetch blocks: a full node always, an aggregator
     * while it catches up. NULL: always. Called on the loop thread. */
    bool (*follow)(void *arg);
    void *follow_arg;
    /* Items were put into a P2P store (loop thread; must not block). */
    void (*on_items)(void *arg);
    void *on_items_arg;
};

/* Why a gossip message was Rejected or Ignored (metrics labels). */
enum bm_chainsync_reason {
    BM_CS_DECODE = 0,  /* reject: not a P2PSignedHeader / P2PData */
    BM_CS_INVALID,     /* reject: ValidateBasic / Data.Validate */
    BM_CS_SIGNATURE,   /* reject: signature, signer key or address */
    BM_CS_CHAIN_ID,    /* reject: another chain */
    BM_CS_PROPOSER,    /* reject: not the expected proposer */
    BM_CS_HEIGHT,      /* reject: below the initial height */
    BM_CS_TIME,        /* reject: > now + 10 s, or before its parent */
    BM_CS_LINKAGE,     /* reject: last_header_hash, or data not the
                          header's (data_hash, time) */
    BM_CS_FORK,        /* reject: another block at an applied height */
    BM_CS_OLD,         /* ignore: the applied block again */
    BM_CS_CONFLICT,    /* ignore: another item at a height held (kept
                          the first) */
    BM_CS_NO_HEADER,   /* ignore: data whose header is not known yet */
    BM_CS_FULL,        /* ignore: the P2P store's window is full */
    BM_CS_NOT_FOLLOWING, /* accept, not kept: an aggregator producing */
    BM_CS_REASON_COUNT,
};

/* Static label ("bad_signature" style). */
const char *bm_chainsync_reason_name(enum bm_chainsync_reason r);

enum bm_chainsync_net { BM_CS_HEADERS = 0, BM_CS_DATA = 1, BM_CS_NNETS };

/* "header" / "data". */
const char *bm_chainsync_net_name(enum bm_chainsync_net n);

struct bm_chainsync_net_stats {
    /* gossip */
    uint64_t published;        /* our blocks published */
    uint64_t publish_failed;   /* refused by FloodSub (too big, full) */
    uint64_t publish_too_big;  /* ... of which over the gossip limit */
    uint64_t publish_other;    /* ... the others */
    uint64_t validated;        /* messages the topic validator saw */
    uint64_t accepted;
    uint64_t rejected[BM_CS_REASON_COUNT];
    uint64_t ignored[BM_CS_REASON_COUNT];
    /* exchange client */
    uint64_t heads_asked;      /* head requests (headers only) */
    uint64_t ranges_started;
    uint64_t ranges_failed;    /* ended before their last height */
    uint64_t items_fetched;    /* verified items put from the exchange */
    uint64_t items_dropped;    /* fetched, not kept (fork, full, ...) */
    uint64_t bad_items;        /* the verifier refused (peer blocked) */
    /* P2P store */
    uint64_t height;           /* best verified height seen */
    uint64_t held;             /* items held now */
};

struct bm_chainsync_stats {
    struct bm_chainsync_net_stats net[BM_CS_NNETS];
    struct bm_floodsub_stats floodsub;
    struct bm_headerex_stats exchange[BM_CS_NNETS];
};

/*
 * Creates the sync services on cfg->host (not started): FloodSub with both
 * topics, both exchanges (servers and clients) and the two P2P stores.
 * cfg is borrowed (host, genesis and store must outlive *out). Returns owned *out. Errors: BM_EINVAL (a missing field; the
 * message names it), those of bm_floodsub_new / bm_headerex_new
 * (BM_ESTATE: the host runs already), BM_ENOMEM.
 */
int bm_chainsync_new(struct bm_chainsync **out,
                     const struct bm_chainsync_config *cfg,
                     struct bm_errmsg *em);

/* Sets the hooks (copied) before the host starts. BM_ESTATE after
 * bm_chainsync_start. */
int bm_chainsync_attach(struct bm_chainsync *cs,
                        const struct bm_chainsync_hooks *hooks);

/* Starts the tick once the host runs (posts its first arming to the
 * loop). BM_ESTATE (twice), the errors of bm_p2p_host_post. Any thread. */
int bm_chainsync_start(struct bm_chainsync *cs);

/* Stops the tick: a tick that begins after this returns does nothing and
 * is not re-armed. Idempotent. NULL-safe. Any thread. */
void bm_chainsync_stop(struct bm_chainsync *cs);

/* Frees: the host must be stopped and nothing may read the stores or call
 * the broadcaster any more. NULL-safe. */
void bm_chainsync_free(struct bm_chainsync *cs);

/* The block manager's view of the two P2P stores (valid while cs lives). */
void bm_chainsync_stores(struct bm_chainsync *cs, struct bm_p2p_store *headers,
                         struct bm_p2p_store *data);

/* The P2P stores themselves (for status and RPC). */
struct bm_p2pstore *bm_chainsync_store(struct bm_chainsync *cs,
                                       enum bm_chainsync_net n);

/* The broadcaster for bm_manager_params.header_broadcaster and
 * data_broadcaster (valid while cs lives; any thread, never blocks;
 * errors: those of bm_floodsub_publish, BM_ENOMEM). */
void bm_chainsync_broadcaster(struct bm_chainsync *cs,
                              struct bm_broadcaster *out);

/* Topic names ("/<chainID>-headerSync/header-sub/v0.0.1"). */
const char *bm_chainsync_topic(const struct bm_chainsync *cs,
                               enum bm_chainsync_net n);

/* Copies every counter. Any thread. */
void bm_chainsync_stats(struct bm_chainsync *cs,
                        struct bm_chainsync_stats *out);

/* The best-known network height (ev-node's readiness rule: the lower of
 * the two P2P stores' heights; 0 when either is unknown). Any thread. */
uint64_t bm_chainsync_best_height(struct bm_chainsync *cs);

/* ---- exposed for tests and the fuzzer ---- */

/* The topic validators' verdict on a raw payload as if it arrived now
 * (counted like a real message, nothing kept). Uses the loop thread's
 * caches: call it on the loop thread, or while the host is not running. */
enum bm_floodsub_verdict bm_chainsync_check(struct bm_chainsync *cs,
                                            enum bm_chainsync_net n,
                                            const uint8_t *p, size_t len,
                                            enum bm_chainsync_reason *why);

#endif /* BM_P2P_CHAINSYNC_H */
