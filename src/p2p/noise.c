#include "p2p/noise.h"

#include "p2p/varint.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#include <sodium.h>

#include <string.h>

/* The protocol name is exactly 32 bytes, so h starts as the name itself
 * (neither padded nor hashed; Noise rev. 34 section 5.2). */
static const char protocol_name[] = "Noise_XX_25519_ChaChaPoly_SHA256";
_Static_assert(sizeof(protocol_name) - 1 == 32, "protocol name length");

#define KEY_LEN 32
#define SIG_PREFIX_LEN (sizeof(BM_NOISE_SIG_PREFIX) - 1)
/* Encoded size of our muxer list (the extensions' body) at most. */
#define MUXERS_ENC_MAX 256
/* Our payload: 0a 24 key, 12 40 sig, 22 len(2) extensions. */
#define PAYLOAD_MAX (2 + 36 + 2 + 64 + 3 + MUXERS_ENC_MAX)
/* At most this many muxers in our list. */
#define MUXERS_MAX 8
/* Longest muxer protocol ID we send. */
#define MUXER_ID_MAX 255
/* Go ignores muxer lists longer than this (GL transport.go). */
#define MUXERS_LIST_MAX 100

/* The payload buffer also holds test payloads. */
#define PAYLOAD_BUF BM_NOISE_PAYLOAD_OVERRIDE_MAX

_Static_assert(PAYLOAD_MAX <= PAYLOAD_BUF, "our payload fits its buffer");
_Static_assert(2 + 32 + 48 + PAYLOAD_BUF + 16 <= BM_NOISE_HS_OUT_MAX,
               "message 2 fits the handshake output bound");

enum hs_state {
    HS_FAILED = 0,
    HS_I_SEND1, /* initiator: write message 1 */
    HS_I_READ2, /* initiator: read message 2, write message 3 */
    HS_R_READ1, /* responder: read message 1, write message 2 */
    HS_R_READ3, /* responder: read message 3 */
    HS_DONE,
    HS_FINISHED, /* keys handed out by bm_noise_hs_finish */
};

struct bm_noise_hs {
    enum bm_noise_role role;
    enum hs_state state;
    /* symmetric state */
    uint8_t h[32];
    uint8_t ck[32];
    uint8_t k[KEY_LEN];
    uint64_t n;
    bool has_k;
    /* our keys */
    uint8_t s_priv[32], s_pub[32];
    uint8_t e_priv[32], e_pub[32];
    /* the remote's */
    uint8_t re[32];
    bool has_expected;
    struct bm_peer_id expected;
    struct bm_noise_remote remote;
    /* our payload, signed at creation */
    bool we_list_yamux;
    bool we_list_muxers;
    size_t payload_len;
    uint8_t payload[PAYLOAD_BUF];
};

/* ---- primitives (spec 4.2) ---- */

static void hmac(const uint8_t key[32], const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, a, alen);
    if (blen > 0) {
        crypto_auth_hmacsha256_update(&st, b, blen);
    }
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* HKDF with two outputs: t = HMAC(ck, ikm); o1 = HMAC(t, 01);
 * o2 = HMAC(t, o1 || 02). */
static void hkdf(const uint8_t ck[32], const uint8_t *ikm, size_t ikm_len,
                 uint8_t o1[32], uint8_t o2[32])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t t[32], a[32];

    hmac(ck, ikm, ikm_len, NULL, 0, t);
    hmac(t, &one, 1, NULL, 0, a);
    hmac(t, a, 32, &two, 1, o2);
    memcpy(o1, a, 32);
    sodium_memzero(t, sizeof(t));
    sodium_memzero(a, sizeof(a));
}

static void nonce_bytes(uint64_t n, uint8_t out[12])
{
    memset(out, 0, 4);
    bm_put_le64(out + 4, n);
}

static void mix_hash(struct bm_noise_hs *hs, const uint8_t *d, size_t len)
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, hs->h, 32);
    crypto_hash_sha256_update(&st, d, len);
    crypto_hash_sha256_final(&st, hs->h);
}

static void mix_key(struct bm_noise_hs *hs, const uint8_t ikm[32])
{
    hkdf(hs->ck, ikm, 32, hs->ck, hs->k);
    hs->n = 0;
    hs->has_k = true;
}

/* c = ENCRYPT(k, n++, ad = h, p) (or p itself without a key); MixHash(c).
 * out has room for len + 16; returns the ciphertext length. */
static size_t encrypt_and_hash(struct bm_noise_hs *hs, const uint8_t *p,
                               size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long clen = len;

    if (hs->has_k) {
        nonce_bytes(hs->n, nonce);
        crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, p, len, hs->h, 32,
                                                  NULL, nonce, hs->k);
        hs->n++;
    } else if (len > 0) {
        memmove(out, p, len);
    }
    mix_hash(hs, out, (size_t)clen);
    return (size_t)clen;
}

/* The mirror image: the AD is h before MixHash(c). out has room for
 * len - 16 (with a key) or len. BM_EPROTO (shorter than a tag), BM_EAUTH.
 */
static int decrypt_and_hash(struct bm_noise_hs *hs, const uint8_t *c,
                            size_t len, uint8_t *out, size_t *out_len)
{
    uint8_t nonce[12];
    unsigned long long mlen = len;

    if (hs->has_k) {
        if (len < BM_NOISE_TAG_SIZE) {
            return BM_EPROTO;
        }
        nonce_bytes(hs->n, nonce);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(
                out, &mlen, NULL, c, len, hs->h, 32, nonce, hs->k) != 0) {
            return BM_EAUTH;
        }
        hs->n++;
    } else if (len > 0) {
        memcpy(out, c, len);
    }
    mix_hash(hs, c, len);
    *out_len = (size_t)mlen;
    return BM_OK;
}

/* MixKey(DH(priv, pub)); BM_ECRYPTO on an all-zero result. */
static int mix_dh(struct bm_noise_hs *hs, const uint8_t priv[32],
                  const uint8_t pub[32])
{
    uint8_t shared[32];
    int err = BM_OK;

    if (crypto_scalarmult(shared, priv, pub) != 0) {
        err = BM_ECRYPTO;
    } else {
        mix_key(hs, shared);
    }
    sodium_memzero(shared, sizeof(shared));
    return err;
}

/* ---- the handshake payload (spec 4.5) ---- */

static size_t put_field(uint8_t *out, uint8_t tag, const void *p, size_t len)
{
    size_t pos = 0;

    out[pos++] = tag;
    pos += bm_varint_put(len, out + pos);
    memcpy(out + pos, p, len);
    return pos + len;
}

int bm_noise_payload_encode(const struct bm_privkey *identity,
                            const uint8_t static_pub[32],
                            const char *const *muxers, size_t n_muxers,
                            uint8_t *out, size_t cap)
{
    uint8_t key[BM_LIBP2P_PUBKEY_SIZE];
    uint8_t msg[SIG_PREFIX_LEN + 32];
    uint8_t sig[crypto_sign_BYTES];
    uint8_t ext[MUXERS_ENC_MAX];
    size_t ext_len = 0, need, pos = 0;

    for (size_t i = 0; i < n_muxers; i++) {
        size_t len = strlen(muxers[i]);
        if (len == 0 || len > MUXER_ID_MAX || ext_len + 3 + len > sizeof(ext)) {
            return BM_EINVAL;
        }
        ext_len += put_field(ext + ext_len, 0x12, muxers[i], len);
    }
    need = 2 + sizeof(key) + 2 + sizeof(sig) +
           (n_muxers > 0 ? 1 + bm_varint_size(ext_len) + ext_len : 0);
    if (cap < need) {
        return BM_ETOOBIG;
    }
    bm_pubkey_libp2p_encode(identity->b + 32, key);
    memcpy(msg, BM_NOISE_SIG_PREFIX, SIG_PREFIX_LEN);
    memcpy(msg + SIG_PREFIX_LEN, static_pub, 32);
    if (crypto_sign_detached(sig, NULL, msg, sizeof(msg), identity->b) != 0) {
        return BM_ECRYPTO;
    }
    pos += put_field(out + pos, 0x0a, key, sizeof(key));
    pos += put_field(out + pos, 0x12, sig, sizeof(sig));
    if (n_muxers > 0) {
        pos += put_field(out + pos, 0x22, ext, ext_len);
    }
    return (int)pos;
}

/*
 * Reads one field at p[*pos..n): its number and wire type, and for wire
 * type 2 the bounds of its value (*val, *val_len); values of the other
 * scalar wire types are stepped over (*val stays NULL). Groups and wire
 * types 6, 7 are BM_EDECODE, as is field number 0.
 */
static int next_field(const uint8_t *p, size_t n, size_t *pos, uint64_t *field,
                      unsigned *wt, const uint8_t **val, size_t *val_len)
{
    uint64_t tag, v;
    size_t skip;
    int r = bm_varint_get_pb(p + *pos, n - *pos, &tag);

    if (r <= 0) {
        return r == 0 ? BM_ETRUNCATED : r;
    }
    *pos += (size_t)r;
    *field = tag >> 3;
    *wt = (unsigned)(tag & 7);
    *val = NULL;
    *val_len = 0;
    if (*field == 0) {
        return BM_EDECODE;
    }
    switch (*wt) {
    case 0:
    case 2:
        r = bm_varint_get_pb(p + *pos, n - *pos, &v);
        if (r <= 0) {
            return r == 0 ? BM_ETRUNCATED : r;
        }
        *pos += (size_t)r;
        if (*wt == 0) {
            return BM_OK;
        }
        if (v > n - *pos) {
            return BM_ETRUNCATED;
        }
        *val = p + *pos;
        *val_len = (size_t)v;
        skip = (size_t)v;
        break;
    case 1:
        skip = 8;
        break;
    case 5:
        skip = 4;
        break;
    default:
        return BM_EDECODE;
    }
    if (n - *pos < skip) {
        return BM_ETRUNCATED;
    }
    *pos += skip;
    return BM_OK;
}

static int decode_extensions(struct bm_noise_payload *out, const uint8_t *p,
                             size_t n)
{
    static const char yamux[] = BM_NOISE_YAMUX_ID;
    size_t pos = 0;

    while (pos < n) {
        uint64_t field;
        unsigned wt;
        const uint8_t *val;
        size_t len;
        int err = next_field(p, n, &pos, &field, &wt, &val, &len);
        if (err != BM_OK) {
            return err;
        }
        /* 1: webtransport_certhashes (ignored), 2: stream_muxers */
        if ((field == 1 || field == 2) && wt != 2) {
            return BM_EDECODE;
        }
        if (field == 2) {
            out->n_muxers++;
            if (len == sizeof(yamux) - 1 && memcmp(val, yamux, len) == 0) {
                out->lists_yamux = true;
            }
        }
    }
    return BM_OK;
}

static int payload_decode(struct bm_noise_payload *out, const uint8_t *p,
                          size_t n)
{
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    while (pos < n) {
        uint64_t field;
        unsigned wt;
        const uint8_t *val;
        size_t len;
        int err = next_field(p, n, &pos, &field, &wt, &val, &len);
        if (err != BM_OK) {
            return err;
        }
        if ((field == 1 || field == 2 || field == 4) && wt != 2) {
            return BM_EDECODE;
        }
        if (field == 1) {
            out->identity_key = val;
            out->identity_key_len = len;
        } else if (field == 2) {
            out->identity_sig = val;
            out->identity_sig_len = len;
        } else if (field == 4) {
            /* A repeated message field merges (proto2). */
            err = decode_extensions(out, val, len);
            if (err != BM_OK) {
                return err;
            }
        }
    }
    out->has_muxers = out->n_muxers > 0 && out->n_muxers <= MUXERS_LIST_MAX;
    if (!out->has_muxers) {
        out->lists_yamux = false;
    }
    return BM_OK;
}

enum bm_err bm_noise_payload_decode(struct bm_noise_payload *out,
                                    const uint8_t *p, size_t n,
                                    struct bm_errmsg *em)
{
    struct bm_noise_payload t;
    int err = payload_decode(&t, p, n);

    if (err != BM_OK) {
        return bm_errf(em, err, "noise: handshake payload: %s",
                       err == BM_ETRUNCATED ? "truncated"
                       : err == BM_EVARINT  ? "bad varint"
                                            : "malformed protobuf");
    }
    *out = t;
    return BM_OK;
}

/* ---- handshake ---- */

static void wipe_secrets(struct bm_noise_hs *hs)
{
    sodium_memzero(hs->ck, sizeof(hs->ck));
    sodium_memzero(hs->k, sizeof(hs->k));
    sodium_memzero(hs->s_priv, sizeof(hs->s_priv));
    sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
}

static int hs_fail(struct bm_noise_hs *hs, int err)
{
    hs->state = HS_FAILED;
    wipe_secrets(hs);
    return err;
}

static void keypair(const uint8_t *fixed, uint8_t priv[32], uint8_t pub[32])
{
    if (fixed != NULL) {
        memcpy(priv, fixed, 32);
    } else {
        randombytes_buf(priv, 32);
    }
    crypto_scalarmult_base(pub, priv);
}

enum bm_err bm_noise_hs_new(const struct bm_noise_config *cfg,
                            struct bm_noise_hs **out)
{
    static const char *const yamux_only[] = {BM_NOISE_YAMUX_ID};
    const char *const *muxers = yamux_only;
    size_t n_muxers = 1;
    struct bm_noise_hs *hs;
    int len;

    *out = NULL;
    if (cfg == NULL || cfg->identity == NULL ||
        (cfg->role != BM_NOISE_INITIATOR && cfg->role != BM_NOISE_RESPONDER) ||
        (cfg->muxers == NULL && cfg->n_muxers > 0)) {
        return BM_EINVAL;
    }
    if (cfg->no_muxers) {
        n_muxers = 0;
    } else if (cfg->muxers != NULL) {
        muxers = cfg->muxers;
        n_muxers = cfg->n_muxers;
    }
    if (n_muxers > MUXERS_MAX) {
        return BM_EINVAL;
    }
    if (bm_crypto_init() != BM_OK) {
        return BM_ECRYPTO;
    }
    hs = bm_calloc(1, sizeof(*hs));
    if (hs == NULL) {
        return BM_ENOMEM;
    }
    hs->role = cfg->role;
    if (cfg->expected != NULL) {
        hs->has_expected = true;
        hs->expected = *cfg->expected;
    }
    keypair(cfg->static_key, hs->s_priv, hs->s_pub);
    keypair(cfg->ephemeral_key, hs->e_priv, hs->e_pub);
    len = bm_noise_payload_encode(cfg->identity, hs->s_pub, muxers, n_muxers,
                                  hs->payload, sizeof(hs->payload));
    if (len < 0) {
        bm_noise_hs_free(hs);
        return len == BM_ETOOBIG ? BM_EINVAL : (enum bm_err)len;
    }
    hs->payload_len = (size_t)len;
    if (cfg->payload_override != NULL) {
        if (cfg->payload_override_len > sizeof(hs->payload)) {
            bm_noise_hs_free(hs);
            return BM_EINVAL;
        }
        memcpy(hs->payload, cfg->payload_override, cfg->payload_override_len);
        hs->payload_len = cfg->payload_override_len;
    }
    hs->we_list_muxers = n_muxers > 0;
    for (size_t i = 0; i < n_muxers; i++) {
        if (strcmp(muxers[i], BM_NOISE_YAMUX_ID) == 0) {
            hs->we_list_yamux = true;
        }
    }
    /* Initialise: h = the name (32 bytes), ck = h, then MixHash of the
     * empty prologue. */
    memcpy(hs->h, protocol_name, 32);
    memcpy(hs->ck, hs->h, 32);
    mix_hash(hs, NULL, 0);
    hs->state = cfg->role == BM_NOISE_INITIATOR ? HS_I_SEND1 : HS_R_READ1;
    *out = hs;
    return BM_OK;
}

void bm_noise_hs_free(struct bm_noise_hs *hs)
{
    if (hs == NULL) {
        return;
    }
    sodium_memzero(hs, sizeof(*hs));
    bm_free(hs);
}

const uint8_t *bm_noise_hs_hash(const struct bm_noise_hs *hs)
{
    return hs->h;
}

/* Checks the remote payload (decrypted) against the static key rs, in
 * Go's order, and decides the muxer. */
static int check_payload(struct bm_noise_hs *hs, const uint8_t *p, size_t n,
                         const uint8_t rs[32], struct bm_errmsg *em)
{
    struct bm_noise_payload pl;
    struct bm_errmsg inner;
    uint8_t msg[SIG_PREFIX_LEN + 32];
    int err;

    err = bm_noise_payload_decode(&pl, p, n, em);
    if (err != BM_OK) {
        return err;
    }
    if (pl.identity_key == NULL) {
        return bm_errf(em, BM_EBADKEY, "noise: payload has no identity key");
    }
    err = bm_peer_id_pubkey_decode(pl.identity_key, pl.identity_key_len,
                                   hs->remote.identity, &inner);
    if (err != BM_OK) {
        return bm_errf(em, err, "noise: identity key: %s", inner.msg);
    }
    bm_peer_id_from_key(&hs->remote.peer, hs->remote.identity);
    if (hs->has_expected && !bm_peer_id_eq(&hs->expected, &hs->remote.peer)) {
        char want[BM_PEER_ID_STR_SIZE], got[BM_PEER_ID_STR_SIZE];
        bm_peer_id_format(&hs->expected, want);
        bm_peer_id_format(&hs->remote.peer, got);
        return bm_errf(em, BM_EPEER_MISMATCH,
                       "noise: peer id mismatch: expected %s, remote proved "
                       "%s",
                       want, got);
    }
    memcpy(msg, BM_NOISE_SIG_PREFIX, SIG_PREFIX_LEN);
    memcpy(msg + SIG_PREFIX_LEN, rs, 32);
    if (pl.identity_sig == NULL || pl.identity_sig_len != crypto_sign_BYTES ||
        crypto_sign_verify_detached(pl.identity_sig, msg, sizeof(msg),
                                    hs->remote.identity) != 0) {
        return bm_errf(em, BM_EBAD_SIGNATURE,
                       "noise: identity signature of the static key does "
                       "not verify");
    }
    memcpy(hs->remote.static_key, rs, 32);
    if (!hs->we_list_muxers || !pl.has_muxers) {
        hs->remote.muxer = BM_NOISE_MUXER_NEGOTIATE;
    } else if (hs->we_list_yamux && pl.lists_yamux) {
        hs->remote.muxer = BM_NOISE_MUXER_YAMUX;
    } else {
        return bm_errf(em, BM_ENOMUXER,
                       "noise: no common stream muxer: the peer lists %zu, "
                       "%s " BM_NOISE_YAMUX_ID "; we list it: %s",
                       pl.n_muxers, pl.lists_yamux ? "with" : "without",
                       hs->we_list_yamux ? "yes" : "no");
    }
    return BM_OK;
}

/* Writes BE16(len) at out[0..2). */
static void put_be16(uint8_t *out, size_t len)
{
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
}

/* -> e (empty payload) */
static size_t write_msg1(struct bm_noise_hs *hs, uint8_t *out)
{
    size_t len = 32;

    memcpy(out + 2, hs->e_pub, 32);
    mix_hash(hs, hs->e_pub, 32);
    len += encrypt_and_hash(hs, NULL, 0, out + 2 + len);
    put_be16(out, len);
    return 2 + len;
}

/* <- e, ee, s, es, payload */
static int write_msg2(struct bm_noise_hs *hs, uint8_t *out, size_t *w)
{
    size_t len = 32;
    int err;

    memcpy(out + 2, hs->e_pub, 32);
    mix_hash(hs, hs->e_pub, 32);
    err = mix_dh(hs, hs->e_priv, hs->re);
    if (err != BM_OK) {
        return err;
    }
    len += encrypt_and_hash(hs, hs->s_pub, 32, out + 2 + len);
    err = mix_dh(hs, hs->s_priv, hs->re);
    if (err != BM_OK) {
        return err;
    }
    len += encrypt_and_hash(hs, hs->payload, hs->payload_len, out + 2 + len);
    put_be16(out, len);
    *w = 2 + len;
    return BM_OK;
}

/* -> s, se, payload */
static int write_msg3(struct bm_noise_hs *hs, uint8_t *out, size_t *w)
{
    size_t len;
    int err;

    len = encrypt_and_hash(hs, hs->s_pub, 32, out + 2);
    err = mix_dh(hs, hs->s_priv, hs->re);
    if (err != BM_OK) {
        return err;
    }
    len += encrypt_and_hash(hs, hs->payload, hs->payload_len, out + 2 + len);
    put_be16(out, len);
    *w = 2 + len;
    return BM_OK;
}

static void read_msg1(struct bm_noise_hs *hs, const uint8_t *m, size_t len)
{
    memcpy(hs->re, m, 32);
    mix_hash(hs, hs->re, 32);
    /* No key yet: extra bytes are a plaintext payload, hashed and
     * ignored (as Go). */
    mix_hash(hs, m + 32, len - 32);
}

/* Reads "[e, ee,] s, es|se, payload" of message 2 (with_e) or 3. */
static int read_msg23(struct bm_noise_hs *hs, const uint8_t *m, size_t len,
                      bool with_e, struct bm_errmsg *em)
{
    uint8_t rs[32];
    uint8_t *plain = NULL;
    size_t pos = 0, rs_len = 0, plain_len = 0;
    size_t min = (with_e ? 32 : 0) + 48 + BM_NOISE_TAG_SIZE;
    int err;

    if (len < min) {
        return bm_errf(em, BM_EPROTO,
                       "noise: handshake message %d: %zu bytes, want at "
                       "least %zu",
                       with_e ? 2 : 3, len, min);
    }
    if (with_e) {
        memcpy(hs->re, m, 32);
        mix_hash(hs, hs->re, 32);
        pos = 32;
        err = mix_dh(hs, hs->e_priv, hs->re);
        if (err != BM_OK) {
            return bm_errf(em, err, "noise: ee: all-zero shared secret");
        }
    }
    err = decrypt_and_hash(hs, m + pos, 48, rs, &rs_len);
    if (err != BM_OK) {
        return bm_errf(em, err,
                       "noise: handshake message %d: static key "
                       "does not decrypt",
                       with_e ? 2 : 3);
    }
    pos += 48;
    /* es (initiator reading 2) or se (responder reading 3): our
     * ephemeral with their static. */
    err = mix_dh(hs, hs->e_priv, rs);
    if (err != BM_OK) {
        return bm_errf(em, err, "noise: %s: all-zero shared secret",
                       with_e ? "es" : "se");
    }
    /* The payload is sized by the peer (up to 64 KiB): decrypted into a
     * buffer of its own, freed below. */
    plain = bm_malloc(len - pos);
    if (plain == NULL) {
        return bm_errf(em, BM_ENOMEM, "noise: out of memory");
    }
    err = decrypt_and_hash(hs, m + pos, len - pos, plain, &plain_len);
    if (err != BM_OK) {
        err = bm_errf(em, err,
                      "noise: handshake message %d: payload does "
                      "not decrypt",
                      with_e ? 2 : 3);
    } else {
        err = check_payload(hs, plain, plain_len, rs, em);
    }
    sodium_memzero(plain, len - pos);
    bm_free(plain);
    return err;
}

int bm_noise_hs_feed(struct bm_noise_hs *hs, const uint8_t *in, size_t in_len,
                     size_t *consumed, uint8_t *out, size_t out_cap,
                     size_t *written, struct bm_errmsg *em)
{
    size_t pos = 0, w = 0;
    int r = BM_NOISE_AGAIN;

    *consumed = 0;
    *written = 0;
    if (hs->state == HS_FAILED || hs->state == HS_FINISHED) {
        return BM_ESTATE;
    }
    if (hs->state == HS_DONE) {
        return BM_NOISE_DONE;
    }
    if (out == NULL || out_cap < BM_NOISE_HS_OUT_MAX) {
        return hs_fail(hs, BM_EINVAL);
    }
    if (hs->state == HS_I_SEND1) {
        w += write_msg1(hs, out);
        hs->state = HS_I_READ2;
    }
    while (r == BM_NOISE_AGAIN && in_len - pos >= 2) {
        size_t len = (size_t)in[pos] << 8 | in[pos + 1];
        const uint8_t *m = in + pos + 2;
        size_t mw = 0;
        int err;

        if (in_len - pos - 2 < len) {
            break;
        }
        pos += 2 + len;
        if (hs->state == HS_R_READ1) {
            if (len < 32) {
                r = hs_fail(hs, bm_errf(em, BM_EPROTO,
                                        "noise: handshake message 1: %zu "
                                        "bytes, want at least 32",
                                        len));
                break;
            }
            read_msg1(hs, m, len);
            err = write_msg2(hs, out + w, &mw);
            if (err != BM_OK) {
                r = hs_fail(hs, bm_errf(em, err,
                                        "noise: all-zero shared "
                                        "secret"));
                break;
            }
            w += mw;
            hs->state = HS_R_READ3;
        } else if (hs->state == HS_I_READ2) {
            err = read_msg23(hs, m, len, true, em);
            if (err == BM_OK) {
                err = write_msg3(hs, out + w, &mw);
                if (err != BM_OK) {
                    err = bm_errf(em, err,
                                  "noise: se: all-zero shared "
                                  "secret");
                }
            }
            if (err != BM_OK) {
                r = hs_fail(hs, err);
                break;
            }
            w += mw;
            hs->state = HS_DONE;
            r = BM_NOISE_DONE;
        } else {
            err = read_msg23(hs, m, len, false, em);
            if (err != BM_OK) {
                r = hs_fail(hs, err);
                break;
            }
            hs->state = HS_DONE;
            r = BM_NOISE_DONE;
        }
    }
    *consumed = pos;
    *written = w;
    return r;
}

enum bm_err bm_noise_hs_finish(struct bm_noise_hs *hs,
                               struct bm_noise_remote *remote,
                               struct bm_noise_cipher *tx,
                               struct bm_noise_cipher *rx)
{
    uint8_t k1[32], k2[32];

    if (hs->state != HS_DONE) {
        return BM_ESTATE;
    }
    hkdf(hs->ck, NULL, 0, k1, k2);
    memset(tx, 0, sizeof(*tx));
    memset(rx, 0, sizeof(*rx));
    memcpy(tx->key, hs->role == BM_NOISE_INITIATOR ? k1 : k2, 32);
    memcpy(rx->key, hs->role == BM_NOISE_INITIATOR ? k2 : k1, 32);
    *remote = hs->remote;
    sodium_memzero(k1, sizeof(k1));
    sodium_memzero(k2, sizeof(k2));
    wipe_secrets(hs);
    hs->state = HS_FINISHED;
    return BM_OK;
}

/* ---- transport (spec 4.7) ---- */

int64_t bm_noise_seal(struct bm_noise_cipher *c, const uint8_t *p, size_t n,
                      uint8_t *out, size_t cap)
{
    uint8_t nonce[12];
    unsigned long long clen;

    if (c->failed) {
        return BM_ESTATE;
    }
    if (n > BM_NOISE_PLAINTEXT_MAX) {
        return BM_ETOOBIG;
    }
    if (cap < n + BM_NOISE_FRAME_OVERHEAD) {
        return BM_EINVAL;
    }
    if (c->nonce == UINT64_MAX) {
        c->failed = true;
        return BM_EOVERFLOW;
    }
    nonce_bytes(c->nonce, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + 2, &clen, p, n, NULL, 0,
                                              NULL, nonce, c->key);
    c->nonce++;
    put_be16(out, (size_t)clen);
    return (int64_t)clen + 2;
}

size_t bm_noise_sealed_size(size_t n)
{
    size_t frames = n / BM_NOISE_PLAINTEXT_MAX +
                    (n % BM_NOISE_PLAINTEXT_MAX != 0 || n == 0);

    return n + frames * BM_NOISE_FRAME_OVERHEAD;
}

int64_t bm_noise_seal_all(struct bm_noise_cipher *c, const uint8_t *p, size_t n,
                          uint8_t *out, size_t cap)
{
    size_t pos = 0, w = 0;

    if (cap < bm_noise_sealed_size(n)) {
        return c->failed ? BM_ESTATE : BM_EINVAL;
    }
    do {
        size_t chunk =
            n - pos < BM_NOISE_PLAINTEXT_MAX ? n - pos : BM_NOISE_PLAINTEXT_MAX;
        int64_t r = bm_noise_seal(c, p + pos, chunk, out + w, cap - w);
        if (r < 0) {
            return r;
        }
        pos += chunk;
        w += (size_t)r;
    } while (pos < n);
    return (int64_t)w;
}

int bm_noise_open(struct bm_noise_cipher *c, const uint8_t *in, size_t n,
                  size_t *consumed, uint8_t *out, size_t out_cap,
                  size_t *plain_len)
{
    uint8_t nonce[12];
    unsigned long long mlen;
    size_t len;

    *consumed = 0;
    if (c->failed) {
        return BM_ESTATE;
    }
    if (n < 2) {
        return BM_NOISE_AGAIN;
    }
    len = (size_t)in[0] << 8 | in[1];
    if (len < BM_NOISE_TAG_SIZE) {
        c->failed = true;
        return BM_EPROTO;
    }
    if (n - 2 < len) {
        return BM_NOISE_AGAIN;
    }
    if (out_cap < len - BM_NOISE_TAG_SIZE) {
        return BM_EINVAL;
    }
    if (c->nonce == UINT64_MAX) {
        c->failed = true;
        return BM_EOVERFLOW;
    }
    nonce_bytes(c->nonce, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(
            out, &mlen, NULL, in + 2, len, NULL, 0, nonce, c->key) != 0) {
        c->failed = true;
        return BM_EAUTH;
    }
    c->nonce++;
    *consumed = 2 + len;
    *plain_len = (size_t)mlen;
    return BM_NOISE_DONE;
}

void bm_noise_cipher_wipe(struct bm_noise_cipher *c)
{
    if (c != NULL) {
        sodium_memzero(c, sizeof(*c));
    }
}
