/*
 * Allocation wrappers.
 *
 * All project code allocates through these functions (raw malloc/free are
 * banned elsewhere, see util/banned.h). They count live allocations and
 * bytes so tests can assert that nothing leaked, and offer a test hook that
 * fails the Nth allocation.
 *
 * Two policies (STYLE rule 17):
 *  - bm_xmalloc/bm_xcalloc/bm_xrealloc/bm_xstrdup: small internal
 *    allocations; on failure they log and abort, because a daemon with
 *    half-built state is worse than a restart.
 *  - bm_malloc/bm_calloc/bm_realloc/bm_strdup: may return NULL; callers
 *    return BM_ENOMEM. Use these for anything sized by outside input, after
 *    checking the size against a hard cap.
 *
 * bm_free(NULL) is a no-op. All functions are thread-safe.
 */
#ifndef BM_UTIL_ALLOC_H
#define BM_UTIL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *bm_malloc(size_t n);
void *bm_calloc(size_t count, size_t size);
void *bm_realloc(void *p, size_t n);
char *bm_strdup(const char *s);
char *bm_strndup(const char *s, size_t n);
void *bm_memdup(const void *p, size_t n);
void bm_free(void *p);

void *bm_xmalloc(size_t n);
void *bm_xcalloc(size_t count, size_t size);
void *bm_xrealloc(void *p, size_t n);
char *bm_xstrdup(const char *s);

/* Live allocation count and bytes (bytes include only bm_* allocations). */
int64_t bm_alloc_live_count(void);
int64_t bm_alloc_live_bytes(void);

/*
 * Test hook: the n-th allocation from now (1 = the next one) fails; 0
 * disables. Applies to the non-aborting family only.
 */
void bm_alloc_fail_after(int64_t n);

/* Overflow-checked size arithmetic: false on overflow, result in *out. */
static inline bool bm_size_add(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static inline bool bm_size_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

#endif /* BM_UTIL_ALLOC_H */
