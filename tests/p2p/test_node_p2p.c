/* The node's P2P host from its configuration (src/node/p2p.c): bad p2p.*
 * values are refused naming the key and the entry; the node key is created
 * on first use and is the identity the host proves (the ID `keys show`
 * prints); a stopped host frees everything. */
#include "bm_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockv2/keys.h"
#include "node/config.h"
#include "node/p2p.h"
#include "p2p/host.h"
#include "util/errmsg.h"

static char home[] = "/tmp/bm_node_p2p_XXXXXX";

static void set(struct bm_node_config *c, const char *key, const char *v)
{
    assert_int_equal(bm_node_config_set(c, bm_node_config_find(key), v, NULL),
                     BM_OK);
}

static void expect_error(struct bm_node_config *c, const char *want)
{
    struct bm_p2p_host *h = NULL;
    struct bm_errmsg em = {{0}};

    assert_int_equal(bm_node_p2p_open(&h, c, home, false, &em), BM_ECONFIG);
    assert_null(h);
    if (strstr(em.msg, want) == NULL) {
        fail_msg("message '%s' does not name '%s'", em.msg, want);
    }
}

static void test_bad_values(void **state)
{
    struct bm_node_config c;

    (void)state;
    memset(&c, 0, sizeof(c));
    bm_node_config_defaults(&c);
    assert_true(bm_node_p2p_enabled(&c)); /* ev-node's default listener */
    set(&c, "p2p.listen_address", "/ip4/1.2.3/tcp/1");
    expect_error(&c, "p2p.listen_address");
    set(&c, "p2p.listen_address", "/ip4/127.0.0.1");
    expect_error(&c, "p2p.listen_address");
    set(&c, "p2p.listen_address", "");
    assert_false(bm_node_p2p_enabled(&c));
    set(&c, "p2p.peers",
        "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eA"
        "to4Az7,/ip4/127.0.0.1/tcp/2");
    assert_true(bm_node_p2p_enabled(&c));
    expect_error(&c, "p2p.peers: entry 2");
    set(&c, "p2p.peers", "");
    set(&c, "p2p.listen_address", "/ip4/127.0.0.1/tcp/0");
    set(&c, "p2p.blocked_peers", "12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7,nope");
    expect_error(&c, "p2p.blocked_peers: entry 2 'nope'");
    set(&c, "p2p.blocked_peers", "");
    set(&c, "p2p.allowed_peers", "/ip4/127.0.0.1/tcp/1");
    expect_error(&c, "p2p.allowed_peers");
    set(&c, "p2p.allowed_peers", "");
    /* the redial cap: 5 s by default, 100ms to 1h */
    assert_int_equal(c.p2p_redial_max_ns, 5000000000ull);
    set(&c, "p2p.redial_max", "99ms");
    expect_error(&c, "p2p.redial_max");
    set(&c, "p2p.redial_max", "61m");
    expect_error(&c, "p2p.redial_max");
    assert_int_not_equal(bm_node_config_set(&c, bm_node_config_find(
                                                    "p2p.redial_max"),
                                            "0s", NULL),
                         BM_OK);
    bm_node_config_release(&c);
}

static void test_identity_and_gater(void **state)
{
    struct bm_node_config c;
    struct bm_p2p_host *h = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_privkey key;
    struct bm_multiaddr addr;
    char path[256], from_key[BM_PEER_ID_STR_SIZE], proven[BM_PEER_ID_STR_SIZE];
    uint8_t pub[BM_PUBKEY_SIZE];

    (void)state;
    memset(&c, 0, sizeof(c));
    bm_node_config_defaults(&c);
    set(&c, "p2p.listen_address", "/ip4/127.0.0.1/tcp/0");
    /* ev-node writes multiaddrs here; a bare ID works too */
    set(&c, "p2p.blocked_peers",
        "/ip4/10.0.0.1/tcp/7676/p2p/12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr"
        "3eAto4Az7");
    set(&c, "p2p.allowed_peers",
        "12D3KooWB8sCGZCrwr79HtabLAn95qyPQx6RYHXjEbiD6QKou7ww");
    set(&c, "p2p.disable_connection_gater", "false");
    assert_int_equal(bm_node_p2p_open(&h, &c, home, false, &em), BM_OK);
    /* The node key was created, and it is the host's identity. */
    snprintf(path, sizeof(path), "%s/config/node_key.json", home);
    assert_int_equal(bm_node_key_load(path, &key, NULL), BM_OK);
    bm_privkey_public(&key, pub);
    bm_peer_id_string(pub, from_key);
    bm_peer_id_format(bm_p2p_host_id(h), proven);
    assert_string_equal(from_key, proven);
    assert_int_equal(bm_p2p_host_listen_addrs(h, &addr, 1), 1);
    assert_true(addr.port != 0);
    assert_int_equal(bm_p2p_host_start(h), BM_OK);
    bm_p2p_host_free(h);
    /* A second open reuses the same key. */
    h = NULL;
    assert_int_equal(bm_node_p2p_open(&h, &c, home, false, &em), BM_OK);
    bm_peer_id_format(bm_p2p_host_id(h), proven);
    assert_string_equal(from_key, proven);
    bm_p2p_host_free(h);
    /* Our own address in p2p.peers is a configuration error. */
    {
        char self[200];

        snprintf(self, sizeof(self), "/ip4/127.0.0.1/tcp/1/p2p/%s", proven);
        set(&c, "p2p.peers", self);
        expect_error(&c, "own peer ID");
        set(&c, "p2p.peers", "");
    }
    bm_privkey_wipe(&key);
    bm_node_config_release(&c);
}

static void test_port_in_use(void **state)
{
    struct bm_node_config c;
    struct bm_p2p_host *a = NULL, *b = NULL;
    struct bm_errmsg em = {{0}};
    struct bm_multiaddr addr;
    char text[BM_MULTIADDR_STR_SIZE];

    (void)state;
    memset(&c, 0, sizeof(c));
    bm_node_config_defaults(&c);
    set(&c, "p2p.listen_address", "/ip4/127.0.0.1/tcp/0");
    assert_int_equal(bm_node_p2p_open(&a, &c, home, false, &em), BM_OK);
    assert_int_equal(bm_p2p_host_listen_addrs(a, &addr, 1), 1);
    bm_multiaddr_format(&addr, text);
    set(&c, "p2p.listen_address", text);
    assert_int_equal(bm_node_p2p_open(&b, &c, home, false, &em), BM_ESYS);
    assert_non_null(strstr(em.msg, text));
    /* --dev falls back to a free port */
    assert_int_equal(bm_node_p2p_open(&b, &c, home, true, &em), BM_OK);
    bm_p2p_host_free(a);
    bm_p2p_host_free(b);
    bm_node_config_release(&c);
}

static int setup(void **state)
{
    char dir[300];

    (void)state;
    if (mkdtemp(home) == NULL) {
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s/config", home);
    return mkdir(dir, 0700);
}

static int teardown(void **state)
{
    char path[300];

    (void)state;
    snprintf(path, sizeof(path), "%s/config/node_key.json", home);
    unlink(path);
    snprintf(path, sizeof(path), "%s/config", home);
    rmdir(path);
    rmdir(home);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_identity_and_gater),
        cmocka_unit_test(test_port_in_use),
    };
    int rc;

    if (bm_crypto_init() != BM_OK) {
        return 1;
    }
    rc = cmocka_run_group_tests(tests, setup, teardown);
    return bm_test_check_leaks(rc);
}
