/* Hash set and recent-hash window used for tx de-duplication. */
#include "bm_test.h"

#include <string.h>

#include <sodium.h>

#include "util/txset.h"

static struct bm_hash hash_of(uint32_t i)
{
    struct bm_hash h;
    uint8_t b[4] = {(uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16),
                    (uint8_t)(i >> 24)};

    crypto_hash_sha256(h.b, b, sizeof(b));
    return h;
}

static void test_set(void **state)
{
    struct bm__txset s = {0};
    struct bm_hash zero = {{0}};
    struct bm_hash h;
    /* Hashes sharing their first 8 bytes collide on the same home slot. */
    struct bm_hash c1 = hash_of(1);
    struct bm_hash c2 = c1;

    (void)state;
    assert_false(bm__txset_has(&s, &c1));
    assert_false(bm__txset_del(&s, &c1));
    for (uint32_t i = 0; i < 20000; i++) {
        h = hash_of(i);
        assert_int_equal(bm__txset_add(&s, &h), BM_OK);
    }
    h = hash_of(7);
    assert_int_equal(bm__txset_add(&s, &h), BM_EEXIST);
    assert_int_equal(s.len, 20000);
    for (uint32_t i = 0; i < 20000; i += 2) {
        h = hash_of(i);
        assert_true(bm__txset_del(&s, &h));
    }
    for (uint32_t i = 0; i < 20000; i++) {
        h = hash_of(i);
        assert_int_equal(bm__txset_has(&s, &h), i % 2 == 1);
    }
    assert_int_equal(s.len, 10000);
    /* The all-zero hash is a member like any other. */
    assert_false(bm__txset_has(&s, &zero));
    assert_int_equal(bm__txset_add(&s, &zero), BM_OK);
    assert_int_equal(bm__txset_add(&s, &zero), BM_EEXIST);
    assert_true(bm__txset_has(&s, &zero));
    assert_true(bm__txset_del(&s, &zero));
    assert_false(bm__txset_has(&s, &zero));
    /* Colliding home slots, then deleting the first of the run. */
    c2.b[31] ^= 1;
    assert_int_equal(bm__txset_add(&s, &c2), BM_OK);
    assert_true(bm__txset_has(&s, &c1));
    assert_true(bm__txset_del(&s, &c1));
    assert_true(bm__txset_has(&s, &c2));
    bm__txset_clear(&s);
    assert_int_equal(s.len, 0);
    assert_false(bm__txset_has(&s, &c2));
    bm__txset_release(&s);
}

static void test_window(void **state)
{
    struct bm__txwin w;
    struct bm_hash h;

    (void)state;
    assert_int_equal(bm__txwin_init(&w, 0), BM_OK);
    h = hash_of(1);
    bm__txwin_add(&w, &h);
    assert_false(bm__txwin_has(&w, &h)); /* disabled */
    bm__txwin_release(&w);

    assert_int_equal(bm__txwin_init(&w, 3), BM_OK);
    for (uint32_t i = 0; i < 5; i++) {
        h = hash_of(i);
        bm__txwin_add(&w, &h);
    }
    h = hash_of(4);
    bm__txwin_add(&w, &h); /* no duplicate */
    assert_int_equal(w.len, 3);
    for (uint32_t i = 0; i < 5; i++) {
        h = hash_of(i);
        assert_int_equal(bm__txwin_has(&w, &h), i >= 2);
    }
    bm__txwin_release(&w);
    /* Long run with a larger window: exactly the last 1000 are members. */
    assert_int_equal(bm__txwin_init(&w, 1000), BM_OK);
    for (uint32_t i = 0; i < 20000; i++) {
        h = hash_of(i);
        bm__txwin_add(&w, &h);
    }
    for (uint32_t i = 0; i < 20000; i++) {
        h = hash_of(i);
        assert_int_equal(bm__txwin_has(&w, &h), i >= 19000);
    }
    bm__txwin_release(&w);
}

/* A window backed at once (the node's 200,000-hash "seen" window, 8 MiB
 * of table, populated where the kernel agrees) starts
 * empty and behaves as one faulted lazily; so does a disabled one. */
static void test_window_prefault(void **state)
{
    struct bm__txwin w;
    struct bm_hash h;

    (void)state;
    assert_int_equal(bm__txwin_init(&w, 0), BM_OK);
    bm__txwin_prefault(&w);
    bm__txwin_release(&w);

    assert_int_equal(bm__txwin_init(&w, 200000), BM_OK);
    bm__txwin_prefault(&w);
    for (uint32_t i = 0; i < 1000; i++) {
        h = hash_of(i);
        assert_false(bm__txwin_has(&w, &h));
    }
    for (uint32_t i = 0; i < 210000; i++) {
        h = hash_of(i);
        bm__txwin_add(&w, &h);
    }
    assert_int_equal(w.len, 200000);
    for (uint32_t i = 0; i < 210000; i += 7) {
        h = hash_of(i);
        assert_int_equal(bm__txwin_has(&w, &h), i >= 10000);
    }
    bm__txwin_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_window_prefault),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return BM_TEST_RUN(tests);
}
