/*
 * fullgraph — stitching every event from scratch in memory proportional to
 * the distinct identifiers, not to the events (SPEC §3, "from scratch").
 *
 * The whole history is one graph, too large to hold event by event. Only the
 * identifiers live in memory (interned, in a union-find); each event is
 * appended to a spill file as (id, time, its first identifier) as soon as its
 * identifiers are unioned. After the last event:
 *   fg_resolve()  one sequential pass over the file finds each component's
 *                 earliest event by (event_time, event id) and its entity id
 *                 (entityid.h: from that event); events without identifiers are
 *                 their own entities; the entities are ranked by id;
 *   fg_each_event() then streams the events back with their entity ids,
 *                 grouped by entity in id order, for writing;
 *   fg_each_entity() gives the entities in id order (so that PostgreSQL
 *                 builds their primary keys from presorted rows), with
 *                 their earliest events gathered in one more sequential
 *                 pass; from then on the events cannot be streamed again.
 * The results equal stitchcore's for the same events without known
 * entities (tests/unit/test_fullgraph.c checks it on random graphs).
 *
 * The spill file is created unlinked in $TMPDIR (else /tmp) and takes about
 * the events' id lengths plus 13 bytes per event; fg_each_event() needs as
 * much again while it runs.
 */
#ifndef CPS_FULLGRAPH_H
#define CPS_FULLGRAPH_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg fg;

/* A graph spilling into a new file in dir (NULL: $TMPDIR, else /tmp). */
fg *fg_new(const char *dir, size_t expected_identifiers, cps_error *err);
void fg_free(fg *g);

/* Start the next event (each event once, its identifiers right after it). */
int fg_add_event(fg *g, const char *id, size_t len, int64_t time, cps_error *err);
/* True if id is the current event's (its rows are still arriving). */
bool fg_is_current(const fg *g, const char *id, size_t len);
/* The current event carries identifier (attr, value); empty values are the caller's to skip. */
void fg_add_identifier(fg *g, uint32_t attr, const char *value, size_t len);

/* Components, earliest events and entity ids. Call once, after the last event. */
int fg_resolve(fg *g, cps_error *err);

uint64_t fg_event_count(const fg *g);
uint32_t fg_identifier_count(const fg *g);
uint64_t fg_entity_count(const fg *g);

/* Identifier i (0 .. count-1) and its entity id. The identifiers come
 * grouped by entity, the entities in id order: so PostgreSQL builds an index
 * on their entity ids from presorted rows. */
void fg_identifier(const fg *g, uint32_t i, uint32_t *attr, const char **value, size_t *len,
                   char entity[33]);
/* Drop the identifiers' strings once they are written (fg_identifier no longer works). */
void fg_release_identifiers(fg *g);

/* Copy the events into a second temporary file, grouped by entity (see
 * fg_each_event); the caller may do it while the database is busy. */
int fg_sort_events(fg *g, cps_error *err);
/* Every event with its entity id, grouped by entity, the entities in id
 * order, each one's events in order of addition: so PostgreSQL builds an
 * index on their entity ids from presorted rows. Sorts them first unless
 * fg_sort_events did. A non-zero return from fn stops and is returned. */
typedef int (*fg_event_fn)(void *arg, const char *id, size_t len, int64_t time,
                           const char entity[33], cps_error *err);
int fg_each_event(fg *g, fg_event_fn fn, void *arg, cps_error *err);
/* The most bytes of events sorted in memory at once (32 MB; tests make it small). */
void fg_set_sort_bytes(fg *g, size_t bytes);

/* Gather the entities' earliest events for fg_each_entity (one more pass
 * over the spill file); the caller may do it while the database is busy.
 * Call after the last fg_each_event and fg_identifier: it frees what they use. */
int fg_gather_entities(fg *g, cps_error *err);
/* Every entity in id order, with its earliest event (gathered first unless
 * fg_gather_entities did). */
int fg_each_entity(fg *g, fg_event_fn fn, void *arg, cps_error *err);
/* The id of the k-th entity in id order (0 .. fg_entity_count - 1). */
void fg_entity_id(fg *g, uint64_t k, char out[33]);

/* Bytes held in memory, and written to the spill file. */
size_t fg_bytes(const fg *g);
uint64_t fg_spill_bytes(const fg *g);

#endif
