/*
 * context — the context step (SPEC §4.6): before attributes are calculated,
 * every {attr}.context row whose modified is NULL or older than
 * context_max_age_hours gets its query run; the first column of the first row
 * becomes value. A failing query is reported with its key and keeps the old
 * value; the other rows are still refreshed.
 */
#ifndef CPS_CONTEXT_H
#define CPS_CONTEXT_H

#include "run.h"

int context_step(run_ctx *ctx, cps_error *err);

#endif
