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
