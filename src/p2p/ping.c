/* ping client and server accounting; see ping.h. */
#include "p2p/ping.h"

#include <string.h>

#include <sodium.h>

void bm_ping_start(struct bm_ping *p, uint64_t now_ns,
                   uint8_t out[BM_PING_SIZE])
{
    randombytes_buf(p->sent, sizeof(p->sent));
    memcpy(out, p->sent, BM_PING_SIZE);
    p->got_len = 0;
    p->t0_ns = now_ns;
    p->active = true;
}

int bm_ping_feed(struct bm_ping *p, const uint8_t *in, size_t n,
                 size_t *used, uint64_t now_ns, uint64_t *rtt_ns)
{
    size_t k;

    *used = 0;
    if (!p->active) {
        return BM_ESTATE;
    }
    k = BM_PING_SIZE - p->got_len < n ? BM_PING_SIZE - p->got_len : n;
    memcpy(p->got + p->got_len, in, k);
    p->got_len += k;
    *used = k;
    if (p->got_len < BM_PING_SIZE) {
        return 0;
    }
    p->active = false;
    if (sodium_memcmp(p->got, p->sent, BM_PING_SIZE) != 0) {
        return BM_EPROTO;
    }
    *rtt_ns = now_ns - p->t0_ns;
    return 1;
}

size_t bm_ping_server_feed(struct bm_ping_server *s, size_t n)
{
    size_t total = s->pending + n;

    s->pending = total % BM_PING_SIZE;
    return total / BM_PING_SIZE;
}
