/*
 * signer.json and node_key.json: real files in a mkdtemp directory, plus
 * files produced by an independent implementation
 * (tests/keys/data/make_signer.py: Python argon2-cffi + cryptography).
 */
#include "bm_test.h"

#include "blockv2/keys.h"
#include "keys/aead.h"
#include "keys/keyio.h"
#include "util/errmsg.h"
#include "util/file.h"

#include <sodium.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *PASS = "correct horse battery staple";

struct tmpdir {
    char path[256];
};

static void tmpdir_make(struct tmpdir *t)
{
    const char *base = getenv("TMPDIR");
    snprintf(t->path, sizeof(t->path), "%s/bm_keys_XXXXXX",
             base != NULL ? base : "/tmp");
    assert_non_null(mkdtemp(t->path));
}

static void tmpdir_remove(struct tmpdir *t)
{
    DIR *d = opendir(t->path);
    struct dirent *e;
    char p[512];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", t->path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(t->path);
}

static void file_path(char *out, size_t n, const struct tmpdir *t,
                      const char *name)
{
    snprintf(out, n, "%s/%s", t->path, name);
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
    struct bm_buf b = {0};
    char *s;
    assert_int_equal(bm_file_read(path, 1 << 20, "test", &b, NULL),
                     BM_OK);
    s = bm_xmalloc(b.len + 1);
    memcpy(s, b.ptr, b.len);
    s[b.len] = '\0';
    bm_buf_release(&b);
    return s;
}

static void data_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/tests/keys/data/%s", BM_SOURCE_ROOT, name);
}

static void seed_range(uint8_t seed[32], uint8_t first)
{
    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)(first + i);
    }
}

static const uint8_t *P(const char *s)
{
    return (const uint8_t *)s;
}

/* ---- signer.json ---- */

static void test_signer_roundtrip(void **state)
{
    struct tmpdir t;
    char path[512];
    struct bm_privkey k1, k2;
    struct bm_errmsg em = {{0}};
    struct stat st;
    char *text;
    (void)state;

    tmpdir_make(&t);
    file_path(path, sizeof(path), &t, BM_SIGNER_FILE_NAME);
    assert_int_equal(bm_signer_file_create(path, NULL, P(PASS), strlen(PASS),
                                           false, &k1, &em),
                     BM_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    text = read_text(path);
    /* Go field order and names, compact. */
    assert_non_null(strstr(text, "{\"priv_key_encrypted\":\""));
    assert_non_null(strstr(text, "\",\"nonce\":\""));
    assert_non_null(strstr(text, "\",\"pub_key\":\""));
    assert_non_null(strstr(text, "\",\"salt\":\""));
    bm_free(text);

    assert_int_equal(bm_signer_file_load(path, P(PASS), strlen(PASS), &k2,
                                         &em),
                     BM_OK);
    assert_memory_equal(k1.b, k2.b, sizeof(k1.b));
    assert_int_equal(bm_keys_check(&k2), BM_OK);

    /* No overwrite: the existing file stays. */
    assert_int_equal(bm_signer_file_create(path, NULL, P("other"), 5, false,
                                           NULL, &em),
                     BM_EEXIST);
    assert_non_null(strstr(em.msg, "exists"));
    assert_int_equal(bm_signer_file_load(path, P(PASS), strlen(PASS), &k2,
                                         NULL),
                     BM_OK);
    assert_memory_equal(k1.b, k2.b, sizeof(k1.b));

    /* Import a given key with overwrite (keys import --force). */
    {
        struct bm_privkey given;
        uint8_t seed[32];
        seed_range(seed, 0x70);
        bm_keys_from_seed(&given, seed);
        assert_int_equal(bm_signer_file_create(path, &given, P("new pass"), 8,
                                               true, NULL, &em),
                         BM_OK);
        assert_int_equal(bm_signer_file_load(path, P("new pass"), 8, &k2,
                                             &em),
                         BM_OK);
        assert_memory_equal(given.b, k2.b, sizeof(given.b));
        sodium_memzero(&given, sizeof(given));
    }
    /* No .tmp left behind. */
    {
        char tmp[600];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        assert_int_not_equal(access(tmp, F_OK), 0);
    }
    tmpdir_remove(&t);
}

static void test_signer_wrong_passphrase(void **state)
{
    char path[512];
    struct bm_privkey k;
    struct bm_errmsg em = {{0}};
    static const uint8_t zero[BM_PRIVKEY_SIZE];
    (void)state;

    data_path(path, sizeof(path), "signer_go_compat.json");
    assert_int_equal(bm_signer_file_load(path, P("wrong"), 5, &k, &em),
                     BM_EPASSPHRASE);
    assert_non_null(strstr(em.msg, "wrong passphrase"));
    assert_non_null(strstr(em.msg, path));
    /* Key wiped on failure. */
    assert_memory_equal(k.b, zero, sizeof(zero));
    assert_int_equal(bm_signer_file_load(path, P(""), 0, &k, &em),
                     BM_EPASSPHRASE);
    /* Empty passphrase refused on create (before any work). */
    {
        struct tmpdir t;
        tmpdir_make(&t);
        file_path(path, sizeof(path), &t, "signer.json");
        assert_int_equal(bm_signer_file_create(path, NULL, P(""), 0, true,
                                               NULL, &em),
                         BM_EINVAL);
        assert_int_not_equal(access(path, F_OK), 0);
        tmpdir_remove(&t);
    }
}

/* Rewrites one field of a valid file with a new base64 value. */
static void tamper(const char *path, const char *field, bool flip_bit)
{
    struct bm_signer_file f = {0};
    struct bm_buf raw = {0}, json = {0};
    struct bm_buf *b;

    assert_int_equal(bm_file_read(path, 1 << 16, "t", &raw, NULL),
                     BM_OK);
    assert_int_equal(bm_signer_file_parse(&f, raw.ptr, raw.len, path, NULL),
                     BM_OK);
    b = strcmp(field, "priv_key_encrypted") == 0 ? &f.priv_key_encrypted
        : strcmp(field, "nonce") == 0            ? &f.nonce
        : strcmp(field, "salt") == 0             ? &f.salt
                                                 : &f.pub_key;
    if (flip_bit) {
        b->ptr[b->len / 2] ^= 0x01;
    }
    assert_int_equal(bm_signer_file_encode(&f, &json), BM_OK);
    write_text(path, (const char *)json.ptr, json.len);
    bm_buf_release(&json);
    bm_buf_release(&raw);
    bm_signer_file_release(&f);
}

static void test_signer_tampered(void **state)
{
    static const char *fields[] = {"priv_key_encrypted", "nonce", "salt",
                                   "pub_key"};
    struct tmpdir t;
    char path[512];
    struct bm_privkey k;
    char *orig;
    (void)state;

    tmpdir_make(&t);
    data_path(path, sizeof(path), "signer_go_compat.json");
    orig = read_text(path);
    file_path(path, sizeof(path), &t, "signer.json");
    for (size_t i = 0; i < 4; i++) {
        struct bm_errmsg em = {{0}};
        int err;
        write_text(path, orig, strlen(orig));
        tamper(path, fields[i], true);
        err = bm_signer_file_load(path, P(PASS), strlen(PASS), &k, &em);
        if (strcmp(fields[i], "pub_key") == 0) {
            /* Decrypts fine but does not match the stored public key. */
            assert_int_equal(err, BM_ECORRUPT);
            assert_non_null(strstr(em.msg, "pub_key does not match"));
        } else {
            /* GCM cannot tell a modified file from a wrong passphrase. */
            assert_int_equal(err, BM_EPASSPHRASE);
            assert_non_null(strstr(em.msg, "wrong passphrase"));
        }
    }
    bm_free(orig);
    tmpdir_remove(&t);
}

struct bad_case {
    const char *json;
    int err;
    const char *msg; /* substring */
};

static void test_signer_parse_errors(void **state)
{
    /* Valid field values (from the compat file) to build variants. */
    static const char CT[] =
        "\"YRaLQVdh7UD0TeuvHXv7JxX4eA9Ief84zNTlzbp8lNN1tznllIDOEI+QI6m5OO8d"
        "+1Po/GG3b3CCT4S+el444cdmNz1x8tjyQBX6lPtHdFc=\"";
    static const char NONCE[] = "\"wMHCw8TFxsfIycrL\"";
    static const char PUB[] =
        "\"ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=\"";
    char buf[1024];
    struct bm_signer_file f = {0};
    struct bm_errmsg em;
    const struct bad_case cases[] = {
        {"", BM_EPARSE, "empty"},
        {"not json", BM_EPARSE, "not valid JSON"},
        {"[1,2]", BM_EPARSE, "want a JSON object"},
        {"{\"nonce\":", BM_EPARSE, "not valid JSON"},
        {"{} trailing", BM_EPARSE, "not valid JSON"},
        {"{}", BM_ECORRUPT, "priv_key_encrypted: missing"},
        {"{\"priv_key_encrypted\":null}", BM_ECORRUPT,
         "priv_key_encrypted: missing"},
        {"{\"priv_key_encrypted\":5}", BM_ECORRUPT,
         "priv_key_encrypted: want a base64 string, got a number"},
        {"{\"priv_key_encrypted\":\"!!!!\"}", BM_ECORRUPT,
         "priv_key_encrypted: not valid base64"},
        {"{\"priv_key_encrypted\":\"AAAA\"}", BM_ECORRUPT,
         "priv_key_encrypted: 3 bytes"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&em, 0, sizeof(em));
        assert_int_equal(bm_signer_file_parse(&f, P(cases[i].json),
                                              strlen(cases[i].json), "s.json",
                                              &em),
                         cases[i].err);
        if (strstr(em.msg, cases[i].msg) == NULL) {
            fail_msg("case %zu: message '%s' lacks '%s'", i, em.msg,
                     cases[i].msg);
        }
        assert_non_null(strstr(em.msg, "s.json"));
        assert_null(f.priv_key_encrypted.ptr);
    }

    snprintf(buf, sizeof(buf), "{\"priv_key_encrypted\":%s,\"pub_key\":%s}",
             CT, PUB);
    assert_int_equal(bm_signer_file_parse(&f, P(buf), strlen(buf), NULL, &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "nonce: missing"));
    assert_non_null(strstr(em.msg, "<input>"));

    snprintf(buf, sizeof(buf), "{\"priv_key_encrypted\":%s,\"nonce\":%s}",
             CT, NONCE);
    assert_int_equal(bm_signer_file_parse(&f, P(buf), strlen(buf), NULL, &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "pub_key: missing"));

    snprintf(buf, sizeof(buf),
             "{\"priv_key_encrypted\":%s,\"nonce\":\"AAAAAAAA\","
             "\"pub_key\":%s}", CT, PUB);
    assert_int_equal(bm_signer_file_parse(&f, P(buf), strlen(buf), NULL, &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "nonce: 6 bytes, want 12"));

    snprintf(buf, sizeof(buf),
             "{\"priv_key_encrypted\":%s,\"nonce\":%s,\"pub_key\":\"AAAA\"}",
             CT, NONCE);
    assert_int_equal(bm_signer_file_parse(&f, P(buf), strlen(buf), NULL, &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "pub_key: 3 bytes, want 32"));

    snprintf(buf, sizeof(buf),
             "{\"priv_key_encrypted\":%s,\"nonce\":%s,\"pub_key\":%s,"
             "\"salt\":[1]}", CT, NONCE, PUB);
    assert_int_equal(bm_signer_file_parse(&f, P(buf), strlen(buf), NULL, &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "salt: want a base64 string, got an "
                               "array"));

    /* Unknown extra fields, including nested ones, are tolerated; an
     * empty salt means legacy. */
    snprintf(buf, sizeof(buf),
             "{\"x\":{\"y\":[1,2,{\"z\":-18446744073709551617}]},"
             "\"priv_key_encrypted\":%s,\"nonce\":%s,\"pub_key\":%s,"
             "\"salt\":\"\",\"extra\":true}", CT, NONCE, PUB);
    assert_int_equal(bm_signer_file_parse(&f, P(buf), strlen(buf), NULL, &em),
                     BM_OK);
    assert_int_equal(f.priv_key_encrypted.len, 80);
    assert_int_equal(f.nonce.len, 12);
    assert_int_equal(f.pub_key.len, 32);
    assert_int_equal(f.salt.len, 0);
    bm_signer_file_release(&f);
}

static void test_signer_huge_and_missing_file(void **state)
{
    struct tmpdir t;
    char path[512];
    struct bm_privkey k;
    struct bm_errmsg em = {{0}};
    char *big;
    size_t n = BM_KEY_FILE_MAX + 10;
    (void)state;

    tmpdir_make(&t);
    file_path(path, sizeof(path), &t, "signer.json");
    assert_int_equal(bm_signer_file_load(path, P(PASS), strlen(PASS), &k,
                                         &em),
                     BM_ENOTFOUND);
    assert_non_null(strstr(em.msg, path));

    big = bm_xmalloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    write_text(path, big, n);
    assert_int_equal(bm_signer_file_load(path, P(PASS), strlen(PASS), &k,
                                         &em),
                     BM_ETOOBIG);
    assert_non_null(strstr(em.msg, "limit"));
    /* Same through the bytes API. */
    assert_int_equal(bm_node_key_parse(&k, P(big), n, NULL, &em),
                     BM_ETOOBIG);
    bm_free(big);

    /* Non-JSON file. */
    write_text(path, "\x00\x01\x02garbage", 10);
    assert_int_equal(bm_signer_file_load(path, P(PASS), strlen(PASS), &k,
                                         &em),
                     BM_EPARSE);
    /* A directory is not a key file. */
    assert_int_equal(bm_signer_file_load(t.path, P(PASS), strlen(PASS), &k,
                                         &em),
                     BM_EINVAL);
    tmpdir_remove(&t);
}

static void test_signer_go_compat(void **state)
{
    char path[512];
    struct bm_privkey k, want;
    struct bm_errmsg em = {{0}};
    uint8_t seed[32];
    (void)state;

    /* Written by make_signer.py with Argon2id(t=3, m=32 MiB, p=4). */
    data_path(path, sizeof(path), "signer_go_compat.json");
    seed_range(seed, 0x01);
    bm_keys_from_seed(&want, seed);
    assert_int_equal(bm_signer_file_load(path, P(PASS), strlen(PASS), &k,
                                         &em),
                     BM_OK);
    assert_memory_equal(k.b, want.b, sizeof(k.b));
    assert_int_equal(bm_signer_file_load(path, P("correct horse"), 13, &k,
                                         &em),
                     BM_EPASSPHRASE);

    /* Our encoder reproduces the independent file byte for byte. */
    {
        struct bm_buf raw = {0}, out = {0};
        struct bm_signer_file f = {0};
        assert_int_equal(bm_file_read(path, 4096, "t", &raw, NULL),
                         BM_OK);
        assert_int_equal(bm_signer_file_parse(&f, raw.ptr, raw.len, path,
                                              NULL),
                         BM_OK);
        assert_int_equal(bm_signer_file_encode(&f, &out), BM_OK);
        assert_int_equal(out.len, raw.len);
        assert_memory_equal(out.ptr, raw.ptr, raw.len);
        bm_buf_release(&raw);
        bm_buf_release(&out);
        bm_signer_file_release(&f);
    }

    /* Legacy file without salt (ev-node's pre-Argon2 stretch). */
    data_path(path, sizeof(path), "signer_legacy.json");
    seed_range(seed, 0x21);
    bm_keys_from_seed(&want, seed);
    assert_int_equal(bm_signer_file_load(path, P("legacy-pass"), 11, &k,
                                         &em),
                     BM_OK);
    assert_memory_equal(k.b, want.b, sizeof(k.b));
    assert_int_equal(bm_signer_file_load(path, P("legacy-pasS"), 11, &k,
                                         &em),
                     BM_EPASSPHRASE);
    assert_int_equal(bm_signer_file_load(path, P(""), 0, &k, &em),
                     BM_EPASSPHRASE);
}

/* Both AES-GCM backends produce the same bytes and read each other. */
static void test_aead_backends(void **state)
{
    uint8_t key[32], nonce[12], pt[64], ct1[80], ct2[80], out[64];
    (void)state;

    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i * 7);
    }
    memset(nonce, 0x42, sizeof(nonce));
    for (int i = 0; i < 64; i++) {
        pt[i] = (uint8_t)i;
    }
    bm__aead_set_backend(BM__AEAD_OPENSSL);
    assert_int_equal(bm__aes256gcm_seal(key, nonce, pt, 64, ct1), BM_OK);
    if (sodium_init() >= 0 && crypto_aead_aes256gcm_is_available()) {
        bm__aead_set_backend(BM__AEAD_SODIUM);
        assert_int_equal(bm__aes256gcm_seal(key, nonce, pt, 64, ct2), BM_OK);
        assert_memory_equal(ct1, ct2, sizeof(ct1));
        assert_int_equal(bm__aes256gcm_open(key, nonce, ct1, 80, out), BM_OK);
        assert_memory_equal(out, pt, 64);
    }
    bm__aead_set_backend(BM__AEAD_OPENSSL);
    assert_int_equal(bm__aes256gcm_open(key, nonce, ct1, 80, out), BM_OK);
    assert_memory_equal(out, pt, 64);
    ct1[79] ^= 1;
    assert_int_equal(bm__aes256gcm_open(key, nonce, ct1, 80, out), BM_EAUTH);

    /* The compat file decrypts through OpenSSL too. */
    {
        char path[512];
        struct bm_privkey k;
        data_path(path, sizeof(path), "signer_go_compat.json");
        assert_int_equal(bm_signer_file_load(path, P(PASS), strlen(PASS), &k,
                                             NULL),
                         BM_OK);
        assert_int_equal(bm_keys_check(&k), BM_OK);
    }
    bm__aead_set_backend(BM__AEAD_AUTO);
}

/* ---- node_key.json and peer IDs ---- */

static void test_node_key_compat_and_peer_id(void **state)
{
    char path[512], want_id[128], id[BM_PEER_ID_STR_SIZE];
    struct bm_privkey k, want;
    struct bm_errmsg em = {{0}};
    struct bm_buf raw = {0}, out = {0};
    uint8_t seed[32];
    char *txt;
    (void)state;

    data_path(path, sizeof(path), "node_key_compat.json");
    seed_range(seed, 0x41);
    bm_keys_from_seed(&want, seed);
    assert_int_equal(bm_node_key_load(path, &k, &em), BM_OK);
    assert_memory_equal(k.b, want.b, sizeof(k.b));
    /* Encoding is byte-identical to Go's json.Marshal. */
    assert_int_equal(bm_file_read(path, 4096, "t", &raw, NULL), BM_OK);
    assert_int_equal(bm_node_key_encode(&k, &out), BM_OK);
    assert_int_equal(out.len, raw.len);
    assert_memory_equal(out.ptr, raw.ptr, raw.len);
    bm_buf_release(&raw);
    bm_buf_release(&out);

    data_path(path, sizeof(path), "peer_id.txt");
    txt = read_text(path);
    snprintf(want_id, sizeof(want_id), "%.*s", (int)strcspn(txt, "\n"), txt);
    bm_free(txt);
    bm_peer_id_string(k.b + 32, id);
    assert_string_equal(id, want_id);
    assert_int_equal(strncmp(id, "12D3KooW", 8), 0);
    assert_int_equal(strlen(id), 52);
    {
        uint8_t raw_id[BM_PEER_ID_SIZE];
        bm_peer_id_from_pubkey(k.b + 32, raw_id);
        assert_int_equal(raw_id[0], 0x00);
        assert_int_equal(raw_id[1], 36);
        assert_int_equal(raw_id[2], 0x08);
        assert_int_equal(raw_id[5], 0x20);
        assert_memory_equal(raw_id + 6, k.b + 32, 32);
    }
}

/* The Ed25519 example of the libp2p peer-id spec (peer-ids.md, "String
 * representation"): an identity multihash, so its public key is inside. */
static void test_peer_id_spec_example(void **state)
{
    static const uint8_t pub[32] = {
        0x2f, 0xfa, 0x35, 0xa9, 0x9d, 0x3a, 0x3c, 0xfb, 0xb1, 0x7b, 0xb7,
        0xc1, 0xdc, 0x55, 0x61, 0xb1, 0x8a, 0x8d, 0xcc, 0xa4, 0xdf, 0x38,
        0xdc, 0x61, 0x3e, 0xa8, 0x59, 0xc3, 0x7e, 0xb1, 0x33, 0x6b};
    char id[BM_PEER_ID_STR_SIZE];
    (void)state;

    bm_peer_id_string(pub, id);
    assert_string_equal(id,
                        "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
}

static void test_node_key_files(void **state)
{
    struct tmpdir t;
    char path[512];
    struct bm_privkey k1, k2;
    struct bm_errmsg em = {{0}};
    bool gen = false;
    struct stat st;
    (void)state;

    tmpdir_make(&t);
    file_path(path, sizeof(path), &t, BM_NODE_KEY_FILE_NAME);
    assert_int_equal(bm_node_key_load(path, &k1, &em), BM_ENOTFOUND);
    assert_int_equal(bm_node_key_load_or_generate(path, &k1, &gen, &em),
                     BM_OK);
    assert_true(gen);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(bm_node_key_load_or_generate(path, &k2, &gen, &em),
                     BM_OK);
    assert_false(gen);
    assert_memory_equal(k1.b, k2.b, sizeof(k1.b));
    assert_int_equal(bm_node_key_save(path, &k1, false, &em), BM_EEXIST);
    bm_keys_generate(&k2);
    assert_int_equal(bm_node_key_save(path, &k2, true, &em), BM_OK);
    assert_int_equal(bm_node_key_load(path, &k1, &em), BM_OK);
    assert_memory_equal(k1.b, k2.b, sizeof(k1.b));

    /* A corrupt file is an error, never silently replaced. */
    write_text(path, "{\"priv_key\":\"AAAA\"}", 19);
    assert_int_equal(bm_node_key_load_or_generate(path, &k1, &gen, &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "priv_key: 3 bytes"));
    assert_non_null(strstr(em.msg, path));
    tmpdir_remove(&t);
}

static void test_node_key_parse_errors(void **state)
{
    struct bm_privkey k, other;
    struct bm_buf good = {0};
    struct bm_errmsg em = {{0}};
    uint8_t seed[32];
    char buf[512];
    char priv[128], pub[64];
    (void)state;

    seed_range(seed, 0x41);
    bm_keys_from_seed(&k, seed);
    seed_range(seed, 0x42);
    bm_keys_from_seed(&other, seed);
    sodium_bin2base64(priv, sizeof(priv), k.b, 64,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pub, sizeof(pub), other.b + 32, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(buf, sizeof(buf), "{\"priv_key\":\"%s\",\"pub_key\":\"%s\"}",
             priv, pub);
    assert_int_equal(bm_node_key_parse(&k, P(buf), strlen(buf), "nk", &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "pub_key does not match"));

    snprintf(buf, sizeof(buf), "{\"priv_key\":\"%s\"}", priv);
    assert_int_equal(bm_node_key_parse(&k, P(buf), strlen(buf), "nk", &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "pub_key: missing"));

    /* seed || wrong public half */
    bm_keys_from_seed(&k, seed);
    memcpy(k.b + 32, other.b, 32);
    sodium_bin2base64(priv, sizeof(priv), k.b, 64,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(buf, sizeof(buf), "{\"priv_key\":\"%s\",\"pub_key\":\"%s\"}",
             priv, pub);
    assert_int_equal(bm_node_key_parse(&k, P(buf), strlen(buf), "nk", &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "public half"));

    assert_int_equal(bm_node_key_parse(&k, P("{\"pub_key\":1}"), 13, "nk",
                                       &em),
                     BM_ECORRUPT);
    assert_non_null(strstr(em.msg, "priv_key: missing"));
    bm_buf_release(&good);
}

/* Every bm_ allocation failure gives BM_ENOMEM, no leak, no crash. */
static void test_keys_oom(void **state)
{
    char path[512];
    struct bm_buf raw = {0}, nk = {0}, out = {0};
    struct bm_signer_file f = {0};
    struct bm_privkey k;
    int ok = 0;
    (void)state;

    data_path(path, sizeof(path), "signer_go_compat.json");
    assert_int_equal(bm_file_read(path, 4096, "t", &raw, NULL), BM_OK);
    data_path(path, sizeof(path), "node_key_compat.json");
    assert_int_equal(bm_file_read(path, 4096, "t", &nk, NULL), BM_OK);
    for (int64_t n = 1; n < 64; n++) {
        int e1, e2;
        bm_alloc_fail_after(n);
        e1 = bm_signer_file_parse(&f, raw.ptr, raw.len, NULL, NULL);
        if (e1 == BM_OK) {
            e1 = bm_signer_file_encode(&f, &out);
        }
        e2 = bm_node_key_parse(&k, nk.ptr, nk.len, NULL, NULL);
        bm_alloc_fail_after(0);
        assert_true(e1 == BM_OK || e1 == BM_ENOMEM);
        assert_true(e2 == BM_OK || e2 == BM_ENOMEM);
        ok += e1 == BM_OK && e2 == BM_OK;
        bm_buf_release(&out);
        bm_signer_file_release(&f);
    }
    assert_true(ok > 0);
    bm_buf_release(&raw);
    bm_buf_release(&nk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signer_roundtrip),
        cmocka_unit_test(test_signer_wrong_passphrase),
        cmocka_unit_test(test_signer_tampered),
        cmocka_unit_test(test_signer_parse_errors),
        cmocka_unit_test(test_signer_huge_and_missing_file),
        cmocka_unit_test(test_signer_go_compat),
        cmocka_unit_test(test_aead_backends),
        cmocka_unit_test(test_node_key_compat_and_peer_id),
        cmocka_unit_test(test_peer_id_spec_example),
        cmocka_unit_test(test_node_key_files),
        cmocka_unit_test(test_node_key_parse_errors),
        cmocka_unit_test(test_keys_oom),
    };
    return BM_TEST_RUN(tests);
}
