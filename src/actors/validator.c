/*
 * ValidatorActor (validator.h): the full-node block check, pooled (CPU
 * only, never blocks). A validation failure is an answer, not an error:
 * the reply carries the code and its message; only a malformed request
 * fails the ask (BM_EBADMSG from validation).
 *
 * The once-per-process last-header-hash tolerance lives in the actor's
 * state (a supervised restart gives it back, as a process restart does).
 */
#include "actors/validator.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "blockv2/validate.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "validator"

struct validator_actor {
    struct bm_env *env; /* borrowed */
    bool tolerance_unused;
};

void bm_validator_req_dtor(void *p)
{
    struct bm_validator_req *r = p;

    bm_block_unref(r->blk);
    r->blk = NULL;
    if (r->state != NULL) {
        bm_state_release(r->state);
        bm_free(r->state);
        r->state = NULL;
    }
}

/* bm_validator_check; own: the header's signature is not verified. */
static int check(const struct bm_block *blk, const struct bm_state *state,
                 const struct bm_buf *genesis_proposer,
                 bool *tolerance_unused, uint64_t now_ns, bool own,
                 struct bm_errmsg *em)
{
    enum bm_seq_flags flags = BM_SEQ_NONE;
    bool tolerated = false;
    int err;

    if (blk == NULL) {
        return bm_errf(em, BM_EINVAL, "blk: NULL");
    }
    if (state == NULL) {
        return bm_errf(em, BM_EINVAL, "state: NULL");
    }
    if (now_ns == 0) {
        now_ns = bm_validate_now_ns();
    }
    err = (own || blk->sig_verified)
              ? bm_signed_header_validate_basic_verified(&blk->sh, now_ns, em)
              : bm_signed_header_validate_basic(&blk->sh, now_ns, em);
    if (err != BM_OK) {
        return err;
    }
    if (blk->data.has_metadata) {
        err = bm_data_validate(&blk->data, now_ns, em);
        if (err != BM_OK) {
            return err;
        }
    }
    err = bm_assert_expected_proposer(state, genesis_proposer,
                                      &blk->sh.header, em);
    if (err != BM_OK) {
        return err;
    }
    if (tolerance_unused != NULL && *tolerance_unused) {
        flags = BM_SEQ_TOLERATE_LAST_HASH_ONCE;
    }
    err = bm_assert_valid_sequence(state, &blk->sh.header, flags, &tolerated,
                                   em);
    if (err != BM_OK) {
        return err;
    }
    if (tolerated && tolerance_unused != NULL) {
        *tolerance_unused = false;
        bm_log_warn(MOD,
                    "last header hash mismatch tolerated height=%" PRIu64
                    " (once per process)",
                    blk->sh.header.height);
    }
    return own ? bm_validate_header_data_own(&blk->sh.header, &blk->data, em)
               : bm_validate_header_data(&blk->sh.header, &blk->data, em);
}

int bm_validator_check(const struct bm_block *blk,
                       const struct bm_state *state,
                       const struct bm_buf *genesis_proposer,
                       bool *tolerance_unused, uint64_t now_ns,
                       struct bm_errmsg *em)
{
    return check(blk, state, genesis_proposer, tolerance_unused, now_ns,
                 false, em);
}

static int validate_req(const void *payload, struct bm_errmsg *em)
{
    const struct bm_validator_req *r = payload;

    if (r->blk == NULL) {
        return bm_errf(em, BM_EINVAL, "blk: NULL");
    }
    if (r->state == NULL) {
        return bm_errf(em, BM_EINVAL, "state: NULL");
    }
    return BM_OK;
}

BM_ACTOR_HANDLER(on_validate, struct validator_actor, struct bm_validator_req)
static int on_validate(struct bm_actor_ctx *ctx, struct validator_actor *v,
                       struct bm_validator_req *p)
{
    struct bm_validator_result res = {0};
    struct bm_errmsg em = {{0}};

    res.code = check(p->blk, p->state, &v->env->genesis->proposer_address,
                     &v->tolerance_unused, p->now_ns, p->own, &em);
    if (res.code != BM_OK) {
        snprintf(res.msg, sizeof(res.msg), "%s",
                 bm_errmsg_str(&em, res.code));
        bm_log_debug(MOD, "block invalid height=%" PRIu64 " code=%s %s",
                     p->blk->sh.header.height, bm_err_name(res.code),
                     res.msg);
    }
    if (bm_actor_ctx_is_ask(ctx)) {
        bm_actor_reply(ctx, BM_OK, &res, sizeof(res));
    }
    return BM_OK;
}

static int validator_init(struct bm_actor_ctx *ctx, void *arg, void **out)
{
    struct validator_actor *v;

    (void)ctx;
    if (arg == NULL) {
        return BM_EINVAL;
    }
    v = bm_xcalloc(1, sizeof(*v));
    v->env = arg;
    v->tolerance_unused = true;
    *out = v;
    return BM_OK;
}

static void validator_terminate(void *state, int reason)
{
    (void)reason;
    bm_free(state);
}

static const struct bm_msg_kind validator_kinds[BM_VALIDATOR_NKINDS] = {
    [BM_VALIDATOR_VALIDATE] = BM_MSG_KIND(
        "validate", struct bm_validator_req,
        sizeof(struct bm_validator_result), validate_req, on_validate,
        bm_validator_req_dtor, NULL),
};

const struct bm_actor_type bm_validator_actor_type = {
    .name = "validator",
    .kinds = validator_kinds,
    .n_kinds = BM_VALIDATOR_NKINDS,
    .init = validator_init,
    .terminate = validator_terminate,
};

int bm_validator_request(struct bm_env *env, struct bm_block *b,
                         const struct bm_state *s, int64_t timeout_ms,
                         int *code, char *msg, size_t len)
{
    struct bm_validator_req req = {0};
    struct bm_validator_result res = {0};
    struct bm_future *f = NULL;
    int err;

    req.state = bm_xcalloc(1, sizeof(*req.state));
    err = bm_state_copy(req.state, s);
    if (err != BM_OK) {
        bm_free(req.state);
        return err;
    }
    req.blk = bm_block_ref(b);
    /* ask + wait rather than call: on a failed send we still own req. */
    err = bm_validator_ask_validate(env->sys, bm_env_validator(env), &req,
                                    timeout_ms, &f);
    if (err != BM_OK) {
        bm_validator_req_dtor(&req);
        return err;
    }
    err = bm_future_wait(f, -1, &res, sizeof(res));
    bm_future_free(f);
    if (err != BM_OK) {
        return err;
    }
    *code = res.code;
    res.msg[sizeof(res.msg) - 1] = '\0';
    snprintf(msg, len, "%s", res.msg);
    return BM_OK;
}
