/*
 * FloodSub RPCs (`/floodsub/1.0.0`, spec section 8): the protobuf codec,
 * StrictSign signing and verification, message IDs. Sans-IO: no host, no
 * allocation except where an output buffer is returned.
 *
 * Wire (PS pb/rpc.proto, proto2):
 *   RPC     { repeated SubOpts subscriptions = 1; repeated Message publish = 2;
 *             control = 3; partial = 10 }                 3, 10: skipped
 *   SubOpts { bool subscribe = 1; string topicid = 2; 3, 4 }  3, 4: skipped
 *   Message { bytes from = 1; bytes data = 2; bytes seqno = 3;
 *             string topic = 4; bytes signature = 5; bytes key = 6 }
 * Unknown fields are skipped everywhere (Go's SubOpts form, ending
 * `18 00 20 00`, is accepted). A known field with the wrong wire type
 * makes the whole RPC invalid, as in Go, and so does any malformed field.
 * A repeated scalar field keeps its last value (protobuf semantics).
 * Frames on the stream are uvarint(len) || RPC (varint.h), with the cap
 * checked before decoding.
 *
 * Signing (spec 8.4, 11.2): signed bytes = "libp2p-pubsub:" || Message
 * with fields 1, 2, 3, 4 only, in that order; the signature is Ed25519 by
 * the author's identity key; we send Message{1, 2, 3, 4, 5} without
 * `key`, seqno 8 bytes big-endian.
 *
 * Verification (spec 8.5 step 5): `from` must be an Ed25519 peer ID; a
 * `key`, if present, must be that same key; the signature must verify over
 * "libp2p-pubsub:" || the re-encoding of the received Message without
 * fields 5 and 6: fields 1-4 in ascending order, each only if present
 * (last value wins), then every unknown field in received order. That is
 * what gogo-protobuf produces, so a message from a newer Go node with
 * extra fields still verifies.
 *
 * Thread-safety: reentrant; no shared state.
 */
#ifndef BM_P2P_FLOODSUB_RPC_H
#define BM_P2P_FLOODSUB_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"
#include "p2p/peerid.h"

#define BM_FLOODSUB_PROTOCOL "/floodsub/1.0.0"
/* ev-node's frame limit: DefaultMaxBlobSize, excluding the varint. */
#define BM_FLOODSUB_MAX_RPC_DEFAULT ((size_t)5242880)
#define BM_FLOODSUB_SIGN_PREFIX "libp2p-pubsub:"
#define BM_FLOODSUB_SIGN_PREFIX_LEN 14u
#define BM_FLOODSUB_SEQNO_SIZE 8u
/* Longest topic we publish to or record for a peer (ev-node's are ~50). */
#define BM_FLOODSUB_TOPIC_MAX 1024u
/* Largest message ID: from (38) || seqno; a longer seqno is hashed
 * anyway by the seen cache, this only bounds what we copy. */
#define BM_FLOODSUB_SEQNO_MAX 256u

/* One SubOpts entry; topic points into the RPC. */
struct bm_floodsub_subopt {
    bool subscribe;
    bool has_topic;
    const uint8_t *topic;
    size_t topic_len;
};

/* One Message, as received; every pointer points into the RPC bytes and is
 * valid as long as they are. */
struct bm_floodsub_wire {
    const uint8_t *raw;     /* the whole encoded Message */
    size_t raw_len;
    bool has_from, has_data, has_seqno, has_topic, has_signature, has_key;
    const uint8_t *from;
    size_t from_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *seqno;
    size_t seqno_len;
    const uint8_t *topic;
    size_t topic_len;
    const uint8_t *signature;
    size_t signature_len;
    const uint8_t *key;
    size_t key_len;
};

/*
 * Checks a whole RPC body p[0..n) (borrowed, untrusted; no length prefix):
 * every field, every SubOpts and every Message. Counts the entries into
 * *n_subs and *n_msgs (either may be NULL). Errors: BM_EDECODE,
 * BM_EWIRETYPE (a known field with another wire type), BM_ETRUNCATED,
 * BM_EVARINT. Nothing is processed from an RPC that fails this check.
 */
enum bm_err bm_floodsub_rpc_check(const uint8_t *p, size_t n, size_t *n_subs,
                                  size_t *n_msgs);

/* Walks the entries of an RPC that passed bm_floodsub_rpc_check. */
struct bm_floodsub_rpc_iter {
    const uint8_t *p;
    size_t n;
    size_t pos;
};

void bm_floodsub_rpc_iter_init(struct bm_floodsub_rpc_iter *it,
                               const uint8_t *p, size_t n);
/* The next SubOpts into *out: true, or false at the end. */
bool bm_floodsub_rpc_next_sub(struct bm_floodsub_rpc_iter *it,
                              struct bm_floodsub_subopt *out);
/* The next Message into *out: true, or false at the end. */
bool bm_floodsub_rpc_next_msg(struct bm_floodsub_rpc_iter *it,
                              struct bm_floodsub_wire *out);

/* Decodes one Message body p[0..n) (borrowed) into *out (views into p).
 * Errors as bm_floodsub_rpc_check. */
enum bm_err bm_floodsub_msg_decode(const uint8_t *p, size_t n,
                                   struct bm_floodsub_wire *out);

/*
 * The bytes the signature covers: "libp2p-pubsub:" || the re-encoding of
 * m without fields 5 and 6 (rules above), into *out (released first;
 * returns owned). Errors: BM_ENOMEM, BM_EDECODE (m->raw is malformed).
 */
enum bm_err bm_floodsub_signed_bytes(const struct bm_floodsub_wire *m,
                                     struct bm_buf *out);

/*
 * StrictSign verification of m (borrowed). On BM_OK *from is the author.
 * Errors: BM_ENO_SIGNATURE (no signature field), BM_EDECODE (`from`
 * absent or not an Ed25519 peer ID; `key` not a PublicKey), BM_EUNSUPPORTED
 * (another key type), BM_EPEER_MISMATCH (`key` is not the key of `from`),
 * BM_EBAD_SIGNATURE (not 64 bytes or does not verify), BM_ENOMEM.
 */
enum bm_err bm_floodsub_verify(const struct bm_floodsub_wire *m,
                               struct bm_peer_id *from);

/*
 * The message ID, from || seqno (Go's DefaultMsgIdFn; ev-node passes it
 * explicitly), into out (room for BM_PEER_ID_SIZE + BM_FLOODSUB_SEQNO_MAX)
 * and its length in *len. BM_ETOOBIG if the seqno is longer than
 * BM_FLOODSUB_SEQNO_MAX or `from` longer than a peer ID.
 */
#define BM_FLOODSUB_MSG_ID_MAX (BM_PEER_ID_SIZE + BM_FLOODSUB_SEQNO_MAX)
enum bm_err bm_floodsub_msg_id(const struct bm_floodsub_wire *m,
                               uint8_t out[BM_FLOODSUB_MSG_ID_MAX],
                               size_t *len);

/* Size of the frame bm_floodsub_frame_publish_signed writes for a topic of
 * topic_len bytes and data_len bytes of data: uvarint(len) excluded in
 * *rpc_len, included in the return value. */
size_t bm_floodsub_publish_size(size_t topic_len, size_t data_len,
                                size_t *rpc_len);

/*
 * Builds the framed RPC{publish: [Message{from, data, seqno, topic,
 * signature}]} authored and signed by key (borrowed), into *out (released
 * first; returns owned). topic[0..topic_len) and data[0..data_len) are
 * borrowed. Errors: BM_EINVAL (topic empty or above BM_FLOODSUB_TOPIC_MAX),
 * BM_ETOOBIG (the RPC would exceed max_rpc), BM_ENOMEM, BM_ECRYPTO.
 */
enum bm_err bm_floodsub_frame_publish_signed(
    const struct bm_privkey *key, const uint8_t seqno[BM_FLOODSUB_SEQNO_SIZE],
    const uint8_t *topic, size_t topic_len, const uint8_t *data,
    size_t data_len, size_t max_rpc, struct bm_buf *out);

/*
 * Frames an already encoded Message msg[0..len) (borrowed; forwarded
 * unchanged) as uvarint(len) || RPC{publish: [msg]} into *out (released
 * first; returns owned). BM_ENOMEM, BM_ETOOBIG (the RPC would exceed
 * max_rpc).
 */
enum bm_err bm_floodsub_frame_forward(const uint8_t *msg, size_t len,
                                      size_t max_rpc, struct bm_buf *out);

/*
 * Frames RPC{subscriptions: [{subscribe, topicid}...]} for n topics
 * (topics[i] NUL-terminated, borrowed) with fields 1 and 2 only (the js
 * and C form of spec 11.2). n == 0 gives an empty buffer. BM_ENOMEM,
 * BM_ETOOBIG (above max_rpc).
 */
enum bm_err bm_floodsub_frame_subs(const char *const *topics, size_t n,
                                   bool subscribe, size_t max_rpc,
                                   struct bm_buf *out);

#endif /* BM_P2P_FLOODSUB_RPC_H */
