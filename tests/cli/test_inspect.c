#include "bm_test.h"

#include <json-c/json.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blockv2/buf.h"
#include "blockv2/types.h"
#include "node/inspect.h"
#include "util/hex.h"
#include "validate/bm_vectors.h"

static char tmpdir[] = "/tmp/bm_inspect_XXXXXX";
static int file_seq;

/* Writes bytes to a fresh file in tmpdir; returns its path (static). */
static const char *write_file(const void *p, size_t n)
{
    static char path[4][256];
    char *out = path[file_seq % 4];
    FILE *f;

    snprintf(out, sizeof(path[0]), "%s/in%d", tmpdir, file_seq++);
    f = fopen(out, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return out;
}

static const char *write_hex_file(const char *hex, struct bm_buf *keep)
{
    struct bm_buf raw = {0};
    const char *path;

    assert_int_equal(bm_hex_decode(&raw, hex, strlen(hex)), BM_OK);
    path = write_file(raw.ptr, raw.len);
    if (keep != NULL) {
        *keep = raw;
    } else {
        bm_buf_release(&raw);
    }
    return path;
}

struct run {
    int status;       /* exit status, or -1 */
    struct bm_buf out; /* stdout */
};

/*
 * Runs `blockv2 inspect ARGS...` (NULL-terminated) with stdin from
 * stdin_path (or /dev/null), capturing stdout.
 */
static void run_inspect(struct run *r, const char *stdin_path, ...)
{
    const char *exe = getenv("BM_BLOCKV2_EXE");
    const char *argv[16];
    int argc = 0, pfd[2], ws;
    struct bm_dynbuf d;
    va_list ap;
    pid_t pid;

    assert_non_null(exe);
    argv[argc++] = exe;
    argv[argc++] = "inspect";
    va_start(ap, stdin_path);
    for (const char *a = va_arg(ap, const char *); a != NULL;
         a = va_arg(ap, const char *)) {
        assert_true(argc < 15);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;

    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int null = open("/dev/null", O_WRONLY);
        if (in < 0 || null < 0) {
            _exit(126);
        }
        dup2(in, 0);
        dup2(pfd[1], 1);
        dup2(null, 2);
        close(pfd[0]);
        close(pfd[1]);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    bm_dynbuf_init(&d, 64u << 20);
    for (;;) {
        char chunk[4096];
        ssize_t k = read(pfd[0], chunk, sizeof(chunk));
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            break;
        }
        assert_int_equal(bm_dynbuf_append(&d, chunk, (size_t)k), BM_OK);
    }
    close(pfd[0]);
    assert_int_equal(bm_dynbuf_append_byte(&d, 0), BM_OK);
    memset(&r->out, 0, sizeof(r->out));
    bm_dynbuf_detach(&d, &r->out);
    bm_dynbuf_release(&d);
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* Parses the output as one JSON object (fails the test otherwise). */
static struct json_object *parse(const struct run *r)
{
    struct json_tokener *tok = json_tokener_new();
    const char *s = (const char *)r->out.ptr;
    struct json_object *o;

    assert_non_null(tok);
    o = json_tokener_parse_ex(tok, s, (int)strlen(s));
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        fail_msg("not a JSON object: %s", s);
    }
    /* Only white space may follow the object. */
    for (size_t i = (size_t)json_tokener_get_parse_end(tok); s[i]; i++) {
        if (s[i] != '\n' && s[i] != ' ') {
            fail_msg("trailing output after the JSON object: %s", s + i);
        }
    }
    json_tokener_free(tok);
    return o;
}

static struct json_object *get(struct json_object *o, const char *path)
{
    char buf[128];
    char *save = NULL, *part;

    snprintf(buf, sizeof(buf), "%s", path);
    for (part = strtok_r(buf, ".", &save); part != NULL;
         part = strtok_r(NULL, ".", &save)) {
        struct json_object *next = NULL;
        if (!json_object_object_get_ex(o, part, &next)) {
            fail_msg("no field '%s' in %s", path,
                     json_object_to_json_string(o));
        }
        o = next;
    }
    return o;
}

static void expect_str(struct json_object *o, const char *path,
                       const char *want)
{
    struct json_object *v = get(o, path);
    assert_true(json_object_is_type(v, json_type_string));
    assert_string_equal(json_object_get_string(v), want);
}

static void expect_bool(struct json_object *o, const char *path, int want)
{
    struct json_object *v = get(o, path);
    if (want < 0) {
        assert_null(v);
        return;
    }
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_int_equal(json_object_get_boolean(v), want);
}

static void expect_u64(struct json_object *o, const char *path, uint64_t want)
{
    struct json_object *v = get(o, path);
    assert_true(json_object_is_type(v, json_type_int));
    assert_true(json_object_get_uint64(v) == want);
}

static void run_release(struct run *r)
{
    bm_buf_release(&r->out);
}

/* ---- tests ---- */

static void test_v10_signed_header(void **state)
{
    struct run r;
    struct json_object *o;
    const char *path = write_hex_file(VEC_V10_SIGNED_HEADER, NULL);
    (void)state;

    run_inspect(&r, NULL, "--type", "header", path, NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_str(o, "type", "header");
    expect_str(o, "hash", VEC_V8_HASH);
    expect_bool(o, "signature_valid", 1);
    expect_bool(o, "address_matches_pubkey", 1);
    expect_u64(o, "header.height", 2);
    expect_u64(o, "header.time", VEC_TIME);
    expect_str(o, "header.chain_id", "test-chain");
    expect_str(o, "header.data_hash", VEC_V5_COMMIT);
    expect_str(o, "header.proposer_address", VEC_V2_ADDR);
    expect_str(o, "header.legacy.consensus_hash",
               "0000000000000000000000000000000000000000000000000000000000000000");
    expect_str(o, "signature", VEC_V9_SIG);
    expect_str(o, "signer.address", VEC_V2_ADDR);
    expect_str(o, "signer.pub_key", VEC_V1_PUB);
    json_object_put(o);
    run_release(&r);
}

static void test_v17_signed_data(void **state)
{
    struct run r;
    struct json_object *o;
    const char *path = write_hex_file(VEC_V17_SIGNED_DATA, NULL);
    (void)state;

    run_inspect(&r, NULL, "--type=signed-data", path, NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_str(o, "type", "signed-data");
    expect_str(o, "hash", VEC_V15_HASH);
    expect_str(o, "da_commitment", VEC_V5_COMMIT);
    expect_bool(o, "signature_valid", 1);
    expect_bool(o, "address_matches_pubkey", 1);
    expect_u64(o, "data.metadata.height", 2);
    expect_u64(o, "data.metadata.time", VEC_TIME);
    expect_u64(o, "n_txs", 2);
    assert_int_equal(json_object_array_length(get(o, "data.txs")), 2);
    assert_string_equal(
        json_object_get_string(json_object_array_get_idx(get(o, "data.txs"),
                                                         1)),
        "747832");
    json_object_put(o);
    run_release(&r);
}

/* One flipped signature byte: still decodes, signature_valid false. */
static void test_flipped_signature(void **state)
{
    struct bm_buf raw = {0};
    struct run r;
    struct json_object *o;
    const char *path;
    (void)state;

    assert_int_equal(bm_hex_decode(&raw, VEC_V10_SIGNED_HEADER,
                                   strlen(VEC_V10_SIGNED_HEADER)),
                     BM_OK);
    raw.ptr[3 + 196 + 2 + 10] ^= 0x01; /* inside the signature */
    path = write_file(raw.ptr, raw.len);
    run_inspect(&r, NULL, "--type", "header", path, NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_bool(o, "signature_valid", 0);
    expect_str(o, "hash", VEC_V8_HASH);
    json_object_put(o);
    run_release(&r);

    bm_buf_release(&raw);
    assert_int_equal(bm_hex_decode(&raw, VEC_V17_SIGNED_DATA,
                                   strlen(VEC_V17_SIGNED_DATA)),
                     BM_OK);
    raw.ptr[2 + 70 + 2 + 63] ^= 0x80; /* last signature byte */
    path = write_file(raw.ptr, raw.len);
    run_inspect(&r, NULL, "--type", "signed-data", path, NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_bool(o, "signature_valid", 0);
    json_object_put(o);
    run_release(&r);
    bm_buf_release(&raw);
}

/* --hex with white space and newlines, from a file and from stdin. */
static void test_hex_input(void **state)
{
    const char *hex = VEC_V10_SIGNED_HEADER;
    size_t n = strlen(hex);
    char *text = bm_xmalloc(2 * n + 16);
    size_t k = 0;
    struct run r;
    struct json_object *o;
    const char *path;
    (void)state;

    text[k++] = ' ';
    for (size_t i = 0; i < n; i++) {
        text[k++] = hex[i];
        if (i % 64 == 63) {
            text[k++] = '\n';
        } else if (i % 8 == 7) {
            text[k++] = ' ';
        }
    }
    text[k++] = '\r';
    text[k++] = '\n';
    path = write_file(text, k);
    bm_free(text);

    run_inspect(&r, NULL, "--hex", path, NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_str(o, "type", "header");
    expect_str(o, "hash", VEC_V8_HASH);
    expect_bool(o, "signature_valid", 1);
    json_object_put(o);
    run_release(&r);

    run_inspect(&r, path, "--hex", "--type", "header", "-", NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_str(o, "hash", VEC_V8_HASH);
    json_object_put(o);
    run_release(&r);

    /* 0x prefix. */
    path = write_file("0x" VEC_V4_DATA "\n", strlen(VEC_V4_DATA) + 3);
    run_inspect(&r, NULL, "--hex", "--type", "data", path, NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_str(o, "da_commitment", VEC_V5_COMMIT);
    json_object_put(o);
    run_release(&r);
}

static void expect_error(struct run *r)
{
    struct json_object *o;

    assert_int_equal(r->status, 1);
    o = parse(r);
    assert_true(json_object_is_type(get(o, "error"), json_type_string));
    assert_true(strlen(json_object_get_string(get(o, "error"))) > 0);
    json_object_put(o);
    run_release(r);
}

static void test_garbage(void **state)
{
    static const char garbage[] = "this is not protobuf at all\n";
    static const uint8_t bad_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    struct run r;
    struct json_object *o;
    const char *path = write_file(garbage, strlen(garbage));
    (void)state;

    run_inspect(&r, NULL, path, NULL);
    expect_error(&r);
    run_inspect(&r, NULL, "--type", "header", path, NULL);
    expect_error(&r);
    run_inspect(&r, NULL, "--type", "state", path, NULL);
    expect_error(&r);
    path = write_file(bad_varint, sizeof(bad_varint));
    run_inspect(&r, NULL, "--type", "data", path, NULL);
    expect_error(&r);
    run_inspect(&r, NULL, path, NULL);
    expect_error(&r);

    /* A truncated SignedHeader names the type. */
    {
        struct bm_buf raw = {0};
        assert_int_equal(bm_hex_decode(&raw, VEC_V10_SIGNED_HEADER, 200),
                         BM_OK);
        path = write_file(raw.ptr, raw.len);
        bm_buf_release(&raw);
    }
    run_inspect(&r, NULL, "--type", "header", path, NULL);
    assert_int_equal(r.status, 1);
    o = parse(&r);
    assert_non_null(strstr(json_object_get_string(get(o, "error")),
                           "SignedHeader"));
    json_object_put(o);
    run_release(&r);

    /* Not hex. */
    path = write_file("0a0g", 4);
    run_inspect(&r, NULL, "--hex", path, NULL);
    expect_error(&r);
    path = write_file("0a0", 3);
    run_inspect(&r, NULL, "--hex", path, NULL);
    expect_error(&r);
    /* Missing file. */
    run_inspect(&r, NULL, "/nonexistent/blockv2-inspect", NULL);
    expect_error(&r);
}

static void expect_auto(const char *path, const char *type)
{
    struct run r;
    struct json_object *o;

    run_inspect(&r, NULL, path, NULL);
    if (r.status != 0) {
        fail_msg("auto on %s: status %d: %s", type, r.status,
                 (const char *)r.out.ptr);
    }
    o = parse(&r);
    expect_str(o, "type", type);
    json_object_put(o);
    run_release(&r);
}

static void test_auto(void **state)
{
    struct bm_state st = {0};
    struct bm_buf enc = {0}, v10 = {0};
    struct bm_da_header_envelope env = {0};
    struct bm_p2p_signed_header p2p = {0};
    struct bm_privkey k;
    uint8_t seed[32];
    struct run r;
    struct json_object *o;
    (void)state;

    expect_auto(write_hex_file(VEC_V10_SIGNED_HEADER, NULL), "header");
    expect_auto(write_hex_file(VEC_V17_SIGNED_DATA, NULL), "signed-data");
    expect_auto(write_hex_file(VEC_V4_DATA, NULL), "data");
    expect_auto(write_hex_file(VEC_V14_DATA, NULL), "data");

    /* A state, encoded by the codec. */
    st.version.block = 1;
    assert_int_equal(bm_str_set(&st.chain_id, "test-chain"), BM_OK);
    st.initial_height = 1;
    st.last_block_height = 41;
    st.last_block_time.seconds = 1700000000;
    st.last_block_time.nanos = 7;
    st.da_height = 12;
    assert_int_equal(bm_hex_decode(&st.app_hash, VEC_V8_HASH, 64), BM_OK);
    assert_int_equal(bm_hex_decode(&st.last_header_hash, VEC_V15_HASH, 64),
                     BM_OK);
    assert_int_equal(bm_state_encode(&st, &enc), BM_OK);
    expect_auto(write_file(enc.ptr, enc.len), "state");
    run_inspect(&r, NULL, "--type", "state", write_file(enc.ptr, enc.len),
                NULL);
    assert_int_equal(r.status, 0);
    o = parse(&r);
    expect_u64(o, "state.last_block_height", 41);
    expect_u64(o, "state.da_height", 12);
    expect_u64(o, "state.last_block_time.nanos", 7);
    expect_str(o, "state.app_hash", VEC_V8_HASH);
    expect_str(o, "state.next_proposer_address", "");
    expect_bool(o, "signature_valid", -1);
    json_object_put(o);
    run_release(&r);

    /* A DA envelope signed with the vector key, and a P2P header. */
    assert_int_equal(bm_crypto_init(), BM_OK);
    assert_int_equal(bm_hex_decode_fixed(seed, 32, VEC_SEED, 64), BM_OK);
    bm_privkey_from_seed(&k, seed);
    assert_int_equal(bm_hex_decode(&v10, VEC_V10_SIGNED_HEADER,
                                   strlen(VEC_V10_SIGNED_HEADER)),
                     BM_OK);
    assert_int_equal(bm_signed_header_decode(&env.sh, v10.ptr, v10.len),
                     BM_OK);
    assert_int_equal(bm_da_header_envelope_sign(&env, &k), BM_OK);
    assert_int_equal(bm_da_header_envelope_encode(&env, &enc), BM_OK);
    expect_auto(write_file(enc.ptr, enc.len), "envelope");
    run_inspect(&r, NULL, write_file(enc.ptr, enc.len), NULL);
    o = parse(&r);
    expect_bool(o, "envelope_signature_valid", 1);
    expect_bool(o, "signature_valid", 1);
    expect_str(o, "hash", VEC_V8_HASH);
    json_object_put(o);
    run_release(&r);
    env.envelope_signature.ptr[0] ^= 1;
    assert_int_equal(bm_da_header_envelope_encode(&env, &enc), BM_OK);
    run_inspect(&r, NULL, "--type", "envelope", write_file(enc.ptr, enc.len),
                NULL);
    o = parse(&r);
    expect_bool(o, "envelope_signature_valid", 0);
    json_object_put(o);
    run_release(&r);

    assert_int_equal(bm_signed_header_copy(&p2p.sh, &env.sh), BM_OK);
    p2p.has_da_height_hint = true;
    p2p.da_height_hint = 77;
    assert_int_equal(bm_p2p_signed_header_encode(&p2p, &enc), BM_OK);
    expect_auto(write_file(enc.ptr, enc.len), "p2p-header");
    run_inspect(&r, NULL, "--type", "p2p-header",
                write_file(enc.ptr, enc.len), NULL);
    o = parse(&r);
    expect_u64(o, "da_height_hint", 77);
    json_object_put(o);
    run_release(&r);

    bm_privkey_wipe(&k);
    bm_p2p_signed_header_release(&p2p);
    bm_da_header_envelope_release(&env);
    bm_buf_release(&v10);
    bm_buf_release(&enc);
    bm_state_release(&st);
}

static void test_usage(void **state)
{
    struct run r;
    (void)state;

    run_inspect(&r, NULL, "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr((const char *)r.out.ptr, "usage: blockv2 inspect"));
    run_release(&r);
    run_inspect(&r, NULL, NULL);
    assert_int_equal(r.status, 2);
    run_release(&r);
    run_inspect(&r, NULL, "--type", "bogus", "x", NULL);
    assert_int_equal(r.status, 2);
    run_release(&r);
    run_inspect(&r, NULL, "--type", NULL);
    assert_int_equal(r.status, 2);
    run_release(&r);
    run_inspect(&r, NULL, "--frobnicate", "x", NULL);
    assert_int_equal(r.status, 2);
    run_release(&r);
    run_inspect(&r, NULL, "a", "b", NULL);
    assert_int_equal(r.status, 2);
    run_release(&r);
}

/*
 * The library core under allocation failure: every run either succeeds
 * with the right type or reports BM_ENOMEM, and nothing leaks.
 */
static void oom_sweep(const char *hex, enum bm_inspect_type type,
                      const char *want_type)
{
    struct bm_buf raw = {0};
    bool succeeded = false;
    char want[64];

    assert_int_equal(bm_hex_decode(&raw, hex, strlen(hex)), BM_OK);
    snprintf(want, sizeof(want), "\"type\": \"%s\"", want_type);
    for (int64_t n = 1; n < 400 && !succeeded; n++) {
        int64_t live = bm_alloc_live_count();
        char *json = NULL;
        enum bm_err err;

        bm_alloc_fail_after(n);
        err = bm_inspect_bytes(raw.ptr, raw.len, type, &json);
        bm_alloc_fail_after(0);
        if (err == BM_OK) {
            assert_non_null(json);
            assert_non_null(strstr(json, want));
            succeeded = true;
        } else {
            if (err != BM_ENOMEM) {
                fail_msg("allocation %lld: %s: %s", (long long)n,
                         bm_err_name(err), json ? json : "(null)");
            }
        }
        bm_free(json);
        assert_int_equal(bm_alloc_live_count(), live);
    }
    assert_true(succeeded);
    bm_buf_release(&raw);
}

static void test_inspect_bytes_oom(void **state)
{
    (void)state;
    oom_sweep(VEC_V10_SIGNED_HEADER, BM_INSPECT_AUTO, "header");
    oom_sweep(VEC_V17_SIGNED_DATA, BM_INSPECT_AUTO, "signed-data");
    oom_sweep(VEC_V14_DATA, BM_INSPECT_AUTO, "data");
    oom_sweep(VEC_V10_SIGNED_HEADER, BM_INSPECT_ENVELOPE, "envelope");
}

static int cleanup_dir(void)
{
    for (int i = 0; i < file_seq; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/in%d", tmpdir, i);
        unlink(path);
    }
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v10_signed_header),
        cmocka_unit_test(test_v17_signed_data),
        cmocka_unit_test(test_flipped_signature),
        cmocka_unit_test(test_hex_input),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_auto),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_inspect_bytes_oom),
    };
    int rc;

    if (getenv("BM_BLOCKV2_EXE") == NULL || mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "need BM_BLOCKV2_EXE and a writable /tmp\n");
        return 1;
    }
    rc = BM_TEST_RUN(tests);
    if (cleanup_dir() != 0) {
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
    return rc;
}
