/*
 * cps-gen — writes a sample Customer Data Platform into PostgreSQL for the
 * demo, the tests and the benchmark: the CDP's sources and event definitions,
 * a stitching configuration, attribute definitions and context, an event log
 * of realistic (and realistically dirty) tracking data, and the ground truth
 * (the real person behind every event) in cps_gen.truth.
 *
 * This file is the command line and the database side; the data come from
 * gen_catalog (definitions) and gen_model (people and events). Everything
 * bulk travels through one COPY per table, in one transaction: a failed or
 * interrupted run leaves nothing behind.
 */
#include "config.h"
#include "db.h"
#include "gen_catalog.h"
#include "gen_model.h"
#include "log.h"
#include "schema.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CPS_VERSION
#define CPS_VERSION "0.0.0"
#endif

/* A status of this program only: the database is not in a state to generate
 * into (events exist, or nothing to append to). Exit status 2. */
#define GEN_EREFUSED (-10)

/* Set err's message and return GEN_EREFUSED. */
static int refuse(cps_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(cps_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->sqlstate[0] = '\0';
    return GEN_EREFUSED;
}

#define DEFAULT_EVENTS 10000
#define DEFAULT_SEED   42
/* PostgreSQL's timestamps go further, but nobody wants events after 9999. */
#define TIME_LIMIT_US INT64_C(253402300799000000)

static const char usage_text[] =
    "Usage: cps-gen [-c FILE] [--dsn DSN] [--events N] [--seed S] [--persons P]\n"
    "               [--append N] [--quiet]\n"
    "\n"
    "Writes a sample Customer Data Platform into PostgreSQL: sources, event\n"
    "definitions, stitching configuration, attribute definitions, context, N\n"
    "customer events, and the real person behind each event (cps_gen.truth).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   the JSON configuration of cps (connection, schemas)\n"
    "      --dsn DSN       libpq connection string or URI; replaces the connection\n"
    "                      keys of the config (\"dsn\", \"postgresql\")\n"
    "      --events N      events of a fresh data set (default 10000); the event\n"
    "                      log must be empty\n"
    "      --seed S        random seed, 0 to 2^63-1 (default 42)\n"
    "      --persons P     size of the population (default: one per 6 events)\n"
    "      --append N      add N events to the data set in the database, with the\n"
    "                      seed and population stored in cps_gen.params\n"
    "  -q, --quiet         errors and warnings only\n"
    "  -h, --help          this help\n"
    "  -V, --version       print the version\n"
    "\n"
    "The same seed and sizes give the same data, row for row; --events 1000 and\n"
    "then --append 500 give the same events as --events 1500 (with the same\n"
    "--persons). Exit status: 0 success; 1 database error; 2 bad usage, or the\n"
    "database already holds events (without --append) or has no data set to\n"
    "append to.\n";

typedef struct options {
    const char *config_path;
    const char *dsn;
    uint64_t events;
    uint64_t seed;
    uint64_t persons; /* 0 = default */
    uint64_t append;
    int appending;
    int seed_given;
    int quiet;
} options;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("cps-gen: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'cps-gen --help'.\n", stderr);
    return EXIT_USAGE;
}

/* A whole number from `min` to `max` given to option `opt`. */
static int parse_count(const char *arg, const char *opt, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (!*arg || *arg == '-' || *arg == '+' || errno || *end || v < min || v > max) {
        fprintf(stderr, "cps-gen: %s needs a whole number from %llu to %llu, not '%s'\n", opt,
                (unsigned long long)min, (unsigned long long)max, arg);
        fputs("Try 'cps-gen --help'.\n", stderr);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* Parse the command line into o; returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, options *o)
{
    enum { O_DSN = 256, O_EVENTS, O_SEED, O_PERSONS, O_APPEND };
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"dsn", required_argument, NULL, O_DSN},
                                             {"events", required_argument, NULL, O_EVENTS},
                                             {"seed", required_argument, NULL, O_SEED},
                                             {"persons", required_argument, NULL, O_PERSONS},
                                             {"append", required_argument, NULL, O_APPEND},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    const uint64_t max_events = UINT64_C(1) << 40;
    int events_given = 0, c, rc;
    memset(o, 0, sizeof *o);
    o->events = DEFAULT_EVENTS;
    o->seed = DEFAULT_SEED;
    while ((c = getopt_long(argc, argv, "c:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case O_DSN:
            o->dsn = optarg;
            break;
        case O_EVENTS:
            events_given = 1;
            if ((rc = parse_count(optarg, "--events", 0, max_events, &o->events)))
                return rc;
            break;
        case O_SEED:
            o->seed_given = 1;
            if ((rc = parse_count(optarg, "--seed", 0, INT64_MAX, &o->seed)))
                return rc;
            break;
        case O_PERSONS:
            if ((rc = parse_count(optarg, "--persons", 1, GEN_MAX_PERSONS, &o->persons)))
                return rc;
            break;
        case O_APPEND:
            o->appending = 1;
            if ((rc = parse_count(optarg, "--append", 0, max_events, &o->append)))
                return rc;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'V':
            printf("cps-gen %s (data model %d)\n", CPS_VERSION, GEN_MODEL_VERSION);
            return EXIT_OK;
        default:
            fputs("Try 'cps-gen --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->appending && events_given)
        return usage_error("%s", "--events and --append exclude each other: --events makes a "
                                 "fresh data set, --append N adds N events to the stored one");
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */

/* cps-gen's own schema: the ground truth and the parameters of the data set. */
static int ensure_gen_tables(db *d, cps_error *err)
{
    static const char *const ddl[] = {
        "CREATE SCHEMA IF NOT EXISTS cps_gen",
        "CREATE TABLE IF NOT EXISTS cps_gen.truth (customer_event_id text PRIMARY KEY, "
        "person_id bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS cps_gen.params (model_version integer NOT NULL, "
        "seed bigint NOT NULL, persons bigint NOT NULL, events bigint NOT NULL, "
        "time_origin timestamp NOT NULL, event_interval_us bigint NOT NULL)",
        "COMMENT ON TABLE cps_gen.truth IS 'cps-gen: the real person behind every "
        "generated customer event'",
        "COMMENT ON TABLE cps_gen.params IS 'cps-gen: seed, population, events generated "
        "so far (event indexes 0..events-1), time of event 0 and time between events'",
    };
    for (size_t k = 0; k < sizeof ddl / sizeof ddl[0]; k++)
        if (db_exec(d, err, ddl[k], 0, NULL) < 0)
            return cps_error_prefix(err, "creating cps-gen's tables in schema cps_gen");
    return 0;
}

/*
 * Fill a temporary staging table with COPY: `create` makes it, `table` names
 * it (and its columns) for COPY, `cells` holds nrows * ncols strings row by row.
 */
static int stage(db *d, const char *create, const char *table, const char *const *cells, int nrows,
                 int ncols, cps_error *err)
{
    if (db_exec(d, err, create, 0, NULL) < 0)
        return CPS_ERR;
    char *sql = xasprintf("COPY %s FROM STDIN", table);
    db_copy *c = db_copy_in_begin(d, sql, err);
    free(sql);
    if (!c)
        return CPS_ERR;
    for (int r = 0; r < nrows; r++) {
        for (int k = 0; k < ncols; k++)
            copyin_str(c, cells[r * ncols + k]);
        copyin_end_row(c);
    }
    return db_copy_in_end(c, NULL, err);
}

/*
 * Write the CDP's definitions: sources, event definitions (id = md5(source_id
 * || type || version), computed by the database), {cdp}.attributes, the
 * stitching configuration, attribute definitions and context. Rows with the
 * same keys are updated; other rows are left alone.
 */
static int write_catalog(db *d, cps_error *err)
{
    const cps_schemas *s = db_schemas(d);
    int n_attrs = gen_nstitching_attributes + gen_nattributes;
    int n_cells = 5 * (EV_COUNT + gen_nstitching_rules + n_attrs) + 2 * gen_nsources;
    const char **cells = xcalloc((size_t)n_cells, sizeof *cells);
    char **defs = xcalloc((size_t)gen_nattributes, sizeof *defs);
    char **context = xcalloc((size_t)gen_ncontext_rows, sizeof *context);
    int rc = 0, n;

    for (n = 0; n < gen_nsources; n++) {
        cells[2 * n] = gen_sources[n].id;
        cells[2 * n + 1] = gen_sources[n].name;
    }
    rc = stage(d, "CREATE TEMP TABLE gen_sources (id text, name text) ON COMMIT DROP",
               "pg_temp.gen_sources", cells, gen_nsources, 2, err);
    if (rc == 0 && db_exec(d, err,
                           "INSERT INTO {cdp}.sources (id, name) SELECT id, name "
                           "FROM pg_temp.gen_sources ON CONFLICT (id) DO UPDATE "
                           "SET name = EXCLUDED.name",
                           0, NULL) < 0)
        rc = cps_error_prefix(err, "writing the sources");

    for (n = 0; rc == 0 && n < EV_COUNT; n++) {
        cells[4 * n] = gen_event_defs[n].source_id;
        cells[4 * n + 1] = gen_event_defs[n].type;
        cells[4 * n + 2] = gen_event_defs[n].version;
        cells[4 * n + 3] = gen_event_defs[n].name;
    }
    if (rc == 0)
        rc = stage(d,
                   "CREATE TEMP TABLE gen_events (source_id text, type text, version text, "
                   "name text) ON COMMIT DROP",
                   "pg_temp.gen_events", cells, EV_COUNT, 4, err);
    if (rc == 0 && db_exec(d, err,
                           "INSERT INTO {cdp}.events (id, source_id, type, version, name) "
                           "SELECT md5(source_id || type || version), source_id, type, version, "
                           "name FROM pg_temp.gen_events ON CONFLICT (id) DO UPDATE SET "
                           "source_id = EXCLUDED.source_id, type = EXCLUDED.type, "
                           "version = EXCLUDED.version, name = EXCLUDED.name",
                           0, NULL) < 0)
        rc = cps_error_prefix(err, "writing the event definitions");

    for (n = 0; rc == 0 && n < n_attrs; n++) {
        int stitching = n < gen_nstitching_attributes;
        const gen_cdp_attribute *sa = stitching ? &gen_stitching_attributes[n] : NULL;
        const gen_attribute *ca = stitching ? NULL : &gen_attributes[n - gen_nstitching_attributes];
        cells[3 * n] = stitching ? sa->id : ca->id;
        cells[3 * n + 1] = stitching ? sa->name : ca->name;
        cells[3 * n + 2] = stitching ? sa->data_type : ca->data_type;
    }
    if (rc == 0)
        rc = stage(d,
                   "CREATE TEMP TABLE gen_attributes (id text, name text, data_type text) "
                   "ON COMMIT DROP",
                   "pg_temp.gen_attributes", cells, n_attrs, 3, err);
    if (rc == 0 && db_exec(d, err,
                           "INSERT INTO {cdp}.attributes (id, name, data_type) "
                           "SELECT id, name, data_type FROM pg_temp.gen_attributes "
                           "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
                           "data_type = EXCLUDED.data_type",
                           0, NULL) < 0)
        rc = cps_error_prefix(err, "writing the attributes");

    for (n = 0; rc == 0 && n < gen_nstitching_rules; n++) {
        const gen_stitching_rule *r = &gen_stitching_rules[n];
        const gen_event_def *ev = &gen_event_defs[r->event];
        cells[5 * n] = r->attribute_id;
        cells[5 * n + 1] = ev->source_id;
        cells[5 * n + 2] = ev->type;
        cells[5 * n + 3] = ev->version;
        cells[5 * n + 4] = r->value_expression;
    }
    if (rc == 0)
        rc = stage(d,
                   "CREATE TEMP TABLE gen_config (attribute_id text, source_id text, type text, "
                   "version text, value_expression text) ON COMMIT DROP",
                   "pg_temp.gen_config", cells, gen_nstitching_rules, 5, err);
    if (rc == 0 && db_exec(d, err,
                           "INSERT INTO {ps}.stitching_attributes_config (attribute_id, event_id, "
                           "value_expression) SELECT attribute_id, md5(source_id || type || "
                           "version), value_expression FROM pg_temp.gen_config "
                           "ON CONFLICT (event_id, attribute_id) DO UPDATE "
                           "SET value_expression = EXCLUDED.value_expression",
                           0, NULL) < 0)
        rc = cps_error_prefix(err, "writing the stitching configuration");

    for (n = 0; rc == 0 && n < gen_nattributes; n++) {
        defs[n] = gen_attribute_json(&gen_attributes[n], s);
        cells[2 * n] = gen_attributes[n].id;
        cells[2 * n + 1] = defs[n];
    }
    if (rc == 0)
        rc = stage(d, "CREATE TEMP TABLE gen_definitions (id text, definition text) ON COMMIT DROP",
                   "pg_temp.gen_definitions", cells, gen_nattributes, 2, err);
    if (rc == 0 && db_exec(d, err,
                           "INSERT INTO {attr}.attributes (id, definition) "
                           "SELECT id, definition::jsonb FROM pg_temp.gen_definitions "
                           "ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition",
                           0, NULL) < 0)
        rc = cps_error_prefix(err, "writing the attribute definitions");

    for (n = 0; rc == 0 && n < gen_ncontext_rows; n++) {
        context[n] = sql_expand(s, gen_context_rows[n].query);
        cells[2 * n] = gen_context_rows[n].key;
        cells[2 * n + 1] = context[n];
    }
    if (rc == 0)
        rc = stage(d, "CREATE TEMP TABLE gen_context (key text, query text) ON COMMIT DROP",
                   "pg_temp.gen_context", cells, gen_ncontext_rows, 2, err);
    if (rc == 0 && db_exec(d, err,
                           "INSERT INTO {attr}.context (key, value, query, modified) "
                           "SELECT key, NULL, query, NULL FROM pg_temp.gen_context "
                           "ON CONFLICT (key) DO UPDATE SET query = EXCLUDED.query, "
                           "value = NULL, modified = NULL",
                           0, NULL) < 0)
        rc = cps_error_prefix(err, "writing the context");

    for (n = 0; n < gen_nattributes; n++)
        free(defs[n]);
    for (n = 0; n < gen_ncontext_rows; n++)
        free(context[n]);
    free(defs);
    free(context);
    free(cells);
    return rc;
}

/* The event_id of every event kind: md5(source_id || type || version), as
 * the database computes it. */
static int event_ids(db *d, char ids[EV_COUNT][33], cps_error *err)
{
    for (int k = 0; k < EV_COUNT; k++) {
        const char *params[] = {gen_event_defs[k].source_id, gen_event_defs[k].type,
                                gen_event_defs[k].version};
        char *v = NULL;
        if (db_query_value(d, err, &v, NULL, "SELECT md5($1 || $2 || $3)", 3, params) < 0)
            return CPS_ERR;
        snprintf(ids[k], 33, "%s", v ? v : "");
        free(v);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The data set                                                             */

/* What a run writes: events [first, first + count) of the data set. */
typedef struct plan {
    gen_params params;
    uint64_t first;
    uint64_t count;
} plan;

/* Stop a COPY on SIGINT/SIGTERM; checked every few thousand rows. */
static int interrupted(db_copy *c, cps_error *err)
{
    if (!db_interrupted())
        return 0;
    db_copy_in_abort(c);
    cps_error_set(err, "interrupted by signal %d; nothing was written", db_interrupted());
    return 1;
}

/* One row of a streamed table for event ev (made with or without payload). */
typedef struct row_stream {
    const char *copy; /* the COPY ... FROM STDIN statement ({ce} etc. expanded by db_sql) */
    const char *what; /* for errors */
    const char *unit; /* for progress */
    int with_payload; /* gen_event_make's last argument */
    void (*row)(db_copy *c, const gen_event *ev, void *arg);
    void *arg;
} row_stream;

/* Stream one row per event of the plan through one COPY, with progress and
 * cancellation; all or nothing. */
static int copy_stream(db *d, const gen_model *m, const plan *pl, const row_stream *rs,
                       cps_error *err)
{
    char *sql = db_sql(d, rs->copy);
    db_copy *c = db_copy_in_begin(d, sql, err);
    free(sql);
    if (!c)
        return cps_error_prefix(err, "writing %s", rs->what);
    progress *pr = progress_begin("GEN", rs->unit, pl->count);
    gen_event ev = {.payload = STRBUF_INIT};
    int rc = 0;
    for (uint64_t n = 0; n < pl->count; n++) {
        gen_event_make(m, pl->first + n, &ev, rs->with_payload);
        rs->row(c, &ev, rs->arg);
        copyin_end_row(c);
        if ((n & 4095) == 4095) {
            progress_add(pr, 4096);
            if (interrupted(c, err)) {
                rc = CPS_EINTR;
                break;
            }
        }
    }
    if (rc == 0) {
        progress_add(pr, pl->count & 4095);
        rc = db_copy_in_end(c, NULL, err);
        if (rc < 0)
            cps_error_prefix(err, "writing %s", rs->what);
    }
    progress_end(pr);
    gen_event_free(&ev);
    return rc;
}

typedef struct event_rows {
    char (*ids)[33]; /* event definition ids by kind */
    uint64_t payload_bytes;
} event_rows;

static void event_row(db_copy *c, const gen_event *ev, void *arg)
{
    event_rows *er = arg;
    const gen_event_def *def = &gen_event_defs[ev->kind];
    char when[32], created[32];
    size_t wn = gen_format_time(when, ev->time_us);
    size_t cn = gen_format_time(created, ev->created_us);
    copyin_field(c, ev->id, 36);
    copyin_field(c, NULL, 0);
    copyin_field(c, er->ids[ev->kind], 32);
    copyin_str(c, def->source_id);
    copyin_field(c, when, wn);
    copyin_str(c, def->type);
    copyin_str(c, def->version);
    copyin_field(c, ev->payload.buf, ev->payload.len);
    copyin_field(c, created, cn);
    er->payload_bytes += ev->payload.len;
}

/* Stream the events into {ce}.customer_events through one COPY; adds the
 * payload bytes written to *payload_bytes. */
static int copy_events(db *d, const gen_model *m, const plan *pl, char ids[EV_COUNT][33],
                       uint64_t *payload_bytes, cps_error *err)
{
    event_rows er = {.ids = ids};
    const row_stream rs = {
        .copy = "COPY {ce}.customer_events (id, customer_entity_id, event_id, source_id, "
                "event_time, type, version, payload, created) FROM STDIN",
        .what = "the customer events",
        .unit = "events",
        .with_payload = 1,
        .row = event_row,
        .arg = &er,
    };
    int rc = copy_stream(d, m, pl, &rs, err);
    *payload_bytes += er.payload_bytes;
    return rc;
}

static void truth_row(db_copy *c, const gen_event *ev, void *arg)
{
    uint32_t *counts = arg;
    copyin_field(c, ev->id, 36);
    copyin_int(c, (int64_t)ev->person_id);
    if (counts[ev->person_id - 1] < UINT32_MAX)
        counts[ev->person_id - 1]++;
}

/* Stream the ground truth into cps_gen.truth; counts[p] (for person p + 1)
 * counts each person's events. */
static int copy_truth(db *d, const gen_model *m, const plan *pl, uint32_t *counts, cps_error *err)
{
    const row_stream rs = {
        .copy = "COPY cps_gen.truth (customer_event_id, person_id) FROM STDIN",
        .what = "cps_gen.truth",
        .unit = "truth rows",
        .with_payload = 0,
        .row = truth_row,
        .arg = counts,
    };
    return copy_stream(d, m, pl, &rs, err);
}

/* Does {ce}.customer_events hold any row? */
static int events_exist(db *d, int *exist, cps_error *err)
{
    char *v = NULL;
    int rc = db_query_value(d, err, &v, NULL, "SELECT EXISTS (SELECT 1 FROM {ce}.customer_events)",
                            0, NULL);
    *exist = v && v[0] == 't';
    free(v);
    return rc < 0 ? cps_error_prefix(err, "reading the event log") : 0;
}

/*
 * A fresh data set: refuse if the event log holds anything, then write the
 * definitions and reset cps_gen to this data set's parameters.
 */
static int prepare_fresh(db *d, const options *o, plan *pl, cps_error *err)
{
    const cps_config *cfg = db_config(d);
    int exist = 0;
    if (events_exist(d, &exist, err) < 0)
        return CPS_ERR;
    if (exist)
        return refuse(err,
                      "%s.customer_events already holds events: cps-gen writes a fresh data "
                      "set only into an empty event log. Use --append N to add events to a data "
                      "set cps-gen made, or another database",
                      cfg->ce_schema);
    pl->params.seed = o->seed;
    pl->params.persons = o->persons ? o->persons : gen_default_persons(o->events);
    pl->params.origin_us = GEN_TIME_ORIGIN_US;
    pl->params.step_us = gen_default_step_us(pl->params.persons);
    pl->first = 0;
    pl->count = o->events;
    if (write_catalog(d, err) < 0)
        return CPS_ERR;
    char seed[24], persons[24], events[24], origin[24], step[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)pl->params.seed);
    snprintf(persons, sizeof persons, "%llu", (unsigned long long)pl->params.persons);
    snprintf(events, sizeof events, "%llu", (unsigned long long)pl->count);
    snprintf(origin, sizeof origin, "%lld", (long long)pl->params.origin_us);
    snprintf(step, sizeof step, "%lld", (long long)pl->params.step_us);
    char version[16];
    snprintf(version, sizeof version, "%d", GEN_MODEL_VERSION);
    const char *params[] = {version, seed, persons, events, origin, step};
    if (db_exec(d, err, "TRUNCATE cps_gen.truth", 0, NULL) < 0 ||
        db_exec(d, err, "DELETE FROM cps_gen.params", 0, NULL) < 0 ||
        db_exec(d, err,
                "INSERT INTO cps_gen.params (model_version, seed, persons, events, time_origin, "
                "event_interval_us) VALUES ($1, $2, $3, $4, "
                "'epoch'::timestamp + $5::bigint * interval '1 microsecond', $6)",
                6, params) < 0)
        return cps_error_prefix(err, "resetting cps_gen.params and cps_gen.truth");
    return 0;
}

/*
 * Appending: continue the data set described by cps_gen.params (locked until
 * commit, so two appends queue up). --seed and --persons may be repeated but
 * must agree with it.
 */
static int prepare_append(db *d, const options *o, plan *pl, cps_error *err)
{
    PGresult *res = db_query(d, err,
                             "SELECT model_version, seed, persons, events, "
                             "(extract(epoch FROM time_origin) * 1000000)::bigint, "
                             "event_interval_us FROM cps_gen.params FOR UPDATE",
                             0, NULL);
    if (!res)
        return cps_error_prefix(err, "reading cps_gen.params");
    if (PQntuples(res) != 1) {
        int rows = PQntuples(res);
        PQclear(res);
        return refuse(err,
                      "cps_gen.params has %d rows instead of one: there is no data set made by "
                      "cps-gen to append to; generate one first with --events N",
                      rows);
    }
    long long v[6];
    for (int k = 0; k < 6; k++)
        v[k] = strtoll(PQgetvalue(res, 0, k), NULL, 10);
    PQclear(res);
    if (v[0] != GEN_MODEL_VERSION)
        return refuse(err,
                      "the data set was made by data model %lld of cps-gen and this is "
                      "model %d: appending would not continue it; generate a fresh one",
                      v[0], GEN_MODEL_VERSION);
    pl->params.seed = (uint64_t)v[1];
    pl->params.persons = (uint64_t)v[2];
    pl->first = (uint64_t)v[3];
    pl->params.origin_us = v[4];
    pl->params.step_us = v[5];
    pl->count = o->append;
    if (o->seed_given && o->seed != pl->params.seed)
        return refuse(err,
                      "--seed %llu differs from the seed %llu of the data set in "
                      "cps_gen.params; --append continues that data set (leave --seed out)",
                      (unsigned long long)o->seed, (unsigned long long)pl->params.seed);
    if (o->persons && o->persons != pl->params.persons)
        return refuse(err,
                      "--persons %llu differs from the %llu persons of the data set in "
                      "cps_gen.params; --append continues that data set (leave --persons "
                      "out)",
                      (unsigned long long)o->persons, (unsigned long long)pl->params.persons);
    if (pl->params.persons < 1 || pl->params.persons > GEN_MAX_PERSONS || pl->params.step_us < 1)
        return refuse(err,
                      "cps_gen.params is damaged (persons %llu, event_interval_us "
                      "%lld); generate a fresh data set",
                      (unsigned long long)pl->params.persons, (long long)pl->params.step_us);
    char count[24];
    snprintf(count, sizeof count, "%llu", (unsigned long long)pl->count);
    const char *params[] = {count};
    if (db_exec(d, err, "UPDATE cps_gen.params SET events = events + $1::bigint", 1, params) < 0)
        return cps_error_prefix(err, "updating cps_gen.params");
    return 0;
}

/* Would the last event's time stay within the year 9999? */
static int check_time_line(const plan *pl, cps_error *err)
{
    uint64_t end = pl->first + pl->count;
    int64_t room = TIME_LIMIT_US - pl->params.origin_us;
    if (room < 0 || end > (uint64_t)(room / pl->params.step_us))
        return refuse(err,
                      "%llu events of %llu persons would run past the year 9999 (the "
                      "population makes %d events per person in two years): give more "
                      "--persons",
                      (unsigned long long)end, (unsigned long long)pl->params.persons,
                      GEN_EVENTS_PER_PERSON);
    return 0;
}

/* Log what the run wrote: sizes, speed, and the shape of the population. */
static void summarize(const plan *pl, const uint32_t *counts, uint64_t payload_bytes,
                      double seconds)
{
    uint64_t active = 0, once = 0, max = 0;
    for (uint64_t p = 0; p < pl->params.persons; p++) {
        active += counts[p] > 0;
        once += counts[p] == 1;
        if (counts[p] > max)
            max = counts[p];
    }
    char first[32], last[32];
    gen_format_time(first, pl->params.origin_us + (int64_t)pl->first * pl->params.step_us);
    gen_format_time(last, pl->params.origin_us +
                              (int64_t)(pl->first + pl->count) * pl->params.step_us - 1000);
    log_info("GEN", "wrote events %llu..%llu of seed %llu in %.1f s (%.0f events/s)",
             (unsigned long long)pl->first, (unsigned long long)(pl->first + pl->count - 1),
             (unsigned long long)pl->params.seed, seconds,
             seconds > 0 ? (double)pl->count / seconds : 0.0);
    log_info("GEN",
             "%llu persons, %llu of them in these events (%llu with one event, at most %llu); "
             "times %.10s to %.10s; payloads %.0f bytes on average",
             (unsigned long long)pl->params.persons, (unsigned long long)active,
             (unsigned long long)once, (unsigned long long)max, first, last,
             pl->count ? (double)payload_bytes / (double)pl->count : 0.0);
}

/* Generate (or append) in one transaction. */
static int generate(db *d, const options *o, cps_error *err)
{
    double started = now_seconds();
    int rc = schema_ensure_inputs(d, err);
    if (rc == 0)
        rc = ensure_gen_tables(d, err);
    if (rc < 0)
        return rc;
    if ((rc = db_begin(d, err)) < 0)
        return rc;
    plan pl;
    memset(&pl, 0, sizeof pl);
    rc = o->appending ? prepare_append(d, o, &pl, err) : prepare_fresh(d, o, &pl, err);
    if (rc == 0)
        rc = check_time_line(&pl, err);
    char ids[EV_COUNT][33];
    if (rc == 0)
        rc = event_ids(d, ids, err);
    if (rc < 0) {
        db_rollback(d);
        return rc;
    }
    log_info("GEN", "%s %llu events (seed %llu, %llu persons)",
             o->appending ? "appending" : "generating", (unsigned long long)pl.count,
             (unsigned long long)pl.params.seed, (unsigned long long)pl.params.persons);
    gen_model *m = gen_model_new(&pl.params);
    uint32_t *counts = xcalloc(pl.params.persons, sizeof *counts);
    uint64_t payload_bytes = 0;
    rc = copy_events(d, m, &pl, ids, &payload_bytes, err);
    if (rc == 0)
        rc = copy_truth(d, m, &pl, counts, err);
    if (rc == 0)
        rc = db_commit(d, err);
    if (rc < 0)
        db_rollback(d);
    else if (pl.count > 0)
        summarize(&pl, counts, payload_bytes, now_seconds() - started);
    free(counts);
    gen_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int status = parse_options(argc, argv, &o);
    if (status >= 0)
        return status;
    log_set_level(o.quiet ? LOG_WARN : LOG_INFO);

    cps_config cfg;
    config_defaults(&cfg);
    cps_error err;
    if (config_load(&cfg, o.config_path, &err) < 0) {
        fprintf(stderr, "cps-gen: %s\n", err.msg);
        config_free(&cfg);
        return EXIT_USAGE;
    }
    if (o.dsn && config_use_dsn(&cfg, o.dsn, &err) < 0) {
        fprintf(stderr, "cps-gen: %s\n", err.msg);
        config_free(&cfg);
        return EXIT_USAGE;
    }
    db_signals_install();
    db *d = NULL;
    int rc = db_connect(&d, &cfg, &err);
    if (rc == 0)
        rc = generate(d, &o, &err);
    if (rc < 0)
        log_error("GEN", "%s", err.msg);
    db_close(d);
    config_free(&cfg);
    if (db_interrupted())
        return 128 + db_interrupted();
    if (rc == GEN_EREFUSED)
        return EXIT_USAGE;
    return rc < 0 ? EXIT_FAILED : EXIT_OK;
}
