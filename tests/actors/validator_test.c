/*
 * ValidatorActor: a valid block passes; each failure (bad signature, wrong
 * proposer, wrong height, wrong last hash tolerated once then refused, app
 * hash mismatch, data hash mismatch, time in the future, data metadata
 * mismatch) is answered with its code and a message; a request without a
 * block fails the ask with BM_EBADMSG; bm_validator_check directly.
 */
#include "bm_test.h"

#include "actors_test_util.h"

#include <string.h>

#include "actors/validator.h"
#include "blockv2/validate.h"
#include "util/errmsg.h"

#define CALL_MS 10000

static void open_node(struct at_node *n)
{
    struct at_opts o = {0};

    at_node_open(n, &o);
    at_spawn(n, &bm_validator_actor_type, &n->env.ids.validator, false,
             BM_OVERFLOW_REJECT);
    at_start(n);
}

static struct bm_state *state_dup(const struct bm_state *st)
{
    struct bm_state *c = bm_xcalloc(1, sizeof(*c));

    assert_int_equal(bm_state_copy(c, st), BM_OK);
    return c;
}

/* The state after `b` (no execution: app hash unchanged). */
static void advance(struct bm_state *st, const struct bm_block *b)
{
    st->last_block_height = b->sh.header.height;
    st->last_block_time.seconds = (int64_t)(b->sh.header.time / 1000000000ull);
    st->last_block_time.nanos = (int32_t)(b->sh.header.time % 1000000000ull);
    assert_int_equal(bm_buf_set(&st->last_header_hash, b->hash.b, 32), BM_OK);
}

/* Validates blk (reference taken over) against st via the actor, as the
 * producer's own block if own; returns the reply code, asserting the ask
 * itself succeeded and a failure has a message. */
static int validate_as(struct at_node *n, struct bm_block *blk,
                       const struct bm_state *st, uint64_t now_ns, bool own)
{
    struct bm_validator_req r = {0};
    struct bm_validator_result res;

    memset(&res, 0x55, sizeof(res));
    r.blk = blk;
    r.state = state_dup(st);
    r.now_ns = now_ns;
    r.own = own;
    assert_int_equal(bm_validator_call_validate(n->sys,
                                                bm_env_validator(&n->env), &r,
                                                &res, CALL_MS),
                     BM_OK);
    if (res.code != BM_OK) {
        assert_true(res.msg[0] != '\0');
        assert_non_null(memchr(res.msg, '\0', sizeof(res.msg)));
    }
    return res.code;
}

static int validate(struct at_node *n, struct bm_block *blk,
                    const struct bm_state *st, uint64_t now_ns)
{
    return validate_as(n, blk, st, now_ns, false);
}

static void resign(struct at_node *n, struct bm_block *b)
{
    assert_int_equal(bm_signed_header_sign(&b->sh, &n->key), BM_OK);
    assert_int_equal(bm_block_rehash(b), BM_OK);
}

/* Genesis state, and the state after a first block (not stored), plus a
 * second block on top of that. */
struct chain {
    struct bm_state s0;
    struct bm_state s1;
    struct bm_block *b1;
};

static void chain_init(struct at_node *n, struct chain *c)
{
    memset(c, 0, sizeof(*c));
    at_latest_state(n, &c->s0);
    c->b1 = at_make_block(n, &c->s0, NULL);
    assert_int_equal(bm_state_copy(&c->s1, &c->s0), BM_OK);
    advance(&c->s1, c->b1);
}

static void chain_release(struct chain *c)
{
    bm_state_release(&c->s0);
    bm_state_release(&c->s1);
    bm_block_unref(c->b1);
}

static const char *const txs[] = {"a=1", "b=2", NULL};

static void test_valid(void **unused)
{
    struct at_node n;
    struct chain c;

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    assert_int_equal(validate(&n, bm_block_ref(c.b1), &c.s0, 0), BM_OK);
    assert_int_equal(validate(&n, at_make_block(&n, &c.s1, txs), &c.s1, 0),
                     BM_OK);
    assert_int_equal(validate(&n, at_make_block(&n, &c.s1, NULL), &c.s1, 0),
                     BM_OK);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_bad_signature(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_block *b;

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    b = at_make_block(&n, &c.s1, txs);
    b->sh.signature.ptr[3] ^= 0x01;
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EBAD_SIGNATURE);
    /* A header changed after signing. */
    b = at_make_block(&n, &c.s1, txs);
    b->sh.header.time += 1;
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EBAD_SIGNATURE);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_wrong_proposer(void **unused)
{
    struct at_node n;
    struct chain c;
    uint8_t other[32];

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    memset(other, 0x11, sizeof(other));
    assert_int_equal(bm_buf_set(&c.s1.next_proposer_address, other, 32),
                     BM_OK);
    assert_int_equal(validate(&n, at_make_block(&n, &c.s1, txs), &c.s1, 0),
                     BM_ENOT_PROPOSER);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_wrong_height(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_block *b;

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    b = at_make_block(&n, &c.s1, txs);
    c.s1.last_block_height = 5;
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EHEIGHT_MISMATCH);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_last_hash_tolerated_once(void **unused)
{
    struct at_node n;
    struct chain c;
    uint8_t other[32];

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    memset(other, 0x22, sizeof(other));
    assert_int_equal(bm_buf_set(&c.s1.last_header_hash, other, 32), BM_OK);
    /* at_make_block links to s1.last_header_hash: link to the real one. */
    {
        struct bm_state real = {0};
        struct bm_block *b;

        assert_int_equal(bm_state_copy(&real, &c.s1), BM_OK);
        advance(&real, c.b1);
        b = at_make_block(&n, &real, txs);
        assert_int_equal(validate(&n, b, &c.s1, 0), BM_OK);
        b = at_make_block(&n, &real, txs);
        assert_int_equal(validate(&n, b, &c.s1, 0), BM_ELAST_HEADER_HASH);
        bm_state_release(&real);
    }
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_app_hash(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_block *b;
    uint8_t other[32];

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    b = at_make_block(&n, &c.s1, txs);
    memset(other, 0x33, sizeof(other));
    assert_int_equal(bm_buf_set(&c.s1.app_hash, other, 32), BM_OK);
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EAPP_HASH_MISMATCH);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_data_hash(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_block *b;

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    b = at_make_block(&n, &c.s1, txs);
    assert_int_equal(bm_data_add_tx(&b->data, (const uint8_t *)"c=3", 3),
                     BM_OK);
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EDATA_HASH_MISMATCH);
    /* Txs in a block whose header says "empty". */
    b = at_make_block(&n, &c.s1, NULL);
    assert_int_equal(bm_data_add_tx(&b->data, (const uint8_t *)"c=3", 3),
                     BM_OK);
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EEMPTY_BLOCK);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_time_future(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_block *b;
    uint64_t t;

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    /* The clock given in the request is 2 minutes behind the block. */
    b = at_make_block(&n, &c.s1, txs);
    t = b->sh.header.time;
    assert_int_equal(validate(&n, b, &c.s1, t - 120ull * 1000000000ull),
                     BM_ETIME_FUTURE);
    /* A block signed 5 minutes ahead of the wall clock. */
    b = at_make_block(&n, &c.s1, txs);
    b->sh.header.time = bm_validate_now_ns() + 300ull * 1000000000ull;
    b->data.metadata.time = b->sh.header.time;
    resign(&n, b);
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_ETIME_FUTURE);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_data_metadata(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_block *b;

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    b = at_make_block(&n, &c.s1, txs);
    b->data.metadata.height += 1;
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EDATA_HEIGHT);
    b = at_make_block(&n, &c.s1, txs);
    b->data.metadata.time -= 1;
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EDATA_TIME);
    b = at_make_block(&n, &c.s1, txs);
    assert_int_equal(bm_str_set(&b->data.metadata.chain_id, "other"), BM_OK);
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EDATA_CHAIN_ID);
    /* Data.Validate runs when metadata is present. */
    b = at_make_block(&n, &c.s1, txs);
    b->data.metadata.height = 0;
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_EHEIGHT_ZERO);
    /* Without metadata only the header <-> txs match is checked. */
    b = at_make_block(&n, &c.s1, txs);
    bm_metadata_release(&b->data.metadata);
    b->data.has_metadata = false;
    assert_int_equal(validate(&n, b, &c.s1, 0), BM_OK);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_bad_message(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_validator_req r = {0};
    struct bm_validator_result res;
    struct bm_errmsg em = {{0}};

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    r.state = state_dup(&c.s0);
    assert_int_equal(bm_validator_call_validate(n.sys,
                                                bm_env_validator(&n.env), &r,
                                                &res, CALL_MS),
                     BM_EBADMSG);
    memset(&r, 0, sizeof(r));
    r.blk = bm_block_ref(c.b1);
    assert_int_equal(bm_validator_call_validate(n.sys,
                                                bm_env_validator(&n.env), &r,
                                                &res, CALL_MS),
                     BM_EBADMSG);
    /* Zeroed payload: validate refuses, dtor accepts it. */
    memset(&r, 0, sizeof(r));
    assert_int_not_equal(
        bm_validator_actor_type.kinds[BM_VALIDATOR_VALIDATE].validate(&r, &em),
        BM_OK);
    assert_non_null(strstr(em.msg, "blk"));
    bm_validator_req_dtor(&r);
    chain_release(&c);
    at_node_close(&n, true);
}

static void test_check_direct(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_errmsg em = {{0}};
    uint8_t other[32];
    struct bm_state real = {0};
    struct bm_block *b;
    bool unused_tol = true;

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    assert_int_equal(bm_validator_check(c.b1, &c.s0,
                                        &n.genesis.proposer_address, NULL, 0,
                                        &em),
                     BM_OK);
    assert_int_equal(bm_validator_check(NULL, &c.s0, NULL, NULL, 0, &em),
                     BM_EINVAL);
    /* NULL tolerance: a hash mismatch is never tolerated. */
    assert_int_equal(bm_state_copy(&real, &c.s1), BM_OK);
    b = at_make_block(&n, &real, txs);
    memset(other, 0x44, sizeof(other));
    assert_int_equal(bm_buf_set(&c.s1.last_header_hash, other, 32), BM_OK);
    assert_int_equal(bm_validator_check(b, &c.s1, &n.genesis.proposer_address,
                                        NULL, 0, &em),
                     BM_ELAST_HEADER_HASH);
    assert_non_null(strstr(em.msg, "last_header_hash"));
    assert_int_equal(bm_validator_check(b, &c.s1, &n.genesis.proposer_address,
                                        &unused_tol, 0, &em),
                     BM_OK);
    assert_false(unused_tol);
    assert_int_equal(bm_validator_check(b, &c.s1, &n.genesis.proposer_address,
                                        &unused_tol, 0, &em),
                     BM_ELAST_HEADER_HASH);
    bm_block_unref(b);
    bm_state_release(&real);
    chain_release(&c);
    at_node_close(&n, true);
}

/* The producer's own block (own): its signature is not verified and its
 * data_hash not recomputed (it made both a moment ago), but every other
 * rule runs: the state-divergence checks (app hash, last header hash),
 * proposer, height, time, metadata, signer binding, the empty-block rule.
 * The same blocks from outside (own false) are refused. */
static void test_own_block(void **unused)
{
    struct at_node n;
    struct chain c;
    struct bm_block *b;
    uint8_t other[32];
    struct bm_state div = {0};

    (void)unused;
    open_node(&n);
    chain_init(&n, &c);
    assert_int_equal(validate_as(&n, at_make_block(&n, &c.s1, txs), &c.s1, 0,
                                 true),
                     BM_OK);
    /* What own skips. */
    b = at_make_block(&n, &c.s1, txs);
    b->sh.signature.ptr[3] ^= 0x01;
    assert_int_equal(validate_as(&n, bm_block_ref(b), &c.s1, 0, true), BM_OK);
    assert_int_equal(validate_as(&n, b, &c.s1, 0, false), BM_EBAD_SIGNATURE);
    /* What it keeps: state divergence. */
    assert_int_equal(bm_state_copy(&div, &c.s1), BM_OK);
    memset(other, 0x33, sizeof(other));
    assert_int_equal(bm_buf_set(&div.app_hash, other, 32), BM_OK);
    assert_int_equal(validate_as(&n, at_make_block(&n, &c.s1, txs), &div, 0,
                                 true),
                     BM_EAPP_HASH_MISMATCH);
    bm_state_release(&div);
    assert_int_equal(bm_state_copy(&div, &c.s1), BM_OK);
    assert_int_equal(bm_buf_set(&div.last_header_hash, other, 32), BM_OK);
    b = at_make_block(&n, &c.s1, txs);
    /* The once-per-process tolerance goes first; then it is refused. */
    assert_int_equal(validate_as(&n, bm_block_ref(b), &div, 0, true), BM_OK);
    assert_int_equal(validate_as(&n, b, &div, 0, true), BM_ELAST_HEADER_HASH);
    bm_state_release(&div);
    /* ... the height, the metadata, the signer binding, empty blocks. */
    b = at_make_block(&n, &c.s1, txs);
    b->data.metadata.height += 1;
    assert_int_equal(validate_as(&n, b, &c.s1, 0, true), BM_EDATA_HEIGHT);
    b = at_make_block(&n, &c.s1, txs);
    b->sh.signer.address.ptr[0] ^= 0x01;
    assert_int_equal(validate_as(&n, b, &c.s1, 0, true),
                     BM_EPROPOSER_MISMATCH);
    b = at_make_block(&n, &c.s1, NULL);
    assert_int_equal(bm_data_add_tx(&b->data, (const uint8_t *)"c=3", 3),
                     BM_OK);
    assert_int_equal(validate_as(&n, b, &c.s1, 0, true), BM_EEMPTY_BLOCK);
    chain_release(&c);
    at_node_close(&n, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_wrong_proposer),
        cmocka_unit_test(test_wrong_height),
        cmocka_unit_test(test_last_hash_tolerated_once),
        cmocka_unit_test(test_app_hash),
        cmocka_unit_test(test_data_hash),
        cmocka_unit_test(test_time_future),
        cmocka_unit_test(test_data_metadata),
        cmocka_unit_test(test_bad_message),
        cmocka_unit_test(test_check_direct),
        cmocka_unit_test(test_own_block),
    };

    return BM_TEST_RUN(tests);
}
