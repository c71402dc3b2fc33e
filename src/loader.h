/*
 * loader — the stitching-config loader of SPEC §7 (`cps load-stitching-config
 * FILE`, or "action": "load_stitching_attributes_config" with "input").
 *
 * A CSV file (csv.h) with the columns attribute_id, source_id, type, version
 * and value_expression, in any order, replaces the contents of
 * {ps}.stitching_attributes_config. Each row's (source_id, type, version) is
 * looked up in {cdp}.events to find its event_id. The whole file is checked
 * first — CSV form, field counts, empty values, encoding, unknown attributes
 * and events, duplicate (event_id, attribute_id) pairs, and expressions that
 * do not compile against {ce}.customer_events — and every problem is reported
 * with its line number (a "LOAD:" problem of the run). Only a file without
 * problems is written, in one transaction (DELETE + COPY); otherwise the
 * table is left exactly as it was and the step fails.
 *
 * Strings passed in are borrowed.
 */
#ifndef CPS_LOADER_H
#define CPS_LOADER_H

#include "run.h"

/* The run step: loads the file named by ctx->cfg->input. */
int loader_step(run_ctx *ctx, cps_error *err);

/* Before connecting: 0 if `path` names a file CPS can read, else CPS_ERR with
 * a message naming the path and what to do (the caller exits with status 2). */
int loader_check_input(const char *path, cps_error *err);

#endif
