/* config — parse and validate the JSON configuration (see config.h). */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const actions[] = {
    "run", "init", "stitch", "attributes", "cache", "status", "load_stitching_attributes_config",
    NULL};

void config_defaults(cps_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cdp_schema = xstrdup("public");
    cfg->ce_schema = xstrdup("cdp_ce");
    cfg->ps_schema = xstrdup("cdp_ps");
    cfg->attr_schema = xstrdup("cdp_attr");
    cfg->action = xstrdup("run");
    cfg->recalculate_after_hours = 48;
    cfg->context_max_age_hours = 24;
    cfg->cache_max_age_hours = 24;
    cfg->cache_top_values = 1000;
    cfg->batch_size = 0;
    cfg->workers = 1;
    cfg->origin = xstrdup("defaults");
}

void config_free(cps_config *cfg)
{
    if (!cfg)
        return;
    char **strings[] = {&cfg->host,      &cfg->port,        &cfg->user,       &cfg->password,
                        &cfg->dbname,    &cfg->dsn,         &cfg->cdp_schema, &cfg->ce_schema,
                        &cfg->ps_schema, &cfg->attr_schema, &cfg->action,     &cfg->input,
                        &cfg->origin};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    cfg->dsn_key = NULL;
}

/* PostgreSQL reserves schema names beginning with pg_ for itself: CREATE
 * SCHEMA refuses them ("unacceptable schema name"). */
static bool is_reserved_schema_name(const char *s)
{
    return !strncmp(s, "pg_", 3);
}

bool config_valid_schema_name(const char *s)
{
    if (!s || !*s || strlen(s) > 63)
        return false;
    if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    if (is_reserved_schema_name(s))
        return false;
    for (const char *p = s + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '$'))
            return false;
    return true;
}

/* Each setter validates one key; `key` is its dotted name for messages. */

static int set_string(char **dst, const char *key, const json_t *v, const char *origin,
                      cps_error *err)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return cps_error_set(err, "%s: key \"%s\" must be a string, not %s", origin, key,
                             json_kind(v));
    free(*dst);
    *dst = xstrdup(json_string_value(v));
    return 0;
}

/* libpq reads a dbname as a connection string when it has an "=" or begins
 * with a URI prefix; anything else is a database name (as for psql -d). */
static bool is_conninfo(const char *s)
{
    return strchr(s, '=') || !strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11);
}

/* Might s carry a password? libpq's reasons quote pieces of the string. */
static bool may_hold_password(const char *s)
{
    if (strcasestr(s, "password"))
        return true;
    const char *p = strstr(s, "://");
    if (!p)
        return false;
    p += 3;
    /* user:password@ — libpq ends the user info at the last "@" before a "/"
     * only (a "?" may be in the password); anywhere in the rest is safer */
    const char *at = strrchr(p, '@');
    return at && memchr(p, ':', (size_t)(at - p));
}

/*
 * Check a connection string the way libpq will read it (PQconninfoParse), so
 * a malformed one is bad configuration, rejected before any connection.
 * `what` names it in the message: "--dsn" or `origin: key "dsn"`.
 */
static int check_dsn(const char *dsn, const char *what, cps_error *err)
{
    if (!is_conninfo(dsn))
        return 0;
    char *reason = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &reason);
    if (opts) {
        PQconninfoFree(opts);
        return 0;
    }
    const char *syntax = "write keyword=value pairs, e.g. \"host=db.example dbname=cdp\", or a "
                         "URI, e.g. postgresql://user@db.example:5432/cdp";
    int rc;
    if (!reason || may_hold_password(dsn))
        rc = cps_error_set(
            err, "%s is not a valid libpq connection string%s; %s", what,
            reason ? " (libpq's reason is not shown: it may quote the password)" : "", syntax);
    else {
        size_t n = strlen(reason);
        while (n > 0 && reason[n - 1] == '\n')
            n--;
        rc = cps_error_set(err, "%s is not a valid libpq connection string: %.*s; %s", what, (int)n,
                           reason, syntax);
    }
    PQfreemem(reason);
    return rc;
}

/* "dsn" and "postgresql.dsn": a connection string; the key is remembered for
 * messages about the connection. */
static int set_dsn(cps_config *cfg, const char *key, const json_t *v, const char *origin,
                   cps_error *err)
{
    if (json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        char *what = xasprintf("%s: key \"%s\"", origin, key);
        int rc = check_dsn(json_string_value(v), what, err);
        free(what);
        if (rc < 0)
            return rc;
    }
    int rc = set_string(&cfg->dsn, key, v, origin, err);
    if (rc == 0)
        cfg->dsn_key = key;
    return rc;
}

static int set_port(char **dst, const char *key, const json_t *v, const char *origin,
                    cps_error *err)
{
    long port = -1;
    if (json_is_null(v))
        return 0;
    if (json_is_integer(v))
        port = (long)json_integer_value(v);
    else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        port = strtol(s, &end, 10);
        if (!*s || *end || errno)
            port = -1;
    } else if (json_is_real(v)) {
        /* 5432.0 is a JSON real to jansson: say what to write instead */
        double d = json_real_value(v);
        if (d >= 1 && d <= 65535 && d == floor(d))
            return cps_error_set(err,
                                 "%s: key \"%s\" must be an integer from 1 to 65535 (or a "
                                 "string holding one), not %.1f: write %.0f",
                                 origin, key, d, d);
        return cps_error_set(err,
                             "%s: key \"%s\" must be an integer from 1 to 65535 (or a string "
                             "holding one), not %g",
                             origin, key, d);
    } else
        return cps_error_set(err,
                             "%s: key \"%s\" must be an integer from 1 to 65535 (or a string "
                             "holding one), not %s",
                             origin, key, json_kind(v));
    if (port < 1 || port > 65535)
        return cps_error_set(err, "%s: key \"%s\" must be a port number from 1 to 65535", origin,
                             key);
    free(*dst);
    *dst = xasprintf("%ld", port);
    return 0;
}

static int set_schema(char **dst, const char *key, const json_t *v, const char *origin,
                      cps_error *err)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return cps_error_set(err, "%s: key \"%s\" must be a string, not %s", origin, key,
                             json_kind(v));
    const char *s = json_string_value(v);
    if (is_reserved_schema_name(s))
        return cps_error_set(err,
                             "%s: key \"%s\" is \"%s\": PostgreSQL reserves schema names "
                             "beginning with pg_ for its own; choose another name",
                             origin, key, s);
    if (!config_valid_schema_name(s) || strlen(s) != json_string_length(v))
        return cps_error_set(err,
                             "%s: key \"%s\" is not a plain SQL identifier: use lower-case "
                             "letters, digits and underscores, starting with a letter or "
                             "underscore, at most 63 characters",
                             origin, key);
    free(*dst);
    *dst = xstrdup(s);
    return 0;
}

static int set_bool(bool *dst, const char *key, const json_t *v, const char *origin, cps_error *err)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return cps_error_set(err, "%s: key \"%s\" must be true or false, not %s", origin, key,
                             json_kind(v));
    *dst = json_is_true(v);
    return 0;
}

/* The longest age a tunable takes: 100 years (of 365.25 days). PostgreSQL's
 * timestamps end at 4713 BC, so now() minus far longer ages overflowed in the
 * middle of a run ("timestamp out of range"). */
#define MAX_HOURS 876600.0

static int set_hours(double *dst, const char *key, const json_t *v, const char *origin,
                     cps_error *err)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= MAX_HOURS))
        return cps_error_set(err,
                             "%s: key \"%s\" must be a number of hours from 0 to %.0f (100 years)",
                             origin, key, MAX_HOURS);
    *dst = json_number_value(v);
    return 0;
}

static int set_long(long *dst, const char *key, const json_t *v, long min, long max,
                    const char *origin, cps_error *err)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return cps_error_set(err, "%s: key \"%s\" must be an integer from %ld to %ld", origin, key,
                             min, max);
    *dst = (long)json_integer_value(v);
    return 0;
}

static int parse_postgresql(cps_config *cfg, const json_t *pg, const char *origin, cps_error *err)
{
    if (json_is_null(pg))
        return 0;
    if (!json_is_object(pg))
        return cps_error_set(err, "%s: key \"postgresql\" must be an object, not %s", origin,
                             json_kind(pg));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)pg, key, v)
    {
        int rc;
        if (!strcmp(key, "host"))
            rc = set_string(&cfg->host, "postgresql.host", v, origin, err);
        else if (!strcmp(key, "port"))
            rc = set_port(&cfg->port, "postgresql.port", v, origin, err);
        else if (!strcmp(key, "user"))
            rc = set_string(&cfg->user, "postgresql.user", v, origin, err);
        else if (!strcmp(key, "password"))
            rc = set_string(&cfg->password, "postgresql.password", v, origin, err);
        else if (!strcmp(key, "dbname"))
            rc = set_string(&cfg->dbname, "postgresql.dbname", v, origin, err);
        else if (!strcmp(key, "dsn"))
            rc = set_dsn(cfg, "postgresql.dsn", v, origin, err);
        else
            rc = cps_error_set(err,
                               "%s: unknown key \"postgresql.%s\" (known: host, port, user, "
                               "password, dbname, dsn)",
                               origin, key);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_object(cps_config *cfg, const json_t *root, const char *origin, cps_error *err)
{
    if (!json_is_object(root))
        return cps_error_set(err, "%s: the configuration must be a JSON object, not %s", origin,
                             json_kind(root));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v)
    {
        int rc;
        if (!strcmp(key, "postgresql"))
            rc = parse_postgresql(cfg, v, origin, err);
        else if (!strcmp(key, "dsn"))
            rc = set_dsn(cfg, "dsn", v, origin, err);
        else if (!strcmp(key, "cdp_schema"))
            rc = set_schema(&cfg->cdp_schema, key, v, origin, err);
        else if (!strcmp(key, "ce_schema"))
            rc = set_schema(&cfg->ce_schema, key, v, origin, err);
        else if (!strcmp(key, "ps_schema"))
            rc = set_schema(&cfg->ps_schema, key, v, origin, err);
        else if (!strcmp(key, "attr_schema"))
            rc = set_schema(&cfg->attr_schema, key, v, origin, err);
        else if (!strcmp(key, "production"))
            rc = set_bool(&cfg->production, key, v, origin, err);
        else if (!strcmp(key, "action")) {
            rc = set_string(&cfg->action, key, v, origin, err);
            if (rc == 0) {
                int known = 0;
                for (int i = 0; actions[i]; i++)
                    known |= !strcmp(cfg->action, actions[i]);
                if (!known)
                    rc = cps_error_set(err,
                                       "%s: key \"action\" is \"%s\"; expected \"run\" or "
                                       "\"load_stitching_attributes_config\" (or init, stitch, "
                                       "attributes, cache, status)",
                                       origin, cfg->action);
            }
        } else if (!strcmp(key, "input"))
            rc = set_string(&cfg->input, key, v, origin, err);
        else if (!strcmp(key, "recalculate_after_hours"))
            rc = set_hours(&cfg->recalculate_after_hours, key, v, origin, err);
        else if (!strcmp(key, "context_max_age_hours"))
            rc = set_hours(&cfg->context_max_age_hours, key, v, origin, err);
        else if (!strcmp(key, "cache_max_age_hours"))
            rc = set_hours(&cfg->cache_max_age_hours, key, v, origin, err);
        else if (!strcmp(key, "cache_top_values"))
            rc = set_long(&cfg->cache_top_values, key, v, 0, 100000000, origin, err);
        else if (!strcmp(key, "batch_size"))
            rc = set_long(&cfg->batch_size, key, v, 1, 100000000, origin, err);
        else if (!strcmp(key, "workers")) {
            long w = cfg->workers;
            rc = set_long(&w, key, v, 1, 64, origin, err);
            cfg->workers = (int)w;
        } else
            rc = cps_error_set(err,
                               "%s: unknown key \"%s\" (known: postgresql, dsn, cdp_schema, "
                               "ce_schema, ps_schema, attr_schema, production, action, input, "
                               "recalculate_after_hours, context_max_age_hours, "
                               "cache_max_age_hours, cache_top_values, batch_size, workers)",
                               origin, key);
        if (rc < 0)
            return rc;
    }
    if (!strcmp(cfg->cdp_schema, cfg->attr_schema))
        return cps_error_set(err,
                             "%s: keys \"cdp_schema\" and \"attr_schema\" are both \"%s\"; both "
                             "hold a table named attributes, so they must differ",
                             origin, cfg->cdp_schema);
    if (cfg->production && !strcmp(cfg->cdp_schema, cfg->ce_schema))
        return cps_error_set(err,
                             "%s: with \"production\": true, \"cdp_schema\" and \"ce_schema\" "
                             "must differ: the view %s.customer_events would replace the event "
                             "log itself",
                             origin, cfg->cdp_schema);
    return 0;
}

int config_parse(cps_config *cfg, const char *json, size_t len, const char *origin, cps_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cps_error_set(err, "%s: invalid JSON at line %d, column %d: %s", origin, jerr.line,
                             jerr.column, jerr.text);
    free(cfg->origin);
    cfg->origin = xstrdup(origin);
    int rc = parse_object(cfg, root, origin, err);
    json_decref(root);
    return rc;
}

int config_use_dsn(cps_config *cfg, const char *dsn, cps_error *err)
{
    if (check_dsn(dsn, "--dsn", err) < 0)
        return CPS_ERR;
    char **keys[] = {&cfg->host, &cfg->port, &cfg->user, &cfg->password, &cfg->dbname, &cfg->dsn};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        free(*keys[i]);
        *keys[i] = NULL;
    }
    cfg->dsn = xstrdup(dsn);
    cfg->dsn_key = "--dsn";
    return 0;
}

int config_load(cps_config *cfg, const char *path, cps_error *err)
{
    if (!path || !*path) {
        const char *env = getenv("CPS_CONFIG");
        if (env && *env)
            path = env;
    }
    if (!path)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cps_error_set(err, "cannot read config file %s: %s", path, strerror(errno));
    /* fopen opens a directory for reading; only the first read fails (EISDIR) */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return cps_error_set(err,
                             "config file %s is a directory; give the path of a JSON file with -c "
                             "or CPS_CONFIG",
                             path);
    }
    strbuf sb = STRBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sb_appendn(&sb, buf, n);
    int failed = ferror(f) ? errno : 0;
    fclose(f);
    if (failed) {
        sb_free(&sb);
        return cps_error_set(err, "cannot read config file %s: %s", path,
                             failed > 0 ? strerror(failed) : "read error");
    }
    char *origin = xasprintf("config file %s", path);
    int rc = config_parse(cfg, sb_str(&sb), sb.len, origin, err);
    free(origin);
    sb_free(&sb);
    return rc;
}
