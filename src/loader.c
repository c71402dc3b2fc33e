/*
 * loader — check a stitching-config CSV completely, then replace
 * {ps}.stitching_attributes_config with it, all or nothing (see loader.h).
 *
 * Three phases:
 *   1. the file alone: CSV form (csv.h), the header, field counts, empty
 *      values, UTF-8;
 *   2. against the database, in one READ ONLY transaction that is rolled
 *      back: the rows go to a temporary table by COPY, one query finds
 *      unknown attributes and resolves (source_id, type, version) to event
 *      ids, and each distinct expression is checked under a savepoint,
 *      by the check the stitch step makes (stitchexpr.h);
 *      duplicates are found in memory once the event ids are known;
 *   3. only if nothing was wrong: one transaction locks the table, compares
 *      it with the file (added / removed / changed), and replaces its
 *      contents with DELETE + COPY. File values never enter SQL text.
 * Problems are gathered first and reported in line order.
 */
#include "loader.h"

#include "csv.h"
#include "log.h"
#include "stitchexpr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const STEP = "LOAD";

enum { COL_ATTRIBUTE, COL_SOURCE, COL_TYPE, COL_VERSION, COL_EXPR, NCOLS };
static const char *const column_names[NCOLS] = {"attribute_id", "source_id", "type", "version",
                                                "value_expression"};
#define COLUMN_LIST "attribute_id, source_id, type, version, value_expression"

typedef struct load_row {
    size_t line;
    char *v[NCOLS]; /* the row's values; NULL when empty or unusable */
    char *event_id; /* resolved from (source_id, type, version), or NULL */
} load_row;

typedef struct problem {
    size_t line;
    size_t seq; /* keeps problems of one line in the order found */
    char *msg;
} problem;

typedef struct loader {
    run_ctx *ctx;
    db *d;
    const char *path;
    load_row *rows;
    size_t nrows, rowcap;
    problem *problems;
    size_t nproblems, problemcap;
} loader;

/* A config row as stored: for comparing the file with the table. */
typedef struct cfg_entry {
    const char *event_id, *attribute_id, *expr; /* NULL for SQL NULL */
} cfg_entry;

static void add_problem(loader *l, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_problem(loader *l, size_t line, const char *fmt, ...)
{
    strbuf sb = STRBUF_INIT;
    sb_appendf(&sb, "%s line %zu: ", l->path, line);
    va_list ap;
    va_start(ap, fmt);
    sb_vappendf(&sb, fmt, ap);
    va_end(ap);
    xgrow((void **)&l->problems, &l->problemcap, l->nproblems + 1, sizeof *l->problems);
    l->problems[l->nproblems] = (problem){line, l->nproblems, sb_detach(&sb)};
    l->nproblems++;
}

static int problem_cmp(const void *a, const void *b)
{
    const problem *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void free_loader(loader *l)
{
    for (size_t i = 0; i < l->nrows; i++) {
        for (int c = 0; c < NCOLS; c++)
            free(l->rows[i].v[c]);
        free(l->rows[i].event_id);
    }
    free(l->rows);
    for (size_t i = 0; i < l->nproblems; i++)
        free(l->problems[i].msg);
    free(l->problems);
}

/* ---- the file ---------------------------------------------------------- */

static int open_input(const char *path, int *fd, struct stat *st, cps_error *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0 || fstat(*fd, st) < 0) {
        int e = errno;
        if (*fd >= 0)
            close(*fd);
        char cwd[1024];
        return cps_error_set(err,
                             "cannot read the stitching config file \"%s\": %s; check the path "
                             "(a relative path is taken from the current directory, %s)",
                             path, strerror(e), getcwd(cwd, sizeof cwd) ? cwd : "unknown");
    }
    if (S_ISDIR(st->st_mode)) {
        close(*fd);
        return cps_error_set(err,
                             "\"%s\" is a directory; give the path of the stitching config CSV "
                             "file",
                             path);
    }
    return 0;
}

int loader_check_input(const char *path, cps_error *err)
{
    int fd;
    struct stat st;
    memset(&st, 0, sizeof st);
    if (open_input(path, &fd, &st, err) < 0)
        return CPS_ERR;
    close(fd);
    return 0;
}

static int read_input(const char *path, char **data, size_t *len, cps_error *err)
{
    int fd;
    struct stat st;
    memset(&st, 0, sizeof st);
    *data = NULL;
    *len = 0;
    if (open_input(path, &fd, &st, err) < 0)
        return CPS_ERR;
    strbuf sb = STRBUF_INIT;
    sb_reserve(&sb, S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536);
    for (;;) {
        sb_reserve(&sb, 65536);
        ssize_t n = read(fd, sb.buf + sb.len, sb.cap - sb.len - 1);
        if (n < 0 && errno == EINTR && !db_interrupted())
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            sb_free(&sb);
            if (db_interrupted())
                return CPS_EINTR;
            return cps_error_set(err, "cannot read the stitching config file \"%s\": %s", path,
                                 strerror(e));
        }
        if (n == 0)
            break;
        sb.len += (size_t)n;
        sb.buf[sb.len] = '\0';
    }
    close(fd);
    *len = sb.len;
    *data = sb_detach(&sb);
    return 0;
}

/* The offset of the first byte that is not valid UTF-8 (as PostgreSQL
 * judges it: no overlong forms, no surrogates, nothing above U+10FFFF), or len. */
static size_t utf8_invalid_at(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xC2 && c <= 0xDF   ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        if (!n || n > len - i)
            return i;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        unsigned c1 = s[i + 1];
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
            (c == 0xF4 && c1 > 0x8F))
            return i;
        i += n;
    }
    return len;
}

static inline bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool has_outer_space(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n && (is_space(s[0]) || is_space(s[n - 1]));
}

/* Map the header's fields to the columns; returns false if a column is missing. */
static bool read_header(loader *l, const csv_record *rec, int colmap[NCOLS])
{
    for (int c = 0; c < NCOLS; c++)
        colmap[c] = -1;
    for (size_t i = 0; i < rec->nfields; i++) {
        const char *name = rec->fields[i];
        size_t len = rec->lens[i];
        while (len && is_space(*name)) {
            name++;
            len--;
        }
        while (len && is_space(name[len - 1]))
            len--;
        int col = -1;
        for (int c = 0; c < NCOLS; c++)
            if (strlen(column_names[c]) == len && !strncasecmp(name, column_names[c], len))
                col = c;
        if (col >= 0 && colmap[col] >= 0) {
            add_problem(l, rec->line, "column \"%s\" appears twice in the header; keep one",
                        column_names[col]);
        } else if (col >= 0) {
            colmap[col] = (int)i;
        } else if (len == 0) {
            add_problem(l, rec->line,
                        "column %zu of the header has no name; the columns are " COLUMN_LIST
                        " (remove the extra comma)",
                        i + 1);
        } else if (len == 8 && !strncasecmp(name, "event_id", len)) {
            add_problem(l, rec->line,
                        "column \"event_id\" is not part of this format: give source_id, type "
                        "and version instead, and the loader looks the event_id up in %s.events",
                        db_config(l->d)->cdp_schema);
        } else if (memchr(name, '\0', len) || utf8_invalid_at(name, len) < len) {
            add_problem(l, rec->line,
                        "column %zu of the header is not a valid UTF-8 name; the columns "
                        "are " COLUMN_LIST " (save the file with the UTF-8 encoding)",
                        i + 1);
        } else {
            add_problem(l, rec->line,
                        "unknown column \"%.*s\" in the header; the columns are " COLUMN_LIST
                        " (in any order)",
                        (int)(len > 200 ? 200 : len), name);
        }
    }
    bool complete = true;
    for (int c = 0; c < NCOLS; c++)
        if (colmap[c] < 0) {
            complete = false;
            add_problem(l, rec->line,
                        "the header has no column \"%s\"; the first line must name the "
                        "columns " COLUMN_LIST " (in any order); the rows are checked once the "
                        "header is right",
                        column_names[c]);
        }
    return complete;
}

/* Check one data record on its own and keep it for the database checks. */
static void read_row(loader *l, const csv_record *rec, const int colmap[NCOLS], size_t nheader,
                     bool keep)
{
    if (rec->nfields != nheader) {
        add_problem(l, rec->line,
                    "%zu field%s, but the header has %zu; a value that contains a comma, a quote "
                    "or a line break must be enclosed in double quotes (with every \" inside "
                    "written as \"\")",
                    rec->nfields, rec->nfields == 1 ? "" : "s", nheader);
        return;
    }
    if (!keep)
        return;
    load_row row = {.line = rec->line};
    strbuf empty = STRBUF_INIT;
    int nempty = 0;
    for (int c = 0; c < NCOLS; c++) {
        const char *f = rec->fields[colmap[c]];
        size_t len = rec->lens[colmap[c]];
        size_t bad;
        if (memchr(f, '\0', len)) {
            add_problem(l, rec->line,
                        "%s contains a NUL byte, which PostgreSQL cannot store; remove it",
                        column_names[c]);
        } else if ((bad = utf8_invalid_at(f, len)) < len) {
            add_problem(l, rec->line,
                        "%s is not valid UTF-8 (byte %zu of the value); save the file with the "
                        "UTF-8 encoding",
                        column_names[c], bad + 1);
        } else if (str_blank(f)) {
            sb_appendf(&empty, "%s%s", nempty++ ? ", " : "", column_names[c]);
        } else {
            row.v[c] = xstrndup(f, len);
        }
    }
    if (nempty)
        add_problem(l, rec->line, "empty %s; every row needs all of " COLUMN_LIST, sb_str(&empty));
    sb_free(&empty);
    xgrow((void **)&l->rows, &l->rowcap, l->nrows + 1, sizeof *l->rows);
    l->rows[l->nrows++] = row;
}

/* Phase 1: everything that can be checked without the database. */
static int check_file(loader *l, const char *data, size_t len)
{
    csv_reader *r = csv_reader_new(data, len);
    csv_record rec;
    cps_error e;
    int colmap[NCOLS];
    size_t nheader = 0;
    bool header_seen = false, header_ok = false;
    int rc;
    while ((rc = csv_next(r, &rec, &e)) != CSV_END) {
        if (rc < 0) {
            add_problem(l, rec.line, "%s", e.msg);
            if (!header_seen) {
                add_problem(l, rec.line,
                            "the first line must be the header: " COLUMN_LIST
                            " (in any order); the rows are checked once it can be read");
                header_seen = true;
            }
            continue;
        }
        if (!header_seen) {
            header_seen = true;
            nheader = rec.nfields;
            header_ok = read_header(l, &rec, colmap);
            continue;
        }
        if (header_ok || nheader)
            read_row(l, &rec, colmap, nheader, header_ok);
        if (db_interrupted()) {
            csv_reader_free(r);
            return CPS_EINTR;
        }
    }
    csv_reader_free(r);
    if (!header_seen)
        add_problem(l, 1,
                    "the file is empty; it needs a header line (" COLUMN_LIST
                    ") and one row per identifier of an event");
    return 0;
}

/* ---- the database checks ----------------------------------------------- */

/*
 * Check one expression (stitchexpr_check) under a savepoint in the caller's
 * read-only transaction. Returns 0 with *problem NULL when it works, 0 with
 * *problem set (caller frees) when it does not, or CPS_ERR / CPS_EINTR when
 * the check itself failed.
 */
static int check_expression(loader *l, const char *expr, char **problem, cps_error *err)
{
    int rc = db_savepoint(l->d, err);
    if (rc < 0)
        return rc;
    rc = stitchexpr_check(l->d, expr, problem, err);
    if (rc < 0)
        return rc;
    return *problem ? db_rollback_to_savepoint(l->d, err) : db_release_savepoint(l->d, err);
}

static int copy_rows_to_temp(loader *l, cps_error *err)
{
    db_copy *c = db_copy_in_begin(l->d,
                                  "COPY pg_temp.cps_load_rows (k, attribute_id, source_id, type, "
                                  "version) FROM STDIN",
                                  err);
    if (!c)
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    for (size_t i = 0; i < l->nrows; i++) {
        const load_row *r = &l->rows[i];
        copyin_int(c, (int64_t)i);
        for (int col = COL_ATTRIBUTE; col <= COL_VERSION; col++)
            copyin_str(c, r->v[col]);
        copyin_end_row(c);
    }
    return db_copy_in_end(c, NULL, err);
}

/* Unknown attributes; (source_id, type, version) -> event_id. */
static int resolve_rows(loader *l, cps_error *err)
{
    const cps_config *cfg = db_config(l->d);
    PGresult *res = db_query(
        l->d, err,
        /* set-based, so a big file against a big events table stays fast */
        "WITH triples AS (SELECT DISTINCT source_id, type, version FROM pg_temp.cps_load_rows "
        "  WHERE source_id IS NOT NULL AND type IS NOT NULL AND version IS NOT NULL), "
        "by_columns AS (SELECT t.source_id, t.type, t.version, count(*) AS n, "
        "  string_agg(e.id::text, ', ' ORDER BY e.id::text) AS ids, "
        "  bool_or(e.id::text = md5(t.source_id || t.type || t.version)) AS md5_among "
        "  FROM triples t JOIN {cdp}.events e ON e.source_id::text = t.source_id "
        "  AND e.type::text = t.type AND e.version::text = t.version "
        "  GROUP BY t.source_id, t.type, t.version) "
        "SELECT l.k, l.attribute_id IS NULL OR a.id IS NOT NULL, coalesce(c.n, 0), c.ids, "
        "  coalesce(c.md5_among, false), m.id::text, md5(l.source_id || l.type || l.version) "
        "FROM pg_temp.cps_load_rows l "
        "LEFT JOIN {cdp}.attributes a ON a.id::text = l.attribute_id "
        "LEFT JOIN by_columns c ON (c.source_id, c.type, c.version) = "
        "  (l.source_id, l.type, l.version) "
        "LEFT JOIN {cdp}.events m ON m.id::text = md5(l.source_id || l.type || l.version) "
        "ORDER BY l.k",
        0, NULL);
    if (!res)
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    for (int i = 0; i < PQntuples(res); i++) {
        size_t k = (size_t)strtoull(PQgetvalue(res, i, 0), NULL, 10);
        if (k >= l->nrows)
            continue;
        load_row *r = &l->rows[k];
        if (PQgetvalue(res, i, 1)[0] != 't')
            add_problem(l, r->line,
                        "attribute \"%s\" is not in %s.attributes; add it there first, or "
                        "correct attribute_id%s",
                        r->v[COL_ATTRIBUTE], cfg->cdp_schema,
                        has_outer_space(r->v[COL_ATTRIBUTE])
                            ? " (note the spaces at the start or end of the value)"
                            : "");
        if (!r->v[COL_SOURCE] || !r->v[COL_TYPE] || !r->v[COL_VERSION])
            continue;
        long long n = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        bool md5_among = PQgetvalue(res, i, 4)[0] == 't';
        const char *md5_id = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5);
        if (n == 1)
            r->event_id = xstrdup(PQgetvalue(res, i, 3));
        else if ((n > 1 && md5_among) || (n == 0 && md5_id))
            r->event_id = xstrdup(md5_id);
        else if (n > 1)
            add_problem(l, r->line,
                        "source_id \"%s\", type \"%s\", version \"%s\" match %lld event "
                        "definitions in %s.events (ids %s) and none has the usual id "
                        "md5(source_id || type || version); make them unique in %s.events",
                        r->v[COL_SOURCE], r->v[COL_TYPE], r->v[COL_VERSION], n, cfg->cdp_schema,
                        PQgetvalue(res, i, 3), cfg->cdp_schema);
        else
            add_problem(l, r->line,
                        "no event in %s.events has source_id \"%s\", type \"%s\", version "
                        "\"%s\" (nor the id md5(source_id || type || version) = \"%s\"); add the "
                        "event definition there first, or correct these values%s",
                        cfg->cdp_schema, r->v[COL_SOURCE], r->v[COL_TYPE], r->v[COL_VERSION],
                        PQgetvalue(res, i, 6),
                        has_outer_space(r->v[COL_SOURCE]) || has_outer_space(r->v[COL_TYPE]) ||
                                has_outer_space(r->v[COL_VERSION])
                            ? " (note the spaces at the start or end of a value)"
                            : "");
    }
    PQclear(res);
    return 0;
}

static int cmp_nullable(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;
    return strcmp(a, b);
}

static int row_key_cmp(const void *a, const void *b)
{
    const load_row *x = *(load_row *const *)a, *y = *(load_row *const *)b;
    int c = strcmp(x->event_id, y->event_id);
    if (!c)
        c = strcmp(x->v[COL_ATTRIBUTE], y->v[COL_ATTRIBUTE]);
    if (!c)
        c = x->line < y->line ? -1 : x->line > y->line;
    return c;
}

/* Two rows for the same (event_id, attribute_id): the later ones are reported. */
static void find_duplicates(loader *l)
{
    load_row **keyed = xcalloc(l->nrows + 1, sizeof *keyed);
    size_t n = 0;
    for (size_t i = 0; i < l->nrows; i++)
        if (l->rows[i].event_id && l->rows[i].v[COL_ATTRIBUTE])
            keyed[n++] = &l->rows[i];
    qsort(keyed, n, sizeof *keyed, row_key_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (strcmp(keyed[i]->event_id, keyed[first]->event_id) != 0 ||
            strcmp(keyed[i]->v[COL_ATTRIBUTE], keyed[first]->v[COL_ATTRIBUTE]) != 0) {
            first = i;
            continue;
        }
        add_problem(l, keyed[i]->line,
                    "duplicate of line %zu: attribute \"%s\" for event \"%s\" (source_id \"%s\", "
                    "type \"%s\", version \"%s\") appears twice; keep one of the two rows",
                    keyed[first]->line, keyed[i]->v[COL_ATTRIBUTE], keyed[i]->event_id,
                    keyed[i]->v[COL_SOURCE], keyed[i]->v[COL_TYPE], keyed[i]->v[COL_VERSION]);
    }
    free(keyed);
}

static int row_expr_cmp(const void *a, const void *b)
{
    const load_row *x = *(load_row *const *)a, *y = *(load_row *const *)b;
    int c = strcmp(x->v[COL_EXPR], y->v[COL_EXPR]);
    return c ? c : x->line < y->line ? -1 : x->line > y->line;
}

/* Which config row a line is, as far as it is known: " for attribute "a" of event "e"". */
static void append_row_names(strbuf *out, const load_row *r)
{
    if (r->v[COL_ATTRIBUTE])
        sb_appendf(out, " for attribute \"%s\"", r->v[COL_ATTRIBUTE]);
    if (r->event_id)
        sb_appendf(out, " of event \"%s\"", r->event_id);
    else if (r->v[COL_SOURCE] && r->v[COL_TYPE] && r->v[COL_VERSION])
        sb_appendf(out, " of the event with source_id \"%s\", type \"%s\", version \"%s\"",
                   r->v[COL_SOURCE], r->v[COL_TYPE], r->v[COL_VERSION]);
}

/* Each distinct expression is checked once; every line using a broken one is reported. */
static int check_expressions(loader *l, cps_error *err)
{
    const cps_config *cfg = db_config(l->d);
    load_row **byexpr = xcalloc(l->nrows + 1, sizeof *byexpr);
    size_t n = 0;
    for (size_t i = 0; i < l->nrows; i++)
        if (l->rows[i].v[COL_EXPR])
            byexpr[n++] = &l->rows[i];
    qsort(byexpr, n, sizeof *byexpr, row_expr_cmp);
    char *broken = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i == 0 || strcmp(byexpr[i]->v[COL_EXPR], byexpr[i - 1]->v[COL_EXPR]) != 0) {
            free(broken);
            if (db_interrupted()) {
                broken = NULL;
                rc = CPS_EINTR;
                break;
            }
            rc = check_expression(l, byexpr[i]->v[COL_EXPR], &broken, err);
            if (rc < 0)
                break;
        }
        if (broken) {
            strbuf names = STRBUF_INIT;
            append_row_names(&names, byexpr[i]);
            add_problem(l, byexpr[i]->line,
                        "value_expression%s does not work on %s.customer_events: %s; correct the "
                        "SQL expression",
                        sb_str(&names), cfg->ce_schema, broken);
            sb_free(&names);
        }
    }
    free(broken);
    free(byexpr);
    return rc;
}

/* Phase 2: the checks that need the database; changes nothing. */
static int check_database(loader *l, cps_error *err)
{
    if (l->nrows == 0)
        return 0;
    if (db_exec(l->d, err,
                "CREATE TEMP TABLE IF NOT EXISTS cps_load_rows (k bigint, attribute_id text, "
                "source_id text, type text, version text) ON COMMIT DELETE ROWS",
                0, NULL) < 0)
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    int rc = db_begin_read(l->d, err);
    if (rc == 0)
        rc = copy_rows_to_temp(l, err);
    if (rc == 0)
        rc = resolve_rows(l, err);
    if (rc == 0)
        find_duplicates(l);
    if (rc == 0)
        rc = check_expressions(l, err);
    db_rollback(l->d);
    return rc;
}

/* ---- writing ----------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
    const cfg_entry *x = a, *y = b;
    int c = cmp_nullable(x->event_id, y->event_id);
    return c ? c : cmp_nullable(x->attribute_id, y->attribute_id);
}

typedef struct diff_counts {
    size_t added, removed, changed, unchanged;
} diff_counts;

/* Compare the table's rows with the file's, both sorted by (event_id, attribute_id). */
static diff_counts compare(cfg_entry *old, size_t nold, cfg_entry *new, size_t nnew)
{
    diff_counts dc = {0, 0, 0, 0};
    qsort(old, nold, sizeof *old, entry_cmp);
    qsort(new, nnew, sizeof *new, entry_cmp);
    size_t i = 0, j = 0;
    while (i < nold || j < nnew) {
        int c = i == nold ? 1 : j == nnew ? -1 : entry_cmp(&old[i], &new[j]);
        if (c < 0) {
            dc.removed++;
            i++;
        } else if (c > 0) {
            dc.added++;
            j++;
        } else {
            if (cmp_nullable(old[i].expr, new[j].expr))
                dc.changed++;
            else
                dc.unchanged++;
            i++;
            j++;
        }
    }
    return dc;
}

/* Phase 3: replace the table's contents, in one transaction. */
static int write_config(loader *l, diff_counts *dc, cps_error *err)
{
    int rc = db_begin(l->d, err);
    if (rc < 0)
        return rc;
    PGresult *old = NULL;
    if (db_exec(l->d, err,
                "LOCK TABLE {ps}.stitching_attributes_config IN SHARE ROW EXCLUSIVE MODE", 0,
                NULL) < 0 ||
        !(old = db_query(l->d, err,
                         "SELECT event_id::text, attribute_id::text, value_expression "
                         "FROM {ps}.stitching_attributes_config",
                         0, NULL))) {
        db_rollback(l->d);
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    }
    size_t nold = (size_t)PQntuples(old);
    cfg_entry *olds = xcalloc(nold + 1, sizeof *olds);
    for (size_t i = 0; i < nold; i++)
        for (int c = 0; c < 3; c++) {
            const char *v = PQgetisnull(old, (int)i, c) ? NULL : PQgetvalue(old, (int)i, c);
            if (c == 0)
                olds[i].event_id = v;
            else if (c == 1)
                olds[i].attribute_id = v;
            else
                olds[i].expr = v;
        }
    cfg_entry *news = xcalloc(l->nrows + 1, sizeof *news);
    for (size_t i = 0; i < l->nrows; i++)
        news[i] =
            (cfg_entry){l->rows[i].event_id, l->rows[i].v[COL_ATTRIBUTE], l->rows[i].v[COL_EXPR]};
    *dc = compare(olds, nold, news, l->nrows);
    free(olds);
    free(news);
    PQclear(old);
    if (!dc->added && !dc->removed && !dc->changed) {
        db_rollback(l->d);
        return 0;
    }

    if (db_exec(l->d, err, "DELETE FROM {ps}.stitching_attributes_config", 0, NULL) < 0) {
        db_rollback(l->d);
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    }
    char *sql = db_sql(l->d, "COPY {ps}.stitching_attributes_config (attribute_id, event_id, "
                             "value_expression) FROM STDIN");
    db_copy *c = db_copy_in_begin(l->d, sql, err);
    free(sql);
    if (!c) {
        db_rollback(l->d);
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    }
    for (size_t i = 0; i < l->nrows; i++) {
        copyin_str(c, l->rows[i].v[COL_ATTRIBUTE]);
        copyin_str(c, l->rows[i].event_id);
        copyin_str(c, l->rows[i].v[COL_EXPR]);
        copyin_end_row(c);
    }
    rc = db_copy_in_end(c, NULL, err);
    if (rc == 0 && db_interrupted())
        rc = CPS_EINTR;
    if (rc == 0)
        rc = db_commit(l->d, err);
    if (rc < 0) {
        db_rollback(l->d);
        return db_interrupted() ? CPS_EINTR : rc;
    }
    return 0;
}

/* What the operator may want to do next: re-stitch, re-queue set-aside events. */
static void log_next_steps(loader *l)
{
    const cps_config *cfg = l->ctx->cfg;
    log_info(STEP,
             "the new stitching config applies to events stitched from now on; events already "
             "stitched keep their entities. To re-stitch every event with it, run: "
             "TRUNCATE %s.customer_entities CASCADE; TRUNCATE %s.matching; "
             "DROP TABLE %s.customer_events_to_process; "
             "DROP TABLE %s.cached_source_events_per_date; then run cps again",
             cfg->attr_schema, cfg->ps_schema, cfg->ps_schema, cfg->cdp_schema);
    cps_error e;
    char *n = NULL;
    if (db_query_value(l->d, &e, &n, NULL, "SELECT count(*) FROM {ps}.failed_events", 0, NULL) ==
            0 &&
        n && strcmp(n, "0") != 0)
        log_info(STEP,
                 "%s events are set aside in %s.failed_events because an expression failed on "
                 "them; if the new config fixes it, delete their rows there to queue them again",
                 n, cfg->ps_schema);
    free(n);
}

int loader_step(run_ctx *ctx, cps_error *err)
{
    const cps_config *cfg = ctx->cfg;
    if (!cfg->input || !*cfg->input)
        return cps_error_set(err, "no stitching config file to load: give it as the argument of "
                                  "load-stitching-config, or as \"input\" in the configuration");
    loader l = {.ctx = ctx, .d = ctx->d, .path = cfg->input};
    json_t *st = run_step_stats(ctx, "load");
    json_object_set_new(st, "file", json_string(l.path));

    char *data = NULL;
    size_t len = 0;
    int rc = read_input(l.path, &data, &len, err);
    if (rc < 0)
        return rc;
    log_info(STEP, "checking %s (%zu bytes)", l.path, len);
    rc = check_file(&l, data, len);
    free(data);
    if (rc == 0)
        rc = check_database(&l, err);
    if (rc < 0) {
        free_loader(&l);
        return rc;
    }
    json_object_set_new(st, "rows", json_integer((json_int_t)l.nrows));
    json_object_set_new(st, "problems", json_integer((json_int_t)l.nproblems));

    if (l.nproblems) {
        qsort(l.problems, l.nproblems, sizeof *l.problems, problem_cmp);
        for (size_t i = 0; i < l.nproblems; i++)
            run_problem(ctx, STEP, "%s", l.problems[i].msg);
        cps_error_set(err,
                      "%zu problem%s in %s; nothing was loaded (%s.stitching_attributes_config "
                      "is unchanged): correct the lines above and load the file again",
                      l.nproblems, l.nproblems == 1 ? "" : "s", l.path, cfg->ps_schema);
        json_object_set_new(st, "written", json_false());
        free_loader(&l);
        return CPS_ERR;
    }
    log_info(STEP, "%s: all %zu rows are valid", l.path, l.nrows);

    diff_counts dc = {0, 0, 0, 0};
    rc = write_config(&l, &dc, err);
    if (rc < 0) {
        if (rc != CPS_EINTR)
            cps_error_prefix(err,
                             "loading %s into %s.stitching_attributes_config (nothing was "
                             "changed)",
                             l.path, cfg->ps_schema);
        free_loader(&l);
        return rc;
    }
    bool changed = dc.added || dc.removed || dc.changed;
    json_object_set_new(st, "written", json_boolean(changed));
    json_object_set_new(st, "added", json_integer((json_int_t)dc.added));
    json_object_set_new(st, "removed", json_integer((json_int_t)dc.removed));
    json_object_set_new(st, "changed", json_integer((json_int_t)dc.changed));
    json_object_set_new(st, "unchanged", json_integer((json_int_t)dc.unchanged));
    if (!changed) {
        log_info(STEP,
                 "%s: no changes: %s.stitching_attributes_config already holds these %zu rows; "
                 "nothing was written",
                 l.path, cfg->ps_schema, l.nrows);
    } else {
        log_info(STEP,
                 "%s: %zu rows loaded into %s.stitching_attributes_config: %zu added, %zu "
                 "removed, %zu with a changed expression, %zu unchanged",
                 l.path, l.nrows, cfg->ps_schema, dc.added, dc.removed, dc.changed, dc.unchanged);
        if (l.nrows == 0)
            log_warn(STEP,
                     "%s has no rows, so %s.stitching_attributes_config is now empty: events "
                     "stitched from now on each become an entity of their own",
                     l.path, cfg->ps_schema);
        log_next_steps(&l);
    }
    free_loader(&l);
    return 0;
}
