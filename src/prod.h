/*
 * prod — the production step (SPEC §6): publish the two views the rest of
 * the CDP reads, only when the configuration says "production": true (the
 * pipeline does not call this step otherwise, so without production nothing
 * under these names is ever created, altered or dropped):
 *   {cdp}.customer_events               the event log's columns, with
 *       customer_entity_id from {ps}.matching; stitched events only;
 *   {cdp}.pivoted_customer_attributes   one row per entity of
 *       {attr}.customer_entities: customer_entity_id, then one column per
 *       attribute of {attr}.attributes ordered by id, text[] for list and
 *       custom, text otherwise (also for a definition CPS cannot read).
 * The pivot is one LEFT JOIN per attribute to that attribute's rows grouped
 * by entity: PostgreSQL removes the joins of columns a query does not use,
 * pushes `customer_entity_id = $1` into every join (one index probe each),
 * and answers a filter on one column from that attribute's rows only
 * (docs/PRODUCTION.md has the plans and timings).
 *
 * CPS marks its views with a COMMENT that also holds a hash of the view's
 * definition; a view is recreated only when that hash changes (e.g. the
 * attribute set or a definition's type), in one short transaction. An object
 * of either name without CPS's mark (the CDP's own table or view) is never
 * touched: the step fails and tells the operator to rename it ..._backup.
 */
#ifndef CPS_PROD_H
#define CPS_PROD_H

#include "run.h"

/* The `production` step of a run. */
int prod_step(run_ctx *ctx, cps_error *err);

/* The first words of the COMMENT on CPS's views: what marks them as CPS's own. */
#define PROD_VIEW_MARK "Meiro CPS view"

#endif
