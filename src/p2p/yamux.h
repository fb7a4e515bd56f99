/*
 * yamux (`/yamux/1.0.0`) as a sans-IO session: no sockets, no threads, no
 * clock of its own. The caller feeds received plaintext (what Noise
 * decrypted) to bm_yamux_input(), which parses frames and returns one event
 * at a time, and pulls the bytes to send with bm_yamux_output(). Spec:
 * libp2p-subset.md section 5; Go behaviour: go-yamux v5.
 *
 * Frames: a 12-byte big-endian header (version 0, type, flags, stream ID,
 * length) plus, for Data, `length` payload bytes. Types: Data,
 * WindowUpdate, Ping, GoAway; flags SYN, ACK, FIN, RST.
 *
 * Streams
 *  - IDs: the client (the TCP dialer) opens odd IDs from 1, the server even
 *    IDs from 2. A SYN of the wrong parity, for stream 0 or for an ID in use
 *    is a protocol error.
 *  - Opening: bm_yamux_open() queues a WindowUpdate(SYN, extra), as Go
 *    does, where extra is `recv_window` above the initial 256 KiB (0 by
 *    default). An inbound SYN (on a WindowUpdate or a Data frame) is ACKed
 *    at once with WindowUpdate(ACK, extra) and reported as
 *    BM_YAMUX_EV_OPEN.
 *  - Limits: at most `max_streams` live streams (both directions) and at
 *    most `accept_backlog` inbound streams not yet accepted by the caller
 *    (bm_yamux_stream_accept); an inbound SYN beyond either is answered
 *    with RST (code 0x1002, resource limit) and reported as
 *    BM_YAMUX_EV_REFUSED with the reason, so the caller can count it.
 *  - Flow control: windows start at 256 KiB each way; our receive window
 *    is `recv_window` (the SYN or ACK grants the rest). Received Data
 *    beyond the stream's window is a protocol error (GoAway(1)). The window
 *    is re-credited only for bytes the caller declares consumed
 *    (bm_yamux_stream_consumed), with one WindowUpdate once at least half a
 *    window is owed (Go's rule): a caller that stops consuming stops its
 *    peer. Streams this side reset keep their remaining window for a while
 *    (a small ring of recent resets): a peer that keeps sending past it is
 *    also a protocol error; data within it is discarded, as is data for
 *    unknown streams.
 *  - Sending: bm_yamux_stream_write() copies into the stream's queue
 *    (capped by `max_stream_queue`); bm_yamux_output() cuts it into Data
 *    frames of at most `max_data_frame` bytes within the peer's window,
 *    round-robin across streams.
 *  - Closing: bm_yamux_stream_close() half-closes: FIN goes on a
 *    WindowUpdate of its own after the queued data (never on a Data frame:
 *    js-libp2p applies flags before the payload); a stream ends when FIN
 *    went both ways or on RST
 *    (bm_yamux_stream_reset, or the peer's). Ending frees its state.
 *
 * Session: Ping SYN is answered with Ping ACK (same value) ahead of any
 * data; bm_yamux_tick() sends a keepalive Ping after `keepalive_ms`
 * without a received frame and fails with BM_ETIMEDOUT if it is not ACKed
 * within `keepalive_timeout_ms` (Go: 30 s / 10 s). Any GoAway received
 * ends the session (BM_YAMUX_EV_GOAWAY). A protocol error queues
 * GoAway(1) and makes the session refuse further input (sticky).
 *
 * Memory: a session holds its streams (hash table), their send queues
 * (ring buffers that grow to the largest amount queued, no allocation per
 * frame) and a bounded control-frame queue (`max_control` frames; a peer
 * that makes it overflow — e.g. pings without reading — is a protocol
 * error of kind BM_YAMUX_E_CONTROL_FULL).
 *
 * Thread-safety: none; one thread owns a session.
 */
#ifndef BM_P2P_YAMUX_H
#define BM_P2P_YAMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

#define BM_YAMUX_PROTOCOL "/yamux/1.0.0"
#define BM_YAMUX_HEADER_SIZE 12u
#define BM_YAMUX_WINDOW (256u * 1024u)
#define BM_YAMUX_WINDOW_MAX (16u * 1024u * 1024u)

enum bm_yamux_type {
    BM_YAMUX_DATA = 0,
    BM_YAMUX_WINDOW_UPDATE = 1,
    BM_YAMUX_PING = 2,
    BM_YAMUX_GOAWAY = 3,
};

enum bm_yamux_flags {
    BM_YAMUX_SYN = 1u << 0,
    BM_YAMUX_ACK = 1u << 1,
    BM_YAMUX_FIN = 1u << 2,
    BM_YAMUX_RST = 1u << 3,
};

/* GoAway codes (length of a GoAway frame). */
#define BM_YAMUX_GOAWAY_NORMAL 0u
#define BM_YAMUX_GOAWAY_PROTOCOL 1u
#define BM_YAMUX_GOAWAY_INTERNAL 2u

/* go-libp2p stream reset codes (length of a WindowUpdate(RST)). */
#define BM_YAMUX_RESET_NONE 0u
#define BM_YAMUX_RESET_NEGOTIATION 0x1001u
#define BM_YAMUX_RESET_LIMIT 0x1002u
#define BM_YAMUX_RESET_PROTOCOL 0x1004u
#define BM_YAMUX_RESET_GC 0x1006u
#define BM_YAMUX_RESET_SHUTDOWN 0x1007u

/* Why a session failed (event `code` of a BM_EPROTO return). */
enum bm_yamux_error {
    BM_YAMUX_E_NONE = 0,
    BM_YAMUX_E_VERSION,      /* version byte not 0 */
    BM_YAMUX_E_TYPE,         /* type above 3 */
    BM_YAMUX_E_SESSION_ID,   /* Ping/GoAway on a stream, or a stream frame
                              * on stream 0 */
    BM_YAMUX_E_SYN_PARITY,   /* SYN with our parity or for stream 0 */
    BM_YAMUX_E_SYN_DUP,      /* SYN for a stream in use */
    BM_YAMUX_E_WINDOW,       /* Data beyond the receive window */
    BM_YAMUX_E_SEND_WINDOW,  /* WindowUpdate overflowing the send window */
    BM_YAMUX_E_CONTROL_FULL, /* control frame queue overflow */
    BM_YAMUX_E_CLOSED,       /* input after an error or a GoAway */
    BM_YAMUX_E_COUNT,
};

/* Static name of an error kind ("window"), for logs and metrics. */
const char *bm_yamux_error_name(enum bm_yamux_error e);

/* Why an inbound SYN was refused (event `code` of BM_YAMUX_EV_REFUSED). */
enum bm_yamux_refusal {
    BM_YAMUX_REFUSED_LIMIT = 1,   /* max_streams live streams */
    BM_YAMUX_REFUSED_BACKLOG = 2, /* accept_backlog unaccepted streams */
    BM_YAMUX_REFUSED_GOAWAY = 3,  /* we are going away */
};

struct bm_yamux_config {
    bool client;                 /* TCP dialer: odd stream IDs */
    uint32_t max_streams;        /* live streams; 0: 1024 */
    uint32_t accept_backlog;     /* unaccepted inbound streams; 0: 256 */
    uint32_t max_data_frame;     /* Data payload we send; 0: 65524 */
    size_t max_stream_queue;     /* queued send bytes per stream; 0: 16 MiB */
    uint32_t max_control;        /* queued control frames; 0: 4096 */
    uint64_t keepalive_ms;       /* 0: 30000 */
    uint64_t keepalive_timeout_ms; /* 0: 10000 */
    uint32_t recv_window;        /* per-stream receive window; 0 or below
                                  * BM_YAMUX_WINDOW: BM_YAMUX_WINDOW; at
                                  * most BM_YAMUX_WINDOW_MAX */
};

/* Fills *cfg with the defaults (server role). */
void bm_yamux_config_init(struct bm_yamux_config *cfg);

enum bm_yamux_event_type {
    BM_YAMUX_EV_NONE = 0,  /* all input consumed; need more */
    BM_YAMUX_EV_OPEN,      /* inbound stream `sid` (already ACKed) */
    BM_YAMUX_EV_DATA,      /* data/len for `sid` (may be part of a frame) */
    BM_YAMUX_EV_FIN,       /* the peer half-closed `sid` */
    BM_YAMUX_EV_RESET,     /* the peer reset `sid` (`code`); sid is gone */
    BM_YAMUX_EV_ACKED,     /* the peer ACKed our stream `sid` */
    BM_YAMUX_EV_WINDOW,    /* the peer credited `sid`'s send window */
    BM_YAMUX_EV_PING_ACK,  /* Ping ACK with value `code` (any value) */
    BM_YAMUX_EV_GOAWAY,    /* the peer sent GoAway(`code`): session over */
    BM_YAMUX_EV_REFUSED,   /* inbound SYN for `sid` refused: `code` is an
                            * enum bm_yamux_refusal */
};

struct bm_yamux_event {
    enum bm_yamux_event_type type;
    uint32_t sid;
    uint32_t code;
    const uint8_t *data; /* DATA: points into the input, valid until the
                          * caller's input buffer changes */
    size_t len;
    void *user;          /* the stream's user pointer (NULL if none or the
                          * stream is gone) */
};

/* Counters of one session (monotonic). */
struct bm_yamux_stats {
    uint64_t streams_inbound;   /* inbound streams accepted into the table */
    uint64_t streams_outbound;  /* streams we opened */
    uint64_t refused_limit;
    uint64_t refused_backlog;
    uint64_t resets_sent;
    uint64_t resets_received;
    uint64_t pings_answered;
    uint64_t data_discarded;    /* bytes for unknown or reset streams */
    uint32_t live_streams;      /* now */
};

struct bm_yamux;

/* Creates a session (cfg borrowed; NULL: defaults, server role). Returns
 * BM_OK and an owned *out, or BM_ENOMEM. */
int bm_yamux_new(struct bm_yamux **out, const struct bm_yamux_config *cfg);

/* Frees the session and every stream. NULL is a no-op. */
void bm_yamux_free(struct bm_yamux *y);

/*
 * Consumes received bytes p[0..n) (borrowed). Sets *used to the bytes
 * consumed and *ev to the next event: BM_YAMUX_EV_NONE means p was
 * consumed entirely (a partial header is kept inside); any other event
 * must be handled before the next call, which passes p + *used — even when
 * no bytes are left, since one frame may carry several events (SYN, data,
 * FIN): call until BM_YAMUX_EV_NONE. A DATA event's bytes point into p.
 *
 * Returns BM_OK, or BM_EPROTO on a protocol violation (ev->code is an enum
 * bm_yamux_error, ev->sid the stream involved): GoAway(1) is queued for
 * bm_yamux_output and every later call returns BM_EPROTO with
 * BM_YAMUX_E_CLOSED. After an EV_GOAWAY further input is refused the same
 * way. Never blocks.
 */
int bm_yamux_input(struct bm_yamux *y, const uint8_t *p, size_t n,
                   size_t *used, struct bm_yamux_event *ev);

/*
 * Writes whole frames into buf[0..cap) (cap >= BM_YAMUX_HEADER_SIZE + 1):
 * control frames first (ACKs, window updates, ping answers, RSTs, GoAway),
 * then Data frames round-robin within each stream's send window (a frame
 * is cut to fit cap). Returns the bytes written; 0 when there is nothing
 * to send now.
 */
size_t bm_yamux_output(struct bm_yamux *y, uint8_t *buf, size_t cap);

/* True if bm_yamux_output would write something now. */
bool bm_yamux_has_output(const struct bm_yamux *y);

/* Control frames queued and not yet output (the caller may stop reading
 * while many are waiting, so a flood meets backpressure first). */
size_t bm_yamux_control_pending(const struct bm_yamux *y);

/* True while a WindowUpdate crediting a stream (bm_yamux_stream_consumed)
 * is queued and not yet output: its sender may be waiting for it, so the
 * caller writes it before doing more work. At most one per half window of
 * data received, so a peer cannot make it true per frame. */
bool bm_yamux_credit_pending(const struct bm_yamux *y);

/*
 * Opens a stream: allocates the next ID of our parity into *sid and queues
 * WindowUpdate(SYN). Errors: BM_EFULL (max_streams), BM_ECLOSED (session
 * failed or going away), BM_EOVERFLOW (IDs exhausted).
 */
int bm_yamux_open(struct bm_yamux *y, uint32_t *sid);

/*
 * Marks inbound stream sid as accepted by the caller (it leaves the accept
 * backlog). Idempotent. BM_ENOTFOUND if sid is not live.
 */
int bm_yamux_stream_accept(struct bm_yamux *y, uint32_t sid);

/*
 * Queues p[0..n) (borrowed; copied) for sending on sid. Errors:
 * BM_ENOTFOUND (not live), BM_ECLOSED (we half-closed or the session
 * failed), BM_EFULL (the queue would exceed max_stream_queue: nothing is
 * queued), BM_ENOMEM.
 */
int bm_yamux_stream_write(struct bm_yamux *y, uint32_t sid, const uint8_t *p,
                          size_t n);

/* Bytes queued on sid and not yet output (0 if sid is not live). */
size_t bm_yamux_stream_queued(const struct bm_yamux *y, uint32_t sid);

/* Bytes queued on every stream of the session and not yet output. */
size_t bm_yamux_queued_total(const struct bm_yamux *y);

/* Attaches a caller pointer (borrowed; not owned) to sid, reported in
 * every later event of sid. BM_ENOTFOUND if sid is not live. */
int bm_yamux_stream_set_user(struct bm_yamux *y, uint32_t sid, void *user);

/* The pointer attached to sid, or NULL. */
void *bm_yamux_stream_user(const struct bm_yamux *y, uint32_t sid);

/* The peer's remaining window for sid (0 if not live). */
uint32_t bm_yamux_stream_send_window(const struct bm_yamux *y, uint32_t sid);

/*
 * Declares n received bytes of sid consumed: re-credits the window (a
 * WindowUpdate goes out once at least half a window is owed). Unknown sid:
 * BM_ENOTFOUND (harmless: the stream is gone). n larger than what was
 * received and not yet consumed is BM_EINVAL.
 */
int bm_yamux_stream_consumed(struct bm_yamux *y, uint32_t sid, size_t n);

/*
 * Half-closes sid: FIN goes out after the queued data. The stream's state
 * is freed once FIN went both ways (no event: a caller that closed its
 * side and saw BM_YAMUX_EV_FIN knows the stream is over). Errors:
 * BM_ENOTFOUND, BM_ECLOSED (already half-closed).
 */
int bm_yamux_stream_close(struct bm_yamux *y, uint32_t sid);

/*
 * Resets sid with `code` (WindowUpdate(RST, code)), drops its queue and
 * frees it at once (its remaining receive window is remembered, see
 * above). BM_ENOTFOUND if sid is not live.
 */
int bm_yamux_stream_reset(struct bm_yamux *y, uint32_t sid, uint32_t code);

/* True if the peer half-closed sid (false if not live). */
bool bm_yamux_stream_remote_closed(const struct bm_yamux *y, uint32_t sid);

/* Queues Ping(SYN, value). BM_EFULL if the control queue is full,
 * BM_ECLOSED after an error. */
int bm_yamux_ping(struct bm_yamux *y, uint32_t value);

/* Queues GoAway(code); after it no stream may be opened and inbound SYNs
 * are refused. Idempotent (the first code wins). */
void bm_yamux_goaway(struct bm_yamux *y, uint32_t code);

/*
 * Keepalive, called with a monotonic time in ms after input was fed (it
 * notes when a frame was last received) and by bm_yamux_next_tick's
 * time. Queues a keepalive Ping after keepalive_ms without a received
 * frame; returns BM_ETIMEDOUT if the keepalive Ping went unanswered for
 * keepalive_timeout_ms (the caller closes the connection), otherwise
 * BM_OK.
 */
int bm_yamux_tick(struct bm_yamux *y, uint64_t now_ms);

/* When bm_yamux_tick has something to do next (send the keepalive Ping,
 * or give up on it), in its time base: 0 if it has not run since input
 * arrived, UINT64_MAX when nothing will be due (a failed session). */
uint64_t bm_yamux_next_tick(const struct bm_yamux *y);

/* Copies the counters. */
void bm_yamux_stats(const struct bm_yamux *y, struct bm_yamux_stats *out);

/* Encodes one frame header into out (12 bytes). For tests and tools. */
void bm_yamux_header_put(uint8_t out[BM_YAMUX_HEADER_SIZE], uint8_t type,
                         uint16_t flags, uint32_t sid, uint32_t len);

#endif /* BM_P2P_YAMUX_H */
