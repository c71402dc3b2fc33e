/*
 * stitch — the profile stitching step (SPEC §3): take the queued events,
 * evaluate the stitching expressions in PostgreSQL, bring the identifiers
 * over with COPY, resolve entities in memory (stitchcore), and write every
 * result of a batch in one transaction through COPY and set-based SQL.
 */
#ifndef CPS_STITCH_H
#define CPS_STITCH_H

#include "run.h"

int stitch_step(run_ctx *ctx, cps_error *err);

/* Identifier values longer than this many bytes are ignored (with a warning):
 * they cannot be stored in {ps}.identifiers' primary key index. */
#define STITCH_MAX_VALUE_BYTES 2000

#endif
