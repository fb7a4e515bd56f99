/*
 * Fuzz target: multistream-select (src/p2p/multistream.h) on untrusted
 * bytes. The first byte picks the role (responder with the host's usual
 * protocols, eager initiator with two proposals, lazy initiator) and a
 * chunk size; the rest is what the peer sends. The input is fed once
 * whole and once in chunks, keeping unconsumed bytes as a host does:
 * both runs must agree on the outcome, the bytes written and the bytes
 * consumed; output never exceeds BM_MULTISTREAM_OUT_MAX; consumption
 * stops at the end of the deciding line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/multistream.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const served[] = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0",
                                     "/floodsub/1.0.0", "/noise",
                                     "/yamux/1.0.0"};
static const char *const offers[] = {"/tls/1.0.0", "/noise"};
static const char *const lazy[] = {"/floodsub/1.0.0"};

struct run {
    int r;
    size_t consumed; /* total */
    size_t written;  /* total */
    uint8_t out[2 * BM_MULTISTREAM_OUT_MAX];
    int selected;
};

static void init(struct bm_multistream *m, unsigned role)
{
    enum bm_err err;

    switch (role) {
    case 0:
        err = bm_multistream_init(m, BM_MULTISTREAM_RESPONDER, served, 5);
        break;
    case 1:
        err = bm_multistream_init(m, BM_MULTISTREAM_INITIATOR, offers, 2);
        break;
    default:
        err = bm_multistream_init(m, BM_MULTISTREAM_INITIATOR_LAZY, lazy, 1);
        break;
    }
    if (err != BM_OK) {
        abort();
    }
}

/* Feeds in[0..n) in chunks of `chunk` bytes (0: all at once). */
static void run(unsigned role, const uint8_t *in, size_t n, size_t chunk,
                struct run *out)
{
    static uint8_t held[1 << 16];
    uint8_t buf[BM_MULTISTREAM_OUT_MAX];
    struct bm_multistream m;
    struct bm_errmsg em;
    size_t have = 0, fed = 0;

    memset(out, 0, sizeof(*out));
    init(&m, role);
    for (;;) {
        size_t add = chunk == 0 ? n - fed : (n - fed < chunk ? n - fed : chunk);
        size_t c, w;
        if (have + add > sizeof(held)) {
            abort();
        }
        memcpy(held + have, in + fed, add);
        have += add;
        fed += add;
        em.msg[0] = '\0';
        out->r =
            bm_multistream_feed(&m, held, have, &c, buf, sizeof(buf), &w, &em);
        if (c > have || w > sizeof(buf) ||
            out->written + w > BM_MULTISTREAM_OUT_MAX) {
            abort();
        }
        memcpy(out->out + out->written, buf, w);
        out->written += w;
        out->consumed += c;
        memmove(held, held + c, have - c);
        have -= c;
        if (out->r < 0 && em.msg[0] == '\0' && out->r != BM_ESTATE) {
            abort(); /* every refusal says why */
        }
        if (out->r != BM_MULTISTREAM_AGAIN || fed == n) {
            break;
        }
    }
    out->selected = bm_multistream_selected(&m);
    if (out->r == BM_MULTISTREAM_DONE) {
        if (!bm_multistream_done(&m) || out->selected < 0 ||
            out->selected >= (role == 0   ? 5
                              : role == 1 ? 2
                                          : 1)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run whole, pieces;
    unsigned role, chunk;

    if (size == 0 || size > 8192) {
        return 0;
    }
    role = data[0] % 3;
    chunk = 1 + (data[0] >> 2) % 17;
    run(role, data + 1, size - 1, 0, &whole);
    run(role, data + 1, size - 1, chunk, &pieces);
    /* Chunking changes nothing, except that a whole input may reach an
     * error the chunked run has not reached yet only if it stopped early
     * (never: both runs see every byte). */
    if (whole.r != pieces.r || whole.consumed != pieces.consumed ||
        whole.written != pieces.written ||
        memcmp(whole.out, pieces.out, whole.written) != 0 ||
        whole.selected != pieces.selected) {
        abort();
    }
    return 0;
}
