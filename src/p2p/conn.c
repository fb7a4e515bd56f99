/*
 * One connection: TCP I/O, the upgrade pipeline (multistream "/noise",
 * Noise XX, early muxer or multistream "/yamux/1.0.0" inside Noise) and
 * the transport phase (Noise frames opened in place in rbuf, their
 * plaintext fed to yamux; yamux frames written into wbuf and sealed in
 * place, many frames per send()). See host_internal.h.
 */
#include "p2p/host_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

static const char *const noise_list[1] = {BM_NOISE_ID};
static const char *const yamux_list[1] = {BM_NOISE_YAMUX_ID};

static void open_session(struct bm__p2p_conn *c);
static void yamux_input(struct bm__p2p_conn *c, const uint8_t *p, size_t n);

/* Ends c on an I/O or framing failure: a disconnect (reason dc) if it was
 * open, a failed upgrade (outcome hs, error err) otherwise. */
static void lost(struct bm__p2p_conn *c, enum bm_p2p_disconnect dc,
                 enum bm_p2p_handshake hs, int err)
{
    if (c->state == BM__CS_OPEN) {
        bm__p2p_conn_close(c, dc);
    } else {
        bm__p2p_conn_fail(c, hs, err);
    }
}

/* ------------------------------------------------------------ buffers */

/* Makes room for n bytes at wbuf's tail (moves pending bytes to the
 * front if that helps). False if they cannot fit. */
static bool wbuf_room(struct bm__p2p_conn *c, size_t n)
{
    if (c->whead == c->wtail) {
        c->whead = c->wtail = 0;
    }
    if (BM__P2P_WBUF - c->wtail >= n) {
        return true;
    }
    if (c->whead > 0) {
        memmove(c->wbuf, c->wbuf + c->whead, c->wtail - c->whead);
        c->wtail -= c->whead;
        c->whead = 0;
    }
    return BM__P2P_WBUF - c->wtail >= n;
}

/* Appends raw (pre-Noise) bytes. */
static void raw_append(struct bm__p2p_conn *c, const uint8_t *p, size_t n)
{
    if (n == 0) {
        return;
    }
    if (!wbuf_room(c, n)) {
        /* Upgrade messages are small and written once: cannot happen. */
        bm_log_error("p2p", "upgrade output does not fit conn=%llu",
                     (unsigned long long)c->serial);
        return;
    }
    memcpy(c->wbuf + c->wtail, p, n);
    c->wtail += n;
    bm__p2p_conn_dirty(c);
}

/* Seals p[0..n) (a separate buffer) as transport frames into wbuf. */
static int seal_append(struct bm__p2p_conn *c, const uint8_t *p, size_t n)
{
    size_t need = bm_noise_sealed_size(n);
    int64_t r;

    if (n == 0) {
        return BM_OK;
    }
    if (!wbuf_room(c, need)) {
        return BM_EFULL;
    }
    r = bm_noise_seal_all(&c->tx, p, n, c->wbuf + c->wtail,
                          BM__P2P_WBUF - c->wtail);
    if (r < 0) {
        return (int)r;
    }
    c->wtail += (size_t)r;
    bm__p2p_conn_dirty(c);
    return BM_OK;
}

static void epoll_set(struct bm__p2p_conn *c, bool out)
{
    struct epoll_event ev;

    if (c->fd < 0 || c->epollout == out) {
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
    ev.data.ptr = &c->io;
    if (epoll_ctl(c->h->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
        c->epollout = out;
    }
}

/* ------------------------------------------------------------ lifecycle */

static void start_security(struct bm__p2p_conn *c)
{
    uint8_t out[BM_MULTISTREAM_OUT_MAX];
    size_t used = 0, written = 0;
    int r;

    c->state = BM__CS_SECURITY;
    r = bm_multistream_init(&c->ms,
                            c->inbound ? BM_MULTISTREAM_RESPONDER
                                       : BM_MULTISTREAM_INITIATOR,
                            noise_list, 1);
    if (r == BM_OK) {
        r = bm_multistream_feed(&c->ms, NULL, 0, &used, out, sizeof(out),
                                &written, NULL);
    }
    if (r < 0) {
        bm__p2p_conn_fail(c, BM_P2P_HS_NEGOTIATION, r);
        return;
    }
    raw_append(c, out, written);
}

struct bm__p2p_conn *bm__p2p_conn_new(struct bm_p2p_host *h, int fd,
                                      bool inbound,
                                      const struct bm_multiaddr *remote)
{
    struct bm__p2p_conn *c = bm_calloc(1, sizeof(*c));
    struct epoll_event ev;

    if (c != NULL) {
        c->rbuf = bm_malloc(BM__P2P_RBUF);
        c->wbuf = bm_malloc(BM__P2P_WBUF);
    }
    if (c == NULL || c->rbuf == NULL || c->wbuf == NULL) {
        goto fail;
    }
    c->io.kind = BM__P2P_IO_CONN;
    c->h = h;
    c->serial = ++h->next_serial;
    c->fd = fd;
    c->inbound = inbound;
    c->remote = *remote;
    c->remote.has_peer = false;
    c->seed = -1;
    memcpy(c->peer_str, "?", 2);
    c->state = BM__CS_CONNECTING;
    c->deadline_ms = h->now_ms + h->cfg.upgrade_ms;
    bm__p2p_host_due(h, c->deadline_ms);
    memset(&ev, 0, sizeof(ev));
    ev.events = inbound ? EPOLLIN : EPOLLOUT;
    ev.data.ptr = &c->io;
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        goto fail;
    }
    c->epollout = !inbound;
    c->next = h->conns;
    if (h->conns != NULL) {
        h->conns->prev = c;
    }
    h->conns = c;
    h->n_conns++;
    BM__P2P_INC(h, connections);
    if (inbound) {
        BM__P2P_INC(h, conns_inbound);
        start_security(c);
    } else {
        BM__P2P_INC(h, conns_outbound);
    }
    return c;
fail:
    close(fd);
    if (c != NULL) {
        bm_free(c->rbuf);
        bm_free(c->wbuf);
        bm_free(c);
    }
    return NULL;
}

/* Closes the socket and moves c to the dead list. */
static void teardown(struct bm__p2p_conn *c)
{
    struct bm_p2p_host *h = c->h;

    if (c->fd >= 0) {
        (void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->state = BM__CS_CLOSED;
    c->slot = NULL; /* the snapshot is rebuilt without it */
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        h->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->next = c->prev = NULL;
    h->n_conns--;
    BM__P2P_SUB(h, connections, 1);
    /* Onto the dead list; freed at the end of the turn, after the dirty
     * list (which skips closed conns) is empty. */
    c->xnext = h->dead;
    h->dead = c;
    bm_noise_hs_free(c->hs);
    c->hs = NULL;
}

void bm__p2p_conn_fail(struct bm__p2p_conn *c, enum bm_p2p_handshake o,
                       int err)
{
    if (c->state == BM__CS_CLOSED) {
        return;
    }
    BM__P2P_INC(c->h, handshakes[o]);
    if (!c->inbound) {
        BM__P2P_INC(c->h, dial_failures);
    }
    bm_log_debug("p2p", "upgrade failed conn=%llu dir=%s outcome=%s err=%s",
                 (unsigned long long)c->serial,
                 c->inbound ? "inbound" : "outbound",
                 bm_p2p_handshake_name(o), bm_err_name(err));
    teardown(c);
    bm__p2p_host_conn_down(c, false, err, bm_p2p_handshake_name(o));
}

void bm__p2p_conn_close(struct bm__p2p_conn *c, enum bm_p2p_disconnect r)
{
    if (c->state == BM__CS_CLOSED) {
        return;
    }
    if (c->state != BM__CS_OPEN) {
        bm__p2p_conn_fail(c, BM_P2P_HS_IO, BM_ECLOSED);
        return;
    }
    /* Last words (a GoAway, queued frames): one non-blocking attempt. */
    if (r != BM_P2P_DC_IO && r != BM_P2P_DC_EOF && r != BM_P2P_DC_NOISE) {
        bm__p2p_conn_flush(c);
        if (c->state == BM__CS_CLOSED) {
            return; /* the flush failed and closed it */
        }
    }
    BM__P2P_INC(c->h, disconnects[r]);
    bm_log_debug("p2p", "connection closed conn=%llu reason=%s",
                 (unsigned long long)c->serial, bm_p2p_disconnect_name(r));
    teardown(c);
    bm__p2p_streams_end(c, BM_ECLOSED);
    bm__p2p_host_conn_down(c, true, (int)r, bm_p2p_disconnect_name(r));
}

void bm__p2p_conn_free(struct bm__p2p_conn *c)
{
    bm_yamux_free(c->mux);
    bm_noise_hs_free(c->hs);
    bm_noise_cipher_wipe(&c->tx);
    bm_noise_cipher_wipe(&c->rx);
    bm_free(c->msbuf);
    bm_free(c->rbuf);
    bm_free(c->wbuf);
    bm_free(c);
}

void bm__p2p_conn_dirty(struct bm__p2p_conn *c)
{
    if (c->dirty || c->state == BM__CS_CLOSED) {
        return;
    }
    c->dirty = true;
    c->dnext = c->h->dirty;
    c->h->dirty = c;
}

/* ------------------------------------------------------------ upgrade */

static void start_noise(struct bm__p2p_conn *c)
{
    struct bm_noise_config nc;
    uint8_t out[BM_NOISE_HS_OUT_MAX];
    size_t used = 0, written = 0;
    int r;

    memset(&nc, 0, sizeof(nc));
    nc.role = c->inbound ? BM_NOISE_RESPONDER : BM_NOISE_INITIATOR;
    nc.identity = &c->h->identity;
    nc.expected = c->has_expected ? &c->expected : NULL;
    nc.static_key = c->h->static_key;
    r = bm_noise_hs_new(&nc, &c->hs);
    if (r == BM_OK) {
        r = bm_noise_hs_feed(c->hs, NULL, 0, &used, out, sizeof(out),
                             &written, NULL);
    }
    if (r < 0) {
        bm__p2p_conn_fail(c, BM_P2P_HS_NOISE, r);
        return;
    }
    c->state = BM__CS_NOISE;
    raw_append(c, out, written);
}

static void finish_noise(struct bm__p2p_conn *c)
{
    struct bm_noise_remote remote;
    uint8_t out[BM_MULTISTREAM_OUT_MAX];
    size_t used = 0, written = 0;
    int r;

    r = bm_noise_hs_finish(c->hs, &remote, &c->tx, &c->rx);
    bm_noise_hs_free(c->hs);
    c->hs = NULL;
    if (r != BM_OK) {
        bm__p2p_conn_fail(c, BM_P2P_HS_NOISE, r);
        return;
    }
    c->peer = remote.peer;
    c->has_peer = true;
    bm_peer_id_format(&c->peer, c->peer_str);
    if (bm__p2p_host_gate(c->h, &c->peer) != BM_OK) {
        bm__p2p_conn_fail(c, BM_P2P_HS_GATED, BM_EPERM);
        return;
    }
    if (remote.muxer != BM_NOISE_MUXER_NEGOTIATE) {
        open_session(c);
        return;
    }
    /* No muxer list from the peer: multistream inside Noise (spec 4.6). */
    c->msbuf = bm_malloc(BM_MULTISTREAM_IN_MAX);
    r = c->msbuf != NULL ? BM_OK : BM_ENOMEM;
    if (r == BM_OK) {
        r = bm_multistream_init(&c->ms,
                                c->inbound ? BM_MULTISTREAM_RESPONDER
                                           : BM_MULTISTREAM_INITIATOR,
                                yamux_list, 1);
    }
    if (r == BM_OK) {
        r = bm_multistream_feed(&c->ms, NULL, 0, &used, out, sizeof(out),
                                &written, NULL);
    }
    if (r >= 0) {
        r = seal_append(c, out, written);
    }
    if (r < 0) {
        bm__p2p_conn_fail(c, BM_P2P_HS_NEGOTIATION, r);
        return;
    }
    c->state = BM__CS_MUXER;
}

static void open_session(struct bm__p2p_conn *c)
{
    struct bm_p2p_host *h = c->h;
    struct bm_yamux_config yc;

    bm_yamux_config_init(&yc);
    yc.client = !c->inbound;
    yc.max_streams = h->cfg.max_streams;
    yc.accept_backlog = h->cfg.accept_backlog;
    /* One yamux frame per Noise frame. */
    yc.max_data_frame = BM_NOISE_PLAINTEXT_MAX - BM_YAMUX_HEADER_SIZE;
    yc.max_stream_queue = h->cfg.max_peer_queue;
    yc.keepalive_ms = h->cfg.keepalive_ms;
    yc.keepalive_timeout_ms = h->cfg.keepalive_timeout_ms;
    yc.max_control = BM__P2P_MAX_CONTROL;
    /* Windows of 256 KiB made sender and receiver take turns (seal a
     * window, wait while it is opened); 1 MiB lets them overlap. */
    yc.recv_window = BM__P2P_STREAM_WINDOW;
    if (bm_yamux_new(&c->mux, &yc) != BM_OK) {
        bm__p2p_conn_fail(c, BM_P2P_HS_IO, BM_ENOMEM);
        return;
    }
    bm_free(c->msbuf);
    c->msbuf = NULL;
    c->mslen = 0;
    c->state = BM__CS_OPEN;
    c->deadline_ms = 0;
    c->opened_ms = h->now_ms;
    (void)bm_yamux_tick(c->mux, h->now_ms);
    bm__p2p_host_due(h, bm_yamux_next_tick(c->mux));
    BM__P2P_INC(h, handshakes[BM_P2P_HS_OK]);
    if (!bm__p2p_host_conn_up(c)) {
        return;
    }
    bm__p2p_builtin_connected(c);
    bm__p2p_conn_dirty(c);
}

/* Plaintext while multistream selects the muxer inside Noise. */
static void muxer_input(struct bm__p2p_conn *c, const uint8_t *p, size_t n)
{
    uint8_t out[BM_MULTISTREAM_OUT_MAX];

    while (n > 0 && c->state == BM__CS_MUXER) {
        size_t written = 0;
        int r = bm__p2p_ms_input(&c->ms, c->msbuf, &c->mslen, &p, &n, out,
                                 &written);

        if (r >= 0 && written > 0) {
            int e = seal_append(c, out, written);

            r = e < 0 ? e : r;
        }
        if (r < 0) {
            bm__p2p_conn_fail(c, BM_P2P_HS_NEGOTIATION, r);
            return;
        }
        if (r == BM_MULTISTREAM_DONE) {
            uint8_t *left = c->msbuf;
            size_t nleft = c->mslen;

            c->msbuf = NULL; /* open_session frees msbuf: keep ours */
            open_session(c);
            if (c->state == BM__CS_OPEN && nleft > 0) {
                yamux_input(c, left, nleft);
            }
            bm_free(left);
            if (c->state == BM__CS_OPEN && n > 0) {
                yamux_input(c, p, n);
            }
            return;
        }
    }
}

/* ------------------------------------------------------------ transport */

static void yamux_input(struct bm__p2p_conn *c, const uint8_t *p, size_t n)
{
    size_t off = 0;

    for (;;) {
        struct bm_yamux_event ev;
        size_t used = 0;
        int r = bm_yamux_input(c->mux, p + off, n - off, &used, &ev);

        off += used;
        if (r != BM_OK) {
            bm_log_info("p2p", "yamux protocol error, closing peer=%s "
                        "error=%s sid=%u",
                        c->peer_str,
                        bm_yamux_error_name((enum bm_yamux_error)ev.code),
                        ev.sid);
            bm__p2p_conn_close(c, BM_P2P_DC_YAMUX);
            return;
        }
        if (ev.type == BM_YAMUX_EV_NONE) {
            break;
        }
        if (ev.type == BM_YAMUX_EV_GOAWAY) {
            bm__p2p_conn_close(c, BM_P2P_DC_GOAWAY);
            return;
        }
        bm__p2p_stream_event(c, &ev);
        if (c->state != BM__CS_OPEN) {
            return;
        }
    }
    /* The keepalive clock restarts at this input (a Ping goes out after
     * keepalive_ms without one); the loop's deadline check only has to
     * come back when that is due. */
    if (bm_yamux_tick(c->mux, c->h->now_ms) == BM_ETIMEDOUT) {
        bm__p2p_conn_close(c, BM_P2P_DC_KEEPALIVE);
        return;
    }
    if (bm_yamux_has_output(c->mux)) {
        bm__p2p_conn_dirty(c);
    }
}

/* Opens every whole transport frame in rbuf[*off..rlen) in place. */
static void transport_input(struct bm__p2p_conn *c, size_t *off)
{
    while (c->state == BM__CS_OPEN || c->state == BM__CS_MUXER) {
        size_t used = 0, plen = 0;
        uint8_t *frame = c->rbuf + *off;
        int r = bm_noise_open(&c->rx, frame, c->rlen - *off, &used, frame + 2,
                              BM__P2P_RBUF - *off - 2, &plen);

        if (r == BM_NOISE_AGAIN) {
            return;
        }
        if (r < 0) {
            lost(c, BM_P2P_DC_NOISE, BM_P2P_HS_NOISE, r);
            return;
        }
        *off += used;
        if (plen == 0) {
            continue;
        }
        if (c->state == BM__CS_MUXER) {
            muxer_input(c, frame + 2, plen);
            continue;
        }
        yamux_input(c, frame + 2, plen);
        if (c->state == BM__CS_OPEN && *off < c->rlen &&
            bm_yamux_credit_pending(c->mux)) {
            /* A stream's credit goes out now, not after the rest of the
             * batch is opened: the sender refills the window while we
             * decrypt, instead of waiting for us. */
            bm__p2p_conn_flush(c);
        }
    }
}

/* Runs the pipeline over what rbuf holds; keeps unconsumed bytes. */
static void process(struct bm__p2p_conn *c)
{
    uint8_t out[BM_MULTISTREAM_OUT_MAX > BM_NOISE_HS_OUT_MAX
                    ? BM_MULTISTREAM_OUT_MAX
                    : BM_NOISE_HS_OUT_MAX];
    size_t off = 0;

    while (c->state != BM__CS_CLOSED) {
        size_t used = 0, written = 0;
        int r;

        if (c->state == BM__CS_SECURITY) {
            r = bm_multistream_feed(&c->ms, c->rbuf + off, c->rlen - off,
                                    &used, out, sizeof(out), &written, NULL);
            off += used;
            raw_append(c, out, written);
            if (r < 0) {
                bm__p2p_conn_fail(c, BM_P2P_HS_NEGOTIATION, r);
                return;
            }
            if (r == BM_MULTISTREAM_AGAIN) {
                break;
            }
            start_noise(c);
            continue;
        }
        if (c->state == BM__CS_NOISE) {
            r = bm_noise_hs_feed(c->hs, c->rbuf + off, c->rlen - off, &used,
                                 out, sizeof(out), &written, NULL);
            off += used;
            raw_append(c, out, written);
            if (r < 0) {
                bm__p2p_conn_fail(c, r == BM_EPEER_MISMATCH
                                         ? BM_P2P_HS_PEER_MISMATCH
                                         : BM_P2P_HS_NOISE,
                                  r);
                return;
            }
            if (r == BM_NOISE_AGAIN) {
                break;
            }
            finish_noise(c);
            continue;
        }
        transport_input(c, &off);
        break;
    }
    if (c->state == BM__CS_CLOSED) {
        return;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->rlen == BM__P2P_RBUF) {
        /* A full buffer without a whole message: cannot happen (rbuf
         * holds two maximal frames); refuse rather than spin. */
        lost(c, BM_P2P_DC_NOISE, BM_P2P_HS_NOISE, BM_ETOOBIG);
    }
}

static void conn_read(struct bm__p2p_conn *c)
{
    for (int i = 0; i < 8 && c->state != BM__CS_CLOSED; i++) {
        size_t room = BM__P2P_RBUF - c->rlen;
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);

        if (n == 0) {
            lost(c, BM_P2P_DC_EOF, BM_P2P_HS_IO, BM_ECLOSED);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            lost(c, BM_P2P_DC_IO, BM_P2P_HS_IO, BM_EIO);
            return;
        }
        c->rlen += (size_t)n;
        c->bytes_in += (uint64_t)n;
        BM__P2P_ADD(c->h, bytes_in, (uint64_t)n);
        bm__p2p_host_count(c, (uint64_t)n, 0);
        process(c);
        if (c->state == BM__CS_OPEN &&
            bm_yamux_control_pending(c->mux) > BM__P2P_CONTROL_PAUSE) {
            /* Answers pile up (a SYN or ping flood): write them before
             * reading more. A peer that never reads them ends up over
             * BM__P2P_MAX_CONTROL: a yamux error, counted. */
            bm__p2p_conn_flush(c);
            return;
        }
        if ((size_t)n < room) {
            return; /* the socket is drained */
        }
    }
}

void bm__p2p_conn_event(struct bm__p2p_conn *c, uint32_t events)
{
    if (c->state == BM__CS_CLOSED) {
        return;
    }
    if (c->state == BM__CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
            err != 0) {
            bm__p2p_conn_fail(c, BM_P2P_HS_IO, BM_ECONNECT);
            return;
        }
        epoll_set(c, false);
        start_security(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        conn_read(c);
    }
    if (c->state != BM__CS_CLOSED && (events & EPOLLOUT)) {
        bm__p2p_conn_dirty(c);
    }
}

/* ------------------------------------------------------------ output */

/* Cuts yamux output into frames sealed in place, while a frame fits. */
static int produce(struct bm__p2p_conn *c)
{
    while (wbuf_room(c, BM_NOISE_FRAME_MAX)) {
        uint8_t *frame = c->wbuf + c->wtail;
        size_t n = bm_yamux_output(c->mux, frame + 2, BM_NOISE_PLAINTEXT_MAX);
        int64_t r;

        if (n == 0) {
            return BM_OK;
        }
        r = bm_noise_seal(&c->tx, frame + 2, n, frame,
                          BM__P2P_WBUF - c->wtail);
        if (r < 0) {
            return (int)r;
        }
        c->wtail += (size_t)r;
    }
    return BM_OK;
}

void bm__p2p_conn_flush(struct bm__p2p_conn *c)
{
    if (c->state == BM__CS_CLOSED || c->state == BM__CS_CONNECTING) {
        return;
    }
    for (;;) {
        ssize_t n;

        if (c->state == BM__CS_OPEN && produce(c) != BM_OK) {
            bm__p2p_conn_close(c, BM_P2P_DC_NOISE);
            return;
        }
        if (c->whead == c->wtail) {
            break;
        }
        n = send(c->fd, c->wbuf + c->whead, c->wtail - c->whead,
                 MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                epoll_set(c, true);
                return;
            }
            lost(c, BM_P2P_DC_IO, BM_P2P_HS_IO, BM_EIO); /* no last flush */
            return;
        }
        c->whead += (size_t)n;
        c->bytes_out += (uint64_t)n;
        BM__P2P_ADD(c->h, bytes_out, (uint64_t)n);
        bm__p2p_host_count(c, 0, (uint64_t)n);
        if (c->whead != c->wtail) {
            epoll_set(c, true); /* the socket buffer is full */
            return;
        }
        c->whead = c->wtail = 0;
        if (c->state != BM__CS_OPEN || !bm_yamux_has_output(c->mux)) {
            break;
        }
    }
    epoll_set(c, false);
}

/* ------------------------------------------------------------ ticks */

uint64_t bm__p2p_conn_tick(struct bm__p2p_conn *c, uint64_t now_ms)
{
    uint64_t next, streams;

    if (c->state == BM__CS_CLOSED) {
        return BM__P2P_NEVER;
    }
    if (c->state != BM__CS_OPEN) {
        if (c->deadline_ms == 0) {
            return BM__P2P_NEVER;
        }
        if (now_ms >= c->deadline_ms) {
            bm__p2p_conn_fail(c, BM_P2P_HS_TIMEOUT, BM_ETIMEDOUT);
            return BM__P2P_NEVER;
        }
        return c->deadline_ms;
    }
    if (bm_yamux_tick(c->mux, now_ms) == BM_ETIMEDOUT) {
        bm__p2p_conn_close(c, BM_P2P_DC_KEEPALIVE);
        return BM__P2P_NEVER;
    }
    if (bm_yamux_has_output(c->mux)) {
        bm__p2p_conn_dirty(c);
    }
    next = bm_yamux_next_tick(c->mux);
    streams = bm__p2p_streams_tick(c, now_ms);
    if (c->state != BM__CS_OPEN) {
        return BM__P2P_NEVER;
    }
    return streams < next ? streams : next;
}
