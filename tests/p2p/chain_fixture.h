/*
 * A signed chain for the P2P sync tests and the sync benchmark: n blocks
 * of one chain (genesis with a proposer key from a seed byte), each with
 * its header, data, Header.Hash() and their encodings, and a writer that
 * stores a range of them in a real block store (with a State after each
 * batch), as if they had been applied. No executor: app hashes are zero.
 */
#ifndef BM_TESTS_P2P_CHAIN_FIXTURE_H
#define BM_TESTS_P2P_CHAIN_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/genesis.h"
#include "blockv2/store.h"
#include "blockv2/types.h"

struct cf_block {
    struct bm_signed_header sh;
    struct bm_data data;
    struct bm_hash hash;      /* Header.Hash() */
    struct bm_buf header_bytes; /* SignedHeader */
    struct bm_buf data_bytes;   /* Data */
};

struct cf_chain {
    struct bm_privkey key;    /* the proposer */
    struct bm_genesis genesis;
    uint64_t n;
    struct cf_block *b;       /* b[h] for h = 1..n (b[0] unused) */
};

/*
 * Builds blocks 1..n of chain `chain_id`, proposer key from seed byte
 * `seed`; block h carries `txs` txs ("h<h>-<i>") unless h % 4 == 0 (an
 * empty block); times are 1 ms apart and end 1 s before now. Returns 0,
 * or a negative bm_err.
 */
int cf_chain_build(struct cf_chain *c, const char *chain_id, uint8_t seed,
                   uint64_t n, unsigned txs);

void cf_chain_release(struct cf_chain *c);

/* Stores blocks from..to (from = store height + 1) in batches of at most
 * 1000, each batch with the State after its last block. */
int cf_store_write(struct bm_store *s, const struct cf_chain *c,
                   uint64_t from, uint64_t to);

/* A block store in a fresh temp dir (/tmp/bm-<tag>-XXXXXX, the path into
 * home, at least 64 bytes): BM_OK, or an error (nothing left behind). */
int cf_temp_store_open(const char *tag, char *home, size_t home_len,
                       struct bm_store **out);

/* Closes the store (may be NULL) and removes its temp dir. */
void cf_temp_store_close(const char *home, struct bm_store *s);

/* P2PSignedHeader / P2PData bytes of block h (hint given) into *out
 * (released first). */
int cf_p2p_header(const struct cf_chain *c, uint64_t h, uint64_t hint,
                  struct bm_buf *out);
int cf_p2p_data(const struct cf_chain *c, uint64_t h, uint64_t hint,
                struct bm_buf *out);

/* The same for a modified header (e.g. a fork), signed by key (NULL: not
 * signed again). */
int cf_p2p_header_of(const struct bm_signed_header *sh,
                     const struct bm_privkey *key, struct bm_buf *out);

#endif /* BM_TESTS_P2P_CHAIN_FIXTURE_H */
