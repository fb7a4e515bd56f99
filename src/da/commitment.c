/*
 * Celestia share commitment (go-square v4 inclusion.CreateCommitment with
 * SubtreeRootThreshold 64). See docs/DA.md for the algorithm.
 */
#include "blockv2/da.h"

#include <string.h>

#include <sodium.h>

#include "util/alloc.h"

#define FIRST_PAYLOAD_V0 (BM_DA_SHARE_SIZE - BM_DA_NS_LEN - 1 - 4) /* 478 */
#define CONT_PAYLOAD (BM_DA_SHARE_SIZE - BM_DA_NS_LEN - 1)         /* 482 */
#define MAX_BLOB (1u << 30)
#define NODE BM_DA_SUBTREE_ROOT_LEN

static size_t round_up_pow2(size_t v)
{
    size_t p = 1;

    while (p < v) {
        p <<= 1;
    }
    return p;
}

static size_t round_down_pow2(size_t v)
{
    size_t p = 1;

    while (p * 2 <= v) {
        p <<= 1;
    }
    return p;
}

/* Largest power of two strictly below n (n >= 2). */
static size_t split_point(size_t n)
{
    size_t k = round_down_pow2(n);

    return k == n ? k / 2 : k;
}

static size_t isqrt_ceil(size_t n)
{
    size_t r = 0;

    while (r * r < n) {
        r++;
    }
    return r;
}

/* go-square SubTreeWidth. */
static size_t subtree_width(size_t shares)
{
    size_t s = shares / BM_DA_SUBTREE_ROOT_THRESHOLD;
    size_t min_square;

    if (shares % BM_DA_SUBTREE_ROOT_THRESHOLD != 0) {
        s++;
    }
    s = round_up_pow2(s);
    min_square = round_up_pow2(isqrt_ceil(shares));
    return s < min_square ? s : min_square;
}

struct sharer {
    const struct bm_da_namespace *ns;
    const uint8_t *data;
    size_t len;
    unsigned version;
    const uint8_t *signer;
    size_t first_payload;
};

/* Builds share i into out (512 bytes). */
static void build_share(const struct sharer *sh, size_t i, uint8_t *out)
{
    size_t off, take, pos = 0;

    memset(out, 0, BM_DA_SHARE_SIZE);
    memcpy(out, sh->ns->b, BM_DA_NS_LEN);
    pos = BM_DA_NS_LEN;
    out[pos++] = (uint8_t)((sh->version << 1) | (i == 0 ? 1u : 0u));
    if (i == 0) {
        out[pos++] = (uint8_t)(sh->len >> 24);
        out[pos++] = (uint8_t)(sh->len >> 16);
        out[pos++] = (uint8_t)(sh->len >> 8);
        out[pos++] = (uint8_t)sh->len;
        if (sh->version == 1) {
            memcpy(out + pos, sh->signer, BM_DA_SIGNER_LEN);
            pos += BM_DA_SIGNER_LEN;
        }
        off = 0;
        take = sh->first_payload;
    } else {
        off = sh->first_payload + (i - 1) * CONT_PAYLOAD;
        take = CONT_PAYLOAD;
    }
    if (off >= sh->len) {
        return;
    }
    if (take > sh->len - off) {
        take = sh->len - off;
    }
    memcpy(out + pos, sh->data + off, take);
}

static void nmt_leaf(uint8_t out[NODE], const uint8_t *ns,
                     const uint8_t share[BM_DA_SHARE_SIZE])
{
    crypto_hash_sha256_state st;
    static const uint8_t zero = 0;

    memcpy(out, ns, BM_DA_NS_LEN);
    memcpy(out + BM_DA_NS_LEN, ns, BM_DA_NS_LEN);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, ns, BM_DA_NS_LEN);
    crypto_hash_sha256_update(&st, share, BM_DA_SHARE_SIZE);
    crypto_hash_sha256_final(&st, out + 2 * BM_DA_NS_LEN);
}

/* out may alias l. */
static void nmt_node(uint8_t out[NODE], const uint8_t l[NODE],
                     const uint8_t r[NODE])
{
    crypto_hash_sha256_state st;
    static const uint8_t one = 1;
    uint8_t min_ns[BM_DA_NS_LEN], max_ns[BM_DA_NS_LEN];
    bool right_is_parity = true;

    for (size_t i = 0; i < BM_DA_NS_LEN; i++) {
        if (r[i] != 0xff) {
            right_is_parity = false;
            break;
        }
    }
    memcpy(min_ns, l, BM_DA_NS_LEN);
    if (right_is_parity) {
        memcpy(max_ns, l + BM_DA_NS_LEN, BM_DA_NS_LEN);
    } else {
        memcpy(max_ns, r + BM_DA_NS_LEN, BM_DA_NS_LEN);
    }
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &one, 1);
    crypto_hash_sha256_update(&st, l, NODE);
    crypto_hash_sha256_update(&st, r, NODE);
    crypto_hash_sha256_final(&st, out + 2 * BM_DA_NS_LEN);
    memcpy(out, min_ns, BM_DA_NS_LEN);
    memcpy(out + BM_DA_NS_LEN, max_ns, BM_DA_NS_LEN);
}

/* RFC 6962 root over n items of NODE bytes. */
static void rfc6962_root(uint8_t out[32], const uint8_t (*items)[NODE],
                         size_t n)
{
    crypto_hash_sha256_state st;

    if (n == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return;
    }
    crypto_hash_sha256_init(&st);
    if (n == 1) {
        static const uint8_t zero = 0;
        crypto_hash_sha256_update(&st, &zero, 1);
        crypto_hash_sha256_update(&st, items[0], NODE);
    } else {
        static const uint8_t one = 1;
        uint8_t l[32], r[32];
        size_t k = split_point(n);
        rfc6962_root(l, items, k);
        rfc6962_root(r, items + k, n - k);
        crypto_hash_sha256_update(&st, &one, 1);
        crypto_hash_sha256_update(&st, l, 32);
        crypto_hash_sha256_update(&st, r, 32);
    }
    crypto_hash_sha256_final(&st, out);
}

enum bm_err bm_da_subtree_roots(uint8_t (**roots)[BM_DA_SUBTREE_ROOT_LEN],
                                size_t *count,
                                const struct bm_da_namespace *ns,
                                const uint8_t *data, size_t len,
                                unsigned share_version, const uint8_t *signer)
{
    struct sharer sh = {ns, data, len, share_version, signer, 0};
    uint8_t (*out)[NODE] = NULL;
    uint8_t (*level)[NODE] = NULL;
    uint8_t share[BM_DA_SHARE_SIZE];
    size_t shares, width, n_roots = 0, left, next = 0, cap;
    enum bm_err err = BM_OK;

    if (len == 0 || data == NULL || share_version > 1 ||
        (share_version == 1 && signer == NULL)) {
        return BM_EINVAL;
    }
    if (len > MAX_BLOB) {
        return BM_ETOOBIG;
    }
    sh.first_payload =
        FIRST_PAYLOAD_V0 - (share_version == 1 ? BM_DA_SIGNER_LEN : 0);
    shares = 1;
    if (len > sh.first_payload) {
        shares += (len - sh.first_payload + CONT_PAYLOAD - 1) / CONT_PAYLOAD;
    }
    width = subtree_width(shares);
    /* mountains: at most shares/width full ones plus log2(width) tails */
    cap = shares / width + 64;
    out = bm_calloc(cap, NODE);
    level = bm_calloc(width, NODE);
    if (out == NULL || level == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    left = shares;
    while (left > 0) {
        size_t take = left >= width ? width : round_down_pow2(left);
        for (size_t i = 0; i < take; i++) {
            build_share(&sh, next + i, share);
            nmt_leaf(level[i], ns->b, share);
        }
        for (size_t w = take; w > 1; w /= 2) {
            for (size_t i = 0; i < w / 2; i++) {
                nmt_node(level[i], level[2 * i], level[2 * i + 1]);
            }
        }
        memcpy(out[n_roots++], level[0], NODE);
        next += take;
        left -= take;
    }
    *roots = out;
    *count = n_roots;
    out = NULL;
out:
    bm_free(level);
    bm_free(out);
    return err;
}

enum bm_err bm_da_commitment(uint8_t out[BM_DA_COMMITMENT_LEN],
                             const struct bm_da_namespace *ns,
                             const uint8_t *data, size_t len,
                             unsigned share_version, const uint8_t *signer)
{
    uint8_t (*roots)[NODE] = NULL;
    size_t n = 0;
    enum bm_err err;

    err = bm_da_subtree_roots(&roots, &n, ns, data, len, share_version,
                              signer);
    if (err != BM_OK) {
        return err;
    }
    rfc6962_root(out, (const uint8_t(*)[NODE])roots, n);
    bm_free(roots);
    return BM_OK;
}
