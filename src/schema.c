/*
 * schema — create CPS's tables, indexes, functions and triggers when missing.
 *
 * The objects are a table below, in dependency order. Each names how to find
 * it in the catalog (schema + relation, index or trigger name) and the DDL
 * that creates it. Functions are compared by their source text and replaced
 * when CPS brings a newer body.
 *
 * The trigger functions write CPS's tables on behalf of whoever fires them (a
 * loader inserting events, an operator deleting from failed_events), who need
 * no rights on CPS's schemas: they run with the rights of CPS's role that owns
 * them (SECURITY DEFINER), with a search_path nobody can plant objects in, and
 * only their owner may attach them to a trigger. One installed without all
 * that (by an older CPS, or changed by hand) counts as out of date.
 */
#include "schema.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

typedef enum {
    OBJ_SCHEMA,
    OBJ_TABLE,
    OBJ_INDEX,
    OBJ_FUNCTION,         /* runs with the rights of its caller */
    OBJ_TRIGGER_FUNCTION, /* runs with the rights of its owner, CPS's role (DEFINER) */
    OBJ_TRIGGER
} obj_kind;
typedef enum { S_CDP, S_CE, S_PS, S_ATTR } schema_key;

typedef struct schema_object {
    obj_kind kind;
    schema_key schema;
    const char *name; /* relation, index, function or trigger name */
    const char *on;   /* triggers: the table they are on (in `on_schema`) */
    schema_key on_schema;
    const char *ddl;   /* template */
    const char *after; /* extra template run in the same transaction when created */
} schema_object;

/* The attributes of every OBJ_TRIGGER_FUNCTION, and its proconfig as the
 * catalog shows them. Its body names everything with its schema. */
#define DEFINER             "SECURITY DEFINER SET search_path = pg_catalog, pg_temp "
#define DEFINER_SEARCH_PATH "search_path=pg_catalog, pg_temp"

/* The body of every PL/pgSQL trigger function: the queue may be missing (it is
 * dropped to re-stitch from scratch); then there is nothing to do, since the
 * next run stitches everything anyway. */
#define QUEUE_EXISTS                                                                               \
    "pg_catalog.to_regclass(pg_catalog.quote_ident(" /* */ "{ps_lit}"                              \
    ") || '.customer_events_to_process') IS NOT NULL"

#define ENQUEUE_FROM(select)                                                                       \
    "INSERT INTO {ps}.customer_events_to_process AS q (customer_event_id) " select                 \
    " ON CONFLICT (customer_event_id) DO UPDATE SET customer_event_id = q.customer_event_id;"

/* The table reads best laid out by hand. */
/* clang-format off */
static const schema_object objects[] = {
    {OBJ_SCHEMA, S_CDP, NULL, NULL, 0, "CREATE SCHEMA IF NOT EXISTS {cdp}", NULL},
    {OBJ_SCHEMA, S_CE, NULL, NULL, 0, "CREATE SCHEMA IF NOT EXISTS {ce}", NULL},
    {OBJ_SCHEMA, S_PS, NULL, NULL, 0, "CREATE SCHEMA IF NOT EXISTS {ps}", NULL},
    {OBJ_SCHEMA, S_ATTR, NULL, NULL, 0, "CREATE SCHEMA IF NOT EXISTS {attr}", NULL},

    /* §2.1 inputs: minimal versions when the CDP has none. */
    {OBJ_TABLE, S_CDP, "attributes", NULL, 0,
     "CREATE TABLE {cdp}.attributes (id varchar(255) PRIMARY KEY, name text, data_type text)",
     NULL},
    {OBJ_TABLE, S_CDP, "events", NULL, 0,
     "CREATE TABLE {cdp}.events (id varchar(255) PRIMARY KEY, source_id text, type text, "
     "version text, name text)",
     NULL},
    {OBJ_TABLE, S_CDP, "sources", NULL, 0,
     "CREATE TABLE {cdp}.sources (id varchar(255) PRIMARY KEY, name text)", NULL},
    {OBJ_TABLE, S_CE, "customer_events", NULL, 0,
     "CREATE TABLE {ce}.customer_events (id text PRIMARY KEY, customer_entity_id text, "
     "event_id text, source_id text, event_time timestamp, type text, version text, "
     "payload jsonb, created timestamp DEFAULT now())",
     NULL},
    {OBJ_TABLE, S_PS, "stitching_attributes_config", NULL, 0,
     "CREATE TABLE {ps}.stitching_attributes_config ("
     "attribute_id varchar(255) REFERENCES {cdp}.attributes(id), "
     "event_id varchar(255) REFERENCES {cdp}.events(id), value_expression text)",
     NULL},
    {OBJ_INDEX, S_PS, "stitching_attributes_config_attribute_id_idx", NULL, 0,
     "CREATE INDEX stitching_attributes_config_attribute_id_idx "
     "ON {ps}.stitching_attributes_config (attribute_id)",
     NULL},
    {OBJ_INDEX, S_PS, "stitching_attributes_config_event_id_idx", NULL, 0,
     "CREATE INDEX stitching_attributes_config_event_id_idx "
     "ON {ps}.stitching_attributes_config (event_id)",
     NULL},
    {OBJ_INDEX, S_PS, "stitching_attributes_config_event_id_attribute_id_idx", NULL, 0,
     "CREATE UNIQUE INDEX stitching_attributes_config_event_id_attribute_id_idx "
     "ON {ps}.stitching_attributes_config (event_id, attribute_id)",
     NULL},
    {OBJ_TABLE, S_ATTR, "attributes", NULL, 0,
     "CREATE TABLE {attr}.attributes (id text PRIMARY KEY, definition jsonb)", NULL},
    {OBJ_TABLE, S_ATTR, "context", NULL, 0,
     "CREATE TABLE {attr}.context (key text PRIMARY KEY, value text, query text, "
     "modified timestamp)",
     NULL},

    /* (the objects above are the inputs of SPEC §2.1: schema_ensure_inputs stops here) */
    /* CPS's own bookkeeping. */
    {OBJ_TABLE, S_PS, "state", NULL, 0,
     "CREATE TABLE {ps}.state (key text PRIMARY KEY, value text, modified timestamptz)", NULL},
    {OBJ_TABLE, S_PS, "runs", NULL, 0,
     "CREATE TABLE {ps}.runs (id bigserial PRIMARY KEY, started_at timestamptz NOT NULL, "
     "finished_at timestamptz, status text NOT NULL, stats jsonb)",
     NULL},

    /* §2.2 stitching results. */
    {OBJ_TABLE, S_PS, "matching", NULL, 0,
     "CREATE TABLE {ps}.matching (customer_event_id text PRIMARY KEY, "
     "customer_entity_id text NOT NULL)",
     NULL},
    {OBJ_INDEX, S_PS, "matching_customer_entity_id_idx", NULL, 0,
     "CREATE INDEX matching_customer_entity_id_idx ON {ps}.matching (customer_entity_id)", NULL},
    {OBJ_TABLE, S_PS, "identifiers", NULL, 0,
     "CREATE TABLE {ps}.identifiers (attribute_id text, value text, customer_entity_id text, "
     "PRIMARY KEY (attribute_id, value))",
     NULL},
    {OBJ_INDEX, S_PS, "identifiers_customer_entity_id_idx", NULL, 0,
     "CREATE INDEX identifiers_customer_entity_id_idx ON {ps}.identifiers (customer_entity_id)",
     NULL},
    {OBJ_TABLE, S_PS, "entity_merges", NULL, 0,
     "CREATE TABLE {ps}.entity_merges (merged_id text PRIMARY KEY, into_id text NOT NULL, "
     "merged_at timestamptz NOT NULL)",
     NULL},
    {OBJ_INDEX, S_PS, "entity_merges_into_id_idx", NULL, 0,
     "CREATE INDEX entity_merges_into_id_idx ON {ps}.entity_merges (into_id)", NULL},
    {OBJ_TABLE, S_PS, "entities", NULL, 0,
     "CREATE TABLE {ps}.entities (id text PRIMARY KEY, first_event_time timestamp, "
     "first_event_id text NOT NULL, created timestamptz NOT NULL DEFAULT now())",
     NULL},
    {OBJ_TABLE, S_PS, "failed_events", NULL, 0,
     "CREATE TABLE {ps}.failed_events (customer_event_id text PRIMARY KEY, attribute_id text, "
     "event_id text, error text, failed_at timestamptz)",
     NULL},
    /* A missing queue means "stitch everything from scratch" (SPEC §2.2). */
    {OBJ_TABLE, S_PS, "customer_events_to_process", NULL, 0,
     "CREATE TABLE {ps}.customer_events_to_process (customer_event_id text PRIMARY KEY)",
     "INSERT INTO {ps}.state (key, value, modified) VALUES ('" STATE_RESTITCH "', 'pending', "
     "now()) ON CONFLICT (key) DO UPDATE SET value = 'pending', modified = now()"},
    {OBJ_FUNCTION, S_PS, "resolve_entity", NULL, 0,
     "CREATE OR REPLACE FUNCTION {ps}.resolve_entity(entity_id text) RETURNS text "
     "LANGUAGE sql STABLE AS $cps$\n"
     "SELECT coalesce((SELECT m.into_id FROM {ps}.entity_merges m "
     "WHERE m.merged_id = entity_id), entity_id)\n$cps$",
     NULL},

    /* The queue is fed by triggers on the event log. */
    {OBJ_TRIGGER_FUNCTION, S_PS, "cps_queue_inserted", NULL, 0,
     "CREATE OR REPLACE FUNCTION {ps}.cps_queue_inserted() RETURNS trigger "
     "LANGUAGE plpgsql " DEFINER "AS $cps$\nBEGIN\n  IF " QUEUE_EXISTS " THEN\n    " ENQUEUE_FROM(
         "SELECT n.id FROM cps_new n") "\n  END IF;\n  RETURN NULL;\nEND\n$cps$",
     NULL},
    /* An update queues the events whose row changed, compared as stored
     * (`*<>`): jsonb's equality calls {"x": 1} and {"x": 1.0} equal although
     * payload->>'x' differs, and a CDP column of a type without an equality
     * operator (json, point) must not make the CDP's updates fail. */
    {OBJ_TRIGGER_FUNCTION, S_PS, "cps_queue_updated", NULL, 0,
     "CREATE OR REPLACE FUNCTION {ps}.cps_queue_updated() RETURNS trigger "
     "LANGUAGE plpgsql " DEFINER "AS $cps$\nBEGIN\n  IF " QUEUE_EXISTS " THEN\n    " ENQUEUE_FROM(
         "SELECT n.id FROM cps_new n LEFT JOIN cps_old o ON o.id = n.id "
         "WHERE o.id IS NULL OR o OPERATOR(pg_catalog.*<>) n") "\n  END IF;\n  RETURN NULL;\nEND\n$cps$",
     NULL},
    {OBJ_TRIGGER, S_CE, "cps_queue_inserted", "customer_events", S_CE,
     "CREATE TRIGGER cps_queue_inserted AFTER INSERT ON {ce}.customer_events "
     "REFERENCING NEW TABLE AS cps_new FOR EACH STATEMENT "
     "EXECUTE FUNCTION {ps}.cps_queue_inserted()",
     NULL},
    {OBJ_TRIGGER, S_CE, "cps_queue_updated", "customer_events", S_CE,
     "CREATE TRIGGER cps_queue_updated AFTER UPDATE ON {ce}.customer_events "
     "REFERENCING OLD TABLE AS cps_old NEW TABLE AS cps_new FOR EACH STATEMENT "
     "EXECUTE FUNCTION {ps}.cps_queue_updated()",
     NULL},

    /* Deleting a set-aside event's row puts the event back in the queue. */
    {OBJ_TRIGGER_FUNCTION, S_PS, "cps_failed_requeue", NULL, 0,
     "CREATE OR REPLACE FUNCTION {ps}.cps_failed_requeue() RETURNS trigger "
     "LANGUAGE plpgsql " DEFINER "AS $cps$\nBEGIN\n"
     "  IF pg_catalog.current_setting('cps.internal', true) = 'on' OR NOT " QUEUE_EXISTS
     " THEN\n    RETURN NULL;\n  END IF;\n"
     "  IF TG_OP = 'TRUNCATE' THEN\n    "
     ENQUEUE_FROM("SELECT f.customer_event_id FROM {ps}.failed_events f")
     "\n  ELSE\n    "
     ENQUEUE_FROM("SELECT o.customer_event_id FROM cps_old o")
     "\n  END IF;\n  RETURN NULL;\nEND\n$cps$",
     NULL},
    {OBJ_TRIGGER, S_PS, "cps_failed_requeue", "failed_events", S_PS,
     "CREATE TRIGGER cps_failed_requeue AFTER DELETE ON {ps}.failed_events "
     "REFERENCING OLD TABLE AS cps_old FOR EACH STATEMENT "
     "EXECUTE FUNCTION {ps}.cps_failed_requeue()",
     NULL},
    {OBJ_TRIGGER, S_PS, "cps_failed_requeue_truncate", "failed_events", S_PS,
     "CREATE TRIGGER cps_failed_requeue_truncate BEFORE TRUNCATE ON {ps}.failed_events "
     "FOR EACH STATEMENT EXECUTE FUNCTION {ps}.cps_failed_requeue()",
     NULL},

    /* §2.3 attribute results. */
    {OBJ_TABLE, S_ATTR, "customer_entities", NULL, 0,
     /* room on each page, so that recording activity (modified) is a HOT update */
     "CREATE TABLE {attr}.customer_entities (id text PRIMARY KEY, created timestamptz, "
     "modified timestamptz, calculated timestamptz) WITH (fillfactor = 90)",
     "INSERT INTO {ps}.state (key, value, modified) VALUES ('" STATE_ENTITIES_RESYNC
     "', 'pending', now()) ON CONFLICT (key) DO UPDATE SET value = 'pending', modified = "
     "now()"},
    /* Entities with activity since their last calculation (SPEC §4.5), marked
       in the transaction that sets their `modified` and unmarked in the one
       that sets `calculated`. No index reads `modified`, so recording activity
       is a HOT update. Installs of CPS 1.0 found them with a partial index on
       `modified > calculated`: its due entities are marked, and it goes. */
    {OBJ_TABLE, S_PS, "entities_to_calculate", NULL, 0,
     "CREATE TABLE {ps}.entities_to_calculate (customer_entity_id text PRIMARY KEY)",
     "INSERT INTO {ps}.entities_to_calculate (customer_entity_id) "
     "SELECT id FROM {attr}.customer_entities WHERE modified > calculated;"
     "SET LOCAL client_min_messages = warning;" /* no "does not exist" notice */
     "DROP INDEX IF EXISTS {attr}.customer_entities_due_idx"},
    /* Anyone else who sets modified past calculated marks the entity too, row by
       row; CPS's own sessions (cps.internal) mark in bulk and skip the trigger. */
    {OBJ_TRIGGER_FUNCTION, S_PS, "cps_entities_active", NULL, 0,
     "CREATE OR REPLACE FUNCTION {ps}.cps_entities_active() RETURNS trigger "
     "LANGUAGE plpgsql " DEFINER "AS $cps$\nBEGIN\n"
     /* dropped, it is recreated with every due entity marked: nothing to do */
     "  IF pg_catalog.to_regclass(pg_catalog.quote_ident({ps_lit}) || "
     "'.entities_to_calculate') IS NOT NULL THEN\n"
     "    INSERT INTO {ps}.entities_to_calculate (customer_entity_id) VALUES (NEW.id)\n"
     "    ON CONFLICT DO NOTHING;\n  END IF;\n  RETURN NULL;\nEND\n$cps$",
     NULL},
    {OBJ_TRIGGER, S_ATTR, "cps_entities_active", "customer_entities", S_ATTR,
     "CREATE TRIGGER cps_entities_active AFTER INSERT OR UPDATE OF modified, calculated "
     "ON {attr}.customer_entities FOR EACH ROW WHEN (NEW.modified > NEW.calculated AND "
     "pg_catalog.current_setting('cps.internal', true) IS DISTINCT FROM 'on') "
     "EXECUTE FUNCTION {ps}.cps_entities_active()",
     NULL},
    {OBJ_INDEX, S_ATTR, "customer_entities_calculated_idx", NULL, 0,
     "CREATE INDEX customer_entities_calculated_idx ON {attr}.customer_entities (calculated)",
     NULL},
    {OBJ_TABLE, S_ATTR, "customer_attributes", NULL, 0,
     "CREATE TABLE {attr}.customer_attributes (customer_entity_id text REFERENCES "
     "{attr}.customer_entities(id) ON DELETE CASCADE, attribute_id text, value text)",
     NULL},
    {OBJ_INDEX, S_ATTR, "customer_attributes_entity_attribute_idx", NULL, 0,
     "CREATE INDEX customer_attributes_entity_attribute_idx "
     "ON {attr}.customer_attributes (customer_entity_id, attribute_id)",
     NULL},
    {OBJ_INDEX, S_ATTR, "customer_attributes_attribute_id_idx", NULL, 0,
     "CREATE INDEX customer_attributes_attribute_id_idx "
     "ON {attr}.customer_attributes (attribute_id)",
     NULL},
    /* Rows of customer_entities removed by anyone but CPS are recreated next run. */
    {OBJ_TRIGGER_FUNCTION, S_PS, "cps_entities_removed", NULL, 0,
     "CREATE OR REPLACE FUNCTION {ps}.cps_entities_removed() RETURNS trigger "
     "LANGUAGE plpgsql " DEFINER "AS $cps$\nBEGIN\n"
     "  IF pg_catalog.current_setting('cps.internal', true) IS DISTINCT FROM 'on' THEN\n"
     "    INSERT INTO {ps}.state (key, value, modified) VALUES ('" STATE_ENTITIES_RESYNC
     "', 'pending', pg_catalog.now())\n"
     "    ON CONFLICT (key) DO UPDATE SET value = 'pending', modified = pg_catalog.now();\n"
     "  END IF;\n  RETURN NULL;\nEND\n$cps$",
     NULL},
    {OBJ_TRIGGER, S_ATTR, "cps_entities_deleted", "customer_entities", S_ATTR,
     "CREATE TRIGGER cps_entities_deleted AFTER DELETE ON {attr}.customer_entities "
     "FOR EACH STATEMENT EXECUTE FUNCTION {ps}.cps_entities_removed()",
     NULL},
    {OBJ_TRIGGER, S_ATTR, "cps_entities_truncated", "customer_entities", S_ATTR,
     "CREATE TRIGGER cps_entities_truncated AFTER TRUNCATE ON {attr}.customer_entities "
     "FOR EACH STATEMENT EXECUTE FUNCTION {ps}.cps_entities_removed()",
     NULL},

    /* §2.4 caches. */
    {OBJ_TABLE, S_ATTR, "cached_attributes_counts_customers_per_attribute", NULL, 0,
     "CREATE TABLE {attr}.cached_attributes_counts_customers_per_attribute ("
     "attribute_id text PRIMARY KEY, count bigint, modified timestamp)",
     NULL},
    {OBJ_TABLE, S_ATTR, "cached_attribute_values_counts", NULL, 0,
     "CREATE TABLE {attr}.cached_attribute_values_counts (attribute_id text, value text, "
     "count bigint, modified timestamp)",
     NULL},
    {OBJ_INDEX, S_ATTR, "cached_attribute_values_counts_attribute_id_idx", NULL, 0,
     "CREATE INDEX cached_attribute_values_counts_attribute_id_idx "
     "ON {attr}.cached_attribute_values_counts (attribute_id)",
     NULL},
    {OBJ_TABLE, S_CDP, "cached_source_events_per_date", NULL, 0,
     "CREATE TABLE {cdp}.cached_source_events_per_date (source_id text, date date, "
     "count bigint, modified timestamp)",
     NULL},
};
/* clang-format on */

/* The objects before the first one in CPS's own state table are the inputs. */
static size_t inputs_count(void)
{
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++)
        if (objects[i].kind == OBJ_TABLE && !strcmp(objects[i].name, "state"))
            return i;
    return 0;
}

static const char *raw_schema(const cps_config *cfg, schema_key k)
{
    switch (k) {
    case S_CDP:
        return cfg->cdp_schema;
    case S_CE:
        return cfg->ce_schema;
    case S_PS:
        return cfg->ps_schema;
    case S_ATTR:
        return cfg->attr_schema;
    }
    return NULL;
}

int schema_relation_exists(db *d, const char *schema, const char *name, int *exists, cps_error *err)
{
    const char *params[] = {schema, name};
    char *v = NULL;
    int rc = db_query_value(d, err, &v, NULL,
                            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = $1 AND c.relname = $2)",
                            2, params);
    *exists = v && v[0] == 't';
    free(v);
    return rc;
}

/* Is the object there (and, for a function, with the body this CPS brings)? */
static int object_present(db *d, const schema_object *o, int *present, cps_error *err)
{
    const cps_config *cfg = db_config(d);
    const char *schema = raw_schema(cfg, o->schema);
    const char *sql = NULL;
    const char *params[4] = {schema, o->name, NULL, DEFINER_SEARCH_PATH};
    int n = 2;
    char *body = NULL;
    bool definer = o->kind == OBJ_TRIGGER_FUNCTION;
    switch (o->kind) {
    case OBJ_SCHEMA:
        sql = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)";
        n = 1;
        break;
    case OBJ_TABLE:
    case OBJ_INDEX:
        return schema_relation_exists(d, schema, o->name, present, err);
    case OBJ_FUNCTION:
    case OBJ_TRIGGER_FUNCTION: {
        /* the body is what stands between the $cps$ quotes of the DDL */
        char *ddl = db_sql(d, o->ddl);
        char *start = strstr(ddl, "$cps$");
        char *end = start ? strstr(start + 5, "$cps$") : NULL;
        body = (start && end) ? xstrndup(start + 5, (size_t)(end - start - 5)) : xstrdup("");
        free(ddl);
        params[2] = body;
        n = definer ? 4 : 3;
        sql = definer ? "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p "
                        "JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace "
                        "WHERE s.nspname = $1 AND p.proname = $2 AND p.prosrc = $3 "
                        "AND p.prosecdef AND p.proconfig = ARRAY[$4::text] "
                        "AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE'))"
                      : "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p "
                        "JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace "
                        "WHERE s.nspname = $1 AND p.proname = $2 AND p.prosrc = $3)";
        break;
    }
    case OBJ_TRIGGER:
        params[0] = raw_schema(cfg, o->on_schema);
        params[1] = o->on;
        params[2] = o->name;
        n = 3;
        sql = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t "
              "JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
              "JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace "
              "WHERE s.nspname = $1 AND c.relname = $2 AND t.tgname = $3)";
        break;
    }
    char *v = NULL;
    int rc = db_query_value(d, err, &v, NULL, sql, n, params);
    *present = v && v[0] == 't';
    free(v);
    free(body);
    return rc;
}

static const char *object_label(const schema_object *o, char *buf, size_t n, const cps_config *cfg)
{
    static const char *kinds[] = {"schema", "table", "index", "function", "function", "trigger"};
    snprintf(buf, n, "%s %s%s%s", kinds[o->kind], raw_schema(cfg, o->schema), o->name ? "." : "",
             o->name ? o->name : "");
    return buf;
}

/* Only its owner may attach a trigger function to a trigger: anyone else
 * could make it write CPS's tables with CPS's rights. (Triggers that fire it
 * need no EXECUTE right: PostgreSQL checks it when a trigger is created.) */
static int revoke_execute(db *d, const schema_object *o, cps_error *err)
{
    char *sql = xasprintf("REVOKE EXECUTE ON FUNCTION {ps}.%s() FROM PUBLIC", o->name);
    int64_t rc = db_exec(d, err, sql, 0, NULL);
    free(sql);
    return rc < 0 ? (int)rc : 0;
}

static int ensure_objects(db *d, size_t count, int *created, cps_error *err)
{
    const cps_config *cfg = db_config(d);
    int made = 0;
    if (created)
        *created = 0;
    for (size_t i = 0; i < count; i++) {
        const schema_object *o = &objects[i];
        int present = 0;
        char label[256];
        object_label(o, label, sizeof label, cfg);
        int rc = object_present(d, o, &present, err);
        if (rc < 0)
            return cps_error_prefix(err, "checking %s", label), rc;
        if (present)
            continue;
        /* a function by that name that is not CPS's current one is out of date */
        bool replacing = false;
        if (o->kind == OBJ_FUNCTION || o->kind == OBJ_TRIGGER_FUNCTION) {
            const char *params[] = {raw_schema(cfg, o->schema), o->name};
            char *v = NULL;
            rc = db_query_value(d, err, &v, NULL,
                                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p "
                                "JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace "
                                "WHERE s.nspname = $1 AND p.proname = $2)",
                                2, params);
            replacing = rc == 0 && v && v[0] == 't';
            free(v);
            if (rc < 0)
                return cps_error_prefix(err, "checking %s", label), rc;
        }
        if ((rc = db_begin(d, err)) < 0)
            return rc;
        if ((rc = (int)db_exec(d, err, o->ddl, 0, NULL)) >= 0 && o->after)
            rc = (int)db_exec(d, err, o->after, 0, NULL);
        if (rc >= 0 && o->kind == OBJ_TRIGGER_FUNCTION)
            rc = revoke_execute(d, o, err);
        if (rc >= 0)
            rc = db_commit(d, err);
        if (rc < 0) {
            db_rollback(d);
            cps_error_prefix(err, "creating %s", label);
            return rc;
        }
        if (replacing)
            log_info("INIT", "replaced %s (it was out of date)", label);
        else
            log_info("INIT", "created %s", label);
        made++;
    }
    if (created)
        *created = made;
    return 0;
}

int schema_ensure(db *d, int *created, cps_error *err)
{
    return ensure_objects(d, sizeof objects / sizeof objects[0], created, err);
}

int schema_ensure_inputs(db *d, cps_error *err)
{
    return ensure_objects(d, inputs_count(), NULL, err);
}

int schema_state_get(db *d, const char *key, int *set, cps_error *err)
{
    const char *params[] = {key};
    char *v = NULL;
    int rc = db_query_value(d, err, &v, NULL,
                            "SELECT EXISTS (SELECT 1 FROM {ps}.state WHERE key = $1 "
                            "AND value = 'pending')",
                            1, params);
    *set = v && v[0] == 't';
    free(v);
    return rc;
}

int schema_state_set(db *d, const char *key, cps_error *err)
{
    const char *params[] = {key};
    int64_t rc = db_exec(d, err,
                         "INSERT INTO {ps}.state (key, value, modified) VALUES ($1, 'pending', "
                         "now()) ON CONFLICT (key) DO UPDATE SET value = 'pending', "
                         "modified = now()",
                         1, params);
    return rc < 0 ? (int)rc : 0;
}

int schema_state_clear(db *d, const char *key, cps_error *err)
{
    const char *params[] = {key};
    int64_t rc = db_exec(d, err, "DELETE FROM {ps}.state WHERE key = $1", 1, params);
    return rc < 0 ? (int)rc : 0;
}
