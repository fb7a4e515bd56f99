/*
 * Reassembly of uvarint-length-prefixed frames (varint.h) from the chunks
 * a stream delivers, for the protocols whose frames are large (FloodSub
 * RPCs up to 5 MiB, exchange replies up to 10 MiB).
 *
 * Whole frames inside a chunk are handed over in place, without a copy;
 * only a frame split across chunks is buffered, and then only the bytes
 * that frame needs, so the buffer never exceeds max + BM_VARINT_MAX_LEN
 * whatever the chunk sizes. The cap is checked from the length prefix,
 * before a byte of the body is buffered. A buffer grown above 1 MiB is
 * given back once its frame is handled.
 *
 * Not thread-safe: one owner (a stream's handler on the loop thread).
 */
#ifndef BM_P2P_FRAME_READER_H
#define BM_P2P_FRAME_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_frame_reader {
    size_t max;            /* body cap */
    struct bm_dynbuf buf;  /* a partial frame */
};

/* A frame body p[0..n) (valid during the call). Returns false to stop:
 * the reader then ignores the rest of the chunk. It must not release the
 * reader (return false instead). */
typedef bool bm_frame_reader_fn(void *arg, const uint8_t *p, size_t n);

/* Sets up r for bodies of at most max bytes. */
void bm_frame_reader_init(struct bm_frame_reader *r, size_t max);

/* Frees the buffer (r may be fed again). NULL-safe. */
void bm_frame_reader_release(struct bm_frame_reader *r);

/*
 * Feeds p[0..n) (borrowed): calls fn(arg, body, len) for every whole
 * frame in order until fn returns false. Returns BM_OK, or BM_ETOOBIG
 * (a prefix above max), BM_EVARINT (a bad prefix), BM_ENOMEM; after an
 * error the reader's state is undefined until released.
 */
enum bm_err bm_frame_reader_feed(struct bm_frame_reader *r, const uint8_t *p,
                                 size_t n, bm_frame_reader_fn *fn,
                                 void *arg);

/* True when a frame is partly buffered (EOF now would cut it). */
bool bm_frame_reader_partial(const struct bm_frame_reader *r);

#endif /* BM_P2P_FRAME_READER_H */
