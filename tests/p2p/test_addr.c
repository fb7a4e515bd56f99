/*
 * Peer IDs and multiaddrs (src/p2p/peerid.h, multiaddr.h): the vectors of
 * spec section 11.1, both directions, canonical text, errors that name
 * the component, truncation at every byte, caps at the limit and above.
 */
#include "sansio_util.h"

#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "util/errmsg.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define A_PUB "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
#define A_ID "12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7"
#define A_CID                                                                  \
    "bafzaajaiaejcb2sknrr6fhcsbk7pkud3cmxml6mvi53k5pv6pojeehxknekenurm"
#define B_PUB "1398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e416bd17d93ca"
#define B_ID "12D3KooWB8sCGZCrwr79HtabLAn95qyPQx6RYHXjEbiD6QKou7ww"

static void key_from_seed(struct bm_privkey *k, uint8_t byte)
{
    uint8_t seed[32];
    memset(seed, byte, sizeof(seed));
    bm_keys_from_seed(k, seed);
}

static void test_peer_id_vectors(void **state)
{
    struct bm_privkey a, b;
    struct bm_peer_id ida, idb, parsed;
    char text[BM_PEER_ID_STR_SIZE], cid[BM_PEER_ID_CID_STR_SIZE];
    uint8_t pub[32], pk[BM_LIBP2P_PUBKEY_SIZE];
    (void)state;

    key_from_seed(&a, 0x07);
    key_from_seed(&b, 0x08);
    /* A.PrivateKey's Data: seed || pub, libsodium's secret key layout
     * (the 08 01 12 40 protobuf wrapper itself is not used: node_key.json
     * holds the 64 bytes in base64). */
    sx_assert_hex(a.b, 64,
                  "0707070707070707070707070707070707070707070707070707070707"
                  "070707" A_PUB);
    sx_assert_hex(a.b + 32, 32, A_PUB);
    sx_assert_hex(b.b + 32, 32, B_PUB);
    bm_peer_id_from_privkey(&ida, &a);
    bm_peer_id_from_key(&idb, b.b + 32);
    sx_assert_hex(ida.b, sizeof(ida.b), "0024 08011220" A_PUB);
    sx_assert_hex(bm_peer_id_key(&ida), 32, A_PUB);
    bm_peer_id_format(&ida, text);
    assert_string_equal(text, A_ID);
    bm_peer_id_format(&idb, text);
    assert_string_equal(text, B_ID);
    bm_peer_id_format_cid(&ida, cid);
    assert_string_equal(cid, A_CID);

    assert_int_equal(bm_peer_id_parse(&parsed, A_ID, strlen(A_ID), NULL),
                     BM_OK);
    assert_true(bm_peer_id_eq(&parsed, &ida));
    assert_false(bm_peer_id_eq(&parsed, &idb));
    assert_int_equal(bm_peer_id_parse(&parsed, A_CID, strlen(A_CID), NULL),
                     BM_OK);
    assert_true(bm_peer_id_eq(&parsed, &ida));
    assert_int_equal(bm_peer_id_parse(&parsed, B_ID, strlen(B_ID), NULL),
                     BM_OK);
    assert_true(bm_peer_id_eq(&parsed, &idb));
    assert_int_equal(bm_peer_id_decode(&parsed, ida.b, sizeof(ida.b), NULL),
                     BM_OK);
    assert_true(bm_peer_id_eq(&parsed, &ida));

    /* The PublicKey protobuf (spec 11.1 A.PublicKey). */
    sx_hex(pk, sizeof(pk), "08011220" A_PUB);
    assert_int_equal(bm_peer_id_pubkey_decode(pk, sizeof(pk), pub, NULL),
                     BM_OK);
    assert_memory_equal(pub, a.b + 32, 32);
}

static void test_peer_id_errors(void **state)
{
    struct bm_peer_id id, keep;
    struct bm_errmsg em;
    uint8_t bin[64], pub[32];
    char text[256];
    size_t n;
    (void)state;

    memset(&keep, 0x5a, sizeof(keep));
    id = keep;
    /* Truncated text: every prefix is refused and leaves *out alone. */
    for (size_t i = 0; i < strlen(A_ID); i++) {
        enum bm_err err = bm_peer_id_parse(&id, A_ID, i, NULL);
        assert_true(err == BM_EPARSE || err == BM_EDECODE);
        assert_memory_equal(&id, &keep, sizeof(id));
    }
    for (size_t i = 1; i < strlen(A_CID); i++) {
        enum bm_err err = bm_peer_id_parse(&id, A_CID, i, NULL);
        assert_true(err == BM_EPARSE || err == BM_EDECODE);
    }
    /* Characters outside the alphabets. */
    assert_int_equal(bm_peer_id_parse(&id,
                                      "12D3KooW0awPbxPtP1eZaJpumGnyWX2D"
                                      "cUyd3RQnydr3eAto4Az7",
                                      52, &em),
                     BM_EPARSE);
    assert_int_equal(bm_peer_id_parse(&id,
                                      "bafzaajaiaejcb2sknrr6fhcsbk7pkud3"
                                      "cmxml6mvi53k5pv6pojeehxknekenur1",
                                      65, NULL),
                     BM_EPARSE);
    /* Other multibases and empty text. */
    assert_int_equal(bm_peer_id_parse(&id, "zQ3sh", 5, NULL), BM_EPARSE);
    assert_int_equal(bm_peer_id_parse(&id, "", 0, NULL), BM_EPARSE);
    /* A SHA-256 peer ID (RSA key). */
    assert_int_equal(
        bm_peer_id_parse(&id, "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
                         46, &em),
        BM_EUNSUPPORTED);
    assert_non_null(strstr(em.msg, "SHA-256"));
    /* Caps: 128 characters are looked at, 129 are not. */
    memset(text, '1', sizeof(text));
    assert_int_equal(bm_peer_id_parse(&id, text, BM_PEER_ID_TEXT_MAX, NULL),
                     BM_EDECODE);
    assert_int_equal(bm_peer_id_parse(&id, text, BM_PEER_ID_TEXT_MAX + 1, NULL),
                     BM_ETOOBIG);
    memset(text, 'z', sizeof(text));
    text[0] = '1';
    assert_int_equal(bm_peer_id_parse(&id, text, BM_PEER_ID_TEXT_MAX, NULL),
                     BM_EDECODE);

    /* Binary: identity multihash of a secp256k1 key, sha2-256. */
    n = sx_hex(bin, sizeof(bin), "0025 08021221 02" A_PUB);
    assert_int_equal(bm_peer_id_decode(&id, bin, n, &em), BM_EUNSUPPORTED);
    assert_non_null(strstr(em.msg, "secp256k1"));
    n = sx_hex(bin, sizeof(bin), "1220" A_PUB);
    assert_int_equal(bm_peer_id_decode(&id, bin, n, NULL), BM_EUNSUPPORTED);
    n = sx_hex(bin, sizeof(bin), "0024 08011220" A_PUB "00");
    assert_int_equal(bm_peer_id_decode(&id, bin, n, NULL), BM_EDECODE);
    for (size_t i = 0; i < BM_PEER_ID_SIZE; i++) {
        assert_int_equal(bm_peer_id_decode(&id, bin, i, NULL), BM_EDECODE);
    }

    /* PublicKey: other key types, wrong length, non-canonical bytes. */
    n = sx_hex(bin, sizeof(bin), "08021221 02" A_PUB);
    assert_int_equal(bm_peer_id_pubkey_decode(bin, n, pub, &em),
                     BM_EUNSUPPORTED);
    assert_non_null(strstr(em.msg, "secp256k1"));
    n = sx_hex(bin, sizeof(bin), "0800 1220" A_PUB);
    assert_int_equal(bm_peer_id_pubkey_decode(bin, n, pub, &em),
                     BM_EUNSUPPORTED);
    assert_non_null(strstr(em.msg, "RSA"));
    n = sx_hex(bin, sizeof(bin), "08011220" A_PUB);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bm_peer_id_pubkey_decode(bin, i, pub, NULL),
                         BM_EBADKEY);
    }
    bin[n] = 0;
    assert_int_equal(bm_peer_id_pubkey_decode(bin, n + 1, pub, NULL),
                     BM_EBADKEY);
    n = sx_hex(bin, sizeof(bin), "1220" A_PUB "0801");
    assert_int_equal(bm_peer_id_pubkey_decode(bin, n, pub, NULL), BM_EBADKEY);
}

/* Text <-> binary <-> text for one vector of spec 11.1. */
static void ma_vector(const char *text, const char *hex)
{
    struct bm_multiaddr ma, mb;
    char out[BM_MULTIADDR_STR_SIZE];
    uint8_t bin[BM_MULTIADDR_BIN_MAX];
    size_t n;

    assert_int_equal(bm_multiaddr_parse(&ma, text, strlen(text), NULL), BM_OK);
    n = bm_multiaddr_encode(&ma, bin);
    sx_assert_hex(bin, n, hex);
    assert_int_equal(bm_multiaddr_format(&ma, out), strlen(text));
    assert_string_equal(out, text);
    assert_int_equal(bm_multiaddr_decode(&mb, bin, n, NULL), BM_OK);
    assert_true(bm_multiaddr_eq(&ma, &mb));
    /* Every truncation is either a shorter valid address (cut at a
     * component boundary) or refused as truncated. */
    for (size_t i = 0; i < n; i++) {
        enum bm_err err = bm_multiaddr_decode(&mb, bin, i, NULL);
        assert_true(err == BM_OK || err == BM_ETRUNCATED ||
                    (i == 0 && err == BM_EDECODE));
    }
}

static void test_multiaddr_vectors(void **state)
{
    struct bm_multiaddr ma;
    struct bm_errmsg em;
    uint8_t bin[32];
    size_t n;
    (void)state;

    ma_vector("/ip4/127.0.0.1/tcp/7676/p2p/" A_ID,
              "047f000001 061dfc a503 26 002408011220" A_PUB);
    ma_vector("/ip6/::1/tcp/7676", "2900000000000000000000000000000001 061dfc");
    ma_vector("/ip4/0.0.0.0/tcp/0", "0400000000 060000");
    ma_vector("/p2p/" A_ID, "a503 26 002408011220" A_PUB);
    ma_vector("/ip4/10.1.2.3", "040a010203");
    ma_vector("/ip6/2001:db8::1:0:0:1/tcp/65535",
              "2920010db8000000000001000000000001 06ffff");

    /* dns4 is valid multiaddr but not ours: named in the error. */
    n = sx_hex(bin, sizeof(bin), "36 09 6c6f63616c686f7374 061dfc");
    assert_int_equal(bm_multiaddr_decode(&ma, bin, n, &em), BM_EUNSUPPORTED);
    assert_non_null(strstr(em.msg, "dns4"));
    assert_int_equal(
        bm_multiaddr_parse(&ma, "/dns4/localhost/tcp/7676", 24, &em),
        BM_EUNSUPPORTED);
    assert_non_null(strstr(em.msg, "'dns4'"));
}

/* Parses text and checks its canonical form. */
static void ma_canon(const char *text, const char *canon)
{
    struct bm_multiaddr ma, mb;
    char out[BM_MULTIADDR_STR_SIZE];

    assert_int_equal(bm_multiaddr_parse(&ma, text, strlen(text), NULL), BM_OK);
    bm_multiaddr_format(&ma, out);
    assert_string_equal(out, canon);
    assert_int_equal(bm_multiaddr_parse(&mb, out, strlen(out), NULL), BM_OK);
    assert_true(bm_multiaddr_eq(&ma, &mb));
}

static void test_multiaddr_canonical(void **state)
{
    (void)state;
    ma_canon("/ip4/1.2.3.4/tcp/0080/", "/ip4/1.2.3.4/tcp/80");
    ma_canon("/ip4/1.2.3.4///", "/ip4/1.2.3.4");
    ma_canon("/ipfs/" A_ID, "/p2p/" A_ID);
    ma_canon("/ip4/1.2.3.4/tcp/1/p2p/" A_CID, "/ip4/1.2.3.4/tcp/1/p2p/" A_ID);
    ma_canon("/ip6/0:0:0:0:0:0:0:1", "/ip6/::1");
    ma_canon("/ip6/0:0:0:0:0:0:0:0", "/ip6/::");
    ma_canon("/ip6/1::", "/ip6/1::");
    ma_canon("/ip6/2001:0DB8::0001", "/ip6/2001:db8::1");
    ma_canon("/ip6/1:0:1:0:1:0:1:0", "/ip6/1:0:1:0:1:0:1:0");
    ma_canon("/ip6/1:0:0:1:0:0:0:1", "/ip6/1:0:0:1::1");
    ma_canon("/ip6/1:0:0:1:1:0:0:1", "/ip6/1::1:1:0:0:1");
    ma_canon("/ip6/::ffff:1.2.3.4", "/ip6/::ffff:1.2.3.4");
    ma_canon("/ip6/::ffff:0102:0304", "/ip6/::ffff:1.2.3.4");
    ma_canon("/ip6/::2:3", "/ip6/::2:3");
    ma_canon(
        "/ip6/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/tcp/65535/p2p/" A_ID,
        "/ip6/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/tcp/65535/p2p/" A_ID);
}

static void ma_bad(const char *text, enum bm_err want, const char *needle)
{
    struct bm_multiaddr ma, keep;
    struct bm_errmsg em;

    memset(&ma, 0x5a, sizeof(ma));
    keep = ma;
    assert_int_equal(bm_multiaddr_parse(&ma, text, strlen(text), &em), want);
    assert_memory_equal(&ma, &keep, sizeof(ma));
    if (strstr(em.msg, needle) == NULL) {
        fprintf(stderr, "message '%s' lacks '%s'\n", em.msg, needle);
    }
    assert_non_null(strstr(em.msg, needle));
}

static void test_multiaddr_text_errors(void **state)
{
    char big[BM_MULTIADDR_TEXT_MAX + 2];
    struct bm_multiaddr ma;
    (void)state;

    ma_bad("", BM_EPARSE, "begin with '/'");
    ma_bad("ip4/1.2.3.4", BM_EPARSE, "begin with '/'");
    ma_bad("/", BM_EPARSE, "empty");
    ma_bad("/ip4", BM_EPARSE, "ip4: missing value");
    ma_bad("/ip4/", BM_EPARSE, "ip4: missing value");
    ma_bad("/ip4/1.2.3", BM_EPARSE, "ip4: bad address '1.2.3'");
    ma_bad("/ip4/1.2.3.256", BM_EPARSE, "ip4: bad address");
    ma_bad("/ip4/::1", BM_EPARSE, "ip4: bad address");
    ma_bad("/ip6/1.2.3.4", BM_EPARSE, "ip6: bad address");
    ma_bad("/ip6/1:2:3:4:5:6:7:8:9", BM_EPARSE, "ip6: bad address");
    ma_bad("/ip6/fe80::1%eth0", BM_EPARSE, "ip6: bad address");
    ma_bad("/ip4/1.2.3.4/tcp/65536", BM_EPARSE, "tcp: bad port '65536'");
    ma_bad("/ip4/1.2.3.4/tcp/-1", BM_EPARSE, "tcp: bad port");
    ma_bad("/ip4/1.2.3.4/tcp/+1", BM_EPARSE, "tcp: bad port");
    ma_bad("/ip4/1.2.3.4/tcp/000001", BM_EPARSE, "tcp: bad port");
    ma_bad("/ip4/1.2.3.4/tcp", BM_EPARSE, "tcp: missing value");
    ma_bad("/tcp/80", BM_EPARSE, "tcp: must follow");
    ma_bad("/ip4/1.2.3.4/tcp/1/tcp/2", BM_EPARSE, "tcp: must follow");
    ma_bad("/ip4/1.2.3.4/ip4/1.2.3.4", BM_EPARSE, "ip4: an address must come");
    ma_bad("/p2p/" A_ID "/ip4/1.2.3.4", BM_EPARSE, "ip4: an address must");
    ma_bad("/p2p/" A_ID "/p2p/" A_ID, BM_EPARSE, "p2p: repeated");
    ma_bad("/p2p/" A_ID "/tcp/1", BM_EPARSE, "tcp: must follow");
    ma_bad("/p2p/12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az",
           BM_EDECODE, "p2p: peer id");
    ma_bad("/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
           BM_EUNSUPPORTED, "p2p: peer id");
    ma_bad("/ip4/1.2.3.4//tcp/1", BM_EPARSE, "empty protocol name");
    ma_bad("/foo/1", BM_EPARSE, "unknown protocol 'foo'");
    ma_bad("/ip4/1.2.3.4/udp/1/quic-v1", BM_EUNSUPPORTED, "'udp'");
    ma_bad("/ip4/1.2.3.4/tcp/1/ws", BM_EUNSUPPORTED, "'ws'");
    ma_bad("/ip4/1.2.3.4/tcp/1/p2p/" A_ID "/p2p-circuit", BM_EUNSUPPORTED,
           "'p2p-circuit'");

    /* Caps: exactly TEXT_MAX characters are parsed, one more is not. */
    memset(big, '/', sizeof(big));
    memcpy(big, "/ip4/1.2.3.4", 12);
    assert_int_equal(bm_multiaddr_parse(&ma, big, BM_MULTIADDR_TEXT_MAX, NULL),
                     BM_OK);
    assert_int_equal(
        bm_multiaddr_parse(&ma, big, BM_MULTIADDR_TEXT_MAX + 1, NULL),
        BM_ETOOBIG);
    /* An embedded NUL is not a valid address character. */
    assert_int_equal(bm_multiaddr_parse(&ma, "/ip4/1.2.3.4\0", 13, NULL),
                     BM_EPARSE);
}

static void ma_bad_bin(const char *hex, enum bm_err want, const char *needle)
{
    struct bm_multiaddr ma;
    struct bm_errmsg em;
    uint8_t bin[128];
    size_t n = sx_hex(bin, sizeof(bin), hex);

    assert_int_equal(bm_multiaddr_decode(&ma, bin, n, &em), want);
    if (strstr(em.msg, needle) == NULL) {
        fprintf(stderr, "message '%s' lacks '%s'\n", em.msg, needle);
    }
    assert_non_null(strstr(em.msg, needle));
}

static void test_multiaddr_binary_errors(void **state)
{
    (void)state;
    ma_bad_bin("", BM_EDECODE, "empty");
    ma_bad_bin("047f0000", BM_ETRUNCATED, "ip4");
    ma_bad_bin("29 0000", BM_ETRUNCATED, "ip6");
    ma_bad_bin("047f000001 06 1d", BM_ETRUNCATED, "tcp");
    ma_bad_bin("061dfc", BM_EDECODE, "tcp: must follow");
    ma_bad_bin("047f000001 047f000001", BM_EDECODE, "ip4: an address");
    ma_bad_bin("047f000001 8000", BM_EVARINT, "protocol code");
    ma_bad_bin("047f000001 a5", BM_ETRUNCATED, "protocol code");
    ma_bad_bin("a503", BM_ETRUNCATED, "p2p: truncated length");
    ma_bad_bin("a503 27 002408011220" A_PUB, BM_ETRUNCATED, "p2p");
    ma_bad_bin("a503 22 1220" A_PUB, BM_EUNSUPPORTED, "p2p: peer id");
    ma_bad_bin("a503 00", BM_EDECODE, "p2p: peer id");
    ma_bad_bin("047f000001 9102 0400", BM_EUNSUPPORTED, "'udp'");
    ma_bad_bin("047f000001 061dfc cd03", BM_EUNSUPPORTED, "'quic-v1'");
    ma_bad_bin("047f000001 061dfc dd03", BM_EUNSUPPORTED, "'ws'");
    ma_bad_bin("ff7f", BM_EUNSUPPORTED, "unknown protocol code 16383");
    ma_bad_bin("a503 26 002408011220" A_PUB " a503 26 002408011220" A_PUB,
               BM_EDECODE, "p2p: repeated");
}

static void test_multiaddr_list(void **state)
{
    struct bm_multiaddr out[3];
    struct bm_errmsg em;
    char text[BM_MULTIADDR_STR_SIZE];
    size_t count = 99;
    (void)state;

    assert_int_equal(bm_multiaddr_parse_list("", true, out, 3, &count, NULL),
                     BM_OK);
    assert_int_equal(count, 0);
    assert_int_equal(bm_multiaddr_parse_list(" /ip4/1.2.3.4/tcp/1/p2p/" A_ID
                                             " ,, \t"
                                             "/ip6/::1/tcp/2/p2p/" B_ID ",",
                                             true, out, 3, &count, NULL),
                     BM_OK);
    assert_int_equal(count, 2);
    bm_multiaddr_format(&out[1], text);
    assert_string_equal(text, "/ip6/::1/tcp/2/p2p/" B_ID);
    assert_true(bm_multiaddr_is_dialable(&out[0]));

    assert_int_equal(bm_multiaddr_parse_list("/ip4/1.2.3.4/tcp/1/p2p/" A_ID
                                             ",/ip4/1.2.3.4/tcp/1",
                                             true, out, 3, &count, &em),
                     BM_EPARSE);
    assert_int_equal(count, 0);
    assert_non_null(strstr(em.msg, "entry 2"));
    assert_non_null(strstr(em.msg, "not dialable"));
    assert_int_equal(bm_multiaddr_parse_list("/ip4/1.2.3.4/tcp/1,/ip4/x", false,
                                             out, 3, &count, &em),
                     BM_EPARSE);
    assert_non_null(strstr(em.msg, "entry 2"));
    assert_non_null(strstr(em.msg, "ip4: bad address 'x'"));
    /* Caps: max entries pass, one more is refused. */
    assert_int_equal(bm_multiaddr_parse_list("/ip4/1.1.1.1,/ip4/2.2.2.2,"
                                             "/ip4/3.3.3.3",
                                             false, out, 3, &count, NULL),
                     BM_OK);
    assert_int_equal(count, 3);
    assert_int_equal(bm_multiaddr_parse_list("/ip4/1.1.1.1,/ip4/2.2.2.2,"
                                             "/ip4/3.3.3.3,/ip4/4.4.4.4",
                                             false, out, 3, &count, &em),
                     BM_ETOOBIG);
    assert_non_null(strstr(em.msg, "entry 4"));
}

static void test_multiaddr_sockaddr(void **state)
{
    struct bm_multiaddr ma, mb;
    struct sockaddr_storage ss;
    struct sockaddr_in6 in6;
    socklen_t len;
    char text[BM_MULTIADDR_STR_SIZE];
    (void)state;

    assert_int_equal(
        bm_multiaddr_parse(&ma, "/ip4/10.0.0.1/tcp/7676", 22, NULL), BM_OK);
    assert_int_equal(bm_multiaddr_to_sockaddr(&ma, &ss, &len), BM_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7676);
    assert_int_equal(
        bm_multiaddr_from_sockaddr(&mb, (struct sockaddr *)&ss, len), BM_OK);
    assert_true(bm_multiaddr_eq(&ma, &mb));

    assert_int_equal(bm_multiaddr_parse(&ma, "/ip6/::1/tcp/1", 14, NULL),
                     BM_OK);
    assert_int_equal(bm_multiaddr_to_sockaddr(&ma, &ss, &len), BM_OK);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(
        bm_multiaddr_from_sockaddr(&mb, (struct sockaddr *)&ss, len), BM_OK);
    assert_true(bm_multiaddr_eq(&ma, &mb));
    assert_int_equal(bm_multiaddr_from_sockaddr(&mb, (struct sockaddr *)&ss,
                                                sizeof(struct sockaddr_in)),
                     BM_EINVAL);

    /* A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d. */
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(40000);
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr),
                     1);
    assert_int_equal(
        bm_multiaddr_from_sockaddr(&mb, (struct sockaddr *)&in6, sizeof(in6)),
        BM_OK);
    bm_multiaddr_format(&mb, text);
    assert_string_equal(text, "/ip4/127.0.0.1/tcp/40000");

    assert_int_equal(bm_multiaddr_parse(&ma, "/p2p/" A_ID, 57, NULL), BM_OK);
    assert_int_equal(bm_multiaddr_to_sockaddr(&ma, &ss, &len), BM_EINVAL);
    assert_false(bm_multiaddr_is_dialable(&ma));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_id_vectors),
        cmocka_unit_test(test_peer_id_errors),
        cmocka_unit_test(test_multiaddr_vectors),
        cmocka_unit_test(test_multiaddr_canonical),
        cmocka_unit_test(test_multiaddr_text_errors),
        cmocka_unit_test(test_multiaddr_binary_errors),
        cmocka_unit_test(test_multiaddr_list),
        cmocka_unit_test(test_multiaddr_sockaddr),
    };
    return BM_TEST_RUN(tests);
}
