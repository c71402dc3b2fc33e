/* Unit tests for sqlgen's trap function (no database): the attribute's SQL
 * goes inside a dollar quote that it cannot close, whatever it holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sqlgen.h"

/* The dollar quote after "AS " and the body it encloses. */
static void check_quote(const char *fn, const char *query)
{
    const char *as = strstr(fn, "VOLATILE AS $");
    assert_non_null(as);
    const char *tag = as + strlen("VOLATILE AS ");
    const char *end = strchr(tag + 1, '$');
    assert_non_null(end);
    size_t taglen = (size_t)(end - tag) + 1;
    const char *body = tag + taglen;
    /* the body ends with the tag, which it holds nowhere else */
    size_t n = strlen(fn);
    assert_true(n > taglen && !strncmp(fn + n - taglen, tag, taglen));
    char *inner = xstrndup(body, (size_t)(fn + n - taglen - body));
    char *t = xstrndup(tag, taglen);
    assert_null(strstr(inner, t));
    assert_non_null(strstr(inner, query));
    free(inner);
    free(t);
}

static void trap_quotes(void **state)
{
    (void)state;
    const char *queries[] = {
        "SELECT 1 AS k, 'x' AS v",
        "SELECT 1 AS k, $cps_trap$x$cps_trap$ AS v",
        "SELECT 1 AS k, $cps_trap$x$cps_trap$ || $cps_trap1$y$cps_trap1$ AS v",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        strbuf fn = STRBUF_INIT;
        sqlgen_trap(&fn, 7, queries[i], 2, "SQLSTATE = 'XX000'");
        const char *s = sb_str(&fn);
        assert_non_null(strstr(s, "CREATE OR REPLACE FUNCTION pg_temp.cps_trap_7()"));
        assert_non_null(strstr(s, "#variable_conflict use_column"));
        assert_non_null(strstr(s, "IF SQLSTATE = 'XX000' THEN\n                RAISE;"));
        assert_non_null(strstr(s, ") AS cps_trap_q (c1, c2);"));
        check_quote(s, queries[i]);
        sb_free(&fn);
    }
}

static void trap_shapes(void **state)
{
    (void)state;
    strbuf fn = STRBUF_INIT;
    sqlgen_trap(&fn, 0, "SELECT 1, 2, 'v', NULL, NULL, NULL", 6, "false");
    assert_non_null(strstr(sb_str(&fn), "cps_trap_q.c6::text, NULL::text FROM ("));
    assert_non_null(strstr(sb_str(&fn), ") AS cps_trap_q (c1, c2, c3, c4, c5, c6);"));
    sb_free(&fn);
    /* one entity of the batch, in the events and the custom query's base */
    strbuf sql = STRBUF_INIT;
    char ps[] = "\"ps\"", ce[] = "\"ce\"";
    cps_schemas s = {.ps = ps, .ce = ce};
    char id[] = "id", payload[] = "payload";
    char *columns[] = {id, payload};
    sqlgen_events(&sql, &s, columns, 2, SQLGEN_TRAP_ENTITY);
    assert_non_null(strstr(sb_str(&sql), "FROM " SQLGEN_TRAP_ENTITY " b JOIN"));
    assert_null(strstr(sb_str(&sql), "cps_ents"));
    sb_free(&sql);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trap_quotes),
        cmocka_unit_test(trap_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
