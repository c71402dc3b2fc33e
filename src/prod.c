/*
 * prod — publish the production views (see prod.h and SPEC §6).
 *
 * The step first looks both names up and stops, changing nothing, if either
 * belongs to someone else. Then each view's SQL is generated from the
 * catalog (the event log's columns) or from {attr}.attributes (the pivot's
 * columns), hashed, and compared with the hash in the view's comment; only a
 * view whose SQL changed is replaced, in one transaction that waits at most
 * DB_READERS_WAIT for its readers (and is retried a few times): CREATE OR REPLACE
 * when PostgreSQL allows it (new columns at the end), else DROP + CREATE,
 * keeping the privileges granted on the old view.
 *
 * View DDL is the one place where values enter SQL text: a view cannot take
 * parameters, so attribute ids are embedded as literals (PQescapeLiteral) and
 * as column names (PQescapeIdentifier), and never pass through the schema
 * template expander.
 */
#include "prod.h"

#include "log.h"
#include "md5.h"
#include "sqlgen.h"

#include <stdlib.h>
#include <string.h>

static const char *const STEP = "PROD";

#define LOCK_ATTEMPTS 5  /* then the step fails; the next run tries again */
#define NAME_BYTES    63 /* PostgreSQL keeps this many bytes of a name */

static const char *const CUSTOMER_EVENTS = "customer_events";
static const char *const PIVOT = "pivoted_customer_attributes";

typedef enum { V_UNCHANGED, V_CREATED, V_REPLACED, V_RECREATED } view_outcome;
static const char *const outcome_names[] = {"unchanged", "created", "replaced", "recreated"};

/* The relkind that lookup() gives a type that is not a relation. */
#define TYPE_KIND "T"

/* What is in the catalog under a name in {cdp}. */
typedef struct existing {
    int exists;
    char relkind;  /* pg_class.relkind */
    char *comment; /* NULL if none */
} existing;

static void existing_free(existing *e)
{
    free(e->comment);
    e->comment = NULL;
}

static int is_ours(const existing *e)
{
    return e->exists && e->relkind == 'v' && e->comment &&
           !strncmp(e->comment, PROD_VIEW_MARK, strlen(PROD_VIEW_MARK));
}

static int lookup(run_ctx *ctx, const char *name, existing *e, cps_error *err)
{
    const char *params[] = {ctx->cfg->cdp_schema, name};
    PGresult *res = db_query(ctx->d, err,
                             "SELECT c.relkind, pg_catalog.obj_description(c.oid, 'pg_class') "
                             "FROM pg_catalog.pg_class c "
                             "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = $1 AND c.relname = $2 "
                             /* a type that is no relation (enum, domain, ...) takes the
                                name of a view's row type too */
                             "UNION ALL SELECT '" TYPE_KIND "'::\"char\", NULL "
                             "FROM pg_catalog.pg_type t "
                             "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
                             "WHERE n.nspname = $1 AND t.typname = $2 AND t.typrelid = 0",
                             2, params);
    if (!res)
        return CPS_ERR;
    e->exists = PQntuples(res) > 0;
    e->relkind = e->exists ? PQgetvalue(res, 0, 0)[0] : 0;
    e->comment = e->exists && !PQgetisnull(res, 0, 1) ? xstrdup(PQgetvalue(res, 0, 1)) : NULL;
    PQclear(res);
    return 0;
}

/* The ALTER keyword and a reader's word for a relkind. */
static const char *relkind_keyword(char relkind, const char **noun)
{
    static const struct {
        char kind;
        const char *keyword, *noun;
    } kinds[] = {{'r', "TABLE", "table"},
                 {'p', "TABLE", "partitioned table"},
                 {'v', "VIEW", "view without CPS's comment"},
                 {'m', "MATERIALIZED VIEW", "materialized view"},
                 {'f', "FOREIGN TABLE", "foreign table"},
                 {'S', "SEQUENCE", "sequence"},
                 {'i', "INDEX", "index"},
                 {'I', "INDEX", "partitioned index"},
                 {'c', "TYPE", "composite type"},
                 {TYPE_KIND[0], "TYPE", "type"}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == relkind) {
            *noun = kinds[i].noun;
            return kinds[i].keyword;
        }
    *noun = "relation";
    return "TABLE";
}

/* The message for a name taken by an object CPS did not create. */
static void foreign_message(strbuf *sb, const run_ctx *ctx, const char *name, const existing *e)
{
    const char *noun = NULL;
    const char *kw = relkind_keyword(e->relkind, &noun);
    const char *schema = ctx->cfg->cdp_schema;
    sb_appendf(sb,
               "%s.%s exists and CPS did not create it (it is a %s); CPS changes nothing under "
               "that name. Keep it by renaming it first: ALTER %s %s.%s RENAME TO %s_backup; "
               "then run CPS again (docs/PRODUCTION.md, \"deploy to production\")",
               schema, name, noun, kw, schema, name, name);
}

/* Refuse to go on if either name belongs to someone else; change nothing. */
static int check_names(run_ctx *ctx, cps_error *err)
{
    if (!strcmp(ctx->cfg->cdp_schema, ctx->cfg->ce_schema))
        return cps_error_set(err,
                             "cdp_schema and ce_schema are both \"%s\": the production view "
                             "%s.customer_events would take the name of the event log itself; "
                             "keep the event log in its own schema (ce_schema, e.g. cdp_ce)",
                             ctx->cfg->cdp_schema, ctx->cfg->cdp_schema);
    const char *names[] = {CUSTOMER_EVENTS, PIVOT};
    strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < 2; i++) {
        existing e = {0};
        if (lookup(ctx, names[i], &e, err) < 0) {
            sb_free(&sb);
            return CPS_ERR;
        }
        if (e.exists && !is_ours(&e)) {
            if (sb.len)
                sb_append(&sb, "; and ");
            foreign_message(&sb, ctx, names[i], &e);
        }
        existing_free(&e);
    }
    int rc = sb.len ? cps_error_set(err, "%s", sb_str(&sb)) : 0;
    sb_free(&sb);
    return rc;
}

/* ---- the SQL of the views ------------------------------------------------ */

static void append_ident(strbuf *sb, PGconn *conn, const char *name)
{
    char *q = PQescapeIdentifier(conn, name, strlen(name));
    sb_append(sb, q ? q : "\"\"");
    PQfreemem(q);
}

static void append_literal(strbuf *sb, PGconn *conn, const char *s)
{
    char *q = PQescapeLiteral(conn, s, strlen(s));
    sb_append(sb, q ? q : "''");
    PQfreemem(q);
}

/* The event log's columns, with customer_entity_id from matching. */
static int customer_events_sql(run_ctx *ctx, strbuf *sql, cps_error *err)
{
    db *d = ctx->d;
    char **columns;
    size_t n;
    if (db_columns(d, "{ce}.customer_events", &columns, &n, err) < 0)
        return cps_error_prefix(err, "reading the columns of %s.customer_events",
                                ctx->cfg->ce_schema);
    sb_append(sql, "SELECT ");
    sqlgen_event_columns(sql, columns, n, "e");
    db_columns_free(columns);
    sql_expand_into(sql, db_schemas(d),
                    " FROM {ce}.customer_events e "
                    "JOIN {ps}.matching m ON m.customer_event_id = e.id");
    return 0;
}

/* One attribute column of the pivot. */
typedef struct pivot_col {
    char *id;   /* attribute id */
    char *name; /* column name: the id, cut to what PostgreSQL keeps */
    int array;  /* text[] (list, custom) rather than text */
} pivot_col;

/* The id cut to at most NAME_BYTES bytes on a UTF-8 character boundary, as
 * PostgreSQL cuts identifiers (caller frees). */
static char *column_name(const char *id)
{
    size_t n = strlen(id);
    if (n <= NAME_BYTES)
        return xstrdup(id);
    n = NAME_BYTES;
    while (n > 0 && ((unsigned char)id[n] & 0xC0) == 0x80)
        n--;
    return xstrndup(id, n);
}

/* text[] for list and custom definitions; text for every other type and for
 * a definition that is not a JSON object with a "type" (it is reported by
 * the attribute step; its column still exists). */
static int definition_is_array(const char *json)
{
    if (!json)
        return 0;
    json_t *root = json_loads(json, 0, NULL);
    const char *type = json_string_value(json_object_get(root, "type"));
    int array = type && (!strcmp(type, "list") || !strcmp(type, "custom"));
    json_decref(root);
    return array;
}

/* Can the column join the view? Reports (as a problem) the ids that cannot. */
static int column_usable(run_ctx *ctx, const pivot_col *cols, size_t n, const pivot_col *c)
{
    if (!*c->id) {
        run_problem(ctx, STEP,
                    "an attribute with an empty id cannot be a column of %s.%s and is left out; "
                    "give it an id in %s.attributes",
                    ctx->cfg->cdp_schema, PIVOT, ctx->cfg->attr_schema);
        return 0;
    }
    const char *clash = !strcmp(c->name, "customer_entity_id") ? "the entity id column" : NULL;
    for (size_t i = 0; i < n && !clash; i++)
        if (!strcmp(cols[i].name, c->name))
            clash = cols[i].id;
    if (clash) {
        run_problem(ctx, STEP,
                    "attribute \"%s\" is left out of %s.%s: its column name \"%s\" is taken by "
                    "%s%s%s (PostgreSQL keeps the first %d bytes of a name); rename the attribute",
                    c->id, ctx->cfg->cdp_schema, PIVOT, c->name, clash == c->name ? "" : "\"",
                    clash, clash == c->name ? "" : "\"", NAME_BYTES);
        return 0;
    }
    if (strcmp(c->name, c->id))
        log_warn(STEP, "attribute \"%s\" is column \"%s\" of %s.%s (names keep %d bytes)", c->id,
                 c->name, ctx->cfg->cdp_schema, PIVOT, NAME_BYTES);
    return 1;
}

static void free_cols(pivot_col *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(cols[i].id);
        free(cols[i].name);
    }
    free(cols);
}

/* The attribute columns, ordered by id in bytes, as text compares everywhere
 * in CPS whatever the database's collation (*ncols receives their number). */
static int load_columns(run_ctx *ctx, pivot_col **out, size_t *ncols, cps_error *err)
{
    PGresult *res = db_query(ctx->d, err,
                             "SELECT id, definition::text FROM {attr}.attributes "
                             "WHERE id IS NOT NULL ORDER BY id COLLATE \"C\"",
                             0, NULL);
    if (!res)
        return cps_error_prefix(err, "reading %s.attributes", ctx->cfg->attr_schema);
    int rows = PQntuples(res);
    pivot_col *cols = xcalloc((size_t)rows + 1, sizeof *cols);
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        pivot_col c = {.id = xstrdup(PQgetvalue(res, i, 0))};
        c.name = column_name(c.id);
        c.array = definition_is_array(PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1));
        if (column_usable(ctx, cols, n, &c)) {
            cols[n++] = c;
        } else {
            free(c.id);
            free(c.name);
        }
    }
    PQclear(res);
    *out = cols;
    *ncols = n;
    return 0;
}

/*
 * The pivot: each attribute column comes from a LEFT JOIN to that
 * attribute's rows grouped by entity (min() for text: one value, even if a
 * definition once stored several; array_agg() sorted by bytes for text[]).
 * Grouping by customer_entity_id makes each join provably unique, so the
 * planner drops the joins of unused columns.
 */
static void pivot_sql(run_ctx *ctx, const pivot_col *cols, size_t n, strbuf *sql)
{
    db *d = ctx->d;
    PGconn *conn = db_pg(d);
    sb_append(sql, "SELECT ce.id AS customer_entity_id");
    for (size_t i = 0; i < n; i++) {
        sb_appendf(sql, ",\n  a%zu.value AS ", i + 1);
        append_ident(sql, conn, cols[i].name);
    }
    sql_expand_into(sql, db_schemas(d), "\nFROM {attr}.customer_entities ce");
    for (size_t i = 0; i < n; i++) {
        sb_append(sql, cols[i].array
                           ? "\nLEFT JOIN (SELECT ca.customer_entity_id, "
                             "array_agg(ca.value ORDER BY ca.value COLLATE \"C\") AS value"
                           : "\nLEFT JOIN (SELECT ca.customer_entity_id, "
                             "min(ca.value) AS value");
        sql_expand_into(sql, db_schemas(d), " FROM {attr}.customer_attributes ca");
        sb_append(sql, " WHERE ca.attribute_id = ");
        append_literal(sql, conn, cols[i].id);
        sb_appendf(sql, " GROUP BY ca.customer_entity_id) a%zu ON a%zu.customer_entity_id = ce.id",
                   i + 1, i + 1);
    }
}

/* ---- publishing ---------------------------------------------------------- */

typedef struct view_spec {
    const char *name; /* in {cdp} */
    char *body;       /* the SELECT */
    char *comment;    /* PROD_VIEW_MARK, what it is, and the hash of body */
} view_spec;

static void spec_init(view_spec *v, const char *name, const char *what, char *body)
{
    char hash[33];
    md5_hex(body, strlen(body), hash);
    v->name = name;
    v->body = body;
    v->comment = xasprintf(PROD_VIEW_MARK " (%s): created by CPS with \"production\": true and "
                                          "recreated when its definition changes; do not edit. "
                                          "definition md5 %s",
                           what, hash);
}

/* Run finished SQL built from the schema prefix and a name, e.g. "DROP VIEW". */
static int exec_on_view(run_ctx *ctx, const view_spec *v, const char *verb, const char *rest,
                        cps_error *err)
{
    strbuf sql = STRBUF_INIT;
    sb_appendf(&sql, "%s %s.", verb, db_schemas(ctx->d)->cdp);
    append_ident(&sql, db_pg(ctx->d), v->name);
    if (rest)
        sb_append(&sql, rest);
    int64_t rc = db_exec_raw(ctx->d, err, sb_str(&sql), 0, NULL);
    sb_free(&sql);
    return rc < 0 ? (int)rc : 0;
}

static int create_view(run_ctx *ctx, const view_spec *v, int replace, cps_error *err)
{
    strbuf rest = STRBUF_INIT;
    sb_append(&rest, " AS\n");
    sb_append(&rest, v->body);
    int rc = exec_on_view(ctx, v, replace ? "CREATE OR REPLACE VIEW" : "CREATE VIEW", sb_str(&rest),
                          err);
    sb_free(&rest);
    return rc;
}

/* The view's name as SQL: schema, then the quoted name (caller frees). */
static char *view_sql_name(run_ctx *ctx, const view_spec *v)
{
    strbuf rel = STRBUF_INIT;
    sb_appendf(&rel, "%s.", db_schemas(ctx->d)->cdp);
    append_ident(&rel, db_pg(ctx->d), v->name);
    return sb_detach(&rel);
}

/* The view's current privileges: *grants receives the GRANTs that give its
 * table privileges again, *columns its column privileges as a JSON array of
 * [column, privilege, grantee, grant option] (each NULL if there are none;
 * caller frees). */
static int saved_grants(run_ctx *ctx, const view_spec *v, char **grants, char **columns,
                        cps_error *err)
{
    char *rel = view_sql_name(ctx, v);
    const char *params[] = {rel};
    int rc = db_query_value(
        ctx->d, err, grants, NULL,
        "SELECT string_agg(pg_catalog.format('GRANT %s ON %s TO %s%s', a.privilege_type, $1::text, "
        "CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
        "ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, "
        "CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), '; ') "
        "FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
        "WHERE c.oid = $1::regclass",
        1, params);
    if (rc == 0)
        rc = db_query_value(
            ctx->d, err, columns, NULL,
            "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(t.attname::text, "
            "a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
            "ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, "
            "a.is_grantable))::text "
            "FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) a "
            "WHERE t.attrelid = $1::regclass AND t.attnum > 0 AND NOT t.attisdropped",
            1, params);
    free(rel);
    return rc;
}

/* Give the column privileges saved by saved_grants again, on the columns the
 * new view still has (a privilege on a column that went goes with it). */
static int restore_column_grants(run_ctx *ctx, const view_spec *v, const char *columns,
                                 cps_error *err)
{
    char *rel = view_sql_name(ctx, v);
    const char *params[] = {rel, columns};
    char *grants = NULL;
    int rc = db_query_value(
        ctx->d, err, &grants, NULL,
        "SELECT string_agg(pg_catalog.format('GRANT %s (%I) ON %s TO %s%s', g->>1, g->>0, "
        "$1::text, g->>2, CASE WHEN (g->>3)::boolean THEN ' WITH GRANT OPTION' ELSE '' END), "
        "'; ') "
        "FROM pg_catalog.jsonb_array_elements($2::jsonb) g "
        "JOIN pg_catalog.pg_attribute t ON t.attrelid = $1::regclass AND t.attname = g->>0 "
        "AND t.attnum > 0 AND NOT t.attisdropped",
        2, params);
    if (rc == 0 && grants && db_exec_raw(ctx->d, err, grants, 0, NULL) < 0)
        rc = CPS_ERR;
    free(grants);
    free(rel);
    return rc;
}

/* Replace CPS's view: in place if PostgreSQL allows, else drop and create. */
static int replace_view(run_ctx *ctx, const view_spec *v, view_outcome *out, cps_error *err)
{
    int rc = db_savepoint(ctx->d, err);
    if (rc < 0)
        return rc;
    cps_error e;
    if (create_view(ctx, v, 1, &e) == 0) {
        *out = V_REPLACED;
        return db_release_savepoint(ctx->d, err);
    }
    if (strcmp(e.sqlstate, "42P16") && strcmp(e.sqlstate, "42804")) {
        *err = e; /* not "columns changed": a real failure */
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    }
    /* columns were removed, renamed or retyped: drop and create */
    char *grants = NULL, *columns = NULL;
    rc = db_rollback_to_savepoint(ctx->d, err);
    if (rc == 0)
        rc = saved_grants(ctx, v, &grants, &columns, err);
    if (rc == 0)
        rc = exec_on_view(ctx, v, "DROP VIEW", NULL, err);
    if (rc < 0 && !strcmp(err->sqlstate, "2BP01")) {
        char *hint = strstr(err->msg, " Hint: "); /* "use DROP ... CASCADE": not for CPS */
        if (hint)
            *hint = '\0';
        cps_error_prefix(err,
                         "other objects depend on view %s.%s, so it cannot be recreated for the "
                         "new columns; drop them, let CPS recreate the view, and create them "
                         "again",
                         ctx->cfg->cdp_schema, v->name);
    }
    if (rc == 0)
        rc = create_view(ctx, v, 0, err);
    if (rc == 0 && ((grants && db_exec_raw(ctx->d, err, grants, 0, NULL) < 0) ||
                    (columns && restore_column_grants(ctx, v, columns, err) < 0)))
        rc = cps_error_prefix(err, "granting the old privileges on %s.%s again",
                              ctx->cfg->cdp_schema, v->name);
    free(grants);
    free(columns);
    *out = V_RECREATED;
    return rc;
}

/* One attempt: check the name again, then create or replace, in one transaction. */
static int publish_once(run_ctx *ctx, const view_spec *v, view_outcome *out, cps_error *err)
{
    db *d = ctx->d;
    existing e = {0};
    int rc = db_begin(d, err);
    if (rc == 0 && db_exec(d, err, "SET LOCAL lock_timeout = '" DB_READERS_WAIT "'", 0, NULL) < 0)
        rc = CPS_ERR;
    if (rc == 0)
        rc = lookup(ctx, v->name, &e, err);
    if (rc == 0 && e.exists && !is_ours(&e)) {
        strbuf sb = STRBUF_INIT;
        foreign_message(&sb, ctx, v->name, &e);
        rc = cps_error_set(err, "%s", sb_str(&sb));
        sb_free(&sb);
    }
    if (rc == 0 && e.exists && !strcmp(e.comment, v->comment)) {
        *out = V_UNCHANGED;
        existing_free(&e);
        db_rollback(d);
        return 0;
    }
    if (rc == 0) {
        *out = V_CREATED;
        rc = e.exists ? replace_view(ctx, v, out, err) : create_view(ctx, v, 0, err);
    }
    existing_free(&e);
    if (rc == 0) {
        strbuf rest = STRBUF_INIT;
        sb_append(&rest, " IS ");
        append_literal(&rest, db_pg(d), v->comment);
        rc = exec_on_view(ctx, v, "COMMENT ON VIEW", sb_str(&rest), err);
        sb_free(&rest);
    }
    if (rc == 0)
        rc = db_commit(d, err);
    if (rc < 0)
        db_rollback(d);
    return rc;
}

/* Publish a view, retrying while readers hold it longer than DB_READERS_WAIT. */
static int publish(run_ctx *ctx, const view_spec *v, view_outcome *out, cps_error *err)
{
    for (int attempt = 1;; attempt++) {
        int rc = publish_once(ctx, v, out, err);
        if (rc == 0 || strcmp(err->sqlstate, "55P03") || db_interrupted())
            return db_interrupted() ? CPS_EINTR : rc;
        if (attempt == LOCK_ATTEMPTS)
            return cps_error_set(
                err,
                "view %s.%s is read without pause (waited %d times for " DB_READERS_WAIT
                "): it keeps its old definition; the next run tries again, or "
                "stop the long queries on it",
                ctx->cfg->cdp_schema, v->name, LOCK_ATTEMPTS);
        log_warn(STEP, "%s.%s is busy with readers; trying again (%d of %d)", ctx->cfg->cdp_schema,
                 v->name, attempt + 1, LOCK_ATTEMPTS);
        cps_error ignored;
        if (db_exec(ctx->d, &ignored, "SELECT pg_catalog.pg_sleep(1)", 0, NULL) < 0)
            return db_interrupted() ? CPS_EINTR : cps_error_set(err, "%s", ignored.msg);
    }
}

static void report(run_ctx *ctx, const view_spec *v, view_outcome o, const char *detail)
{
    json_object_set_new(run_step_stats(ctx, "production"), v->name, json_string(outcome_names[o]));
    if (o == V_UNCHANGED)
        log_info(STEP, "%s.%s is up to date (%s)", ctx->cfg->cdp_schema, v->name, detail);
    else
        log_info(STEP, "%s.%s %s (%s)", ctx->cfg->cdp_schema, v->name, outcome_names[o], detail);
}

int prod_step(run_ctx *ctx, cps_error *err)
{
    int rc = check_names(ctx, err);
    if (rc < 0)
        return rc;
    strbuf sql = STRBUF_INIT;
    if ((rc = customer_events_sql(ctx, &sql, err)) < 0) {
        sb_free(&sql);
        return rc;
    }
    view_spec events, pivot;
    spec_init(&events, CUSTOMER_EVENTS, "stitched events with their entity", sb_detach(&sql));
    pivot_col *cols = NULL;
    size_t ncols = 0;
    view_outcome o = V_UNCHANGED;
    rc = load_columns(ctx, &cols, &ncols, err);
    if (rc == 0) {
        pivot_sql(ctx, cols, ncols, &sql);
        spec_init(&pivot, PIVOT, "one row per entity, one column per attribute", sb_detach(&sql));
        rc = publish(ctx, &events, &o, err);
        if (rc == 0)
            report(ctx, &events, o, "stitched events of the event log");
        if (rc == 0)
            rc = publish(ctx, &pivot, &o, err);
        if (rc == 0) {
            char detail[64];
            snprintf(detail, sizeof detail, "%zu attribute column%s", ncols, ncols == 1 ? "" : "s");
            report(ctx, &pivot, o, detail);
            json_object_set_new(run_step_stats(ctx, "production"), "attribute_columns",
                                json_integer((json_int_t)ncols));
        }
        free(pivot.body);
        free(pivot.comment);
    }
    free(events.body);
    free(events.comment);
    free_cols(cols, ncols);
    return rc;
}
