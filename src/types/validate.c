/*
 * Validation rules (spec section 3). See include/blockv2/validate.h for the
 * rule list; docs/VALIDATION.md maps each rule to its code and message.
 */
#include "blockv2/validate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/errmsg.h"
#include "util/hex.h"

#define NS_PER_S 1000000000ull
/* Bytes of a hash-like field shown in a message before it is cut. */
#define MSG_HEX_MAX 32

/* A short lower-case hex rendering of a field for error messages. */
struct hexstr {
    char s[2 * MSG_HEX_MAX + 32];
};

static const char *hexs(struct hexstr *h, const uint8_t *p, size_t len)
{
    if (len == 0) {
        snprintf(h->s, sizeof(h->s), "(empty)");
        return h->s;
    }
    if (len <= MSG_HEX_MAX) {
        bm_hex_encode(h->s, p, len);
        return h->s;
    }
    bm_hex_encode(h->s, p, MSG_HEX_MAX);
    snprintf(h->s + 2 * MSG_HEX_MAX, sizeof(h->s) - 2 * MSG_HEX_MAX,
             "...(%zu bytes)", len);
    return h->s;
}

static const char *bufhex(struct hexstr *h, const struct bm_buf *b)
{
    return hexs(h, b->ptr, b->len);
}

static const char *str_or_empty(const char *s)
{
    return s == NULL ? "" : s;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(str_or_empty(a), str_or_empty(b)) == 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return UINT64_MAX;
    }
    return r;
}

uint64_t bm_validate_now_ns(void)
{
    return bm_clock_wall_ns();
}

/* time != 0 and time <= now + drift; `what` names the field. */
static int check_time(const char *what, uint64_t t, uint64_t now_ns,
                      uint64_t drift, const char *drift_txt,
                      struct bm_errmsg *em)
{
    uint64_t limit = sat_add(now_ns, drift);

    if (t == 0) {
        return bm_errf(em, BM_ETIME_ZERO, "%s: got 0, want non-zero", what);
    }
    if (t > limit) {
        return bm_errf(em, BM_ETIME_FUTURE,
                       "%s: got %" PRIu64 ", want <= %" PRIu64 " (now + %s)",
                       what, t, limit, drift_txt);
    }
    return BM_OK;
}

int bm_header_validate_basic(const struct bm_header *h, uint64_t now_ns,
                             struct bm_errmsg *em)
{
    if (h->proposer_address.len == 0) {
        return bm_errf(em, BM_ENO_PROPOSER,
                       "header.proposer_address: got (empty), want non-empty");
    }
    return check_time("header.time", h->time, now_ns, BM_MAX_CLOCK_DRIFT_NS,
                      "1m", em);
}

/*
 * Signer identity rules shared by headers and data: key present and
 * address == SHA-256(key). `what` is "signer" or "data signer".
 */
static int check_signer_binding(const char *what, const struct bm_signer *s,
                                 struct bm_errmsg *em)
{
    struct bm_hash addr;
    struct hexstr a, b;

    if (!s->has_pub_key) {
        return bm_errf(em, BM_ENO_PUBKEY,
                       "%s.pub_key: got (empty), want an Ed25519 key", what);
    }
    bm_address_from_pubkey(s->pub_key, &addr);
    if (!bm_buf_eq_raw(&s->address, addr.b, sizeof(addr.b))) {
        return bm_errf(em, BM_EADDRESS_MISMATCH,
                       "%s.address: got %s, want %s (SHA-256 of pub_key)", what,
                       bufhex(&a, &s->address),
                       hexs(&b, addr.b, sizeof(addr.b)));
    }
    return BM_OK;
}

/* SignedHeader.ValidateBasic; verify false: all but the signature's
 * verification. */
static int signed_header_basic(const struct bm_signed_header *sh,
                               uint64_t now_ns, bool verify,
                               struct bm_hash *hash, bool *has_hash,
                               struct bm_errmsg *em)
{
    struct hexstr a, b;
    int err;

    err = bm_header_validate_basic(&sh->header, now_ns, em);
    if (err != BM_OK) {
        return err;
    }
    if (sh->signature.len == 0) {
        return bm_errf(em, BM_ENO_SIGNATURE,
                       "signed_header.signature: got (empty), want non-empty");
    }
    if (!bm_buf_eq(&sh->header.proposer_address, &sh->signer.address)) {
        return bm_errf(em, BM_EPROPOSER_MISMATCH,
                       "signer.address: got %s, want %s "
                       "(header.proposer_address)",
                       bufhex(&a, &sh->signer.address),
                       bufhex(&b, &sh->header.proposer_address));
    }
    err = check_signer_binding("signer", &sh->signer, em);
    if (err != BM_OK) {
        return err;
    }
    if (verify &&
        !bm_signed_header_verify_signature_hash(sh, hash, has_hash)) {
        return bm_errf(em, BM_EBAD_SIGNATURE,
                       "signed_header.signature: %s does not verify with "
                       "signer.pub_key %s over the binary or legacy header "
                       "bytes",
                       hexs(&a, sh->signature.ptr, sh->signature.len),
                       hexs(&b, sh->signer.pub_key, BM_PUBKEY_SIZE));
    }
    return BM_OK;
}

int bm_signed_header_validate_basic(const struct bm_signed_header *sh,
                                    uint64_t now_ns, struct bm_errmsg *em)
{
    return signed_header_basic(sh, now_ns, true, NULL, NULL, em);
}

int bm_signed_header_validate_basic_hash(const struct bm_signed_header *sh,
                                         uint64_t now_ns,
                                         struct bm_hash *hash,
                                         bool *has_hash,
                                         struct bm_errmsg *em)
{
    *has_hash = false;
    return signed_header_basic(sh, now_ns, true, hash, has_hash, em);
}

int bm_signed_header_validate_basic_verified(
    const struct bm_signed_header *sh, uint64_t now_ns, struct bm_errmsg *em)
{
    return signed_header_basic(sh, now_ns, false, NULL, NULL, em);
}

int bm_data_validate(const struct bm_data *d, uint64_t now_ns,
                     struct bm_errmsg *em)
{
    const struct bm_metadata *m = &d->metadata;

    if (!d->has_metadata) {
        return bm_errf(em, BM_ENO_METADATA,
                       "data.metadata: got (absent), want present");
    }
    if (m->chain_id == NULL || m->chain_id[0] == '\0') {
        return bm_errf(em, BM_ECHAIN_ID_EMPTY,
                       "data.metadata.chain_id: got \"\", want non-empty");
    }
    if (m->height == 0) {
        return bm_errf(em, BM_EHEIGHT_ZERO,
                       "data.metadata.height: got 0, want non-zero");
    }
    return check_time("data.metadata.time", m->time, now_ns,
                      BM_MAX_CLOCK_DRIFT_NS, "1m", em);
}

int bm_signed_data_validate(const struct bm_signed_data *sd,
                            const struct bm_buf *expected_proposer,
                            struct bm_errmsg *em)
{
    struct hexstr a, b;
    int err;

    if (sd->signature.len == 0) {
        return bm_errf(em, BM_ENO_SIGNATURE,
                       "signed_data.signature: got (empty), want non-empty");
    }
    if (expected_proposer != NULL && expected_proposer->len != 0 &&
        !bm_buf_eq(&sd->signer.address, expected_proposer)) {
        return bm_errf(em, BM_ENOT_PROPOSER,
                       "signed_data.signer.address: got %s, want %s "
                       "(expected proposer)",
                       bufhex(&a, &sd->signer.address),
                       bufhex(&b, expected_proposer));
    }
    err = check_signer_binding("signed_data.signer", &sd->signer, em);
    if (err != BM_OK) {
        return err;
    }
    if (!bm_signed_data_verify_signature(sd)) {
        return bm_errf(em, BM_EBAD_SIGNATURE,
                       "signed_data.signature: %s does not verify with "
                       "signer.pub_key %s over the data bytes",
                       hexs(&a, sd->signature.ptr, sd->signature.len),
                       hexs(&b, sd->signer.pub_key, BM_PUBKEY_SIZE));
    }
    return BM_OK;
}

/* go-header's generic checks before Verify (v0.6.6 / v0.8.6 verify.go). */
static int goheader_prechecks(const char *what, const char *t_chain,
                              uint64_t t_height, uint64_t t_time,
                              const char *u_chain, uint64_t u_height,
                              uint64_t u_time, uint64_t now_ns,
                              struct bm_errmsg *em)
{
    if (!str_eq(t_chain, u_chain)) {
        return bm_errf(em, BM_ECHAIN_ID_MISMATCH,
                       "untrusted %s.chain_id: got \"%.128s\", want "
                       "\"%.128s\" (trusted)",
                       what, str_or_empty(u_chain), str_or_empty(t_chain));
    }
    if (u_height <= t_height) {
        return bm_errf(em, BM_EHEIGHT_ORDER,
                       "untrusted %s.height: got %" PRIu64 ", want > %" PRIu64
                       " (trusted height)",
                       what, u_height, t_height);
    }
    if (u_time < t_time) {
        return bm_errf(em, BM_ETIME_NOT_MONOTONIC,
                       "untrusted %s.time: got %" PRIu64 ", want >= %" PRIu64
                       " (trusted time)",
                       what, u_time, t_time);
    }
    if (u_time > sat_add(now_ns, BM_GOHEADER_CLOCK_DRIFT_NS)) {
        return bm_errf(em, BM_ETIME_FUTURE,
                       "untrusted %s.time: got %" PRIu64 ", want <= %" PRIu64
                       " (now + 10s)",
                       what, u_time,
                       sat_add(now_ns, BM_GOHEADER_CLOCK_DRIFT_NS));
    }
    return BM_OK;
}

int bm_signed_header_verify(const struct bm_signed_header *trusted,
                            const struct bm_signed_header *untrusted,
                            uint64_t now_ns, struct bm_errmsg *em)
{
    const struct bm_header *t = &trusted->header;
    const struct bm_header *u = &untrusted->header;
    struct bm_hash th;
    struct hexstr a, b;
    int err;

    err = goheader_prechecks("header", t->chain_id, t->height, t->time,
                             u->chain_id, u->height, u->time, now_ns, em);
    if (err != BM_OK) {
        return err;
    }
    if (u->height != t->height + 1) {
        return BM_OK; /* non-adjacent: no hash link to check */
    }
    err = bm_header_hash(t, &th);
    if (err != BM_OK) {
        return bm_errf(em, err, "trusted header: cannot hash: %s",
                       bm_strerror(err));
    }
    if (!bm_buf_eq_raw(&u->last_header_hash, th.b, sizeof(th.b))) {
        return bm_errf(em, BM_ELAST_HEADER_HASH,
                       "untrusted header.last_header_hash: got %s, want %s "
                       "(hash of trusted header %" PRIu64 ")",
                       bufhex(&a, &u->last_header_hash),
                       hexs(&b, th.b, sizeof(th.b)), t->height);
    }
    return BM_OK;
}

int bm_data_verify(const struct bm_data *trusted,
                   const struct bm_data *untrusted, uint64_t now_ns,
                   struct bm_errmsg *em)
{
    const struct bm_metadata *t = &trusted->metadata;
    const struct bm_metadata *u = &untrusted->metadata;
    struct bm_hash th;
    struct hexstr a, b;
    int err;

    if (!trusted->has_metadata) {
        return bm_errf(em, BM_ENO_METADATA,
                       "trusted data.metadata: got (absent), want present");
    }
    if (!untrusted->has_metadata) {
        return bm_errf(em, BM_ENO_METADATA,
                       "untrusted data.metadata: got (absent), want present");
    }
    err = goheader_prechecks("data.metadata", t->chain_id, t->height, t->time,
                             u->chain_id, u->height, u->time, now_ns, em);
    if (err != BM_OK) {
        return err;
    }
    if (u->height != t->height + 1) {
        return BM_OK;
    }
    err = bm_data_hash(trusted, &th);
    if (err != BM_OK) {
        return bm_errf(em, err, "trusted data: cannot hash: %s",
                       bm_strerror(err));
    }
    if (!bm_buf_eq_raw(&u->last_data_hash, th.b, sizeof(th.b))) {
        return bm_errf(em, BM_ELAST_DATA_HASH,
                       "untrusted data.metadata.last_data_hash: got %s, want "
                       "%s (hash of trusted data %" PRIu64 ")",
                       bufhex(&a, &u->last_data_hash),
                       hexs(&b, th.b, sizeof(th.b)), t->height);
    }
    return BM_OK;
}

/* types.Validate(header, data); commitment false: the data_hash is not
 * recomputed (the caller's own block). */
static int header_data(const struct bm_header *h, const struct bm_data *d,
                       bool commitment, struct bm_errmsg *em)
{
    struct bm_hash c;
    struct hexstr a, b;
    int err;

    if (d->has_metadata) {
        const struct bm_metadata *m = &d->metadata;
        if (!str_eq(m->chain_id, h->chain_id)) {
            return bm_errf(em, BM_EDATA_CHAIN_ID,
                           "data.metadata.chain_id: got \"%.128s\", want "
                           "\"%.128s\" (header.chain_id)",
                           str_or_empty(m->chain_id),
                           str_or_empty(h->chain_id));
        }
        if (m->height != h->height) {
            return bm_errf(em, BM_EDATA_HEIGHT,
                           "data.metadata.height: got %" PRIu64
                           ", want %" PRIu64 " (header.height)",
                           m->height, h->height);
        }
        if (m->time != h->time) {
            return bm_errf(em, BM_EDATA_TIME,
                           "data.metadata.time: got %" PRIu64 ", want %" PRIu64
                           " (header.time)",
                           m->time, h->time);
        }
    }
    if (bm_header_expects_empty_data(h)) {
        if (d->n_txs != 0) {
            return bm_errf(em, BM_EEMPTY_BLOCK,
                           "data.txs: got %zu txs, want 0 (header.data_hash "
                           "%s marks an empty block)",
                           d->n_txs, bufhex(&a, &h->data_hash));
        }
        return BM_OK;
    }
    if (!commitment) {
        return BM_OK;
    }
    err = bm_data_da_commitment(d, &c);
    if (err != BM_OK) {
        return bm_errf(em, err, "data: cannot compute DA commitment: %s",
                       bm_strerror(err));
    }
    if (!bm_buf_eq_raw(&h->data_hash, c.b, sizeof(c.b))) {
        return bm_errf(em, BM_EDATA_HASH_MISMATCH,
                       "header.data_hash: got %s, want %s (DA commitment of "
                       "%zu data txs)",
                       bufhex(&a, &h->data_hash), hexs(&b, c.b, sizeof(c.b)),
                       d->n_txs);
    }
    return BM_OK;
}

int bm_validate_header_data(const struct bm_header *h,
                            const struct bm_data *d, struct bm_errmsg *em)
{
    return header_data(h, d, true, em);
}

int bm_validate_header_data_own(const struct bm_header *h,
                                const struct bm_data *d,
                                struct bm_errmsg *em)
{
    return header_data(h, d, false, em);
}

int bm_assert_expected_proposer(const struct bm_state *state,
                                const struct bm_buf *genesis_proposer,
                                const struct bm_header *h,
                                struct bm_errmsg *em)
{
    const struct bm_buf *want = NULL;
    const char *src = NULL;
    struct hexstr a, b;

    if (state != NULL && state->next_proposer_address.len != 0) {
        want = &state->next_proposer_address;
        src = "state.next_proposer_address";
    } else if (genesis_proposer != NULL && genesis_proposer->len != 0) {
        want = genesis_proposer;
        src = "genesis proposer";
    }
    if (want == NULL || bm_buf_eq(&h->proposer_address, want)) {
        return BM_OK;
    }
    return bm_errf(em, BM_ENOT_PROPOSER,
                   "header.proposer_address: got %s, want %s (%s)",
                   bufhex(&a, &h->proposer_address), bufhex(&b, want), src);
}

/*
 * True if the state's last block time (a protobuf Timestamp, possibly not
 * normalised) is strictly after the header time in Unix ns.
 */
static bool state_time_after(const struct bm_timestamp *ts, uint64_t t_ns)
{
    int64_t sec = ts->seconds;
    int64_t nanos = ts->nanos;
    uint64_t hs = t_ns / NS_PER_S, hn = t_ns % NS_PER_S;

    /* Normalise like Go's time.Unix(sec, nanos). */
    if (__builtin_add_overflow(sec, nanos / (int64_t)NS_PER_S, &sec)) {
        return nanos > 0; /* beyond any representable header time */
    }
    nanos %= (int64_t)NS_PER_S;
    if (nanos < 0) {
        nanos += (int64_t)NS_PER_S;
        if (__builtin_sub_overflow(sec, 1, &sec)) {
            return false;
        }
    }
    if (sec < 0) {
        return false;
    }
    if ((uint64_t)sec != hs) {
        return (uint64_t)sec > hs;
    }
    return (uint64_t)nanos > hn;
}

int bm_assert_valid_sequence(const struct bm_state *state,
                             const struct bm_header *h,
                             enum bm_seq_flags flags, bool *tolerated,
                             struct bm_errmsg *em)
{
    struct hexstr a, b;

    if (tolerated != NULL) {
        *tolerated = false;
    }
    if (!str_eq(h->chain_id, state->chain_id)) {
        return bm_errf(em, BM_ECHAIN_ID_MISMATCH,
                       "header.chain_id: got \"%.128s\", want \"%.128s\" "
                       "(state.chain_id)",
                       str_or_empty(h->chain_id),
                       str_or_empty(state->chain_id));
    }
    if (state->last_header_hash.len == 0) {
        return BM_OK; /* fresh state: nothing to link to */
    }
    if (state->last_block_height == UINT64_MAX ||
        h->height != state->last_block_height + 1) {
        return bm_errf(em, BM_EHEIGHT_MISMATCH,
                       "header.height: got %" PRIu64 ", want %" PRIu64
                       " (state.last_block_height + 1)",
                       h->height, state->last_block_height + 1);
    }
    if (state_time_after(&state->last_block_time, h->time)) {
        return bm_errf(em, BM_ETIME_NOT_MONOTONIC,
                       "header.time: got %" PRIu64 ", want >= %" PRId64
                       ".%09" PRId32 " s (state.last_block_time)",
                       h->time, state->last_block_time.seconds,
                       state->last_block_time.nanos);
    }
    if (!bm_buf_eq(&h->last_header_hash, &state->last_header_hash)) {
        if ((flags & BM_SEQ_TOLERATE_LAST_HASH_ONCE) == 0) {
            return bm_errf(em, BM_ELAST_HEADER_HASH,
                           "header.last_header_hash: got %s, want %s "
                           "(state.last_header_hash)",
                           bufhex(&a, &h->last_header_hash),
                           bufhex(&b, &state->last_header_hash));
        }
        if (tolerated != NULL) {
            *tolerated = true;
        }
    }
    if (!bm_buf_eq(&h->app_hash, &state->app_hash)) {
        if (tolerated != NULL) {
            *tolerated = false; /* the block is rejected anyway */
        }
        return bm_errf(em, BM_EAPP_HASH_MISMATCH,
                       "header.app_hash: got %s, want %s (state.app_hash)",
                       bufhex(&a, &h->app_hash), bufhex(&b, &state->app_hash));
    }
    return BM_OK;
}

int bm_envelope_validate(const struct bm_da_header_envelope *e, bool strict,
                         bool *is_envelope, struct bm_errmsg *em)
{
    struct hexstr a, b;

    if (is_envelope != NULL) {
        *is_envelope = false;
    }
    if (e->envelope_signature.len == 0) {
        if (strict) {
            return bm_errf(em, BM_ENO_SIGNATURE,
                           "envelope.envelope_signature: got (empty), want "
                           "non-empty (strict mode)");
        }
        return BM_OK; /* legacy SignedHeader blob */
    }
    if (!e->sh.signer.has_pub_key) {
        return bm_errf(em, BM_ENO_PUBKEY,
                       "envelope.signer.pub_key: got (empty), want an "
                       "Ed25519 key");
    }
    if (!bm_da_header_envelope_verify_signature(e)) {
        return bm_errf(em, BM_EENVELOPE_SIGNATURE,
                       "envelope.envelope_signature: %s does not verify with "
                       "signer.pub_key %s over the signed header bytes",
                       bufhex(&a, &e->envelope_signature),
                       hexs(&b, e->sh.signer.pub_key, BM_PUBKEY_SIZE));
    }
    if (is_envelope != NULL) {
        *is_envelope = true;
    }
    return BM_OK;
}
