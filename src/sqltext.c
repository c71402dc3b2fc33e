/* sqltext — schema placeholders in CPS's own SQL (see sqltext.h). */
#include "sqltext.h"

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

/* Skip a quoted section starting at sql[i] (the opening quote); returns the
 * index after it, or len if unterminated. */
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
            return i + 1;
        }
    }
    return len;
}

/* A dollar quote's tag length at sql[i] == '$' ($$ or $tag$), or 0 if none. */
static size_t dollar_tag(const char *sql, size_t len, size_t i)
{
    size_t j = i + 1;
    if (j < len && sql[j] >= '0' && sql[j] <= '9')
        return 0; /* a parameter, $1 */
    while (j < len &&
           (sql[j] == '_' || (sql[j] >= 'a' && sql[j] <= 'z') || (sql[j] >= 'A' && sql[j] <= 'Z') ||
            (sql[j] >= '0' && sql[j] <= '9') || (unsigned char)sql[j] >= 0x80))
        j++;
    return j < len && sql[j] == '$' ? j - i + 1 : 0;
}

size_t sql_statement_length(const char *sql, size_t len)
{
    size_t end = 0; /* just after the last character that matters */
    size_t i = 0;
    while (i < len) {
        char c = sql[i];
        if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            int depth = 1;
            for (i += 2; i < len && depth > 0; i++) {
                if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*')
                    depth++, i++;
                else if (sql[i] == '*' && i + 1 < len && sql[i + 1] == '/')
                    depth--, i++;
            }
        } else if (c == '\'' || c == '"') {
            int backslashes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e');
            i = skip_quoted(sql, len, i, c, backslashes);
            end = i;
        } else if (c == '$' && dollar_tag(sql, len, i)) {
            size_t tag = dollar_tag(sql, len, i);
            size_t j = i + tag;
            while (j < len && !(sql[j] == '$' && j + tag <= len && !memcmp(sql + j, sql + i, tag)))
                j++;
            i = j < len ? j + tag : len;
            end = i;
        } else {
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != ';')
                end = i + 1;
            i++;
        }
    }
    return end;
}
