/*
 * Noise XX for libp2p (src/p2p/noise.h): the full transcript of spec
 * 11.3 in both roles with the injected keys, the transport frames after
 * it, in-memory handshakes with a wrong peer ID, a bad signature, another
 * key type, bad payloads and muxer lists, garbage and tampered messages,
 * transport frames that are garbage, short, reordered or oversize, the
 * nonce limit, truncation at every byte, and allocation failure at every
 * allocation point.
 */
#include "sansio_util.h"

#include "p2p/noise.h"
#include "p2p/varint.h"
#include "util/errmsg.h"

#include <sodium.h>

#define A_PUB "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
#define B_PUB "1398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e416bd17d93ca"

#define SA_PUB                                                                 \
    "7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13"
#define SB_PUB                                                                 \
    "0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20"
#define EA_PUB                                                                 \
    "7b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19a4cb8a1b14"
#define EB_PUB                                                                 \
    "ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b"

#define PAYLOAD_A                                                              \
    "0a24 08011220" A_PUB                                                      \
    "1240 509ab8365d08188409fdc338a0ffbafd3a004fab2e0db291c125c0047bd14d0d"    \
    "0fda3217d93006bb6d1026acc15c9aa6d1c59c5d534e1740f6d1ed26cf2b5207"         \
    "220e 120c2f79616d75782f312e302e30"
#define PAYLOAD_B                                                              \
    "0a24 08011220" B_PUB                                                      \
    "1240 dad68c3c5f2f1816d9640fdbb9bc70baff93d20549880ff1e7ff696cb2f8009f"    \
    "7724322e596ea9dd9920a96391d0a7fcea783988cbb1fa5dab4dad7582e26a09"         \
    "220e 120c2f79616d75782f312e302e30"

#define H0 "f3d15e6108ed9556171207baa58f97d29a13c6be40595166066e2e0958dc002d"
#define MSG1 "0020 " EA_PUB
#define MSG2                                                                   \
    "00d8 ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b"    \
    "fcadb15080d9fd0434a18565751d3b6022bec571f33b6212486a1bffa54d1a1ee771"     \
    "2455070d4e3666e35c1eca6c109ed4"                                           \
    "e7d1b5c88b41fb9f635cf5ae8fa82989d2b18fb73f80ebddeeb747339e344210e25f"     \
    "1a35b9a5265d62c23c382107ee5d231d487d1249249f39fb6088faff2a83ee12bc19"     \
    "def56e2ce61094cd9d1f73491bdd001adb8ce3822c464f47428070fa3f18fedd9e7a"     \
    "daacf2365a8c57d730cbff4ff1920ce3c76b99df0e8e35eaf210e58f0b27c84cf7"
#define MSG3                                                                   \
    "00b8 a7ea7dd47dddbcfcd736b91b174c6107b2ad26c161965a119a7b644e0c6b3d06"    \
    "0e85c6de7c48161c9e7d997f6a3efd86"                                         \
    "7b9e4620d57ddcf5bf787b8875604e5d54f2216a29d8815a92f1230bb7ebfc94c761"     \
    "3f9dd5ced95b42efa29b930a8f0decaaa2414cc615c5368a73067f8d034d40dfd549"     \
    "38cbbc34777063bdd7fbc12e6ed7f2af0d72a5ebfab0fbae9db7dda1db1cbad6dda6"     \
    "00c91f922b4ac4def4088ea98448d7f9ec92c11ccb1f6be170ea0500f61c3f63b1d9"
#define FINAL_H                                                                \
    "e99f24a01746f55606014e2bc7f8694f4e5ab16a1a398f15824073b16bb443a8"
#define K1 "87545187bdfc0130ee12184489f9d74da5b391ee6e64846190bc39165d273c7d"
#define K2 "31afe41fee9c650f0b5985013999d47a239b9c95235f7b3a1bd3e2328d76884e"
#define T_AB0                                                                  \
    "0024 c11fbf8ef905955f63116c00096845eb4f5a72c70b1436b76abf18aa20636eab"    \
    "6480cd28"
#define T_BA0 "001c 14e2f811b41a19b98ec28263b57716029a391e354a4d88b33af55196"
#define T_AB1 "0010 ad4ad740d2594bdbbcb3f6505118e741"

static uint8_t fixed_sa[32], fixed_sb[32], fixed_ea[32], fixed_eb[32];
static struct bm_privkey id_a, id_b, id_c;
static struct bm_peer_id peer_a, peer_b, peer_c;

static int setup(void **state)
{
    uint8_t seed[32];
    (void)state;
    assert_int_equal(bm_crypto_init(), BM_OK);
    memset(fixed_sa, 0x11, 32);
    memset(fixed_sb, 0x22, 32);
    memset(fixed_ea, 0x33, 32);
    memset(fixed_eb, 0x44, 32);
    memset(seed, 0x07, 32);
    bm_keys_from_seed(&id_a, seed);
    memset(seed, 0x08, 32);
    bm_keys_from_seed(&id_b, seed);
    memset(seed, 0x09, 32);
    bm_keys_from_seed(&id_c, seed);
    bm_peer_id_from_privkey(&peer_a, &id_a);
    bm_peer_id_from_privkey(&peer_b, &id_b);
    bm_peer_id_from_privkey(&peer_c, &id_c);
    return 0;
}

static struct bm_noise_config cfg_of(enum bm_noise_role role,
                                     const struct bm_privkey *id,
                                     const struct bm_peer_id *expected)
{
    struct bm_noise_config c;
    memset(&c, 0, sizeof(c));
    c.role = role;
    c.identity = id;
    c.expected = expected;
    return c;
}

/* Handshakes of A and B with the fixed keys of spec 11.3. */
static void kat_pair(struct bm_noise_config *ca, struct bm_noise_config *cb,
                     struct bm_noise_hs **a, struct bm_noise_hs **b)
{
    ca->static_key = fixed_sa;
    ca->ephemeral_key = fixed_ea;
    cb->static_key = fixed_sb;
    cb->ephemeral_key = fixed_eb;
    assert_int_equal(bm_noise_hs_new(ca, a), BM_OK);
    assert_int_equal(bm_noise_hs_new(cb, b), BM_OK);
}

/* One feed; the output goes to out (BM_NOISE_HS_OUT_MAX). */
struct hstep {
    int r;
    size_t consumed, written;
    uint8_t out[BM_NOISE_HS_OUT_MAX];
    struct bm_errmsg em;
};

static void hfeed(struct bm_noise_hs *hs, const uint8_t *in, size_t n,
                  struct hstep *s)
{
    memset(&s->em, 0, sizeof(s->em));
    s->r = bm_noise_hs_feed(hs, in, n, &s->consumed, s->out, sizeof(s->out),
                            &s->written, &s->em);
}

static void test_payload_kat(void **state)
{
    uint8_t out[512], pub[32];
    const char *const yamux[] = {BM_NOISE_YAMUX_ID};
    int n;
    (void)state;

    crypto_scalarmult_base(pub, fixed_sa);
    sx_assert_hex(pub, 32, SA_PUB);
    crypto_scalarmult_base(pub, fixed_sb);
    sx_assert_hex(pub, 32, SB_PUB);
    crypto_scalarmult_base(pub, fixed_ea);
    sx_assert_hex(pub, 32, EA_PUB);
    crypto_scalarmult_base(pub, fixed_eb);
    sx_assert_hex(pub, 32, EB_PUB);

    crypto_scalarmult_base(pub, fixed_sa);
    n = bm_noise_payload_encode(&id_a, pub, yamux, 1, out, sizeof(out));
    assert_int_equal(n, 120);
    sx_assert_hex(out, (size_t)n, PAYLOAD_A);
    crypto_scalarmult_base(pub, fixed_sb);
    n = bm_noise_payload_encode(&id_b, pub, yamux, 1, out, sizeof(out));
    sx_assert_hex(out, (size_t)n, PAYLOAD_B);
    /* Too small a buffer. */
    assert_int_equal(bm_noise_payload_encode(&id_b, pub, yamux, 1, out, 119),
                     BM_ETOOBIG);
}

/* The whole transcript of spec 11.3, both roles at once. */
static void test_transcript_kat(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, NULL);
    struct bm_noise_hs *a = NULL, *b = NULL;
    struct bm_noise_remote ra, rb;
    struct bm_noise_cipher atx, arx, btx, brx;
    struct hstep s;
    uint8_t msg[1024], frame[256], plain[256];
    size_t n, c, pl;
    int64_t f;
    (void)state;

    kat_pair(&ca, &cb, &a, &b);
    sx_assert_hex(bm_noise_hs_hash(a), 32, H0);
    sx_assert_hex(bm_noise_hs_hash(b), 32, H0);

    hfeed(a, NULL, 0, &s);
    assert_int_equal(s.r, BM_NOISE_AGAIN);
    sx_assert_hex(s.out, s.written, MSG1);
    hfeed(b, NULL, 0, &s); /* the responder writes nothing first */
    assert_int_equal(s.r, BM_NOISE_AGAIN);
    assert_int_equal(s.written, 0);

    n = sx_hex(msg, sizeof(msg), MSG1);
    hfeed(b, msg, n, &s);
    assert_int_equal(s.r, BM_NOISE_AGAIN);
    assert_int_equal(s.consumed, n);
    sx_assert_hex(s.out, s.written, MSG2);

    n = sx_hex(msg, sizeof(msg), MSG2);
    hfeed(a, msg, n, &s);
    assert_int_equal(s.r, BM_NOISE_DONE);
    assert_int_equal(s.consumed, n);
    sx_assert_hex(s.out, s.written, MSG3);

    /* Message 3 and the first transport frame in one segment (Go). */
    n = sx_hex(msg, sizeof(msg), MSG3 T_AB0);
    hfeed(b, msg, n, &s);
    assert_int_equal(s.r, BM_NOISE_DONE);
    assert_int_equal(s.consumed, 2 + 0xb8);
    sx_assert_hex(bm_noise_hs_hash(a), 32, FINAL_H);
    sx_assert_hex(bm_noise_hs_hash(b), 32, FINAL_H);
    /* Done is sticky and consumes nothing more. */
    hfeed(b, msg + s.consumed, n - s.consumed, &s);
    assert_int_equal(s.r, BM_NOISE_DONE);
    assert_int_equal(s.consumed, 0);

    assert_int_equal(bm_noise_hs_finish(a, &ra, &atx, &arx), BM_OK);
    assert_int_equal(bm_noise_hs_finish(b, &rb, &btx, &brx), BM_OK);
    sx_assert_hex(atx.key, 32, K1);
    sx_assert_hex(arx.key, 32, K2);
    sx_assert_hex(btx.key, 32, K2);
    sx_assert_hex(brx.key, 32, K1);
    assert_true(bm_peer_id_eq(&ra.peer, &peer_b));
    assert_true(bm_peer_id_eq(&rb.peer, &peer_a));
    sx_assert_hex(ra.identity, 32, B_PUB);
    sx_assert_hex(ra.static_key, 32, SB_PUB);
    sx_assert_hex(rb.static_key, 32, SA_PUB);
    assert_int_equal(ra.muxer, BM_NOISE_MUXER_YAMUX);
    assert_int_equal(rb.muxer, BM_NOISE_MUXER_YAMUX);
    /* Finished: the handshake refuses further use. */
    assert_int_equal(bm_noise_hs_finish(a, &ra, &atx, &arx), BM_ESTATE);
    hfeed(a, NULL, 0, &s);
    assert_int_equal(s.r, BM_ESTATE);

    /* A -> B, n = 0: the multistream header line. */
    f = bm_noise_seal(&atx, (const uint8_t *)"\x13/multistream/1.0.0\n", 20,
                      frame, sizeof(frame));
    assert_int_equal(f, 2 + 20 + 16);
    sx_assert_hex(frame, (size_t)f, T_AB0);
    /* B opens the frame that came with message 3. */
    assert_int_equal(bm_noise_open(&brx, msg + 2 + 0xb8, n - 2 - 0xb8, &c,
                                   plain, sizeof(plain), &pl),
                     BM_NOISE_DONE);
    assert_int_equal(c, 38);
    assert_int_equal(pl, 20);
    assert_memory_equal(plain, "\x13/multistream/1.0.0\n", 20);

    /* B -> A, n = 0: a yamux Ping SYN. */
    n = sx_hex(msg, sizeof(msg), "000200010000000000000000");
    f = bm_noise_seal(&btx, msg, n, frame, sizeof(frame));
    sx_assert_hex(frame, (size_t)f, T_BA0);
    assert_int_equal(
        bm_noise_open(&arx, frame, (size_t)f, &c, plain, sizeof(plain), &pl),
        BM_NOISE_DONE);
    assert_int_equal(pl, 12);
    assert_memory_equal(plain, msg, 12);

    /* A -> B, n = 1: an empty frame. */
    f = bm_noise_seal(&atx, NULL, 0, frame, sizeof(frame));
    sx_assert_hex(frame, (size_t)f, T_AB1);
    assert_int_equal(
        bm_noise_open(&brx, frame, (size_t)f, &c, plain, sizeof(plain), &pl),
        BM_NOISE_DONE);
    assert_int_equal(pl, 0);
    assert_int_equal(c, 16 + 2);

    bm_noise_hs_free(a);
    bm_noise_hs_free(b);
    bm_noise_hs_free(NULL);
}

/* The responder role of 11.3 driven byte by byte, as a host whose reads
 * return one byte at a time, and the initiator likewise. */
static void test_transcript_bytewise(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, &peer_a);
    struct bm_noise_hs *a, *b;
    struct hstep s;
    uint8_t m1[64], m2[512], m3[512];
    size_t n1, n2, n3;
    (void)state;

    kat_pair(&ca, &cb, &a, &b);
    n1 = sx_hex(m1, sizeof(m1), MSG1);
    n2 = sx_hex(m2, sizeof(m2), MSG2);
    n3 = sx_hex(m3, sizeof(m3), MSG3);
    hfeed(a, NULL, 0, &s);
    for (size_t i = 0; i < n1; i++) {
        hfeed(b, m1, i, &s);
        assert_int_equal(s.r, BM_NOISE_AGAIN);
        assert_int_equal(s.consumed, 0);
        assert_int_equal(s.written, 0);
    }
    hfeed(b, m1, n1, &s);
    sx_assert_hex(s.out, s.written, MSG2);
    for (size_t i = 0; i < n2; i++) {
        hfeed(a, m2, i, &s);
        assert_int_equal(s.r, BM_NOISE_AGAIN);
        assert_int_equal(s.consumed, 0);
    }
    hfeed(a, m2, n2, &s);
    assert_int_equal(s.r, BM_NOISE_DONE);
    sx_assert_hex(s.out, s.written, MSG3);
    for (size_t i = 0; i < n3; i++) {
        hfeed(b, m3, i, &s);
        assert_int_equal(s.r, BM_NOISE_AGAIN);
    }
    hfeed(b, m3, n3, &s);
    assert_int_equal(s.r, BM_NOISE_DONE);
    sx_assert_hex(bm_noise_hs_hash(b), 32, FINAL_H);
    bm_noise_hs_free(a);
    bm_noise_hs_free(b);
}

/*
 * Runs a handshake between two configs through memory. Returns BM_OK
 * with both sides done and finished (remotes and ciphers filled), or the
 * first error; *who tells which side failed ('a', 'b') and em its message.
 */
struct pair {
    struct bm_noise_remote ra, rb;
    struct bm_noise_cipher atx, arx, btx, brx;
    char who;
    struct bm_errmsg em;
};

static int handshake(const struct bm_noise_config *ca,
                     const struct bm_noise_config *cb, struct pair *p)
{
    struct bm_noise_hs *a = NULL, *b = NULL;
    struct hstep s1, s2, s3, s4;
    int err;

    memset(p, 0, sizeof(*p));
    err = bm_noise_hs_new(ca, &a);
    if (err != BM_OK) {
        p->who = 'a';
        return err;
    }
    err = bm_noise_hs_new(cb, &b);
    if (err != BM_OK) {
        p->who = 'b';
        goto out;
    }
    hfeed(a, NULL, 0, &s1);
    assert_int_equal(s1.r, BM_NOISE_AGAIN);
    hfeed(b, s1.out, s1.written, &s2);
    if (s2.r < 0) {
        p->who = 'b';
        p->em = s2.em;
        err = s2.r;
        goto out;
    }
    hfeed(a, s2.out, s2.written, &s3);
    if (s3.r < 0) {
        p->who = 'a';
        p->em = s3.em;
        err = s3.r;
        goto out;
    }
    assert_int_equal(s3.r, BM_NOISE_DONE);
    hfeed(b, s3.out, s3.written, &s4);
    if (s4.r < 0) {
        p->who = 'b';
        p->em = s4.em;
        err = s4.r;
        goto out;
    }
    assert_int_equal(s4.r, BM_NOISE_DONE);
    assert_memory_equal(bm_noise_hs_hash(a), bm_noise_hs_hash(b), 32);
    assert_int_equal(bm_noise_hs_finish(a, &p->ra, &p->atx, &p->arx), BM_OK);
    assert_int_equal(bm_noise_hs_finish(b, &p->rb, &p->btx, &p->brx), BM_OK);
out:
    bm_noise_hs_free(a);
    bm_noise_hs_free(b);
    return err;
}

static void expect_fail(int err, const struct pair *p, int want, char who,
                        const char *needle)
{
    if (err != want || p->who != who ||
        (needle != NULL && strstr(p->em.msg, needle) == NULL)) {
        fprintf(stderr, "got %s by '%c': %s\n", bm_err_name(err), p->who,
                p->em.msg);
    }
    assert_int_equal(err, want);
    assert_int_equal(p->who, who);
    if (needle != NULL) {
        assert_non_null(strstr(p->em.msg, needle));
    }
}

static void test_handshake_random_keys(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, NULL);
    struct pair p, q;
    uint8_t buf[100], frame[200], plain[200];
    size_t c, pl;
    int64_t f;
    (void)state;

    assert_int_equal(handshake(&ca, &cb, &p), BM_OK);
    assert_true(bm_peer_id_eq(&p.ra.peer, &peer_b));
    assert_true(bm_peer_id_eq(&p.rb.peer, &peer_a));
    assert_int_equal(p.ra.muxer, BM_NOISE_MUXER_YAMUX);
    /* Fresh keys each time: different session keys. */
    assert_int_equal(handshake(&ca, &cb, &q), BM_OK);
    assert_memory_not_equal(p.atx.key, q.atx.key, 32);
    /* Keys pair up across the sides, both directions. */
    randombytes_buf(buf, sizeof(buf));
    f = bm_noise_seal(&p.btx, buf, sizeof(buf), frame, sizeof(frame));
    assert_int_equal(
        bm_noise_open(&p.arx, frame, (size_t)f, &c, plain, sizeof(plain), &pl),
        BM_NOISE_DONE);
    assert_memory_equal(plain, buf, sizeof(buf));
    /* A cipher of the wrong direction does not open it. */
    f = bm_noise_seal(&p.atx, buf, sizeof(buf), frame, sizeof(frame));
    assert_int_equal(
        bm_noise_open(&p.brx, frame, (size_t)f, &c, plain, sizeof(plain), &pl),
        BM_NOISE_DONE);
    assert_int_equal(
        bm_noise_open(&p.arx, frame, (size_t)f, &c, plain, sizeof(plain), &pl),
        BM_EAUTH);
}

static void test_peer_id_checks(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_c);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, NULL);
    struct pair p;
    char want[BM_PEER_ID_STR_SIZE];
    (void)state;

    /* Dialled C, B answered: refused by the initiator on message 2. */
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EPEER_MISMATCH, 'a',
                "peer id mismatch");
    bm_peer_id_format(&peer_c, want);
    assert_non_null(strstr(p.em.msg, want));
    bm_peer_id_format(&peer_b, want);
    assert_non_null(strstr(p.em.msg, want));
    /* A responder that expects C refuses A on message 3. */
    ca.expected = &peer_b;
    cb.expected = &peer_c;
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EPEER_MISMATCH, 'b', NULL);
    /* No expectation: anyone is accepted and learnt. */
    ca.expected = NULL;
    cb.expected = NULL;
    assert_int_equal(handshake(&ca, &cb, &p), BM_OK);
    assert_true(bm_peer_id_eq(&p.ra.peer, &peer_b));
}

/* Builds a payload by hand: key field, sig field, then raw extra bytes. */
static size_t build_payload(uint8_t *out, const char *key_hex,
                            const uint8_t *sig, size_t sig_len,
                            const char *tail_hex)
{
    size_t n = 0;
    uint8_t key[128];
    size_t klen = key_hex != NULL ? sx_hex(key, sizeof(key), key_hex) : 0;

    if (key_hex != NULL) {
        out[n++] = 0x0a;
        out[n++] = (uint8_t)klen;
        memcpy(out + n, key, klen);
        n += klen;
    }
    if (sig != NULL) {
        out[n++] = 0x12;
        out[n++] = (uint8_t)sig_len;
        memcpy(out + n, sig, sig_len);
        n += sig_len;
    }
    if (tail_hex != NULL) {
        n += sx_hex(out + n, 1024, tail_hex);
    }
    return n;
}

static void test_payload_checks(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, NULL);
    uint8_t pl[BM_NOISE_PAYLOAD_OVERRIDE_MAX], other[32], msg[56];
    uint8_t sig[64];
    struct pair p;
    size_t n;
    (void)state;

    /* A signature over another static key: bad signature. */
    randombytes_buf(other, 32);
    cb.static_key = fixed_sb;
    n = (size_t)bm_noise_payload_encode(&id_b, other, NULL, 0, pl, sizeof(pl));
    cb.payload_override = pl;
    cb.payload_override_len = n;
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EBAD_SIGNATURE, 'a',
                "signature");
    /* The right static key, signed by C while claiming B's key. */
    crypto_scalarmult_base(other, fixed_sb);
    memcpy(msg, BM_NOISE_SIG_PREFIX, 24);
    memcpy(msg + 24, other, 32);
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), id_c.b);
    n = build_payload(pl, "08011220" B_PUB, sig, 64, NULL);
    cb.payload_override_len = n;
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EBAD_SIGNATURE, 'a', NULL);
    /* B's real signature, but 63 bytes of it; no signature at all. */
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), id_b.b);
    n = build_payload(pl, "08011220" B_PUB, sig, 64, NULL);
    cb.payload_override_len = n;
    assert_int_equal(handshake(&ca, &cb, &p), BM_OK); /* control */
    assert_int_equal(p.ra.muxer, BM_NOISE_MUXER_NEGOTIATE);
    cb.payload_override_len =
        build_payload(pl, "08011220" B_PUB, sig, 63, NULL);
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EBAD_SIGNATURE, 'a', NULL);
    cb.payload_override_len =
        build_payload(pl, "08011220" B_PUB, NULL, 0, NULL);
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EBAD_SIGNATURE, 'a', NULL);

    /* Wrong key types and malformed keys. */
    cb.payload_override_len =
        build_payload(pl, "08021221 02" B_PUB, sig, 64, NULL);
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EUNSUPPORTED, 'a', "secp256k1");
    cb.payload_override_len =
        build_payload(pl, "08031220" B_PUB, sig, 64, NULL);
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EUNSUPPORTED, 'a', "ECDSA");
    cb.payload_override_len = build_payload(
        pl,
        "08011220 1398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e41"
        "6bd17d93",
        sig, 64, NULL);
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EBADKEY, 'a', "35 bytes");
    cb.payload_override_len = build_payload(pl, NULL, sig, 64, NULL);
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EBADKEY, 'a', "no identity");

    /* Not a protobuf at all; a truncated field; a group. */
    cb.payload_override_len = build_payload(pl, NULL, NULL, 0, "ffff");
    expect_fail(handshake(&ca, &cb, &p), &p, BM_ETRUNCATED, 'a', "payload");
    cb.payload_override_len = build_payload(pl, NULL, NULL, 0, "0a05 0102");
    expect_fail(handshake(&ca, &cb, &p), &p, BM_ETRUNCATED, 'a', "truncated");
    cb.payload_override_len =
        build_payload(pl, "08011220" B_PUB, sig, 64, "1b 0801 1c");
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EDECODE, 'a', "malformed");
    /* Unknown fields of every wire type are skipped. */
    cb.payload_override_len =
        build_payload(pl, "08011220" B_PUB, sig, 64,
                      "2807 410102030405060708 4d01020304 5203616263 "
                      "220e 120c2f79616d75782f312e302e30");
    assert_int_equal(handshake(&ca, &cb, &p), BM_OK);
    assert_int_equal(p.ra.muxer, BM_NOISE_MUXER_YAMUX);

    /* The initiator's payload is checked the same way by the responder. */
    cb.payload_override = NULL;
    cb.payload_override_len = 0;
    ca.static_key = fixed_sa;
    crypto_scalarmult_base(other, fixed_sb); /* not A's static key */
    ca.payload_override = pl;
    ca.payload_override_len =
        (size_t)bm_noise_payload_encode(&id_a, other, NULL, 0, pl, sizeof(pl));
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EBAD_SIGNATURE, 'b', NULL);
    /* Too long an override is a caller error. */
    ca.payload_override_len = BM_NOISE_PAYLOAD_OVERRIDE_MAX + 1;
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EINVAL, 'a', NULL);
}

/* Early muxer negotiation (spec 4.6). */
static void test_muxers(void **state)
{
    static const char *const mplex[] = {"/mplex/6.7.0"};
    static const char *const both[] = {"/mplex/6.7.0", BM_NOISE_YAMUX_ID};
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, NULL);
    uint8_t pl[BM_NOISE_PAYLOAD_OVERRIDE_MAX], pub[32];
    struct pair p;
    size_t n;
    int r;
    (void)state;

    /* No list from the responder: multistream inside Noise, both sides. */
    cb.no_muxers = true;
    assert_int_equal(handshake(&ca, &cb, &p), BM_OK);
    assert_int_equal(p.ra.muxer, BM_NOISE_MUXER_NEGOTIATE);
    assert_int_equal(p.rb.muxer, BM_NOISE_MUXER_NEGOTIATE);
    /* No list from the initiator. */
    cb.no_muxers = false;
    ca.no_muxers = true;
    assert_int_equal(handshake(&ca, &cb, &p), BM_OK);
    assert_int_equal(p.ra.muxer, BM_NOISE_MUXER_NEGOTIATE);
    assert_int_equal(p.rb.muxer, BM_NOISE_MUXER_NEGOTIATE);
    /* A list without yamux: refused by whoever reads it first. */
    ca.no_muxers = false;
    cb.muxers = mplex;
    cb.n_muxers = 1;
    expect_fail(handshake(&ca, &cb, &p), &p, BM_ENOMUXER, 'a',
                "without /yamux/1.0.0");
    /* A longer list that includes yamux. */
    cb.muxers = both;
    cb.n_muxers = 2;
    assert_int_equal(handshake(&ca, &cb, &p), BM_OK);
    assert_int_equal(p.ra.muxer, BM_NOISE_MUXER_YAMUX);
    assert_int_equal(p.rb.muxer, BM_NOISE_MUXER_YAMUX);

    /* 100 entries are a list; 101 are ignored, as Go does. */
    cb.muxers = NULL;
    cb.n_muxers = 0;
    cb.static_key = fixed_sb;
    crypto_scalarmult_base(pub, fixed_sb);
    for (int count = 100; count <= 101; count++) {
        size_t body = (size_t)(count - 1) * 3 + 14;
        r = bm_noise_payload_encode(&id_b, pub, NULL, 0, pl, sizeof(pl));
        assert_true(r > 0);
        n = (size_t)r;
        pl[n++] = 0x22;
        n += bm_varint_put(body, pl + n);
        for (int i = 0; i < count - 1; i++) {
            pl[n++] = 0x12;
            pl[n++] = 1;
            pl[n++] = 'x';
        }
        n += sx_hex(pl + n, 64, "120c2f79616d75782f312e302e30");
        cb.payload_override = pl;
        cb.payload_override_len = n;
        assert_int_equal(handshake(&ca, &cb, &p), BM_OK);
        assert_int_equal(p.ra.muxer, count == 100 ? BM_NOISE_MUXER_YAMUX
                                                  : BM_NOISE_MUXER_NEGOTIATE);
    }

    /* Bad configs. */
    cb.payload_override = NULL;
    cb.muxers = NULL;
    cb.n_muxers = 2;
    expect_fail(handshake(&ca, &cb, &p), &p, BM_EINVAL, 'b', NULL);
}

/* Garbage, short, tampered and degenerate handshake messages. */
static void test_bad_messages(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, NULL);
    struct bm_noise_hs *a, *b;
    struct hstep s1, s2, s3;
    uint8_t buf[BM_NOISE_FRAME_MAX];
    (void)state;

    /* Message 1 shorter than 32 bytes. */
    assert_int_equal(bm_noise_hs_new(&cb, &b), BM_OK);
    buf[0] = 0;
    buf[1] = 31;
    memset(buf + 2, 1, 31);
    hfeed(b, buf, 33, &s1);
    assert_int_equal(s1.r, BM_EPROTO);
    hfeed(b, buf, 33, &s1);
    assert_int_equal(s1.r, BM_ESTATE);
    bm_noise_hs_free(b);

    /* Message 1 longer than 32 bytes is accepted (Go sends 32, but a
     * plaintext payload1 is legal and ignored). */
    assert_int_equal(bm_noise_hs_new(&cb, &b), BM_OK);
    buf[1] = 40;
    crypto_scalarmult_base(buf + 2, fixed_ea);
    hfeed(b, buf, 42, &s1);
    assert_int_equal(s1.r, BM_NOISE_AGAIN);
    assert_int_equal(s1.consumed, 42);
    assert_true(s1.written > 80);
    bm_noise_hs_free(b);

    /* An all-zero ephemeral key (a low-order point): the DH is zero. */
    assert_int_equal(bm_noise_hs_new(&cb, &b), BM_OK);
    buf[1] = 32;
    memset(buf + 2, 0, 32);
    hfeed(b, buf, 34, &s1);
    assert_int_equal(s1.r, BM_ECRYPTO);
    bm_noise_hs_free(b);

    /* Garbage as message 2 (of the maximal length), and too short. */
    assert_int_equal(bm_noise_hs_new(&ca, &a), BM_OK);
    hfeed(a, NULL, 0, &s1);
    buf[0] = 0xff;
    buf[1] = 0xff;
    randombytes_buf(buf + 2, 65535);
    hfeed(a, buf, BM_NOISE_FRAME_MAX, &s2);
    assert_int_equal(s2.r, BM_EAUTH);
    assert_int_equal(s2.consumed, BM_NOISE_FRAME_MAX);
    bm_noise_hs_free(a);
    assert_int_equal(bm_noise_hs_new(&ca, &a), BM_OK);
    hfeed(a, NULL, 0, &s1);
    buf[0] = 0;
    buf[1] = 32 + 48 + 15;
    hfeed(a, buf, 2 + 32 + 48 + 15, &s2);
    assert_int_equal(s2.r, BM_EPROTO);
    bm_noise_hs_free(a);

    /* Message 2 with one bit flipped anywhere: refused. */
    for (size_t bit = 0; bit < 8 * 216; bit += 37) {
        assert_int_equal(bm_noise_hs_new(&ca, &a), BM_OK);
        assert_int_equal(bm_noise_hs_new(&cb, &b), BM_OK);
        hfeed(a, NULL, 0, &s1);
        hfeed(b, s1.out, s1.written, &s2);
        assert_int_equal(s2.written, 2 + 216);
        s2.out[2 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        hfeed(a, s2.out, s2.written, &s3);
        assert_true(s3.r == BM_EAUTH || s3.r == BM_ECRYPTO);
        bm_noise_hs_free(a);
        bm_noise_hs_free(b);
    }
    /* Message 3 tampered, and message 3 replaced by garbage. */
    for (int garbage = 0; garbage < 2; garbage++) {
        struct hstep s4;
        assert_int_equal(bm_noise_hs_new(&ca, &a), BM_OK);
        assert_int_equal(bm_noise_hs_new(&cb, &b), BM_OK);
        hfeed(a, NULL, 0, &s1);
        hfeed(b, s1.out, s1.written, &s2);
        hfeed(a, s2.out, s2.written, &s3);
        if (garbage) {
            randombytes_buf(s3.out + 2, s3.written - 2);
        } else {
            s3.out[s3.written - 1] ^= 1;
        }
        hfeed(b, s3.out, s3.written, &s4);
        assert_int_equal(s4.r, BM_EAUTH);
        bm_noise_hs_free(a);
        bm_noise_hs_free(b);
    }
}

static void test_caller_errors(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config bad;
    static const char *const empty[] = {""};
    struct bm_noise_hs *a = NULL;
    struct bm_noise_remote r;
    struct bm_noise_cipher tx, rx;
    uint8_t out[16];
    size_t c, w;
    (void)state;

    bad = ca;
    bad.identity = NULL;
    assert_int_equal(bm_noise_hs_new(&bad, &a), BM_EINVAL);
    assert_null(a);
    bad = ca;
    bad.role = (enum bm_noise_role)0;
    assert_int_equal(bm_noise_hs_new(&bad, &a), BM_EINVAL);
    bad = ca;
    bad.muxers = empty;
    bad.n_muxers = 1;
    assert_int_equal(bm_noise_hs_new(&bad, &a), BM_EINVAL);
    assert_int_equal(bm_noise_hs_new(NULL, &a), BM_EINVAL);

    assert_int_equal(bm_noise_hs_new(&ca, &a), BM_OK);
    assert_int_equal(bm_noise_hs_finish(a, &r, &tx, &rx), BM_ESTATE);
    assert_int_equal(
        bm_noise_hs_feed(a, NULL, 0, &c, out, sizeof(out), &w, NULL),
        BM_EINVAL);
    assert_int_equal(
        bm_noise_hs_feed(a, NULL, 0, &c, out, sizeof(out), &w, NULL),
        BM_ESTATE);
    bm_noise_hs_free(a);
}

/* ---- transport ---- */

static void cipher_pair(struct bm_noise_cipher *tx, struct bm_noise_cipher *rx)
{
    memset(tx, 0, sizeof(*tx));
    randombytes_buf(tx->key, sizeof(tx->key));
    *rx = *tx;
}

static void test_transport_sizes(void **state)
{
    static uint8_t plain[3 * 65536], frame[3 * 65536 + 256], back[3 * 65536];
    struct bm_noise_cipher tx, rx;
    size_t c, pl, pos;
    int64_t f;
    (void)state;

    cipher_pair(&tx, &rx);
    randombytes_buf(plain, sizeof(plain));
    /* Caps: 65519 plaintext bytes fit one frame (len 65535); 65520 not. */
    f = bm_noise_seal(&tx, plain, BM_NOISE_PLAINTEXT_MAX, frame, sizeof(frame));
    assert_int_equal(f, BM_NOISE_FRAME_MAX);
    assert_int_equal(frame[0], 0xff);
    assert_int_equal(frame[1], 0xff);
    assert_int_equal(bm_noise_seal(&tx, plain, BM_NOISE_PLAINTEXT_MAX + 1,
                                   frame + f, sizeof(frame) - (size_t)f),
                     BM_ETOOBIG);
    /* A buffer one byte short is refused and the nonce is unchanged. */
    assert_int_equal(bm_noise_seal(&tx, plain, 100, frame + f, 117), BM_EINVAL);
    assert_int_equal(tx.nonce, 1);
    assert_int_equal(bm_noise_open(&rx, frame, (size_t)f, &c, back,
                                   BM_NOISE_PLAINTEXT_MAX - 1, &pl),
                     BM_EINVAL);
    assert_false(rx.failed);
    assert_int_equal(bm_noise_open(&rx, frame, (size_t)f, &c, back,
                                   BM_NOISE_PLAINTEXT_MAX, &pl),
                     BM_NOISE_DONE);
    assert_int_equal(pl, BM_NOISE_PLAINTEXT_MAX);
    assert_memory_equal(back, plain, pl);

    /* seal_all: chunking at 65519, n = 0 gives one empty frame. */
    assert_int_equal(bm_noise_sealed_size(0), 18);
    assert_int_equal(bm_noise_sealed_size(65519), 65537);
    assert_int_equal(bm_noise_sealed_size(65520), 65520 + 36);
    assert_int_equal(bm_noise_sealed_size(sizeof(plain)),
                     sizeof(plain) + 4 * 18);
    f = bm_noise_seal_all(&tx, plain, sizeof(plain), frame,
                          bm_noise_sealed_size(sizeof(plain)) - 1);
    assert_int_equal(f, BM_EINVAL);
    f = bm_noise_seal_all(&tx, plain, sizeof(plain), frame, sizeof(frame));
    assert_int_equal(f, (int64_t)bm_noise_sealed_size(sizeof(plain)));
    pos = 0;
    for (size_t off = 0; off < (size_t)f;) {
        assert_int_equal(bm_noise_open(&rx, frame + off, (size_t)f - off, &c,
                                       back + pos, sizeof(back) - pos, &pl),
                         BM_NOISE_DONE);
        off += c;
        pos += pl;
    }
    assert_int_equal(pos, sizeof(plain));
    assert_memory_equal(back, plain, sizeof(plain));
    f = bm_noise_seal_all(&tx, plain, 0, frame, sizeof(frame));
    assert_int_equal(f, 18);
    assert_int_equal(bm_noise_open(&rx, frame, 18, &c, back, 0, &pl),
                     BM_NOISE_DONE);
    assert_int_equal(pl, 0);
}

/* In place: plaintext written at frame + 2, sealed and opened there. */
static void test_transport_in_place(void **state)
{
    static uint8_t buf[2 + 65535], copy[65519];
    struct bm_noise_cipher tx, rx;
    size_t c, pl;
    int64_t f;
    (void)state;

    cipher_pair(&tx, &rx);
    for (size_t n = 0; n <= 65519; n += 4093) {
        randombytes_buf(buf + 2, n);
        memcpy(copy, buf + 2, n);
        f = bm_noise_seal(&tx, buf + 2, n, buf, sizeof(buf));
        assert_int_equal(f, (int64_t)n + 18);
        if (n >= 16) {
            assert_memory_not_equal(buf + 2, copy, 16);
        }
        assert_int_equal(bm_noise_open(&rx, buf, (size_t)f, &c, buf + 2,
                                       sizeof(buf) - 2, &pl),
                         BM_NOISE_DONE);
        assert_int_equal(pl, n);
        assert_memory_equal(buf + 2, copy, n);
    }
}

static void test_transport_bad_frames(void **state)
{
    struct bm_noise_cipher tx, rx;
    uint8_t frame[256], two[512], back[256];
    size_t c = 99, pl, n1, n2;
    int64_t f;
    (void)state;

    /* Truncation at every byte: need more, nothing consumed. */
    cipher_pair(&tx, &rx);
    f = bm_noise_seal(&tx, (const uint8_t *)"hello", 5, frame, sizeof(frame));
    for (size_t i = 0; i < (size_t)f; i++) {
        assert_int_equal(
            bm_noise_open(&rx, frame, i, &c, back, sizeof(back), &pl),
            BM_NOISE_AGAIN);
        assert_int_equal(c, 0);
    }
    assert_int_equal(rx.nonce, 0);

    /* A frame shorter than its tag: BM_EPROTO, then failed for good. */
    memcpy(two, "\x00\x0f", 2);
    memset(two + 2, 0, 15);
    assert_int_equal(bm_noise_open(&rx, two, 17, &c, back, sizeof(back), &pl),
                     BM_EPROTO);
    assert_int_equal(
        bm_noise_open(&rx, frame, (size_t)f, &c, back, sizeof(back), &pl),
        BM_ESTATE);
    /* Even the length prefix alone says it. */
    cipher_pair(&tx, &rx);
    assert_int_equal(bm_noise_open(&rx, (const uint8_t *)"\x00\x00", 2, &c,
                                   back, sizeof(back), &pl),
                     BM_EPROTO);

    /* Garbage that has the shape of a frame: BM_EAUTH, then failed. */
    cipher_pair(&tx, &rx);
    two[0] = 0;
    two[1] = 40;
    randombytes_buf(two + 2, 40);
    assert_int_equal(bm_noise_open(&rx, two, 42, &c, back, sizeof(back), &pl),
                     BM_EAUTH);
    assert_true(rx.failed);
    assert_int_equal(bm_noise_seal(&rx, back, 1, two, sizeof(two)), BM_ESTATE);

    /* The largest frame a peer can announce (65535), full of garbage:
     * need more until all 65537 bytes are there, then BM_EAUTH. */
    {
        static uint8_t big[BM_NOISE_FRAME_MAX], plain_big[BM_NOISE_MSG_MAX];
        cipher_pair(&tx, &rx);
        randombytes_buf(big, sizeof(big));
        big[0] = 0xff;
        big[1] = 0xff;
        assert_int_equal(bm_noise_open(&rx, big, sizeof(big) - 1, &c, plain_big,
                                       sizeof(plain_big), &pl),
                         BM_NOISE_AGAIN);
        assert_int_equal(bm_noise_open(&rx, big, sizeof(big), &c, plain_big,
                                       sizeof(plain_big), &pl),
                         BM_EAUTH);
    }

    /* Reordered frames. */
    cipher_pair(&tx, &rx);
    n1 = (size_t)bm_noise_seal(&tx, (const uint8_t *)"one", 3, two, 256);
    n2 = (size_t)bm_noise_seal(&tx, (const uint8_t *)"two", 3, two + n1, 256);
    assert_int_equal(
        bm_noise_open(&rx, two + n1, n2, &c, back, sizeof(back), &pl),
        BM_EAUTH);
    /* In order: both open, the second from the leftover of the first. */
    cipher_pair(&tx, &rx);
    n1 = (size_t)bm_noise_seal(&tx, (const uint8_t *)"one", 3, two, 256);
    n2 = (size_t)bm_noise_seal(&tx, (const uint8_t *)"two", 3, two + n1, 256);
    assert_int_equal(
        bm_noise_open(&rx, two, n1 + n2, &c, back, sizeof(back), &pl),
        BM_NOISE_DONE);
    assert_int_equal(c, n1);
    assert_int_equal(
        bm_noise_open(&rx, two + c, n2, &c, back, sizeof(back), &pl),
        BM_NOISE_DONE);
    assert_memory_equal(back, "two", 3);
    /* A replayed frame. */
    assert_int_equal(
        bm_noise_open(&rx, two + n1, n2, &c, back, sizeof(back), &pl),
        BM_EAUTH);

    /* Every single bit flip is detected. */
    for (size_t bit = 16; bit < 8 * (size_t)f; bit++) {
        cipher_pair(&tx, &rx);
        f = bm_noise_seal(&tx, (const uint8_t *)"hello", 5, frame,
                          sizeof(frame));
        frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(
            bm_noise_open(&rx, frame, (size_t)f, &c, back, sizeof(back), &pl),
            BM_EAUTH);
    }
}

/* The nonce stops before 2^64 - 1 (spec 4.7). */
static void test_transport_nonce_limit(void **state)
{
    struct bm_noise_cipher tx, rx;
    uint8_t frame[64], back[64];
    size_t c, pl;
    int64_t f;
    (void)state;

    cipher_pair(&tx, &rx);
    tx.nonce = rx.nonce = UINT64_MAX - 1;
    f = bm_noise_seal(&tx, (const uint8_t *)"last", 4, frame, sizeof(frame));
    assert_int_equal(f, 22);
    assert_int_equal(
        bm_noise_open(&rx, frame, (size_t)f, &c, back, sizeof(back), &pl),
        BM_NOISE_DONE);
    assert_true(tx.nonce == UINT64_MAX);
    assert_int_equal(bm_noise_seal(&tx, back, 1, frame, sizeof(frame)),
                     BM_EOVERFLOW);
    assert_int_equal(bm_noise_seal(&tx, back, 1, frame, sizeof(frame)),
                     BM_ESTATE);
    assert_int_equal(
        bm_noise_open(&rx, frame, (size_t)f, &c, back, sizeof(back), &pl),
        BM_EOVERFLOW);
    bm_noise_cipher_wipe(&rx);
    bm_noise_cipher_wipe(NULL);
    assert_int_equal(rx.nonce, 0);
}

/* ---- the payload decoder on its own ---- */

static void test_payload_decode(void **state)
{
    static const struct {
        const char *hex;
        int err;
    } bad[] = {
        {"0801", BM_EDECODE},         /* identity_key as a varint */
        {"2001", BM_EDECODE},         /* extensions as a varint */
        {"2203 1001 00", BM_EDECODE}, /* stream_muxers as a varint */
        {"0201", BM_EDECODE},         /* field 0 */
        {"3b", BM_EDECODE},           /* a group */
        {"0affffffffffffffffff7f", BM_EVARINT},
        {"0a80808080808080808001", BM_ETRUNCATED},
        {"28ff01 290102030405060708 2d01020304 3200", BM_OK},
        {"29010203", BM_ETRUNCATED},
        {"2d01", BM_ETRUNCATED},
        {"28ff", BM_ETRUNCATED},
        {"2203 120561", BM_ETRUNCATED},
    };
    struct bm_noise_payload d;
    struct bm_errmsg em;
    uint8_t p[512];
    size_t n;
    (void)state;

    n = sx_hex(p, sizeof(p), PAYLOAD_A);
    assert_int_equal(bm_noise_payload_decode(&d, p, n, NULL), BM_OK);
    assert_ptr_equal(d.identity_key, p + 2);
    assert_int_equal(d.identity_key_len, 36);
    assert_ptr_equal(d.identity_sig, p + 40);
    assert_int_equal(d.identity_sig_len, 64);
    assert_true(d.has_muxers);
    assert_true(d.lists_yamux);
    assert_int_equal(d.n_muxers, 1);
    /* Truncation at every byte: a shorter valid message or an error. */
    for (size_t i = 0; i < n; i++) {
        enum bm_err err = bm_noise_payload_decode(&d, p, i, NULL);
        assert_true(err == BM_OK || err == BM_ETRUNCATED);
        if (i < 40) {
            assert_true(err == BM_ETRUNCATED || d.identity_sig == NULL);
        }
    }
    /* Any field order; extensions twice merge; certhashes skipped. */
    n = sx_hex(p, sizeof(p),
               "2204 0a020102 2205 1203616263 1202aabb 0a02ccdd "
               "220e 120c2f79616d75782f312e302e30");
    assert_int_equal(bm_noise_payload_decode(&d, p, n, NULL), BM_OK);
    assert_int_equal(d.n_muxers, 2);
    assert_true(d.lists_yamux);
    assert_int_equal(d.identity_sig_len, 2);
    assert_int_equal(d.identity_key_len, 2);
    /* The last of a repeated scalar field wins. */
    n = sx_hex(p, sizeof(p), "0a0101 0a020202");
    assert_int_equal(bm_noise_payload_decode(&d, p, n, NULL), BM_OK);
    assert_int_equal(d.identity_key_len, 2);
    /* An empty payload decodes to nothing. */
    assert_int_equal(bm_noise_payload_decode(&d, p, 0, NULL), BM_OK);
    assert_null(d.identity_key);
    assert_false(d.has_muxers);
    /* Wrong wire types, field 0, groups, bad varints, unknown fields of
     * every wire type and their truncations. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = sx_hex(p, sizeof(p), bad[i].hex);
        em.msg[0] = '\0';
        assert_int_equal(bm_noise_payload_decode(&d, p, n, &em), bad[i].err);
        assert_true(bad[i].err == BM_OK || em.msg[0] != '\0');
    }
}

/* Allocation failure at every allocation point of a whole handshake
 * (two handshake objects, two decrypted payloads). */
static void test_alloc_failures(void **state)
{
    struct bm_noise_config ca = cfg_of(BM_NOISE_INITIATOR, &id_a, &peer_b);
    struct bm_noise_config cb = cfg_of(BM_NOISE_RESPONDER, &id_b, NULL);
    struct pair p;
    int64_t live = bm_alloc_live_count();
    int n, err = BM_ENOMEM;
    (void)state;

    for (n = 1; n < 50; n++) {
        bm_alloc_fail_after(n);
        err = handshake(&ca, &cb, &p);
        bm_alloc_fail_after(0);
        assert_int_equal(bm_alloc_live_count(), live);
        if (err == BM_OK) {
            break;
        }
        assert_int_equal(err, BM_ENOMEM);
    }
    assert_int_equal(err, BM_OK);
    assert_int_equal(n, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_kat),
        cmocka_unit_test(test_transcript_kat),
        cmocka_unit_test(test_transcript_bytewise),
        cmocka_unit_test(test_handshake_random_keys),
        cmocka_unit_test(test_peer_id_checks),
        cmocka_unit_test(test_payload_checks),
        cmocka_unit_test(test_muxers),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_caller_errors),
        cmocka_unit_test(test_transport_sizes),
        cmocka_unit_test(test_transport_in_place),
        cmocka_unit_test(test_transport_bad_frames),
        cmocka_unit_test(test_transport_nonce_limit),
        cmocka_unit_test(test_payload_decode),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, NULL) == 0
               ? bm_test_check_leaks(0)
               : bm_test_check_leaks(1);
}
