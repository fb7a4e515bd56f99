/*
 * Fuzz target: the yamux session (src/p2p/yamux.h) on untrusted frames.
 * Byte 0 picks the role (bit 0: client), whether inbound streams are
 * accepted and consumed (bits 1-2), and a chunk size (bits 3-7); the rest
 * is what the peer sends, fed in chunks. Events are handled as a host
 * would: accept and consume, and sometimes write, close or reset a stream
 * (driven by the data itself). Invariants: input after an error is
 * refused; output is whole frames of at most the buffer; live streams
 * never exceed the limit; every allocation is freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/yamux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(struct bm_yamux *y)
{
    static uint8_t out[70000];
    size_t n;
    int guard = 0;

    while ((n = bm_yamux_output(y, out, sizeof(out))) > 0 && guard++ < 64) {
        if (n > sizeof(out) || n < BM_YAMUX_HEADER_SIZE) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_yamux_config cfg;
    struct bm_yamux *y;
    struct bm_yamux_stats st;
    size_t chunk, off;
    bool accept, consume;
    bool failed = false;
    uint64_t now = 0;

    if (size < 1) {
        return 0;
    }
    bm_yamux_config_init(&cfg);
    cfg.client = data[0] & 1;
    accept = (data[0] & 2) != 0;
    consume = (data[0] & 4) != 0;
    chunk = (size_t)(data[0] >> 3) + 1;
    cfg.max_streams = 64;
    cfg.accept_backlog = 16;
    cfg.max_control = 256;
    cfg.max_stream_queue = 1 << 16;
    /* The host's 1 MiB receive window on half the inputs (bit 3 also
     * counts in the chunk size). */
    cfg.recv_window = (data[0] & 8) != 0 ? 1024u * 1024u : 0;
    if (bm_yamux_new(&y, &cfg) != BM_OK) {
        return 0;
    }
    data++;
    size--;
    off = 0;
    while (off < size) {
        size_t end = off + chunk < size ? off + chunk : size;

        for (;;) {
            struct bm_yamux_event ev;
            size_t used = 0;
            int err = bm_yamux_input(y, data + off, end - off, &used, &ev);

            if (used > end - off) {
                abort();
            }
            off += used;
            if (err != BM_OK) {
                if (err != BM_EPROTO) {
                    abort();
                }
                failed = true;
                break;
            }
            if (failed) {
                abort(); /* input accepted after an error */
            }
            if (ev.type == BM_YAMUX_EV_NONE) {
                if (off != end) {
                    abort();
                }
                break;
            }
            if (ev.type == BM_YAMUX_EV_GOAWAY) {
                failed = true;
                break;
            }
            if (ev.type == BM_YAMUX_EV_OPEN && accept) {
                (void)bm_yamux_stream_accept(y, ev.sid);
            }
            if (ev.type == BM_YAMUX_EV_DATA) {
                if (consume) {
                    (void)bm_yamux_stream_consumed(y, ev.sid, ev.len);
                }
                /* The data decides what the "handler" does next. */
                switch (ev.len > 0 ? ev.data[0] & 7 : 0) {
                case 1:
                    (void)bm_yamux_stream_write(y, ev.sid, ev.data, ev.len);
                    break;
                case 2:
                    (void)bm_yamux_stream_close(y, ev.sid);
                    break;
                case 3:
                    (void)bm_yamux_stream_reset(y, ev.sid, 0x1004);
                    break;
                case 4: {
                    uint32_t sid;

                    (void)bm_yamux_open(y, &sid);
                    break;
                }
                default:
                    break;
                }
            }
            if (ev.type == BM_YAMUX_EV_FIN) {
                (void)bm_yamux_stream_close(y, ev.sid);
            }
        }
        if (failed) {
            break;
        }
        now += 7000;
        (void)bm_yamux_tick(y, now);
        drain(y);
    }
    drain(y);
    bm_yamux_stats(y, &st);
    if (st.live_streams > cfg.max_streams) {
        abort();
    }
    bm_yamux_free(y);
    return 0;
}
