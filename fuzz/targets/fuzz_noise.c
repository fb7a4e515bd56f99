/*
 * Fuzz target: Noise (src/p2p/noise.h) on untrusted bytes. The first byte
 * picks what the rest is:
 *  0: a NoiseHandshakePayload for the decoder alone (views must stay
 *     inside the input);
 *  1: the payload a responder sends, carried by a real handshake (fixed
 *     keys of spec 11.3) to an initiator that checks it: decoding, key
 *     type, peer ID, signature, muxer choice;
 *  2: the bytes an initiator receives after its message 1 (message 2,
 *     then transport frames);
 *  3: the bytes a responder receives (message 1, message 3, then
 *     transport frames); the spec 11.3 transcript completes here;
 *  4: transport frames under the spec's k1 key, opened in place, and a
 *     seal/open round trip of the input.
 * Every refusal must carry a message; nothing may read or write outside
 * the buffers (ASan) or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/keys.h"
#include "p2p/noise.h"
#include "util/alloc.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bm_privkey id_a, id_b;
static struct bm_peer_id peer_a, peer_b;
static uint8_t sa[32], sb[32], ea[32], eb[32];
/* k1 of spec 11.3 (A -> B). */
static const uint8_t k1[32] = {0x87, 0x54, 0x51, 0x87, 0xbd, 0xfc, 0x01, 0x30,
                               0xee, 0x12, 0x18, 0x44, 0x89, 0xf9, 0xd7, 0x4d,
                               0xa5, 0xb3, 0x91, 0xee, 0x6e, 0x64, 0x84, 0x61,
                               0x90, 0xbc, 0x39, 0x16, 0x5d, 0x27, 0x3c, 0x7d};

static void init_once(void)
{
    static int done;
    uint8_t seed[32];

    if (done) {
        return;
    }
    (void)bm_crypto_init();
    memset(seed, 0x07, 32);
    bm_keys_from_seed(&id_a, seed);
    memset(seed, 0x08, 32);
    bm_keys_from_seed(&id_b, seed);
    bm_peer_id_from_privkey(&peer_a, &id_a);
    bm_peer_id_from_privkey(&peer_b, &id_b);
    memset(sa, 0x11, 32);
    memset(sb, 0x22, 32);
    memset(ea, 0x33, 32);
    memset(eb, 0x44, 32);
    done = 1;
}

static void check_err(int r, const struct bm_errmsg *em)
{
    if (r < 0 && r != BM_ESTATE && em->msg[0] == '\0') {
        abort();
    }
}

/* Opens frames from p[0..n) with c until need-more or an error. */
static void open_frames(struct bm_noise_cipher *c, uint8_t *p, size_t n)
{
    size_t pos = 0;

    while (n - pos >= 2) {
        size_t used = 0, pl = 0;
        int r = bm_noise_open(c, p + pos, n - pos, &used, p + pos + 2,
                              n - pos - 2, &pl);
        if (r != BM_NOISE_DONE) {
            if (r == BM_NOISE_AGAIN && used != 0) {
                abort();
            }
            return;
        }
        if (used < BM_NOISE_FRAME_OVERHEAD || used > n - pos ||
            pl != used - BM_NOISE_FRAME_OVERHEAD) {
            abort();
        }
        pos += used;
    }
}

static void payload_alone(const uint8_t *p, size_t n)
{
    struct bm_noise_payload d;
    struct bm_errmsg em = {{0}};
    int r = bm_noise_payload_decode(&d, p, n, &em);

    check_err(r, &em);
    if (r != BM_OK) {
        return;
    }
    if ((d.identity_key != NULL &&
         (d.identity_key < p || d.identity_key_len > n ||
          d.identity_key + d.identity_key_len > p + n)) ||
        (d.identity_sig != NULL &&
         (d.identity_sig < p || d.identity_sig_len > n ||
          d.identity_sig + d.identity_sig_len > p + n)) ||
        (d.has_muxers && (d.n_muxers == 0 || d.n_muxers > 100)) ||
        (d.lists_yamux && !d.has_muxers)) {
        abort();
    }
}

/* A handshake where B sends p as its payload; A checks it. */
static void payload_in_handshake(const uint8_t *p, size_t n)
{
    struct bm_noise_config ca = {0}, cb = {0};
    struct bm_noise_hs *a = NULL, *b = NULL;
    struct bm_noise_remote rem;
    struct bm_noise_cipher tx, rx;
    struct bm_errmsg em = {{0}};
    static uint8_t o1[BM_NOISE_HS_OUT_MAX], o2[BM_NOISE_HS_OUT_MAX],
        o3[BM_NOISE_HS_OUT_MAX];
    size_t c, w1, w2, w3;
    int r;

    if (n > BM_NOISE_PAYLOAD_OVERRIDE_MAX) {
        return;
    }
    ca.role = BM_NOISE_INITIATOR;
    ca.identity = &id_a;
    ca.expected = &peer_b;
    ca.static_key = sa;
    ca.ephemeral_key = ea;
    cb.role = BM_NOISE_RESPONDER;
    cb.identity = &id_b;
    cb.static_key = sb;
    cb.ephemeral_key = eb;
    cb.payload_override = p;
    cb.payload_override_len = n;
    if (bm_noise_hs_new(&ca, &a) != BM_OK ||
        bm_noise_hs_new(&cb, &b) != BM_OK) {
        goto out;
    }
    if (bm_noise_hs_feed(a, NULL, 0, &c, o1, sizeof(o1), &w1, NULL) !=
            BM_NOISE_AGAIN ||
        bm_noise_hs_feed(b, o1, w1, &c, o2, sizeof(o2), &w2, NULL) !=
            BM_NOISE_AGAIN) {
        abort();
    }
    r = bm_noise_hs_feed(a, o2, w2, &c, o3, sizeof(o3), &w3, &em);
    check_err(r, &em);
    if (r == BM_NOISE_DONE) {
        if (bm_noise_hs_finish(a, &rem, &tx, &rx) != BM_OK ||
            !bm_peer_id_eq(&rem.peer, &peer_b)) {
            abort(); /* only B's key with B's signature gets through */
        }
    } else if (r != BM_ENOMEM && r != BM_EDECODE && r != BM_ETRUNCATED &&
               r != BM_EVARINT && r != BM_EBADKEY && r != BM_EUNSUPPORTED &&
               r != BM_EPEER_MISMATCH && r != BM_EBAD_SIGNATURE &&
               r != BM_ENOMUXER) {
        abort();
    }
out:
    bm_noise_hs_free(a);
    bm_noise_hs_free(b);
}

/* One side of the spec's handshake fed with p (a copy, so frames can be
 * opened in place). */
static void side(enum bm_noise_role role, const uint8_t *p, size_t n)
{
    struct bm_noise_config cfg = {0};
    struct bm_noise_hs *hs = NULL;
    struct bm_noise_remote rem;
    struct bm_noise_cipher tx, rx;
    struct bm_errmsg em = {{0}};
    static uint8_t out[BM_NOISE_HS_OUT_MAX];
    uint8_t *buf = NULL;
    size_t c = 0, w;
    int r;

    cfg.role = role;
    if (role == BM_NOISE_INITIATOR) {
        cfg.identity = &id_a;
        cfg.expected = &peer_b;
        cfg.static_key = sa;
        cfg.ephemeral_key = ea;
    } else {
        cfg.identity = &id_b;
        cfg.static_key = sb;
        cfg.ephemeral_key = eb;
    }
    buf = bm_malloc(n ? n : 1);
    if (buf == NULL || bm_noise_hs_new(&cfg, &hs) != BM_OK) {
        goto out;
    }
    memcpy(buf, p, n);
    if (role == BM_NOISE_INITIATOR &&
        bm_noise_hs_feed(hs, NULL, 0, &c, out, sizeof(out), &w, NULL) !=
            BM_NOISE_AGAIN) {
        abort();
    }
    r = bm_noise_hs_feed(hs, buf, n, &c, out, sizeof(out), &w, &em);
    check_err(r, &em);
    if (c > n || w > sizeof(out)) {
        abort();
    }
    if (r == BM_NOISE_DONE) {
        if (bm_noise_hs_finish(hs, &rem, &tx, &rx) != BM_OK) {
            abort();
        }
        open_frames(&rx, buf + c, n - c);
    }
out:
    bm_noise_hs_free(hs);
    bm_free(buf);
}

static void transport(const uint8_t *p, size_t n)
{
    struct bm_noise_cipher c = {0}, tx = {0}, rx = {0};
    uint8_t *buf = bm_malloc(n + BM_NOISE_FRAME_OVERHEAD + 1);
    size_t used, pl, chunk = n < BM_NOISE_PLAINTEXT_MAX ? n : 0;
    int64_t f;

    if (buf == NULL) {
        return;
    }
    memcpy(c.key, k1, 32);
    memcpy(buf, p, n);
    open_frames(&c, buf, n);
    /* Round trip of the input as plaintext, in place. */
    memcpy(tx.key, k1, 32);
    rx = tx;
    memcpy(buf + 2, p, chunk);
    f = bm_noise_seal(&tx, buf + 2, chunk, buf, chunk + 18);
    if (f != (int64_t)chunk + 18 ||
        bm_noise_open(&rx, buf, (size_t)f, &used, buf + 2, chunk, &pl) !=
            BM_NOISE_DONE ||
        used != (size_t)f || pl != chunk || memcmp(buf + 2, p, chunk) != 0) {
        abort();
    }
    bm_free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 70000) {
        return 0;
    }
    init_once();
    switch (data[0] % 5) {
    case 0:
        payload_alone(data + 1, size - 1);
        break;
    case 1:
        payload_in_handshake(data + 1, size - 1);
        break;
    case 2:
        side(BM_NOISE_INITIATOR, data + 1, size - 1);
        break;
    case 3:
        side(BM_NOISE_RESPONDER, data + 1, size - 1);
        break;
    default:
        transport(data + 1, size - 1);
        break;
    }
    return 0;
}
