/*
 * Actors: id table, spawn, send (both lanes), one turn of message handling,
 * exit / finalize, stop, monitors and the handler context.
 *
 * See actor_internal.h for the two invariants this file relies on: the
 * SCHED bit owns execution, `life` guards the slot against reuse while a
 * sender is inside a send.
 */
#include "actor/actor_internal.h"

#include "util/clock.h"
#include "util/alloc.h"
#include "util/log.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

/* ------------------------------------------------------------ id table */

struct bm__actor *bm__slot_actor(struct bm_actor_system *sys, uint32_t slot)
{
    struct bm__actor *chunk;

    if (slot == 0 || slot >= sys->cfg.max_actors) {
        return NULL;
    }
    chunk = atomic_load_explicit(&sys->chunks[slot >> BM__CHUNK_BITS],
                                 memory_order_acquire);
    if (chunk == NULL) {
        return NULL;
    }
    return &chunk[slot & (BM__CHUNK - 1)];
}

struct bm_actor_id bm__actor_id(const struct bm__actor *a)
{
    uint64_t life = atomic_load_explicit(&a->life, memory_order_relaxed);

    return (struct bm_actor_id){a->slot, (uint32_t)(life >> 32)};
}

int bm__actor_ref(struct bm_actor_system *sys, struct bm_actor_id id,
                  struct bm__actor **out)
{
    struct bm__actor *a = bm__slot_actor(sys, id.slot);
    uint64_t life;

    if (a == NULL) {
        return BM_ENOACTOR;
    }
    life = atomic_fetch_add_explicit(&a->life, 1, memory_order_acquire);
    if ((uint32_t)(life >> 32) != id.gen) {
        atomic_fetch_sub_explicit(&a->life, 1, memory_order_release);
        return BM_ENOACTOR;
    }
    if (life & BM__LIFE_CLOSED) {
        atomic_fetch_sub_explicit(&a->life, 1, memory_order_release);
        return BM_ESTOPPED;
    }
    *out = a;
    return BM_OK;
}

void bm__actor_unref(struct bm__actor *a)
{
    atomic_fetch_sub_explicit(&a->life, 1, memory_order_release);
}

/* Allocates a slot (and its chunk). Caller holds slot_mu. */
static int slot_alloc(struct bm_actor_system *sys, uint32_t *out)
{
    uint32_t slot, c;

    if (sys->nfree_slots > 0) {
        *out = sys->free_slots[--sys->nfree_slots];
        return BM_OK;
    }
    if (sys->next_slot >= sys->cfg.max_actors) {
        return BM_EFULL;
    }
    slot = sys->next_slot;
    c = slot >> BM__CHUNK_BITS;
    if (atomic_load_explicit(&sys->chunks[c], memory_order_relaxed) == NULL) {
        size_t sz = sizeof(struct bm__actor) * BM__CHUNK + BM__CACHELINE;
        unsigned char *raw;
        struct bm__actor *chunk;

        if (sys->chunk_raw == NULL) {
            sys->chunk_raw = bm_calloc(sys->nchunks, sizeof(void *));
            if (sys->chunk_raw == NULL) {
                return BM_ENOMEM;
            }
        }
        raw = bm_calloc(1, sz);
        if (raw == NULL) {
            return BM_ENOMEM;
        }
        chunk = (struct bm__actor *)(void *)(raw + (BM__CACHELINE -
                                                    ((uintptr_t)raw %
                                                     BM__CACHELINE)) %
                                                       BM__CACHELINE);
        for (uint32_t i = 0; i < BM__CHUNK; i++) {
            struct bm__actor *a = &chunk[i];

            a->slot = (c << BM__CHUNK_BITS) | i;
            /* Generation 1; a free slot is CLOSED (no send gets in) and
             * SCHED is held (nobody runs it). */
            atomic_store_explicit(&a->life,
                                  (1ull << 32) | BM__LIFE_SCHED |
                                      BM__LIFE_CLOSED,
                                  memory_order_relaxed);
            atomic_store_explicit(&a->status, BM__ST_DEAD,
                                  memory_order_relaxed);
            pthread_mutex_init(&a->mu, NULL);
            bm_cond_init(&a->cv);
        }
        sys->chunk_raw[c] = raw;
        atomic_store_explicit(&sys->chunks[c], chunk, memory_order_release);
    }
    sys->next_slot++;
    *out = slot;
    return BM_OK;
}

static void slot_free(struct bm_actor_system *sys, uint32_t slot)
{
    pthread_mutex_lock(&sys->slot_mu);
    if (sys->nfree_slots == sys->capfree_slots) {
        sys->capfree_slots = sys->capfree_slots ? sys->capfree_slots * 2 : 256;
        sys->free_slots = bm_xrealloc(sys->free_slots,
                                      sys->capfree_slots * sizeof(uint32_t));
    }
    /* Reuse the oldest freed slots last is not needed: the generation
     * already makes stale ids fail. */
    sys->free_slots[sys->nfree_slots++] = slot;
    pthread_mutex_unlock(&sys->slot_mu);
}

/* ------------------------------------------------------------ nodes */

void bm__node_dispose(struct bm_actor_system *sys, struct bm__node *n)
{
    if (n->flags & BM__NF_HEAP) {
        bm_free(n->heap);
    }
    bm__node_free(&sys->pool, n);
}

void bm__discard_node(struct bm_actor_system *sys, struct bm__actor *a,
                      struct bm__node *n, int reason)
{
    const struct bm_msg_kind *k = NULL;

    if ((n->sys == BM__SYS_USER || n->sys == BM__SYS_CONT) &&
        a->type != NULL && n->kind < a->type->n_kinds) {
        k = &a->type->kinds[n->kind];
    }
    if (n->sys == BM__SYS_USER) {
        if (n->flags & BM__NF_ASK) {
            bm__ask_complete(sys, n->corr, reason, NULL, 0, false);
        }
        if (k != NULL && k->dtor != NULL) {
            k->dtor(bm__node_payload(n));
        }
    } else if (n->sys == BM__SYS_CONT) {
        atomic_fetch_add_explicit(&sys->late_replies, 1, memory_order_relaxed);
        if (k != NULL && k->dtor != NULL) {
            k->dtor(bm__node_payload(n));
        }
    }
    bm__node_dispose(sys, n);
}

/* ------------------------------------------------------------ spawn */

static int check_type(const struct bm_actor_type *type)
{
    if (type == NULL || (type->n_kinds > 0 && type->kinds == NULL) ||
        type->n_kinds > 65536) {
        return BM_EINVAL;
    }
    for (uint32_t i = 0; i < type->n_kinds; i++) {
        const struct bm_msg_kind *k = &type->kinds[i];

        if (k->handle == NULL || k->payload_size > BM_MSG_MAX_PAYLOAD ||
            k->reply_size > BM_MSG_MAX_PAYLOAD) {
            return BM_EINVAL;
        }
    }
    return BM_OK;
}

int bm__actor_init(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm_actor_ctx ctx;
    struct bm__actor *prev = bm__tl_actor;
    void *state = a->arg;
    int rc = BM_OK;

    a->fail_reason = 0;
    a->stop_self = false;
    a->exit_req = false;
    atomic_store(&a->stop_req, 0);
    if (a->sup != NULL) {
        return bm__sup_init(sys, a);
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.sys = sys;
    ctx.a = a;
    ctx.self = bm__actor_id(a);
    a->in_init = true;
    bm__tl_actor = a;
    if (a->type->init != NULL) {
        state = NULL;
        rc = a->type->init(&ctx, a->arg, &state);
    }
    bm__tl_actor = prev;
    a->in_init = false;
    if (rc == BM_OK) {
        a->state = state;
        a->has_state = true;
    }
    return rc;
}

int bm__spawn_held(struct bm_actor_system *sys,
                   const struct bm_actor_type *type, void *arg,
                   const struct bm_actor_opts *opts, struct bm_actor_id parent,
                   struct bm__sup *sup, struct bm__actor **out)
{
    struct bm_actor_opts def;
    struct bm__lane *lane = NULL;
    struct bm__actor *a;
    uint32_t slot, cap;
    int err;

    *out = NULL;
    if (opts == NULL) {
        memset(&def, 0, sizeof(def));
        opts = &def;
    }
    err = check_type(type);
    cap = opts->capacity ? opts->capacity : sys->cfg.default_capacity;
    if (err == BM_OK &&
        (cap > (1u << 29) || (opts->overflow != BM_OVERFLOW_REJECT &&
                              opts->overflow != BM_OVERFLOW_BLOCK &&
                              opts->overflow != BM_OVERFLOW_DROP_OLDEST) ||
         (opts->lane != NULL && (opts->detached || opts->lane[0] == '\0')))) {
        err = BM_EINVAL;
    }
    if (err == BM_OK && atomic_load(&sys->closing)) {
        err = BM_ESHUTDOWN;
    }
    if (err == BM_OK && opts->lane != NULL) {
        err = bm__lane_get(sys, opts->lane, &lane);
    }
    if (err == BM_OK) {
        pthread_mutex_lock(&sys->slot_mu);
        err = slot_alloc(sys, &slot);
        pthread_mutex_unlock(&sys->slot_mu);
    }
    if (err != BM_OK) {
        bm__sup_free(sup);
        return err;
    }
    a = bm__slot_actor(sys, slot);
    /* We own the slot: SCHED is held and status DEAD since finalize. */
    atomic_store_explicit(&a->sys_count, 0, memory_order_relaxed);
    atomic_store_explicit(&a->hwm, 0, memory_order_relaxed);
    atomic_store_explicit(&a->waiters, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_rejected_full, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_handled, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_rejected_invalid, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_failures, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_restarts, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_turns, 0, memory_order_relaxed);
    atomic_store_explicit(&a->st_empty_turns, 0, memory_order_relaxed);
    for (int i = 0; i < BM_ACTOR_HIST_BUCKETS; i++) {
        atomic_store_explicit(&a->hist[i], 0, memory_order_relaxed);
    }
    a->capacity = cap;
    a->overflow = opts->overflow;
    a->block_timeout_ms =
        opts->block_timeout_ms > 0 ? opts->block_timeout_ms : 1000;
    a->type = type;
    bm__mpsc_init(&a->user);
    bm__mpsc_init(&a->sysq);
    a->state = NULL;
    a->has_state = false;
    a->arg = arg;
    a->arg_free = opts->arg_free;
    a->rq_next = NULL;
    a->epoch++;
    a->parent = parent;
    a->sup = sup;
    a->dt = NULL;
    a->lane = lane;
    a->detached = opts->detached;
    a->fail_reason = 0;
    a->stop_self = false;
    a->exit_req = false;
    a->in_init = false;
    a->name[0] = '\0';
    if (opts->name != NULL) {
        size_t n = strnlen(opts->name, BM_ACTOR_NAME_MAX - 1);

        memcpy(a->name, opts->name, n);
        a->name[n] = '\0';
    }
    pthread_mutex_lock(&a->mu);
    a->watchers = NULL;
    a->watch_closed = false;
    pthread_mutex_unlock(&a->mu);
    /* Publish: senders with this id may now queue mail (held until
     * bm__release). Clearing CLOSED is a release RMW; a sender's pin reads
     * it, so everything written above happens before its checks. */
    atomic_store_explicit(&a->status, BM__ST_RUNNING, memory_order_release);
    atomic_fetch_and(&a->life, ~BM__LIFE_CLOSED);
    atomic_fetch_add(&sys->live, 1);
    atomic_fetch_add_explicit(&sys->spawned, 1, memory_order_relaxed);
    if (a->detached) {
        err = bm__dthread_start(sys, a);
        if (err != BM_OK) {
            a->arg_free = NULL; /* the caller keeps arg on failure */
            bm__actor_finalize(sys, a, err);
            return err;
        }
    }
    err = bm__actor_init(sys, a);
    if (err != BM_OK) {
        a->arg_free = NULL;
        a->parent = BM_ACTOR_ID_NONE;
        bm__actor_finalize(sys, a, err);
        return err;
    }
    *out = a;
    return BM_OK;
}

int bm_actor_spawn(struct bm_actor_system *sys,
                   const struct bm_actor_type *type, void *arg,
                   const struct bm_actor_opts *opts, struct bm_actor_id *out)
{
    struct bm__actor *a;
    int err;

    err = bm__spawn_held(sys, type, arg, opts, BM_ACTOR_ID_NONE, NULL, &a);
    if (err != BM_OK) {
        return err;
    }
    *out = bm__actor_id(a);
    bm__release(sys, a);
    return BM_OK;
}

/* ------------------------------------------------------------ send */

static void update_hwm(struct bm__actor *a, uint32_t depth)
{
    uint32_t h = atomic_load_explicit(&a->hwm, memory_order_relaxed);

    while (depth > h &&
           !atomic_compare_exchange_weak_explicit(
               &a->hwm, &h, depth, memory_order_relaxed,
               memory_order_relaxed)) {
    }
}

/* BLOCK policy: waits (unpinned) for room, then pins again. The mutex and
 * condition variable outlive any incarnation, so waiting on a slot that is
 * recycled meanwhile is safe; the generation check catches it. */
static int wait_room(struct bm__actor *a, uint32_t gen, uint64_t *vout)
{
    uint64_t deadline = bm_clock_deadline_ms(a->block_timeout_ms);
    int err = BM_OK;

    pthread_mutex_lock(&a->mu);
    atomic_fetch_add(&a->waiters, 1);
    for (;;) {
        uint64_t now, v;

        v = atomic_fetch_add(&a->life, 1);
        if ((uint32_t)(v >> 32) != gen || (v & BM__LIFE_CLOSED) ||
            atomic_load(&a->status) != BM__ST_RUNNING) {
            atomic_fetch_sub(&a->life, 1);
            err = BM_ESTOPPED;
            break;
        }
        if ((v & BM__LIFE_REFS) < a->capacity) {
            *vout = v;
            break; /* pinned, with room */
        }
        atomic_fetch_sub(&a->life, 1);
        now = bm_clock_now_ns();
        if (now >= deadline) {
            err = BM_ETIMEDOUT;
            break;
        }
        /* The consumer broadcasts when room appears; the bounded wait is a
         * safety net only (it runs only while a sender is blocked). */
        bm_cond_wait_until(&a->cv, &a->mu,
                           deadline - now > 10000000ull ? now + 10000000ull
                                                        : deadline);
    }
    atomic_fetch_sub(&a->waiters, 1);
    pthread_mutex_unlock(&a->mu);
    return err;
}

/* The next user-lane message, NULL when nothing was pushed. A message a
 * sender is still linking is waited for (it is the sender's next
 * instruction): reporting it as "nothing" would end the turn with mail
 * queued and make the actor run again for nothing. */
static struct bm__node *pop_user(struct bm__actor *a)
{
    struct bm__node *n;
    bool more;

    if (a->overflow != BM_OVERFLOW_DROP_OLDEST) {
        return bm__mpsc_pop_wait(&a->user);
    }
    /* Senders pop too (under mu): wait for a link with mu dropped. */
    for (unsigned spins = 0;; spins++) {
        pthread_mutex_lock(&a->mu);
        n = bm__mpsc_pop(&a->user);
        more = n == NULL && bm__mpsc_has_mail(&a->user, a->user.tail);
        pthread_mutex_unlock(&a->mu);
        if (!more) {
            return n;
        }
        if (spins < 128) {
            bm__cpu_relax();
        } else {
            sched_yield();
        }
    }
}

/* The user lane's tail, read by the SCHED holder before it lets go (under
 * mu for DROP_OLDEST, whose senders pop too). */
static struct bm__link *user_tail(struct bm__actor *a)
{
    struct bm__link *t;

    if (a->overflow != BM_OVERFLOW_DROP_OLDEST) {
        return a->user.tail;
    }
    pthread_mutex_lock(&a->mu);
    t = a->user.tail;
    pthread_mutex_unlock(&a->mu);
    return t;
}

/* After the holder cleared SCHED (`old`: life before, `popped` returned
 * with it): is there mail it did not take? `ut` and `st` are the lanes'
 * tails it read before. The counts filter first, at no extra cache line
 * (queued messages are pinned and counted in sys_count), so the queues'
 * heads are read only when a pin or a count could be mail. */
static bool mail_left(struct bm__actor *a, uint64_t old, uint32_t popped,
                      const struct bm__link *ut, const struct bm__link *st)
{
    return ((old & BM__LIFE_REFS) > popped &&
            bm__mpsc_has_mail(&a->user, ut)) ||
           (atomic_load(&a->sys_count) > 0 &&
            bm__mpsc_has_mail(&a->sysq, st));
}

/* How many one-shot timer deliveries DROP_OLDEST moves to the back
 * before it gives up on finding a droppable message. */
#define KEEP_SKIP_MAX 4

/* Stands for "only kept messages at the front" (never queued). */
static struct bm__node keep_only;

/*
 * DROP_OLDEST's victim, with a->mu held (the only popper of a
 * DROP_OLDEST mailbox): the oldest queued message that is not a one-shot
 * timer's delivery (BM__NF_KEEP). Such a delivery is the only one of its
 * timer and its actor re-arms the timer when it handles it (a tick that
 * runs only while there is work): dropped, the actor would never be
 * ticked again. So it moves to the back (a tick handled later is still a
 * tick) and the next oldest goes. NULL if the lane is momentarily empty
 * (a sender mid-push: the consumer made room); &keep_only if
 * KEEP_SKIP_MAX kept messages came first.
 */
static struct bm__node *pop_droppable(struct bm__actor *a)
{
    for (unsigned i = 0; i < KEEP_SKIP_MAX; i++) {
        struct bm__node *n = bm__mpsc_pop(&a->user);

        if (n == NULL || !(n->flags & BM__NF_KEEP)) {
            return n;
        }
        bm__mpsc_push(&a->user, n);
    }
    return &keep_only;
}

/*
 * The hot path. One fetch_add on `life` both pins the slot and reserves a
 * place in the user lane: the low bits count queued messages plus senders
 * in flight, so a queued message keeps the slot pinned until it is popped
 * and finalize can drain until the count is zero. Then one exchange to
 * push, and one more only if the actor was idle.
 */
int bm__send_user(struct bm_actor_system *sys, struct bm_actor_id to,
                  uint32_t kind, void *payload, size_t len, uint16_t flags,
                  bm__pre_fn *pre, void *pre_arg, uint64_t *corr_out)
{
    struct bm__actor *a = bm__slot_actor(sys, to.slot);
    const struct bm_msg_kind *k;
    struct bm__node *n;
    uint64_t corr = 0, v, prev;
    bool claimed = false, first;
    int st, err;

    if (a == NULL) {
        return BM_ENOACTOR;
    }
    /* Pin, and claim SCHED if the actor looks idle, in one
     * compare-exchange; if it is busy (or the exchange loses a race) a
     * plain fetch_add pins, and the claim, if needed, follows the push. */
    v = atomic_load_explicit(&a->life, memory_order_relaxed);
    if ((uint32_t)(v >> 32) == to.gen &&
        !(v & (BM__LIFE_CLOSED | BM__LIFE_SCHED)) &&
        atomic_compare_exchange_strong(&a->life, &v,
                                       (v + 1) | BM__LIFE_SCHED)) {
        claimed = !(v & BM__LIFE_SCHED);
    } else {
        v = atomic_fetch_add(&a->life, 1);
    }
    if ((uint32_t)(v >> 32) != to.gen) {
        err = BM_ENOACTOR;
        goto unpin;
    }
    if (v & BM__LIFE_CLOSED) {
        err = BM_ESTOPPED;
        goto unpin;
    }
    st = atomic_load_explicit(&a->status, memory_order_acquire);
    if (st != BM__ST_RUNNING) {
        err = st == BM__ST_RESTARTING ? BM_ERESTARTING : BM_ESTOPPED;
        goto unpin;
    }
    if (kind >= a->type->n_kinds) {
        err = BM_EINVAL;
        goto unpin;
    }
    k = &a->type->kinds[kind];
    if (len != k->payload_size || (len > 0 && payload == NULL)) {
        err = BM_EINVAL;
        goto unpin;
    }
    if (a->overflow == BM_OVERFLOW_BLOCK && bm__on_pooled_actor_thread()) {
        /* A pooled actor must never wait: a caller bug, not counted. */
        err = BM_EINVAL;
        goto unpin;
    }
    if (pre != NULL) {
        err = pre(pre_arg, a, k, (v & BM__LIFE_REFS) < a->capacity, &corr);
        if (err != BM_OK) {
            goto unpin;
        }
    }
    prev = v & BM__LIFE_REFS;
    if (prev >= a->capacity) {
        struct bm__node *old = NULL;

        /* The timer thread never waits; a lane thread cannot wait for an
         * actor of its own lane to make room (it would have to run it). */
        switch ((bm__tl_timer || (a->lane != NULL && a->lane == bm__tl_lane)) &&
                        a->overflow == BM_OVERFLOW_BLOCK
                    ? BM_OVERFLOW_REJECT
                    : a->overflow) {
        case BM_OVERFLOW_BLOCK:
            atomic_fetch_sub(&a->life, 1);
            if (claimed) {
                claimed = false;
                bm__release(sys, a); /* never wait while holding SCHED */
            }
            err = wait_room(a, to.gen, &v);
            if (err != BM_OK) {
                if (err == BM_ETIMEDOUT) {
                    atomic_fetch_add_explicit(&a->st_rejected_full, 1,
                                              memory_order_relaxed);
                }
                return err;
            }
            prev = a->capacity - 1;
            break;
        case BM_OVERFLOW_DROP_OLDEST:
            pthread_mutex_lock(&a->mu);
            old = pop_droppable(a);
            pthread_mutex_unlock(&a->mu);
            if (old == &keep_only) {
                /* Nothing but one-shot timer deliveries at the front: the
                 * new message is refused instead (counted, sender told). */
                atomic_fetch_add_explicit(&a->st_rejected_full, 1,
                                          memory_order_relaxed);
                err = BM_EFULL;
                goto unpin;
            }
            if (old != NULL) {
                atomic_fetch_sub(&a->life, 1);
                atomic_fetch_add_explicit(&a->st_dropped, 1,
                                          memory_order_relaxed);
                bm__discard_node(sys, a, old, BM_ECANCELED);
            }
            /* One out (by us or by the consumer), one in: the depth after
             * the push stays within capacity, and so does the watermark. */
            prev = a->capacity - 1;
            break;
        default:
            atomic_fetch_add_explicit(&a->st_rejected_full, 1,
                                      memory_order_relaxed);
            err = BM_EFULL;
            goto unpin;
        }
    }
    n = bm__node_alloc(&sys->pool);
    if (len > BM_MSG_INLINE) {
        n->heap = bm_malloc(len);
        if (n->heap == NULL) {
            bm__node_free(&sys->pool, n);
            err = BM_ENOMEM;
            goto unpin;
        }
        n->flags = BM__NF_HEAP;
        memcpy(n->heap, payload, len);
    } else if (len > 0) {
        memcpy(n->u.bytes, payload, len);
    }
    n->kind = kind;
    n->flags |= flags;
    n->corr = corr;
    if (bm__tl_actor != NULL) {
        n->from = bm__actor_id(bm__tl_actor);
    }
    update_hwm(a, (uint32_t)prev + 1);
    first = bm__mpsc_push(&a->user, n);
    /* Whether the actor is idle is read after the push, not at the pin:
     * the holder that ran when we pinned may have ended its turn since,
     * and it does not wait for a pinned sender (an in-flight pin is not
     * mail: release_turn). The push's exchange and this load pair with the
     * holder's release and bm__mpsc_has_mail: one of the two sides claims.
     * Only the push into an empty queue needs to look (a later one found
     * mail that whoever runs the actor will find too), so a send to a
     * busy actor costs no extra load; DROP_OLDEST pops and re-pushes, so it
     * always looks. */
    if (claimed ||
        ((first || a->overflow == BM_OVERFLOW_DROP_OLDEST) &&
         !(atomic_load(&a->life) & BM__LIFE_SCHED) && bm__claim(a))) {
        bm__schedule(sys, a, true);
    }
    if (corr_out != NULL) {
        *corr_out = corr;
    }
    return BM_OK; /* the queued message keeps the pin */
unpin:
    atomic_fetch_sub(&a->life, 1);
    if (claimed) {
        bm__release(sys, a);
    }
    return err;
}

int bm_actor_tell(struct bm_actor_system *sys, struct bm_actor_id to,
                  uint32_t kind, void *payload, size_t len)
{
    return bm__send_user(sys, to, kind, payload, len, 0, NULL, NULL, NULL);
}

int bm__send_sys(struct bm_actor_system *sys, struct bm_actor_id to,
                 struct bm__node *n)
{
    struct bm__actor *a;
    int err = bm__actor_ref(sys, to, &a);

    if (err != BM_OK) {
        return err;
    }
    if (n->sys == BM__SYS_STOP || n->sys == BM__SYS_KILL) {
        atomic_store(&a->stop_req, n->sys == BM__SYS_KILL ||
                                           n->corr == UINT64_MAX
                                       ? UINT64_MAX
                                       : n->corr + 1);
        if (a->detached) {
            /* A detached actor waiting on a future returns BM_ESTOPPED:
             * wake it (it checks stop_req under the future's mutex). */
            pthread_mutex_lock(&a->mu);
            if (a->waiting_on != NULL) {
                bm__future_wake(a->waiting_on);
            }
            pthread_mutex_unlock(&a->mu);
        } else if (a->lane != NULL) {
            /* A lane actor waiting on a future re-checks stop_req each
             * time its lane's thread is kicked. */
            bm__lane_kick(a->lane);
        }
    }
    atomic_fetch_add(&a->sys_count, 1);
    bm__mpsc_push(&a->sysq, n);
    /* sys_count is raised before SCHED is read: a holder that clears SCHED
     * and then reads sys_count cannot miss this message (both seq_cst). */
    if (!(atomic_load(&a->life) & BM__LIFE_SCHED) && bm__claim(a)) {
        bm__schedule(sys, a, true);
    }
    bm__actor_unref(a);
    return BM_OK;
}

int bm__send_sys_simple(struct bm_actor_system *sys, struct bm_actor_id to,
                        uint16_t type, struct bm_actor_id from, int status,
                        uint32_t aux, uint64_t corr)
{
    struct bm__node *n = bm__node_alloc(&sys->pool);
    int err;

    n->sys = type;
    n->from = from;
    n->status = status;
    n->aux = aux;
    n->corr = corr;
    err = bm__send_sys(sys, to, n);
    if (err != BM_OK) {
        bm__node_dispose(sys, n);
    }
    return err;
}

/* ------------------------------------------------------------ a turn */

static void hist_add(struct bm__actor *a, uint64_t ns)
{
    unsigned b = 0;

    if (ns >= 128) {
        b = 64u - (unsigned)__builtin_clzll(ns >> 7);
        if (b >= BM_ACTOR_HIST_BUCKETS) {
            b = BM_ACTOR_HIST_BUCKETS - 1;
        }
    }
    atomic_store_explicit(
        &a->hist[b],
        atomic_load_explicit(&a->hist[b], memory_order_relaxed) + 1,
        memory_order_relaxed);
}

static void stat_inc(_Atomic uint64_t *c)
{
    /* Single writer (the SCHED holder): no RMW needed. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void ctx_init(struct bm_actor_ctx *ctx, struct bm_actor_system *sys,
                     struct bm__actor *a, struct bm__node *n)
{
    ctx->sys = sys;
    ctx->a = a;
    ctx->self = bm__actor_id(a);
    ctx->node = n;
    ctx->replied = false;
    ctx->status = BM_OK;
    ctx->cookie = 0;
}

static void handle_user(struct bm_actor_system *sys, struct bm__actor *a,
                        struct bm__node *n)
{
    const struct bm_msg_kind *k = &a->type->kinds[n->kind];
    void *payload = k->payload_size ? bm__node_payload(n) : NULL;
    struct bm_actor_ctx ctx;
    int rc;

    if (k->validate != NULL) {
        rc = k->validate(payload, NULL);
        if (rc != BM_OK) {
            atomic_fetch_add_explicit(&a->st_rejected_invalid, 1,
                                      memory_order_relaxed);
            if (n->flags & BM__NF_ASK) {
                bm__ask_complete(sys, n->corr, BM_EBADMSG, NULL, 0, false);
            }
            if (k->dtor != NULL) {
                k->dtor(payload);
            }
            bm__node_dispose(sys, n);
            return;
        }
    }
    ctx_init(&ctx, sys, a, n);
    rc = k->handle(&ctx, a->state, payload);
    stat_inc(&a->st_handled);
    if ((n->flags & BM__NF_ASK) && !ctx.replied) {
        bm__ask_complete(sys, n->corr, rc < 0 ? rc : BM_EPROTO, NULL, 0,
                         false);
    }
    if (k->dtor != NULL) {
        k->dtor(payload);
    }
    bm__node_dispose(sys, n);
    if (rc == BM_EFATAL && a->fail_reason == 0) {
        a->fail_reason = BM_EFATAL;
    }
}

static void handle_cont(struct bm_actor_system *sys, struct bm__actor *a,
                        struct bm__node *n)
{
    const struct bm_msg_kind *k;
    void *payload;
    struct bm_actor_ctx ctx;
    int rc;

    if (n->kind >= a->type->n_kinds) {
        bm__node_dispose(sys, n);
        return;
    }
    k = &a->type->kinds[n->kind];
    payload = k->payload_size ? bm__node_payload(n) : NULL;
    if (n->status == BM_OK && k->validate != NULL &&
        k->validate(payload, NULL) != BM_OK) {
        atomic_fetch_add_explicit(&a->st_rejected_invalid, 1,
                                  memory_order_relaxed);
        if (k->dtor != NULL) {
            k->dtor(payload);
        }
        bm__node_dispose(sys, n);
        return;
    }
    ctx_init(&ctx, sys, a, n);
    ctx.status = n->status;
    ctx.cookie = n->corr;
    ctx.node = NULL; /* a continuation is not an ask */
    rc = k->handle(&ctx, a->state, payload);
    stat_inc(&a->st_handled);
    if (k->dtor != NULL) {
        k->dtor(payload);
    }
    bm__node_dispose(sys, n);
    if (rc == BM_EFATAL && a->fail_reason == 0) {
        a->fail_reason = BM_EFATAL;
    }
}

void bm__request_exit(struct bm__actor *a, int reason, bool hold)
{
    if (!a->exit_req) {
        a->exit_req = true;
        a->exit_reason_req = reason;
        a->exit_hold = hold;
    }
}

static void handle_sys(struct bm_actor_system *sys, struct bm__actor *a,
                       struct bm__node *n)
{
    struct bm_actor_ctx ctx;

    switch (n->sys) {
    case BM__SYS_STOP:
        if (n->corr != UINT64_MAX && n->corr != a->epoch) {
            break; /* stale: meant for a previous incarnation */
        }
        if (a->sup != NULL) {
            bm__sup_on_stop(sys, a, n->aux != 0);
        } else {
            bm__request_exit(a, BM_ESHUTDOWN, n->aux != 0);
        }
        break;
    case BM__SYS_CHILD_EXIT:
        if (a->sup != NULL) {
            bm__sup_on_child_exit(sys, a, n->from, n->status, n->aux != 0);
        } else if (n->aux != 0) {
            /* Held child of a non-supervisor: cannot happen; finalize. */
            struct bm__actor *c = bm__slot_actor(sys, n->from.slot);

            if (c != NULL) {
                c->parent = BM_ACTOR_ID_NONE;
                bm__actor_finalize(sys, c, n->status);
            }
        }
        break;
    case BM__SYS_DOWN:
        if (a->type->on_down != NULL) {
            ctx_init(&ctx, sys, a, NULL);
            a->type->on_down(&ctx, a->state, n->from, n->status);
        }
        break;
    case BM__SYS_CONT:
        handle_cont(sys, a, n);
        return; /* node consumed */
    case BM__SYS_SUP_TIMEOUT:
        if (a->sup != NULL) {
            bm__sup_on_timeout(sys, a, n->corr);
        }
        break;
    case BM__SYS_KILL:
        if (a->sup == NULL && a->fail_reason == 0) {
            a->fail_reason = n->status;
        }
        break;
    default:
        break;
    }
    bm__node_dispose(sys, n);
}

/* Checks the flags a handler may have set; true if the actor must exit. */
static bool check_exit(struct bm__actor *a)
{
    if (a->fail_reason != 0) {
        stat_inc(&a->st_failures);
        bm__request_exit(a, a->fail_reason, true);
        a->fail_reason = 0;
    } else if (a->stop_self) {
        a->stop_self = false;
        bm__request_exit(a, BM_OK, true);
    }
    return a->exit_req;
}

static void wake_blocked(struct bm__actor *a)
{
    pthread_mutex_lock(&a->mu);
    bm_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Returns popped-message pins to `life` in one atomic (one RMW on the
 * contended line per few messages instead of one per message). */
static void unpin_popped(struct bm__actor *a, uint32_t *pending)
{
    if (*pending > 0) {
        uint64_t left =
            (atomic_fetch_sub(&a->life, *pending) & BM__LIFE_REFS) - *pending;

        *pending = 0;
        if (left <= a->capacity / 2 &&
            atomic_load_explicit(&a->waiters, memory_order_relaxed) > 0) {
            wake_blocked(a);
        }
    }
}

/* True if the calling worker has nothing else runnable (empty next slot
 * and run queue). */
static bool worker_idle_otherwise(struct bm_actor_system *sys)
{
    struct bm__worker *w = bm__tl_worker;
    const struct bm__runq *q;

    if (w == NULL || w->sys != sys || w->next_slot != NULL) {
        return false;
    }
    q = sys->cfg.sched == BM_SCHED_SHARED ? &sys->shared : &w->rq;
    return atomic_load_explicit(&q->len, memory_order_relaxed) == 0;
}

/*
 * End of a turn: returns the popped messages' pins and clears SCHED in one
 * atomic, then reschedules only if mail is queued: a message the turn left
 * (batch limit) or one pushed since its last pop. A pin alone is not mail:
 * it may be a sender still inside bm__send_user (registering an ask, taking
 * the timer's mutex, preempted) or a reader (stats, bm__send_sys's
 * reference). Rescheduling on pins made the actor run turns that popped
 * nothing until that sender pushed (docs/actor-runtime.md "Ending a
 * turn"): such a sender claims the actor itself after its push, when it
 * finds SCHED clear. The push's exchange is ordered before that load of
 * `life`, and the fetch_sub below before the loads of the queues' heads
 * (all seq_cst): either the sender sees SCHED clear or this sees its
 * message; both may try to claim, one wins. A count of zero (no pin left
 * beyond the popped ones, sys_count 0) needs no look at the heads: a
 * sender that pins or counts after it pushes into an empty queue and looks
 * itself.
 */
static void release_turn(struct bm_actor_system *sys, struct bm__actor *a,
                         uint32_t popped)
{
    struct bm__link *ut = user_tail(a), *st = a->sysq.tail;
    uint64_t old = atomic_fetch_sub(&a->life, popped + BM__LIFE_SCHED);

    if (mail_left(a, old, popped, ut, st) &&
        !(atomic_load(&a->life) & BM__LIFE_SCHED) && bm__claim(a)) {
        bm__schedule(sys, a, false);
    }
}

void bm__release(struct bm_actor_system *sys, struct bm__actor *a)
{
    release_turn(sys, a, 0);
}

#define UNPIN_EVERY 16
#define HIST_SAMPLE 8

void bm__run_turn(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm__actor *prev_actor = bm__tl_actor;
    unsigned batch = sys->cfg.batch, n = 0;
    bool timing = sys->cfg.handler_timing;
    uint64_t t_prev = 0;
    uint32_t popped = 0;
    bool did = false;

    bm__tl_actor = a;
    stat_inc(&a->st_turns);
    for (;;) {
        struct bm__node *node;

        /* The system lane always goes first. */
        while (atomic_load_explicit(&a->sys_count, memory_order_relaxed) >
               0) {
            node = bm__mpsc_pop_wait(&a->sysq);
            if (node == NULL) {
                break; /* counted, not pushed yet: the sender claims */
            }
            atomic_fetch_sub(&a->sys_count, 1);
            did = true;
            handle_sys(sys, a, node);
            if (check_exit(a)) {
                goto exit;
            }
        }
        if (atomic_load_explicit(&a->status, memory_order_relaxed) !=
            BM__ST_RUNNING) {
            break;
        }
        if (n >= batch) {
            /* Yield only if something else could run here; otherwise
             * requeueing ourselves would just cost a queue round trip. */
            if (!worker_idle_otherwise(sys)) {
                break;
            }
            n = 0;
        }
        node = pop_user(a);
        if (node == NULL) {
            break;
        }
        did = true;
        if (++popped >= UNPIN_EVERY) {
            unpin_popped(a, &popped);
        }
        /* Handler time is sampled: the first message of a turn and every
         * HIST_SAMPLE-th after it (reading the TSC twice per message costs
         * ~10% of a fan-in's consumer). */
        if (timing && n % HIST_SAMPLE == 0) {
            uint64_t d;

            t_prev = bm__cycles();
            handle_user(sys, a, node);
            d = bm__cycles() - t_prev;
            if (d > (1ull << 34)) {
                d = 1ull << 34;
            }
            hist_add(a, (d * sys->ns_per_cycle_q32) >> 32);
        } else {
            handle_user(sys, a, node);
        }
        n++;
        if (check_exit(a)) {
            goto exit;
        }
    }
    if (!did) {
        stat_inc(&a->st_empty_turns);
    }
    if (atomic_load(&a->waiters) > 0) {
        unpin_popped(a, &popped);
        wake_blocked(a);
    }
    bm__tl_actor = prev_actor;
    release_turn(sys, a, popped);
    return;
exit:
    unpin_popped(a, &popped);
    bm__actor_exit(sys, a, a->exit_reason_req, a->exit_hold);
    bm__tl_actor = prev_actor;
}

/* ------------------------------------------------------------ exit */

void bm__actor_terminate(struct bm__actor *a, int reason)
{
    void *state = a->state;

    if (!a->has_state) {
        return;
    }
    a->has_state = false;
    a->state = NULL;
    if (a->sup == NULL && a->type->terminate != NULL) {
        a->type->terminate(state, reason);
    }
}

/*
 * A failed actor held for restart answers the asks queued for it at once,
 * with BM_ERESTARTING, instead of after the restart: the asker may be a
 * later child that its supervisor must stop before it can restart this one
 * (rest_for_one), and a blocked asker would then hold the restart until the
 * ask's deadline. Tells stay queued, in their order. Runs on the actor's
 * own thread (the only consumer of its user lane); new sends already fail
 * with BM_ERESTARTING.
 */
static void fail_queued_asks(struct bm_actor_system *sys, struct bm__actor *a)
{
    struct bm__node *keep = NULL, **tail = &keep, *n;

    while ((n = pop_user(a)) != NULL) {
        if (n->sys == BM__SYS_USER && (n->flags & BM__NF_ASK)) {
            atomic_fetch_sub(&a->life, 1);
            atomic_fetch_add_explicit(&a->st_dropped, 1, memory_order_relaxed);
            bm__discard_node(sys, a, n, BM_ERESTARTING);
            continue;
        }
        n->pool_next = NULL;
        *tail = n;
        tail = &n->pool_next;
    }
    if (a->overflow == BM_OVERFLOW_DROP_OLDEST) {
        pthread_mutex_lock(&a->mu);
    }
    while ((n = keep) != NULL) {
        keep = n->pool_next;
        n->pool_next = NULL;
        bm__mpsc_push(&a->user, n);
    }
    if (a->overflow == BM_OVERFLOW_DROP_OLDEST) {
        pthread_mutex_unlock(&a->mu);
    }
}

void bm__actor_exit(struct bm_actor_system *sys, struct bm__actor *a,
                    int reason, bool hold)
{
    struct bm_actor_id id = bm__actor_id(a);

    a->exit_req = false;
    if (bm_actor_id_is_none(a->parent)) {
        hold = false;
    }
    atomic_store(&a->status, hold ? BM__ST_RESTARTING : BM__ST_STOPPING);
    if (hold) {
        fail_queued_asks(sys, a);
    }
    bm__actor_terminate(a, reason);
    if (a->sup == NULL && atomic_load(&a->waiters) > 0) {
        wake_blocked(a);
    }
    if (!bm_actor_id_is_none(a->parent)) {
        int err = bm__send_sys_simple(sys, a->parent, BM__SYS_CHILD_EXIT, id,
                                      reason, hold ? 1 : 0, 0);

        if (err == BM_OK && hold) {
            return; /* held: the supervisor restarts or finalizes us */
        }
        a->parent = BM_ACTOR_ID_NONE;
    }
    bm__actor_finalize(sys, a, reason);
}

void bm__actor_finalize(struct bm_actor_system *sys, struct bm__actor *a,
                        int reason)
{
    struct bm_actor_id id = bm__actor_id(a);
    struct bm__watch *w, *wn;
    struct bm__node *n;
    uint64_t life, nl;
    unsigned spins = 0;

    atomic_store(&a->status, BM__ST_DEAD);
    bm__actor_terminate(a, reason);
    if (a->sup != NULL) {
        bm__sup_release(sys, a);
    }
    atomic_fetch_or(&a->life, BM__LIFE_CLOSED);
    wake_blocked(a);
    /* Drain the user lane until no message and no sender pins the slot:
     * a nonzero count with an empty lane is a sender mid-push (or one
     * about to back out after seeing CLOSED). */
    for (;;) {
        n = pop_user(a);
        if (n != NULL) {
            atomic_fetch_sub(&a->life, 1);
            atomic_fetch_add_explicit(&a->st_dropped, 1, memory_order_relaxed);
            bm__discard_node(sys, a, n, BM_ESTOPPED);
            continue;
        }
        if ((atomic_load(&a->life) & BM__LIFE_REFS) == 0) {
            break;
        }
        if (++spins > 64) {
            sched_yield();
        }
    }
    while ((n = bm__mpsc_pop(&a->sysq)) != NULL) {
        atomic_fetch_sub(&a->sys_count, 1);
        if (n->sys == BM__SYS_CHILD_EXIT && n->aux != 0) {
            struct bm__actor *c = bm__slot_actor(sys, n->from.slot);

            /* A held child whose supervisor is gone: finalize it too. */
            if (c != NULL && bm_actor_id_eq(bm__actor_id(c), n->from)) {
                c->parent = BM_ACTOR_ID_NONE;
                bm__actor_finalize(sys, c, n->status);
            }
        }
        bm__discard_node(sys, a, n, BM_ESTOPPED);
    }
    pthread_mutex_lock(&a->mu);
    w = a->watchers;
    a->watchers = NULL;
    a->watch_closed = true;
    pthread_mutex_unlock(&a->mu);
    for (; w != NULL; w = wn) {
        wn = w->next;
        bm__send_sys_simple(sys, w->watcher, BM__SYS_DOWN, id, reason, 0, 0);
        bm_free(w);
    }
    if (a->arg_free != NULL) {
        a->arg_free(a->arg);
        a->arg_free = NULL;
    }
    a->arg = NULL;
    if (a->dt != NULL) {
        pthread_mutex_lock(&a->dt->mu);
        a->dt->quit = true;
        bm_cond_signal(&a->dt->cv);
        pthread_mutex_unlock(&a->dt->mu);
        a->dt = NULL;
    }
    /* Retire the generation; keep concurrent stale senders' counts. */
    life = atomic_load(&a->life);
    do {
        /* SCHED and CLOSED stay set while the slot is free. */
        nl = ((uint64_t)(id.gen + 1) << 32) |
             (life & (BM__LIFE_REFS | BM__LIFE_SCHED)) | BM__LIFE_CLOSED;
    } while (!atomic_compare_exchange_weak(&a->life, &life, nl));
    /* Waiters see the id retired (BM_ENOACTOR from now on) before they
     * see the exit; the slot is reusable only after this. */
    pthread_mutex_lock(&sys->exit_mu);
    a->exit_gen = id.gen;
    a->exit_reason = reason;
    atomic_fetch_sub(&sys->live, 1);
    atomic_fetch_add_explicit(&sys->exited, 1, memory_order_relaxed);
    if (atomic_load(&sys->exit_waiters) > 0) {
        bm_cond_broadcast(&sys->exit_cv);
    }
    pthread_mutex_unlock(&sys->exit_mu);
    slot_free(sys, a->slot);
}

/* ------------------------------------------------------------ control */

int bm_actor_stop(struct bm_actor_system *sys, struct bm_actor_id id)
{
    struct bm_actor_id from =
        bm__tl_actor ? bm__actor_id(bm__tl_actor) : BM_ACTOR_ID_NONE;

    return bm__send_sys_simple(sys, id, BM__SYS_STOP, from, BM_ESHUTDOWN, 0,
                               UINT64_MAX);
}

int bm_actor_wait_exit(struct bm_actor_system *sys, struct bm_actor_id id,
                       int64_t timeout_ms, int *reason)
{
    struct bm__actor *a = bm__slot_actor(sys, id.slot);
    uint64_t deadline;
    int err = BM_OK;

    if (bm__on_actor_thread()) {
        return BM_EINVAL;
    }
    if (a == NULL) {
        return BM_ENOACTOR;
    }
    deadline = bm_clock_deadline_ms(timeout_ms);
    pthread_mutex_lock(&sys->exit_mu);
    atomic_fetch_add(&sys->exit_waiters, 1);
    while (a->exit_gen != id.gen) {
        uint64_t now;

        if ((uint32_t)(atomic_load(&a->life) >> 32) != id.gen &&
            (uint32_t)(atomic_load(&a->life) >> 32) != id.gen + 1) {
            err = BM_ENOACTOR;
            break;
        }
        now = bm_clock_now_ns();
        if (now >= deadline) {
            err = BM_ETIMEDOUT;
            break;
        }
        /* Exits broadcast exit_cv; the 10 ms slice is a safety net (it
         * runs only while someone waits for an exit). */
        bm_cond_wait_until(&sys->exit_cv, &sys->exit_mu,
                           bm_clock_after_ms(now, 10) < deadline
                               ? bm_clock_after_ms(now, 10)
                               : deadline);
    }
    if (err == BM_OK && reason != NULL) {
        *reason = a->exit_reason;
    }
    atomic_fetch_sub(&sys->exit_waiters, 1);
    pthread_mutex_unlock(&sys->exit_mu);
    return err;
}

/* ------------------------------------------------------------ context */

struct bm_actor_system *bm_actor_ctx_system(const struct bm_actor_ctx *ctx)
{
    return ctx->sys;
}

struct bm_actor_id bm_actor_ctx_self(const struct bm_actor_ctx *ctx)
{
    return ctx->self;
}

struct bm_actor_id bm_actor_ctx_sender(const struct bm_actor_ctx *ctx)
{
    return ctx->node != NULL ? ctx->node->from : BM_ACTOR_ID_NONE;
}

int bm_actor_ctx_status(const struct bm_actor_ctx *ctx)
{
    return ctx->status;
}

uint64_t bm_actor_ctx_cookie(const struct bm_actor_ctx *ctx)
{
    return ctx->cookie;
}

bool bm_actor_ctx_is_ask(const struct bm_actor_ctx *ctx)
{
    return ctx->node != NULL && (ctx->node->flags & BM__NF_ASK) &&
           !ctx->replied;
}

int bm_actor_reply(struct bm_actor_ctx *ctx, int status, void *reply,
                   size_t len)
{
    const struct bm_msg_kind *k;
    bool delivered;

    if (ctx->node == NULL || !(ctx->node->flags & BM__NF_ASK)) {
        return BM_EINVAL;
    }
    if (ctx->replied) {
        return BM_ESTATE;
    }
    k = &ctx->a->type->kinds[ctx->node->kind];
    if (status > 0) {
        return BM_EINVAL;
    }
    if (status == BM_OK &&
        (len != k->reply_size || (len > 0 && reply == NULL))) {
        return BM_EINVAL;
    }
    ctx->replied = true;
    delivered = bm__ask_complete(ctx->sys, ctx->node->corr, status,
                                 status == BM_OK ? reply : NULL,
                                 status == BM_OK ? len : 0, false);
    if (!delivered && status == BM_OK && k->reply_dtor != NULL && len > 0) {
        k->reply_dtor(reply);
    }
    return BM_OK;
}

int bm_actor_reply_defer(struct bm_actor_ctx *ctx, struct bm_reply_token *out)
{
    const struct bm_msg_kind *k;

    if (ctx->node == NULL || !(ctx->node->flags & BM__NF_ASK)) {
        return BM_EINVAL;
    }
    if (ctx->replied) {
        return BM_ESTATE;
    }
    k = &ctx->a->type->kinds[ctx->node->kind];
    out->corr = ctx->node->corr;
    out->reply_size = k->reply_size;
    out->reply_dtor = k->reply_dtor;
    ctx->replied = true; /* no automatic reply */
    return BM_OK;
}

int bm_actor_reply_token(struct bm_actor_system *sys,
                         const struct bm_reply_token *t, int status,
                         void *reply, size_t len)
{
    bool delivered;

    if (status > 0 || (status == BM_OK && (len != t->reply_size ||
                                           (len > 0 && reply == NULL)))) {
        return BM_EINVAL;
    }
    delivered = bm__ask_complete(sys, t->corr, status,
                                 status == BM_OK ? reply : NULL,
                                 status == BM_OK ? len : 0, false);
    if (!delivered && status == BM_OK && t->reply_dtor != NULL && len > 0) {
        t->reply_dtor(reply);
    }
    return BM_OK;
}

void bm_actor_fail(struct bm_actor_ctx *ctx, int reason)
{
    if (reason >= 0) {
        reason = BM_EFATAL;
    }
    if (ctx->a->fail_reason == 0) {
        ctx->a->fail_reason = reason;
    }
}

int bm_actor_kill(struct bm_actor_system *sys, struct bm_actor_id id,
                  int reason)
{
    if (reason >= 0) {
        reason = BM_EFATAL;
    }
    return bm__send_sys_simple(sys, id, BM__SYS_KILL, BM_ACTOR_ID_NONE,
                               reason, 0, 0);
}

void bm_actor_stop_self(struct bm_actor_ctx *ctx)
{
    ctx->a->stop_self = true;
}

int bm_actor_monitor(struct bm_actor_ctx *ctx, struct bm_actor_id target)
{
    struct bm__actor *t;
    struct bm__watch *w;
    int err = bm__actor_ref(ctx->sys, target, &t);

    if (err == BM_OK) {
        pthread_mutex_lock(&t->mu);
        if (!t->watch_closed) {
            w = bm_xmalloc(sizeof(*w));
            w->watcher = ctx->self;
            w->next = t->watchers;
            t->watchers = w;
            pthread_mutex_unlock(&t->mu);
            bm__actor_unref(t);
            return BM_OK;
        }
        pthread_mutex_unlock(&t->mu);
        bm__actor_unref(t);
    }
    return bm__send_sys_simple(ctx->sys, ctx->self, BM__SYS_DOWN, target,
                               BM_ENOACTOR, 0, 0);
}
