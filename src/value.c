/* value — in-memory ordering and equality of PostgreSQL value texts (see value.h). */
#include "value.h"

#include "decimal.h"
#include "pgtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

value_kind value_kind_of(uint32_t oid)
{
    switch (oid) {
    case 25:   /* text */
    case 1043: /* varchar */
    case 19:   /* name */
    case 18:   /* "char" */
    case 2950: /* uuid: lower-case hex text orders as its bytes */
        return VK_TEXT;
    case 1042: /* bpchar */
        return VK_BPCHAR;
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
    case 26: /* oid */
        return VK_INT;
    case 700: /* float4 */
    case 701: /* float8 */
        return VK_FLOAT;
    case 1700:
        return VK_NUMERIC;
    case 16:
        return VK_BOOL;
    case 1082: /* date */
    case 1114: /* timestamp */
    case 1184: /* timestamptz */
        return VK_TIME;
    default:
        return VK_OTHER;
    }
}

const char *value_kind_name(value_kind k)
{
    static const char *const names[] = {"text",    "bpchar",  "integer", "float",
                                        "numeric", "boolean", "time",    "other"};
    return names[k];
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

static size_t trim_spaces(const char *s, size_t len)
{
    while (len > 0 && s[len - 1] == ' ')
        len--;
    return len;
}

static double to_double(const char *s, size_t len)
{
    char buf[64];
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return strtod(buf, NULL);
}

static int64_t to_int(const char *s, size_t len)
{
    char buf[32];
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10);
}

int value_cmp(value_kind k, const char *a, size_t alen, const char *b, size_t blen)
{
    switch (k) {
    case VK_BPCHAR:
        return bytes_cmp(a, trim_spaces(a, alen), b, trim_spaces(b, blen));
    case VK_INT: {
        int64_t x = to_int(a, alen), y = to_int(b, blen);
        return x < y ? -1 : x > y;
    }
    case VK_FLOAT: {
        double x = to_double(a, alen), y = to_double(b, blen);
        if (isnan(x) || isnan(y))
            return isnan(x) - isnan(y); /* NaN sorts after everything, equals itself */
        return x < y ? -1 : x > y;
    }
    case VK_NUMERIC:
        return dec_cmp_text(a, alen, b, blen);
    case VK_BOOL:
        return (alen && a[0] == 't') - (blen && b[0] == 't');
    case VK_TIME: {
        int64_t x, y, xu, yu;
        if (pgtime_parse(a, alen, &x) == 0 && pgtime_parse(b, blen, &y) == 0)
            return x < y ? -1 : x > y;
        /* dates beyond the microseconds' range (past 294276 AD) */
        if (pgtime_parse_days(a, alen, &x, &xu) == 0 && pgtime_parse_days(b, blen, &y, &yu) == 0)
            return x != y ? (x < y ? -1 : 1) : (xu < yu ? -1 : xu > yu);
        return bytes_cmp(a, alen, b, blen);
    }
    case VK_TEXT:
    case VK_OTHER:
        break;
    }
    return bytes_cmp(a, alen, b, blen);
}

const char *value_key(value_kind k, const char *s, size_t len, strbuf *scratch, size_t *keylen)
{
    switch (k) {
    case VK_BPCHAR:
        *keylen = trim_spaces(s, len);
        return s;
    case VK_NUMERIC:
        sb_reset(scratch);
        dec_normalize_text(s, len, scratch);
        *keylen = scratch->len;
        return sb_str(scratch);
    case VK_FLOAT:
        if (to_double(s, len) == 0) { /* -0 = 0 */
            *keylen = 1;
            return "0";
        }
        break;
    case VK_TIME: {
        /* the same instant prints the same in one session, except timestamptz offsets */
        int64_t t;
        if (pgtime_parse(s, len, &t) == 0) {
            sb_reset(scratch);
            sb_appendf(scratch, "%lld", (long long)t);
            *keylen = scratch->len;
            return sb_str(scratch);
        }
        break;
    }
    default:
        break;
    }
    *keylen = len;
    return s;
}
