/*
 * status — `cps status` (SPEC §1.2): a short report for an operator of what
 * CPS has done and has still to do: whether a CPS is running, the queue
 * (and a pending re-stitch from scratch), stitched events, entities, merges,
 * set-aside events, attributes, entities due for calculation (counting those
 * a pending re-stitch or removed customer_entities rows bring), each cache's
 * age, and the last runs with their durations, problems and errors.
 *
 * It takes no lock and changes nothing, so it works while another CPS runs;
 * a table that a running CPS is rewriting is reported as busy rather than
 * waited for, and missing tables (CPS not initialised) are reported as such.
 */
#ifndef CPS_STATUS_H
#define CPS_STATUS_H

#include "config.h"
#include "util.h"

#include <stdio.h>

/* Print the report to `out`. Returns 0, or CPS_ERR (err filled) when the
 * database cannot be reached or a query fails for another reason than a
 * missing or busy table. */
int status_print(const cps_config *cfg, FILE *out, cps_error *err);

/* How many past runs the report lists. */
#define STATUS_RUNS 5

#endif
