/*
 * decimal_tool — the decimal module on tab-separated lines, for
 * tests/integration/test_decimal_pg.sh to compare with PostgreSQL.
 *
 *   decimal_tool agg    "group<TAB>value" lines, a group's lines together
 *                       -> "group<TAB>sum<TAB>avg" per group
 *   decimal_tool cmp    "id<TAB>a<TAB>b" -> "id<TAB>-1|0|1" (dec_cmp_text), after
 *                       checking that dec_cmp and dec_normalize_text agree
 *   decimal_tool norm   "id<TAB>value" -> "id<TAB>normalized text"
 *   decimal_tool sort   "id<TAB>value" -> ids in dec_cmp_text order (ties by id)
 *
 * Exit status 0, or 1 on bad input or an internal disagreement.
 */
#include "decimal.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Split line (without its newline) at tabs into at most max fields. */
static int split(char *line, char **f, size_t *flen, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *tab = strchr(p, '\t');
        f[n] = p;
        flen[n] = tab ? (size_t)(tab - p) : strlen(p);
        n++;
        if (!tab)
            break;
        p = tab + 1;
    }
    return n;
}

static int die(const char *what, const char *line)
{
    fprintf(stderr, "decimal_tool: %s: [%s]\n", what, line);
    return 1;
}

static void flush_group(const char *group, decimal *sum, int64_t count, strbuf *out)
{
    sb_reset(out);
    sb_appendf(out, "%s\t", group);
    dec_format(sum, out);
    sb_appendc(out, '\t');
    dec_avg_format(sum, count, out);
    puts(sb_str(out));
}

static int cmd_agg(void)
{
    char *line = NULL, *group = NULL;
    size_t cap = 0;
    ssize_t n;
    decimal sum;
    dec_init(&sum);
    int64_t count = 0;
    strbuf out = STRBUF_INIT;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *f[2];
        size_t fl[2];
        if (split(line, f, fl, 2) != 2) {
            rc = die("expected group<TAB>value", line);
            break;
        }
        f[0][fl[0]] = '\0';
        if (!group || strcmp(group, f[0]) != 0) {
            if (group)
                flush_group(group, &sum, count, &out);
            free(group);
            group = xstrdup(f[0]);
            dec_free(&sum);
            count = 0;
        }
        if (dec_add_text(&sum, f[1], fl[1]) != 0) {
            rc = die("not a number", f[1]);
            break;
        }
        count++;
    }
    if (rc == 0 && group)
        flush_group(group, &sum, count, &out);
    free(group);
    free(line);
    dec_free(&sum);
    sb_free(&out);
    return rc;
}

static int sign(int c)
{
    return (c > 0) - (c < 0);
}

static int cmd_cmp(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    strbuf na = STRBUF_INIT, nb = STRBUF_INIT;
    decimal a, b;
    dec_init(&a);
    dec_init(&b);
    while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *f[3];
        size_t fl[3];
        if (split(line, f, fl, 3) != 3) {
            rc = die("expected id<TAB>a<TAB>b", line);
            break;
        }
        int c = dec_cmp_text(f[1], fl[1], f[2], fl[2]);
        if (dec_parse(&a, f[1], fl[1]) != 0 || dec_parse(&b, f[2], fl[2]) != 0)
            rc = die("not a number", line);
        else if (sign(dec_cmp(&a, &b)) != c || dec_cmp_text(f[2], fl[2], f[1], fl[1]) != -c)
            rc = die("dec_cmp and dec_cmp_text disagree", line);
        sb_reset(&na);
        sb_reset(&nb);
        dec_normalize_text(f[1], fl[1], &na);
        dec_normalize_text(f[2], fl[2], &nb);
        if (rc == 0 && (strcmp(sb_str(&na), sb_str(&nb)) == 0) != (c == 0))
            rc = die("dec_normalize_text and dec_cmp_text disagree", line);
        if (rc == 0)
            printf("%.*s\t%d\n", (int)fl[0], f[0], c);
    }
    free(line);
    sb_free(&na);
    sb_free(&nb);
    dec_free(&a);
    dec_free(&b);
    return rc;
}

static int cmd_norm(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    strbuf out = STRBUF_INIT;
    while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *f[2];
        size_t fl[2];
        sb_reset(&out);
        if (split(line, f, fl, 2) != 2)
            rc = die("expected id<TAB>value", line);
        else if (dec_normalize_text(f[1], fl[1], &out) != 0)
            rc = die("not a number", line);
        else
            printf("%.*s\t%s\n", (int)fl[0], f[0], sb_str(&out));
    }
    free(line);
    sb_free(&out);
    return rc;
}

typedef struct item {
    long long id;
    char *text;
} item;

static int item_cmp(const void *x, const void *y)
{
    const item *a = x, *b = y;
    int c = dec_cmp_text(a->text, strlen(a->text), b->text, strlen(b->text));
    if (c != 0)
        return c;
    return (a->id > b->id) - (a->id < b->id);
}

static int cmd_sort(void)
{
    char *line = NULL;
    size_t cap = 0, nitems = 0, icap = 0;
    ssize_t n;
    item *items = NULL;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *f[2];
        size_t fl[2];
        if (split(line, f, fl, 2) != 2)
            return die("expected id<TAB>value", line);
        xgrow((void **)&items, &icap, nitems + 1, sizeof *items);
        items[nitems].id = strtoll(f[0], NULL, 10);
        items[nitems].text = xstrndup(f[1], fl[1]);
        nitems++;
    }
    qsort(items, nitems, sizeof *items, item_cmp);
    for (size_t i = 0; i < nitems; i++) {
        printf("%lld\n", items[i].id);
        free(items[i].text);
    }
    free(items);
    free(line);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: decimal_tool agg|cmp|norm|sort <lines\n");
        return 2;
    }
    int rc;
    if (!strcmp(argv[1], "agg"))
        rc = cmd_agg();
    else if (!strcmp(argv[1], "cmp"))
        rc = cmd_cmp();
    else if (!strcmp(argv[1], "norm"))
        rc = cmd_norm();
    else if (!strcmp(argv[1], "sort"))
        rc = cmd_sort();
    else
        return die("unknown command", argv[1]) + 1;
    if (fflush(stdout) != 0)
        return 1;
    return rc;
}
