/*
 * FloodSub (`/floodsub/1.0.0`) with StrictSign on the host's stream API
 * (spec section 8; docs/P2P-GOSSIP.md). Knows nothing of blocks: topics
 * are byte strings, payloads are opaque bytes, and what a message means is
 * decided by the caller's per-topic validator.
 *
 * Streams. Each side opens its own stream to the other and only writes on
 * it; it only reads the stream the other side opened. We never write
 * (beyond the multistream echo the host sends), FIN or reset a peer's
 * stream, except: an RPC that does not decode or a frame above max_rpc
 * resets it (Go does the same), a newer stream from the same peer replaces
 * it (the old one is reset, as Go does), and after the peer's EOF we close
 * our side. Our stream to a peer is opened when it connects; if it dies
 * while the peer is still connected it is reopened with Go's backoff (at
 * once, then 100 ms doubling with jitter, at most 10 s; at most 4 tries,
 * counted afresh after 10 minutes without one), then not until the peer
 * reconnects or identifies again; RPCs wait in the peer's queue
 * meanwhile. A peer that answers "na" is not asked again until it
 * identifies with `/floodsub/1.0.0`. A deferred validation whose answer
 * does not come within defer_timeout_ms is dropped at that time (a host
 * timer). One outbound stream
 * per peer, whatever the number of connections. Our first RPC on it is
 * the hello with our subscriptions; nothing is written before the
 * protocol echo (js-libp2p mishandles data pipelined behind the
 * proposal): RPCs for a peer whose stream is negotiating wait in a small
 * per-peer queue (out_pending_max), beyond which they are dropped and
 * counted (send_dropped), as Go drops beyond its 32-RPC peer queue.
 *
 * Receiving (spec 8.5), per Message, in Go's order: a topic we are not
 * subscribed to, a missing signature, `from` equal to us, a message ID
 * (from || seqno) already seen, a bad `from`/`key`/signature: dropped and
 * counted by reason (the first three and the bad signature are not marked
 * seen). Then the ID is marked seen (seen_ttl_ms, at most seen_max IDs)
 * and the topic's validator runs: Accept delivers the message to the
 * topic's deliver callback and forwards it unchanged to every peer that
 * announced the topic, except the peer it came from and its author;
 * Ignore and Reject drop it (it stays seen). Frames are checked against
 * max_rpc from their length prefix, before a byte of the body is
 * buffered.
 *
 * Misbehaving peers. Each undecodable or oversized RPC, missing or bad
 * signature and validator Reject counts against the peer that sent it;
 * reject_limit of them within reject_window_ms disconnect that peer
 * (counted in peers_disconnected). Ignore does not count: validators
 * return Ignore for harmless cases (an old height re-gossiped, a message
 * that cannot be checked yet), Reject for provably bad ones.
 *
 * Threading. Everything runs on the host's loop thread except
 * bm_floodsub_publish, bm_floodsub_validation_done and bm_floodsub_stats,
 * which any thread (an actor) may call: they never block. Validators and
 * deliver callbacks run on the loop thread: they must be cheap (decode,
 * compare against a snapshot) or return BM_FLOODSUB_DEFER and answer later
 * with bm_floodsub_validation_done; deliver hands the bytes to an actor
 * (copy, then tell).
 *
 * Lifecycle: bm_floodsub_new and bm_floodsub_subscribe before
 * bm_p2p_host_start; bm_p2p_host_stop before bm_floodsub_free.
 */
#ifndef BM_P2P_FLOODSUB_H
#define BM_P2P_FLOODSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/types.h"
#include "p2p/floodsub_rpc.h"
#include "p2p/host.h"
#include "p2p/peerid.h"

struct bm_errmsg;
struct bm_floodsub;

/* Defaults (Go's where Go has one). */
#define BM_FLOODSUB_SEEN_TTL_MS 120000u
#define BM_FLOODSUB_SEEN_MAX 65536u
#define BM_FLOODSUB_REJECT_LIMIT 10u
#define BM_FLOODSUB_REJECT_WINDOW_MS 60000u
#define BM_FLOODSUB_PUBLISH_QUEUE 256u            /* publish calls in flight */
#define BM_FLOODSUB_PUBLISH_QUEUE_BYTES ((size_t)64 << 20)
#define BM_FLOODSUB_MAX_DEFERRED 1024u
#define BM_FLOODSUB_DEFER_TIMEOUT_MS 30000u
#define BM_FLOODSUB_PEER_TOPICS_MAX 64u           /* topics kept per peer */
#define BM_FLOODSUB_OUT_PENDING_MAX 32u           /* RPCs, as Go's queue */
#define BM_FLOODSUB_MAX_TOPICS 16u                /* our subscriptions */
/* Reopening our stream to a peer still connected (Go's deadPeerBackoff):
 * at most RESPAWN_MAX tries, the first at once, then after BACKOFF_MIN_MS,
 * then doubling plus a random 0..JITTER-1 ms, at most BACKOFF_MAX_MS; the
 * count starts afresh when the last try is RESPAWN_WINDOW_MS old. */
#define BM_FLOODSUB_RESPAWN_MAX 4u
#define BM_FLOODSUB_RESPAWN_WINDOW_MS 600000u
#define BM_FLOODSUB_BACKOFF_MIN_MS 100u
#define BM_FLOODSUB_BACKOFF_MAX_MS 10000u
#define BM_FLOODSUB_BACKOFF_JITTER_MS 100u

enum bm_floodsub_verdict {
    BM_FLOODSUB_ACCEPT = 0,
    BM_FLOODSUB_IGNORE = 1,
    BM_FLOODSUB_REJECT = 2,
    BM_FLOODSUB_DEFER = 3, /* answer later: bm_floodsub_validation_done */
};

/* Why a received message was not delivered (dropped_total{reason}). */
enum bm_floodsub_drop {
    BM_FLOODSUB_DROP_UNSUBSCRIBED = 0, /* topic we are not subscribed to */
    BM_FLOODSUB_DROP_NO_SIGNATURE,     /* StrictSign: unsigned */
    BM_FLOODSUB_DROP_SELF,             /* from == our peer ID */
    BM_FLOODSUB_DROP_DUPLICATE,        /* ID in the seen cache */
    BM_FLOODSUB_DROP_BAD_SIGNATURE,    /* bad from, key or signature */
    BM_FLOODSUB_DROP_REJECTED,         /* validator: Reject */
    BM_FLOODSUB_DROP_IGNORED,          /* validator: Ignore */
    BM_FLOODSUB_DROP_OVERLOAD,         /* deferred table full */
    BM_FLOODSUB_DROP_TIMEOUT,          /* deferred answer never came */
    BM_FLOODSUB_DROP_COUNT,
};

/* Static label ("bad_signature"). */
const char *bm_floodsub_drop_name(enum bm_floodsub_drop d);

/* A received message as the validator and deliver callbacks see it; every
 * pointer is valid during the call only. */
struct bm_floodsub_msg {
    struct bm_peer_id from;     /* author, signature verified */
    struct bm_peer_id source;   /* the neighbour it came from */
    const char *topic;          /* our subscription (NUL-terminated) */
    const uint8_t *data;        /* the payload (P2PSignedHeader, ...) */
    size_t data_len;
    const uint8_t *seqno;
    size_t seqno_len;
    uint64_t token;             /* for BM_FLOODSUB_DEFER */
};

/* Callbacks of one subscribed topic (loop thread). */
struct bm_floodsub_topic {
    /* NULL: accept everything signed. */
    enum bm_floodsub_verdict (*validate)(const struct bm_floodsub_msg *m,
                                         void *arg);
    /* An accepted message (after the validator, before it is forwarded).
     * May be NULL. */
    void (*deliver)(const struct bm_floodsub_msg *m, void *arg);
};

struct bm_floodsub_config {
    size_t max_rpc;             /* frame limit; 0: 5 MiB (DA blob limit) */
    uint64_t seen_ttl_ms;       /* 0: BM_FLOODSUB_SEEN_TTL_MS */
    size_t seen_max;            /* 0: BM_FLOODSUB_SEEN_MAX */
    uint32_t reject_limit;      /* 0: BM_FLOODSUB_REJECT_LIMIT */
    uint64_t reject_window_ms;  /* 0: BM_FLOODSUB_REJECT_WINDOW_MS */
    size_t publish_queue;       /* 0: BM_FLOODSUB_PUBLISH_QUEUE */
    size_t publish_queue_bytes; /* 0: BM_FLOODSUB_PUBLISH_QUEUE_BYTES */
    size_t max_deferred;        /* 0: BM_FLOODSUB_MAX_DEFERRED */
    uint64_t defer_timeout_ms;  /* 0: BM_FLOODSUB_DEFER_TIMEOUT_MS */
    size_t peer_topics_max;     /* 0: BM_FLOODSUB_PEER_TOPICS_MAX */
    size_t out_pending_max;     /* 0: BM_FLOODSUB_OUT_PENDING_MAX */
};

/* Counters; each exact (relaxed atomics), the set not one instant. */
struct bm_floodsub_stats {
    uint64_t published;         /* publish calls sent out */
    uint64_t publish_refused;   /* publish calls refused (full, too big) */
    uint64_t sent;              /* copies of our messages written */
    uint64_t received;          /* Message entries received */
    uint64_t delivered;         /* accepted and delivered */
    uint64_t forwarded;         /* copies of others' messages written */
    uint64_t dropped[BM_FLOODSUB_DROP_COUNT];
    uint64_t rpcs_received;     /* RPC frames decoded */
    uint64_t rpc_too_big;       /* frames refused from their prefix */
    uint64_t rpc_invalid;       /* RPCs that did not decode */
    uint64_t send_dropped;      /* copies not written (queue full, closed) */
    uint64_t peers_disconnected; /* for repeated rejects */
    uint64_t streams_opened;    /* our outbound streams opened */
    uint64_t streams_reopened;  /* ... of which after one died */
    uint64_t streams_replaced;  /* peer streams replaced by a newer one */
    uint64_t seen_evicted;      /* seen-cache entries evicted early */
    uint64_t peers;             /* peers with a FloodSub stream now */
};

/* Fills *cfg with the defaults. */
void bm_floodsub_config_init(struct bm_floodsub_config *cfg);

/*
 * Creates FloodSub on host h (borrowed; not started): registers
 * `/floodsub/1.0.0` and a connection listener. Messages are signed with
 * the host's identity (bm_p2p_host_identity), so `from` is the peer ID
 * every handshake proves. cfg is borrowed (copied). Returns owned *out.
 * Errors: BM_EINVAL (no host or config), BM_ESTATE (host started),
 * BM_EFULL/BM_EEXIST (registry), BM_ENOMEM.
 */
int bm_floodsub_new(struct bm_floodsub **out, struct bm_p2p_host *h,
                    const struct bm_floodsub_config *cfg,
                    struct bm_errmsg *em);

/* Frees; the host must be stopped (no callback may run). NULL-safe. */
void bm_floodsub_free(struct bm_floodsub *fs);

/*
 * Subscribes to topic (copied; 1..BM_FLOODSUB_TOPIC_MAX bytes) with ops
 * (borrowed, must outlive fs) and arg. Before the host starts, or on the
 * loop thread (then every peer gets the subscription at once). Errors:
 * BM_EEXIST, BM_EFULL (BM_FLOODSUB_MAX_TOPICS), BM_EINVAL, BM_ENOMEM.
 */
int bm_floodsub_subscribe(struct bm_floodsub *fs, const char *topic,
                          const struct bm_floodsub_topic *ops, void *arg);

/* Unsubscribes (same threads as subscribe; peers are told; deferred
 * validations of the topic are dropped). BM_ENOTFOUND. */
int bm_floodsub_unsubscribe(struct bm_floodsub *fs, const char *topic);

/*
 * Publishes data[0..len) (borrowed; copied) on topic (borrowed): signs a
 * Message on the calling thread (seqno = a counter started at the Unix
 * time in ns, as Go), and queues it to the loop, which marks it seen and
 * writes it to every peer that announced the topic. Our own messages are
 * not delivered locally and not validated. Any thread; never blocks.
 * Errors (each counted in publish_refused): BM_ETOOBIG (the RPC would
 * exceed max_rpc: send such an item by exchange or DA instead), BM_EFULL
 * (publish_queue or publish_queue_bytes reached, or the host's command
 * queue is full), BM_ESTOPPED (host not running), BM_EINVAL (topic),
 * BM_ENOMEM.
 */
int bm_floodsub_publish(struct bm_floodsub *fs, const char *topic,
                        const uint8_t *data, size_t len);

/*
 * The verdict of a deferred validation (token from the message). Accept
 * delivers and forwards, Reject counts against the source peer. A token
 * that is unknown (answered, timed out, topic unsubscribed) is ignored.
 * Any thread; never blocks. Errors: BM_EINVAL (verdict DEFER), BM_EFULL,
 * BM_ESTOPPED (the host's command queue), BM_ENOMEM.
 */
int bm_floodsub_validation_done(struct bm_floodsub *fs, uint64_t token,
                                enum bm_floodsub_verdict verdict);

/* Copies the counters. Any thread. */
void bm_floodsub_stats(const struct bm_floodsub *fs,
                       struct bm_floodsub_stats *out);

/* Loop thread: true if peer announced topic (NUL-terminated). For tests
 * and status. */
bool bm_floodsub_peer_has_topic_loop(struct bm_floodsub *fs,
                                     const struct bm_peer_id *peer,
                                     const char *topic);

#endif /* BM_P2P_FLOODSUB_H */
