/* Signer and libp2p public-key encoding (spec 1.4, 2.5). */
#include "blockv2/types.h"

#include <string.h>

#include "types/codec.h"
#include "util/alloc.h"

static const uint8_t libp2p_ed25519_prefix[4] = {0x08, 0x01, 0x12, 0x20};

void bm_signer_release(struct bm_signer *s)
{
    if (s == NULL) {
        return;
    }
    bm_buf_release(&s->address);
    memset(s, 0, sizeof(*s));
}

enum bm_err bm_signer_copy(struct bm_signer *dst, const struct bm_signer *src)
{
    struct bm_buf addr = {0};
    enum bm_err err;

    if (dst == src) {
        return BM_OK;
    }
    err = bm_buf_copy(&addr, &src->address);
    bm_signer_release(dst);
    if (err) {
        return err;
    }
    dst->has_pub_key = src->has_pub_key;
    memcpy(dst->pub_key, src->pub_key, sizeof(dst->pub_key));
    dst->address = addr;
    return BM_OK;
}

void bm_pubkey_libp2p_encode(const uint8_t pub[BM_PUBKEY_SIZE],
                             uint8_t out[BM_LIBP2P_PUBKEY_SIZE])
{
    memcpy(out, libp2p_ed25519_prefix, sizeof(libp2p_ed25519_prefix));
    memcpy(out + sizeof(libp2p_ed25519_prefix), pub, BM_PUBKEY_SIZE);
}

/*
 * Canonical form only: Go's libp2p accepts the fields in any order, but every
 * producer we know of writes exactly this form, and anything else in a
 * Signer would not re-encode to the same bytes (signatures cover them).
 */
enum bm_err bm_pubkey_libp2p_decode(const uint8_t *p, size_t n,
                                    uint8_t pub[BM_PUBKEY_SIZE])
{
    if (p == NULL || n != BM_LIBP2P_PUBKEY_SIZE ||
        memcmp(p, libp2p_ed25519_prefix, sizeof(libp2p_ed25519_prefix)) != 0) {
        return BM_EBADKEY;
    }
    memcpy(pub, p + sizeof(libp2p_ed25519_prefix), BM_PUBKEY_SIZE);
    return BM_OK;
}

void bm__signer_to_pb(struct bm__pb_signer *ps, const struct bm_signer *s)
{
    static const Evnode__V1__Signer init = EVNODE__V1__SIGNER__INIT;

    ps->s = init;
    if (!s->has_pub_key) {
        return; /* Go ToProto: no key -> empty Signer, address dropped */
    }
    bm_pubkey_libp2p_encode(s->pub_key, ps->key);
    ps->s.address = bm__bin(&s->address);
    ps->s.pub_key.data = ps->key;
    ps->s.pub_key.len = sizeof(ps->key);
}

enum bm_err bm__signer_from_pb(struct bm_signer *out,
                               const Evnode__V1__Signer *ps)
{
    struct bm_signer t = {0};
    enum bm_err err;

    bm_signer_release(out);
    if (ps->pub_key.len == 0) {
        return BM_OK; /* Go FromProto: signer left empty */
    }
    err = bm_pubkey_libp2p_decode(ps->pub_key.data, ps->pub_key.len,
                                  t.pub_key);
    if (err) {
        return err;
    }
    t.has_pub_key = true;
    err = bm__bin_copy(&t.address, &ps->address);
    if (err) {
        return err;
    }
    *out = t;
    return BM_OK;
}

enum bm_err bm_signer_encode(const struct bm_signer *s, struct bm_buf *out)
{
    struct bm__pb_signer ps;

    bm__signer_to_pb(&ps, s);
    return bm__pack(&ps.s.base, out);
}
