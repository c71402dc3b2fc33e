/*
 * schema — every table, index, function and trigger of SPEC §2 that CPS needs,
 * created when missing. `cps init` and every run call schema_ensure(); it
 * looks each object up in the catalog first and runs DDL only for what is
 * missing (or, for CPS's own functions, out of date), so a second call changes
 * nothing and takes no lock on the CDP's tables. It never drops or rewrites data.
 *
 * Besides the tables of the specification CPS keeps two of its own in {ps}:
 * entities (each current entity's earliest event, for choosing survivors) and
 * state (flags such as "re-stitch everything" that must survive a crash).
 */
#ifndef CPS_SCHEMA_H
#define CPS_SCHEMA_H

#include "db.h"

/* Create what is missing; *created (if given) receives the number of objects made. */
int schema_ensure(db *d, int *created, cps_error *err);

/* Create only the missing inputs of SPEC §2.1 (the CDP's tables, the event log,
 * the stitching configuration, attribute definitions and context) without
 * CPS's triggers and state: what a CDP has before CPS is installed. */
int schema_ensure_inputs(db *d, cps_error *err);

/* True if {schema}.name exists as a table or view (schema is the raw name). */
int schema_relation_exists(db *d, const char *schema, const char *name, int *exists,
                           cps_error *err);

/* Flags kept in {ps}.state. */
#define STATE_RESTITCH        "restitch"        /* stitch every event from scratch */
#define STATE_ENTITIES_RESYNC "entities_resync" /* customer_entities lost rows */

int schema_state_get(db *d, const char *key, int *set, cps_error *err);
int schema_state_set(db *d, const char *key, cps_error *err);
int schema_state_clear(db *d, const char *key, cps_error *err);

#endif
