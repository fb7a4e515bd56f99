/*
 * The libp2p host: TCP listen/dial (ip4, ip6), the upgrade pipeline
 * (multistream-select "/noise", Noise XX, yamux — early muxer selection or
 * multistream inside Noise), a protocol registry dispatching yamux streams
 * to handlers, identify and ping built in, connection management (one
 * connection per peer as far as we dial, a limit, a gater, redial of
 * configured peers with backoff) and metrics. docs/P2P.md describes the
 * design; libp2p-subset.md the wire.
 *
 * Threading model
 * ---------------
 * One I/O thread runs an epoll loop that owns every socket and every
 * connection's and stream's state. Nothing is shared with the block
 * manager; no lock is held while a handler runs.
 *  - Loop-thread API (handlers, listeners, functions posted with
 *    bm_p2p_host_post): everything on struct bm_p2p_stream and the
 *    bm_p2p_host_*_loop functions. Never call them from another thread.
 *    They never block; handlers must not block either (hand work to an
 *    actor with a tell; see bm_p2p_actor_handler).
 *  - Any-thread API: bm_p2p_host_post, _send, _close_stream,
 *    _reset_stream, _dial, _disconnect, _peers, _stats, _listen_addrs.
 *    They go through one bounded command queue (BM_EFULL when full, never
 *    a wait) and an eventfd that wakes the loop.
 *  - Timers (bm_p2p_host_timer_add): one-shot or periodic callbacks on the
 *    loop thread, cancellable. The loop sleeps until the next deadline —
 *    a timer, a connection or stream deadline, a keepalive, a redial —
 *    or an event; an idle host with nothing due does not wake up.
 *
 * Streams
 * -------
 * A stream is negotiated with multistream-select: inbound streams against
 * the registry (unknown protocols get "na"; too many, a timeout of
 * BM_P2P_NEGOTIATE_MS or garbage reset the stream), outbound ones with one
 * proposal (data written before the echo arrives follows the proposal at
 * once, as Go's lazy negotiation does; "na" resets the stream with
 * 0x1001 and closes it with BM_ENOPROTO). Once negotiated the handler gets
 * on_open, then on_data as bytes arrive (the bytes are valid during the
 * call only), on_eof when the remote half-closes, and exactly one
 * on_close when the stream is over: both sides closed (BM_OK), reset by
 * the remote (BM_ECANCELED), reset by us (BM_ESTOPPED), the connection
 * went away (BM_ECLOSED), a timeout (BM_ETIMEDOUT), failed negotiation
 * (BM_ENOPROTO) or a slow peer (BM_EFULL). on_close is never called from
 * inside a stream function; after it returns the stream pointer is dead.
 *
 * Flow control: received bytes are credited back to the remote's yamux
 * window when on_data returns, unless the handler asked for manual
 * credit (bm_p2p_stream_manual_credit) and credits later with
 * bm_p2p_stream_credit: a handler that cannot take more simply stops
 * crediting and its peer stops sending. Sends are queued per connection
 * up to max_peer_queue bytes: a loop-thread write beyond it fails with
 * BM_EFULL (the handler decides), a bm_p2p_host_send beyond it
 * disconnects the peer (counted as reason "slow_peer") — documented and
 * counted, never a silent loss.
 */
#ifndef BM_P2P_HOST_H
#define BM_P2P_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/actor.h"
#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"
#include "p2p/identify.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"

struct bm_errmsg;
struct bm_p2p_host;
struct bm_p2p_stream;

/* Defaults (Go's values where Go has one: spec section 1.4). */
#define BM_P2P_MAX_CONNECTIONS 128u
/* Inbound connections from one IP address (loopback too), open or still
 * in the upgrade: one address cannot take every slot. */
#define BM_P2P_MAX_INBOUND_PER_IP 8u
#define BM_P2P_CONNS_PER_PEER 3u     /* Go may open two to the same pair */
#define BM_P2P_MAX_PEER_QUEUE ((size_t)32 << 20)
/* Registry size, built-ins included. Identify must also list them all in
 * one message of at most BM_IDENTIFY_SEND_MAX bytes (checked on
 * registration). */
#define BM_P2P_MAX_PROTOCOLS 64u
#define BM_P2P_MAX_TIMERS 65536u     /* pending timers per host */
#define BM_P2P_UPGRADE_MS 15000u     /* multistream + Noise + muxer */
#define BM_P2P_NEGOTIATE_MS 10000u   /* protocol negotiation on a stream */
#define BM_P2P_IDENTIFY_MS 5000u     /* whole identify exchange */
/* Redial of configured peers: the delay before the next attempt starts at
 * the minimum and doubles per failure up to the maximum; each delay is
 * drawn in [d/2, d] (jitter), so a reachable peer is dialled again at most
 * BM_P2P_REDIAL_MAX_MS after it came back. A sign of life (a connection
 * to or from any peer) cuts a waiting peer's delay back to the minimum,
 * at most once per maximum per peer. */
#define BM_P2P_REDIAL_MIN_MS 1000u
#define BM_P2P_REDIAL_MAX_MS 5000u
#define BM_P2P_REDIAL_LIMIT_MS 3600000u /* highest maximum accepted */
#define BM_P2P_MAX_LISTEN 8u
#define BM_P2P_MAX_SEEDS 64u

/* Typed IDs for other threads (STYLE rule 7): a stale ID fails its
 * lookup. conn is a serial number never reused in a host's life. */
struct bm_p2p_conn_id {
    uint64_t v;
};

struct bm_p2p_stream_id {
    uint64_t conn;
    uint32_t sid;
};

struct bm_p2p_handler {
    /* Negotiated (both directions); may be NULL. */
    void (*on_open)(struct bm_p2p_stream *s, void *arg);
    /* Bytes p[0..n), valid during the call only. */
    void (*on_data)(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                    void *arg);
    /* The remote half-closed. May be NULL. */
    void (*on_eof)(struct bm_p2p_stream *s, void *arg);
    /* The queue fell to the low-water mark (bm_p2p_stream_want_writable).
     * May be NULL. */
    void (*on_writable)(struct bm_p2p_stream *s, void *arg);
    /* The stream is over (reason above). Required. */
    void (*on_close)(struct bm_p2p_stream *s, int reason, void *arg);
};

/* Connection events for other layers (FloodSub opens its stream when a
 * peer connects or identifies). Callbacks run on the loop thread; any may
 * be NULL. */
struct bm_p2p_listener {
    void (*on_connected)(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                         const struct bm_peer_id *peer, bool inbound,
                         void *arg);
    void (*on_identified)(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                          const struct bm_peer_id *peer,
                          const struct bm_identify *id, void *arg);
    void (*on_disconnected)(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                            const struct bm_peer_id *peer, int reason,
                            const char *reason_name, void *arg);
};

struct bm_p2p_host_config {
    const struct bm_privkey *identity;    /* required; copied */
    const struct bm_multiaddr *listen;    /* /ip4|ip6/../tcp/..; copied */
    size_t n_listen;                      /* 0: dial only */
    const struct bm_multiaddr *peers;     /* dialable; dialed and redialed */
    size_t n_peers;
    /* Gater (ev-node's blocked/allowed peers), enforced at dial and after
     * the handshake, only when `gater` is true: a blocked peer is refused
     * unless it is also allowed; with a non-empty allowed list every
     * other peer is refused. */
    bool gater;
    const struct bm_peer_id *blocked;
    size_t n_blocked;
    const struct bm_peer_id *allowed;
    size_t n_allowed;
    uint32_t max_connections;      /* 0: BM_P2P_MAX_CONNECTIONS */
    /* Inbound connections from one IP address (counted refusals beyond:
     * handshakes_total{outcome="ip_limit"}); 0: BM_P2P_MAX_INBOUND_PER_IP,
     * UINT32_MAX: no cap. */
    uint32_t max_inbound_per_ip;
    size_t max_peer_queue;         /* 0: BM_P2P_MAX_PEER_QUEUE */
    uint32_t max_streams;          /* per connection; 0: 1024 */
    uint32_t accept_backlog;       /* per connection; 0: 256 */
    const char *agent_version;     /* NULL: "blockv2/<version>"; copied */
    /* Timeouts and backoff in ms; 0: the defaults above. */
    uint64_t upgrade_ms;
    uint64_t negotiate_ms;
    uint64_t identify_ms;
    uint64_t keepalive_ms;         /* 0: 30000 */
    uint64_t keepalive_timeout_ms; /* 0: 10000 */
    uint64_t redial_min_ms;        /* 0: BM_P2P_REDIAL_MIN_MS */
    uint64_t redial_max_ms;        /* 0: BM_P2P_REDIAL_MAX_MS; the
                                      minimum is lowered to it if above */
};

/* Outcomes of the upgrade of one connection (handshakes_total). */
enum bm_p2p_handshake {
    BM_P2P_HS_OK = 0,
    BM_P2P_HS_TIMEOUT,
    BM_P2P_HS_PEER_MISMATCH,
    BM_P2P_HS_NOISE,        /* Noise failed: bad message, auth, signature */
    BM_P2P_HS_NEGOTIATION,  /* multistream: garbage, no common protocol */
    BM_P2P_HS_GATED,
    BM_P2P_HS_CONN_LIMIT,
    BM_P2P_HS_IO,           /* connect failed, reset, EOF */
    BM_P2P_HS_IP_LIMIT,     /* inbound, refused: max_inbound_per_ip */
    BM_P2P_HS_COUNT,
};

/* Why a connection ended (disconnects_total). */
enum bm_p2p_disconnect {
    BM_P2P_DC_LOCAL = 0,      /* we asked (disconnect, shutdown) */
    BM_P2P_DC_EOF,            /* the remote closed TCP */
    BM_P2P_DC_IO,             /* read/write error */
    BM_P2P_DC_GOAWAY,         /* the remote sent yamux GoAway */
    BM_P2P_DC_YAMUX,          /* yamux protocol error (we sent GoAway(1)) */
    BM_P2P_DC_NOISE,          /* a transport frame failed to decrypt */
    BM_P2P_DC_KEEPALIVE,      /* keepalive ping unanswered */
    BM_P2P_DC_SLOW_PEER,      /* its send queue exceeded max_peer_queue */
    BM_P2P_DC_DUPLICATE,      /* a redundant connection to the same peer */
    BM_P2P_DC_COUNT,
};

/* Why an inbound stream was refused or reset before its handler. */
enum bm_p2p_stream_refusal {
    BM_P2P_SR_LIMIT = 0,      /* yamux max_streams */
    BM_P2P_SR_BACKLOG,        /* yamux accept backlog */
    BM_P2P_SR_GOAWAY,         /* the connection is going away */
    BM_P2P_SR_NEGOTIATION,    /* garbage, too many "na", EOF */
    BM_P2P_SR_TIMEOUT,        /* no protocol within negotiate_ms */
    BM_P2P_SR_PING_LIMIT,     /* more than 2 ping streams per peer */
    BM_P2P_SR_COUNT,
};

/* Static names, for metrics labels and logs ("peer_mismatch"). */
const char *bm_p2p_handshake_name(enum bm_p2p_handshake o);
const char *bm_p2p_disconnect_name(enum bm_p2p_disconnect r);
const char *bm_p2p_stream_refusal_name(enum bm_p2p_stream_refusal r);

/* Counters; each is exact (read with relaxed atomics), the set is not one
 * instant. */
struct bm_p2p_stats {
    uint64_t peers;                 /* distinct peers connected now */
    uint64_t connections;           /* connections open now (any state) */
    uint64_t conns_inbound;         /* accepted, total */
    uint64_t conns_outbound;        /* dialled, total */
    uint64_t bytes_in;              /* TCP bytes */
    uint64_t bytes_out;
    uint64_t handshakes[BM_P2P_HS_COUNT];
    uint64_t disconnects[BM_P2P_DC_COUNT];
    uint64_t streams_open;          /* negotiated and not yet closed */
    uint64_t streams_inbound;       /* negotiated, total */
    uint64_t streams_outbound;
    uint64_t streams_refused[BM_P2P_SR_COUNT];
    uint64_t stream_resets_sent;
    uint64_t stream_resets_received;
    uint64_t dials;                 /* attempts, including redials */
    uint64_t dial_failures;
    uint64_t redials;               /* attempts of configured peers after
                                       the first (a failure, a loss) */
    uint64_t redial_resets;         /* waiting redials cut short by a
                                       sign of life */
    uint64_t commands_rejected;     /* any-thread calls refused (full) */
    uint64_t actor_tell_failures;   /* bm_p2p_actor_handler tells refused */
    uint64_t loop_wakeups;          /* returns from epoll_wait, total */
    uint64_t timers_fired;          /* timer callbacks run, total */
};

/* One connected peer (the oldest of its connections). */
struct bm_p2p_peer_info {
    struct bm_peer_id peer;
    char addr[BM_MULTIADDR_STR_SIZE]; /* remote /ip4|ip6/../tcp/.. */
    bool inbound;
    uint32_t connections;
    uint64_t bytes_in;              /* over its connections, now */
    uint64_t bytes_out;
    uint64_t pending_send;          /* queued, not yet sent */
    uint64_t connected_ms;          /* monotonic time of connection */
};

/* Fills *cfg with defaults (no identity: the caller sets it). */
void bm_p2p_host_config_init(struct bm_p2p_host_config *cfg);

/*
 * Creates a stopped host: checks the config, binds the listeners (so the
 * actual ports are known before start) and registers the built-in
 * protocols (identify, ping). cfg and what it points to are borrowed
 * (copied). Returns owned *out. Errors: BM_EINVAL (no identity, a listen
 * address without ip/tcp, a peer address that is not dialable; the
 * message names it), BM_ESYS (socket/bind/listen, with the errno text),
 * BM_ENOMEM. Call bm_crypto_init() first. Any thread.
 */
int bm_p2p_host_new(struct bm_p2p_host **out,
                    const struct bm_p2p_host_config *cfg,
                    struct bm_errmsg *em);

/*
 * Registers a protocol handler before start: inbound streams negotiating
 * `protocol` (copied; 1..255 bytes, no newline) are dispatched to
 * `handler` (borrowed, must outlive the host) with `arg`; identify lists
 * the protocol. Errors: BM_ESTATE (started), BM_EEXIST, BM_EFULL (more
 * than BM_P2P_MAX_PROTOCOLS in all, built-ins included, or our identify
 * message would no longer fit BM_IDENTIFY_SEND_MAX bytes), BM_EINVAL,
 * BM_ENOMEM.
 */
int bm_p2p_host_register(struct bm_p2p_host *h, const char *protocol,
                         const struct bm_p2p_handler *handler, void *arg);

/* Adds a connection listener before start (borrowed; must outlive the
 * host). At most 8. BM_ESTATE after start, BM_EFULL. */
int bm_p2p_host_add_listener(struct bm_p2p_host *h,
                             const struct bm_p2p_listener *l, void *arg);

/* Starts the loop thread; it starts dialling the configured peers.
 * BM_ESTATE if already started, BM_ESYS. Not from the loop thread. */
int bm_p2p_host_start(struct bm_p2p_host *h);

/*
 * Stops: closes every connection (streams get on_close BM_ECLOSED,
 * listeners on_disconnected with BM_P2P_DC_LOCAL) and joins the loop
 * thread. Idempotent. Blocks until the loop has exited; not from the
 * loop thread (BM_EINVAL).
 */
int bm_p2p_host_stop(struct bm_p2p_host *h);

/* Stops if needed, then frees. NULL-safe. Not from the loop thread. */
void bm_p2p_host_free(struct bm_p2p_host *h);

/* Our peer ID. Any thread. */
const struct bm_peer_id *bm_p2p_host_id(const struct bm_p2p_host *h);

/* The node key the host proves in every handshake (the config's
 * identity, copied): for the layers that sign as this peer (FloodSub's
 * StrictSign). Valid until bm_p2p_host_free; never changes. Any thread. */
const struct bm_privkey *bm_p2p_host_identity(const struct bm_p2p_host *h);

/* The bound listen addresses (actual ports, wildcards as configured),
 * without /p2p, into out[0..max). Returns the count. Any thread. */
size_t bm_p2p_host_listen_addrs(const struct bm_p2p_host *h,
                                struct bm_multiaddr *out, size_t max);

/* ---- any thread ---- */

/*
 * Runs fn(h, arg) on the loop thread, in order with other commands.
 * Ownership of arg passes to fn on BM_OK. Errors: BM_EFULL (command
 * queue full), BM_ESTOPPED (host not running; fn is not called).
 */
int bm_p2p_host_post(struct bm_p2p_host *h,
                     void (*fn)(struct bm_p2p_host *h, void *arg),
                     void *arg);

/*
 * Queues data (takes ownership on BM_OK; *data is emptied) for stream id.
 * A stream that is gone by then drops it (the handler saw on_close). A
 * peer whose queue would exceed max_peer_queue is disconnected (reason
 * slow_peer). Errors: BM_EFULL (command queue full), BM_ESTOPPED.
 */
int bm_p2p_host_send(struct bm_p2p_host *h, struct bm_p2p_stream_id id,
                     struct bm_buf *data);

/* Half-closes / resets stream id (no effect if it is gone). Errors:
 * BM_EFULL, BM_ESTOPPED. */
int bm_p2p_host_close_stream(struct bm_p2p_host *h,
                             struct bm_p2p_stream_id id);
int bm_p2p_host_reset_stream(struct bm_p2p_host *h,
                             struct bm_p2p_stream_id id, uint32_t code);

/* Dials ma (dialable; copied) unless already connected or dialling.
 * Errors: BM_EINVAL, BM_EFULL, BM_ESTOPPED. */
int bm_p2p_host_dial(struct bm_p2p_host *h, const struct bm_multiaddr *ma);

/* Closes every connection to peer. Errors: BM_EFULL, BM_ESTOPPED. */
int bm_p2p_host_disconnect(struct bm_p2p_host *h,
                           const struct bm_peer_id *peer);

/* Copies the counters. */
void bm_p2p_host_stats(const struct bm_p2p_host *h, struct bm_p2p_stats *out);

/*
 * The connected peers as other threads see them: a snapshot the loop
 * replaces on every connect and disconnect (before the listeners hear of
 * it), whose byte counters move as bytes do and whose pending_send is
 * exact at the end of each loop turn. On the loop thread use
 * bm_p2p_host_peers_loop (the live list). *out is owned (bm_free), *n
 * entries, NULL when 0. BM_OK or BM_ENOMEM.
 */
int bm_p2p_host_peers(const struct bm_p2p_host *h,
                      struct bm_p2p_peer_info **out, size_t *n);

/* ---- loop thread ---- */

/* Result of a dial: err BM_OK with the proven peer once Noise and yamux
 * are up, or the failure (BM_EPEER_MISMATCH, BM_ECONNECT, BM_ETIMEDOUT,
 * BM_EPERM when gated, BM_EFULL at the connection limit, ...). */
typedef void bm_p2p_dial_cb(struct bm_p2p_host *h, int err,
                            struct bm_p2p_conn_id conn,
                            const struct bm_peer_id *peer, void *arg);

/*
 * Dials ma (borrowed; needs /p2p). force: a new connection even if one
 * exists (benchmarks). cb (may be NULL) is called exactly once, never from
 * inside this call. Returns BM_OK or an immediate error (then cb is not
 * called): BM_EEXIST (already connected; not with force), BM_EBUSY (a dial
 * to that peer is in progress; not with force), BM_EINVAL (not dialable,
 * or ourselves), BM_EPERM (gated), BM_EFULL (connection limit), BM_ESYS,
 * BM_ECONNECT (refused at once), BM_ENOMEM.
 */
int bm_p2p_host_dial_loop(struct bm_p2p_host *h,
                          const struct bm_multiaddr *ma, bool force,
                          bm_p2p_dial_cb *cb, void *arg);

/* Closes one connection (reason local). No effect if it is gone. */
void bm_p2p_host_close_conn_loop(struct bm_p2p_host *h,
                                 struct bm_p2p_conn_id conn);

/* Closes every connection to peer; returns how many. */
size_t bm_p2p_host_disconnect_loop(struct bm_p2p_host *h,
                                   const struct bm_peer_id *peer);

/* True if at least one open (upgraded) connection to peer exists. */
bool bm_p2p_host_connected_loop(struct bm_p2p_host *h,
                                const struct bm_peer_id *peer);

/*
 * The connected peers now (every peer with an open connection, including
 * one that connected during this turn, e.g. from inside on_connected), as
 * bm_p2p_host_peers reports them: *out is owned (bm_free), *n entries,
 * NULL when 0. BM_OK or BM_ENOMEM.
 */
int bm_p2p_host_peers_loop(struct bm_p2p_host *h,
                           struct bm_p2p_peer_info **out, size_t *n);

/*
 * Opens a stream to peer (on its oldest open connection) negotiating
 * `protocol` (borrowed; must stay valid until on_open or on_close: use a
 * string literal or a registry entry). Writes may start at once. handler
 * borrowed (must outlive the stream). Returns the stream (valid until
 * on_close) or an error: BM_ENOTFOUND (not connected), BM_EFULL (stream
 * limit), BM_EINVAL.
 */
int bm_p2p_host_open_stream_loop(struct bm_p2p_host *h,
                                 const struct bm_peer_id *peer,
                                 const char *protocol,
                                 const struct bm_p2p_handler *handler,
                                 void *arg, struct bm_p2p_stream **out);

/* The stream of id, or NULL if it is gone. */
struct bm_p2p_stream *bm_p2p_host_stream_loop(struct bm_p2p_host *h,
                                              struct bm_p2p_stream_id id);

/* Runs identify as client on peer; cb gets the merged result (borrowed,
 * valid during the call) or an error. Called exactly once. */
typedef void bm_p2p_identify_cb(struct bm_p2p_host *h, int err,
                                const struct bm_identify *id, void *arg);
int bm_p2p_host_identify_loop(struct bm_p2p_host *h,
                              const struct bm_peer_id *peer,
                              bm_p2p_identify_cb *cb, void *arg);

/* Pings peer `count` times (1..100) on one /ipfs/ping/1.0.0 stream; cb gets
 * the round-trip times in ns (rtt[0..n), valid during the call) or an
 * error. Called exactly once. */
typedef void bm_p2p_ping_cb(struct bm_p2p_host *h, int err,
                            const uint64_t *rtt_ns, size_t n, void *arg);
int bm_p2p_host_ping_loop(struct bm_p2p_host *h,
                          const struct bm_peer_id *peer, unsigned count,
                          bm_p2p_ping_cb *cb, void *arg);

/* Monotonic time of the loop's current iteration, in ms. */
uint64_t bm_p2p_host_now_ms(const struct bm_p2p_host *h);

/* ---- timers (loop thread) ---- */

/* A pending timer. Zero is never a timer: a zeroed ID is "none". */
struct bm_p2p_timer_id {
    uint64_t v;
};

typedef void bm_p2p_timer_cb(struct bm_p2p_host *h, void *arg);

/*
 * Calls cb(h, arg) on the loop thread delay_ms after now (the loop's
 * time; before bm_p2p_host_start, after the start), then, if period_ms
 * is not 0, every period_ms (a callback that ran late does not make the
 * next ones come sooner: no bursts), until cancelled. The loop sleeps
 * until the earliest timer or other deadline; timers due at the same
 * instant run in the order they were added. arg is borrowed (it must
 * stay valid until the timer fired, for a one-shot, or was cancelled, or
 * the host stopped). Timers still pending when the host stops never run.
 * Call before bm_p2p_host_start or on the loop thread (a callback may add
 * and cancel timers, including its own). *out (may be NULL) gets the ID.
 * Errors: BM_EINVAL (cb NULL), BM_EFULL (BM_P2P_MAX_TIMERS pending),
 * BM_ENOMEM.
 */
int bm_p2p_host_timer_add(struct bm_p2p_host *h, uint64_t delay_ms,
                          uint64_t period_ms, bm_p2p_timer_cb *cb, void *arg,
                          struct bm_p2p_timer_id *out);

/*
 * Cancels timer id: its callback does not run again. Returns true if it
 * was pending; false for a one-shot that already fired (even from inside
 * its own callback), a cancelled or unknown ID, and the zero ID. On the
 * loop thread, or while the loop is not running (before start, after
 * stop). O(pending timers).
 */
bool bm_p2p_host_timer_cancel(struct bm_p2p_host *h,
                              struct bm_p2p_timer_id id);

/* ---- streams (loop thread) ---- */

struct bm_p2p_stream_id bm_p2p_stream_id(const struct bm_p2p_stream *s);
const struct bm_peer_id *bm_p2p_stream_peer(const struct bm_p2p_stream *s);
/* The negotiated (or proposed) protocol ID. */
const char *bm_p2p_stream_protocol(const struct bm_p2p_stream *s);
bool bm_p2p_stream_inbound(const struct bm_p2p_stream *s);
struct bm_p2p_host *bm_p2p_stream_host(const struct bm_p2p_stream *s);
void bm_p2p_stream_set_user(struct bm_p2p_stream *s, void *user);
void *bm_p2p_stream_user(const struct bm_p2p_stream *s);

/*
 * Queues p[0..n) (borrowed; copied). Errors: BM_EFULL (the connection's
 * queue would exceed max_peer_queue; nothing queued), BM_ECLOSED (we
 * half-closed, or the stream is closing), BM_ENOMEM.
 */
int bm_p2p_stream_write(struct bm_p2p_stream *s, const uint8_t *p, size_t n);

/* Bytes queued on s and not yet handed to the socket. */
size_t bm_p2p_stream_queued(const struct bm_p2p_stream *s);

/* Asks for one on_writable once the stream's queue is at or below
 * low_water bytes (at once, on the next loop turn, if it already is). */
void bm_p2p_stream_want_writable(struct bm_p2p_stream *s, size_t low_water);

/* Half-closes (FIN after the queued bytes). BM_ECLOSED if already. */
int bm_p2p_stream_close(struct bm_p2p_stream *s);

/* Resets (RST with code) and drops the queue; on_close(BM_ESTOPPED)
 * follows. No effect on a stream already closing. */
void bm_p2p_stream_reset(struct bm_p2p_stream *s, uint32_t code);

/* Ends s with on_close(BM_ETIMEDOUT) (and a reset) if it is still open
 * ms from now; 0 clears the deadline. Replaces any earlier deadline. */
void bm_p2p_stream_set_deadline(struct bm_p2p_stream *s, uint64_t ms);

/* Manual credit: bytes delivered by on_data are credited to the remote's
 * window only through bm_p2p_stream_credit. */
void bm_p2p_stream_manual_credit(struct bm_p2p_stream *s, bool on);
void bm_p2p_stream_credit(struct bm_p2p_stream *s, size_t n);

/* ---- typed messages to actors ---- */

/* What bm_p2p_actor_handler tells an actor. */
enum bm_p2p_event_type {
    BM_P2P_EV_OPEN = 1,
    BM_P2P_EV_DATA = 2,
    BM_P2P_EV_EOF = 3,
    BM_P2P_EV_CLOSE = 4,
};

struct bm_p2p_stream_event {
    enum bm_p2p_event_type type;
    struct bm_p2p_stream_id stream;
    struct bm_peer_id peer;
    int reason;             /* CLOSE */
    struct bm_buf data;     /* DATA: owned by the message */
};

/* The kind's dtor: frees data. */
void bm_p2p_stream_event_release(void *payload);

/* Where bm_p2p_actor_handler sends: an actor kind whose payload is struct
 * bm_p2p_stream_event (dtor bm_p2p_stream_event_release). */
struct bm_p2p_actor_sink {
    struct bm_actor_system *sys;
    struct bm_actor_id to;
    uint32_t kind;
};

/*
 * A handler (arg: a struct bm_p2p_actor_sink, borrowed, outliving the
 * host) that turns every stream event into a bm_p2p_stream_event told to
 * the sink's actor; the actor answers with bm_p2p_host_send/_close_stream.
 * A tell that fails (mailbox full, actor gone) resets the stream
 * (0x1002, resource limit) and counts it in the host's
 * actor_tell_failures: the event is not lost silently.
 */
extern const struct bm_p2p_handler bm_p2p_actor_handler;

#endif /* BM_P2P_HOST_H */
