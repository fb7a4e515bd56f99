#include "p2p/peerid.h"

#include "util/errmsg.h"

#include <string.h>

/* Identity multihash (00, length 36) of PublicKey{Type: Ed25519, Data}. */
static const uint8_t id_prefix[6] = {0x00, 0x24, 0x08, 0x01, 0x12, 0x20};
#define ID_PREFIX_LEN 6

/* CIDv1 (01) with the libp2p-key codec (72) before the multihash. */
static const uint8_t cid_prefix[2] = {0x01, 0x72};
#define CID_BIN_LEN (2 + BM_PEER_ID_SIZE)

static const char b58_alphabet[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

void bm_peer_id_from_key(struct bm_peer_id *out,
                         const uint8_t pub[BM_PUBKEY_SIZE])
{
    bm_peer_id_from_pubkey(pub, out->b);
}

void bm_peer_id_from_privkey(struct bm_peer_id *out,
                             const struct bm_privkey *key)
{
    bm_peer_id_from_pubkey(key->b + 32, out->b);
}

const uint8_t *bm_peer_id_key(const struct bm_peer_id *id)
{
    return id->b + ID_PREFIX_LEN;
}

bool bm_peer_id_eq(const struct bm_peer_id *a, const struct bm_peer_id *b)
{
    return memcmp(a->b, b->b, BM_PEER_ID_SIZE) == 0;
}

/* Name of a libp2p KeyType value, for messages. */
static const char *key_type_name(uint8_t t)
{
    switch (t) {
    case 0:
        return "RSA";
    case 2:
        return "secp256k1";
    case 3:
        return "ECDSA";
    default:
        return NULL;
    }
}

enum bm_err bm_peer_id_pubkey_decode(const uint8_t *p, size_t n,
                                     uint8_t pub[BM_PUBKEY_SIZE],
                                     struct bm_errmsg *em)
{
    /* A PublicKey protobuf starts with field 1 (Type, varint): 08 <type>.
     * Other key types are well-formed but not ours. */
    if (n >= 2 && p[0] == 0x08 && key_type_name(p[1]) != NULL) {
        return bm_errf(em, BM_EUNSUPPORTED,
                       "public key: %s keys are not supported, only Ed25519",
                       key_type_name(p[1]));
    }
    if (bm_pubkey_libp2p_decode(p, n, pub) != BM_OK) {
        return bm_errf(em, BM_EBADKEY,
                       "public key: %zu bytes, want the 36-byte Ed25519 "
                       "PublicKey 08 01 12 20 || key",
                       n);
    }
    return BM_OK;
}

enum bm_err bm_peer_id_decode(struct bm_peer_id *out, const uint8_t *p,
                              size_t n, struct bm_errmsg *em)
{
    if (n == BM_PEER_ID_SIZE && memcmp(p, id_prefix, ID_PREFIX_LEN) == 0) {
        memcpy(out->b, p, BM_PEER_ID_SIZE);
        return BM_OK;
    }
    /* sha2-256 multihash (12 20 || digest): the ID of a key too large to
     * inline (RSA, ECDSA). */
    if (n == 34 && p[0] == 0x12 && p[1] == 0x20) {
        return bm_errf(em, BM_EUNSUPPORTED,
                       "peer id: SHA-256 multihash (RSA or ECDSA key); only "
                       "Ed25519 peer IDs are supported");
    }
    /* identity multihash of a PublicKey of another type. */
    if (n >= 4 && p[0] == 0x00 && (size_t)p[1] + 2 == n && p[2] == 0x08 &&
        key_type_name(p[3]) != NULL) {
        return bm_errf(em, BM_EUNSUPPORTED,
                       "peer id: %s key; only Ed25519 peer IDs are supported",
                       key_type_name(p[3]));
    }
    return bm_errf(em, BM_EDECODE,
                   "peer id: %zu bytes, want the 38-byte Ed25519 identity "
                   "multihash 00 24 08 01 12 20 || key",
                   n);
}

/*
 * Base58btc text to bytes (big-endian base-58 number, each leading '1' a
 * leading zero byte). out has room for cap bytes; returns the length, or
 * -1 for a character outside the alphabet, -2 when it does not fit.
 */
static int b58_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint8_t num[BM_PEER_ID_TEXT_MAX]; /* little-endian base-256 digits */
    size_t len = 0, zeros = 0, i;

    while (zeros < n && s[zeros] == '1') {
        zeros++;
    }
    for (i = zeros; i < n; i++) {
        const char *d = memchr(b58_alphabet, s[i], 58);
        unsigned carry;
        if (d == NULL || s[i] == '\0') {
            return -1;
        }
        carry = (unsigned)(d - b58_alphabet);
        for (size_t j = 0; j < len; j++) {
            carry += (unsigned)num[j] * 58;
            num[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry > 0) {
            if (len == sizeof(num)) {
                return -2;
            }
            num[len++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    if (zeros + len > cap) {
        return -2;
    }
    memset(out, 0, zeros);
    for (i = 0; i < len; i++) {
        out[zeros + i] = num[len - 1 - i];
    }
    return (int)(zeros + len);
}

/*
 * RFC 4648 base32, lower case, no padding, to bytes. Strict: only the
 * lengths an encoder produces, and unused trailing bits must be zero, so
 * one text maps to one byte string. Returns the length or -1.
 */
static int b32_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t len = 0;
    size_t rem = n % 8;

    if (rem == 1 || rem == 3 || rem == 6) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *d = memchr(b32_alphabet, s[i], 32);
        if (d == NULL || s[i] == '\0') {
            return -1;
        }
        acc = (acc << 5) | (uint32_t)(d - b32_alphabet);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap) {
                return -1;
            }
            out[len++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return -1;
    }
    return (int)len;
}

enum bm_err bm_peer_id_parse(struct bm_peer_id *out, const char *s, size_t n,
                             struct bm_errmsg *em)
{
    uint8_t bin[BM_PEER_ID_TEXT_MAX];
    int len;

    if (n > BM_PEER_ID_TEXT_MAX) {
        return bm_errf(em, BM_ETOOBIG,
                       "peer id: %zu characters, above the %d limit", n,
                       BM_PEER_ID_TEXT_MAX);
    }
    if (n == 0) {
        return bm_errf(em, BM_EPARSE, "peer id: empty");
    }
    /* Go's peer.Decode: "Qm..." and "1..." are base58 multihashes;
     * anything else is a CID in some multibase. */
    if (s[0] == '1' || (n >= 2 && s[0] == 'Q' && s[1] == 'm')) {
        len = b58_decode(s, n, bin, sizeof(bin));
        if (len < 0) {
            return bm_errf(em, BM_EPARSE, "peer id '%.*s': not base58btc",
                           (int)n, s);
        }
        return bm_peer_id_decode(out, bin, (size_t)len, em);
    }
    if (s[0] != 'b') {
        return bm_errf(em, BM_EPARSE,
                       "peer id '%.*s': neither base58btc nor a CIDv1 in "
                       "base32 ('b')",
                       (int)n, s);
    }
    len = b32_decode(s + 1, n - 1, bin, sizeof(bin));
    if (len < 0) {
        return bm_errf(em, BM_EPARSE, "peer id '%.*s': bad base32", (int)n, s);
    }
    if (len < 2 || memcmp(bin, cid_prefix, 2) != 0) {
        return bm_errf(em, BM_EPARSE,
                       "peer id '%.*s': not a CIDv1 with the libp2p-key "
                       "codec (01 72)",
                       (int)n, s);
    }
    return bm_peer_id_decode(out, bin + 2, (size_t)len - 2, em);
}

void bm_peer_id_format(const struct bm_peer_id *id,
                       char out[BM_PEER_ID_STR_SIZE])
{
    bm_peer_id_string(bm_peer_id_key(id), out);
}

void bm_peer_id_format_cid(const struct bm_peer_id *id,
                           char out[BM_PEER_ID_CID_STR_SIZE])
{
    uint8_t bin[CID_BIN_LEN];
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t pos = 0;

    memcpy(bin, cid_prefix, 2);
    memcpy(bin + 2, id->b, BM_PEER_ID_SIZE);
    out[pos++] = 'b';
    for (size_t i = 0; i < sizeof(bin); i++) {
        acc = (acc << 8) | bin[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[pos++] = b32_alphabet[(acc >> bits) & 31];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0) {
        out[pos++] = b32_alphabet[(acc << (5 - bits)) & 31];
    }
    out[pos] = '\0';
}
