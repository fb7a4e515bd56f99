/* Hash set of tx hashes, see txset.h. */
#include "exec/txset.h"

#include <string.h>

#include "util/alloc.h"

static size_t slot_of(const struct bm_hash *h, size_t mask)
{
    uint64_t v;

    memcpy(&v, h->b, sizeof(v));
    return (size_t)v & mask;
}

void bm__txset_release(struct bm__txset *s)
{
    if (s == NULL) {
        return;
    }
    bm_free(s->slots);
    bm_free(s->used);
    memset(s, 0, sizeof(*s));
}

static bool find(const struct bm__txset *s, const struct bm_hash *h,
                 size_t *pos)
{
    size_t mask = s->cap - 1;
    size_t i = slot_of(h, mask);

    while (s->used[i]) {
        if (memcmp(s->slots[i].b, h->b, BM_HASH_SIZE) == 0) {
            *pos = i;
            return true;
        }
        i = (i + 1) & mask;
    }
    *pos = i;
    return false;
}

bool bm__txset_has(const struct bm__txset *s, const struct bm_hash *h)
{
    size_t pos;

    if (s->cap == 0) {
        return false;
    }
    return find(s, h, &pos);
}

static enum bm_err grow(struct bm__txset *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    size_t bytes;
    struct bm_hash *slots;
    bool *used;

    if (!bm_size_mul(ncap, sizeof(*slots), &bytes)) {
        return BM_EOVERFLOW;
    }
    slots = bm_malloc(bytes);
    used = bm_calloc(ncap, sizeof(*used));
    if (slots == NULL || used == NULL) {
        bm_free(slots);
        bm_free(used);
        return BM_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->used[i]) {
            size_t j = slot_of(&s->slots[i], ncap - 1);

            while (used[j]) {
                j = (j + 1) & (ncap - 1);
            }
            used[j] = true;
            slots[j] = s->slots[i];
        }
    }
    bm_free(s->slots);
    bm_free(s->used);
    s->slots = slots;
    s->used = used;
    s->cap = ncap;
    return BM_OK;
}

enum bm_err bm__txset_add(struct bm__txset *s, const struct bm_hash *h)
{
    size_t pos;

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
    s->used[pos] = true;
    s->slots[pos] = *h;
    s->len++;
    return BM_OK;
}

bool bm__txset_del(struct bm__txset *s, const struct bm_hash *h)
{
    size_t mask;
    size_t i;
    size_t j;

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
        if (!s->used[j]) {
            break;
        }
        home = slot_of(&s->slots[j], mask);
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->used[i] = false;
    s->len--;
    return true;
}

void bm__txset_clear(struct bm__txset *s)
{
    if (s->cap > 0) {
        memset(s->used, 0, s->cap * sizeof(*s->used));
    }
    s->len = 0;
}

enum bm_err bm__txwin_init(struct bm__txwin *w, size_t cap)
{
    size_t bytes;

    memset(w, 0, sizeof(*w));
    if (cap == 0) {
        return BM_OK;
    }
    if (!bm_size_mul(cap, sizeof(*w->ring), &bytes)) {
        return BM_EOVERFLOW;
    }
    w->ring = bm_malloc(bytes);
    if (w->ring == NULL) {
        return BM_ENOMEM;
    }
    w->cap = cap;
    return BM_OK;
}

void bm__txwin_release(struct bm__txwin *w)
{
    if (w == NULL) {
        return;
    }
    bm__txset_release(&w->set);
    bm_free(w->ring);
    memset(w, 0, sizeof(*w));
}

bool bm__txwin_has(const struct bm__txwin *w, const struct bm_hash *h)
{
    return w->cap > 0 && bm__txset_has(&w->set, h);
}

enum bm_err bm__txwin_add(struct bm__txwin *w, const struct bm_hash *h)
{
    enum bm_err err;

    if (w->cap == 0 || bm__txset_has(&w->set, h)) {
        return BM_OK;
    }
    if (w->len == w->cap) {
        bm__txset_del(&w->set, &w->ring[w->start]);
        w->start = (w->start + 1) % w->cap;
        w->len--;
    }
    err = bm__txset_add(&w->set, h);
    if (err) {
        return err;
    }
    w->ring[(w->start + w->len) % w->cap] = *h;
    w->len++;
    return BM_OK;
}
