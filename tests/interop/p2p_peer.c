/*
 * p2p_peer: blockv2's libp2p host behind the interop control protocol
 * (tests/interop/README.md, /work/notes/p2p-contract.md), the C twin of
 * js_peer.mjs. The interop tests and bench/p2p_bench.sh drive it.
 *
 *   p2p_peer --key-seed <64 hex> --listen /ip4/127.0.0.1/tcp/0 [--listen ..]
 *            [--peer /ip4/.../tcp/.../p2p/<id> ...]
 *
 * --peer (an extension of the contract's start line) configures a static
 * peer as p2p.peers does: dialled at start, redialled with backoff (1 s
 * doubling to 30 s) whenever it is lost.
 *
 * stdout: the ready line, then one reply per command and event lines
 * (connected, disconnected); logs go to stderr. stdin: one JSON command
 * per line; EOF quits. Exit status 0, or 2 if memory leaked (every
 * bm_malloc'd byte must be freed at exit).
 *
 * Threads: main reads stdin and posts each command to the host's loop
 * thread, where it runs (the host API is loop-thread only); replies are
 * written from the loop thread. One mutex orders stdout lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "blockv2/types.h"
#include "p2p/host.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/log.h"

#define ECHO "/blockv2/test/echo/1.0.0"
#define SINK "/blockv2/test/sink/1.0.0"
#define CHUNK 65536u
#define PERIOD 251u
#define HIGH_WATER ((size_t)4 << 20)
#define LOW_WATER ((size_t)1 << 20)
#define MAX_LISTEN 8

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t quit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct bm_cond quit_cv = BM_COND_INIT;
static bool quit_done;

/* The test pattern: byte i = (i * 31 + 7) mod 251. pattern[k] holds byte
 * k for k < CHUNK + PERIOD, so offset o starts at pattern + o % 251. */
static uint8_t pattern[CHUNK + PERIOD];

static const uint8_t *pattern_at(uint64_t off)
{
    return pattern + off % PERIOD;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Writes one JSON line on stdout and frees o. */
static void emit(json_object *o)
{
    const char *s = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

    pthread_mutex_lock(&out_mu);
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    json_object_put(o);
}

static json_object *reply_new(int64_t id)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "id", json_object_new_int64(id));
    json_object_object_add(o, "ok", json_object_new_boolean(true));
    return o;
}

static void reply_err(int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reply_err(int64_t id, const char *fmt, ...)
{
    json_object *o = json_object_new_object();
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object_object_add(o, "id", json_object_new_int64(id));
    json_object_object_add(o, "ok", json_object_new_boolean(false));
    json_object_object_add(o, "error", json_object_new_string(msg));
    emit(o);
}

static json_object *peer_json(const struct bm_peer_id *p)
{
    char s[BM_PEER_ID_STR_SIZE];

    bm_peer_id_format(p, s);
    return json_object_new_string(s);
}

static const char *err_text(int err)
{
    switch (err) {
    case BM_EPEER_MISMATCH:
        return "peer id mismatch: the remote proved another peer ID than "
               "the one dialled";
    case BM_ENOPROTO:
        return "protocol not supported by the remote (na)";
    case BM_ENOTFOUND:
        return "not connected to that peer";
    default:
        return bm_strerror(err);
    }
}

/* ------------------------------------------------------------ commands */

enum cmd_kind {
    C_DIAL,
    C_PING,
    C_IDENTIFY,
    C_ECHO,
    C_SEND,
    C_HANDSHAKES,
    C_PEERS,
    C_DISCONNECT,
    C_STATS,
    C_QUIT,
};

struct cmd {
    int64_t id;
    enum cmd_kind kind;
    struct bm_multiaddr addr;
    struct bm_peer_id peer;
    uint64_t count;
    uint64_t bytes;
    uint64_t streams;
    /* progress of long commands */
    double t0;
    uint64_t done;
    uint64_t sent;
    uint64_t got;
    bool bad;
    uint8_t count_buf[8];
};

static void cmd_free(struct cmd *c)
{
    bm_free(c);
}

/* ---- dial ---- */

static void dial_cb(struct bm_p2p_host *h, int err, struct bm_p2p_conn_id conn,
                    const struct bm_peer_id *peer, void *arg)
{
    struct cmd *c = arg;

    (void)h;
    (void)conn;
    if (err != BM_OK) {
        reply_err(c->id, "dial failed: %s", err_text(err));
    } else {
        json_object *o = reply_new(c->id);

        json_object_object_add(o, "peer_id", peer_json(peer));
        emit(o);
    }
    cmd_free(c);
}

static void run_dial(struct bm_p2p_host *h, struct cmd *c)
{
    int err = bm_p2p_host_dial_loop(h, &c->addr, false, dial_cb, c);

    if (err == BM_EEXIST) {
        json_object *o = reply_new(c->id);

        json_object_object_add(o, "peer_id", peer_json(&c->addr.peer));
        emit(o);
        cmd_free(c);
    } else if (err != BM_OK) {
        reply_err(c->id, "dial failed: %s", err_text(err));
        cmd_free(c);
    }
}

/* ---- ping ---- */

static void ping_cb(struct bm_p2p_host *h, int err, const uint64_t *rtt,
                    size_t n, void *arg)
{
    struct cmd *c = arg;
    json_object *o, *a;

    (void)h;
    if (err != BM_OK) {
        reply_err(c->id, "ping failed: %s", err_text(err));
        cmd_free(c);
        return;
    }
    o = reply_new(c->id);
    a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object_array_add(a, json_object_new_double((double)rtt[i] /
                                                        1e6));
    }
    json_object_object_add(o, "rtt_ms", a);
    emit(o);
    cmd_free(c);
}

/* ---- identify ---- */

static json_object *addr_json(const struct bm_buf *b)
{
    struct bm_multiaddr ma;
    char text[BM_MULTIADDR_STR_SIZE];

    if (b->len == 0 || bm_multiaddr_decode(&ma, b->ptr, b->len, NULL) !=
                           BM_OK) {
        return NULL;
    }
    bm_multiaddr_format(&ma, text);
    return json_object_new_string(text);
}

static void identify_cb(struct bm_p2p_host *h, int err,
                        const struct bm_identify *id, void *arg)
{
    struct cmd *c = arg;
    json_object *o, *a, *obs;
    char *hex;

    (void)h;
    if (err != BM_OK) {
        reply_err(c->id, "identify failed: %s", err_text(err));
        cmd_free(c);
        return;
    }
    o = reply_new(c->id);
    a = json_object_new_array();
    for (size_t i = 0; i < id->n_protocols; i++) {
        json_object_array_add(a, json_object_new_string(id->protocols[i]));
    }
    json_object_object_add(o, "protocols", a);
    json_object_object_add(o, "agent_version",
                           json_object_new_string(id->agent_version
                                                      ? id->agent_version
                                                      : ""));
    json_object_object_add(o, "protocol_version",
                           json_object_new_string(id->protocol_version
                                                      ? id->protocol_version
                                                      : ""));
    a = json_object_new_array();
    for (size_t i = 0; i < id->n_listen_addrs; i++) {
        json_object *s = addr_json(&id->listen_addrs[i]);

        if (s != NULL) {
            json_object_array_add(a, s);
        }
    }
    json_object_object_add(o, "listen_addrs", a);
    obs = addr_json(&id->observed_addr);
    json_object_object_add(o, "observed_addr",
                           obs != NULL ? obs : json_object_new_string(""));
    hex = bm_hex_dup(id->public_key.ptr, id->public_key.len);
    json_object_object_add(o, "public_key_hex",
                           json_object_new_string(hex != NULL ? hex : ""));
    bm_free(hex);
    emit(o);
    cmd_free(c);
}

/* ---- echo (client) ---- */

static const struct bm_p2p_handler echo_client;

/* Writes the test data of c (echo and send) while the stream's queue is
 * below HIGH_WATER; half-closes after the last byte, else waits for the
 * queue to fall to LOW_WATER (the loop turns it into frames meanwhile). */
static void pump(struct bm_p2p_stream *s, struct cmd *c)
{
    while (c->sent < c->bytes && bm_p2p_stream_queued(s) < HIGH_WATER) {
        uint64_t k = c->bytes - c->sent < CHUNK ? c->bytes - c->sent : CHUNK;

        if (bm_p2p_stream_write(s, pattern_at(c->sent), (size_t)k) !=
            BM_OK) {
            bm_p2p_stream_reset(s, 0);
            return;
        }
        c->sent += k;
    }
    if (c->sent == c->bytes) {
        (void)bm_p2p_stream_close(s);
    } else {
        bm_p2p_stream_want_writable(s, LOW_WATER);
    }
}

/* on_open and on_writable of both clients. Data waits for the echo of the
 * proposal: js-libp2p's responder mishandles data and FIN pipelined behind
 * it. */
static void pump_cb(struct bm_p2p_stream *s, void *arg)
{
    pump(s, arg);
}

static void echo_open_next(struct bm_p2p_host *h, struct cmd *c)
{
    struct bm_p2p_stream *s;
    int err;

    c->sent = c->got = 0;
    err = bm_p2p_host_open_stream_loop(h, &c->peer, ECHO, &echo_client, c,
                                       &s);
    if (err != BM_OK) {
        reply_err(c->id, "echo: cannot open a stream: %s", err_text(err));
        cmd_free(c);
    }
}

static void echo_c_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                        void *arg)
{
    struct cmd *c = arg;

    (void)s;
    while (n > 0 && !c->bad) {
        size_t k = n < CHUNK ? n : CHUNK;

        if (c->got + k > c->bytes || memcmp(p, pattern_at(c->got), k) != 0) {
            c->bad = true;
        }
        c->got += k;
        p += k;
        n -= k;
    }
}

static void echo_c_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct cmd *c = arg;

    if (reason != BM_OK) {
        reply_err(c->id, "echo stream %" PRIu64 " failed: %s", c->done,
                  err_text(reason));
        cmd_free(c);
        return;
    }
    if (c->bad || c->got != c->bytes) {
        reply_err(c->id, "echo stream %" PRIu64 ": got %" PRIu64
                  " bytes back, %s",
                  c->done, c->got, c->bad ? "different" : "want all");
        cmd_free(c);
        return;
    }
    if (++c->done < c->streams) {
        echo_open_next(bm_p2p_stream_host(s), c);
        return;
    }
    {
        json_object *o = reply_new(c->id);

        json_object_object_add(o, "elapsed_ms",
                               json_object_new_double(now_ms() - c->t0));
        emit(o);
    }
    cmd_free(c);
}

static const struct bm_p2p_handler echo_client = {
    .on_open = pump_cb,
    .on_data = echo_c_data,
    .on_writable = pump_cb,
    .on_close = echo_c_close,
};

/* ---- send (to a sink) ---- */

static void send_c_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                        void *arg)
{
    struct cmd *c = arg;
    size_t k = n;

    (void)s;
    if (c->got + k > sizeof(c->count_buf)) {
        c->bad = true;
        k = c->got < sizeof(c->count_buf) ? sizeof(c->count_buf) - c->got
                                          : 0;
    }
    memcpy(c->count_buf + c->got, p, k);
    c->got += k;
}

static void send_c_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct cmd *c = arg;
    uint64_t count;
    double ms;

    (void)s;
    if (reason != BM_OK) {
        reply_err(c->id, "send failed: %s", err_text(reason));
        cmd_free(c);
        return;
    }
    count = bm_get_be64(c->count_buf);
    if (c->bad || c->got != 8 || count != c->bytes) {
        reply_err(c->id, "send: the sink counted %" PRIu64 " bytes, sent %"
                  PRIu64, count, c->bytes);
        cmd_free(c);
        return;
    }
    ms = now_ms() - c->t0;
    {
        json_object *o = reply_new(c->id);

        json_object_object_add(o, "elapsed_ms", json_object_new_double(ms));
        json_object_object_add(
            o, "mb_s",
            json_object_new_double((double)c->bytes / 1e6 / (ms / 1e3)));
        emit(o);
    }
    cmd_free(c);
}

static const struct bm_p2p_handler send_client = {
    .on_open = pump_cb,
    .on_data = send_c_data,
    .on_writable = pump_cb,
    .on_close = send_c_close,
};

/* ---- handshakes ---- */

static void handshake_next(struct bm_p2p_host *h, struct cmd *c);

static void handshake_cb(struct bm_p2p_host *h, int err,
                         struct bm_p2p_conn_id conn,
                         const struct bm_peer_id *peer, void *arg)
{
    struct cmd *c = arg;

    (void)peer;
    if (err != BM_OK) {
        reply_err(c->id, "handshake %" PRIu64 " failed: %s", c->done,
                  err_text(err));
        cmd_free(c);
        return;
    }
    bm_p2p_host_close_conn_loop(h, conn);
    if (++c->done < c->count) {
        handshake_next(h, c);
        return;
    }
    {
        double ms = now_ms() - c->t0;
        json_object *o = reply_new(c->id);

        json_object_object_add(o, "elapsed_ms", json_object_new_double(ms));
        json_object_object_add(
            o, "per_s", json_object_new_double((double)c->count / (ms / 1e3)));
        emit(o);
    }
    cmd_free(c);
}

static void handshake_next(struct bm_p2p_host *h, struct cmd *c)
{
    int err = bm_p2p_host_dial_loop(h, &c->addr, true, handshake_cb, c);

    if (err != BM_OK) {
        reply_err(c->id, "handshake %" PRIu64 " failed: %s", c->done,
                  err_text(err));
        cmd_free(c);
    }
}

/* ---- stats ---- */

static void stats_reply(struct bm_p2p_host *h, struct cmd *c)
{
    struct bm_p2p_stats st;
    json_object *o = reply_new(c->id);
    json_object *hs = json_object_new_object();
    json_object *dc = json_object_new_object();
    json_object *sr = json_object_new_object();

    bm_p2p_host_stats(h, &st);
#define U(obj, k, v) json_object_object_add(obj, k, json_object_new_uint64(v))
    U(o, "peers", st.peers);
    U(o, "connections_open", st.connections);
    U(o, "connections_inbound", st.conns_inbound);
    U(o, "connections_outbound", st.conns_outbound);
    U(o, "bytes_in", st.bytes_in);
    U(o, "bytes_out", st.bytes_out);
    U(o, "streams_open", st.streams_open);
    U(o, "streams_inbound", st.streams_inbound);
    U(o, "streams_outbound", st.streams_outbound);
    U(o, "stream_resets_sent", st.stream_resets_sent);
    U(o, "stream_resets_received", st.stream_resets_received);
    U(o, "dials", st.dials);
    U(o, "dial_failures", st.dial_failures);
    for (int i = 0; i < BM_P2P_HS_COUNT; i++) {
        U(hs, bm_p2p_handshake_name((enum bm_p2p_handshake)i),
          st.handshakes[i]);
    }
    for (int i = 0; i < BM_P2P_DC_COUNT; i++) {
        U(dc, bm_p2p_disconnect_name((enum bm_p2p_disconnect)i),
          st.disconnects[i]);
    }
    for (int i = 0; i < BM_P2P_SR_COUNT; i++) {
        U(sr, bm_p2p_stream_refusal_name((enum bm_p2p_stream_refusal)i),
          st.streams_refused[i]);
    }
#undef U
    json_object_object_add(o, "handshakes", hs);
    json_object_object_add(o, "disconnects", dc);
    json_object_object_add(o, "streams_refused", sr);
    emit(o);
}

static void peers_reply(struct bm_p2p_host *h, struct cmd *c)
{
    struct bm_p2p_peer_info *pi = NULL;
    size_t n = 0;
    json_object *o = reply_new(c->id);
    json_object *a = json_object_new_array();

    /* On the loop thread: the live list. */
    (void)bm_p2p_host_peers_loop(h, &pi, &n);
    for (size_t i = 0; i < n; i++) {
        json_object_array_add(a, peer_json(&pi[i].peer));
    }
    bm_free(pi);
    json_object_object_add(o, "peers", a);
    emit(o);
}

/* Runs a command on the loop thread. */
static void run(struct bm_p2p_host *h, void *arg)
{
    struct cmd *c = arg;
    struct bm_p2p_stream *s;
    int err;

    c->t0 = now_ms();
    switch (c->kind) {
    case C_DIAL:
        run_dial(h, c);
        return;
    case C_PING:
        err = bm_p2p_host_ping_loop(h, &c->peer, (unsigned)c->count, ping_cb,
                                    c);
        if (err != BM_OK) {
            reply_err(c->id, "ping failed: %s", err_text(err));
            break;
        }
        return;
    case C_IDENTIFY:
        err = bm_p2p_host_identify_loop(h, &c->peer, identify_cb, c);
        if (err != BM_OK) {
            reply_err(c->id, "identify failed: %s", err_text(err));
            break;
        }
        return;
    case C_ECHO:
        echo_open_next(h, c);
        return;
    case C_SEND:
        err = bm_p2p_host_open_stream_loop(h, &c->peer, SINK, &send_client, c,
                                           &s);
        if (err != BM_OK) {
            reply_err(c->id, "send: cannot open a stream: %s",
                      err_text(err));
            break;
        }
        (void)s;
        return;
    case C_HANDSHAKES:
        handshake_next(h, c);
        return;
    case C_PEERS:
        peers_reply(h, c);
        break;
    case C_DISCONNECT:
        (void)bm_p2p_host_disconnect_loop(h, &c->peer);
        emit(reply_new(c->id));
        break;
    case C_STATS:
        stats_reply(h, c);
        break;
    case C_QUIT:
        emit(reply_new(c->id));
        pthread_mutex_lock(&quit_mu);
        quit_done = true;
        bm_cond_signal(&quit_cv);
        pthread_mutex_unlock(&quit_mu);
        break;
    }
    cmd_free(c);
}

/* ------------------------------------------------------------ servers */

struct echo_srv {
    size_t held; /* bytes not credited while the echo queue is full */
};

static void echo_s_open(struct bm_p2p_stream *s, void *arg)
{
    (void)arg;
    bm_p2p_stream_manual_credit(s, true);
    bm_p2p_stream_set_user(s, bm_xcalloc(1, sizeof(struct echo_srv)));
}

static void echo_s_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                        void *arg)
{
    struct echo_srv *e = bm_p2p_stream_user(s);

    (void)arg;
    if (bm_p2p_stream_write(s, p, n) != BM_OK) {
        bm_p2p_stream_reset(s, 0);
        return;
    }
    /* The remote may send what its window allows; we credit it only as
     * the echo drains, so a remote that does not read stops itself. */
    if (bm_p2p_stream_queued(s) > HIGH_WATER) {
        e->held += n;
        bm_p2p_stream_want_writable(s, LOW_WATER);
    } else {
        bm_p2p_stream_credit(s, n);
    }
}

static void echo_s_writable(struct bm_p2p_stream *s, void *arg)
{
    struct echo_srv *e = bm_p2p_stream_user(s);

    (void)arg;
    bm_p2p_stream_credit(s, e->held);
    e->held = 0;
}

static void echo_s_eof(struct bm_p2p_stream *s, void *arg)
{
    (void)arg;
    (void)bm_p2p_stream_close(s); /* FIN after the queued echo */
}

static void echo_s_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)reason;
    (void)arg;
    bm_free(bm_p2p_stream_user(s));
}

static const struct bm_p2p_handler echo_server = {
    .on_open = echo_s_open,
    .on_data = echo_s_data,
    .on_eof = echo_s_eof,
    .on_writable = echo_s_writable,
    .on_close = echo_s_close,
};

static void sink_s_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                        void *arg)
{
    uintptr_t count = (uintptr_t)bm_p2p_stream_user(s);

    (void)p;
    (void)arg;
    bm_p2p_stream_set_user(s, (void *)(count + n));
}

static void sink_s_eof(struct bm_p2p_stream *s, void *arg)
{
    uint8_t be[8];

    (void)arg;
    bm_put_be64(be, (uint64_t)(uintptr_t)bm_p2p_stream_user(s));
    (void)bm_p2p_stream_write(s, be, sizeof(be));
    (void)bm_p2p_stream_close(s);
}

static void sink_s_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    (void)s;
    (void)reason;
    (void)arg;
}

static const struct bm_p2p_handler sink_server = {
    .on_data = sink_s_data,
    .on_eof = sink_s_eof,
    .on_close = sink_s_close,
};

/* ------------------------------------------------------------ events */

static void ev_connected(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                         const struct bm_peer_id *peer, bool inbound,
                         void *arg)
{
    json_object *o = json_object_new_object();

    (void)h;
    (void)conn;
    (void)arg;
    json_object_object_add(o, "event", json_object_new_string("connected"));
    json_object_object_add(o, "peer", peer_json(peer));
    json_object_object_add(o, "direction",
                           json_object_new_string(inbound ? "inbound"
                                                          : "outbound"));
    emit(o);
}

static void ev_disconnected(struct bm_p2p_host *h, struct bm_p2p_conn_id conn,
                            const struct bm_peer_id *peer, int reason,
                            const char *reason_name, void *arg)
{
    json_object *o = json_object_new_object();

    (void)h;
    (void)conn;
    (void)reason;
    (void)arg;
    json_object_object_add(o, "event",
                           json_object_new_string("disconnected"));
    json_object_object_add(o, "peer", peer_json(peer));
    json_object_object_add(o, "reason", json_object_new_string(reason_name));
    emit(o);
}

static const struct bm_p2p_listener events = {
    .on_connected = ev_connected,
    .on_disconnected = ev_disconnected,
};

/* ------------------------------------------------------------ main */

static bool get_peer(json_object *o, const char *key, struct bm_peer_id *out)
{
    json_object *v;
    const char *s;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return false;
    }
    s = json_object_get_string(v);
    return bm_peer_id_parse(out, s, strlen(s), NULL) == BM_OK;
}

static bool get_u64(json_object *o, const char *key, uint64_t def,
                    uint64_t max, uint64_t *out)
{
    json_object *v;
    int64_t x;

    if (!json_object_object_get_ex(o, key, &v)) {
        *out = def;
        return true;
    }
    if (!json_object_is_type(v, json_type_int)) {
        return false;
    }
    x = json_object_get_int64(v);
    if (x < 0 || (uint64_t)x > max) {
        return false;
    }
    *out = (uint64_t)x;
    return true;
}

/* Parses one command line into a struct cmd (owned) or replies with an
 * error. Returns NULL when nothing is to be posted. */
static struct cmd *parse(const char *line, bool *quit)
{
    static const char *const names[] = {
        [C_DIAL] = "dial",       [C_PING] = "ping",
        [C_IDENTIFY] = "identify", [C_ECHO] = "echo",
        [C_SEND] = "send",       [C_HANDSHAKES] = "handshakes",
        [C_PEERS] = "peers",     [C_DISCONNECT] = "disconnect",
        [C_STATS] = "stats",     [C_QUIT] = "quit",
    };
    json_object *o = json_tokener_parse(line);
    json_object *v;
    struct cmd *c = NULL;
    const char *name;
    int64_t id = 0;
    bool ok = true;

    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        fprintf(stderr, "p2p_peer: not a JSON object: %.200s\n", line);
        json_object_put(o);
        return NULL;
    }
    if (json_object_object_get_ex(o, "id", &v)) {
        id = json_object_get_int64(v);
    }
    if (!json_object_object_get_ex(o, "cmd", &v) ||
        !json_object_is_type(v, json_type_string)) {
        reply_err(id, "no cmd");
        json_object_put(o);
        return NULL;
    }
    name = json_object_get_string(v);
    c = bm_xcalloc(1, sizeof(*c));
    c->id = id;
    c->kind = (enum cmd_kind)-1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            c->kind = (enum cmd_kind)i;
        }
    }
    switch (c->kind) {
    case C_DIAL:
    case C_HANDSHAKES: {
        const char *a = NULL;

        if (json_object_object_get_ex(o, "addr", &v) &&
            json_object_is_type(v, json_type_string)) {
            a = json_object_get_string(v);
        }
        ok = a != NULL &&
             bm_multiaddr_parse(&c->addr, a, strlen(a), NULL) == BM_OK &&
             bm_multiaddr_is_dialable(&c->addr) &&
             get_u64(o, "count", 1, 1000000, &c->count) && c->count > 0;
        break;
    }
    case C_PING:
        ok = get_peer(o, "peer", &c->peer) &&
             get_u64(o, "count", 1, 100, &c->count) && c->count > 0;
        break;
    case C_IDENTIFY:
    case C_DISCONNECT:
        ok = get_peer(o, "peer", &c->peer);
        break;
    case C_ECHO:
        ok = get_peer(o, "peer", &c->peer) &&
             get_u64(o, "bytes", 1000, (uint64_t)1 << 40, &c->bytes) &&
             get_u64(o, "streams", 1, 1000000, &c->streams) &&
             c->streams > 0;
        break;
    case C_SEND:
        ok = get_peer(o, "peer", &c->peer) &&
             get_u64(o, "bytes", 1 << 20, (uint64_t)1 << 40, &c->bytes);
        break;
    case C_PEERS:
    case C_STATS:
        break;
    case C_QUIT:
        *quit = true;
        break;
    default:
        reply_err(id, "unknown cmd '%.100s'", name);
        cmd_free(c);
        json_object_put(o);
        return NULL;
    }
    if (!ok) {
        reply_err(id, "%s: bad or missing arguments", name);
        cmd_free(c);
        c = NULL;
        *quit = false;
    }
    json_object_put(o);
    return c;
}

static int usage(void)
{
    fprintf(stderr, "usage: p2p_peer --key-seed <64 hex> --listen MULTIADDR "
                    "[--listen MULTIADDR ...] [--peer MULTIADDR/p2p/ID ...] "
                    "[--keepalive-ms N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct bm_p2p_host_config cfg;
    struct bm_multiaddr listen[MAX_LISTEN];
    struct bm_multiaddr peers[MAX_LISTEN];
    struct bm_p2p_host *h = NULL;
    struct bm_privkey key;
    struct bm_errmsg em = {{0}};
    uint8_t seed[32];
    bool have_seed = false;
    size_t n_listen = 0, n_peers = 0;
    uint64_t keepalive_ms = 0; /* 0: the host config's default */
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;

    signal(SIGPIPE, SIG_IGN);
    if (getenv("P2P_PEER_DEBUG") != NULL) {
        bm_log_set_level(BM_LOG_DEBUG);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key-seed") == 0 && i + 1 < argc) {
            const char *s = argv[++i];

            if (bm_hex_decode_fixed(seed, sizeof(seed), s, strlen(s)) !=
                BM_OK) {
                fprintf(stderr, "p2p_peer: --key-seed: want 64 hex digits\n");
                return 2;
            }
            have_seed = true;
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            const char *s = argv[++i];

            if (n_listen == MAX_LISTEN ||
                bm_multiaddr_parse(&listen[n_listen], s, strlen(s), &em) !=
                    BM_OK) {
                fprintf(stderr, "p2p_peer: --listen '%s': %s\n", s,
                        bm_errmsg_str(&em, BM_EINVAL));
                return 2;
            }
            n_listen++;
        } else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc) {
            const char *s = argv[++i];

            if (n_peers == MAX_LISTEN ||
                bm_multiaddr_parse(&peers[n_peers], s, strlen(s), &em) !=
                    BM_OK ||
                !bm_multiaddr_is_dialable(&peers[n_peers])) {
                fprintf(stderr, "p2p_peer: --peer '%s': want /ip4|ip6/../tcp/"
                        "../p2p/<id> %s\n", s, em.msg);
                return 2;
            }
            n_peers++;
        } else if (strcmp(argv[i], "--keepalive-ms") == 0 && i + 1 < argc) {
            /* The yamux keepalive interval: go_keepalive.test.mjs runs its
             * idle check with a short one in the sanitizer builds. */
            const char *s = argv[++i];
            char *end = NULL;
            unsigned long long v;

            errno = 0;
            v = strtoull(s, &end, 10);
            if (errno != 0 || end == s || *end != '\0' || v < 100 ||
                v > 3600000) {
                fprintf(stderr, "p2p_peer: --keepalive-ms '%s': want 100.."
                        "3600000\n", s);
                return 2;
            }
            keepalive_ms = v;
        } else {
            return usage();
        }
    }
    if (!have_seed) {
        return usage();
    }
    if (bm_crypto_init() != BM_OK) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (uint8_t)((i * 31 + 7) % 251);
    }
    bm_privkey_from_seed(&key, seed);
    bm_p2p_host_config_init(&cfg);
    cfg.identity = &key;
    cfg.listen = listen;
    cfg.n_listen = n_listen;
    cfg.peers = peers;
    cfg.n_peers = n_peers;
    cfg.agent_version = "blockv2/p2p_peer";
    if (keepalive_ms != 0) {
        cfg.keepalive_ms = keepalive_ms;
    }
    if (bm_p2p_host_new(&h, &cfg, &em) != BM_OK ||
        bm_p2p_host_register(h, ECHO, &echo_server, NULL) != BM_OK ||
        bm_p2p_host_register(h, SINK, &sink_server, NULL) != BM_OK ||
        bm_p2p_host_add_listener(h, &events, NULL) != BM_OK) {
        fprintf(stderr, "p2p_peer: %s\n", bm_errmsg_str(&em, BM_EINVAL));
        bm_p2p_host_free(h);
        return 1;
    }
    {
        struct bm_multiaddr bound[MAX_LISTEN];
        size_t n = bm_p2p_host_listen_addrs(h, bound, MAX_LISTEN);
        json_object *o = json_object_new_object();
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++) {
            char text[BM_MULTIADDR_STR_SIZE];

            bound[i].has_peer = true;
            bound[i].peer = *bm_p2p_host_id(h);
            bm_multiaddr_format(&bound[i], text);
            json_object_array_add(a, json_object_new_string(text));
        }
        json_object_object_add(o, "event", json_object_new_string("ready"));
        json_object_object_add(o, "peer_id", peer_json(bm_p2p_host_id(h)));
        json_object_object_add(o, "addrs", a);
        if (bm_p2p_host_start(h) != BM_OK) {
            fprintf(stderr, "p2p_peer: cannot start the host\n");
            json_object_put(o);
            bm_p2p_host_free(h);
            return 1;
        }
        emit(o);
    }
    for (;;) {
        ssize_t n = getline(&line, &cap, stdin);
        bool quit = false;
        struct cmd *c;

        if (n < 0) {
            break; /* EOF: quit */
        }
        if (n <= 1) {
            continue;
        }
        c = parse(line, &quit);
        if (c == NULL) {
            continue;
        }
        if (bm_p2p_host_post(h, run, c) != BM_OK) {
            reply_err(c->id, "host busy");
            cmd_free(c);
            continue;
        }
        if (quit) {
            pthread_mutex_lock(&quit_mu);
            while (!quit_done) {
                bm_cond_wait(&quit_cv, &quit_mu);
            }
            pthread_mutex_unlock(&quit_mu);
            break;
        }
    }
    free(line); /* lint: allow-raw-alloc (getline's buffer) */
    bm_p2p_host_free(h);
    bm_privkey_wipe(&key);
    if (bm_alloc_live_count() != 0) {
        fprintf(stderr, "p2p_peer: %lld allocations leaked\n",
                (long long)bm_alloc_live_count());
        rc = 2;
    }
    return rc;
}
