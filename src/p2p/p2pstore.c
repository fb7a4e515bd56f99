/* P2P item store (one network's window of verified items); p2pstore.h. */
#include "p2p/p2pstore.h"

#include <pthread.h>
#include <string.h>

#include "util/alloc.h"

/* One held item; the array is sorted by height, one item per height. */
struct slot {
    struct bm_p2pstore_entry e;
    struct bm_buf bytes;
};

struct bm_p2pstore {
    enum bm_p2pstore_kind kind;
    size_t max_items;
    size_t max_bytes;
    pthread_mutex_t mu;
    struct slot *v;
    size_t n;
    size_t cap;
    size_t bytes;
    uint64_t floor;
    bool has_best;
    struct bm_p2pstore_entry best;
    uint64_t puts;
    uint64_t refused_full;
};

int bm_p2pstore_new(struct bm_p2pstore **out, enum bm_p2pstore_kind kind,
                    size_t max_items, size_t max_bytes)
{
    struct bm_p2pstore *s = bm_xcalloc(1, sizeof(*s));

    s->kind = kind;
    s->max_items = max_items != 0 ? max_items : BM_P2PSTORE_MAX_ITEMS;
    s->max_bytes = max_bytes != 0 ? max_bytes : BM_P2PSTORE_MAX_BYTES;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return BM_OK;
}

void bm_p2pstore_free(struct bm_p2pstore *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        bm_buf_release(&s->v[i].bytes);
    }
    bm_free(s->v);
    pthread_mutex_destroy(&s->mu);
    bm_free(s);
}

enum bm_p2pstore_kind bm_p2pstore_kind(const struct bm_p2pstore *s)
{
    return s->kind;
}

/* Index of the first slot with height >= h (n if none). Caller holds mu. */
static size_t lower(const struct bm_p2pstore *s, uint64_t h)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->v[mid].e.height < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static bool held(const struct bm_p2pstore *s, uint64_t h, size_t *at)
{
    size_t i = lower(s, h);

    *at = i;
    return i < s->n && s->v[i].e.height == h;
}

/* Raises the best entry to e. Caller holds mu. */
static void raise_best(struct bm_p2pstore *s, const struct bm_p2pstore_entry *e)
{
    if (!s->has_best || e->height > s->best.height) {
        s->best = *e;
        s->has_best = true;
    }
}

/* Window checks of a new item. Caller holds mu. */
static int room(struct bm_p2pstore *s, uint64_t h, size_t len, size_t freed)
{
    if (h <= s->floor) {
        return BM_ESTATE;
    }
    if (h - s->floor > s->max_items || s->bytes - freed + len > s->max_bytes) {
        s->refused_full++;
        return BM_EFULL;
    }
    return BM_OK;
}

int bm_p2pstore_put(struct bm_p2pstore *s, const struct bm_p2pstore_entry *e,
                    const uint8_t *item, size_t len)
{
    struct bm_buf copy = {0};
    size_t i;
    int err;

    if (e->height == 0 || item == NULL || len == 0) {
        return BM_EINVAL;
    }
    err = bm_buf_set(&copy, item, len);
    if (err != BM_OK) {
        return err;
    }
    pthread_mutex_lock(&s->mu);
    if (held(s, e->height, &i)) {
        err = BM_EEXIST;
    } else {
        err = room(s, e->height, len, 0);
    }
    if (err == BM_OK && s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;

        s->v = bm_xrealloc(s->v, cap * sizeof(s->v[0]));
        s->cap = cap;
    }
    if (err == BM_OK) {
        memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
        s->v[i].e = *e;
        s->v[i].bytes = copy;
        memset(&copy, 0, sizeof(copy));
        s->n++;
        s->bytes += len;
        s->puts++;
        raise_best(s, e);
    }
    pthread_mutex_unlock(&s->mu);
    bm_buf_release(&copy);
    return err;
}

int bm_p2pstore_replace(struct bm_p2pstore *s,
                        const struct bm_p2pstore_entry *e,
                        const uint8_t *item, size_t len)
{
    struct bm_buf copy = {0};
    size_t i;
    int err;

    if (e->height == 0 || item == NULL || len == 0) {
        return BM_EINVAL;
    }
    err = bm_buf_set(&copy, item, len);
    if (err != BM_OK) {
        return err;
    }
    pthread_mutex_lock(&s->mu);
    if (!held(s, e->height, &i)) {
        err = BM_ENOTFOUND;
    } else {
        err = room(s, e->height, len, s->v[i].bytes.len);
    }
    if (err == BM_OK) {
        struct bm_buf old = s->v[i].bytes;

        s->bytes = s->bytes - old.len + len;
        s->v[i].e = *e;
        s->v[i].bytes = copy;
        copy = old; /* the old bytes are released after unlocking */
        if (s->has_best && s->best.height == e->height) {
            s->best = *e;
        }
    }
    pthread_mutex_unlock(&s->mu);
    bm_buf_release(&copy);
    return err;
}

int bm_p2pstore_remove(struct bm_p2pstore *s, uint64_t height)
{
    struct bm_buf old = {0};
    size_t i;
    int err = BM_ENOTFOUND;

    pthread_mutex_lock(&s->mu);
    if (held(s, height, &i)) {
        old = s->v[i].bytes;
        s->bytes -= old.len;
        memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
        s->n--;
        err = BM_OK;
    }
    pthread_mutex_unlock(&s->mu);
    bm_buf_release(&old);
    return err;
}

void bm_p2pstore_note(struct bm_p2pstore *s,
                      const struct bm_p2pstore_entry *e)
{
    pthread_mutex_lock(&s->mu);
    raise_best(s, e);
    pthread_mutex_unlock(&s->mu);
}

int bm_p2pstore_get(struct bm_p2pstore *s, uint64_t height,
                    struct bm_buf *out)
{
    size_t i;
    int err = BM_ENOTFOUND;

    bm_buf_release(out);
    pthread_mutex_lock(&s->mu);
    if (held(s, height, &i)) {
        err = bm_buf_copy(out, &s->v[i].bytes);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

bool bm_p2pstore_has(struct bm_p2pstore *s, uint64_t height)
{
    size_t i;
    bool r;

    pthread_mutex_lock(&s->mu);
    r = held(s, height, &i);
    pthread_mutex_unlock(&s->mu);
    return r;
}

uint64_t bm_p2pstore_height(struct bm_p2pstore *s)
{
    uint64_t h;

    pthread_mutex_lock(&s->mu);
    h = s->has_best ? s->best.height : 0;
    pthread_mutex_unlock(&s->mu);
    return h;
}

uint64_t bm_p2pstore_next_held(struct bm_p2pstore *s, uint64_t from)
{
    uint64_t h = 0;
    size_t i;

    pthread_mutex_lock(&s->mu);
    i = from == UINT64_MAX ? s->n : lower(s, from + 1);
    if (i < s->n) {
        h = s->v[i].e.height;
    }
    pthread_mutex_unlock(&s->mu);
    return h;
}

uint64_t bm_p2pstore_contiguous(struct bm_p2pstore *s, uint64_t from)
{
    uint64_t h = from;
    size_t i;

    pthread_mutex_lock(&s->mu);
    i = from == UINT64_MAX ? s->n : lower(s, from + 1);
    for (; i < s->n && s->v[i].e.height == h + 1; i++) {
        h++;
    }
    pthread_mutex_unlock(&s->mu);
    return h;
}

size_t bm_p2pstore_prune(struct bm_p2pstore *s, uint64_t floor)
{
    size_t k;

    pthread_mutex_lock(&s->mu);
    if (floor <= s->floor) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->floor = floor;
    k = floor == UINT64_MAX ? s->n : lower(s, floor + 1);
    for (size_t i = 0; i < k; i++) {
        s->bytes -= s->v[i].bytes.len;
        bm_buf_release(&s->v[i].bytes);
    }
    if (k > 0) {
        memmove(&s->v[0], &s->v[k], (s->n - k) * sizeof(s->v[0]));
        s->n -= k;
    }
    pthread_mutex_unlock(&s->mu);
    return k;
}

void bm_p2pstore_info(struct bm_p2pstore *s, struct bm_p2pstore_info *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->mu);
    out->height = s->has_best ? s->best.height : 0;
    out->has_head = s->has_best;
    out->head = s->best;
    out->floor = s->floor;
    out->items = s->n;
    out->bytes = s->bytes;
    out->lowest = s->n > 0 ? s->v[0].e.height : 0;
    out->puts = s->puts;
    out->refused_full = s->refused_full;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ view */

static enum bm_err view_height(void *ctx, uint64_t *out)
{
    *out = bm_p2pstore_height(ctx);
    return BM_OK;
}

/* The item at height of a store of `kind` into *raw. */
static int view_get(struct bm_p2pstore *s, enum bm_p2pstore_kind kind,
                    uint64_t height, struct bm_buf *raw)
{
    if (s->kind != kind) {
        return BM_ESTATE;
    }
    return bm_p2pstore_get(s, height, raw);
}

static enum bm_err view_header(void *ctx, uint64_t height,
                               struct bm_signed_header *out)
{
    struct bm_p2p_signed_header p = {0};
    struct bm_buf raw = {0};
    int err = view_get(ctx, BM_P2PSTORE_HEADERS, height, &raw);

    if (err == BM_OK) {
        err = bm_p2p_signed_header_decode(&p, raw.ptr, raw.len);
    }
    bm_buf_release(&raw);
    if (err == BM_OK) {
        bm_signed_header_release(out);
        *out = p.sh;
        memset(&p.sh, 0, sizeof(p.sh));
    }
    bm_p2p_signed_header_release(&p);
    return (enum bm_err)err;
}

static enum bm_err view_data(void *ctx, uint64_t height, struct bm_data *out)
{
    struct bm_p2p_data p = {0};
    struct bm_buf raw = {0};
    int err = view_get(ctx, BM_P2PSTORE_DATA, height, &raw);

    if (err == BM_OK) {
        err = bm_p2p_data_decode(&p, raw.ptr, raw.len);
    }
    bm_buf_release(&raw);
    if (err == BM_OK) {
        bm_data_release(out);
        *out = p.data;
        memset(&p.data, 0, sizeof(p.data));
    }
    bm_p2p_data_release(&p);
    return (enum bm_err)err;
}

void bm_p2pstore_view(struct bm_p2pstore *s, struct bm_p2p_store *out)
{
    out->height = view_height;
    out->get_header = view_header;
    out->get_data = view_data;
    out->ctx = s;
}
