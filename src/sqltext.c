/* sqltext — schema placeholders in CPS's own SQL (see sqltext.h). */
#include "sqltext.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sql_expand_into(strbuf *out, const cps_schemas *s, const char *tmpl)
{
    static const char *const names[] = {"{cdp}",     "{ce}",     "{ps}",     "{attr}",
                                        "{cdp_lit}", "{ce_lit}", "{ps_lit}", "{attr_lit}"};
    const char *values[] = {s->cdp,     s->ce,     s->ps,     s->attr,
                            s->cdp_lit, s->ce_lit, s->ps_lit, s->attr_lit};
    const char *p = tmpl;
    while (*p) {
        const char *brace = strchr(p, '{');
        if (!brace) {
            sb_append(out, p);
            return;
        }
        sb_appendn(out, p, (size_t)(brace - p));
        int matched = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            size_t n = strlen(names[i]);
            if (!strncmp(brace, names[i], n)) {
                sb_append(out, values[i]);
                p = brace + n;
                matched = 1;
                break;
            }
        }
        if (!matched) {
            sb_appendc(out, '{');
            p = brace + 1;
        }
    }
}

char *sql_expand(const cps_schemas *s, const char *tmpl)
{
    strbuf sb = STRBUF_INIT;
    sql_expand_into(&sb, s, tmpl);
    return sb_detach(&sb);
}

void sql_append_ident(strbuf *out, const char *name)
{
    sb_appendc(out, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            sb_appendc(out, '"');
        sb_appendc(out, *p);
    }
    sb_appendc(out, '"');
}

void schemas_free(cps_schemas *s)
{
    char **all[] = {&s->cdp,     &s->ce,     &s->ps,     &s->attr,
                    &s->cdp_lit, &s->ce_lit, &s->ps_lit, &s->attr_lit};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

void sql_append_dollar_quoted(strbuf *out, const char *tag, const char *body)
{
    char *quote = xasprintf("$%s$", tag);
    for (int i = 1; strstr(body, quote); i++) {
        free(quote);
        quote = xasprintf("$%s%d$", tag, i);
    }
    sb_append(out, quote);
    sb_append(out, body);
    sb_append(out, quote);
    free(quote);
}

void sql_append_trap_message(strbuf *out, const char *indent, const char *into)
{
    sb_appendf(out,
               "%sGET STACKED DIAGNOSTICS cps_trap_detail = PG_EXCEPTION_DETAIL, "
               "cps_trap_hint = PG_EXCEPTION_HINT;\n"
               "%s%s := SQLERRM || coalesce(' (' || nullif(cps_trap_detail, '') || ')', '') "
               "|| coalesce(' Hint: ' || nullif(cps_trap_hint, ''), '');\n",
               indent, indent, into);
}

/* Can c continue an identifier (letters, digits, _, $, any non-ASCII byte)? */
static bool ident_char(char c)
{
    return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (unsigned char)c >= 0x80;
}

/* Does sql[i] end an identifier or keyword, as opposed to a number or an
 * operator? (A run of identifier characters that starts with a digit is a
 * number: `1$$x$$` is 1 and a dollar quote, `a1$x$` one identifier.) */
static bool ends_identifier(const char *sql, size_t i)
{
    size_t j = i + 1;
    while (j > 0 && ident_char(sql[j - 1]))
        j--;
    return j <= i && !(sql[j] >= '0' && sql[j] <= '9') && sql[j] != '$';
}

/* After a string's closing quote at sql[i]: the quote that continues it,
 * past whitespace holding a newline ('a'<newline>'b' is one string, 'ab'),
 * or 0 if none. */
static size_t continuation(const char *sql, size_t len, size_t i)
{
    bool newline = false;
    size_t j = i + 1;
    for (; j < len && sql[j] && strchr(" \t\n\r\f", sql[j]); j++)
        newline |= sql[j] == '\n';
    return newline && j < len && sql[j] == '\'' ? j : 0;
}

/* Skip a quoted section starting at sql[i] (the opening quote); returns the
 * index after it, or SIZE_MAX if it never ends. A string continued on a
 * later line keeps its kind: E'...' escapes go on. */
static size_t skip_quoted(const char *sql, size_t len, size_t i, char quote, int backslashes)
{
    for (i++; i < len; i++) {
        if (backslashes && sql[i] == '\\') {
            i++;
            continue;
        }
        if (sql[i] == quote) {
            if (i + 1 < len && sql[i + 1] == quote) {
                i++;
                continue;
            }
            size_t next = quote == '\'' ? continuation(sql, len, i) : 0;
            if (next) {
                i = next;
                continue;
            }
            return i + 1;
        }
    }
    return SIZE_MAX;
}

/* A dollar quote's tag length at sql[i] == '$' ($$ or $tag$), or 0 if none
 * (a parameter such as $1, or a $ inside an identifier such as a$b). */
static size_t dollar_tag(const char *sql, size_t len, size_t i)
{
    size_t j = i + 1;
    if (j < len && sql[j] >= '0' && sql[j] <= '9')
        return 0; /* a parameter, $1 */
    if (i > 0 && ends_identifier(sql, i - 1))
        return 0;
    while (j < len &&
           (sql[j] == '_' || (sql[j] >= 'a' && sql[j] <= 'z') || (sql[j] >= 'A' && sql[j] <= 'Z') ||
            (sql[j] >= '0' && sql[j] <= '9') || (unsigned char)sql[j] >= 0x80))
        j++;
    return j < len && sql[j] == '$' ? j - i + 1 : 0;
}

/*
 * If sql[i] starts a comment, a quoted string or identifier, or a
 * dollar-quoted string, the index just after it (len if it never ends, then
 * *open is set), with *comment telling which; otherwise i. Strings follow
 * PostgreSQL's lexer with standard_conforming_strings on: a backslash escapes
 * only in E'...' strings. (A -- comment may end the text.)
 */
static size_t skip_literal(const char *sql, size_t len, size_t i, bool *comment, bool *open)
{
    char c = sql[i];
    *comment = false;
    *open = false;
    if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
        *comment = true;
        while (i < len && sql[i] != '\n')
            i++;
        return i;
    }
    if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
        *comment = true;
        int depth = 1;
        for (i += 2; i < len && depth > 0; i++) {
            if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*')
                depth++, i++;
            else if (sql[i] == '*' && i + 1 < len && sql[i + 1] == '/')
                depth--, i++;
        }
        *open = depth > 0;
        return i;
    }
    if (c == '\'' || c == '"') {
        /* E'...', but not the end of a name such as date'2024-01-01' */
        int backslashes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                          !(i > 1 && ident_char(sql[i - 2]));
        size_t end = skip_quoted(sql, len, i, c, backslashes);
        *open = end == SIZE_MAX;
        return *open ? len : end;
    }
    size_t tag = c == '$' ? dollar_tag(sql, len, i) : 0;
    if (tag) {
        size_t j = i + tag;
        while (j < len && !(sql[j] == '$' && j + tag <= len && !memcmp(sql + j, sql + i, tag)))
            j++;
        *open = j >= len;
        return *open ? len : j + tag;
    }
    return i;
}

size_t sql_statement_length(const char *sql, size_t len)
{
    size_t end = 0; /* just after the last character that matters */
    size_t i = 0;
    while (i < len) {
        bool comment, open;
        size_t next = skip_literal(sql, len, i, &comment, &open);
        if (next > i) {
            if (!comment)
                end = next;
            i = next;
            continue;
        }
        char c = sql[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != ';')
            end = i + 1;
        i++;
    }
    return end;
}

size_t sql_unclosed(const char *sql, size_t len)
{
    size_t i = 0;
    while (i < len) {
        bool comment, open;
        size_t next = skip_literal(sql, len, i, &comment, &open);
        if (open)
            return i;
        i = next > i ? next : i + 1;
    }
    return len;
}

size_t sql_unopened_paren(const char *sql, size_t len)
{
    size_t depth = 0;
    size_t i = 0;
    while (i < len) {
        bool comment, open;
        size_t next = skip_literal(sql, len, i, &comment, &open);
        if (next > i) {
            i = next;
            continue;
        }
        if (sql[i] == '(') {
            depth++;
        } else if (sql[i] == ')') {
            if (depth == 0)
                return i;
            depth--;
        }
        i++;
    }
    return len;
}
