/* stitchexpr — stitching expressions embedded and checked (see stitchexpr.h). */
#include "stitchexpr.h"

#include <stdlib.h>
#include <string.h>

/* What goes around an expression in every statement that uses it. */
#define EXPR_OPEN  "(\n"
#define EXPR_CLOSE "\n)"

/* The check: the expression as the batch statement's LATERAL branch holds it,
 * without the cast to text, so that its columns and type can be seen; and
 * again as what that branch is grouped by, where PostgreSQL refuses window
 * functions (evaluated over one event's subquery, count(*) OVER () would be
 * 1 in a batch, but the number of events where the full pass puts it). */
#define CHECK_BEFORE                                                                               \
    "SELECT x.* FROM {ce}.customer_events AS customer_events CROSS JOIN LATERAL "                  \
    "(SELECT " EXPR_OPEN
#define CHECK_BETWEEN EXPR_CLOSE " AS v GROUP BY " EXPR_OPEN
#define CHECK_AFTER   EXPR_CLOSE "::text) AS x WHERE false"

void stitchexpr_append(strbuf *sql, const char *expr)
{
    sb_append(sql, EXPR_OPEN);
    sb_append(sql, expr);
    sb_append(sql, EXPR_CLOSE "::text");
}

/* UTF-8 characters in the first n bytes of s (PostgreSQL counts positions so). */
static long chars_in(const char *s, size_t n)
{
    long c = 0;
    for (size_t i = 0; i < n && s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* Where the target'th character (1-based) of expr is, for a message. */
static void describe_position(strbuf *out, const char *expr, long target)
{
    if (target < 1)
        return;
    long ch = 0, line = 1, col = 0;
    bool multiline = strchr(expr, '\n') != NULL;
    for (const char *p = expr; *p; p++) {
        if (((unsigned char)*p & 0xC0) == 0x80)
            continue; /* a UTF-8 continuation byte */
        if (++ch == target) {
            col++;
            if (multiline)
                sb_appendf(out, " (at line %ld, character %ld of the expression)", line, col);
            else
                sb_appendf(out, " (at character %ld of the expression)", col);
            return;
        }
        if (*p == '\n') {
            line++;
            col = 0;
        } else {
            col++;
        }
    }
    sb_append(out, " (at the end of the expression: is a parenthesis or a quote not closed?)");
}

/* A failed check statement: the expression's problem, or the check's own failure. */
static int failed(db *d, PGresult *res, const char *expr, const long prefix_chars[2],
                  char **problem, cps_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char *m = db_result_message(res);
    if (db_interrupted() || db_sqlstate_fatal(state) || PQstatus(db_pg(d)) != CONNECTION_OK) {
        cps_error_set(err, "checking a stitching expression: %s", m);
        if (state)
            snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state);
        free(m);
        PQclear(res);
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    }
    strbuf msg = STRBUF_INIT;
    sb_append(&msg, m);
    free(m);
    const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    if (pos) { /* in the expression's first copy or its second */
        long at = strtol(pos, NULL, 10);
        describe_position(&msg, expr, at - prefix_chars[at > prefix_chars[1]]);
    }
    if (state && !strcmp(state, "42803")) /* grouping_error: "... in FROM clause ..." */
        sb_append(&msg, "; an aggregate such as max() or count() cannot be a stitching "
                        "expression: it must give the values of one event");
    if (state && !strcmp(state, "42P20")) /* windowing_error: "... in GROUP BY" */
        sb_append(&msg, "; a window function such as count(*) OVER () cannot be a stitching "
                        "expression: it must give the values of one event");
    PQclear(res);
    *problem = sb_detach(&msg);
    return 0;
}

int stitchexpr_check(db *d, const char *expr, char **problem, cps_error *err)
{
    *problem = NULL;
    if (str_blank(expr)) {
        *problem = xstrdup("the expression is empty");
        return 0;
    }
    size_t len = strlen(expr);
    size_t at = sql_unclosed(expr, len);
    if (at < len) {
        strbuf msg = STRBUF_INIT;
        sb_appendf(&msg, "the %s",
                   expr[at] == '/'   ? "comment"
                   : expr[at] == '"' ? "quoted name"
                   : expr[at] == '$' ? "dollar-quoted string"
                                     : "quoted string");
        describe_position(&msg, expr, chars_in(expr, at) + 1);
        sb_append(&msg, " is never closed, so it would run on into the SQL around the "
                        "expression; close it");
        *problem = sb_detach(&msg);
        return 0;
    }
    at = sql_unopened_paren(expr, len);
    if (at < len) {
        strbuf msg = STRBUF_INIT;
        sb_append(&msg, "the \")\"");
        describe_position(&msg, expr, chars_in(expr, at) + 1);
        sb_append(&msg, " closes a parenthesis that the expression did not open, so the "
                        "expression would end there; it must be one SQL expression: remove that "
                        "\")\" or add the \"(\" it belongs to");
        *problem = sb_detach(&msg);
        return 0;
    }

    strbuf sql = STRBUF_INIT;
    long prefix_chars[2];
    sql_expand_into(&sql, db_schemas(d), CHECK_BEFORE);
    prefix_chars[0] = chars_in(sb_str(&sql), sql.len);
    sb_append(&sql, expr);
    sb_append(&sql, CHECK_BETWEEN);
    prefix_chars[1] = chars_in(sb_str(&sql), sql.len);
    sb_append(&sql, expr);
    sb_append(&sql, CHECK_AFTER);
    PGconn *conn = db_pg(d);
    /* prepared: never more than one statement; described: its columns */
    PGresult *res = PQprepare(conn, "", sb_str(&sql), 0, NULL);
    sb_free(&sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        res = PQdescribePrepared(conn, "");
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return failed(d, res, expr, prefix_chars, problem, err);
    int columns = PQnfields(res);
    Oid type = columns > 0 ? PQftype(res, 0) : 0;
    PQclear(res);
    if (columns != 1) {
        *problem = xasprintf("it gives %d columns, not one value; it must be one SQL expression "
                             "(check its parentheses)",
                             columns);
        return 0;
    }
    if (type == DB_TYPE_RECORD) {
        *problem = xstrdup("it gives a row (type record), not one value: a comma outside any "
                           "function's parentheses, as in \"a, b\" or \"(a, b)\", makes a row; "
                           "write one expression, or for several identifiers a set-returning one "
                           "such as json_array_elements_text(json_build_array(a, b))");
        return 0;
    }
    /* run with WHERE false: planning finds errors in constants, e.g. 1/0 */
    res = PQexecPrepared(conn, "", 0, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return failed(d, res, expr, prefix_chars, problem, err);
    PQclear(res);
    return 0;
}
