/* Hash set of tx hashes, see txset.h. */
#include "util/txset.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/alloc.h"

/* Slots hold the hashes themselves; the all-zero value marks an empty
 * slot (one cache line per probe, no separate flag array), and the
 * all-zero hash, should it ever occur, is kept in has_zero. */

static size_t slot_of(const struct bm_hash *h, size_t mask)
{
    uint64_t v;

    memcpy(&v, h->b, sizeof(v));
    return (size_t)v & mask;
}

/* Word-wise helpers: these run on every probe, so avoid memcmp calls. */
static void words(const struct bm_hash *h, uint64_t w[4])
{
    memcpy(w, h->b, BM_HASH_SIZE);
}

static bool is_zero(const struct bm_hash *h)
{
    uint64_t w[4];

    words(h, w);
    return (w[0] | w[1] | w[2] | w[3]) == 0;
}

void bm__txset_release(struct bm__txset *s)
{
    if (s == NULL) {
        return;
    }
    bm_free(s->slots);
    memset(s, 0, sizeof(*s));
}

/* h is not zero. True and *pos = its slot if present, else false and
 * *pos = the empty slot ending its probe run. */
static bool find(const struct bm__txset *s, const struct bm_hash *h,
                 size_t *pos)
{
    size_t mask = s->cap - 1;
    size_t i = slot_of(h, mask);
    uint64_t want[4];

    words(h, want);
    for (;;) {
        uint64_t w[4];

        words(&s->slots[i], w);
        if (w[0] == want[0] && w[1] == want[1] && w[2] == want[2] &&
            w[3] == want[3]) {
            *pos = i;
            return true;
        }
        if ((w[0] | w[1] | w[2] | w[3]) == 0) {
            *pos = i;
            return false;
        }
        i = (i + 1) & mask;
    }
}

bool bm__txset_has(const struct bm__txset *s, const struct bm_hash *h)
{
    size_t pos;

    if (is_zero(h)) {
        return s->has_zero;
    }
    if (s->cap == 0) {
        return false;
    }
    return find(s, h, &pos);
}

static enum bm_err grow(struct bm__txset *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    struct bm_hash *slots;

    slots = bm_calloc(ncap, sizeof(*slots));
    if (slots == NULL) {
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!is_zero(&s->slots[i])) {
            size_t j = slot_of(&s->slots[i], ncap - 1);

            while (!is_zero(&slots[j])) {
                j = (j + 1) & (ncap - 1);
            }
            slots[j] = s->slots[i];
        }
    }
    bm_free(s->slots);
    s->slots = slots;
    s->cap = ncap;
    return BM_OK;
}

enum bm_err bm__txset_add(struct bm__txset *s, const struct bm_hash *h)
{
    size_t pos;

    if (is_zero(h)) {
        if (s->has_zero) {
            return BM_EEXIST;
        }
        s->has_zero = true;
        s->len++;
        return BM_OK;
    }
    if (s->cap > 0 && find(s, h, &pos)) {
        return BM_EEXIST;
    }
    if ((s->len + 1) * 2 > s->cap) {
        enum bm_err err = grow(s);

        if (err) {
            return err;
        }
    }
    (void)find(s, h, &pos);
    s->slots[pos] = *h;
    s->len++;
    return BM_OK;
}

bool bm__txset_del(struct bm__txset *s, const struct bm_hash *h)
{
    size_t mask;
    size_t i;
    size_t j;

    if (is_zero(h)) {
        if (!s->has_zero) {
            return false;
        }
        s->has_zero = false;
        s->len--;
        return true;
    }
    if (s->cap == 0 || !find(s, h, &i)) {
        return false;
    }
    mask = s->cap - 1;
    /* Backward-shift deletion: move later members of the probe run into
     * the hole when their home slot does not lie in (hole, current]. */
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (is_zero(&s->slots[j])) {
            break;
        }
        home = slot_of(&s->slots[j], mask);
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    memset(s->slots[i].b, 0, BM_HASH_SIZE);
    s->len--;
    return true;
}

void bm__txset_clear(struct bm__txset *s)
{
    if (s->cap > 0) {
        memset(s->slots, 0, s->cap * sizeof(*s->slots));
    }
    s->has_zero = false;
    s->len = 0;
}

static uint64_t fingerprint(const struct bm_hash *h)
{
    uint64_t v;

    memcpy(&v, h->b, sizeof(v));
    return v != 0 ? v : 1;
}

enum bm_err bm__txwin_init(struct bm__txwin *w, size_t cap)
{
    size_t tsize = 16;
    size_t want;

    memset(w, 0, sizeof(*w));
    if (cap == 0) {
        return BM_OK;
    }
    /* Table at most 25 % full: short probe runs. */
    if (!bm_size_mul(cap, 4, &want)) {
        return BM_EOVERFLOW;
    }
    while (tsize < want) {
        if (!bm_size_mul(tsize, 2, &tsize)) {
            return BM_EOVERFLOW;
        }
    }
    w->slots = bm_calloc(tsize, sizeof(*w->slots));
    w->ring = bm_calloc(cap, sizeof(*w->ring));
    if (w->slots == NULL || w->ring == NULL) {
        bm__txwin_release(w);
        return BM_ENOMEM;
    }
    w->mask = tsize - 1;
    w->cap = cap;
    return BM_OK;
}

/* Asks the kernel to fault [p, p + len)'s whole pages in now, in one
 * call. Advice only: a refusal (a kernel before 5.14) leaves them to be
 * faulted on first use. (Transparent huge pages were tried as well: with
 * the system's defrag=madvise the request compacts memory on the spot and
 * cost 0.7-2.8 us per block of a 10,000-block catch-up under load, against
 * 0.73-0.98 for 4 KiB pages populated.) */
static void prefault(void *p, size_t len)
{
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p, end = a + len, lo, hi;

    if (ps <= 0 || len == 0) {
        return;
    }
    lo = (a + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1);
    hi = end & ~((uintptr_t)ps - 1);
#ifdef MADV_POPULATE_WRITE
    if (hi > lo) {
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
    }
#endif
}

void bm__txwin_prefault(struct bm__txwin *w)
{
    if (w->cap == 0) {
        return;
    }
    prefault(w->slots, (w->mask + 1) * sizeof(*w->slots));
    prefault(w->ring, w->cap * sizeof(*w->ring));
}

void bm__txwin_release(struct bm__txwin *w)
{
    if (w == NULL) {
        return;
    }
    bm_free(w->slots);
    bm_free(w->ring);
    memset(w, 0, sizeof(*w));
}

/* True and *pos = slot of fp if present, else false and *pos = the empty
 * slot ending its probe run. */
static bool win_find(const struct bm__txwin *w, uint64_t fp, size_t *pos)
{
    size_t i = (size_t)(fp >> 16) & w->mask;

    while (w->slots[i] != 0) {
        if (w->slots[i] == fp) {
            *pos = i;
            return true;
        }
        i = (i + 1) & w->mask;
    }
    *pos = i;
    return false;
}

static void win_del(struct bm__txwin *w, uint64_t fp)
{
    size_t i;
    size_t j;

    if (!win_find(w, fp, &i)) {
        return;
    }
    /* Backward-shift deletion, as in bm__txset_del. */
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & w->mask;
        if (w->slots[j] == 0) {
            break;
        }
        home = (size_t)(w->slots[j] >> 16) & w->mask;
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            w->slots[i] = w->slots[j];
            i = j;
        }
    }
    w->slots[i] = 0;
}

bool bm__txwin_has(const struct bm__txwin *w, const struct bm_hash *h)
{
    size_t pos;

    return w->cap > 0 && win_find(w, fingerprint(h), &pos);
}

void bm__txwin_add(struct bm__txwin *w, const struct bm_hash *h)
{
    uint64_t fp;
    size_t pos;

    if (w->cap == 0) {
        return;
    }
    fp = fingerprint(h);
    if (win_find(w, fp, &pos)) {
        return;
    }
    if (w->len == w->cap) {
        win_del(w, w->ring[w->start]);
        w->start = (w->start + 1) % w->cap;
        w->len--;
        (void)win_find(w, fp, &pos); /* the deletion may have moved it */
    }
    w->slots[pos] = fp;
    w->ring[(w->start + w->len) % w->cap] = fp;
    w->len++;
}
