/*
 * Fuzz target: the JSON/field layer of signer.json (bm_signer_file_parse,
 * no Argon2) and node_key.json (bm_node_key_parse). A parsed signer file
 * must re-encode to bytes that parse to the same fields (fixed point).
 * Legacy files (no salt) are also decrypted with a fixed passphrase: that
 * path is cheap (no Argon2) and exercises AES-GCM on hostile sizes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockv2/keys.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_signer_file a = {0}, b = {0};
    struct bm_buf e1 = {0}, e2 = {0};
    struct bm_privkey k;
    struct bm_errmsg em;

    (void)bm_node_key_parse(&k, data, size, "fuzz", &em);

    if (bm_signer_file_parse(&a, data, size, "fuzz", &em) != BM_OK) {
        return 0;
    }
    if (bm_signer_file_encode(&a, &e1) != BM_OK) {
        goto out;
    }
    if (bm_signer_file_parse(&b, e1.ptr, e1.len, "fuzz2", &em) != BM_OK) {
        fprintf(stderr, "re-parse failed: %s\n", em.msg);
        abort();
    }
    if (!bm_buf_eq(&a.priv_key_encrypted, &b.priv_key_encrypted) ||
        !bm_buf_eq(&a.nonce, &b.nonce) || !bm_buf_eq(&a.pub_key, &b.pub_key) ||
        !bm_buf_eq(&a.salt, &b.salt)) {
        fprintf(stderr, "signer file round trip changed a field\n");
        abort();
    }
    if (bm_signer_file_encode(&b, &e2) == BM_OK && !bm_buf_eq(&e1, &e2)) {
        fprintf(stderr, "signer file encoding is not a fixed point\n");
        abort();
    }
    if (a.salt.len == 0) {
        int err = bm_signer_file_decrypt(&a, (const uint8_t *)"fuzz", 4,
                                         "fuzz", &k, &em);
        if (err != BM_OK && err != BM_EPASSPHRASE && err != BM_ECORRUPT) {
            fprintf(stderr, "legacy decrypt: unexpected %s\n",
                    bm_err_name(err));
            abort();
        }
    }
out:
    bm_buf_release(&e1);
    bm_buf_release(&e2);
    bm_signer_file_release(&a);
    bm_signer_file_release(&b);
    return 0;
}
