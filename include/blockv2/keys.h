/*
 * Key files (spec section 9.1, docs/KEYS.md), compatible with ev-node:
 *
 *  - signer.json, the proposer's Ed25519 key encrypted with a passphrase:
 *    {"priv_key_encrypted": b64, "nonce": b64, "pub_key": b64, "salt": b64}.
 *    key = Argon2id(passphrase, salt, t=3, m=32 MiB, p=4, 32 bytes);
 *    AES-256-GCM with a 12-byte nonce and no associated data over the
 *    64-byte libp2p private key (seed || public key). Files without "salt"
 *    use ev-node's legacy stretch (passphrase padded/cycled to 32 bytes).
 *  - node_key.json, the P2P identity key in clear:
 *    {"priv_key": b64(64 bytes), "pub_key": b64(32 bytes)}.
 *  - the libp2p peer ID of an Ed25519 public key ("12D3KooW...").
 *
 * Base64 is Go's StdEncoding (padded). Files are read with a size cap
 * (BM_KEY_FILE_MAX) and written atomically (name.tmp, fsync, rename or
 * link, fsync of the directory) with mode 0600. Secrets (private keys,
 * passphrase-derived keys, decrypted plaintext) are wiped from our buffers
 * with sodium_memzero; json-c's internal copies are wiped best effort.
 *
 * Errors carry a message in the optional struct bm_errmsg naming the file
 * and the field, e.g. "signer file 'x/signer.json': nonce: 8 bytes, want
 * 12". Codes: BM_EPARSE (not a JSON object), BM_ECORRUPT (missing field,
 * wrong type, bad base64, wrong size, keys that do not match), BM_ETOOBIG,
 * BM_EPASSPHRASE (authentication failed: wrong passphrase, or the
 * ciphertext, nonce or salt were modified; AES-GCM cannot tell these
 * apart), BM_ENOTFOUND, BM_EEXIST, BM_EPERM, BM_EIO, BM_ENOMEM,
 * BM_EINVAL (bad arguments), BM_EUNSUPPORTED (salt shorter than 8 bytes:
 * libargon2 refuses it).
 *
 * Thread-safety: all functions are reentrant. The file functions block
 * (disk I/O, fsync); one Argon2 run takes ~0.5 s (measured on a loaded
 * 2-core host), 32 MiB and 4 threads: never call the signer load/create
 * functions from an actor's event loop thread.
 */
#ifndef BM_BLOCKV2_KEYS_H
#define BM_BLOCKV2_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "blockv2/types.h"

struct bm_errmsg;

#define BM_SIGNER_FILE_NAME "signer.json"
#define BM_NODE_KEY_FILE_NAME "node_key.json"

#define BM_KEY_FILE_MAX (64u << 10)  /* bytes; larger files: BM_ETOOBIG */
#define BM_PASSPHRASE_MAX 4096u      /* bytes */

/* Argon2id parameters of ev-node's file signer. */
#define BM_SIGNER_ARGON2_T 3u
#define BM_SIGNER_ARGON2_M_KIB (32u * 1024u)
#define BM_SIGNER_ARGON2_P 4u
#define BM_SIGNER_SALT_SIZE 16u      /* written; 8..64 can be read */
#define BM_SIGNER_SALT_MAX 64u
#define BM_SIGNER_NONCE_SIZE 12u

/* ---- signer.json ---- */

/*
 * The fields of a signer.json, decoded from base64 but not decrypted.
 * A value type: zero-initialise, release with bm_signer_file_release.
 * salt.len == 0 means a legacy (pre-Argon2) file.
 */
struct bm_signer_file {
    struct bm_buf priv_key_encrypted; /* 80 bytes (64 + GCM tag), or 112 */
    struct bm_buf nonce;              /* 12 bytes */
    struct bm_buf pub_key;            /* 32 bytes, raw Ed25519 */
    struct bm_buf salt;               /* 0 (legacy) .. 64 bytes; 1..7
                                         cannot be used (libargon2) */
};

/* Frees the contents and zeroes *f. NULL-safe. */
void bm_signer_file_release(struct bm_signer_file *f);

/*
 * Parses the JSON text p[0..n) (borrowed) of a signer file without
 * decrypting it (cheap: no Argon2). Unknown fields are ignored; "salt"
 * may be absent, null or "" (legacy). name (borrowed, may be NULL) is
 * used in messages. On success *out (released first) returns owned
 * buffers; on failure *out is left zeroed. Errors: BM_EPARSE,
 * BM_ECORRUPT, BM_ETOOBIG, BM_ENOMEM.
 */
enum bm_err bm_signer_file_parse(struct bm_signer_file *out,
                                 const uint8_t *p, size_t n,
                                 const char *name, struct bm_errmsg *em);

/*
 * Decrypts a parsed signer file with the passphrase pass[0..pass_len)
 * (borrowed; not modified) into *key. Checks that the decrypted key is a
 * consistent seed || public key pair (a 96-byte legacy libp2p encoding
 * with a repeated public key is accepted) and that it matches pub_key.
 * On any failure *key is wiped. Errors: BM_EPASSPHRASE, BM_ECORRUPT,
 * BM_EUNSUPPORTED, BM_EINVAL (passphrase too long), BM_ENOMEM. Slow
 * (Argon2, unless legacy).
 */
enum bm_err bm_signer_file_decrypt(const struct bm_signer_file *f,
                                   const uint8_t *pass, size_t pass_len,
                                   const char *name, struct bm_privkey *key,
                                   struct bm_errmsg *em);

/*
 * Encrypts key (borrowed) with the passphrase and fresh random salt and
 * nonce into *out (released first; returns owned). Errors: BM_EINVAL
 * (empty or too long passphrase), BM_ECRYPTO, BM_ENOMEM. Slow (Argon2).
 */
enum bm_err bm_signer_file_encrypt(struct bm_signer_file *out,
                                   const struct bm_privkey *key,
                                   const uint8_t *pass, size_t pass_len,
                                   struct bm_errmsg *em);

/*
 * The JSON text of a signer file, byte-identical to Go's json.Marshal of
 * ev-node's keyData (compact, field order priv_key_encrypted, nonce,
 * pub_key, salt; salt omitted when empty). *out released first; returns
 * owned. BM_ENOMEM.
 */
enum bm_err bm_signer_file_encode(const struct bm_signer_file *f,
                                  struct bm_buf *out);

/*
 * Creates the signer file at path (borrowed; the file itself, e.g.
 * "<home>/config/signer.json"; the directory must exist). key (borrowed)
 * is the key to store, or NULL to generate a random one. If overwrite is
 * false an existing file is BM_EEXIST and never replaced (ev-node init);
 * true replaces it atomically (keys import --force). If key_out is not
 * NULL it receives the stored key (caller wipes it with
 * bm_privkey_wipe). Errors: those of encrypt, BM_EEXIST, BM_EPERM,
 * BM_ENOTFOUND, BM_EIO. Blocks; slow (Argon2).
 */
enum bm_err bm_signer_file_create(const char *path,
                                  const struct bm_privkey *key,
                                  const uint8_t *pass, size_t pass_len,
                                  bool overwrite, struct bm_privkey *key_out,
                                  struct bm_errmsg *em);

/*
 * Reads, parses and decrypts the signer file at path (borrowed) into
 * *key. Errors: BM_ENOTFOUND (no file), BM_ETOOBIG (file above
 * BM_KEY_FILE_MAX), and those of parse and decrypt. On failure *key is
 * wiped. Blocks; slow (Argon2).
 */
enum bm_err bm_signer_file_load(const char *path, const uint8_t *pass,
                                size_t pass_len, struct bm_privkey *key,
                                struct bm_errmsg *em);

/* ---- node_key.json ---- */

/*
 * Parses node_key.json text p[0..n) (borrowed) into *key: priv_key must
 * be 64 bytes (seed || pub; the 96-byte legacy form with a repeated
 * public key is accepted) whose halves match, pub_key 32 bytes equal to
 * the key's public half. Unknown fields are ignored. name may be NULL.
 * On failure *key is wiped. Errors: BM_EPARSE, BM_ECORRUPT, BM_ETOOBIG,
 * BM_ENOMEM.
 */
enum bm_err bm_node_key_parse(struct bm_privkey *key, const uint8_t *p,
                              size_t n, const char *name,
                              struct bm_errmsg *em);

/* JSON text {"priv_key":"..","pub_key":".."} (Go json.Marshal bytes) into
 * *out (released first; returns owned; holds the secret key in clear:
 * wipe it before release). BM_ENOMEM. */
enum bm_err bm_node_key_encode(const struct bm_privkey *key,
                               struct bm_buf *out);

/* Reads and parses the file at path (borrowed). Errors: BM_ENOTFOUND,
 * BM_EPERM, BM_EIO and those of parse. Blocks. */
enum bm_err bm_node_key_load(const char *path, struct bm_privkey *key,
                             struct bm_errmsg *em);

/* Writes key (borrowed) to path atomically with mode 0600. BM_EEXIST if
 * the file exists and !overwrite. Blocks. */
enum bm_err bm_node_key_save(const char *path, const struct bm_privkey *key,
                             bool overwrite, struct bm_errmsg *em);

/*
 * Loads the node key at path, or if there is no such file generates a
 * random key and saves it (ev-node LoadOrGenNodeKey). *generated (may be
 * NULL) tells which happened. A file that exists but does not parse is an
 * error, never replaced. Blocks.
 */
enum bm_err bm_node_key_load_or_generate(const char *path,
                                         struct bm_privkey *key,
                                         bool *generated,
                                         struct bm_errmsg *em);

/* ---- keys and libp2p peer IDs ---- */

/* Fresh random Ed25519 key (libsodium; no bm_crypto_init needed). */
void bm_keys_generate(struct bm_privkey *key);

/* Key from a 32-byte seed (RFC 8032): seed || public key. */
void bm_keys_from_seed(struct bm_privkey *key, const uint8_t seed[32]);

/*
 * Checks that key->b[32..64) is the public key of the seed key->b[0..32).
 * BM_OK or BM_EBADKEY.
 */
enum bm_err bm_keys_check(const struct bm_privkey *key);

/* Peer ID bytes: identity multihash 00 24 || 08 01 12 20 || pub. */
#define BM_PEER_ID_SIZE 38
/* Base58btc text of a peer ID: 52 characters for Ed25519, plus NUL. */
#define BM_PEER_ID_STR_SIZE 64

void bm_peer_id_from_pubkey(const uint8_t pub[BM_PUBKEY_SIZE],
                            uint8_t out[BM_PEER_ID_SIZE]);

/* Writes the base58btc peer ID ("12D3KooW...") and a NUL into out. */
void bm_peer_id_string(const uint8_t pub[BM_PUBKEY_SIZE],
                       char out[BM_PEER_ID_STR_SIZE]);

#endif /* BM_BLOCKV2_KEYS_H */
