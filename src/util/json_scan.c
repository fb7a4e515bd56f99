/* Streaming JSON scanner primitives, see json_scan.h. */
#include "util/json_scan.h"

#include <string.h>

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

void bm_json_scan_ws(struct bm_json_scan *s)
{
    while (s->p < s->end && is_ws(*s->p)) {
        s->p++;
    }
}

bool bm_json_scan_byte(struct bm_json_scan *s, uint8_t c)
{
    bm_json_scan_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

bool bm_json_scan_peek(struct bm_json_scan *s, uint8_t c)
{
    bm_json_scan_ws(s);
    return s->p < s->end && *s->p == c;
}

bool bm_json_scan_word(struct bm_json_scan *s, const char *word, size_t n)
{
    bm_json_scan_ws(s);
    if ((size_t)(s->end - s->p) >= n && memcmp(s->p, word, n) == 0) {
        s->p += n;
        return true;
    }
    return false;
}

bool bm_json_scan_raw_string(struct bm_json_scan *s, const uint8_t **str,
                             size_t *len)
{
    const uint8_t *q;

    if (!bm_json_scan_byte(s, '"')) {
        return false;
    }
    q = memchr(s->p, '"', (size_t)(s->end - s->p));
    if (q == NULL) {
        return false;
    }
    *str = s->p;
    *len = (size_t)(q - s->p);
    s->p = q + 1;
    return true;
}

bool bm_json_scan_string(struct bm_json_scan *s, const uint8_t **str,
                         size_t *len)
{
    if (!bm_json_scan_raw_string(s, str, len)) {
        return false;
    }
    for (size_t i = 0; i < *len; i++) {
        uint8_t c = (*str)[i];
        if (c == '\\' || c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

bool bm_json_scan_int(struct bm_json_scan *s, int64_t *out)
{
    bool neg;
    int64_t v = 0;
    size_t nd = 0;

    bm_json_scan_ws(s);
    neg = s->p < s->end && *s->p == '-';
    if (neg) {
        s->p++;
    }
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (nd == 18 || (nd == 1 && v == 0)) {
            return false; /* too long for this path, or a leading zero */
        }
        v = v * 10 + (*s->p - '0');
        nd++;
        s->p++;
    }
    if (nd == 0 || s->p == s->end ||
        (*s->p != ',' && *s->p != '}' && *s->p != ']' && !is_ws(*s->p))) {
        return false;
    }
    if (neg && v == 0) {
        return false; /* -0 */
    }
    *out = neg ? -v : v;
    return true;
}
