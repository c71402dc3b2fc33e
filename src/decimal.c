/* decimal — exact numeric arithmetic matching PostgreSQL 15 (see decimal.h). */
#include "decimal.h"

#include <stdlib.h>
#include <string.h>

#define BASE       1000000000u /* one limb holds 9 decimal digits */
#define MAX_INT    131072      /* digits before the point numeric accepts */
#define MAX_DSCALE 16383       /* digits after it (NUMERIC_DSCALE_MAX) */

/* PostgreSQL's numeric constants used by select_div_scale. */
#define DEC_DIGITS        4 /* decimal digits per NBASE (10000) digit */
#define MIN_SIG_DIGITS    16
#define MAX_DISPLAY_SCALE 1000

__extension__ typedef unsigned __int128 u128;

static const uint32_t pow10_tab[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};

/* ---- lexing ------------------------------------------------------------ */

/* A number text taken apart, pointing into the caller's bytes. */
typedef struct numtext {
    uint8_t kind;   /* enum dec_kind */
    uint8_t neg;    /* a '-' was written (also for a zero) */
    const char *ip; /* integer digits without leading zeros */
    size_t ilen;
    const char *fp; /* fraction digits as written */
    size_t flen;    /* = the display scale */
    size_t fsig;    /* flen without trailing zeros */
} numtext;

static bool ieq(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return false;
    }
    return true;
}

/* Take the text s apart; 0, or -1 if it is not a number decimal.h accepts. */
static int lex(const char *s, size_t len, numtext *t)
{
    memset(t, 0, sizeof *t);
    t->ip = t->fp = s;
    if (len && (s[len - 1] < '0' || s[len - 1] > '9') && s[len - 1] != '.') {
        if (ieq(s, len, "nan"))
            t->kind = DEC_NAN;
        else if (ieq(s, len, "infinity") || ieq(s, len, "+infinity") || ieq(s, len, "inf") ||
                 ieq(s, len, "+inf"))
            t->kind = DEC_PINF;
        else if (ieq(s, len, "-infinity") || ieq(s, len, "-inf"))
            t->kind = DEC_NINF;
        else
            return -1;
        return 0;
    }
    const char *p = s, *end = s + len;
    if (p < end && (*p == '+' || *p == '-'))
        t->neg = *p++ == '-';
    while (p < end && *p == '0')
        p++;
    const char *ib = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    t->ip = ib;
    t->ilen = (size_t)(p - ib);
    bool any = t->ilen > 0 || (ib > s && ib[-1] == '0');
    if (p < end && *p == '.') {
        p++;
        t->fp = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        t->flen = (size_t)(p - t->fp);
        any = any || t->flen > 0;
    }
    if (p != end || !any || t->ilen > MAX_INT || t->flen > MAX_DSCALE)
        return -1;
    t->fsig = t->flen;
    while (t->fsig > 0 && t->fp[t->fsig - 1] == '0')
        t->fsig--;
    return 0;
}

/* ---- limbs ------------------------------------------------------------- */

static inline uint32_t *limbs(decimal *d)
{
    return d->heap ? d->heap : d->inl;
}

static inline const uint32_t *climbs(const decimal *d)
{
    return d->heap ? d->heap : d->inl;
}

/* Make room for n limbs, keeping those in use. */
static void reserve(decimal *d, int32_t n)
{
    if (n <= (d->heap ? d->cap : DEC_INLINE))
        return;
    int32_t c = d->heap ? d->cap : DEC_INLINE;
    while (c < n)
        c *= 2;
    if (d->heap) {
        d->heap = xrealloc(d->heap, (size_t)c * sizeof(uint32_t));
    } else {
        d->heap = xmalloc((size_t)c * sizeof(uint32_t));
        memcpy(d->heap, d->inl, (size_t)d->nlimb * sizeof(uint32_t));
    }
    d->cap = c;
}

/* Drop high zero limbs above the point; a zero becomes nlimb = nfrac = 0, so
 * that a finite d is zero exactly when nlimb == 0. */
static void trim(decimal *d)
{
    const uint32_t *a = climbs(d);
    while (d->nlimb > d->nfrac && a[d->nlimb - 1] == 0)
        d->nlimb--;
    if (d->nlimb == d->nfrac) {
        int32_t i = d->nfrac;
        while (i > 0 && a[i - 1] == 0)
            i--;
        if (i == 0)
            d->nlimb = d->nfrac = 0;
    }
    if (d->nlimb == 0)
        d->neg = 0;
}

/* The limb covering 10^(9*pos) .. 10^(9*pos+8), zero outside d's limbs. */
static inline uint32_t limb_at(const decimal *d, int32_t pos)
{
    int32_t i = pos + d->nfrac;
    return i >= 0 && i < d->nlimb ? climbs(d)[i] : 0;
}

static int cmp_mag(const decimal *a, const decimal *b)
{
    int32_t hi = a->nlimb - a->nfrac, lo = -a->nfrac;
    if (b->nlimb - b->nfrac > hi)
        hi = b->nlimb - b->nfrac;
    if (-b->nfrac < lo)
        lo = -b->nfrac;
    for (int32_t p = hi - 1; p >= lo; p--) {
        uint32_t x = limb_at(a, p), y = limb_at(b, p);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

/* Decimal digits of v (1 for 0). */
static inline int ndigits(uint32_t v)
{
    int n = 1;
    while (n < 10 && v >= pow10_tab[n])
        n++;
    return n;
}

/* Digits before the point, without leading zeros (0 for |d| < 1). */
static size_t int_digit_count(const decimal *d)
{
    if (d->nlimb <= d->nfrac)
        return 0;
    return (size_t)(d->nlimb - d->nfrac - 1) * 9 + (size_t)ndigits(climbs(d)[d->nlimb - 1]);
}

static inline void put9(char *p, uint32_t v)
{
    for (int i = 8; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Write the int_digit_count(d) integer digits to out. */
static void put_int_digits(const decimal *d, char *out)
{
    const uint32_t *a = climbs(d);
    int32_t i = d->nlimb - 1;
    if (i < d->nfrac)
        return;
    char tmp[9];
    put9(tmp, a[i]);
    int n = ndigits(a[i]);
    memcpy(out, tmp + 9 - n, (size_t)n);
    out += n;
    for (i--; i >= d->nfrac; i--, out += 9)
        put9(out, a[i]);
}

/* Write the first n fraction digits to out (zeros past d's limbs). */
static void put_frac_digits(const decimal *d, char *out, size_t n)
{
    const uint32_t *a = climbs(d);
    size_t j = 0;
    for (int32_t i = d->nfrac - 1; i >= 0 && j < n; i--) {
        char tmp[9];
        put9(tmp, a[i]);
        size_t k = n - j < 9 ? n - j : 9;
        memcpy(out + j, tmp, k);
        j += k;
    }
    memset(out + j, '0', n - j);
}

/* ---- the API ----------------------------------------------------------- */

void dec_init(decimal *d)
{
    memset(d, 0, sizeof *d);
}

void dec_free(decimal *d)
{
    free(d->heap);
    dec_init(d);
}

/* Fill d (whose buffer is kept) from a lexed text. */
static void set_text(decimal *d, const numtext *t)
{
    d->kind = t->kind;
    d->neg = 0;
    d->nlimb = d->nfrac = d->dscale = 0;
    if (t->kind != DEC_FINITE)
        return;
    int32_t nfrac = (int32_t)((t->fsig + 8) / 9), nint = (int32_t)((t->ilen + 8) / 9);
    reserve(d, nfrac + nint);
    uint32_t *a = limbs(d);
    for (int32_t k = 0; k < nfrac; k++) {
        uint32_t v = 0;
        for (size_t p = (size_t)k * 9; p < (size_t)k * 9 + 9; p++)
            v = v * 10 + (p < t->fsig ? (uint32_t)(t->fp[p] - '0') : 0);
        a[nfrac - 1 - k] = v;
    }
    for (int32_t k = 0; k < nint; k++) {
        size_t e = t->ilen - (size_t)k * 9, b = e >= 9 ? e - 9 : 0;
        uint32_t v = 0;
        for (size_t p = b; p < e; p++)
            v = v * 10 + (uint32_t)(t->ip[p] - '0');
        a[nfrac + k] = v;
    }
    d->nfrac = nfrac;
    d->nlimb = nfrac + nint;
    d->dscale = (int32_t)t->flen;
    d->neg = t->neg && d->nlimb > 0;
}

int dec_parse(decimal *d, const char *s, size_t len)
{
    numtext t;
    if (lex(s, len, &t) != 0) {
        d->kind = DEC_FINITE;
        d->neg = 0;
        d->nlimb = d->nfrac = d->dscale = 0;
        return -1;
    }
    set_text(d, &t);
    return 0;
}

/* The kind of a sum of two values of these kinds (one of them special). */
static uint8_t add_kinds(uint8_t a, uint8_t b)
{
    if (a == DEC_NAN || b == DEC_NAN)
        return DEC_NAN;
    if (a == DEC_FINITE)
        return b;
    if (b == DEC_FINITE || a == b)
        return a;
    return DEC_NAN; /* +Infinity + -Infinity */
}

/* Put k zero limbs below acc's limbs (more fraction digits). */
static void widen_frac(decimal *acc, int32_t k)
{
    reserve(acc, acc->nlimb + k);
    uint32_t *a = limbs(acc);
    memmove(a + k, a, (size_t)acc->nlimb * sizeof(uint32_t));
    memset(a, 0, (size_t)k * sizeof(uint32_t));
    acc->nlimb += k;
    acc->nfrac += k;
}

void dec_add(decimal *acc, const decimal *v)
{
    if (acc == v) {
        decimal copy;
        dec_init(&copy);
        reserve(&copy, v->nlimb);
        memcpy(limbs(&copy), climbs(v), (size_t)v->nlimb * sizeof(uint32_t));
        copy.nlimb = v->nlimb;
        copy.nfrac = v->nfrac;
        copy.dscale = v->dscale;
        copy.neg = v->neg;
        copy.kind = v->kind;
        dec_add(acc, &copy);
        dec_free(&copy);
        return;
    }
    if (acc->kind != DEC_FINITE || v->kind != DEC_FINITE) {
        acc->kind = add_kinds(acc->kind, v->kind);
        return;
    }
    if (v->dscale > acc->dscale)
        acc->dscale = v->dscale;
    if (v->nlimb == 0)
        return;
    if (acc->nfrac < v->nfrac)
        widen_frac(acc, v->nfrac - acc->nfrac);
    int32_t ai = acc->nlimb - acc->nfrac, vi = v->nlimb - v->nfrac;
    int32_t n = acc->nfrac + (ai > vi ? ai : vi); /* limbs of the aligned operands */
    reserve(acc, n + 1);
    uint32_t *a = limbs(acc);
    const uint32_t *b = climbs(v);
    for (int32_t i = acc->nlimb; i <= n; i++)
        a[i] = 0;
    acc->nlimb = n + 1;
    int32_t off = acc->nfrac - v->nfrac; /* v's limb j is acc's limb j + off */

    if (acc->neg == v->neg) {
        uint32_t carry = 0;
        int32_t i = off;
        for (int32_t j = 0; j < v->nlimb; j++, i++) {
            uint32_t s = a[i] + b[j] + carry;
            carry = s >= BASE;
            a[i] = carry ? s - BASE : s;
        }
        for (; carry; i++) {
            uint32_t s = a[i] + 1;
            carry = s >= BASE;
            a[i] = carry ? 0 : s;
        }
    } else if (cmp_mag(acc, v) >= 0) { /* |acc| -= |v| */
        uint32_t borrow = 0;
        int32_t i = off;
        for (int32_t j = 0; j < v->nlimb; j++, i++) {
            uint32_t sub = b[j] + borrow;
            borrow = a[i] < sub;
            a[i] = borrow ? a[i] + BASE - sub : a[i] - sub;
        }
        for (; borrow; i++) {
            borrow = a[i] == 0;
            a[i] = borrow ? BASE - 1 : a[i] - 1;
        }
    } else { /* |acc| = |v| - |acc|, v's sign */
        uint32_t borrow = 0;
        for (int32_t i = 0; i < n; i++) {
            int32_t j = i - off;
            uint32_t x = j >= 0 && j < v->nlimb ? b[j] : 0, sub = a[i] + borrow;
            borrow = x < sub;
            a[i] = borrow ? x + BASE - sub : x - sub;
        }
        acc->neg = v->neg;
    }
    trim(acc);
}

int dec_add_text(decimal *acc, const char *s, size_t len)
{
    numtext t;
    if (lex(s, len, &t) != 0)
        return -1;
    decimal v;
    dec_init(&v);
    set_text(&v, &t);
    dec_add(acc, &v);
    dec_free(&v);
    return 0;
}

/* Rank of a kind in PostgreSQL's order. */
static int kind_rank(uint8_t kind)
{
    switch (kind) {
    case DEC_NINF:
        return 0;
    case DEC_FINITE:
        return 1;
    case DEC_PINF:
        return 2;
    default:
        return 3;
    }
}

int dec_cmp(const decimal *a, const decimal *b)
{
    int ra = kind_rank(a->kind), rb = kind_rank(b->kind);
    if (ra != rb || a->kind != DEC_FINITE)
        return (ra > rb) - (ra < rb);
    int sa = a->nlimb == 0 ? 0 : a->neg ? -1 : 1;
    int sb = b->nlimb == 0 ? 0 : b->neg ? -1 : 1;
    if (sa != sb || sa == 0)
        return (sa > sb) - (sa < sb);
    int m = cmp_mag(a, b);
    return sa < 0 ? -m : m;
}

int dec_cmp_text(const char *a, size_t alen, const char *b, size_t blen)
{
    numtext x, y;
    if (lex(a, alen, &x) != 0)
        x.kind = DEC_NAN;
    if (lex(b, blen, &y) != 0)
        y.kind = DEC_NAN;
    int rx = kind_rank(x.kind), ry = kind_rank(y.kind);
    if (rx != ry || x.kind != DEC_FINITE)
        return (rx > ry) - (rx < ry);
    int sx = x.ilen == 0 && x.fsig == 0 ? 0 : x.neg ? -1 : 1;
    int sy = y.ilen == 0 && y.fsig == 0 ? 0 : y.neg ? -1 : 1;
    if (sx != sy || sx == 0)
        return (sx > sy) - (sx < sy);
    int m;
    if (x.ilen != y.ilen) {
        m = x.ilen < y.ilen ? -1 : 1;
    } else {
        m = memcmp(x.ip, y.ip, x.ilen);
        if (m == 0) {
            size_t n = x.fsig < y.fsig ? x.fsig : y.fsig;
            m = memcmp(x.fp, y.fp, n);
            if (m == 0)
                m = (x.fsig > y.fsig) - (x.fsig < y.fsig);
        }
        m = (m > 0) - (m < 0);
    }
    return sx < 0 ? -m : m;
}

static const char *special_text(uint8_t kind)
{
    return kind == DEC_NAN ? "NaN" : kind == DEC_PINF ? "Infinity" : "-Infinity";
}

void dec_format(const decimal *d, strbuf *out)
{
    if (d->kind != DEC_FINITE) {
        sb_append(out, special_text(d->kind));
        return;
    }
    size_t ni = int_digit_count(d), fs = (size_t)d->dscale;
    sb_reserve(out, 3 + ni + fs);
    char *p = out->buf + out->len;
    if (d->neg)
        *p++ = '-';
    if (ni == 0)
        *p++ = '0';
    put_int_digits(d, p);
    p += ni;
    if (fs > 0) {
        *p++ = '.';
        put_frac_digits(d, p, fs);
        p += fs;
    }
    *p = '\0';
    out->len = (size_t)(p - out->buf);
}

/* The decimal digit of |d| at 10^p (0 outside its limbs). */
static int digit_at(const decimal *d, int64_t p)
{
    int64_t q = p >= 0 ? p / 9 : -((-p + 8) / 9); /* floor(p / 9) */
    int64_t r = p - q * 9;
    int32_t pos = (int32_t)q;
    if (pos != q)
        return 0;
    return (int)(limb_at(d, pos) / pow10_tab[r] % 10);
}

/* Exponent of the leading digit of a nonzero |d| (2 for 123.4, -3 for 0.001). */
static int64_t lead_exponent(const decimal *d)
{
    const uint32_t *a = climbs(d);
    int32_t i = d->nlimb - 1;
    while (a[i] == 0)
        i--;
    return (int64_t)(i - d->nfrac) * 9 + ndigits(a[i]) - 1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* PostgreSQL's select_div_scale(sum, count): the weight and value of each
 * operand's leading base-10000 digit estimate the quotient's weight; the
 * scale gives 16 significant digits, at least the sum's display scale. */
static int32_t avg_scale(const decimal *sum, uint64_t count)
{
    int64_t weight1 = 0, first1 = 0;
    if (sum->nlimb > 0) {
        weight1 = floor_div(lead_exponent(sum), DEC_DIGITS);
        for (int k = DEC_DIGITS - 1; k >= 0; k--)
            first1 = first1 * 10 + digit_at(sum, weight1 * DEC_DIGITS + k);
    }
    int64_t weight2 = 0;
    uint64_t first2 = count;
    while (first2 >= 10000) {
        first2 /= 10000;
        weight2++;
    }
    int64_t qweight = weight1 - weight2;
    if ((uint64_t)first1 <= first2)
        qweight--;
    int64_t rscale = MIN_SIG_DIGITS - qweight * DEC_DIGITS;
    if (rscale < sum->dscale)
        rscale = sum->dscale;
    if (rscale < 0)
        rscale = 0;
    if (rscale > MAX_DISPLAY_SCALE)
        rscale = MAX_DISPLAY_SCALE;
    return (int32_t)rscale;
}

/* Divide the decimal digit string s (n digits) by c in place: s becomes the
 * truncated quotient with as many digits (leading zeros kept). */
static void divide_digits(char *s, size_t n, uint64_t c)
{
    size_t k = n % 9 ? n % 9 : 9;
    if (c <= UINT32_MAX) {
        uint64_t rem = 0; /* < c, so rem * 10^9 + chunk fits */
        for (size_t i = 0; i < n; i += k, k = 9) {
            uint64_t x = 0;
            for (size_t j = i; j < i + k; j++)
                x = x * 10 + (uint64_t)(s[j] - '0');
            x += rem * pow10_tab[k];
            uint64_t q = x / c;
            rem = x % c;
            for (size_t j = i + k; j-- > i; q /= 10)
                s[j] = (char)('0' + q % 10);
        }
    } else {
        u128 rem = 0;
        for (size_t i = 0; i < n; i += k, k = 9) {
            u128 x = 0;
            for (size_t j = i; j < i + k; j++)
                x = x * 10 + (unsigned)(s[j] - '0');
            x += rem * pow10_tab[k];
            uint64_t q = (uint64_t)(x / c);
            rem = x % c;
            for (size_t j = i + k; j-- > i; q /= 10)
                s[j] = (char)('0' + q % 10);
        }
    }
}

/*
 * avg = numeric_div(sum, count): PostgreSQL computes the quotient exactly,
 * truncated a little past rscale, and rounds half away from zero at rscale —
 * the same as rounding the exact quotient. Here: the digits of |sum| with
 * rscale + 1 fraction digits, divided by count, rounded on the last digit.
 */
int dec_avg_format(const decimal *sum, int64_t count, strbuf *out)
{
    if (count < 1)
        return -1;
    if (sum->kind != DEC_FINITE) {
        sb_append(out, special_text(sum->kind));
        return 0;
    }
    size_t rscale = (size_t)avg_scale(sum, (uint64_t)count);
    size_t ni = int_digit_count(sum), n = ni + rscale + 1;
    /* buf[0] = '0' takes a carry out of the rounding; the digits are buf[1 .. n] */
    char small[160], *buf = n + 1 <= sizeof small ? small : xmalloc(n + 1);
    buf[0] = '0';
    put_int_digits(sum, buf + 1);
    put_frac_digits(sum, buf + 1 + ni, rscale + 1);
    divide_digits(buf + 1, n, (uint64_t)count);
    if (buf[n] >= '5') {
        size_t i = n - 1;
        while (buf[i] == '9')
            buf[i--] = '0';
        buf[i]++;
    }
    /* integer part: buf[0 .. ni], fraction: the next rscale digits */
    char *ip = buf, *iend = buf + 1 + ni;
    while (ip < iend && *ip == '0')
        ip++;
    bool nonzero = ip < iend;
    for (size_t i = 0; i < rscale && !nonzero; i++)
        nonzero = iend[i] != '0';
    if (sum->neg && nonzero)
        sb_appendc(out, '-');
    if (ip == iend)
        sb_appendc(out, '0');
    else
        sb_appendn(out, ip, (size_t)(iend - ip));
    if (rscale > 0) {
        sb_appendc(out, '.');
        sb_appendn(out, iend, rscale);
    }
    if (buf != small)
        free(buf);
    return 0;
}

int dec_normalize_text(const char *s, size_t len, strbuf *out)
{
    numtext t;
    if (lex(s, len, &t) != 0) {
        sb_appendn(out, s, len);
        return -1;
    }
    if (t.kind != DEC_FINITE) {
        sb_append(out, special_text(t.kind));
        return 0;
    }
    if (t.ilen == 0 && t.fsig == 0) {
        sb_appendc(out, '0');
        return 0;
    }
    if (t.neg)
        sb_appendc(out, '-');
    if (t.ilen == 0)
        sb_appendc(out, '0');
    else
        sb_appendn(out, t.ip, t.ilen);
    if (t.fsig > 0) {
        sb_appendc(out, '.');
        sb_appendn(out, t.fp, t.fsig);
    }
    return 0;
}
