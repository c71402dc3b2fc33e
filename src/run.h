/*
 * run — one CPS run: the context every step receives, the pipeline of steps,
 * and its record in {ps}.runs.
 *
 * A step returns 0 when it did its work (possibly reporting problems, which it
 * counts in ctx->problems and which make the run end with status 1),
 * CPS_ERR when the run cannot go on, or CPS_EINTR when a signal stopped it.
 * Each step fills its own object in ctx->stats (jansson; owned by the ctx).
 */
#ifndef CPS_RUN_H
#define CPS_RUN_H

#include "db.h"

#include <jansson.h>

typedef struct run_ctx {
    db *d;
    const cps_config *cfg;
    json_t *stats;  /* {"command": ..., "steps": {...}, "problems": [...]} */
    int problems;   /* problems reported so far; > 0 makes the exit status 1 */
    int64_t run_id; /* row in {ps}.runs, 0 if none */
} run_ctx;

typedef int (*step_fn)(run_ctx *ctx, cps_error *err);

/* The stats object of one step, created on first use (borrowed reference). */
json_t *run_step_stats(run_ctx *ctx, const char *step);
/* Report a problem that does not stop the run: logged as an error, kept in
 * the run's stats, and counted for the exit status. */
void run_problem(run_ctx *ctx, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Connect, take the lock, make sure the schema exists, record the run, call
 * each non-NULL step in order, and record the outcome. Returns the process
 * exit status (SPEC §1.2).
 */
typedef struct run_step {
    const char *name; /* "stitch", "attributes", ... */
    step_fn fn;       /* NULL: not built yet; skipped with a warning */
} run_step;

int run_pipeline(const cps_config *cfg, const char *command, const run_step *steps, int nsteps);

/* Map a step or setup status to the exit status. */
int run_exit_status(int rc);

#endif
