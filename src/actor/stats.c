/*
 * Statistics snapshots. Counters are read with relaxed atomic loads: each
 * value is exact at some instant, the set is not one atomic snapshot.
 */
#include "actor/actor_internal.h"

#include "util/alloc.h"

#include <string.h>

static void fill(struct bm__actor *a, struct bm_actor_id id,
                 struct bm_actor_stats *s)
{
    uint32_t depth;

    memset(s, 0, sizeof(*s));
    s->id = id;
    /* name and type are set at spawn, before the id is published. */
    memcpy(s->name, a->name, sizeof(s->name));
    s->name[BM_ACTOR_NAME_MAX - 1] = '\0';
    if (a->type != NULL && a->type->name != NULL) {
        size_t n = strnlen(a->type->name, BM_ACTOR_NAME_MAX - 1);

        memcpy(s->type, a->type->name, n);
    }
    s->detached = a->detached;
    if (a->lane != NULL) {
        memcpy(s->lane, a->lane->name, sizeof(s->lane));
        s->lane[BM_ACTOR_NAME_MAX - 1] = '\0';
    }
    s->capacity = a->capacity;
    s->handled = atomic_load_explicit(&a->st_handled, memory_order_relaxed);
    s->rejected_full =
        atomic_load_explicit(&a->st_rejected_full, memory_order_relaxed);
    s->rejected_invalid =
        atomic_load_explicit(&a->st_rejected_invalid, memory_order_relaxed);
    s->dropped = atomic_load_explicit(&a->st_dropped, memory_order_relaxed);
    s->failures = atomic_load_explicit(&a->st_failures, memory_order_relaxed);
    s->restarts = atomic_load_explicit(&a->st_restarts, memory_order_relaxed);
    depth = (uint32_t)(atomic_load_explicit(&a->life, memory_order_relaxed) &
                       BM__LIFE_REFS);
    /* Minus the pin the caller holds while reading. */
    depth = depth > 0 ? depth - 1 : 0;
    s->depth = depth > a->capacity ? a->capacity : depth;
    s->high_watermark = atomic_load_explicit(&a->hwm, memory_order_relaxed);
    for (int i = 0; i < BM_ACTOR_HIST_BUCKETS; i++) {
        s->handler_ns_hist[i] =
            atomic_load_explicit(&a->hist[i], memory_order_relaxed);
    }
    s->turns = atomic_load_explicit(&a->st_turns, memory_order_relaxed);
    s->empty_turns =
        atomic_load_explicit(&a->st_empty_turns, memory_order_relaxed);
    s->received = s->handled + s->rejected_invalid + s->dropped + s->depth;
    s->sent = s->received + s->rejected_full;
}

int bm_actor_stats_get(struct bm_actor_system *sys, struct bm_actor_id id,
                       struct bm_actor_stats *out)
{
    struct bm__actor *a;
    int err = bm__actor_ref(sys, id, &a);

    if (err != BM_OK) {
        return BM_ENOACTOR;
    }
    /* The acquire load pairs with spawn's release store of RUNNING. */
    if (atomic_load(&a->status) == BM__ST_DEAD) {
        bm__actor_unref(a);
        return BM_ENOACTOR;
    }
    fill(a, id, out);
    bm__actor_unref(a);
    return BM_OK;
}

int bm_actor_snapshot(struct bm_actor_system *sys,
                      struct bm_actor_stats **out, size_t *n)
{
    struct bm_actor_stats *arr = NULL;
    size_t cap = 0, cnt = 0;
    uint32_t top;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&sys->slot_mu);
    top = sys->next_slot;
    pthread_mutex_unlock(&sys->slot_mu);
    for (uint32_t s = 1; s < top; s++) {
        struct bm__actor *a = bm__slot_actor(sys, s);
        struct bm_actor_id id;

        if (a == NULL) {
            continue;
        }
        id = (struct bm_actor_id){s, (uint32_t)(atomic_load(&a->life) >> 32)};
        if (bm__actor_ref(sys, id, &a) != BM_OK) {
            continue;
        }
        if (atomic_load(&a->status) == BM__ST_DEAD) {
            bm__actor_unref(a);
            continue;
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct bm_actor_stats *na = bm_realloc(arr, ncap * sizeof(*arr));

            if (na == NULL) {
                bm__actor_unref(a);
                bm_free(arr);
                return BM_ENOMEM;
            }
            arr = na;
            cap = ncap;
        }
        fill(a, id, &arr[cnt++]);
        bm__actor_unref(a);
    }
    *out = arr;
    *n = cnt;
    return BM_OK;
}
