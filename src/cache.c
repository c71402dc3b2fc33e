/*
 * cache — rebuild the front end's cache tables when they are due (see cache.h).
 *
 * Each table is a row below: where it lives, and the INSERT ... SELECT that
 * fills it from the results. The step checks each table's freshness with one
 * query, and rebuilds a due table in its own transaction.
 */
#include "cache.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const STEP = "CACHE";

typedef struct cache_table {
    const char *name;    /* relation name, also the key in the run's stats */
    int in_cdp;          /* lives in {cdp} (else in {attr}) */
    const char *fill;    /* template: INSERT ... SELECT; $1 = cache_top_values if top */
    int top;             /* takes cache_top_values as $1 */
    const char *missing; /* template: count of rows that should be there and are not */
} cache_table;

/* clang-format off */
static const cache_table tables[] = {
    /* Every defined attribute gets a row (0 when no entity has a value), and
     * so does an attribute that still has values but no definition. */
    {"cached_attributes_counts_customers_per_attribute", 0,
     "INSERT INTO {attr}.cached_attributes_counts_customers_per_attribute "
     "(attribute_id, count, modified) "
     "SELECT coalesce(c.attribute_id, a.id), coalesce(c.n, 0), " DB_LOCAL_NOW " "
     "FROM (SELECT attribute_id, count(DISTINCT customer_entity_id) AS n "
     "FROM {attr}.customer_attributes WHERE attribute_id IS NOT NULL "
     "GROUP BY attribute_id) c "
     "FULL JOIN {attr}.attributes a ON a.id = c.attribute_id",
     0,
     "SELECT count(*) FROM {attr}.attributes a WHERE a.id IS NOT NULL AND NOT EXISTS ("
     "SELECT 1 FROM {attr}.cached_attributes_counts_customers_per_attribute c "
     "WHERE c.attribute_id = a.id)"},
    /* Ties in the count go to the smaller value (by bytes), so the cut at
     * cache_top_values does not depend on the plan or the locale. */
    {"cached_attribute_values_counts", 0,
     "INSERT INTO {attr}.cached_attribute_values_counts (attribute_id, value, count, modified) "
     "SELECT attribute_id, value, n, " DB_LOCAL_NOW " FROM ("
     "SELECT attribute_id, value, n, row_number() OVER (PARTITION BY attribute_id "
     "ORDER BY n DESC, value COLLATE \"C\") AS rank FROM ("
     "SELECT attribute_id, value COLLATE \"C\" AS value, "
     "count(DISTINCT customer_entity_id COLLATE \"C\") AS n "
     "FROM {attr}.customer_attributes GROUP BY attribute_id, value COLLATE \"C\") c) r "
     "WHERE rank <= $1::bigint",
     1, NULL},
    /* All events of the log, stitched or not: the front end's view of what
     * came in from each source. */
    {"cached_source_events_per_date", 1,
     "INSERT INTO {cdp}.cached_source_events_per_date (source_id, date, count, modified) "
     "SELECT source_id, event_time::date, count(*), " DB_LOCAL_NOW " "
     "FROM {ce}.customer_events GROUP BY source_id, event_time::date",
     0, NULL},
};
/* clang-format on */

#define NTABLES (sizeof tables / sizeof tables[0])

/* "{attr}.name" or "{cdp}.name" (caller frees). */
static char *table_template(const cache_table *t)
{
    return xasprintf("%s.%s", t->in_cdp ? "{cdp}" : "{attr}", t->name);
}

/* "cdp_attr.name", for messages (caller frees). */
static char *table_label(const run_ctx *ctx, const cache_table *t)
{
    return xasprintf("%s.%s", t->in_cdp ? ctx->cfg->cdp_schema : ctx->cfg->attr_schema, t->name);
}

typedef struct freshness {
    int due;          /* rebuild it */
    char reason[160]; /* why it is due, or how old it is */
    long long rows;   /* rows now */
} freshness;

/*
 * Decide whether table t is due: empty or some of its rows missing, some `modified` NULL, or its
 * oldest row older than cache_max_age_hours (`modified` is a timestamp without time zone in the
 * database's local time, DB_LOCAL_NOW, like any other session's).
 */
static int check_freshness(run_ctx *ctx, const cache_table *t, freshness *f, cps_error *err)
{
    char *name = table_template(t);
    char *tmpl = xasprintf("SELECT count(*), count(*) FILTER (WHERE modified IS NULL), "
                           "extract(epoch FROM " DB_LOCAL_NOW " - min(modified)) / 3600 "
                           "FROM %s",
                           name);
    free(name);
    PGresult *res = db_query(ctx->d, err, tmpl, 0, NULL);
    free(tmpl);
    if (!res)
        return CPS_ERR;
    f->rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    long long nulls = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    double age = PQgetisnull(res, 0, 2) ? 0 : strtod(PQgetvalue(res, 0, 2), NULL);
    PQclear(res);
    long long missing = 0;
    if (t->missing) {
        char *v = NULL;
        if (db_query_value(ctx->d, err, &v, NULL, t->missing, 0, NULL) < 0)
            return CPS_ERR;
        missing = v ? strtoll(v, NULL, 10) : 0;
        free(v);
    }
    double max_age = ctx->cfg->cache_max_age_hours;
    f->due = 1;
    if (f->rows == 0)
        snprintf(f->reason, sizeof f->reason, "its rows are missing");
    else if (missing > 0)
        snprintf(f->reason, sizeof f->reason, "the rows of %lld attribute%s are missing", missing,
                 missing == 1 ? "" : "s");
    else if (nulls > 0)
        snprintf(f->reason, sizeof f->reason, "%lld row%s with modified NULL", nulls,
                 nulls == 1 ? "" : "s");
    else if (age > max_age)
        snprintf(f->reason, sizeof f->reason, "built %.1f h ago, older than %g h", age, max_age);
    else {
        f->due = 0;
        snprintf(f->reason, sizeof f->reason, "built %.1f h ago, fresh for %g h", age, max_age);
    }
    return 0;
}

/* Replace t's rows in one transaction; *rows receives the rows written. */
static int rebuild(run_ctx *ctx, const cache_table *t, int64_t *rows, cps_error *err)
{
    db *d = ctx->d;
    char *name = table_template(t);
    char *del = xasprintf("DELETE FROM %s", name);
    free(name);
    char top[32];
    snprintf(top, sizeof top, "%ld", ctx->cfg->cache_top_values);
    const char *params[] = {top};
    int rc = db_begin(d, err);
    int64_t n = 0;
    if (rc == 0 && db_exec(d, err, del, 0, NULL) < 0)
        rc = CPS_ERR;
    /* cache_top_values 0 keeps no value at all: nothing to count */
    if (rc == 0 && !(t->top && ctx->cfg->cache_top_values == 0) &&
        (n = db_exec(d, err, t->fill, t->top ? 1 : 0, t->top ? params : NULL)) < 0)
        rc = (int)n;
    if (rc == 0)
        rc = db_commit(d, err);
    if (rc < 0)
        db_rollback(d);
    free(del);
    *rows = n;
    return rc;
}

/* Check one table and rebuild it if due; the outcome goes to the log and stats. */
static int refresh_one(run_ctx *ctx, const cache_table *t, json_t *stats, cps_error *err)
{
    char *label = table_label(ctx, t);
    freshness f = {0};
    double t0 = now_seconds();
    int rc = check_freshness(ctx, t, &f, err);
    int64_t rows = f.rows;
    if (rc == 0 && f.due)
        rc = rebuild(ctx, t, &rows, err);
    double seconds = now_seconds() - t0;
    if (rc < 0) {
        cps_error_prefix(err, "rebuilding %s", label);
        free(label);
        return rc;
    }
    if (f.due)
        log_info(STEP, "%s rebuilt (%s): %lld rows in %.2f s", label, f.reason, (long long)rows,
                 seconds);
    else
        log_info(STEP, "%s is fresh (%s; %lld rows); kept", label, f.reason, f.rows);
    json_t *o = json_object();
    json_object_set_new(o, "rebuilt", json_boolean(f.due));
    json_object_set_new(o, "reason", json_string(f.reason));
    json_object_set_new(o, "rows", json_integer((json_int_t)rows));
    json_object_set_new(o, "seconds", json_real(seconds));
    json_object_set_new(stats, t->name, o);
    free(label);
    return 0;
}

/*
 * The tables are independent: one that cannot be checked or rebuilt (a column
 * someone added or removed, a constraint its rows break) keeps its rows, is a
 * problem of the run (exit status 1), and the other tables and the production
 * step still go on. Only an interruption or a lost session stops the step.
 */
int cache_step(run_ctx *ctx, cps_error *err)
{
    json_t *st = run_step_stats(ctx, "cache");
    json_t *per = json_object();
    json_object_set_new(st, "tables", per);
    int rebuilt = 0, failed = 0;
    for (size_t i = 0; i < NTABLES; i++) {
        if (db_interrupted())
            return CPS_EINTR;
        int rc = refresh_one(ctx, &tables[i], per, err);
        if (rc < 0 && (rc == CPS_EINTR || db_error_stops_step(ctx->d, err)))
            return db_interrupted() ? CPS_EINTR : rc;
        if (rc < 0) {
            run_problem(ctx, STEP,
                        "%s; the table keeps its old rows: give it back its columns "
                        "(SPEC §2.4), or drop it and the next run creates it again",
                        err->msg);
            json_t *o = json_object();
            json_object_set_new(o, "rebuilt", json_false());
            json_object_set_new(o, "error", json_string(err->msg));
            json_object_set_new(per, tables[i].name, o);
            cps_error_clear(err);
            failed++;
            continue;
        }
        json_t *o = json_object_get(per, tables[i].name);
        rebuilt += json_is_true(json_object_get(o, "rebuilt"));
    }
    json_object_set_new(st, "rebuilt", json_integer(rebuilt));
    json_object_set_new(st, "failed", json_integer(failed));
    return 0;
}
