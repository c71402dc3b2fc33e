/*
 * gen_model — the people behind the sample CDP and the events they cause.
 * Pure computation, no database: cps_gen.c streams what this produces into
 * COPY.
 *
 * The data set is a function of (seed, persons): event i is computed from
 * (seed, i) and the person population alone, never from the events before it,
 * so generating 1000 events and appending 500 gives exactly the 1500 events of
 * one run. Events come in blocks of consecutive indexes: a web, app or email
 * session of one person, or a batch of CRM or store records of several people.
 * Times grow with the index: event i happens in [origin + i*step,
 * origin + (i+1)*step).
 *
 * Ownership: gen_model_new returns a model freed by gen_model_free (NULL is
 * fine). A gen_event owns its payload buffer; gen_event_free releases it.
 */
#ifndef CPS_GEN_MODEL_H
#define CPS_GEN_MODEL_H

#include "gen_catalog.h"
#include "util.h"

#include <stdint.h>

/* Bump when a change makes the same seed give other data: --append refuses
 * to continue a data set made by another version. */
#define GEN_MODEL_VERSION 1

/* Fresh data sets start on 2024-07-01 00:00 UTC; with the default population
 * (one person per six events) they end by 2026-06-30. */
#define GEN_TIME_ORIGIN_US    INT64_C(1719792000000000)
#define GEN_TIME_SPAN_US      (INT64_C(730) * 86400 * 1000000)
#define GEN_EVENTS_PER_PERSON 6
#define GEN_MAX_PERSONS       UINT64_C(200000000) /* phone numbers stay unique */

typedef struct gen_params {
    uint64_t seed;
    uint64_t persons;  /* population size, 1..GEN_MAX_PERSONS */
    int64_t origin_us; /* time of event 0, microseconds since the Unix epoch (UTC) */
    int64_t step_us;   /* time between consecutive event indexes (> 0) */
} gen_params;

/* The default population for n events: about one person per six events. */
uint64_t gen_default_persons(uint64_t events);
/* The time step for a population: its 6 events per person fill two years. */
int64_t gen_default_step_us(uint64_t persons);

typedef struct gen_model gen_model;

/* Build the population (its activity weights and a sampling table). */
gen_model *gen_model_new(const gen_params *params);
void gen_model_free(gen_model *m);

typedef struct gen_event {
    char id[37];         /* UUID (version 7, from event_time), NUL-terminated */
    gen_event_kind kind; /* the event definition */
    int64_t time_us;     /* event_time, whole milliseconds */
    int64_t created_us;  /* when the loader stored it, a little later */
    uint64_t person_id;  /* the real person behind it, 1-based */
    strbuf payload;      /* the JSON payload (only if asked for) */
} gen_event;

/* Compute event i into ev. Without want_payload only id, times and person are
 * filled (all the ground truth needs), which is several times faster. */
void gen_event_make(const gen_model *m, uint64_t i, gen_event *ev, int want_payload);
void gen_event_free(gen_event *ev);

/* Write a time as "YYYY-MM-DD HH:MM:SS.mmm" (24 bytes with the NUL); returns
 * the length. */
size_t gen_format_time(char *buf, int64_t us);

#endif
