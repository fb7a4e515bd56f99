/*
 * Block validation rules of the ev-node protocol (spec
 * ../shared/spec/evnode-protocol.md section 3), current rules plus the v1
 * behaviours a current node still accepts (legacy header fields and the
 * legacy signature payload; equal consecutive block times).
 *
 * Every function is pure: it reads its arguments (borrowed for the call,
 * never kept), touches no global state and returns BM_OK or one specific
 * validation code from include/blockv2/err.h (-60 .. -99), BM_ENOMEM when a
 * payload could not be built. On failure it fills *em (when not NULL) with
 * a message naming the field and both values, e.g.
 *   "header.height: got 7, want 6 (state.last_block_height + 1)"
 * Hashes and addresses appear as lower-case hex (long values are cut after
 * 32 bytes and marked "...(N bytes)").
 *
 * Times are Unix nanoseconds. Functions that compare against the clock take
 * `now_ns` as a parameter so that callers and tests control it; use
 * bm_validate_now_ns() for the wall clock.
 *
 * Thread-safety: all functions are reentrant and never block (signature
 * checks cost one or two Ed25519 verifications). bm_crypto_init() must
 * have been called before any function that verifies a signature.
 */
#ifndef BM_BLOCKV2_VALIDATE_H
#define BM_BLOCKV2_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm_errmsg;

/* Header.ValidateBasic / Data.Validate: max time ahead of now (1 min). */
#define BM_MAX_CLOCK_DRIFT_NS (60ull * 1000000000ull)
/* go-header pre-check: untrusted time <= now + 10 s. */
#define BM_GOHEADER_CLOCK_DRIFT_NS (10ull * 1000000000ull)

/* Wall clock as Unix nanoseconds (CLOCK_REALTIME). */
uint64_t bm_validate_now_ns(void);

/*
 * Header.ValidateBasic (current): proposer_address non-empty
 * (BM_ENO_PROPOSER), time != 0 (BM_ETIME_ZERO), time <= now_ns + 1 min
 * (BM_ETIME_FUTURE). Borrows h.
 */
int bm_header_validate_basic(const struct bm_header *h, uint64_t now_ns,
                             struct bm_errmsg *em);

/*
 * SignedHeader.ValidateBasic (current), in this order:
 * header basic rules; signature non-empty (BM_ENO_SIGNATURE);
 * header.proposer_address == signer.address (BM_EPROPOSER_MISMATCH);
 * signer has a public key (BM_ENO_PUBKEY); signer.address ==
 * SHA-256(pub_key) (BM_EADDRESS_MISMATCH); signature verifies over the
 * header's binary form (slim bytes unless it has legacy fields) or else its
 * legacy encoding, as bm_signed_header_verify_signature() does
 * (BM_EBAD_SIGNATURE; an allocation failure there also reads as this).
 * Borrows sh.
 */
int bm_signed_header_validate_basic(const struct bm_signed_header *sh,
                                    uint64_t now_ns, struct bm_errmsg *em);

/*
 * bm_signed_header_validate_basic, which on BM_OK also gives the header's
 * hash when the signature verified over its slim encoding
 * (bm_signed_header_verify_signature_hash: *has_hash true, *hash written);
 * *has_hash is false otherwise. Borrows sh.
 */
int bm_signed_header_validate_basic_hash(const struct bm_signed_header *sh,
                                         uint64_t now_ns,
                                         struct bm_hash *hash,
                                         bool *has_hash,
                                         struct bm_errmsg *em);

/*
 * bm_signed_header_validate_basic without verifying the signature again:
 * every other rule, in the same order. Only for a header whose signature
 * this process verified already (bm_signed_header_validate_basic, or
 * bm_signed_header_verify_signature) on these very bytes, which did not
 * change since: a full node's source (Retriever, StoreSync) checks each
 * signature once and the Validator trusts that (docs/VALIDATION.md
 * "Each signature once"). Borrows sh.
 */
int bm_signed_header_validate_basic_verified(
    const struct bm_signed_header *sh, uint64_t now_ns, struct bm_errmsg *em);

/*
 * Data.Validate (current): metadata present (BM_ENO_METADATA), chain id
 * non-empty (BM_ECHAIN_ID_EMPTY), height != 0 (BM_EHEIGHT_ZERO), time != 0
 * (BM_ETIME_ZERO), time <= now_ns + 1 min (BM_ETIME_FUTURE). (v1 accepted
 * any Data; a current node does not.) Borrows d.
 */
int bm_data_validate(const struct bm_data *d, uint64_t now_ns,
                     struct bm_errmsg *em);

/*
 * Signature check of a DA data blob (SignedData; current syncer
 * assertValidSignedData, plus the key/address binding of headers):
 * signature non-empty (BM_ENO_SIGNATURE); if expected_proposer is not NULL
 * and not empty, signer.address must equal it (BM_ENOT_PROPOSER); signer has
 * a key (BM_ENO_PUBKEY); signer.address == SHA-256(key)
 * (BM_EADDRESS_MISMATCH); signature over the Data bytes with metadata
 * verifies (BM_EBAD_SIGNATURE). Borrows both.
 */
int bm_signed_data_validate(const struct bm_signed_data *sd,
                            const struct bm_buf *expected_proposer,
                            struct bm_errmsg *em);

/*
 * go-header Verify of a SignedHeader received over P2P (trusted ->
 * untrusted). Pre-checks: same chain id (BM_ECHAIN_ID_MISMATCH); untrusted
 * height > trusted height (BM_EHEIGHT_ORDER); untrusted time not before
 * trusted time (BM_ETIME_NOT_MONOTONIC); untrusted time <= now_ns + 10 s
 * (BM_ETIME_FUTURE). Then, for adjacent heights only (trusted + 1 ==
 * untrusted), untrusted.last_header_hash == Hash(trusted)
 * (BM_ELAST_HEADER_HASH). Current code does not compare proposers here
 * (rotation); use bm_assert_expected_proposer for that. Borrows both.
 */
int bm_signed_header_verify(const struct bm_signed_header *trusted,
                            const struct bm_signed_header *untrusted,
                            uint64_t now_ns, struct bm_errmsg *em);

/*
 * go-header Verify of Data received over P2P: both need metadata
 * (BM_ENO_METADATA); the same pre-checks as above on the metadata chain id,
 * height and time; for adjacent heights untrusted.metadata.last_data_hash ==
 * Data.Hash(trusted) (BM_ELAST_DATA_HASH). Borrows both.
 */
int bm_data_verify(const struct bm_data *trusted,
                   const struct bm_data *untrusted, uint64_t now_ns,
                   struct bm_errmsg *em);

/*
 * types.Validate(header, data): when the data has metadata, its chain id
 * (BM_EDATA_CHAIN_ID), height (BM_EDATA_HEIGHT) and time (BM_EDATA_TIME)
 * equal the header's (last_data_hash is not checked). Then the empty-block
 * rule of spec 3.5: a header whose data_hash is empty or the empty constant
 * expects zero txs (BM_EEMPTY_BLOCK otherwise); any other header needs
 * DACommitment(txs) == data_hash (BM_EDATA_HASH_MISMATCH). Borrows both.
 */
int bm_validate_header_data(const struct bm_header *h,
                            const struct bm_data *d, struct bm_errmsg *em);

/*
 * bm_validate_header_data without recomputing DACommitment(txs): the
 * metadata rules and the empty-block rule only. For the aggregator's own
 * fresh block, whose data_hash was just computed from these very txs (the
 * block is immutable since); never for a block from outside. Borrows both.
 */
int bm_validate_header_data_own(const struct bm_header *h,
                                const struct bm_data *d,
                                struct bm_errmsg *em);

/*
 * AssertExpectedProposer: the expected proposer is
 * state->next_proposer_address when it is set, else genesis_proposer (may
 * be NULL or empty: then nothing is checked). h->proposer_address must
 * equal it (BM_ENOT_PROPOSER). Borrows all.
 */
int bm_assert_expected_proposer(const struct bm_state *state,
                                const struct bm_buf *genesis_proposer,
                                const struct bm_header *h,
                                struct bm_errmsg *em);

enum bm_seq_flags {
    BM_SEQ_NONE = 0,
    /*
     * Current ev-node tolerates ONE last_header_hash mismatch per process
     * (a based -> normal sequencer switch). The caller keeps that "not yet
     * used" bit itself: it passes this flag while the tolerance is
     * unused; when the mismatch is then tolerated the function returns
     * BM_OK and sets *tolerated, and the caller must stop passing the flag.
     */
    BM_SEQ_TOLERATE_LAST_HASH_ONCE = 1 << 0,
};

/*
 * AssertValidSequence (current): header.chain_id == state.chain_id
 * (BM_ECHAIN_ID_MISMATCH). A fresh state (empty last_header_hash) checks
 * nothing more. Otherwise: height == state.last_block_height + 1
 * (BM_EHEIGHT_MISMATCH); state.last_block_time not after header time
 * (BM_ETIME_NOT_MONOTONIC; equal is accepted, as in v1);
 * last_header_hash == state.last_header_hash (BM_ELAST_HEADER_HASH, unless
 * tolerated, see enum bm_seq_flags); app_hash == state.app_hash
 * (BM_EAPP_HASH_MISMATCH). *tolerated (may be NULL) is set to whether the
 * hash mismatch was tolerated. Borrows state and h.
 */
int bm_assert_valid_sequence(const struct bm_state *state,
                             const struct bm_header *h,
                             enum bm_seq_flags flags, bool *tolerated,
                             struct bm_errmsg *em);

/*
 * DA header envelope check (current DA retriever): envelope_signature must
 * be an Ed25519 signature, by the header's signer key, of the re-encoded
 * SignedHeader (fields 1-3). An envelope without envelope_signature is a
 * legacy blob: accepted (BM_OK, *is_envelope = false) unless `strict`
 * (BM_ENO_SIGNATURE). With a signature: signer has a key (BM_ENO_PUBKEY) and
 * the signature verifies (BM_EENVELOPE_SIGNATURE); then *is_envelope = true.
 * is_envelope may be NULL. Borrows e.
 */
int bm_envelope_validate(const struct bm_da_header_envelope *e, bool strict,
                         bool *is_envelope, struct bm_errmsg *em);

#endif /* BM_BLOCKV2_VALIDATE_H */
