/*
 * sqltext — SQL text templates over the configured schemas.
 *
 * CPS writes its SQL with the placeholders of the specification: {cdp}, {ce},
 * {ps} and {attr} expand to the quoted schema identifiers, {cdp_lit} ... {attr_lit}
 * to the schema names as quoted string literals (for catalog lookups). Nothing
 * else is substituted, so values never enter SQL text: they travel as
 * parameters or through COPY. Operator-written SQL (expressions, queries) is
 * appended verbatim and never passed through the expander.
 * The schema strings are owned by cps_schemas and freed by schemas_free().
 */
#ifndef CPS_SQLTEXT_H
#define CPS_SQLTEXT_H

#include "util.h"

typedef struct cps_schemas {
    char *cdp, *ce, *ps, *attr;                 /* quoted identifiers: "cdp_ps" */
    char *cdp_lit, *ce_lit, *ps_lit, *attr_lit; /* quoted literals: 'cdp_ps' */
} cps_schemas;

/* Expand a template into a new string (caller frees). */
char *sql_expand(const cps_schemas *s, const char *tmpl);
/* Append the expansion of a template to out. */
void sql_expand_into(strbuf *out, const cps_schemas *s, const char *tmpl);
/* Append `name` as a quoted SQL identifier ("a""b" style). */
void sql_append_ident(strbuf *out, const char *name);
void schemas_free(cps_schemas *s);

/* Append body as a dollar-quoted string, $<tag>$body$<tag>$, the tag being
 * `tag` or `tag` and a number, whichever body does not hold (a function
 * body around operator-written SQL). */
void sql_append_dollar_quoted(strbuf *out, const char *tag, const char *body);

/* PL/pgSQL trap functions (see sqlgen_trap): append, for an exception
 * handler, the statements setting variable `into` to the error's message,
 * its detail in parentheses and its hint, as db_result_message words a
 * client's error (without the context). The function declares the text
 * variables cps_trap_detail and cps_trap_hint. Each line starts with indent. */
void sql_append_trap_message(strbuf *out, const char *indent, const char *into);

/* The length of an SQL statement without what trails its last token:
 * whitespace, comments and semicolons (quoted text and dollar quotes are
 * respected), so the statement can be embedded as a subquery. */
size_t sql_statement_length(const char *sql, size_t len);

/* The offset of the first ")" in sql (outside comments, quoted text and
 * dollar quotes) that closes a parenthesis sql did not open, or len if none:
 * text with such a ")" cannot be wrapped in parentheses as one expression,
 * since that ")" would close the wrapper early. */
size_t sql_unopened_paren(const char *sql, size_t len);

/* The offset where a quoted string or identifier, a dollar quote or a block
 * comment begins that sql never closes, or len if none: such text cannot be
 * wrapped either, its quote would run on into what follows it. */
size_t sql_unclosed(const char *sql, size_t len);

#endif
