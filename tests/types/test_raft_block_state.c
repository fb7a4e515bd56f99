/* RaftBlockState codec: ev-node's bytes, round trip, untrusted input. */
#include "bm_test.h"

#include <string.h>

#include "blockv2/types.h"

/* proto.Marshal of RaftBlockState{Height: 5, LastSubmittedDaHeaderHeight:
 * 3, LastSubmittedDaDataHeight: 4, Hash: aa bb, Timestamp: 1000, Header:
 * "h", Data: "d"}: fields ascending, varints, length-delimited bytes. */
static const uint8_t golden[] = {0x08, 0x05, 0x10, 0x03, 0x18, 0x04, 0x22,
                                 0x02, 0xaa, 0xbb, 0x28, 0xe8, 0x07, 0x32,
                                 0x01, 'h',  0x3a, 0x01, 'd'};

static void fill(struct bm_raft_block_state *s)
{
    static const uint8_t hash[] = {0xaa, 0xbb};

    s->height = 5;
    s->last_submitted_da_header_height = 3;
    s->last_submitted_da_data_height = 4;
    assert_int_equal(bm_buf_set(&s->hash, hash, sizeof(hash)), BM_OK);
    s->timestamp = 1000;
    assert_int_equal(bm_buf_set(&s->header, (const uint8_t *)"h", 1), BM_OK);
    assert_int_equal(bm_buf_set(&s->data, (const uint8_t *)"d", 1), BM_OK);
}

static void test_golden_bytes(void **state)
{
    struct bm_raft_block_state s = {0};
    struct bm_buf out = {0};

    (void)state;
    fill(&s);
    assert_int_equal(bm_raft_block_state_encode(&s, &out), BM_OK);
    assert_int_equal(out.len, sizeof(golden));
    assert_memory_equal(out.ptr, golden, sizeof(golden));
    bm_buf_release(&out);
    bm_raft_block_state_release(&s);
}

static void test_roundtrip(void **state)
{
    struct bm_raft_block_state s = {0}, back = {0};
    struct bm_buf out = {0}, again = {0};
    uint8_t big[4096];

    (void)state;
    fill(&s);
    s.height = UINT64_MAX;
    s.timestamp = 1700000000123456789ull;
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i * 7);
    }
    assert_int_equal(bm_buf_set(&s.data, big, sizeof(big)), BM_OK);
    assert_int_equal(bm_raft_block_state_encode(&s, &out), BM_OK);
    assert_int_equal(bm_raft_block_state_decode(&back, out.ptr, out.len),
                     BM_OK);
    assert_true(back.height == UINT64_MAX);
    assert_true(back.last_submitted_da_header_height == 3);
    assert_true(back.last_submitted_da_data_height == 4);
    assert_true(back.timestamp == 1700000000123456789ull);
    assert_true(bm_buf_eq(&back.hash, &s.hash));
    assert_true(bm_buf_eq(&back.header, &s.header));
    assert_true(bm_buf_eq(&back.data, &s.data));
    assert_int_equal(bm_raft_block_state_encode(&back, &again), BM_OK);
    assert_true(bm_buf_eq(&out, &again));
    bm_buf_release(&out);
    bm_buf_release(&again);
    bm_raft_block_state_release(&s);
    bm_raft_block_state_release(&back);
}

static void test_zero_is_empty(void **state)
{
    struct bm_raft_block_state s = {0}, back = {0};
    struct bm_buf out = {0};

    (void)state;
    assert_int_equal(bm_raft_block_state_encode(&s, &out), BM_OK);
    assert_int_equal(out.len, 0);
    assert_int_equal(bm_raft_block_state_decode(&back, NULL, 0), BM_OK);
    assert_true(back.height == 0 && back.header.len == 0);
    bm_buf_release(&out);
}

static void test_bad_input(void **state)
{
    struct bm_raft_block_state back = {0};
    uint8_t buf[sizeof(golden)];
    uint8_t hash_too_big[8 + 2048] = {0x22, 0x80, 0x10}; /* len 2048 */

    (void)state;
    /* every strict prefix that cuts a field is refused, never crashes */
    for (size_t n = 1; n < sizeof(golden); n++) {
        enum bm_err err = bm_raft_block_state_decode(&back, golden, n);
        if (err != BM_OK) {
            assert_true(back.height == 0 && back.data.len == 0);
        }
    }
    assert_int_equal(bm_raft_block_state_decode(&back, golden, 9),
                     BM_ETRUNCATED);
    /* height as a length-delimited field: wrong wire type */
    memcpy(buf, golden, sizeof(buf));
    buf[0] = 0x0a;
    assert_int_equal(bm_raft_block_state_decode(&back, buf, sizeof(buf)),
                     BM_EWIRETYPE);
    /* a hash above BM_MAX_HASH_FIELD */
    assert_int_equal(bm_raft_block_state_decode(&back, hash_too_big, 3 + 2048),
                     BM_ETOOBIG);
    /* an overlong varint */
    {
        uint8_t v[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        assert_int_equal(bm_raft_block_state_decode(&back, v, sizeof(v)),
                         BM_EVARINT);
    }
    bm_raft_block_state_release(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_zero_is_empty),
        cmocka_unit_test(test_bad_input),
    };
    return BM_TEST_RUN(tests);
}
