/*
 * The node's block store: one LMDB environment per node home, in
 * <home>/data/, with the ev-node key layout (spec section 4.2, current
 * column; docs/STORE.md):
 *
 *   /0/h/<height>      SignedHeader bytes
 *   /0/d/<height>      Data bytes (with metadata)
 *   /0/c/<height>      header signature (raw bytes)
 *   /0/i/<UPPER-HEX>   height (LE64), keyed by Header.Hash()
 *   /0/t               store height (LE64)
 *   /0/s/<height>      State protobuf after that block
 *   /0/m/<name>        metadata
 *
 * Heights in keys are decimal without padding; heights in values are 8-byte
 * little-endian. All keys live in LMDB's unnamed main database.
 *
 * Atomicity. Everything one bm_store_write() call carries (any number of
 * blocks, their index entries, states, the new height and metadata) is one
 * LMDB write transaction: after a crash either all of it is visible or none
 * of it. Commits are durable (fsync) when the call returns.
 *
 * Threads. A store has ONE writer: the State actor. Write calls (everything
 * that modifies the store) are serialised by an internal mutex, so a second
 * writer cannot corrupt the map, but the API gives no ordering between two
 * writers; do not rely on it. Read calls may run on any number of threads
 * at the same time as the writer. Every read copies its bytes out of LMDB
 * before its read transaction ends; nothing returned points into the map.
 * All calls may block (disk I/O, and a write may wait for readers while the
 * map grows); never call them from a latency-critical loop of another actor
 * that must not block.
 *
 * Processes. One process per home: open takes an exclusive flock() on
 * <home>/data/LOCK (shared for read-only opens), released on close or
 * process death; a second opener gets BM_ELOCKED.
 *
 * Errors (LMDB codes are mapped here): BM_ENOHOME (home missing),
 * BM_ELOCKED, BM_EREADONLY (permission, read-only file system, or a write on
 * a read-only store), BM_EMAP_FULL (map could not grow further), BM_ECORRUPT
 * (a stored value has the wrong shape; the message names the key),
 * BM_ENOTFOUND, BM_EINVAL, BM_ETOOBIG, BM_ENOMEM, BM_EIO. Functions that
 * take a `struct bm_errmsg *em` (NULL allowed) put a message there.
 */
#ifndef BM_BLOCKV2_STORE_H
#define BM_BLOCKV2_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm_errmsg;
struct bm_store;
struct bm_store_iter;

#define BM_STORE_DEFAULT_MAP_SIZE ((size_t)64 << 20)   /* 64 MiB */
#define BM_STORE_DEFAULT_MAX_MAP_SIZE ((size_t)1 << 40) /* 1 TiB */
/* Longest metadata name (the LMDB key limit is 511 bytes). */
#define BM_STORE_MAX_META_NAME 255u
/* Largest value accepted by a write (any one header, data, state, meta). */
#define BM_STORE_MAX_VALUE BM_MAX_MESSAGE_SIZE

/* Metadata names used by the store itself (spec 4.2). */
#define BM_STORE_META_PENDING_HEADER "pending_header"
#define BM_STORE_META_PENDING_DATA "pending_data"

struct bm_store_options {
    bool read_only;      /* MDB_RDONLY; shared lock; writes: BM_EREADONLY */
    size_t map_size;     /* initial map size; 0: BM_STORE_DEFAULT_MAP_SIZE */
    size_t max_map_size; /* growth limit; 0: BM_STORE_DEFAULT_MAX_MAP_SIZE */
    /* MDB_NOMETASYNC: one flush per commit instead of two. A crash of the
     * process loses nothing, but a power loss or kernel crash may undo the
     * LAST acknowledged commit (never tear one). Default false: every
     * acknowledged commit survives power loss. See docs/STORE.md. */
    bool no_meta_sync;
};

/*
 * Opens (creating <home>/data/ and the environment if needed, unless
 * read_only) the store of the node home `home`. opt may be NULL (defaults).
 * Returns owned *out, freed with bm_store_close(). Borrows home and opt.
 * Errors: BM_ENOHOME if home does not exist or is not a directory;
 * BM_ENOTFOUND if read_only and there is no store; BM_ELOCKED if another
 * process (or another open in this process) holds the store; BM_EREADONLY;
 * BM_ECORRUPT if the files are not an LMDB environment; BM_ENOMEM; BM_EIO.
 * May block.
 */
enum bm_err bm_store_open(struct bm_store **out, const char *home,
                          const struct bm_store_options *opt,
                          struct bm_errmsg *em);

/* Closes the environment and releases the lock. NULL is a no-op. No other
 * call on s may be running or follow. */
void bm_store_close(struct bm_store *s);

/* Current map size in bytes (grows on demand). Thread-safe. */
size_t bm_store_map_size(const struct bm_store *s);

/* ---- writing (the single writer) ---- */

/*
 * One block to store. All pointers are borrowed for the duration of the
 * call. The store trusts the caller that `height` and `hash` (Header.Hash(),
 * spec 2.1) belong to `header`; bm_store_check() verifies it later.
 * signature may be empty; state (the State after this block) is optional
 * except on the last block of a batch.
 */
struct bm_store_block {
    uint64_t height;
    struct bm_hash hash;
    const uint8_t *header;    /* SignedHeader bytes, non-empty */
    size_t header_len;
    const uint8_t *data;      /* Data bytes */
    size_t data_len;
    const uint8_t *signature; /* raw header signature */
    size_t signature_len;
    const uint8_t *state;     /* State protobuf; NULL/0: none */
    size_t state_len;
};

/* A metadata change: value NULL deletes /0/m/<name> (absent is fine). */
struct bm_store_meta_op {
    const char *name;
    const uint8_t *value;
    size_t len;
};

/*
 * What one bm_store_write() commits atomically. blocks[i].height must be
 * tip + 1 + i (tip = the store height; on a store without a height the
 * first block may have any height >= 1). The store height becomes the last
 * block's height, whose state is required. Meta ops are applied after the
 * blocks, in order. clear_pending deletes pending_header/pending_data.
 */
struct bm_store_batch {
    const struct bm_store_block *blocks;
    size_t n_blocks;
    const struct bm_store_meta_op *meta;
    size_t n_meta;
    bool clear_pending;
};

/*
 * Commits the batch in one durable write transaction. On BM_EMAP_FULL from
 * LMDB the transaction is aborted, the map grown (waiting for running read
 * transactions) and the whole batch retried; BM_EMAP_FULL is returned only
 * when the map reached max_map_size. On any error nothing was written.
 * Borrows b. Errors: BM_EINVAL (heights not contiguous with the tip, empty
 * header, missing state on the last block, bad meta name), BM_ETOOBIG (a
 * value above BM_STORE_MAX_VALUE), BM_EEXIST (hash already indexed),
 * BM_ECORRUPT (stored height malformed), BM_EREADONLY, BM_EMAP_FULL, BM_EIO.
 * Writer only; may block.
 */
enum bm_err bm_store_write(struct bm_store *s, const struct bm_store_batch *b,
                           struct bm_errmsg *em);

/*
 * Stores a State without a block. On a store without a height (a fresh
 * node) it sets the height to `height` and stores /0/s/<height> (the
 * genesis state, e.g. initial_height - 1). Otherwise height must equal the
 * store height and the state at the tip is replaced. Borrows state.
 * Errors: BM_EINVAL (height differs from the tip), BM_ETOOBIG, write errors.
 * Writer only; may block.
 */
enum bm_err bm_store_put_state(struct bm_store *s, uint64_t height,
                               const uint8_t *state, size_t len,
                               struct bm_errmsg *em);

/* Sets /0/m/<name> (value NULL: deletes). Borrows name and value. Writer
 * only; may block. */
enum bm_err bm_store_put_meta(struct bm_store *s, const char *name,
                              const uint8_t *value, size_t len,
                              struct bm_errmsg *em);

/* Stores the block being produced (pending_header = SignedHeader bytes,
 * pending_data = Data bytes) in one transaction. Borrows both. Writer only;
 * may block. */
enum bm_err bm_store_set_pending(struct bm_store *s, const uint8_t *header,
                                 size_t header_len, const uint8_t *data,
                                 size_t data_len, struct bm_errmsg *em);

/* Deletes pending_header/pending_data (absent is fine). Writer only. */
enum bm_err bm_store_clear_pending(struct bm_store *s, struct bm_errmsg *em);

/*
 * Removes the latest n blocks in one transaction: their header, data,
 * signature, hash index entries and per-height states; sets the height to
 * tip - n and deletes the pending block. A state must exist at tip - n
 * (so a store can be rolled back to its genesis state but not below).
 * Other metadata (DA heights) is left for the caller. *new_height (may be
 * NULL) receives tip - n. n == 0 is a no-op. Errors: BM_ENOTFOUND (empty
 * store, or no state at tip - n), BM_EINVAL (n > tip), BM_ECORRUPT, write
 * errors. Cost: O(n + number of hash index entries). Writer only.
 */
enum bm_err bm_store_rollback(struct bm_store *s, uint64_t n,
                              uint64_t *new_height, struct bm_errmsg *em);

/* ---- reading (any thread); every result is owned by the caller ---- */

/* A stored block. Release with bm_store_blockbuf_release(). */
struct bm_store_blockbuf {
    uint64_t height;
    struct bm_buf header;    /* SignedHeader bytes */
    struct bm_buf data;      /* Data bytes */
    struct bm_buf signature; /* raw signature */
};

void bm_store_blockbuf_release(struct bm_store_blockbuf *b);

/* Store height (/0/t). BM_ENOTFOUND on a store that has none yet;
 * BM_ECORRUPT if the value is not 8 bytes. */
enum bm_err bm_store_height(struct bm_store *s, uint64_t *out,
                            struct bm_errmsg *em);

/* Block at height into *out (released first; zeroed on error). All three
 * keys must exist: BM_ENOTFOUND if /0/h/<height> is absent, BM_ECORRUPT if
 * only some are. */
enum bm_err bm_store_get_block(struct bm_store *s, uint64_t height,
                               struct bm_store_blockbuf *out,
                               struct bm_errmsg *em);

/* Height of the block whose Header.Hash() is *hash. */
enum bm_err bm_store_get_height_by_hash(struct bm_store *s,
                                        const struct bm_hash *hash,
                                        uint64_t *out, struct bm_errmsg *em);

/* Block by Header.Hash(), in one read transaction. */
enum bm_err bm_store_get_block_by_hash(struct bm_store *s,
                                       const struct bm_hash *hash,
                                       struct bm_store_blockbuf *out,
                                       struct bm_errmsg *em);

/* SignedHeader bytes at height into *out (released first). */
enum bm_err bm_store_get_header(struct bm_store *s, uint64_t height,
                                struct bm_buf *out, struct bm_errmsg *em);

/* State bytes stored at height into *out (released first). */
enum bm_err bm_store_get_state(struct bm_store *s, uint64_t height,
                               struct bm_buf *out, struct bm_errmsg *em);

/* State at the store height (one read transaction); *height (may be NULL)
 * gets that height. BM_ENOTFOUND on a store without height or state. */
enum bm_err bm_store_get_latest_state(struct bm_store *s, uint64_t *height,
                                      struct bm_buf *out,
                                      struct bm_errmsg *em);

/* Metadata value into *out (released first); BM_ENOTFOUND if absent. */
enum bm_err bm_store_get_meta(struct bm_store *s, const char *name,
                              struct bm_buf *out, struct bm_errmsg *em);

/* Formats the metadata name "rhb/<height>/h" or ".../d" (which = 'h' or
 * 'd': the DA height of a block's header / data, spec 4.2) into buf
 * (>= 48 bytes). */
void bm_meta_rhb_name(char *buf, size_t len, uint64_t height, char which);

/* Reads an LE64 metadata value: BM_OK and *out, BM_ENOTFOUND (absent), or
 * BM_ECORRUPT (length != 8, message names the key). */
enum bm_err bm_meta_get_u64(struct bm_store *s, const char *name,
                            uint64_t *out, struct bm_errmsg *em);

/* Both pending values; BM_ENOTFOUND unless both exist. Outputs released
 * first, zeroed on error. */
enum bm_err bm_store_get_pending(struct bm_store *s, struct bm_buf *header,
                                 struct bm_buf *data, struct bm_errmsg *em);

/*
 * Iterator over blocks from..to (inclusive, ascending). Each next() reads
 * one block in its own short read transaction, so an iterator never holds
 * LMDB resources between calls and never delays a writer; a concurrent
 * rollback may make a later next() return BM_ENOTFOUND. Returns owned *out
 * (free with bm_store_iter_free). BM_EINVAL if from > to or from == 0.
 */
enum bm_err bm_store_iter_new(struct bm_store_iter **out, struct bm_store *s,
                              uint64_t from, uint64_t to);

/* Fills *b (released first) with the next block and returns 1, or returns
 * 0 at the end, or a negative bm_err. The iterator may be used by one
 * thread at a time. */
int bm_store_iter_next(struct bm_store_iter *it, struct bm_store_blockbuf *b,
                       struct bm_errmsg *em);

void bm_store_iter_free(struct bm_store_iter *it);

/* ---- verification ---- */

struct bm_store_check_report {
    bool empty;        /* no height: nothing stored */
    uint64_t height;   /* /0/t */
    uint64_t base;     /* lowest block height (0 if no blocks) */
    uint64_t n_blocks;
    uint64_t n_states;
};

/*
 * Verifies every invariant in one read transaction: /0/t well-formed;
 * block keys parse and cover base..height without holes, for h, d and c
 * alike; each header decodes, has its key's height and the signature in
 * /0/c; the hash index holds exactly one entry per block, mapping
 * Header.Hash() to its height; last_header_hash links to the previous
 * block's hash; each Data decodes (metadata height matches); the state at
 * the tip exists, decodes, has last_block_height == height (and its
 * last_header_hash, if set, is the tip's hash); no state above the tip.
 * BM_ECORRUPT with em naming the first bad key. rep may be NULL. Holds one
 * read transaction for its whole run (a writer that must grow the map
 * waits). Any thread.
 */
enum bm_err bm_store_check(struct bm_store *s,
                           struct bm_store_check_report *rep,
                           struct bm_errmsg *em);

/*
 * The part of bm_store_check() a node builds on, cheap enough for every
 * start: /0/t well-formed; the tip block (header, signature, hash index
 * entry, data) and the state at the tip as bm_store_check() checks them.
 * Blocks below the tip are not read. BM_OK on an empty store; BM_ECORRUPT
 * with em naming the bad key. Any thread.
 */
enum bm_err bm_store_check_tip(struct bm_store *s, struct bm_errmsg *em);

/* ---- helper for the writer: encode a decoded block ---- */

/* Owned encoded block: fill with bm_store_encoded_init, view with
 * bm_store_encoded_view, free with bm_store_encoded_release. */
struct bm_store_encoded {
    uint64_t height;
    struct bm_hash hash;
    struct bm_buf header;
    struct bm_buf data;
    struct bm_buf signature;
    struct bm_buf state;
};

/*
 * Encodes sh (SignedHeader), d (Data) and st (State after the block; NULL:
 * none) and computes Header.Hash(). *out is released first and zeroed on
 * error. Borrows the inputs. Errors from the codec (BM_ENOMEM, ...).
 */
enum bm_err bm_store_encoded_init(struct bm_store_encoded *out,
                                  const struct bm_signed_header *sh,
                                  const struct bm_data *d,
                                  const struct bm_state *st);

/*
 * bm_store_encoded_init with Header.Hash() of sh->header given by the
 * caller, who computed it already (hash borrowed; NULL: computed here).
 * The store indexes the block under it as given: it must be that hash.
 */
enum bm_err bm_store_encoded_init_hashed(struct bm_store_encoded *out,
                                         const struct bm_signed_header *sh,
                                         const struct bm_hash *hash,
                                         const struct bm_data *d,
                                         const struct bm_state *st);

/* Fills *blk with pointers into e (valid until e is released). */
void bm_store_encoded_view(const struct bm_store_encoded *e,
                           struct bm_store_block *blk);

void bm_store_encoded_release(struct bm_store_encoded *e);

#endif /* BM_BLOCKV2_STORE_H */
