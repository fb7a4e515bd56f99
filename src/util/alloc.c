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

/*
 * The live counts, striped: each thread adds to its own cache line, so
 * threads that allocate at once do not bounce one line between cores (two
 * shared counters were ~9 % of the block lane's CPU in a catch-up). A
 * block freed by another thread than the one that made it makes one
 * stripe go down and another up; the sums are exact whenever no
 * allocation is in progress.
 */
#define STRIPES 16

struct stripe {
    _Alignas(64) atomic_int_least64_t count;
    atomic_int_least64_t bytes;
};

static struct stripe stripes[STRIPES];
static atomic_uint next_stripe;
static _Thread_local struct stripe *my_stripe;
static atomic_int_least64_t fail_countdown;

static struct stripe *mine(void)
{
    if (my_stripe == NULL) {
        unsigned i = atomic_fetch_add_explicit(&next_stripe, 1,
                                               memory_order_relaxed);

        my_stripe = &stripes[i % STRIPES];
    }
    return my_stripe;
}

static void count_add(int64_t count, int64_t bytes)
{
    struct stripe *st = mine();

    if (count != 0) {
        atomic_fetch_add_explicit(&st->count, count, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&st->bytes, bytes, memory_order_relaxed);
}

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
    count_add(1, (int64_t)n);
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
    count_add(0, (int64_t)n - (int64_t)old);
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
    count_add(-1, -(int64_t)n);
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
    int64_t n = 0;

    for (size_t i = 0; i < STRIPES; i++) {
        n += atomic_load(&stripes[i].count);
    }
    return n;
}

int64_t bm_alloc_live_bytes(void)
{
    int64_t n = 0;

    for (size_t i = 0; i < STRIPES; i++) {
        n += atomic_load(&stripes[i].bytes);
    }
    return n;
}

void bm_alloc_fail_after(int64_t n)
{
    atomic_store(&fail_countdown, n);
}
