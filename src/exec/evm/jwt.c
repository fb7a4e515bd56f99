/* Engine API JWT (HS256), see jwt.h. */
#include "exec/evm/jwt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "blockv2/buf.h"
#include "util/errmsg.h"
#include "util/file.h"
#include "util/hex.h"

/* The fixed header, and its base64url form. */
#define JWT_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
/* Longest base64url part we decode in verify (header or claims). */
#define PART_MAX 128u

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum bm_err bm_evm_jwt_parse(const char *text, size_t len,
                             uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                             struct bm_errmsg *em)
{
    size_t b = 0, e = len;

    memset(secret, 0, BM_EVM_JWT_SECRET_LEN);
    while (b < e && is_space(text[b])) {
        b++;
    }
    while (e > b && is_space(text[e - 1])) {
        e--;
    }
    if (e - b >= 2 && text[b] == '0' && (text[b + 1] == 'x' ||
                                         text[b + 1] == 'X')) {
        b += 2;
    }
    if (e - b != 2 * BM_EVM_JWT_SECRET_LEN) {
        return bm_errf(em, BM_ECONFIG, "JWT secret: want %u hex digits "
                       "(%u bytes), got %zu characters",
                       2 * BM_EVM_JWT_SECRET_LEN, BM_EVM_JWT_SECRET_LEN,
                       e - b);
    }
    for (size_t i = 0; i < BM_EVM_JWT_SECRET_LEN; i++) {
        int hi = bm_hex_digit(text[b + 2 * i]), lo = bm_hex_digit(text[b + 2 * i + 1]);

        if (hi < 0 || lo < 0) {
            size_t off = b + 2 * i + (hi < 0 ? 0 : 1);
            unsigned char c = (unsigned char)text[off];

            sodium_memzero(secret, BM_EVM_JWT_SECRET_LEN);
            return bm_errf(em, BM_ECONFIG, "JWT secret: byte 0x%02x at "
                           "offset %zu is not a hex digit", c, off);
        }
        secret[i] = (uint8_t)(hi << 4 | lo);
    }
    return BM_OK;
}

enum bm_err bm_evm_jwt_load(const char *path,
                            uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                            struct bm_errmsg *em)
{
    struct bm_buf raw = {0};
    struct bm_errmsg pem = {{0}};
    enum bm_err err;

    memset(secret, 0, BM_EVM_JWT_SECRET_LEN);
    err = bm_file_read(path, BM_EVM_JWT_FILE_MAX, "JWT secret file", &raw,
                       em);
    if (err != BM_OK) {
        return err;
    }
    err = bm_evm_jwt_parse((const char *)raw.ptr, raw.len, secret, &pem);
    if (err != BM_OK) {
        bm_errf(em, err, "JWT secret file '%s': %s", path, pem.msg);
    }
    if (raw.ptr != NULL) {
        sodium_memzero(raw.ptr, raw.len);
    }
    bm_buf_release(&raw);
    return err;
}

/* base64url without padding of p[0..n) at out; returns the length. */
static size_t b64url(char *out, size_t cap, const uint8_t *p, size_t n)
{
    sodium_bin2base64(out, cap, p, n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

void bm_evm_jwt_token(const uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                      uint64_t iat, char out[BM_EVM_JWT_TOKEN_MAX])
{
    char claims[40];
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    size_t n, cl;

    cl = (size_t)snprintf(claims, sizeof(claims), "{\"iat\":%" PRIu64 "}",
                          iat);
    n = b64url(out, BM_EVM_JWT_TOKEN_MAX, (const uint8_t *)JWT_HEADER,
               sizeof(JWT_HEADER) - 1);
    out[n++] = '.';
    n += b64url(out + n, BM_EVM_JWT_TOKEN_MAX - n, (const uint8_t *)claims,
                cl);
    crypto_auth_hmacsha256(mac, (const uint8_t *)out, n, secret);
    out[n++] = '.';
    b64url(out + n, BM_EVM_JWT_TOKEN_MAX - n, mac, sizeof(mac));
}

/* Decodes one base64url part [p, p+n) into out (cap bytes). */
static enum bm_err part_decode(const char *p, size_t n, uint8_t *out,
                               size_t cap, size_t *out_len)
{
    if (sodium_base642bin(out, cap, p, n, NULL, out_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        return BM_EAUTH;
    }
    return BM_OK;
}

/* The JSON object of a decoded part, or NULL. */
static struct json_object *part_json(const uint8_t *p, size_t n)
{
    struct json_tokener *tok = json_tokener_new_ex(4);
    struct json_object *o;

    if (tok == NULL) {
        return NULL;
    }
    o = json_tokener_parse_ex(tok, (const char *)p, (int)n);
    if (json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != n ||
        !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

enum bm_err bm_evm_jwt_verify(const uint8_t secret[BM_EVM_JWT_SECRET_LEN],
                              const char *token, uint64_t now_s,
                              uint64_t max_skew_s, struct bm_errmsg *em)
{
    const char *d1, *d2;
    uint8_t part[PART_MAX], mac[crypto_auth_hmacsha256_BYTES];
    size_t plen = 0, mlen = 0;
    struct json_object *o, *v;
    int64_t iat;

    if (token == NULL || strlen(token) >= BM_EVM_JWT_TOKEN_MAX * 4) {
        return bm_errf(em, BM_EAUTH, "jwt: missing or too long");
    }
    d1 = strchr(token, '.');
    d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
    if (d2 == NULL || strchr(d2 + 1, '.') != NULL) {
        return bm_errf(em, BM_EAUTH, "jwt: want three dot-separated parts");
    }
    if (part_decode(d2 + 1, strlen(d2 + 1), mac, sizeof(mac), &mlen) !=
            BM_OK ||
        mlen != sizeof(mac) ||
        crypto_auth_hmacsha256_verify(mac, (const uint8_t *)token,
                                      (size_t)(d2 - token), secret) != 0) {
        return bm_errf(em, BM_EAUTH, "jwt: signature invalid");
    }
    if (part_decode(token, (size_t)(d1 - token), part, sizeof(part),
                    &plen) != BM_OK) {
        return bm_errf(em, BM_EAUTH, "jwt: header is not base64url");
    }
    o = part_json(part, plen);
    if (o == NULL || !json_object_object_get_ex(o, "alg", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), "HS256") != 0) {
        json_object_put(o);
        return bm_errf(em, BM_EAUTH, "jwt: header alg is not HS256");
    }
    json_object_put(o);
    if (part_decode(d1 + 1, (size_t)(d2 - d1 - 1), part, sizeof(part),
                    &plen) != BM_OK) {
        return bm_errf(em, BM_EAUTH, "jwt: claims are not base64url");
    }
    o = part_json(part, plen);
    if (o == NULL || !json_object_object_get_ex(o, "iat", &v) ||
        !json_object_is_type(v, json_type_int)) {
        json_object_put(o);
        return bm_errf(em, BM_EAUTH, "jwt: claims have no integer iat");
    }
    iat = json_object_get_int64(v);
    json_object_put(o);
    if (iat < 0 || (uint64_t)iat + max_skew_s < now_s ||
        (uint64_t)iat > now_s + max_skew_s) {
        return bm_errf(em, BM_EAUTH, "jwt: iat %" PRId64 " is more than "
                       "%" PRIu64 " s from now (%" PRIu64 ")",
                       iat, max_skew_s, now_s);
    }
    return BM_OK;
}
