/*
 * High availability: leader election and fencing on etcd (docs/HA.md).
 *
 * Every aggregator candidate holds an etcd lease (ha.lease_ttl, kept alive
 * at TTL/3) and campaigns by creating <prefix>/leader with it in a txn that
 * succeeds only if the key does not exist. The winner's leader key
 * create_revision is its fencing token. Before a produced block counts, the
 * leader writes its record (ev-node's RaftBlockState bytes) to
 * <prefix>/block in a txn guarded by create_revision(<prefix>/leader) ==
 * token; a failed guard means leadership is lost, and the node steps down
 * at once. A candidate that cannot renew its lease steps down before the
 * lease can expire at etcd (safety over liveness: no etcd, no leader).
 *
 * The module knows the record only as bytes plus its height; it runs three
 * threads of its own (the session: lease, keep-alive, campaign; a watch
 * of the leader key, so a free leader key is taken at once; a watch of
 * the record's key, so a follower knows each record as it is accepted).
 *
 * Threads: every function is thread-safe. The role callback runs on the
 * session thread, or on the thread calling bm_ha_replicate when that call
 * finds leadership lost; it must return quickly and must not call
 * bm_ha_stop or bm_ha_free.
 */
#ifndef BM_BLOCKV2_HA_H
#define BM_BLOCKV2_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_buf;
struct bm_errmsg;
struct bm_ha;

#define BM_HA_MAX_NODE_ID 128 /* bytes */
#define BM_HA_MAX_PREFIX 256  /* bytes */

enum bm_ha_role {
    BM_HA_FOLLOWER = 0,
    BM_HA_LEADER = 1,
    BM_HA_STOPPED = 2,
};

/* Why the role changed. */
enum bm_ha_reason {
    BM_HA_WON = 0,           /* campaign won (or a lost answer recovered) */
    BM_HA_LEASE_EXPIRED = 1, /* etcd says the lease is gone */
    BM_HA_UNSURE = 2,        /* no keep-alive answer: the lease may expire */
    BM_HA_FENCED = 3,        /* a guarded write failed */
    BM_HA_RESIGNED = 4,      /* bm_ha_stop with resign, or stop */
};

/* Static name ("lease expired"), never NULL. */
const char *bm_ha_reason_name(enum bm_ha_reason r);
const char *bm_ha_role_name(enum bm_ha_role r);

/* Called on every role change: token is the fencing token when role is
 * BM_HA_LEADER, else 0. See the threads note above. */
typedef void bm_ha_role_fn(void *arg, enum bm_ha_role role, int64_t token,
                           enum bm_ha_reason why);

struct bm_ha_config {
    /* etcd endpoints ("http://127.0.0.1:2379"), borrowed: 1..16. */
    const char *const *endpoints;
    size_t n_endpoints;
    /* Key prefix, e.g. "/blockv2/my-chain": starts with '/', printable
     * ASCII, no trailing '/', at most BM_HA_MAX_PREFIX bytes. */
    const char *prefix;
    /* This candidate's id (written as the leader key's value): printable
     * ASCII, 1..BM_HA_MAX_NODE_ID bytes. */
    const char *node_id;
    /* Lease TTL in seconds, 2..600 (etcd may raise it to its minimum). */
    uint32_t lease_ttl_s;
    /* Deadline of one etcd call of the election; 0 = TTL/3 in ms. A
     * guarded write (bm_ha_replicate) gets the larger of this and one TTL. */
    uint32_t call_timeout_ms;
    bm_ha_role_fn *on_role; /* may be NULL */
    void *arg;
};

/* A snapshot of the election (bm_ha_status). */
struct bm_ha_status {
    enum bm_ha_role role;
    int64_t token;       /* when leader */
    int64_t lease_id;    /* 0 = none held */
    int64_t lease_ttl_s; /* as granted */
    char node_id[BM_HA_MAX_NODE_ID + 1];
    char leader_id[BM_HA_MAX_NODE_ID + 1]; /* "" = unknown / none */
    bool replicated_known; /* <prefix>/block was read or written */
    uint64_t replicated_height;
    uint8_t replicated_hash[32]; /* header hash of that block */
    size_t replicated_hash_len;
    uint64_t leader_changes;     /* times this node became or stopped leader */
    uint64_t fencing_rejections; /* guarded writes refused by etcd */
    uint64_t etcd_errors;        /* failed etcd calls */
    uint64_t replicated_blocks;  /* successful guarded writes */
    uint64_t rolled_back_blocks; /* bm_ha_note_rollback calls */
};

/*
 * Checks cfg (BM_ECONFIG naming the ha.* key) and creates the handle; no
 * I/O, no thread yet. Borrows cfg (copies what it keeps). Returns owned in
 * *out (bm_ha_free).
 */
enum bm_err bm_ha_new(struct bm_ha **out, const struct bm_ha_config *cfg,
                      struct bm_errmsg *em);

/*
 * Connects to etcd (a lease grant, within the call deadline), then starts
 * the session and watch threads, which campaign from then on. An etcd
 * that cannot be reached is BM_ECONNECT/BM_ETIMEDOUT naming every
 * endpoint, and a <prefix>/block that does not hold a RaftBlockState
 * BM_ECORRUPT naming the key (a wrong ha.prefix?); nothing runs then.
 * BM_ESTATE if already started. Blocks up to the call deadline.
 */
enum bm_err bm_ha_start(struct bm_ha *h, struct bm_errmsg *em);

/*
 * Stops campaigning and joins the threads. With resign, a held lease is
 * revoked (its leader key goes with it, so another candidate takes over
 * at once); otherwise it is left to expire. The role becomes
 * BM_HA_STOPPED (callback with BM_HA_RESIGNED). Idempotent. Blocks up to
 * one call deadline.
 */
void bm_ha_stop(struct bm_ha *h, bool resign);

/* bm_ha_stop(h, false) if needed, then frees. NULL-safe. */
void bm_ha_free(struct bm_ha *h);

/*
 * A second role callback beside bm_ha_config.on_role, for an owner that
 * lives shorter than the handle (the block manager wakes its Producer
 * with it): replaces the previous one (fn NULL: none). Once this returns,
 * the previous one is not running and is not called again. Same rules as
 * on_role (threads note above); never call it from a role callback.
 * Borrows arg (valid until replaced).
 */
void bm_ha_set_listener(struct bm_ha *h, bm_ha_role_fn *fn, void *arg);

/* Fills *out. Never fails. */
void bm_ha_status(struct bm_ha *h, struct bm_ha_status *out);

/*
 * The block manager's gate: may this node produce `height` under
 * `token`, on top of its block height - 1 whose header hash is prev_hash
 * (borrowed; NULL with prev_len 0 at height 1)? BM_OK only while it is
 * the leader with exactly this token, height is the block after the
 * replicated one (any height while no record exists yet), and prev_hash
 * is the replicated block's hash. BM_ENOT_LEADER (not the leader, or
 * another token), BM_ESTATE (height is not replicated_height + 1: the
 * store must first reach the replicated state), BM_ECORRUPT (the store's
 * block at the replicated height is another block than the cluster's: it
 * must be rolled back), message in em. No I/O.
 */
enum bm_err bm_ha_may_produce(struct bm_ha *h, uint64_t height, int64_t token,
                              const uint8_t *prev_hash, size_t prev_len,
                              struct bm_errmsg *em);

/*
 * What the DA submitter may publish: true while this node leads, with
 * *height lowered to the replicated height (blocks above it were not
 * accepted by the cluster); false (publish nothing) otherwise or while
 * nothing is replicated. No I/O.
 */
bool bm_ha_publish_limit(struct bm_ha *h, uint64_t *height);

/*
 * Replicates a block before it counts: writes record (RaftBlockState
 * bytes, borrowed) to <prefix>/block in a txn guarded by the leader key's
 * create_revision == token. The record must decode with height `height`
 * (BM_EINVAL otherwise), which must be replicated_height + 1, or
 * replicated_height itself (a retry of a write whose answer was lost).
 * Errors:
 *  - BM_ENOT_LEADER: not the leader locally, or etcd refused the guard
 *    because another candidate holds the leader key (the message names
 *    it); the node has stepped down;
 *  - BM_ELEASE_EXPIRED: etcd refused the guard because the leader key is
 *    gone (the lease expired or was revoked mid-write); stepped down;
 *  - BM_ESTATE: height out of order;
 *  - BM_ECONNECT/BM_ETIMEDOUT/BM_EETCD: the outcome is unknown; the block
 *    must not be published; retrying the same record is safe;
 *  - BM_ETOOBIG: etcd refused the record's size (its
 *    --max-request-bytes).
 * A block for which this did not return BM_OK must never be broadcast or
 * submitted to DA. Blocks up to its deadline (one TTL, or call_timeout_ms
 * if larger).
 */
enum bm_err bm_ha_replicate(struct bm_ha *h, int64_t token, uint64_t height,
                            const uint8_t *record, size_t len,
                            struct bm_errmsg *em);

/*
 * The latest record known (RaftBlockState bytes, as read from or written
 * to <prefix>/block: by the watch of that key as etcd accepts it, the
 * campaign round of a follower every TTL/3, the election of a leader, its
 * writes) into *out (returns owned: release
 * with bm_buf_release). BM_ENOTFOUND while none is known, BM_ENOMEM.
 * The bytes were checked to decode (untrusted still: they come from
 * etcd). No I/O.
 */
enum bm_err bm_ha_record(struct bm_ha *h, struct bm_buf *out);

/*
 * This node's store height (the block manager tells it at start and as it
 * syncs). When the leader key is freed, a follower more than one block
 * below the record defers its campaign by TTL/10, so that a candidate at
 * the record (which produces at once) wins; it still campaigns then.
 * Never told: no deferral. Any thread; no I/O.
 */
void bm_ha_note_store_height(struct bm_ha *h, uint64_t height);

/* Counts one block the node rolled back because the cluster accepted
 * another at its height (status, metrics). Any thread. */
void bm_ha_note_rollback(struct bm_ha *h);

/*
 * Test hook (an injectable fault for what cannot be caused for real in
 * one process): while frozen, the session thread sends no keep-alive and
 * takes no decision, as if this process were stopped, while
 * bm_ha_replicate still works. Any thread.
 */
void bm_ha_test_freeze(struct bm_ha *h, bool frozen);

#endif /* BM_BLOCKV2_HA_H */
