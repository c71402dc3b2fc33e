/*
 * fuzz_csv — the CSV reader of csv.h.
 *
 * 1. Arbitrary bytes, in a buffer of exactly their size (so any read past
 *    the end is caught): csv_next ends, records have at least one field,
 *    every field ends in a NUL at lens[i], no field holds more bytes than the
 *    input, line numbers start at 1, never go down and never pass the number
 *    of lines; after CSV_END, CSV_END again.
 * 2. The round trip: records cut from the input (0x1E ends a record, 0x1F a
 *    field), written as CSV with the line ends and quoting the first byte
 *    picks, read back as the same records on the lines where they were written.
 */
#include "fuzz.h"

#include "csv.h"

#include <string.h>

/* Lines in [s, s + n): LF, CRLF and a lone CR each end one. */
static size_t line_ends(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n')))
            k++;
    return k;
}

static void check_arbitrary(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    size_t max_line = 1 + line_ends(buf, size);
    csv_reader *r = csv_reader_new(buf, size);
    csv_record rec;
    cps_error err;
    size_t last_line = 1, calls = 0;
    for (;;) {
        fuzz_check(++calls <= size + 2, "csv_next makes progress");
        int rc = csv_next(r, &rec, &err);
        fuzz_check(rec.line >= last_line && rec.line <= max_line, "line numbers are sane");
        last_line = rec.line;
        if (rc == CSV_END)
            break;
        if (rc == CPS_ERR) {
            fuzz_check(err.msg[0] != '\0', "an error has a message");
            continue;
        }
        fuzz_check(rc == CSV_RECORD, "csv_next returns END, RECORD or CPS_ERR");
        fuzz_check(rec.nfields >= 1 && rec.fields && rec.lens, "a record has fields");
        size_t total = 0;
        for (size_t i = 0; i < rec.nfields; i++) {
            fuzz_check(rec.fields[i] != NULL, "a field is not NULL");
            fuzz_check(rec.lens[i] <= size, "a field is not longer than the input");
            fuzz_check(rec.fields[i][rec.lens[i]] == '\0', "a field ends in a NUL");
            total += rec.lens[i];
        }
        fuzz_check(total <= size, "a record holds no more bytes than the input");
    }
    fuzz_check(csv_next(r, &rec, &err) == CSV_END, "CSV_END stays");
    csv_reader_free(r);
    free(buf);
}

#define MAX_RECORDS 64
#define MAX_FIELDS  32

typedef struct field {
    const char *s;
    size_t n;
} field;

static bool needs_quotes(const field *f, size_t nfields, bool at_start)
{
    if (nfields == 1 && f->n == 0)
        return true; /* an empty line is not a record */
    if (at_start && f->n && (unsigned char)f->s[0] == 0xEF)
        return true; /* it could read as a byte order mark */
    for (size_t i = 0; i < f->n; i++)
        if (f->s[i] == ',' || f->s[i] == '"' || f->s[i] == '\n' || f->s[i] == '\r')
            return true;
    return false;
}

static void check_round_trip(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    unsigned opts = data[0];
    const char *eol = (const char *[]){"\n", "\r\n", "\r", "\n"}[opts & 3];
    bool quote_all = opts & 4, final_eol = opts & 8;

    static field recs[MAX_RECORDS][MAX_FIELDS];
    size_t nf[MAX_RECORDS], line[MAX_RECORDS], nrec = 0;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    strbuf csv = STRBUF_INIT;
    while (nrec < MAX_RECORDS && p <= end) {
        const char *rs = memchr(p, 0x1E, (size_t)(end - p));
        const char *rend = rs ? rs : end;
        nf[nrec] = 0;
        while (nf[nrec] < MAX_FIELDS) {
            const char *us = memchr(p, 0x1F, (size_t)(rend - p));
            const char *fend = us ? us : rend;
            recs[nrec][nf[nrec]++] = (field){p, (size_t)(fend - p)};
            p = fend + 1;
            if (!us)
                break;
        }
        line[nrec] = 1 + line_ends(csv.buf ? csv.buf : "", csv.len);
        for (size_t i = 0; i < nf[nrec]; i++) {
            const field *f = &recs[nrec][i];
            if (i)
                sb_appendc(&csv, ',');
            if (quote_all || needs_quotes(f, nf[nrec], nrec == 0 && i == 0)) {
                sb_appendc(&csv, '"');
                for (size_t k = 0; k < f->n; k++) {
                    if (f->s[k] == '"')
                        sb_appendc(&csv, '"');
                    sb_appendc(&csv, f->s[k]);
                }
                sb_appendc(&csv, '"');
            } else {
                sb_appendn(&csv, f->s, f->n);
            }
        }
        nrec++;
        if (!rs || nrec == MAX_RECORDS)
            break;
        p = rs + 1;
        sb_append(&csv, eol);
    }
    if (final_eol)
        sb_append(&csv, eol);

    /* Read it back from an exactly sized copy. */
    char *text = malloc(csv.len ? csv.len : 1);
    memcpy(text, csv.buf ? csv.buf : "", csv.len);
    csv_reader *r = csv_reader_new(text, csv.len);
    csv_record rec;
    cps_error err;
    for (size_t k = 0; k < nrec; k++) {
        int rc = csv_next(r, &rec, &err);
        if (rc != CSV_RECORD)
            fprintf(stderr, "record %zu: %d %s\n", k, rc, rc == CPS_ERR ? err.msg : "");
        fuzz_check(rc == CSV_RECORD, "a written record is read back");
        fuzz_check(rec.line == line[k], "on the line it was written on");
        fuzz_check(rec.nfields == nf[k], "with its fields");
        for (size_t i = 0; i < nf[k]; i++)
            fuzz_check(rec.lens[i] == recs[k][i].n &&
                           !memcmp(rec.fields[i], recs[k][i].s, recs[k][i].n),
                       "with each field's bytes");
    }
    fuzz_check(csv_next(r, &rec, &err) == CSV_END, "and nothing more");
    csv_reader_free(r);
    free(text);
    sb_free(&csv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_arbitrary(data, size);
    check_round_trip(data, size);
    return 0;
}
