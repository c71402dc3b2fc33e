/* Unit tests for csv: records, quoting, line numbers, errors and recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Read all of `data` and render what came out, one item per record:
 *   "<line>[field|field]" for a record, "<line>!" for an error;
 * a NUL inside a field is shown as "\0", a CR as "\r" and a LF as "\n".
 */
static char *render(const char *data, size_t len)
{
    strbuf out = STRBUF_INIT;
    csv_reader *r = csv_reader_new(data, len);
    csv_record rec;
    cps_error err;
    int rc;
    size_t guard = 0;
    while ((rc = csv_next(r, &rec, &err)) != CSV_END) {
        if (out.len)
            sb_appendc(&out, ' ');
        if (rc < 0) {
            assert_true(err.msg[0] != '\0');
            sb_appendf(&out, "%zu!", rec.line);
        } else {
            sb_appendf(&out, "%zu[", rec.line);
            for (size_t i = 0; i < rec.nfields; i++) {
                if (i)
                    sb_appendc(&out, '|');
                assert_int_equal(rec.fields[i][rec.lens[i]], '\0');
                for (size_t k = 0; k < rec.lens[i]; k++) {
                    char c = rec.fields[i][k];
                    sb_append(&out, c == '\0' ? "\\0" : c == '\r' ? "\\r" : c == '\n' ? "\\n" : "");
                    if (c && c != '\r' && c != '\n')
                        sb_appendc(&out, c);
                }
            }
            sb_appendc(&out, ']');
        }
        assert_true(++guard <= len + 1); /* every call makes progress */
    }
    csv_reader_free(r);
    return sb_detach(&out);
}

static void check(const char *data, size_t len, const char *want)
{
    char *got = render(data, len);
    if (strcmp(got, want))
        fail_msg("input [%.*s]: got [%s], expected [%s]", (int)len, data, got, want);
    free(got);
}

#define CHECK(data, want) check(data, sizeof data - 1, want)

static void records_and_line_ends(void **state)
{
    (void)state;
    CHECK("", "");
    CHECK("a", "1[a]");
    CHECK("a,b,c\n1,2,3\n", "1[a|b|c] 2[1|2|3]");
    CHECK("a,b\r\n1,2\r\n", "1[a|b] 2[1|2]");
    CHECK("a,b\r\n1,2", "1[a|b] 2[1|2]");
    CHECK("a,b\r1,2\r", "1[a|b] 2[1|2]"); /* lone CR line ends (old Mac exports) */
    CHECK("a\n\n\r\n\nb\n", "1[a] 5[b]"); /* empty lines are skipped but counted */
    CHECK("\n\n", "");
    CHECK("a,,c\n,\n", "1[a||c] 2[|]");
    CHECK("a,b,\n", "1[a|b|]");
    CHECK(" a , b \n", "1[ a | b ]"); /* spaces are data */
    CHECK("x\ty;z\n", "1[x\ty;z]");   /* only commas separate */
}

static void byte_order_mark(void **state)
{
    (void)state;
    CHECK("\xEF\xBB\xBF"
          "a,b\n",
          "1[a|b]");
    CHECK("\xEF\xBB\xBF", "");
    CHECK("\xEF\xBB\xBF\"q\",b\r\n", "1[q|b]");
    /* only at the very start */
    CHECK("a\n\xEF\xBB\xBF"
          "b\n",
          "1[a] 2[\xEF\xBB\xBF"
          "b]");
    CHECK("\xEF\xBB", "1[\xEF\xBB]");
}

static void quoted_fields(void **state)
{
    (void)state;
    CHECK("\"a,b\",c\n", "1[a,b|c]");
    CHECK("\"say \"\"hi\"\"\",x\n", "1[say \"hi\"|x]");
    CHECK("\"\",\"\"\n", "1[|]");
    CHECK("\"\"\"\"\n", "1[\"]");
    CHECK("\"a\nb\",c\nd\n", "1[a\\nb|c] 3[d]");
    CHECK("\"a\r\nb\r\n\",c\r\nd\r\n", "1[a\\r\\nb\\r\\n|c] 4[d]");
    CHECK("x,\"multi\n\nline\"\ny\n", "1[x|multi\\n\\nline] 4[y]");
    CHECK("\"at end\"", "1[at end]");
    CHECK("a,\"\"", "1[a|]");
    CHECK("\"lower(payload->>'email')\",\"coalesce(payload->>'a', payload->>'b')\"\n",
          "1[lower(payload->>'email')|coalesce(payload->>'a', payload->>'b')]");
}

static void nul_bytes(void **state)
{
    (void)state;
    static const char data[] = "a\0b,\"c\0\"\n";
    check(data, sizeof data - 1, "1[a\\0b|c\\0]");
}

static void errors_and_recovery(void **state)
{
    (void)state;
    /* a quote inside an unquoted field: that line is skipped, reading goes on */
    CHECK("a,b\"c,d\ne,f\n", "1! 2[e|f]");
    CHECK("a\"\nb\"\nc\n", "1! 2! 3[c]");
    /* the record goes on past the mistake: a later quoted field spanning
     * lines is part of it, not records of its own (one problem, not two) */
    CHECK("h\n\"a\"x,\"b\nc\"\nz\n", "1[h] 2! 4[z]");
    CHECK("h\nab\"c,\"d\ne\",f\nz\n", "1[h] 2! 4[z]");
    /* the first problem of a record is the one reported, on its line */
    CHECK("h\n\"a\nb\"x,c\"d\nz\n", "1[h] 3! 4[z]");
    /* a quote never closed after a mistake: that is what is reported */
    CHECK("h\nab\"c,\"d\ne\n", "1[h] 2!");
}

static void error_lines(void **state)
{
    (void)state;
    CHECK("h\na,b\"c,d\ne,f\n", "1[h] 2! 3[e|f]");
    CHECK("h\n ab\"\n", "1[h] 2!");
    CHECK("h\n \"quoted after a space\"\nz\n", "1[h] 2! 3[z]");
    /* text after a closing quote */
    CHECK("h\n\"ab\"c,d\nz\n", "1[h] 2! 3[z]");
    CHECK("h\n\"ab\" ,d\r\nz\r\n", "1[h] 2! 3[z]");
    /* the error is on the line it happens, inside a record spanning lines */
    CHECK("h\n\"x\ny\"z\nw\n", "1[h] 3! 4[w]");
    /* an unterminated quote swallows the rest; the line is where it opened */
    CHECK("h\na,\"b\nc\nd\n", "1[h] 2!");
    CHECK("\"", "1!");
    CHECK("a,\"", "1!");
    CHECK("h\n\"x\"\"\n", "1[h] 2!");
}

/* The message says what is wrong and how to fix it; the line is in the record. */
static void error_messages(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        size_t line;
        const char *says;
    } cases[] = {
        {"h\n\"open\n\nmore", 2, "never closed"},
        {"h\nab\"c\n", 2, "enclose the whole field in double quotes"},
        {"h\r\n\"ab\"c\r\n", 2, "after the closing quote"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csv_reader *r = csv_reader_new(cases[i].data, strlen(cases[i].data));
        csv_record rec;
        cps_error err;
        assert_int_equal(csv_next(r, &rec, &err), CSV_RECORD);
        assert_int_equal(csv_next(r, &rec, &err), CPS_ERR);
        assert_int_equal(rec.line, cases[i].line);
        if (!strstr(err.msg, cases[i].says))
            fail_msg("case %zu: [%s] does not say [%s]", i, err.msg, cases[i].says);
        assert_int_equal(csv_next(r, &rec, &err), CSV_END);
        csv_reader_free(r);
    }
}

static void many_and_long_fields(void **state)
{
    (void)state;
    strbuf in = STRBUF_INIT, want = STRBUF_INIT;
    sb_append(&want, "1[");
    for (int i = 0; i < 1000; i++) {
        sb_appendf(&in, "%s\"f%d,%d\"", i ? "," : "", i, i);
        sb_appendf(&want, "%sf%d,%d", i ? "|" : "", i, i);
    }
    sb_append(&in, "\n\"");
    sb_append(&want, "] 2[");
    for (int i = 0; i < 100000; i++) {
        sb_append(&in, "\"\"x");
        sb_append(&want, "\"x");
    }
    sb_append(&in, "\"\n");
    sb_append(&want, "]");
    check(in.buf, in.len, sb_str(&want));
    sb_free(&in);
    sb_free(&want);
}

/* Encode fields the way a spreadsheet writes them. */
static void encode(strbuf *out, char **fields, size_t n, const char *eol)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_appendc(out, ',');
        const char *f = fields[i];
        if (!*f || strpbrk(f, ",\"\r\n") || (i == 0 && n == 1)) {
            sb_appendc(out, '"');
            for (; *f; f++) {
                if (*f == '"')
                    sb_appendc(out, '"');
                sb_appendc(out, *f);
            }
            sb_appendc(out, '"');
        } else {
            sb_append(out, f);
        }
    }
    sb_append(out, eol);
}

static size_t count_line_ends(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (*s == '\n' || (*s == '\r' && s[1] != '\n'))
            n++;
    return n;
}

/* Random records written with quoting read back identical, at the right lines. */
static void round_trip(void **state)
{
    (void)state;
    static const char alphabet[] = "ab,\"\r\n '>-";
    srand(42);
    for (int iter = 0; iter < 300; iter++) {
        enum { NREC = 20, NF = 5 };
        char *fields[NREC][NF];
        size_t nf[NREC], lines[NREC];
        strbuf in = STRBUF_INIT;
        const char *eol = iter % 2 ? "\r\n" : "\n";
        size_t line = 1;
        for (int r = 0; r < NREC; r++) {
            nf[r] = 1 + (size_t)rand() % NF;
            lines[r] = line;
            for (size_t f = 0; f < nf[r]; f++) {
                size_t len = (size_t)rand() % 8;
                fields[r][f] = xcalloc(len + 1, 1);
                for (size_t k = 0; k < len; k++)
                    fields[r][f][k] = alphabet[rand() % (int)(sizeof alphabet - 1)];
                line += count_line_ends(fields[r][f]);
            }
            encode(&in, fields[r], nf[r], eol);
            line++;
        }
        csv_reader *rd = csv_reader_new(in.buf, in.len);
        csv_record rec;
        cps_error err;
        for (int r = 0; r < NREC; r++) {
            assert_int_equal(csv_next(rd, &rec, &err), CSV_RECORD);
            assert_int_equal(rec.line, lines[r]);
            assert_int_equal(rec.nfields, nf[r]);
            for (size_t f = 0; f < nf[r]; f++) {
                assert_int_equal(rec.lens[f], strlen(fields[r][f]));
                assert_string_equal(rec.fields[f], fields[r][f]);
                free(fields[r][f]);
            }
        }
        assert_int_equal(csv_next(rd, &rec, &err), CSV_END);
        csv_reader_free(rd);
        sb_free(&in);
    }
}

/* Any bytes at all: no crash, progress on every call, sane line numbers. */
static void random_bytes(void **state)
{
    (void)state;
    static const char alphabet[] = {'a', ',', '"', '\r', '\n', '\0', '\xEF', '\xBB', '\xBF'};
    srand(7);
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = (size_t)rand() % 24;
        char *data = xmalloc(len + 1); /* exactly len bytes are read */
        for (size_t i = 0; i < len; i++)
            data[i] = alphabet[rand() % (int)sizeof alphabet];
        csv_reader *rd = csv_reader_new(data, len);
        csv_record rec;
        cps_error err;
        size_t calls = 0, last = 0;
        int rc;
        while ((rc = csv_next(rd, &rec, &err)) != CSV_END) {
            assert_true(++calls <= len + 1);
            assert_true(rec.line >= 1 && rec.line <= len + 1);
            if (rc == CSV_RECORD) {
                assert_true(rec.line >= last);
                last = rec.line;
                assert_true(rec.nfields >= 1);
            }
        }
        csv_reader_free(rd);
        free(data);
    }
}

static void null_and_empty(void **state)
{
    (void)state;
    csv_reader *rd = csv_reader_new(NULL, 0);
    csv_record rec;
    cps_error err;
    assert_int_equal(csv_next(rd, &rec, &err), CSV_END);
    assert_int_equal(csv_next(rd, &rec, &err), CSV_END);
    csv_reader_free(rd);
    csv_reader_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_and_line_ends),
        cmocka_unit_test(byte_order_mark),
        cmocka_unit_test(quoted_fields),
        cmocka_unit_test(nul_bytes),
        cmocka_unit_test(errors_and_recovery),
        cmocka_unit_test(error_lines),
        cmocka_unit_test(error_messages),
        cmocka_unit_test(many_and_long_fields),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(random_bytes),
        cmocka_unit_test(null_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
