/*
 * ping (`/ipfs/ping/1.0.0`, spec section 7), sans-IO.
 *
 * Client: writes 32 random bytes, reads 32 back, compares, may repeat,
 * then half-closes. Server: echoes what it reads in 32-byte rounds until
 * EOF, then half-closes; the host resets a server stream whose round takes
 * over BM_PING_ROUND_MS or that lives over BM_PING_LIFETIME_MS (Go's 10 s
 * and 30 s) and allows BM_PING_STREAMS_MAX ping streams per peer.
 *
 * Thread-safety: none needed; plain values.
 */
#ifndef BM_P2P_PING_H
#define BM_P2P_PING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

#define BM_PING_PROTOCOL "/ipfs/ping/1.0.0"
#define BM_PING_SIZE 32u
#define BM_PING_ROUND_MS 10000u
#define BM_PING_LIFETIME_MS 30000u
#define BM_PING_STREAMS_MAX 2u

/* One client round. Zero-initialise. */
struct bm_ping {
    uint8_t sent[BM_PING_SIZE];
    uint8_t got[BM_PING_SIZE];
    size_t got_len;
    uint64_t t0_ns;
    bool active;
};

/* Starts a round at now_ns: fills out with the 32 random bytes to send. */
void bm_ping_start(struct bm_ping *p, uint64_t now_ns,
                   uint8_t out[BM_PING_SIZE]);

/*
 * Consumes reply bytes in[0..n) (borrowed) of the active round; sets
 * *used. Returns 0 (need more), 1 when the round is complete (*rtt_ns set;
 * the round is no longer active; bytes after it are not consumed), or
 * BM_EPROTO if the echo differs, BM_ESTATE if no round is active.
 */
int bm_ping_feed(struct bm_ping *p, const uint8_t *in, size_t n,
                 size_t *used, uint64_t now_ns, uint64_t *rtt_ns);

/* Server side: bytes of a partial round. Zero-initialise. */
struct bm_ping_server {
    size_t pending; /* bytes of the current round received so far */
};

/*
 * Server: accounts n received bytes (which the caller echoes as they
 * arrive; the echo is byte for byte, so rounds need no buffering).
 * Returns the number of rounds completed by these bytes.
 */
size_t bm_ping_server_feed(struct bm_ping_server *s, size_t n);

#endif /* BM_P2P_PING_H */
