/* entityid — time-ordered entity ids (see entityid.h). */
#include "entityid.h"

#include "md5.h"
#include "pgtime.h"

#define UNIX_FROM_2000_US INT64_C(946684800000000) /* 1970-01-01 to 2000-01-01 */
#define MAX_MS            INT64_C(0xffffffffffff)

/* Milliseconds since 1970, clamped to what 12 hex digits hold. */
static int64_t unix_ms(int64_t time)
{
    if (time < -UNIX_FROM_2000_US || time == PGTIME_NULL) /* (SQL's greatest() skips a NULL) */
        return 0;
    if (time > INT64_MAX - UNIX_FROM_2000_US) /* infinity */
        return MAX_MS;
    int64_t ms = (time + UNIX_FROM_2000_US) / 1000; /* not negative: division floors */
    return ms < MAX_MS ? ms : MAX_MS;
}

void entity_id_digest(int64_t time, const char *event_id, size_t len, uint8_t out[16])
{
    uint8_t d[16];
    md5_digest(event_id, len, d);
    int64_t ms = unix_ms(time);
    for (int i = 0; i < 6; i++) /* big-endian: bytes compare as the times do */
        out[i] = (uint8_t)(ms >> (8 * (5 - i)));
    for (int i = 0; i < 10; i++)
        out[6 + i] = d[i];
}

void entity_id_hex(int64_t time, const char *event_id, size_t len, char out[33])
{
    uint8_t d[16];
    entity_id_digest(time, event_id, len, d);
    hex16(d, out);
}
