#include "blockv2/keys.h"

#include "keys/aead.h"
#include "keys/keyio.h"
#include "util/file.h"
#include "util/alloc.h"
#include "util/errmsg.h"

#include <argon2.h>
#include <sodium.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WHAT "signer file"
#define LEGACY_PRIV_SIZE 96 /* seed || pub || pub (old libp2p encoding) */
#define CT_MAX (LEGACY_PRIV_SIZE + BM__GCM_TAG_SIZE)

void bm_signer_file_release(struct bm_signer_file *f)
{
    if (f == NULL) {
        return;
    }
    bm_buf_release(&f->priv_key_encrypted);
    bm_buf_release(&f->nonce);
    bm_buf_release(&f->pub_key);
    bm_buf_release(&f->salt);
}

/* ---- key helpers (libsodium; no dependency on bm_crypto_init) ---- */

void bm_keys_from_seed(struct bm_privkey *key, const uint8_t seed[32])
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];

    if (sodium_init() < 0) {
        abort(); /* cannot happen after the library loaded */
    }
    crypto_sign_seed_keypair(pk, sk, seed);
    /* libsodium's secret key is already seed || public key. */
    memcpy(key->b, sk, sizeof(key->b));
    sodium_memzero(sk, sizeof(sk));
}

void bm_keys_generate(struct bm_privkey *key)
{
    uint8_t seed[32];

    if (sodium_init() < 0) {
        abort();
    }
    randombytes_buf(seed, sizeof(seed));
    bm_keys_from_seed(key, seed);
    sodium_memzero(seed, sizeof(seed));
}

enum bm_err bm_keys_check(const struct bm_privkey *key)
{
    struct bm_privkey k;
    enum bm_err err = BM_OK;

    bm_keys_from_seed(&k, key->b);
    if (sodium_memcmp(k.b + 32, key->b + 32, 32) != 0) {
        err = BM_EBADKEY;
    }
    sodium_memzero(&k, sizeof(k));
    return err;
}

/* ---- parse / encode ---- */

enum bm_err bm_signer_file_parse(struct bm_signer_file *out,
                                 const uint8_t *p, size_t n,
                                 const char *name, struct bm_errmsg *em)
{
    struct bm__json_doc doc;
    struct bm_signer_file f = {0};
    bool present;
    int err;

    bm_signer_file_release(out);
    err = bm__json_doc_parse(&doc, WHAT, name, p, n, BM_KEY_FILE_MAX, em);
    if (err != BM_OK) {
        return err;
    }
    err = bm__json_get_b64(&doc, "priv_key_encrypted", BM_ECORRUPT,
                           BM__GCM_TAG_SIZE, CT_MAX, false, &present,
                           &f.priv_key_encrypted, em);
    if (err == BM_OK && !present) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': priv_key_encrypted: "
                      "missing", doc.name);
    }
    if (err == BM_OK && f.priv_key_encrypted.len !=
                            BM_PRIVKEY_SIZE + BM__GCM_TAG_SIZE &&
        f.priv_key_encrypted.len != CT_MAX) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': priv_key_encrypted: %zu "
                      "bytes, want %d", doc.name, f.priv_key_encrypted.len,
                      BM_PRIVKEY_SIZE + BM__GCM_TAG_SIZE);
    }
    if (err == BM_OK) {
        err = bm__json_get_b64(&doc, "nonce", BM_ECORRUPT,
                               BM_SIGNER_NONCE_SIZE, BM_SIGNER_NONCE_SIZE,
                               false, &present, &f.nonce, em);
        if (err == BM_OK && !present) {
            err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': nonce: missing",
                          doc.name);
        }
    }
    if (err == BM_OK) {
        err = bm__json_get_b64(&doc, "pub_key", BM_ECORRUPT, BM_PUBKEY_SIZE,
                               BM_PUBKEY_SIZE, false, &present, &f.pub_key,
                               em);
        if (err == BM_OK && !present) {
            err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': pub_key: missing",
                          doc.name);
        }
    }
    if (err == BM_OK) {
        err = bm__json_get_b64(&doc, "salt", BM_ECORRUPT, 0,
                               BM_SIGNER_SALT_MAX, false, NULL, &f.salt, em);
    }
    bm__json_doc_release(&doc);
    if (err != BM_OK) {
        bm_signer_file_release(&f);
        return err;
    }
    *out = f;
    return BM_OK;
}

enum bm_err bm_signer_file_encode(const struct bm_signer_file *f,
                                  struct bm_buf *out)
{
    struct bm_dynbuf d;
    int err;

    bm_dynbuf_init(&d, BM_KEY_FILE_MAX);
    err = bm_dynbuf_printf(&d, "{\"priv_key_encrypted\":");
    if (err == BM_OK) {
        err = bm__json_put_b64(&d, f->priv_key_encrypted.ptr,
                               f->priv_key_encrypted.len);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, ",\"nonce\":");
    }
    if (err == BM_OK) {
        err = bm__json_put_b64(&d, f->nonce.ptr, f->nonce.len);
    }
    if (err == BM_OK) {
        err = bm_dynbuf_printf(&d, ",\"pub_key\":");
    }
    if (err == BM_OK) {
        err = bm__json_put_b64(&d, f->pub_key.ptr, f->pub_key.len);
    }
    if (err == BM_OK && f->salt.len > 0) {
        err = bm_dynbuf_printf(&d, ",\"salt\":");
        if (err == BM_OK) {
            err = bm__json_put_b64(&d, f->salt.ptr, f->salt.len);
        }
    }
    if (err == BM_OK) {
        err = bm_dynbuf_append_byte(&d, '}');
    }
    if (err != BM_OK) {
        bm_dynbuf_release(&d);
        return err == BM_ETOOBIG ? BM_ENOMEM : err;
    }
    bm_dynbuf_detach(&d, out);
    return BM_OK;
}

/* ---- key derivation ---- */

/* ev-node's pre-Argon2 stretch, for files without a salt: the first 32
 * bytes of the passphrase, or the passphrase followed by pass[i % len] ^ i
 * for the missing positions i. */
static void legacy_derive(const uint8_t *pass, size_t len,
                          uint8_t key[BM__GCM_KEY_SIZE])
{
    if (len >= BM__GCM_KEY_SIZE) {
        memcpy(key, pass, BM__GCM_KEY_SIZE);
        return;
    }
    memcpy(key, pass, len);
    for (size_t i = len; i < BM__GCM_KEY_SIZE; i++) {
        key[i] = (uint8_t)(pass[i % len] ^ (uint8_t)i);
    }
}

static enum bm_err derive_key(const struct bm_signer_file *f,
                              const uint8_t *pass, size_t pass_len,
                              const char *name,
                              uint8_t key[BM__GCM_KEY_SIZE],
                              struct bm_errmsg *em)
{
    int rc;

    if (f->salt.len == 0) {
        if (pass_len == 0) {
            return bm_errf(em, BM_EPASSPHRASE, WHAT " '%s': wrong "
                           "passphrase (a legacy file without salt cannot "
                           "use an empty passphrase)", name);
        }
        legacy_derive(pass, pass_len, key);
        return BM_OK;
    }
    if (f->salt.len < ARGON2_MIN_SALT_LENGTH) {
        return bm_errf(em, BM_EUNSUPPORTED, WHAT " '%s': salt: %zu bytes, "
                       "libargon2 needs at least %d", name, f->salt.len,
                       ARGON2_MIN_SALT_LENGTH);
    }
    rc = argon2id_hash_raw(BM_SIGNER_ARGON2_T, BM_SIGNER_ARGON2_M_KIB,
                           BM_SIGNER_ARGON2_P, pass, pass_len, f->salt.ptr,
                           f->salt.len, key, BM__GCM_KEY_SIZE);
    if (rc != ARGON2_OK) {
        sodium_memzero(key, BM__GCM_KEY_SIZE);
        return bm_errf(em, rc == ARGON2_MEMORY_ALLOCATION_ERROR ? BM_ENOMEM
                                                                : BM_ECRYPTO,
                       WHAT " '%s': argon2id failed: %s", name,
                       argon2_error_message(rc));
    }
    return BM_OK;
}

enum bm_err bm_signer_file_decrypt(const struct bm_signer_file *f,
                                   const uint8_t *pass, size_t pass_len,
                                   const char *name, struct bm_privkey *key,
                                   struct bm_errmsg *em)
{
    uint8_t dk[BM__GCM_KEY_SIZE];
    uint8_t pt[CT_MAX];
    size_t pt_len;
    int err;

    name = bm__keyio_name(name);
    sodium_memzero(key, sizeof(*key));
    if (sodium_init() < 0) {
        return bm_errf(em, BM_ECRYPTO, "libsodium initialisation failed");
    }
    if (pass == NULL && pass_len > 0) {
        return bm_errf(em, BM_EINVAL, WHAT " '%s': NULL passphrase", name);
    }
    if (pass_len > BM_PASSPHRASE_MAX) {
        return bm_errf(em, BM_EINVAL, WHAT " '%s': passphrase longer than "
                       "%u bytes", name, BM_PASSPHRASE_MAX);
    }
    /* A parsed file has these sizes; a hand-filled struct may not. */
    if (f->nonce.len != BM_SIGNER_NONCE_SIZE ||
        f->pub_key.len != BM_PUBKEY_SIZE ||
        (f->priv_key_encrypted.len != BM_PRIVKEY_SIZE + BM__GCM_TAG_SIZE &&
         f->priv_key_encrypted.len != CT_MAX) ||
        f->salt.len > BM_SIGNER_SALT_MAX) {
        return bm_errf(em, BM_ECORRUPT, WHAT " '%s': field sizes are wrong",
                       name);
    }
    err = derive_key(f, pass, pass_len, name, dk, em);
    if (err != BM_OK) {
        goto out;
    }
    pt_len = f->priv_key_encrypted.len - BM__GCM_TAG_SIZE;
    err = bm__aes256gcm_open(dk, f->nonce.ptr, f->priv_key_encrypted.ptr,
                             f->priv_key_encrypted.len, pt);
    if (err == BM_EAUTH) {
        err = bm_errf(em, BM_EPASSPHRASE, WHAT " '%s': wrong passphrase (or "
                      "priv_key_encrypted, nonce or salt were modified)",
                      name);
        goto out;
    }
    if (err == BM_EUNSUPPORTED) {
        err = bm_errf(em, err, WHAT " '%s': AES-256-GCM is not available",
                      name);
        goto out;
    }
    if (err != BM_OK) {
        err = bm_errf(em, err, WHAT " '%s': AES-256-GCM failed", name);
        goto out;
    }
    if (pt_len == LEGACY_PRIV_SIZE &&
        sodium_memcmp(pt + 32, pt + 64, 32) != 0) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': decrypted 96-byte key "
                      "has two different public keys", name);
        goto out;
    }
    memcpy(key->b, pt, BM_PRIVKEY_SIZE);
    if (bm_keys_check(key) != BM_OK) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': decrypted private key: "
                      "public half does not match the seed", name);
        goto out;
    }
    if (sodium_memcmp(key->b + 32, f->pub_key.ptr, BM_PUBKEY_SIZE) != 0) {
        err = bm_errf(em, BM_ECORRUPT, WHAT " '%s': pub_key does not match "
                      "the decrypted private key", name);
        goto out;
    }
    err = BM_OK;
out:
    if (err != BM_OK) {
        sodium_memzero(key, sizeof(*key));
    }
    sodium_memzero(dk, sizeof(dk));
    sodium_memzero(pt, sizeof(pt));
    return err;
}

enum bm_err bm_signer_file_encrypt(struct bm_signer_file *out,
                                   const struct bm_privkey *key,
                                   const uint8_t *pass, size_t pass_len,
                                   struct bm_errmsg *em)
{
    struct bm_signer_file f = {0};
    uint8_t dk[BM__GCM_KEY_SIZE];
    uint8_t salt[BM_SIGNER_SALT_SIZE];
    uint8_t nonce[BM_SIGNER_NONCE_SIZE];
    uint8_t ct[BM_PRIVKEY_SIZE + BM__GCM_TAG_SIZE];
    int err;

    bm_signer_file_release(out);
    if (sodium_init() < 0) {
        return bm_errf(em, BM_ECRYPTO, "libsodium initialisation failed");
    }
    if (pass == NULL || pass_len == 0) {
        return bm_errf(em, BM_EINVAL, WHAT ": the passphrase is empty");
    }
    if (pass_len > BM_PASSPHRASE_MAX) {
        return bm_errf(em, BM_EINVAL, WHAT ": passphrase longer than %u "
                       "bytes", BM_PASSPHRASE_MAX);
    }
    if (bm_keys_check(key) != BM_OK) {
        return bm_errf(em, BM_EINVAL, WHAT ": private key: public half does "
                       "not match the seed");
    }
    randombytes_buf(salt, sizeof(salt));
    randombytes_buf(nonce, sizeof(nonce));
    err = bm_buf_set(&f.salt, salt, sizeof(salt));
    if (err == BM_OK) {
        err = derive_key(&f, pass, pass_len, "<new>", dk, em);
    }
    if (err == BM_OK) {
        err = bm__aes256gcm_seal(dk, nonce, key->b, BM_PRIVKEY_SIZE, ct);
        if (err != BM_OK) {
            err = bm_errf(em, err, WHAT ": AES-256-GCM encryption failed");
        }
    }
    if (err == BM_OK) {
        err = bm_buf_set(&f.priv_key_encrypted, ct, sizeof(ct));
    }
    if (err == BM_OK) {
        err = bm_buf_set(&f.nonce, nonce, sizeof(nonce));
    }
    if (err == BM_OK) {
        err = bm_buf_set(&f.pub_key, key->b + 32, BM_PUBKEY_SIZE);
    }
    sodium_memzero(dk, sizeof(dk));
    if (err != BM_OK) {
        if (err == BM_ENOMEM) {
            bm_errf(em, err, WHAT ": out of memory");
        }
        bm_signer_file_release(&f);
        return err;
    }
    *out = f;
    return BM_OK;
}

/* ---- files ---- */

enum bm_err bm_signer_file_create(const char *path,
                                  const struct bm_privkey *key,
                                  const uint8_t *pass, size_t pass_len,
                                  bool overwrite, struct bm_privkey *key_out,
                                  struct bm_errmsg *em)
{
    struct bm_signer_file f = {0};
    struct bm_privkey k;
    struct bm_buf json = {0};
    struct stat st;
    int err;

    if (path == NULL) {
        return bm_errf(em, BM_EINVAL, WHAT ": no path");
    }
    /* Cheap early refusal before Argon2; the write re-checks atomically. */
    if (!overwrite && lstat(path, &st) == 0) {
        return bm_errf(em, BM_EEXIST, WHAT " '%s': file already exists",
                       path);
    }
    if (key != NULL) {
        k = *key;
    } else {
        bm_keys_generate(&k);
    }
    err = bm_signer_file_encrypt(&f, &k, pass, pass_len, em);
    if (err != BM_OK) {
        goto out;
    }
    err = bm_signer_file_encode(&f, &json);
    if (err != BM_OK) {
        err = bm_errf(em, err, WHAT " '%s': out of memory", path);
        goto out;
    }
    err = bm_file_write_atomic(path, json.ptr, json.len, 0600,
                               overwrite ? BM_FILE_REPLACE
                                         : BM_FILE_NOREPLACE,
                               WHAT, em);
    if (err != BM_OK) {
        goto out;
    }
    if (key_out != NULL) {
        *key_out = k;
    }
out:
    sodium_memzero(&k, sizeof(k));
    bm_buf_release(&json);
    bm_signer_file_release(&f);
    return err;
}

enum bm_err bm_signer_file_load(const char *path, const uint8_t *pass,
                                size_t pass_len, struct bm_privkey *key,
                                struct bm_errmsg *em)
{
    struct bm_signer_file f = {0};
    struct bm_buf raw = {0};
    int err;

    sodium_memzero(key, sizeof(*key));
    if (path == NULL) {
        return bm_errf(em, BM_EINVAL, WHAT ": no path");
    }
    err = bm_file_read(path, BM_KEY_FILE_MAX, WHAT, &raw, em);
    if (err != BM_OK) {
        goto out;
    }
    err = bm_signer_file_parse(&f, raw.ptr, raw.len, path, em);
    if (err != BM_OK) {
        goto out;
    }
    err = bm_signer_file_decrypt(&f, pass, pass_len, path, key, em);
out:
    bm_signer_file_release(&f);
    bm_buf_release(&raw);
    return err;
}
