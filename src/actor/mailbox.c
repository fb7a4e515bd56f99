/*
 * Mailbox lanes (Vyukov intrusive MPSC queue) and the message node pool.
 *
 * Push: one atomic exchange on `head` plus a release store linking the
 * previous node. Pop (single consumer) follows `tail`; the stub node lets
 * the queue be empty without a NULL head. See actor_internal.h.
 *
 * Pool: nodes are carved from slabs of SLAB_NODES and recycled through a
 * per-thread cache (no lock, no atomic) that refills from / spills to a
 * system-wide mutex-protected free list in batches of BATCH. A thread's
 * cache is keyed by the pool id, so a thread that later talks to another
 * system simply abandons its cached nodes (they stay in the first system's
 * slabs, freed with it).
 */
#include "actor/actor_internal.h"

#include "util/alloc.h"

#include <sched.h>
#include <string.h>

#define SLAB_NODES 256
#define BATCH 64

void bm__mpsc_init(struct bm__mpsc *q)
{
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

static bool push_link(struct bm__mpsc *q, struct bm__link *l)
{
    struct bm__link *prev;

    atomic_store_explicit(&l->next, NULL, memory_order_relaxed);
    /* seq_cst: a sender's later load of the target's `life` and a
     * consumer's release of SCHED followed by bm__mpsc_has_mail are the two
     * sides of a Dekker pair (actor.c release_turn); one of them sees the
     * other. On x86 the exchange is the same instruction either way. */
    prev = atomic_exchange_explicit(&q->head, l, memory_order_seq_cst);
    atomic_store_explicit(&prev->next, l, memory_order_release);
    return prev == &q->stub;
}

bool bm__mpsc_push(struct bm__mpsc *q, struct bm__node *n)
{
    return push_link(q, &n->link);
}

struct bm__node *bm__mpsc_pop(struct bm__mpsc *q)
{
    struct bm__link *tail = q->tail;
    struct bm__link *next =
        atomic_load_explicit(&tail->next, memory_order_acquire);
    struct bm__link *head;

    if (tail == &q->stub) {
        if (next == NULL) {
            return NULL;
        }
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next != NULL) {
        q->tail = next;
        return (struct bm__node *)tail;
    }
    head = atomic_load_explicit(&q->head, memory_order_acquire);
    if (tail != head) {
        return NULL; /* a producer is mid-push */
    }
    (void)push_link(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next != NULL) {
        q->tail = next;
        return (struct bm__node *)tail;
    }
    return NULL;
}

struct bm__node *bm__mpsc_pop_linking(struct bm__mpsc *q)
{
    unsigned spins = 0;

    for (;;) {
        struct bm__node *n;

        /* A producer is between its exchange and its link store: adjacent
         * instructions, so this lasts only if it was preempted there. */
        if (++spins < 128) {
            bm__cpu_relax();
        } else {
            sched_yield();
        }
        n = bm__mpsc_pop(q);
        if (n != NULL || !bm__mpsc_has_mail(q, q->tail)) {
            return n;
        }
    }
}

/* ------------------------------------------------------------ pool */

struct tcache {
    uint64_t pool_id;
    struct bm__node *head;
    uint32_t n;
};

static _Thread_local struct tcache tc;
static atomic_uint_least64_t pool_ids;

void bm__pool_init(struct bm__pool *p)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->id = atomic_fetch_add(&pool_ids, 1) + 1;
}

void bm__pool_release(struct bm__pool *p)
{
    for (size_t i = 0; i < p->nslabs; i++) {
        bm_free(p->slabs[i]);
    }
    bm_free(p->slabs);
    pthread_mutex_destroy(&p->mu);
    if (tc.pool_id == p->id) {
        tc.pool_id = 0;
        tc.head = NULL;
        tc.n = 0;
    }
    p->slabs = NULL;
    p->nslabs = 0;
}

static void refill(struct bm__pool *p)
{
    uint32_t got = 0;

    pthread_mutex_lock(&p->mu);
    if (p->free == NULL) {
        struct bm__node *slab = bm_xmalloc(sizeof(*slab) * SLAB_NODES);

        if (p->nslabs == p->capslabs) {
            p->capslabs = p->capslabs ? p->capslabs * 2 : 64;
            p->slabs = bm_xrealloc(p->slabs, p->capslabs * sizeof(void *));
        }
        p->slabs[p->nslabs++] = slab;
        for (size_t i = 0; i < SLAB_NODES; i++) {
            slab[i].pool_next = p->free;
            p->free = &slab[i];
        }
        p->nfree += SLAB_NODES;
    }
    while (p->free != NULL && got < BATCH) {
        struct bm__node *n = p->free;

        p->free = n->pool_next;
        n->pool_next = tc.head;
        tc.head = n;
        got++;
    }
    p->nfree -= got;
    pthread_mutex_unlock(&p->mu);
    tc.n += got;
}

static void spill(struct bm__pool *p, uint32_t keep)
{
    pthread_mutex_lock(&p->mu);
    while (tc.n > keep) {
        struct bm__node *n = tc.head;

        tc.head = n->pool_next;
        tc.n--;
        n->pool_next = p->free;
        p->free = n;
        p->nfree++;
    }
    pthread_mutex_unlock(&p->mu);
}

static void bind_cache(struct bm__pool *p)
{
    if (tc.pool_id != p->id) {
        /* Abandon nodes of another (possibly freed) system's pool. */
        tc.pool_id = p->id;
        tc.head = NULL;
        tc.n = 0;
    }
}

struct bm__node *bm__node_alloc(struct bm__pool *p)
{
    struct bm__node *n;

    bind_cache(p);
    if (tc.head == NULL) {
        refill(p);
    }
    n = tc.head;
    tc.head = n->pool_next;
    tc.n--;
    n->flags = 0;
    n->sys = BM__SYS_USER;
    n->heap = NULL;
    n->status = 0;
    n->aux = 0;
    n->corr = 0;
    n->kind = 0;
    n->from = BM_ACTOR_ID_NONE;
    return n;
}

void bm__node_free(struct bm__pool *p, struct bm__node *n)
{
    bind_cache(p);
    n->pool_next = tc.head;
    tc.head = n;
    tc.n++;
    if (tc.n >= 4 * BATCH) {
        spill(p, 2 * BATCH);
    }
}
