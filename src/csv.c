/*
 * csv — RFC 4180 records with their line numbers (see csv.h).
 *
 * One pass over the bytes. A record's fields are copied, unescaped, into one
 * growing buffer, each followed by a NUL; the field pointers are made only
 * once the record is complete, since the buffer may move while it grows.
 */
#include "csv.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct csv_reader {
    const char *data; /* borrowed */
    size_t len;
    size_t pos;        /* next byte to read */
    size_t line;       /* line of data[pos], 1-based */
    char *buf;         /* the current record's fields, each NUL-terminated */
    size_t buflen;     /* bytes used in buf */
    size_t bufcap;     /* bytes allocated */
    size_t *offs;      /* where each field starts in buf */
    size_t *lens;      /* each field's length */
    const char **ptrs; /* each field's address, filled when the record is complete */
    size_t nfields;    /* fields of the current record */
    size_t offcap;     /* elements allocated in offs */
    size_t lencap;     /* elements allocated in lens */
    size_t ptrcap;     /* elements allocated in ptrs */
};

csv_reader *csv_reader_new(const char *data, size_t len)
{
    csv_reader *r = xcalloc(1, sizeof *r);
    r->data = data;
    r->len = data ? len : 0;
    r->line = 1;
    if (r->len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
        r->pos = 3;
    return r;
}

void csv_reader_free(csv_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->offs);
    free(r->lens);
    free(r->ptrs);
    free(r);
}

/* The length of the line end at pos: 2 for CRLF, 1 for LF or a lone CR, else 0. */
static inline size_t line_end_at(const csv_reader *r, size_t pos)
{
    if (pos >= r->len)
        return 0;
    if (r->data[pos] == '\n')
        return 1;
    if (r->data[pos] == '\r')
        return pos + 1 < r->len && r->data[pos + 1] == '\n' ? 2 : 1;
    return 0;
}

static void append(csv_reader *r, const char *s, size_t n)
{
    /* +1 keeps room for the field's NUL */
    xgrow((void **)&r->buf, &r->bufcap, r->buflen + n + 1, 1);
    memcpy(r->buf + r->buflen, s, n);
    r->buflen += n;
}

static void field_begin(csv_reader *r)
{
    xgrow((void **)&r->offs, &r->offcap, r->nfields + 1, sizeof *r->offs);
    xgrow((void **)&r->lens, &r->lencap, r->nfields + 1, sizeof *r->lens);
    r->offs[r->nfields] = r->buflen;
}

static void field_end(csv_reader *r)
{
    append(r, "", 0);
    r->lens[r->nfields] = r->buflen - r->offs[r->nfields];
    r->buf[r->buflen++] = '\0';
    r->nfields++;
}

/* A malformed field: the record's first problem is kept (its line in
 * rec->line), and reading goes on to the record's end, where csv_next reports
 * it. Going on by the usual rules, with the offending quote or text taken as
 * it is, finds where the record ends: a quoted field after the mistake may
 * span lines, and those lines are not records of their own. */
static void malformed(csv_reader *r, csv_record *rec, cps_error *err, bool *bad, const char *msg)
{
    if (*bad)
        return;
    *bad = true;
    rec->line = r->line;
    cps_error_set(err, "%s", msg);
}

/* A quoted field; r->pos is at its opening quote. Returns 0, or CPS_ERR when
 * it is never closed (the rest of the data is then read). */
static int quoted_field(csv_reader *r, csv_record *rec, cps_error *err, bool *bad)
{
    size_t open_line = r->line;
    const char *d = r->data;
    r->pos++;
    for (;;) {
        size_t start = r->pos;
        while (r->pos < r->len && d[r->pos] != '"' && d[r->pos] != '\n' && d[r->pos] != '\r')
            r->pos++;
        append(r, d + start, r->pos - start);
        if (r->pos >= r->len) {
            rec->line = open_line;
            return cps_error_set(err, "the quoted field that starts on this line is never closed, "
                                      "so the rest of the file was read as part of it; add the "
                                      "missing closing \" (and write every \" inside a field as "
                                      "\"\")");
        }
        size_t n = line_end_at(r, r->pos);
        if (n) {
            append(r, d + r->pos, n);
            r->pos += n;
            r->line++;
            continue;
        }
        /* a quote: doubled, or the end of the field */
        if (r->pos + 1 < r->len && d[r->pos + 1] == '"') {
            append(r, "\"", 1);
            r->pos += 2;
            continue;
        }
        r->pos++;
        break;
    }
    if (r->pos < r->len && d[r->pos] != ',' && !line_end_at(r, r->pos)) {
        malformed(r, rec, err, bad,
                  "text after the closing quote of a quoted field; a quoted field must end with "
                  "\" right before the comma or the line end, and every \" inside it must be "
                  "doubled (\"\")");
        size_t start = r->pos;
        while (r->pos < r->len && d[r->pos] != ',' && !line_end_at(r, r->pos))
            r->pos++;
        append(r, d + start, r->pos - start);
    }
    return 0;
}

/* An unquoted field: up to a comma, a line end or the end of the data. */
static void plain_field(csv_reader *r, csv_record *rec, cps_error *err, bool *bad)
{
    const char *d = r->data;
    size_t start = r->pos;
    while (r->pos < r->len && d[r->pos] != ',' && d[r->pos] != '\n' && d[r->pos] != '\r') {
        if (d[r->pos] == '"')
            malformed(r, rec, err, bad,
                      "a \" inside a field that does not start with one; enclose the whole field "
                      "in double quotes and double every \" inside it (\"\")");
        r->pos++;
    }
    append(r, d + start, r->pos - start);
}

int csv_next(csv_reader *r, csv_record *rec, cps_error *err)
{
    rec->nfields = 0;
    rec->fields = NULL;
    rec->lens = NULL;
    /* lines with nothing on them are not records */
    for (;;) {
        if (r->pos >= r->len) {
            rec->line = r->line;
            return CSV_END;
        }
        size_t n = line_end_at(r, r->pos);
        if (!n)
            break;
        r->pos += n;
        r->line++;
    }
    rec->line = r->line;
    r->buflen = 0;
    r->nfields = 0;
    bool bad = false;
    for (;;) {
        field_begin(r);
        if (r->pos < r->len && r->data[r->pos] == '"') {
            if (quoted_field(r, rec, err, &bad) < 0)
                return CPS_ERR;
        } else {
            plain_field(r, rec, err, &bad);
        }
        field_end(r);
        if (r->pos >= r->len)
            break;
        if (r->data[r->pos] == ',') {
            r->pos++;
            continue;
        }
        r->pos += line_end_at(r, r->pos);
        r->line++;
        break;
    }
    if (bad)
        return CPS_ERR;
    xgrow((void **)&r->ptrs, &r->ptrcap, r->nfields, sizeof *r->ptrs);
    for (size_t i = 0; i < r->nfields; i++)
        r->ptrs[i] = r->buf + r->offs[i];
    rec->nfields = r->nfields;
    rec->fields = r->ptrs;
    rec->lens = r->lens;
    return CSV_RECORD;
}
