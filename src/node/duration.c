/* Go duration syntax, see duration.h. */
#include "node/duration.h"

#include <stdbool.h>
#include <string.h>

#define DUR_MAX ((uint64_t)INT64_MAX)

static uint64_t unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1ull},
        {"us", 1000ull},
        {"\xc2\xb5s", 1000ull}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000ull}, /* U+03BC Greek mu */
        {"ms", 1000000ull},
        {"s", 1000000000ull},
        {"m", 60000000000ull},
        {"h", 3600000000000ull},
    };

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0) {
            return units[i].ns;
        }
    }
    return 0;
}

enum bm_err bm_duration_parse(const char *s, uint64_t *ns)
{
    uint64_t d = 0;

    if (s == NULL || *s == '\0') {
        return BM_EPARSE;
    }
    if (*s == '+') {
        s++;
    } else if (*s == '-') {
        return BM_EPARSE;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return BM_OK;
    }
    if (*s == '\0') {
        return BM_EPARSE;
    }
    while (*s != '\0') {
        uint64_t v = 0, f = 0, unit;
        double scale = 1;
        bool pre = false, post = false, overflow = false;
        const char *u;

        if (!(*s == '.' || (*s >= '0' && *s <= '9'))) {
            return BM_EPARSE;
        }
        for (; *s >= '0' && *s <= '9'; s++) {
            pre = true;
            if (__builtin_mul_overflow(v, 10u, &v) ||
                __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v) ||
                v > DUR_MAX) {
                return BM_EOVERFLOW;
            }
        }
        if (*s == '.') {
            s++;
            for (; *s >= '0' && *s <= '9'; s++) {
                post = true;
                if (overflow) {
                    continue;
                }
                if (f > (DUR_MAX - 9) / 10) {
                    overflow = true; /* ignore further digits, as Go */
                    continue;
                }
                f = f * 10 + (uint64_t)(*s - '0');
                scale *= 10;
            }
        }
        if (!pre && !post) {
            return BM_EPARSE;
        }
        u = s;
        while (*s != '\0' && *s != '.' && !(*s >= '0' && *s <= '9')) {
            s++;
        }
        if (s == u) {
            return BM_EPARSE; /* missing unit */
        }
        unit = unit_ns(u, (size_t)(s - u));
        if (unit == 0) {
            return BM_EPARSE;
        }
        if (v > DUR_MAX / unit) {
            return BM_EOVERFLOW;
        }
        v *= unit;
        if (f > 0) {
            double add = (double)f * ((double)unit / scale);
            if (add >= 9.3e18) {
                return BM_EOVERFLOW;
            }
            v += (uint64_t)add;
            if (v > DUR_MAX) {
                return BM_EOVERFLOW;
            }
        }
        if (__builtin_add_overflow(d, v, &d) || d > DUR_MAX) {
            return BM_EOVERFLOW;
        }
    }
    *ns = d;
    return BM_OK;
}

static size_t fmt_frac(char *buf, size_t w, uint64_t *v, int prec)
{
    bool print = false;

    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(*v % 10);
        print = print || digit != 0;
        if (print) {
            buf[--w] = (char)('0' + digit);
        }
        *v /= 10;
    }
    if (print) {
        buf[--w] = '.';
    }
    return w;
}

static size_t fmt_int(char *buf, size_t w, uint64_t v)
{
    if (v == 0) {
        buf[--w] = '0';
        return w;
    }
    while (v > 0) {
        buf[--w] = (char)('0' + v % 10);
        v /= 10;
    }
    return w;
}

void bm_duration_format(uint64_t ns, char out[BM_DURATION_STR_SIZE])
{
    char buf[BM_DURATION_STR_SIZE];
    size_t w = sizeof(buf);
    uint64_t u = ns;

    if (u == 0) {
        memcpy(out, "0s", 3);
        return;
    }
    if (u < 1000000000ull) {
        int prec = 0;
        buf[--w] = 's';
        w--;
        if (u < 1000ull) {
            buf[w] = 'n';
        } else if (u < 1000000ull) {
            prec = 3;
            w--;
            buf[w] = '\xc2';
            buf[w + 1] = '\xb5';
        } else {
            prec = 6;
            buf[w] = 'm';
        }
        w = fmt_frac(buf, w, &u, prec);
        w = fmt_int(buf, w, u);
    } else {
        buf[--w] = 's';
        w = fmt_frac(buf, w, &u, 9);
        w = fmt_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = fmt_int(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                w = fmt_int(buf, w, u);
            }
        }
    }
    memcpy(out, buf + w, sizeof(buf) - w);
    out[sizeof(buf) - w] = '\0';
}
