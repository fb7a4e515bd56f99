/*
 * Validation of every block-manager message (the seed's
 * actors/messages_test): for each actor type and each message kind,
 *  - a zeroed payload (NULL pointers, zero heights) is rejected by the
 *    kind's validate callback with a message naming the field, unless the
 *    kind is a plain tick/notification that is valid when zero (listed
 *    below, and those must then have no validate or accept zero);
 *  - every dtor accepts a zeroed payload;
 *  - every kind carrying pointers has a dtor and a validate callback;
 *  - sent to a live actor, a rejected payload never reaches the handler:
 *    an ask gets BM_EBADMSG and the actor counts it in rejected_invalid.
 * A valid payload is accepted (checked for the block-carrying kinds with a
 * real block and state).
 */
#include "bm_test.h"

#include <string.h>

#include "actors_test_util.h"

#include "actors/aggregator.h"
#include "actors/broadcaster.h"
#include "actors/da_includer.h"
#include "actors/da_submitter.h"
#include "actors/producer.h"
#include "actors/reaper.h"
#include "actors/retriever.h"
#include "actors/sequencer.h"
#include "actors/state.h"
#include "actors/store_sync.h"
#include "actors/sync.h"
#include "actors/validator.h"
#include "actors/verifier.h"
#include "util/errmsg.h"

static const struct bm_actor_type *const types[] = {
    &bm_state_actor_type,       &bm_validator_actor_type,
    &bm_sequencer_actor_type,   &bm_broadcaster_actor_type,
    &bm_producer_actor_type,    &bm_aggregator_actor_type,
    &bm_sync_actor_type,        &bm_retriever_actor_type,
    &bm_da_submitter_actor_type, &bm_da_includer_actor_type,
    &bm_reaper_actor_type,      &bm_store_sync_actor_type,
    &bm_verifier_actor_type,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

/* Kinds that are valid with an all-zero payload: ticks, wake-ups, requests
 * without fields, and continuations (their status travels out of band). */
static const char *const zero_ok[] = {
    "state.get",
    "sequencer.next_batch",
    "sequencer.ack",
    "producer.produce",
    "producer.drain",
    /* The producer's continuations: a zeroed one is what an error status
     * carries; the handlers check the pointers (BM_EPROTO), since a
     * continuation refused by validation would stall the round. */
    "producer.c_state",
    "producer.c_batch",
    "producer.c_pending",
    "producer.c_validated",
    "producer.c_applied",
    "producer.c_seq",
    "aggregator.start",
    "aggregator.block_tick",
    "aggregator.lazy_tick",
    "aggregator.txs",
    "aggregator.produced",
    "aggregator.kick",
    "sync.da_progress",
    "sync.flush",
    "sync.hold_over",
    "retriever.tick",
    "retriever.continue",
    "da_submitter.tick",
    "da_includer.tick",
    "reaper.tick",
    "store_sync.tick",
    "store_sync.wake",
};

static bool is_zero_ok(const char *type, const char *kind)
{
    char k[96];

    snprintf(k, sizeof(k), "%s.%s", type, kind);
    for (size_t i = 0; i < sizeof(zero_ok) / sizeof(zero_ok[0]); i++) {
        if (strcmp(zero_ok[i], k) == 0) {
            return true;
        }
    }
    return false;
}

static void test_zeroed_payloads(void **unused)
{
    unsigned rejected = 0, accepted = 0;

    (void)unused;
    for (size_t t = 0; t < N_TYPES; t++) {
        const struct bm_actor_type *ty = types[t];

        assert_non_null(ty->name);
        for (uint32_t k = 0; k < ty->n_kinds; k++) {
            const struct bm_msg_kind *mk = &ty->kinds[k];
            void *p = bm_xcalloc(1, mk->payload_size + 1);
            struct bm_errmsg em = {{0}};
            int rc = BM_OK;

            assert_non_null(mk->name);
            assert_non_null(mk->handle);
            if (mk->validate != NULL) {
                rc = mk->validate(p, &em);
            }
            if (is_zero_ok(ty->name, mk->name)) {
                if (rc != BM_OK) {
                    fail_msg("%s.%s: zeroed payload rejected (%s) but it is "
                             "a plain tick/request",
                             ty->name, mk->name, em.msg);
                }
                accepted++;
            } else {
                if (rc == BM_OK) {
                    fail_msg("%s.%s: zeroed payload accepted", ty->name,
                             mk->name);
                }
                if (em.msg[0] == '\0') {
                    fail_msg("%s.%s: rejection without a message", ty->name,
                             mk->name);
                }
                rejected++;
            }
            if (mk->dtor != NULL) {
                mk->dtor(p); /* must accept zero */
            }
            if (mk->reply_dtor != NULL && mk->reply_size > 0) {
                void *r = bm_xcalloc(1, mk->reply_size);

                mk->reply_dtor(r);
                bm_free(r);
            }
            bm_free(p);
        }
    }
    print_message("messages: %u kinds reject a zeroed payload, %u accept it\n",
                  rejected, accepted);
    assert_true(rejected >= 14);
}

/* Kinds with owned pointers have both a dtor and a validate. */
static void test_pointer_kinds_have_dtor(void **unused)
{
    (void)unused;
    for (size_t t = 0; t < N_TYPES; t++) {
        for (uint32_t k = 0; k < types[t]->n_kinds; k++) {
            const struct bm_msg_kind *mk = &types[t]->kinds[k];

            if (!is_zero_ok(types[t]->name, mk->name) &&
                mk->payload_size >= sizeof(void *) && mk->validate == NULL) {
                fail_msg("%s.%s: no validate callback", types[t]->name,
                         mk->name);
            }
        }
    }
}

/* Invalid messages sent to live actors: rejected before the handler. */
static void test_live_rejection(void **unused)
{
    struct at_node n;
    struct at_opts o = {.aggregator = true};
    struct bm_actor_stats st;
    struct bm_state_commit c = {0};
    struct bm_validator_req vr = {0};
    struct bm_state_ack ack;
    struct bm_validator_result res;
    struct bm_sequencer_txs tx = {0};
    struct bm_sequencer_count cnt;

    (void)unused;
    at_node_open(&n, &o);
    at_spawn(&n, &bm_state_actor_type, &n.env.ids.state, true,
             BM_OVERFLOW_REJECT);
    at_spawn(&n, &bm_validator_actor_type, &n.env.ids.validator, false,
             BM_OVERFLOW_REJECT);
    at_spawn(&n, &bm_sequencer_actor_type, &n.env.ids.sequencer, true,
             BM_OVERFLOW_REJECT);
    at_start(&n);
    assert_int_equal(bm_state_call_commit(n.sys, bm_env_state(&n.env), &c,
                                          &ack, 10000),
                     BM_EBADMSG);
    assert_int_equal(bm_validator_call_validate(n.sys,
                                                bm_env_validator(&n.env), &vr,
                                                &res, 10000),
                     BM_EBADMSG);
    assert_int_equal(bm_sequencer_call_submit(n.sys,
                                              bm_env_sequencer(&n.env), &tx,
                                              &cnt, 10000),
                     BM_EBADMSG);
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.state, &st), BM_OK);
    assert_int_equal(st.rejected_invalid, 1);
    assert_int_equal(st.handled, 0);
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.validator, &st),
                     BM_OK);
    assert_int_equal(st.rejected_invalid, 1);
    assert_int_equal(bm_actor_stats_get(n.sys, n.env.ids.sequencer, &st),
                     BM_OK);
    assert_int_equal(st.rejected_invalid, 1);
    /* The store did not move and nothing went fatal. */
    assert_false(bm_env_halted(&n.env));
    at_node_close(&n, true);
}

/* A valid block message is accepted by the validators of every kind that
 * carries a block. */
static void test_valid_payloads(void **unused)
{
    struct at_node n;
    struct at_opts o = {.aggregator = true};
    struct bm_state st = {0};
    struct bm_block *b;
    struct bm_errmsg em = {{0}};

    (void)unused;
    at_node_open(&n, &o);
    at_latest_state(&n, &st);
    b = at_make_block(&n, &st, NULL);
    {
        struct bm_state_commit c = {.blk = b, .new_state = &st};
        struct bm_validator_req v = {.blk = b, .state = &st};
        struct bm_sync_apply a = {.blk = b};
        struct bm_broadcaster_block bb = {.blk = b};

        assert_int_equal(bm_state_actor_type.kinds[BM_STATE_COMMIT].validate(
                             &c, &em),
                         BM_OK);
        assert_int_equal(
            bm_validator_actor_type.kinds[BM_VALIDATOR_VALIDATE].validate(
                &v, &em),
            BM_OK);
        assert_int_equal(
            bm_sync_actor_type.kinds[BM_SYNC_APPLY].validate(&a, &em), BM_OK);
        {
            struct bm_state_commit_group g = {&c, 1};
            struct bm_sync_header_in hi = {.sh = &b->sh,
                                           .source = BM_SRC_DA,
                                           .sig_verified = true};
            struct bm_sync_data_in di = {.data = &b->data,
                                         .source = BM_SRC_DA};
            struct bm_sync_items_in it = {&hi, 1, &di, 1};

            assert_int_equal(
                bm_state_actor_type.kinds[BM_STATE_COMMIT_GROUP].validate(
                    &g, &em),
                BM_OK);
            assert_int_equal(
                bm_sync_actor_type.kinds[BM_SYNC_ITEMS_IN].validate(&it, &em),
                BM_OK);
            /* One bad entry spoils the message. */
            hi.source = 9;
            assert_int_not_equal(
                bm_sync_actor_type.kinds[BM_SYNC_ITEMS_IN].validate(&it, &em),
                BM_OK);
        }
        if (bm_broadcaster_actor_type.kinds[BM_BROADCASTER_BLOCK].validate !=
            NULL) {
            assert_int_equal(
                bm_broadcaster_actor_type.kinds[BM_BROADCASTER_BLOCK]
                    .validate(&bb, &em),
                BM_OK);
        }
    }
    bm_block_unref(b);
    bm_state_release(&st);
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zeroed_payloads),
        cmocka_unit_test(test_pointer_kinds_have_dtor),
        cmocka_unit_test(test_live_rejection),
        cmocka_unit_test(test_valid_payloads),
    };

    return BM_TEST_RUN(tests);
}
