#include "bm_test.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "blockv2/err.h"
#include "util/alloc.h"
#include "blockv2/buf.h"
#include "util/errmsg.h"
#include "util/hex.h"
#include "util/sha256.h"

#include <sodium.h>

/* bm_sha256 (libcrypto at every size) equals libsodium's SHA-256 at
 * every length up to three blocks and more (each padding case), around
 * 1 KiB (libsodium's range until 2026-12-07) and beyond, whole or in
 * parts; and FIPS 180-2's known answers. */
static void test_sha256(void **state)
{
    static const size_t lens[] = {1023, 1024, 1025, 4095, 4096, 70000};
    uint8_t *buf = bm_xmalloc(70000);
    uint8_t a[32], b[32];
    (void)state;

    for (size_t i = 0; i < 70000; i++) {
        buf[i] = (uint8_t)(i * 131u + 7u);
    }
    for (size_t i = 0; i < 300 + sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = i < 300 ? i : lens[i - 300];
        const uint8_t *ptrs[3] = {buf, NULL, buf + n / 3};
        size_t parts[3] = {n / 3, 0, n - n / 3};

        crypto_hash_sha256(a, buf, n);
        bm_sha256(b, buf, n);
        assert_memory_equal(a, b, 32);
        memset(b, 0, sizeof(b));
        bm_sha256_parts(b, ptrs, parts, 3);
        assert_memory_equal(a, b, 32);
    }
    bm_free(buf);
}

static void test_sha256_known_answers(void **state)
{
    static const struct {
        const char *msg;
        const char *hex;
    } kat[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        uint8_t want[32], got[32];
        size_t len = strlen(kat[i].msg);

        for (size_t j = 0; j < 32; j++) {
            unsigned v = 0;

            assert_int_equal(sscanf(kat[i].hex + 2 * j, "%2x", &v), 1);
            want[j] = (uint8_t)v;
        }
        bm_sha256(got, len ? (const uint8_t *)kat[i].msg : NULL, len);
        assert_memory_equal(want, got, 32);
    }
}

/* Each thread reuses its own digest context (freed when it exits): four
 * threads hashing at once, call after call, get libsodium's digests. */
static void *sha256_thread(void *arg)
{
    uint8_t *buf = bm_xmalloc(5000);
    uint8_t a[32], b[32];
    unsigned seed = (unsigned)(uintptr_t)arg;
    bool ok = true;

    for (int round = 0; round < 200 && ok; round++) {
        size_t n = 1 + (size_t)((seed * 7919u + (unsigned)round * 31u) %
                                4900u);

        for (size_t i = 0; i < n; i++) {
            buf[i] = (uint8_t)(i * 131u + seed + (unsigned)round);
        }
        crypto_hash_sha256(a, buf, n);
        bm_sha256(b, buf, n);
        ok = memcmp(a, b, 32) == 0;
    }
    bm_free(buf);
    return ok ? arg : NULL;
}

static void test_sha256_threads(void **state)
{
    pthread_t th[4];
    (void)state;

    for (uintptr_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, sha256_thread,
                                        (void *)(i + 1)),
                         0);
    }
    for (uintptr_t i = 0; i < 4; i++) {
        void *ret = NULL;

        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_ptr_equal(ret, (void *)(i + 1));
    }
}

static void test_err_names(void **state)
{
    (void)state;
    assert_string_equal(bm_err_name(BM_OK), "BM_OK");
    assert_string_equal(bm_err_name(BM_ENOMEM), "BM_ENOMEM");
    assert_string_equal(bm_strerror(BM_ETOOBIG),
                        "size above the allowed maximum");
    assert_string_equal(bm_err_name(-9999), "BM_EUNKNOWN");
}

static void test_alloc_counts(void **state)
{
    (void)state;
    int64_t c0 = bm_alloc_live_count();
    void *p = bm_malloc(100);
    assert_non_null(p);
    assert_int_equal(bm_alloc_live_count(), c0 + 1);
    p = bm_realloc(p, 1000);
    assert_non_null(p);
    bm_free(p);
    assert_int_equal(bm_alloc_live_count(), c0);
    bm_free(NULL);
}

/* Blocks made on one thread and freed on another: the striped counts
 * still sum to the start once every thread is done. */
#define XFER_N 2000

static void *alloc_many(void *arg)
{
    void **ps = arg;

    for (size_t i = 0; i < XFER_N; i++) {
        ps[i] = bm_xmalloc(1 + i % 97);
    }
    return NULL;
}

static void *free_many(void *arg)
{
    void **ps = arg;

    for (size_t i = 0; i < XFER_N; i++) {
        bm_free(ps[i]);
    }
    return NULL;
}

static void test_alloc_counts_threads(void **state)
{
    (void)state;
    int64_t c0 = bm_alloc_live_count(), b0 = bm_alloc_live_bytes();
    void **ps[4];
    pthread_t th[4];

    for (int i = 0; i < 4; i++) {
        ps[i] = bm_xcalloc(XFER_N, sizeof(void *));
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, alloc_many, ps[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(bm_alloc_live_count(), c0 + 4 + 4 * XFER_N);
    for (int i = 0; i < 4; i++) { /* freed by another thread */
        assert_int_equal(
            pthread_create(&th[i], NULL, free_many, ps[(i + 1) % 4]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    for (int i = 0; i < 4; i++) {
        bm_free(ps[i]);
    }
    assert_int_equal(bm_alloc_live_count(), c0);
    assert_int_equal(bm_alloc_live_bytes(), b0);
}

static void test_alloc_fail_hook(void **state)
{
    (void)state;
    bm_alloc_fail_after(2);
    void *a = bm_malloc(8);
    void *b = bm_malloc(8);
    void *c = bm_malloc(8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    bm_free(a);
    bm_free(c);
    bm_alloc_fail_after(0);
}

static void test_hex(void **state)
{
    (void)state;
    struct bm_buf b = {0};
    char out[9];
    assert_int_equal(bm_hex_decode(&b, "00ffA1b2", 8), BM_OK);
    assert_int_equal(b.len, 4);
    bm_hex_encode(out, b.ptr, b.len);
    assert_string_equal(out, "00ffa1b2");
    bm_hex_encode_upper(out, b.ptr, b.len);
    assert_string_equal(out, "00FFA1B2");
    assert_int_equal(bm_hex_decode(&b, "abc", 3), BM_EPARSE);
    assert_int_equal(bm_hex_decode(&b, "zz", 2), BM_EPARSE);
    assert_null(b.ptr);
    bm_buf_release(&b);
}

static void test_dynbuf_cap(void **state)
{
    (void)state;
    struct bm_dynbuf d;
    struct bm_buf out = {0};
    bm_dynbuf_init(&d, 10);
    assert_int_equal(bm_dynbuf_append(&d, "12345", 5), BM_OK);
    assert_int_equal(bm_dynbuf_printf(&d, "%d", 6789), BM_OK);
    assert_int_equal(d.len, 9);
    assert_int_equal(bm_dynbuf_append(&d, "xx", 2), BM_ETOOBIG);
    assert_int_equal(d.len, 9);
    bm_dynbuf_detach(&d, &out);
    assert_memory_equal(out.ptr, "123456789", 9);
    bm_buf_release(&out);
    bm_dynbuf_release(&d);
}

static void test_le64(void **state)
{
    (void)state;
    uint8_t b[8];
    bm_put_le64(b, 5);
    assert_memory_equal(b, "\x05\0\0\0\0\0\0\0", 8);
    assert_int_equal(bm_get_le64(b), 5);
    bm_put_be64(b, 0x0102030405060708ULL);
    assert_int_equal(b[0], 1);
    assert_int_equal(bm_get_be64(b), 0x0102030405060708ULL);
}

static void test_errmsg(void **state)
{
    (void)state;
    struct bm_errmsg em = {{0}};
    assert_int_equal(bm_errf(&em, BM_EINVAL, "field %s: got %d", "x", 3),
                     BM_EINVAL);
    assert_string_equal(bm_errmsg_str(&em, BM_EINVAL), "field x: got 3");
    assert_string_equal(bm_errmsg_str(NULL, BM_EINVAL), "invalid argument");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_names),  cmocka_unit_test(test_alloc_counts),
        cmocka_unit_test(test_alloc_counts_threads),
        cmocka_unit_test(test_alloc_fail_hook), cmocka_unit_test(test_hex),
        cmocka_unit_test(test_dynbuf_cap), cmocka_unit_test(test_le64),
        cmocka_unit_test(test_errmsg), cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_sha256_threads),
        cmocka_unit_test(test_sha256_known_answers),
    };
    return BM_TEST_RUN(tests);
}
