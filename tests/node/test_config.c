#include "bm_test.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockv2/manager.h"
#include "exec/evm/evm.h"
#include "exec/kv/kv.h"
#include "node/config.h"
#include "node/duration.h"
#include "node/passphrase.h"
#include "util/errmsg.h"
#include "util/log.h"

/* ---- log capture (unknown-key warnings) ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192];

static void capture(enum bm_log_level level, const char *module,
                    const char *msg, void *arg)
{
    size_t n;
    (void)arg;
    pthread_mutex_lock(&log_mu);
    n = strlen(log_text);
    snprintf(log_text + n, sizeof(log_text) - n, "%d %s: %s\n", (int)level,
             module, msg);
    pthread_mutex_unlock(&log_mu);
}

static void log_start(void)
{
    log_text[0] = '\0';
    bm_log_set_sink(capture, NULL);
}

static void log_stop(void)
{
    bm_log_set_sink(NULL, NULL);
}

static void cfg_init(struct bm_node_config *c)
{
    memset(c, 0, sizeof(*c));
    bm_node_config_defaults(c);
}

static enum bm_err parse(struct bm_node_config *c, const char *yaml,
                         size_t *unknown, struct bm_errmsg *em)
{
    return bm_node_config_parse_yaml(c, (const uint8_t *)yaml, strlen(yaml),
                                     "t.yaml", unknown, em);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    struct bm_node_config c;
    (void)state;

    cfg_init(&c);
    assert_false(c.aggregator);
    assert_false(c.light);
    assert_true(c.block_time_ns == 1000000000ull);
    assert_true(c.lazy_block_interval_ns == 60000000000ull);
    assert_true(c.scrape_interval_ns == 1000000000ull);
    assert_true(c.readiness_window_seconds == 15);
    assert_true(c.readiness_max_blocks_behind == 15);
    assert_string_equal(c.da_address, "http://127.0.0.1:7980");
    assert_true(c.da_block_time_ns == 6000000000ull);
    assert_true(c.da_max_submit_attempts == 30);
    assert_true(c.da_request_timeout_ns == 60000000000ull);
    assert_true(c.da_gas_price == -1.0);
    assert_string_equal(c.p2p_listen_address, "/ip4/0.0.0.0/tcp/7676");
    assert_true(c.p2p_peers.n == 0);
    assert_string_equal(c.rpc_address, "127.0.0.1:7331");
    assert_false(c.prometheus);
    assert_string_equal(c.prometheus_listen_addr, ":26660");
    assert_true(c.max_open_connections == 3);
    assert_string_equal(c.instrumentation_namespace, "evnode");
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.log_format, "text");
    assert_false(c.log_trace);
    assert_string_equal(c.signer_type, "file");
    assert_string_equal(c.signer_path, "config");
    assert_string_equal(c.signer_passphrase_file, "");
    assert_string_equal(c.db_path, "data");
    /* defaults twice: the first contents are released */
    bm_node_config_defaults(&c);
    bm_node_config_release(&c);
    bm_node_config_release(&c);
    bm_node_config_release(NULL);
}

/* Every key the issue lists is in the table. */
static void test_table_keys(void **state)
{
    static const char *const want[] = {
        "node.aggregator", "node.light", "node.block_time",
        "node.lazy_mode", "node.lazy_block_interval",
        "node.max_pending_headers_and_data", "node.scrape_interval",
        "node.readiness_window_seconds", "node.readiness_max_blocks_behind",
        "da.address", "da.auth_token", "da.namespace", "da.data_namespace",
        "da.block_time", "da.start_height", "da.max_submit_attempts",
        "da.request_timeout", "da.submit_options", "da.gas_price",
        "da.max_blob_size", "da.mempool_ttl", "p2p.listen_address",
        "p2p.peers", "p2p.blocked_peers", "p2p.allowed_peers",
        "rpc.address", "instrumentation.prometheus",
        "instrumentation.prometheus_listen_addr",
        "instrumentation.max_open_connections", "instrumentation.namespace",
        "log.level", "log.format", "log.trace", "signer.signer_type",
        "signer.signer_path", "signer.passphrase_file", "db_path",
    };
    size_t n = 0;
    const struct bm_node_config_key *t = bm_node_config_keys(&n);
    (void)state;

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (bm_node_config_find(want[i]) == NULL) {
            fail_msg("key %s missing from the table", want[i]);
        }
    }
    /* unique keys, non-empty descriptions */
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(t[i].desc) > 0);
        for (size_t j = i + 1; j < n; j++) {
            assert_string_not_equal(t[i].key, t[j].key);
        }
    }
    assert_null(bm_node_config_find("node.nope"));
    /* Gone with current ev-node (no retry multiplier any more). */
    assert_null(bm_node_config_find("da.gas_multiplier"));
}

/* ---- durations ---- */

static void test_durations(void **state)
{
    static const struct {
        const char *s;
        uint64_t ns;
    } ok[] = {
        {"0", 0},
        {"0s", 0},
        {"1s", 1000000000ull},
        {"+5s", 5000000000ull},
        {"1m30s", 90000000000ull},
        {"250ms", 250000000ull},
        {"1h", 3600000000000ull},
        {"1.5s", 1500000000ull},
        {".5s", 500000000ull},
        {"1.s", 1000000000ull},
        {"1h2m3.5s", 3723500000000ull},
        {"1us", 1000ull},
        {"1\xc2\xb5s", 1000ull},
        {"1\xce\xbcs", 1000ull},
        {"7ns", 7ull},
        {"1.0000000001s", 1000000000ull},
        {"2562047h47m16.854775807s", 9223372036854775807ull},
        {"9223372036854775807ns", 9223372036854775807ull},
    };
    static const char *const bad[] = {
        "", "abc", "1", "-1s", "-0", "1x", "s", ".s", "1.5", "1s2", " 1s",
        "1s ", "1 s", "--1s", "1e3s", "1S", "1sec",
    };
    static const char *const overflow[] = {
        "2562048h", "9223372036854775808ns", "2562047h47m16.854775808s",
        "99999999999999999999s", "106751d",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ns = 1;
        if (bm_duration_parse(ok[i].s, &ns) != BM_OK || ns != ok[i].ns) {
            fail_msg("duration '%s': got %llu", ok[i].s,
                     (unsigned long long)ns);
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ns = 0;
        if (bm_duration_parse(bad[i], &ns) == BM_OK) {
            fail_msg("duration '%s' accepted", bad[i]);
        }
    }
    for (size_t i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++) {
        uint64_t ns = 0;
        enum bm_err e = bm_duration_parse(overflow[i], &ns);
        if (e == BM_OK) {
            fail_msg("duration '%s' accepted", overflow[i]);
        }
    }
    assert_int_equal(bm_duration_parse("2562048h", &(uint64_t){0}),
                     BM_EOVERFLOW);
}

static void test_duration_format(void **state)
{
    static const struct {
        uint64_t ns;
        const char *s;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {1000, "1\xc2\xb5s"},
        {1500, "1.5\xc2\xb5s"},
        {250000000ull, "250ms"},
        {1000000000ull, "1s"},
        {1500000000ull, "1.5s"},
        {90000000000ull, "1m30s"},
        {3600000000000ull, "1h0m0s"},
        {3723500000000ull, "1h2m3.5s"},
        {9223372036854775807ull, "2562047h47m16.854775807s"},
    };
    char out[BM_DURATION_STR_SIZE];
    uint64_t x = 88172645463325252ull;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bm_duration_format(cases[i].ns, out);
        assert_string_equal(out, cases[i].s);
    }
    /* format then parse is the identity */
    for (int i = 0; i < 2000; i++) {
        uint64_t ns = 0, back = 0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ns = (x & 0x7fffffffffffffffull) >> (unsigned)(i % 60);
        bm_duration_format(ns, out);
        assert_int_equal(bm_duration_parse(out, &back), BM_OK);
        assert_true(back == ns);
    }
}

/* ---- values ---- */

static void expect_refused(const char *key, const char *text,
                           const char *in_msg)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    const struct bm_node_config_key *k = bm_node_config_find(key);

    assert_non_null(k);
    cfg_init(&c);
    assert_int_equal(bm_node_config_set(&c, k, text, &em), BM_ECONFIG);
    if (strstr(em.msg, key) == NULL || strstr(em.msg, in_msg) == NULL) {
        fail_msg("message for %s='%s' lacks '%s': %s", key, text, in_msg,
                 em.msg);
    }
    bm_node_config_release(&c);
}

static void test_values(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    (void)state;

    expect_refused("node.block_time", "abc",
                   "config: node.block_time: invalid duration 'abc'");
    expect_refused("node.block_time", "-1s", "negative");
    expect_refused("node.block_time", "0s", "above 0");
    expect_refused("node.block_time", "3000000h", "out of range");
    expect_refused("node.aggregator", "maybe", "'maybe'");
    expect_refused("node.aggregator", "yes", "invalid bool");
    expect_refused("da.start_height", "-1", "invalid uint '-1'");
    expect_refused("da.start_height", "12a", "'12a'");
    expect_refused("da.start_height", "18446744073709551616", "uint");
    expect_refused("da.start_height", "", "''");
    expect_refused("da.max_submit_attempts", "4294967296", "at most");
    expect_refused("da.max_submit_attempts", "0", "above 0");
    expect_refused("da.gas_price", "abc", "invalid float");
    expect_refused("da.gas_price", "nan", "float");
    expect_refused("da.gas_price", "1e999", "float");
    expect_refused("log.format", "xml", "text|json");
    expect_refused("log.level", "verbose", "debug|info|warn|error");
    expect_refused("signer.signer_type", "kms", "'kms'");
    expect_refused("da.address", "\xff\xfe", "UTF-8");

    cfg_init(&c);
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                "node.aggregator"),
                                        "T", &em),
                     BM_OK);
    assert_true(c.aggregator);
    assert_int_equal(bm_node_config_set(
                         &c, bm_node_config_find("da.batch_size_threshold"),
                         "0.25", &em),
                     BM_OK);
    assert_true(c.da_batch_size_threshold == 0.25);
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find("p2p.peers"),
                                        " a , ,b,c ,", &em),
                     BM_OK);
    assert_int_equal(c.p2p_peers.n, 3);
    assert_string_equal(c.p2p_peers.items[0], "a");
    assert_string_equal(c.p2p_peers.items[1], "b");
    assert_string_equal(c.p2p_peers.items[2], "c");
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find("p2p.peers"),
                                        "", &em),
                     BM_OK);
    assert_int_equal(c.p2p_peers.n, 0);
    bm_node_config_release(&c);
}

/* ---- YAML ---- */

static void test_yaml_sections(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    size_t unknown = 99;
    (void)state;

    cfg_init(&c);
    assert_int_equal(parse(&c,
                           "# comment\n"
                           "db_path: /var/lib/x\n"
                           "node:\n"
                           "  aggregator: true\n"
                           "  block_time: 250ms\n"
                           "da:\n"
                           "  address: \"http://da:26658\"\n"
                           "  namespace: chain-a\n"
                           "  gas_price: 0.5\n"
                           "p2p:\n"
                           "  peers: \"x,y\"\n"
                           "instrumentation:\n"
                           "  prometheus: true\n"
                           "log:\n"
                           "  format: json\n",
                           &unknown, &em),
                     BM_OK);
    assert_int_equal(unknown, 0);
    assert_string_equal(c.db_path, "/var/lib/x");
    assert_true(c.aggregator);
    assert_true(c.block_time_ns == 250000000ull);
    assert_string_equal(c.da_address, "http://da:26658");
    assert_string_equal(c.da_namespace, "chain-a");
    assert_true(c.da_gas_price == 0.5);
    assert_int_equal(c.p2p_peers.n, 2);
    assert_true(c.prometheus);
    assert_string_equal(c.log_format, "json");
    /* untouched keys keep their defaults */
    assert_string_equal(c.rpc_address, "127.0.0.1:7331");
    assert_true(c.da_block_time_ns == 6000000000ull);
    bm_node_config_release(&c);

    /* empty and comment-only files are fine */
    cfg_init(&c);
    assert_int_equal(parse(&c, "", NULL, &em), BM_OK);
    assert_int_equal(parse(&c, "# nothing\n", NULL, &em), BM_OK);
    assert_true(c.block_time_ns == 1000000000ull);
    bm_node_config_release(&c);
}

static void test_yaml_unknown_keys_warned(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    size_t unknown = 0;
    (void)state;

    cfg_init(&c);
    log_start();
    assert_int_equal(parse(&c,
                           "chain_id: old\n"
                           "node:\n"
                           "  bogus: 1\n"
                           "  block_time: 2s\n"
                           "  nested_bogus: {a: [1, 2]}\n"
                           "extra:\n"
                           "  deeper: 1\n",
                           &unknown, &em),
                     BM_OK);
    log_stop();
    assert_int_equal(unknown, 4);
    assert_true(c.block_time_ns == 2000000000ull);
    if (strstr(log_text, "'node.bogus'") == NULL ||
        strstr(log_text, "'chain_id'") == NULL ||
        strstr(log_text, "'node.nested_bogus'") == NULL ||
        strstr(log_text, "'extra'") == NULL ||
        strstr(log_text, "t.yaml") == NULL) {
        fail_msg("warnings do not name the keys: %s", log_text);
    }
    assert_non_null(strstr(log_text, "4 config:")); /* warn level */
    bm_node_config_release(&c);
}

static void expect_yaml_error(const char *yaml, enum bm_err want,
                              const char *in_msg)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    enum bm_err err;

    cfg_init(&c);
    log_start();
    err = parse(&c, yaml, NULL, &em);
    log_stop();
    if (err != want || strstr(em.msg, in_msg) == NULL) {
        fail_msg("yaml <<%s>>: got %s '%s', want %s with '%s'", yaml,
                 bm_err_name(err), em.msg, bm_err_name(want), in_msg);
    }
    bm_node_config_release(&c);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    expect_yaml_error("node:\n  block_time: abc\n", BM_ECONFIG,
                      "config: node.block_time: invalid duration 'abc'");
    expect_yaml_error("node:\n  aggregator: maybe\n", BM_ECONFIG,
                      "node.aggregator");
    expect_yaml_error("da:\n  start_height: -5\n", BM_ECONFIG,
                      "da.start_height: invalid uint '-5'");
    expect_yaml_error("node:\n  block_time: [1s]\n", BM_EPARSE,
                      "node.block_time");
    expect_yaml_error("node: 5\n", BM_EPARSE, "node");
    expect_yaml_error("- a\n- b\n", BM_EPARSE, "t.yaml");
    expect_yaml_error("node:\n  block_time: 1s\n  block_time: 2s\n",
                      BM_EPARSE, "block_time");
    expect_yaml_error("node:\n  block_time: &a 1s\n  scrape_interval: *a\n",
                      BM_EPARSE, "alias");
    expect_yaml_error("node: {block_time: \"1s\"\n", BM_EPARSE, "t.yaml");
    expect_yaml_error("node:\n\tblock_time: 1s\n", BM_EPARSE, "t.yaml");
}

static void test_yaml_too_big(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    size_t n = BM_NODE_CONFIG_YAML_MAX + 1;
    uint8_t *big = bm_xmalloc(n);
    (void)state;

    memset(big, '#', n);
    big[n - 1] = '\n';
    cfg_init(&c);
    assert_int_equal(bm_node_config_parse_yaml(&c, big, n, "big.yaml", NULL,
                                               &em),
                     BM_ETOOBIG);
    assert_non_null(strstr(em.msg, "big.yaml"));
    /* exactly the limit is fine (a comment) */
    assert_int_equal(bm_node_config_parse_yaml(&c, big, n - 1, "big.yaml",
                                               NULL, &em),
                     BM_OK);
    bm_free(big);
    bm_node_config_release(&c);
}

/* ---- files, flags, precedence ---- */

static char tmpdir[] = "/tmp/bm_config_XXXXXX";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_load_yaml_file(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    char path[256];
    (void)state;

    cfg_init(&c);
    snprintf(path, sizeof(path), "%s/absent.yaml", tmpdir);
    assert_int_equal(bm_node_config_load_yaml(&c, path, &em), BM_OK);
    assert_true(c.block_time_ns == 1000000000ull);
    snprintf(path, sizeof(path), "%s/one.yaml", tmpdir);
    write_text(path, "node:\n  lazy_mode: true\n");
    assert_int_equal(bm_node_config_load_yaml(&c, path, &em), BM_OK);
    assert_true(c.lazy_mode);
    write_text(path, "node:\n  lazy_mode: sometimes\n");
    assert_int_equal(bm_node_config_load_yaml(&c, path, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "node.lazy_mode"));
    bm_node_config_release(&c);
}

static void test_flags(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    char *argv[] = {
        (char *)"pos1",
        (char *)"--evnode.node.block_time",
        (char *)"3s",
        (char *)"--evnode.da.address=http://x:1",
        (char *)"--rollkit.da.namespace",
        (char *)"ns1",
        (char *)"--evnode.node.aggregator",
        (char *)"--other",
        (char *)"--evnode.node.lazy_mode",
        (char *)"false",
        (char *)"--rollkit.instrumentation.prometheus=true",
        (char *)"--rollkit.signer.path",
        (char *)"/keys",
        (char *)"--evnode.p2p.peers",
        (char *)"a,b",
        (char *)"pos2",
        NULL,
    };
    int argc = 16;
    (void)state;

    cfg_init(&c);
    c.lazy_mode = true;
    assert_int_equal(bm_node_config_apply_flags(&c, &argc, argv, &em), BM_OK);
    assert_int_equal(argc, 3);
    assert_string_equal(argv[0], "pos1");
    assert_string_equal(argv[1], "--other");
    assert_string_equal(argv[2], "pos2");
    assert_null(argv[3]);
    assert_true(c.block_time_ns == 3000000000ull);
    assert_string_equal(c.da_address, "http://x:1");
    assert_string_equal(c.da_namespace, "ns1");
    assert_true(c.aggregator);
    assert_false(c.lazy_mode);
    assert_true(c.prometheus);
    assert_string_equal(c.signer_path, "/keys");
    assert_int_equal(c.p2p_peers.n, 2);
    bm_node_config_release(&c);
}

static void expect_flag_error(const char *a, const char *b,
                              const char *in_msg)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    char *argv[3] = {(char *)a, (char *)b, NULL};
    int argc = b != NULL ? 2 : 1;

    cfg_init(&c);
    assert_int_equal(bm_node_config_apply_flags(&c, &argc, argv, &em),
                     BM_ECONFIG);
    if (strstr(em.msg, in_msg) == NULL) {
        fail_msg("flag %s: message lacks '%s': %s", a, in_msg, em.msg);
    }
    bm_node_config_release(&c);
}

static void test_flag_errors(void **state)
{
    (void)state;
    expect_flag_error("--evnode.node.block_time", "abc",
                      "config: node.block_time: invalid duration 'abc'");
    expect_flag_error("--evnode.node.block_time=-2s", NULL, "negative");
    expect_flag_error("--evnode.node.bogus", "1", "--evnode.node.bogus");
    expect_flag_error("--evnode.node.block_time", NULL, "needs a value");
    expect_flag_error("--evnode.signer.passphrase", "secret",
                      "passphrase_file");
    expect_flag_error("--rollkit.log.format", "xml", "log.format");
    expect_flag_error("--evnode.node.aggregator=maybe", NULL,
                      "node.aggregator");
}

static void test_precedence(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    char dir[256], path[300];
    char *argv[] = {(char *)"--evnode.node.block_time=3s", NULL};
    int argc = 1;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/home", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/config", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/config/evnode.yaml", dir);
    write_text(path, "node:\n  block_time: 2s\n  lazy_mode: true\n"
                     "da:\n  address: http://yaml:1\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(bm_node_config_load(&c, dir, &argc, argv, &em), BM_OK);
    assert_int_equal(argc, 0);
    assert_true(c.block_time_ns == 3000000000ull);     /* flag */
    assert_true(c.lazy_mode);                          /* YAML */
    assert_string_equal(c.da_address, "http://yaml:1"); /* YAML */
    assert_string_equal(c.rpc_address, "127.0.0.1:7331"); /* default */
    bm_node_config_release(&c);

    /* a bad YAML value fails the load and leaves a released config */
    write_text(path, "node:\n  block_time: soon\n");
    argc = 0;
    assert_int_equal(bm_node_config_load(&c, dir, &argc, argv, &em),
                     BM_ECONFIG);
    assert_non_null(strstr(em.msg, "node.block_time"));
    assert_null(c.da_address);
}

/* node.readiness_window_seconds (ev-node's meaning): when
 * node.readiness_max_blocks_behind is not given it is the window divided
 * by node.block_time; a given value wins; the generated file does not pin
 * the derived value. */
static void test_readiness_window(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    struct bm_buf y = {NULL, 0};
    char dir[256], path[300];
    char *const flags[] = {
        (char *)"--evnode.node.readiness_window_seconds=30",
        (char *)"--evnode.node.readiness_max_blocks_behind=4"};
    char *argv[3];
    int argc;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/rhome", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/config", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/config/evnode.yaml", dir);

    /* defaults: 15 s of 1 s blocks */
    memset(&c, 0, sizeof(c));
    assert_int_equal(bm_node_config_load(&c, dir, NULL, NULL, &em), BM_OK);
    assert_true(c.readiness_max_blocks_behind == 15);
    assert_false(bm_node_config_given(&c, "node.readiness_max_blocks_behind"));

    /* 4 s window of 500 ms blocks = 8 blocks; 250 ms blocks = 16 */
    write_text(path, "node:\n  block_time: 500ms\n"
                     "  readiness_window_seconds: 4\n");
    assert_int_equal(bm_node_config_load(&c, dir, NULL, NULL, &em), BM_OK);
    assert_true(c.readiness_max_blocks_behind == 8);
    /* (loading consumes the flags of argv: refill it each time) */
    argc = 1;
    memcpy(argv, flags, sizeof(flags));
    assert_int_equal(bm_node_config_load(&c, dir, &argc, argv, &em), BM_OK);
    assert_true(c.readiness_max_blocks_behind == 60); /* 30 s / 500 ms */
    /* whole blocks, rounded down: 4 s / 3 s = 1 */
    write_text(path, "node:\n  block_time: 3s\n"
                     "  readiness_window_seconds: 4\n");
    assert_int_equal(bm_node_config_load(&c, dir, NULL, NULL, &em), BM_OK);
    assert_true(c.readiness_max_blocks_behind == 1);

    /* given (flag or YAML, even 0): used as is */
    argc = 2;
    memcpy(argv, flags, sizeof(flags));
    assert_int_equal(bm_node_config_load(&c, dir, &argc, argv, &em), BM_OK);
    assert_true(c.readiness_max_blocks_behind == 4);
    assert_true(bm_node_config_given(&c, "node.readiness_max_blocks_behind"));
    write_text(path, "node:\n  block_time: 500ms\n"
                     "  readiness_window_seconds: 4\n"
                     "  readiness_max_blocks_behind: 0\n");
    assert_int_equal(bm_node_config_load(&c, dir, NULL, NULL, &em), BM_OK);
    assert_true(c.readiness_max_blocks_behind == 0);

    /* A generated file (as `init` writes) keeps the derived key as a
     * comment, so a later window still applies. */
    bm_node_config_defaults(&c);
    assert_int_equal(bm_node_config_write_yaml(&c, path, &em), BM_OK);
    assert_int_equal(bm_node_config_yaml(&c, false, &y), BM_OK);
    assert_non_null(strstr((const char *)y.ptr,
                           "\n  # readiness_max_blocks_behind: 15\n"));
    bm_buf_release(&y);
    argc = 1;
    memcpy(argv, flags, sizeof(flags));
    assert_int_equal(bm_node_config_load(&c, dir, &argc, argv, &em), BM_OK);
    assert_true(c.readiness_max_blocks_behind == 30); /* 30 s / 1 s */
    bm_node_config_release(&c);
}

/* ---- writing ---- */

static void test_write_roundtrip(void **state)
{
    struct bm_node_config a, b;
    struct bm_errmsg em = {{0}};
    struct bm_buf y1 = {NULL, 0}, y2 = {NULL, 0};
    char path[256];
    (void)state;

    cfg_init(&a);
    cfg_init(&b);
    a.aggregator = true;
    a.block_time_ns = 1500000000ull;
    a.da_gas_price = 0.1;
    a.da_start_height = 42; /* not written (ev-node) */
    assert_int_equal(bm_node_config_set(&a, bm_node_config_find(
                                                "signer.passphrase_file"),
                                        "we\"ird\\ \n\t\x01 \xc3\xa9 \xc2\x85 "
                                        "\xef\xbb\xbf: # x",
                                        &em),
                     BM_OK);
    assert_int_equal(bm_node_config_set(&a, bm_node_config_find("p2p.peers"),
                                        "/ip4/1.2.3.4/tcp/1,/dns/h/tcp/2",
                                        &em),
                     BM_OK);
    assert_int_equal(bm_node_config_yaml(&a, false, &y1), BM_OK);
    /* commented: the description sits above the key */
    assert_non_null(strstr((const char *)y1.ptr,
                           "  # interval between blocks; also the reaper "
                           "interval\n  block_time: 1.5s\n"));
    assert_non_null(strstr((const char *)y1.ptr, "\nnode:\n"));
    assert_null(strstr((const char *)y1.ptr, "start_height"));
    assert_int_equal(bm_node_config_parse_yaml(&b, y1.ptr, y1.len, "y1", NULL,
                                               &em),
                     BM_OK);
    assert_true(b.aggregator);
    assert_true(b.block_time_ns == 1500000000ull);
    assert_true(b.da_gas_price == 0.1);
    assert_string_equal(b.signer_passphrase_file, a.signer_passphrase_file);
    assert_int_equal(b.p2p_peers.n, 2);
    assert_int_equal(bm_node_config_yaml(&b, false, &y2), BM_OK);
    assert_int_equal(y1.len, y2.len);
    assert_memory_equal(y1.ptr, y2.ptr, y1.len);
    bm_buf_release(&y2);

    /* the file writer and loader agree */
    snprintf(path, sizeof(path), "%s/w.yaml", tmpdir);
    assert_int_equal(bm_node_config_write_yaml(&a, path, &em), BM_OK);
    bm_node_config_defaults(&b);
    assert_int_equal(bm_node_config_load_yaml(&b, path, &em), BM_OK);
    assert_int_equal(bm_node_config_yaml(&b, false, &y2), BM_OK);
    assert_int_equal(y1.len, y2.len);
    assert_memory_equal(y1.ptr, y2.ptr, y1.len);
    bm_buf_release(&y2);

    /* redaction of secrets */
    assert_int_equal(bm_node_config_set(&a, bm_node_config_find(
                                                "da.auth_token"),
                                        "s3cr3t", &em),
                     BM_OK);
    assert_int_equal(bm_node_config_yaml(&a, true, &y2), BM_OK);
    assert_null(strstr((const char *)y2.ptr, "s3cr3t"));
    assert_non_null(strstr((const char *)y2.ptr, "<redacted>"));
    bm_buf_release(&y1);
    bm_buf_release(&y2);
    bm_node_config_release(&a);
    bm_node_config_release(&b);
}

/* Sets key = text on c, which must be accepted. */
static void expect_set(struct bm_node_config *c, const char *key,
                       const char *text)
{
    struct bm_errmsg em = {{0}};
    const struct bm_node_config_key *k = bm_node_config_find(key);

    assert_non_null(k);
    if (bm_node_config_set(c, k, text, &em) != BM_OK) {
        fail_msg("%s='%s' refused: %s", key, text, em.msg);
    }
}

static void test_to_manager(void **state)
{
    struct bm_node_config c;
    struct bm_manager_config m;
    struct bm_errmsg em = {{0}};
    (void)state;

    cfg_init(&c);
    c.aggregator = true;
    c.lazy_mode = true;
    c.block_time_ns = 1500000ull; /* 1.5 ms rounds up to 2 */
    c.da_block_time_ns = 1;       /* 1 ns stays non-zero */
    c.max_pending_headers_and_data = 7;
    c.da_start_height = 9;
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                "da.namespace"),
                                        "ns", &em),
                     BM_OK);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.aggregator);
    assert_true(m.lazy_mode);
    assert_true(m.block_time_ms == 2);
    assert_true(m.da_block_time_ms == 1);
    assert_true(m.lazy_block_interval_ms == 60000);
    assert_true(m.scrape_interval_ms == 1000);
    assert_true(m.da_request_timeout_ms == 60000);
    assert_true(m.da_max_submit_attempts == 30);
    assert_true(m.max_pending_headers_and_data == 7);
    assert_true(m.da_start_height == 9);
    assert_ptr_equal(m.da_namespace, c.da_namespace);
    assert_string_equal(m.da_data_namespace, "");
    /* The DA sizing and batching keys, defaults then set. */
    assert_true(m.da_max_blob_size == 1974272);
    assert_int_equal(m.da_batching_strategy, BM_DA_BATCH_TIME);
    assert_true(m.da_batch_size_threshold == 0.8);
    assert_true(m.da_batch_max_delay_ms == 0);
    assert_true(m.da_batch_min_items == 1);
    expect_set(&c, "da.max_blob_size", "500000");
    expect_set(&c, "da.batching_strategy", "adaptive");
    expect_set(&c, "da.batch_size_threshold", "0.5");
    expect_set(&c, "da.batch_max_delay", "2500ms");
    expect_set(&c, "da.batch_min_items", "4");
    bm_node_config_to_manager(&c, &m);
    assert_true(m.da_max_blob_size == 500000);
    assert_int_equal(m.da_batching_strategy, BM_DA_BATCH_ADAPTIVE);
    assert_true(m.da_batch_size_threshold == 0.5);
    assert_true(m.da_batch_max_delay_ms == 2500);
    assert_true(m.da_batch_min_items == 4);
    expect_set(&c, "da.batching_strategy", "immediate");
    bm_node_config_to_manager(&c, &m);
    assert_int_equal(m.da_batching_strategy, BM_DA_BATCH_IMMEDIATE);
    expect_set(&c, "da.batching_strategy", "size");
    bm_node_config_to_manager(&c, &m);
    assert_int_equal(m.da_batching_strategy, BM_DA_BATCH_SIZE);
    expect_set(&c, "da.batching_strategy", "time");
    bm_node_config_to_manager(&c, &m);
    assert_int_equal(m.da_batching_strategy, BM_DA_BATCH_TIME);
    expect_refused("da.max_blob_size", "0", "above 0");
    expect_refused("da.max_blob_size", "67108865", "at most");
    /* rpc.tx_rate_limit: when not given, what blocks carry (1 s blocks:
     * the 64-byte txs one DA blob holds, 1974272 / 66, a second) with a
     * burst of one block's worth; given, the manager's tx limiter rate
     * with the limiter's own burst (tests/node/test_rpc.c shows the
     * limiter answering 429); 0 = no limit. */
    bm_node_config_release(&c);
    cfg_init(&c);
    bm_node_config_derive(&c);
    assert_true(c.max_block_txs == 120000);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.tx_rate == 29913.0);
    assert_true(m.tx_burst == 29913);
    /* 100 ms blocks: 12,000 txs a block, 120,000 a second, burst 12,000 */
    expect_set(&c, "node.block_time", "100ms");
    bm_node_config_derive(&c);
    assert_true(c.max_block_txs == 12000);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.tx_rate == 120000.0);
    assert_true(m.tx_burst == 12000);
    /* a given node.max_block_txs sizes it too; 5 ms blocks floor at 1000 */
    expect_set(&c, "node.max_block_txs", "3000");
    bm_node_config_derive(&c);
    assert_true(c.max_block_txs == 3000);
    assert_true(c.rpc_tx_rate_limit == 30000);
    bm_node_config_release(&c);
    cfg_init(&c);
    expect_set(&c, "node.block_time", "5ms");
    bm_node_config_derive(&c);
    assert_true(c.max_block_txs == 1000);
    assert_true(c.rpc_tx_rate_limit == 200000);
    expect_refused("node.max_block_txs", "0", "above 0");
    expect_refused("node.max_block_txs", "1000001", "at most");
    expect_set(&c, "rpc.tx_rate_limit", "2500");
    bm_node_config_derive(&c);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.tx_rate == 2500.0);
    assert_true(m.tx_burst == 0);
    expect_set(&c, "rpc.tx_rate_limit", "0");
    bm_node_config_derive(&c);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.tx_rate == 0);
    expect_refused("rpc.tx_rate_limit", "2000000", "at most");
    /* node.max_queue_bytes: the sequencer's queue cap (start_cmd.c passes
     * it as bm_seq_options.max_queue_bytes; the reliability suite's
     * overload scenario shows the 503 beyond it). */
    bm_node_config_release(&c);
    cfg_init(&c);
    assert_true(c.max_queue_bytes == (uint64_t)256 << 20);
    expect_set(&c, "node.max_queue_bytes", "33554432");
    assert_true(c.max_queue_bytes == (uint64_t)32 << 20);
    expect_refused("node.max_queue_bytes", "0", "above 0");
    expect_refused("node.max_queue_bytes", "1073741825", "at most");
    bm_node_config_release(&c);
    /* The exec breaker: 5 failures, 30 s open by default (the manager's
     * own defaults); both settable; 0 refused. */
    cfg_init(&c);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.exec_breaker_failures == 5);
    assert_true(m.exec_breaker_open_ms == 30000);
    expect_set(&c, "node.exec_breaker_failures", "2");
    expect_set(&c, "node.exec_breaker_open_time", "1500ms");
    bm_node_config_to_manager(&c, &m);
    assert_true(m.exec_breaker_failures == 2);
    assert_true(m.exec_breaker_open_ms == 1500);
    expect_set(&c, "node.exec_breaker_open_time", "100us"); /* rounds up */
    bm_node_config_to_manager(&c, &m);
    assert_true(m.exec_breaker_open_ms == 1);
    expect_refused("node.exec_breaker_failures", "0", "above 0");
    expect_refused("node.exec_breaker_failures", "1001", "at most");
    expect_refused("node.exec_breaker_open_time", "0s", "above 0");
    bm_node_config_release(&c);
}

/* The DA client's settings, da.gas_price above all: -1 sends none, a
 * price >= 0 is sent. */
static void test_to_da_client(void **state)
{
    struct bm_node_config c;
    struct bm_da_client_config cc;
    (void)state;

    cfg_init(&c);
    expect_set(&c, "da.address", "http://127.0.0.1:1");
    expect_set(&c, "da.request_timeout", "2s");
    bm_node_config_to_da_client(&c, &cc);
    assert_string_equal(cc.url, "http://127.0.0.1:1");
    assert_null(cc.submit_options_json);
    assert_int_equal(cc.timeout_ms, 2000);
    assert_true(cc.max_blob_size == 1974272);
    assert_false(cc.set_gas_price);
    expect_set(&c, "da.gas_price", "0.025");
    expect_set(&c, "da.submit_options", "{\"tx_priority\":2}");
    expect_set(&c, "da.max_blob_size", "123456");
    bm_node_config_to_da_client(&c, &cc);
    assert_true(cc.set_gas_price);
    assert_true(cc.gas_price == 0.025);
    assert_string_equal(cc.submit_options_json, "{\"tx_priority\":2}");
    assert_true(cc.max_blob_size == 123456);
    expect_set(&c, "da.gas_price", "0");
    bm_node_config_to_da_client(&c, &cc);
    assert_true(cc.set_gas_price);
    assert_true(cc.gas_price == 0);
    bm_node_config_release(&c);
}

/* kv.initial_map_size reaches the KV options, node.catchup_timeout the
 * manager's config (the executor and manager tests cover what they do). */
static void test_to_kv_and_catchup(void **state)
{
    struct bm_node_config c;
    struct bm_manager_config m;
    struct bm_kv_options ko;
    struct bm_errmsg em = {{0}};
    size_t unknown = 0;
    (void)state;

    cfg_init(&c);
    bm_node_config_to_kv(&c, &ko);
    assert_true(ko.map_size == BM_KV_DEFAULT_MAP_SIZE);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.catchup_timeout_ms == 0);
    assert_int_equal(parse(&c, "kv:\n  initial_map_size: 1048576\n"
                               "node:\n  catchup_timeout: 2s\n",
                           &unknown, &em),
                     BM_OK);
    assert_int_equal(unknown, 0);
    bm_node_config_to_kv(&c, &ko);
    assert_true(ko.map_size == 1048576);
    bm_node_config_to_manager(&c, &m);
    assert_true(m.catchup_timeout_ms == 2000);
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                "kv.initial_map_size"),
                                        "0", &em),
                     BM_ECONFIG);
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                "kv.initial_map_size"),
                                        "2199023255552", &em),
                     BM_ECONFIG);
    bm_node_config_release(&c);
}

/* The EVM executor's keys: ev-node's flag spelling, the derived
 * node.executor, and bm_node_config_to_evm. */
static void test_evm_keys(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    struct bm_evm_config ec;
    char secret[300];
    FILE *f;
    char *argv[] = {
        (char *)"--evm.engine-url",
        (char *)"http://el:8551",
        (char *)"--evm.eth-url=http://el:8545",
        (char *)"--evm.genesis-hash",
        (char *)"0x00000000000000000000000000000000000000000000000000000000"
                "000000ab",
        (char *)"--evnode.evm.request_timeout",
        (char *)"2s",
        NULL,
    };
    int argc = 7;
    char *bad[] = {(char *)"--evm.engine_url", (char *)"x", NULL};
    int nbad = 2;
    (void)state;

    cfg_init(&c);
    bm_node_config_derive(&c);
    assert_string_equal(c.node_executor, "kv");
    assert_int_equal(bm_node_config_apply_flags(&c, &argc, argv, &em), BM_OK);
    assert_int_equal(argc, 0);
    assert_string_equal(c.evm_engine_url, "http://el:8551");
    assert_string_equal(c.evm_eth_url, "http://el:8545");
    assert_true(c.evm_request_timeout_ns == 2000000000ull);
    bm_node_config_derive(&c);
    assert_string_equal(c.node_executor, "evm");
    assert_string_equal(bm_node_config_evnode_flag("evm.genesis_hash"),
                        "--evm.genesis-hash");
    assert_null(bm_node_config_evnode_flag("node.block_time"));
    /* ev-node spells its flags with dashes: the underscore form is not a
     * flag of either */
    assert_int_equal(bm_node_config_apply_flags(&c, &nbad, bad, &em),
                     BM_ECONFIG);
    assert_non_null(strstr(em.msg, "unknown flag '--evm.engine_url'"));

    /* no secret file: refused naming the key */
    assert_int_equal(bm_node_config_to_evm(&c, &ec, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "evm.jwt_secret_file"));
    snprintf(secret, sizeof(secret), "%s/jwt.hex", tmpdir);
    f = fopen(secret, "w");
    assert_non_null(f);
    fputs("0x0f0e0d0c0b0a09080706050403020100000102030405060708090a0b0c0d0e0f\n",
          f);
    fclose(f);
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                 "evm.jwt_secret_file"),
                                        secret, &em),
                     BM_OK);
    assert_int_equal(bm_node_config_to_evm(&c, &ec, &em), BM_OK);
    assert_int_equal(ec.jwt_secret[0], 0x0f);
    assert_true(ec.has_genesis_hash);
    assert_int_equal(ec.genesis_hash[31], 0xab);
    assert_int_equal(ec.timeout_ms, 2000);
    assert_string_equal(ec.engine_url, "http://el:8551");
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                 "evm.fee_recipient"),
                                        "0x1234", &em),
                     BM_OK);
    assert_int_equal(bm_node_config_to_evm(&c, &ec, &em), BM_ECONFIG);
    assert_non_null(strstr(em.msg, "evm.fee_recipient"));
    /* the evm.* keys at their defaults (as init writes them) keep kv */
    {
        struct bm_node_config d;
        struct bm_buf y = {NULL, 0};

        memset(&d, 0, sizeof(d));
        bm_node_config_defaults(&d);
        assert_int_equal(bm_node_config_yaml(&d, false, &y), BM_OK);
        assert_int_equal(bm_node_config_parse_yaml(&d, y.ptr, y.len, "y",
                                                   NULL, &em),
                         BM_OK);
        assert_true(bm_node_config_given(&d, "evm.engine_url"));
        bm_node_config_derive(&d);
        assert_string_equal(d.node_executor, "kv");
        bm_buf_release(&y);
        bm_node_config_release(&d);
    }
    /* node.executor given wins over the derivation */
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                 "node.executor"),
                                        "kv", &em),
                     BM_OK);
    bm_node_config_derive(&c);
    assert_string_equal(c.node_executor, "kv");
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                 "node.executor"),
                                        "wasm", &em),
                     BM_ECONFIG);
    unlink(secret);
    bm_node_config_release(&c);
}

static void test_markdown(void **state)
{
    char *text = NULL;
    size_t len = 0, n = 0;
    FILE *f = open_memstream(&text, &len);
    const struct bm_node_config_key *t = bm_node_config_keys(&n);
    (void)state;

    assert_non_null(f);
    bm_node_config_markdown(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "| Key | Flag | Type | Default | "
                                 "Description |"));
    for (size_t i = 0; i < n; i++) {
        char row[160];
        snprintf(row, sizeof(row), "| `%s` | `--evnode.%s` |", t[i].key,
                 t[i].key);
        if (strstr(text, row) == NULL) {
            fail_msg("no row for %s", t[i].key);
        }
    }
    assert_non_null(strstr(text, "| duration | `1s` |"));
    assert_non_null(strstr(text, "`\"http://127.0.0.1:7980\"`"));
    free(text); /* lint: allow-raw-alloc (open_memstream) */
}

static void test_passphrase_file(void **state)
{
    struct bm_node_config c;
    struct bm_errmsg em = {{0}};
    uint8_t buf[64];
    size_t len = 0;
    char path[256];
    (void)state;

    cfg_init(&c);
    snprintf(path, sizeof(path), "%s/pass", tmpdir);
    assert_int_equal(bm_node_config_set(&c, bm_node_config_find(
                                                "signer.passphrase_file"),
                                        path, &em),
                     BM_OK);
    write_text(path, "hunter2\n");
    assert_int_equal(bm_passphrase_read(c.signer_passphrase_file, true, buf,
                                        sizeof(buf), &len, &em),
                     BM_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "hunter2", 7);
    write_text(path, "two words \r\n");
    assert_int_equal(bm_passphrase_read(c.signer_passphrase_file, false, buf,
                                        sizeof(buf), &len, &em),
                     BM_OK);
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "two words ", 10);
    write_text(path, "\n");
    assert_int_equal(bm_passphrase_read(c.signer_passphrase_file, false, buf,
                                        sizeof(buf), &len, &em),
                     BM_EINVAL);
    assert_non_null(strstr(em.msg, "empty"));
    write_text(path, "0123456789012345678901234567890123456789012345678901"
                     "234567890123456789");
    assert_int_equal(bm_passphrase_read(c.signer_passphrase_file, false, buf,
                                        sizeof(buf), &len, &em),
                     BM_ETOOBIG);
    unlink(path);
    assert_int_equal(bm_passphrase_read(c.signer_passphrase_file, false, buf,
                                        sizeof(buf), &len, &em),
                     BM_ENOTFOUND);
    assert_non_null(strstr(em.msg, "pass"));
    if (!isatty(0)) {
        bm_node_config_set(&c, bm_node_config_find("signer.passphrase_file"),
                           "", &em);
        assert_int_equal(bm_passphrase_read(c.signer_passphrase_file, false, buf,
                                            sizeof(buf), &len, &em),
                         BM_ENOTFOUND);
        assert_non_null(strstr(em.msg, "--evnode.signer.passphrase_file"));
    }
    bm_node_config_release(&c);
}

static void test_node_path(void **state)
{
    char *p;
    (void)state;

    p = bm_node_path("/h", "data");
    assert_string_equal(p, "/h/data");
    bm_free(p);
    p = bm_node_path("/h", "/abs/x");
    assert_string_equal(p, "/abs/x");
    bm_free(p);
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_table_keys),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_yaml_sections),
        cmocka_unit_test(test_yaml_unknown_keys_warned),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_yaml_too_big),
        cmocka_unit_test(test_load_yaml_file),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_readiness_window),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_to_manager),
        cmocka_unit_test(test_to_da_client),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_evm_keys),
        cmocka_unit_test(test_to_kv_and_catchup),
        cmocka_unit_test(test_passphrase_file),
        cmocka_unit_test(test_node_path),
    };

    if (mkdtemp(tmpdir) == NULL) {
        return 1;
    }
    atexit(cleanup);
    return BM_TEST_RUN(tests);
}
