#include "util/alloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every block carries a 16-byte header holding its size, so bm_free can
 * keep the byte count exact without malloc_usable_size. 16 keeps the
 * payload aligned for any scalar type (max_align_t on x86-64 and arm64).
 */
#define HDR 16

static atomic_int_least64_t live_count;
static atomic_int_least64_t live_bytes;
static atomic_int_least64_t fail_countdown;

static bool should_fail(void)
{
    int64_t n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n <= 0) {
        return false;
    }
    n = atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return n == 1;
}

static void *raw_alloc(size_t n, bool zero)
{
    size_t total;
    unsigned char *p;

    if (!bm_size_add(n, HDR, &total)) {
        return NULL;
    }
    /* The one place raw allocation is allowed. */
    p = zero ? calloc(1, total) : malloc(total);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &n, sizeof(n));
    atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&live_bytes, (int64_t)n, memory_order_relaxed);
    return p + HDR;
}

void *bm_malloc(size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    return raw_alloc(n, false);
}

void *bm_calloc(size_t count, size_t size)
{
    size_t n;

    if (!bm_size_mul(count, size, &n) || should_fail()) {
        return NULL;
    }
    return raw_alloc(n, true);
}

static void *raw_realloc(void *p, size_t n)
{
    unsigned char *base, *nb;
    size_t old, total;

    if (!bm_size_add(n, HDR, &total)) {
        return NULL;
    }
    base = (unsigned char *)p - HDR;
    memcpy(&old, base, sizeof(old));
    nb = realloc(base, total);
    if (nb == NULL) {
        return NULL;
    }
    memcpy(nb, &n, sizeof(n));
    atomic_fetch_add_explicit(&live_bytes, (int64_t)n - (int64_t)old,
                              memory_order_relaxed);
    return nb + HDR;
}

void *bm_realloc(void *p, size_t n)
{
    if (p == NULL) {
        return bm_malloc(n);
    }
    if (should_fail()) {
        return NULL;
    }
    return raw_realloc(p, n);
}

void bm_free(void *p)
{
    unsigned char *base;
    size_t n;

    if (p == NULL) {
        return;
    }
    base = (unsigned char *)p - HDR;
    memcpy(&n, base, sizeof(n));
    atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_bytes, (int64_t)n, memory_order_relaxed);
    free(base);
}

void *bm_memdup(const void *p, size_t n)
{
    void *q = bm_malloc(n ? n : 1);

    if (q != NULL && n > 0) {
        memcpy(q, p, n);
    }
    return q;
}

char *bm_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *q = bm_malloc(len + 1);

    if (q != NULL) {
        memcpy(q, s, len);
        q[len] = '\0';
    }
    return q;
}

char *bm_strdup(const char *s)
{
    return bm_memdup(s, strlen(s) + 1);
}

static void oom(size_t n)
{
    fprintf(stderr, "blockv2: fatal: out of memory allocating %zu bytes\n",
            n);
    abort();
}

void *bm_xmalloc(size_t n)
{
    void *p = raw_alloc(n, false);

    if (p == NULL) {
        oom(n);
    }
    return p;
}

void *bm_xcalloc(size_t count, size_t size)
{
    size_t n;
    void *p;

    if (!bm_size_mul(count, size, &n)) {
        oom(SIZE_MAX);
    }
    p = raw_alloc(n, true);
    if (p == NULL) {
        oom(n);
    }
    return p;
}

void *bm_xrealloc(void *p, size_t n)
{
    void *q;

    if (p == NULL) {
        return bm_xmalloc(n);
    }
    /* The failure hook is for the non-aborting family only. */
    q = raw_realloc(p, n);
    if (q == NULL) {
        oom(n);
    }
    return q;
}

char *bm_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *q = bm_xmalloc(n);

    memcpy(q, s, n);
    return q;
}

int64_t bm_alloc_live_count(void)
{
    return atomic_load(&live_count);
}

int64_t bm_alloc_live_bytes(void)
{
    return atomic_load(&live_bytes);
}

void bm_alloc_fail_after(int64_t n)
{
    atomic_store(&fail_countdown, n);
}
