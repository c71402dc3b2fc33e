/*
 * Unit tests for decimal: every expected text below was printed by a
 * PostgreSQL 15.18 server (numeric_out, sum, avg, numeric division,
 * trim_scale, < and =), not derived by hand. The randomized comparison with a
 * live server is tests/integration/test_decimal_pg.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decimal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static char *fmt(const decimal *d)
{
    strbuf sb = STRBUF_INIT;
    dec_format(d, &sb);
    return sb_detach(&sb);
}

static char *avg(const decimal *sum, int64_t n)
{
    strbuf sb = STRBUF_INIT;
    assert_int_equal(dec_avg_format(sum, n, &sb), 0);
    return sb_detach(&sb);
}

static char *norm(const char *s)
{
    strbuf sb = STRBUF_INIT;
    assert_int_equal(dec_normalize_text(s, strlen(s), &sb), 0);
    return sb_detach(&sb);
}

/* Input text -> numeric_out -> trim_scale. */
static const char *parse_cases[][3] = {
    {"1.50", "1.50", "1.5"},
    {"-0.000", "0.000", "0"},
    {"0", "0", "0"},
    {"-0", "0", "0"},
    {"007.50", "7.50", "7.5"},
    {".5", "0.5", "0.5"},
    {"-.5", "-0.5", "-0.5"},
    {"5.", "5", "5"},
    {"+1", "1", "1"},
    {"-12.3400", "-12.3400", "-12.34"},
    {"100", "100", "100"},
    {"100.00", "100.00", "100"},
    {"0.000100", "0.000100", "0.0001"},
    {"nan", "NaN", "NaN"},
    {"-INF", "-Infinity", "-Infinity"},
    {"inf", "Infinity", "Infinity"},
    {"+infinity", "Infinity", "Infinity"},
    {"Infinity", "Infinity", "Infinity"},
    {"123456789012345678901234567890.000000000000000000001000",
     "123456789012345678901234567890.000000000000000000001000",
     "123456789012345678901234567890.000000000000000000001"},
};

static void parse_format_normalize(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(parse_cases); i++) {
        const char *in = parse_cases[i][0];
        decimal d;
        dec_init(&d);
        assert_int_equal(dec_parse(&d, in, strlen(in)), 0);
        char *out = fmt(&d);
        assert_string_equal(out, parse_cases[i][1]);
        free(out);
        out = norm(in);
        assert_string_equal(out, parse_cases[i][2]);
        free(out);
        /* the length argument bounds the text: no NUL needed */
        char buf[128];
        memcpy(buf, in, strlen(in));
        memset(buf + strlen(in), '7', 8);
        assert_int_equal(dec_parse(&d, buf, strlen(in)), 0);
        out = fmt(&d);
        assert_string_equal(out, parse_cases[i][1]);
        free(out);
        dec_free(&d);
    }
}

static void rejects_bad_text(void **state)
{
    (void)state;
    /* PostgreSQL rejects these too... */
    static const char *bad[] = {"", ".", "-", "+", "1.2.3", "abc", "--1", "1-", "-nan", "+nan",
                                "0x10", "1,5", "in", "infinit", "NaNa", "+-1", "1 2", "+.",
                                /* ...but not these, which numeric_out never writes */
                                "1e3", " 1", "1 "};
    decimal acc, d;
    dec_init(&acc);
    dec_init(&d);
    assert_int_equal(dec_add_text(&acc, "2.5", 3), 0);
    for (size_t i = 0; i < COUNT(bad); i++) {
        size_t n = strlen(bad[i]);
        assert_int_equal(dec_parse(&d, bad[i], n), -1);
        assert_int_equal(dec_add_text(&acc, bad[i], n), -1);
        strbuf sb = STRBUF_INIT;
        assert_int_equal(dec_normalize_text(bad[i], n, &sb), -1);
        assert_string_equal(sb_str(&sb), bad[i]);
        sb_free(&sb);
        /* a bad text sorts as NaN */
        assert_int_equal(dec_cmp_text(bad[i], n, "NaN", 3), 0);
        assert_int_equal(dec_cmp_text(bad[i], n, "Infinity", 8), 1);
    }
    char *out = fmt(&acc);
    assert_string_equal(out, "2.5");
    free(out);
    dec_free(&acc);
    dec_free(&d);
}

/* numeric's limits: 131072 digits before the point, 16383 after. */
static void length_limits(void **state)
{
    (void)state;
    size_t n = 131073 + 16384 + 10;
    char *s = xmalloc(n);
    decimal d;
    dec_init(&d);
    memset(s, '1', 131072);
    assert_int_equal(dec_parse(&d, s, 131072), 0);
    memset(s, '1', 131073);
    assert_int_equal(dec_parse(&d, s, 131073), -1);
    s[0] = '0'; /* leading zeros do not count */
    assert_int_equal(dec_parse(&d, s, 131073), 0);
    s[0] = '0';
    s[1] = '.';
    memset(s + 2, '1', 16384);
    assert_int_equal(dec_parse(&d, s, 2 + 16383), 0);
    assert_int_equal(d.dscale, 16383);
    assert_int_equal(dec_parse(&d, s, 2 + 16384), -1);
    dec_free(&d);
    free(s);
}

/* Values of one group -> sum(numeric) -> avg(numeric). */
static const struct {
    const char *v[8];
    const char *sum, *avg;
} agg_cases[] = {
    {{"1", "2", "2"}, "5", "1.6666666666666667"},
    {{"10", "20"}, "30", "15.0000000000000000"},
    {{"0.001", "0.002"}, "0.003", "0.00150000000000000000"},
    {{"123456789012345678901234567890", "1"},
     "123456789012345678901234567891",
     "61728394506172839450617283946"},
    {{"-1", "-2"}, "-3", "-1.5000000000000000"},
    {{"0"}, "0", "0.00000000000000000000"},
    {{"-0.00"}, "0.00", "0.00000000000000000000"},
    {{"1.5", "2.25"}, "3.75", "1.8750000000000000"},
    {{"1.50", "1"}, "2.50", "1.25000000000000000000"},
    {{"99999999999999999999.99", "0.01"}, "100000000000000000000.00", "50000000000000000000.00"},
    {{"-5", "5.000"}, "0.000", "0.00000000000000000000"},
    {{"1", "0", "0"}, "1", "0.33333333333333333333"},
    {{"2", "0", "0"}, "2", "0.66666666666666666667"},
    {{"9999"}, "9999", "9999.0000000000000000"},
    {{"10000"}, "10000", "10000.0000000000000000"},
    {{"0.9999"}, "0.9999", "0.99990000000000000000"},
    {{"0.0001"}, "0.0001", "0.000100000000000000000000"},
    {{"-0.00005", "0.00001"}, "-0.00004", "-0.000020000000000000000000"},
    {{"19.99999999999999999999", "0"}, "19.99999999999999999999", "10.00000000000000000000"},
    {{"-19.99999999999999999999", "0"}, "-19.99999999999999999999", "-10.00000000000000000000"},
    {{"1", "1", "1", "1", "1", "1", "1"}, "7", "1.00000000000000000000"},
    {{"0.000000000000000000000000000001", "0", "0", "0", "0", "0", "0"},
     "0.000000000000000000000000000001",
     "0.000000000000000000000000000000142857142857142857"},
    {{"12345678901234567890.12345678901234567891", "0"},
     "12345678901234567890.12345678901234567891",
     "6172839450617283945.06172839450617283946"},
    {{"-12345678901234567890.12345678901234567891", "0"},
     "-12345678901234567890.12345678901234567891",
     "-6172839450617283945.06172839450617283946"},
    {{"1000000000", "-0.000000001"}, "999999999.999999999", "500000000.000000000"},
    {{"-1000000000", "0.000000001"}, "-999999999.999999999", "-500000000.000000000"},
    {{"NaN", "1"}, "NaN", "NaN"},
    {{"Infinity", "1"}, "Infinity", "Infinity"},
    {{"-Infinity", "-1"}, "-Infinity", "-Infinity"},
    {{"Infinity", "-Infinity"}, "NaN", "NaN"},
    {{"NaN", "Infinity"}, "NaN", "NaN"},
    {{"1", "-Infinity", "2"}, "-Infinity", "-Infinity"},
    {{"00012.3400", "+1", ".5", "5."}, "18.8400", "4.7100000000000000"},
};

static void sum_and_avg(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(agg_cases); i++) {
        decimal fwd, rev, one;
        dec_init(&fwd);
        dec_init(&rev);
        dec_init(&one);
        int n = 0;
        while (n < 8 && agg_cases[i].v[n])
            n++;
        for (int k = 0; k < n; k++) {
            const char *v = agg_cases[i].v[k];
            assert_int_equal(dec_add_text(&fwd, v, strlen(v)), 0);
            /* the other order, through dec_parse + dec_add */
            v = agg_cases[i].v[n - 1 - k];
            assert_int_equal(dec_parse(&one, v, strlen(v)), 0);
            dec_add(&rev, &one);
        }
        char *s = fmt(&fwd), *a = avg(&fwd, n);
        if (strcmp(s, agg_cases[i].sum) || strcmp(a, agg_cases[i].avg))
            fail_msg("case %zu: sum %s avg %s, expected %s %s", i, s, a, agg_cases[i].sum,
                     agg_cases[i].avg);
        free(s);
        free(a);
        s = fmt(&rev);
        a = avg(&rev, n);
        assert_string_equal(s, agg_cases[i].sum);
        assert_string_equal(a, agg_cases[i].avg);
        assert_int_equal(dec_cmp(&fwd, &rev), 0);
        free(s);
        free(a);
        dec_free(&fwd);
        dec_free(&rev);
        dec_free(&one);
    }
}

/* sum / count as numeric division, for counts beyond what a group test
 * reaches: NBASE boundaries, 32-bit and 64-bit limits. */
static const struct {
    const char *sum;
    int64_t count;
    const char *avg;
} div_cases[] = {
    {"1", INT64_C(9999), "0.00010001000100010001"},
    {"1", INT64_C(10000), "0.000100000000000000000000"},
    {"1", INT64_C(10001), "0.000099990000999900009999"},
    {"12345", INT64_C(10000), "1.23450000000000000000"},
    {"9999", INT64_C(9999), "1.00000000000000000000"},
    {"10000", INT64_C(9999), "1.0001000100010001"},
    {"1", INT64_C(4294967295), "0.0000000002328306437080797375"},
    {"1", INT64_C(4294967296), "0.0000000002328306436538696289"},
    {"12345678901234567890", INT64_C(4294967297), "2874452364.24918182"},
    {"-7", INT64_C(5000000000), "-0.0000000014000000000000000000"},
    {"1", INT64_C(9223372036854775807), "0.000000000000000000108420217248550443"},
    {"9223372036854775807", INT64_C(9223372036854775807), "1.00000000000000000000"},
    {"123456789012345678901234567890.123", INT64_C(9223372036854775807), "13385211885.52697384"},
    {"0.5", INT64_C(3), "0.16666666666666666667"},
    {"-0.5", INT64_C(3), "-0.16666666666666666667"},
    {"2.5", INT64_C(1), "2.5000000000000000"},
    {"0.00", INT64_C(9223372036854775807), "0.000000000000000000000000000000000000"},
    {"1", INT64_C(3), "0.33333333333333333333"},
};

static void avg_by_count(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(div_cases); i++) {
        decimal d;
        dec_init(&d);
        assert_int_equal(dec_parse(&d, div_cases[i].sum, strlen(div_cases[i].sum)), 0);
        char *a = avg(&d, div_cases[i].count);
        if (strcmp(a, div_cases[i].avg))
            fail_msg("%s / %lld = %s, expected %s", div_cases[i].sum, (long long)div_cases[i].count,
                     a, div_cases[i].avg);
        free(a);
        dec_free(&d);
    }
    /* count < 1: avg is NULL, nothing is written */
    decimal d;
    dec_init(&d);
    strbuf sb = STRBUF_INIT;
    assert_int_equal(dec_avg_format(&d, 0, &sb), -1);
    assert_int_equal(dec_avg_format(&d, -3, &sb), -1);
    assert_int_equal(sb.len, 0);
    sb_free(&sb);
}

/* Text of "[-]0." + zeros + tail. */
static char *tiny(bool neg, size_t zeros, const char *tail)
{
    strbuf sb = STRBUF_INIT;
    sb_append(&sb, neg ? "-0." : "0.");
    for (size_t i = 0; i < zeros; i++)
        sb_appendc(&sb, '0');
    sb_append(&sb, tail);
    return sb_detach(&sb);
}

/* The division scale stops at 1000 digits, even below the sum's own scale,
 * and a quotient that rounds to zero loses its sign. */
static void avg_scale_limit(void **state)
{
    (void)state;
    static const struct {
        bool neg;
        size_t zeros;
        const char *tail;
        bool qneg;
        size_t qzeros;
        const char *qtail; /* quotient / 3 = [-]0. qzeros zeros qtail, 1000 digits */
    } cases[] = {
        {false, 1100, "1", false, 1000, ""},    {true, 1100, "1", false, 1000, ""},
        {false, 995, "15", false, 996, "5000"}, {false, 998, "5", false, 998, "17"},
        {true, 998, "5", true, 998, "17"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char *in = tiny(cases[i].neg, cases[i].zeros, cases[i].tail);
        char *want = tiny(cases[i].qneg, cases[i].qzeros, cases[i].qtail);
        decimal d;
        dec_init(&d);
        assert_int_equal(dec_parse(&d, in, strlen(in)), 0);
        char *a = avg(&d, 3);
        assert_int_equal(strlen(a), 2 + 1000 + cases[i].qneg);
        assert_string_equal(a, want);
        free(a);
        free(in);
        free(want);
        dec_free(&d);
    }
}

/* Long values spill to the heap; carries and borrows cross limbs. */
static void long_values(void **state)
{
    (void)state;
    const char *x = "1234567890123456789012345678901234567890123456789012345678901234567890"
                    "1234567890.123456789012345678901234567890";
    size_t xl = strlen(x);
    char *neg = xasprintf("-%s", x);
    decimal acc, v;
    dec_init(&acc);
    dec_init(&v);
    /* sum over i = 1..1000 of (i % 3 == 0 ? -x : x) + i * 0.000000001 */
    for (int i = 1; i <= 1000; i++) {
        if (i % 3 == 0)
            assert_int_equal(dec_add_text(&acc, neg, xl + 1), 0);
        else
            assert_int_equal(dec_add_text(&acc, x, xl), 0);
        char *t = xasprintf("0.%09d", i);
        assert_int_equal(dec_add_text(&acc, t, strlen(t)), 0);
        free(t);
    }
    char *s = fmt(&acc), *a = avg(&acc, 1000);
    assert_string_equal(s, "4123456753012345675301234567530123456753012345675301234567530123456753"
                           "012345675301.235068030123456753012345675260");
    assert_string_equal(a, "4123456753012345675301234567530123456753012345675301234567530123456753"
                           "012345675.301235068030123456753012345675");
    free(s);
    free(a);
    /* doubling through dec_add(acc, acc) */
    assert_int_equal(dec_parse(&v, x, xl), 0);
    dec_add(&v, &v);
    s = fmt(&v);
    assert_string_equal(s, "2469135780246913578024691357802469135780246913578024691357802469135780"
                           "2469135780.246913578024691357802469135780");
    free(s);
    /* cancelling to zero keeps the largest scale and drops the sign */
    dec_free(&v);
    assert_int_equal(dec_add_text(&v, neg, xl + 1), 0);
    assert_int_equal(dec_add_text(&v, x, xl), 0);
    assert_int_equal(dec_add_text(&v, "-0.5", 4), 0);
    assert_int_equal(dec_add_text(&v, "0.50", 4), 0);
    s = fmt(&v);
    assert_string_equal(s, "0.000000000000000000000000000000");
    free(s);
    free(neg);
    dec_free(&acc);
    dec_free(&v);
}

/* a, b, PostgreSQL's sign of a - b. */
static const struct {
    const char *a, *b;
    int cmp;
} cmp_cases[] = {
    {"1.5", "1.50", 0},
    {"1.5", "1.51", -1},
    {"-1.5", "-1.51", 1},
    {"0", "-0.000", 0},
    {"0", "0.0000000001", -1},
    {"-0.0000000001", "0", -1},
    {"NaN", "nan", 0},
    {"NaN", "Infinity", 1},
    {"Infinity", "-Infinity", 1},
    {"-inf", "-99999999999999999999999", -1},
    {"Infinity", "99999999999999999999999", 1},
    {"NaN", "-Infinity", 1},
    {"100", "99.999", 1},
    {"-100", "-99.999", -1},
    {"0012", "12.000", 0},
    {".5", "0.5", 0},
    {"5.", "5", 0},
    {"+7", "7", 0},
    {"10", "9", 1},
    {"1000000000", "999999999.999999999", 1},
    {"0.000000001", "0.000000000999999999", 1},
    {"-1000000000", "1", -1},
};

static void ordering(void **state)
{
    (void)state;
    decimal a, b;
    dec_init(&a);
    dec_init(&b);
    for (size_t i = 0; i < COUNT(cmp_cases); i++) {
        const char *x = cmp_cases[i].a, *y = cmp_cases[i].b;
        int want = cmp_cases[i].cmp;
        assert_int_equal(dec_cmp_text(x, strlen(x), y, strlen(y)), want);
        assert_int_equal(dec_cmp_text(y, strlen(y), x, strlen(x)), -want);
        assert_int_equal(dec_parse(&a, x, strlen(x)), 0);
        assert_int_equal(dec_parse(&b, y, strlen(y)), 0);
        assert_int_equal(dec_cmp(&a, &b), want);
        assert_int_equal(dec_cmp(&b, &a), -want);
        char *nx = norm(x), *ny = norm(y);
        assert_int_equal(strcmp(nx, ny) == 0, want == 0);
        free(nx);
        free(ny);
    }
    dec_free(&a);
    dec_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_format_normalize),
        cmocka_unit_test(rejects_bad_text),
        cmocka_unit_test(length_limits),
        cmocka_unit_test(sum_and_avg),
        cmocka_unit_test(avg_by_count),
        cmocka_unit_test(avg_scale_limit),
        cmocka_unit_test(long_values),
        cmocka_unit_test(ordering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
