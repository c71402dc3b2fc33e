/*
 * entityid — an entity's id, derived from its earliest event (SPEC §3):
 * 32 lowercase hex digits, the event's time first, so that ids sort in the
 * order entities began.
 *
 *   12 digits: the event's time in milliseconds since 1970-01-01 UTC
 *              (earlier times, -infinity and no time: 0; later than the
 *              48-bit maximum, year 10889, and infinity: ffffffffffff)
 *   20 digits: the first 20 of the md5 of the event's id
 *
 * New entities usually begin with recent events, so their ids land together
 * at the end of every index on an entity id instead of on a random page each
 * (one full-page image after a checkpoint for a whole batch of them, not one
 * per entity). An operator can recompute an id in SQL:
 *
 *   lpad(to_hex(least(greatest(floor(extract(epoch FROM event_time) * 1000), 0),
 *               281474976710655)::bigint), 12, '0') || left(md5(id), 20)
 */
#ifndef CPS_ENTITYID_H
#define CPS_ENTITYID_H

#include <stddef.h>
#include <stdint.h>

/* time: microseconds since 2000-01-01 as pgtime gives them (PGTIME_* too) */
void entity_id_digest(int64_t time, const char *event_id, size_t len, uint8_t out[16]);
/* The same as 32 hex digits and a NUL. */
void entity_id_hex(int64_t time, const char *event_id, size_t len, char out[33]);

#endif
