/*
 * attr — the attribute step (see attr.h and SPEC §4).
 *
 * A run plans once: definitions are parsed and each is compiled against the
 * database (prepared and described, never run) to learn the type of its
 * values, which decides where it is aggregated:
 *   memory  PostgreSQL streams outer rows, agg folds them (the common case);
 *   sql     PostgreSQL aggregates (value types CPS cannot order itself);
 *   custom  the operator's query, LATERAL over the batch.
 * Then due entities are processed in batches, on `workers` connections. A
 * batch is read in one REPEATABLE READ transaction: one COPY evaluates every
 * memory definition at once; if it fails, each definition is evaluated alone
 * and a failing one is split down to the failing entities under savepoints
 * (narrow: bounded when a definition fails everywhere; what it gives up on is
 * evaluated entity by entity inside the database, trap_ranges).
 * The batch is written in one transaction.
 */
#include "attr.h"

#include "agg.h"
#include "arena.h"
#include "attrdef.h"
#include "context.h"
#include "copyfmt.h"
#include "log.h"
#include "schema.h"
#include "sqlgen.h"
#include "value.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Large batches: every batch joins the whole event log once (hash joins),
 * so fewer is cheaper; memory stays a few hundred bytes per entity. */
#define DEFAULT_BATCH_ENTITIES 500000
#define FAILURES_LOGGED        10 /* failures (an entity, a range) logged one by one, per attribute */
#define GIVE_UP_AFTER          32 /* failing on every entity tried this often: see narrow */

static const char *const STEP = "ATTR";

typedef enum { PATH_MEMORY, PATH_SQL, PATH_CUSTOM } attr_path;
static const char *const path_names[] = {"memory", "sql", "custom"};

typedef struct plan_attr {
    char *id;
    attr_def def;
    bool usable;   /* parsed and compiles */
    bool given_up; /* narrowing its failures down given up on (see narrow; under the lock) */
    attr_path path;
    value_kind kind;
    unsigned needs;
    int column;  /* in the one pass: its value's column (weight next), or -1: a branch */
    char *query; /* COPY statement evaluating it alone */
    char *trap;  /* creates its trap function (sqlgen_trap), or NULL: none */
    /* totals, under the plan's lock */
    double seconds;
    int64_t values, failed_entities, queries;
    int64_t unnarrowed_entities; /* of the failed: in failing ranges not narrowed down */
    int tried_single, failed_single, failure_lines;
} plan_attr;

typedef struct plan {
    run_ctx *ctx;
    plan_attr *attrs;
    size_t n;
    char **columns; /* of {ce}.customer_events */
    size_t ncolumns;
    char *events;      /* the batch's event rows (sqlgen_events) */
    char *events_trap; /* the event rows of a trap function's entity */
    char *combined;    /* COPY statement evaluating every memory attribute (the one pass) */
    char *customs;     /* COPY statement evaluating every custom attribute at once */
    size_t ncustom;    /* the usable custom attributes it evaluates */
    /* the work */
    char **ids;
    size_t nids;
    arena *id_strings;
    size_t batch_size, next;
    bool index_lookups; /* batches are small next to the population: no hash joins */
    bool set_based_fk;  /* may check the foreign key set-based (see lock_batch_entities) */
    bool stop;
    bool due_loaded; /* ids holds the entities due */
    /* totals */
    int64_t entities, batches;
    double shared_seconds;
    progress *prog;
    pthread_mutex_t lock;
} plan;

/* ---- planning ---------------------------------------------------------- */

static int load_columns(plan *p, db *d, cps_error *err)
{
    return db_columns(d, "{ce}.customer_events", &p->columns, &p->ncolumns, err);
}

static int load_definitions(plan *p, db *d, cps_error *err)
{
    PGresult *res =
        db_query(d, err, "SELECT id, definition::text FROM {attr}.attributes ORDER BY id", 0, NULL);
    if (!res)
        return cps_error_prefix(err, "reading %s.attributes", p->ctx->cfg->attr_schema);
    p->n = (size_t)PQntuples(res);
    p->attrs = xcalloc(p->n + 1, sizeof *p->attrs);
    for (size_t i = 0; i < p->n; i++) {
        plan_attr *a = &p->attrs[i];
        a->id = xstrdup(PQgetvalue(res, (int)i, 0));
        const char *json = PQgetisnull(res, (int)i, 1) ? NULL : PQgetvalue(res, (int)i, 1);
        char *warning = NULL;
        cps_error e;
        if (attrdef_parse(&a->def, a->id, json, json ? strlen(json) : 0, &warning, &e) < 0) {
            run_problem(p->ctx, STEP, "%s; its values are kept until the definition is fixed",
                        e.msg);
            continue;
        }
        if (warning) {
            log_warn(STEP, "%s", warning);
            free(warning);
        }
        a->usable = true;
        a->needs = sqlgen_needs(a->def.type);
    }
    PQclear(res);
    return 0;
}

/* The session's temporary tables and the definitions' lists. */
static int setup_session(plan *p, db *d, cps_error *err)
{
    if (db_exec(d, err,
                "CREATE TEMP TABLE IF NOT EXISTS cps_ents (k int, id text, "
                "cps_on bool NOT NULL DEFAULT true);"
                "CREATE INDEX IF NOT EXISTS cps_ents_k_idx ON pg_temp.cps_ents (k);"
                "CREATE TEMP TABLE IF NOT EXISTS cps_defs (n int, sources text[], types text[], "
                "versions text[]);"
                "CREATE TEMP TABLE IF NOT EXISTS cps_a_keep (k int, attribute_id text) "
                "ON COMMIT DELETE ROWS;"
                "CREATE INDEX IF NOT EXISTS cps_a_keep_idx ON pg_temp.cps_a_keep (attribute_id, k);"
                "CREATE TEMP TABLE IF NOT EXISTS cps_due_after (t timestamptz);"
                "TRUNCATE pg_temp.cps_ents, pg_temp.cps_defs",
                0, NULL) < 0)
        return CPS_ERR;
    db_copy *c = db_copy_in_begin(d, "COPY pg_temp.cps_defs FROM STDIN", err);
    if (!c)
        return CPS_ERR;
    strbuf arr = STRBUF_INIT;
    for (size_t i = 0; i < p->n; i++) {
        const attr_def *def = &p->attrs[i].def;
        if (!p->attrs[i].usable)
            continue;
        copyin_int(c, (int64_t)i);
        const attr_list *lists[] = {&def->sources, &def->types, &def->versions};
        for (size_t l = 0; l < 3; l++) {
            /* an array literal: {"a","b"} with " and \ escaped */
            sb_reset(&arr);
            sb_appendc(&arr, '{');
            for (size_t j = 0; j < lists[l]->n; j++) {
                sb_append(&arr, j ? ",\"" : "\"");
                for (const char *s = lists[l]->items[j]; *s; s++) {
                    if (*s == '"' || *s == '\\')
                        sb_appendc(&arr, '\\');
                    sb_appendc(&arr, *s);
                }
                sb_appendc(&arr, '"');
            }
            sb_appendc(&arr, '}');
            copyin_field(c, arr.buf, arr.len);
        }
        copyin_end_row(c);
    }
    sb_free(&arr);
    return db_copy_in_end(c, NULL, err);
}

static char *copy_statement(const strbuf *body)
{
    return xasprintf("COPY (%s) TO STDOUT", sb_str(body));
}

/* The statement creating attribute i's trap function, from its query over
 * one entity (SQLGEN_TRAP_ENTITY) giving ncolumns columns. */
static void set_trap(plan_attr *a, size_t i, const strbuf *query, int ncolumns)
{
    strbuf fn = STRBUF_INIT;
    char *stops = db_sqlstate_stops_step_sql("SQLSTATE");
    /* Also temp_file_limit (53400): the function's own result spills to a
     * temporary file, and a write that failed there would leave that result
     * half written. The statement then fails, and the ranges are written off. */
    char *stop_if = xasprintf("(%s OR SQLSTATE = '53400')", stops);
    sqlgen_trap(&fn, (int)i, sb_str(query), ncolumns, stop_if);
    free(stops);
    free(stop_if);
    a->trap = sb_detach(&fn);
}

/* Compile one definition: learn its value type and its evaluation query. */
static int compile_one(plan *p, db *d, size_t i, cps_error *err)
{
    plan_attr *a = &p->attrs[i];
    cps_error e;
    strbuf sql = STRBUF_INIT;
    if (a->def.type == AT_CUSTOM) {
        sqlgen_custom_probe(&sql, db_schemas(d), p->columns, p->ncolumns, a->def.query);
        PGresult *res = db_describe(d, sb_str(&sql), &e);
        sb_reset(&sql);
        if (!res) {
            sb_free(&sql);
            if (db_interrupted())
                return CPS_EINTR;
            a->usable = false;
            run_problem(p->ctx, STEP, "attribute \"%s\": the custom query does not work: %s", a->id,
                        e.msg);
            return 0;
        }
        int user = PQnfields(res) - 3;
        int ok = user == 1 && !strcmp(PQfname(res, 3), "value");
        PQclear(res);
        if (!ok) {
            sb_free(&sql);
            a->usable = false;
            run_problem(p->ctx, STEP,
                        "attribute \"%s\": the custom query must return exactly one column named "
                        "value (it returns %d column%s); its values are kept until it is fixed",
                        a->id, user, user == 1 ? "" : "s");
            return 0;
        }
        a->path = PATH_CUSTOM;
        sqlgen_custom(&sql, db_schemas(d), p->columns, p->ncolumns, SQLGEN_BATCH, a->def.query);
        a->query = copy_statement(&sql);
        sb_reset(&sql);
        sqlgen_custom(&sql, db_schemas(d), p->columns, p->ncolumns, SQLGEN_TRAP_ENTITY,
                      a->def.query);
        set_trap(a, i, &sql, 2);
        sb_free(&sql);
        return 0;
    }

    sqlgen_value_probe(&sql, p->events, &a->def, (int)i);
    PGresult *res = db_describe(d, sb_str(&sql), &e);
    sb_reset(&sql);
    Oid type = res ? PQftype(res, 0) : 0;
    PQclear(res);
    char *branch = NULL;
    if (res) { /* the branch adds casts (to numeric for sums, of weights): compile it too */
        sqlgen_branch(&sql, &a->def, (int)i, a->needs);
        branch = sb_detach(&sql);
        sqlgen_extract(&sql, p->events, branch);
        res = db_describe(d, sb_str(&sql), &e);
        PQclear(res);
    }
    if (!res) {
        free(branch);
        sb_free(&sql);
        if (db_interrupted())
            return CPS_EINTR;
        a->usable = false;
        /* "operator does not exist: text * integer": a weight that is no number */
        bool weight_type = (a->needs & SG_WEIGHT) && !strcmp(e.sqlstate, "42883") &&
                           strstr(e.msg, "operator does not exist") && strstr(e.msg, " * ");
        run_problem(p->ctx, STEP,
                    "attribute \"%s\": the definition does not work: %s%s; its values are kept "
                    "until it is fixed",
                    a->id, e.msg,
                    weight_type ? " (the final weight is weight * outer_weight: both must be "
                                  "numbers; cast them, as in (payload->>'quantity')::numeric)"
                                : "");
        return 0;
    }
    a->kind = value_kind_of(type);
    bool memory = a->kind != VK_OTHER || a->def.type == AT_AVG || a->def.type == AT_SUM ||
                  a->def.type == AT_VALUE;
    /* Tests compare both engines on the same definitions. */
    const char *force = getenv("CPS_FORCE_SQL_AGGREGATION");
    if (force && *force == '1')
        memory = false;
    if (memory) {
        if (a->def.type == AT_AVG || a->def.type == AT_SUM)
            a->kind = VK_NUMERIC;
        a->path = PATH_MEMORY;
        a->query = copy_statement(&sql);
        sb_reset(&sql);
        sqlgen_extract(&sql, p->events_trap, branch);
        set_trap(a, i, &sql, 6);
    } else {
        /* PostgreSQL aggregates; text-like types compare by bytes */
        char oid[16];
        snprintf(oid, sizeof oid, "%u", type);
        const char *params[] = {oid};
        char *collatable = NULL;
        if (db_query_value(d, err, &collatable, NULL,
                           "SELECT typcollation <> 0 FROM pg_catalog.pg_type WHERE oid = $1::oid",
                           1, params) < 0) {
            free(branch);
            sb_free(&sql);
            return CPS_ERR;
        }
        bool collate_c = collatable && collatable[0] == 't';
        free(collatable);
        sb_reset(&sql);
        sqlgen_aggregate(&sql, p->events, &a->def, (int)i, collate_c);
        res = db_describe(d, sb_str(&sql), &e);
        PQclear(res);
        if (!res) {
            free(branch);
            sb_free(&sql);
            if (db_interrupted())
                return CPS_EINTR;
            a->usable = false;
            run_problem(p->ctx, STEP,
                        "attribute \"%s\": %s cannot be calculated for these values: %s; its "
                        "values are kept until the definition is fixed",
                        a->id, attr_type_name(a->def.type), e.msg);
            return 0;
        }
        a->path = PATH_SQL;
        a->query = copy_statement(&sql);
        sb_reset(&sql);
        sqlgen_aggregate(&sql, p->events_trap, &a->def, (int)i, collate_c);
        set_trap(a, i, &sql, 2);
    }
    free(branch);
    sb_free(&sql);
    return 0;
}

/* Is the definition's value set-returning? PostgreSQL refuses those in CASE. */
static int value_is_set_returning(plan *p, db *d, const plan_attr *a, bool *srf, cps_error *err)
{
    strbuf sql = STRBUF_INIT;
    sb_append(&sql, "SELECT CASE WHEN false THEN (\n");
    sb_append(&sql, a->def.value);
    sb_append(&sql, "\n) END FROM (");
    sb_append(&sql, p->events);
    sb_append(&sql, ") AS customer_events");
    cps_error e;
    PGresult *res = db_describe(d, sb_str(&sql), &e);
    sb_free(&sql);
    PQclear(res);
    *srf = !res;
    if (!res && strcmp(e.sqlstate, "0A000") != 0) {
        *err = e;
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    }
    return 0;
}

/*
 * The one pass reads each event of the batch once, so its cost per event
 * matters most: a LATERAL branch costs a rescan per event and definition.
 * Simple definitions (value not set-returning, no outer keys) are columns
 * instead; the others stay branches.
 */
static int compile(plan *p, db *d, cps_error *err)
{
    strbuf events = STRBUF_INIT;
    sqlgen_events(&events, db_schemas(d), p->columns, p->ncolumns, SQLGEN_BATCH);
    p->events = sb_detach(&events);
    sqlgen_events(&events, db_schemas(d), p->columns, p->ncolumns, SQLGEN_TRAP_ENTITY);
    p->events_trap = sb_detach(&events);
    strbuf branches = STRBUF_INIT, columns = STRBUF_INIT;
    int memory = 0, nbranches = 0, ncolumns = 6;
    bool with_time = false;
    for (size_t i = 0; i < p->n; i++) {
        plan_attr *a = &p->attrs[i];
        a->column = -1;
        if (!a->usable)
            continue;
        int rc = compile_one(p, d, i, err);
        if (rc < 0) {
            sb_free(&branches);
            sb_free(&columns);
            return rc;
        }
        if (!a->usable || a->path != PATH_MEMORY)
            continue;
        memory++;
        with_time |= (a->needs & SG_ORDER) != 0;
        bool srf = true;
        if (sqlgen_simple(&a->def) && (rc = value_is_set_returning(p, d, a, &srf, err)) < 0) {
            sb_free(&branches);
            sb_free(&columns);
            return rc;
        }
        if (sqlgen_simple(&a->def) && !srf) {
            if (columns.len)
                sb_append(&columns, ",\n");
            sqlgen_columns(&columns, &a->def, (int)i, a->needs);
            a->column = ncolumns;
            ncolumns += a->needs & SG_WEIGHT ? 2 : 1;
        } else {
            if (nbranches++)
                sb_append(&branches, "\nUNION ALL ");
            sqlgen_branch(&branches, &a->def, (int)i, a->needs);
        }
    }
    /* custom queries share one LATERAL: base is read once per entity (one
       alone has it too, for a worker's companion session: see beside_job) */
    const char **queries = xcalloc(p->n + 1, sizeof *queries);
    int *numbers = xcalloc(p->n + 1, sizeof *numbers);
    size_t ncustom = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->attrs[i].usable && p->attrs[i].path == PATH_CUSTOM) {
            queries[ncustom] = p->attrs[i].def.query;
            numbers[ncustom++] = (int)i;
        }
    if (ncustom > 0) {
        strbuf sql = STRBUF_INIT;
        sqlgen_customs(&sql, db_schemas(d), p->columns, p->ncolumns, queries, numbers, ncustom);
        p->customs = copy_statement(&sql);
        p->ncustom = ncustom;
        sb_free(&sql);
    }
    free(queries);
    free(numbers);
    if (memory) {
        strbuf sql = STRBUF_INIT;
        sqlgen_one_pass(&sql, p->events, sb_str(&branches), sb_str(&columns), with_time);
        p->combined = copy_statement(&sql);
        log_debug(STEP, "one pass over the events: %s", p->combined);
        sb_free(&sql);
    }
    sb_free(&branches);
    sb_free(&columns);
    for (size_t i = 0; i < p->n; i++)
        if (p->attrs[i].usable)
            log_debug(STEP, "attribute %s: %s, %s values, aggregated in %s%s", p->attrs[i].id,
                      attr_type_name(p->attrs[i].def.type), value_kind_name(p->attrs[i].kind),
                      path_names[p->attrs[i].path],
                      p->attrs[i].column >= 0 ? " (a column of the one pass)" : "");
    return 0;
}

/*
 * Create the trap functions (sqlgen_trap) on a session, outside any
 * transaction: the read transaction is read-only. One that cannot be created
 * (PL/pgSQL not installed, say) is dropped for the run: its attribute's
 * failing ranges are then written off where they would have been trapped.
 */
static int create_traps(plan *p, db *d, cps_error *err)
{
    for (size_t i = 0; i < p->n; i++) {
        plan_attr *a = &p->attrs[i];
        if (!a->usable || !a->trap)
            continue;
        cps_error e;
        if (db_exec_raw(d, &e, a->trap, 0, NULL) >= 0)
            continue;
        if (db_interrupted())
            return CPS_EINTR;
        if (db_error_stops_step(d, &e)) {
            *err = e;
            return cps_error_prefix(err, "creating the trap function of attribute \"%s\"", a->id);
        }
        log_warn(STEP,
                 "attribute \"%s\": its entities cannot be evaluated one by one in the database "
                 "(%s); where narrowing its failures down is given up on, failing ranges keep "
                 "their previous values",
                 a->id, e.msg);
        free(a->trap);
        a->trap = NULL;
    }
    return 0;
}

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->attrs[i].id);
        attrdef_free(&p->attrs[i].def);
        free(p->attrs[i].query);
        free(p->attrs[i].trap);
    }
    free(p->attrs);
    db_columns_free(p->columns);
    free(p->events);
    free(p->events_trap);
    free(p->combined);
    free(p->customs);
    free(p->ids);
    arena_free(p->id_strings);
    pthread_mutex_destroy(&p->lock);
}

/* ---- which entities ----------------------------------------------------- */

/* Entities known to stitching but missing in customer_entities come back;
 * not while a re-stitch from scratch is pending: {ps}.entities is then the
 * old stitching's, and the re-stitch writes customer_entities anew. */
static int resync_entities(plan *p, db *d, cps_error *err)
{
    int pending = 0, restitch = 0;
    int rc = schema_state_get(d, STATE_ENTITIES_RESYNC, &pending, err);
    if (rc < 0 || !pending)
        return rc;
    if ((rc = schema_state_get(d, STATE_RESTITCH, &restitch, err)) < 0)
        return rc;
    if (restitch) {
        log_info(STEP,
                 "a re-stitch from scratch is pending: %s.customer_entities is filled by it, "
                 "not from the previous stitching (run stitch)",
                 p->ctx->cfg->attr_schema);
        return 0;
    }
    if ((rc = db_begin(d, err)) < 0)
        return rc;
    int64_t n = db_exec(d, err,
                        /* ON CONFLICT, not NOT EXISTS: an anti-join against the table
                           being filled turned quadratic when its statistics said empty */
                        "INSERT INTO {attr}.customer_entities (id, created, modified, calculated) "
                        "SELECT e.id, e.created, now(), NULL FROM {ps}.entities e ORDER BY e.id "
                        "ON CONFLICT (id) DO NOTHING",
                        0, NULL);
    if (n >= 0)
        rc = schema_state_clear(d, STATE_ENTITIES_RESYNC, err);
    if (n < 0 || rc < 0 || (rc = db_commit(d, err)) < 0) {
        db_rollback(d);
        return n < 0 ? (int)n : rc;
    }
    if (n > 0)
        log_info(STEP, "%lld entities were missing in %s.customer_entities and are back",
                 (long long)n, p->ctx->cfg->attr_schema);
    return 0;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int due_row(void *arg, char **f, size_t *len, int n, cps_error *err)
{
    plan *p = arg;
    (void)n, (void)err;
    if (p->nids % 65536 == 0)
        p->ids = xrealloc(p->ids, (p->nids + 65536) * sizeof *p->ids);
    p->ids[p->nids++] = arena_strndup(p->id_strings, f[0], len[0]);
    return 0;
}

/* Entities never calculated, active since, or stale (SPEC §4.5). */
static int load_due(plan *p, db *d, cps_error *err)
{
    char hours[32];
    snprintf(hours, sizeof hours, "%.6f", p->ctx->cfg->recalculate_after_hours);
    const char *params[] = {hours};
    if (db_exec(d, err, "TRUNCATE pg_temp.cps_due_after", 0, NULL) < 0 ||
        db_exec(d, err,
                "INSERT INTO pg_temp.cps_due_after SELECT now() - $1::float8 * interval '1 hour'",
                1, params) < 0)
        return CPS_ERR;
    p->id_strings = arena_new();
    /* each part through an index: the marks' primary key, and calculated's */
    char *sql = db_sql(d, "COPY (SELECT id FROM {attr}.customer_entities WHERE calculated IS NULL "
                          "UNION SELECT c.id FROM {ps}.entities_to_calculate a "
                          "JOIN {attr}.customer_entities c ON c.id = a.customer_entity_id "
                          "UNION SELECT id FROM {attr}.customer_entities "
                          "WHERE calculated < (SELECT t FROM pg_temp.cps_due_after)) TO STDOUT");
    int rc = db_copy_out(d, sql, due_row, p, NULL, err);
    free(sql);
    /* in byte order, so that each batch writes its rows in index order */
    if (rc == 0 && p->nids > 1)
        qsort(p->ids, p->nids, sizeof *p->ids, compare_ids);
    p->due_loaded = rc == 0;
    return rc;
}

/* ---- one batch ----------------------------------------------------------- */

/* Values of an attribute PostgreSQL produced (sql and custom paths). */
typedef struct values {
    uint32_t *k; /* the entity */
    char **v;    /* in the batch's arena */
    size_t *len;
    size_t n, cap;
} values;

typedef struct batch {
    plan *p;
    db *d;
    db *companion;         /* NULL, or a second session for the custom attributes
                              (only where there is a one pass to run beside) */
    arena *beside;         /* the text of their values from it */
    uint32_t n;            /* entities; k = 1..n */
    char **ids;            /* k - 1 -> entity id (borrowed), in byte order */
    agg **aggs;            /* per attribute on the memory path */
    uint8_t *failed;       /* (k - 1) * p->n + attribute: kept old values */
    values *direct;        /* per attribute: values of the sql and custom paths */
    values *custom;        /* per attribute: values of the customs' shared statement */
    values attempt;        /* values of the current attempt, kept if it succeeds */
    values trapped;        /* a trap's failing entities, k and message (see trap_ranges) */
    arena *strings;        /* their text */
    size_t current;        /* the attribute being evaluated alone */
    strbuf last_event;     /* the one pass: the event of the previous row */
    bool have_last;        /* ... once there was one (an event id may be empty) */
    uint32_t on_lo, on_hi; /* cps_on holds entities on_lo..on_hi; 0: not one range known */
    uint8_t *seen;         /* k - 1 -> the one pass brought rows of the entity */
    uint32_t nseen;        /* entities seen so far */
    uint32_t reported;     /* ... of which counted in the step's progress */
} batch;

/* A batch can hold most entities of a run: its progress is counted while
 * the one pass streams in, by the entities whose rows have begun to arrive
 * (in whatever order), and the rest when the batch is written. */
static void batch_progress(batch *b, uint32_t e)
{
    if (b->seen[e])
        return;
    b->seen[e] = 1;
    if (++b->nseen - b->reported >= 64) {
        progress_add(b->p->prog, b->nseen - b->reported);
        b->reported = b->nseen;
    }
}

static void values_push(values *vs, uint32_t k, char *v, size_t len)
{
    if (vs->n == vs->cap) {
        vs->cap = vs->cap ? vs->cap * 2 : 64;
        vs->k = xrealloc(vs->k, vs->cap * sizeof *vs->k);
        vs->v = xrealloc(vs->v, vs->cap * sizeof *vs->v);
        vs->len = xrealloc(vs->len, vs->cap * sizeof *vs->len);
    }
    vs->k[vs->n] = k;
    vs->v[vs->n] = v;
    vs->len[vs->n] = len;
    vs->n++;
}

static void values_free(values *vs)
{
    free(vs->k);
    free(vs->v);
    free(vs->len);
    memset(vs, 0, sizeof *vs);
}

static int row_to_agg(void *arg, char **f, size_t *len, int nf, cps_error *err)
{
    batch *b = arg;
    (void)nf;
    long k = strtol(f[0], NULL, 10);
    size_t a = (size_t)strtoul(f[1], NULL, 10);
    if (k < 1 || (uint32_t)k > b->n || a >= b->p->n || !b->aggs[a])
        return cps_error_set(err, "unexpected outer row (%ld, %zu)", k, a);
    if (agg_add(b->aggs[a], (uint32_t)(k - 1), f[2], len[2], f[3], len[3], f[4], len[4], f[5],
                len[5]) < 0)
        return cps_error_set(err, "attribute \"%s\": unexpected number \"%s\" from the database",
                             b->p->attrs[a].id, f[3] ? f[3] : f[2]);
    return 0;
}

/* A row of the one pass: k, event_time, event id, a branch's (a, v, w), then
 * the columns of the simple definitions, repeated on every row of an event. */
static int row_one_pass(void *arg, char **f, size_t *len, int nf, cps_error *err)
{
    batch *b = arg;
    plan *p = b->p;
    long k = strtol(f[0], NULL, 10);
    if (k < 1 || (uint32_t)k > b->n)
        return cps_error_set(err, "unexpected one-pass row for entity %ld", k);
    uint32_t e = (uint32_t)(k - 1);
    batch_progress(b, e);
    bool again = b->have_last && b->last_event.len == len[2] &&
                 !memcmp(sb_str(&b->last_event), f[2], len[2]);
    if (!again) {
        sb_reset(&b->last_event);
        sb_appendn(&b->last_event, f[2], len[2]);
        b->have_last = true;
        for (size_t a = 0; a < p->n; a++) {
            int c = p->attrs[a].column;
            if (c < 0 || !b->aggs[a] || c >= nf || !f[c])
                continue;
            bool weighted = p->attrs[a].needs & SG_WEIGHT;
            if (agg_add(b->aggs[a], e, f[c], len[c], weighted ? f[c + 1] : NULL,
                        weighted ? len[c + 1] : 0, f[1], len[1], f[2], len[2]) < 0)
                return cps_error_set(err, "attribute \"%s\": unexpected number from the database",
                                     p->attrs[a].id);
        }
    }
    if (f[3]) {
        size_t a = (size_t)strtoul(f[3], NULL, 10);
        if (a >= p->n || !b->aggs[a])
            return cps_error_set(err, "unexpected one-pass row for attribute %zu", a);
        if (agg_add(b->aggs[a], e, f[4], len[4], f[5], len[5], f[1], len[1], f[2], len[2]) < 0)
            return cps_error_set(err, "attribute \"%s\": unexpected number from the database",
                                 p->attrs[a].id);
    }
    return 0;
}

/* A row of every custom query at once: k, attribute, value. */
static int row_customs(void *arg, char **f, size_t *len, int nf, cps_error *err)
{
    batch *b = arg;
    (void)nf;
    long k = strtol(f[0], NULL, 10);
    size_t a = (size_t)strtoul(f[1], NULL, 10);
    if (k < 1 || (uint32_t)k > b->n || a >= b->p->n)
        return cps_error_set(err, "unexpected custom row (%ld, %zu)", k, a);
    values_push(&b->custom[a], (uint32_t)k, arena_strndup(b->strings, f[2], len[2]), len[2]);
    return 0;
}

static int row_direct(void *arg, char **f, size_t *len, int nf, cps_error *err)
{
    batch *b = arg;
    (void)nf;
    long k = strtol(f[0], NULL, 10);
    if (k < 1 || (uint32_t)k > b->n)
        return cps_error_set(err, "unexpected value row for entity %ld", k);
    values_push(&b->attempt, (uint32_t)k, arena_strndup(b->strings, f[1], len[1]), len[1]);
    return 0;
}

/* A row of a trap function (sqlgen_trap): k, the attribute's row (a, v, w,
 * t, e as in row_to_agg, or v alone), failure. The rows a failing entity
 * gave before its error are never written: it keeps its previous values. */
static int row_trap(void *arg, char **f, size_t *len, int nf, cps_error *err)
{
    batch *b = arg;
    size_t a = b->current;
    long k = nf == 7 ? strtol(f[0], NULL, 10) : 0;
    if (k < 1 || (uint32_t)k > b->n)
        return cps_error_set(err, "unexpected row of a trap function for entity %ld", k);
    if (f[6]) {
        values_push(&b->trapped, (uint32_t)k, arena_strndup(b->strings, f[6], len[6]), len[6]);
        return 0;
    }
    if (b->aggs[a])
        return row_to_agg(arg, f, len, 6, err);
    if (!f[2])
        return cps_error_set(err, "attribute \"%s\": a NULL value from its trap function",
                             b->p->attrs[a].id);
    values_push(&b->attempt, (uint32_t)k, arena_strndup(b->strings, f[2], len[2]), len[2]);
    return 0;
}

/* Turn cps_on on for the entities in `ranges` (an int4multirange's text) and
 * off for the others: a scan of the batch, writing only the rows that change.
 * The range set_on knows is then unknown. */
static int set_on_ranges(batch *b, const char *ranges, cps_error *err)
{
    const char *params[] = {ranges};
    b->on_lo = b->on_hi = 0;
    return db_exec(b->d, err,
                   "UPDATE pg_temp.cps_ents SET cps_on = NOT cps_on "
                   "WHERE cps_on <> (k <@ $1::int4multirange)",
                   1, params) < 0
               ? CPS_ERR
               : 0;
}

/*
 * Turn cps_on on for entities lo..hi and off for the others. Only the rows
 * that change are written, found through the index on k when the current
 * range is known: a narrowing tries hundreds of ranges, and rewriting every
 * row each time would bloat the table (no vacuum inside the transaction)
 * until every scan of it crawled.
 */
static int set_on(batch *b, uint32_t lo, uint32_t hi, cps_error *err)
{
    if (lo == b->on_lo && hi == b->on_hi)
        return 0;
    if (!b->on_lo) {
        char range[48];
        snprintf(range, sizeof range, "{[%u,%u]}", lo, hi);
        if (set_on_ranges(b, range, err) < 0)
            return CPS_ERR;
    } else {
        char olo[16], ohi[16], los[16], his[16];
        snprintf(olo, sizeof olo, "%u", b->on_lo);
        snprintf(ohi, sizeof ohi, "%u", b->on_hi);
        snprintf(los, sizeof los, "%u", lo);
        snprintf(his, sizeof his, "%u", hi);
        const char *params[] = {los, his, olo, ohi};
        if (db_exec(b->d, err,
                    "UPDATE pg_temp.cps_ents SET cps_on = NOT cps_on "
                    "WHERE (k BETWEEN $1::int AND $2::int OR k BETWEEN $3::int AND $4::int) "
                    "AND cps_on <> (k BETWEEN $1::int AND $2::int)",
                    4, params) < 0)
            return CPS_ERR;
    }
    b->on_lo = lo;
    b->on_hi = hi;
    return 0;
}

/* The step stops on error e (rc, of a statement for entities lo..hi): e goes
 * to err with "<what> for entity X" or "<what> for entities X to Y" in front
 * of its message, and the step's status is returned. */
static int step_stopped(int rc, const cps_error *e, cps_error *err, const batch *b, uint32_t lo,
                        uint32_t hi, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int step_stopped(int rc, const cps_error *e, cps_error *err, const batch *b, uint32_t lo,
                        uint32_t hi, const char *fmt, ...)
{
    *err = *e;
    strbuf what = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    sb_vappendf(&what, fmt, ap);
    va_end(ap);
    if (lo == hi)
        cps_error_prefix(err, "%s for entity %s", sb_str(&what), b->ids[lo - 1]);
    else
        cps_error_prefix(err, "%s for entities %s to %s", sb_str(&what), b->ids[lo - 1],
                         b->ids[hi - 1]);
    sb_free(&what);
    return rc == CPS_EINTR || db_interrupted() ? CPS_EINTR : CPS_ERR;
}

static bool attr_given_up(plan *p, size_t a)
{
    pthread_mutex_lock(&p->lock);
    bool given_up = p->attrs[a].given_up;
    pthread_mutex_unlock(&p->lock);
    return given_up;
}

/* Attribute a failed on the single entity k. */
static void entity_failed(batch *b, size_t a, uint32_t k, const char *message)
{
    plan *p = b->p;
    plan_attr *pa = &p->attrs[a];
    b->failed[(size_t)(k - 1) * p->n + a] = 1;
    pthread_mutex_lock(&p->lock);
    pa->failed_entities++;
    if (pa->failure_lines++ < FAILURES_LOGGED)
        run_problem(p->ctx, STEP,
                    "attribute \"%s\" failed for entity %s: %s; its previous values are kept",
                    pa->id, b->ids[k - 1], message);
    pthread_mutex_unlock(&p->lock);
}

/* Attribute a failed for entities lo..hi together, not narrowed down (see
 * narrow); message NULL: the caller tells why. */
static void range_failed(batch *b, size_t a, uint32_t lo, uint32_t hi, const char *message)
{
    plan *p = b->p;
    plan_attr *pa = &p->attrs[a];
    for (uint32_t k = lo; k <= hi; k++)
        b->failed[(size_t)(k - 1) * p->n + a] = 1;
    pthread_mutex_lock(&p->lock);
    pa->failed_entities += hi - lo + 1;
    pa->unnarrowed_entities += hi - lo + 1;
    if (message && pa->failure_lines++ < FAILURES_LOGGED)
        run_problem(p->ctx, STEP,
                    "attribute \"%s\" failed for the %u entities %s to %s together, not narrowed "
                    "down further: %s; their previous values are kept",
                    pa->id, hi - lo + 1, b->ids[lo - 1], b->ids[hi - 1], message);
    pthread_mutex_unlock(&p->lock);
}

/*
 * Evaluate attribute a alone for entities lo..hi, under a savepoint. If it
 * works, its values are kept and *failure stays NULL; if the attribute's SQL
 * fails, *failure receives the database's message (the caller frees it).
 * Returns < 0 only for an error that stops the step (db_error_stops_step).
 */
static int try_range(batch *b, size_t a, uint32_t lo, uint32_t hi, char **failure, cps_error *err)
{
    plan *p = b->p;
    plan_attr *pa = &p->attrs[a];
    *failure = NULL;
    int rc;
    /* the flags are set outside the savepoint: rows written under savepoints
     * that are rolled back (hundreds of them) would make every later look at
     * those rows consult the subtransactions' log */
    if ((rc = set_on(b, lo, hi, err)) < 0 || (rc = db_savepoint(b->d, err)) < 0)
        return rc;
    b->current = a;
    b->attempt.n = 0;
    cps_error e;
    double t0 = now_seconds();
    rc = db_copy_out(b->d, pa->query, pa->path == PATH_MEMORY ? row_to_agg : row_direct, b, NULL,
                     &e);
    bool stop = rc < 0 && (rc == CPS_EINTR || db_error_stops_step(b->d, &e));
    pthread_mutex_lock(&p->lock);
    pa->seconds += now_seconds() - t0;
    pa->queries++;
    if (lo == hi && !stop) {
        pa->tried_single++;
        pa->failed_single += rc < 0;
        if (rc < 0 && !pa->given_up && pa->failed_single >= GIVE_UP_AFTER &&
            pa->failed_single == pa->tried_single) {
            pa->given_up = true;
            run_problem(p->ctx, STEP,
                        "attribute \"%s\" fails for every entity tried (%d so far): for the rest "
                        "of this run its failures are narrowed down only next to entities it "
                        "works for, or in batches where it works for some; %s: %s",
                        pa->id, pa->failed_single,
                        pa->trap ? "other failing ranges are evaluated entity by entity in one "
                                   "statement"
                                 : "other failing entities keep their previous values",
                        e.msg);
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (rc == 0) {
        for (size_t i = 0; i < b->attempt.n; i++)
            values_push(&b->direct[a], b->attempt.k[i], b->attempt.v[i], b->attempt.len[i]);
        return db_release_savepoint(b->d, err);
    }
    if (stop)
        return step_stopped(rc, &e, err, b, lo, hi, "attribute \"%s\"", pa->id);
    if (b->aggs[a])
        agg_reset(b->aggs[a], lo - 1, hi - 1);
    if ((rc = db_rollback_to_savepoint(b->d, err)) < 0 ||
        (rc = db_release_savepoint(b->d, err)) < 0)
        return rc;
    *failure = xstrdup(e.msg);
    return 0;
}

/* One attribute's narrowing in one batch: whether it worked for any range of
 * the batch, and the failing ranges put off meanwhile (see narrow). */
typedef struct narrowing {
    size_t a;
    bool worked;
    struct put_off {
        uint32_t lo, hi;
        char *message;
    } * put_off;
    size_t n, cap;
} narrowing;

static void put_off(narrowing *nw, uint32_t lo, uint32_t hi, char *message)
{
    if (nw->n == nw->cap) {
        nw->cap = nw->cap ? 2 * nw->cap : 8;
        nw->put_off = xrealloc(nw->put_off, nw->cap * sizeof *nw->put_off);
    }
    nw->put_off[nw->n++] = (struct put_off){lo, hi, message};
}

/*
 * Attribute nw->a failed for entities lo..hi with `message`: find the
 * entities it fails for by halving. Both halves are evaluated before either
 * is narrowed further, so each knows whether its neighbour worked: left_ok
 * for the entity before lo, right_ok for the one after hi.
 *
 * Halving costs about two queries per failing range, so an attribute that
 * fails for every entity would cost two queries per entity. Once it has
 * failed for every one of GIVE_UP_AFTER single entities tried, and worked for
 * none, it probably fails everywhere: narrowing is given up on for the run,
 * except next to entities it works for (a failing range that borders on one
 * is still halved, which finds the edge of a block of failing entities in
 * about 2 log2(n) queries; entity ids begin with the time, so the entities of
 * one bad import sit together). Any other failing range is put off until the
 * rest of the batch is done (evaluate_alone): if the attribute worked for
 * some range of the batch, its failures depend on the data and the put-off
 * ranges are narrowed down as well; if it worked for none, each put-off
 * range's halves are tried once more, and the halves that fail too are
 * evaluated entity by entity inside the database, all in one statement
 * (trap_ranges): a good entity among bad ones still gets its value.
 */
/* Try both halves of lo..hi, split at *mid: *fail_lo and *fail_hi get each
 * half's failure, or NULL where it worked (its values kept); either working
 * sets nw->worked. */
static int try_halves(batch *b, narrowing *nw, uint32_t lo, uint32_t hi, uint32_t *mid,
                      char **fail_lo, char **fail_hi, cps_error *err)
{
    *mid = lo + (hi - lo) / 2;
    *fail_hi = NULL;
    int rc = try_range(b, nw->a, lo, *mid, fail_lo, err);
    if (rc == 0)
        rc = try_range(b, nw->a, *mid + 1, hi, fail_hi, err);
    if (rc == 0 && (!*fail_lo || !*fail_hi))
        nw->worked = true;
    return rc;
}

static int narrow(batch *b, narrowing *nw, uint32_t lo, uint32_t hi, bool left_ok, bool right_ok,
                  const char *message, cps_error *err)
{
    size_t a = nw->a;
    if (lo == hi) {
        entity_failed(b, a, lo, message);
        return 0;
    }
    if (!left_ok && !right_ok && !nw->worked && attr_given_up(b->p, a)) {
        put_off(nw, lo, hi, xstrdup(message));
        return 0;
    }
    if (db_interrupted())
        return CPS_EINTR;
    uint32_t mid;
    char *fail_lo, *fail_hi;
    int rc = try_halves(b, nw, lo, hi, &mid, &fail_lo, &fail_hi, err);
    if (rc == 0 && fail_lo)
        rc = narrow(b, nw, lo, mid, left_ok, !fail_hi, fail_lo, err);
    if (rc == 0 && fail_hi)
        rc = narrow(b, nw, mid + 1, hi, !fail_lo, right_ok, fail_hi, err);
    free(fail_lo);
    free(fail_hi);
    return rc;
}

/*
 * The put-off ranges of nw, when the attribute worked for none of the batch:
 * every entity of them is evaluated on its own inside the database, in one
 * statement (the attribute's trap function, sqlgen_trap), under a savepoint.
 * Each good entity gets its values; each failing one is reported and keeps
 * its previous values. If the statement fails as a whole (a statement
 * timeout, or what the trap does not catch), the ranges are written off as
 * one failure each, unless the error stops the step.
 */
static int trap_ranges(batch *b, narrowing *nw, cps_error *err)
{
    plan *p = b->p;
    size_t a = nw->a;
    plan_attr *pa = &p->attrs[a];
    /* the entities: cps_on for every range, as a multirange parameter */
    strbuf ranges = STRBUF_INIT;
    sb_appendc(&ranges, '{');
    for (size_t i = 0; i < nw->n; i++)
        sb_appendf(&ranges, "%s[%u,%u]", i ? "," : "", nw->put_off[i].lo, nw->put_off[i].hi);
    sb_appendc(&ranges, '}');
    /* outside the savepoint, like set_on's */
    int rc = set_on_ranges(b, sb_str(&ranges), err);
    sb_free(&ranges);
    if (rc < 0 || (rc = db_savepoint(b->d, err)) < 0)
        return rc;
    char sql[64];
    snprintf(sql, sizeof sql, "COPY (SELECT * FROM pg_temp.cps_trap_%zu()) TO STDOUT", a);
    b->current = a;
    b->attempt.n = 0;
    b->trapped.n = 0;
    cps_error e;
    double t0 = now_seconds();
    rc = db_copy_out(b->d, sql, row_trap, b, NULL, &e);
    bool stop = rc < 0 && (rc == CPS_EINTR || db_error_stops_step(b->d, &e));
    pthread_mutex_lock(&p->lock);
    pa->seconds += now_seconds() - t0;
    pa->queries++;
    pthread_mutex_unlock(&p->lock);
    if (rc == 0) {
        for (size_t i = 0; i < b->attempt.n; i++)
            values_push(&b->direct[a], b->attempt.k[i], b->attempt.v[i], b->attempt.len[i]);
        for (size_t i = 0; i < b->trapped.n; i++)
            entity_failed(b, a, b->trapped.k[i], b->trapped.v[i]);
        return db_release_savepoint(b->d, err);
    }
    if (stop)
        return step_stopped(rc, &e, err, b, nw->put_off[0].lo, nw->put_off[nw->n - 1].hi,
                            "attribute \"%s\", evaluated entity by entity,", pa->id);
    for (size_t i = 0; i < nw->n; i++) {
        struct put_off *r = &nw->put_off[i];
        if (b->aggs[a])
            agg_reset(b->aggs[a], r->lo - 1, r->hi - 1);
    }
    if ((rc = db_rollback_to_savepoint(b->d, err)) < 0 ||
        (rc = db_release_savepoint(b->d, err)) < 0)
        return rc;
    /* one line, whatever was logged before: why good entities lost their values */
    uint32_t entities = 0;
    for (size_t i = 0; i < nw->n; i++) {
        range_failed(b, a, nw->put_off[i].lo, nw->put_off[i].hi, NULL);
        entities += nw->put_off[i].hi - nw->put_off[i].lo + 1;
    }
    pthread_mutex_lock(&p->lock);
    pa->failure_lines++;
    run_problem(p->ctx, STEP,
                "attribute \"%s\" failed for the %u entities of %zu failing range%s between %s "
                "and %s, evaluated entity by entity: %s; their previous values are kept (the "
                "ranges failed with: %s)",
                pa->id, entities, nw->n, nw->n == 1 ? "" : "s", b->ids[nw->put_off[0].lo - 1],
                b->ids[nw->put_off[nw->n - 1].hi - 1], e.msg, nw->put_off[0].message);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Evaluate attribute a alone for the whole batch, narrowing failures down. */
static int evaluate_alone(batch *b, size_t a, cps_error *err)
{
    narrowing nw = {.a = a};
    char *failure = NULL;
    int rc = try_range(b, a, 1, b->n, &failure, err);
    if (rc == 0 && failure)
        rc = narrow(b, &nw, 1, b->n, false, false, failure, err);
    free(failure);
    /* Put-off ranges, when the attribute worked for no range of the batch:
     * each one's halves are tried once (two queries), so that a block of good
     * entities among them comes to light; the failing halves are put off
     * instead. */
    if (rc == 0 && !nw.worked && nw.n) {
        narrowing tried = {.a = a};
        for (size_t i = 0; i < nw.n && rc == 0; i++) {
            struct put_off *r = &nw.put_off[i];
            uint32_t mid;
            char *fail_lo, *fail_hi;
            rc = try_halves(b, &nw, r->lo, r->hi, &mid, &fail_lo, &fail_hi, err);
            if (fail_lo)
                put_off(&tried, r->lo, mid, fail_lo);
            if (fail_hi)
                put_off(&tried, mid + 1, r->hi, fail_hi);
        }
        for (size_t i = 0; i < nw.n; i++)
            free(nw.put_off[i].message);
        free(nw.put_off);
        nw.put_off = tried.put_off;
        nw.n = tried.n;
    }
    /* Then, if it worked for some, they are narrowed down like the rest (and
     * nothing more is put off); else each of their entities is evaluated on
     * its own in one statement (without a trap function, they keep their
     * previous values). */
    if (rc == 0 && !nw.worked && nw.n && b->p->attrs[a].trap)
        rc = trap_ranges(b, &nw, err);
    else
        for (size_t i = 0; i < nw.n && rc == 0; i++) {
            struct put_off *r = &nw.put_off[i];
            if (nw.worked)
                rc = narrow(b, &nw, r->lo, r->hi, false, false, r->message, err);
            else
                range_failed(b, a, r->lo, r->hi, r->message);
        }
    for (size_t i = 0; i < nw.n; i++)
        free(nw.put_off[i].message);
    free(nw.put_off);
    return rc;
}

/* The step stops on error e of the customs' shared statement. */
static int customs_stopped(batch *b, int rc, const cps_error *e, cps_error *err)
{
    const plan *p = b->p;
    for (size_t a = 0; p->ncustom == 1 && a < p->n; a++)
        if (p->attrs[a].usable && p->attrs[a].path == PATH_CUSTOM)
            return step_stopped(rc, e, err, b, 1, b->n, "attribute \"%s\"", p->attrs[a].id);
    return step_stopped(rc, e, err, b, 1, b->n, "the custom attributes' shared query");
}

/* The shared statement's time, split among the custom attributes. */
static void customs_seconds(plan *p, double spent)
{
    pthread_mutex_lock(&p->lock);
    for (size_t a = 0; a < p->n; a++)
        if (p->attrs[a].usable && p->attrs[a].path == PATH_CUSTOM)
            p->attrs[a].seconds += spent / (double)p->ncustom;
    pthread_mutex_unlock(&p->lock);
}

/* The custom values of the shared statement (per attribute) become the
 * batch's (keep) or are dropped. */
static void customs_take(batch *b, values *custom, bool keep)
{
    for (size_t a = 0; a < b->p->n; a++) {
        values *vs = &custom[a];
        for (size_t i = 0; keep && i < vs->n; i++)
            values_push(&b->direct[a], vs->k[i], vs->v[i], vs->len[i]);
        vs->n = 0;
    }
}

/* Every custom attribute in one statement; if it fails, *done stays false
 * and each is evaluated alone, which narrows the failure down. */
static int evaluate_customs(batch *b, bool *done, cps_error *err)
{
    plan *p = b->p;
    *done = false;
    int rc = db_savepoint(b->d, err);
    if (rc < 0)
        return rc;
    cps_error e;
    double t0 = now_seconds();
    rc = db_copy_out(b->d, p->customs, row_customs, b, NULL, &e);
    customs_seconds(p, now_seconds() - t0);
    if (rc == CPS_EINTR || (rc < 0 && db_error_stops_step(b->d, &e)))
        return customs_stopped(b, rc, &e, err);
    customs_take(b, b->custom, rc == 0);
    if (rc < 0) {
        log_debug(STEP, "the custom queries failed together (%s); evaluating them one by one",
                  e.msg);
        if ((rc = db_rollback_to_savepoint(b->d, err)) < 0)
            return rc;
    } else
        *done = true;
    return db_release_savepoint(b->d, err);
}

/* Fill a session's cps_ents with a batch's entities (committed: it outlives
 * both transactions). */
static int load_entities(db *d, char *const *ids, uint32_t n, cps_error *err)
{
    if (db_exec(d, err, "TRUNCATE pg_temp.cps_ents", 0, NULL) < 0)
        return CPS_ERR;
    db_copy *c = db_copy_in_begin(d, "COPY pg_temp.cps_ents (k, id) FROM STDIN", err);
    if (!c)
        return CPS_ERR;
    for (uint32_t k = 1; k <= n; k++) {
        copyin_int(c, k);
        copyin_str(c, ids[k - 1]);
        copyin_end_row(c);
    }
    int rc = db_copy_in_end(c, NULL, err);
    if (rc == 0 && db_exec(d, err, "ANALYZE pg_temp.cps_ents", 0, NULL) < 0)
        rc = CPS_ERR;
    return rc;
}

/*
 * The custom attributes beside the one pass. Each takes one backend: the one
 * pass streams the events' values, the customs' shared statement runs every
 * custom query once per entity. When a worker has a second session (its
 * companion), the customs run there at the same time, in the same snapshot,
 * from a thread of their own; their values join the batch's once both are
 * done. If they fail there, nothing of that attempt is kept and the batch
 * evaluates them on its own session as before (evaluate_customs, which
 * narrows a failure down to its entities).
 */
typedef struct beside_job {
    batch shadow; /* what row_customs fills: p, n, custom, strings */
    db *d;
    char *snapshot;
    double seconds;
    int rc;
    cps_error err;
} beside_job;

static void *customs_beside(void *arg)
{
    beside_job *j = arg;
    plan *p = j->shadow.p;
    double t0 = now_seconds();
    int rc = db_begin_read_snapshot(j->d, j->snapshot, &j->err);
    if (rc == 0 && p->index_lookups)
        rc = db_prefer_index_lookups(j->d, &j->err);
    if (rc == 0)
        rc = db_copy_out(j->d, p->customs, row_customs, &j->shadow, NULL, &j->err);
    db_rollback(j->d);
    j->seconds = now_seconds() - t0;
    j->rc = rc < 0 && db_interrupted() ? CPS_EINTR : rc;
    return NULL;
}

/* A thread that leaves SIGINT and SIGTERM to this one, whose handler
 * cancels every session's statement. */
static void spawn(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* In the batch's read transaction: start the customs on the companion. */
static int beside_start(batch *b, beside_job *j, pthread_t *thread, cps_error *err)
{
    char *snapshot = NULL;
    int rc = db_export_snapshot(b->d, &snapshot, err);
    if (rc < 0) {
        free(snapshot);
        return rc;
    }
    b->beside = arena_new();
    *j = (beside_job){
        .shadow = {.p = b->p,
                   .n = b->n,
                   .ids = b->ids,
                   .custom = xcalloc(b->p->n + 1, sizeof(values)),
                   .strings = b->beside},
        .d = b->companion,
        .snapshot = snapshot,
    };
    spawn(thread, customs_beside, j);
    return 0;
}

/* Wait for the companion: *done if its values are now the batch's. */
static int beside_join(batch *b, beside_job *j, pthread_t thread, bool *done, cps_error *err)
{
    pthread_join(thread, NULL);
    free(j->snapshot);
    int rc = 0;
    *done = j->rc == 0;
    customs_take(b, j->shadow.custom, *done);
    if (*done)
        customs_seconds(b->p, j->seconds);
    else if (j->rc == CPS_EINTR || db_error_stops_step(b->companion, &j->err))
        rc = customs_stopped(b, j->rc, &j->err, err);
    else
        log_debug(STEP,
                  "the custom queries failed on the second session (%s); evaluating them "
                  "on the batch's own",
                  j->err.msg);
    for (size_t a = 0; a < b->p->n; a++)
        values_free(&j->shadow.custom[a]);
    free(j->shadow.custom);
    return rc;
}

/* The one pass over the batch's events (the memory path); if some
 * definition fails on some entity, *alone: each is evaluated alone. */
static int one_pass(batch *b, bool *alone, cps_error *err)
{
    plan *p = b->p;
    int rc = db_savepoint(b->d, err);
    if (rc < 0)
        return rc;
    cps_error e;
    double t0 = now_seconds();
    sb_reset(&b->last_event);
    b->have_last = false;
    rc = db_copy_out(b->d, p->combined, row_one_pass, b, NULL, &e);
    pthread_mutex_lock(&p->lock);
    p->shared_seconds += now_seconds() - t0;
    pthread_mutex_unlock(&p->lock);
    if (rc == CPS_EINTR || (rc < 0 && db_error_stops_step(b->d, &e)))
        return step_stopped(rc, &e, err, b, 1, b->n, "the attributes' one pass over the events");
    if (rc < 0) {
        /* some definition fails on some entity: find which, alone */
        log_debug(STEP, "one pass failed (%s); evaluating attributes one by one", e.msg);
        if ((rc = db_rollback_to_savepoint(b->d, err)) < 0)
            return rc;
        for (size_t a = 0; a < p->n; a++)
            if (b->aggs[a])
                agg_reset(b->aggs[a], 0, b->n - 1);
        *alone = true;
    }
    return db_release_savepoint(b->d, err);
}

/* Read the batch: every attribute's values, in one snapshot. */
static int read_batch(batch *b, char **calc_time, cps_error *err)
{
    plan *p = b->p;
    int rc = db_begin_read(b->d, err);
    if (rc == 0 && p->index_lookups)
        rc = db_prefer_index_lookups(b->d, err);
    if (rc < 0)
        return rc;
    if ((rc = db_query_value(b->d, err, calc_time, NULL, "SELECT now()", 0, NULL)) < 0)
        return rc;
    b->on_lo = 1;
    b->on_hi = b->n;
    beside_job job;
    pthread_t thread;
    bool beside = b->companion != NULL;
    if (beside && (rc = beside_start(b, &job, &thread, err)) < 0)
        return rc;
    bool alone = false;
    if (p->combined)
        rc = one_pass(b, &alone, err);
    bool customs_done = false;
    if (beside) {
        if (rc < 0) /* the step stops: so does the companion's statement */
            db_cancel(b->companion);
        cps_error e;
        int joined = beside_join(b, &job, thread, &customs_done, &e);
        if (rc == 0 && joined < 0) {
            *err = e;
            rc = joined;
        }
    }
    if (rc < 0)
        return rc;
    /* (one custom attribute alone is evaluated as the others are, below) */
    if (p->ncustom > 1 && !customs_done && (rc = evaluate_customs(b, &customs_done, err)) < 0)
        return rc;
    for (size_t a = 0; a < p->n; a++) {
        const plan_attr *pa = &p->attrs[a];
        if (!pa->usable || (pa->path == PATH_MEMORY && !alone) ||
            (pa->path == PATH_CUSTOM && customs_done))
            continue;
        if (db_interrupted())
            return CPS_EINTR;
        if ((rc = evaluate_alone(b, a, err)) < 0)
            return rc;
    }
    return 0;
}

typedef struct emit_ctx {
    db_copy *c;
    const char *entity;
    const char *attribute;
    int64_t values;
} emit_ctx;

static void emit_value(void *arg, const char *value, size_t len)
{
    emit_ctx *x = arg;
    copyin_str(x->c, x->entity);
    copyin_str(x->c, x->attribute);
    copyin_field(x->c, value, len);
    copyin_end_row(x->c);
    x->values++;
}

/* Order an attribute's PostgreSQL-produced values by entity (a counting
 * sort over k: linear, and stable for the values of one entity). */
static void sort_values(values *vs)
{
    if (vs->n < 2)
        return;
    uint32_t max = 0;
    for (size_t i = 0; i < vs->n; i++)
        if (vs->k[i] > max)
            max = vs->k[i];
    size_t *start = xcalloc((size_t)max + 2, sizeof *start);
    for (size_t i = 0; i < vs->n; i++)
        start[vs->k[i] + 1]++;
    for (uint32_t k = 1; k <= max + 1; k++)
        start[k] += start[k - 1];
    values sorted = {0};
    sorted.cap = sorted.n = vs->n;
    sorted.k = xmalloc(vs->n * sizeof *sorted.k);
    sorted.v = xmalloc(vs->n * sizeof *sorted.v);
    sorted.len = xmalloc(vs->n * sizeof *sorted.len);
    for (size_t i = 0; i < vs->n; i++) {
        size_t j = start[vs->k[i]]++;
        sorted.k[j] = vs->k[i];
        sorted.v[j] = vs->v[i];
        sorted.len[j] = vs->len[i];
    }
    free(start);
    values_free(vs);
    *vs = sorted;
}

/*
 * The foreign key of customer_attributes checks every new row on its own: a
 * lookup and a row lock per value, about half the cost of writing a batch.
 * All values of a batch belong to its entities, so one set-based statement
 * takes the same locks (FOR KEY SHARE) on all of them; if every entity is
 * there, the per-row checks cannot fail and are skipped for the COPY
 * (session_replication_role, which only a superuser may set, and which would
 * also silence other triggers: so only when the table has none, and only for
 * the COPY: *replica says to set it back). Otherwise the foreign key checks
 * as usual.
 */
static int lock_batch_entities(batch *b, bool *replica, cps_error *err)
{
    char *locked = NULL;
    int rc = db_query_value(b->d, err, &locked, NULL,
                            "SELECT count(*) FROM (SELECT 1 FROM {attr}.customer_entities c "
                            "WHERE c.id IN (SELECT id FROM pg_temp.cps_ents) FOR KEY SHARE) s",
                            0, NULL);
    bool all = rc == 0 && locked && strtoul(locked, NULL, 10) == b->n;
    free(locked);
    if (rc == 0 && all) {
        if (db_exec(b->d, err, "SET LOCAL session_replication_role = replica", 0, NULL) < 0)
            rc = CPS_ERR;
        else
            *replica = true;
    }
    return rc;
}

/*
 * Into an empty customer_attributes (the first run, or the setup guide's
 * TRUNCATE ... CASCADE: readers see no values either way), a batch loads
 * its values without the table's indexes and builds them after: at 1M
 * events, 2.4M values went in 8.8-9.6 s through the two indexes, in 5.5-6.7 s
 * with both built after the load. Dropping an index needs the table to
 * itself: readers wait for the batch's write, as they do for a full
 * stitching pass. So only a role that owns the table, and only if the
 * readers before it let go within DB_READERS_WAIT; else (or if the table has
 * rows) the batch writes through the indexes.
 */
static int empty_and_ours(batch *b, bool *yes, cps_error *err)
{
    char *table = db_sql(b->d, "{attr}.customer_attributes");
    const char *params[] = {table};
    char *v = NULL;
    int rc = db_query_value(b->d, err, &v, NULL,
                            "SELECT pg_catalog.pg_has_role(c.relowner, 'USAGE') "
                            "AND NOT EXISTS (SELECT 1 FROM {attr}.customer_attributes) "
                            "FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass",
                            1, params);
    *yes = rc == 0 && v && v[0] == 't';
    free(v);
    free(table);
    return rc;
}

/* The table was empty and ours (empty_and_ours): take it and drop its
 * indexes; *ix: the dropped ones, NULL if none. */
static int drop_indexes(batch *b, db_indexes **ix, cps_error *err)
{
    *ix = NULL;
    int rc = db_savepoint(b->d, err);
    if (rc < 0)
        return rc;
    bool go = true;
    cps_error busy;
    if (db_exec(b->d, &busy, "SET LOCAL lock_timeout = '" DB_READERS_WAIT "'", 0, NULL) < 0 ||
        db_exec(b->d, &busy, "LOCK TABLE {attr}.customer_attributes IN ACCESS EXCLUSIVE MODE", 0,
                NULL) < 0) {
        if (strcmp(busy.sqlstate, "55P03") != 0) {
            *err = busy;
            return db_interrupted() ? CPS_EINTR : CPS_ERR;
        }
        log_debug(STEP,
                  "%s.customer_attributes is empty but busy with readers: the batch writes "
                  "through its indexes",
                  b->p->ctx->cfg->attr_schema);
        go = false;
        rc = db_rollback_to_savepoint(b->d, err);
    } else if (db_exec(b->d, err, "SET LOCAL lock_timeout TO DEFAULT", 0, NULL) < 0) {
        rc = CPS_ERR;
    }
    if (rc == 0)
        rc = db_release_savepoint(b->d, err);
    /* the table's first rows may have come meanwhile (another worker's batch) */
    if (rc == 0 && go)
        rc = empty_and_ours(b, &go, err);
    if (rc == 0 && go && (rc = db_indexes_drop(b->d, "{attr}.customer_attributes", ix, err)) < 0) {
        db_indexes_free(*ix); /* the failed transaction rolls the drop back */
        *ix = NULL;
    }
    return rc;
}

/*
 * Write the batch: delete its entities' rows (but the kept ones) and COPY the
 * new ones straight into customer_attributes, in the order of its index
 * (entity, attribute), then set calculated. One transaction.
 */
static int write_batch(batch *b, const char *calc_time, cps_error *err)
{
    plan *p = b->p;
    int rc = db_begin(b->d, err);
    if (rc < 0)
        return rc;
    db_copy *c = db_copy_in_begin(b->d, "COPY pg_temp.cps_a_keep FROM STDIN", err);
    if (!c)
        return CPS_ERR;
    for (size_t a = 0; a < p->n; a++) {
        const plan_attr *pa = &p->attrs[a];
        if (!pa->usable) {
            copyin_str(c, NULL);
            copyin_str(c, pa->id);
            copyin_end_row(c);
            continue;
        }
        for (uint32_t k = 1; k <= b->n; k++)
            if (b->failed[(size_t)(k - 1) * p->n + a]) {
                copyin_int(c, k);
                copyin_str(c, pa->id);
                copyin_end_row(c);
            }
    }
    if ((rc = db_copy_in_end(c, NULL, err)) < 0)
        return rc;
    /* (before the batch's DELETE: a table only the batch empties keeps its
       indexes, and its readers the old values meanwhile) */
    bool empty;
    if ((rc = empty_and_ours(b, &empty, err)) < 0)
        return rc;
    /* the old rows through the index on entity: a scan of every attribute
       value grows with the population, and the table's statistics lag */
    if ((rc = db_prefer_index_lookups(b->d, err)) < 0)
        return rc;
    double t0 = now_seconds();
    int64_t deleted = db_exec(b->d, err,
                              "DELETE FROM {attr}.customer_attributes ca USING pg_temp.cps_ents b "
                              "WHERE ca.customer_entity_id = b.id "
                              "AND NOT EXISTS (SELECT 1 FROM pg_temp.cps_a_keep kp "
                              "WHERE kp.attribute_id = ca.attribute_id AND kp.k IS NULL) "
                              "AND NOT EXISTS (SELECT 1 FROM pg_temp.cps_a_keep kp "
                              "WHERE kp.attribute_id = ca.attribute_id AND kp.k = b.k)",
                              0, NULL);
    if (deleted < 0)
        return CPS_ERR;
    double t1 = now_seconds();

    bool replica = false;
    if (p->set_based_fk && (rc = lock_batch_entities(b, &replica, err)) < 0)
        return rc;
    db_indexes *ix = NULL;
    if (empty && (rc = drop_indexes(b, &ix, err)) < 0)
        return rc;
    char *sql = db_sql(b->d, "COPY {attr}.customer_attributes (customer_entity_id, attribute_id, "
                             "value) FROM STDIN");
    c = db_copy_in_begin(b->d, sql, err);
    free(sql);
    if (!c) {
        db_indexes_free(ix);
        return CPS_ERR;
    }
    size_t *cursor = xcalloc(p->n + 1, sizeof *cursor);
    int64_t *count = xcalloc(p->n + 1, sizeof *count);
    for (size_t a = 0; a < p->n; a++)
        sort_values(&b->direct[a]);
    for (uint32_t k = 1; k <= b->n; k++) {
        for (size_t a = 0; a < p->n; a++) {
            values *vs = &b->direct[a];
            bool keep = !p->attrs[a].usable || b->failed[(size_t)(k - 1) * p->n + a];
            emit_ctx x = {c, b->ids[k - 1], p->attrs[a].id, 0};
            if (b->aggs[a] && !keep)
                agg_results(b->aggs[a], k - 1, emit_value, &x);
            for (; cursor[a] < vs->n && vs->k[cursor[a]] == k; cursor[a]++)
                if (!keep)
                    emit_value(&x, vs->v[cursor[a]], vs->len[cursor[a]]);
            count[a] += x.values;
        }
    }
    free(cursor);
    rc = db_copy_in_end(c, NULL, err);
    double t2 = now_seconds();
    if (rc == 0 && ix)
        rc = db_indexes_restore(b->d, ix, "customer_entity_id", NULL, NULL, err);
    else
        db_indexes_free(ix); /* none, or the transaction rolls the drop back */
    /* customer_entities' triggers (the CDP's too) see calculated being set */
    if (rc == 0 && replica &&
        db_exec(b->d, err, "SET LOCAL session_replication_role = origin", 0, NULL) < 0)
        rc = CPS_ERR;
    double t3 = now_seconds();
    if (ix)
        log_debug(STEP,
                  "batch of %u entities written: %lld rows deleted in %.3f s, new rows in "
                  "%.3f s, the empty table's indexes built after them in %.3f s",
                  b->n, (long long)deleted, t1 - t0, t2 - t1, t3 - t2);
    else
        log_debug(STEP,
                  "batch of %u entities written: %lld rows deleted in %.3f s, new rows in %.3f s",
                  b->n, (long long)deleted, t1 - t0, t3 - t1);
    const char *params[] = {calc_time};
    if (rc == 0 && db_exec(b->d, err,
                           "UPDATE {attr}.customer_entities c SET calculated = $1::timestamptz "
                           "FROM pg_temp.cps_ents b WHERE c.id = b.id",
                           1, params) < 0)
        rc = CPS_ERR;
    if (rc == 0 && db_exec(b->d, err,
                           "DELETE FROM {ps}.entities_to_calculate a USING pg_temp.cps_ents b "
                           "WHERE a.customer_entity_id = b.id",
                           0, NULL) < 0)
        rc = CPS_ERR;
    if (rc == 0)
        rc = db_commit(b->d, err);
    if (rc == 0) {
        pthread_mutex_lock(&p->lock);
        for (size_t a = 0; a < p->n; a++)
            p->attrs[a].values += count[a];
        pthread_mutex_unlock(&p->lock);
    }
    free(count);
    return rc;
}

/* Calculate and write one batch; *reported: entities already counted in
 * the step's progress. */
static int run_batch(plan *p, db *d, db *companion, char **ids, uint32_t n, uint32_t *reported,
                     cps_error *err)
{
    batch b = {.p = p, .d = d, .companion = companion, .n = n, .ids = ids};
    b.seen = xcalloc((size_t)n + 1, 1);
    b.aggs = xcalloc(p->n + 1, sizeof *b.aggs);
    b.failed = xcalloc((size_t)n * (p->n + 1), 1);
    b.direct = xcalloc(p->n + 1, sizeof *b.direct);
    b.custom = xcalloc(p->n + 1, sizeof *b.custom);
    b.strings = arena_new();
    for (size_t a = 0; a < p->n; a++) {
        const plan_attr *pa = &p->attrs[a];
        if (pa->usable && pa->path == PATH_MEMORY)
            b.aggs[a] = agg_new(pa->def.type, pa->kind, n);
    }
    char *calc_time = NULL;
    /* (the companion's too: rows committed after the snapshot it imports
       would not be in it) */
    int rc = load_entities(d, ids, n, err);
    if (rc == 0 && companion)
        rc = load_entities(companion, ids, n, err);
    if (rc == 0)
        rc = read_batch(&b, &calc_time, err);
    db_rollback(d); /* the read transaction: nothing to keep */
    if (rc == 0)
        rc = write_batch(&b, calc_time, err);
    if (rc < 0)
        db_rollback(d);
    free(calc_time);
    for (size_t a = 0; a < p->n; a++)
        agg_free(b.aggs[a]);
    free(b.aggs);
    free(b.failed);
    for (size_t a = 0; a < p->n; a++) {
        values_free(&b.direct[a]);
        values_free(&b.custom[a]);
    }
    free(b.direct);
    free(b.custom);
    values_free(&b.attempt);
    values_free(&b.trapped);
    arena_free(b.strings);
    arena_free(b.beside);
    sb_free(&b.last_event);
    free(b.seen);
    *reported = b.reported;
    return rc;
}

/* ---- workers ------------------------------------------------------------- */

typedef struct worker {
    plan *p;
    db *d;
    db *companion; /* NULL, or its second session (see beside_job) */
    int rc;
    cps_error err;
} worker;

/* Take batches until none is left, another worker failed, or a signal came. */
static void *work(void *arg)
{
    worker *w = arg;
    plan *p = w->p;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t first = p->next;
        bool stop = p->stop || first >= p->nids;
        size_t n = stop ? 0 : (p->nids - first < p->batch_size ? p->nids - first : p->batch_size);
        p->next += n;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        if (db_interrupted()) {
            w->rc = CPS_EINTR;
            break;
        }
        uint32_t reported = 0;
        w->rc = run_batch(p, w->d, w->companion, p->ids + first, (uint32_t)n, &reported, &w->err);
        pthread_mutex_lock(&p->lock);
        if (w->rc < 0)
            p->stop = true;
        else {
            p->entities += (int64_t)n;
            p->batches++;
        }
        pthread_mutex_unlock(&p->lock);
        if (w->rc < 0)
            break;
        progress_add(p->prog, n - reported);
    }
    return NULL;
}

/* A worker's second session, for the custom attributes beside its one pass;
 * if it cannot be had, the worker evaluates them after it, as it can. */
static int open_companion(plan *p, db **companion, cps_error *err)
{
    cps_error why;
    int rc = db_connect(companion, p->ctx->cfg, &why);
    if (rc == 0)
        rc = setup_session(p, *companion, &why);
    if (rc == 0)
        return 0;
    db_close(*companion);
    *companion = NULL;
    if (db_interrupted()) {
        *err = why;
        return CPS_EINTR;
    }
    log_warn(STEP,
             "no second session for the custom attributes (%s): they are evaluated after the "
             "one pass over the events",
             why.msg);
    return 0;
}

static int run_workers(plan *p, cps_error *err)
{
    run_ctx *ctx = p->ctx;
    int nworkers = ctx->cfg->workers;
    size_t batches = (p->nids + p->batch_size - 1) / p->batch_size;
    if ((size_t)nworkers > batches)
        nworkers = batches ? (int)batches : 1;
    worker *w = xcalloc((size_t)nworkers, sizeof *w);
    int rc = 0;
    w[0] = (worker){.p = p, .d = ctx->d};
    for (int i = 1; i < nworkers && rc == 0; i++) {
        w[i].p = p;
        rc = db_connect(&w[i].d, ctx->cfg, err);
        if (rc == 0)
            rc = setup_session(p, w[i].d, err);
        if (rc == 0)
            rc = create_traps(p, w[i].d, err);
    }
    /* (only where there is a one pass to run beside: batch.companion says it) */
    for (int i = 0; i < nworkers && rc == 0 && p->customs && p->combined; i++)
        rc = open_companion(p, &w[i].companion, err);
    if (rc == 0 && w[0].companion)
        log_debug(STEP, "the custom attributes run beside the one pass, on a second session");
    if (rc == 0 && nworkers == 1) {
        work(&w[0]);
    } else if (rc == 0) {
        pthread_t *threads = xcalloc((size_t)nworkers, sizeof *threads);
        for (int i = 0; i < nworkers; i++)
            spawn(&threads[i], work, &w[i]);
        for (int i = 0; i < nworkers; i++)
            pthread_join(threads[i], NULL);
        free(threads);
    }
    for (int i = 0; i < nworkers && rc == 0; i++)
        if (w[i].rc < 0) {
            rc = w[i].rc;
            *err = w[i].err;
        }
    for (int i = 0; i < nworkers; i++) {
        db_close(w[i].companion);
        if (i > 0)
            db_close(w[i].d);
    }
    free(w);
    return db_interrupted() ? CPS_EINTR : rc;
}

/* ---- the step ------------------------------------------------------------ */

/* The step's numbers in the run's record and the log; rc is the step's outcome. */
static void report(plan *p, double seconds, int rc)
{
    run_ctx *ctx = p->ctx;
    json_t *st = run_step_stats(ctx, "attributes");
    json_object_set_new(st, "entities", json_integer(p->entities));
    json_object_set_new(st, "batches", json_integer(p->batches));
    json_object_set_new(st, "one_pass_seconds", json_real(p->shared_seconds));
    json_t *per = json_object();
    int64_t failed = 0;
    for (size_t i = 0; i < p->n; i++) {
        const plan_attr *a = &p->attrs[i];
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(a->usable ? attr_type_name(a->def.type) : "?"));
        json_object_set_new(o, "path", json_string(a->usable ? path_names[a->path] : "broken"));
        json_object_set_new(o, "values", json_integer(a->values));
        json_object_set_new(o, "seconds", json_real(a->seconds));
        json_object_set_new(o, "failed_entities", json_integer(a->failed_entities));
        json_object_set_new(o, "failed_unnarrowed", json_integer(a->unnarrowed_entities));
        json_object_set_new(o, "queries", json_integer(a->queries));
        json_object_set_new(per, a->id, o);
        failed += a->failed_entities;
        if (a->unnarrowed_entities)
            run_problem(ctx, STEP,
                        "attribute \"%s\" failed for %lld entities in all (%lld of them in "
                        "failing ranges not narrowed down); their previous values are kept",
                        a->id, (long long)a->failed_entities, (long long)a->unnarrowed_entities);
        else if (a->failure_lines > FAILURES_LOGGED)
            run_problem(ctx, STEP,
                        "attribute \"%s\" failed for %lld entities in all; their previous "
                        "values are kept",
                        a->id, (long long)a->failed_entities);
        if (a->usable && a->seconds >= 1)
            log_info(STEP, "attribute %s: %.1f s on its own (%s)", a->id, a->seconds,
                     path_names[a->path]);
    }
    json_object_set_new(st, "per_attribute", per);
    if (rc < 0) {
        /* the error says why; before the due entities were known, nothing to add */
        if (p->due_loaded)
            log_warn(STEP, "stopped after %lld of the %zu entities due were calculated",
                     (long long)p->entities, p->nids);
    } else if (p->entities)
        log_info(STEP,
                 "%lld entities calculated in %.1f s (%.0f entities/s; one pass over "
                 "events %.1f s), %zu attributes%s",
                 (long long)p->entities, seconds, (double)p->entities / (seconds > 0 ? seconds : 1),
                 p->shared_seconds, p->n, failed ? ", with errors" : "");
    else
        log_info(STEP, "no entity is due for calculation");
}

int attr_step(run_ctx *ctx, cps_error *err)
{
    int rc = context_step(ctx, err);
    if (rc < 0)
        return rc;
    double t0 = now_seconds();
    plan p = {.ctx = ctx};
    pthread_mutex_init(&p.lock, NULL);
    p.batch_size = ctx->cfg->batch_size > 0 ? (size_t)ctx->cfg->batch_size : DEFAULT_BATCH_ENTITIES;
    db *d = ctx->d;
    if (rc == 0)
        rc = resync_entities(&p, d, err);
    if (rc == 0)
        rc = load_columns(&p, d, err);
    if (rc == 0)
        rc = load_definitions(&p, d, err);
    if (rc == 0)
        rc = setup_session(&p, d, err);
    if (rc == 0)
        rc = compile(&p, d, err);
    if (rc == 0)
        rc = create_traps(&p, d, err);
    if (rc == 0)
        rc = load_due(&p, d, err);
    if (rc == 0 && p.nids && ctx->cfg->workers > 1) {
        /* enough batches to keep every connection busy */
        size_t share = (p.nids + (size_t)ctx->cfg->workers - 1) / (size_t)ctx->cfg->workers;
        if (share < p.batch_size)
            p.batch_size = share;
    }
    if (rc == 0 && p.nids) {
        log_info(STEP, "%zu entities due, %zu attributes, batches of %zu on %d connection%s",
                 p.nids, p.n, p.batch_size, ctx->cfg->workers, ctx->cfg->workers > 1 ? "s" : "");
        /* the set-based foreign key check needs a superuser, and must not
           silence anyone's triggers on customer_attributes */
        char *su = NULL;
        rc = db_query_value(
            d, err, &su, NULL,
            "SELECT (SELECT rolsuper FROM pg_catalog.pg_roles "
            "WHERE rolname = current_user) AND NOT EXISTS (SELECT 1 FROM "
            "pg_catalog.pg_trigger WHERE tgrelid = '{attr}.customer_attributes'::regclass "
            "AND NOT tgisinternal)",
            0, NULL);
        p.set_based_fk = su && su[0] == 't';
        free(su);
        /* A batch of a third of the entities or less costs less through index
           lookups of its events (about 5 us each) than through scanning every
           event of the log (about 2 us each) */
        size_t batch = p.nids < p.batch_size ? p.nids : p.batch_size;
        p.index_lookups = (int64_t)batch * 3 < db_estimated_rows(d, "{ps}.entities");
        if (rc == 0) {
            p.prog = progress_begin(STEP, "entities", p.nids);
            rc = run_workers(&p, err);
            progress_end(p.prog);
        }
    }
    report(&p, now_seconds() - t0, rc);
    plan_free(&p);
    return rc;
}
