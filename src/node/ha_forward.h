/*
 * Forwarding of acknowledged txs from an HA candidate that does not lead
 * to the leader (docs/HA.md, "Transactions").
 *
 * A candidate that answered 202 to txs while it led keeps them in its
 * durable queue when it loses the leadership. While it follows, one
 * thread of this module sends them, oldest first, with the batch form of
 * POST /tx to the current leader's RPC address (ha.peers maps the leader's
 * node id to it), and deletes each from the queue (bm_seq_forget, a
 * durable delete) only after the leader answered it 202 (queued, durable
 * there) or 409 (a duplicate: already queued there or in a block). A kill
 * in between sends them again; the leader's 409 makes that harmless
 * (Sync's bm_seq_note_committed puts the txs of every synced block in its
 * window). A leader that answers 503/429/500, or none at all, is retried
 * with back-off; nothing is deleted then. A batch in flight (the
 * Producer's) is never sent.
 *
 * Threads: bm_ha_fwd_start/stop from one thread (the node's main thread);
 * bm_ha_fwd_stats from any thread.
 */
#ifndef BM_NODE_HA_FORWARD_H
#define BM_NODE_HA_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_errmsg;
struct bm_ha;
struct bm_ha_fwd;
struct bm_seq;

#define BM_HA_FWD_MAX_PEERS 64
#define BM_HA_FWD_MAX_URL 256 /* bytes of a peer's base URL */
#define BM_HA_FWD_MAX_TXS 1000 /* per POST /tx batch (the RPC's limit) */

struct bm_ha_fwd_config {
    struct bm_ha *ha;   /* borrowed; must outlive the forwarder */
    struct bm_seq *seq; /* borrowed; must outlive the forwarder */
    /* ha.peers: "NODE_ID=URL" entries (borrowed; copied), URL an RPC base
     * URL "http://HOST:PORT" or "HOST:PORT"; at most BM_HA_FWD_MAX_PEERS.
     * An entry for this node's own id is allowed (one list for all). */
    const char *const *peers;
    size_t n_peers;
    uint32_t interval_ms;    /* a round while idle; 0: 200 */
    uint32_t max_backoff_ms; /* back-off ceiling after a failure; 0: 5000 */
    uint32_t timeout_ms;     /* one POST's deadline; 0: 5000 */
};

/* Counters (metrics blockv2_ha_forward_*). */
struct bm_ha_fwd_stats {
    uint64_t batches;    /* POSTs the leader answered 200 */
    uint64_t txs;        /* txs the leader took (202) */
    uint64_t duplicates; /* txs the leader already had (409) */
    uint64_t failures;   /* POSTs without a usable answer, txs refused */
    uint64_t pending;    /* txs in the queue at the last round (a follower) */
};

/*
 * Checks the peers (BM_ECONFIG naming ha.peers and the entry) and starts
 * the thread; *out returns owned (bm_ha_fwd_stop). With no peers the
 * forwarder still runs and logs, once per leader, that it cannot reach
 * it (the txs wait in the queue). BM_ENOMEM, BM_EIO (libcurl).
 */
enum bm_err bm_ha_fwd_start(struct bm_ha_fwd **out,
                            const struct bm_ha_fwd_config *cfg,
                            struct bm_errmsg *em);

/* Stops the thread (a POST in progress ends within its deadline) and
 * frees. NULL-safe. */
void bm_ha_fwd_stop(struct bm_ha_fwd *f);

/* Fills *out; zeros for NULL. Any thread. */
void bm_ha_fwd_stats(struct bm_ha_fwd *f, struct bm_ha_fwd_stats *out);

/*
 * Decodes the leader's 200 answer to a batch POST /tx of n txs (body,
 * untrusted, borrowed): {"results": [{"status": S, ...}, ...]} with
 * exactly n entries, each status an HTTP status 100..599, into
 * status[0..n) (caller storage). BM_EPARSE naming the field otherwise.
 */
enum bm_err bm_ha_fwd_decode_reply(const char *body, size_t len, size_t n,
                                   int *status, struct bm_errmsg *em);

#endif /* BM_NODE_HA_FORWARD_H */
