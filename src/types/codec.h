/*
 * Internal protobuf glue shared by the src/types sources (not a public API).
 *
 * Decoding is two passes over untrusted bytes: bm__wire_check() walks the
 * wire format against a small schema (field number -> wire type, caps,
 * sub-message) and classifies errors precisely (BM_ETRUNCATED, BM_EWIRETYPE,
 * BM_EVARINT, BM_ETOOBIG, BM_EDECODE) before protobuf-c allocates anything;
 * then protobuf-c unpacks with an allocator that goes through bm_malloc.
 * Encoding builds protobuf-c structs that BORROW the caller's buffers and
 * packs them into an owned struct bm_buf.
 */
#ifndef BM_TYPES_CODEC_H
#define BM_TYPES_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"
#include "batch.pb-c.h"
#include "evnode.pb-c.h"
#include "p2p.pb-c.h"
#include "state.pb-c.h"

/* Wire schemas, one per message we decode (defined in codec.c). */
struct bm__msg_schema;
extern const struct bm__msg_schema bm__schema_header;
extern const struct bm__msg_schema bm__schema_signed_header;
extern const struct bm__msg_schema bm__schema_envelope;
extern const struct bm__msg_schema bm__schema_p2p_signed_header;
extern const struct bm__msg_schema bm__schema_data;
extern const struct bm__msg_schema bm__schema_signed_data;
extern const struct bm__msg_schema bm__schema_p2p_data;
extern const struct bm__msg_schema bm__schema_state;
extern const struct bm__msg_schema bm__schema_batch;
extern const struct bm__msg_schema bm__schema_raft_block_state;

/*
 * Validates p[0..n) against schema without allocating: BM_OK, or
 * BM_ETOOBIG (input, tx, tx count, hash field, chain id, legacy section
 * caps), BM_ETRUNCATED, BM_EWIRETYPE, BM_EVARINT, BM_EDECODE (field number
 * 0, invalid UTF-8 in a string). Borrows p.
 */
enum bm_err bm__wire_check(const struct bm__msg_schema *schema,
                           const uint8_t *p, size_t n);

/* protobuf-c allocator over bm_malloc/bm_free that records allocation
 * failure, so a failed unpack can be told apart (ENOMEM vs EDECODE). */
struct bm__pballoc {
    ProtobufCAllocator a;
    bool oom;
};

void bm__pballoc_init(struct bm__pballoc *pa);

/*
 * bm__wire_check() then protobuf-c unpack. On success *out is owned by the
 * caller and freed with bm__pb_free(). Borrows p.
 */
enum bm_err bm__unpack(const ProtobufCMessageDescriptor *desc,
                       const struct bm__msg_schema *schema, const uint8_t *p,
                       size_t n, ProtobufCMessage **out);
/* Frees a message returned by bm__unpack (NULL-safe). */
void bm__pb_free(ProtobufCMessage *m);

/* Packs m into *out (released first); BM_ETOOBIG above BM_MAX_MESSAGE_SIZE,
 * BM_ENOMEM. Borrows m. */
enum bm_err bm__pack(const ProtobufCMessage *m, struct bm_buf *out);

/* A ProtobufCBinaryData view of b (borrows b). */
ProtobufCBinaryData bm__bin(const struct bm_buf *b);
/* Copies a protobuf-c bytes value into *out (released first). */
enum bm_err bm__bin_copy(struct bm_buf *out, const ProtobufCBinaryData *d);
/* Copies a protobuf-c string (NULL or "" gives NULL) into *out. */
enum bm_err bm__str_copy(char **out, const char *s);
/* A protobuf-c string view: s, or the shared empty string for NULL. */
char *bm__str(const char *s);

/* Appends a varint / tag / length-delimited field to d. */
enum bm_err bm__put_varint(struct bm_dynbuf *d, uint64_t v);
enum bm_err bm__put_tag(struct bm_dynbuf *d, uint32_t field, unsigned wt);
enum bm_err bm__put_bytes_field(struct bm_dynbuf *d, uint32_t field,
                                const uint8_t *p, size_t n);
/* Reads a varint at p[*pos..n): BM_ETRUNCATED or BM_EVARINT on error. */
enum bm_err bm__get_varint(const uint8_t *p, size_t n, size_t *pos,
                           uint64_t *v);

/* ---- per-type glue between our structs and protobuf-c structs ---- */

/* protobuf-c view of a header; legacy fields become unknown fields. */
struct bm__pb_header {
    Evnode__V1__Header h;
    Evnode__V1__Version v;
    ProtobufCMessageUnknownField uf[3];
};

/* Fills *ph borrowing h; with_legacy re-emits fields 5/7/9 (allocates).
 * Release with bm__pb_header_clear even on error. */
enum bm_err bm__header_to_pb(struct bm__pb_header *ph,
                             const struct bm_header *h, bool with_legacy);
void bm__pb_header_clear(struct bm__pb_header *ph);
/* Copies a decoded protobuf-c header (and its legacy unknown fields). */
enum bm_err bm__header_from_pb(struct bm_header *out,
                               const Evnode__V1__Header *ph);

struct bm__pb_signer {
    Evnode__V1__Signer s;
    uint8_t key[BM_LIBP2P_PUBKEY_SIZE];
};

void bm__signer_to_pb(struct bm__pb_signer *ps, const struct bm_signer *s);
/* Go FromProto rules: empty pub_key -> empty signer; BM_EBADKEY. */
enum bm_err bm__signer_from_pb(struct bm_signer *out,
                               const Evnode__V1__Signer *ps);

struct bm__pb_data {
    Evnode__V1__Data d;
    Evnode__V1__Metadata m;
    ProtobufCBinaryData *txs; /* allocated */
};

/* with_metadata false gives Data{txs only}. Release with
 * bm__pb_data_clear even on error. */
enum bm_err bm__data_to_pb(struct bm__pb_data *pd, const struct bm_data *d,
                           bool with_metadata);
void bm__pb_data_clear(struct bm__pb_data *pd);
enum bm_err bm__metadata_from_pb(struct bm_metadata *out,
                                 const Evnode__V1__Metadata *pm);
/*
 * Moves a protobuf-c repeated bytes list into an owned array. Takes
 * ownership of the non-empty values of src (they were allocated by our
 * bm__pballoc allocator, so bm_free frees them) and sets their data to NULL
 * so protobuf-c's free skips them; this saves a copy of every tx.
 */
enum bm_err bm__txs_from_pb(struct bm_buf **txs, size_t *n_txs,
                            ProtobufCBinaryData *src, size_t n);
/* Views of a tx array (allocates the view array; bm_free it). */
enum bm_err bm__txs_to_pb(ProtobufCBinaryData **out, const struct bm_buf *txs,
                          size_t n);
void bm__txs_release(struct bm_buf **txs, size_t *n_txs);
/* Data bytes with or without metadata (the latter for DACommitment). */
enum bm_err bm__data_encode(const struct bm_data *d, bool with_metadata,
                            struct bm_buf *out);

#endif /* BM_TYPES_CODEC_H */
