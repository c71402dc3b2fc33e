/*
 * cache — the cache step (SPEC §5 and §2.4): three summary tables the CDP
 * front end reads instead of counting over the results itself:
 *   {attr}.cached_attributes_counts_customers_per_attribute
 *       entities with at least one value, per attribute of {attr}.attributes
 *       (0 for an attribute nobody has) and per attribute that has values;
 *   {attr}.cached_attribute_values_counts
 *       per attribute its cache_top_values most common values and the number
 *       of entities having each (an attribute without values has no rows);
 *   {cdp}.cached_source_events_per_date
 *       events of {ce}.customer_events per source per day of event_time.
 * Counts are of distinct entities. A table is rebuilt when it is empty (or
 * was dropped: schema_ensure recreates it empty at run start), when any of
 * its rows has `modified` NULL, or when its oldest row is older than
 * cache_max_age_hours; otherwise it is left alone. A rebuild is DELETE +
 * INSERT ... SELECT in one transaction, so readers keep seeing the old rows
 * until it commits and are never blocked (TRUNCATE would block them).
 */
#ifndef CPS_CACHE_H
#define CPS_CACHE_H

#include "run.h"

/* The `cache` step of a run: rebuild the caches that are due. */
int cache_step(run_ctx *ctx, cps_error *err);

#endif
