/*
 * libp2p peer IDs of Ed25519 identities (spec section 2.1, 2.2).
 *
 * A peer ID is the identity multihash of the libp2p PublicKey protobuf:
 * the 38 bytes 00 24 || 08 01 12 20 || pk32. Its text form is base58btc
 * ("12D3KooW..."); the CIDv1 form ("bafz...": multibase 'b', base32 of
 * 01 72 || multihash) is also read and written. The PublicKey protobuf is
 * accepted only in its deterministic 36-byte form 08 01 12 20 || pk32.
 *
 * Everything else is refused with an error that says why:
 *  - BM_EUNSUPPORTED: a well-formed ID or key this node cannot use: a
 *    SHA-256 multihash ID ("Qm...", RSA/ECDSA keys), a secp256k1, ECDSA or
 *    RSA key or identity ID;
 *  - BM_EBADKEY: a malformed PublicKey protobuf, or a key that is not
 *    exactly the canonical 36 bytes;
 *  - BM_EPARSE: text that is not base58btc / base32, or a bad multibase or
 *    CID prefix; BM_ETOOBIG: text or bytes above the size caps below;
 *  - BM_EDECODE: binary that is not a 38-byte Ed25519 identity multihash.
 * An optional struct bm_errmsg (may be NULL) gets a message naming the
 * input and the problem.
 *
 * struct bm_peer_id is a plain value (copy it freely). This module builds
 * on src/keys (bm_peer_id_from_pubkey, bm_peer_id_string in
 * blockv2/keys.h) and src/types (bm_pubkey_libp2p_encode).
 *
 * Thread-safety: pure functions, reentrant; no allocation.
 */
#ifndef BM_P2P_PEERID_H
#define BM_P2P_PEERID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/keys.h"
#include "blockv2/types.h"

struct bm_errmsg;

/* BM_PEER_ID_SIZE (38) and BM_PEER_ID_STR_SIZE (64) come from keys.h. */

/* CIDv1 text: 'b' + base32 of 40 bytes = 65 characters, plus NUL. */
#define BM_PEER_ID_CID_STR_SIZE 72
/* Longest text bm_peer_id_parse looks at; longer input: BM_ETOOBIG. */
#define BM_PEER_ID_TEXT_MAX 128

struct bm_peer_id {
    uint8_t b[BM_PEER_ID_SIZE]; /* 00 24 08 01 12 20 || Ed25519 key */
};

/* The peer ID of an Ed25519 public key (borrowed). */
void bm_peer_id_from_key(struct bm_peer_id *out,
                         const uint8_t pub[BM_PUBKEY_SIZE]);

/* The peer ID of a private key's public half (borrowed). */
void bm_peer_id_from_privkey(struct bm_peer_id *out,
                             const struct bm_privkey *key);

/* The Ed25519 key inside a peer ID: points into id (valid as long as id). */
const uint8_t *bm_peer_id_key(const struct bm_peer_id *id);

/* True when both IDs are the same bytes. */
bool bm_peer_id_eq(const struct bm_peer_id *a, const struct bm_peer_id *b);

/*
 * Binary peer ID (a multihash; the value of a /p2p multiaddr component,
 * FloodSub's `from`) p[0..n) (borrowed) into *out. Accepts exactly the
 * 38 bytes 00 24 08 01 12 20 || key. Errors: BM_EUNSUPPORTED (SHA-256
 * multihash, or an identity multihash of another key type), BM_EDECODE.
 * On error *out is untouched.
 */
enum bm_err bm_peer_id_decode(struct bm_peer_id *out, const uint8_t *p,
                              size_t n, struct bm_errmsg *em);

/*
 * Text peer ID s[0..n) (borrowed, need not be NUL-terminated): base58btc
 * ("12D3KooW...", also "Qm..." which is then refused as unsupported) or
 * CIDv1 with multibase 'b' ("bafz..."). No surrounding white space.
 * Errors: BM_EPARSE, BM_ETOOBIG (n > BM_PEER_ID_TEXT_MAX), and those of
 * bm_peer_id_decode. On error *out is untouched.
 */
enum bm_err bm_peer_id_parse(struct bm_peer_id *out, const char *s, size_t n,
                             struct bm_errmsg *em);

/* Base58btc text ("12D3KooW...", 52 characters) and a NUL into out. */
void bm_peer_id_format(const struct bm_peer_id *id,
                       char out[BM_PEER_ID_STR_SIZE]);

/* CIDv1 text ("bafz...", base32 lower case, no padding) and a NUL. */
void bm_peer_id_format_cid(const struct bm_peer_id *id,
                           char out[BM_PEER_ID_CID_STR_SIZE]);

/*
 * The libp2p PublicKey protobuf p[0..n) (borrowed; from a Noise payload,
 * identify, FloodSub `key`) into the raw Ed25519 key pub. Accepts only the
 * 36 bytes 08 01 12 20 || key. Errors: BM_EUNSUPPORTED (a well-formed
 * header of another key type: RSA, secp256k1, ECDSA), BM_EBADKEY. On error
 * pub is untouched.
 */
enum bm_err bm_peer_id_pubkey_decode(const uint8_t *p, size_t n,
                                     uint8_t pub[BM_PUBKEY_SIZE],
                                     struct bm_errmsg *em);

#endif /* BM_P2P_PEERID_H */
