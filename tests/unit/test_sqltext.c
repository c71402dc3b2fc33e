/* Unit tests for sqltext: schema placeholders expand, nothing else does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sqltext.h"

#include <stdlib.h>
#include <string.h>

static void expands_placeholders(void **state)
{
    (void)state;
    cps_schemas s = {"\"public\"", "\"cdp_ce\"", "\"cdp_ps\"", "\"cdp_attr\"",
                     "'public'",   "'cdp_ce'",   "'cdp_ps'",   "'cdp_attr'"};
    char *sql = sql_expand(&s, "SELECT * FROM {ps}.matching m JOIN {ce}.customer_events e "
                               "ON {attr}{cdp} WHERE x = '{1,2}' AND n = {ps_lit} {unknown}");
    assert_string_equal(sql, "SELECT * FROM \"cdp_ps\".matching m JOIN \"cdp_ce\".customer_events "
                             "e ON \"cdp_attr\"\"public\" WHERE x = '{1,2}' AND n = 'cdp_ps' "
                             "{unknown}");
    free(sql);
}

/* A dollar quote's tag is one the body does not hold, so that operator SQL
 * inside a function body cannot end it. */
static void dollar_quotes(void **state)
{
    (void)state;
    strbuf sb = STRBUF_INIT;
    sql_append_dollar_quoted(&sb, "t", "SELECT 1");
    assert_string_equal(sb_str(&sb), "$t$SELECT 1$t$");
    sb_free(&sb);
    sql_append_dollar_quoted(&sb, "t", "SELECT $t$x$t$ || $t1$y$t1$");
    assert_string_equal(sb_str(&sb), "$t2$SELECT $t$x$t$ || $t1$y$t1$$t2$");
    sb_free(&sb);
}

static void quotes_identifiers(void **state)
{
    (void)state;
    strbuf sb = STRBUF_INIT;
    sql_append_ident(&sb, "we\"ird");
    assert_string_equal(sb_str(&sb), "\"we\"\"ird\"");
    sb_free(&sb);
}

static void statement_length(void **state)
{
    (void)state;
    static const struct {
        const char *sql, *kept;
    } cases[] = {
        {"SELECT 1", "SELECT 1"},
        {"SELECT 1;", "SELECT 1"},
        {"SELECT 1 ; ;\n  ", "SELECT 1"},
        {"SELECT 1; -- done\n", "SELECT 1"},
        {"SELECT 1 /* a /* nested */ comment */;", "SELECT 1"},
        {"SELECT ';--' AS value;", "SELECT ';--' AS value"},
        {"SELECT 'it''s' AS value -- x", "SELECT 'it''s' AS value"},
        {"SELECT E'\\';' AS value;", "SELECT E'\\';' AS value"},
        {"SELECT $$;--$$ AS value;", "SELECT $$;--$$ AS value"},
        {"SELECT $q$ $$ ; $q$ AS value;", "SELECT $q$ $$ ; $q$ AS value"},
        {"SELECT \";\" FROM t;", "SELECT \";\" FROM t"},
        {"SELECT $1;", "SELECT $1"},
        {"-- only a comment", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = sql_statement_length(cases[i].sql, strlen(cases[i].sql));
        if (n != strlen(cases[i].kept) || strncmp(cases[i].sql, cases[i].kept, n))
            fail_msg("case %zu: kept [%.*s], expected [%s]", i, (int)n, cases[i].sql,
                     cases[i].kept);
    }
}

/* at: the offset fn reports, -1 for none (len) */
typedef struct {
    const char *sql;
    int at;
} offset_case;

static void check_offsets(size_t (*fn)(const char *, size_t), const offset_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(cases[i].sql);
        size_t at = fn(cases[i].sql, len);
        int got = at == len ? -1 : (int)at;
        if (got != cases[i].at)
            fail_msg("case %zu [%s]: %d, expected %d", i, cases[i].sql, got, cases[i].at);
    }
}

static void unopened_paren(void **state)
{
    (void)state;
    /* the offset of the ")" reported */
    static const offset_case cases[] = {
        {"lower(payload->>'email')", -1},
        {"coalesce(payload->>'email'), payload->>'mail'", -1},
        {"lower(payload->>'email')), (payload->>'x'", 24},
        {"a) || (b", 1},
        {"(SELECT max(x) FROM t WHERE (y))", -1},
        {"lower(x", -1}, /* not closed: PostgreSQL says so */
        {"')' || x", -1},
        {"\")\"", -1},
        {"x -- )\n", -1},
        {"x /* ) /* ) */ ) */", -1},
        {"x /* ) */ )", 10},
        {"$$)$$ || $q$ $$ ) $q$", -1},
        {"E'\\')' || x", -1},
        {"'\\' || x)", 8},
        {"date'\\' || x)", 12},
        {"a$b$ )", 5},
        {"$1)", 2},
        {"1$$)$$", -1},
        {"'not closed ) ", -1},
        /* a string continued on the next line keeps its kind (found by review) */
        {"E'a'\n'\\')'", -1},
        {"'a'\n'b' || x)", 12},
        {"'a' 'b' )", 8}, /* no newline: two strings, a syntax error PostgreSQL reports */
    };
    check_offsets(sql_unopened_paren, cases, sizeof cases / sizeof cases[0]);
}

static void unclosed(void **state)
{
    (void)state;
    /* where the unclosed literal or comment begins */
    static const offset_case cases[] = {
        {"lower(payload->>'email')", -1},
        {"length(')", 7}, /* found by review: the check statement closed it */
        {"length($q$)", 7},
        {"x || \"col", 5},
        {"x /* ) /* ) */", 2},
        {"x /* ) /* ) */ */", -1},
        {"x -- comment to the end", -1},
        {"E'\\'", 1}, /* the quote after the E */
        {"E'\\''", -1},
        {"'a'\n'b", 0},
        {"$$a$$ || $$b", 9},
        {"", -1},
    };
    check_offsets(sql_unclosed, cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expands_placeholders), cmocka_unit_test(quotes_identifiers),
        cmocka_unit_test(dollar_quotes),        cmocka_unit_test(statement_length),
        cmocka_unit_test(unopened_paren),       cmocka_unit_test(unclosed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
