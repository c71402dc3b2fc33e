/* pgtime — PostgreSQL timestamp text <-> microseconds (see pgtime.h). */
#include "pgtime.h"

#include <stdio.h>
#include <string.h>

#define USECS_PER_DAY INT64_C(86400000000)
/* Days from 0000-03-01 (astronomical) to 2000-01-01. */
#define EPOCH_DAYS 730425

/* Days since 2000-01-01 of a proleptic Gregorian date (astronomical year). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - EPOCH_DAYS;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += EPOCH_DAYS;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Read exactly n digits (n > 0) or, with n == 0, one or more. */
static int digits(const char **p, const char *end, int n, int64_t *v)
{
    int64_t x = 0;
    int k = 0;
    while (*p < end && **p >= '0' && **p <= '9' && (n == 0 || k < n)) {
        if (k > 12)
            return -1;
        x = x * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    if (k == 0 || (n && k != n))
        return -1;
    *v = x;
    return 0;
}

int pgtime_parse_days(const char *s, size_t len, int64_t *days, int64_t *usec_of_day)
{
    const char *p = s, *end = s + len;
    *usec_of_day = 0;
    if (len == 8 && !memcmp(s, "infinity", 8)) {
        *days = INT64_MAX;
        return 0;
    }
    if (len == 9 && !memcmp(s, "-infinity", 9)) {
        *days = INT64_MIN;
        return 0;
    }
    int64_t year, mon, day, hh = 0, mm = 0, ss = 0, usec = 0;
    if (digits(&p, end, 0, &year) || p >= end || *p++ != '-' || digits(&p, end, 2, &mon) ||
        p >= end || *p++ != '-' || digits(&p, end, 2, &day))
        return -1;
    if (p < end && (*p == ' ' || *p == 'T') && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
        p++;
        if (digits(&p, end, 2, &hh) || p >= end || *p++ != ':' || digits(&p, end, 2, &mm) ||
            p >= end || *p++ != ':' || digits(&p, end, 2, &ss))
            return -1;
        if (p < end && *p == '.') {
            p++;
            int k = 0;
            while (p < end && *p >= '0' && *p <= '9') {
                if (k < 6)
                    usec = usec * 10 + (*p - '0');
                k++;
                p++;
            }
            if (k == 0)
                return -1;
            for (; k < 6; k++)
                usec *= 10;
        }
    }
    int64_t offset = 0; /* seconds east of UTC */
    if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1;
        int64_t oh, om = 0, os = 0;
        if (digits(&p, end, 2, &oh))
            return -1;
        if (p < end && *p == ':') {
            p++;
            if (digits(&p, end, 2, &om))
                return -1;
            if (p < end && *p == ':') {
                p++;
                if (digits(&p, end, 2, &os))
                    return -1;
            }
        }
        offset = sign * (oh * 3600 + om * 60 + os);
    }
    if (end - p == 3 && !memcmp(p, " BC", 3)) {
        year = 1 - year; /* 1 BC is astronomical year 0 */
        p = end;
    }
    if (p != end || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 24 || mm > 59 || ss > 60)
        return -1;
    /* PostgreSQL's dates end in 5874897 AD */
    if (year > 6000000 || year < -6000000)
        return -1;
    int64_t d = days_from_civil(year, (int)mon, (int)day);
    int64_t u = ((hh * 60 + mm) * 60 + ss - offset) * INT64_C(1000000) + usec;
    d += u / USECS_PER_DAY; /* an offset can move it to the day before or after */
    u %= USECS_PER_DAY;
    if (u < 0) {
        u += USECS_PER_DAY;
        d--;
    }
    *days = d;
    *usec_of_day = u;
    return 0;
}

int pgtime_parse(const char *s, size_t len, int64_t *out)
{
    int64_t days, usec, t;
    if (pgtime_parse_days(s, len, &days, &usec) != 0)
        return -1;
    if (days == INT64_MAX || days == INT64_MIN) {
        *out = days == INT64_MAX ? PGTIME_INFINITY : PGTIME_NINF;
        return 0;
    }
    /* beyond PostgreSQL's timestamps (294276 AD; dates go further) the
     * microseconds would overflow: not representable here */
    if (__builtin_mul_overflow(days, USECS_PER_DAY, &t) || __builtin_add_overflow(t, usec, &t) ||
        t >= PGTIME_INFINITY || t <= PGTIME_NINF)
        return -1;
    *out = t;
    return 0;
}

int pgtime_format(int64_t t, char out[40])
{
    if (t == PGTIME_NULL)
        return -1;
    if (t == PGTIME_INFINITY) {
        strcpy(out, "infinity");
        return 0;
    }
    if (t == PGTIME_NINF) {
        strcpy(out, "-infinity");
        return 0;
    }
    int64_t days = t / USECS_PER_DAY, rem = t % USECS_PER_DAY;
    if (rem < 0) {
        rem += USECS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000000, usec = rem % 1000000;
    int bc = y <= 0;
    int n =
        snprintf(out, 40, "%04lld-%02d-%02d %02lld:%02lld:%02lld", (long long)(bc ? 1 - y : y), m,
                 d, (long long)(secs / 3600), (long long)(secs / 60 % 60), (long long)(secs % 60));
    if (usec) {
        char frac[8];
        snprintf(frac, sizeof frac, ".%06lld", (long long)usec);
        size_t k = strlen(frac);
        while (frac[k - 1] == '0')
            frac[--k] = '\0';
        n += snprintf(out + n, (size_t)(40 - n), "%s", frac);
    }
    if (bc)
        snprintf(out + n, (size_t)(40 - n), " BC");
    return 0;
}
