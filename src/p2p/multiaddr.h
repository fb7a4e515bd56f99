/*
 * Multiaddrs (spec section 2.3): the subset blockv2 dials, listens on and
 * reads from identify: /ip4, /ip6, /tcp and /p2p (with /ipfs read as an
 * old alias of /p2p), in that order, each at most once:
 *
 *     [ /ip4/<a.b.c.d> | /ip6/<addr> [ /tcp/<port> ] ] [ /p2p/<peer id> ]
 *
 * and not empty. Examples: /ip4/0.0.0.0/tcp/7676 (listen),
 * /ip4/1.2.3.4/tcp/7676/p2p/12D3KooW... (dial), /p2p/12D3KooW...
 *
 * Binary form: uvarint(code) || value per component; ip4 4 bytes, ip6 16,
 * tcp BE16, p2p uvarint(len) || 38-byte peer ID. Text form: /name/value;
 * ip6 is written as RFC 5952 (as Go: "::1", "::ffff:1.2.3.4" for mapped
 * IPv4); ports in decimal without leading zeros; peer IDs in base58btc.
 * Parsing text accepts what Go's go-multiaddr accepts for these
 * protocols (trailing slashes are dropped, ports may have leading zeros,
 * peer IDs may be CIDv1 text); formatting gives the canonical text, so
 * format(parse(x)) is a fixed point.
 *
 * Refused, with an error naming the component:
 *  - BM_EUNSUPPORTED: any other protocol (udp, quic-v1, dns4, ws, ...),
 *    named in the message when known, and peer IDs of non-Ed25519 keys;
 *    identify readers skip such addresses instead of failing;
 *  - BM_EPARSE (text) / BM_EDECODE, BM_ETRUNCATED, BM_EVARINT (binary):
 *    malformed values, components out of order or repeated, /tcp without
 *    an address, trailing bytes, empty address;
 *  - BM_ETOOBIG: text above BM_MULTIADDR_TEXT_MAX bytes, or a list above
 *    its cap. (Binary input needs no cap: decoding stops at the first
 *    component out of the shape above.)
 *
 * struct bm_multiaddr is a plain value (copy it freely). Conversions to
 * and from struct sockaddr are pure (no system calls).
 *
 * Thread-safety: pure functions, reentrant; no allocation.
 */
#ifndef BM_P2P_MULTIADDR_H
#define BM_P2P_MULTIADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "blockv2/err.h"
#include "p2p/peerid.h"

struct bm_errmsg;

/* Protocol codes (multicodec table). */
#define BM_MULTIADDR_IP4 4
#define BM_MULTIADDR_TCP 6
#define BM_MULTIADDR_IP6 41
#define BM_MULTIADDR_P2P 421

/* Longest binary form we produce or read: ip6 (17) + tcp (3) + p2p (41). */
#define BM_MULTIADDR_BIN_MAX 64
/* Longest text we read (longer input: BM_ETOOBIG). */
#define BM_MULTIADDR_TEXT_MAX 256
/* Room for any canonical text we write, with its NUL. */
#define BM_MULTIADDR_STR_SIZE 128

struct bm_multiaddr {
    uint8_t family; /* 0: no address, 4: ip4 (ip[0..4)), 6: ip6 */
    uint8_t ip[16]; /* network byte order */
    bool has_port;  /* a /tcp component (needs an address) */
    uint16_t port;
    bool has_peer; /* a /p2p component */
    struct bm_peer_id peer;
};

/*
 * Parses text s[0..n) (borrowed; need not be NUL-terminated) into *out.
 * Errors: BM_EPARSE, BM_EUNSUPPORTED, BM_ETOOBIG, with a message that
 * names the component ("multiaddr '/ip4/1.2.3/tcp/1': ip4: bad address
 * '1.2.3'"). On error *out is untouched.
 */
enum bm_err bm_multiaddr_parse(struct bm_multiaddr *out, const char *s,
                               size_t n, struct bm_errmsg *em);

/* Canonical text of ma and a NUL into out; returns its length. */
size_t bm_multiaddr_format(const struct bm_multiaddr *ma,
                           char out[BM_MULTIADDR_STR_SIZE]);

/*
 * Parses the binary form p[0..n) (borrowed: an identify listenAddrs or
 * observedAddr entry) into *out. Errors: BM_EUNSUPPORTED (unknown or
 * unsupported protocol code, named when known), BM_EDECODE, BM_ETRUNCATED,
 * BM_EVARINT. On error *out is untouched.
 */
enum bm_err bm_multiaddr_decode(struct bm_multiaddr *out, const uint8_t *p,
                                size_t n, struct bm_errmsg *em);

/* Binary form of ma into out; returns its length (<= BIN_MAX). */
size_t bm_multiaddr_encode(const struct bm_multiaddr *ma,
                           uint8_t out[BM_MULTIADDR_BIN_MAX]);

/* True when both describe the same address, port and peer. */
bool bm_multiaddr_eq(const struct bm_multiaddr *a,
                     const struct bm_multiaddr *b);

/* True when ma can be dialled: an address, a /tcp port and a /p2p ID. */
bool bm_multiaddr_is_dialable(const struct bm_multiaddr *ma);

/*
 * Parses a comma-separated list s (borrowed, NUL-terminated; e.g. the
 * p2p.peers config value) into out[0..max) and sets *count. White space
 * around entries is ignored and empty entries are skipped (so "" is an
 * empty list). With `dialable`, every entry must be /ip4|ip6/.../tcp/.../
 * p2p/... (BM_EPARSE otherwise). Errors name the entry by its position
 * and text: those of bm_multiaddr_parse, BM_ETOOBIG (more than max
 * entries). On error *count is 0 and out is unspecified.
 */
enum bm_err bm_multiaddr_parse_list(const char *s, bool dialable,
                                    struct bm_multiaddr *out, size_t max,
                                    size_t *count, struct bm_errmsg *em);

/*
 * The socket address of ma's address and port (port 0 without /tcp) into
 * *ss and *len (AF_INET or AF_INET6). BM_EINVAL when ma has no address.
 */
enum bm_err bm_multiaddr_to_sockaddr(const struct bm_multiaddr *ma,
                                     struct sockaddr_storage *ss,
                                     socklen_t *len);

/*
 * /ip4|ip6/.../tcp/<port> from a socket address sa (borrowed; AF_INET or
 * AF_INET6, len bytes), e.g. getpeername() for identify's observedAddr.
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
 * reports for an IPv4 peer) becomes /ip4, as Go's manet.FromIP does.
 * No /p2p.
 * BM_EINVAL for another family or a short len.
 */
enum bm_err bm_multiaddr_from_sockaddr(struct bm_multiaddr *out,
                                       const struct sockaddr *sa,
                                       socklen_t len);

#endif /* BM_P2P_MULTIADDR_H */
