/*
 * The FloodSub seen cache (spec 8.5 steps 4 and 6): message IDs seen in
 * the last `ttl_ms` (Go: 120 s from first sight), bounded to `max`
 * entries.
 *
 * An ID (from || seqno, any length) is stored as a 16-byte BLAKE2b hash
 * keyed with a random per-cache key, so a remote cannot aim collisions at
 * it and long IDs cost no memory. Entries expire in insertion order: an
 * insertion first drops every entry older than ttl_ms; when the cache is
 * still full, the oldest entry is evicted before its time and counted
 * (a message seen again after that is treated as new: the only effect is
 * one more copy forwarded, never a lost message).
 *
 * Time is passed in by the caller (monotonic ms), so tests drive it.
 * Not thread-safe: one owner (the host's loop thread).
 */
#ifndef BM_P2P_SEEN_CACHE_H
#define BM_P2P_SEEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_seen_cache;

/* Creates an empty cache for at most max (>= 1) entries living ttl_ms.
 * Returns owned *out. BM_EINVAL (max 0 or above 2^24), BM_ENOMEM. */
enum bm_err bm_seen_cache_new(struct bm_seen_cache **out, size_t max,
                              uint64_t ttl_ms);

/* Frees the cache. NULL-safe. */
void bm_seen_cache_free(struct bm_seen_cache *c);

/* True if the ID a[0..alen) || b[0..blen) (borrowed) was added less than
 * ttl_ms before now_ms. */
bool bm_seen_cache_has(struct bm_seen_cache *c, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen, uint64_t now_ms);

/* Adds the ID (if not present and live); returns true if it was new. */
bool bm_seen_cache_add(struct bm_seen_cache *c, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen, uint64_t now_ms);

/* Live entries (after expiring those older than now_ms - ttl). */
size_t bm_seen_cache_count(struct bm_seen_cache *c, uint64_t now_ms);

/* Entries evicted before their time because the cache was full. */
uint64_t bm_seen_cache_evicted(const struct bm_seen_cache *c);

#endif /* BM_P2P_SEEN_CACHE_H */
