/*
 * copyfmt — PostgreSQL's COPY text format, both ways, without a database.
 *
 * A row is fields separated by tabs and ended by a newline; \N is NULL; a
 * backslash escapes \b \f \n \r \t \v \\, octal \ooo and hex \xhh bytes.
 * Decoding works in place (a decoded field is never longer than its text).
 * Encoding escapes backslash, tab, newline and carriage return so any text
 * without NUL bytes survives the round trip.
 */
#ifndef CPS_COPYFMT_H
#define CPS_COPYFMT_H

#include "util.h"

#include <stddef.h>

/*
 * Decode one row of `len` bytes at `line` (a trailing newline is allowed) in
 * place; line[len] must be writable (libpq's buffers end in a NUL). Stores up to `max` fields:
 * fields[i] points into line and is NUL-terminated, or is NULL for \N; lens[i] is its length.
 * Returns the number of fields, or -1 if the row has more than `max` fields.
 */
int copy_decode_row(char *line, size_t len, char **fields, size_t *lens, int max);

/* Append one field's text, escaped; a NULL s appends \N. */
void copy_encode_field(strbuf *out, const char *s, size_t len);

#endif
