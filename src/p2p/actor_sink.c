/*
 * bm_p2p_actor_handler: stream events as typed messages to an actor (see
 * host.h). The handler runs on the loop thread and never blocks: a tell
 * that fails resets the stream and is counted, so nothing is dropped
 * silently.
 */
#include "p2p/host_internal.h"

#include <string.h>

#include "util/alloc.h"

void bm_p2p_stream_event_release(void *payload)
{
    struct bm_p2p_stream_event *ev = payload;

    bm_buf_release(&ev->data);
}

static int tell(struct bm_p2p_stream *s, const struct bm_p2p_actor_sink *sink,
                struct bm_p2p_stream_event *ev)
{
    int err;

    ev->stream = bm_p2p_stream_id(s);
    ev->peer = *bm_p2p_stream_peer(s);
    err = bm_actor_tell(sink->sys, sink->to, sink->kind, ev, sizeof(*ev));
    if (err != BM_OK) {
        bm_buf_release(&ev->data);
        BM__P2P_INC(s->c->h, actor_tell_failures);
    }
    return err;
}

static void sink_event(struct bm_p2p_stream *s, void *arg,
                       enum bm_p2p_event_type type, const uint8_t *p,
                       size_t n)
{
    struct bm_p2p_stream_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    if (n > 0 && bm_buf_set(&ev.data, p, n) != BM_OK) {
        BM__P2P_INC(s->c->h, actor_tell_failures);
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_LIMIT);
        return;
    }
    if (tell(s, arg, &ev) != BM_OK) {
        bm_p2p_stream_reset(s, BM_YAMUX_RESET_LIMIT);
    }
}

static void sink_open(struct bm_p2p_stream *s, void *arg)
{
    sink_event(s, arg, BM_P2P_EV_OPEN, NULL, 0);
}

static void sink_data(struct bm_p2p_stream *s, const uint8_t *p, size_t n,
                      void *arg)
{
    sink_event(s, arg, BM_P2P_EV_DATA, p, n);
}

static void sink_eof(struct bm_p2p_stream *s, void *arg)
{
    sink_event(s, arg, BM_P2P_EV_EOF, NULL, 0);
}

static void sink_close(struct bm_p2p_stream *s, int reason, void *arg)
{
    struct bm_p2p_stream_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = BM_P2P_EV_CLOSE;
    ev.reason = reason;
    (void)tell(s, arg, &ev); /* counted on failure; the stream is over */
}

const struct bm_p2p_handler bm_p2p_actor_handler = {
    .on_open = sink_open,
    .on_data = sink_data,
    .on_eof = sink_eof,
    .on_close = sink_close,
};
