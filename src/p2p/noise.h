/*
 * Noise for libp2p ("/noise", spec section 4): the XX handshake
 * Noise_XX_25519_ChaChaPoly_SHA256 with libp2p's signed handshake payload
 * and early muxer negotiation, then the transport phase's framing and
 * cipher states. Sans-IO: bytes in, bytes out into caller buffers, no
 * sockets, no threads.
 *
 * Handshake (struct bm_noise_hs, one per connection, opaque):
 *   -> e                     msg 1, empty payload (32 bytes)
 *   <- e, ee, s, es          msg 2, responder's payload
 *   -> s, se                 msg 3, initiator's payload
 * each framed BE16(len) || message. The payload is the protobuf
 * NoiseHandshakePayload{identity_key = 36-byte PublicKey, identity_sig =
 * Ed25519(identity, "noise-libp2p-static-key:" || static X25519 public
 * key), extensions{stream_muxers = ["/yamux/1.0.0"]}}, fields in the order
 * 1, 2, 4 as Go writes them. Primitives are libsodium 1.0.18's: X25519,
 * ChaCha20-Poly1305 IETF (nonce 0^4 || LE64(n)), SHA-256, and HKDF built
 * on HMAC-SHA256. The prologue is empty.
 *
 * On the remote payload, in order (any failure ends the handshake):
 *  1. it decodes: BM_EDECODE;
 *  2. identity_key is an Ed25519 PublicKey: BM_EUNSUPPORTED (another key
 *     type), BM_EBADKEY (malformed or absent);
 *  3. its peer ID equals the expected one, when one is set (always when
 *     dialling a /p2p address): BM_EPEER_MISMATCH;
 *  4. identity_sig verifies over the prefix || the remote static key:
 *     BM_EBAD_SIGNATURE;
 *  5. muxers (spec 4.6): both sides list "/yamux/1.0.0" -> yamux starts at
 *     once (BM_NOISE_MUXER_YAMUX); a side sent no list, an empty one, or
 *     (as Go) one above 100 entries -> multistream inside Noise selects
 *     "/yamux/1.0.0" (BM_NOISE_MUXER_NEGOTIATE); the peer's list lacks
 *     yamux -> BM_ENOMUXER.
 * Other handshake errors: BM_EAUTH (a handshake message fails to
 * decrypt), BM_EPROTO (message too short for its pattern, or message 1
 * shorter than 32 bytes), BM_ECRYPTO (an X25519 result is all zero, or
 * signing failed). A message 1 longer than 32 bytes is accepted and its
 * extra plaintext ignored, as Go does.
 *
 * Transport (struct bm_noise_cipher, one per direction, caller-allocated,
 * fields private): every frame is BE16(len) || ChaCha20-Poly1305(k, n++,
 * ad = empty, plaintext), 16 <= len <= 65535, so a frame carries at most
 * BM_NOISE_PLAINTEXT_MAX bytes; an empty plaintext (a 16-byte frame) is
 * valid. Sealing and opening work in place (one pass over the bytes, no
 * other copy) and never allocate. Errors, each distinct so the host can
 * count them: BM_EPROTO (a frame shorter than its tag), BM_EAUTH (a frame
 * that does not decrypt: wrong key, garbage, reordering, tampering),
 * BM_ETOOBIG (sealing more than 65519 bytes in one frame), BM_EOVERFLOW
 * (the nonce would reach 2^64 - 1). After BM_EAUTH or BM_EOVERFLOW the
 * cipher is failed and every later call returns BM_ESTATE.
 *
 * Secrets (keys, chaining key, DH results) are wiped with sodium_memzero
 * when no longer needed and when the objects are freed/wiped.
 *
 * Thread-safety: one thread drives a handshake or a cipher at a time. No
 * function blocks. Call bm_crypto_init() (blockv2/types.h) once first.
 */
#ifndef BM_P2P_NOISE_H
#define BM_P2P_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"
#include "blockv2/types.h"
#include "p2p/peerid.h"

struct bm_errmsg;

#define BM_NOISE_ID "/noise"
#define BM_NOISE_YAMUX_ID "/yamux/1.0.0"
#define BM_NOISE_SIG_PREFIX "noise-libp2p-static-key:"

/* Transport framing. */
#define BM_NOISE_TAG_SIZE 16
#define BM_NOISE_MSG_MAX 65535 /* largest len in a BE16 prefix */
#define BM_NOISE_PLAINTEXT_MAX (BM_NOISE_MSG_MAX - BM_NOISE_TAG_SIZE)
#define BM_NOISE_FRAME_OVERHEAD (2 + BM_NOISE_TAG_SIZE)
#define BM_NOISE_FRAME_MAX (2 + BM_NOISE_MSG_MAX)

/* Room for the longest handshake message we write, framed (ours are
 * about 220 bytes; test payloads can be longer). */
#define BM_NOISE_HS_OUT_MAX 1024
/* The caller must be able to buffer one whole incoming handshake
 * message: BM_NOISE_FRAME_MAX bytes. */
#define BM_NOISE_HS_IN_MAX BM_NOISE_FRAME_MAX

/* Longest test payload (struct bm_noise_config.payload_override). */
#define BM_NOISE_PAYLOAD_OVERRIDE_MAX 896

/* Results of bm_noise_hs_feed() and bm_noise_open() other than errors. */
#define BM_NOISE_AGAIN 0 /* need more input */
#define BM_NOISE_DONE 1  /* handshake complete / one frame opened */

enum bm_noise_role {
    BM_NOISE_INITIATOR = 1, /* the TCP dialer */
    BM_NOISE_RESPONDER = 2, /* the TCP listener */
};

/* How the stream muxer is chosen once the handshake is done. */
enum bm_noise_muxer {
    BM_NOISE_MUXER_YAMUX = 1,     /* agreed in the handshake: start yamux */
    BM_NOISE_MUXER_NEGOTIATE = 2, /* run multistream "/yamux/1.0.0" inside
                                     Noise, the Noise initiator as the
                                     multistream initiator */
};

struct bm_noise_config {
    enum bm_noise_role role;
    /* Our identity (borrowed; only used inside bm_noise_hs_new). */
    const struct bm_privkey *identity;
    /* The peer the remote must prove (borrowed, copied; NULL: any). */
    const struct bm_peer_id *expected;
    /* Muxers we list in the payload (borrowed; copied into the payload).
     * NULL with n_muxers 0 sends the default ["/yamux/1.0.0"]; tests set
     * no_muxers to send no extensions at all, or pass another list. */
    const char *const *muxers;
    size_t n_muxers;
    bool no_muxers;
    /* Fixed X25519 private keys (32 bytes, borrowed, copied), or NULL for
     * fresh random ones: static_key lets a host reuse one static key;
     * ephemeral_key is for known-answer tests only. */
    const uint8_t *static_key;
    const uint8_t *ephemeral_key;
    /* Tests only: send these bytes (borrowed, copied; at most
     * BM_NOISE_PAYLOAD_OVERRIDE_MAX) as our payload instead of the signed
     * one, to play a misbehaving peer. */
    const uint8_t *payload_override;
    size_t payload_override_len;
};

/* What the handshake proved about the remote (valid after DONE). */
struct bm_noise_remote {
    struct bm_peer_id peer;           /* proven peer ID */
    uint8_t identity[BM_PUBKEY_SIZE]; /* its Ed25519 key */
    uint8_t static_key[32];           /* its X25519 static key */
    enum bm_noise_muxer muxer;
};

/* One direction of the transport phase. Private fields. */
struct bm_noise_cipher {
    uint8_t key[32];
    uint64_t nonce;
    bool failed;
};

struct bm_noise_hs;

/*
 * Creates a handshake in *out (returns owned; free with bm_noise_hs_free)
 * and builds and signs our payload. Errors: BM_EINVAL (bad config:
 * missing identity, a muxer ID above 255 bytes, more than 8 muxers),
 * BM_ECRYPTO (key derivation or signing failed), BM_ENOMEM (the one
 * allocation). On error *out is NULL.
 */
enum bm_err bm_noise_hs_new(const struct bm_noise_config *cfg,
                            struct bm_noise_hs **out);

/* Wipes and frees a handshake. NULL-safe. */
void bm_noise_hs_free(struct bm_noise_hs *hs);

/*
 * Runs the handshake on in[0..in_len) (borrowed; may be empty): consumes
 * whole handshake messages only and writes the messages to send into
 * out[0..out_cap) (out_cap >= BM_NOISE_HS_OUT_MAX). Call it once right
 * after bm_noise_hs_new with no input (the initiator then writes message
 * 1), then with everything received. Sets *consumed and *written (send
 * those bytes even when the result is DONE: the initiator's message 3).
 * Returns BM_NOISE_AGAIN, BM_NOISE_DONE (then in[*consumed..) is already
 * transport frames: Go may send message 3 and the first frames in one
 * segment), or a negative error (see above). After an error the handshake
 * is failed: every later call returns BM_ESTATE.
 */
int bm_noise_hs_feed(struct bm_noise_hs *hs, const uint8_t *in, size_t in_len,
                     size_t *consumed, uint8_t *out, size_t out_cap,
                     size_t *written, struct bm_errmsg *em);

/*
 * After DONE: what the remote proved (*remote) and the transport cipher
 * states, *tx to seal what we send and *rx to open what we receive (Split:
 * the initiator sends with k1, the responder with k2). Wipes the
 * handshake's secrets; the handshake can then only be freed. BM_ESTATE if
 * the handshake is not done.
 */
enum bm_err bm_noise_hs_finish(struct bm_noise_hs *hs,
                               struct bm_noise_remote *remote,
                               struct bm_noise_cipher *tx,
                               struct bm_noise_cipher *rx);

/* The handshake hash h (32 bytes) after DONE, for tests (channel
 * binding). Points into hs; valid until hs is finished or freed. */
const uint8_t *bm_noise_hs_hash(const struct bm_noise_hs *hs);

/*
 * Seals p[0..n) (n <= BM_NOISE_PLAINTEXT_MAX) into one frame at
 * out[0..cap): BE16(n + 16) || ciphertext || tag, cap >= n + 18. p may be
 * out + 2 exactly (in place: the caller writes plaintext after a 2-byte
 * gap and leaves 16 bytes after it); any other overlap is undefined.
 * Returns the frame size (n + 18), or BM_ETOOBIG, BM_EINVAL (cap too
 * small), BM_EOVERFLOW, BM_ESTATE. On error nothing is written and the
 * nonce is unchanged (BM_EOVERFLOW also fails the cipher).
 */
int64_t bm_noise_seal(struct bm_noise_cipher *c, const uint8_t *p, size_t n,
                      uint8_t *out, size_t cap);

/* Bytes needed to seal n bytes as ceil(n / 65519) frames (n = 0: one
 * empty frame). */
size_t bm_noise_sealed_size(size_t n);

/*
 * Seals p[0..n) as consecutive frames of at most 65519 plaintext bytes
 * into out[0..cap) (cap >= bm_noise_sealed_size(n); no overlap). Returns
 * the bytes written, or the errors of bm_noise_seal (frames already
 * written stay valid and are counted in nothing: on error discard out).
 */
int64_t bm_noise_seal_all(struct bm_noise_cipher *c, const uint8_t *p, size_t n,
                          uint8_t *out, size_t cap);

/*
 * Opens the frame at the start of in[0..n). Returns BM_NOISE_AGAIN when
 * the frame is not complete (need more; *consumed = 0), BM_NOISE_DONE
 * with *consumed = frame size and the plaintext at out[0..*plain_len)
 * (out_cap >= frame size - 18; out may be in + 2 exactly, decrypting in
 * place), or BM_EPROTO (len < 16), BM_EAUTH, BM_EOVERFLOW, BM_ESTATE,
 * BM_EINVAL (out_cap too small). in is read through a const pointer but,
 * in place, written through out.
 */
int bm_noise_open(struct bm_noise_cipher *c, const uint8_t *in, size_t n,
                  size_t *consumed, uint8_t *out, size_t out_cap,
                  size_t *plain_len);

/* ---- the handshake payload, on its own (tests, fuzzing) ---- */

/* A decoded NoiseHandshakePayload: views into the decoded bytes. */
struct bm_noise_payload {
    const uint8_t *identity_key; /* NULL if absent */
    size_t identity_key_len;
    const uint8_t *identity_sig; /* NULL if absent */
    size_t identity_sig_len;
    bool has_muxers;  /* a non-empty stream_muxers list, at most 100 */
    bool lists_yamux; /* "/yamux/1.0.0" is in it */
    size_t n_muxers;  /* entries seen (also when above 100) */
};

/*
 * Decodes a NoiseHandshakePayload p[0..n) (borrowed; *out points into
 * it). Proto2 rules as Go's decoder: fields in any order, the last of a
 * repeated scalar field wins, extensions occurring twice merge, unknown
 * fields (and webtransport_certhashes) are skipped. Stricter than Go on
 * one point: a known field with the wrong wire type is BM_EDECODE. Errors:
 * BM_EDECODE, BM_ETRUNCATED, BM_EVARINT. No allocation.
 */
enum bm_err bm_noise_payload_decode(struct bm_noise_payload *out,
                                    const uint8_t *p, size_t n,
                                    struct bm_errmsg *em);

/*
 * Encodes our payload: identity's PublicKey, its signature over the
 * prefix || static_pub, and extensions{stream_muxers = muxers[0..n)}
 * (no extensions field when n_muxers is 0) into out[0..cap). Returns the
 * length, or BM_ETOOBIG (cap), BM_EINVAL (a muxer ID above 255 bytes),
 * BM_ECRYPTO. Borrows everything.
 */
int bm_noise_payload_encode(const struct bm_privkey *identity,
                            const uint8_t static_pub[32],
                            const char *const *muxers, size_t n_muxers,
                            uint8_t *out, size_t cap);

/* Overwrites a cipher state with zeros. NULL-safe. */
void bm_noise_cipher_wipe(struct bm_noise_cipher *c);

#endif /* BM_P2P_NOISE_H */
