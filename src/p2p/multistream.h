/*
 * multistream-select 1.0 (spec section 3): protocol negotiation on a raw
 * TCP connection (security: "/noise"), inside Noise when no muxer was
 * agreed early ("/yamux/1.0.0"), and on every yamux stream.
 *
 * Messages are uvarint(n) || token || '\n' with n = len(token) + 1 and
 * 1 <= n <= 1024 (Go's limit). The first message each way is the header
 * "/multistream/1.0.0"; "na" means "not available"; anything else is a
 * protocol ID, compared byte for byte.
 *
 * Sans-IO state machine, one per negotiation, both roles:
 *  - Responder (TCP listener, acceptor of a stream): writes the header at
 *    once, checks the peer's header, then answers each proposal with an
 *    echo (a protocol of its list: done) or "na" (anything else, including
 *    "/tls/1.0.0" and "ls", which Go also answers with "na"). More than
 *    BM_MULTISTREAM_NA_MAX unsupported proposals: BM_EPROTO.
 *  - Initiator (TCP dialer, opener of a stream): writes header || first
 *    proposal in one piece (Go's eager form), reads the header and the
 *    answer; after "na" proposes the next one; when all are refused,
 *    BM_ENOPROTO (on a yamux stream the host then resets the stream with
 *    code 0x1001, spec 3.3).
 *  - Lazy initiator (one protocol): writes header || proposal and may send
 *    application bytes right behind them without waiting
 *    (bm_multistream_can_send); the header and the echo are checked when
 *    they arrive, and "na" then fails with BM_ENOPROTO (spec 3.4).
 *
 * Driving it: call bm_multistream_feed() once right after init with no
 * input (to get the opening bytes), then with everything received so far.
 * feed() consumes only whole messages and stops at the end of the line
 * that completes the negotiation: the caller keeps the unconsumed bytes,
 * which are either the start of a message (call again with more) or,
 * once done, the first application bytes (Go pipelines protocol data,
 * and Noise message 1, behind the protocol line; spec 1.1, 3.4). The
 * caller must be able to buffer BM_MULTISTREAM_IN_MAX bytes.
 *
 * Output goes into the caller's buffer: a whole negotiation writes at most
 * BM_MULTISTREAM_OUT_MAX bytes in total, so an out buffer of that size
 * passed to each call is always enough.
 *
 * Error codes (all final: the object is then failed and every later call
 * returns BM_ESTATE): BM_EVARINT (bad length prefix), BM_ETOOBIG (n above
 * 1024), BM_EPROTO (no trailing newline, n = 0, wrong header, unexpected
 * answer, too many proposals), BM_ENOPROTO (initiator: every proposal
 * refused), BM_EINVAL (caller bug: bad init arguments, out buffer too
 * small). The optional struct bm_errmsg names the problem and the token.
 *
 * struct bm_multistream is caller-allocated so the host can embed it in
 * its connection or stream without an allocation; its fields are private.
 * No allocation, no I/O. Not thread-safe: one thread drives one object.
 */
#ifndef BM_P2P_MULTISTREAM_H
#define BM_P2P_MULTISTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_errmsg;

#define BM_MULTISTREAM_ID "/multistream/1.0.0"
/* Largest n in uvarint(n) || token || '\n' (Go, MS multistream.go:291). */
#define BM_MULTISTREAM_LINE_MAX 1024
/* Largest whole message: 2-byte prefix + 1024. */
#define BM_MULTISTREAM_IN_MAX (2 + BM_MULTISTREAM_LINE_MAX)
/* Our own protocol IDs (proposed or accepted) are at most this long. */
#define BM_MULTISTREAM_PROTO_MAX 255
/* At most this many proposals in an initiator's list (they bound the
 * output); a responder accepts up to BM_MULTISTREAM_ACCEPT_MAX protocols
 * (its output does not depend on how many). */
#define BM_MULTISTREAM_PROTOS_MAX 8
#define BM_MULTISTREAM_ACCEPT_MAX 1024
/* Responder: unsupported proposals answered "na" before giving up. */
#define BM_MULTISTREAM_NA_MAX 16
/* Output of a whole negotiation, either role, never exceeds this. */
#define BM_MULTISTREAM_OUT_MAX                                                 \
    (20 + BM_MULTISTREAM_PROTOS_MAX * (2 + BM_MULTISTREAM_PROTO_MAX + 1) +     \
     BM_MULTISTREAM_NA_MAX * 4)

/* Results of bm_multistream_feed() other than errors. */
#define BM_MULTISTREAM_AGAIN 0 /* need more input */
#define BM_MULTISTREAM_DONE 1  /* a protocol was agreed */

enum bm_multistream_role {
    BM_MULTISTREAM_INITIATOR = 1,
    BM_MULTISTREAM_INITIATOR_LAZY = 2,
    BM_MULTISTREAM_RESPONDER = 3,
};

struct bm_multistream {
    /* private */
    const char *const *protos; /* borrowed */
    uint16_t n_protos;
    uint16_t current; /* initiator: proposal in flight; result when done */
    uint8_t role;
    uint8_t state;
    uint8_t n_na;
    bool sent_header;
    bool proposed; /* initiator: current proposal written */
};

/*
 * Prepares *m for a negotiation in `role`. protos[0..n) (borrowed, valid
 * until the negotiation ends) are NUL-terminated protocol IDs of 1..255
 * bytes without '\n': for an initiator the proposals in order of
 * preference (exactly one for INITIATOR_LAZY), for a responder the
 * protocols it accepts. 1 <= n <= BM_MULTISTREAM_PROTOS_MAX for an
 * initiator, BM_MULTISTREAM_ACCEPT_MAX for a responder.
 * BM_EINVAL on bad arguments (then *m is failed).
 */
enum bm_err bm_multistream_init(struct bm_multistream *m,
                                enum bm_multistream_role role,
                                const char *const *protos, size_t n);

/*
 * Runs the negotiation on in[0..in_len) (borrowed; may be empty),
 * writing what must be sent into out[0..out_cap) (out_cap >=
 * BM_MULTISTREAM_OUT_MAX). Sets *consumed (bytes of in used) and
 * *written (bytes of out filled; send them before the application's
 * bytes). Returns BM_MULTISTREAM_AGAIN, BM_MULTISTREAM_DONE (then
 * in[*consumed..) is application data; further calls consume nothing and
 * return DONE), or a negative error (see above; *consumed and *written
 * are still set, and the bytes written, e.g. "na" lines, may be sent).
 */
int bm_multistream_feed(struct bm_multistream *m, const uint8_t *in,
                        size_t in_len, size_t *consumed, uint8_t *out,
                        size_t out_cap, size_t *written, struct bm_errmsg *em);

/* True once a protocol was agreed. */
bool bm_multistream_done(const struct bm_multistream *m);

/*
 * True when the application may write: after DONE, or for a lazy
 * initiator as soon as its proposal was written out by feed().
 */
bool bm_multistream_can_send(const struct bm_multistream *m);

/*
 * The index in protos of the agreed protocol (after DONE; for a lazy
 * initiator also before, 0), or -1 if none yet.
 */
int bm_multistream_selected(const struct bm_multistream *m);

/*
 * Writes one message uvarint(len+1) || token || '\n' for token[0..len)
 * (borrowed; 0 < len <= 1023) into out[0..cap). Returns its size, or
 * BM_EINVAL (bad len) / BM_ETOOBIG (cap too small). For tests and raw
 * writers; the state machine uses it too.
 */
int bm_multistream_put_line(const char *token, size_t len, uint8_t *out,
                            size_t cap);

#endif /* BM_P2P_MULTISTREAM_H */
