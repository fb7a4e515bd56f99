#include "blockv2/keys.h"

#include "keys/keyio.h"
#include "util/file.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#include <sodium.h>

#include <stdio.h>
#include <string.h>

#define WHAT "node key file"

enum bm_err bm_node_key_parse(struct bm_privkey *key, const uint8_t *p,
                              size_t n, const char *name,
                              struct bm_errmsg *em)
{
    struct bm__json_doc doc;
    struct bm_buf priv = {0}, pub = {0};
    bool present;
    int err;

    sodium_memzero(key, sizeof(*key));
    err = bm__json_doc_parse(&doc, WHAT, name, p, n, BM_KEY_FILE_MAX, em);
    if (err != BM_OK) {
        return err;
    }
    err = bm__json_get_b64(&doc, "priv_key", BM_ECORRUPT, BM_PRIVKEY_SIZE,
                           96, true, &present, &priv, em);
    if (err == BM_OK && !present) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': priv_key: missing",
                      doc.name);
    }
    if (err == BM_OK && priv.len != BM_PRIVKEY_SIZE && priv.len != 96) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': priv_key: %zu bytes, "
                      "want 64", doc.name, priv.len);
    }
    if (err == BM_OK && priv.len == 96 &&
        sodium_memcmp(priv.ptr + 32, priv.ptr + 64, 32) != 0) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': priv_key: 96-byte key "
                      "has two different public keys", doc.name);
    }
    if (err == BM_OK) {
        err = bm__json_get_b64(&doc, "pub_key", BM_ECORRUPT, BM_PUBKEY_SIZE,
                               BM_PUBKEY_SIZE, false, &present, &pub, em);
        if (err == BM_OK && !present) {
            err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': pub_key: missing",
                          doc.name);
        }
    }
    if (err == BM_OK) {
        memcpy(key->b, priv.ptr, BM_PRIVKEY_SIZE);
        if (bm_keys_check(key) != BM_OK) {
            err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': priv_key: public "
                          "half does not match the seed", doc.name);
        } else if (sodium_memcmp(pub.ptr, key->b + 32, BM_PUBKEY_SIZE) !=
                   0) {
            err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': pub_key does not "
                          "match priv_key", doc.name);
        }
    }
    if (err != BM_OK) {
        sodium_memzero(key, sizeof(*key));
    }
    if (priv.ptr != NULL) {
        sodium_memzero(priv.ptr, priv.len);
    }
    bm_buf_release(&priv);
    bm_buf_release(&pub);
    bm__json_doc_release(&doc);
    return err;
}

enum bm_err bm_node_key_encode(const struct bm_privkey *key,
                               struct bm_buf *out)
{
    /* Fixed size: built in one stack buffer so no reallocation leaves
     * copies of the secret behind. */
    char priv[sodium_base64_ENCODED_LEN(BM_PRIVKEY_SIZE,
                                        sodium_base64_VARIANT_ORIGINAL)];
    char pub[sodium_base64_ENCODED_LEN(BM_PUBKEY_SIZE,
                                       sodium_base64_VARIANT_ORIGINAL)];
    char text[256];
    int n;
    enum bm_err err;

    bm_buf_release(out);
    sodium_bin2base64(priv, sizeof(priv), key->b, BM_PRIVKEY_SIZE,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pub, sizeof(pub), key->b + 32, BM_PUBKEY_SIZE,
                      sodium_base64_VARIANT_ORIGINAL);
    n = snprintf(text, sizeof(text), "{\"priv_key\":\"%s\",\"pub_key\":\"%s\"}",
                 priv, pub);
    err = (n > 0 && (size_t)n < sizeof(text))
              ? bm_buf_set(out, (const uint8_t *)text, (size_t)n)
              : BM_EINVAL;
    sodium_memzero(priv, sizeof(priv));
    sodium_memzero(text, sizeof(text));
    return err;
}

enum bm_err bm_node_key_load(const char *path, struct bm_privkey *key,
                             struct bm_errmsg *em)
{
    struct bm_buf raw = {0};
    int err;

    sodium_memzero(key, sizeof(*key));
    if (path == NULL) {
        return bm_errf(em, BM_EINVAL, WHAT ": no path");
    }
    err = bm_file_read(path, BM_KEY_FILE_MAX, WHAT, &raw, em);
    if (err == BM_OK) {
        err = bm_node_key_parse(key, raw.ptr, raw.len, path, em);
    }
    if (raw.ptr != NULL) {
        sodium_memzero(raw.ptr, raw.len);
    }
    bm_buf_release(&raw);
    return err;
}

enum bm_err bm_node_key_save(const char *path, const struct bm_privkey *key,
                             bool overwrite, struct bm_errmsg *em)
{
    struct bm_buf json = {0};
    int err;

    if (path == NULL) {
        return bm_errf(em, BM_EINVAL, WHAT ": no path");
    }
    if (bm_keys_check(key) != BM_OK) {
        return bm_errf(em, BM_EINVAL, WHAT " '%s': private key: public half "
                       "does not match the seed", path);
    }
    err = bm_node_key_encode(key, &json);
    if (err != BM_OK) {
        return bm_errf(em, err, WHAT " '%s': out of memory", path);
    }
    err = bm_file_write_atomic(path, json.ptr, json.len, 0600,
                               overwrite ? BM_FILE_REPLACE
                                         : BM_FILE_NOREPLACE,
                               WHAT, em);
    sodium_memzero(json.ptr, json.len);
    bm_buf_release(&json);
    return err;
}

enum bm_err bm_node_key_load_or_generate(const char *path,
                                         struct bm_privkey *key,
                                         bool *generated,
                                         struct bm_errmsg *em)
{
    int err;

    if (generated != NULL) {
        *generated = false;
    }
    err = bm_node_key_load(path, key, em);
    if (err != BM_ENOTFOUND) {
        return err;
    }
    bm_keys_generate(key);
    err = bm_node_key_save(path, key, false, em);
    if (err == BM_EEXIST) {
        /* Another process created it meanwhile: use that one. */
        return bm_node_key_load(path, key, em);
    }
    if (err != BM_OK) {
        sodium_memzero(key, sizeof(*key));
        return err;
    }
    if (generated != NULL) {
        *generated = true;
    }
    return BM_OK;
}

/* ---- peer IDs ---- */

void bm_peer_id_from_pubkey(const uint8_t pub[BM_PUBKEY_SIZE],
                            uint8_t out[BM_PEER_ID_SIZE])
{
    /* Identity multihash (code 0x00, length 36) of the protobuf-encoded
     * libp2p PublicKey {Type: Ed25519 (1), Data: key}: keys of 42 bytes
     * or less are inlined instead of hashed with SHA-256. */
    static const uint8_t prefix[6] = {0x00, 0x24, 0x08, 0x01, 0x12, 0x20};

    memcpy(out, prefix, sizeof(prefix));
    memcpy(out + sizeof(prefix), pub, BM_PUBKEY_SIZE);
}

void bm_peer_id_string(const uint8_t pub[BM_PUBKEY_SIZE],
                       char out[BM_PEER_ID_STR_SIZE])
{
    static const char alphabet[] =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    uint8_t id[BM_PEER_ID_SIZE];
    uint8_t digits[BM_PEER_ID_STR_SIZE]; /* base-58 digits, little end */
    size_t n_digits = 0, zeros = 0, pos = 0;

    bm_peer_id_from_pubkey(pub, id);
    while (zeros < sizeof(id) && id[zeros] == 0) {
        zeros++;
    }
    /* Schoolbook conversion: digits = digits * 256 + byte. */
    for (size_t i = zeros; i < sizeof(id); i++) {
        unsigned carry = id[i];
        for (size_t j = 0; j < n_digits; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            digits[n_digits++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    for (size_t i = 0; i < zeros; i++) {
        out[pos++] = '1';
    }
    for (size_t i = n_digits; i > 0; i--) {
        out[pos++] = alphabet[digits[i - 1]];
    }
    out[pos] = '\0';
}
