/*
 * Sans-IO parts of FloodSub and the header exchange: the known-answer
 * vectors of spec 11.2 (signed FloodSub message, hello frames) and 11.5
 * (exchange framing), StrictSign verification over re-encodings with
 * unknown fields, every decoder rule (unknown fields, wire types, groups,
 * last value wins, oneof), the publish size limit, and the seen cache.
 */
#include "sansio_util.h"

#include <sodium.h>

#include "p2p/floodsub_rpc.h"
#include "p2p/frame_reader.h"
#include "p2p/headerex_codec.h"
#include "p2p/pbwire.h"
#include "p2p/seen_cache.h"
#include "p2p/varint.h"

#define TOPIC "/testchain-headerSync/header-sub/v0.0.1"
#define TOPIC_HEX                                                              \
    "2f74657374636861696e2d68656164657253796e632f6865616465722d7375622f763"  \
    "02e302e31"
#define A_ID_HEX                                                               \
    "002408011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea6914" \
    "46d22c"
#define SIG_HEX                                                                \
    "7bb7730f7742befb64fa863626e86c42b18a832267c0b2df1453aa117e201ef8fd1eb6" \
    "ae39aee6d823571421a856fce2e833001638fbbab17c22f46fbeaaa407"
#define SIGNED_HEX                                                             \
    "6c69627032702d7075627375623a"                                           \
    "0a26" A_ID_HEX "121268656c6c6f2d66726f6d2d626c6f636b7632"               \
    "1a0818a5b2c3d4e5f607"                                                   \
    "2227" TOPIC_HEX
#define FRAME_HEX                                                              \
    "b401 12b101 0a26" A_ID_HEX                                              \
    "121268656c6c6f2d66726f6d2d626c6f636b7632 1a0818a5b2c3d4e5f607"          \
    "2227" TOPIC_HEX "2a40" SIG_HEX

static const uint8_t seqno_v[8] = {0x18, 0xa5, 0xb2, 0xc3,
                                   0xd4, 0xe5, 0xf6, 0x07};

static void key_of(uint8_t seed, struct bm_privkey *k)
{
    uint8_t s[32];

    memset(s, seed, sizeof(s));
    bm_privkey_from_seed(k, s);
}

/* The single Message of a framed RPC f[0..n). */
static void one_msg(const uint8_t *f, size_t n, struct bm_floodsub_wire *w)
{
    const uint8_t *body;
    size_t len, subs, msgs;
    struct bm_floodsub_rpc_iter it;

    assert_true(bm_varint_frame_get(f, n, BM_FLOODSUB_MAX_RPC_DEFAULT, &body,
                                    &len) == (int64_t)n);
    assert_int_equal(bm_floodsub_rpc_check(body, len, &subs, &msgs), BM_OK);
    assert_int_equal(subs, 0);
    assert_int_equal(msgs, 1);
    bm_floodsub_rpc_iter_init(&it, body, len);
    assert_true(bm_floodsub_rpc_next_msg(&it, w));
    assert_false(bm_floodsub_rpc_next_msg(&it, w + 1));
}

/* ---------------------------------------------------------------- 11.2 */

static void kat_signed_message(void **state)
{
    struct bm_privkey a;
    struct bm_buf frame = {NULL, 0}, sb = {NULL, 0};
    struct bm_floodsub_wire w[2];
    struct bm_peer_id from;
    uint8_t id[BM_FLOODSUB_MSG_ID_MAX];
    size_t id_len, rpc_len;
    const char *data = "hello-from-blockv2";

    (void)state;
    key_of(0x07, &a);
    assert_int_equal(bm_floodsub_frame_publish_signed(
                         &a, seqno_v, (const uint8_t *)TOPIC, strlen(TOPIC),
                         (const uint8_t *)data, strlen(data),
                         BM_FLOODSUB_MAX_RPC_DEFAULT, &frame),
                     BM_OK);
    sx_assert_hex(frame.ptr, frame.len, FRAME_HEX);
    assert_int_equal(bm_floodsub_publish_size(strlen(TOPIC), strlen(data),
                                              &rpc_len),
                     frame.len);
    assert_int_equal(rpc_len, 180);

    one_msg(frame.ptr, frame.len, w);
    assert_true(w[0].has_signature && !w[0].has_key);
    assert_int_equal(bm_floodsub_signed_bytes(&w[0], &sb), BM_OK);
    sx_assert_hex(sb.ptr, sb.len, SIGNED_HEX);
    sx_assert_hex(w[0].signature, w[0].signature_len, SIG_HEX);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_OK);
    sx_assert_hex(from.b, sizeof(from.b), A_ID_HEX);
    assert_int_equal(bm_floodsub_msg_id(&w[0], id, &id_len), BM_OK);
    sx_assert_hex(id, id_len, A_ID_HEX "18a5b2c3d4e5f607");
    bm_buf_release(&sb);
    bm_buf_release(&frame);
}

/* js appends `key`; the signed bytes stay the same. */
static void kat_js_form_with_key(void **state)
{
    uint8_t f[512];
    size_t n = sx_hex(f, sizeof(f), FRAME_HEX);
    struct bm_floodsub_wire w[2];
    struct bm_peer_id from;
    uint8_t bad[512];

    (void)state;
    /* RPC{publish:[Message{1..5, 6}]}: lengths grow by 38. */
    n += sx_hex(f + n, sizeof(f) - n,
                "3224 08011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b9"
                "2421eea691446d22c");
    f[0] = 0xda; /* 180 + 38 = 218 = da 01 */
    f[3] = 0xd7; /* 177 + 38 = 215 = d7 01 */
    one_msg(f, n, w);
    assert_true(w[0].has_key);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_OK);

    /* Another key than from's: refused. */
    memcpy(bad, f, n);
    sx_hex(bad + n - 32, 32,
           "1398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e416bd17d93ca");
    one_msg(bad, n, w);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EPEER_MISMATCH);

    /* A key that is not a PublicKey protobuf. */
    memcpy(bad, f, n);
    bad[n - 33] = 0x1f; /* 08 01 12 1f: not a 32-byte key */
    one_msg(bad, n, w);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EDECODE);
}

static void kat_hello_frames(void **state)
{
    const char *topics[1] = {TOPIC};
    struct bm_buf f = {NULL, 0};
    uint8_t go[128];
    size_t n, subs, msgs;
    struct bm_floodsub_rpc_iter it;
    struct bm_floodsub_subopt so;

    (void)state;
    assert_int_equal(bm_floodsub_frame_subs(topics, 1, true,
                                            BM_FLOODSUB_MAX_RPC_DEFAULT, &f),
                     BM_OK);
    sx_assert_hex(f.ptr, f.len, "2d 0a2b 0801 1227" TOPIC_HEX);
    bm_buf_release(&f);
    assert_int_equal(bm_floodsub_frame_subs(topics, 1, false,
                                            BM_FLOODSUB_MAX_RPC_DEFAULT, &f),
                     BM_OK);
    sx_assert_hex(f.ptr, f.len, "2d 0a2b 0800 1227" TOPIC_HEX);
    bm_buf_release(&f);
    assert_int_equal(bm_floodsub_frame_subs(topics, 0, true, 100, &f), BM_OK);
    assert_null(f.ptr);
    assert_int_equal(bm_floodsub_frame_subs(topics, 1, true, 10, &f),
                     BM_ETOOBIG);

    /* Go's form ends each SubOpts with 18 00 20 00. */
    n = sx_hex(go, sizeof(go), "31 0a2f 0801 1227" TOPIC_HEX "1800 2000");
    assert_int_equal(go[0], n - 1);
    assert_int_equal(bm_floodsub_rpc_check(go + 1, n - 1, &subs, &msgs),
                     BM_OK);
    assert_int_equal(subs, 1);
    assert_int_equal(msgs, 0);
    bm_floodsub_rpc_iter_init(&it, go + 1, n - 1);
    assert_true(bm_floodsub_rpc_next_sub(&it, &so));
    assert_true(so.subscribe && so.has_topic);
    assert_int_equal(so.topic_len, strlen(TOPIC));
    assert_memory_equal(so.topic, TOPIC, strlen(TOPIC));
    assert_false(bm_floodsub_rpc_next_sub(&it, &so));
}

/* ------------------------------------------------------ re-encodings */

/* Appends a LEN field. */
static size_t put_len(uint8_t *out, uint32_t num, const void *p, size_t len)
{
    return bm_pbwire_put_len_field(out, num, p, len);
}

/*
 * A Message with unknown fields, fields out of order, signed by A over the
 * re-encoding Go makes: prefix || 1 2 3 4 || unknowns in received order.
 */
static void verify_unknown_fields(void **state)
{
    struct bm_privkey a;
    struct bm_peer_id aid, from;
    uint8_t unk1[4], unk2[16], signed_bytes[512], sig[64], msg[512];
    uint8_t rpc[600];
    size_t u1, u2, k = 0, m = 0, r = 0;
    struct bm_floodsub_wire w[2];
    struct bm_buf sb = {NULL, 0};
    const char *data = "payload";

    (void)state;
    key_of(0x07, &a);
    bm_peer_id_from_privkey(&aid, &a);
    u1 = bm_pbwire_put_varint_field(unk1, 7, 300);              /* 38 ac02 */
    u2 = put_len(unk2, 6492434, "ext", 3);                     /* test ext */

    memcpy(signed_bytes, BM_FLOODSUB_SIGN_PREFIX, 14);
    k = 14;
    k += put_len(signed_bytes + k, 1, aid.b, sizeof(aid.b));
    k += put_len(signed_bytes + k, 2, data, strlen(data));
    k += put_len(signed_bytes + k, 3, seqno_v, 8);
    k += put_len(signed_bytes + k, 4, TOPIC, strlen(TOPIC));
    memcpy(signed_bytes + k, unk1, u1);
    k += u1;
    memcpy(signed_bytes + k, unk2, u2);
    k += u2;
    assert_int_equal(crypto_sign_detached(sig, NULL, signed_bytes, k, a.b), 0);

    /* Received order: topic, unk1, signature, data, unk2, from, seqno. */
    m += put_len(msg + m, 4, TOPIC, strlen(TOPIC));
    memcpy(msg + m, unk1, u1);
    m += u1;
    m += put_len(msg + m, 5, sig, sizeof(sig));
    m += put_len(msg + m, 2, data, strlen(data));
    memcpy(msg + m, unk2, u2);
    m += u2;
    m += put_len(msg + m, 1, aid.b, sizeof(aid.b));
    m += put_len(msg + m, 3, seqno_v, 8);

    r = bm_varint_put(bm_pbwire_len_field_size(2, m), rpc);
    r += put_len(rpc + r, 2, msg, m);
    one_msg(rpc, r, w);
    assert_int_equal(bm_floodsub_signed_bytes(&w[0], &sb), BM_OK);
    assert_int_equal(sb.len, k);
    assert_memory_equal(sb.ptr, signed_bytes, k);
    bm_buf_release(&sb);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_OK);
    assert_true(bm_peer_id_eq(&from, &aid));

    /* Without the second unknown field the bytes differ: refused. */
    {
        uint8_t cut[512];
        size_t c = 0;

        c += put_len(cut + c, 4, TOPIC, strlen(TOPIC));
        memcpy(cut + c, unk1, u1);
        c += u1;
        c += put_len(cut + c, 5, sig, sizeof(sig));
        c += put_len(cut + c, 2, data, strlen(data));
        c += put_len(cut + c, 1, aid.b, sizeof(aid.b));
        c += put_len(cut + c, 3, seqno_v, 8);
        assert_int_equal(bm_floodsub_msg_decode(cut, c, &w[0]), BM_OK);
        assert_int_equal(bm_floodsub_verify(&w[0], &from),
                         BM_EBAD_SIGNATURE);
    }
}

/* A present empty data is `12 00` in the signed bytes; a repeated field
 * keeps its last value. */
static void signed_bytes_presence_and_last_wins(void **state)
{
    struct bm_privkey a;
    struct bm_buf frame = {NULL, 0}, sb = {NULL, 0};
    struct bm_floodsub_wire w[2];
    struct bm_peer_id from;
    uint8_t msg[256], extra[16];
    size_t m, e;

    (void)state;
    key_of(0x07, &a);
    assert_int_equal(bm_floodsub_frame_publish_signed(
                         &a, seqno_v, (const uint8_t *)"t", 1, NULL, 0,
                         BM_FLOODSUB_MAX_RPC_DEFAULT, &frame),
                     BM_OK);
    one_msg(frame.ptr, frame.len, w);
    assert_true(w[0].has_data);
    assert_int_equal(w[0].data_len, 0);
    assert_int_equal(bm_floodsub_signed_bytes(&w[0], &sb), BM_OK);
    /* prefix, from (40), then 12 00 */
    assert_int_equal(sb.ptr[14 + 40], 0x12);
    assert_int_equal(sb.ptr[14 + 41], 0x00);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_OK);
    bm_buf_release(&sb);

    /* A first topic "x" before the real one: the last one wins, and the
     * signature (over "t") still verifies. */
    m = w[0].raw_len;
    e = put_len(extra, 4, "x", 1);
    memcpy(msg, extra, e);
    memcpy(msg + e, w[0].raw, m);
    assert_int_equal(bm_floodsub_msg_decode(msg, m + e, &w[0]), BM_OK);
    assert_int_equal(w[0].topic_len, 1);
    assert_int_equal(w[0].topic[0], 't');
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_OK);
    bm_buf_release(&frame);
}

static void verify_failures(void **state)
{
    struct bm_privkey a;
    struct bm_buf frame = {NULL, 0};
    struct bm_floodsub_wire w[2];
    struct bm_peer_id from;
    uint8_t f[512], from_sha[34];

    (void)state;
    key_of(0x07, &a);
    assert_int_equal(bm_floodsub_frame_publish_signed(
                         &a, seqno_v, (const uint8_t *)TOPIC, strlen(TOPIC),
                         (const uint8_t *)"d", 1, BM_FLOODSUB_MAX_RPC_DEFAULT,
                         &frame),
                     BM_OK);
    /* A flipped bit in the signature. */
    memcpy(f, frame.ptr, frame.len);
    f[frame.len - 1] ^= 0x01;
    one_msg(f, frame.len, w);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EBAD_SIGNATURE);
    /* A flipped bit in the data. */
    memcpy(f, frame.ptr, frame.len);
    one_msg(f, frame.len, w);
    ((uint8_t *)w[0].data)[0] ^= 0x01;
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EBAD_SIGNATURE);
    /* No signature, a short signature, no from, a bad from. */
    one_msg(frame.ptr, frame.len, w);
    w[0].has_signature = false;
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_ENO_SIGNATURE);
    one_msg(frame.ptr, frame.len, w);
    w[0].signature_len = 63;
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EBAD_SIGNATURE);
    one_msg(frame.ptr, frame.len, w);
    w[0].has_from = false;
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EDECODE);
    one_msg(frame.ptr, frame.len, w);
    w[0].from_len = 37;
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EDECODE);
    /* A SHA-256 multihash peer ID (RSA keys): unsupported. */
    from_sha[0] = 0x12;
    from_sha[1] = 0x20;
    memset(from_sha + 2, 0x5a, 32);
    w[0].has_from = true;
    w[0].from = from_sha;
    w[0].from_len = sizeof(from_sha);
    assert_int_equal(bm_floodsub_verify(&w[0], &from), BM_EUNSUPPORTED);
    bm_buf_release(&frame);
}

/* ------------------------------------------------------ decoder rules */

static void rpc_decoder_rules(void **state)
{
    uint8_t b[256];
    size_t n, subs, msgs;

    (void)state;
    /* control (3) and partial (10) and unknown fields are skipped. */
    n = sx_hex(b, sizeof(b), "1a03 0a0100 5202 0800 f80601 2d01020304 "
                             "0a02 0801");
    assert_int_equal(bm_floodsub_rpc_check(b, n, &subs, &msgs), BM_OK);
    assert_int_equal(subs, 1);
    assert_int_equal(msgs, 0);
    /* A group (unknown field 9, start 4b ... end 4c) with a nested one. */
    n = sx_hex(b, sizeof(b), "4b 0801 53 0802 54 4c 0a02 0800");
    assert_int_equal(bm_floodsub_rpc_check(b, n, &subs, &msgs), BM_OK);
    assert_int_equal(subs, 1);
    /* A group left open, a stray end group, a mismatched end. */
    n = sx_hex(b, sizeof(b), "4b 0801");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_ETRUNCATED);
    n = sx_hex(b, sizeof(b), "4c");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EDECODE);
    n = sx_hex(b, sizeof(b), "4b 54");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EDECODE);
    /* Groups nested deeper than the limit. */
    for (n = 0; n < 40; n++) {
        b[n] = 0x4b;
    }
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EDECODE);
    /* publish as a varint: wrong wire type. */
    n = sx_hex(b, sizeof(b), "1001");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EWIRETYPE);
    /* A Message field with the wrong wire type. */
    n = sx_hex(b, sizeof(b), "1202 0801");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EWIRETYPE);
    /* subscribe as LEN, topic as varint. */
    n = sx_hex(b, sizeof(b), "0a02 0a00");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EWIRETYPE);
    n = sx_hex(b, sizeof(b), "0a02 1001");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EWIRETYPE);
    /* Lengths running past the end, field 0, wire types 6 and 7, a
     * varint of 11 bytes. */
    n = sx_hex(b, sizeof(b), "1205 0a01");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_ETRUNCATED);
    n = sx_hex(b, sizeof(b), "0001");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EDECODE);
    n = sx_hex(b, sizeof(b), "0e 0f");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EDECODE);
    n = sx_hex(b, sizeof(b), "08 ffffffffffffffffffff01");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_EVARINT);
    /* Fixed-width unknown fields; a truncated one. */
    n = sx_hex(b, sizeof(b), "49 0102030405060708 5d 01020304");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_OK);
    n = sx_hex(b, sizeof(b), "49 01020304");
    assert_int_equal(bm_floodsub_rpc_check(b, n, NULL, NULL), BM_ETRUNCATED);
    /* The empty RPC. */
    assert_int_equal(bm_floodsub_rpc_check(b, 0, &subs, &msgs), BM_OK);
    assert_int_equal(subs + msgs, 0);
}

static void publish_limits(void **state)
{
    struct bm_privkey a;
    struct bm_buf f = {NULL, 0};
    size_t rpc, max = 1000, data;
    uint8_t *big = bm_xcalloc(1, 2000);

    (void)state;
    key_of(0x07, &a);
    /* The largest data that fits max exactly, and one byte more. */
    for (data = 0; data < 2000; data++) {
        (void)bm_floodsub_publish_size(1, data + 1, &rpc);
        if (rpc > max) {
            break;
        }
    }
    assert_int_equal(bm_floodsub_frame_publish_signed(&a, seqno_v,
                                                      (const uint8_t *)"t", 1,
                                                      big, data, max, &f),
                     BM_OK);
    (void)bm_floodsub_publish_size(1, data, &rpc);
    assert_true(rpc <= max);
    bm_buf_release(&f);
    assert_int_equal(bm_floodsub_frame_publish_signed(&a, seqno_v,
                                                      (const uint8_t *)"t", 1,
                                                      big, data + 1, max, &f),
                     BM_ETOOBIG);
    assert_int_equal(bm_floodsub_frame_publish_signed(&a, seqno_v, NULL, 0,
                                                      big, 1, max, &f),
                     BM_EINVAL);
    /* Forwarding checks the same limit. */
    assert_int_equal(bm_floodsub_frame_forward(big, max, max, &f),
                     BM_ETOOBIG);
    assert_int_equal(bm_floodsub_frame_forward(big, 10, max, &f), BM_OK);
    assert_int_equal(f.len, 1 + 2 + 10);
    bm_buf_release(&f);
    bm_free(big);
}

/* ------------------------------------------------------ seen cache */

static void seen_cache_ttl_and_bound(void **state)
{
    struct bm_seen_cache *c;
    uint8_t a[38], s[8];

    (void)state;
    memset(a, 1, sizeof(a));
    assert_int_equal(bm_seen_cache_new(&c, 0, 1000), BM_EINVAL);
    assert_int_equal(bm_seen_cache_new(&c, 4, 120000), BM_OK);
    for (int i = 0; i < 4; i++) {
        bm_put_be64(s, (uint64_t)i);
        assert_true(bm_seen_cache_add(c, a, sizeof(a), s, 8, 1000 + i));
        assert_false(bm_seen_cache_add(c, a, sizeof(a), s, 8, 1000 + i));
    }
    bm_put_be64(s, 0);
    assert_true(bm_seen_cache_has(c, a, sizeof(a), s, 8, 1000));
    /* The ID is from || seqno: the split does not matter. */
    {
        uint8_t joined[46];

        memcpy(joined, a, 38);
        memcpy(joined + 38, s, 8);
        assert_true(bm_seen_cache_has(c, joined, 46, NULL, 0, 1000));
    }
    /* Still there just before the TTL, gone at it. */
    assert_true(bm_seen_cache_has(c, a, sizeof(a), s, 8, 1000 + 119999));
    assert_false(bm_seen_cache_has(c, a, sizeof(a), s, 8, 1000 + 120000));
    assert_int_equal(bm_seen_cache_count(c, 1000 + 120000), 3);
    /* Full: the oldest is evicted early and counted. */
    bm_put_be64(s, 10);
    assert_true(bm_seen_cache_add(c, a, sizeof(a), s, 8, 121000));
    bm_put_be64(s, 11);
    assert_true(bm_seen_cache_add(c, a, sizeof(a), s, 8, 121000));
    assert_int_equal(bm_seen_cache_evicted(c), 1);
    assert_int_equal(bm_seen_cache_count(c, 121000), 4);
    bm_put_be64(s, 1);
    assert_false(bm_seen_cache_has(c, a, sizeof(a), s, 8, 121000));
    /* Everything expires. */
    assert_int_equal(bm_seen_cache_count(c, 10000000), 0);
    bm_seen_cache_free(c);
}

/* ------------------------------------------------------ frame reader */

struct frames {
    size_t n;
    size_t lens[16];
    uint8_t first[16];
    size_t stop_after;
};

static bool on_frame(void *arg, const uint8_t *p, size_t n)
{
    struct frames *f = arg;

    f->lens[f->n] = n;
    f->first[f->n] = n > 0 ? p[0] : 0;
    f->n++;
    return f->n != f->stop_after;
}

static void frame_reader_chunks(void **state)
{
    static uint8_t in[3 * 70000];
    size_t sizes[4] = {0, 5, 69990, 300}, len = 0, max = 70000;

    (void)state;
    /* Four frames (one empty), fed whole, byte by byte and in chunks of
     * 7 and 65536: the same frames, the buffer never above max + 9. */
    for (size_t i = 0; i < 4; i++) {
        len += bm_varint_put(sizes[i], in + len);
        memset(in + len, (int)(0xa0 + i), sizes[i]);
        len += sizes[i];
    }
    {
        size_t chunks[4] = {len, 1, 7, 65536};

        for (size_t c = 0; c < 4; c++) {
            struct bm_frame_reader r;
            struct frames f;

            memset(&f, 0, sizeof(f));
            bm_frame_reader_init(&r, max);
            for (size_t off = 0; off < len; off += chunks[c]) {
                size_t k = len - off < chunks[c] ? len - off : chunks[c];

                assert_int_equal(bm_frame_reader_feed(&r, in + off, k,
                                                      on_frame, &f),
                                 BM_OK);
                assert_true(r.buf.len <= max + BM_VARINT_MAX_LEN);
            }
            assert_false(bm_frame_reader_partial(&r));
            assert_int_equal(f.n, 4);
            for (size_t i = 0; i < 4; i++) {
                assert_int_equal(f.lens[i], sizes[i]);
                if (sizes[i] > 0) {
                    assert_int_equal(f.first[i], 0xa0 + i);
                }
            }
            bm_frame_reader_release(&r);
        }
    }
    /* Stopping: the rest of the chunk is ignored. */
    {
        struct bm_frame_reader r;
        struct frames f;

        memset(&f, 0, sizeof(f));
        f.stop_after = 2;
        bm_frame_reader_init(&r, max);
        assert_int_equal(bm_frame_reader_feed(&r, in, len, on_frame, &f),
                         BM_OK);
        assert_int_equal(f.n, 2);
        bm_frame_reader_release(&r);
    }
    /* Above the cap from the prefix alone, even split; a bad varint; a
     * partial frame. */
    {
        struct bm_frame_reader r;
        struct frames f;
        uint8_t big[4], bad[10];
        size_t k = bm_varint_put(max + 1, big);

        memset(&f, 0, sizeof(f));
        bm_frame_reader_init(&r, max);
        assert_int_equal(bm_frame_reader_feed(&r, big, 1, on_frame, &f),
                         BM_OK);
        assert_true(bm_frame_reader_partial(&r));
        assert_int_equal(bm_frame_reader_feed(&r, big + 1, k - 1, on_frame,
                                              &f),
                         BM_ETOOBIG);
        bm_frame_reader_release(&r);
        memset(bad, 0x80, sizeof(bad));
        assert_int_equal(bm_frame_reader_feed(&r, bad, sizeof(bad), on_frame,
                                              &f),
                         BM_EVARINT);
        bm_frame_reader_release(&r);
        assert_int_equal(bm_frame_reader_feed(&r, in, 3, on_frame, &f),
                         BM_OK);
        assert_int_equal(f.n, 1); /* the empty frame, then a partial one */
        assert_true(bm_frame_reader_partial(&r));
        bm_frame_reader_release(&r);
        assert_false(bm_frame_reader_partial(&r));
    }
}

/* ---------------------------------------------------------------- 11.5 */

static void kat_headerex_framing(void **state)
{
    struct bm_headerex_request rq;
    struct bm_buf f = {NULL, 0};
    uint8_t hash[32], out[64], b[64];
    size_t n;

    (void)state;
    memset(&rq, 0, sizeof(rq));
    rq.has_origin = true;
    rq.origin = 1;
    rq.amount = 20;
    assert_int_equal(bm_headerex_request_encode(&rq, &f), BM_OK);
    sx_assert_hex(f.ptr, f.len, "04 0801 1814");
    rq.origin = 0;
    rq.amount = 1;
    assert_int_equal(bm_headerex_request_encode(&rq, &f), BM_OK);
    sx_assert_hex(f.ptr, f.len, "04 0800 1801");
    memset(hash, 0xab, sizeof(hash));
    memset(&rq, 0, sizeof(rq));
    rq.has_hash = true;
    rq.hash = hash;
    rq.hash_len = 32;
    rq.amount = 1;
    assert_int_equal(bm_headerex_request_encode(&rq, &f), BM_OK);
    sx_assert_hex(f.ptr, f.len,
                  "24 1220 abababababababababababababababababababababababab"
                  "abababababababab 1801");
    bm_buf_release(&f);

    n = bm_headerex_response_put(NULL, 0, BM_HEADEREX_STATUS_NOT_FOUND, out);
    assert_int_equal(n, bm_headerex_response_size(0, 2));
    sx_assert_hex(out, n, "02 1002");
    n = bm_headerex_response_put((const uint8_t *)"BODY", 4,
                                 BM_HEADEREX_STATUS_OK, out);
    assert_int_equal(n, bm_headerex_response_size(4, 1));
    sx_assert_hex(out, n, "08 0a04424f4459 1001");
    /* INVALID and an empty body are omitted. */
    n = bm_headerex_response_put(NULL, 0, BM_HEADEREX_STATUS_INVALID, out);
    sx_assert_hex(out, n, "00");

    /* Decoding the same bytes. */
    n = sx_hex(b, sizeof(b), "0801 1814");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_OK);
    assert_true(rq.has_origin && !rq.has_hash);
    assert_int_equal(rq.origin, 1);
    assert_int_equal(rq.amount, 20);
    n = sx_hex(b, sizeof(b), "0800 1801");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_OK);
    assert_true(rq.has_origin);
    assert_int_equal(rq.origin, 0);
    n = sx_hex(b, sizeof(b), "0a04424f4459 1001");
    {
        struct bm_headerex_response r;

        assert_int_equal(bm_headerex_response_decode(b, n, &r), BM_OK);
        assert_int_equal(r.status, 1);
        assert_int_equal(r.body_len, 4);
        assert_memory_equal(r.body, "BODY", 4);
        n = sx_hex(b, sizeof(b), "1002");
        assert_int_equal(bm_headerex_response_decode(b, n, &r), BM_OK);
        assert_int_equal(r.status, 2);
        assert_int_equal(r.body_len, 0);
        /* An unknown status is kept; unknown fields skipped. */
        n = sx_hex(b, sizeof(b), "1007 1a0100 2001");
        assert_int_equal(bm_headerex_response_decode(b, n, &r), BM_OK);
        assert_int_equal(r.status, 7);
        n = sx_hex(b, sizeof(b), "0801");
        assert_int_equal(bm_headerex_response_decode(b, n, &r),
                         BM_EWIRETYPE);
        n = sx_hex(b, sizeof(b), "1201 00");
        assert_int_equal(bm_headerex_response_decode(b, n, &r),
                         BM_EWIRETYPE);
    }
}

static void headerex_request_rules(void **state)
{
    struct bm_headerex_request rq;
    struct bm_buf f = {NULL, 0};
    uint8_t b[128];
    size_t n;

    (void)state;
    /* The oneof: the last of origin / hash wins. */
    n = sx_hex(b, sizeof(b), "0805 1202abcd 1803");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_OK);
    assert_true(rq.has_hash && !rq.has_origin);
    assert_int_equal(rq.hash_len, 2);
    n = sx_hex(b, sizeof(b), "1202abcd 0805");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_OK);
    assert_true(rq.has_origin && !rq.has_hash);
    assert_int_equal(rq.origin, 5);
    assert_int_equal(rq.amount, 0);
    /* Neither; unknown fields; non-minimal varints (protobuf allows). */
    n = sx_hex(b, sizeof(b), "1840 2a0100");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_OK);
    assert_false(rq.has_origin || rq.has_hash);
    assert_int_equal(rq.amount, 64);
    n = sx_hex(b, sizeof(b), "088180808000");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_OK);
    assert_int_equal(rq.origin, 1);
    /* The largest amount, wire type errors, truncation. */
    n = sx_hex(b, sizeof(b), "0801 18ffffffffffffffffff01");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_OK);
    assert_true(rq.amount == UINT64_MAX);
    n = sx_hex(b, sizeof(b), "0a0101");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_EWIRETYPE);
    n = sx_hex(b, sizeof(b), "1001");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_EWIRETYPE);
    n = sx_hex(b, sizeof(b), "1a0101");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_EWIRETYPE);
    n = sx_hex(b, sizeof(b), "1205ab");
    assert_int_equal(bm_headerex_request_decode(b, n, &rq), BM_ETRUNCATED);
    /* The encoder refuses both, and an oversized hash. */
    memset(&rq, 0, sizeof(rq));
    rq.has_origin = rq.has_hash = true;
    assert_int_equal(bm_headerex_request_encode(&rq, &f), BM_EINVAL);
    rq.has_origin = false;
    rq.hash = b;
    rq.hash_len = BM_HEADEREX_HASH_MAX + 1;
    assert_int_equal(bm_headerex_request_encode(&rq, &f), BM_EINVAL);
    /* A response above the cap has no size. */
    assert_int_equal(bm_headerex_response_size(BM_HEADEREX_MAX_MSG, 1), 0);
    assert_true(bm_headerex_response_size(BM_HEADEREX_MAX_MSG - 8, 1) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kat_signed_message),
        cmocka_unit_test(kat_js_form_with_key),
        cmocka_unit_test(kat_hello_frames),
        cmocka_unit_test(verify_unknown_fields),
        cmocka_unit_test(signed_bytes_presence_and_last_wins),
        cmocka_unit_test(verify_failures),
        cmocka_unit_test(rpc_decoder_rules),
        cmocka_unit_test(publish_limits),
        cmocka_unit_test(seen_cache_ttl_and_bound),
        cmocka_unit_test(frame_reader_chunks),
        cmocka_unit_test(kat_headerex_framing),
        cmocka_unit_test(headerex_request_rules),
    };

    assert_int_equal(bm_crypto_init(), BM_OK);
    return BM_TEST_RUN(tests);
}
