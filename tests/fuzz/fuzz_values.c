/*
 * fuzz_values — the value texts CPS reads from PostgreSQL and orders in C.
 * The first byte picks the module, the rest is its text:
 *
 * 0. pgtime: a text pgtime_parse accepts formats (pgtime_format) to a text
 *    that parses to the same instant; a finite text never parses to one of
 *    the NULL/infinity sentinels; any instant in PostgreSQL's timestamp range
 *    (the text's first 8 bytes) formats and parses back to itself.
 * 1. decimal: with a and b the text cut at its first NUL (b = a without one):
 *    dec_parse and dec_normalize_text agree on what is a number;
 *    format(parse(a)) has a's display scale and a's value; normalize is
 *    canonical (idempotent, equal for equal values, compares equal to its
 *    input); dec_cmp_text is antisymmetric and agrees with dec_cmp; a + b
 *    = b + a; a + (-a) = 0; the average of c copies of a is a (c small,
 *    and c = 2^j up to 2^40); avg(a over c values, c <= 16) * c is within
 *    c/2 units of avg's last place of a.
 * 2. sqltext: sql_statement_length never exceeds len and is idempotent;
 *    sql_unopened_paren finds a ")" (or len), and none before it; sql_unclosed
 *    a quote or comment start (or len), and none before it.
 */
#include "fuzz.h"

#include "decimal.h"
#include "pgtime.h"
#include "sqltext.h"

#include <string.h>

/* PostgreSQL's timestamp range: 4714-11-24 BC to 294276-12-31 (MIN_TIMESTAMP,
 * END_TIMESTAMP of datatype/timestamp.h). */
#define PG_MIN_TIMESTAMP INT64_C(-211813488000000000)
#define PG_END_TIMESTAMP INT64_C(9223371331200000000)

static void check_pgtime(const char *s, size_t n)
{
    int64_t t, t2;
    char out[40];
    if (pgtime_parse(s, n, &t) == 0) {
        bool special =
            (n == 8 && !memcmp(s, "infinity", 8)) || (n == 9 && !memcmp(s, "-infinity", 9));
        fuzz_check(special || (t != PGTIME_NULL && t != PGTIME_INFINITY && t != PGTIME_NINF),
                   "a finite text is not a sentinel");
        fuzz_check(pgtime_format(t, out) == 0, "a parsed time formats");
        size_t len = strnlen(out, sizeof out);
        fuzz_check(len < sizeof out, "the formatted text fits");
        fuzz_check(pgtime_parse(out, len, &t2) == 0, "the formatted text parses");
        fuzz_check(t2 == t, "format(parse(x)) parses to the same instant");
    }
    if (n >= 8) {
        memcpy(&t, s, sizeof t);
        if (t >= PG_MIN_TIMESTAMP && t < PG_END_TIMESTAMP) {
            fuzz_check(pgtime_format(t, out) == 0, "an instant in range formats");
            fuzz_check(pgtime_parse(out, strlen(out), &t2) == 0 && t2 == t,
                       "an instant in range survives format and parse");
        }
    }
    fuzz_check(pgtime_format(PGTIME_NULL, out) == -1, "NULL does not format");
}

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* Parse a text into a fresh decimal; returns dec_parse's result. */
static int parse(decimal *d, const char *s, size_t n)
{
    dec_init(d);
    return dec_parse(d, s, n);
}

static size_t frac_digits(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);
    return dot ? n - (size_t)(dot - s) - 1 : 0;
}

/* Append the text of -s for a finite number text s. */
static void negate_text(strbuf *out, const char *s, size_t n)
{
    bool minus = n && s[0] == '-';
    if (n && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    if (!minus)
        sb_appendc(out, '-');
    sb_appendn(out, s, n);
}

/*
 * avg over c values (c small) whose sum is d (finite) is d / c rounded at the
 * scale it prints: avg * c is within c/2 units of avg's last place of d.
 */
static void check_avg_rounding(const decimal *d, int c)
{
    decimal sum, back, diff;
    strbuf avg = STRBUF_INIT, t = STRBUF_INIT, neg = STRBUF_INIT, bound = STRBUF_INIT;
    dec_init(&sum);
    dec_init(&back);
    dec_init(&diff);
    dec_add(&sum, d);
    fuzz_check(dec_avg_format(&sum, c, &avg) == 0, "avg of c >= 1 values exists");
    for (int k = 0; k < c; k++)
        fuzz_check(dec_add_text(&back, avg.buf, avg.len) == 0, "the avg text is a number");
    dec_format(&back, &t);
    negate_text(&neg, t.buf, t.len);
    dec_add(&diff, &sum);
    fuzz_check(dec_add_text(&diff, neg.buf, neg.len) == 0, "-(avg * c) is a number");
    sb_reset(&t);
    dec_format(&diff, &t);
    const char *dt = t.buf[0] == '-' ? t.buf + 1 : t.buf;
    /* the bound c * 0.5 * 10^-rscale, as text: the digits of 5c, point rscale + 1 from the right */
    size_t rscale = frac_digits(avg.buf, avg.len);
    char five_c[16];
    int nd = snprintf(five_c, sizeof five_c, "%d", 5 * c);
    size_t point = rscale + 1;
    if ((size_t)nd > point) {
        sb_appendn(&bound, five_c, (size_t)nd - point);
        sb_appendc(&bound, '.');
        sb_append(&bound, five_c + nd - point);
    } else {
        sb_append(&bound, "0.");
        for (size_t k = (size_t)nd; k < point; k++)
            sb_appendc(&bound, '0');
        sb_append(&bound, five_c);
    }
    fuzz_check(dec_cmp_text(dt, strlen(dt), bound.buf, bound.len) <= 0,
               "avg is the quotient rounded at its last digit");
    sb_free(&avg);
    sb_free(&t);
    sb_free(&neg);
    sb_free(&bound);
    dec_free(&sum);
    dec_free(&back);
    dec_free(&diff);
}

/* avg of the sum of 2^j copies of d, the sum made by doubling, is d: this
 * reaches counts of 10000 and more, and beyond 32 bits. */
static void check_avg_doubling(const decimal *d, const char *a, size_t an, int j)
{
    decimal sum;
    strbuf avg = STRBUF_INIT;
    dec_init(&sum);
    dec_add(&sum, d);
    for (int k = 0; k < j; k++)
        dec_add(&sum, &sum);
    fuzz_check(dec_avg_format(&sum, INT64_C(1) << j, &avg) == 0, "avg exists");
    fuzz_check(dec_cmp_text(avg.buf, avg.len, a, an) == 0, "avg of 2^j copies of a is a");
    sb_free(&avg);
    dec_free(&sum);
}

/* Checks on one text; returns whether it is a number. */
static bool check_one(const char *a, size_t an)
{
    decimal d, e;
    strbuf f = STRBUF_INIT, norm = STRBUF_INIT, norm2 = STRBUF_INIT;
    int pa = parse(&d, a, an);
    int na = dec_normalize_text(a, an, &norm);
    fuzz_check(pa == na, "dec_parse and dec_normalize_text agree on what is a number");
    if (pa != 0) {
        fuzz_check(pa == -1 && norm.len == an && !memcmp(sb_str(&norm), a, an),
                   "a rejected text is appended unchanged");
        fuzz_check(d.kind == DEC_FINITE && d.nlimb == 0, "a rejected text leaves zero");
        dec_free(&d);
        sb_free(&norm);
        return false;
    }
    dec_format(&d, &f);
    fuzz_check(parse(&e, f.buf, f.len) == 0, "the formatted text parses");
    fuzz_check(dec_cmp(&d, &e) == 0 && dec_cmp_text(a, an, f.buf, f.len) == 0,
               "the formatted text has the same value");
    if (d.kind == DEC_FINITE)
        fuzz_check(frac_digits(f.buf, f.len) == frac_digits(a, an) &&
                       (size_t)d.dscale == frac_digits(a, an),
                   "the formatted text keeps the display scale");
    strbuf f2 = STRBUF_INIT;
    dec_format(&e, &f2);
    fuzz_check(f2.len == f.len && !memcmp(f2.buf, f.buf, f.len), "format is a fixed point");
    sb_free(&f2);

    fuzz_check(dec_cmp_text(a, an, norm.buf, norm.len) == 0, "normalize keeps the value");
    fuzz_check(dec_normalize_text(norm.buf, norm.len, &norm2) == 0 && norm2.len == norm.len &&
                   !memcmp(norm2.buf, norm.buf, norm.len),
               "normalize is idempotent");
    sb_reset(&norm2);
    dec_normalize_text(f.buf, f.len, &norm2);
    fuzz_check(norm2.len == norm.len && !memcmp(norm2.buf, norm.buf, norm.len),
               "equal values normalize to the same text");
    fuzz_check(dec_cmp_text(a, an, a, an) == 0, "a value equals itself");

    /* a + (-a) = 0 for finite a */
    if (d.kind == DEC_FINITE) {
        strbuf neg = STRBUF_INIT;
        negate_text(&neg, a, an);
        decimal sum;
        dec_init(&sum);
        fuzz_check(dec_add_text(&sum, a, an) == 0 && dec_add_text(&sum, neg.buf, neg.len) == 0,
                   "a and -a add");
        fuzz_check(sum.kind == DEC_FINITE && sum.nlimb == 0 && sum.neg == 0, "a + (-a) = 0");
        fuzz_check(dec_cmp_text(a, an, neg.buf, neg.len) == -dec_cmp_text(neg.buf, neg.len, a, an),
                   "a vs -a is antisymmetric");
        dec_free(&sum);
        sb_free(&neg);
    }

    /* the average of c copies of a is a (avg rounds to 1000 fraction digits at most) */
    for (int c = 1; c <= 3 && d.dscale <= 1000; c++) {
        decimal sum;
        strbuf avg = STRBUF_INIT;
        dec_init(&sum);
        for (int k = 0; k < c; k++)
            dec_add(&sum, &d);
        fuzz_check(dec_avg_format(&sum, c, &avg) == 0, "avg of c >= 1 values exists");
        fuzz_check(dec_cmp_text(avg.buf, avg.len, a, an) == 0, "avg of c copies of a is a");
        sb_free(&avg);
        dec_free(&sum);
    }
    if (d.kind == DEC_FINITE && d.dscale <= 1000) {
        /* counts picked by the text, so the fuzzer can steer them */
        unsigned h = (unsigned)an * 31u + (an ? (unsigned char)a[an - 1] : 0u);
        check_avg_rounding(&d, 2 + (int)(h % 15));
        check_avg_doubling(&d, a, an, (int)(h % 41));
    }
    strbuf none = STRBUF_INIT;
    fuzz_check(dec_avg_format(&d, 0, &none) == -1 && none.len == 0, "avg of nothing is NULL");

    dec_free(&d);
    dec_free(&e);
    sb_free(&f);
    sb_free(&norm);
    sb_free(&norm2);
    return true;
}

static void check_decimal(const char *s, size_t n)
{
    const char *nul = memchr(s, '\0', n);
    const char *a = s, *b = s;
    size_t an = n, bn = n;
    if (nul) {
        an = (size_t)(nul - s);
        b = nul + 1;
        bn = n - an - 1;
    }
    bool na = check_one(a, an);
    bool nb = nul ? check_one(b, bn) : na;
    int ab = dec_cmp_text(a, an, b, bn), ba = dec_cmp_text(b, bn, a, an);
    fuzz_check(ab == -ba && ab >= -1 && ab <= 1, "dec_cmp_text is antisymmetric");
    if (!na || !nb)
        return;
    decimal x, y, s1, s2;
    parse(&x, a, an);
    parse(&y, b, bn);
    fuzz_check(dec_cmp(&x, &y) == ab, "dec_cmp_text agrees with dec_cmp");
    strbuf xa = STRBUF_INIT, xb = STRBUF_INIT;
    dec_normalize_text(a, an, &xa);
    dec_normalize_text(b, bn, &xb);
    fuzz_check((ab == 0) == (xa.len == xb.len && !memcmp(xa.buf, xb.buf, xa.len)),
               "equal values and only they normalize alike");
    sb_free(&xa);
    sb_free(&xb);

    dec_init(&s1);
    dec_init(&s2);
    dec_add(&s1, &x);
    dec_add(&s1, &y);
    dec_add(&s2, &y);
    fuzz_check(dec_add_text(&s2, a, an) == 0, "a adds as text");
    fuzz_check(dec_cmp(&s1, &s2) == 0 && (s1.kind != DEC_FINITE || s1.dscale == s2.dscale),
               "a + b = b + a"); /* a special's display scale is unused */
    if (x.kind == DEC_FINITE && y.kind == DEC_FINITE) {
        int want = sign(dec_cmp_text(b, bn, "0", 1));
        fuzz_check(dec_cmp(&s1, &x) == want, "a + b compares to a as b compares to 0");
        fuzz_check(s1.dscale == (x.dscale > y.dscale ? x.dscale : y.dscale),
                   "a sum keeps the larger display scale");
    }
    dec_add(&s1, &s1); /* v may be acc */
    dec_free(&s1);
    dec_free(&s2);
    dec_free(&x);
    dec_free(&y);
}

static void check_sql(const char *s, size_t n)
{
    size_t len = sql_statement_length(s, n);
    fuzz_check(len <= n, "sql_statement_length <= len");
    fuzz_check(sql_statement_length(s, len) == len, "sql_statement_length is idempotent");
    size_t at = sql_unopened_paren(s, n);
    fuzz_check(at <= n && (at == n || s[at] == ')'), "sql_unopened_paren finds a \")\"");
    fuzz_check(sql_unopened_paren(s, at) == at, "sql_unopened_paren finds the first");
    at = sql_unclosed(s, n);
    fuzz_check(at <= n && (at == n || strchr("'\"$/", s[at])), "sql_unclosed finds a quote");
    fuzz_check(sql_unclosed(s, at) == at, "sql_unclosed finds the first");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* an exactly sized copy: reads past the text are caught */
    size_t n = size - 1;
    char *s = malloc(n ? n : 1);
    memcpy(s, data + 1, n);
    switch (data[0] % 3) {
    case 0:
        check_pgtime(s, n);
        break;
    case 1:
        check_decimal(s, n);
        break;
    default:
        check_sql(s, n);
        break;
    }
    free(s);
    return 0;
}
