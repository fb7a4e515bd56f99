#include "p2p/multiaddr.h"

#include "p2p/varint.h"
#include "util/errmsg.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Where a component may appear: address, then port, then peer. */
enum slot { SLOT_NONE, SLOT_ADDR, SLOT_PORT, SLOT_PEER };

/* Protocols we do not speak, so that errors can name them. */
static const struct {
    uint32_t code;
    const char *name;
} unsupported[] = {
    {33, "dccp"},      {42, "ip6zone"},
    {43, "ipcidr"},    {53, "dns"},
    {54, "dns4"},      {55, "dns6"},
    {56, "dnsaddr"},   {132, "sctp"},
    {273, "udp"},      {280, "webrtc-direct"},
    {281, "webrtc"},   {290, "p2p-circuit"},
    {301, "udt"},      {302, "utp"},
    {400, "unix"},     {443, "https"},
    {444, "onion"},    {445, "onion3"},
    {446, "garlic64"}, {447, "garlic32"},
    {448, "tls"},      {449, "sni"},
    {454, "noise"},    {460, "quic"},
    {461, "quic-v1"},  {465, "webtransport"},
    {466, "certhash"}, {477, "ws"},
    {478, "wss"},      {479, "p2p-websocket-star"},
    {480, "http"},     {481, "http-path"},
    {777, "memory"},
};

#define N_UNSUPPORTED (sizeof(unsupported) / sizeof(unsupported[0]))

static const char *unsupported_name(uint64_t code)
{
    for (size_t i = 0; i < N_UNSUPPORTED; i++) {
        if (unsupported[i].code == code) {
            return unsupported[i].name;
        }
    }
    return NULL;
}

static bool is_unsupported_name(const char *s, size_t n)
{
    for (size_t i = 0; i < N_UNSUPPORTED; i++) {
        if (strlen(unsupported[i].name) == n &&
            memcmp(unsupported[i].name, s, n) == 0) {
            return true;
        }
    }
    return false;
}

/* How much of the input to quote in a message. */
#define QUOTE_MAX 120
#define QLEN(n) ((int)((n) < QUOTE_MAX ? (n) : QUOTE_MAX))

/* ---- text ---- */

static bool token_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

static bool parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned v = 0;

    if (n == 0 || n > 5) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535) {
        return false;
    }
    *port = (uint16_t)v;
    return true;
}

/* inet_pton wants a NUL-terminated string: copy the value (short). */
static bool parse_ip(int af, const char *s, size_t n, uint8_t ip[16])
{
    char buf[INET6_ADDRSTRLEN];

    if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n) != NULL) {
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(af, buf, ip) == 1;
}

enum bm_err bm_multiaddr_parse(struct bm_multiaddr *out, const char *s,
                               size_t n, struct bm_errmsg *em)
{
    struct bm_multiaddr ma = {0};
    enum slot at = SLOT_NONE;
    size_t end, pos;

    if (s == NULL) {
        s = "";
        n = 0;
    }
    end = n;
    if (n > BM_MULTIADDR_TEXT_MAX) {
        return bm_errf(em, BM_ETOOBIG,
                       "multiaddr: %zu characters, above the %d limit", n,
                       BM_MULTIADDR_TEXT_MAX);
    }
    if (n == 0 || s[0] != '/') {
        return bm_errf(em, BM_EPARSE, "multiaddr '%.*s': must begin with '/'",
                       QLEN(n), s);
    }
    /* Go's go-multiaddr drops trailing slashes. */
    while (end > 0 && s[end - 1] == '/') {
        end--;
    }
    if (end == 0) {
        return bm_errf(em, BM_EPARSE, "multiaddr '%.*s': empty", QLEN(n), s);
    }
    pos = 1;
    while (pos <= end) {
        const char *name = s + pos, *val;
        size_t name_len, val_len;
        const char *slash = memchr(name, '/', end - pos);

        name_len = slash != NULL ? (size_t)(slash - name) : end - pos;
        pos += name_len + 1;
        if (name_len == 0) {
            return bm_errf(em, BM_EPARSE,
                           "multiaddr '%.*s': empty protocol name", QLEN(n), s);
        }
        if (is_unsupported_name(name, name_len)) {
            return bm_errf(em, BM_EUNSUPPORTED,
                           "multiaddr '%.*s': protocol '%.*s' is not "
                           "supported (only ip4, ip6, tcp, p2p)",
                           QLEN(n), s, (int)name_len, name);
        }
        if (!token_is(name, name_len, "ip4") &&
            !token_is(name, name_len, "ip6") &&
            !token_is(name, name_len, "tcp") &&
            !token_is(name, name_len, "p2p") &&
            !token_is(name, name_len, "ipfs")) {
            return bm_errf(em, BM_EPARSE,
                           "multiaddr '%.*s': unknown protocol '%.*s'", QLEN(n),
                           s, QLEN(name_len), name);
        }
        if (pos > end) {
            return bm_errf(em, BM_EPARSE,
                           "multiaddr '%.*s': %.*s: missing value", QLEN(n), s,
                           (int)name_len, name);
        }
        val = s + pos;
        slash = memchr(val, '/', end - pos);
        val_len = slash != NULL ? (size_t)(slash - val) : end - pos;
        pos += val_len + 1;

        if (name[0] == 'i' && name[1] == 'p' && name_len == 3) {
            int af = name[2] == '4' ? AF_INET : AF_INET6;
            if (at != SLOT_NONE) {
                return bm_errf(em, BM_EPARSE,
                               "multiaddr '%.*s': %.*s: an address must come "
                               "first and only once",
                               QLEN(n), s, (int)name_len, name);
            }
            if (!parse_ip(af, val, val_len, ma.ip)) {
                return bm_errf(
                    em, BM_EPARSE, "multiaddr '%.*s': %.*s: bad address '%.*s'",
                    QLEN(n), s, (int)name_len, name, QLEN(val_len), val);
            }
            ma.family = af == AF_INET ? 4 : 6;
            at = SLOT_ADDR;
        } else if (name[0] == 't') {
            if (at != SLOT_ADDR) {
                return bm_errf(em, BM_EPARSE,
                               "multiaddr '%.*s': tcp: must follow one ip4 "
                               "or ip6 address",
                               QLEN(n), s);
            }
            if (!parse_port(val, val_len, &ma.port)) {
                return bm_errf(em, BM_EPARSE,
                               "multiaddr '%.*s': tcp: bad port '%.*s'",
                               QLEN(n), s, QLEN(val_len), val);
            }
            ma.has_port = true;
            at = SLOT_PORT;
        } else {
            struct bm_errmsg inner;
            enum bm_err err;
            if (at == SLOT_PEER) {
                return bm_errf(em, BM_EPARSE, "multiaddr '%.*s': p2p: repeated",
                               QLEN(n), s);
            }
            err = bm_peer_id_parse(&ma.peer, val, val_len, &inner);
            if (err != BM_OK) {
                return bm_errf(em, err, "multiaddr '%.*s': p2p: %s", QLEN(n), s,
                               inner.msg);
            }
            ma.has_peer = true;
            at = SLOT_PEER;
        }
    }
    *out = ma;
    return BM_OK;
}

/* RFC 5952 text of a 16-byte IPv6 address (as Go's net.IP.String, with
 * go-multiaddr's "::ffff:" for mapped IPv4). Returns the length. */
static size_t format_ip6(const uint8_t ip[16], char *out)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    uint16_t g[8];
    int best = -1, best_len = 0;
    size_t pos = 0;

    if (memcmp(ip, mapped, sizeof(mapped)) == 0) {
        return (size_t)snprintf(out, 48, "::ffff:%u.%u.%u.%u", ip[12], ip[13],
                                ip[14], ip[15]);
    }
    for (int i = 0; i < 8; i++) {
        g[i] = (uint16_t)(ip[2 * i] << 8 | ip[2 * i + 1]);
    }
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0) {
            j++;
        }
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    if (best_len < 2) {
        best = -1;
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            out[pos++] = ':';
            out[pos++] = ':';
            i += best_len - 1;
            continue;
        }
        if (pos > 0 && out[pos - 1] != ':') {
            out[pos++] = ':';
        }
        pos += (size_t)snprintf(out + pos, 8, "%x", g[i]);
    }
    out[pos] = '\0';
    return pos;
}

size_t bm_multiaddr_format(const struct bm_multiaddr *ma,
                           char out[BM_MULTIADDR_STR_SIZE])
{
    size_t pos = 0;

    out[0] = '\0';
    if (ma->family == 4) {
        pos += (size_t)snprintf(out, BM_MULTIADDR_STR_SIZE, "/ip4/%u.%u.%u.%u",
                                ma->ip[0], ma->ip[1], ma->ip[2], ma->ip[3]);
    } else if (ma->family == 6) {
        memcpy(out, "/ip6/", 5);
        pos = 5 + format_ip6(ma->ip, out + 5);
    }
    if (ma->family != 0 && ma->has_port) {
        pos += (size_t)snprintf(out + pos, BM_MULTIADDR_STR_SIZE - pos,
                                "/tcp/%u", ma->port);
    }
    if (ma->has_peer) {
        char id[BM_PEER_ID_STR_SIZE];
        size_t len;
        bm_peer_id_format(&ma->peer, id);
        len = strlen(id);
        memcpy(out + pos, "/p2p/", 5);
        memcpy(out + pos + 5, id, len + 1);
        pos += 5 + len;
    }
    return pos;
}

/* ---- binary ---- */

enum bm_err bm_multiaddr_decode(struct bm_multiaddr *out, const uint8_t *p,
                                size_t n, struct bm_errmsg *em)
{
    struct bm_multiaddr ma = {0};
    enum slot at = SLOT_NONE;
    size_t pos = 0;

    if (n == 0) {
        return bm_errf(em, BM_EDECODE, "multiaddr: empty");
    }
    while (pos < n) {
        uint64_t code;
        int r = bm_varint_get(p + pos, n - pos, &code);
        if (r == 0) {
            return bm_errf(em, BM_ETRUNCATED,
                           "multiaddr: truncated protocol code at byte %zu",
                           pos);
        }
        if (r < 0) {
            return bm_errf(em, BM_EVARINT,
                           "multiaddr: bad protocol code varint at byte %zu",
                           pos);
        }
        pos += (size_t)r;
        switch (code) {
        case BM_MULTIADDR_IP4:
        case BM_MULTIADDR_IP6: {
            size_t len = code == BM_MULTIADDR_IP4 ? 4 : 16;
            const char *name = code == BM_MULTIADDR_IP4 ? "ip4" : "ip6";
            if (at != SLOT_NONE) {
                return bm_errf(em, BM_EDECODE,
                               "multiaddr: %s: an address must come first "
                               "and only once",
                               name);
            }
            if (n - pos < len) {
                return bm_errf(em, BM_ETRUNCATED,
                               "multiaddr: %s: %zu bytes left, want %zu", name,
                               n - pos, len);
            }
            memcpy(ma.ip, p + pos, len);
            ma.family = code == BM_MULTIADDR_IP4 ? 4 : 6;
            pos += len;
            at = SLOT_ADDR;
            break;
        }
        case BM_MULTIADDR_TCP:
            if (at != SLOT_ADDR) {
                return bm_errf(em, BM_EDECODE,
                               "multiaddr: tcp: must follow one ip4 or ip6 "
                               "address");
            }
            if (n - pos < 2) {
                return bm_errf(em, BM_ETRUNCATED,
                               "multiaddr: tcp: %zu bytes left, want 2",
                               n - pos);
            }
            ma.port = (uint16_t)(p[pos] << 8 | p[pos + 1]);
            ma.has_port = true;
            pos += 2;
            at = SLOT_PORT;
            break;
        case BM_MULTIADDR_P2P: {
            uint64_t len;
            struct bm_errmsg inner;
            enum bm_err err;
            if (at == SLOT_PEER) {
                return bm_errf(em, BM_EDECODE, "multiaddr: p2p: repeated");
            }
            r = bm_varint_get(p + pos, n - pos, &len);
            if (r == 0) {
                return bm_errf(em, BM_ETRUNCATED,
                               "multiaddr: p2p: truncated length");
            }
            if (r < 0) {
                return bm_errf(em, BM_EVARINT,
                               "multiaddr: p2p: bad length varint");
            }
            pos += (size_t)r;
            if (len > n - pos) {
                return bm_errf(em, BM_ETRUNCATED,
                               "multiaddr: p2p: %zu bytes left, want %llu",
                               n - pos, (unsigned long long)len);
            }
            err = bm_peer_id_decode(&ma.peer, p + pos, (size_t)len, &inner);
            if (err != BM_OK) {
                return bm_errf(em, err, "multiaddr: p2p: %s", inner.msg);
            }
            ma.has_peer = true;
            pos += (size_t)len;
            at = SLOT_PEER;
            break;
        }
        default: {
            const char *name = unsupported_name(code);
            if (name != NULL) {
                return bm_errf(em, BM_EUNSUPPORTED,
                               "multiaddr: protocol '%s' (code %llu) is not "
                               "supported (only ip4, ip6, tcp, p2p)",
                               name, (unsigned long long)code);
            }
            return bm_errf(em, BM_EUNSUPPORTED,
                           "multiaddr: unknown protocol code %llu",
                           (unsigned long long)code);
        }
        }
    }
    *out = ma;
    return BM_OK;
}

size_t bm_multiaddr_encode(const struct bm_multiaddr *ma,
                           uint8_t out[BM_MULTIADDR_BIN_MAX])
{
    size_t pos = 0;

    if (ma->family == 4 || ma->family == 6) {
        size_t len = ma->family == 4 ? 4 : 16;
        out[pos++] = ma->family == 4 ? BM_MULTIADDR_IP4 : BM_MULTIADDR_IP6;
        memcpy(out + pos, ma->ip, len);
        pos += len;
        if (ma->has_port) {
            out[pos++] = BM_MULTIADDR_TCP;
            out[pos++] = (uint8_t)(ma->port >> 8);
            out[pos++] = (uint8_t)ma->port;
        }
    }
    if (ma->has_peer) {
        pos += bm_varint_put(BM_MULTIADDR_P2P, out + pos);
        out[pos++] = BM_PEER_ID_SIZE;
        memcpy(out + pos, ma->peer.b, BM_PEER_ID_SIZE);
        pos += BM_PEER_ID_SIZE;
    }
    return pos;
}

bool bm_multiaddr_eq(const struct bm_multiaddr *a, const struct bm_multiaddr *b)
{
    size_t iplen = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;

    if (a->family != b->family || memcmp(a->ip, b->ip, iplen) != 0) {
        return false;
    }
    if (a->has_port != b->has_port || (a->has_port && a->port != b->port)) {
        return false;
    }
    return a->has_peer == b->has_peer &&
           (!a->has_peer || bm_peer_id_eq(&a->peer, &b->peer));
}

bool bm_multiaddr_is_dialable(const struct bm_multiaddr *ma)
{
    return ma->family != 0 && ma->has_port && ma->has_peer;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum bm_err bm_multiaddr_parse_list(const char *s, bool dialable,
                                    struct bm_multiaddr *out, size_t max,
                                    size_t *count, struct bm_errmsg *em)
{
    size_t n = 0, entry = 0;
    const char *p = s;

    *count = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma != NULL ? comma : p + strlen(p);
        const char *b = p;
        struct bm_errmsg inner;
        enum bm_err err;

        entry++;
        while (b < e && is_space(*b)) {
            b++;
        }
        while (e > b && is_space(e[-1])) {
            e--;
        }
        if (e > b) {
            if (n == max) {
                return bm_errf(em, BM_ETOOBIG,
                               "entry %zu: more than %zu addresses", entry,
                               max);
            }
            err = bm_multiaddr_parse(&out[n], b, (size_t)(e - b), &inner);
            if (err != BM_OK) {
                return bm_errf(em, err, "entry %zu: %s", entry, inner.msg);
            }
            if (dialable && !bm_multiaddr_is_dialable(&out[n])) {
                return bm_errf(em, BM_EPARSE,
                               "entry %zu: multiaddr '%.*s': not dialable: "
                               "want /ip4|ip6/<address>/tcp/<port>/p2p/<id>",
                               entry, QLEN((size_t)(e - b)), b);
            }
            n++;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    *count = n;
    return BM_OK;
}

/* ---- sockets ---- */

enum bm_err bm_multiaddr_to_sockaddr(const struct bm_multiaddr *ma,
                                     struct sockaddr_storage *ss,
                                     socklen_t *len)
{
    uint16_t port = ma->has_port ? ma->port : 0;

    memset(ss, 0, sizeof(*ss));
    if (ma->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        memcpy(&in->sin_addr, ma->ip, 4);
        *len = sizeof(*in);
        return BM_OK;
    }
    if (ma->family == 6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        memcpy(&in6->sin6_addr, ma->ip, 16);
        *len = sizeof(*in6);
        return BM_OK;
    }
    return BM_EINVAL;
}

enum bm_err bm_multiaddr_from_sockaddr(struct bm_multiaddr *out,
                                       const struct sockaddr *sa, socklen_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    struct bm_multiaddr ma = {0};

    if (sa->sa_family == AF_INET &&
        len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof(in));
        ma.family = 4;
        memcpy(ma.ip, &in.sin_addr, 4);
        ma.port = ntohs(in.sin_port);
    } else if (sa->sa_family == AF_INET6 &&
               len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof(in6));
        if (memcmp(&in6.sin6_addr, mapped, sizeof(mapped)) == 0) {
            ma.family = 4;
            memcpy(ma.ip, (const uint8_t *)&in6.sin6_addr + 12, 4);
        } else {
            ma.family = 6;
            memcpy(ma.ip, &in6.sin6_addr, 16);
        }
        ma.port = ntohs(in6.sin6_port);
    } else {
        return BM_EINVAL;
    }
    ma.has_port = true;
    *out = ma;
    return BM_OK;
}
