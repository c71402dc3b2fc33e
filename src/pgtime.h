/*
 * pgtime — PostgreSQL timestamps as text (DateStyle ISO, TimeZone UTC) to and
 * from microseconds since 2000-01-01, PostgreSQL's own epoch, so that events
 * can be ordered in memory exactly as the database orders them.
 *
 * NULL sorts after every time (ORDER BY ... ASC NULLS LAST): callers use
 * PGTIME_NULL for it. 'infinity' and '-infinity' map to the extremes.
 */
#ifndef CPS_PGTIME_H
#define CPS_PGTIME_H

#include <stddef.h>
#include <stdint.h>

#define PGTIME_NULL     INT64_MAX
#define PGTIME_INFINITY (INT64_MAX - 1)
#define PGTIME_NINF     INT64_MIN

/* Parse "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]][ BC]", a date alone, or
 * [-]infinity. Returns 0, or -1 if the text is not such a timestamp or lies
 * beyond what microseconds in 64 bits hold (dates past 292000 AD). */
int pgtime_parse(const char *s, size_t len, int64_t *out);
/* The same text as days since 2000-01-01 and microseconds into that day
 * (UTC), for every date PostgreSQL has (to 5874897 AD): what orders dates
 * beyond the microseconds' range. infinity and -infinity give INT64_MAX and
 * INT64_MIN days. Returns 0, or -1 if the text is not such a time. */
int pgtime_parse_days(const char *s, size_t len, int64_t *days, int64_t *usec_of_day);
/* Format as "YYYY-MM-DD HH:MM:SS[.ffffff][ BC]" (the NUL-terminated text is
 * at most 40 bytes); PGTIME_NULL is not formattable (returns -1). */
int pgtime_format(int64_t t, char out[40]);

#endif
