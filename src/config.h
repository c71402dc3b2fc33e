/*
 * config — the JSON configuration of SPEC §1.1: parsing, defaults, validation.
 *
 * Nothing here touches the database: a bad file is rejected with a message that
 * names the key (and line/column for JSON syntax errors) before any connection.
 * The config owns all its strings; config_free() releases them. The password is
 * kept only to hand to libpq and is never printed by any function here.
 */
#ifndef CPS_CONFIG_H
#define CPS_CONFIG_H

#include "util.h"

#include <stdbool.h>

typedef struct cps_config {
    /* Connection; NULL means "libpq's default" (environment, ~/.pgpass). */
    char *host;
    char *port;
    char *user;
    char *password;
    char *dbname;
    char *dsn;           /* a libpq connection string or URI; the separate keys override it */
    const char *dsn_key; /* what set dsn, for messages: "--dsn", "dsn" or "postgresql.dsn" */

    /* Schemas: validated plain lower-case SQL identifiers. */
    char *cdp_schema;
    char *ce_schema;
    char *ps_schema;
    char *attr_schema;

    bool production; /* publish the views of SPEC §6 */
    char *action;    /* "run", "load_stitching_attributes_config", or a subcommand name */
    char *input;     /* the loader's CSV path, or NULL */

    double recalculate_after_hours; /* recalculate idle entities after this long */
    double context_max_age_hours;   /* refresh context rows older than this */
    double cache_max_age_hours;     /* rebuild caches older than this */
    long cache_top_values;          /* values kept per attribute in the values cache */
    long batch_size;                /* events or entities per transaction; 0 = CPS chooses */
    int workers;                    /* connections for attribute calculation */

    char *origin; /* where the configuration came from, for messages */
} cps_config;

/* Fill cfg with the defaults of SPEC §1.1. */
void config_defaults(cps_config *cfg);

/*
 * Load the configuration: from `path` if given, else from $CPS_CONFIG if set,
 * else defaults only. Returns 0, or CPS_ERR with a message naming the key.
 */
int config_load(cps_config *cfg, const char *path, cps_error *err);

/* Parse a JSON text (origin names it in messages); for tests and fuzzing. */
int config_parse(cps_config *cfg, const char *json, size_t len, const char *origin, cps_error *err);

/*
 * A connection string from the command line (--dsn): it replaces every
 * connection key of the configuration ("dsn" and the "postgresql" keys), so
 * what it leaves out comes from libpq's environment, never from the file.
 * Returns 0, or CPS_ERR with a message naming --dsn.
 */
int config_use_dsn(cps_config *cfg, const char *dsn, cps_error *err);

/* True if s is a plain SQL identifier CPS accepts as a schema name (not one
 * of the pg_ names PostgreSQL reserves). */
bool config_valid_schema_name(const char *s);

void config_free(cps_config *cfg);

#endif
