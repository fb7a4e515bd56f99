/*
 * actor_fanin: 4 producer actors each send 2,500,000 messages carrying one
 * 64-bit integer to 1 consumer actor (argv[1] overrides the per-producer
 * count, argv[2] the consumer's mailbox capacity, default 1024 = the
 * system default), on a 2-worker system. Same workload as
 * ../shared/peers/actors `fanin`. (Larger capacities measured slower here:
 * 4096 and 65536 gave fewer msgs/s, the deeper queue costing cache misses.)
 *
 * Bounded mailbox, credit-based flow: the consumer's mailbox uses the
 * default `reject` policy. Each producer may have at most
 * capacity / 4 messages outstanding (its credit); the consumer returns
 * credit to a producer in one CREDIT message per capacity / 8 messages it
 * handled from it (the producer is known from the value's range), so the
 * mailbox can never overflow and no producer spins on a full mailbox; a
 * producer without credit is idle until credit arrives. Producers send at
 * most BURST messages per turn and then re-schedule themselves (a GO
 * message to self), so they never hog a worker. If a send still returned
 * BM_EFULL, the value would be kept and re-sent on the next turn (counted
 * as a retry; expected 0). Nothing is lost: the consumer checks the count
 * and the sum of all values.
 *
 * Prints:
 *   actor_fanin <messages per second> msgs/s
 *   actor_fanin_full_retries <count> retries
 *   actor_fanin_capacity <consumer capacity> msgs
 * Timing covers the first GO to the last message handled.
 */
#include "actor_bench_util.h"

#define PRODUCERS 4
#define BURST 256u

enum { FI_VALUE = 0 };
enum { FP_GO = 0, FP_CREDIT = 1 };

struct fi_value {
    uint64_t v;
};

struct fp_go {
    uint32_t unused;
};

struct fp_credit {
    uint64_t n;
};

struct fi_consumer {
    uint64_t expect;
    uint64_t got;
    uint64_t sum;
    uint64_t per;                    /* values per producer */
    uint64_t ack_every;              /* credit returned in chunks of this */
    uint64_t unacked[PRODUCERS];     /* handled since the last CREDIT */
    struct bm_actor_id producer[PRODUCERS];
    int err;
    sem_t *done;
};

struct fi_producer {
    struct bm_actor_id self;
    struct bm_actor_id consumer;
    uint64_t next;  /* next value to send */
    uint64_t end;   /* one past the last value */
    uint64_t credit;
    bool go_pending;
    uint64_t retries;
    int err;
    sem_t *failed;
};

BM_ACTOR_REF(fi_consumer);
BM_ACTOR_TELL(fi_consumer, value, FI_VALUE, struct fi_value)
BM_ACTOR_REF(fi_producer);
BM_ACTOR_TELL(fi_producer, go, FP_GO, struct fp_go)
BM_ACTOR_TELL(fi_producer, credit, FP_CREDIT, struct fp_credit)

BM_ACTOR_HANDLER(on_value, struct fi_consumer, struct fi_value)

static int on_value(struct bm_actor_ctx *ctx, struct fi_consumer *st,
                    struct fi_value *p)
{
    uint64_t who = p->v / st->per;

    st->sum += p->v;
    if (++st->got == st->expect) {
        sem_post(st->done);
        return BM_OK;
    }
    if (who < PRODUCERS && ++st->unacked[who] == st->ack_every) {
        struct fp_credit c = {.n = st->ack_every};
        int err;

        st->unacked[who] = 0;
        err = bm_fi_producer_tell_credit(
            bm_actor_ctx_system(ctx),
            (struct bm_ref_fi_producer){st->producer[who]}, &c);
        if (err != BM_OK) {
            st->err = err;
            sem_post(st->done);
        }
    }
    return BM_OK;
}

/* Sends up to BURST messages within the credit; re-schedules itself. */
static int pump(struct bm_actor_ctx *ctx, struct fi_producer *st)
{
    struct bm_actor_system *sys = bm_actor_ctx_system(ctx);
    struct bm_ref_fi_consumer to = {st->consumer};
    bool full = false;
    int err;

    for (unsigned i = 0; i < BURST && st->credit > 0 && st->next < st->end;
         i++) {
        struct fi_value m = {.v = st->next};

        err = bm_fi_consumer_tell_value(sys, to, &m);
        if (err == BM_EFULL) {
            st->retries++;
            full = true;
            break; /* keep st->next: resent next turn */
        }
        if (err != BM_OK) {
            return err;
        }
        st->next++;
        st->credit--;
    }
    if (st->next < st->end && (st->credit > 0 || full) && !st->go_pending) {
        struct fp_go go = {0};

        err = bm_fi_producer_tell_go(sys,
                                     (struct bm_ref_fi_producer){st->self},
                                     &go);
        if (err != BM_OK) {
            return err;
        }
        st->go_pending = true;
    }
    return BM_OK;
}

static void producer_fail(struct fi_producer *st, int err)
{
    st->err = err;
    sem_post(st->failed);
}

BM_ACTOR_HANDLER(on_go, struct fi_producer, struct fp_go)

static int on_go(struct bm_actor_ctx *ctx, struct fi_producer *st,
                 struct fp_go *p)
{
    int err;

    (void)p;
    st->go_pending = false;
    err = pump(ctx, st);
    if (err != BM_OK) {
        producer_fail(st, err);
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(on_credit, struct fi_producer, struct fp_credit)

static int on_credit(struct bm_actor_ctx *ctx, struct fi_producer *st,
                     struct fp_credit *p)
{
    int err;

    st->credit += p->n;
    err = pump(ctx, st);
    if (err != BM_OK) {
        producer_fail(st, err);
    }
    return BM_OK;
}

static const struct bm_msg_kind consumer_kinds[] = {
    [FI_VALUE] = BM_MSG_KIND("value", struct fi_value, 0, NULL, on_value,
                             NULL, NULL),
};

static const struct bm_actor_type consumer_type = {
    .name = "fanin_consumer",
    .kinds = consumer_kinds,
    .n_kinds = 1,
};

static const struct bm_msg_kind producer_kinds[] = {
    [FP_GO] = BM_MSG_KIND("go", struct fp_go, 0, NULL, on_go, NULL, NULL),
    [FP_CREDIT] = BM_MSG_KIND("credit", struct fp_credit, 0, NULL, on_credit,
                              NULL, NULL),
};

static const struct bm_actor_type producer_type = {
    .name = "fanin_producer",
    .kinds = producer_kinds,
    .n_kinds = 2,
};

int main(int argc, char **argv)
{
    uint64_t per = bench_arg_u64(argc, argv, 1, 2500000);
    uint64_t cap = bench_arg_u64(argc, argv, 2, 1024);
    uint64_t total = per * PRODUCERS;
    struct bm_actor_system *sys = bench_system_start(0);
    struct fi_consumer cons = {.expect = total};
    struct fi_producer prod[PRODUCERS];
    struct bm_actor_opts copts = {.name = "consumer",
                                  .capacity = (uint32_t)cap};
    struct bm_actor_id cons_id;
    sem_t done;
    uint64_t t0, t1, retries = 0, want_sum;
    int err;

    if (cap < 2 * PRODUCERS || cap > UINT32_MAX) {
        bench_die("capacity", BM_EINVAL);
    }
    sem_init(&done, 0, 0);
    cons.done = &done;
    cons.per = per;
    cons.ack_every = cap / PRODUCERS / 2;
    err = bm_actor_spawn(sys, &consumer_type, &cons, &copts, &cons_id);
    if (err != BM_OK) {
        bench_die("spawn consumer", err);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (struct fi_producer){.consumer = cons_id,
                                       .next = (uint64_t)i * per,
                                       .end = (uint64_t)(i + 1) * per,
                                       .credit = cap / PRODUCERS,
                                       .failed = &done};
        err = bm_actor_spawn(sys, &producer_type, &prod[i], NULL,
                             &prod[i].self);
        if (err != BM_OK) {
            bench_die("spawn producer", err);
        }
        cons.producer[i] = prod[i].self; /* no message in flight yet */
    }
    t0 = bench_now_ns();
    for (int i = 0; i < PRODUCERS; i++) {
        struct fp_go go = {0};

        err = bm_fi_producer_tell_go(
            sys, (struct bm_ref_fi_producer){prod[i].self}, &go);
        if (err != BM_OK) {
            bench_die("start producer", err);
        }
    }
    /* posted by the consumer when done, or by a producer on an error */
    bench_wait(&done);
    t1 = bench_now_ns();
    if (cons.err != BM_OK) {
        bench_die("consumer credit send", cons.err);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        if (prod[i].err != BM_OK) {
            bench_die("producer send", prod[i].err);
        }
    }
    want_sum = total * (total - 1) / 2;
    if (cons.got != total || cons.sum != want_sum) {
        fprintf(stderr, "lost or duplicated messages: got %llu sum %llu\n",
                (unsigned long long)cons.got, (unsigned long long)cons.sum);
        return 1;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        retries += prod[i].retries;
    }
    printf("actor_fanin %.4g msgs/s\n",
           (double)total / ((double)(t1 - t0) / 1e9));
    printf("actor_fanin_full_retries %llu retries\n",
           (unsigned long long)retries);
    printf("actor_fanin_capacity %llu msgs\n", (unsigned long long)cap);
    bench_system_stop(sys);
    sem_destroy(&done);
    return 0;
}
