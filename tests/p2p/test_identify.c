/* identify: the known-answer vector of spec 11.4 (encode, and decode in
 * Go's and js's field orders), merging, reader limits; ping rounds. */
#include "bm_test.h"

#include <string.h>

#include "p2p/identify.h"
#include "p2p/ping.h"
#include "util/hex.h"

/* Spec 11.4: A as a blockv2 node of chain testchain, framed. */
static const char vector_hex[] =
    "d601"
    "0a2408011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea6914"
    "46d22c"
    "1208047f000001061dfc"
    "1a0e2f697066732f69642f312e302e30"
    "1a102f697066732f70696e672f312e302e30"
    "1a0f2f666c6f6f647375622f312e302e30"
    "1a262f74657374636861696e2d68656164657253796e632f6865616465722d65782f"
    "76302e302e33"
    "1a242f74657374636861696e2d6461746153796e632f6865616465722d65782f7630"
    "2e302e33"
    "2208047f000001069c40"
    "2a0a697066732f302e312e30"
    "320d626c6f636b76322f302e312e30";

static const char *const protos[] = {
    "/ipfs/id/1.0.0",
    "/ipfs/ping/1.0.0",
    "/floodsub/1.0.0",
    "/testchain-headerSync/header-ex/v0.0.3",
    "/testchain-dataSync/header-ex/v0.0.3",
};

static void load(struct bm_buf *b, const char *hex)
{
    assert_int_equal(bm_hex_decode(b, hex, strlen(hex)), BM_OK);
}

static void test_vector_encode(void **state)
{
    static const uint8_t listen[8] = {0x04, 127, 0, 0, 1, 0x06, 0x1d, 0xfc};
    static const uint8_t obs[8] = {0x04, 127, 0, 0, 1, 0x06, 0x9c, 0x40};
    struct bm_buf want = {0}, got = {0};
    struct bm_buf addr;
    struct bm_identify id;

    (void)state;
    load(&want, vector_hex);
    memset(&id, 0, sizeof(id));
    id.public_key.ptr = want.ptr + 4; /* the 36-byte PublicKey */
    id.public_key.len = 36;
    addr.ptr = (uint8_t *)listen;
    addr.len = sizeof(listen);
    id.listen_addrs = &addr;
    id.n_listen_addrs = 1;
    id.protocols = (char **)protos;
    id.n_protocols = 5;
    id.observed_addr.ptr = (uint8_t *)obs;
    id.observed_addr.len = sizeof(obs);
    id.protocol_version = (char *)"ipfs/0.1.0";
    id.agent_version = (char *)"blockv2/0.1.0";
    assert_int_equal(bm_identify_encode(&id, &got), BM_OK);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.ptr, want.ptr, want.len);
    bm_buf_release(&want);
    bm_buf_release(&got);
}

/* Go's order and js's order (5, 6, 1, 2, 4, 3) decode alike. */
static void test_vector_decode_orders(void **state)
{
    struct bm_buf v = {0};
    struct bm_buf js = {0};
    struct bm_identify a, b;
    const uint8_t *body;
    size_t pos = 0;
    static const int order[] = {5, 6, 1, 2, 4, 3};

    (void)state;
    load(&v, vector_hex);
    body = v.ptr + 2;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(bm_identify_merge(&a, body, v.len - 2), BM_OK);
    assert_int_equal(a.n_protocols, 5);
    assert_string_equal(a.protocols[3], protos[3]);
    assert_string_equal(a.agent_version, "blockv2/0.1.0");
    assert_string_equal(a.protocol_version, "ipfs/0.1.0");
    assert_int_equal(a.public_key.len, 36);
    assert_int_equal(a.n_listen_addrs, 1);
    assert_int_equal(a.observed_addr.len, 8);
    js.ptr = bm_xmalloc(v.len);
    for (size_t o = 0; o < 6; o++) {
        for (pos = 0; pos < v.len - 2;) {
            size_t flen = 2 + body[pos + 1];

            if ((body[pos] >> 3) == order[o]) {
                memcpy(js.ptr + js.len, body + pos, flen);
                js.len += flen;
            }
            pos += flen;
        }
    }
    assert_int_equal(js.len, v.len - 2);
    assert_int_equal(bm_identify_merge(&b, js.ptr, js.len), BM_OK);
    {
        struct bm_buf ea = {0}, eb = {0};

        assert_int_equal(bm_identify_encode(&a, &ea), BM_OK);
        assert_int_equal(bm_identify_encode(&b, &eb), BM_OK);
        assert_true(bm_buf_eq(&ea, &eb));
        assert_true(bm_buf_eq(&ea, &v));
        bm_buf_release(&ea);
        bm_buf_release(&eb);
    }
    assert_true(bm_identify_has_protocol(&b, "/floodsub/1.0.0"));
    assert_false(bm_identify_has_protocol(&b, "/ipfs/kad/1.0.0"));
    bm_identify_release(&a);
    bm_identify_release(&b);
    bm_buf_release(&v);
    bm_buf_release(&js);
}

/* Go's merge: repeated fields append, the last scalar wins. */
static void test_reader_merge_and_limits(void **state)
{
    struct bm_buf v = {0};
    struct bm_identify_reader r;
    struct bm_identify out;
    /* a second message: one more protocol and another agent */
    static const uint8_t second[] = {
        0x1c, 0x1a, 0x0b, '/', 'e', 'x', 't', 'r', 'a', '/', '1', '.', '0',
        '0', 0x32, 0x0d, 'o', 't', 'h', 'e', 'r', '-', 'a', 'g', 'e', 'n',
        't', '/', '1'};

    (void)state;
    load(&v, vector_hex);
    memset(&r, 0, sizeof(r));
    memset(&out, 0, sizeof(out));
    /* byte by byte */
    for (size_t i = 0; i < v.len; i++) {
        assert_int_equal(bm_identify_reader_feed(&r, v.ptr + i, 1), BM_OK);
    }
    assert_int_equal(bm_identify_reader_feed(&r, second, sizeof(second)),
                     BM_OK);
    assert_int_equal(bm_identify_reader_finish(&r, &out), BM_OK);
    assert_int_equal(out.n_protocols, 6);
    assert_string_equal(out.protocols[5], "/extra/1.00");
    assert_string_equal(out.agent_version, "other-agent/1");
    assert_string_equal(out.protocol_version, "ipfs/0.1.0");
    bm_identify_reader_release(&r);
    bm_identify_release(&out);
    /* EOF inside a message; nothing at all */
    memset(&r, 0, sizeof(r));
    assert_int_equal(bm_identify_reader_feed(&r, v.ptr, 50), BM_OK);
    assert_int_equal(bm_identify_reader_finish(&r, &out), BM_ETRUNCATED);
    bm_identify_reader_release(&r);
    memset(&r, 0, sizeof(r));
    assert_int_equal(bm_identify_reader_finish(&r, &out), BM_EEMPTY);
    bm_identify_reader_release(&r);
    /* a length above 8 KiB is refused from its prefix */
    {
        static const uint8_t big[] = {0xa9, 0x46}; /* 9001 */

        memset(&r, 0, sizeof(r));
        assert_int_equal(bm_identify_reader_feed(&r, big, sizeof(big)),
                         BM_ETOOBIG);
        bm_identify_reader_release(&r);
    }
    /* more than 10 messages */
    {
        static const uint8_t empty_msg[] = {0x00};
        int err = BM_OK;

        memset(&r, 0, sizeof(r));
        for (int i = 0; i < 11 && err == BM_OK; i++) {
            err = bm_identify_reader_feed(&r, empty_msg, 1);
        }
        assert_int_equal(err, BM_EPROTO);
        bm_identify_reader_release(&r);
    }
    /* not an Identify */
    {
        static const uint8_t bad[] = {0x03, 0x0a, 0x05, 0x01};

        memset(&r, 0, sizeof(r));
        assert_int_equal(bm_identify_reader_feed(&r, bad, sizeof(bad)),
                         BM_EDECODE);
        bm_identify_reader_release(&r);
    }
    bm_buf_release(&v);
}

/* What we send is capped at 4 KiB, as Go's sender. */
static void test_send_cap(void **state)
{
    struct bm_identify id;
    struct bm_buf out = {0};
    char *many[300];
    char name[32];

    (void)state;
    memset(&id, 0, sizeof(id));
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "/p/%05d/1.0.0", i);
        many[i] = bm_xstrdup(name);
    }
    id.protocols = many;
    id.n_protocols = 300;
    assert_int_equal(bm_identify_encode(&id, &out), BM_ETOOBIG);
    id.n_protocols = 10;
    assert_int_equal(bm_identify_encode(&id, &out), BM_OK);
    bm_buf_release(&out);
    for (int i = 0; i < 300; i++) {
        bm_free(many[i]);
    }
}

static void test_ping_rounds(void **state)
{
    struct bm_ping p;
    struct bm_ping_server srv = {0};
    uint8_t out[BM_PING_SIZE], back[BM_PING_SIZE];
    size_t used;
    uint64_t rtt = 0;

    (void)state;
    memset(&p, 0, sizeof(p));
    bm_ping_start(&p, 1000, out);
    memcpy(back, out, sizeof(back));
    assert_int_equal(bm_ping_feed(&p, back, 10, &used, 1500, &rtt), 0);
    assert_int_equal(used, 10);
    assert_int_equal(bm_ping_feed(&p, back + 10, 22, &used, 2000, &rtt), 1);
    assert_int_equal(rtt, 1000);
    assert_int_equal(bm_ping_feed(&p, back, 1, &used, 2000, &rtt),
                     BM_ESTATE);
    bm_ping_start(&p, 0, out);
    back[0] = (uint8_t)(out[0] ^ 1);
    memcpy(back + 1, out + 1, sizeof(back) - 1);
    assert_int_equal(bm_ping_feed(&p, back, sizeof(back), &used, 1, &rtt),
                     BM_EPROTO);
    assert_int_equal(bm_ping_server_feed(&srv, 40), 1);
    assert_int_equal(bm_ping_server_feed(&srv, 24), 1);
    assert_int_equal(srv.pending, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_encode),
        cmocka_unit_test(test_vector_decode_orders),
        cmocka_unit_test(test_reader_merge_and_limits),
        cmocka_unit_test(test_send_cap),
        cmocka_unit_test(test_ping_rounds),
    };

    return BM_TEST_RUN(tests);
}
