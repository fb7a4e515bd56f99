/*
 * go-header exchange (`/<networkID>/header-ex/v0.0.3`, spec section 10;
 * docs/P2P-GOSSIP.md) on the host's stream API: a server over an abstract
 * item source, and a client. One struct bm_headerex serves and asks one
 * network (ev-node runs two: "<chainID>-headerSync" and
 * "<chainID>-dataSync"). Knows nothing of blocks: an item is the opaque
 * marshalled P2PSignedHeader or P2PData; heights, hashes and linkage come
 * from the caller's source and verifier callbacks.
 *
 * Server (spec 10.2, GH p2p/server.go). Reads one request (at most
 * BM_HEADEREX_REQUEST_MAX bytes; read_ms), stops reading, then decides by
 * the first matching row:
 *   neither origin nor hash            reset
 *   hash                               1 x OK, or 1 x NOT_FOUND
 *   origin o, amount a, o + a <= o     reset (a = 0, or overflow)
 *   o = 0 (head)                       1 x OK with the head; empty: NOT_FOUND
 *   a > 64                             reset
 *   o > head                           NOT_FOUND
 *   o + a - 1 > head                   OK for o .. head (a partial range)
 *   otherwise                          a x OK, heights o .. o + a - 1
 *   a source error                     reset (BM_ENOTFOUND: NOT_FOUND)
 * then writes the replies (write_ms for all of them, pacing on the
 * stream's queue so a range of large items never holds more than ~1 MiB
 * queued) and half-closes. NOT_FOUND is exactly `02 10 02`; INVALID is
 * never sent.
 *
 * Client (spec 10.3, GH p2p/exchange.go, session.go). A request opens a
 * stream, writes the request and FIN once the protocol is echoed, reads at
 * most `amount` replies (EOF before is normal: NOT_FOUND or a partial
 * range), all within request_ms. Every OK item goes through the verifier
 * (if any) with the previous item and the height it must have; a reply
 * that is not OK/NOT_FOUND, does not decode, or fails the verifier makes
 * the request fail with BM_EBADMSG and, with block_bad_peers, disconnects
 * the peer (go-header's blockPeer). Three operations:
 *  - request: one request to one peer;
 *  - head: {origin 0, amount 1} to up to head_peers peers at once with
 *    head_ms each; the best verified head (highest height) wins;
 *  - range: heights [from, from + count) from a set of peers, in
 *    requests of at most 64, up to range_parallel at once, re-asking
 *    from last + 1 after a partial reply (from another peer once a peer
 *    is behind), verifying every item against the previous one in height
 *    order, and delivering contiguous verified runs in order.
 * Results are completions (callbacks on the loop thread) carrying owned
 * item buffers the callback may take, so they can be told to an actor as
 * they are. The any-thread wrappers (no _loop suffix) post the operation
 * to the loop and never block.
 *
 * Lifecycle: bm_headerex_new before bm_p2p_host_start (it registers the
 * server protocol when a source is given); bm_p2p_host_stop before
 * bm_headerex_free (stopping ends every operation: their completions run
 * with an error before stop returns).
 */
#ifndef BM_P2P_HEADEREX_H
#define BM_P2P_HEADEREX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "p2p/headerex_codec.h"
#include "p2p/host.h"
#include "p2p/peerid.h"

struct bm_errmsg;
struct bm_headerex;

/* Go's timeouts (spec 1.4) and limits. */
#define BM_HEADEREX_REQUEST_MS 8000u      /* client, whole request */
#define BM_HEADEREX_HEAD_MS 2000u         /* client, head from the syncer */
#define BM_HEADEREX_READ_MS 60000u        /* server, reading the request */
#define BM_HEADEREX_WRITE_MS 8000u        /* server, writing the replies */
#define BM_HEADEREX_HEAD_PEERS 4u         /* peers asked for the head */
#define BM_HEADEREX_RANGE_PARALLEL 4u     /* range requests in flight */
#define BM_HEADEREX_REQUEST_MAX 4096u     /* request frame we read */
#define BM_HEADEREX_NETWORK_MAX 200u      /* network ID length */
#define BM_HEADEREX_RANGE_PEERS 32u       /* peers one range may use */

/*
 * Where the server's items come from (the block manager implements it over
 * the store). Called on the loop thread: a lookup must not wait for an
 * actor (a store read through a short read transaction is fine). Items
 * are returned owned in *item (released first by the callee).
 */
struct bm_headerex_source {
    /* The height of the newest item; BM_ENOTFOUND when there is none. */
    int (*head_height)(void *arg, uint64_t *height);
    /* The item at height; BM_ENOTFOUND if absent; other errors reset. */
    int (*get_by_height)(void *arg, uint64_t height, struct bm_buf *item);
    /* The item with this hash (h[0..len), borrowed, untrusted length);
     * BM_ENOTFOUND if absent. May be NULL (every hash: NOT_FOUND). */
    int (*get_by_hash)(void *arg, const uint8_t *h, size_t len,
                       struct bm_buf *item);
};

/*
 * What the client checks on each received item (loop thread; cheap:
 * decode, Validate, chain ID, linkage by hash; leave signature checks to
 * the consumer when throughput matters). item[0..len) is untrusted;
 * prev[0..prev_len) is the previous item of the same run, already
 * verified, or the caller's trusted item, or NULL; want_height is the
 * height the item must have, 0 when unknown (head, by hash). Returns
 * BM_OK and the item's height in *height, or an error (the peer sent a
 * bad item).
 */
struct bm_headerex_verifier {
    int (*check)(void *arg, const uint8_t *item, size_t len,
                 const uint8_t *prev, size_t prev_len, uint64_t want_height,
                 uint64_t *height);
};

struct bm_headerex_config {
    const char *network_id;   /* "<chainID>-headerSync"; copied; required */
    const struct bm_headerex_source *source; /* NULL: no server */
    void *source_arg;
    const struct bm_headerex_verifier *verifier; /* NULL: no checks */
    void *verifier_arg;
    uint64_t request_ms;      /* 0: BM_HEADEREX_REQUEST_MS */
    uint64_t head_ms;         /* 0: BM_HEADEREX_HEAD_MS */
    uint64_t read_ms;         /* 0: BM_HEADEREX_READ_MS */
    uint64_t write_ms;        /* 0: BM_HEADEREX_WRITE_MS */
    size_t max_msg;           /* 0: BM_HEADEREX_MAX_MSG */
    uint32_t head_peers;      /* 0: BM_HEADEREX_HEAD_PEERS */
    uint32_t range_parallel;  /* 0: BM_HEADEREX_RANGE_PARALLEL */
    bool block_bad_peers;     /* disconnect peers that send bad items */
};

/* Why the server reset a request stream (served_resets{reason}). */
enum bm_headerex_reset {
    BM_HEADEREX_RST_BAD_REQUEST = 0, /* undecodable, too big, EOF early */
    BM_HEADEREX_RST_NO_DATA,         /* neither origin nor hash */
    BM_HEADEREX_RST_RANGE,           /* amount 0 or o + a overflows */
    BM_HEADEREX_RST_TOO_MANY,        /* amount above 64 */
    BM_HEADEREX_RST_SOURCE,          /* the item source failed */
    BM_HEADEREX_RST_OVERLOAD,        /* the connection's queue is full */
    BM_HEADEREX_RST_COUNT,
};

const char *bm_headerex_reset_name(enum bm_headerex_reset r);

struct bm_headerex_stats {
    /* server */
    uint64_t served_heads;       /* head requests answered OK */
    uint64_t served_ranges;      /* range requests answered OK */
    uint64_t served_partial;     /* ... of which partial */
    uint64_t served_hashes;      /* by-hash requests answered OK */
    uint64_t served_not_found;   /* NOT_FOUND replies */
    uint64_t served_items;       /* OK replies written */
    uint64_t served_timeouts;    /* read or write deadline passed */
    uint64_t served_resets[BM_HEADEREX_RST_COUNT];
    /* client */
    uint64_t requests;           /* requests sent */
    uint64_t requests_ok;        /* ended with at least one item */
    uint64_t requests_not_found; /* NOT_FOUND or no reply */
    uint64_t requests_timeout;
    uint64_t requests_failed;    /* reset, refused, not connected, ... */
    uint64_t bad_replies;        /* bad status, undecodable, verifier */
    uint64_t items_received;     /* verified items handed to callers */
    uint64_t peers_blocked;      /* disconnected for bad replies */
};

/* One item received; bytes owned by the result. */
struct bm_headerex_item {
    struct bm_buf bytes;
    uint64_t height;          /* from the verifier; else position, or 0 */
};

/*
 * What a completion gets. err: BM_OK (n_items >= 1), BM_ENOTFOUND
 * (NOT_FOUND or no reply), BM_ETIMEDOUT, BM_EBADMSG (a bad reply),
 * BM_ECANCELED (the remote reset), BM_ENOPROTO (the peer does not serve
 * this network), BM_ECLOSED (connection gone), BM_ENOTFOUND also when not
 * connected. peer: who answered (for head: the best head's peer). The
 * items belong to the result during the call: the callback may move them
 * out (take the bm_buf and zero it, or set items to NULL and n_items to 0
 * after taking the array, then free it with bm_free).
 */
struct bm_headerex_result {
    int err;
    struct bm_peer_id peer;
    struct bm_headerex_item *items;
    size_t n_items;
};

/* Frees the items left in *r. */
void bm_headerex_result_release(struct bm_headerex_result *r);

typedef void bm_headerex_cb(struct bm_headerex *x,
                            struct bm_headerex_result *res, void *arg);

/* Range completion: called once at the end with err BM_OK (every height
 * delivered) or the reason it stopped, and `next`, the first height not
 * delivered. */
typedef void bm_headerex_range_done_cb(struct bm_headerex *x, int err,
                                       uint64_t next, void *arg);

void bm_headerex_config_init(struct bm_headerex_config *cfg);

/*
 * Creates the exchange for cfg->network_id on host h (borrowed; not
 * started); registers "/<network_id>/header-ex/v0.0.3" when cfg->source
 * is set. cfg and what it points to are borrowed (network_id copied;
 * source and verifier must outlive x). Returns owned *out. Errors:
 * BM_EINVAL (network ID empty, too long or with '/' or '\n'), BM_ESTATE,
 * BM_EFULL, BM_EEXIST (registry), BM_ENOMEM.
 */
int bm_headerex_new(struct bm_headerex **out, struct bm_p2p_host *h,
                    const struct bm_headerex_config *cfg,
                    struct bm_errmsg *em);

/* Frees; the host must be stopped. NULL-safe. */
void bm_headerex_free(struct bm_headerex *x);

/* The protocol ID ("/<network_id>/header-ex/v0.0.3"). */
const char *bm_headerex_protocol(const struct bm_headerex *x);

/* Copies the counters. Any thread. */
void bm_headerex_stats(const struct bm_headerex *x,
                       struct bm_headerex_stats *out);

/* ---- loop thread ---- */

/*
 * Sends *req (borrowed; copied) to peer; at most `amount` replies (1 for
 * head and hash requests). prev (borrowed, may be NULL) is given to the
 * verifier for the first item. cb is called exactly once, never from
 * inside this call. Errors (cb not called): BM_EINVAL (a request that is
 * neither one of the three shapes, or amount above 64), BM_ENOMEM.
 */
int bm_headerex_request_loop(struct bm_headerex *x,
                             const struct bm_peer_id *peer,
                             const struct bm_headerex_request *req,
                             const struct bm_buf *prev, bm_headerex_cb *cb,
                             void *arg);

/*
 * Asks peers[0..n) (borrowed; n == 0: the connected peers) for their head,
 * at most head_peers of them. cb gets the best verified head in items[0]
 * (and its peer), or BM_ENOTFOUND when no peer gave one. Errors as
 * request_loop.
 */
int bm_headerex_head_loop(struct bm_headerex *x,
                          const struct bm_peer_id *peers, size_t n,
                          bm_headerex_cb *cb, void *arg);

/*
 * Fetches heights [from, from + count) from peers[0..n) (borrowed; at most
 * BM_HEADEREX_RANGE_PEERS are used; n == 0: the connected peers). trusted
 * (borrowed, may be NULL) is the item at from - 1 the first item must link
 * to. on_items gets each contiguous verified run, in height order (items
 * owned by the result, as above); done is called once at the end. A peer
 * that fails twice, or sends a bad item, is dropped from the range; when
 * no peer is left that has the next height, done gets BM_ENOTFOUND.
 * Errors (no callback): BM_EINVAL (count 0, from 0, or overflow),
 * BM_ENOMEM.
 */
int bm_headerex_range_loop(struct bm_headerex *x,
                           const struct bm_peer_id *peers, size_t n,
                           uint64_t from, uint64_t count,
                           const struct bm_buf *trusted,
                           bm_headerex_cb *on_items,
                           bm_headerex_range_done_cb *done, void *arg);

/* ---- any thread: the same, posted to the loop (arguments copied) ---- */

/* Errors: BM_EFULL, BM_ESTOPPED (the host's command queue), BM_ENOMEM,
 * BM_EINVAL; when the loop-side call fails the callback gets its error. */
int bm_headerex_request(struct bm_headerex *x, const struct bm_peer_id *peer,
                        const struct bm_headerex_request *req,
                        bm_headerex_cb *cb, void *arg);
int bm_headerex_head(struct bm_headerex *x, const struct bm_peer_id *peers,
                     size_t n, bm_headerex_cb *cb, void *arg);
int bm_headerex_range(struct bm_headerex *x, const struct bm_peer_id *peers,
                      size_t n, uint64_t from, uint64_t count,
                      const struct bm_buf *trusted, bm_headerex_cb *on_items,
                      bm_headerex_range_done_cb *done, void *arg);

#endif /* BM_P2P_HEADEREX_H */
