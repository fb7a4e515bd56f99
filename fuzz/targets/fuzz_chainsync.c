/*
 * Fuzz target: the gossip topic validators of chain sync
 * (bm_chainsync_check) over untrusted payloads, with a real block store
 * holding blocks 1..4 of a signed chain (tests/p2p/chain_fixture.c).
 *
 * Input: byte 0 = mode, the rest = payload.
 *   mode bit 0: topic (0 header, 1 data);
 *   mode bits 1-2: the base item: 0 none (the payload is the whole
 *     message), 1 block 5 (next), 2 block 3 (applied), 3 block 7 (gap);
 *   with a base item, the payload is XORed into it from offset
 *   payload[0] (so near-valid items are explored without a signer).
 * The verdict must be Accept, Ignore or Reject, with a reason the metrics
 * know; every call is counted once; nothing crashes or leaks (the replay
 * checks the allocation count).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockv2/store.h"
#include "p2p/chainsync.h"
#include "p2p/host.h"
#include "util/log.h"

#include "../../tests/p2p/chain_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The message to check: the base item (or nothing) with the payload
 * applied. Returns owned bytes in *out. */
static void build(const struct cf_chain *c, uint8_t mode, const uint8_t *p,
                  size_t n, struct bm_buf *out)
{
    static const uint64_t bases[4] = {0, 5, 3, 7};
    uint64_t h = bases[(mode >> 1) & 3];
    int err;

    if (h == 0) {
        if (bm_buf_set(out, p, n) != BM_OK) {
            abort();
        }
        return;
    }
    err = (mode & 1) ? cf_p2p_data(c, h, 0, out) : cf_p2p_header(c, h, 0, out);
    if (err != BM_OK) {
        abort();
    }
    if (n > 0 && out->len > 0) {
        size_t off = p[0] % out->len;

        for (size_t i = 1; i < n && off + i - 1 < out->len; i++) {
            out->ptr[off + i - 1] ^= p[i];
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cf_chain chain;
    char home[64];
    struct bm_store *store = NULL;
    struct bm_p2p_host *host = NULL;
    struct bm_chainsync *cs = NULL;
    struct bm_p2p_host_config hc;
    struct bm_chainsync_config cc = {0};
    struct bm_chainsync_stats before, after;
    struct bm_buf msg = {0};
    enum bm_chainsync_reason why = BM_CS_REASON_COUNT;
    enum bm_floodsub_verdict v;
    enum bm_chainsync_net net;
    uint8_t s32[32];
    struct bm_privkey key;

    if (size < 1) {
        return 0;
    }
    bm_log_set_level(BM_LOG_ERROR);
    /* Everything per input: the replay counts live allocations at the
     * end. */
    if (bm_crypto_init() != BM_OK ||
        cf_chain_build(&chain, "fuzz-chain", 1, 8, 2) != BM_OK) {
        abort();
    }
    if (cf_temp_store_open("fuzz-cs", home, sizeof(home), &store) != BM_OK ||
        cf_store_write(store, &chain, 1, 4) != BM_OK) {
        abort();
    }
    memset(s32, 0x21, sizeof(s32));
    bm_privkey_from_seed(&key, s32);
    bm_p2p_host_config_init(&hc);
    hc.identity = &key;
    cc.genesis = &chain.genesis;
    cc.store = store;
    if (bm_p2p_host_new(&host, &hc, NULL) != BM_OK) {
        abort();
    }
    cc.host = host;
    if (bm_chainsync_new(&cs, &cc, NULL) != BM_OK) {
        abort();
    }
    net = (data[0] & 1) ? BM_CS_DATA : BM_CS_HEADERS;
    build(&chain, data[0], data + 1, size - 1, &msg);
    bm_chainsync_stats(cs, &before);
    v = bm_chainsync_check(cs, net, msg.ptr, msg.len, &why);
    bm_chainsync_stats(cs, &after);
    if ((v != BM_FLOODSUB_ACCEPT && v != BM_FLOODSUB_IGNORE &&
         v != BM_FLOODSUB_REJECT) ||
        (v != BM_FLOODSUB_ACCEPT &&
         strcmp(bm_chainsync_reason_name(why), "unknown") == 0) ||
        after.net[net].validated != before.net[net].validated + 1) {
        abort();
    }
    bm_buf_release(&msg);
    bm_chainsync_free(cs);
    bm_p2p_host_free(host);
    cf_temp_store_close(home, store);
    bm_privkey_wipe(&key);
    cf_chain_release(&chain);
    return 0;
}
