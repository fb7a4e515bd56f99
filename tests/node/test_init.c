/*
 * `blockv2 init`, `keys show` and `config` through the real binary
 * (BM_BLOCKV2_EXE): both init modes, the files of a home, keys show JSON,
 * wrong passphrase, refusal to re-initialise, bad values naming the key,
 * unknown keys warned, precedence of flags over YAML over defaults, the
 * old --rollkit. prefix, help texts.
 */
#include "bm_test.h"

#include <json-c/json.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blockv2/genesis.h"
#include "blockv2/types.h"
#include "node/config.h"
#include "util/errmsg.h"
#include "util/hex.h"

static char tmpdir[] = "/tmp/bm_init_XXXXXX";

struct run {
    int status;
    char out[65536];
    char err[16384];
};

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;

    buf[0] = '\0';
    if (f == NULL) {
        return;
    }
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs blockv2 with args (NULL-terminated), stdin from /dev/null. */
static void run(struct run *r, const char *const *args)
{
    const char *exe = getenv("BM_BLOCKV2_EXE");
    const char *argv[40];
    char out_path[300], err_path[300];
    int argc = 0, ws;
    pid_t pid;

    assert_non_null(exe);
    argv[argc++] = exe;
    for (; *args != NULL; args++) {
        assert_true(argc < 39);
        argv[argc++] = *args;
    }
    argv[argc] = NULL;
    snprintf(out_path, sizeof(out_path), "%s/stdout", tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", tmpdir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || o < 0 || e < 0) {
            _exit(126);
        }
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    slurp(out_path, r->out, sizeof(r->out));
    slurp(err_path, r->err, sizeof(r->err));
}

#define RUN(r, ...)                                                            \
    do {                                                                       \
        const char *const a_[] = {__VA_ARGS__, NULL};                          \
        run((r), a_);                                                          \
    } while (0)

static void expect_status(const struct run *r, int want)
{
    if (r->status != want) {
        fail_msg("exit %d, want %d\nstdout: %s\nstderr: %s", r->status, want,
                 r->out, r->err);
    }
}

static void expect_err(const struct run *r, const char *needle)
{
    if (strstr(r->err, needle) == NULL) {
        fail_msg("stderr lacks '%s': %s", needle, r->err);
    }
}

static void expect_out(const struct run *r, const char *needle)
{
    if (strstr(r->out, needle) == NULL) {
        fail_msg("stdout lacks '%s': %s", needle, r->out);
    }
}

static const char *tpath(const char *name)
{
    static char buf[8][300];
    static int i;
    char *p = buf[i++ % 8];

    snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *json_str(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return json_object_get_string(v);
}

/* The aggregator home shared by several tests (made by the first). */
static char agg_home[300];
static char agg_pass[300];

static void test_init_aggregator(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    struct bm_genesis g = {0};
    struct bm_errmsg em;
    json_object *keys = NULL;
    char hex[2 * BM_HASH_SIZE + 1];
    char path[400];
    (void)state;

    snprintf(agg_home, sizeof(agg_home), "%s/agg", tmpdir);
    snprintf(agg_pass, sizeof(agg_pass), "%s/pass", tmpdir);
    write_text(agg_pass, "correct horse battery staple\n");
    RUN(r, "init", "--home", agg_home, "--chain-id", "test-chain",
        "--evnode.signer.passphrase_file", agg_pass,
        "--evnode.node.block_time", "250ms", "--rollkit.da.block_time=2s");
    expect_status(r, 0);
    expect_out(r, "test-chain");
    expect_out(r, "12D3KooW");

    snprintf(path, sizeof(path), "%s/config/signer.json", agg_home);
    assert_true(file_exists(path));
    snprintf(path, sizeof(path), "%s/config/node_key.json", agg_home);
    assert_true(file_exists(path));
    snprintf(path, sizeof(path), "%s/data", agg_home);
    assert_true(file_exists(path));
    snprintf(path, sizeof(path), "%s/config/genesis.json", agg_home);
    assert_int_equal(bm_genesis_load(&g, path, &em), BM_OK);
    assert_string_equal(g.chain_id, "test-chain");
    assert_true(g.initial_height == 1);
    assert_true(g.start_time_ns > 1700000000000000000ull);
    assert_int_equal(g.proposer_address.len, BM_HASH_SIZE);

    /* the YAML keeps the flags and is commented */
    RUN(r, "config", "show", "--home", agg_home);
    expect_status(r, 0);
    expect_out(r, "  aggregator: true\n");
    expect_out(r, "  block_time: 250ms\n");
    expect_out(r, "  block_time: 2s\n");
    expect_out(r, "  namespace: \"test-chain\"\n");
    expect_out(r, "  # interval between blocks");

    /* keys show: the proposer is this node's signer */
    RUN(r, "keys", "show", "--home", agg_home);
    expect_status(r, 0);
    keys = json_tokener_parse(r->out);
    assert_non_null(keys);
    bm_hex_encode(hex, g.proposer_address.ptr, g.proposer_address.len);
    assert_non_null(json_str(keys, "address"));
    assert_string_equal(json_str(keys, "address"), hex);
    assert_int_equal(strlen(json_str(keys, "pub_key")), 64);
    assert_non_null(json_str(keys, "node_id"));
    assert_int_equal(strncmp(json_str(keys, "node_id"), "12D3KooW", 8), 0);
    json_object_put(keys);
    bm_genesis_release(&g);
    bm_free(r);
}

static void test_wrong_passphrase(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    (void)state;

    write_text(tpath("wrong"), "not it\n");
    RUN(r, "keys", "show", "--home", agg_home,
        "--evnode.signer.passphrase_file", tpath("wrong"));
    expect_status(r, 1);
    expect_err(r, "passphrase");
    assert_null(strstr(r->out, "address"));
    /* no passphrase at all, stdin not a terminal */
    write_text(tpath("empty"), "");
    RUN(r, "keys", "show", "--home", agg_home,
        "--evnode.signer.passphrase_file", tpath("empty"));
    expect_status(r, 1);
    expect_err(r, "empty");
    RUN(r, "keys", "show", "--home", agg_home,
        "--evnode.signer.passphrase_file", tpath("absent"));
    expect_status(r, 1);
    expect_err(r, "absent");
    bm_free(r);
}

static void test_reinit_refused(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    (void)state;

    RUN(r, "init", "--home", agg_home, "--chain-id", "other",
        "--evnode.signer.passphrase_file", agg_pass);
    expect_status(r, 1);
    expect_err(r, "genesis.json");
    expect_err(r, "already");
    bm_free(r);
}

static void test_init_follower(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    struct bm_genesis a = {0}, b = {0};
    struct bm_errmsg em;
    json_object *keys = NULL;
    char home[300], src[400], dst[400];
    (void)state;

    snprintf(home, sizeof(home), "%s/follower", tmpdir);
    snprintf(src, sizeof(src), "%s/config/genesis.json", agg_home);
    RUN(r, "init", "--home", home, "--genesis", src);
    expect_status(r, 0);
    snprintf(dst, sizeof(dst), "%s/config/genesis.json", home);
    assert_int_equal(bm_genesis_load(&a, src, &em), BM_OK);
    assert_int_equal(bm_genesis_load(&b, dst, &em), BM_OK);
    assert_string_equal(a.chain_id, b.chain_id);
    assert_true(a.start_time_ns == b.start_time_ns);
    assert_true(bm_buf_eq(&a.proposer_address, &b.proposer_address));
    snprintf(dst, sizeof(dst), "%s/config/signer.json", home);
    assert_false(file_exists(dst));
    RUN(r, "config", "show", "--home", home);
    expect_status(r, 0);
    expect_out(r, "  aggregator: false\n");
    expect_out(r, "  namespace: \"test-chain\"\n");
    /* keys show without a signer: node_id only */
    RUN(r, "keys", "show", "--home", home);
    expect_status(r, 0);
    keys = json_tokener_parse(r->out);
    assert_non_null(keys);
    assert_null(json_str(keys, "address"));
    assert_non_null(json_str(keys, "node_id"));
    json_object_put(keys);
    /* an invalid genesis is refused */
    write_text(tpath("bad_genesis.json"), "{\"chain_id\": \"\"}");
    snprintf(home, sizeof(home), "%s/follower2", tmpdir);
    RUN(r, "init", "--home", home, "--genesis", tpath("bad_genesis.json"));
    expect_status(r, 1);
    expect_err(r, "bad_genesis.json");
    bm_genesis_release(&a);
    bm_genesis_release(&b);
    bm_free(r);
}

static void test_init_usage(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    (void)state;

    RUN(r, "init", "--home", tpath("u1"));
    expect_status(r, 2);
    expect_err(r, "--chain-id");
    RUN(r, "init", "--chain-id", "x");
    expect_status(r, 2);
    expect_err(r, "--home");
    /* no passphrase source: stdin is not a terminal */
    RUN(r, "init", "--home", tpath("u2"), "--chain-id", "x");
    expect_status(r, 1);
    expect_err(r, "--evnode.signer.passphrase_file");
    assert_false(file_exists(tpath("u2/config/genesis.json")));
    /* never a plain passphrase flag */
    RUN(r, "init", "--home", tpath("u3"), "--chain-id", "x",
        "--evnode.signer.passphrase", "hunter2");
    expect_status(r, 1);
    expect_err(r, "passphrase_file");
    write_text(tpath("nl_only"), "\n");
    RUN(r, "init", "--home", tpath("u4"), "--chain-id", "x",
        "--evnode.signer.passphrase_file", tpath("nl_only"));
    expect_status(r, 1);
    expect_err(r, "empty");
    /* a bad flag value names the key */
    RUN(r, "init", "--home", tpath("u5"), "--chain-id", "x",
        "--evnode.node.block_time", "soon");
    expect_status(r, 1);
    expect_err(r, "node.block_time");
    expect_err(r, "soon");
    bm_free(r);
}

static void test_config_precedence(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    char home[300], path[400];
    (void)state;

    snprintf(home, sizeof(home), "%s/prec", tmpdir);
    snprintf(path, sizeof(path), "%s/config", home);
    assert_int_equal(mkdir(home, 0755), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/config/evnode.yaml", home);
    write_text(path, "node:\n  block_time: 2s\n  lazy_mode: true\n"
                     "  bogus_key: 1\n"
                     "rpc:\n  address: 127.0.0.1:9999\n");
    /* YAML over defaults; unknown key warned, not an error */
    RUN(r, "config", "show", "--home", home);
    expect_status(r, 0);
    expect_out(r, "  block_time: 2s\n");
    expect_out(r, "  lazy_mode: true\n");
    expect_out(r, "  address: \"127.0.0.1:9999\"\n");
    expect_out(r, "  scrape_interval: 1s\n");
    expect_err(r, "node.bogus_key");
    /* flags over YAML, both prefixes and both forms */
    RUN(r, "config", "show", "--home", home, "--evnode.node.block_time",
        "3s", "--rollkit.node.lazy_mode=false",
        "--evnode.instrumentation.prometheus");
    expect_status(r, 0);
    expect_out(r, "  block_time: 3s\n");
    expect_out(r, "  lazy_mode: false\n");
    expect_out(r, "  prometheus: true\n");
    expect_out(r, "  address: \"127.0.0.1:9999\"\n");
    /* a bad YAML value names the key and the value */
    write_text(path, "node:\n  block_time: abc\n");
    RUN(r, "config", "show", "--home", home);
    expect_status(r, 1);
    expect_err(r, "config: node.block_time: invalid duration 'abc'");
    /* so does a bad flag, and an unknown flag is refused */
    RUN(r, "config", "show", "--evnode.da.max_submit_attempts", "lots");
    expect_status(r, 1);
    expect_err(r, "da.max_submit_attempts");
    expect_err(r, "lots");
    RUN(r, "config", "show", "--evnode.node.nope", "1");
    expect_status(r, 1);
    expect_err(r, "--evnode.node.nope");
    bm_free(r);
}

static void test_config_docs(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    size_t n = 0;
    const struct bm_node_config_key *t = bm_node_config_keys(&n);
    (void)state;

    RUN(r, "config", "docs");
    expect_status(r, 0);
    expect_out(r, "| Key | Flag | Type | Default | Description |");
    for (size_t i = 0; i < n; i++) {
        char row[200];
        snprintf(row, sizeof(row), "| `%s` | `--evnode.%s` |", t[i].key,
                 t[i].key);
        expect_out(r, row);
    }
    /* docs/OPERATIONS.md carries the same table, regenerated */
    {
        static char doc[262144];
        const char *root = getenv("BM_SOURCE_ROOT");
        const char *b, *e;
        char path[512];
        assert_non_null(root);
        snprintf(path, sizeof(path), "%s/docs/OPERATIONS.md", root);
        slurp(path, doc, sizeof(doc));
        b = strstr(doc, "<!-- BEGIN blockv2 config docs -->\n");
        e = strstr(doc, "<!-- END blockv2 config docs -->");
        assert_non_null(b);
        assert_non_null(e);
        b += strlen("<!-- BEGIN blockv2 config docs -->\n");
        if ((size_t)(e - b) != strlen(r->out) ||
            memcmp(b, r->out, strlen(r->out)) != 0) {
            fail_msg("docs/OPERATIONS.md: the configuration table differs "
                     "from `blockv2 config docs`: regenerate it");
        }
    }
    bm_free(r);
}

/* `start` with ev-node's EVM flags on a home made by init (whose
 * evnode.yaml lists every evm.* key at its default): the flags select the
 * EVM executor, and a missing secret or an unreachable client stops the
 * start with a message naming the cause. */
static void test_start_evm_flags(void **state)
{
    struct run *r = bm_xcalloc(1, sizeof(*r));
    char home[300], jwt[300];
    (void)state;

    snprintf(home, sizeof(home), "%s/follower", tmpdir);
    snprintf(jwt, sizeof(jwt), "%s/jwt.hex", tmpdir);
    RUN(r, "start", "--home", home, "--evm.engine-url",
        "http://127.0.0.1:1");
    expect_status(r, 1);
    expect_err(r, "evm.jwt_secret_file");
    write_text(jwt, "not hex\n");
    RUN(r, "start", "--home", home, "--evm.jwt-secret-file", jwt);
    expect_status(r, 1);
    expect_err(r, jwt);
    expect_err(r, "hex digits");
    write_text(jwt, "0x000102030405060708090a0b0c0d0e0f"
                    "101112131415161718191a1b1c1d1e1f\n");
    /* P2P on a kernel-chosen port: the default 7676 may be taken by
     * another test running at the same time. */
    RUN(r, "start", "--home", home, "--evm.jwt-secret-file", jwt,
        "--evm.engine-url=http://127.0.0.1:1", "--evm.eth-url",
        "http://127.0.0.1:1", "--evnode.p2p.listen_address",
        "/ip4/127.0.0.1/tcp/0");
    expect_status(r, 1);
    expect_err(r, "cannot reach the execution client");
    bm_free(r);
}

static void test_help(void **state)
{
    static const char *const cmds[] = {"init", "keys", "config"};
    struct run *r = bm_xcalloc(1, sizeof(*r));
    (void)state;

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        RUN(r, "help", cmds[i]);
        expect_status(r, 0);
        expect_out(r, "usage: blockv2 ");
        expect_out(r, cmds[i]);
        RUN(r, cmds[i], "--help");
        expect_status(r, 0);
        expect_out(r, "usage: blockv2 ");
    }
    RUN(r, "help");
    expect_status(r, 0);
    expect_out(r, "init");
    expect_out(r, "keys");
    expect_out(r, "config");
    bm_free(r);
}

static void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
}

int main(void)
{
    /* order matters: the first test makes the aggregator home */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_aggregator),
        cmocka_unit_test(test_wrong_passphrase),
        cmocka_unit_test(test_reinit_refused),
        cmocka_unit_test(test_init_follower),
        cmocka_unit_test(test_init_usage),
        cmocka_unit_test(test_config_precedence),
        cmocka_unit_test(test_config_docs),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_start_evm_flags),
    };

    if (mkdtemp(tmpdir) == NULL) {
        return 1;
    }
    atexit(cleanup);
    return BM_TEST_RUN(tests);
}
