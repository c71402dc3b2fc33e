/*
 * stitchcore — the pure heart of profile stitching (SPEC §3), no database.
 *
 * A batch is a graph: the batch's events, the identifiers their expressions
 * yielded, and the entities already known for some of them (from
 * {ps}.identifiers and {ps}.matching). sc_resolve() computes the connected
 * components with union-find and decides, per component, its entity:
 *   - with known entities: the survivor is the one whose earliest event comes
 *     first by (event_time, event id); the others are merged into it;
 *   - without: a new entity whose id comes from its earliest event (entityid.h);
 *   - with a batch event earlier than every known entity it meets (a late
 *     event): what stitching the events one at a time in that order would
 *     give, so that where batches split never matters: the earliest of the
 *     known entities that event itself belongs to, or a new entity from it.
 * The caller then writes the results: every event's entity, the new
 * identifiers, the merges, and each touched entity's earliest event.
 *
 * Times are microseconds from pgtime.h (PGTIME_NULL sorts last); event ids
 * compare by their bytes. Strings passed in are copied; strings returned
 * live as long as the graph.
 */
#ifndef CPS_STITCHCORE_H
#define CPS_STITCHCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sc_graph sc_graph;

sc_graph *sc_new(size_t expected_events);
void sc_free(sc_graph *g);

/* Add an event of the batch (each once: the caller knows its events);
 * returns its index, 0, 1, 2, ... */
uint32_t sc_add_event(sc_graph *g, const char *id, size_t len, int64_t time);
/* The event already belongs to an entity whose earliest event is (first_time, first_id). */
void sc_event_entity(sc_graph *g, uint32_t ev, const char *entity, int64_t first_time,
                     const char *first_id);
/* Make an entity known with its earliest event (first_id NULL: not known)
 * before events or identifiers are linked to it; later links keep this. */
void sc_known_entity(sc_graph *g, const char *entity, int64_t first_time, const char *first_id);
/* Event ev carries identifier (attr, value); returns the identifier's index. */
uint32_t sc_add_identifier(sc_graph *g, uint32_t ev, uint32_t attr, const char *value, size_t len);
/* The identifier is already known to belong to an entity. */
void sc_identifier_entity(sc_graph *g, uint32_t ident, const char *entity, int64_t first_time,
                          const char *first_id);

/* The order of earliest events (and so of survivors): by time, PGTIME_NULL
 * last, then by the ids' bytes; <0, 0 or >0. fullgraph orders by it too. */
int sc_first_cmp(int64_t t1, const char *id1, size_t len1, int64_t t2, const char *id2,
                 size_t len2);

/* Compute components and entity ids. Call once, after every sc_add_*. */
void sc_resolve(sc_graph *g);

uint32_t sc_event_count(const sc_graph *g);
const char *sc_event_id(const sc_graph *g, uint32_t ev);
/* The event's entity id (after sc_resolve). */
const char *sc_event_result(const sc_graph *g, uint32_t ev);

uint32_t sc_identifier_count(const sc_graph *g);
uint32_t sc_identifier_attr(const sc_graph *g, uint32_t ident);
const char *sc_identifier_value(const sc_graph *g, uint32_t ident, size_t *len);
/* True if no entity was known for the identifier (it must be inserted). */
bool sc_identifier_is_new(const sc_graph *g, uint32_t ident);
const char *sc_identifier_result(const sc_graph *g, uint32_t ident);

/* Entities merged away: merged_id absorbed into into_id (after sc_resolve). */
size_t sc_merge_count(const sc_graph *g);
void sc_merge(const sc_graph *g, size_t k, const char **merged_id, const char **into_id);

/* Every entity the batch touched, with its earliest event. */
typedef struct sc_entity_info {
    const char *id;
    int64_t first_time;
    const char *first_id;
    bool is_new;        /* created by this batch */
    bool first_changed; /* known, and its earliest event is new (or was not known) */
} sc_entity_info;
size_t sc_entity_count(const sc_graph *g);
void sc_entity(const sc_graph *g, size_t k, sc_entity_info *out);

/* Bytes held by the graph. */
size_t sc_bytes(const sc_graph *g);

#endif
