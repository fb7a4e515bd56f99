/*
 * identify (`/ipfs/id/1.0.0`, spec section 6): the Identify message and the
 * stream framing around it, sans-IO.
 *
 * Wire: uvarint(len) || Identify, repeated; the responder writes its
 * messages and then half-closes (FIN) — Go waits for that EOF. We send one
 * message of at most BM_IDENTIFY_SEND_MAX bytes (Go's 4 KiB) in
 * field-number order (Go's canonical form, spec 11.4). As a reader we
 * accept up to BM_IDENTIFY_MSGS_MAX messages of at most
 * BM_IDENTIFY_MSG_MAX bytes each (Go's limits), fields in any order, and
 * merge them as Go does: repeated fields append, the last scalar wins.
 * signedPeerRecord (8) and unknown fields are ignored.
 *
 * struct bm_identify is a value type owning its fields: zero-initialise,
 * release with bm_identify_release. Everything a remote sends is
 * untrusted: strings are copied as received (protocol IDs are compared
 * byte for byte, never interpreted), addresses are kept as bytes (decode
 * them with bm_multiaddr_decode, which skips unsupported protocols).
 *
 * Thread-safety: reentrant; no shared state.
 */
#ifndef BM_P2P_IDENTIFY_H
#define BM_P2P_IDENTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

#define BM_IDENTIFY_PROTOCOL "/ipfs/id/1.0.0"
#define BM_IDENTIFY_PROTOCOL_VERSION "ipfs/0.1.0"
#define BM_IDENTIFY_MSG_MAX 8192u  /* bytes of one message we accept */
#define BM_IDENTIFY_SEND_MAX 4096u /* bytes of the message we send */
#define BM_IDENTIFY_MSGS_MAX 10u   /* messages on one stream */

struct bm_identify {
    struct bm_buf public_key;     /* libp2p PublicKey protobuf */
    struct bm_buf *listen_addrs;  /* binary multiaddrs */
    size_t n_listen_addrs;
    char **protocols;             /* NUL-terminated */
    size_t n_protocols;
    struct bm_buf observed_addr;  /* binary multiaddr */
    char *protocol_version;       /* NULL: absent */
    char *agent_version;          /* NULL: absent */
};

/* Frees the fields and zeroes *id. NULL-safe. */
void bm_identify_release(struct bm_identify *id);

/*
 * Encodes *id (borrowed) as one framed message, uvarint(len) || Identify,
 * into *out (released first; returns owned). Absent fields (empty bufs,
 * NULL strings) are omitted. Errors: BM_ETOOBIG (message above
 * BM_IDENTIFY_SEND_MAX), BM_ENOMEM.
 */
enum bm_err bm_identify_encode(const struct bm_identify *id,
                               struct bm_buf *out);

/*
 * Decodes one Identify message body p[0..n) (borrowed, untrusted; no
 * length prefix) and merges it into *acc: repeated fields are appended,
 * present scalars replace. Errors: BM_ETOOBIG (n above
 * BM_IDENTIFY_MSG_MAX), BM_EDECODE (not a valid Identify), BM_ENOMEM;
 * *acc is unchanged on error.
 */
enum bm_err bm_identify_merge(struct bm_identify *acc, const uint8_t *p,
                              size_t n);

/* True if id lists protocol `proto` (NUL-terminated). */
bool bm_identify_has_protocol(const struct bm_identify *id,
                              const char *proto);

/*
 * Incremental reader of an identify stream: feed what arrives, finish at
 * EOF. Holds at most one partial message (BM_IDENTIFY_MSG_MAX + prefix).
 * Zero-initialise; release with bm_identify_reader_release.
 */
struct bm_identify_reader {
    struct bm_identify id; /* merged so far */
    uint8_t *buf;          /* partial message (owned) */
    size_t len;
    unsigned msgs;
};

/*
 * Consumes p[0..n) (borrowed). Errors (the stream should be reset):
 * BM_EVARINT, BM_ETOOBIG (a message above the cap), BM_EDECODE, BM_EPROTO
 * (more than BM_IDENTIFY_MSGS_MAX messages), BM_ENOMEM.
 */
enum bm_err bm_identify_reader_feed(struct bm_identify_reader *r,
                                    const uint8_t *p, size_t n);

/*
 * At EOF: moves the merged result into *out (released first). Errors:
 * BM_ETRUNCATED (a partial message is left), BM_EEMPTY (no message).
 */
enum bm_err bm_identify_reader_finish(struct bm_identify_reader *r,
                                      struct bm_identify *out);

/* Frees the reader's state. NULL-safe. */
void bm_identify_reader_release(struct bm_identify_reader *r);

#endif /* BM_P2P_IDENTIFY_H */
