/*
 * The RPC's P2P parts with a real block store, a real host and chain sync:
 * P2PService GetPeerInfo / GetNetInfo and StoreService GetP2PStoreInfo in
 * ev-node's protojson shapes, /status's P2P store heights, and the
 * readiness rule that a follower with P2P needs a peer. Without P2P:
 * GetNetInfo is unavailable, the other two answer empty.
 */
#include "rpc_test_util.h"

#include <sodium.h>
#include <unistd.h>

#include "node/rpc.h"
#include "p2p/chainsync.h"
#include "p2p/chain_fixture.h"
#include "p2p/gossip_util.h"
#include "util/rfc3339.h"

struct fx {
    char home[64];
    struct cf_chain chain;
    struct bm_store *store;
    struct gu_host x;   /* the node's host */
    struct gu_host y;   /* a peer */
    struct bm_chainsync *cs;
    struct bm_rpc_server *srv;
    uint16_t port;
};

static void fx_open(struct fx *f)
{
    struct bm_chainsync_config cc = {0};
    struct bm_rpc_deps d = {0};

    memset(f, 0, sizeof(*f));
    assert_int_equal(bm_crypto_init(), BM_OK);
    assert_int_equal(cf_chain_build(&f->chain, "rpc-p2p", 3, 105, 2), BM_OK);
    assert_int_equal(cf_temp_store_open("rpcp2p", f->home, sizeof(f->home),
                                        &f->store),
                     BM_OK);
    assert_int_equal(cf_store_write(f->store, &f->chain, 1, 100), BM_OK);
    gu_host_new(&f->x, 0x31);
    gu_host_new(&f->y, 0x32);
    cc.host = f->x.h;
    cc.genesis = &f->chain.genesis;
    cc.store = f->store;
    assert_int_equal(bm_chainsync_new(&f->cs, &cc, NULL), BM_OK);
    assert_int_equal(bm_p2p_host_start(f->x.h), BM_OK);
    assert_int_equal(bm_p2p_host_start(f->y.h), BM_OK);
    d.store = f->store;
    d.genesis = &f->chain.genesis;
    d.p2p = f->x.h;
    d.sync = f->cs;
    d.readiness_max_blocks_behind = 10;
    assert_int_equal(bm_rpc_server_start(&f->srv, "127.0.0.1:0", &d, NULL),
                     BM_OK);
    f->port = bm_rpc_server_port(f->srv);
}

static void fx_close(struct fx *f)
{
    bm_rpc_server_stop(f->srv);
    (void)bm_p2p_host_stop(f->y.h);
    (void)bm_p2p_host_stop(f->x.h);
    bm_chainsync_free(f->cs);
    gu_host_free(&f->x);
    gu_host_free(&f->y);
    cf_temp_store_close(f->home, f->store);
    cf_chain_release(&f->chain);
}

static struct json_object *post_ok(uint16_t port, const char *path,
                                   const char *body)
{
    struct http_resp r;
    struct json_object *o;

    http_post_json(port, path, body, &r);
    if (r.status != 200) {
        fail_msg("%s: status %ld: %s", path, r.status, r.body);
    }
    o = json_of(&r);
    http_resp_release(&r);
    return o;
}

static void expect_entry(struct json_object *e, uint64_t h,
                         const struct bm_hash *hash, uint64_t time_ns)
{
    static const char *const keys[] = {"height", "hash", "time", NULL};
    char want[64], b64[64];
    struct json_object *t = jpath(e, "time");

    assert_non_null(e);
    only_keys(e, keys);
    snprintf(want, sizeof(want), "%llu", (unsigned long long)h);
    assert_string_equal(jstr(e, "height"), want);
    sodium_bin2base64(b64, sizeof(b64), hash->b, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    assert_string_equal(jstr(e, "hash"), b64);
    assert_non_null(t);
    /* RFC 3339 UTC of the item's time (the seconds part compared). */
    {
        char buf[BM_RFC3339_MAX];

        (void)bm_rfc3339_format_utc9((int64_t)(time_ns / 1000000000u),
                                     (int32_t)(time_ns % 1000000000u), buf);
        assert_memory_equal(json_object_get_string(t), buf, 19);
    }
}

struct peers_wait {
    struct bm_p2p_host *h;
};

static bool has_peer(void *arg)
{
    struct peers_wait *w = arg;
    struct bm_p2p_stats st;

    bm_p2p_host_stats(w->h, &st);
    return st.peers >= 1;
}

static void test_p2p_rpc(void **state)
{
    static const char *const ps_keys[] = {"label", "height", "head", "tail",
                                          NULL};
    struct fx f;
    struct http_resp r;
    struct json_object *o, *a;
    struct peers_wait pw;
    char id[BM_PEER_ID_STR_SIZE], yid[BM_PEER_ID_STR_SIZE];
    char want[256];
    struct bm_p2pstore_entry e;
    struct bm_buf item = {0};

    (void)state;
    fx_open(&f);
    bm_peer_id_format(&f.x.id, id);
    bm_peer_id_format(&f.y.id, yid);

    /* A follower with P2P and no peer is not ready. */
    http_get(f.port, "/health/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "UNREADY: no peers connected\n");
    http_resp_release(&r);
    o = post_ok(f.port, "/evnode.v1.P2PService/GetPeerInfo", "{}");
    assert_int_equal(json_object_object_length(o), 0);
    json_object_put(o);

    assert_int_equal(gu_dial(&f.y, &f.x), BM_OK);
    pw.h = f.x.h;
    assert_true(gu_eventually(has_peer, &pw, GU_WAIT_MS));
    gu_sleep(150); /* the host's peer snapshot is refreshed every 100 ms */
    http_get(f.port, "/health/ready", &r);
    assert_int_equal(r.status, 200);
    http_resp_release(&r);

    /* GetPeerInfo: {"peers": [{"id", "address"}]}, address as libp2p's
     * AddrInfo.String(). */
    o = post_ok(f.port, "/evnode.v1.P2PService/GetPeerInfo", "{}");
    a = jpath(o, "peers");
    assert_non_null(a);
    assert_int_equal(json_object_array_length(a), 1);
    assert_string_equal(jstr(json_object_array_get_idx(a, 0), "id"), yid);
    snprintf(want, sizeof(want), "{%s: [/ip4/127.0.0.1/tcp/", yid);
    assert_memory_equal(jstr(json_object_array_get_idx(a, 0), "address"),
                        want, strlen(want));
    json_object_put(o);

    /* GetNetInfo: {"netInfo": {"id", "listenAddresses", "connectedPeers"}}. */
    o = post_ok(f.port, "/evnode.v1.P2PService/GetNetInfo", "");
    assert_string_equal(jstr(o, "netInfo.id"), id);
    a = jpath(o, "netInfo.listenAddresses");
    assert_int_equal(json_object_array_length(a), 1);
    snprintf(want, sizeof(want), "/p2p/%s", id);
    {
        const char *s = json_object_get_string(json_object_array_get_idx(a, 0));

        assert_true(strlen(s) > strlen(want));
        assert_string_equal(s + strlen(s) - strlen(want), want);
        assert_memory_equal(s, "/ip4/127.0.0.1/tcp/", 19);
    }
    a = jpath(o, "netInfo.connectedPeers");
    assert_int_equal(json_object_array_length(a), 1);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)),
                        yid);
    json_object_put(o);

    /* GetP2PStoreInfo: the store height with nothing seen above it. */
    o = post_ok(f.port, "/evnode.v1.StoreService/GetP2PStoreInfo", "{}");
    a = jpath(o, "stores");
    assert_int_equal(json_object_array_length(a), 2);
    only_keys(json_object_array_get_idx(a, 0), ps_keys);
    assert_string_equal(jstr(json_object_array_get_idx(a, 0), "label"),
                        "Header Store");
    assert_string_equal(jstr(json_object_array_get_idx(a, 1), "label"),
                        "Data Store");
    assert_string_equal(jstr(json_object_array_get_idx(a, 0), "height"),
                        "100");
    expect_entry(jpath(json_object_array_get_idx(a, 0), "head"), 100,
                 &f.chain.b[100].hash, f.chain.b[100].sh.header.time);
    expect_entry(jpath(json_object_array_get_idx(a, 0), "tail"), 1,
                 &f.chain.b[1].hash, f.chain.b[1].sh.header.time);
    {
        struct bm_hash dh;

        assert_int_equal(bm_data_hash(&f.chain.b[100].data, &dh), BM_OK);
        expect_entry(jpath(json_object_array_get_idx(a, 1), "head"), 100,
                     &dh, f.chain.b[100].data.metadata.time);
    }
    json_object_put(o);

    /* A header seen at 105: the header store's head moves there. */
    e.height = 105;
    e.hash = f.chain.b[105].hash;
    e.time_ns = f.chain.b[105].sh.header.time;
    assert_int_equal(cf_p2p_header(&f.chain, 105, 0, &item), BM_OK);
    assert_int_equal(bm_p2pstore_put(bm_chainsync_store(f.cs, BM_CS_HEADERS),
                                     &e, item.ptr, item.len),
                     BM_OK);
    o = post_ok(f.port, "/evnode.v1.StoreService/GetP2PStoreInfo", "{}");
    a = jpath(o, "stores");
    assert_string_equal(jstr(json_object_array_get_idx(a, 0), "height"),
                        "105");
    expect_entry(jpath(json_object_array_get_idx(a, 0), "head"), 105,
                 &f.chain.b[105].hash, f.chain.b[105].sh.header.time);
    assert_string_equal(jstr(json_object_array_get_idx(a, 1), "height"),
                        "100");
    json_object_put(o);
    http_get(f.port, "/status", &r);
    o = json_of(&r);
    assert_int_equal(json_object_get_int64(jpath(o, "p2p.header_height")),
                     105);
    assert_int_equal(json_object_get_int64(jpath(o, "p2p.data_height")), 100);
    assert_int_equal(json_object_get_int64(jpath(o, "peers")), 1);
    json_object_put(o);
    http_resp_release(&r);

    /* Empty requests only: unknown fields are refused. */
    http_post_json(f.port, "/evnode.v1.P2PService/GetNetInfo", "{\"x\":1}",
                   &r);
    assert_int_equal(r.status, 400);
    http_resp_release(&r);

    bm_buf_release(&item);
    fx_close(&f);
}

static void test_without_p2p(void **state)
{
    struct fx f;
    struct bm_rpc_server *s = NULL;
    struct bm_rpc_deps d = {0};
    struct http_resp r;
    struct json_object *o;
    uint16_t port;

    (void)state;
    fx_open(&f);
    d.store = f.store;
    d.genesis = &f.chain.genesis;
    assert_int_equal(bm_rpc_server_start(&s, "127.0.0.1:0", &d, NULL), BM_OK);
    port = bm_rpc_server_port(s);
    http_post_json(port, "/evnode.v1.P2PService/GetNetInfo", "{}", &r);
    assert_int_equal(r.status, 503);
    o = json_of(&r);
    assert_string_equal(jstr(o, "code"), "unavailable");
    json_object_put(o);
    http_resp_release(&r);
    o = post_ok(port, "/evnode.v1.P2PService/GetPeerInfo", "{}");
    assert_int_equal(json_object_object_length(o), 0);
    json_object_put(o);
    o = post_ok(port, "/evnode.v1.StoreService/GetP2PStoreInfo", "{}");
    assert_int_equal(json_object_object_length(o), 0);
    json_object_put(o);
    /* No P2P: no peer needed to be ready. */
    http_get(port, "/health/ready", &r);
    assert_int_equal(r.status, 200);
    http_resp_release(&r);
    bm_rpc_server_stop(s);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p2p_rpc),
        cmocka_unit_test(test_without_p2p),
    };

    return BM_TEST_RUN(tests);
}
