/* RFC 3339 parsing and formatting, see rfc3339.h. */
#include "util/rfc3339.h"

#include <stdbool.h>
#include <stdio.h>

#define NS_PER_S 1000000000

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic:
 * 400-year cycles of 146097 days, years starting in March). Days past the
 * end of the month extend linearly into the next one. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n ASCII digits (n <= 4) -> *out. */
static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_char(char c, char upper, unsigned flags)
{
    return c == upper ||
           ((flags & BM_RFC3339_LOWER) != 0 && c == (char)(upper + 32));
}

enum bm_err bm_rfc3339_parse(const char *s, size_t len, unsigned flags,
                             int64_t *sec, int32_t *nsec)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
    unsigned year, mon, day, hour, min, secs, oh = 0, om = 0, dim;
    int32_t frac = 0;
    size_t i = 19;
    int sign = 0;

    if (len < 20 || !digits(s, 4, &year) || s[4] != '-' ||
        !digits(s + 5, 2, &mon) || s[7] != '-' || !digits(s + 8, 2, &day) ||
        !is_char(s[10], 'T', flags) || !digits(s + 11, 2, &hour) ||
        s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' ||
        !digits(s + 17, 2, &secs)) {
        return BM_EPARSE;
    }
    if (s[i] == '.' || (s[i] == ',' && (flags & BM_RFC3339_COMMA) != 0)) {
        size_t nd = 0;

        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
            if (nd < 9) {
                frac = frac * 10 + (int32_t)(s[i] - '0');
            }
        }
        if (nd == 0) {
            return BM_EPARSE;
        }
        for (; nd < 9; nd++) {
            frac *= 10;
        }
    }
    if (i >= len) {
        return BM_EPARSE;
    }
    if (is_char(s[i], 'Z', flags)) {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (len - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &om)) {
            return BM_EPARSE;
        }
        i += 6;
    } else {
        return BM_EPARSE;
    }
    if (i != len) {
        return BM_EPARSE;
    }
    if (mon < 1 || mon > 12 || day < 1 || hour > 23 || min > 59 ||
        secs > ((flags & BM_RFC3339_SEC60) != 0 ? 60u : 59u) || oh > 23 ||
        om > 59) {
        return BM_EPARSE;
    }
    dim = (flags & BM_RFC3339_LOOSE_MDAY) != 0
              ? 31
              : mdays[mon - 1] + (mon == 2 && is_leap(year) ? 1 : 0);
    if (day > dim) {
        return BM_EPARSE;
    }
    *sec = days_from_civil(year, mon, day) * 86400 + hour * 3600 +
           min * 60 + secs - sign * (int64_t)(oh * 3600 + om * 60);
    *nsec = frac;
    return BM_OK;
}

static size_t format(int64_t sec, int32_t nsec, bool trim,
                     char out[BM_RFC3339_MAX])
{
    int64_t days = sec / 86400, sod = sec % 86400, y;
    unsigned m, d;
    int n;

    /* Fold nsec into the second of day, then the second of day into the
     * day: no intermediate can overflow, whatever sec is. */
    sod += nsec / NS_PER_S;
    nsec %= NS_PER_S;
    if (nsec < 0) {
        nsec += NS_PER_S;
        sod--;
    }
    while (sod < 0) {
        sod += 86400;
        days--;
    }
    while (sod >= 86400) {
        sod -= 86400;
        days++;
    }
    civil_from_days(days, &y, &m, &d);
    n = snprintf(out, BM_RFC3339_MAX, "%s%04lld-%02u-%02uT%02u:%02u:%02u",
                 y < 0 ? "-" : "", y < 0 ? -(long long)y : (long long)y, m, d,
                 (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60),
                 (unsigned)(sod % 60));
    if (n < 0 || (size_t)n + sizeof(".123456789Z") > BM_RFC3339_MAX) {
        out[0] = '\0'; /* unreachable: the year has at most 12 digits */
        return 0;
    }
    if (nsec != 0 || !trim) {
        int nd = 9;

        while (trim && nsec % 10 == 0) {
            nsec /= 10;
            nd--;
        }
        n += snprintf(out + n, (size_t)(BM_RFC3339_MAX - n), ".%0*d", nd,
                      (int)nsec);
    }
    out[n] = 'Z';
    out[n + 1] = '\0';
    return (size_t)n + 1;
}

size_t bm_rfc3339_format_utc(int64_t sec, int32_t nsec,
                             char out[BM_RFC3339_MAX])
{
    return format(sec, nsec, true, out);
}

size_t bm_rfc3339_format_utc9(int64_t sec, int32_t nsec,
                              char out[BM_RFC3339_MAX])
{
    return format(sec, nsec, false, out);
}
