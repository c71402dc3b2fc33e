/* context — refresh {attr}.context values (see context.h). */
#include "context.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const STEP = "CONTEXT";

/* Run one context query in its own transaction and store its first value. */
static int refresh(run_ctx *ctx, const char *key, const char *query, int *failed, cps_error *err)
{
    db *d = ctx->d;
    double t0 = now_seconds();
    cps_error qerr;
    if (str_blank(query)) {
        run_problem(ctx, STEP, "context \"%s\" has no query; set one in %s.context", key,
                    ctx->cfg->attr_schema);
        *failed = 1;
        return 0;
    }
    int rc = db_begin(d, err);
    if (rc < 0)
        return rc;
    PGresult *res = db_query_raw(d, &qerr, query ? query : "", 0, NULL);
    if (!res) {
        db_rollback(d);
        if (db_interrupted())
            return CPS_EINTR;
        if (!strcmp(qerr.sqlstate, DB_NO_RESULT_SET))
            run_problem(ctx, STEP,
                        "context \"%s\": %s: a context query must be a SELECT returning one "
                        "value; fix it in %s.context; the old value is kept",
                        key, qerr.msg, ctx->cfg->attr_schema);
        else
            run_problem(ctx, STEP, "context \"%s\": the query failed, the old value is kept: %s",
                        key, qerr.msg);
        *failed = 1;
        return 0;
    }
    const char *value = NULL;
    if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
        value = PQgetvalue(res, 0, 0);
    /* "as text" is what a cast to text gives, as for attribute values: the
     * one type whose cast differs from its output is boolean (t -> true) */
    if (value && PQftype(res, 0) == DB_TYPE_BOOL)
        value = value[0] == 't' ? "true" : "false";
    const char *params[] = {key, value};
    int64_t n = db_exec(
        d, err, "UPDATE {attr}.context SET value = $2, modified = " DB_LOCAL_NOW " WHERE key = $1",
        2, params);
    PQclear(res);
    if (n < 0 || (rc = db_commit(d, err)) < 0) {
        db_rollback(d);
        return n < 0 ? (int)n : rc;
    }
    log_info(STEP, "%s refreshed in %.2f s", key, now_seconds() - t0);
    return 0;
}

int context_step(run_ctx *ctx, cps_error *err)
{
    char hours[32];
    snprintf(hours, sizeof hours, "%.6f", ctx->cfg->context_max_age_hours);
    const char *params[] = {hours};
    PGresult *res = db_query(ctx->d, err,
                             "SELECT key, query FROM {attr}.context WHERE modified IS NULL "
                             "OR modified < " DB_LOCAL_NOW " - $1::float8 * interval '1 hour' "
                             "ORDER BY key",
                             1, params);
    if (!res)
        return cps_error_prefix(err, "reading %s.context", ctx->cfg->attr_schema);
    int n = PQntuples(res), refreshed = 0, failed = 0, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (db_interrupted()) {
            rc = CPS_EINTR;
            break;
        }
        int f = 0;
        rc = refresh(ctx, PQgetvalue(res, i, 0),
                     PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1), &f, err);
        failed += f;
        refreshed += rc == 0 && !f;
    }
    PQclear(res);
    json_t *st = run_step_stats(ctx, "context");
    json_object_set_new(st, "refreshed", json_integer(refreshed));
    json_object_set_new(st, "failed", json_integer(failed));
    if (n == 0)
        log_debug(STEP, "every context value is fresh");
    return rc;
}
