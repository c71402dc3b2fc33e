/*
 * csv — a reader for RFC 4180 CSV text held in memory, giving every record
 * the line number it starts on, so callers can say "line 7". Pure: no
 * database, no files, no global state.
 *
 * Accepted: comma-separated fields; a field enclosed in double quotes may hold
 * commas, line breaks and "" (one quote); records end with LF, CRLF or a lone
 * CR, and the last one may have no line end; a UTF-8 byte order mark at the
 * very start is skipped; lines with nothing on them are skipped (they still
 * count). Field bytes are passed through as they are: no trimming, no
 * encoding check, NUL bytes included (lens gives their length).
 *
 * Malformed input is an error value, not a stop: csv_next returns CPS_ERR with
 * rec->line naming the line at fault and err saying what is wrong (without
 * the line); the reader has then read on to the end of that record, by the
 * usual rules with the offending quote or text taken as it is (so a quoted
 * field after the mistake that spans lines is not mistaken for records), and
 * the caller may go on reading and report every problem of a file.
 *
 * Ownership: the reader borrows `data`, which must outlive it; a record's
 * fields belong to the reader and are valid until the next csv_next or
 * csv_reader_free. csv_reader_free(NULL) does nothing.
 */
#ifndef CPS_CSV_H
#define CPS_CSV_H

#include "util.h"

#include <stddef.h>

typedef struct csv_reader csv_reader;

typedef struct csv_record {
    size_t line;               /* 1-based line the record starts on (or the error's line) */
    size_t nfields;            /* at least 1 for a record */
    const char *const *fields; /* each NUL-terminated; may also contain NUL bytes */
    const size_t *lens;        /* byte length of each field */
} csv_record;

/* csv_next's results besides CPS_ERR. */
enum { CSV_END = 0, CSV_RECORD = 1 };

csv_reader *csv_reader_new(const char *data, size_t len);
void csv_reader_free(csv_reader *r);

/* Read the next record: CSV_RECORD, CSV_END at the end of the data, or CPS_ERR
 * for a malformed record (see above). */
int csv_next(csv_reader *r, csv_record *rec, cps_error *err);

#endif
