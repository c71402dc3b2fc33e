/*
 * copyfmt — PostgreSQL's COPY text format, both ways, without a database.
 *
 * A row is fields separated by tabs and ended by a newline; \N is NULL; a
 * backslash escapes \b \f \n \r \t \v \\, octal \ooo and hex \xhh bytes.
 * Decoding works in place (a decoded field is never longer than its text).
 * Encoding escapes backslash, tab, newline and carriage return so any text
 * without NUL bytes survives the round trip.
 *
 * The binary format (COPY ... WITH (FORMAT binary)) is written too, for the
 * bulk loads: the server then parses no text, which for timestamps is most
 * of the cost of a row. A file is a header, rows, and a trailer; a row is a
 * 16-bit field count and each field as a 32-bit length (-1: NULL) and its
 * bytes, all in network byte order. A text field's bytes are the text as it
 * is; a timestamp or timestamptz is 64-bit microseconds since 2000-01-01
 * (pgtime's representation), with infinity and -infinity at the extremes.
 */
#ifndef CPS_COPYFMT_H
#define CPS_COPYFMT_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decode one row of `len` bytes at `line` (a trailing newline is allowed) in
 * place; line[len] must be writable (libpq's buffers end in a NUL). Stores up to `max` fields:
 * fields[i] points into line and is NUL-terminated, or is NULL for \N; lens[i] is its length.
 * Returns the number of fields, or -1 if the row has more than `max` fields.
 */
int copy_decode_row(char *line, size_t len, char **fields, size_t *lens, int max);

/* Append one field's text, escaped; a NULL s appends \N. */
void copy_encode_field(strbuf *out, const char *s, size_t len);

/* Binary format: the header, once; then each row begins with copy_bin_row
 * (it returns where the field count goes, patched by copy_bin_row_end). */
void copy_bin_header(strbuf *out);
size_t copy_bin_row(strbuf *out);
void copy_bin_row_end(strbuf *out, size_t row, int nfields);
void copy_bin_field(strbuf *out, const char *s, size_t len); /* s NULL = NULL */
void copy_bin_int8(strbuf *out, int64_t v);
/* pgtime's microseconds; PGTIME_NULL = NULL, PGTIME_INFINITY = infinity */
void copy_bin_timestamp(strbuf *out, int64_t t);
void copy_bin_trailer(strbuf *out);

/*
 * Binary format, reading (COPY ... TO STDOUT WITH (FORMAT binary)): one
 * message as PQgetCopyData returns it, `len` bytes with msg[len] writable,
 * decoded in place. The first message of a COPY starts with the header:
 * *header is true until it has been read. Stores up to `max` fields, each
 * NUL-terminated in place (NULL for SQL NULL), and returns their number; 0
 * for the trailer (no row); -1 if the message is not such a row or has more
 * than `max` fields.
 */
int copy_bin_decode_row(char *msg, size_t len, bool *header, char **fields, size_t *lens, int max);
/* A binary field's value: an integer of 1, 2, 4 or 8 bytes (bool, smallint,
 * integer, bigint); a timestamp(tz) as pgtime's microseconds (a NULL field
 * gives PGTIME_NULL). Both return -1 for a field of another size. */
int copy_bin_get_int(const char *f, size_t len, int64_t *v);
int copy_bin_get_timestamp(const char *f, size_t len, int64_t *t);

#endif
