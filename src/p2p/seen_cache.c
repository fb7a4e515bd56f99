/* FloodSub seen cache; see seen_cache.h. */
#include "p2p/seen_cache.h"

#include <string.h>

#include <sodium.h>

#include "util/alloc.h"

#define HASH_SIZE 16u
#define NONE UINT32_MAX
#define MAX_ENTRIES ((size_t)1 << 24)

struct entry {
    uint8_t h[HASH_SIZE];
    uint64_t t;
    uint32_t next; /* bucket chain */
};

struct bm_seen_cache {
    uint8_t key[crypto_generichash_KEYBYTES];
    uint64_t ttl;
    struct entry *ring; /* insertion order: ring[head] is the oldest */
    size_t cap;
    size_t head;
    size_t count;
    uint32_t *buckets;
    size_t mask;
    uint64_t evicted;
};

enum bm_err bm_seen_cache_new(struct bm_seen_cache **out, size_t max,
                              uint64_t ttl_ms)
{
    struct bm_seen_cache *c;
    size_t nb = 1;

    *out = NULL;
    if (max == 0 || max > MAX_ENTRIES) {
        return BM_EINVAL;
    }
    while (nb < 2 * max) {
        nb <<= 1;
    }
    c = bm_calloc(1, sizeof(*c));
    if (c == NULL) {
        return BM_ENOMEM;
    }
    c->ring = bm_calloc(max, sizeof(*c->ring));
    c->buckets = bm_malloc(nb * sizeof(*c->buckets));
    if (c->ring == NULL || c->buckets == NULL) {
        bm_seen_cache_free(c);
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < nb; i++) {
        c->buckets[i] = NONE;
    }
    randombytes_buf(c->key, sizeof(c->key));
    c->ttl = ttl_ms;
    c->cap = max;
    c->mask = nb - 1;
    *out = c;
    return BM_OK;
}

void bm_seen_cache_free(struct bm_seen_cache *c)
{
    if (c == NULL) {
        return;
    }
    bm_free(c->ring);
    bm_free(c->buckets);
    bm_free(c);
}

static void digest(const struct bm_seen_cache *c, const uint8_t *a,
                   size_t alen, const uint8_t *b, size_t blen,
                   uint8_t h[HASH_SIZE])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, c->key, sizeof(c->key), HASH_SIZE);
    if (alen > 0) {
        crypto_generichash_update(&st, a, alen);
    }
    if (blen > 0) {
        crypto_generichash_update(&st, b, blen);
    }
    crypto_generichash_final(&st, h, HASH_SIZE);
}

static size_t bucket_of(const struct bm_seen_cache *c,
                        const uint8_t h[HASH_SIZE])
{
    uint64_t v;

    memcpy(&v, h, sizeof(v));
    return (size_t)v & c->mask;
}

/* Removes the oldest entry. */
static void drop_oldest(struct bm_seen_cache *c)
{
    uint32_t idx = (uint32_t)c->head;
    uint32_t *pp = &c->buckets[bucket_of(c, c->ring[idx].h)];

    while (*pp != NONE && *pp != idx) {
        pp = &c->ring[*pp].next;
    }
    if (*pp == idx) {
        *pp = c->ring[idx].next;
    }
    c->head = (c->head + 1) % c->cap;
    c->count--;
}

static void expire(struct bm_seen_cache *c, uint64_t now_ms)
{
    while (c->count > 0 && now_ms >= c->ring[c->head].t &&
           now_ms - c->ring[c->head].t >= c->ttl) {
        drop_oldest(c);
    }
}

static bool find(const struct bm_seen_cache *c, const uint8_t h[HASH_SIZE])
{
    for (uint32_t i = c->buckets[bucket_of(c, h)]; i != NONE;
         i = c->ring[i].next) {
        if (memcmp(c->ring[i].h, h, HASH_SIZE) == 0) {
            return true;
        }
    }
    return false;
}

bool bm_seen_cache_has(struct bm_seen_cache *c, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen, uint64_t now_ms)
{
    uint8_t h[HASH_SIZE];

    expire(c, now_ms);
    digest(c, a, alen, b, blen, h);
    return find(c, h);
}

bool bm_seen_cache_add(struct bm_seen_cache *c, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen, uint64_t now_ms)
{
    uint8_t h[HASH_SIZE];
    size_t idx, bkt;

    expire(c, now_ms);
    digest(c, a, alen, b, blen, h);
    if (find(c, h)) {
        return false;
    }
    if (c->count == c->cap) {
        drop_oldest(c);
        c->evicted++;
    }
    idx = (c->head + c->count) % c->cap;
    bkt = bucket_of(c, h);
    memcpy(c->ring[idx].h, h, HASH_SIZE);
    c->ring[idx].t = now_ms;
    c->ring[idx].next = c->buckets[bkt];
    c->buckets[bkt] = (uint32_t)idx;
    c->count++;
    return true;
}

size_t bm_seen_cache_count(struct bm_seen_cache *c, uint64_t now_ms)
{
    expire(c, now_ms);
    return c->count;
}

uint64_t bm_seen_cache_evicted(const struct bm_seen_cache *c)
{
    return c->evicted;
}
