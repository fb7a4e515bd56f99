/*
 * Internals shared by the host's files (host.c: lifecycle, loop, commands,
 * dialling, registry, snapshot; conn.c: one connection's I/O and upgrade;
 * stream.c: streams and negotiation; builtin.c: identify and ping;
 * actor_sink.c: typed messages to actors). Not an API: everything here
 * runs on the loop thread unless marked otherwise.
 */
#ifndef BM_P2P_HOST_INTERNAL_H
#define BM_P2P_HOST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/host.h"
#include "p2p/multistream.h"
#include "p2p/noise.h"
#include "p2p/ping.h"
#include "p2p/yamux.h"

/* Buffers of one connection. rbuf holds at least two whole Noise frames
 * (a handshake message or transport frame is at most 65537 bytes); wbuf
 * is filled frame by frame while at least one whole frame fits. */
#define BM__P2P_RBUF (256u * 1024u)
#define BM__P2P_WBUF (512u * 1024u)
/* Receive window of each yamux stream (the peer may have this much in
 * flight): the 256 KiB yamux default plus 768 KiB granted on the SYN or
 * ACK. Handlers consume what they are given (only manual credit holds
 * it), so it costs no memory of ours; docs/PERFORMANCE.md "P2P". */
#define BM__P2P_STREAM_WINDOW (1024u * 1024u)
/* Connection and stream deadlines, keepalives and redials are checked
 * when the earliest of them is due, but at most once per this many ms
 * (one check walks every connection and stream). */
#define BM__P2P_TICK_MIN_MS 10u
#define BM__P2P_NEVER UINT64_MAX
#define BM__P2P_MAX_LISTENERS 8u
#define BM__P2P_CMD_MAX 65536u
#define BM__P2P_CMD_BYTES_MAX ((size_t)256 << 20)
/* yamux control frames a session may queue (a read of rbuf makes at most
 * BM__P2P_RBUF / 12 of them), and the backlog above which the connection
 * stops reading until they are written. */
#define BM__P2P_MAX_CONTROL 65536u
#define BM__P2P_CONTROL_PAUSE 1024u

/* What an epoll event points to. */
enum bm__p2p_io_kind {
    BM__P2P_IO_WAKE = 1,
    BM__P2P_IO_LISTEN = 2,
    BM__P2P_IO_CONN = 3,
};

struct bm__p2p_io {
    enum bm__p2p_io_kind kind;
};

enum bm__p2p_conn_state {
    BM__CS_CONNECTING = 0, /* TCP connect in progress */
    BM__CS_SECURITY,       /* multistream "/noise" on the raw connection */
    BM__CS_NOISE,          /* Noise XX */
    BM__CS_MUXER,          /* multistream "/yamux/1.0.0" inside Noise */
    BM__CS_OPEN,           /* yamux running */
    BM__CS_CLOSED,         /* waiting to be freed at the end of the turn */
};

struct bm__p2p_conn {
    struct bm__p2p_io io; /* first: epoll data points here */
    struct bm_p2p_host *h;
    uint64_t serial;
    int fd;
    enum bm__p2p_conn_state state;
    bool inbound;
    bool force;            /* dialled with force (no de-duplication) */
    bool announced;        /* listeners got on_connected */
    struct bm_multiaddr remote; /* remote TCP address, no /p2p */
    bool has_peer;
    struct bm_peer_id peer;
    bool has_expected;
    struct bm_peer_id expected;
    int seed;              /* index of the configured peer, or -1 */
    bm_p2p_dial_cb *dial_cb;
    void *dial_arg;
    /* upgrade */
    struct bm_multistream ms;
    struct bm_noise_hs *hs;
    uint8_t *msbuf;        /* muxer negotiation inside Noise */
    size_t mslen;
    /* transport */
    struct bm_noise_cipher tx;
    struct bm_noise_cipher rx;
    struct bm_yamux *mux;
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *wbuf;
    size_t whead;
    size_t wtail;
    bool epollout;         /* EPOLLOUT armed */
    bool dirty;            /* in the host's dirty list */
    struct bm__p2p_snap_peer *slot; /* its peer in the snapshot, or NULL */
    uint64_t pending_told; /* pending_send last added to slot */
    uint64_t deadline_ms;  /* upgrade deadline; 0 once open */
    uint64_t opened_ms;    /* yamux up (0 before) */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint32_t ping_streams; /* inbound ping streams now */
    struct bm_p2p_stream *streams; /* doubly linked through s->next */
    struct bm__p2p_conn *next;     /* host list */
    struct bm__p2p_conn *prev;
    struct bm__p2p_conn *dnext;    /* dirty list */
    struct bm__p2p_conn *xnext;    /* dead list */
    char peer_str[BM_PEER_ID_STR_SIZE]; /* for logs, once known */
};

enum bm__p2p_stream_state {
    BM__SS_NEGOTIATING = 0,
    BM__SS_OPEN,
    BM__SS_DONE,           /* on_close pending */
};

struct bm_p2p_stream {
    struct bm__p2p_conn *c;
    uint32_t sid;
    enum bm__p2p_stream_state state;
    bool inbound;
    bool local_closed;
    bool remote_eof;
    bool manual_credit;
    bool want_writable;
    bool notify;           /* on_close due to the handler */
    bool ping_server;      /* counted in c->ping_streams */
    size_t low_water;
    int close_reason;
    const char *protocol;  /* proposal, or the registry's name */
    const char *proposal[1];
    struct bm_multistream ms;
    uint8_t *msbuf;        /* negotiation input */
    size_t mslen;
    const struct bm_p2p_handler *handler;
    void *arg;
    void *user;
    uint64_t deadline_ms;  /* 0: none */
    int deadline_reason;   /* on_close reason at the deadline */
    struct bm_p2p_stream *next; /* conn list */
    struct bm_p2p_stream *prev;
    struct bm_p2p_stream *cnext; /* closing list */
};

struct bm__p2p_proto {
    char name[BM_MULTISTREAM_PROTO_MAX + 1];
    const struct bm_p2p_handler *handler;
    void *arg;
};

struct bm__p2p_seed {
    struct bm_multiaddr addr;
    uint64_t next_ms;      /* next dial attempt (0: now) */
    uint64_t backoff_ms;   /* the next delay's upper bound (before jitter) */
    uint64_t revived_ms;   /* last sign of life that cut the delay short */
    bool revived;          /* revived_ms is set */
    bool tried;            /* dialled at least once (the rest are redials) */
    bool dialing;
};

struct bm__p2p_listen {
    struct bm__p2p_io io;
    int fd;
    struct bm_multiaddr addr; /* bound (actual port) */
};

/* One peer of the snapshot other threads read (bm_p2p_host_peers): the
 * loop rebuilds the array on connect/disconnect and adds to the atomics of
 * the current one as bytes move. Read under snap_mu. */
struct bm__p2p_snap_peer {
    struct bm_p2p_peer_info info; /* byte fields unused: the atomics */
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t bytes_out;
    atomic_uint_fast64_t pending_send;
};

/* A pending timer (bm_p2p_host_timer_add), in a binary min-heap ordered by
 * (due_ms, id). */
struct bm__p2p_timer {
    uint64_t due_ms;
    uint64_t id;
    uint64_t period_ms;    /* 0: one-shot */
    bm_p2p_timer_cb *cb;
    void *arg;
};

/* Atomic mirror of struct bm_p2p_stats (written by the loop). */
struct bm__p2p_counters {
    atomic_uint_fast64_t peers;
    atomic_uint_fast64_t connections;
    atomic_uint_fast64_t conns_inbound;
    atomic_uint_fast64_t conns_outbound;
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t bytes_out;
    atomic_uint_fast64_t handshakes[BM_P2P_HS_COUNT];
    atomic_uint_fast64_t disconnects[BM_P2P_DC_COUNT];
    atomic_uint_fast64_t streams_open;
    atomic_uint_fast64_t streams_inbound;
    atomic_uint_fast64_t streams_outbound;
    atomic_uint_fast64_t streams_refused[BM_P2P_SR_COUNT];
    atomic_uint_fast64_t stream_resets_sent;
    atomic_uint_fast64_t stream_resets_received;
    atomic_uint_fast64_t dials;
    atomic_uint_fast64_t dial_failures;
    atomic_uint_fast64_t redials;
    atomic_uint_fast64_t redial_resets;
    atomic_uint_fast64_t commands_rejected;
    atomic_uint_fast64_t actor_tell_failures;
    atomic_uint_fast64_t loop_wakeups;
    atomic_uint_fast64_t timers_fired;
};

#define BM__P2P_INC(h, f)                                                      \
    atomic_fetch_add_explicit(&(h)->cnt.f, 1, memory_order_relaxed)
#define BM__P2P_ADD(h, f, v)                                                   \
    atomic_fetch_add_explicit(&(h)->cnt.f, (v), memory_order_relaxed)
#define BM__P2P_SUB(h, f, v)                                                   \
    atomic_fetch_sub_explicit(&(h)->cnt.f, (v), memory_order_relaxed)

enum bm__p2p_cmd_type {
    BM__CMD_POST = 1,
    BM__CMD_SEND,
    BM__CMD_CLOSE_STREAM,
    BM__CMD_RESET_STREAM,
    BM__CMD_DIAL,
    BM__CMD_DISCONNECT,
    BM__CMD_STOP,
};

struct bm__p2p_cmd {
    enum bm__p2p_cmd_type type;
    void (*fn)(struct bm_p2p_host *h, void *arg);
    void *arg;
    struct bm_p2p_stream_id stream;
    uint32_t code;
    struct bm_buf data;
    struct bm_multiaddr addr;
    struct bm_peer_id peer;
};

struct bm__p2p_listener_entry {
    const struct bm_p2p_listener *l;
    void *arg;
};

struct bm_p2p_host {
    struct bm__p2p_io wake_io;
    /* configuration (copied) */
    struct bm_privkey identity;
    struct bm_peer_id self;
    struct bm_p2p_host_config cfg; /* pointer fields cleared */
    char agent[64];
    struct bm__p2p_listen listen[BM_P2P_MAX_LISTEN];
    size_t n_listen;
    struct bm__p2p_seed seeds[BM_P2P_MAX_SEEDS];
    size_t n_seeds;
    struct bm_peer_id *blocked;
    size_t n_blocked;
    struct bm_peer_id *allowed;
    size_t n_allowed;
    uint8_t static_key[32];        /* our Noise static X25519 key */
    /* registry (grown on registration, fixed once started) */
    struct bm__p2p_proto *protos;
    const char **proto_names;
    size_t n_protos;
    size_t cap_protos;
    size_t proto_bytes;            /* sum of the names' lengths */
    struct bm__p2p_listener_entry listeners[BM__P2P_MAX_LISTENERS];
    size_t n_listeners;
    /* identify: our listen addresses in binary, expanded (wildcards) */
    struct bm_buf *id_addrs;
    size_t n_id_addrs;
    /* loop */
    int epfd;
    int evfd;
    pthread_t thread;
    bool started;
    atomic_bool running;   /* commands accepted */
    bool stop_requested;   /* loop-only */
    uint64_t now_ms;
    uint64_t next_tick_ms;         /* earliest deadline (BM__P2P_NEVER) */
    uint64_t last_tick_ms;
    /* timers */
    struct bm__p2p_timer *timers;  /* min-heap */
    size_t n_timers;
    size_t cap_timers;
    uint64_t next_timer_id;
    uint64_t next_serial;
    struct bm__p2p_conn *conns;
    size_t n_conns;
    struct bm__p2p_conn *dirty;
    struct bm__p2p_conn *dead;
    struct bm_p2p_stream *closing;
    struct bm_p2p_stream *closing_tail;
    /* commands */
    pthread_mutex_t cmd_mu;
    struct bm__p2p_cmd *cmds;      /* ring */
    size_t cmd_head;
    size_t cmd_len;
    size_t cmd_cap;
    size_t cmd_bytes;
    /* counters and the peer snapshot */
    struct bm__p2p_counters cnt;
    pthread_mutex_t snap_mu;
    struct bm__p2p_snap_peer *snap;
    size_t n_snap;
};

/* ---- conn.c ---- */

/* A new connection on fd (accepted, or connecting when !inbound). Takes
 * the fd on success; returns the conn (in the host list) or NULL (fd
 * closed). */
struct bm__p2p_conn *bm__p2p_conn_new(struct bm_p2p_host *h, int fd,
                                      bool inbound,
                                      const struct bm_multiaddr *remote);
/* epoll events for c. */
void bm__p2p_conn_event(struct bm__p2p_conn *c, uint32_t events);
/* Ends an upgrade that failed: counts the outcome, tells the dialler. */
void bm__p2p_conn_fail(struct bm__p2p_conn *c, enum bm_p2p_handshake o,
                       int err);
/* Ends an open connection (or one being upgraded, as "local"). */
void bm__p2p_conn_close(struct bm__p2p_conn *c, enum bm_p2p_disconnect r);
/* Marks c for a flush at the end of the turn. */
void bm__p2p_conn_dirty(struct bm__p2p_conn *c);
/* Produces and writes what c has to send. */
void bm__p2p_conn_flush(struct bm__p2p_conn *c);
/* Frees a closed connection (its streams must be gone). */
void bm__p2p_conn_free(struct bm__p2p_conn *c);
/* Deadline work: upgrade deadline, keepalive, stream deadlines. Returns
 * c's next deadline (BM__P2P_NEVER if none). */
uint64_t bm__p2p_conn_tick(struct bm__p2p_conn *c, uint64_t now_ms);

/* ---- stream.c ---- */

/* Handles one yamux event of an open connection. */
void bm__p2p_stream_event(struct bm__p2p_conn *c,
                          const struct bm_yamux_event *ev);
/* Ends every stream of c with reason (connection gone). */
void bm__p2p_streams_end(struct bm__p2p_conn *c, int reason);
/* Opens an outbound stream on c. */
int bm__p2p_stream_open(struct bm__p2p_conn *c, const char *protocol,
                        const struct bm_p2p_handler *handler, void *arg,
                        struct bm_p2p_stream **out);
/* Marks s done with reason and queues its on_close. */
void bm__p2p_stream_finish(struct bm_p2p_stream *s, int reason);
/* Runs pending on_close callbacks and frees the streams. */
void bm__p2p_streams_reap(struct bm_p2p_host *h);
/* Deadlines of c's streams; returns the next one (BM__P2P_NEVER). */
uint64_t bm__p2p_streams_tick(struct bm__p2p_conn *c, uint64_t now_ms);
/* on_writable for c's streams at their low-water mark. */
void bm__p2p_streams_writable(struct bm__p2p_conn *c);
/* One step of a multistream negotiation whose input arrives in pieces:
 * moves what fits of *p, *n (advanced) into buf (*len bytes held, room for
 * BM_MULTISTREAM_IN_MAX), feeds it, drops what was consumed. out has room
 * for BM_MULTISTREAM_OUT_MAX; *written is what to send. Returns the feed's
 * result, or BM_EPROTO when buf is full and no line completes. */
int bm__p2p_ms_input(struct bm_multistream *ms, uint8_t *buf, size_t *len,
                     const uint8_t **p, size_t *n, uint8_t *out,
                     size_t *written);
/* Sets a deadline (ms from now) that ends s with `reason`. */
void bm__p2p_stream_deadline(struct bm_p2p_stream *s, uint64_t ms,
                             int reason);

/* ---- builtin.c ---- */

/* Registers identify and ping. */
int bm__p2p_builtin_register(struct bm_p2p_host *h);
/* A connection is up: run identify as client and tell the listeners. */
void bm__p2p_builtin_connected(struct bm__p2p_conn *c);
/* True if our identify message still fits BM_IDENTIFY_SEND_MAX with
 * n_protos protocols whose names total name_bytes (any observed address,
 * the listen addresses known now). */
bool bm__p2p_identify_fits(const struct bm_p2p_host *h, size_t n_protos,
                           size_t name_bytes);
/* Builds our identify addresses (wildcards expanded). */
int bm__p2p_builtin_init(struct bm_p2p_host *h);
void bm__p2p_builtin_release(struct bm_p2p_host *h);

/* ---- host.c ---- */

/* The conn with this serial, or NULL. */
struct bm__p2p_conn *bm__p2p_host_conn(struct bm_p2p_host *h,
                                       uint64_t serial);
/* Gater: BM_OK or BM_EPERM for peer. */
int bm__p2p_host_gate(const struct bm_p2p_host *h,
                      const struct bm_peer_id *peer);
/* A connection finished its upgrade (peer known): duplicate rules,
 * seeds, listeners. Returns false if c was closed as a duplicate. */
bool bm__p2p_host_conn_up(struct bm__p2p_conn *c);
/* A connection ended (after an upgrade failure or a close). */
void bm__p2p_host_conn_down(struct bm__p2p_conn *c, bool was_open,
                            int reason, const char *reason_name);
/* Rebuilds the peer snapshot (a connection opened or closed). */
void bm__p2p_host_snapshot(struct bm_p2p_host *h);
/* Something is due at at_ms (loop time): the loop wakes up by then to
 * check deadlines (bm__p2p_conn_tick, redials). */
void bm__p2p_host_due(struct bm_p2p_host *h, uint64_t at_ms);
/* c moved bytes or queued some: keeps its snapshot entry current. */
void bm__p2p_host_count(struct bm__p2p_conn *c, uint64_t in, uint64_t out);

#endif /* BM_P2P_HOST_INTERNAL_H */
