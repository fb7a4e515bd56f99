/*
 * Fuzz target: multiaddrs (src/p2p/multiaddr.h) on untrusted bytes. The
 * first byte picks the form: 0 text, 1 binary (an identify entry), 2 a
 * comma-separated list (the p2p.peers value); the rest is the input.
 * Whatever parses must round-trip: text -> binary -> text is a fixed
 * point, binary re-encodes to the very same bytes, and both forms decode
 * to equal values. Failures must leave a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/multiaddr.h"
#include "util/alloc.h"
#include "util/errmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const struct bm_multiaddr *ma)
{
    struct bm_multiaddr b;
    char text[BM_MULTIADDR_STR_SIZE], text2[BM_MULTIADDR_STR_SIZE];
    uint8_t bin[BM_MULTIADDR_BIN_MAX], bin2[BM_MULTIADDR_BIN_MAX];
    size_t tn = bm_multiaddr_format(ma, text);
    size_t bn = bm_multiaddr_encode(ma, bin);

    if (tn >= sizeof(text) || strlen(text) != tn || bn > sizeof(bin)) {
        abort();
    }
    if (bm_multiaddr_parse(&b, text, tn, NULL) != BM_OK ||
        !bm_multiaddr_eq(ma, &b)) {
        abort(); /* canonical text must parse back to the same value */
    }
    if (bm_multiaddr_format(&b, text2) != tn || memcmp(text, text2, tn)) {
        abort();
    }
    if (bm_multiaddr_decode(&b, bin, bn, NULL) != BM_OK ||
        !bm_multiaddr_eq(ma, &b) || bm_multiaddr_encode(&b, bin2) != bn ||
        memcmp(bin, bin2, bn) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bm_multiaddr ma, list[4];
    struct bm_errmsg em = {{0}};
    uint8_t bin[BM_MULTIADDR_BIN_MAX];
    char *s;
    size_t count = 7;
    enum bm_err err;

    if (size == 0) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        err = bm_multiaddr_parse(&ma, (const char *)data + 1, size - 1, &em);
        if (err == BM_OK) {
            check_value(&ma);
        } else if (em.msg[0] == '\0') {
            abort();
        }
        break;
    case 1:
        err = bm_multiaddr_decode(&ma, data + 1, size - 1, &em);
        if (err == BM_OK) {
            /* The binary form is canonical: it re-encodes exactly. */
            if (bm_multiaddr_encode(&ma, bin) != size - 1 ||
                memcmp(bin, data + 1, size - 1) != 0) {
                abort();
            }
            check_value(&ma);
        } else if (em.msg[0] == '\0') {
            abort();
        }
        break;
    default:
        s = bm_malloc(size);
        if (s == NULL) {
            return 0;
        }
        memcpy(s, data + 1, size - 1);
        s[size - 1] = '\0';
        err = bm_multiaddr_parse_list(s, data[0] & 0x80, list, 4, &count, &em);
        if (err == BM_OK) {
            if (count > 4) {
                abort();
            }
            for (size_t i = 0; i < count; i++) {
                check_value(&list[i]);
                if ((data[0] & 0x80) && !bm_multiaddr_is_dialable(&list[i])) {
                    abort();
                }
            }
        } else if (count != 0 || em.msg[0] == '\0') {
            abort();
        }
        bm_free(s);
        break;
    }
    return 0;
}
