/*
 * status — the report of `cps status` (see status.h).
 *
 * One read-only connection (application_name 'Meiro CPS' like every CPS
 * connection, but without CPS's locks) and one small query per line; a CPS
 * is running while its lock on the ps schema is held (pg_locks). Each
 * line first checks that its table exists, and every query gives up after
 * LOCK_WAIT if a running CPS holds the table (e.g. while stitching from
 * scratch), so the report is never stuck behind a run.
 */
#include "status.h"

#include "db.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

#define LOCK_WAIT "2s"
#define PROBLEMS  3 /* problems listed per run */
#define LABEL_FMT "  %-22s "

typedef struct report {
    db *d;
    const cps_config *cfg;
    FILE *out;
    bool restitch;      /* the next run stitches every event from scratch */
    long long entities; /* rows of {ps}.entities, -1 if unknown */
} report;

/* Does schema.name exist? (-1 on error) */
static int exists(report *r, const char *schema, const char *name, cps_error *err)
{
    int yes = 0;
    if (schema_relation_exists(r->d, schema, name, &yes, err) < 0)
        return -1;
    return yes;
}

/* A lock timeout: a running CPS holds the table. */
static int busy(const cps_error *e)
{
    return !strcmp(e->sqlstate, "55P03");
}

/* Human duration of `seconds`, in buf. */
static const char *duration(double seconds, char *buf, size_t n)
{
    if (seconds < 60)
        snprintf(buf, n, "%.1f s", seconds);
    else if (seconds < 3600)
        snprintf(buf, n, "%d min %02d s", (int)seconds / 60, (int)seconds % 60);
    else if (seconds < 172800)
        snprintf(buf, n, "%d h %02d min", (int)seconds / 3600, (int)seconds / 60 % 60);
    else
        snprintf(buf, n, "%.1f days", seconds / 86400);
    return buf;
}

/*
 * One line "label: value": the first value of `tmpl` (a query over
 * schema.table) followed by `suffix`, or a note when the table is missing or
 * busy. *value (if given) receives the number for the caller.
 */
static int line(report *r, const char *label, const char *schema, const char *table,
                const char *tmpl, int nparams, const char *const *params, const char *suffix,
                long long *value, cps_error *err)
{
    if (value)
        *value = -1;
    int there = exists(r, schema, table, err);
    if (there < 0)
        return CPS_ERR;
    if (!there) {
        fprintf(r->out, LABEL_FMT "- (table %s.%s does not exist)\n", label, schema, table);
        return 0;
    }
    char *v = NULL;
    cps_error e;
    if (db_query_value(r->d, &e, &v, NULL, tmpl, nparams, params) < 0) {
        if (!busy(&e)) {
            *err = e;
            return CPS_ERR;
        }
        fprintf(r->out, LABEL_FMT "? (%s.%s is busy: a running CPS is rewriting it)\n", label,
                schema, table);
        return 0;
    }
    fprintf(r->out, LABEL_FMT "%s%s\n", label, v ? v : "-", suffix ? suffix : "");
    if (value && v)
        *value = strtoll(v, NULL, 10);
    free(v);
    return 0;
}

/*
 * Is a CPS working on these schemas right now? One is while another session
 * holds CPS's lock on the ps schema (pg_locks): a run marked running without
 * it has died. Other CPS sessions connected to the database (working on
 * other schemas, say) tell nothing about this one.
 */
static int print_running(report *r, cps_error *err)
{
    const char *ps = r->cfg->ps_schema;
    char *holder = NULL;
    if (db_lock_holder(r->d, ps, &holder, err) < 0)
        return CPS_ERR;
    PGresult *res =
        db_query(r->d, err,
                 "SELECT r.id, to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), "
                 "extract(epoch FROM now() - r.started_at), coalesce(r.stats->>'command', '') "
                 "FROM {ps}.runs r WHERE r.status = 'running' ORDER BY r.id DESC LIMIT 1",
                 0, NULL);
    if (!res) {
        free(holder);
        return CPS_ERR;
    }
    char buf[64];
    if (PQntuples(res) == 0 && !holder)
        fprintf(r->out, LABEL_FMT "no\n", "Running now:");
    else if (PQntuples(res) == 0)
        fprintf(r->out,
                LABEL_FMT "yes: a CPS (%s) holds the lock on schema %s but has recorded no run "
                          "yet (cps init, or a run starting)\n",
                "Running now:", holder, ps);
    else if (holder)
        fprintf(r->out, LABEL_FMT "yes: run %s (%s), started %s UTC, %s ago (%s)\n",
                "Running now:", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 1),
                duration(strtod(PQgetvalue(res, 0, 2), NULL), buf, sizeof buf), holder);
    else
        fprintf(r->out,
                LABEL_FMT "no (run %s is marked running but no CPS holds the lock on schema %s: "
                          "it died; the next run marks it aborted and continues its work)\n",
                "Running now:", PQgetvalue(res, 0, 0), ps);
    PQclear(res);
    free(holder);
    return 0;
}

/* The queue, and the re-stitch flag of {ps}.state. */
static int print_queue(report *r, cps_error *err)
{
    const cps_config *c = r->cfg;
    int restitch = 0;
    int state = exists(r, c->ps_schema, "state", err);
    if (state < 0 || (state && schema_state_get(r->d, STATE_RESTITCH, &restitch, err) < 0))
        return CPS_ERR;
    int queue = exists(r, c->ps_schema, "customer_events_to_process", err);
    if (queue < 0)
        return CPS_ERR;
    r->restitch = restitch || !queue;
    if (!queue) {
        fprintf(r->out,
                LABEL_FMT "all events: the queue table %s.customer_events_to_process does not "
                          "exist, so the next run stitches every event from scratch\n",
                "Queue:", c->ps_schema);
        return 0;
    }
    if (line(r, "Queue:", c->ps_schema, "customer_events_to_process",
             "SELECT count(*) FROM {ps}.customer_events_to_process", 0, NULL,
             " events waiting to be stitched", NULL, err) < 0)
        return CPS_ERR;
    if (restitch)
        fprintf(r->out, LABEL_FMT "all events: re-stitch from scratch pending\n", "");
    return 0;
}

/* Stitching results: events, entities, merges, set-aside events. */
static int print_stitching(report *r, cps_error *err)
{
    const char *ps = r->cfg->ps_schema;
    if (line(r, "Events in the log:", r->cfg->ce_schema, "customer_events",
             "SELECT count(*) FROM {ce}.customer_events", 0, NULL, NULL, NULL, err) < 0 ||
        line(r, "Stitched events:", ps, "matching", "SELECT count(*) FROM {ps}.matching", 0, NULL,
             NULL, NULL, err) < 0 ||
        line(r, "Entities:", ps, "entities", "SELECT count(*) FROM {ps}.entities", 0, NULL, NULL,
             &r->entities, err) < 0 ||
        line(r, "Merges:", ps, "entity_merges", "SELECT count(*) FROM {ps}.entity_merges", 0, NULL,
             " entity ids absorbed by others", NULL, err) < 0)
        return CPS_ERR;
    long long failed = 0;
    if (line(r, "Failed events:", ps, "failed_events", "SELECT count(*) FROM {ps}.failed_events", 0,
             NULL, " set aside", &failed, err) < 0)
        return CPS_ERR;
    if (failed > 0)
        fprintf(r->out,
                LABEL_FMT "(see %s.failed_events; fix the expression, then delete their rows "
                          "to stitch them again)\n",
                "", ps);
    return 0;
}

/*
 * Attributes: definitions and entities due for calculation (SPEC §4.5).
 * Besides the due rows of customer_entities, the next run calculates every
 * entity after a re-stitch from scratch, and recreates (and calculates) the
 * entities whose rows someone removed from customer_entities (the
 * entities_resync flag): that many as {ps}.entities has rows more. Both
 * come from flags and counts the report has anyway: no scan of its own.
 */
static int print_attributes(report *r, cps_error *err)
{
    const cps_config *c = r->cfg;
    if (line(r, "Attributes defined:", c->attr_schema, "attributes",
             "SELECT count(*) FROM {attr}.attributes", 0, NULL, NULL, NULL, err) < 0)
        return CPS_ERR;
    if (r->restitch) {
        fprintf(r->out,
                LABEL_FMT "every entity: the next run stitches every event from scratch, then "
                          "calculates the attributes of every entity\n",
                "Entities due:");
        return 0;
    }
    int resync = 0;
    int state = exists(r, c->ps_schema, "state", err);
    if (state < 0 || (state && schema_state_get(r->d, STATE_ENTITIES_RESYNC, &resync, err) < 0))
        return CPS_ERR;
    const char *attr = c->attr_schema;
    int there = exists(r, attr, "customer_entities", err);
    if (there < 0)
        return CPS_ERR;
    if (!there) {
        fprintf(r->out, LABEL_FMT "- (table %s.customer_entities does not exist)\n",
                "Entities due:", attr);
        return 0;
    }
    char hours[32];
    snprintf(hours, sizeof hours, "%.6f", c->recalculate_after_hours);
    const char *params[] = {hours};
    cps_error e;
    PGresult *res = db_query(r->d, &e,
                             "SELECT count(*) FILTER (WHERE calculated IS NULL OR "
                             "modified > calculated OR "
                             "calculated < now() - $1::float8 * interval '1 hour'), count(*) "
                             "FROM {attr}.customer_entities",
                             1, params);
    if (!res) {
        if (!busy(&e)) {
            *err = e;
            return CPS_ERR;
        }
        fprintf(r->out,
                LABEL_FMT "? (%s.customer_entities is busy: a running CPS is rewriting it)\n",
                "Entities due:", attr);
        return 0;
    }
    long long due = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    long long rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    long long missing = resync && r->entities > rows ? r->entities - rows : 0;
    if (resync && r->entities < 0)
        fprintf(r->out,
                LABEL_FMT "%lld of %lld entities with attributes, and any missing from "
                          "%s.customer_entities (rows removed): the next run recreates and "
                          "calculates them too\n",
                "Entities due:", due, rows, attr);
    else if (missing && rows == 0)
        fprintf(r->out,
                LABEL_FMT "all %lld entities: %s.customer_entities is empty, so the next run "
                          "recreates every entity and calculates its attributes\n",
                "Entities due:", missing, attr);
    else if (missing)
        fprintf(r->out,
                LABEL_FMT "%lld of %lld entities with attributes, and %lld missing from "
                          "%s.customer_entities (rows removed): the next run recreates and "
                          "calculates them too\n",
                "Entities due:", due, rows, missing, attr);
    else
        fprintf(r->out, LABEL_FMT "%lld of %lld entities with attributes\n", "Entities due:", due,
                rows);
    return 0;
}

/* One cache's size and age, or why it has none. */
static int print_cache(report *r, int in_cdp, const char *name, cps_error *err)
{
    const char *schema = in_cdp ? r->cfg->cdp_schema : r->cfg->attr_schema;
    fprintf(r->out, "  %s.%s: ", schema, name);
    int there = exists(r, schema, name, err);
    if (there <= 0) {
        if (there == 0)
            fprintf(r->out, "does not exist; the next run creates and fills it\n");
        return there;
    }
    char *tmpl = xasprintf("SELECT count(*), count(*) FILTER (WHERE modified IS NULL), "
                           "extract(epoch FROM " DB_LOCAL_NOW " - min(modified)) FROM %s.%s",
                           in_cdp ? "{cdp}" : "{attr}", name);
    cps_error e;
    PGresult *res = db_query(r->d, &e, tmpl, 0, NULL);
    free(tmpl);
    if (!res) {
        if (!busy(&e)) {
            *err = e;
            return CPS_ERR;
        }
        fprintf(r->out, "busy: a running CPS is rebuilding it\n");
        return 0;
    }
    long long rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    long long nulls = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    char buf[64];
    if (rows == 0)
        fprintf(r->out, "empty; the next run fills it\n");
    else if (nulls > 0)
        fprintf(r->out, "%lld rows, rebuild pending (modified NULL)\n", rows);
    else
        fprintf(r->out, "%lld rows, built %s ago\n", rows,
                duration(strtod(PQgetvalue(res, 0, 2), NULL), buf, sizeof buf));
    PQclear(res);
    return 0;
}

/* Each cache's size and age. */
static int print_caches(report *r, cps_error *err)
{
    fprintf(r->out, "Caches (rebuilt when older than %g h):\n", r->cfg->cache_max_age_hours);
    if (print_cache(r, 0, "cached_attributes_counts_customers_per_attribute", err) < 0 ||
        print_cache(r, 0, "cached_attribute_values_counts", err) < 0 ||
        print_cache(r, 1, "cached_source_events_per_date", err) < 0)
        return CPS_ERR;
    return 0;
}

/* One past run: id, start, duration, status, command, then error and problems. */
static void print_run(report *r, PGresult *res, int i)
{
    char buf[64];
    int finished = !PQgetisnull(res, i, 2);
    fprintf(r->out, "  #%-6s %s UTC  %-14s %-11s %s\n", PQgetvalue(res, i, 0),
            PQgetvalue(res, i, 1),
            finished ? duration(strtod(PQgetvalue(res, i, 2), NULL), buf, sizeof buf) : "-",
            PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
    if (!PQgetisnull(res, i, 5))
        fprintf(r->out, "          error: %s\n", PQgetvalue(res, i, 5));
    long nproblems = strtol(PQgetvalue(res, i, 6), NULL, 10);
    if (nproblems > 0) {
        /* the first problems, one per line (they are separated by newlines) */
        const char *p = PQgetvalue(res, i, 7);
        while (*p) {
            const char *end = strchr(p, '\n');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            fprintf(r->out, "          problem: %.*s\n", (int)n, p);
            p += n + (end ? 1 : 0);
        }
        if (nproblems > PROBLEMS)
            fprintf(r->out, "          ... and %ld more problems (in %s.runs.stats)\n",
                    nproblems - PROBLEMS, r->cfg->ps_schema);
    }
}

/* The last STATUS_RUNS runs, newest first. */
static int print_runs(report *r, cps_error *err)
{
    char limit[16], nprob[16];
    snprintf(limit, sizeof limit, "%d", STATUS_RUNS);
    snprintf(nprob, sizeof nprob, "%d", PROBLEMS);
    const char *params[] = {limit, nprob};
    PGresult *res = db_query(
        r->d, err,
        "SELECT id, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), "
        "extract(epoch FROM finished_at - started_at), status, coalesce(stats->>'command', ''), "
        "stats->>'error', "
        "CASE WHEN jsonb_typeof(stats->'problems') = 'array' "
        "THEN jsonb_array_length(stats->'problems') ELSE 0 END, "
        "CASE WHEN jsonb_typeof(stats->'problems') = 'array' THEN "
        "(SELECT string_agg(replace(p, E'\\n', ' '), E'\\n' ORDER BY n) FROM "
        "jsonb_array_elements_text(stats->'problems') WITH ORDINALITY AS x(p, n) "
        "WHERE n <= $2::int) END "
        "FROM {ps}.runs ORDER BY id DESC LIMIT $1::int",
        2, params);
    if (!res)
        return CPS_ERR;
    int n = PQntuples(res);
    fprintf(r->out, "Last runs%s\n", n ? " (newest first):" : ": none yet");
    if (n)
        fprintf(r->out, "  %-7s %-24s %-14s %-11s %s\n", "run", "started", "duration", "status",
                "command");
    for (int i = 0; i < n; i++)
        print_run(r, res, i);
    PQclear(res);
    return 0;
}

static int print_report(report *r, cps_error *err)
{
    const cps_config *c = r->cfg;
    if (db_exec(r->d, err, "SELECT pg_catalog.set_config('lock_timeout', '" LOCK_WAIT "', false)",
                0, NULL) < 0)
        return CPS_ERR;
    PGconn *conn = db_pg(r->d);
    fprintf(r->out, "CPS status of database \"%s\" (schemas %s, %s, %s, %s)\n", PQdb(conn),
            c->cdp_schema, c->ce_schema, c->ps_schema, c->attr_schema);
    int runs = exists(r, c->ps_schema, "runs", err);
    if (runs < 0)
        return CPS_ERR;
    if (!runs) {
        fprintf(r->out,
                "CPS is not initialised in this database: table %s.runs does not exist. "
                "Run `cps init` (or a first `cps run`) with this configuration.\n",
                c->ps_schema);
        return 0;
    }
    if (print_running(r, err) < 0 || print_queue(r, err) < 0 || print_stitching(r, err) < 0 ||
        print_attributes(r, err) < 0 || print_caches(r, err) < 0 || print_runs(r, err) < 0)
        return CPS_ERR;
    return 0;
}

int status_print(const cps_config *cfg, FILE *out, cps_error *err)
{
    report r = {.cfg = cfg, .out = out, .entities = -1};
    if (db_connect(&r.d, cfg, err) < 0)
        return CPS_ERR;
    int rc = print_report(&r, err);
    if (rc < 0)
        cps_error_prefix(err, "cps status");
    db_close(r.d);
    fflush(out);
    return rc;
}
