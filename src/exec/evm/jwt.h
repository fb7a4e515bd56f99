/*
 * Engine API authentication (execution-apis, src/engine/authentication.md):
 * an HS256 JSON Web Token in "Authorization: Bearer <token>", signed with a
 * 32-byte secret that the node and the execution client share as 64 hex
 * digits in a file (ev-node's --evm.jwt-secret-file; the client's
 * --authrpc.jwtsecret / --jwtSecret). The claims are {"iat": <unix
 * seconds>}: the client refuses a token whose iat is more than 60 s away
 * from its clock, so a token is made per call (cheap: one HMAC-SHA-256,
 * libsodium's crypto_auth_hmacsha256).
 *
 * Pure functions except bm_evm_jwt_load (file I/O). Thread-safe.
 */
#ifndef BM_EXEC_EVM_JWT_H
#define BM_EXEC_EVM_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_errmsg;

#define BM_EVM_JWT_SECRET_LEN 32u
/* Largest file accepted for a secret (64 digits, "0x", white space). */
#define BM_EVM_JWT_FILE_MAX 4096u
/* Room for a token and its NUL: header and claims are short and fixed. */
#define BM_EVM_JWT_TOKEN_MAX 192u

/*
 * Parses the text of a secret file, text[0..len) (borrowed, untrusted):
 * optional leading and trailing white space, an optional "0x", then
 * exactly 64 hex digits (either case). Writes the 32 bytes to secret.
 * BM_ECONFIG naming what is wrong ("want 64 hex digits (32 bytes), got
 * 10"; "byte 'g' at offset 3 is not a hex digit"); secret is then zeroed.
 */
enum bm_err bm_evm_jwt_parse(const char *text, size_t len,
                             uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                             struct bm_errmsg *em);

/*
 * Reads and parses the secret file at path (borrowed). Errors: those of
 * bm_evm_jwt_parse, and BM_ENOTFOUND / BM_EPERM / BM_EIO / BM_ETOOBIG
 * (above BM_EVM_JWT_FILE_MAX) naming the file. The file's bytes are wiped
 * after use. Blocks (file I/O).
 */
enum bm_err bm_evm_jwt_load(const char *path,
                            uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                            struct bm_errmsg *em);

/*
 * Writes the token for claims {"iat": iat} signed with secret (borrowed)
 * into out (BM_EVM_JWT_TOKEN_MAX bytes, NUL-terminated): base64url (no
 * padding) of {"alg":"HS256","typ":"JWT"}, ".", of the claims, ".", of the
 * HMAC-SHA-256 of the first two parts. Never fails.
 */
void bm_evm_jwt_token(const uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                      uint64_t iat, char out[BM_EVM_JWT_TOKEN_MAX]);

/*
 * Verifies a token (borrowed, untrusted; what an execution client does,
 * for tests): the header must be HS256, the signature must match secret,
 * and iat must be within max_skew_s of now_s. BM_OK, or BM_EAUTH with the
 * reason in em.
 */
enum bm_err bm_evm_jwt_verify(const uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                              const char *token, uint64_t now_s,
                              uint64_t max_skew_s, struct bm_errmsg *em);

#endif /* BM_EXEC_EVM_JWT_H */
