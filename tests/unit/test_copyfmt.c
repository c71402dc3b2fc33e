/* Unit tests for copyfmt: decoding PostgreSQL's COPY text and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "copyfmt.h"
#include "pgtime.h"

#include <stdlib.h>
#include <string.h>

static int decode(const char *text, char **fields, size_t *lens, int max, char *buf)
{
    size_t n = strlen(text);
    memcpy(buf, text, n + 1);
    return copy_decode_row(buf, n, fields, lens, max);
}

static void simple_fields(void **state)
{
    (void)state;
    char buf[256];
    char *f[8];
    size_t l[8];
    assert_int_equal(decode("a\tbc\t\\N\t\n", f, l, 8, buf), 4);
    assert_string_equal(f[0], "a");
    assert_string_equal(f[1], "bc");
    assert_null(f[2]);
    assert_string_equal(f[3], "");
    assert_int_equal(l[3], 0);
}

static void escapes(void **state)
{
    (void)state;
    char buf[256];
    char *f[8];
    size_t l[8];
    assert_int_equal(decode("x\\ty\\nz\\\\\\r\\b\\f\\v\t\\101\\x41\\N\n", f, l, 8, buf), 2);
    assert_string_equal(f[0], "x\ty\nz\\\r\b\f\v");
    /* \N inside a longer field is not NULL */
    assert_string_equal(f[1], "AAN");
}

static void too_many_fields(void **state)
{
    (void)state;
    char buf[64];
    char *f[2];
    size_t l[2];
    assert_int_equal(decode("a\tb\tc\n", f, l, 2, buf), -1);
}

static void round_trip(void **state)
{
    (void)state;
    const char *values[] = {"plain",
                            "",
                            "tab\there",
                            "new\nline",
                            "back\\slash\\N",
                            "\\N",
                            "cr\r\n",
                            "unicode: žluťoučký kůň 🐎",
                            "binary-looking \x01\x02\x7f\xff",
                            "\t\t\\\\\n"};
    size_t n = sizeof values / sizeof values[0];
    strbuf row = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_appendc(&row, '\t');
        copy_encode_field(&row, values[i], strlen(values[i]));
    }
    sb_appendc(&row, '\t');
    copy_encode_field(&row, NULL, 0);
    sb_appendc(&row, '\n');
    char *f[16];
    size_t l[16];
    char *buf = xstrdup(sb_str(&row));
    assert_int_equal(copy_decode_row(buf, row.len, f, l, 16), (int)n + 1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(l[i], strlen(values[i]));
        assert_memory_equal(f[i], values[i], l[i]);
    }
    assert_null(f[n]);
    free(buf);
    sb_free(&row);
}

/* The binary format, byte for byte (PostgreSQL's COPY documentation). */
static void binary_format(void **state)
{
    (void)state;
    strbuf b = STRBUF_INIT;
    copy_bin_header(&b);
    assert_int_equal(b.len, 19);
    assert_memory_equal(b.buf, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    sb_reset(&b);

    size_t row = copy_bin_row(&b);
    copy_bin_field(&b, "a\tb", 3);
    copy_bin_field(&b, NULL, 0);
    copy_bin_timestamp(&b, 1);
    copy_bin_timestamp(&b, PGTIME_NULL);
    copy_bin_timestamp(&b, PGTIME_INFINITY);
    copy_bin_timestamp(&b, PGTIME_NINF);
    copy_bin_int8(&b, -2);
    copy_bin_row_end(&b, row, 7);
    copy_bin_trailer(&b);
    static const unsigned char want[] = {0,    7,                                 /* fields */
                                         0,    0,    0,    3,    'a',  '\t', 'b', /* text */
                                         0xff, 0xff, 0xff, 0xff,                  /* NULL */
                                         0,    0,    0,    8,    0,    0,    0,
                                         0,    0,    0,    0,    1, /* 2000-01-01 00:00:00.000001 */
                                         0xff, 0xff, 0xff, 0xff,    /* NULL time */
                                         0,    0,    0,    8,    0x7f, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, /* infinity */
                                         0,    0,    0,    8,    0x80, 0,    0,
                                         0,    0,    0,    0,    0, /* -infinity */
                                         0,    0,    0,    8,    0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xfe, /* -2 */
                                         0xff, 0xff};                  /* trailer */
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.buf, want, sizeof want);
    sb_free(&b);
}

/* Reading the binary format back: header, rows, trailer, and what is not a row. */
static void binary_decode(void **state)
{
    (void)state;
    strbuf b = STRBUF_INIT;
    copy_bin_header(&b);
    size_t row = copy_bin_row(&b);
    copy_bin_field(&b, "abc", 3);
    copy_bin_field(&b, NULL, 0);
    copy_bin_field(&b, "", 0);
    copy_bin_timestamp(&b, -5);
    copy_bin_timestamp(&b, PGTIME_INFINITY);
    copy_bin_int8(&b, -2);
    copy_bin_row_end(&b, row, 6);

    char *msg = xmalloc(b.len + 1);
    memcpy(msg, b.buf, b.len);
    bool header = true;
    char *f[8];
    size_t l[8];
    assert_int_equal(copy_bin_decode_row(msg, b.len, &header, f, l, 8), 6);
    assert_false(header);
    assert_string_equal(f[0], "abc");
    assert_int_equal(l[0], 3);
    assert_null(f[1]);
    assert_string_equal(f[2], "");
    int64_t v;
    assert_int_equal(copy_bin_get_timestamp(f[3], l[3], &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(copy_bin_get_timestamp(f[4], l[4], &v), 0);
    assert_true(v == PGTIME_INFINITY);
    assert_int_equal(copy_bin_get_timestamp(f[1], l[1], &v), 0);
    assert_true(v == PGTIME_NULL);
    assert_int_equal(copy_bin_get_int(f[5], l[5], &v), 0);
    assert_int_equal(v, -2);
    assert_int_equal(copy_bin_get_int(f[0], l[0], &v), -1);
    assert_int_equal(copy_bin_get_timestamp(f[0], l[0], &v), -1);

    /* the same row again, without the header; then with too few slots */
    memcpy(msg, b.buf + 19, b.len - 19);
    assert_int_equal(copy_bin_decode_row(msg, b.len - 19, &header, f, l, 8), 6);
    assert_string_equal(f[0], "abc");
    memcpy(msg, b.buf + 19, b.len - 19);
    assert_int_equal(copy_bin_decode_row(msg, b.len - 19, &header, f, l, 5), -1);
    /* cut short anywhere, or with a byte too many, it is not a row */
    for (size_t cut = 0; cut < b.len - 19; cut++) {
        memcpy(msg, b.buf + 19, cut);
        assert_int_equal(copy_bin_decode_row(msg, cut, &header, f, l, 8), -1);
    }
    /* a wrong signature */
    header = true;
    memcpy(msg, b.buf, b.len);
    msg[0] = 'X';
    assert_int_equal(copy_bin_decode_row(msg, b.len, &header, f, l, 8), -1);
    free(msg);

    /* small integers sign-extend; a bool is one byte */
    assert_int_equal(copy_bin_get_int("\xff\xfe", 2, &v), 0);
    assert_int_equal(v, -2);
    assert_int_equal(copy_bin_get_int("\x00\x00\x01\x00", 4, &v), 0);
    assert_int_equal(v, 256);
    assert_int_equal(copy_bin_get_int("\x01", 1, &v), 0);
    assert_int_equal(v, 1);

    /* the trailer */
    sb_reset(&b);
    copy_bin_trailer(&b);
    char trailer[3];
    memcpy(trailer, b.buf, 2);
    header = false;
    assert_int_equal(copy_bin_decode_row(trailer, 2, &header, f, l, 8), 0);
    sb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_fields),   cmocka_unit_test(escapes),
        cmocka_unit_test(too_many_fields), cmocka_unit_test(round_trip),
        cmocka_unit_test(binary_format),   cmocka_unit_test(binary_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
