/*
 * attr — the attribute step (SPEC §4): context, then every due entity's
 * attributes, set-based in batches of entities.
 *
 * For each batch, PostgreSQL evaluates every definition's expressions over
 * the batch's events in one pass and streams the outer rows with COPY; CPS
 * folds them per entity in memory (agg). Types whose values CPS cannot order
 * itself are aggregated by PostgreSQL, and custom queries run as one LATERAL
 * statement per batch. A batch's results replace its entities' rows and set
 * `calculated` in one transaction. A definition that fails on some entity is
 * narrowed down to that entity, reported, and keeps its old values there.
 */
#ifndef CPS_ATTR_H
#define CPS_ATTR_H

#include "run.h"

/* Context and attributes: the `attributes` step of a run. */
int attr_step(run_ctx *ctx, cps_error *err);

#endif
