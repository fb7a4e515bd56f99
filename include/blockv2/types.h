/*
 * Block types of the ev-node protocol (spec ../shared/spec/evnode-protocol.md
 * sections 1, 2 and 14), their canonical encoding, hashes and signature
 * payloads.
 *
 * Memory model. Every struct here is a plain value type that OWNS its
 * buffers (struct bm_buf, char *): zero-initialise it (`= {0}`), fill it by
 * hand or with a *_decode function, and free its contents with the matching
 * *_release function, which leaves it zeroed and reusable. *_copy makes a
 * deep copy. Nothing here is shared or reference counted.
 *
 * Encoding. *_encode produces exactly the bytes Go's proto.Marshal produces
 * for the ev-node message (ascending field order, proto3 zero scalars and
 * empty bytes/strings omitted, present sub-messages always emitted, every
 * tx emitted). Decoders accept any valid protobuf order, skip unknown
 * fields, keep legacy header fields 5/7/9 (see struct bm_header_legacy),
 * and refuse inputs above the caps below with BM_ETOOBIG. A failed decode
 * leaves *out zeroed (nothing to release) and returns BM_EDECODE,
 * BM_ETRUNCATED, BM_EWIRETYPE, BM_EVARINT, BM_EMISSING, BM_EBADKEY,
 * BM_ETOOBIG, BM_ENOMEM, or BM_EINVAL (p == NULL with n > 0). Rules and
 * caps: docs/WIRE.md.
 *
 * Thread-safety: functions are reentrant; a value may be read from several
 * threads at once but not written while read.
 */
#ifndef BM_BLOCKV2_TYPES_H
#define BM_BLOCKV2_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

#define BM_HASH_SIZE 32
#define BM_PUBKEY_SIZE 32      /* raw Ed25519 public key */
#define BM_PRIVKEY_SIZE 64     /* libp2p Ed25519 private key: seed || pub */
#define BM_SIGNATURE_SIZE 64   /* Ed25519 signature */
#define BM_LIBP2P_PUBKEY_SIZE 36 /* 08 01 12 20 || raw key */

/*
 * Decoder caps (documented in docs/WIRE.md). Inputs above them are refused
 * with BM_ETOOBIG before any allocation sized by them.
 */
#define BM_MAX_MESSAGE_SIZE (64u << 20) /* any one encoded object */
#define BM_MAX_TX_SIZE (8u << 20)       /* one transaction */
#define BM_MAX_TXS 1000000u             /* transactions in one Data/Batch */
#define BM_MAX_HASH_FIELD 1024u         /* any hash/address/signature field */
#define BM_MAX_CHAIN_ID 1024u           /* chain id string */
#define BM_MAX_LEGACY_SECTION (1u << 20) /* unknown-field section of Header */

/* A 32-byte hash value (SHA-256). */
struct bm_hash {
    uint8_t b[BM_HASH_SIZE];
};

struct bm_version {
    uint64_t block;
    uint64_t app;
};

/*
 * Header fields 5, 7, 9 of historical (v1) headers. Current ev-node removed
 * them from the schema; a decoder keeps their values (wire type bytes) so the
 * legacy hash and signature payload can be rebuilt (spec 2.1).
 * A decoder sets `present` iff one of the three values is non-empty (Go:
 * Legacy != nil && !Legacy.IsZero()); encoders and the hash treat a header
 * whose three values are all empty as non-legacy even if `present` is set.
 */
struct bm_header_legacy {
    bool present;
    struct bm_buf last_commit_hash;  /* field 5 */
    struct bm_buf consensus_hash;    /* field 7 */
    struct bm_buf last_results_hash; /* field 9 */
};

struct bm_header {
    struct bm_version version;       /* field 1, always emitted */
    uint64_t height;                 /* 2 */
    uint64_t time;                   /* 3, Unix nanoseconds */
    struct bm_buf last_header_hash;  /* 4 */
    struct bm_buf data_hash;         /* 6 */
    struct bm_buf app_hash;          /* 8 */
    struct bm_buf proposer_address;  /* 10 */
    struct bm_buf validator_hash;    /* 11 */
    char *chain_id;                  /* 12, NULL or "" when empty */
    struct bm_header_legacy legacy;  /* 5, 7, 9 (unknown fields) */
};

/*
 * Signer: the raw Ed25519 public key (encoded on the wire in libp2p form,
 * V3) and the address. Following Go's FromProto, a signer whose pub_key is
 * absent decodes as empty (has_pub_key false, address dropped) and encodes
 * as an empty message `1a 00`.
 */
struct bm_signer {
    bool has_pub_key;
    uint8_t pub_key[BM_PUBKEY_SIZE];
    struct bm_buf address;
};

struct bm_signed_header {
    struct bm_header header;   /* 1 */
    struct bm_buf signature;   /* 2 */
    struct bm_signer signer;   /* 3 */
};

/* DAHeaderEnvelope = SignedHeader fields 1-3 + 4 envelope_signature. */
struct bm_da_header_envelope {
    struct bm_signed_header sh;
    struct bm_buf envelope_signature; /* 4 */
};

/* P2PSignedHeader = SignedHeader fields 1-3 + optional 4 da_height_hint. */
struct bm_p2p_signed_header {
    struct bm_signed_header sh;
    bool has_da_height_hint;
    uint64_t da_height_hint;
};

struct bm_metadata {
    char *chain_id;                /* 1 */
    uint64_t height;               /* 2 */
    uint64_t time;                 /* 3, Unix nanoseconds */
    struct bm_buf last_data_hash;  /* 4 */
};

struct bm_data {
    bool has_metadata;             /* field 1 present */
    struct bm_metadata metadata;
    size_t n_txs;                  /* field 2, repeated bytes */
    struct bm_buf *txs;
};

struct bm_signed_data {
    struct bm_data data;       /* 1 */
    struct bm_buf signature;   /* 2 */
    struct bm_signer signer;   /* 3 */
};

/* P2PData = Data fields 1-2 + optional 3 da_height_hint. */
struct bm_p2p_data {
    struct bm_data data;
    bool has_da_height_hint;
    uint64_t da_height_hint;
};

/* google.protobuf.Timestamp */
struct bm_timestamp {
    int64_t seconds;
    int32_t nanos;
};

/* State, current schema (fields 1-6, 8-10; 7 reserved). */
struct bm_state {
    struct bm_version version;           /* 1, always emitted */
    char *chain_id;                      /* 2 */
    uint64_t initial_height;             /* 3 */
    uint64_t last_block_height;          /* 4 */
    struct bm_timestamp last_block_time; /* 5, always emitted */
    uint64_t da_height;                  /* 6 */
    struct bm_buf app_hash;              /* 8 */
    struct bm_buf last_header_hash;      /* 9 */
    struct bm_buf next_proposer_address; /* 10 */
};

/* Sequencer Batch: 1 txs repeated bytes. */
struct bm_batch {
    size_t n_txs;
    struct bm_buf *txs;
};

/* ---- lifecycle: release frees contents and zeroes; copy is deep ---- */

void bm_header_release(struct bm_header *h);
void bm_signer_release(struct bm_signer *s);
void bm_signed_header_release(struct bm_signed_header *sh);
void bm_da_header_envelope_release(struct bm_da_header_envelope *e);
void bm_p2p_signed_header_release(struct bm_p2p_signed_header *p);
void bm_metadata_release(struct bm_metadata *m);
void bm_data_release(struct bm_data *d);
void bm_signed_data_release(struct bm_signed_data *sd);
void bm_p2p_data_release(struct bm_p2p_data *p);
void bm_state_release(struct bm_state *s);
void bm_batch_release(struct bm_batch *b);

/* Deep copies; *dst is released first. BM_ENOMEM leaves *dst zeroed. */
enum bm_err bm_header_copy(struct bm_header *dst, const struct bm_header *src);
enum bm_err bm_signer_copy(struct bm_signer *dst, const struct bm_signer *src);
enum bm_err bm_signed_header_copy(struct bm_signed_header *dst,
                                  const struct bm_signed_header *src);
enum bm_err bm_data_copy(struct bm_data *dst, const struct bm_data *src);
enum bm_err bm_state_copy(struct bm_state *dst, const struct bm_state *src);

/* Appends a copy of tx to d->txs (borrows tx). BM_ETOOBIG past
 * BM_MAX_TXS/BM_MAX_TX_SIZE, BM_EINVAL for tx == NULL with len > 0,
 * BM_ENOMEM; on error d is unchanged. */
enum bm_err bm_data_add_tx(struct bm_data *d, const uint8_t *tx, size_t len);

/* Sets *dst to a copy of the string (NULL allowed: clears). */
enum bm_err bm_str_set(char **dst, const char *src);

/* ---- canonical encoding (Go proto.Marshal bytes); *out released first ---- */

/*
 * Header "binary" form (MarshalBinary): slim known fields in ascending
 * order, then legacy fields 5/7/9 (if present) as trailing unknown fields.
 */
enum bm_err bm_header_encode(const struct bm_header *h, struct bm_buf *out);
/* Slim encoding: known fields only, legacy omitted (spec 2.1, V11). */
enum bm_err bm_header_encode_slim(const struct bm_header *h,
                                  struct bm_buf *out);
/* Legacy encoding: fields 1..12 ascending, height/time tags always written,
 * consensus_hash defaults to 32 zero bytes (spec 2.1, V7, V20). */
enum bm_err bm_header_encode_legacy(const struct bm_header *h,
                                    struct bm_buf *out);
enum bm_err bm_signed_header_encode(const struct bm_signed_header *sh,
                                    struct bm_buf *out);
enum bm_err bm_da_header_envelope_encode(const struct bm_da_header_envelope *e,
                                         struct bm_buf *out);
enum bm_err bm_p2p_signed_header_encode(const struct bm_p2p_signed_header *p,
                                        struct bm_buf *out);
enum bm_err bm_signer_encode(const struct bm_signer *s, struct bm_buf *out);
enum bm_err bm_metadata_encode(const struct bm_metadata *m, struct bm_buf *out);
enum bm_err bm_data_encode(const struct bm_data *d, struct bm_buf *out);
enum bm_err bm_signed_data_encode(const struct bm_signed_data *sd,
                                  struct bm_buf *out);
enum bm_err bm_p2p_data_encode(const struct bm_p2p_data *p, struct bm_buf *out);
enum bm_err bm_state_encode(const struct bm_state *s, struct bm_buf *out);
enum bm_err bm_batch_encode(const struct bm_batch *b, struct bm_buf *out);

/* ---- decoding (untrusted input); *out must be zeroed or released ---- */

enum bm_err bm_header_decode(struct bm_header *out, const uint8_t *p,
                             size_t n);
/* SignedHeader; a missing header field is BM_EMISSING (Go FromProto). */
enum bm_err bm_signed_header_decode(struct bm_signed_header *out,
                                    const uint8_t *p, size_t n);
enum bm_err bm_da_header_envelope_decode(struct bm_da_header_envelope *out,
                                         const uint8_t *p, size_t n);
enum bm_err bm_p2p_signed_header_decode(struct bm_p2p_signed_header *out,
                                        const uint8_t *p, size_t n);
enum bm_err bm_data_decode(struct bm_data *out, const uint8_t *p, size_t n);
enum bm_err bm_signed_data_decode(struct bm_signed_data *out, const uint8_t *p,
                                  size_t n);
enum bm_err bm_p2p_data_decode(struct bm_p2p_data *out, const uint8_t *p,
                               size_t n);
enum bm_err bm_state_decode(struct bm_state *out, const uint8_t *p, size_t n);
enum bm_err bm_batch_decode(struct bm_batch *out, const uint8_t *p, size_t n);

/*
 * v1 last-batch-data list (store metadata key `l`, spec 4.2, V24): per entry
 * LE32 length || bytes; an empty list is the empty string. The entries are
 * the txs of a struct bm_batch. Encode: *out released first; BM_ETOOBIG
 * above BM_MAX_MESSAGE_SIZE. Decode (untrusted): BM_ETRUNCATED,
 * BM_ETOOBIG (entry above BM_MAX_TX_SIZE, more than BM_MAX_TXS entries,
 * input above BM_MAX_MESSAGE_SIZE), BM_ENOMEM; *out released first and left
 * zeroed on error.
 */
enum bm_err bm_last_batch_data_encode(const struct bm_batch *b,
                                      struct bm_buf *out);
enum bm_err bm_last_batch_data_decode(struct bm_batch *out, const uint8_t *p,
                                      size_t n);

/* ---- hashes (spec 2.1, 2.2, 7.1) ---- */

/* SHA-256 of the legacy encoding if a legacy value is non-empty, else of
 * the slim one. */
enum bm_err bm_header_hash(const struct bm_header *h, struct bm_hash *out);
/* SHA-256(0x00 || Data bytes including metadata). */
enum bm_err bm_data_hash(const struct bm_data *d, struct bm_hash *out);
/* SHA-256(0x00 || Data{txs only} bytes): the header's data_hash. */
enum bm_err bm_data_da_commitment(const struct bm_data *d, struct bm_hash *out);
/* Same, over a bare tx list. */
enum bm_err bm_txs_da_commitment(const struct bm_buf *txs, size_t n_txs,
                                 struct bm_hash *out);
/* Sequencer batch hash (V21): SHA-256 over the txs as ev-node defines it. */
enum bm_err bm_batch_hash(const struct bm_batch *b, struct bm_hash *out);

/* DACommitment of an empty tx list: 6e340b9c...a01d (V6). */
extern const struct bm_hash bm_empty_data_hash;

/* True if the header's data_hash marks an empty block (the constant or an
 * empty data_hash, spec 3.5). */
bool bm_header_expects_empty_data(const struct bm_header *h);

/* ---- DA blob sizes of a block this node produces (src/types/blobsize.c) */

/* Bytes a tx of len bytes takes in an encoded Data: field 2's tag, the
 * length varint and the bytes. */
size_t bm_data_tx_wire_size(size_t len);

/*
 * Room for txs in a block whose SignedData blob must fit max_blob bytes:
 * *budget = max_blob minus the most that the rest of a SignedData produced
 * for chain_id (borrowed) can take (metadata with the largest height and
 * time and a 32-byte last data hash, an Ed25519 signature and signer, the
 * Data field's longest length prefix). Txs whose bm_data_tx_wire_size sum
 * to at most *budget always fit. BM_ETOOBIG if max_blob leaves no room for
 * a one-byte tx (*budget = 0), BM_ENOMEM.
 */
enum bm_err bm_signed_data_tx_budget(size_t max_blob, const char *chain_id,
                                     size_t *budget);

/* Longest tx whose bm_data_tx_wire_size fits budget (0 if none). */
size_t bm_data_max_tx_len(size_t budget);

/*
 * Largest DAHeaderEnvelope blob this node makes for chain_id (borrowed)
 * with an app hash of app_hash_len bytes: version, height and time at
 * their longest varints, 32-byte hashes and addresses, Ed25519 signatures
 * and signer. BM_ETOOBIG (app_hash_len above BM_MAX_HASH_FIELD),
 * BM_ENOMEM.
 */
enum bm_err bm_da_header_envelope_max_size(const char *chain_id,
                                           size_t app_hash_len, size_t *out);

/* ---- signature payloads (spec 2.4); *out released first ---- */

/* Default header payload (Go Header.MarshalBinary): the binary form, i.e.
 * the slim bytes for every header without legacy fields. */
enum bm_err bm_header_signature_payload(const struct bm_header *h,
                                        struct bm_buf *out);
/* Data payload: Data bytes with metadata. */
enum bm_err bm_data_signature_payload(const struct bm_data *d,
                                      struct bm_buf *out);
/* DA envelope payload: the SignedHeader bytes (fields 1-3). */
enum bm_err bm_envelope_signature_payload(const struct bm_signed_header *sh,
                                          struct bm_buf *out);

/* ---- keys, addresses, signatures (spec 2.5), via libsodium ---- */

struct bm_privkey {
    uint8_t b[BM_PRIVKEY_SIZE]; /* seed (32) || public key (32) */
};

/* Must be called once before any crypto (idempotent, thread-safe). */
enum bm_err bm_crypto_init(void);

/* Deterministic key from a 32-byte seed (RFC 8032). */
void bm_privkey_from_seed(struct bm_privkey *out, const uint8_t seed[32]);
/* Fresh random key. */
void bm_privkey_generate(struct bm_privkey *out);
/* Public key of a private key. */
void bm_privkey_public(const struct bm_privkey *k,
                       uint8_t pub[BM_PUBKEY_SIZE]);
/* Overwrites the key with zeros (sodium_memzero). */
void bm_privkey_wipe(struct bm_privkey *k);

/* address = SHA-256(raw 32-byte public key) (V2). */
void bm_address_from_pubkey(const uint8_t pub[BM_PUBKEY_SIZE],
                            struct bm_hash *out);
/* libp2p PublicKey protobuf: 08 01 12 20 || key (V3). */
void bm_pubkey_libp2p_encode(const uint8_t pub[BM_PUBKEY_SIZE],
                             uint8_t out[BM_LIBP2P_PUBKEY_SIZE]);
/* Accepts only a well-formed Ed25519 libp2p key; BM_EBADKEY otherwise. */
enum bm_err bm_pubkey_libp2p_decode(const uint8_t *p, size_t n,
                                    uint8_t pub[BM_PUBKEY_SIZE]);

/* Signer for a key: pub key and address = SHA-256(pub). */
enum bm_err bm_signer_from_privkey(struct bm_signer *out,
                                   const struct bm_privkey *k);

/* Ed25519 sign (64-byte signature into *sig, released first). */
enum bm_err bm_sign(const struct bm_privkey *k, const uint8_t *msg,
                    size_t len, struct bm_buf *sig);
/* True if sig is a valid 64-byte Ed25519 signature of msg by pub. */
bool bm_verify(const uint8_t pub[BM_PUBKEY_SIZE], const uint8_t *msg,
               size_t len, const uint8_t *sig, size_t sig_len);

/* Signs the header's default payload and sets sh->signature. */
enum bm_err bm_signed_header_sign(struct bm_signed_header *sh,
                                  const struct bm_privkey *k);
/* Signs the data payload and sets sd->signature. */
enum bm_err bm_signed_data_sign(struct bm_signed_data *sd,
                                const struct bm_privkey *k);
/* Signs the envelope payload and sets e->envelope_signature. */
enum bm_err bm_da_header_envelope_sign(struct bm_da_header_envelope *e,
                                       const struct bm_privkey *k);

/*
 * Verifies sh->signature with sh->signer's key over the payloads current
 * ev-node's ValidateBasic tries, in order: the binary form
 * (bm_header_signature_payload), then the legacy encoding (always tried,
 * as Go does). True if one verifies. False without a public key or with a
 * signature that is not 64 bytes. Allocates; an allocation failure reads
 * as false.
 */
bool bm_signed_header_verify_signature(const struct bm_signed_header *sh);
/*
 * bm_signed_header_verify_signature, and when it verifies over the binary
 * form of a header without legacy fields (the slim encoding), *hash gets
 * Header.Hash() (bm_header_hash) from those very bytes and *has_hash is
 * true: a full node's source checks the signature and learns the hash
 * with one encoding (docs/PERFORMANCE.md "DA catch-up"). Otherwise
 * *has_hash is false and *hash is not written. hash and has_hash may both
 * be NULL. Borrows sh.
 */
bool bm_signed_header_verify_signature_hash(const struct bm_signed_header *sh,
                                            struct bm_hash *hash,
                                            bool *has_hash);
bool bm_signed_data_verify_signature(const struct bm_signed_data *sd);
bool bm_da_header_envelope_verify_signature(
    const struct bm_da_header_envelope *e);

/* ---- RaftBlockState (high availability, docs/HA.md) ---- */

/*
 * ev-node's RaftBlockState (proto/state.proto): the record a leader
 * replicates before a block counts. header is the SignedHeader bytes and
 * data the Data bytes, as stored; timestamp is the header time (ns). Owns
 * its buffers; release frees them and zeroes.
 */
struct bm_raft_block_state {
    uint64_t height;                          /* 1 */
    uint64_t last_submitted_da_header_height; /* 2 */
    uint64_t last_submitted_da_data_height;   /* 3 */
    struct bm_buf hash;                       /* 4, <= BM_MAX_HASH_FIELD */
    uint64_t timestamp;                       /* 5 */
    struct bm_buf header;                     /* 6 */
    struct bm_buf data;                       /* 7 */
};

void bm_raft_block_state_release(struct bm_raft_block_state *s);

/* Go proto.Marshal bytes (ascending fields, zero values omitted). *out
 * is released first (returns owned). BM_ETOOBIG above
 * BM_MAX_MESSAGE_SIZE, BM_ENOMEM. Borrows s. */
enum bm_err bm_raft_block_state_encode(const struct bm_raft_block_state *s,
                                       struct bm_buf *out);

/* Decodes untrusted bytes (borrowed). *out is released first and left
 * zeroed on error: BM_ETRUNCATED, BM_EWIRETYPE, BM_EVARINT, BM_ETOOBIG
 * (input above BM_MAX_MESSAGE_SIZE, hash above BM_MAX_HASH_FIELD),
 * BM_EDECODE, BM_ENOMEM. */
enum bm_err bm_raft_block_state_decode(struct bm_raft_block_state *out,
                                       const uint8_t *p, size_t n);

#endif /* BM_BLOCKV2_TYPES_H */
